/* cmd_graph.c - show, referents, referrers and path: one object and its
 * neighbours in the object graph. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

struct ph_error *session_graph(struct ph_session *s)
{
	struct ph_error *err = session_heap(s);
	if (err)
		return err;
	if (s->graph)
		return ph_graph_complete(s->graph);
	return ph_graph_create(s->heap, &s->graph);
}

struct ph_error *session_graph_edges(struct ph_session *s)
{
	struct ph_error *err = session_heap(s);
	if (err || s->graph)
		return err;
	return ph_graph_create_edges(s->heap, &s->graph);
}

static struct ph_error *parse_addr(const char *cmd, const char *v,
				   uint64_t *ret)
{
	char *end;
	if (!v || !*v)
		return ph_error_create(PH_ERR_USAGE,
				       "%s: which object? give its address "
				       "(0x... as id() prints it in hex, or "
				       "decimal)",
				       cmd);
	unsigned long long n = strtoull(v, &end, 0);
	if (*end || *v == '-')
		return ph_error_create(PH_ERR_USAGE,
				       "%s: '%s' is not an address", cmd, v);
	*ret = n;
	return NULL;
}

/* Parses "CMD ADDR [options]" with the given numeric options. */
struct opt {
	const char *name;
	uint64_t *value;
};

static struct ph_error *parse_obj_args(struct ph_session *s, struct args *a,
				       struct opt *opts, size_t nopts,
				       uint32_t *ret_obj)
{
	const char *addr_arg = NULL;
	struct ph_error *err;
	for (; a->pos < a->argc; a->pos++) {
		const char *o = a->argv[a->pos];
		const char *v =
			a->pos + 1 < a->argc ? a->argv[a->pos + 1] : NULL;
		size_t i;
		for (i = 0; i < nopts; i++)
			if (!strcmp(o, opts[i].name))
				break;
		if (i < nopts) {
			if ((err = parse_u64(a->cmd, o, v, opts[i].value)))
				return err;
			a->pos++;
		} else if (o[0] == '-' && o[1] == '-')
			return ph_error_create(PH_ERR_USAGE,
					       "%s: unknown option '%s'",
					       a->cmd, o);
		else if (!addr_arg)
			addr_arg = o;
		else
			return ph_error_create(PH_ERR_USAGE,
					       "%s: one address only", a->cmd);
	}
	uint64_t addr = 0;
	if ((err = parse_addr(a->cmd, addr_arg, &addr)))
		return err;
	if ((err = session_graph(s)))
		return err;
	uint32_t obj = ph_graph_lookup(s->graph, addr);
	if (obj == PH_NONE)
		return ph_error_create_at(PH_ERR_NOT_FOUND, addr,
					  "%s: no Python object at 0x%llx",
					  a->cmd, (unsigned long long)addr);
	*ret_obj = obj;
	return NULL;
}

static void json_obj_head(struct ph_heap *h, uint32_t o, struct ph_buf *out)
{
	const char *tn = tname(&h->types[h->tidx[o]]);
	ph_buf_printf(out, "{\"address\": \"0x%llx\", \"type\": ",
		      (unsigned long long)h->addr[o]);
	ph_buf_json_str(out, tn, strlen(tn));
}

/* ---- show ------------------------------------------------------------- */

struct show_ctx {
	struct ph_heap *h;
	struct ph_buf *out;
	bool json;
	size_t n, max;
	struct ph_buf tmp;
};

static void show_ref_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
			uint64_t data)
{
	struct show_ctx *c = arg;
	struct ph_heap *h = c->h;
	if (kind == PH_EDGE_KEY ||
	    (kind == PH_EDGE_FIELD &&
	     !strcmp((const char *)(uintptr_t)data, "__class__")))
		return;
	uint32_t tn_ = ph_heap_lookup(h, target);
	if (tn_ == PH_NONE)
		return;
	uint32_t *t = &tn_;
	if (c->n++ >= c->max)
		return;
	c->tmp.len = 0;
	ph_edge_label_write(h, kind, data, &c->tmp);
	char via[512];
	snprintf(via, sizeof(via), "%s", c->tmp.data ? c->tmp.data : "");
	c->tmp.len = 0;
	ph_repr_object(h, target, h->tidx[*t], &c->tmp);
	const char *r = c->tmp.data ? c->tmp.data : "";
	if (c->json) {
		ph_buf_puts(c->out, c->n > 1 ? ", " : "");
		json_obj_head(h, *t, c->out);
		ph_buf_puts(c->out, ", \"via\": ");
		ph_buf_json_str(c->out, via, strlen(via));
		ph_buf_puts(c->out, ", \"repr\": ");
		ph_buf_json_str(c->out, r, strlen(r));
		ph_buf_putc(c->out, '}');
	} else
		ph_buf_printf(c->out, "    %-24s %s\n", via, r);
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
	const struct ph_type *t = &h->types[h->tidx[o]];
	if (!(t->flags & PH_TPFLAGS_HAVE_GC))
		return "not a GC object";
	unsigned g = (h->flags[o] >> 4) & 7;
	return g < 5 ? gens[g] : "?";
}

