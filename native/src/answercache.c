/*
 * answercache.c - the answers' cache: what a run computed for a whole core
 * beyond its graph (the cycles and the unreachable set with its fates,
 * refcheck's excesses and deficits, the dominator tree and its retained
 * sizes), kept as MAT keeps its dominator and retained-size indexes beside
 * a dump: a file per answer and core, ans-KIND-HASH, beside the index and
 * graph caches (heapcache.c, graphcache.c), tied like the graph's to the
 * index file it numbers objects by (that file's header sum). A later run
 * on the same core maps it instead of computing the answer again; the
 * structures are kept, not the output, so that --limit, --type, --json
 * and --interp still apply.
 *
 * Nothing in it is trusted: a file of another size, format, index or
 * checksum is ignored (the answer computed again and the file rewritten);
 * beyond the sums, the callers check every number they index with.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "answercache.h"
#include "heapcache.h"
#include "internal.h"
#include "notes.h"
#include "objtable.h"

#define AC_MAGIC 0x31415048u /* "HPA1" */
/* bounded: no answer's file above this many bytes per object (the
 * dominator tree takes 20) */
#define AC_MAX_PER_OBJECT 24

struct ac_head {
	uint32_t magic, format, head_size, nsec;
	char kind[16];
	uint64_t table_sum; /* the index cache file's header sum */
	uint64_t build;	    /* the build-id of the code that computed it */
	uint64_t n;
	uint64_t val[PH_ANSWER_VALS];
	uint64_t sec_bytes[PH_ANSWER_SECS];
	uint64_t sec_sum[PH_ANSWER_SECS];
	uint64_t head_sum; /* of everything above */
};

_Static_assert(sizeof(struct ac_head) % 8 == 0, "sections aligned");

static uint64_t pad8(uint64_t x)
{
	return (x + 7) & ~7ULL;
}

/* ans-KIND-HASH, HASH the index file's */
static char *ac_path(const struct ph_runtime *rt, uint64_t table_sum,
		     const char *kind)
{
	if (!table_sum || strlen(kind) >= 16 || !ph_build_hash())
		return NULL;
	char *index = ph_heapcache_path(rt);
	char *slash = index ? strrchr(index, '/') : NULL;
	char *path = NULL;
	if (slash && !strncmp(slash + 1, "index-", 6) &&
	    asprintf(&path, "%.*s/ans-%s-%s", (int)(slash - index), index, kind,
		     slash + 7) < 0)
		path = NULL;
	free(index);
	return path;
}

/* A section's sum, or (check set) the caller's check of the sections */
struct ac_job {
	const void *data;
	uint64_t bytes, sum;
	bool (*check)(const struct ph_answers *a, void *ctx);
	void *ctx;
	const struct ph_answers *a;
	bool ok;
};

static void *ac_sum_worker(void *arg)
{
	struct ac_job *j = arg;
	if (j->check)
		j->ok = j->check(j->a, j->ctx);
	else
		j->sum = ph_heapcache_sum(j->data, j->bytes);
	return NULL;
}

/* The answer kind of the index whose header sum is table_sum (of n
 * objects): ph_answercache_load's and _load_rows' work. */
