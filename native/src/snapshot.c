/* snapshot.c - the snapshot file format: written and read here, validated
 * on read (docs/design.md, "The snapshot file").
 *
 * A file is a 64-byte header, a table of sections (32 bytes each) and the
 * sections, each at an 8-byte aligned offset, each with its CRC-32C. The
 * objects are stored by column, each column a section: addresses as
 * deltas, types, sizes against their type's usual size, GC generations,
 * fingerprints, the shortest-path tree; mostly unsigned LEB128 varints,
 * which make a heap about 8 bytes per object. Nothing read is trusted:
 * every count is checked against the bytes that could hold it before
 * memory is allocated for it, every index against what it indexes, and
 * the tree for loops. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "snapshot.h"

/* Sections, by id. Required ones make an older reader refuse the file
 * when it does not know them. */
enum {
	SEC_META = 1,
	SEC_TYPES = 2,
	SEC_ADDR = 3,
	SEC_TYPE = 4,
	SEC_SIZE = 5,
	SEC_GEN = 6,
	SEC_FP = 7,
	SEC_PARENT = 8,
	SEC_ROOTS = 9,
	SEC_NAMES = 10,
	SEC_COUNT_,
};
#define SEC_REQUIRED 1u

/* META's entries: tag, length, value (numbers as varints). */
enum {
	META_PYHEAP_VERSION = 1,
	META_PYTHON = 2,
	META_HEXVERSION = 3,
	META_ORIGIN = 4,
	META_SOURCE = 5,
	META_EXE = 6,
	META_PID = 7,
	META_AT_RANDOM = 8,
	META_BUILD_ID = 9,
	META_RUNTIME = 10,
	META_TIME_US = 11,
	META_PAUSED_US = 12,
	META_GC_MODEL = 13,
	META_FP_VERSION = 14,
	META_PARTIAL = 15,
	META_OBJECTS = 16,
	META_BYTES = 17,
	META_NAMES_MIN = 18,
	META_INTERP = 19, /* snapshot --interp: whose objects alone */
};

#define HEADER_SIZE 64
#define ENTRY_SIZE 32

/* ---- CRC-32C, slice by 8 ------------------------------------------------- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static bool crc_hw; /* the processor computes it (crc_sse42) */

static void crc_init(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] =
				(crc_table[t - 1][i] >> 8) ^
				crc_table[0][crc_table[t - 1][i] & 0xff];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* SSE 4.2's crc32 instruction computes this CRC (Castagnoli's, the same
 * bits as the tables): 8 bytes a step, some 5 times as fast as the
 * tables (an 83 MB snapshot of 10M objects is checked twice a diff). */
