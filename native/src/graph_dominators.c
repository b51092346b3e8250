/* graph_dominators.c - what holds the memory: the dominator tree of the
 * graph and the retained size of every object.
 *
 * Object d dominates x when every path from the roots to x passes through
 * d; what d dominates (itself included) is its retained set, what deleting
 * d would free. The paths start at one virtual root above every root target
 * (graph.h's roots[]); the objects no root reaches hang under a second
 * virtual root, "unreachable", entered as docs/manual.md says (see
 * dom_enter_unreachable). Weak references are not edges of the graph.
 *
 * Lengauer and Tarjan's algorithm, with path halving in its forest, and
 * iterative throughout: the depth-first search keeps its stack in the
 * parents' chain and each node's edge cursor, eval walks up without a
 * stack. Leaves (objects that refer only to root targets or themselves, a
 * str, an int) held by one object are left out of it: their dominator is
 * that object. Edges into root targets are left out too: the virtual root
 * reaches each of them directly, so no such edge can change a dominator.
 *
 * The tree is kept in its preorder (struct ph_domtree): every object's
 * position, and by position the size of its subtree (its retained objects)
 * and its retained bytes, so that a subtree is a range of positions: 16
 * bytes per object. The algorithm's arrays take 4 bytes per object and 16
 * per object it numbers (the non-leaves, about half): within those 16 when
 * a quarter of the objects or more are leaves (docs/design.md,
 * "Dominators"). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "graph.h"

#define NIL UINT32_MAX
#define MARK_ROOT (UINT32_MAX - 1) /* pre[]: a root target not numbered yet */
#define PENDING (UINT32_MAX - 2)   /* pre[]: a leaf its one referrer marks */
#define LEAF_BIT (1U << 31)	   /* pre[]: a leaf; its dominator's number */
#define SAME_BIT (1U << 31)	   /* dom[]: the same dominator as this node */
#define WORDS(k) ((size_t)(k) * sizeof(uint32_t)) /* bytes of k numbers */

struct dom_build {
	const struct ph_graph *g;
	uint32_t n;
	/* by object: its number in the depth-first preorder, or a mark */
	uint32_t *pre;
	/* by number: the object (numbering), then its semidominator */
	uint32_t *vx;
	/* by number: the search tree's parent, then its ancestor in the
	 * forest of the nodes done (path halving shortens it) */
	uint32_t *anc;
	/* by number: the search's edge cursor, then the bucket of the nodes
	 * whose semidominator it is (a list through dom[]), then the node of
	 * least semidominator on the way up to anc (the label) */
	uint32_t *lab;
	/* by number: the next in its bucket, then its dominator (or, with
	 * SAME_BIT, the node whose dominator it shares) */
	uint32_t *dom;
	uint32_t nodes; /* numbers the search will give */
	uint32_t next;	/* numbers given: the roots' and the non-leaves' */
	uint32_t uroot; /* the unreachable root's number (the roots' is 0) */
	uint64_t ticks; /* for polling the interrupt */
	uint32_t unreachable_entries;
};

static inline bool is_root_target(const struct ph_graph *g, uint32_t t)
{
	return g->parent[t] != PH_NONE && (g->parent[t] & PH_ROOT_BIT);
}

/* An object that refers to nothing but root targets and itself: it can
 * dominate nothing but itself. */
static bool leaf_shaped(const struct ph_graph *g, uint32_t v)
{
	for (uint64_t e = g->fwd_off[v]; e < g->fwd_off[v + 1]; e++) {
		uint32_t t = g->fwd[e];
		if (t != v && !is_root_target(g, t))
			return false;
	}
	return true;
}

/* Does one object at most, other than v, refer to v? */
static bool one_referrer(const struct ph_graph *g, uint32_t v)
{
	uint32_t first = NIL;
	for (uint64_t e = g->rev_off[v]; e < g->rev_off[v + 1]; e++) {
		uint32_t u = g->rev[e];
		if (u == v || u == first)
			continue;
		if (first != NIL)
			return false;
		first = u;
	}
	return true;
}

