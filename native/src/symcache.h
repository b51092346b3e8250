/* symcache.h - what the runtime looked up in a module's symbol tables,
 * kept in the cache directory by the module's build-id: a second run on a
 * process of the same build does not read tens of thousands of symbols
 * to find forty (docs/performance.md, "The cached path"). */
#ifndef PH_SYMCACHE_H
#define PH_SYMCACHE_H

#include "target.h"

struct ph_symcache;

/* The module's cached lookups, when its file holds valid ones (else an
 * empty record, filled as lookups are made); NULL without memory. The
 * module outlives it. */
struct ph_symcache *ph_symcache_open(const struct ph_module *mod);
/* Writes what was looked up that the file did not hold, then frees. */
void ph_symcache_close(struct ph_symcache *c);

/* ph_module_symbol and ph_module_objects_of_size (c not NULL), from the
 * record when it has the answer. */
bool ph_symcache_symbol(struct ph_symcache *c, const char *name,
			uint64_t *ret_addr, uint64_t *ret_size);
/* (the names are not kept: fn gets "") */
void ph_symcache_objects_of_size(struct ph_symcache *c, uint64_t size,
				 void (*fn)(void *arg, const char *name,
					    uint64_t addr),
				 void *arg);
/* Did the record answer every lookup made through it? */
bool ph_symcache_all_cached(const struct ph_symcache *c);

/* A file's entries decoded into c, replacing its record (for tests and
 * fuzzing): false, and an empty record, when any part of it is not valid
 * or it is not of c's module and this py-heap's build. */
bool ph_symcache_decode(struct ph_symcache *c, const uint8_t *data, size_t len);

#endif /* PH_SYMCACHE_H */
