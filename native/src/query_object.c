/* query_object.c - one object and its neighbours in the graph: show,
 * referents, referrers and path. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

static struct ph_obj_ref obj_ref(struct ph_heap *h, uint32_t o)
{
	return (struct ph_obj_ref){.addr = h->addr[o],
				   .type = tname(ph_obj_type(h, o))};
}

void ph_query_readable(struct ph_session *s, uint64_t addr,
		       const struct ph_readable_opts *o, struct ph_buf *out)
{
	if (s->heap)
		ph_repr_readable(s->heap, addr, o, out);
}

/* ---- show and referents -------------------------------------------------- */

struct refs_ctx {
	struct ph_heap *h;
	struct ph_strings *str;
	struct ph_edge_row *rows;
	size_t n, cap, max, total;
	bool show; /* show's view: no keys, no __class__, with reprs */
	/* referents --interp: the session whose interpreter's objects only */
	const struct ph_session *keep;
	struct ph_buf tmp;
	struct ph_error *err;
};

static void refs_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		    uint64_t data)
{
	struct refs_ctx *c = arg;
	struct ph_heap *h = c->h;
	if (c->err)
		return;
	if (c->show && (kind == PH_EDGE_KEY ||
			(kind == PH_EDGE_FIELD &&
			 !strcmp((const char *)(uintptr_t)data, "__class__"))))
		return;
	uint32_t t = ph_heap_lookup(h, target);
	if (t == PH_NONE || (c->keep && !ph_session_keeps(c->keep, t)))
		return;
	if (c->total++ >= c->max)
		return;
	if ((c->err = ph_grow((void **)&c->rows, &c->cap, c->n + 1,
			      sizeof(*c->rows))))
		return;
	c->tmp.len = 0;
	ph_edge_label_write(h, kind, data, &c->tmp);
	/* (labels were cut at 511 bytes when show printed them) */
	size_t vlen = c->tmp.len;
	if (c->show && vlen > 511)
		vlen = 511;
	struct ph_edge_row *r = &c->rows[c->n++];
	*r = (struct ph_edge_row){
		.obj = obj_ref(h, t),
		.via = ph_strings_add(c->str, c->tmp.data, vlen),
		.strong = ph_edge_is_strong(kind)};
	if (c->show) {
		c->tmp.len = 0;
		ph_repr_object(h, target, ph_tidx(h, t), &c->tmp);
		r->repr = ph_strings_add(c->str, c->tmp.data, c->tmp.len);
	}
}

static const char *found_by(uint8_t flags)
{
	if (flags & PH_OBJ_GC_LIST)
		return "GC list";
	if (flags & PH_OBJ_ROOT)
		return "interpreter root";
	if (flags & PH_OBJ_REFERENCED)
		return "reference";
	return "pymalloc pool scan";
}

static const char *gc_state(struct ph_heap *h, uint32_t o)
{
	static const char *const gens[] = {
		"untracked",
		"tracked, generation 0",
		"tracked, generation 1",
		"tracked, generation 2",
		"tracked, permanent generation",
	};
	const struct ph_type *t = ph_obj_type(h, o);
	if (!(t->flags & PH_TPFLAGS_HAVE_GC))
		return "not a GC object";
	unsigned g = (h->flags[o] >> 4) & 7;
	if (h->L->free_threaded && g == 1)
		return "tracked"; /* (no generations) */
	return g < 5 ? gens[g] : "?";
}

