/*
 * heapcache.c - the index cache: the object table a first run on a core
 * built (objects, types, pools, discovery's counts), kept in a file keyed
 * by the core's identity, so that a later run on the same core reads it
 * instead of scanning the heap again (as MAT keeps its index beside a heap
 * dump).
 *
 * The file: a header (the key, the counts, a checksum of itself and of
 * each section), then the sections as raw arrays, read straight into the
 * table's own arrays (no decoding: opening the index of 10M objects costs
 * what reading 210 MB from the page cache costs). Where it lives: beside
 * the layout cache ($PYHEAP_CACHE_DIR, else $XDG_CACHE_HOME/py-heap, else
 * ~/.cache/py-heap), in a directory of this user's that no one else may
 * write, one file per core path, at most PH_HEAPCACHE_FILES files (the
 * oldest go). Nothing in it is trusted: a file of another size, key,
 * version or checksum, or whose objects do not lie in its pools in order,
 * is ignored (and the heap scanned again).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "heapcache.h"
#include "internal.h"
#include "objtable.h"
#include <stddef.h>
#include "target.h"
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#define HC_MAGIC 0x31585048u /* "HPX1" */
/* 8: the pools' addresses and the others' slots kept (sections 11,
 * 12), each section at a multiple of 8 bytes; 7: the sums' lanes folded
 * in through hc_mix (format 6's fold let a flip in a word's top bits go
 * unseen); 6: the types as records (format
 * 5: their addresses, registered again from the core); 5: size[] 4 bytes
 * an object (format 4: 8) */
#define HC_FORMAT 8
#define HC_FILES 8
/* a file of fewer bytes is written by the run itself, never detached */
#define HC_DETACH_MIN (4u << 20)
/* how long a later look waits for a detached writer */
#define HC_WAIT_NS (30L * 1000000000L)
/* lock-NAME: held (flock) by the process that writes NAME, as long as it
 * writes. Not NAME*: prune would count it among the files it keeps. */
#define HC_LOCK "lock-"
/* seals (96 bytes each): a core's index, graph, four answers and eight
 * outputs, for HC_FILES cores */
#define HC_SEALS (16 * HC_FILES)

static void prune(const char *path, const char *prefix, size_t keep);
#define HC_NSTATS 15
#define HC_NSEC 13
#define HC_ALL ((1u << HC_NSEC) - 1) /* every section, by bit */
/* a free-threaded build's mimalloc page record (struct hc_mi) */
#define HC_MI_REC 40
/* no page of more blocks: a segment (32 MiB) of 8-byte blocks */
#define HC_MI_MAX_BLOCKS (1u << 22)
/* a type's record (struct hc_type) */
#define HC_TYPE_REC 128

/* The pools are kept as the table has them (struct ph_pool, numbered and
 * ranked: ph_objtable_freeze's work), and used where they are mapped; but
 * where a pool is smaller than 16 KiB (up to 3.9: 4 KiB), its bitmaps'
 * words beyond the pool are left out, and the pools are put back together
 * in memory (a 4 KiB pool in 88 bytes, not 312). A record: addr,
 * block_size, nblocks, first, 0, free_bits, obj_bits, rank (words of each),
 * padded to 8 bytes: with 16 words, a struct ph_pool. */
static uint64_t hc_pool_rec(uint64_t words)
{
	return 24 + 16 * words + ((2 * words + 7) & ~7ULL);
}
_Static_assert(sizeof(struct ph_pool) == 312 &&
		       offsetof(struct ph_pool, rank) == 280,
	       "struct ph_pool changed: change HC_FORMAT");

struct hc_head {
	uint32_t magic, format, head_size, nsec;
	char version[16];
	/* the key: the core's identity and what read it */
	uint64_t core_size, core_mtime_s, core_mtime_ns, core_ino, core_dev;
	uint64_t path_hash, modules_hash, layout_hash;
	/* the table */
	uint64_t n, base, npool_objects, ntypes, npools;
	uint64_t stats[HC_NSTATS];
	uint64_t interned_dict;
	uint32_t gc_generations, block_head, block_extra, pool_words;
	char arena_source[96];
	/* free-threaded: mimalloc's pages, their objects numbered in one run
	 * from mi_base, their bitmaps' words; subinterpreters: how many
	 * interpreters (a byte an object says whose), their interned dicts */
	uint64_t mi_base, mi_objects, nmi_pages, mi_words, ninterned_more;
	/* the interpreters' section: n bytes, or (when fewer bytes) runs */
	uint32_t ninterps, interp_runs;
	/* the slots of the others' map (section 12): hc_others_cap's */
	uint64_t others_cap;
	uint64_t sec_bytes[HC_NSEC];
	uint64_t sec_sum[HC_NSEC];
	uint64_t head_sum; /* of everything above */
};

/* A checksum that costs little beside the read: Fletcher's two sums over
 * 64-bit words, in eight lanes of SSE2 vectors (1.6 instructions a word;
 * the plain loop of format 2 took 6, and was not vectorised at -O2). It is
 * there to find a damaged file (a flipped bit, a block of zeros, bytes
 * moved), not an adversary: the directory is the user's own. */
typedef uint64_t hc_v2 __attribute__((vector_size(16)));

/* murmur3's fmix64: a bijection, every output bit depending on every
 * input bit */
static inline uint64_t hc_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

/* What a section's sum checks in the same pass, in a file not sealed (a
 * second pass over the type numbers' 40 MB at 10M was 3 ms on one
 * processor): nothing, each 32-bit number below lim (the type numbers),
 * or each 64-bit word a multiple of 8 (the objects' addresses: every
 * reader of a header takes one so). */
enum hc_check { HC_CHECK_NONE, HC_CHECK_BELOW, HC_CHECK_ALIGNED };

static inline __attribute__((always_inline)) uint64_t
hc_sum_x(const void *data, size_t n, enum hc_check check, uint32_t lim,
	 bool *ret_bad)
{
	typedef uint32_t v4 __attribute__((vector_size(16)));
	const uint8_t *p = data;
	/* the lanes in registers: spelled out, as -O2 does not unroll */
	hc_v2 a0 = {1, 2}, a1 = {3, 4}, a2 = {5, 6}, a3 = {7, 8};
	hc_v2 b0 = {0, 0}, b1 = b0, b2 = b0, b3 = b0, w0, w1, w2, w3;
	v4 vl = {lim, lim, lim, lim}, vb = {0, 0, 0, 0};
	hc_v2 vo = {0, 0};
	for (; n >= 64; n -= 64, p += 64) {
		memcpy(&w0, p, 16);
		memcpy(&w1, p + 16, 16);
		memcpy(&w2, p + 32, 16);
		memcpy(&w3, p + 48, 16);
		if (check == HC_CHECK_BELOW)
			vb |= (v4)((v4)w0 >= vl) | (v4)((v4)w1 >= vl) |
			      (v4)((v4)w2 >= vl) | (v4)((v4)w3 >= vl);
		if (check == HC_CHECK_ALIGNED)
			vo |= w0 | w1 | w2 | w3;
		a0 += w0;
		a1 += w1;
		a2 += w2;
		a3 += w3;
		b0 += a0;
		b1 += a1;
		b2 += a2;
		b3 += a3;
	}
	if (check == HC_CHECK_BELOW) {
		uint32_t bad = vb[0] | vb[1] | vb[2] | vb[3];
		for (size_t i = 0; i + 4 <= n; i += 4) {
			uint32_t x;
			memcpy(&x, p + i, 4);
			bad |= x >= lim;
		}
		*ret_bad = bad != 0;
	}
	if (check == HC_CHECK_ALIGNED) {
		uint64_t low = vo[0] | vo[1];
		for (size_t i = 0; i + 8 <= n; i += 8) {
			uint64_t x;
			memcpy(&x, p + i, 8);
			low |= x;
		}
		*ret_bad = (low & 7) != 0;
	}
	/* Each lane's sums folded in through a mixer whose every output bit
	 * depends on every input bit: format 6 multiplied and xored them,
	 * which carries a change only upwards, so a flip in a word's top
	 * bits changed both sums' top bits alike and could cancel (1 in 16:
	 * cache_checks' flipped interpreter byte on a 3.9 core went
	 * unseen). */
	hc_v2 a[4] = {a0, a1, a2, a3}, b[4] = {b0, b1, b2, b3};
	uint64_t r = PH_FNV_BASIS;
	for (int k = 0; k < 4; k++)
		for (int l = 0; l < 2; l++)
			r = hc_mix(hc_mix(r ^ a[k][l]) ^ b[k][l]);
	for (; n; n--, p++)
		r = (r ^ *p) * 0x100000001b3ULL;
	return hc_mix(r);
}

