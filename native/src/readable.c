/*
 * readable.c - objects as people read them: the values of containers
 * written out ([1, 'a', b'\xff'], {'k': (1, 2)}), instances with their
 * attributes as libpython's py-print writes them
 * (<Session(user_id=3398, token='tok-1') at remote 0x7f...>), bytes as
 * Python literals, a container met again inside itself as Python marks it
 * ([...], {...}, <...>). Every walk is bounded: items per container,
 * levels of nesting, characters of a string, and the bytes written in all.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"

/* Hard bounds, whatever the options say ("0: no limit"). */
#define HARD_DEPTH 32
#define HARD_ITEMS (1u << 20)
#define HARD_STR (1u << 20)

struct rd {
	struct ph_heap *h;
	struct ph_buf *out;
	size_t start, max_len;
	unsigned items, depth, str_len;
	uint64_t stack[HARD_DEPTH + 1]; /* the containers being written */
	unsigned nstack;
};

static void value(struct rd *r, uint64_t addr);

/* Past the budget of bytes: nothing more is written. */
static bool full(const struct rd *r)
{
	return r->out->failed || r->out->len - r->start > r->max_len;
}

static bool on_stack(const struct rd *r, uint64_t addr)
{
	for (unsigned i = 0; i < r->nstack; i++)
		if (r->stack[i] == addr)
			return true;
	return false;
}

/* Writes the item separator and says whether item i may be written: past
 * the count (or the budget), ", ..." ends the container. */
static bool item_sep(struct rd *r, uint64_t i)
{
	if (i && (i >= r->items || full(r))) {
		ph_buf_puts(r->out, ", ...");
		return false;
	}
	if (i)
		ph_buf_puts(r->out, ", ");
	return true;
}

/* bytes as Python writes their literal (PyBytes_Repr): ' unless the
 * bytes hold ' and no ", then "; \t \n \r \\ and the quote escaped;
 * every other byte outside printable ASCII as \xNN. */
static void bytes_literal(struct rd *r, const uint8_t *p, uint64_t n, bool cut)
{
	struct ph_buf *out = r->out;
	bool sq = memchr(p, '\'', n) != NULL, dq = memchr(p, '"', n) != NULL;
	char q = sq && !dq ? '"' : '\'';
	ph_buf_putc(out, 'b');
	ph_buf_putc(out, q);
	for (uint64_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == q || c == '\\')
			ph_buf_printf(out, "\\%c", c);
		else if (c == '\t')
			ph_buf_puts(out, "\\t");
		else if (c == '\n')
			ph_buf_puts(out, "\\n");
		else if (c == '\r')
			ph_buf_puts(out, "\\r");
		else if (c < 0x20 || c >= 0x7f)
			ph_buf_printf(out, "\\x%02x", c);
		else
			ph_buf_putc(out, (char)c);
	}
	if (cut)
		ph_buf_puts(out, "...");
	ph_buf_putc(out, q);
}

static bool bytes_value(struct rd *r, uint64_t data, int64_t size)
{
	if (size < 0 || size > (1LL << 40))
		return false;
	uint64_t n = (uint64_t)size;
	bool cut = n > r->str_len;
	if (cut)
		n = r->str_len;
	const uint8_t *p = ph_mem_ptr(r->h->mem, data, n);
	if (!p && n)
		return false;
	bytes_literal(r, p ? p : (const uint8_t *)"", n, cut);
	return true;
}

/* n words at arr, as items */
static void items(struct rd *r, uint64_t arr, int64_t n)
{
	if (n < 0 || n > (1LL << 36))
		return;
	for (int64_t i = 0; i < n; i++) {
		if (!item_sep(r, (uint64_t)i))
			return;
		value(r, rd64(r->h, arr + 8 * (uint64_t)i));
	}
}

static void set_items(struct rd *r, uint64_t addr)
{
	const struct ph_layout *L = r->h->L;
	int64_t mask = rds64(r->h, addr + L->set_mask);
	if (mask < 0 || mask > (1LL << 32))
		return;
	const uint8_t *tab =
		ph_mem_ptr(r->h->mem, rd64(r->h, addr + L->set_table),
			   (size_t)(mask + 1) * 16);
	if (!tab)
		return;
	uint64_t n = 0;
	for (int64_t i = 0; i <= mask; i++) {
		uint64_t key;
		memcpy(&key, tab + i * 16, 8);
		if (!key || key == r->h->rt->set_dummy)
			continue;
		if (!item_sep(r, n++))
			return;
		value(r, key);
	}
}

struct entries {
	struct rd *r;
	uint64_t n;
	bool attrs; /* name=value (an instance's), else key: value */
};

