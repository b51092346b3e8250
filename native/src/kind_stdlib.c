/*
 * kind_stdlib.c - C types of the standard library whose __sizeof__ counts
 * memory of their own beyond their struct: _io's buffered files and
 * BytesIO, array.array, _struct.Struct, itertools' combinatorics and
 * decimal.Decimal. Known by their names (kind_by_name); each size is
 * their __sizeof__'s formula (the same 3.8 to 3.15), over the offsets of
 * layout_fields.h. Their references are guessed, word by word, as for a
 * C type py-heap has no layout for.
 */
#include "kinds.h"

/* ---- _io.BufferedReader, BufferedWriter, BufferedRandom -------------- */

/* buffered_sizeof (bufferedio.c): the struct and its buffer, once it has
 * one. */
static uint64_t buffered_size(struct ph_heap *h, uint64_t addr,
			      const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	uint64_t size = (uint64_t)t->basicsize;
	if (rd64(h, addr + L->buffered_buffer))
		size += (uint64_t)c40(rds64(h, addr + L->buffered_buffer_size));
	return size;
}

static const char *const buffered_names[] = {
	"_io.BufferedReader",
	"_io.BufferedWriter",
	"_io.BufferedRandom",
	NULL,
};

const struct ph_kind_ops ph_kind_buffered = {
	.size = buffered_size,
	.inline_size = ph_inline_size_c,
	.referents = ph_ref_c_unknown,
	.by_names = buffered_names,
	.own_c_tail = true,
};

/* ---- _io.BytesIO -------------------------------------------------------- */

/* _io_BytesIO___sizeof___impl (bytesio.c): the struct, and the bytes
 * object of its buffer unless that is shared (SHARED_BUF: a reference
 * besides its own, as after getvalue(), or the empty bytes). */
static uint64_t bytesio_size(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	uint64_t size = (uint64_t)t->basicsize;
	uint64_t buf = rd64(h, addr + L->bytesio_buf);
	uint64_t bytes_type = h->rt->kind_types[PH_KIND_BYTES];
	if (!buf || rd_ob_type(h, buf) != bytes_type ||
	    ph_obj_refcnt(h, buf) > 1)
		return size;
	/* bytes are not tracked: no pre-header */
	return size + (uint64_t)c40(rds64(h, bytes_type + L->tp_basicsize)) +
	       (uint64_t)c40(rd_ob_size(h, buf));
}

const struct ph_kind_ops ph_kind_bytesio = {
	.size = bytesio_size,
	.inline_size = ph_inline_size_c,
	.referents = ph_ref_c_unknown,
	.by_name = "_io.BytesIO",
	.own_c_tail = true,
};

/* ---- array.array -------------------------------------------------------- */

/* array_array___sizeof___impl: the struct and the items allocated, of
 * the item size of its type code. */
static uint64_t array_size(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	uint64_t size = (uint64_t)t->basicsize;
	uint64_t descr = rd64(h, addr + L->array_descr);
	if (!descr)
		return size;
	int64_t item = (int32_t)rd32(h, descr + L->arraydescr_itemsize);
	if (item <= 0 || item > 16)
		return size;
	return size +
	       (uint64_t)(c40(rds64(h, addr + L->array_allocated)) * item);
}

const struct ph_kind_ops ph_kind_array = {
	.size = array_size,
	.inline_size = ph_inline_size_c,
	.referents = ph_ref_c_unknown,
	.by_name = "array.array",
	.own_c_tail = true,
};

/* ---- _struct.Struct ----------------------------------------------------- */

/* s___sizeof___impl (_struct.c): the struct and its format codes, the
 * one that ends them (fmtdef NULL) too. */
static uint64_t struct_size(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	uint64_t size = (uint64_t)t->basicsize;
	uint64_t code = rd64(h, addr + L->struct_codes);
	if (!code || !L->sizeof_formatcode)
		return size;
	/* (a format has fewer codes than characters: 2^20 is a bound) */
	for (int64_t n = 0; n < (1 << 20); n++) {
		size += L->sizeof_formatcode;
		if (!rd64(h, code + (uint64_t)n * L->sizeof_formatcode))
			break;
	}
	return size;
}

