/* query_retained.c - what holds the memory: retained, dominators (the
 * largest retainers, a subtree, the export for the tests' oracle), leaks
 * (the suspects and where they accumulate) and types --retained. The
 * dominator tree itself is the graph layer's (graph_dominators.c), built
 * once per session; these walk its positions: a node's subtree is the
 * range [pos, pos + count), its children the subranges that start right
 * after it, one after the other. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answercache.h"
#include "objtable.h" /* ph_popcount64 */
#include "query.h"

static struct ph_obj_ref obj_ref(struct ph_heap *h, uint32_t o)
{
	return (struct ph_obj_ref){.addr = h->addr[o],
				   .type = tname(ph_obj_type(h, o))};
}

/* The first i with v[i] == q, or n: sixteen words at a time in SSE2
 * vectors (a memory-bound pass; -O2 does not vectorise a loop that may
 * end early). */
typedef uint32_t v4u __attribute__((vector_size(16)));

static uint32_t find_u32(const uint32_t *v, uint32_t n, uint32_t q)
{
	v4u qv = {q, q, q, q}, w0, w1, w2, w3;
	uint32_t i = 0;
	for (; n - i >= 16; i += 16) {
		memcpy(&w0, v + i, 16);
		memcpy(&w1, v + i + 4, 16);
		memcpy(&w2, v + i + 8, 16);
		memcpy(&w3, v + i + 12, 16);
		v4u m = (v4u)((w0 == qv) | (w1 == qv) | (w2 == qv) |
			      (w3 == qv));
		if (m[0] | m[1] | m[2] | m[3])
			break;
	}
	for (; i < n; i++)
		if (v[i] == q)
			return i;
	return n;
}

/* The objects at positions p[0..k) (sorted, distinct, below d->n): one
 * pass over the objects, a bit per position to skip the others, its rank
 * among the set bits its index in p. PH_NONE where no object has the
 * position (only in a tree not checked whole: ph_domtree_row_ok). */
static struct ph_error *objects_at(const struct ph_domtree *d,
				   const uint32_t *p, size_t k, uint32_t *ret)
{
	if (!k)
		return NULL;
	if (d->order) {
		/* a file's: each read checked against the positions */
		for (size_t i = 0; i < k; i++) {
			uint32_t x = d->order[p[i]];
			ret[i] = x < d->n && d->pos[x] == p[i] ? x : PH_NONE;
		}
		return NULL;
	}
	if (k == 1) {
		/* one position (leaks asks twice): the first object there,
		 * the only one in a permutation (the dominator tree's
		 * positions are one, checked when read from the cache) */
		ret[0] = find_u32(d->pos, d->n, p[0]);
		ret[0] = ret[0] < d->n ? ret[0] : PH_NONE;
		return NULL;
	}
	for (size_t i = 0; i < k; i++)
		ret[i] = PH_NONE;
	/* a bit per position, and per word of bits the number set before
	 * it: an object's index in p is that rank (p sorted, distinct) */
	size_t words = d->n / 64 + 1;
	uint64_t *bits = calloc(words, sizeof(*bits));
	uint32_t *rank = malloc(words * sizeof(*rank));
	if (!bits || !rank) {
		free(bits);
		free(rank);
		return ph_error_nomem();
	}
	for (size_t i = 0; i < k; i++)
		bits[p[i] / 64] |= 1ULL << (p[i] % 64);
	uint32_t r = 0;
	for (size_t w = 0; w < words; w++) {
		rank[w] = r;
		r += ph_popcount64(bits[w]);
	}
	for (uint32_t x = 0; x < d->n; x++) {
		uint32_t q = d->pos[x];
		if (q >= d->n) /* (unchecked: any word) */
			continue;
		uint64_t b = bits[q / 64], bit = 1ULL << (q % 64);
		if (b & bit)
			ret[rank[q / 64] + ph_popcount64(b & (bit - 1))] = x;
	}
	free(bits);
	free(rank);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Positions, sorted and made distinct in place; returns how many. */
static size_t sort_unique(uint32_t *p, size_t k)
{
	if (!k)
		return 0;
	qsort(p, k, sizeof(*p), cmp_u32);
	size_t m = 1;
	for (size_t i = 1; i < k; i++)
		if (p[i] != p[m - 1])
			p[m++] = p[i];
	return m;
}

/* A row: the object, what it retains, and (with_path) its path. */
static struct ph_error *row_fill(struct ph_session *s, uint32_t obj,
				 bool with_path, struct ph_strings *str,
				 struct ph_path_step **steps, size_t *nsteps,
				 size_t *cap, struct ph_dom_row *row)
{
	struct ph_heap *h = s->heap;
	const struct ph_domtree *d = s->dom;
	*row = (struct ph_dom_row){.obj = obj_ref(h, obj),
				   .size = ph_heap_obj_size(h, obj)};
	uint32_t p = ph_domtree_retained(d, obj, &row->objects, &row->bytes);
	row->reachable = p != PH_NONE && p < d->nreach;
	if (s->rt->ninterps > 1) {
		unsigned k = ph_heap_interp(h, obj);
		row->has_interp = k < s->rt->ninterps;
		row->interp = row->has_interp ? s->rt->interps[k].id : 0;
	}
	if (!with_path)
		return NULL;
	return ph_query_add_path(s->graph, obj, PH_ROW_PATH_MAX, str, steps,
				 nsteps, cap, &row->path);
}

/* ---- retained ADDR ------------------------------------------------------- */

struct ph_error *ph_query_retained(struct ph_session *s, const char *addr,
				   struct ph_retained_result **ret)
{
	uint32_t ob;
	/* the graph for the object's path only: a sealed tree's steps,
	 * checked as read */
	struct ph_error *err = ph_query_object_need(s, "retained", addr,
						    PH_GRAPH_PARENT_ROWS, &ob);
	if (err || (err = ph_session_dominators_rows(s, PH_GRAPH_PARENT_ROWS)))
		return err;
	if (!ph_domtree_row_ok(s->dom, ob) &&
	    (err = ph_session_dominators_damaged(s, PH_GRAPH_PARENT_ROWS)))
		return err;
	const struct ph_domtree *d = s->dom;
	struct ph_retained_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	size_t cap = 0;
	r->heap_objects = d->n;
	r->heap_bytes = d->total_bytes;
	err = row_fill(s, ob, true, &r->str, &r->steps, &r->nsteps, &cap,
		       &r->row);
	uint32_t dom = ph_domtree_dominator(d, ob);
	if (dom == PH_DOM_ROOT)
		r->dominator_kind = PH_DOMINATOR_ROOT;
	else if (dom == PH_DOM_UNREACHABLE)
		r->dominator_kind = PH_DOMINATOR_UNREACHABLE;
	else if (dom != PH_NONE) {
		r->dominator_kind = PH_DOMINATOR_OBJECT;
		r->dominator = obj_ref(s->heap, dom);
	}
	if (err) {
		ph_retained_result_destroy(r);
		return err;
	}
	*ret = r;
	return NULL;
}

void ph_retained_result_destroy(struct ph_retained_result *r)
{
	if (!r)
		return;
	free(r->steps);
	ph_strings_free(&r->str);
	free(r);
}

/* ---- dominators ---------------------------------------------------------- */

struct ranked {
	uint64_t bytes;
	uint32_t count, pos;
};

/* Larger retained bytes first, then more objects, then position. */
static bool ranked_before(const struct ranked *a, const struct ranked *b)
{
	if (a->bytes != b->bytes)
		return a->bytes > b->bytes;
	if (a->count != b->count)
		return a->count > b->count;
	return a->pos < b->pos;
}

static int ranked_cmp(const void *a, const void *b)
{
	return ranked_before(a, b) ? -1 : ranked_before(b, a);
}

/* The best k seen so far, in a heap whose top is the worst of them. */
struct topk {
	struct ranked *a;
	size_t n, k, cap; /* k: 0 keeps all */
	struct ph_error *err;
};

static void topk_add(struct topk *t, struct ranked v)
{
	if (t->err)
		return;
	if (!t->k || t->n < t->k) {
		if ((t->err = ph_grow((void **)&t->a, &t->cap, t->n + 1,
				      sizeof(*t->a))))
			return;
		size_t i = t->n++;
		t->a[i] = v;
		if (!t->k)
			return;
		while (i && ranked_before(&t->a[(i - 1) / 2], &t->a[i])) {
			struct ranked tmp = t->a[i];
			t->a[i] = t->a[(i - 1) / 2];
			t->a[(i - 1) / 2] = tmp;
			i = (i - 1) / 2;
		}
		return;
	}
	if (!ranked_before(&v, &t->a[0]))
		return;
	t->a[0] = v;
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, w = i;
		if (l < t->n && ranked_before(&t->a[w], &t->a[l]))
			w = l;
		if (r < t->n && ranked_before(&t->a[w], &t->a[r]))
			w = r;
		if (w == i)
			break;
		struct ranked tmp = t->a[i];
		t->a[i] = t->a[w];
		t->a[w] = tmp;
		i = w;
	}
}

