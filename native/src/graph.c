/* graph.c - edges in compressed arrays both ways, named roots, and a
 * breadth-first shortest-path tree from the roots. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "graph.h"
#include "objtable.h"

uint32_t ph_graph_lookup(const struct ph_graph *g, uint64_t addr)
{
	return ph_heap_lookup(g->h, addr);
}

/* ---- labels ------------------------------------------------------------- */

void ph_edge_label_write(struct ph_heap *h, enum ph_edge_kind kind,
			 uint64_t data, struct ph_buf *out)
{
	char name[256];
	switch (kind) {
	case PH_EDGE_ITEM:
		ph_buf_printf(out, "[%llu]", (unsigned long long)data);
		break;
	case PH_EDGE_KEY:
		ph_buf_puts(out, "<key>");
		break;
	case PH_EDGE_VALUE: {
		uint32_t tn_ = ph_heap_lookup(h, data);
		uint32_t *ti = tn_ == PH_NONE ? NULL : &tn_;
		ph_buf_putc(out, '[');
		if (ti)
			ph_repr_object(h, data, ph_tidx(h, *ti), out);
		else
			ph_buf_puts(out, "?");
		ph_buf_putc(out, ']');
		break;
	}
	case PH_EDGE_ATTR:
	case PH_EDGE_LOCAL:
		if (!ph_heap_str(h, data, name, sizeof(name), NULL))
			snprintf(name, sizeof(name), "?");
		if (kind == PH_EDGE_ATTR)
			ph_buf_printf(out, ".%s", name);
		else
			ph_buf_printf(out, "local '%s'", name);
		break;
	case PH_EDGE_SLOT: {
		char *s = NULL;
		struct ph_error *err = ph_mem_strdup(h->mem, data, 200, &s);
		ph_buf_printf(out, ".%s", err ? "?" : s);
		ph_error_destroy(err);
		free(s);
		break;
	}
	case PH_EDGE_FIELD:
		ph_buf_printf(out, ".%s", (const char *)(uintptr_t)data);
		break;
	case PH_EDGE_WEAK:
		ph_buf_printf(out, ".%s (weak)", (const char *)(uintptr_t)data);
		break;
	case PH_EDGE_BORROWED:
		ph_buf_printf(out, ".%s (borrowed)",
			      (const char *)(uintptr_t)data);
		break;
	case PH_EDGE_STACK:
		ph_buf_printf(out, "stack[%llu]", (unsigned long long)data);
		break;
	case PH_EDGE_CONSERVATIVE:
		ph_buf_printf(out, "+0x%llx (conservative)",
			      (unsigned long long)data);
		break;
	default:
		ph_buf_puts(out, "?");
	}
}

/* ---- edges ------------------------------------------------------------ */

static struct ph_error *count_add(struct ph_u64map *m, uint32_t obj)
{
	uint32_t *v = ph_u64map_get(m, (uint64_t)obj + 1);
	if (v) {
		(*v)++;
		return NULL;
	}
	return ph_u64map_put(m, (uint64_t)obj + 1, 1, NULL);
}

/* One thread's share of the edges: objects [lo, hi). */
struct edge_ctx {
	struct ph_graph *g;
	size_t lo, hi;
	uint32_t *edges;
	size_t n, cap, first_cap;
	uint32_t *cons; /* targets of conservative edges, counted later */
	size_t ncons, cons_cap;
	bool heap_type; /* the object's type is a heap type */
	struct ph_error *err;
};

/* A thread's edges in memory of their own (ph_big_alloc's: huge pages
 * where a fresh 4 KiB page's fault is dear), twice as large when full. */
static struct ph_error *edges_grow(struct edge_ctx *c)
{
	size_t cap = c->cap ? 2 * c->cap : c->first_cap;
	uint32_t *e = ph_big_alloc(cap * sizeof(*e));
	if (!e && !c->cap) /* (the first guess refused: start small) */
		e = ph_big_alloc((cap = 1024) * sizeof(*e));
	if (!e)
		return ph_error_nomem();
	if (c->n)
		memcpy(e, c->edges, c->n * sizeof(*e));
	ph_big_free(c->edges, c->cap * sizeof(*e));
	c->edges = e;
	c->cap = cap;
	return NULL;
}

static void edge_more(struct edge_ctx *c, uint64_t target,
		      enum ph_edge_kind kind, uint64_t data);

/* A reference of the graph to an object the pool scan found (most of
 * them), but a conservative one or one to a class, is numbered by its
 * pool's bitmap and taken here; the rest in edge_more, not inlined, whose
 * registers this one need not save. */
static void edge_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		    uint64_t data)
{
	_Static_assert(PH_EDGE_ITEM == 0 && PH_EDGE_KEY == 1 &&
			       PH_EDGE_VALUE == 2 && PH_EDGE_ATTR == 3 &&
			       PH_EDGE_SLOT == 4 && PH_EDGE_FIELD == 5,
		       "the first six kinds: strong, not conservative");
	struct edge_ctx *c = arg;
	/* (a type is never in a pool: its instances' class field goes on) */
	if ((kind <= PH_EDGE_SLOT ||
	     (kind == PH_EDGE_FIELD &&
	      data != (uint64_t)(uintptr_t)ph_class_field)) &&
	    c->n < c->cap) {
		const struct ph_heap *h = c->g->h;
		const struct ph_pool *p;
		uint64_t g, o;
		if (ph_objtable_pool_found(h, target, &p, &g) &&
		    (o = ph_objtable_pool_number(p, g)) < h->n) {
			c->edges[c->n++] = (uint32_t)o;
			return;
		}
	}
	edge_more(c, target, kind, data);
}