static bool ac_load(const struct ph_runtime *rt, uint64_t table_sum, uint64_t n,
		    const char *kind, unsigned format, int nsec,
		    bool (*check)(const struct ph_answers *a, void *ctx),
		    void *ctx, bool rows, struct ph_answers *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (nsec < 0 || nsec > PH_ANSWER_SECS)
		return false;
	char *path = ac_path(rt, table_sum, kind);
	if (!path)
		return false;
	bool ok = false;
	int fd = -1;
	uint8_t *map = MAP_FAILED;
	uint64_t total = sizeof(struct ac_head);
	if (!ph_cache_dir_ok(path))
		goto out;
	ph_heapcache_wait(path);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct ac_head hd;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() ||
	    pread(fd, &hd, sizeof(hd), 0) != sizeof(hd))
		goto out;
	if (hd.magic != AC_MAGIC || hd.format != format ||
	    hd.head_size != sizeof(hd) || hd.nsec != (uint32_t)nsec ||
	    hd.head_sum !=
		    ph_heapcache_sum(&hd, offsetof(struct ac_head, head_sum)) ||
	    strncmp(hd.kind, kind, sizeof(hd.kind)) ||
	    hd.table_sum != table_sum || hd.build != ph_build_hash() ||
	    hd.n != n)
		goto out;
	for (int i = 0; i < nsec; i++) {
		if (hd.sec_bytes[i] > (uint64_t)AC_MAX_PER_OBJECT * (n + 1000))
			goto out;
		total += pad8(hd.sec_bytes[i]);
	}
	if ((uint64_t)st.st_size != total)
		goto out;
	map = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
		   0);
	if (map == MAP_FAILED)
		goto out;
	/* the check (first: the longest job) runs beside the sums, on bytes
	 * not yet known intact: it must be safe on any bytes, and the answer
	 * is taken only when the sums and it agree */
	struct ac_job job[PH_ANSWER_SECS + 1];
	struct ac_job *sums = job + 1;
	uint64_t off = sizeof(hd);
	job[0] = (struct ac_job){.check = check, .ctx = ctx, .a = ret};
	for (int i = 0; i < nsec; i++) {
		sums[i] = (struct ac_job){.data = map + off,
					  .bytes = hd.sec_bytes[i]};
		ret->sec[i] = map + off;
		ret->bytes[i] = hd.sec_bytes[i];
		off += pad8(hd.sec_bytes[i]);
	}
	memcpy(ret->val, hd.val, sizeof(ret->val));
	/* sealed (summed whole and found intact by an earlier run, the file
	 * unchanged since: heapcache.c): not summed again, and not checked
	 * either for a caller that checks each number as it reads it */
	uint32_t all = (1u << nsec) - 1;
	bool sealed = nsec && (ph_heapcache_sealed(path, &st, hd.head_sum) &
			       all) == all;
	if (!sealed) {
		ph_run_chunks(ac_sum_worker, check ? job : sums, sizeof(job[0]),
			      (size_t)nsec + (check != NULL),
			      total > (8u << 20));
		for (int i = 0; i < nsec; i++)
			if (sums[i].sum != hd.sec_sum[i])
				goto out;
	} else if (check && !rows)
		ac_sum_worker(&job[0]);
	if (check && (!sealed || !rows) && !job[0].ok)
		goto out;
	if (!sealed && nsec)
		ph_heapcache_seal(path, &st, hd.head_sum, all);
	ret->unchecked = sealed && rows && check;
	ret->map = map;
	ret->map_len = (size_t)total;
	ok = true;
out:
	if (!ok) {
		if (map != MAP_FAILED)
			munmap(map, (size_t)total);
		memset(ret, 0, sizeof(*ret));
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return ok;
}

bool ph_answercache_load(const struct ph_heap *h, const char *kind,
			 unsigned format, int nsec, struct ph_answers *ret)
{
	return ac_load(h->rt, h->cache_sum, h->n, kind, format, nsec, NULL,
		       NULL, false, ret);
}

bool ph_answercache_load_rows(const struct ph_heap *h, const char *kind,
			      unsigned format, int nsec,
			      bool (*check)(const struct ph_answers *a,
					    void *ctx),
			      void *ctx, struct ph_answers *ret)
{
	return ac_load(h->rt, h->cache_sum, h->n, kind, format, nsec, check,
		       ctx, true, ret);
}

void ph_answercache_release(struct ph_answers *a)
{
	if (a->map)
		munmap(a->map, a->map_len);
	memset(a, 0, sizeof(*a));
}

/* The answer's file of the index rt's core has (table_sum, n objects),
 * then the files named prune* but the 8 newest gone (NULL: ans-KIND-*). */