/* Does anything but v itself refer to v? */
static bool has_referrer(const struct ph_graph *g, uint32_t v)
{
	for (uint64_t e = g->rev_off[v]; e < g->rev_off[v + 1]; e++)
		if (g->rev[e] != v)
			return true;
	return false;
}

static bool poll(struct dom_build *b)
{
	return !(++b->ticks & 0xffff) && ph_interrupted();
}

static uint32_t number(struct dom_build *b, uint32_t v, uint32_t parent)
{
	uint32_t w = b->next++;
	b->pre[v] = w;
	b->vx[w] = v;
	b->anc[w] = parent;
	b->lab[w] = b->g->fwd_off[v];
	return w;
}

/* Depth-first from node start (a child of the virtual root r): the stack
 * is the chain of parents, each node's place in its edges is its cursor. */
static struct ph_error *dfs(struct dom_build *b, uint32_t start, uint32_t r)
{
	const struct ph_graph *g = b->g;
	uint32_t cur = start;
	while (cur != r) {
		if (poll(b))
			return ph_error_interrupted();
		uint32_t x = b->vx[cur], down = NIL;
		uint64_t e = b->lab[cur], end = g->fwd_off[x + 1];
		while (e < end) {
			uint32_t v = g->fwd[e++], m = b->pre[v];
			if (m == PENDING) { /* a leaf that x alone holds */
				b->pre[v] = LEAF_BIT | cur;
				continue;
			}
			if (m != NIL)
				continue; /* numbered, a leaf, a root target */
			down = v;
			break;
		}
		b->lab[cur] = (uint32_t)e;
		cur = down != NIL ? number(b, down, cur) : b->anc[cur];
	}
	return NULL;
}

/* The objects no root reaches, under the second virtual root: first those
 * nothing else refers to, in object order, then, in object order, each one
 * not reached yet that refers to something but root targets (an entry to
 * a cycle no other garbage reaches). A leaf gets its dominator from what
 * reaches it. */
static struct ph_error *dom_enter_unreachable(struct dom_build *b)
{
	const struct ph_graph *g = b->g;
	struct ph_error *err;
	uint32_t k = b->uroot;
	for (int pass = 1; pass <= 2; pass++)
		for (uint32_t x = 0; x < b->n; x++) {
			/* (a root target no root names, in a damaged graph
			 * file whose parents and roots disagree: as if no
			 * root reached it) */
			if (b->pre[x] != NIL && b->pre[x] != MARK_ROOT)
				continue;
			if (pass == 1 && has_referrer(g, x))
				continue;
			if (pass == 2 && leaf_shaped(g, x))
				continue;
			b->unreachable_entries++;
			if ((err = dfs(b, number(b, x, k), k)))
				return err;
		}
	/* the leaves nothing refers to (every other one was reached from
	 * what refers to it) */
	for (uint32_t x = 0; x < b->n; x++)
		if (b->pre[x] == PENDING || b->pre[x] == NIL)
			b->pre[x] = LEAF_BIT | k;
	return NULL;
}

/* What the search leaves out, before it starts: root targets that are
 * leaves (the root dominates them), leaves with one referrer at most (it
 * dominates them: the search marks them when it meets them). One pass in
 * object order. Returns how many objects the search will number. */
static uint32_t dom_mark(struct dom_build *b)
{
	const struct ph_graph *g = b->g;
	uint32_t nodes = 0;
	for (uint32_t x = 0; x < b->n; x++) {
		bool leaf = leaf_shaped(g, x);
		uint32_t m = NIL;
		if (is_root_target(g, x))
			m = leaf ? LEAF_BIT | 0 : MARK_ROOT;
		else if (leaf && one_referrer(g, x))
			m = PENDING;
		b->pre[x] = m;
		nodes += m == NIL || m == MARK_ROOT;
	}
	return nodes;
}

static struct ph_error *dom_search(struct dom_build *b)
{
	const struct ph_graph *g = b->g;
	struct ph_error *err;
	/* 0: the virtual root of the roots */
	b->next = 1;
	b->vx[0] = NIL;
	b->anc[0] = 0;
	for (size_t r = 0; r < g->nroots; r++) {
		uint32_t t = g->roots[r].target;
		if (b->pre[t] != MARK_ROOT)
			continue; /* a leaf, or met already */
		if ((err = dfs(b, number(b, t, 0), 0)))
			return err;
	}
	uint32_t k = b->uroot = b->next++;
	b->vx[k] = NIL;
	b->anc[k] = k;
	return dom_enter_unreachable(b);
}

