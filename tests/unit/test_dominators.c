/* Unit tests of the dominator tree (graph_dominators.c): hand-built graphs
 * with known dominators, a chain of ten million objects, unreachable
 * cycles, and random graphs compared with a slow reference that is
 * obviously right: the dominator sets as the fixed point of
 * Dom(x) = {x} + the intersection of Dom(p) over the referrers p of x. */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graph.h"
#include "unit.h"

#define R PH_DOM_ROOT
#define U PH_DOM_UNREACHABLE

/* A complete graph of n objects from an edge list and root targets, as
 * graph.c builds it: both directions, roots, the breadth-first parents
 * (which mark the root targets), sizes. */
struct dgraph {
	struct ph_graph g;
	struct ph_heap h;
};

static void dgraph_build(struct dgraph *t, size_t n, const uint32_t (*e)[2],
			 size_t ne, const uint32_t *roots, size_t nroots,
			 const uint64_t *sizes)
{
	memset(t, 0, sizeof(*t));
	struct ph_graph *g = &t->g;
	t->h.n = n;
	t->h.size = malloc((n + 1) * sizeof(uint64_t));
	for (size_t i = 0; i < n; i++)
		t->h.size[i] = sizes ? sizes[i] : 10 + i;
	g->h = &t->h;
	g->nedges = ne;
	g->fwd_off = calloc(n + 1, sizeof(uint32_t));
	g->rev_off = calloc(n + 1, sizeof(uint32_t));
	g->fwd = calloc(ne + 1, sizeof(uint32_t));
	g->rev = calloc(ne + 1, sizeof(uint32_t));
	for (size_t i = 0; i < ne; i++) {
		g->fwd_off[e[i][0] + 1]++;
		g->rev_off[e[i][1] + 1]++;
	}
	for (size_t i = 0; i < n; i++) {
		g->fwd_off[i + 1] += g->fwd_off[i];
		g->rev_off[i + 1] += g->rev_off[i];
	}
	uint32_t *af = calloc(n + 1, sizeof(uint32_t));
	uint32_t *ar = calloc(n + 1, sizeof(uint32_t));
	for (size_t i = 0; i < ne; i++) {
		g->fwd[g->fwd_off[e[i][0]] + af[e[i][0]]++] = e[i][1];
		g->rev[g->rev_off[e[i][1]] + ar[e[i][1]]++] = e[i][0];
	}
	free(af);
	free(ar);
	g->roots = calloc(nroots + 1, sizeof(*g->roots));
	for (size_t r = 0; r < nroots; r++)
		g->roots[r].target = roots[r];
	g->nroots = nroots;
	/* breadth-first parents, as build_paths */
	g->parent = malloc((n + 1) * sizeof(uint32_t));
	memset(g->parent, 0xff, (n + 1) * sizeof(uint32_t));
	uint32_t *q = malloc((n + 1) * sizeof(uint32_t));
	size_t head = 0, tail = 0;
	for (size_t r = 0; r < nroots; r++)
		if (g->parent[roots[r]] == PH_NONE) {
			g->parent[roots[r]] = PH_ROOT_BIT | (uint32_t)r;
			q[tail++] = roots[r];
		}
	while (head < tail) {
		uint32_t u = q[head++];
		for (uint64_t k = g->fwd_off[u]; k < g->fwd_off[u + 1]; k++)
			if (g->parent[g->fwd[k]] == PH_NONE) {
				g->parent[g->fwd[k]] = u;
				q[tail++] = g->fwd[k];
			}
	}
	free(q);
	g->complete = true;
}

static void dgraph_free(struct dgraph *t)
{
	free(t->g.fwd_off);
	free(t->g.rev_off);
	free(t->g.fwd);
	free(t->g.rev);
	free(t->g.roots);
	free(t->g.parent);
	free(t->h.size);
}

/* ---- the reference ------------------------------------------------------- */