struct ph_error *ph_query_show(struct ph_session *s,
			       const struct ph_show_opts *o,
			       struct ph_show_result **ret)
{
	uint32_t ob;
	/* its path's first step and referrers' count only: a sealed graph's
	 * rows, checked */
	const unsigned need = PH_GRAPH_PARENT_ROWS | PH_GRAPH_REV_ROWS;
	struct ph_error *err =
		ph_query_object_need(s, "show", o->addr, need, &ob);
	if (err)
		return err;
	struct ph_heap *h = s->heap;
	struct ph_graph *g = s->graph;
	struct ph_show_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	uint64_t addr = h->addr[ob];
	r->obj = obj_ref(h, ob);
	r->size = ph_heap_obj_size(h, ob);
	r->refcount = ph_obj_refcnt(h, addr);
	r->gc = gc_state(h, ob);
	r->found_by = h->L->free_threaded && (h->flags[ob] & PH_OBJ_POOL_SCAN)
			      ? "mimalloc heap scan"
			      : found_by(h->flags[ob]);
	r->interp = s->rt->interps[ph_heap_interp(h, ob)].id;
	r->ninterps = s->rt->ninterps;
	uint64_t lo, hi;
	ph_graph_rev_row(g, ob, &lo, &hi);
	r->reachable = ph_graph_parent(g, ob) != PH_NONE;
	r->referrers = hi - lo;
	if ((err = ph_session_dominators_rows(s, need)) ||
	    (!ph_domtree_row_ok(s->dom, ob) &&
	     (err = ph_session_dominators_damaged(s, need)))) {
		free(r);
		return err;
	}
	ph_domtree_retained(s->dom, ob, &r->retained_objects,
			    &r->retained_bytes);
	struct refs_ctx c = {.h = h,
			     .str = &r->str,
			     .max = o->limit ? o->limit : SIZE_MAX,
			     .show = true};
	ph_buf_init(&c.tmp);
	ph_repr_object(h, addr, ph_tidx(h, ob), &c.tmp);
	r->repr = ph_strings_add(&r->str, c.tmp.data, c.tmp.len);
	ph_heap_referents(h, addr, ph_tidx(h, ob), refs_cb, &c);
	ph_buf_free(&c.tmp);
	r->refs = c.rows;
	r->nrefs = c.n;
	r->refs_total = c.total;
	if (!c.err && (r->str.buf.failed || c.tmp.failed))
		c.err = ph_error_nomem();
	if (c.err) {
		ph_show_result_destroy(r);
		return c.err;
	}
	*ret = r;
	return NULL;
}

void ph_show_result_destroy(struct ph_show_result *r)
{
	if (!r)
		return;
	free(r->refs);
	ph_strings_free(&r->str);
	free(r);
}

struct ph_error *ph_query_referents(struct ph_session *s, const char *addr,
				    uint64_t limit,
				    struct ph_referents_result **ret)
{
	uint32_t ob;
	/* what it holds, read from its memory: no graph */
	struct ph_error *err = ph_query_heap_object(s, "referents", addr, &ob);
	if (err)
		return err;
	struct ph_heap *h = s->heap;
	struct ph_referents_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	r->addr = h->addr[ob];
	struct refs_ctx c = {.h = h,
			     .str = &r->str,
			     .max = limit ? limit : SIZE_MAX,
			     .keep = s};
	ph_buf_init(&c.tmp);
	ph_heap_referents(h, h->addr[ob], ph_tidx(h, ob), refs_cb, &c);
	ph_buf_free(&c.tmp);
	r->refs = c.rows;
	r->nrefs = c.n;
	r->total = c.total;
	if (!c.err && r->str.buf.failed)
		c.err = ph_error_nomem();
	if (c.err) {
		ph_referents_result_destroy(r);
		return c.err;
	}
	*ret = r;
	return NULL;
}

void ph_referents_result_destroy(struct ph_referents_result *r)
{
	if (!r)
		return;
	free(r->refs);
	ph_strings_free(&r->str);
	free(r);
}

/* ---- referrers ----------------------------------------------------------- */

/* The tree of referrers: each object is expanded once (a loop, or an
 * object reached by several ways, would make the tree exponential), and
 * the whole tree is capped at PH_REFERRERS_MAX entries. */
struct referrers_walk {
	const struct ph_session *s; /* --interp: its interpreter's only */
	struct ph_graph *g;
	struct ph_referrers_result *r;
	uint64_t limit;
	size_t cap, roots_cap;
	uint8_t *seen; /* a bit per object: expanded already */
	size_t entries;
	struct ph_buf tmp;
	struct ph_error *err;
};

static bool referrers_seen(struct referrers_walk *w, uint32_t o)
{
	bool was = (w->seen[o / 8] >> (o % 8)) & 1;
	w->seen[o / 8] |= (uint8_t)(1u << (o % 8));
	return was;
}

/* The names of the roots that hold o directly, as node's roots. */
static void node_roots(struct referrers_walk *w, size_t node, uint32_t o)
{
	struct ph_graph *g = w->g;
	struct ph_referrers_result *r = w->r;
	r->nodes[node].roots = r->nroot_names;
	for (size_t k = 0; k < g->nroots && !w->err; k++) {
		if (g->roots[k].target != o)
			continue;
		if ((w->err = ph_grow((void **)&r->root_names, &w->roots_cap,
				      r->nroot_names + 1,
				      sizeof(*r->root_names))))
			return;
		r->root_names[r->nroot_names++] = ph_strings_add(
			&r->str, g->roots[k].name, strlen(g->roots[k].name));
		r->nodes[node].nroots++;
	}
}

