/* graphcache.h - the graph's cache: a core's graph of references (whole,
 * or a diff's without referrers), kept beside its index cache and read
 * by later runs (graphcache.c). */
#ifndef PH_GRAPHCACHE_H
#define PH_GRAPHCACHE_H

#include "graph.h"

/* Before the index is read (rt's core's index cache file, its header
 * good for this core), the graph's cache file mapped, and its sections
 * need asks for (PH_GRAPH_*) and the small ones checked on a thread of
 * its own while the index is read; NULL if there is none, or for a small
 * heap. Taken by ph_graphcache_load, or dropped. */
struct ph_graph_prefetch;
struct ph_graph_prefetch *ph_graphcache_prefetch(const struct ph_runtime *rt,
						 unsigned need);
void ph_graphcache_prefetch_drop(struct ph_graph_prefetch *p);
/* The graph of h (complete, or without referrers: then not complete),
 * from its cache file, if h's table came from or went to the index cache
 * and the file is there, of that table, and intact; else false (the graph
 * is to be built). p: a prefetch (taken, whatever the answer), or NULL. */
bool ph_graphcache_load(struct ph_heap *h, struct ph_graph_prefetch *p,
			struct ph_graph **ret);
/* Sums and checks the sections of a mapped graph that need asks for
 * (PH_GRAPH_*) and are not yet checked, and only then sets their pointers;
 * false if one is damaged (the graph is then to be built again). Before
 * it, a loaded graph's large arrays are NULL (g->pending). */
bool ph_graphcache_check(struct ph_graph *g, unsigned need);
/* Writes g to its cache file (atomically), if h's table is in the index
 * cache and the file stays within its bound: complete, or with its paths'
 * tree but no referrers (ph_graph_paths: a diff's), which a later run maps
 * as a graph not complete. A mapped graph is written only when its file
 * had no referrers and g has them now. */
bool ph_graphcache_store(const struct ph_graph *g);

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* For the cache files' fuzzer only: as ph_heapcache_fuzz_resum, of a
 * graph file. */
uint64_t ph_graphcache_fuzz_resum(uint8_t *file, size_t len, bool sums);
#endif

#endif /* PH_GRAPHCACHE_H */