static uint64_t hc_sum(const void *data, size_t n)
{
	return hc_sum_x(data, n, HC_CHECK_NONE, 0, NULL);
}

/* A section's sum, and what it checks (the type numbers below ntypes,
 * the addresses aligned): bad if one is not. */
struct hc_sum_job {
	const void *data;
	uint64_t bytes, sum;
	enum hc_check check;
	bool bad;
	uint32_t ntypes;
};

static void *hc_sum_worker(void *arg)
{
	struct hc_sum_job *j = arg;
	/* (each with its check a constant: the loop's own copy) */
	if (j->check == HC_CHECK_BELOW)
		j->sum = hc_sum_x(j->data, j->bytes, HC_CHECK_BELOW, j->ntypes,
				  &j->bad);
	else if (j->check == HC_CHECK_ALIGNED)
		j->sum = hc_sum_x(j->data, j->bytes, HC_CHECK_ALIGNED, 0,
				  &j->bad);
	else
		j->sum = hc_sum(j->data, j->bytes);
	return NULL;
}

/* The sections' jobs (in section order) summed on every processor, in
 * one queue, the largest first (addr, size, tidx, flags, pools): a
 * processor takes the next when done (was: the two largest in parallel,
 * then the rest, tidx's check too, on one). A load and a store alike. */
static void hc_sum_sections(struct hc_sum_job *job, bool threads)
{
	static const int order[HC_NSEC] = {2,  3, 4, 1, 5, 12, 0,
					   11, 6, 7, 8, 9, 10};
	struct hc_sum_job sorted[HC_NSEC];
	for (int i = 0; i < HC_NSEC; i++)
		sorted[i] = job[order[i]];
	ph_run_chunks(hc_sum_worker, sorted, sizeof(sorted[0]), HC_NSEC,
		      threads);
	for (int i = 0; i < HC_NSEC; i++)
		job[order[i]] = sorted[i];
}

/* A string and its end (so "ab","c" and "a","bc" differ). */
static uint64_t fnv_str(const char *s, uint64_t h)
{
	h = ph_fnv1a(s, s ? strlen(s) : 0, h);
	return ph_fnv1a("\xff", 1, h);
}

static uint64_t modules_hash(const struct ph_target *t)
{
	uint64_t h = PH_FNV_BASIS;
	for (size_t i = 0; i < t->nmods; i++) {
		const struct ph_module *m = &t->mods[i];
		h = fnv_str(m->disk_path ? m->disk_path : m->path, h);
		h = ph_fnv1a(m->build_id, m->build_id_len, h);
	}
	return h;
}

static uint64_t layout_hash(const struct ph_layout *L)
{
	struct ph_layout c = *L;
	c.source = NULL; /* pointers: this process's */
	c.code_field_names = NULL;
	return hc_sum(&c, sizeof(c));
}

/* The key of t's core, in hd; false if it has none (no core file). */
static bool hc_key(const struct ph_runtime *rt, const char *path,
		   struct hc_head *hd)
{
	const struct ph_target *t = rt->target;
	struct stat st;
	if (fstat(t->fd, &st) || !S_ISREG(st.st_mode))
		return false;
	memset(hd, 0, sizeof(*hd));
	hd->magic = HC_MAGIC;
	hd->format = HC_FORMAT;
	hd->head_size = sizeof(*hd);
	hd->nsec = HC_NSEC;
	snprintf(hd->version, sizeof(hd->version), "%s", PH_VERSION);
	hd->core_size = (uint64_t)st.st_size;
	hd->core_mtime_s = (uint64_t)st.st_mtim.tv_sec;
	hd->core_mtime_ns = (uint64_t)st.st_mtim.tv_nsec;
	hd->core_ino = (uint64_t)st.st_ino;
	hd->core_dev = (uint64_t)st.st_dev;
	hd->path_hash = fnv_str(path, PH_FNV_BASIS);
	hd->modules_hash = modules_hash(t);
	/* (and the build that read it: another may find other objects) */
	hd->layout_hash = layout_hash(rt->layout) ^ ph_build_hash();
	hd->ninterps = (uint32_t)rt->ninterps;
	return true;
}

bool ph_heapcache_wanted(const struct ph_runtime *rt)
{
	const struct ph_target *t = rt->target;
	return t->core_path && !t->pid && !t->no_cache && !t->map_borrowed &&
	       t->fd >= 0 && !getenv("PYHEAP_NO_CACHE");
}

char *ph_heapcache_path(const struct ph_runtime *rt)
{
	if (!ph_heapcache_wanted(rt))
		return NULL;
	char *real = realpath(rt->target->core_path, NULL);
	if (!real)
		return NULL;
	char name[64];
	snprintf(name, sizeof(name), "index-%016llx",
		 (unsigned long long)fnv_str(real, PH_FNV_BASIS));
	char *path = ph_cache_file(name);
	free(real);
	return path;
}

static uint64_t hc_pad8(uint64_t n)
{
	return (n + 7) & ~7ULL;
}

/* The sections, in the file's order, each at a multiple of 8 bytes
 * (hc_offsets): the arrays a reader uses where they are (the types'
 * records, the 16 KiB pools, addr, size, tidx, flags, the pools'
 * addresses, the others' slots); the rest are copied out. */
static void hc_sizes(const struct hc_head *hd, uint64_t *bytes)
{
	bytes[0] = hd->ntypes * HC_TYPE_REC; /* types (struct hc_type) */
	bytes[1] = hd->npools * hc_pool_rec(hd->pool_words); /* pools */
	bytes[2] = hd->n * 8;				     /* addr[] */
	bytes[3] = hd->n * 4;				     /* size[] */
	bytes[4] = hd->n * 4;				     /* tidx[] */
	bytes[5] = hd->n;				     /* flags[] */
	/* the types' names, slots and C fields: as the header says (the
	 * reader bounds it first) */
	bytes[6] = hd->sec_bytes[6];
	/* free-threaded: mimalloc's pages (struct hc_mi), then each page's
	 * free-block and object bitmaps (a bit a block) */
	bytes[7] = hd->nmi_pages * HC_MI_REC;
	bytes[8] = hd->mi_words * 16;
	bytes[9] = hd->ninterned_more * 8;
	/* with subinterpreters: each object's interpreter */
	bytes[10] = hd->ninterps < 2  ? 0
		    : hd->interp_runs ? hd->interp_runs * 4ULL
				      : hd->n;
	/* the pools' addresses (a load indexes the pools by these alone:
	 * 8 bytes a pool, where the records are 312), and the objects in
	 * neither pools nor pages by their addresses' hash (h->other_slots:
	 * 1 + an object's number, or 0) */
	bytes[11] = hd->npools * 8;
	bytes[12] = hd->others_cap * 4;
}

/* Where each section starts (after the header, each at a multiple of 8
 * bytes), and the file's size. */
static uint64_t hc_offsets(const uint64_t *bytes, uint64_t *ret_off)
{
	uint64_t off = sizeof(struct hc_head);
	for (int i = 0; i < HC_NSEC; i++) {
		ret_off[i] = off;
		off += hc_pad8(bytes[i]);
	}
	return off;
}

/* The objects in neither pools nor mimalloc's pages: numbered around those
 * two runs, found through the others' map. */
static uint64_t hc_others(const struct hc_head *hd)
{
	uint64_t o = hd->n - hd->npool_objects;
	return hd->mi_objects < o ? o - hd->mi_objects : 0;
}

/* Their slots: a power of two, at least half of them empty (so that a
 * search for an address no object has ends soon). */
static uint64_t hc_others_cap(const struct hc_head *hd)
{
	uint64_t o = hc_others(hd), cap = 16;
	while (cap < 2 * o)
		cap *= 2;
	return o ? cap : 0;
}