static bool ac_store(const struct ph_runtime *rt, uint64_t table_sum,
		     uint64_t n, const char *kind, unsigned format, int nsec,
		     const void *const *sec, const uint64_t *bytes,
		     const uint64_t *val, const char *prune)
{
	if (nsec < 0 || nsec > PH_ANSWER_SECS)
		return false;
	char *path = ac_path(rt, table_sum, kind);
	if (!path)
		return false;
	struct ac_head hd = {.magic = AC_MAGIC,
			     .format = format,
			     .head_size = sizeof(hd),
			     .nsec = (uint32_t)nsec,
			     .table_sum = table_sum,
			     .build = ph_build_hash(),
			     .n = n};
	snprintf(hd.kind, sizeof(hd.kind), "%s", kind);
	memcpy(hd.val, val, sizeof(hd.val));
	static const uint8_t zeros[8];
	const void *parts[1 + 2 * PH_ANSWER_SECS];
	uint64_t pbytes[1 + 2 * PH_ANSWER_SECS], total = sizeof(hd);
	int np = 1;
	for (int i = 0; i < nsec; i++) {
		/* (an empty section may have no array) */
		const void *data = bytes[i] ? sec[i] : zeros;
		hd.sec_bytes[i] = bytes[i];
		hd.sec_sum[i] = ph_heapcache_sum(data, bytes[i]);
		parts[np] = data;
		pbytes[np++] = bytes[i];
		parts[np] = zeros;
		pbytes[np++] = pad8(bytes[i]) - bytes[i];
		total += pad8(bytes[i]);
	}
	bool ok = false;
	if (total <= (uint64_t)AC_MAX_PER_OBJECT * (n + 1000)) {
		hd.head_sum = ph_heapcache_sum(
			&hd, offsetof(struct ac_head, head_sum));
		parts[0] = &hd;
		pbytes[0] = sizeof(hd);
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "ans-%s-", kind);
		ok = ph_heapcache_write(rt->target, path, parts, pbytes, np,
					prune ? prune : prefix);
	}
	free(path);
	return ok;
}

bool ph_answercache_store(const struct ph_heap *h, const char *kind,
			  unsigned format, int nsec, const void *const *sec,
			  const uint64_t *bytes, const uint64_t *val)
{
	return ac_store(h->rt, h->cache_sum, h->n, kind, format, nsec, sec,
			bytes, val, NULL);
}

/* Four numbers at a time: -O2 leaves these loops scalar, and a cached
 * cycles reads a million numbers each run (2 ms of its 20 at 2M objects).
 * Compared signed, the top bit flipped: SSE2 compares only signed. */
typedef int32_t v4i __attribute__((vector_size(16)));
#define V4_FLIP ((int32_t)0x80000000u)

static v4i v4_load(const uint32_t *v)
{
	v4i x;
	memcpy(&x, v, sizeof(x));
	return x ^ V4_FLIP;
}

static bool v4_none(v4i x)
{
	int32_t any = 0;
	for (int k = 0; k < 4; k++)
		any |= x[k];
	return !any;
}

bool ph_answercache_below(const uint32_t *v, size_t count, uint32_t lim,
			  uint32_t except)
{
	v4i bad = {0};
	int32_t l = (int32_t)(lim ^ 0x80000000u),
		e = (int32_t)(except ^ 0x80000000u);
	size_t i = 0;
	for (; i + 4 <= count; i += 4) {
		v4i x = v4_load(v + i);
		bad |= (x >= l) & (x != e);
	}
	bool ok = v4_none(bad);
	for (; i < count; i++)
		ok &= v[i] < lim || v[i] == except;
	return ok;
}

bool ph_answercache_ascending(const uint32_t *v, size_t count)
{
	v4i bad = {0};
	size_t i = 1;
	for (; i + 4 <= count; i += 4)
		bad |= v4_load(v + i) <= v4_load(v + i - 1);
	bool ok = v4_none(bad);
	for (; i < count; i++)
		ok &= v[i] > v[i - 1];
	return ok;
}

/* ---- the dominator tree ------------------------------------------------ */

#define DOM_FORMAT 2

/* A half of domtree_check */
struct dt_half {
	const struct ph_answers *a;
	uint32_t n;
	void *(*fn)(void *arg);
	bool ok;
};

/* The order the positions' inverse: at each position an object below n
 * whose position it is. That makes the order one-to-one, so a permutation,
 * and the positions its inverse, a permutation too. */