/* (3.8 names it without its module) */
static const char *const struct_names[] = {"_struct.Struct", "Struct", NULL};

const struct ph_kind_ops ph_kind_struct = {
	.size = struct_size,
	.inline_size = ph_inline_size_c,
	.referents = ph_ref_c_unknown,
	.by_names = struct_names,
	.own_c_tail = true,
};

/* ---- itertools' combinatorics ------------------------------------------- */

/* The items of the tuple at addr, 0 if it is not a tuple. */
static int64_t tuple_len(struct ph_heap *h, uint64_t addr)
{
	if (!addr || rd_ob_type(h, addr) != h->rt->kind_types[PH_KIND_TUPLE])
		return 0;
	return c40(rd_ob_size(h, addr));
}

/* product_sizeof: an index per pool. */
static uint64_t product_size(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t, int64_t ob_size)
{
	return (uint64_t)(t->basicsize +
			  8 * tuple_len(h,
					rd64(h, addr + h->L->product_pools)));
}

const struct ph_kind_ops ph_kind_product = {
	.size = product_size,
	.inline_size = ph_inline_size_c,
	.referents = ph_ref_c_unknown,
	.by_name = "itertools.product",
	.own_c_tail = true,
};

/* combinations_sizeof, cwr_sizeof: r indices (r at the same offset in
 * both structs, checked in layout_fields.h). */
static uint64_t combinations_size(struct ph_heap *h, uint64_t addr,
				  const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	uint32_t off = L->combinations_r;
	if (L->cwr_r != off) {
		uint64_t name = rd64(h, t->addr + L->tp_name);
		const char *nm = ph_mem_ptr(h->mem, name, 40);
		if (nm && !memcmp(nm, "itertools.combinations_with_", 28))
			off = L->cwr_r;
	}
	return (uint64_t)(t->basicsize + 8 * c40(rds64(h, addr + off)));
}

static const char *const combinations_names[] = {
	"itertools.combinations",
	"itertools.combinations_with_replacement",
	NULL,
};

const struct ph_kind_ops ph_kind_combinations = {
	.size = combinations_size,
	.inline_size = ph_inline_size_c,
	.referents = ph_ref_c_unknown,
	.by_names = combinations_names,
	.own_c_tail = true,
};

/* permutations_sizeof: an index per item of the pool, and r cycles. */
static uint64_t permutations_size(struct ph_heap *h, uint64_t addr,
				  const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	int64_t n = tuple_len(h, rd64(h, addr + L->permutations_pool));
	int64_t r = c40(rds64(h, addr + L->permutations_r));
	return (uint64_t)(t->basicsize + 8 * n + 8 * r);
}

const struct ph_kind_ops ph_kind_permutations = {
	.size = permutations_size,
	.inline_size = ph_inline_size_c,
	.referents = ph_ref_c_unknown,
	.by_name = "itertools.permutations",
	.own_c_tail = true,
};

/* ---- decimal.Decimal ---------------------------------------------------- */

/* libmpdec's MPD_STATIC_DATA | MPD_SHARED_DATA | MPD_CONST_DATA: data not
 * allocated for the number (in its struct, or another's) */
#define PH_MPD_DATAFLAGS 0xe0

/* dec_sizeof (_decimal.c): the struct, and its coefficient's words when
 * they were allocated for it (a number of more than 4 words, 38 digits). */
static uint64_t decimal_size(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t, int64_t ob_size)
{
	const struct ph_layout *L = h->L;
	uint64_t dec = addr + L->decimal_dec;
	uint64_t size = (uint64_t)t->basicsize;
	if (!(rd8(h, dec + L->mpd_flags) & PH_MPD_DATAFLAGS))
		size += 8 * (uint64_t)c40(rds64(h, dec + L->mpd_alloc));
	return size;
}