__attribute__((target("sse4.2"))) static uint32_t
crc_sse42(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t c = ~crc;
	while (n && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		n--;
	}
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
	}
	while (n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#define HAVE_CRC_SSE42 1
#endif

uint32_t ph_crc32c(uint32_t crc, const void *data, size_t n)
{
	pthread_once(&crc_once, crc_init);
#ifdef HAVE_CRC_SSE42
	if (crc_hw)
		return crc_sse42(crc, data, n);
#endif
	const uint8_t *p = data;
	crc = ~crc;
	while (n && ((uintptr_t)p & 7)) {
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		n--;
	}
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		w ^= crc;
		crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
		      crc_table[5][(w >> 16) & 0xff] ^
		      crc_table[4][(w >> 24) & 0xff] ^
		      crc_table[3][(w >> 32) & 0xff] ^
		      crc_table[2][(w >> 40) & 0xff] ^
		      crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- writing ------------------------------------------------------------- */

/* A growable byte array (a section being written). */
struct bytes {
	uint8_t *p;
	size_t len, cap;
	bool failed;
};

static bool bytes_reserve(struct bytes *b, size_t extra)
{
	if (b->failed)
		return false;
	if (b->cap - b->len >= extra)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < extra)
		cap *= 2;
	/* (a column of 10M objects: ph_big_alloc's, as the snapshot's
	 * arrays) */
	uint8_t *p = ph_big_alloc(cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	if (b->len)
		memcpy(p, b->p, b->len);
	ph_big_free(b->p, b->cap);
	b->p = p;
	b->cap = cap;
	return true;
}

static inline void put_varint(struct bytes *b, uint64_t v)
{
	if (b->cap - b->len < 10 && !bytes_reserve(b, 10))
		return;
	uint8_t *p = b->p + b->len;
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	b->len = (size_t)(p - b->p);
}

static void put_bytes(struct bytes *b, const void *s, size_t n)
{
	if (!bytes_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put_string(struct bytes *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > PH_SNAP_MAX_STRING - 1)
		n = PH_SNAP_MAX_STRING - 1;
	put_varint(b, n);
	put_bytes(b, s, n);
}

static inline uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void meta_str(struct bytes *b, unsigned tag, const char *s)
{
	if (!s)
		return;
	put_varint(b, tag);
	put_string(b, s);
}

static void meta_num(struct bytes *b, unsigned tag, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		tmp[n++] = (uint8_t)(v >= 0x80 ? (v | 0x80) : v);
		v >>= 7;
	} while (v);
	put_varint(b, tag);
	put_varint(b, n);
	put_bytes(b, tmp, n);
}

static void meta_raw(struct bytes *b, unsigned tag, const void *p, size_t n)
{
	put_varint(b, tag);
	put_varint(b, n);
	put_bytes(b, p, n);
}

struct section {
	uint32_t id, flags, count;
	struct bytes b;
};

/* What one thread encodes: the columns (sec: ADDR, TYPE, SIZE, GEN, FP
 * in a row), or the tree (sec: PARENT). */
struct enc_job {
	const struct ph_snap *s;
	struct section *sec;
	bool tree;
	struct ph_error *err;
};

static struct ph_error *encode_columns(const struct ph_snap *s,
				       struct section *ad)
{
	struct section *ty = ad + 1, *sz = ad + 2, *ge = ad + 3, *fp = ad + 4;
	uint64_t prev = 0;
	uint32_t nfp = 0;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t a = ph_snap_addr(s, i);
		uint32_t tx = ph_snap_type(s, i);
		if ((a & 7) || (i && a <= prev) || tx >= s->ntypes)
			return ph_error_create(
				PH_ERR_CORRUPT,
				"snapshot: object %zu at 0x%llx is not in "
				"address order or not aligned",
				i, (unsigned long long)a);
		put_varint(&ad->b, (a - prev) >> 3);
		prev = a;
		put_varint(&ty->b, tx);
		put_varint(&sz->b, zigzag((int64_t)(ph_snap_size(s, i) -
						    s->types[tx].usual)));
		if (s->types[tx].flags & PH_SNAP_TYPE_FP) {
			uint32_t v = ph_snap_fp(s, i);
			uint8_t f[4] = {(uint8_t)v, (uint8_t)(v >> 8),
					(uint8_t)(v >> 16), (uint8_t)(v >> 24)};
			/* a format 1 file's fingerprints stay 16 bits */
			put_bytes(&fp->b, f, s->fp_version <= 1 ? 2 : 4);
			nfp++;
		}
		uint8_t g = ph_snap_gen(s, i) & 0xf;
		if (i & 1)
			ge->b.p[ge->b.len - 1] |= (uint8_t)(g << 4);
		else
			put_bytes(&ge->b, &g, 1);
	}
	fp->count = nfp;
	return NULL;
}

static struct ph_error *encode_tree(const struct ph_snap *s, struct section *pa)
{
	pa->id = SEC_PARENT;
	pa->count = (uint32_t)s->n;
	bytes_reserve(&pa->b, 3 * s->n + 16);
	/* made from a heap: the graph's tree, in heap numbers */
	uint32_t *inv = NULL;
	const uint32_t *gp = NULL;
	size_t hn = 0;
	if (!s->parent) {
		hn = s->heap->n;
		gp = s->graph->parent;
		if (!(inv = ph_big_alloc((hn + 1) * sizeof(*inv))))
			return ph_error_nomem();
		for (size_t i = 0; i < hn; i++)
			inv[i] = PH_NONE;
		for (size_t i = 0; i < s->n; i++)
			inv[s->heap_index[i]] = (uint32_t)i;
	}
	for (size_t i = 0; i < s->n; i++) {
		uint32_t p;
		if (s->parent)
			p = s->parent[i];
		else {
			p = gp[s->heap_index[i]];
			if (p != PH_NONE && !(p & PH_ROOT_BIT))
				p = p < hn ? inv[p] : PH_NONE;
			if (p == (uint32_t)i)
				p = PH_NONE;
		}
		uint64_t v;
		if (p == PH_NONE)
			v = 0;
		else if (p & PH_ROOT_BIT)
			v = 2 * (uint64_t)(p & ~PH_ROOT_BIT) + 1;
		else
			v = 2 * zigzag((int64_t)p - (int64_t)i);
		put_varint(&pa->b, v);
	}
	ph_big_free(inv, (hn + 1) * sizeof(*inv));
	return NULL;
}

static void *encode_job(void *arg)
{
	struct enc_job *j = arg;
	j->err = j->tree ? encode_tree(j->s, j->sec)
			 : encode_columns(j->s, j->sec);
	return NULL;
}

/* Encodes every section; *ret_n of them in sec[]. */
static struct ph_error *encode_sections(const struct ph_snap *s,
					struct section sec[SEC_COUNT_],
					size_t *ret_n)
{
	size_t k = 0;
	memset(sec, 0, sizeof(struct section) * SEC_COUNT_);
	if (s->n > PH_SNAP_MAX_OBJECTS)
		return ph_error_create(PH_ERR_USAGE,
				       "snapshot: %zu objects is more than a "
				       "snapshot holds",
				       s->n);
	/* META */
	struct section *m = &sec[k++];
	m->id = SEC_META;
	m->flags = SEC_REQUIRED;
	struct bytes *b = &m->b;
	meta_str(b, META_PYHEAP_VERSION, s->pyheap_version);
	meta_str(b, META_PYTHON, s->python);
	meta_num(b, META_HEXVERSION, s->hexversion);
	meta_str(b, META_ORIGIN, s->origin);
	meta_str(b, META_SOURCE, s->source);
	meta_str(b, META_EXE, s->exe);
	meta_num(b, META_PID, (uint64_t)s->pid);
	if (s->has_random)
		meta_raw(b, META_AT_RANDOM, s->at_random, 16);
	if (s->build_id_len && s->build_id_len <= sizeof(s->build_id))
		meta_raw(b, META_BUILD_ID, s->build_id, s->build_id_len);
	meta_num(b, META_RUNTIME, s->runtime_addr);
	meta_num(b, META_TIME_US, (uint64_t)s->time_us);
	meta_num(b, META_PAUSED_US,
		 s->paused_ms > 0 ? (uint64_t)(s->paused_ms * 1000.0) : 0);
	meta_num(b, META_GC_MODEL, s->gc_model);
	meta_num(b, META_FP_VERSION, s->fp_version);
	meta_num(b, META_PARTIAL, s->partial);
	meta_num(b, META_OBJECTS, s->n);
	meta_num(b, META_BYTES, s->bytes);
	meta_num(b, META_NAMES_MIN, s->names_min);
	m->count = 18;
	if (s->has_interp) {
		meta_num(b, META_INTERP, (uint64_t)s->interp);
		m->count++;
	}

	/* TYPES */
	struct section *t = &sec[k++];
	t->id = SEC_TYPES;
	t->flags = SEC_REQUIRED;
	t->count = (uint32_t)s->ntypes;
	for (size_t i = 0; i < s->ntypes; i++) {
		const struct ph_snap_type *ty = &s->types[i];
		put_string(&t->b, ty->name);
		put_varint(&t->b, ty->addr);
		put_varint(&t->b, ty->kind);
		put_varint(&t->b, ty->flags);
		put_varint(&t->b, ty->usual);
		put_varint(&t->b, ty->count);
	}

	/* the columns */
	struct section *ad = &sec[k++], *ty = &sec[k++], *sz = &sec[k++],
		       *ge = &sec[k++], *fp = &sec[k++];
	ad->id = SEC_ADDR, ty->id = SEC_TYPE, sz->id = SEC_SIZE;
	ge->id = SEC_GEN, fp->id = SEC_FP;
	ad->flags = ty->flags = sz->flags = ge->flags = fp->flags =
		SEC_REQUIRED;
	ad->count = ty->count = sz->count = ge->count = (uint32_t)s->n;
	/* a first guess of their sizes: few grow again */
	bytes_reserve(&ad->b, s->n + s->n / 4 + 16);
	bytes_reserve(&ty->b, s->n + s->n / 8 + 16);
	bytes_reserve(&sz->b, s->n + s->n / 2 + 16);
	bytes_reserve(&ge->b, s->n / 2 + 16);
	bytes_reserve(&fp->b, 4 * s->n + 16); /* (pages not written cost
						 nothing) */
	/* the columns on this thread, the tree on another */
	struct enc_job job[2] = {{.s = s, .sec = ad},
				 {.s = s, .sec = &sec[k], .tree = true}};
	bool tree = ph_snap_has_tree(s);
	ph_run_parallel(encode_job, job, sizeof(job[0]), tree ? 2 : 1,
			tree && s->n > 100000);
	if (job[0].err) {
		ph_error_destroy(job[1].err);
		return job[0].err;
	}
	if (job[1].err)
		return job[1].err;

	if (ph_snap_has_tree(s)) {
		k++; /* PARENT: encode_tree's */
		struct section *ro = &sec[k++];
		ro->id = SEC_ROOTS;
		ro->count = (uint32_t)s->nroots;
		for (size_t i = 0; i < s->nroots; i++)
			put_string(&ro->b, s->roots[i]);
		struct section *na = &sec[k++];
		na->id = SEC_NAMES;
		na->count = (uint32_t)s->nnamed;
		for (size_t i = 0; i < s->nnamed; i++) {
			put_varint(&na->b, i ? s->named[i] - s->named[i - 1]
					     : s->named[i]);
			put_string(&na->b, s->labels[i]);
		}
	}
	for (size_t i = 0; i < k; i++)
		if (sec[i].b.failed)
			return ph_error_nomem();
	*ret_n = k;
	return NULL;
}

static void sections_free(struct section *sec, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ph_big_free(sec[i].b.p, sec[i].b.cap);
}

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static size_t align8(size_t v)
{
	return (v + 7) & ~(size_t)7;
}

/* The header and the table (head, head_len bytes) for these sections;
 * each section's offset follows the one before it. */
static void encode_head(struct section *sec, size_t n, uint8_t *head,
			size_t head_len, size_t *ret_file_len)
{
	memset(head, 0, head_len);
	size_t off = align8(head_len);
	uint8_t *tab = head + HEADER_SIZE;
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = tab + i * ENTRY_SIZE;
		le32(e, sec[i].id);
		le32(e + 4, sec[i].flags);
		le64(e + 8, off);
		le64(e + 16, sec[i].b.len);
		le32(e + 24, sec[i].count);
		le32(e + 28, ph_crc32c(0, sec[i].b.p, sec[i].b.len));
		off = align8(off + sec[i].b.len);
	}
	memcpy(head, PH_SNAP_MAGIC, PH_SNAP_MAGIC_LEN);
	le16(head + 8, PH_SNAP_MAJOR);
	le16(head + 10, PH_SNAP_MINOR);
	le32(head + 12, HEADER_SIZE);
	le64(head + 16, off);
	le32(head + 24, (uint32_t)n);
	le32(head + 28, 0);
	le64(head + 32, HEADER_SIZE);
	le32(head + 40, ph_crc32c(0, tab, n * ENTRY_SIZE));
	le32(head + 60, ph_crc32c(0, head, 60));
	*ret_file_len = off;
}

