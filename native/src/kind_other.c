/*
 * kind_other.c - the remaining kinds: instances of object and of C types
 * py-heap has no layout for, functions, cells, bound methods, modules,
 * weak references, exceptions, properties, classmethod and staticmethod,
 * functools.partial and lru_cache.
 */
#include <stdio.h>
#include <string.h>

#include "kinds.h"

/* ---- object, and C types py-heap does not know ------------------------ */

/* A C type may allocate less than its basicsize (datetime's objects
 * without tzinfo): only the header is certain. */
uint64_t ph_inline_size_c(struct ph_heap *h, uint64_t addr,
			  const struct ph_type *t, int64_t ob_size)
{
	if (!t->heap)
		return 16;
	return ph_inline_size_generic(h, addr, t, ob_size);
}

const struct ph_kind_ops ph_kind_object = {
	.inline_size = ph_inline_size_c,
	.fixed_size = true,
};

/* A C type py-heap has no layout for: its whole body, guessed. */
void ph_ref_c_unknown(struct ph_heap *h, uint64_t addr, const struct ph_type *t,
		      int64_t ob_size, ph_referent_fn fn, void *arg)
{
	int64_t end = t->base_basicsize;
	if (end < 16 || end > (1 << 24))
		return; /* (a damaged type's: nothing of it is known) */
	if (t->itemsize && ob_size > 0 && ob_size < (1 << 20) &&
	    t->itemsize % 8 == 0)
		end += ob_size * t->itemsize;
	/* Its weakref list head is borrowed (an asyncio Task's gave a
	 * conservative edge to its weak reference), its __dict__ at
	 * tp_dictoffset a reference. */
	int64_t from = 16;
	int64_t wl = t->weaklistoffset, d = t->dictoffset;
	/* the two in order, each once, where a word of the body is (not a
	 * walk to end: a damaged type's size may be anything) */
	int64_t at[2] = {wl < d ? wl : d, wl < d ? d : wl};
	for (int i = 0; i < 2; i++) {
		int64_t off = at[i];
		if (off < from || off % 8 || off + 8 > end)
			continue;
		ph_ref_conservative(h, addr, from, off, fn, arg);
		if (off == d)
			ph_ref_field(h, addr, (uint32_t)off, "__dict__", fn,
				     arg);
		from = off + 8;
	}
	ph_ref_conservative(h, addr, from, end, fn, arg);
}

const struct ph_kind_ops ph_kind_other = {
	.inline_size = ph_inline_size_c,
	.referents = ph_ref_c_unknown,
	.own_c_tail = true,
};

/* ---- functions -------------------------------------------------------- */

static void function_referents(struct ph_heap *h, uint64_t addr,
			       const struct ph_type *t, int64_t ob_size,
			       ph_referent_fn fn, void *arg)
{
	static const char *const names[] = {
		"__globals__",	  "__builtins__", "__name__",
		"__qualname__",	  "__code__",	  "__defaults__",
		"__kwdefaults__", "__closure__",  "__doc__",
		"__dict__",	  "__module__",	  "__annotations__",
	};
	const struct ph_layout *L = h->L;
	for (uint32_t i = 0; i < L->nfunc_fields && i < 12; i++)
		ph_ref_field(h, addr, L->func_fields[i], names[i], fn, arg);
}

const struct ph_kind_ops ph_kind_function = {
	.referents = function_referents,
	.fixed_size = true,
};

/* ---- cells, bound methods --------------------------------------------- */

static void cell_referents(struct ph_heap *h, uint64_t addr,
			   const struct ph_type *t, int64_t ob_size,
			   ph_referent_fn fn, void *arg)
{
	ph_ref_field(h, addr, h->L->cell_ref, "cell_contents", fn, arg);
}

const struct ph_kind_ops ph_kind_cell = {
	.referents = cell_referents,
	.fixed_size = true,
};

static void method_referents(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t, int64_t ob_size,
			     ph_referent_fn fn, void *arg)
{
	ph_ref_field(h, addr, h->L->method_func, "__func__", fn, arg);
	ph_ref_field(h, addr, h->L->method_self, "__self__", fn, arg);
}

const struct ph_kind_ops ph_kind_method = {
	.referents = method_referents,
	.fixed_size = true,
};

/* ---- modules ---------------------------------------------------------- */

/* Its dict and name; the rest of its struct (md_state, md_def, ...)
 * guessed. */
static void module_referents(struct ph_heap *h, uint64_t addr,
			     const struct ph_type *t, int64_t ob_size,
			     ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	ph_ref_field(h, addr, L->module_dict, "__dict__", fn, arg);
	ph_ref_field(h, addr, L->module_name, "__name__", fn, arg);
	ph_ref_conservative(h, addr, L->module_name + 8, t->base_basicsize, fn,
			    arg);
}

static void module_repr(struct ph_heap *h, uint64_t addr,
			const struct ph_type *t, struct ph_buf *out)
{
	ph_buf_puts(out, "<module ");
	ph_repr_str(h, rd64(h, addr + h->L->module_name), out, 60);
	ph_buf_puts(out, ">");
}

/* A module's tp_dictoffset is md_dict's, which a subclass inherits
 * (six's lazy modules: their dict was counted twice) */
static bool module_own_dict_at(struct ph_heap *h, int64_t off)
{
	return off == h->L->module_dict;
}

const struct ph_kind_ops ph_kind_module = {
	.referents = module_referents,
	.own_dict_at = module_own_dict_at,
	.repr = module_repr,
	.fixed_size = true,
	.own_c_tail = true,
};

/* ---- weak references -------------------------------------------------- */