/* A leaf: PyDecObject (3.8-3.15) is a hash and an mpd_t whose coefficient
 * words are digits, in its struct (4 words) or malloc'd, and holds no
 * object. Scanned as words, the inline ones a short number leaves unused
 * keep what the block held before (pymalloc's free-list link to the next
 * free block: a Decimal at +0x60 seemed to refer to another, on 3.8's
 * stdlib_mix). */
const struct ph_kind_ops ph_kind_decimal = {
	.size = decimal_size,
	.inline_size = ph_inline_size_c,
	.by_name = "decimal.Decimal",
	.own_c_tail = true,
};

/* ---- C types whose references py-heap reads at their fields ---------- */
/* The offsets below are the same in 3.8 to 3.15 (DWARF of Debian's 3.11
 * and 3.14, 3.15), ph_hdr_shift further in free-threaded builds (added
 * to a fields table's by ph_heap_referents). */
#define STD_OFF(h, off) (ph_hdr_shift((h)->L) + (off))

/* contextvar_traverse: its name and default. var_cached (not in
 * free-threaded builds) is a borrowed cache of its value: no reference
 * (it gave a conservative edge to decimal's current Context). Its
 * tp_name is "ContextVar" in 3.8 and 3.9 (same layout: Python/context.c
 * and Include/internal/pycore_context.h of v3.8.18), "_contextvars.
 * ContextVar" from 3.10. */
static const char *const contextvar_names[] = {"ContextVar", NULL};
static const struct ph_field_ref contextvar_fields[] = {
	{16, "name"},
	{24, "default"},
};

const struct ph_kind_ops ph_kind_contextvar = {
	.inline_size = ph_inline_size_c,
	PH_KIND_FIELDS(contextvar_fields),
	.by_name = "_contextvars.ContextVar",
	.by_names = contextvar_names,
	.own_c_tail = true,
};

/* descr_traverse (Objects/descrobject.c) visits d_type only; d_name and
 * d_qualname (PyDescr_COMMON, the same from 3.8 to 3.15) are references
 * too, known as __name__ and __qualname__; the rest (d_method, d_member,
 * d_getset, d_base, d_wrapped, vectorcall) is C data. As an unknown C
 * type its name gave a conservative edge (getset_descriptor +0x18 on
 * 3.12.1, method_descriptor on 3.13.0, member_descriptor on 3.9.2). */
static const struct ph_field_ref descriptor_fields[] = {
	{16, "__objclass__"},
	{24, "__name__"},
	{32, "__qualname__"},
};

static const char *const descriptor_names[] = {
	"method_descriptor", "classmethod_descriptor", "member_descriptor",
	"getset_descriptor", "wrapper_descriptor",     NULL,
};

const struct ph_kind_ops ph_kind_descriptor = {
	.inline_size = ph_inline_size_c,
	PH_KIND_FIELDS(descriptor_fields),
	.by_names = descriptor_names,
	.own_c_tail = true,
};

/* decimal.Context (PyDecContextObject): an mpd_context_t (48 bytes, no
 * pointer), then its traps and flags, the two SignalDicts it owns
 * (context_dealloc drops them; a traverse visits them from 3.13 only). */
static const struct ph_field_ref deccontext_fields[] = {
	{64, "traps"},
	{72, "flags"},
};

const struct ph_kind_ops ph_kind_deccontext = {
	.inline_size = ph_inline_size_c,
	PH_KIND_FIELDS(deccontext_fields),
	.by_name = "decimal.Context",
	.own_c_tail = true,
};

/* memory_traverse: a memoryview holds its managed buffer; its view's obj
 * is a copy of the buffer's, borrowed (it gave a conservative edge to a
 * BytesIO's buffer). */
static const struct ph_field_ref memoryview_fields[] = {
	{24, "_mbuf"},
};

const struct ph_kind_ops ph_kind_memoryview = {
	.inline_size = ph_inline_size_c,
	PH_KIND_FIELDS(memoryview_fields),
	.by_name = "memoryview",
	.own_c_tail = true,
};

