/*
 * live.c - a running process as a memory source.
 *
 * The process is stopped (every thread: PTRACE_SEIZE, PTRACE_INTERRUPT) only
 * while its writable memory is copied with process_vm_readv, then let go
 * (PTRACE_DETACH) before any analysis: the copy is a consistent snapshot,
 * and the pause is as short as a memory copy. Nothing is ever written to
 * the process; the seized threads see no signal. SIGINT and SIGTERM are
 * held back during the pause so that an interrupted py-heap still detaches.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

struct mapping {
	uint64_t start, end, offset;
	bool r, w, x;
	char path[512];
};

static struct ph_error *read_maps(int pid, struct mapping **ret, size_t *ret_n)
{
	char fn[64];
	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	FILE *f = fopen(fn, "re");
	if (!f)
		return errno == ENOENT
			       ? ph_error_create(PH_ERR_NOT_FOUND,
						 "no process with pid %d", pid)
			       : ph_error_create(PH_ERR_OS, "%s: %s", fn,
						 strerror(errno));
	struct mapping *m = NULL;
	size_t n = 0, cap = 0;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		struct mapping x = {0};
		char perms[8] = "";
		unsigned long long s, e, off;
		int pos = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s%n", &s, &e, perms,
			   &off, &pos) < 4)
			continue;
		x.start = s;
		x.end = e;
		x.offset = off;
		x.r = perms[0] == 'r';
		x.w = perms[1] == 'w';
		x.x = perms[2] == 'x';
		const char *p = line + pos;
		while (*p == ' ')
			p++;
		snprintf(x.path, sizeof(x.path), "%s", p);
		x.path[strcspn(x.path, "\n")] = '\0';
		if (ph_grow((void **)&m, &cap, n + 1, sizeof(*m))) {
			fclose(f);
			free(m);
			return ph_error_nomem();
		}
		m[n++] = x;
	}
	fclose(f);
	*ret = m;
	*ret_n = n;
	return NULL;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The threads we seized, to let go of on every path. */
struct seized {
	int *tids;
	size_t n, cap;
};

static void detach_all(struct seized *s)
{
	for (size_t i = 0; i < s->n; i++)
		ptrace(PTRACE_DETACH, s->tids[i], NULL, NULL);
	s->n = 0;
}

static bool seized_has(const struct seized *s, int tid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->tids[i] == tid)
			return true;
	return false;
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

/* Stops every thread, including ones started while we do so. */
static struct ph_error *stop_all(int pid, struct seized *s)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	for (int round = 0; round < 100; round++) {
		DIR *d = opendir(dir);
		if (!d)
			return ph_error_create(PH_ERR_NOT_FOUND,
					       "process %d exited", pid);
		bool added = false;
		struct dirent *de;
		while ((de = readdir(d))) {
			int tid = atoi(de->d_name);
			if (tid <= 0 || seized_has(s, tid))
				continue;
			if (ph_grow((void **)&s->tids, &s->cap, s->n + 1,
				    sizeof(*s->tids))) {
				closedir(d);
				return ph_error_nomem();
			}
			if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
				int e = errno;
				if (e == ESRCH)
					continue; /* that thread ended */
				closedir(d);
				return ptrace_error(pid, e);
			}
			s->tids[s->n++] = tid;
			added = true;
			if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
				continue;
			int status;
			while (waitpid(tid, &status, __WALL) < 0 &&
			       errno == EINTR)
				;
		}
		closedir(d);
		if (!added)
			return NULL;
	}
	return NULL;
}

static struct ph_error *copy_mapping(struct ph_target *t,
				     const struct mapping *m)
{
	size_t size = m->end - m->start;
	void *buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (buf == MAP_FAILED)
		return ph_error_create(PH_ERR_NOMEM,
				       "cannot allocate %zu bytes to copy "
				       "0x%llx-0x%llx",
				       size, (unsigned long long)m->start,
				       (unsigned long long)m->end);
	size_t done = 0;
	while (done < size) {
		size_t chunk =
			size - done > (64 << 20) ? (64 << 20) : size - done;
		struct iovec local = {(char *)buf + done, chunk};
		struct iovec remote = {(void *)(uintptr_t)(m->start + done),
				       chunk};
		ssize_t r = process_vm_readv(t->pid, &local, 1, &remote, 1, 0);
		if (r <= 0) {
			/* Part of a mapping can be unreadable (guard pages):
			 * skip a page and go on. */
			if (r < 0 && errno == ESRCH) {
				munmap(buf, size);
				return ph_error_create(
					PH_ERR_NOT_FOUND,
					"process %d exited while "
					"being read",
					t->pid);
			}
			struct ph_error *err = ph_memory_add(
				&t->mem, m->start + done,
				m->start + done + 4096, NULL, m->w, false);
			if (err) {
				munmap(buf, size);
				return err;
			}
			if (done) {
				err = ph_memory_add(&t->mem, m->start,
						    m->start + done, buf, m->w,
						    false);
				if (err)
					return err;
			}
			/* Keep what was read so far; restart after the page. */
			struct mapping rest = *m;
			rest.start = m->start + done + 4096;
			if (ph_grow((void **)&t->bufs, &t->bufs_cap,
				    t->nbufs + 1, sizeof(*t->bufs)))
				return ph_error_nomem();
			t->bufs[t->nbufs].ptr = buf;
			t->bufs[t->nbufs++].size = size;
			if (rest.start >= rest.end)
				return NULL;
			return copy_mapping(t, &rest);
		}
		done += (size_t)r;
	}
	if (ph_grow((void **)&t->bufs, &t->bufs_cap, t->nbufs + 1,
		    sizeof(*t->bufs))) {
		munmap(buf, size);
		return ph_error_nomem();
	}
	t->bufs[t->nbufs].ptr = buf;
	t->bufs[t->nbufs++].size = size;
	return ph_memory_add(&t->mem, m->start, m->end, buf, m->w, false);
}

