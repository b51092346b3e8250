/*
 * kind_container.c - the containers of items: list, tuple, set and
 * frozenset, collections.deque.
 */
#include <stdio.h>
#include <string.h>

#include "kinds.h"

/* ---- list ------------------------------------------------------------- */

static uint64_t list_size(struct ph_heap *h, uint64_t addr,
			  const struct ph_type *t, int64_t ob_size)
{
	return (uint64_t)(t->basicsize +
			  8 * c40(rds64(h, addr + h->L->list_allocated)));
}

static bool list_contents_ok(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	int64_t alloc = rds64(h, addr + L->list_allocated);
	if (ob_size < 0 || alloc < ob_size || alloc > (1LL << 36))
		return false;
	if (alloc && !ph_mem_ptr(h->mem, rd64(h, addr + L->list_items),
				 (size_t)alloc * 8))
		return false;
	return true;
}

static void list_referents(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size,
			   ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	int64_t alloc = rds64(h, addr + L->list_allocated);
	if (ob_size >= 0 && ob_size <= alloc)
		ph_ref_items(h, rd64(h, addr + L->list_items), ob_size, fn,
			     arg);
}

const struct ph_kind_ops ph_kind_list = {
	.size = list_size,
	.contents_ok = list_contents_ok,
	.referents = list_referents,
	.repr = ph_repr_items,
};

/* ---- tuple ------------------------------------------------------------ */

static void tuple_referents(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size,
			    ph_referent_fn fn, void *arg)
{
	ph_ref_items(h, addr + h->L->tuple_items, ob_size, fn, arg);
}

const struct ph_kind_ops ph_kind_tuple = {
	.contents_ok = ph_ob_size_ok,
	.referents = tuple_referents,
	.repr = ph_repr_items,
};

/* ---- set, frozenset --------------------------------------------------- */

/* The struct, and a hash table of 16-byte entries when it is not the
 * small table inside the struct. */
static uint64_t set_size(struct ph_heap *h, uint64_t addr,
			 const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	int64_t size = t->basicsize;
	if (rd64(h, addr + L->set_table) != addr + L->set_smalltable)
		size += 16 * (c40(rds64(h, addr + L->set_mask)) + 1);
	return (uint64_t)size;
}

static bool set_contents_ok(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	int64_t fill = rds64(h, addr + L->set_fill);
	int64_t used = rds64(h, addr + L->set_used);
	int64_t mask = rds64(h, addr + L->set_mask);
	uint64_t table = rd64(h, addr + L->set_table);
	if (mask < 7 || mask > (1LL << 36) || (mask & (mask + 1)) || used < 0 ||
	    fill < used || fill > mask + 1)
		return false;
	if (table == addr + L->set_smalltable)
		return true;
	if (table < addr + (uint64_t)t->basicsize && table + 16 > addr)
		return false; /* overlaps the set itself */
	if (!ph_mem_ptr(h->mem, table, 16 * (size_t)(mask + 1)))
		return false;
	return true;
}

static void set_referents(struct ph_heap *h, uint64_t addr,
			  const struct ph_type *t, int64_t ob_size,
			  ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	int64_t mask = rds64(h, addr + L->set_mask);
	if (mask < 0 || mask > (1LL << 32))
		return;
	const uint8_t *tab = ph_mem_ptr(h->mem, rd64(h, addr + L->set_table),
					(size_t)(mask + 1) * 16);
	if (!tab)
		return;
	for (int64_t i = 0; i <= mask; i++) {
		uint64_t key;
		memcpy(&key, tab + i * 16, 8);
		if (key && key != h->rt->set_dummy)
			fn(arg, key, PH_EDGE_ITEM, (uint64_t)i);
	}
}

static void set_repr(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		     struct ph_buf *out)
{
	ph_buf_printf(out, "<%s of %llu items>", ph_type_name(t),
		      (unsigned long long)rd64(h, addr + h->L->set_used));
}

const struct ph_kind_ops ph_kind_set = {
	.size = set_size,
	.contents_ok = set_contents_ok,
	.referents = set_referents,
	.repr = set_repr,
	.fixed_size = true,
};

/* ---- collections.deque ------------------------------------------------ */

/* deque_sizeof: the object and its blocks of 64 (528 bytes); leftblock at
 * +24, leftindex at +40 (after the default build's header). */
static uint64_t deque_size(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size)
{
	int64_t size = t->basicsize;
	int64_t abs_size = abs40(ob_size);
	int64_t left = rds64(h, addr + 40 + ph_hdr_shift(h->L));
	if (abs_size < (1LL << 31) && left >= 0 && left < 64)
		size += 528 * ((left + abs_size + 63) / 64);
	return (uint64_t)size;
}

/* Blocks of 64 items, linked: leftlink, data[64], rightlink. */
static void deque_referents(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size,
			    ph_referent_fn fn, void *arg)
{
	uint64_t block = rd64(h, addr + 24 + ph_hdr_shift(h->L));
	int64_t index = rds64(h, addr + 40 + ph_hdr_shift(h->L));
	if (ob_size < 0 || ob_size > (1LL << 31) || index < 0 || index >= 64)
		return;
	for (int64_t i = 0; i < ob_size && block; i++) {
		uint64_t v = rd64(h, block + 8 + 8 * (uint64_t)index);
		if (v)
			fn(arg, v, PH_EDGE_ITEM, (uint64_t)i);
		if (++index == 64) {
			block = rd64(h, block + 8 + 64 * 8);
			index = 0;
		}
	}
}

const struct ph_kind_ops ph_kind_deque = {
	.size = deque_size,
	.referents = deque_referents,
	.by_name = "collections.deque",
};