/* The node of least semidominator on the way from v (done) up to the
 * first node not done (numbered w or less), halving the way as it goes. */
static inline uint32_t eval(struct dom_build *b, uint32_t v, uint32_t w)
{
	uint32_t *anc = b->anc, *lab = b->lab, *semi = b->vx;
	uint32_t best = lab[v], u = v;
	for (;;) {
		uint32_t a = anc[u];
		if (a <= w)
			break;
		if (semi[lab[a]] < semi[best])
			best = lab[a];
		uint32_t c = anc[a];
		if (c <= w)
			break;
		if (semi[lab[a]] < semi[lab[u]])
			lab[u] = lab[a];
		anc[u] = c;
		u = c;
		if (semi[lab[u]] < semi[best])
			best = lab[u];
	}
	return best;
}

/* The nodes whose semidominator is w get their dominator, or the node
 * whose dominator they share. */
static void empty_bucket(struct dom_build *b, uint32_t w)
{
	for (uint32_t v = b->lab[w]; v != NIL;) {
		uint32_t next = b->dom[v], u = eval(b, v, w);
		b->dom[v] = b->vx[u] < b->vx[v] ? (SAME_BIT | u) : w;
		v = next;
	}
	b->lab[w] = NIL;
}

static struct ph_error *dom_lengauer_tarjan(struct dom_build *b)
{
	const struct ph_graph *g = b->g;
	uint32_t N = b->next, k = b->uroot;
	for (uint32_t w = 0; w < N; w++)
		b->lab[w] = NIL;
	for (uint32_t w = N - 1; w >= 1; w--) {
		if (poll(b))
			return ph_error_interrupted();
		empty_bucket(b, w);
		if (w == k)
			continue;
		uint32_t x = b->vx[w], p = b->anc[w], s = p;
		uint32_t root = w < k ? 0 : k, lim = w < k ? k : N;
		if (p != root)
			/* (in the roots' tree, referrers no root reaches do
			 * not count; the marks are above every number) */
			for (uint64_t e = g->rev_off[x]; e < g->rev_off[x + 1];
			     e++) {
				uint32_t v = b->pre[g->rev[e]];
				if (v >= lim)
					continue;
				if (v > w)
					v = b->vx[eval(b, v, w)];
				if (v < s)
					s = v;
			}
		b->vx[w] = s;
		b->dom[w] = b->lab[s];
		b->lab[s] = w;
		b->lab[w] = w;
	}
	empty_bucket(b, 0);
	b->dom[0] = 0;
	b->dom[k] = k;
	for (uint32_t w = 1; w < N; w++)
		if (b->dom[w] & SAME_BIT)
			b->dom[w] = b->dom[b->dom[w] & ~SAME_BIT];
	return NULL;
}

