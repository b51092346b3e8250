/*
 * kind_str.c - the scalars: str (compact ASCII, compact and legacy
 * layouts), int and bool, float, bytes, bytearray and None. None of them
 * holds a reference (their type aside).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "unicode.h"

/* ---- str -------------------------------------------------------------- */

static size_t utf8_put(char *out, uint32_t c)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

bool ph_str_info(struct ph_heap *h, uint64_t addr, struct ph_str_info *si)
{
	const struct ph_layout *L = h->L;
	uint32_t state;
	int64_t length = rds64(h, addr + L->str_length);
	if (!ph_mem_u32(h->mem, addr + L->str_state, &state) || length < 0 ||
	    length > (1LL << 40))
		return false;
	si->length = (uint64_t)length;
	si->kind = (state >> 2) & 7;
	si->compact = (state >> 5) & 1;
	si->ascii = (state >> 6) & 1;
	if (si->kind != 1 && si->kind != 2 && si->kind != 4)
		return false;
	if (si->ascii && si->kind != 1)
		return false;
	if (si->compact)
		si->data = addr +
			   (si->ascii ? L->sizeof_ascii : L->sizeof_compact);
	else
		si->data = rd64(h, addr + L->str_data);
	return true;
}

bool ph_heap_str(struct ph_heap *h, uint64_t addr, char *out, size_t max,
		 size_t *ret_len)
{
	struct ph_str_info si;
	size_t o = 0;
	if (max < 8 || !ph_str_info(h, addr, &si) || !si.data)
		return false;
	uint64_t n = si.length;
	bool cut = false;
	if (n > max / 4) {
		n = max / 4 - 1;
		cut = true;
	}
	const uint8_t *p = ph_mem_ptr(h->mem, si.data, n * si.kind);
	if (!p && n)
		return false;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t c;
		if (si.kind == 1)
			c = p[i];
		else if (si.kind == 2)
			c = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
		else
			memcpy(&c, p + 4 * i, 4);
		if (c > 0x10ffff)
			c = 0xfffd;
		o += utf8_put(out + o, c);
	}
	if (cut && o + 3 < max) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	if (ret_len)
		*ret_len = o;
	return true;
}

/* sys.getsizeof(str): the header of its layout, its characters and NUL,
 * and the wstr (up to 3.11) and UTF-8 copies it holds. */
static uint64_t str_size_of(struct ph_heap *h, uint64_t addr,
			    const struct ph_str_info *sip)
{
	const struct ph_layout *L = h->L;
	struct ph_str_info si = *sip;
	int64_t size;
	uint32_t state = rd32(h, addr + L->str_state);
	bool ready = (state >> 7) & 1;
	if (si.compact && si.ascii)
		size = L->sizeof_ascii + si.length + 1;
	else if (si.compact)
		size = L->sizeof_compact + (si.length + 1) * si.kind;
	else {
		size = L->sizeof_unicode;
		if (si.data)
			size += (si.length + 1) * si.kind;
	}
	if (L->str_wstr) {
		uint64_t wstr = rd64(h, addr + L->str_wstr);
		uint64_t data = si.data;
		if (wstr && (!ready || wstr != data)) {
			int64_t wlen =
				si.ascii
					? (int64_t)si.length
					: c40(rds64(h,
						    addr + L->str_wstr_length));
			size += (wlen + 1) * 4;
		}
	}
	if (!si.ascii) {
		uint64_t utf8 = rd64(h, addr + L->str_utf8);
		if (utf8 && utf8 != si.data)
			size += c40(rds64(h, addr + L->str_utf8_length)) + 1;
	}
	return (uint64_t)size;
}

static uint64_t str_size(struct ph_heap *h, uint64_t addr,
			 const struct ph_type *t, int64_t ob_size)
{
	struct ph_str_info si;
	if (!ph_str_info(h, addr, &si))
		return (uint64_t)t->basicsize;
	return str_size_of(h, addr, &si);
}

