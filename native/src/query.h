/* query.h - the queries: each command's question asked of a session, and
 * its answer as a typed result. No query writes into the heap or the
 * graph; no query formats text or JSON (the renderers do, render_*.c).
 *
 * A result is owned by the caller (ph_*_result_destroy frees it); it may
 * point into the session (type names, notes), so it is used before the
 * session is destroyed. Strings a result makes (reprs, labels, root names)
 * are kept in its struct ph_strings and named by offset. */
#ifndef PH_QUERY_H
#define PH_QUERY_H

#include "session.h"

/* ---- strings a result owns ---- */
struct ph_strings {
	struct ph_buf buf;
};

/* Copies s (n bytes) and returns its offset; the string is NUL-ended. */
size_t ph_strings_add(struct ph_strings *st, const char *s, size_t n);
/* The string at off: valid while st is. */
static inline const char *ph_strings_get(const struct ph_strings *st,
					 size_t off)
{
	return st->buf.data ? st->buf.data + off : "";
}
void ph_strings_free(struct ph_strings *st);

/* An object as results name it. */
struct ph_obj_ref {
	uint64_t addr;
	const char *type; /* the session's */
};

/* One edge: the object at its other end and how it is held. */
struct ph_edge_row {
	struct ph_obj_ref obj;
	size_t via;  /* label ("['key']", ".attr"), in the result's strings */
	size_t repr; /* show's referents only: the object's short repr */
	bool strong;
};

/* The address argument of a command: the object it names, or an error
 * (not an address, no object there), with need's arrays of the graph
 * (PH_GRAPH_*; a graph mapped from its cache checks no others). */
struct ph_error *ph_query_object_need(struct ph_session *s, const char *cmd,
				      const char *addr_arg, unsigned need,
				      uint32_t *ret);
/* The same for a query that reads the heap only (no graph built or read) */
struct ph_error *ph_query_heap_object(struct ph_session *s, const char *cmd,
				      const char *addr_arg, uint32_t *ret);

/* The object at addr as people read it (ph_repr_readable), appended to
 * out: the renderers ask it of each object they write. Needs the heap
 * (any query before it made it). */
void ph_query_readable(struct ph_session *s, uint64_t addr,
		       const struct ph_readable_opts *o, struct ph_buf *out);

/* ---- type names ---- */
/* Does a TYPE operand name this type: the name itself, or with * ? [ a
 * glob (fnmatch) the name matches? */
bool ph_type_name_matches(const char *pattern, const char *name);
/* Is the type named name in a module glob matches (any dotted prefix of
 * the name; "builtins" for a name without a dot)? */
bool ph_type_module_matches(const char *glob, const char *name);
/* The types (by number, 1 each) pattern names (ph_type_name_matches);
 * NULL and *ret_err when none does (ph_type_not_found). */
uint8_t *ph_types_matching(struct ph_heap *h, const char *cmd,
			   const char *pattern, struct ph_error **ret_err);
/* "CMD: no type named 'X' in the heap ...; did you mean A, B or C?": the
 * nearest names the heap has (its own name without the module, the same
 * in another case, a few letters off, containing it), also in the
 * error's suggestions (the JSON error's "suggestions"). */
struct ph_error *ph_type_not_found(struct ph_heap *h, const char *cmd,
				   const char *asked);

/* ---- types ---- */
struct ph_types_opts {
	uint64_t limit;	    /* rows kept whole; 0: all */
	const char *module; /* only the types of modules it matches, or NULL */
	bool by_count;	    /* else by bytes */
	bool retained;	    /* also what deleting each type's objects frees */
	bool by_retained;
};

struct ph_type_row {
	const char *name;
	uint64_t count, bytes;
	/* sys.getsizeof() of some of its objects is not what py-heap can
	 * compute (ph_type_size_exact): its bytes are their structs' */
	bool size_inexact;
	/* --retained: the union of the retained sets of the type's objects
	 * (those no other object of the type dominates) */
	uint64_t retained_objects, retained_bytes;
};

/* One interpreter's share of a result: its id, objects and bytes. */
struct ph_interp_row {
	int64_t id;
	uint64_t objects, bytes;
	bool own_allocator; /* an isolated one, with its own obmalloc */
	size_t threads;
};

