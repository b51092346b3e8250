/* heap.h - every Python object of the process, once: a table indexed by
 * object number, and a table of their types (found by discovery:
 * discover.h); and the object model the rest reads objects through
 * (sizes, references, frames, strings, reprs: the kinds, kinds.h). */
#ifndef PH_HEAP_H
#define PH_HEAP_H

#include "cpython.h"

/* How an object was found (flags). */
#define PH_OBJ_GC_LIST 0x01    /* on a GC generation list (tracked) */
#define PH_OBJ_REFERENCED 0x02 /* a reference from a found object */
#define PH_OBJ_POOL_SCAN 0x04  /* an allocated pymalloc block */
#define PH_OBJ_ROOT 0x08       /* an interpreter or thread root */
/* bits 4-6: GC generation + 1 (4: permanent), 0 when not on a list */
#define PH_GEN_PERMANENT 4

struct ph_type {
	uint64_t addr;
	char *name; /* as repr(type(obj)) shows it */
	uint64_t flags;
	int64_t basicsize, itemsize, dictoffset;
	enum ph_kind kind; /* the layout of the nearest known static base */
	int64_t base_basicsize; /* basicsize of the first static base */
	int64_t kind_basicsize; /* basicsize of the kind's own type */
	uint32_t presize; /* bytes before the object: GC head, managed dict */
	bool heap;
	bool known_object; /* the type object itself is in the table */
	bool leaf;	   /* its objects refer to nothing but their type */
	/* its objects may be static (C's type objects): then they have no
	 * pre-header and are not tracked (ph_obj_is_static) */
	bool may_be_static;
	/* its objects fill their allocation's size class exactly (a kind of
	 * fixed size, no items, no inline values) */
	bool fills_class;
	/* for the pool scan: the bytes (and the size) of each object of a
	 * type whose checks are all fixed by the type, else 0 */
	uint32_t fixed_need;
	/* offsets of object references declared in __slots__ */
	uint32_t *slot_offsets;
	uint64_t *slot_names; /* C strings in the inferior */
	size_t nslots;
	/* words a C type made with PyType_FromSpec adds: scanned as such */
	uint32_t *c_offsets;
	size_t nc_offsets;
	int64_t weaklistoffset;
	/* what its kind keeps of it (type_init): numpy scalars' item size */
	uint32_t kind_data;
	/* totals, filled by the types command (cmd_types) */
	uint64_t count, bytes;
};

/* A type's name as repr(type(obj)) shows it ("?" when unknown). */
static inline const char *ph_type_name(const struct ph_type *t)
{
	return t->name ? t->name : "?";
}

/* (its older name, which the queries call) */
static inline const char *tname(const struct ph_type *t)
{
	return ph_type_name(t);
}

/* Are the objects of type t type objects (t is type or a metaclass)? */
static inline bool ph_type_is_meta(const struct ph_type *t)
{
	return t->kind == PH_KIND_TYPE;
}

#define PH_NONE UINT32_MAX

/* An allocator's page of blocks of one size (a pymalloc pool), in which
 * objects are found, numbered and looked up by a bitmap (objtable.h). */
struct ph_pool {
	uint64_t addr;
	uint32_t block_size;
	uint32_t
		nblocks; /* blocks handed out at some time (below nextoffset) */
	uint32_t first;	 /* number of its first object (objects by address) */
	uint64_t free_bits[16]; /* free-list membership, by block number */
	uint64_t obj_bits[16];	/* objects found, by 16-byte granule */
	uint16_t rank[16];	/* objects in obj_bits words before each */
};

/* Address space as a radix table: per 1 GiB region, one 32-bit slot per
 * unit of its table's size (ph_region_get, ph_region_slot). Pools by
 * address: a pool's number + 1 per POOL_SIZE unit; 0: none. */
struct ph_region {
	uint64_t base; /* 1 GiB aligned */
	uint32_t *slots;
};

/* Free-threaded pages by address: one slot per 64 KiB granule (mimalloc's
 * slices: a page is whole slices, so a granule is one page's): its page's
 * index + 1; 0: none; PH_MI_MANY: more than one (damage), searched. */
#define PH_MI_GRANULE_SHIFT 16
#define PH_MI_MANY UINT32_MAX

