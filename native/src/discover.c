/*
 * discover.c - enumerating every object once.
 *
 * Objects come from three places: the allocator's pages (a scan of
 * pymalloc's pools for allocated blocks that hold an object of a known
 * type: objects nothing references, e.g. leaked by C code), the
 * collector's lists (every tracked container), and references from
 * objects already found (untracked objects: str, int, float, untracked
 * tuples and dicts, objects in frames), from the roots on. Every candidate
 * that does not come from a GC list is validated before it is counted:
 * its type must be a real type object, its refcount plausible, its GC
 * header consistent, and if it lies in a pymalloc pool, it must start an
 * allocated block of the right size class.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "heapcache.h"

const struct ph_discovery ph_discovery_gil = {
	.name = "pymalloc pools and GC lists",
	.find_pages = ph_pymalloc_find_pools,
	.find_pages_stage = "pool headers",
	.scan_pages = ph_pymalloc_scan,
	.scan_pages_stage = "pool blocks",
	.walk_tracked = ph_gc_walk_lists,
	.walk_tracked_stage = "GC lists",
};

/* ---- validation ------------------------------------------------------- */

bool ph_discover_gc_links_plausible(struct ph_heap *h, uint64_t next,
				    uint64_t prev)
{
	next &= ~3ULL;
	prev &= ~3ULL;
	return next && prev && !(next & 7) && !(prev & 7) &&
	       ph_mem_ptr(h->mem, next, 16) && ph_mem_ptr(h->mem, prev, 16);
}

/* Are all of [addr, addr + len) present, in one segment or in several
 * that follow each other (a static object across .data and .bss)? */
static bool mem_present(struct ph_memory *m, uint64_t addr, uint64_t len)
{
	for (size_t i = 0; i <= m->nsegs; i++) {
		const struct ph_segment *sg = ph_memory_find(m, addr);
		if (!sg || !sg->data)
			return false;
		if (addr + len <= sg->end)
			return true;
		len -= sg->end - addr;
		addr = sg->end;
	}
	return false;
}

bool ph_discover_contents_ok(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t,
			     const struct ph_pool *block_pool)
{
	const struct ph_layout *L = h->L;
	uint64_t word2 = 0;
	ph_mem_u64(h->mem, addr + L->ob_type + 8, &word2);
	int64_t ob_size = (int64_t)word2;
	if (!ph_obj_contents_ok(h, addr, t, ob_size))
		return false;
	uint32_t presize = ph_obj_presize(h, addr, t);
	uint64_t need = presize + ph_obj_inline_size(h, addr, t, ob_size);
	/* Free-threaded: in a page, only an allocated block's object (a
	 * freed one keeps its header through ob_type) */
	if (h->mi_pages_sorted &&
	    !ph_mimalloc_block_ok(h, addr - presize - h->block_head))
		return false;
	const struct ph_pool *pool = block_pool;
	if (pool && presize != t->presize)
		pool = NULL; /* not where the scan thought: checked below */
	if (!pool && (pool = ph_objtable_pool_at(h, addr - presize))) {
		/* the block, before the debug hooks' header if any */
		uint64_t block0 = pool->addr + L->pool_overhead;
		uint64_t start = addr - presize - h->block_head;
		if (!pool->block_size || start < block0 ||
		    (start - block0) % pool->block_size)
			return false;
		uint64_t b = (start - block0) / pool->block_size;
		if (b >= pool->nblocks ||
		    (pool->free_bits[b / 64] >> (b % 64)) & 1)
			return false;
	}
	if (pool) {
		need += h->block_extra; /* the debug hooks' bytes, if on */
		if (need > pool->block_size) {
			return false;
		}
		if (t->fills_class &&
		    ((need + 15) & ~15ULL) != pool->block_size)
			return false;
	} else if (need > (1ULL << 40) ||
		   !mem_present(h->mem, addr - presize, need)) {
		return false; /* runs past the memory there is */
	}
	return true;
}

/* The GC head of an object with one (is_gc): untracked, or (in_block)
 * plausibly linked. */
static inline bool gc_head_ok(struct ph_heap *h, uint64_t addr, bool is_gc,
			      bool in_block)
{
	/* (free-threaded builds have no GC head: ob_gc_bits say) */
	if (is_gc && !h->L->free_threaded) {
		uint64_t next, prev;
		if (!ph_mem_u64(h->mem, addr - 16, &next) ||
		    !ph_mem_u64(h->mem, addr - 8, &prev))
			return false;
		if (next || (prev & ~3ULL)) {
			if (!in_block ||
			    !ph_discover_gc_links_plausible(h, next, prev))
				return false;
		}
	}
	return true;
}

