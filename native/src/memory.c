/* memory.c - the segment map behind every read of inferior memory. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memory.h"

__thread struct ph_mem_cache ph_mem_cache[2]
	__attribute__((tls_model("initial-exec")));

/* A new id for a memory map: never 0, never given twice. */
static uint64_t memory_new_id(void)
{
	static uint64_t last;
	return __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
}

void ph_memory_init(struct ph_memory *m)
{
	memset(m, 0, sizeof(*m));
	m->id = memory_new_id();
}

void ph_memory_free(struct ph_memory *m)
{
	bool live = m->live;
	free(m->segs);
	ph_memory_init(m);
	m->live = live;
}

void ph_memory_read_whole(struct ph_memory *m)
{
	if (!m->file_map || m->read_whole)
		return;
	m->read_whole = true;
	const char *e = getenv("PYHEAP_CORE_HUGE");
	if (e && !strcmp(e, "0")) {
		ph_stage("core pages: small (PYHEAP_CORE_HUGE)");
		return;
	}
#ifdef MADV_HUGEPAGE
	/* A private mapping of a file whose page cache holds 2 MiB folios is
	 * mapped a folio an entry; small pages are mapped 16 an entry at
	 * most, and under a hypervisor that shadows the guest's page tables
	 * each costs microseconds (docs/performance.md). A page cache not
	 * read through this mapping keeps its folios: then nothing changes. */
	bool asked = !madvise(m->file_map, m->file_map_len, MADV_HUGEPAGE);
	ph_stage(asked ? "core pages: huge asked"
		       : "core pages: small (refused)");
#else
	ph_stage("core pages: small (refused)");
#endif
}

struct ph_prefault {
	struct ph_thread th;
	const struct ph_memory *m;
	bool stop; /* atomic */
};

static void *prefault_worker(void *arg)
{
	struct ph_prefault *p = arg;
	const struct ph_memory *m = p->m;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t sum = 0;
	for (size_t i = 0; i < m->nsegs; i++) {
		const struct ph_segment *s = &m->segs[i];
		if (!s->data || !s->writable || s->from_file)
			continue;
		/* a load a page: the fault maps its neighbours too, and the
		 * loads after it are cheap */
		for (uint64_t off = 0; off < s->end - s->start;
		     off += (uint64_t)page) {
			if (!(off & ((1 << 20) - 1)) &&
			    (__atomic_load_n(&p->stop, __ATOMIC_RELAXED) ||
			     ph_interrupted()))
				return (void *)(uintptr_t)sum;
			sum += *(const volatile uint8_t *)(s->data + off);
		}
	}
	return (void *)(uintptr_t)sum;
}

struct ph_prefault *ph_memory_prefault_start(struct ph_memory *m)
{
	const char *e = getenv("PYHEAP_PREFAULT");
	if (!m->file_map || (e && !strcmp(e, "0")) || ph_ncpus() < 2)
		return NULL;
	ph_stage(NULL); /* (the first stage of the run: timed from here) */
	ph_memory_read_whole(m);
	struct ph_prefault *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->m = m;
	if (!ph_thread_start(&p->th, prefault_worker, p, 1)) {
		free(p);
		return NULL;
	}
	return p;
}

void ph_prefault_stop(struct ph_prefault *p)
{
	if (!p)
		return;
	__atomic_store_n(&p->stop, true, __ATOMIC_RELAXED);
	ph_thread_join(&p->th);
	free(p);
}

__thread unsigned ph_mem_victim __attribute__((tls_model("initial-exec")));

const void *ph_mem_ptr_slow(struct ph_memory *m, uint64_t addr, size_t len)
{
	const struct ph_segment *s = ph_memory_find(m, addr);
	if (!s || !s->data || addr + len < addr || addr + len > s->run_end)
		return NULL;
	/* the two entries are filled in turn */
	ph_mem_cache[ph_mem_victim] =
		(struct ph_mem_cache){.id = m->id,
				      .start = s->start,
				      .size = s->run_end - s->start,
				      .data = s->data};
	ph_mem_victim ^= 1;
	return s->data + (addr - s->start);
}

struct ph_error *ph_memory_add(struct ph_memory *m, uint64_t start,
			       uint64_t end, const uint8_t *data, bool writable,
			       bool from_file)
{
	if (end <= start)
		return NULL;
	struct ph_error *err = ph_grow((void **)&m->segs, &m->cap, m->nsegs + 1,
				       sizeof(*m->segs));
	if (err)
		return err;
	m->segs[m->nsegs++] = (struct ph_segment){
		.start = start,
		.end = end,
		.data = data,
		.writable = writable,
		.from_file = from_file,
		.run_end = end,
	};
	m->id = memory_new_id();
	return NULL;
}