struct ph_error *ph_snap_encode(const struct ph_snap *s, uint8_t **ret,
				size_t *ret_len)
{
	struct section sec[SEC_COUNT_];
	size_t n = 0;
	struct ph_error *err = encode_sections(s, sec, &n);
	if (err) {
		sections_free(sec, SEC_COUNT_);
		return err;
	}
	size_t head_len = HEADER_SIZE + n * ENTRY_SIZE, len;
	uint8_t head[HEADER_SIZE + SEC_COUNT_ * ENTRY_SIZE];
	encode_head(sec, n, head, head_len, &len);
	uint8_t *out = calloc(1, len);
	if (!out) {
		sections_free(sec, n);
		return ph_error_nomem();
	}
	memcpy(out, head, head_len);
	size_t off = align8(head_len);
	for (size_t i = 0; i < n; i++) {
		if (sec[i].b.len)
			memcpy(out + off, sec[i].b.p, sec[i].b.len);
		off = align8(off + sec[i].b.len);
	}
	sections_free(sec, n);
	*ret = out;
	*ret_len = len;
	return NULL;
}

static bool write_all(int fd, struct iovec *iov, int niov)
{
	while (niov) {
		ssize_t w = writev(fd, iov, niov > IOV_MAX ? IOV_MAX : niov);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		size_t left = (size_t)w;
		while (niov && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++, niov--;
		}
		if (niov) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return true;
}

struct ph_error *ph_snap_write(const struct ph_snap *s, const char *path,
			       size_t *ret_len)
{
	struct section sec[SEC_COUNT_];
	size_t n = 0;
	struct ph_error *err = encode_sections(s, sec, &n);
	if (err) {
		sections_free(sec, SEC_COUNT_);
		return err;
	}
	ph_stage("snapshot: encode");
	size_t head_len = HEADER_SIZE + n * ENTRY_SIZE, len;
	uint8_t head[HEADER_SIZE + SEC_COUNT_ * ENTRY_SIZE];
	encode_head(sec, n, head, head_len, &len);
	static const uint8_t zeros[8];
	struct iovec iov[2 * SEC_COUNT_ + 2];
	int niov = 0;
	iov[niov++] = (struct iovec){head, head_len};
	size_t off = head_len;
	for (size_t i = 0; i < n; i++) {
		if (align8(off) > off)
			iov[niov++] = (struct iovec){(void *)zeros,
						     align8(off) - off};
		off = align8(off);
		if (sec[i].b.len)
			iov[niov++] = (struct iovec){sec[i].b.p, sec[i].b.len};
		off += sec[i].b.len;
	}
	if (align8(off) > off)
		iov[niov++] = (struct iovec){(void *)zeros, align8(off) - off};
	/* A file through a temporary one, renamed over it: an interrupted
	 * write leaves no half file. Anything else that is there (/dev/null,
	 * a pipe, /dev/stdout) is written to as it is: a rename would put a
	 * file in its place, which root may do to /dev/null. */
	struct stat st;
	bool in_place = !stat(path, &st) && !S_ISREG(st.st_mode);
	if (in_place && S_ISDIR(st.st_mode)) {
		sections_free(sec, n);
		return ph_error_create_path(PH_ERR_OS, path,
					    "%s: is a directory", path);
	}
	char *tmp = NULL;
	if (!in_place && asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
		sections_free(sec, n);
		return ph_error_nomem();
	}
	int fd = in_place ? open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
			  : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				 0644);
	if (fd < 0) {
		err = ph_error_create_path(PH_ERR_OS, path, "%s: %s", path,
					   strerror(errno));
	} else {
		bool ok = write_all(fd, iov, niov);
		int e = errno;
		if (close(fd) < 0 && ok) {
			ok = false;
			e = errno;
		}
		if (!ok || (tmp && rename(tmp, path) < 0)) {
			if (ok)
				e = errno;
			err = ph_error_create_path(PH_ERR_OS, path,
						   "%s: cannot write: %s", path,
						   strerror(e));
			if (tmp)
				unlink(tmp);
		}
	}
	free(tmp);
	sections_free(sec, n);
	if (!err && ret_len)
		*ret_len = len;
	ph_stage("snapshot: write");
	return err;
}

