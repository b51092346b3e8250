/*
 * live.c - a running process as a memory source.
 *
 * The pause (docs/design.md, "Reading a live process"), all of it on a
 * thread of its own (the tracer: only it may detach what it seized):
 *
 *  - every thread that could run user code while the memory is copied is
 *    seized and stopped (PTRACE_SEIZE, PTRACE_INTERRUPT), except one
 *    blocked in a system call that an interrupt would make fail with EINTR
 *    (epoll_wait, semop, sigtimedwait, a socket call...). Those, threads
 *    in an uninterruptible wait (a vfork parent) and threads already
 *    stopped are left alone and watched instead: the process's CPU clock
 *    must not move while the memory is copied, or the copy is made again;
 *  - only the pages the process has (present or swapped out, says
 *    /proc/PID/pagemap) are copied, with process_vm_readv: a page it never
 *    touched is not faulted in. Such a page of private anonymous memory is
 *    zeros, and reads as zeros; of a private file mapping, it is the
 *    file's (taken from the file afterwards); of shared memory, it is not
 *    copied and reads as missing;
 *  - every stopped thread is detached with the signal it was stopped
 *    delivering, if any. A thread that does not stop in time cannot run
 *    user code before it is let go: the tracer thread stays to detach it
 *    when it stops.
 *
 * Signals that would end or suspend py-heap (SIGINT, SIGTERM, SIGHUP,
 * SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU) are held back meanwhile.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <elf.h>

#include "target.h"

/* ---- /proc/PID/maps ------------------------------------------------------ */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool parse_hex(const char **p, const char *e, int max, uint64_t *ret)
{
	uint64_t v = 0;
	int n = 0, d;
	while (*p < e && (d = hex_digit(**p)) >= 0) {
		if (++n > max)
			return false;
		v = v << 4 | (uint64_t)d;
		(*p)++;
	}
	*ret = v;
	return n > 0;
}

static bool parse_char(const char **p, const char *e, char c)
{
	if (*p >= e || **p != c)
		return false;
	(*p)++;
	return true;
}

/* One line, [p, e), e at its newline (now a NUL) or the text's end. */
static bool parse_maps_line(const char *p, const char *e, struct ph_mapping *m)
{
	uint64_t maj, min;
	if (!parse_hex(&p, e, 16, &m->start) || !parse_char(&p, e, '-') ||
	    !parse_hex(&p, e, 16, &m->end) || !parse_char(&p, e, ' ') ||
	    e - p < 5)
		return false;
	if ((p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 's' && p[3] != 'p') ||
	    p[4] != ' ')
		return false;
	m->r = p[0] == 'r';
	m->w = p[1] == 'w';
	m->x = p[2] == 'x';
	m->shared = p[3] == 's';
	p += 5;
	if (!parse_hex(&p, e, 16, &m->offset) || !parse_char(&p, e, ' ') ||
	    !parse_hex(&p, e, 8, &maj) || !parse_char(&p, e, ':') ||
	    !parse_hex(&p, e, 8, &min) || !parse_char(&p, e, ' '))
		return false;
	m->dev_major = (uint32_t)maj;
	m->dev_minor = (uint32_t)min;
	uint64_t ino = 0;
	int n = 0;
	for (; p < e && *p >= '0' && *p <= '9'; p++, n++) {
		if (ino > (UINT64_MAX - 9) / 10)
			return false;
		ino = ino * 10 + (uint64_t)(*p - '0');
	}
	if (!n)
		return false;
	m->inode = ino;
	/* the path: after the padding, to the end of the line, whatever it
	 * holds (a file's name may hold anything but a newline, which the
	 * kernel writes as \012) */
	if (p < e && *p != ' ')
		return false;
	while (p < e && *p == ' ')
		p++;
	m->path = p;
	return m->start < m->end && !(m->start & 0xfff) && !(m->end & 0xfff);
}

struct ph_error *ph_maps_parse(char *text, size_t len, struct ph_mapping **ret,
			       size_t *ret_n, size_t *ret_bad)
{
	struct ph_mapping *m = NULL;
	size_t n = 0, cap = 0, bad = 0;
	uint64_t last_end = 0;
	text[len] = '\0';
	char *p = text, *end = text + len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl ? nl : end;
		*e = '\0';
		struct ph_mapping x = {0};
		/* the kernel lists mappings in order, disjoint */
		if (!parse_maps_line(p, e, &x) || x.start < last_end) {
			if (e > p)
				bad++;
		} else {
			struct ph_error *err =
				ph_grow((void **)&m, &cap, n + 1, sizeof(*m));
			if (err) {
				free(m);
				return err;
			}
			m[n++] = x;
			last_end = x.end;
		}
		p = e + 1;
	}
	*ret = m;
	*ret_n = n;
	*ret_bad = bad;
	return NULL;
}

/* A /proc file whole, however long (its size is not known before). */
static struct ph_error *read_proc_file(const char *path, char **ret,
				       size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ph_error_create(errno == ENOENT ? PH_ERR_NOT_FOUND
						       : PH_ERR_OS,
				       "%s: %s", path, strerror(errno));
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (!buf) {
			close(fd);
			return ph_error_nomem();
		}
		if (len == cap) {
			char *nb = cap < (SIZE_MAX - 1) / 2
					   ? realloc(buf, 2 * cap + 1)
					   : NULL;
			if (!nb)
				free(buf);
			buf = nb;
			cap *= 2;
			continue;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			close(fd);
			return ph_error_create(PH_ERR_OS, "%s: %s", path,
					       strerror(e));
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return NULL;
}

/* ---- processes and threads ---------------------------------------------- */

#define PF_EXITING_ 0x00000004
#define PF_IO_WORKER_ 0x00000010
#define PF_KTHREAD_ 0x00200000

struct task_stat {
	char state;
	unsigned long flags;
	int ppid;
	char comm[64];
};

/* /proc/PID/stat, or /proc/PID/task/TID/stat: the name is in parentheses
 * and may hold anything, the last ')' ends it. */
static bool read_task_stat(int pid, int tid, struct task_stat *ret)
{
	char path[64], buf[1024];
	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
	if (!lp || !rp || rp < lp || rp[1] != ' ' || !rp[2])
		return false;
	size_t cl = (size_t)(rp - lp - 1);
	if (cl >= sizeof(ret->comm))
		cl = sizeof(ret->comm) - 1;
	memcpy(ret->comm, lp + 1, cl);
	ret->comm[cl] = '\0';
	ret->state = rp[2];
	int ppid = 0;
	unsigned long flags = 0;
	if (sscanf(rp + 3, "%d %*d %*d %*d %*d %lu", &ppid, &flags) != 2)
		return false;
	ret->ppid = ppid;
	ret->flags = flags;
	return true;
}

/* The system calls a stop (an interrupt) makes fail with EINTR instead of
 * restarting them, signal(7) says: epoll_wait, semop, sigtimedwait, and
 * socket calls that have a timeout (which py-heap cannot see: every socket
 * call); io_getevents and io_uring_enter too. */
static bool syscall_fails_with_eintr(int pid, long nr, uint64_t arg0)
{
	switch (nr) {
#ifdef SYS_epoll_wait
	case SYS_epoll_wait:
#endif
	case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
	case SYS_rt_sigtimedwait:
#ifdef SYS_semop
	case SYS_semop:
#endif
	case SYS_semtimedop:
	case SYS_io_getevents:
#ifdef SYS_io_pgetevents
	case SYS_io_pgetevents:
#endif
#ifdef SYS_io_uring_enter
	case SYS_io_uring_enter:
#endif
#ifdef SYS_accept
	case SYS_accept:
#endif
	case SYS_accept4:
	case SYS_connect:
	case SYS_recvfrom:
	case SYS_recvmsg:
	case SYS_recvmmsg:
	case SYS_sendto:
	case SYS_sendmsg:
	case SYS_sendmmsg:
		return true;
#ifdef SYS_read
	case SYS_read:
#endif
	case SYS_readv:
#ifdef SYS_write
	case SYS_write:
#endif
	case SYS_writev: {
		/* on a socket with a timeout, these too */
		char path[64], link[32];
		snprintf(path, sizeof(path), "/proc/%d/fd/%llu", pid,
			 (unsigned long long)arg0);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		return n > 7 && !memcmp(link, "socket:", 7);
	}
	default:
		return false;
	}
}

/* Where a sleeping thread sleeps: the system call from
 * /proc/PID/task/TID/syscall, -1 when it is in none (or cannot be read). */
static long task_syscall(int pid, int tid, uint64_t *ret_arg0)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	long nr;
	unsigned long long a0 = 0;
	if (sscanf(buf, "%ld %llx", &nr, &a0) < 1)
		return -1;
	*ret_arg0 = a0;
	return nr;
}

