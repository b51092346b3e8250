/* objtable.c - the object table: objects by number (address, type, size,
 * flags), found by address through the pools' bitmaps or a hash map. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "objtable.h"

uint32_t ph_objtable_lookup_slow(const struct ph_heap *h, uint64_t addr)
{
	if (h->mi_pages_sorted) {
		const struct ph_mi_page *mp = ph_objtable_mi_page(h, addr);
		int64_t i = mp ? ph_objtable_mi_block(mp, addr) : -1;
		if (i >= 0) {
			uint64_t w = (uint64_t)i / 64, bit = 1ULL << (i % 64);
			uint64_t o = mp->first + mp->rank[w] +
				     ph_popcount64(mp->obj_bits[w] & (bit - 1));
			return o < h->n ? (uint32_t)o : PH_NONE;
		}
		return ph_objtable_other(h, addr);
	}
	/* (an object the pool scan found is ph_objtable_lookup's own) */
	if ((addr & 15) && ph_objtable_pool_at(h, addr))
		return PH_NONE; /* not where pymalloc puts objects */
	/* not found by the pool scan: maybe found later */
	return ph_objtable_other(h, addr);
}

uint32_t ph_heap_lookup(const struct ph_heap *h, uint64_t addr)
{
	return ph_objtable_lookup(h, addr);
}

bool ph_heap_addr_in_image(const struct ph_heap *h, uint64_t addr)
{
	const struct ph_target *t = h->rt->target;
	for (size_t i = 0; i < t->nmods; i++)
		if (addr >= t->mods[i].start && addr < t->mods[i].end)
			return true;
	return false;
}

uint32_t *ph_region_slot(struct ph_region **r, size_t *n, uint64_t addr,
			 unsigned shift, size_t max)
{
	uint64_t base = addr & ~((1ULL << 30) - 1);
	size_t i = 0;
	while (i < *n && (*r)[i].base != base)
		i++;
	if (i == *n) {
		struct ph_region *g =
			*n < max ? realloc(*r, (*n + 1) * sizeof(*g)) : NULL;
		if (!g)
			return NULL;
		*r = g;
		g[i].base = base;
		if (!(g[i].slots = calloc((1ULL << 30) >> shift,
					  sizeof(*g[i].slots))))
			return NULL;
		(*n)++;
	}
	return &(*r)[i].slots[(addr - base) >> shift];
}

void ph_regions_free(struct ph_region **r, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*r)[i].slots);
	free(*r);
	*r = NULL;
	*n = 0;
}

struct ph_error *ph_objtable_index_pool(struct ph_heap *h, uint64_t addr,
					uint32_t idx)
{
	uint32_t *slot = ph_region_slot(&h->regions, &h->nregions, addr,
					h->pool_shift, SIZE_MAX);
	if (!slot)
		return ph_error_nomem();
	*slot = idx + 1;
	return NULL;
}

void ph_objtable_mi_unindex(struct ph_heap *h)
{
	ph_regions_free(&h->mi_regions, &h->nmi_regions);
}

/* (a heap over more GiB than this is searched: the table's lookup walks
 * its regions, as ph_objtable_pool_at does) */
#define MI_REGIONS_MAX 64

void ph_objtable_mi_index(struct ph_heap *h)
{
	struct ph_region *regs = NULL;
	size_t nregs = 0;
	ph_objtable_mi_unindex(h);
	for (size_t i = 0; i < h->nmi_pages; i++) {
		const struct ph_mi_page *p = &h->mi_pages[i];
		if (p->end <= p->start)
			continue;
		for (uint64_t g = p->start >> PH_MI_GRANULE_SHIFT;
		     g <= (p->end - 1) >> PH_MI_GRANULE_SHIFT; g++) {
			uint32_t *slot = ph_region_slot(
				&regs, &nregs, g << PH_MI_GRANULE_SHIFT,
				PH_MI_GRANULE_SHIFT, MI_REGIONS_MAX);
			if (!slot) {
				ph_regions_free(&regs, &nregs);
				return;
			}
			*slot = *slot ? PH_MI_MANY : (uint32_t)(i + 1);
		}
	}
	h->mi_regions = regs;
	h->nmi_regions = nregs;
}

