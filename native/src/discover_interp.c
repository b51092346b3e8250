/* discover_interp.c - which interpreter each object belongs to, when the
 * process has more than one (subinterpreters, 3.12+ isolated ones with
 * their own GIL and allocator).
 *
 * PEP 684's isolation decides it: a mortal object is allocated by one
 * interpreter and referenced only by its objects; only immortal ones
 * (static types, small ints, singletons, 3.12's interned strings) are
 * shared. So, in this order, each step for the objects the ones before it
 * left open:
 *   1. the GC lists: an interpreter's tracked objects are on its lists
 *      (not in 3.8, whose one GC state is the runtime's);
 *   2. an isolated interpreter's arena table: the objects in its pools;
 *      free-threaded, the mimalloc pages of its thread states' heaps and
 *      of its abandoned pool (every interpreter's: mimalloc's heaps are
 *      a thread state's);
 *   3. what a subinterpreter's objects, modules, sys, builtins and frames
 *      reach (a breadth-first walk that enters no object already decided,
 *      and no immortal one);
 *   4. the rest: the main interpreter's, or shared when immortal or
 *      static (in a file's memory).
 */
#include <stdlib.h>
#include <string.h>

#include "discover.h"

static bool is_shared(struct ph_heap *h, uint32_t o)
{
	uint64_t a = h->addr[o], w;
	if (ph_heap_obj_in_image(h, o))
		return true;
	/* free-threaded: ob_ref_local all ones (its first word is ob_tid,
	 * the owning thread's id, which says nothing of it) */
	if (h->L->free_threaded)
		return ph_mem_u64(h->mem, a + 8, &w) &&
		       (uint32_t)(w >> 32) == UINT32_MAX;
	/* 3.12+: a refcount whose low 32 bits are negative is immortal */
	return h->L->immortal && ph_mem_u64(h->mem, a, &w) && (int32_t)w < 0;
}

/* Step 1: the objects on one GC state's lists. */
static void mark_gc_lists(struct ph_heap *h, uint64_t gc, uint8_t k)
{
	const struct ph_layout *L = h->L;
	uint32_t gens =
		h->gc_generations ? h->gc_generations : L->gc_generations;
	for (uint32_t g = 0; g <= L->gc_ngens; g++) {
		uint64_t head =
			g < L->gc_ngens
				? gc + gens + (uint64_t)g * L->gc_gen_stride
				: gc + L->gc_permanent;
		uint64_t p;
		if (!ph_mem_u64(h->mem, head, &p))
			continue;
		/* bounded: the lists were walked (and checked) already */
		for (uint64_t steps = 0; steps <= h->n; steps++) {
			p &= ~3ULL;
			if (p == head || !p || (p & 7))
				break;
			uint32_t o = ph_objtable_lookup(h, p + 16);
			if (o != PH_NONE && h->interp[o] == PH_INTERP_SHARED)
				h->interp[o] = k;
			if (!ph_mem_u64(h->mem, p, &p))
				break;
		}
	}
}

struct arena {
	uint64_t start, end;
	uint8_t k;
};