static uint64_t str_inline_size(struct ph_heap *h, uint64_t addr,
				const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	struct ph_str_info si;
	if (!ph_str_info(h, addr, &si) || !si.compact)
		return L->sizeof_unicode;
	return (si.ascii ? L->sizeof_ascii : L->sizeof_compact) +
	       (si.length + 1) * si.kind;
}

/* The str's header read, and a legacy str's data there to be read. */
static bool str_info_ok(struct ph_heap *h, uint64_t addr,
			struct ph_str_info *si)
{
	return ph_str_info(h, addr, si) &&
	       (si->compact || !si->data ||
		ph_mem_ptr(h->mem, si->data, (si->length + 1) * si->kind));
}

static bool str_contents_ok(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size)
{
	struct ph_str_info si;
	return str_info_ok(h, addr, &si);
}

/* A field of width w at off lies within the first n bytes. */
static inline bool str_field_in(uint64_t off, uint64_t w, uint64_t n)
{
	return off + w <= n;
}

/* str_scan_sizes of a compact str from one read of its header (each
 * field through ph_mem_ptr was ~250 instructions a str): false when
 * the header is not there in one piece or the str is not compact, for
 * the general path to decide, which gives the same answers. */
static bool str_scan_sizes_compact(struct ph_heap *h, uint64_t addr,
				   uint64_t *ret_inline, uint64_t *ret_size)
{
	const struct ph_layout *L = h->L;
	uint64_t n = L->sizeof_ascii;
	if (!str_field_in(L->str_length, 8, n) ||
	    !str_field_in(L->str_state, 4, n) ||
	    (L->str_wstr && !str_field_in(L->str_wstr, 8, n)))
		return false;
	const uint8_t *p = ph_mem_ptr(h->mem, addr, n);
	if (!p)
		return false;
	int64_t length;
	uint32_t state;
	memcpy(&length, p + L->str_length, 8);
	memcpy(&state, p + L->str_state, 4);
	unsigned kind = (state >> 2) & 7;
	bool compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
	bool ready = (state >> 7) & 1;
	if (!compact || length < 0 || length > (1LL << 40) ||
	    (kind != 1 && kind != 2 && kind != 4) || (ascii && kind != 1))
		return false;
	uint64_t len = (uint64_t)length;
	uint64_t hdr = ascii ? L->sizeof_ascii : L->sizeof_compact;
	uint64_t data = addr + hdr;
	if (!ascii) {
		/* its UTF-8 copy and wstr's length: in the compact header */
		n = L->sizeof_compact;
		if (!str_field_in(L->str_utf8, 8, n) ||
		    !str_field_in(L->str_utf8_length, 8, n) ||
		    (L->str_wstr && !str_field_in(L->str_wstr_length, 8, n)))
			return false;
		if (!(p = ph_mem_ptr(h->mem, addr, n)))
			return false;
	}
	int64_t size = (int64_t)(hdr + (len + 1) * kind);
	*ret_inline = (uint64_t)size;
	if (L->str_wstr) {
		uint64_t wstr;
		memcpy(&wstr, p + L->str_wstr, 8);
		if (wstr && (!ready || wstr != data)) {
			int64_t wlen = (int64_t)len;
			if (!ascii) {
				memcpy(&wlen, p + L->str_wstr_length, 8);
				wlen = c40(wlen);
			}
			size += (wlen + 1) * 4;
		}
	}
	if (!ascii) {
		uint64_t utf8;
		int64_t ulen;
		memcpy(&utf8, p + L->str_utf8, 8);
		memcpy(&ulen, p + L->str_utf8_length, 8);
		if (utf8 && utf8 != data)
			size += c40(ulen) + 1;
	}
	*ret_size = (uint64_t)size;
	return true;
}