enum thread_how {
	T_GONE,	   /* exited, or a zombie */
	T_WATCHED, /* left running (its CPU time is watched) */
	T_SEIZED,  /* interrupted, its stop not seen yet */
	T_STOPPED, /* stopped by py-heap */
};

struct thread {
	int tid;
	enum thread_how how;
	bool seized;
	int sig; /* the signal it was stopped delivering: given back */
	char state;
	long syscall;
};

struct pause {
	struct ph_target *t;
	int pid;
	struct thread *th;
	size_t nth, cap;
	struct ph_u64map index; /* tid -> th index */
	clockid_t clock;
	bool clock_ok;
	double wait_ms; /* for a thread to stop */
	double deadline;
	/* between the tracer thread and the caller */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done, lingering;
	struct ph_error *err;
	struct live *lv;
};

static double now_ms(void)
{
	return (double)ph_now_ns() / 1e6;
}

static struct ph_error *ptrace_error(int pid, int e)
{
	if (e == ESRCH)
		return ph_error_create(PH_ERR_NOT_FOUND,
				       "process %d exited while py-heap was "
				       "stopping it",
				       pid);
	if (e == EPERM)
		return ph_error_create(PH_ERR_OS,
				       "not permitted to stop process %d: run "
				       "py-heap as its user or as root, and "
				       "check that no debugger is attached and "
				       "/proc/sys/kernel/yama/ptrace_scope "
				       "allows it (or use --no-stop)",
				       pid);
	return ph_error_create(PH_ERR_OS, "ptrace of process %d: %s", pid,
			       strerror(e));
}

/* The thread's stop status, as waitpid gave it. */
static void thread_status(struct thread *th, int status)
{
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		th->how = T_GONE;
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	/* A signal-delivery-stop (no event): the signal waits for the
	 * tracer to pass it on, and is lost unless it does. A group-stop
	 * or the interrupt's own stop (PTRACE_EVENT_STOP) has none. */
	if ((status >> 16) == 0)
		th->sig = WSTOPSIG(status);
	th->how = T_STOPPED;
}

/* Decides for one thread: stop it, or watch it. */
static struct ph_error *thread_take(struct pause *p, struct thread *th)
{
	struct task_stat ts;
	if (!read_task_stat(p->pid, th->tid, &ts) || ts.state == 'Z' ||
	    ts.state == 'X') {
		th->how = T_GONE;
		return NULL;
	}
	th->state = ts.state;
	th->syscall = -1;
	bool watch = false;
	if (ts.flags & (PF_IO_WORKER_ | PF_KTHREAD_))
		watch = true; /* cannot be traced; never runs user code */
	else if (ts.state == 'D' || ts.state == 'T')
		/* uninterruptible (a vfork parent, I/O) or stopped already:
		 * an interrupt would not stop it before it wakes, and it
		 * cannot run user code until then */
		watch = p->clock_ok || ts.state == 'D';
	else if (ts.state == 'S' && p->clock_ok) {
		uint64_t a0 = 0;
		th->syscall = task_syscall(p->pid, th->tid, &a0);
		watch = th->syscall >= 0 &&
			syscall_fails_with_eintr(p->pid, th->syscall, a0);
	}
	if (watch) {
		th->how = T_WATCHED;
		return NULL;
	}
	if (!th->seized) {
		if (ptrace(PTRACE_SEIZE, th->tid, NULL, NULL) < 0) {
			if (errno == ESRCH) {
				th->how = T_GONE;
				return NULL;
			}
			return ptrace_error(p->pid, errno);
		}
		th->seized = true;
	}
	if (ptrace(PTRACE_INTERRUPT, th->tid, NULL, NULL) < 0) {
		th->how = T_GONE;
		return NULL;
	}
	th->how = T_SEIZED;
	return NULL;
}

/* Waits until every interrupted thread has stopped, or the deadline. */
static void wait_stops(struct pause *p)
{
	unsigned nap = 20; /* microseconds, doubling to 1 ms */
	for (;;) {
		bool pending = false;
		for (size_t i = 0; i < p->nth; i++) {
			struct thread *th = &p->th[i];
			if (th->how != T_SEIZED)
				continue;
			int status;
			pid_t r = waitpid(th->tid, &status, __WALL | WNOHANG);
			if (r == th->tid)
				thread_status(th, status);
			else if (r < 0 && errno == ECHILD)
				th->how = T_GONE;
			if (th->how == T_SEIZED)
				pending = true;
		}
		if (!pending || now_ms() > p->deadline)
			return;
		struct timespec ts = {0, (long)nap * 1000};
		nanosleep(&ts, NULL);
		if (nap < 1000)
			nap *= 2;
	}
}

static struct thread *thread_find(struct pause *p, int tid)
{
	uint32_t *i = ph_u64map_get(&p->index, (uint64_t)tid);
	return i ? &p->th[*i] : NULL;
}

/*
 * Stops the threads that need it, including threads started meanwhile (the
 * listing is repeated until no new one appears). A thread watched stays
 * so: it sleeps in a call an interrupt would fail, or did.
 */
static struct ph_error *stop_threads(struct pause *p)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", p->pid);
	for (int round = 0; round < 100; round++) {
		DIR *d = opendir(dir);
		if (!d)
			return ph_error_create(PH_ERR_NOT_FOUND,
					       "process %d exited", p->pid);
		bool added = false;
		struct dirent *de;
		struct ph_error *err = NULL;
		while (!err && (de = readdir(d))) {
			int tid = atoi(de->d_name);
			if (tid <= 0)
				continue;
			if (thread_find(p, tid))
				continue;
			if ((err = ph_grow((void **)&p->th, &p->cap, p->nth + 1,
					   sizeof(*p->th))) ||
			    (err = ph_u64map_put(&p->index, (uint64_t)tid,
						 (uint32_t)p->nth, NULL)))
				break;
			struct thread *th = &p->th[p->nth++];
			*th = (struct thread){.tid = tid};
			added = true;
			err = thread_take(p, th);
		}
		closedir(d);
		if (err)
			return err;
		wait_stops(p);
		if (!added)
			return NULL;
	}
	return NULL;
}

