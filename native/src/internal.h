/* internal.h - private declarations shared by libpyheap's sources. */
#ifndef PH_INTERNAL_H
#define PH_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pyheap.h"

#define PH_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PH_UNUSED __attribute__((unused))
#define PH_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- errors (error.c) ---- */
struct ph_error {
	enum ph_error_code code;
	char *message;
	uint64_t address;
	char *path;
	/* names the user may have meant (NUL-separated), or NULL */
	char *suggestions;
	size_t nsuggestions;
};

struct ph_error *ph_error_create(enum ph_error_code code, const char *fmt, ...)
	PH_PRINTF(2, 3);
struct ph_error *ph_error_create_at(enum ph_error_code code, uint64_t address,
				    const char *fmt, ...) PH_PRINTF(3, 4);
struct ph_error *ph_error_create_path(enum ph_error_code code, const char *path,
				      const char *fmt, ...) PH_PRINTF(3, 4);
struct ph_error *ph_error_nomem(void);
/* Prefixes err's message with "what: ", keeping code, address and path. */
struct ph_error *ph_error_wrap(struct ph_error *err, const char *fmt, ...)
	PH_PRINTF(2, 3);

/* ---- growable string buffer (buf.c) ---- */
struct ph_buf {
	char *data;
	size_t len, cap;
	bool failed; /* an allocation failed; data is truncated */
};

void ph_buf_init(struct ph_buf *b);
void ph_buf_free(struct ph_buf *b);
/* ph_buf_putn where b must grow first */
void ph_buf_putn_grow(struct ph_buf *b, const char *s, size_t n);
/* Room for extra more bytes at once: a large output grown in one step,
 * not copied as it doubles */
void ph_buf_reserve(struct ph_buf *b, size_t extra);

/* Inline where there is room: JSON of millions of values is written a
 * few bytes at a time (a call and a strlen each took a fifth of it) */
static inline void ph_buf_putn(struct ph_buf *b, const char *s, size_t n)
{
	if (b->len + n < b->cap && !b->failed) {
		memcpy(b->data + b->len, s, n);
		b->len += n;
		b->data[b->len] = '\0';
		return;
	}
	ph_buf_putn_grow(b, s, n);
}

static inline void ph_buf_puts(struct ph_buf *b, const char *s)
{
	ph_buf_putn(b, s, strlen(s));
}

static inline void ph_buf_putc(struct ph_buf *b, char c)
{
	ph_buf_putn(b, &c, 1);
}

void ph_buf_printf(struct ph_buf *b, const char *fmt, ...) PH_PRINTF(2, 3);
/* Hands over the string (NUL-terminated) or an error if allocation failed. */
struct ph_error *ph_buf_finish(struct ph_buf *b, char **ret);
/* Formats n with thousands separators: 1,234,567 (plain text: 1234567). */
const char *ph_fmt_count(uint64_t n, char out[32]);
/* Text for tools (--plain, PYHEAP_PLAIN=1) on this thread: numbers
 * without separators, the columns of tables separated by one tab. Set
 * while a command runs (ph_session_exec). */
void ph_plain_set(bool plain);
bool ph_plain(void);

/* How much of an object ph_repr_readable writes (0: no bound of that
 * kind; hard bounds remain). */
struct ph_readable_opts {
	unsigned items;	  /* items of each container, attributes */
	unsigned depth;	  /* levels of containers written out */
	unsigned str_len; /* characters of a str, bytes of a bytes */
	size_t max_len;	  /* bytes written in all (0: 4096), then cut */
};

/* ---- hash map from 64-bit keys to 32-bit values (buf.c) ---- */
struct ph_u64map {
	uint64_t *keys; /* 0 = empty slot; key 0 is never stored */
	uint32_t *vals;
	size_t cap, count;
};