/* A mimalloc page (free-threaded builds): its blocks, and which are free
 * (on a free list), for "is there an allocated block at this address". */
struct ph_mi_page {
	uint64_t start, end; /* its blocks */
	uint64_t bsize;
	uint64_t *free_bits; /* by block number */
	unsigned tag;	     /* its heap's: 1 objects, 2 GC, 3 pre-header */
	/* the objects its scan found, numbered from first in block order:
	 * one bit per block, the objects before each 64 blocks */
	uint64_t obj_off; /* the object's offset in its block */
	uint64_t *obj_bits;
	uint32_t *rank;
	uint32_t first;
	/* the interpreter (an index into rt->interps) whose thread state's
	 * heap or abandoned pool it was found in; PH_INTERP_SHARED: unknown
	 * (discovery's: not in the index cache, which keeps each object's) */
	uint8_t interp;
};

struct ph_heap {
	struct ph_runtime *rt;
	struct ph_memory *mem;
	const struct ph_layout *L;
	/* objects, by number */
	uint64_t *addr;
	uint32_t *tidx;
	/* sys.getsizeof(), 4 bytes (every page of this table is new memory,
	 * whose first touch was up to a third of a cold run's CPU in a
	 * virtual machine: docs/performance.md); PH_SIZE_BIG for 4 GiB - 1
	 * or more, which ph_heap_obj_size reads again: use it, never size[]
	 * itself */
	uint32_t *size;
	uint8_t *flags;
	size_t n, cap;
	/* the four arrays above are in a mapped index cache file (heapcache.c),
	 * not allocated */
	void *table_map;
	size_t table_map_len;
	/* with more than one interpreter (rt->ninterps > 1): each object's,
	 * an index into rt->interps, or PH_INTERP_SHARED (immortal, static);
	 * NULL with one (ph_heap_interp) */
	uint8_t *interp;
	/* address -> object number: objects in pymalloc pools are numbered
	 * first, by address, and found by their pool's bitmap; the others
	 * (large, static) through a hash map */
	struct ph_u64map big_index;
	/* an index cache's others (heapcache.c), found before big_index: slot
	 * k (of other_cap, a power of two) holds 1 + the number of an object,
	 * found by its address's hash and compared through addr[] (0: an empty
	 * slot); in the mapped file, or owned (copied out) */
	uint32_t *other_slots;
	size_t other_cap;
	bool other_slots_owned;
	size_t npool_objects;
	bool pools_frozen;	 /* pool objects numbered: ph_objtable_freeze */
	bool pools_mapped;	 /* pools in the index cache's mapped file */
	uint64_t last_type_addr; /* ph_type_register's one-entry cache */
	uint32_t last_tidx;
	/* types, by number */
	struct ph_type *types;
	size_t ntypes, types_cap;
	struct ph_u64map type_index;
	/* pymalloc pools found */
	struct ph_pool *pools;
	size_t npools, pools_cap;
	struct ph_region *regions;
	size_t nregions;
	uint32_t pool_shift;	/* log2 of the pool size */
	uint64_t interned_dict; /* 3.11: its references are not counted */
	/* 3.13+: isolated subinterpreters' own interned dicts, likewise */
	uint64_t *interned_more;
	size_t ninterned_more;
	/* statistics for `info` and notes */
	uint64_t n_gc, n_ref, n_pool, n_root, n_rejected;
	uint64_t pools_inconsistent, gc_list_damaged;
	uint64_t refs_into_missing;  /* references into memory not saved */
	uint64_t gc_bad_objects;     /* on a GC list, with a header not valid */
	uint64_t gc_zeroed_objects;  /* on a GC list, reading as zeros */
	uint64_t gc_zeroed_links;    /* GC lists cut by a link of zeros */
	uint64_t gc_damaged_objects; /* on a GC list, implausible contents */
	/* references objects hold for certain (not guessed) that lead to
	 * no valid object: memory of zeros, an object whose contents are
	 * implausible, or no object at all */
	uint64_t refs_to_zeros, refs_to_damaged, refs_wild;
	struct ph_u64map rejected;	/* the targets of those, counted once */
	struct ph_u64map scan_rejected; /* not types, as the pool scan found */
	uint32_t gc_generations;	/* where the GC lists were found */
	const char *arena_source;
	char arena_source_copy[96]; /* arena_source, as an index cache read */
	/* the index cache (heapcache.c): read from it, written, or ignored
	 * (and why) */
	bool cache_loaded, cache_written, cache_stale;
	/* the index cache read with a seal: its sums not read again */
	bool cache_sealed;
	/* the index cache file's header sum (its key and table's), read or
	 * written: what a cached graph belongs to (graphcache.c); 0: none */
	uint64_t cache_sum;
	char cache_ignored[160];
	/* pymalloc's debug hooks (PYTHONMALLOC=debug, the default of Py_DEBUG
	 * builds) wrap every allocation: a block starts with its size and an
	 * API id (block_head bytes), and ends with guard bytes (block_extra
	 * bytes in all); 0 and 0 without them */
	uint32_t block_head, block_extra;
	/* free-threaded: mimalloc's pages read, by address once sorted */
	struct ph_mi_page *mi_pages;
	size_t nmi_pages, mi_pages_cap;
	bool mi_pages_sorted;
	/* the sorted pages found by address (ph_objtable_mi_page): per GiB
	 * of address space, each 64 KiB granule's page; none: searched */
	struct ph_region *mi_regions;
	size_t nmi_regions;
	/* the pages' bitmaps and ranks in one block, as an index cache read
	 * them (heapcache.c); NULL: each page's its own */
	uint64_t *mi_bits;
};

