/* session.c - a session on one process image: the target, its runtime,
 * the heap and graph built on first use, and the notes on what makes the
 * answers partial. The commands on it are in the command table
 * (commands.c). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answercache.h"
#include "graphcache.h"
#include "session.h"

/* How many times a live process caught changing its heap is read again. */
#define PH_READ_AGAIN_MAX 16

void ph_session_note(struct ph_session *s, enum ph_note_code code,
		     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *msg = ph_notes_addv(&s->notes, &s->nnotes, &s->notes_cap,
					code, fmt, ap);
	va_end(ap);
	if (msg)
		ph_buf_printf(&s->notes_text, "py-heap: %s\n", msg);
}

bool ph_session_notes_pack(const struct ph_session *s, size_t note0,
			   struct ph_buf *b)
{
	for (size_t i = note0; i < s->nnotes; i++) {
		const struct ph_note *nt = &s->notes[i];
		if (nt->code == PH_NOTE_INDEX_CACHE_IGNORED)
			return false;
		uint32_t rec[2] = {(uint32_t)nt->code,
				   (uint32_t)strlen(nt->message)};
		ph_buf_putn(b, (const char *)rec, sizeof(rec));
		ph_buf_putn(b, nt->message, rec[1]);
	}
	return !b->failed;
}

void ph_session_notes_unpack(struct ph_session *s, const void *p, size_t len)
{
	const uint8_t *at = p, *end = at + len;
	while ((size_t)(end - at) >= 8) {
		uint32_t rec[2];
		memcpy(rec, at, sizeof(rec));
		if (rec[1] > (size_t)(end - at) - sizeof(rec))
			break;
		ph_session_note(s, (enum ph_note_code)rec[0], "%.*s",
				(int)rec[1], (const char *)at + sizeof(rec));
		at += sizeof(rec) + rec[1];
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ph_options {
	char *core, *exe, *sysroot;
	int pid;
	unsigned pid_flags;
	char **debug_dirs;
	size_t ndebug_dirs, debug_dirs_cap;
	bool no_debuginfod;
	struct ph_frame_number *frame_numbers;
	size_t nframe_numbers, frame_numbers_cap;
	bool no_cache, detach_writes;
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
	free(o->frame_numbers);
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

/* The target's notes (files it would not open, threads that did not stop)
 * become the session's; a reading again repeats none. */
static void take_target_notes(struct ph_session *s)
{
	const struct ph_target *t = s->target;
	for (size_t i = 0; i < t->nnotes; i++) {
		bool seen = false;
		for (size_t k = 0; k < s->nnotes && !seen; k++)
			seen = !strcmp(s->notes[k].message,
				       t->notes[i].message);
		if (!seen)
			ph_session_note(s, t->notes[i].code, "%s",
					t->notes[i].message);
	}
}

static struct ph_error *session_create(const struct ph_options *o,
				       struct ph_session **ret);

/* (a debugger sees a few frames per thread: this bounds a careless caller) */
#define MAX_FRAME_NUMBERS 100000

/* Adds (frame, number) to the array *v (*n of them, room for *cap). */
static struct ph_error *frame_numbers_add(struct ph_frame_number **v, size_t *n,
					  size_t *cap, uint64_t frame,
					  unsigned number)
{
	if (*n >= MAX_FRAME_NUMBERS)
		return ph_error_create(PH_ERR_USAGE,
				       "more than %d frame numbers",
				       MAX_FRAME_NUMBERS);
	struct ph_error *err = ph_grow((void **)v, cap, *n + 1, sizeof(**v));
	if (err)
		return err;
	(*v)[(*n)++] =
		(struct ph_frame_number){.frame = frame, .number = number};
	return NULL;
}

struct ph_error *ph_options_add_frame_number(struct ph_options *o,
					     uint64_t frame, unsigned number)
{
	return frame_numbers_add(&o->frame_numbers, &o->nframe_numbers,
				 &o->frame_numbers_cap, frame, number);
}

static struct ph_error *target_add_frame_number(struct ph_target *t,
						uint64_t frame, unsigned number)
{
	return frame_numbers_add(&t->frame_numbers, &t->nframe_numbers,
				 &t->frame_numbers_cap, frame, number);
}

struct ph_error *ph_session_add_frame_number(struct ph_session *s,
					     uint64_t frame, unsigned number)
{
	return target_add_frame_number(s->target, frame, number);
}

void ph_options_set_no_cache(struct ph_options *o, bool no_cache)
{
	o->no_cache = no_cache;
}

void ph_options_set_detached_writes(struct ph_options *o, bool detach)
{
	o->detach_writes = detach;
}

struct ph_error *ph_session_create(const struct ph_options *o,
				   struct ph_session **ret)
{
	ph_progress_begin(false);
	ph_progress_stage(o->pid ? "reading the process" : "opening the core",
			  0);
	struct ph_error *err = session_create(o, ret);
	ph_progress_end();
	return err;
}

static struct ph_error *session_create(const struct ph_options *o,
				       struct ph_session **ret)
{
	if (!o->core == !o->pid)
		return ph_error_create(PH_ERR_USAGE,
				       "give a core file or a process id");
	struct ph_session *s = calloc(1, sizeof(*s));
	if (!s)
		return ph_error_nomem();
	ph_buf_init(&s->notes_text);
	s->only_interp = -1;
	s->opened_at = now_s();
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
	for (size_t i = 0; !err && i < o->nframe_numbers; i++)
		err = target_add_frame_number(t, o->frame_numbers[i].frame,
					      o->frame_numbers[i].number);
	if (!err) {
		t->no_debuginfod = o->no_debuginfod;
		t->no_cache = o->no_cache;
		t->detach_writes = o->detach_writes;
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
		ph_session_note(s, PH_NOTE_PAUSED,
				"paused process %d for %.0f ms", o->pid,
				t->pause_ms);
	else if (o->pid)
		ph_session_note(s, PH_NOTE_NOT_STOPPED,
				"read process %d without stopping it: the "
				"answer may be inconsistent",
				o->pid);
	take_target_notes(s);
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
	ph_buf_init(&s->notes_text);
	s->only_interp = -1;
	s->target = t;
	s->opened_at = now_s();
	struct ph_error *err = ph_runtime_create(t, &s->rt);
	if (err) {
		ph_session_destroy(s);
		return err;
	}
	take_target_notes(s);
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
	ph_domtree_destroy(s->dom);
	ph_graph_destroy(s->graph);
	ph_heap_destroy(s->heap);
	ph_runtime_destroy(s->rt);
	ph_target_destroy(s->target);
	for (size_t i = 0; i < s->nnotes; i++)
		free(s->notes[i].message);
	free(s->notes);
	ph_buf_free(&s->notes_text);
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

struct ph_error *ph_session_heap(struct ph_session *s)
{
	if (s->heap)
		return NULL;
	ph_progress_stage("finding the objects", 0);
	struct ph_error *err = ph_heap_create(s->rt, &s->heap);
	if (err)
		return err;
	int again = 0;
	double paused = s->target->pause_ms;
	/* A process that allocates all the time is caught in a collection or
	 * an allocation about one time in four (Debian's 3.13): each reading
	 * is a new chance, the process runs between them, a little longer
	 * each time. Sixteen, the waits growing to 64 ms, 0.5 s in all at
	 * most: the chance that all are caught is nil, so a damage that
	 * lasts through them is not a change in flight. */
	while (s->target->pid && s->target->stopped && heap_in_flux(s->heap) &&
	       again < PH_READ_AGAIN_MAX && !ph_interrupted()) {
		struct timespec ts = {0, (long)(again + 1) * 4000000L};
		nanosleep(&ts, NULL);
		if (!session_read_again(s))
			break;
		again++;
		take_target_notes(s);
		paused += s->target->pause_ms;
		if ((err = ph_heap_create(s->rt, &s->heap)))
			return err;
	}
	if (again)
		ph_session_note(s, PH_NOTE_READ_AGAIN,
				"process %d was stopped while changing its "
				"heap (pymalloc's pools or a GC list): read "
				"again %d time%s, paused %.0f ms in all",
				s->target->pid, again, again > 1 ? "s" : "",
				paused);
	struct ph_heap *h = s->heap;
	if (h->cache_ignored[0] && !h->cache_stale)
		/* not the answer's: the heap was read again (a stale one
		 * is what replacing a core leaves: rewritten, said by info) */
		ph_session_note(s, PH_NOTE_INDEX_CACHE_IGNORED,
				"index cache of %s ignored: %s; the heap was "
				"read again%s",
				s->target->core_path, h->cache_ignored,
				h->cache_written ? " and the cache rewritten"
						 : "");
	char a[32], b[32], c[32], d[32];
	struct ph_target *t = s->target;
	if (t->truncated_need) {
		/* One line: what was lost, and what it cost. */
		ph_session_note(s, PH_NOTE_CORE_TRUNCATED,
				"%s: core truncated: %s of the %s bytes "
				"its headers describe (%.0f%%); %zu segments "
				"(%s bytes) missing: %s references point into "
				"them, those objects could not be read; the "
				"answer is partial",
				t->core_path, ph_fmt_count(t->size, a),
				ph_fmt_count(t->truncated_need, b),
				100.0 * (double)t->size /
					(double)t->truncated_need,
				t->truncated_segments,
				ph_fmt_count(t->truncated_bytes, c),
				ph_fmt_count(h->refs_into_missing, d));
		s->partial = true;
	} else if (s->target->mem.bytes_missing) {
		ph_session_note(
			s, PH_NOTE_MEMORY_MISSING,
			"%s bytes of the process's memory are "
			"missing (not saved in the core, or unreadable): "
			"%s references point there, those objects could "
			"not be read",
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
		ph_session_note(s, PH_NOTE_OBJECTS_ZEROED,
				"memory zeroed where objects should be: "
				"%s objects read as zeros (%s on GC lists, %s "
				"referenced): skipped",
				ph_fmt_count(zeroed, a),
				ph_fmt_count(h->gc_zeroed_objects, b),
				ph_fmt_count(h->refs_to_zeros, c));
		s->partial |= !moving;
	}
	if (h->gc_zeroed_links) {
		ph_session_note(s, PH_NOTE_GC_LISTS_ZEROED,
				"%s GC lists end in zeroed memory (a "
				"link of zeros)",
				ph_fmt_count(h->gc_zeroed_links, a));
		s->partial |= !moving;
	}
	if (h->gc_bad_objects) {
		ph_session_note(s, PH_NOTE_GC_BAD_HEADERS,
				"%s objects on the GC lists have a "
				"damaged header (no valid type): skipped",
				ph_fmt_count(h->gc_bad_objects, a));
		s->partial |= !moving;
	}
	uint64_t implausible = h->gc_damaged_objects + h->refs_to_damaged;
	if (implausible) {
		ph_session_note(
			s, PH_NOTE_OBJECTS_DAMAGED,
			"%s objects are damaged (%s on GC lists, "
			"%s referenced): a valid type but an implausible "
			"header, GC links or contents (sizes, tables or "
			"items beyond the memory there is): skipped",
			ph_fmt_count(implausible, a),
			ph_fmt_count(h->gc_damaged_objects, b),
			ph_fmt_count(h->refs_to_damaged, c));
		s->partial |= !moving;
	}
	if (h->refs_wild) {
		ph_session_note(s, PH_NOTE_WILD_REFERENCES,
				"%s references lead to no valid object "
				"(wild pointers into damaged memory): not "
				"followed",
				ph_fmt_count(h->refs_wild, a));
		s->partial |= !moving;
	}
	if (h->gc_list_damaged) {
		ph_session_note(s, PH_NOTE_GC_LISTS_DAMAGED,
				"%s GC lists are damaged; objects "
				"after the damage may be missing",
				ph_fmt_count(h->gc_list_damaged, a));
		s->partial |= !moving;
	}
	if (s->rt->debug_offsets_bad) {
		ph_session_note(s, PH_NOTE_DEBUG_OFFSETS_DAMAGED,
				"%d of _PyRuntime's debug offsets "
				"(_Py_DebugOffsets) are out of bounds or "
				"overlap (%s): "
				"py-heap's own layout of Python %s used for "
				"them",
				s->rt->debug_offsets_bad,
				s->rt->debug_offsets_first_bad, s->rt->version);
		s->partial = true;
	}
	const struct ph_module *pm = s->rt->pymod;
	if (!pm->debug_map && !pm->debug_source)
		ph_session_note(
			s, PH_NOTE_NO_DEBUG_INFO,
			"no debug information for %s%s%s: "
			"pymalloc's pools were found by their headers "
			"alone (install its -dbg package, or set "
			"DEBUGINFOD_URLS)",
			pm->path, pm->debuginfod_error ? "; debuginfod: " : "",
			pm->debuginfod_error ? pm->debuginfod_error : "");
	/* A stopped process that was still allocating after the readings
	 * above: each thread can be in the middle of handing out or taking
	 * back one block, which is no object either way. */
	bool mid_alloc =
		t->pid && t->stopped && !h->gc_list_damaged &&
		h->pools_inconsistent <= (t->nthreads ? t->nthreads : 1);
	if (h->pools_inconsistent && h->L->free_threaded)
		ph_session_note(s, PH_NOTE_POOLS_INCONSISTENT,
				"%s mimalloc pages have a free list that "
				"leaves the page or loops, or a header that "
				"cannot be read: their blocks were each "
				"checked as objects%s",
				ph_fmt_count(h->pools_inconsistent, a),
				mid_alloc ? " (the process was stopped in the "
					    "middle of an allocation)"
					  : "");
	else if (h->pools_inconsistent)
		ph_session_note(s, PH_NOTE_POOLS_INCONSISTENT,
				"%s of %s pymalloc pools have a free "
				"list that disagrees with their block count%s",
				ph_fmt_count(h->pools_inconsistent, a),
				ph_fmt_count(h->npools, b),
				mid_alloc
					? " (the process was stopped in the "
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
	return s->notes_text.data ? s->notes_text.data : "";
}

/* ---- the graph ---------------------------------------------------------- */

/* The arrays of a mapped graph that need asks for, checked
 * (graphcache.c); if one is damaged none of it is used: the graph is built
 * again in its place (the same struct, so that a reader's pointer to it
 * stays good) and its file rewritten. */
static struct ph_error *graph_check(struct ph_session *s, unsigned need)
{
	struct ph_graph *g = s->graph;
	if (!g || !(g->pending & need))
		return NULL;
	ph_stage(NULL);
	if (ph_graphcache_check(g, need)) {
		ph_stage("graph cache read");
		return NULL;
	}
	struct ph_graph *fresh;
	struct ph_error *err = ph_graph_create(s->heap, &fresh);
	if (err)
		return err;
	struct ph_graph old = *g;
	*g = *fresh;
	*fresh = old;
	ph_graph_destroy(fresh);
	if (ph_graphcache_store(g))
		ph_stage("graph cache written");
	return NULL;
}

/* ph_session_heap; on a first look at a cached core, the graph's file
 * checked for need meanwhile (*ret: for ph_graphcache_load, or NULL). */
static struct ph_error *heap_and_prefetch(struct ph_session *s, unsigned need,
					  struct ph_graph_prefetch **ret)
{
	struct ph_graph_prefetch *pf =
		!s->heap && !s->graph ? ph_graphcache_prefetch(s->rt, need)
				      : NULL;
	struct ph_error *err = ph_session_heap(s);
	if (err || s->graph) {
		ph_graphcache_prefetch_drop(pf);
		pf = NULL;
	}
	*ret = pf;
	return err;
}

struct ph_error *ph_session_graph_need(struct ph_session *s, unsigned need)
{
	struct ph_graph_prefetch *pf;
	struct ph_error *err = heap_and_prefetch(s, need, &pf);
	if (err)
		return err;
	ph_stage(NULL);
	if (!s->graph && ph_graphcache_load(s->heap, pf, &s->graph))
		ph_stage("graph cache mapped");
	/* a diff's graph, without its referrers (mapped: a file has the
	 * paths' tree and the roots; or built with them): as it is for a
	 * command that reads no referrer (roots, path), every reader of them
	 * asking for PH_GRAPH_REV or PH_GRAPH_REV_ROWS */
	struct ph_graph *g = s->graph;
	if (g && !g->complete && (g->map || g->parent) &&
	    !(need & (PH_GRAPH_REV | PH_GRAPH_REV_ROWS)))
		return graph_check(s, need);
	/* else the rest is built on its edges and paths, checked first (if
	 * damaged, built whole) */
	if (s->graph && !s->graph->complete && s->graph->map &&
	    (err = graph_check(s, PH_GRAPH_FWD | PH_GRAPH_PARENT)))
		return err;
	if (s->graph && s->graph->complete)
		return graph_check(s, need);
	err = s->graph ? ph_graph_complete(s->graph)
		       : ph_graph_create(s->heap, &s->graph);
	/* a later run on this core maps it (graphcache.c) */
	if (!err && ph_graphcache_store(s->graph))
		ph_stage("graph cache written");
	return err;
}

struct ph_error *ph_session_graph(struct ph_session *s)
{
	return ph_session_graph_need(s, PH_GRAPH_ALL);
}

struct ph_error *ph_session_graph_paths(struct ph_session *s)
{
	struct ph_error *err = ph_session_graph_edges(s);
	if (!err)
		err = graph_check(s, PH_GRAPH_PARENT);
	if (err || s->graph->parent)
		return err;
	if ((err = ph_graph_paths(s->graph)))
		return err;
	/* a later diff of this core maps it (graphcache.c) */
	if (ph_graphcache_store(s->graph))
		ph_stage("graph cache written");
	return NULL;
}

static struct ph_error *dominators(struct ph_session *s, unsigned need,
				   bool rows)
{
	struct ph_error *err = ph_session_graph_need(s, need);
	if (err)
		return err;
	if (s->dom && s->dom->unchecked && !rows) {
		/* a few rows were read of it: now it is checked whole */
		ph_domtree_destroy(s->dom);
		s->dom = NULL;
	}
	if (s->dom)
		return NULL;
	ph_stage(NULL);
	if (ph_answercache_domtree_load(s->heap, rows, &s->dom)) {
		ph_stage("dominators cache read");
		return NULL;
	}
	/* built from every array of the graph */
	if ((err = ph_session_graph(s)))
		return err;
	ph_progress_stage("building the dominator tree", 0);
	err = ph_graph_dominators(s->graph, &s->dom);
	/* a later run on this core maps it (answercache.c) */
	if (!err && ph_answercache_domtree_store(s->heap, s->dom))
		ph_stage("dominators cache written");
	return err;
}

struct ph_error *ph_session_dominators_need(struct ph_session *s, unsigned need)
{
	return dominators(s, need, false);
}

struct ph_error *ph_session_dominators_rows(struct ph_session *s, unsigned need)
{
	return dominators(s, need, true);
}

struct ph_error *ph_session_dominators_damaged(struct ph_session *s,
					       unsigned need)
{
	ph_stage(NULL);
	ph_stage("dominators cache: a row damaged");
	return dominators(s, need, false);
}

struct ph_error *ph_session_dominators(struct ph_session *s)
{
	return ph_session_dominators_need(s, PH_GRAPH_ALL);
}

struct ph_error *ph_session_graph_edges(struct ph_session *s)
{
	struct ph_graph_prefetch *pf;
	struct ph_error *err = heap_and_prefetch(s, PH_GRAPH_FWD, &pf);
	if (err)
		return err;
	if (!s->graph) {
		ph_stage(NULL);
		if (!ph_graphcache_load(s->heap, pf, &s->graph))
			return ph_graph_create_edges(s->heap, &s->graph);
		ph_stage("graph cache mapped");
	}
	return graph_check(s, PH_GRAPH_FWD);
}
