/*
 * kind_type.c - type objects: the table of types (each type met is
 * validated and registered once, with its kind, name, __slots__ and the
 * fields a C type adds), and the type kind's operations.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"

#define T_OBJECT 6
#define T_OBJECT_EX 16

/* ---- the table of types ----------------------------------------------- */

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
	uint64_t m =
		ph_dict_get_str(h, rd64(h, taddr + L->tp_dict), "__module__");
	bool have_mod =
		m &&
		rd64(h, m + L->ob_type) == h->rt->kind_types[PH_KIND_STR] &&
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
static void type_collect_c_fields(struct ph_type *t)
{
	int64_t from = t->kind_basicsize ? t->kind_basicsize : 16;
	if (t->kind == PH_KIND_OTHER || ph_kind_ops[t->kind]->by_name_base)
		from = t->base_basicsize; /* scanned as the C base anyway */
	/* (sizes read from a damaged type: no object header is shorter, no
	 * C struct a type adds is a MiB) */
	if (from < 16 || from > (1 << 20) || t->basicsize > (1 << 20))
		return;
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

/* Do objects of type t refer to nothing but t? (as ph_heap_referents sees
 * them: a kind with no references, from C, with nothing added below it) */
static bool type_is_leaf(const struct ph_type *t)
{
	const struct ph_kind_ops *k = ph_kind_ops[t->kind];
	return !k->referents && !k->nfields && !t->heap &&
	       !(t->kind_basicsize && t->base_basicsize > t->kind_basicsize);
}

/* The kind of a C type of the standard library known by its name (not
 * exported; static up to 3.11, made from a spec since: a class's tp_name
 * has no module, so it cannot pass for one), else 0. */
static bool name_is(struct ph_heap *h, uint64_t name, const char *want)
{
	size_t len = strlen(want) + 1; /* the NUL too: all of it */
	const char *nm = ph_mem_ptr(h->mem, name, len);
	return nm && !memcmp(nm, want, len);
}

/* Is name PREFIX...MODULE.NAME, NAME one of names? */
static bool name_in_module(struct ph_heap *h, uint64_t name, const char *prefix,
			   const char *const *names)
{
	size_t plen = strlen(prefix);
	const char *nm = ph_mem_ptr(h->mem, name, plen);
	if (!nm || memcmp(nm, prefix, plen))
		return false;
	/* (a module name of a few more characters, then the dot) */
	for (size_t i = plen; i < plen + 16; i++) {
		const char *c = ph_mem_ptr(h->mem, name + i, 1);
		if (!c || !*c)
			return false;
		if (*c != '.')
			continue;
		for (size_t j = 0; names && names[j]; j++)
			if (name_is(h, name + i + 1, names[j]))
				return true;
		return false;
	}
	return false;
}

static int kind_by_name(struct ph_heap *h, uint64_t taddr)
{
	uint64_t name = rd64(h, taddr + h->L->tp_name);
	/* a name without a module (StgDict) may be a class's: only a
	 * static type's counts */
	bool heap = rd64(h, taddr + h->L->tp_flags) & PH_TPFLAGS_HEAPTYPE;
	for (int k = 1; k < PH_KIND_COUNT; k++) {
		const struct ph_kind_ops *ops = ph_kind_ops[k];
		if (ops->by_name && name_is(h, name, ops->by_name) &&
		    (!heap || strchr(ops->by_name, '.')))
			return k;
		for (size_t i = 0; ops->by_names && ops->by_names[i]; i++)
			if (name_is(h, name, ops->by_names[i]) &&
			    (!heap || strchr(ops->by_names[i], '.')))
				return k;
		if (heap && ops->by_module_prefix &&
		    name_in_module(h, name, ops->by_module_prefix,
				   ops->by_names))
			return k;
	}
	return 0;
}

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
	int64_t refcnt = ph_hdr_refcnt(L, hdr);
	uint64_t meta = ph_hdr_type(L, hdr);
	if (refcnt <= 0 || (uint64_t)refcnt >= PH_MAX_REFCNT)
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
		int nk = kind_by_name(h, cur);
		if (nk) {
			t.kind = static_seen && !ph_kind_ops[nk]->by_name_base
					 ? PH_KIND_OTHER
					 : nk;
			t.kind_basicsize = rds64(h, cur + L->tp_basicsize);
			if (!static_seen)
				t.base_basicsize = t.kind_basicsize;
			break;
		}
		if (!(fl & PH_TPFLAGS_HEAPTYPE) && !static_seen) {
			/* The first C base fixes the layout we can scan. */
			t.base_basicsize = rds64(h, cur + L->tp_basicsize);
			static_seen = true;
		}
		cur = rd64(h, cur + L->tp_base);
	}
	const struct ph_kind_ops *ops = ph_kind_ops[t.kind];
	t.presize = (t.flags & PH_TPFLAGS_HAVE_GC ? L->gc_head_size : 0) +
		    (t.flags & L->preheader_flags ? L->managed_presize : 0);
	memcpy(&t.weaklistoffset, (const uint8_t *)hdr + L->tp_weaklistoffset,
	       8);
	if (t.heap) {
		type_collect_slots(h, &t);
		type_collect_c_fields(&t);
	}
	t.leaf = type_is_leaf(&t);
	t.may_be_static = ops->is_static != NULL;
	/* (inline values are sized by the keys at allocation, which their
	 * capacity does not always tell) */
	t.fills_class = ops->fixed_size && !t.itemsize &&
			!(t.flags & PH_TPFLAGS_INLINE_VALUES);
	/* A float: its checks and size are its type's (as the contents check
	 * and the size find them for the built-in type: no items, no GC, a
	 * fixed size class). */
	if (ops->fixed_by_type && !t.heap && !t.itemsize &&
	    !(t.flags & (PH_TPFLAGS_HAVE_GC | PH_TPFLAGS_INLINE_VALUES)) &&
	    t.basicsize > 0 && t.basicsize < 4096)
		t.fixed_need = t.presize + (uint32_t)t.basicsize;
	if (ops->type_init)
		ops->type_init(h, &t);
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

