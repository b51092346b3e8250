/* cpython.h - CPython layouts (one place, chosen per version) and the walk
 * from _PyRuntime to interpreters, threads and the GC lists. */
#ifndef PH_CPYTHON_H
#define PH_CPYTHON_H

#include "layout_fields.h"
#include "target.h"

/* Type flags: stable across the versions py-heap supports. */
#define PH_TPFLAGS_INLINE_VALUES (1UL << 2)
#define PH_TPFLAGS_MANAGED_WEAKREF (1UL << 3)
#define PH_TPFLAGS_MANAGED_DICT (1UL << 4)
#define PH_TPFLAGS_HEAPTYPE (1UL << 9)
#define PH_TPFLAGS_HAVE_GC (1UL << 14)
#define PH_TPFLAGS_TYPE_SUBCLASS (1UL << 31)

/* Every offset and constant the rest of py-heap needs, for one version:
 * the fields of layout_fields.h, where each is described. */
struct ph_layout {
#define PH_LAYOUT_MEMBER(type, name, dims, ...) type name dims;
	PH_LAYOUT_FIELDS(PH_LAYOUT_MEMBER)
#undef PH_LAYOUT_MEMBER
};

/* The static types py-heap recognises by their symbol names. */
enum ph_kind {
	PH_KIND_OTHER = 0,
	PH_KIND_OBJECT,
	PH_KIND_TYPE,
	PH_KIND_LIST,
	PH_KIND_TUPLE,
	PH_KIND_DICT,
	PH_KIND_SET,
	PH_KIND_FROZENSET,
	PH_KIND_STR,
	PH_KIND_INT,
	PH_KIND_BOOL,
	PH_KIND_FLOAT,
	PH_KIND_BYTES,
	PH_KIND_BYTEARRAY,
	PH_KIND_FUNCTION,
	PH_KIND_CODE,
	PH_KIND_CELL,
	PH_KIND_METHOD,
	PH_KIND_MODULE,
	PH_KIND_ODICT,
	PH_KIND_NONE,
	PH_KIND_WEAKREF,
	PH_KIND_EXCEPTION,
	PH_KIND_PROPERTY,
	PH_KIND_CLASSMETHOD, /* classmethod and staticmethod */
	PH_KIND_FRAME,
	PH_KIND_GEN,	 /* generators, coroutines, async generators */
	PH_KIND_DEQUE,	 /* collections.deque (known by its name) */
	PH_KIND_PARTIAL, /* functools.partial (likewise) */
	PH_KIND_COUNT,
};

struct ph_runtime {
	struct ph_target *target;
	const struct ph_layout *layout;
	struct ph_layout layout_copy; /* the table, with _Py_DebugOffsets */
	int debug_offsets_differ; /* fields where they and the table differ */
	int dwarf_checked, dwarf_differ; /* fields checked against DWARF */
	bool layout_cached; /* that check's outcome from the cache */
	char layout_source[160];
	char version[32]; /* "3.11.2" */
	uint32_t hexversion;
	bool debug_build;	       /* Py_DEBUG: its symbols are there */
	const struct ph_module *pymod; /* the file holding _PyRuntime */
	uint64_t runtime_addr;
	uint64_t main_interp;
	uint64_t kind_types[PH_KIND_COUNT]; /* static type addresses */
	/* more static types of a kind (weakref proxies, coroutines, ...) */
	uint64_t extra_types[16];
	enum ph_kind extra_kinds[16];
	size_t nextra;
	uint64_t none_addr;
	uint64_t set_dummy; /* the key of a set's deleted entries */
	uint64_t gc_state;  /* the GC state: in the interpreter or _PyRuntime */
	/* every static type object found by symbol */
	uint64_t *static_types;
	size_t nstatic_types, static_types_cap;
};

struct ph_error *ph_runtime_create(struct ph_target *t,
				   struct ph_runtime **ret);
void ph_runtime_destroy(struct ph_runtime *rt);

#endif /* PH_CPYTHON_H */
