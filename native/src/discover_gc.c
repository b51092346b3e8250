/*
 * discover_gc.c - the collector's generation lists: every tracked object,
 * with its generation. Objects the page scan found get their list's flag;
 * the others are added. A list is walked from both ends at once on two
 * threads, and walked again alone, carefully, when anything about it is
 * unusual.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"

static uint64_t writable_bytes(struct ph_heap *h)
{
	uint64_t n = 0;
	for (size_t i = 0; i < h->mem->nsegs; i++)
		if (h->mem->segs[i].data && h->mem->segs[i].writable)
			n += h->mem->segs[i].end - h->mem->segs[i].start;
	return n;
}

/*
 * A GC list walked from both ends at once, one thread following the next
 * links from the head and one the prev links from the tail, until they
 * meet: the walk is a chain of cache misses, and two chains take half the
 * time. The threads only do what a healthy list needs: an object the pool
 * scan found gets the list's flag, claimed with a compare-and-swap so that
 * each object is taken by one thread, and the first object the forward
 * thread finds taken by the other is where they met, the last one the
 * backward thread took; the backward thread checks that each step agrees
 * with the next link, so its path read backwards is the path the forward
 * walk would have taken. While walking, a thread's claims carry a
 * generation of its own (GCW_FORWARD, GCW_BACKWARD), given the list's in
 * one pass over the flags afterwards, or taken back in one if anything is
 * wrong: so the objects claimed need not be kept, only those not found yet,
 * in list order, added afterwards, alone. Anything else (damage, an object
 * on two lists) undoes the walk and the list is walked again the careful
 * way.
 */
#define GCW_FORWARD 5 /* generations no list has (1-4) */
#define GCW_BACKWARD 6

struct gcw_node {
	uint64_t g;    /* the node (the object is at g + 16) */
	uint64_t step; /* its place in the thread's walk */
};

struct gcw_ctx {
	struct ph_heap *h;
	uint64_t head, bound;
	bool back;
	/* the nodes visited whose objects were not found yet, in walk order */
	struct gcw_node *nodes;
	size_t n, cap;
	uint64_t meet;	     /* forward: the node found taken by the other */
	uint64_t last_claim; /* backward: its last claim, and its step */
	uint64_t last_claim_step;
	bool at_head, anomaly;
	uint64_t claimed;
	size_t claim_lo, claim_hi; /* the objects claimed: in [lo, hi) */
};

/* Claims the object whose flags are at f for a walk (mine: its list bit
 * and generation), unless it is on a list already or another walk's:
 * the flags as they were before. */
