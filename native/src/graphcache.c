/*
 * graphcache.c - the graph's cache: the complete graph of references a run
 * on a core built (referents and referrers, roots, the paths' tree, the
 * maps of references from outside the heap), kept beside the index cache
 * (heapcache.c) in a file of its own, graph-HASH, tied to the index file it
 * numbers objects by (that file's header sum: its key and its table's
 * sums). A later run on the same core maps it instead of building the
 * graph again: referrers, path, cycles, refcheck and dominators start from
 * it.
 *
 * Nothing in it is trusted: a file of another size, format, index or
 * checksum is ignored (the graph is built again and the file rewritten);
 * beyond the sums, every number used as an index is checked (object
 * numbers below n, offsets ascending up to the edges' count, roots' names
 * ended), so that a file the sums missed cannot make a read go astray:
 * whole before a section is used, or row by row as referrers and path
 * read a sealed graph (PH_GRAPH_REV_ROWS, PH_GRAPH_PARENT_ROWS).
 *
 * A diff's graph has no referrers (ph_graph_paths: what its containers
 * need): it is kept so (GC_NO_REV, the referrers' sections empty), mapped
 * as a graph not complete, and completed by the first command that needs
 * the referrers, which then writes the whole graph in its place.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph.h"
#include "graphcache.h"
#include "heapcache.h"
#include "internal.h"

#define GC_MAGIC 0x31475048u /* "HPG1" */
#define GC_FORMAT 2
#define GC_NO_REV 1u /* flags: rev_off and rev empty, not made */
#define GC_NSEC 10
/* bounded: no graph file above this many bytes per object (the edges of
 * the bench's heap take 30-40; a heap of far more references per object
 * is built again each time instead) */
#define GC_MAX_PER_OBJECT 64

struct gc_head {
	uint32_t magic, format, head_size, nsec;
	uint64_t table_sum; /* the index cache file's header sum */
	uint64_t n, nedges, nroots, names_bytes;
	uint64_t nextern, ncons, ncdata;
	uint64_t flags;
	uint64_t sec_bytes[GC_NSEC];
	uint64_t sec_sum[GC_NSEC];
	uint64_t head_sum; /* of everything above */
};

_Static_assert(sizeof(struct gc_head) % 8 == 0, "sections aligned");

/* A map's entries, as pairs (key, value): read back by inserting them. */
struct gc_pair {
	uint64_t key, val;
};

static void gc_sizes(const struct gc_head *hd, uint64_t *bytes)
{
	/* (GC_NO_REV: rev_off and rev empty) */
	uint64_t rev = hd->flags & GC_NO_REV ? 0 : 1;
	bytes[0] = (hd->n + 1) * 4;			 /* fwd_off */
	bytes[1] = hd->nedges * 4;			 /* fwd */
	bytes[2] = rev * (hd->n + 1) * 4;		 /* rev_off */
	bytes[3] = rev * hd->nedges * 4;		 /* rev */
	bytes[4] = hd->n * 4;				 /* parent */
	bytes[5] = hd->nroots * 4;			 /* roots' targets */
	bytes[6] = hd->names_bytes;			 /* roots' names */
	bytes[7] = hd->nextern * sizeof(struct gc_pair); /* extern_refs */
	bytes[8] = hd->ncons * sizeof(struct gc_pair);	 /* cons_in */
	bytes[9] = hd->ncdata * sizeof(struct gc_pair);	 /* cdata_in */
}

static uint64_t pad8(uint64_t x)
{
	return (x + 7) & ~7ULL;
}

static char *gc_path_of(const struct ph_runtime *rt);

static char *gc_path(const struct ph_heap *h)
{
	return h->cache_sum ? gc_path_of(h->rt) : NULL;
}

/* ---- reading ----------------------------------------------------------- */

struct gc_job {
	const void *data;
	uint64_t bytes, sum;
	/* what the section's numbers are checked against */
	enum { GC_NONE, GC_OFFSETS, GC_OBJECTS, GC_PARENTS } check;
	uint64_t limit, nroots;
	bool bad, sealed; /* sealed: checked, not summed */
};

/* The checks in SSE2 lanes of four (as the sums: -O2 does not vectorise
 * the plain loops, 3-4 instructions a number), the tail one by one. */
typedef uint32_t gc_v4 __attribute__((vector_size(16)));

