/*
 * discover_pymalloc.c - pymalloc, CPython's small-object allocator: its
 * pools (found by pymalloc's arena table, or by their headers), whether
 * its debug hooks wrap every block, and the objects in the pools'
 * allocated blocks, in address order, on every processor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"

/* Is there a pool header at p? Fills *pool if so. */
static bool pool_header(struct ph_heap *h, const uint8_t *p, uint64_t addr,
			struct ph_pool *pool, uint64_t *inconsistent)
{
	const struct ph_layout *L = h->L;
	uint32_t count, arenaindex, szidx, nextoffset, maxnextoffset;
	uint64_t freeblock, nextpool, prevpool;
	memcpy(&count, p, 4);
	memcpy(&freeblock, p + 8, 8);
	memcpy(&nextpool, p + 16, 8);
	memcpy(&prevpool, p + 24, 8);
	memcpy(&arenaindex, p + 32, 4);
	memcpy(&szidx, p + 36, 4);
	memcpy(&nextoffset, p + 40, 4);
	memcpy(&maxnextoffset, p + 44, 4);
	(void)arenaindex;
	if (szidx >= L->nsize_classes || !count || !nextpool || !prevpool)
		return false;
	uint32_t size = (szidx + 1) * 16;
	if (maxnextoffset != L->pool_size - size ||
	    nextoffset < L->pool_overhead || nextoffset > L->pool_size ||
	    (nextoffset - L->pool_overhead) % size)
		return false;
	uint32_t nblocks = (nextoffset - L->pool_overhead) / size;
	if (count > nblocks)
		return false;
	memset(pool, 0, sizeof(*pool));
	pool->addr = addr;
	pool->block_size = size;
	pool->nblocks = nblocks;
	/* The free list: blocks handed back, never objects. */
	uint64_t f = freeblock;
	uint32_t nfree = 0;
	while (f) {
		if (f < addr + L->pool_overhead || f >= addr + nextoffset ||
		    (f - addr - L->pool_overhead) % size || nfree > nblocks)
			return false;
		uint64_t b = (f - addr - L->pool_overhead) / size;
		if ((pool->free_bits[b / 64] >> (b % 64)) & 1)
			return false; /* a loop */
		pool->free_bits[b / 64] |= 1ULL << (b % 64);
		nfree++;
		const uint8_t *q = p + (f - addr);
		memcpy(&f, q, 8);
	}
	if (nblocks - nfree != count)
		(*inconsistent)++;
	return true;
}

/*
 * Finds pymalloc's pools by their headers: every POOL_SIZE-aligned address
 * of the core's writable memory whose header is self-consistent (size
 * class, offsets, a free list inside the pool).
 */
/*
 * Where a pool may be: its address and, from the arena table, the index of
 * its arena (UINT32_MAX: any). Their headers are read on every processor,
 * in chunks: the first touch of every pool's page is most of the cost.
 */
struct pool_cand {
	uint64_t addr;
	uint32_t arena;
};

struct pools_ctx {
	struct ph_heap *h;
	const struct pool_cand *cand;
	size_t lo, hi;
	struct ph_pool *pools; /* candidate i's pool, if any, at pools[i] */
	uint8_t *found;	       /* ... and found[i] set */
	uint64_t inconsistent;
};

static void *pools_worker(void *arg)
{
	struct pools_ctx *c = arg;
	struct ph_heap *h = c->h;
	for (size_t i = c->lo; i < c->hi; i++) {
		uint64_t p = c->cand[i].addr;
		const uint8_t *hdr = ph_mem_ptr(h->mem, p, h->L->pool_size);
		uint32_t arenaindex;
		if (!hdr)
			continue; /* not saved: counted as missing */
		memcpy(&arenaindex, hdr + 32, 4);
		if (!pool_header(h, hdr, p, &c->pools[i], &c->inconsistent) ||
		    (c->cand[i].arena != UINT32_MAX &&
		     arenaindex != c->cand[i].arena))
			continue; /* empty (free) pool */
		c->found[i] = 1;
	}
	return NULL;
}

/* The pools among the candidates, in their order. Each is read where it
 * goes, in the table of pools grown once for every candidate, and the
 * table closed up after (a copy per pool, and arrays grown by doubling,
 * were a page fault per 13 pools: docs/performance.md). */
