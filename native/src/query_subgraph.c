/* query_subgraph.c - graph: the objects around one, as a picture draws
 * them. Backrefs: who holds it, out to --depth, with path's chain from its
 * root whatever the depth; refs: what it holds. Each fan-in or fan-out past
 * PH_SUBGRAPH_FOLD objects is folded by type, and the whole is capped at
 * max_nodes, so that a picture stays readable at any heap size. Every edge
 * is a strong reference of the graph; edges among the drawn objects that
 * the walk did not take are added too, so that cycles show as cycles.
 * With --interp, the walk enters that interpreter's objects only (path's
 * chain and the roots above drawn objects are drawn as they are); the
 * others are counted on the node they would hang from. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "query.h"

/* What graph reads of the graph: of a sealed graph the referents' and
 * the referrers' rows and the paths' steps, each checked as read */
#define SG_NEED (PH_GRAPH_FWD_ROWS | PH_GRAPH_REV_ROWS | PH_GRAPH_PARENT_ROWS)

#define EXTRA_EDGES_PER_NODE 4 /* edges among drawn nodes, beyond the walk */

struct sg_build {
	struct ph_session *s;
	struct ph_graph *g;
	struct ph_subgraph_result *r;
	uint32_t *obj_of;      /* by node: its object, or PH_NONE */
	struct ph_u64map node; /* object + 1 -> node */
	struct ph_u64map edge; /* (src node << 32 | dst node) + 1 -> edge */
	uint8_t *mark;	       /* a bit per object: met in this expansion */
	size_t nodes_cap, edges_cap, obj_cap;
	struct ph_buf tmp;
	struct ph_error *err;
};

static bool budget_left(struct sg_build *b)
{
	return b->r->nnodes < b->r->max_nodes;
}

static size_t node_new(struct sg_build *b, enum ph_sg_kind kind, uint32_t o,
		       uint32_t depth)
{
	struct ph_subgraph_result *r = b->r;
	if ((b->err = ph_grow((void **)&r->nodes, &b->nodes_cap, r->nnodes + 1,
			      sizeof(*r->nodes))) ||
	    (b->err = ph_grow((void **)&b->obj_of, &b->obj_cap, r->nnodes + 1,
			      sizeof(*b->obj_of))))
		return PH_NO_NODE;
	struct ph_sg_node *n = &r->nodes[r->nnodes];
	*n = (struct ph_sg_node){.kind = kind, .depth = depth};
	b->obj_of[r->nnodes] = kind == PH_SG_OBJECT ? o : PH_NONE;
	return r->nnodes++;
}

/* The node of object o, made if it is not drawn yet. */
static size_t node_object(struct sg_build *b, uint32_t o, uint32_t depth)
{
	uint32_t *have = ph_u64map_get(&b->node, (uint64_t)o + 1);
	if (have)
		return *have;
	size_t i = node_new(b, PH_SG_OBJECT, o, depth);
	if (i == PH_NO_NODE)
		return i;
	if ((b->err = ph_u64map_put(&b->node, (uint64_t)o + 1, (uint32_t)i,
				    NULL)))
		return PH_NO_NODE;
	struct ph_heap *h = b->g->h;
	struct ph_domtree *d = b->s->dom;
	struct ph_sg_node *n = &b->r->nodes[i];
	n->obj = (struct ph_obj_ref){.addr = h->addr[o],
				     .type = tname(ph_obj_type(h, o))};
	n->size = ph_heap_obj_size(h, o);
	ph_domtree_retained(d, o, &n->retained_objects, &n->retained_bytes);
	b->tmp.len = 0;
	ph_repr_object(h, h->addr[o], ph_tidx(h, o), &b->tmp);
	n->label = ph_strings_add(&b->r->str, b->tmp.data, b->tmp.len);
	return i;
}