static gc_v4 gc_load(const uint32_t *v)
{
	gc_v4 x;
	memcpy(&x, v, 16);
	return x;
}

static gc_v4 gc_splat(uint32_t x)
{
	return (gc_v4){x, x, x, x};
}

static void *gc_worker(void *arg)
{
	struct gc_job *j = arg;
	const uint32_t *v = j->data;
	size_t n = j->bytes / 4, i = 1;
	uint32_t lim = (uint32_t)j->limit, bad = 0;
	gc_v4 vb = gc_splat(0), vl = gc_splat(lim);
	if (!j->sealed)
		j->sum = ph_heapcache_sum(j->data, j->bytes);
	switch (j->check) {
	case GC_NONE:
		break;
	case GC_OFFSETS: /* ascending from 0 to limit (the edges) */
		bad = !n || v[0] || v[n - 1] != lim;
		for (; i + 4 <= n; i += 4)
			vb |= (gc_v4)(gc_load(v + i) < gc_load(v + i - 1));
		for (; i < n; i++)
			bad |= v[i] < v[i - 1];
		break;
	case GC_OBJECTS:
		for (i = 0; i + 4 <= n; i += 4)
			vb |= (gc_v4)(gc_load(v + i) >= vl);
		for (; i < n; i++)
			bad |= v[i] >= lim;
		break;
	case GC_PARENTS: {
		/* none, an object, or the root bit and a root's number */
		gc_v4 none = gc_splat(PH_NONE), rb = gc_splat(PH_ROOT_BIT),
		      nr = gc_splat((uint32_t)j->nroots);
		for (i = 0; i + 4 <= n; i += 4) {
			gc_v4 p = gc_load(v + i);
			vb |= (gc_v4)(p != none) & (gc_v4)(p >= vl) &
			      ((gc_v4)((p & rb) == 0) |
			       (gc_v4)((p & ~rb) >= nr));
		}
		for (; i < n; i++) {
			uint32_t p = v[i];
			bad |= p != PH_NONE && p >= lim &&
			       (!(p & PH_ROOT_BIT) ||
				(p & ~PH_ROOT_BIT) >= j->nroots);
		}
		break;
	}
	}
	j->bad = (bad | vb[0] | vb[1] | vb[2] | vb[3]) != 0;
	return NULL;
}

static bool gc_map_load(struct ph_u64map *m, const struct gc_pair *p,
			uint64_t count, uint64_t n)
{
	for (uint64_t i = 0; i < count; i++) {
		bool existed;
		if (!p[i].key || p[i].key > n || p[i].val > UINT32_MAX ||
		    ph_u64map_put(m, p[i].key, (uint32_t)p[i].val, &existed) ||
		    existed)
			return false;
	}
	return true;
}

/* A mapped graph's sections, and what their sums should be: each is
 * summed and checked once, when first asked for. */
struct gc_lazy {
	struct gc_job job[GC_NSEC];
	uint64_t want[GC_NSEC];
	uint64_t n;
	unsigned done; /* sections checked, by bit */
	unsigned
		sealed; /* sections summed whole by a run (ph_heapcache_seal) */
	bool serial;	/* on the calling thread alone (a prefetch's) */
	bool no_rev;	/* the file's graph has no referrers (GC_NO_REV) */
	/* the file, to seal what this run sums */
	struct stat st;
	uint64_t head_sum;
	char path[4096];
};

/* Sums and checks the sections of mask (by bit) not yet done, the largest
 * first, on every processor; true if each is intact. */
static bool gc_run(struct gc_lazy *lz, unsigned mask)
{
	static const int order[GC_NSEC] = {1, 3, 0, 2, 4, 5, 6, 7, 8, 9};
	struct gc_job sorted[GC_NSEC];
	int idx[GC_NSEC], k = 0;
	uint64_t bytes = 0;
	unsigned summed = 0;
	for (int i = 0; i < GC_NSEC; i++) {
		int s = order[i];
		if (!(mask & ~lz->done & (1u << s)))
			continue;
		idx[k] = s;
		sorted[k] = lz->job[s];
		sorted[k++].sealed = lz->sealed & (1u << s);
		bytes += lz->job[s].bytes;
		summed |= ~lz->sealed & (1u << s);
	}
	if (!k)
		return true;
	ph_run_chunks(gc_worker, sorted, sizeof(sorted[0]), (size_t)k,
		      !lz->serial && lz->n > 100000 && bytes > 400000);
	for (int i = 0; i < k; i++)
		if (sorted[i].bad ||
		    (!sorted[i].sealed && sorted[i].sum != lz->want[idx[i]]))
			return false;
	for (int i = 0; i < k; i++)
		lz->done |= 1u << idx[i];
	if (summed && lz->path[0]) {
		lz->sealed |= summed;
		ph_heapcache_seal(lz->path, &lz->st, lz->head_sum, lz->sealed);
	}
	return true;
}

