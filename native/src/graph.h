/* graph.h - the object graph: strong references both ways, roots, and the
 * shortest path from a root to every object. Built once per session. */
#ifndef PH_GRAPH_H
#define PH_GRAPH_H

#include "heap.h"

#define PH_ROOT_BIT (1U << 31)

struct ph_root {
	uint32_t target; /* object number */
	char *name; /* "module __main__", "thread 1 frame f() at x.py:3 local
		       'a'"; malloc'ed, or in the graph's mapped cache file */
};

struct ph_graph {
	struct ph_heap *h;
	uint64_t nedges;
	/* offsets are 32-bit: an index of more than 4 billion edges would
	 * need 64-bit ones (docs/performance.md) */
	uint32_t *fwd_off; /* n + 1 offsets into fwd */
	uint32_t *fwd;	   /* referents, by object number */
	size_t fwd_bytes;  /* fwd's ph_big_alloc size; 0: malloc'ed or mapped */
	uint32_t *rev_off;
	uint32_t *rev; /* referrers */
	/* their ph_big_alloc sizes; 0: malloc'ed or mapped */
	size_t rev_off_bytes, rev_bytes;
	struct ph_root *roots;
	size_t nroots, roots_cap;
	/* shortest-path tree: parent object, or PH_ROOT_BIT | root number,
	 * or PH_NONE when no root reaches the object */
	uint32_t *parent;
	/* references held from outside the heap's objects (thread frames,
	 * the interpreter state), by object number + 1 */
	struct ph_u64map extern_refs;
	/* conservative (guessed) edges into an object, by object number + 1 */
	struct ph_u64map cons_in;
	/* words of C data that point at an object (also in extern_refs): a
	 * C extension's reference, or a borrowed copy of one (Cython's
	 * caches): possible references, as guessed ones are */
	struct ph_u64map cdata_in;
	/* referrers, roots and paths built too (not only fwd, fwd_off,
	 * nedges and cons_in) */
	bool complete;
	/* fwd_off, fwd, rev_off, rev and parent in a mapped graph cache file
	 * (graphcache.c), not allocated */
	void *map;
	size_t map_len;
	/* the mapped sections not yet checked (PH_GRAPH_*): their pointers
	 * stay NULL until ph_graphcache_check has summed and checked them;
	 * lazy is graphcache.c's record of where they are */
	unsigned pending;
	void *lazy;
};

/* The arrays a reader of a graph uses (a mapped graph checks only those,
 * graphcache.c); an array comes with its offsets. */
#define PH_GRAPH_FWD_OFF 1u
#define PH_GRAPH_REV_OFF 2u
#define PH_GRAPH_PARENT 4u
#define PH_GRAPH_FWD (8u | PH_GRAPH_FWD_OFF)
#define PH_GRAPH_REV (16u | PH_GRAPH_REV_OFF)
#define PH_GRAPH_ALL (PH_GRAPH_FWD | PH_GRAPH_REV | PH_GRAPH_PARENT)
/* The referrers of a few objects (referrers): rev_off and rev set, but a
 * mapped graph's sealed sections not read whole (22 MB at 2M objects):
 * while PH_GRAPH_REV is pending, each row is checked as it is read, by
 * ph_graph_rev_row and ph_graph_rev_at, and nothing else may read them. */
#define PH_GRAPH_REV_ROWS 32u

/* The paths' tree of a few objects (path): parent set, but a mapped
 * graph's sealed section not read whole (8 MB at 2M objects): while
 * PH_GRAPH_PARENT is pending, each step is checked as it is read, by
 * ph_graph_parent, and nothing else may read it. */
#define PH_GRAPH_PARENT_ROWS 64u

/* The referents of a few objects (graph's drawing): fwd_off and fwd set,
 * but a mapped graph's sealed sections not read whole (22 MB at 2M
 * objects): while PH_GRAPH_FWD is pending, each row is checked as it is
 * read, by ph_graph_fwd_row and ph_graph_fwd_at. */
#define PH_GRAPH_FWD_ROWS 128u

/* o's parent in the paths' tree: PH_NONE, an object, or PH_ROOT_BIT and a
 * root's number; PH_NONE where a tree not checked whole has none of these
 * (PH_GRAPH_PARENT_ROWS). */
static inline uint32_t ph_graph_parent(const struct ph_graph *g, uint32_t o)
{
	uint32_t p = g->parent[o];
	if (!(g->pending & PH_GRAPH_PARENT) || p == PH_NONE)
		return p;
	if (p & PH_ROOT_BIT)
		return (p & ~PH_ROOT_BIT) < g->nroots ? p : PH_NONE;
	return p < g->h->n ? p : PH_NONE;
}

