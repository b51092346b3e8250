/* unicode.c - code points: UTF-8 decoded, and which ones CPython's repr()
 * of a str escapes. repr() shows a code point as it is when it is
 * printable (not Cc, Cf, Cs, Co, Cn, Zl, Zp, nor Zs but the space), by
 * the Unicode data of the interpreter that made the str: printable.h,
 * generated from each CPython's unicodedata by scripts/gen-printable.py. */
#include <stdlib.h>

#include "internal.h"
#include "unicode.h"

struct ph_cp_run {
	uint32_t lo, hi;
};

struct ph_np_version {
	unsigned minor;
	const char *unidata;
	const struct ph_cp_run *diff; /* NULL: the base itself */
	size_t ndiff;
};

#include "printable.h"

size_t ph_utf8_decode(const unsigned char *s, size_t n, uint32_t *ret)
{
	unsigned char c = s[0];
	uint32_t cp, min;
	size_t len;
	if (c < 0x80) {
		*ret = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff)
		return 0;
	*ret = cp;
	return len;
}

static bool in_runs(const struct ph_cp_run *r, size_t n, uint32_t cp)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < r[mid].lo)
			hi = mid;
		else if (cp > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static const struct ph_np_version *np_version(unsigned minor)
{
	for (size_t i = 0; i < PH_ARRAY_SIZE(ph_np_versions); i++)
		if (ph_np_versions[i].minor == minor)
			return &ph_np_versions[i];
	return NULL;
}

bool ph_unicode_printable(unsigned minor, uint32_t cp)
{
	if (cp >= 0x20 && cp < 0x7f)
		return true;
	bool np = in_runs(ph_np_base, PH_ARRAY_SIZE(ph_np_base), cp);
	const struct ph_np_version *v = np_version(minor);
	if (v && v->diff)
		np ^= in_runs(v->diff, v->ndiff, cp);
	return !np;
}

const char *ph_unicode_version(unsigned minor)
{
	const struct ph_np_version *v = np_version(minor);
	return v ? v->unidata : NULL;
}
