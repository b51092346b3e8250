/* buf.c - growable strings, hash map, array growth, helper threads. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <time.h>
#include <unistd.h>

#include "internal.h"

void ph_buf_init(struct ph_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void ph_buf_free(struct ph_buf *b)
{
	free(b->data);
	ph_buf_init(b);
}

static bool buf_reserve(struct ph_buf *b, size_t extra)
{
	if (b->failed)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *data = realloc(b->data, cap);
	if (!data) {
		b->failed = true;
		return false;
	}
	b->data = data;
	b->cap = cap;
	return true;
}

void ph_buf_reserve(struct ph_buf *b, size_t extra)
{
	buf_reserve(b, extra);
}

void ph_buf_putn_grow(struct ph_buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void ph_buf_printf(struct ph_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

struct ph_error *ph_buf_finish(struct ph_buf *b, char **ret)
{
	if (b->failed || !buf_reserve(b, 0)) {
		ph_buf_free(b);
		return ph_error_nomem();
	}
	b->data[b->len] = '\0';
	*ret = b->data;
	ph_buf_init(b);
	return NULL;
}

static _Thread_local bool plain_text;

void ph_plain_set(bool plain)
{
	plain_text = plain;
}

bool ph_plain(void)
{
	return plain_text;
}

const char *ph_fmt_count(uint64_t n, char out[32])
{
	char tmp[32];
	int len = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)n);
	if (plain_text) {
		memcpy(out, tmp, (size_t)len + 1);
		return out;
	}
	int o = 0;
	for (int i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = tmp[i];
	}
	out[o] = '\0';
	return out;
}

struct ph_error *ph_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return NULL;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	void *p = realloc(*arr, ncap * elem);
	if (!p)
		return ph_error_nomem();
	*arr = p;
	*cap = ncap;
	return NULL;
}

/* Large arrays in memory of their own, which the kernel may back with huge
 * pages: an array touched once at random, a word per object, otherwise
 * spends more time in page faults than in its loops where a fault is dear.
 * Pages never touched cost nothing. */
#define BIG_MIN (1UL << 20)