/* Pools in a mapped index cache file (heapcache.c) copied into memory of
 * their own, before the file goes or the array grows. */
static struct ph_error *pools_own(struct ph_heap *h)
{
	if (!h->pools_mapped)
		return NULL;
	struct ph_pool *p = malloc(h->npools * sizeof(*p) + 1);
	if (!p)
		return ph_error_nomem();
	memcpy(p, h->pools, h->npools * sizeof(*p));
	h->pools = p;
	h->pools_cap = h->npools;
	h->pools_mapped = false;
	return NULL;
}

/* An index cache's others' slots, likewise. */
static struct ph_error *others_own(struct ph_heap *h)
{
	if (!h->other_slots || h->other_slots_owned)
		return NULL;
	uint32_t *s = malloc(h->other_cap * sizeof(*s));
	if (!s)
		return ph_error_nomem();
	memcpy(s, h->other_slots, h->other_cap * sizeof(*s));
	h->other_slots = s;
	h->other_slots_owned = true;
	return NULL;
}

struct ph_error *ph_objtable_reserve_pools(struct ph_heap *h, size_t n)
{
	struct ph_error *err = pools_own(h);
	if (err || h->npools + n <= h->pools_cap)
		return err;
	struct ph_pool *p =
		realloc(h->pools, (h->npools + n) * sizeof(*h->pools));
	if (!p)
		return ph_error_nomem();
	h->pools = p;
	h->pools_cap = h->npools + n;
	return NULL;
}

struct ph_error *ph_objtable_add_pool(struct ph_heap *h,
				      const struct ph_pool *pool)
{
	struct ph_error *err = pools_own(h);
	if (err)
		return err;
	err = ph_grow((void **)&h->pools, &h->pools_cap, h->npools + 1,
		      sizeof(*h->pools));
	if (!err)
		err = ph_objtable_index_pool(h, pool->addr,
					     (uint32_t)h->npools);
	if (!err)
		h->pools[h->npools++] = *pool;
	return err;
}

/* The object table's arrays, grown to cap entries: in one block of memory
 * of its own (ph_big_alloc's: huge pages where a page fault may cost 15 µs,
 * as in some virtual machines; docs/performance.md), one after the other,
 * so that a heap freed while a command runs gives its next tables one
 * block (ph_big_hold: a diff's graph takes the before side's). */
static size_t table_bytes(const struct ph_heap *h, size_t cap)
{
	return cap * (sizeof(*h->addr) + sizeof(*h->tidx) + sizeof(*h->size) +
		      sizeof(*h->flags));
}

static struct ph_error *obj_table_resize(struct ph_heap *h, size_t cap)
{
	struct ph_error *err = pools_own(h);
	if (!err)
		err = others_own(h);
	if (err)
		return err;
	uint8_t *block = ph_big_alloc(table_bytes(h, cap));
	if (!block)
		return ph_error_nomem();
	void *grown[4] = {block, block + cap * sizeof(*h->addr),
			  block + cap * (sizeof(*h->addr) + sizeof(*h->tidx)),
			  block + cap * (sizeof(*h->addr) + sizeof(*h->tidx) +
					 sizeof(*h->size))};
	void **arr[4] = {(void **)&h->addr, (void **)&h->tidx,
			 (void **)&h->size, (void **)&h->flags};
	const size_t elem[4] = {sizeof(*h->addr), sizeof(*h->tidx),
				sizeof(*h->size), sizeof(*h->flags)};
	size_t keep = h->n < cap ? h->n : cap;
	for (int k = 0; k < 4; k++)
		if (*arr[k])
			memcpy(grown[k], *arr[k], keep * elem[k]);
	if (h->table_map) {
		munmap(h->table_map, h->table_map_len);
		h->table_map = NULL;
	} else
		ph_big_free(h->addr, table_bytes(h, h->cap));
	for (int k = 0; k < 4; k++)
		*arr[k] = grown[k];
	h->cap = cap;
	return NULL;
}

/* Appends an object to the table (its pool bit, if any, is set), with its
 * size, while its memory is still in the cache. */
