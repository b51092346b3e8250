/* render_heap.c - types, list, info and summary: their results as text and
 * as JSON, and the commands that ask and render them. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "query.h"

/* ---- types --------------------------------------------------------------- */

/* --retained: the retained bytes column, before the type */
static void retained_cell(const struct ph_types_result *r, uint64_t v,
			  bool blank, struct ph_buf *out)
{
	char c[32];
	if (r->retained)
		ph_text_row(out, " %15s", blank ? "" : ph_fmt_count(v, c));
}

static void types_text(const struct ph_types_result *r, struct ph_buf *out)
{
	char c[32], b[32];
	ph_text_row(out, "%12s %15s", "COUNT", "BYTES");
	if (r->retained)
		ph_text_row(out, " %15s", "RETAINED");
	ph_text_row(out, "  %s\n", "TYPE");
	for (size_t i = 0; i < r->shown; i++) {
		const struct ph_type_row *t = &r->rows[i];
		char ib[40];
		/* (plain text keeps its numbers numbers: JSON says which) */
		snprintf(ib, sizeof(ib), "%s%s",
			 t->size_inexact && !ph_plain() ? "~" : "",
			 ph_fmt_count(t->bytes, b));
		ph_text_row(out, "%12s %15s", ph_fmt_count(t->count, c), ib);
		retained_cell(r, t->retained_bytes, false, out);
		ph_text_row(out, "  ");
		ph_text_puts(out, t->name);
		ph_buf_putc(out, '\n');
	}
	if (r->shown < r->nrows) {
		char t[64];
		snprintf(t, sizeof(t), "(%zu other types)",
			 r->nrows - r->shown);
		ph_text_row(out, "%12s %15s", ph_fmt_count(r->rest_count, c),
			    ph_fmt_count(r->rest_bytes, b));
		retained_cell(r, 0, true, out);
		ph_text_row(out, "  %s\n", t);
	}
	char tt[64];
	snprintf(tt, sizeof(tt), "total (%zu types)", r->nrows);
	ph_text_row(out, "%12s %15s", ph_fmt_count(r->objects, c),
		    ph_fmt_count(r->bytes, b));
	retained_cell(r, 0, true, out);
	ph_text_row(out, "  %s\n", tt);
	if (r->inexact)
		ph_buf_printf(out,
			      "%s%zu type%s whose sys.getsizeof() runs Python "
			      "code or a C __sizeof__ py-heap does not model: "
			      "their objects' structs only%s\n",
			      ph_plain() ? "" : "~: ", r->inexact,
			      r->inexact == 1 ? "" : "s",
			      ph_plain() ? " (\"size_exact\": false in JSON)"
					 : "");
	if (r->retained)
		ph_buf_puts(out, "RETAINED: what deleting every object of the "
				 "type would free (at least): what its objects "
				 "retain, each object once\n");
}

