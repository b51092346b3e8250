/* query_diff.c - snapshot and diff: a heap saved to a file, and two heaps
 * of one process compared, type by type, object by object, and the
 * containers the new objects went into (docs/design.md, "What grew").
 *
 * Each side of a diff becomes a snapshot in memory (snapshot.h): a
 * session's heap, a core opened here, a snapshot file, or the session's
 * process read again. Objects of one process are matched by address and
 * type; a fingerprint of immutable contents and the GC generation tell a
 * block reused by a new object. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "heapcache.h"
#include "query.h"
#include "snapshot.h"

/* ---- the sides ----------------------------------------------------------- */

struct side {
	struct ph_snap *snap;
	struct ph_session *own;	 /* opened here, destroyed with the side */
	struct ph_session *from; /* the session it was made of, or NULL */
	const char *kind;
	char *source;
};

static void side_free(struct side *sd)
{
	ph_snap_destroy(sd->snap);
	ph_session_destroy(sd->own);
	free(sd->source);
	memset(sd, 0, sizeof(*sd));
}

/* A session on a core or a process, with what `like` was opened with
 * (sysroot, debug directories). */
static struct ph_error *open_with(struct ph_session *like, const char *core,
				  const char *sysroot, int pid,
				  unsigned pid_flags, struct ph_session **ret)
{
	struct ph_options *o = NULL;
	struct ph_error *err = ph_options_create(&o);
	if (!err)
		err = core ? ph_options_set_core(o, core)
			   : ph_options_set_pid(o, pid, pid_flags);
	struct ph_target *t = like ? like->target : NULL;
	if (!err && core && sysroot)
		err = ph_options_set_sysroot(o, sysroot);
	for (size_t i = 0; !err && t && i < t->ndebug_dirs; i++)
		err = ph_options_add_debug_dir(o, t->debug_dirs[i]);
	if (!err && t) {
		ph_options_set_no_debuginfod(o, t->no_debuginfod);
		ph_options_set_no_cache(o, t->no_cache);
		ph_options_set_detached_writes(o, t->detach_writes);
	}
	if (!err)
		err = ph_session_create(o, ret);
	ph_options_destroy(o);
	return err;
}

static struct ph_error *open_like(struct ph_session *like, const char *core,
				  int pid, unsigned pid_flags,
				  struct ph_session **ret)
{
	struct ph_target *t = like ? like->target : NULL;
	if (!core || !t || !t->pid)
		return open_with(like, core, t ? t->sysroot : NULL, pid,
				 pid_flags, ret);
	/* a core, and a running process: the core's files as it names them,
	 * else where the process sees them (another mount namespace) */
	struct ph_error *err = open_with(like, core, NULL, 0, 0, ret);
	if (!err)
		return NULL;
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/root", t->pid);
	struct ph_error *err2 = open_with(like, core, root, 0, 0, ret);
	if (!err2) {
		ph_error_destroy(err);
		return NULL;
	}
	ph_error_destroy(err2);
	return err;
}

/* The side made of a session's heap (and, for a snapshot file, its
 * tree and names: a diff's after side has its tree added once the objects
 * are matched, in grew_in). */
static struct ph_error *side_of_session(struct ph_session *ss, bool after,
					bool names,
					const struct ph_diff_opts *o,
					struct side *sd)
{
	struct ph_error *err =
		names ? ph_session_graph_paths(ss) : ph_session_heap(ss);
	if (err)
		return err;
	/* (a diff's: the fingerprints it compares, made as it does) */
	unsigned flags = names ? PH_SNAP_WITH_TREE : PH_SNAP_LAZY_FP;
	if (o && o->has_interp) {
		/* --interp ID: by its id, in this reading's list */
		size_t k = 0;
		while (k < ss->rt->ninterps &&
		       ss->rt->interps[k].id != o->interp)
			k++;
		if (k == ss->rt->ninterps)
			return ph_error_create(PH_ERR_USAGE,
					       "diff: --interp %lld: %s has no "
					       "such interpreter",
					       (long long)o->interp,
					       after ? "AFTER" : "BEFORE");
		flags |= PH_SNAP_INTERP(k);
	}
	if (names)
		flags |= PH_SNAP_WITH_TREE | PH_SNAP_WITH_NAMES;
	if ((err = ph_snap_create(ss->heap, names ? ss->graph : NULL, flags,
				  &sd->snap)))
		return err;
	struct ph_snap *sn = sd->snap;
	struct ph_target *t = ss->target;
	sd->from = ss;
	sn->partial = ss->partial;
	if (t->pid) {
		sd->kind = "process";
		sn->time_us = (int64_t)(ss->opened_at * 1e6);
		sn->paused_ms = t->stopped ? t->pause_ms : 0;
		if (asprintf(&sn->source, "process %d", t->pid) < 0)
			sn->source = NULL;
	} else {
		sd->kind = "core";
		struct stat st;
		if (t->core_path && !stat(t->core_path, &st))
			sn->time_us = (int64_t)st.st_mtim.tv_sec * 1000000 +
				      st.st_mtim.tv_nsec / 1000;
		sn->source = t->core_path ? strdup(t->core_path) : NULL;
	}
	sn->origin = strdup(sd->kind);
	if (!sn->source || !sn->origin || !(sd->source = strdup(sn->source)))
		return ph_error_nomem();
	return NULL;
}

/* The side a file gives: a snapshot, or a core opened like `like`. */
static struct ph_error *side_of_file(struct ph_session *like, const char *what,
				     const char *path, bool after,
				     const struct ph_diff_opts *o,
				     struct side *sd)
{
	enum ph_file_kind kind;
	struct ph_error *err = ph_file_kind(path, &kind);
	if (err)
		return ph_error_wrap(err, "diff: %s", what);
	if (kind == PH_FILE_OTHER)
		return ph_error_create_path(PH_ERR_BAD_SNAPSHOT, path,
					    "diff: %s: %s is neither a core "
					    "nor a py-heap snapshot",
					    what, path);
	if (!(sd->source = strdup(path)))
		return ph_error_nomem();
	if (kind == PH_FILE_SNAPSHOT) {
		sd->kind = "snapshot";
		if ((err = ph_snap_read(path, &sd->snap)))
			return err;
		/* one interpreter's objects against one interpreter's: the
		 * same one, which snapshot --interp ID records */
		const struct ph_snap *sn = sd->snap;
		bool want = o && o->has_interp;
		if (want && !sn->has_interp)
			return ph_error_create_path(
				PH_ERR_USAGE, path,
				"diff: --interp: %s is a snapshot of every "
				"interpreter's objects: give cores, a process, "
				"or a snapshot taken with --interp",
				what);
		if (sn->has_interp && (!want || o->interp != sn->interp))
			return ph_error_create_path(
				PH_ERR_USAGE, path,
				"diff: %s holds interpreter %lld's objects "
				"only "
				"(snapshot --interp): give --interp %lld",
				what, (long long)sn->interp,
				(long long)sn->interp);
		return NULL;
	}
	if ((err = open_like(like, path, 0, 0, &sd->own)))
		return err;
	char *given = sd->source;
	sd->source = NULL;
	err = side_of_session(sd->own, after, false, o, sd);
	free(sd->source);
	sd->source = given;
	return err;
}