PH_COMMAND(cmd_show)
{
	uint64_t max = 20;
	struct opt opts[] = {{"--limit", &max}};
	uint32_t o;
	struct ph_error *err = parse_obj_args(s, a, opts, 1, &o);
	if (err)
		return err;
	struct ph_heap *h = s->heap;
	struct ph_graph *g = s->graph;
	const struct ph_type *t = &h->types[h->tidx[o]];
	uint64_t addr = h->addr[o], refcnt = 0;
	ph_mem_u64(h->mem, addr, &refcnt);
	refcnt = (uint64_t)ph_refcnt_decode(h->L, refcnt);
	struct ph_buf r;
	ph_buf_init(&r);
	ph_repr_object(h, addr, h->tidx[o], &r);
	struct show_ctx c = {
		.h = h, .out = out, .json = json, .max = max ? max : SIZE_MAX};
	ph_buf_init(&c.tmp);
	const char *root = g->parent[o] == PH_NONE ? NULL : "";
	if (json) {
		json_obj_head(h, o, out);
		ph_buf_printf(
			out,
			", \"size\": %llu, \"refcount\": %lld, \"gc\": \"%s\", "
			"\"found_by\": \"%s\", \"reachable\": %s, "
			"\"referrers\": "
			"%llu, \"repr\": ",
			(unsigned long long)h->size[o], (long long)refcnt,
			gc_state(h, o), found_by(h->flags[o]),
			root ? "true" : "false",
			(unsigned long long)(g->rev_off[o + 1] -
					     g->rev_off[o]));
		ph_buf_json_str(out, r.data ? r.data : "", r.len);
		ph_buf_puts(out, ", \"referents\": [");
		ph_heap_referents(h, addr, h->tidx[o], show_ref_cb, &c);
		ph_buf_printf(out, "], \"referents_total\": %zu}\n", c.n);
	} else {
		char sz[32];
		ph_buf_printf(out, "0x%llx  %s\n", (unsigned long long)addr,
			      tname(t));
		ph_buf_printf(out, "  value:      %s\n", r.data ? r.data : "");
		ph_buf_printf(out, "  size:       %s bytes (sys.getsizeof)\n",
			      ph_fmt_count(h->size[o], sz));
		ph_buf_printf(out, "  refcount:   %lld\n", (long long)refcnt);
		ph_buf_printf(out, "  gc:         %s\n", gc_state(h, o));
		ph_buf_printf(out, "  found by:   %s\n", found_by(h->flags[o]));
		ph_buf_printf(
			out, "  referrers:  %llu%s\n",
			(unsigned long long)(g->rev_off[o + 1] - g->rev_off[o]),
			root ? "" : " (no root reaches it: garbage)");
		size_t mark = out->len;
		ph_buf_puts(out, "  holds:\n");
		ph_heap_referents(h, addr, h->tidx[o], show_ref_cb, &c);
		if (!c.n) {
			out->len = mark;
			if (out->data)
				out->data[mark] = '\0';
		} else if (c.n > c.max)
			ph_buf_printf(out,
				      "    ... %zu more (--limit 0 for all)\n",
				      c.n - c.max);
	}
	ph_buf_free(&c.tmp);
	ph_buf_free(&r);
	return NULL;
}

/* ---- referents -------------------------------------------------------- */

struct nb_ctx {
	struct ph_heap *h;
	struct ph_buf *out;
	bool json;
	size_t n;
	struct ph_buf tmp;
};

