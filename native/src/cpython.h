/* cpython.h - CPython layouts (one place, chosen per version) and the walk
 * from _PyRuntime to interpreters, threads and the GC lists. */
#ifndef PH_CPYTHON_H
#define PH_CPYTHON_H

#include "target.h"

/* Type flags: stable across the versions py-heap supports. */
#define PH_TPFLAGS_INLINE_VALUES (1UL << 2)
#define PH_TPFLAGS_MANAGED_WEAKREF (1UL << 3)
#define PH_TPFLAGS_MANAGED_DICT (1UL << 4)
#define PH_TPFLAGS_HEAPTYPE (1UL << 9)
#define PH_TPFLAGS_HAVE_GC (1UL << 14)
#define PH_TPFLAGS_TYPE_SUBCLASS (1UL << 31)

/* Every offset and constant the rest of py-heap needs, for one version. */
struct ph_layout {
	unsigned major, minor;
	const char *source; /* "tables" */
	/* runtime and interpreter */
	uint32_t rt_interpreters_head;
	uint32_t is_next, is_threads_head, is_gc, is_modules, is_sysdict,
		is_builtins;
	uint32_t gc_generations, gc_gen_stride, gc_ngens, gc_permanent,
		gc_garbage;
	uint32_t tp_del, tp_finalize;
	uint32_t ts_next;
	/* object header */
	uint32_t gc_head_size;	  /* PyGC_Head before every GC object */
	uint32_t managed_presize; /* extra words for managed dict/values */
	/* types */
	uint32_t sizeof_type, sizeof_heaptype;
	uint32_t tp_name, tp_basicsize, tp_itemsize, tp_flags, tp_members,
		tp_base, tp_dict, tp_dictoffset, tp_bases, tp_mro;
	uint32_t ht_name, ht_qualname, ht_slots, ht_cached_keys, ht_module;
	uint32_t sizeof_memberdef, md_type, md_offset;
	/* containers */
	uint32_t list_items, list_allocated, tuple_items;
	uint32_t dict_used, dict_keys, dict_values, sizeof_dict;
	uint32_t dk_refcnt, dk_log2_size, dk_log2_index_bytes, dk_kind,
		dk_usable, dk_nentries, dk_indices, sizeof_dictkeys;
	uint32_t set_fill, set_used, set_mask, set_table, set_smalltable;
	/* scalars */
	uint32_t str_length, str_state, sizeof_ascii, sizeof_compact,
		sizeof_unicode, str_wstr, str_utf8_length, str_utf8,
		str_wstr_length, str_data;
	uint32_t long_digits;
	uint32_t float_value;
	uint32_t bytes_data;
	uint32_t bytearray_alloc;
	/* functions, code, modules */
	uint32_t func_fields[16]; /* offsets of the function's references */
	uint32_t nfunc_fields;
	uint32_t code_fields[10];
	uint32_t ncode_fields;
	uint32_t code_name, code_qualname, code_filename, code_firstlineno;
	uint32_t method_func, method_self;
	uint32_t module_dict, module_name;
	uint32_t cell_ref;
	uint32_t weakref_object, weakref_callback;
	uint32_t exc_fields[6];	 /* dict, args, notes, traceback, context, cause
				  */
	uint32_t prop_fields[5]; /* fget, fset, fdel, doc, name */
	uint32_t cm_callable, cm_dict;
	/* frames: the interpreter frame (3.11+) and what holds one */
	uint32_t frame_back, frame_iframe, frame_trace, frame_data;
	uint32_t if_func, if_globals, if_builtins, if_locals, if_code,
		if_previous, if_prev_instr, if_stacktop, if_localsplus,
		if_owner;
	uint32_t gen_code, gen_name, gen_qualname, gen_iframe, gen_state;
	uint32_t co_nlocalsplus, co_stacksize, co_linetable, co_code_adaptive,
		co_localsplusnames;
	uint32_t ts_cframe, cframe_current, ts_thread_id;
	uint32_t sizeof_tstate;
	/* the method cache: names are owned, values borrowed */
	uint32_t is_type_cache, type_cache_entries, type_cache_entry_size,
		type_cache_value;
	uint32_t module_state, module_def, moddef_size;
	/* ranges of the interpreter state that hold no owned references:
	 * free lists, whose slots past numfree are stale */
	uint32_t interp_skip[8][2];
	uint32_t tp_subclasses, tp_weaklistoffset;
	/* 3.12+: static builtin types' state in the interpreter, whose
	 * tp_weaklist (a weak list head) is no reference */
	uint32_t is_builtin_states, builtin_states_count, builtin_state_size,
		builtin_state_weaklist;
	/* pymalloc */
	uint32_t pool_size, arena_size, pool_overhead, nsize_classes;
	/* the refcount deep-frozen (static) objects are given */
	uint64_t deepfrozen_refcnt;
	/* ints: 0 = the digit count signed in ob_size (up to 3.11);
	 * else the offset of lv_tag (3.12+: digits << 3 | sign) */
	uint32_t long_tag;
	/* the pre-header: which flags give an object one, and its shape:
	 * 311: values at word -4, dict at -3; 312: weakrefs at -4, at -3 a
	 * dict or (tagged with bit 0) values */
	uint64_t preheader_flags;
	unsigned managed_layout;
	/* bytes before the values in PyDictValues (3.13: capacity, size,
	 * embedded, valid); 0 when ma_values points at the values */
	uint32_t values_header;
	bool immortal; /* 3.12+: refcounts (int32)low < 0 are immortal */
	bool interned_uncounted; /* the interned dict's refs are not counted */
	/* 3.14+: a 32-bit refcount, 16 bits of overflow, 16 of flags */
	bool refcnt_split;
	/* 3.14+: frames hold tagged _PyStackRef (bit 0: not counted; 3: a
	 * tagged int) and a stack pointer instead of a stack top index */
	bool stackrefs;
	/* ---- 3.8 to 3.10 ---- */
	/* 3.8: the GC state is _PyRuntime's (at rt_gc), not the interpreter's
	 */
	uint32_t rt_gc;
	/* dict keys with dk_size (a power of 2, not its log2) and entries of
	 * {hash, key, value} after dk_size indices of 1 to 8 bytes; 0 for the
	 * 3.11+ keys (dk_log2_size, dk_log2_index_bytes, dk_kind) */
	uint32_t dk_size;
	/* Frames are PyFrameObjects: the thread state's frame is at ts_cframe
	 * (cframe_current UINT32_MAX), if_code/if_globals/if_builtins/
	 * if_locals/if_localsplus are the frame object's fields, if_previous
	 * is f_back; its value stack starts at f_valuestack, and ends at
	 * f_stacktop (3.8/3.9: a pointer, NULL while running) or after
	 * f_stackdepth entries (3.10: an int, -1 while running). */
	bool frame_objects;
	bool f_stackdepth;
	uint32_t f_valuestack, f_stacktop, f_lasti;
	uint32_t f_gen; /* the generator running it (borrowed), or NULL */
	/* their code: locals, cells and free variables by name */
	uint32_t co_nlocals, co_varnames, co_cellvars, co_freevars;
	/* co_linetable's format: 0 the 3.11+ location table, 1 co_lnotab
	 * (3.8/3.9, byte offsets), 2 3.10's co_linetable (pairs of byte
	 * deltas) */
	unsigned line_format;
	/* generators own a frame object (gi_frame) and an exception state */
	uint32_t gen_frame, gen_exc_state;
	/* the names of code_fields, when they are not 3.11's */
	const char *const *code_field_names;
	/* 3.8/3.9: the method cache is the static array `method_cache`
	 * (found by symbol), not the interpreter's type_cache */
	bool static_method_cache;
	/* 3.8/3.9: free lists are file statics (found by symbol), not the
	 * interpreter's */
	bool static_free_lists;
	/* 3.15+: a module holds its state's size itself (md_def is gone):
	 * the offset of md_state_size; 0 to read it from md_def's m_size */
	uint32_t module_state_size;
	/* generator states below it have a live frame (3.15+ count them up
	 * from 0, CLEARED 5); 0 means below 1 (up to 3.14: -3 to 0) */
	int32_t gen_state_done;
	/* the interpreter state's size, when it is on the heap (3.8-3.10)
	 * and scanned for the references it holds */
	uint32_t sizeof_interp;
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