static struct ph_error *pools_check(struct ph_heap *h,
				    const struct pool_cand *cand, size_t n)
{
	struct ph_error *err = ph_objtable_reserve_pools(h, n);
	uint8_t *found = calloc(n + 1, 1);
	if (err || !found) {
		free(found);
		return err ? err : ph_error_nomem();
	}
	size_t base = h->npools;
	/* in chunks, taken by the threads in turn: none waits for a thread
	 * slowed by a busy processor (halves did: docs/performance.md) */
	enum { T = 16 };
	struct pools_ctx c[T];
	for (int k = 0; k < T; k++)
		c[k] = (struct pools_ctx){.h = h,
					  .cand = cand,
					  .lo = n * (size_t)k / T,
					  .hi = n * (size_t)(k + 1) / T,
					  .pools = h->pools + base,
					  .found = found};
	ph_run_chunks(pools_worker, c, sizeof(c[0]), T, n > 64);
	for (int k = 0; k < T; k++)
		h->pools_inconsistent += c[k].inconsistent;
	for (size_t i = 0; i < n && !err; i++) {
		if (!found[i])
			continue;
		if (base + i != h->npools)
			h->pools[h->npools] = h->pools[base + i];
		err = ph_objtable_index_pool(h, h->pools[h->npools].addr,
					     (uint32_t)h->npools);
		h->npools++;
	}
	free(found);
	return err;
}

/*
 * pymalloc's own arena table (3.8-3.11: the static `arenas`, in the debug
 * information): every pool ever carved from a live arena, exactly.
 * Returns false when the table is not there or does not look right.
 */
static bool find_pools_from_arenas(struct ph_heap *h, struct ph_error **ret_err)
{
	const struct ph_layout *L = h->L;
	uint64_t arenas = 0;
	uint32_t maxarenas = 0;
	*ret_err = NULL;
	if (!h->rt->arenas_sym ||
	    !ph_mem_u64(h->mem, h->rt->arenas_sym, &arenas) ||
	    !ph_mem_u32(h->mem, h->rt->maxarenas_sym, &maxarenas) || !arenas ||
	    maxarenas > (1U << 24))
		return false;
	const uint8_t *tab = ph_mem_ptr(h->mem, arenas, (size_t)maxarenas * 48);
	if (!tab)
		return false;
	struct pool_cand *cand = NULL;
	size_t n = 0, cap = 0;
	for (uint32_t i = 0; i < maxarenas; i++) {
		uint64_t address, pool_address;
		memcpy(&address, tab + (size_t)i * 48, 8);
		memcpy(&pool_address, tab + (size_t)i * 48 + 8, 8);
		if (!address)
			continue; /* an unused arena_object */
		uint64_t p = (address + L->pool_size - 1) &
			     ~((uint64_t)L->pool_size - 1);
		if (pool_address < p || pool_address - p > L->arena_size) {
			free(cand);
			return false;
		}
		for (; p < pool_address; p += L->pool_size) {
			if ((*ret_err = ph_grow((void **)&cand, &cap, n + 1,
						sizeof(*cand)))) {
				free(cand);
				return true;
			}
			cand[n++] = (struct pool_cand){p, i};
		}
	}
	*ret_err = pools_check(h, cand, n);
	free(cand);
	h->arena_source = "pymalloc's arena table (debug symbols)";
	return true;
}

static struct ph_error *find_pools(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	struct ph_error *err;
	if (find_pools_from_arenas(h, &err))
		return err;
	struct pool_cand *cand = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < h->mem->nsegs; i++) {
		const struct ph_segment *s = &h->mem->segs[i];
		if (!s->data || !s->writable || s->from_file)
			continue;
		uint64_t a = (s->start + L->pool_size - 1) &
			     ~((uint64_t)L->pool_size - 1);
		for (; a + L->pool_size <= s->end; a += L->pool_size) {
			if ((err = ph_grow((void **)&cand, &cap, n + 1,
					   sizeof(*cand)))) {
				free(cand);
				return err;
			}
			cand[n++] = (struct pool_cand){a, UINT32_MAX};
		}
	}
	err = pools_check(h, cand, n);
	free(cand);
	h->arena_source = "pool headers found by scanning writable memory";
	return err;
}

