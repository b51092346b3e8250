/* query_audit.c - the leak hunts: cycles, refcount, refcheck. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answercache.h"
#include "query.h"

static int64_t refcnt_of(struct ph_heap *h, uint32_t o)
{
	return ph_obj_refcnt(h, h->addr[o]);
}

static bool is_immortal(struct ph_heap *h, int64_t refcnt)
{
	return h->L->immortal && (int32_t)(uint32_t)refcnt < 0;
}

static uint32_t count_get(const struct ph_u64map *m, uint32_t o)
{
	uint32_t *v = ph_u64map_get(m, (uint64_t)o + 1);
	return v ? *v : 0;
}

static struct ph_obj_ref obj_ref(struct ph_heap *h, uint32_t o)
{
	return (struct ph_obj_ref){.addr = h->addr[o],
				   .type = tname(ph_obj_type(h, o))};
}

/* ---- cycles -------------------------------------------------------------- */

struct cycle {
	uint32_t id;
	uint64_t objects, bytes;
	bool unreachable;
	uint32_t finalizers;
};

static int cycle_by_bytes(const void *a, const void *b)
{
	const struct cycle *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return x->objects > y->objects ? -1 : x->objects < y->objects;
}

static int cycle_by_count(const void *a, const void *b)
{
	const struct cycle *x = a, *y = b;
	if (x->objects != y->objects)
		return x->objects > y->objects ? -1 : 1;
	return x->bytes > y->bytes ? -1 : x->bytes < y->bytes;
}

/* Whether collecting the object runs code first: a tp_del (legacy), or a
 * tp_finalize (a Python __del__, an _io object's close, a generator's or
 * coroutine's close) that has something to do: a generator's only while
 * its frame is live (created or suspended). */
static unsigned py_micro(const struct ph_heap *h)
{
	return (h->rt->hexversion >> 8) & 0xff;
}

static bool has_finalizer(struct ph_heap *h, uint32_t o)
{
	const struct ph_type *t = ph_obj_type(h, o);
	const struct ph_layout *L = h->L;
	uint64_t del = 0, fin = 0;
	ph_mem_u64(h->mem, t->addr + L->tp_del, &del);
	ph_mem_u64(h->mem, t->addr + L->tp_finalize, &fin);
	if (del)
		return true;
	if (!fin)
		return false;
	if (t->kind != PH_KIND_GEN)
		return true;
	if (L->frame_objects) { /* up to 3.10: gi_frame, NULL once done */
		uint64_t frame = 0;
		ph_mem_u64(h->mem, h->addr[o] + L->gen_frame, &frame);
		return frame != 0;
	}
	const uint8_t *state = ph_mem_ptr(h->mem, h->addr[o] + L->gen_state, 1);
	if (!state)
		return false;
	int8_t st = (int8_t)*state;
	/* 3.12 and 3.13 close a generator that never started without
	 * clearing its frame (its arguments stay: the cycle is not broken);
	 * FRAME_CREATED is -2 in 3.12, -3 in 3.13; gh-142766 fixed it in
	 * 3.13.12 (merged 2025-12-17; 3.13.0 and 3.13.5 measured) */
	if ((L->minor == 12 && st == -2) ||
	    (L->minor == 13 && st == -3 && py_micro(h) < 12))
		return false;
	return st < (L->gen_state_done ? L->gen_state_done : 1);
}

/* ---- what gc.collect() does with the unreachable set ------------------- */

/* The fate of an unreachable object in gc_collect_main (3.8-3.15). */
enum collect_fate {
	FATE_ALIVE,	/* not unreachable */
	FATE_GARBAGE,	/* final_unreachable: freed (or gc.garbage) */
	FATE_FINALIZED, /* freed by refcount once the finalizers ran */
	FATE_LEGACY,	/* a tp_del or reached from one: gc.garbage */
};

/* What a generator's (coroutine's) finalizer drops of its frame. */
enum close_mode {
	CLOSE_NONE,  /* nothing to do (finished; or never started, 3.12-3.13) */
	CLOSE_FRAME, /* the frame is cleared (its function and code too) */
	CLOSE_LOCALS, /* its locals only (and f_locals): 3.13 and 3.14's fast
			 path for a frame suspended at a plain yield outside
			 any try block, before gh-142766 */
};

/* The mode of the generator u's close (gen_close, Objects/genobject.c). */
static enum close_mode close_mode(struct ph_heap *h, uint32_t u)
{
	const struct ph_layout *L = h->L;
	if (ph_obj_type(h, u)->kind != PH_KIND_GEN || !has_finalizer(h, u))
		return CLOSE_NONE;
	unsigned micro = py_micro(h);
	if (!((L->minor == 13 && micro < 12) || (L->minor == 14 && micro < 3)))
		return CLOSE_FRAME;
	/* is_resume(frame->instr_ptr) with RESUME_OPARG_DEPTH1_MASK (4):
	 * RESUME, RESUME_CHECK, INSTRUMENTED_RESUME (3.13: 149, 207, 236;
	 * 3.14: 128, 196, 245) */
	uint64_t ip = 0;
	ph_mem_u64(h->mem, h->addr[u] + L->gen_iframe + L->if_prev_instr, &ip);
	const uint8_t *c = ip ? ph_mem_ptr(h->mem, ip, 2) : NULL;
	if (!c)
		return CLOSE_FRAME;
	bool resume = L->minor == 13
			      ? c[0] == 149 || c[0] == 207 || c[0] == 236
			      : c[0] == 128 || c[0] == 196 || c[0] == 245;
	return resume && (c[1] & 4) ? CLOSE_LOCALS : CLOSE_FRAME;
}

struct frame_targets {
	struct ph_graph *g;
	bool locals_only;
	uint32_t *v;
	size_t n, cap;
	struct ph_error *err;
};

static void frame_target_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
			    uint64_t data)
{
	struct frame_targets *f = arg;
	if (f->err || !ph_edge_is_strong(kind))
		return;
	if (f->locals_only && kind != PH_EDGE_LOCAL && kind != PH_EDGE_STACK &&
	    !(kind == PH_EDGE_FIELD &&
	      !strcmp((const char *)(uintptr_t)data, "f_locals")))
		return;
	uint32_t t = ph_graph_lookup(f->g, target);
	if (t == PH_NONE)
		return;
	if ((f->err =
		     ph_grow((void **)&f->v, &f->cap, f->n + 1, sizeof(*f->v))))
		return;
	f->v[f->n++] = t;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The references of u that survive the collection's finalizers into
 * out[]: all of them, but a generator's (coroutine's) whose close clears
 * its frame loses the frame's (up to 3.10 the frame object, gi_frame). */
static struct ph_error *kept_edges(struct ph_graph *g, uint32_t u,
				   uint8_t closing, struct frame_targets *f,
				   uint32_t **out, size_t *nout, size_t *cap)
{
	struct ph_heap *h = g->h;
	const struct ph_layout *L = h->L;
	struct ph_error *err;
	uint64_t lo = g->fwd_off[u], hi = g->fwd_off[u + 1];
	if ((err = ph_grow((void **)out, cap, hi - lo + 1, sizeof(**out))))
		return err;
	f->n = 0;
	f->locals_only = closing == CLOSE_LOCALS;
	if (closing != CLOSE_NONE) {
		if (L->frame_objects) {
			uint64_t fr = 0;
			ph_mem_u64(h->mem, h->addr[u] + L->gen_frame, &fr);
			frame_target_cb(f, fr, PH_EDGE_FIELD, 0);
		} else
			ph_heap_iframe_referents(h, h->addr[u] + L->gen_iframe,
						 frame_target_cb, f);
		if (f->err)
			return f->err;
		qsort(f->v, f->n, sizeof(*f->v), u32_cmp);
	}
	*nout = 0;
	for (uint64_t e = lo; e < hi; e++) {
		uint32_t v = g->fwd[e];
		uint32_t *p =
			f->n ? bsearch(&v, f->v, f->n, sizeof(*f->v), u32_cmp)
			     : NULL;
		if (p) { /* each frame reference drops one edge */
			memmove(p, p + 1,
				(size_t)(f->v + f->n - p - 1) * sizeof(*p));
			f->n--;
			continue;
		}
		(*out)[(*nout)++] = v;
	}
	return NULL;
}