/* The edge src -> dst (nodes), once; via: objects' label, else "". */
static size_t edge_add(struct sg_build *b, size_t src, size_t dst)
{
	struct ph_subgraph_result *r = b->r;
	uint64_t key = ((uint64_t)src << 32 | dst) + 1;
	uint32_t *have = ph_u64map_get(&b->edge, key);
	if (have)
		return *have;
	if ((b->err = ph_grow((void **)&r->edges, &b->edges_cap, r->nedges + 1,
			      sizeof(*r->edges))) ||
	    (b->err = ph_u64map_put(&b->edge, key, (uint32_t)r->nedges, NULL)))
		return PH_NO_NODE;
	b->tmp.len = 0;
	if (b->obj_of[src] != PH_NONE && b->obj_of[dst] != PH_NONE)
		ph_graph_label(b->g, b->obj_of[src], b->obj_of[dst], &b->tmp);
	/* (labels are cut at 511 bytes, as referrers cuts them) */
	r->edges[r->nedges] = (struct ph_sg_edge){
		.src = src,
		.dst = dst,
		.via = ph_strings_add(&r->str, b->tmp.data,
				      b->tmp.len > 511 ? 511 : b->tmp.len)};
	return r->nedges++;
}

/* The neighbours of object o: its referrers (backrefs) or referents. */
static void neighbours(struct sg_build *b, uint32_t o, const uint32_t **ret,
		       size_t *ret_n)
{
	struct ph_graph *g = b->g;
	/* (a sealed graph's row, checked: its numbers by expand) */
	uint64_t lo, hi;
	if (b->r->refs) {
		ph_graph_fwd_row(g, o, &lo, &hi);
		*ret = g->fwd + lo;
	} else {
		ph_graph_rev_row(g, o, &lo, &hi);
		*ret = g->rev + lo;
	}
	*ret_n = hi - lo;
}

static bool mark_set(uint8_t *m, uint32_t o)
{
	bool was = (m[o / 8] >> (o % 8)) & 1;
	m[o / 8] |= (uint8_t)(1u << (o % 8));
	return was;
}

static void mark_clear(uint8_t *m, uint32_t o)
{
	m[o / 8] &= (uint8_t) ~(1u << (o % 8));
}

/* Holder -> held, whichever way the walk goes. */
static void edge_between(struct sg_build *b, size_t from, size_t to)
{
	if (b->r->refs)
		edge_add(b, from, to);
	else
		edge_add(b, to, from);
}

struct fold {
	uint32_t tidx;
	uint64_t count, bytes;
};

/* Draws o's neighbours (new ones at depth + 1, queued by being added):
 * all of them when few, else the first PH_SUBGRAPH_SHOWN and the rest
 * folded by type, as long as the budget lasts. */