/* ---- reading ------------------------------------------------------------- */

struct reader {
	const uint8_t *p, *end;
	bool bad;
};

static inline uint64_t get_varint(struct reader *r)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		uint8_t c = *r->p++;
		/* the 10th byte holds bit 63 alone */
		if (shift == 63 && c > 1) {
			r->bad = true;
			return 0;
		}
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

/* A string of the section, copied (NUL-ended); NULL when r went bad. */
static char *get_string(struct reader *r)
{
	uint64_t n = get_varint(r);
	if (r->bad || n >= PH_SNAP_MAX_STRING ||
	    n > (uint64_t)(r->end - r->p)) {
		r->bad = true;
		return NULL;
	}
	char *s = malloc(n + 1);
	if (!s) {
		r->bad = true;
		return NULL;
	}
	memcpy(s, r->p, n);
	s[n] = '\0';
	r->p += n;
	return s;
}

struct sec_view {
	const uint8_t *p;
	size_t len;
	uint32_t count, flags;
	bool present;
};

#define BAD(...) ph_error_create(PH_ERR_BAD_SNAPSHOT, __VA_ARGS__)

static const char *section_name(uint32_t id)
{
	static const char *const names[] = {
		[SEC_META] = "META",   [SEC_TYPES] = "TYPES",
		[SEC_ADDR] = "ADDR",   [SEC_TYPE] = "TYPE",
		[SEC_SIZE] = "SIZE",   [SEC_GEN] = "GEN",
		[SEC_FP] = "FP",       [SEC_PARENT] = "PARENT",
		[SEC_ROOTS] = "ROOTS", [SEC_NAMES] = "NAMES",
	};
	return id < SEC_COUNT_ && names[id] ? names[id] : "?";
}

static struct ph_error *decode_meta(const char *name, const struct sec_view *v,
				    struct ph_snap *s, uint64_t *ret_objects)
{
	struct reader r = {v->p, v->p + v->len, false};
	bool have_objects = false;
	while (r.p < r.end && !r.bad) {
		uint64_t tag = get_varint(&r);
		uint64_t n = get_varint(&r);
		if (r.bad || n > (uint64_t)(r.end - r.p))
			break;
		struct reader val = {r.p, r.p + n, false};
		r.p += n;
		char **str = NULL;
		uint64_t num = 0;
		switch (tag) {
		case META_PYHEAP_VERSION:
			str = &s->pyheap_version;
			break;
		case META_PYTHON:
			str = &s->python;
			break;
		case META_ORIGIN:
			str = &s->origin;
			break;
		case META_SOURCE:
			str = &s->source;
			break;
		case META_EXE:
			str = &s->exe;
			break;
		case META_AT_RANDOM:
			if (n != 16)
				return BAD("%s: the process's identity (META "
					   "entry %llu) is %llu bytes, not 16",
					   name, (unsigned long long)tag,
					   (unsigned long long)n);
			memcpy(s->at_random, val.p, 16);
			s->has_random = true;
			continue;
		case META_BUILD_ID:
			if (n > sizeof(s->build_id))
				return BAD("%s: a build-id of %llu bytes", name,
					   (unsigned long long)n);
			memcpy(s->build_id, val.p, n);
			s->build_id_len = n;
			continue;
		default:
			break;
		}
		if (str) {
			if (*str || n >= PH_SNAP_MAX_STRING)
				return BAD("%s: META entry %llu given twice or "
					   "too long",
					   name, (unsigned long long)tag);
			if (!(*str = malloc(n + 1)))
				return ph_error_nomem();
			memcpy(*str, val.p, n);
			(*str)[n] = '\0';
			continue;
		}
		if (tag < META_HEXVERSION || tag > META_INTERP)
			continue; /* a newer minor version's: skipped */
		num = get_varint(&val);
		if (val.bad || val.p != val.end)
			return BAD("%s: META entry %llu is not a number", name,
				   (unsigned long long)tag);
		switch (tag) {
		case META_HEXVERSION:
			s->hexversion = (uint32_t)num;
			break;
		case META_PID:
			if (num > INT32_MAX)
				return BAD("%s: pid %llu", name,
					   (unsigned long long)num);
			s->pid = (int64_t)num;
			break;
		case META_RUNTIME:
			s->runtime_addr = num;
			break;
		case META_TIME_US:
			s->time_us = num > INT64_MAX ? 0 : (int64_t)num;
			break;
		case META_PAUSED_US:
			s->paused_ms = (double)num / 1000.0;
			break;
		case META_GC_MODEL:
			s->gc_model = num > 1 ? PH_SNAP_GC_INCREMENTAL
					      : (uint32_t)num;
			break;
		case META_FP_VERSION:
			s->fp_version = (uint32_t)(num > UINT32_MAX ? 0 : num);
			break;
		case META_INTERP:
			if (num > INT32_MAX)
				return BAD("%s: interpreter %llu", name,
					   (unsigned long long)num);
			s->has_interp = true;
			s->interp = (int64_t)num;
			break;
		case META_PARTIAL:
			s->partial = num != 0;
			break;
		case META_OBJECTS:
			*ret_objects = num;
			have_objects = true;
			break;
		case META_BYTES:
			s->bytes = num;
			break;
		case META_NAMES_MIN:
			s->names_min = (uint32_t)(num > 1000000 ? 0 : num);
			break;
		}
	}
	if (r.bad || r.p != r.end)
		return BAD("%s: the META section is cut short", name);
	if (!have_objects)
		return BAD("%s: the META section does not say how many objects "
			   "there are",
			   name);
	return NULL;
}

