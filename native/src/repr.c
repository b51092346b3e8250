/* repr.c - short, repr()-like renderings of objects, and edge labels. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

const char *tname(const struct ph_type *t)
{
	return t->name ? t->name : "?";
}

void ph_edge_label_write(struct ph_heap *h, enum ph_edge_kind kind,
			 uint64_t data, struct ph_buf *out)
{
	char name[256];
	switch (kind) {
	case PH_EDGE_ITEM:
		ph_buf_printf(out, "[%llu]", (unsigned long long)data);
		break;
	case PH_EDGE_KEY:
		ph_buf_puts(out, "<key>");
		break;
	case PH_EDGE_VALUE: {
		uint32_t tn_ = ph_heap_lookup(h, data);
		uint32_t *ti = tn_ == PH_NONE ? NULL : &tn_;
		ph_buf_putc(out, '[');
		if (ti)
			ph_repr_object(h, data, h->tidx[*ti], out);
		else
			ph_buf_puts(out, "?");
		ph_buf_putc(out, ']');
		break;
	}
	case PH_EDGE_ATTR:
	case PH_EDGE_LOCAL:
		if (!ph_heap_str(h, data, name, sizeof(name), NULL))
			snprintf(name, sizeof(name), "?");
		if (kind == PH_EDGE_ATTR)
			ph_buf_printf(out, ".%s", name);
		else
			ph_buf_printf(out, "local '%s'", name);
		break;
	case PH_EDGE_SLOT: {
		char *s = NULL;
		struct ph_error *err = ph_mem_strdup(h->mem, data, 200, &s);
		ph_buf_printf(out, ".%s", err ? "?" : s);
		ph_error_destroy(err);
		free(s);
		break;
	}
	case PH_EDGE_FIELD:
		ph_buf_printf(out, ".%s", (const char *)(uintptr_t)data);
		break;
	case PH_EDGE_WEAK:
		ph_buf_printf(out, ".%s (weak)", (const char *)(uintptr_t)data);
		break;
	case PH_EDGE_STACK:
		ph_buf_printf(out, "stack[%llu]", (unsigned long long)data);
		break;
	case PH_EDGE_CONSERVATIVE:
		ph_buf_printf(out, "+0x%llx (conservative)",
			      (unsigned long long)data);
		break;
	default:
		ph_buf_puts(out, "?");
	}
}