/*
 * The fate of each unreachable object, as gc_collect_main decides it
 * (Modules/gcmodule.c 3.8-3.12, Python/gc.c 3.13+): objects with a legacy
 * tp_del, and everything they reach, go to gc.garbage (counted);
 * handle_weakrefs runs the callbacks of weakrefs outside the set; then
 * finalize_garbage runs the finalizers: a generator's or coroutine's
 * close clears its frame, which frees by refcount whatever no remaining
 * cycle of the set holds (those leave the list and are not counted); the
 * rest is final_unreachable, counted. Python code (a __del__, a finally
 * block, a callback) is assumed to drop and resurrect nothing. Returns
 * fate[] by object number; the counts into r.
 */
static struct ph_error *collect_fates(struct ph_graph *g, const uint8_t *dead,
				      struct ph_cycles_result *r, uint8_t **ret)
{
	struct ph_heap *h = g->h;
	const struct ph_layout *L = h->L;
	size_t n = h->n;
	struct ph_error *err = NULL;
	uint8_t *fate = calloc(n + 1, 1);
	/* (a word per object: ph_big_alloc's pages, not malloc's) */
	const size_t w4 = (n + 1) * sizeof(uint32_t);
	uint8_t *closing = ph_big_zalloc(n + 1);
	uint32_t *indeg = ph_big_zalloc(w4);
	uint32_t *stack = ph_big_alloc(w4);
	uint32_t *out = NULL;
	size_t nout = 0, out_cap = 0, sp = 0;
	struct frame_targets f = {.g = g};
	if (!fate || !closing || !indeg || !stack) {
		err = ph_error_nomem();
		goto out;
	}
	/* legacy finalizers and what they reach (move_legacy_finalizers,
	 * move_legacy_finalizer_reachable) */
	for (size_t i = 0; i < n; i++) {
		if (!dead[i])
			continue;
		fate[i] = FATE_GARBAGE;
		uint64_t del = 0;
		ph_mem_u64(h->mem, ph_obj_type(h, i)->addr + L->tp_del, &del);
		if (del)
			stack[sp++] = (uint32_t)i;
	}
	for (size_t k = 0; k < sp; k++)
		fate[stack[k]] = FATE_LEGACY;
	while (sp) {
		uint32_t u = stack[--sp];
		for (uint64_t e = g->fwd_off[u]; e < g->fwd_off[u + 1]; e++) {
			uint32_t v = g->fwd[e];
			if (fate[v] == FATE_GARBAGE) {
				fate[v] = FATE_LEGACY;
				stack[sp++] = v;
			}
		}
	}
	/* weakrefs outside the set, with a callback, to a member */
	for (size_t i = 0; i < n; i++) {
		const struct ph_type *t = ph_obj_type(h, i);
		if (t->kind != PH_KIND_WEAKREF || dead[i])
			continue;
		uint64_t o = 0, cb = 0;
		ph_mem_u64(h->mem, h->addr[i] + L->weakref_object, &o);
		ph_mem_u64(h->mem, h->addr[i] + L->weakref_callback, &cb);
		uint32_t oi = o ? ph_graph_lookup(g, o) : PH_NONE;
		if (cb && oi != PH_NONE && fate[oi] == FATE_GARBAGE)
			r->weakref_callbacks++;
	}
	/* finalizers: the references left once the generators are closed;
	 * what no reference holds then is freed, and what it held in turn
	 * (Kahn's peeling: what stays is in a cycle or held by one) */
	for (size_t i = 0; i < n; i++)
		closing[i] = fate[i] == FATE_GARBAGE
				     ? (uint8_t)close_mode(h, (uint32_t)i)
				     : CLOSE_NONE;
	for (size_t i = 0; i < n; i++) {
		if (fate[i] != FATE_GARBAGE)
			continue;
		if ((err = kept_edges(g, (uint32_t)i, closing[i], &f, &out,
				      &nout, &out_cap)))
			goto out;
		for (size_t k = 0; k < nout; k++)
			if (fate[out[k]] == FATE_GARBAGE)
				indeg[out[k]]++;
	}
	for (size_t i = 0; i < n; i++)
		if (fate[i] == FATE_GARBAGE && !indeg[i])
			stack[sp++] = (uint32_t)i;
	while (sp) {
		uint32_t u = stack[--sp];
		fate[u] = FATE_FINALIZED;
		if ((err = kept_edges(g, u, closing[u], &f, &out, &nout,
				      &out_cap)))
			goto out;
		for (size_t k = 0; k < nout; k++)
			if (fate[out[k]] == FATE_GARBAGE && !--indeg[out[k]])
				stack[sp++] = out[k];
	}
out:
	free(f.v);
	free(out);
	ph_big_free(stack, w4);
	ph_big_free(indeg, w4);
	ph_big_free(closing, n + 1);
	if (err) {
		free(fate);
		return err;
	}
	*ret = fate;
	return NULL;
}

struct cycles_build {
	struct ph_cycles_result *r;
	size_t types_cap, members_cap, loop_cap;
};

/* The kept cycle c into the result: its first members cm[0..nm) (at
 * most PH_CYCLE_MEMBERS_MAX), its types seen[0..nseen) in the order first
 * met with their counts in tcount (set back to zero here). */
static struct ph_error *cycle_add(struct cycles_build *b, struct ph_heap *h,
				  const struct cycle *c, const uint32_t *cm,
				  size_t nm, const uint32_t *seen, size_t nseen,
				  uint32_t *tcount)
{
	struct ph_cycles_result *r = b->r;
	struct ph_error *err;
	struct ph_cycle *out = &r->cycles[r->shown++];
	*out = (struct ph_cycle){.objects = c->objects,
				 .bytes = c->bytes,
				 .unreachable = c->unreachable,
				 .finalizers = c->finalizers,
				 .loop = r->nloop_all};
	if ((err = ph_grow((void **)&r->types, &b->types_cap,
			   r->ntypes_all + nseen, sizeof(*r->types))))
		return err;
	out->types = r->ntypes_all;
	out->ntypes = nseen;
	for (size_t k = 0; k < nseen; k++) {
		uint32_t ti = seen[k];
		r->types[r->ntypes_all++] = (struct ph_cycle_type){
			.name = tname(&h->types[ti]), .count = tcount[ti]};
		tcount[ti] = 0;
	}
	if ((err = ph_grow((void **)&r->members, &b->members_cap,
			   r->nmembers_all + nm, sizeof(*r->members))))
		return err;
	out->members = r->nmembers_all;
	out->nmembers = nm;
	for (size_t i = 0; i < nm; i++)
		r->members[r->nmembers_all++] = h->addr[cm[i]];
	return NULL;
}

/* A step of the last cycle added's loop: o, by the reference via */
static struct ph_error *cycle_step(struct cycles_build *b, struct ph_heap *h,
				   uint32_t o, const char *via, size_t len)
{
	struct ph_cycles_result *r = b->r;
	struct ph_error *err = ph_grow((void **)&r->loop, &b->loop_cap,
				       r->nloop_all + 1, sizeof(*r->loop));
	if (err)
		return err;
	r->loop[r->nloop_all++] = (struct ph_path_step){
		.obj = obj_ref(h, o), .via = ph_strings_add(&r->str, via, len)};
	r->cycles[r->shown - 1].nloop++;
	return NULL;
}