bool ph_discover_validate_rest(struct ph_heap *h, uint64_t addr,
			       const struct ph_type *t, bool in_block,
			       const struct ph_pool *block_pool)
{
	return ph_discover_contents_ok(h, addr, t, block_pool) &&
	       gc_head_ok(h, addr, ph_obj_is_gc(h, addr, t), in_block);
}

bool ph_discover_validate(struct ph_heap *h, uint64_t addr, uint32_t *ret_tidx,
			  bool in_block)
{
	const struct ph_layout *L = h->L;
	if (!addr || (addr & 7))
		return false;
	const uint64_t *hdr = ph_mem_ptr(h->mem, addr, ph_hdr_size(L));
	if (!hdr || !ph_refcnt_ok(L, hdr, in_block))
		return false;
	int64_t ti = ph_type_register(h, ph_hdr_type(L, hdr));
	if (ti < 0)
		return false;
	struct ph_type *t = &h->types[ti];
	if (ph_type_is_meta(t) && ph_type_register(h, addr) < 0)
		return false;
	t = &h->types[ti]; /* ph_type_register may have moved the array */
	if (!ph_discover_validate_rest(h, addr, t, in_block, NULL))
		return false;
	*ret_tidx = (uint32_t)ti;
	return true;
}

struct ph_error *ph_newtypes_add(struct ph_newtypes *nt, uint64_t tp)
{
	/* the same few classes come again and again: a direct-mapped set of
	 * those already listed keeps the list short (a duplicate that slips
	 * through is harmless) */
	size_t slot = (size_t)(ph_hash64(tp) % PH_ARRAY_SIZE(nt->seen));
	if (!tp || nt->seen[slot] == tp)
		return NULL;
	nt->seen[slot] = tp;
	struct ph_error *err =
		ph_grow((void **)&nt->v, &nt->cap, nt->n + 1, sizeof(*nt->v));
	if (!err)
		nt->v[nt->n++] = tp;
	return err;
}

struct ph_error *ph_scan_register(struct ph_heap *h, uint64_t tp)
{
	if (ph_type_register(h, tp) >= 0)
		return NULL;
	return ph_u64map_put(&h->scan_rejected, tp, 1, NULL);
}

struct ph_error *ph_newtypes_register(struct ph_heap *h,
				      const struct ph_newtypes *nt)
{
	struct ph_error *err = NULL;
	for (size_t i = 0; i < nt->n && !err; i++)
		err = ph_scan_register(h, nt->v[i]);
	return err;
}

/* ---- references: the closure ------------------------------------------ */

static bool refcnt_at_is_pointer(struct ph_heap *h, uint64_t addr)
{
	uint64_t rc;
	/* (free-threaded: the first word is ob_tid, a thread's address) */
	return !h->L->free_threaded && ph_mem_u64(h->mem, addr, &rc) &&
	       ph_refcnt_is_pointer(h, rc);
}

/* A reference an object holds for certain (not a guess) leads to no valid
 * object: count why, for the note on what was lost. */
static void ref_rejected(struct ph_heap *h, uint64_t target)
{
	/* Below 64 KiB nothing is mapped: a small number in a field that
	 * holds one (3.12+ static types keep an index in tp_subclasses). */
	if (target < 0x10000)
		return;
	/* each object once, however many refer to it */
	if (ph_u64map_get(&h->rejected, target))
		return;
	struct ph_error *err = ph_u64map_put(&h->rejected, target, 1, NULL);
	if (err) {
		ph_error_destroy(err);
		return;
	}
	const struct ph_layout *L = h->L;
	const uint64_t *hdr =
		ph_mem_ptr(h->mem, target & ~7ULL, ph_hdr_size(L));
	if (hdr && !hdr[0] && !ph_hdr_type(L, hdr))
		h->refs_to_zeros++;
	else if (hdr && !(target & 7) &&
		 ph_type_register(h, ph_hdr_type(L, hdr)) >= 0) {
		h->refs_to_damaged++;
	} else
		h->refs_wild++;
}

