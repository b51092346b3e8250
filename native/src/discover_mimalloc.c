/*
 * discover_mimalloc.c - the objects of a free-threaded build (3.13t):
 * every object is a block of mimalloc's, in a page of one of the heaps
 * each thread state owns (1: objects without GC, 2: GC objects, 3: GC
 * objects with a pre-header), or in a segment a thread left behind when
 * it ended (the interpreter's abandoned pool; a finished subinterpreter's
 * objects are all there). There are no GC lists: a tracked object says so
 * in ob_gc_bits. A block is allocated unless it is on its page's free,
 * local_free or thread_free list or its heap's thread_delayed_free list,
 * as mimalloc's own heap visitor (Objects/mimalloc/heap.c) decides after
 * collecting those lists; here they are read, never changed.
 */
#include <stdlib.h>
#include <string.h>

#include "discover.h"

/* mimalloc's structures as CPython 3.13 builds them, from the DWARF of
 * fixtures/provision.sh trixie-ft's python3.13t and python3.13td (Py_DEBUG
 * builds set MI_DEBUG 2: encoded free lists, keys in pages and heaps,
 * padding at each block's end). */
struct mi_layout {
	uint32_t is_abandoned_pool; /* PyInterpreterState.mimalloc */
	uint32_t ts_heaps;	    /* _PyThreadStateImpl.mimalloc.heaps */
	uint32_t ts_initialized;    /* ... .mimalloc.initialized */
	uint32_t heap_size, heap_pages, heap_delayed, heap_keys;
	uint32_t page_capacity, page_free, page_used, page_bsize;
	uint32_t page_local, page_keys, page_tfree, page_next;
	uint32_t slice_size; /* sizeof(mi_slice_t) = sizeof(mi_page_t) */
	uint32_t seg_abandoned_next, seg_entries, seg_slices;
	uint32_t pool_abandoned, pool_visited;
	bool encoded;	     /* MI_ENCODE_FREELIST */
	uint32_t block_head; /* the PYMEM debug hooks' words before it */
};

static const struct mi_layout mi_313t = {
	10816, 352, 14216, 3064, 1040, 2840, 2872, 10, 16, 24,	  28, 32,
	0,     40,  56,	   96,	 176,  248,  264,  64, 0,  false, 0,
};
static const struct mi_layout mi_313td = {
	10880, 352, 16616, 3072, 1048, 2848, 2880, 10, 16, 24,	 28, 32,
	40,    56,  72,	   112,	 176,  248,  264,  64, 0,  true, 16,
};

#define MI_SEGMENT_SIZE (1ULL << 25)
#define MI_SLICE_SIZE (1ULL << 16)
#define MI_BIN_FULL 74
#define MI_HUGE_BLOCK_SIZE 0x80000000u

/* ob_gc_bits */
#define GC_TRACKED 1
#define GC_UNREACHABLE 4 /* set only during a collection */
#define GC_FROZEN 8

struct mi_walk {
	struct ph_heap *h;
	const struct mi_layout *M;
	struct ph_u64map pages; /* visited once each */
	uint64_t *bits;		/* a page's free blocks */
	size_t bits_cap;
	struct ph_error *err;
	uint64_t npages, nsegments;
	uint8_t interp; /* whose heaps are walked (rt->interps' index) */
};

static uint64_t rotr64(uint64_t x, unsigned r)
{
	r &= 63;
	return r ? (x >> r) | (x << (64 - r)) : x;
}

/* A free list's next link (mi_ptr_decode: with MI_ENCODE_FREELIST, the
 * word is rotated and xor-ed with the page's or heap's keys; the owner's
 * own address is the end). */
static uint64_t next_free(const struct mi_walk *w, uint64_t b, uint64_t owner,
			  const uint64_t keys[2])
{
	uint64_t x;
	if (!ph_mem_u64(w->h->mem, b, &x))
		return 0;
	if (!w->M->encoded)
		return x;
	uint64_t p = rotr64(x - keys[0], (unsigned)keys[0]) ^ keys[1];
	return p == owner ? 0 : p;
}

/* Marks the blocks of a free list in w->bits; false when the list leaves
 * the page or is longer than it (damage, or a process stopped mid-free). */
