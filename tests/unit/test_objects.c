/*
 * Unit tests of the object model and the object table over synthetic
 * memory: a buffer made a process image (one writable segment), in which
 * each test lays out CPython objects as a version's layout table says,
 * and reads them back through the readers: str (ASCII, latin-1, UCS-2,
 * UCS-4, compact and not, with wstr and UTF-8 copies), dicts (3.8-3.10's
 * dk_size keys, 3.11+'s general and str-keyed keys, split dicts and 3.13's
 * values with a header), types (registered, named, their kind, slots and
 * leaf), line tables (3.11+'s location table, 3.10's co_linetable, 3.8's
 * co_lnotab), the object table (pools' bitmaps and ranks, the hash map
 * of the others), the big tables' memory kept within a command, and the
 * helper threads' processors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kinds.h"
#include "layout.h"
#include "objtable.h"
#include "unit.h"

#define BASE 0x7f0000000000ULL
#define SIZE (1u << 20)

/* A heap over a buffer: h reads it as the process's memory. */
struct fake {
	uint8_t *buf;
	uint64_t top; /* the next free byte (16-aligned) */
	struct ph_memory mem;
	struct ph_layout L;
	struct ph_runtime rt;
	struct ph_heap h;
};

static void w64(struct fake *f, uint64_t addr, uint64_t v)
{
	CU_ASSERT_FATAL(addr >= BASE && addr + 8 <= BASE + SIZE);
	memcpy(f->buf + (addr - BASE), &v, 8);
}

static void w32(struct fake *f, uint64_t addr, uint32_t v)
{
	CU_ASSERT_FATAL(addr >= BASE && addr + 4 <= BASE + SIZE);
	memcpy(f->buf + (addr - BASE), &v, 4);
}

static void wbytes(struct fake *f, uint64_t addr, const void *p, size_t n)
{
	CU_ASSERT_FATAL(addr >= BASE && addr + n <= BASE + SIZE);
	memcpy(f->buf + (addr - BASE), p, n);
}

static uint64_t alloc(struct fake *f, size_t n)
{
	uint64_t a = f->top;
	f->top += (n + 15) & ~(size_t)15;
	CU_ASSERT_FATAL(f->top <= BASE + SIZE);
	return a;
}

static uint64_t cstring(struct fake *f, const char *s)
{
	uint64_t a = alloc(f, strlen(s) + 1);
	wbytes(f, a, s, strlen(s) + 1);
	return a;
}

/* A type object of the builtins the readers compare with (ob_type of str,
 * tuple, code, bytes...): only its address matters to them. */
static uint64_t bare_type(struct fake *f, enum ph_kind k)
{
	uint64_t a = alloc(f, f->L.sizeof_heaptype);
	w64(f, a, 1);
	f->rt.kind_types[k] = a;
	return a;
}

static void fake_init(struct fake *f, unsigned minor)
{
	memset(f, 0, sizeof(*f));
	f->buf = calloc(1, SIZE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->buf);
	f->top = BASE + 4096;
	ph_memory_init(&f->mem);
	CU_ASSERT_PTR_NULL(
		ph_memory_add(&f->mem, BASE, BASE + SIZE, f->buf, true, false));
	CU_ASSERT_PTR_NULL(ph_memory_finish(&f->mem));
	f->L = *ph_layout_for(3, minor);
	f->rt.layout = &f->L;
	f->h.rt = &f->rt;
	f->h.mem = &f->mem;
	f->h.L = &f->L;
	f->h.pool_shift = (uint32_t)__builtin_ctz(f->L.pool_size);
	ph_u64map_init(&f->h.big_index);
	ph_u64map_init(&f->h.type_index);
	ph_u64map_init(&f->h.rejected);
	ph_u64map_init(&f->h.scan_rejected);
	/* type, with its own type itself */
	uint64_t tt = bare_type(f, PH_KIND_TYPE);
	w64(f, tt + 8, tt);
	bare_type(f, PH_KIND_STR);
	bare_type(f, PH_KIND_TUPLE);
	bare_type(f, PH_KIND_CODE);
	bare_type(f, PH_KIND_BYTES);
}

static void fake_free(struct fake *f)
{
	ph_objtable_free(&f->h);
	ph_type_table_free(&f->h);
	ph_u64map_free(&f->h.rejected);
	ph_u64map_free(&f->h.scan_rejected);
	ph_memory_free(&f->mem);
	free(f->buf);
}

/* ---- str ---- */

/* A str of n characters of width kind (1, 2, 4) from chars; compact
 * objects hold them after their header, the others point at them. */
static uint64_t fake_str_k(struct fake *f, const void *chars, uint64_t n,
			   unsigned kind, bool ascii, bool compact)
{
	const struct ph_layout *L = &f->L;
	uint32_t head = compact ? (ascii ? L->sizeof_ascii : L->sizeof_compact)
				: L->sizeof_unicode;
	uint64_t a = alloc(f, head + (compact ? (n + 1) * kind : 0));
	w64(f, a, 1);
	w64(f, a + 8, f->rt.kind_types[PH_KIND_STR]);
	w64(f, a + L->str_length, n);
	/* interned:2, kind:3, compact:1, ascii:1, ready:1 (up to 3.11) */
	uint32_t state = kind << 2 | (uint32_t)compact << 5 |
			 (uint32_t)ascii << 6 | 1u << 7;
	w32(f, a + L->str_state, state);
	uint64_t data = a + head;
	if (!compact) {
		data = alloc(f, (n + 1) * kind);
		w64(f, a + L->str_data, data);
	}
	wbytes(f, data, chars, n * kind);
	return a;
}

static uint64_t fake_str(struct fake *f, const char *ascii)
{
	return fake_str_k(f, ascii, strlen(ascii), 1, true, true);
}

static const struct ph_type str_type = {.kind = PH_KIND_STR, .basicsize = 80};

