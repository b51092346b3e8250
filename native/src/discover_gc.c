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
			uint8_t *f = &h->flags[known];
			uint8_t old = __atomic_load_n(f, __ATOMIC_RELAXED);
			while (!(old & PH_OBJ_GC_LIST) &&
			       !__atomic_compare_exchange_n(
				       f, &old, (uint8_t)(old | mine), true,
				       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				;
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
	for (int k = 0; k < 2 && ok; k++) {
		size_t end = k ? bn : c[0].n;
		for (size_t i = 0; i < end && ok; i++) {
			uint64_t g = c[k].nodes[i].g;
			bool existed;
			if (ph_objtable_pool_at(h, g + 16) && (g & 15)) {
				ok = false;
				break;
			}
			if ((err = ph_u64map_put(&seen, g, 1, &existed)))
				goto out;
			if (existed)
				ok = false;
		}
	}
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

/* PYHEAP_GC_WALK=careful: every list walked the careful way only, so that
 * the tests can compare the two walks on damaged lists. */
static bool gc_walk_careful(void)
{
	const char *e = getenv("PYHEAP_GC_WALK");
	return e && !strcmp(e, "careful");
}

/* The GC lists of one GC state: its generations, then the permanent one. */
static struct ph_error *walk_gc_state(struct ph_heap *h, uint64_t gc,
				      uint64_t bound)
{
	const struct ph_layout *L = h->L;
	bool careful = gc_walk_careful();
	uint32_t gens = gc_generations_offset(h, gc);
	for (uint32_t g = 0; g <= L->gc_ngens; g++) {
		/* the generations, then the permanent generation (4) */
		uint64_t head =
			g < L->gc_ngens
				? gc + gens + (uint64_t)g * L->gc_gen_stride
				: gc + L->gc_permanent;
		unsigned gen = g < L->gc_ngens ? g + 1 : 4;
		bool done = false;
		struct ph_error *err =
			careful ? NULL
				: walk_gc_list_fast(h, head, bound, gen, &done);
		if (!err && !done)
			err = walk_gc_list(h, head, bound, gen);
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
