/*
 * kinds.c - the object model's entry points: sizes, contents checks,
 * references and reprs of any object, through the table of its kind's
 * operations (kinds.h), plus what every object shares: its type, its
 * pre-header, and what a class adds to the kind it derives from
 * (__slots__, a __dict__ or inline values, a C subtype's fields).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"

const char ph_class_field[] = "__class__";

const struct ph_kind_ops *const ph_kind_ops[PH_KIND_COUNT] = {
#define PH_KIND_OPS(kind, ops, symbol) [PH_KIND_##kind] = &ph_kind_##ops,
	PH_KINDS(PH_KIND_OPS)
#undef PH_KIND_OPS
};

/* ---- sizes and checks ------------------------------------------------- */

bool ph_obj_is_static(struct ph_heap *h, uint64_t addr, const struct ph_type *t)
{
	const struct ph_kind_ops *k = ph_kind_ops[t->kind];
	return k->is_static && k->is_static(h, addr);
}

uint64_t ph_obj_sizeof(struct ph_heap *h, uint64_t addr,
		       const struct ph_type *t)
{
	const struct ph_kind_ops *k = ph_kind_ops[t->kind];
	int64_t ob_size = rds64(h, addr + h->L->ob_type + 8);
	uint64_t size = k->size ? k->size(h, addr, t, ob_size)
				: ph_size_generic(t, ob_size);
	return size + ph_obj_presize(h, addr, t);
}

uint64_t ph_inline_size_generic(struct ph_heap *h, uint64_t addr,
				const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	uint64_t need = (uint64_t)t->basicsize;
	if (t->itemsize)
		need += (uint64_t)abs40(ob_size) * (uint64_t)t->itemsize;
	if ((t->flags & PH_TPFLAGS_INLINE_VALUES) && L->values_header) {
		/* 3.13: header, values, then their insertion order */
		uint64_t cap = rd8(h, addr + (uint64_t)t->basicsize);
		need += L->values_header + 8 * cap + ((cap + 7) & ~7ULL);
	}
	return need;
}

uint64_t ph_obj_inline_size(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size)
{
	const struct ph_kind_ops *k = ph_kind_ops[t->kind];
	if (k->inline_size)
		return k->inline_size(h, addr, t, ob_size);
	return ph_inline_size_generic(h, addr, t, ob_size);
}

uint64_t ph_heap_inline_size(struct ph_heap *h, uint64_t addr, uint32_t tidx)
{
	return ph_obj_inline_size(h, addr, &h->types[tidx],
				  rds64(h, addr + h->L->ob_type + 8));
}

bool ph_obj_contents_ok(struct ph_heap *h, uint64_t addr,
			const struct ph_type *t, int64_t ob_size)
{
	const struct ph_kind_ops *k = ph_kind_ops[t->kind];
	return !k->contents_ok || k->contents_ok(h, addr, t, ob_size);
}

/* ph_obj_scan_sizes of a kind without its own scan_sizes: apart, so that
 * the commonest call (a kind's own, from the pool scan) is a jump, with no
 * registers saved for the paths here. */
static __attribute__((noinline)) bool
scan_sizes_ops(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
	       int64_t ob_size, uint64_t *ret_inline, uint64_t *ret_size,
	       const struct ph_kind_ops *k)
{
	if (k->contents_ok && !k->contents_ok(h, addr, t, ob_size))
		return false;
	if (!k->size && !k->inline_size &&
	    !((t->flags & PH_TPFLAGS_INLINE_VALUES) && h->L->values_header)) {
		/* both the struct and its items */
		*ret_inline = *ret_size = ph_size_generic(t, ob_size);
		return true;
	}
	if (k->inline_size)
		*ret_inline = k->inline_size(h, addr, t, ob_size);
	else
		*ret_inline = ph_inline_size_generic(h, addr, t, ob_size);
	if (k->size)
		*ret_size = k->size(h, addr, t, ob_size);
	else if (!k->inline_size && !((t->flags & PH_TPFLAGS_INLINE_VALUES) &&
				      h->L->values_header))
		*ret_size = *ret_inline; /* both basicsize and items */
	else
		*ret_size = ph_size_generic(t, ob_size);
	return true;
}

bool ph_obj_scan_sizes(struct ph_heap *h, uint64_t addr,
		       const struct ph_type *t, int64_t ob_size,
		       uint64_t *ret_inline, uint64_t *ret_size)
{
	const struct ph_kind_ops *k = ph_kind_ops[t->kind];
	if (k->scan_sizes)
		return k->scan_sizes(h, addr, t, ob_size, ret_inline, ret_size);
	return scan_sizes_ops(h, addr, t, ob_size, ret_inline, ret_size, k);
}

/* ---- references ------------------------------------------------------- */

