/*
 * heap.c - enumerating every object once: the object table, the pymalloc
 * pool scan, the GC-list walk, the closure and the roots (split into
 * files of their own next).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"

/* objtable.c - the object table: objects by number (address, type, size,
 * flags), found by address through the pools' bitmaps or a hash map. */


uint32_t ph_heap_lookup(const struct ph_heap *h, uint64_t addr)
{
	return ph_objtable_lookup(h, addr);
}

static struct ph_error *pool_index_add(struct ph_heap *h, uint64_t addr,
				       uint32_t idx)
{
	uint64_t base = addr & ~((1ULL << 30) - 1);
	size_t i;
	for (i = 0; i < h->nregions; i++)
		if (h->regions[i].base == base)
			break;
	if (i == h->nregions) {
		struct ph_pool_region *r =
			realloc(h->regions, (i + 1) * sizeof(*r));
		if (!r)
			return ph_error_nomem();
		h->regions = r;
		r[i].base = base;
		r[i].slots = calloc((1ULL << 30) >> h->pool_shift,
				    sizeof(*r[i].slots));
		if (!r[i].slots)
			return ph_error_nomem();
		h->nregions++;
	}
	h->regions[i].slots[(addr - base) >> h->pool_shift] = idx + 1;
	return NULL;
}

struct ph_error *ph_objtable_add_pool(struct ph_heap *h,
				      const struct ph_pool *pool)
{
	struct ph_error *err = ph_grow((void **)&h->pools, &h->pools_cap,
				       h->npools + 1, sizeof(*h->pools));
	if (!err)
		err = pool_index_add(h, pool->addr, (uint32_t)h->npools);
	if (!err)
		h->pools[h->npools++] = *pool;
	return err;
}

/* The object table's arrays, grown to cap entries. */
static struct ph_error *obj_table_resize(struct ph_heap *h, size_t cap)
{
	uint64_t *a = realloc(h->addr, cap * sizeof(*a));
	if (a)
		h->addr = a;
	uint32_t *ti = realloc(h->tidx, cap * sizeof(*ti));
	if (ti)
		h->tidx = ti;
	uint8_t *f = realloc(h->flags, cap * sizeof(*f));
	if (f)
		h->flags = f;
	uint64_t *sz = realloc(h->size, cap * sizeof(*sz));
	if (sz)
		h->size = sz;
	if (!a || !ti || !f || !sz)
		return ph_error_nomem();
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
	h->size[h->n] = ph_obj_sizeof(h, addr, &h->types[tidx]);
	h->n++;
	return NULL;
}