static void *dt_order(void *arg)
{
	struct dt_half *c = arg;
	const uint32_t *pos = c->a->sec[0], *order = c->a->sec[3];
	uint32_t n = c->n, bad = 0;
	for (uint32_t p = 0; p < n; p++) {
		uint32_t x = order[p];
		bad |= x >= n;
		x = x < n ? x : 0;
		bad |= pos[x] != p;
	}
	c->ok = !bad;
	return NULL;
}

/* Every subtree within its tree (the reachable objects' or the others') */
static void *dt_subtrees(void *arg)
{
	struct dt_half *c = arg;
	const uint32_t *count = c->a->sec[1];
	uint64_t nreach = c->a->val[0];
	uint32_t n = c->n, bad = 0;
	for (uint32_t p = 0; p < nreach; p++)
		bad |= (count[p] < 1) | ((uint64_t)p + count[p] > nreach);
	for (uint32_t p = (uint32_t)nreach; p < n; p++)
		bad |= (count[p] < 1) | ((uint64_t)p + count[p] > n);
	c->ok = !bad;
	return NULL;
}

static void *dt_half_worker(void *arg)
{
	struct dt_half *c = arg;
	return c->fn(c);
}

/* The sections' sizes (dom_sizes); the positions and the order each
 * other's inverse, permutations (every range indexes with them), every
 * subtree within its tree: the two halves on two processors. Run beside
 * the sums: safe on any bytes. */
static bool dom_sizes(const struct ph_answers *a, uint32_t n)
{
	return a->bytes[0] == (uint64_t)n * 4 &&
	       a->bytes[1] == (uint64_t)n * 4 &&
	       a->bytes[2] == ((uint64_t)n + 1) * 8 &&
	       a->bytes[3] == (uint64_t)n * 4 && a->val[0] <= n;
}

static bool domtree_check(const struct ph_answers *a, void *ctx)
{
	uint32_t n = *(const uint32_t *)ctx;
	if (!dom_sizes(a, n))
		return false;
	struct dt_half h[2] = {{a, n, dt_order, false},
			       {a, n, dt_subtrees, false}};
	ph_run_parallel(dt_half_worker, h, sizeof(h[0]), 2, n > 100000);
	return h[0].ok && h[1].ok;
}

bool ph_answercache_domtree_load(const struct ph_heap *h, bool rows,
				 struct ph_domtree **ret)
{
	struct ph_answers a;
	uint32_t n = (uint32_t)h->n;
	if (h->n >= (1U << 31) - 4 ||
	    !ac_load(h->rt, h->cache_sum, h->n, "dom", DOM_FORMAT, 4,
		     domtree_check, &n, rows, &a))
		return false;
	uint64_t nreach = a.val[0];
	/* (what ph_domtree_pos's readers need of a tree not checked) */
	if (a.unchecked && !dom_sizes(&a, n)) {
		ph_answercache_release(&a);
		return false;
	}
	struct ph_domtree *d = calloc(1, sizeof(*d));
	if (!d) {
		ph_answercache_release(&a);
		return false;
	}
	d->n = n;
	d->nreach = (uint32_t)nreach;
	d->pos = a.sec[0];
	d->count = a.sec[1];
	d->bytes = a.sec[2];
	d->order = a.sec[3];
	d->total_bytes = a.val[1];
	d->reach_bytes = a.val[2];
	d->nodes = (uint32_t)a.val[3];
	d->unreachable_entries = (uint32_t)a.val[4];
	d->map = a.map;
	d->map_len = a.map_len;
	d->unchecked = a.unchecked;
	*ret = d;
	return true;
}

bool ph_answercache_domtree_store(const struct ph_heap *h,
				  const struct ph_domtree *d)
{
	if (d->map || d->n != h->n)
		return false;
	uint32_t *order = ph_domtree_order(d);
	if (!order)
		return false;
	const void *sec[4] = {d->pos, d->count, d->bytes, order};
	uint64_t bytes[4] = {(uint64_t)d->n * 4, (uint64_t)d->n * 4,
			     ((uint64_t)d->n + 1) * 8, (uint64_t)d->n * 4};
	uint64_t val[PH_ANSWER_VALS] = {d->nreach, d->total_bytes,
					d->reach_bytes, d->nodes,
					d->unreachable_entries};
	bool ok =
		ph_answercache_store(h, "dom", DOM_FORMAT, 4, sec, bytes, val);
	ph_domtree_order_free(d, order);
	return ok;
}