/* What cycles computes for the whole heap, whatever its options, kept in
 * the answers' cache (answercache.c) so that a later run reads it: the
 * objects on a cycle or unreachable in object order (marked) and their
 * fates, with FATE_FIN where collecting one runs a finalizer; the
 * components' members grouped (positions in marked, ascending within a
 * component, start[c] the first of component c's); and each component's
 * bytes, finalizers and whether all of it is unreachable, over every
 * interpreter. A run without --interp takes no pass over every object nor
 * every member. */
#define FATE_FIN 4
#define CY_FORMAT 3
#define CY_SECS 12

struct cy_comp {
	uint64_t bytes;
	uint32_t finalizers, unreachable;
};

/* What gc.collect() would free, and how */
struct cy_unreachable {
	uint64_t objects, bytes, finalizers, by_finalizers, legacy;
};

/* A type of a component and how many of its objects are of it */
struct cy_tally {
	uint32_t type, count;
};

struct cy_facts {
	const uint32_t *marked;
	const uint8_t *mfate;
	size_t nmarked;
	const uint32_t *members; /* positions in marked */
	size_t nmembers;
	const uint32_t *start; /* ncomp + 1 */
	uint32_t ncomp;
	const struct cy_comp *comp;
	uint64_t frozen; /* every interpreter's */
	uint64_t weakref_callbacks;
	struct cy_unreachable all; /* every interpreter's */
	/* each component's loop from its first member (the loop a run
	 * without --interp shows), steps loops[loop_start[c]..), the label of
	 * step k labels[label_end[k - 1] .. label_end[k]); NULL: not kept (a
	 * file past its bound without them) */
	const uint32_t *loop_start; /* ncomp + 1 */
	const uint32_t *loops;
	const uint32_t *label_end;
	const char *labels;
	/* each component's types in the order first met with their counts,
	 * tallies[tally_start[c]..) (kept with the loops) */
	const uint32_t *tally_start;
	const struct cy_tally *tallies;
	/* gc.garbage's references, its type's too */
	const uint32_t *garbage;
	size_t ngarbage;
	struct ph_answers a; /* when read */
	bool read;
	void *own[CY_SECS]; /* when computed */
};

static void cy_facts_free(struct cy_facts *f)
{
	if (f->read)
		ph_answercache_release(&f->a);
	for (int k = 0; k < CY_SECS; k++)
		free(f->own[k]);
}

static uint64_t frozen_count(const struct ph_heap *h, int only_interp)
{
	uint64_t frozen = 0;
	for (size_t i = 0; i < h->n; i++)
		frozen += (h->flags[i] & PH_OBJ_GC_LIST) &&
			  ((h->flags[i] >> 4) & 7) == PH_GEN_PERMANENT &&
			  (only_interp < 0 ||
			   ph_heap_interp(h, i) == (unsigned)only_interp);
	return frozen;
}

/* Of the marked objects, s's (NULL: all) */
static struct cy_unreachable
unreachable_of(const struct ph_heap *h, struct ph_session *s,
	       const uint32_t *marked, const uint8_t *mfate, size_t nmarked)
{
	struct cy_unreachable u = {0};
	for (size_t k = 0; k < nmarked; k++) {
		uint32_t i = marked[k];
		uint8_t fa = mfate[k];
		if ((fa & 3) == FATE_ALIVE || (s && !ph_session_keeps(s, i)))
			continue;
		u.objects++;
		u.bytes += ph_heap_obj_size(h, i);
		u.finalizers += (fa & FATE_FIN) != 0;
		u.by_finalizers += (fa & 3) == FATE_FINALIZED;
		u.legacy += (fa & 3) == FATE_LEGACY;
	}
	return u;
}

/* What a run reads of every cycles file: the sizes, the components'
 * starts, the loops, labels, tallies and gc.garbage's references (each
 * section's bytes checked before it is read: this runs on bytes not yet
 * summed too) */
static bool cy_sizes(const struct ph_answers *a, const struct ph_heap *h)
{
	uint64_t m = a->val[0], ncomp = a->val[1], mm = a->val[3];
	uint64_t nloop = a->val[5], ng = a->val[6], nt = a->val[13];
	const uint32_t *start = a->sec[3], *ls = a->sec[5], *le = a->sec[7],
		       *ts = a->sec[10];
	const struct cy_tally *tl = a->sec[11];
	bool ok = m <= h->n && ncomp <= mm && mm <= m && a->val[4] <= h->n &&
		  a->bytes[0] == m * 4 && a->bytes[1] == m &&
		  a->bytes[2] == mm * 4 && a->bytes[3] == (ncomp + 1) * 4 &&
		  a->bytes[4] == ncomp * sizeof(struct cy_comp) &&
		  start[0] == 0 && start[ncomp] == mm &&
		  a->bytes[9] == ng * 4 &&
		  ph_answercache_below(a->sec[9], ng, (uint32_t)h->n, 0);
	for (uint64_t c = 0; ok && c < ncomp; c++)
		ok = start[c] < start[c + 1];
	if (!ok || !a->val[7]) {
		for (int i = 5; ok && i < CY_SECS; i++)
			ok = i == 9 || !a->bytes[i];
		return ok;
	}
	ok = a->bytes[5] == (ncomp + 1) * 4 && a->bytes[6] == nloop * 4 &&
	     a->bytes[7] == nloop * 4 && ls[0] == 0 && ls[ncomp] == nloop &&
	     ph_answercache_below(a->sec[6], nloop, (uint32_t)h->n, 0) &&
	     a->bytes[10] == (ncomp + 1) * 4 &&
	     a->bytes[11] == nt * sizeof(*tl) && ts[0] == 0 &&
	     ts[ncomp] == nt && h->ntypes;
	/* (a component's types: at most every type once, as a run keeps
	 * them in an array of one entry a type) */
	for (uint64_t c = 0; ok && c < ncomp; c++)
		ok = ls[c] <= ls[c + 1] &&
		     ls[c + 1] - ls[c] <= PH_CYCLE_LOOP_MAX &&
		     ts[c] < ts[c + 1] && ts[c + 1] - ts[c] <= h->ntypes;
	for (uint64_t k = 0; ok && k < nloop; k++)
		ok = (k ? le[k - 1] : 0) <= le[k] && le[k] <= a->bytes[8];
	for (uint64_t k = 0; ok && k < nt; k++)
		ok = tl[k].type < h->ntypes;
	return ok;
}

/* The marked objects and the members, every one (after cy_sizes) */
static bool cy_whole(const struct ph_answers *a, const struct ph_heap *h)
{
	uint64_t m = a->val[0], mm = a->val[3];
	return ph_answercache_below(a->sec[0], m, (uint32_t)h->n, 0) &&
	       ph_answercache_ascending(a->sec[0], m) &&
	       ph_answercache_below(a->sec[2], mm, (uint32_t)m, 0);
}

static bool cy_check(const struct ph_answers *a, void *ctx)
{
	return cy_sizes(a, ctx) && cy_whole(a, ctx);
}

/* The cycles file: checked whole, or sealed and read by its rows
 * (f->a.unchecked: the marked objects and members to be checked as they
 * are read, or cy_whole before a pass over them) */
static bool cy_facts_load(struct ph_heap *h, struct cy_facts *f)
{
	struct ph_answers *a = &f->a;
	if (!ph_answercache_load_rows(h, "cycles", CY_FORMAT, CY_SECS, cy_check,
				      h, a))
		return false;
	if (a->unchecked && !cy_sizes(a, h)) {
		ph_answercache_release(a);
		return false;
	}
	bool kept = a->val[7];
	f->read = true;
	f->marked = a->sec[0];
	f->mfate = a->sec[1];
	f->nmarked = (size_t)a->val[0];
	f->members = a->sec[2];
	f->nmembers = (size_t)a->val[3];
	f->start = a->sec[3];
	f->ncomp = (uint32_t)a->val[1];
	f->comp = a->sec[4];
	f->weakref_callbacks = a->val[2];
	f->frozen = a->val[4];
	f->all = (struct cy_unreachable){a->val[8], a->val[9], a->val[10],
					 a->val[11], a->val[12]};
	if (kept) {
		f->loop_start = a->sec[5];
		f->loops = a->sec[6];
		f->label_end = a->sec[7];
		f->labels = a->sec[8];
		f->tally_start = a->sec[10];
		f->tallies = a->sec[11];
	}
	f->garbage = a->sec[9];
	f->ngarbage = (size_t)a->val[6];
	return true;
}