/* mbuf_traverse: a managed buffer holds its exporter (master.obj). */
static const struct ph_field_ref managedbuffer_fields[] = {
	{40, "obj"},
};

const struct ph_kind_ops ph_kind_managedbuffer = {
	.inline_size = ph_inline_size_c,
	PH_KIND_FIELDS(managedbuffer_fields),
	.by_name = "managedbuffer",
	.own_c_tail = true,
};

/* datetime.timezone (PyDateTime_TimeZone): its offset and name (no
 * traverse: no GC type). */
static const struct ph_field_ref timezone_fields[] = {
	{16, "offset"},
	{24, "name"},
};

const struct ph_kind_ops ph_kind_timezone = {
	.inline_size = ph_inline_size_c,
	PH_KIND_FIELDS(timezone_fields),
	.by_name = "datetime.timezone",
	.own_c_tail = true,
};

/* _io.IncrementalNewlineDecoder (nldecoder_object, textio.c, 3.8 to
 * 3.15): the decoder it wraps and its errors, then bit fields; its
 * traverse visits neither (it is not a GC type before 3.12's heap types),
 * yet both are owned. */
static const struct ph_field_ref nldecoder_fields[] = {
	{16, "decoder"},
	{24, "errors"},
};

const struct ph_kind_ops ph_kind_nldecoder = {
	.inline_size = ph_inline_size_c,
	PH_KIND_FIELDS(nldecoder_fields),
	.by_name = "_io.IncrementalNewlineDecoder",
	.own_c_tail = true,
};

/* _io.TextIOWrapper (textio, textio.c; the same offsets 3.8 to 3.15 in
 * the DWARF of pyenv's 3.8.18 to 3.13.0 and Debian's 3.11, 3.14, 3.15):
 * its references, errors and raw among them (textiowrapper_traverse
 * leaves them out, textiowrapper_clear drops them). weakreflist is
 * borrowed, writenl and encodefunc are C, and 3.12+'s state (+192) is a
 * borrowed pointer into the _io module's state: as a conservative word
 * it was taken for a reference on 3.13t (TextIOWrapper +0xd0). */
static const struct ph_field_ref textio_fields[] = {
	{32, "buffer"},		{40, "encoding"},	{48, "encoder"},
	{56, "decoder"},	{64, "readnl"},		{72, "errors"},
	{120, "decoded_chars"}, {136, "pending_bytes"}, {152, "snapshot"},
	{168, "raw"},		{184, "__dict__"},
};

const struct ph_kind_ops ph_kind_textio = {
	.inline_size = ph_inline_size_c,
	PH_KIND_FIELDS(textio_fields),
	.by_name = "_io.TextIOWrapper",
	.own_c_tail = true,
};

/* _io.StringIO (stringio, stringio.c): decoder, readnl, writenl and its
 * dict, which stringio_traverse visits, and the str it accumulates in
 * (owned: the accumulator's or writer's dealloc drops it), at each
 * version's offsets (layout_fields.h). 3.12+'s module_state, after its
 * weakreflist, is a borrowed pointer into the _io module's state (a
 * conservative referrer on 3.13t: StringIO +0xb0). */
static void stringio_referents(struct ph_heap *h, uint64_t addr,
			       const struct ph_type *t, int64_t ob_size,
			       ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	uint32_t d = L->stringio_decoder;
	if (!d)
		return;
	ph_ref_field(h, addr, d, "decoder", fn, arg);
	ph_ref_field(h, addr, d + 8, "readnl", fn, arg);
	ph_ref_field(h, addr, d + 16, "writenl", fn, arg);
	ph_ref_field(h, addr, d + 24, "__dict__", fn, arg);
	if (L->stringio_accu) {
		ph_ref_field(h, addr, L->stringio_accu, "accu.large", fn, arg);
		ph_ref_field(h, addr, L->stringio_accu + 8, "accu.small", fn,
			     arg);
	}
	ph_ref_field(h, addr, L->stringio_writer_buffer, "writer.buffer", fn,
		     arg);
	if (L->stringio_writer) {
		/* a PyMem block: a _PyUnicodeWriter, its buffer first */
		uint64_t w = rd64(h, addr + L->stringio_writer);
		uint64_t v = w ? rd64(h, w) : 0;
		if (v)
			fn(arg, v, PH_EDGE_FIELD,
			   (uint64_t)(uintptr_t) "writer.buffer");
	}
}

