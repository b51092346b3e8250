/*
 * heap.c - enumerating every object once.
 *
 * Objects come from three places: the GC generation lists (every tracked
 * container), references from objects already found (untracked objects:
 * str, int, float, untracked tuples and dicts, objects in frames), and a
 * scan of pymalloc's pools for allocated blocks that hold an object of a
 * known type (objects nothing references, e.g. leaked by C code). Every
 * candidate that does not come from a GC list is validated before it is
 * counted: its type must be a real type object, its refcount plausible, its
 * GC header consistent, and if it lies in a pymalloc pool, it must start an
 * allocated block of the right size class.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

#define MAX_REFCNT (1ULL << 40)
#define T_OBJECT 6

extern const char ph_class_field[];
#define T_OBJECT_EX 16

static inline uint64_t rd64(struct ph_heap *h, uint64_t addr)
{
	uint64_t v = 0;
	ph_mem_u64(h->mem, addr, &v);
	return v;
}

static inline int64_t rds64(struct ph_heap *h, uint64_t addr)
{
	return (int64_t)rd64(h, addr);
}

/* A count read from a damaged heap stays a count: 0 to 2^40. Sizes are
 * computed from such counts, and must not overflow. */
static inline int64_t c40(int64_t v)
{
	return v < 0 ? 0 : v > (1LL << 40) ? (1LL << 40) : v;
}

static inline int64_t abs40(int64_t v)
{
	return v < 0 ? (v < -(1LL << 40) ? (1LL << 40) : -v) : c40(v);
}

static inline uint32_t rd32(struct ph_heap *h, uint64_t addr)
{
	uint32_t v = 0;
	ph_mem_u32(h->mem, addr, &v);
	return v;
}

static inline uint8_t rd8(struct ph_heap *h, uint64_t addr)
{
	const uint8_t *p = ph_mem_ptr(h->mem, addr, 1);
	return p ? *p : 0;
}

/* ---- ints ------------------------------------------------------------- */

/* The number of 30-bit digits of an int, and its sign. */
int64_t ph_heap_long_digits(struct ph_heap *h, uint64_t addr, bool *negative)
{
	const struct ph_layout *L = h->L;
	uint64_t v = 0;
	if (L->long_tag) {
		ph_mem_u64(h->mem, addr + L->long_tag, &v);
		if (negative)
			*negative = (v & 3) == 2;
		return (int64_t)(v >> 3);
	}
	ph_mem_u64(h->mem, addr + 16, &v);
	int64_t size = (int64_t)v;
	if (negative)
		*negative = size < 0;
	return size < 0 ? -size : size;
}

/* ---- strings ---------------------------------------------------------- */

static size_t utf8_put(char *out, uint32_t c)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

struct str_info {
	uint64_t length;
	unsigned kind; /* 1, 2 or 4 bytes per character */
	bool ascii, compact;
	uint64_t data;
};

static bool str_info(struct ph_heap *h, uint64_t addr, struct str_info *si)
{
	const struct ph_layout *L = h->L;
	uint32_t state;
	int64_t length = rds64(h, addr + L->str_length);
	if (!ph_mem_u32(h->mem, addr + L->str_state, &state) || length < 0 ||
	    length > (1LL << 40))
		return false;
	si->length = (uint64_t)length;
	si->kind = (state >> 2) & 7;
	si->compact = (state >> 5) & 1;
	si->ascii = (state >> 6) & 1;
	if (si->kind != 1 && si->kind != 2 && si->kind != 4)
		return false;
	if (si->ascii && si->kind != 1)
		return false;
	if (si->compact)
		si->data = addr +
			   (si->ascii ? L->sizeof_ascii : L->sizeof_compact);
	else
		si->data = rd64(h, addr + L->str_data);
	return true;
}

bool ph_heap_str(struct ph_heap *h, uint64_t addr, char *out, size_t max,
		 size_t *ret_len)
{
	struct str_info si;
	size_t o = 0;
	if (max < 8 || !str_info(h, addr, &si) || !si.data)
		return false;
	uint64_t n = si.length;
	bool cut = false;
	if (n > max / 4) {
		n = max / 4 - 1;
		cut = true;
	}
	const uint8_t *p = ph_mem_ptr(h->mem, si.data, n * si.kind);
	if (!p && n)
		return false;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t c;
		if (si.kind == 1)
			c = p[i];
		else if (si.kind == 2)
			c = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
		else
			memcpy(&c, p + 4 * i, 4);
		if (c > 0x10ffff)
			c = 0xfffd;
		o += utf8_put(out + o, c);
	}
	if (cut && o + 3 < max) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	if (ret_len)
		*ret_len = o;
	return true;
}

/* ---- dicts ------------------------------------------------------------ */

typedef bool (*dict_entry_fn)(void *arg, uint64_t key, uint64_t value,
			      int64_t index);

/* Where a dict keys object keeps its entries, and their shape. */
struct keys_geom {
	uint64_t entries; /* entry 0 */
	int64_t nentries; /* entries used so far */
	uint32_t esize, key_off, value_off;
	uint64_t bytes; /* the keys object's size, as dicts count it */
};

static bool keys_geom(struct ph_heap *h, uint64_t keys, struct keys_geom *g)
{
	const struct ph_layout *L = h->L;
	uint64_t size, index_bytes;
	uint8_t kind = 0;
	if (!keys)
		return false;
	if (L->dk_size) {
		/* 3.8-3.10: dk_size slots, indices as wide as it needs */
		size = rd64(h, keys + L->dk_size);
		if (!size || size > (1ULL << 40) || (size & (size - 1)))
			return false;
		index_bytes = size * (size <= 0xff	      ? 1
				      : size <= 0xffff	      ? 2
				      : size <= 0xffffffffULL ? 4
							      : 8);
	} else {
		uint8_t log2_size = rd8(h, keys + L->dk_log2_size);
		uint8_t log2_index = rd8(h, keys + L->dk_log2_index_bytes);
		kind = rd8(h, keys + L->dk_kind);
		if (log2_size > 40 || log2_index > 43 || kind > 2)
			return false;
		size = 1ULL << log2_size;
		index_bytes = 1ULL << log2_index;
	}
	uint64_t usable = (size << 1) / 3;
	int64_t nentries = rds64(h, keys + L->dk_nentries);
	if (nentries < 0 || (uint64_t)nentries > usable + 1)
		return false;
	/* 3.11+ str-keyed tables keep {key, value} only */
	g->esize = kind == 0 ? 24 : 16;
	g->key_off = kind == 0 ? 8 : 0;
	g->value_off = g->key_off + 8;
	g->entries = keys + L->dk_indices + index_bytes;
	g->nentries = nentries;
	g->bytes = L->sizeof_dictkeys + index_bytes + usable * g->esize;
	return true;
}

/* Calls fn(key, value) for each entry of a dict (combined or split). */
static void dict_foreach(struct ph_heap *h, uint64_t dict, dict_entry_fn fn,
			 void *arg)
{
	const struct ph_layout *L = h->L;
	uint64_t keys = rd64(h, dict + L->dict_keys);
	uint64_t values = rd64(h, dict + L->dict_values);
	struct keys_geom kg;
	if (!keys_geom(h, keys, &kg))
		return;
	int64_t nentries = kg.nentries;
	size_t esize = kg.esize;
	const uint8_t *e =
		ph_mem_ptr(h->mem, kg.entries, (size_t)nentries * esize);
	if (!e)
		return;
	const uint64_t *vals = NULL;
	if (values) {
		/* 3.13: values an object holds inline are the object's. */
		if (L->values_header && rd8(h, values + 2))
			return;
		vals = ph_mem_ptr(h->mem, values + L->values_header,
				  (size_t)nentries * 8);
		if (!vals)
			return;
	}
	for (int64_t i = 0; i < nentries; i++) {
		uint64_t key, value;
		const uint8_t *ent = e + (size_t)i * esize;
		memcpy(&key, ent + kg.key_off, 8);
		if (vals)
			memcpy(&value, &vals[i], 8);
		else
			memcpy(&value, ent + kg.value_off, 8);
		if (!key || !value)
			continue;
		if (fn(arg, key, value, i))
			return;
	}
}

struct dict_lookup {
	struct ph_heap *h;
	const char *name;
	uint64_t found;
};

static bool dict_lookup_cb(void *arg, uint64_t key, uint64_t value,
			   int64_t index)
{
	struct dict_lookup *d = arg;
	char buf[256];
	(void)index;
	if (ph_heap_str(d->h, key, buf, sizeof(buf), NULL) &&
	    !strcmp(buf, d->name)) {
		d->found = value;
		return true;
	}
	return false;
}

static uint64_t dict_get_str(struct ph_heap *h, uint64_t dict, const char *name)
{
	struct dict_lookup d = {.h = h, .name = name};
	if (dict)
		dict_foreach(h, dict, dict_lookup_cb, &d);
	return d.found;
}

static uint64_t dict_keys_size(struct ph_heap *h, uint64_t keys)
{
	struct keys_geom kg;
	return keys_geom(h, keys, &kg) ? kg.bytes : 0;
}

/* Is there a plausible keys table at keys: its sizes consistent with
 * each other, and all of it readable? */
static bool dict_keys_ok(struct ph_heap *h, uint64_t keys)
{
	const struct ph_layout *L = h->L;
	const uint8_t *k = ph_mem_ptr(h->mem, keys, L->sizeof_dictkeys);
	struct keys_geom kg;
	if (!k || !keys_geom(h, keys, &kg))
		return false;
	int64_t usable;
	memcpy(&usable, k + L->dk_usable, 8);
	uint64_t size;
	if (L->dk_size) {
		memcpy(&size, k + L->dk_size, 8);
	} else {
		uint8_t log2_size = k[L->dk_log2_size];
		uint8_t log2_index = k[L->dk_log2_index_bytes];
		size = 1ULL << log2_size;
		/* indices are 1, 2, 4 or 8 bytes wide as the table grows;
		 * Py_EMPTY_KEYS, a static, is smaller than any other */
		unsigned width = log2_size < 8	  ? 0
				 : log2_size < 16 ? 1
				 : log2_size < 32 ? 2
						  : 3;
		bool empty = !usable && !kg.nentries && log2_size < 3;
		if (!empty &&
		    (log2_size < 3 || log2_index != log2_size + width))
			return false;
	}
	if (usable < 0 || usable + kg.nentries > (int64_t)((size << 1) / 3) + 1)
		return false;
	return ph_mem_ptr(h->mem, keys, kg.bytes) != NULL;
}

/* ---- types ------------------------------------------------------------ */

static int64_t type_register(struct ph_heap *h, uint64_t taddr, int depth);

static bool type_of_kind(struct ph_heap *h, uint64_t taddr, enum ph_kind k)
{
	return taddr && taddr == h->rt->kind_types[k];
}

static char *type_name(struct ph_heap *h, uint64_t taddr, uint64_t flags)
{
	const struct ph_layout *L = h->L;
	char *name = NULL;
	if (!(flags & PH_TPFLAGS_HEAPTYPE)) {
		char *tp_name = NULL;
		struct ph_error *err = ph_mem_strdup(
			h->mem, rd64(h, taddr + L->tp_name), 512, &tp_name);
		if (err) {
			ph_error_destroy(err);
			if (asprintf(&name, "<type at 0x%llx>",
				     (unsigned long long)taddr) < 0)
				return NULL;
			return name;
		}
		if (!strncmp(tp_name, "builtins.", 9))
			memmove(tp_name, tp_name + 9, strlen(tp_name + 9) + 1);
		return tp_name;
	}
	char qual[512], mod[512];
	if (!ph_heap_str(h, rd64(h, taddr + L->ht_qualname), qual, sizeof(qual),
			 NULL))
		snprintf(qual, sizeof(qual), "<type at 0x%llx>",
			 (unsigned long long)taddr);
	uint64_t m = dict_get_str(h, rd64(h, taddr + L->tp_dict), "__module__");
	bool have_mod = m && rd64(h, m + 8) == h->rt->kind_types[PH_KIND_STR] &&
			ph_heap_str(h, m, mod, sizeof(mod), NULL) &&
			strcmp(mod, "builtins");
	if (have_mod) {
		if (asprintf(&name, "%s.%s", mod, qual) < 0)
			return NULL;
	} else
		name = strdup(qual);
	return name;
}

static void type_collect_slots(struct ph_heap *h, struct ph_type *t)
{
	const struct ph_layout *L = h->L;
	uint64_t cur = t->addr;
	for (int depth = 0; cur && depth < 64; depth++) {
		uint64_t flags = rd64(h, cur + L->tp_flags);
		if (!(flags & PH_TPFLAGS_HEAPTYPE))
			break;
		uint64_t members = rd64(h, cur + L->tp_members);
		for (int i = 0; members && i < 4096; i++) {
			uint64_t m =
				members + (uint64_t)i * L->sizeof_memberdef;
			uint64_t name = rd64(h, m);
			if (!name)
				break;
			uint32_t type = rd32(h, m + L->md_type);
			int64_t off = rds64(h, m + L->md_offset);
			/* a C type's members (one made from a spec, known by
			 * name: partial's func, args) are its kind's fields */
			if ((type != T_OBJECT_EX && type != T_OBJECT) ||
			    off < 16 || off >= t->basicsize ||
			    (t->kind != PH_KIND_OTHER &&
			     off < t->kind_basicsize))
				continue;
			size_t n = t->nslots + 1;
			uint32_t *offs =
				realloc(t->slot_offsets, n * sizeof(*offs));
			if (!offs)
				return;
			t->slot_offsets = offs;
			uint64_t *names =
				realloc(t->slot_names, n * sizeof(*names));
			if (!names)
				return;
			t->slot_names = names;
			t->slot_offsets[t->nslots] = (uint32_t)off;
			t->slot_names[t->nslots] = name;
			t->nslots = n;
		}
		cur = rd64(h, cur + L->tp_base);
	}
}

/*
 * A heap type's words past its kind's layout that are neither __slots__
 * nor the __dict__ or weakref list pointers: fields of a C type made with
 * PyType_FromSpec, which hold references py-heap can only guess.
 */
static void type_collect_c_fields(struct ph_heap *h, struct ph_type *t)
{
	int64_t from = t->kind_basicsize ? t->kind_basicsize : 16;
	if (t->kind == PH_KIND_OTHER)
		from = t->base_basicsize; /* scanned as the C base anyway */
	for (int64_t off = (from + 7) & ~7LL; off + 8 <= t->basicsize;
	     off += 8) {
		bool known = off == t->dictoffset || off == t->weaklistoffset;
		for (size_t i = 0; !known && i < t->nslots; i++)
			known = t->slot_offsets[i] == off;
		if (known)
			continue;
		uint32_t *c =
			realloc(t->c_offsets, (t->nc_offsets + 1) * sizeof(*c));
		if (!c)
			return;
		t->c_offsets = c;
		t->c_offsets[t->nc_offsets++] = (uint32_t)off;
	}
}

/* Kinds whose objects hold no references of their own (their type
 * aside): ph_heap_referents reports nothing for them. */
static bool kind_holds_nothing(enum ph_kind k)
{
	switch (k) {
	case PH_KIND_OBJECT:
	case PH_KIND_STR:
	case PH_KIND_INT:
	case PH_KIND_BOOL:
	case PH_KIND_FLOAT:
	case PH_KIND_BYTES:
	case PH_KIND_BYTEARRAY:
	case PH_KIND_NONE:
		return true;
	default:
		return false;
	}
}

/* Do objects of type t refer to nothing but t? (as ph_heap_referents sees
 * them: a kind with no references, from C, with nothing added below it) */