static void referents_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
			 uint64_t data)
{
	struct nb_ctx *c = arg;
	struct ph_heap *h = c->h;
	uint32_t tn_ = ph_heap_lookup(h, target);
	if (tn_ == PH_NONE)
		return;
	uint32_t *t = &tn_;
	c->tmp.len = 0;
	ph_edge_label_write(h, kind, data, &c->tmp);
	const char *via = c->tmp.data ? c->tmp.data : "";
	const char *tn = tname(&h->types[h->tidx[*t]]);
	if (c->json) {
		ph_buf_puts(c->out, c->n ? ", " : "");
		json_obj_head(h, *t, c->out);
		ph_buf_puts(c->out, ", \"via\": ");
		ph_buf_json_str(c->out, via, strlen(via));
		ph_buf_printf(c->out, ", \"strong\": %s}",
			      ph_edge_is_strong(kind) ? "true" : "false");
	} else
		ph_buf_printf(c->out, "0x%-16llx %-28s %s\n",
			      (unsigned long long)target, tn, via);
	c->n++;
}

PH_COMMAND(cmd_referents)
{
	uint32_t o;
	struct ph_error *err = parse_obj_args(s, a, NULL, 0, &o);
	if (err)
		return err;
	struct ph_heap *h = s->heap;
	struct nb_ctx c = {.h = h, .out = out, .json = json};
	ph_buf_init(&c.tmp);
	if (json)
		ph_buf_printf(out, "{\"address\": \"0x%llx\", \"referents\": [",
			      (unsigned long long)h->addr[o]);
	else
		ph_buf_printf(out, "%-18s %-28s %s\n", "ADDRESS", "TYPE",
			      "VIA");
	ph_heap_referents(h, h->addr[o], h->tidx[o], referents_cb, &c);
	if (json)
		ph_buf_puts(out, "]}\n");
	else
		ph_buf_printf(out, "%zu referents\n", c.n);
	ph_buf_free(&c.tmp);
	return NULL;
}

/* ---- referrers -------------------------------------------------------- */

static void roots_of(struct ph_graph *g, uint32_t o, bool json,
		     struct ph_buf *out, const char *indent)
{
	size_t n = 0;
	for (size_t r = 0; r < g->nroots; r++) {
		if (g->roots[r].target != o)
			continue;
		if (json) {
			ph_buf_puts(out, n ? ", " : "");
			ph_buf_json_str(out, g->roots[r].name,
					strlen(g->roots[r].name));
		} else
			ph_buf_printf(out, "%sroot: %s\n", indent,
				      g->roots[r].name);
		n++;
	}
}

/* The tree of referrers: each object is expanded once (a loop, or an
 * object reached by several ways, would make the tree exponential), and
 * the whole tree is capped at REFERRERS_MAX entries. */
#define REFERRERS_MAX 10000

struct referrers_walk {
	struct ph_graph *g;
	uint64_t limit;
	bool json;
	struct ph_buf *out, *tmp;
	uint8_t *seen; /* a bit per object: expanded already */
	size_t entries;
	bool capped;
};

static bool referrers_seen(struct referrers_walk *w, uint32_t o)
{
	bool was = (w->seen[o / 8] >> (o % 8)) & 1;
	w->seen[o / 8] |= (uint8_t)(1u << (o % 8));
	return was;
}

static void referrers_level(struct referrers_walk *w, uint32_t o,
			    uint64_t depth, int level)
{
	struct ph_graph *g = w->g;
	struct ph_heap *h = g->h;
	struct ph_buf *out = w->out;
	size_t shown = 0, total = 0;
	uint32_t prev = PH_NONE;
	char indent[64];
	snprintf(indent, sizeof(indent), "%*s", level * 2, "");
	for (uint64_t e = g->rev_off[o]; e < g->rev_off[o + 1]; e++) {
		uint32_t src = g->rev[e];
		if (src == prev)
			continue; /* one line per referrer */
		prev = src;
		total++;
		if ((w->limit && shown >= w->limit) || w->capped)
			continue;
		if (w->entries >= REFERRERS_MAX) {
			w->capped = true;
			continue;
		}
		w->entries++;
		shown++;
		w->tmp->len = 0;
		ph_graph_label(g, src, o, w->tmp);
		char via[512];
		snprintf(via, sizeof(via), "%s",
			 w->tmp->data ? w->tmp->data : "");
		bool expand = depth > 1 && !referrers_seen(w, src);
		if (w->json) {
			ph_buf_puts(out, shown > 1 ? ", " : "");
			json_obj_head(h, src, out);
			ph_buf_puts(out, ", \"via\": ");
			ph_buf_json_str(out, via, strlen(via));
			if (depth > 1) {
				ph_buf_puts(out, ", \"roots\": [");
				roots_of(g, src, true, out, "");
				ph_buf_puts(out, "], \"referrers\": [");
				if (expand)
					referrers_level(w, src, depth - 1,
							level + 1);
				ph_buf_putc(out, ']');
				if (!expand)
					ph_buf_puts(out, ", \"shown_above\": "
							 "true");
			}
			ph_buf_putc(out, '}');
		} else {
			ph_buf_printf(out, "%s0x%-16llx %-28s %s%s\n", indent,
				      (unsigned long long)h->addr[src],
				      tname(&h->types[h->tidx[src]]), via,
				      depth > 1 && !expand
					      ? "  (its referrers: above)"
					      : "");
			if (expand) {
				char in2[80];
				snprintf(in2, sizeof(in2), "%s    ", indent);
				roots_of(g, src, false, out, in2);
				referrers_level(w, src, depth - 1, level + 2);
			}
		}
	}
	if (!w->json && shown < total && !w->capped)
		ph_buf_printf(out,
			      "%s... %zu more referrers (--limit 0 for all)\n",
			      indent, total - shown);
}

