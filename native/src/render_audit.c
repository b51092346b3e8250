/* render_audit.c - cycles, refcount and refcheck: their results as text
 * and as JSON, and the commands that ask and render them. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "query.h"

/* ---- cycles -------------------------------------------------------------- */

static const char *short_name(const char *name)
{
	/* "__main__.Node" -> "Node"; qualnames keep their dots after the
	 * module, but the module cannot be told apart here: drop up to the
	 * first dot for user modules only. */
	const char *dot = strchr(name, '.');
	if (!dot || strchr(name, '<'))
		return name;
	return dot + 1;
}

static void cycles_json(const struct ph_cycles_result *r, struct ph_json *j)
{
	ph_json_key(j, "cycles");
	ph_json_array_begin(j);
	for (size_t k = 0; k < r->shown; k++) {
		const struct ph_cycle *c = &r->cycles[k];
		ph_json_object_begin(j);
		ph_json_key(j, "objects");
		ph_json_u64(j, c->objects);
		ph_json_key(j, "bytes");
		ph_json_u64(j, c->bytes);
		ph_json_key(j, "unreachable");
		ph_json_bool(j, c->unreachable);
		ph_json_key(j, "finalizers");
		ph_json_u64(j, c->finalizers);
		ph_json_key(j, "types");
		ph_json_object_begin(j);
		for (size_t i = 0; i < c->ntypes; i++) {
			ph_json_key(j, r->types[c->types + i].name);
			ph_json_u64(j, r->types[c->types + i].count);
		}
		ph_json_object_end(j);
		ph_json_key(j, "members");
		ph_json_array_begin(j);
		for (size_t i = 0; i < c->nmembers; i++)
			ph_json_addr(j, r->members[c->members + i]);
		ph_json_array_end(j);
		ph_json_key(j, "loop");
		ph_json_array_begin(j);
		for (size_t i = 0; i < c->nloop; i++) {
			const struct ph_path_step *st = &r->loop[c->loop + i];
			ph_json_object_begin(j);
			ph_json_key(j, "address");
			ph_json_addr(j, st->obj.addr);
			ph_json_key(j, "type");
			ph_json_str(j, st->obj.type);
			ph_json_key(j, "via");
			ph_json_str(j, ph_strings_get(&r->str, st->via));
			ph_json_object_end(j);
		}
		ph_json_array_end(j);
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
	ph_json_key(j, "total_cycles");
	ph_json_u64(j, r->total);
	ph_json_key(j, "unreachable_objects");
	ph_json_u64(j, r->unreachable_objects);
	ph_json_key(j, "unreachable_bytes");
	ph_json_u64(j, r->unreachable_bytes);
	ph_json_key(j, "unreachable_with_finalizers");
	ph_json_u64(j, r->unreachable_finalizers);
	ph_json_key(j, "frozen_objects");
	ph_json_u64(j, r->frozen_objects);
	ph_json_key(j, "freed_by_finalizers");
	ph_json_u64(j, r->freed_by_finalizers);
	ph_json_key(j, "legacy_finalizer_objects");
	ph_json_u64(j, r->legacy_finalizer_objects);
	ph_json_key(j, "weakref_callbacks");
	ph_json_u64(j, r->weakref_callbacks);
	ph_json_key(j, "collect_returns");
	ph_json_u64(j, r->collect_returns);
	if (r->unreachable_only) {
		ph_json_key(j, "unreachable");
		ph_json_array_begin(j);
		for (size_t i = 0; i < r->nunreachable; i++)
			ph_json_addr(j, r->unreachable[i]);
		ph_json_array_end(j);
		ph_json_key(j, "finalizer_freed");
		ph_json_array_begin(j);
		for (size_t i = 0; i < r->nfinalizer_freed; i++)
			ph_json_addr(j, r->finalizer_freed[i]);
		ph_json_array_end(j);
	}
	ph_json_key(j, "gc_garbage");
	ph_json_array_begin(j);
	for (size_t i = 0; i < r->ngc_garbage; i++)
		ph_json_addr(j, r->gc_garbage[i]);
	ph_json_array_end(j);
}

static void cycles_text(const struct ph_cycles_result *r, struct ph_buf *b)
{
	char c1[32], c2[32], c3[32];
	ph_buf_printf(b,
		      "%s %scycles; %s objects (%s bytes) are unreachable: "
		      "what gc.collect() would free now\n",
		      ph_fmt_count(r->total, c1),
		      r->unreachable_only ? "unreachable " : "",
		      ph_fmt_count(r->unreachable_objects, c2),
		      ph_fmt_count(r->unreachable_bytes, c3));
	if (r->unreachable_finalizers)
		ph_buf_printf(b,
			      "%s of them have finalizers (__del__, a "
			      "suspended generator's close): what those free "
			      "when they run, gc.collect() does not count\n",
			      ph_fmt_count(r->unreachable_finalizers, c1));
	if (r->freed_by_finalizers)
		ph_buf_printf(b,
			      "%s objects are freed by refcount once the "
			      "generators' finalizers have closed their frames "
			      "(not counted by gc.collect(), not in "
			      "gc.garbage)\n",
			      ph_fmt_count(r->freed_by_finalizers, c1));
	if (r->legacy_finalizer_objects)
		ph_buf_printf(b,
			      "%s objects are kept by legacy finalizers "
			      "(tp_del): they go to gc.garbage\n",
			      ph_fmt_count(r->legacy_finalizer_objects, c1));
	if (r->weakref_callbacks)
		ph_buf_printf(b,
			      "%s weakrefs outside them have callbacks to "
			      "run\n",
			      ph_fmt_count(r->weakref_callbacks, c1));
	if (r->freed_by_finalizers || r->legacy_finalizer_objects ||
	    r->weakref_callbacks)
		ph_buf_printf(b,
			      "gc.collect() would return %s (if no __del__ or "
			      "callback resurrects or frees anything%s)\n",
			      ph_fmt_count(r->collect_returns, c1),
			      r->weakref_callbacks
				      ? "; each weakref a callback frees adds 1"
				      : "");
	if (r->frozen_objects)
		ph_buf_printf(b,
			      "%s objects are frozen (gc.freeze()): never "
			      "collected, not counted as unreachable\n",
			      ph_fmt_count(r->frozen_objects, c1));
	for (size_t k = 0; k < r->shown; k++) {
		const struct ph_cycle *c = &r->cycles[k];
		ph_buf_printf(b, "\ncycle %zu: %s objects, %s bytes, %s%s\n",
			      k + 1, ph_fmt_count(c->objects, c1),
			      ph_fmt_count(c->bytes, c2),
			      c->unreachable ? "unreachable (garbage)"
					     : "reachable",
			      c->finalizers ? ", has finalizers" : "");
		ph_buf_puts(b, "  types: ");
		for (size_t i = 0; i < c->ntypes && i < 8; i++) {
			const struct ph_cycle_type *t = &r->types[c->types + i];
			ph_buf_puts(b, i ? ", " : "");
			ph_text_puts(b, t->name);
			ph_buf_printf(b, " %u", t->count);
		}
		if (c->ntypes > 8)
			ph_buf_printf(b, ", ... (%zu types)", c->ntypes);
		ph_buf_puts(b, "\n  loop:  ");
		for (size_t i = 0; i < c->nloop && i < 12; i++) {
			const struct ph_path_step *st = &r->loop[c->loop + i];
			const char *via = ph_strings_get(&r->str, st->via);
			ph_text_puts(b, short_name(st->obj.type));
			/* ".attr" and "[key]" follow the type; "local 'x'" and
			 * "stack[2]" (a generator's frame) after a blank */
			if (*via != '.' && *via != '[')
				ph_buf_putc(b, ' ');
			ph_text_puts(b, via);
			ph_buf_puts(b, " -> ");
		}
		if (c->nloop > 12)
			ph_buf_printf(b, "... (%zu steps) -> ", c->nloop);
		ph_buf_puts(b, "back\n  first: ");
		for (size_t i = 0; i < c->nmembers && i < 5; i++)
			ph_buf_printf(
				b, "%s0x%llx", i ? " " : "",
				(unsigned long long)r->members[c->members + i]);
		ph_buf_putc(b, '\n');
	}
	if (r->shown < r->total)
		ph_buf_printf(b, "\n... %zu more cycles (--limit 0 for all)\n",
			      r->total - r->shown);
	if (r->gc_garbage_edges > 1)
		ph_buf_printf(b, "gc.garbage holds %zu objects\n",
			      r->gc_garbage_edges - 1);
}

struct ph_error *ph_run_cycles(struct ph_session *s, const struct ph_args *a,
			       struct ph_out *out)
{
	struct ph_cycles_opts o = {
		.unreachable_only = ph_args_flag(a, "--unreachable"),
		.by_count = !strcmp(ph_args_str(a, "--sort", "size"), "count"),
		.limit = ph_args_num(a, "--limit", out->json ? 0 : 20),
		.min_size = ph_args_num(a, "--min-size", 0),
	};
	struct ph_cycles_result *r;
	struct ph_error *err = ph_query_cycles(s, &o, &r);
	if (err)
		return err;
	if (out->json) {
		/* about what each member, step, type and address takes */
		ph_buf_reserve(out->buf,
			       r->shown * 160 + r->nloop_all * 90 +
				       r->ntypes_all * 30 +
				       (r->nmembers_all + r->nunreachable +
					r->nfinalizer_freed + r->ngc_garbage) *
					       18);
		cycles_json(r, &out->j);
	} else
		cycles_text(r, out->buf);
	ph_cycles_result_destroy(r);
	return NULL;
}

/* ---- refcount ------------------------------------------------------------ */

static void refcount_json(const struct ph_refcount_result *r, struct ph_json *j)
{
	ph_json_key(j, "address");
	ph_json_addr(j, r->obj.addr);
	ph_json_key(j, "refcount");
	if (r->immortal)
		ph_json_null(j);
	else
		ph_json_i64(j, r->refcount);
	ph_json_key(j, "referrers_found");
	ph_json_i64(j, r->found);
	ph_json_key(j, "excess");
	if (r->immortal)
		ph_json_null(j);
	else
		ph_json_i64(j, r->excess);
	ph_json_key(j, "immortal");
	ph_json_bool(j, r->immortal);
	ph_json_key(j, "static");
	ph_json_bool(j, r->is_static);
	ph_json_key(j, "from_objects");
	ph_json_u64(j, r->from_objects);
	ph_json_key(j, "from_frames_and_interpreter");
	ph_json_u64(j, r->outside);
	ph_json_key(j, "conservative");
	ph_json_u64(j, r->conservative);
	ph_json_key(j, "references");
	ph_json_array_begin(j);
	for (size_t i = 0; i < r->nrefs; i++) {
		ph_json_object_begin(j);
		ph_json_key(j, "address");
		ph_json_addr(j, r->refs[i].obj.addr);
		ph_json_key(j, "type");
		ph_json_str(j, r->refs[i].obj.type);
		ph_json_key(j, "via");
		ph_json_str(j, ph_strings_get(&r->str, r->refs[i].via));
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
	ph_json_key(j, "roots");
	ph_json_array_begin(j);
	for (size_t i = 0; i < r->nroots; i++)
		ph_json_str(j, ph_strings_get(&r->str, r->roots[i]));
	ph_json_array_end(j);
	if (r->deferred) {
		ph_json_key(j, "deferred");
		ph_json_u64(j, r->deferred);
	}
}

static void refcount_text(const struct ph_refcount_result *r, struct ph_buf *b)
{
	long long rc = (long long)r->refcount, found = (long long)r->found;
	ph_buf_printf(b, "0x%llx ", (unsigned long long)r->obj.addr);
	ph_text_puts(b, r->obj.type);
	ph_buf_putc(b, '\n');
	if (r->immortal)
		ph_buf_printf(b,
			      "  refcount (ob_refcnt):  immortal (%#llx): "
			      "never freed, not counted\n",
			      (unsigned long long)r->refcount);
	else
		ph_buf_printf(b, "  refcount (ob_refcnt):  %lld\n", rc);
	ph_buf_printf(b,
		      "  references found:     %lld (%llu from objects, "
		      "%llu from frames and the interpreter%s)\n",
		      found, (unsigned long long)r->from_objects,
		      (unsigned long long)r->outside,
		      r->deferred ? ", 1 deferred: free-threaded, no reference"
				  : "");
	if (r->immortal)
		ph_buf_puts(b, "  excess:               (immortal)\n");
	else
		ph_buf_printf(b, "  excess:               %lld%s\n",
			      (long long)r->excess,
			      rc > found ? "  <- held by references py-heap "
					   "cannot see (C code), or leaked"
			      : rc < found
				      ? "  <- fewer than found: over-released "
					"or a guessed reference is wrong"
				      : "");
	if (r->is_static)
		ph_buf_puts(b, "  (a static object: C code refers to it "
			       "freely)\n");
	ph_buf_puts(b, "  references:\n");
	for (size_t i = 0; i < r->nrefs; i++) {
		ph_text_row(b, "    0x%-16llx ",
			    (unsigned long long)r->refs[i].obj.addr);
		ph_text_cell(b, r->refs[i].obj.type, 28);
		ph_text_sep(b);
		ph_text_puts(b, ph_strings_get(&r->str, r->refs[i].via));
		ph_buf_putc(b, '\n');
	}
	if (r->nrefs < r->from_objects)
		ph_buf_printf(b, "    ... %llu more\n",
			      (unsigned long long)(r->from_objects - r->nrefs));
	for (size_t i = 0; i < r->nroots; i++) {
		ph_buf_puts(b, "    root: ");
		ph_text_puts(b, ph_strings_get(&r->str, r->roots[i]));
		ph_buf_putc(b, '\n');
	}
}

struct ph_error *ph_run_refcount(struct ph_session *s, const struct ph_args *a,
				 struct ph_out *out)
{
	struct ph_refcount_result *r;
	struct ph_error *err = ph_query_refcount(
		s, a->operand, out->json ? SIZE_MAX : 200, &r);
	if (err)
		return err;
	if (out->json)
		refcount_json(r, &out->j);
	else
		refcount_text(r, out->buf);
	ph_refcount_result_destroy(r);
	return NULL;
}

/* ---- refcheck ------------------------------------------------------------ */

static void suspects_json(const struct ph_refcheck_result *r,
			  const struct ph_suspect_type *st, size_t n,
			  struct ph_json *j)
{
	ph_json_array_begin(j);
	for (size_t i = 0; i < n; i++) {
		ph_json_object_begin(j);
		ph_json_key(j, "type");
		ph_json_str(j, st[i].type);
		ph_json_key(j, "objects");
		ph_json_u64(j, st[i].objects);
		ph_json_key(j, "total");
		ph_json_i64(j, st[i].total);
		ph_json_key(j, "worst");
		ph_json_object_begin(j);
		ph_json_key(j, "address");
		ph_json_addr(j, st[i].worst.addr);
		ph_json_key(j, "excess");
		ph_json_i64(j, st[i].worst.excess);
		ph_json_object_end(j);
		ph_json_key(j, "suspects");
		ph_json_array_begin(j);
		for (size_t k = 0; k < st[i].nsuspects; k++) {
			const struct ph_suspect *x =
				&r->suspects[st[i].suspects + k];
			ph_json_object_begin(j);
			ph_json_key(j, "address");
			ph_json_addr(j, x->addr);
			ph_json_key(j, "excess");
			ph_json_i64(j, x->excess);
			ph_json_object_end(j);
		}
		ph_json_array_end(j);
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
}

static void suspects_text(const struct ph_suspect_type *st, size_t n,
			  size_t all, struct ph_buf *b)
{
	char c[32];
	for (size_t i = 0; i < n; i++) {
		ph_text_row(b, "  %10s objects  %+10lld refs  ",
			    ph_fmt_count(st[i].objects, c),
			    (long long)st[i].total);
		ph_text_cell(b, st[i].type, 30);
		ph_text_row(b, " worst 0x%llx (%+lld)\n",
			    (unsigned long long)st[i].worst.addr,
			    (long long)st[i].worst.excess);
	}
	if (n < all)
		ph_buf_printf(b, "  ... %zu more types\n", all - n);
}

struct ph_error *ph_run_refcheck(struct ph_session *s, const struct ph_args *a,
				 struct ph_out *out)
{
	struct ph_refcheck_opts o = {
		.min_excess = ph_args_num(a, "--min-excess", 1),
		.type = ph_args_str(a, "--type", NULL),
		.limit = ph_args_num(a, "--limit", out->json ? 0 : 20),
		.suspects = out->json,
	};
	struct ph_refcheck_result *r;
	struct ph_error *err = ph_query_refcheck(s, &o, &r);
	if (err)
		return err;
	if (out->json) {
		struct ph_json *j = &out->j;
		ph_json_key(j, "checked");
		ph_json_u64(j, r->checked);
		ph_json_key(j, "immortal_skipped");
		ph_json_u64(j, r->immortal_skipped);
		ph_json_key(j, "static_skipped");
		ph_json_u64(j, r->static_skipped);
		ph_json_key(j, "implausible_skipped");
		ph_json_u64(j, r->implausible_skipped);
		ph_json_key(j, "excess_objects");
		ph_json_u64(j, r->excess_objects);
		ph_json_key(j, "deficit_objects");
		ph_json_u64(j, r->deficit_objects);
		ph_json_key(j, "excess");
		suspects_json(r, r->excess, r->nexcess, j);
		ph_json_key(j, "deficit");
		suspects_json(r, r->deficit, r->ndeficit, j);
		ph_json_key(j, "truncated");
		ph_json_bool(j, r->truncated);
	} else {
		char c1[32], c2[32], c3[32];
		struct ph_buf *b = out->buf;
		ph_buf_printf(b,
			      "checked %s objects: %s have more references "
			      "than py-heap found (leaked, or held by C "
			      "code), %s have fewer\n",
			      ph_fmt_count(r->checked, c1),
			      ph_fmt_count(r->excess_objects, c2),
			      ph_fmt_count(r->deficit_objects, c3));
		if (r->excess_types) {
			ph_buf_puts(b, "\nrefcount higher than the references "
				       "found:\n");
			suspects_text(r->excess, r->nexcess, r->excess_types,
				      b);
		}
		if (r->deficit_types) {
			ph_buf_puts(b, "\nrefcount lower than the references "
				       "found:\n");
			suspects_text(r->deficit, r->ndeficit, r->deficit_types,
				      b);
		}
	}
	ph_refcheck_result_destroy(r);
	return NULL;
}
