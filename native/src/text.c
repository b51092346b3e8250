/* text.c - text for people: strings from the process made safe to print.
 *
 * Names and values read from a process go to a terminal: an escape
 * sequence in a type name or a str must not reach it as such, nor a bidi
 * override that reorders what is shown around it. Every control character
 * (C0, DEL, C1) is written as \xNN, the bidi controls as \uNNNN, an encoded
 * surrogate as \udcNN, and a byte that starts no valid UTF-8 sequence as
 * \xNN. Everything else passes as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "unicode.h"

static bool is_bidi(uint32_t cp)
{
	return cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void ph_text_escape(struct ph_buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x7f) {
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
			ph_buf_printf(b, "\\x%02x", c);
			i++;
			continue;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			ph_buf_printf(b, "\\x%02x", cp);
		else if (is_bidi(cp) || (cp >= 0xd800 && cp <= 0xdfff))
			ph_buf_printf(b, "\\u%04x", cp);
		else
			ph_buf_putn(b, (const char *)s + i, len);
		i += len;
	}
	if (run)
		ph_buf_putn(b, (const char *)s + n - run, run);
}

void ph_text_puts(struct ph_buf *b, const char *s)
{
	ph_text_escape(b, s ? s : "", s ? strlen(s) : 0);
}

void ph_text_cell(struct ph_buf *b, const char *s, size_t width)
{
	size_t before = b->len;
	ph_text_puts(b, s);
	if (ph_plain())
		return;
	for (size_t n = b->len - before; n < width; n++)
		ph_buf_putc(b, ' ');
}

void ph_text_sep(struct ph_buf *b)
{
	ph_buf_putc(b, ph_plain() ? '\t' : ' ');
}

/* fmt for plain text: no field widths, the blanks between fields one tab,
 * none at the start of a line or before its end. */
static void plain_format(struct ph_buf *b, const char *fmt, char *out,
			 size_t size)
{
	size_t o = 0;
	bool line_start = !b->len || b->data[b->len - 1] == '\n';
	for (const char *p = fmt; *p && o + 2 < size;) {
		if (*p == ' ') {
			while (*p == ' ')
				p++;
			if (!line_start && *p != '\n')
				out[o++] = '\t';
			continue;
		}
		line_start = *p == '\n';
		if (*p != '%' || p[1] == '%') {
			if (*p == '%')
				out[o++] = *p++;
			out[o++] = *p++;
			continue;
		}
		out[o++] = *p++;
		while (*p == '-' || *p == '0' || *p == '+' || *p == ' ')
			if (*p++ == '+')
				out[o++] = '+';
		while (*p >= '0' && *p <= '9')
			p++;
		while (*p && o + 2 < size && !strchr("sdiuxXfgcp", *p))
			out[o++] = *p++;
		if (*p)
			out[o++] = *p++;
	}
	out[o] = '\0';
}

void ph_text_row(struct ph_buf *b, const char *fmt, ...)
{
	char plain_fmt[256];
	va_list ap;
	va_start(ap, fmt);
	if (ph_plain() && strlen(fmt) < sizeof(plain_fmt)) {
		plain_format(b, fmt, plain_fmt, sizeof(plain_fmt));
		fmt = plain_fmt;
	}
	char small[512];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n >= 0 && (size_t)n < sizeof(small))
		ph_buf_putn(b, small, (size_t)n);
	else if (n >= 0) {
		char *big = malloc((size_t)n + 1);
		if (big) {
			vsnprintf(big, (size_t)n + 1, fmt, ap2);
			ph_buf_putn(b, big, (size_t)n);
			free(big);
		} else
			b->failed = true;
	}
	va_end(ap2);
	va_end(ap);
}