static bool type_is_leaf(const struct ph_type *t)
{
	return kind_holds_nothing(t->kind) && !t->heap &&
	       !(t->kind_basicsize && t->base_basicsize > t->kind_basicsize);
}

/* Returns the type number of the type object at taddr, registering it if it
 * is new and plausible; -1 if taddr is not a type object. */

static int64_t type_register(struct ph_heap *h, uint64_t taddr, int depth)
{
	const struct ph_layout *L = h->L;
	/* Neighbouring objects share their type: remember the last one. */
	if (taddr && taddr == h->last_type_addr)
		return h->last_tidx;
	uint32_t *v = ph_u64map_get(&h->type_index, taddr);
	if (v) {
		h->last_type_addr = taddr;
		h->last_tidx = *v;
		return *v;
	}
	if (!taddr || (taddr & 7) || depth > 4)
		return -1;
	const uint64_t *hdr = ph_mem_ptr(h->mem, taddr, L->sizeof_type);
	uint64_t copy[128];
	if (!hdr && L->sizeof_type <= sizeof(copy)) {
		/* a static type across the end of .data and the start of .bss
		 * (two segments of the core): copied */
		struct ph_error *err =
			ph_mem_read(h->mem, taddr, copy, L->sizeof_type);
		if (err)
			ph_error_destroy(err);
		else
			hdr = copy;
	}
	if (!hdr)
		return -1;
	int64_t refcnt = ph_refcnt_decode(L, hdr[0]);
	uint64_t meta = hdr[1];
	if (refcnt <= 0 || (uint64_t)refcnt >= MAX_REFCNT)
		return -1;
	if (meta != h->rt->kind_types[PH_KIND_TYPE]) {
		int64_t mt = type_register(h, meta, depth + 1);
		if (mt < 0 || !(h->types[mt].flags & PH_TPFLAGS_TYPE_SUBCLASS))
			return -1;
	}
	struct ph_type t = {.addr = taddr};
	memcpy(&t.flags, (const uint8_t *)hdr + L->tp_flags, 8);
	memcpy(&t.basicsize, (const uint8_t *)hdr + L->tp_basicsize, 8);
	memcpy(&t.itemsize, (const uint8_t *)hdr + L->tp_itemsize, 8);
	memcpy(&t.dictoffset, (const uint8_t *)hdr + L->tp_dictoffset, 8);
	if (t.basicsize < 16 || t.basicsize > (1 << 24) || t.itemsize < 0 ||
	    t.itemsize > (1 << 16))
		return -1;
	uint64_t tp_name;
	memcpy(&tp_name, (const uint8_t *)hdr + L->tp_name, 8);
	if (!ph_mem_ptr(h->mem, tp_name, 1))
		return -1;
	t.heap = t.flags & PH_TPFLAGS_HEAPTYPE;
	/* The kind: the layout of the nearest static base py-heap knows. */
	t.kind = PH_KIND_OTHER;
	t.base_basicsize = t.basicsize;
	bool static_seen = false;
	uint64_t cur = taddr;
	for (int i = 0; cur && i < 64; i++) {
		int k;
		for (k = 1; k < PH_KIND_COUNT; k++)
			if (type_of_kind(h, cur, k))
				break;
		for (size_t e = 0; k == PH_KIND_COUNT && e < h->rt->nextra; e++)
			if (cur == h->rt->extra_types[e])
				k = h->rt->extra_kinds[e];
		if (k < PH_KIND_COUNT) {
			/* Below a C type py-heap does not know, only what
			 * that type adds on top is unknown; "object" adds
			 * nothing, so the whole C type is unknown. */
			t.kind = k == PH_KIND_OBJECT && static_seen
					 ? PH_KIND_OTHER
					 : k;
			t.kind_basicsize = rds64(h, cur + L->tp_basicsize);
			if (!static_seen)
				t.base_basicsize = t.kind_basicsize;
			break;
		}
		uint64_t fl = rd64(h, cur + L->tp_flags);
		/* C types of the standard library, by name (not exported;
		 * static up to 3.11, made from a spec since: a class's
		 * tp_name has no module, so it cannot pass for one). */
		{
			const char *nm = ph_mem_ptr(
				h->mem, rd64(h, cur + L->tp_name), 18);
			int nk = !nm ? 0
				 : !memcmp(nm, "collections.deque", 18)
					 ? PH_KIND_DEQUE
				 : !memcmp(nm, "functools.partial", 18)
					 ? PH_KIND_PARTIAL
					 : 0;
			if (nk) {
				t.kind = static_seen ? PH_KIND_OTHER : nk;
				t.kind_basicsize =
					rds64(h, cur + L->tp_basicsize);
				if (!static_seen)
					t.base_basicsize = t.kind_basicsize;
				break;
			}
		}
		if (!(fl & PH_TPFLAGS_HEAPTYPE) && !static_seen) {
			/* The first C base fixes the layout we can scan. */
			t.base_basicsize = rds64(h, cur + L->tp_basicsize);
			static_seen = true;
		}
		cur = rd64(h, cur + L->tp_base);
	}
	t.presize = (t.flags & PH_TPFLAGS_HAVE_GC ? L->gc_head_size : 0) +
		    (t.flags & L->preheader_flags ? L->managed_presize : 0);
	memcpy(&t.weaklistoffset, (const uint8_t *)hdr + L->tp_weaklistoffset,
	       8);
	if (t.heap) {
		type_collect_slots(h, &t);
		type_collect_c_fields(h, &t);
	}
	t.leaf = type_is_leaf(&t);
	/* A float: its checks and size are its type's (as obj_contents_ok,
	 * obj_validate_rest and obj_sizeof find them for the built-in
	 * type: no items, no GC, a fixed size class). */
	if (t.kind == PH_KIND_FLOAT && !t.heap && !t.itemsize &&
	    !(t.flags & (PH_TPFLAGS_HAVE_GC | PH_TPFLAGS_INLINE_VALUES)) &&
	    t.basicsize > 0 && t.basicsize < 4096)
		t.fixed_need = t.presize + (uint32_t)t.basicsize;
	if (ph_grow((void **)&h->types, &h->types_cap, h->ntypes + 1,
		    sizeof(*h->types)))
		return -1;
	uint32_t idx = (uint32_t)h->ntypes;
	if (ph_u64map_put(&h->type_index, taddr, idx, NULL))
		return -1;
	h->types[h->ntypes++] = t;
	/* The name may read dicts whose keys are of types not yet known. */
	h->types[idx].name = type_name(h, taddr, t.flags);
	return idx;
}

/* ---- objects ---------------------------------------------------------- */

/* Bytes before the object: GC head and managed dict, as allocated. */
static uint32_t obj_presize(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t)
{
	if (t->kind == PH_KIND_TYPE &&
	    !(rd64(h, addr + h->L->tp_flags) & PH_TPFLAGS_HEAPTYPE))
		return 0; /* a static type: no GC head */
	return t->presize;
}

static bool obj_is_gc(struct ph_heap *h, uint64_t addr, const struct ph_type *t)
{
	if (!(t->flags & PH_TPFLAGS_HAVE_GC))
		return false;
	if (t->kind == PH_KIND_TYPE)
		return rd64(h, addr + h->L->tp_flags) & PH_TPFLAGS_HEAPTYPE;
	return true;
}

static int64_t frameobj_nlocalsplus(struct ph_heap *h, uint64_t code);

static uint64_t obj_sizeof(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t)
{
	const struct ph_layout *L = h->L;
	int64_t size = t->basicsize;
	int64_t ob_size = rds64(h, addr + 16);
	int64_t abs_size = abs40(ob_size);
	switch (t->kind) {
	case PH_KIND_LIST:
		size += 8 * c40(rds64(h, addr + L->list_allocated));
		break;
	case PH_KIND_DICT:
	case PH_KIND_ODICT: {
		uint64_t keys = rd64(h, addr + L->dict_keys);
		if (rd64(h, addr + L->dict_values) && L->dk_size)
			/* 3.8-3.10: a value slot per usable entry */
			size += 8 * (int64_t)((c40(rds64(h, keys + L->dk_size))
					       << 1) /
					      3);
		else if (rd64(h, addr + L->dict_values))
			size += 8 * (c40(rds64(h, keys + L->dk_nentries)) +
				     c40(rds64(h, keys + L->dk_usable)));
		if (rds64(h, keys + L->dk_refcnt) == 1)
			size += (int64_t)dict_keys_size(h, keys);
		if (t->kind == PH_KIND_ODICT) {
			/* od_fast_nodes_size, and a node per item */
			size += 8 * c40(rds64(h, addr + L->sizeof_dict + 24));
			if (rd64(h, addr + L->sizeof_dict))
				size += 32 * c40(rds64(h, addr + L->dict_used));
		}
		break;
	}
	case PH_KIND_SET:
	case PH_KIND_FROZENSET:
		if (rd64(h, addr + L->set_table) != addr + L->set_smalltable)
			size += 16 * (c40(rds64(h, addr + L->set_mask)) + 1);
		break;
	case PH_KIND_STR: {
		struct str_info si;
		if (!str_info(h, addr, &si))
			break;
		uint32_t state = rd32(h, addr + L->str_state);
		bool ready = (state >> 7) & 1;
		if (si.compact && si.ascii)
			size = L->sizeof_ascii + si.length + 1;
		else if (si.compact)
			size = L->sizeof_compact + (si.length + 1) * si.kind;
		else {
			size = L->sizeof_unicode;
			if (si.data)
				size += (si.length + 1) * si.kind;
		}
		if (L->str_wstr) {
			uint64_t wstr = rd64(h, addr + L->str_wstr);
			uint64_t data = si.data;
			if (wstr && (!ready || wstr != data)) {
				int64_t wlen =
					si.ascii
						? (int64_t)si.length
						: c40(rds64(
							  h,
							  addr + L->str_wstr_length));
				size += (wlen + 1) * 4;
			}
		}
		if (!si.ascii) {
			uint64_t utf8 = rd64(h, addr + L->str_utf8);
			if (utf8 && utf8 != si.data)
				size += c40(rds64(h,
						  addr + L->str_utf8_length)) +
					1;
		}
		break;
	}
	case PH_KIND_INT:
	case PH_KIND_BOOL: {
		/* Space for one digit is always allocated, even for 0. */
		int64_t nd = ph_heap_long_digits(h, addr, NULL);
		size = L->long_digits + 4 * (nd ? nd : 1);
		break;
	}
	case PH_KIND_BYTEARRAY:
		size += c40(rds64(h, addr + L->bytearray_alloc));
		break;
	case PH_KIND_TYPE:
		if (rd64(h, addr + L->tp_flags) & PH_TPFLAGS_HEAPTYPE) {
			size = L->sizeof_heaptype;
			uint64_t ck = rd64(h, addr + L->ht_cached_keys);
			if (ck)
				size += (int64_t)dict_keys_size(h, ck);
		} else
			size = L->sizeof_type;
		break;
	case PH_KIND_CODE:
		size = (t->basicsize + abs_size * t->itemsize + 7) & ~7LL;
		break;
	case PH_KIND_DEQUE: {
		/* deque_sizeof: the object and its blocks of 64 (528 bytes) */
		int64_t left = rds64(h, addr + 40);
		if (abs_size < (1LL << 31) && left >= 0 && left < 64)
			size += 528 * ((left + abs_size + 63) / 64);
		break;
	}
	case PH_KIND_FRAME:
	case PH_KIND_GEN: {
		if (L->frame_objects) {
			/* frame_sizeof: the object and its locals, cells, free
			 * variables and stack (one slot is in the struct);
			 * gen_sizeof: the object */
			if (t->kind == PH_KIND_FRAME) {
				int64_t n =
					frameobj_nlocalsplus(
						h, rd64(h, addr + L->if_code)) +
					(int32_t)rd32(
						h, rd64(h, addr + L->if_code) +
							   L->co_stacksize);
				size = L->if_localsplus +
				       8 * (n >= 0 && n < (1 << 20) ? n : 1);
			}
			break;
		}
		/* frame_sizeof, gen_sizeof: the interpreter frame's locals and
		 * stack, as the code object sizes them. */
		uint64_t code, iframe = addr + L->gen_iframe;
		if (t->kind == PH_KIND_FRAME) {
			iframe = addr + L->frame_data;
			code = rd64(h, rd64(h, addr + L->frame_iframe) +
					       L->if_code);
			if (L->stackrefs)
				code &= ~3ULL;
		} else
			code = rd64(h, addr + L->gen_code);
		if (L->stackrefs)
			code &= ~3ULL;
		int32_t n = (int32_t)rd32(h, code + L->co_nlocalsplus) +
			    (int32_t)rd32(h, code + L->co_stacksize);
		if (n < 0 || n > (1 << 20))
			n = 0;
		size = (int64_t)(iframe - addr) + L->if_localsplus +
		       8 * (int64_t)n;
		break;
	}
	default:
		if (t->itemsize)
			size += abs_size * t->itemsize;
		break;
	}
	return (uint64_t)size + obj_presize(h, addr, t);
}

/* Which pool (if any) holds addr; NULL for memory pymalloc does not own. */
static inline const struct ph_pool *pool_at(const struct ph_heap *h,
					    uint64_t addr);

static struct ph_pool *pool_of(struct ph_heap *h, uint64_t addr)
{
	return (struct ph_pool *)pool_at(h, addr);
}

static bool kind_has_fixed_size(enum ph_kind k)
{
	switch (k) {
	case PH_KIND_OBJECT:
	case PH_KIND_FLOAT:
	case PH_KIND_DICT:
	case PH_KIND_SET:
	case PH_KIND_FROZENSET:
	case PH_KIND_FUNCTION:
	case PH_KIND_CELL:
	case PH_KIND_METHOD:
	case PH_KIND_MODULE:
		return true;
	default:
		return false;
	}
}

/* The bytes the object itself occupies in its allocation. */
static uint64_t obj_inline_size(struct ph_heap *h, uint64_t addr,
				const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	int64_t n = abs40(ob_size);
	switch (t->kind) {
	case PH_KIND_STR: {
		struct str_info si;
		if (!str_info(h, addr, &si) || !si.compact)
			return L->sizeof_unicode;
		return (si.ascii ? L->sizeof_ascii : L->sizeof_compact) +
		       (si.length + 1) * si.kind;
	}
	case PH_KIND_INT:
	case PH_KIND_BOOL: {
		int64_t nd = ph_heap_long_digits(h, addr, NULL);
		if (nd < 0)
			nd = 0;
		if (t->heap) /* a subclass: its basicsize, digits as items */
			return (uint64_t)t->basicsize +
			       (uint64_t)nd * (uint64_t)t->itemsize;
		return L->long_digits + 4 * (uint64_t)(nd ? nd : 1);
	}
	case PH_KIND_TYPE:
		if (!(rd64(h, addr + L->tp_flags) & PH_TPFLAGS_HEAPTYPE))
			return L->sizeof_type;
		break;
	case PH_KIND_OBJECT:
	case PH_KIND_OTHER:
		/* a C type may allocate less than its basicsize (datetime's
		 * objects without tzinfo): only the header is certain */
		if (!t->heap)
			return 16;
		break;
	case PH_KIND_FRAME:
	case PH_KIND_GEN:
		/* word 2 is no size: the code object sizes their frame */
		return obj_sizeof(h, addr, t) - obj_presize(h, addr, t);
	default:
		break;
	}
	uint64_t need = (uint64_t)t->basicsize;
	if (t->itemsize)
		need += (uint64_t)n * (uint64_t)t->itemsize;
	if ((t->flags & PH_TPFLAGS_INLINE_VALUES) && L->values_header) {
		/* 3.13: header, values, then their insertion order */
		uint64_t cap = rd8(h, addr + (uint64_t)t->basicsize);
		need += L->values_header + 8 * cap + ((cap + 7) & ~7ULL);
	}
	return need;
}