static void discover_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
			uint64_t data)
{
	struct ph_heap *h = arg;
	uint32_t tidx;
	/* Every object names its type: look each type up once only. */
	if (kind == PH_EDGE_FIELD &&
	    data == (uint64_t)(uintptr_t)ph_class_field) {
		uint32_t *ti = ph_u64map_get(&h->type_index, target);
		if (ti && h->types[*ti].known_object)
			return;
		if (ti && ph_objtable_known(h, target)) {
			h->types[*ti].known_object = true;
			return;
		}
	}
	if (!target || ph_objtable_known(h, target))
		return;
	if (kind == PH_EDGE_CONSERVATIVE && refcnt_at_is_pointer(h, target))
		return;
	/* With a GC list cut, the tracked objects past the damage are still
	 * found through references, on the strength of their GC links. */
	if (!ph_discover_validate(h, target, &tidx, h->gc_list_damaged != 0)) {
		h->n_rejected++;
		if (h->mem->bytes_missing) {
			const struct ph_segment *sg =
				ph_memory_find(h->mem, target);
			if (sg && !sg->data) {
				h->refs_into_missing++;
				return;
			}
		}
		if (kind != PH_EDGE_CONSERVATIVE && ph_edge_is_strong(kind))
			ref_rejected(h, target);
		return;
	}
	if (ph_objtable_add(h, target, tidx, PH_OBJ_REFERENCED, NULL))
		return;
	h->n_ref++;
}

static void closure(struct ph_heap *h, size_t from)
{
	for (size_t i = from; i < h->n; i++) {
		if (!(i & 0xffff) && ph_interrupted())
			return;
		ph_heap_referents(h, h->addr[i], ph_tidx(h, i), discover_cb, h);
	}
}

/*
 * The first round of the closure on two threads: the references of every
 * object found so far, most of which lead to objects found already. The
 * threads only read, and keep the references to objects not found yet;
 * those are then looked at alone, in order, and the objects they find
 * looked through as before. The objects come in chunks, each thread
 * taking the next when done, so that a thread slowed by another process
 * on its processor does fewer (with halves the stage waited for it); the
 * chunks' findings are looked at in the chunks' order, the objects' order,
 * as the halves' were.
 */
struct ref_cand {
	uint64_t target, data;
	enum ph_edge_kind kind;
};

struct closure_ctx {
	struct ph_heap *h;
	size_t lo, hi;
	struct ref_cand *cand;
	size_t n, cap;
	uint64_t into_missing;
	uint64_t seen[1024]; /* targets kept lately (None, a module...) */
	uint64_t last_class; /* a type known to be in the table */
	uint64_t cur_class;  /* the current object's type, when known */
	struct ph_error *err;
};

static void closure_more(struct closure_ctx *c, uint64_t target,
			 enum ph_edge_kind kind, uint64_t data);

/* A reference the closure looks at: most are to objects the pool scan
 * found, settled here by their pool's bitmap; the rest (a class, an object
 * outside the pools, one not found yet) in closure_more, whose registers
 * this one need not save. */
static void closure_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		       uint64_t data)
{
	struct closure_ctx *c = arg;
	/* its type, in the table: most objects' first reference */
	if (target == c->cur_class || !target)
		return;
	const struct ph_pool *p;
	uint64_t g;
	if (!ph_objtable_pool_found(c->h, target, &p, &g))
		closure_more(c, target, kind, data);
}

static __attribute__((noinline)) void closure_more(struct closure_ctx *c,
						   uint64_t target,
						   enum ph_edge_kind kind,
						   uint64_t data)
{
	struct ph_heap *h = c->h;
	if (c->err)
		return;
	if (kind == PH_EDGE_FIELD &&
	    data == (uint64_t)(uintptr_t)ph_class_field) {
		/* objects of one class come in runs */
		if (target == c->last_class)
			return;
		uint32_t *ti = ph_u64map_get(&h->type_index, target);
		if (ti && h->types[*ti].known_object) {
			c->last_class = target;
			return;
		}
	}
	if (ph_objtable_known(h, target))
		return;
	if (h->mem->bytes_missing) {
		/* counted here, per reference, as discover_cb would */
		const struct ph_segment *sg = ph_memory_find(h->mem, target);
		if (sg && !sg->data) {
			c->into_missing++;
			return;
		}
	}
	uint64_t key = target * 2 + (kind == PH_EDGE_CONSERVATIVE);
	size_t slot = (size_t)(ph_hash64(key) % PH_ARRAY_SIZE(c->seen));
	if (c->seen[slot] == key)
		return;
	c->seen[slot] = key;
	if ((c->err = ph_grow((void **)&c->cand, &c->cap, c->n + 1,
			      sizeof(*c->cand))))
		return;
	c->cand[c->n++] = (struct ref_cand){target, data, kind};
}

