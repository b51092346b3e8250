/* cmd_audit.c - cycles, refcount, refcheck and summary: the leak hunts. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

static int64_t refcnt_of(struct ph_heap *h, uint32_t o)
{
	uint64_t v = 0;
	ph_mem_u64(h->mem, h->addr[o], &v);
	return ph_refcnt_decode(h->L, v);
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

/* Is the object part of an executable or library image (a static object,
 * not allocated: None, small ints, static types)? */
static bool is_static(struct ph_heap *h, uint64_t addr)
{
	const struct ph_target *t = h->rt->target;
	for (size_t i = 0; i < t->nmods; i++)
		if (addr >= t->mods[i].start && addr < t->mods[i].end)
			return true;
	return false;
}

/* ---- the collector's view: what gc.collect() would free --------------- */

/*
 * As CPython's collector does: among tracked objects, subtract the
 * references they hold to each other from their refcounts; what is left
 * over is held from outside (C code, frames, the interpreter) and is
 * alive, with everything it reaches. The rest is garbage. Returns a bitmap
 * by object number: 1 = unreachable.
 */
static uint8_t *gc_unreachable(struct ph_graph *g, struct ph_error **ret_err)
{
	struct ph_heap *h = g->h;
	size_t n = h->n;
	int64_t *gc_refs = malloc((n + 1) * sizeof(*gc_refs));
	uint8_t *dead = calloc(n + 1, 1);
	uint32_t *stack = malloc((n + 1) * sizeof(*stack));
	if (!gc_refs || !dead || !stack) {
		free(gc_refs);
		free(dead);
		free(stack);
		*ret_err = ph_error_nomem();
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		gc_refs[i] = (h->flags[i] & PH_OBJ_GC_LIST)
				     ? refcnt_of(h, (uint32_t)i)
				     : 0;
	for (size_t i = 0; i < n; i++) {
		if (!(h->flags[i] & PH_OBJ_GC_LIST))
			continue;
		for (uint64_t e = g->fwd_off[i]; e < g->fwd_off[i + 1]; e++)
			if (h->flags[g->fwd[e]] & PH_OBJ_GC_LIST)
				gc_refs[g->fwd[e]]--;
	}
	/* Edges the collector's traversal does not visit: a heap type's
	 * __slots__ and __subclasses__ (type_traverse skips them). */
	const struct ph_layout *L = h->L;
	for (size_t i = 0; i < n; i++) {
		const struct ph_type *t = &h->types[h->tidx[i]];
		if (!(h->flags[i] & PH_OBJ_GC_LIST) || t->kind != PH_KIND_TYPE)
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
			if (to != PH_NONE && (h->flags[to] & PH_OBJ_GC_LIST))
				gc_refs[to]++;
		}
	}
	for (size_t i = 0; i < n; i++)
		if ((h->flags[i] & PH_OBJ_GC_LIST) && gc_refs[i] <= 0)
			dead[i] = 1;
	/* What the objects referenced from outside reach is alive: their
	 * edges are read in order, as one stream, and only what they rescue
	 * goes through the stack. Untracked objects are never garbage by
	 * themselves; what they reach is alive when they are (they were
	 * reached from outside). */
	for (size_t i = 0; i < n; i++) {
		if (!(h->flags[i] & PH_OBJ_GC_LIST) || gc_refs[i] <= 0)
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
	free(gc_refs);
	free(stack);
	return dead;
}

/* ---- strongly connected components (Tarjan, iterative) ---------------- */

struct scc_result {
	uint32_t *comp; /* component number by object, PH_NONE if trivial */
	uint32_t ncomp;
};

static struct ph_error *tarjan(struct ph_graph *g, struct scc_result *res)
{
	size_t n = g->h->n;
	uint32_t *index = malloc((n + 1) * sizeof(*index));
	uint32_t *low = malloc((n + 1) * sizeof(*low));
	uint32_t *stack = malloc((n + 1) * sizeof(*stack));
	uint32_t *call = malloc((n + 1) * sizeof(*call));
	uint64_t *edge = malloc((n + 1) * sizeof(*edge));
	uint32_t *comp = malloc((n + 1) * sizeof(*comp));
	uint8_t *on = calloc(n + 1, 1);
	if (!index || !low || !stack || !call || !edge || !comp || !on) {
		free(index), free(low), free(stack), free(call), free(edge);
		free(comp), free(on);
		return ph_error_nomem();
	}
	memset(index, 0xff, n * sizeof(*index));
	uint32_t next = 0, ncomp = 0;
	size_t sp = 0, cp = 0;
	for (size_t root = 0; root < n; root++) {
		if (!(root & 0xffff) && ph_interrupted())
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
	free(index), free(low), free(stack), free(call), free(edge), free(on);
	if (ph_interrupted()) {
		free(comp);
		return ph_error_interrupted();
	}
	res->comp = comp;
	res->ncomp = ncomp;
	return NULL;
}

/* ---- cycles ----------------------------------------------------------- */

struct cycle {
	uint32_t id;
	uint64_t objects, bytes;
	uint32_t first; /* a member */
	bool unreachable;
	uint32_t finalizers;
};

struct cycles_work {
	struct ph_graph *g;
	bool scc; /* Tarjan, else the collector's view */
	struct scc_result sc;
	uint8_t *dead;
	struct ph_error *err;
};

static void *cycles_worker(void *arg)
{
	struct cycles_work *w = arg;
	if (w->scc)
		w->err = tarjan(w->g, &w->sc);
	else
		w->dead = gc_unreachable(w->g, &w->err);
	return NULL;
}

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

static bool has_finalizer(struct ph_heap *h, const struct ph_type *t)
{
	uint64_t del = 0, fin = 0;
	ph_mem_u64(h->mem, t->addr + h->L->tp_del, &del);
	ph_mem_u64(h->mem, t->addr + h->L->tp_finalize, &fin);
	return del || (t->heap && fin);
}

/* The shortest loop from first back to itself inside its component. */
static size_t find_loop(struct ph_graph *g, const struct scc_result *sc,
			uint32_t first, uint32_t *loop, size_t max)
{
	/* BFS over the component; prev[] kept in a hash map (components can
	 * be large, but BFS touches only their members). */
	struct ph_u64map prev;
	ph_u64map_init(&prev);
	uint32_t *queue = malloc(64 * sizeof(*queue));
	size_t qcap = 64, head = 0, tail = 0;
	uint32_t comp = sc->comp[first], end = PH_NONE;
	size_t n = 0;
	if (!queue)
		return 0;
	queue[tail++] = first;
	while (head < tail && end == PH_NONE) {
		uint32_t u = queue[head++];
		for (uint64_t e = g->fwd_off[u]; e < g->fwd_off[u + 1]; e++) {
			uint32_t v = g->fwd[e];
			if (sc->comp[v] != comp)
				continue;
			if (v == first) {
				end = u;
				break;
			}
			if (ph_u64map_get(&prev, (uint64_t)v + 1))
				continue;
			if (ph_u64map_put(&prev, (uint64_t)v + 1, u, NULL))
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
			uint32_t *p = ph_u64map_get(&prev, (uint64_t)cur + 1);
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
	ph_u64map_free(&prev);
	return n;
}

static const char *short_name(const char *name)
{
	/* "__main__.Node" -> "Node"; qualnames keep their dots after the
	 * module, but the module cannot be told apart here: drop up to the
	 * first dot for user modules only. */
	const char *dot = strchr(name, '.');
	if (!dot || strchr(name, '<'))
		return name;
	return dot + 1;
}

PH_COMMAND(cmd_cycles)
{
	uint64_t limit = json ? 0 : 20, min_size = 0;
	bool unreachable_only = false, by_count = false;
	struct ph_error *err;
	for (; a->pos < a->argc; a->pos++) {
		const char *o = a->argv[a->pos];
		const char *v =
			a->pos + 1 < a->argc ? a->argv[a->pos + 1] : NULL;
		if (!strcmp(o, "--unreachable"))
			unreachable_only = true;
		else if (!strcmp(o, "--limit") || !strcmp(o, "--min-size")) {
			if ((err = parse_u64("cycles", o, v,
					     !strcmp(o, "--limit")
						     ? &limit
						     : &min_size)))
				return err;
			a->pos++;
		} else if (!strcmp(o, "--sort")) {
			if (!v || (strcmp(v, "count") && strcmp(v, "size")))
				return ph_error_create(PH_ERR_USAGE,
						       "cycles: --sort takes "
						       "count or size");
			by_count = !strcmp(v, "count");
			a->pos++;
		} else
			return ph_error_create(PH_ERR_USAGE,
					       "cycles: unknown argument '%s'",
					       o);
	}
	/* referents are all cycles need: no referrers, roots or paths */
	if ((err = session_graph_edges(s)))
		return err;
	struct ph_graph *g = s->graph;
	struct ph_heap *h = g->h;
	/* The components and the collector's view only read the graph: one
	 * on each core. */
	struct cycles_work cw[2] = {{.g = g, .scc = true}, {.g = g}};
	ph_run_parallel(cycles_worker, cw, sizeof(cw[0]), 2, h->n > 100000);
	struct scc_result sc = cw[0].sc;
	uint8_t *dead = cw[1].dead;
	if (cw[0].err || cw[1].err) {
		err = cw[0].err ? cw[0].err : cw[1].err;
		ph_error_destroy(cw[0].err ? cw[1].err : NULL);
		free(sc.comp);
		free(dead);
		return err;
	}
	struct cycle *cy = calloc(sc.ncomp + 1, sizeof(*cy));
	if (!cy) {
		free(sc.comp);
		free(dead);
		return ph_error_nomem();
	}
	for (uint32_t c = 0; c < sc.ncomp; c++) {
		cy[c].id = c;
		cy[c].first = PH_NONE;
		cy[c].unreachable = true;
	}
	uint64_t dead_objects = 0, dead_bytes = 0;
	for (size_t i = 0; i < h->n; i++) {
		if (dead[i]) {
			dead_objects++;
			dead_bytes += h->size[i];
		}
		uint32_t c = sc.comp[i];
		if (c == PH_NONE)
			continue;
		cy[c].objects++;
		cy[c].bytes += h->size[i];
		if (cy[c].first == PH_NONE)
			cy[c].first = (uint32_t)i;
		if (!dead[i])
			cy[c].unreachable = false;
		if (has_finalizer(h, &h->types[h->tidx[i]]))
			cy[c].finalizers++;
	}
	size_t nsel = 0;
	for (uint32_t c = 0; c < sc.ncomp; c++)
		if ((!unreachable_only || cy[c].unreachable) &&
		    cy[c].bytes >= min_size)
			cy[nsel++] = cy[c];
	qsort(cy, nsel, sizeof(*cy),
	      by_count ? cycle_by_count : cycle_by_bytes);
	size_t shown = limit && limit < nsel ? limit : nsel;

	uint32_t *members = malloc((h->n + 1) * sizeof(*members));
	uint64_t *comp_start =
		calloc((size_t)sc.ncomp + 2, sizeof(*comp_start));
	uint32_t *loop = malloc(4096 * sizeof(*loop));
	uint32_t *tcount = calloc(h->ntypes + 1, sizeof(*tcount));
	struct ph_buf tmp;
	ph_buf_init(&tmp);
	if (!members || !comp_start || !loop || !tcount) {
		err = ph_error_nomem();
		goto out;
	}
	char c1[32], c2[32], c3[32];
	if (json)
		ph_buf_puts(out, "{\"cycles\": [");
	else
		ph_buf_printf(
			out,
			"%s %scycles; %s objects (%s bytes) are unreachable: "
			"what gc.collect() would free now\n",
			ph_fmt_count(nsel, c1),
			unreachable_only ? "unreachable " : "",
			ph_fmt_count(dead_objects, c2),
			ph_fmt_count(dead_bytes, c3));
	/* Members grouped by component, in one pass (counting sort). */
	for (size_t i = 0; i < h->n; i++)
		if (sc.comp[i] != PH_NONE)
			comp_start[sc.comp[i] + 1]++;
	for (uint32_t c = 0; c < sc.ncomp; c++)
		comp_start[c + 1] += comp_start[c];
	for (size_t i = 0; i < h->n; i++)
		if (sc.comp[i] != PH_NONE)
			members[comp_start[sc.comp[i]]++] = (uint32_t)i;
	for (uint32_t c = sc.ncomp; c > 0; c--)
		comp_start[c] = comp_start[c - 1];
	comp_start[0] = 0;
	for (size_t k = 0; k < shown; k++) {
		struct cycle *c = &cy[k];
		uint32_t *cm = members + comp_start[c->id];
		size_t nm = comp_start[c->id + 1] - comp_start[c->id];
		for (size_t i = 0; i < nm; i++)
			tcount[h->tidx[cm[i]]]++;
		size_t nl = find_loop(g, &sc, c->first, loop, 4096);
		if (json) {
			ph_buf_printf(
				out,
				"%s{\"objects\": %llu, \"bytes\": %llu, "
				"\"unreachable\": %s, \"finalizers\": %u, "
				"\"types\": {",
				k ? ", " : "", (unsigned long long)c->objects,
				(unsigned long long)c->bytes,
				c->unreachable ? "true" : "false",
				c->finalizers);
			bool first = true;
			for (size_t i = 0; i < nm; i++) {
				uint32_t ti = h->tidx[cm[i]];
				if (!tcount[ti])
					continue;
				const char *tn = tname(&h->types[ti]);
				ph_buf_puts(out, first ? "" : ", ");
				ph_buf_json_str(out, tn, strlen(tn));
				ph_buf_printf(out, ": %u", tcount[ti]);
				tcount[ti] = 0;
				first = false;
			}
			ph_buf_puts(out, "}, \"members\": [");
			for (size_t i = 0; i < nm && i < 10000; i++)
				ph_buf_printf(
					out, "%s\"0x%llx\"", i ? ", " : "",
					(unsigned long long)h->addr[cm[i]]);
			ph_buf_puts(out, "], \"loop\": [");
			for (size_t i = 0; i < nl; i++) {
				tmp.len = 0;
				ph_graph_label(g, loop[i], loop[(i + 1) % nl],
					       &tmp);
				const char *tn =
					tname(&h->types[h->tidx[loop[i]]]);
				ph_buf_printf(
					out,
					"%s{\"address\": \"0x%llx\", "
					"\"type\": ",
					i ? ", " : "",
					(unsigned long long)h->addr[loop[i]]);
				ph_buf_json_str(out, tn, strlen(tn));
				ph_buf_puts(out, ", \"via\": ");
				ph_buf_json_str(out, tmp.data ? tmp.data : "",
						tmp.len);
				ph_buf_putc(out, '}');
			}
			ph_buf_putc(out, ']');
			ph_buf_putc(out, '}');
		} else {
			ph_buf_printf(
				out,
				"\ncycle %zu: %s objects, %s bytes, %s%s\n",
				k + 1, ph_fmt_count(c->objects, c1),
				ph_fmt_count(c->bytes, c2),
				c->unreachable ? "unreachable (garbage)"
					       : "reachable",
				c->finalizers ? ", has finalizers" : "");
			ph_buf_puts(out, "  types: ");
			size_t shown_types = 0;
			for (size_t i = 0; i < nm; i++) {
				uint32_t ti = h->tidx[cm[i]];
				if (!tcount[ti])
					continue;
				if (shown_types++ < 8)
					ph_buf_printf(out, "%s%s %u",
						      shown_types > 1 ? ", "
								      : "",
						      tname(&h->types[ti]),
						      tcount[ti]);
				tcount[ti] = 0;
			}
			if (shown_types > 8)
				ph_buf_printf(out, ", ... (%zu types)",
					      shown_types);
			ph_buf_puts(out, "\n  loop:  ");
			for (size_t i = 0; i < nl && i < 12; i++) {
				tmp.len = 0;
				ph_graph_label(g, loop[i], loop[(i + 1) % nl],
					       &tmp);
				ph_buf_printf(
					out, "%s%s -> ",
					short_name(tname(
						&h->types[h->tidx[loop[i]]])),
					tmp.data ? tmp.data : "");
			}
			if (nl > 12)
				ph_buf_printf(out, "... (%zu steps) -> ", nl);
			ph_buf_puts(out, "back\n  first: ");
			for (size_t i = 0; i < nm && i < 5; i++)
				ph_buf_printf(
					out, "%s0x%llx", i ? " " : "",
					(unsigned long long)h->addr[cm[i]]);
			ph_buf_putc(out, '\n');
		}
	}
	/* gc.garbage: what earlier collections could not free. */
	uint64_t garbage = 0;
	ph_mem_u64(h->mem, h->rt->gc_state + h->L->gc_garbage, &garbage);
	uint32_t gi = ph_graph_lookup(g, garbage);
	size_t ngarbage =
		gi == PH_NONE ? 0 : g->fwd_off[gi + 1] - g->fwd_off[gi];
	if (json) {
		ph_buf_printf(
			out,
			"], \"total_cycles\": %zu, \"unreachable_objects\": "
			"%llu, \"unreachable_bytes\": %llu",
			nsel, (unsigned long long)dead_objects,
			(unsigned long long)dead_bytes);
		if (unreachable_only) {
			/* Everything gc.collect() would free, cycles or not
			 * (at most 100,000 addresses). */
			ph_buf_puts(out, ", \"unreachable\": [");
			size_t w = 0;
			for (size_t i = 0; i < h->n && w < 100000; i++)
				if (dead[i])
					ph_buf_printf(
						out, "%s\"0x%llx\"",
						w++ ? ", " : "",
						(unsigned long long)h->addr[i]);
			ph_buf_putc(out, ']');
		}
		ph_buf_puts(out, ", \"gc_garbage\": [");
		size_t w = 0;
		uint64_t list_type = 0;
		ph_mem_u64(h->mem, garbage + 8, &list_type);
		for (size_t e = 0; e < ngarbage; e++) {
			uint32_t t = g->fwd[g->fwd_off[gi] + e];
			if (h->addr[t] == list_type) /* the list's own type */
				continue;
			ph_buf_printf(out, "%s\"0x%llx\"", w++ ? ", " : "",
				      (unsigned long long)h->addr[t]);
		}
		ph_buf_puts(out, "]}\n");
	} else {
		if (shown < nsel)
			ph_buf_printf(
				out,
				"\n... %zu more cycles (--limit 0 for all)\n",
				nsel - shown);
		if (ngarbage > 1)
			ph_buf_printf(out, "gc.garbage holds %zu objects\n",
				      ngarbage - 1);
	}
out:
	ph_buf_free(&tmp);
	free(comp_start);
	free(members);
	free(loop);
	free(tcount);
	free(cy);
	free(sc.comp);
	free(dead);
	return err;
}

/* ---- refcount --------------------------------------------------------- */

static struct ph_error *parse_one_addr(struct ph_session *s, struct args *a,
				       uint32_t *ret)
{
	if (a->pos >= a->argc)
		return ph_error_create(PH_ERR_USAGE,
				       "%s: which object? give "
				       "its address",
				       a->cmd);
	const char *v = a->argv[a->pos++];
	char *end;
	unsigned long long addr = strtoull(v, &end, 0);
	if (*end || !*v)
		return ph_error_create(PH_ERR_USAGE,
				       "%s: '%s' is not an address", a->cmd, v);
	if (a->pos < a->argc)
		return ph_error_create(PH_ERR_USAGE,
				       "%s: unknown argument '%s'", a->cmd,
				       a->argv[a->pos]);
	struct ph_error *err = session_graph(s);
	if (err)
		return err;
	*ret = ph_graph_lookup(s->graph, addr);
	if (*ret == PH_NONE)
		return ph_error_create_at(PH_ERR_NOT_FOUND, addr,
					  "%s: no Python object at 0x%llx",
					  a->cmd, addr);
	return NULL;
}

PH_COMMAND(cmd_refcount)
{
	uint32_t o;
	struct ph_error *err = parse_one_addr(s, a, &o);
	if (err)
		return err;
	struct ph_graph *g = s->graph;
	struct ph_heap *h = g->h;
	int64_t rc = refcnt_of(h, o);
	uint64_t from_objects = g->rev_off[o + 1] - g->rev_off[o];
	uint64_t outside = count_get(&g->extern_refs, o);
	uint64_t guessed = count_get(&g->cons_in, o);
	int64_t found = (int64_t)(from_objects + outside);
	bool stat = is_static(h, h->addr[o]);
	bool immortal = is_immortal(h, rc);
	struct ph_buf tmp;
	ph_buf_init(&tmp);
	if (json) {
		ph_buf_printf(out, "{\"address\": \"0x%llx\", \"refcount\": ",
			      (unsigned long long)h->addr[o]);
		if (immortal)
			ph_buf_puts(out, "null");
		else
			ph_buf_printf(out, "%lld", (long long)rc);
		ph_buf_printf(out, ", \"referrers_found\": %lld, \"excess\": ",
			      (long long)found);
		if (immortal)
			ph_buf_puts(out, "null");
		else
			ph_buf_printf(out, "%lld", (long long)(rc - found));
		ph_buf_printf(out,
			      ", \"immortal\": %s, \"static\": %s, "
			      "\"from_objects\": %llu, "
			      "\"from_frames_and_interpreter\": "
			      "%llu, \"conservative\": %llu, \"references\": [",
			      immortal ? "true" : "false",
			      stat ? "true" : "false",
			      (unsigned long long)from_objects,
			      (unsigned long long)outside,
			      (unsigned long long)guessed);
	} else {
		ph_buf_printf(out, "0x%llx %s\n",
			      (unsigned long long)h->addr[o],
			      tname(&h->types[h->tidx[o]]));
		if (immortal)
			ph_buf_printf(
				out,
				"  refcount (ob_refcnt):  immortal (%#llx): "
				"never freed, not counted\n",
				(unsigned long long)rc);
		else
			ph_buf_printf(out, "  refcount (ob_refcnt):  %lld\n",
				      (long long)rc);
		ph_buf_printf(
			out,
			"  references found:     %lld (%llu from objects, "
			"%llu from frames and the interpreter)\n",
			(long long)found, (unsigned long long)from_objects,
			(unsigned long long)outside);
		if (immortal)
			ph_buf_puts(out,
				    "  excess:               (immortal)\n");
		else
			ph_buf_printf(out, "  excess:               %lld%s\n",
				      (long long)(rc - found),
				      rc > found ? "  <- held by references "
						   "py-heap cannot "
						   "see (C code), or leaked"
				      : rc < found
					      ? "  <- fewer than found: "
						"over-released or "
						"a guessed reference is wrong"
					      : "");
		if (stat)
			ph_buf_puts(out,
				    "  (a static object: C code refers to it "
				    "freely)\n");
		ph_buf_puts(out, "  references:\n");
	}
	/* Edges from one referrer are adjacent: label them all in one pass
	 * over its referents (a list holding o a million times). */
	size_t k = 0, cap = json ? SIZE_MAX : 200;
	for (uint64_t e = g->rev_off[o]; e < g->rev_off[o + 1] && k < cap;) {
		uint32_t src = g->rev[e];
		uint64_t run = 1;
		while (e + run < g->rev_off[o + 1] && g->rev[e + run] == src)
			run++;
		tmp.len = 0;
		size_t want = run < cap - k ? (size_t)run : cap - k;
		size_t got = ph_graph_labels(g, src, o, want, &tmp);
		const char *via = tmp.data;
		const char *tn = tname(&h->types[h->tidx[src]]);
		for (size_t i = 0; i < want; i++, k++) {
			const char *v = i < got ? via : "?";
			if (json) {
				ph_buf_printf(out,
					      "%s{\"address\": \"0x%llx\", "
					      "\"type\": ",
					      k ? ", " : "",
					      (unsigned long long)h->addr[src]);
				ph_buf_json_str(out, tn, strlen(tn));
				ph_buf_puts(out, ", \"via\": ");
				ph_buf_json_str(out, v, strlen(v));
				ph_buf_putc(out, '}');
			} else
				ph_buf_printf(out, "    0x%-16llx %-28s %s\n",
					      (unsigned long long)h->addr[src],
					      tn, v);
			if (i < got)
				via += strlen(via) + 1;
		}
		e += run;
	}
	if (json) {
		ph_buf_puts(out, "], \"roots\": [");
		size_t w = 0;
		for (size_t r = 0; r < g->nroots; r++)
			if (g->roots[r].target == o) {
				ph_buf_puts(out, w++ ? ", " : "");
				ph_buf_json_str(out, g->roots[r].name,
						strlen(g->roots[r].name));
			}
		ph_buf_puts(out, "]}\n");
	} else {
		if (k < from_objects)
			ph_buf_printf(out, "    ... %llu more\n",
				      (unsigned long long)(from_objects - k));
		for (size_t r = 0; r < g->nroots; r++)
			if (g->roots[r].target == o)
				ph_buf_printf(out, "    root: %s\n",
					      g->roots[r].name);
	}
	ph_buf_free(&tmp);
	return NULL;
}

/* ---- refcheck --------------------------------------------------------- */

struct suspect_type {
	uint32_t tidx;
	uint64_t objects;
	int64_t total;
	int64_t worst;
	uint32_t worst_obj;
};

static int suspect_cmp(const void *a, const void *b)
{
	const struct suspect_type *x = a, *y = b;
	int64_t ax = x->total < 0 ? -x->total : x->total;
	int64_t ay = y->total < 0 ? -y->total : y->total;
	if (ax != ay)
		return ax > ay ? -1 : 1;
	return x->objects > y->objects ? -1 : x->objects < y->objects;
}

struct suspect_obj {
	uint32_t obj;
	int64_t diff;
};

static void write_suspects(struct ph_heap *h, struct suspect_type *st, size_t n,
			   uint64_t limit, bool json, struct ph_buf *out,
			   const struct suspect_obj *objs, size_t nobjs)
{
	qsort(st, n, sizeof(*st), suspect_cmp);
	size_t shown = limit && limit < n ? limit : n;
	for (size_t i = 0; i < shown; i++) {
		const char *tn = tname(&h->types[st[i].tidx]);
		if (json) {
			ph_buf_puts(out, i ? ", {\"type\": " : "{\"type\": ");
			ph_buf_json_str(out, tn, strlen(tn));
			ph_buf_printf(
				out,
				", \"objects\": %llu, \"total\": %lld, "
				"\"worst\": {\"address\": \"0x%llx\", "
				"\"excess\": %lld}, \"suspects\": [",
				(unsigned long long)st[i].objects,
				(long long)st[i].total,
				(unsigned long long)h->addr[st[i].worst_obj],
				(long long)st[i].worst);
			size_t w = 0;
			for (size_t k = 0; k < nobjs && w < 1000; k++)
				if (h->tidx[objs[k].obj] == st[i].tidx &&
				    (objs[k].diff > 0) == (st[i].total > 0))
					ph_buf_printf(
						out,
						"%s{\"address\": \"0x%llx\", "
						"\"excess\": %lld}",
						w++ ? ", " : "",
						(unsigned long long)
							h->addr[objs[k].obj],
						(long long)objs[k].diff);
			ph_buf_puts(out, "]}");
		} else {
			char c[32];
			ph_buf_printf(
				out,
				"  %10s objects  %+10lld refs  %-30s worst "
				"0x%llx (%+lld)\n",
				ph_fmt_count(st[i].objects, c),
				(long long)st[i].total, tn,
				(unsigned long long)h->addr[st[i].worst_obj],
				(long long)st[i].worst);
		}
	}
	if (!json && shown < n)
		ph_buf_printf(out, "  ... %zu more types\n", n - shown);
}

PH_COMMAND(cmd_refcheck)
{
	uint64_t min_excess = 1, limit = json ? 0 : 20;
	const char *type = NULL;
	struct ph_error *err;
	for (; a->pos < a->argc; a->pos++) {
		const char *o = a->argv[a->pos];
		const char *v =
			a->pos + 1 < a->argc ? a->argv[a->pos + 1] : NULL;
		if (!strcmp(o, "--min-excess") || !strcmp(o, "--limit")) {
			if ((err = parse_u64("refcheck", o, v,
					     !strcmp(o, "--limit")
						     ? &limit
						     : &min_excess)))
				return err;
			a->pos++;
		} else if (!strcmp(o, "--type")) {
			if (!v)
				return ph_error_create(
					PH_ERR_USAGE,
					"refcheck: --type needs a name");
			type = v;
			a->pos++;
		} else
			return ph_error_create(
				PH_ERR_USAGE, "refcheck: unknown argument '%s'",
				o);
	}
	if (!min_excess)
		min_excess = 1;
	if ((err = session_graph(s)))
		return err;
	struct ph_graph *g = s->graph;
	struct ph_heap *h = g->h;
	struct suspect_type *over = calloc(h->ntypes + 1, sizeof(*over));
	struct suspect_type *under = calloc(h->ntypes + 1, sizeof(*under));
	if (!over || !under) {
		free(over);
		free(under);
		return ph_error_nomem();
	}
	uint64_t checked = 0, n_over = 0, n_under = 0, skipped_static = 0;
	uint64_t skipped_immortal = 0;
	struct suspect_obj *sus = NULL;
	size_t nsus = 0, sus_cap = 0;
	for (size_t i = 0; i < h->n; i++) {
		const struct ph_type *t = &h->types[h->tidx[i]];
		if (type && strcmp(tname(t), type))
			continue;
		if (is_static(h, h->addr[i])) {
			skipped_static++;
			continue;
		}
		int64_t rc = refcnt_of(h, (uint32_t)i);
		if (is_immortal(h, rc)) {
			skipped_immortal++;
			continue;
		}
		checked++;
		uint64_t in = g->rev_off[i + 1] - g->rev_off[i];
		int64_t found =
			(int64_t)(in + count_get(&g->extern_refs, (uint32_t)i));
		int64_t exact =
			found - (int64_t)count_get(&g->cons_in, (uint32_t)i);
		struct suspect_type *st = NULL;
		int64_t d = 0;
		if (rc - found >= (int64_t)min_excess) {
			st = &over[h->tidx[i]];
			d = rc - found;
			n_over++;
		} else if (rc < exact) {
			st = &under[h->tidx[i]];
			d = rc - exact;
			n_under++;
		}
		if (!st)
			continue;
		if (json && nsus < 1000000 &&
		    !ph_grow((void **)&sus, &sus_cap, nsus + 1, sizeof(*sus)))
			sus[nsus++] = (struct suspect_obj){(uint32_t)i, d};
		st->tidx = h->tidx[i];
		st->objects++;
		st->total += d;
		if (st->objects == 1 ||
		    (d < 0 ? d < st->worst : d > st->worst)) {
			st->worst = d;
			st->worst_obj = (uint32_t)i;
		}
	}
	size_t no = 0, nu = 0;
	for (size_t i = 0; i < h->ntypes; i++) {
		if (over[i].objects)
			over[no++] = over[i];
		if (under[i].objects)
			under[nu++] = under[i];
	}
	char c1[32], c2[32], c3[32];
	if (json) {
		ph_buf_printf(
			out,
			"{\"checked\": %llu, \"immortal_skipped\": %llu, "
			"\"static_skipped\": %llu, "
			"\"excess_objects\": %llu, \"deficit_objects\": %llu, "
			"\"excess\": [",
			(unsigned long long)checked,
			(unsigned long long)skipped_immortal,
			(unsigned long long)skipped_static,
			(unsigned long long)n_over,
			(unsigned long long)n_under);
		write_suspects(h, over, no, limit, true, out, sus, nsus);
		ph_buf_puts(out, "], \"deficit\": [");
		write_suspects(h, under, nu, limit, true, out, sus, nsus);
		ph_buf_puts(out, "]}\n");
	} else {
		ph_buf_printf(
			out,
			"checked %s objects: %s have more references than "
			"py-heap found (leaked, or held by C code), %s have "
			"fewer\n",
			ph_fmt_count(checked, c1), ph_fmt_count(n_over, c2),
			ph_fmt_count(n_under, c3));
		if (no) {
			ph_buf_puts(out, "\nrefcount higher than the "
					 "references found:\n");
			write_suspects(h, over, no, limit, false, out, NULL, 0);
		}
		if (nu) {
			ph_buf_puts(out, "\nrefcount lower than the references "
					 "found:\n");
			write_suspects(h, under, nu, limit, false, out, NULL,
				       0);
		}
	}
	free(over);
	free(under);
	free(sus);
	return NULL;
}

/* ---- summary ---------------------------------------------------------- */

PH_COMMAND(cmd_summary)
{
	if (a->pos < a->argc)
		return ph_error_create(PH_ERR_USAGE,
				       "summary: unknown argument '%s'",
				       a->argv[a->pos]);
	struct ph_error *err = session_heap(s);
	if (err)
		return err;
	struct ph_heap *h = s->heap;
	uint64_t bytes = 0, gens[5] = {0};
	for (size_t i = 0; i < h->n; i++) {
		bytes += h->size[i];
		unsigned gen = (h->flags[i] >> 4) & 7;
		gens[gen < 5 ? gen : 0]++;
	}
	uint64_t pool_bytes = 0, used_blocks = 0, used_bytes = 0,
		 free_bytes = 0;
	for (size_t i = 0; i < h->npools; i++) {
		const struct ph_pool *p = &h->pools[i];
		uint32_t nfree = 0;
		for (int w = 0; w < 16; w++)
			nfree +=
				(uint32_t)__builtin_popcountll(p->free_bits[w]);
		uint64_t total_blocks =
			(h->L->pool_size - h->L->pool_overhead) / p->block_size;
		pool_bytes += h->L->pool_size;
		used_blocks += p->nblocks - nfree;
		used_bytes += (uint64_t)(p->nblocks - nfree) * p->block_size;
		free_bytes +=
			(total_blocks - (p->nblocks - nfree)) * p->block_size;
	}
	/* the top types, by bytes, through the types command's own table */
	const char *argv[] = {"types", "--limit", "10"};
	struct args ta = {.argc = 3, .argv = argv, .pos = 1, .cmd = "types"};
	struct ph_buf types_out;
	ph_buf_init(&types_out);
	if ((err = cmd_types(s, &ta, json, &types_out))) {
		ph_buf_free(&types_out);
		return err;
	}
	double frag = pool_bytes
			      ? 100.0 * (double)free_bytes / (double)pool_bytes
			      : 0;
	if (json) {
		/* drop the trailing "}\n" of the types object and extend it */
		while (types_out.len &&
		       types_out.data[types_out.len - 1] != '}')
			types_out.len--;
		if (types_out.len)
			types_out.len--;
		ph_buf_putn(out, types_out.data ? types_out.data : "{",
			    types_out.len);
		ph_buf_printf(
			out,
			", \"threads\": %zu, \"gc\": {\"untracked_or_not_gc\": "
			"%llu, "
			"\"generation0\": %llu, \"generation1\": %llu, "
			"\"generation2\": %llu, \"permanent\": %llu}, "
			"\"pymalloc\": {\"pools\": %zu, \"pool_bytes\": %llu, "
			"\"used_blocks\": %llu, \"used_bytes\": %llu, "
			"\"free_bytes\": %llu, \"fragmentation_percent\": "
			"%.1f}}\n",
			s->target->nthreads, (unsigned long long)gens[0],
			(unsigned long long)gens[1],
			(unsigned long long)gens[2],
			(unsigned long long)gens[3],
			(unsigned long long)gens[4], h->npools,
			(unsigned long long)pool_bytes,
			(unsigned long long)used_blocks,
			(unsigned long long)used_bytes,
			(unsigned long long)free_bytes, frag);
	} else {
		char c1[32], c2[32], c3[32], c4[32];
		ph_buf_printf(out, "Python %s, %zu threads\n", s->rt->version,
			      s->target->nthreads);
		ph_buf_printf(out, "%s objects, %s bytes (sys.getsizeof)\n\n",
			      ph_fmt_count(h->n, c1), ph_fmt_count(bytes, c2));
		ph_buf_puts(out, "Largest types:\n");
		ph_buf_putn(out, types_out.data ? types_out.data : "",
			    types_out.len);
		ph_buf_printf(
			out,
			"\nGC: generation 0 %s, generation 1 %s, generation 2 "
			"%s, permanent %s tracked objects\n",
			ph_fmt_count(gens[1], c1), ph_fmt_count(gens[2], c2),
			ph_fmt_count(gens[3], c3), ph_fmt_count(gens[4], c4));
		ph_buf_printf(
			out,
			"pymalloc: %s pools (%s bytes), %s blocks in use (%s "
			"bytes), %.1f%% of pool space free\n",
			ph_fmt_count(h->npools, c1),
			ph_fmt_count(pool_bytes, c2),
			ph_fmt_count(used_blocks, c3),
			ph_fmt_count(used_bytes, c4), frag);
	}
	ph_buf_free(&types_out);
	return NULL;
}
