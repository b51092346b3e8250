/* session.c - a session on one process image, and the commands on it.
 * Every command produces one string, text or JSON, which the CLI and the
 * GDB extension print as it is. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

const char *ph_version(void)
{
	return "0.1.0";
}

struct ph_options {
	char *core, *exe, *sysroot;
	int pid;
	unsigned pid_flags;
	char **debug_dirs;
	size_t ndebug_dirs, debug_dirs_cap;
	bool no_debuginfod;
};

struct ph_error *ph_options_create(struct ph_options **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? NULL : ph_error_nomem();
}

void ph_options_destroy(struct ph_options *o)
{
	if (!o)
		return;
	free(o->core);
	free(o->exe);
	free(o->sysroot);
	for (size_t i = 0; i < o->ndebug_dirs; i++)
		free(o->debug_dirs[i]);
	free(o->debug_dirs);
	free(o);
}

static struct ph_error *set_str(char **dst, const char *v)
{
	char *c = v ? strdup(v) : NULL;
	if (v && !c)
		return ph_error_nomem();
	free(*dst);
	*dst = c;
	return NULL;
}

struct ph_error *ph_options_set_core(struct ph_options *o, const char *core)
{
	return set_str(&o->core, core);
}

struct ph_error *ph_options_set_pid(struct ph_options *o, int pid,
				    unsigned flags)
{
	if (pid <= 0)
		return ph_error_create(PH_ERR_USAGE, "not a process id: %d",
				       pid);
	o->pid = pid;
	o->pid_flags = flags;
	return NULL;
}

struct ph_error *ph_options_set_exe(struct ph_options *o, const char *exe)
{
	return set_str(&o->exe, exe);
}

struct ph_error *ph_options_set_sysroot(struct ph_options *o,
					const char *sysroot)
{
	return set_str(&o->sysroot, sysroot);
}

struct ph_error *ph_options_add_debug_dir(struct ph_options *o, const char *dir)
{
	struct ph_error *err =
		ph_grow((void **)&o->debug_dirs, &o->debug_dirs_cap,
			o->ndebug_dirs + 1, sizeof(char *));
	if (err)
		return err;
	if (!(o->debug_dirs[o->ndebug_dirs] = strdup(dir)))
		return ph_error_nomem();
	o->ndebug_dirs++;
	return NULL;
}

void ph_options_set_no_debuginfod(struct ph_options *o, bool no_debuginfod)
{
	o->no_debuginfod = no_debuginfod;
}

struct ph_error *ph_session_create(const struct ph_options *o,
				   struct ph_session **ret)
{
	if (!o->core == !o->pid)
		return ph_error_create(PH_ERR_USAGE,
				       "give a core file or a process id");
	struct ph_session *s = calloc(1, sizeof(*s));
	if (!s)
		return ph_error_nomem();
	ph_buf_init(&s->notes);
	struct ph_error *err;
	if (o->core)
		err = ph_target_open_core(o->core, o->exe, o->sysroot,
					  &s->target);
	else
		err = ph_target_open_pid(
			o->pid,
			o->pid_flags & PH_SESSION_NO_STOP ? PH_PID_NO_STOP : 0,
			&s->target);
	struct ph_target *t = s->target;
	if (!err && o->ndebug_dirs) {
		t->debug_dirs = calloc(o->ndebug_dirs, sizeof(char *));
		if (!t->debug_dirs)
			err = ph_error_nomem();
		for (size_t i = 0; !err && i < o->ndebug_dirs; i++) {
			if (!(t->debug_dirs[i] = strdup(o->debug_dirs[i])))
				err = ph_error_nomem();
			else
				t->ndebug_dirs++;
		}
	}
	if (!err) {
		t->no_debuginfod = o->no_debuginfod;
		err = ph_runtime_create(t, &s->rt);
		if (err && t->truncated_need)
			err = ph_error_wrap(err,
					    "%s: core truncated (%.0f%% of it "
					    "present)",
					    o->core,
					    100.0 * (double)t->size /
						    (double)t->truncated_need);
	}
	if (err) {
		ph_session_destroy(s);
		return err;
	}
	if (o->pid && t->stopped)
		ph_buf_printf(&s->notes,
			      "py-heap: paused process %d for %.0f ms\n",
			      o->pid, t->pause_ms);
	else if (o->pid)
		ph_buf_printf(&s->notes,
			      "py-heap: read process %d without stopping it: "
			      "the answer may be inconsistent\n",
			      o->pid);
	*ret = s;
	return NULL;
}

struct ph_error *ph_session_create_from_target(struct ph_target *t,
					       struct ph_session **ret)
{
	struct ph_session *s = calloc(1, sizeof(*s));
	if (!s) {
		ph_target_destroy(t);
		return ph_error_nomem();
	}
	ph_buf_init(&s->notes);
	s->target = t;
	struct ph_error *err = ph_runtime_create(t, &s->rt);
	if (err) {
		ph_session_destroy(s);
		return err;
	}
	*ret = s;
	return NULL;
}

struct ph_error *ph_session_create_core(const char *core_path,
					const char *exe_path,
					const char *sysroot,
					struct ph_session **ret)
{
	struct ph_options o = {
		.core = (char *)core_path,
		.exe = (char *)exe_path,
		.sysroot = (char *)sysroot,
	};
	return ph_session_create(&o, ret);
}

struct ph_error *ph_session_create_pid(int pid, unsigned flags,
				       struct ph_session **ret)
{
	struct ph_options o = {.pid = pid, .pid_flags = flags};
	if (pid <= 0)
		return ph_error_create(PH_ERR_USAGE, "not a process id: %d",
				       pid);
	return ph_session_create(&o, ret);
}

void ph_session_destroy(struct ph_session *s)
{
	if (!s)
		return;
	ph_graph_destroy(s->graph);
	ph_heap_destroy(s->heap);
	ph_runtime_destroy(s->rt);
	ph_target_destroy(s->target);
	ph_buf_free(&s->notes);
	free(s);
}

/* What a heap read whole may still show, as damage would. */
static bool heap_in_flux(const struct ph_heap *h)
{
	return h->pools_inconsistent || h->gc_list_damaged ||
	       h->gc_zeroed_links || h->gc_zeroed_objects || h->refs_to_zeros ||
	       h->gc_bad_objects || h->gc_damaged_objects ||
	       h->refs_to_damaged || h->refs_wild;
}