/* The three above from one ph_str_info. */
static bool str_scan_sizes(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size,
			   uint64_t *ret_inline, uint64_t *ret_size)
{
	const struct ph_layout *L = h->L;
	struct ph_str_info si;
	if (str_scan_sizes_compact(h, addr, ret_inline, ret_size))
		return true;
	if (!str_info_ok(h, addr, &si))
		return false;
	*ret_inline =
		si.compact ? (si.ascii ? L->sizeof_ascii : L->sizeof_compact) +
				     (si.length + 1) * si.kind
			   : L->sizeof_unicode;
	*ret_size = str_size_of(h, addr, &si);
	return true;
}

/* As CPython's repr() (unicode_repr): ' unless the str holds ' and no ",
 * then "; \\, the quote, \t \n \r escaped; every other code point
 * that is not printable for the interpreter that made it (its Unicode
 * data: unicode.c) as \xNN, \uNNNN or \UNNNNNNNN. At most max code
 * points, then "...". */
void ph_repr_str(struct ph_heap *h, uint64_t addr, struct ph_buf *out,
		 size_t max)
{
	char *buf = malloc(max * 4 + 8);
	size_t len = 0;
	if (!buf || !ph_heap_str(h, addr, buf, max * 4 + 8, &len)) {
		ph_buf_puts(out, "<str>");
		free(buf);
		return;
	}
	bool has_sq = memchr(buf, '\'', len) && !memchr(buf, '"', len);
	char q = has_sq ? '"' : '\'';
	const unsigned minor = h->L->minor;
	ph_buf_putc(out, q);
	size_t chars = 0;
	for (size_t i = 0; i < len;) {
		const unsigned char *p = (const unsigned char *)buf + i;
		if (++chars > max) {
			ph_buf_puts(out, "...");
			break;
		}
		uint32_t c;
		size_t n = ph_utf8_decode(p, len - i, &c);
		if (!n) /* not from ph_heap_str: a byte as it is */
			c = p[0], n = 1;
		i += n;
		if (c == '\\' || c == (unsigned char)q)
			ph_buf_printf(out, "\\%c", (int)c);
		else if (c == '\n')
			ph_buf_puts(out, "\\n");
		else if (c == '\t')
			ph_buf_puts(out, "\\t");
		else if (c == '\r')
			ph_buf_puts(out, "\\r");
		else if (ph_unicode_printable(minor, c))
			ph_buf_putn(out, (const char *)p, n);
		else if (c < 0x100)
			ph_buf_printf(out, "\\x%02x", (unsigned)c);
		else if (c < 0x10000)
			ph_buf_printf(out, "\\u%04x", (unsigned)c);
		else
			ph_buf_printf(out, "\\U%08x", (unsigned)c);
	}
	ph_buf_putc(out, q);
	free(buf);
}

static void str_repr(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		     struct ph_buf *out)
{
	ph_repr_str(h, addr, out, 60);
}

const struct ph_kind_ops ph_kind_str = {
	.size = str_size,
	.inline_size = str_inline_size,
	.contents_ok = str_contents_ok,
	.scan_sizes = str_scan_sizes,
	.repr = str_repr,
};

/* ---- int and bool ----------------------------------------------------- */

/* The number of 30-bit digits of an int, and its sign: up to 3.11 in
 * ob_size, since in lv_tag (digits << 3 | sign). */
int64_t ph_heap_long_digits(struct ph_heap *h, uint64_t addr, bool *negative)
{
	const struct ph_layout *L = h->L;
	uint64_t v = 0;
	if (L->long_tag) {
		ph_mem_u64(h->mem, addr + L->long_tag, &v);
		if (negative)
			*negative = (v & 3) == 2;
		return (int64_t)(v >> 3);
	}
	ph_mem_u64(h->mem, addr + h->L->ob_type + 8, &v);
	int64_t size = (int64_t)v;
	if (negative)
		*negative = size < 0;
	/* (INT64_MIN has no opposite: a damaged int, as long as any) */
	return size < 0 ? (size == INT64_MIN ? INT64_MAX : -size) : size;
}

