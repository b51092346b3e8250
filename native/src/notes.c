/* notes.c - the notes' codes and the one way a note is added, for the
 * target (core.c, live.c) and the session alike. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "notes.h"

static const char *const note_codes[] = {
#define NOTE_NAME_(NAME, code) [PH_NOTE_##NAME] = code,
	PH_NOTE_LIST(NOTE_NAME_)
#undef NOTE_NAME_
};

const char *ph_note_code_name(enum ph_note_code code)
{
	return (size_t)code < PH_ARRAY_SIZE(note_codes) ? note_codes[code]
							: "note";
}

const char *ph_notes_addv(struct ph_note **notes, size_t *n, size_t *cap,
			  enum ph_note_code code, const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return NULL;
	if (ph_grow((void **)notes, cap, *n + 1, sizeof(**notes))) {
		free(msg);
		return NULL;
	}
	(*notes)[(*n)++] = (struct ph_note){.code = code, .message = msg};
	return msg;
}
