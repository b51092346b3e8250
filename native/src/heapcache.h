/* heapcache.h - the index cache: the object table of a core, kept in a
 * file keyed by the core's identity, read by later runs (heapcache.c). */
#ifndef PH_HEAPCACHE_H
#define PH_HEAPCACHE_H

#include "heap.h"

/* The cache file of rt's core, or NULL: none for a live process, without
 * a core file, with --no-cache or PYHEAP_NO_CACHE, or without a cache
 * directory. malloc'd. */
char *ph_heapcache_path(const struct ph_runtime *rt);
/* Fills the empty heap h from the cache file path, if it is there, of
 * this core, and intact; else false, and why (empty when there was no
 * file): h must then be thrown away. */
bool ph_heapcache_load(struct ph_heap *h, const char *path, char *why,
		       size_t why_size);
/* Writes h, complete, to the cache file path (atomically). */
bool ph_heapcache_store(struct ph_heap *h, const char *path);

#endif /* PH_HEAPCACHE_H */