/* Memory worth copying: writable, or anonymous; not the kernel's. */
static bool worth_copying(const struct mapping *m)
{
	if (!m->r)
		return false;
	if (!strncmp(m->path, "[vvar", 5) || !strcmp(m->path, "[vsyscall]") ||
	    !strcmp(m->path, "[vdso]"))
		return false;
	return m->w || m->path[0] != '/';
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
	struct ph_target *t = calloc(1, sizeof(*t));
	if (!t)
		return ph_error_nomem();
	t->fd = -1;
	t->exe_index = -1;
	t->pid = pid;
	ph_memory_init(&t->mem);
	ph_buf_init(&t->notes);
	struct mapping *maps = NULL;
	size_t nmaps = 0;
	struct seized s = {0};
	sigset_t block, old;
	bool blocked = false;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/%d", pid);
	if (access(proc, F_OK) < 0) {
		err = ph_error_create(PH_ERR_NOT_FOUND,
				      "no process with pid %d", pid);
		goto fail;
	}
	if (asprintf(&t->core_path, "pid %d", pid) < 0) {
		t->core_path = NULL;
		err = ph_error_nomem();
		goto fail;
	}

	/* Ctrl-C must not leave the process stopped: hold it until we let
	 * go of the process. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	if (!(flags & PH_PID_NO_STOP)) {
		sigprocmask(SIG_BLOCK, &block, &old);
		blocked = true;
	}
	double t0 = now_ms();
	if (!(flags & PH_PID_NO_STOP)) {
		err = stop_all(pid, &s);
		if (err)
			goto fail;
		t->stopped = true;
	}
	/* The maps after the stop: nothing can change them meanwhile. */
	err = read_maps(pid, &maps, &nmaps);
	if (err)
		goto fail;
	for (size_t i = 0; i < nmaps; i++) {
		if (!worth_copying(&maps[i]))
			continue;
		err = copy_mapping(t, &maps[i]);
		if (err)
			goto fail;
	}
	/* Files mapped: the modules (read-only data comes from the files). */
	for (size_t i = 0; i < nmaps; i++) {
		const struct mapping *m = &maps[i];
		if (m->path[0] != '/' || strstr(m->path, " (deleted)"))
			continue;
		struct ph_module *mod = NULL;
		for (size_t k = 0; k < t->nmods; k++)
			if (!strcmp(t->mods[k].path, m->path))
				mod = &t->mods[k];
		if (!mod) {
			size_t cap = t->nmods;
			if ((err = ph_grow((void **)&t->mods, &cap,
					   t->nmods + 1, sizeof(*t->mods))))
				goto fail;
			mod = &t->mods[t->nmods++];
			memset(mod, 0, sizeof(*mod));
			mod->fd = -1;
			mod->start = UINT64_MAX;
			if (!(mod->path = strdup(m->path))) {
				err = ph_error_nomem();
				goto fail;
			}
		}
		if (m->offset == 0 && m->start < mod->start)
			mod->start = m->start;
		if (m->end > mod->end)
			mod->end = m->end;
	}
	if (t->stopped) {
		detach_all(&s);
		t->pause_ms = now_ms() - t0;
	}
	if (blocked) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		blocked = false;
	}
	/* Everything from here works on the copy; the process runs. */
	char dir[64], exe[512];
	snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (atoi(de->d_name) > 0)
				t->nthreads++;
		closedir(d);
	}
	snprintf(dir, sizeof(dir), "/proc/%d/exe", pid);
	ssize_t n = readlink(dir, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (size_t i = 0; i < t->nmods; i++)
			if (!strcmp(t->mods[i].path, exe))
				t->exe_index = (int)i;
	}
	if (t->exe_index < 0 && t->nmods)
		t->exe_index = 0;
	if ((err = ph_memory_finish(&t->mem)))
		goto fail;
	char root[64];
	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	/* /proc/PID/maps names files as this process sees them; in another
	 * mount namespace (a container) they are found under its root. */
	for (size_t i = 0; i < t->nmods; i++) {
		const char *sr = access(t->mods[i].path, R_OK) ? root : NULL;
		if ((err = ph_module_open(t, &t->mods[i], NULL, sr, false)))
			goto fail;
	}
	if ((err = ph_memory_finish(&t->mem)))
		goto fail;
	free(maps);
	free(s.tids);
	*ret = t;
	return NULL;
fail:
	detach_all(&s);
	if (blocked)
		sigprocmask(SIG_SETMASK, &old, NULL);
	free(maps);
	free(s.tids);
	ph_target_destroy(t);
	return err;
}