const struct ph_kind_ops ph_kind_stringio = {
	.inline_size = ph_inline_size_c,
	.referents = stringio_referents,
	.by_name = "_io.StringIO",
	.own_c_tail = true,
};

/* _asyncio's _RunningLoopHolder (PyRunningLoopHolder, 3.8 to 3.11; a
 * thread's running loop, kept in its thread state's dict): the loop, then
 * the pid; no traverse, yet the loop is owned. */
static const struct ph_field_ref loopholder_fields[] = {
	{16, "rl_loop"},
};

const struct ph_kind_ops ph_kind_loopholder = {
	.inline_size = ph_inline_size_c,
	PH_KIND_FIELDS(loopholder_fields),
	.by_name = "_RunningLoopHolder",
	.own_c_tail = true,
};

/* datetime.datetime and datetime.time: a tzinfo after their data when
 * hastzinfo (the byte after the hash) is set; without it the object is
 * allocated shorter and has none. */
static void datetime_referents(struct ph_heap *h, uint64_t addr,
			       const struct ph_type *t, int64_t ob_size,
			       ph_referent_fn fn, void *arg)
{
	if (!rd8(h, addr + STD_OFF(h, 24)))
		return;
	uint64_t name = rd64(h, t->addr + h->L->tp_name);
	const char *nm = ph_mem_ptr(h->mem, name, 14);
	bool time = nm && !memcmp(nm, "datetime.time", 14);
	ph_ref_field(h, addr, STD_OFF(h, time ? 32 : 40), "tzinfo", fn, arg);
}

static const char *const datetime_names[] = {
	"datetime.datetime",
	"datetime.time",
	NULL,
};

const struct ph_kind_ops ph_kind_datetime = {
	.inline_size = ph_inline_size_c,
	.referents = datetime_referents,
	.by_names = datetime_names,
	.own_c_tail = true,
};

/* A module definition (PyModuleDef, an object though mostly static): its
 * m_base.m_copy, the copy of a single-phase module's dict that
 * _PyImport_FixupExtensionObject keeps for reloading it, is its reference
 * (the collector does not see it: no traverse). Its other words are C. */
static const struct ph_field_ref moduledef_fields[] = {
	{32, "m_copy"},
};

const struct ph_kind_ops ph_kind_moduledef = {
	.inline_size = ph_inline_size_c,
	PH_KIND_FIELDS(moduledef_fields),
	.by_name = "moduledef",
	.own_c_tail = true,
};

/* Cython's functions: cython_function_or_method (__pyx_CyFunctionObject)
 * and its subtype fused_cython_function (__pyx_FusedFunctionObject), as
 * Cython 0.29.16 to 0.29.37 lay them out (Cython/Utility/CythonFunction.c;
 * Debian 12's numpy and pandas were built with 0.29.32; Cython 3 names
 * its types "_cython_3_x_y.cython_function_or_method", not these). The
 * struct starts with a PyCFunctionObject: m_ml is C, m_self is the
 * function itself, borrowed (__Pyx_CyFunction_Init sets it so; neither
 * traverse nor clear touches it), m_module a reference (the module's
 * name), m_weakreflist the weakref list head, vectorcall C. After it,
 * each a reference (__Pyx_CyFunction_clear drops them): func_dict,
 * func_name, func_qualname, func_doc, func_globals, func_code,
 * func_closure, func_classobj; then defaults (a PyObject_Malloc'd block
 * whose first defaults_pyobjects words are references), the int
 * defaults_pyobjects, defaults_size, flags; defaults_tuple and
 * defaults_kwdict, references; defaults_getter, C; func_annotations, a
 * reference (cleared, though traverse leaves it out). A fused function
 * adds __signatures__, type and self, references. Checked on Debian's
 * 3.11 with ctypes: basicsize 184 and 208, m_self == id(f), m_module,
 * func_qualname, func_globals and func_code the function's attributes,
 * gc.get_referents() of all 751 functions of numpy and pandas among these
 * fields. Another size (another Cython, a free-threaded build) is scanned
 * as a C type with no layout, less m_self. */