/* The referents of gc.garbage, the list (none: it is not in the heap) */
static size_t garbage_row(struct ph_graph *g, const uint32_t **ret)
{
	struct ph_heap *h = g->h;
	uint64_t garbage = 0;
	ph_mem_u64(h->mem, h->rt->gc_state + h->L->gc_garbage, &garbage);
	uint32_t gi = ph_graph_lookup(g, garbage);
	*ret = gi == PH_NONE ? NULL : g->fwd + g->fwd_off[gi];
	return gi == PH_NONE ? 0 : g->fwd_off[gi + 1] - g->fwd_off[gi];
}

/* Component c's pass over its members: each one's bit set in in (its
 * loop is searched among all of them), the types of those s keeps (NULL:
 * all) tallied in the order first met (seen[0..*nseen), their counts in
 * tcount), their first PH_CYCLE_MEMBERS_MAX in cm (if cm); then its loop
 * from the first of them kept, into loop (its length returned), and the
 * bits cleared. */
static size_t cy_component(struct ph_graph *g, const struct cy_facts *f,
			   uint32_t c, struct ph_session *s, uint64_t *in,
			   uint32_t *seen, size_t *nseen, uint32_t *tcount,
			   uint32_t *cm, size_t *nm, uint32_t *loop)
{
	struct ph_heap *h = g->h;
	const uint32_t *p = f->members + f->start[c],
		       *e = f->members + f->start[c + 1];
	uint32_t first = PH_NONE;
	for (const uint32_t *q = p; q < e; q++) {
		uint32_t i = f->marked[*q];
		in[i >> 6] |= 1ULL << (i & 63);
		if (s && !ph_session_keeps(s, i))
			continue;
		if (first == PH_NONE)
			first = i;
		uint32_t ti = ph_tidx(h, i);
		if (!tcount[ti]++)
			seen[(*nseen)++] = ti;
		if (cm && *nm < PH_CYCLE_MEMBERS_MAX)
			cm[(*nm)++] = i;
	}
	size_t nl = first == PH_NONE ? 0
				     : ph_graph_scc_loop(g, in, first, loop,
							 PH_CYCLE_LOOP_MAX);
	for (const uint32_t *q = p; q < e; q++)
		in[f->marked[*q] >> 6] = 0;
	return nl;
}

/* Each component's loop from its first member, the labels of its steps,
 * and its types in the order first met with their counts (f's kept
 * sections, in f->own[5..8] and [10..11]) */
static struct ph_error *cy_kept_compute(struct ph_graph *g, struct cy_facts *f)
{
	struct ph_heap *h = g->h;
	uint32_t *ls = f->own[5] = calloc((size_t)f->ncomp + 1, 4);
	uint32_t *ts = f->own[10] = calloc((size_t)f->ncomp + 1, 4);
	uint64_t *in = calloc(h->n / 64 + 1, sizeof(*in));
	uint32_t *loop = malloc(PH_CYCLE_LOOP_MAX * sizeof(*loop));
	uint32_t *tcount = calloc(h->ntypes + 1, sizeof(*tcount));
	uint32_t *seen = malloc((h->ntypes + 1) * sizeof(*seen));
	size_t cap = 0, cap_end = 0, cap_t = 0, nloop = 0, nt = 0;
	struct ph_buf labels;
	ph_buf_init(&labels);
	struct ph_error *err = NULL;
	if (!ls || !ts || !in || !loop || !tcount || !seen) {
		err = ph_error_nomem();
		goto out;
	}
	for (uint32_t c = 0; c < f->ncomp && !err; c++) {
		size_t nseen = 0;
		size_t nl = cy_component(g, f, c, NULL, in, seen, &nseen,
					 tcount, NULL, NULL, loop);
		if (!(err = ph_grow(&f->own[6], &cap, nloop + nl, 4)) &&
		    !(err = ph_grow(&f->own[7], &cap_end, nloop + nl, 4)))
			err = ph_grow(&f->own[11], &cap_t, nt + nseen,
				      sizeof(struct cy_tally));
		for (size_t i = 0; i < nl && !err; i++) {
			ph_graph_label(g, loop[i], loop[(i + 1) % nl], &labels);
			((uint32_t *)f->own[6])[nloop] = loop[i];
			((uint32_t *)f->own[7])[nloop++] = (uint32_t)labels.len;
		}
		for (size_t k = 0; k < nseen; k++) {
			if (!err)
				((struct cy_tally *)f->own[11])[nt++] =
					(struct cy_tally){seen[k],
							  tcount[seen[k]]};
			tcount[seen[k]] = 0;
		}
		ls[c + 1] = (uint32_t)nloop;
		ts[c + 1] = (uint32_t)nt;
		if (labels.len > UINT32_MAX)
			break; /* past any file's bound: not kept */
	}
	if (!err && labels.failed)
		err = ph_error_nomem();
	if (!err && labels.len <= UINT32_MAX) {
		f->loop_start = ls;
		f->loops = f->own[6];
		f->label_end = f->own[7];
		f->own[8] = labels.data;
		f->labels = labels.data ? labels.data : "";
		ph_buf_init(&labels); /* f's now */
		f->tally_start = ts;
		f->tallies = f->own[11];
	}
out:
	ph_buf_free(&labels);
	free(in);
	free(loop);
	free(tcount);
	free(seen);
	return err;
}

