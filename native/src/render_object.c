/* render_object.c - show, referents, referrers and path: their results as
 * text and as JSON, and the commands that ask and render them. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "query.h"

static void json_obj_head(struct ph_json *j, const struct ph_obj_ref *o)
{
	ph_json_key(j, "address");
	ph_json_addr(j, o->addr);
	ph_json_key(j, "type");
	ph_json_str(j, o->type);
}

/* The object at addr as people read it, into v (emptied first). */
static const char *readable(struct ph_session *s, uint64_t addr,
			    const struct ph_readable_opts *ro, struct ph_buf *v)
{
	v->len = 0;
	ph_query_readable(s, addr, ro, v);
	ph_buf_putc(v, '\0'); /* (ph_buf keeps no NUL of its own) */
	v->len--;
	return v->data ? v->data : "";
}

static void json_readable(struct ph_json *j, struct ph_session *s,
			  uint64_t addr, const struct ph_readable_opts *ro,
			  struct ph_buf *v)
{
	readable(s, addr, ro, v);
	ph_json_key(j, "readable");
	ph_json_strn(j, v->data ? v->data : "", v->len);
}

/* ---- show ---------------------------------------------------------------- */

struct ph_error *ph_run_show(struct ph_session *s, const struct ph_args *a,
			     struct ph_out *out)
{
	struct ph_show_opts o = {.addr = a->operand,
				 .limit = ph_args_num(a, "--limit", 20)};
	struct ph_show_result *r;
	struct ph_error *err = ph_query_show(s, &o, &r);
	if (err)
		return err;
	const struct ph_strings *st = &r->str;
	struct ph_readable_opts ro = ph_args_readable(a, PH_VALUE_MAX);
	struct ph_readable_opts rrow = ph_args_readable(a, PH_ROW_VALUE_MAX);
	struct ph_buf v;
	ph_buf_init(&v);
	if (out->json) {
		struct ph_json *j = &out->j;
		json_obj_head(j, &r->obj);
		ph_json_key(j, "size");
		ph_json_u64(j, r->size);
		ph_json_key(j, "refcount");
		ph_json_i64(j, r->refcount);
		ph_json_key(j, "gc");
		ph_json_str(j, r->gc);
		ph_json_key(j, "found_by");
		ph_json_str(j, r->found_by);
		ph_json_key(j, "reachable");
		ph_json_bool(j, r->reachable);
		ph_json_key(j, "referrers");
		ph_json_u64(j, r->referrers);
		ph_json_key(j, "repr");
		ph_json_str(j, ph_strings_get(st, r->repr));
		json_readable(j, s, r->obj.addr, &ro, &v);
		ph_json_key(j, "referents");
		ph_json_array_begin(j);
		for (size_t i = 0; i < r->nrefs; i++) {
			const struct ph_edge_row *e = &r->refs[i];
			ph_json_object_begin(j);
			json_obj_head(j, &e->obj);
			ph_json_key(j, "via");
			ph_json_str(j, ph_strings_get(st, e->via));
			ph_json_key(j, "repr");
			ph_json_str(j, ph_strings_get(st, e->repr));
			json_readable(j, s, e->obj.addr, &rrow, &v);
			ph_json_object_end(j);
		}
		ph_json_array_end(j);
		ph_json_key(j, "referents_total");
		ph_json_u64(j, r->refs_total);
		ph_json_key(j, "retained");
		ph_json_object_begin(j);
		ph_json_key(j, "objects");
		ph_json_u64(j, r->retained_objects);
		ph_json_key(j, "bytes");
		ph_json_u64(j, r->retained_bytes);
		ph_json_object_end(j);
		ph_json_key(j, "interpreter");
		ph_json_i64(j, r->interp);
	} else {
		struct ph_buf *b = out->buf;
		char sz[32];
		ph_buf_printf(b, "0x%llx  ", (unsigned long long)r->obj.addr);
		ph_text_puts(b, r->obj.type);
		ph_buf_puts(b, "\n  value:      ");
		ph_text_puts(b, readable(s, r->obj.addr, &ro, &v));
		ph_buf_printf(b, "\n  size:       %s bytes (sys.getsizeof)\n",
			      ph_fmt_count(r->size, sz));
		char rob[32];
		ph_buf_printf(b,
			      "  retained:   %s bytes in %s objects (what "
			      "deleting it would free)\n",
			      ph_fmt_count(r->retained_bytes, sz),
			      ph_fmt_count(r->retained_objects, rob));
		ph_buf_printf(b, "  refcount:   %lld\n",
			      (long long)r->refcount);
		ph_buf_printf(b, "  gc:         %s\n", r->gc);
		ph_buf_printf(b, "  found by:   %s\n", r->found_by);
		if (r->ninterps > 1)
			ph_buf_printf(b, "  interpreter: %lld%s\n",
				      (long long)r->interp,
				      r->interp ? "" : " (the main one)");
		ph_buf_printf(b, "  referrers:  %llu%s\n",
			      (unsigned long long)r->referrers,
			      r->reachable ? ""
					   : " (no root reaches it: garbage)");
		if (r->refs_total) {
			ph_buf_puts(b, "  holds:\n");
			for (size_t i = 0; i < r->nrefs; i++) {
				ph_text_row(b, "    ");
				ph_text_cell(b,
					     ph_strings_get(st, r->refs[i].via),
					     24);
				ph_text_sep(b);
				ph_text_puts(b, readable(s, r->refs[i].obj.addr,
							 &rrow, &v));
				ph_buf_putc(b, '\n');
			}
			if (r->refs_total > r->nrefs)
				ph_buf_printf(b,
					      "    ... %zu more (--limit 0 for "
					      "all)\n",
					      r->refs_total - r->nrefs);
		}
	}
	ph_show_result_destroy(r);
	bool failed = v.failed;
	ph_buf_free(&v);
	return failed ? ph_error_nomem() : NULL;
}

