/* snapshot.h - py-heap's snapshot file: what a later diff needs of a heap,
 * compact and versioned (docs/design.md, "The snapshot file", byte by
 * byte). The types; each object's address, type, size, GC generation and a
 * fingerprint of what it holds; the shortest-path tree from the roots and
 * the names of the objects that tree branches at (the containers).
 *
 * snapshot.c reads and writes the format and nothing else: a file is
 * sectioned, each section checksummed, and every count, offset, index and
 * string is checked on read before it is used; a damaged, truncated or
 * foreign file is refused with an error that says what is wrong with it.
 * snapshot_build.c makes one from a heap and its graph. */
#ifndef PH_SNAPSHOT_H
#define PH_SNAPSHOT_H

#include "answercache.h"
#include "graph.h"

/* The first 8 bytes of every snapshot file (a core starts "\x7fELF"). */
#define PH_SNAP_MAGIC "\x89PYHEAP\n"
#define PH_SNAP_MAGIC_LEN 8
/* Format version: a reader refuses another major version; a newer minor
 * adds only what an older reader may skip. */
#define PH_SNAP_MAJOR 2
#define PH_SNAP_MINOR 0
/* Format 1 (fingerprint version 1, 16 bits) is still read. */
#define PH_SNAP_MAJOR_OLDEST 1
/* The fingerprint function's version (ph_snap_fingerprint). Version 2 is
 * 32 bits; version 1 was its 16-bit fold (ph_snap_fp_fold16), so the two
 * are compared folded. */
#define PH_SNAP_FP_VERSION 2

/* Type flags */
#define PH_SNAP_TYPE_FP 1   /* its objects carry a fingerprint */
#define PH_SNAP_TYPE_HEAP 2 /* a heap type (a class) */

/* GC models: what a change of generation tells (query_diff.c) */
enum ph_snap_gc_model {
	PH_SNAP_GC_GENERATIONS = 0, /* 3.8-3.13: an object only ever ages */
	PH_SNAP_GC_INCREMENTAL = 1, /* 3.14+: young, then two old spaces */
};

/* Limits a file is held to (the reader refuses more). */
#define PH_SNAP_MAX_OBJECTS 0x7fffffffULL
#define PH_SNAP_MAX_SIZE (1ULL << 40) /* one object's getsizeof */
#define PH_SNAP_MAX_STRING 65536      /* a name, a label, a source */
#define PH_SNAP_MAX_SECTIONS 64

struct ph_snap_type {
	char *name; /* as repr(type(obj)) shows it */
	uint64_t addr;
	uint32_t kind; /* enum ph_kind */
	uint32_t flags;
	uint64_t usual; /* the size most of its objects have (size coding) */
	uint64_t count, bytes;
};