struct ph_types_result {
	const char *python;
	/* every interpreter's (--interp: that one's), main first */
	struct ph_interp_row *interps;
	size_t ninterps;
	bool retained; /* the retained columns are filled */
	uint64_t objects, bytes;
	size_t inexact;		  /* rows with size_inexact */
	struct ph_type_row *rows; /* every type with objects, in order */
	size_t nrows;
	size_t shown;			 /* the first rows, as --limit keeps */
	uint64_t rest_count, rest_bytes; /* the rows after those, summed */
};

struct ph_error *ph_query_types(struct ph_session *s,
				const struct ph_types_opts *o,
				struct ph_types_result **ret);
void ph_types_result_destroy(struct ph_types_result *r);

/* ---- list ---- */
struct ph_list_opts {
	const char *type;
	uint64_t limit, min_size;
};

struct ph_list_row {
	uint64_t addr, size;
	size_t repr;
};

struct ph_list_result {
	const char *type;
	uint64_t count; /* matching objects, before --limit */
	struct ph_list_row *rows;
	size_t shown;
	struct ph_strings str;
};

struct ph_error *ph_query_list(struct ph_session *s,
			       const struct ph_list_opts *o,
			       struct ph_list_result **ret);
void ph_list_result_destroy(struct ph_list_result *r);

/* ---- info ---- */
struct ph_info_result {
	const char *version; /* py-heap's */
	const char *python;
	bool debug_build;
	bool free_threaded; /* Py_GIL_DISABLED (3.13t) */
	size_t mi_pages;    /* its mimalloc pages read */
	const char *allocator;
	const char *executable;
	char build_id[129];
	const char *runtime_in;
	uint64_t runtime_address;
	const char *layout_source;
	bool layout_cached;
	bool symbols_cached; /* the runtime's symbols from their cache */
	/* the index cache: "read", "written", "ignored", "off" (none for
	 * this target, or --no-cache) */
	const char *index_cache;
	const char *index_cache_ignored; /* why, or NULL */
	/* read with a seal: checked whole by an earlier run, its sums not
	 * read again */
	bool index_cache_sealed;
	size_t threads;
	uint64_t objects, found_gc, found_ref, found_root, found_pool;
	size_t types, pools;
	const char *pool_source;
	const char *debug_file, *debug_source; /* NULL: none */
	uint64_t memory_not_saved;
	uint64_t gc_list_damaged, gc_zeroed_links, gc_bad_objects,
		gc_zeroed_objects, gc_damaged_objects, refs_into_missing,
		refs_to_zeros, refs_to_damaged, refs_wild, pools_inconsistent;
	/* every interpreter, main first; and how many the list held that
	 * were not read (past damage or PH_MAX_INTERPS) */
	struct ph_interp_row *interps;
	size_t ninterps, interps_unread;
};

struct ph_error *ph_query_info(struct ph_session *s,
			       struct ph_info_result **ret);
void ph_info_result_destroy(struct ph_info_result *r);

/* ---- summary ---- */
struct ph_summary_result {
	const char *python;
	struct ph_types_result *types; /* the largest ten, by bytes */
	size_t threads;
	uint64_t gens[5]; /* untracked or no GC, generations 0-2, permanent */
	size_t pools;
	uint64_t pool_bytes, used_blocks, used_bytes, free_bytes;
	double fragmentation_percent;
	/* free-threaded builds: mimalloc's pages read, instead of pools */
	bool free_threaded;
	size_t mi_pages;
	uint64_t mi_bytes, mi_used_blocks, mi_used_bytes;
};

struct ph_error *ph_query_summary(struct ph_session *s,
				  struct ph_summary_result **ret);
void ph_summary_result_destroy(struct ph_summary_result *r);

/* ---- show ---- */
struct ph_show_opts {
	const char *addr;
	uint64_t limit; /* referents kept; 0: all */
};

struct ph_show_result {
	struct ph_obj_ref obj;
	uint64_t size;
	int64_t refcount;
	const char *gc;
	const char *found_by;
	bool reachable;
	uint64_t referrers;
	size_t repr;
	struct ph_edge_row *refs; /* the referents kept */
	size_t nrefs;
	size_t refs_total;			   /* all of them */
	uint64_t retained_objects, retained_bytes; /* what it dominates */
	/* its interpreter's id (one shared by all: the main one's, 0), and
	 * how many the process has */
	int64_t interp;
	size_t ninterps;
	struct ph_strings str;
};