/* Object i's type number, below h->ntypes however the table was made: a
 * cached table's numbers are checked with its sums, not one by one on a
 * sealed file's every read (8 MB at 2M objects), so a damaged one reads as
 * type 0 instead of indexing past the types. */
static inline uint32_t ph_tidx(const struct ph_heap *h, size_t i)
{
	uint32_t t = h->tidx[i];
	return t < h->ntypes ? t : 0;
}

/* Object i's type (ph_tidx's). */
static inline const struct ph_type *ph_obj_type(const struct ph_heap *h,
						size_t i)
{
	return &h->types[ph_tidx(h, i)];
}

/* ---- the object table (objtable.c), filled by discovery (discover.c) */

/* Finds every object of the process rt reads (discover.c). */
struct ph_error *ph_heap_create(struct ph_runtime *rt, struct ph_heap **ret);
void ph_heap_destroy(struct ph_heap *h);

/* The number of the object at addr, or PH_NONE. */
uint32_t ph_heap_lookup(const struct ph_heap *h, uint64_t addr);

/* The interpreter object o belongs to: an index into h->rt->interps.
 * Objects every interpreter shares (immortal, static) count as the main
 * one's (0), which made most of them. */
static inline unsigned ph_heap_interp(const struct ph_heap *h, uint32_t o)
{
	unsigned k = h->interp ? h->interp[o] : 0;
	return k == PH_INTERP_SHARED ? 0 : k;
}

/* ---- types (kind_type.c) --------------------------------------------- */

/* The type number of the type object at taddr, registered if it is new
 * and plausible (a type object whose own type is type or a subclass of
 * it); -1 if it is none. May move h->types. */
int64_t ph_type_register(struct ph_heap *h, uint64_t taddr);
/* Frees the table of types. */
void ph_type_table_free(struct ph_heap *h);
/* The type number of a known type object, or -1. */
int64_t ph_heap_type_of(struct ph_heap *h, uint64_t type_addr);
/* Is sys.getsizeof() of t's objects what py-heap computes? No when the
 * first __sizeof__ of its MRO is Python code, or a C function of a type
 * py-heap has no size for (pandas' DataFrame, a Cython class's, ctypes'
 * StgDict): their size is then their struct's (and items'). */
bool ph_type_size_exact(struct ph_heap *h, const struct ph_type *t);
/* Could tp be a type object, by its header alone (a count for a
 * refcount, a metaclass for a type)? Cheaper than ph_type_register. */
bool ph_type_looks_like(struct ph_heap *h, uint64_t tp);

/* ---- objects (kinds.c and the kind_*.c files) ------------------------- */

/* An object's refcount from its first word (3.14+: 32 bits and 16 bits of
 * overflow; the flags above are not part of it). */
static inline int64_t ph_refcnt_decode(const struct ph_layout *L, uint64_t w)
{
	if (L->refcnt_split)
		return (int64_t)((w & 0xffffffffULL) | ((w >> 32) & 0xffffULL)
							       << 32);
	return (int64_t)w;
}

