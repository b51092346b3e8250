/* memory.h - one reader over a process image's memory, whatever its source. */
#ifndef PH_MEMORY_H
#define PH_MEMORY_H

#include "internal.h"

/*
 * A segment is a range of the inspected process's address space. Its bytes
 * are either present (data points at them: the core's own pages, a file
 * mapped from disk) or known to exist but not saved (data is NULL).
 */
struct ph_segment {
	uint64_t start, end;
	const uint8_t *data;
	bool writable;
	bool from_file; /* read-only data taken from the file on disk */
	/* where the piece from here ends: the segments after this one that
	 * follow it in memory and in data (a live mapping is one copy cut
	 * where the untouched pages begin), by ph_memory_finish */
	uint64_t run_end;
};

struct ph_memory {
	struct ph_segment *segs; /* sorted by start, not overlapping */
	size_t nsegs, cap;
	uint64_t bytes_missing; /* bytes of segments not saved */
	uint64_t id;		/* new whenever the segments change; never 0 */
	bool live; /* a running process's copy: what is missing was not copied
		    */
	/* the mapped file the segments' data lie in (a core), for
	 * ph_memory_read_whole; NULL for a live process's copy */
	uint8_t *file_map;
	size_t file_map_len;
	int file_fd;	 /* the file mapped there, for ph_mem_read_once */
	bool read_whole; /* ph_memory_read_whole was called */
};

void ph_memory_init(struct ph_memory *m);
void ph_memory_free(struct ph_memory *m);
/* Adds a segment; segments added later never override earlier ones. */
struct ph_error *ph_memory_add(struct ph_memory *m, uint64_t start,
			       uint64_t end, const uint8_t *data, bool writable,
			       bool from_file);
/* Sorts the segments and resolves overlaps: call once after adding. */
struct ph_error *ph_memory_finish(struct ph_memory *m);

const struct ph_segment *ph_memory_find(struct ph_memory *m, uint64_t addr);

/*
 * Every page of the image is about to be read (a scan of the whole heap,
 * not a cached index's few reads): the mapped file is asked for in huge
 * pages, so that the kernel reads it ahead in 2 MiB folios and maps each
 * with one entry where it can. A hint: nothing changes where it cannot
 * (PYHEAP_CORE_HUGE=0 never asks). Once per map; the heap's scan and
 * the graph's building (after a cached index) both call it.
 */
void ph_memory_read_whole(struct ph_memory *m);

/*
 * The heap's pages (the writable segments the core saved) brought into
 * the mapping by a thread of its own while the caller does something
 * else that needs no heap (the DWARF check of a first run): a first
 * touch of a mapped page costs microseconds under a hypervisor that
 * shadows the guest's page tables (PVM), one page after another, and the
 * scan after it finds them mapped. Only for a core that will be read
 * whole (it calls ph_memory_read_whole first); NULL where there is
 * nothing to do or no thread. ph_prefault_stop stops it where it is and
 * waits for it.
 */
struct ph_prefault;
struct ph_prefault *ph_memory_prefault_start(struct ph_memory *m);
void ph_prefault_stop(struct ph_prefault *p);

/*
 * The last two segments a thread read from, a cache for ph_mem_ptr (an
 * object and what it points to are often in two): per thread so that
 * several threads may read one memory map, and keyed by the map's id so
 * that an entry left by another map (or an older version of this one)
 * never matches. A hit is a compare and a subtraction: most reads of a
 * heap are hits.
 */
struct ph_mem_cache {
	uint64_t id, start, size;
	const uint8_t *data;
};
extern __thread struct ph_mem_cache ph_mem_cache[2]
	__attribute__((tls_model("initial-exec")));

/* ph_mem_ptr past the cache: the segment found replaces the entry used
 * less recently. */
const void *ph_mem_ptr_slow(struct ph_memory *m, uint64_t addr, size_t len);

/* A pointer to len bytes at addr if all are present in one segment, or in
 * segments whose data follow each other. */
static inline __attribute__((always_inline)) const void *
ph_mem_ptr(struct ph_memory *m, uint64_t addr, size_t len)
{
	/* (indexed, not through a pointer to the array: UBSan takes the
	 * thread-local array's address for a null pointer) */
	uint64_t off = addr - ph_mem_cache[0].start; /* below: wraps, no */
	if (ph_mem_cache[0].id == m->id && len <= ph_mem_cache[0].size &&
	    off <= ph_mem_cache[0].size - len)
		return ph_mem_cache[0].data + off;
	off = addr - ph_mem_cache[1].start;
	if (ph_mem_cache[1].id == m->id && len <= ph_mem_cache[1].size &&
	    off <= ph_mem_cache[1].size - len)
		return ph_mem_cache[1].data + off;
	return ph_mem_ptr_slow(m, addr, len);
}

/* Reads len bytes; a typed fault (PH_ERR_FAULT, PH_ERR_NOT_SAVED) if not. */
struct ph_error *ph_mem_read(struct ph_memory *m, uint64_t addr, void *buf,
			     size_t len);

static inline __attribute__((always_inline)) bool
ph_mem_u64(struct ph_memory *m, uint64_t addr, uint64_t *ret)
{
	const uint64_t *p = ph_mem_ptr(m, addr, 8);
	if (!p)
		return false;
	__builtin_memcpy(ret, p, 8);
	return true;
}

static inline __attribute__((always_inline)) bool
ph_mem_u32(struct ph_memory *m, uint64_t addr, uint32_t *ret)
{
	const uint32_t *p = ph_mem_ptr(m, addr, 4);
	if (!p)
		return false;
	__builtin_memcpy(ret, p, 4);
	return true;
}

static inline bool ph_mem_u16(struct ph_memory *m, uint64_t addr, uint16_t *ret)
{
	const uint16_t *p = ph_mem_ptr(m, addr, 2);
	if (!p)
		return false;
	__builtin_memcpy(ret, p, 2);
	return true;
}

static inline bool ph_mem_u8(struct ph_memory *m, uint64_t addr, uint8_t *ret)
{
	const uint8_t *p = ph_mem_ptr(m, addr, 1);
	if (!p)
		return false;
	*ret = *p;
	return true;
}

/* ph_mem_read of bytes read once (a module's build-id): those in the
 * mapped file are read from it with pread, its pages not touched (a first
 * touch costs more than the read where page tables are shadowed). */
struct ph_error *ph_mem_read_once(struct ph_memory *m, uint64_t addr, void *buf,
				  size_t len);

/* Reads a NUL-terminated string of at most max bytes into a new buffer. */
struct ph_error *ph_mem_strdup(struct ph_memory *m, uint64_t addr, size_t max,
			       char **ret);

#endif /* PH_MEMORY_H */