/* The tree in its preorder: positions, subtree sizes, retained bytes. */
static struct ph_error *dom_lay_out(struct dom_build *b, struct ph_domtree *d)
{
	uint32_t n = b->n, N = b->next, k = b->uroot;
	uint32_t *pre = b->pre, *vx = b->vx, *cnt = b->anc, *dom = b->dom;
	ph_big_free(b->lab, WORDS(b->nodes));
	b->lab = NULL;
	/* the object at each number, again */
	for (uint32_t w = 0; w < N; w++)
		vx[w] = NIL;
	for (uint32_t x = 0; x < n; x++)
		if (!(pre[x] & LEAF_BIT))
			vx[pre[x]] = x;
	/* subtree sizes, by number: children come after their dominator */
	for (uint32_t w = 0; w < N; w++)
		cnt[w] = w && w != k;
	for (uint32_t x = 0; x < n; x++)
		if (pre[x] & LEAF_BIT)
			cnt[pre[x] & ~LEAF_BIT]++;
	for (uint32_t w = N - 1; w >= 1; w--)
		if (w != k)
			cnt[dom[w]] += cnt[w];
	d->nreach = cnt[0];
	/* positions: each node takes the next place in its dominator's range
	 * (dom[] becomes that next place, node by node, in number order) */
	for (uint32_t w = 0; w < N; w++) {
		if (w == 0 || w == k) {
			dom[w] = w ? d->nreach : 0;
			continue;
		}
		uint32_t p = dom[w], at = dom[p];
		dom[p] = at + cnt[w];
		dom[w] = at + 1;
		pre[vx[w]] = at;
	}
	for (uint32_t x = 0; x < n; x++)
		if (pre[x] & LEAF_BIT)
			pre[x] = dom[pre[x] & ~LEAF_BIT]++;
	ph_big_free(b->dom, WORDS(b->nodes));
	b->dom = NULL;
	d->pos = pre;
	b->pre = NULL;
	/* subtree sizes by position; leaves hold one object */
	d->count = ph_big_alloc(WORDS(n + 1));
	if (!d->count)
		return ph_error_nomem();
	for (uint32_t i = 0; i < n; i++)
		d->count[i] = 1;
	for (uint32_t w = 1; w < N; w++)
		if (w != k)
			d->count[d->pos[vx[w]]] = cnt[w];
	ph_big_free(b->vx, WORDS(b->nodes));
	ph_big_free(b->anc, WORDS(b->nodes));
	b->vx = b->anc = NULL;
	/* retained bytes: a subtree is a range of positions, so its bytes are
	 * a difference of prefix sums, computed in place */
	uint64_t *by = ph_big_alloc(2 * WORDS(n + 1));
	if (!by)
		return ph_error_nomem();
	const struct ph_heap *h = b->g->h;
	for (uint32_t x = 0; x < n; x++)
		by[d->pos[x]] = ph_heap_obj_size(h, x);
	uint64_t sum = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = by[i];
		by[i] = sum;
		sum += t;
	}
	by[n] = sum;
	d->total_bytes = sum;
	d->reach_bytes = by[d->nreach];
	for (uint32_t i = 0; i < n; i++)
		by[i] = by[i + d->count[i]] - by[i];
	d->bytes = by;
	return NULL;
}

static void dom_build_free(struct dom_build *b)
{
	ph_big_free(b->pre, WORDS(b->n + 1));
	ph_big_free(b->vx, WORDS(b->nodes));
	ph_big_free(b->anc, WORDS(b->nodes));
	ph_big_free(b->lab, WORDS(b->nodes));
	ph_big_free(b->dom, WORDS(b->nodes));
}

struct ph_error *ph_graph_dominators(const struct ph_graph *g,
				     struct ph_domtree **ret)
{
	size_t n = g->h->n;
	if (n >= (1U << 31) - 4)
		return ph_error_create(PH_ERR_UNSUPPORTED,
				       "the dominator tree of %zu objects: "
				       "more than its 31-bit numbers hold",
				       n);
	struct ph_domtree *d = calloc(1, sizeof(*d));
	struct dom_build b = {.g = g, .n = (uint32_t)n};
	struct ph_error *err = NULL;
	if (!d)
		return ph_error_nomem();
	d->n = (uint32_t)n;
	ph_stage(NULL);
	if (!(b.pre = ph_big_alloc(WORDS(n + 1)))) {
		err = ph_error_nomem();
		goto out;
	}
	/* the search numbers the non-leaves only, about half the objects */
	b.nodes = dom_mark(&b) + 2;
	b.vx = ph_big_alloc(WORDS(b.nodes));
	b.anc = ph_big_alloc(WORDS(b.nodes));
	b.lab = ph_big_alloc(WORDS(b.nodes));
	b.dom = ph_big_alloc(WORDS(b.nodes));
	if (!b.vx || !b.anc || !b.lab || !b.dom) {
		err = ph_error_nomem();
		goto out;
	}
	if ((err = dom_search(&b)))
		goto out;
	ph_stage("dominators: search");
	d->unreachable_entries = b.unreachable_entries;
	d->nodes = b.next;
	if ((err = dom_lengauer_tarjan(&b)))
		goto out;
	ph_stage("dominators: tree");
	if ((err = dom_lay_out(&b, d)))
		goto out;
	ph_stage("dominators: retained");
out:
	dom_build_free(&b);
	if (err) {
		ph_domtree_destroy(d);
		return err;
	}
	*ret = d;
	return NULL;
}