/* The digits _PyLong_New allocates and int___sizeof__ counts: from 3.11
 * space for one digit even for 0 (Py_MAX(size, 1)); up to 3.10 none for
 * 0 (sys.getsizeof(0) is 24 on 3.8-3.10, 28 from 3.11; an int subclass's
 * zero, signal.Handlers.SIG_DFL, is 4 bytes smaller than its 1). */
static int64_t int_alloc_digits(const struct ph_layout *L, int64_t nd)
{
	return nd ? nd : (L->minor >= 11 ? 1 : 0);
}

static uint64_t int_size(struct ph_heap *h, uint64_t addr,
			 const struct ph_type *t, int64_t ob_size)
{
	int64_t nd = ph_heap_long_digits(h, addr, NULL);
	return (uint64_t)(h->L->long_digits + 4 * int_alloc_digits(h->L, nd));
}

static uint64_t int_inline_size(struct ph_heap *h, uint64_t addr,
				const struct ph_type *t, int64_t ob_size)
{
	int64_t nd = ph_heap_long_digits(h, addr, NULL);
	if (nd < 0)
		nd = 0;
	if (t->heap) /* a subclass: its basicsize, digits as items */
		return (uint64_t)t->basicsize +
		       (uint64_t)nd * (uint64_t)t->itemsize;
	return h->L->long_digits + 4 * (uint64_t)int_alloc_digits(h->L, nd);
}

static bool int_contents_ok(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	int64_t nd = ph_heap_long_digits(h, addr, NULL);
	if (nd < 0 || nd > (1 << 24))
		return false;
	if (L->long_tag) {
		uint64_t tag = 0;
		ph_mem_u64(h->mem, addr + L->long_tag, &tag);
		if ((tag & 3) == 3)
			return false; /* no such sign */
	}
	return true;
}

/* The three above from one reading of the digit count. */
static bool int_scan_sizes(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size,
			   uint64_t *ret_inline, uint64_t *ret_size)
{
	const struct ph_layout *L = h->L;
	int64_t nd;
	if (L->long_tag) {
		uint64_t tag = 0;
		ph_mem_u64(h->mem, addr + L->long_tag, &tag);
		if ((tag & 3) == 3)
			return false; /* no such sign */
		nd = (int64_t)(tag >> 3);
	} else {
		/* ob_size is the word ph_heap_long_digits reads */
		nd = ob_size < 0 ? (ob_size == INT64_MIN ? INT64_MAX : -ob_size)
				 : ob_size;
	}
	if (nd > (1 << 24))
		return false;
	*ret_size = L->long_digits + 4 * (uint64_t)int_alloc_digits(L, nd);
	*ret_inline = t->heap ? (uint64_t)t->basicsize +
					(uint64_t)nd * (uint64_t)t->itemsize
			      : *ret_size;
	return true;
}

static void int_repr(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		     struct ph_buf *out)
{
	const struct ph_layout *L = h->L;
	bool negative = false;
	int64_t n = ph_heap_long_digits(h, addr, &negative);
	int64_t size = negative ? -n : n;
	if (n > 700) { /* about 6,300 decimal digits: enough to show */
		ph_buf_printf(out, "<int of %lld 30-bit digits>", (long long)n);
		return;
	}
	const uint32_t *d =
		ph_mem_ptr(h->mem, addr + L->long_digits, (size_t)n * 4);
	if (!d && n) {
		ph_buf_puts(out, "<int>");
		return;
	}
	/* Base 2^30 to base 10^9 by repeated division: small, exact. */
	uint32_t work[701], dec[800];
	size_t nw = (size_t)n, nd = 0;
	memcpy(work, d, nw * 4);
	while (nw) {
		uint64_t rem = 0;
		for (size_t i = nw; i-- > 0;) {
			uint64_t cur = (rem << 30) | work[i];
			work[i] = (uint32_t)(cur / 1000000000u);
			rem = cur % 1000000000u;
		}
		dec[nd++] = (uint32_t)rem;
		while (nw && !work[nw - 1])
			nw--;
	}
	if (size < 0)
		ph_buf_putc(out, '-');
	if (!nd) {
		ph_buf_putc(out, '0');
		return;
	}
	ph_buf_printf(out, "%u", dec[nd - 1]);
	for (size_t i = nd - 1; i-- > 0;)
		ph_buf_printf(out, "%09u", dec[i]);
}