static int seg_cmp(const void *a, const void *b)
{
	const struct ph_segment *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

static int seg_rank(const struct ph_segment *s)
{
	/* The core's saved pages, then files from disk, then the ranges the
	 * core names but did not save. */
	return s->data ? (s->from_file ? 1 : 0) : 2;
}

/* Segments of one rank by start, the one added first on a tie. */
struct seg_key {
	uint64_t start;
	size_t i;
};

static int key_cmp(const void *a, const void *b)
{
	const struct seg_key *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Resolves overlaps so that every address has one segment: the core's own
 * pages win over files from disk, which win over not-saved ranges; within a
 * rank (overlaps there come from corrupt cores) the lower segment wins.
 * Linear after sorting: each rank's segments are taken in address order,
 * each covering only what no earlier one of its rank did, so that one
 * address is looked at once per rank however many segments name it (50k
 * unsaved segments over 50k saved ones made 2.5G pieces before).
 */
struct ph_error *ph_memory_finish(struct ph_memory *m)
{
	struct ph_segment *out = NULL;
	size_t nout = 0, capout = 0;
	struct seg_key *idx = NULL;
	struct ph_error *err = NULL;

	if (m->nsegs && !(idx = malloc(m->nsegs * sizeof(*idx))))
		return ph_error_nomem();
	for (int rank = 0; rank < 3; rank++) {
		size_t base = nout; /* out[0..base) has higher priority */
		size_t n = 0;
		for (size_t i = 0; i < m->nsegs; i++)
			if (seg_rank(&m->segs[i]) == rank)
				idx[n++] =
					(struct seg_key){m->segs[i].start, i};
		if (n > 1)
			qsort(idx, n, sizeof(*idx), key_cmp);
		uint64_t covered = 0; /* this rank has [.., covered) */
		size_t j = 0; /* first higher piece ending after covered */
		for (size_t k = 0; k < n; k++) {
			const struct ph_segment *s = &m->segs[idx[k].i];
			uint64_t a = s->start > covered ? s->start : covered;
			if (a >= s->end)
				continue;
			while (j < base && out[j].end <= a)
				j++;
			size_t h = j;
			while (a < s->end) {
				uint64_t b = s->end;
				if (h < base && out[h].start <= a) {
					a = out[h].end;
					h++;
					continue;
				}
				if (h < base && out[h].start < b)
					b = out[h].start;
				err = ph_grow((void **)&out, &capout, nout + 1,
					      sizeof(*out));
				if (err)
					goto fail;
				struct ph_segment p = *s;
				p.start = a;
				p.end = b;
				if (p.data)
					p.data = s->data + (a - s->start);
				out[nout++] = p;
				a = b;
			}
			covered = s->end;
		}
		/* the pieces are disjoint: one sort puts them in order */
		if (nout > base)
			qsort(out, nout, sizeof(*out), seg_cmp);
	}
	free(idx);
	/* Segments that follow each other in memory and in data are one
	 * piece to ph_mem_ptr: worked out once, from the last. */
	for (size_t i = nout; i-- > 0;) {
		const struct ph_segment *n = i + 1 < nout ? &out[i + 1] : NULL;
		out[i].run_end = out[i].end;
		if (n && out[i].data && n->start == out[i].end &&
		    n->data == out[i].data + (out[i].end - out[i].start))
			out[i].run_end = n->run_end;
	}
	free(m->segs);
	m->segs = out;
	m->nsegs = nout;
	m->cap = capout;
	m->id = memory_new_id(); /* what the threads cached is stale */
	m->bytes_missing = 0;
	for (size_t i = 0; i < nout; i++)
		if (!out[i].data)
			m->bytes_missing += out[i].end - out[i].start;
	return NULL;
fail:
	free(idx);
	free(out);
	return err;
}

const struct ph_segment *ph_memory_find(struct ph_memory *m, uint64_t addr)
{
	size_t lo = 0, hi = m->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr < m->segs[mid].start)
			hi = mid;
		else if (addr >= m->segs[mid].end)
			lo = mid + 1;
		else
			return &m->segs[mid];
	}
	return NULL;
}

struct ph_error *ph_mem_read(struct ph_memory *m, uint64_t addr, void *buf,
			     size_t len)
{
	uint8_t *out = buf;
	while (len) {
		const struct ph_segment *s = ph_memory_find(m, addr);
		if (!s)
			return ph_error_create_at(
				PH_ERR_FAULT, addr,
				"address 0x%llx is not mapped",
				(unsigned long long)addr);
		if (!s->data)
			return ph_error_create_at(
				PH_ERR_NOT_SAVED, addr,
				m->live ? "memory at 0x%llx was not copied "
					  "from "
					  "the process (shared memory it never "
					  "touched, or unreadable)"
					: "memory at 0x%llx was not saved in "
					  "the "
					  "core",
				(unsigned long long)addr);
		size_t n = s->end - addr < len ? s->end - addr : len;
		memcpy(out, s->data + (addr - s->start), n);
		out += n;
		addr += n;
		len -= n;
	}
	return NULL;
}

struct ph_error *ph_mem_read_once(struct ph_memory *m, uint64_t addr, void *buf,
				  size_t len)
{
	const struct ph_segment *s = ph_memory_find(m, addr);
	uintptr_t map = (uintptr_t)m->file_map;
	if (map && s && s->data && addr + len >= addr && addr + len <= s->end &&
	    (uintptr_t)s->data >= map &&
	    (uintptr_t)s->data - map <= m->file_map_len) {
		size_t at = (size_t)((uintptr_t)s->data - map) +
			    (size_t)(addr - s->start);
		if (at <= m->file_map_len && len <= m->file_map_len - at &&
		    pread(m->file_fd, buf, len, (off_t)at) == (ssize_t)len)
			return NULL;
	}
	return ph_mem_read(m, addr, buf, len);
}

struct ph_error *ph_mem_strdup(struct ph_memory *m, uint64_t addr, size_t max,
			       char **ret)
{
	char *s = malloc(max + 1);
	if (!s)
		return ph_error_nomem();
	size_t i = 0;
	for (; i < max; i++) {
		const char *p = ph_mem_ptr(m, addr + i, 1);
		if (!p) {
			free(s);
			return ph_error_create_at(
				PH_ERR_FAULT, addr + i,
				"string at 0x%llx runs into unreadable memory",
				(unsigned long long)addr);
		}
		s[i] = *p;
		if (!*p)
			break;
	}
	s[i] = '\0';
	*ret = s;
	return NULL;
}