uint64_t ph_heap_inline_size(struct ph_heap *h, uint64_t addr, uint32_t tidx)
{
	return obj_inline_size(h, addr, &h->types[tidx], rds64(h, addr + 16));
}

int64_t ph_heap_type_of(struct ph_heap *h, uint64_t type_addr)
{
	uint32_t *v = ph_u64map_get(&h->type_index, type_addr);
	return v ? (int64_t)*v : -1;
}

/*
 * Is there a live object at addr? On success *ret_tidx is its type. Objects
 * tracked by the GC are only accepted from the GC lists.
 */
static bool obj_validate_as(struct ph_heap *h, uint64_t addr,
			    uint32_t *ret_tidx, bool in_block);

static bool obj_validate(struct ph_heap *h, uint64_t addr, uint32_t *ret_tidx)
{
	return obj_validate_as(h, addr, ret_tidx, false);
}

/* GC links of a tracked object: its neighbours' heads, 8-aligned and
 * readable (the list walk checks them fully). */
static bool gc_links_plausible(struct ph_heap *h, uint64_t next, uint64_t prev)
{
	next &= ~3ULL;
	prev &= ~3ULL;
	return next && prev && !(next & 7) && !(prev & 7) &&
	       ph_mem_ptr(h->mem, next, 16) && ph_mem_ptr(h->mem, prev, 16);
}

/* Are all of [addr, addr + len) present, in one segment or in several
 * that follow each other (a static object across .data and .bss)? */
static bool mem_present(struct ph_memory *m, uint64_t addr, uint64_t len)
{
	for (size_t i = 0; i <= m->nsegs; i++) {
		const struct ph_segment *sg = ph_memory_find(m, addr);
		if (!sg || !sg->data)
			return false;
		if (addr + len <= sg->end)
			return true;
		len -= sg->end - addr;
		addr = sg->end;
	}
	return false;
}

/*
 * Are the contents of an object of type t at addr plausible: its sizes
 * and counts within what is possible, the memory it spans (and its item
 * array, keys table or hash table) present, and, in a pymalloc pool, an
 * allocated block of its size? A damaged object fails here.
 */
/* (block_pool: the pool when the pool scan is at addr's block, which is
 * allocated and holds addr at the object's pre-header size, or NULL) */
static bool obj_contents_ok_in(struct ph_heap *h, uint64_t addr,
			       const struct ph_type *t,
			       const struct ph_pool *block_pool)
{
	const struct ph_layout *L = h->L;
	int64_t ob_size = rds64(h, addr + 16);
	switch (t->kind) {
	case PH_KIND_STR: {
		struct str_info si;
		if (!str_info(h, addr, &si))
			return false;
		if (!si.compact && si.data &&
		    !ph_mem_ptr(h->mem, si.data, (si.length + 1) * si.kind))
			return false;
		break;
	}
	case PH_KIND_INT:
	case PH_KIND_BOOL: {
		int64_t nd = ph_heap_long_digits(h, addr, NULL);
		if (nd < 0 || nd > (1 << 24))
			return false;
		if (L->long_tag) {
			uint64_t tag = 0;
			ph_mem_u64(h->mem, addr + L->long_tag, &tag);
			if ((tag & 3) == 3)
				return false; /* no such sign */
		}
		break;
	}
	case PH_KIND_TUPLE:
	case PH_KIND_BYTES:
		if (ob_size < 0 || ob_size > (1LL << 40))
			return false;
		break;
	case PH_KIND_LIST: {
		int64_t alloc = rds64(h, addr + L->list_allocated);
		if (ob_size < 0 || alloc < ob_size || alloc > (1LL << 36))
			return false;
		if (alloc && !ph_mem_ptr(h->mem, rd64(h, addr + L->list_items),
					 (size_t)alloc * 8))
			return false;
		break;
	}
	case PH_KIND_DICT:
	case PH_KIND_ODICT: {
		uint64_t keys = rd64(h, addr + L->dict_keys);
		int64_t used = rds64(h, addr + L->dict_used);
		if (!dict_keys_ok(h, keys) || used < 0 ||
		    used > rds64(h, keys + L->dk_nentries))
			return false;
		break;
	}
	case PH_KIND_SET:
	case PH_KIND_FROZENSET: {
		int64_t fill = rds64(h, addr + L->set_fill);
		int64_t used = rds64(h, addr + L->set_used);
		int64_t mask = rds64(h, addr + L->set_mask);
		uint64_t table = rd64(h, addr + L->set_table);
		if (mask < 7 || mask > (1LL << 36) || (mask & (mask + 1)) ||
		    used < 0 || fill < used || fill > mask + 1)
			return false;
		if (table == addr + L->set_smalltable)
			break;
		if (table < addr + (uint64_t)t->basicsize && table + 16 > addr)
			return false; /* overlaps the set itself */
		if (!ph_mem_ptr(h->mem, table, 16 * (size_t)(mask + 1)))
			return false;
		break;
	}
	default:
		break;
	}
	uint32_t presize = obj_presize(h, addr, t);
	uint64_t need = presize + obj_inline_size(h, addr, t, ob_size);
	const struct ph_pool *pool = block_pool;
	if (pool && presize != t->presize)
		pool = NULL; /* not where the scan thought: checked below */
	if (!pool && (pool = pool_of(h, addr - presize))) {
		/* the block, before the debug hooks' header if any */
		uint64_t block0 = pool->addr + L->pool_overhead;
		uint64_t start = addr - presize - h->block_head;
		if (start < block0 || (start - block0) % pool->block_size)
			return false;
		uint64_t b = (start - block0) / pool->block_size;
		if (b >= pool->nblocks ||
		    (pool->free_bits[b / 64] >> (b % 64)) & 1)
			return false;
	}
	if (pool) {
		need += h->block_extra; /* the debug hooks' bytes, if on */
		if (need > pool->block_size) {
			return false;
		}
		/* (inline values are sized by the keys at allocation, which
		 * their capacity does not always tell) */
		if (kind_has_fixed_size(t->kind) && !t->itemsize &&
		    !(t->flags & PH_TPFLAGS_INLINE_VALUES) &&
		    ((need + 15) & ~15ULL) != pool->block_size)
			return false;
	} else if (need > (1ULL << 40) ||
		   !mem_present(h->mem, addr - presize, need)) {
		return false; /* runs past the memory there is */
	}
	return true;
}

/*
 * in_block: addr starts an allocated pymalloc block (the pool scan), where
 * a tracked object may be accepted on the strength of its GC links;
 * anywhere else tracked objects come from the GC lists only.
 */
/* The header's refcount as a plausible count (see obj_validate_as). */
static bool refcnt_ok(const struct ph_layout *L, uint64_t w, bool in_block)
{
	int64_t refcnt = ph_refcnt_decode(L, w);
	if (refcnt <= 0 || (uint64_t)refcnt >= MAX_REFCNT)
		return false;
	/* A block holds anything: there, a refcount past 32 bits is text or
	 * a pointer, not a count (immortal ones are 0xffffffff or less). */
	return !in_block || (uint64_t)refcnt <= 0xffffffffULL;
}

/* The checks after the type: its contents and GC links. Reads only, so
 * that the pool scan's threads may call it. */
static bool obj_contents_ok(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t)
{
	return obj_contents_ok_in(h, addr, t, NULL);
}

static bool obj_validate_rest_in(struct ph_heap *h, uint64_t addr,
				 const struct ph_type *t, bool in_block,
				 const struct ph_pool *block_pool)
{
	if (!obj_contents_ok_in(h, addr, t, block_pool))
		return false;
	if (obj_is_gc(h, addr, t)) {
		uint64_t next, prev;
		if (!ph_mem_u64(h->mem, addr - 16, &next) ||
		    !ph_mem_u64(h->mem, addr - 8, &prev))
			return false;
		if (next || (prev & ~3ULL)) {
			if (!in_block || !gc_links_plausible(h, next, prev))
				return false;
		}
	}
	return true;
}

static bool obj_validate_rest(struct ph_heap *h, uint64_t addr,
			      const struct ph_type *t, bool in_block)
{
	return obj_validate_rest_in(h, addr, t, in_block, NULL);
}

static bool obj_validate_as(struct ph_heap *h, uint64_t addr,
			    uint32_t *ret_tidx, bool in_block)
{
	const struct ph_layout *L = h->L;
	if (!addr || (addr & 7))
		return false;
	const uint64_t *hdr = ph_mem_ptr(h->mem, addr, 24);
	if (!hdr || !refcnt_ok(L, hdr[0], in_block))
		return false;
	int64_t ti = type_register(h, hdr[1], 0);
	if (ti < 0)
		return false;
	struct ph_type *t = &h->types[ti];
	if (t->kind == PH_KIND_TYPE && type_register(h, addr, 0) < 0)
		return false;
	t = &h->types[ti]; /* type_register may have moved the array */
	if (!obj_validate_rest(h, addr, t, in_block))
		return false;
	*ret_tidx = (uint32_t)ti;
	return true;
}

static inline uint32_t popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (uint32_t)((x * 0x0101010101010101ULL) >> 56);
}

/* Which pool (if any) holds addr. */
static inline const struct ph_pool *pool_at(const struct ph_heap *h,
					    uint64_t addr)
{
	uint64_t base = addr & ~((1ULL << 30) - 1);
	for (size_t i = 0; i < h->nregions; i++) {
		if (h->regions[i].base != base)
			continue;
		uint32_t v =
			h->regions[i].slots[(addr - base) >> h->pool_shift];
		return v ? &h->pools[v - 1] : NULL;
	}
	return NULL;
}

static struct ph_error *pool_index_add(struct ph_heap *h, uint64_t addr,
				       uint32_t idx)
{
	uint64_t base = addr & ~((1ULL << 30) - 1);
	size_t i;
	for (i = 0; i < h->nregions; i++)
		if (h->regions[i].base == base)
			break;
	if (i == h->nregions) {
		struct ph_pool_region *r =
			realloc(h->regions, (i + 1) * sizeof(*r));
		if (!r)
			return ph_error_nomem();
		h->regions = r;
		r[i].base = base;
		r[i].slots = calloc((1ULL << 30) >> h->pool_shift,
				    sizeof(*r[i].slots));
		if (!r[i].slots)
			return ph_error_nomem();
		h->nregions++;
	}
	h->regions[i].slots[(addr - base) >> h->pool_shift] = idx + 1;
	return NULL;
}

/* Is there an object at addr already? (during discovery) */
static inline __attribute__((always_inline)) bool
obj_known(const struct ph_heap *h, uint64_t addr)
{
	const struct ph_pool *p = pool_at(h, addr);
	if (p) {
		if (addr & 15)
			return false;
		uint64_t g = (addr - p->addr) / 16;
		if ((p->obj_bits[g / 64] >> (g % 64)) & 1)
			return true;
		if (!h->pools_frozen)
			return false;
	}
	return ph_u64map_get(&h->big_index, addr) != NULL;
}

uint32_t ph_heap_lookup(const struct ph_heap *h, uint64_t addr)
{
	const struct ph_pool *p = pool_at(h, addr);
	if (p) {
		if (addr & 15)
			return PH_NONE;
		uint64_t g = (addr - p->addr) / 16;
		uint64_t w = g / 64, bit = 1ULL << (g % 64);
		if (p->obj_bits[w] & bit)
			return p->first + p->rank[w] +
			       popcount64(p->obj_bits[w] & (bit - 1));
		/* not found by the pool scan: maybe found later */
	}
	uint32_t *v = ph_u64map_get(&h->big_index, addr);
	return v ? *v : PH_NONE;
}

static struct ph_error *obj_append(struct ph_heap *h, uint64_t addr,
				   uint32_t tidx, uint8_t flag);

static struct ph_error *obj_add(struct ph_heap *h, uint64_t addr, uint32_t tidx,
				uint8_t flag, bool *ret_added)
{
	struct ph_pool *p = (struct ph_pool *)pool_at(h, addr);
	if (ret_added)
		*ret_added = false;
	if (p && (addr & 15))
		return NULL; /* not where pymalloc puts objects */
	if (p && h->pools_frozen) {
		/* Numbered already: one the pool scan missed is kept aside. */
		uint64_t g = (addr - p->addr) / 16;
		if ((p->obj_bits[g / 64] >> (g % 64)) & 1)
			return NULL;
		p = NULL;
	}
	if (p) {
		uint64_t g = (addr - p->addr) / 16;
		if ((p->obj_bits[g / 64] >> (g % 64)) & 1)
			return NULL;
		p->obj_bits[g / 64] |= 1ULL << (g % 64);
	} else {
		bool existed;
		struct ph_error *err = ph_u64map_put(&h->big_index, addr,
						     (uint32_t)h->n, &existed);
		if (err)
			return err;
		if (existed)
			return NULL;
	}
	struct ph_error *e = obj_append(h, addr, tidx, flag);
	if (!e && ret_added)
		*ret_added = true;
	return e;
}

/* The object table's arrays, grown to cap entries. */
static struct ph_error *obj_table_resize(struct ph_heap *h, size_t cap)
{
	uint64_t *a = realloc(h->addr, cap * sizeof(*a));
	if (a)
		h->addr = a;
	uint32_t *ti = realloc(h->tidx, cap * sizeof(*ti));
	if (ti)
		h->tidx = ti;
	uint8_t *f = realloc(h->flags, cap * sizeof(*f));
	if (f)
		h->flags = f;
	uint64_t *sz = realloc(h->size, cap * sizeof(*sz));
	if (sz)
		h->size = sz;
	if (!a || !ti || !f || !sz)
		return ph_error_nomem();
	h->cap = cap;
	return NULL;
}

/* Appends an object to the table (its pool bit, if any, is set), with its
 * size, while its memory is still in the cache. */
static struct ph_error *obj_append(struct ph_heap *h, uint64_t addr,
				   uint32_t tidx, uint8_t flag)
{
	if (h->n >= UINT32_MAX / 2)
		return ph_error_create(PH_ERR_UNSUPPORTED,
				       "more than 2 billion objects");
	if (h->n == h->cap) {
		struct ph_error *err =
			obj_table_resize(h, h->cap ? h->cap * 2 : 65536);
		if (err)
			return err;
	}
	h->addr[h->n] = addr;
	h->tidx[h->n] = tidx;
	h->flags[h->n] = flag;
	h->size[h->n] = obj_sizeof(h, addr, &h->types[tidx]);
	h->n++;
	return NULL;
}

/* Room for n more objects in the table, allocated once. */
static struct ph_error *obj_reserve(struct ph_heap *h, size_t n)
{
	return h->n + n <= h->cap ? NULL : obj_table_resize(h, h->n + n);
}

/*
 * The pool scan found the objects in pools in address order: they are
 * numbered as found, and a pool's bitmap rank gives the number back. Objects
 * found after this (large ones, static ones) are numbered as they come and
 * looked up through the hash map.
 */
static void pools_freeze(struct ph_heap *h, uint32_t base)
{
	uint32_t next = base;
	for (size_t i = 0; i < h->npools; i++) {
		struct ph_pool *p = &h->pools[i];
		uint32_t r = 0;
		p->first = next;
		for (int w = 0; w < 16; w++) {
			p->rank[w] = (uint16_t)r;
			r += popcount64(p->obj_bits[w]);
		}
		next += r;
	}
	h->npool_objects = next - base;
	h->pools_frozen = true;
}