/*
 * A process stopped at an arbitrary instruction may be in the middle of
 * changing its heap: a pool whose block count is updated but not yet its
 * free list, a GC list with one link moved. The process is let run and
 * read again (a new snapshot, a new pause), a few times, before that is
 * reported as damage. Returns false when it could not (the process is
 * gone, or traced by a debugger): the first reading stands.
 */
static bool session_read_again(struct ph_session *s)
{
	struct ph_target *old = s->target, *t;
	struct ph_runtime *rt;
	struct ph_error *err = ph_target_open_pid(old->pid, 0, &t);
	if (err) {
		ph_error_destroy(err);
		return false;
	}
	t->debug_dirs = old->debug_dirs;
	t->ndebug_dirs = old->ndebug_dirs;
	t->no_debuginfod = old->no_debuginfod;
	if ((err = ph_runtime_create(t, &rt))) {
		ph_error_destroy(err);
		t->debug_dirs = NULL;
		t->ndebug_dirs = 0;
		ph_target_destroy(t);
		return false;
	}
	old->debug_dirs = NULL; /* the new target's now */
	old->ndebug_dirs = 0;
	ph_heap_destroy(s->heap);
	s->heap = NULL;
	ph_runtime_destroy(s->rt);
	ph_target_destroy(old);
	s->target = t;
	s->rt = rt;
	return true;
}

