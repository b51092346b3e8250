/* text.c - text for people: strings from the process made safe to print.
 *
 * Names and values read from a process go to a terminal: an escape
 * sequence in a type name or a str must not reach it as such, nor a bidi
 * override that reorders what is shown around it. Every control character
 * (C0, DEL, C1) is written as \xNN, the bidi controls as \uNNNN, an encoded
 * surrogate as \udcNN, and a byte that starts no valid UTF-8 sequence as
 * \xNN. Everything else passes as it is.
 */
#include <string.h>

#include "render.h"

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
	for (size_t n = b->len - before; n < width; n++)
		ph_buf_putc(b, ' ');
}