/* ---- referents ----------------------------------------------------------- */

struct ph_error *ph_run_referents(struct ph_session *s, const struct ph_args *a,
				  struct ph_out *out)
{
	struct ph_referents_result *r;
	struct ph_error *err = ph_query_referents(
		s, a->operand, ph_args_num(a, "--limit", out->json ? 0 : 1000),
		&r);
	if (err)
		return err;
	const struct ph_strings *st = &r->str;
	struct ph_readable_opts ro = ph_args_readable(a, PH_ROW_VALUE_MAX);
	struct ph_buf v;
	ph_buf_init(&v);
	if (out->json) {
		struct ph_json *j = &out->j;
		ph_json_key(j, "address");
		ph_json_addr(j, r->addr);
		ph_json_key(j, "referents");
		ph_json_array_begin(j);
		for (size_t i = 0; i < r->nrefs; i++) {
			const struct ph_edge_row *e = &r->refs[i];
			ph_json_object_begin(j);
			json_obj_head(j, &e->obj);
			ph_json_key(j, "via");
			ph_json_str(j, ph_strings_get(st, e->via));
			ph_json_key(j, "strong");
			ph_json_bool(j, e->strong);
			if (i < PH_ROW_VALUES)
				json_readable(j, s, e->obj.addr, &ro, &v);
			ph_json_object_end(j);
		}
		ph_json_array_end(j);
		ph_json_key(j, "referents_total");
		ph_json_u64(j, r->total);
	} else {
		struct ph_buf *b = out->buf;
		ph_text_row(b, "%-18s %-28s %-24s %s\n", "ADDRESS", "TYPE",
			    "VIA", "VALUE");
		for (size_t i = 0; i < r->nrefs; i++) {
			const struct ph_edge_row *e = &r->refs[i];
			ph_text_row(b, "0x%-16llx ",
				    (unsigned long long)e->obj.addr);
			ph_text_cell(b, e->obj.type, 28);
			ph_text_sep(b);
			ph_text_cell(b, ph_strings_get(st, e->via), 24);
			ph_text_sep(b);
			if (i < PH_ROW_VALUES)
				ph_text_puts(b,
					     readable(s, e->obj.addr, &ro, &v));
			ph_buf_putc(b, '\n');
		}
		if (r->total > r->nrefs)
			ph_buf_printf(b,
				      "%zu referents (%zu shown; --limit 0 for "
				      "all)\n",
				      r->total, r->nrefs);
		else
			ph_buf_printf(b, "%zu referents\n", r->nrefs);
	}
	ph_referents_result_destroy(r);
	bool failed = v.failed;
	ph_buf_free(&v);
	return failed ? ph_error_nomem() : NULL;
}

