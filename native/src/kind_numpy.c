/*
 * kind_numpy.c - numpy's arrays and scalars, known by their names. The
 * offsets are numpy's ABI, not CPython's: PyArrayObject_fields and the
 * head of PyArray_Descr are the same in numpy 1.x and 2.x (but where a
 * dtype keeps its item size, told apart below), in Debian's 1.24 (3.11),
 * 2.2 (3.13) and 2.4 (3.14, 3.15).
 */
#include "kinds.h"

/* PyArrayObject_fields */
#define NP_DATA 16
#define NP_ND 24 /* int */
#define NP_DIMS 32
#define NP_STRIDES 40
#define NP_BASE 48
#define NP_DESCR 56
#define NP_FLAGS 64 /* int */
/* then weakreflist (72), _buffer_info (80, no object) and, since numpy
 * 1.22, mem_handler (88): the allocator's capsule, a reference */
#define NP_MEM_HANDLER 88
#define NP_OWNDATA 0x4
#define NP_MAXDIMS 64
/* PyArray_Descr: type_num (int) at 28 in both; 1.x: elsize (int) at 32
 * and alignment (int, never 0) at 36; 2.x: flags (64 bits, all below
 * 0x100) at 32 and elsize (npy_intp) at 40 */
#define NP_TYPE_NUM 28
#define NP_OBJECT 17
/* Both are objects: their fields are 16 bytes further in free-threaded
 * builds (numpy's cp3xt ABI). */
#define NPO(h, off) (ph_hdr_shift((h)->L) + (off))

/* A dtype's item size, -1 when it is not plausible. */
static int64_t descr_elsize(struct ph_heap *h, uint64_t descr)
{
	int64_t size;
	if (rd32(h, descr + NPO(h, 36)))
		size = (int32_t)rd32(h, descr + NPO(h, 32)); /* numpy 1.x */
	else
		size = rds64(h, descr + NPO(h, 40)); /* numpy 2.x */
	return size < 0 || size > (1LL << 32) ? -1 : size;
}

/* The dimensions of the array at addr (nd of them, at most NP_MAXDIMS),
 * false when they cannot be read or are not plausible. */
static bool array_dims(struct ph_heap *h, uint64_t addr, int64_t *nd,
		       int64_t *dims)
{
	*nd = (int32_t)rd32(h, addr + NPO(h, NP_ND));
	if (*nd < 0 || *nd > NP_MAXDIMS)
		return false;
	uint64_t d = rd64(h, addr + NPO(h, NP_DIMS));
	for (int64_t i = 0; i < *nd; i++) {
		if (!ph_mem_u64(h->mem, d + 8 * (uint64_t)i,
				(uint64_t *)&dims[i]) ||
		    dims[i] < 0 || dims[i] > (1LL << 40))
			return false;
	}
	return true;
}

/* The number of items of dims, at most 2^40 (0 past it). */
static int64_t dims_items(int64_t nd, const int64_t *dims)
{
	int64_t n = 1;
	for (int64_t i = 0; i < nd; i++) {
		if (dims[i] && n > (1LL << 40) / dims[i])
			return 0;
		n *= dims[i];
	}
	return n;
}

/* array_sizeof (numpy's methods.c): the struct, a dimension and a stride
 * per axis, and the data when the array owns it. */
static uint64_t ndarray_size(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t, int64_t ob_size)
{
	int64_t nd, dims[NP_MAXDIMS];
	if (!array_dims(h, addr, &nd, dims))
		return (uint64_t)t->basicsize;
	uint64_t size = (uint64_t)t->basicsize + 16 * (uint64_t)nd;
	if (rd32(h, addr + NPO(h, NP_FLAGS)) & NP_OWNDATA) {
		int64_t item =
			descr_elsize(h, rd64(h, addr + NPO(h, NP_DESCR)));
		if (item > 0)
			size += (uint64_t)c40(item * dims_items(nd, dims));
	}
	return size;
}

/* Its base, dtype and allocator, and the items of an array of objects that owns
 * its data (a view's are its base's): [i], in C order, whatever the
 * strides. */