void ph_u64map_init(struct ph_u64map *m);
void ph_u64map_free(struct ph_u64map *m);
/* Returns a pointer to the value for key, or NULL. */
uint32_t *ph_u64map_get(const struct ph_u64map *m, uint64_t key);
/* Inserts key (if absent) with val; *ret_existed tells if it was there. */
struct ph_error *ph_u64map_put(struct ph_u64map *m, uint64_t key, uint32_t val,
			       bool *ret_existed);
struct ph_error *ph_u64map_reserve(struct ph_u64map *m, size_t count);

/* The hashed GNU build-id of the code running (buildid.c); 0 if it has
 * none, and then nothing is cached that depends on it. */
uint64_t ph_build_hash(void);

static inline uint64_t ph_hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* ---- progress (progress.c): see ph_set_progress ---- */
/* A command starts (quiet: it reports nothing) and ends, on this thread;
 * the end tells a function that was told of progress that it is over. */
void ph_progress_begin(bool quiet);
void ph_progress_end(void);
/* A stage of the work starts: its name ("building the graph") and the
 * units it counts to (0: not counted). */
void ph_progress_stage(const char *what, uint64_t total);
/* How far the stage got (of its total). */
void ph_progress_done(uint64_t done);
/* The stage's name changed, its count kept; the name it had (to put back:
 * a wait inside a stage). */
const char *ph_progress_rename(const char *what);
/* Reports, when the command has run a second and the last report is a
 * tenth of a second old. Cheap otherwise: ph_interrupted() calls it. */
void ph_progress_tick(void);

/* Set by ph_interrupt(); long loops poll it (ph_interrupted) and give up.
 * Polling it is also where they report their progress. */
extern volatile int ph_interrupt_flag;
static inline bool ph_interrupted(void)
{
	ph_progress_tick();
	return __atomic_load_n(&ph_interrupt_flag, __ATOMIC_RELAXED) != 0;
}
struct ph_error *ph_error_interrupted(void);

/* FNV-1a of n bytes, continuing from h (PH_FNV_BASIS to start): the hash
 * of names and build-ids in tables and cache keys, whose files keep the
 * values it gives. */