/* A graph file mapped and its header checked, not yet tied to a table
 * (the index's sum and objects' count are compared by gc_bind). */
struct gc_file {
	struct gc_head hd;
	uint8_t *map;
	size_t map_len;
	struct gc_lazy *lz;
	const void *ptr[GC_NSEC];
};

/* the small sections, which every reader uses: roots, names, the maps */
#define GC_SMALL ((1u << 5) | (1u << 6) | (1u << 7) | (1u << 8) | (1u << 9))

static void gc_file_free(struct gc_file *f)
{
	if (f->map)
		munmap(f->map, f->map_len);
	free(f->lz);
	memset(f, 0, sizeof(*f));
}

static bool gc_open(const char *path, struct gc_file *f)
{
	memset(f, 0, sizeof(*f));
	if (!ph_cache_dir_ok(path))
		return false;
	ph_heapcache_wait(path);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct gc_head hd;
	struct stat st;
	bool ok = false;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() ||
	    pread(fd, &hd, sizeof(hd), 0) != sizeof(hd))
		goto out;
	if (hd.magic != GC_MAGIC || hd.format != GC_FORMAT ||
	    hd.head_size != sizeof(hd) || hd.nsec != GC_NSEC ||
	    hd.head_sum !=
		    ph_heapcache_sum(&hd, offsetof(struct gc_head, head_sum)) ||
	    hd.n >= UINT32_MAX || hd.nedges >= UINT32_MAX ||
	    hd.nroots >= (1u << 30) || hd.names_bytes >= (1ULL << 40) ||
	    hd.nextern > hd.n || hd.ncons > hd.n || hd.ncdata > hd.n ||
	    (hd.flags & ~(uint64_t)GC_NO_REV))
		goto out;
	uint64_t bytes[GC_NSEC], total = sizeof(hd);
	gc_sizes(&hd, bytes);
	for (int i = 0; i < GC_NSEC; i++) {
		if (bytes[i] != hd.sec_bytes[i])
			goto out;
		total += pad8(bytes[i]);
	}
	if ((uint64_t)st.st_size != total)
		goto out;
	uint8_t *map = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		goto out;
	f->hd = hd;
	f->map = map;
	f->map_len = (size_t)total;
	struct gc_lazy *lz = calloc(1, sizeof(*lz));
	if (!lz)
		goto out;
	f->lz = lz;
	lz->no_rev = (hd.flags & GC_NO_REV) != 0;
	struct gc_job *job = lz->job;
	uint64_t off = sizeof(hd);
	for (int i = 0; i < GC_NSEC; i++) {
		f->ptr[i] = map + off;
		job[i] = (struct gc_job){.data = f->ptr[i], .bytes = bytes[i]};
		lz->want[i] = hd.sec_sum[i];
		off += pad8(bytes[i]);
	}
	job[0].check = job[2].check = GC_OFFSETS;
	job[0].limit = job[2].limit = hd.nedges;
	job[1].check = job[3].check = job[5].check = GC_OBJECTS;
	job[1].limit = job[3].limit = job[5].limit = hd.n;
	job[4].check = GC_PARENTS;
	job[4].limit = hd.n;
	job[4].nroots = hd.nroots;
	lz->n = hd.n;
	lz->st = st;
	lz->head_sum = hd.head_sum;
	lz->sealed = ph_heapcache_sealed(path, &st, hd.head_sum) &
		     ((1u << GC_NSEC) - 1);
	if (strlen(path) < sizeof(lz->path))
		strcpy(lz->path, path);
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	if (!ok)
		gc_file_free(f);
	return ok;
}

/* The graph of h from f (taken: unmapped and freed if not used), its
 * small sections checked (small_ok: already, by a prefetch). */