/*
 * Are pymalloc's debug hooks on? Then every allocated block starts with
 * the size asked for (big-endian; at most the block less the 24 bytes the
 * hooks add, more than the next size class down would hold), an API id
 * ('o', 'm' or 'r') and 7 guard bytes 0xfd. Decided on a sample of blocks:
 * the build says what is likely (Py_DEBUG), PYTHONMALLOC what is true.
 */
static void detect_debug_hooks(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	uint32_t seen = 0, hooked = 0;
	for (size_t i = 0; i < h->npools && seen < 4096; i++) {
		const struct ph_pool *pool = &h->pools[i];
		for (uint32_t b = 0; b < pool->nblocks && seen < 4096; b++) {
			if ((pool->free_bits[b / 64] >> (b % 64)) & 1)
				continue;
			const uint8_t *p = ph_mem_ptr(
				h->mem,
				pool->addr + L->pool_overhead +
					(uint64_t)b * pool->block_size,
				16);
			if (!p)
				continue;
			seen++;
			uint64_t size = 0; /* stored big-endian */
			for (int k = 0; k < 8; k++)
				size = size << 8 | p[k];
			static const uint8_t guard[7] = {0xfd, 0xfd, 0xfd, 0xfd,
							 0xfd, 0xfd, 0xfd};
			if ((p[8] == 'o' || p[8] == 'm' || p[8] == 'r') &&
			    !memcmp(p + 9, guard, 7) &&
			    size + 24 <= pool->block_size &&
			    size + 24 + 16 > pool->block_size)
				hooked++;
		}
	}
	if (seen && hooked >= seen - seen / 10) {
		h->block_head = 16;
		h->block_extra = 24;
	}
}

/*
 * The pool scan: every allocated block whose first words make an object
 * (at the block's start, or after a GC head and a managed dict's words).
 * The threads take chunks of the pools in turn and only read; what needs the
 * type table to grow (a class not seen yet, a type object) is left for
 * later: the new types are registered between two passes, and what is
 * still left is done alone, in order, so that objects are numbered by
 * address exactly as a single pass would.
 */
static const uint32_t scan_offsets[] = {0, 16, 32};

enum scan_result { SCAN_NONE, SCAN_FOUND, SCAN_LATER };

/* Could tp be a type object py-heap has not registered? A cheap look at
 * its header: a count for a refcount, an aligned pointer for a type. */
static bool type_maybe(struct ph_heap *h, uint64_t tp)
{
	if (!tp || (tp & 7))
		return false;
	/* Most words looked at here are pointers to objects in pymalloc's
	 * pools (list items, dict entries), and no type is ever in a pool:
	 * a type object is larger than pymalloc's largest block. Rejected
	 * without reading tp, which would be a cache miss. */
	if (ph_objtable_pool_at(h, tp) || ph_u64map_get(&h->scan_rejected, tp))
		return false;
	return ph_type_looks_like(h, tp);
}

/* The type registered at tp, or NULL; then *ret_maybe: could tp be one
 * not registered yet (type_maybe)? */
static inline const uint32_t *type_lookup(struct ph_heap *h,
					  struct ph_type_cache *tc, uint64_t tp,
					  bool *ret_maybe)
{
	size_t slot = ph_type_cache_slot(tp);
	if (tp && tc->addr[slot] == tp)
		return &tc->tidx[slot];
	/* a block that holds no object: its second word is often a pointer
	 * into a pool (list items), where no type ever is */
	*ret_maybe = false;
	if (!tp || (tp & 7) || ph_objtable_pool_at(h, tp))
		return NULL;
	const uint32_t *v = ph_type_cache_get(h, tc, tp);
	if (!v)
		/* type_maybe's other checks */
		*ret_maybe = !ph_u64map_get(&h->scan_rejected, tp) &&
			     ph_type_looks_like(h, tp);
	return v;
}

/* What the scan of a pool's blocks works out once for them all. */
struct scan_pool {
	const struct ph_pool *pool;
	const uint8_t *pdata; /* the pool's bytes (pool_size), or NULL */
	uint64_t pdata_last;  /* the last object whose header is in them */
	size_t noffsets;      /* the scan_offsets a block has room for */
	bool plain;	      /* no mimalloc pages, not free-threaded */
};

