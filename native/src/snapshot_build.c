/* snapshot_build.c - a snapshot made from a heap and its graph: the objects
 * in address order, their fingerprints, the process's identity, and the
 * shortest-path tree with the names of the objects it branches at.
 *
 * The fingerprint reads an object's contents, which is the object layer's
 * knowledge: it is here, alone, so that heap.c stays as it is. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <unistd.h>

#include "answercache.h"
#include "objtable.h"
#include "snapshot.h"

/* ---- fingerprints -------------------------------------------------------- */

bool ph_snap_kind_fp(uint32_t kind)
{
	switch (kind) {
	case PH_KIND_STR:
	case PH_KIND_BYTES:
	case PH_KIND_INT:
	case PH_KIND_BOOL:
	case PH_KIND_FLOAT:
	case PH_KIND_TUPLE:
	case PH_KIND_FROZENSET:
	case PH_KIND_CODE:
	case PH_KIND_METHOD:
		return true;
	default:
		return false;
	}
}

/* One word into the hash (the end result is mixed once more). */
static inline uint64_t mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
	return h ^ h >> 32;
}

static uint64_t rd64(struct ph_heap *h, uint64_t addr)
{
	uint64_t v = 0;
	ph_mem_u64(h->mem, addr, &v);
	return v;
}

/* The first 32 and the last 16 bytes of n bytes at addr, and n. */
static uint64_t mix_bytes(struct ph_heap *h, uint64_t hash, uint64_t addr,
			  uint64_t n)
{
	hash = mix(hash, n);
	if (!addr || !n)
		return hash;
	uint8_t buf[48] = {0};
	size_t head = n < 32 ? (size_t)n : 32, len = head;
	const uint8_t *p = ph_mem_ptr(h->mem, addr, head);
	if (!p)
		return mix(hash, 1);
	memcpy(buf, p, head);
	if (n > 32) {
		size_t tail = n - 32 < 16 ? (size_t)(n - 32) : 16;
		const uint8_t *q = ph_mem_ptr(h->mem, addr + n - tail, tail);
		if (q)
			memcpy(buf + 32, q, tail);
		len = 32 + tail;
	}
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w;
		memcpy(&w, buf + i, 8);
		hash = mix(hash, w);
	}
	return hash;
}

/*
 * What identifies an object among the objects of its type that could
 * have had its address: the contents of the kinds whose contents never
 * change. A str's cached hash and UTF-8 copy and its interned state,
 * which CPython fills in or changes later, are left out. 16 bits: a block
 * reused by an object of the same type and size goes unseen one time in
 * 65,536 (docs/design.md).
 */
static uint64_t fp_hash(struct ph_heap *h, uint64_t addr, uint32_t tidx,
			bool inner);

/* An item of a tuple (a method's self): its address, which a new item may
 * have taken too, so also its type and, for a scalar, its contents. */
static uint64_t mix_item(struct ph_heap *h, uint64_t hash, uint64_t item)
{
	hash = mix(hash, item);
	uint32_t o = ph_objtable_lookup(h, item); /* (ph_heap_lookup, inline) */
	if (o == PH_NONE)
		return hash;
	uint32_t t = ph_tidx(h, o);
	hash = mix(hash, h->types[t].addr);
	switch (h->types[t].kind) {
	case PH_KIND_STR:
	case PH_KIND_BYTES:
	case PH_KIND_INT:
	case PH_KIND_BOOL:
	case PH_KIND_FLOAT:
		return mix(hash, fp_hash(h, item, t, true));
	default:
		return hash;
	}
}

uint32_t ph_snap_fingerprint(struct ph_heap *h, uint64_t addr, uint32_t tidx)
{
	uint64_t hash = ph_hash64(fp_hash(h, addr, tidx, false));
	return (uint32_t)(hash ^ hash >> 32);
}

