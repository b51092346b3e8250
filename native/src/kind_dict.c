/*
 * kind_dict.c - dicts and OrderedDicts: their keys tables (3.8-3.10's
 * dk_size ones, 3.11+'s dk_log2_size ones, general or str-keyed),
 * combined or split, and the interned-strings dict.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"

/*
 * A keys table's header: its bytes when they are there in one piece (the
 * pool scan's case: one lookup instead of one a field), else read field
 * by field as before. Either way a field reads the same.
 */
struct keys_hdr {
	struct ph_heap *h;
	uint64_t keys;
	const uint8_t *k; /* L->sizeof_dictkeys bytes at keys, or NULL */
};

static inline struct keys_hdr keys_hdr(struct ph_heap *h, uint64_t keys)
{
	return (struct keys_hdr){
		h, keys, ph_mem_ptr(h->mem, keys, h->L->sizeof_dictkeys)};
}

static inline int64_t kh64(const struct keys_hdr *r, uint32_t off)
{
	uint64_t v;
	if (!r->k)
		return rds64(r->h, r->keys + off);
	memcpy(&v, r->k + off, 8);
	return (int64_t)v;
}

static inline uint8_t kh8(const struct keys_hdr *r, uint32_t off)
{
	return r->k ? r->k[off] : rd8(r->h, r->keys + off);
}

static bool keys_geom(const struct keys_hdr *r, struct ph_keys_geom *g)
{
	const struct ph_layout *L = r->h->L;
	uint64_t size, index_bytes;
	uint8_t kind = 0;
	if (!r->keys)
		return false;
	if (L->dk_size) {
		/* 3.8-3.10: dk_size slots, indices as wide as it needs */
		size = (uint64_t)kh64(r, L->dk_size);
		if (!size || size > (1ULL << 40) || (size & (size - 1)))
			return false;
		index_bytes = size * (size <= 0xff	      ? 1
				      : size <= 0xffff	      ? 2
				      : size <= 0xffffffffULL ? 4
							      : 8);
	} else {
		uint8_t log2_size = kh8(r, L->dk_log2_size);
		uint8_t log2_index = kh8(r, L->dk_log2_index_bytes);
		kind = kh8(r, L->dk_kind);
		if (log2_size > 40 || log2_index > 43 || kind > 2)
			return false;
		size = 1ULL << log2_size;
		index_bytes = 1ULL << log2_index;
	}
	uint64_t usable = (size << 1) / 3;
	int64_t nentries = kh64(r, L->dk_nentries);
	if (nentries < 0 || (uint64_t)nentries > usable + 1)
		return false;
	/* 3.11+ str-keyed tables keep {key, value} only */
	g->esize = kind == 0 ? 24 : 16;
	g->key_off = kind == 0 ? 8 : 0;
	g->value_off = g->key_off + 8;
	g->entries = r->keys + L->dk_indices + index_bytes;
	g->nentries = nentries;
	g->bytes = L->sizeof_dictkeys + index_bytes + usable * g->esize;
	return true;
}

bool ph_keys_geom(struct ph_heap *h, uint64_t keys, struct ph_keys_geom *g)
{
	struct keys_hdr r = keys_hdr(h, keys);
	return keys_geom(&r, g);
}