/* The next of those from i on (i itself if it is one). */
static uint64_t hc_next_other(const struct hc_head *hd, uint64_t i)
{
	if (i == hd->base)
		i += hd->npool_objects;
	if (i == hd->mi_base && hd->mi_objects)
		i += hd->mi_objects;
	return i;
}

/* A mimalloc page as the file keeps it (the rest of struct ph_mi_page
 * follows: its bitmaps' words from its blocks, its ranks from its bits). */
struct hc_mi {
	uint64_t start, end, bsize, obj_off;
	uint32_t tag, first;
};
_Static_assert(sizeof(struct hc_mi) == HC_MI_REC, "mimalloc page record");

static uint64_t hc_mi_words(const struct hc_mi *m)
{
	return ((m->end - m->start) / m->bsize + 63) / 64;
}

#define WHY(...) snprintf(why, why_size, __VA_ARGS__)

/*
 * A type as the file keeps it: struct ph_type's numbers, and where its
 * name, slots and C fields are in section 6. Registering 392 types again
 * from the core (their names, dicts, bases: pages of the core touched one
 * by one) was 4 ms of a cached `referrers` at 2M objects on a machine
 * where a first touch costs 10 us. Read back, a record is checked for
 * what memory safety needs (a kind py-heap has, its arrays inside the
 * section); the sums vouch for the rest, as for the table.
 */
struct hc_type {
	uint64_t addr, flags;
	int64_t basicsize, itemsize, dictoffset;
	int64_t base_basicsize, kind_basicsize, weaklistoffset;
	uint32_t kind, presize, fixed_need, kind_data;
	uint32_t bits, name_len, nslots, nc_offsets;
	uint64_t name_off, slot_off, slot_names_off, c_off;
};
_Static_assert(sizeof(struct hc_type) == HC_TYPE_REC, "type record");

enum {
	HC_T_HEAP = 1,
	HC_T_KNOWN = 2,
	HC_T_LEAF = 4,
	HC_T_STATIC = 8,
	HC_T_FILLS = 16,
	HC_T_BITS = 31,
};
#define HC_NO_NAME UINT32_MAX
#define HC_MAX_NAME (1u << 20)
#define HC_MAX_SLOTS (1u << 22)