/* ---- referents -------------------------------------------------------- */

struct referent_ctx {
	struct ph_heap *h;
	ph_referent_fn fn;
	void *arg;
};

static bool dict_ref_cb(void *arg, uint64_t key, uint64_t value, int64_t index)
{
	struct referent_ctx *c = arg;
	(void)index;
	c->fn(c->arg, key, PH_EDGE_KEY, key);
	c->fn(c->arg, value, PH_EDGE_VALUE, key);
	return false;
}

static bool dict_value_cb(void *arg, uint64_t key, uint64_t value,
			  int64_t index)
{
	struct referent_ctx *c = arg;
	(void)index;
	c->fn(c->arg, value, PH_EDGE_VALUE, key);
	return false;
}

static bool interned_ref_cb(void *arg, uint64_t key, uint64_t value,
			    int64_t index)
{
	struct referent_ctx *c = arg;
	(void)index;
	(void)value;
	c->fn(c->arg, key, PH_EDGE_WEAK, (uint64_t)(uintptr_t) "interned");
	return false;
}

static void items(struct ph_heap *h, uint64_t arr, int64_t n, ph_referent_fn fn,
		  void *arg)
{
	if (n <= 0 || n > (1LL << 32))
		return;
	const uint64_t *p = ph_mem_ptr(h->mem, arr, (size_t)n * 8);
	if (!p)
		return;
	for (int64_t i = 0; i < n; i++) {
		uint64_t v;
		memcpy(&v, &p[i], 8);
		if (v)
			fn(arg, v, PH_EDGE_ITEM, (uint64_t)i);
	}
}

static void field(struct ph_heap *h, uint64_t addr, uint32_t off,
		  const char *name, ph_referent_fn fn, void *arg)
{
	if (!off)
		return; /* a field this version does not have */
	uint64_t v = rd64(h, addr + off);
	if (v)
		fn(arg, v, PH_EDGE_FIELD, (uint64_t)(uintptr_t)name);
}

/* Every aligned word of [addr+from, addr+to) that may be a reference. */
static void conservative(struct ph_heap *h, uint64_t addr, int64_t from,
			 int64_t to, ph_referent_fn fn, void *arg)
{
	if (to <= from || to - from > (1 << 20))
		return;
	const uint64_t *p =
		ph_mem_ptr(h->mem, addr + (uint64_t)from, (size_t)(to - from));
	if (!p)
		return;
	for (int64_t i = 0; i < (to - from) / 8; i++) {
		uint64_t v;
		memcpy(&v, &p[i], 8);
		if (v && !(v & 7) && v >= 4096)
			fn(arg, v, PH_EDGE_CONSERVATIVE,
			   (uint64_t)(from + i * 8));
	}
}

struct attr_ctx {
	struct ph_heap *h;
	ph_referent_fn fn;
	void *arg;
	uint64_t keys_entries;
	uint8_t kind;
};

void ph_heap_referents(struct ph_heap *h, uint64_t addr, uint32_t tidx,
		       ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	/* A copy: callbacks may register types, moving h->types. */
	const struct ph_type tcopy = h->types[tidx];
	const struct ph_type *t = &tcopy;
	struct referent_ctx rc = {.h = h, .fn = fn, .arg = arg};
	int64_t ob_size = rds64(h, addr + 16);
	int64_t base_end = t->base_basicsize;

	fn(arg, rd64(h, addr + 8), PH_EDGE_FIELD,
	   (uint64_t)(uintptr_t)ph_class_field);
	switch (t->kind) {
	case PH_KIND_LIST: {
		int64_t alloc = rds64(h, addr + L->list_allocated);
		if (ob_size >= 0 && ob_size <= alloc)
			items(h, rd64(h, addr + L->list_items), ob_size, fn,
			      arg);
		break;
	}
	case PH_KIND_TUPLE:
		items(h, addr + L->tuple_items, ob_size, fn, arg);
		break;
	case PH_KIND_DICT:
	case PH_KIND_ODICT:
		if (addr == h->interned_dict && L->interned_uncounted) {
			/* 3.11 does not count the interned dict's references
			 * in the strings' refcounts: they keep nothing alive.
			 */
			dict_foreach(h, addr, interned_ref_cb, &rc);
			break;
		}
		/* A split dict's keys belong to the shared keys object. */
		dict_foreach(h, addr,
			     rd64(h, addr + L->dict_values) ? dict_value_cb
							    : dict_ref_cb,
			     &rc);
		if (t->kind == PH_KIND_ODICT) {
			conservative(h, addr, L->sizeof_dict, base_end, fn,
				     arg);
			/* Each node of the order list holds its key. */
			uint64_t node = rd64(h, addr + L->sizeof_dict);
			int64_t used = rds64(h, addr + L->dict_used);
			for (int64_t k = 0; node && k <= used && k < (1 << 26);
			     k++) {
				uint64_t key = rd64(h, node);
				if (key)
					fn(arg, key, PH_EDGE_FIELD,
					   (uint64_t)(uintptr_t) "<order node "
								 "key>");
				node = rd64(h, node + 16);
			}
		}
		break;
	case PH_KIND_SET:
	case PH_KIND_FROZENSET: {
		int64_t mask = rds64(h, addr + L->set_mask);
		if (mask < 0 || mask > (1LL << 32))
			break;
		const uint8_t *tab =
			ph_mem_ptr(h->mem, rd64(h, addr + L->set_table),
				   (size_t)(mask + 1) * 16);
		if (!tab)
			break;
		for (int64_t i = 0; i <= mask; i++) {
			uint64_t key;
			memcpy(&key, tab + i * 16, 8);
			if (key && key != h->set_dummy)
				fn(arg, key, PH_EDGE_ITEM, (uint64_t)i);
		}
		break;
	}
	case PH_KIND_TYPE: {
		field(h, addr, L->tp_dict, "__dict__", fn, arg);
		field(h, addr, L->tp_mro, "__mro__", fn, arg);
		field(h, addr, L->tp_bases, "__bases__", fn, arg);
		field(h, addr, L->tp_base, "__base__", fn, arg);
		field(h, addr, L->tp_subclasses, "__subclasses__", fn, arg);
		if (rd64(h, addr + L->tp_flags) & PH_TPFLAGS_HEAPTYPE) {
			field(h, addr, L->ht_name, "__name__", fn, arg);
			field(h, addr, L->ht_qualname, "__qualname__", fn, arg);
			field(h, addr, L->ht_slots, "__slots__", fn, arg);
			field(h, addr, L->ht_module, "ht_module", fn, arg);
			uint64_t ck = rd64(h, addr + L->ht_cached_keys);
			struct keys_geom kg;
			if (ck && keys_geom(h, ck, &kg)) {
				/* Attribute names shared by instances. */
				int64_t n = kg.nentries;
				if (n > 0 && n < 4096) {
					for (int64_t i = 0; i < n; i++) {
						uint64_t k = rd64(
							h,
							kg.entries +
								(uint64_t)i *
									kg.esize +
								kg.key_off);
						if (k)
							fn(arg, k,
							   PH_EDGE_FIELD,
							   (uint64_t)(uintptr_t) "<cached key>");
					}
				}
			}
		}
		break;
	}
	case PH_KIND_FUNCTION: {
		static const char *const names[] = {
			"__globals__",	  "__builtins__", "__name__",
			"__qualname__",	  "__code__",	  "__defaults__",
			"__kwdefaults__", "__closure__",  "__doc__",
			"__dict__",	  "__module__",	  "__annotations__",
		};
		for (uint32_t i = 0; i < L->nfunc_fields && i < 12; i++)
			field(h, addr, L->func_fields[i], names[i], fn, arg);
		break;
	}
	case PH_KIND_CODE: {
		static const char *const names[] = {
			"co_consts",
			"co_names",
			"co_exceptiontable",
			"co_localsplusnames",
			"co_localspluskinds",
			"co_filename",
			"co_name",
			"co_qualname",
			"co_linetable",
			"_co_code",
		};
		const char *const *nm =
			L->code_field_names ? L->code_field_names : names;
		for (uint32_t i = 0; i < L->ncode_fields && i < 10; i++)
			field(h, addr, L->code_fields[i], nm[i], fn, arg);
		break;
	}
	case PH_KIND_CELL:
		field(h, addr, L->cell_ref, "cell_contents", fn, arg);
		break;
	case PH_KIND_METHOD:
		field(h, addr, L->method_func, "__func__", fn, arg);
		field(h, addr, L->method_self, "__self__", fn, arg);
		break;
	case PH_KIND_MODULE:
		field(h, addr, L->module_dict, "__dict__", fn, arg);
		field(h, addr, L->module_name, "__name__", fn, arg);
		conservative(h, addr, L->module_name + 8, base_end, fn, arg);
		break;
	case PH_KIND_WEAKREF:
		field(h, addr, L->weakref_callback, "__callback__", fn, arg);
		{
			uint64_t o = rd64(h, addr + L->weakref_object);
			if (o && o != h->rt->none_addr)
				fn(arg, o, PH_EDGE_WEAK,
				   (uint64_t)(uintptr_t) "wr_object");
		}
		break;
	case PH_KIND_EXCEPTION: {
		static const char *const names[] = {
			"__dict__",	 "args",	"__notes__",
			"__traceback__", "__context__", "__cause__",
		};
		for (size_t i = 0; i < 6; i++)
			field(h, addr, L->exc_fields[i], names[i], fn, arg);
		conservative(h, addr, L->exc_fields[5] + 16, base_end, fn, arg);
		break;
	}
	case PH_KIND_PROPERTY: {
		static const char *const names[] = {
			"fget", "fset", "fdel", "__doc__", "__name__",
		};
		for (size_t i = 0; i < 5; i++)
			field(h, addr, L->prop_fields[i], names[i], fn, arg);
		break;
	}
	case PH_KIND_CLASSMETHOD:
		field(h, addr, L->cm_callable, "__func__", fn, arg);
		field(h, addr, L->cm_dict, "__dict__", fn, arg);
		break;
	case PH_KIND_FRAME: {
		field(h, addr, L->frame_back, "f_back", fn, arg);
		if (L->frame_objects) {
			ph_heap_iframe_referents(h, addr, fn, arg);
			break;
		}
		field(h, addr, L->frame_trace, "f_trace", fn, arg);
		/* The frame's data is its own once the call has returned. */
		uint64_t iframe = rd64(h, addr + L->frame_iframe);
		if (iframe == addr + L->frame_data)
			ph_heap_iframe_referents(h, iframe, fn, arg);
		break;
	}
	case PH_KIND_GEN: {
		if (L->frame_objects) {
			/* up to 3.10: a frame object and an exception state */
			field(h, addr, L->gen_frame, "gi_frame", fn, arg);
			field(h, addr, L->gen_code, "gi_code", fn, arg);
			field(h, addr, L->gen_name, "__name__", fn, arg);
			field(h, addr, L->gen_qualname, "__qualname__", fn,
			      arg);
			field(h, addr, L->gen_exc_state, "exc_type", fn, arg);
			field(h, addr, L->gen_exc_state + 8, "exc_value", fn,
			      arg);
			field(h, addr, L->gen_exc_state + 16, "exc_traceback",
			      fn, arg);
			break;
		}
		if (L->stackrefs) {
			uint64_t c = rd64(h, addr + L->gen_code) & ~3ULL;
			if (c)
				fn(arg, c, PH_EDGE_FIELD,
				   (uint64_t)(uintptr_t) "gi_code");
		} else
			field(h, addr, L->gen_code, "gi_code", fn, arg);
		field(h, addr, L->gen_name, "__name__", fn, arg);
		field(h, addr, L->gen_qualname, "__qualname__", fn, arg);
		int8_t state = (int8_t)rd8(h, addr + L->gen_state);
		/* created, suspended or running */
		if (state < (L->gen_state_done ? L->gen_state_done : 1))
			ph_heap_iframe_referents(h, addr + L->gen_iframe, fn,
						 arg);
		break;
	}
	case PH_KIND_PARTIAL:
		field(h, addr, 16, "func", fn, arg);
		field(h, addr, 24, "args", fn, arg);
		field(h, addr, 32, "keywords", fn, arg);
		field(h, addr, 40, "__dict__", fn, arg);
		break;
	case PH_KIND_DEQUE: {
		/* Blocks of 64 items, linked: leftlink, data[64], rightlink. */
		uint64_t block = rd64(h, addr + 24);
		int64_t index = rds64(h, addr + 40);
		if (ob_size < 0 || ob_size > (1LL << 31) || index < 0 ||
		    index >= 64)
			break;
		for (int64_t i = 0; i < ob_size && block; i++) {
			uint64_t v = rd64(h, block + 8 + 8 * (uint64_t)index);
			if (v)
				fn(arg, v, PH_EDGE_ITEM, (uint64_t)i);
			if (++index == 64) {
				block = rd64(h, block + 8 + 64 * 8);
				index = 0;
			}
		}
		break;
	}
	default: {
		if (kind_holds_nothing(t->kind))
			break;
		/* A C type py-heap has no layout for: its whole body. */
		int64_t end = base_end;
		if (t->itemsize && ob_size > 0 && ob_size < (1 << 20) &&
		    t->itemsize % 8 == 0)
			end += ob_size * t->itemsize;
		conservative(h, addr, 16, end, fn, arg);
		break;
	}
	}

	/* A C type below a known kind: what it adds is unknown. */
	if (t->kind != PH_KIND_OTHER && t->kind != PH_KIND_EXCEPTION &&
	    t->kind != PH_KIND_MODULE && t->kind != PH_KIND_ODICT &&
	    t->kind_basicsize && base_end > t->kind_basicsize)
		conservative(h, addr, t->kind_basicsize, base_end, fn, arg);
	if (!t->heap)
		return;
	/* What a class adds to its base: __slots__, a __dict__. */
	for (size_t i = 0; i < t->nc_offsets; i++) {
		uint64_t v = rd64(h, addr + t->c_offsets[i]);
		if (v && !(v & 7) && v >= 4096)
			fn(arg, v, PH_EDGE_CONSERVATIVE, t->c_offsets[i]);
	}
	for (size_t i = 0; i < t->nslots; i++) {
		uint64_t v = rd64(h, addr + t->slot_offsets[i]);
		if (v)
			fn(arg, v, PH_EDGE_SLOT, t->slot_names[i]);
	}
	if (t->flags & L->preheader_flags & PH_TPFLAGS_MANAGED_DICT) {
		uint64_t values, dict;
		if (L->managed_layout == 311) {
			values = rd64(h, addr - 32);
			dict = rd64(h, addr - 24);
		} else if (L->managed_layout == 312) {
			/* 3.12: one word, a dict or (bit 0 set) values - 1 */
			uint64_t dv = rd64(h, addr - 24);
			values = dv & 1 ? dv + 1 : 0;
			dict = dv & 1 ? 0 : dv;
		} else {
			/* 3.13: the dict (or NULL) at word -3; the values
			 * inline after the object, when still valid */
			dict = rd64(h, addr - 24);
			values = 0;
			if ((t->flags & PH_TPFLAGS_INLINE_VALUES) &&
			    rd8(h, addr + (uint64_t)t->basicsize + 3))
				values = addr + (uint64_t)t->basicsize +
					 L->values_header;
		}
		struct keys_geom kg;
		if (values &&
		    keys_geom(h, rd64(h, t->addr + L->ht_cached_keys), &kg)) {
			int64_t n = kg.nentries;
			if (n > 0 && n < 4096) {
				for (int64_t i = 0; i < n; i++) {
					uint64_t v = rd64(
						h, values + (uint64_t)i * 8);
					uint64_t k = rd64(
						h,
						kg.entries +
							(uint64_t)i * kg.esize +
							kg.key_off);
					if (v)
						fn(arg, v, PH_EDGE_ATTR, k);
				}
			}
		}
		if (dict)
			fn(arg, dict, PH_EDGE_FIELD,
			   (uint64_t)(uintptr_t) "__dict__");
	} else if (t->dictoffset > 0 && t->dictoffset < t->basicsize &&
		   !(t->kind == PH_KIND_TYPE && t->dictoffset == L->tp_dict)) {
		field(h, addr, (uint32_t)t->dictoffset, "__dict__", fn, arg);
	} else if (t->dictoffset < 0) {
		int64_t tsize = abs40(ob_size);
		int64_t size = t->basicsize + tsize * t->itemsize;
		size = (size + 7) & ~7LL;
		int64_t off = size + t->dictoffset;
		if (off > 0 && off < (1 << 24))
			field(h, addr, (uint32_t)off, "__dict__", fn, arg);
	}
}