/* The types named name, as `list` finds them; NULL and *ret_err when
 * none is. */
static uint8_t *types_named(struct ph_heap *h, const char *cmd,
			    const char *name, struct ph_error **ret_err)
{
	return ph_types_matching(h, cmd, name, ret_err);
}

/* Every position of at least min_bytes, the k largest kept in t (t->k 0:
 * all); returns how many there are. Stops when interrupted. */
static uint64_t largest(const struct ph_domtree *d, uint64_t min_bytes,
			struct topk *t)
{
	uint64_t matching = 0;
	for (uint32_t p = 0; p < d->n && !t->err; p++) {
		if (!(p & 0xffff) && ph_interrupted())
			break;
		uint64_t b = d->bytes[p];
		if (b < min_bytes)
			continue;
		matching++;
		/* (below the worst of a full top k: not in it, without the
		 * call) */
		if (t->k && t->n == t->k && b < t->a[0].bytes)
			continue;
		topk_add(t, (struct ranked){b, d->count[p], p});
	}
	return matching;
}

/* The objects at a[0..n)'s positions, in that order, into ret (PH_NONE
 * where no object has the position: objects_at). */
static struct ph_error *ranked_objects(const struct ph_domtree *d,
				       const struct ranked *a, size_t n,
				       uint32_t *ret)
{
	uint32_t *p = malloc((n + 1) * sizeof(*p));
	uint32_t *objs = malloc((n + 1) * sizeof(*objs));
	struct ph_error *err = NULL;
	if (!p || !objs)
		err = ph_error_nomem();
	for (size_t i = 0; !err && i < n; i++)
		p[i] = a[i].pos;
	size_t k = err ? 0 : sort_unique(p, n);
	if (!err && !(err = objects_at(d, p, k, objs)))
		for (size_t i = 0; i < n; i++)
			ret[i] = objs[(uint32_t *)bsearch(&a[i].pos, p, k,
							  sizeof(*p), cmp_u32) -
				      p];
	free(p);
	free(objs);
	return err;
}

/* ---- the largest retainers' file ---------------------------------------- */

/* "domtop": the first DOM_TOP positions of the tree in ranked_before's
 * order and their objects (pairs), val[0] how many: a dominators' list
 * without a filter is then read from it, not from a pass over every
 * position and another over every object. */
#define DOM_TOP 4096
#define TOP_FORMAT 1

enum top_use { TOP_USED, TOP_SHORT, TOP_NONE };

/* dominators' list from the pairs (position, object) e[0..ntop) of the
 * tree's first positions in the list's order: TOP_USED; TOP_SHORT when
 * they do not hold the whole answer (a --limit past them, or more
 * positions of --min-bytes than they have); TOP_NONE when the tree does
 * not give those rows in that order. */
static enum top_use list_from_pairs(struct ph_session *s,
				    const struct ph_dominators_opts *o,
				    struct ph_dominators_result *r,
				    const uint32_t *e, uint64_t ntop,
				    struct ph_error **ret_err)
{
	const struct ph_domtree *d = s->dom;
	uint64_t want = o->limit, i;
	if (ntop > d->n || ntop > DOM_TOP)
		return TOP_NONE;
	/* the rows it gives, each checked against the tree: an object at
	 * its position, in ranked order; up to --limit, or past it while
	 * counting --min-bytes's positions */
	struct ranked prev = {0};
	for (i = 0; i < ntop; i++) {
		uint32_t p = e[2 * i], x = e[2 * i + 1];
		if (x >= d->n || ph_domtree_pos(d, x) != p ||
		    !ph_domtree_row_ok(d, x))
			return TOP_NONE;
		struct ranked cur = {d->bytes[p], d->count[p], p};
		if (i && !ranked_before(&prev, &cur))
			return TOP_NONE;
		prev = cur;
		if (cur.bytes < o->min_bytes || (!o->min_bytes && i >= want))
			break;
	}
	if (i == ntop && ntop < d->n && (o->min_bytes || want > ntop))
		return TOP_SHORT;
	r->matching = o->min_bytes ? i : d->n;
	size_t shown = r->matching < want ? (size_t)r->matching : want;
	if (!(r->rows = calloc(shown + 1, sizeof(*r->rows)))) {
		*ret_err = ph_error_nomem();
		return TOP_USED;
	}
	size_t cap = 0;
	for (size_t k = 0; k < shown && !*ret_err; k++)
		*ret_err = row_fill(s, e[2 * k + 1], true, &r->str, &r->steps,
				    &r->nsteps, &cap, &r->rows[r->nrows++]);
	return TOP_USED;
}