static bool gc_bind(struct ph_heap *h, struct gc_file *f, int small_ok,
		    struct ph_graph **ret)
{
	const struct gc_head *hd = &f->hd;
	struct ph_graph *g = NULL;
	bool ok = false;
	if (!h->cache_sum || hd->table_sum != h->cache_sum || hd->n != h->n)
		goto out;
	if (!(g = calloc(1, sizeof(*g))))
		goto out;
	g->h = h;
	ph_u64map_init(&g->extern_refs);
	ph_u64map_init(&g->cons_in);
	ph_u64map_init(&g->cdata_in);
	g->map = f->map;
	g->map_len = f->map_len;
	g->lazy = f->lz;
	f->map = NULL;
	f->lz = NULL;
	/* now the roots and the maps, which the graph is made of; the large
	 * arrays when a reader asks for them (ph_graphcache_check) */
	if (small_ok < 0)
		small_ok = gc_run(g->lazy, GC_SMALL);
	if (!small_ok)
		goto out;
	/* the roots: their names, each ended, one a root */
	const uint32_t *rt = f->ptr[5];
	const char *names = f->ptr[6], *end = names + hd->names_bytes;
	if (hd->nroots && (!hd->names_bytes || end[-1]))
		goto out;
	if (hd->nroots &&
	    !(g->roots = calloc((size_t)hd->nroots, sizeof(*g->roots))))
		goto out;
	g->roots_cap = (size_t)hd->nroots;
	for (uint64_t i = 0; i < hd->nroots; i++) {
		/* (where they are in the map, as the arrays are: a copy each
		 * was a thousand allocations a run, and their pages' faults) */
		if (names >= end)
			goto out;
		g->roots[i].name = (char *)names;
		g->roots[i].target = rt[i];
		g->nroots++;
		names += strlen(names) + 1;
	}
	if (names != end)
		goto out;
	if (!gc_map_load(&g->extern_refs, f->ptr[7], hd->nextern, hd->n) ||
	    !gc_map_load(&g->cons_in, f->ptr[8], hd->ncons, hd->n) ||
	    !gc_map_load(&g->cdata_in, f->ptr[9], hd->ncdata, hd->n))
		goto out;
	g->nedges = hd->nedges;
	g->pending = PH_GRAPH_ALL | PH_GRAPH_REV_ROWS | PH_GRAPH_PARENT_ROWS |
		     PH_GRAPH_FWD_ROWS;
	/* without referrers: the edges, roots and paths' tree of a diff's
	 * graph (ph_graph_paths), completed by whoever needs the rest */
	if (hd->flags & GC_NO_REV)
		g->pending &= ~(PH_GRAPH_REV | PH_GRAPH_REV_ROWS);
	g->complete = !(hd->flags & GC_NO_REV);
	*ret = g;
	ok = true;
out:
	if (!ok)
		ph_graph_destroy(g);
	gc_file_free(f);
	return ok;
}

/* PH_GRAPH_* to the file's sections, by bit: fwd_off 0, fwd 1, rev_off 2,
 * rev 3, parent 4 */
static const unsigned gc_bit[5] = {PH_GRAPH_FWD_OFF, 8u, PH_GRAPH_REV_OFF, 16u,
				   PH_GRAPH_PARENT};

static unsigned gc_mask(unsigned need)
{
	unsigned mask = 0;
	for (int i = 0; i < 5; i++)
		if (need & gc_bit[i])
			mask |= 1u << i;
	return mask;
}

/* The arrays a few rows of which are read (PH_GRAPH_REV_ROWS,
 * PH_GRAPH_PARENT_ROWS) and the array each is a part of. */
static const struct {
	unsigned rows, whole;
} gc_rows[3] = {{PH_GRAPH_REV_ROWS, PH_GRAPH_REV},
		{PH_GRAPH_PARENT_ROWS, PH_GRAPH_PARENT},
		{PH_GRAPH_FWD_ROWS, PH_GRAPH_FWD}};