/* ---- referrers ----------------------------------------------------------- */

static void roots_json(const struct ph_referrers_result *r,
		       const struct ph_referrer *n, struct ph_json *j)
{
	ph_json_key(j, "roots");
	ph_json_array_begin(j);
	for (size_t k = 0; k < n->nroots; k++)
		ph_json_str(j, ph_strings_get(&r->str,
					      r->root_names[n->roots + k]));
	ph_json_array_end(j);
}

static void roots_text(const struct ph_referrers_result *r,
		       const struct ph_referrer *n, struct ph_buf *b,
		       size_t indent)
{
	for (size_t k = 0; k < n->nroots; k++) {
		ph_buf_printf(b, "%*sroot: ", (int)indent, "");
		ph_text_puts(b, ph_strings_get(&r->str,
					       r->root_names[n->roots + k]));
		ph_buf_putc(b, '\n');
	}
}

/* The referrers of node p; depth at most 16 levels: recursion is bounded. */
static void referrers_json(const struct ph_referrers_result *r, size_t p,
			   struct ph_json *j)
{
	for (size_t c = r->nodes[p].first_child; c != PH_NO_NODE;
	     c = r->nodes[c].next_sibling) {
		const struct ph_referrer *n = &r->nodes[c];
		ph_json_object_begin(j);
		json_obj_head(j, &n->obj);
		ph_json_key(j, "via");
		ph_json_str(j, ph_strings_get(&r->str, n->via));
		if (n->tree) {
			roots_json(r, n, j);
			ph_json_key(j, "referrers");
			ph_json_array_begin(j);
			if (n->expanded)
				referrers_json(r, c, j);
			ph_json_array_end(j);
			if (n->shown_above) {
				ph_json_key(j, "shown_above");
				ph_json_bool(j, true);
			}
		}
		ph_json_object_end(j);
	}
}

static void referrers_text(const struct ph_referrers_result *r, size_t p,
			   struct ph_buf *b, size_t indent)
{
	for (size_t c = r->nodes[p].first_child; c != PH_NO_NODE;
	     c = r->nodes[c].next_sibling) {
		const struct ph_referrer *n = &r->nodes[c];
		ph_buf_printf(b, "%*s0x%-16llx ", (int)indent, "",
			      (unsigned long long)n->obj.addr);
		ph_text_cell(b, n->obj.type, 28);
		ph_buf_putc(b, ' ');
		ph_text_puts(b, ph_strings_get(&r->str, n->via));
		ph_buf_puts(b, n->shown_above ? "  (its referrers: above)\n"
					      : "\n");
		if (n->expanded) {
			roots_text(r, n, b, indent + 4);
			referrers_text(r, c, b, indent + 4);
		}
	}
	if (r->nodes[p].more)
		ph_buf_printf(b,
			      "%*s... %llu more referrers (--limit 0 for "
			      "all)\n",
			      (int)indent, "",
			      (unsigned long long)r->nodes[p].more);
}