/* A column of varints: checks that it holds exactly count of them. */
static struct ph_error *column_check(const char *name, const struct sec_view *v,
				     uint32_t id, uint64_t n)
{
	if (v[id].count != n)
		return BAD("%s: damaged: section %s holds %u entries for %llu "
			   "objects",
			   name, section_name(id), v[id].count,
			   (unsigned long long)n);
	return NULL;
}

/* Walks each object's chain of parents once: a loop (only a damaged or
 * forged file has one) is found by meeting an object still on the chain
 * being walked. */
static bool tree_has_loop(const uint32_t *parent, size_t n)
{
	size_t bytes = n ? n : 1;
	uint8_t *state = ph_big_alloc(bytes); /* 1: on the chain, 2: done */
	if (!state)
		return true;
	memset(state, 0, bytes);
	bool loop = false;
	for (size_t i = 0; i < n && !loop; i++) {
		uint32_t cur = (uint32_t)i;
		while (cur != PH_NONE && !(cur & PH_ROOT_BIT) && !state[cur]) {
			state[cur] = 1;
			cur = parent[cur];
		}
		if (cur != PH_NONE && !(cur & PH_ROOT_BIT) && state[cur] == 1)
			loop = true;
		cur = (uint32_t)i;
		while (cur != PH_NONE && !(cur & PH_ROOT_BIT) &&
		       state[cur] == 1) {
			state[cur] = 2;
			cur = parent[cur];
		}
	}
	ph_big_free(state, bytes);
	return loop;
}