/* A row of an edge array (off, the edges) whose check whole is pending
 * while its bit whole is in g->pending: [*ret_lo, *ret_hi), or, out of
 * order or past the edges, damaged: none, and false. */
static inline bool ph_graph_row_(const struct ph_graph *g, const uint32_t *off,
				 unsigned whole, uint32_t o, uint64_t *ret_lo,
				 uint64_t *ret_hi)
{
	uint64_t lo = off[o], hi = off[o + 1];
	bool bad = (g->pending & whole) && (lo > hi || hi > g->nedges);
	*ret_lo = bad ? 0 : lo;
	*ret_hi = bad ? 0 : hi;
	return !bad;
}

/* The object at edge e of such an array: PH_NONE for one past the
 * objects while its check is pending. */
static inline uint32_t ph_graph_at_(const struct ph_graph *g,
				    const uint32_t *edges, unsigned whole,
				    uint64_t e)
{
	uint32_t v = edges[e];
	return !(g->pending & whole) || v < g->h->n ? v : PH_NONE;
}

/* The edges into o: [*ret_lo, *ret_hi) of g->rev, a row of arrays not
 * checked whole (PH_GRAPH_REV_ROWS) checked as read; and the referrer at
 * g->rev[e], e in such a row. */
static inline bool ph_graph_rev_row(const struct ph_graph *g, uint32_t o,
				    uint64_t *ret_lo, uint64_t *ret_hi)
{
	return ph_graph_row_(g, g->rev_off, PH_GRAPH_REV, o, ret_lo, ret_hi);
}

static inline uint32_t ph_graph_rev_at(const struct ph_graph *g, uint64_t e)
{
	return ph_graph_at_(g, g->rev, PH_GRAPH_REV, e);
}

/* The same out of o, of g->fwd (PH_GRAPH_FWD_ROWS). */
static inline bool ph_graph_fwd_row(const struct ph_graph *g, uint32_t o,
				    uint64_t *ret_lo, uint64_t *ret_hi)
{
	return ph_graph_row_(g, g->fwd_off, PH_GRAPH_FWD, o, ret_lo, ret_hi);
}

static inline uint32_t ph_graph_fwd_at(const struct ph_graph *g, uint64_t e)
{
	return ph_graph_at_(g, g->fwd, PH_GRAPH_FWD, e);
}

/* The whole graph. */
struct ph_error *ph_graph_create(struct ph_heap *h, struct ph_graph **ret);
/* Referents only (what cycles need); ph_graph_complete adds the rest. */
struct ph_error *ph_graph_create_edges(struct ph_heap *h,
				       struct ph_graph **ret);
struct ph_error *ph_graph_complete(struct ph_graph *g);
/* What ph_graph_complete adds but the referrers (rev, rev_off stay NULL,
 * complete false): roots and the paths' tree, for what needs no more
 * (diff's containers); ph_graph_complete then adds the referrers. */
struct ph_error *ph_graph_paths(struct ph_graph *g);
void ph_graph_destroy(struct ph_graph *g);

/* The object number at addr, or PH_NONE. */
uint32_t ph_graph_lookup(const struct ph_graph *g, uint64_t addr);

/* How many steps from its root (the shortest path's length), or
 * UINT32_MAX when no root reaches it. */
uint32_t ph_graph_depth(const struct ph_graph *g, uint32_t obj);

/* Writes how src holds dst ("['key']", ".attr", "[3]") into out. */
void ph_graph_label(struct ph_graph *g, uint32_t src, uint32_t dst,
		    struct ph_buf *out);

/* The labels of src's strong references to dst, in the order src holds
 * them, at most max: each written into out followed by a '\0'. One pass
 * over src's referents, however many there are (a list holding dst a
 * million times). Returns how many were written. */
size_t ph_graph_labels(struct ph_graph *g, uint32_t src, uint32_t dst,
		       size_t max, struct ph_buf *out);

/* Writes how a referrer holds a reference of this kind ("['key']", ".attr",
 * "[3]") into out. */
void ph_edge_label_write(struct ph_heap *h, enum ph_edge_kind kind,
			 uint64_t data, struct ph_buf *out);

/* ---- cycles (graph_cycles.c) ---- */

/* The strongly connected components that hold a cycle (more than one
 * object, or one that refers to itself). */
struct ph_scc {
	uint32_t *comp; /* component by object number, PH_NONE: on no cycle */
	uint32_t ncomp;
};

/* Tarjan's algorithm, iterative (no recursion for any graph shape). */
struct ph_error *ph_graph_scc(struct ph_graph *g, struct ph_scc *ret);

/* What gc.collect() would free now, found as the collector does: a byte
 * per object number, 1 = unreachable; NULL and *ret_err on failure. */
