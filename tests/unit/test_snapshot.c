/* CUnit tests of the snapshot file (snapshot.c): a round trip of every
 * field; every truncation and every flipped byte of a file refused; files
 * forged with valid checksums (made here from docs/design.md's description
 * of the format, independently of the writer) whose counts, indices,
 * trees and strings lie, each refused with PH_ERR_BAD_SNAPSHOT and no
 * allocation larger than the file; paths named from the tree. */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot.h"
#include "unit.h"

/* A heap of n objects: four types, a tree (object i under (i - 1) / 3,
 * the first under root 0), every tenth object under root 1, objects 0-9
 * named. */
static struct ph_snap *make_snap(size_t n)
{
	struct ph_snap *s = calloc(1, sizeof(*s));
	s->pyheap_version = strdup("0.2.0");
	s->python = strdup("3.11.2");
	s->origin = strdup("core");
	s->source = strdup("/tmp/core.1234");
	s->exe = strdup("/usr/bin/python3.11");
	s->hexversion = 0x030b02f0;
	s->pid = 1234;
	for (int i = 0; i < 16; i++)
		s->at_random[i] = (uint8_t)(i * 17 + 3);
	s->has_random = true;
	s->build_id_len = 20;
	memset(s->build_id, 0xab, 20);
	s->runtime_addr = 0xa56220;
	s->time_us = 1764800000123456LL;
	s->paused_ms = 12.5;
	s->fp_version = PH_SNAP_FP_VERSION;
	s->names_min = PH_SNAP_NAMES_MIN;
	s->ntypes = 4;
	s->types = calloc(4, sizeof(*s->types));
	const char *names[] = {"str", "dict", "__main__.Session", "tuple"};
	const uint32_t kinds[] = {PH_KIND_STR, PH_KIND_DICT, PH_KIND_OBJECT,
				  PH_KIND_TUPLE};
	const uint64_t usual[] = {56, 232, 48, 64};
	for (int t = 0; t < 4; t++) {
		s->types[t].name = strdup(names[t]);
		s->types[t].addr = 0x900000 + 0x100 * (uint64_t)t;
		s->types[t].kind = kinds[t];
		s->types[t].flags =
			(ph_snap_kind_fp(kinds[t]) ? PH_SNAP_TYPE_FP : 0) |
			(t == 2 ? PH_SNAP_TYPE_HEAP : 0);
		s->types[t].usual = usual[t];
	}
	s->n = n;
	s->addr = calloc(n + 1, 8);
	s->type = calloc(n + 1, 4);
	s->size = calloc(n + 1, 8);
	s->fp = calloc(n + 1, sizeof(*s->fp));
	s->gen = calloc(n + 1, 1);
	s->parent = calloc(n + 1, 4);
	uint64_t a = 0x7f0000001010;
	for (size_t i = 0; i < n; i++) {
		a += i % 97 ? 16 * (1 + i % 5) : 0x100000;
		s->addr[i] = a;
		uint32_t t = (uint32_t)(i % 4);
		s->type[i] = t;
		s->size[i] = usual[t] + (i % 7 == 0 ? 8 * (i % 13) : 0);
		if (s->types[t].flags & PH_SNAP_TYPE_FP)
			s->fp[i] = (uint32_t)(i * 2654435761u);
		s->gen[i] = (uint8_t)(t == 0 ? 0 : i % 5);
		s->types[t].count++;
		s->types[t].bytes += s->size[i];
		s->bytes += s->size[i];
		s->parent[i] = i == 0	     ? PH_ROOT_BIT | 0
			       : i % 10 == 0 ? PH_ROOT_BIT | 1
					     : (uint32_t)((i - 1) / 3);
	}
	if (n > 5)
		s->parent[5] = PH_NONE; /* no root reaches it */
	s->nroots = 3;
	s->roots = calloc(3, sizeof(char *));
	s->roots[0] = strdup("module __main__");
	s->roots[1] = strdup("thread 1 frame f() at x.py:3 local 'a'");
	s->roots[2] = strdup("sys.modules");
	s->nnamed = n < 10 ? n : 10;
	s->named = calloc(s->nnamed + 1, 4);
	s->labels = calloc(s->nnamed + 1, sizeof(char *));
	for (size_t i = 0; i < s->nnamed; i++) {
		char l[32];
		snprintf(l, sizeof(l), "['k%zu']", i);
		s->named[i] = (uint32_t)i;
		s->labels[i] = strdup(s->parent[i] & PH_ROOT_BIT ? "" : l);
	}
	return s;
}