static void test_str_layouts(void)
{
	static const unsigned minors[] = {8, 11, 12, 14};
	for (size_t m = 0; m < PH_ARRAY_SIZE(minors); m++) {
		struct fake f;
		fake_init(&f, minors[m]);
		struct ph_heap *h = &f.h;
		const struct ph_layout *L = &f.L;
		char out[256];
		size_t len;
		struct ph_str_info si;

		/* compact ASCII */
		uint64_t s = fake_str(&f, "hello");
		CU_ASSERT_TRUE(ph_heap_str(h, s, out, sizeof(out), &len));
		CU_ASSERT_STRING_EQUAL(out, "hello");
		CU_ASSERT_EQUAL(len, 5);
		CU_ASSERT_TRUE(ph_str_info(h, s, &si));
		CU_ASSERT(si.ascii && si.compact && si.kind == 1);
		CU_ASSERT_EQUAL(si.data, s + L->sizeof_ascii);
		CU_ASSERT_EQUAL(ph_obj_sizeof(h, s, &str_type),
				L->sizeof_ascii + 6);
		CU_ASSERT_EQUAL(ph_obj_inline_size(h, s, &str_type, 0),
				L->sizeof_ascii + 6);
		CU_ASSERT_TRUE(ph_obj_contents_ok(h, s, &str_type, 0));

		/* compact latin-1: "café" */
		const uint8_t latin1[] = {'c', 'a', 'f', 0xe9};
		s = fake_str_k(&f, latin1, 4, 1, false, true);
		CU_ASSERT_TRUE(ph_heap_str(h, s, out, sizeof(out), &len));
		CU_ASSERT_STRING_EQUAL(out, "caf\xc3\xa9");
		CU_ASSERT_EQUAL(ph_obj_sizeof(h, s, &str_type),
				L->sizeof_compact + 5);
		/* with its UTF-8 copy elsewhere: counted too */
		uint64_t u8 = cstring(&f, "caf\xc3\xa9");
		w64(&f, s + L->str_utf8, u8);
		w64(&f, s + L->str_utf8_length, 5);
		CU_ASSERT_EQUAL(ph_obj_sizeof(h, s, &str_type),
				L->sizeof_compact + 5 + 6);

		/* compact UCS-2: "Ωm" */
		const uint16_t ucs2[] = {0x03a9, 'm'};
		s = fake_str_k(&f, ucs2, 2, 2, false, true);
		CU_ASSERT_TRUE(ph_heap_str(h, s, out, sizeof(out), NULL));
		CU_ASSERT_STRING_EQUAL(out, "\xce\xa9m");
		CU_ASSERT_EQUAL(ph_obj_sizeof(h, s, &str_type),
				L->sizeof_compact + 3 * 2);

		/* compact UCS-4: an emoji, and a code point past Unicode's */
		const uint32_t ucs4[] = {0x1f600, 0x110000};
		s = fake_str_k(&f, ucs4, 2, 4, false, true);
		CU_ASSERT_TRUE(ph_heap_str(h, s, out, sizeof(out), NULL));
		CU_ASSERT_STRING_EQUAL(out, "\xf0\x9f\x98\x80\xef\xbf\xbd");
		CU_ASSERT_EQUAL(ph_obj_sizeof(h, s, &str_type),
				L->sizeof_compact + 3 * 4);

		/* not compact (a legacy str): its characters elsewhere */
		s = fake_str_k(&f, ucs2, 2, 2, false, false);
		CU_ASSERT_TRUE(ph_heap_str(h, s, out, sizeof(out), NULL));
		CU_ASSERT_STRING_EQUAL(out, "\xce\xa9m");
		CU_ASSERT_EQUAL(ph_obj_sizeof(h, s, &str_type),
				L->sizeof_unicode + 3 * 2);
		CU_ASSERT_EQUAL(ph_obj_inline_size(h, s, &str_type, 0),
				L->sizeof_unicode);
		CU_ASSERT_TRUE(ph_obj_contents_ok(h, s, &str_type, 0));
		/* ... pointing at memory there is not: implausible */
		w64(&f, s + L->str_data, 0x10);
		CU_ASSERT_FALSE(ph_obj_contents_ok(h, s, &str_type, 0));
		CU_ASSERT_FALSE(ph_heap_str(h, s, out, sizeof(out), NULL));

		/* no such width, or ASCII of two bytes a character */
		s = fake_str(&f, "x");
		w32(&f, s + L->str_state, 3u << 2 | 1u << 5);
		CU_ASSERT_FALSE(ph_str_info(h, s, &si));
		CU_ASSERT_FALSE(ph_obj_contents_ok(h, s, &str_type, 0));
		w32(&f, s + L->str_state, 2u << 2 | 1u << 5 | 1u << 6);
		CU_ASSERT_FALSE(ph_str_info(h, s, &si));
		/* a length past 2^40 */
		s = fake_str(&f, "x");
		w64(&f, s + L->str_length, 1ULL << 41);
		CU_ASSERT_FALSE(ph_str_info(h, s, &si));

		/* cut to what fits, with "..." */
		char longs[101];
		memset(longs, 'z', 100);
		longs[100] = '\0';
		s = fake_str(&f, longs);
		CU_ASSERT_TRUE(ph_heap_str(h, s, out, 32, &len));
		CU_ASSERT_EQUAL(len, 10);
		CU_ASSERT_STRING_EQUAL(out, "zzzzzzz...");

		/* up to 3.11: a wstr copy, counted unless it is the data */
		if (L->str_wstr) {
			s = fake_str_k(&f, ucs2, 2, 2, false, true);
			uint64_t ws = alloc(&f, 12);
			w64(&f, s + L->str_wstr, ws);
			w64(&f, s + L->str_wstr_length, 2);
			CU_ASSERT_EQUAL(ph_obj_sizeof(h, s, &str_type),
					L->sizeof_compact + 3 * 2 + 3 * 4);
		}

		/* its repr: quoted and escaped as Python's */
		struct ph_buf b;
		char *r;
		ph_buf_init(&b);
		ph_repr_str(h, fake_str(&f, "it's\n\t\x01"), &b, 60);
		CU_ASSERT_PTR_NULL(ph_buf_finish(&b, &r));
		CU_ASSERT_STRING_EQUAL(r, "\"it's\\n\\t\\x01\"");
		free(r);
		fake_free(&f);
	}
}

/* ---- dicts ---- */

struct entry {
	uint64_t key, value;
};

/*
 * A keys object of 2^log2 slots holding n entries (hashes 0), combined:
 * 3.8-3.10's {refcnt, size, lookup, usable, nentries, indices} with
 * 1-byte indices up to 255 slots, 3.11+'s {refcnt, log2_size,
 * log2_index_bytes, kind, version, usable, nentries, indices}; str_keys:
 * 3.11+'s {key, value} entries.
 */
static uint64_t fake_keys(struct fake *f, unsigned log2, const struct entry *e,
			  size_t n, bool str_keys)
{
	const struct ph_layout *L = &f->L;
	uint64_t size = 1ULL << log2, usable = (size << 1) / 3;
	unsigned width = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
	unsigned esize = str_keys ? 16 : 24;
	uint64_t index_bytes = size * width;
	uint64_t a =
		alloc(f, L->sizeof_dictkeys + index_bytes + usable * esize);
	w64(f, a + L->dk_refcnt, 1);
	if (L->dk_size) {
		w64(f, a + L->dk_size, size);
	} else {
		uint8_t b[3] = {(uint8_t)log2,
				(uint8_t)(log2 + (width == 1   ? 0
						  : width == 2 ? 1
							       : 2)),
				str_keys ? 1 : 0};
		wbytes(f, a + L->dk_log2_size, b, 1);
		wbytes(f, a + L->dk_log2_index_bytes, b + 1, 1);
		wbytes(f, a + L->dk_kind, b + 2, 1);
	}
	w64(f, a + L->dk_usable, usable - n);
	w64(f, a + L->dk_nentries, n);
	uint64_t ent = a + L->dk_indices + index_bytes;
	for (size_t i = 0; i < n; i++) {
		uint64_t at = ent + i * esize + (str_keys ? 0 : 8);
		w64(f, at, e[i].key);
		w64(f, at + 8, e[i].value);
	}
	return a;
}

static uint64_t fake_dict(struct fake *f, uint64_t keys, uint64_t values,
			  uint64_t used)
{
	const struct ph_layout *L = &f->L;
	uint64_t a = alloc(f, L->sizeof_dict);
	w64(f, a, 1);
	w64(f, a + L->dict_used, used);
	w64(f, a + L->dict_keys, keys);
	w64(f, a + L->dict_values, values);
	return a;
}

struct seen {
	uint64_t key[8], value[8];
	int n;
};

static bool seen_cb(void *arg, uint64_t key, uint64_t value, int64_t index)
{
	struct seen *s = arg;
	s->key[s->n] = key;
	s->value[s->n++] = value;
	return false;
}

static const struct ph_type dict_type = {.kind = PH_KIND_DICT, .basicsize = 48};