static inline void scan_pool_init(const struct ph_heap *h,
				  const struct ph_pool *pool,
				  const uint8_t *pdata, struct scan_pool *ret)
{
	ret->pool = pool;
	ret->pdata = pdata;
	ret->pdata_last = pdata ? pool->addr + h->L->pool_size - 24 : 0;
	ret->plain = !h->mi_pages_sorted && !h->L->free_threaded;
	ret->noffsets = 0;
	while (ret->noffsets < PH_ARRAY_SIZE(scan_offsets) &&
	       scan_offsets[ret->noffsets] + 16 + h->block_extra <=
		       pool->block_size)
		ret->noffsets++;
}

/* A GC link into a pool, with room for a GC head before the pool's end:
 * readable, as every pool found is present whole. */
static inline bool link_in_pool(const struct ph_heap *h, uint64_t link)
{
	return link && !(link & 7) &&
	       (link & ((1ULL << h->pool_shift) - 1)) <= h->L->pool_size - 16 &&
	       ph_objtable_pool_at(h, link);
}

/*
 * ph_discover_validate_rest in a block of sp's pool, where the scan found
 * addr at t's pre-header size (ob_size: its word after the type); on
 * success *ret_size is its sys.getsizeof(). Inlined here, the scan's
 * commonest path (a type not static, the pool's bytes at hand); reads
 * only.
 */
static inline __attribute__((always_inline)) bool
block_object(struct ph_heap *h, const struct scan_pool *sp, uint64_t addr,
	     const struct ph_type *t, bool in_pdata, int64_t ob_size,
	     uint64_t *ret_size)
{
	const struct ph_pool *pool = sp->pool;
	if (t->may_be_static || !sp->plain) {
		if (!ph_discover_validate_rest(h, addr, t, true, pool))
			return false;
		*ret_size = ph_obj_sizeof(h, addr, t);
		return true;
	}
	/* ph_discover_validate_rest's checks, the pre-header the type's
	 * (not static) and the pool the block's, and the size with them */
	uint64_t inline_size, size;
	if (!ph_obj_scan_sizes(h, addr, t, ob_size, &inline_size, &size))
		return false;
	uint64_t need = t->presize + inline_size + h->block_extra;
	if (need > pool->block_size ||
	    (t->fills_class && ((need + 15) & ~15ULL) != pool->block_size))
		return false;
	if (t->flags & PH_TPFLAGS_HAVE_GC) {
		/* the GC head, before addr in its block (presize >= 16) */
		uint64_t next, prev;
		if (in_pdata) {
			memcpy(&next, sp->pdata + (addr - 16 - pool->addr), 8);
			memcpy(&prev, sp->pdata + (addr - 8 - pool->addr), 8);
		} else if (!ph_mem_u64(h->mem, addr - 16, &next) ||
			   !ph_mem_u64(h->mem, addr - 8, &prev))
			return false;
		/* (links into pools, which are all there, are most often;
		 * ph_discover_gc_links_plausible otherwise) */
		if (!(link_in_pool(h, next & ~3ULL) &&
		      link_in_pool(h, prev & ~3ULL)) &&
		    (next || (prev & ~3ULL)) &&
		    !ph_discover_gc_links_plausible(h, next, prev))
			return false;
	}
	*ret_size = size + t->presize;
	return true;
}

/* The scan of one block by a thread: reads only. *ret_newtype is a type
 * to register when the block is left for later because of it. */