static struct ph_error *obj_append(struct ph_heap *h, uint64_t addr,
				   uint32_t tidx, uint8_t flag)
{
	if (h->n >= UINT32_MAX / 2)
		return ph_error_create(PH_ERR_UNSUPPORTED,
				       "more than 2 billion objects");
	if (h->n == h->cap) {
		struct ph_error *err =
			obj_table_resize(h, h->cap ? h->cap * 2 : 65536);
		if (err)
			return err;
	}
	h->addr[h->n] = addr;
	h->tidx[h->n] = tidx;
	h->flags[h->n] = flag;
	h->size[h->n] = ph_size_entry(ph_obj_sizeof(h, addr, &h->types[tidx]));
	h->n++;
	return NULL;
}

struct ph_error *ph_objtable_add(struct ph_heap *h, uint64_t addr,
				 uint32_t tidx, uint8_t flag, bool *ret_added)
{
	if (ret_added)
		*ret_added = false;
	if (h->mi_pages_sorted) {
		/* one of a page's objects, numbered by its scan */
		const struct ph_mi_page *mp = ph_objtable_mi_page(h, addr);
		if (mp && ph_objtable_mi_block(mp, addr) >= 0)
			return NULL;
	}
	struct ph_pool *p = (struct ph_pool *)ph_objtable_pool_at(h, addr);
	if (ret_added)
		*ret_added = false;
	if (p && (addr & 15))
		return NULL; /* not where pymalloc puts objects */
	if (p && h->pools_frozen) {
		/* Numbered already: one the pool scan missed is kept aside. */
		uint64_t g = ph_objtable_pool_granule(h, addr);
		if ((p->obj_bits[g / 64] >> (g % 64)) & 1)
			return NULL;
		p = NULL;
	}
	if (p) {
		uint64_t g = ph_objtable_pool_granule(h, addr);
		if ((p->obj_bits[g / 64] >> (g % 64)) & 1)
			return NULL;
		p->obj_bits[g / 64] |= 1ULL << (g % 64);
	} else {
		bool existed;
		struct ph_error *err = ph_u64map_put(&h->big_index, addr,
						     (uint32_t)h->n, &existed);
		if (err)
			return err;
		if (existed)
			return NULL;
	}
	struct ph_error *e = obj_append(h, addr, tidx, flag);
	if (!e && ret_added)
		*ret_added = true;
	return e;
}

uint64_t ph_heap_big_size(const struct ph_heap *h, size_t i)
{
	/* As obj_append found it (only objects outside the pools are so
	 * big): the size functions only read the target's memory. */
	return ph_obj_sizeof((struct ph_heap *)h, h->addr[i],
			     ph_obj_type(h, i));
}

struct ph_error *ph_objtable_reserve(struct ph_heap *h, size_t n)
{
	return h->n + n <= h->cap ? NULL : obj_table_resize(h, h->n + n);
}

/*
 * The pool scan found the objects in pools in address order: they are
 * numbered as found, and a pool's bitmap rank gives the number back. Objects
 * found after this (large ones, static ones) are numbered as they come and
 * looked up through the hash map.
 */
void ph_objtable_freeze(struct ph_heap *h, uint32_t base)
{
	uint32_t next = base;
	for (size_t i = 0; i < h->npools; i++) {
		struct ph_pool *p = &h->pools[i];
		uint32_t r = 0;
		p->first = next;
		for (int w = 0; w < 16; w++) {
			p->rank[w] = (uint16_t)r;
			r += ph_popcount64(p->obj_bits[w]);
		}
		next += r;
	}
	h->npool_objects = next - base;
	h->pools_frozen = true;
}

void ph_objtable_free(struct ph_heap *h)
{
	if (h->table_map) {
		munmap(h->table_map, h->table_map_len);
	} else {
		ph_big_free(h->addr, table_bytes(h, h->cap)); /* (all four) */
	}
	if (!h->pools_mapped)
		free(h->pools);
	ph_u64map_free(&h->big_index);
	if (h->other_slots_owned)
		free(h->other_slots);
	h->other_slots = NULL;
	h->other_slots_owned = false;
	ph_regions_free(&h->regions, &h->nregions);
}