static bool mark_list(struct mi_walk *w, uint64_t head, uint64_t owner,
		      const uint64_t keys[2], uint64_t start, uint64_t bsize,
		      uint32_t cap)
{
	uint64_t b = head;
	for (uint32_t n = 0; b; n++) {
		if (n > cap || b < start || (b - start) % bsize ||
		    (b - start) / bsize >= cap)
			return false;
		uint64_t i = (b - start) / bsize;
		w->bits[i / 64] |= 1ULL << (i % 64);
		b = next_free(w, b, owner, keys);
	}
	return true;
}

/* The blocks of a heap's delayed-free list in this page. */
static void mark_delayed(struct mi_walk *w, uint64_t heap, uint64_t start,
			 uint64_t bsize, uint32_t cap)
{
	const struct mi_layout *M = w->M;
	uint64_t keys[2] = {0, 0}, b = 0;
	if (!heap || !ph_mem_u64(w->h->mem, heap + M->heap_delayed, &b))
		return;
	if (M->encoded &&
	    (!ph_mem_u64(w->h->mem, heap + M->heap_keys, &keys[0]) ||
	     !ph_mem_u64(w->h->mem, heap + M->heap_keys + 8, &keys[1])))
		return;
	b &= ~3ULL;
	for (uint32_t n = 0; b && n < (1u << 20); n++) {
		if (b >= start && b < start + bsize * cap &&
		    !((b - start) % bsize)) {
			uint64_t i = (b - start) / bsize;
			w->bits[i / 64] |= 1ULL << (i % 64);
		}
		b = next_free(w, b, heap, keys);
	}
}

/* Reads a page once: its blocks, and which are free (its lists, and its
 * heap's delayed ones), kept in h->mi_pages. tag: the heap's (1-3). */
static void page_read(struct mi_walk *w, uint64_t page, unsigned tag,
		      uint64_t heap)
{
	struct ph_heap *h = w->h;
	const struct mi_layout *M = w->M;
	bool seen;
	if (w->err || !page || (page & 7) ||
	    (w->err = ph_u64map_put(&w->pages, page, 1, &seen)) || seen)
		return;
	w->npages++;
	uint16_t cap = 0;
	uint32_t bsize = 0, slice_count = 0;
	uint64_t free_ = 0, local = 0, tfree = 0, keys[2] = {0, 0};
	if (!ph_mem_u16(h->mem, page + M->page_capacity, &cap) ||
	    !ph_mem_u32(h->mem, page + M->page_bsize, &bsize) ||
	    !ph_mem_u32(h->mem, page, &slice_count) ||
	    !ph_mem_u64(h->mem, page + M->page_free, &free_) ||
	    !ph_mem_u64(h->mem, page + M->page_local, &local) ||
	    !ph_mem_u64(h->mem, page + M->page_tfree, &tfree) ||
	    (M->encoded &&
	     (!ph_mem_u64(h->mem, page + M->page_keys, &keys[0]) ||
	      !ph_mem_u64(h->mem, page + M->page_keys + 8, &keys[1])))) {
		h->pools_inconsistent++;
		return;
	}
	if (!cap || !bsize)
		return;
	uint64_t seg = page & ~(MI_SEGMENT_SIZE - 1);
	uint64_t first = seg + M->seg_slices;
	if (page < first || (page - first) % M->slice_size) {
		h->pools_inconsistent++;
		return;
	}
	uint64_t idx = (page - first) / M->slice_size;
	uint64_t bs = bsize;
	if (bsize >= MI_HUGE_BLOCK_SIZE) /* a huge page: one block */
		bs = (uint64_t)slice_count * MI_SLICE_SIZE;
	/* _mi_segment_page_start_from_slice: small blocks start a few
	 * blocks in */
	uint64_t start_off = 0;
	if (bs >= 8 && bs <= 64)
		start_off = 3 * bs;
	else if (bs >= 8 && bs <= 512)
		start_off = bs;
	uint64_t start = seg + idx * MI_SLICE_SIZE + start_off;
	if (idx >= 512 || !bs || (uint64_t)cap * bs > MI_SEGMENT_SIZE) {
		h->pools_inconsistent++;
		return;
	}
	size_t words = ((size_t)cap + 63) / 64;
	if ((w->err = ph_grow((void **)&w->bits, &w->bits_cap, words,
			      sizeof(uint64_t))))
		return;
	memset(w->bits, 0, words * sizeof(uint64_t));
	if (!mark_list(w, free_, page, keys, start, bs, cap) ||
	    !mark_list(w, local, page, keys, start, bs, cap) ||
	    !mark_list(w, tfree & ~3ULL, page, keys, start, bs, cap)) {
		/* what the lists hold is not known: the page is still read,
		 * every block validated as an object */
		h->pools_inconsistent++;
	}
	mark_delayed(w, heap, start, bs, cap);
	/* kept, for the references found later */
	if ((w->err = ph_grow((void **)&h->mi_pages, &h->mi_pages_cap,
			      h->nmi_pages + 1, sizeof(*h->mi_pages))))
		return;
	struct ph_mi_page *mp = &h->mi_pages[h->nmi_pages];
	if (!(mp->free_bits = malloc(words * sizeof(uint64_t)))) {
		w->err = ph_error_nomem();
		return;
	}
	memcpy(mp->free_bits, w->bits, words * sizeof(uint64_t));
	mp->start = start;
	mp->end = start + (uint64_t)cap * bs;
	mp->bsize = bs;
	mp->tag = tag;
	mp->obj_off = 0;
	mp->obj_bits = NULL;
	mp->rank = NULL;
	mp->first = 0;
	mp->interp = w->interp;
	h->nmi_pages++;
}