int64_t ph_type_register(struct ph_heap *h, uint64_t taddr)
{
	return type_register(h, taddr, 0);
}

void ph_type_table_free(struct ph_heap *h)
{
	for (size_t i = 0; i < h->ntypes; i++) {
		free(h->types[i].name);
		free(h->types[i].slot_offsets);
		free(h->types[i].slot_names);
		free(h->types[i].c_offsets);
	}
	free(h->types);
	ph_u64map_free(&h->type_index);
}

/* The kind whose own type (not a subtype) cls is, else 0. */
static int kind_of_type(struct ph_heap *h, uint64_t cls)
{
	for (int k = 1; k < PH_KIND_COUNT; k++)
		if (type_of_kind(h, cls, k))
			return k;
	for (size_t e = 0; e < h->rt->nextra; e++)
		if (cls == h->rt->extra_types[e])
			return h->rt->extra_kinds[e];
	return kind_by_name(h, cls);
}

bool ph_type_size_exact(struct ph_heap *h, const struct ph_type *t)
{
	const struct ph_layout *L = h->L;
	if (t->kind == PH_KIND_NPSCALAR && !t->kind_data)
		return false; /* a flexible scalar (numpy.void) */
	uint64_t mro = rd64(h, t->addr + L->tp_mro);
	uint64_t tuple = h->rt->kind_types[PH_KIND_TUPLE];
	if (!mro || rd_ob_type(h, mro) != tuple)
		return true; /* (not readied: no __sizeof__ was looked up) */
	int64_t n = rd_ob_size(h, mro);
	for (int64_t i = 0; i < n && i < 256; i++) {
		uint64_t cls = rd64(h, mro + L->tuple_items + 8 * (uint64_t)i);
		/* (3.12+: a static built-in type's dict is the interpreter's,
		 * not read here; those are all py-heap's kinds or object) */
		uint64_t dict = cls ? rd64(h, cls + L->tp_dict) : 0;
		int64_t dt =
			dict ? ph_heap_type_of(h, rd_ob_type(h, dict)) : -1;
		if (dt < 0 || (h->types[dt].kind != PH_KIND_DICT &&
			       h->types[dt].kind != PH_KIND_STGDICT))
			continue; /* (a ctypes class's dict is a StgDict) */
		uint64_t fn = ph_dict_get_str(h, dict, "__sizeof__");
		if (!fn)
			continue;
		if (cls == h->rt->kind_types[PH_KIND_OBJECT])
			return true;
		/* a C method (method_descriptor) of the type whose kind
		 * sizes t (numpy.bytes_ is sized as bytes, but its
		 * __sizeof__ is numpy.generic's) */
		const char *want = "method_descriptor";
		const char *nm = ph_mem_ptr(
			h->mem, rd64(h, rd_ob_type(h, fn) + L->tp_name),
			strlen(want) + 1);
		if (!nm || memcmp(nm, want, strlen(want) + 1))
			return false; /* Python code, a Cython function... */
		int kc = kind_of_type(h, cls);
		if (kc && kc == (int)t->kind)
			return true;
		/* a built-in type's, for a built-in kind (bool's is int's) */
		return kc && cls == h->rt->kind_types[kc] &&
		       h->rt->kind_types[t->kind];
	}
	return true;
}

int64_t ph_heap_type_of(struct ph_heap *h, uint64_t type_addr)
{
	uint32_t *v = ph_u64map_get(&h->type_index, type_addr);
	return v ? (int64_t)*v : -1;
}