struct ph_error *ph_objtable_add(struct ph_heap *h, uint64_t addr,
				 uint32_t tidx, uint8_t flag, bool *ret_added)
{
	struct ph_pool *p = (struct ph_pool *)ph_objtable_pool_at(h, addr);
	if (ret_added)
		*ret_added = false;
	if (p && (addr & 15))
		return NULL; /* not where pymalloc puts objects */
	if (p && h->pools_frozen) {
		/* Numbered already: one the pool scan missed is kept aside. */
		uint64_t g = (addr - p->addr) / 16;
		if ((p->obj_bits[g / 64] >> (g % 64)) & 1)
			return NULL;
		p = NULL;
	}
	if (p) {
		uint64_t g = (addr - p->addr) / 16;
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
	free(h->addr);
	free(h->tidx);
	free(h->size);
	free(h->flags);
	free(h->pools);
	ph_u64map_free(&h->big_index);
	for (size_t i = 0; i < h->nregions; i++)
		free(h->regions[i].slots);
	free(h->regions);
}

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

/* GC links of a tracked object: its neighbours' heads, 8-aligned and
 * readable (the list walk checks them fully). */
static bool gc_links_plausible(struct ph_heap *h, uint64_t next, uint64_t prev)
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
	ph_mem_u64(h->mem, addr + 16, &word2);
	int64_t ob_size = (int64_t)word2;
	if (!ph_obj_contents_ok(h, addr, t, ob_size))
		return false;
	uint32_t presize = ph_obj_presize(h, addr, t);
	uint64_t need = presize + ph_obj_inline_size(h, addr, t, ob_size);
	const struct ph_pool *pool = block_pool;
	if (pool && presize != t->presize)
		pool = NULL; /* not where the scan thought: checked below */
	if (!pool && (pool = ph_objtable_pool_at(h, addr - presize))) {
		/* the block, before the debug hooks' header if any */
		uint64_t block0 = pool->addr + L->pool_overhead;
		uint64_t start = addr - presize - h->block_head;
		if (start < block0 || (start - block0) % pool->block_size)
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

bool ph_discover_validate_rest(struct ph_heap *h, uint64_t addr,
			       const struct ph_type *t, bool in_block,
			       const struct ph_pool *block_pool)
{
	if (!ph_discover_contents_ok(h, addr, t, block_pool))
		return false;
	if (ph_obj_is_gc(h, addr, t)) {
		uint64_t next, prev;
		if (!ph_mem_u64(h->mem, addr - 16, &next) ||
		    !ph_mem_u64(h->mem, addr - 8, &prev))
			return false;
		if (next || (prev & ~3ULL)) {
			if (!in_block || !gc_links_plausible(h, next, prev))
				return false;
		}
	}
	return true;
}

bool ph_discover_validate(struct ph_heap *h, uint64_t addr, uint32_t *ret_tidx,
			  bool in_block)
{
	const struct ph_layout *L = h->L;
	if (!addr || (addr & 7))
		return false;
	const uint64_t *hdr = ph_mem_ptr(h->mem, addr, 24);
	if (!hdr || !ph_refcnt_ok(L, hdr[0], in_block))
		return false;
	int64_t ti = ph_type_register(h, hdr[1]);
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

/* ---- references: the closure ------------------------------------------ */

static bool refcnt_at_is_pointer(struct ph_heap *h, uint64_t addr)
{
	uint64_t rc;
	return ph_mem_u64(h->mem, addr, &rc) && ph_refcnt_is_pointer(h, rc);
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
	const uint64_t *hdr = ph_mem_ptr(h->mem, target & ~7ULL, 16);
	if (hdr && !hdr[0] && !hdr[1])
		h->refs_to_zeros++;
	else if (hdr && !(target & 7) && ph_type_register(h, hdr[1]) >= 0) {
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
		ph_heap_referents(h, h->addr[i], h->tidx[i], discover_cb, h);
	}
}

/*
 * The first round of the closure on two threads: the references of every
 * object found so far, most of which lead to objects found already. The
 * threads only read, and keep the references to objects not found yet;
 * those are then looked at alone, in order, and the objects they find
 * looked through as before.
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
	uint64_t seen[4096]; /* targets kept lately (None, a module...) */
	uint64_t last_class; /* a type known to be in the table */
	struct ph_error *err;
};

static void closure_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		       uint64_t data)
{
	struct closure_ctx *c = arg;
	struct ph_heap *h = c->h;
	if (!target || c->err)
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
		uint32_t ti = h->tidx[i];
		if (h->types[ti].leaf) {
			/* Its one reference is its type, whose address is
			 * known: its memory need not be read. */
			if (ti != last_leaf)
				closure_cb(c, h->types[ti].addr, PH_EDGE_FIELD,
					   (uint64_t)(uintptr_t)ph_class_field);
			last_leaf = ti;
			continue;
		}
		ph_heap_referents(h, h->addr[i], ti, closure_cb, c);
	}
	return NULL;
}