static uint64_t fp_hash(struct ph_heap *h, uint64_t addr, uint32_t tidx,
			bool inner)
{
	const struct ph_layout *L = h->L;
	uint32_t kind = tidx < h->ntypes ? h->types[tidx].kind : 0;
	uint64_t hash = mix(0x51ed270b27e1a5c3ULL, kind);
	switch (kind) {
	case PH_KIND_STR: {
		uint64_t length = rd64(h, addr + L->str_length);
		uint32_t state = 0;
		ph_mem_u32(h->mem, addr + L->str_state, &state);
		unsigned width = (state >> 2) & 7;
		bool compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
		uint64_t data = compact ? addr + (ascii ? L->sizeof_ascii
							: L->sizeof_compact)
					: rd64(h, addr + L->str_data);
		hash = mix(hash, state & 0x7c);
		if (length > (1ULL << 40) ||
		    (width != 1 && width != 2 && width != 4))
			hash = mix(hash, length);
		else
			hash = mix_bytes(h, hash, data, length * width);
		break;
	}
	case PH_KIND_BYTES:
		hash = mix_bytes(h, hash, addr + L->bytes_data,
				 rd64(h, addr + L->ob_type + 8) &
					 ((1ULL << 40) - 1));
		break;
	case PH_KIND_INT:
	case PH_KIND_BOOL: {
		uint64_t tag = rd64(
			h, addr + (L->long_tag ? L->long_tag : L->ob_type + 8));
		int64_t nd = L->long_tag ? (int64_t)(tag >> 3) : (int64_t)tag;
		if (nd < 0)
			nd = -nd;
		hash = mix(hash, tag);
		hash = mix_bytes(h, hash, addr + L->long_digits,
				 4 * (uint64_t)(nd > 4 ? 4 : nd));
		break;
	}
	case PH_KIND_FLOAT:
		hash = mix(hash, rd64(h, addr + L->float_value));
		break;
	case PH_KIND_TUPLE: {
		int64_t size = (int64_t)rd64(h, addr + L->ob_type + 8);
		hash = mix(hash, (uint64_t)size);
		for (int64_t i = 0; i < size && i < 4 && !inner; i++)
			hash = mix_item(h, hash,
					rd64(h, addr + L->tuple_items + 8 * i));
		if (size > 4 && size < (1LL << 32) && !inner)
			hash = mix_item(
				h, hash,
				rd64(h, addr + L->tuple_items +
						8 * (uint64_t)(size - 1)));
		break;
	}
	case PH_KIND_FROZENSET:
		hash = mix(hash, rd64(h, addr + L->set_used));
		hash = mix(hash, rd64(h, addr + L->set_mask));
		hash = mix(hash, rd64(h, addr + L->set_table));
		break;
	case PH_KIND_METHOD:
		hash = mix(hash, rd64(h, addr + L->method_func));
		if (!inner)
			hash = mix_item(h, hash,
					rd64(h, addr + L->method_self));
		break;
	case PH_KIND_CODE: {
		uint32_t line = 0;
		ph_mem_u32(h->mem, addr + L->code_firstlineno, &line);
		hash = mix(hash, rd64(h, addr + L->code_name));
		hash = mix(hash, rd64(h, addr + L->code_filename));
		if (L->code_qualname)
			hash = mix(hash, rd64(h, addr + L->code_qualname));
		hash = mix(hash, line);
		break;
	}
	default:
		return 0;
	}
	return hash;
}

/* ---- the process's identity ---------------------------------------------- */

/* The pid and AT_RANDOM of a core, from its notes. */
static void core_identity(struct ph_target *t, int64_t *ret_pid,
			  uint64_t *ret_random)
{
	size_t nph = 0;
	if (!t->elf || elf_getphdrnum(t->elf, &nph))
		return;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(t->elf, (int)i, &ph) ||
		    ph.p_type != PT_NOTE || ph.p_offset > t->size ||
		    ph.p_filesz > t->size - ph.p_offset)
			continue;
		Elf_Data *d = elf_getdata_rawchunk(t->elf, (int64_t)ph.p_offset,
						   ph.p_filesz, ELF_T_NHDR);
		if (!d)
			continue;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;
		while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) >
		       0) {
			const uint8_t *desc =
				(const uint8_t *)d->d_buf + desc_off;
			if (nh.n_type == NT_PRPSINFO &&
			    nh.n_descsz >= sizeof(struct elf_prpsinfo)) {
				struct elf_prpsinfo ps;
				memcpy(&ps, desc, sizeof(ps));
				*ret_pid = ps.pr_pid;
			} else if (nh.n_type == NT_AUXV) {
				for (size_t k = 0; k + 16 <= nh.n_descsz;
				     k += 16) {
					uint64_t at, val;
					memcpy(&at, desc + k, 8);
					memcpy(&val, desc + k + 8, 8);
					if (at == AT_RANDOM)
						*ret_random = val;
				}
			}
		}
	}
}