/* The same from that file (TOP_NONE without one, or with one the tree
 * does not agree with: then written again). */
static enum top_use list_from_top(struct ph_session *s,
				  const struct ph_dominators_opts *o,
				  struct ph_dominators_result *r,
				  struct ph_error **ret_err)
{
	struct ph_answers a;
	ph_stage(NULL);
	if (!ph_answercache_load(s->heap, "domtop", TOP_FORMAT, 1, &a))
		return TOP_NONE;
	enum top_use use =
		a.bytes[0] != a.val[0] * 8
			? TOP_NONE
			: list_from_pairs(s, o, r, a.sec[0], a.val[0], ret_err);
	if (use == TOP_USED && !*ret_err)
		ph_stage("dominators' largest read");
	ph_answercache_release(&a);
	return use;
}

/* Writes that file from the tree (a pass over every position, then the
 * objects of the first DOM_TOP); its pairs into *ret (NULL: none whole),
 * *ret_n of them, for the list that asked. */
static struct ph_error *top_store(struct ph_session *s, uint32_t **ret,
				  size_t *ret_n)
{
	const struct ph_domtree *d = s->dom;
	struct topk t = {.k = DOM_TOP};
	*ret = NULL;
	largest(d, 0, &t);
	if (t.err || ph_interrupted()) {
		free(t.a);
		return t.err ? t.err : ph_error_interrupted();
	}
	if (t.n)
		qsort(t.a, t.n, sizeof(*t.a), ranked_cmp);
	uint32_t *objs = malloc((t.n + 1) * sizeof(*objs));
	uint32_t *e = malloc((2 * t.n + 1) * sizeof(*e));
	struct ph_error *err = NULL;
	if (!objs || !e)
		err = ph_error_nomem();
	if (!err && !(err = ranked_objects(d, t.a, t.n, objs))) {
		bool whole = true;
		for (size_t i = 0; i < t.n; i++) {
			e[2 * i] = t.a[i].pos;
			e[2 * i + 1] = objs[i];
			whole &= objs[i] != PH_NONE;
		}
		const void *sec[1] = {e};
		uint64_t bytes[1] = {(uint64_t)t.n * 8};
		uint64_t val[PH_ANSWER_VALS] = {t.n};
		if (whole) {
			if (ph_answercache_store(s->heap, "domtop", TOP_FORMAT,
						 1, sec, bytes, val))
				ph_stage("dominators' largest written");
			*ret = e;
			*ret_n = t.n;
			e = NULL;
		}
	}
	free(t.a);
	free(objs);
	free(e);
	return err;
}

/* The largest retainers. A tree not checked whole is read as rows: a
 * position no object has, or a row of the list's that reads wrong, sets
 * *ret_damaged and gives no rows. */
static struct ph_error *dominators_list(struct ph_session *s,
					const struct ph_dominators_opts *o,
					struct ph_dominators_result *r,
					bool *ret_damaged)
{
	const struct ph_domtree *d = s->dom;
	struct ph_heap *h = s->heap;
	struct topk t = {.k = o->limit};
	struct ph_error *err = NULL;
	bool unfiltered = !o->type && s->only_interp < 0;
	if (unfiltered && o->limit) {
		enum top_use use = list_from_top(s, o, r, &err);
		if (use == TOP_USED || err)
			return err;
		/* (written where the index cache is: a later run reads it;
		 * this one takes its rows from what was written) */
		uint32_t *e;
		size_t ne;
		if (use == TOP_NONE && s->heap->cache_sum) {
			if ((err = top_store(s, &e, &ne)))
				return err;
			use = e ? list_from_pairs(s, o, r, e, ne, &err)
				: TOP_NONE;
			free(e);
			if (use == TOP_USED || err)
				return err;
		}
	}
	if (!unfiltered) {
		/* (by object: a type's, or --interp's) */
		uint8_t *match = NULL;
		if (o->type &&
		    !(match = types_named(h, "dominators", o->type, &err)))
			return err;
		for (uint32_t x = 0; x < d->n && !t.err; x++) {
			if ((match && !match[ph_tidx(h, x)]) ||
			    !ph_session_keeps(s, x))
				continue;
			uint32_t p = ph_domtree_pos(d, x);
			*ret_damaged |= p == PH_NONE;
			if (p == PH_NONE || d->bytes[p] < o->min_bytes)
				continue;
			r->matching++;
			topk_add(&t,
				 (struct ranked){d->bytes[p], d->count[p], p});
		}
		free(match);
	} else
		r->matching = largest(d, o->min_bytes, &t);
	if (t.err || ph_interrupted()) {
		free(t.a);
		return t.err ? t.err : ph_error_interrupted();
	}
	if (t.n)
		qsort(t.a, t.n, sizeof(*t.a), ranked_cmp);
	uint32_t *objs = malloc((t.n + 1) * sizeof(*objs));
	r->rows = calloc(t.n + 1, sizeof(*r->rows));
	if (!objs || !r->rows) {
		err = ph_error_nomem();
		goto out;
	}
	if ((err = ranked_objects(d, t.a, t.n, objs)))
		goto out;
	for (size_t i = 0; i < t.n; i++)
		*ret_damaged |=
			objs[i] == PH_NONE || !ph_domtree_row_ok(d, objs[i]);
	size_t cap = 0;
	for (size_t i = 0; i < t.n && !err && !*ret_damaged; i++)
		err = row_fill(s, objs[i], true, &r->str, &r->steps, &r->nsteps,
			       &cap, &r->rows[r->nrows++]);
out:
	free(t.a);
	free(objs);
	return err;
}

/* The children of the node at position p (PH_DOM_ROOT, PH_DOM_UNREACHABLE:
 * those of a virtual root): their positions into *ret (malloc'ed). In a
 * tree not checked whole (p's row checked), each child's row is checked as
 * read: one out of its parent's range sets *damaged and ends the list. */
static struct ph_error *children_of(const struct ph_domtree *d, uint32_t p,
				    uint32_t **ret, size_t *ret_n,
				    bool *damaged)
{
	uint32_t lo, hi;
	if (p == PH_DOM_ROOT)
		lo = 0, hi = d->nreach;
	else if (p == PH_DOM_UNREACHABLE)
		lo = d->nreach, hi = d->n;
	else
		lo = p + 1, hi = p + d->count[p];
	size_t n = 0, cap = 0;
	uint32_t *c = NULL;
	struct ph_error *err = NULL;
	for (uint32_t q = lo; q < hi && !err; q += d->count[q]) {
		if (d->unchecked &&
		    (d->count[q] < 1 || (uint64_t)q + d->count[q] > hi)) {
			*damaged = true;
			break;
		}
		if (!(err = ph_grow((void **)&c, &cap, n + 1, sizeof(*c))))
			c[n++] = q;
	}
	if (err) {
		free(c);
		return err;
	}
	*ret = c;
	*ret_n = n;
	return NULL;
}