static bool cpu_clock(struct pause *p, uint64_t *ret)
{
	struct timespec ts;
	if (!p->clock_ok || clock_gettime(p->clock, &ts) < 0)
		return false;
	*ret = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return true;
}

/* ---- the copy ------------------------------------------------------------ */

/* PAGEMAP_SCAN (Linux 6.7), declared here for older headers. */
#define PM_PAGE_IS_PRESENT (1 << 3)
#define PM_PAGE_IS_SWAPPED (1 << 4)
#define PM_PAGE_IS_PFNZERO (1 << 5)
struct pm_page_region {
	uint64_t start, end, categories;
};
struct pm_scan_arg_ {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};
#define PAGEMAP_SCAN_ _IOWR('f', 16, struct pm_scan_arg_)

enum map_kind {
	K_SKIP,
	K_ANON,	  /* private anonymous: an untouched page is zeros */
	K_FILE,	  /* private file: an untouched page is the file's */
	K_SHARED, /* shared: an untouched page is not copied */
};

/* A range of a file or shared mapping the process never touched: its
 * content is the file's (ph_resolve_untouched). */
struct fill {
	uint64_t start, end;
	size_t map;
	const uint8_t *buf; /* the mapping's copy (zeros there), or NULL */
};

struct live {
	struct ph_target *t;
	int pid, mm_tid;
	long page;
	int pagemap_fd;
	int scan; /* PAGEMAP_SCAN: 1 works, -1 does not, 0 not tried */
	char *maps_text;
	struct ph_mapping *maps;
	size_t nmaps, bad_lines;
	struct fill *fills;
	size_t nfills, fills_cap;
	struct pm_page_region *regions;
	uint64_t *entries;
	/* the copy of one mapping */
	struct iovec *liov, *riov;
	size_t niov;
	struct run {
		uint64_t start, end;
		const uint8_t *data; /* the copy; NULL: could not be read */
	} * runs;
	size_t nruns, runs_cap;
	uint64_t bytes_copied, bytes_untouched;
	bool whole; /* pagemap cannot be read: copy mappings whole */
};

#define MADV_POPULATE_WRITE_ 23 /* for older headers */
#define LIVE_REGIONS 512
#define LIVE_ENTRIES 8192
#define LIVE_IOV 1024

static enum map_kind map_kind(const struct ph_mapping *m)
{
	if (!m->r || !strncmp(m->path, "[vvar", 5) ||
	    !strcmp(m->path, "[vsyscall]") || !strcmp(m->path, "[vdso]"))
		return K_SKIP;
	/* read-only file data comes from the file */
	if (m->path[0] == '/' && !m->w)
		return K_SKIP;
	if (m->shared)
		return K_SHARED;
	/* private and anonymous although named: /dev/zero, MAP_HUGETLB */
	if (m->path[0] == '/' && m->inode && strcmp(m->path, "/dev/zero") &&
	    strncmp(m->path, "/anon_hugepage", 14))
		return K_FILE;
	return K_ANON;
}

/* Records [start, end) as copied at data (NULL: not readable). */
static struct ph_error *run_add(struct live *lv, uint64_t start, uint64_t end,
				const uint8_t *data)
{
	struct run *last = lv->nruns ? &lv->runs[lv->nruns - 1] : NULL;
	if (last && last->end == start && !last->data == !data &&
	    (!data || last->data + (last->end - last->start) == data)) {
		last->end = end;
		return NULL;
	}
	struct ph_error *err = ph_grow((void **)&lv->runs, &lv->runs_cap,
				       lv->nruns + 1, sizeof(*lv->runs));
	if (err)
		return err;
	lv->runs[lv->nruns++] = (struct run){start, end, data};
	return NULL;
}

#define LIVE_PAR_MIN ((size_t)8 << 20) /* a batch read on two threads */

/* One thread's part of a batch: its pages made, then read. */
struct read_part {
	pid_t tid;
	struct iovec *liov, *riov;
	size_t n, want;
	ssize_t got;
};

static void populate(const struct iovec *liov, size_t n)
{
	/* The copy's pages made at once: faulted in one by one inside
	 * process_vm_readv, they cost ten times more (230 ms for 64 MiB,
	 * against 10 ms to populate and 9 ms to copy). Linux 5.14. */
	for (size_t i = 0; i < n; i++)
		madvise(liov[i].iov_base, liov[i].iov_len,
			MADV_POPULATE_WRITE_);
}

static void *read_part_worker(void *arg)
{
	struct read_part *p = arg;
	populate(p->liov, p->n);
	p->got = process_vm_readv(p->tid, p->liov, p->n, p->riov, p->n, 0);
	return NULL;
}

/*
 * The batch read on two threads, halves by bytes (the iovec the middle
 * falls in cut at a page), while the process is stopped: making the pages
 * and copying them is most of the pause. True when both halves read all;
 * else the caller reads the batch again one call after another, which
 * finds the page that failed (the process is stopped: the same bytes).
 */
static bool read_parallel(struct live *lv, size_t *ret_bytes)
{
	size_t total = 0;
	for (size_t i = 0; i < lv->niov; i++)
		total += lv->riov[i].iov_len;
	*ret_bytes = total;
	if (total < LIVE_PAR_MIN)
		return false;
	size_t k = 0, acc = 0;
	while (k < lv->niov && acc + lv->riov[k].iov_len <= total / 2)
		acc += lv->riov[k++].iov_len;
	size_t off = (total / 2 - acc) & ~(size_t)(lv->page - 1);
	if (k < lv->niov && off && lv->niov < LIVE_IOV) {
		/* cut iovec k in two: still one run when both are read */
		memmove(lv->riov + k + 2, lv->riov + k + 1,
			(lv->niov - k - 1) * sizeof(*lv->riov));
		memmove(lv->liov + k + 2, lv->liov + k + 1,
			(lv->niov - k - 1) * sizeof(*lv->liov));
		lv->riov[k + 1] =
			(struct iovec){(char *)lv->riov[k].iov_base + off,
				       lv->riov[k].iov_len - off};
		lv->liov[k + 1] =
			(struct iovec){(char *)lv->liov[k].iov_base + off,
				       lv->liov[k].iov_len - off};
		lv->riov[k].iov_len = lv->liov[k].iov_len = off;
		lv->niov++;
		acc += off;
		k++;
	}
	if (k == 0 || k >= lv->niov)
		return false;
	struct read_part a = {lv->mm_tid, lv->liov, lv->riov, k, acc, -1};
	struct read_part b = {lv->mm_tid,   lv->liov + k, lv->riov + k,
			      lv->niov - k, total - acc,  -1};
	struct ph_thread th;
	if (!ph_thread_start(&th, read_part_worker, &b, 1))
		return false;
	read_part_worker(&a);
	ph_thread_join(&th);
	return a.got == (ssize_t)a.want && b.got == (ssize_t)b.want;
}

/*
 * Reads the batch of runs queued (lv->liov/riov); a page that cannot be
 * read (a file truncated under a shared mapping, a device's memory) is
 * recorded as missing and the batch goes on after it, in a loop: one
 * system call per page at worst, and no recursion.
 */