static void expand(struct sg_build *b, size_t ni)
{
	struct ph_subgraph_result *r = b->r;
	struct ph_heap *h = b->g->h;
	uint32_t o = b->obj_of[ni];
	uint32_t depth = r->nodes[ni].depth;
	const uint32_t *nb;
	size_t nn;
	neighbours(b, o, &nb, &nn);
	/* the distinct neighbours not drawn yet; the drawn ones get edges */
	size_t fresh = 0;
	for (size_t k = 0; k < nn && !b->err; k++) {
		if (nb[k] >= h->n) /* (a sealed graph's row: not an object) */
			continue;
		if (mark_set(b->mark, nb[k]))
			continue;
		if (!ph_session_keeps(b->s, nb[k])) {
			/* --interp: another interpreter's, counted once */
			r->nodes[ni].other_interp++;
			continue;
		}
		uint32_t *have = ph_u64map_get(&b->node, (uint64_t)nb[k] + 1);
		if (have)
			edge_between(b, ni, *have);
		else
			fresh++;
	}
	bool fold = fresh > PH_SUBGRAPH_FOLD;
	/* folding: the first PH_SUBGRAPH_SHOWN of each type are drawn (of
	 * the first PH_SUBGRAPH_FOLD types met) */
	struct fold drawn[PH_SUBGRAPH_FOLD] = {{0}};
	size_t ndrawn = 0;
	struct fold folds[PH_SUBGRAPH_FOLD_TYPES + 1] = {{0}};
	size_t nfolds = 0;
	uint64_t cut = 0;
	for (size_t k = 0; k < nn && !b->err; k++) {
		uint32_t t = nb[k];
		if (t >= h->n || !((b->mark[t / 8] >> (t % 8)) & 1))
			continue; /* met before in this loop */
		mark_clear(b->mark, t);
		if (!ph_session_keeps(b->s, t) ||
		    ph_u64map_get(&b->node, (uint64_t)t + 1))
			continue;
		size_t d = 0;
		while (d < ndrawn && drawn[d].tidx != ph_tidx(h, t))
			d++;
		if (fold && d == ndrawn && ndrawn < PH_SUBGRAPH_FOLD)
			drawn[ndrawn++] = (struct fold){.tidx = ph_tidx(h, t)};
		if ((!fold ||
		     (d < ndrawn && drawn[d].count < PH_SUBGRAPH_SHOWN)) &&
		    budget_left(b)) {
			size_t nj = node_object(b, t, depth + 1);
			if (nj != PH_NO_NODE)
				edge_between(b, ni, nj);
			if (fold)
				drawn[d].count++;
			continue;
		}
		/* folded: by type, the first few types, then the others */
		size_t f = 0;
		while (f < nfolds && folds[f].tidx != ph_tidx(h, t) &&
		       f < PH_SUBGRAPH_FOLD_TYPES)
			f++;
		if (f == nfolds) {
			if (nfolds == PH_SUBGRAPH_FOLD_TYPES + 1) {
				cut++;
				continue;
			}
			folds[nfolds++] =
				(struct fold){.tidx = f < PH_SUBGRAPH_FOLD_TYPES
							      ? ph_tidx(h, t)
							      : PH_NONE};
		}
		folds[f].count++;
		folds[f].bytes += ph_heap_obj_size(h, t);
	}
	for (size_t f = 0; f < nfolds && !b->err; f++) {
		if (!budget_left(b)) {
			cut += folds[f].count;
			continue;
		}
		size_t nj = node_new(b, PH_SG_FOLD, PH_NONE, depth + 1);
		if (nj == PH_NO_NODE)
			break;
		struct ph_sg_node *n = &r->nodes[nj];
		n->count = folds[f].count;
		n->size = folds[f].bytes;
		if (folds[f].tidx != PH_NONE)
			n->obj.type = tname(&h->types[folds[f].tidx]);
		edge_between(b, ni, nj);
	}
	r->nodes[ni].expanded = true;
	r->nodes[ni].more = cut;
	if (cut)
		r->truncated = true;
}

/* Backrefs: path's chain from the root down to the object, drawn first
 * (up to three quarters of the budget). */
static void add_chain(struct sg_build *b, uint32_t ob)
{
	struct ph_graph *g = b->g;
	struct ph_subgraph_result *r = b->r;
	size_t below = 0; /* node 0, the object */
	uint32_t cur = ob, depth = 0;
	uint64_t chain_max = r->max_nodes * 3 / 4;
	r->nodes[0].on_path = true;
	/* (a sealed graph's steps, checked: one that is none, or a chain
	 * longer than the objects, ends it) */
	for (uint64_t steps = 0; !b->err && steps <= g->h->n; steps++) {
		uint32_t p = ph_graph_parent(g, cur);
		if (p == PH_NONE)
			return;
		if (p & PH_ROOT_BIT) {
			const char *name = g->roots[p & ~PH_ROOT_BIT].name;
			r->path_root =
				ph_strings_add(&r->str, name, strlen(name));
			return;
		}
		if (r->nnodes >= chain_max) {
			/* the rest of the chain: one node that counts it */
			uint64_t left = ph_graph_depth(g, cur);
			const char *name = "?";
			uint32_t top = cur, tp;
			for (uint64_t k = 0; k <= g->h->n; k++) {
				tp = ph_graph_parent(g, top);
				if (tp & PH_ROOT_BIT)
					break;
				top = tp;
			}
			if (tp != PH_NONE && (tp & PH_ROOT_BIT))
				name = g->roots[tp & ~PH_ROOT_BIT].name;
			r->path_root =
				ph_strings_add(&r->str, name, strlen(name));
			r->path_cut = left;
			size_t nf = node_new(b, PH_SG_FOLD, PH_NONE, depth + 1);
			if (nf == PH_NO_NODE)
				return;
			r->nodes[nf].count = left;
			r->nodes[nf].on_path = true;
			size_t e = edge_add(b, nf, below);
			if (e != PH_NO_NODE)
				r->edges[e].on_path = true;
			return;
		}
		size_t np = node_object(b, p, ++depth);
		if (np == PH_NO_NODE)
			return;
		r->nodes[np].on_path = true;
		size_t e = edge_add(b, np, below);
		if (e != PH_NO_NODE)
			r->edges[e].on_path = true;
		below = np;
		cur = p;
	}
}