/* A live process's AT_RANDOM, from /proc/PID/auxv. */
static uint64_t live_random(int pid)
{
	char fn[64];
	snprintf(fn, sizeof(fn), "/proc/%d/auxv", pid);
	int fd = open(fn, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint64_t aux[2 * 64], val = 0;
	ssize_t n = read(fd, aux, sizeof(aux));
	close(fd);
	for (ssize_t k = 0; k + 1 < n / 8; k += 2)
		if (aux[k] == AT_RANDOM)
			val = aux[k + 1];
	return val;
}

static struct ph_error *identify(struct ph_heap *h, struct ph_snap *s)
{
	struct ph_runtime *rt = h->rt;
	struct ph_target *t = rt->target;
	uint64_t random_at = 0;
	if (t->pid) {
		s->pid = t->pid;
		random_at = live_random(t->pid);
	} else
		core_identity(t, &s->pid, &random_at);
	if (random_at) {
		struct ph_error *e =
			ph_mem_read(h->mem, random_at, s->at_random, 16);
		s->has_random = !e;
		ph_error_destroy(e);
	}
	if (t->exe_index >= 0 && (size_t)t->exe_index < t->nmods) {
		const struct ph_module *m = &t->mods[t->exe_index];
		if (m->build_id_len <= sizeof(s->build_id)) {
			memcpy(s->build_id, m->build_id, m->build_id_len);
			s->build_id_len = m->build_id_len;
		}
		if (m->path && !(s->exe = strdup(m->path)))
			return ph_error_nomem();
	}
	s->runtime_addr = rt->runtime_addr;
	s->hexversion = rt->hexversion;
	s->gc_model = rt->layout->major == 3 && rt->layout->minor >= 14
			      ? PH_SNAP_GC_INCREMENTAL
			      : PH_SNAP_GC_GENERATIONS;
	s->fp_version = PH_SNAP_FP_VERSION;
	if (!(s->python = strdup(rt->version)) ||
	    !(s->pyheap_version = strdup(ph_version())))
		return ph_error_nomem();
	return NULL;
}

/* ---- the objects --------------------------------------------------------- */

struct addr_idx {
	uint64_t addr;
	uint32_t idx;
};

static int by_addr(const void *a, const void *b)
{
	const struct addr_idx *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

struct run {
	size_t from, to; /* heap numbers [from, to), ascending addresses */
};

static int run_by_addr(const void *a, const void *b, void *h)
{
	const uint64_t *addr = ((struct ph_heap *)h)->addr;
	uint64_t x = addr[((const struct run *)a)->from],
		 y = addr[((const struct run *)b)->from];
	return x < y ? -1 : x > y;
}

/* Heap numbers in address order. The objects of a pymalloc pool are
 * numbered in address order, pool after pool (heap.c's pools_freeze), and
 * pools do not overlap: each pool is a run put in order whole. The rest
 * (static and large objects, and a pool whose numbers do not ascend) are
 * sorted and merged in. Returns how many (an address met twice is kept
 * once). */
static struct ph_error *address_order(struct ph_heap *h, uint32_t *order,
				      size_t *ret_n)
{
	size_t n = h->n, nruns = 0, nt = 0;
	size_t base = 0, end = 0;
	if (h->pools_frozen && h->npools) {
		base = h->pools[0].first;
		end = base + h->npool_objects;
		if (end > n || base > end)
			base = end = 0;
	}
	/* (the rest is few: its pages are touched only as far as used) */
	struct run *runs = malloc((h->npools + 1) * sizeof(*runs));
	struct addr_idx *tail = malloc((n + 1) * sizeof(*tail));
	if (!runs || !tail) {
		free(runs);
		free(tail);
		return ph_error_nomem();
	}
	for (size_t i = 0; end && i < h->npools; i++) {
		size_t from = h->pools[i].first,
		       to = i + 1 < h->npools ? h->pools[i + 1].first : end;
		if (from < base || to > end || from > to)
			continue;
		size_t k = from + 1;
		while (k < to && h->addr[k] > h->addr[k - 1])
			k++;
		if (k >= to && to > from)
			runs[nruns++] = (struct run){from, to};
		else
			for (k = from; k < to; k++)
				tail[nt++] = (struct addr_idx){h->addr[k],
							       (uint32_t)k};
	}
	for (size_t i = 0; i < n; i++)
		if (i < base || i >= end)
			tail[nt++] = (struct addr_idx){h->addr[i], (uint32_t)i};
	qsort_r(runs, nruns, sizeof(*runs), run_by_addr, h);
	/* a run that overlaps the one before joins the rest */
	size_t kept = 0;
	for (size_t r = 0; r < nruns; r++) {
		if (kept &&
		    h->addr[runs[r].from] <= h->addr[runs[kept - 1].to - 1]) {
			for (size_t k = runs[r].from; k < runs[r].to; k++)
				tail[nt++] = (struct addr_idx){h->addr[k],
							       (uint32_t)k};
			continue;
		}
		runs[kept++] = runs[r];
	}
	qsort(tail, nt, sizeof(*tail), by_addr);
	size_t b = 0, k = 0;
	uint64_t last = 0;
#define PUT(idx_, addr_)                                                       \
	do {                                                                   \
		if (!k || (addr_) != last)                                     \
			order[k++] = (uint32_t)(idx_);                         \
		last = (addr_);                                                \
	} while (0)
	for (size_t r = 0; r <= kept; r++) {
		/* the rest below the run (all of it after the last run) */
		uint64_t lo = r < kept ? h->addr[runs[r].from] : UINT64_MAX;
		for (; b < nt && tail[b].addr < lo; b++)
			PUT(tail[b].idx, tail[b].addr);
		if (r == kept)
			break;
		size_t from = runs[r].from, to = runs[r].to;
		if (b >= nt || tail[b].addr > h->addr[to - 1]) {
			/* nothing of the rest within it: whole (ascending, so
			 * only its first can repeat the last address) */
			PUT(from, lo);
			for (size_t a = from + 1; a < to; a++)
				order[k++] = (uint32_t)a;
			last = h->addr[to - 1];
			continue;
		}
		for (size_t a = from; a < to;) {
			if (b >= nt || h->addr[a] <= tail[b].addr) {
				PUT(a, h->addr[a]);
				a++;
			} else {
				PUT(tail[b].idx, tail[b].addr);
				b++;
			}
		}
	}
#undef PUT
	free(tail);
	free(runs);
	*ret_n = k;
	return NULL;
}

/* ---- every object's fingerprint, by its number in the heap (0 for the
 * kinds without one: a snapshot type is one heap type, of its kind), kept
 * in the answers' cache of a core whose index is cached, so that a later
 * diff or snapshot of it reads them instead of every object's contents */

#define FP_FORMAT 1

struct fp_heap_work {
	struct ph_heap *h;
	uint32_t *fp;
	size_t from, to;
	int only; /* an interpreter's objects alone (0 the others'); -1 all */
};

static void *fp_heap_worker(void *arg)
{
	struct fp_heap_work *w = arg;
	struct ph_heap *h = w->h;
	for (size_t i = w->from; i < w->to; i++) {
		uint32_t ti = ph_tidx(h, i);
		w->fp[i] = ph_snap_kind_fp(h->types[ti].kind) &&
					   (w->only < 0 ||
					    ph_heap_interp(h, i) ==
						    (unsigned)w->only)
				   ? ph_snap_fingerprint(h, h->addr[i], ti)
				   : 0;
	}
	return NULL;
}

/* s->heap_fp: from h's answers where its table is in the index cache,
 * else made for every object (and kept there where it is; where it is
 * not, for interpreter only's alone when only >= 0); nothing, and
 * ph_snap_fp computes each one asked for, when lazy and not cached */
static struct ph_error *heap_fps(struct ph_heap *h, struct ph_snap *s,
				 bool lazy, int only)
{
	if (!h->cache_sum && lazy)
		return NULL;
	struct ph_answers a;
	ph_stage(NULL);
	if (h->cache_sum && ph_answercache_load(h, "fp", FP_FORMAT, 1, &a)) {
		if (a.bytes[0] == h->n * sizeof(uint32_t) && a.val[0] == h->n &&
		    a.val[1] == PH_SNAP_FP_VERSION) {
			s->heap_fp = a.sec[0];
			s->fp_ans = a;
			ph_stage("fingerprints cache read");
			return NULL;
		}
		ph_answercache_release(&a);
	}
	size_t bytes = (h->n + 1) * sizeof(uint32_t);
	uint32_t *fp = ph_big_alloc(bytes);
	if (!fp)
		return lazy ? NULL : ph_error_nomem();
	enum { T = 16 }; /* chunks, each thread taking the next */
	struct fp_heap_work w[T];
	for (size_t k = 0; k < T; k++)
		w[k] = (struct fp_heap_work){h, fp, h->n * k / T,
					     h->n * (k + 1) / T,
					     h->cache_sum ? -1 : only};
	ph_run_chunks(fp_heap_worker, w, sizeof(w[0]), T, h->n > 100000);
	ph_stage("fingerprints");
	const void *sec[1] = {fp};
	uint64_t secb[1] = {h->n * sizeof(uint32_t)};
	uint64_t val[PH_ANSWER_VALS] = {h->n, PH_SNAP_FP_VERSION};
	if (h->cache_sum &&
	    ph_answercache_store(h, "fp", FP_FORMAT, 1, sec, secb, val))
		ph_stage("fingerprints cache written");
	s->heap_fp = fp;
	s->heap_fp_bytes = bytes;
	return NULL;
}

struct type_rank {
	uint32_t tidx;
	uint64_t count, bytes;
	uint64_t vote, votes; /* the majority vote of its sizes */
	const char *name;
};

static int by_count(const void *a, const void *b)
{
	const struct type_rank *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->tidx > y->tidx) - (x->tidx < y->tidx);
}

static struct ph_error *build_types(struct ph_heap *h, struct ph_snap *s,
				    uint32_t *rank)
{
	size_t nt = h->ntypes;
	struct type_rank *tr = calloc(nt + 1, sizeof(*tr));
	if (!tr)
		return ph_error_nomem();
	for (size_t i = 0; i < nt; i++)
		tr[i] = (struct type_rank){.tidx = (uint32_t)i,
					   .name = tname(&h->types[i])};
	/* counts, bytes and each type's usual size (the size most of its
	 * objects have: a majority vote), in one pass by type number */
	for (size_t i = 0; i < s->n; i++) {
		uint32_t hi = s->heap_index[i];
		struct type_rank *t = &tr[ph_tidx(h, hi)];
		uint64_t size = ph_heap_obj_size(h, hi);
		if (size > PH_SNAP_MAX_SIZE)
			size = PH_SNAP_MAX_SIZE;
		t->count++;
		t->bytes += size;
		if (!t->votes)
			t->vote = size, t->votes = 1;
		else if (t->vote == size)
			t->votes++;
		else
			t->votes--;
	}
	qsort(tr, nt, sizeof(*tr), by_count);
	size_t used = 0;
	while (used < nt && tr[used].count)
		used++;
	s->types = calloc(used + 1, sizeof(*s->types));
	if (!s->types) {
		free(tr);
		return ph_error_nomem();
	}
	for (size_t i = 0; i < used; i++) {
		const struct ph_type *t = &h->types[tr[i].tidx];
		struct ph_snap_type *st = &s->types[i];
		rank[tr[i].tidx] = (uint32_t)i;
		st->addr = t->addr;
		st->kind = t->kind;
		st->flags = (ph_snap_kind_fp(t->kind) ? PH_SNAP_TYPE_FP : 0) |
			    (t->heap ? PH_SNAP_TYPE_HEAP : 0);
		st->count = tr[i].count;
		st->bytes = tr[i].bytes;
		st->usual = tr[i].vote;
		s->bytes += tr[i].bytes;
		s->ntypes = i + 1;
		if (!(st->name = strdup(tr[i].name))) {
			free(tr);
			return ph_error_nomem();
		}
	}
	free(tr);
	return NULL;
}

/* ---- the tree and its names ---------------------------------------------- */

/* The snapshot index of the object at addr (the objects are in address
 * order), or PH_NONE. */
static uint32_t index_of(const struct ph_snap *s, uint64_t addr)
{
	size_t lo = ph_snap_lower_bound(s, addr);
	return lo < s->n && ph_snap_addr(s, lo) == addr ? (uint32_t)lo
							: PH_NONE;
}

struct name_ctx {
	struct ph_heap *h;
	struct ph_snap *s;
	struct ph_u64map *slot_of; /* named child's address -> slot + 1 */
	const uint32_t *holder;	   /* slot: its parent's heap number */
	uint32_t parent;	   /* the heap number being traversed */
	uint8_t *got;		   /* slot: 1 a key's label, 2 a value's */
	struct ph_buf tmp;
	bool nomem;
};

static void name_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		    uint64_t data)
{
	struct name_ctx *c = arg;
	if (!ph_edge_is_strong(kind))
		return;
	uint32_t *slot = ph_u64map_get(c->slot_of, target);
	if (!slot)
		return;
	size_t k = *slot - 1;
	struct ph_snap *s = c->s;
	/* a dict holds a key as key and names its value by it: the value's
	 * label wins, as in `path` */
	if (c->holder[k] != c->parent || c->got[k] == 2 ||
	    (c->got[k] == 1 && kind == PH_EDGE_KEY))
		return;
	c->tmp.len = 0;
	ph_edge_label_write(c->h, kind, data, &c->tmp);
	char *l = strdup(c->tmp.data ? c->tmp.data : "?");
	if (!l) {
		c->nomem = true;
		return;
	}
	free(s->labels[k]);
	s->labels[k] = l;
	c->got[k] = kind == PH_EDGE_KEY ? 1 : 2;
}

