/*
 * kind_frame.c - what runs code: frame objects and interpreter frames
 * (3.11+ _PyInterpreterFrame; up to 3.10 the frame object itself),
 * generators, coroutines and async generators, code objects and their
 * line tables (co_lnotab, 3.10's co_linetable, 3.11+'s location table).
 */
#include <stdio.h>
#include <string.h>

#include "kinds.h"

/* ---- code objects ----------------------------------------------------- */

static bool is_code(struct ph_heap *h, uint64_t code)
{
	return code &&
	       rd64(h, code + h->L->ob_type) == h->rt->kind_types[PH_KIND_CODE];
}

/* The size of a tuple of names, 0 if it is none. */
static int64_t tuple_len(struct ph_heap *h, uint64_t t)
{
	if (!t ||
	    rd64(h, t + h->L->ob_type) != h->rt->kind_types[PH_KIND_TUPLE])
		return 0;
	int64_t n = rd_ob_size(h, t);
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

/* basicsize and the code units (itemsize each), rounded up to 8. */
static uint64_t code_size(struct ph_heap *h, uint64_t addr,
			  const struct ph_type *t, int64_t ob_size)
{
	return (uint64_t)((t->basicsize + abs40(ob_size) * t->itemsize + 7) &
			  ~7LL);
}

static void code_referents(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size,
			   ph_referent_fn fn, void *arg)
{
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
	const struct ph_layout *L = h->L;
	const char *const *nm =
		L->code_field_names ? L->code_field_names : names;
	for (uint32_t i = 0; i < L->ncode_fields && i < 10; i++)
		ph_ref_field(h, addr, L->code_fields[i], nm[i], fn, arg);
}

const struct ph_kind_ops ph_kind_code = {
	.size = code_size,
	.referents = code_referents,
};

/* ---- line tables ------------------------------------------------------ */

/* 3.11's location table (Objects/locations.md): the line of a code unit. */
static int code_line(struct ph_heap *h, uint64_t code, int64_t unit)
{
	const struct ph_layout *L = h->L;
	int line = (int)rd32(h, code + L->code_firstlineno);
	uint64_t table = rd64(h, code + L->co_linetable);
	int64_t len = rd_ob_size(h, table);
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
	int64_t len = rd_ob_size(h, table);
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

/* ---- interpreter frames ----------------------------------------------- */

uint64_t ph_heap_thread_frame(struct ph_heap *h, uint64_t ts)
{
	const struct ph_layout *L = h->L;
	uint64_t v = rd64(h, ts + L->ts_cframe);
	if (L->cframe_current == UINT32_MAX) /* 3.13+: the frame itself */
		return v;
	return v ? rd64(h, v + L->cframe_current) : 0;
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
	ph_ref_field(h, f, L->if_code, "f_code", fn, arg);
	ph_ref_field(h, f, L->if_builtins, "f_builtins", fn, arg);
	ph_ref_field(h, f, L->if_globals, "f_globals", fn, arg);
	ph_ref_field(h, f, L->if_locals, "f_locals", fn, arg);
	ph_ref_field(h, f, L->frame_trace, "f_trace", fn, arg);
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
	/* 3.12+: an entry frame on the C stack (owner 3: 3.12-3.13's
	 * FRAME_OWNED_BY_CSTACK, 3.14's FRAME_OWNED_BY_INTERPRETER; 3.14's
	 * CSTACK is 4) borrows the interpreter's trampoline code (3.13+:
	 * None); its function and locals are never set (stale words of the
	 * C stack) */
	if (L->minor >= 12 && L->if_owner && L->if_owner != UINT32_MAX &&
	    rd8(h, f + L->if_owner) >= 3) {
		if (code)
			fn(arg, code, PH_EDGE_BORROWED,
			   (uint64_t)(uintptr_t) "f_code");
		return;
	}
	if (func)
		fn(arg, func, PH_EDGE_FIELD, (uint64_t)(uintptr_t) "f_func");
	/* 3.11+: "Borrowed reference" (pycore_frame.h): the function holds
	 * them, the frame does not (see docs/design.md's table) */
	uint64_t ns;
	if ((ns = rd64(h, f + L->if_globals)))
		fn(arg, ns, PH_EDGE_BORROWED,
		   (uint64_t)(uintptr_t) "f_globals");
	if ((ns = rd64(h, f + L->if_builtins)))
		fn(arg, ns, PH_EDGE_BORROWED,
		   (uint64_t)(uintptr_t) "f_builtins");
	ph_ref_field(h, f, L->if_locals, "f_locals", fn, arg);
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
			/* Py_TAG_REFCNT (default builds): the entry holds no
			 * reference (LOAD_FAST_BORROW's, an immortal's), as
			 * the collector's subtraction skips it
			 * (_PyGC_VisitStackRef); 3.14 asyncio_service's
			 * refcheck: 5 deficits, none now */
			bool borrowed = (v & 1) && !ph_hdr_shift(L);
			v &= ~3ULL;
			if (borrowed) {
				if (v)
					fn(arg, v, PH_EDGE_BORROWED,
					   (uint64_t)(uintptr_t)(i < nlocals
									 ? "loc"
									   "al"
									 : "sta"
									   "c"
									   "k"));
				continue;
			}
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

/* ---- frame objects, generators ---------------------------------------- */

/* sys.getsizeof(frame), of generators and coroutines: up to 3.10 the
 * frame object and its locals, cells, free variables and stack (one slot
 * is in the struct), a generator its struct; since, the object up to its
 * interpreter frame and the frame's locals and stack, as the code object
 * sizes them (frame_sizeof, gen_sizeof). Also their inline size: their
 * word at +16 is no item count. */
static uint64_t frame_sizeof(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t, bool frame)
{
	const struct ph_layout *L = h->L;
	if (L->frame_objects) {
		if (!frame)
			return (uint64_t)t->basicsize;
		int64_t n =
			frameobj_nlocalsplus(h, rd64(h, addr + L->if_code)) +
			(int32_t)rd32(h, rd64(h, addr + L->if_code) +
						 L->co_stacksize);
		return (uint64_t)(L->if_localsplus +
				  8 * (n >= 0 && n < (1 << 20) ? n : 1));
	}
	uint64_t code, iframe = addr + L->gen_iframe;
	if (frame) {
		iframe = addr + L->frame_data;
		code = rd64(h, rd64(h, addr + L->frame_iframe) + L->if_code);
	} else
		code = rd64(h, addr + L->gen_code);
	if (L->stackrefs)
		code &= ~3ULL;
	int32_t n = (int32_t)rd32(h, code + L->co_nlocalsplus) +
		    (int32_t)rd32(h, code + L->co_stacksize);
	if (n < 0 || n > (1 << 20))
		n = 0;
	return (uint64_t)((int64_t)(iframe - addr) + L->if_localsplus +
			  8 * (int64_t)n);
}

static uint64_t frame_size(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size)
{
	return frame_sizeof(h, addr, t, true);
}

static uint64_t gen_size(struct ph_heap *h, uint64_t addr,
			 const struct ph_type *t, int64_t ob_size)
{
	return frame_sizeof(h, addr, t, false);
}

static void frame_referents(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size,
			    ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	ph_ref_field(h, addr, L->frame_back, "f_back", fn, arg);
	if (L->frame_objects) {
		ph_heap_iframe_referents(h, addr, fn, arg);
		return;
	}
	ph_ref_field(h, addr, L->frame_trace, "f_trace", fn, arg);
	/* The frame's data is its own once the call has returned. */
	uint64_t iframe = rd64(h, addr + L->frame_iframe);
	if (iframe == addr + L->frame_data)
		ph_heap_iframe_referents(h, iframe, fn, arg);
}

const struct ph_kind_ops ph_kind_frame = {
	.size = frame_size,
	.inline_size = frame_size,
	.referents = frame_referents,
};

static void gen_referents(struct ph_heap *h, uint64_t addr,
			  const struct ph_type *t, int64_t ob_size,
			  ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	if (L->frame_objects) {
		/* up to 3.10: a frame object and an exception state */
		ph_ref_field(h, addr, L->gen_frame, "gi_frame", fn, arg);
		ph_ref_field(h, addr, L->gen_code, "gi_code", fn, arg);
		ph_ref_field(h, addr, L->gen_name, "__name__", fn, arg);
		ph_ref_field(h, addr, L->gen_qualname, "__qualname__", fn, arg);
		ph_ref_field(h, addr, L->gen_exc_state, "exc_type", fn, arg);
		ph_ref_field(h, addr, L->gen_exc_state + 8, "exc_value", fn,
			     arg);
		ph_ref_field(h, addr, L->gen_exc_state + 16, "exc_traceback",
			     fn, arg);
		return;
	}
	int8_t state = (int8_t)rd8(h, addr + L->gen_state);
	/* created, suspended or running */
	bool live = state < (L->gen_state_done ? L->gen_state_done : 1);
	/* 3.12+ has no gi_code: "gi_code" is the frame's f_code (f_executable),
	 * one reference, which the live frame's referents report already
	 * (counted twice: each suspended generator's code -1 in refcheck) */
	if (live && L->gen_code == L->gen_iframe + L->if_code)
		;
	else if (L->stackrefs) {
		uint64_t c = rd64(h, addr + L->gen_code) & ~3ULL;
		if (c)
			fn(arg, c, PH_EDGE_FIELD,
			   (uint64_t)(uintptr_t) "gi_code");
	} else
		ph_ref_field(h, addr, L->gen_code, "gi_code", fn, arg);
	ph_ref_field(h, addr, L->gen_name, "__name__", fn, arg);
	ph_ref_field(h, addr, L->gen_qualname, "__qualname__", fn, arg);
	if (live)
		ph_heap_iframe_referents(h, addr + L->gen_iframe, fn, arg);
}

const struct ph_kind_ops ph_kind_gen = {
	.size = gen_size,
	.inline_size = gen_size,
	.referents = gen_referents,
};