static __attribute__((noinline)) void edge_more(struct edge_ctx *c,
						uint64_t target,
						enum ph_edge_kind kind,
						uint64_t data)
{
	if (c->err || !ph_edge_is_strong(kind))
		return;
	/* Only a heap type's instances hold a reference to their type
	 * (PyObject_Init, since 3.8): a static one's name it, no more
	 * (gc.get_referrers() of builtin_method's type: none of its 4) */
	if (kind == PH_EDGE_FIELD && !c->heap_type &&
	    data == (uint64_t)(uintptr_t)ph_class_field)
		return;
	/* (inline: once per reference of the heap) */
	uint32_t t = ph_objtable_lookup(c->g->h, target);
	if (t == PH_NONE)
		return;
	if (kind == PH_EDGE_CONSERVATIVE) {
		if ((c->err = ph_grow((void **)&c->cons, &c->cons_cap,
				      c->ncons + 1, sizeof(*c->cons))))
			return;
		c->cons[c->ncons++] = t;
	}
	if (c->n == c->cap && (c->err = edges_grow(c)))
		return;
	c->edges[c->n++] = t;
}

static void *edge_worker(void *arg)
{
	struct edge_ctx *c = arg;
	struct ph_heap *h = c->g->h;
	/* (the first part is the command's thread's: it counts) */
	if (!c->lo)
		ph_progress_stage("building the graph of references", c->hi);
	for (size_t i = c->lo; i < c->hi && !c->err; i++) {
		if (!(i & 0xffff) && (ph_progress_done(i), ph_interrupted())) {
			c->err = ph_error_interrupted();
			break;
		}
		uint32_t ti = ph_tidx(h, i);
		const struct ph_type *t = &h->types[ti];
		/* A leaf's one reference is its static type, which edge_cb
		 * leaves out: its memory need not be read. */
		if (t->leaf) {
			c->g->fwd_off[i + 1] = 0;
			continue;
		}
		size_t before = c->n;
		c->heap_type = t->heap;
		/* (edge_cb registers no type: read in place, not copied) */
		ph_heap_referents_fixed(h, h->addr[i], ti, edge_cb, c);
		c->g->fwd_off[i + 1] =
			(uint32_t)(c->n - before); /* a count, for now */
	}
	return NULL;
}

/*
 * Every object's strong references, found by two threads over halves of
 * the object table (reading the core is all they share), then joined.
 */
static struct ph_error *build_edges(struct ph_graph *g)
{
	struct ph_heap *h = g->h;
	struct ph_error *err = NULL;
	enum { T = 2 };
	struct edge_ctx c[T];
	/* (each object's count is written: only the first offset is not) */
	g->fwd_off = ph_big_alloc((h->n + 1) * sizeof(*g->fwd_off));
	if (!g->fwd_off)
		return ph_error_nomem();
	g->fwd_off[0] = 0;
	/* room for three references an object (pages never touched cost
	 * nothing): the first thread's for all, which it often holds */
	for (int k = 0; k < T; k++)
		c[k] = (struct edge_ctx){
			.g = g,
			.lo = h->n * (size_t)k / T,
			.hi = h->n * (size_t)(k + 1) / T,
			.first_cap = 1024 + 3 * (k ? h->n / T + 1 : h->n)};
	ph_run_parallel(edge_worker, c, sizeof(*c), T, h->n > 100000);
	for (int k = 0; k < T && !err; k++)
		err = c[k].err;
	size_t total = 0;
	for (int k = 0; k < T; k++)
		total += c[k].n;
	if (!err) {
		/* Join: the first buffer holds all, in object order, when it
		 * has room, else one made for all. */
		if (c[0].cap >= total + 1) {
			g->fwd = c[0].edges;
			g->fwd_bytes = c[0].cap * sizeof(*g->fwd);
			c[0].edges = NULL;
			c[0].cap = 0;
			/* (its room past the edges: the next tables') */
			g->fwd_bytes =
				ph_big_shrink(g->fwd, g->fwd_bytes,
					      (total + 1) * sizeof(*g->fwd));
		} else {
			g->fwd_bytes = (total + 1) * sizeof(*g->fwd);
			g->fwd = ph_big_alloc(g->fwd_bytes);
			if (!g->fwd)
				err = ph_error_nomem();
			else if (c[0].n)
				memcpy(g->fwd, c[0].edges,
				       c[0].n * sizeof(*g->fwd));
		}
		if (g->fwd) {
			size_t at = c[0].n;
			for (int k = 1; k < T; k++) {
				if (c[k].n)
					memcpy(g->fwd + at, c[k].edges,
					       c[k].n * sizeof(*g->fwd));
				at += c[k].n;
			}
			g->nedges = total;
		}
	}
	for (int k = 0; k < T && !err; k++)
		for (size_t i = 0; i < c[k].ncons && !err; i++)
			err = count_add(&g->cons_in, c[k].cons[i]);
	for (int k = 0; k < T; k++) {
		ph_big_free(c[k].edges, c[k].cap * sizeof(*c[k].edges));
		free(c[k].cons);
	}
	if (err)
		return err;
	if (g->nedges >= UINT32_MAX)
		return ph_error_create(PH_ERR_UNSUPPORTED,
				       "%llu references: more than the index's "
				       "32-bit offsets hold",
				       (unsigned long long)g->nedges);
	for (size_t i = 0; i < h->n; i++)
		g->fwd_off[i + 1] += g->fwd_off[i];
	return NULL;
}

/* Reverse edges by counting sort: referrers of each object. */
static struct ph_error *build_rev(struct ph_graph *g)
{
	struct ph_heap *h = g->h;
	g->rev_off_bytes = (h->n + 1) * sizeof(*g->rev_off);
	g->rev_bytes = (g->nedges ? g->nedges : 1) * sizeof(*g->rev);
	g->rev_off = ph_big_zalloc(g->rev_off_bytes);
	g->rev = ph_big_alloc(g->rev_bytes);
	if (!g->rev_off || !g->rev)
		return ph_error_nomem();
	for (uint64_t e = 0; e < g->nedges; e++)
		g->rev_off[g->fwd[e] + 1]++;
	for (size_t i = 0; i < h->n; i++)
		g->rev_off[i + 1] += g->rev_off[i];
	/* Fill by moving each start forward, then shift back: no copy. */
	for (size_t i = 0; i < h->n; i++)
		for (uint64_t e = g->fwd_off[i]; e < g->fwd_off[i + 1]; e++)
			g->rev[g->rev_off[g->fwd[e]]++] = (uint32_t)i;
	for (size_t i = h->n; i > 0; i--)
		g->rev_off[i] = g->rev_off[i - 1];
	g->rev_off[0] = 0;
	return NULL;
}