/* What each version's keys hold, as dicts read them. */
static void test_dict_keys(void)
{
	static const unsigned minors[] = {8, 10, 11, 12, 13};
	for (size_t m = 0; m < PH_ARRAY_SIZE(minors); m++) {
		struct fake f;
		fake_init(&f, minors[m]);
		struct ph_heap *h = &f.h;
		const struct ph_layout *L = &f.L;
		bool old = L->dk_size != 0;
		struct entry e[3] = {{fake_str(&f, "a"), fake_str(&f, "1")},
				     {0, 0}, /* a deleted entry */
				     {fake_str(&f, "c"), fake_str(&f, "3")}};
		for (int sk = 0; sk <= !old; sk++) { /* 3.11+: str keys too */
			uint64_t keys = fake_keys(&f, 3, e, 3, sk);
			uint64_t d = fake_dict(&f, keys, 0, 2);
			struct ph_keys_geom g;
			CU_ASSERT_TRUE(ph_keys_geom(h, keys, &g));
			CU_ASSERT_EQUAL(g.nentries, 3);
			CU_ASSERT_EQUAL(g.esize, sk ? 16 : 24);
			CU_ASSERT_EQUAL(g.bytes,
					L->sizeof_dictkeys + 8 + 5 * g.esize);
			struct seen s = {.n = 0};
			ph_dict_foreach(h, d, seen_cb, &s);
			CU_ASSERT_EQUAL(s.n, 2);
			CU_ASSERT_EQUAL(s.key[1], e[2].key);
			CU_ASSERT_EQUAL(s.value[1], e[2].value);
			CU_ASSERT_EQUAL(ph_dict_get_str(h, d, "c"), e[2].value);
			CU_ASSERT_EQUAL(ph_dict_get_str(h, d, "b"), 0);
			CU_ASSERT_TRUE(ph_obj_contents_ok(h, d, &dict_type, 0));
			/* it owns its keys (refcnt 1): they count */
			CU_ASSERT_EQUAL(ph_obj_sizeof(h, d, &dict_type),
					48 + g.bytes);
			/* more used than entries: implausible */
			w64(&f, d + L->dict_used, 4);
			CU_ASSERT_FALSE(
				ph_obj_contents_ok(h, d, &dict_type, 0));
		}
		/* a table of 512 slots: indices 2 bytes wide */
		uint64_t keys = fake_keys(&f, 9, e, 3, false);
		struct ph_keys_geom g;
		CU_ASSERT_TRUE(ph_keys_geom(h, keys, &g));
		CU_ASSERT_EQUAL(g.entries, keys + L->dk_indices + 1024);
		uint64_t d = fake_dict(&f, keys, 0, 2);
		CU_ASSERT_TRUE(ph_obj_contents_ok(h, d, &dict_type, 0));
		if (old) {
			/* a size that is no power of 2 */
			w64(&f, keys + L->dk_size, 12);
			CU_ASSERT_FALSE(ph_keys_geom(h, keys, &g));
		} else {
			/* indices as wide as a smaller table's */
			uint8_t narrow = 9;
			wbytes(&f, keys + L->dk_log2_index_bytes, &narrow, 1);
			CU_ASSERT_FALSE(
				ph_obj_contents_ok(h, d, &dict_type, 0));
			/* no such kind of keys */
			uint8_t kind = 3;
			wbytes(&f, keys + L->dk_kind, &kind, 1);
			CU_ASSERT_FALSE(ph_keys_geom(h, keys, &g));
		}
		/* more entries than the table holds */
		keys = fake_keys(&f, 3, e, 3, false);
		w64(&f, keys + L->dk_nentries, 7);
		CU_ASSERT_FALSE(ph_keys_geom(h, keys, &g));
		CU_ASSERT_EQUAL(ph_dict_keys_size(h, keys), 0);
		fake_free(&f);
	}
}

/* A split dict: its keys shared, its values its own; 3.13's values have a
 * header, and values an object holds inline are the object's. */
static void test_dict_split(void)
{
	static const unsigned minors[] = {8, 11, 13};
	for (size_t m = 0; m < PH_ARRAY_SIZE(minors); m++) {
		struct fake f;
		fake_init(&f, minors[m]);
		struct ph_heap *h = &f.h;
		const struct ph_layout *L = &f.L;
		struct entry e[2] = {{fake_str(&f, "x"), 0},
				     {fake_str(&f, "y"), 0}};
		uint64_t keys = fake_keys(&f, 3, e, 2, !L->dk_size);
		w64(&f, keys + L->dk_refcnt, 2); /* shared: not its own */
		uint64_t vals = alloc(&f, L->values_header + 5 * 8);
		uint64_t v1 = fake_str(&f, "one"), v2 = fake_str(&f, "two");
		w64(&f, vals + L->values_header, v1);
		w64(&f, vals + L->values_header + 8, v2);
		uint64_t d = fake_dict(&f, keys, vals, 2);
		struct seen s = {.n = 0};
		ph_dict_foreach(h, d, seen_cb, &s);
		CU_ASSERT_EQUAL(s.n, 2);
		CU_ASSERT_EQUAL(s.key[0], e[0].key);
		CU_ASSERT_EQUAL(s.value[0], v1);
		CU_ASSERT_EQUAL(s.value[1], v2);
		/* the values: one per usable slot (3.8-3.10), else per entry
		 * and per slot still usable */
		uint64_t nvals = L->dk_size ? 5 : 2 + 3;
		CU_ASSERT_EQUAL(ph_obj_sizeof(h, d, &dict_type),
				48 + 8 * nvals);
		if (L->values_header) {
			uint8_t embedded = 1;
			wbytes(&f, vals + 2, &embedded, 1);
			s.n = 0;
			ph_dict_foreach(h, d, seen_cb, &s);
			CU_ASSERT_EQUAL(s.n, 0);
		}
		fake_free(&f);
	}
}

/* ---- types ---- */

#define T_OBJECT_EX 16

/* A type object: static, or a heap type (its name a str, its module in
 * its dict), below base. */
static uint64_t fake_type(struct fake *f, const char *name, uint64_t flags,
			  int64_t basicsize, uint64_t base, uint64_t dict)
{
	const struct ph_layout *L = &f->L;
	bool heap = flags & PH_TPFLAGS_HEAPTYPE;
	uint64_t a = alloc(f, heap ? L->sizeof_heaptype : L->sizeof_type);
	w64(f, a, 3);
	w64(f, a + 8, f->rt.kind_types[PH_KIND_TYPE]);
	w64(f, a + L->tp_name, cstring(f, name));
	w64(f, a + L->tp_flags, flags);
	w64(f, a + L->tp_basicsize, (uint64_t)basicsize);
	w64(f, a + L->tp_base, base);
	w64(f, a + L->tp_dict, dict);
	if (heap)
		w64(f, a + L->ht_qualname, fake_str(f, name));
	return a;
}