struct tree_build {
	struct ph_session *s;
	struct ph_dominators_result *r;
	uint32_t *npos; /* by node: its position (or a virtual root) */
	size_t cap;
	struct ph_error *err;
};

static size_t tree_node(struct tree_build *b, uint32_t p)
{
	struct ph_dominators_result *r = b->r;
	size_t cap = b->cap;
	if ((b->err = ph_grow((void **)&r->nodes, &b->cap, r->nnodes + 1,
			      sizeof(*r->nodes))) ||
	    (b->err = ph_grow((void **)&b->npos, &cap, r->nnodes + 1,
			      sizeof(*b->npos))))
		return PH_NO_NODE;
	r->nodes[r->nnodes] = (struct ph_dom_node){.first_child = PH_NO_NODE,
						   .next_sibling = PH_NO_NODE};
	b->npos[r->nnodes] = p;
	return r->nnodes++;
}

/* (a tree not checked whole: *damaged where a row it reads is wrong) */
static struct ph_error *dominators_tree(struct ph_session *s,
					const struct ph_dominators_opts *o,
					struct ph_dominators_result *r,
					bool *damaged)
{
	const struct ph_domtree *d = s->dom;
	uint32_t top;
	struct ph_error *err = NULL;
	if (!strcmp(o->tree, "root"))
		top = PH_DOM_ROOT;
	else if (!strcmp(o->tree, "unreachable"))
		top = PH_DOM_UNREACHABLE;
	else {
		uint32_t ob;
		if ((err = ph_query_object_need(s, "dominators --tree", o->tree,
						PH_GRAPH_PARENT_ROWS, &ob)))
			return err;
		if (!ph_domtree_row_ok(d, ob)) {
			*damaged = true;
			return NULL;
		}
		top = d->pos[ob];
	}
	r->tree = true;
	struct tree_build b = {.s = s, .r = r};
	tree_node(&b, top);
	/* level by level: nodes [lo, hi) are a level's */
	for (size_t lo = 0, hi = r->nnodes, level = 0;
	     lo < hi && level < o->depth && !b.err && !*damaged;
	     level++, lo = hi, hi = r->nnodes) {
		for (size_t i = lo; i < hi && !b.err; i++) {
			uint32_t *c = NULL;
			size_t nc;
			if ((b.err = children_of(d, b.npos[i], &c, &nc,
						 damaged)) ||
			    *damaged) {
				free(c);
				break;
			}
			struct ranked *rk = malloc((nc + 1) * sizeof(*rk));
			if (!rk) {
				free(c);
				b.err = ph_error_nomem();
				break;
			}
			for (size_t j = 0; j < nc; j++)
				rk[j] = (struct ranked){d->bytes[c[j]],
							d->count[c[j]], c[j]};
			qsort(rk, nc, sizeof(*rk), ranked_cmp);
			size_t keep = o->limit && o->limit < nc ? o->limit : nc;
			r->nodes[i].children = nc;
			r->nodes[i].more = nc - keep;
			r->nodes[i].expanded = true;
			size_t last = PH_NO_NODE;
			for (size_t j = 0; j < keep && !b.err; j++) {
				size_t node = tree_node(&b, rk[j].pos);
				if (node == PH_NO_NODE)
					break;
				if (last == PH_NO_NODE)
					r->nodes[i].first_child = node;
				else
					r->nodes[last].next_sibling = node;
				last = node;
			}
			free(rk);
			free(c);
		}
	}
	/* the objects at the nodes' positions, in one pass */
	uint32_t *p = NULL, *objs = NULL;
	size_t k = 0, cap = 0;
	if (*damaged) {
		free(b.npos);
		return b.err;
	}
	if (!b.err) {
		p = malloc((r->nnodes + 1) * sizeof(*p));
		objs = malloc((r->nnodes + 1) * sizeof(*objs));
		if (!p || !objs)
			b.err = ph_error_nomem();
	}
	for (size_t i = 0; !b.err && i < r->nnodes; i++)
		if (b.npos[i] != PH_DOM_ROOT && b.npos[i] != PH_DOM_UNREACHABLE)
			p[k++] = b.npos[i];
	if (!b.err) {
		k = sort_unique(p, k);
		b.err = objects_at(d, p, k, objs);
	}
	/* paths: the top's, or under a virtual root its children's (their
	 * roots are what tells them apart) */
	size_t with_path = 1;
	if (!b.err && (top == PH_DOM_ROOT || top == PH_DOM_UNREACHABLE))
		for (size_t c = r->nodes[0].first_child; c != PH_NO_NODE;
		     c = r->nodes[c].next_sibling)
			with_path = c + 1;
	for (size_t i = 0; !b.err && i < r->nnodes; i++) {
		struct ph_dom_node *nd = &r->nodes[i];
		uint32_t q = b.npos[i];
		if (q == PH_DOM_ROOT || q == PH_DOM_UNREACHABLE) {
			bool root = q == PH_DOM_ROOT;
			nd->virtual_root = true;
			nd->row = (struct ph_dom_row){
				.obj = {.type = root ? "root" : "unreachable"},
				.objects = root ? d->nreach : d->n - d->nreach,
				.bytes = root ? d->reach_bytes
					      : d->total_bytes - d->reach_bytes,
				.reachable = root};
			continue;
		}
		uint32_t *at = bsearch(&q, p, k, sizeof(*p), cmp_u32);
		if (objs[at - p] == PH_NONE) { /* (no object at q) */
			*damaged = true;
			break;
		}
		nd->has_path = i < with_path;
		b.err = row_fill(s, objs[at - p], nd->has_path, &r->str,
				 &r->steps, &r->nsteps, &cap, &nd->row);
	}
	free(p);
	free(objs);
	free(b.npos);
	return b.err;
}

/* --export: the graph py-heap used and the dominator of every object,
 * for an independent check (tests/integration/retained_checks.py): after
 * two lines of header, one line per object, by object number, "o ADDR SIZE
 * IDOM COUNT BYTES REFERENT..." (IDOM an object number, R: the roots'
 * root, U: the unreachable root; the referents' numbers as the graph holds
 * them), then "r TARGET..." (the roots' objects, in order). */