/* ---- roots ------------------------------------------------------------ */

/* Is addr in memory build_c_holders scans: static data, or up to 3.10 the
 * main interpreter's state (allocated on the heap then)? Its references
 * are counted there. */
static bool is_scanned_addr(struct ph_heap *h, uint64_t addr)
{
	if (ph_heap_addr_in_image(h, addr))
		return true;
	/* every interpreter's state (a subinterpreter's is allocated) */
	for (size_t k = 0; h->L->sizeof_interp && k < h->rt->ninterps; k++) {
		uint64_t interp = h->rt->interps[k].addr;
		if (addr >= interp && addr < interp + h->L->sizeof_interp)
			return true;
	}
	return false;
}

static struct ph_error *root_add(struct ph_graph *g, uint64_t addr, char *name)
{
	uint32_t t = ph_graph_lookup(g, addr);
	if (t == PH_NONE || !name) {
		free(name);
		return name ? NULL : ph_error_nomem();
	}
	struct ph_error *err = ph_grow((void **)&g->roots, &g->roots_cap,
				       g->nroots + 1, sizeof(*g->roots));
	if (err) {
		free(name);
		return err;
	}
	g->roots[g->nroots++] = (struct ph_root){.target = t, .name = name};
	return NULL;
}

struct module_ctx {
	struct ph_graph *g;
	struct ph_error *err;
	const char *pre; /* "interp 1: ", or "" */
};

static void module_root_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
			   uint64_t data)
{
	struct module_ctx *c = arg;
	char name[256], *s;
	if (c->err || kind != PH_EDGE_VALUE)
		return;
	if (!ph_heap_str(c->g->h, data, name, sizeof(name), NULL))
		snprintf(name, sizeof(name), "?");
	/* The module's globals are what users name: "module m ['x']". */
	uint64_t md_dict = 0;
	ph_mem_u64(c->g->h->mem, target + c->g->h->L->module_dict, &md_dict);
	if (asprintf(&s, "%smodule %s", c->pre, name) < 0)
		s = NULL;
	if (md_dict)
		c->err = root_add(c->g, md_dict, s);
	else
		c->err = root_add(c->g, target, s);
	if (c->err || asprintf(&s, "%ssys.modules['%s']", c->pre, name) < 0)
		return;
	c->err = root_add(c->g, target, s);
}

struct frame_ctx {
	struct ph_graph *g;
	struct ph_error *err;
	const char *where;
	bool gen_owned; /* a running generator's frame: its edges count */
};

/* 3.11+: a running generator's or coroutine's frame
 * (FRAME_OWNED_BY_GENERATOR, 1) lives inside the generator, whose edges
 * count its references already (asyncio's running main() was counted
 * twice: 5 refcheck deficits on the asyncio_service core). */
static bool frame_gen_owned(struct ph_heap *h, uint64_t f)
{
	const struct ph_layout *L = h->L;
	if (L->frame_objects || !L->if_owner || L->if_owner == UINT32_MAX)
		return false;
	const uint8_t *owner = ph_mem_ptr(h->mem, f + L->if_owner, 1);
	return owner && *owner == 1;
}

static void frame_root_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
			  uint64_t data)
{
	struct frame_ctx *c = arg;
	char name[256], *s = NULL;
	int r;
	if (c->err)
		return;
	/* What a frame owns: its function, code, locals and stack (3.11 frames
	 * borrow their globals and builtins). */
	uint32_t t = ph_graph_lookup(c->g, target);
	/* (up to 3.10 the frame is an object: its edges count already) */
	if (t != PH_NONE && !c->g->h->L->frame_objects && !c->gen_owned &&
	    (kind == PH_EDGE_LOCAL || kind == PH_EDGE_STACK ||
	     (kind == PH_EDGE_FIELD &&
	      (!strcmp((const char *)(uintptr_t)data, "f_func") ||
	       !strcmp((const char *)(uintptr_t)data, "f_code") ||
	       !strcmp((const char *)(uintptr_t)data, "f_locals")))) &&
	    (c->err = count_add(&c->g->extern_refs, t)))
		return;
	if (kind == PH_EDGE_LOCAL) {
		if (!ph_heap_str(c->g->h, data, name, sizeof(name), NULL))
			snprintf(name, sizeof(name), "?");
		r = asprintf(&s, "%s local '%s'", c->where, name);
	} else if (kind == PH_EDGE_STACK)
		r = asprintf(&s, "%s stack[%llu]", c->where,
			     (unsigned long long)data);
	else if (kind == PH_EDGE_FIELD)
		r = asprintf(&s, "%s %s", c->where,
			     (const char *)(uintptr_t)data);
	else
		return;
	if (r < 0)
		s = NULL;
	c->err = root_add(c->g, target, s);
}

/* The debugger's number of frame f: its own when the debugger gave one,
 * else, on 3.11+ (where a C frame of the interpreter runs several Python
 * frames), that of the newer frames the same C frame runs. */
static long frame_number(const struct ph_heap *h, uint64_t f, long newer)
{
	const struct ph_target *t = h->rt->target;
	for (size_t i = 0; i < t->nframe_numbers; i++)
		if (t->frame_numbers[i].frame == f)
			return (long)t->frame_numbers[i].number;
	return h->L->frame_objects ? -1 : newer;
}

/* Whether the frame older than f is run by another C frame: f is the
 * first its C frame ran (3.11: is_entry, the byte before owner), or the
 * shim that C frame pushed (3.12+: owner FRAME_OWNED_BY_CSTACK, 3; 3.14+:
 * FRAME_OWNED_BY_INTERPRETER, 3, and CSTACK 4). */
