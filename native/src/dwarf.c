/*
 * dwarf.c - struct member offsets from the interpreter's DWARF (libdw),
 * where it has some (its -dbg package, a debuginfod server, a build with
 * debug information): the layout tables are checked against them, and a
 * field that differs (a patch release that moved it) is taken from them.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

/* The struct definitions we look for, by name (the first complete one). */
struct wanted {
	const char *name;
	Dwarf_Die die;
	bool found;
};

static int member_offset(Dwarf_Die *st, const char *member, Dwarf_Word *ret,
			 Dwarf_Die *ret_type)
{
	Dwarf_Die child;
	if (dwarf_child(st, &child) != 0)
		return -1;
	do {
		if (dwarf_tag(&child) != DW_TAG_member)
			continue;
		const char *n = dwarf_diename(&child);
		if (!n || strcmp(n, member))
			continue;
		Dwarf_Attribute a;
		if (!dwarf_attr_integrate(&child, DW_AT_data_member_location,
					  &a) ||
		    dwarf_formudata(&a, ret) != 0)
			return -1;
		if (ret_type) {
			Dwarf_Attribute t;
			if (!dwarf_attr_integrate(&child, DW_AT_type, &t) ||
			    !dwarf_formref_die(&t, ret_type))
				return -1;
			/* through typedefs and qualifiers to the struct */
			for (int i = 0; i < 8; i++) {
				int tag = dwarf_tag(ret_type);
				if (tag == DW_TAG_structure_type ||
				    tag == DW_TAG_union_type)
					break;
				if (!dwarf_attr_integrate(ret_type, DW_AT_type,
							  &t) ||
				    !dwarf_formref_die(&t, ret_type))
					return -1;
			}
		}
		return 0;
	} while (dwarf_siblingof(&child, &child) == 0);
	return -1;
}

/* "a.b.c" inside struct st: the sum of the nested members' offsets. */
static int path_offset(Dwarf_Die *st, const char *path, Dwarf_Word *ret)
{
	Dwarf_Die cur = *st, next;
	Dwarf_Word total = 0;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *p = strtok_r(buf, ".", &save); p;
	     p = strtok_r(NULL, ".", &save)) {
		Dwarf_Word off;
		if (member_offset(&cur, p, &off, &next) != 0)
			return -1;
		total += off;
		cur = next;
	}
	*ret = total;
	return 0;
}

/* Changes with every build of this file: the layout cache (runtime.c)
 * keys on it, so that a changed list of checks is never answered by the
 * outcome of an older one. */
const char ph_dwarf_check_id[] = __DATE__ " " __TIME__;

int ph_dwarf_check_layout(const struct ph_module *mod, struct ph_layout *L,
			  int *ret_checked)
{
	Elf *elf = mod->debug_elf ? mod->debug_elf : mod->elf;
	*ret_checked = 0;
	if (!elf)
		return 0;
	Dwarf *dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (!dw)
		return 0;
	struct wanted w[6];
	static const char *const names[6] = {
		"_gc_runtime_state",
		"_is",
		"_ts",
		"_typeobject",
		"_heaptypeobject",
		"pyruntimestate",
	};
	memset(w, 0, sizeof(w));
	for (size_t i = 0; i < 6; i++)
		w[i].name = names[i];
	size_t nfound = 0;
	Dwarf_Off off = 0, next;
	size_t hsize;
	while (nfound < PH_ARRAY_SIZE(w) &&
	       dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, die;
		if (dwarf_offdie(dw, off + hsize, &cu) &&
		    dwarf_child(&cu, &die) == 0) {
			do {
				int tag = dwarf_tag(&die);
				if (tag != DW_TAG_structure_type ||
				    dwarf_hasattr(&die, DW_AT_declaration))
					continue;
				const char *n = dwarf_diename(&die);
				for (size_t i = 0; n && i < PH_ARRAY_SIZE(w);
				     i++)
					if (!w[i].found &&
					    !strcmp(n, w[i].name)) {
						w[i].die = die;
						w[i].found = true;
						nfound++;
					}
			} while (dwarf_siblingof(&die, &die) == 0);
		}
		off = next;
	}
	/* The fields most likely to move between patch releases. */
	struct {
		int st;
		const char *path;
		size_t field;
	} checks[] = {
#define C(st, path, f) {st, path, offsetof(struct ph_layout, f)}
		C(0, "generations", gc_generations),
		C(0, "permanent_generation", gc_permanent),
		C(0, "garbage", gc_garbage),
		C(1, "next", is_next),
		C(1, "threads.head", is_threads_head),
		C(1, "gc", is_gc),
		C(1, "sysdict", is_sysdict),
		C(1, "builtins", is_builtins),
		/* move in debug builds: 3.11's, then 3.12+'s place */
		C(1, "type_cache", is_type_cache),
		C(1, "types.type_cache", is_type_cache),
		/* 3.13+: {num_initialized, initialized[]}; 3.12: the array */
		C(1, "types.builtins.initialized", is_builtin_states),
		C(1, "types.builtins", is_builtin_states),
		C(2, "next", ts_next),
		C(3, "tp_flags", tp_flags),
		C(3, "tp_dict", tp_dict),
		C(3, "tp_subclasses", tp_subclasses),
		C(4, "ht_qualname", ht_qualname),
		C(4, "ht_cached_keys", ht_cached_keys),
		C(5, "interpreters.head", rt_interpreters_head),
		/* up to 3.10 */
		C(1, "tstate_head", is_threads_head),
		C(1, "modules", is_modules),
		C(5, "gc", rt_gc),
#undef C
	};
	int differ = 0;
	bool builtins_done = false;
	for (size_t i = 0; i < PH_ARRAY_SIZE(checks); i++) {
		Dwarf_Word v;
		/* the array itself, when it is not inside a struct */
		if (checks[i].field ==
			    offsetof(struct ph_layout, is_builtin_states) &&
		    builtins_done)
			continue;
		if (!w[checks[i].st].found ||
		    path_offset(&w[checks[i].st].die, checks[i].path, &v) !=
			    0 ||
		    v > UINT32_MAX)
			continue;
		if (checks[i].field ==
		    offsetof(struct ph_layout, is_builtin_states))
			builtins_done = true;
		uint32_t *f = (uint32_t *)((char *)L + checks[i].field);
		if (*f != (uint32_t)v) {
			*f = (uint32_t)v;
			differ++;
		}
		(*ret_checked)++;
	}
	dwarf_end(dw);
	return differ;
}