/* Roots that hold drawn objects directly: a node each (at most
 * PH_SUBGRAPH_ROOTS per object; the count of the others in the last). */
static void add_roots(struct sg_build *b)
{
	struct ph_graph *g = b->g;
	struct ph_subgraph_result *r = b->r;
	size_t nobj = r->nnodes;
	uint32_t *drawn = calloc(nobj ? nobj : 1, sizeof(*drawn));
	if (!drawn) {
		b->err = ph_error_nomem();
		return;
	}
	for (size_t k = 0; k < g->nroots && !b->err; k++) {
		uint32_t *ni = ph_u64map_get(&b->node,
					     (uint64_t)g->roots[k].target + 1);
		if (!ni || *ni >= nobj)
			continue;
		if (drawn[*ni] >= PH_SUBGRAPH_ROOTS) {
			/* counted on the last root node drawn above it */
			for (size_t e = r->nedges; e-- > 0;)
				if (r->edges[e].dst == *ni &&
				    r->nodes[r->edges[e].src].kind ==
					    PH_SG_ROOT) {
					r->nodes[r->edges[e].src].count++;
					break;
				}
			continue;
		}
		/* past the budget, only the root of path's chain */
		bool chain_root = ph_graph_parent(g, g->roots[k].target) ==
					  (PH_ROOT_BIT | (uint32_t)k) &&
				  r->nodes[*ni].on_path;
		if (!budget_left(b) && !chain_root) {
			r->truncated = true;
			continue;
		}
		drawn[*ni]++;
		size_t nr = node_new(b, PH_SG_ROOT, PH_NONE, 0);
		if (nr == PH_NO_NODE)
			break;
		r->nodes[nr].label = ph_strings_add(&r->str, g->roots[k].name,
						    strlen(g->roots[k].name));
		size_t e = edge_add(b, nr, *ni);
		if (e != PH_NO_NODE && chain_root)
			r->edges[e].on_path = r->nodes[nr].on_path = true;
	}
	free(drawn);
}

/* Edges among drawn objects the walk did not take (a few per node), so
 * that a loop among them is drawn whole. */
static void add_cross_edges(struct sg_build *b)
{
	struct ph_graph *g = b->g;
	struct ph_subgraph_result *r = b->r;
	size_t nobj = r->nnodes;
	for (size_t i = 0; i < nobj && !b->err; i++) {
		uint32_t o = b->obj_of[i];
		if (o == PH_NONE)
			continue;
		size_t added = 0;
		uint64_t lo, hi;
		ph_graph_fwd_row(g, o, &lo, &hi);
		for (uint64_t e = lo;
		     e < hi && added < EXTRA_EDGES_PER_NODE && !b->err; e++) {
			uint32_t t = ph_graph_fwd_at(g, e);
			uint32_t *nj = t == PH_NONE
					       ? NULL
					       : ph_u64map_get(&b->node,
							       (uint64_t)t + 1);
			if (!nj)
				continue;
			uint64_t key = ((uint64_t)i << 32 | *nj) + 1;
			if (ph_u64map_get(&b->edge, key))
				continue;
			edge_add(b, i, *nj);
			added++;
		}
	}
}