struct ph_error *ph_query_show(struct ph_session *s,
			       const struct ph_show_opts *o,
			       struct ph_show_result **ret);
void ph_show_result_destroy(struct ph_show_result *r);

/* ---- referents ---- */
struct ph_referents_result {
	uint64_t addr;
	struct ph_edge_row *refs; /* the first --limit of them */
	size_t nrefs;
	size_t total; /* all of them */
	struct ph_strings str;
};

/* At most limit referents are kept (0: all); all are counted. */
struct ph_error *ph_query_referents(struct ph_session *s, const char *addr,
				    uint64_t limit,
				    struct ph_referents_result **ret);
void ph_referents_result_destroy(struct ph_referents_result *r);

/* ---- referrers ---- */
struct ph_referrers_opts {
	const char *addr;
	uint64_t depth; /* 1 to 16 */
	uint64_t limit; /* referrers kept per object; 0: all */
};

#define PH_NO_NODE SIZE_MAX

/* A node of the tree of referrers: node 0 is the object asked about. */
struct ph_referrer {
	struct ph_obj_ref obj;
	size_t via;	      /* how it holds its parent (not for node 0) */
	bool tree;	      /* depth > 1 here: its roots and referrers */
	bool expanded;	      /* its referrers are its children */
	bool shown_above;     /* a tree node expanded elsewhere already */
	size_t roots, nroots; /* root names: result->root_names[roots..] */
	size_t first_child, next_sibling; /* PH_NO_NODE: none */
	uint64_t more;			  /* referrers not shown (--limit) */
};

struct ph_referrers_result {
	uint64_t depth;
	struct ph_referrer *nodes;
	size_t nnodes;
	size_t *root_names; /* offsets into str */
	size_t nroot_names;
	bool truncated; /* stopped at PH_REFERRERS_MAX entries */
	bool no_referrers;
	struct ph_strings str;
};

#define PH_REFERRERS_MAX 10000

struct ph_error *ph_query_referrers(struct ph_session *s,
				    const struct ph_referrers_opts *o,
				    struct ph_referrers_result **ret);
void ph_referrers_result_destroy(struct ph_referrers_result *r);

/* ---- roots ---- */
struct ph_roots_opts {
	const char *match; /* only roots whose name contains it; NULL: all */
	uint64_t limit;	   /* 0: all */
};

struct ph_root_row {
	size_t name; /* in str */
	struct ph_obj_ref obj;
	uint64_t size;
};

struct ph_roots_result {
	struct ph_root_row *rows; /* the kept ones, in the order found */
	size_t nrows;
	size_t total; /* matching roots */
	struct ph_strings str;
};

struct ph_error *ph_query_roots(struct ph_session *s,
				const struct ph_roots_opts *o,
				struct ph_roots_result **ret);
void ph_roots_result_destroy(struct ph_roots_result *r);

/* ---- path ---- */
struct ph_path_step {
	struct ph_obj_ref obj;
	size_t via; /* "" for the first */
};

struct ph_path {
	size_t root;  /* its name, in the result's strings */
	size_t first; /* steps[first .. first + n] */
	size_t n;
	size_t cut; /* ph_query_add_path: the steps after the n kept */
};

struct ph_path_result {
	uint64_t addr;
	bool reachable;
	struct ph_path *paths; /* the shortest first; more with --all N */
	size_t npaths;
	bool all; /* --all N with N > 1: "paths" too */
	struct ph_path_step *steps;
	size_t nsteps;
	struct ph_strings str;
};

struct ph_error *ph_query_path(struct ph_session *s, const char *addr,
			       uint64_t all, struct ph_path_result **ret);
void ph_path_result_destroy(struct ph_path_result *r);

/* The shortest chain of strong references from a root to obj, as `path`
 * gives it, its first max steps at most (the rest counted in ret->cut): its
 * steps appended to *steps (capacity *cap), its labels and its root's name
 * in str. ret->n is 0 when no root reaches obj. */
struct ph_error *ph_query_add_path(struct ph_graph *g, uint32_t obj, size_t max,
				   struct ph_strings *str,
				   struct ph_path_step **steps, size_t *nsteps,
				   size_t *cap, struct ph_path *ret);