uint8_t *ph_graph_gc_unreachable(struct ph_graph *g, struct ph_error **ret_err);

/* Both of the above, one on each core. */
struct ph_error *ph_graph_cycles(struct ph_graph *g, struct ph_scc *ret_scc,
				 uint8_t **ret_dead);

/* The shortest loop from first back to itself inside its component (the
 * objects whose bit is set in in, a bit per object number), at most max
 * objects written into loop; returns how many. */
size_t ph_graph_scc_loop(struct ph_graph *g, const uint64_t *in, uint32_t first,
			 uint32_t *loop, size_t max);

/* ---- dominators (graph_dominators.c) ---- */

/* The two virtual roots, as a dominator: the one above every root target,
 * and the one the objects no root reaches hang under. */
#define PH_DOM_ROOT (UINT32_MAX - 1)
#define PH_DOM_UNREACHABLE (UINT32_MAX - 2)

/* The dominator tree in its preorder: a node's subtree (its retained set)
 * is the range of positions [pos, pos + count[pos]). Positions [0, nreach)
 * are the roots' tree, [nreach, n) the unreachable objects'. */
struct ph_domtree {
	uint32_t n;
	uint32_t nreach;
	uint32_t *pos;	 /* by object: its position */
	uint32_t *count; /* by position: objects retained (itself included) */
	uint64_t *bytes; /* by position: their sys.getsizeof sum */
	/* by position: its object (pos's inverse), in a mapped file only:
	 * NULL in a tree built (ph_domtree_order makes it) */
	uint32_t *order;
	uint64_t total_bytes, reach_bytes;
	uint32_t nodes;		      /* in the algorithm: non-leaves + 2 */
	uint32_t unreachable_entries; /* objects the second root enters */
	/* pos, count, bytes and order in a mapped answers' file
	 * (answercache.c), not allocated */
	void *map;
	size_t map_len;
	/* a sealed file's, not checked whole (ph_answercache_domtree_load's
	 * rows): its positions read through ph_domtree_pos only */
	bool unchecked;
};

/* obj's position: PH_NONE where a tree not checked whole has one past the
 * objects. */
static inline uint32_t ph_domtree_pos(const struct ph_domtree *d, uint32_t obj)
{
	uint32_t p = d->pos[obj];
	return !d->unchecked || p < d->n ? p : PH_NONE;
}

/* Whether obj's row reads right in a tree not checked whole: a position
 * among the objects, a subtree within its tree (always, when checked). */
static inline bool ph_domtree_row_ok(const struct ph_domtree *d, uint32_t obj)
{
	uint32_t p = d->pos[obj];
	if (!d->unchecked)
		return true;
	if (p >= d->n)
		return false;
	uint64_t end = p < d->nreach ? d->nreach : d->n;
	return d->count[p] >= 1 && (uint64_t)p + d->count[p] <= end;
}

/* What obj retains (itself included): its objects and bytes, none where
 * ph_domtree_pos gives no position; returns that position. */
static inline uint32_t ph_domtree_retained(const struct ph_domtree *d,
					   uint32_t obj, uint64_t *ret_objects,
					   uint64_t *ret_bytes)
{
	uint32_t p = ph_domtree_pos(d, obj);
	*ret_objects = p != PH_NONE ? d->count[p] : 0;
	*ret_bytes = p != PH_NONE ? d->bytes[p] : 0;
	return p;
}

/* Lengauer-Tarjan on the strong references from the roots, iterative.
 * Needs a complete graph (its roots and parent[]). */
struct ph_error *ph_graph_dominators(const struct ph_graph *g,
				     struct ph_domtree **ret);
void ph_domtree_destroy(struct ph_domtree *d);

/* The object at each position (malloc'ed; NULL when out of memory). */
uint32_t *ph_domtree_order(const struct ph_domtree *d);
/* Frees what ph_domtree_order gave (NULL: nothing). */
void ph_domtree_order_free(const struct ph_domtree *d, uint32_t *order);
/* The position of the node that dominates the one at p, or PH_DOM_ROOT /
 * PH_DOM_UNREACHABLE. A walk down the subtrees that hold p, over the
 * siblings before each. */
uint32_t ph_domtree_parent_pos(const struct ph_domtree *d, uint32_t p);
/* The immediate dominator of obj: an object, PH_DOM_ROOT or
 * PH_DOM_UNREACHABLE. Up to two passes over the objects. */
uint32_t ph_domtree_dominator(const struct ph_domtree *d, uint32_t obj);
/* Every object's immediate dominator, by object number (malloc'ed). */
struct ph_error *ph_domtree_idoms(const struct ph_domtree *d, uint32_t **ret);

#endif /* PH_GRAPH_H */