static struct ph_error *dominators_export(struct ph_session *s,
					  const char *path,
					  struct ph_dominators_result *r)
{
	const struct ph_domtree *d = s->dom;
	const struct ph_graph *g = s->graph;
	struct ph_heap *h = s->heap;
	uint32_t *idom;
	struct ph_error *err = ph_domtree_idoms(d, &idom);
	if (err)
		return err;
	FILE *f = fopen(path, "w");
	if (!f) {
		free(idom);
		return ph_error_create_path(PH_ERR_OS, path,
					    "dominators --export: %s: %s", path,
					    strerror(errno));
	}
	fprintf(f, "py-heap dominators 2\nobjects %u roots %zu edges %llu\n",
		d->n, g->nroots, (unsigned long long)g->nedges);
	for (uint32_t x = 0; x < d->n; x++) {
		uint32_t p = d->pos[x];
		fprintf(f, "o 0x%llx %llu ", (unsigned long long)h->addr[x],
			(unsigned long long)ph_heap_obj_size(h, x));
		if (idom[x] == PH_DOM_ROOT || idom[x] == PH_DOM_UNREACHABLE)
			fputc(idom[x] == PH_DOM_ROOT ? 'R' : 'U', f);
		else
			fprintf(f, "%u", idom[x]);
		fprintf(f, " %u %llu", d->count[p],
			(unsigned long long)d->bytes[p]);
		for (uint64_t e = g->fwd_off[x]; e < g->fwd_off[x + 1]; e++)
			fprintf(f, " %u", g->fwd[e]);
		fputc('\n', f);
	}
	fputc('r', f);
	for (size_t i = 0; i < g->nroots; i++)
		fprintf(f, " %u", g->roots[i].target);
	fputc('\n', f);
	free(idom);
	if (ferror(f) | fclose(f))
		return ph_error_create_path(PH_ERR_WRITE, path,
					    "dominators --export: %s: write "
					    "failed",
					    path);
	r->export_path = path;
	r->exported_edges = g->nedges;
	return NULL;
}

struct ph_error *ph_query_dominators(struct ph_session *s,
				     const struct ph_dominators_opts *o,
				     struct ph_dominators_result **ret)
{
	if (o->depth > 64)
		return ph_error_create(PH_ERR_USAGE,
				       "dominators: --depth is 0 to 64");
	/* the graph for the rows' paths, or all of it exported; the list
	 * and the tree read a sealed tree as rows (the tree's positions, the
	 * graph's steps) */
	bool damaged = false;
	struct ph_error *err =
		!o->export_path
			? ph_session_dominators_rows(s, PH_GRAPH_PARENT_ROWS)
			: ph_session_dominators_need(s, PH_GRAPH_ALL);
	struct ph_dominators_result *r = NULL;
again:
	if (err)
		return err;
	const struct ph_domtree *d = s->dom;
	if (!(r = calloc(1, sizeof(*r))))
		return ph_error_nomem();
	r->objects = d->n;
	r->bytes = d->total_bytes;
	r->reach_objects = d->nreach;
	r->reach_bytes = d->reach_bytes;
	if (o->export_path)
		err = dominators_export(s, o->export_path, r);
	else if (!(err = o->tree ? dominators_tree(s, o, r, &damaged)
				 : dominators_list(s, o, r, &damaged)) &&
		 damaged) {
		/* (read again checked whole: no second time) */
		ph_dominators_result_destroy(r);
		damaged = false;
		err = ph_session_dominators_damaged(s, PH_GRAPH_PARENT_ROWS);
		goto again;
	}
	if (!err && r->str.buf.failed)
		err = ph_error_nomem();
	if (err) {
		ph_dominators_result_destroy(r);
		return err;
	}
	*ret = r;
	return NULL;
}

void ph_dominators_result_destroy(struct ph_dominators_result *r)
{
	if (!r)
		return;
	free(r->rows);
	free(r->nodes);
	free(r->steps);
	ph_strings_free(&r->str);
	free(r);
}

/* ---- leaks --------------------------------------------------------------- */

struct suspect {
	uint32_t pos, acc; /* positions: the suspect, its accumulation */
	uint32_t depth;
	size_t path, npath; /* its way down: in the walk's ways[] */
};

struct leak_walk {
	const struct ph_domtree *d;
	struct ph_heap *h;
	uint64_t threshold;
	uint32_t *ways; /* the ways down, one after the other */
	size_t nways, ways_cap;
	struct suspect *sus;
	size_t nsus, sus_cap;
	struct ph_error *err;
};

/* Down from p while one child retains at least PH_LEAK_DESCEND_PERCENT of
 * its parent, at most PH_LEAK_STEPS_MAX steps: the positions on the way. */
static void way_down(struct leak_walk *w, struct suspect *su)
{
	const struct ph_domtree *d = w->d;
	su->path = w->nways;
	for (uint32_t a = su->pos, steps = 0; !w->err;) {
		if ((w->err = ph_grow((void **)&w->ways, &w->ways_cap,
				      w->nways + 1, sizeof(*w->ways))))
			return;
		w->ways[w->nways++] = a;
		if (++steps >= PH_LEAK_STEPS_MAX)
			break;
		uint32_t best = PH_NONE;
		for (uint32_t q = a + 1; q < a + d->count[a]; q += d->count[q])
			if (best == PH_NONE || d->bytes[q] > d->bytes[best])
				best = q;
		if (best == PH_NONE ||
		    d->bytes[best] * 100 <
			    d->bytes[a] * PH_LEAK_DESCEND_PERCENT)
			break;
		a = best;
	}
	su->npath = w->nways - su->path;
}

static void suspect_add(struct leak_walk *w, uint32_t p)
{
	if (!w->err && !(w->err = ph_grow((void **)&w->sus, &w->sus_cap,
					  w->nsus + 1, sizeof(*w->sus))))
		w->sus[w->nsus++] = (struct suspect){.pos = p};
}

/* The accumulation point on each suspect's way down: the end of the way,
 * or, where the way meets a type for the PH_LEAK_CHAIN-th time (a chain:
 * a linked list, nested frames), the first object of that type on it. */
static void accumulate(struct leak_walk *w, size_t from)
{
	const struct ph_domtree *d = w->d;
	size_t k = 0;
	uint32_t *p = NULL, *objs = NULL;
	for (size_t i = from; i < w->nsus; i++)
		k += w->sus[i].npath;
	p = malloc((k + 1) * sizeof(*p));
	objs = malloc((k + 1) * sizeof(*objs));
	uint32_t *seen_t = malloc((PH_LEAK_STEPS_MAX + 1) * sizeof(*seen_t));
	uint32_t *seen_n = malloc((PH_LEAK_STEPS_MAX + 1) * sizeof(*seen_n));
	uint32_t *seen_at = malloc((PH_LEAK_STEPS_MAX + 1) * sizeof(*seen_at));
	if (!p || !objs || !seen_t || !seen_n || !seen_at) {
		w->err = ph_error_nomem();
		goto out;
	}
	k = 0;
	for (size_t i = from; i < w->nsus; i++)
		for (size_t j = 0; j < w->sus[i].npath; j++)
			p[k++] = w->ways[w->sus[i].path + j];
	k = sort_unique(p, k);
	if ((w->err = objects_at(d, p, k, objs)))
		goto out;
	for (size_t i = from; i < w->nsus; i++) {
		struct suspect *su = &w->sus[i];
		size_t ntypes = 0, j;
		su->acc = w->ways[su->path + su->npath - 1];
		su->depth = (uint32_t)su->npath - 1;
		for (j = 0; j < su->npath; j++) {
			uint32_t q = w->ways[su->path + j];
			uint32_t *at = bsearch(&q, p, k, sizeof(*p), cmp_u32);
			uint32_t t = ph_tidx(w->h, objs[at - p]);
			size_t m = 0;
			while (m < ntypes && seen_t[m] != t)
				m++;
			if (m == ntypes) {
				seen_t[ntypes] = t;
				seen_n[ntypes] = 0;
				seen_at[ntypes++] = (uint32_t)j;
			}
			if (++seen_n[m] == PH_LEAK_CHAIN) {
				su->acc = w->ways[su->path + seen_at[m]];
				su->depth = seen_at[m];
				break;
			}
		}
	}
out:
	free(p);
	free(objs);
	free(seen_t);
	free(seen_n);
	free(seen_at);
}