/* The steps of the paths retained, dominators and leaks give (a deep
 * object's whole path is `path`'s). */
#define PH_ROW_PATH_MAX 1000

/* ---- retained, dominators, leaks (query_retained.c) ---- */

/* An object with what it retains, and the shortest path to it. */
struct ph_dom_row {
	struct ph_obj_ref obj;
	uint64_t size;
	uint64_t objects, bytes; /* retained: what it dominates, itself too */
	bool reachable;		 /* a root reaches it: path is set */
	struct ph_path path;	 /* in the result's steps and strings */
	bool has_interp;	 /* more than one interpreter: its id */
	int64_t interp;
};

struct ph_retained_result {
	struct ph_dom_row row;
	uint64_t heap_objects, heap_bytes;
	/* its immediate dominator: an object, or one of the virtual roots */
	enum {
		PH_DOMINATOR_OBJECT,
		PH_DOMINATOR_ROOT,
		PH_DOMINATOR_UNREACHABLE
	} dominator_kind;
	struct ph_obj_ref dominator;
	struct ph_path_step *steps;
	size_t nsteps;
	struct ph_strings str;
};

struct ph_error *ph_query_retained(struct ph_session *s, const char *addr,
				   struct ph_retained_result **ret);
void ph_retained_result_destroy(struct ph_retained_result *r);

struct ph_dominators_opts {
	uint64_t limit;	    /* rows, or children per node; 0: all */
	const char *type;   /* only objects of that type; NULL: all */
	uint64_t min_bytes; /* only objects retaining at least that */
	const char *tree;   /* ADDR, "root" or "unreachable": the subtree */
	uint64_t depth;	    /* levels of the subtree below it */
	const char *export_path; /* write the graph and every dominator */
};

/* A node of a subtree of the dominator tree: node 0 is its top. */
struct ph_dom_node {
	struct ph_dom_row row; /* its path: only if has_path */
	bool virtual_root;     /* the top is "root" or "unreachable" */
	bool has_path;	       /* the top, and the children of a virtual root */
	size_t first_child, next_sibling; /* PH_NO_NODE: none */
	uint64_t children;		  /* all its children */
	uint64_t more;			  /* children not shown (--limit) */
	bool expanded;			  /* within --depth */
};

struct ph_dominators_result {
	uint64_t objects, bytes; /* the heap's */
	uint64_t reach_objects, reach_bytes;
	uint64_t matching;	 /* objects that match, before --limit */
	struct ph_dom_row *rows; /* the largest first */
	size_t nrows;
	bool tree;
	struct ph_dom_node *nodes; /* --tree */
	size_t nnodes;
	const char *export_path; /* --export: written there */
	uint64_t exported_edges;
	struct ph_path_step *steps;
	size_t nsteps;
	struct ph_strings str;
};

struct ph_error *ph_query_dominators(struct ph_session *s,
				     const struct ph_dominators_opts *o,
				     struct ph_dominators_result **ret);
void ph_dominators_result_destroy(struct ph_dominators_result *r);

/* Leak suspects: objects retaining at least min_share percent of the
 * heap, each followed down the dominator tree to where it accumulates
 * (docs/manual.md, "leaks"). */
#define PH_LEAK_DESCEND_PERCENT 80 /* down while a child retains this much */
#define PH_LEAK_CHAIN 8		   /* a type met this often: a chain */
#define PH_LEAK_STEPS_MAX 4096	   /* at most this far down */

struct ph_leaks_opts {
	uint64_t limit;
	double min_share; /* percent */
};

struct ph_leak_suspect {
	struct ph_dom_row row;	   /* the suspect */
	struct ph_dom_row acc;	   /* its accumulation point */
	uint32_t depth;		   /* steps from the suspect down to it */
	uint64_t children_total;   /* objects it immediately dominates */
	const char *children_type; /* of those, the type retaining most */
	uint32_t children_tidx;	   /* its type number (PH_NONE: none) */
	uint64_t children, children_bytes, children_objects;
};

struct ph_leaks_result {
	uint64_t objects, bytes;
	double min_share;
	uint64_t threshold;		  /* bytes: min_share of the heap */
	struct ph_leak_suspect *suspects; /* the largest first */
	size_t nsuspects, total;
	struct ph_path_step *steps;
	size_t nsteps;
	struct ph_strings str;
};