static int by_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

struct pair {
	uint32_t parent, slot;
};

static int by_parent(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	return (x->parent > y->parent) - (x->parent < y->parent);
}

/* The objects the tree branches at (at least PH_SNAP_NAMES_MIN children)
 * and their ancestors, each with how its parent holds it. */
static struct ph_error *build_names(struct ph_heap *h, struct ph_graph *g,
				    struct ph_snap *s)
{
	size_t n = h->n;
	uint8_t *kids = calloc(n + 1, 1);
	if (!kids)
		return ph_error_nomem();
	/* children counted up to 127; bit 7: named */
	for (size_t i = 0; i < n; i++) {
		uint32_t p = g->parent[i];
		if (p != PH_NONE && !(p & PH_ROOT_BIT) && p < n &&
		    (kids[p] & 0x7f) < 0x7f)
			kids[p]++;
	}
	s->names_min = PH_SNAP_NAMES_MIN;
	size_t nn = 0;
	for (size_t i = 0; i < n; i++) {
		if ((kids[i] & 0x7f) < PH_SNAP_NAMES_MIN)
			continue;
		for (uint32_t cur = (uint32_t)i;
		     cur != PH_NONE && !(cur & PH_ROOT_BIT) && cur < n &&
		     !(kids[cur] & 0x80);
		     cur = g->parent[cur]) {
			kids[cur] |= 0x80;
			nn++;
		}
	}
	uint32_t *list = malloc((nn + 1) * sizeof(*list));
	s->named = malloc((nn + 1) * sizeof(*s->named));
	s->labels = calloc(nn + 1, sizeof(*s->labels));
	uint32_t *holder = malloc((nn + 1) * sizeof(*holder));
	struct pair *pairs = malloc((nn + 1) * sizeof(*pairs));
	uint8_t *got = calloc(nn + 1, 1);
	struct ph_u64map slot_of;
	ph_u64map_init(&slot_of);
	struct ph_error *err = NULL;
	if (!list || !s->named || !s->labels || !holder || !pairs || !got) {
		err = ph_error_nomem();
		goto out;
	}
	/* in address order: the snapshot's */
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (kids[i] & 0x80)
			list[k++] = (uint32_t)i;
	for (size_t i = 0; i < k; i++) {
		uint32_t at = index_of(s, h->addr[list[i]]);
		if (at == PH_NONE)
			continue;
		s->named[s->nnamed++] = at;
	}
	qsort(s->named, s->nnamed, sizeof(*s->named), by_u32);
	size_t np = 0;
	for (size_t i = 0; i < s->nnamed; i++) {
		uint32_t hi = s->heap_index[s->named[i]];
		uint32_t p = g->parent[hi];
		holder[i] = p;
		if (p & PH_ROOT_BIT) {
			if (!(s->labels[i] = strdup(""))) {
				err = ph_error_nomem();
				goto out;
			}
			continue;
		}
		pairs[np++] = (struct pair){p, (uint32_t)i};
		if ((err = ph_u64map_put(&slot_of, h->addr[hi], (uint32_t)i + 1,
					 NULL)))
			goto out;
	}
	qsort(pairs, np, sizeof(*pairs), by_parent);
	struct name_ctx c = {.h = h,
			     .s = s,
			     .slot_of = &slot_of,
			     .holder = holder,
			     .got = got};
	ph_buf_init(&c.tmp);
	for (size_t i = 0; i < np && !c.nomem; i++) {
		if (i && pairs[i].parent == pairs[i - 1].parent)
			continue;
		if (!(i & 1023) && ph_interrupted()) {
			err = ph_error_interrupted();
			break;
		}
		uint32_t hp = pairs[i].parent;
		if (hp >= n)
			continue;
		c.parent = hp;
		ph_heap_referents(h, h->addr[hp], ph_tidx(h, hp), name_cb, &c);
	}
	ph_buf_free(&c.tmp);
	if (!err && c.nomem)
		err = ph_error_nomem();
	/* a parent that no longer names it (no strong reference found) */
	for (size_t i = 0; !err && i < s->nnamed; i++)
		if (!s->labels[i] && !(s->labels[i] = strdup("?")))
			err = ph_error_nomem();
out:
	ph_u64map_free(&slot_of);
	free(list);
	free(holder);
	free(pairs);
	free(got);
	free(kids);
	return err;
}