struct child_type {
	uint32_t tidx;
	uint64_t count, bytes, objects;
};

/* What the accumulation point holds: its children, by type (types of one
 * name together), the one retaining most. */
static struct ph_error *leak_children(struct ph_session *s, const uint32_t *acc,
				      size_t nacc, struct ph_leak_suspect *out)
{
	const struct ph_domtree *d = s->dom;
	struct ph_heap *h = s->heap;
	struct ph_error *err = NULL;
	size_t k = 0, cap = 0;
	uint32_t *p = NULL, *objs = NULL;
	for (size_t i = 0; i < nacc && !err; i++) {
		uint32_t *c;
		size_t nc;
		bool damaged = false; /* (a tree checked whole) */
		if ((err = children_of(d, acc[i], &c, &nc, &damaged)))
			break;
		out[i].children_total = nc;
		/* (no children: c may be NULL, which memcpy may not take) */
		if (!(err = ph_grow((void **)&p, &cap, k + nc + 1,
				    sizeof(*p))) &&
		    nc)
			memcpy(p + k, c, nc * sizeof(*p)), k += nc;
		free(c);
	}
	if (!err && !(objs = malloc((k + 1) * sizeof(*objs))))
		err = ph_error_nomem();
	if (!err) {
		k = sort_unique(p, k);
		err = objects_at(d, p, k, objs);
	}
	struct child_type *ct = NULL;
	size_t ct_cap = 0;
	for (size_t i = 0; i < nacc && !err; i++) {
		size_t nt = 0;
		uint32_t a = acc[i];
		for (uint32_t q = a + 1; q < a + d->count[a] && !err;
		     q += d->count[q]) {
			uint32_t *at = bsearch(&q, p, k, sizeof(*p), cmp_u32);
			uint32_t x = objs[at - p];
			const char *name = tname(ph_obj_type(h, x));
			size_t m = 0;
			while (m < nt &&
			       strcmp(tname(&h->types[ct[m].tidx]), name))
				m++;
			if (m == nt) {
				if ((err = ph_grow((void **)&ct, &ct_cap,
						   nt + 1, sizeof(*ct))))
					break;
				ct[nt++] = (struct child_type){
					.tidx = ph_tidx(h, x)};
			}
			ct[m].count++;
			ct[m].bytes += d->bytes[q];
			ct[m].objects += d->count[q];
		}
		size_t best = 0;
		for (size_t m = 1; m < nt; m++)
			if (ct[m].bytes > ct[best].bytes)
				best = m;
		out[i].children_tidx = nt ? ct[best].tidx : PH_NONE;
		if (nt) {
			out[i].children_type = tname(&h->types[ct[best].tidx]);
			out[i].children = ct[best].count;
			out[i].children_bytes = ct[best].bytes;
			out[i].children_objects = ct[best].objects;
		}
	}
	free(ct);
	free(p);
	free(objs);
	return err;
}

static int suspect_cmp(const void *a, const void *b, void *arg)
{
	const struct ph_domtree *d = arg;
	const struct suspect *x = a, *y = b;
	struct ranked rx = {d->bytes[x->pos], d->count[x->pos], x->pos};
	struct ranked ry = {d->bytes[y->pos], d->count[y->pos], y->pos};
	return ranked_cmp(&rx, &ry);
}

/* "leaks": every suspect of a leaks without --interp at one --min-share
 * (val[0] its bits, val[1] how many), largest first: the suspect's object,
 * its accumulation point's, the steps between, and what that point
 * holds. A later leaks at that share reads them, and the tree only at
 * their rows: no walk down the tree, no pass over every object. */
#define LEAKS_FORMAT 1
#define LEAKS_STORED_MAX 4096

struct leak_rec {
	uint32_t obj, acc, depth, ctype; /* ctype: PH_NONE for no children */
	uint64_t ctotal, children, cbytes, cobjects;
};

static uint64_t share_bits(double share)
{
	uint64_t b;
	memcpy(&b, &share, sizeof(b));
	return b;
}

static uint64_t leaks_threshold(double share, uint64_t bytes)
{
	/* (a share of 0 bytes is still one object's worth) */
	double th = share / 100.0 * (double)bytes;
	return th < 1	      ? 1
	       : th >= 0x1p64 ? UINT64_MAX
			      : (uint64_t)th + ((double)(uint64_t)th < th);
}

/* r's first keep suspects (r->suspects allocated) from rec: what each
 * holds, and the rows of its object and its accumulation point's. */
static struct ph_error *leaks_fill(struct ph_session *s,
				   struct ph_leaks_result *r,
				   const struct leak_rec *rec, size_t keep)
{
	struct ph_heap *h = s->heap;
	struct ph_error *err = NULL;
	size_t cap = 0;
	for (size_t i = 0; !err && i < keep; i++) {
		struct ph_leak_suspect *su = &r->suspects[i];
		su->depth = rec[i].depth;
		su->children_total = rec[i].ctotal;
		su->children_type = rec[i].ctype == PH_NONE
					    ? NULL
					    : tname(&h->types[rec[i].ctype]);
		su->children_tidx = rec[i].ctype;
		su->children = rec[i].children;
		su->children_bytes = rec[i].cbytes;
		su->children_objects = rec[i].cobjects;
		if (!(err = row_fill(s, rec[i].obj, true, &r->str, &r->steps,
				     &r->nsteps, &cap, &su->row)))
			err = row_fill(s, rec[i].acc, true, &r->str, &r->steps,
				       &r->nsteps, &cap, &su->acc);
		r->nsuspects++;
	}
	if (!err && r->str.buf.failed)
		err = ph_error_nomem();
	return err;
}

/* The suspects from that file into r: false when there is none for this
 * share, or when the tree does not give its rows in its order (then they
 * are computed and the file written again). */