bool ph_query_diff_key(struct ph_session *s, const char *before,
		       struct ph_buf *b)
{
	enum ph_file_kind kind;
	struct ph_error *err = NULL;
	if (!s || !before || (err = ph_file_kind(before, &kind))) {
		ph_error_destroy(err);
		return false;
	}
	if (kind == PH_FILE_SNAPSHOT)
		return ph_snap_identity(before, b);
	struct ph_session *own = NULL;
	if (kind != PH_FILE_CORE || (err = open_like(s, before, 0, 0, &own))) {
		ph_error_destroy(err);
		return false;
	}
	uint64_t sum, n;
	bool ok = ph_heapcache_identity(own->rt, &sum, &n);
	if (ok)
		ph_buf_printf(b, "before core index %016llx %llu\n",
			      (unsigned long long)sum, (unsigned long long)n);
	ph_session_destroy(own);
	return ok && !b->failed;
}

/* ---- the result's strings and sides -------------------------------------- */

static size_t str_add(struct ph_diff_result *r, const char *s)
{
	return s ? ph_strings_add(&r->str, s, strlen(s)) : 0;
}

static struct ph_error *note_add(struct ph_diff_result *r, size_t *cap,
				 const char *text)
{
	struct ph_error *err = ph_grow((void **)&r->notes, cap, r->nnotes + 1,
				       sizeof(*r->notes));
	if (!err)
		r->notes[r->nnotes++] = str_add(r, text);
	return err;
}

/* A side's own session's notes: into the caller's session, which shows
 * them (stderr, JSON "notes"); with none, into the result. */
static struct ph_error *side_notes(struct ph_session *s,
				   struct ph_diff_result *r, size_t *cap,
				   struct ph_diff_side *ds, const char *who,
				   struct ph_session *own)
{
	ds->notes = r->nnotes;
	for (size_t i = 0; own && i < own->nnotes; i++) {
		if (s) {
			ph_session_note(s, own->notes[i].code, "%s: %s", who,
					own->notes[i].message);
			s->partial |= own->partial;
			continue;
		}
		struct ph_error *err = note_add(r, cap, own->notes[i].message);
		if (err)
			return err;
	}
	ds->nnotes = r->nnotes - ds->notes;
	return NULL;
}

static void side_describe(struct ph_diff_result *r, struct ph_diff_side *ds,
			  const struct side *sd)
{
	const struct ph_snap *sn = sd->snap;
	ds->kind = sd->kind;
	ds->source = str_add(r, sd->source);
	ds->of = sd->kind && !strcmp(sd->kind, "snapshot")
			 ? str_add(r, sn->source)
			 : 0;
	ds->python = str_add(r, sn->python);
	ds->pid = sn->pid;
	ds->time_us = sn->time_us;
	ds->paused_ms = sn->paused_ms;
	ds->objects = sn->n;
	ds->bytes = sn->bytes;
	ds->partial = sn->partial;
}

/* ---- one process or two -------------------------------------------------- */

/* Why two snapshots are not of one process (into buf), or NULL when they
 * are: its pid and the kernel's AT_RANDOM bytes, 16 random bytes each
 * exec gets, tell one run of one program from any other. */
static const char *differ_reason(const struct ph_snap *b,
				 const struct ph_snap *a, char *buf, size_t n)
{
	if (!b->pid || !a->pid)
		snprintf(buf, n, "the process id of %s is not known",
			 !b->pid ? "the first" : "the second");
	else if (b->pid != a->pid)
		snprintf(buf, n, "pid %lld, then pid %lld", (long long)b->pid,
			 (long long)a->pid);
	else if (b->build_id_len && a->build_id_len &&
		 (b->build_id_len != a->build_id_len ||
		  memcmp(b->build_id, a->build_id, b->build_id_len)))
		snprintf(buf, n,
			 "pid %lld runs another executable (its "
			 "build-id differs)",
			 (long long)b->pid);
	else if (!b->has_random || !a->has_random)
		snprintf(buf, n,
			 "cannot tell whether pid %lld is one process "
			 "(its AT_RANDOM bytes were not saved)",
			 (long long)b->pid);
	else if (memcmp(b->at_random, a->at_random, 16))
		snprintf(buf, n,
			 "pid %lld is another run (its AT_RANDOM bytes "
			 "differ)",
			 (long long)b->pid);
	else if (b->runtime_addr != a->runtime_addr ||
		 b->hexversion != a->hexversion)
		snprintf(buf, n, "pid %lld: the runtime moved",
			 (long long)b->pid);
	else
		return NULL;
	return buf;
}

/* ---- types, by name ------------------------------------------------------ */

struct name_ref {
	const char *name;
	uint32_t side, idx;
};