/*
 * The objects in the pages' allocated blocks, once every page is read and
 * the table has room for them all. Chunks of pages are scanned by threads
 * that only read, as the pool scan's (discover_pymalloc.c): each writes
 * its findings into the table from where its blocks would start if every
 * one were an object; a block whose object needs the type table to grow
 * (a class not registered yet, a type object) is left in its place for
 * later. The classes met are registered between two passes; what is
 * still left is done alone when the chunks are joined in address order,
 * so that objects are numbered as one pass in order would number them.
 */
enum mi_result { MI_NONE, MI_FOUND, MI_LATER };

/* One block's object, by a thread: reads only. *ret_newtype: the type to
 * register when the block is left for later because of it. */
static enum mi_result mi_block(struct ph_heap *h, struct ph_type_cache *tc,
			       uint64_t obj, uint32_t want_presize,
			       uint32_t *ret_tidx, uint8_t *ret_flag,
			       uint64_t *ret_newtype)
{
	const struct ph_layout *L = h->L;
	const uint64_t *hdr = ph_mem_ptr(h->mem, obj, ph_hdr_size(L));
	if (!hdr || !ph_refcnt_ok(L, hdr, true))
		return MI_NONE;
	uint64_t tp = ph_hdr_type(L, hdr);
	const uint32_t *v = ph_type_cache_get(h, tc, tp);
	if (!v) {
		if (ph_u64map_get(&h->scan_rejected, tp))
			return MI_NONE;
		*ret_newtype = tp;
		return MI_LATER;
	}
	const struct ph_type *t = &h->types[*v];
	if (ph_type_is_meta(t) && !ph_u64map_get(&h->type_index, obj)) {
		if (ph_u64map_get(&h->scan_rejected, obj))
			return MI_NONE;
		*ret_newtype = obj;
		return MI_LATER;
	}
	if (!ph_discover_validate_rest(h, obj, t, true, NULL) ||
	    ph_obj_presize(h, obj, t) != want_presize)
		return MI_NONE;
	uint8_t gcb = (uint8_t)(hdr[1] >> 24);
	uint8_t flag = PH_OBJ_POOL_SCAN;
	if ((t->flags & PH_TPFLAGS_HAVE_GC) && (gcb & GC_TRACKED) &&
	    !(gcb & GC_UNREACHABLE))
		/* one generation; gc.freeze()'s are permanent */
		flag |= PH_OBJ_GC_LIST |
			(uint8_t)((gcb & GC_FROZEN ? PH_GEN_PERMANENT : 1)
				  << 4);
	*ret_tidx = *v;
	*ret_flag = flag;
	return MI_FOUND;
}