static void *closure_worker(void *arg)
{
	struct closure_ctx *c = arg;
	struct ph_heap *h = c->h;
	uint32_t last_leaf = PH_NONE;
	for (size_t i = c->lo; i < c->hi && !c->err; i++) {
		if (!(i & 0xffff) && ph_interrupted())
			return NULL;
		uint32_t ti = ph_tidx(h, i);
		const struct ph_type *t = &h->types[ti];
		if (t->leaf) {
			/* Its one reference is its type, whose address is
			 * known: its memory need not be read. */
			if (ti != last_leaf && !t->known_object)
				closure_cb(c, t->addr, PH_EDGE_FIELD,
					   (uint64_t)(uintptr_t)ph_class_field);
			last_leaf = ti;
			continue;
		}
		c->cur_class = t->known_object ? t->addr : 0;
		ph_heap_referents_fixed(h, h->addr[i], ti, closure_cb, c);
	}
	return NULL;
}

static struct ph_error *closure_parallel(struct ph_heap *h)
{
	enum { T = 32 }; /* chunks */
	size_t n0 = h->n;
	struct closure_ctx *c = calloc(T, sizeof(*c));
	if (!c)
		return ph_error_nomem();
	/* The types whose objects are found already: their objects'
	 * references to them need no lookup (the threads only read this). */
	for (size_t i = 0; i < h->ntypes; i++)
		if (!h->types[i].known_object &&
		    ph_objtable_known(h, h->types[i].addr))
			h->types[i].known_object = true;
	for (int k = 0; k < T; k++) {
		c[k].h = h;
		c[k].lo = n0 * (size_t)k / T;
		c[k].hi = n0 * (size_t)(k + 1) / T;
	}
	ph_run_chunks(closure_worker, c, sizeof(*c), T, n0 > 1000);
	struct ph_error *err = NULL;
	for (int k = 0; k < T; k++) {
		if (!err && c[k].err) {
			err = c[k].err;
			c[k].err = NULL;
		}
		h->refs_into_missing += c[k].into_missing;
		h->n_rejected += c[k].into_missing;
		for (size_t i = 0; i < c[k].n && !err; i++)
			discover_cb(h, c[k].cand[i].target, c[k].cand[i].kind,
				    c[k].cand[i].data);
	}
	for (int k = 0; k < T; k++) {
		ph_error_destroy(c[k].err);
		free(c[k].cand);
	}
	free(c);
	if (!err)
		closure(h, n0);
	return err;
}

/* ---- roots ------------------------------------------------------------ */

static void add_root(struct ph_heap *h, uint64_t addr)
{
	uint32_t tidx;
	if (!addr || ph_objtable_known(h, addr))
		return;
	if (ph_discover_validate(h, addr, &tidx, false) &&
	    !ph_objtable_add(h, addr, tidx, PH_OBJ_ROOT, NULL))
		h->n_root++;
}

static void root_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		    uint64_t data)
{
	(void)kind;
	(void)data;
	add_root(arg, target);
}

static void add_static_types(struct ph_heap *h)
{
	for (size_t i = 0; i < h->rt->nstatic_types; i++) {
		uint64_t t = h->rt->static_types[i];
		/* Types that were never readied have no refcount: skip. */
		if (ph_type_register(h, t) >= 0) {
			uint32_t ti;
			if (ph_discover_validate(h, t, &ti, false))
				ph_objtable_add(h, t, ti, PH_OBJ_ROOT, NULL);
		}
	}
}

/* One interpreter's roots: its modules, sys and builtins, and each of its
 * threads' frames (functions, globals and the value stack). */