static inline __attribute__((always_inline)) enum scan_result
scan_block(struct ph_heap *h, struct ph_type_cache *tc,
	   const struct scan_pool *sp, uint64_t block, uint64_t *ret_obj,
	   uint32_t *ret_tidx, uint64_t *ret_size, uint64_t *ret_newtype)
{
	const struct ph_pool *pool = sp->pool;
	const uint8_t *pdata = sp->pdata;
	uint32_t block_size = pool->block_size;
	for (size_t k = 0; k < sp->noffsets; k++) {
		uint64_t obj = block + scan_offsets[k];
		const uint64_t *hdr;
		bool in_pdata = obj <= sp->pdata_last;
		if (in_pdata)
			hdr = (const uint64_t *)(pdata + (obj - pool->addr));
		else if (!(hdr = ph_mem_ptr(h->mem, obj, 24)))
			continue;
		bool maybe;
		const uint32_t *tv = type_lookup(h, tc, hdr[1], &maybe);
		if (!tv) {
			if (!maybe)
				continue;
			*ret_newtype = hdr[1];
			return SCAN_LATER;
		}
		const struct ph_type *t = &h->types[*tv];
		if (t->presize != scan_offsets[k])
			continue;
		if (ph_type_is_meta(t) && !ph_u64map_get(&h->type_index, obj)) {
			if (ph_u64map_get(&h->scan_rejected, obj))
				continue; /* not a type after all */
			/* a type object: registered between the passes */
			*ret_newtype = obj;
			return SCAN_LATER;
		}
		if (!ph_refcnt_ok(h->L, hdr, true) ||
		    ph_refcnt_is_pointer(h, hdr[0]))
			continue;
		if (t->fixed_need) {
			/* all ph_discover_validate_rest would check of such an
			 * object in an allocated block, where the scan found it
			 */
			uint64_t need = t->fixed_need + h->block_extra;
			if (((need + 15) & ~15ULL) != block_size)
				continue;
			*ret_size = t->fixed_need;
		} else if (!block_object(h, sp, obj, t, in_pdata,
					 (int64_t)hdr[2], ret_size))
			continue;
		*ret_obj = obj;
		*ret_tidx = *tv;
		return SCAN_FOUND;
	}
	return SCAN_NONE;
}

/* A run of n entries from i, all objects found (scan_join's). */
struct scan_run {
	size_t i, n;
};

/* A thread's findings, in address order: an object, its type and size, or
 * a block left for later (its address | 1). They are written straight into
 * the object table, each thread from where its pools' blocks would start if
 * every block were an object: no copy when the threads are joined, just one
 * move to close the gap between them. */
struct scan_ctx {
	struct ph_heap *h;
	size_t lo, hi; /* pools [lo, hi) */
	bool second;   /* the second pass: only the blocks left */
	size_t start;  /* where its findings go in the table */
	uint64_t *addr;
	uint32_t *tidx;
	uint32_t *size;
	size_t n, cap;
	size_t nlater; /* entries left to be done alone */
	size_t *later; /* their places, the second pass's work */
	size_t later_cap;
	struct ph_newtypes nt;
	struct ph_type_cache tc;
	struct ph_error *err;
	struct scan_run *runs; /* the join's: runs of objects found */
	size_t nruns, runs_cap;
};

/* One entry per allocated block at most: there is room. */
static inline void scan_push(struct scan_ctx *c, uint64_t addr, uint32_t tidx,
			     uint64_t size)
{
	c->addr[c->n] = addr;
	c->tidx[c->n] = tidx;
	c->size[c->n] = ph_size_entry(size);
	c->n++;
}

/* A block left for later found to hold obj: it takes the block's entry
 * i, in its place. */
static inline void scan_found_at(struct ph_heap *h, struct scan_ctx *c,
				 size_t i, uint64_t obj, uint32_t tidx,
				 uint64_t size)
{
	ph_objtable_mark(h, obj);
	c->addr[i] = obj;
	c->tidx[i] = tidx;
	c->size[i] = ph_size_entry(size);
}

/*
 * The first pass over one pool's allocated blocks, taken from its free
 * list's bitmap a word at a time. The table's arrays, its count and the
 * pool's bitmap are kept in locals: a store into the table may alias
 * anything, so the compiler would read fields again after each.
 */