/* ---- interpreter frames ----------------------------------------------- */

uint64_t ph_heap_thread_frame(struct ph_heap *h, uint64_t ts)
{
	const struct ph_layout *L = h->L;
	uint64_t v = rd64(h, ts + L->ts_cframe);
	if (L->cframe_current == UINT32_MAX) /* 3.13+: the frame itself */
		return v;
	return v ? rd64(h, v + L->cframe_current) : 0;
}

static bool is_code(struct ph_heap *h, uint64_t code)
{
	return code && rd64(h, code + 8) == h->rt->kind_types[PH_KIND_CODE];
}

/* The size of a tuple of names, 0 if it is none. */
static int64_t tuple_len(struct ph_heap *h, uint64_t t)
{
	if (!t || rd64(h, t + 8) != h->rt->kind_types[PH_KIND_TUPLE])
		return 0;
	int64_t n = rds64(h, t + 16);
	return n >= 0 && n < (1 << 20) ? n : 0;
}

/* Up to 3.10: the slots before a frame object's value stack, -1 if the
 * code object is not one. */
static int64_t frameobj_nlocalsplus(struct ph_heap *h, uint64_t code)
{
	const struct ph_layout *L = h->L;
	if (!is_code(h, code))
		return -1;
	int32_t nlocals = (int32_t)rd32(h, code + L->co_nlocals);
	if (nlocals < 0 || nlocals > (1 << 20))
		return -1;
	return nlocals + tuple_len(h, rd64(h, code + L->co_cellvars)) +
	       tuple_len(h, rd64(h, code + L->co_freevars));
}

/*
 * Up to 3.10 the frame is an object: its code, namespaces and trace
 * function, its locals, cells and free variables (by name: co_varnames,
 * co_cellvars, co_freevars), and its value stack while it is suspended
 * (a running frame keeps its stack pointer in a register).
 */
static void frameobj_referents(struct ph_heap *h, uint64_t f, ph_referent_fn fn,
			       void *arg)
{
	const struct ph_layout *L = h->L;
	uint64_t code = rd64(h, f + L->if_code);
	field(h, f, L->if_code, "f_code", fn, arg);
	field(h, f, L->if_builtins, "f_builtins", fn, arg);
	field(h, f, L->if_globals, "f_globals", fn, arg);
	field(h, f, L->if_locals, "f_locals", fn, arg);
	field(h, f, L->frame_trace, "f_trace", fn, arg);
	int64_t nplus = frameobj_nlocalsplus(h, code);
	if (nplus < 0)
		return;
	int64_t nlocals = (int32_t)rd32(h, code + L->co_nlocals);
	uint64_t names[3] = {rd64(h, code + L->co_varnames),
			     rd64(h, code + L->co_cellvars),
			     rd64(h, code + L->co_freevars)};
	int64_t ncells = tuple_len(h, names[1]);
	uint64_t base = f + L->if_localsplus;
	uint64_t stack = rd64(h, f + L->f_valuestack);
	int64_t depth = -1;
	if (L->f_stackdepth)
		depth = (int32_t)rd32(h, f + L->f_stacktop);
	else {
		uint64_t top = rd64(h, f + L->f_stacktop);
		if (top >= stack && top - stack < (8ULL << 20))
			depth = (int64_t)((top - stack) / 8);
	}
	/* the stack follows the locals; anything else is a damaged frame */
	if (stack != base + 8 * (uint64_t)nplus || depth > (1 << 20))
		depth = -1;
	int64_t n = nplus + (depth > 0 ? depth : 0);
	const uint64_t *p = ph_mem_ptr(h->mem, base, (size_t)n * 8);
	if (!p)
		return;
	for (int64_t i = 0; i < n; i++) {
		uint64_t v, name;
		memcpy(&v, &p[i], 8);
		if (!v)
			continue;
		if (i >= nplus) {
			fn(arg, v, PH_EDGE_STACK, (uint64_t)(i - nplus));
			continue;
		}
		int which = i < nlocals ? 0 : i < nlocals + ncells ? 1 : 2;
		int64_t j = which == 0	 ? i
			    : which == 1 ? i - nlocals
					 : i - nlocals - ncells;
		name = j < tuple_len(h, names[which])
			       ? rd64(h, names[which] + L->tuple_items +
						 8 * (uint64_t)j)
			       : 0;
		fn(arg, v, PH_EDGE_LOCAL, name);
	}
}

void ph_heap_iframe_referents(struct ph_heap *h, uint64_t f, ph_referent_fn fn,
			      void *arg)
{
	const struct ph_layout *L = h->L;
	if (L->frame_objects) {
		frameobj_referents(h, f, fn, arg);
		return;
	}
	uint64_t tagmask = L->stackrefs ? ~3ULL : ~0ULL; /* 3.14 stackrefs */
	uint64_t func = rd64(h, f + L->if_func) & tagmask;
	uint64_t code = rd64(h, f + L->if_code) & tagmask;
	if (func)
		fn(arg, func, PH_EDGE_FIELD, (uint64_t)(uintptr_t) "f_func");
	field(h, f, L->if_globals, "f_globals", fn, arg);
	field(h, f, L->if_builtins, "f_builtins", fn, arg);
	field(h, f, L->if_locals, "f_locals", fn, arg);
	if (code)
		fn(arg, code, PH_EDGE_FIELD, (uint64_t)(uintptr_t) "f_code");
	if (!is_code(h, code)) /* 3.13+'s shim frames run no code */
		return;
	int32_t nlocals = (int32_t)rd32(h, code + L->co_nlocalsplus);
	uint64_t names = rd64(h, code + L->co_localsplusnames);
	int32_t top;
	if (L->stackrefs) {
		/* 3.14: a pointer past the last live entry (NULL while the
		 * frame runs) */
		uint64_t sp = rd64(h, f + L->if_stacktop);
		uint64_t base = f + L->if_localsplus;
		top = sp >= base && sp - base < (8ULL << 20)
			      ? (int32_t)((sp - base) / 8)
			      : -1;
	} else
		top = (int32_t)rd32(h, f + L->if_stacktop);
	if (nlocals < 0 || nlocals > (1 << 20))
		return;
	/* The running frame keeps its stack pointer in a register (stacktop
	 * is -1): its locals are still there, its value stack is not known. */
	if (top < 0)
		top = nlocals;
	if (top > (1 << 20))
		return;
	const uint64_t *p =
		ph_mem_ptr(h->mem, f + L->if_localsplus, (size_t)top * 8);
	if (!p)
		return;
	for (int32_t i = 0; i < top; i++) {
		uint64_t v;
		memcpy(&v, &p[i], 8);
		if (L->stackrefs) {
			if ((v & 3) == 3)
				continue; /* a tagged int, no object */
			v &= ~3ULL;
		}
		if (!v)
			continue;
		if (i < nlocals)
			fn(arg, v, PH_EDGE_LOCAL,
			   rd64(h, names + L->tuple_items + 8 * (uint64_t)i));
		else
			fn(arg, v, PH_EDGE_STACK, (uint64_t)(i - nlocals));
	}
}

/* 3.11's location table (Objects/locations.md): the line of a code unit. */
static int code_line(struct ph_heap *h, uint64_t code, int64_t unit)
{
	const struct ph_layout *L = h->L;
	int line = (int)rd32(h, code + L->code_firstlineno);
	uint64_t table = rd64(h, code + L->co_linetable);
	int64_t len = rds64(h, table + 16);
	if (len <= 0 || len > (1 << 24))
		return line;
	const uint8_t *p =
		ph_mem_ptr(h->mem, table + L->bytes_data, (size_t)len);
	if (!p)
		return line;
	int64_t i = 0, at = 0;
#define VARINT(out)                                                            \
	do {                                                                   \
		uint64_t v_ = 0;                                               \
		unsigned sh_ = 0;                                              \
		while (i < len) {                                              \
			uint8_t b_ = p[i++];                                   \
			v_ |= (uint64_t)(b_ & 63) << sh_;                      \
			sh_ += 6;                                              \
			if (!(b_ & 64) || sh_ > 60)                            \
				break;                                         \
		}                                                              \
		(out) = v_;                                                    \
	} while (0)
	while (i < len) {
		uint8_t first = p[i++];
		if (!(first & 0x80))
			break; /* out of step with the table */
		int code_ = (first >> 3) & 15;
		int64_t units = (first & 7) + 1;
		int delta = 0;
		uint64_t v;
		if (code_ == 15) {
			delta = 0;
		} else if (code_ == 14) {
			VARINT(v);
			delta = (v & 1) ? -(int)(v >> 1) : (int)(v >> 1);
			VARINT(v);
			VARINT(v);
			VARINT(v);
		} else if (code_ == 13) {
			VARINT(v);
			delta = (v & 1) ? -(int)(v >> 1) : (int)(v >> 1);
		} else if (code_ >= 10) {
			delta = code_ - 10;
			i += 2;
		} else {
			i += 1;
		}
		line += delta;
		if (unit < at + units)
			return line;
		at += units;
	}
#undef VARINT
	return line;
}

/* The line of a byte offset in code before 3.11: co_lnotab (3.8/3.9),
 * pairs of (bytes, lines) deltas, or 3.10's co_linetable, whose pairs
 * give ranges and where a line delta of -128 means no line. */
static int old_code_line(struct ph_heap *h, uint64_t code, int64_t addr)
{
	const struct ph_layout *L = h->L;
	int line = (int)rd32(h, code + L->code_firstlineno);
	uint64_t table = rd64(h, code + L->co_linetable);
	int64_t len = rds64(h, table + 16);
	if (addr < 0 || len <= 0 || len > (1 << 24))
		return line;
	const uint8_t *p =
		ph_mem_ptr(h->mem, table + L->bytes_data, (size_t)len);
	if (!p)
		return line;
	int64_t at = 0;
	if (L->line_format == 1) {
		for (int64_t i = 0; i + 1 < len; i += 2) {
			at += p[i];
			if (at > addr)
				break;
			line += (int8_t)p[i + 1];
		}
		return line;
	}
	int ar_line = line;
	for (int64_t i = 0; i + 1 < len; i += 2) {
		int64_t start = at;
		at += p[i];
		if ((int8_t)p[i + 1] == -128)
			ar_line = -1;
		else
			ar_line = line += (int8_t)p[i + 1];
		if (start <= addr && addr < at)
			return ar_line;
	}
	return line;
}

bool ph_heap_iframe_location(struct ph_heap *h, uint64_t f, char *func,
			     size_t func_size, char *file, size_t file_size,
			     int *ret_line)
{
	const struct ph_layout *L = h->L;
	uint64_t code =
		rd64(h, f + L->if_code) & (L->stackrefs ? ~3ULL : ~0ULL);
	if (!is_code(h, code) ||
	    !ph_heap_str(h, rd64(h, code + L->code_qualname), func, func_size,
			 NULL))
		return false;
	if (!ph_heap_str(h, rd64(h, code + L->code_filename), file, file_size,
			 NULL))
		snprintf(file, file_size, "?");
	if (L->frame_objects) {
		int32_t lasti = (int32_t)rd32(h, f + L->f_lasti);
		/* 3.10 counts code units, 3.8/3.9 bytes */
		*ret_line = old_code_line(
			h, code,
			L->line_format == 2 ? (int64_t)lasti * 2 : lasti);
		return true;
	}
	uint64_t instr = rd64(h, f + L->if_prev_instr);
	int64_t unit =
		instr >= code + L->co_code_adaptive
			? (int64_t)(instr - code - L->co_code_adaptive) / 2
			: 0;
	*ret_line = code_line(h, code, unit);
	return true;
}

/* ---- discovery -------------------------------------------------------- */

const char ph_class_field[] = "__class__";

/* A candidate whose "refcount" is the address of something mapped is a
 * pointer, not an object header (a guessed reference, a stale block). */
static inline bool refcnt_value_is_pointer(struct ph_heap *h, uint64_t rc)
{
	return rc >= (1 << 20) && !(rc & 7) && ph_memory_find(h->mem, rc);
}

static bool refcnt_is_pointer(struct ph_heap *h, uint64_t addr)
{
	uint64_t rc;
	return ph_mem_u64(h->mem, addr, &rc) && refcnt_value_is_pointer(h, rc);
}

/* A reference an object holds for certain (not a guess) leads to no valid
 * object: count why, for the note on what was lost. */
static void ref_rejected(struct ph_heap *h, uint64_t target)
{
	/* Below 64 KiB nothing is mapped: a small number in a field that
	 * holds one (3.12+ static types keep an index in tp_subclasses). */
	if (target < 0x10000)
		return;
	/* each object once, however many refer to it */
	if (ph_u64map_get(&h->rejected, target))
		return;
	struct ph_error *err = ph_u64map_put(&h->rejected, target, 1, NULL);
	if (err) {
		ph_error_destroy(err);
		return;
	}
	const uint64_t *hdr = ph_mem_ptr(h->mem, target & ~7ULL, 16);
	if (hdr && !hdr[0] && !hdr[1])
		h->refs_to_zeros++;
	else if (hdr && !(target & 7) && type_register(h, hdr[1], 0) >= 0) {
		h->refs_to_damaged++;
	} else
		h->refs_wild++;
}

static void discover_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
			uint64_t data)
{
	struct ph_heap *h = arg;
	uint32_t tidx;
	/* Every object names its type: look each type up once only. */
	if (kind == PH_EDGE_FIELD &&
	    data == (uint64_t)(uintptr_t)ph_class_field) {
		uint32_t *ti = ph_u64map_get(&h->type_index, target);
		if (ti && h->types[*ti].known_object)
			return;
		if (ti && obj_known(h, target)) {
			h->types[*ti].known_object = true;
			return;
		}
	}
	if (!target || obj_known(h, target))
		return;
	if (kind == PH_EDGE_CONSERVATIVE && refcnt_is_pointer(h, target))
		return;
	/* With a GC list cut, the tracked objects past the damage are still
	 * found through references, on the strength of their GC links. */
	if (!obj_validate_as(h, target, &tidx, h->gc_list_damaged != 0)) {
		h->n_rejected++;
		if (h->mem->bytes_missing) {
			const struct ph_segment *sg =
				ph_memory_find(h->mem, target);
			if (sg && !sg->data) {
				h->refs_into_missing++;
				return;
			}
		}
		if (kind != PH_EDGE_CONSERVATIVE && ph_edge_is_strong(kind))
			ref_rejected(h, target);
		return;
	}
	if (obj_add(h, target, tidx, PH_OBJ_REFERENCED, NULL))
		return;
	h->n_ref++;
}