#define PH_MAX_REFCNT (1ULL << 40)

/* The bytes of an object's header (through ob_size): 24, free-threaded
 * 40. */
static inline uint32_t ph_hdr_size(const struct ph_layout *L)
{
	return L->ob_type + 16;
}

/* How much further than in a default build an object's fields are (16
 * free-threaded): for offsets no table holds (collections.deque's). */
static inline uint32_t ph_hdr_shift(const struct ph_layout *L)
{
	return L->ob_type - 8;
}

/* The header's type word (hdr: the object's first ph_hdr_size bytes). */
static inline uint64_t ph_hdr_type(const struct ph_layout *L,
				   const uint64_t *hdr)
{
	return hdr[L->ob_type / 8];
}

/* The refcount as sys.getrefcount() computes it from a header. Free-
 * threaded: ob_ref_local (the owning thread's, 32 bits at +12; all ones:
 * immortal, then UINT32_MAX as 3.13's Py_REFCNT says) plus the other
 * threads' ob_ref_shared (+16) shifted past its two flag bits. */
static inline int64_t ph_hdr_refcnt(const struct ph_layout *L,
				    const uint64_t *hdr)
{
	if (L->free_threaded) {
		uint32_t local = (uint32_t)(hdr[1] >> 32);
		if (local == UINT32_MAX)
			return UINT32_MAX;
		return (int64_t)local + ((int64_t)hdr[2] >> 2);
	}
	return ph_refcnt_decode(L, hdr[0]);
}

/* A free-threaded object's ob_gc_bits (1: tracked; 0 in other builds). */
static inline uint8_t ph_hdr_gc_bits(const struct ph_layout *L,
				     const uint64_t *hdr)
{
	return L->free_threaded ? (uint8_t)(hdr[1] >> 24) : 0;
}

/*
 * Is the header's first word w a plausible refcount? in_block: the word
 * starts an allocated pymalloc block (the pool scan), which holds anything:
 * there, a refcount past 32 bits is text or a pointer, not a count
 * (immortal ones are 0xffffffff or less).
 */
static inline bool ph_refcnt_ok(const struct ph_layout *L, const uint64_t *hdr,
				bool in_block)
{
	int64_t refcnt = ph_hdr_refcnt(L, hdr);
	if (refcnt <= 0 || (uint64_t)refcnt >= PH_MAX_REFCNT)
		return false;
	if (L->free_threaded) {
		/* the other threads' part: a count, not a pointer or text */
		int64_t shared = (int64_t)hdr[2] >> 2;
		if (shared >= (int64_t)PH_MAX_REFCNT ||
		    shared <= -(int64_t)PH_MAX_REFCNT)
			return false;
	}
	return !in_block || (uint64_t)refcnt <= 0xffffffffULL;
}

/* The header of the object at addr, or NULL: unreadable, or not at a
 * multiple of 8, where no object is (but a sealed index's rot may say
 * one is: its addresses are checked only when it is summed). */
static inline const uint64_t *ph_obj_hdr(struct ph_heap *h, uint64_t addr)
{
	return addr & 7 ? NULL : ph_mem_ptr(h->mem, addr, ph_hdr_size(h->L));
}

/* The refcount of the object at addr (0 when unreadable). */
static inline int64_t ph_obj_refcnt(struct ph_heap *h, uint64_t addr)
{
	const uint64_t *hdr = ph_obj_hdr(h, addr);
	return hdr ? ph_hdr_refcnt(h->L, hdr) : 0;
}

/* What of the refcount no reference holds: 3.13t's deferred reference
 * counting (ob_gc_bits 64: functions, code, modules, heap types) adds one
 * to ob_ref_local, which the collector takes off again. */
static inline int64_t ph_obj_refcnt_unheld(struct ph_heap *h, uint64_t addr)
{
	const uint64_t *hdr = ph_obj_hdr(h, addr);
	return hdr && (ph_hdr_gc_bits(h->L, hdr) & 64) &&
			       (uint32_t)(hdr[1] >> 32) != UINT32_MAX
		       ? 1
		       : 0;
}

/* Is the object at addr, of type t, a static one (a type object of C)? */
bool ph_obj_is_static(struct ph_heap *h, uint64_t addr,
		      const struct ph_type *t);