static void test_types(void)
{
	static const unsigned minors[] = {8, 11, 13};
	for (size_t m = 0; m < PH_ARRAY_SIZE(minors); m++) {
		struct fake f;
		fake_init(&f, minors[m]);
		struct ph_heap *h = &f.h;
		const struct ph_layout *L = &f.L;
		uint64_t obj = fake_type(&f, "object", 0, 16, 0, 0);
		f.rt.kind_types[PH_KIND_OBJECT] = obj;
		uint64_t list =
			fake_type(&f, "list", PH_TPFLAGS_HAVE_GC, 40, obj, 0);
		f.rt.kind_types[PH_KIND_LIST] = list;
		uint64_t flt = fake_type(&f, "float", 0, 24, obj, 0);
		f.rt.kind_types[PH_KIND_FLOAT] = flt;

		int64_t ti = ph_type_register(h, list);
		CU_ASSERT_FATAL(ti >= 0);
		CU_ASSERT_EQUAL(ph_type_register(h, list), ti); /* once */
		CU_ASSERT_EQUAL(ph_heap_type_of(h, list), ti);
		const struct ph_type *t = &h->types[ti];
		CU_ASSERT_STRING_EQUAL(t->name, "list");
		CU_ASSERT_EQUAL(t->kind, PH_KIND_LIST);
		CU_ASSERT_EQUAL(t->presize, L->gc_head_size);
		CU_ASSERT_FALSE(t->leaf);
		CU_ASSERT_FALSE(t->heap);

		/* a float: a leaf, its checks and size its type's */
		ti = ph_type_register(h, flt);
		CU_ASSERT_FATAL(ti >= 0);
		CU_ASSERT_TRUE(h->types[ti].leaf);
		CU_ASSERT_EQUAL(h->types[ti].fixed_need, 24);
		CU_ASSERT_TRUE(h->types[ti].fills_class);

		/* "builtins." is not part of a static type's name */
		ti = ph_type_register(
			h, fake_type(&f, "builtins.thing", 0, 16, obj, 0));
		CU_ASSERT_FATAL(ti >= 0);
		CU_ASSERT_STRING_EQUAL(h->types[ti].name, "thing");
		/* collections.deque: a kind known by its name */
		ti = ph_type_register(
			h, fake_type(&f, "collections.deque", 0, 88, obj, 0));
		CU_ASSERT_FATAL(ti >= 0);
		CU_ASSERT_EQUAL(h->types[ti].kind, PH_KIND_DEQUE);

		/* a class below list: its module from its dict, a slot */
		struct entry mod = {fake_str(&f, "__module__"),
				    fake_str(&f, "app")};
		uint64_t keys = fake_keys(&f, 3, &mod, 1, !L->dk_size);
		uint64_t dict = fake_dict(&f, keys, 0, 1);
		uint64_t cls = fake_type(
			&f, "Mine", PH_TPFLAGS_HEAPTYPE | PH_TPFLAGS_HAVE_GC,
			56, list, dict);
		uint64_t members = alloc(&f, 2 * L->sizeof_memberdef);
		w64(&f, members, cstring(&f, "extra"));
		w32(&f, members + L->md_type, T_OBJECT_EX);
		w64(&f, members + L->md_offset, 48);
		w64(&f, cls + L->tp_members, members);
		ti = ph_type_register(h, cls);
		CU_ASSERT_FATAL(ti >= 0);
		t = &h->types[ti];
		CU_ASSERT_STRING_EQUAL(t->name, "app.Mine");
		CU_ASSERT_EQUAL(t->kind, PH_KIND_LIST);
		CU_ASSERT_EQUAL(t->kind_basicsize, 40);
		CU_ASSERT_TRUE(t->heap);
		CU_ASSERT_EQUAL(t->nslots, 1);
		CU_ASSERT_EQUAL(t->slot_offsets[0], 48);
		/* 40..56 is its own: the slot, and a word it adds */
		CU_ASSERT_EQUAL(t->nc_offsets, 1);
		CU_ASSERT_EQUAL(t->c_offsets[0], 40);

		/* no type: a refcount of 0, a type that is no metaclass, a
		 * basicsize of 8 */
		uint64_t bad = fake_type(&f, "bad", 0, 16, obj, 0);
		w64(&f, bad, 0);
		CU_ASSERT_EQUAL(ph_type_register(h, bad), -1);
		bad = fake_type(&f, "bad", 0, 16, obj, 0);
		w64(&f, bad + 8, list);
		CU_ASSERT_EQUAL(ph_type_register(h, bad), -1);
		CU_ASSERT_EQUAL(ph_type_register(h, bad + 3), -1);
		CU_ASSERT_EQUAL(
			ph_type_register(h, fake_type(&f, "x", 0, 8, obj, 0)),
			-1);
		CU_ASSERT_TRUE(ph_type_looks_like(h, list));
		CU_ASSERT_FALSE(ph_type_looks_like(h, bad));
		fake_free(&f);
	}
}

/* ---- line tables ---- */

/* A bytes object holding n bytes. */
static uint64_t fake_bytes(struct fake *f, const uint8_t *p, size_t n)
{
	uint64_t a = alloc(f, f->L.bytes_data + n + 1);
	w64(f, a, 1);
	w64(f, a + 8, f->rt.kind_types[PH_KIND_BYTES]);
	w64(f, a + 16, n);
	wbytes(f, a + f->L.bytes_data, p, n);
	return a;
}

/* A code object named f, in x.py, from line 10, with its line table. */
static uint64_t fake_code(struct fake *f, const uint8_t *table, size_t n)
{
	const struct ph_layout *L = &f->L;
	uint64_t a = alloc(f, 512); /* past every field read */
	w64(f, a, 1);
	w64(f, a + 8, f->rt.kind_types[PH_KIND_CODE]);
	w64(f, a + L->code_qualname, fake_str(f, "f"));
	w64(f, a + L->code_filename, fake_str(f, "x.py"));
	w32(f, a + L->code_firstlineno, 10);
	w64(f, a + L->co_linetable, fake_bytes(f, table, n));
	return a;
}

static int line_at(struct fake *f, uint64_t frame)
{
	char func[64], file[64];
	int line = -99;
	CU_ASSERT_TRUE(ph_heap_iframe_location(&f->h, frame, func, sizeof(func),
					       file, sizeof(file), &line));
	CU_ASSERT_STRING_EQUAL(func, "f");
	CU_ASSERT_STRING_EQUAL(file, "x.py");
	return line;
}

/* 3.11+'s location table: the line of the code unit an interpreter frame
 * is at (prev_instr / instr_ptr). */
static void test_location_table(void)
{
	static const unsigned minors[] = {11, 13, 14};
	/* units 0-1: one-line form, line +1; unit 2: short varint form,
	 * +3; unit 3: long form, -2 (and end line, columns); unit 4: no
	 * location (the line as it was); units 5-7: one-line, +0 */
	static const uint8_t table[] = {
		0x80 | 11 << 3 | 1,
		0,
		0,
		0x80 | 13 << 3,
		3 << 1,
		0x80 | 14 << 3,
		5,
		0,
		0,
		0,
		0x80 | 15 << 3,
		0x80 | 10 << 3 | 2,
		0,
		0,
	};
	static const int want[] = {11, 11, 14, 12, 12, 12, 12, 12, 12};
	for (size_t m = 0; m < PH_ARRAY_SIZE(minors); m++) {
		struct fake f;
		fake_init(&f, minors[m]);
		const struct ph_layout *L = &f.L;
		uint64_t code = fake_code(&f, table, sizeof(table));
		uint64_t frame = alloc(&f, L->if_localsplus + 64);
		w64(&f, frame + L->if_code, code);
		for (unsigned u = 0; u < PH_ARRAY_SIZE(want); u++) {
			w64(&f, frame + L->if_prev_instr,
			    code + L->co_code_adaptive + 2 * u);
			CU_ASSERT_EQUAL(line_at(&f, frame), want[u]);
		}
		/* 3.14+: the code is a tagged stack reference */
		if (L->stackrefs) {
			w64(&f, frame + L->if_code, code | 1);
			w64(&f, frame + L->if_prev_instr,
			    code + L->co_code_adaptive + 2 * 2);
			CU_ASSERT_EQUAL(line_at(&f, frame), 14);
		}
		/* a frame whose code is none */
		w64(&f, frame + L->if_code, fake_str(&f, "f"));
		char func[64], file[64];
		int line;
		CU_ASSERT_FALSE(ph_heap_iframe_location(&f.h, frame, func,
							sizeof(func), file,
							sizeof(file), &line));
		fake_free(&f);
	}
}