static bool frame_ends_c_frame(struct ph_heap *h, uint64_t f)
{
	const struct ph_layout *L = h->L;
	const uint8_t *b;
	if (L->frame_objects || L->if_owner < 1 || L->if_owner == UINT32_MAX ||
	    !(b = ph_mem_ptr(h->mem, f + L->if_owner - 1, 2)))
		return true;
	if (h->rt->hexversion < 0x030C0000)
		return b[0] != 0;
	return b[1] >= 3;
}

/* One interpreter's roots; with more than one, each name starts with its
 * interpreter ("interp 1: module __main__"), pre. */
static struct ph_error *build_interp_roots(struct ph_graph *g, uint64_t interp,
					   uint64_t gc_state, const char *pre)
{
	struct ph_heap *h = g->h;
	const struct ph_layout *L = h->L;
	struct ph_memory *mem = h->mem;
	uint64_t v = 0;
	struct ph_error *err;

	/* Modules first: the names users think in. */
	struct module_ctx mc = {.g = g, .pre = pre};
	uint64_t modules = 0;
	ph_mem_u64(mem, interp + L->is_modules, &modules);
	uint32_t mi = ph_graph_lookup(g, modules);
	if (mi != PH_NONE)
		ph_heap_referents(h, modules, ph_tidx(h, mi), module_root_cb,
				  &mc);
	if (mc.err)
		return mc.err;

	/* Each thread's frames, oldest thread first. */
	uint64_t threads[1024];
	size_t nthreads = 0;
	ph_mem_u64(mem, interp + L->is_threads_head, &v);
	for (; v && nthreads < 1024;) {
		threads[nthreads++] = v;
		if (!ph_mem_u64(mem, v + L->ts_next, &v))
			break;
	}
	for (size_t k = 0; k < nthreads; k++) {
		uint64_t ts = threads[nthreads - 1 - k];
		uint64_t f = ph_heap_thread_frame(h, ts);
		long number = -1; /* the debugger's, of the frames so far */
		for (int nf = 0; f && nf < 100000; nf++) {
			char func[256], file[512], where[900];
			int line = 0;
			if (!ph_heap_iframe_location(h, f, func, sizeof(func),
						     file, sizeof(file),
						     &line)) {
				/* (nothing of either was written) */
				snprintf(func, sizeof(func), "?");
				snprintf(file, sizeof(file), "?");
				line = 0;
			}
			number = frame_number(h, f, number);
			char num[24] = "";
			if (number >= 0)
				snprintf(num, sizeof(num), "#%ld ", number);
			snprintf(where, sizeof(where),
				 "%sthread %zu frame %s%s() at %s:%d", pre,
				 k + 1, num, func, file, line);
			struct frame_ctx fc = {.g = g,
					       .where = where,
					       .gen_owned =
						       frame_gen_owned(h, f)};
			/* up to 3.10 the frame is an object the C stack holds
			 * (a generator's: the generator) */
			if (L->frame_objects) {
				uint64_t gen = 0;
				uint32_t ft = ph_graph_lookup(g, f);
				ph_mem_u64(mem, f + L->f_gen, &gen);
				if ((err = root_add(g, f, strdup(where))))
					return err;
				if (ft != PH_NONE && !gen &&
				    (err = count_add(&g->extern_refs, ft)))
					return err;
			}
			ph_heap_iframe_referents(h, f, frame_root_cb, &fc);
			if (fc.err)
				return fc.err;
			if (number >= 0 && frame_ends_c_frame(h, f))
				number = -1;
			if (!ph_mem_u64(mem, f + L->if_previous, &f))
				break;
		}
	}

	static const struct {
		uint32_t off;
		const char *name;
	} interp_roots[] = {
		{0, "sys.modules"},
		{1, "sys"},
		{2, "builtins"},
	};
	for (size_t i = 0; i < PH_ARRAY_SIZE(interp_roots); i++) {
		uint32_t off = interp_roots[i].off == 0	  ? L->is_modules
			       : interp_roots[i].off == 1 ? L->is_sysdict
							  : L->is_builtins;
		if (!ph_mem_u64(mem, interp + off, &v))
			continue;
		char *name;
		if (asprintf(&name, "%s%s", pre, interp_roots[i].name) < 0)
			name = NULL;
		if ((err = root_add(g, v, name)))
			return err;
		/* A static interpreter's references are counted by the scan
		 * of C data (build_c_holders). */
		uint32_t t = ph_graph_lookup(g, v);
		if (t != PH_NONE && !is_scanned_addr(h, interp + off) &&
		    (err = count_add(&g->extern_refs, t)))
			return err;
	}
	uint64_t garbage = 0;
	if (gc_state)
		ph_mem_u64(mem, gc_state + L->gc_garbage, &garbage);
	char *gname;
	if (asprintf(&gname, "%sgc.garbage", pre) < 0)
		gname = NULL;
	if (garbage && (err = root_add(g, garbage, gname)))
		return err;
	if (!garbage)
		free(gname);
	uint32_t gt = ph_graph_lookup(g, garbage);
	/* (3.8 keeps the GC state in _PyRuntime: static, scanned) */
	if (gt != PH_NONE && !is_scanned_addr(h, gc_state + L->gc_garbage) &&
	    (err = count_add(&g->extern_refs, gt)))
		return err;
	return NULL;
}

static struct ph_error *build_roots(struct ph_graph *g)
{
	struct ph_heap *h = g->h;
	struct ph_error *err;
	for (size_t k = 0; k < h->rt->ninterps; k++) {
		const struct ph_interp *it = &h->rt->interps[k];
		char pre[40] = "";
		if (h->rt->ninterps > 1)
			snprintf(pre, sizeof(pre),
				 "interp %lld: ", (long long)it->id);
		/* (3.8: one GC state, the runtime's: its garbage once) */
		if ((err = build_interp_roots(
			     g, it->addr,
			     k && it->gc_state == h->rt->interps[0].gc_state
				     ? 0
				     : it->gc_state,
			     pre)))
			return err;
	}
	/* Static types live as long as the interpreter. */
	for (size_t i = 0; i < h->rt->nstatic_types; i++) {
		uint64_t t = h->rt->static_types[i];
		uint32_t *ti = ph_u64map_get(&h->type_index, t);
		char *s;
		if (!ti ||
		    asprintf(&s, "static type %s",
			     h->types[*ti].name ? h->types[*ti].name : "?") < 0)
			continue;
		if ((err = root_add(g, t, s)))
			return err;
	}
	return NULL;
}

