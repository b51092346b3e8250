/* query.h - what the commands share: renderings and the graph. */
#ifndef PH_QUERY_H
#define PH_QUERY_H

#include "graph.h"

const char *tname(const struct ph_type *t);
void ph_repr_str(struct ph_heap *h, uint64_t addr, struct ph_buf *out,
		 size_t max);
void ph_repr_object(struct ph_heap *h, uint64_t addr, uint32_t tidx,
		    struct ph_buf *out);
void ph_edge_label_write(struct ph_heap *h, enum ph_edge_kind kind,
			 uint64_t data, struct ph_buf *out);

struct ph_session {
	struct ph_target *target;
	struct ph_runtime *rt;
	struct ph_heap *heap;	/* built on first use, kept */
	struct ph_graph *graph; /* likewise */
	struct ph_buf notes;
	bool partial; /* damaged input: the answer is incomplete */
};

/* A command's arguments, as it consumes them. */
struct args {
	int argc;
	const char *const *argv;
	int pos;
	const char *cmd;
};

struct ph_error *session_heap(struct ph_session *s);
/* A session on a target opened by other means (fuzzing); takes it. */
struct ph_error *ph_session_create_from_target(struct ph_target *t,
					       struct ph_session **ret);
/* The whole graph, built once per session (completed if only its edges
 * were built). */
struct ph_error *session_graph(struct ph_session *s);
/* At least the referents (cycles): the rest is built when asked for. */
struct ph_error *session_graph_edges(struct ph_session *s);
struct ph_error *parse_u64(const char *cmd, const char *opt, const char *v,
			   uint64_t *ret);

#define PH_COMMAND(name)                                                       \
	struct ph_error *name(struct ph_session *s, struct args *a, bool json, \
			      struct ph_buf *out)
PH_COMMAND(cmd_show);
PH_COMMAND(cmd_referents);
PH_COMMAND(cmd_referrers);
PH_COMMAND(cmd_path);
PH_COMMAND(cmd_types);
PH_COMMAND(cmd_cycles);
PH_COMMAND(cmd_refcount);
PH_COMMAND(cmd_refcheck);
PH_COMMAND(cmd_summary);

#endif /* PH_QUERY_H */