static bool entry_cb(void *arg, uint64_t key, uint64_t val, int64_t index)
{
	struct entries *e = arg;
	struct rd *r = e->r;
	(void)index;
	if (!item_sep(r, e->n++))
		return true;
	if (e->attrs) {
		char name[256];
		if (!ph_heap_str(r->h, key, name, sizeof(name), NULL))
			snprintf(name, sizeof(name), "?");
		ph_buf_puts(r->out, name);
		ph_buf_putc(r->out, '=');
	} else {
		value(r, key);
		ph_buf_puts(r->out, ": ");
	}
	value(r, val);
	return false;
}

/* An instance's attributes, as the references it holds name them: the
 * values of its __dict__ (or of the values it keeps inline, 3.11+) in
 * their order, then its __slots__. */
struct attrs {
	struct rd *r;
	uint64_t n;
	uint64_t dict;
	uint64_t slot_val[64], slot_name[64];
	unsigned nslots;
	bool any;
};

static void attr_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		    uint64_t data)
{
	struct attrs *a = arg;
	struct rd *r = a->r;
	if (kind == PH_EDGE_FIELD &&
	    !strcmp((const char *)(uintptr_t)data, "__dict__"))
		a->dict = target;
	else if (kind == PH_EDGE_SLOT && a->nslots < 64) {
		a->slot_val[a->nslots] = target;
		a->slot_name[a->nslots++] = data;
	} else if (kind == PH_EDGE_ATTR) {
		struct entries e = {.r = r, .n = a->n, .attrs = true};
		entry_cb(&e, data, target, 0);
		a->n = e.n;
	}
}

/* tp_name, as libpython writes it: a class's own name, without its
 * module and the classes it is nested in */
static const char *short_name(const struct ph_type *t)
{
	const char *name = ph_type_name(t), *dot = strrchr(name, '.');
	return dot ? dot + 1 : name;
}

static void instance(struct rd *r, uint64_t addr, uint32_t tidx,
		     const struct ph_type *t)
{
	struct ph_heap *h = r->h;
	ph_buf_puts(r->out, short_name(t));
	size_t open = r->out->len;
	ph_buf_putc(r->out, '(');
	struct attrs a = {.r = r};
	ph_heap_referents(h, addr, tidx, attr_cb, &a);
	if (a.dict && ph_heap_lookup(h, a.dict) != PH_NONE &&
	    ph_obj_type(h, ph_heap_lookup(h, a.dict))->kind == PH_KIND_DICT) {
		struct entries e = {.r = r, .n = a.n, .attrs = true};
		ph_dict_foreach(h, a.dict, entry_cb, &e);
		a.n = e.n;
	}
	for (unsigned i = 0; i < a.nslots; i++) {
		if (!item_sep(r, a.n++))
			break;
		char *s = NULL;
		struct ph_error *err =
			ph_mem_strdup(h->mem, a.slot_name[i], 200, &s);
		ph_buf_puts(r->out, err ? "?" : s);
		ph_error_destroy(err);
		free(s);
		ph_buf_putc(r->out, '=');
		value(r, a.slot_val[i]);
	}
	/* no __dict__ and no attributes: <Name at remote 0x...>, as
	 * libpython writes an object without a dict */
	bool has_dict = t->dictoffset || (t->flags & h->L->preheader_flags &
					  PH_TPFLAGS_MANAGED_DICT);
	if (!a.n && !has_dict)
		r->out->len = open;
	else
		ph_buf_putc(r->out, ')');
}

/* A container met again inside itself, as Python's repr marks it (and
 * libpython an instance). */
static const char *recursion_mark(enum ph_kind kind)
{
	switch (kind) {
	case PH_KIND_LIST:
		return "[...]";
	case PH_KIND_TUPLE:
		return "(...)";
	case PH_KIND_DICT:
		return "{...}";
	case PH_KIND_SET:
		return "set(...)";
	case PH_KIND_FROZENSET:
		return "frozenset(...)";
	default:
		return "<...>";
	}
}