/* ---- references held by C code ----------------------------------------- */

struct extent {
	uint64_t start, end;
};

static int extent_cmp(const void *a, const void *b)
{
	const struct extent *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');
	return b ? b + 1 : path;
}

/*
 * Scans [start, end) for words that are addresses of objects: each is a
 * reference C code holds (a static, a thread state, a module's state).
 * Words inside static objects are their own fields, already edges; the
 * method cache's values are borrowed.
 */
static struct ph_error *scan_holder_in(struct ph_graph *g, uint64_t start,
				       uint64_t end, const struct extent *skip,
				       size_t nskip, const char *what,
				       uint64_t base, uint64_t interp)
{
	struct ph_heap *h = g->h;
	const struct ph_layout *L = h->L;
	/* 3.8/3.9: a static array, known by its (local) symbol */
	uint64_t tc = L->static_method_cache ? h->rt->method_cache_sym
					     : interp + L->is_type_cache;
	uint64_t tc_end =
		tc + (uint64_t)L->type_cache_entries * L->type_cache_entry_size;
	size_t k = 0;
	start = (start + 7) & ~7ULL;
	for (uint64_t a = start; a + 8 <= end;) {
		while (k < nskip && skip[k].end <= a)
			k++;
		if (k < nskip && skip[k].start <= a) {
			a = (skip[k].end + 7) & ~7ULL;
			continue;
		}
		uint64_t stop =
			k < nskip && skip[k].start < end ? skip[k].start : end;
		const struct ph_segment *sg = ph_memory_find(h->mem, a);
		if (!sg || !sg->data) {
			a = sg ? sg->end : ((a + 4096) & ~4095ULL);
			continue;
		}
		if (stop > sg->end)
			stop = sg->end; /* the rest is in the next segment */
		const uint64_t *p = ph_mem_ptr(h->mem, a, (size_t)(stop - a));
		if (!p) {
			a = stop;
			continue;
		}
		for (uint64_t i = 0; i < (stop - a) / 8; i++) {
			uint64_t v;
			memcpy(&v, &p[i], 8);
			if (v < 4096 || (v & 7))
				continue;
			uint64_t at = a + 8 * i;
			if (at >= tc && at < tc_end &&
			    (at - tc) % L->type_cache_entry_size ==
				    L->type_cache_value)
				continue;
			bool skip_it = false;
			uint64_t bs = interp + L->is_builtin_states;
			if (L->builtin_states_count && at >= bs &&
			    at < bs + (uint64_t)L->builtin_states_count *
						    L->builtin_state_size &&
			    (at - bs) % L->builtin_state_size ==
				    L->builtin_state_weaklist)
				continue;
			for (size_t r = 0; r < PH_ARRAY_SIZE(L->interp_skip);
			     r++) {
				uint64_t s0 = interp + L->interp_skip[r][0];
				if (L->interp_skip[r][1] && at >= s0 &&
				    at < s0 + L->interp_skip[r][1])
					skip_it = true;
			}
			if (skip_it)
				continue;
			uint32_t t = ph_graph_lookup(g, v);
			if (t == PH_NONE || h->addr[t] != v)
				continue;
			if (ph_heap_addr_in_image(h, v))
				continue;
			struct ph_error *err = count_add(&g->extern_refs, t);
			if (!err)
				err = count_add(&g->cdata_in, t);
			char *name;
			if (err)
				return err;
			if (asprintf(&name, "C data: %s+0x%llx", what,
				     (unsigned long long)(at - base)) < 0)
				return ph_error_nomem();
			if ((err = root_add(g, v, name)))
				return err;
		}
		a = stop;
	}
	return NULL;
}

/* The same, with the main interpreter's borrowed words skipped. */
static struct ph_error *scan_holder(struct ph_graph *g, uint64_t start,
				    uint64_t end, const struct extent *skip,
				    size_t nskip, const char *what,
				    uint64_t base)
{
	return scan_holder_in(g, start, end, skip, nskip, what, base,
			      g->h->rt->main_interp);
}

/* The writable segments of the files mapped (their .data and .bss). */
struct data_range {
	const struct ph_module *mod;
	uint64_t start, file_end, end;
};

static size_t writable_data(const struct ph_target *tg, struct data_range **ret)
{
	size_t n = 0, cap = 0;
	struct data_range *out = NULL;
	for (size_t m = 0; m < tg->nmods; m++) {
		const struct ph_module *mod = &tg->mods[m];
		Elf *elf = ph_module_elf(mod);
		size_t nph;
		if (!elf || elf_getphdrnum(elf, &nph))
			continue;
		for (size_t i = 0; i < nph; i++) {
			GElf_Phdr ph;
			if (!gelf_getphdr(elf, (int)i, &ph) ||
			    ph.p_type != PT_LOAD || !(ph.p_flags & PF_W))
				continue;
			if (ph_grow((void **)&out, &cap, n + 1, sizeof(*out)))
				break; /* out of memory: scan what we have */
			out[n++] = (struct data_range){
				mod, mod->bias + ph.p_vaddr,
				mod->bias + ph.p_vaddr + ph.p_filesz,
				mod->bias + ph.p_vaddr + ph.p_memsz};
		}
	}
	*ret = out;
	return n;
}