static void scan_pool_blocks(struct scan_ctx *c, struct ph_pool *pool)
{
	struct ph_heap *h = c->h;
	const struct ph_layout *L = h->L;
	uint64_t *out_addr = c->addr;
	uint32_t *out_tidx = c->tidx, *out_size = c->size;
	size_t n = c->n;
	/* the whole pool is there: its header was read so */
	struct scan_pool sp;
	scan_pool_init(h, pool, ph_mem_ptr(h->mem, pool->addr, L->pool_size),
		       &sp);
	const uint64_t pool_addr = pool->addr, bsize = pool->block_size;
	/* the data: past the debug hooks' header, if any */
	const uint64_t base = pool_addr + L->pool_overhead + h->block_head;
	const uint32_t nblocks = pool->nblocks;
	uint64_t found[PH_ARRAY_SIZE(pool->obj_bits)] = {0};
	for (uint32_t w = 0; w * 64 < nblocks && !c->err; w++) {
		uint64_t live = ~pool->free_bits[w];
		if (nblocks - w * 64 < 64)
			live &= (1ULL << (nblocks - w * 64)) - 1;
		for (; live && !c->err; live &= live - 1) {
			uint64_t block =
				base +
				(w * 64 + (uint64_t)__builtin_ctzll(live)) *
					bsize;
			uint64_t obj, newtype, size;
			uint32_t tidx;
			switch (scan_block(h, &c->tc, &sp, block, &obj, &tidx,
					   &size, &newtype)) {
			case SCAN_FOUND: {
				uint64_t g = (obj - pool_addr) / 16;
				found[g / 64] |= 1ULL << (g % 64);
				/* its size found with its checks */
				out_addr[n] = obj;
				out_tidx[n] = tidx;
				out_size[n] = ph_size_entry(size);
				n++;
				break;
			}
			case SCAN_LATER:
				c->n = n;
				if ((c->err = ph_grow(
					     (void **)&c->later, &c->later_cap,
					     c->nlater + 1, sizeof(*c->later))))
					break;
				c->later[c->nlater++] = c->n;
				scan_push(c, block | 1, 0, 0);
				n = c->n;
				c->err = ph_newtypes_add(&c->nt, newtype);
				break;
			case SCAN_NONE:
				break;
			}
		}
	}
	for (size_t w = 0; w < PH_ARRAY_SIZE(found); w++)
		pool->obj_bits[w] |= found[w];
	c->n = n;
}

static void *scan_worker(void *arg)
{
	struct scan_ctx *c = arg;
	struct ph_heap *h = c->h;
	uint64_t obj, newtype, size;
	uint32_t tidx;
	if (c->second) {
		/* the blocks left, again, in their places: what is found
		 * takes its entry, what is left stays, and the rest is
		 * marked dropped (bits 0 and 1: blocks are 16-aligned) */
		size_t m = 0;
		for (size_t j = 0; j < c->nlater; j++) {
			size_t i = c->later[j];
			uint64_t block = c->addr[i] & ~1ULL;
			struct scan_pool sp;
			scan_pool_init(h, ph_objtable_pool_at(h, block), NULL,
				       &sp);
			switch (scan_block(h, &c->tc, &sp, block, &obj, &tidx,
					   &size, &newtype)) {
			case SCAN_FOUND:
				scan_found_at(h, c, i, obj, tidx, size);
				break;
			case SCAN_LATER: /* alone, in order */
				c->later[m++] = i;
				break;
			case SCAN_NONE:
				c->addr[i] = block | 3;
				break;
			}
		}
		c->nlater = m;
		return NULL;
	}
	for (size_t i = c->lo; i < c->hi && !c->err; i++) {
		if (!(i & 1023) && ph_interrupted())
			return NULL;
		scan_pool_blocks(c, &h->pools[i]);
	}
	return NULL;
}

static void scan_run(struct scan_ctx *c, size_t nc, bool threads)
{
	ph_run_chunks(scan_worker, c, sizeof(*c), nc, threads);
}

/*
 * Before the scan: the types of the first blocks of every pool,
 * registered. Classes' instances are spread over many pools, so this finds
 * nearly every class the scan's threads would otherwise leave for a second
 * pass. The words are read on every processor, in chunks of pools (a
 * cache miss per pool, prefetched ahead); what may be a type not
 * registered yet (type_maybe: the memory only, nothing registration
 * changes) is kept, in pool order, each run of one word once; then those
 * are registered alone, chunk after chunk: the types and their order those
 * of one pass over the pools.
 */
struct sample_ctx {
	struct ph_heap *h;
	size_t lo, hi; /* pools */
	uint64_t *tp;  /* what may be types, in pool order */
	size_t n, cap;
	struct ph_error *err;
};