/* Before 3.11 the frame object's f_lasti: 3.10's co_linetable (pairs of
 * byte ranges and line deltas, -128 for no line; f_lasti in code units),
 * 3.8/3.9's co_lnotab (pairs of byte and line deltas; f_lasti in bytes). */
static void test_old_line_tables(void)
{
	struct fake f;
	/* 3.10: bytes 0-3 line 11, 4-7 no line, 8-13 line 13 */
	fake_init(&f, 10);
	const struct ph_layout *L = &f.L;
	static const uint8_t t310[] = {4, 1, 4, 0x80, 6, 2};
	uint64_t code = fake_code(&f, t310, sizeof(t310));
	uint64_t frame = alloc(&f, L->if_localsplus + 64);
	w64(&f, frame + L->if_code, code);
	static const struct {
		int lasti, line;
	} w310[] = {{0, 11}, {1, 11}, {2, -1}, {4, 13}, {6, 13}, {9, 13}};
	for (size_t i = 0; i < PH_ARRAY_SIZE(w310); i++) {
		w32(&f, frame + L->f_lasti, (uint32_t)w310[i].lasti);
		CU_ASSERT_EQUAL(line_at(&f, frame), w310[i].line);
	}
	fake_free(&f);
	/* 3.8: at byte 6, line +1; at byte 10, line +2; at byte 10, -1 */
	fake_init(&f, 8);
	L = &f.L;
	static const uint8_t t38[] = {6, 1, 4, 2, 0, 0xff};
	code = fake_code(&f, t38, sizeof(t38));
	frame = alloc(&f, L->if_localsplus + 64);
	w64(&f, frame + L->if_code, code);
	static const struct {
		int lasti, line;
	} w38[] = {{0, 10}, {4, 10}, {6, 11}, {8, 11}, {10, 12}, {40, 12}};
	for (size_t i = 0; i < PH_ARRAY_SIZE(w38); i++) {
		w32(&f, frame + L->f_lasti, (uint32_t)w38[i].lasti);
		CU_ASSERT_EQUAL(line_at(&f, frame), w38[i].line);
	}
	fake_free(&f);
}

/* ---- the object table ---- */

/* A pool at addr of blocks of block_size, all handed out. */
static struct ph_pool fake_pool(struct fake *f, uint64_t addr,
				uint32_t block_size)
{
	struct ph_pool p = {.addr = addr, .block_size = block_size};
	p.nblocks = (f->L.pool_size - f->L.pool_overhead) / block_size;
	return p;
}

static void test_object_table(void)
{
	struct fake f;
	fake_init(&f, 11);
	struct ph_heap *h = &f.h;
	const struct ph_layout *L = &f.L;
	uint64_t obj = fake_type(&f, "object", 0, 16, 0, 0);
	f.rt.kind_types[PH_KIND_OBJECT] = obj;
	CU_ASSERT_EQUAL_FATAL(ph_type_register(h, obj), 0);

	/* two pools, 16 KiB aligned, in the buffer */
	uint64_t p0 =
		(f.top + L->pool_size - 1) & ~(uint64_t)(L->pool_size - 1);
	uint64_t p1 = p0 + L->pool_size;
	f.top = p1 + L->pool_size;
	struct ph_pool pool = fake_pool(&f, p0, 32);
	CU_ASSERT_PTR_NULL(ph_objtable_add_pool(h, &pool));
	pool = fake_pool(&f, p1, 64);
	CU_ASSERT_PTR_NULL(ph_objtable_add_pool(h, &pool));
	CU_ASSERT_EQUAL(h->npools, 2);
	CU_ASSERT_EQUAL(h->nregions, 1);
	CU_ASSERT_EQUAL(ph_objtable_pool_at(h, p0 + 100), &h->pools[0]);
	CU_ASSERT_EQUAL(ph_objtable_pool_at(h, p1 + L->pool_size - 1),
			&h->pools[1]);
	CU_ASSERT_PTR_NULL(ph_objtable_pool_at(h, p1 + L->pool_size));

	/* a static object first, then the pools' objects in address order:
	 * three in p0, one in p1 (as the pool scan adds them) */
	uint64_t st = alloc(&f, 16);
	uint64_t a[4] = {p0 + L->pool_overhead, p0 + L->pool_overhead + 32,
			 p0 + L->pool_overhead + 32 * 300,
			 p1 + L->pool_overhead};
	bool added;
	CU_ASSERT_PTR_NULL(ph_objtable_add(h, st, 0, PH_OBJ_ROOT, &added));
	CU_ASSERT_TRUE(added);
	for (int i = 0; i < 4; i++) {
		w64(&f, a[i], 1);
		w64(&f, a[i] + 8, obj);
		CU_ASSERT_PTR_NULL(
			ph_objtable_add(h, a[i], 0, PH_OBJ_POOL_SCAN, &added));
		CU_ASSERT_TRUE(added);
	}
	/* not where pymalloc puts objects; and one already there */
	CU_ASSERT_PTR_NULL(
		ph_objtable_add(h, a[0] + 8, 0, PH_OBJ_REFERENCED, &added));
	CU_ASSERT_FALSE(added);
	CU_ASSERT_PTR_NULL(
		ph_objtable_add(h, a[1], 0, PH_OBJ_REFERENCED, &added));
	CU_ASSERT_FALSE(added);
	CU_ASSERT_EQUAL(h->n, 5);
	CU_ASSERT_TRUE(ph_objtable_known(h, a[2]));
	CU_ASSERT_FALSE(ph_objtable_known(h, a[2] + 32));
	/* numbered: the static one 0, the pools' from 1, by address */
	ph_objtable_freeze(h, 1);
	CU_ASSERT_EQUAL(h->npool_objects, 4);
	CU_ASSERT_EQUAL(ph_heap_lookup(h, st), 0);
	for (uint32_t i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(ph_heap_lookup(h, a[i]), i + 1);
		CU_ASSERT_EQUAL(h->addr[i + 1], a[i]);
		CU_ASSERT_EQUAL(h->size[i + 1], 16); /* object's basicsize */
	}
	CU_ASSERT_EQUAL(h->pools[1].first, 4);
	CU_ASSERT_EQUAL(ph_heap_lookup(h, a[2] + 32), PH_NONE);
	CU_ASSERT_EQUAL(ph_heap_lookup(h, a[0] + 8), PH_NONE);
	/* found later in a pool: kept aside, in the hash map */
	CU_ASSERT_PTR_NULL(
		ph_objtable_add(h, a[2] + 32, 0, PH_OBJ_REFERENCED, &added));
	CU_ASSERT_TRUE(added);
	CU_ASSERT_EQUAL(ph_heap_lookup(h, a[2] + 32), 5);
	CU_ASSERT_TRUE(ph_objtable_known(h, a[2] + 32));
	CU_ASSERT_EQUAL(ph_heap_lookup(h, a[2]), 3);
	/* room for more, once */
	CU_ASSERT_PTR_NULL(ph_objtable_reserve(h, 100000));
	CU_ASSERT(h->cap >= 100006);

	/* objects outside the pools, one of 4 GiB or more: the table keeps
	 * 4 bytes of a size, and ph_heap_obj_size reads that one again */
	uint64_t blob = fake_type(&f, "blob", 0, 32, obj, 0);
	w64(&f, blob + L->tp_itemsize, 1);
	int64_t bt = ph_type_register(h, blob);
	CU_ASSERT_FATAL(bt > 0);
	uint64_t big = alloc(&f, 32), small = alloc(&f, 32);
	const uint64_t big_items = (5ULL << 30) + 3;
	w64(&f, big, 1);
	w64(&f, big + 8, blob);
	w64(&f, big + 16, big_items);
	w64(&f, small, 1);
	w64(&f, small + 8, blob);
	w64(&f, small + 16, 100);
	CU_ASSERT_PTR_NULL(ph_objtable_add(h, big, (uint32_t)bt,
					   PH_OBJ_REFERENCED, &added));
	CU_ASSERT_PTR_NULL(ph_objtable_add(h, small, (uint32_t)bt,
					   PH_OBJ_REFERENCED, &added));
	uint32_t ib = ph_heap_lookup(h, big), is = ph_heap_lookup(h, small);
	CU_ASSERT_EQUAL_FATAL(ib, 6);
	CU_ASSERT_EQUAL_FATAL(is, 7);
	CU_ASSERT_EQUAL(h->size[ib], PH_SIZE_BIG);
	CU_ASSERT_EQUAL(ph_heap_obj_size(h, ib), 32 + big_items);
	CU_ASSERT_EQUAL(h->size[is], 132);
	CU_ASSERT_EQUAL(ph_heap_obj_size(h, is), 132);
	fake_free(&f);
}