static size_t node_add(struct referrers_walk *w, uint32_t o)
{
	struct ph_referrers_result *r = w->r;
	if ((w->err = ph_grow((void **)&r->nodes, &w->cap, r->nnodes + 1,
			      sizeof(*r->nodes))))
		return PH_NO_NODE;
	r->nodes[r->nnodes] = (struct ph_referrer){
		.obj = obj_ref(w->g->h, o),
		.first_child = PH_NO_NODE,
		.next_sibling = PH_NO_NODE,
	};
	return r->nnodes++;
}

static void referrers_level(struct referrers_walk *w, size_t parent, uint32_t o,
			    uint64_t depth)
{
	struct ph_graph *g = w->g;
	struct ph_referrers_result *r = w->r;
	size_t shown = 0, total = 0, last = PH_NO_NODE;
	uint32_t prev = PH_NONE;
	uint64_t lo, hi;
	ph_graph_rev_row(g, o, &lo, &hi);
	for (uint64_t e = lo; e < hi && !w->err; e++) {
		uint32_t src = ph_graph_rev_at(g, e);
		if (src == prev || src == PH_NONE)
			continue; /* one line per referrer */
		prev = src;
		if (!ph_session_keeps(w->s, src))
			continue; /* --interp: another interpreter's */
		total++;
		if ((w->limit && shown >= w->limit) || r->truncated)
			continue;
		if (w->entries >= PH_REFERRERS_MAX) {
			r->truncated = true;
			continue;
		}
		w->entries++;
		shown++;
		size_t node = node_add(w, src);
		if (node == PH_NO_NODE)
			return;
		if (last == PH_NO_NODE)
			r->nodes[parent].first_child = node;
		else
			r->nodes[last].next_sibling = node;
		last = node;
		w->tmp.len = 0;
		ph_graph_label(g, src, o, &w->tmp);
		/* (labels were cut at 511 bytes when printed) */
		r->nodes[node].via =
			ph_strings_add(&r->str, w->tmp.data,
				       w->tmp.len > 511 ? 511 : w->tmp.len);
		bool tree = depth > 1;
		bool expand = tree && !referrers_seen(w, src);
		r->nodes[node].tree = tree;
		r->nodes[node].expanded = expand;
		r->nodes[node].shown_above = tree && !expand;
		if (tree)
			node_roots(w, node, src);
		if (expand)
			referrers_level(w, node, src, depth - 1);
	}
	/* (once the tree is cut short, no count of what is left is right) */
	if (!w->err)
		r->nodes[parent].more = r->truncated ? 0 : total - shown;
}

struct ph_error *ph_query_referrers(struct ph_session *s,
				    const struct ph_referrers_opts *o,
				    struct ph_referrers_result **ret)
{
	uint32_t ob;
	struct ph_error *err = ph_query_object_need(s, "referrers", o->addr,
						    PH_GRAPH_REV_ROWS, &ob);
	if (err)
		return err;
	if (o->depth < 1 || o->depth > 16)
		return ph_error_create(PH_ERR_USAGE,
				       "referrers: --depth is 1 to 16");
	struct ph_graph *g = s->graph;
	struct ph_referrers_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	r->depth = o->depth;
	struct referrers_walk w = {
		.s = s,
		.g = g,
		.r = r,
		.limit = o->limit,
		.seen = calloc(g->h->n / 8 + 1, 1),
	};
	ph_buf_init(&w.tmp);
	if (!w.seen)
		w.err = ph_error_nomem();
	else {
		referrers_seen(&w, ob);
		size_t top = node_add(&w, ob);
		if (top != PH_NO_NODE) {
			r->nodes[top].expanded = true;
			r->nodes[top].tree = true;
			node_roots(&w, top, ob);
			referrers_level(&w, top, ob, o->depth);
		}
	}
	uint64_t lo, hi;
	ph_graph_rev_row(g, ob, &lo, &hi);
	r->no_referrers = lo == hi;
	free(w.seen);
	ph_buf_free(&w.tmp);
	if (!w.err && r->str.buf.failed)
		w.err = ph_error_nomem();
	if (w.err) {
		ph_referrers_result_destroy(r);
		return w.err;
	}
	*ret = r;
	return NULL;
}

void ph_referrers_result_destroy(struct ph_referrers_result *r)
{
	if (!r)
		return;
	free(r->nodes);
	free(r->root_names);
	ph_strings_free(&r->str);
	free(r);
}

/* ---- roots --------------------------------------------------------------- */