static void ndarray_referents(struct ph_heap *h, uint64_t addr,
			      const struct ph_type *t, int64_t ob_size,
			      ph_referent_fn fn, void *arg)
{
	ph_ref_field(h, addr, NPO(h, NP_BASE), "base", fn, arg);
	ph_ref_field(h, addr, NPO(h, NP_DESCR), "dtype", fn, arg);
	if (t->kind_basicsize >= NPO(h, NP_MEM_HANDLER) + 8)
		ph_ref_field(h, addr, NPO(h, NP_MEM_HANDLER), "mem_handler", fn,
			     arg);
	uint64_t descr = rd64(h, addr + NPO(h, NP_DESCR));
	if (!(rd32(h, addr + NPO(h, NP_FLAGS)) & NP_OWNDATA) || !descr ||
	    (int32_t)rd32(h, descr + NPO(h, NP_TYPE_NUM)) != NP_OBJECT)
		return;
	int64_t nd, dims[NP_MAXDIMS], strides[NP_MAXDIMS], at[NP_MAXDIMS];
	if (!array_dims(h, addr, &nd, dims))
		return;
	uint64_t s = rd64(h, addr + NPO(h, NP_STRIDES));
	for (int64_t i = 0; i < nd; i++) {
		strides[i] = rds64(h, s + 8 * (uint64_t)i);
		at[i] = 0;
	}
	/* Data it owns is one allocation of its items, whatever their
	 * order: all of it in the process's memory, or none is read (which
	 * bounds the walk by the memory a core holds). */
	int64_t n = dims_items(nd, dims);
	uint64_t data = rd64(h, addr + NPO(h, NP_DATA));
	if (n <= 0 || n > (1LL << 32) ||
	    !ph_mem_ptr(h->mem, data, (size_t)n * 8))
		return;
	uint64_t p = data;
	for (int64_t i = 0; i < n; i++) {
		if (p < data || p + 8 > data + (uint64_t)n * 8)
			return; /* strides that leave the allocation */
		uint64_t v = rd64(h, p);
		if (v)
			fn(arg, v, PH_EDGE_ITEM, (uint64_t)i);
		/* the next index, last axis first */
		for (int64_t ax = nd - 1; ax >= 0; ax--) {
			p += (uint64_t)strides[ax];
			if (++at[ax] < dims[ax])
				break;
			p -= (uint64_t)(strides[ax] * dims[ax]);
			at[ax] = 0;
		}
	}
}

const struct ph_kind_ops ph_kind_ndarray = {
	.size = ndarray_size,
	.inline_size = ph_inline_size_c,
	.referents = ndarray_referents,
	.by_name = "numpy.ndarray",
};

/* ---- scalars ------------------------------------------------------------ */

/* The item size of numpy's scalar types with a fixed one, by name (1.x
 * and 2.x names); flexible ones (void, str_, bytes_) are not here. */
static const struct {
	const char *name;
	uint32_t size;
} np_scalars[] = {
	{"bool_", 1},	    {"bool", 1},	 {"int8", 1},
	{"uint8", 1},	    {"byte", 1},	 {"ubyte", 1},
	{"int16", 2},	    {"uint16", 2},	 {"short", 2},
	{"ushort", 2},	    {"int32", 4},	 {"uint32", 4},
	{"intc", 4},	    {"uintc", 4},	 {"int64", 8},
	{"uint64", 8},	    {"long", 8},	 {"ulong", 8},
	{"longlong", 8},    {"ulonglong", 8},	 {"int_", 8},
	{"uint", 8},	    {"intp", 8},	 {"uintp", 8},
	{"float16", 2},	    {"half", 2},	 {"float32", 4},
	{"single", 4},	    {"float64", 8},	 {"double", 8},
	{"float128", 16},   {"longdouble", 16},	 {"complex64", 8},
	{"csingle", 8},	    {"complex128", 16},	 {"cdouble", 16},
	{"complex256", 32}, {"clongdouble", 32}, {"datetime64", 8},
	{"timedelta64", 8},
};

/* The item size of a scalar type: its own name's, or its nearest C
 * base's (a class derived from numpy.float64); 0: unknown. */
static void npscalar_type_init(struct ph_heap *h, struct ph_type *t)
{
	uint64_t cur = t->addr;
	for (int depth = 0; cur && depth < 64; depth++) {
		const char *nm =
			ph_mem_ptr(h->mem, rd64(h, cur + h->L->tp_name), 24);
		if (nm && !memcmp(nm, "numpy.", 6)) {
			for (size_t i = 0;
			     i < sizeof(np_scalars) / sizeof(*np_scalars);
			     i++) {
				size_t len = strlen(np_scalars[i].name) + 1;
				if (!memcmp(nm + 6, np_scalars[i].name, len)) {
					t->kind_data = np_scalars[i].size;
					return;
				}
			}
			return; /* numpy's, not one of those */
		}
		cur = rd64(h, cur + h->L->tp_base);
	}
}