static struct ph_error *decode(const uint8_t *data, size_t len,
			       const char *name, struct ph_snap *s)
{
	if (len < PH_SNAP_MAGIC_LEN ||
	    memcmp(data, PH_SNAP_MAGIC, PH_SNAP_MAGIC_LEN))
		return BAD("%s: not a py-heap snapshot (it does not start with "
			   "the snapshot's magic bytes)",
			   name);
	if (len < HEADER_SIZE)
		return BAD("%s: truncated: %zu bytes, less than the header",
			   name, len);
	uint16_t major = rd16(data + 8), minor = rd16(data + 10);
	if (major < PH_SNAP_MAJOR_OLDEST || major > PH_SNAP_MAJOR)
		return BAD("%s: a snapshot of format %u.%u; this py-heap reads "
			   "formats %d.x to %d.x",
			   name, major, minor, PH_SNAP_MAJOR_OLDEST,
			   PH_SNAP_MAJOR);
	if (rd32(data + 60) != ph_crc32c(0, data, 60))
		return BAD("%s: damaged: the header's checksum does not match",
			   name);
	uint64_t file_size = rd64(data + 16);
	if (file_size != len)
		return BAD("%s: %s: %zu bytes, the header says %llu", name,
			   len < file_size ? "truncated" : "trailing bytes",
			   len, (unsigned long long)file_size);
	uint32_t hsize = rd32(data + 12), nsec = rd32(data + 24);
	uint64_t tab = rd64(data + 32);
	if (hsize < HEADER_SIZE || nsec > PH_SNAP_MAX_SECTIONS || tab < hsize ||
	    tab > len || (len - tab) / ENTRY_SIZE < nsec)
		return BAD("%s: damaged: a section table of %u entries at %llu "
			   "does not fit",
			   name, nsec, (unsigned long long)tab);
	if (rd32(data + 40) != ph_crc32c(0, data + tab, nsec * ENTRY_SIZE))
		return BAD("%s: damaged: the section table's checksum does "
			   "not match",
			   name);
	if (hsize != HEADER_SIZE || tab != HEADER_SIZE ||
	    memcmp(data + 44, (const uint8_t[16]){0}, 16) || rd32(data + 28))
		return BAD("%s: damaged: the header's reserved fields are not "
			   "zero",
			   name);
	struct sec_view v[SEC_COUNT_];
	memset(v, 0, sizeof(v));
	/* the sections follow the table in order, each at the next 8-byte
	 * boundary, with zeros between: every byte of a file is checked */
	uint64_t at = tab + (uint64_t)nsec * ENTRY_SIZE;
	for (uint32_t i = 0; i < nsec; i++) {
		const uint8_t *e = data + tab + (uint64_t)i * ENTRY_SIZE;
		uint32_t id = rd32(e), flags = rd32(e + 4);
		uint64_t off = rd64(e + 8), slen = rd64(e + 16);
		if (off > len || slen > len - off || off != align8(at))
			return BAD("%s: damaged: section %u (%s) at %llu, %llu "
				   "bytes, is not where it should be",
				   name, id, section_name(id),
				   (unsigned long long)off,
				   (unsigned long long)slen);
		for (uint64_t z = at; z < off; z++)
			if (data[z])
				return BAD("%s: damaged: a byte between "
					   "sections is not zero",
					   name);
		at = off + slen;
		if (rd32(e + 28) != ph_crc32c(0, data + off, slen))
			return BAD(
				"%s: damaged: section %s's checksum does not "
				"match",
				name, section_name(id));
		if (id == 0 || id >= SEC_COUNT_) {
			if (flags & SEC_REQUIRED)
				return BAD("%s: made by a newer py-heap: it "
					   "needs section %u, which this one "
					   "does not know",
					   name, id);
			continue;
		}
		if (v[id].present)
			return BAD("%s: damaged: section %s twice", name,
				   section_name(id));
		v[id] = (struct sec_view){.p = data + off,
					  .len = slen,
					  .count = rd32(e + 24),
					  .flags = flags,
					  .present = true};
	}
	if (align8(at) != len)
		return BAD("%s: damaged: %zu bytes, its sections end at %llu",
			   name, len, (unsigned long long)align8(at));
	for (uint64_t z = at; z < len; z++)
		if (data[z])
			return BAD(
				"%s: damaged: a byte after the last section is "
				"not zero",
				name);
	static const int required[] = {SEC_META, SEC_TYPES, SEC_ADDR, SEC_TYPE,
				       SEC_SIZE, SEC_GEN,   SEC_FP};
	for (size_t i = 0; i < PH_ARRAY_SIZE(required); i++)
		if (!v[required[i]].present)
			return BAD("%s: damaged: no %s section", name,
				   section_name((uint32_t)required[i]));
	if (v[SEC_PARENT].present != v[SEC_ROOTS].present ||
	    v[SEC_PARENT].present != v[SEC_NAMES].present)
		return BAD("%s: damaged: a tree without its roots or names",
			   name);

	uint64_t n = 0;
	struct ph_error *err = decode_meta(name, &v[SEC_META], s, &n);
	if (err)
		return err;
	/* every object takes at least a byte of ADDR, TYPE and SIZE */
	if (n > PH_SNAP_MAX_OBJECTS || n > v[SEC_ADDR].len ||
	    n > v[SEC_TYPE].len || n > v[SEC_SIZE].len)
		return BAD("%s: damaged: %llu objects do not fit in their "
			   "sections",
			   name, (unsigned long long)n);
	if ((err = column_check(name, v, SEC_ADDR, n)) ||
	    (err = column_check(name, v, SEC_TYPE, n)) ||
	    (err = column_check(name, v, SEC_SIZE, n)) ||
	    (err = column_check(name, v, SEC_GEN, n)) ||
	    (v[SEC_PARENT].present &&
	     (err = column_check(name, v, SEC_PARENT, n))))
		return err;

	/* TYPES: each at least 6 bytes */
	uint32_t nt = v[SEC_TYPES].count;
	if (nt > v[SEC_TYPES].len / 6 || (n && !nt))
		return BAD("%s: damaged: %u types do not fit in their section",
			   name, nt);
	s->types = calloc(nt ? nt : 1, sizeof(*s->types));
	if (!s->types)
		return ph_error_nomem();
	struct reader r = {v[SEC_TYPES].p, v[SEC_TYPES].p + v[SEC_TYPES].len,
			   false};
	for (uint32_t i = 0; i < nt && !r.bad; i++) {
		struct ph_snap_type *t = &s->types[i];
		t->name = get_string(&r);
		s->ntypes = i + 1;
		t->addr = get_varint(&r);
		uint64_t kind = get_varint(&r);
		uint64_t flags = get_varint(&r);
		t->usual = get_varint(&r);
		t->count = get_varint(&r);
		if (!r.bad && (kind >= PH_KIND_COUNT || flags > 3 ||
			       t->usual > PH_SNAP_MAX_SIZE || t->count > n))
			r.bad = true;
		t->kind = (uint32_t)kind;
		t->flags = (uint32_t)flags;
	}
	if (r.bad || r.p != r.end)
		return BAD("%s: damaged: the TYPES section does not decode",
			   name);

	s->n = n;
	size_t na = n ? n : 1;
	/* (in memory of their own, as a heap's snapshot's: snapshot.h) */
	s->big_n = na;
	s->addr = ph_big_alloc(na * sizeof(*s->addr));
	s->type = ph_big_alloc(na * sizeof(*s->type));
	s->size = ph_big_alloc(na * sizeof(*s->size));
	s->fp = ph_big_alloc(na * sizeof(*s->fp));
	s->gen = ph_big_alloc(na);
	if (!s->addr || !s->type || !s->size || !s->fp || !s->gen)
		return ph_error_nomem();
	uint64_t *tcount = calloc(nt ? nt : 1, sizeof(*tcount));
	if (!tcount)
		return ph_error_nomem();
	struct reader ra = {v[SEC_ADDR].p, v[SEC_ADDR].p + v[SEC_ADDR].len,
			    false};
	struct reader rt = {v[SEC_TYPE].p, v[SEC_TYPE].p + v[SEC_TYPE].len,
			    false};
	struct reader rs = {v[SEC_SIZE].p, v[SEC_SIZE].p + v[SEC_SIZE].len,
			    false};
	const uint8_t *fp = v[SEC_FP].p, *fp_end = fp + v[SEC_FP].len;
	/* version 1's fingerprints are 16 bits, version 2's 32 (a file
	 * without the tag has none to compare) */
	ptrdiff_t fp_width = s->fp_version <= 1 ? 2 : 4;
	if (s->fp_version > PH_SNAP_FP_VERSION) {
		free(tcount);
		return BAD("%s: fingerprints of version %u, which this py-heap "
			   "does not know",
			   name, s->fp_version);
	}
	if (v[SEC_GEN].len != (n + 1) / 2) {
		free(tcount);
		return BAD("%s: damaged: the GEN section is %zu bytes for %llu "
			   "objects",
			   name, v[SEC_GEN].len, (unsigned long long)n);
	}
	uint64_t prev = 0, total = 0;
	const char *what = NULL;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = get_varint(&ra);
		uint64_t tx = get_varint(&rt);
		uint64_t zs = get_varint(&rs);
		if (ra.bad || rt.bad || rs.bad) {
			what = "a column ends early";
			break;
		}
		if (!d || d > (UINT64_MAX - prev) >> 3) {
			what = "addresses out of order";
			break;
		}
		prev += d << 3;
		if (tx >= nt) {
			what = "a type number past the types";
			break;
		}
		/* (usual is at most PH_SNAP_MAX_SIZE: a delta beyond it is out
		 * of range, and the sum cannot overflow) */
		int64_t dz = unzigzag(zs);
		int64_t sz = dz < -(int64_t)PH_SNAP_MAX_SIZE ||
					     dz > (int64_t)PH_SNAP_MAX_SIZE
				     ? -1
				     : (int64_t)s->types[tx].usual + dz;
		if (sz < 0 || (uint64_t)sz > PH_SNAP_MAX_SIZE) {
			what = "a size out of range";
			break;
		}
		uint8_t g = v[SEC_GEN].p[i / 2];
		g = i & 1 ? g >> 4 : g & 0xf;
		if (g > 4) {
			what = "a GC generation out of range";
			break;
		}
		if (s->types[tx].flags & PH_SNAP_TYPE_FP) {
			if (fp_end - fp < fp_width) {
				what = "the FP section ends early";
				break;
			}
			s->fp[i] = fp_width == 2 ? rd16(fp) : rd32(fp);
			fp += fp_width;
		} else
			s->fp[i] = 0;
		s->addr[i] = prev;
		s->type[i] = (uint32_t)tx;
		s->size[i] = (uint64_t)sz;
		s->gen[i] = g;
		total += (uint64_t)sz;
		tcount[tx]++;
		s->types[tx].bytes += (uint64_t)sz;
	}
	if (!what && (ra.p != ra.end || rt.p != rt.end || rs.p != rs.end ||
		      fp != fp_end || (n & 1 && v[SEC_GEN].p[n / 2] >> 4)))
		what = "bytes left over in a column";
	if (!what && total != s->bytes)
		what = "the sizes do not add up to the total";
	for (uint32_t i = 0; !what && i < nt; i++)
		if (tcount[i] != s->types[i].count)
			what = "a type's count does not match its objects";
	free(tcount);
	if (what)
		return BAD("%s: damaged: %s", name, what);

	if (!v[SEC_PARENT].present)
		return NULL;
	/* ROOTS: at least a byte each */
	uint32_t nr = v[SEC_ROOTS].count;
	if (nr > v[SEC_ROOTS].len || nr >= PH_ROOT_BIT)
		return BAD("%s: damaged: %u roots do not fit in their section",
			   name, nr);
	s->roots = calloc(nr ? nr : 1, sizeof(*s->roots));
	if (!s->roots)
		return ph_error_nomem();
	r = (struct reader){v[SEC_ROOTS].p, v[SEC_ROOTS].p + v[SEC_ROOTS].len,
			    false};
	for (uint32_t i = 0; i < nr && !r.bad; i++) {
		s->roots[i] = get_string(&r);
		s->nroots = i + 1;
	}
	if (r.bad || r.p != r.end)
		return BAD("%s: damaged: the ROOTS section does not decode",
			   name);
	if (!(s->parent = ph_big_alloc(na * sizeof(*s->parent))))
		return ph_error_nomem();
	r = (struct reader){v[SEC_PARENT].p,
			    v[SEC_PARENT].p + v[SEC_PARENT].len, false};
	for (size_t i = 0; i < n && !r.bad; i++) {
		uint64_t c = get_varint(&r);
		if (!c)
			s->parent[i] = PH_NONE;
		else if (c & 1) {
			if ((c >> 1) >= nr)
				r.bad = true;
			s->parent[i] = PH_ROOT_BIT | (uint32_t)(c >> 1);
		} else {
			int64_t d = unzigzag(c >> 1);
			int64_t p = (int64_t)i + d;
			if (!d || p < 0 || (uint64_t)p >= n)
				r.bad = true;
			s->parent[i] = (uint32_t)p;
		}
	}
	if (r.bad || r.p != r.end)
		return BAD("%s: damaged: the PARENT section does not decode",
			   name);
	if (tree_has_loop(s->parent, n))
		return BAD("%s: damaged: the tree of parents has a loop", name);
	/* NAMES: two bytes at least each */
	uint32_t nn = v[SEC_NAMES].count;
	if (nn > v[SEC_NAMES].len / 2 || nn > n)
		return BAD("%s: damaged: %u names do not fit in their section",
			   name, nn);
	s->named = malloc((nn ? nn : 1) * sizeof(*s->named));
	s->labels = calloc(nn ? nn : 1, sizeof(*s->labels));
	if (!s->named || !s->labels)
		return ph_error_nomem();
	r = (struct reader){v[SEC_NAMES].p, v[SEC_NAMES].p + v[SEC_NAMES].len,
			    false};
	uint64_t obj = 0;
	for (uint32_t i = 0; i < nn && !r.bad; i++) {
		uint64_t d = get_varint(&r);
		if ((i && !d) || d >= n || obj + d >= n)
			r.bad = true;
		obj += d;
		s->named[i] = (uint32_t)obj;
		s->labels[i] = get_string(&r);
		s->nnamed = i + 1;
	}
	if (r.bad || r.p != r.end)
		return BAD("%s: damaged: the NAMES section does not decode",
			   name);
	return NULL;
}