static void closure(struct ph_heap *h, size_t from)
{
	for (size_t i = from; i < h->n; i++) {
		if (!(i & 0xffff) && ph_interrupted())
			return;
		ph_heap_referents(h, h->addr[i], h->tidx[i], discover_cb, h);
	}
}

/*
 * The first round of the closure on two threads: the references of every
 * object found so far, most of which lead to objects found already. The
 * threads only read, and keep the references to objects not found yet;
 * those are then looked at alone, in order, and the objects they find
 * looked through as before.
 */
struct ref_cand {
	uint64_t target, data;
	enum ph_edge_kind kind;
};

struct closure_ctx {
	struct ph_heap *h;
	size_t lo, hi;
	struct ref_cand *cand;
	size_t n, cap;
	uint64_t into_missing;
	uint64_t seen[4096]; /* targets kept lately (None, a module...) */
	uint64_t last_class; /* a type known to be in the table */
	struct ph_error *err;
};

static void closure_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		       uint64_t data)
{
	struct closure_ctx *c = arg;
	struct ph_heap *h = c->h;
	if (!target || c->err)
		return;
	if (kind == PH_EDGE_FIELD &&
	    data == (uint64_t)(uintptr_t)ph_class_field) {
		/* objects of one class come in runs */
		if (target == c->last_class)
			return;
		uint32_t *ti = ph_u64map_get(&h->type_index, target);
		if (ti && h->types[*ti].known_object) {
			c->last_class = target;
			return;
		}
	}
	if (obj_known(h, target))
		return;
	if (h->mem->bytes_missing) {
		/* counted here, per reference, as discover_cb would */
		const struct ph_segment *sg = ph_memory_find(h->mem, target);
		if (sg && !sg->data) {
			c->into_missing++;
			return;
		}
	}
	uint64_t key = target * 2 + (kind == PH_EDGE_CONSERVATIVE);
	size_t slot = (size_t)(ph_hash64(key) % PH_ARRAY_SIZE(c->seen));
	if (c->seen[slot] == key)
		return;
	c->seen[slot] = key;
	if ((c->err = ph_grow((void **)&c->cand, &c->cap, c->n + 1,
			      sizeof(*c->cand))))
		return;
	c->cand[c->n++] = (struct ref_cand){target, data, kind};
}

static void *closure_worker(void *arg)
{
	struct closure_ctx *c = arg;
	struct ph_heap *h = c->h;
	uint32_t last_leaf = PH_NONE;
	for (size_t i = c->lo; i < c->hi && !c->err; i++) {
		if (!(i & 0xffff) && ph_interrupted())
			return NULL;
		uint32_t ti = h->tidx[i];
		if (h->types[ti].leaf) {
			/* Its one reference is its type, whose address is
			 * known: its memory need not be read. */
			if (ti != last_leaf)
				closure_cb(c, h->types[ti].addr, PH_EDGE_FIELD,
					   (uint64_t)(uintptr_t)ph_class_field);
			last_leaf = ti;
			continue;
		}
		ph_heap_referents(h, h->addr[i], ti, closure_cb, c);
	}
	return NULL;
}

static struct ph_error *closure_parallel(struct ph_heap *h)
{
	enum { T = 2 };
	size_t n0 = h->n;
	struct closure_ctx *c = calloc(T, sizeof(*c));
	if (!c)
		return ph_error_nomem();
	for (int k = 0; k < T; k++) {
		c[k].h = h;
		c[k].lo = n0 * (size_t)k / T;
		c[k].hi = n0 * (size_t)(k + 1) / T;
	}
	ph_run_parallel(closure_worker, c, sizeof(*c), T, n0 > 1000);
	struct ph_error *err = NULL;
	for (int k = 0; k < T; k++) {
		if (!err && c[k].err) {
			err = c[k].err;
			c[k].err = NULL;
		}
		h->refs_into_missing += c[k].into_missing;
		h->n_rejected += c[k].into_missing;
		for (size_t i = 0; i < c[k].n && !err; i++)
			discover_cb(h, c[k].cand[i].target, c[k].cand[i].kind,
				    c[k].cand[i].data);
	}
	for (int k = 0; k < T; k++) {
		ph_error_destroy(c[k].err);
		free(c[k].cand);
	}
	free(c);
	if (!err)
		closure(h, n0);
	return err;
}

static void add_root(struct ph_heap *h, uint64_t addr)
{
	uint32_t tidx;
	if (!addr || obj_known(h, addr))
		return;
	if (obj_validate(h, addr, &tidx) &&
	    !obj_add(h, addr, tidx, PH_OBJ_ROOT, NULL))
		h->n_root++;
}

static void root_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
		    uint64_t data)
{
	(void)kind;
	(void)data;
	add_root(arg, target);
}

static uint64_t writable_bytes(struct ph_heap *h)
{
	uint64_t n = 0;
	for (size_t i = 0; i < h->mem->nsegs; i++)
		if (h->mem->segs[i].data && h->mem->segs[i].writable)
			n += h->mem->segs[i].end - h->mem->segs[i].start;
	return n;
}

/*
 * A GC list walked from both ends at once, one thread following the next
 * links from the head and one the prev links from the tail, until they
 * meet: the walk is a chain of cache misses, and two chains take half the
 * time. The threads only do what a healthy list needs: an object the pool
 * scan found gets the list's flag, claimed with a compare-and-swap so that
 * each object is taken by one thread, and the first object a thread finds
 * taken by the other is where they met; the backward thread checks that
 * each step agrees with the next link, so its path read backwards is the
 * path the forward walk would have taken. Objects not found yet are kept,
 * in list order, and added afterwards, alone. Anything else (damage, an
 * object on two lists) undoes the walk and the list is walked again the
 * careful way.
 */
#define GCW_BACK 0x80 /* in flags, while walking: claimed going backwards */

struct gcw_ctx {
	struct ph_heap *h;
	uint64_t head, bound;
	uint8_t flag;
	bool back;
	/* every node visited, in walk order; bit 0 set if claimed */
	uint64_t *nodes;
	size_t n, cap;
	uint64_t meet; /* the node found taken by the other thread */
	bool at_head, anomaly;
	uint64_t claimed;
};

static void *gcw_worker(void *arg)
{
	struct gcw_ctx *c = arg;
	struct ph_heap *h = c->h;
	uint8_t mine = c->flag | (c->back ? GCW_BACK : 0);
	uint64_t prev = c->head, g;
	if (!ph_mem_u64(h->mem, c->head + (c->back ? 8 : 0), &g)) {
		c->anomaly = true;
		return NULL;
	}
	g &= ~3ULL;
	for (uint64_t steps = 0;; steps++) {
		if (g == c->head) {
			c->at_head = true;
			break;
		}
		if (steps > c->bound || !g || (g & 7) ||
		    (!(steps & 0xffff) && ph_interrupted())) {
			c->anomaly = true;
			break;
		}
		const uint64_t *w = ph_mem_ptr(h->mem, g, 32);
		if (!w || (c->back && (w[0] & ~3ULL) != prev)) {
			c->anomaly = true;
			break;
		}
		if (c->n == c->cap) {
			struct ph_error *e =
				ph_grow((void **)&c->nodes, &c->cap,
					c->n < 65536 ? 65536 : c->n + 1,
					sizeof(*c->nodes));
			if (e) {
				ph_error_destroy(e);
				c->anomaly = true;
				break;
			}
		}
		uint64_t obj = g + 16;
		uint32_t known = ph_heap_lookup(h, obj);
		bool claim = false;
		if (known != PH_NONE) {
			/* (its type is the one the pool scan read there) taken
			 * only if on no list yet: the flags of an object on
			 * another list (damage) stay as they were */
			uint8_t *f = &h->flags[known];
			uint8_t old = __atomic_load_n(f, __ATOMIC_RELAXED);
			while (!(old & PH_OBJ_GC_LIST) &&
			       !__atomic_compare_exchange_n(
				       f, &old, (uint8_t)(old | mine), true,
				       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				;
			if (old & PH_OBJ_GC_LIST) {
				bool other = c->back ? !(old & GCW_BACK)
						     : (old & GCW_BACK);
				if (other && (old & 0x70) == (c->flag & 0x70))
					c->meet = g;
				else
					c->anomaly = true;
				break;
			}
			claim = true;
			c->claimed++;
		}
		c->nodes[c->n++] = g | claim;
		prev = g;
		g = w[c->back ? 1 : 0] & ~3ULL;
	}
	return NULL;
}

/* The walk's claims undone: flags as they were before it. */
static void gcw_undo(struct ph_heap *h, const struct gcw_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (!(c->nodes[i] & 1))
			continue;
		uint32_t k = ph_heap_lookup(h, (c->nodes[i] & ~1ULL) + 16);
		h->flags[k] &= (uint8_t) ~(c->flag | GCW_BACK);
	}
}

/* An object on a GC list that was not found before: added, or counted as
 * rejected. */
static struct ph_error *walk_gc_add(struct ph_heap *h, uint64_t obj,
				    const uint64_t *hdr, uint8_t flag,
				    bool *ret_added)
{
	*ret_added = true;
	int64_t ti = type_register(h, hdr[1], 0);
	if (ti < 0) {
		h->n_rejected++;
		if (!hdr[0] && !hdr[1])
			h->gc_zeroed_objects++;
		else
			h->gc_bad_objects++;
		return NULL;
	}
	if (!obj_contents_ok(h, obj, &h->types[ti])) {
		h->n_rejected++;
		h->gc_damaged_objects++;
		return NULL;
	}
	struct ph_error *err = obj_add(h, obj, (uint32_t)ti, flag, ret_added);
	if (err || !*ret_added)
		return err;
	h->n_gc++;
	if (h->types[ti].kind == PH_KIND_TYPE)
		type_register(h, obj, 0);
	return NULL;
}

/*
 * Walks the list at head from both ends (above). Returns with *ret_done
 * false when it could not, having changed nothing: the careful walk
 * (walk_gc_list) is then left to do it.
 */
static struct ph_error *walk_gc_list_fast(struct ph_heap *h, uint64_t head,
					  uint64_t bound, unsigned gen,
					  bool *ret_done)
{
	struct gcw_ctx c[2];
	uint8_t flag = (uint8_t)(PH_OBJ_GC_LIST | (gen << 4));
	struct ph_error *err = NULL;
	struct ph_u64map seen;
	ph_u64map_init(&seen);
	*ret_done = false;
	for (int k = 0; k < 2; k++)
		c[k] = (struct gcw_ctx){.h = h,
					.head = head,
					.bound = bound,
					.flag = flag,
					.back = k == 1};
	ph_run_parallel(gcw_worker, c, sizeof(c[0]), 2, true);

	/* The list in order: forward to where the threads met, then the
	 * backward walk from there, read backwards. */
	size_t bend = 0; /* the backward nodes used: [0, bend) */
	bool ok = !c[0].anomaly && (c[0].at_head || c[0].meet);
	if (ok && c[0].meet) {
		ok = false;
		for (size_t i = c[1].n; i-- > 0;)
			if ((c[1].nodes[i] & ~1ULL) == c[0].meet) {
				bend = i + 1;
				ok = true;
				break;
			}
	}
	/* the backward thread's claims past the meeting point: none, unless
	 * something is wrong */
	for (size_t i = bend; ok && i < c[1].n; i++)
		if (c[1].nodes[i] & 1)
			ok = false;
	/* objects not found yet: each new, and once only */
	for (int k = 0; k < 2 && ok; k++) {
		size_t end = k ? bend : c[0].n;
		for (size_t i = 0; i < end && ok; i++) {
			uint64_t g = c[k].nodes[i];
			if (g & 1)
				continue;
			bool existed;
			if (ph_heap_lookup(h, g + 16) != PH_NONE ||
			    (pool_at(h, g + 16) && (g & 15))) {
				ok = false;
				break;
			}
			if ((err = ph_u64map_put(&seen, g, 1, &existed)))
				goto out;
			if (existed)
				ok = false;
		}
	}
	if (!ok) {
		gcw_undo(h, &c[0]);
		gcw_undo(h, &c[1]);
		goto out;
	}
	/* the backward thread's mark, gone */
	for (size_t i = 0; i < bend; i++)
		if (c[1].nodes[i] & 1) {
			uint32_t k =
				ph_heap_lookup(h, (c[1].nodes[i] & ~1ULL) + 16);
			h->flags[k] &= (uint8_t)~GCW_BACK;
		}
	h->n_gc += c[0].claimed + c[1].claimed;
	*ret_done = true;
	for (size_t j = 0; j < c[0].n + bend && !err; j++) {
		uint64_t g = j < c[0].n ? c[0].nodes[j]
					: c[1].nodes[bend - 1 - (j - c[0].n)];
		if (g & 1)
			continue;
		bool added;
		const uint64_t *hdr = ph_mem_ptr(h->mem, g + 16, 16);
		err = walk_gc_add(h, g + 16, hdr, flag, &added);
	}
out:
	free(c[0].nodes);
	free(c[1].nodes);
	ph_u64map_free(&seen);
	return err;
}

static struct ph_error *walk_gc_list(struct ph_heap *h, uint64_t head,
				     uint64_t bound, unsigned gen)
{
	uint64_t g;
	if (!ph_mem_u64(h->mem, head, &g))
		return ph_error_create_at(PH_ERR_NOT_SAVED, head,
					  "cannot read the GC list head at "
					  "0x%llx",
					  (unsigned long long)head);
	g &= ~3ULL;
	for (uint64_t steps = 0; g != head; steps++) {
		if (!(steps & 0xffff) && ph_interrupted())
			return ph_error_interrupted();
		if (steps > bound || !g || (g & 7)) {
			h->gc_list_damaged++;
			if (!g)
				h->gc_zeroed_links++;
			break;
		}
		uint64_t obj = g + 16;
		const uint64_t *hdr = ph_mem_ptr(h->mem, obj, 16);
		if (!hdr) {
			h->gc_list_damaged++;
			break;
		}
		uint8_t flag = (uint8_t)(PH_OBJ_GC_LIST | (gen << 4));
		uint32_t known = ph_heap_lookup(h, obj);
		if (known != PH_NONE && type_register(h, hdr[1], 0) >= 0) {
			/* found by the pool scan; on two lists is a loop */
			if (h->flags[known] & PH_OBJ_GC_LIST) {
				h->gc_list_damaged++;
				break;
			}
			h->flags[known] |= flag;
			h->n_gc++;
		} else {
			bool added;
			struct ph_error *err =
				walk_gc_add(h, obj, hdr, flag, &added);
			if (err)
				return err;
			if (!added) { /* a loop in the list */
				h->gc_list_damaged++;
				break;
			}
		}
		if (!ph_mem_u64(h->mem, g, &g)) {
			h->gc_list_damaged++;
			break;
		}
		g &= ~3ULL;
	}
	return NULL;
}

/* Is there a pool header at p? Fills *pool if so. */
static bool pool_header(struct ph_heap *h, const uint8_t *p, uint64_t addr,
			struct ph_pool *pool, uint64_t *inconsistent)
{
	const struct ph_layout *L = h->L;
	uint32_t count, arenaindex, szidx, nextoffset, maxnextoffset;
	uint64_t freeblock, nextpool, prevpool;
	memcpy(&count, p, 4);
	memcpy(&freeblock, p + 8, 8);
	memcpy(&nextpool, p + 16, 8);
	memcpy(&prevpool, p + 24, 8);
	memcpy(&arenaindex, p + 32, 4);
	memcpy(&szidx, p + 36, 4);
	memcpy(&nextoffset, p + 40, 4);
	memcpy(&maxnextoffset, p + 44, 4);
	(void)arenaindex;
	if (szidx >= L->nsize_classes || !count || !nextpool || !prevpool)
		return false;
	uint32_t size = (szidx + 1) * 16;
	if (maxnextoffset != L->pool_size - size ||
	    nextoffset < L->pool_overhead || nextoffset > L->pool_size ||
	    (nextoffset - L->pool_overhead) % size)
		return false;
	uint32_t nblocks = (nextoffset - L->pool_overhead) / size;
	if (count > nblocks)
		return false;
	memset(pool, 0, sizeof(*pool));
	pool->addr = addr;
	pool->block_size = size;
	pool->nblocks = nblocks;
	/* The free list: blocks handed back, never objects. */
	uint64_t f = freeblock;
	uint32_t nfree = 0;
	while (f) {
		if (f < addr + L->pool_overhead || f >= addr + nextoffset ||
		    (f - addr - L->pool_overhead) % size || nfree > nblocks)
			return false;
		uint64_t b = (f - addr - L->pool_overhead) / size;
		if ((pool->free_bits[b / 64] >> (b % 64)) & 1)
			return false; /* a loop */
		pool->free_bits[b / 64] |= 1ULL << (b % 64);
		nfree++;
		const uint8_t *q = p + (f - addr);
		memcpy(&f, q, 8);
	}
	if (nblocks - nfree != count)
		(*inconsistent)++;
	return true;
}

/*
 * Finds pymalloc's pools by their headers: every POOL_SIZE-aligned address
 * of the core's writable memory whose header is self-consistent (size
 * class, offsets, a free list inside the pool).
 */
static struct ph_error *add_pool(struct ph_heap *h, const struct ph_pool *pool)
{
	struct ph_error *err = ph_grow((void **)&h->pools, &h->pools_cap,
				       h->npools + 1, sizeof(*h->pools));
	if (!err)
		err = pool_index_add(h, pool->addr, (uint32_t)h->npools);
	if (!err)
		h->pools[h->npools++] = *pool;
	return err;
}

/*
 * Where a pool may be: its address and, from the arena table, the index of
 * its arena (UINT32_MAX: any). Their headers are read on two threads: the
 * first touch of every pool's page is most of the cost.
 */
struct pool_cand {
	uint64_t addr;
	uint32_t arena;
};

struct pools_ctx {
	struct ph_heap *h;
	const struct pool_cand *cand;
	size_t lo, hi;
	struct ph_pool *pools;
	size_t n, cap;
	uint64_t inconsistent;
	struct ph_error *err;
};

static void *pools_worker(void *arg)
{
	struct pools_ctx *c = arg;
	struct ph_heap *h = c->h;
	for (size_t i = c->lo; i < c->hi && !c->err; i++) {
		uint64_t p = c->cand[i].addr;
		const uint8_t *hdr = ph_mem_ptr(h->mem, p, h->L->pool_size);
		struct ph_pool pool;
		uint32_t arenaindex;
		if (!hdr)
			continue; /* not saved: counted as missing */
		memcpy(&arenaindex, hdr + 32, 4);
		if (!pool_header(h, hdr, p, &pool, &c->inconsistent) ||
		    (c->cand[i].arena != UINT32_MAX &&
		     arenaindex != c->cand[i].arena))
			continue; /* empty (free) pool */
		if ((c->err = ph_grow((void **)&c->pools, &c->cap, c->n + 1,
				      sizeof(*c->pools))))
			break;
		c->pools[c->n++] = pool;
	}
	return NULL;
}

/* The pools among the candidates, in their order. */
static struct ph_error *pools_check(struct ph_heap *h,
				    const struct pool_cand *cand, size_t n)
{
	enum { T = 2 };
	struct pools_ctx c[T];
	for (int k = 0; k < T; k++)
		c[k] = (struct pools_ctx){.h = h,
					  .cand = cand,
					  .lo = n * (size_t)k / T,
					  .hi = n * (size_t)(k + 1) / T};
	ph_run_parallel(pools_worker, c, sizeof(c[0]), T, n > 64);
	struct ph_error *err = NULL;
	for (int k = 0; k < T; k++) {
		if (!err)
			err = c[k].err;
		else
			ph_error_destroy(c[k].err);
		h->pools_inconsistent += c[k].inconsistent;
		for (size_t i = 0; i < c[k].n && !err; i++)
			err = add_pool(h, &c[k].pools[i]);
		free(c[k].pools);
	}
	return err;
}

/*
 * pymalloc's own arena table (3.8-3.11: the static `arenas`, in the debug
 * information): every pool ever carved from a live arena, exactly.
 * Returns false when the table is not there or does not look right.
 */
static bool find_pools_from_arenas(struct ph_heap *h, struct ph_error **ret_err)
{
	const struct ph_layout *L = h->L;
	const struct ph_module *m = h->rt->pymod;
	uint64_t arenas_sym, max_sym, arenas = 0;
	uint32_t maxarenas = 0;
	*ret_err = NULL;
	if (!ph_module_symbol(m, "arenas", &arenas_sym, NULL) ||
	    !ph_module_symbol(m, "maxarenas", &max_sym, NULL) ||
	    !ph_mem_u64(h->mem, arenas_sym, &arenas) ||
	    !ph_mem_u32(h->mem, max_sym, &maxarenas) || !arenas ||
	    maxarenas > (1U << 24))
		return false;
	const uint8_t *tab = ph_mem_ptr(h->mem, arenas, (size_t)maxarenas * 48);
	if (!tab)
		return false;
	struct pool_cand *cand = NULL;
	size_t n = 0, cap = 0;
	for (uint32_t i = 0; i < maxarenas; i++) {
		uint64_t address, pool_address;
		memcpy(&address, tab + (size_t)i * 48, 8);
		memcpy(&pool_address, tab + (size_t)i * 48 + 8, 8);
		if (!address)
			continue; /* an unused arena_object */
		uint64_t p = (address + L->pool_size - 1) &
			     ~((uint64_t)L->pool_size - 1);
		if (pool_address < p || pool_address - p > L->arena_size) {
			free(cand);
			return false;
		}
		for (; p < pool_address; p += L->pool_size) {
			if ((*ret_err = ph_grow((void **)&cand, &cap, n + 1,
						sizeof(*cand)))) {
				free(cand);
				return true;
			}
			cand[n++] = (struct pool_cand){p, i};
		}
	}
	*ret_err = pools_check(h, cand, n);
	free(cand);
	h->arena_source = "pymalloc's arena table (debug symbols)";
	return true;
}

static struct ph_error *find_pools(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	struct ph_error *err;
	if (find_pools_from_arenas(h, &err))
		return err;
	struct pool_cand *cand = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < h->mem->nsegs; i++) {
		const struct ph_segment *s = &h->mem->segs[i];
		if (!s->data || !s->writable || s->from_file)
			continue;
		uint64_t a = (s->start + L->pool_size - 1) &
			     ~((uint64_t)L->pool_size - 1);
		for (; a + L->pool_size <= s->end; a += L->pool_size) {
			if ((err = ph_grow((void **)&cand, &cap, n + 1,
					   sizeof(*cand)))) {
				free(cand);
				return err;
			}
			cand[n++] = (struct pool_cand){a, UINT32_MAX};
		}
	}
	err = pools_check(h, cand, n);
	free(cand);
	h->arena_source = "pool headers found by scanning writable memory";
	return err;
}