/* Is [off, off + len) inside a section of size bytes? */
static bool hc_within(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* Does r hold what memory safety needs (a kind py-heap has, the sizes
 * type_register accepts, its arrays inside section 6, of var bytes)? The
 * writer asks too: it writes no file the reader would refuse. */
static bool hc_type_ok(const struct hc_type *r, uint64_t var)
{
	bool named = r->name_len != HC_NO_NAME;
	return r->addr && !(r->addr & 7) && r->kind < PH_KIND_COUNT &&
	       r->basicsize >= 16 && r->basicsize <= (1 << 24) &&
	       r->itemsize >= 0 && r->itemsize <= (1 << 16) &&
	       r->presize <= 256 && !(r->bits & ~(uint32_t)HC_T_BITS) &&
	       r->nslots <= HC_MAX_SLOTS && r->nc_offsets <= HC_MAX_SLOTS &&
	       (!named || (r->name_len <= HC_MAX_NAME &&
			   hc_within(r->name_off, r->name_len, var))) &&
	       hc_within(r->slot_off, 4 * (uint64_t)r->nslots, var) &&
	       hc_within(r->slot_names_off, 8 * (uint64_t)r->nslots, var) &&
	       hc_within(r->c_off, 4 * (uint64_t)r->nc_offsets, var);
}

/* h's types: the records (*ret_rec, ntypes of them) and section 6
 * (*ret_var, *ret_var_bytes), malloc'd; false when out of memory. */
static bool hc_types_encode(const struct ph_heap *h, struct hc_type **ret_rec,
			    uint8_t **ret_var, uint64_t *ret_var_bytes)
{
	uint64_t var = 0;
	for (size_t i = 0; i < h->ntypes; i++) {
		const struct ph_type *t = &h->types[i];
		var += (t->name ? hc_pad8(strlen(t->name)) : 0) +
		       hc_pad8(4 * (uint64_t)t->nslots) + 8 * t->nslots +
		       hc_pad8(4 * (uint64_t)t->nc_offsets);
	}
	struct hc_type *rec = calloc(h->ntypes + 1, sizeof(*rec));
	uint8_t *v = calloc(var + 1, 1);
	if (!rec || !v) {
		free(rec);
		free(v);
		return false;
	}
	uint64_t at = 0;
	for (size_t i = 0; i < h->ntypes; i++) {
		const struct ph_type *t = &h->types[i];
		struct hc_type *r = &rec[i];
		*r = (struct hc_type){
			.addr = t->addr,
			.flags = t->flags,
			.basicsize = t->basicsize,
			.itemsize = t->itemsize,
			.dictoffset = t->dictoffset,
			.base_basicsize = t->base_basicsize,
			.kind_basicsize = t->kind_basicsize,
			.weaklistoffset = t->weaklistoffset,
			.kind = (uint32_t)t->kind,
			.presize = t->presize,
			.fixed_need = t->fixed_need,
			.kind_data = t->kind_data,
			.bits = (t->heap ? HC_T_HEAP : 0) |
				(t->known_object ? HC_T_KNOWN : 0) |
				(t->leaf ? HC_T_LEAF : 0) |
				(t->may_be_static ? HC_T_STATIC : 0) |
				(t->fills_class ? HC_T_FILLS : 0),
			.name_len = HC_NO_NAME,
			.nslots = (uint32_t)t->nslots,
			.nc_offsets = (uint32_t)t->nc_offsets,
		};
		if (t->name) {
			size_t len = strlen(t->name);
			/* (a name too long: refused below) */
			r->name_len = len > HC_MAX_NAME ? HC_MAX_NAME + 1
							: (uint32_t)len;
			r->name_off = at;
			memcpy(v + at, t->name, len);
			at += hc_pad8(len);
		}
		r->slot_off = at;
		if (t->nslots)
			memcpy(v + at, t->slot_offsets, 4 * t->nslots);
		at += hc_pad8(4 * (uint64_t)t->nslots);
		r->slot_names_off = at;
		if (t->nslots)
			memcpy(v + at, t->slot_names, 8 * t->nslots);
		at += 8 * t->nslots;
		r->c_off = at;
		if (t->nc_offsets)
			memcpy(v + at, t->c_offsets, 4 * t->nc_offsets);
		at += hc_pad8(4 * (uint64_t)t->nc_offsets);
		if (!hc_type_ok(r, var)) {
			free(rec);
			free(v);
			return false;
		}
	}
	*ret_rec = rec;
	*ret_var = v;
	*ret_var_bytes = var;
	return true;
}

/* A copy of len bytes at off of var (malloc'd; NULL when len is 0). */
static bool hc_copy_out(void **dst, const uint8_t *var, uint64_t off,
			uint64_t len)
{
	*dst = NULL;
	if (!len)
		return true;
	if (!(*dst = malloc(len)))
		return false;
	memcpy(*dst, var + off, len);
	return true;
}

/* The types from their records, in the file's order: each where
 * ph_type_register would have put it. */
static bool hc_types_load(struct ph_heap *h, const struct hc_head *hd,
			  const uint8_t *recs, const uint8_t *var,
			  uint64_t var_bytes, char *why, size_t why_size)
{
	struct ph_error *err =
		ph_grow((void **)&h->types, &h->types_cap,
			(size_t)hd->ntypes + 1, sizeof(*h->types));
	if (!err)
		err = ph_u64map_reserve(&h->type_index, (size_t)hd->ntypes);
	if (err) {
		ph_error_destroy(err);
		WHY("out of memory");
		return false;
	}
	for (uint64_t i = 0; i < hd->ntypes; i++) {
		struct hc_type r;
		memcpy(&r, recs + i * HC_TYPE_REC, sizeof(r));
		bool named = r.name_len != HC_NO_NAME;
		if (!hc_type_ok(&r, var_bytes)) {
			WHY("damaged (type %llu)", (unsigned long long)i);
			return false;
		}
		bool existed;
		if (ph_u64map_put(&h->type_index, r.addr, (uint32_t)i,
				  &existed) ||
		    existed) {
			WHY("damaged (type %llu)", (unsigned long long)i);
			return false;
		}
		struct ph_type *t = &h->types[h->ntypes++];
		*t = (struct ph_type){
			.addr = r.addr,
			.flags = r.flags,
			.basicsize = r.basicsize,
			.itemsize = r.itemsize,
			.dictoffset = r.dictoffset,
			.kind = (enum ph_kind)r.kind,
			.base_basicsize = r.base_basicsize,
			.kind_basicsize = r.kind_basicsize,
			.presize = r.presize,
			.heap = r.bits & HC_T_HEAP,
			.known_object = r.bits & HC_T_KNOWN,
			.leaf = r.bits & HC_T_LEAF,
			.may_be_static = r.bits & HC_T_STATIC,
			.fills_class = r.bits & HC_T_FILLS,
			.fixed_need = r.fixed_need,
			.nslots = r.nslots,
			.nc_offsets = r.nc_offsets,
			.weaklistoffset = r.weaklistoffset,
			.kind_data = r.kind_data,
		};
		if ((named &&
		     !(t->name = strndup((const char *)var + r.name_off,
					 r.name_len))) ||
		    !hc_copy_out((void **)&t->slot_offsets, var, r.slot_off,
				 4 * (uint64_t)r.nslots) ||
		    !hc_copy_out((void **)&t->slot_names, var, r.slot_names_off,
				 8 * (uint64_t)r.nslots) ||
		    !hc_copy_out((void **)&t->c_offsets, var, r.c_off,
				 4 * (uint64_t)r.nc_offsets)) {
			WHY("out of memory");
			return false;
		}
	}
	return true;
}

_Static_assert(sizeof(struct hc_head) % 8 == 0, "sections aligned");
_Static_assert(sizeof(struct ph_pool) % 8 == 0, "sections aligned");

static void hc_stats(struct ph_heap *h, uint64_t *s, bool load)
{
	uint64_t *f[HC_NSTATS] = {
		&h->n_gc,
		&h->n_ref,
		&h->n_pool,
		&h->n_root,
		&h->n_rejected,
		&h->pools_inconsistent,
		&h->gc_list_damaged,
		&h->refs_into_missing,
		&h->gc_bad_objects,
		&h->gc_zeroed_objects,
		&h->gc_zeroed_links,
		&h->gc_damaged_objects,
		&h->refs_to_zeros,
		&h->refs_to_damaged,
		&h->refs_wild,
	};
	for (int i = 0; i < HC_NSTATS; i++) {
		if (load)
			*f[i] = s[i];
		else
			s[i] = *f[i];
	}
}

/* Each object's interpreter, as the file has them: a byte each, or runs
 * (objects are numbered by address, and an isolated interpreter's pools
 * are its own: on heap_subinterp.py's 3.12 core, 5,000 runs for 84,000
 * objects), a run a 32-bit word: the interpreter in its top byte, its
 * length (1 to 2^24 - 1) below. Every one must be an interpreter's, or
 * shared, and the runs exactly n objects. */
#define HC_RUN_MAX ((1u << 24) - 1)

static bool hc_interp_load(uint8_t *out, const struct hc_head *hd,
			   const uint8_t *sec)
{
	uint8_t bad = 0;
	if (!hd->interp_runs) {
		for (uint64_t i = 0; i < hd->n; i++)
			bad |= sec[i] >= hd->ninterps &&
			       sec[i] != PH_INTERP_SHARED;
		memcpy(out, sec, hd->n);
		return !bad;
	}
	uint64_t at = 0;
	for (uint64_t r = 0; r < hd->interp_runs; r++) {
		uint32_t w;
		memcpy(&w, sec + 4 * r, 4);
		uint8_t k = (uint8_t)(w >> 24);
		uint32_t len = w & HC_RUN_MAX;
		if (!len || len > hd->n - at ||
		    (k >= hd->ninterps && k != PH_INTERP_SHARED))
			return false;
		memset(out + at, k, len);
		at += len;
	}
	return at == hd->n;
}

/* The runs of h->interp, in a malloc'd array (*ret), or none (the bytes
 * are fewer): how many. */
static uint32_t hc_interp_runs(const struct ph_heap *h, uint32_t **ret)
{
	uint64_t n = 0;
	*ret = NULL;
	for (size_t i = 0, len = 0; i < h->n; i++, len++)
		if (i + 1 == h->n || h->interp[i + 1] != h->interp[i] ||
		    len + 1 == HC_RUN_MAX) {
			n++;
			len = (size_t)-1;
		}
	if (!n || n * 4 >= h->n || !(*ret = malloc(n * 4)))
		return 0;
	uint32_t *w = *ret, len = 0;
	for (size_t i = 0; i < h->n; i++) {
		len++;
		if (i + 1 == h->n || h->interp[i + 1] != h->interp[i] ||
		    len == HC_RUN_MAX) {
			*w++ = (uint32_t)h->interp[i] << 24 | len;
			len = 0;
		}
	}
	return (uint32_t)n;
}

/* Free-threaded: mimalloc's pages from the file's records and bitmaps,
 * copied into one block of memory (h->mi_bits), each page checked as a
 * lookup needs it (in address order, apart, whole blocks, its objects
 * numbered on from the page before's, none past its last block), the
 * ranks counted again. */
static bool hc_mi_load(struct ph_heap *h, const struct hc_head *hd,
		       const uint8_t *rec, const uint8_t *bits, char *why,
		       size_t why_size)
{
	const uint64_t nw = hd->mi_words;
	if (!(h->mi_pages =
		      calloc((size_t)hd->nmi_pages, sizeof(*h->mi_pages))) ||
	    !(h->mi_bits = malloc((size_t)(nw * 20 + 8)))) {
		WHY("out of memory");
		return false;
	}
	uint64_t *fb = h->mi_bits, *ob = fb + nw;
	uint32_t *rk = (uint32_t *)(ob + nw);
	uint64_t woff = 0, next = hd->mi_base, prev_end = 0;
	for (uint64_t i = 0; i < hd->nmi_pages; i++) {
		struct hc_mi m;
		memcpy(&m, rec + i * HC_MI_REC, HC_MI_REC);
		uint64_t cap = m.bsize && m.end > m.start
				       ? (m.end - m.start) / m.bsize
				       : 0;
		uint64_t words = (cap + 63) / 64;
		if (!cap || (m.end - m.start) % m.bsize || m.start < prev_end ||
		    cap > HC_MI_MAX_BLOCKS || m.obj_off >= m.bsize ||
		    m.tag < 1 || m.tag > 3 || m.first != next ||
		    words > nw - woff) {
			WHY("damaged (mimalloc page %llu)",
			    (unsigned long long)i);
			return false;
		}
		struct ph_mi_page *p = &h->mi_pages[i];
		*p = (struct ph_mi_page){.start = m.start,
					 .end = m.end,
					 .bsize = m.bsize,
					 .tag = m.tag,
					 .obj_off = m.obj_off,
					 .first = m.first,
					 .free_bits = fb + woff,
					 .obj_bits = ob + woff,
					 .rank = rk + woff,
					 .interp = PH_INTERP_SHARED};
		memcpy(p->free_bits, bits + 16 * woff, 8 * words);
		memcpy(p->obj_bits, bits + 16 * woff + 8 * words, 8 * words);
		uint32_t r = 0;
		for (uint64_t w = 0; w < words; w++) {
			p->rank[w] = r;
			r += ph_popcount64(p->obj_bits[w]);
		}
		if ((cap % 64) && (p->obj_bits[words - 1] >> (cap % 64))) {
			WHY("damaged (mimalloc page %llu)",
			    (unsigned long long)i);
			return false;
		}
		next += r;
		woff += words;
		prev_end = m.end;
	}
	if (woff != nw || next != hd->mi_base + hd->mi_objects) {
		WHY("damaged (its mimalloc pages)");
		return false;
	}
	h->nmi_pages = h->mi_pages_cap = (size_t)hd->nmi_pages;
	h->mi_pages_sorted = true;
	ph_objtable_mi_index(h);
	return true;
}

/* What the header of an index file says of it (fd, read from its start),
 * against key, the header this run would write: ph_heapcache_load's first
 * tests, which ph_heapcache_identity makes alone. */
enum hc_head_verdict {
	HC_HEAD_OK,
	HC_HEAD_NOT_OURS, /* not a regular file of this user's */
	HC_HEAD_FORMAT,	  /* another format of the file */
	HC_HEAD_DAMAGED,  /* cut, or its header's sum wrong */
	HC_HEAD_BUILD,	  /* another py-heap, layout or interpreters */
	HC_HEAD_STALE,	  /* another core, or its files changed since */
};

static enum hc_head_verdict hc_head_check(int fd, const struct hc_head *key,
					  struct hc_head *hd, struct stat *st)
{
	if (fstat(fd, st) || !S_ISREG(st->st_mode) || st->st_uid != geteuid())
		return HC_HEAD_NOT_OURS;
	if (!ph_pread_all(fd, hd, sizeof(*hd), 0))
		return HC_HEAD_DAMAGED;
	if (hd->magic == HC_MAGIC && hd->format != HC_FORMAT)
		return HC_HEAD_FORMAT;
	if (hd->magic != HC_MAGIC || hd->head_size != sizeof(*hd) ||
	    hd->nsec != HC_NSEC ||
	    hd->head_sum != hc_sum(hd, offsetof(struct hc_head, head_sum)))
		return HC_HEAD_DAMAGED;
	if (memcmp(hd->version, key->version, sizeof(key->version)) ||
	    hd->layout_hash != key->layout_hash ||
	    hd->ninterps != key->ninterps)
		return HC_HEAD_BUILD;
	if (hd->core_size != key->core_size ||
	    hd->core_mtime_s != key->core_mtime_s ||
	    hd->core_mtime_ns != key->core_mtime_ns ||
	    hd->core_ino != key->core_ino || hd->core_dev != key->core_dev ||
	    hd->path_hash != key->path_hash ||
	    hd->modules_hash != key->modules_hash)
		return HC_HEAD_STALE;
	return HC_HEAD_OK;
}

/*
 * A seal: which sections of a cache file (the index, the graph) an earlier
 * run summed whole and found intact, while the file had this device,
 * inode, size, mtime, ctime and header; a later run need not read every
 * page of them to sum them again (the sums were a third of a cached
 * `referrers` at 2M objects). Whatever writes to the file through the file
 * system moves its ctime, which no one but the kernel sets: a file changed
 * since is summed again (and a damaged one refused). A seal is written
 * only for a file whose ctime is 2 s older than the clock, so that a
 * change in the same tick of a coarse clock (or of a file system that
 * keeps seconds) cannot keep it. What memory safety needs (the pools, the
 * objects' order, numbers used as indices) holds on every run, sealed or
 * not: checked here, or where the numbers are read (the type numbers,
 * ph_tidx; a sealed graph's referrers' rows, ph_graph_rev_row).
 */
#define HC_SEAL_MAGIC 0x4c414553u /* "SEAL" */
#define HC_SEAL_AGE_S 2

struct hc_seal {
	uint32_t magic, format, mask, zero;
	uint64_t build, head_sum;
	uint64_t dev, ino, size;
	int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
	uint64_t sum; /* of everything above */
};

/* sealed-NAME, beside NAME */
/* The file prefixNAME beside path's NAME (malloc'd): its seal
 * (sealed-NAME), its writer's lock (lock-NAME). */
static char *hc_beside(const char *path, const char *prefix)
{
	const char *slash = strrchr(path, '/');
	char *out = NULL;
	if (!slash || asprintf(&out, "%.*s/%s%s", (int)(slash - path), path,
			       prefix, slash + 1) < 0)
		return NULL;
	return out;
}

static struct hc_seal hc_seal_of(const struct stat *st, uint64_t head_sum,
				 uint32_t mask)
{
	struct hc_seal z;
	memset(&z, 0, sizeof(z));
	z.magic = HC_SEAL_MAGIC;
	z.format = HC_FORMAT;
	z.mask = mask;
	z.build = ph_build_hash();
	z.head_sum = head_sum;
	z.dev = (uint64_t)st->st_dev;
	z.ino = (uint64_t)st->st_ino;
	z.size = (uint64_t)st->st_size;
	z.mtime_s = st->st_mtim.tv_sec;
	z.mtime_ns = st->st_mtim.tv_nsec;
	z.ctime_s = st->st_ctim.tv_sec;
	z.ctime_ns = st->st_ctim.tv_nsec;
	z.sum = hc_sum(&z, offsetof(struct hc_seal, sum));
	return z;
}

uint32_t ph_heapcache_sealed(const char *path, const struct stat *st,
			     uint64_t head_sum)
{
	char *sp = hc_beside(path, "sealed-");
	size_t len = 0;
	struct hc_seal *z =
		sp ? ph_cache_read(sp, sizeof(struct hc_seal), &len) : NULL;
	uint32_t mask = 0;
	if (z && len == sizeof(*z)) {
		struct hc_seal want = hc_seal_of(st, head_sum, z->mask);
		if (!memcmp(z, &want, sizeof(want)))
			mask = z->mask;
	}
	free(z);
	free(sp);
	return mask;
}

void ph_heapcache_seal(const char *path, const struct stat *st,
		       uint64_t head_sum, uint32_t mask)
{
	/* the file as summed (what a seal records of it), still */
	struct stat now_st;
	struct timespec now;
	struct hc_seal z = hc_seal_of(st, head_sum, mask), now_z;
	if (lstat(path, &now_st) || clock_gettime(CLOCK_REALTIME, &now) ||
	    (now_z = hc_seal_of(&now_st, head_sum, mask),
	     memcmp(&now_z, &z, sizeof(z))) ||
	    st->st_ctim.tv_sec > now.tv_sec - HC_SEAL_AGE_S)
		return;
	char *sp = hc_beside(path, "sealed-");
	if (sp && ph_cache_write(sp, &z, sizeof(z)))
		prune(sp, "sealed-", HC_SEALS);
	free(sp);
}

bool ph_heapcache_load(struct ph_heap *h, const char *path, char *why,
		       size_t why_size)
{
	struct hc_head key, hd;
	why[0] = '\0';
	if (!hc_key(h->rt, path, &key))
		return false;
	if (!ph_cache_dir_ok(path))
		return false;
	ph_heapcache_wait(path);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false; /* none yet: no note */
	bool ok = false, sealed = false;
	struct ph_pool *pools;
	struct stat st;
	switch (hc_head_check(fd, &key, &hd, &st)) {
	case HC_HEAD_OK:
		break;
	case HC_HEAD_NOT_OURS:
		WHY("not a file of this user's");
		goto out;
	case HC_HEAD_FORMAT:
		WHY("written by another py-heap (format %u)", hd.format);
		goto out;
	case HC_HEAD_DAMAGED:
		WHY("damaged (its header)");
		goto out;
	case HC_HEAD_BUILD:
		WHY("written by another py-heap");
		/* (as after an upgrade: rewritten with no note, as stale) */
		h->cache_stale = true;
		goto out;
	case HC_HEAD_STALE:
		WHY("stale (the core or its files changed since)");
		h->cache_stale = true;
		goto out;
	}
	/* the counts, before anything is allocated by them */
	uint64_t total = sizeof(hd);
	if (hd.n >= UINT32_MAX / 2 || hd.ntypes >= (1u << 24) ||
	    hd.npools >= (1ULL << 32) || hd.base > hd.n ||
	    hd.npool_objects > hd.n - hd.base || hd.nmi_pages >= (1u << 24) ||
	    hd.mi_words >= (1ULL << 32) || hd.mi_base > hd.n ||
	    hd.mi_objects > hd.n - hd.mi_base ||
	    (hd.nmi_pages && (hd.npools || !h->L->free_threaded)) ||
	    hd.ninterned_more > hd.ninterps ||
	    hd.sec_bytes[6] >= (1ULL << 32) || (hd.sec_bytes[6] & 7) ||
	    (hd.n && !hd.ntypes) || hd.others_cap != hc_others_cap(&hd)) {
		WHY("damaged (its counts)");
		goto out;
	}
	const uint64_t psize = h->L->pool_size;
	const unsigned words = (unsigned)(psize / 16 + 63) / 64;
	if (hd.pool_words != words || words > 16) {
		WHY("damaged (its pools' size)");
		goto out;
	}
	/* the counts are bounded above: no sum overflows */
	void *ptr[HC_NSEC];
	uint64_t bytes[HC_NSEC], at[HC_NSEC];
	hc_sizes(&hd, bytes);
	total = hc_offsets(bytes, at);
	if ((uint64_t)st.st_size != total) {
		WHY("damaged (%llu bytes, not %llu)",
		    (unsigned long long)st.st_size, (unsigned long long)total);
		goto out;
	}
	/* The file mapped, private: its arrays become the table's, read
	 * where they are (the page cache's pages, no copy; a write, which
	 * nothing does, would copy the page). */
	uint8_t *map = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		WHY("mmap: %s", strerror(errno));
		goto out;
	}
	h->table_map = map;
	h->table_map_len = (size_t)total;
	struct hc_sum_job job[HC_NSEC];
	for (int i = 0; i < HC_NSEC; i++) {
		ptr[i] = map + at[i];
		job[i] = (struct hc_sum_job){.data = ptr[i], .bytes = bytes[i]};
	}
	/* The sections' sums on every processor, largest first: they find a
	 * damaged file. What follows checks only what memory safety needs
	 * (numbers used as indices), not what the sums vouch for. */
	job[4].check = HC_CHECK_BELOW;
	job[4].ntypes = (uint32_t)hd.ntypes;
	job[2].check = HC_CHECK_ALIGNED;
	sealed = ph_heapcache_sealed(path, &st, hd.head_sum) == HC_ALL;
	/* sealed: no section read whole (the type numbers are kept below
	 * the types' count where they are used: ph_tidx) */
	if (!sealed)
		hc_sum_sections(job, hd.n > 100000);
	for (int i = 0; i < HC_NSEC; i++) {
		if (bytes[i] != hd.sec_bytes[i] ||
		    (!sealed && job[i].sum != hd.sec_sum[i])) {
			WHY("damaged (section %d)", i);
			goto out;
		}
	}
	for (int i = 0; i < HC_NSEC; i++) /* the padding: zeros */
		for (uint64_t k = at[i] + bytes[i];
		     k < at[i] + hc_pad8(bytes[i]); k++)
			if (map[k]) {
				WHY("damaged (its padding)");
				goto out;
			}
	if (!sealed && job[4].bad) {
		WHY("damaged (a type number)");
		goto out;
	}
	if (!sealed && job[2].bad) {
		WHY("damaged (an object's address)");
		goto out;
	}
	pools = ptr[1];
	h->addr = ptr[2];
	h->size = ptr[3];
	h->tidx = ptr[4];
	h->flags = ptr[5];
	h->cap = (size_t)hd.n;
	if (!hc_types_load(h, &hd, ptr[0], ptr[6], bytes[6], why, why_size))
		goto out;
	/* The pools, used where they are: each where a pool may be, once,
	 * its objects' numbers (first, rank) those of its bitmap, in a run
	 * from base, so that a lookup's number is one of the table's. */
	if (words == 16) {
		h->pools = pools;
		h->pools_mapped = true;
	} else {
		const uint8_t *rec = ptr[1];
		const uint64_t rs = hc_pool_rec(words);
		if (!(h->pools = calloc((size_t)hd.npools + 1,
					sizeof(*h->pools)))) {
			WHY("out of memory");
			goto out;
		}
		for (uint64_t i = 0; i < hd.npools; i++, rec += rs) {
			struct ph_pool *p = &h->pools[i];
			memcpy(p, rec, 24);
			memcpy(p->free_bits, rec + 24, 8 * words);
			memcpy(p->obj_bits, rec + 24 + 8 * words, 8 * words);
			memcpy(p->rank, rec + 24 + 16 * words, 2 * words);
			/* beyond the pool: no objects, ranks as freeze's */
			for (unsigned w = words; w < 16; w++)
				p->rank[w] = p->rank[words - 1] +
					     (uint16_t)ph_popcount64(
						     p->obj_bits[words - 1]);
		}
		pools = h->pools;
	}
	h->pools_cap = h->npools = (size_t)hd.npools;
	if (hd.nmi_pages && !hc_mi_load(h, &hd, ptr[7], ptr[8], why, why_size))
		goto out;
	/* Sealed, the pools (their records mapped where they are) are indexed
	 * by their addresses alone: their records, checked when the file was
	 * sealed, are read only where a lookup lands (2.4 MB of records at
	 * 2M objects: their pages' first touch was most of a load), and what a
	 * lookup makes of them is kept below the table's size. */
	const uint64_t *paddr = ptr[11];
	const bool by_address = sealed && words == 16; /* (else copied) */
	for (uint64_t i = 0; by_address && i < hd.npools; i++)
		if (ph_objtable_index_pool(h, paddr[i], (uint32_t)i)) {
			WHY("out of memory");
			goto out;
		}
	uint64_t next = hd.base;
	for (uint64_t i = 0; !by_address && i < hd.npools; i++) {
		struct ph_pool *p = &pools[i];
		bool bad = (p->addr & (psize - 1)) || !p->addr ||
			   !p->block_size || p->nblocks > psize / 16 ||
			   p->first != next || words > 16 ||
			   paddr[i] != p->addr ||
			   ph_objtable_pool_at(h, p->addr);
		uint32_t r = 0;
		for (unsigned w = 0; w < 16 && !bad; w++) {
			bad = p->rank[w] != r || (w >= words && p->obj_bits[w]);
			r += ph_popcount64(p->obj_bits[w]);
		}
		if (bad) {
			WHY("damaged (pool %llu)", (unsigned long long)i);
			goto out;
		}
		next += r;
		if (ph_objtable_index_pool(h, p->addr, (uint32_t)i)) {
			WHY("out of memory");
			goto out;
		}
	}
	if (!by_address && next != hd.base + hd.npool_objects) {
		WHY("damaged (its pools)");
		goto out;
	}
	h->n = (size_t)hd.n;
	h->npool_objects = (size_t)hd.npool_objects;
	h->pools_frozen = true;
	/* The others' slots, used where they are mapped (their pages are the
	 * page cache's: the hash map built anew took 48 new pages at 2M
	 * objects, 12 µs each in some virtual machines). As many used as
	 * others (half of them empty: every search ends); not sealed, each
	 * other found there under its own number, and in no pool's bitmap
	 * (one in a pool found after the scan: not in its bitmap). */
	const uint64_t others = hc_others(&hd), cap = hd.others_cap;
	uint32_t *slots = ptr[12];
	uint64_t used = 0;
	for (uint64_t k = 0; k < cap; k++)
		used += slots[k] != 0;
	if (used != others) {
		WHY("damaged (its others' slots)");
		goto out;
	}
	for (uint64_t i = hc_next_other(&hd, 0); !sealed && i < hd.n;
	     i = hc_next_other(&hd, i + 1))
		if (ph_objtable_known(h, h->addr[i])) {
			WHY("damaged (object %llu)", (unsigned long long)i);
			goto out;
		}
	h->other_slots = cap ? slots : NULL;
	h->other_cap = (size_t)cap;
	for (uint64_t i = hc_next_other(&hd, 0); !sealed && i < hd.n;
	     i = hc_next_other(&hd, i + 1))
		if (ph_objtable_other(h, h->addr[i]) != i) {
			WHY("damaged (object %llu)", (unsigned long long)i);
			goto out;
		}
	/* each object's interpreter: one of them, or shared */
	if (hd.ninterps > 1) {
		if (!(h->interp = malloc(hd.n + 1)) ||
		    (hd.ninterned_more &&
		     !(h->interned_more = malloc(hd.ninterned_more * 8)))) {
			WHY("out of memory");
			goto out;
		}
		if (!hc_interp_load(h->interp, &hd, ptr[10])) {
			WHY("damaged (an interpreter)");
			goto out;
		}
		if (hd.ninterned_more)
			memcpy(h->interned_more, ptr[9], hd.ninterned_more * 8);
		h->ninterned_more = (size_t)hd.ninterned_more;
	}
	hc_stats(h, hd.stats, true);
	h->cache_sum = hd.head_sum;
	h->interned_dict = hd.interned_dict;
	h->gc_generations = hd.gc_generations;
	h->block_head = hd.block_head;
	h->block_extra = hd.block_extra;
	hd.arena_source[sizeof(hd.arena_source) - 1] = '\0';
	memcpy(h->arena_source_copy, hd.arena_source,
	       sizeof(h->arena_source_copy));
	h->arena_source = h->arena_source_copy[0] ? h->arena_source_copy : NULL;
	h->cache_sealed = sealed;
	if (!sealed)
		ph_heapcache_seal(path, &st, hd.head_sum, HC_ALL);
	ok = true;
out:
	close(fd);
	return ok;
}