static void bool_repr(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		      struct ph_buf *out)
{
	/* its digit count: 0 for False, 1 for True (3.12+'s lv_tag holds
	 * a sign too, which is not 0 for False) */
	ph_buf_puts(out, ph_heap_long_digits(h, addr, NULL) ? "True" : "False");
}

const struct ph_kind_ops ph_kind_int = {
	.size = int_size,
	.inline_size = int_inline_size,
	.contents_ok = int_contents_ok,
	.scan_sizes = int_scan_sizes,
	.repr = int_repr,
};

const struct ph_kind_ops ph_kind_bool = {
	.size = int_size,
	.inline_size = int_inline_size,
	.contents_ok = int_contents_ok,
	.scan_sizes = int_scan_sizes,
	.repr = bool_repr,
};

/* ---- float ------------------------------------------------------------ */

/* The shortest decimal that reads back as the same double, as repr(). */
static void float_repr(struct ph_heap *h, uint64_t addr,
		       const struct ph_type *t, struct ph_buf *out)
{
	uint64_t v = rd64(h, addr + h->L->float_value);
	double d;
	memcpy(&d, &v, 8);
	char buf[64];
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*g", p, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (isfinite(d) && !strpbrk(buf, ".e"))
		strcat(buf, ".0");
	ph_buf_puts(out, buf);
}

const struct ph_kind_ops ph_kind_float = {
	.repr = float_repr,
	.fixed_size = true,
	.fixed_by_type = true,
};

/* ---- bytes, bytearray ------------------------------------------------- */

/* "<bytes of N items>": N is ob_size (list, tuple, bytes, bytearray). */
void ph_repr_items(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		   struct ph_buf *out)
{
	ph_buf_printf(out, "<%s of %lld items>", ph_type_name(t),
		      (long long)rd64(h, addr + h->L->ob_type + 8));
}

/* A size that is a size: not negative, not past 2^40 (tuple, bytes). */
bool ph_ob_size_ok(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		   int64_t ob_size)
{
	return ob_size >= 0 && ob_size <= (1LL << 40);
}

const struct ph_kind_ops ph_kind_bytes = {
	.contents_ok = ph_ob_size_ok,
	.repr = ph_repr_items,
};

static uint64_t bytearray_size(struct ph_heap *h, uint64_t addr,
			       const struct ph_type *t, int64_t ob_size)
{
	int64_t alloc = c40(rds64(h, addr + h->L->bytearray_alloc));
	/* 3.15 keeps the bytes in a bytes object (ob_bytes_object) whose
	 * header __sizeof__ counts too: its ob_sval offset and the NUL (33
	 * on 64-bit), once anything was allocated (measured: 3 bytes 100,
	 * 5,000 bytes 5,097, empty 64) */
	if (h->L->minor >= 15 && alloc > 0)
		alloc += 33;
	return (uint64_t)(t->basicsize + alloc);
}

const struct ph_kind_ops ph_kind_bytearray = {
	.size = bytearray_size,
	.repr = ph_repr_items,
};

/* ---- None ------------------------------------------------------------- */

static void none_repr(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		      struct ph_buf *out)
{
	ph_buf_puts(out, "None");
}

const struct ph_kind_ops ph_kind_none = {
	.repr = none_repr,
};
