/* render_diff.c - diff and snapshot: their results as text and as JSON, and
 * the commands that ask and render them. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "query.h"
#include "snapshot.h"

/* +1,234 / -56 / 0 */
static const char *fmt_delta(uint64_t after, uint64_t before, char out[40])
{
	char c[32];
	if (after == before)
		return strcpy(out, "0");
	bool up = after > before;
	snprintf(out, 40, "%c%s", up ? '+' : '-',
		 ph_fmt_count(up ? after - before : before - after, c));
	return out;
}

static int64_t delta(uint64_t after, uint64_t before)
{
	return (int64_t)(after - before);
}

/* "2026-11-23 13:04:05 UTC", or ISO 8601 with milliseconds for JSON
 * ("2026-11-23T13:04:05.123Z"); "" when unknown */
static const char *fmt_time(int64_t us, bool iso, char out[40])
{
	out[0] = '\0';
	if (us <= 0)
		return out;
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return out;
	if (!iso) {
		strftime(out, 40, "%Y-%m-%d %H:%M:%S UTC", &tm);
		return out;
	}
	char s[32];
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%03dZ", s, (int)(us / 1000 % 1000));
	return out;
}

/* ---- diff ---------------------------------------------------------------- */

static void side_json(const struct ph_diff_result *r,
		      const struct ph_diff_side *d, struct ph_json *j)
{
	const struct ph_strings *st = &r->str;
	char t[40];
	ph_json_object_begin(j);
	ph_json_key(j, "objects");
	ph_json_u64(j, d->objects);
	ph_json_key(j, "bytes");
	ph_json_u64(j, d->bytes);
	ph_json_key(j, "source");
	ph_json_str(j, ph_strings_get(st, d->source));
	ph_json_key(j, "kind");
	ph_json_str(j, d->kind);
	if (d->of) {
		ph_json_key(j, "snapshot_of");
		ph_json_str(j, ph_strings_get(st, d->of));
	}
	ph_json_key(j, "python");
	ph_json_str(j, ph_strings_get(st, d->python));
	ph_json_key(j, "pid");
	if (d->pid)
		ph_json_i64(j, d->pid);
	else
		ph_json_null(j);
	ph_json_key(j, "time");
	if (d->time_us > 0)
		ph_json_str(j, fmt_time(d->time_us, true, t));
	else
		ph_json_null(j);
	if (d->paused_ms > 0) {
		ph_json_key(j, "paused_ms");
		ph_json_fixed(j, d->paused_ms, 1);
	}
	ph_json_key(j, "partial");
	ph_json_bool(j, d->partial);
	if (d->nnotes) {
		ph_json_key(j, "notes");
		ph_json_array_begin(j);
		for (size_t i = 0; i < d->nnotes; i++)
			ph_json_str(j,
				    ph_strings_get(st, r->notes[d->notes + i]));
		ph_json_array_end(j);
	}
	ph_json_object_end(j);
}