bool ph_type_looks_like(struct ph_heap *h, uint64_t tp)
{
	const uint64_t *hdr = ph_mem_ptr(h->mem, tp, h->L->sizeof_type);
	if (!hdr || !ph_refcnt_ok(h->L, hdr, false))
		return false;
	uint64_t meta = ph_hdr_type(h->L, hdr);
	if (!meta || (meta & 7))
		return false;
	/* its type: a metaclass (as ph_type_register requires) */
	if (meta == h->rt->kind_types[PH_KIND_TYPE])
		return true;
	uint64_t flags;
	return ph_mem_u64(h->mem, meta + h->L->tp_flags, &flags) &&
	       (flags & PH_TPFLAGS_TYPE_SUBCLASS);
}

/* ---- type objects ----------------------------------------------------- */

static bool type_is_static(struct ph_heap *h, uint64_t addr)
{
	return !(rd64(h, addr + h->L->tp_flags) & PH_TPFLAGS_HEAPTYPE);
}

/* sys.getsizeof(type): PyHeapTypeObject and the shared keys it caches
 * for its instances; a static type its PyTypeObject. */
static uint64_t type_size(struct ph_heap *h, uint64_t addr,
			  const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	if (type_is_static(h, addr)) {
		/* 3.13+: sys.getsizeof() adds its type's pre-header unless it
		 * is type itself (a numpy DType class's, _DTypeMeta's GC head:
		 * 16 bytes short on 3.14); up to 3.10 none: it adds a GC
		 * head only if _PyObject_IS_GC(), and type_is_gc says a
		 * static type has none (ctypes.Structure, of the GC metatype
		 * PyCStructType: 416 on 3.8, py-heap said 432) */
		uint64_t extra = L->static_type_extra;
		if (!extra && L->minor >= 13 &&
		    t->addr != h->rt->kind_types[PH_KIND_TYPE])
			extra = t->presize;
		return L->sizeof_type + extra;
	}
	uint64_t size = L->sizeof_heaptype;
	uint64_t ck = rd64(h, addr + L->ht_cached_keys);
	if (ck)
		size += ph_dict_keys_size(h, ck);
	return size;
}

static uint64_t type_inline_size(struct ph_heap *h, uint64_t addr,
				 const struct ph_type *t, int64_t ob_size)
{
	if (type_is_static(h, addr))
		return h->L->sizeof_type;
	return ph_inline_size_generic(h, addr, t, ob_size);
}

static void type_referents(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size,
			   ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	ph_ref_field(h, addr, L->tp_dict, "__dict__", fn, arg);
	/* 3.8-3.12: a ctypes type's dict is a StgDict, which owns proto (the
	 * pointed-to or item type), but CDataType_traverse visits it from the
	 * type: gc.get_referrers() names the type (dict_traverse does not) */
	uint64_t d = rd64(h, addr + L->tp_dict);
	int64_t dt =
		d && L->stgdict_proto ? ph_heap_type_of(h, rd64(h, d + 8)) : -1;
	if (dt >= 0 && h->types[dt].kind == PH_KIND_STGDICT)
		ph_ref_field(h, d, L->stgdict_proto, "proto", fn, arg);
	ph_ref_field(h, addr, L->tp_mro, "__mro__", fn, arg);
	ph_ref_field(h, addr, L->tp_bases, "__bases__", fn, arg);
	ph_ref_field(h, addr, L->tp_base, "__base__", fn, arg);
	ph_ref_field(h, addr, L->tp_subclasses, "__subclasses__", fn, arg);
	if (type_is_static(h, addr))
		return;
	ph_ref_field(h, addr, L->ht_name, "__name__", fn, arg);
	ph_ref_field(h, addr, L->ht_qualname, "__qualname__", fn, arg);
	ph_ref_field(h, addr, L->ht_slots, "__slots__", fn, arg);
	ph_ref_field(h, addr, L->ht_module, "ht_module", fn, arg);
	uint64_t ck = rd64(h, addr + L->ht_cached_keys);
	struct ph_keys_geom kg;
	if (ck && ph_keys_geom(h, ck, &kg)) {
		/* Attribute names shared by instances. */
		int64_t n = kg.nentries;
		if (n > 0 && n < 4096) {
			for (int64_t i = 0; i < n; i++) {
				uint64_t k = rd64(
					h, kg.entries + (uint64_t)i * kg.esize +
						   kg.key_off);
				if (k)
					fn(arg, k, PH_EDGE_FIELD,
					   (uint64_t)(uintptr_t) "<cached "
								 "key>");
			}
		}
	}
}

static void type_repr(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		      struct ph_buf *out)
{
	int64_t ti = ph_heap_type_of(h, addr);
	ph_buf_printf(out, "<class '%s'>",
		      ti >= 0 ? ph_type_name(&h->types[ti]) : "?");
}

/* A metaclass's tp_dictoffset is type's own tp_dict, given already. */
static bool type_own_dict_at(struct ph_heap *h, int64_t off)
{
	return off == h->L->tp_dict;
}

const struct ph_kind_ops ph_kind_type = {
	.size = type_size,
	.inline_size = type_inline_size,
	.referents = type_referents,
	.repr = type_repr,
	.is_static = type_is_static,
	.own_dict_at = type_own_dict_at,
};