#define PH_FNV_BASIS 0xcbf29ce484222325ULL
static inline uint64_t ph_fnv1a(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* The monotonic clock, in nanoseconds. */
uint64_t ph_now_ns(void);
/* PYHEAP_TIMING=1: prints the time since the last call, labelled what
 * (NULL only starts the clock), to stderr. */
void ph_stage(const char *what);

/* A helper thread, started on another processor than its creator's (the
 * k-th one allowed after it, k from 1), then free to go anywhere allowed:
 * a new thread the kernel puts beside its creator shares that processor for
 * milliseconds while the other idles (docs/performance.md).
 * PYHEAP_SPREAD=0: where the kernel puts it. */
struct ph_thread {
	pthread_t th;
	void *(*fn)(void *);
	void *arg;
	bool started;
};
/* false: no thread (t->started false; the caller does its work). */
bool ph_thread_start(struct ph_thread *t, void *(*fn)(void *), void *arg,
		     unsigned k);
/* Waits for a thread ph_thread_start started (nothing if none). */
void ph_thread_join(struct ph_thread *t);
/* The processors this process may use, counted once. */
long ph_ncpus(void);
/* Of the processors set in mask (nwords words, processor c at bit c % 64 of
 * word c / 64), the k-th after cur (k from 1), going round, cur not
 * counted; -1 when there is none but cur. */
int ph_cpu_pick(const uint64_t *mask, size_t nwords, int cur, unsigned k);

/* Runs fn on each of the n contexts at ctx (size bytes apart): the first
 * on this thread, the others on threads of their own when threads is true
 * (or alone, in order, when a thread cannot be made); returns when all are
 * done. The workers share the core's memory, which they only read. */
void ph_run_parallel(void *(*fn)(void *), void *ctx, size_t size, size_t n,
		     bool threads);
/* Runs fn on each of the n contexts (size bytes each, from ctx), on as
 * many threads as there are processors (at most 8; one if !threads), each
 * taking the next context when done with one: a thread slowed down by
 * another process on its processor takes fewer. */
void ph_run_chunks(void *(*fn)(void *), void *ctx, size_t size, size_t n,
		   bool threads);

/* An array of bytes bytes for a large table (in huge pages where their
 * first touch costs less than small ones', as timed once per process on a
 * few small pages; PYHEAP_HUGE_PAGES=0/1 decides instead), freed with
 * ph_big_free and the same size. Not zeroed. */
void *ph_big_alloc(size_t bytes);
/* The same, zeroed: calloc for a table a word per object, whose pages
 * malloc would map small (a first touch each, dear under PVM: the
 * referrers of 10M objects took 0.36 s in malloc's pages, 0.06 s in
 * these). */
void *ph_big_zalloc(size_t bytes);
#define PH_HUGE_PAGE ((size_t)2 << 20) /* x86-64's, as the kernel's THP */
/* Are huge pages cheaper than small ones for new memory on this machine
 * (a first touch timed once per process, or PYHEAP_HUGE_PAGES)? */
bool ph_huge_pages(void);
/* mmap(NULL, len, prot, flags, fd, 0) placed at a PH_HUGE_PAGE boundary;
 * MAP_FAILED as mmap. Unmapped as any mapping of len bytes. */
void *ph_map_aligned(size_t len, int prot, int flags, int fd);
void ph_big_free(void *p, size_t bytes);
/* The end of a ph_big_alloc array of bytes bytes past keep given back
 * (kept, under a hold, as ph_big_free's); the array's size from now on,
 * for ph_big_free: keep rounded up, or bytes where nothing is given. */
size_t ph_big_shrink(void *p, size_t bytes, size_t keep);
/* While a hold is on, ph_big_free keeps what it is given for the next
 * ph_big_alloc (a command's tables used again); the last release unmaps
 * it all. Holds nest. */
void ph_big_hold(void);
void ph_big_release(void);
/* munmap, a large mapping's pages dropped by two threads first. */
void ph_unmap(void *p, size_t len);
/* ph_grow for an array in ph_big_alloc's memory (freed with ph_big_free
 * and *cap elements): a list that grows to megabytes in ph_big_alloc's
 * pages. */
struct ph_error *ph_big_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* py-heap's cache directory ($PYHEAP_CACHE_DIR, else
 * $XDG_CACHE_HOME/py-heap, else ~/.cache/py-heap): the path of the file
 * name in it (malloc'd; NULL if there is no such directory to name). */
char *ph_cache_file(const char *name);
/* Is the directory of path this user's, and writable by no one else? */
bool ph_cache_dir_ok(const char *path);
/* Makes the directories of path (0700), then ph_cache_dir_ok. */
bool ph_cache_mkdir(const char *path);
/* All n bytes written to fd, in writes of at most 1 GiB, again after
 * EINTR; false (errno set) if it cannot. */
bool ph_write_all(int fd, const void *buf, uint64_t n);
/* All n bytes of fd read at off, likewise; false at an error or the end. */
bool ph_pread_all(int fd, void *buf, uint64_t n, uint64_t off);
/* A small cache file read whole: a regular file of this user's, not a
 * link, in a directory as ph_cache_dir_ok wants, of 1 to max bytes;
 * malloc'd, its length in *ret_len. NULL when there is none fit to read. */
void *ph_cache_read(const char *path, size_t max, size_t *ret_len);
/* len bytes written to a new file of ours beside path (the directories
 * made as ph_cache_mkdir does), renamed over path: a reader sees the old
 * file or the new one, whole. */
bool ph_cache_write(const char *path, const void *data, size_t len);
/* The same, of nparts pieces written one after the other. */
bool ph_cache_write_parts(const char *path, const void *const *parts,
			  const uint64_t *bytes, int nparts);

/* Grows *arr (of elem bytes each) so that it holds at least need elements. */
struct ph_error *ph_grow(void **arr, size_t *cap, size_t need, size_t elem);

#endif /* PH_INTERNAL_H */