static struct ph_error *cy_facts_compute(struct ph_graph *g, struct cy_facts *f)
{
	struct ph_heap *h = g->h;
	struct ph_error *err;
	struct ph_scc sc = {0};
	struct ph_cycles_result fr = {0}; /* its weakref_callbacks */
	uint8_t *dead = NULL, *fate = NULL;
	if ((err = ph_graph_cycles(g, &sc, &dead)))
		return err;
	if ((err = collect_fates(g, dead, &fr, &fate)))
		goto out;
	uint64_t m = 0, mm = 0;
	for (size_t i = 0; i < h->n; i++) {
		if (!dead[i] && sc.comp[i] == PH_NONE)
			continue;
		m++;
		mm += sc.comp[i] != PH_NONE;
		if (has_finalizer(h, (uint32_t)i))
			fate[i] |= FATE_FIN;
	}
	uint32_t *obj = f->own[0] = malloc(m * 4 + 1);
	uint8_t *fb = f->own[1] = malloc(m + 1);
	uint32_t *mem = f->own[2] = malloc(mm * 4 + 1);
	uint32_t *start = f->own[3] = calloc((size_t)sc.ncomp + 2, 4);
	struct cy_comp *comp = f->own[4] =
		calloc((size_t)sc.ncomp + 1, sizeof(*comp));
	if (!obj || !fb || !mem || !start || !comp) {
		err = ph_error_nomem();
		goto out;
	}
	uint64_t k = 0;
	for (size_t i = 0; i < h->n; i++)
		if (dead[i] || sc.comp[i] != PH_NONE) {
			obj[k] = (uint32_t)i;
			fb[k++] = fate[i];
		}
	/* members grouped by component, in one pass (counting sort) */
	for (uint32_t c = 0; c < sc.ncomp; c++)
		comp[c].unreachable = 1;
	for (k = 0; k < m; k++) {
		uint32_t c = sc.comp[obj[k]];
		if (c == PH_NONE)
			continue;
		start[c + 1]++;
		comp[c].bytes += ph_heap_obj_size(h, obj[k]);
		comp[c].finalizers += (fb[k] & FATE_FIN) != 0;
		if ((fb[k] & 3) == FATE_ALIVE)
			comp[c].unreachable = 0;
	}
	for (uint32_t c = 0; c < sc.ncomp; c++)
		start[c + 1] += start[c];
	for (k = 0; k < m; k++) {
		uint32_t c = sc.comp[obj[k]];
		if (c != PH_NONE)
			mem[start[c]++] = (uint32_t)k;
	}
	for (uint32_t c = sc.ncomp; c > 0; c--)
		start[c] = start[c - 1];
	start[0] = 0;
	f->marked = obj;
	f->mfate = fb;
	f->nmarked = (size_t)m;
	f->members = mem;
	f->nmembers = (size_t)mm;
	f->start = start;
	f->ncomp = sc.ncomp;
	f->comp = comp;
	f->weakref_callbacks = fr.weakref_callbacks;
	f->frozen = frozen_count(h, -1);
	f->all = unreachable_of(h, NULL, obj, fb, m);
	const uint32_t *row;
	f->ngarbage = garbage_row(g, &row);
	uint32_t *garbage = f->own[9] = malloc(f->ngarbage * 4 + 1);
	if (!garbage) {
		err = ph_error_nomem();
		goto out;
	}
	if (f->ngarbage)
		memcpy(garbage, row, f->ngarbage * 4);
	f->garbage = garbage;
	/* a later run on this core reads them, and the loops if they have
	 * room in the file's bound */
	if (h->cache_sum && !(err = cy_kept_compute(g, f))) {
		uint64_t nloop = f->loop_start ? f->loop_start[sc.ncomp] : 0;
		uint64_t nt = f->loop_start ? f->tally_start[sc.ncomp] : 0;
		const void *sec[CY_SECS] = {obj,
					    fb,
					    mem,
					    start,
					    comp,
					    f->loop_start,
					    f->loops,
					    f->label_end,
					    f->labels,
					    garbage,
					    f->tally_start,
					    f->tallies};
		uint64_t bytes[CY_SECS] = {
			m * 4,
			m,
			mm * 4,
			((uint64_t)sc.ncomp + 1) * 4,
			sc.ncomp * sizeof(*comp),
			((uint64_t)sc.ncomp + 1) * 4,
			nloop * 4,
			nloop * 4,
			nloop ? f->label_end[nloop - 1] : 0,
			f->ngarbage * 4,
			f->loop_start ? ((uint64_t)sc.ncomp + 1) * 4 : 0,
			nt * sizeof(struct cy_tally)};
		uint64_t val[PH_ANSWER_VALS] = {m,
						sc.ncomp,
						f->weakref_callbacks,
						mm,
						f->frozen,
						nloop,
						f->ngarbage,
						f->loop_start != NULL,
						f->all.objects,
						f->all.bytes,
						f->all.finalizers,
						f->all.by_finalizers,
						f->all.legacy,
						nt};
		bool kept = f->loop_start &&
			    ph_answercache_store(h, "cycles", CY_FORMAT,
						 CY_SECS, sec, bytes, val);
		if (!kept) {
			/* past its bound with them: kept without */
			for (int i = 5; i < CY_SECS; i++)
				bytes[i] = i == 9 ? bytes[i] : 0;
			val[5] = val[7] = val[13] = 0;
		}
		if (kept || ph_answercache_store(h, "cycles", CY_FORMAT,
						 CY_SECS, sec, bytes, val))
			ph_stage("cycles cache written");
	}
out:
	free(sc.comp);
	free(dead);
	free(fate);
	return err;
}

/* ph_query_cycles; computed, not read, with force; *damaged (and no
 * result) when a sealed file's member read is found damaged */
