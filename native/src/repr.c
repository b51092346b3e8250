/* repr.c - short, repr()-like renderings of objects. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

const char *tname(const struct ph_type *t)
{
	return t->name ? t->name : "?";
}

/* ---- short reprs ------------------------------------------------------ */

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
	ph_buf_putc(out, q);
	size_t chars = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if ((c & 0xc0) != 0x80)
			chars++;
		if (chars > max) {
			ph_buf_puts(out, "...");
			break;
		}
		if (c == '\\' || c == (unsigned char)q)
			ph_buf_printf(out, "\\%c", c);
		else if (c == '\n')
			ph_buf_puts(out, "\\n");
		else if (c == '\t')
			ph_buf_puts(out, "\\t");
		else if (c == '\r')
			ph_buf_puts(out, "\\r");
		else if (c < 0x20 || c == 0x7f)
			ph_buf_printf(out, "\\x%02x", c);
		else
			ph_buf_putc(out, (char)c);
	}
	ph_buf_putc(out, q);
	free(buf);
}

static void repr_int(struct ph_heap *h, uint64_t addr, struct ph_buf *out)
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

void ph_repr_object(struct ph_heap *h, uint64_t addr, uint32_t tidx,
		    struct ph_buf *out)
{
	const struct ph_type *t = &h->types[tidx];
	const struct ph_layout *L = h->L;
	uint64_t v = 0;
	ph_mem_u64(h->mem, addr + 16, &v);
	switch (t->kind) {
	case PH_KIND_STR:
		ph_repr_str(h, addr, out, 60);
		return;
	case PH_KIND_INT:
		repr_int(h, addr, out);
		return;
	case PH_KIND_BOOL:
		ph_buf_puts(out, v ? "True" : "False");
		return;
	case PH_KIND_NONE:
		ph_buf_puts(out, "None");
		return;
	case PH_KIND_FLOAT: {
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
		return;
	}
	case PH_KIND_LIST:
	case PH_KIND_TUPLE:
	case PH_KIND_BYTES:
	case PH_KIND_BYTEARRAY:
		ph_buf_printf(out, "<%s of %lld items>", tname(t),
			      (long long)v);
		return;
	case PH_KIND_DICT:
	case PH_KIND_ODICT: {
		uint64_t used = 0;
		ph_mem_u64(h->mem, addr + L->dict_used, &used);
		ph_buf_printf(out, "<%s of %llu items>", tname(t),
			      (unsigned long long)used);
		return;
	}
	case PH_KIND_SET:
	case PH_KIND_FROZENSET: {
		uint64_t used = 0;
		ph_mem_u64(h->mem, addr + L->set_used, &used);
		ph_buf_printf(out, "<%s of %llu items>", tname(t),
			      (unsigned long long)used);
		return;
	}
	case PH_KIND_TYPE: {
		int64_t ti = -1;
		uint32_t *p = ph_u64map_get(&h->type_index, addr);
		if (p)
			ti = *p;
		ph_buf_printf(out, "<class '%s'>",
			      ti >= 0 ? tname(&h->types[ti]) : "?");
		return;
	}
	case PH_KIND_MODULE:
		ph_buf_puts(out, "<module ");
		ph_repr_str(h, ({
				    uint64_t n = 0;
				    ph_mem_u64(h->mem, addr + L->module_name,
					       &n);
				    n;
			    }),
			    out, 60);
		ph_buf_puts(out, ">");
		return;
	default:
		ph_buf_printf(out, "<%s object at 0x%llx>", tname(t),
			      (unsigned long long)addr);
	}
}