struct ph_error *ph_query_roots(struct ph_session *s,
				const struct ph_roots_opts *o,
				struct ph_roots_result **ret)
{
	/* the roots only (a mapped graph's, with its small sections) */
	struct ph_error *err = ph_session_graph_need(s, 0);
	if (err)
		return err;
	struct ph_graph *g = s->graph;
	struct ph_roots_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	size_t cap = 0;
	for (size_t i = 0; i < g->nroots && !err; i++) {
		const struct ph_root *root = &g->roots[i];
		if ((o->match && !strstr(root->name, o->match)) ||
		    !ph_session_keeps(s, root->target))
			continue;
		if (r->total++, o->limit && r->nrows >= o->limit)
			continue;
		if ((err = ph_grow((void **)&r->rows, &cap, r->nrows + 1,
				   sizeof(*r->rows))))
			break;
		r->rows[r->nrows++] = (struct ph_root_row){
			.name = ph_strings_add(&r->str, root->name,
					       strlen(root->name)),
			.obj = obj_ref(g->h, root->target),
			.size = ph_heap_obj_size(g->h, root->target)};
	}
	if (!err && r->str.buf.failed)
		err = ph_error_nomem();
	if (err) {
		ph_roots_result_destroy(r);
		return err;
	}
	*ret = r;
	return NULL;
}

void ph_roots_result_destroy(struct ph_roots_result *r)
{
	if (!r)
		return;
	free(r->rows);
	ph_strings_free(&r->str);
	free(r);
}

/* ---- path ---------------------------------------------------------------- */

/* The chain from a root to o (root's target first); returns its length. */
static size_t chain(struct ph_graph *g, uint32_t o, uint32_t *buf, size_t max,
		    uint32_t *ret_root)
{
	size_t n = 0;
	uint32_t cur = o;
	while (n < max && cur != PH_NONE && !(cur & PH_ROOT_BIT)) {
		buf[n++] = cur;
		cur = ph_graph_parent(g, cur);
	}
	*ret_root = cur != PH_NONE && (cur & PH_ROOT_BIT) ? cur & ~PH_ROOT_BIT
							  : PH_NONE;
	/* reverse: root first */
	for (size_t i = 0; i < n / 2; i++) {
		uint32_t t = buf[i];
		buf[i] = buf[n - 1 - i];
		buf[n - 1 - i] = t;
	}
	return n;
}

struct path_build {
	struct ph_graph *g;
	struct ph_path_result *r;
	size_t paths_cap, steps_cap;
	struct ph_buf tmp;
	struct ph_error *err;
};

static void path_add(struct path_build *b, const uint32_t *p, size_t n,
		     uint32_t root)
{
	struct ph_path_result *r = b->r;
	struct ph_graph *g = b->g;
	if ((b->err = ph_grow((void **)&r->paths, &b->paths_cap, r->npaths + 1,
			      sizeof(*r->paths))) ||
	    (b->err = ph_grow((void **)&r->steps, &b->steps_cap, r->nsteps + n,
			      sizeof(*r->steps))))
		return;
	const char *rname = root != PH_NONE ? g->roots[root].name : "?";
	struct ph_path *path = &r->paths[r->npaths++];
	*path = (struct ph_path){
		.root = ph_strings_add(&r->str, rname, strlen(rname)),
		.first = r->nsteps,
		.n = n};
	for (size_t i = 0; i < n; i++) {
		b->tmp.len = 0;
		if (i)
			ph_graph_label(g, p[i - 1], p[i], &b->tmp);
		r->steps[r->nsteps++] = (struct ph_path_step){
			.obj = obj_ref(g->h, p[i]),
			.via = ph_strings_add(&r->str, b->tmp.data,
					      i ? b->tmp.len : 0)};
	}
}

/* More chains: through each other root that holds o directly, then
 * through each other referrer the roots reach, nearest first. */