struct ph_error *ph_query_leaks(struct ph_session *s,
				const struct ph_leaks_opts *o,
				struct ph_leaks_result **ret);
void ph_leaks_result_destroy(struct ph_leaks_result *r);

/* types --retained: by row (rows as ph_query_types makes them, row_of[]
 * the row of each type number), the retained objects and bytes of the
 * objects no other object of the row dominates. every_type: each type
 * has its row (no --module), and the sums may be kept for a later run. */
struct ph_error *ph_query_retained_by_type(struct ph_session *s,
					   const uint32_t *row_of,
					   struct ph_type_row *rows,
					   bool every_type);

/* ---- cycles ---- */
struct ph_cycles_opts {
	bool unreachable_only;
	bool by_count;
	uint64_t limit, min_size;
};

struct ph_cycle_type {
	const char *name;
	uint32_t count;
};

struct ph_cycle {
	uint64_t objects, bytes;
	bool unreachable;
	uint32_t finalizers;
	size_t types, ntypes;	  /* result->types[types..]: first seen first */
	size_t members, nmembers; /* result->members[..]: at most 10,000 */
	size_t loop, nloop;	  /* result->loop[..]: the edge to the next */
};

#define PH_CYCLE_MEMBERS_MAX 10000
#define PH_CYCLE_LOOP_MAX 4096
#define PH_UNREACHABLE_MAX 100000

struct ph_cycles_result {
	bool unreachable_only;
	size_t total;		 /* cycles selected */
	size_t shown;		 /* kept, as --limit says */
	struct ph_cycle *cycles; /* the kept ones */
	struct ph_cycle_type *types;
	uint64_t *members;
	struct ph_path_step *loop; /* via: the edge to the next member */
	uint64_t unreachable_objects, unreachable_bytes;
	/* of those, with a finalizer that runs before they are freed (what
	 * it frees, gc.collect()'s count leaves out) */
	uint64_t unreachable_finalizers;
	uint64_t frozen_objects; /* gc.freeze()'s: never collected */
	/* What gc.collect() then does with them (gc_collect_main), assuming
	 * finalizers do what CPython's own do (a generator's or coroutine's
	 * close clears its frame; a __del__ neither resurrects nor drops a
	 * reference) and weakref callbacks free nothing but themselves:
	 * freed by refcount once the finalizers ran (not counted), kept by a
	 * legacy tp_del (gc.garbage, counted), weakrefs outside the set whose
	 * callbacks run (each one its callback frees adds 1 to the count).
	 * collect_returns = unreachable - freed_by_finalizers. */
	uint64_t freed_by_finalizers, legacy_finalizer_objects;
	uint64_t weakref_callbacks, collect_returns;
	uint64_t *unreachable; /* at most PH_UNREACHABLE_MAX */
	size_t nunreachable;
	uint64_t *finalizer_freed; /* of unreachable[]: freed by finalizers */
	size_t nfinalizer_freed;
	uint64_t *gc_garbage; /* what gc.garbage holds */
	size_t ngc_garbage;
	size_t gc_garbage_edges; /* gc.garbage's references, its type's too */
	size_t ntypes_all, nmembers_all, nloop_all; /* of the arrays above */
	struct ph_strings str;
};

struct ph_error *ph_query_cycles(struct ph_session *s,
				 const struct ph_cycles_opts *o,
				 struct ph_cycles_result **ret);
void ph_cycles_result_destroy(struct ph_cycles_result *r);

/* ---- refcount ---- */
struct ph_refcount_result {
	struct ph_obj_ref obj;
	int64_t refcount;
	bool immortal, is_static;
	int64_t found;
	int64_t excess; /* refcount - found, saturated */
	uint64_t from_objects, outside, conservative;
	/* free-threaded 3.13: the deferred reference counting's one (no
	 * reference holds it), counted in found */
	uint64_t deferred;
	struct ph_edge_row *refs; /* labelled, one per reference */
	size_t nrefs;
	size_t *roots; /* names, in str */
	size_t nroots;
	struct ph_strings str;
};

struct ph_error *ph_query_refcount(struct ph_session *s, const char *addr,
				   size_t max_refs,
				   struct ph_refcount_result **ret);
void ph_refcount_result_destroy(struct ph_refcount_result *r);