/* Bytes before the object: GC head and managed dict, as allocated. */
static inline uint32_t ph_obj_presize(struct ph_heap *h, uint64_t addr,
				      const struct ph_type *t)
{
	if (t->may_be_static && ph_obj_is_static(h, addr, t))
		return 0; /* no GC head */
	return t->presize;
}

/* Is the object tracked by the collector when alive (has a GC head)? */
static inline bool ph_obj_is_gc(struct ph_heap *h, uint64_t addr,
				const struct ph_type *t)
{
	if (!(t->flags & PH_TPFLAGS_HAVE_GC))
		return false;
	return !(t->may_be_static && ph_obj_is_static(h, addr, t));
}

/* sys.getsizeof(): the object's own size and its pre-header. */
uint64_t ph_obj_sizeof(struct ph_heap *h, uint64_t addr,
		       const struct ph_type *t);

#define PH_SIZE_BIG UINT32_MAX
/* Is object i one of the pool scan's, numbered by its pool (so in one of
 * pymalloc's arenas: allocated, never a static object of an image)? */
static inline bool ph_heap_in_pools(const struct ph_heap *h, size_t i)
{
	if (!h->pools_frozen || !h->npools)
		return false;
	size_t base = h->pools[0].first;
	return i >= base && i - base < h->npool_objects;
}

/* Is addr in a loaded file's image (where static objects are: None, small
 * ints, static types), not in memory allocated as the process ran? */
bool ph_heap_addr_in_image(const struct ph_heap *h, uint64_t addr);

/* Is object i a static one, in an image? (a pool's never is) */
static inline bool ph_heap_obj_in_image(const struct ph_heap *h, size_t i)
{
	return !ph_heap_in_pools(h, i) && ph_heap_addr_in_image(h, h->addr[i]);
}

/* Object i's size when the table holds PH_SIZE_BIG: read again. */
uint64_t ph_heap_big_size(const struct ph_heap *h, size_t i);
/* Object i's sys.getsizeof(). */
static inline uint64_t ph_heap_obj_size(const struct ph_heap *h, size_t i)
{
	uint32_t s = h->size[i];
	return s != PH_SIZE_BIG ? s : ph_heap_big_size(h, i);
}
/* A size as the table keeps it. */
static inline uint32_t ph_size_entry(uint64_t size)
{
	return size < PH_SIZE_BIG ? (uint32_t)size : PH_SIZE_BIG;
}
/* The bytes the object occupies itself (its struct and inline items);
 * ob_size is its word at +16. */
uint64_t ph_obj_inline_size(struct ph_heap *h, uint64_t addr,
			    const struct ph_type *t, int64_t ob_size);
/* Are the contents of an object of type t at addr plausible: its sizes and
 * counts within what is possible, its item array, keys table or hash table
 * present? (Whether it fits its allocation is discovery's to check.) */
bool ph_obj_contents_ok(struct ph_heap *h, uint64_t addr,
			const struct ph_type *t, int64_t ob_size);

/* For the pool scan, each object read once: ph_obj_contents_ok, then
 * ph_obj_inline_size (*ret_inline) and sys.getsizeof() without the
 * pre-header (*ret_size). */
bool ph_obj_scan_sizes(struct ph_heap *h, uint64_t addr,
		       const struct ph_type *t, int64_t ob_size,
		       uint64_t *ret_inline, uint64_t *ret_size);

/* The bytes an object occupies itself (its struct and inline items). */
uint64_t ph_heap_inline_size(struct ph_heap *h, uint64_t addr, uint32_t tidx);

/* What a reference is: how the referrer holds it (for labels). */
enum ph_edge_kind {
	PH_EDGE_ITEM,	      /* data: index */
	PH_EDGE_KEY,	      /* data: the key object, itself */
	PH_EDGE_VALUE,	      /* data: the key object's address */
	PH_EDGE_ATTR,	      /* data: the name (str object) */
	PH_EDGE_SLOT,	      /* data: the name (C string address) */
	PH_EDGE_FIELD,	      /* data: a static C string: the field name */
	PH_EDGE_CONSERVATIVE, /* data: byte offset in the referrer */
	PH_EDGE_WEAK,	      /* data: a static C string; keeps nothing alive */
	PH_EDGE_BORROWED, /* data: a static C string; a pointer that holds no
			     reference (3.11+ frames' f_globals) */
	PH_EDGE_LOCAL,	  /* data: the variable's name (str object) */
	PH_EDGE_STACK,	  /* data: index on the frame's value stack */
	PH_EDGE_COUNT_,
};