static void *sample_worker(void *arg)
{
	struct sample_ctx *c = arg;
	struct ph_heap *h = c->h;
	const struct ph_layout *L = h->L;
	enum { AHEAD = 16 };
	uint64_t last = 0;
	for (size_t i = c->lo; i < c->hi && !c->err; i++) {
		const struct ph_pool *pool = &h->pools[i];
		if (i + AHEAD < c->hi) {
			const struct ph_pool *q = &h->pools[i + AHEAD];
			const char *p =
				ph_mem_ptr(h->mem, q->addr, L->pool_size);
			if (p) {
				p += L->pool_overhead + h->block_head + 8;
				__builtin_prefetch(p);
				__builtin_prefetch(p + q->block_size);
			}
		}
		for (uint32_t b = 0, seen = 0; b < pool->nblocks && seen < 2;
		     b++) {
			if ((pool->free_bits[b / 64] >> (b % 64)) & 1)
				continue;
			seen++;
			uint64_t block = pool->addr + L->pool_overhead +
					 (uint64_t)b * pool->block_size +
					 h->block_head;
			for (size_t k = 0; k < PH_ARRAY_SIZE(scan_offsets);
			     k++) {
				uint64_t tp = 0;
				ph_mem_u64(h->mem, block + scan_offsets[k] + 8,
					   &tp);
				if (scan_offsets[k] + 16 + h->block_extra >
				    pool->block_size)
					break;
				if (tp == last ||
				    ph_u64map_get(&h->type_index, tp) ||
				    !type_maybe(h, tp))
					continue;
				if ((c->err =
					     ph_grow((void **)&c->tp, &c->cap,
						     c->n + 1, sizeof(*c->tp))))
					break;
				c->tp[c->n++] = last = tp;
			}
		}
	}
	return NULL;
}

static struct ph_error *scan_sample_types(struct ph_heap *h)
{
	enum { T = 16 };
	struct sample_ctx c[T];
	for (int k = 0; k < T; k++)
		c[k] = (struct sample_ctx){.h = h,
					   .lo = h->npools * (size_t)k / T,
					   .hi = h->npools * (size_t)(k + 1) /
						 T};
	ph_run_chunks(sample_worker, c, sizeof(c[0]), T, h->npools > 64);
	struct ph_error *err = NULL;
	for (int k = 0; k < T; k++) {
		if (!err)
			err = c[k].err;
		else
			ph_error_destroy(c[k].err);
		for (size_t j = 0; j < c[k].n && !err; j++)
			if (!ph_u64map_get(&h->type_index, c[k].tp[j]))
				ph_type_register(h, c[k].tp[j]);
		free(c[k].tp);
	}
	return err;
}

/* A block the threads left twice (entry i of c), done alone: what its
 * scan waits for is registered (or rejected) first, a few times at most
 * (one for each place an object may start in it); the entry then holds
 * the object found, or the block dropped. */
static struct ph_error *scan_entry_alone(struct ph_heap *h, struct scan_ctx *c,
					 size_t i)
{
	uint64_t block = c->addr[i] & ~3ULL;
	struct scan_pool sp;
	scan_pool_init(h, ph_objtable_pool_at(h, block), NULL, &sp);
	c->addr[i] = block | 3;
	for (size_t tries = 0; tries <= PH_ARRAY_SIZE(scan_offsets); tries++) {
		uint64_t obj, size, newtype = 0;
		uint32_t tidx;
		struct ph_error *err;
		switch (scan_block(h, &c->tc, &sp, block, &obj, &tidx, &size,
				   &newtype)) {
		case SCAN_NONE:
			return NULL;
		case SCAN_FOUND:
			/* (its size as ph_objtable_add gave it) */
			scan_found_at(h, c, i, obj, tidx,
				      ph_obj_sizeof(h, obj, &h->types[tidx]));
			return NULL;
		case SCAN_LATER:
			if ((err = ph_scan_register(h, newtype)))
				return err;
			break;
		}
	}
	return NULL;
}

/*
 * The join: the runs of objects found among each chunk's entries, worked
 * out by the chunks before anything moves, then moved down in chunk order
 * (the table is written below where it is read), the addresses on one
 * thread and the types, sizes and flags on the other.
 */
static void *runs_worker(void *arg)
{
	struct scan_ctx *c = arg;
	for (size_t i = 0; i < c->n && !c->err;) {
		size_t j = i;
		while (j < c->n && !(c->addr[j] & 1))
			j++;
		if (j > i &&
		    !(c->err = ph_grow((void **)&c->runs, &c->runs_cap,
				       c->nruns + 1, sizeof(*c->runs))))
			c->runs[c->nruns++] = (struct scan_run){i, j - i};
		i = j + 1; /* past a block dropped */
	}
	return NULL;
}

struct join_ctx {
	struct ph_heap *h;
	const struct scan_ctx *c;
	size_t nc;
	bool types; /* the types, sizes and flags; else the addresses */
};