static void add_interp_roots(struct ph_heap *h, uint64_t interp)
{
	const struct ph_layout *L = h->L;
	uint64_t v;
	add_root(h, ph_mem_u64(h->mem, interp + L->is_modules, &v) ? v : 0);
	add_root(h, ph_mem_u64(h->mem, interp + L->is_sysdict, &v) ? v : 0);
	add_root(h, ph_mem_u64(h->mem, interp + L->is_builtins, &v) ? v : 0);
	uint64_t ts = 0;
	ph_mem_u64(h->mem, interp + L->is_threads_head, &ts);
	for (int nt = 0; ts && nt < 100000; nt++) {
		uint64_t f = ph_heap_thread_frame(h, ts);
		for (int nf = 0; f && nf < 100000; nf++) {
			if (L->frame_objects)
				add_root(h, f); /* up to 3.10 an object */
			ph_heap_iframe_referents(h, f, root_cb, h);
			if (!ph_mem_u64(h->mem, f + L->if_previous, &f))
				f = 0;
		}
		if (!ph_mem_u64(h->mem, ts + L->ts_next, &ts))
			ts = 0;
	}
}

static void add_roots(struct ph_heap *h)
{
	for (size_t k = 0; k < h->rt->ninterps; k++)
		add_interp_roots(h, h->rt->interps[k].addr);
	add_root(h, h->rt->none_addr);
}

/* ---- the heap --------------------------------------------------------- */

static struct ph_heap *heap_alloc(struct ph_runtime *rt)
{
	struct ph_heap *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->rt = rt;
	h->mem = &rt->target->mem;
	h->L = rt->layout;
	ph_u64map_init(&h->big_index);
	ph_u64map_init(&h->type_index);
	ph_u64map_init(&h->rejected);
	ph_u64map_init(&h->scan_rejected);
	h->pool_shift = (uint32_t)__builtin_ctz(rt->layout->pool_size);
	return h;
}

struct ph_error *ph_heap_create(struct ph_runtime *rt, struct ph_heap **ret)
{
	const struct ph_discovery *d = rt->layout->free_threaded
					       ? &ph_discovery_mimalloc
					       : &ph_discovery_gil;
	struct ph_heap *h = heap_alloc(rt);
	if (!h)
		return ph_error_nomem();
	struct ph_error *err;

	ph_stage(NULL);
	/* A later run on the same core: the table the first one built (with
	 * each object's interpreter, and a free-threaded build's pages). */
	char *cache = ph_heapcache_path(rt);
	char why[sizeof(h->cache_ignored)] = "";
	if (cache && ph_heapcache_load(h, cache, why, sizeof(why))) {
		free(cache);
		h->cache_loaded = true;
		ph_stage("index cache read");
		*ret = h;
		return NULL;
	}
	bool stale = h->cache_stale;
	if (cache && (h->n + h->cap + h->ntypes + h->npools || h->table_map)) {
		/* partly filled from a file then refused: start again */
		ph_heap_destroy(h);
		if (!(h = heap_alloc(rt))) {
			free(cache);
			return ph_error_nomem();
		}
	}
	snprintf(h->cache_ignored, sizeof(h->cache_ignored), "%s", why);
	h->cache_stale = stale;
	ph_memory_read_whole(h->mem);
	if ((err = d->find_pages(h)))
		goto fail;
	ph_stage(d->find_pages_stage);
	add_static_types(h);
	/* The pages' objects next, in address order: most objects. */
	uint32_t base = (uint32_t)h->n;
	if ((err = d->scan_pages(h)))
		goto fail;
	ph_objtable_freeze(h, base);
	ph_stage(d->scan_pages_stage);
	if (ph_interrupted()) {
		err = ph_error_interrupted();
		goto fail;
	}
	if ((err = d->walk_tracked(h)))
		goto fail;
	ph_stage(d->walk_tracked_stage);
	add_roots(h);
	err = closure_parallel(h);
	if (err)
		goto fail;
	ph_stage("references");
	if (ph_interrupted()) {
		err = ph_error_interrupted();
		goto fail;
	}

	ph_heap_find_interned(h);
	if ((err = ph_discover_interps(h)))
		goto fail;
	if (h->interp)
		ph_stage("interpreters");
	if (cache) {
		h->cache_written = ph_heapcache_store(h, cache);
		ph_stage("index cache written");
	}
	free(cache);
	*ret = h;
	return NULL;
fail:
	free(cache);
	ph_heap_destroy(h);
	return err;
}

void ph_heap_destroy(struct ph_heap *h)
{
	if (!h)
		return;
	ph_objtable_free(h);
	ph_type_table_free(h);
	free(h->interp);
	free(h->interned_more);
	ph_mimalloc_free(h);
	ph_u64map_free(&h->rejected);
	ph_u64map_free(&h->scan_rejected);
	free(h);
}
