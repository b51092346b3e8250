/* error.c - struct ph_error: one code, one message, an address or a path. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static struct ph_error nomem_error = {
	.code = PH_ERR_NOMEM,
	.message = (char *)"out of memory",
};

static const char *const code_names[] = {
#define NAME_(NAME, name, description) [PH_ERR_##NAME] = name,
	PH_ERROR_LIST(NAME_)
#undef NAME_
};

static const char *const code_descriptions[] = {
#define DESC_(NAME, name, description) [PH_ERR_##NAME] = description,
	PH_ERROR_LIST(DESC_)
#undef DESC_
};

static struct ph_error *error_vcreate(enum ph_error_code code, uint64_t address,
				      const char *path, const char *fmt,
				      va_list ap)
{
	struct ph_error *err = calloc(1, sizeof(*err));
	if (!err)
		return &nomem_error;
	err->code = code;
	err->address = address;
	if (vasprintf(&err->message, fmt, ap) < 0) {
		free(err);
		return &nomem_error;
	}
	if (path && !(err->path = strdup(path))) {
		free(err->message);
		free(err);
		return &nomem_error;
	}
	return err;
}

struct ph_error *ph_error_create(enum ph_error_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct ph_error *err = error_vcreate(code, 0, NULL, fmt, ap);
	va_end(ap);
	return err;
}

struct ph_error *ph_error_create_at(enum ph_error_code code, uint64_t address,
				    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct ph_error *err = error_vcreate(code, address, NULL, fmt, ap);
	va_end(ap);
	return err;
}

struct ph_error *ph_error_create_path(enum ph_error_code code, const char *path,
				      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct ph_error *err = error_vcreate(code, 0, path, fmt, ap);
	va_end(ap);
	return err;
}

struct ph_error *ph_error_nomem(void)
{
	return &nomem_error;
}

struct ph_error *ph_error_wrap(struct ph_error *err, const char *fmt, ...)
{
	char *prefix, *msg;
	va_list ap;

	if (!err || err == &nomem_error)
		return err;
	va_start(ap, fmt);
	int r = vasprintf(&prefix, fmt, ap);
	va_end(ap);
	if (r < 0)
		return err;
	if (asprintf(&msg, "%s: %s", prefix, err->message) >= 0) {
		free(err->message);
		err->message = msg;
	}
	free(prefix);
	return err;
}

enum ph_error_code ph_error_code(const struct ph_error *err)
{
	return err->code;
}

const char *ph_error_code_name(enum ph_error_code code)
{
	if ((size_t)code < PH_ARRAY_SIZE(code_names) && code_names[code])
		return code_names[code];
	return "unknown";
}

const char *ph_error_code_description(enum ph_error_code code)
{
	if ((size_t)code < PH_ARRAY_SIZE(code_descriptions) &&
	    code_descriptions[code])
		return code_descriptions[code];
	return "unknown error";
}

const char *ph_error_message(const struct ph_error *err)
{
	return err->message;
}

uint64_t ph_error_address(const struct ph_error *err)
{
	return err->address;
}

const char *ph_error_path(const struct ph_error *err)
{
	return err->path;
}

void ph_error_destroy(struct ph_error *err)
{
	if (!err || err == &nomem_error)
		return;
	free(err->message);
	free(err->path);
	free(err->suggestions);
	free(err);
}

void ph_free(void *ptr)
{
	free(ptr);
}

volatile int ph_interrupt_flag;

void ph_interrupt(void)
{
	__atomic_store_n(&ph_interrupt_flag, 1, __ATOMIC_RELAXED);
}

struct ph_error *ph_error_interrupted(void)
{
	return ph_error_create(PH_ERR_INTERRUPTED, "interrupted");
}