static void *join_worker(void *arg)
{
	const struct join_ctx *j = arg;
	struct ph_heap *h = j->h;
	size_t dst = h->n;
	for (size_t k = 0; k < j->nc; k++) {
		const struct scan_ctx *c = &j->c[k];
		for (size_t r = 0; r < c->nruns; r++) {
			size_t i = c->runs[r].i, n = c->runs[r].n;
			if (!j->types) {
				memmove(h->addr + dst, c->addr + i,
					n * sizeof(*h->addr));
			} else {
				memmove(h->tidx + dst, c->tidx + i,
					n * sizeof(*h->tidx));
				memmove(h->size + dst, c->size + i,
					n * sizeof(*h->size));
				memset(h->flags + dst, PH_OBJ_POOL_SCAN, n);
			}
			dst += n;
		}
	}
	return NULL;
}

/* The chunks' findings joined into the table, in address order. */
static struct ph_error *scan_join(struct ph_heap *h, struct scan_ctx *c,
				  size_t nc, bool threads)
{
	struct ph_error *err;
	/* what is left, alone and in order, as a single pass would */
	for (size_t k = 0; k < nc; k++)
		for (size_t j = 0; j < c[k].nlater; j++)
			if ((err = scan_entry_alone(h, &c[k], c[k].later[j])))
				return err;
	ph_run_chunks(runs_worker, c, sizeof(*c), nc, threads);
	for (size_t k = 0; k < nc; k++)
		if (c[k].err) {
			err = c[k].err;
			c[k].err = NULL;
			return err;
		}
	struct join_ctx j[2] = {{h, c, nc, false}, {h, c, nc, true}};
	ph_run_parallel(join_worker, j, sizeof(j[0]), 2, threads);
	for (size_t k = 0; k < nc; k++)
		for (size_t r = 0; r < c[k].nruns; r++) {
			h->n += c[k].runs[r].n;
			h->n_pool += c[k].runs[r].n;
		}
	return NULL;
}

static struct ph_error *scan_pools(struct ph_heap *h)
{
	/* in chunks, as pools_check's */
	enum { T = 16 };
	struct scan_ctx *c = calloc(T, sizeof(*c));
	if (!c)
		return ph_error_nomem();
	struct ph_error *err = NULL;
	bool threads = h->npools > 16;
	size_t start = h->n;
	for (int k = 0; k < T; k++) {
		c[k] = (struct scan_ctx){.h = h,
					 .lo = h->npools * (size_t)k / T,
					 .hi = h->npools * (size_t)(k + 1) / T,
					 .start = start};
		for (size_t i = c[k].lo; i < c[k].hi; i++)
			c[k].cap += h->pools[i].nblocks;
		start += c[k].cap;
	}
	if ((err = ph_objtable_reserve(h, start - h->n))) {
		free(c);
		return err;
	}
	for (int k = 0; k < T; k++) {
		c[k].addr = h->addr + c[k].start;
		c[k].tidx = h->tidx + c[k].start;
		c[k].size = h->size + c[k].start;
	}
	if ((err = scan_sample_types(h)))
		goto out;
	scan_run(c, T, threads);
	if (ph_interrupted()) {
		err = ph_error_interrupted();
		goto out;
	}
	/* The classes the threads met: registered here, alone. */
	size_t nnew = 0;
	for (int k = 0; k < T; k++) {
		if ((err = c[k].err))
			goto out;
		if ((err = ph_newtypes_register(h, &c[k].nt)))
			goto out;
		nnew += c[k].nt.n;
	}
	if (nnew) {
		for (int k = 0; k < T; k++)
			c[k].second = true;
		scan_run(c, T, threads);
	}

	err = scan_join(h, c, T, threads);
out:
	for (int k = 0; k < T; k++) {
		free(c[k].nt.v);
		free(c[k].later);
		free(c[k].runs);
		if (c[k].err && c[k].err != err)
			ph_error_destroy(c[k].err);
	}
	free(c);
	return err;
}

struct ph_error *ph_pymalloc_find_pools(struct ph_heap *h)
{
	struct ph_error *err = find_pools(h);
	if (!err)
		detect_debug_hooks(h);
	return err;
}

struct ph_error *ph_pymalloc_scan(struct ph_heap *h)
{
	return scan_pools(h);
}