static inline bool ph_edge_is_strong(enum ph_edge_kind k)
{
	return k != PH_EDGE_WEAK && k != PH_EDGE_BORROWED;
}

typedef void (*ph_referent_fn)(void *arg, uint64_t target,
			       enum ph_edge_kind kind, uint64_t data);

/* The label of every object's reference to its type (PH_EDGE_FIELD,
 * "__class__"): compared by address. */
extern const char ph_class_field[];

/* Calls fn for every reference the object at addr, of type number tidx,
 * holds: its type first, then as its kind holds them, then what a class
 * adds (__slots__, a __dict__). */
void ph_heap_referents(struct ph_heap *h, uint64_t addr, uint32_t tidx,
		       ph_referent_fn fn, void *arg);
/* The same, for a callback that registers no type, so that h->types
 * stays where it is (the closure's and the graph's threads, which only
 * read): the type is read in place, not copied. */
void ph_heap_referents_fixed(struct ph_heap *h, uint64_t addr, uint32_t tidx,
			     ph_referent_fn fn, void *arg);

/* ---- frames (kind_frame.c) ------------------------------------------- */

/* The references an interpreter frame (3.11+: _PyInterpreterFrame; up to
 * 3.10 a frame object) holds: function, globals, code, locals by name and
 * the value stack. */
void ph_heap_iframe_referents(struct ph_heap *h, uint64_t iframe,
			      ph_referent_fn fn, void *arg);

/* A thread state's current frame (3.11+ an interpreter frame). */
uint64_t ph_heap_thread_frame(struct ph_heap *h, uint64_t ts);

/* Function name, file and current line of an interpreter frame. */
bool ph_heap_iframe_location(struct ph_heap *h, uint64_t iframe, char *func,
			     size_t func_size, char *file, size_t file_size,
			     int *ret_line);

/* ---- scalars (kind_str.c) -------------------------------------------- */

/* The number of 30-bit digits of an int (its sign in *negative). */
int64_t ph_heap_long_digits(struct ph_heap *h, uint64_t addr, bool *negative);

/* Reads a str object as UTF-8 into out (max bytes with the NUL; a longer
 * one is cut, and ends in ...); its length in *ret_len (may be NULL). */
bool ph_heap_str(struct ph_heap *h, uint64_t addr, char *out, size_t max,
		 size_t *ret_len);

/* The interned-strings dict, whose references are not counted (every
 * version but 3.12, where interned strings are immortal), found among the
 * objects: sets h->interned_dict. */
void ph_heap_find_interned(struct ph_heap *h);

/* Is the dict at addr an interpreter's interned-strings dict? */
static inline bool ph_heap_is_interned_dict(const struct ph_heap *h,
					    uint64_t addr)
{
	if (addr == h->interned_dict)
		return true;
	for (size_t i = 0; i < h->ninterned_more; i++)
		if (addr == h->interned_more[i])
			return true;
	return false;
}

/* ---- reprs (kinds.c, kind_str.c) ------------------------------------- */

/* Any object, briefly: 'text', 42, <dict of 3 items>, <Foo object at ..>
 * (its kind's repr operation). */
void ph_repr_object(struct ph_heap *h, uint64_t addr, uint32_t tidx,
		    struct ph_buf *out);
/* A str object as repr() would show it, cut after max characters. */
void ph_repr_str(struct ph_heap *h, uint64_t addr, struct ph_buf *out,
		 size_t max);

/* An object as people read it (readable.c; struct ph_readable_opts:
 * internal.h): containers with their items
 * ([1, 'a'], {'k': (2,)}), instances with their attributes as libpython's
 * py-print writes them (<Session(user_id=3, token='t') at remote 0x...>),
 * bytes as literals, a container inside itself as [...], {...}, <...>;
 * else as ph_repr_object. */
void ph_repr_readable(struct ph_heap *h, uint64_t addr,
		      const struct ph_readable_opts *o, struct ph_buf *out);

#endif /* PH_HEAP_H */