static bool leaks_from_file(struct ph_session *s, const struct ph_leaks_opts *o,
			    struct ph_leaks_result *r,
			    struct ph_error **ret_err)
{
	struct ph_heap *h = s->heap;
	struct ph_answers a;
	if (!h->cache_sum ||
	    !ph_answercache_load(h, "leaks", LEAKS_FORMAT, 1, &a))
		return false;
	const struct leak_rec *rec = a.sec[0];
	uint64_t m = a.val[1];
	bool ok = a.val[0] == share_bits(o->min_share) && m <= h->n &&
		  a.bytes[0] == m * sizeof(*rec);
	for (uint64_t i = 0; ok && i < m; i++)
		ok = rec[i].obj < h->n && rec[i].acc < h->n &&
		     (rec[i].ctype == PH_NONE || rec[i].ctype < h->ntypes);
	/* the tree at their rows only, each checked as read */
	struct ph_error *err =
		ok ? ph_session_dominators_rows(s, PH_GRAPH_PARENT_ROWS) : NULL;
	for (uint64_t i = 0; ok && !err && i < m; i++)
		if (!ph_domtree_row_ok(s->dom, rec[i].obj) ||
		    !ph_domtree_row_ok(s->dom, rec[i].acc))
			err = ph_session_dominators_damaged(
				s, PH_GRAPH_PARENT_ROWS);
	const struct ph_domtree *d = s->dom;
	uint64_t th = d ? leaks_threshold(o->min_share, d->total_bytes) : 0;
	/* the file agrees with the tree: each retains enough, in order */
	struct ranked last = {0};
	for (uint64_t i = 0; ok && !err && i < m; i++) {
		uint64_t objects, bytes;
		uint32_t p =
			ph_domtree_retained(d, rec[i].obj, &objects, &bytes);
		struct ranked rk = {bytes, (uint32_t)objects, p};
		ok = p != PH_NONE && rk.bytes >= th &&
		     (!i || ranked_cmp(&last, &rk) < 0);
		last = rk;
	}
	if (err || !ok) {
		ph_answercache_release(&a);
		*ret_err = err;
		return err != NULL;
	}
	r->objects = d->n;
	r->bytes = d->total_bytes;
	r->threshold = th;
	r->total = m;
	size_t keep = o->limit && o->limit < m ? o->limit : m;
	if (!(r->suspects = calloc(keep + 1, sizeof(*r->suspects))))
		err = ph_error_nomem();
	else
		err = leaks_fill(s, r, rec, keep);
	ph_answercache_release(&a);
	*ret_err = err;
	if (!err)
		ph_stage("leaks' suspects read");
	return true;
}

/* The suspects, rec[0..n) in order, into the "leaks" file. */
static void leaks_store(struct ph_session *s, const struct ph_leaks_opts *o,
			const struct leak_rec *rec, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rec[i].obj == PH_NONE || rec[i].acc == PH_NONE)
			return; /* (a tree not checked whole: never here) */
	const void *sec[1] = {rec};
	uint64_t bytes[1] = {n * sizeof(*rec)};
	uint64_t val[PH_ANSWER_VALS] = {share_bits(o->min_share), n};
	if (ph_answercache_store(s->heap, "leaks", LEAKS_FORMAT, 1, sec, bytes,
				 val))
		ph_stage("leaks' suspects written");
}

struct ph_error *ph_query_leaks(struct ph_session *s,
				const struct ph_leaks_opts *o,
				struct ph_leaks_result **ret)
{
	if (!(o->min_share > 0 && o->min_share <= 100))
		return ph_error_create(PH_ERR_USAGE,
				       "leaks: --min-share is a percentage, "
				       "above 0 and at most 100");
	struct ph_error *err = ph_session_heap(s);
	if (err)
		return err;
	struct ph_leaks_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	r->min_share = o->min_share;
	if (s->only_interp < 0 && leaks_from_file(s, o, r, &err)) {
		if (err) {
			ph_leaks_result_destroy(r);
			return err;
		}
		*ret = r;
		return NULL;
	}
	/* the graph for the rows' paths */
	if ((err = ph_session_dominators_need(s, PH_GRAPH_PARENT))) {
		free(r);
		return err;
	}
	const struct ph_domtree *d = s->dom;
	r->objects = d->n;
	r->bytes = d->total_bytes;
	/* --interp: a share of that interpreter's bytes, the suspects its
	 * objects (the topmost of it in the tree) */
	uint32_t *order = NULL;
	if (s->only_interp >= 0) {
		if (!(order = ph_domtree_order(d))) {
			free(r);
			return ph_error_nomem();
		}
		r->objects = r->bytes = 0;
		for (uint32_t x = 0; x < d->n; x++)
			if (ph_session_keeps(s, x))
				r->objects++, r->bytes +=
					      ph_heap_obj_size(s->heap, x);
	}
	r->threshold = leaks_threshold(o->min_share, r->bytes);
	struct leak_walk w = {.d = d, .h = s->heap, .threshold = r->threshold};
	/* the candidates: the tops of both trees that retain enough */
	if (order) {
		for (uint32_t q = 0; q < d->n;)
			if (ph_session_keeps(s, order[q])) {
				if (d->bytes[q] >= w.threshold)
					suspect_add(&w, q);
				q += d->count[q];
			} else
				q++;
	} else
		for (uint32_t q = 0; q < d->n; q += d->count[q])
			if (d->bytes[q] >= w.threshold)
				suspect_add(&w, q);
	/* each goes down to its accumulation point; where that splits into
	 * several children that each retain enough, those are suspects of
	 * their own instead (disjoint, each at least the threshold) */
	struct suspect *done = NULL;
	size_t ndone = 0, done_cap = 0;
	for (size_t from = 0; from < w.nsus && !w.err;) {
		size_t upto = w.nsus;
		for (size_t i = from; i < upto && !w.err; i++)
			way_down(&w, &w.sus[i]);
		if (!w.err)
			accumulate(&w, from);
		for (size_t i = from; i < upto && !w.err; i++) {
			uint32_t a = w.sus[i].acc, nbig = 0;
			/* (--interp: only that interpreter's children are
			 * suspects of their own) */
			for (uint32_t q = a + 1; q < a + d->count[a];
			     q += d->count[q])
				nbig += d->bytes[q] >= w.threshold &&
					(!order ||
					 ph_session_keeps(s, order[q]));
			if (nbig >= 2) {
				for (uint32_t q = a + 1; q < a + d->count[a];
				     q += d->count[q])
					if (d->bytes[q] >= w.threshold &&
					    (!order ||
					     ph_session_keeps(s, order[q])))
						suspect_add(&w, q);
				continue;
			}
			if ((w.err = ph_grow((void **)&done, &done_cap,
					     ndone + 1, sizeof(*done))))
				break;
			done[ndone++] = w.sus[i];
		}
		from = upto;
		if (ph_interrupted() && !w.err)
			w.err = ph_error_interrupted();
	}
	ph_domtree_order_free(d, order);
	err = w.err;
	if (!err && ndone)
		qsort_r(done, ndone, sizeof(*done), suspect_cmp, (void *)d);
	r->total = ndone;
	size_t keep = o->limit && o->limit < ndone ? o->limit : ndone;
	/* every suspect's objects and children when they are to be kept for
	 * a later run, the shown ones' otherwise */
	bool store = s->only_interp < 0 && s->heap->cache_sum &&
		     ndone <= LEAKS_STORED_MAX;
	size_t nfill = store ? ndone : keep;
	uint32_t *p = NULL, *objs = NULL, *acc = NULL;
	size_t k = 0;
	if (!err) {
		r->suspects = calloc(nfill + 1, sizeof(*r->suspects));
		p = malloc((2 * nfill + 1) * sizeof(*p));
		objs = malloc((2 * nfill + 1) * sizeof(*objs));
		acc = malloc((nfill + 1) * sizeof(*acc));
		if (!r->suspects || !p || !objs || !acc)
			err = ph_error_nomem();
	}
	for (size_t i = 0; !err && i < nfill; i++) {
		p[k++] = done[i].pos;
		p[k++] = done[i].acc;
		acc[i] = done[i].acc;
	}
	if (!err) {
		k = sort_unique(p, k);
		err = objects_at(d, p, k, objs);
	}
	if (!err)
		err = leak_children(s, acc, nfill, r->suspects);
	/* each suspect as the file keeps it, its objects found once */
	struct leak_rec *rec = NULL;
	if (!err && !(rec = calloc(nfill + 1, sizeof(*rec))))
		err = ph_error_nomem();
	for (size_t i = 0; !err && i < nfill; i++) {
		const struct ph_leak_suspect *su = &r->suspects[i];
		const uint32_t *a = bsearch(&done[i].pos, p, k, sizeof(*p),
					    cmp_u32),
			       *b = bsearch(&done[i].acc, p, k, sizeof(*p),
					    cmp_u32);
		rec[i] = (struct leak_rec){.obj = objs[a - p],
					   .acc = objs[b - p],
					   .depth = done[i].depth,
					   .ctype = su->children_tidx,
					   .ctotal = su->children_total,
					   .children = su->children,
					   .cbytes = su->children_bytes,
					   .cobjects = su->children_objects};
	}
	if (!err && store)
		leaks_store(s, o, rec, ndone);
	if (!err)
		err = leaks_fill(s, r, rec, keep);
	free(rec);
	free(p);
	free(objs);
	free(acc);
	free(done);
	free(w.sus);
	free(w.ways);
	if (!err && r->str.buf.failed)
		err = ph_error_nomem();
	if (err) {
		ph_leaks_result_destroy(r);
		return err;
	}
	*ret = r;
	return NULL;
}