struct ph_error *session_heap(struct ph_session *s)
{
	if (s->heap)
		return NULL;
	struct ph_error *err = ph_heap_create(s->rt, &s->heap);
	if (err)
		return err;
	int again = 0;
	double paused = s->target->pause_ms;
	while (s->target->pid && s->target->stopped && heap_in_flux(s->heap) &&
	       again < 3 && session_read_again(s)) {
		again++;
		paused += s->target->pause_ms;
		if ((err = ph_heap_create(s->rt, &s->heap)))
			return err;
	}
	if (again)
		ph_buf_printf(&s->notes,
			      "py-heap: process %d was stopped while changing "
			      "its heap (pymalloc's pools or a GC list): read "
			      "again %d time%s, paused %.0f ms in all\n",
			      s->target->pid, again, again > 1 ? "s" : "",
			      paused);
	struct ph_heap *h = s->heap;
	char a[32], b[32], c[32], d[32];
	struct ph_target *t = s->target;
	if (t->truncated_need) {
		/* One line: what was lost, and what it cost. */
		ph_buf_printf(&s->notes,
			      "py-heap: %s: core truncated: %s of the %s bytes "
			      "its headers describe (%.0f%%); %zu segments "
			      "(%s bytes) missing: %s references point into "
			      "them, those objects could not be read; the "
			      "answer is partial\n",
			      t->core_path, ph_fmt_count(t->size, a),
			      ph_fmt_count(t->truncated_need, b),
			      100.0 * (double)t->size /
				      (double)t->truncated_need,
			      t->truncated_segments,
			      ph_fmt_count(t->truncated_bytes, c),
			      ph_fmt_count(h->refs_into_missing, d));
		s->partial = true;
	} else if (s->target->mem.bytes_missing) {
		ph_buf_printf(&s->notes,
			      "py-heap: %s bytes of the process's memory are "
			      "missing (not saved in the core, or unreadable): "
			      "%s references point there, those objects could "
			      "not be read\n",
			      ph_fmt_count(s->target->mem.bytes_missing, a),
			      ph_fmt_count(h->refs_into_missing, b));
		/* partial when something was lost: a live process has
		 * mappings no one can read, which hold no object */
		if (h->refs_into_missing)
			s->partial = true;
	}
	/* Damage: each kind on one line, counted; any makes the answer
	 * partial (exit status 2), except in a process read while it ran
	 * (--no-stop), where it is what the warning said may happen. */
	bool moving = t->pid && !t->stopped;
	uint64_t zeroed = h->gc_zeroed_objects + h->refs_to_zeros;
	if (zeroed) {
		ph_buf_printf(&s->notes,
			      "py-heap: memory zeroed where objects should be: "
			      "%s objects read as zeros (%s on GC lists, %s "
			      "referenced): skipped\n",
			      ph_fmt_count(zeroed, a),
			      ph_fmt_count(h->gc_zeroed_objects, b),
			      ph_fmt_count(h->refs_to_zeros, c));
		s->partial |= !moving;
	}
	if (h->gc_zeroed_links) {
		ph_buf_printf(&s->notes,
			      "py-heap: %s GC lists end in zeroed memory (a "
			      "link of zeros)\n",
			      ph_fmt_count(h->gc_zeroed_links, a));
		s->partial |= !moving;
	}
	if (h->gc_bad_objects) {
		ph_buf_printf(&s->notes,
			      "py-heap: %s objects on the GC lists have a "
			      "damaged header (no valid type): skipped\n",
			      ph_fmt_count(h->gc_bad_objects, a));
		s->partial |= !moving;
	}
	uint64_t implausible = h->gc_damaged_objects + h->refs_to_damaged;
	if (implausible) {
		ph_buf_printf(
			&s->notes,
			"py-heap: %s objects are damaged (%s on GC lists, "
			"%s referenced): a valid type but an implausible "
			"header, GC links or contents (sizes, tables or "
			"items beyond the memory there is): skipped\n",
			ph_fmt_count(implausible, a),
			ph_fmt_count(h->gc_damaged_objects, b),
			ph_fmt_count(h->refs_to_damaged, c));
		s->partial |= !moving;
	}
	if (h->refs_wild) {
		ph_buf_printf(&s->notes,
			      "py-heap: %s references lead to no valid object "
			      "(wild pointers into damaged memory): not "
			      "followed\n",
			      ph_fmt_count(h->refs_wild, a));
		s->partial |= !moving;
	}
	if (h->gc_list_damaged) {
		ph_buf_printf(&s->notes,
			      "py-heap: %s GC lists are damaged; objects "
			      "after the damage may be missing\n",
			      ph_fmt_count(h->gc_list_damaged, a));
		s->partial |= !moving;
	}
	const struct ph_module *pm = s->rt->pymod;
	if (!pm->debug_elf && !pm->debug_source)
		ph_buf_printf(&s->notes,
			      "py-heap: no debug information for %s%s%s: "
			      "pymalloc's pools were found by their headers "
			      "alone (install its -dbg package, or set "
			      "DEBUGINFOD_URLS)\n",
			      pm->path,
			      pm->debuginfod_error ? "; debuginfod: " : "",
			      pm->debuginfod_error ? pm->debuginfod_error : "");
	/* A stopped process that was still allocating after the readings
	 * above: each thread can be in the middle of handing out or taking
	 * back one block, which is no object either way. */
	bool mid_alloc =
		t->pid && t->stopped && !h->gc_list_damaged &&
		h->pools_inconsistent <= (t->nthreads ? t->nthreads : 1);
	if (h->pools_inconsistent)
		ph_buf_printf(&s->notes,
			      "py-heap: %s of %s pymalloc pools have a free "
			      "list that disagrees with their block count%s\n",
			      ph_fmt_count(h->pools_inconsistent, a),
			      ph_fmt_count(h->npools, b),
			      mid_alloc ? " (the process was stopped in the "
					  "middle of an allocation: the block "
					  "it was moving is no object either "
					  "way)"
					: "");
	if (h->pools_inconsistent && !moving && !mid_alloc)
		s->partial = true;
	return NULL;
}