static struct ph_error *closure_parallel(struct ph_heap *h)
{
	enum { T = 2 };
	size_t n0 = h->n;
	struct closure_ctx *c = calloc(T, sizeof(*c));
	if (!c)
		return ph_error_nomem();
	for (int k = 0; k < T; k++) {
		c[k].h = h;
		c[k].lo = n0 * (size_t)k / T;
		c[k].hi = n0 * (size_t)(k + 1) / T;
	}
	ph_run_parallel(closure_worker, c, sizeof(*c), T, n0 > 1000);
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

static void add_roots(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	uint64_t interp = h->rt->main_interp, v;
	add_root(h, ph_mem_u64(h->mem, interp + L->is_modules, &v) ? v : 0);
	add_root(h, ph_mem_u64(h->mem, interp + L->is_sysdict, &v) ? v : 0);
	add_root(h, ph_mem_u64(h->mem, interp + L->is_builtins, &v) ? v : 0);
	add_root(h, h->rt->none_addr);
	/* Each thread's frames: functions, globals and the value stack. */
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

/* ---- the heap --------------------------------------------------------- */

struct ph_error *ph_heap_create(struct ph_runtime *rt, struct ph_heap **ret)
{
	const struct ph_discovery *d = &ph_discovery_gil;
	struct ph_heap *h = calloc(1, sizeof(*h));
	if (!h)
		return ph_error_nomem();
	h->rt = rt;
	h->mem = &rt->target->mem;
	h->L = rt->layout;
	ph_u64map_init(&h->big_index);
	ph_u64map_init(&h->type_index);
	ph_u64map_init(&h->rejected);
	ph_u64map_init(&h->scan_rejected);
	h->pool_shift = (uint32_t)__builtin_ctz(rt->layout->pool_size);
	struct ph_error *err;

	ph_stage(NULL);
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
	*ret = h;
	return NULL;
fail:
	ph_heap_destroy(h);
	return err;
}

void ph_heap_destroy(struct ph_heap *h)
{
	if (!h)
		return;
	ph_objtable_free(h);
	ph_type_table_free(h);
	ph_u64map_free(&h->rejected);
	ph_u64map_free(&h->scan_rejected);
	free(h);
}

/*
 * discover_gc.c - the collector's generation lists: every tracked object,
 * with its generation. Objects the page scan found get their list's flag;
 * the others are added. A list is walked from both ends at once on two
 * threads, and walked again alone, carefully, when anything about it is
 * unusual.
 */


static uint64_t writable_bytes(struct ph_heap *h)
{
	uint64_t n = 0;
	for (size_t i = 0; i < h->mem->nsegs; i++)
		if (h->mem->segs[i].data && h->mem->segs[i].writable)
			n += h->mem->segs[i].end - h->mem->segs[i].start;
	return n;
}

/*
 * A GC list walked from both ends at once, one thread following the next
 * links from the head and one the prev links from the tail, until they
 * meet: the walk is a chain of cache misses, and two chains take half the
 * time. The threads only do what a healthy list needs: an object the pool
 * scan found gets the list's flag, claimed with a compare-and-swap so that
 * each object is taken by one thread, and the first object a thread finds
 * taken by the other is where they met; the backward thread checks that
 * each step agrees with the next link, so its path read backwards is the
 * path the forward walk would have taken. Objects not found yet are kept,
 * in list order, and added afterwards, alone. Anything else (damage, an
 * object on two lists) undoes the walk and the list is walked again the
 * careful way.
 */
#define GCW_BACK 0x80 /* in flags, while walking: claimed going backwards */

struct gcw_ctx {
	struct ph_heap *h;
	uint64_t head, bound;
	uint8_t flag;
	bool back;
	/* every node visited, in walk order; bit 0 set if claimed */
	uint64_t *nodes;
	size_t n, cap;
	uint64_t meet; /* the node found taken by the other thread */
	bool at_head, anomaly;
	uint64_t claimed;
};

static void *gcw_worker(void *arg)
{
	struct gcw_ctx *c = arg;
	struct ph_heap *h = c->h;
	uint8_t mine = c->flag | (c->back ? GCW_BACK : 0);
	uint64_t prev = c->head, g;
	if (!ph_mem_u64(h->mem, c->head + (c->back ? 8 : 0), &g)) {
		c->anomaly = true;
		return NULL;
	}
	g &= ~3ULL;
	for (uint64_t steps = 0;; steps++) {
		if (g == c->head) {
			c->at_head = true;
			break;
		}
		if (steps > c->bound || !g || (g & 7) ||
		    (!(steps & 0xffff) && ph_interrupted())) {
			c->anomaly = true;
			break;
		}
		const uint64_t *w = ph_mem_ptr(h->mem, g, 32);
		if (!w || (c->back && (w[0] & ~3ULL) != prev)) {
			c->anomaly = true;
			break;
		}
		if (c->n == c->cap) {
			struct ph_error *e =
				ph_grow((void **)&c->nodes, &c->cap,
					c->n < 65536 ? 65536 : c->n + 1,
					sizeof(*c->nodes));
			if (e) {
				ph_error_destroy(e);
				c->anomaly = true;
				break;
			}
		}
		uint64_t obj = g + 16;
		uint32_t known = ph_objtable_lookup(h, obj);
		bool claim = false;
		if (known != PH_NONE) {
			/* (its type is the one the pool scan read there) taken
			 * only if on no list yet: the flags of an object on
			 * another list (damage) stay as they were */
			uint8_t *f = &h->flags[known];
			uint8_t old = __atomic_load_n(f, __ATOMIC_RELAXED);
			while (!(old & PH_OBJ_GC_LIST) &&
			       !__atomic_compare_exchange_n(
				       f, &old, (uint8_t)(old | mine), true,
				       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				;
			if (old & PH_OBJ_GC_LIST) {
				bool other = c->back ? !(old & GCW_BACK)
						     : (old & GCW_BACK);
				if (other && (old & 0x70) == (c->flag & 0x70))
					c->meet = g;
				else
					c->anomaly = true;
				break;
			}
			claim = true;
			c->claimed++;
		}
		c->nodes[c->n++] = g | claim;
		prev = g;
		g = w[c->back ? 1 : 0] & ~3ULL;
	}
	return NULL;
}

/* The walk's claims undone: flags as they were before it. */
static void gcw_undo(struct ph_heap *h, const struct gcw_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (!(c->nodes[i] & 1))
			continue;
		uint32_t k = ph_objtable_lookup(h, (c->nodes[i] & ~1ULL) + 16);
		h->flags[k] &= (uint8_t) ~(c->flag | GCW_BACK);
	}
}

/* An object on a GC list that was not found before: added, or counted as
 * rejected. */
static struct ph_error *walk_gc_add(struct ph_heap *h, uint64_t obj,
				    const uint64_t *hdr, uint8_t flag,
				    bool *ret_added)
{
	*ret_added = true;
	int64_t ti = ph_type_register(h, hdr[1]);
	if (ti < 0) {
		h->n_rejected++;
		if (!hdr[0] && !hdr[1])
			h->gc_zeroed_objects++;
		else
			h->gc_bad_objects++;
		return NULL;
	}
	if (!ph_discover_contents_ok(h, obj, &h->types[ti], NULL)) {
		h->n_rejected++;
		h->gc_damaged_objects++;
		return NULL;
	}
	struct ph_error *err =
		ph_objtable_add(h, obj, (uint32_t)ti, flag, ret_added);
	if (err || !*ret_added)
		return err;
	h->n_gc++;
	if (ph_type_is_meta(&h->types[ti]))
		ph_type_register(h, obj);
	return NULL;
}

/*
 * Walks the list at head from both ends (above). Returns with *ret_done
 * false when it could not, having changed nothing: the careful walk
 * (walk_gc_list) is then left to do it.
 */
static struct ph_error *walk_gc_list_fast(struct ph_heap *h, uint64_t head,
					  uint64_t bound, unsigned gen,
					  bool *ret_done)
{
	struct gcw_ctx c[2];
	uint8_t flag = (uint8_t)(PH_OBJ_GC_LIST | (gen << 4));
	struct ph_error *err = NULL;
	struct ph_u64map seen;
	ph_u64map_init(&seen);
	*ret_done = false;
	for (int k = 0; k < 2; k++)
		c[k] = (struct gcw_ctx){.h = h,
					.head = head,
					.bound = bound,
					.flag = flag,
					.back = k == 1};
	ph_run_parallel(gcw_worker, c, sizeof(c[0]), 2, true);

	/* The list in order: forward to where the threads met, then the
	 * backward walk from there, read backwards. */
	size_t bend = 0; /* the backward nodes used: [0, bend) */
	bool ok = !c[0].anomaly && (c[0].at_head || c[0].meet);
	if (ok && c[0].meet) {
		ok = false;
		for (size_t i = c[1].n; i-- > 0;)
			if ((c[1].nodes[i] & ~1ULL) == c[0].meet) {
				bend = i + 1;
				ok = true;
				break;
			}
	}
	/* the backward thread's claims past the meeting point: none, unless
	 * something is wrong */
	for (size_t i = bend; ok && i < c[1].n; i++)
		if (c[1].nodes[i] & 1)
			ok = false;
	/* objects not found yet: each new, and once only */
	for (int k = 0; k < 2 && ok; k++) {
		size_t end = k ? bend : c[0].n;
		for (size_t i = 0; i < end && ok; i++) {
			uint64_t g = c[k].nodes[i];
			if (g & 1)
				continue;
			bool existed;
			if (ph_objtable_lookup(h, g + 16) != PH_NONE ||
			    (ph_objtable_pool_at(h, g + 16) && (g & 15))) {
				ok = false;
				break;
			}
			if ((err = ph_u64map_put(&seen, g, 1, &existed)))
				goto out;
			if (existed)
				ok = false;
		}
	}
	if (!ok) {
		gcw_undo(h, &c[0]);
		gcw_undo(h, &c[1]);
		goto out;
	}
	/* the backward thread's mark, gone */
	for (size_t i = 0; i < bend; i++)
		if (c[1].nodes[i] & 1) {
			uint32_t k = ph_objtable_lookup(
				h, (c[1].nodes[i] & ~1ULL) + 16);
			h->flags[k] &= (uint8_t)~GCW_BACK;
		}
	h->n_gc += c[0].claimed + c[1].claimed;
	*ret_done = true;
	for (size_t j = 0; j < c[0].n + bend && !err; j++) {
		uint64_t g = j < c[0].n ? c[0].nodes[j]
					: c[1].nodes[bend - 1 - (j - c[0].n)];
		if (g & 1)
			continue;
		bool added;
		const uint64_t *hdr = ph_mem_ptr(h->mem, g + 16, 16);
		err = walk_gc_add(h, g + 16, hdr, flag, &added);
	}
out:
	free(c[0].nodes);
	free(c[1].nodes);
	ph_u64map_free(&seen);
	return err;
}

static struct ph_error *walk_gc_list(struct ph_heap *h, uint64_t head,
				     uint64_t bound, unsigned gen)
{
	uint64_t g;
	if (!ph_mem_u64(h->mem, head, &g))
		return ph_error_create_at(PH_ERR_NOT_SAVED, head,
					  "cannot read the GC list head at "
					  "0x%llx",
					  (unsigned long long)head);
	g &= ~3ULL;
	for (uint64_t steps = 0; g != head; steps++) {
		if (!(steps & 0xffff) && ph_interrupted())
			return ph_error_interrupted();
		if (steps > bound || !g || (g & 7)) {
			h->gc_list_damaged++;
			if (!g)
				h->gc_zeroed_links++;
			break;
		}
		uint64_t obj = g + 16;
		const uint64_t *hdr = ph_mem_ptr(h->mem, obj, 16);
		if (!hdr) {
			h->gc_list_damaged++;
			break;
		}
		uint8_t flag = (uint8_t)(PH_OBJ_GC_LIST | (gen << 4));
		uint32_t known = ph_objtable_lookup(h, obj);
		if (known != PH_NONE && ph_type_register(h, hdr[1]) >= 0) {
			/* found by the pool scan; on two lists is a loop */
			if (h->flags[known] & PH_OBJ_GC_LIST) {
				h->gc_list_damaged++;
				break;
			}
			h->flags[known] |= flag;
			h->n_gc++;
		} else {
			bool added;
			struct ph_error *err =
				walk_gc_add(h, obj, hdr, flag, &added);
			if (err)
				return err;
			if (!added) { /* a loop in the list */
				h->gc_list_damaged++;
				break;
			}
		}
		if (!ph_mem_u64(h->mem, g, &g)) {
			h->gc_list_damaged++;
			break;
		}
		g &= ~3ULL;
	}
	return NULL;
}

/* Is there a well-formed GC list head at head: an empty circle, or links
 * to a first and last element that link back to it? */
static bool gc_head_ok(struct ph_heap *h, uint64_t head)
{
	uint64_t next, prev, back;
	if (!ph_mem_u64(h->mem, head, &next) ||
	    !ph_mem_u64(h->mem, head + 8, &prev))
		return false;
	next &= ~3ULL;
	prev &= ~3ULL;
	if (next == head)
		return prev == head;
	if (!next || (next & 7) || !prev || (prev & 7))
		return false;
	/* the first element's prev and the last one's next lead back */
	if (!ph_mem_u64(h->mem, next + 8, &back) || (back & ~3ULL) != head)
		return false;
	return ph_mem_u64(h->mem, prev, &back) && (back & ~3ULL) == head;
}

/*
 * Where the generations start in the GC state. Patch releases moved them:
 * Debian's 3.13.5 declares PyGC_Head with a smaller alignment, which puts
 * them 4 bytes earlier than 3.13.0's headers say. The heads themselves
 * tell which offset is right.
 */
static uint32_t gc_generations_offset(struct ph_heap *h, uint64_t gc)
{
	const struct ph_layout *L = h->L;
	const uint32_t tries[] = {L->gc_generations, L->gc_generations - 4,
				  L->gc_generations + 4};
	for (size_t i = 0; i < PH_ARRAY_SIZE(tries); i++) {
		bool ok = true;
		for (uint32_t g = 0; ok && g < L->gc_ngens; g++)
			ok = gc_head_ok(h,
					gc + tries[i] +
						(uint64_t)g * L->gc_gen_stride);
		if (ok) {
			h->gc_generations = tries[i];
			return tries[i];
		}
	}
	return L->gc_generations;
}

struct ph_error *ph_gc_walk_lists(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	uint64_t bound = writable_bytes(h) / 16 + 1;
	uint64_t gc = h->rt->gc_state;
	uint32_t gens = gc_generations_offset(h, gc);
	for (uint32_t g = 0; g <= L->gc_ngens; g++) {
		/* the generations, then the permanent generation (4) */
		uint64_t head =
			g < L->gc_ngens
				? gc + gens + (uint64_t)g * L->gc_gen_stride
				: gc + L->gc_permanent;
		unsigned gen = g < L->gc_ngens ? g + 1 : 4;
		bool done = false;
		struct ph_error *err =
			walk_gc_list_fast(h, head, bound, gen, &done);
		if (!err && !done)
			err = walk_gc_list(h, head, bound, gen);
		if (err)
			return err;
	}
	return NULL;
}

/*
 * discover_pymalloc.c - pymalloc, CPython's small-object allocator: its
 * pools (found by pymalloc's arena table, or by their headers), whether
 * its debug hooks wrap every block, and the objects in the pools'
 * allocated blocks, in address order, on two threads.
 */


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
 * its arena (UINT32_MAX: any). Their headers are read on two threads: the
 * first touch of every pool's page is most of the cost.
 */
struct pool_cand {
	uint64_t addr;
	uint32_t arena;
};

struct pools_ctx {
	struct ph_heap *h;
	const struct pool_cand *cand;
	size_t lo, hi;
	struct ph_pool *pools;
	size_t n, cap;
	uint64_t inconsistent;
	struct ph_error *err;
};

static void *pools_worker(void *arg)
{
	struct pools_ctx *c = arg;
	struct ph_heap *h = c->h;
	for (size_t i = c->lo; i < c->hi && !c->err; i++) {
		uint64_t p = c->cand[i].addr;
		const uint8_t *hdr = ph_mem_ptr(h->mem, p, h->L->pool_size);
		struct ph_pool pool;
		uint32_t arenaindex;
		if (!hdr)
			continue; /* not saved: counted as missing */
		memcpy(&arenaindex, hdr + 32, 4);
		if (!pool_header(h, hdr, p, &pool, &c->inconsistent) ||
		    (c->cand[i].arena != UINT32_MAX &&
		     arenaindex != c->cand[i].arena))
			continue; /* empty (free) pool */
		if ((c->err = ph_grow((void **)&c->pools, &c->cap, c->n + 1,
				      sizeof(*c->pools))))
			break;
		c->pools[c->n++] = pool;
	}
	return NULL;
}

/* The pools among the candidates, in their order. */
static struct ph_error *pools_check(struct ph_heap *h,
				    const struct pool_cand *cand, size_t n)
{
	enum { T = 2 };
	struct pools_ctx c[T];
	for (int k = 0; k < T; k++)
		c[k] = (struct pools_ctx){.h = h,
					  .cand = cand,
					  .lo = n * (size_t)k / T,
					  .hi = n * (size_t)(k + 1) / T};
	ph_run_parallel(pools_worker, c, sizeof(c[0]), T, n > 64);
	struct ph_error *err = NULL;
	for (int k = 0; k < T; k++) {
		if (!err)
			err = c[k].err;
		else
			ph_error_destroy(c[k].err);
		h->pools_inconsistent += c[k].inconsistent;
		for (size_t i = 0; i < c[k].n && !err; i++)
			err = ph_objtable_add_pool(h, &c[k].pools[i]);
		free(c[k].pools);
	}
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
	const struct ph_module *m = h->rt->pymod;
	uint64_t arenas_sym, max_sym, arenas = 0;
	uint32_t maxarenas = 0;
	*ret_err = NULL;
	if (!ph_module_symbol(m, "arenas", &arenas_sym, NULL) ||
	    !ph_module_symbol(m, "maxarenas", &max_sym, NULL) ||
	    !ph_mem_u64(h->mem, arenas_sym, &arenas) ||
	    !ph_mem_u32(h->mem, max_sym, &maxarenas) || !arenas ||
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
 * Two threads take half of the pools each and only read; what needs the
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

/* The scan of one block by a thread: reads only. *ret_newtype is a type
 * to register when the block is left for later because of it. */
/* A thread's cache of type lookups: a few types fill most blocks. */
struct type_cache {
	uint64_t addr[256];
	uint32_t tidx[256];
};

static inline uint32_t *type_lookup(struct ph_heap *h, struct type_cache *tc,
				    uint64_t tp)
{
	size_t slot = (size_t)((tp >> 4) ^ (tp >> 12)) & 255;
	if (tp && tc->addr[slot] == tp)
		return &tc->tidx[slot];
	/* a block that holds no object: its second word is often a pointer
	 * into a pool (list items), where no type ever is */
	if (!tp || (tp & 7) || ph_objtable_pool_at(h, tp))
		return NULL;
	uint32_t *v = ph_u64map_get(&h->type_index, tp);
	if (v) {
		tc->addr[slot] = tp;
		tc->tidx[slot] = *v;
	}
	return v;
}

static enum scan_result scan_block(struct ph_heap *h, struct type_cache *tc,
				   const struct ph_pool *pool, uint64_t block,
				   uint64_t *ret_obj, uint32_t *ret_tidx,
				   uint64_t *ret_newtype)
{
	uint32_t block_size = pool->block_size;
	for (size_t k = 0; k < PH_ARRAY_SIZE(scan_offsets); k++) {
		uint64_t obj = block + scan_offsets[k];
		if (scan_offsets[k] + 16 + h->block_extra > block_size)
			break;
		const uint64_t *hdr = ph_mem_ptr(h->mem, obj, 24);
		if (!hdr)
			continue;
		uint32_t *tv = type_lookup(h, tc, hdr[1]);
		if (!tv) {
			if (!type_maybe(h, hdr[1]))
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
		if (!ph_refcnt_ok(h->L, hdr[0], true) ||
		    ph_refcnt_is_pointer(h, hdr[0]))
			continue;
		if (t->fixed_need) {
			/* all ph_discover_validate_rest would check of such an
			 * object in an allocated block, where the scan found it
			 */
			uint64_t need = t->fixed_need + h->block_extra;
			if (((need + 15) & ~15ULL) != block_size)
				continue;
		} else if (!ph_discover_validate_rest(h, obj, t, true, pool))
			continue;
		*ret_obj = obj;
		*ret_tidx = *tv;
		return SCAN_FOUND;
	}
	return SCAN_NONE;
}

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
	uint64_t *size;
	size_t n, cap;
	size_t nlater; /* entries left to be done alone */
	uint64_t *newtypes;
	size_t nnew, newcap;
	uint64_t seen[1024];
	struct type_cache tc;
	struct ph_error *err;
};

static inline uint64_t scan_sizeof(struct ph_heap *h, uint64_t obj,
				   uint32_t tidx)
{
	const struct ph_type *t = &h->types[tidx];
	return t->fixed_need ? t->fixed_need : ph_obj_sizeof(h, obj, t);
}

/* One entry per allocated block at most: there is room. */
static inline void scan_push(struct scan_ctx *c, uint64_t addr, uint32_t tidx,
			     uint64_t size)
{
	c->addr[c->n] = addr;
	c->tidx[c->n] = tidx;
	c->size[c->n] = size;
	c->n++;
}

static void scan_newtype(struct scan_ctx *c, uint64_t tp)
{
	/* the same few classes come again and again: a direct-mapped set of
	 * those already listed keeps the list short (a duplicate that slips
	 * through is harmless) */
	size_t slot = (size_t)(ph_hash64(tp) % PH_ARRAY_SIZE(c->seen));
	if (!tp || c->seen[slot] == tp)
		return;
	c->seen[slot] = tp;
	if ((c->err = ph_grow((void **)&c->newtypes, &c->newcap, c->nnew + 1,
			      sizeof(*c->newtypes))))
		return;
	c->newtypes[c->nnew++] = tp;
}

static void *scan_worker(void *arg)
{
	struct scan_ctx *c = arg;
	struct ph_heap *h = c->h;
	const struct ph_layout *L = h->L;
	uint64_t obj, newtype;
	uint32_t tidx;
	if (c->second) {
		/* the blocks left, again; what is found or left stays in
		 * place, in order, and the rest is dropped */
		size_t w = 0;
		c->nlater = 0;
		for (size_t i = 0; i < c->n; i++) {
			uint64_t a = c->addr[i];
			uint32_t t = c->tidx[i];
			uint64_t sz = c->size[i];
			if (a & 1) {
				uint64_t block = a & ~1ULL;
				const struct ph_pool *p =
					ph_objtable_pool_at(h, block);
				switch (scan_block(h, &c->tc, p, block, &obj,
						   &tidx, &newtype)) {
				case SCAN_FOUND:
					ph_objtable_mark(h, obj);
					a = obj;
					t = tidx;
					sz = scan_sizeof(h, obj, t);
					break;
				case SCAN_LATER: /* alone, in order */
					c->nlater++;
					break;
				case SCAN_NONE:
					continue;
				}
			}
			c->addr[w] = a;
			c->tidx[w] = t;
			c->size[w] = sz;
			w++;
		}
		c->n = w;
		return NULL;
	}
	for (size_t i = c->lo; i < c->hi && !c->err; i++) {
		if (!(i & 1023) && ph_interrupted())
			return NULL;
		struct ph_pool *pool = &h->pools[i];
		for (uint32_t b = 0; b < pool->nblocks && !c->err; b++) {
			if ((pool->free_bits[b / 64] >> (b % 64)) & 1)
				continue;
			/* the data: past the debug hooks' header, if any */
			uint64_t block = pool->addr + L->pool_overhead +
					 (uint64_t)b * pool->block_size +
					 h->block_head;
			switch (scan_block(h, &c->tc, pool, block, &obj, &tidx,
					   &newtype)) {
			case SCAN_FOUND:
				pool->obj_bits[(obj - pool->addr) / 16 / 64] |=
					1ULL << ((obj - pool->addr) / 16 % 64);
				/* its size now, while it is in the cache */
				scan_push(c, obj, tidx,
					  scan_sizeof(h, obj, tidx));
				break;
			case SCAN_LATER:
				scan_push(c, block | 1, 0, 0);
				scan_newtype(c, newtype);
				c->nlater++;
				break;
			case SCAN_NONE:
				break;
			}
		}
	}
	return NULL;
}

static void scan_run(struct scan_ctx *c, size_t nc, bool threads)
{
	ph_run_parallel(scan_worker, c, sizeof(*c), nc, threads);
}

/*
 * Before the threads: the types of the first blocks of every pool,
 * registered. Classes' instances are spread over many pools, so this finds
 * nearly every class the threads would otherwise leave for a second pass.
 */
static void scan_sample_types(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	for (size_t i = 0; i < h->npools; i++) {
		const struct ph_pool *pool = &h->pools[i];
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
				if (!ph_u64map_get(&h->type_index, tp) &&
				    type_maybe(h, tp))
					ph_type_register(h, tp);
			}
		}
	}
}

/* Registers a type the threads met, or remembers that it is none. */
static struct ph_error *scan_register(struct ph_heap *h, uint64_t tp)
{
	if (ph_type_register(h, tp) >= 0)
		return NULL;
	return ph_u64map_put(&h->scan_rejected, tp, 1, NULL);
}

/* A block the threads left twice, done alone: what its scan waits for is
 * registered (or rejected) first, a few times at most (one for each place
 * an object may start in it). */
static struct ph_error *scan_block_alone(struct ph_heap *h,
					 struct type_cache *tc, uint64_t block)
{
	const struct ph_pool *pool = ph_objtable_pool_at(h, block);
	for (size_t tries = 0; tries <= PH_ARRAY_SIZE(scan_offsets); tries++) {
		uint64_t obj, newtype = 0;
		uint32_t tidx;
		struct ph_error *err;
		switch (scan_block(h, tc, pool, block, &obj, &tidx, &newtype)) {
		case SCAN_NONE:
			return NULL;
		case SCAN_FOUND:
			err = ph_objtable_add(h, obj, tidx, PH_OBJ_POOL_SCAN,
					      NULL);
			if (!err)
				h->n_pool++;
			return err;
		case SCAN_LATER:
			if ((err = scan_register(h, newtype)))
				return err;
			break;
		}
	}
	return NULL;
}

static struct ph_error *scan_pools(struct ph_heap *h)
{
	enum { T = 2 };
	struct scan_ctx c[T];
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
	if ((err = ph_objtable_reserve(h, start - h->n)))
		return err;
	for (int k = 0; k < T; k++) {
		c[k].addr = h->addr + c[k].start;
		c[k].tidx = h->tidx + c[k].start;
		c[k].size = h->size + c[k].start;
	}
	scan_sample_types(h);
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
		for (size_t i = 0; i < c[k].nnew; i++)
			if ((err = scan_register(h, c[k].newtypes[i])))
				goto out;
		nnew += c[k].nnew;
	}
	if (nnew) {
		for (int k = 0; k < T; k++)
			c[k].second = true;
		scan_run(c, T, threads);
	}

	/* Joined in address order; what is left is done here. The table is
	 * written below where it is read (each entry gives one object at
	 * most), so it is done in place. */
	for (int k = 0; k < T; k++) {
		for (size_t i = 0; i < c[k].n;) {
			/* a run of objects the thread found (pool bits set) */
			size_t j = i;
			while (j < c[k].n && !(c[k].addr[j] & 1))
				j++;
			if (j > i) {
				size_t run = j - i;
				memmove(h->addr + h->n, c[k].addr + i,
					run * sizeof(*h->addr));
				memmove(h->tidx + h->n, c[k].tidx + i,
					run * sizeof(*h->tidx));
				memmove(h->size + h->n, c[k].size + i,
					run * sizeof(*h->size));
				memset(h->flags + h->n, PH_OBJ_POOL_SCAN, run);
				h->n += run;
				h->n_pool += run;
			}
			if (j < c[k].n) {
				/* read before anything is written over it */
				uint64_t block = c[k].addr[j] & ~1ULL;
				if ((err = scan_block_alone(h, &c[k].tc,
							    block)))
					goto out;
				j++;
			}
			i = j;
		}
	}
out:
	for (int k = 0; k < T; k++) {
		free(c[k].newtypes);
		if (c[k].err && c[k].err != err)
			ph_error_destroy(c[k].err);
	}
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