/* The same, done alone: what it waits for is registered first. */
static bool mi_block_alone(struct ph_heap *h, uint64_t obj,
			   uint32_t want_presize, uint32_t *ret_tidx,
			   uint8_t *ret_flag)
{
	uint32_t tidx;
	if (!ph_discover_validate(h, obj, &tidx, true))
		return false;
	uint64_t newtype = 0;
	struct ph_type_cache tc = {{0}, {0}};
	return mi_block(h, &tc, obj, want_presize, ret_tidx, ret_flag,
			&newtype) == MI_FOUND;
}

/* A thread's chunk of pages [lo, hi): its entries from start in the table,
 * an object or a block left for later (its address | 1; | 3 once found to
 * hold none). */
struct mi_chunk {
	struct ph_heap *h;
	const struct mi_layout *M;
	size_t lo, hi;
	size_t start, n;
	uint32_t *page_n; /* entries each page gave (by page number) */
	bool second;	  /* the second pass: only the entries left */
	size_t *later, nlater, later_cap;
	struct ph_newtypes nt;
	struct ph_type_cache tc;
	struct ph_error *err;
};

static uint32_t mi_want_presize(const struct ph_mi_page *mp)
{
	return mp->tag == 3 ? 16 : 0;
}

static void mi_found(struct ph_heap *h, size_t at, uint64_t obj, uint32_t tidx,
		     uint8_t flag)
{
	h->addr[at] = obj;
	h->tidx[at] = tidx;
	h->flags[at] = flag;
	h->size[at] = ph_size_entry(ph_obj_sizeof(h, obj, &h->types[tidx]));
}

static void *mi_chunk_worker(void *arg)
{
	struct mi_chunk *c = arg;
	struct ph_heap *h = c->h;
	uint64_t newtype = 0;
	uint32_t tidx;
	uint8_t flag;
	if (c->second) {
		size_t m = 0;
		for (size_t j = 0; j < c->nlater; j++) {
			size_t at = c->later[j];
			uint64_t obj = h->addr[at] & ~3ULL;
			const struct ph_mi_page *mp =
				ph_objtable_mi_page(h, obj);
			if (!mp) { /* (each is in its page) */
				c->later[m++] = at;
				continue;
			}
			switch (mi_block(h, &c->tc, obj, mi_want_presize(mp),
					 &tidx, &flag, &newtype)) {
			case MI_FOUND: {
				uint64_t i = (obj - mp->start) / mp->bsize;
				mp->obj_bits[i / 64] |= 1ULL << (i % 64);
				mi_found(h, at, obj, tidx, flag);
				break;
			}
			case MI_LATER:
				c->later[m++] = at;
				break;
			case MI_NONE:
				h->addr[at] = obj | 3;
				break;
			}
		}
		c->nlater = m;
		return NULL;
	}
	for (size_t p = c->lo; p < c->hi && !c->err; p++) {
		if (!(p & 0xff) && ph_interrupted())
			return NULL;
		struct ph_mi_page *mp = &h->mi_pages[p];
		uint64_t start = mp->start, bs = mp->bsize;
		uint64_t cap = (mp->end - mp->start) / bs;
		uint32_t want = mi_want_presize(mp);
		size_t words = (size_t)(cap + 63) / 64;
		mp->obj_off = c->M->block_head + want;
		mp->rank = calloc(words, sizeof(*mp->rank));
		mp->obj_bits = calloc(words, sizeof(*mp->obj_bits));
		if (!mp->rank || !mp->obj_bits) {
			c->err = ph_error_nomem();
			return NULL;
		}
		size_t before = c->n;
		for (uint64_t i = 0; i < cap; i++) {
			if ((mp->free_bits[i / 64] >> (i % 64)) & 1)
				continue;
			uint64_t obj = start + i * bs + mp->obj_off;
			size_t at = c->start + c->n;
			switch (mi_block(h, &c->tc, obj, want, &tidx, &flag,
					 &newtype)) {
			case MI_FOUND:
				mp->obj_bits[i / 64] |= 1ULL << (i % 64);
				mi_found(h, at, obj, tidx, flag);
				c->n++;
				break;
			case MI_LATER:
				if ((c->err = ph_grow(
					     (void **)&c->later, &c->later_cap,
					     c->nlater + 1, sizeof(*c->later))))
					return NULL;
				c->later[c->nlater++] = at;
				h->addr[at] = obj | 1;
				c->n++;
				if ((c->err = ph_newtypes_add(&c->nt, newtype)))
					return NULL;
				break;
			case MI_NONE:
				break;
			}
		}
		c->page_n[p] = (uint32_t)(c->n - before);
	}
	return NULL;
}

