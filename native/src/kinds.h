/*
 * kinds.h - the CPython object model, private to the files that read
 * objects (kinds.c and the kind_*.c files): the read helpers they share,
 * and the table of operations that says, for each kind of object (enum
 * ph_kind), how big one is, whether its contents are plausible, what it
 * refers to and how it looks. Each kind's operations live in the file of
 * its family: a new kind, or a changed layout of one, touches that file
 * (and a new kind its line in PH_KINDS, cpython.h).
 */
#ifndef PH_KINDS_H
#define PH_KINDS_H

#include <string.h>

#include "heap.h"

/* ---- reading the inferior: a word that cannot be read reads as 0 ---- */

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

/* An object's type word and its ob_size (a PyVarObject's): after the
 * header, which is 16 bytes longer in free-threaded builds. */
static inline uint64_t rd_ob_type(struct ph_heap *h, uint64_t addr)
{
	return rd64(h, addr + h->L->ob_type);
}

static inline int64_t rd_ob_size(struct ph_heap *h, uint64_t addr)
{
	return rds64(h, addr + h->L->ob_type + 8);
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

/* ---- the operations of a kind ----------------------------------------- */

/* A reference a C type holds at a fixed offset past the object header
 * (ph_hdr_shift further in free-threaded builds), and its label. */
struct ph_field_ref {
	uint32_t off;
	const char *name;
};

/*
 * What py-heap knows of the objects of one kind. ob_size is the object's
 * word at +16 (the item count of variable-size objects), read once by the
 * caller. A NULL operation means the generic one, given with it.
 */
struct ph_kind_ops {
	/* sys.getsizeof() without the pre-header; NULL: basicsize +
	 * itemsize x |ob_size| (ph_size_generic) */
	uint64_t (*size)(struct ph_heap *h, uint64_t addr,
			 const struct ph_type *t, int64_t ob_size);
	/* the bytes of the object itself in its allocation; NULL: its
	 * struct, items and inline values (ph_inline_size_generic) */
	uint64_t (*inline_size)(struct ph_heap *h, uint64_t addr,
				const struct ph_type *t, int64_t ob_size);
	/* are its counts and the memory of its arrays plausible? NULL:
	 * nothing of its own to check */
	bool (*contents_ok)(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size);
	/* its references, but for its type and what a class adds to the
	 * kind (ph_heap_referents does those); NULL: none (a leaf) */
	void (*referents)(struct ph_heap *h, uint64_t addr,
			  const struct ph_type *t, int64_t ob_size,
			  ph_referent_fn fn, void *arg);
	/* references at fixed offsets, reported before referents' (a
	 * kind may have both, or either) */
	const struct ph_field_ref *fields;
	uint32_t nfields;
	/* contents_ok, inline_size and size at once, each read once (the
	 * pool scan's); NULL: the three in turn */
	bool (*scan_sizes)(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size,
			   uint64_t *ret_inline, uint64_t *ret_size);
	/* a short repr; NULL: <NAME object at 0x...> */
	void (*repr)(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		     struct ph_buf *out);
	/* is this object of the kind a static one (no pre-header, never
	 * tracked)? NULL: never */
	bool (*is_static)(struct ph_heap *h, uint64_t addr);
	/* is the field at byte offset off (a tp_dictoffset) the kind's own
	 * __dict__, which its referents give already? NULL: no */
	bool (*own_dict_at)(struct ph_heap *h, int64_t off);
	/* the tp_name of the kind's C type when it is known by name (a type
	 * of the standard library that is not exported), else NULL */
	const char *by_name;
	/* more names of its C types (NULL-terminated), as by_name */
	const char *const *by_names;
	/* a heap type named MODULE.NAME, NAME one of by_names and MODULE
	 * starting with this (a module named after a version: Cython 3.1's
	 * _cython_3_1_6.cython_function_or_method), is of the kind too */
	const char *by_module_prefix;
	/* its C subtypes are of the kind too (their sizes follow from their
	 * own type: numpy's scalars, found through numpy.generic) */
	bool by_name_base;
	/* what the kind keeps of each of its types, once (ph_type's
	 * kind_data), when the type is registered; NULL: nothing */
	void (*type_init)(struct ph_heap *h, struct ph_type *t);
	/* its objects fill their allocation's size class exactly (no
	 * items of their own beyond basicsize) */
	bool fixed_size;
	/* its objects' checks and size are their type's (no contents to
	 * check, no items, a fixed size class): the pool scan need not
	 * look at them past the header */
	bool fixed_by_type;
	/* its referents scan a C subtype's words past the kind's struct
	 * themselves (else ph_heap_referents does, conservatively) */
	bool own_c_tail;
};

/* A kind's fields, as a table for its ph_kind_ops. */
#define PH_KIND_FIELDS(table) .fields = table, .nfields = PH_ARRAY_SIZE(table)

/* Per kind, by enum ph_kind (kinds.c). */
extern const struct ph_kind_ops *const ph_kind_ops[PH_KIND_COUNT];

/* Each kind's, in its family's kind_*.c file (ph_kind_OPS of PH_KINDS). */
#define PH_KIND_OPS_DECLARE(kind, ops, symbol)                                 \
	extern const struct ph_kind_ops ph_kind_##ops;
PH_KINDS(PH_KIND_OPS_DECLARE)
#undef PH_KIND_OPS_DECLARE

/* Operations several kinds share (kind_str.c): "<NAME of N items>" with
 * N its ob_size; ob_size a size (not negative, at most 2^40). */
void ph_repr_items(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		   struct ph_buf *out);
bool ph_ob_size_ok(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		   int64_t ob_size);

/* A C type's objects without a layout of their own (kind_other.c): the
 * header is all that is certain of its allocation; every word of its
 * struct, and of its items when they are words, may be a reference. */
uint64_t ph_inline_size_c(struct ph_heap *h, uint64_t addr,
			  const struct ph_type *t, int64_t ob_size);
void ph_ref_c_unknown(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		      int64_t ob_size, ph_referent_fn fn, void *arg);

/* A numpy DType class's references past its type struct (kind_numpy.c);
 * false when t is not numpy._DTypeMeta. */
bool ph_numpy_dtypemeta_referents(struct ph_heap *h, uint64_t addr,
				  const struct ph_type *t, ph_referent_fn fn,
				  void *arg);

/* The generic size: basicsize + itemsize x |ob_size|. */
static inline uint64_t ph_size_generic(const struct ph_type *t, int64_t ob_size)
{
	int64_t size = t->basicsize;
	if (t->itemsize)
		size += abs40(ob_size) * t->itemsize;
	return (uint64_t)size;
}

/* The generic inline size: the struct, its items, and (3.13+) the values
 * an object holds inline after it. */
uint64_t ph_inline_size_generic(struct ph_heap *h, uint64_t addr,
				const struct ph_type *t, int64_t ob_size);

/* ---- references: helpers of the referents operations (kinds.c) ------- */

/* n words at arr, each an item (PH_EDGE_ITEM, by index). */
void ph_ref_items(struct ph_heap *h, uint64_t arr, int64_t n, ph_referent_fn fn,
		  void *arg);

/* The word at addr + off, a field named name; off 0: a field this
 * version does not have. */
static inline void ph_ref_field(struct ph_heap *h, uint64_t addr, uint32_t off,
				const char *name, ph_referent_fn fn, void *arg)
{
	if (!off)
		return;
	uint64_t v = rd64(h, addr + off);
	if (v)
		fn(arg, v, PH_EDGE_FIELD, (uint64_t)(uintptr_t)name);
}

/* Every aligned word of [addr+from, addr+to) that may be a reference. */
void ph_ref_conservative(struct ph_heap *h, uint64_t addr, int64_t from,
			 int64_t to, ph_referent_fn fn, void *arg);

/* ---- strings (kind_str.c) -------------------------------------------- */

struct ph_str_info {
	uint64_t length;
	unsigned kind; /* 1, 2 or 4 bytes per character */
	bool ascii, compact;
	uint64_t data;
};

/* A str's length, width and where its characters are; false when its
 * state bits or length are not those of a str. */
bool ph_str_info(struct ph_heap *h, uint64_t addr, struct ph_str_info *si);

/* ---- dicts (kind_dict.c) --------------------------------------------- */

typedef bool (*ph_dict_entry_fn)(void *arg, uint64_t key, uint64_t value,
				 int64_t index);

/* Where a dict keys object keeps its entries, and their shape. */
struct ph_keys_geom {
	uint64_t entries; /* entry 0 */
	int64_t nentries; /* entries used so far */
	uint32_t esize, key_off, value_off;
	uint64_t bytes; /* the keys object's size, as dicts count it */
};

/* The geometry of the keys object at keys; false if it has none. */
bool ph_keys_geom(struct ph_heap *h, uint64_t keys, struct ph_keys_geom *g);
/* The size of a keys object, as a dict that owns it counts it; 0 if
 * there is none at keys. */
uint64_t ph_dict_keys_size(struct ph_heap *h, uint64_t keys);
/* Calls fn(key, value, index) for each entry of a dict (combined or
 * split) until it returns true. */
void ph_dict_foreach(struct ph_heap *h, uint64_t dict, ph_dict_entry_fn fn,
		     void *arg);
/* The value of the str key name in a dict, 0 if none. */
uint64_t ph_dict_get_str(struct ph_heap *h, uint64_t dict, const char *name);

#endif /* PH_KINDS_H */