struct ph_snap {
	/* where it comes from */
	char *pyheap_version; /* of the py-heap that made it */
	char *python;	      /* "3.11.2" */
	char *origin;	      /* "core" or "process" */
	char *source;	      /* the core's path, "process 1234" */
	char *exe;	      /* the executable's path */
	uint32_t hexversion;
	int64_t pid;	       /* 0: unknown */
	uint8_t at_random[16]; /* the kernel's 16 random bytes of this exec */
	bool has_random;
	uint8_t build_id[64]; /* the executable's */
	size_t build_id_len;
	uint64_t runtime_addr; /* _PyRuntime */
	int64_t time_us;  /* when it was read: µs since 1970, 0: unknown */
	double paused_ms; /* a live process: how long it was stopped */
	uint32_t gc_model;
	uint32_t fp_version;
	bool partial;	    /* the heap was damaged: objects may be missing */
	uint32_t names_min; /* objects with this many children are named */
	/* snapshot --interp ID: it holds the objects of the interpreter of
	 * that id alone (META entry 19; an older reader skips it) */
	bool has_interp;
	int64_t interp;
	uint64_t bytes; /* all objects' sizes */
	/* objects, by address (strictly ascending) */
	size_t n;
	uint64_t *addr;
	uint32_t *type; /* index into types */
	uint64_t *size;
	uint32_t *fp; /* 0 for types without PH_SNAP_TYPE_FP */
	uint8_t *gen; /* 0: on no GC list; 1-3: generation 0-2; 4: permanent */
	/* the shortest-path tree: PH_NONE (no root reaches it), PH_ROOT_BIT |
	 * root, or the object it is reached from; NULL when not saved */
	uint32_t *parent;
	/* types, most objects first */
	struct ph_snap_type *types;
	size_t ntypes;
	/* the roots' names (parent's PH_ROOT_BIT | r names roots[r]) */
	char **roots;
	size_t nroots;
	/* named objects, ascending, and how each one's parent holds it (""
	 * under a root); every ancestor of a named object is named */
	uint32_t *named;
	char **labels;
	size_t nnamed;
	/* Made from a heap (ph_snap_create), the objects are read from it,
	 * not copied: addr, type, size, gen and parent are NULL (the
	 * accessors below read them); heap_index gives each object's number
	 * in the heap, rank maps the heap's type numbers to types[], and
	 * graph (when the tree was asked for) holds the tree, in heap
	 * numbers. A heap is most of the memory a diff touches: on machines
	 * where a fresh page is dear, a copy costs more than reading. */
	struct ph_heap *heap;
	struct ph_graph *graph;
	uint32_t *heap_index;
	uint32_t *rank;
	/* heap_index is ph_big_alloc's, of this size (a diff of 10M objects
	 * writes 80 MB of it) */
	size_t index_bytes;
	/* every heap object's fingerprint, by its number in the heap (0 for
	 * types without one), unless a diff's, not cached, computes them as
	 * it asks (PH_SNAP_LAZY_FP): the answers' cache's (fp_ans, mapped),
	 * or made here (ph_big_alloc's, heap_fp_bytes); fp stays NULL */
	const uint32_t *heap_fp;
	size_t heap_fp_bytes;
	struct ph_answers fp_ans;
	/* read from a file: its columns (and parent) are ph_big_alloc's of
	 * big_n entries; 0: malloc'ed (or a heap's) */
	size_t big_n;
};

static inline uint64_t ph_snap_addr(const struct ph_snap *s, size_t i)
{
	return s->heap ? s->heap->addr[s->heap_index[i]] : s->addr[i];
}

/* The first of the objects (in address order) at addr or above; s->n if
 * none is. */
static inline size_t ph_snap_lower_bound(const struct ph_snap *s, uint64_t addr)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ph_snap_addr(s, mid) < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static inline uint32_t ph_snap_type(const struct ph_snap *s, size_t i)
{
	return s->heap ? s->rank[ph_tidx(s->heap, s->heap_index[i])]
		       : s->type[i];
}

static inline uint64_t ph_snap_size(const struct ph_snap *s, size_t i)
{
	if (!s->heap)
		return s->size[i];
	uint64_t v = ph_heap_obj_size(s->heap, s->heap_index[i]);
	return v > PH_SNAP_MAX_SIZE ? PH_SNAP_MAX_SIZE : v;
}

/* 0: on no GC list; 1-3: generation 0-2; 4: permanent */
static inline uint8_t ph_snap_gen(const struct ph_snap *s, size_t i)
{
	if (!s->heap)
		return s->gen[i];
	unsigned g = (s->heap->flags[s->heap_index[i]] >> 4) & 7;
	return (uint8_t)(g > 4 ? 0 : g);
}

static inline bool ph_snap_has_tree(const struct ph_snap *s)
{
	return s->parent || (s->heap && s->graph);
}

void ph_snap_destroy(struct ph_snap *s);

/* What a file is, by its first bytes. */
enum ph_file_kind {
	PH_FILE_OTHER,
	PH_FILE_CORE,	  /* an ELF file */
	PH_FILE_SNAPSHOT, /* PH_SNAP_MAGIC */
};
struct ph_error *ph_file_kind(const char *path, enum ph_file_kind *ret);

/* The file's bytes: a header, a section table, sections. ret is
 * malloc'ed. */
struct ph_error *ph_snap_encode(const struct ph_snap *s, uint8_t **ret,
				size_t *ret_len);
/* Writes the file at path (through a temporary file in its directory,
 * renamed: an interrupted write leaves no half file; what is there and is
 * not a file, such as /dev/null or a pipe, is written to in place); its
 * size in *ret_len. */