/* Dominator sets as bitsets of n + 2 nodes (n: the roots' root, n + 1:
 * the unreachable root), by round-robin iteration to the fixed point. */
struct ref {
	size_t n, words;
	uint64_t *dom; /* (n + 2) sets */
	uint32_t *idom;
};

static bool bit(const uint64_t *s, size_t i)
{
	return (s[i / 64] >> (i % 64)) & 1;
}

static void set_bit(uint64_t *s, size_t i)
{
	s[i / 64] |= 1ULL << (i % 64);
}

static void ref_compute(const struct ph_graph *g, struct ref *rf)
{
	size_t n = g->h->n, V = n + 2, W = (V + 63) / 64;
	rf->n = n;
	rf->words = W;
	rf->dom = calloc(V * W, sizeof(uint64_t));
	rf->idom = calloc(n + 1, sizeof(uint32_t));
	bool *reach = calloc(n + 1, 1), *rt = calloc(n + 1, 1);
	bool *seen = calloc(n + 1, 1), *ventry = calloc(n + 1, 1);
	uint32_t *stack = malloc((n + 1) * sizeof(uint32_t) * 4 + 64);
	for (size_t r = 0; r < g->nroots; r++)
		rt[g->roots[r].target] = true;
	/* reachable from the roots */
	size_t sp = 0;
	for (size_t r = 0; r < g->nroots; r++)
		if (!reach[g->roots[r].target]) {
			reach[g->roots[r].target] = true;
			stack[sp++] = g->roots[r].target;
		}
	while (sp) {
		uint32_t u = stack[--sp];
		for (uint64_t e = g->fwd_off[u]; e < g->fwd_off[u + 1]; e++)
			if (!reach[g->fwd[e]]) {
				reach[g->fwd[e]] = true;
				stack[sp++] = g->fwd[e];
			}
	}
	/* the unreachable root's edges, as the manual states the rule */
	for (size_t x = 0; x < n; x++)
		seen[x] = reach[x];
	for (int pass = 1; pass <= 2; pass++)
		for (size_t x = 0; x < n; x++) {
			if (seen[x])
				continue;
			bool refd = false, leaf = true;
			for (uint64_t e = g->rev_off[x]; e < g->rev_off[x + 1];
			     e++)
				refd |= g->rev[e] != x;
			for (uint64_t e = g->fwd_off[x]; e < g->fwd_off[x + 1];
			     e++)
				leaf &= g->fwd[e] == x || rt[g->fwd[e]];
			if (pass == 1 && refd)
				continue;
			if (pass == 2 && leaf)
				continue;
			ventry[x] = true;
			seen[x] = true;
			stack[sp++] = (uint32_t)x;
			while (sp) {
				uint32_t u = stack[--sp];
				for (uint64_t e = g->fwd_off[u];
				     e < g->fwd_off[u + 1]; e++)
					if (!seen[g->fwd[e]]) {
						seen[g->fwd[e]] = true;
						stack[sp++] = g->fwd[e];
					}
			}
		}
	/* initial sets: the roots themselves, every other node all */
	uint64_t *D = rf->dom;
	for (size_t v = 0; v < V; v++)
		for (size_t w = 0; w < W; w++)
			D[v * W + w] = v >= n ? 0 : ~0ULL;
	set_bit(&D[n * W], n);
	set_bit(&D[(n + 1) * W], n + 1);
	uint64_t *tmp = malloc(W * sizeof(uint64_t));
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t x = 0; x < n; x++) {
			/* predecessors in x's own tree, and the virtual ones */
			for (size_t w = 0; w < W; w++)
				tmp[w] = ~0ULL;
			bool any = false;
			size_t vroot = reach[x] ? n : n + 1;
			if ((reach[x] && rt[x]) || (!reach[x] && ventry[x])) {
				for (size_t w = 0; w < W; w++)
					tmp[w] &= D[vroot * W + w];
				any = true;
			}
			for (uint64_t e = g->rev_off[x]; e < g->rev_off[x + 1];
			     e++) {
				uint32_t p = g->rev[e];
				if (reach[p] != reach[x])
					continue;
				for (size_t w = 0; w < W; w++)
					tmp[w] &= D[(size_t)p * W + w];
				any = true;
			}
			if (!any)
				for (size_t w = 0; w < W; w++)
					tmp[w] = 0;
			set_bit(tmp, x);
			if (memcmp(tmp, &D[x * W], W * sizeof(uint64_t))) {
				memcpy(&D[x * W], tmp, W * sizeof(uint64_t));
				changed = true;
			}
		}
	}
	/* the immediate dominator: the strict dominator dominated by all */
	for (size_t x = 0; x < n; x++) {
		size_t best = SIZE_MAX, bestn = 0;
		for (size_t d = 0; d < V; d++) {
			if (d == x || !bit(&D[x * W], d))
				continue;
			size_t cnt = 0;
			for (size_t w = 0; w < W; w++)
				cnt += (size_t)__builtin_popcountll(
					D[d * W + w]);
			if (best == SIZE_MAX || cnt > bestn)
				best = d, bestn = cnt;
		}
		rf->idom[x] = best == n	      ? R
			      : best == n + 1 ? U
					      : (uint32_t)best;
	}
	free(tmp);
	free(reach);
	free(rt);
	free(seen);
	free(ventry);
	free(stack);
}

