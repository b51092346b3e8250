/* notes.h - the one list of notes: facts about a process image that every
 * answer on it carries (JSON "notes": code and message). The target layer
 * makes some (files it would not open, threads that did not stop), the
 * session the others; the session gives them all. */
#ifndef PH_NOTES_H
#define PH_NOTES_H

#include <stdarg.h>
#include <stddef.h>

/* The one list of notes: X(NAME, code). A note is a fact about the
 * process image that every answer on it should carry (JSON "notes"). */
#define PH_NOTE_LIST(X)                                                        \
	X(PAUSED, "paused")	      /* a live process was stopped */         \
	X(NOT_STOPPED, "not-stopped") /* read while it ran */                  \
	X(READ_AGAIN, "read-again")   /* caught mid-change, read again */      \
	X(CORE_TRUNCATED, "core-truncated")                                    \
	X(MEMORY_MISSING, "memory-missing") /* not saved, unreadable */        \
	X(OBJECTS_ZEROED, "objects-zeroed")                                    \
	X(GC_LISTS_ZEROED, "gc-lists-zeroed")                                  \
	X(GC_BAD_HEADERS, "gc-bad-headers")                                    \
	X(OBJECTS_DAMAGED, "objects-damaged")                                  \
	X(WILD_REFERENCES, "wild-references")                                  \
	X(GC_LISTS_DAMAGED, "gc-lists-damaged")                                \
	X(NO_DEBUG_INFO, "no-debug-info")                                      \
	X(POOLS_INCONSISTENT, "pools-inconsistent")                            \
	X(FILES_NOT_USED, "files-not-used") /* named, refused (not regular) */ \
	X(THREADS_NOT_STOPPED, "threads-not-stopped")                          \
	X(PAGES_COPIED_WHOLE, "pages-copied-whole") /* no pagemap */           \
	X(MAPS_LINES_SKIPPED, "maps-lines-skipped")                            \
	X(INDEX_CACHE_IGNORED, "index-cache-ignored")                          \
	X(DEBUG_OFFSETS_DAMAGED, "debug-offsets-damaged")

enum ph_note_code {
#define PH_NOTE_ENUM_(NAME, code) PH_NOTE_##NAME,
	PH_NOTE_LIST(PH_NOTE_ENUM_)
#undef PH_NOTE_ENUM_
};

const char *ph_note_code_name(enum ph_note_code code);

struct ph_note {
	enum ph_note_code code;
	char *message; /* one line, without "py-heap: " */
};

/* Adds a note to the array *notes (*n of them, room for *cap; grown with
 * ph_grow, the message owned by the array). Returns the message, NULL
 * when out of memory (the note is then lost, not the answer). */
const char *ph_notes_addv(struct ph_note **notes, size_t *n, size_t *cap,
			  enum ph_note_code code, const char *fmt, va_list ap);

#endif /* PH_NOTES_H */
