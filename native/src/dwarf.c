/*
 * dwarf.c - struct member offsets from the interpreter's DWARF (libdw),
 * where it has some (its -dbg package, a debuginfod server, a build with
 * debug information): the layout tables are checked against them, and a
 * field that differs (a patch release that moved it) is taken from them.
 *
 * libdw is opened (dlopen) the first time DWARF is read, not linked: a run
 * whose layout is cached reads none, and loading libdw and the two
 * libraries it needs (liblzma, libbz2) cost every run of py-heap 0.7 ms
 * under PVM, a tenth of a command on a cached core.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

#define DW_FUNCS(X)                                                            \
	X(dwarf_begin_elf)                                                     \
	X(dwarf_end)                                                           \
	X(dwarf_nextcu)                                                        \
	X(dwarf_offdie)                                                        \
	X(dwarf_child)                                                         \
	X(dwarf_siblingof)                                                     \
	X(dwarf_tag)                                                           \
	X(dwarf_hasattr)                                                       \
	X(dwarf_diename)                                                       \
	X(dwarf_attr_integrate)                                                \
	X(dwarf_formref_die)                                                   \
	X(dwarf_formudata)

static struct {
#define DW_FIELD(name) __typeof__(name) *name;
	DW_FUNCS(DW_FIELD)
#undef DW_FIELD
	bool ok;
} dwl;
static pthread_once_t dw_once = PTHREAD_ONCE_INIT;

/* libdw.so.1 (Debian's libdw1, which the package depends on) and its
 * functions, once; dw.ok if every one was found (else no DWARF is read:
 * the layout tables stand unchecked, as with no debug information). */
static void dw_load(void)
{
	void *lib = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return;
	dwl.ok = true;
#define DW_SYM(name)                                                           \
	*(void **)&dwl.name = dlsym(lib, #name);                               \
	dwl.ok &= dwl.name != NULL;
	DW_FUNCS(DW_SYM)
#undef DW_SYM
	/* kept open: a layout may be checked again in this process */
}

/* The struct definitions we look for, by name (the first complete one). */
struct wanted {
	const char *name;
	Dwarf_Die die;
	bool found;
};

/* The offset of member in struct st and, when ret_type is not NULL, the
 * struct or union it is (or points to: a path goes on through pointers'
 * targets only where the checks name one). -1: no such member; -2: its
 * location or a type did not read. */
static int member_offset(Dwarf_Die *st, const char *member, Dwarf_Word *ret,
			 Dwarf_Die *ret_type)
{
	Dwarf_Die child;
	if (dwl.dwarf_child(st, &child) != 0)
		return -1;
	do {
		if (dwl.dwarf_tag(&child) != DW_TAG_member)
			continue;
		const char *n = dwl.dwarf_diename(&child);
		if (!n || strcmp(n, member))
			continue;
		Dwarf_Attribute a;
		if (!dwl.dwarf_attr_integrate(&child,
					      DW_AT_data_member_location, &a) ||
		    dwl.dwarf_formudata(&a, ret) != 0)
			return -2;
		if (ret_type) {
			Dwarf_Attribute t;
			if (!dwl.dwarf_attr_integrate(&child, DW_AT_type, &t) ||
			    !dwl.dwarf_formref_die(&t, ret_type))
				return -2;
			/* through typedefs and qualifiers to the struct */
			for (int i = 0; i < 8; i++) {
				int tag = dwl.dwarf_tag(ret_type);
				if (tag == DW_TAG_structure_type ||
				    tag == DW_TAG_union_type)
					break;
				if (!dwl.dwarf_attr_integrate(ret_type,
							      DW_AT_type, &t) ||
				    !dwl.dwarf_formref_die(&t, ret_type))
					return -2;
			}
		}
		return 0;
	} while (dwl.dwarf_siblingof(&child, &child) == 0);
	return -1;
}

/* "a.b.c" inside struct st: the sum of the nested members' offsets. The
 * last member's type is not looked at: a field may be of any type (the
 * check once went through it, and every integer field went unchecked). */
static int path_offset(Dwarf_Die *st, const char *path, Dwarf_Word *ret)
{
	Dwarf_Die cur = *st, next;
	Dwarf_Word total = 0;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	char *p = strtok_r(buf, ".", &save);
	while (p) {
		char *rest = strtok_r(NULL, ".", &save);
		Dwarf_Word off;
		int r = member_offset(&cur, p, &off, rest ? &next : NULL);
		if (r)
			return r;
		total += off;
		cur = next;
		p = rest;
	}
	*ret = total;
	return 0;
}

/* The fields layout_fields.h checks: their struct and the member paths to
 * try, the first found. */
static const struct check {
	const char *cstruct, *paths;
	size_t field;
	unsigned since, until; /* the minor versions that need it */
} checks[] = {
#define PH_DWARF_CHECK(type, name, dims, cstruct, member, dbg, dbg_off, check, \
		       since, until)                                           \
	{cstruct, check, offsetof(struct ph_layout, name), since, until},
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
	Elf *elf = ph_module_debug_elf(mod);
	if (!elf)
		elf = ph_module_elf(mod);
	*ret_checked = 0;
	if (!elf || pthread_once(&dw_once, dw_load) || !dwl.ok)
		return 0;
	Dwarf *dw = dwl.dwarf_begin_elf(elf, DWARF_C_READ, NULL);
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
	while (nfound < nw && dwl.dwarf_nextcu(dw, off, &next, &hsize, NULL,
					       NULL, NULL) == 0) {
		Dwarf_Die cu, die;
		if (dwl.dwarf_offdie(dw, off + hsize, &cu) &&
		    dwl.dwarf_child(&cu, &die) == 0) {
			do {
				int tag = dwl.dwarf_tag(&die);
				if (tag != DW_TAG_structure_type ||
				    dwl.dwarf_hasattr(&die, DW_AT_declaration))
					continue;
				const char *n = dwl.dwarf_diename(&die);
				for (size_t i = 0; n && i < nw; i++)
					if (!w[i].found &&
					    !strcmp(n, w[i].name)) {
						w[i].die = die;
						w[i].found = true;
						nfound++;
					}
			} while (dwl.dwarf_siblingof(&die, &die) == 0);
		}
		off = next;
	}
	int differ = 0;
	for (size_t i = 0; i < PH_ARRAY_SIZE(checks); i++) {
		Dwarf_Word v;
		/* a field the version does not use is left alone: its
		 * table has none, and another member of that name would set
		 * it */
		if (!*checks[i].paths || !w[wi[i]].found ||
		    L->minor < checks[i].since || L->minor > checks[i].until ||
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
	dwl.dwarf_end(dw);
	return differ;
}