static void ref_free(struct ref *rf)
{
	free(rf->dom);
	free(rf->idom);
}

/* Builds the tree and checks every dominator, retained count and bytes
 * against the reference; returns how many objects differ. */
static size_t check_graph(struct dgraph *t)
{
	struct ph_graph *g = &t->g;
	struct ph_domtree *d = NULL;
	struct ref rf;
	uint32_t *idom = NULL;
	size_t bad = 0, n = t->h.n;
	CU_ASSERT_PTR_NULL_FATAL(ph_graph_dominators(g, &d));
	CU_ASSERT_PTR_NULL_FATAL(ph_domtree_idoms(d, &idom));
	ref_compute(g, &rf);
	for (size_t x = 0; x < n; x++) {
		uint64_t cnt = 0, bytes = 0;
		for (size_t y = 0; y < n; y++)
			if (bit(&rf.dom[y * rf.words], x))
				cnt++, bytes += t->h.size[y];
		uint32_t p = d->pos[x];
		bool ok = idom[x] == rf.idom[x] && d->count[p] == cnt &&
			  d->bytes[p] == bytes &&
			  ph_domtree_dominator(d, (uint32_t)x) == idom[x];
		if (!ok && bad < 5)
			fprintf(stderr,
				"\n  object %zu: dominator %d (reference %d), "
				"retained %u/%llu (reference %llu/%llu)",
				x, (int)idom[x], (int)rf.idom[x], d->count[p],
				(unsigned long long)d->bytes[p],
				(unsigned long long)cnt,
				(unsigned long long)bytes);
		bad += !ok;
	}
	/* the two ranges: the roots' tree, then the unreachable objects' */
	uint64_t reach_bytes = 0, total = 0;
	for (size_t x = 0; x < n; x++) {
		total += t->h.size[x];
		if (d->pos[x] < d->nreach)
			reach_bytes += t->h.size[x];
		CU_ASSERT((d->pos[x] < d->nreach) == (g->parent[x] != PH_NONE));
	}
	CU_ASSERT_EQUAL(d->total_bytes, total);
	CU_ASSERT_EQUAL(d->reach_bytes, reach_bytes);
	ref_free(&rf);
	free(idom);
	ph_domtree_destroy(d);
	return bad;
}

static uint32_t *idoms_of(struct dgraph *t)
{
	struct ph_domtree *d = NULL;
	uint32_t *idom = NULL;
	CU_ASSERT_PTR_NULL_FATAL(ph_graph_dominators(&t->g, &d));
	CU_ASSERT_PTR_NULL_FATAL(ph_domtree_idoms(d, &idom));
	ph_domtree_destroy(d);
	return idom;
}