/*
 * Are pymalloc's debug hooks on? Then every allocated block starts with
 * the size asked for (big-endian; at most the block less the 24 bytes the
 * hooks add, more than the next size class down would hold), an API id
 * ('o', 'm' or 'r') and 7 guard bytes 0xfd. Decided on a sample of blocks:
 * the build says what is likely (Py_DEBUG), PYTHONMALLOC what is true.
 */
static void detect_debug_hooks(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	uint32_t seen = 0, hooked = 0;
	for (size_t i = 0; i < h->npools && seen < 4096; i++) {
		const struct ph_pool *pool = &h->pools[i];
		for (uint32_t b = 0; b < pool->nblocks && seen < 4096; b++) {
			if ((pool->free_bits[b / 64] >> (b % 64)) & 1)
				continue;
			const uint8_t *p = ph_mem_ptr(
				h->mem,
				pool->addr + L->pool_overhead +
					(uint64_t)b * pool->block_size,
				16);
			if (!p)
				continue;
			seen++;
			uint64_t size = 0; /* stored big-endian */
			for (int k = 0; k < 8; k++)
				size = size << 8 | p[k];
			static const uint8_t guard[7] = {0xfd, 0xfd, 0xfd, 0xfd,
							 0xfd, 0xfd, 0xfd};
			if ((p[8] == 'o' || p[8] == 'm' || p[8] == 'r') &&
			    !memcmp(p + 9, guard, 7) &&
			    size + 24 <= pool->block_size &&
			    size + 24 + 16 > pool->block_size)
				hooked++;
		}
	}
	if (seen && hooked >= seen - seen / 10) {
		h->block_head = 16;
		h->block_extra = 24;
	}
}

/*
 * The pool scan: every allocated block whose first words make an object
 * (at the block's start, or after a GC head and a managed dict's words).
 * Two threads take half of the pools each and only read; what needs the
 * type table to grow (a class not seen yet, a type object) is left for
 * later: the new types are registered between two passes, and what is
 * still left is done alone, in order, so that objects are numbered by
 * address exactly as a single pass would.
 */
static const uint32_t scan_offsets[] = {0, 16, 32};

enum scan_result { SCAN_NONE, SCAN_FOUND, SCAN_LATER };

/* Could tp be a type object py-heap has not registered? A cheap look at
 * its header: a count for a refcount, an aligned pointer for a type. */
static bool type_maybe(struct ph_heap *h, uint64_t tp)
{
	if (!tp || (tp & 7))
		return false;
	/* Most words looked at here are pointers to objects in pymalloc's
	 * pools (list items, dict entries), and no type is ever in a pool:
	 * a type object is larger than pymalloc's largest block. Rejected
	 * without reading tp, which would be a cache miss. */
	if (pool_at(h, tp) || ph_u64map_get(&h->scan_rejected, tp))
		return false;
	const uint64_t *hdr = ph_mem_ptr(h->mem, tp, h->L->sizeof_type);
	if (!hdr || !refcnt_ok(h->L, hdr[0], false) || !hdr[1] || (hdr[1] & 7))
		return false;
	/* its type: a metaclass (as type_register requires) */
	if (hdr[1] == h->rt->kind_types[PH_KIND_TYPE])
		return true;
	uint64_t flags;
	return ph_mem_u64(h->mem, hdr[1] + h->L->tp_flags, &flags) &&
	       (flags & PH_TPFLAGS_TYPE_SUBCLASS);
}

/* The scan of one block by a thread: reads only. *ret_newtype is a type
 * to register when the block is left for later because of it. */
/* A thread's cache of type lookups: a few types fill most blocks. */
struct type_cache {
	uint64_t addr[256];
	uint32_t tidx[256];
};

static inline uint32_t *type_lookup(struct ph_heap *h, struct type_cache *tc,
				    uint64_t tp)
{
	size_t slot = (size_t)((tp >> 4) ^ (tp >> 12)) & 255;
	if (tp && tc->addr[slot] == tp)
		return &tc->tidx[slot];
	/* a block that holds no object: its second word is often a pointer
	 * into a pool (list items), where no type ever is */
	if (!tp || (tp & 7) || pool_at(h, tp))
		return NULL;
	uint32_t *v = ph_u64map_get(&h->type_index, tp);
	if (v) {
		tc->addr[slot] = tp;
		tc->tidx[slot] = *v;
	}
	return v;
}

static enum scan_result scan_block(struct ph_heap *h, struct type_cache *tc,
				   const struct ph_pool *pool, uint64_t block,
				   uint64_t *ret_obj, uint32_t *ret_tidx,
				   uint64_t *ret_newtype)
{
	uint32_t block_size = pool->block_size;
	for (size_t k = 0; k < PH_ARRAY_SIZE(scan_offsets); k++) {
		uint64_t obj = block + scan_offsets[k];
		if (scan_offsets[k] + 16 + h->block_extra > block_size)
			break;
		const uint64_t *hdr = ph_mem_ptr(h->mem, obj, 24);
		if (!hdr)
			continue;
		uint32_t *tv = type_lookup(h, tc, hdr[1]);
		if (!tv) {
			if (!type_maybe(h, hdr[1]))
				continue;
			*ret_newtype = hdr[1];
			return SCAN_LATER;
		}
		const struct ph_type *t = &h->types[*tv];
		if (t->presize != scan_offsets[k])
			continue;
		if (t->kind == PH_KIND_TYPE &&
		    !ph_u64map_get(&h->type_index, obj)) {
			if (ph_u64map_get(&h->scan_rejected, obj))
				continue; /* not a type after all */
			/* a type object: registered between the passes */
			*ret_newtype = obj;
			return SCAN_LATER;
		}
		if (!refcnt_ok(h->L, hdr[0], true) ||
		    refcnt_value_is_pointer(h, hdr[0]))
			continue;
		if (t->fixed_need) {
			/* all obj_validate_rest would check of such an object
			 * in an allocated block, where the scan found it */
			uint64_t need = t->fixed_need + h->block_extra;
			if (((need + 15) & ~15ULL) != block_size)
				continue;
		} else if (!obj_validate_rest_in(h, obj, t, true, pool))
			continue;
		*ret_obj = obj;
		*ret_tidx = *tv;
		return SCAN_FOUND;
	}
	return SCAN_NONE;
}

/* A thread's findings, in address order: an object, its type and size, or
 * a block left for later (its address | 1). They are written straight into
 * the object table, each thread from where its pools' blocks would start if
 * every block were an object: no copy when the threads are joined, just one
 * move to close the gap between them. */
struct scan_ctx {
	struct ph_heap *h;
	size_t lo, hi; /* pools [lo, hi) */
	bool second;   /* the second pass: only the blocks left */
	size_t start;  /* where its findings go in the table */
	uint64_t *addr;
	uint32_t *tidx;
	uint64_t *size;
	size_t n, cap;
	size_t nlater; /* entries left to be done alone */
	uint64_t *newtypes;
	size_t nnew, newcap;
	uint64_t seen[1024];
	struct type_cache tc;
	struct ph_error *err;
};

static inline uint64_t scan_sizeof(struct ph_heap *h, uint64_t obj,
				   uint32_t tidx)
{
	const struct ph_type *t = &h->types[tidx];
	return t->fixed_need ? t->fixed_need : obj_sizeof(h, obj, t);
}

/* One entry per allocated block at most: there is room. */
static inline void scan_push(struct scan_ctx *c, uint64_t addr, uint32_t tidx,
			     uint64_t size)
{
	c->addr[c->n] = addr;
	c->tidx[c->n] = tidx;
	c->size[c->n] = size;
	c->n++;
}

static void scan_newtype(struct scan_ctx *c, uint64_t tp)
{
	/* the same few classes come again and again: a direct-mapped set of
	 * those already listed keeps the list short (a duplicate that slips
	 * through is harmless) */
	size_t slot = (size_t)(ph_hash64(tp) % PH_ARRAY_SIZE(c->seen));
	if (!tp || c->seen[slot] == tp)
		return;
	c->seen[slot] = tp;
	if ((c->err = ph_grow((void **)&c->newtypes, &c->newcap, c->nnew + 1,
			      sizeof(*c->newtypes))))
		return;
	c->newtypes[c->nnew++] = tp;
}

static void mark_found(const struct ph_heap *h, uint64_t obj)
{
	struct ph_pool *p = (struct ph_pool *)pool_at(h, obj);
	uint64_t g = (obj - p->addr) / 16;
	p->obj_bits[g / 64] |= 1ULL << (g % 64);
}