static struct ph_error *build_c_holders(struct ph_graph *g)
{
	struct ph_heap *h = g->h;
	const struct ph_layout *L = h->L;
	const struct ph_target *tg = h->rt->target;
	struct ph_error *err = NULL;
	struct data_range *ranges = NULL;
	size_t nranges = 0;
	/* Static objects: their own fields are edges already. */
	struct extent *skip = NULL;
	size_t nskip = 0, cap = 0;
	for (size_t i = 0; i < h->n; i++) {
		if (ph_heap_in_pools(h, i)) {
			/* (in pymalloc's arenas: none is static) */
			i = h->pools[0].first + h->npool_objects - 1;
			continue;
		}
		if (!ph_heap_addr_in_image(h, h->addr[i]))
			continue;
		if ((err = ph_grow((void **)&skip, &cap, nskip + 1,
				   sizeof(*skip))))
			goto out;
		const struct ph_type *t = ph_obj_type(h, i);
		uint64_t size = t->kind == PH_KIND_TYPE
					? L->sizeof_type
					: (uint64_t)t->basicsize;
		if (t->itemsize) {
			int64_t n = 0;
			ph_mem_u64(h->mem, h->addr[i] + L->ob_type + 8,
				   (uint64_t *)&n);
			if (n > 0 && n < (1 << 24))
				size += (uint64_t)n * (uint64_t)t->itemsize;
		}
		skip[nskip++] = (struct extent){h->addr[i] - (t->presize & 16),
						h->addr[i] + size};
	}
	/* Deep-frozen objects (3.11) are static objects in the data segment
	 * that no heap object may reach (a module's code is dropped after it
	 * ran): known by their fixed refcount and a real type. */
	nranges = writable_data(tg, &ranges);
	for (size_t r = 0; L->deepfrozen_refcnt && r < nranges; r++) {
		uint64_t a = (ranges[r].start + 7) & ~7ULL;
		for (; a + 16 <= ranges[r].file_end; a += 8) {
			const uint64_t *w = ph_mem_ptr(h->mem, a, 16);
			if (!w || w[0] != L->deepfrozen_refcnt)
				continue;
			int64_t ti = ph_heap_type_of(h, w[1]);
			if (ti < 0)
				continue;
			uint64_t size = ph_heap_inline_size(h, a, (uint32_t)ti);
			if (size > (1 << 20))
				continue;
			if ((err = ph_grow((void **)&skip, &cap, nskip + 1,
					   sizeof(*skip))))
				goto out;
			skip[nskip++] = (struct extent){a, a + size};
			a += (size - 8) & ~7ULL;
		}
	}
	/* 3.8/3.9: free lists are file statics (several named free_list),
	 * whose slots past their count still point where objects were */
	static const char *const free_lists[] = {
		"free_list",
		"keys_free_list",
		"ag_value_freelist",
		"ag_asend_freelist",
	};
	for (size_t i = 0;
	     L->static_free_lists && i < PH_ARRAY_SIZE(free_lists); i++) {
		uint64_t addrs[32], sizes[32];
		size_t n = ph_module_symbols(h->rt->pymod, free_lists[i], addrs,
					     sizes, 32);
		for (size_t k = 0; k < n; k++) {
			if (!sizes[k] || sizes[k] > (1 << 20))
				continue;
			if ((err = ph_grow((void **)&skip, &cap, nskip + 1,
					   sizeof(*skip))))
				goto out;
			skip[nskip++] =
				(struct extent){addrs[k], addrs[k] + sizes[k]};
		}
	}
	/* Without symbols: the list and dict free lists (80 slots each) are
	 * known by their first slots, which point at dead objects of their
	 * type (refcount 0); the whole array is left out. */
	size_t nfound_lists = 0;
	for (size_t i = 0;
	     L->static_free_lists && i < PH_ARRAY_SIZE(free_lists); i++) {
		uint64_t a0, sz;
		if (ph_module_symbol(h->rt->pymod, free_lists[i], &a0, &sz))
			nfound_lists++;
	}
	for (size_t r = 0; L->static_free_lists && !nfound_lists && r < nranges;
	     r++) {
		if (ranges[r].mod != h->rt->pymod)
			continue;
		uint64_t lt = h->rt->kind_types[PH_KIND_LIST];
		uint64_t dt = h->rt->kind_types[PH_KIND_DICT];
		for (uint64_t a = (ranges[r].start + 7) & ~7ULL;
		     a + 8 <= ranges[r].end; a += 8) {
			uint64_t v, hdr[2];
			if (!ph_mem_u64(h->mem, a, &v) || !v || (v & 7) ||
			    !ph_mem_u64(h->mem, v, &hdr[0]) || hdr[0] ||
			    !ph_mem_u64(h->mem, v + h->L->ob_type, &hdr[1]) ||
			    (hdr[1] != lt && hdr[1] != dt))
				continue;
			if ((err = ph_grow((void **)&skip, &cap, nskip + 1,
					   sizeof(*skip))))
				goto out;
			skip[nskip++] = (struct extent){a, a + 80 * 8};
			a += 79 * 8;
		}
	}
	/* Free-threaded: the free lists are each thread state's (the
	 * first thread state is static) */
	uint64_t fts = 0;
	ph_mem_u64(h->mem, h->rt->main_interp + L->is_threads_head, &fts);
	for (int n = 0; L->ts_skip[1] && fts && n < 100000; n++) {
		if ((err = ph_grow((void **)&skip, &cap, nskip + 1,
				   sizeof(*skip))))
			goto out;
		skip[nskip++] =
			(struct extent){fts + L->ts_skip[0],
					fts + L->ts_skip[0] + L->ts_skip[1]};
		if (!ph_mem_u64(h->mem, fts + L->ts_next, &fts))
			break;
	}
	if (nskip)
		qsort(skip, nskip, sizeof(*skip), extent_cmp);
	/* The writable data of every file mapped: C statics. */
	for (size_t r = 0; r < nranges; r++) {
		const struct ph_module *mod = ranges[r].mod;
		err = scan_holder(g, ranges[r].start, ranges[r].end, skip,
				  nskip, base_name(mod->path), mod->start);
		if (err)
			goto out;
	}
	/* Every interpreter's thread states allocated on the heap (the
	 * main one's first is static), and the states of interpreters on
	 * the heap: up to 3.10 the main one (its free lists and the method
	 * cache's borrowed values left out: interp_skip), and 3.12+'s
	 * subinterpreters (their sys.modules, codecs, static types' dicts). */
	for (size_t k = 0; k < h->rt->ninterps; k++) {
		uint64_t interp = h->rt->interps[k].addr, ts = 0;
		ph_mem_u64(h->mem, interp + L->is_threads_head, &ts);
		for (int n = 0; ts && n < 100000; n++) {
			/* up to 3.10 its frame pointer is borrowed: the
			 * frame's reference is the C stack's (build_roots) */
			struct extent fr = {ts + L->ts_cframe,
					    ts + L->ts_cframe + 8};
			if (!ph_heap_addr_in_image(h, ts) &&
			    (err = scan_holder_in(g, ts, ts + L->sizeof_tstate,
						  &fr, L->frame_objects ? 1 : 0,
						  "thread state", ts, interp)))
				goto out;
			if (!ph_mem_u64(h->mem, ts + L->ts_next, &ts))
				break;
		}
		char what[48] = "interpreter";
		if (k)
			snprintf(what, sizeof(what), "interpreter %lld",
				 (long long)h->rt->interps[k].id);
		if (L->sizeof_interp && !ph_heap_addr_in_image(h, interp) &&
		    (err = scan_holder_in(g, interp, interp + L->sizeof_interp,
					  NULL, 0, what, interp, interp)))
			goto out;
	}
	/* Extension modules' state (PEP 3121). */
	for (size_t i = 0; i < h->n; i++) {
		if (ph_obj_type(h, i)->kind != PH_KIND_MODULE)
			continue;
		uint64_t st = 0, def = 0, size = 0;
		ph_mem_u64(h->mem, h->addr[i] + L->module_state, &st);
		if (L->module_state_size)
			ph_mem_u64(h->mem, h->addr[i] + L->module_state_size,
				   &size);
		else {
			ph_mem_u64(h->mem, h->addr[i] + L->module_def, &def);
			if (st && def)
				ph_mem_u64(h->mem, def + L->moddef_size, &size);
		}
		if (!st || !size || size > (1 << 20))
			continue;
		char what[64];
		snprintf(what, sizeof(what), "module state 0x%llx",
			 (unsigned long long)h->addr[i]);
		if ((err = scan_holder(g, st, st + size, NULL, 0, what, st)))
			goto out;
	}
out:
	free(ranges);
	free(skip);
	return err;
}