struct ph_error *ph_run_referrers(struct ph_session *s, const struct ph_args *a,
				  struct ph_out *out)
{
	struct ph_referrers_opts o = {
		.addr = a->operand,
		.depth = ph_args_num(a, "--depth", 1),
		.limit = ph_args_num(a, "--limit", out->json ? 0 : 50),
	};
	struct ph_referrers_result *r;
	struct ph_error *err = ph_query_referrers(s, &o, &r);
	if (err)
		return err;
	const struct ph_referrer *top = &r->nodes[0];
	if (out->json) {
		struct ph_json *j = &out->j;
		ph_json_key(j, "address");
		ph_json_addr(j, top->obj.addr);
		roots_json(r, top, j);
		ph_json_key(j, "referrers");
		ph_json_array_begin(j);
		referrers_json(r, 0, j);
		ph_json_array_end(j);
		ph_json_key(j, "truncated");
		ph_json_bool(j, r->truncated);
	} else {
		struct ph_buf *b = out->buf;
		ph_buf_printf(b, "referrers of 0x%llx ",
			      (unsigned long long)top->obj.addr);
		ph_text_puts(b, top->obj.type);
		ph_buf_puts(b, ":\n");
		roots_text(r, top, b, 0);
		referrers_text(r, 0, b, 0);
		if (r->no_referrers)
			ph_buf_puts(b, "(no object refers to it)\n");
		if (r->truncated)
			ph_buf_printf(b,
				      "... stopped at %d referrers (narrow it "
				      "with --limit or --depth)\n",
				      PH_REFERRERS_MAX);
	}
	ph_referrers_result_destroy(r);
	return NULL;
}

/* ---- roots --------------------------------------------------------------- */

struct ph_error *ph_run_roots(struct ph_session *s, const struct ph_args *a,
			      struct ph_out *out)
{
	struct ph_roots_opts o = {
		.match = ph_args_str(a, "--match", NULL),
		.limit = ph_args_num(a, "--limit", out->json ? 0 : 50),
	};
	struct ph_roots_result *r;
	struct ph_error *err = ph_query_roots(s, &o, &r);
	if (err)
		return err;
	if (out->json) {
		struct ph_json *j = &out->j;
		ph_json_key(j, "roots");
		ph_json_array_begin(j);
		for (size_t i = 0; i < r->nrows; i++) {
			ph_json_object_begin(j);
			ph_json_key(j, "name");
			ph_json_str(j,
				    ph_strings_get(&r->str, r->rows[i].name));
			json_obj_head(j, &r->rows[i].obj);
			ph_json_key(j, "size");
			ph_json_u64(j, r->rows[i].size);
			ph_json_object_end(j);
		}
		ph_json_array_end(j);
		ph_json_key(j, "total");
		ph_json_u64(j, r->total);
	} else {
		struct ph_buf *b = out->buf;
		char c[32];
		ph_text_row(b, "%-18s %-24s %s\n", "ADDRESS", "TYPE", "ROOT");
		for (size_t i = 0; i < r->nrows; i++) {
			ph_text_row(b, "0x%-16llx ",
				    (unsigned long long)r->rows[i].obj.addr);
			ph_text_cell(b, r->rows[i].obj.type, 24);
			ph_text_sep(b);
			ph_text_puts(b,
				     ph_strings_get(&r->str, r->rows[i].name));
			ph_buf_putc(b, '\n');
		}
		ph_buf_printf(b, "%s roots", ph_fmt_count(r->total, c));
		if (r->nrows < r->total)
			ph_buf_printf(b, " (%zu shown; --limit 0 for all)",
				      r->nrows);
		ph_buf_putc(b, '\n');
	}
	ph_roots_result_destroy(r);
	return NULL;
}

/* ---- path ---------------------------------------------------------------- */

/* what path_json and path_text write each step's value with */
struct path_values {
	struct ph_session *s;
	struct ph_readable_opts ro;
	struct ph_buf v;
};

/* A path's steps have values up to PH_ROW_VALUES: the first ones and
 * the object's own. */
static bool path_value_shown(const struct ph_path *p, size_t i)
{
	return i + 1 < PH_ROW_VALUES || i + 1 == p->n;
}