void ph_domtree_destroy(struct ph_domtree *d)
{
	if (!d)
		return;
	if (d->map) {
		munmap(d->map, d->map_len);
		free(d);
		return;
	}
	ph_big_free(d->pos, WORDS(d->n + 1));
	ph_big_free(d->count, WORDS(d->n + 1));
	ph_big_free(d->bytes, 2 * WORDS(d->n + 1));
	free(d);
}

/* ---- questions to the tree ----------------------------------------------- */

uint32_t *ph_domtree_order(const struct ph_domtree *d)
{
	/* (a file's, checked whole: the positions' inverse) */
	if (d->order && !d->unchecked)
		return d->order;
	/* (ph_big_alloc's pages: malloc's, 8 MB at 2M objects, were 2,000
	 * first touches, most of a cached types --retained) */
	uint32_t *order = ph_big_alloc(((size_t)d->n + 1) * sizeof(*order));
	if (!order)
		return NULL;
	for (uint32_t x = 0; x < d->n; x++)
		order[d->pos[x]] = x;
	return order;
}

void ph_domtree_order_free(const struct ph_domtree *d, uint32_t *order)
{
	if (order == d->order)
		return;
	ph_big_free(order, ((size_t)d->n + 1) * sizeof(*order));
}

uint32_t ph_domtree_parent_pos(const struct ph_domtree *d, uint32_t p)
{
	/* down from the top of p's forest: each subtree a range of positions
	 * [j, j + count[j]), one that ends before p skipped whole, one that
	 * holds it entered (a walk back from p met every position of every
	 * subtree before it: 3 ms at 2M objects for an object of a module's
	 * dict); each step ends further on, whatever the counts say */
	uint32_t parent = p < d->nreach ? PH_DOM_ROOT : PH_DOM_UNREACHABLE;
	uint32_t j = p < d->nreach ? 0 : d->nreach;
	while (j < p) {
		uint64_t end = (uint64_t)j + d->count[j];
		if (end > p) {
			parent = j++;
			continue;
		}
		j = end > j ? (uint32_t)end : j + 1;
	}
	return parent;
}

uint32_t ph_domtree_dominator(const struct ph_domtree *d, uint32_t obj)
{
	uint32_t p = ph_domtree_pos(d, obj);
	if (p == PH_NONE)
		return PH_NONE;
	uint32_t pp = ph_domtree_parent_pos(d, p);
	if (pp == PH_DOM_ROOT || pp == PH_DOM_UNREACHABLE)
		return pp;
	if (d->order && d->order[pp] < d->n && d->pos[d->order[pp]] == pp)
		return d->order[pp];
	for (uint32_t x = 0; x < d->n; x++)
		if (d->pos[x] == pp)
			return x;
	return PH_NONE;
}

struct ph_error *ph_domtree_idoms(const struct ph_domtree *d, uint32_t **ret)
{
	uint32_t n = d->n;
	uint32_t *order = ph_domtree_order(d);
	uint32_t *idom = malloc(((size_t)n + 1) * sizeof(*idom));
	uint32_t *stack = malloc(((size_t)n + 1) * sizeof(*stack));
	if (!order || !idom || !stack) {
		ph_domtree_order_free(d, order), free(idom), free(stack);
		return ph_error_nomem();
	}
	/* in preorder, a node's dominator is the nearest open range */
	size_t sp = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (i == d->nreach)
			sp = 0;
		while (sp && stack[sp - 1] + d->count[stack[sp - 1]] <= i)
			sp--;
		idom[order[i]] = sp		 ? order[stack[sp - 1]]
				 : i < d->nreach ? PH_DOM_ROOT
						 : PH_DOM_UNREACHABLE;
		stack[sp++] = i;
	}
	ph_domtree_order_free(d, order);
	free(stack);
	*ret = idom;
	return NULL;
}