static struct ph_error *cycles_query(struct ph_session *s,
				     const struct ph_cycles_opts *o, bool force,
				     bool *damaged,
				     struct ph_cycles_result **ret)
{
	*damaged = false;
	struct ph_error *err = ph_session_heap(s);
	if (err)
		return err;
	struct ph_heap *h = s->heap;
	struct ph_graph *g = NULL;
	struct cy_facts f = {0};
	struct ph_cycles_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	bool all = s->only_interp < 0;
	ph_stage(NULL);
	bool read = !force && cy_facts_load(h, &f);
	/* what the run reads: the kept loops and types, and the shown
	 * cycles' members, each checked as read; or a pass over every marked
	 * object or member, all of them checked first */
	bool kept = read && all && f.loop_start;
	if (read && f.a.unchecked && (!kept || o->unreachable_only) &&
	    !cy_whole(&f.a, h)) {
		cy_facts_free(&f);
		f = (struct cy_facts){0};
		read = kept = false;
		ph_stage("cycles cache: damaged");
	}
	if (read)
		ph_stage("cycles cache read");
	/* the referents are all cycles needs, and then only to find what
	 * its file did not keep: another interpreter's loops */
	if (!kept && !(err = ph_session_graph_edges(s))) {
		g = s->graph;
		if (!read)
			err = cy_facts_compute(g, &f);
	}
	if (err) {
		cy_facts_free(&f);
		ph_cycles_result_destroy(r);
		return err;
	}
	const uint32_t *marked = f.marked;
	const uint8_t *mfate = f.mfate;
	size_t nmarked = f.nmarked;
	struct cycle *cy = calloc((size_t)f.ncomp + 1, sizeof(*cy));
	uint32_t *cm = malloc(PH_CYCLE_MEMBERS_MAX * sizeof(*cm));
	uint32_t *seen = malloc((h->ntypes + 1) * sizeof(*seen));
	uint64_t *in = calloc(h->n / 64 + 1, sizeof(*in));
	uint32_t *loop = malloc(PH_CYCLE_LOOP_MAX * sizeof(*loop));
	uint32_t *tcount = calloc(h->ntypes + 1, sizeof(*tcount));
	struct ph_buf tmp;
	ph_buf_init(&tmp);
	if (!cy || !cm || !seen || !in || !loop || !tcount) {
		err = ph_error_nomem();
		goto out;
	}
	r->unreachable_only = o->unreachable_only;
	r->weakref_callbacks = f.weakref_callbacks;
	r->frozen_objects = all ? f.frozen : frozen_count(h, s->only_interp);
	struct cy_unreachable u =
		all ? f.all : unreachable_of(h, s, marked, mfate, nmarked);
	r->unreachable_objects = u.objects;
	r->unreachable_bytes = u.bytes;
	r->unreachable_finalizers = u.finalizers;
	r->freed_by_finalizers = u.by_finalizers;
	r->legacy_finalizer_objects = u.legacy;
	/* each component over the interpreter's objects (--interp: a cycle is
	 * its objects'), or over all as kept */
	for (uint32_t c = 0; c < f.ncomp; c++) {
		struct cycle *y = &cy[c];
		y->id = c;
		if (all) {
			y->objects = f.start[c + 1] - f.start[c];
			y->bytes = f.comp[c].bytes;
			y->unreachable = f.comp[c].unreachable;
			y->finalizers = f.comp[c].finalizers;
			continue;
		}
		y->unreachable = true;
		for (uint32_t k = f.start[c]; k < f.start[c + 1]; k++) {
			uint32_t i = marked[f.members[k]];
			uint8_t fa = mfate[f.members[k]];
			if (!ph_session_keeps(s, i))
				continue;
			y->objects++;
			y->bytes += ph_heap_obj_size(h, i);
			if ((fa & 3) == FATE_ALIVE)
				y->unreachable = false;
			y->finalizers += (fa & FATE_FIN) != 0;
		}
	}
	/* (free-threaded 3.13: gc.collect() counts what the finalizers free
	 * too, and DEBUG_SAVEALL keeps it: measured on 3.13t) */
	r->collect_returns =
		h->L->free_threaded
			? r->unreachable_objects
			: r->unreachable_objects - r->freed_by_finalizers;
	size_t nsel = 0;
	for (uint32_t c = 0; c < f.ncomp; c++)
		if (cy[c].objects &&
		    (!o->unreachable_only || cy[c].unreachable) &&
		    cy[c].bytes >= o->min_size)
			cy[nsel++] = cy[c];
	qsort(cy, nsel, sizeof(*cy),
	      o->by_count ? cycle_by_count : cycle_by_bytes);
	r->total = nsel;
	size_t shown = o->limit && o->limit < nsel ? o->limit : nsel;
	if (!(r->cycles = calloc(shown + 1, sizeof(*r->cycles)))) {
		err = ph_error_nomem();
		goto out;
	}
	struct cycles_build b = {.r = r};
	if (kept) {
		/* every shown cycle's members, types and steps at once */
		size_t nm = 0, nt = 0, nl = 0;
		for (size_t k = 0; k < shown; k++) {
			uint32_t c = cy[k].id;
			uint32_t m = f.start[c + 1] - f.start[c];
			nm += m < PH_CYCLE_MEMBERS_MAX ? m
						       : PH_CYCLE_MEMBERS_MAX;
			nt += f.tally_start[c + 1] - f.tally_start[c];
			nl += f.loop_start[c + 1] - f.loop_start[c];
		}
		if ((err = ph_grow((void **)&r->members, &b.members_cap, nm,
				   sizeof(*r->members))) ||
		    (err = ph_grow((void **)&r->types, &b.types_cap, nt,
				   sizeof(*r->types))) ||
		    (err = ph_grow((void **)&r->loop, &b.loop_cap, nl,
				   sizeof(*r->loop))))
			goto out;
	}
	for (size_t k = 0; k < shown && !err; k++) {
		const struct cycle *c = &cy[k];
		const uint32_t *p = f.members + f.start[c->id],
			       *e = f.members + f.start[c->id + 1];
		/* the loop is searched among all of the component's objects,
		 * its members and types are the interpreter's */
		size_t nm = 0, nseen = 0;
		if (kept) {
			/* the kept types, and the first members */
			for (uint32_t t = f.tally_start[c->id];
			     t < f.tally_start[c->id + 1]; t++) {
				seen[nseen++] = f.tallies[t].type;
				tcount[f.tallies[t].type] = f.tallies[t].count;
			}
			for (const uint32_t *q = p;
			     q < e && nm < PH_CYCLE_MEMBERS_MAX; q++) {
				if (*q >= nmarked || marked[*q] >= h->n) {
					*damaged = true;
					goto out;
				}
				cm[nm++] = marked[*q];
			}
		}
		size_t nl = kept ? 0
				 : cy_component(g, &f, c->id, s, in, seen,
						&nseen, tcount, cm, &nm, loop);
		err = cycle_add(&b, h, c, cm, nm, seen, nseen, tcount);
		if (kept) {
			/* the loop kept: from the component's first member */
			for (uint32_t st = f.loop_start[c->id];
			     st < f.loop_start[c->id + 1] && !err; st++) {
				uint32_t from = st ? f.label_end[st - 1] : 0;
				err = cycle_step(&b, h, f.loops[st],
						 f.labels + from,
						 f.label_end[st] - from);
			}
		} else {
			for (size_t i = 0; i < nl && !err; i++) {
				tmp.len = 0;
				ph_graph_label(g, loop[i], loop[(i + 1) % nl],
					       &tmp);
				err = cycle_step(&b, h, loop[i], tmp.data,
						 tmp.len);
			}
		}
	}
	if (err)
		goto out;
	if (o->unreachable_only) {
		/* Everything gc.collect() would free, cycles or not. */
		size_t n = 0;
		for (size_t k = 0; k < nmarked; k++)
			n += (mfate[k] & 3) != FATE_ALIVE &&
			     ph_session_keeps(s, marked[k]);
		if (n > PH_UNREACHABLE_MAX)
			n = PH_UNREACHABLE_MAX;
		if (!(r->unreachable = malloc((n + 1) * sizeof(uint64_t)))) {
			err = ph_error_nomem();
			goto out;
		}
		for (size_t k = 0; k < nmarked && r->nunreachable < n; k++)
			if ((mfate[k] & 3) != FATE_ALIVE &&
			    ph_session_keeps(s, marked[k]))
				r->unreachable[r->nunreachable++] =
					h->addr[marked[k]];
		if (!(r->finalizer_freed =
			      malloc((n + 1) * sizeof(uint64_t)))) {
			err = ph_error_nomem();
			goto out;
		}
		for (size_t k = 0; k < nmarked && r->nfinalizer_freed < n;
		     k++) {
			uint32_t i = marked[k];
			if ((mfate[k] & 3) == FATE_FINALIZED &&
			    ph_session_keeps(s, i))
				r->finalizer_freed[r->nfinalizer_freed++] =
					h->addr[i];
		}
	}
	/* gc.garbage: what earlier collections could not free. */
	uint64_t garbage = 0, list_type = 0;
	ph_mem_u64(h->mem, h->rt->gc_state + h->L->gc_garbage, &garbage);
	size_t ng = f.ngarbage;
	r->gc_garbage_edges = ng;
	ph_mem_u64(h->mem, garbage + h->L->ob_type, &list_type);
	if (!(r->gc_garbage = malloc((ng + 1) * sizeof(uint64_t)))) {
		err = ph_error_nomem();
		goto out;
	}
	for (size_t e = 0; e < ng; e++) {
		uint32_t t = f.garbage[e];
		if (h->addr[t] != list_type) /* the list's own type */
			r->gc_garbage[r->ngc_garbage++] = h->addr[t];
	}
	if (r->str.buf.failed || tmp.failed)
		err = ph_error_nomem();
out:
	ph_buf_free(&tmp);
	free(cm);
	free(seen);
	free(in);
	free(loop);
	free(tcount);
	free(cy);
	cy_facts_free(&f);
	if (err || *damaged) {
		ph_cycles_result_destroy(r);
		return err;
	}
	*ret = r;
	return NULL;
}

struct ph_error *ph_query_cycles(struct ph_session *s,
				 const struct ph_cycles_opts *o,
				 struct ph_cycles_result **ret)
{
	bool damaged = false;
	struct ph_error *err = cycles_query(s, o, false, &damaged, ret);
	if (!err && damaged) {
		/* computed again, and its file written again */
		ph_stage(NULL);
		ph_stage("cycles cache: a member damaged");
		err = cycles_query(s, o, true, &damaged, ret);
	}
	return err;
}

void ph_cycles_result_destroy(struct ph_cycles_result *r)
{
	if (!r)
		return;
	free(r->cycles);
	free(r->types);
	free(r->members);
	free(r->loop);
	free(r->unreachable);
	free(r->finalizer_freed);
	free(r->gc_garbage);
	ph_strings_free(&r->str);
	free(r);
}

/* ---- refcount ------------------------------------------------------------ */

