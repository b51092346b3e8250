/*
 * discover.h - finding every object once, private to discovery
 * (discover.c and the paths it runs: discover_pymalloc.c,
 * discover_gc.c).
 *
 * A discovery path is how one kind of interpreter lays out its objects: an
 * allocator whose pages hold them (pymalloc's pools) and a collector's
 * record of the tracked ones (the GC generation lists). discover.c runs a
 * path's operations in order, numbering the objects the page scan finds
 * in address order, then adds the roots and everything they reach
 * (ph_heap_create). A second path (mimalloc's heaps and pages in a
 * free-threaded build, another interpreter's GC state and allocator)
 * implements the same operations beside this one. The object model
 * (heap.h: types, sizes, contents, references) is the paths' only way
 * to read an object.
 */
#ifndef PH_DISCOVER_H
#define PH_DISCOVER_H

#include "objtable.h"

struct ph_discovery {
	const char *name;
	/* Finds the allocator's pages and adds them to the table
	 * (ph_objtable_add_pool), so that addresses in them are known. */
	struct ph_error *(*find_pages)(struct ph_heap *h);
	const char *find_pages_stage; /* PYHEAP_TIMING's name for it */
	/* Adds the objects in those pages, in address order, marked in the
	 * pages' bitmaps (numbered after it by ph_objtable_freeze). */
	struct ph_error *(*scan_pages)(struct ph_heap *h);
	const char *scan_pages_stage;
	/* Adds, or flags as tracked, the objects the collector knows. */
	struct ph_error *(*walk_tracked)(struct ph_heap *h);
	const char *walk_tracked_stage;
};

/* GIL builds: pymalloc's pools, then the GC generation lists. */
extern const struct ph_discovery ph_discovery_gil;

/* Free-threaded builds (discover_mimalloc.c): the blocks of mimalloc's
 * heaps, every thread state's and the segments of those that ended; the
 * tracked objects by their ob_gc_bits. */
extern const struct ph_discovery ph_discovery_mimalloc;

/* Free-threaded: is block (its start, before the debug hooks' words) an
 * allocated block of a mimalloc page, or outside every page read? */
bool ph_mimalloc_block_ok(const struct ph_heap *h, uint64_t block);
/* Frees the pages' records. */
void ph_mimalloc_free(struct ph_heap *h);

/* pymalloc (discover_pymalloc.c): its pools, found by pymalloc's arena
 * table or by their headers, and whether its debug hooks wrap blocks;
 * then the objects in the pools' allocated blocks. */
struct ph_error *ph_pymalloc_find_pools(struct ph_heap *h);
struct ph_error *ph_pymalloc_scan(struct ph_heap *h);

/* The collector's generation lists (discover_gc.c). */
struct ph_error *ph_gc_walk_lists(struct ph_heap *h);

/* With more than one interpreter, each object's (h->interp), once every
 * object is found (discover_interp.c). */
struct ph_error *ph_discover_interps(struct ph_heap *h);

/* ---- is there an object here? (discover.c) --------------------------- */

/* A candidate whose "refcount" is the address of something mapped is a
 * pointer, not an object header (a guessed reference, a stale block). */
static inline bool ph_refcnt_is_pointer(struct ph_heap *h, uint64_t rc)
{
	return rc >= (1 << 20) && !(rc & 7) && ph_memory_find(h->mem, rc);
}

/*
 * Are the contents of an object of type t at addr plausible (its kind's
 * check), and does it fit where it is: in a pool, an allocated block of
 * its size class (block_pool: the pool when the scan is at addr's block,
 * which is allocated and holds addr at the object's pre-header size, or
 * NULL), elsewhere memory that is there? A damaged object fails here.
 */
bool ph_discover_contents_ok(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t,
			     const struct ph_pool *block_pool);

/* The checks after the type: its contents and GC links. in_block: addr
 * starts an allocated pymalloc block (the pool scan), where a tracked
 * object may be accepted on the strength of its GC links; anywhere else
 * tracked objects come from the GC lists only. Reads only, so that the
 * pool scan's threads may call it. */
bool ph_discover_validate_rest(struct ph_heap *h, uint64_t addr,
			       const struct ph_type *t, bool in_block,
			       const struct ph_pool *block_pool);

/* GC links of a tracked object: its neighbours' heads, 8-aligned and
 * readable (the list walk checks them fully). */
bool ph_discover_gc_links_plausible(struct ph_heap *h, uint64_t next,
				    uint64_t prev);

/*
 * What the scans' threads share (the pool scan's, the mimalloc page scan's):
 * they only read, so a class not registered yet is met, listed, and
 * registered between their two passes.
 */
/* A thread's cache of type lookups: a few types fill most blocks. */
struct ph_type_cache {
	uint64_t addr[256];
	uint32_t tidx[256];
};

static inline size_t ph_type_cache_slot(uint64_t tp)
{
	return (size_t)((tp >> 4) ^ (tp >> 12)) & 255;
}

/* The type registered at tp, through the cache; NULL when none is. */
static inline const uint32_t *
ph_type_cache_get(struct ph_heap *h, struct ph_type_cache *tc, uint64_t tp)
{
	size_t slot = ph_type_cache_slot(tp);
	if (tp && tc->addr[slot] == tp)
		return &tc->tidx[slot];
	const uint32_t *v = ph_u64map_get(&h->type_index, tp);
	if (v) {
		tc->addr[slot] = tp;
		tc->tidx[slot] = *v;
	}
	return v;
}

/* The classes a thread met that were not registered. */
struct ph_newtypes {
	uint64_t *v;
	size_t n, cap;
	uint64_t seen[1024];
};

struct ph_error *ph_newtypes_add(struct ph_newtypes *nt, uint64_t tp);

/* Registers the type at tp, or remembers in h->scan_rejected that it is
 * none. */
struct ph_error *ph_scan_register(struct ph_heap *h, uint64_t tp);

/* ph_scan_register for each. */
struct ph_error *ph_newtypes_register(struct ph_heap *h,
				      const struct ph_newtypes *nt);

/* Is there a live object at addr? On success *ret_tidx is its type. */
bool ph_discover_validate(struct ph_heap *h, uint64_t addr, uint32_t *ret_tidx,
			  bool in_block);

#endif /* PH_DISCOVER_H */