PH_COMMAND(cmd_referrers)
{
	uint64_t depth = 1, limit = json ? 0 : 50;
	struct opt opts[] = {{"--depth", &depth}, {"--limit", &limit}};
	uint32_t o;
	struct ph_error *err = parse_obj_args(s, a, opts, 2, &o);
	if (err)
		return err;
	if (depth < 1 || depth > 16)
		return ph_error_create(PH_ERR_USAGE,
				       "referrers: --depth is 1 to 16");
	struct ph_graph *g = s->graph;
	struct ph_buf tmp;
	ph_buf_init(&tmp);
	struct referrers_walk w = {
		.g = g,
		.limit = limit,
		.json = json,
		.out = out,
		.tmp = &tmp,
		.seen = calloc(g->h->n / 8 + 1, 1),
	};
	if (!w.seen)
		return ph_error_nomem();
	referrers_seen(&w, o);
	if (json) {
		ph_buf_printf(out, "{\"address\": \"0x%llx\", \"roots\": [",
			      (unsigned long long)g->h->addr[o]);
		roots_of(g, o, true, out, "");
		ph_buf_puts(out, "], \"referrers\": [");
		referrers_level(&w, o, depth, 0);
		ph_buf_printf(out, "], \"truncated\": %s}\n",
			      w.capped ? "true" : "false");
	} else {
		ph_buf_printf(out, "referrers of 0x%llx %s:\n",
			      (unsigned long long)g->h->addr[o],
			      tname(&g->h->types[g->h->tidx[o]]));
		roots_of(g, o, false, out, "");
		referrers_level(&w, o, depth, 0);
		if (g->rev_off[o + 1] == g->rev_off[o])
			ph_buf_puts(out, "(no object refers to it)\n");
		if (w.capped)
			ph_buf_printf(out,
				      "... stopped at %d referrers "
				      "(narrow it with --limit or "
				      "--depth)\n",
				      REFERRERS_MAX);
	}
	free(w.seen);
	ph_buf_free(&tmp);
	return NULL;
}

/* ---- path ------------------------------------------------------------- */