struct ph_error *ph_query_refcount(struct ph_session *s, const char *addr,
				   size_t max_refs,
				   struct ph_refcount_result **ret)
{
	uint32_t o;
	/* the object's referrers only: a sealed graph's row, checked */
	struct ph_error *err = ph_query_object_need(s, "refcount", addr,
						    PH_GRAPH_REV_ROWS, &o);
	if (err)
		return err;
	struct ph_graph *g = s->graph;
	struct ph_heap *h = g->h;
	struct ph_refcount_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	uint64_t lo, hi;
	ph_graph_rev_row(g, o, &lo, &hi);
	r->obj = obj_ref(h, o);
	r->refcount = refcnt_of(h, o);
	r->from_objects = hi - lo;
	r->outside = count_get(&g->extern_refs, o);
	r->conservative = count_get(&g->cons_in, o);
	r->deferred = (uint64_t)ph_obj_refcnt_unheld(h, h->addr[o]);
	r->found = (int64_t)(r->from_objects + r->outside + r->deferred);
	if (__builtin_sub_overflow(r->refcount, r->found, &r->excess))
		r->excess = r->refcount < 0 ? INT64_MIN : INT64_MAX;
	r->is_static = ph_heap_obj_in_image(h, o);
	r->immortal = is_immortal(h, r->refcount);
	struct ph_buf tmp;
	ph_buf_init(&tmp);
	size_t cap = 0;
	/* Edges from one referrer are adjacent: label them all in one pass
	 * over its referents (a list holding o a million times). */
	size_t k = 0;
	for (uint64_t e = lo; e < hi && k < max_refs;) {
		uint32_t src = ph_graph_rev_at(g, e);
		uint64_t run = 1;
		while (e + run < hi && ph_graph_rev_at(g, e + run) == src)
			run++;
		if (src == PH_NONE) { /* past the objects: damage */
			e += run;
			continue;
		}
		tmp.len = 0;
		size_t want = run < max_refs - k ? (size_t)run : max_refs - k;
		size_t got = ph_graph_labels(g, src, o, want, &tmp);
		const char *via = tmp.data;
		if ((err = ph_grow((void **)&r->refs, &cap, r->nrefs + want,
				   sizeof(*r->refs))))
			break;
		for (size_t i = 0; i < want; i++, k++) {
			const char *v = i < got ? via : "?";
			r->refs[r->nrefs++] = (struct ph_edge_row){
				.obj = obj_ref(h, src),
				.via = ph_strings_add(&r->str, v, strlen(v)),
				.strong = true};
			if (i < got)
				via += strlen(via) + 1;
		}
		e += run;
	}
	ph_buf_free(&tmp);
	for (size_t i = 0; i < g->nroots && !err; i++) {
		if (g->roots[i].target != o)
			continue;
		size_t rcap = r->nroots;
		if ((err = ph_grow((void **)&r->roots, &rcap, r->nroots + 1,
				   sizeof(*r->roots))))
			break;
		r->roots[r->nroots++] = ph_strings_add(
			&r->str, g->roots[i].name, strlen(g->roots[i].name));
	}
	if (!err && r->str.buf.failed)
		err = ph_error_nomem();
	if (err) {
		ph_refcount_result_destroy(r);
		return err;
	}
	*ret = r;
	return NULL;
}

void ph_refcount_result_destroy(struct ph_refcount_result *r)
{
	if (!r)
		return;
	free(r->refs);
	free(r->roots);
	ph_strings_free(&r->str);
	free(r);
}

/* ---- refcheck ------------------------------------------------------------ */

struct sus {
	uint32_t obj;
	int64_t diff;
};

static int suspect_cmp(const void *a, const void *b)
{
	const struct ph_suspect_type *x = a, *y = b;
	int64_t ax = x->total < 0 ? -x->total : x->total;
	int64_t ay = y->total < 0 ? -y->total : y->total;
	if (ax != ay)
		return ax > ay ? -1 : 1;
	return x->objects > y->objects ? -1 : x->objects < y->objects;
}

struct type_acc {
	uint64_t objects;
	int64_t total, worst;
	uint32_t worst_obj;
};

/* The types with suspects (acc by type number), worst first, the first
 * limit kept in *ret, each with its suspects (in object order): by_type
 * holds the suspects grouped by type number, type t's from start[t] to
 * start[t + 1]. */
static struct ph_error *
suspect_list(struct ph_heap *h, struct type_acc *acc, uint64_t limit, bool over,
	     const struct sus *by_type, const size_t *start,
	     struct ph_refcheck_result *r, struct ph_suspect_type **ret,
	     size_t *ret_n, size_t *ret_all, size_t *suspects_cap)
{
	size_t n = 0;
	for (size_t i = 0; i < h->ntypes; i++)
		n += acc[i].objects != 0;
	struct ph_suspect_type *st = calloc(n + 1, sizeof(*st));
	if (!st)
		return ph_error_nomem();
	n = 0;
	for (size_t i = 0; i < h->ntypes; i++) {
		if (!acc[i].objects)
			continue;
		st[n] = (struct ph_suspect_type){
			.type = tname(&h->types[i]),
			.objects = acc[i].objects,
			.total = acc[i].total,
			.worst = {h->addr[acc[i].worst_obj], acc[i].worst},
		};
		/* the type number rides in suspects until sorted */
		st[n].suspects = i;
		n++;
	}
	qsort(st, n, sizeof(*st), suspect_cmp);
	size_t shown = limit && limit < n ? limit : n;
	for (size_t i = 0; i < shown && start; i++) {
		size_t t = st[i].suspects;
		st[i].suspects = r->nsuspects;
		st[i].nsuspects = 0;
		for (size_t k = start[t]; k < start[t + 1]; k++) {
			if ((by_type[k].diff > 0) != over)
				continue;
			struct ph_error *err =
				ph_grow((void **)&r->suspects, suspects_cap,
					r->nsuspects + 1, sizeof(*r->suspects));
			if (err) {
				free(st);
				return err;
			}
			r->suspects[r->nsuspects++] = (struct ph_suspect){
				h->addr[by_type[k].obj], by_type[k].diff};
			st[i].nsuspects++;
		}
	}
	if (!start)
		for (size_t i = 0; i < shown; i++)
			st[i].suspects = 0;
	*ret = st;
	*ret_n = shown;
	*ret_all = n;
	return NULL;
}

/* What refcheck finds of each object, whatever its options: the objects
 * it skips (static, immortal, implausible) and those with a difference,
 * each with rc - found (an excess when at least --min-excess) and rc -
 * exact (a deficit when below 0), in object order; the rest agree. Kept in
 * the answers' cache (answercache.c) for the whole heap. */
enum { RC_CHECKED, RC_STATIC, RC_IMMORTAL, RC_IMPLAUSIBLE };
#define RC_FORMAT 1

struct rc_facts {
	size_t n;
	uint32_t *obj;
	uint8_t *kind;
	int64_t *over, *under;
	struct ph_answers cache; /* where they are mapped, if they are */
};

static void rc_facts_free(struct rc_facts *f)
{
	if (f->cache.map)
		ph_answercache_release(&f->cache);
	else {
		free(f->obj);
		free(f->kind);
		free(f->over);
		free(f->under);
	}
}

static bool rc_facts_load(struct ph_heap *h, struct rc_facts *f)
{
	struct ph_answers *a = &f->cache;
	if (!ph_answercache_load(h, "refcheck", RC_FORMAT, 4, a))
		return false;
	uint64_t m = a->val[0];
	if (m > h->n || a->bytes[0] != m * 4 || a->bytes[1] != m ||
	    a->bytes[2] != m * 8 || a->bytes[3] != m * 8 ||
	    !ph_answercache_below(a->sec[0], m, (uint32_t)h->n,
				  (uint32_t)h->n) ||
	    !ph_answercache_ascending(a->sec[0], m)) {
		ph_answercache_release(a);
		return false;
	}
	f->n = m;
	f->obj = a->sec[0];
	f->kind = a->sec[1];
	f->over = a->sec[2];
	f->under = a->sec[3];
	return true;
}

