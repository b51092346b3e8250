/* graph_cycles.c - the cycles of the graph: its strongly connected
 * components (Tarjan's algorithm, iterative), the collector's view of what
 * is unreachable, and the shortest loop through a component. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "graph.h"

static int64_t refcnt_of(struct ph_heap *h, uint32_t o)
{
	return ph_obj_refcnt(h, h->addr[o]) -
	       ph_obj_refcnt_unheld(h, h->addr[o]);
}

/* ---- the collector's view: what gc.collect() would free --------------- */

/*
 * As CPython's collector does: among tracked objects, subtract the
 * references they hold to each other from their refcounts; what is left
 * over is held from outside (C code, frames, the interpreter) and is
 * alive, with everything it reaches. The rest is garbage. Returns a bitmap
 * by object number: 1 = unreachable.
 */
/* On a generation's list, and not the permanent one gc.freeze() fills:
 * what gc.collect() looks at. */
static inline bool collectable(const struct ph_heap *h, size_t i)
{
	return (h->flags[i] & PH_OBJ_GC_LIST) &&
	       ((h->flags[i] >> 4) & 7) != PH_GEN_PERMANENT;
}

uint8_t *ph_graph_gc_unreachable(struct ph_graph *g, struct ph_error **ret_err)
{
	struct ph_heap *h = g->h;
	size_t n = h->n;
	/* (a word per object: ph_big_alloc's pages, not malloc's) */
	const size_t refs_bytes = (n + 1) * sizeof(int64_t),
		     stack_bytes = (n + 1) * sizeof(uint32_t);
	int64_t *gc_refs = ph_big_alloc(refs_bytes);
	uint8_t *dead = calloc(n + 1, 1);
	uint32_t *stack = ph_big_alloc(stack_bytes);
	uint8_t *untracked_now = ph_big_zalloc(n + 1);
#define COLLECTABLE(i) (collectable(h, i) && !untracked_now[i])
	if (!gc_refs || !dead || !stack || !untracked_now) {
		ph_big_free(untracked_now, n + 1);
		ph_big_free(gc_refs, refs_bytes);
		free(dead);
		ph_big_free(stack, stack_bytes);
		*ret_err = ph_error_nomem();
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		gc_refs[i] = COLLECTABLE(i) ? refcnt_of(h, (uint32_t)i) : 0;
	/* The free-threaded collector untracks, as it counts references,
	 * every referenced tuple that holds nothing the collector may track
	 * (_PyTuple_MaybeUntrack in update_refs): freed with the garbage,
	 * but not counted as such. */
	for (size_t i = 0; h->L->free_threaded && i < n; i++) {
		if (!gc_refs[i] ||
		    ph_obj_type(h, i)->addr != h->rt->kind_types[PH_KIND_TUPLE])
			continue;
		bool may_track = false;
		for (uint64_t e = g->fwd_off[i];
		     e < g->fwd_off[i + 1] && !may_track; e++) {
			uint32_t v = g->fwd[e];
			const struct ph_type *vt = ph_obj_type(h, v);
			if (h->addr[v] == vt->addr && v != i)
				continue; /* its type */
			if (vt->addr == h->rt->kind_types[PH_KIND_TUPLE])
				may_track = (h->flags[v] & PH_OBJ_GC_LIST) != 0;
			else
				may_track = ph_obj_is_gc(h, h->addr[v], vt);
		}
		if (!may_track) {
			untracked_now[i] = 1;
			gc_refs[i] = 0;
		}
	}
	/* A refcount no process reaches (damage) is taken as held from
	 * outside: the object stays alive, and no sum overflows. */
	for (size_t i = 0; i < n; i++)
		if (gc_refs[i] < 0 || gc_refs[i] > (1LL << 48))
			gc_refs[i] = 1LL << 48;
	for (size_t i = 0; i < n; i++) {
		if (!COLLECTABLE(i))
			continue;
		for (uint64_t e = g->fwd_off[i]; e < g->fwd_off[i + 1]; e++)
			if (COLLECTABLE(g->fwd[e]))
				gc_refs[g->fwd[e]]--;
	}
	/* Edges the collector's traversal does not visit: a heap type's
	 * __slots__ and __subclasses__ (type_traverse skips them). */
	const struct ph_layout *L = h->L;
	for (size_t i = 0; i < n; i++) {
		const struct ph_type *t = ph_obj_type(h, i);
		if (!COLLECTABLE(i) || t->kind != PH_KIND_TYPE)
			continue;
		uint64_t fl = 0, v = 0;
		ph_mem_u64(h->mem, h->addr[i] + L->tp_flags, &fl);
		if (!(fl & PH_TPFLAGS_HEAPTYPE))
			continue;
		uint32_t offs[] = {L->ht_slots, L->tp_subclasses};
		for (size_t k = 0; k < PH_ARRAY_SIZE(offs); k++) {
			if (!ph_mem_u64(h->mem, h->addr[i] + offs[k], &v) || !v)
				continue;
			uint32_t to = ph_heap_lookup(h, v);
			if (to != PH_NONE && COLLECTABLE(to))
				gc_refs[to]++;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (COLLECTABLE(i) && gc_refs[i] <= 0)
			dead[i] = 1;
	/* What the objects referenced from outside reach is alive: their
	 * edges are read in order, as one stream, and only what they rescue
	 * goes through the stack. Untracked objects are never garbage by
	 * themselves; what they reach is alive when they are (they were
	 * reached from outside). So are frozen objects (gc.freeze()): the
	 * collector never looks at the permanent generation, and their
	 * references count as held from outside. */
	for (size_t i = 0; i < n; i++) {
		if (!COLLECTABLE(i) || gc_refs[i] <= 0)
			continue;
		for (uint64_t e = g->fwd_off[i]; e < g->fwd_off[i + 1]; e++) {
			uint32_t v = g->fwd[e];
			if (!dead[v])
				continue;
			size_t top = 0;
			dead[v] = 0;
			stack[top++] = v;
			while (top) {
				uint32_t u = stack[--top];
				for (uint64_t f = g->fwd_off[u];
				     f < g->fwd_off[u + 1]; f++) {
					uint32_t x = g->fwd[f];
					if (dead[x]) {
						dead[x] = 0;
						stack[top++] = x;
					}
				}
			}
		}
	}
#undef COLLECTABLE
	ph_big_free(untracked_now, n + 1);
	ph_big_free(gc_refs, refs_bytes);
	ph_big_free(stack, stack_bytes);
	return dead;
}

/* ---- strongly connected components (Tarjan, iterative) ---------------- */

struct ph_error *ph_graph_scc(struct ph_graph *g, struct ph_scc *res)
{
	size_t n = g->h->n;
	/* (the search's arrays, a word per object: ph_big_alloc's pages,
	 * not malloc's; comp is the result's) */
	const size_t w4 = (n + 1) * sizeof(uint32_t),
		     w8 = (n + 1) * sizeof(uint64_t);
	uint32_t *index = ph_big_alloc(w4);
	uint32_t *low = ph_big_alloc(w4);
	uint32_t *stack = ph_big_alloc(w4);
	uint32_t *call = ph_big_alloc(w4);
	uint64_t *edge = ph_big_alloc(w8);
	uint32_t *comp = malloc(w4);
	uint8_t *on = ph_big_zalloc(n + 1);
#define SCC_FREE()                                                             \
	(ph_big_free(index, w4), ph_big_free(low, w4), ph_big_free(stack, w4), \
	 ph_big_free(call, w4), ph_big_free(edge, w8), ph_big_free(on, n + 1))
	if (!index || !low || !stack || !call || !edge || !comp || !on) {
		SCC_FREE();
		free(comp);
		return ph_error_nomem();
	}
	memset(index, 0xff, n * sizeof(*index));
	uint32_t next = 0, ncomp = 0;
	size_t sp = 0, cp = 0;
	ph_progress_stage("finding cycles", n);
	for (size_t root = 0; root < n; root++) {
		if (!(root & 0xffff) &&
		    (ph_progress_done(root), ph_interrupted()))
			break;
		if (index[root] != PH_NONE)
			continue;
		call[cp] = (uint32_t)root;
		edge[cp++] = g->fwd_off[root];
		index[root] = low[root] = next++;
		stack[sp++] = (uint32_t)root;
		on[root] = 1;
		while (cp) {
			uint32_t u = call[cp - 1];
			if (edge[cp - 1] < g->fwd_off[u + 1]) {
				uint32_t v = g->fwd[edge[cp - 1]++];
				if (index[v] == PH_NONE) {
					index[v] = low[v] = next++;
					stack[sp++] = v;
					on[v] = 1;
					call[cp] = v;
					edge[cp++] = g->fwd_off[v];
				} else if (on[v] && index[v] < low[u])
					low[u] = index[v];
				continue;
			}
			cp--;
			if (cp && low[u] < low[call[cp - 1]])
				low[call[cp - 1]] = low[u];
			if (low[u] != index[u])
				continue;
			/* u roots a component: pop it. */
			size_t start = sp;
			while (stack[start - 1] != u)
				start--;
			start--;
			bool self = false;
			for (uint64_t e = g->fwd_off[u]; e < g->fwd_off[u + 1];
			     e++)
				if (g->fwd[e] == u)
					self = true;
			bool cyclic = sp - start > 1 || self;
			for (size_t k = start; k < sp; k++) {
				on[stack[k]] = 0;
				comp[stack[k]] = cyclic ? ncomp : PH_NONE;
			}
			if (cyclic)
				ncomp++;
			sp = start;
		}
	}
	SCC_FREE();
#undef SCC_FREE
	if (ph_interrupted()) {
		free(comp);
		return ph_error_interrupted();
	}
	res->comp = comp;
	res->ncomp = ncomp;
	return NULL;
}

/* The shortest loop from first back to itself inside its component. */
/* The search's predecessors: the first few in an array searched in turn
 * (most cycles are a handful of objects: a map of its own for each cost
 * 12 KiB of zeroing, a third of a cycles --json of 8,000 cycles), the
 * others in a map. */
#define PREV_SMALL 32

struct prev_map {
	uint32_t key[PREV_SMALL], val[PREV_SMALL];
	size_t n;
	struct ph_u64map big;
};

static uint32_t *prev_get(struct prev_map *p, uint32_t k)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->key[i] == k)
			return &p->val[i];
	return p->big.count ? ph_u64map_get(&p->big, (uint64_t)k + 1) : NULL;
}

static bool prev_put(struct prev_map *p, uint32_t k, uint32_t v)
{
	if (p->n < PREV_SMALL) {
		p->key[p->n] = k;
		p->val[p->n++] = v;
		return true;
	}
	return !ph_u64map_put(&p->big, (uint64_t)k + 1, v, NULL);
}

size_t ph_graph_scc_loop(struct ph_graph *g, const uint64_t *in, uint32_t first,
			 uint32_t *loop, size_t max)
{
	/* BFS over the component; prev[] kept in a hash map (components can
	 * be large, but BFS touches only their members). */
	struct prev_map prev;
	prev.n = 0;
	ph_u64map_init(&prev.big);
	uint32_t *queue = malloc(64 * sizeof(*queue));
	size_t qcap = 64, head = 0, tail = 0;
	uint32_t end = PH_NONE;
	size_t n = 0;
	if (!queue)
		return 0;
	queue[tail++] = first;
	while (head < tail && end == PH_NONE) {
		uint32_t u = queue[head++];
		for (uint64_t e = g->fwd_off[u]; e < g->fwd_off[u + 1]; e++) {
			uint32_t v = g->fwd[e];
			if (!(in[v >> 6] >> (v & 63) & 1))
				continue;
			if (v == first) {
				end = u;
				break;
			}
			if (prev_get(&prev, v))
				continue;
			if (!prev_put(&prev, v, u))
				goto out;
			if (tail == qcap) {
				uint32_t *q =
					realloc(queue, 2 * qcap * sizeof(*q));
				if (!q)
					goto out;
				queue = q;
				qcap *= 2;
			}
			queue[tail++] = v;
		}
	}
	if (end != PH_NONE) {
		/* end -> first closes the loop; walk back from end. */
		uint32_t cur = end;
		while (n < max) {
			loop[n++] = cur;
			if (cur == first)
				break;
			uint32_t *p = prev_get(&prev, cur);
			if (!p)
				break;
			cur = *p;
		}
		for (size_t i = 0; i < n / 2; i++) {
			uint32_t t = loop[i];
			loop[i] = loop[n - 1 - i];
			loop[n - 1 - i] = t;
		}
	}
out:
	free(queue);
	ph_u64map_free(&prev.big);
	return n;
}

/* ---- both, one on each core -------------------------------------------- */

struct cycles_work {
	struct ph_graph *g;
	bool scc; /* Tarjan, else the collector's view */
	struct ph_scc sc;
	uint8_t *dead;
	struct ph_error *err;
};

static void *cycles_worker(void *arg)
{
	struct cycles_work *w = arg;
	if (w->scc)
		w->err = ph_graph_scc(w->g, &w->sc);
	else
		w->dead = ph_graph_gc_unreachable(w->g, &w->err);
	return NULL;
}

struct ph_error *ph_graph_cycles(struct ph_graph *g, struct ph_scc *ret_scc,
				 uint8_t **ret_dead)
{
	/* The components and the collector's view only read the graph: one
	 * on each core. */
	struct cycles_work cw[2] = {{.g = g, .scc = true}, {.g = g}};
	ph_run_parallel(cycles_worker, cw, sizeof(cw[0]), 2, g->h->n > 100000);
	if (cw[0].err || cw[1].err) {
		struct ph_error *err = cw[0].err ? cw[0].err : cw[1].err;
		ph_error_destroy(cw[0].err ? cw[1].err : NULL);
		free(cw[0].sc.comp);
		free(cw[1].dead);
		return err;
	}
	*ret_scc = cw[0].sc;
	*ret_dead = cw[1].dead;
	return NULL;
}