void ph_dict_foreach(struct ph_heap *h, uint64_t dict, ph_dict_entry_fn fn,
		     void *arg)
{
	const struct ph_layout *L = h->L;
	uint64_t keys = rd64(h, dict + L->dict_keys);
	uint64_t values = rd64(h, dict + L->dict_values);
	struct ph_keys_geom kg;
	if (!ph_keys_geom(h, keys, &kg))
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

uint64_t ph_dict_get_str(struct ph_heap *h, uint64_t dict, const char *name)
{
	struct dict_lookup d = {.h = h, .name = name};
	if (dict)
		ph_dict_foreach(h, dict, dict_lookup_cb, &d);
	return d.found;
}

uint64_t ph_dict_keys_size(struct ph_heap *h, uint64_t keys)
{
	struct ph_keys_geom kg;
	return ph_keys_geom(h, keys, &kg) ? kg.bytes : 0;
}

/* Is there a plausible keys table at keys (its header r): its sizes
 * consistent with each other, and all of it readable? */
static bool dict_keys_ok_geom(const struct keys_hdr *r,
			      struct ph_keys_geom *ret_kg)
{
	const struct ph_layout *L = r->h->L;
	const uint8_t *k = r->k;
	struct ph_keys_geom kg;
	if (!k || !keys_geom(r, &kg))
		return false;
	*ret_kg = kg;
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
	return ph_mem_ptr(r->h->mem, r->keys, kg.bytes) != NULL;
}

static bool dict_keys_ok(struct ph_heap *h, uint64_t keys)
{
	struct keys_hdr r = keys_hdr(h, keys);
	struct ph_keys_geom kg;
	return dict_keys_ok_geom(&r, &kg);
}

/* ---- dict ------------------------------------------------------------- */

/* sys.getsizeof(dict): the struct, a split dict's values, and the keys
 * (their header r) when the dict owns them (dk_refcnt 1), whose size is
 * keys_bytes when the caller worked it out (else -1). */
static uint64_t dict_size_keys(struct ph_heap *h, uint64_t addr,
			       const struct ph_type *t,
			       const struct keys_hdr *r, int64_t keys_bytes)
{
	const struct ph_layout *L = h->L;
	int64_t size = t->basicsize;
	if (rd64(h, addr + L->dict_values) && L->dk_size)
		/* 3.8-3.10: a value slot per usable entry */
		size += 8 * (int64_t)((c40(kh64(r, L->dk_size)) << 1) / 3);
	else if (rd64(h, addr + L->dict_values))
		size += 8 * (c40(kh64(r, L->dk_nentries)) +
			     c40(kh64(r, L->dk_usable)));
	if (kh64(r, L->dk_refcnt) == 1)
		size += keys_bytes >= 0
				? keys_bytes
				: (int64_t)ph_dict_keys_size(h, r->keys);
	return (uint64_t)size;
}

static uint64_t dict_size(struct ph_heap *h, uint64_t addr,
			  const struct ph_type *t, int64_t ob_size)
{
	struct keys_hdr r = keys_hdr(h, rd64(h, addr + h->L->dict_keys));
	return dict_size_keys(h, addr, t, &r, -1);
}

static bool dict_contents_ok(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	uint64_t keys = rd64(h, addr + L->dict_keys);
	int64_t used = rds64(h, addr + L->dict_used);
	return dict_keys_ok(h, keys) && used >= 0 &&
	       used <= rds64(h, keys + L->dk_nentries);
}

/* The two above with the keys' layout worked out once (twice was ~690
 * instructions a dict): the same answers. */
static bool dict_scan_sizes(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size,
			    uint64_t *ret_inline, uint64_t *ret_size)
{
	const struct ph_layout *L = h->L;
	struct keys_hdr r = keys_hdr(h, rd64(h, addr + L->dict_keys));
	int64_t used = rds64(h, addr + L->dict_used);
	struct ph_keys_geom kg;
	if (!dict_keys_ok_geom(&r, &kg) || used < 0 || used > kg.nentries)
		return false;
	*ret_inline = ph_inline_size_generic(h, addr, t, ob_size);
	*ret_size = dict_size_keys(h, addr, t, &r, (int64_t)kg.bytes);
	return true;
}

struct referent_ctx {
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

static void dict_referents(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size,
			   ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	struct referent_ctx rc = {.fn = fn, .arg = arg};
	if (L->interned_uncounted && ph_heap_is_interned_dict(h, addr)) {
		/* 3.11 does not count the interned dict's references in the
		 * strings' refcounts: they keep nothing alive. */
		ph_dict_foreach(h, addr, interned_ref_cb, &rc);
		return;
	}
	/* A split dict's keys belong to the shared keys object. */
	ph_dict_foreach(h, addr,
			rd64(h, addr + L->dict_values) ? dict_value_cb
						       : dict_ref_cb,
			&rc);
}

static void dict_repr(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		      struct ph_buf *out)
{
	ph_buf_printf(out, "<%s of %llu items>", ph_type_name(t),
		      (unsigned long long)rd64(h, addr + h->L->dict_used));
}

const struct ph_kind_ops ph_kind_dict = {
	.size = dict_size,
	.contents_ok = dict_contents_ok,
	.scan_sizes = dict_scan_sizes,
	.referents = dict_referents,
	.repr = dict_repr,
	.fixed_size = true,
};

/* ---- OrderedDict ------------------------------------------------------ */

/* A dict, and its fast-nodes array (od_fast_nodes_size) and a node per
 * item: after the dict's struct, od_first at +0 and the array's size at
 * +24. */
static uint64_t odict_size(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	int64_t size = (int64_t)dict_size(h, addr, t, ob_size);
	size += 8 * c40(rds64(h, addr + L->sizeof_dict + 24));
	if (rd64(h, addr + L->sizeof_dict))
		size += 32 * c40(rds64(h, addr + L->dict_used));
	return (uint64_t)size;
}

static void odict_referents(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size,
			    ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	dict_referents(h, addr, t, ob_size, fn, arg);
	if (L->interned_uncounted && ph_heap_is_interned_dict(h, addr))
		return;
	ph_ref_conservative(h, addr, L->sizeof_dict, t->base_basicsize, fn,
			    arg);
	/* Each node of the order list holds its key. */
	uint64_t node = rd64(h, addr + L->sizeof_dict);
	int64_t used = rds64(h, addr + L->dict_used);
	for (int64_t k = 0; node && k <= used && k < (1 << 26); k++) {
		uint64_t key = rd64(h, node);
		if (key)
			fn(arg, key, PH_EDGE_FIELD,
			   (uint64_t)(uintptr_t) "<order node key>");
		node = rd64(h, node + 16);
	}
}

const struct ph_kind_ops ph_kind_odict = {
	.size = odict_size,
	.contents_ok = dict_contents_ok,
	.referents = odict_referents,
	.repr = dict_repr,
	.own_c_tail = true,
};

/* ---- ctypes' StgDict -------------------------------------------------- */

/* PyCStgDict_sizeof (3.8-3.12): the dict's size, which counts the whole
 * struct already, and the struct past the dict once more; its format
 * string, its shape (ndim), and its ffi elements' array when it has one. */
static uint64_t stgdict_size(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	uint64_t size = dict_size(h, addr, t, ob_size);
	if (!L->sizeof_stgdict)
		return size;
	size += L->sizeof_stgdict - L->sizeof_dict;
	uint64_t format = rd64(h, addr + L->stgdict_format);
	if (format) {
		/* (a format is a short string: 4 KiB bounds it) */
		uint64_t n = 0;
		while (n < 4096 && ph_mem_ptr(h->mem, format + n, 1) &&
		       rd8(h, format + n))
			n++;
		size += n + 1;
	}
	int64_t ndim = (int32_t)rd32(h, addr + L->stgdict_ndim);
	if (ndim > 0 && ndim < 1024)
		size += 8 * (uint64_t)ndim;
	if (rd64(h, addr + L->stgdict_elements))
		size += 8 *
			(uint64_t)(c40(rds64(h, addr + L->stgdict_length)) + 1);
	return size;
}

/* The dict's, and the fields PyCStgDict_clear releases but proto, which
 * its type reports (type_referents: CDataType_traverse visits it there). */
static void stgdict_referents(struct ph_heap *h, uint64_t addr,
			      const struct ph_type *t, int64_t ob_size,
			      ph_referent_fn fn, void *arg)
{
	static const char *const names[] = {"argtypes", "converters", "restype",
					    "checker"};
	const struct ph_layout *L = h->L;
	dict_referents(h, addr, t, ob_size, fn, arg);
	for (size_t i = 0; i < 4; i++)
		ph_ref_field(h, addr, L->stgdict_fields[i], names[i], fn, arg);
}

const struct ph_kind_ops ph_kind_stgdict = {
	.size = stgdict_size,
	.contents_ok = dict_contents_ok,
	.referents = stgdict_referents,
	.repr = dict_repr,
	.by_name = "StgDict",
	.own_c_tail = true,
};

/* ---- the interned strings --------------------------------------------- */

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

/* 3.13+: each interpreter's interned dict is in its state (an isolated
 * subinterpreter has its own; one that shares the main allocator, the
 * main one's). Returns whether the main one's was found there. */
static bool find_interned_per_interp(struct ph_heap *h)
{
	const struct ph_runtime *rt = h->rt;
	if (!h->L->is_interned)
		return false;
	h->interned_more = calloc(rt->ninterps, sizeof(*h->interned_more));
	for (size_t k = 0; h->interned_more && k < rt->ninterps; k++) {
		uint64_t d = 0;
		if (!ph_mem_u64(h->mem, rt->interps[k].addr + h->L->is_interned,
				&d) ||
		    !d || ph_heap_lookup(h, d) == PH_NONE)
			continue;
		if (k == 0)
			h->interned_dict = d;
		else if (d != h->interned_dict)
			h->interned_more[h->ninterned_more++] = d;
	}
	return h->interned_dict != 0;
}

/* The interned-strings table (every version but 3.12, whose interned
 * strings are immortal) is a static dict whose every key is an interned
 * str that is its own value: by its symbol, else by that shape. */
void ph_heap_find_interned(struct ph_heap *h)
{
	const struct ph_layout *L = h->L;
	if (!L->interned_uncounted)
		return; /* 3.12: interned strings are immortal, refs counted */
	if (find_interned_per_interp(h))
		return;
	uint64_t dict = 0;
	if (h->rt->interned_sym &&
	    ph_mem_u64(h->mem, h->rt->interned_sym, &dict) && dict &&
	    ph_heap_lookup(h, dict) != PH_NONE) {
		h->interned_dict = dict;
		return;
	}
	for (size_t i = 0; i < h->n; i++) {
		const struct ph_type *t = ph_obj_type(h, i);
		if (t->kind != PH_KIND_DICT || t->heap ||
		    (h->flags[i] & PH_OBJ_GC_LIST))
			continue;
		if (rds64(h, h->addr[i] + L->dict_used) < 64)
			continue;
		struct interned_check c = {.h = h};
		ph_dict_foreach(h, h->addr[i], interned_check_cb, &c);
		if (c.seen == 16 && c.ok == 16) {
			h->interned_dict = h->addr[i];
			return;
		}
	}
}