static void diff_json(const struct ph_diff_result *r, struct ph_json *j)
{
	const struct ph_strings *st = &r->str;
	ph_json_key(j, "before");
	side_json(r, &r->before, j);
	ph_json_key(j, "after");
	side_json(r, &r->after, j);
	ph_json_key(j, "same_process");
	ph_json_bool(j, r->same_process);
	ph_json_key(j, "type_level_only");
	ph_json_bool(j, !r->same_process);
	ph_json_key(j, "processes_differ");
	if (r->same_process)
		ph_json_null(j);
	else
		ph_json_str(j, ph_strings_get(st, r->differ));
	const char *keys[] = {"new_objects", "freed_objects", "kept_objects",
			      "reused_addresses"};
	const uint64_t vals[] = {r->new_objects, r->freed_objects,
				 r->kept_objects, r->reused};
	for (size_t i = 0; i < 4; i++) {
		ph_json_key(j, keys[i]);
		if (r->same_process)
			ph_json_u64(j, vals[i]);
		else
			ph_json_null(j);
	}
	ph_json_key(j, "types");
	ph_json_array_begin(j);
	for (size_t i = 0; i < r->nrows; i++) {
		const struct ph_diff_row *w = &r->rows[i];
		ph_json_object_begin(j);
		ph_json_key(j, "type");
		ph_json_str(j, ph_strings_get(st, w->name));
		ph_json_key(j, "count_before");
		ph_json_u64(j, w->count_before);
		ph_json_key(j, "count_after");
		ph_json_u64(j, w->count_after);
		ph_json_key(j, "count_delta");
		ph_json_i64(j, delta(w->count_after, w->count_before));
		ph_json_key(j, "bytes_before");
		ph_json_u64(j, w->bytes_before);
		ph_json_key(j, "bytes_after");
		ph_json_u64(j, w->bytes_after);
		ph_json_key(j, "bytes_delta");
		ph_json_i64(j, delta(w->bytes_after, w->bytes_before));
		if (r->same_process) {
			ph_json_key(j, "new");
			ph_json_u64(j, w->new_objects);
			ph_json_key(j, "freed");
			ph_json_u64(j, w->freed_objects);
			if (r->containers_known &&
			    w->count_after > w->count_before) {
				ph_json_key(j, "new_unreachable");
				ph_json_u64(j, w->new_unreachable);
			}
		}
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
	ph_json_key(j, "unchanged_types");
	ph_json_u64(j, r->unchanged_types);
	ph_json_key(j, "containers_known");
	ph_json_bool(j, r->containers_known);
	ph_json_key(j, "grew_in");
	ph_json_array_begin(j);
	for (size_t i = 0; i < r->ngrew; i++) {
		const struct ph_diff_container *c = &r->grew[i];
		ph_json_object_begin(j);
		ph_json_key(j, "type");
		ph_json_str(j, ph_strings_get(st, r->rows[c->row].name));
		ph_json_key(j, "count_delta");
		ph_json_u64(j, c->count);
		ph_json_key(j, "bytes_delta");
		ph_json_u64(j, c->bytes);
		ph_json_key(j, "container");
		ph_json_object_begin(j);
		ph_json_key(j, "address");
		if (c->is_root)
			ph_json_null(j);
		else
			ph_json_addr(j, c->addr);
		ph_json_key(j, "type");
		if (c->is_root)
			ph_json_null(j);
		else
			ph_json_str(j, ph_strings_get(st, c->type));
		ph_json_key(j, "path");
		if (c->path)
			ph_json_str(j, ph_strings_get(st, c->path));
		else
			ph_json_null(j);
		ph_json_object_end(j);
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
}

static void side_text(const struct ph_diff_result *r, const char *label,
		      const struct ph_diff_side *d, struct ph_buf *b)
{
	const struct ph_strings *st = &r->str;
	char c[32], t[40];
	ph_buf_printf(b, "%s ", label);
	if (strcmp(d->kind, "process"))
		ph_buf_printf(b, "%s ", d->kind);
	ph_text_puts(b, ph_strings_get(st, d->source));
	ph_buf_puts(b, " (");
	if (d->of) {
		ph_buf_puts(b, "of ");
		ph_text_puts(b, ph_strings_get(st, d->of));
		ph_buf_puts(b, "; ");
	}
	const char *py = ph_strings_get(st, d->python);
	ph_buf_printf(b, "Python %s", *py ? py : "?");
	if (d->pid)
		ph_buf_printf(b, ", pid %lld", (long long)d->pid);
	if (d->time_us > 0)
		ph_buf_printf(b, ", %s", fmt_time(d->time_us, false, t));
	if (d->paused_ms > 0)
		ph_buf_printf(b, ", paused %.0f ms", d->paused_ms);
	ph_buf_printf(b, "): %s objects, ", ph_fmt_count(d->objects, c));
	ph_buf_printf(b, "%s bytes%s\n", ph_fmt_count(d->bytes, c),
		      d->partial ? " (partial: damaged)" : "");
	for (size_t i = 0; i < d->nnotes; i++) {
		ph_buf_puts(b, "  note: ");
		ph_text_puts(b, ph_strings_get(st, r->notes[d->notes + i]));
		ph_buf_putc(b, '\n');
	}
}

static void diff_text(const struct ph_diff_result *r, size_t limit,
		      struct ph_buf *b)
{
	const struct ph_strings *st = &r->str;
	char c1[32], c2[32], c3[32], c4[32], d1[40], d2[40];
	side_text(r, "before:", &r->before, b);
	side_text(r, "after: ", &r->after, b);
	if (r->same_process)
		ph_buf_printf(b,
			      "objects matched by address: %s kept, %s new, "
			      "%s freed (%s addresses reused by a new "
			      "object)\n",
			      ph_fmt_count(r->kept_objects, c1),
			      ph_fmt_count(r->new_objects, c2),
			      ph_fmt_count(r->freed_objects, c3),
			      ph_fmt_count(r->reused, c4));
	else {
		ph_buf_puts(b, "processes differ: type-level diff only (");
		ph_text_puts(b, ph_strings_get(st, r->differ));
		ph_buf_puts(b, ")\n");
	}
	ph_text_row(b, "\n%12s %10s %9s %14s %14s %12s  %s\n", "COUNT BEFORE",
		    "AFTER", "CHANGE", "BYTES BEFORE", "AFTER", "CHANGE",
		    "TYPE");
	size_t shown = limit && limit < r->nrows ? limit : r->nrows;
	uint64_t rest[4] = {0, 0, 0, 0};
	for (size_t i = 0; i < r->nrows; i++) {
		const struct ph_diff_row *w = &r->rows[i];
		if (i >= shown) {
			rest[0] += w->count_before, rest[1] += w->count_after;
			rest[2] += w->bytes_before, rest[3] += w->bytes_after;
			continue;
		}
		ph_text_row(b, "%12s %10s %9s %14s %14s %12s  ",
			    ph_fmt_count(w->count_before, c1),
			    ph_fmt_count(w->count_after, c2),
			    fmt_delta(w->count_after, w->count_before, d1),
			    ph_fmt_count(w->bytes_before, c3),
			    ph_fmt_count(w->bytes_after, c4),
			    fmt_delta(w->bytes_after, w->bytes_before, d2));
		ph_text_puts(b, ph_strings_get(st, w->name));
		ph_buf_putc(b, '\n');
	}
	if (shown < r->nrows) {
		char t[64];
		snprintf(t, sizeof(t), "(%zu other types)", r->nrows - shown);
		ph_text_row(
			b, "%12s %10s %9s %14s %14s %12s  %s\n",
			ph_fmt_count(rest[0], c1), ph_fmt_count(rest[1], c2),
			fmt_delta(rest[1], rest[0], d1),
			ph_fmt_count(rest[2], c3), ph_fmt_count(rest[3], c4),
			fmt_delta(rest[3], rest[2], d2), t);
	}
	char t[96];
	snprintf(t, sizeof(t), "total (%zu types changed, %llu unchanged)",
		 r->nrows, (unsigned long long)r->unchanged_types);
	ph_text_row(b, "%12s %10s %9s %14s %14s %12s  %s\n",
		    ph_fmt_count(r->before.objects, c1),
		    ph_fmt_count(r->after.objects, c2),
		    fmt_delta(r->after.objects, r->before.objects, d1),
		    ph_fmt_count(r->before.bytes, c3),
		    ph_fmt_count(r->after.bytes, c4),
		    fmt_delta(r->after.bytes, r->before.bytes, d2), t);
	if (!r->same_process)
		return;
	if (!r->containers_known) {
		ph_buf_puts(b, "\nwhere it grew: not known (the snapshot of "
			       "the second heap holds no tree)\n");
		return;
	}
	bool any = false;
	for (size_t i = 0; i < r->ngrew; i++) {
		const struct ph_diff_container *g = &r->grew[i];
		if (g->row >= shown)
			continue;
		if (!any)
			ph_buf_puts(b, "\nwhere it grew (new objects, by the "
				       "nearest container that was there "
				       "before):\n");
		any = true;
		ph_buf_puts(b, "  ");
		if (g->path)
			ph_text_puts(b, ph_strings_get(st, g->path));
		else
			ph_buf_puts(b, "(no path saved)");
		if (!g->is_root) {
			ph_buf_puts(b, " (");
			ph_text_puts(b, ph_strings_get(st, g->type));
			ph_buf_putc(b, ')');
		}
		ph_buf_printf(b, ": +%s ", ph_fmt_count(g->count, c1));
		ph_text_puts(b, ph_strings_get(st, r->rows[g->row].name));
		ph_buf_printf(b, " (+%s bytes", ph_fmt_count(g->bytes, c2));
		if (!g->is_root)
			ph_buf_printf(b, "; %s at 0x%llx",
				      ph_strings_get(st, g->type),
				      (unsigned long long)g->addr);
		ph_buf_puts(b, ")\n");
	}
	for (size_t i = 0; i < shown; i++) {
		const struct ph_diff_row *w = &r->rows[i];
		if (!w->new_unreachable || w->count_after <= w->count_before)
			continue;
		if (!any)
			ph_buf_puts(b, "\nwhere it grew:\n");
		any = true;
		ph_buf_printf(b, "  no root reaches them: +%s ",
			      ph_fmt_count(w->new_unreachable, c1));
		ph_text_puts(b, ph_strings_get(st, w->name));
		ph_buf_putc(b, '\n');
	}
}

static struct ph_error *parse_interval(const char *v, double *ret)
{
	*ret = 0;
	if (!v)
		return NULL;
	char *end;
	double d = strtod(v, &end);
	if (end == v || *end || !(d > 0) || d > 7 * 86400.0)
		return ph_error_create(PH_ERR_USAGE,
				       "diff: --interval takes a number of "
				       "seconds (more than 0, at most a week), "
				       "not '%s'",
				       v);
	*ret = d;
	return NULL;
}

struct ph_error *ph_run_diff(struct ph_session *s, const struct ph_args *a,
			     struct ph_out *out)
{
	struct ph_diff_opts o = {
		.before = a->operand,
		.after = a->operand2,
		.containers = ph_args_num(a, "--containers", 3),
		.has_interp = ph_args_flag(a, "--interp"),
		.interp = (int64_t)ph_args_num(a, "--interp", 0),
	};
	struct ph_error *err =
		parse_interval(ph_args_str(a, "--interval", NULL), &o.interval);
	if (err)
		return err;
	struct ph_diff_result *r;
	if ((err = ph_query_diff(s, &o, &r)))
		return err;
	if (r->before.partial || r->after.partial)
		out->partial = true;
	if (out->json)
		diff_json(r, &out->j);
	else
		diff_text(r, ph_args_num(a, "--limit", out->json ? 0 : 25),
			  out->buf);
	ph_diff_result_destroy(r);
	return NULL;
}

/* diff's output takes BEFORE's heap too (with AFTER, a second file, there
 * is no session: nothing is cached) */
bool ph_run_diff_key(struct ph_session *s, const struct ph_args *a,
		     struct ph_buf *b)
{
	return !a->operand2 && ph_query_diff_key(s, a->operand, b);
}

/* ---- snapshot ------------------------------------------------------------ */

struct ph_error *ph_run_snapshot(struct ph_session *s, const struct ph_args *a,
				 struct ph_out *out)
{
	const char *opt = ph_args_str(a, "--output", NULL);
	if (opt && a->operand)
		return ph_error_create(PH_ERR_USAGE,
				       "snapshot: give FILE or --output FILE, "
				       "not both");
	const char *path = opt ? opt : a->operand;
	if (!path || !*path)
		return ph_error_create(
			PH_ERR_USAGE, "snapshot: where to? give --output FILE");
	struct ph_snapshot_result *r;
	struct ph_error *err = ph_query_snapshot(s, path, &r);
	if (err)
		return err;
	const struct ph_strings *st = &r->str;
	if (out->json) {
		struct ph_json *j = &out->j;
		char v[16];
		snprintf(v, sizeof(v), "%d.%d", PH_SNAP_MAJOR, PH_SNAP_MINOR);
		ph_json_key(j, "output");
		ph_json_str(j, r->output);
		ph_json_key(j, "format");
		ph_json_str(j, v);
		ph_json_key(j, "source");
		ph_json_str(j, ph_strings_get(st, r->source));
		ph_json_key(j, "python");
		ph_json_str(j, ph_strings_get(st, r->python));
		ph_json_key(j, "objects");
		ph_json_u64(j, r->objects);
		ph_json_key(j, "bytes");
		ph_json_u64(j, r->bytes);
		ph_json_key(j, "types");
		ph_json_u64(j, r->types);
		ph_json_key(j, "roots");
		ph_json_u64(j, r->roots);
		ph_json_key(j, "named");
		ph_json_u64(j, r->named);
		ph_json_key(j, "file_bytes");
		ph_json_u64(j, r->file_bytes);
		if (r->interp >= 0) {
			ph_json_key(j, "interp");
			ph_json_i64(j, r->interp);
		}
	} else {
		char c1[32], c2[32], c3[32], c4[32];
		struct ph_buf *b = out->buf;
		ph_buf_printf(b, "saved %s objects (%s types, %s bytes) of ",
			      ph_fmt_count(r->objects, c1),
			      ph_fmt_count(r->types, c2),
			      ph_fmt_count(r->bytes, c3));
		ph_text_puts(b, ph_strings_get(st, r->source));
		if (r->interp >= 0)
			ph_buf_printf(b, " (interpreter %lld only)",
				      (long long)r->interp);
		ph_buf_puts(b, " to ");
		ph_text_puts(b, r->output);
		ph_buf_printf(b, ": %s bytes, %.1f per object\n",
			      ph_fmt_count(r->file_bytes, c4),
			      r->objects ? (double)r->file_bytes /
						   (double)r->objects
					 : 0.0);
	}
	ph_snapshot_result_destroy(r);
	return NULL;
}
