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

/* The objects in a page's allocated blocks (once every page is read and
 * the table has room for them all). */
static void page_scan(struct mi_walk *w, struct ph_mi_page *mp)
{
	struct ph_heap *h = w->h;
	const struct mi_layout *M = w->M;
	unsigned tag = mp->tag;
	uint64_t start = mp->start, bs = mp->bsize;
	uint64_t cap = (mp->end - mp->start) / bs;
	uint64_t at = M->block_head + (tag == 3 ? 16 : 0);
	uint32_t want_presize = tag == 3 ? 16 : 0;
	size_t words = (size_t)(cap + 63) / 64;
	mp->obj_off = at;
	mp->first = (uint32_t)h->n;
	mp->rank = calloc(words, sizeof(*mp->rank));
	mp->obj_bits = calloc(words, sizeof(*mp->obj_bits));
	if (!mp->rank || !mp->obj_bits) {
		w->err = ph_error_nomem();
		return;
	}
	for (uint64_t i = 0; i < cap && !w->err; i++) {
		if ((mp->free_bits[i / 64] >> (i % 64)) & 1)
			continue;
		uint64_t obj = start + i * bs + at;
		uint32_t tidx;
		/* (each block once: ph_objtable_add keeps the first) */
		if (!ph_discover_validate(h, obj, &tidx, true))
			continue;
		const struct ph_type *t = &h->types[tidx];
		if (ph_obj_presize(h, obj, t) != want_presize)
			continue;
		const uint64_t *hdr = ph_mem_ptr(h->mem, obj, 16);
		uint8_t gcb = hdr ? (uint8_t)(hdr[1] >> 24) : 0;
		uint8_t flag = PH_OBJ_POOL_SCAN;
		if ((t->flags & PH_TPFLAGS_HAVE_GC) && (gcb & GC_TRACKED) &&
		    !(gcb & GC_UNREACHABLE))
			/* one generation; gc.freeze()'s are permanent */
			flag |= PH_OBJ_GC_LIST |
				(uint8_t)((gcb & GC_FROZEN ? PH_GEN_PERMANENT
							   : 1)
					  << 4);
		if ((w->err = ph_objtable_add_mi(h, mp, i, obj, tidx, flag)))
			return;
		h->n_pool++;
		if (flag & PH_OBJ_GC_LIST)
			h->n_gc++;
	}
	uint32_t r = 0;
	for (size_t k = 0; k < words; k++) {
		mp->rank[k] = r;
		r += ph_popcount64(mp->obj_bits[k]);
	}
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
	for (size_t i = 0; i < h->nmi_pages; i++) {
		const struct ph_mi_page *p = &h->mi_pages[i];
		uint64_t nb = (p->end - p->start) / p->bsize;
		nused += nb;
		for (uint64_t k = 0; k < (nb + 63) / 64; k++)
			nused -=
				(uint64_t)__builtin_popcountll(p->free_bits[k]);
	}
	if (!w.err && nused < (1ULL << 31))
		w.err = ph_objtable_reserve(h, nused);
	h->mi_pages_sorted = !w.err;
	for (size_t i = 0; i < h->nmi_pages && !w.err; i++) {
		if (!(i & 0xff) && ph_interrupted())
			break;
		page_scan(&w, &h->mi_pages[i]);
	}
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