/* ---- hand-built graphs --------------------------------------------------- */

static void test_diamond(void)
{
	/* 0 -> 1, 2 -> 3: only 0 dominates 3; 3's leaf 4 is 3's alone */
	static const uint32_t e[][2] = {{0, 1}, {0, 2}, {1, 3}, {2, 3}, {3, 4}};
	static const uint32_t roots[] = {0};
	struct dgraph t;
	dgraph_build(&t, 5, e, 5, roots, 1, NULL);
	uint32_t *idom = idoms_of(&t);
	CU_ASSERT_EQUAL(idom[0], R);
	CU_ASSERT_EQUAL(idom[1], 0);
	CU_ASSERT_EQUAL(idom[2], 0);
	CU_ASSERT_EQUAL(idom[3], 0);
	CU_ASSERT_EQUAL(idom[4], 3);
	CU_ASSERT_EQUAL(check_graph(&t), 0);
	free(idom);
	dgraph_free(&t);
}

static void test_nested_loops(void)
{
	/* 0 -> 1 -> 2 -> 3 -> 2 (inner), 3 -> 1 (outer), 3 -> 4 -> 1 */
	static const uint32_t e[][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 2},
					{3, 1}, {3, 4}, {4, 1}, {4, 5}};
	static const uint32_t roots[] = {0};
	struct dgraph t;
	dgraph_build(&t, 6, e, 8, roots, 1, NULL);
	uint32_t *idom = idoms_of(&t);
	static const uint32_t want[] = {R, 0, 1, 2, 3, 4};
	for (int i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(idom[i], want[i]);
	CU_ASSERT_EQUAL(check_graph(&t), 0);
	free(idom);
	dgraph_free(&t);
}

/* Lengauer and Tarjan's own example (1979, figure 1), whose semidominators
 * differ from the dominators: r is object 0, A..L are 1..12. */
static void test_lengauer_tarjan_example(void)
{
	enum { r, A, B, C, D, E, F, G, H, I, J, K, L };
	static const uint32_t e[][2] = {
		{r, A}, {r, B}, {r, C}, {A, D}, {B, A}, {B, D}, {B, E},
		{C, F}, {C, G}, {D, L}, {E, H}, {F, I}, {G, I}, {G, J},
		{H, E}, {H, K}, {I, K}, {J, I}, {K, I}, {K, r}, {L, H}};
	static const uint32_t roots[] = {r};
	struct dgraph t;
	dgraph_build(&t, 13, e, PH_ARRAY_SIZE(e), roots, 1, NULL);
	uint32_t *idom = idoms_of(&t);
	static const uint32_t want[] = {R, r, r, r, r, r, C, C, r, r, G, r, D};
	for (int i = 0; i < 13; i++)
		CU_ASSERT_EQUAL(idom[i], want[i]);
	CU_ASSERT_EQUAL(check_graph(&t), 0);
	free(idom);
	dgraph_free(&t);
}

/* Objects no root reaches: a cycle nothing else reaches is entered at its
 * first object; a garbage list dominates the cycle it alone holds; garbage
 * that refers to a live object changes nothing for it. */