/* A root's name without the debugger's frame number ("thread 1 frame #6
 * serve() ..." as "thread 1 frame serve() ..."): it changes from one stop
 * to the next, and a snapshot is compared with others. */
static char *root_name_copy(const char *name)
{
	const char *p = strstr(name, " frame #");
	if (!p)
		return strdup(name);
	const char *q = p + 8;
	while (*q >= '0' && *q <= '9')
		q++;
	if (q == p + 8 || *q != ' ')
		return strdup(name);
	size_t head = (size_t)(p - name) + 7; /* through " frame " */
	char *c = malloc(strlen(name) + 1);
	if (!c)
		return NULL;
	memcpy(c, name, head);
	strcpy(c + head, q + 1);
	return c;
}

/* The tree is the graph's; the roots' names are copied. */
static struct ph_error *build_tree(struct ph_graph *g, struct ph_snap *s)
{
	s->graph = g;
	s->roots = calloc(g->nroots + 1, sizeof(*s->roots));
	if (!s->roots)
		return ph_error_nomem();
	for (size_t r = 0; r < g->nroots; r++) {
		if (!(s->roots[r] = root_name_copy(
			      g->roots[r].name ? g->roots[r].name : "?")))
			return ph_error_nomem();
		s->nroots = r + 1;
	}
	return NULL;
}