static int by_name(const void *x, const void *y)
{
	const struct name_ref *a = x, *b = y;
	int c = strcmp(a->name, b->name);
	if (c)
		return c;
	if (a->side != b->side)
		return a->side < b->side ? -1 : 1;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/* One row per type name of either side; row_of[side][type index]. */
static struct ph_error *make_rows(struct ph_diff_result *r,
				  const struct ph_snap *sn[2],
				  uint32_t *row_of[2])
{
	size_t total = sn[0]->ntypes + sn[1]->ntypes;
	struct name_ref *refs = malloc((total + 1) * sizeof(*refs));
	r->rows = calloc(total + 1, sizeof(*r->rows));
	if (!refs || !r->rows) {
		free(refs);
		return ph_error_nomem();
	}
	size_t k = 0;
	for (uint32_t sd = 0; sd < 2; sd++)
		for (size_t i = 0; i < sn[sd]->ntypes; i++)
			refs[k++] = (struct name_ref){sn[sd]->types[i].name, sd,
						      (uint32_t)i};
	qsort(refs, k, sizeof(*refs), by_name);
	for (size_t i = 0; i < k; i++) {
		if (!i || strcmp(refs[i].name, refs[i - 1].name))
			r->rows[r->nrows++].name = str_add(r, refs[i].name);
		struct ph_diff_row *row = &r->rows[r->nrows - 1];
		const struct ph_snap_type *t =
			&sn[refs[i].side]->types[refs[i].idx];
		if (refs[i].side == 0) {
			row->count_before += t->count;
			row->bytes_before += t->bytes;
		} else {
			row->count_after += t->count;
			row->bytes_after += t->bytes;
		}
		row_of[refs[i].side][refs[i].idx] = (uint32_t)(r->nrows - 1);
	}
	free(refs);
	return NULL;
}

/* ---- objects, by address ------------------------------------------------- */

/* A fingerprint as version 1 had it (16 bits), to compare with one. */
static uint32_t fold(const struct ph_snap *s, uint32_t fp)
{
	return s->fp_version == 1 ? fp : ph_snap_fp_fold16(fp);
}

/* twin[t]: the type of a with the address and name of b's type t, or
 * NO_TWIN; TWINS when a has more than one (a file may: then the names are
 * compared object by object). Made once: a strcmp per object was most of
 * the match. */
#define NO_TWIN UINT32_MAX
#define TWINS (UINT32_MAX - 1)

struct type_at {
	uint64_t addr;
	uint32_t idx;
};

static int by_type_addr(const void *x, const void *y)
{
	const struct type_at *a = x, *b = y;
	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

static uint32_t *make_twins(const struct ph_snap *b, const struct ph_snap *a)
{
	uint32_t *twin = malloc((b->ntypes + 1) * sizeof(*twin));
	struct type_at *at = malloc((a->ntypes + 1) * sizeof(*at));
	if (!twin || !at) {
		free(twin);
		free(at);
		return NULL;
	}
	for (size_t k = 0; k < a->ntypes; k++)
		at[k] = (struct type_at){a->types[k].addr, (uint32_t)k};
	qsort(at, a->ntypes, sizeof(*at), by_type_addr);
	for (size_t t = 0; t < b->ntypes; t++) {
		size_t lo = 0, hi = a->ntypes;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (at[mid].addr < b->types[t].addr)
				lo = mid + 1;
			else
				hi = mid;
		}
		twin[t] = NO_TWIN;
		for (; lo < a->ntypes && at[lo].addr == b->types[t].addr;
		     lo++) {
			if (strcmp(a->types[at[lo].idx].name, b->types[t].name))
				continue;
			twin[t] = twin[t] == NO_TWIN ? at[lo].idx : TWINS;
		}
	}
	free(at);
	return twin;
}

/* Whether the object at one address in both is one object: the same type
 * object, the same contents where they never change, and no generation
 * younger than before (an object only ages; a dict, which CPython stops
 * and starts tracking, is let be). */
static bool same_object(const struct ph_snap *b, size_t i,
			const struct ph_snap *a, size_t j, bool fp_ok,
			const uint32_t *twin)
{
	uint32_t xb = ph_snap_type(b, i), xa = ph_snap_type(a, j);
	const struct ph_snap_type *tb = &b->types[xb], *ta = &a->types[xa];
	if (twin[xb] != TWINS
		    ? twin[xb] != xa
		    : tb->addr != ta->addr || strcmp(tb->name, ta->name))
		return false;
	if (fp_ok && (tb->flags & ta->flags & PH_SNAP_TYPE_FP)) {
		uint32_t fb = ph_snap_fp(b, i), fa = ph_snap_fp(a, j);
		if (b->fp_version == a->fp_version ? fb != fa
						   : fold(b, fb) != fold(a, fa))
			return false;
	}
	unsigned gb = ph_snap_gen(b, i), ga = ph_snap_gen(a, j);
	if (tb->kind == PH_KIND_DICT || tb->kind == PH_KIND_ODICT || !gb ||
	    !ga || gb > 3 || ga > 3)
		return true;
	if (a->gc_model == PH_SNAP_GC_GENERATIONS &&
	    b->gc_model == PH_SNAP_GC_GENERATIONS)
		return ga >= gb;
	/* incremental: young, then the old spaces, which swap */
	return !(ga == 1 && gb > 1);
}

struct acc {
	uint32_t row, code;
	uint64_t count, bytes;
};

static int by_row_count(const void *x, const void *y)
{
	const struct acc *a = x, *b = y;
	if (a->row != b->row)
		return a->row < b->row ? -1 : 1;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	return (a->code > b->code) - (a->code < b->code);
}

static int by_growth(const void *x, const void *y, void *rows)
{
	const struct ph_diff_row *a = (const struct ph_diff_row *)rows +
				      *(const uint32_t *)x,
				 *b = (const struct ph_diff_row *)rows +
				      *(const uint32_t *)y;
	int64_t da = (int64_t)(a->bytes_after - a->bytes_before),
		db = (int64_t)(b->bytes_after - b->bytes_before);
	if (da != db)
		return da > db ? -1 : 1;
	int64_t ca = (int64_t)(a->count_after - a->count_before),
		cb = (int64_t)(b->count_after - b->count_before);
	if (ca != cb)
		return ca > cb ? -1 : 1;
	return (a->name > b->name) - (a->name < b->name);
}

/*
 * The after side's shortest-path tree, by node: a snapshot read from a
 * file has its own (nodes are its indices); one made from a heap has the
 * graph's (nodes are heap numbers: no copy of the tree is made).
 */
struct tree {
	const struct ph_snap *s;
	const uint32_t *parent;
	size_t nodes;
	bool heap;
};

static uint32_t node_of(const struct tree *t, size_t j)
{
	return t->heap ? t->s->heap_index[j] : (uint32_t)j;
}

static uint32_t node_type(const struct tree *t, uint32_t node)
{
	return t->heap ? t->s->rank[ph_tidx(t->s->heap, node)]
		       : t->s->type[node];
}

static uint64_t node_size(const struct tree *t, uint32_t node)
{
	return t->heap ? ph_heap_obj_size(t->s->heap, node) : t->s->size[node];
}

static uint64_t node_addr(const struct tree *t, uint32_t node)
{
	return t->heap ? t->s->heap->addr[node] : t->s->addr[node];
}

/* The path of a node from its root: from the graph (exact), or from the
 * names the snapshot kept. */
static void container_path(const struct tree *t, uint32_t node,
			   struct ph_buf *out)
{
	if (!t->heap) {
		ph_snap_path(t->s, node, out);
		return;
	}
	struct ph_graph *g = t->s->graph;
	size_t depth = ph_graph_depth(g, node);
	if (depth == UINT32_MAX)
		return;
	uint32_t *chain = malloc((depth + 2) * sizeof(*chain));
	if (!chain)
		return;
	size_t n = 0;
	uint32_t cur = node;
	while (n <= depth && cur != PH_NONE && !(cur & PH_ROOT_BIT)) {
		chain[n++] = cur;
		cur = g->parent[cur];
	}
	if (cur != PH_NONE && (cur & PH_ROOT_BIT) &&
	    (cur & ~PH_ROOT_BIT) < t->s->nroots) {
		/* (the snapshot's copy: without a debugger's frame number) */
		ph_buf_puts(out, t->s->roots[cur & ~PH_ROOT_BIT]);
		if (n > 1)
			ph_buf_putc(out, ' ');
		for (size_t k = n; k-- > 1;)
			ph_graph_label(g, chain[k], chain[k - 1], out);
	}
	free(chain);
}

/* An object the tree reaches from a new object: no container that was
 * there before. Either it moved under the new one, or it is new itself,
 * at an address an object of its type left, with nothing to tell them
 * apart (a dict, an instance; docs/design.md): the walk goes on up. */
static bool held_by_new(const struct tree *t, const uint8_t *isnew,
			uint32_t node)
{
	uint32_t p = t->parent[node];
	return p != PH_NONE && !(p & PH_ROOT_BIT) && p < t->nodes && isnew[p];
}

/* The containers of the new objects of the types that grew; isnew is by
 * node. */
static struct ph_error *containers(struct ph_diff_result *r,
				   const struct tree *t, const uint8_t *isnew,
				   const uint32_t *row_after, uint64_t keep)
{
	const struct ph_snap *a = t->s;
	size_t n = t->nodes;
	uint32_t *cont = ph_big_alloc((n + 1) * sizeof(*cont));
	uint8_t *done = ph_big_alloc(n + 1);
	uint32_t *stack = NULL;
	size_t scap = 0;
	struct acc *acc = NULL;
	size_t nacc = 0, acap = 0;
	struct ph_u64map where;
	ph_u64map_init(&where);
	struct ph_error *err = NULL;
	if (!cont || !done) {
		err = ph_error_nomem();
		goto out;
	}
	memset(done, 0, n + 1);
	for (uint32_t j = 0; j < n && !err; j++) {
		if (!isnew[j])
			continue;
		uint32_t row = row_after[node_type(t, j)];
		const struct ph_diff_row *rw = &r->rows[row];
		if (rw->count_after <= rw->count_before)
			continue;
		if (!(j & 0xffff) && ph_interrupted()) {
			err = ph_error_interrupted();
			break;
		}
		/* up the tree to an object that was there before */
		if (!done[j]) {
			size_t ns = 0;
			uint32_t cur = j, res;
			for (;;) {
				if (cur == PH_NONE || (cur & PH_ROOT_BIT) ||
				    cur >= n ||
				    (!isnew[cur] &&
				     !held_by_new(t, isnew, cur))) {
					res = cur >= n && !(cur & PH_ROOT_BIT)
						      ? PH_NONE
						      : cur;
					break;
				}
				if (done[cur]) {
					res = cont[cur];
					break;
				}
				if ((err = ph_grow((void **)&stack, &scap,
						   ns + 1, sizeof(*stack))))
					goto out;
				stack[ns++] = cur;
				cur = t->parent[cur];
			}
			while (ns) {
				cont[stack[--ns]] = res;
				done[stack[ns]] = 1;
			}
		}
		uint32_t code = cont[j];
		if (code == PH_NONE) {
			r->rows[row].new_unreachable++;
			continue;
		}
		uint64_t key = (uint64_t)(row + 1) << 32 | code;
		uint32_t *slot = ph_u64map_get(&where, key);
		if (!slot) {
			if ((err = ph_grow((void **)&acc, &acap, nacc + 1,
					   sizeof(*acc))) ||
			    (err = ph_u64map_put(&where, key, (uint32_t)nacc,
						 NULL)))
				goto out;
			acc[nacc++] = (struct acc){.row = row, .code = code};
			slot = ph_u64map_get(&where, key);
		}
		acc[*slot].count++;
		acc[*slot].bytes += node_size(t, j);
	}
	if (nacc) /* (nothing grew: acc is NULL, which qsort may not take) */
		qsort(acc, nacc, sizeof(*acc), by_row_count);
	size_t gcap = 0;
	struct ph_buf tmp;
	ph_buf_init(&tmp);
	for (size_t i = 0, kept = 0; i < nacc && !err; i++) {
		kept = i && acc[i].row == acc[i - 1].row ? kept + 1 : 0;
		if (keep && kept >= keep)
			continue;
		if ((err = ph_grow((void **)&r->grew, &gcap, r->ngrew + 1,
				   sizeof(*r->grew))))
			break;
		struct ph_diff_container *c = &r->grew[r->ngrew++];
		*c = (struct ph_diff_container){
			.row = acc[i].row,
			.count = acc[i].count,
			.bytes = acc[i].bytes,
		};
		tmp.len = 0;
		if (acc[i].code & PH_ROOT_BIT) {
			uint32_t root = acc[i].code & ~PH_ROOT_BIT;
			c->is_root = true;
			if (root < a->nroots)
				c->path = str_add(r, a->roots[root]);
			continue;
		}
		uint32_t o = acc[i].code;
		c->addr = node_addr(t, o);
		c->type = str_add(r, a->types[node_type(t, o)].name);
		container_path(t, o, &tmp);
		if (tmp.len && !tmp.failed)
			c->path = ph_strings_add(&r->str, tmp.data, tmp.len);
	}
	ph_buf_free(&tmp);
out:
	ph_u64map_free(&where);
	free(acc);
	free(stack);
	ph_big_free(cont, (n + 1) * sizeof(*cont));
	ph_big_free(done, n + 1);
	return err;
}

/* One half of the match: objects [i, iend) before and [j, jend) after,
 * counted apart (rows by row number), the new ones marked in isnew. */
struct match_part {
	const struct ph_snap *b, *a;
	const struct tree *t;
	uint8_t *isnew;
	const uint32_t *twin;
	bool fp_ok;
	const uint32_t *row_of[2];
	size_t i, iend, j, jend;
	uint64_t freed, added, kept, reused;
	uint64_t *freed_rows, *new_rows;
	bool interrupted;
};

static void *match_worker(void *arg)
{
	struct match_part *m = arg;
	const struct ph_snap *b = m->b, *a = m->a;
	size_t i = m->i, j = m->j;
	uint64_t ab = i < m->iend ? ph_snap_addr(b, i) : 0,
		 aa = j < m->jend ? ph_snap_addr(a, j) : 0;
	uint64_t freed = 0, added = 0, kept = 0, reused = 0;
	while (i < m->iend || j < m->jend) {
		if (!((i + j) & 0xfffff) && ph_interrupted()) {
			m->interrupted = true;
			break;
		}
		bool old = i < m->iend, now = j < m->jend;
		bool gone = false, fresh = false;
		if (!now || (old && ab < aa))
			gone = true;
		else if (!old || aa < ab)
			fresh = true;
		else if (same_object(b, i, a, j, m->fp_ok, m->twin))
			kept++;
		else {
			reused++;
			gone = fresh = true;
		}
		if (gone) {
			freed++;
			m->freed_rows[m->row_of[0][ph_snap_type(b, i)]]++;
		}
		if (fresh) {
			m->isnew[node_of(m->t, j)] = 1;
			added++;
			m->new_rows[m->row_of[1][ph_snap_type(a, j)]]++;
		}
		/* step past what was taken: the smaller address, or both */
		bool step_b = old && (!now || ab <= aa);
		bool step_a = now && (!old || aa <= ab);
		if (step_b && ++i < m->iend)
			ab = ph_snap_addr(b, i);
		if (step_a && ++j < m->jend)
			aa = ph_snap_addr(a, j);
	}
	m->freed = freed;
	m->added = added;
	m->kept = kept;
	m->reused = reused;
	return NULL;
}

/* Matches the objects of one process by address: the new ones are
 * marked in *ret_isnew (by the after side's tree's node, t->nodes + 1
 * bytes, ph_big_alloc's). */
static struct ph_error *match(struct ph_diff_result *r, const struct side *sb,
			      const struct side *sa, uint32_t *row_of[2],
			      const struct tree *tp, uint8_t **ret_isnew)
{
	const struct ph_snap *b = sb->snap, *a = sa->snap;
	struct tree t = *tp;
	/* (a word per object written at random: ph_big_alloc's pages) */
	uint8_t *isnew = ph_big_alloc(t.nodes + 1);
	if (!isnew)
		return ph_error_nomem();
	memset(isnew, 0, t.nodes + 1);
	bool fp_ok = a->fp_version && b->fp_version;
	uint32_t *twin = make_twins(b, a);
	if (!twin) {
		ph_big_free(isnew, t.nodes + 1);
		return ph_error_nomem();
	}
	/* In parts of the address space, each thread taking the next part
	 * when done with one (a fingerprint costs some objects more than
	 * others, and a busy processor slows its thread): an address is in
	 * one part on both sides. */
	enum { P = 16 };
	struct match_part part[P];
	bool nomem = false;
	for (size_t k = 0; k < P; k++) {
		size_t j0 = a->n * k / P, j1 = a->n * (k + 1) / P;
		part[k] = (struct match_part){
			.b = b,
			.a = a,
			.t = &t,
			.isnew = isnew,
			.twin = twin,
			.fp_ok = fp_ok,
			.row_of = {row_of[0], row_of[1]},
			.i = k ? part[k - 1].iend : 0,
			.iend = j1 < a->n ? ph_snap_lower_bound(
						    b, ph_snap_addr(a, j1))
					  : b->n,
			.j = j0,
			.jend = j1,
			.freed_rows = calloc(r->nrows + 1, sizeof(uint64_t)),
			.new_rows = calloc(r->nrows + 1, sizeof(uint64_t))};
		nomem |= !part[k].freed_rows || !part[k].new_rows;
	}
	if (!nomem)
		ph_run_chunks(match_worker, part, sizeof(part[0]), P,
			      a->n + b->n > 100000);
	bool stopped = false;
	for (size_t k = 0; k < P && !nomem; k++) {
		r->freed_objects += part[k].freed;
		r->new_objects += part[k].added;
		r->kept_objects += part[k].kept;
		r->reused += part[k].reused;
		stopped |= part[k].interrupted;
		for (size_t row = 0; row < r->nrows; row++) {
			r->rows[row].freed_objects += part[k].freed_rows[row];
			r->rows[row].new_objects += part[k].new_rows[row];
		}
	}
	for (size_t k = 0; k < P; k++) {
		free(part[k].freed_rows);
		free(part[k].new_rows);
	}
	if (nomem || stopped) {
		ph_big_free(isnew, t.nodes + 1);
		free(twin);
		return nomem ? ph_error_nomem() : ph_error_interrupted();
	}
	free(twin);
	ph_stage("diff: match");
	*ret_isnew = isnew;
	return NULL;
}

/* The containers the new objects went into, by the after side's tree:
 * its file's, or its heap's graph, made now. The before side is done
 * with: its tables, freed first, are the graph's (ph_big_hold), so that
 * the graph's pages are not new ones. */
static struct ph_error *grew_in(struct ph_diff_result *r, struct side *sb,
				struct side *sa, uint32_t *row_of[2],
				uint64_t keep)
{
	struct ph_snap *a = sa->snap;
	struct tree t = {.s = a,
			 .heap = a->heap != NULL,
			 .nodes = a->heap ? a->heap->n : a->n};
	uint8_t *isnew = NULL;
	struct ph_error *err = match(r, sb, sa, row_of, &t, &isnew);
	if (err)
		return err;
	side_free(sb);
	if (t.heap && sa->from) {
		if (!(err = ph_session_graph_paths(sa->from)))
			err = ph_snap_add_tree(a, sa->from->graph);
		if (!err)
			t.parent = a->graph ? a->graph->parent : NULL;
	} else if (!t.heap)
		t.parent = a->parent;
	if (!err && t.parent) {
		r->containers_known = true;
		err = containers(r, &t, isnew, row_of[1], keep);
		ph_stage("diff: containers");
	}
	ph_big_free(isnew, t.nodes + 1);
	return err;
}

/* ---- diff ---------------------------------------------------------------- */

/* Waits until `until` (s since 1970), the process running; Ctrl-C ends
 * the wait (the process was let go before it). */
static struct ph_error *wait_until(double until)
{
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		double left = until -
			      ((double)now.tv_sec + (double)now.tv_nsec / 1e9);
		if (ph_interrupted())
			return ph_error_interrupted();
		if (left <= 0)
			return NULL;
		double step = left < 0.05 ? left : 0.05;
		struct timespec ts = {0, (long)(step * 1e9)};
		nanosleep(&ts, NULL);
	}
}