static void assert_same(const struct ph_snap *a, const struct ph_snap *b)
{
	CU_ASSERT_STRING_EQUAL(a->pyheap_version, b->pyheap_version);
	CU_ASSERT_STRING_EQUAL(a->python, b->python);
	CU_ASSERT_STRING_EQUAL(a->origin, b->origin);
	CU_ASSERT_STRING_EQUAL(a->source, b->source);
	CU_ASSERT_STRING_EQUAL(a->exe, b->exe);
	CU_ASSERT_EQUAL(a->hexversion, b->hexversion);
	CU_ASSERT_EQUAL(a->pid, b->pid);
	CU_ASSERT_EQUAL(a->has_random, b->has_random);
	CU_ASSERT_EQUAL(memcmp(a->at_random, b->at_random, 16), 0);
	CU_ASSERT_EQUAL(a->build_id_len, b->build_id_len);
	CU_ASSERT_EQUAL(memcmp(a->build_id, b->build_id, a->build_id_len), 0);
	CU_ASSERT_EQUAL(a->runtime_addr, b->runtime_addr);
	CU_ASSERT_EQUAL(a->time_us, b->time_us);
	CU_ASSERT_DOUBLE_EQUAL(a->paused_ms, b->paused_ms, 0.001);
	CU_ASSERT_EQUAL(a->fp_version, b->fp_version);
	CU_ASSERT_EQUAL(a->bytes, b->bytes);
	CU_ASSERT_EQUAL_FATAL(a->n, b->n);
	CU_ASSERT_EQUAL_FATAL(a->ntypes, b->ntypes);
	for (size_t t = 0; t < a->ntypes; t++) {
		CU_ASSERT_STRING_EQUAL(a->types[t].name, b->types[t].name);
		CU_ASSERT_EQUAL(a->types[t].addr, b->types[t].addr);
		CU_ASSERT_EQUAL(a->types[t].kind, b->types[t].kind);
		CU_ASSERT_EQUAL(a->types[t].flags, b->types[t].flags);
		CU_ASSERT_EQUAL(a->types[t].count, b->types[t].count);
		CU_ASSERT_EQUAL(a->types[t].bytes, b->types[t].bytes);
	}
	size_t bad = 0;
	for (size_t i = 0; i < a->n; i++)
		bad += a->addr[i] != b->addr[i] || a->type[i] != b->type[i] ||
		       a->size[i] != b->size[i] || a->fp[i] != b->fp[i] ||
		       a->gen[i] != b->gen[i] ||
		       (a->parent && a->parent[i] != b->parent[i]);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL_FATAL(a->nroots, b->nroots);
	for (size_t r = 0; r < a->nroots; r++)
		CU_ASSERT_STRING_EQUAL(a->roots[r], b->roots[r]);
	CU_ASSERT_EQUAL_FATAL(a->nnamed, b->nnamed);
	for (size_t k = 0; k < a->nnamed; k++) {
		CU_ASSERT_EQUAL(a->named[k], b->named[k]);
		CU_ASSERT_STRING_EQUAL(a->labels[k], b->labels[k]);
	}
}

static void test_crc32c(void)
{
	/* the check value of CRC-32C (RFC 3720's iSCSI CRC) */
	CU_ASSERT_EQUAL(ph_crc32c(0, "123456789", 9), 0xe3069283u);
	CU_ASSERT_EQUAL(ph_crc32c(0, "", 0), 0);
	/* in pieces, unaligned, as whole */
	char buf[1000];
	for (int i = 0; i < 1000; i++)
		buf[i] = (char)(i * 7);
	uint32_t whole = ph_crc32c(0, buf, 1000);
	CU_ASSERT_EQUAL(ph_crc32c(ph_crc32c(0, buf, 333), buf + 333, 667),
			whole);
}