/* Tarjan's algorithm on the drawn edges (a few hundred nodes at most),
 * iterative: edges on a loop, and their nodes, are marked in_cycle. */
static void mark_cycles(struct sg_build *b)
{
	struct ph_subgraph_result *r = b->r;
	size_t n = r->nnodes, m = r->nedges;
	size_t *off = calloc(n + 1, sizeof(*off)),
	       *adj = malloc((m + 1) * sizeof(*adj));
	size_t *idx = malloc((n + 1) * sizeof(*idx)),
	       *low = malloc((n + 1) * sizeof(*low));
	size_t *comp = malloc((n + 1) * sizeof(*comp)),
	       *stack = malloc((n + 1) * sizeof(*stack));
	size_t *cs = malloc((n + 1) * sizeof(*cs)),
	       *ci = malloc((n + 1) * sizeof(*ci));
	bool *on = calloc(n + 1, 1);
	if (!off || !adj || !idx || !low || !comp || !stack || !cs || !ci ||
	    !on) {
		b->err = ph_error_nomem();
		goto out;
	}
	for (size_t e = 0; e < m; e++)
		off[r->edges[e].src + 1]++;
	for (size_t i = 0; i < n; i++)
		off[i + 1] += off[i];
	for (size_t i = 0; i < n; i++)
		ci[i] = 0;
	for (size_t e = 0; e < m; e++) {
		size_t s = r->edges[e].src;
		adj[off[s] + ci[s]++] = r->edges[e].dst;
	}
	size_t counter = 0, sp = 0, ncomp = 0;
	for (size_t i = 0; i < n; i++)
		idx[i] = SIZE_MAX;
	for (size_t root = 0; root < n; root++) {
		if (idx[root] != SIZE_MAX)
			continue;
		size_t csp = 0;
		cs[csp] = root;
		ci[csp++] = off[root];
		idx[root] = low[root] = counter++;
		stack[sp++] = root;
		on[root] = true;
		while (csp) {
			size_t v = cs[csp - 1];
			if (ci[csp - 1] < off[v + 1]) {
				size_t w = adj[ci[csp - 1]++];
				if (idx[w] == SIZE_MAX) {
					idx[w] = low[w] = counter++;
					stack[sp++] = w;
					on[w] = true;
					cs[csp] = w;
					ci[csp++] = off[w];
				} else if (on[w] && idx[w] < low[v])
					low[v] = idx[w];
				continue;
			}
			if (low[v] == idx[v]) {
				size_t w;
				do {
					w = stack[--sp];
					on[w] = false;
					comp[w] = ncomp;
				} while (w != v);
				ncomp++;
			}
			csp--;
			if (csp) {
				size_t u = cs[csp - 1];
				if (low[v] < low[u])
					low[u] = low[v];
			}
		}
	}
	for (size_t e = 0; e < m; e++) {
		struct ph_sg_edge *ed = &r->edges[e];
		bool loop = ed->src == ed->dst;
		if (!loop && comp[ed->src] == comp[ed->dst])
			loop = true; /* same component of more than one */
		if (loop) {
			ed->in_cycle = true;
			r->nodes[ed->src].in_cycle =
				r->nodes[ed->dst].in_cycle = true;
		}
	}
out:
	free(off), free(adj), free(idx), free(low), free(comp), free(stack);
	free(cs), free(ci), free(on);
}

/* A sealed tree's rows were read for the drawn objects only: one that
 * reads wrong has the tree read again checked whole (built again), and
 * every node's retained sizes read again from it. */
static struct ph_error *retained_mend(struct sg_build *b)
{
	struct ph_subgraph_result *r = b->r;
	size_t i = 0;
	while (i < r->nnodes && (b->obj_of[i] == PH_NONE ||
				 ph_domtree_row_ok(b->s->dom, b->obj_of[i])))
		i++;
	if (i == r->nnodes)
		return NULL;
	struct ph_error *err = ph_session_dominators_damaged(b->s, SG_NEED);
	for (i = 0; !err && i < r->nnodes; i++)
		if (b->obj_of[i] != PH_NONE)
			ph_domtree_retained(b->s->dom, b->obj_of[i],
					    &r->nodes[i].retained_objects,
					    &r->nodes[i].retained_bytes);
	return err;
}