/* ---- refcheck ---- */
struct ph_refcheck_opts {
	uint64_t min_excess;
	const char *type; /* NULL: every type */
	uint64_t limit;	  /* types kept per list; 0: all */
	bool suspects;	  /* list every suspect object (JSON) */
};

struct ph_suspect {
	uint64_t addr;
	int64_t excess;
};

struct ph_suspect_type {
	const char *type;
	uint64_t objects;
	int64_t total;
	struct ph_suspect worst;
	size_t suspects, nsuspects; /* result->suspects[suspects..] */
};

#define PH_SUSPECTS_MAX 1000000
/* No process holds 2^48 references to one object (3.14's refcount is 48
 * bits wide): a larger or negative one is damage. */
#define PH_REFCNT_PLAUSIBLE (1LL << 48)

struct ph_refcheck_result {
	uint64_t checked, immortal_skipped, static_skipped;
	uint64_t implausible_skipped; /* a refcount below 0 or past 2^48 */
	uint64_t excess_objects, deficit_objects;
	struct ph_suspect_type *excess,
		*deficit;		    /* the kept ones, worst first */
	size_t nexcess, ndeficit;	    /* kept */
	size_t excess_types, deficit_types; /* all */
	struct ph_suspect *suspects;
	size_t nsuspects;
	bool truncated; /* more than PH_SUSPECTS_MAX suspects: not all listed */
};

struct ph_error *ph_query_refcheck(struct ph_session *s,
				   const struct ph_refcheck_opts *o,
				   struct ph_refcheck_result **ret);
void ph_refcheck_result_destroy(struct ph_refcheck_result *r);

/* ---- snapshot ---- */
struct ph_snapshot_result {
	const char *output;
	size_t source, python; /* in str */
	uint64_t objects, bytes, types, roots, named;
	uint64_t file_bytes;
	int64_t interp; /* --interp: the interpreter's id; else -1 */
	struct ph_strings str;
};

/* Saves the session's heap and its shortest-path tree to path. */
struct ph_error *ph_query_snapshot(struct ph_session *s, const char *path,
				   struct ph_snapshot_result **ret);
void ph_snapshot_result_destroy(struct ph_snapshot_result *r);

/* ---- diff ---- */
struct ph_diff_opts {
	const char *before;  /* a core or a snapshot file; NULL with interval */
	const char *after;   /* likewise, when there is no session */
	double interval;     /* > 0: the session's process read again, that
				many seconds after it was first read */
	uint64_t containers; /* named for each type that grew */
	bool has_interp;     /* --interp ID: that interpreter's objects only */
	int64_t interp;	     /* (both sides cores or processes) */
};

struct ph_diff_side {
	const char *kind; /* "core", "snapshot" or "process" */
	size_t source;	  /* what was given (a path, "process 1234") */
	size_t of;	  /* a snapshot: what it was taken of; else 0 */
	size_t python;
	int64_t pid;	 /* 0: unknown */
	int64_t time_us; /* when it was read; 0: unknown */
	double paused_ms;
	uint64_t objects, bytes;
	bool partial;
	size_t notes, nnotes; /* result->notes[notes..]: a session of its own */
};

struct ph_diff_row {
	size_t name; /* in str */
	uint64_t count_before, count_after, bytes_before, bytes_after;
	uint64_t new_objects, freed_objects; /* matched by address */
	uint64_t new_unreachable;	     /* new objects no root reaches */
};

/* A container that gained new objects of a type: the nearest object, on
 * each new object's shortest path from a root, that existed before (or
 * the root itself, when none did). */
struct ph_diff_container {
	size_t row; /* the type's row */
	uint64_t count, bytes;
	bool is_root;  /* held by a root directly: no object */
	uint64_t addr; /* the object (not a root) */
	size_t type;   /* its type's name, in str */
	size_t path;   /* from its root, in str; 0 (""): unknown */
};

struct ph_diff_result {
	struct ph_diff_side before, after;
	bool same_process; /* objects matched by address */
	size_t differ;	   /* why not, in str */
	uint64_t new_objects, freed_objects, kept_objects, reused;
	struct ph_diff_row *rows; /* every type that changed, largest growth
				     in bytes first */
	size_t nrows;
	uint64_t unchanged_types;
	struct ph_diff_container *grew; /* by row, most new objects first */
	size_t ngrew;
	bool containers_known; /* the after side had its tree */
	size_t *notes;	       /* offsets in str */
	size_t nnotes;
	struct ph_strings str;
};

