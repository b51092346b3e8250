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

/*
 * The kinds of objects py-heap reads, each by the static type that gives
 * its layout: X(kind, ops, symbol), the type's symbol (NULL: found
 * otherwise, runtime.c) and the kind's operations, ph_kind_ops in
 * kinds.h. A new kind: a line here, its operations in its family's
 * kind_*.c file.
 */
/* clang-format off */
#define PH_KINDS(X) \
	X(OTHER, other, NULL) /* a C type py-heap has no layout for */ \
	X(OBJECT, object, "PyBaseObject_Type") \
	X(TYPE, type, "PyType_Type") \
	X(LIST, list, "PyList_Type") \
	X(TUPLE, tuple, "PyTuple_Type") \
	X(DICT, dict, "PyDict_Type") \
	X(SET, set, "PySet_Type") \
	X(FROZENSET, set, "PyFrozenSet_Type") \
	X(STR, str, "PyUnicode_Type") \
	X(INT, int, "PyLong_Type") \
	X(BOOL, bool, "PyBool_Type") \
	X(FLOAT, float, "PyFloat_Type") \
	X(BYTES, bytes, "PyBytes_Type") \
	X(BYTEARRAY, bytearray, "PyByteArray_Type") \
	X(FUNCTION, function, "PyFunction_Type") \
	X(CODE, code, "PyCode_Type") \
	X(CELL, cell, "PyCell_Type") \
	X(METHOD, method, "PyMethod_Type") \
	X(MODULE, module, "PyModule_Type") \
	X(ODICT, odict, "PyODict_Type") \
	X(NONE, none, "_PyNone_Type") \
	X(WEAKREF, weakref, "_PyWeakref_RefType") \
	X(EXCEPTION, exception, NULL) /* through PyExc_BaseException */ \
	X(PROPERTY, property, "PyProperty_Type") \
	X(CLASSMETHOD, classmethod, "PyClassMethod_Type") /* and staticmethod */ \
	X(FRAME, frame, "PyFrame_Type") \
	X(GEN, gen, "PyGen_Type") /* generators, coroutines, async generators */ \
	X(DEQUE, deque, NULL) /* collections.deque, known by its name */ \
	X(PARTIAL, partial, NULL) /* functools.partial, likewise */ \
	X(BUFFERED, buffered, NULL) /* _io.Buffered{Reader,Writer,Random}, likewise */ \
	X(BYTESIO, bytesio, NULL) /* _io.BytesIO */ \
	X(ARRAY, array, NULL) /* array.array */ \
	X(STRUCT, struct, NULL) /* _struct.Struct */ \
	X(PRODUCT, product, NULL) /* itertools.product */ \
	X(COMBINATIONS, combinations, NULL) /* itertools.combinations, _with_replacement */ \
	X(PERMUTATIONS, permutations, NULL) /* itertools.permutations */ \
	X(DECIMAL, decimal, NULL) /* decimal.Decimal (_decimal's) */ \
	X(NDARRAY, ndarray, NULL) /* numpy.ndarray */ \
	X(NPSCALAR, npscalar, NULL) /* numpy's scalars (numpy.generic) */ \
	X(NPDISPATCHER, npdispatcher, NULL) /* numpy._ArrayFunctionDispatcher */ \
	X(LRU, lru, NULL) /* functools._lru_cache_wrapper */ \
	X(LRU_ELEM, lru_elem, NULL) /* functools._lru_list_elem */ \
	X(STGDICT, stgdict, NULL) /* ctypes' StgDict (3.8-3.12), a dict */ \
	X(CONTEXTVAR, contextvar, NULL) /* _contextvars.ContextVar */ \
	X(DECCONTEXT, deccontext, NULL) /* decimal.Context */ \
	X(MEMORYVIEW, memoryview, NULL) /* memoryview */ \
	X(MANAGEDBUFFER, managedbuffer, NULL) /* memoryview's managedbuffer */ \
	X(TIMEZONE, timezone, NULL) /* datetime.timezone */ \
	X(NLDECODER, nldecoder, NULL) /* _io.IncrementalNewlineDecoder */ \
	X(TEXTIO, textio, NULL) /* _io.TextIOWrapper */ \
	X(STRINGIO, stringio, NULL) /* _io.StringIO */ \
	X(LOOPHOLDER, loopholder, NULL) /* asyncio's _RunningLoopHolder */ \
	X(DATETIME, datetime, NULL) /* datetime.datetime, datetime.time */ \
	X(MODULEDEF, moduledef, NULL) /* a module's PyModuleDef */ \
	X(CYFUNCTION, cyfunction, NULL) /* Cython's functions */ \
	X(DESCRIPTOR, descriptor, NULL) /* method, member, getset... descriptors */

enum ph_kind {
#define PH_KIND_ENUM(kind, ops, symbol) PH_KIND_##kind,
	PH_KINDS(PH_KIND_ENUM)
#undef PH_KIND_ENUM
	PH_KIND_COUNT,
};
/* clang-format on */

/* One interpreter of the process (rt->interps: the main one first, then
 * the others in the order they were created). */
struct ph_interp {
	uint64_t addr;	   /* its PyInterpreterState */
	int64_t id;	   /* interp.id: 0 for the main one */
	uint64_t gc_state; /* its GC state (3.8: _PyRuntime's, shared) */
	/* 3.12+: it has its own object allocator (an isolated one), whose
	 * arena table tells its pools from the others' */
	bool own_obmalloc;
	uint64_t obmalloc; /* that allocator's state */
};

/* At most this many interpreters are read (an object's interpreter is a
 * byte: 255 is "shared or unknown"). */
#define PH_MAX_INTERPS 254
#define PH_INTERP_SHARED 255

struct ph_runtime {
	struct ph_target *target;
	const struct ph_layout *layout;
	struct ph_layout layout_copy; /* the table, with _Py_DebugOffsets */
	int debug_offsets_differ; /* fields where they and the table differ */
	int debug_offsets_bad;	  /* out of their bounds: the table's used */
	char debug_offsets_first_bad[128]; /* the first, said in a note */
	char debug_offsets_source[160];
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
	/* symbols the layers above read (0: not there), looked up here
	 * through the records below: on their own they would build the
	 * module's whole symbol table on every run */
	uint64_t arenas_sym, maxarenas_sym; /* 3.8-3.11: pymalloc's arenas */
	uint64_t interned_sym;		    /* the interned dict's pointer */
	uint64_t method_cache_sym;	    /* 3.8/3.9: the type cache */
	uint64_t gc_state; /* the GC state: in the interpreter or _PyRuntime */
	/* every interpreter (interps[0] is main_interp), and how many the
	 * list held past PH_MAX_INTERPS or past damage (not read) */
	struct ph_interp *interps;
	size_t ninterps, interps_unread;
	/* every static type object found by symbol */
	uint64_t *static_types;
	size_t nstatic_types, static_types_cap;
	/* the lookups' records (symcache.c), one per module searched, while
	 * the runtime is found; did they answer them all? */
	struct ph_symcache *symcache[4];
	const struct ph_module *symcache_mod[4];
	size_t nsymcache;
	bool symbols_cached;
};

struct ph_error *ph_runtime_create(struct ph_target *t,
				   struct ph_runtime **ret);
void ph_runtime_destroy(struct ph_runtime *rt);

#endif /* PH_CPYTHON_H */