/* ---- a command's output ------------------------------------------------ */

#define OUT_FORMAT 1

/* ans-outHASH-INDEX: HASH twelve hex digits of the key's (the key itself
 * is kept in the file and compared) */
static void out_kind(const void *key, size_t key_len, char kind[16])
{
	snprintf(kind, 16, "out%012llx",
		 (unsigned long long)(ph_fnv1a(key, key_len, PH_FNV_BASIS) &
				      0xffffffffffffULL));
}

struct out_ctx {
	const void *key;
	size_t key_len;
};

#define OUT_NOTE_(NAME, code) +1
static const uint32_t out_note_codes = 0 PH_NOTE_LIST(OUT_NOTE_);
#undef OUT_NOTE_

/* The key, whole; the notes' section a whole number of records, each of
 * a known code. */
static bool out_check(const struct ph_answers *a, void *ctx)
{
	const struct out_ctx *c = ctx;
	if (a->bytes[2] != c->key_len || memcmp(a->sec[2], c->key, c->key_len))
		return false;
	const uint8_t *p = a->sec[1];
	uint64_t left = a->bytes[1];
	while (left) {
		uint32_t rec[2];
		if (left < sizeof(rec))
			return false;
		memcpy(rec, p, sizeof(rec));
		if (rec[1] > left - sizeof(rec) || rec[0] >= out_note_codes)
			return false;
		p += sizeof(rec) + rec[1];
		left -= sizeof(rec) + rec[1];
	}
	return a->val[0] <= 1 && a->val[1] == a->bytes[0];
}

bool ph_answercache_outputs_on(const struct ph_runtime *rt)
{
	const char *off = getenv("PYHEAP_NO_OUTPUT_CACHE");
	return ph_heapcache_wanted(rt) && !(off && *off && strcmp(off, "0"));
}

bool ph_answercache_output_load(const struct ph_runtime *rt, const void *key,
				size_t key_len, struct ph_answers *ret)
{
	uint64_t sum, n;
	char kind[16];
	memset(ret, 0, sizeof(*ret));
	if (!ph_heapcache_identity(rt, &sum, &n))
		return false;
	out_kind(key, key_len, kind);
	struct out_ctx c = {key, key_len};
	return ac_load(rt, sum, n, kind, OUT_FORMAT, 3, out_check, &c, false,
		       ret);
}

bool ph_answercache_output_store(const struct ph_runtime *rt,
				 const struct ph_heap *h, const void *key,
				 size_t key_len, const void *out,
				 size_t out_len, const void *notes,
				 size_t notes_len, bool partial)
{
	char kind[16];
	out_kind(key, key_len, kind);
	const void *sec[3] = {out, notes, key};
	uint64_t bytes[3] = {out_len, notes_len, key_len};
	uint64_t val[PH_ANSWER_VALS] = {partial, out_len};
	uint64_t sum = h ? h->cache_sum : 0, n = h ? h->n : 0;
	/* the outputs' bound: the 8 newest of all (each its own kind) */
	return (h || ph_heapcache_identity(rt, &sum, &n)) &&
	       ac_store(rt, sum, n, kind, OUT_FORMAT, 3, sec, bytes, val,
			"ans-out");
}

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
uint64_t ph_answercache_fuzz_resum(uint8_t *file, size_t len, bool sums)
{
	struct ac_head hd;
	if (len < sizeof(hd))
		return 0;
	memcpy(&hd, file, sizeof(hd));
	return PH_CACHE_FUZZ_RESUM(struct ac_head, file, len, sums,
				   hd.nsec < PH_ANSWER_SECS ? hd.nsec
							    : PH_ANSWER_SECS);
}
#endif