static void test_unreachable(void)
{
	/* live: 0 (root) -> 1 -> 2 (a leaf); 0 -> 9 -> 2
	 * cycle 3 <-> 4, 4 -> 5 (a leaf only 4 holds)
	 * list 6 -> cycle 7 <-> 8, 8 -> 1 (garbage refers to the live 1) */
	static const uint32_t e[][2] = {{0, 1}, {1, 2}, {0, 9}, {9, 2},
					{3, 4}, {4, 3}, {4, 5}, {6, 7},
					{7, 8}, {8, 7}, {8, 1}};
	static const uint32_t roots[] = {0};
	struct dgraph t;
	dgraph_build(&t, 10, e, PH_ARRAY_SIZE(e), roots, 1, NULL);
	uint32_t *idom = idoms_of(&t);
	static const uint32_t want[] = {R, 0, 0, U, 3, 4, U, 6, 7, 0};
	for (int i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(idom[i], want[i]);
	CU_ASSERT_EQUAL(check_graph(&t), 0);
	free(idom);
	dgraph_free(&t);
}

/* Root targets: a root target is dominated by the virtual root whatever
 * refers to it; a leaf held by two objects by their common dominator. */
static void test_roots_and_leaves(void)
{
	/* roots 0 and 2; 0 -> 1 -> 2 -> 3; 1 -> 4, 3 -> 4 (4 a leaf of two);
	 * 5 a leaf root target, 5 held by 1 too; 6 holds only the leaf 5 */
	static const uint32_t e[][2] = {{0, 1}, {1, 2}, {2, 3}, {1, 4},
					{3, 4}, {1, 5}, {6, 5}, {0, 6}};
	static const uint32_t roots[] = {0, 2, 5, 0};
	struct dgraph t;
	dgraph_build(&t, 7, e, PH_ARRAY_SIZE(e), roots, 4, NULL);
	uint32_t *idom = idoms_of(&t);
	static const uint32_t want[] = {R, 0, R, 2, R, R, 0};
	for (int i = 0; i < 7; i++)
		CU_ASSERT_EQUAL(idom[i], want[i]);
	CU_ASSERT_EQUAL(check_graph(&t), 0);
	free(idom);
	dgraph_free(&t);
}

static void test_empty_and_no_roots(void)
{
	struct dgraph t;
	dgraph_build(&t, 0, NULL, 0, NULL, 0, NULL);
	struct ph_domtree *d = NULL;
	CU_ASSERT_PTR_NULL(ph_graph_dominators(&t.g, &d));
	CU_ASSERT_EQUAL(d->n, 0);
	ph_domtree_destroy(d);
	dgraph_free(&t);
	/* no roots: everything hangs under the unreachable root */
	static const uint32_t e[][2] = {{0, 1}, {1, 0}, {1, 2}};
	dgraph_build(&t, 3, e, 3, NULL, 0, NULL);
	CU_ASSERT_EQUAL(check_graph(&t), 0);
	dgraph_free(&t);
}

/* Ten million objects in a chain, each holding the next: no recursion,
 * every one dominated by the one before, the first retaining all. */
static void test_chain_10m(void)
{
	size_t n = 10000000;
	uint32_t(*e)[2] = malloc(n * sizeof(*e));
	for (size_t i = 0; i + 1 < n; i++)
		e[i][0] = (uint32_t)i, e[i][1] = (uint32_t)i + 1;
	uint64_t *sizes = malloc(n * sizeof(uint64_t));
	for (size_t i = 0; i < n; i++)
		sizes[i] = 48;
	static const uint32_t roots[] = {0};
	struct dgraph t;
	dgraph_build(&t, n, (const uint32_t(*)[2])e, n - 1, roots, 1, sizes);
	free(e);
	free(sizes);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct ph_domtree *d = NULL;
	CU_ASSERT_PTR_NULL_FATAL(ph_graph_dominators(&t.g, &d));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, " (%.2f s) ",
		(double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	CU_ASSERT_EQUAL(d->count[d->pos[0]], n);
	CU_ASSERT_EQUAL(d->bytes[d->pos[0]], 48 * (uint64_t)n);
	CU_ASSERT_EQUAL(d->count[d->pos[n - 1]], 1);
	CU_ASSERT_EQUAL(d->count[d->pos[n / 2]], n - n / 2);
	CU_ASSERT_EQUAL(ph_domtree_dominator(d, (uint32_t)n - 1),
			(uint32_t)n - 2);
	uint32_t *idom = NULL;
	CU_ASSERT_PTR_NULL_FATAL(ph_domtree_idoms(d, &idom));
	size_t bad = 0;
	for (size_t i = 1; i < n; i++)
		bad += idom[i] != i - 1;
	CU_ASSERT_EQUAL(bad, 0);
	free(idom);
	ph_domtree_destroy(d);
	dgraph_free(&t);
	/* the same chain with no root: all of it garbage, entered at 0 */
	e = malloc(n * sizeof(*e));
	for (size_t i = 0; i + 1 < n; i++)
		e[i][0] = (uint32_t)i + 1, e[i][1] = (uint32_t)i;
	e[n - 1][0] = 0, e[n - 1][1] = (uint32_t)n - 1; /* a ring */
	dgraph_build(&t, n, (const uint32_t(*)[2])e, n, NULL, 0, NULL);
	free(e);
	CU_ASSERT_PTR_NULL_FATAL(ph_graph_dominators(&t.g, &d));
	CU_ASSERT_EQUAL(d->nreach, 0);
	CU_ASSERT_EQUAL(d->count[d->pos[0]], n);
	CU_ASSERT_EQUAL(ph_domtree_dominator(d, 0), U);
	CU_ASSERT_EQUAL(ph_domtree_dominator(d, (uint32_t)n - 1), 0);
	CU_ASSERT_EQUAL(ph_domtree_dominator(d, 1), 2);
	ph_domtree_destroy(d);
	dgraph_free(&t);
}

/* ---- random graphs against the reference --------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}

static void test_random_graphs(void)
{
	size_t bad_graphs = 0;
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = 1 + rnd(iter < 2000 ? 24 : 90);
		size_t ne = rnd((uint32_t)(n * (1 + rnd(4))));
		uint32_t(*e)[2] = malloc((ne + n + 1) * sizeof(*e));
		/* some objects hold only a "type" (a root target): leaves */
		uint32_t type = rnd((uint32_t)n);
		for (size_t i = 0; i < ne; i++) {
			e[i][0] = rnd((uint32_t)n);
			e[i][1] = rnd(3) ? rnd((uint32_t)n) : type;
		}
		size_t ne2 = ne;
		if (rnd(2))
			for (size_t i = 0; i < n; i++)
				if (rnd(3) == 0)
					e[ne2][0] = (uint32_t)i,
					e[ne2++][1] = type;
		size_t nroots = rnd(4);
		uint32_t roots[8];
		for (size_t r = 0; r < nroots; r++)
			roots[r] = rnd((uint32_t)n);
		if (nroots && rnd(2))
			roots[nroots++] = type;
		uint64_t *sizes = malloc(n * sizeof(uint64_t));
		for (size_t i = 0; i < n; i++)
			sizes[i] = 16 + rnd(1000);
		struct dgraph t;
		dgraph_build(&t, n, (const uint32_t(*)[2])e, ne2, roots, nroots,
			     sizes);
		size_t bad = check_graph(&t);
		if (bad)
			fprintf(stderr, " [graph %d: %zu objects differ]", iter,
				bad);
		bad_graphs += bad != 0;
		dgraph_free(&t);
		free(e);
		free(sizes);
	}
	CU_ASSERT_EQUAL(bad_graphs, 0);
}

void ph_test_dominators_register(void)
{
	CU_pSuite s = CU_add_suite("dominators", NULL, NULL);
	CU_add_test(s, "dominators: a diamond", test_diamond);
	CU_add_test(s, "dominators: nested loops", test_nested_loops);
	CU_add_test(s, "dominators: Lengauer and Tarjan's example",
		    test_lengauer_tarjan_example);
	CU_add_test(s, "dominators: unreachable cycles", test_unreachable);
	CU_add_test(s, "dominators: root targets and leaves",
		    test_roots_and_leaves);
	CU_add_test(s, "dominators: empty, no roots", test_empty_and_no_roots);
	CU_add_test(s, "dominators: random graphs against the reference",
		    test_random_graphs);
	CU_add_test(s, "dominators: a chain of 10 million", test_chain_10m);
}
