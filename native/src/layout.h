/* layout.h - the per-version layout tables (layout.c) and what checks
 * them against the interpreter's DWARF (dwarf.c). */
#ifndef PH_LAYOUT_H
#define PH_LAYOUT_H

#include "cpython.h"

/* The table of CPython major.minor (a release build), or NULL. */
const struct ph_layout *ph_layout_for(unsigned major, unsigned minor);
/* The same for a free-threaded build (layout_ft.h), or NULL. */
const struct ph_layout *ph_layout_for_ft(unsigned major, unsigned minor);

/* Turns a release table into its version's Py_DEBUG build's; false when
 * the debug build of that version is not known. */
bool ph_layout_debug_adjust(struct ph_layout *L);

/* The field list (layout_fields.h) as text: the key of the DWARF check's
 * cached outcome hashes it, so that a cache written under another list
 * never answers. */
extern const char ph_layout_fields_text[];

/* Checks (and corrects) layout fields against the module's DWARF; returns
 * how many differed, *ret_checked how many could be checked. */
int ph_dwarf_check_layout(const struct ph_module *mod, struct ph_layout *L,
			  int *ret_checked);

/* A cached outcome of the DWARF check, as the cache file holds it (len
 * bytes): true, with the layout in *ret_layout and the check's counts,
 * only when everything about it holds (its magic, size and checksum, the
 * counts, and differing from table only where the check could have
 * corrected it). The pointers in *ret_layout are table's. runtime.c reads
 * and writes the file; this decides whether it is trusted. */
bool ph_layout_cache_decode(const void *data, size_t len,
			    const struct ph_layout *table,
			    struct ph_layout *ret_layout, int *ret_checked,
			    int *ret_differ);

#endif /* PH_LAYOUT_H */
