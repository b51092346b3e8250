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

/* The fields layout_fields.h checks: their struct and the member paths to
 * try, the first found. */
static const struct check {
	const char *cstruct, *paths;
	size_t field;
} checks[] = {
#define PH_DWARF_CHECK(type, name, dims, cstruct, member, dbg, dbg_off, check, \
		       ...)                                                    \
	{cstruct, check, offsetof(struct ph_layout, name)},
	PH_LAYOUT_FIELDS(PH_DWARF_CHECK)
#undef PH_DWARF_CHECK
};

/* "struct _is": "_is", the tag the DWARF names it by. */
static const char *struct_tag(const char *cstruct)
{
	return strncmp(cstruct, "struct ", 7) ? cstruct : cstruct + 7;
}

/* The offset of the first of paths ("a|b") that st has. */
static int first_path_offset(Dwarf_Die *st, const char *paths, Dwarf_Word *ret)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", paths);
	char *save = NULL;
	for (char *p = strtok_r(buf, "|", &save); p;
	     p = strtok_r(NULL, "|", &save))
		if (path_offset(st, p, ret) == 0)
			return 0;
	return -1;
}

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
	/* the structs the checks name, each once */
	struct wanted w[PH_ARRAY_SIZE(checks)];
	size_t nw = 0, wi[PH_ARRAY_SIZE(checks)];
	memset(w, 0, sizeof(w));
	for (size_t i = 0; i < PH_ARRAY_SIZE(checks); i++) {
		if (!*checks[i].paths)
			continue;
		const char *tag = struct_tag(checks[i].cstruct);
		size_t k;
		for (k = 0; k < nw; k++)
			if (!strcmp(w[k].name, tag))
				break;
		if (k == nw)
			w[nw++].name = tag;
		wi[i] = k;
	}
	size_t nfound = 0;
	Dwarf_Off off = 0, next;
	size_t hsize;
	while (nfound < nw &&
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
				for (size_t i = 0; n && i < nw; i++)
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
	int differ = 0;
	for (size_t i = 0; i < PH_ARRAY_SIZE(checks); i++) {
		Dwarf_Word v;
		if (!*checks[i].paths || !w[wi[i]].found ||
		    first_path_offset(&w[wi[i]].die, checks[i].paths, &v) !=
			    0 ||
		    v > UINT32_MAX)
			continue;
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