bool ph_session_partial(struct ph_session *s)
{
	return s->partial;
}

const char *ph_session_notes(struct ph_session *s)
{
	return s->notes.data ? s->notes.data : "";
}

/* ---- argument parsing shared by the commands -------------------------- */

struct ph_error *parse_u64(const char *cmd, const char *opt, const char *v,
			   uint64_t *ret)
{
	char *end;
	if (!v || !*v || *v == '-')
		return ph_error_create(PH_ERR_USAGE,
				       "%s: %s needs a non-negative number",
				       cmd, opt);
	unsigned long long n = strtoull(v, &end, 0);
	if (*end)
		return ph_error_create(PH_ERR_USAGE,
				       "%s: %s: '%s' is not a number", cmd, opt,
				       v);
	*ret = n;
	return NULL;
}

/* ---- types ------------------------------------------------------------ */

static int sort_by_bytes(const void *a, const void *b, void *arg)
{
	const struct ph_type *types = arg;
	const struct ph_type *x = &types[*(const uint32_t *)a];
	const struct ph_type *y = &types[*(const uint32_t *)b];
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static int sort_by_count(const void *a, const void *b, void *arg)
{
	const struct ph_type *types = arg;
	const struct ph_type *x = &types[*(const uint32_t *)a];
	const struct ph_type *y = &types[*(const uint32_t *)b];
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

PH_COMMAND(cmd_types)
{
	uint64_t limit = json ? 0 : 25;
	bool by_count = false;
	struct ph_error *err;
	for (; a->pos < a->argc; a->pos++) {
		const char *o = a->argv[a->pos];
		const char *v =
			a->pos + 1 < a->argc ? a->argv[a->pos + 1] : NULL;
		if (!strcmp(o, "--limit")) {
			if ((err = parse_u64("types", o, v, &limit)))
				return err;
			a->pos++;
		} else if (!strcmp(o, "--sort")) {
			if (!v || (strcmp(v, "count") && strcmp(v, "size")))
				return ph_error_create(PH_ERR_USAGE,
						       "types: --sort takes "
						       "count or size");
			by_count = !strcmp(v, "count");
			a->pos++;
		} else
			return ph_error_create(PH_ERR_USAGE,
					       "types: unknown argument '%s'",
					       o);
	}
	if ((err = session_heap(s)))
		return err;
	struct ph_heap *h = s->heap;
	for (size_t i = 0; i < h->ntypes; i++)
		h->types[i].count = h->types[i].bytes = 0;
	uint64_t total_bytes = 0;
	for (size_t i = 0; i < h->n; i++) {
		h->types[h->tidx[i]].count++;
		h->types[h->tidx[i]].bytes += h->size[i];
		total_bytes += h->size[i];
	}
	/* Types that share a name (a class defined twice) share a row, as
	 * they would in objgraph's or the user's own count by name. */
	struct ph_u64map by_name;
	ph_u64map_init(&by_name);
	for (size_t i = 0; i < h->ntypes; i++) {
		struct ph_type *t = &h->types[i];
		if (!t->count)
			continue;
		uint64_t key = 1469598103934665603ULL;
		for (const char *c = tname(t); *c; c++)
			key = (key ^ (unsigned char)*c) * 1099511628211ULL;
		key |= 1;
		uint32_t *first = ph_u64map_get(&by_name, key);
		if (first && !strcmp(tname(&h->types[*first]), tname(t))) {
			h->types[*first].count += t->count;
			h->types[*first].bytes += t->bytes;
			t->count = t->bytes = 0;
		} else if (!first && (err = ph_u64map_put(&by_name, key,
							  (uint32_t)i, NULL))) {
			ph_u64map_free(&by_name);
			return err;
		}
	}
	ph_u64map_free(&by_name);
	uint32_t *order = malloc((h->ntypes + 1) * sizeof(*order));
	if (!order)
		return ph_error_nomem();
	size_t n = 0;
	for (size_t i = 0; i < h->ntypes; i++)
		if (h->types[i].count)
			order[n++] = (uint32_t)i;
	qsort_r(order, n, sizeof(*order),
		by_count ? sort_by_count : sort_by_bytes, h->types);
	size_t shown = limit && limit < n ? limit : n;
	if (json) {
		ph_buf_puts(out, "{\"python\": ");
		ph_buf_json_str(out, s->rt->version, strlen(s->rt->version));
		ph_buf_printf(
			out,
			", \"objects\": %zu, \"bytes\": %llu, \"types\": [",
			h->n, (unsigned long long)total_bytes);
		for (size_t i = 0; i < shown; i++) {
			const struct ph_type *t = &h->types[order[i]];
			ph_buf_puts(out, i ? ", {\"type\": " : "{\"type\": ");
			ph_buf_json_str(out, tname(t), strlen(tname(t)));
			ph_buf_printf(out,
				      ", \"count\": %llu, \"bytes\": %llu}",
				      (unsigned long long)t->count,
				      (unsigned long long)t->bytes);
		}
		ph_buf_puts(out, "]}\n");
	} else {
		char c[32], b[32];
		ph_buf_printf(out, "%12s %15s  %s\n", "COUNT", "BYTES", "TYPE");
		for (size_t i = 0; i < shown; i++) {
			const struct ph_type *t = &h->types[order[i]];
			ph_buf_printf(out, "%12s %15s  %s\n",
				      ph_fmt_count(t->count, c),
				      ph_fmt_count(t->bytes, b), tname(t));
		}
		if (shown < n) {
			uint64_t rc = 0, rb = 0;
			for (size_t i = shown; i < n; i++) {
				rc += h->types[order[i]].count;
				rb += h->types[order[i]].bytes;
			}
			char t[64];
			snprintf(t, sizeof(t), "(%zu other types)", n - shown);
			ph_buf_printf(out, "%12s %15s  %s\n",
				      ph_fmt_count(rc, c), ph_fmt_count(rb, b),
				      t);
		}
		char tt[64];
		snprintf(tt, sizeof(tt), "total (%zu types)", n);
		ph_buf_printf(out, "%12s %15s  %s\n", ph_fmt_count(h->n, c),
			      ph_fmt_count(total_bytes, b), tt);
	}
	free(order);
	return NULL;
}

/* ---- list ------------------------------------------------------------- */

struct list_sort {
	const uint64_t *size;
	const uint64_t *addr;
};

static int sort_objs(const void *a, const void *b, void *arg)
{
	const struct list_sort *ls = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	if (ls->size[x] != ls->size[y])
		return ls->size[x] > ls->size[y] ? -1 : 1;
	return ls->addr[x] < ls->addr[y] ? -1 : ls->addr[x] > ls->addr[y];
}

static struct ph_error *cmd_list(struct ph_session *s, struct args *a,
				 bool json, struct ph_buf *out)
{
	uint64_t limit = json ? 0 : 50, min_size = 0;
	const char *type = NULL;
	struct ph_error *err;
	for (; a->pos < a->argc; a->pos++) {
		const char *o = a->argv[a->pos];
		const char *v =
			a->pos + 1 < a->argc ? a->argv[a->pos + 1] : NULL;
		if (!strcmp(o, "--limit")) {
			if ((err = parse_u64("list", o, v, &limit)))
				return err;
			a->pos++;
		} else if (!strcmp(o, "--min-size")) {
			if ((err = parse_u64("list", o, v, &min_size)))
				return err;
			a->pos++;
		} else if (o[0] == '-' && o[1])
			return ph_error_create(PH_ERR_USAGE,
					       "list: unknown option '%s'", o);
		else if (!type)
			type = o;
		else
			return ph_error_create(PH_ERR_USAGE,
					       "list: one TYPE only");
	}
	if (!type)
		return ph_error_create(PH_ERR_USAGE,
				       "list: which type? e.g. list dict");
	if ((err = session_heap(s)))
		return err;
	struct ph_heap *h = s->heap;
	/* Several type objects may share a name (classes redefined). */
	uint8_t *match = calloc(h->ntypes + 1, 1);
	if (!match)
		return ph_error_nomem();
	bool any = false;
	for (size_t i = 0; i < h->ntypes; i++)
		if (h->types[i].name && !strcmp(h->types[i].name, type))
			match[i] = any = 1;
	if (!any) {
		free(match);
		return ph_error_create(PH_ERR_NOT_FOUND,
				       "list: no type named '%s' in the heap "
				       "(names as `types` prints them)",
				       type);
	}
	uint32_t *objs = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < h->n; i++) {
		if (!match[h->tidx[i]] || h->size[i] < min_size)
			continue;
		if ((err = ph_grow((void **)&objs, &cap, n + 1,
				   sizeof(*objs)))) {
			free(match);
			free(objs);
			return err;
		}
		objs[n++] = (uint32_t)i;
	}
	free(match);
	struct list_sort ls = {.size = h->size, .addr = h->addr};
	if (n)
		qsort_r(objs, n, sizeof(*objs), sort_objs, &ls);
	size_t shown = limit && limit < n ? limit : n;
	struct ph_buf r;
	ph_buf_init(&r);
	if (json) {
		ph_buf_puts(out, "{\"type\": ");
		ph_buf_json_str(out, type, strlen(type));
		ph_buf_printf(out, ", \"count\": %zu, \"objects\": [", n);
	} else
		ph_buf_printf(out, "%-18s %12s  %s\n", "ADDRESS", "SIZE",
			      "VALUE");
	for (size_t i = 0; i < shown; i++) {
		uint32_t o = objs[i];
		r.len = 0;
		ph_repr_object(h, h->addr[o], h->tidx[o], &r);
		const char *rs = r.data ? r.data : "";
		if (json) {
			ph_buf_printf(
				out,
				"%s{\"address\": \"0x%llx\", \"size\": %llu, "
				"\"repr\": ",
				i ? ", " : "", (unsigned long long)h->addr[o],
				(unsigned long long)h->size[o]);
			ph_buf_json_str(out, rs, r.len);
			ph_buf_putc(out, '}');
		} else {
			char c[32];
			ph_buf_printf(out, "0x%-16llx %12s  %s\n",
				      (unsigned long long)h->addr[o],
				      ph_fmt_count(h->size[o], c), rs);
		}
	}
	if (json)
		ph_buf_puts(out, "]}\n");
	else {
		char c[32];
		ph_buf_printf(out, "%s objects of type %s", ph_fmt_count(n, c),
			      type);
		if (shown < n)
			ph_buf_printf(out, " (%zu shown; --limit 0 for all)",
				      shown);
		ph_buf_putc(out, '\n');
	}
	ph_buf_free(&r);
	free(objs);
	return NULL;
}

/* ---- info ------------------------------------------------------------- */

static struct ph_error *cmd_info(struct ph_session *s, struct args *a,
				 bool json, struct ph_buf *out)
{
	if (a->pos < a->argc)
		return ph_error_create(PH_ERR_USAGE,
				       "info: unknown argument '%s'",
				       a->argv[a->pos]);
	struct ph_error *err = session_heap(s);
	if (err)
		return err;
	struct ph_target *t = s->target;
	struct ph_heap *h = s->heap;
	const struct ph_module *exe =
		t->exe_index >= 0 ? &t->mods[t->exe_index] : NULL;
	char bid[129] = "";
	if (exe)
		for (size_t i = 0; i < exe->build_id_len; i++)
			sprintf(bid + 2 * i, "%02x", exe->build_id[i]);
	const char *exe_path =
		exe ? (exe->disk_path ? exe->disk_path : exe->path) : "";
	const struct ph_module *pm = s->rt->pymod;
	if (json) {
		ph_buf_puts(out, "{\"python\": ");
		ph_buf_json_str(out, s->rt->version, strlen(s->rt->version));
		ph_buf_printf(out,
			      ", \"build\": \"%s\", \"allocator\": \"%s\", "
			      "\"executable\": ",
			      s->rt->debug_build ? "debug" : "release",
			      h->block_head ? "pymalloc with debug hooks"
					    : "pymalloc");
		ph_buf_json_str(out, exe_path, strlen(exe_path));
		ph_buf_puts(out, ", \"build_id\": ");
		ph_buf_json_str(out, bid, strlen(bid));
		ph_buf_puts(out, ", \"runtime_in\": ");
		ph_buf_json_str(out, s->rt->pymod->path,
				strlen(s->rt->pymod->path));
		ph_buf_printf(
			out,
			", \"runtime_address\": \"0x%llx\", "
			"\"layout_source\": \"%s\", \"layout_cached\": %s, "
			"\"threads\": %zu, "
			"\"objects\": %zu, \"found\": {\"gc_lists\": %llu, "
			"\"references\": %llu, \"roots\": %llu, "
			"\"pool_scan\": %llu}, \"types\": %zu, "
			"\"pymalloc_pools\": %zu, \"pymalloc_source\": ",
			(unsigned long long)s->rt->runtime_addr,
			s->rt->layout->source,
			s->rt->layout_cached ? "true" : "false", t->nthreads,
			h->n, (unsigned long long)h->n_gc,
			(unsigned long long)h->n_ref,
			(unsigned long long)h->n_root,
			(unsigned long long)h->n_pool, h->ntypes, h->npools);
		ph_buf_json_str(out, h->arena_source, strlen(h->arena_source));
		ph_buf_puts(out, ", \"debug_file\": ");
		if (pm->debug_path)
			ph_buf_json_str(out, pm->debug_path,
					strlen(pm->debug_path));
		else
			ph_buf_puts(out, "null");
		ph_buf_puts(out, ", \"debug_source\": ");
		if (pm->debug_source)
			ph_buf_json_str(out, pm->debug_source,
					strlen(pm->debug_source));
		else
			ph_buf_puts(out, "null");
		ph_buf_printf(out, ", \"memory_not_saved\": %llu",
			      (unsigned long long)t->mem.bytes_missing);
		ph_buf_printf(out,
			      ", \"damage\": {\"gc_lists_damaged\": %llu, "
			      "\"gc_lists_cut_by_zeros\": %llu, "
			      "\"gc_objects_bad_type\": %llu, "
			      "\"gc_objects_zeroed\": %llu, "
			      "\"gc_objects_implausible\": %llu, "
			      "\"refs_into_memory_not_saved\": %llu, "
			      "\"refs_to_zeros\": %llu, "
			      "\"refs_to_implausible\": %llu, "
			      "\"refs_wild\": %llu, "
			      "\"pools_inconsistent\": %llu}}\n",
			      (unsigned long long)h->gc_list_damaged,
			      (unsigned long long)h->gc_zeroed_links,
			      (unsigned long long)h->gc_bad_objects,
			      (unsigned long long)h->gc_zeroed_objects,
			      (unsigned long long)h->gc_damaged_objects,
			      (unsigned long long)h->refs_into_missing,
			      (unsigned long long)h->refs_to_zeros,
			      (unsigned long long)h->refs_to_damaged,
			      (unsigned long long)h->refs_wild,
			      (unsigned long long)h->pools_inconsistent);
		return NULL;
	}
	char c1[32], c2[32], c3[32], c4[32], c5[32];
	ph_buf_printf(out, "Python:          %s (%s build)\n", s->rt->version,
		      s->rt->debug_build ? "debug" : "release");
	ph_buf_printf(out, "Executable:      %s\n", exe_path);
	ph_buf_printf(out, "Build-id:        %s\n", *bid ? bid : "(none)");
	ph_buf_printf(out, "_PyRuntime:      0x%llx in %s\n",
		      (unsigned long long)s->rt->runtime_addr,
		      s->rt->pymod->path);
	ph_buf_printf(out, "Layouts from:    %s\n", s->rt->layout->source);
	ph_buf_printf(out, "Debug info:      %s%s%s%s\n",
		      pm->debug_path	 ? pm->debug_path
		      : pm->debug_source ? "in the file"
					 : "none",
		      pm->debug_source ? " (" : "",
		      pm->debug_source ? pm->debug_source : "",
		      pm->debug_source ? ")" : "");
	ph_buf_printf(out, "Threads:         %zu\n", t->nthreads);
	ph_buf_printf(out,
		      "Objects:         %s (GC lists %s, references %s, roots "
		      "%s, pool scan %s)\n",
		      ph_fmt_count(h->n, c1), ph_fmt_count(h->n_gc, c2),
		      ph_fmt_count(h->n_ref, c3), ph_fmt_count(h->n_root, c4),
		      ph_fmt_count(h->n_pool, c5));
	ph_buf_printf(out, "Types:           %zu\n", h->ntypes);
	ph_buf_printf(out, "pymalloc pools:  %s (%s)%s\n",
		      ph_fmt_count(h->npools, c1), h->arena_source,
		      h->block_head ? ", debug hooks on" : "");
	ph_buf_printf(out, "Not saved:       %s bytes\n",
		      ph_fmt_count(t->mem.bytes_missing, c1));
	ph_buf_printf(out,
		      "Damage:          GC lists %llu damaged (%llu cut by "
		      "zeros); GC objects skipped: %llu with no valid type, "
		      "%llu zeroed, %llu implausible; references to memory "
		      "not saved %llu, to zeros %llu, to implausible objects "
		      "%llu, wild %llu\n",
		      (unsigned long long)h->gc_list_damaged,
		      (unsigned long long)h->gc_zeroed_links,
		      (unsigned long long)h->gc_bad_objects,
		      (unsigned long long)h->gc_zeroed_objects,
		      (unsigned long long)h->gc_damaged_objects,
		      (unsigned long long)h->refs_into_missing,
		      (unsigned long long)h->refs_to_zeros,
		      (unsigned long long)h->refs_to_damaged,
		      (unsigned long long)h->refs_wild);
	return NULL;
}

/* ---- dispatch --------------------------------------------------------- */

static const struct {
	const char *name;
	struct ph_error *(*fn)(struct ph_session *, struct args *, bool,
			       struct ph_buf *);
} commands[] = {
	{"types", cmd_types},	      {"list", cmd_list},
	{"info", cmd_info},	      {"show", cmd_show},
	{"referents", cmd_referents}, {"referrers", cmd_referrers},
	{"path", cmd_path},	      {"cycles", cmd_cycles},
	{"refcount", cmd_refcount},   {"refcheck", cmd_refcheck},
	{"summary", cmd_summary},
};

struct ph_error *ph_session_run(struct ph_session *s, int argc,
				const char *const *argv, bool json, char **ret)
{
	if (argc < 1)
		return ph_error_create(PH_ERR_USAGE,
				       "no command (try types, list, show, "
				       "referrers, path, info)");
	/* --json may also come among the command's arguments. */
	const char **av = malloc(((size_t)argc + 1) * sizeof(*av));
	if (!av)
		return ph_error_nomem();
	int ac = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			av[ac++] = argv[i];
	}
	struct ph_error *err = NULL;
	size_t i;
	for (i = 0; i < PH_ARRAY_SIZE(commands); i++)
		if (ac && !strcmp(av[0], commands[i].name))
			break;
	if (!ac || i == PH_ARRAY_SIZE(commands)) {
		err = ph_error_create(
			PH_ERR_USAGE,
			"unknown command '%s' (commands: types, "
			"list, show, referents, referrers, path, cycles, "
			"refcount, refcheck, summary, info)",
			ac ? av[0] : "");
		free(av);
		return err;
	}
	struct args a = {.argc = ac, .argv = av, .pos = 1, .cmd = av[0]};
	struct ph_buf out;
	ph_buf_init(&out);
	char label[64];
	snprintf(label, sizeof(label), "command %s", av[0]);
	ph_stage(NULL);
	__atomic_store_n(&ph_interrupt_flag, 0, __ATOMIC_RELAXED);
	err = commands[i].fn(s, &a, json, &out);
	if (!err && ph_interrupted())
		err = ph_error_interrupted();
	__atomic_store_n(&ph_interrupt_flag, 0, __ATOMIC_RELAXED);
	ph_stage(label);
	free(av);
	if (err) {
		ph_buf_free(&out);
		return err;
	}
	return ph_buf_finish(&out, ret);
}