static void *scan_worker(void *arg)
{
	struct scan_ctx *c = arg;
	struct ph_heap *h = c->h;
	const struct ph_layout *L = h->L;
	uint64_t obj, newtype;
	uint32_t tidx;
	if (c->second) {
		/* the blocks left, again; what is found or left stays in
		 * place, in order, and the rest is dropped */
		size_t w = 0;
		c->nlater = 0;
		for (size_t i = 0; i < c->n; i++) {
			uint64_t a = c->addr[i];
			uint32_t t = c->tidx[i];
			uint64_t sz = c->size[i];
			if (a & 1) {
				uint64_t block = a & ~1ULL;
				const struct ph_pool *p = pool_at(h, block);
				switch (scan_block(h, &c->tc, p, block, &obj,
						   &tidx, &newtype)) {
				case SCAN_FOUND:
					mark_found(h, obj);
					a = obj;
					t = tidx;
					sz = scan_sizeof(h, obj, t);
					break;
				case SCAN_LATER: /* alone, in order */
					c->nlater++;
					break;
				case SCAN_NONE:
					continue;
				}
			}
			c->addr[w] = a;
			c->tidx[w] = t;
			c->size[w] = sz;
			w++;
		}
		c->n = w;
		return NULL;
	}
	for (size_t i = c->lo; i < c->hi && !c->err; i++) {
		if (!(i & 1023) && ph_interrupted())
			return NULL;
		struct ph_pool *pool = &h->pools[i];
		for (uint32_t b = 0; b < pool->nblocks && !c->err; b++) {
			if ((pool->free_bits[b / 64] >> (b % 64)) & 1)
				continue;
			/* the data: past the debug hooks' header, if any */
			uint64_t block = pool->addr + L->pool_overhead +
					 (uint64_t)b * pool->block_size +
					 h->block_head;
			switch (scan_block(h, &c->tc, pool, block, &obj, &tidx,
					   &newtype)) {
			case SCAN_FOUND:
				pool->obj_bits[(obj - pool->addr) / 16 / 64] |=
					1ULL << ((obj - pool->addr) / 16 % 64);
				/* its size now, while it is in the cache */
				scan_push(c, obj, tidx,
					  scan_sizeof(h, obj, tidx));
				break;
			case SCAN_LATER:
				scan_push(c, block | 1, 0, 0);
				scan_newtype(c, newtype);
				c->nlater++;
				break;
			case SCAN_NONE:
				break;
			}
		}
	}
	return NULL;
}

static void scan_run(struct scan_ctx *c, size_t nc, bool threads)
{
	ph_run_parallel(scan_worker, c, sizeof(*c), nc, threads);
}

/*
 * Before the threads: the types of the first blocks of every pool,
 * registered. Classes' instances are spread over many pools, so this finds
 * nearly every class the threads would otherwise leave for a second pass.
 */
static void scan_sample_types(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	for (size_t i = 0; i < h->npools; i++) {
		const struct ph_pool *pool = &h->pools[i];
		for (uint32_t b = 0, seen = 0; b < pool->nblocks && seen < 2;
		     b++) {
			if ((pool->free_bits[b / 64] >> (b % 64)) & 1)
				continue;
			seen++;
			uint64_t block = pool->addr + L->pool_overhead +
					 (uint64_t)b * pool->block_size +
					 h->block_head;
			for (size_t k = 0; k < PH_ARRAY_SIZE(scan_offsets);
			     k++) {
				uint64_t tp =
					rd64(h, block + scan_offsets[k] + 8);
				if (scan_offsets[k] + 16 + h->block_extra >
				    pool->block_size)
					break;
				if (!ph_u64map_get(&h->type_index, tp) &&
				    type_maybe(h, tp))
					type_register(h, tp, 0);
			}
		}
	}
}

/* Registers a type the threads met, or remembers that it is none. */
static struct ph_error *scan_register(struct ph_heap *h, uint64_t tp)
{
	if (type_register(h, tp, 0) >= 0)
		return NULL;
	return ph_u64map_put(&h->scan_rejected, tp, 1, NULL);
}

/* A block the threads left twice, done alone: what its scan waits for is
 * registered (or rejected) first, a few times at most (one for each place
 * an object may start in it). */
static struct ph_error *scan_block_alone(struct ph_heap *h,
					 struct type_cache *tc, uint64_t block)
{
	const struct ph_pool *pool = pool_at(h, block);
	for (size_t tries = 0; tries <= PH_ARRAY_SIZE(scan_offsets); tries++) {
		uint64_t obj, newtype = 0;
		uint32_t tidx;
		struct ph_error *err;
		switch (scan_block(h, tc, pool, block, &obj, &tidx, &newtype)) {
		case SCAN_NONE:
			return NULL;
		case SCAN_FOUND:
			err = obj_add(h, obj, tidx, PH_OBJ_POOL_SCAN, NULL);
			if (!err)
				h->n_pool++;
			return err;
		case SCAN_LATER:
			if ((err = scan_register(h, newtype)))
				return err;
			break;
		}
	}
	return NULL;
}

static struct ph_error *scan_pools(struct ph_heap *h)
{
	enum { T = 2 };
	struct scan_ctx c[T];
	struct ph_error *err = NULL;
	bool threads = h->npools > 16;
	size_t start = h->n;
	for (int k = 0; k < T; k++) {
		c[k] = (struct scan_ctx){.h = h,
					 .lo = h->npools * (size_t)k / T,
					 .hi = h->npools * (size_t)(k + 1) / T,
					 .start = start};
		for (size_t i = c[k].lo; i < c[k].hi; i++)
			c[k].cap += h->pools[i].nblocks;
		start += c[k].cap;
	}
	if ((err = obj_reserve(h, start - h->n)))
		return err;
	for (int k = 0; k < T; k++) {
		c[k].addr = h->addr + c[k].start;
		c[k].tidx = h->tidx + c[k].start;
		c[k].size = h->size + c[k].start;
	}
	scan_sample_types(h);
	scan_run(c, T, threads);
	if (ph_interrupted()) {
		err = ph_error_interrupted();
		goto out;
	}
	/* The classes the threads met: registered here, alone. */
	size_t nnew = 0;
	for (int k = 0; k < T; k++) {
		if ((err = c[k].err))
			goto out;
		for (size_t i = 0; i < c[k].nnew; i++)
			if ((err = scan_register(h, c[k].newtypes[i])))
				goto out;
		nnew += c[k].nnew;
	}
	if (nnew) {
		for (int k = 0; k < T; k++)
			c[k].second = true;
		scan_run(c, T, threads);
	}

	/* Joined in address order; what is left is done here. The table is
	 * written below where it is read (each entry gives one object at
	 * most), so it is done in place. */
	for (int k = 0; k < T; k++) {
		for (size_t i = 0; i < c[k].n;) {
			/* a run of objects the thread found (pool bits set) */
			size_t j = i;
			while (j < c[k].n && !(c[k].addr[j] & 1))
				j++;
			if (j > i) {
				size_t run = j - i;
				memmove(h->addr + h->n, c[k].addr + i,
					run * sizeof(*h->addr));
				memmove(h->tidx + h->n, c[k].tidx + i,
					run * sizeof(*h->tidx));
				memmove(h->size + h->n, c[k].size + i,
					run * sizeof(*h->size));
				memset(h->flags + h->n, PH_OBJ_POOL_SCAN, run);
				h->n += run;
				h->n_pool += run;
			}
			if (j < c[k].n) {
				/* read before anything is written over it */
				uint64_t block = c[k].addr[j] & ~1ULL;
				if ((err = scan_block_alone(h, &c[k].tc,
							    block)))
					goto out;
				j++;
			}
			i = j;
		}
	}
out:
	for (int k = 0; k < T; k++) {
		free(c[k].newtypes);
		if (c[k].err && c[k].err != err)
			ph_error_destroy(c[k].err);
	}
	return err;
}

struct interned_check {
	struct ph_heap *h;
	int seen, ok;
};

static bool interned_check_cb(void *arg, uint64_t key, uint64_t value,
			      int64_t index)
{
	struct interned_check *c = arg;
	uint32_t state = 0;
	(void)index;
	ph_mem_u32(c->h->mem, key + c->h->L->str_state, &state);
	if (key == value && (state & 3))
		c->ok++;
	return ++c->seen >= 16;
}

/* The interned-strings table of 3.11 is a static dict whose every key is
 * an interned str that is its own value. */
static void find_interned(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	if (!L->interned_uncounted)
		return; /* 3.12+: interned strings are immortal, refs counted */
	uint64_t sym, dict = 0;
	if (ph_module_symbol(h->rt->pymod, "interned", &sym, NULL) &&
	    ph_mem_u64(h->mem, sym, &dict) && dict &&
	    ph_heap_lookup(h, dict) != PH_NONE) {
		h->interned_dict = dict;
		return;
	}
	for (size_t i = 0; i < h->n; i++) {
		const struct ph_type *t = &h->types[h->tidx[i]];
		if (t->kind != PH_KIND_DICT || t->heap ||
		    (h->flags[i] & PH_OBJ_GC_LIST))
			continue;
		if (rds64(h, h->addr[i] + L->dict_used) < 64)
			continue;
		struct interned_check c = {.h = h};
		dict_foreach(h, h->addr[i], interned_check_cb, &c);
		if (c.seen == 16 && c.ok == 16) {
			h->interned_dict = h->addr[i];
			return;
		}
	}
}

static void add_static_types(struct ph_heap *h)
{
	for (size_t i = 0; i < h->rt->nstatic_types; i++) {
		uint64_t t = h->rt->static_types[i];
		/* Types that were never readied have no refcount: skip. */
		if (type_register(h, t, 0) >= 0) {
			uint32_t ti;
			if (obj_validate(h, t, &ti))
				obj_add(h, t, ti, PH_OBJ_ROOT, NULL);
		}
	}
}

static void add_roots(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	uint64_t interp = h->rt->main_interp;
	add_root(h, rd64(h, interp + L->is_modules));
	add_root(h, rd64(h, interp + L->is_sysdict));
	add_root(h, rd64(h, interp + L->is_builtins));
	add_root(h, h->rt->none_addr);
	/* Each thread's frames: functions, globals and the value stack. */
	uint64_t ts = rd64(h, interp + L->is_threads_head);
	for (int nt = 0; ts && nt < 100000; nt++) {
		uint64_t f = ph_heap_thread_frame(h, ts);
		for (int nf = 0; f && nf < 100000; nf++) {
			if (L->frame_objects)
				add_root(h, f); /* up to 3.10 an object */
			ph_heap_iframe_referents(h, f, root_cb, h);
			f = rd64(h, f + L->if_previous);
		}
		ts = rd64(h, ts + L->ts_next);
	}
}

/* Is there a well-formed GC list head at head: an empty circle, or links
 * to a first and last element that link back to it? */
static bool gc_head_ok(struct ph_heap *h, uint64_t head)
{
	uint64_t next, prev, back;
	if (!ph_mem_u64(h->mem, head, &next) ||
	    !ph_mem_u64(h->mem, head + 8, &prev))
		return false;
	next &= ~3ULL;
	prev &= ~3ULL;
	if (next == head)
		return prev == head;
	if (!next || (next & 7) || !prev || (prev & 7))
		return false;
	/* the first element's prev and the last one's next lead back */
	if (!ph_mem_u64(h->mem, next + 8, &back) || (back & ~3ULL) != head)
		return false;
	return ph_mem_u64(h->mem, prev, &back) && (back & ~3ULL) == head;
}

/*
 * Where the generations start in the GC state. Patch releases moved them:
 * Debian's 3.13.5 declares PyGC_Head with a smaller alignment, which puts
 * them 4 bytes earlier than 3.13.0's headers say. The heads themselves
 * tell which offset is right.
 */
static uint32_t gc_generations_offset(struct ph_heap *h, uint64_t gc)
{
	const struct ph_layout *L = h->L;
	const uint32_t tries[] = {L->gc_generations, L->gc_generations - 4,
				  L->gc_generations + 4};
	for (size_t i = 0; i < PH_ARRAY_SIZE(tries); i++) {
		bool ok = true;
		for (uint32_t g = 0; ok && g < L->gc_ngens; g++)
			ok = gc_head_ok(h,
					gc + tries[i] +
						(uint64_t)g * L->gc_gen_stride);
		if (ok) {
			h->gc_generations = tries[i];
			return tries[i];
		}
	}
	return L->gc_generations;
}

struct ph_error *ph_heap_create(struct ph_runtime *rt, struct ph_heap **ret)
{
	struct ph_heap *h = calloc(1, sizeof(*h));
	if (!h)
		return ph_error_nomem();
	h->rt = rt;
	h->mem = &rt->target->mem;
	h->L = rt->layout;
	ph_u64map_init(&h->big_index);
	ph_u64map_init(&h->type_index);
	ph_u64map_init(&h->rejected);
	ph_u64map_init(&h->scan_rejected);
	h->pool_shift = (uint32_t)__builtin_ctz(rt->layout->pool_size);
	const struct ph_layout *L = h->L;
	struct ph_error *err;

	uint64_t dummy_ptr;
	if (ph_module_symbol(rt->pymod, "_PySet_Dummy", &dummy_ptr, NULL))
		h->set_dummy = rd64(h, dummy_ptr);

	ph_stage(NULL);
	err = find_pools(h);
	if (err)
		goto fail;
	detect_debug_hooks(h);
	ph_stage("pool headers");
	add_static_types(h);
	/* pymalloc's blocks next, in address order: most objects. */
	uint32_t base = (uint32_t)h->n;
	err = scan_pools(h);
	if (err)
		goto fail;
	pools_freeze(h, base);
	ph_stage("pool blocks");
	if (ph_interrupted()) {
		err = ph_error_interrupted();
		goto fail;
	}
	uint64_t bound = writable_bytes(h) / 16 + 1;
	uint64_t gc = rt->gc_state;
	uint32_t gens = gc_generations_offset(h, gc);
	for (uint32_t g = 0; g <= L->gc_ngens; g++) {
		/* the generations, then the permanent generation (4) */
		uint64_t head =
			g < L->gc_ngens
				? gc + gens + (uint64_t)g * L->gc_gen_stride
				: gc + L->gc_permanent;
		unsigned gen = g < L->gc_ngens ? g + 1 : 4;
		bool done = false;
		err = walk_gc_list_fast(h, head, bound, gen, &done);
		if (!err && !done)
			err = walk_gc_list(h, head, bound, gen);
		if (err)
			goto fail;
	}
	ph_stage("GC lists");
	add_roots(h);
	err = closure_parallel(h);
	if (err)
		goto fail;
	ph_stage("references");
	if (ph_interrupted()) {
		err = ph_error_interrupted();
		goto fail;
	}

	find_interned(h);
	*ret = h;
	return NULL;
fail:
	ph_heap_destroy(h);
	return err;
}

void ph_heap_destroy(struct ph_heap *h)
{
	if (!h)
		return;
	free(h->addr);
	free(h->tidx);
	free(h->size);
	free(h->flags);
	for (size_t i = 0; i < h->ntypes; i++) {
		free(h->types[i].name);
		free(h->types[i].slot_offsets);
		free(h->types[i].slot_names);
		free(h->types[i].c_offsets);
	}
	free(h->types);
	free(h->pools);
	ph_u64map_free(&h->big_index);
	ph_u64map_free(&h->type_index);
	ph_u64map_free(&h->rejected);
	ph_u64map_free(&h->scan_rejected);
	for (size_t i = 0; i < h->nregions; i++)
		free(h->regions[i].slots);
	free(h->regions);
	free(h);
}