static struct ph_error *flush_reads(struct live *lv)
{
	size_t i = 0, bytes;
	bool read = read_parallel(lv, &bytes);
	if (!read)
		populate(lv->liov, lv->niov);
	while (i < lv->niov) {
		ssize_t r = read ? (ssize_t)bytes
				 : process_vm_readv(lv->mm_tid, lv->liov + i,
						    lv->niov - i, lv->riov + i,
						    lv->niov - i, 0);
		read = false;
		if (r < 0 && errno == ESRCH)
			return ph_error_create(PH_ERR_NOT_FOUND,
					       "process %d exited while being "
					       "read",
					       lv->pid);
		if (r < 0 && errno == EPERM)
			return ph_error_create(PH_ERR_OS,
					       "not permitted to read the "
					       "memory of process %d",
					       lv->pid);
		if (r < 0 && errno == EINTR)
			continue;
		size_t got = r > 0 ? (size_t)r : 0;
		/* what was read, iovec by iovec */
		while (i < lv->niov && got >= lv->riov[i].iov_len) {
			uint64_t a = (uint64_t)(uintptr_t)lv->riov[i].iov_base;
			struct ph_error *err =
				run_add(lv, a, a + lv->riov[i].iov_len,
					lv->liov[i].iov_base);
			if (err)
				return err;
			lv->bytes_copied += lv->riov[i].iov_len;
			got -= lv->riov[i].iov_len;
			i++;
		}
		if (i == lv->niov)
			break;
		/* iovec i stopped at got bytes: its next page failed */
		uint64_t a = (uint64_t)(uintptr_t)lv->riov[i].iov_base;
		uint64_t len = lv->riov[i].iov_len;
		uint64_t done = got & ~(uint64_t)(lv->page - 1);
		uint64_t bad = done + (uint64_t)lv->page;
		if (bad > len)
			bad = len;
		struct ph_error *err = NULL;
		if (done)
			err = run_add(lv, a, a + done, lv->liov[i].iov_base);
		if (!err)
			err = run_add(lv, a + done, a + bad, NULL);
		if (err)
			return err;
		lv->bytes_copied += done;
		if (bad == len) {
			i++;
			continue;
		}
		lv->riov[i].iov_base = (char *)lv->riov[i].iov_base + bad;
		lv->liov[i].iov_base = (char *)lv->liov[i].iov_base + bad;
		lv->riov[i].iov_len -= bad;
		lv->liov[i].iov_len -= bad;
	}
	lv->niov = 0;
	return NULL;
}

static struct ph_error *queue_read(struct live *lv, uint8_t *local,
				   uint64_t start, uint64_t end)
{
	/* Where a first touch of a small page is dear (PVM: 7-15 us, with
	 * the process stopped), the 2 MiB pieces wholly inside the run in huge
	 * pages: never one of which the copy would write only a part. */
	uintptr_t hs =
		((uintptr_t)local + PH_HUGE_PAGE - 1) & ~(PH_HUGE_PAGE - 1);
	uintptr_t he = ((uintptr_t)local + (end - start)) & ~(PH_HUGE_PAGE - 1);
	if (hs < he && ph_huge_pages())
		madvise((void *)hs, he - hs, MADV_HUGEPAGE);
	if (lv->niov &&
	    (uint64_t)(uintptr_t)lv->riov[lv->niov - 1].iov_base +
			    lv->riov[lv->niov - 1].iov_len ==
		    start &&
	    (uint8_t *)lv->liov[lv->niov - 1].iov_base +
			    lv->liov[lv->niov - 1].iov_len ==
		    local) {
		lv->riov[lv->niov - 1].iov_len += end - start;
		lv->liov[lv->niov - 1].iov_len += end - start;
		return NULL;
	}
	if (lv->niov == LIVE_IOV) {
		struct ph_error *err = flush_reads(lv);
		if (err)
			return err;
	}
	lv->riov[lv->niov] =
		(struct iovec){(void *)(uintptr_t)start, (size_t)(end - start)};
	lv->liov[lv->niov++] = (struct iovec){local, (size_t)(end - start)};
	return NULL;
}

/*
 * Calls fn for each run of pages of [start, end) that the process has
 * (present, or swapped out); zero: the run is the zero page (nothing to
 * copy). From PAGEMAP_SCAN when the kernel has it (a hole costs nothing),
 * else from reading /proc/PID/pagemap (8 bytes a page).
 */
static struct ph_error *pages_in_use(
	struct live *lv, uint64_t start, uint64_t end,
	struct ph_error *(*fn)(struct live *, uint64_t, uint64_t, bool, void *),
	void *arg)
{
	struct ph_error *err;
	if (lv->scan >= 0) {
		struct pm_scan_arg_ a = {
			.size = sizeof(a),
			.start = start,
			.end = end,
			.vec = (uint64_t)(uintptr_t)lv->regions,
			.vec_len = LIVE_REGIONS,
			.category_anyof_mask =
				PM_PAGE_IS_PRESENT | PM_PAGE_IS_SWAPPED,
			.return_mask = PM_PAGE_IS_PRESENT | PM_PAGE_IS_SWAPPED |
				       PM_PAGE_IS_PFNZERO,
		};
		for (;;) {
			int n = ioctl(lv->pagemap_fd, PAGEMAP_SCAN_, &a);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && lv->scan == 0)
				break; /* not this kernel: read it */
			if (n < 0)
				return ph_error_create(
					PH_ERR_OS, "pagemap of process %d: %s",
					lv->pid, strerror(errno));
			lv->scan = 1;
			for (int i = 0; i < n; i++) {
				const struct pm_page_region *r =
					&lv->regions[i];
				bool zero =
					(r->categories & PM_PAGE_IS_PFNZERO) &&
					!(r->categories & PM_PAGE_IS_SWAPPED);
				uint64_t s =
					r->start < start ? start : r->start;
				uint64_t e = r->end > end ? end : r->end;
				if (s < e && (err = fn(lv, s, e, zero, arg)))
					return err;
			}
			if (a.walk_end >= end || a.walk_end <= a.start)
				return NULL;
			a.start = a.walk_end;
		}
		lv->scan = -1;
	}
	uint64_t run = 0;
	bool in_run = false;
	for (uint64_t a = start; a < end;) {
		uint64_t n = (end - a) / (uint64_t)lv->page;
		if (n > LIVE_ENTRIES)
			n = LIVE_ENTRIES;
		ssize_t r = pread(lv->pagemap_fd, lv->entries, n * 8,
				  (off_t)(a / (uint64_t)lv->page * 8));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return ph_error_create(
				PH_ERR_OS, "pagemap of process %d: %s", lv->pid,
				r < 0 ? strerror(errno) : "end of file");
		n = (uint64_t)r / 8;
		for (uint64_t i = 0; i < n; i++, a += (uint64_t)lv->page) {
			/* bit 63: present, 62: swapped */
			bool used = (lv->entries[i] >> 62) != 0;
			if (used && !in_run) {
				run = a;
				in_run = true;
			} else if (!used && in_run) {
				in_run = false;
				if ((err = fn(lv, run, a, false, arg)))
					return err;
			}
		}
	}
	if (in_run && (err = fn(lv, run, end, false, arg)))
		return err;
	return NULL;
}