bool ph_graphcache_check(struct ph_graph *g, unsigned need)
{
	struct gc_lazy *lz = g->lazy;
	if ((need & PH_GRAPH_REV) && lz && lz->no_rev && !g->rev)
		return false; /* not in the file */
	unsigned todo = g->pending & need;
	if (!todo)
		return true;
	if (!lz)
		return false;
	uint32_t **dst[5] = {&g->fwd_off, &g->fwd, &g->rev_off, &g->rev,
			     &g->parent};
	for (int k = 0; k < 3; k++) {
		if (!(todo & gc_rows[k].rows))
			continue;
		/* rows checked as read: only where a run summed the sections
		 * whole (else their sums are read now, and they are checked) */
		unsigned secs = gc_mask(gc_rows[k].whole);
		if ((lz->sealed & secs) == secs ||
		    !(g->pending & gc_rows[k].whole)) {
			for (int i = 0; i < 5; i++)
				if (secs & (1u << i))
					*dst[i] = (uint32_t *)lz->job[i].data;
			g->pending &= ~gc_rows[k].rows;
			todo &= ~gc_rows[k].rows;
		} else
			todo |= gc_rows[k].whole & g->pending;
	}
	unsigned mask = gc_mask(todo);
	if (!gc_run(lz, mask))
		return false;
	for (int i = 0; i < 5; i++)
		if (mask & (1u << i)) {
			*dst[i] = (uint32_t *)lz->job[i].data;
			g->pending &= ~gc_bit[i];
		}
	for (int k = 0; k < 3; k++)
		if (!(g->pending & gc_rows[k].whole))
			g->pending &= ~gc_rows[k].rows;
	return true;
}

/* graph-HASH beside index-HASH, the index cache's file of rt's core */
static char *gc_path_of(const struct ph_runtime *rt)
{
	char *path = ph_heapcache_path(rt);
	char *slash = path ? strrchr(path, '/') : NULL;
	if (!slash || strncmp(slash + 1, "index-", 6)) {
		free(path);
		return NULL;
	}
	memcpy(slash + 1, "graph", 5);
	return path;
}

struct ph_graph_prefetch {
	struct gc_file f;
	unsigned mask; /* the sections asked for, by bit */
	bool small_ok;
	struct ph_thread thread;
};

static void *gc_prefetch_worker(void *arg)
{
	struct ph_graph_prefetch *p = arg;
	p->small_ok = gc_run(p->f.lz, GC_SMALL);
	/* (a section found damaged stays to do: ph_graphcache_check finds
	 * it again, and the graph is built) */
	if (p->small_ok && p->mask)
		gc_run(p->f.lz, p->mask);
	return NULL;
}

struct ph_graph_prefetch *ph_graphcache_prefetch(const struct ph_runtime *rt,
						 unsigned need)
{
	uint64_t sum, n;
	if (!ph_heapcache_identity(rt, &sum, &n))
		return NULL;
	char *path = gc_path_of(rt);
	struct ph_graph_prefetch *p = path ? calloc(1, sizeof(*p)) : NULL;
	bool ok = p && gc_open(path, &p->f) && p->f.hd.table_sum == sum &&
		  p->f.hd.n == n && n > 100000;
	free(path);
	if (ok) {
		p->mask = gc_mask(need);
		if (p->f.lz->no_rev)
			p->mask &= ~gc_mask(PH_GRAPH_REV);
		/* one thread: the other reads the index */
		p->f.lz->serial = true;
		ok = ph_thread_start(&p->thread, gc_prefetch_worker, p, 1);
	}
	if (!ok && p) {
		gc_file_free(&p->f);
		free(p);
		p = NULL;
	}
	return p;
}

/* The prefetch's thread joined, its file taken (*f), whether its small
 * sections were intact (-1: none). */
static int gc_prefetch_take(struct ph_graph_prefetch *p, struct gc_file *f)
{
	if (!p)
		return -1;
	ph_thread_join(&p->thread);
	p->f.lz->serial = false;
	*f = p->f;
	int small_ok = p->small_ok;
	free(p);
	return small_ok;
}

void ph_graphcache_prefetch_drop(struct ph_graph_prefetch *p)
{
	struct gc_file f;
	if (gc_prefetch_take(p, &f) >= 0)
		gc_file_free(&f);
}

bool ph_graphcache_load(struct ph_heap *h, struct ph_graph_prefetch *p,
			struct ph_graph **ret)
{
	struct gc_file f;
	int small_ok = gc_prefetch_take(p, &f);
	if (small_ok < 0) {
		char *path = gc_path(h);
		bool opened = path && gc_open(path, &f);
		free(path);
		if (!opened)
			return false;
	}
	return gc_bind(h, &f, small_ok, ret);
}