/* The chunks joined in address order, in place (each entry gives one
 * object at most, written at or below where it is read); the blocks left
 * are done here, alone; each page's objects numbered. */
static struct ph_error *mi_join(struct ph_heap *h, struct mi_chunk *c, int T)
{
	for (int k = 0; k < T; k++) {
		size_t e = c[k].start;
		for (size_t p = c[k].lo; p < c[k].hi; p++) {
			struct ph_mi_page *mp = &h->mi_pages[p];
			uint32_t want = mi_want_presize(mp);
			mp->first = (uint32_t)h->n;
			for (size_t end = e + c[k].page_n[p]; e < end; e++) {
				uint64_t a = h->addr[e];
				uint32_t tidx;
				uint8_t flag;
				if ((a & 3) == 3)
					continue;
				if (a & 1) {
					a &= ~3ULL;
					if (!mi_block_alone(h, a, want, &tidx,
							    &flag))
						continue;
					uint64_t i =
						(a - mp->start) / mp->bsize;
					mp->obj_bits[i / 64] |= 1ULL
								<< (i % 64);
					mi_found(h, h->n, a, tidx, flag);
				} else if (e != h->n) {
					h->addr[h->n] = a;
					h->tidx[h->n] = ph_tidx(h, e);
					h->flags[h->n] = h->flags[e];
					h->size[h->n] = h->size[e];
				}
				h->n_pool++;
				if (h->flags[h->n] & PH_OBJ_GC_LIST)
					h->n_gc++;
				h->n++;
			}
			size_t words =
				(size_t)((mp->end - mp->start) / mp->bsize +
					 63) /
				64;
			uint32_t r = 0;
			for (size_t w = 0; w < words; w++) {
				mp->rank[w] = r;
				r += ph_popcount64(mp->obj_bits[w]);
			}
		}
	}
	return NULL;
}

static struct ph_error *mi_scan_pages(struct ph_heap *h,
				      const struct mi_layout *M,
				      const uint32_t *nalloc, uint64_t nused)
{
	enum { T = 16 };
	struct ph_error *err = NULL;
	if (nused >= (1ULL << 31))
		return ph_error_create(PH_ERR_UNSUPPORTED,
				       "more than 2 billion objects");
	struct mi_chunk *c = calloc(T, sizeof(*c));
	uint32_t *page_n = calloc(h->nmi_pages + 1, sizeof(*page_n));
	if (!c || !page_n) {
		err = ph_error_nomem();
		goto out;
	}
	if ((err = ph_objtable_reserve(h, nused)))
		goto out;
	/* chunks of about the same number of blocks */
	size_t p = 0, start = h->n;
	uint64_t done = 0;
	for (int k = 0; k < T; k++) {
		c[k] = (struct mi_chunk){.h = h,
					 .M = M,
					 .lo = p,
					 .start = start,
					 .page_n = page_n};
		uint64_t goal = nused * (uint64_t)(k + 1) / T;
		while (p < h->nmi_pages && (done < goal || k == T - 1)) {
			done += nalloc[p];
			start += nalloc[p];
			p++;
		}
		c[k].hi = p;
	}
	bool threads = h->nmi_pages > 16;
	ph_run_chunks(mi_chunk_worker, c, sizeof(*c), T, threads);
	if (ph_interrupted()) {
		err = ph_error_interrupted();
		goto out;
	}
	/* the classes the threads met, registered here, alone */
	size_t nnew = 0;
	for (int k = 0; k < T && !err; k++) {
		if ((err = c[k].err))
			break;
		err = ph_newtypes_register(h, &c[k].nt);
		nnew += c[k].nt.n;
	}
	if (!err && nnew) {
		for (int k = 0; k < T; k++)
			c[k].second = true;
		ph_run_chunks(mi_chunk_worker, c, sizeof(*c), T, threads);
	}
	if (!err)
		err = mi_join(h, c, T);
out:
	if (c)
		for (int k = 0; k < T; k++) {
			free(c[k].later);
			free(c[k].nt.v);
			if (c[k].err && c[k].err != err)
				ph_error_destroy(c[k].err);
		}
	free(c);
	free(page_n);
	return err;
}