bool ph_heapcache_identity(const struct ph_runtime *rt, uint64_t *ret_sum,
			   uint64_t *ret_n)
{
	struct hc_head key, hd;
	char *path = ph_heapcache_path(rt);
	bool ok = false;
	int fd = -1;
	struct stat st;
	if (!path || !hc_key(rt, path, &key) || !ph_cache_dir_ok(path))
		goto out;
	ph_heapcache_wait(path);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	/* the header's tests, as ph_heapcache_load makes them first */
	ok = fd >= 0 && hc_head_check(fd, &key, &hd, &st) == HC_HEAD_OK &&
	     hd.head_sum && hd.n < UINT32_MAX / 2;
	if (ok) {
		*ret_sum = hd.head_sum;
		*ret_n = hd.n;
	}
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return ok;
}

uint64_t ph_heapcache_sum(const void *data, size_t n)
{
	return hc_sum(data, n);
}

/* At most keep files named prefix* in the directory: the oldest go. */
static void prune(const char *path, const char *prefix, size_t keep)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = '\0';
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct {
		char name[256];
		struct timespec t;
	} *old = malloc((keep + 1) * sizeof(*old));
	if (!old) {
		closedir(d);
		return;
	}
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (strncmp(e->d_name, prefix, strlen(prefix)) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode))
			continue;
		/* the keep + 1 newest, sorted newest first */
		size_t k = n < keep + 1 ? n++ : keep + 1;
		if (k == keep + 1) {
			/* older than all kept: it goes now */
			const struct timespec *l = &old[keep].t;
			if (st.st_mtim.tv_sec < l->tv_sec ||
			    (st.st_mtim.tv_sec == l->tv_sec &&
			     st.st_mtim.tv_nsec <= l->tv_nsec)) {
				unlinkat(dirfd(d), e->d_name, 0);
				continue;
			}
			unlinkat(dirfd(d), old[keep].name, 0);
			k = keep;
		}
		while (k > 0 && (old[k - 1].t.tv_sec < st.st_mtim.tv_sec ||
				 (old[k - 1].t.tv_sec == st.st_mtim.tv_sec &&
				  old[k - 1].t.tv_nsec < st.st_mtim.tv_nsec))) {
			old[k] = old[k - 1];
			k--;
		}
		snprintf(old[k].name, sizeof(old[k].name), "%s", e->d_name);
		old[k].t = st.st_mtim;
	}
	if (n == keep + 1)
		unlinkat(dirfd(d), old[keep].name, 0);
	free(old);
	closedir(d);
}