enum { CYF_UNKNOWN, CYF_PLAIN, CYF_FUSED, CYF3_PLAIN, CYF3_FUSED };
#define CYF_AFTER_CFUNC 56 /* sizeof(PyCFunctionObject), 3.8+ */
#define CYF_SIZE (CYF_AFTER_CFUNC + 128)
#define CYF_FUSED_SIZE (CYF_SIZE + 24)
/* Cython 3.1's (its module "_cython_3_1_N"), on CPython 3.9+: a
 * PyCMethodObject (its mm_class at 56) first */
#define CYF3_PREFIX "_cython_3_1_"
#define CYF3_SIZE 176
#define CYF3_FUSED_SIZE (CYF3_SIZE + 16)

static void cyfunction_type_init(struct ph_heap *h, struct ph_type *t)
{
	int64_t own = t->kind_basicsize - (int64_t)ph_hdr_shift(h->L);
	const char *nm = ph_mem_ptr(h->mem, rd64(h, t->addr + h->L->tp_name),
				    sizeof(CYF3_PREFIX) - 1);
	bool cy3 = nm && !memcmp(nm, CYF3_PREFIX, sizeof(CYF3_PREFIX) - 1);
	if (ph_hdr_shift(h->L)) /* (no free-threaded build checked) */
		t->kind_data = CYF_UNKNOWN;
	else if (cy3 && h->L->minor >= 9 && own == CYF3_SIZE)
		t->kind_data = CYF3_PLAIN;
	else if (cy3 && h->L->minor >= 9 && own == CYF3_FUSED_SIZE)
		t->kind_data = CYF3_FUSED;
	else if (cy3)
		t->kind_data = CYF_UNKNOWN;
	else if (own == CYF_SIZE)
		t->kind_data = CYF_PLAIN;
	else if (own == CYF_FUSED_SIZE)
		t->kind_data = CYF_FUSED;
}

struct cyfunction_ctx {
	ph_referent_fn fn;
	void *arg;
	uint64_t self;
	uint64_t m_self;
};

static void cyfunction_cb(void *arg, uint64_t target, enum ph_edge_kind kind,
			  uint64_t data)
{
	struct cyfunction_ctx *c = arg;
	if (kind == PH_EDGE_CONSERVATIVE && target == c->self &&
	    data == c->m_self)
		return;
	c->fn(c->arg, target, kind, data);
}

/* Cython 3.1's __pyx_CyFunctionObject (CythonFunction.c of 3.1.0 to
 * 3.1.8, the same struct), on 3.9+ and not the limited API: after the
 * PyCFunctionObject, mm_class (the class cell of super(), owned); then
 * func_dict to func_closure (owned); defaults (an object, owned); flags
 * (C); defaults_tuple, defaults_kwdict (owned); defaults_getter (C);
 * func_annotations and func_is_coroutine (owned). Its traverse visits
 * func_name, func_qualname and func_code only when built with
 * CYTHON_DEBUG_VISIT_CONST, func_annotations never; clear drops them
 * all. A fused function adds __signatures__ and self. Checked with
 * ctypes on sid's python3.14 (numpy 2.4.6, Cython 3.1.6): basicsize 176,
 * __dictoffset__ 64, m_self == id(f), the attributes at their words. */