/* gentype_sizeof (scalartypes.c): the struct, its items, and the item
 * size of its dtype. */
static uint64_t npscalar_size(struct ph_heap *h, uint64_t addr,
			      const struct ph_type *t, int64_t ob_size)
{
	return ph_size_generic(t, ob_size) + t->kind_data;
}

const struct ph_kind_ops ph_kind_npscalar = {
	.size = npscalar_size,
	.inline_size = ph_inline_size_c,
	.referents = ph_ref_c_unknown,
	.by_name = "numpy.generic",
	.by_name_base = true,
	.type_init = npscalar_type_init,
	.own_c_tail = true,
};

/* ---- numpy's DType classes ---------------------------------------------- */

/* PyArray_DTypeMeta, the same in numpy 1.x and 2.x: a heap type's struct,
 * then singleton (a descriptor), type_num, scalar_type, flags, dt_slots
 * and 3 reserved words (64 bytes). The class holds its singleton and its
 * scalar type (dtypemeta_dealloc drops both; no traverse visits them);
 * its slots are C data (their casting table, a dict, is held from
 * there). False when t is not numpy._DTypeMeta. */
bool ph_numpy_dtypemeta_referents(struct ph_heap *h, uint64_t addr,
				  const struct ph_type *t, ph_referent_fn fn,
				  void *arg)
{
	static const char name[] = "numpy._DTypeMeta";
	if (t->base_basicsize - t->kind_basicsize != 64)
		return false;
	const char *nm = ph_mem_ptr(h->mem, rd64(h, t->addr + h->L->tp_name),
				    sizeof(name));
	if (!nm || memcmp(nm, name, sizeof(name)))
		return false;
	uint32_t off = (uint32_t)t->kind_basicsize;
	ph_ref_field(h, addr, off, "singleton", fn, arg);
	ph_ref_field(h, addr, off + 16, "type", fn, arg);
	return true;
}

/* ---- numpy's functions ----------------------------------------------------
 */

/* numpy._ArrayFunctionDispatcher (numpy 1.25+: the type of numpy's public
 * functions, PyArray_ArrayFunctionDispatcherObject in
 * arrayfunction_override.c): after PyObject_HEAD, vectorcall (C), then
 * references, which dispatcher_dealloc drops: dict (its tp_dictoffset),
 * relevant_arg_func (NULL for a like= dispatcher), default_impl (its
 * _implementation), dispatcher_name and public_name (the two functions'
 * __qualname__). Basicsize 64; checked with ctypes on Debian's numpy 2.4.6
 * (3.14) for the 216 dispatchers in numpy's namespace: the words at 24 and
 * 40 are __dict__ and _implementation, the one at 32 a function whose
 * __qualname__ is the word at 48, the word at 56 _implementation's
 * __qualname__. No GC type: gc.get_referents() sees none of them. Another
 * size (numpy's main branch adds reduction and reduction_kind) is scanned
 * as a C type with no layout. */
#define NPD_SIZE 64

static void npdispatcher_type_init(struct ph_heap *h, struct ph_type *t)
{
	t->kind_data =
		t->kind_basicsize - (int64_t)ph_hdr_shift(h->L) == NPD_SIZE;
}

static void npdispatcher_referents(struct ph_heap *h, uint64_t addr,
				   const struct ph_type *t, int64_t ob_size,
				   ph_referent_fn fn, void *arg)
{
	if (!t->kind_data) {
		ph_ref_c_unknown(h, addr, t, ob_size, fn, arg);
		return;
	}
	static const char *const names[] = {
		"__dict__",	   "relevant_arg_func", "_implementation",
		"dispatcher_name", "public_name",
	};
	for (uint32_t i = 0; i < 5; i++)
		ph_ref_field(h, addr, NPO(h, 24 + 8 * i), names[i], fn, arg);
}

const struct ph_kind_ops ph_kind_npdispatcher = {
	.inline_size = ph_inline_size_c,
	.referents = npdispatcher_referents,
	.by_name = "numpy._ArrayFunctionDispatcher",
	.type_init = npdispatcher_type_init,
};