struct copy_ctx {
	uint8_t *buf; /* the whole mapping's copy, or NULL: one per run */
	uint64_t start;
	enum map_kind kind;
};

static struct ph_error *copy_run(struct live *lv, uint64_t s, uint64_t e,
				 bool zero, void *arg)
{
	struct copy_ctx *c = arg;
	if (zero && c->kind == K_ANON && c->buf) {
		/* zeros, as the copy is; after the reads queued before it,
		 * so that the runs stay in address order */
		struct ph_error *err = flush_reads(lv);
		return err ? err : run_add(lv, s, e, c->buf + (s - c->start));
	}
	uint8_t *local;
	if (c->buf)
		local = c->buf + (s - c->start);
	else {
		struct ph_error *err = flush_reads(lv);
		if (err)
			return err;
		local = mmap(NULL, e - s, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			     0);
		if (local == MAP_FAILED)
			return ph_error_create(PH_ERR_NOMEM,
					       "cannot allocate %llu bytes to "
					       "copy 0x%llx-0x%llx",
					       (unsigned long long)(e - s),
					       (unsigned long long)s,
					       (unsigned long long)e);
		struct ph_target *t = lv->t;
		if ((err = ph_grow((void **)&t->bufs, &t->bufs_cap,
				   t->nbufs + 1, sizeof(*t->bufs)))) {
			munmap(local, e - s);
			return err;
		}
		t->bufs[t->nbufs].ptr = local;
		t->bufs[t->nbufs++].size = e - s;
		/* a run's own buffer: the runs after it must not be
		 * merged into this iovec */
		struct ph_error *e2 = queue_read(lv, local, s, e);
		if (e2)
			return e2;
		return flush_reads(lv);
	}
	return queue_read(lv, local, s, e);
}

static struct ph_error *fill_add(struct live *lv, uint64_t s, uint64_t e,
				 size_t map, const uint8_t *buf)
{
	struct ph_error *err = ph_grow((void **)&lv->fills, &lv->fills_cap,
				       lv->nfills + 1, sizeof(*lv->fills));
	if (err)
		return err;
	lv->fills[lv->nfills++] = (struct fill){s, e, map, buf};
	return NULL;
}

/* Copies one mapping: the pages it has, into one buffer of its size that
 * commits only what is written. */
static struct ph_error *copy_mapping(struct live *lv, size_t mi)
{
	const struct ph_mapping *m = &lv->maps[mi];
	struct ph_target *t = lv->t;
	enum map_kind kind = map_kind(m);
	uint64_t size = m->end - m->start;
	struct copy_ctx c = {NULL, m->start, kind};
	void *buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct ph_error *err;
	if (buf != MAP_FAILED) {
		if ((err = ph_grow((void **)&t->bufs, &t->bufs_cap,
				   t->nbufs + 1, sizeof(*t->bufs)))) {
			munmap(buf, size);
			return err;
		}
		t->bufs[t->nbufs].ptr = buf;
		t->bufs[t->nbufs++].size = size;
		c.buf = buf;
	}
	lv->nruns = 0;
	lv->niov = 0;
	if (lv->whole)
		err = copy_run(lv, m->start, m->end, false, &c);
	else
		err = pages_in_use(lv, m->start, m->end, copy_run, &c);
	if (!err)
		err = flush_reads(lv);
	if (err)
		return err;
	/* The segments: what was read (and, in private anonymous memory
	 * copied whole, what the process never touched: zeros) is data;
	 * a page that could not be read is missing; in other memory, so is
	 * an untouched page, until resolve_untouched finds it in the file. */
	uint64_t a = m->start;
	for (size_t i = 0; i <= lv->nruns; i++) {
		uint64_t rs = i < lv->nruns ? lv->runs[i].start : m->end;
		if (a < rs) { /* untouched */
			lv->bytes_untouched += rs - a;
			if (kind == K_ANON && c.buf)
				err = ph_memory_add(&t->mem, a, rs,
						    c.buf + (a - m->start),
						    m->w, false);
			else {
				err = ph_memory_add(&t->mem, a, rs, NULL, m->w,
						    false);
				if (!err)
					err = fill_add(lv, a, rs, mi, c.buf);
			}
			if (err)
				return err;
		}
		if (i == lv->nruns)
			break;
		const struct run *r = &lv->runs[i];
		if ((err = ph_memory_add(&t->mem, r->start, r->end, r->data,
					 m->w, false)))
			return err;
		a = r->end;
	}
	return NULL;
}

static void discard_copy(struct live *lv)
{
	struct ph_target *t = lv->t;
	for (size_t i = 0; i < t->nbufs; i++)
		munmap(t->bufs[i].ptr, t->bufs[i].size);
	t->nbufs = 0;
	ph_memory_free(&t->mem);
	lv->nfills = 0;
	lv->bytes_copied = lv->bytes_untouched = 0;
	free(lv->maps);
	free(lv->maps_text);
	lv->maps = NULL;
	lv->maps_text = NULL;
	lv->nmaps = 0;
}

/* Reads the maps, then copies every mapping worth it. */
static struct ph_error *copy_all(struct live *lv)
{
	char path[64];
	size_t len = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/maps", lv->pid,
		 lv->mm_tid);
	struct ph_error *err = read_proc_file(path, &lv->maps_text, &len);
	if (!err)
		err = ph_maps_parse(lv->maps_text, len, &lv->maps, &lv->nmaps,
				    &lv->bad_lines);
	for (size_t i = 0; !err && i < lv->nmaps; i++)
		if (map_kind(&lv->maps[i]) != K_SKIP)
			err = copy_mapping(lv, i);
	return err;
}

/* ---- the pause ----------------------------------------------------------- */

static void detach_stopped(struct pause *p)
{
	for (size_t i = 0; i < p->nth; i++) {
		struct thread *th = &p->th[i];
		if (th->how != T_STOPPED)
			continue;
		ptrace(PTRACE_DETACH, th->tid, NULL,
		       (void *)(uintptr_t)th->sig);
		th->how = T_GONE;
	}
}

static void note_threads(struct pause *p, bool ran)
{
	for (size_t i = 0; i < p->nth; i++) {
		const struct thread *th = &p->th[i];
		if (th->how == T_SEIZED)
			ph_target_note(p->t, PH_NOTE_THREADS_NOT_STOPPED,
				       "thread %d of process %d did "
				       "not stop within %.0f ms (state %c): it "
				       "could not run Python code before "
				       "py-heap let it go",
				       th->tid, p->pid, p->wait_ms, th->state);
		else if (th->how == T_WATCHED && th->state == 'D')
			ph_target_note(p->t, PH_NOTE_THREADS_NOT_STOPPED,
				       "thread %d of process %d was in "
				       "an uninterruptible wait (a vfork "
				       "parent, or I/O) and was not stopped; "
				       "%s",
				       th->tid, p->pid,
				       ran ? "the process ran during the copy"
					   : "it did not run during the copy");
	}
}

/* The stop, the copy (again while a watched thread ran, up to three
 * times) and the detach; on the tracer thread. */
