/* session.h - one inspected process image and what was learned about it:
 * the heap and its graph, built on first use and kept, and the notes on
 * anything that makes answers partial. */
#ifndef PH_SESSION_H
#define PH_SESSION_H

#include "graph.h"
#include "notes.h"

struct ph_session {
	struct ph_target *target;
	struct ph_runtime *rt;
	struct ph_heap *heap;	/* built on first use, kept */
	struct ph_graph *graph; /* likewise */
	struct ph_domtree *dom; /* likewise: the dominator tree */
	struct ph_note *notes;
	size_t nnotes, notes_cap;
	struct ph_buf notes_text; /* "py-heap: message\n" each */
	bool partial;		  /* damaged input: the answer is incomplete */
	double opened_at; /* when (s since 1970): a live process's reading */
	/* --interp ID: the command's objects are that interpreter's only
	 * (an index into rt->interps); -1: every interpreter's */
	int only_interp;
};

/* Does the command at hand cover object o (its --interp)? */
static inline bool ph_session_keeps(const struct ph_session *s, uint32_t o)
{
	return s->only_interp < 0 ||
	       ph_heap_interp(s->heap, o) == (unsigned)s->only_interp;
}

void ph_session_note(struct ph_session *s, enum ph_note_code code,
		     const char *fmt, ...) PH_PRINTF(3, 4);
/* The notes s was given from note0 on, as an answer keeps them (each a
 * 32-bit code, a 32-bit length and the message), appended to b; false
 * when one is on the caches' own state (index-cache-ignored: a later run
 * would not say it), and the answer is not to be kept. */
bool ph_session_notes_pack(const struct ph_session *s, size_t note0,
			   struct ph_buf *b);
/* Notes packed so (len bytes at p, whole records: the answers' cache
 * checked them) given to s again. */
void ph_session_notes_unpack(struct ph_session *s, const void *p, size_t len);

/* A session on a target opened by other means (fuzzing); takes it. */
struct ph_error *ph_session_create_from_target(struct ph_target *t,
					       struct ph_session **ret);
/* The heap, built once per session. */
struct ph_error *ph_session_heap(struct ph_session *s);
/* The whole graph, built once per session (completed if only its edges
 * were built). */
struct ph_error *ph_session_graph(struct ph_session *s);
/* The same, but of a mapped graph only the arrays need asks for
 * (PH_GRAPH_*) are checked and set: a reader uses no other. */
struct ph_error *ph_session_graph_need(struct ph_session *s, unsigned need);
/* At least the referents (cycles): the rest is built when asked for. */
struct ph_error *ph_session_graph_edges(struct ph_session *s);
/* At least the referents, roots and paths' tree (diff's containers): not
 * the referrers, unless the graph's cache has them. */
struct ph_error *ph_session_graph_paths(struct ph_session *s);
/* The whole graph and its dominator tree, built once per session. */
struct ph_error *ph_session_dominators(struct ph_session *s);
/* The same with only need's arrays of a mapped graph, when the dominator
 * tree is cached (built, it needs them all). */
struct ph_error *ph_session_dominators_need(struct ph_session *s,
					    unsigned need);
/* The same for a reader of rows, each checked as read (ph_domtree_row_ok,
 * ph_domtree_pos): a sealed file is not checked whole (a later
 * ph_session_dominators_need checks it). */
struct ph_error *ph_session_dominators_rows(struct ph_session *s,
					    unsigned need);
/* A reader of those rows met one that reads wrong (ph_domtree_row_ok): the
 * tree is read again checked whole, and built again when damaged. */
struct ph_error *ph_session_dominators_damaged(struct ph_session *s,
					       unsigned need);

#endif /* PH_SESSION_H */