/* The chain from a root to o (root's target first); returns its length. */
static size_t chain(struct ph_graph *g, uint32_t o, uint32_t *buf, size_t max,
		    uint32_t *ret_root)
{
	size_t n = 0;
	uint32_t cur = o;
	while (n < max && cur != PH_NONE && !(cur & PH_ROOT_BIT)) {
		buf[n++] = cur;
		cur = g->parent[cur];
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

static void write_path(struct ph_graph *g, const uint32_t *p, size_t n,
		       uint32_t root, bool json, struct ph_buf *out,
		       struct ph_buf *tmp)
{
	struct ph_heap *h = g->h;
	const char *rname = root != PH_NONE ? g->roots[root].name : "?";
	if (json) {
		ph_buf_puts(out, "\"root\": ");
		ph_buf_json_str(out, rname, strlen(rname));
		ph_buf_puts(out, ", \"path\": [");
	} else {
		tmp->len = 0;
		for (size_t i = 1; i < n; i++)
			ph_graph_label(g, p[i - 1], p[i], tmp);
		ph_buf_printf(out, "%s %s\n", rname,
			      tmp->data ? tmp->data : "");
	}
	for (size_t i = 0; i < n; i++) {
		tmp->len = 0;
		if (i)
			ph_graph_label(g, p[i - 1], p[i], tmp);
		const char *via = tmp->data && i ? tmp->data : "";
		if (json) {
			ph_buf_puts(out, i ? ", " : "");
			json_obj_head(h, p[i], out);
			ph_buf_puts(out, ", \"via\": ");
			ph_buf_json_str(out, via, strlen(via));
			ph_buf_putc(out, '}');
		} else
			ph_buf_printf(out, "  %-26s 0x%-16llx %s\n",
				      i ? via : "(root)",
				      (unsigned long long)h->addr[p[i]],
				      tname(&h->types[h->tidx[p[i]]]));
	}
	if (json)
		ph_buf_putc(out, ']');
}

PH_COMMAND(cmd_path)
{
	uint64_t all = 0;
	struct opt opts[] = {{"--all", &all}};
	uint32_t o;
	struct ph_error *err = parse_obj_args(s, a, opts, 1, &o);
	if (err)
		return err;
	struct ph_graph *g = s->graph;
	struct ph_heap *h = g->h;
	uint64_t addr = h->addr[o];
	if (g->parent[o] == PH_NONE) {
		if (json)
			ph_buf_printf(
				out,
				"{\"address\": \"0x%llx\", \"root\": null, "
				"\"path\": [], \"paths\": []}\n",
				(unsigned long long)addr);
		else
			ph_buf_printf(
				out,
				"no root reaches 0x%llx: it is garbage, "
				"kept alive only by a reference cycle or "
				"a reference py-heap cannot see (C code)\n",
				(unsigned long long)addr);
		return NULL;
	}
	size_t max = (size_t)ph_graph_depth(g, o) + 2;
	uint32_t *p = malloc(max * sizeof(*p));
	if (!p)
		return ph_error_nomem();
	struct ph_buf tmp;
	ph_buf_init(&tmp);
	uint32_t root;
	size_t n = chain(g, o, p, max, &root);
	if (json) {
		ph_buf_printf(out, "{\"address\": \"0x%llx\", ",
			      (unsigned long long)addr);
		write_path(g, p, n, root, true, out, &tmp);
	} else
		write_path(g, p, n, root, false, out, &tmp);
	if (all > 1) {
		/* More chains: through each other referrer the roots reach,
		 * nearest first; and each other root that holds o directly. */
		if (json)
			ph_buf_puts(out, ", \"paths\": [{");
		else
			ph_buf_putc(out, '\n');
		if (json) {
			write_path(g, p, n, root, true, out, &tmp);
			ph_buf_putc(out, '}');
		}
		uint64_t found = 1;
		for (size_t r = 0; r < g->nroots && found < all; r++) {
			if (g->roots[r].target != o || r == root)
				continue;
			uint32_t one = o;
			if (json) {
				ph_buf_puts(out, ", {");
				write_path(g, &one, 1, (uint32_t)r, true, out,
					   &tmp);
				ph_buf_putc(out, '}');
			} else {
				write_path(g, &one, 1, (uint32_t)r, false, out,
					   &tmp);
				ph_buf_putc(out, '\n');
			}
			found++;
		}
		/* Referrers the roots reach, nearest first, one chain each. */
		uint64_t lo = g->rev_off[o], hi = g->rev_off[o + 1];
		uint32_t *cand = malloc((hi - lo + 1) * sizeof(*cand));
		size_t nc = 0;
		for (uint64_t e = lo; cand && e < hi; e++) {
			uint32_t src = g->rev[e];
			if (src != g->parent[o] && src != o &&
			    g->parent[src] != PH_NONE &&
			    (!nc || cand[nc - 1] != src))
				cand[nc++] = src;
		}
		/* nearest first: a selection sort on depth, for the few shown
		 */
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
		for (size_t i = 0; i < nc && found < all; i++, found++) {
			size_t m = (dep ? (size_t)dep[i] : g->h->n) + 3;
			uint32_t *q = malloc(m * sizeof(*q));
			if (!q)
				break;
			uint32_t r2;
			size_t k = chain(g, cand[i], q, m - 1, &r2);
			q[k++] = o;
			if (json) {
				ph_buf_puts(out, ", {");
				write_path(g, q, k, r2, true, out, &tmp);
				ph_buf_putc(out, '}');
			} else {
				write_path(g, q, k, r2, false, out, &tmp);
				ph_buf_putc(out, '\n');
			}
			free(q);
		}
		free(cand);
		free(dep);
		if (json)
			ph_buf_putc(out, ']');
	}
	if (json)
		ph_buf_puts(out, "}\n");
	free(p);
	ph_buf_free(&tmp);
	return NULL;
}
