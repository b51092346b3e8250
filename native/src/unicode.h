/* unicode.h - code points: UTF-8 decoded, and what CPython's repr() of a
 * str escapes (unicode.c). Below every layer that shows text. */
#ifndef PH_UNICODE_H
#define PH_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The valid UTF-8 sequence at s: its length (0: none starts there) and
 * code point. Encoded surrogates count as valid here. */
size_t ph_utf8_decode(const unsigned char *s, size_t n, uint32_t *ret);

/* Does CPython 3.minor's repr() of a str show cp as it is (its
 * str.isprintable(), from that version's Unicode data), or escape it?
 * A minor the table does not know: the newest Unicode version's answer. */
bool ph_unicode_printable(unsigned minor, uint32_t cp);

/* The Unicode version of CPython 3.minor's unicodedata, or NULL. */
const char *ph_unicode_version(unsigned minor);

#endif