void ph_heapcache_prune(const char *path, const char *prefix)
{
	prune(path, prefix, HC_FILES);
}

bool ph_heapcache_store(struct ph_heap *h, const char *path)
{
	struct hc_head hd;
	if (!hc_key(h->rt, path, &hd)) /* ph_heapcache_write makes the dir */
		return false;
	hd.n = h->n;
	hd.base = 0;
	/* the pools' objects: numbered in one run, after those found before
	 * the pool scan (ph_objtable_freeze's base) */
	if (h->npools)
		hd.base = h->pools[0].first;
	hd.npool_objects = h->npool_objects;
	hd.ntypes = h->ntypes;
	hd.npools = h->npools;
	hc_stats(h, hd.stats, false);
	hd.interned_dict = h->interned_dict;
	hd.gc_generations = h->gc_generations;
	hd.block_head = h->block_head;
	hd.block_extra = h->block_extra;
	snprintf(hd.arena_source, sizeof(hd.arena_source), "%s",
		 h->arena_source ? h->arena_source : "");
	struct hc_type *trec = NULL;
	uint8_t *tvar = NULL;
	uint64_t tvar_bytes = 0;
	struct hc_mi *mi = NULL;
	uint32_t *runs = NULL;
	uint64_t *mibits = NULL, *paddr = NULL;
	uint32_t *slots = NULL;
	const unsigned words = (unsigned)(h->L->pool_size / 16 + 63) / 64;
	const uint64_t rs = hc_pool_rec(words);
	hd.pool_words = words;
	uint8_t *pools = ph_big_alloc(h->npools * rs + 1);
	bool ok = false;
	if (!pools || !hc_types_encode(h, &trec, &tvar, &tvar_bytes))
		goto out;
	hd.sec_bytes[6] = tvar_bytes; /* (hc_sizes reads it) */
	/* free-threaded: the pages, their objects numbered in one run (else
	 * no file: a table the reader would refuse) */
	hd.nmi_pages = h->mi_pages_sorted ? h->nmi_pages : 0;
	if (h->nmi_pages && (!h->mi_pages_sorted || h->npools))
		goto out;
	hd.mi_base = hd.nmi_pages ? h->mi_pages[0].first : 0;
	for (size_t i = 0; i < hd.nmi_pages; i++) {
		const struct ph_mi_page *p = &h->mi_pages[i];
		if (!p->obj_bits || p->first != hd.mi_base + hd.mi_objects)
			goto out;
		struct hc_mi m = {p->start,   p->end, p->bsize,
				  p->obj_off, p->tag, p->first};
		for (uint64_t w = 0; w < hc_mi_words(&m); w++)
			hd.mi_objects += ph_popcount64(p->obj_bits[w]);
		hd.mi_words += hc_mi_words(&m);
	}
	if (hd.nmi_pages && (!(mi = calloc(hd.nmi_pages, sizeof(*mi))) ||
			     !(mibits = malloc(hd.mi_words * 16))))
		goto out;
	for (size_t i = 0, woff = 0; i < hd.nmi_pages; i++) {
		const struct ph_mi_page *p = &h->mi_pages[i];
		mi[i] = (struct hc_mi){p->start,   p->end, p->bsize,
				       p->obj_off, p->tag, p->first};
		uint64_t mw = hc_mi_words(&mi[i]);
		memcpy(mibits + 2 * woff, p->free_bits, 8 * mw);
		memcpy(mibits + 2 * woff + mw, p->obj_bits, 8 * mw);
		woff += mw;
	}
	/* subinterpreters: each object's (and the interned dicts) */
	if (hd.ninterps > 1 && !h->interp && h->n)
		goto out;
	hd.ninterned_more = hd.ninterps > 1 ? h->ninterned_more : 0;
	if (hd.ninterps > 1 && h->interp)
		hd.interp_runs = hc_interp_runs(h, &runs);
	/* the others' slots as a load will use them (ph_objtable_other) */
	hd.others_cap = hc_others_cap(&hd);
	if (!(paddr = malloc(h->npools * 8 + 1)) ||
	    !(slots = calloc(hd.others_cap + 1, sizeof(*slots))))
		goto out;
	for (uint64_t i = hc_next_other(&hd, 0); i < hd.n;
	     i = hc_next_other(&hd, i + 1)) {
		size_t k = ph_objtable_other_slot(slots, hd.others_cap, h->addr,
						  h->n, h->addr[i]);
		if (slots[k])
			goto out; /* (twice: a table a load refuses) */
		slots[k] = (uint32_t)i + 1;
	}
	for (size_t i = 0; i < h->npools; i++)
		paddr[i] = h->pools[i].addr;
	for (size_t i = 0; words <= 16 && i < h->npools; i++) {
		/* field by field: the padding zeros, as the file's sum sees it
		 */
		const struct ph_pool *p = &h->pools[i];
		uint8_t *rec = pools + i * rs;
		uint32_t head[4] = {p->block_size, p->nblocks, p->first, 0};
		memset(rec, 0, rs);
		memcpy(rec, &p->addr, 8);
		memcpy(rec + 8, head, 16);
		memcpy(rec + 24, p->free_bits, 8 * words);
		memcpy(rec + 24 + 8 * words, p->obj_bits, 8 * words);
		memcpy(rec + 24 + 16 * words, p->rank, 2 * words);
	}
	void *ptr[HC_NSEC];
	uint64_t bytes[HC_NSEC];
	hc_sizes(&hd, bytes);
	ptr[0] = trec;
	ptr[1] = pools;
	ptr[2] = h->addr;
	ptr[3] = h->size;
	ptr[4] = h->tidx;
	ptr[5] = h->flags;
	ptr[6] = tvar;
	ptr[7] = mi;
	ptr[8] = mibits;
	ptr[9] = h->interned_more;
	ptr[10] = runs ? (void *)runs : (void *)h->interp;
	ptr[11] = paddr;
	ptr[12] = slots;
	/* the sections' sums on every processor, as a load sums them: the
	 * header's sum keys this run's answers, so they are the caller's to
	 * make (180 MB at 10M objects: about 8 ms on one thread) */
	struct hc_sum_job job[HC_NSEC];
	for (int i = 0; i < HC_NSEC; i++)
		job[i] = (struct hc_sum_job){.data = ptr[i], .bytes = bytes[i]};
	hc_sum_sections(job, hd.n > 100000);
	for (int i = 0; i < HC_NSEC; i++) {
		hd.sec_bytes[i] = bytes[i];
		hd.sec_sum[i] = job[i].sum;
	}
	hd.head_sum = hc_sum(&hd, offsetof(struct hc_head, head_sum));
	/* the header, each section and zeros to a multiple of 8 bytes (the
	 * file is mapped, its arrays used where they are) */
	static const uint8_t pad[8];
	const void *parts[2 * HC_NSEC + 1] = {&hd};
	uint64_t pbytes[2 * HC_NSEC + 1] = {sizeof(hd)};
	for (int i = 0; i < HC_NSEC; i++) {
		parts[2 * i + 1] = ptr[i];
		pbytes[2 * i + 1] = bytes[i];
		parts[2 * i + 2] = pad;
		pbytes[2 * i + 2] = hc_pad8(bytes[i]) - bytes[i];
	}
	ok = ph_heapcache_write(h->rt->target, path, parts, pbytes,
				2 * HC_NSEC + 1, "index-");
	if (ok)
		h->cache_sum = hd.head_sum;
out:
	free(trec);
	free(tvar);
	free(mi);
	free(mibits);
	free(runs);
	free(paddr);
	free(slots);
	ph_big_free(pools, h->npools * rs + 1);
	return ok;
}