/* ---- Cython's functions ---- */

struct edges {
	size_t n;
	struct {
		uint64_t target;
		enum ph_edge_kind kind;
		uint64_t data;
	} e[64];
};

static void edge_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		    uint64_t data)
{
	struct edges *es = arg;
	if (es->n < PH_ARRAY_SIZE(es->e)) {
		es->e[es->n].target = target;
		es->e[es->n].kind = kind;
		es->e[es->n++].data = data;
	}
}

/* How many edges of this kind to target (named name, when a field). */
static int edges_to(const struct edges *es, uint64_t target,
		    enum ph_edge_kind kind, const char *name)
{
	int n = 0;
	for (size_t i = 0; i < es->n; i++)
		n += es->e[i].target == target && es->e[i].kind == kind &&
		     (!name ||
		      !strcmp((const char *)(uintptr_t)es->e[i].data, name));
	return n;
}

/* Cython 0.29's function laid out as __Pyx_CyFunction_Init leaves it
 * (m_self itself, a stale vectorcall word), with a defaults block. */
static uint64_t fake_cyfunction(struct fake *f, uint64_t type, int64_t size,
				uint64_t *fields)
{
	uint64_t a = alloc(f, (size_t)size);
	w64(f, a, 1);
	w64(f, a + 8, type);
	w64(f, a + 16, cstring(f, "PyMethodDef"));
	w64(f, a + 24, a);
	for (int i = 0; i < 12; i++)
		fields[i] = fake_str(f, "field");
	w64(f, a + 32, fields[0]);  /* m_module */
	w64(f, a + 48, fields[1]);  /* vectorcall: stale, no reference */
	w64(f, a + 56, fields[2]);  /* func_dict */
	w64(f, a + 72, fields[3]);  /* func_qualname */
	w64(f, a + 112, fields[4]); /* func_classobj */
	uint64_t block = alloc(f, 24);
	w64(f, block, fields[5]);
	w64(f, block + 8, fields[6]);
	w64(f, block + 16, fields[7]); /* past defaults_pyobjects */
	w64(f, a + 120, block);
	w32(f, a + 128, 2);
	w64(f, a + 152, fields[8]);  /* defaults_tuple */
	w64(f, a + 168, fields[9]);  /* defaults_getter: C */
	w64(f, a + 176, fields[10]); /* func_annotations */
	if (size == 208)
		w64(f, a + 200, fields[11]); /* a fused function's self */
	return a;
}

static void test_cyfunction(void)
{
	static const unsigned minors[] = {8, 11, 13};
	for (size_t m = 0; m < PH_ARRAY_SIZE(minors); m++) {
		struct fake f;
		fake_init(&f, minors[m]);
		struct ph_heap *h = &f.h;
		uint64_t obj = fake_type(&f, "object", 0, 16, 0, 0);
		f.rt.kind_types[PH_KIND_OBJECT] = obj;
		uint64_t cy = fake_type(&f, "cython_function_or_method",
					PH_TPFLAGS_HAVE_GC, 184, obj, 0);
		uint64_t fused = fake_type(&f, "fused_cython_function",
					   PH_TPFLAGS_HAVE_GC, 208, cy, 0);
		/* Cython 3.0's size under 0.29's name: not read */
		uint64_t other = fake_type(&f, "cython_function_or_method",
					   PH_TPFLAGS_HAVE_GC, 192, obj, 0);
		const uint64_t types[] = {cy, fused, other};
		const int64_t sizes[] = {184, 208, 192};
		for (int k = 0; k < 3; k++) {
			int64_t ti = ph_type_register(h, types[k]);
			CU_ASSERT_FATAL(ti >= 0);
			CU_ASSERT_EQUAL(h->types[ti].kind, PH_KIND_CYFUNCTION);
			uint64_t fl[12];
			uint64_t a =
				fake_cyfunction(&f, types[k], sizes[k], fl);
			struct edges es = {0};
			ph_heap_referents(h, a, (uint32_t)ti, edge_cb, &es);
			/* never a reference to itself */
			CU_ASSERT_EQUAL(edges_to(&es, a, PH_EDGE_FIELD, NULL),
					0);
			CU_ASSERT_EQUAL(
				edges_to(&es, a, PH_EDGE_CONSERVATIVE, NULL),
				0);
			if (k == 2) {
				/* scanned, less m_self */
				CU_ASSERT_EQUAL(edges_to(&es, fl[0],
							 PH_EDGE_CONSERVATIVE,
							 NULL),
						1);
				continue;
			}
			CU_ASSERT_EQUAL(
				edges_to(&es, a, PH_EDGE_BORROWED, "m_self"),
				1);
			static const char *const names[] = {
				"__module__",	    NULL,
				"__dict__",	    "__qualname__",
				"func_classobj",    "dynamic_defaults",
				"dynamic_defaults", NULL,
				"__defaults__",	    NULL,
				"__annotations__",
			};
			for (int i = 0; i < 11; i++) {
				int want = names[i] != NULL;
				CU_ASSERT_EQUAL(edges_to(&es, fl[i],
							 PH_EDGE_FIELD,
							 names[i]),
						want);
				if (!want)
					CU_ASSERT_EQUAL(edges_to(&es, fl[i],
								 PH_EDGE_FIELD,
								 NULL),
							0);
			}
			CU_ASSERT_EQUAL(edges_to(&es, fl[11], PH_EDGE_FIELD,
						 "__self__"),
					k == 1);
			for (size_t i = 0; i < es.n; i++)
				CU_ASSERT_NOT_EQUAL(es.e[i].kind,
						    PH_EDGE_CONSERVATIVE);
		}
		fake_free(&f);
	}
}

/* Cython 3.1's function (3.9+), as __Pyx_CyFunction_Init leaves it: a
 * PyCMethodObject, then its fields; fl[1] is the weakref list head,
 * vectorcall and defaults_getter are C. */