static struct ph_error *diff_compute(struct ph_session *s,
				     const struct ph_diff_opts *o,
				     struct ph_diff_result **ret)
{
	if (o->interval > 0 && (o->before || o->after))
		return ph_error_create(PH_ERR_USAGE,
				       "diff: --interval reads the process "
				       "twice: it takes no file");
	if (o->interval > 0 && (!s || !s->target->pid))
		return ph_error_create(PH_ERR_USAGE,
				       "diff: --interval needs a running "
				       "process (--pid PID)");
	if (o->interval <= 0 && !o->before)
		return ph_error_create(PH_ERR_USAGE,
				       "diff: compare with what? give BEFORE "
				       "(a core or a snapshot file), or "
				       "--interval SECONDS with --pid");
	if (!s && !o->after)
		return ph_error_create(PH_ERR_USAGE,
				       "diff needs a core or a process (--core "
				       "CORE or --pid PID), or two files: "
				       "diff BEFORE AFTER");
	if (s && o->after)
		return ph_error_create(PH_ERR_USAGE,
				       "diff: AFTER is the process (--core or "
				       "--pid): give BEFORE alone, or two "
				       "files without --core/--pid");
	struct ph_diff_result *r = calloc(1, sizeof(*r));
	struct side sb = {0}, sa = {0};
	uint32_t *row_of[2] = {NULL, NULL};
	size_t ncap = 0;
	struct ph_error *err = NULL;
	if (!r)
		return ph_error_nomem();
	str_add(r, ""); /* offset 0: "" */
	if (o->interval > 0) {
		if ((err = side_of_session(s, false, false, o, &sb)))
			goto out;
		ph_progress_stage("waiting to read the process again", 0);
		if ((err = wait_until(s->opened_at + o->interval)))
			goto out;
		struct ph_target *t = s->target;
		if ((err = open_like(s, NULL, t->pid,
				     t->stopped ? 0 : PH_SESSION_NO_STOP,
				     &sa.own)))
			goto out;
		if ((err = side_of_session(sa.own, true, false, o, &sa)))
			goto out;
	} else {
		if ((err = side_of_file(s, "BEFORE", o->before, false, o, &sb)))
			goto out;
		if (o->after)
			err = side_of_file(NULL, "AFTER", o->after, true, o,
					   &sa);
		else
			err = side_of_session(s, true, false, o, &sa);
		if (err)
			goto out;
	}
	char again[96];
	snprintf(again, sizeof(again), "the second reading, %.1f s later",
		 (double)(sa.snap->time_us - sb.snap->time_us) / 1e6);
	if ((err = side_notes(s, r, &ncap, &r->before, "BEFORE", sb.own)) ||
	    (err = side_notes(s, r, &ncap, &r->after,
			      o->interval > 0 ? again : "AFTER", sa.own)))
		goto out;
	side_describe(r, &r->before, &sb);
	side_describe(r, &r->after, &sa);
	const struct ph_snap *sn[2] = {sb.snap, sa.snap};
	row_of[0] = calloc(sb.snap->ntypes + 1, sizeof(uint32_t));
	row_of[1] = calloc(sa.snap->ntypes + 1, sizeof(uint32_t));
	if (!row_of[0] || !row_of[1]) {
		err = ph_error_nomem();
		goto out;
	}
	if ((err = make_rows(r, sn, row_of)))
		goto out;
	char why[256];
	const char *differ = differ_reason(sb.snap, sa.snap, why, sizeof(why));
	r->same_process = !differ;
	r->differ = differ ? str_add(r, differ) : 0;
	if (r->same_process &&
	    (err = grew_in(r, &sb, &sa, row_of, o->containers)))
		goto out;
	/* only the types that changed, largest growth in bytes first; the
	 * containers follow their rows */
	uint32_t *idx = malloc((r->nrows + 1) * sizeof(*idx));
	uint32_t *moved = malloc((r->nrows + 1) * sizeof(*moved));
	struct ph_diff_row *rows = malloc((r->nrows + 1) * sizeof(*rows));
	if (!idx || !moved || !rows) {
		free(idx);
		free(moved);
		free(rows);
		err = ph_error_nomem();
		goto out;
	}
	size_t k = 0;
	for (size_t i = 0; i < r->nrows; i++) {
		const struct ph_diff_row *w = &r->rows[i];
		moved[i] = UINT32_MAX;
		if (w->count_before == w->count_after &&
		    w->bytes_before == w->bytes_after && !w->new_objects &&
		    !w->freed_objects)
			r->unchanged_types++;
		else
			idx[k++] = (uint32_t)i;
	}
	qsort_r(idx, k, sizeof(*idx), by_growth, r->rows);
	for (size_t i = 0; i < k; i++) {
		rows[i] = r->rows[idx[i]];
		moved[idx[i]] = (uint32_t)i;
	}
	for (size_t i = 0; i < r->ngrew; i++)
		r->grew[i].row = moved[r->grew[i].row];
	free(r->rows);
	r->rows = rows;
	r->nrows = k;
	free(moved);
	free(idx);
	/* the containers in the rows' order */
	for (size_t i = 1; i < r->ngrew; i++) {
		struct ph_diff_container c = r->grew[i];
		size_t at = i;
		while (at && r->grew[at - 1].row > c.row) {
			r->grew[at] = r->grew[at - 1];
			at--;
		}
		r->grew[at] = c;
	}
	if (r->str.buf.failed)
		err = ph_error_nomem();
out:
	free(row_of[0]);
	free(row_of[1]);
	side_free(&sb);
	side_free(&sa);
	if (err) {
		ph_diff_result_destroy(r);
		return err;
	}
	*ret = r;
	return NULL;
}