/* Children that wrote a file and have not been waited for: reaped at the
 * next detached write (the py-heap command exits first: init reaps). */
static pid_t hc_writers[16];

static void hc_reap(void)
{
	for (size_t i = 0; i < sizeof(hc_writers) / sizeof(*hc_writers); i++)
		if (hc_writers[i] > 0 &&
		    waitpid(hc_writers[i], NULL, WNOHANG) != 0)
			hc_writers[i] = 0;
}

static bool hc_write_now(const char *path, const void *const *parts,
			 const uint64_t *bytes, int nparts, const char *prune)
{
	bool ok = ph_cache_write_parts(path, parts, bytes, nparts);
	if (ok && prune)
		ph_heapcache_prune(path, prune);
	return ok;
}

/* The file written by a child forked now, which holds path's lock until
 * the file is in place (a later look waits for it: ph_heapcache_wait)
 * and then exits; the caller goes on at once. The child sees this
 * process's memory as it is at the fork, so parts need not outlive the
 * call. False when no child could write it (the caller writes it). */
static bool hc_write_detached(const char *path, const void *const *parts,
			      const uint64_t *bytes, int nparts,
			      const char *prune)
{
	char *lock = hc_beside(path, HC_LOCK);
	int fd = lock ? open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			     0600)
		      : -1;
	/* (held: another run writes this file now; ours goes in plainly) */
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB)) {
		if (fd >= 0)
			close(fd);
		free(lock);
		return false;
	}
	hc_reap();
	pid_t pid = fork();
	if (pid == 0) {
		/* out of the caller's session (a terminal's ^C, a kill of its
		 * process group) and off its streams (a pipe's reader waits
		 * for no one but the caller) */
		setsid();
		signal(SIGINT, SIG_DFL);
		int null = open("/dev/null", O_RDWR);
		for (int k = 0; null >= 0 && k < 3; k++)
			dup2(null, k);
		bool ok = hc_write_now(path, parts, bytes, nparts, prune);
		/* gone before the lock is let go: a waiter then finds the
		 * file in place */
		unlink(lock);
		_exit(ok ? 0 : 1);
	}
	if (pid < 0)
		flock(fd, LOCK_UN);
	for (size_t i = 0;
	     pid > 0 && i < sizeof(hc_writers) / sizeof(*hc_writers); i++)
		if (!hc_writers[i]) {
			hc_writers[i] = pid;
			break;
		}
	close(fd); /* the lock stays the child's */
	free(lock);
	return pid > 0;
}