static struct ph_error *pause_and_copy(struct pause *p)
{
	struct live *lv = p->lv;
	double t0 = now_ms();
	p->deadline = t0 + p->wait_ms;
	struct ph_error *err = NULL;
	bool ran = false;
	ph_stage("live: before the pause");
	for (int attempt = 0; attempt < 3; attempt++) {
		if ((err = stop_threads(p)))
			break;
		ph_stage("live: stop the threads");
		/* A ptrace request waits until the tracee is off its CPU:
		 * its CPU time is final before the clock is read. */
		size_t watched = 0;
		for (size_t i = 0; i < p->nth; i++) {
			unsigned long msg;
			if (p->th[i].how == T_STOPPED)
				ptrace(PTRACE_GETEVENTMSG, p->th[i].tid, NULL,
				       &msg);
			watched += p->th[i].how == T_WATCHED ||
				   p->th[i].how == T_SEIZED;
		}
		uint64_t c1 = 0, c2 = 0;
		bool clock = watched && cpu_clock(p, &c1);
		if ((err = copy_all(lv)))
			break;
		ran = clock && (!cpu_clock(p, &c2) || c2 != c1);
		ph_stage("live: copy");
		if (!ran)
			break;
		if (attempt == 2) {
			ph_target_note(p->t, PH_NOTE_THREADS_NOT_STOPPED,
				       "a thread of process %d that "
				       "was not stopped (blocked in a system "
				       "call an interrupt would have failed "
				       "with EINTR, or not stopped in time) "
				       "ran during each of three copies: the "
				       "copy may be inconsistent",
				       p->pid);
			break;
		}
		discard_copy(lv);
		p->deadline = now_ms() + p->wait_ms;
	}
	note_threads(p, ran);
	detach_stopped(p);
	p->t->pause_ms = now_ms() - t0;
	ph_stage("live: let go");
	if (getenv("PYHEAP_TIMING"))
		fprintf(stderr,
			"py-heap: live: %llu bytes copied, %llu not touched "
			"by the process (not read)\n",
			(unsigned long long)lv->bytes_copied,
			(unsigned long long)lv->bytes_untouched);
	return err;
}

/* Detaches the threads that had not stopped: each in turn, when it does
 * (it cannot run user code before). */
static void detach_late(struct thread *th, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int status;
		pid_t r;
		while ((r = waitpid(th[i].tid, &status, __WALL)) < 0 &&
		       errno == EINTR)
			;
		if (r != th[i].tid)
			continue;
		thread_status(&th[i], status);
		if (th[i].how == T_STOPPED)
			ptrace(PTRACE_DETACH, th[i].tid, NULL,
			       (void *)(uintptr_t)th[i].sig);
	}
}

static void *tracer_main(void *arg)
{
	struct pause *p = arg;
	struct ph_error *err = pause_and_copy(p);
	struct thread *late = NULL;
	size_t nlate = 0;
	for (size_t i = 0; i < p->nth; i++)
		if (p->th[i].how == T_SEIZED)
			nlate++;
	if (nlate && (late = malloc(nlate * sizeof(*late)))) {
		nlate = 0;
		for (size_t i = 0; i < p->nth; i++)
			if (p->th[i].how == T_SEIZED)
				late[nlate++] = p->th[i];
	}
	pthread_mutex_lock(&p->lock);
	p->err = err;
	p->lingering = late != NULL;
	p->done = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	/* p belongs to the caller from here */
	if (late) {
		detach_late(late, nlate);
		free(late);
	}
	return NULL;
}

/* Runs the pause on a tracer thread of its own, job-control and ending
 * signals held back meanwhile on this one. */