/* ---- a diff's answer kept ------------------------------------------------
 * The result of a diff of a core with BEFORE, kept in the outputs' cache of
 * the core (answercache.c: by its index and this build) under a key of
 * what it depends on beyond them: BEFORE's identity (ph_query_diff_key),
 * the paths as given (the result names them) and --containers and
 * --interp. A later diff of the same two with other options of the output
 * (--limit, --json, --plain) renders it and reads no heap. Only a session
 * that has read no heap yet (the CLI's) asks or keeps it, so that the notes
 * kept are those a run on it would make. PYHEAP_NO_OUTPUT_CACHE=1: not. */

#define RESULT_FORMAT 1
enum { RESULT_HEAD = 12, RESULT_SIDE = 12, RESULT_ROW = 8, RESULT_GREW = 7 };

static bool result_wanted(const struct ph_session *s,
			  const struct ph_diff_opts *o)
{
	return s && !s->heap && ph_answercache_outputs_on(s->rt) && o->before &&
	       !o->after && o->interval <= 0;
}

static bool result_key(struct ph_session *s, const struct ph_diff_opts *o,
		       struct ph_buf *b)
{
	ph_buf_printf(b,
		      "py-heap diff result %d\ncontainers %llu interp %d "
		      "%lld\nbefore %zu:%s\ncore %zu:%s\n",
		      RESULT_FORMAT, (unsigned long long)o->containers,
		      o->has_interp, (long long)o->interp, strlen(o->before),
		      o->before, strlen(s->target->core_path),
		      s->target->core_path);
	return ph_query_diff_key(s, o->before, b);
}