struct ph_error *ph_query_diff(struct ph_session *s,
			       const struct ph_diff_opts *o,
			       struct ph_diff_result **ret);
void ph_diff_result_destroy(struct ph_diff_result *r);
/* What a diff on s with BEFORE before answers from beyond s's core, for the
 * outputs' cache's key (appended to b): a core's index identity (opened
 * as the diff opens it; its index cached and intact) or a snapshot
 * file's (ph_snap_identity). False when it has none now: not cached. */
bool ph_query_diff_key(struct ph_session *s, const char *before,
		       struct ph_buf *b);
/* A result as the outputs' cache keeps it (appended to b), and read back
 * from len bytes that nothing vouches for: NULL unless every count fits
 * the bytes, every string offset the strings (NUL-ended), every
 * container's row the rows, every flag is 0 or 1 (fuzz_diffresult). */
void ph_diff_result_pack(const struct ph_diff_result *r, struct ph_buf *b);
struct ph_diff_result *ph_diff_result_unpack(const uint8_t *p, size_t len);

/* ---- graph: the objects around one, for a picture (query_subgraph.c) ---- */
struct ph_subgraph_opts {
	const char *addr;
	bool refs;	    /* what it holds; else who holds it (backrefs) */
	uint64_t depth;	    /* steps out from the object, 1 to 64 */
	uint64_t max_nodes; /* at most this many nodes, 2 to 100,000 */
};

/* A fan-in (or fan-out) past PH_SUBGRAPH_FOLD objects draws the first
 * PH_SUBGRAPH_SHOWN of each type (of the first PH_SUBGRAPH_FOLD types) and
 * folds the rest, by type, into nodes that count them ("4,997 more
 * __main__.Session"). */
#define PH_SUBGRAPH_FOLD 8
#define PH_SUBGRAPH_SHOWN 3
#define PH_SUBGRAPH_FOLD_TYPES 4 /* folded types drawn; then "other types" */
#define PH_SUBGRAPH_ROOTS 2	 /* roots drawn above an object */

enum ph_sg_kind {
	PH_SG_OBJECT,
	PH_SG_FOLD, /* objects not drawn, counted */
	PH_SG_ROOT, /* a root: its name in label */
};

struct ph_sg_node {
	enum ph_sg_kind kind;
	struct ph_obj_ref obj; /* FOLD: type NULL when of several types */
	uint64_t size;	       /* FOLD: their bytes */
	uint64_t retained_objects, retained_bytes;
	size_t label;	/* OBJECT: short repr; ROOT: its name; in str */
	uint64_t count; /* FOLD: objects folded; ROOT: roots not drawn */
	uint32_t depth; /* steps from the object asked about */
	bool target;	/* the object asked about */
	bool on_path;	/* on the shortest chain from a root (path's) */
	bool in_cycle;	/* on a cycle among the drawn edges */
	bool expanded;	/* its neighbours (backrefs: holders) are drawn */
	uint64_t more;	/* neighbours neither drawn nor folded (cut) */
	/* --interp: neighbours of other interpreters, left out */
	uint64_t other_interp;
};

struct ph_sg_edge {
	size_t src, dst; /* nodes: src holds dst */
	size_t via;	 /* how (in str); "" from a fold or a root */
	bool on_path, in_cycle;
};

struct ph_subgraph_result {
	uint64_t addr;
	bool refs;
	uint64_t depth, max_nodes;
	struct ph_sg_node *nodes; /* node 0: the object asked about */
	size_t nnodes;
	struct ph_sg_edge *edges;
	size_t nedges;
	bool reachable;
	size_t path_root;  /* backrefs: the chain's root name, in str */
	uint64_t path_cut; /* backrefs: steps of the chain not drawn */
	bool truncated;	   /* max_nodes reached: not every neighbour drawn */
	int64_t interp;	   /* --interp: the interpreter's id; else -1 */
	struct ph_strings str;
};

struct ph_error *ph_query_subgraph(struct ph_session *s,
				   const struct ph_subgraph_opts *o,
				   struct ph_subgraph_result **ret);
void ph_subgraph_result_destroy(struct ph_subgraph_result *r);

#endif /* PH_QUERY_H */
