/* heapcache.h - the index cache: the object table of a core, kept in a
 * file keyed by the core's identity, read by later runs (heapcache.c). */
#ifndef PH_HEAPCACHE_H
#define PH_HEAPCACHE_H

#include "heap.h"

/* The cache file of rt's core, or NULL: none for a live process, without
 * a core file, with --no-cache or PYHEAP_NO_CACHE, or without a cache
 * directory. malloc'd. */
char *ph_heapcache_path(const struct ph_runtime *rt);
/* Whether rt's core has an index cache at all (a core, not a process;
 * not --no-cache, PYHEAP_NO_CACHE or a borrowed image): where not, no
 * cache file beside it is read or written. */
bool ph_heapcache_wanted(const struct ph_runtime *rt);
/* Fills the empty heap h from the cache file path, if it is there, of
 * this core, and intact; else false, and why (empty when there was no
 * file): h must then be thrown away. */
bool ph_heapcache_load(struct ph_heap *h, const char *path, char *why,
		       size_t why_size);
/* Writes h, complete, to the cache file path (atomically). */
bool ph_heapcache_store(struct ph_heap *h, const char *path);

/* For the index's cache and those beside it (graphcache.c,
 * answercache.c): the files' checksum; at most 8 files named prefix* in path's
 * directory (the oldest go); a new file's contents written to path atomically,
 * unless more than a quarter of the disk's free space. */
uint64_t ph_heapcache_sum(const void *data, size_t n);
/* The identity of rt's core's index file without reading its sections:
 * its header's sum and object count, when the file is there, intact in
 * its header and of the core as it is now (what h->cache_sum is once
 * loaded); else false. */
bool ph_heapcache_identity(const struct ph_runtime *rt, uint64_t *ret_sum,
			   uint64_t *ret_n);
struct stat;
void ph_heapcache_prune(const char *path, const char *prefix);
/* Seals: the sections (by bit) of the cache file at path, as it is now
 * (st, its header's head_sum), that an earlier run summed whole and found
 * intact; 0 if none. Their sums need not be read again; what memory safety
 * needs is checked all the same. */
uint32_t ph_heapcache_sealed(const char *path, const struct stat *st,
			     uint64_t head_sum);
/* The sections of mask (those sealed before included) summed whole and
 * intact: sealed, if the file at path is still st and its ctime is old
 * enough that a later change must move it. */
void ph_heapcache_seal(const char *path, const struct stat *st,
		       uint64_t head_sum, uint32_t mask);
struct ph_target;
/* The nparts parts written to path as one new file (atomically; not when
 * more than a quarter of the disk's free space), then the files named
 * prune* in its directory but the newest pruned (when prune is not NULL).
 * By a child of this process, which the caller does not wait for, when t
 * asks for it (ph_options_set_detached_writes) and the file is of 4 MiB
 * or more. */
bool ph_heapcache_write(const struct ph_target *t, const char *path,
			const void *const *parts, const uint64_t *bytes,
			int nparts, const char *prune);
/* Before path is opened: a detached writer of it waited for, while it
 * writes (at most 30 s). */
void ph_heapcache_wait(const char *path);

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* For the cache files' fuzzer (tests/fuzz/fuzz_index.c) only. A cache
 * file's bytes (len of them), its header head bytes whose last 8 are its
 * sum, giving nsec sections' sizes at sizes_at and their sums at sums_at
 * (each section after the header at a multiple of 8): with sums, the
 * sections' sums that fit len made right, then the header's; its
 * header's sum. Index files: ph_heapcache_fuzz_resum. */
uint64_t ph_cache_fuzz_resum(uint8_t *file, size_t len, bool sums, size_t head,
			     size_t sizes_at, size_t sums_at, unsigned nsec);
/* The same, of a file whose header is a struct type (sec_bytes, sec_sum,
 * and head_sum last) */
#define PH_CACHE_FUZZ_RESUM(type, file, len, sums, nsec)                       \
	({                                                                     \
		_Static_assert(offsetof(type, head_sum) == sizeof(type) - 8,   \
			       "the header's sum last");                       \
		ph_cache_fuzz_resum(file, len, sums, sizeof(type),             \
				    offsetof(type, sec_bytes),                 \
				    offsetof(type, sec_sum), nsec);            \
	})
uint64_t ph_heapcache_fuzz_resum(uint8_t *file, size_t len, bool sums);
/* The cache file at path (its header's sum head_sum) sealed as it is now,
 * the sections of mask summed whole, whatever it holds: what bit rot
 * under a seal leaves (no write through the file system can). */
bool ph_heapcache_fuzz_seal(const char *path, uint64_t head_sum, uint32_t mask);
#endif

#endif /* PH_HEAPCACHE_H */