static uint64_t fake_cyfunction3(struct fake *f, uint64_t type, int64_t size,
				 uint64_t *fl)
{
	static const uint32_t offs[] = {32,  40,  56,  64,  72,	 80,  96,
					104, 120, 136, 160, 168, 176, 184};
	uint64_t a = alloc(f, (size_t)size);
	w64(f, a, 1);
	w64(f, a + 8, type);
	w64(f, a + 16, cstring(f, "PyMethodDef"));
	w64(f, a + 24, a);
	w64(f, a + 48, cstring(f, "vectorcall"));
	w32(f, a + 128, 5); /* flags */
	w64(f, a + 152, cstring(f, "defaults_getter"));
	for (int i = 0; i < 14; i++) {
		fl[i] = fake_str(f, "field");
		if (offs[i] + 8 <= (uint64_t)size)
			w64(f, a + offs[i], fl[i]);
	}
	return a;
}

static void test_cyfunction3(void)
{
	static const unsigned minors[] = {8, 11, 13};
	static const char *const names[] = {
		"__module__",	   NULL,
		"mm_class",	   "__dict__",
		"__name__",	   "__qualname__",
		"__globals__",	   "__code__",
		"defaults",	   "__defaults__",
		"__annotations__", "_is_coroutine",
		"__signatures__",  "__self__",
	};
	for (size_t m = 0; m < PH_ARRAY_SIZE(minors); m++) {
		struct fake f;
		fake_init(&f, minors[m]);
		struct ph_heap *h = &f.h;
		const struct ph_layout *L = &f.L;
		uint64_t obj = fake_type(&f, "object", 0, 16, 0, 0);
		f.rt.kind_types[PH_KIND_OBJECT] = obj;
		const uint64_t fl = PH_TPFLAGS_HAVE_GC | PH_TPFLAGS_HEAPTYPE;
		uint64_t cy =
			fake_type(&f, "_cython_3_1_6.cython_function_or_method",
				  fl, 176, obj, 0);
		uint64_t fused =
			fake_type(&f, "_cython_3_1_6.fused_cython_function", fl,
				  192, cy, 0);
		/* another size under 3.1's name: scanned, less m_self */
		uint64_t odd =
			fake_type(&f, "_cython_3_1_6.cython_function_or_method",
				  fl, 184, obj, 0);
		/* Cython 3.0's: no kind of py-heap's */
		uint64_t cy30 = fake_type(
			&f, "_cython_3_0_11.cython_function_or_method", fl, 192,
			obj, 0);
		const uint64_t types[] = {cy, fused, odd, cy30};
		const int64_t sizes[] = {176, 192, 184, 192};
		for (int k = 0; k < 4; k++) {
			/* func_dict is its __dict__, m_weakreflist its list */
			w64(&f, types[k] + L->tp_dictoffset, 64);
			w64(&f, types[k] + L->tp_weaklistoffset, 40);
			int64_t ti = ph_type_register(h, types[k]);
			CU_ASSERT_FATAL(ti >= 0);
			CU_ASSERT_EQUAL(h->types[ti].kind == PH_KIND_CYFUNCTION,
					k < 3);
			uint64_t fls[14];
			uint64_t a =
				fake_cyfunction3(&f, types[k], sizes[k], fls);
			struct edges es = {0};
			ph_heap_referents(h, a, (uint32_t)ti, edge_cb, &es);
			CU_ASSERT_EQUAL(edges_to(&es, a, PH_EDGE_FIELD, NULL),
					0);
			bool read = k < 2 && minors[m] >= 9;
			/* unread: m_self a guess only as Cython 3.0's */
			CU_ASSERT_EQUAL(
				edges_to(&es, a, PH_EDGE_CONSERVATIVE, NULL),
				k == 3);
			if (!read) {
				CU_ASSERT_EQUAL(edges_to(&es, fls[2],
							 PH_EDGE_CONSERVATIVE,
							 NULL),
						1);
				continue;
			}
			CU_ASSERT_EQUAL(
				edges_to(&es, a, PH_EDGE_BORROWED, "m_self"),
				1);
			/* nothing else but __class__: no C word (vectorcall,
			 * flags, defaults_getter) */
			size_t nfields = 0;
			for (size_t i = 0; i < es.n; i++)
				nfields += es.e[i].kind == PH_EDGE_FIELD;
			CU_ASSERT_EQUAL(nfields, k == 1 ? 14 : 12);
			for (int i = 0; i < 14; i++) {
				int want =
					names[i] != NULL && (i < 12 || k == 1);
				CU_ASSERT_EQUAL(edges_to(&es, fls[i],
							 PH_EDGE_FIELD,
							 names[i]),
						want);
				CU_ASSERT_EQUAL(edges_to(&es, fls[i],
							 PH_EDGE_FIELD, NULL),
						want);
			}
			for (size_t i = 0; i < es.n; i++)
				CU_ASSERT_NOT_EQUAL(es.e[i].kind,
						    PH_EDGE_CONSERVATIVE);
		}
		fake_free(&f);
	}
}

/* Free-threaded pages found by their granules' table as by the binary
 * search: pages of one and of several granules, one with the segment's
 * header before its blocks, one in another GiB, two sharing a granule
 * (damage: that granule searched), and addresses between them. */
static void test_mi_page_index(void)
{
	const uint64_t g = 1ULL << PH_MI_GRANULE_SHIFT, base = 0x7f0000000000;
	struct ph_mi_page pages[] = {
		{.start = base + g + 0x100, .end = base + 2 * g},
		{.start = base + 2 * g, .end = base + 10 * g},
		{.start = base + 16 * g, .end = base + 16 * g + g / 2},
		{.start = base + 16 * g + g / 2, .end = base + 17 * g},
		{.start = base + (1ULL << 30) + 3 * g,
		 .end = base + (1ULL << 30) + 4 * g},
	};
	struct ph_heap h;
	memset(&h, 0, sizeof(h));
	h.mi_pages = pages;
	h.nmi_pages = PH_ARRAY_SIZE(pages);
	ph_objtable_mi_index(&h);
	CU_ASSERT_EQUAL(h.nmi_regions, 2);
	uint64_t probes[] = {base,
			     base + g,
			     base + g + 0xff,
			     base + g + 0x100,
			     base + 2 * g - 1,
			     base + 2 * g,
			     base + 5 * g + 17,
			     base + 10 * g - 1,
			     base + 10 * g,
			     base + 16 * g,
			     base + 16 * g + g / 2 - 1,
			     base + 16 * g + g / 2,
			     base + 17 * g - 1,
			     base + 17 * g,
			     base + (1ULL << 30) + 3 * g - 1,
			     base + (1ULL << 30) + 3 * g + 5,
			     base + (1ULL << 30) + 4 * g,
			     base + (2ULL << 30),
			     0};
	size_t n = h.nmi_regions;
	for (size_t i = 0; i < PH_ARRAY_SIZE(probes); i++) {
		const struct ph_mi_page *by_table =
			ph_objtable_mi_page(&h, probes[i]);
		h.nmi_regions = 0; /* the search alone */
		const struct ph_mi_page *searched =
			ph_objtable_mi_page(&h, probes[i]);
		h.nmi_regions = n;
		CU_ASSERT_EQUAL(by_table, searched);
	}
	CU_ASSERT_EQUAL(ph_objtable_mi_page(&h, base + 5 * g), &pages[1]);
	CU_ASSERT_EQUAL(ph_objtable_mi_page(&h, base + 16 * g + 8), &pages[2]);
	CU_ASSERT_EQUAL(ph_objtable_mi_page(&h, base + 16 * g + g / 2),
			&pages[3]);
	CU_ASSERT_PTR_NULL(ph_objtable_mi_page(&h, base + g + 0xff));
	ph_objtable_mi_unindex(&h);
	CU_ASSERT_EQUAL(h.nmi_regions, 0);
}