/* The callback is held; the object is not (unless it is None, dead). */
static void weakref_referents(struct ph_heap *h, uint64_t addr,
			      const struct ph_type *t, int64_t ob_size,
			      ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	ph_ref_field(h, addr, L->weakref_callback, "__callback__", fn, arg);
	uint64_t o = rd64(h, addr + L->weakref_object);
	if (o && o != h->rt->none_addr)
		fn(arg, o, PH_EDGE_WEAK, (uint64_t)(uintptr_t) "wr_object");
}

const struct ph_kind_ops ph_kind_weakref = {
	.referents = weakref_referents,
};

/* ---- exceptions ------------------------------------------------------- */

/* BaseException's fields, then a subclass's (OSError's errno, ...)
 * guessed. */
static void exception_referents(struct ph_heap *h, uint64_t addr,
				const struct ph_type *t, int64_t ob_size,
				ph_referent_fn fn, void *arg)
{
	static const char *const names[] = {
		"__dict__",	 "args",	"__notes__",
		"__traceback__", "__context__", "__cause__",
	};
	const struct ph_layout *L = h->L;
	for (size_t i = 0; i < 6; i++)
		ph_ref_field(h, addr, L->exc_fields[i], names[i], fn, arg);
	ph_ref_conservative(h, addr, L->exc_fields[5] + 16, t->base_basicsize,
			    fn, arg);
}

const struct ph_kind_ops ph_kind_exception = {
	.referents = exception_referents,
	.own_c_tail = true,
};

/* ---- property, classmethod, staticmethod ------------------------------ */

static void property_referents(struct ph_heap *h, uint64_t addr,
			       const struct ph_type *t, int64_t ob_size,
			       ph_referent_fn fn, void *arg)
{
	static const char *const names[] = {
		"fget", "fset", "fdel", "__doc__", "__name__",
	};
	for (size_t i = 0; i < 5; i++)
		ph_ref_field(h, addr, h->L->prop_fields[i], names[i], fn, arg);
}

const struct ph_kind_ops ph_kind_property = {
	.referents = property_referents,
};

static void classmethod_referents(struct ph_heap *h, uint64_t addr,
				  const struct ph_type *t, int64_t ob_size,
				  ph_referent_fn fn, void *arg)
{
	ph_ref_field(h, addr, h->L->cm_callable, "__func__", fn, arg);
	ph_ref_field(h, addr, h->L->cm_dict, "__dict__", fn, arg);
}

const struct ph_kind_ops ph_kind_classmethod = {
	.referents = classmethod_referents,
};

/* ---- functools.partial ------------------------------------------------ */

/* partial_traverse: its function, arguments and dict (the same offsets
 * 3.8 to 3.15; 3.14's placeholder is borrowed from the module). */
static const struct ph_field_ref partial_fields[] = {
	{16, "func"},
	{24, "args"},
	{32, "keywords"},
	{40, "__dict__"},
};

const struct ph_kind_ops ph_kind_partial = {
	PH_KIND_FIELDS(partial_fields),
	.by_name = "functools.partial",
};

/* ---- functools.lru_cache ---------------------------------------------- */

/* As lru_cache_tp_traverse visits them: the key and result of each link
 * of its list (from the root, the wrapper's own head, round to it), then
 * its fields. The links hold the references, but are no GC objects; the
 * collector, gc.get_referrers() and py-heap name the wrapper. The links
 * themselves: one reference each from the cache dict, one from the list
 * (the wrapper's, which the collector does not see). */
static void lru_referents(struct ph_heap *h, uint64_t addr,
			  const struct ph_type *t, int64_t ob_size,
			  ph_referent_fn fn, void *arg)
{
	const struct ph_layout *L = h->L;
	uint64_t link = rd64(h, addr + L->lru_elem_next);
	/* (bounded: a damaged list need not come back to the root; each
	 * link is an entry of the cache dict) */
	uint64_t cache = rd64(h, addr + L->lru_cache);
	int64_t most = cache ? c40(rds64(h, cache + L->dict_used)) + 1 : 0;
	for (int64_t n = 0; link && link != addr && n < most && n < (1 << 24);
	     n++) {
		/* the list owns its links (lru_cache_clear_list) */
		fn(arg, link, PH_EDGE_FIELD,
		   (uint64_t)(uintptr_t) "<lru link>");
		ph_ref_field(h, link, L->lru_elem_key, "<lru key>", fn, arg);
		ph_ref_field(h, link, L->lru_elem_result, "<lru result>", fn,
			     arg);
		link = rd64(h, link + L->lru_elem_next);
	}
	ph_ref_field(h, addr, L->lru_cache, "cache", fn, arg);
	ph_ref_field(h, addr, L->lru_func, "__wrapped__", fn, arg);
	ph_ref_field(h, addr, L->lru_kwd_mark, "kwd_mark", fn, arg);
	ph_ref_field(h, addr, L->lru_elem_type, "lru_list_elem_type", fn, arg);
	ph_ref_field(h, addr, L->lru_cache_info_type, "cache_info_type", fn,
		     arg);
	ph_ref_field(h, addr, L->lru_dict, "__dict__", fn, arg);
}

static bool lru_own_dict_at(struct ph_heap *h, int64_t off)
{
	return off == h->L->lru_dict;
}

const struct ph_kind_ops ph_kind_lru = {
	.referents = lru_referents,
	.own_dict_at = lru_own_dict_at,
	.by_name = "functools._lru_cache_wrapper",
};

/* A link of an lru_cache's list: its key and result are the wrapper's
 * (lru_referents); its links to others borrowed. */
const struct ph_kind_ops ph_kind_lru_elem = {
	.by_name = "functools._lru_list_elem",
};
