/*
 * objtable.h - the object table, private to discovery (objtable.c and the
 * discover*.c files): objects are added once each, and found by address.
 * Objects in an allocator's pages (pymalloc's pools) are marked in their
 * page's bitmap, one bit per 16-byte granule, and numbered first, in
 * address order, once the pages are scanned (ph_objtable_freeze); the
 * others (large, static, or found later) go through a hash map.
 */
#ifndef PH_OBJTABLE_H
#define PH_OBJTABLE_H

#include "heap.h"

static inline uint32_t ph_popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (uint32_t)((x * 0x0101010101010101ULL) >> 56);
}

/* Pool number idx found by its address (ph_objtable_pool_at). */
struct ph_error *ph_objtable_index_pool(struct ph_heap *h, uint64_t addr,
					uint32_t idx);

/* The slot of addr among n regions of slots for 2^shift bytes each, or 0
 * where no region covers it. */
static inline uint32_t ph_region_get(const struct ph_region *r, size_t n,
				     uint64_t addr, unsigned shift)
{
	uint64_t base = addr & ~((1ULL << 30) - 1);
	for (size_t i = 0; i < n; i++)
		if (r[i].base == base)
			return r[i].slots[(addr - base) >> shift];
	return 0;
}

/* The slot of addr, its region added (its slots zero) if there was none;
 * NULL when memory is short or that would make more than max regions. */
uint32_t *ph_region_slot(struct ph_region **r, size_t *n, uint64_t addr,
			 unsigned shift, size_t max);
void ph_regions_free(struct ph_region **r, size_t *n);

/* Which pool (if any) holds addr; NULL for memory no pool covers. */
static inline const struct ph_pool *ph_objtable_pool_at(const struct ph_heap *h,
							uint64_t addr)
{
	uint32_t v =
		ph_region_get(h->regions, h->nregions, addr, h->pool_shift);
	return v ? &h->pools[v - 1] : NULL;
}

/* The 16-byte granule of its pool that addr is in: from addr alone, as
 * pools are aligned (a sealed index's pool records are not read whole, so
 * that one whose address rot moved cannot put it past the bitmaps). */
static inline uint64_t ph_objtable_pool_granule(const struct ph_heap *h,
						uint64_t addr)
{
	return (addr & ((1ULL << h->pool_shift) - 1)) / 16;
}

/* The object the pool scan found at addr: true, with its pool and its
 * granule in the pool; false where no pool holds addr, addr is not a
 * granule's start, or the scan found no object there. */
static inline __attribute__((always_inline)) bool
ph_objtable_pool_found(const struct ph_heap *h, uint64_t addr,
		       const struct ph_pool **ret_pool, uint64_t *ret_granule)
{
	if (addr & 15)
		return false;
	const struct ph_pool *p = ph_objtable_pool_at(h, addr);
	if (!p)
		return false;
	uint64_t g = ph_objtable_pool_granule(h, addr);
	if (!((p->obj_bits[g / 64] >> (g % 64)) & 1))
		return false;
	*ret_pool = p;
	*ret_granule = g;
	return true;
}

/* The number of a pool's object at granule g (set in its bitmap): the
 * pool's first, and its objects before it. Not checked against the
 * table's size (a sealed index's pools are used unchecked). */
static inline uint64_t ph_objtable_pool_number(const struct ph_pool *p,
					       uint64_t g)
{
	uint64_t w = g / 64, bit = 1ULL << (g % 64);
	return p->first + p->rank[w] +
	       ph_popcount64(p->obj_bits[w] & (bit - 1));
}

/* Free-threaded: the mimalloc page whose blocks hold addr, or NULL
 * (h->mi_pages sorted: by their granules' table, else a binary search). */
static inline const struct ph_mi_page *
ph_objtable_mi_page(const struct ph_heap *h, uint64_t addr)
{
	if (h->nmi_regions) {
		uint32_t v = ph_region_get(h->mi_regions, h->nmi_regions, addr,
					   PH_MI_GRANULE_SHIFT);
		if (!v)
			return NULL;
		if (v != PH_MI_MANY) {
			const struct ph_mi_page *p = &h->mi_pages[v - 1];
			return addr >= p->start && addr < p->end ? p : NULL;
		}
	}
	size_t lo = 0, hi = h->nmi_pages;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->mi_pages[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == h->nmi_pages || addr < h->mi_pages[lo].start)
		return NULL;
	return &h->mi_pages[lo];
}

/* The table of ph_objtable_mi_page made for h->mi_pages, sorted and not
 * overlapping (or none, where they span too many GiB regions or memory is
 * short: then searched); ph_objtable_mi_unindex frees it. */
void ph_objtable_mi_index(struct ph_heap *h);
void ph_objtable_mi_unindex(struct ph_heap *h);

/* The block number of the page object at addr, or -1: not where the page
 * holds one, or none found there. */