/* ---- shortest paths ----------------------------------------------------- */

/*
 * Breadth first from the roots, in their order: an object's parent is the
 * first object in the queue that refers to it. Memory bound on a large
 * heap: whether an object was seen is a bitmap (10M objects: 1.25 MB,
 * which stays in the cache where parent[] would not), and the edges of
 * the objects a few places ahead in the queue are prefetched.
 */
static struct ph_error *build_paths(struct ph_graph *g)
{
	size_t n = g->h->n;
	size_t qbytes = (n + 1) * sizeof(uint32_t);
	g->parent = ph_big_alloc((n + 1) * sizeof(*g->parent));
	uint32_t *queue = ph_big_alloc(qbytes);
	uint64_t *seen = calloc(n / 64 + 1, sizeof(*seen));
	if (!g->parent || !queue || !seen) {
		ph_big_free(queue, qbytes);
		free(seen);
		return ph_error_nomem();
	}
	memset(g->parent, 0xff, n * sizeof(*g->parent));
	size_t head = 0, tail = 0;
	for (size_t r = 0; r < g->nroots; r++) {
		uint32_t t = g->roots[r].target;
		if (seen[t >> 6] >> (t & 63) & 1)
			continue;
		seen[t >> 6] |= 1ULL << (t & 63);
		g->parent[t] = PH_ROOT_BIT | (uint32_t)r;
		queue[tail++] = t;
	}
	const uint32_t *off = g->fwd_off, *fwd = g->fwd;
	enum { AHEAD = 16 };
	while (head < tail) {
		if (!(head & 0xffff) && ph_interrupted()) {
			ph_big_free(queue, qbytes);
			free(seen);
			return ph_error_interrupted();
		}
		/* (the queue ahead is what is known so far: it may grow) */
		if (head + AHEAD < tail)
			__builtin_prefetch(&off[queue[head + AHEAD]]);
		if (head + AHEAD / 2 < tail)
			__builtin_prefetch(&fwd[off[queue[head + AHEAD / 2]]]);
		uint32_t u = queue[head++];
		for (uint32_t e = off[u], end = off[u + 1]; e < end; e++) {
			uint32_t v = fwd[e];
			uint64_t bit = 1ULL << (v & 63);
			if (seen[v >> 6] & bit)
				continue;
			seen[v >> 6] |= bit;
			g->parent[v] = u;
			queue[tail++] = v;
		}
	}
	ph_big_free(queue, qbytes);
	free(seen);
	return NULL;
}

struct ph_error *ph_graph_create_edges(struct ph_heap *h, struct ph_graph **ret)
{
	if (h->n >= PH_ROOT_BIT)
		return ph_error_create(
			PH_ERR_UNSUPPORTED,
			"more than 2^31 objects: the graph index "
			"does not support it yet");
	struct ph_graph *g = calloc(1, sizeof(*g));
	if (!g)
		return ph_error_nomem();
	g->h = h;
	ph_u64map_init(&g->extern_refs);
	ph_u64map_init(&g->cons_in);
	ph_u64map_init(&g->cdata_in);
	ph_stage(NULL);
	/* every object's references: the core read whole (again, after a
	 * cached index) */
	ph_memory_read_whole(h->mem);
	struct ph_error *err = build_edges(g);
	ph_stage("graph: edges");
	if (err) {
		ph_graph_destroy(g);
		return err;
	}
	*ret = g;
	return NULL;
}

/* An array of g's, freed unless in its mapped cache file. */
static void graph_free(struct ph_graph *g, void *p)
{
	if (!g->map || (char *)p < (char *)g->map ||
	    (char *)p >= (char *)g->map + g->map_len)
		free(p);
}