/* Every page of a heap: its 75 queues (the full one included). */
static void heap_objects(struct mi_walk *w, uint64_t heap, unsigned tag)
{
	const struct mi_layout *M = w->M;
	for (unsigned q = 0; q <= MI_BIN_FULL && !w->err; q++) {
		uint64_t page = 0;
		ph_mem_u64(w->h->mem, heap + M->heap_pages + q * 24, &page);
		for (unsigned n = 0; page && n < (1u << 20) && !w->err; n++) {
			page_read(w, page, tag, heap);
			if (!ph_mem_u64(w->h->mem, page + M->page_next, &page))
				page = 0;
		}
	}
}

/* The pages of an abandoned segment: its slices, page by page (a slice
 * in use has a block size), each of the heap its tag names. */
static void segment_objects(struct mi_walk *w, uint64_t seg)
{
	const struct mi_layout *M = w->M;
	struct ph_memory *mem = w->h->mem;
	uint64_t entries = 0;
	if (!ph_mem_u64(mem, seg + M->seg_entries, &entries) || entries > 512)
		return;
	w->nsegments++;
	uint64_t s = seg + M->seg_slices, end = s + entries * M->slice_size;
	while (s < end && !w->err) {
		uint32_t count = 0, bsize = 0;
		uint8_t bits = 0;
		if (!ph_mem_u32(mem, s, &count) || !count || count > 512)
			break;
		if (ph_mem_u32(mem, s + M->page_bsize, &bsize) && bsize &&
		    ph_mem_u8(mem, s + 8, &bits)) {
			/* is_committed:1 is_zero_init:1 use_qsbr:1 tag:4 */
			unsigned tag = (bits >> 3) & 15;
			if (tag >= 1 && tag <= 3)
				page_read(w, s, tag, 0);
		}
		s += (uint64_t)count * M->slice_size;
	}
}

