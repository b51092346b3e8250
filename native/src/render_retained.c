/* render_retained.c - retained, dominators and leaks: their results as
 * text and as JSON, and the commands that ask and render them. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "query.h"

static double share(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

static const char *objects(uint64_t n)
{
	return n == 1 ? "object" : "objects";
}

/* ---- paths and rows, as `path` writes them ------------------------------- */

static void path_json(struct ph_json *j, const struct ph_path_step *steps,
		      const struct ph_strings *str, const struct ph_path *p)
{
	ph_json_key(j, "root");
	if (p->n)
		ph_json_str(j, ph_strings_get(str, p->root));
	else
		ph_json_null(j);
	ph_json_key(j, "path");
	ph_json_array_begin(j);
	for (size_t i = 0; i < p->n; i++) {
		const struct ph_path_step *st = &steps[p->first + i];
		ph_json_object_begin(j);
		ph_json_key(j, "address");
		ph_json_addr(j, st->obj.addr);
		ph_json_key(j, "type");
		ph_json_str(j, st->obj.type);
		ph_json_key(j, "via");
		ph_json_str(j, ph_strings_get(str, st->via));
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
	if (p->cut) {
		ph_json_key(j, "path_cut");
		ph_json_u64(j, p->cut);
	}
}

/* The path on one line: module __main__['_SESSIONS'][3] */
static void path_text(struct ph_buf *b, const struct ph_path_step *steps,
		      const struct ph_strings *str,
		      const struct ph_dom_row *row)
{
	const struct ph_path *p = &row->path;
	if (!row->reachable) {
		ph_buf_puts(b, "(no root reaches it)");
		return;
	}
	ph_text_puts(b, ph_strings_get(str, p->root));
	for (size_t i = 1; i < p->n; i++)
		ph_text_puts(b, ph_strings_get(str, steps[p->first + i].via));
	if (p->cut) {
		char c[32];
		ph_buf_printf(b, " ... %s more steps (path ADDR: all)",
			      ph_fmt_count(p->cut, c));
	}
}

static void row_json_head(struct ph_json *j, const struct ph_dom_row *row,
			  uint64_t heap_bytes)
{
	ph_json_key(j, "address");
	ph_json_addr(j, row->obj.addr);
	ph_json_key(j, "type");
	ph_json_str(j, row->obj.type);
	ph_json_key(j, "size");
	ph_json_u64(j, row->size);
	ph_json_key(j, "retained_objects");
	ph_json_u64(j, row->objects);
	ph_json_key(j, "retained_bytes");
	ph_json_u64(j, row->bytes);
	ph_json_key(j, "share");
	ph_json_fixed(j, share(row->bytes, heap_bytes), 2);
	ph_json_key(j, "reachable");
	ph_json_bool(j, row->reachable);
	if (row->has_interp) {
		ph_json_key(j, "interp");
		ph_json_i64(j, row->interp);
	}
}

/* ---- retained ------------------------------------------------------------ */

struct ph_error *ph_run_retained(struct ph_session *s, const struct ph_args *a,
				 struct ph_out *out)
{
	struct ph_retained_result *r;
	struct ph_error *err = ph_query_retained(s, a->operand, &r);
	if (err)
		return err;
	const struct ph_dom_row *row = &r->row;
	static const char *const kinds[] = {"object", "root", "unreachable"};
	if (out->json) {
		struct ph_json *j = &out->j;
		ph_json_key(j, "address");
		ph_json_addr(j, row->obj.addr);
		ph_json_key(j, "type");
		ph_json_str(j, row->obj.type);
		ph_json_key(j, "size");
		ph_json_u64(j, row->size);
		ph_json_key(j, "retained");
		ph_json_object_begin(j);
		ph_json_key(j, "objects");
		ph_json_u64(j, row->objects);
		ph_json_key(j, "bytes");
		ph_json_u64(j, row->bytes);
		ph_json_object_end(j);
		ph_json_key(j, "share");
		ph_json_fixed(j, share(row->bytes, r->heap_bytes), 2);
		ph_json_key(j, "dominator");
		if (r->dominator_kind == PH_DOMINATOR_OBJECT)
			ph_json_addr(j, r->dominator.addr);
		else
			ph_json_null(j);
		ph_json_key(j, "dominator_type");
		if (r->dominator_kind == PH_DOMINATOR_OBJECT)
			ph_json_str(j, r->dominator.type);
		else
			ph_json_null(j);
		ph_json_key(j, "dominated_by");
		ph_json_str(j, kinds[r->dominator_kind]);
		ph_json_key(j, "reachable");
		ph_json_bool(j, row->reachable);
		path_json(j, r->steps, &r->str, &row->path);
	} else {
		struct ph_buf *b = out->buf;
		char c1[32], c2[32];
		ph_buf_printf(b, "0x%llx  ", (unsigned long long)row->obj.addr);
		ph_text_puts(b, row->obj.type);
		ph_buf_printf(b, "\n  size:       %s bytes (sys.getsizeof)\n",
			      ph_fmt_count(row->size, c1));
		ph_buf_printf(b,
			      "  retained:   %s bytes (%.2f%% of the heap) in "
			      "%s %s\n",
			      ph_fmt_count(row->bytes, c1),
			      share(row->bytes, r->heap_bytes),
			      ph_fmt_count(row->objects, c2),
			      objects(row->objects));
		ph_buf_puts(b, "  dominator:  ");
		if (r->dominator_kind == PH_DOMINATOR_OBJECT) {
			ph_buf_printf(b, "0x%llx ",
				      (unsigned long long)r->dominator.addr);
			ph_text_puts(b, r->dominator.type);
		} else if (r->dominator_kind == PH_DOMINATOR_ROOT)
			ph_buf_puts(b, "the roots (no one object holds it "
				       "alone)");
		else
			ph_buf_puts(b, "none: no root reaches it (the "
				       "unreachable objects' root)");
		ph_buf_puts(b, "\n  path:       ");
		path_text(b, r->steps, &r->str, row);
		ph_buf_putc(b, '\n');
	}
	ph_retained_result_destroy(r);
	return NULL;
}

/* ---- dominators ---------------------------------------------------------- */

static void heap_line(struct ph_buf *b, const struct ph_dominators_result *r)
{
	char c1[32], c2[32], c3[32], c4[32];
	ph_buf_printf(b,
		      "heap: %s objects, %s bytes; no root reaches %s objects, "
		      "%s bytes\n",
		      ph_fmt_count(r->objects, c1), ph_fmt_count(r->bytes, c2),
		      ph_fmt_count(r->objects - r->reach_objects, c3),
		      ph_fmt_count(r->bytes - r->reach_bytes, c4));
}

static void tree_json(struct ph_json *j, const struct ph_dominators_result *r,
		      size_t i)
{
	const struct ph_dom_node *nd = &r->nodes[i];
	ph_json_object_begin(j);
	if (nd->virtual_root) {
		ph_json_key(j, "virtual");
		ph_json_str(j, nd->row.obj.type);
		ph_json_key(j, "retained_objects");
		ph_json_u64(j, nd->row.objects);
		ph_json_key(j, "retained_bytes");
		ph_json_u64(j, nd->row.bytes);
		ph_json_key(j, "share");
		ph_json_fixed(j, share(nd->row.bytes, r->bytes), 2);
	} else {
		row_json_head(j, &nd->row, r->bytes);
		if (nd->has_path)
			path_json(j, r->steps, &r->str, &nd->row.path);
	}
	if (nd->expanded) {
		ph_json_key(j, "children_total");
		ph_json_u64(j, nd->children);
		ph_json_key(j, "more");
		ph_json_u64(j, nd->more);
		ph_json_key(j, "children");
		ph_json_array_begin(j);
		/* (64 levels at most: --depth) */
		for (size_t c = nd->first_child; c != PH_NO_NODE;
		     c = r->nodes[c].next_sibling)
			tree_json(j, r, c);
		ph_json_array_end(j);
	}
	ph_json_object_end(j);
}

static void tree_text(struct ph_buf *b, const struct ph_dominators_result *r,
		      size_t i, int indent)
{
	const struct ph_dom_node *nd = &r->nodes[i];
	char c1[32], c2[32];
	ph_buf_printf(b, "%*s", indent, "");
	if (nd->virtual_root)
		ph_buf_printf(b, "(%s)", nd->row.obj.type);
	else {
		ph_buf_printf(b, "0x%llx ",
			      (unsigned long long)nd->row.obj.addr);
		ph_text_puts(b, nd->row.obj.type);
	}
	ph_buf_printf(
		b, "  retains %s bytes (%.2f%%) in %s %s",
		ph_fmt_count(nd->row.bytes, c1), share(nd->row.bytes, r->bytes),
		ph_fmt_count(nd->row.objects, c2), objects(nd->row.objects));
	if (nd->has_path) {
		ph_buf_puts(b, "  ");
		path_text(b, r->steps, &r->str, &nd->row);
	}
	ph_buf_putc(b, '\n');
	for (size_t c = nd->first_child; c != PH_NO_NODE;
	     c = r->nodes[c].next_sibling)
		tree_text(b, r, c, indent + 2);
	if (nd->more)
		ph_buf_printf(b, "%*s... %s more (--limit 0 for all)\n",
			      indent + 2, "", ph_fmt_count(nd->more, c1));
}

struct ph_error *ph_run_dominators(struct ph_session *s,
				   const struct ph_args *a, struct ph_out *out)
{
	struct ph_dominators_opts o = {
		.limit = ph_args_num(a, "--limit", 20),
		.type = ph_args_str(a, "--type", NULL),
		.min_bytes = ph_args_num(a, "--min-bytes", 0),
		.tree = ph_args_str(a, "--tree", NULL),
		.depth = ph_args_num(a, "--depth", 2),
		.export_path = ph_args_str(a, "--export", NULL),
	};
	if (o.tree && (o.type || ph_args_flag(a, "--min-bytes")))
		return ph_error_create(PH_ERR_USAGE,
				       "dominators: --tree shows a subtree "
				       "whole (no --type or --min-bytes)");
	struct ph_dominators_result *r;
	struct ph_error *err = ph_query_dominators(s, &o, &r);
	if (err)
		return err;
	struct ph_json *j = &out->j;
	struct ph_buf *b = out->buf;
	if (out->json) {
		ph_json_key(j, "objects");
		ph_json_u64(j, r->objects);
		ph_json_key(j, "bytes");
		ph_json_u64(j, r->bytes);
		ph_json_key(j, "reachable_objects");
		ph_json_u64(j, r->reach_objects);
		ph_json_key(j, "reachable_bytes");
		ph_json_u64(j, r->reach_bytes);
	} else if (!r->export_path)
		heap_line(b, r);
	if (r->export_path) {
		if (out->json) {
			ph_json_key(j, "exported");
			ph_json_str(j, r->export_path);
			ph_json_key(j, "edges");
			ph_json_u64(j, r->exported_edges);
		} else {
			char c1[32], c2[32];
			ph_buf_printf(b,
				      "%s objects and %s references written "
				      "to ",
				      ph_fmt_count(r->objects, c1),
				      ph_fmt_count(r->exported_edges, c2));
			ph_text_puts(b, r->export_path);
			ph_buf_putc(b, '\n');
		}
	} else if (r->tree) {
		if (out->json) {
			ph_json_key(j, "tree");
			tree_json(j, r, 0);
		} else
			tree_text(b, r, 0, 0);
	} else if (out->json) {
		ph_json_key(j, "matching");
		ph_json_u64(j, r->matching);
		ph_json_key(j, "dominators");
		ph_json_array_begin(j);
		for (size_t i = 0; i < r->nrows; i++) {
			ph_json_object_begin(j);
			row_json_head(j, &r->rows[i], r->bytes);
			path_json(j, r->steps, &r->str, &r->rows[i].path);
			ph_json_object_end(j);
		}
		ph_json_array_end(j);
	} else {
		char c1[32], c2[32], c3[32];
		ph_text_row(b, "%15s %7s %11s %12s  %-18s %-20s %s\n",
			    "RETAINED", "SHARE", "OBJECTS", "SIZE", "ADDRESS",
			    "TYPE", "PATH");
		for (size_t i = 0; i < r->nrows; i++) {
			const struct ph_dom_row *row = &r->rows[i];
			ph_text_row(b, "%15s %6.2f%% %11s %12s  0x%-16llx ",
				    ph_fmt_count(row->bytes, c1),
				    share(row->bytes, r->bytes),
				    ph_fmt_count(row->objects, c2),
				    ph_fmt_count(row->size, c3),
				    (unsigned long long)row->obj.addr);
			ph_text_cell(b, row->obj.type, 20);
			ph_text_sep(b);
			path_text(b, r->steps, &r->str, row);
			ph_buf_putc(b, '\n');
		}
		ph_buf_printf(b, "%zu of %s objects", r->nrows,
			      ph_fmt_count(r->matching, c1));
		if (r->nrows < r->matching)
			ph_buf_puts(b, " (--limit 0 for all)");
		ph_buf_putc(b, '\n');
	}
	ph_dominators_result_destroy(r);
	return NULL;
}

/* ---- leaks --------------------------------------------------------------- */

struct ph_error *ph_run_leaks(struct ph_session *s, const struct ph_args *a,
			      struct ph_out *out)
{
	const char *ms = ph_args_str(a, "--min-share", "10");
	char *end;
	double min_share = strtod(ms, &end);
	if (end > ms && *end == '%') /* 10% as well as 10 */
		end++;
	if (end == ms || *end)
		return ph_error_create(PH_ERR_USAGE,
				       "leaks: --min-share: '%s' is not a "
				       "number",
				       ms);
	struct ph_leaks_opts o = {.limit = ph_args_num(a, "--limit", 0),
				  .min_share = min_share};
	struct ph_leaks_result *r;
	struct ph_error *err = ph_query_leaks(s, &o, &r);
	if (err)
		return err;
	if (out->json) {
		struct ph_json *j = &out->j;
		ph_json_key(j, "objects");
		ph_json_u64(j, r->objects);
		ph_json_key(j, "bytes");
		ph_json_u64(j, r->bytes);
		ph_json_key(j, "min_share");
		ph_json_fixed(j, r->min_share, 2);
		ph_json_key(j, "threshold");
		ph_json_u64(j, r->threshold);
		ph_json_key(j, "total");
		ph_json_u64(j, r->total);
		ph_json_key(j, "suspects");
		ph_json_array_begin(j);
		for (size_t i = 0; i < r->nsuspects; i++) {
			const struct ph_leak_suspect *su = &r->suspects[i];
			ph_json_object_begin(j);
			row_json_head(j, &su->row, r->bytes);
			path_json(j, r->steps, &r->str, &su->row.path);
			ph_json_key(j, "accumulation");
			ph_json_object_begin(j);
			row_json_head(j, &su->acc, r->bytes);
			path_json(j, r->steps, &r->str, &su->acc.path);
			ph_json_key(j, "depth");
			ph_json_u64(j, su->depth);
			ph_json_key(j, "children");
			ph_json_u64(j, su->children);
			ph_json_key(j, "children_type");
			if (su->children_type)
				ph_json_str(j, su->children_type);
			else
				ph_json_null(j);
			ph_json_key(j, "children_bytes");
			ph_json_u64(j, su->children_bytes);
			ph_json_key(j, "children_objects");
			ph_json_u64(j, su->children_objects);
			ph_json_key(j, "children_total");
			ph_json_u64(j, su->children_total);
			ph_json_object_end(j);
			ph_json_object_end(j);
		}
		ph_json_array_end(j);
	} else {
		struct ph_buf *b = out->buf;
		char c1[32], c2[32], c3[32];
		ph_buf_printf(
			b,
			"Leak suspects: what retains at least %g%% of the "
			"heap (%s of %s bytes)\n",
			r->min_share, ph_fmt_count(r->threshold, c1),
			ph_fmt_count(r->bytes, c2));
		if (!r->total)
			ph_buf_puts(b, "\nNone: no object retains that much "
				       "(--min-share P asks for less).\n");
		for (size_t i = 0; i < r->nsuspects; i++) {
			const struct ph_leak_suspect *su = &r->suspects[i];
			ph_buf_printf(b, "\n%zu. 0x%llx ", i + 1,
				      (unsigned long long)su->row.obj.addr);
			ph_text_puts(b, su->row.obj.type);
			ph_buf_printf(b,
				      " retains %s bytes (%.2f%% of the heap) "
				      "in %s %s\n",
				      ph_fmt_count(su->row.bytes, c1),
				      share(su->row.bytes, r->bytes),
				      ph_fmt_count(su->row.objects, c2),
				      objects(su->row.objects));
			ph_buf_puts(b, "   path:  ");
			path_text(b, r->steps, &r->str, &su->row);
			ph_buf_putc(b, '\n');
			if (su->depth) {
				ph_buf_printf(
					b,
					"   accumulation point, %u step%s "
					"down: 0x%llx ",
					su->depth, su->depth > 1 ? "s" : "",
					(unsigned long long)su->acc.obj.addr);
				ph_text_puts(b, su->acc.obj.type);
				ph_buf_printf(b, ", %s bytes (%.2f%%)\n",
					      ph_fmt_count(su->acc.bytes, c1),
					      share(su->acc.bytes, r->bytes));
				ph_buf_puts(b, "   path:  ");
				path_text(b, r->steps, &r->str, &su->acc);
				ph_buf_putc(b, '\n');
			} else
				ph_buf_puts(b, "   accumulation point: the "
					       "object itself\n");
			if (su->children_type) {
				ph_buf_printf(b, "   it holds %s ",
					      ph_fmt_count(su->children, c1));
				ph_text_puts(b, su->children_type);
				ph_buf_printf(
					b,
					" retaining %s bytes (%.2f%%) in %s "
					"%s, of the %s %s it dominates "
					"directly\n",
					ph_fmt_count(su->children_bytes, c1),
					share(su->children_bytes, r->bytes),
					ph_fmt_count(su->children_objects, c2),
					objects(su->children_objects),
					ph_fmt_count(su->children_total, c3),
					objects(su->children_total));
			} else
				ph_buf_puts(b, "   it dominates nothing but "
					       "itself\n");
		}
		if (r->nsuspects < r->total)
			ph_buf_printf(b,
				      "\n%zu of %zu suspects shown (--limit 0 "
				      "for all)\n",
				      r->nsuspects, r->total);
	}
	ph_leaks_result_destroy(r);
	return NULL;
}