static inline uint8_t gcw_claim(uint8_t *f, uint8_t mine)
{
	uint8_t old = __atomic_load_n(f, __ATOMIC_RELAXED);
	while (!(old & PH_OBJ_GC_LIST) &&
	       !__atomic_compare_exchange_n(f, &old, (uint8_t)(old | mine),
					    true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
	return old;
}

static void *gcw_worker(void *arg)
{
	struct gcw_ctx *c = arg;
	struct ph_heap *h = c->h;
	unsigned my_gen = c->back ? GCW_BACKWARD : GCW_FORWARD;
	unsigned other_gen = c->back ? GCW_FORWARD : GCW_BACKWARD;
	uint8_t mine = (uint8_t)(PH_OBJ_GC_LIST | my_gen << 4);
	const int link = c->back ? 1 : 0;
	uint64_t prev = c->head, g;
	if (!ph_mem_u64(h->mem, c->head + (c->back ? 8 : 0), &g)) {
		c->anomaly = true;
		return NULL;
	}
	g &= ~3ULL;
	/* in locals: the flags' stores (bytes) may alias anything in *c */
	uint64_t steps = 0, claimed = 0, last_claim = 0, last_claim_step = 0;
	size_t claim_lo = SIZE_MAX, claim_hi = 0;
	for (;; steps++) {
		if (g == c->head) {
			c->at_head = true;
			break;
		}
		if (steps > c->bound || !g || (g & 7) ||
		    (!(steps & 0xffff) && ph_interrupted())) {
			c->anomaly = true;
			break;
		}
		const uint64_t *w = ph_mem_ptr(h->mem, g, 32);
		if (!w || (link && (w[0] & ~3ULL) != prev)) {
			c->anomaly = true;
			break;
		}
		uint64_t obj = g + 16;
		uint32_t known = ph_objtable_lookup(h, obj);
		if (known != PH_NONE) {
			/* (its type is the one the pool scan read there) taken
			 * only if on no list yet: the flags of an object on
			 * another list (damage) stay as they were */
			uint8_t old = gcw_claim(&h->flags[known], mine);
			if (old & PH_OBJ_GC_LIST) {
				if (((old >> 4) & 7) == other_gen && !link)
					c->meet = g;
				else if (((old >> 4) & 7) != other_gen)
					c->anomaly = true;
				break;
			}
			claimed++;
			if (known < claim_lo)
				claim_lo = known;
			if (known >= claim_hi)
				claim_hi = (size_t)known + 1;
			last_claim = g;
			last_claim_step = steps;
		} else {
			if (c->n == c->cap) {
				struct ph_error *e =
					ph_grow((void **)&c->nodes, &c->cap,
						c->n + 1, sizeof(*c->nodes));
				if (e) {
					ph_error_destroy(e);
					c->anomaly = true;
					break;
				}
			}
			c->nodes[c->n++] = (struct gcw_node){g, steps};
		}
		prev = g;
		g = w[link] & ~3ULL;
	}
	c->claimed = claimed;
	c->claim_lo = claim_lo;
	c->claim_hi = claim_hi;
	c->last_claim = last_claim;
	c->last_claim_step = last_claim_step;
	return NULL;
}

/*
 * The walk's claims, 8 flags at a time: given the list's generation (gen),
 * or taken back (gen 0: as they were before the walk). Only the objects
 * [lo, hi) are looked at: the walk claimed none outside them. A flag byte is
 * the walk's when its generation is GCW_FORWARD (101) or GCW_BACKWARD (110):
 * bit 6 and one of bits 5 and 4.
 */
static void gcw_settle(struct ph_heap *h, unsigned gen, size_t lo, size_t hi)
{
	_Static_assert(GCW_FORWARD == 5 && GCW_BACKWARD == 6 &&
			       PH_OBJ_GC_LIST == 1,
		       "gcw_settle's bit patterns");
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t set =
		gen ? ones * (uint8_t)(PH_OBJ_GC_LIST | gen << 4) : 0;
	/* whole words, then the last (its missing bytes zero: never the
	 * walk's) */
	for (size_t i = lo & ~(size_t)7; i < hi; i += 8) {
		size_t len = h->n - i >= 8 ? 8 : h->n - i;
		uint64_t w = 0;
		if (len == 8)
			memcpy(&w, h->flags + i, 8);
		else
			memcpy(&w, h->flags + i, len);
		uint64_t m = (w >> 2) & ((w >> 1) | w) & (ones << 4);
		if (!m)
			continue;
		uint64_t mask =
			(m >> 4) * 0x71; /* its generation and list bit */
		w = (w & ~mask) | (set & mask);
		if (len == 8)
			memcpy(h->flags + i, &w, 8);
		else
			memcpy(h->flags + i, &w, len);
	}
}

/* An object on a GC list that was not found before: added, or counted as
 * rejected. */
static struct ph_error *walk_gc_add(struct ph_heap *h, uint64_t obj,
				    const uint64_t *hdr, uint8_t flag,
				    bool *ret_added)
{
	*ret_added = true;
	int64_t ti = ph_type_register(h, hdr[1]);
	if (ti < 0) {
		h->n_rejected++;
		if (!hdr[0] && !hdr[1])
			h->gc_zeroed_objects++;
		else
			h->gc_bad_objects++;
		return NULL;
	}
	if (!ph_discover_contents_ok(h, obj, &h->types[ti], NULL)) {
		h->n_rejected++;
		h->gc_damaged_objects++;
		return NULL;
	}
	struct ph_error *err =
		ph_objtable_add(h, obj, (uint32_t)ti, flag, ret_added);
	if (err || !*ret_added)
		return err;
	h->n_gc++;
	if (ph_type_is_meta(&h->types[ti]))
		ph_type_register(h, obj);
	return NULL;
}

/* A walk's n nodes of objects not found yet: *ok stays true while each
 * lies where an object may (in a pool, only at a granule's start) and was
 * on no walk before (seen, which takes them). */
static struct ph_error *gcw_nodes_new(struct ph_heap *h, struct ph_u64map *seen,
				      const struct gcw_node *nodes, size_t n,
				      bool *ok)
{
	for (size_t i = 0; i < n && *ok; i++) {
		uint64_t g = nodes[i].g;
		bool existed;
		if (ph_objtable_pool_at(h, g + 16) && (g & 15)) {
			*ok = false;
			break;
		}
		struct ph_error *err = ph_u64map_put(seen, g, 1, &existed);
		if (err)
			return err;
		*ok = !existed;
	}
	return NULL;
}

/*
 * Walks the list at head from both ends (above). Returns with *ret_done
 * false when it could not, having changed nothing: the careful walk
 * (walk_gc_list) is then left to do it.
 */
static struct ph_error *walk_gc_list_fast(struct ph_heap *h, uint64_t head,
					  uint64_t bound, unsigned gen,
					  bool *ret_done)
{
	struct gcw_ctx c[2];
	uint8_t flag = (uint8_t)(PH_OBJ_GC_LIST | (gen << 4));
	struct ph_error *err = NULL;
	struct ph_u64map seen;
	ph_u64map_init(&seen);
	*ret_done = false;
	for (int k = 0; k < 2; k++)
		c[k] = (struct gcw_ctx){
			.h = h, .head = head, .bound = bound, .back = k == 1};
	ph_run_parallel(gcw_worker, c, sizeof(c[0]), 2, true);

	/* The list in order: forward to where the threads met, then the
	 * backward walk up to there, read backwards. Where they met is the
	 * backward thread's last claim: past it, it walked only nodes the
	 * forward thread had passed, none of them claimed. */
	uint64_t bend = 0; /* the backward walk's steps used: [0, bend) */
	bool ok = !c[0].anomaly && (c[0].at_head || c[0].meet);
	if (ok && c[0].meet)
		ok = c[1].claimed && c[1].last_claim == c[0].meet;
	if (ok && c[0].meet)
		bend = c[1].last_claim_step + 1;
	else if (ok)
		ok = !c[1].claimed; /* forward went round: nothing to meet */
	/* objects not found yet: each new, and once only */
	size_t bn = 0; /* the backward thread's nodes used */
	while (bn < c[1].n && c[1].nodes[bn].step < bend)
		bn++;
	for (int k = 0; k < 2 && ok; k++)
		if ((err = gcw_nodes_new(h, &seen, c[k].nodes, k ? bn : c[0].n,
					 &ok)))
			goto out;
	bool claims = c[0].claimed + c[1].claimed > 0;
	size_t lo =
		c[0].claim_lo < c[1].claim_lo ? c[0].claim_lo : c[1].claim_lo;
	size_t hi =
		c[0].claim_hi > c[1].claim_hi ? c[0].claim_hi : c[1].claim_hi;
	if (!ok) {
		if (claims)
			gcw_settle(h, 0, lo, hi);
		goto out;
	}
	if (claims)
		gcw_settle(h, gen, lo, hi);
	h->n_gc += c[0].claimed + c[1].claimed;
	*ret_done = true;
	for (size_t j = 0; j < c[0].n + bn && !err; j++) {
		uint64_t g = j < c[0].n ? c[0].nodes[j].g
					: c[1].nodes[bn - 1 - (j - c[0].n)].g;
		bool added;
		const uint64_t *hdr = ph_mem_ptr(h->mem, g + 16, 16);
		err = walk_gc_add(h, g + 16, hdr, flag, &added);
	}
out:
	free(c[0].nodes);
	free(c[1].nodes);
	ph_u64map_free(&seen);
	return err;
}

static struct ph_error *walk_gc_list(struct ph_heap *h, uint64_t head,
				     uint64_t bound, unsigned gen)
{
	uint64_t g;
	if (!ph_mem_u64(h->mem, head, &g))
		return ph_error_create_at(PH_ERR_NOT_SAVED, head,
					  "cannot read the GC list head at "
					  "0x%llx",
					  (unsigned long long)head);
	g &= ~3ULL;
	for (uint64_t steps = 0; g != head; steps++) {
		if (!(steps & 0xffff) && ph_interrupted())
			return ph_error_interrupted();
		if (steps > bound || !g || (g & 7)) {
			h->gc_list_damaged++;
			if (!g)
				h->gc_zeroed_links++;
			break;
		}
		uint64_t obj = g + 16;
		const uint64_t *hdr = ph_mem_ptr(h->mem, obj, 16);
		if (!hdr) {
			h->gc_list_damaged++;
			break;
		}
		uint8_t flag = (uint8_t)(PH_OBJ_GC_LIST | (gen << 4));
		uint32_t known = ph_objtable_lookup(h, obj);
		if (known != PH_NONE && ph_type_register(h, hdr[1]) >= 0) {
			/* found by the pool scan; on two lists is a loop */
			if (h->flags[known] & PH_OBJ_GC_LIST) {
				h->gc_list_damaged++;
				break;
			}
			h->flags[known] |= flag;
			h->n_gc++;
		} else {
			bool added;
			struct ph_error *err =
				walk_gc_add(h, obj, hdr, flag, &added);
			if (err)
				return err;
			if (!added) { /* a loop in the list */
				h->gc_list_damaged++;
				break;
			}
		}
		if (!ph_mem_u64(h->mem, g, &g)) {
			h->gc_list_damaged++;
			break;
		}
		g &= ~3ULL;
	}
	return NULL;
}

/* Is there a well-formed GC list head at head: an empty circle, or links
 * to a first and last element that link back to it? */
static bool gc_head_ok(struct ph_heap *h, uint64_t head)
{
	uint64_t next, prev, back;
	if (!ph_mem_u64(h->mem, head, &next) ||
	    !ph_mem_u64(h->mem, head + 8, &prev))
		return false;
	next &= ~3ULL;
	prev &= ~3ULL;
	if (next == head)
		return prev == head;
	if (!next || (next & 7) || !prev || (prev & 7))
		return false;
	/* the first element's prev and the last one's next lead back */
	if (!ph_mem_u64(h->mem, next + 8, &back) || (back & ~3ULL) != head)
		return false;
	return ph_mem_u64(h->mem, prev, &back) && (back & ~3ULL) == head;
}

/*
 * Where the generations start in the GC state. Patch releases moved them:
 * Debian's 3.13.5 declares PyGC_Head with a smaller alignment, which puts
 * them 4 bytes earlier than 3.13.0's headers say. The heads themselves
 * tell which offset is right.
 */
static uint32_t gc_generations_offset(struct ph_heap *h, uint64_t gc)
{
	const struct ph_layout *L = h->L;
	const uint32_t tries[] = {L->gc_generations, L->gc_generations - 4,
				  L->gc_generations + 4};
	for (size_t i = 0; i < PH_ARRAY_SIZE(tries); i++) {
		bool ok = true;
		for (uint32_t g = 0; ok && g < L->gc_ngens; g++)
			ok = gc_head_ok(h,
					gc + tries[i] +
						(uint64_t)g * L->gc_gen_stride);
		if (ok) {
			h->gc_generations = tries[i];
			return tries[i];
		}
	}
	return L->gc_generations;
}

/* PYHEAP_GC_WALK=careful: every list walked the careful way only; =ends:
 * from both ends, never from splitters (walk_gc_lists_split); =split:
 * from a splitter every 64 objects (up to GCS_MAX_SPLIT), however few;
 * so that the tests can compare the walks on damaged lists. */
static const char *gc_walk_env(void)
{
	const char *e = getenv("PYHEAP_GC_WALK");
	return e ? e : "";
}

/*
 * All the lists of one GC state walked at once from many places: from
 * each head, and from splitters, tracked objects the pool scan found,
 * spread over the table. Walking a list is a chain of cache misses, one
 * link after the other; a thread that keeps GCS_LANES walks going, a step
 * of each in turn, can have that many under way at once (in practice a
 * step's lookup and claim are most of its time: performance.md). Each walk
 * follows the next links from where it starts to the next splitter or a
 * head, claiming the objects it passes (GCS_CLAIM; the splitters are
 * marked GCS_SPLIT before), so that every object is one walk's; then each
 * list is its head's walk, followed by the walks of the splitters each
 * one ended at, up to the head again: the careful walk's path, in its
 * order. Anything else (damage: a walk that meets another's object or
 * does not end at its own list's head, a splitter no list leads to, an
 * object not found before on two walks) takes the claims back, and the
 * lists are walked one by one as before. The longest list's claims are
 * given its generation by one pass over the flags; the other lists' (few
 * objects, in a process that has run a while) are walked again.
 */
#define GCS_CLAIM GCW_FORWARD /* generations no list has, as gcw_settle's */
#define GCS_SPLIT GCW_BACKWARD
#define GCS_LANES 8
#define GCS_MAX_SPLIT 64
#define GCS_MAX_HEADS 8 /* lists of a GC state: generations, permanent */
/* the pool scan's objects a splitter, at least (the tests: fewer) */
#define GCS_PER_SPLIT 8192

struct gcs_walk {
	uint64_t start; /* its head, or its splitter's node */
	uint64_t g, steps;
	const uint64_t *p; /* g's node in memory (once a step is made) */
	uint64_t end;	   /* the head or the splitter's node it stopped at */
	bool anomaly;
	uint64_t claimed;
	size_t claim_lo, claim_hi;
	struct gcw_node *nodes; /* not found yet, in walk order */
	size_t n, cap;
	uint64_t first; /* the first node it walked */
	int list;	/* the list it is found on, or -1 */
};

struct gcs_ctx {
	struct ph_heap *h;
	const uint64_t *heads;
	size_t nheads;
	uint64_t bound;
	struct gcs_walk *w;
	size_t nw;
	size_t next; /* the next walk to start (atomic) */
};

/* One step of walk w: false once it has stopped. */
static inline bool gcs_step(const struct gcs_ctx *c, struct gcs_walk *w)
{
	struct ph_heap *h = c->h;
	uint64_t g = w->g;
	for (size_t k = 0; k < c->nheads; k++)
		if (g == c->heads[k]) {
			w->end = g;
			return false;
		}
	const uint64_t *p = w->steps ? w->p : ph_mem_ptr(h->mem, g, 32);
	if (w->steps > c->bound || !g || (g & 7) ||
	    (!(w->steps & 0xffff) && w->steps && ph_interrupted()) || !p) {
		w->anomaly = true;
		return false;
	}
	uint32_t known = ph_objtable_lookup(h, g + 16);
	if (known != PH_NONE) {
		uint8_t old =
			gcw_claim(&h->flags[known],
				  (uint8_t)(PH_OBJ_GC_LIST | GCS_CLAIM << 4));
		if (old & PH_OBJ_GC_LIST) {
			bool split = ((old >> 4) & 7) == GCS_SPLIT;
			if (split && g != w->start) {
				w->end = g; /* the next splitter's walk's */
				return false;
			}
			if (!split || w->steps) {
				/* another walk's object, or its own again */
				w->anomaly = true;
				return false;
			}
			/* its own splitter: its first object */
		}
		w->claimed++;
		if (known < w->claim_lo)
			w->claim_lo = known;
		if (known >= w->claim_hi)
			w->claim_hi = (size_t)known + 1;
	} else {
		if (w->n == w->cap) {
			struct ph_error *e =
				ph_grow((void **)&w->nodes, &w->cap, w->n + 1,
					sizeof(*w->nodes));
			if (e) {
				ph_error_destroy(e);
				w->anomaly = true;
				return false;
			}
		}
		w->nodes[w->n++] = (struct gcw_node){g, w->steps};
	}
	w->g = p[0] & ~3ULL;
	/* the next node asked for now, read once the other lanes have had
	 * their step */
	w->p = w->g && !(w->g & 7) ? ph_mem_ptr(h->mem, w->g, 32) : NULL;
	if (w->p)
		__builtin_prefetch(w->p);
	w->steps++;
	return true;
}

static void *gcs_worker(void *arg)
{
	struct gcs_ctx *c = *(struct gcs_ctx **)arg;
	struct gcs_walk *lane[GCS_LANES];
	size_t nl = 0;
	for (;;) {
		size_t i;
		while (nl < GCS_LANES &&
		       (i = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED)) <
			       c->nw)
			lane[nl++] = &c->w[i];
		if (!nl)
			return NULL;
		/* a step of each in turn: their misses overlap */
		for (size_t j = 0; j < nl;)
			if (gcs_step(c, lane[j]))
				j++;
			else
				lane[j] = lane[--nl];
	}
}

/* Up to GCS_MAX_SPLIT tracked objects the pool scan found, one for each
 * per of them, spread over the table, marked GCS_SPLIT: their nodes in
 * *ret (address order). */
static size_t gcs_splitters(struct ph_heap *h, size_t per, uint64_t *ret)
{
	/* (the pools' objects: numbered one after the other from the first
	 * pool's first) */
	size_t npool = h->npool_objects, want = npool / per, n = 0;
	size_t base = h->npools ? h->pools[0].first : 0, end = base + npool;
	if (want > GCS_MAX_SPLIT)
		want = GCS_MAX_SPLIT;
	for (size_t s = 0; s < want; s++) {
		size_t from = base + npool * (2 * s + 1) / (2 * want);
		for (size_t i = from; i < end && i < from + 1024; i++) {
			const struct ph_type *t = &h->types[ph_tidx(h, i)];
			uint64_t next;
			if (!(t->flags & PH_TPFLAGS_HAVE_GC) ||
			    t->presize < 16 || (h->flags[i] & PH_OBJ_GC_LIST) ||
			    !ph_mem_u64(h->mem, h->addr[i] - 16, &next) ||
			    !(next & ~3ULL))
				continue; /* not tracked */
			h->flags[i] |=
				(uint8_t)(PH_OBJ_GC_LIST | GCS_SPLIT << 4);
			ret[n++] = h->addr[i] - 16;
			break;
		}
	}
	return n;
}

/* The splitters' walk that starts at node g, or NULL. */
static struct gcs_walk *gcs_walk_at(struct gcs_ctx *c, uint64_t g)
{
	for (size_t i = c->nheads; i < c->nw; i++)
		if (c->w[i].start == g)
			return &c->w[i];
	return NULL;
}

/* The claims of walk w given flag (its list's generation), walked again:
 * the path is the one it took. */
static void gcs_settle_walk(struct ph_heap *h, const struct gcs_walk *w,
			    uint8_t flag)
{
	uint64_t g = w->first;
	for (uint64_t i = 0; i < w->steps; i++) {
		const uint64_t *p = ph_mem_ptr(h->mem, g, 32);
		uint32_t known = ph_objtable_lookup(h, g + 16);
		if (known != PH_NONE) {
			uint8_t *f = &h->flags[known];
			*f = (uint8_t)((*f & ~0x71) | flag);
		}
		g = p[0] & ~3ULL;
	}
}

/*
 * Walks the nheads lists at heads (of generations gens[]) from splitters
 * (above). Returns with *ret_done false when it could not, having changed
 * nothing: the lists are then walked one by one.
 */
static struct ph_error *walk_gc_lists_split(struct ph_heap *h,
					    const uint64_t *heads,
					    const unsigned *gens, size_t nheads,
					    uint64_t bound, size_t per,
					    bool *ret_done)
{
	*ret_done = false;
	uint64_t split[GCS_MAX_SPLIT];
	size_t nsplit = gcs_splitters(h, per, split);
	if (!nsplit)
		return NULL;
	struct gcs_walk w[GCS_MAX_HEADS + GCS_MAX_SPLIT];
	struct gcs_ctx c = {.h = h,
			    .heads = heads,
			    .nheads = nheads,
			    .bound = bound,
			    .w = w,
			    .nw = nheads + nsplit};
	struct ph_error *err = NULL;
	struct ph_u64map seen;
	ph_u64map_init(&seen);
	bool ok = true;
	for (size_t i = 0; i < c.nw; i++) {
		w[i] = (struct gcs_walk){.list = -1, .claim_lo = SIZE_MAX};
		w[i].start = i < nheads ? heads[i] : split[i - nheads];
		w[i].g = w[i].start;
		if (i < nheads) {
			/* a head's walk starts at its first node */
			ok &= ph_mem_u64(h->mem, heads[i], &w[i].g);
			w[i].g &= ~3ULL;
		}
		w[i].first = w[i].g;
	}
	if (ok) {
		/* a thread a processor (8 at most), each taking walks as they
		 * end: the first to run drains the queue, the rest return */
		struct gcs_ctx *cp[8] = {&c, &c, &c, &c, &c, &c, &c, &c};
		ph_run_chunks(gcs_worker, cp, sizeof(cp[0]), 8, true);
	}

	/* Each list: its head's walk, then the splitters' it leads to. */
	uint64_t on_list[GCS_MAX_HEADS] = {0};
	size_t used = 0;
	for (size_t i = 0; i < c.nw && ok; i++)
		ok = !w[i].anomaly;
	for (size_t k = 0; k < nheads && ok; k++) {
		struct gcs_walk *cur = &w[k];
		cur->list = (int)k;
		on_list[k] += cur->claimed;
		while (ok && cur->end != heads[k]) {
			cur = gcs_walk_at(&c, cur->end);
			ok = cur && cur->list < 0;
			if (ok) {
				cur->list = (int)k;
				on_list[k] += cur->claimed;
				used++;
			}
		}
	}
	ok = ok && used == nsplit;
	for (size_t i = 0; i < c.nw && ok; i++)
		if ((err = gcw_nodes_new(h, &seen, w[i].nodes, w[i].n, &ok)))
			goto out;
	size_t lo = SIZE_MAX, hi = 0;
	for (size_t i = 0; i < c.nw; i++) {
		if (w[i].claim_lo < lo)
			lo = w[i].claim_lo;
		if (w[i].claim_hi > hi)
			hi = w[i].claim_hi;
	}
	for (size_t i = 0; i < nsplit; i++) {
		/* (the splitters, marked, claimed or not) */
		uint32_t k = ph_objtable_lookup(h, split[i] + 16);
		if (k < lo)
			lo = k;
		if ((size_t)k >= hi)
			hi = (size_t)k + 1;
	}
	if (!ok) {
		gcw_settle(h, 0, lo, hi);
		goto out;
	}
	/* The longest list's claims by a pass over the flags; the others'
	 * (short, in a process that has run a while) walked again. */
	size_t most = 0;
	for (size_t k = 1; k < nheads; k++)
		if (on_list[k] > on_list[most])
			most = k;
	for (size_t i = 0; i < c.nw; i++)
		if (w[i].list != (int)most && w[i].claimed)
			gcs_settle_walk(h, &w[i],
					(uint8_t)(PH_OBJ_GC_LIST |
						  gens[w[i].list] << 4));
	gcw_settle(h, gens[most], lo, hi);
	for (size_t k = 0; k < nheads; k++)
		h->n_gc += on_list[k];
	*ret_done = true;
	/* the objects not found before, list after list, in list order */
	for (size_t k = 0; k < nheads && !err; k++) {
		uint8_t flag = (uint8_t)(PH_OBJ_GC_LIST | gens[k] << 4);
		const struct gcs_walk *cur = &w[k];
		for (;;) {
			for (size_t j = 0; j < cur->n && !err; j++) {
				uint64_t g = cur->nodes[j].g;
				bool added;
				err = walk_gc_add(
					h, g + 16,
					ph_mem_ptr(h->mem, g + 16, 16), flag,
					&added);
			}
			if (err || cur->end == heads[k])
				break;
			cur = gcs_walk_at(&c, cur->end);
		}
	}
out:
	for (size_t i = 0; i < c.nw; i++)
		free(w[i].nodes);
	ph_u64map_free(&seen);
	return err;
}

/* The GC lists of one GC state: its generations, then the permanent one. */
static struct ph_error *walk_gc_state(struct ph_heap *h, uint64_t gc,
				      uint64_t bound)
{
	const struct ph_layout *L = h->L;
	const char *walk = gc_walk_env();
	bool careful = !strcmp(walk, "careful");
	uint32_t gens = gc_generations_offset(h, gc);
	/* the generations, then the permanent generation (4) */
	uint64_t heads[GCS_MAX_HEADS];
	unsigned gen[GCS_MAX_HEADS];
	size_t nheads = 0;
	for (uint32_t g = 0; g <= L->gc_ngens && nheads < GCS_MAX_HEADS; g++) {
		heads[nheads] =
			g < L->gc_ngens
				? gc + gens + (uint64_t)g * L->gc_gen_stride
				: gc + L->gc_permanent;
		gen[nheads++] = g < L->gc_ngens ? g + 1 : 4;
	}
	/* (one interpreter: a splitter is on one of these lists) */
	bool done = false;
	if (!careful && strcmp(walk, "ends") && h->rt->ninterps == 1 &&
	    h->pools_frozen && !h->mi_pages_sorted) {
		struct ph_error *err = walk_gc_lists_split(
			h, heads, gen, nheads, bound,
			strcmp(walk, "split") ? GCS_PER_SPLIT : 64, &done);
		if (err || done)
			return err;
	}
	for (size_t k = 0; k < nheads; k++) {
		struct ph_error *err =
			careful ? NULL
				: walk_gc_list_fast(h, heads[k], bound, gen[k],
						    &done);
		if (!err && !done)
			err = walk_gc_list(h, heads[k], bound, gen[k]);
		if (err)
			return err;
	}
	return NULL;
}

struct ph_error *ph_gc_walk_lists(struct ph_heap *h)
{
	uint64_t bound = writable_bytes(h) / 16 + 1;
	/* Every interpreter's lists (3.8's one state is the runtime's). */
	for (size_t k = 0; k < h->rt->ninterps; k++) {
		uint64_t gc = h->rt->interps[k].gc_state;
		if (k > 0 && gc == h->rt->interps[0].gc_state)
			continue;
		struct ph_error *err = walk_gc_state(h, gc, bound);
		if (err)
			return err;
	}
	return NULL;
}