static int mi_page_cmp(const void *a, const void *b)
{
	const struct ph_mi_page *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

bool ph_mimalloc_block_ok(const struct ph_heap *h, uint64_t block)
{
	const struct ph_mi_page *p = ph_objtable_mi_page(h, block);
	if (!p)
		return true; /* in no page read */
	uint64_t off = block - p->start, i = off / p->bsize;
	return !(off % p->bsize) && !((p->free_bits[i / 64] >> (i % 64)) & 1);
}

void ph_mimalloc_free(struct ph_heap *h)
{
	ph_objtable_mi_unindex(h);
	for (size_t i = 0; !h->mi_bits && i < h->nmi_pages; i++) {
		free(h->mi_pages[i].free_bits);
		free(h->mi_pages[i].obj_bits);
		free(h->mi_pages[i].rank);
	}
	free(h->mi_pages);
	free(h->mi_bits);
	h->mi_bits = NULL;
	h->mi_pages = NULL;
	h->nmi_pages = 0;
}

static struct ph_error *mi_find(struct ph_heap *h)
{
	(void)h;
	return NULL;
}

static struct ph_error *mi_scan(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	struct ph_memory *mem = h->mem;
	if (L->minor != 13)
		return ph_error_create(PH_ERR_UNSUPPORTED,
				       "free-threaded Python %s: its allocator "
				       "is not known (3.13t is)",
				       h->rt->version);
	struct mi_walk w = {.h = h,
			    .M = h->rt->debug_build ? &mi_313td : &mi_313t};
	const struct mi_layout *M = w.M;
	ph_u64map_init(&w.pages);
	h->arena_source = "mimalloc's heaps and abandoned segments";
	h->block_head = M->block_head;
	uint64_t interp = 0;
	ph_mem_u64(mem, h->rt->runtime_addr + L->rt_interpreters_head, &interp);
	for (int ni = 0; interp && ni < 4096 && !w.err; ni++) {
		uint64_t ts = 0;
		w.interp = PH_INTERP_SHARED;
		for (size_t k = 0; k < h->rt->ninterps; k++)
			if (h->rt->interps[k].addr == interp)
				w.interp = (uint8_t)k;
		ph_mem_u64(mem, interp + L->is_threads_head, &ts);
		for (int nt = 0; ts && nt < 100000 && !w.err; nt++) {
			uint32_t init = 0;
			if (ph_mem_u32(mem, ts + M->ts_initialized, &init) &&
			    init)
				for (unsigned tag = 1; tag <= 3; tag++)
					heap_objects(&w,
						     ts + M->ts_heaps +
							     tag * M->heap_size,
						     tag);
			if (!ph_mem_u64(mem, ts + L->ts_next, &ts))
				ts = 0;
		}
		/* segments of thread states that are gone */
		uint64_t pool = interp + M->is_abandoned_pool,
			 heads[2] = {0, 0};
		ph_mem_u64(mem, pool + M->pool_abandoned, &heads[0]);
		ph_mem_u64(mem, pool + M->pool_visited, &heads[1]);
		heads[0] &= ~(MI_SEGMENT_SIZE - 1); /* a tagged pointer */
		for (int k = 0; k < 2; k++) {
			uint64_t seg = heads[k];
			for (int n = 0; seg && n < 65536 && !w.err; n++) {
				if (seg & (MI_SEGMENT_SIZE - 1))
					break;
				segment_objects(&w, seg);
				if (!ph_mem_u64(mem,
						seg + M->seg_abandoned_next,
						&seg))
					seg = 0;
			}
		}
		if (!ph_mem_u64(mem, interp + L->is_next, &interp))
			interp = 0;
	}
	h->npools = 0;
	if (h->nmi_pages)
		qsort(h->mi_pages, h->nmi_pages, sizeof(*h->mi_pages),
		      mi_page_cmp);
	/* pages that overlap the one before (damage): left out, so that
	 * every block is one page's */
	size_t kept = 0;
	for (size_t i = 0; i < h->nmi_pages; i++) {
		struct ph_mi_page *p = &h->mi_pages[i];
		if (kept && p->start < h->mi_pages[kept - 1].end) {
			free(p->free_bits);
			h->pools_inconsistent++;
			continue;
		}
		h->mi_pages[kept++] = *p;
	}
	h->nmi_pages = kept;
	ph_objtable_mi_index(h);
	/* room for every allocated block at once; the pages' objects are
	 * numbered in address order, found by their page's bitmap */
	uint64_t nused = 0;
	uint32_t *nalloc = calloc(h->nmi_pages + 1, sizeof(*nalloc));
	if (!nalloc && !w.err)
		w.err = ph_error_nomem();
	for (size_t i = 0; i < h->nmi_pages && !w.err; i++) {
		const struct ph_mi_page *p = &h->mi_pages[i];
		uint64_t nb = (p->end - p->start) / p->bsize;
		for (uint64_t k = 0; k < (nb + 63) / 64; k++)
			nb -= (uint64_t)__builtin_popcountll(p->free_bits[k]);
		nalloc[i] = (uint32_t)nb;
		nused += nb;
	}
	h->mi_pages_sorted = !w.err;
	if (!w.err)
		w.err = mi_scan_pages(h, M, nalloc, nused);
	free(nalloc);
	if (w.err)
		h->mi_pages_sorted = false;
	free(w.bits);
	ph_u64map_free(&w.pages);
	return w.err;
}

static struct ph_error *mi_tracked(struct ph_heap *h)
{
	(void)h; /* flagged by the scan: ob_gc_bits */
	return NULL;
}

const struct ph_discovery ph_discovery_mimalloc = {
	.name = "mimalloc heaps (free-threaded)",
	.find_pages = mi_find,
	.find_pages_stage = "mimalloc heaps",
	.scan_pages = mi_scan,
	.scan_pages_stage = "mimalloc blocks",
	.walk_tracked = mi_tracked,
	.walk_tracked_stage = "GC bits",
};