static void test_round_trip(void)
{
	struct ph_snap *s = make_snap(2000);
	uint8_t *data;
	size_t len;
	CU_ASSERT_PTR_NULL_FATAL(ph_snap_encode(s, &data, &len));
	CU_ASSERT(len < 16 * s->n);
	CU_ASSERT_EQUAL(memcmp(data, PH_SNAP_MAGIC, PH_SNAP_MAGIC_LEN), 0);
	struct ph_snap *d = NULL;
	struct ph_error *err = ph_snap_decode(data, len, "t", &d);
	CU_ASSERT_PTR_NULL(err);
	if (err)
		fprintf(stderr, "%s\n", ph_error_message(err));
	ph_error_destroy(err);
	if (d)
		assert_same(s, d);
	ph_snap_destroy(d);
	/* without a tree: no PARENT, ROOTS, NAMES */
	free(s->parent);
	s->parent = NULL;
	free(data);
	CU_ASSERT_PTR_NULL_FATAL(ph_snap_encode(s, &data, &len));
	CU_ASSERT_PTR_NULL(ph_snap_decode(data, len, "t", &d));
	CU_ASSERT_PTR_NULL(d ? d->parent : NULL);
	CU_ASSERT(d && !d->has_interp);
	ph_snap_destroy(d);
	free(data);
	/* one interpreter's objects (snapshot --interp): said in META */
	s->has_interp = true;
	s->interp = 7;
	CU_ASSERT_PTR_NULL_FATAL(ph_snap_encode(s, &data, &len));
	CU_ASSERT_PTR_NULL(ph_snap_decode(data, len, "t", &d));
	CU_ASSERT(d && d->has_interp && d->interp == 7);
	ph_snap_destroy(d);
	free(data);
	/* an empty heap */
	struct ph_snap *e = make_snap(0);
	CU_ASSERT_PTR_NULL_FATAL(ph_snap_encode(e, &data, &len));
	CU_ASSERT_PTR_NULL(ph_snap_decode(data, len, "t", &d));
	ph_snap_destroy(d);
	free(data);
	ph_snap_destroy(e);
	ph_snap_destroy(s);
}

static void test_file(void)
{
	char dir[] = "/tmp/pyheap-snap-XXXXXX", path[64], bad[96];
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.snap", dir);
	snprintf(bad, sizeof(bad), "%s/no/such/dir/a.snap", dir);
	struct ph_snap *s = make_snap(300), *d = NULL;
	size_t len = 0;
	CU_ASSERT_PTR_NULL(ph_snap_write(s, path, &len));
	enum ph_file_kind k = PH_FILE_OTHER;
	CU_ASSERT_PTR_NULL(ph_file_kind(path, &k));
	CU_ASSERT_EQUAL(k, PH_FILE_SNAPSHOT);
	CU_ASSERT_PTR_NULL(ph_snap_read(path, &d));
	if (d)
		assert_same(s, d);
	ph_snap_destroy(d);
	struct ph_error *err = ph_snap_write(s, bad, NULL);
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_OS);
	ph_error_destroy(err);
	/* no temporary file left behind */
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "test $(ls %s | wc -l) = 1", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
	/* cut in half: refused, with the path */
	CU_ASSERT_EQUAL(truncate(path, (off_t)len / 2), 0);
	err = ph_snap_read(path, &d);
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_BAD_SNAPSHOT);
	CU_ASSERT_PTR_NOT_NULL(err ? ph_error_path(err) : NULL);
	CU_ASSERT_PTR_NOT_NULL(err ? strstr(ph_error_message(err), "truncated")
				   : NULL);
	ph_error_destroy(err);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
	ph_snap_destroy(s);
}

/* Every prefix of a file and every single flipped byte: refused. */
static void test_damage(void)
{
	struct ph_snap *s = make_snap(150);
	uint8_t *data;
	size_t len;
	CU_ASSERT_PTR_NULL_FATAL(ph_snap_encode(s, &data, &len));
	uint8_t *copy = malloc(len);
	size_t accepted = 0, wrong_code = 0;
	for (size_t cut = 0; cut < len; cut++) {
		memcpy(copy, data, cut);
		struct ph_snap *d = NULL;
		struct ph_error *err = ph_snap_decode(copy, cut, "t", &d);
		accepted += !err;
		wrong_code += err && ph_error_code(err) != PH_ERR_BAD_SNAPSHOT;
		ph_error_destroy(err);
		ph_snap_destroy(d);
	}
	CU_ASSERT_EQUAL(accepted, 0);
	for (size_t at = 0; at < len; at++) {
		memcpy(copy, data, len);
		copy[at] ^= (uint8_t)(1 + at % 255);
		struct ph_snap *d = NULL;
		struct ph_error *err = ph_snap_decode(copy, len, "t", &d);
		accepted += !err;
		wrong_code += err && ph_error_code(err) != PH_ERR_BAD_SNAPSHOT;
		ph_error_destroy(err);
		ph_snap_destroy(d);
	}
	CU_ASSERT_EQUAL(accepted, 0);
	CU_ASSERT_EQUAL(wrong_code, 0);
	free(copy);
	free(data);
	ph_snap_destroy(s);
}