struct ph_error *ph_snap_decode(const uint8_t *data, size_t len,
				const char *name, struct ph_snap **ret)
{
	struct ph_snap *s = calloc(1, sizeof(*s));
	if (!s)
		return ph_error_nomem();
	struct ph_error *err = decode(data, len, name, s);
	if (err) {
		ph_snap_destroy(s);
		return err;
	}
	*ret = s;
	return NULL;
}

struct ph_error *ph_snap_read(const char *path, struct ph_snap **ret)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return ph_error_create_path(
			errno == ENOENT ? PH_ERR_NOT_FOUND : PH_ERR_OS, path,
			"%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ph_error_create_path(PH_ERR_BAD_SNAPSHOT, path,
					    "%s: not a regular file", path);
	}
	size_t len = (size_t)st.st_size;
	void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (len && map == MAP_FAILED)
		return ph_error_create_path(PH_ERR_OS, path, "%s: mmap: %s",
					    path, strerror(errno));
	struct ph_error *err = ph_snap_decode(map, len, path, ret);
	if (len)
		munmap(map, len);
	if (err && !ph_error_path(err)) {
		struct ph_error *e = ph_error_create_path(
			ph_error_code(err), path, "%s", ph_error_message(err));
		ph_error_destroy(err);
		err = e;
	}
	ph_stage("snapshot: read");
	return err;
}