static void cyfunction3_referents(struct ph_heap *h, uint64_t addr,
				  const struct ph_type *t, ph_referent_fn fn,
				  void *arg)
{
	static const char *const names[] = {
		"__dict__",    "__name__", "__qualname__", "__doc__",
		"__globals__", "__code__", "__closure__",
	};
	fn(arg, addr, PH_EDGE_BORROWED, (uint64_t)(uintptr_t) "m_self");
	ph_ref_field(h, addr, 32, "__module__", fn, arg);
	ph_ref_field(h, addr, 56, "mm_class", fn, arg);
	for (uint32_t i = 0; i < 7; i++)
		ph_ref_field(h, addr, 64 + 8 * i, names[i], fn, arg);
	ph_ref_field(h, addr, 120, "defaults", fn, arg);
	ph_ref_field(h, addr, 136, "__defaults__", fn, arg);
	ph_ref_field(h, addr, 144, "__kwdefaults__", fn, arg);
	ph_ref_field(h, addr, 160, "__annotations__", fn, arg);
	ph_ref_field(h, addr, 168, "_is_coroutine", fn, arg);
	if (t->kind_data == CYF3_FUSED) {
		ph_ref_field(h, addr, CYF3_SIZE, "__signatures__", fn, arg);
		ph_ref_field(h, addr, CYF3_SIZE + 8, "__self__", fn, arg);
	}
}

static void cyfunction_referents(struct ph_heap *h, uint64_t addr,
				 const struct ph_type *t, int64_t ob_size,
				 ph_referent_fn fn, void *arg)
{
	if (t->kind_data == CYF_UNKNOWN) {
		struct cyfunction_ctx c = {fn, arg, addr, STD_OFF(h, 24)};
		ph_ref_c_unknown(h, addr, t, ob_size, cyfunction_cb, &c);
		return;
	}
	if (t->kind_data >= CYF3_PLAIN) {
		cyfunction3_referents(h, addr, t, fn, arg);
		return;
	}
	static const char *const names[] = {
		"__dict__",    "__name__", "__qualname__", "__doc__",
		"__globals__", "__code__", "__closure__",  "func_classobj",
	};
	fn(arg, addr, PH_EDGE_BORROWED, (uint64_t)(uintptr_t) "m_self");
	ph_ref_field(h, addr, 32, "__module__", fn, arg);
	uint32_t p = CYF_AFTER_CFUNC;
	for (uint32_t i = 0; i < 8; i++)
		ph_ref_field(h, addr, p + 8 * i, names[i], fn, arg);
	uint64_t defaults = rd64(h, addr + p + 64);
	int32_t ndefaults = (int32_t)rd32(h, addr + p + 72);
	if (defaults && ndefaults > 0 && ndefaults < 4096)
		for (int32_t i = 0; i < ndefaults; i++) {
			uint64_t v = rd64(h, defaults + 8 * (uint64_t)i);
			if (v)
				fn(arg, v, PH_EDGE_FIELD,
				   (uint64_t)(uintptr_t) "dynamic_defaults");
		}
	ph_ref_field(h, addr, p + 96, "__defaults__", fn, arg);
	ph_ref_field(h, addr, p + 104, "__kwdefaults__", fn, arg);
	ph_ref_field(h, addr, p + 120, "__annotations__", fn, arg);
	if (t->kind_data == CYF_FUSED) {
		ph_ref_field(h, addr, CYF_SIZE, "__signatures__", fn, arg);
		ph_ref_field(h, addr, CYF_SIZE + 8, "type", fn, arg);
		ph_ref_field(h, addr, CYF_SIZE + 16, "__self__", fn, arg);
	}
}

static const char *const cyfunction_names[] = {
	"cython_function_or_method",
	"fused_cython_function",
	NULL,
};

const struct ph_kind_ops ph_kind_cyfunction = {
	.inline_size = ph_inline_size_c,
	.referents = cyfunction_referents,
	.by_names = cyfunction_names,
	.by_module_prefix = CYF3_PREFIX,
	.type_init = cyfunction_type_init,
	.own_c_tail = true,
};
