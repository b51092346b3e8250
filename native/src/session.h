/* session.h - one inspected process image and what was learned about it:
 * the heap and its graph, built on first use and kept, and the notes on
 * anything that makes answers partial. */
#ifndef PH_SESSION_H
#define PH_SESSION_H

#include "graph.h"

/* The one list of notes: X(NAME, code). A note is a fact about the
 * process image that every answer on it should carry (JSON "notes"). */
#define PH_NOTE_LIST(X)                                                        \
	X(PAUSED, "paused")	      /* a live process was stopped */         \
	X(NOT_STOPPED, "not-stopped") /* read while it ran */                  \
	X(READ_AGAIN, "read-again")   /* caught mid-change, read again */      \
	X(CORE_TRUNCATED, "core-truncated")                                    \
	X(MEMORY_MISSING, "memory-missing") /* not saved, unreadable */        \
	X(OBJECTS_ZEROED, "objects-zeroed")                                    \
	X(GC_LISTS_ZEROED, "gc-lists-zeroed")                                  \
	X(GC_BAD_HEADERS, "gc-bad-headers")                                    \
	X(OBJECTS_DAMAGED, "objects-damaged")                                  \
	X(WILD_REFERENCES, "wild-references")                                  \
	X(GC_LISTS_DAMAGED, "gc-lists-damaged")                                \
	X(NO_DEBUG_INFO, "no-debug-info")                                      \
	X(POOLS_INCONSISTENT, "pools-inconsistent")

enum ph_note_code {
#define PH_NOTE_ENUM_(NAME, code) PH_NOTE_##NAME,
	PH_NOTE_LIST(PH_NOTE_ENUM_)
#undef PH_NOTE_ENUM_
};

const char *ph_note_code_name(enum ph_note_code code);

struct ph_note {
	enum ph_note_code code;
	char *message; /* one line, without "py-heap: " */
};

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

/* A session on a target opened by other means (fuzzing); takes it. */
struct ph_error *ph_session_create_from_target(struct ph_target *t,
					       struct ph_session **ret);
/* The heap, built once per session. */
struct ph_error *ph_session_heap(struct ph_session *s);
/* The whole graph, built once per session (completed if only its edges
 * were built). */
struct ph_error *ph_session_graph(struct ph_session *s);
/* At least the referents (cycles): the rest is built when asked for. */
struct ph_error *ph_session_graph_edges(struct ph_session *s);
/* The whole graph and its dominator tree, built once per session. */
struct ph_error *ph_session_dominators(struct ph_session *s);

#endif /* PH_SESSION_H */