static void path_json(const struct ph_path_result *r, const struct ph_path *p,
		      struct ph_json *j, struct path_values *pv)
{
	ph_json_key(j, "root");
	ph_json_str(j, ph_strings_get(&r->str, p->root));
	ph_json_key(j, "path");
	ph_json_array_begin(j);
	for (size_t i = 0; i < p->n; i++) {
		const struct ph_path_step *st = &r->steps[p->first + i];
		ph_json_object_begin(j);
		json_obj_head(j, &st->obj);
		ph_json_key(j, "via");
		ph_json_str(j, ph_strings_get(&r->str, st->via));
		if (path_value_shown(p, i))
			json_readable(j, pv->s, st->obj.addr, &pv->ro, &pv->v);
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
}

static void path_text(const struct ph_path_result *r, const struct ph_path *p,
		      struct ph_buf *b, struct path_values *pv)
{
	ph_text_puts(b, ph_strings_get(&r->str, p->root));
	ph_buf_putc(b, ' ');
	bool spaced = false;
	for (size_t i = 1; i < p->n; i++) {
		const char *via =
			ph_strings_get(&r->str, r->steps[p->first + i].via);
		/* a word of a C object ("+0x48 (conservative)") is no part of
		 * an expression: set apart from the steps around it */
		bool apart = via[0] == '+';
		if (apart && i > 1 && !spaced)
			ph_buf_putc(b, ' ');
		ph_text_puts(b, via);
		spaced = apart && i + 1 < p->n;
		if (spaced)
			ph_buf_putc(b, ' ');
	}
	ph_buf_putc(b, '\n');
	for (size_t i = 0; i < p->n; i++) {
		const struct ph_path_step *st = &r->steps[p->first + i];
		ph_text_row(b, "  ");
		ph_text_cell(b, i ? ph_strings_get(&r->str, st->via) : "(root)",
			     26);
		ph_text_row(b, " 0x%-16llx ", (unsigned long long)st->obj.addr);
		ph_text_cell(b, st->obj.type, 24);
		ph_text_sep(b);
		if (path_value_shown(p, i))
			ph_text_puts(b, readable(pv->s, st->obj.addr, &pv->ro,
						 &pv->v));
		ph_buf_putc(b, '\n');
	}
}

struct ph_error *ph_run_path(struct ph_session *s, const struct ph_args *a,
			     struct ph_out *out)
{
	struct ph_path_result *r;
	struct ph_error *err =
		ph_query_path(s, a->operand, ph_args_num(a, "--all", 0), &r);
	if (err)
		return err;
	struct path_values pv = {.s = s,
				 .ro = ph_args_readable(a, PH_ROW_VALUE_MAX)};
	ph_buf_init(&pv.v);
	if (out->json) {
		struct ph_json *j = &out->j;
		ph_json_key(j, "address");
		ph_json_addr(j, r->addr);
		if (!r->reachable) {
			ph_json_key(j, "root");
			ph_json_null(j);
			ph_json_key(j, "path");
			ph_json_array_begin(j);
			ph_json_array_end(j);
			ph_json_key(j, "paths");
			ph_json_array_begin(j);
			ph_json_array_end(j);
		} else {
			path_json(r, &r->paths[0], j, &pv);
			if (r->all) {
				ph_json_key(j, "paths");
				ph_json_array_begin(j);
				for (size_t i = 0; i < r->npaths; i++) {
					ph_json_object_begin(j);
					path_json(r, &r->paths[i], j, &pv);
					ph_json_object_end(j);
				}
				ph_json_array_end(j);
			}
		}
	} else if (!r->reachable)
		ph_buf_printf(out->buf,
			      "no root reaches 0x%llx: it is garbage, kept "
			      "alive only by a reference cycle or a reference "
			      "py-heap cannot see (C code)\n",
			      (unsigned long long)r->addr);
	else {
		path_text(r, &r->paths[0], out->buf, &pv);
		if (r->all) {
			ph_buf_putc(out->buf, '\n');
			for (size_t i = 1; i < r->npaths; i++) {
				path_text(r, &r->paths[i], out->buf, &pv);
				ph_buf_putc(out->buf, '\n');
			}
		}
	}
	ph_path_result_destroy(r);
	bool failed = pv.v.failed;
	ph_buf_free(&pv.v);
	return failed ? ph_error_nomem() : NULL;
}