static const char *const side_kinds[] = {"core", "snapshot", "process"};

static void put64(struct ph_buf *b, uint64_t v)
{
	ph_buf_putn(b, (const char *)&v, sizeof(v));
}

static void side_pack(struct ph_buf *b, const struct ph_diff_side *d)
{
	uint64_t kind = 0, paused;
	while (kind < 3 && (!d->kind || strcmp(d->kind, side_kinds[kind])))
		kind++;
	memcpy(&paused, &d->paused_ms, sizeof(paused));
	const uint64_t v[RESULT_SIDE] = {
		kind,	    d->source,	      d->of,
		d->python,  (uint64_t)d->pid, (uint64_t)d->time_us,
		paused,	    d->objects,	      d->bytes,
		d->partial, d->notes,	      d->nnotes};
	for (int i = 0; i < RESULT_SIDE; i++)
		put64(b, v[i]);
}

void ph_diff_result_pack(const struct ph_diff_result *r, struct ph_buf *b)
{
	const uint64_t head[RESULT_HEAD] = {
		r->nrows,	  r->ngrew,	      r->nnotes,
		r->str.buf.len,	  r->same_process,    r->containers_known,
		r->differ,	  r->unchanged_types, r->new_objects,
		r->freed_objects, r->kept_objects,    r->reused};
	for (int i = 0; i < RESULT_HEAD; i++)
		put64(b, head[i]);
	side_pack(b, &r->before);
	side_pack(b, &r->after);
	for (size_t i = 0; i < r->nrows; i++) {
		const struct ph_diff_row *w = &r->rows[i];
		const uint64_t v[RESULT_ROW] = {
			w->name,	  w->count_before,   w->count_after,
			w->bytes_before,  w->bytes_after,    w->new_objects,
			w->freed_objects, w->new_unreachable};
		for (int k = 0; k < RESULT_ROW; k++)
			put64(b, v[k]);
	}
	for (size_t i = 0; i < r->ngrew; i++) {
		const struct ph_diff_container *c = &r->grew[i];
		const uint64_t v[RESULT_GREW] = {c->row,     c->count, c->bytes,
						 c->is_root, c->addr,  c->type,
						 c->path};
		for (int k = 0; k < RESULT_GREW; k++)
			put64(b, v[k]);
	}
	for (size_t i = 0; i < r->nnotes; i++)
		put64(b, r->notes[i]);
	ph_buf_putn(b, r->str.buf.data ? r->str.buf.data : "", r->str.buf.len);
}