static void types_json(const struct ph_types_result *r, struct ph_json *j)
{
	ph_json_key(j, "python");
	ph_json_str(j, r->python);
	ph_json_key(j, "objects");
	ph_json_u64(j, r->objects);
	ph_json_key(j, "bytes");
	ph_json_u64(j, r->bytes);
	ph_json_key(j, "types");
	ph_json_array_begin(j);
	for (size_t i = 0; i < r->shown; i++) {
		ph_json_object_begin(j);
		ph_json_key(j, "type");
		ph_json_str(j, r->rows[i].name);
		ph_json_key(j, "count");
		ph_json_u64(j, r->rows[i].count);
		ph_json_key(j, "bytes");
		ph_json_u64(j, r->rows[i].bytes);
		if (r->rows[i].size_inexact) {
			ph_json_key(j, "size_exact");
			ph_json_bool(j, false);
		}
		if (r->retained) {
			ph_json_key(j, "retained_objects");
			ph_json_u64(j, r->rows[i].retained_objects);
			ph_json_key(j, "retained_bytes");
			ph_json_u64(j, r->rows[i].retained_bytes);
		}
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
	ph_json_key(j, "interpreters");
	ph_json_array_begin(j);
	for (size_t i = 0; i < r->ninterps; i++) {
		ph_json_object_begin(j);
		ph_json_key(j, "id");
		ph_json_i64(j, r->interps[i].id);
		ph_json_key(j, "objects");
		ph_json_u64(j, r->interps[i].objects);
		ph_json_key(j, "bytes");
		ph_json_u64(j, r->interps[i].bytes);
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
}

struct ph_error *ph_run_types(struct ph_session *s, const struct ph_args *a,
			      struct ph_out *out)
{
	bool retained = ph_args_flag(a, "--retained");
	const char *sort =
		ph_args_str(a, "--sort", retained ? "retained" : "size");
	struct ph_types_opts o = {
		.limit = ph_args_num(a, "--limit", out->json ? 0 : 25),
		.by_count = !strcmp(sort, "count"),
		.module = ph_args_str(a, "--module", NULL),
		.retained = retained,
		.by_retained = !strcmp(sort, "retained"),
	};
	if (o.by_retained && !retained)
		return ph_error_create(PH_ERR_USAGE,
				       "types: --sort retained needs "
				       "--retained");
	struct ph_types_result *r;
	struct ph_error *err = ph_query_types(s, &o, &r);
	if (err)
		return err;
	if (out->json)
		types_json(r, &out->j);
	else
		types_text(r, out->buf);
	ph_types_result_destroy(r);
	return NULL;
}

/* ---- list ---------------------------------------------------------------- */

struct ph_error *ph_run_list(struct ph_session *s, const struct ph_args *a,
			     struct ph_out *out)
{
	struct ph_list_opts o = {
		.type = a->operand,
		.limit = ph_args_num(a, "--limit", out->json ? 0 : 50),
		.min_size = ph_args_num(a, "--min-size", 0),
	};
	struct ph_list_result *r;
	struct ph_error *err = ph_query_list(s, &o, &r);
	if (err)
		return err;
	struct ph_readable_opts ro = ph_args_readable(a, PH_ROW_VALUE_MAX);
	struct ph_buf v;
	ph_buf_init(&v);
	if (out->json) {
		struct ph_json *j = &out->j;
		ph_json_key(j, "type");
		ph_json_str(j, r->type);
		ph_json_key(j, "count");
		ph_json_u64(j, r->count);
		ph_json_key(j, "objects");
		ph_json_array_begin(j);
		for (size_t i = 0; i < r->shown; i++) {
			ph_json_object_begin(j);
			ph_json_key(j, "address");
			ph_json_addr(j, r->rows[i].addr);
			ph_json_key(j, "size");
			ph_json_u64(j, r->rows[i].size);
			ph_json_key(j, "repr");
			ph_json_str(j,
				    ph_strings_get(&r->str, r->rows[i].repr));
			if (i < PH_ROW_VALUES) {
				v.len = 0;
				ph_query_readable(s, r->rows[i].addr, &ro, &v);
				ph_json_key(j, "readable");
				ph_json_strn(j, v.data ? v.data : "", v.len);
			}
			ph_json_object_end(j);
		}
		ph_json_array_end(j);
	} else {
		char c[32];
		struct ph_buf *b = out->buf;
		ph_text_row(b, "%-18s %12s  %s\n", "ADDRESS", "SIZE", "VALUE");
		for (size_t i = 0; i < r->shown; i++) {
			ph_text_row(b, "0x%-16llx %12s  ",
				    (unsigned long long)r->rows[i].addr,
				    ph_fmt_count(r->rows[i].size, c));
			v.len = 0;
			if (i < PH_ROW_VALUES)
				ph_query_readable(s, r->rows[i].addr, &ro, &v);
			else /* (the short form past those) */
				ph_buf_puts(&v,
					    ph_strings_get(&r->str,
							   r->rows[i].repr));
			ph_text_escape(b, v.data ? v.data : "", v.len);
			ph_buf_putc(b, '\n');
		}
		ph_buf_printf(b, "%s objects of type ",
			      ph_fmt_count(r->count, c));
		ph_text_puts(b, r->type);
		if (r->shown < r->count)
			ph_buf_printf(b, " (%zu shown; --limit 0 for all)",
				      r->shown);
		ph_buf_putc(b, '\n');
	}
	ph_list_result_destroy(r);
	if (v.failed) {
		ph_buf_free(&v);
		return ph_error_nomem();
	}
	ph_buf_free(&v);
	return NULL;
}

/* ---- info ---------------------------------------------------------------- */

static void json_str_or_null(struct ph_json *j, const char *s)
{
	if (s)
		ph_json_str(j, s);
	else
		ph_json_null(j);
}

/* Each interpreter: its id, allocator, threads, objects and bytes. */
static void interps_text(const struct ph_interp_row *rows, size_t n,
			 size_t unread, struct ph_buf *out)
{
	char c1[32], c2[32];
	ph_buf_printf(out, "Interpreters:    %zu%s\n", n,
		      unread ? " (more in the list, not read: damaged, or past "
			       "254)"
			     : "");
	for (size_t i = 0; n > 1 && i < n; i++)
		ph_buf_printf(out,
			      "  interp %-6lld %s objects, %s bytes, %zu "
			      "thread states%s\n",
			      (long long)rows[i].id,
			      ph_fmt_count(rows[i].objects, c1),
			      ph_fmt_count(rows[i].bytes, c2), rows[i].threads,
			      rows[i].id == 0 ? " (main)"
			      : rows[i].own_allocator
				      ? " (own GIL and allocator)"
				      : " (the main one's allocator)");
}

static void interps_json(const struct ph_interp_row *rows, size_t n,
			 struct ph_json *j)
{
	ph_json_key(j, "interpreters");
	ph_json_array_begin(j);
	for (size_t i = 0; i < n; i++) {
		ph_json_object_begin(j);
		ph_json_key(j, "id");
		ph_json_i64(j, rows[i].id);
		ph_json_key(j, "objects");
		ph_json_u64(j, rows[i].objects);
		ph_json_key(j, "bytes");
		ph_json_u64(j, rows[i].bytes);
		ph_json_key(j, "threads");
		ph_json_u64(j, rows[i].threads);
		ph_json_key(j, "own_allocator");
		ph_json_bool(j, rows[i].own_allocator);
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
}

static void info_json(const struct ph_info_result *r, struct ph_json *j)
{
	ph_json_key(j, "python");
	ph_json_str(j, r->python);
	ph_json_key(j, "build");
	ph_json_str(j, r->debug_build ? "debug" : "release");
	ph_json_key(j, "allocator");
	ph_json_str(j, r->allocator);
	ph_json_key(j, "executable");
	ph_json_str(j, r->executable);
	ph_json_key(j, "build_id");
	ph_json_str(j, r->build_id);
	ph_json_key(j, "runtime_in");
	ph_json_str(j, r->runtime_in);
	ph_json_key(j, "runtime_address");
	ph_json_addr(j, r->runtime_address);
	ph_json_key(j, "layout_source");
	ph_json_str(j, r->layout_source);
	ph_json_key(j, "layout_cached");
	ph_json_bool(j, r->layout_cached);
	ph_json_key(j, "symbols_cached");
	ph_json_bool(j, r->symbols_cached);
	ph_json_key(j, "index_cache");
	ph_json_str(j, r->index_cache);
	ph_json_key(j, "index_cache_sealed");
	ph_json_bool(j, r->index_cache_sealed);
	if (r->index_cache_ignored) {
		ph_json_key(j, "index_cache_ignored");
		ph_json_str(j, r->index_cache_ignored);
	}
	ph_json_key(j, "threads");
	ph_json_u64(j, r->threads);
	ph_json_key(j, "objects");
	ph_json_u64(j, r->objects);
	ph_json_key(j, "found");
	ph_json_object_begin(j);
	ph_json_key(j, "gc_lists");
	ph_json_u64(j, r->found_gc);
	ph_json_key(j, "references");
	ph_json_u64(j, r->found_ref);
	ph_json_key(j, "roots");
	ph_json_u64(j, r->found_root);
	ph_json_key(j, "pool_scan");
	ph_json_u64(j, r->found_pool);
	ph_json_object_end(j);
	ph_json_key(j, "types");
	ph_json_u64(j, r->types);
	ph_json_key(j, "pymalloc_pools");
	ph_json_u64(j, r->pools);
	ph_json_key(j, "pymalloc_source");
	ph_json_str(j, r->pool_source);
	ph_json_key(j, "debug_file");
	json_str_or_null(j, r->debug_file);
	ph_json_key(j, "debug_source");
	json_str_or_null(j, r->debug_source);
	ph_json_key(j, "memory_not_saved");
	ph_json_u64(j, r->memory_not_saved);
	ph_json_key(j, "damage");
	ph_json_object_begin(j);
	static const char *const keys[] = {
		"gc_lists_damaged",
		"gc_lists_cut_by_zeros",
		"gc_objects_bad_type",
		"gc_objects_zeroed",
		"gc_objects_implausible",
		"refs_into_memory_not_saved",
		"refs_to_zeros",
		"refs_to_implausible",
		"refs_wild",
		"pools_inconsistent",
	};
	const uint64_t vals[] = {
		r->gc_list_damaged,    r->gc_zeroed_links,
		r->gc_bad_objects,     r->gc_zeroed_objects,
		r->gc_damaged_objects, r->refs_into_missing,
		r->refs_to_zeros,      r->refs_to_damaged,
		r->refs_wild,	       r->pools_inconsistent,
	};
	for (size_t i = 0; i < PH_ARRAY_SIZE(keys); i++) {
		ph_json_key(j, keys[i]);
		ph_json_u64(j, vals[i]);
	}
	ph_json_object_end(j);
	ph_json_key(j, "version");
	ph_json_str(j, r->version);
	interps_json(r->interps, r->ninterps, j);
	ph_json_key(j, "free_threaded");
	ph_json_bool(j, r->free_threaded);
}

static void info_text(const struct ph_info_result *r, struct ph_buf *out)
{
	char c1[32], c2[32], c3[32], c4[32], c5[32];
	ph_buf_printf(out, "Python:          %s (%s build%s)\n", r->python,
		      r->debug_build ? "debug" : "release",
		      r->free_threaded ? ", free-threaded" : "");
	ph_buf_puts(out, "Executable:      ");
	ph_text_puts(out, r->executable);
	ph_buf_printf(out, "\nBuild-id:        %s\n",
		      *r->build_id ? r->build_id : "(none)");
	ph_buf_printf(out, "_PyRuntime:      0x%llx in ",
		      (unsigned long long)r->runtime_address);
	ph_text_puts(out, r->runtime_in);
	ph_buf_printf(out, "\nLayouts from:    %s\n", r->layout_source);
	ph_buf_printf(out, "Index cache:     %s", r->index_cache);
	if (r->index_cache_sealed)
		ph_buf_puts(out, " (sealed: summed whole by an earlier run)");
	if (r->index_cache_ignored)
		ph_buf_printf(out, " (one there was ignored: %s)",
			      r->index_cache_ignored);
	ph_buf_puts(out, "\n");
	ph_buf_puts(out, "Debug info:      ");
	ph_text_puts(out, r->debug_file	    ? r->debug_file
			  : r->debug_source ? "in the file"
					    : "none");
	if (r->debug_source) {
		ph_buf_puts(out, " (");
		ph_text_puts(out, r->debug_source);
		ph_buf_puts(out, ")");
	}
	ph_buf_printf(out, "\nThreads:         %zu\n", r->threads);
	interps_text(r->interps, r->ninterps, r->interps_unread, out);
	ph_buf_printf(
		out,
		"Objects:         %s (GC lists %s, references %s, roots "
		"%s, pool scan %s)\n",
		ph_fmt_count(r->objects, c1), ph_fmt_count(r->found_gc, c2),
		ph_fmt_count(r->found_ref, c3), ph_fmt_count(r->found_root, c4),
		ph_fmt_count(r->found_pool, c5));
	ph_buf_printf(out, "Types:           %zu\n", r->types);
	if (r->free_threaded)
		ph_buf_printf(out, "mimalloc pages:  %s (%s)%s\n",
			      ph_fmt_count(r->mi_pages, c1), r->pool_source,
			      !strcmp(r->allocator, "mimalloc")
				      ? ""
				      : ", debug hooks on");
	else
		ph_buf_printf(out, "pymalloc pools:  %s (%s)%s\n",
			      ph_fmt_count(r->pools, c1), r->pool_source,
			      !strcmp(r->allocator, "pymalloc")
				      ? ""
				      : ", debug hooks on");
	ph_buf_printf(out, "Not saved:       %s bytes\n",
		      ph_fmt_count(r->memory_not_saved, c1));
	ph_buf_printf(out,
		      "Damage:          GC lists %llu damaged (%llu cut by "
		      "zeros); GC objects skipped: %llu with no valid type, "
		      "%llu zeroed, %llu implausible; references to memory "
		      "not saved %llu, to zeros %llu, to implausible objects "
		      "%llu, wild %llu\n",
		      (unsigned long long)r->gc_list_damaged,
		      (unsigned long long)r->gc_zeroed_links,
		      (unsigned long long)r->gc_bad_objects,
		      (unsigned long long)r->gc_zeroed_objects,
		      (unsigned long long)r->gc_damaged_objects,
		      (unsigned long long)r->refs_into_missing,
		      (unsigned long long)r->refs_to_zeros,
		      (unsigned long long)r->refs_to_damaged,
		      (unsigned long long)r->refs_wild);
	ph_buf_printf(out, "py-heap:         %s\n", r->version);
}

struct ph_error *ph_run_info(struct ph_session *s, const struct ph_args *a,
			     struct ph_out *out)
{
	struct ph_info_result *r;
	struct ph_error *err = ph_query_info(s, &r);
	if (err)
		return err;
	if (out->json)
		info_json(r, &out->j);
	else
		info_text(r, out->buf);
	ph_info_result_destroy(r);
	return NULL;
}

/* ---- summary ------------------------------------------------------------- */

struct ph_error *ph_run_summary(struct ph_session *s, const struct ph_args *a,
				struct ph_out *out)
{
	struct ph_summary_result *r;
	struct ph_error *err = ph_query_summary(s, &r);
	if (err)
		return err;
	if (out->json) {
		struct ph_json *j = &out->j;
		types_json(r->types, j);
		ph_json_key(j, "threads");
		ph_json_u64(j, r->threads);
		ph_json_key(j, "gc");
		ph_json_object_begin(j);
		static const char *const gens[] = {"untracked_or_not_gc",
						   "generation0", "generation1",
						   "generation2", "permanent"};
		for (size_t i = 0; i < 5; i++) {
			ph_json_key(j, gens[i]);
			ph_json_u64(j, r->gens[i]);
		}
		ph_json_object_end(j);
		ph_json_key(j, "pymalloc");
		ph_json_object_begin(j);
		ph_json_key(j, "pools");
		ph_json_u64(j, r->pools);
		ph_json_key(j, "pool_bytes");
		ph_json_u64(j, r->pool_bytes);
		ph_json_key(j, "used_blocks");
		ph_json_u64(j, r->used_blocks);
		ph_json_key(j, "used_bytes");
		ph_json_u64(j, r->used_bytes);
		ph_json_key(j, "free_bytes");
		ph_json_u64(j, r->free_bytes);
		ph_json_key(j, "fragmentation_percent");
		ph_json_fixed(j, r->fragmentation_percent, 1);
		ph_json_object_end(j);
		if (r->free_threaded) {
			ph_json_key(j, "mimalloc");
			ph_json_object_begin(j);
			ph_json_key(j, "pages");
			ph_json_u64(j, r->mi_pages);
			ph_json_key(j, "page_bytes");
			ph_json_u64(j, r->mi_bytes);
			ph_json_key(j, "used_blocks");
			ph_json_u64(j, r->mi_used_blocks);
			ph_json_key(j, "used_bytes");
			ph_json_u64(j, r->mi_used_bytes);
			ph_json_object_end(j);
		}
	} else {
		char c1[32], c2[32], c3[32], c4[32];
		struct ph_buf *b = out->buf;
		ph_buf_printf(b, "Python %s, %zu threads\n", r->python,
			      r->threads);
		ph_buf_printf(b, "%s objects, %s bytes (sys.getsizeof)\n",
			      ph_fmt_count(r->types->objects, c1),
			      ph_fmt_count(r->types->bytes, c2));
		if (r->types->ninterps > 1)
			interps_text(r->types->interps, r->types->ninterps, 0,
				     b);
		ph_buf_putc(b, '\n');
		ph_buf_puts(b, "Largest types:\n");
		types_text(r->types, b);
		if (r->free_threaded) {
			/* one generation; mimalloc's blocks */
			ph_buf_printf(b,
				      "\nGC: %s tracked objects, permanent "
				      "%s (free-threaded: no generations)\n",
				      ph_fmt_count(r->gens[1], c1),
				      ph_fmt_count(r->gens[4], c2));
			ph_buf_printf(b,
				      "mimalloc: %s pages read (%s bytes), %s "
				      "blocks in use (%s bytes)\n",
				      ph_fmt_count(r->mi_pages, c1),
				      ph_fmt_count(r->mi_bytes, c2),
				      ph_fmt_count(r->mi_used_blocks, c3),
				      ph_fmt_count(r->mi_used_bytes, c4));
			goto done;
		}
		ph_buf_printf(
			b,
			"\nGC: generation 0 %s, generation 1 %s, generation 2 "
			"%s, permanent %s tracked objects\n",
			ph_fmt_count(r->gens[1], c1),
			ph_fmt_count(r->gens[2], c2),
			ph_fmt_count(r->gens[3], c3),
			ph_fmt_count(r->gens[4], c4));
		ph_buf_printf(
			b,
			"pymalloc: %s pools (%s bytes), %s blocks in use (%s "
			"bytes), %.1f%% of pool space free\n",
			ph_fmt_count(r->pools, c1),
			ph_fmt_count(r->pool_bytes, c2),
			ph_fmt_count(r->used_blocks, c3),
			ph_fmt_count(r->used_bytes, c4),
			r->fragmentation_percent);
	}
done:
	ph_summary_result_destroy(r);
	return NULL;
}