static inline int64_t ph_objtable_mi_block(const struct ph_mi_page *p,
					   uint64_t addr)
{
	if (!p->obj_bits || addr < p->start + p->obj_off)
		return -1;
	uint64_t off = addr - p->start - p->obj_off, i = off / p->bsize;
	if (off % p->bsize || !((p->obj_bits[i / 64] >> (i % 64)) & 1))
		return -1;
	return (int64_t)i;
}

/* Where addr is in an index cache's others' slots (cap of them, a power
 * of two, one at least empty; each 0 or 1 + an object's number below n):
 * the slot holding its number, else the empty one it would take. Linear
 * probing from ph_hash64: the file's writer and its readers share it. */
static inline size_t ph_objtable_other_slot(const uint32_t *slots, size_t cap,
					    const uint64_t *addrs, size_t n,
					    uint64_t addr)
{
	size_t mask = cap - 1, i = ph_hash64(addr) & mask;
	for (;; i = (i + 1) & mask) {
		uint32_t v = slots[i];
		if (!v || (v - 1 < n && addrs[v - 1] == addr))
			return i;
	}
}

/* The number of the object at addr among those outside pools and pages,
 * or PH_NONE; never past the table (an index cache's slots are used
 * unchecked when it is sealed: heapcache.c). */
static inline uint32_t ph_objtable_other(const struct ph_heap *h, uint64_t addr)
{
	if (h->other_slots && addr) {
		uint32_t v = h->other_slots[ph_objtable_other_slot(
			h->other_slots, h->other_cap, h->addr, h->n, addr)];
		if (v)
			return v - 1;
	}
	uint32_t *v = ph_u64map_get(&h->big_index, addr);
	return v && *v < h->n ? *v : PH_NONE;
}

/* Is there an object at addr already? (during discovery) */
static inline __attribute__((always_inline)) bool
ph_objtable_known(const struct ph_heap *h, uint64_t addr)
{
	if (h->mi_pages_sorted) {
		const struct ph_mi_page *mp = ph_objtable_mi_page(h, addr);
		if (mp && ph_objtable_mi_block(mp, addr) >= 0)
			return true;
		return ph_objtable_other(h, addr) != PH_NONE;
	}
	const struct ph_pool *p = ph_objtable_pool_at(h, addr);
	if (p) {
		if (addr & 15)
			return false;
		uint64_t g = ph_objtable_pool_granule(h, addr);
		if ((p->obj_bits[g / 64] >> (g % 64)) & 1)
			return true;
		if (!h->pools_frozen)
			return false;
	}
	return ph_objtable_other(h, addr) != PH_NONE;
}

/* What ph_objtable_lookup does not settle inline: objects in mimalloc's
 * pages, and those outside pools. */
uint32_t ph_objtable_lookup_slow(const struct ph_heap *h, uint64_t addr);

/* The number of the object at addr, or PH_NONE (once the pools are
 * frozen; before, of the objects outside pools only). Never past the
 * table: a sealed index cache's pools and map are used unchecked
 * (heapcache.c). An object the pool scan found, most often, inline; the
 * rest in a call (the GC walks' steps: 10.5 -> 9.7 ms at 2M). */
static inline __attribute__((always_inline)) uint32_t
ph_objtable_lookup(const struct ph_heap *h, uint64_t addr)
{
	const struct ph_pool *p;
	uint64_t g, o;
	if (!h->mi_pages_sorted && ph_objtable_pool_found(h, addr, &p, &g))
		return (o = ph_objtable_pool_number(p, g)) < h->n ? (uint32_t)o
								  : PH_NONE;
	return ph_objtable_lookup_slow(h, addr);
}

/* Marks the object at obj, in a pool, found: a page scan's find, whose
 * entry it writes into the table itself. */
static inline void ph_objtable_mark(const struct ph_heap *h, uint64_t obj)
{
	struct ph_pool *p = (struct ph_pool *)ph_objtable_pool_at(h, obj);
	uint64_t g = ph_objtable_pool_granule(h, obj);
	p->obj_bits[g / 64] |= 1ULL << (g % 64);
}

/* Adds the object at addr (of type tidx, found as flag says), with its
 * size, unless it is there already (*ret_added, which may be NULL, tells
 * which). An address in a pool but not where pymalloc puts objects is
 * none. */
struct ph_error *ph_objtable_add(struct ph_heap *h, uint64_t addr,
				 uint32_t tidx, uint8_t flag, bool *ret_added);
/* Room for n more objects in the table, allocated once. */
struct ph_error *ph_objtable_reserve(struct ph_heap *h, size_t n);
/* Room for n more pools, allocated once. */
struct ph_error *ph_objtable_reserve_pools(struct ph_heap *h, size_t n);
/* Adds a pool, found by addr from then on. */
struct ph_error *ph_objtable_add_pool(struct ph_heap *h,
				      const struct ph_pool *pool);
/* Numbers the objects the pools' bitmaps mark, in address order, from
 * base: each pool's first number, and its bitmap words' ranks. */
void ph_objtable_freeze(struct ph_heap *h, uint32_t base);
/* Frees the table and the pools. */
void ph_objtable_free(struct ph_heap *h);

#endif /* PH_OBJTABLE_H */