void ph_leaks_result_destroy(struct ph_leaks_result *r)
{
	if (!r)
		return;
	free(r->suspects);
	free(r->steps);
	ph_strings_free(&r->str);
	free(r);
}

/* ---- types --retained ---------------------------------------------------- */

/*
 * For each row (a type name), the objects of that name that no other
 * object of that name dominates, and what they retain: their retained
 * sets are disjoint, and their union is what deleting every object of
 * the type would free at least (MAT's retained heap by class). In
 * preorder, an object has an ancestor of its own row exactly when an
 * earlier object of the row has a range reaching past it: one pass, with
 * the farthest range end seen per row.
 */
/* "typeret": types --retained's sums for every interpreter, by type
 * number: the retained objects and bytes its objects add to their row's
 * (rows made as ph_query_types makes them without --module, which a
 * --module leaves the same for the rows it keeps). A later types
 * --retained reads them: no dominator tree, no pass over every object. */
#define TYPERET_FORMAT 1

static bool typeret_load(const struct ph_heap *h, const uint32_t *row_of,
			 struct ph_type_row *rows)
{
	struct ph_answers a;
	if (!ph_answercache_load(h, "typeret", TYPERET_FORMAT, 1, &a))
		return false;
	const uint64_t *v = a.sec[0];
	bool ok = a.val[0] == h->ntypes && a.bytes[0] == h->ntypes * 16;
	/* (a type of no object adds nothing: its row_of is no row's) */
	for (size_t t = 0; ok && t < h->ntypes; t++) {
		rows[row_of[t]].retained_objects += v[2 * t];
		rows[row_of[t]].retained_bytes += v[2 * t + 1];
	}
	ph_answercache_release(&a);
	return ok;
}

struct ph_error *ph_query_retained_by_type(struct ph_session *s,
					   const uint32_t *row_of,
					   struct ph_type_row *rows,
					   bool every_type)
{
	struct ph_heap *h = s->heap;
	bool all = s->only_interp < 0;
	if (all && h->cache_sum && typeret_load(h, row_of, rows)) {
		ph_stage("types' retained read");
		return NULL;
	}
	/* the tree only: no array of a mapped graph (built, it needs all) */
	struct ph_error *err = ph_session_dominators_need(s, 0);
	if (err)
		return err;
	const struct ph_domtree *d = s->dom;
	uint32_t *order = ph_domtree_order(d);
	uint32_t *reach = calloc(h->ntypes + 1, sizeof(*reach));
	/* by type number, what it adds to its row (stored when every type
	 * has its own row: no --module, no --interp) */
	bool store = all && every_type && h->cache_sum;
	uint64_t *by_type = store ? calloc(2 * h->ntypes + 1, 8) : NULL;
	if (!order || !reach || (store && !by_type)) {
		ph_domtree_order_free(d, order);
		free(reach);
		free(by_type);
		return ph_error_nomem();
	}
	for (uint32_t i = 0; i < d->n; i++) {
		if (i == d->nreach) /* the unreachable objects' tree */
			memset(reach, 0, (h->ntypes + 1) * sizeof(*reach));
		if (!ph_session_keeps(s, order[i]))
			continue; /* (--interp: its type may have no row) */
		uint32_t t = ph_tidx(h, order[i]), row = row_of[t];
		if (reach[row] > i)
			continue;
		rows[row].retained_objects += d->count[i];
		rows[row].retained_bytes += d->bytes[i];
		reach[row] = i + d->count[i];
		if (by_type) {
			by_type[2 * t] += d->count[i];
			by_type[2 * t + 1] += d->bytes[i];
		}
	}
	ph_domtree_order_free(d, order);
	free(reach);
	if (by_type) {
		const void *sec[1] = {by_type};
		uint64_t bytes[1] = {h->ntypes * 16};
		uint64_t val[PH_ANSWER_VALS] = {h->ntypes};
		if (ph_answercache_store(h, "typeret", TYPERET_FORMAT, 1, sec,
					 bytes, val))
			ph_stage("types' retained written");
		free(by_type);
	}
	return NULL;
}