/* Is the page at p mapped? (msync: ENOMEM when it is not) */
static bool mapped(const void *p)
{
	return !msync((void *)((uintptr_t)p & ~(uintptr_t)4095), 4096,
		      MS_ASYNC) ||
	       errno != ENOMEM;
}

static void test_big_hold(void)
{
	const size_t M = 1 << 20;
	/* no hold: freed is unmapped */
	uint8_t *a = ph_big_alloc(8 * M);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	a[0] = 1;
	ph_big_free(a, 8 * M);
	CU_ASSERT_FALSE(mapped(a));
	/* a hold: freed is kept, split to fit, the parts joined again when
	 * both are freed */
	ph_big_hold();
	a = ph_big_alloc(8 * M);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	memset(a, 7, 8 * M);
	ph_big_free(a, 8 * M);
	CU_ASSERT_TRUE(mapped(a));
	uint8_t *b = ph_big_alloc(3 * M), *c = ph_big_alloc(5 * M);
	CU_ASSERT_PTR_EQUAL(b, a);
	CU_ASSERT_PTR_EQUAL(c, a + 3 * M);
	uint8_t *d = ph_big_alloc(2 * M); /* none kept: a new one */
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_TRUE(d + 2 * M <= a || d >= a + 8 * M);
	ph_big_free(c, 5 * M);
	ph_big_free(b, 3 * M);
	uint8_t *e = ph_big_alloc(8 * M);
	CU_ASSERT_PTR_EQUAL(e, a);
	/* nested: kept until the last release, then unmapped */
	ph_big_hold();
	ph_big_free(e, 8 * M);
	ph_big_free(d, 2 * M);
	ph_big_release();
	CU_ASSERT_TRUE(mapped(a));
	ph_big_release();
	CU_ASSERT_FALSE(mapped(a));
	CU_ASSERT_FALSE(mapped(a + 7 * M));
	CU_ASSERT_FALSE(mapped(d));
	/* shrunk: the end given back, kept under a hold, else unmapped */
	ph_big_hold();
	a = ph_big_alloc(8 * M);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	size_t n = ph_big_shrink(a, 8 * M, 3 * M + 5);
	CU_ASSERT_EQUAL(n, 3 * M + 4096);
	CU_ASSERT_EQUAL(ph_big_shrink(a, n, M / 2), n); /* (to malloc's) */
	uint8_t *tail = ph_big_alloc(4 * M);
	CU_ASSERT_PTR_EQUAL(tail, a + n);
	ph_big_free(tail, 4 * M);
	ph_big_free(a, n);
	ph_big_release();
	a = ph_big_alloc(8 * M);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	a[0] = a[8 * M - 1] = 1;
	n = ph_big_shrink(a, 8 * M, 2 * M);
	CU_ASSERT_EQUAL(n, 2 * M);
	CU_ASSERT_TRUE(mapped(a));
	CU_ASSERT_FALSE(mapped(a + 7 * M));
	ph_big_free(a, n);
	CU_ASSERT_FALSE(mapped(a));
	/* a release with no hold changes nothing */
	ph_big_release();
	a = ph_big_alloc(4 * M);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	ph_big_free(a, 4 * M);
	CU_ASSERT_FALSE(mapped(a));
}

/* A helper thread's processor: the k-th allowed after its creator's. */
static void test_cpu_pick(void)
{
	uint64_t m[2] = {0, 0};
	CU_ASSERT_EQUAL(ph_cpu_pick(m, 2, 0, 1), -1); /* none */
	m[0] = 1;
	CU_ASSERT_EQUAL(ph_cpu_pick(m, 2, 0, 1), -1); /* only cur */
	CU_ASSERT_EQUAL(ph_cpu_pick(m, 2, 3, 1), 0);  /* cur not in it */
	m[0] = 1 | 1 << 2 | 1 << 5;		      /* {0, 2, 5, 70} */
	m[1] = 1 << 6;
	CU_ASSERT_EQUAL(ph_cpu_pick(m, 2, 2, 1), 5);
	CU_ASSERT_EQUAL(ph_cpu_pick(m, 2, 2, 2), 70);
	CU_ASSERT_EQUAL(ph_cpu_pick(m, 2, 2, 3), 0);
	CU_ASSERT_EQUAL(ph_cpu_pick(m, 2, 2, 4), 5); /* round again */
	CU_ASSERT_EQUAL(ph_cpu_pick(m, 2, 70, 1), 0);
	CU_ASSERT_EQUAL(ph_cpu_pick(m, 2, 0, 1), 2);
	CU_ASSERT_EQUAL(ph_cpu_pick(m, 2, 1, 1), 2); /* from one not set */
	CU_ASSERT_EQUAL(ph_cpu_pick(m, 2, 1, 0), 2); /* k 0 as 1 */
}

struct helper_seen {
	int ncpus; /* the processors it may use, once running */
	bool ran;
};

static void *helper_fn(void *arg)
{
	struct helper_seen *s = arg;
	cpu_set_t set;
	if (!sched_getaffinity(0, sizeof(set), &set))
		s->ncpus = CPU_COUNT(&set);
	s->ran = true;
	return NULL;
}

/* A helper runs, free to use every processor the process may (placed on
 * one only to start), and is joined; with none started, join does
 * nothing. */
static void test_helper_thread(void)
{
	struct helper_seen seen = {0, false};
	struct ph_thread t;
	CU_ASSERT_TRUE_FATAL(ph_thread_start(&t, helper_fn, &seen, 1));
	ph_thread_join(&t);
	CU_ASSERT_TRUE(seen.ran);
	CU_ASSERT_EQUAL(seen.ncpus, ph_ncpus());
	CU_ASSERT_FALSE(t.started);
	ph_thread_join(&t);
}

void ph_test_add_objects(void)
{
	CU_pSuite s = CU_add_suite("objects over synthetic memory", NULL, NULL);
	CU_add_test(s, "str: ASCII, latin-1, UCS-2, UCS-4, legacy",
		    test_str_layouts);
	CU_add_test(s, "dict: keys of each version", test_dict_keys);
	CU_add_test(s, "dict: split, values with a header", test_dict_split);
	CU_add_test(s, "types: registered, named, kinds, slots", test_types);
	CU_add_test(s, "lines: 3.11+ location table", test_location_table);
	CU_add_test(s, "lines: 3.10 co_linetable, 3.8 co_lnotab",
		    test_old_line_tables);
	CU_add_test(s, "object table: pools, numbers, lookups",
		    test_object_table);
	CU_add_test(s, "free-threaded pages: by their granules, as searched",
		    test_mi_page_index);
	CU_add_test(s, "Cython functions: fields, m_self borrowed",
		    test_cyfunction);
	CU_add_test(s, "Cython 3.1 functions: by their module's name, fields",
		    test_cyfunction3);
	CU_add_test(s, "big tables: kept while a command runs", test_big_hold);
	CU_add_test(s, "helper threads: which processor", test_cpu_pick);
	CU_add_test(s, "helper threads: placed, then free, joined",
		    test_helper_thread);
}