/* The facts of the objects want[] names (NULL: all of them). */
static struct ph_error *
rc_facts_compute(struct ph_graph *g, const uint8_t *want, struct rc_facts *f)
{
	struct ph_heap *h = g->h;
	size_t cap = 0;
	struct ph_error *err = NULL;
	/* the few objects the three counts' maps hold, marked: the others'
	 * counts are 0 without a lookup each */
	uint64_t *counted = calloc(h->n / 64 + 1, sizeof(*counted));
	if (!counted)
		return ph_error_nomem();
	const struct ph_u64map *maps[3] = {&g->extern_refs, &g->cons_in,
					   &g->cdata_in};
	for (int k = 0; k < 3; k++)
		for (size_t s = 0; s < maps[k]->cap; s++) {
			uint64_t o = maps[k]->keys[s] - 1; /* (key: o + 1) */
			if (maps[k]->keys[s] && o < h->n)
				counted[o / 64] |= 1ULL << (o % 64);
		}
	for (size_t i = 0; i < h->n && !err; i++) {
		if (want && !want[i])
			continue;
		uint8_t kind = RC_CHECKED;
		int64_t over = 0, under = 0;
		int64_t rc = refcnt_of(h, (uint32_t)i);
		if (ph_heap_obj_in_image(h, i))
			kind = RC_STATIC;
		else if (is_immortal(h, rc))
			kind = RC_IMMORTAL;
		else {
			rc -= ph_obj_refcnt_unheld(h, h->addr[i]);
			/* (a refcount no process can reach is damage: never
			 * a sum) */
			if (rc < 0 || rc > PH_REFCNT_PLAUSIBLE)
				kind = RC_IMPLAUSIBLE;
		}
		if (kind == RC_CHECKED) {
			/* (the instances of a type that is not a heap type
			 * hold no reference to it: no edge, graph.c) */
			uint64_t in = g->rev_off[i + 1] - g->rev_off[i];
			bool c = (counted[i / 64] >> (i % 64)) & 1;
			int64_t found =
				(int64_t)(in + (c ? count_get(&g->extern_refs,
							      (uint32_t)i)
						  : 0));
			/* a deficit is only sure beyond the guessed references
			 * and the words of C data (borrowed ones look the
			 * same) */
			int64_t exact =
				found - (c ? (int64_t)count_get(&g->cons_in,
								(uint32_t)i) +
							 (int64_t)count_get(
								 &g->cdata_in,
								 (uint32_t)i)
					   : 0);
			over = rc - found;
			under = rc - exact;
			if (over < 1 && under >= 0)
				continue;
		}
		size_t c = cap;
		if ((err = ph_grow((void **)&f->obj, &c, f->n + 1, 4)) ||
		    (c = cap,
		     err = ph_grow((void **)&f->kind, &c, f->n + 1, 1)) ||
		    (c = cap,
		     err = ph_grow((void **)&f->over, &c, f->n + 1, 8)) ||
		    (c = cap,
		     err = ph_grow((void **)&f->under, &c, f->n + 1, 8)))
			break;
		cap = c;
		f->obj[f->n] = (uint32_t)i;
		f->kind[f->n] = kind;
		f->over[f->n] = over;
		f->under[f->n++] = under;
	}
	free(counted);
	if (!err && !want) {
		/* a later run on this core reads them */
		const void *sec[4] = {f->obj, f->kind, f->over, f->under};
		uint64_t bytes[4] = {f->n * 4, f->n, f->n * 8, f->n * 8};
		uint64_t val[PH_ANSWER_VALS] = {f->n};
		if (ph_answercache_store(h, "refcheck", RC_FORMAT, 4, sec,
					 bytes, val))
			ph_stage("refcheck cache written");
	}
	return err;
}

struct ph_error *ph_query_refcheck(struct ph_session *s,
				   const struct ph_refcheck_opts *o,
				   struct ph_refcheck_result **ret)
{
	/* the graph only to compute the facts: not when they are cached */
	struct ph_error *err = ph_session_heap(s);
	if (err)
		return err;
	uint64_t min_excess = o->min_excess ? o->min_excess : 1;
	struct ph_heap *h = s->heap;
	struct ph_refcheck_result *r = calloc(1, sizeof(*r));
	struct type_acc *over = calloc(h->ntypes + 1, sizeof(*over));
	struct type_acc *under = calloc(h->ntypes + 1, sizeof(*under));
	struct sus *sus = NULL, *by_type = NULL;
	size_t nsus = 0, sus_cap = 0, suspects_cap = 0, *start = NULL;
	uint8_t *match = NULL; /* --type: the types it names (a glob too) */
	uint8_t *want = NULL;  /* the objects --type and --interp keep */
	struct rc_facts f = {0};
	if (!r || !over || !under) {
		err = ph_error_nomem();
		goto out;
	}
	if (o->type &&
	    !(match = ph_types_matching(h, "refcheck --type", o->type, &err)))
		goto out;
	uint64_t nwant = h->n;
	if (match || s->only_interp >= 0) {
		if (!(want = malloc(h->n + 1))) {
			err = ph_error_nomem();
			goto out;
		}
		nwant = 0;
		for (size_t i = 0; i < h->n; i++)
			nwant += want[i] = (!match || match[ph_tidx(h, i)]) &&
					   ph_session_keeps(s, (uint32_t)i);
	}
	/* every object's, from the answers' cache or for it; only those
	 * wanted where there is no cache */
	ph_stage(NULL);
	if (rc_facts_load(h, &f))
		ph_stage("refcheck cache read");
	else if ((err = ph_session_graph(s)) ||
		 (err = rc_facts_compute(s->graph, h->cache_sum ? NULL : want,
					 &f)))
		goto out;
	r->checked = nwant;
	for (size_t k = 0; k < f.n; k++) {
		uint32_t i = f.obj[k];
		if (want && !want[i])
			continue;
		if (f.kind[k] != RC_CHECKED) {
			r->checked--;
			r->static_skipped += f.kind[k] == RC_STATIC;
			r->immortal_skipped += f.kind[k] == RC_IMMORTAL;
			r->implausible_skipped += f.kind[k] == RC_IMPLAUSIBLE;
			continue;
		}
		struct type_acc *st = NULL;
		int64_t d = 0;
		if (f.over[k] >= (int64_t)min_excess) {
			st = &over[ph_tidx(h, i)];
			d = f.over[k];
			r->excess_objects++;
		} else if (f.under[k] < 0) {
			st = &under[ph_tidx(h, i)];
			d = f.under[k];
			r->deficit_objects++;
		}
		if (!st)
			continue;
		if (o->suspects) {
			if (nsus >= PH_SUSPECTS_MAX)
				r->truncated = true;
			else if (!ph_grow((void **)&sus, &sus_cap, nsus + 1,
					  sizeof(*sus)))
				sus[nsus++] = (struct sus){(uint32_t)i, d};
			else
				r->truncated = true;
		}
		st->objects++;
		if (__builtin_add_overflow(st->total, d, &st->total))
			st->total = d < 0 ? INT64_MIN : INT64_MAX;
		if (st->objects == 1 ||
		    (d < 0 ? d < st->worst : d > st->worst)) {
			st->worst = d;
			st->worst_obj = (uint32_t)i;
		}
	}
	/* The suspects grouped by type (a counting sort keeps object
	 * order within each type). */
	if (o->suspects) {
		start = calloc(h->ntypes + 2, sizeof(*start));
		by_type = malloc((nsus + 1) * sizeof(*by_type));
		if (!start || !by_type) {
			err = ph_error_nomem();
			goto out;
		}
		for (size_t k = 0; k < nsus; k++)
			start[ph_tidx(h, sus[k].obj) + 1]++;
		for (size_t t = 0; t < h->ntypes; t++)
			start[t + 1] += start[t];
		for (size_t k = 0; k < nsus; k++)
			by_type[start[ph_tidx(h, sus[k].obj)]++] = sus[k];
		for (size_t t = h->ntypes; t > 0; t--)
			start[t] = start[t - 1];
		start[0] = 0;
	}
	if ((err = suspect_list(h, over, o->limit, true, by_type, start, r,
				&r->excess, &r->nexcess, &r->excess_types,
				&suspects_cap)))
		goto out;
	err = suspect_list(h, under, o->limit, false, by_type, start, r,
			   &r->deficit, &r->ndeficit, &r->deficit_types,
			   &suspects_cap);
out:
	rc_facts_free(&f);
	free(want);
	free(match);
	free(over);
	free(under);
	free(sus);
	free(by_type);
	free(start);
	if (err) {
		ph_refcheck_result_destroy(r);
		return err;
	}
	*ret = r;
	return NULL;
}

void ph_refcheck_result_destroy(struct ph_refcheck_result *r)
{
	if (!r)
		return;
	free(r->excess);
	free(r->deficit);
	free(r->suspects);
	free(r);
}