/* A container's value, inside its brackets; false: not one written out. */
static bool container(struct rd *r, uint64_t addr, uint32_t tidx)
{
	struct ph_heap *h = r->h;
	const struct ph_layout *L = h->L;
	const struct ph_type *t = &h->types[tidx];
	struct ph_buf *out = r->out;
	int64_t ob_size = rds64(h, addr + h->L->ob_type + 8);
	switch (t->kind) {
	case PH_KIND_LIST:
		if (ob_size > rds64(h, addr + L->list_allocated))
			return false;
		ph_buf_putc(out, '[');
		items(r, rd64(h, addr + L->list_items), ob_size);
		ph_buf_putc(out, ']');
		return true;
	case PH_KIND_TUPLE:
		ph_buf_putc(out, '(');
		items(r, addr + L->tuple_items, ob_size);
		ph_buf_puts(out, ob_size == 1 ? ",)" : ")");
		return true;
	case PH_KIND_DICT:
		ph_buf_putc(out, '{');
		struct entries e = {.r = r};
		ph_dict_foreach(h, addr, entry_cb, &e);
		ph_buf_putc(out, '}');
		return true;
	case PH_KIND_SET:
	case PH_KIND_FROZENSET: {
		bool frozen = t->kind == PH_KIND_FROZENSET;
		if (!rd64(h, addr + L->set_used)) {
			ph_buf_puts(out, frozen ? "frozenset()" : "set()");
			return true;
		}
		if (frozen)
			ph_buf_puts(out, "frozenset(");
		ph_buf_putc(out, '{');
		set_items(r, addr);
		ph_buf_putc(out, '}');
		if (frozen)
			ph_buf_putc(out, ')');
		return true;
	}
	case PH_KIND_OBJECT:
		if (!t->heap)
			return false;
		ph_buf_putc(out, '<');
		instance(r, addr, tidx, t);
		ph_buf_printf(out, " at remote 0x%llx>",
			      (unsigned long long)addr);
		return true;
	default:
		return false;
	}
}

static void value(struct rd *r, uint64_t addr)
{
	struct ph_heap *h = r->h;
	uint32_t ob = ph_heap_lookup(h, addr);
	if (ob == PH_NONE) {
		ph_buf_printf(r->out, "<? at 0x%llx>",
			      (unsigned long long)addr);
		return;
	}
	uint32_t tidx = ph_tidx(h, ob);
	const struct ph_type *t = &h->types[tidx];
	switch (t->kind) {
	case PH_KIND_STR:
		ph_repr_str(h, addr, r->out, r->str_len);
		return;
	case PH_KIND_BYTES:
		if (bytes_value(r, addr + h->L->bytes_data,
				rds64(h, addr + h->L->ob_type + 8)))
			return;
		break;
	case PH_KIND_BYTEARRAY: {
		/* ob_start, two words after ob_alloc; ob_size bytes */
		size_t mark = r->out->len;
		ph_buf_puts(r->out, "bytearray(");
		if (bytes_value(r, rd64(h, addr + h->L->bytearray_alloc + 16),
				rds64(h, addr + h->L->ob_type + 8))) {
			ph_buf_putc(r->out, ')');
			return;
		}
		r->out->len = mark;
		break;
	}
	case PH_KIND_LIST:
	case PH_KIND_TUPLE:
	case PH_KIND_DICT:
	case PH_KIND_SET:
	case PH_KIND_FROZENSET:
	case PH_KIND_OBJECT:
		if (on_stack(r, addr)) {
			ph_buf_puts(r->out, recursion_mark(t->kind));
			return;
		}
		if (r->nstack < r->depth && !full(r)) {
			r->stack[r->nstack++] = addr;
			bool done = container(r, addr, tidx);
			r->nstack--;
			if (done)
				return;
		} else if (t->kind == PH_KIND_OBJECT && t->heap) {
			/* too deep: libpython's form without attributes */
			ph_buf_putc(r->out, '<');
			ph_buf_puts(r->out, short_name(t));
			ph_buf_printf(r->out, " at remote 0x%llx>",
				      (unsigned long long)addr);
			return;
		}
		break;
	default:
		break;
	}
	ph_repr_object(h, addr, tidx, r->out);
}

void ph_repr_readable(struct ph_heap *h, uint64_t addr,
		      const struct ph_readable_opts *o, struct ph_buf *out)
{
	struct rd r = {
		.h = h,
		.out = out,
		.start = out->len,
		.max_len = o->max_len ? o->max_len : 4096,
		.items = o->items && o->items < HARD_ITEMS ? o->items
							   : HARD_ITEMS,
		.depth = o->depth && o->depth < HARD_DEPTH ? o->depth
							   : HARD_DEPTH,
		.str_len = o->str_len && o->str_len < HARD_STR ? o->str_len
							       : HARD_STR,
	};
	/* (a str is read whole up to its bound: no more than is shown) */
	if (r.str_len > r.max_len)
		r.str_len = (unsigned)r.max_len;
	value(&r, addr);
	if (out->len - r.start > r.max_len + 16) {
		/* cut at a character's start, and say so (as libpython) */
		size_t cut = r.start + r.max_len;
		while (cut > r.start && (out->data[cut] & 0xc0) == 0x80)
			cut--;
		out->len = cut;
		ph_buf_puts(out, "...(truncated)");
	}
}