static struct ph_error *run_pause(struct pause *p)
{
	sigset_t hold, all, old;
	sigemptyset(&hold);
	sigaddset(&hold, SIGINT);
	sigaddset(&hold, SIGTERM);
	sigaddset(&hold, SIGHUP);
	sigaddset(&hold, SIGQUIT);
	sigaddset(&hold, SIGTSTP);
	sigaddset(&hold, SIGTTIN);
	sigaddset(&hold, SIGTTOU);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &hold, &old);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	/* the tracer thread blocks every signal: none may stop it */
	sigset_t held;
	pthread_sigmask(SIG_BLOCK, &all, &held);
	pthread_t tid;
	int e = pthread_create(&tid, NULL, tracer_main, p);
	pthread_sigmask(SIG_SETMASK, &held, NULL);
	struct ph_error *err;
	if (e) {
		/* no thread: here, and a late thread is waited for */
		err = pause_and_copy(p);
		size_t n = 0;
		for (size_t i = 0; i < p->nth; i++)
			if (p->th[i].how == T_SEIZED)
				p->th[n++] = p->th[i];
		detach_late(p->th, n);
	} else {
		pthread_mutex_lock(&p->lock);
		while (!p->done)
			pthread_cond_wait(&p->cond, &p->lock);
		pthread_mutex_unlock(&p->lock);
		err = p->err;
		if (p->lingering)
			pthread_detach(tid); /* it never touches p again */
		else {
			pthread_join(tid, NULL);
			pthread_mutex_destroy(&p->lock);
			pthread_cond_destroy(&p->cond);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

/* ---- the files mapped ---------------------------------------------------- */

/* Reads process memory at addr, only where the process has the pages. */
static bool live_read(struct live *lv, uint64_t addr, void *buf, size_t len)
{
	if (!len || addr + len < addr)
		return false;
	if (!lv->whole) {
		uint64_t first = addr & ~(uint64_t)(lv->page - 1);
		uint64_t last = (addr + len - 1) & ~(uint64_t)(lv->page - 1);
		for (uint64_t a = first; a <= last; a += (uint64_t)lv->page) {
			uint64_t e;
			if (pread(lv->pagemap_fd, &e, 8,
				  (off_t)(a / (uint64_t)lv->page * 8)) != 8 ||
			    !(e >> 63))
				return false;
		}
	}
	struct iovec l = {buf, len}, r = {(void *)(uintptr_t)addr, len};
	return process_vm_readv(lv->mm_tid, &l, 1, &r, 1, 0) == (ssize_t)len;
}

static bool live_read_cb(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return live_read(ctx, addr, buf, len);
}

/* What live.c knows of a module's file from the maps. */
struct modinfo {
	size_t map; /* its first mapping */
	bool deleted;
};

static bool same_file(const struct stat *st, const struct ph_mapping *m)
{
	return st->st_ino == m->inode && major(st->st_dev) == m->dev_major &&
	       minor(st->st_dev) == m->dev_minor;
}

/*
 * Opens a module's file: through /proc/PID/map_files (the very file
 * mapped, deleted or not; needs CAP_SYS_ADMIN), else by its name inside
 * /proc/PID/root (the process's root and mount namespace), then as seen
 * here: taken when its device and inode are those of the mapping, else
 * when its build-id is the image's in memory.
 */
static struct ph_error *module_open(struct live *lv, struct ph_module *mod,
				    const struct modinfo *mi, int root_fd)
{
	struct ph_target *t = lv->t;
	const struct ph_mapping *m = &lv->maps[mi->map];
	char mf[96];
	const char *why = NULL;
	struct stat st;
	snprintf(mf, sizeof(mf), "/proc/%d/map_files/%llx-%llx", lv->pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	int fd = ph_file_open(-1, mf, true, PH_FILE_MAX_SIZE, &st, &why);
	if (fd >= 0)
		return ph_module_open_fd(t, mod, fd, mod->path, NULL, 0);
	if (why) {
		ph_target_note_refused(t, mod->path, why);
		return NULL;
	}
	char *in_root = NULL;
	if (asprintf(&in_root, "/proc/%d/root%s", lv->pid, mod->path) < 0)
		return ph_error_nomem();
	int cand_fd = -1;
	const char *cand_name = NULL;
	/* as named here first (the same mount namespace: what the process
	 * maps is what is seen here), then inside its root */
	for (int k = 0; k < 2; k++) {
		if (k == 1 && root_fd < 0)
			continue;
		fd = ph_file_open(k == 1 ? root_fd : -1, mod->path, false,
				  PH_FILE_MAX_SIZE, &st, &why);
		if (fd < 0) {
			if (why)
				ph_target_note_refused(t, mod->path, why);
			continue;
		}
		const char *name = k == 1 ? in_root : mod->path;
		if (same_file(&st, m) && !mi->deleted) {
			if (cand_fd >= 0)
				close(cand_fd);
			struct ph_error *err =
				ph_module_open_fd(t, mod, fd, name, NULL, 0);
			free(in_root);
			return err;
		}
		if (cand_fd < 0) {
			cand_fd = fd;
			cand_name = name;
		} else
			close(fd);
	}
	struct ph_error *err = NULL;
	if (cand_fd >= 0) {
		/* not provably the same inode (another filesystem's device
		 * numbers, a file replaced): the same build-id will do */
		uint8_t id[64];
		size_t len = 0;
		if (!ph_image_build_id(live_read_cb, lv, mod->start, id,
				       &len) ||
		    !len) {
			close(cand_fd);
			ph_target_note_refused(t, mod->path,
					       "cannot tell it is the file the "
					       "process mapped (replaced on "
					       "disk?)");
		} else {
			err = ph_module_open_fd(t, mod, cand_fd, cand_name, id,
						len);
			if (err &&
			    ph_error_code(err) == PH_ERR_BUILD_ID_MISMATCH) {
				ph_target_note_refused(
					t, mod->path,
					"not the file the process mapped "
					"(another build-id: replaced on "
					"disk?)");
				ph_error_destroy(err);
				err = NULL;
			}
		}
	}
	free(in_root);
	return err;
}

/* Opens the file behind a mapping: /proc/PID/map_files, else by its name
 * (here, then in the process's root) when device and inode agree. */
static int mapping_file(struct live *lv, const struct ph_mapping *m,
			int root_fd, struct stat *st)
{
	char mf[96];
	const char *why;
	snprintf(mf, sizeof(mf), "/proc/%d/map_files/%llx-%llx", lv->pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	int fd = ph_file_open(-1, mf, true, UINT64_MAX, st, &why);
	for (int k = 0; fd < 0 && !why && m->path[0] == '/' && k < 2; k++) {
		if (k == 1 && root_fd < 0)
			break;
		fd = ph_file_open(k ? root_fd : -1, m->path, false, UINT64_MAX,
				  st, &why);
		if (fd >= 0 && !same_file(st, m)) {
			close(fd);
			fd = -1;
		}
	}
	return fd;
}

/*
 * The pages of a file-backed or shared mapping that the process never
 * touched hold what the file holds: a private mapping of a module, the
 * module's bytes; elsewhere, where the file has a hole (SEEK_HOLE: shared
 * memory no process ever wrote, a sparse file), zeros, as the copy reads
 * there; anything else stays missing. Never past the file's end, where the
 * process would fault. After the pause: nothing here touches the process.
 */
static struct ph_error *resolve_untouched(struct live *lv)
{
	struct ph_target *t = lv->t;
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/task/%d/root", lv->pid,
		 lv->mm_tid);
	int root_fd = -1, fd = -1;
	size_t fd_map = SIZE_MAX;
	struct stat st;
	struct ph_error *err = NULL;
	unsigned budget = 0; /* lseek calls for this mapping */
	for (size_t i = 0; !err && i < lv->nfills; i++) {
		const struct fill *f = &lv->fills[i];
		const struct ph_mapping *m = &lv->maps[f->map];
		if (!m->shared) {
			struct ph_module *mod = NULL;
			size_t n = strlen(m->path);
			char *path = strndup(m->path,
					     n > 10 && !strcmp(m->path + n - 10,
							       " (deleted)")
						     ? n - 10
						     : n);
			if (!path)
				return ph_error_nomem();
			for (size_t k = 0; k < t->nmods && !mod; k++)
				if (!strcmp(t->mods[k].path, path))
					mod = &t->mods[k];
			free(path);
			if (mod && mod->map) {
				if (m->offset >= mod->size)
					continue;
				uint64_t end =
					m->start + ((mod->size - m->offset +
						     (uint64_t)lv->page - 1) &
						    ~(uint64_t)(lv->page - 1));
				uint64_t e = f->end < end ? f->end : end;
				if (f->start < e)
					err = ph_memory_add(
						&t->mem, f->start, e,
						(const uint8_t *)mod->map +
							m->offset +
							(f->start - m->start),
						m->w, true);
				continue;
			}
		}
		if (!f->buf)
			continue;
		if (fd_map != f->map) {
			if (fd >= 0)
				close(fd);
			if (root_fd < 0)
				root_fd = open(root, O_PATH | O_DIRECTORY |
							     O_CLOEXEC);
			fd = mapping_file(lv, m, root_fd, &st);
			fd_map = f->map;
			budget = 0;
		}
		if (fd < 0 || (uint64_t)st.st_size <= m->offset)
			continue;
		/* in file offsets, cut at the end of the file's last page */
		uint64_t size = ((uint64_t)st.st_size - m->offset +
				 (uint64_t)lv->page - 1) &
				~(uint64_t)(lv->page - 1);
		uint64_t pos = m->offset + (f->start - m->start);
		uint64_t end = m->offset + (f->end - m->start);
		if (end > m->offset + size)
			end = m->offset + size;
		while (!err && pos < end && budget++ < 4096) {
			off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
			uint64_t hole_end =
				d < 0 ? end
				      : ((uint64_t)d < end ? (uint64_t)d : end);
			if (d < 0 && errno != ENXIO)
				break;
			if (hole_end > pos) {
				uint64_t a = m->start + (pos - m->offset);
				uint64_t b = m->start + (hole_end - m->offset);
				err = ph_memory_add(&t->mem, a, b,
						    f->buf + (a - m->start),
						    m->w, false);
			}
			if (d < 0 || (uint64_t)d >= end)
				break;
			off_t h = lseek(fd, d, SEEK_HOLE);
			if (h <= d)
				break;
			pos = (uint64_t)h;
		}
	}
	if (fd >= 0)
		close(fd);
	if (root_fd >= 0)
		close(root_fd);
	return err;
}

/* The modules: the files the process mapped privately. */
static struct ph_error *live_modules(struct live *lv)
{
	struct ph_target *t = lv->t;
	struct modinfo *info = NULL;
	size_t cap = 0;
	struct ph_error *err = NULL;
	for (size_t i = 0; !err && i < lv->nmaps; i++) {
		const struct ph_mapping *m = &lv->maps[i];
		if (m->path[0] != '/' || m->shared || !m->inode)
			continue;
		size_t n = strlen(m->path);
		bool deleted =
			n > 10 && !strcmp(m->path + n - 10, " (deleted)");
		char *path = strndup(m->path, deleted ? n - 10 : n);
		if (!path)
			return ph_error_nomem();
		struct ph_module *mod;
		size_t before = t->nmods;
		err = ph_target_module(t, path, &mod);
		free(path);
		if (err)
			break;
		if (t->nmods > before) {
			if ((err = ph_grow((void **)&info, &cap, t->nmods,
					   sizeof(*info))))
				break;
			info[t->nmods - 1] = (struct modinfo){i, deleted};
		}
		if (m->offset == 0 && m->start < mod->start) {
			mod->start = m->start;
			info[mod - t->mods].map = i;
		}
		if (m->end > mod->end)
			mod->end = m->end;
	}
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/task/%d/root", lv->pid,
		 lv->mm_tid);
	int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; !err && i < t->nmods; i++)
		err = module_open(lv, &t->mods[i], &info[i], root_fd);
	if (root_fd >= 0)
		close(root_fd);
	/* the executable: the module of /proc/PID/exe's inode */
	struct stat st;
	snprintf(root, sizeof(root), "/proc/%d/task/%d/exe", lv->pid,
		 lv->mm_tid);
	if (!err && stat(root, &st) == 0)
		for (size_t i = 0; i < t->nmods && t->exe_index < 0; i++)
			if (lv->maps[info[i].map].inode == st.st_ino)
				t->exe_index = (int)i;
	if (t->exe_index < 0 && t->nmods)
		t->exe_index = 0;
	free(info);
	return err;
}

/* ---- the whole ----------------------------------------------------------- */

/* Refuses what has no memory to read, with its own words; picks a thread
 * whose /proc files show the memory (the leader may have exited). */
static struct ph_error *check_process(int pid, int *ret_tid)
{
	struct task_stat ts;
	if (!read_task_stat(pid, 0, &ts))
		return ph_error_create(PH_ERR_NOT_FOUND,
				       "no process with pid %d", pid);
	if (ts.flags & PF_KTHREAD_)
		return ph_error_create(PH_ERR_USAGE,
				       "process %d (%s) is a kernel thread: "
				       "it has no user memory to read",
				       pid, ts.comm);
	*ret_tid = pid;
	if (ts.state != 'Z' && ts.state != 'X')
		return NULL;
	/* the leader is gone: another thread may live on */
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		int tid = atoi(de->d_name);
		struct task_stat tt;
		if (tid > 0 && tid != pid && read_task_stat(pid, tid, &tt) &&
		    tt.state != 'Z' && tt.state != 'X') {
			*ret_tid = tid;
			break;
		}
	}
	if (d)
		closedir(d);
	if (*ret_tid != pid)
		return NULL;
	return ph_error_create(PH_ERR_NOT_FOUND,
			       "process %d (%s) has exited: it is a zombie "
			       "that its parent (pid %d) has not reaped, and "
			       "has no memory left to read",
			       pid, ts.comm, ts.ppid);
}

