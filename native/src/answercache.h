/* answercache.h - the answers' cache: what cycles, refcheck and the
 * dominator tree computed for a whole core, kept beside its index and
 * graph caches and read by later runs (answercache.c). */
#ifndef PH_ANSWERCACHE_H
#define PH_ANSWERCACHE_H

#include "graph.h"

#define PH_ANSWER_SECS 12
#define PH_ANSWER_VALS 16

/* One answer read back: its sections (arrays, each at a multiple of 8
 * bytes, checked against their sums, not against their meaning: the
 * caller checks every number it indexes with) and its numbers. */
struct ph_answers {
	void *sec[PH_ANSWER_SECS];
	uint64_t bytes[PH_ANSWER_SECS];
	uint64_t val[PH_ANSWER_VALS];
	void *map;
	size_t map_len;
	/* a sealed file's, its check not run (ac_load's rows): each number
	 * read is to be checked as it is read */
	bool unchecked;
};

/* The answer called kind (a short name: "cycles"), of format format, with
 * nsec sections, for h: if h's table came from or went to the index cache
 * and the answer's file is there, of that table, and intact; else false
 * (the answer is to be computed). ph_answercache_release unmaps it. */
bool ph_answercache_load(const struct ph_heap *h, const char *kind,
			 unsigned format, int nsec, struct ph_answers *ret);
/* The same for a caller that checks each number it reads: check(a, ctx)
 * run on the sections beside their sums (on bytes not yet known intact:
 * it must be safe on any), false from it and the answer is not taken; a
 * sealed file, its sums not read again, is taken without it
 * (ret->unchecked). */
bool ph_answercache_load_rows(const struct ph_heap *h, const char *kind,
			      unsigned format, int nsec,
			      bool (*check)(const struct ph_answers *a,
					    void *ctx),
			      void *ctx, struct ph_answers *ret);
void ph_answercache_release(struct ph_answers *a);
/* Writes the answer (nsec sections and PH_ANSWER_VALS numbers) to its
 * file, atomically, if h's table is in the index cache and the file stays
 * within its bound. */
bool ph_answercache_store(const struct ph_heap *h, const char *kind,
			  unsigned format, int nsec, const void *const *sec,
			  const uint64_t *bytes, const uint64_t *val);

/* Checks for the callers: are the count numbers at v all below lim (or
 * equal to except)? Do they ascend strictly? */
bool ph_answercache_below(const uint32_t *v, size_t count, uint32_t lim,
			  uint32_t except);
bool ph_answercache_ascending(const uint32_t *v, size_t count);

/* The dominator tree of h's graph, from its file, checked (positions a
 * permutation, subtrees within the tree); or written there. rows: the
 * caller reads a few objects' entries through ph_domtree_pos, so a sealed
 * file is not checked whole (d->unchecked). */
bool ph_answercache_domtree_load(const struct ph_heap *h, bool rows,
				 struct ph_domtree **ret);
bool ph_answercache_domtree_store(const struct ph_heap *h,
				  const struct ph_domtree *d);

/* A command's output, its final bytes (sec[0], val[1] bytes), the notes
 * its run added (sec[1]: records of a 32-bit code, a 32-bit length and
 * the message) and whether it was partial (val[0]), kept under key (the
 * command, its options, what else the output depends on: the caller's)
 * for the index cache rt's core has now: read without the index's
 * sections, or written after a run that loaded that index (h) or read
 * what such a run kept (h NULL: the index's identity as the read's). */
/* Whether outputs are kept at all for rt's core: its index cache
 * (ph_heapcache_wanted), and PYHEAP_NO_OUTPUT_CACHE unset or 0. Asked
 * before a key is made (a diff's opens its BEFORE). */
bool ph_answercache_outputs_on(const struct ph_runtime *rt);
bool ph_answercache_output_load(const struct ph_runtime *rt, const void *key,
				size_t key_len, struct ph_answers *ret);
bool ph_answercache_output_store(const struct ph_runtime *rt,
				 const struct ph_heap *h, const void *key,
				 size_t key_len, const void *out,
				 size_t out_len, const void *notes,
				 size_t notes_len, bool partial);

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* For the cache files' fuzzer only: as ph_heapcache_fuzz_resum, of an
 * answer's file. */
uint64_t ph_answercache_fuzz_resum(uint8_t *file, size_t len, bool sums);
#endif

#endif /* PH_ANSWERCACHE_H */