static int arena_cmp(const void *a, const void *b)
{
	const struct arena *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Step 2: the arenas of every isolated interpreter's allocator
 * (_obmalloc_state: mgmt.arenas at 512, mgmt.maxarenas at 520, 48-byte
 * arena_objects whose first word is the arena's address, 0 if unused). */
static struct ph_error *mark_own_arenas(struct ph_heap *h)
{
	struct arena *ar = NULL;
	size_t n = 0, cap = 0;
	struct ph_error *err = NULL;
	for (size_t k = 1; k < h->rt->ninterps; k++) {
		const struct ph_interp *it = &h->rt->interps[k];
		uint64_t arenas = 0;
		uint32_t max = 0;
		if (!it->own_obmalloc ||
		    !ph_mem_u64(h->mem, it->obmalloc + 512, &arenas) ||
		    !ph_mem_u32(h->mem, it->obmalloc + 520, &max) || !arenas ||
		    max > (1U << 20))
			continue;
		const uint8_t *tab =
			ph_mem_ptr(h->mem, arenas, (size_t)max * 48);
		for (uint32_t i = 0; tab && i < max; i++) {
			uint64_t a;
			memcpy(&a, tab + (size_t)i * 48, 8);
			if (!a)
				continue;
			if ((err = ph_grow((void **)&ar, &cap, n + 1,
					   sizeof(*ar))))
				goto out;
			ar[n++] = (struct arena){a, a + h->L->arena_size,
						 (uint8_t)k};
		}
	}
	if (!n)
		goto out;
	qsort(ar, n, sizeof(*ar), arena_cmp);
	for (size_t o = 0; o < h->n; o++) {
		if (h->interp[o] != PH_INTERP_SHARED)
			continue;
		uint64_t a = h->addr[o];
		size_t lo = 0, hi = n;
		while (lo < hi) { /* the last arena starting at or before a */
			size_t mid = (lo + hi) / 2;
			if (ar[mid].start <= a)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo && a < ar[lo - 1].end)
			h->interp[o] = ar[lo - 1].k;
	}
out:
	free(ar);
	return err;
}

/* Step 2, free-threaded: the objects of each page whose heap was an
 * interpreter's (numbered from the page's first, in its bitmap). */
static void mark_own_pages(struct ph_heap *h)
{
	for (size_t i = 0; i < h->nmi_pages; i++) {
		const struct ph_mi_page *p = &h->mi_pages[i];
		if (p->interp >= h->rt->ninterps || !p->obj_bits)
			continue;
		uint64_t words = ((p->end - p->start) / p->bsize + 63) / 64;
		uint64_t count = 0;
		for (uint64_t w = 0; w < words; w++)
			count += ph_popcount64(p->obj_bits[w]);
		for (uint64_t o = p->first; o < p->first + count && o < h->n;
		     o++)
			if (h->interp[o] == PH_INTERP_SHARED)
				h->interp[o] = p->interp;
	}
}

struct reach_ctx {
	struct ph_heap *h;
	uint32_t *queue;
	size_t tail;
	uint8_t k;
};

static void reach_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		     uint64_t data)
{
	struct reach_ctx *c = arg;
	(void)kind;
	(void)data;
	uint32_t o = ph_objtable_lookup(c->h, target);
	if (o == PH_NONE || c->h->interp[o] != PH_INTERP_SHARED ||
	    is_shared(c->h, o))
		return;
	c->h->interp[o] = c->k;
	/* each object once: n slots suffice; leaves hold nothing to walk */
	if (!ph_obj_type(c->h, o)->leaf)
		c->queue[c->tail++] = o;
}

/* Step 3: what subinterpreter k's objects and frames reach. */
static struct ph_error *mark_reached(struct ph_heap *h, uint8_t k,
				     uint32_t *queue)
{
	const struct ph_layout *L = h->L;
	struct reach_ctx c = {.h = h, .queue = queue, .k = k};
	for (size_t o = 0; o < h->n; o++)
		if (h->interp[o] == k && !ph_obj_type(h, o)->leaf)
			queue[c.tail++] = (uint32_t)o;
	/* its modules, sys and builtins (3.8: its only way in, its tracked
	 * objects being on the runtime's one set of lists) */
	const uint32_t roots[] = {L->is_modules, L->is_sysdict, L->is_builtins};
	for (size_t i = 0; i < PH_ARRAY_SIZE(roots); i++) {
		uint64_t v;
		if (ph_mem_u64(h->mem, h->rt->interps[k].addr + roots[i], &v))
			reach_cb(&c, v, PH_EDGE_FIELD, 0);
	}
	uint64_t ts = 0;
	ph_mem_u64(h->mem, h->rt->interps[k].addr + L->is_threads_head, &ts);
	for (int nt = 0; ts && nt < 100000; nt++) {
		uint64_t f = ph_heap_thread_frame(h, ts);
		for (int nf = 0; f && nf < 100000; nf++) {
			ph_heap_iframe_referents(h, f, reach_cb, &c);
			if (!ph_mem_u64(h->mem, f + L->if_previous, &f))
				f = 0;
		}
		if (!ph_mem_u64(h->mem, ts + L->ts_next, &ts))
			ts = 0;
	}
	for (size_t head = 0; head < c.tail; head++) {
		if (!(head & 0xffff) && ph_interrupted())
			return ph_error_interrupted();
		uint32_t o = queue[head];
		ph_heap_referents(h, h->addr[o], ph_tidx(h, o), reach_cb, &c);
	}
	return NULL;
}

struct ph_error *ph_discover_interps(struct ph_heap *h)
{
	const struct ph_runtime *rt = h->rt;
	if (rt->ninterps < 2 || !h->n)
		return NULL;
	h->interp = malloc(h->n);
	uint32_t *queue = malloc(h->n * sizeof(*queue));
	if (!h->interp || !queue) {
		free(queue);
		return ph_error_nomem();
	}
	memset(h->interp, PH_INTERP_SHARED, h->n);
	/* (3.8: one GC state for all, whose lists decide nothing) */
	bool shared_gc = rt->interps[1].gc_state == rt->interps[0].gc_state;
	for (size_t k = 0; !shared_gc && k < rt->ninterps; k++)
		mark_gc_lists(h, rt->interps[k].gc_state, (uint8_t)k);
	struct ph_error *err = mark_own_arenas(h);
	mark_own_pages(h);
	/* 3.8: what the main one reaches is its own first (legacy
	 * subinterpreters share its extension modules' objects) */
	for (size_t k = shared_gc ? 0 : 1; !err && k < rt->ninterps; k++)
		err = mark_reached(h, (uint8_t)k, queue);
	free(queue);
	if (err)
		return err;
	for (size_t o = 0; o < h->n; o++)
		if (h->interp[o] == PH_INTERP_SHARED &&
		    !is_shared(h, (uint32_t)o))
			h->interp[o] = 0;
	return NULL;
}