struct ph_error *ph_snap_write(const struct ph_snap *s, const char *path,
			       size_t *ret_len);

/* Reads a file's bytes; name is what errors call it. Nothing is
 * trusted: a damaged, cut or foreign file is PH_ERR_BAD_SNAPSHOT. */
struct ph_error *ph_snap_decode(const uint8_t *data, size_t len,
				const char *name, struct ph_snap **ret);
struct ph_error *ph_snap_read(const char *path, struct ph_snap **ret);

/* What tells this file's contents from any other's without reading them
 * all, appended to b (a cache's key): its device, inode, size, mtime and
 * ctime, its header and its section table (every section's checksum).
 * False when it is not a snapshot file whose header and table are
 * intact. */
bool ph_snap_identity(const char *path, struct ph_buf *b);

/* The name of the object at index i of a snapshot read from a file, as a
 * path from its root ("module __main__ ['CACHE']"), into out: exact when it
 * is named; else its nearest named ancestor's followed by " ...". False
 * when no root reaches it or nothing is saved. */
bool ph_snap_path(const struct ph_snap *s, uint32_t i, struct ph_buf *out);

/* CRC-32C (Castagnoli) of n bytes, continuing from crc (0 to start). */
uint32_t ph_crc32c(uint32_t crc, const void *data, size_t n);

/* ---- made from a heap (snapshot_build.c) ---- */

/* Flags for ph_snap_create */
#define PH_SNAP_WITH_TREE 1  /* the parent tree and roots (a graph) */
#define PH_SNAP_WITH_NAMES 2 /* and the names of the tree's branches */
/* no fingerprints made unless the heap's index is cached (then read or
 * made and kept): ph_snap_fp computes one when asked (a diff's sides,
 * which compare those of the objects at one address on both) */
#define PH_SNAP_LAZY_FP 4
/* only the objects of one interpreter (its index in rt->interps): diff
 * and snapshot --interp ID; a file says which (has_interp, interp) */
#define PH_SNAP_INTERP(k) ((unsigned)((k) + 1) << 16)

/* The objects of h in address order, fingerprinted (and, with
 * PH_SNAP_WITH_TREE, g's tree and roots; g must be complete). It reads h
 * and g, which must outlive it. The process's identity (pid, its
 * AT_RANDOM bytes, executable) comes from the target; where and when it
 * was read (origin, source, time_us, paused_ms) from the caller. */
struct ph_error *ph_snap_create(struct ph_heap *h, struct ph_graph *g,
				unsigned flags, struct ph_snap **ret);
/* g's tree and roots added to a snapshot made of g's heap without them
 * (a diff builds its after side's graph once the objects are matched);
 * nothing if g has no tree or s has one. g must outlive s. */
struct ph_error *ph_snap_add_tree(struct ph_snap *s, struct ph_graph *g);

/* A fingerprint of what an object holds, for the kinds whose contents
 * never change (str, bytes, int, float, tuple, frozenset, code, bound
 * methods): 0 for the others. kind_fp tells which kinds have one. */
uint32_t ph_snap_fingerprint(struct ph_heap *h, uint64_t addr, uint32_t tidx);

/* The fingerprint of object i, of a type with PH_SNAP_TYPE_FP (version
 * s->fp_version): the one made or read, or computed now. */
static inline uint32_t ph_snap_fp(const struct ph_snap *s, size_t i)
{
	if (s->fp)
		return s->fp[i];
	uint32_t hi = s->heap_index[i];
	if (s->heap_fp)
		return s->heap_fp[hi];
	return ph_snap_fingerprint(s->heap, s->heap->addr[hi],
				   ph_tidx(s->heap, hi));
}

/* A version 2 fingerprint as version 1 had it. */
static inline uint32_t ph_snap_fp_fold16(uint32_t fp)
{
	return (fp ^ fp >> 16) & 0xffff;
}
bool ph_snap_kind_fp(uint32_t kind);

/* Objects with at least this many children in the shortest-path tree are
 * named in a snapshot (with their ancestors). */
#define PH_SNAP_NAMES_MIN 8

#endif /* PH_SNAPSHOT_H */