void ph_ref_items(struct ph_heap *h, uint64_t arr, int64_t n, ph_referent_fn fn,
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

void ph_ref_conservative(struct ph_heap *h, uint64_t addr, int64_t from,
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

/* An instance's attributes in a managed dict or in values (3.11+). */
static void managed_dict_referents(struct ph_heap *h, uint64_t addr,
				   const struct ph_type *t, ph_referent_fn fn,
				   void *arg)
{
	const struct ph_layout *L = h->L;
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
		/* 3.13: the dict (or NULL) before the GC head (none in
		 * free-threaded builds); the values inline after the
		 * object, when still valid */
		dict = rd64(h, addr - 8 - L->gc_head_size);
		values = 0;
		if ((t->flags & PH_TPFLAGS_INLINE_VALUES) &&
		    rd8(h, addr + (uint64_t)t->basicsize + 3))
			values = addr + (uint64_t)t->basicsize +
				 L->values_header;
	}
	/* The instances of one class share its keys: their geometry is
	 * read once per class and memory image, by each thread. */
	static __thread struct {
		uint64_t mem_id, type;
		bool ok;
		struct ph_keys_geom kg;
	} kc __attribute__((tls_model("initial-exec")));
	if (values && (kc.mem_id != h->mem->id || kc.type != t->addr)) {
		kc.ok = ph_keys_geom(h, rd64(h, t->addr + L->ht_cached_keys),
				     &kc.kg);
		kc.mem_id = h->mem->id;
		kc.type = t->addr;
	}
	if (values && kc.ok) {
		const struct ph_keys_geom kg = kc.kg;
		int64_t n = kg.nentries;
		/* both arrays at once when they are there (most often) */
		const uint8_t *vp =
			n > 0 && n < 4096
				? ph_mem_ptr(h->mem, values, (size_t)n * 8)
				: NULL;
		const uint8_t *ep = vp ? ph_mem_ptr(h->mem, kg.entries,
						    (size_t)(n - 1) * kg.esize +
							    kg.key_off + 8)
				       : NULL;
		for (int64_t i = 0; ep && i < n; i++) {
			uint64_t v, k;
			memcpy(&v, vp + i * 8, 8);
			memcpy(&k, ep + (size_t)i * kg.esize + kg.key_off, 8);
			if (v)
				fn(arg, v, PH_EDGE_ATTR, k);
		}
		if (!ep && n > 0 && n < 4096) {
			for (int64_t i = 0; i < n; i++) {
				uint64_t v = rd64(h, values + (uint64_t)i * 8);
				uint64_t k = rd64(
					h, kg.entries + (uint64_t)i * kg.esize +
						   kg.key_off);
				if (v)
					fn(arg, v, PH_EDGE_ATTR, k);
			}
		}
	}
	if (dict)
		fn(arg, dict, PH_EDGE_FIELD, (uint64_t)(uintptr_t) "__dict__");
}

static inline __attribute__((always_inline)) void
heap_referents(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
	       ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	const struct ph_kind_ops *k = ph_kind_ops[t->kind];
	int64_t ob_size = rds64(h, addr + L->ob_type + 8);
	int64_t base_end = t->base_basicsize;

	fn(arg, rd64(h, addr + L->ob_type), PH_EDGE_FIELD,
	   (uint64_t)(uintptr_t)ph_class_field);
	for (uint32_t i = 0; i < k->nfields; i++)
		ph_ref_field(h, addr, ph_hdr_shift(L) + k->fields[i].off,
			     k->fields[i].name, fn, arg);
	if (k->referents)
		k->referents(h, addr, t, ob_size, fn, arg);

	/* A C type below a known kind: what it adds is unknown. */
	if (!k->own_c_tail && t->kind_basicsize &&
	    base_end > t->kind_basicsize &&
	    !(t->kind == PH_KIND_TYPE &&
	      ph_numpy_dtypemeta_referents(h, addr, t, fn, arg)))
		ph_ref_conservative(h, addr, t->kind_basicsize, base_end, fn,
				    arg);
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
		managed_dict_referents(h, addr, t, fn, arg);
	} else if (t->dictoffset > 0 && t->dictoffset < t->basicsize &&
		   !(k->own_dict_at && k->own_dict_at(h, t->dictoffset)) &&
		   /* a dict inside the kind's own struct (a module's, a
		    * classmethod's, an exception's...) is the kind's to
		    * report: a subclass inherits its tp_dictoffset (Django's
		    * classonlymethod: its dict was counted twice) */
		   !((k->referents || k->nfields) &&
		     t->dictoffset < t->kind_basicsize)) {
		ph_ref_field(h, addr, (uint32_t)t->dictoffset, "__dict__", fn,
			     arg);
	} else if (t->dictoffset < 0) {
		int64_t tsize = abs40(ob_size);
		int64_t size = t->basicsize + tsize * t->itemsize;
		size = (size + 7) & ~7LL;
		int64_t off = size + t->dictoffset;
		if (off > 0 && off < (1 << 24))
			ph_ref_field(h, addr, (uint32_t)off, "__dict__", fn,
				     arg);
	}
}

void ph_heap_referents(struct ph_heap *h, uint64_t addr, uint32_t tidx,
		       ph_referent_fn fn, void *arg)
{
	/* A copy: callbacks may register types, moving h->types. */
	const struct ph_type tcopy = h->types[tidx];
	heap_referents(h, addr, &tcopy, fn, arg);
}

void ph_heap_referents_fixed(struct ph_heap *h, uint64_t addr, uint32_t tidx,
			     ph_referent_fn fn, void *arg)
{
	/* (no copy: 160 bytes an object was 3% of the closure's work) */
	heap_referents(h, addr, &h->types[tidx], fn, arg);
}

/* ---- reprs ------------------------------------------------------------ */

void ph_repr_object(struct ph_heap *h, uint64_t addr, uint32_t tidx,
		    struct ph_buf *out)
{
	const struct ph_type *t = &h->types[tidx];
	const struct ph_kind_ops *k = ph_kind_ops[t->kind];
	if (k->repr)
		k->repr(h, addr, t, out);
	else
		ph_buf_printf(out, "<%s object at 0x%llx>", ph_type_name(t),
			      (unsigned long long)addr);
}