/* ---- writing ----------------------------------------------------------- */

static struct gc_pair *gc_pairs(const struct ph_u64map *m, uint64_t *ret)
{
	struct gc_pair *p = malloc(m->count * sizeof(*p) + 1);
	uint64_t k = 0;
	for (size_t i = 0; p && i < m->cap; i++)
		if (m->keys[i] && k < m->count)
			p[k++] = (struct gc_pair){m->keys[i], m->vals[i]};
	*ret = k;
	return p;
}

bool ph_graphcache_store(const struct ph_graph *g)
{
	const struct ph_heap *h = g->h;
	const struct gc_lazy *lz = g->lazy;
	/* a graph with its paths' tree (a diff's: no referrers) or whole;
	 * a mapped one only when its file had no referrers and it has them
	 * now, its mapped arrays checked (their sums are written again) */
	if (!g->parent || h->n >= UINT32_MAX ||
	    (g->map && (!lz || !lz->no_rev || !g->complete ||
			(g->pending & PH_GRAPH_ALL))))
		return false;
	char *path = gc_path(h);
	if (!path)
		return false;
	struct gc_head hd = {.magic = GC_MAGIC,
			     .format = GC_FORMAT,
			     .head_size = sizeof(hd),
			     .nsec = GC_NSEC,
			     .table_sum = h->cache_sum,
			     .n = h->n,
			     .nedges = g->nedges,
			     .nroots = g->nroots,
			     .flags = g->complete ? 0 : GC_NO_REV};
	struct ph_buf names;
	ph_buf_init(&names);
	uint32_t *rt = malloc(g->nroots * 4 + 1);
	struct gc_pair *pe = gc_pairs(&g->extern_refs, &hd.nextern);
	struct gc_pair *pc = gc_pairs(&g->cons_in, &hd.ncons);
	struct gc_pair *pd = gc_pairs(&g->cdata_in, &hd.ncdata);
	bool ok = false;
	if (!rt || !pe || !pc || !pd)
		goto out;
	for (size_t i = 0; i < g->nroots; i++) {
		rt[i] = g->roots[i].target;
		ph_buf_puts(&names, g->roots[i].name ? g->roots[i].name : "");
		ph_buf_putc(&names, '\0');
	}
	if (names.failed)
		goto out;
	hd.names_bytes = names.len;
	uint64_t bytes[GC_NSEC];
	gc_sizes(&hd, bytes);
	static const uint8_t zeros[8];
	const void *ptr[GC_NSEC] = {g->fwd_off, g->fwd, g->rev_off, g->rev,
				    g->parent,	rt,	names.data, pe,
				    pc,		pd};
	const void *parts[1 + 2 * GC_NSEC];
	uint64_t pbytes[1 + 2 * GC_NSEC], total = sizeof(hd);
	int np = 1;
	for (int i = 0; i < GC_NSEC; i++) {
		if (!bytes[i])
			ptr[i] = zeros; /* (the referrers of GC_NO_REV) */
		hd.sec_bytes[i] = bytes[i];
		hd.sec_sum[i] = ph_heapcache_sum(ptr[i], bytes[i]);
		parts[np] = ptr[i];
		pbytes[np++] = bytes[i];
		parts[np] = zeros;
		pbytes[np++] = pad8(bytes[i]) - bytes[i];
		total += pad8(bytes[i]);
	}
	if (total > (uint64_t)GC_MAX_PER_OBJECT * (h->n + 1000))
		goto out;
	hd.head_sum = ph_heapcache_sum(&hd, offsetof(struct gc_head, head_sum));
	parts[0] = &hd;
	pbytes[0] = sizeof(hd);
	ok = ph_heapcache_write(h->rt->target, path, parts, pbytes, np,
				"graph-");
out:
	free(rt);
	free(pe);
	free(pc);
	free(pd);
	ph_buf_free(&names);
	free(path);
	return ok;
}

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
uint64_t ph_graphcache_fuzz_resum(uint8_t *file, size_t len, bool sums)
{
	return PH_CACHE_FUZZ_RESUM(struct gc_head, file, len, sums, GC_NSEC);
}
#endif