bool ph_snap_identity(const char *path, struct ph_buf *b)
{
	uint8_t head[HEADER_SIZE + PH_SNAP_MAX_SECTIONS * ENTRY_SIZE];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	struct stat st;
	bool ok = !fstat(fd, &st) && S_ISREG(st.st_mode) &&
		  ph_pread_all(fd, head, HEADER_SIZE, 0) &&
		  !memcmp(head, PH_SNAP_MAGIC, PH_SNAP_MAGIC_LEN) &&
		  rd32(head + 60) == ph_crc32c(0, head, 60) &&
		  rd64(head + 16) == (uint64_t)st.st_size &&
		  rd64(head + 32) == HEADER_SIZE &&
		  rd32(head + 24) <= PH_SNAP_MAX_SECTIONS;
	size_t len = ok ? HEADER_SIZE + rd32(head + 24) * ENTRY_SIZE : 0;
	ok = ok &&
	     ph_pread_all(fd, head + HEADER_SIZE, len - HEADER_SIZE,
			  HEADER_SIZE) &&
	     rd32(head + 40) ==
		     ph_crc32c(0, head + HEADER_SIZE, len - HEADER_SIZE);
	close(fd);
	if (!ok)
		return false;
	ph_buf_printf(b,
		      "snapshot dev %llu ino %llu size %lld mtime %lld.%09ld "
		      "ctime %lld.%09ld head %zu:",
		      (unsigned long long)st.st_dev,
		      (unsigned long long)st.st_ino, (long long)st.st_size,
		      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		      (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec, len);
	ph_buf_putn(b, (const char *)head, len);
	ph_buf_putc(b, '\n');
	return !b->failed;
}

struct ph_error *ph_file_kind(const char *path, enum ph_file_kind *ret)
{
	/* (a FIFO's open would wait for a writer) */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return ph_error_create_path(
			errno == ENOENT ? PH_ERR_NOT_FOUND : PH_ERR_OS, path,
			"%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return ph_error_create_path(PH_ERR_BAD_SNAPSHOT, path,
					    "%s: not a regular file", path);
	}
	uint8_t head[PH_SNAP_MAGIC_LEN] = {0};
	ssize_t n = read(fd, head, sizeof(head));
	close(fd);
	if (n >= 4 && !memcmp(head,
			      "\x7f"
			      "ELF",
			      4))
		*ret = PH_FILE_CORE;
	else if (n == PH_SNAP_MAGIC_LEN &&
		 !memcmp(head, PH_SNAP_MAGIC, PH_SNAP_MAGIC_LEN))
		*ret = PH_FILE_SNAPSHOT;
	else
		*ret = PH_FILE_OTHER;
	return NULL;
}

void ph_snap_destroy(struct ph_snap *s)
{
	if (!s)
		return;
	free(s->pyheap_version);
	free(s->python);
	free(s->origin);
	free(s->source);
	free(s->exe);
	if (s->big_n) { /* read from a file */
		ph_big_free(s->addr, s->big_n * sizeof(*s->addr));
		ph_big_free(s->type, s->big_n * sizeof(*s->type));
		ph_big_free(s->size, s->big_n * sizeof(*s->size));
		ph_big_free(s->fp, s->big_n * sizeof(*s->fp));
		ph_big_free(s->gen, s->big_n);
		ph_big_free(s->parent, s->big_n * sizeof(*s->parent));
	} else {
		free(s->addr);
		free(s->type);
		free(s->size);
		free(s->fp);
		free(s->gen);
		free(s->parent);
	}
	if (s->heap_fp_bytes)
		ph_big_free((void *)s->heap_fp, s->heap_fp_bytes);
	ph_answercache_release(&s->fp_ans);
	for (size_t i = 0; i < s->ntypes; i++)
		free(s->types[i].name);
	free(s->types);
	for (size_t i = 0; i < s->nroots; i++)
		free(s->roots[i]);
	free(s->roots);
	for (size_t i = 0; i < s->nnamed; i++)
		free(s->labels[i]);
	free(s->named);
	free(s->labels);
	if (s->heap)
		ph_big_free(s->heap_index, s->index_bytes);
	else
		free(s->heap_index);
	free(s->rank);
	free(s);
}

/* ---- paths --------------------------------------------------------------- */

/* How i's parent holds it: its saved label, "" under a root, else
 * NULL. */
static const char *label_of(const struct ph_snap *s, uint32_t i)
{
	if (s->parent[i] != PH_NONE && (s->parent[i] & PH_ROOT_BIT))
		return "";
	size_t lo = 0, hi = s->nnamed;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->named[mid] < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nnamed && s->named[lo] == i ? s->labels[lo] : NULL;
}

bool ph_snap_path(const struct ph_snap *s, uint32_t i, struct ph_buf *out)
{
	if (!s->parent || i >= s->n)
		return false;
	/* up to the nearest named ancestor (or the root) */
	uint32_t cur = i;
	bool cut = false;
	size_t steps = 0;
	while (!(cur & PH_ROOT_BIT) && cur != PH_NONE && !label_of(s, cur) &&
	       steps++ < s->n) {
		cur = s->parent[cur];
		cut = true;
	}
	if (cur == PH_NONE)
		return false;
	/* labels from there up to the root, written root first */
	size_t cap = 64, n = 0;
	const char **chain = malloc(cap * sizeof(*chain));
	uint32_t root = PH_NONE;
	while (chain && cur != PH_NONE && n < s->n + 1) {
		if (cur & PH_ROOT_BIT) {
			root = cur & ~PH_ROOT_BIT;
			break;
		}
		const char *l = label_of(s, cur);
		if (!l)
			break;
		if (n == cap) {
			const char **c2 = realloc(chain, 2 * cap * sizeof(*c2));
			if (!c2)
				break;
			chain = c2, cap *= 2;
		}
		chain[n++] = l;
		cur = s->parent[cur];
	}
	bool ok = chain && root != PH_NONE && root < s->nroots;
	if (ok) {
		ph_buf_puts(out, s->roots[root]);
		bool space = false;
		while (n) {
			const char *l = chain[--n];
			if (*l && !space) {
				ph_buf_putc(out, ' ');
				space = true;
			}
			ph_buf_puts(out, l);
		}
		if (cut)
			ph_buf_puts(out, " ...");
	}
	free(chain);
	return ok;
}