/* ---- files made here, section by section ---- */

struct forge {
	uint8_t sec[16][4096];
	size_t len[16];
	uint32_t id[16], flags[16], count[16];
	size_t n;
	uint16_t major, minor;
};

static void put(uint8_t *p, size_t *len, uint64_t v)
{
	while (v >= 0x80) {
		p[(*len)++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[(*len)++] = (uint8_t)v;
}

static void put_str(uint8_t *p, size_t *len, const char *s)
{
	put(p, len, strlen(s));
	memcpy(p + *len, s, strlen(s));
	*len += strlen(s);
}

static size_t sec_add(struct forge *f, uint32_t id, uint32_t flags,
		      uint32_t count)
{
	size_t k = f->n++;
	f->id[k] = id, f->flags[k] = flags, f->count[k] = count;
	f->len[k] = 0;
	return k;
}

static void w32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void w64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* The header (64 bytes), the table (32 bytes a section), the sections at
 * 8-byte boundaries: design.md's layout. */
static uint8_t *forge_file(const struct forge *f, size_t *ret_len)
{
	size_t off = 64 + 32 * f->n, size;
	size_t offs[16];
	for (size_t k = 0; k < f->n; k++) {
		off = (off + 7) & ~(size_t)7;
		offs[k] = off;
		off += f->len[k];
	}
	size = (off + 7) & ~(size_t)7;
	uint8_t *p = calloc(1, size);
	memcpy(p, "\x89PYHEAP\n", 8);
	p[8] = (uint8_t)f->major, p[10] = (uint8_t)f->minor;
	w32(p + 12, 64);
	w64(p + 16, size);
	w32(p + 24, (uint32_t)f->n);
	w64(p + 32, 64);
	for (size_t k = 0; k < f->n; k++) {
		uint8_t *e = p + 64 + 32 * k;
		w32(e, f->id[k]);
		w32(e + 4, f->flags[k]);
		w64(e + 8, offs[k]);
		w64(e + 16, f->len[k]);
		w32(e + 24, f->count[k]);
		memcpy(p + offs[k], f->sec[k], f->len[k]);
		w32(e + 28, ph_crc32c(0, f->sec[k], f->len[k]));
	}
	w32(p + 40, ph_crc32c(0, p + 64, 32 * f->n));
	w32(p + 60, ph_crc32c(0, p, 60));
	*ret_len = size;
	return p;
}

/* A valid file of two str objects (sizes 50 and 60), made by hand. */
static void forge_valid(struct forge *f, uint64_t objects)
{
	memset(f, 0, sizeof(*f));
	f->major = 1;
	size_t k = sec_add(f, 1, 1, 3); /* META: objects, bytes, fp version */
	put(f->sec[k], &f->len[k], 16);
	put(f->sec[k], &f->len[k], 1);
	put(f->sec[k], &f->len[k], objects);
	if (objects >= 0x80) { /* a varint of more bytes */
		f->len[k] = 0;
		uint8_t v[10];
		size_t vl = 0;
		put(v, &vl, objects);
		put(f->sec[k], &f->len[k], 16);
		put(f->sec[k], &f->len[k], vl);
		memcpy(f->sec[k] + f->len[k], v, vl);
		f->len[k] += vl;
	}
	put(f->sec[k], &f->len[k], 17);
	put(f->sec[k], &f->len[k], 1);
	put(f->sec[k], &f->len[k], 110);
	k = sec_add(f, 2, 1, 1); /* TYPES: one, str */
	put_str(f->sec[k], &f->len[k], "str");
	put(f->sec[k], &f->len[k], 0x9000);
	put(f->sec[k], &f->len[k], PH_KIND_STR);
	put(f->sec[k], &f->len[k], 0); /* no fingerprint */
	put(f->sec[k], &f->len[k], 50);
	put(f->sec[k], &f->len[k], 2);
	k = sec_add(f, 3, 1, 2); /* ADDR: 0x1000, 0x1010 */
	put(f->sec[k], &f->len[k], 0x1000 >> 3);
	put(f->sec[k], &f->len[k], 2);
	k = sec_add(f, 4, 1, 2); /* TYPE */
	put(f->sec[k], &f->len[k], 0);
	put(f->sec[k], &f->len[k], 0);
	k = sec_add(f, 5, 1, 2); /* SIZE: 50 + 0, 50 + 10 */
	put(f->sec[k], &f->len[k], 0);
	put(f->sec[k], &f->len[k], 20);
	k = sec_add(f, 6, 1, 2); /* GEN: nibbles */
	f->sec[k][f->len[k]++] = 0x00;
	sec_add(f, 7, 1, 0); /* FP: none */
}

static struct ph_error *forged(const struct forge *f)
{
	size_t len;
	uint8_t *p = forge_file(f, &len);
	struct ph_snap *d = NULL;
	struct ph_error *err = ph_snap_decode(p, len, "forged", &d);
	ph_snap_destroy(d);
	free(p);
	return err;
}

#define REFUSED(f, what)                                                       \
	do {                                                                   \
		struct ph_error *e_ = forged(f);                               \
		CU_ASSERT_EQUAL(ph_error_code(e_), PH_ERR_BAD_SNAPSHOT);       \
		if (e_ && !strstr(ph_error_message(e_), what)) {               \
			fprintf(stderr, "\n  got: %s\n",                       \
				ph_error_message(e_));                         \
			CU_FAIL("message");                                    \
		}                                                              \
		ph_error_destroy(e_);                                          \
	} while (0)

static void test_forged(void)
{
	struct forge f;
	forge_valid(&f, 2);
	struct ph_error *err = forged(&f);
	CU_ASSERT_PTR_NULL(err);
	if (err)
		fprintf(stderr, "\n  valid forge: %s\n", ph_error_message(err));
	ph_error_destroy(err);

	/* a newer minor version, an unknown optional section: read */
	forge_valid(&f, 2);
	f.minor = 7;
	size_t k = sec_add(&f, 200, 0, 1);
	put(f.sec[k], &f.len[k], 12345);
	CU_ASSERT_PTR_NULL(err = forged(&f));
	ph_error_destroy(err);
	/* an unknown required one: refused */
	f.flags[k] = 1;
	REFUSED(&f, "newer py-heap");
	/* another major version */
	forge_valid(&f, 2);
	f.major = 3;
	REFUSED(&f, "format 3.0");
	/* fingerprints of a version not known yet */
	forge_valid(&f, 2);
	put(f.sec[0], &f.len[0], 14);
	put(f.sec[0], &f.len[0], 1);
	put(f.sec[0], &f.len[0], 9);
	f.count[0]++;
	REFUSED(&f, "fingerprints of version 9");
	/* two billion objects in two bytes: refused before any allocation */
	forge_valid(&f, 0x7fffffffULL);
	REFUSED(&f, "do not fit");
	forge_valid(&f, 1ULL << 40);
	REFUSED(&f, "do not fit");
	/* counts that disagree */
	forge_valid(&f, 2);
	f.count[2] = 3; /* ADDR */
	REFUSED(&f, "ADDR holds 3 entries for 2 objects");
	forge_valid(&f, 2);
	f.count[1] = 1000; /* types */
	REFUSED(&f, "types do not fit");
	/* a type's count, the total of the sizes */
	forge_valid(&f, 2);
	f.len[1] -= 1;
	put(f.sec[1], &f.len[1], 1);
	REFUSED(&f, "count does not match");
	forge_valid(&f, 2);
	f.sec[0][f.len[0] - 1] = 111;
	REFUSED(&f, "do not add up");
	/* addresses that do not ascend, an overflow */
	forge_valid(&f, 2);
	f.sec[2][1] = 0;
	REFUSED(&f, "out of order");
	forge_valid(&f, 2);
	f.len[2] = 0;
	put(f.sec[2], &f.len[2], 0x1ffffffffffffffULL);
	put(f.sec[2], &f.len[2], 0x1fffffffffffffffULL);
	REFUSED(&f, "out of order");
	/* a type index past the types */
	forge_valid(&f, 2);
	f.sec[3][1] = 1;
	REFUSED(&f, "past the types");
	/* a size below zero */
	forge_valid(&f, 2);
	f.sec[4][0] = 101; /* zigzag: -51 */
	REFUSED(&f, "size out of range");
	/* a generation of 9 */
	forge_valid(&f, 2);
	f.sec[5][0] = 0x90;
	REFUSED(&f, "generation");
	/* a varint of eleven bytes */
	forge_valid(&f, 2);
	f.len[3] = 0;
	memset(f.sec[3], 0x80, 10);
	f.sec[3][10] = 0;
	f.len[3] = 11;
	f.sec[3][11] = 0;
	f.len[3] = 12;
	REFUSED(&f, "column ends early");
	/* a string longer than its section */
	forge_valid(&f, 2);
	f.sec[1][0] = 100;
	REFUSED(&f, "TYPES");
	/* a section twice, one missing */
	forge_valid(&f, 2);
	f.id[6] = 6;
	REFUSED(&f, "section GEN twice");
	/* a tree with a loop: 0 -> 1 -> 0 */
	forge_valid(&f, 2);
	k = sec_add(&f, 8, 0, 2);
	put(f.sec[k], &f.len[k], 2 * 2); /* zigzag(+1) */
	put(f.sec[k], &f.len[k], 2 * 1); /* zigzag(-1) */
	k = sec_add(&f, 9, 0, 1);
	put_str(f.sec[k], &f.len[k], "module __main__");
	sec_add(&f, 10, 0, 0);
	REFUSED(&f, "loop");
	/* a root past the roots */
	f.len[7] = 0;
	put(f.sec[7], &f.len[7], 2 * 5 + 1);
	put(f.sec[7], &f.len[7], 0);
	REFUSED(&f, "PARENT");
	/* that tree made right: read */
	f.len[7] = 0;
	put(f.sec[7], &f.len[7], 1);
	put(f.sec[7], &f.len[7], 2 * 1);
	CU_ASSERT_PTR_NULL(err = forged(&f));
	ph_error_destroy(err);
	/* names: past the objects, not ascending */
	f.count[9] = 2;
	put(f.sec[9], &f.len[9], 1);
	put_str(f.sec[9], &f.len[9], "['a']");
	put(f.sec[9], &f.len[9], 0);
	put_str(f.sec[9], &f.len[9], "['b']");
	REFUSED(&f, "NAMES");
	f.len[9] = 0;
	put(f.sec[9], &f.len[9], 1);
	put_str(f.sec[9], &f.len[9], "['a']");
	put(f.sec[9], &f.len[9], 7);
	put_str(f.sec[9], &f.len[9], "['b']");
	REFUSED(&f, "NAMES");
	/* a tree without its roots */
	f.id[8] = 201;
	REFUSED(&f, "without its roots");
}

static void test_path(void)
{
	struct ph_snap *s = make_snap(200);
	struct ph_buf b;
	ph_buf_init(&b);
	/* object 0 is held by root 0 */
	CU_ASSERT(ph_snap_path(s, 0, &b));
	CU_ASSERT_STRING_EQUAL(b.data, "module __main__");
	/* 4 under 1 under 0: named all the way */
	b.len = 0;
	CU_ASSERT(ph_snap_path(s, 4, &b));
	CU_ASSERT_STRING_EQUAL(b.data, "module __main__ ['k1']['k4']");
	/* 41 under 13 under 4: 41 and 13 not named */
	b.len = 0;
	CU_ASSERT(ph_snap_path(s, 41, &b));
	CU_ASSERT_STRING_EQUAL(b.data, "module __main__ ['k1']['k4'] ...");
	/* 20 under a root of its own: exact, though not named */
	b.len = 0;
	CU_ASSERT(ph_snap_path(s, 20, &b));
	CU_ASSERT_STRING_EQUAL(b.data,
			       "thread 1 frame f() at x.py:3 local 'a'");
	/* 5: no root; 16 under 5 */
	b.len = 0;
	CU_ASSERT_FALSE(ph_snap_path(s, 5, &b));
	CU_ASSERT_FALSE(ph_snap_path(s, 16, &b));
	CU_ASSERT_FALSE(ph_snap_path(s, 999, &b));
	ph_buf_free(&b);
	ph_snap_destroy(s);
}

void ph_test_snapshot_register(void)
{
	CU_pSuite s = CU_add_suite("snapshot files", NULL, NULL);
	CU_add_test(s, "crc32c", test_crc32c);
	CU_add_test(s, "round trip", test_round_trip);
	CU_add_test(s, "written and read", test_file);
	CU_add_test(s, "every cut and every flipped byte", test_damage);
	CU_add_test(s, "forged files", test_forged);
	CU_add_test(s, "paths from the tree", test_path);
}