/* The same for an array of n + 1 words from ph_big_alloc. */
static void graph_free_big(struct ph_graph *g, uint32_t *p)
{
	if (!g->map || (char *)p < (char *)g->map ||
	    (char *)p >= (char *)g->map + g->map_len)
		ph_big_free(p, (g->h->n + 1) * sizeof(*p));
}

/* An array of g's of that ph_big_alloc size; 0: malloc'ed, or in its
 * mapped cache file (graph_free). */
static void graph_free_sized(struct ph_graph *g, void *p, size_t bytes)
{
	if (bytes)
		ph_big_free(p, bytes);
	else
		graph_free(g, p);
}

/* What ph_graph_complete adds, freed: the graph is its edges alone. */
static void graph_drop_rest(struct ph_graph *g)
{
	graph_free_sized(g, g->rev_off, g->rev_off_bytes);
	graph_free_sized(g, g->rev, g->rev_bytes);
	g->rev_off = g->rev = NULL;
	g->rev_off_bytes = g->rev_bytes = 0;
	for (size_t i = 0; i < g->nroots; i++)
		graph_free(g, g->roots[i].name);
	free(g->roots);
	g->roots = NULL;
	g->nroots = g->roots_cap = 0;
	graph_free_big(g, g->parent);
	g->parent = NULL;
	ph_u64map_free(&g->extern_refs);
	ph_u64map_init(&g->extern_refs);
	ph_u64map_free(&g->cdata_in);
	ph_u64map_init(&g->cdata_in);
	g->complete = false;
}

struct ph_error *ph_graph_paths(struct ph_graph *g)
{
	if (g->complete || g->parent)
		return NULL;
	ph_stage(NULL);
	struct ph_error *err = build_roots(g);
	if (!err)
		err = build_c_holders(g);
	ph_stage("graph: roots");
	if (!err)
		err = build_paths(g);
	ph_stage("graph: paths");
	if (err)
		graph_drop_rest(g);
	return err;
}

struct ph_error *ph_graph_complete(struct ph_graph *g)
{
	if (g->complete)
		return NULL;
	/* ph_graph_paths' graph lacks only its referrers */
	bool have_paths = g->parent != NULL;
	ph_stage(NULL);
	struct ph_error *err = build_rev(g);
	ph_stage("graph: referrers");
	if (err) {
		graph_drop_rest(g); /* so that a second try starts clean */
		return err;
	}
	if (!have_paths && (err = ph_graph_paths(g)))
		return err; /* (dropped there, referrers too) */
	g->complete = true;
	return NULL;
}

struct ph_error *ph_graph_create(struct ph_heap *h, struct ph_graph **ret)
{
	struct ph_graph *g;
	struct ph_error *err = ph_graph_create_edges(h, &g);
	if (!err && (err = ph_graph_complete(g))) {
		ph_graph_destroy(g);
		return err;
	}
	if (!err)
		*ret = g;
	return err;
}

void ph_graph_destroy(struct ph_graph *g)
{
	if (!g)
		return;
	graph_drop_rest(g);
	graph_free_big(g, g->fwd_off);
	graph_free_sized(g, g->fwd, g->fwd_bytes);
	if (g->map)
		munmap(g->map, g->map_len);
	free(g->lazy);
	ph_u64map_free(&g->extern_refs);
	ph_u64map_free(&g->cons_in);
	ph_u64map_free(&g->cdata_in);
	free(g);
}

uint32_t ph_graph_depth(const struct ph_graph *g, uint32_t obj)
{
	uint32_t d = 0;
	for (uint32_t cur = obj;; d++) {
		uint32_t p = ph_graph_parent(g, cur);
		if (p & PH_ROOT_BIT) /* (PH_NONE too) */
			break;
		if (d > g->h->n)
			return UINT32_MAX;
		cur = p;
	}
	return d;
}

/* ---- labels ----------------------------------------------------------- */

struct label_ctx {
	struct ph_graph *g;
	uint64_t dst;
	bool found;
	enum ph_edge_kind kind;
	uint64_t data;
};

static void label_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		     uint64_t data)
{
	struct label_ctx *c = arg;
	if (c->found || target != c->dst || !ph_edge_is_strong(kind))
		return;
	/* A dict holds a key as key and names the value by it: prefer the
	 * value's label, keep the key's if that is all there is. */
	if (kind == PH_EDGE_KEY) {
		if (c->kind == PH_EDGE_COUNT_)
			c->kind = kind, c->data = data;
		return;
	}
	c->found = true;
	c->kind = kind;
	c->data = data;
}

void ph_graph_label(struct ph_graph *g, uint32_t src, uint32_t dst,
		    struct ph_buf *out)
{
	struct ph_heap *h = g->h;
	struct label_ctx c = {
		.g = g, .dst = h->addr[dst], .kind = PH_EDGE_COUNT_};
	ph_heap_referents(h, h->addr[src], ph_tidx(h, src), label_cb, &c);
	if (c.kind == PH_EDGE_COUNT_) {
		ph_buf_puts(out, "?");
		return;
	}
	ph_edge_label_write(h, c.kind, c.data, out);
}

struct labels_ctx {
	struct ph_heap *h;
	uint64_t dst;
	size_t n, max;
	struct ph_buf *out;
};

static void labels_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		      uint64_t data)
{
	struct labels_ctx *c = arg;
	if (target != c->dst || !ph_edge_is_strong(kind) || c->n >= c->max)
		return;
	ph_edge_label_write(c->h, kind, data, c->out);
	ph_buf_putc(c->out, '\0');
	c->n++;
}

size_t ph_graph_labels(struct ph_graph *g, uint32_t src, uint32_t dst,
		       size_t max, struct ph_buf *out)
{
	struct ph_heap *h = g->h;
	struct labels_ctx c = {
		.h = h, .dst = h->addr[dst], .max = max, .out = out};
	ph_heap_referents(h, h->addr[src], ph_tidx(h, src), labels_cb, &c);
	return c.n;
}