static void live_free(struct live *lv)
{
	if (lv->pagemap_fd >= 0)
		close(lv->pagemap_fd);
	free(lv->maps);
	free(lv->maps_text);
	free(lv->fills);
	free(lv->regions);
	free(lv->entries);
	free(lv->liov);
	free(lv->riov);
	free(lv->runs);
}

struct ph_error *ph_target_open_pid(int pid, unsigned flags,
				    struct ph_target **ret)
{
	struct ph_error *err;
	if (pid <= 0)
		return ph_error_create(PH_ERR_USAGE, "not a pid: %d", pid);
	if (pid == getpid())
		return ph_error_create(PH_ERR_USAGE,
				       "py-heap cannot inspect itself");
	if (elf_version(EV_CURRENT) == EV_NONE)
		return ph_error_create(PH_ERR_ELF, "libelf: %s",
				       elf_errmsg(-1));
	int mm_tid = pid;
	if ((err = check_process(pid, &mm_tid)))
		return err;
	struct ph_target *t = calloc(1, sizeof(*t));
	if (!t)
		return ph_error_nomem();
	t->fd = -1;
	t->exe_index = -1;
	t->pid = pid;
	ph_memory_init(&t->mem);
	t->mem.live = true;
	struct live lv = {
		.t = t, .pid = pid, .mm_tid = mm_tid, .pagemap_fd = -1};
	struct pause p = {.t = t, .pid = pid, .lv = &lv};
	ph_u64map_init(&p.index);
	lv.page = sysconf(_SC_PAGESIZE);
	if (lv.page <= 0)
		lv.page = 4096;
	if (asprintf(&t->core_path, "pid %d", pid) < 0) {
		t->core_path = NULL;
		err = ph_error_nomem();
		goto out;
	}
	lv.regions = malloc(LIVE_REGIONS * sizeof(*lv.regions));
	lv.entries = malloc(LIVE_ENTRIES * sizeof(*lv.entries));
	lv.liov = malloc(LIVE_IOV * sizeof(*lv.liov));
	lv.riov = malloc(LIVE_IOV * sizeof(*lv.riov));
	if (!lv.regions || !lv.entries || !lv.liov || !lv.riov) {
		err = ph_error_nomem();
		goto out;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/pagemap", pid, mm_tid);
	/* PYHEAP_PAGEMAP=0: as if the kernel kept it (for tests) */
	const char *pm = getenv("PYHEAP_PAGEMAP");
	bool no_pagemap = pm && !strcmp(pm, "0");
	lv.pagemap_fd = no_pagemap ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (lv.pagemap_fd < 0) {
		/* no pagemap (a restricted kernel): as before, whole */
		lv.whole = true;
		ph_target_note(t, PH_NOTE_PAGES_COPIED_WHOLE,
			       "%s: %s: mappings copied whole (pages "
			       "process %d never touched are committed)",
			       path,
			       no_pagemap ? "not read (PYHEAP_PAGEMAP=0)"
					  : strerror(errno),
			       pid);
	}
	/* PYHEAP_PAGEMAP_SCAN=0: as on kernels before 6.7 (for tests) */
	const char *scan = getenv("PYHEAP_PAGEMAP_SCAN");
	if (scan && !strcmp(scan, "0"))
		lv.scan = -1;
	p.clock_ok = clock_getcpuclockid(pid, &p.clock) == 0;
	const char *wait = getenv("PYHEAP_STOP_WAIT_MS");
	p.wait_ms = wait && atof(wait) >= 0 ? atof(wait) : 500;
	if (flags & PH_PID_NO_STOP)
		err = copy_all(&lv);
	else {
		t->stopped = true;
		err = run_pause(&p);
	}
	if (err)
		goto out;
	if (lv.bad_lines)
		ph_target_note(t, PH_NOTE_MAPS_LINES_SKIPPED,
			       "/proc/%d/maps: %zu lines not "
			       "understood, skipped",
			       pid, lv.bad_lines);
	/* Everything from here works on the copy; the process runs. */
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (atoi(de->d_name) > 0)
				t->nthreads++;
		closedir(d);
	}
	if ((err = ph_memory_finish(&t->mem)) || (err = live_modules(&lv)) ||
	    (err = resolve_untouched(&lv)) || (err = ph_memory_finish(&t->mem)))
		goto out;
	ph_stage("live: files");
	if (t->files_refused > 3)
		ph_target_note(t, PH_NOTE_FILES_NOT_USED,
			       "and %zu more files not used",
			       t->files_refused - 3);
out:
	live_free(&lv);
	ph_u64map_free(&p.index);
	free(p.th);
	if (err) {
		ph_target_destroy(t);
		return err;
	}
	*ret = t;
	return NULL;
}