struct ph_error *ph_snap_add_tree(struct ph_snap *s, struct ph_graph *g)
{
	if (!g || !g->parent || s->graph)
		return NULL;
	return build_tree(g, s);
}

struct ph_error *ph_snap_create(struct ph_heap *h, struct ph_graph *g,
				unsigned flags, struct ph_snap **ret)
{
	struct ph_snap *s = calloc(1, sizeof(*s));
	struct ph_error *err = NULL;
	if (!s)
		return ph_error_nomem();
	s->heap = h;
	if (!(s->rank = calloc(h->ntypes + 1, sizeof(*s->rank)))) {
		err = ph_error_nomem();
		goto fail;
	}
	if ((err = identify(h, s)))
		goto fail;
	ph_stage("snapshot: identity");
	s->index_bytes = (h->n + 1) * sizeof(*s->heap_index);
	if (!(s->heap_index = ph_big_alloc(s->index_bytes))) {
		err = ph_error_nomem();
		goto fail;
	}
	if ((err = address_order(h, s->heap_index, &s->n)))
		goto fail;
	if (flags >> 16) {
		/* PH_SNAP_INTERP: that interpreter's objects only */
		unsigned k = (flags >> 16) - 1;
		size_t m = 0;
		s->has_interp = true;
		s->interp = h->rt->interps[k].id;
		for (size_t i = 0; i < s->n; i++)
			if (ph_heap_interp(h, s->heap_index[i]) == k)
				s->heap_index[m++] = s->heap_index[i];
		s->n = m;
	}
	ph_stage("snapshot: address order");
	if ((err = build_types(h, s, s->rank)))
		goto fail;
	ph_stage("snapshot: types");
	/* (ph_snap_fp reads them by heap number) */
	if ((err = heap_fps(h, s, flags & PH_SNAP_LAZY_FP,
			    (int)(flags >> 16) - 1)))
		goto fail;
	if (flags & PH_SNAP_WITH_TREE && g &&
	    g->parent) { /* (ph_graph_paths: enough) */
		if ((err = build_tree(g, s)))
			goto fail;
		if (flags & PH_SNAP_WITH_NAMES) {
			if ((err = build_names(h, g, s)))
				goto fail;
			ph_stage("snapshot: names");
		}
	}
	*ret = s;
	return NULL;
fail:
	ph_snap_destroy(s);
	return err;
}