struct ph_error *ph_query_subgraph(struct ph_session *s,
				   const struct ph_subgraph_opts *o,
				   struct ph_subgraph_result **ret)
{
	uint32_t ob;
	struct ph_error *err =
		ph_query_object_need(s, "graph", o->addr, SG_NEED, &ob);
	if (err)
		return err;
	if (o->depth < 1 || o->depth > 64)
		return ph_error_create(PH_ERR_USAGE,
				       "graph: --depth is 1 to 64");
	if (o->max_nodes < 2 || o->max_nodes > 100000)
		return ph_error_create(PH_ERR_USAGE,
				       "graph: --max-nodes is 2 to 100000");
	if (!ph_session_keeps(s, ob))
		return ph_error_create(
			PH_ERR_USAGE,
			"graph: --interp %lld: 0x%llx is interpreter %lld's",
			(long long)s->rt->interps[s->only_interp].id,
			(unsigned long long)s->heap->addr[ob],
			(long long)s->rt->interps[ph_heap_interp(s->heap, ob)]
				.id);
	/* the drawn objects' retained sizes only, and of a sealed graph its
	 * referrers' rows and its paths' steps, each checked as read */
	if ((err = ph_session_dominators_rows(s, SG_NEED)))
		return err;
	struct ph_graph *g = s->graph;
	struct ph_subgraph_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	r->addr = g->h->addr[ob];
	r->refs = o->refs;
	r->depth = o->depth;
	r->max_nodes = o->max_nodes;
	r->reachable = ph_graph_parent(g, ob) != PH_NONE;
	r->interp =
		s->only_interp >= 0 ? s->rt->interps[s->only_interp].id : -1;
	struct sg_build b = {.s = s, .g = g, .r = r};
	ph_u64map_init(&b.node);
	ph_u64map_init(&b.edge);
	ph_buf_init(&b.tmp);
	b.mark = calloc(g->h->n / 8 + 1, 1);
	if (!b.mark)
		b.err = ph_error_nomem();
	if (!b.err && node_object(&b, ob, 0) != PH_NO_NODE) {
		r->nodes[0].target = true;
		if (!o->refs && r->reachable)
			add_chain(&b, ob);
		/* breadth first: nodes are expanded in the order drawn */
		for (size_t i = 0; i < r->nnodes && !b.err; i++) {
			if (r->nodes[i].kind != PH_SG_OBJECT ||
			    r->nodes[i].depth >= o->depth)
				continue;
			/* what a class holds (its dict, bases, mro) would
			 * crowd out what the object holds: classes are
			 * leaves of --refs, unless asked about */
			if (o->refs && i &&
			    (ph_obj_type(g->h, b.obj_of[i])->flags &
			     PH_TPFLAGS_TYPE_SUBCLASS))
				continue;
			if (!budget_left(&b)) {
				r->truncated = true;
				break;
			}
			expand(&b, i);
		}
		if (!b.err && !o->refs)
			add_roots(&b);
		if (!b.err)
			add_cross_edges(&b);
		if (!b.err)
			mark_cycles(&b);
	}
	if (!b.err)
		b.err = retained_mend(&b);
	if (!b.err && (r->str.buf.failed || b.tmp.failed))
		b.err = ph_error_nomem();
	free(b.mark);
	free(b.obj_of);
	ph_u64map_free(&b.node);
	ph_u64map_free(&b.edge);
	ph_buf_free(&b.tmp);
	if (b.err) {
		ph_subgraph_result_destroy(r);
		return b.err;
	}
	*ret = r;
	return NULL;
}

void ph_subgraph_result_destroy(struct ph_subgraph_result *r)
{
	if (!r)
		return;
	free(r->nodes);
	free(r->edges);
	ph_strings_free(&r->str);
	free(r);
}