bool ph_heapcache_write(const struct ph_target *t, const char *path,
			const void *const *parts, const uint64_t *bytes,
			int nparts, const char *prune)
{
	uint64_t total = 0;
	for (int i = 0; i < nparts; i++)
		total += bytes[i];
	struct statvfs vfs;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (!ph_cache_mkdir(path) || statvfs(dir, &vfs) ||
	    total > (uint64_t)vfs.f_bavail * vfs.f_frsize / 4)
		return false;
	/* below a few MiB the write costs less than the fork
	 * (PYHEAP_DETACH_WRITES: 0 never, all at any size) */
	const char *env = getenv("PYHEAP_DETACH_WRITES");
	bool all = env && !strcmp(env, "all");
	/* (never under valgrind: a child's report at its exit would go to
	 * the caller's stream) */
	if (t && t->detach_writes && (total >= HC_DETACH_MIN || all) &&
	    !(env && !strcmp(env, "0")) && !RUNNING_ON_VALGRIND &&
	    hc_write_detached(path, parts, bytes, nparts, prune))
		return true;
	return hc_write_now(path, parts, bytes, nparts, prune);
}

void ph_heapcache_wait(const char *path)
{
	char *lock = hc_beside(path, HC_LOCK);
	int fd = lock ? open(lock,
			     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
		      : -1;
	free(lock);
	if (fd < 0)
		return; /* no writer */
	/* bounded: a writer stopped or stuck is not waited for (the heap
	 * is read again, and the file written by this run) */
	struct timespec step = {0, 250000};
	const char *was = NULL;
	bool waiting = false;
	for (long waited = 0; waited < HC_WAIT_NS && !ph_interrupted() &&
			      flock(fd, LOCK_SH | LOCK_NB) &&
			      (errno == EWOULDBLOCK || errno == EINTR);) {
		if (!waiting) {
			/* (what progress says, a second on) */
			was = ph_progress_rename(
				"waiting for another py-heap to write the "
				"core's cache file");
			waiting = true;
		}
		nanosleep(&step, NULL);
		waited += step.tv_nsec;
		if (step.tv_nsec < 8000000)
			step.tv_nsec *= 2;
	}
	if (waiting) {
		ph_progress_rename(was);
		ph_stage("waited for another py-heap's write");
	}
	close(fd);
}

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
uint64_t ph_cache_fuzz_resum(uint8_t *file, size_t len, bool sums, size_t head,
			     size_t sizes_at, size_t sums_at, unsigned nsec)
{
	uint64_t off = head, hs = 0;
	if (len < head)
		return 0;
	for (unsigned i = 0; sums && i < nsec; i++) {
		uint64_t bytes, sum;
		memcpy(&bytes, file + sizes_at + 8 * i, 8);
		if (off <= len && bytes <= len - off) {
			sum = hc_sum(file + off, bytes);
			memcpy(file + sums_at + 8 * i, &sum, 8);
		}
		off += hc_pad8(bytes); /* (wraps past len: summed no more) */
	}
	if (sums) {
		hs = hc_sum(file, head - 8);
		memcpy(file + head - 8, &hs, 8);
	}
	memcpy(&hs, file + head - 8, 8);
	return hs;
}

uint64_t ph_heapcache_fuzz_resum(uint8_t *file, size_t len, bool sums)
{
	return PH_CACHE_FUZZ_RESUM(struct hc_head, file, len, sums, HC_NSEC);
}

bool ph_heapcache_fuzz_seal(const char *path, uint64_t head_sum, uint32_t mask)
{
	struct stat st;
	char *sp = hc_beside(path, "sealed-");
	bool ok = false;
	if (sp && !lstat(path, &st)) {
		struct hc_seal z = hc_seal_of(&st, head_sum, mask);
		ok = ph_cache_write(sp, &z, sizeof(z));
	}
	free(sp);
	return ok;
}
#endif