/* A reader of a kept result: every number read in bounds, every string an
 * offset in its strings, which end with a NUL, every flag 0 or 1 (what is
 * read packs again to the same bytes). */
struct rd {
	const uint8_t *p, *end;
	uint64_t nstr;
	bool bad;
};

static uint64_t get64(struct rd *d)
{
	uint64_t v = 0;
	if ((size_t)(d->end - d->p) < sizeof(v))
		d->bad = true;
	else {
		memcpy(&v, d->p, sizeof(v));
		d->p += sizeof(v);
	}
	return v;
}

static bool get_bool(struct rd *d)
{
	uint64_t v = get64(d);
	d->bad |= v > 1;
	return v != 0;
}

static size_t get_str(struct rd *d)
{
	uint64_t v = get64(d);
	d->bad |= v >= d->nstr;
	return (size_t)v;
}

static void side_unpack(struct rd *d, struct ph_diff_side *s, uint64_t nnotes)
{
	uint64_t kind = get64(d);
	d->bad |= kind >= 3;
	s->kind = side_kinds[kind < 3 ? kind : 0];
	s->source = get_str(d);
	s->of = get_str(d);
	s->python = get_str(d);
	s->pid = (int64_t)get64(d);
	s->time_us = (int64_t)get64(d);
	uint64_t paused = get64(d);
	memcpy(&s->paused_ms, &paused, sizeof(paused));
	s->objects = get64(d);
	s->bytes = get64(d);
	s->partial = get_bool(d);
	s->notes = (size_t)get64(d);
	s->nnotes = (size_t)get64(d);
	d->bad |= s->notes > nnotes || s->nnotes > nnotes - s->notes;
}

