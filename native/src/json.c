/* json.c - the one JSON writer: strict UTF-8 out, whatever comes in.
 *
 * Strings read from a process are not always valid UTF-8: a str holding a
 * lone surrogate ('name-\udcff', what os.fsdecode makes of a file name that
 * is not UTF-8) reads as the three bytes ED B3 BF, and damaged memory can
 * hold anything. Such input is written as JSON escapes a strict decoder
 * accepts: an encoded surrogate as its own \uDXXX, and every byte that
 * starts no valid sequence as \udcXX (Python's surrogateescape), so that
 * json.loads() gives back the str the process held. Every control
 * character (C0, DEL, C1) and U+2028/U+2029 are escaped too.
 */
#include <stdio.h>
#include <string.h>

#include "render.h"
#include "unicode.h"

static void json_escape(struct ph_buf *b, uint32_t cp)
{
	switch (cp) {
	case '"':
		ph_buf_puts(b, "\\\"");
		return;
	case '\\':
		ph_buf_puts(b, "\\\\");
		return;
	case '\n':
		ph_buf_puts(b, "\\n");
		return;
	case '\r':
		ph_buf_puts(b, "\\r");
		return;
	case '\t':
		ph_buf_puts(b, "\\t");
		return;
	}
	ph_buf_printf(b, "\\u%04x", cp);
}

void ph_json_quote(struct ph_buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	ph_buf_putc(b, '"');
	size_t run = 0; /* bytes that need no escape, written in one go */
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			run++, i++;
			continue;
		}
		if (run) {
			ph_buf_putn(b, (const char *)s + i - run, run);
			run = 0;
		}
		uint32_t cp;
		size_t len = ph_utf8_decode(s + i, n - i, &cp);
		if (!len) {
			ph_buf_printf(b, "\\udc%02x", c);
			i++;
		} else if (cp < 0x20 || cp == '"' || cp == '\\' ||
			   (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
			   cp == 0x2029 || (cp >= 0xd800 && cp <= 0xdfff)) {
			json_escape(b, cp);
			i += len;
		} else {
			ph_buf_putn(b, (const char *)s + i, len);
			i += len;
		}
	}
	if (run)
		ph_buf_putn(b, (const char *)s + n - run, run);
	ph_buf_putc(b, '"');
}

/* ---- the writer ------------------------------------------------------- */

void ph_json_init(struct ph_json *j, struct ph_buf *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

/* Before a value (or a key): the comma, unless it is the first. */
static void sep(struct ph_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth && j->depth <= PH_JSON_MAX_DEPTH) {
		if (j->has_item[j->depth - 1])
			ph_buf_puts(j->out, ", ");
		j->has_item[j->depth - 1] = true;
	}
}

static void open_(struct ph_json *j, char c)
{
	sep(j);
	ph_buf_putc(j->out, c);
	j->depth++;
	if (j->depth <= PH_JSON_MAX_DEPTH)
		j->has_item[j->depth - 1] = false;
}

static void close_(struct ph_json *j, char c)
{
	if (j->depth)
		j->depth--;
	ph_buf_putc(j->out, c);
}

void ph_json_object_begin(struct ph_json *j)
{
	open_(j, '{');
}

void ph_json_object_end(struct ph_json *j)
{
	close_(j, '}');
}

void ph_json_array_begin(struct ph_json *j)
{
	open_(j, '[');
}

void ph_json_array_end(struct ph_json *j)
{
	close_(j, ']');
}

void ph_json_key(struct ph_json *j, const char *key)
{
	sep(j);
	ph_json_quote(j->out, key, strlen(key));
	ph_buf_puts(j->out, ": ");
	j->after_key = true;
}

void ph_json_strn(struct ph_json *j, const char *s, size_t n)
{
	sep(j);
	ph_json_quote(j->out, s ? s : "", s ? n : 0);
}

void ph_json_str(struct ph_json *j, const char *s)
{
	ph_json_strn(j, s, s ? strlen(s) : 0);
}

/* Numbers written by hand, not printf: a cycles --json of 10M objects
 * writes millions (printf took a third of its instructions). */
static void put_u64(struct ph_buf *b, uint64_t v, unsigned base)
{
	char d[24];
	int k = sizeof(d);
	do {
		d[--k] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	ph_buf_putn(b, d + k, sizeof(d) - (size_t)k);
}

void ph_json_u64(struct ph_json *j, uint64_t v)
{
	sep(j);
	put_u64(j->out, v, 10);
}

void ph_json_i64(struct ph_json *j, int64_t v)
{
	sep(j);
	ph_buf_printf(j->out, "%lld", (long long)v);
}

void ph_json_fixed(struct ph_json *j, double v, int decimals)
{
	sep(j);
	ph_buf_printf(j->out, "%.*f", decimals, v);
}

void ph_json_bool(struct ph_json *j, bool v)
{
	sep(j);
	ph_buf_puts(j->out, v ? "true" : "false");
}

void ph_json_null(struct ph_json *j)
{
	sep(j);
	ph_buf_puts(j->out, "null");
}

void ph_json_addr(struct ph_json *j, uint64_t addr)
{
	sep(j);
	ph_buf_puts(j->out, "\"0x");
	put_u64(j->out, addr, 16);
	ph_buf_putc(j->out, '"');
}