static void more_paths(struct path_build *b, uint32_t o, uint32_t root,
		       uint64_t all)
{
	struct ph_graph *g = b->g;
	uint64_t found = 1;
	for (size_t r = 0; r < g->nroots && found < all && !b->err; r++) {
		if (g->roots[r].target != o || r == root)
			continue;
		path_add(b, &o, 1, (uint32_t)r);
		found++;
	}
	uint64_t lo = g->rev_off[o], hi = g->rev_off[o + 1];
	uint32_t *cand = malloc((hi - lo + 1) * sizeof(*cand));
	size_t nc = 0;
	for (uint64_t e = lo; cand && e < hi; e++) {
		uint32_t src = g->rev[e];
		if (src != g->parent[o] && src != o &&
		    g->parent[src] != PH_NONE && (!nc || cand[nc - 1] != src))
			cand[nc++] = src;
	}
	/* nearest first: a selection sort on depth, for the few shown */
	uint32_t *dep = malloc((nc + 1) * sizeof(*dep));
	for (size_t i = 0; dep && i < nc; i++)
		dep[i] = ph_graph_depth(g, cand[i]);
	for (size_t i = 0; dep && i < nc; i++)
		for (size_t j = i + 1; j < nc && i < all; j++)
			if (dep[j] < dep[i]) {
				uint32_t t = cand[i], td = dep[i];
				cand[i] = cand[j], dep[i] = dep[j];
				cand[j] = t, dep[j] = td;
			}
	for (size_t i = 0; i < nc && found < all && !b->err; i++, found++) {
		size_t m = (dep ? (size_t)dep[i] : g->h->n) + 3;
		uint32_t *q = malloc(m * sizeof(*q));
		if (!q)
			break;
		uint32_t r2;
		size_t k = chain(g, cand[i], q, m - 1, &r2);
		q[k++] = o;
		path_add(b, q, k, r2);
		free(q);
	}
	free(cand);
	free(dep);
}

struct ph_error *ph_query_add_path(struct ph_graph *g, uint32_t obj,
				   size_t max_steps, struct ph_strings *str,
				   struct ph_path_step **steps, size_t *nsteps,
				   size_t *cap, struct ph_path *ret)
{
	*ret = (struct ph_path){.first = *nsteps};
	if (g->parent[obj] == PH_NONE)
		return NULL;
	size_t max = (size_t)ph_graph_depth(g, obj) + 2;
	uint32_t *p = malloc(max * sizeof(*p));
	struct ph_error *err = NULL;
	if (!p)
		return ph_error_nomem();
	uint32_t root;
	size_t n = chain(g, obj, p, max, &root);
	if (max_steps && n > max_steps) { /* the first steps, from the root */
		ret->cut = n - max_steps;
		n = max_steps;
	}
	if ((err = ph_grow((void **)steps, cap, *nsteps + n,
			   sizeof(**steps)))) {
		free(p);
		return err;
	}
	const char *rname = root != PH_NONE ? g->roots[root].name : "?";
	ret->root = ph_strings_add(str, rname, strlen(rname));
	ret->n = n;
	struct ph_buf tmp;
	ph_buf_init(&tmp);
	for (size_t i = 0; i < n; i++) {
		tmp.len = 0;
		if (i)
			ph_graph_label(g, p[i - 1], p[i], &tmp);
		(*steps)[(*nsteps)++] = (struct ph_path_step){
			.obj = obj_ref(g->h, p[i]),
			.via = ph_strings_add(str, tmp.data, i ? tmp.len : 0)};
	}
	if (tmp.failed || str->buf.failed)
		err = ph_error_nomem();
	ph_buf_free(&tmp);
	free(p);
	return err;
}

struct ph_error *ph_query_path(struct ph_session *s, const char *addr,
			       uint64_t all, struct ph_path_result **ret)
{
	uint32_t ob;
	/* the tree's steps from the object up, checked as read (the
	 * referrers, and the tree whole, only for --all's other paths) */
	struct ph_error *err = ph_query_object_need(
		s, "path", addr,
		all > 1 ? PH_GRAPH_PARENT | PH_GRAPH_REV : PH_GRAPH_PARENT_ROWS,
		&ob);
	if (err)
		return err;
	struct ph_graph *g = s->graph;
	struct ph_path_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	r->addr = g->h->addr[ob];
	r->all = all > 1;
	if (ph_graph_parent(g, ob) == PH_NONE) {
		*ret = r;
		return NULL;
	}
	r->reachable = true;
	size_t max = (size_t)ph_graph_depth(g, ob) + 2;
	uint32_t *p = malloc(max * sizeof(*p));
	if (!p) {
		free(r);
		return ph_error_nomem();
	}
	struct path_build b = {.g = g, .r = r};
	ph_buf_init(&b.tmp);
	uint32_t root;
	size_t n = chain(g, ob, p, max, &root);
	path_add(&b, p, n, root);
	if (all > 1 && !b.err)
		more_paths(&b, ob, root, all);
	free(p);
	ph_buf_free(&b.tmp);
	if (!b.err && r->str.buf.failed)
		b.err = ph_error_nomem();
	if (b.err) {
		ph_path_result_destroy(r);
		return b.err;
	}
	*ret = r;
	return NULL;
}

void ph_path_result_destroy(struct ph_path_result *r)
{
	if (!r)
		return;
	free(r->paths);
	free(r->steps);
	ph_strings_free(&r->str);
	free(r);
}