struct ph_diff_result *ph_diff_result_unpack(const uint8_t *p, size_t len)
{
	struct rd d = {p, p + len, 0, false};
	uint64_t head[RESULT_HEAD];
	for (int i = 0; i < RESULT_HEAD; i++)
		head[i] = get64(&d);
	uint64_t nrows = head[0], ngrew = head[1], nnotes = head[2],
		 nstr = head[3];
	/* the counts by what they take of the bytes there are */
	uint64_t left = (uint64_t)(d.end - d.p);
	if (d.bad || nrows > left / (8 * RESULT_ROW) ||
	    ngrew > left / (8 * RESULT_GREW) || nnotes > left / 8 ||
	    nstr > left || !nstr || p[len - 1])
		return NULL;
	struct ph_diff_result *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	d.nstr = nstr;
	r->rows = calloc(nrows + 1, sizeof(*r->rows));
	r->grew = calloc(ngrew + 1, sizeof(*r->grew));
	r->notes = calloc(nnotes + 1, sizeof(*r->notes));
	d.bad |= !r->rows || !r->grew || !r->notes;
	r->nrows = nrows;
	r->ngrew = ngrew;
	r->nnotes = nnotes;
	r->same_process = head[4] != 0;
	r->containers_known = head[5] != 0;
	d.bad |= head[4] > 1 || head[5] > 1;
	r->differ = (size_t)head[6];
	d.bad |= head[6] >= nstr;
	r->unchanged_types = head[7];
	r->new_objects = head[8];
	r->freed_objects = head[9];
	r->kept_objects = head[10];
	r->reused = head[11];
	side_unpack(&d, &r->before, nnotes);
	side_unpack(&d, &r->after, nnotes);
	for (size_t i = 0; i < nrows && !d.bad; i++) {
		struct ph_diff_row *w = &r->rows[i];
		w->name = get_str(&d);
		w->count_before = get64(&d);
		w->count_after = get64(&d);
		w->bytes_before = get64(&d);
		w->bytes_after = get64(&d);
		w->new_objects = get64(&d);
		w->freed_objects = get64(&d);
		w->new_unreachable = get64(&d);
	}
	for (size_t i = 0; i < ngrew && !d.bad; i++) {
		struct ph_diff_container *c = &r->grew[i];
		c->row = (size_t)get64(&d);
		d.bad |= c->row >= nrows;
		c->count = get64(&d);
		c->bytes = get64(&d);
		c->is_root = get_bool(&d);
		c->addr = get64(&d);
		c->type = get_str(&d);
		c->path = get_str(&d);
	}
	for (size_t i = 0; i < nnotes && !d.bad; i++)
		r->notes[i] = get_str(&d);
	/* the strings, to the end */
	d.bad |= (uint64_t)(d.end - d.p) != nstr;
	if (!d.bad)
		ph_buf_putn(&r->str.buf, (const char *)d.p, (size_t)nstr);
	if (d.bad || r->str.buf.failed) {
		ph_diff_result_destroy(r);
		return NULL;
	}
	return r;
}

static bool result_load(struct ph_session *s, const struct ph_diff_opts *o,
			struct ph_diff_result **ret)
{
	struct ph_buf key;
	struct ph_answers a;
	ph_buf_init(&key);
	ph_stage(NULL);
	bool hit = result_key(s, o, &key) && !key.failed &&
		   ph_answercache_output_load(s->rt, key.data, key.len, &a);
	ph_buf_free(&key);
	if (!hit)
		return false;
	struct ph_diff_result *r = ph_diff_result_unpack(a.sec[0], a.bytes[0]);
	if (r) {
		ph_session_notes_unpack(s, a.sec[1], a.bytes[1]);
		s->partial |= a.val[0] != 0;
		*ret = r;
		ph_stage("diff result cache read");
	}
	ph_answercache_release(&a);
	return r != NULL;
}

/* After a run that read s's heap from or into the index cache: its notes
 * from note0 on kept with it. */
static void result_store(struct ph_session *s, const struct ph_diff_opts *o,
			 const struct ph_diff_result *r, size_t note0)
{
	if (!s->heap || !s->heap->cache_sum)
		return;
	struct ph_buf key, out, notes;
	ph_buf_init(&key);
	ph_buf_init(&out);
	ph_buf_init(&notes);
	ph_stage(NULL);
	if (result_key(s, o, &key) && !key.failed &&
	    ph_session_notes_pack(s, note0, &notes)) {
		ph_diff_result_pack(r, &out);
		if (!out.failed &&
		    ph_answercache_output_store(
			    s->rt, s->heap, key.data, key.len, out.data,
			    out.len, notes.data, notes.len, s->partial))
			ph_stage("diff result cache written");
	}
	ph_buf_free(&key);
	ph_buf_free(&out);
	ph_buf_free(&notes);
}

struct ph_error *ph_query_diff(struct ph_session *s,
			       const struct ph_diff_opts *o,
			       struct ph_diff_result **ret)
{
	bool kept = result_wanted(s, o);
	if (kept && result_load(s, o, ret))
		return NULL;
	size_t note0 = s ? s->nnotes : 0;
	struct ph_error *err = diff_compute(s, o, ret);
	if (!err && kept && !ph_interrupted())
		result_store(s, o, *ret, note0);
	return err;
}

void ph_diff_result_destroy(struct ph_diff_result *r)
{
	if (!r)
		return;
	free(r->rows);
	free(r->grew);
	free(r->notes);
	ph_strings_free(&r->str);
	free(r);
}

/* ---- snapshot ------------------------------------------------------------ */

struct ph_error *ph_query_snapshot(struct ph_session *s, const char *path,
				   struct ph_snapshot_result **ret)
{
	struct side sd = {0};
	/* --interp ID: that interpreter's objects, the file says which */
	struct ph_diff_opts o = {
		.has_interp = s->only_interp >= 0,
		.interp = s->only_interp >= 0
				  ? s->rt->interps[s->only_interp].id
				  : 0};
	struct ph_error *err = side_of_session(s, true, true, &o, &sd);
	struct ph_snapshot_result *r = NULL;
	size_t len = 0;
	if (!err)
		err = ph_snap_write(sd.snap, path, &len);
	if (!err && !(r = calloc(1, sizeof(*r))))
		err = ph_error_nomem();
	if (!err) {
		const struct ph_snap *sn = sd.snap;
		r->output = path;
		r->source =
			ph_strings_add(&r->str, sn->source, strlen(sn->source));
		r->python =
			ph_strings_add(&r->str, sn->python, strlen(sn->python));
		r->objects = sn->n;
		r->bytes = sn->bytes;
		r->types = sn->ntypes;
		r->roots = sn->nroots;
		r->named = sn->nnamed;
		r->file_bytes = len;
		r->interp = sn->has_interp ? sn->interp : -1;
		if (r->str.buf.failed)
			err = ph_error_nomem();
	}
	side_free(&sd);
	if (err) {
		ph_snapshot_result_destroy(r);
		return err;
	}
	*ret = r;
	return NULL;
}

void ph_snapshot_result_destroy(struct ph_snapshot_result *r)
{
	if (!r)
		return;
	ph_strings_free(&r->str);
	free(r);
}