static size_t page_up(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

/*
 * Huge pages or small ones: whichever a first touch costs less on this
 * machine (docs/performance.md, "Huge pages or small ones"). Under PVM a
 * small page's first touch costs 7-15 us (the host's shadow page tables),
 * and huge pages save nearly all of it. Under KVM it costs 1-2 us, and a
 * huge page costs 2-4 ms when the guest takes it from memory it handed back
 * to the host (page_reporting): 5x the same memory in small pages, which
 * the guest takes from its fragments first. So a few small pages are
 * touched once and timed; PYHEAP_HUGE_PAGES=0 or 1 decides instead.
 */
#define PROBE_PAGES 16
#define PROBE_DEAR_NS 5000 /* the cheapest touch, where huge pages win */

static bool huge_pages;
static pthread_once_t huge_once = PTHREAD_ONCE_INIT;

uint64_t ph_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void huge_probe(void)
{
	uint64_t start = ph_now_ns();
	const char *e = getenv("PYHEAP_HUGE_PAGES");
	char why[48];
	size_t len = PROBE_PAGES * 4096;
	volatile uint8_t *p = MAP_FAILED;
	if (e && (*e == '0' || *e == '1') && !e[1]) {
		huge_pages = *e == '1';
		snprintf(why, sizeof(why), "PYHEAP_HUGE_PAGES");
	} else if ((p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) ==
		   MAP_FAILED) {
		huge_pages = true;
		snprintf(why, sizeof(why), "not timed");
	} else {
#ifdef MADV_NOHUGEPAGE
		madvise((void *)p, len, MADV_NOHUGEPAGE);
#endif
		uint64_t probe_ns = UINT64_MAX;
		for (size_t i = 0; i < PROBE_PAGES; i++) {
			uint64_t t0 = ph_now_ns();
			p[i * 4096] = 1;
			uint64_t t = ph_now_ns() - t0;
			if (t < probe_ns)
				probe_ns = t;
		}
		munmap((void *)p, len);
		huge_pages = probe_ns >= PROBE_DEAR_NS;
		snprintf(why, sizeof(why), "a first touch %.1f us",
			 (double)probe_ns / 1e3);
	}
	/* as a stage's line (ph_stage): the probe's own time */
	if (getenv("PYHEAP_TIMING")) {
		char name[80];
		snprintf(name, sizeof(name), "pages: %s (%s)",
			 huge_pages ? "huge" : "small", why);
		fprintf(stderr, "py-heap: %-24s %10.3f ms\n", name,
			(double)(ph_now_ns() - start) / 1e6);
	}
}

void *ph_map_aligned(size_t len, int prot, int flags, int fd)
{
	/* a reservation one huge page longer, the mapping put in it at the
	 * boundary, the reservation's ends cut off */
	size_t span = len + PH_HUGE_PAGE;
	uint8_t *r = mmap(NULL, span, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return MAP_FAILED;
	uint8_t *a = (uint8_t *)(((uintptr_t)r + PH_HUGE_PAGE - 1) &
				 ~(uintptr_t)(PH_HUGE_PAGE - 1));
	if (mmap(a, len, prot, flags | MAP_FIXED, fd, 0) == MAP_FAILED) {
		munmap(r, span);
		return MAP_FAILED;
	}
	uint8_t *end = a + page_up(len);
	if (a > r)
		munmap(r, (size_t)(a - r));
	if (end < r + span)
		munmap(end, (size_t)(r + span - end));
	return a;
}

bool ph_huge_pages(void)
{
	pthread_once(&huge_once, huge_probe);
	return huge_pages;
}

/*
 * Tables freed while a command runs are kept for its next ones
 * (ph_big_hold): a page taken again costs no fault, where a fresh one costs
 * the kernel's zeroing and, under a host that takes freed guest memory
 * back (page_reporting), the host's fault too, a third of a diff's CPU at
 * 10M objects (docs/performance.md, "Tables used twice"). A block is split
 * to fit, neighbours are joined again; all of it is unmapped when the last
 * hold ends.
 */
enum { BIG_KEEP = 64 };
struct big_block {
	uint8_t *p;
	size_t len;
};
static struct big_block big_kept[BIG_KEEP];
static size_t big_nkept, big_kept_bytes;
static unsigned big_holds;
static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;

/* Empties the kept list into drop (big_lock held): how many; then
 * big_unmap, the lock let go. */
static size_t big_take_all(struct big_block *drop)
{
	size_t n = big_nkept;
	memcpy(drop, big_kept, n * sizeof(*drop));
	big_nkept = big_kept_bytes = 0;
	return n;
}

static void big_unmap(const struct big_block *drop, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ph_unmap(drop[i].p, drop[i].len);
}

/* A kept block of len bytes (the smallest that holds it), or NULL. */
static void *big_reuse(size_t len)
{
	pthread_mutex_lock(&big_lock);
	size_t best = big_nkept;
	for (size_t i = 0; i < big_nkept; i++)
		if (big_kept[i].len >= len &&
		    (best == big_nkept || big_kept[i].len < big_kept[best].len))
			best = i;
	uint8_t *p = NULL;
	struct big_block drop[BIG_KEEP];
	size_t ndrop = 0;
	if (best < big_nkept) {
		p = big_kept[best].p;
		if (big_kept[best].len > len)
			big_kept[best] = (struct big_block){
				p + len, big_kept[best].len - len};
		else
			big_kept[best] = big_kept[--big_nkept];
		big_kept_bytes -= len;
	} else {
		/* None holds it: all are unmapped, for the kernel to give
		 * their pages to the new mapping (pages just freed, which the
		 * host still backs), rather than pages it has to fault in. */
		ndrop = big_take_all(drop);
	}
	pthread_mutex_unlock(&big_lock);
	big_unmap(drop, ndrop);
#ifdef __SANITIZE_ADDRESS__
	/* (tests: a caller that counts on fresh zeroes fails) */
	if (p)
		memset(p, 0xa5, len);
#endif
	return p;
}

/* Keeps the block if a hold is on and there is room; false if not. */
static bool big_keep(uint8_t *p, size_t len)
{
	static size_t limit;
	if (!limit) {
		long pages = sysconf(_SC_PHYS_PAGES);
		limit = pages > 0 ? (size_t)pages * 4096 / 4 : (1UL << 30);
	}
	pthread_mutex_lock(&big_lock);
	bool kept = big_holds && big_kept_bytes + len <= limit;
	for (size_t i = 0; kept && i < big_nkept; i++) {
		/* a neighbour: one block again (a split one freed) */
		struct big_block *b = &big_kept[i];
		if (b->p + b->len == p || p + len == b->p) {
			if (p < b->p)
				b->p = p;
			b->len += len;
			big_kept_bytes += len;
			pthread_mutex_unlock(&big_lock);
			return true;
		}
	}
	if (kept && big_nkept < BIG_KEEP) {
		big_kept[big_nkept++] = (struct big_block){p, len};
		big_kept_bytes += len;
	} else
		kept = false;
	pthread_mutex_unlock(&big_lock);
	return kept;
}

void ph_big_hold(void)
{
	pthread_mutex_lock(&big_lock);
	big_holds++;
	pthread_mutex_unlock(&big_lock);
}

void ph_big_release(void)
{
	struct big_block drop[BIG_KEEP];
	size_t n = 0;
	pthread_mutex_lock(&big_lock);
	if (big_holds && !--big_holds)
		n = big_take_all(drop);
	pthread_mutex_unlock(&big_lock);
	big_unmap(drop, n);
}

/* A new mapping of len bytes (zeroes). */
static void *big_map(size_t len)
{
	if (!ph_huge_pages()) {
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
#ifdef MADV_NOHUGEPAGE
		madvise(p, len, MADV_NOHUGEPAGE); /* THP "always" too */
#endif
		return p;
	}
	/* (a last part smaller than a huge page keeps small pages) */
	void *a = ph_map_aligned(len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1);
	if (a == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(a, len, MADV_HUGEPAGE); /* a hint: no harm when refused */
#endif
	return a;
}

/* A kept block (zeroed if asked), else a new mapping (zeroes). */
static void *big_get(size_t bytes, bool zero)
{
	size_t len = page_up(bytes);
	void *kept = big_reuse(len);
	if (!kept)
		return big_map(len);
	if (zero)
		memset(kept, 0, bytes);
	return kept;
}

void *ph_big_alloc(size_t bytes)
{
	return bytes < BIG_MIN ? malloc(bytes ? bytes : 1)
			       : big_get(bytes, false);
}

void *ph_big_zalloc(size_t bytes)
{
	return bytes < BIG_MIN ? calloc(1, bytes ? bytes : 1)
			       : big_get(bytes, true);
}

struct ph_error *ph_big_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return NULL;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	void *p = ph_big_alloc(ncap * elem);
	if (!p)
		return ph_error_nomem();
	if (*arr)
		memcpy(p, *arr, *cap * elem);
	ph_big_free(*arr, *cap * elem);
	*arr = p;
	*cap = ncap;
	return NULL;
}

struct unmap_half {
	void *p;
	size_t len;
};

static void *unmap_half_worker(void *arg)
{
	struct unmap_half *u = arg;
	madvise(u->p, u->len, MADV_DONTNEED);
	return NULL;
}

void ph_unmap(void *p, size_t len)
{
	/* Freeing a large mapping's pages is most of the cost of unmapping
	 * it (the object table at 10M objects: 10-25 ms, the core's pages
	 * as long), and one thread does it: two drop a half each first,
	 * which holds the mapping only shared. */
	if (len >= (16u << 20)) {
		size_t half = (len / 2) & ~(size_t)4095;
		struct unmap_half u = {(char *)p + half, len - half};
		struct ph_thread th;
		ph_thread_start(&th, unmap_half_worker, &u, 1);
		madvise(p, half, MADV_DONTNEED);
		ph_thread_join(&th);
	}
	munmap(p, len);
}

void ph_big_free(void *p, size_t bytes)
{
	if (!p)
		return;
	if (bytes < BIG_MIN) {
		free(p);
		return;
	}
	size_t len = page_up(bytes);
	if (!big_keep((uint8_t *)p, len))
		ph_unmap(p, len);
}

size_t ph_big_shrink(void *p, size_t bytes, size_t keep)
{
	size_t from = page_up(keep), to = page_up(bytes);
	if (!p || bytes < BIG_MIN || keep < BIG_MIN || from >= to)
		return bytes;
	if (!big_keep((uint8_t *)p + from, to - from))
		ph_unmap((uint8_t *)p + from, to - from);
	return from;
}

/* Open addressing with linear probing; the table is kept at most half full. */
void ph_u64map_init(struct ph_u64map *m)
{
	memset(m, 0, sizeof(*m));
}

void ph_u64map_free(struct ph_u64map *m)
{
	free(m->keys);
	free(m->vals);
	ph_u64map_init(m);
}

uint32_t *ph_u64map_get(const struct ph_u64map *m, uint64_t key)
{
	if (!m->cap || !key)
		return NULL;
	size_t mask = m->cap - 1;
	for (size_t i = ph_hash64(key) & mask;; i = (i + 1) & mask) {
		if (m->keys[i] == key)
			return &m->vals[i];
		if (!m->keys[i])
			return NULL;
	}
}

static void map_insert(uint64_t *keys, uint32_t *vals, size_t cap, uint64_t key,
		       uint32_t val)
{
	size_t mask = cap - 1;
	size_t i = ph_hash64(key) & mask;
	while (keys[i])
		i = (i + 1) & mask;
	keys[i] = key;
	vals[i] = val;
}

struct ph_error *ph_u64map_reserve(struct ph_u64map *m, size_t count)
{
	size_t cap = m->cap ? m->cap : 1024;
	while (cap < count * 2)
		cap *= 2;
	if (cap == m->cap)
		return NULL;
	uint64_t *keys = calloc(cap, sizeof(*keys));
	uint32_t *vals = malloc(cap * sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return ph_error_nomem();
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			map_insert(keys, vals, cap, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return NULL;
}

struct ph_error *ph_u64map_put(struct ph_u64map *m, uint64_t key, uint32_t val,
			       bool *ret_existed)
{
	uint32_t *v = ph_u64map_get(m, key);
	if (v) {
		if (ret_existed)
			*ret_existed = true;
		return NULL;
	}
	if ((m->count + 1) * 2 > m->cap) {
		struct ph_error *err = ph_u64map_reserve(m, m->count + 1);
		if (err)
			return err;
	}
	map_insert(m->keys, m->vals, m->cap, key, val);
	m->count++;
	if (ret_existed)
		*ret_existed = false;
	return NULL;
}

/* PYHEAP_TIMING=1 prints how long each stage took, to stderr. */
void ph_stage(const char *what)
{
	static int on = -1;
	static uint64_t last;
	if (on < 0)
		on = getenv("PYHEAP_TIMING") != NULL;
	if (!on)
		return;
	uint64_t now = ph_now_ns();
	if (what && last)
		fprintf(stderr, "py-heap: %-24s %10.3f ms\n", what,
			(double)(now - last) / 1e6);
	last = now;
}

/* The processors the process may use (its mask as the first helper is
 * started, by the main thread), and whether helpers are placed. */
static struct {
	pthread_once_t once;
	cpu_set_t allowed;
	uint64_t mask[CPU_SETSIZE / 64]; /* the same, for ph_cpu_pick */
	long n;
	bool place;
} cpus = {PTHREAD_ONCE_INIT};

static void cpus_init(void)
{
	const char *e = getenv("PYHEAP_SPREAD");
	cpus.place = !(e && !strcmp(e, "0"));
	if (!sched_getaffinity(0, sizeof(cpus.allowed), &cpus.allowed))
		cpus.n = CPU_COUNT(&cpus.allowed);
	if (cpus.n < 1) {
		cpus.n = sysconf(_SC_NPROCESSORS_ONLN);
		cpus.place = false;
	}
	if (cpus.n < 1)
		cpus.n = 1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &cpus.allowed))
			cpus.mask[c / 64] |= 1ULL << (c % 64);
}

long ph_ncpus(void)
{
	pthread_once(&cpus.once, cpus_init);
	return cpus.n;
}

int ph_cpu_pick(const uint64_t *mask, size_t nwords, int cur, unsigned k)
{
	size_t others = 0, bits = nwords * 64;
	for (size_t c = 0; c < bits; c++)
		others += (mask[c / 64] >> (c % 64) & 1) && (int)c != cur;
	if (!others)
		return -1;
	size_t steps = 1 + (k ? k - 1 : 0) % others;
	size_t c = cur >= 0 && (size_t)cur < bits ? (size_t)cur : bits - 1;
	while (steps) {
		c = (c + 1) % bits;
		if ((mask[c / 64] >> (c % 64) & 1) && (int)c != cur)
			steps--;
	}
	return (int)c;
}

static void *thread_main(void *arg)
{
	struct ph_thread *t = arg;
	/* placed: now free to go where the scheduler sends it (kept on one
	 * processor, it would wait there while another is idle, on a machine
	 * with more of them than this one's two) */
	if (cpus.place)
		sched_setaffinity(0, sizeof(cpus.allowed), &cpus.allowed);
	return t->fn(t->arg);
}

bool ph_thread_start(struct ph_thread *t, void *(*fn)(void *), void *arg,
		     unsigned k)
{
	*t = (struct ph_thread){.fn = fn, .arg = arg};
	ph_ncpus();
	pthread_attr_t attr, *a = NULL;
	int c = cpus.place && cpus.n > 1
			? ph_cpu_pick(cpus.mask, PH_ARRAY_SIZE(cpus.mask),
				      sched_getcpu(), k)
			: -1;
	cpu_set_t one;
	CPU_ZERO(&one);
	if (c >= 0 && !pthread_attr_init(&attr)) {
		a = &attr;
		CPU_SET(c, &one);
		if (pthread_attr_setaffinity_np(&attr, sizeof(one), &one)) {
			pthread_attr_destroy(&attr);
			a = NULL;
		}
	}
	t->started = !pthread_create(&t->th, a, thread_main, t);
	if (a)
		pthread_attr_destroy(a);
	return t->started;
}

void ph_thread_join(struct ph_thread *t)
{
	if (t->started)
		pthread_join(t->th, NULL);
	t->started = false;
}

struct chunk_run {
	void *(*fn)(void *);
	char *ctx;
	size_t size, n;
	size_t next; /* the next chunk to take (atomic) */
};

static void *chunk_worker(void *arg)
{
	struct chunk_run *r = arg;
	size_t k;
	while ((k = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED)) < r->n)
		r->fn(r->ctx + k * r->size);
	return NULL;
}

void ph_run_chunks(void *(*fn)(void *), void *ctx, size_t size, size_t n,
		   bool threads)
{
	enum { MAX = 8 };
	struct ph_thread th[MAX];
	size_t started = 0;
	struct chunk_run r = {fn, ctx, size, n, 0};
	long ncpu = threads ? ph_ncpus() : 1;
	for (long k = 1; k < ncpu && k < MAX && (size_t)k < n; k++) {
		if (!ph_thread_start(&th[started], chunk_worker, &r,
				     (unsigned)k))
			break;
		started++;
	}
	chunk_worker(&r);
	for (size_t k = 0; k < started; k++)
		ph_thread_join(&th[k]);
}

void ph_run_parallel(void *(*fn)(void *), void *ctx, size_t size, size_t n,
		     bool threads)
{
	enum { MAX = 8 };
	struct ph_thread th[MAX];
	char *c = ctx;
	for (size_t k = 1; k < n && k < MAX; k++)
		th[k].started =
			threads &&
			ph_thread_start(&th[k], fn, c + k * size, (unsigned)k);
	fn(c);
	for (size_t k = 1; k < n; k++) {
		if (k < MAX && th[k].started)
			ph_thread_join(&th[k]);
		else
			fn(c + k * size);
	}
}
