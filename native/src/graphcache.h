/* graphcache.h - the graph's cache: a core's complete graph of references,
 * kept beside its index cache and read by later runs (graphcache.c). */
#ifndef PH_GRAPHCACHE_H
#define PH_GRAPHCACHE_H

#include "graph.h"

/* The complete graph of h, from its cache file, if h's table came from or
 * went to the index cache and the file is there, of that table, and
 * intact; else false (the graph is to be built). */
bool ph_graphcache_load(struct ph_heap *h, struct ph_graph **ret);
/* Writes g, complete, to its cache file (atomically), if h's table is in
 * the index cache and the file stays within its bound. */
bool ph_graphcache_store(const struct ph_graph *g);

#endif /* PH_GRAPHCACHE_H */
