/*
 * debuginfo.c - separate debug information, found by build-id the way GDB
 * finds it: the file itself, DIR/.build-id/xx/rest.debug under each debug
 * directory (--debug-dir, then /usr/lib/debug), then a debuginfod server
 * when DEBUGINFOD_URLS is set (libdebuginfod, with its cache).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elfutils/debuginfod.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static bool open_debug_file(struct ph_module *mod, const char *path,
			    const char *source)
{
	/* build-id links are symbolic links; a FIFO or a device is never
	 * opened (a sysroot is not always the user's own) */
	const char *why;
	int fd = ph_file_open(-1, path, true, UINT64_MAX, NULL, &why);
	if (fd < 0)
		return false;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return false;
	}
	/* its header by pread, checked as libelf would (its section headers
	 * inside the file): libelf's view is made when first asked for
	 * (ph_module_debug_elf), and a run on a cached index asks none */
	Elf64_Ehdr eh;
	if (ph_elf_header_read(fd, &eh) ||
	    (eh.e_shnum &&
	     !ph_elf_section_count(fd, &eh, (uint64_t)st.st_size))) {
		close(fd);
		return false;
	}
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		return false;
	}
	mod->debug_fd = fd;
	mod->debug_map = map;
	mod->debug_size = (size_t)st.st_size;
	mod->debug_path = strdup(path);
	mod->debug_source = source;
	return true;
}

/* Whether the module's file has a symbol table: its section headers read
 * with pread (libelf's view of the file would touch their pages). */
static bool file_has_symtab(const struct ph_module *mod)
{
	Elf64_Ehdr eh;
	if (!mod->opened || mod->fd < 0 || ph_elf_header_read(mod->fd, &eh))
		return false;
	size_t n = ph_elf_section_count(mod->fd, &eh, mod->size);
	bool found = false;
	Elf64_Shdr buf[64];
	for (size_t i = 0; i < n && !found; i += PH_ARRAY_SIZE(buf)) {
		size_t k =
			n - i < PH_ARRAY_SIZE(buf) ? n - i : PH_ARRAY_SIZE(buf);
		off_t at = (off_t)(eh.e_shoff + i * sizeof(Elf64_Shdr));
		if (pread(mod->fd, buf, k * sizeof(*buf), at) !=
		    (ssize_t)(k * sizeof(*buf)))
			break;
		for (size_t j = 0; j < k; j++)
			found |= buf[j].sh_type == SHT_SYMTAB;
	}
	return found;
}

struct progress {
	double start;
	double limit;
	bool shown;
};

/*
 * libdebuginfod, opened when a server is first asked (as libdw does): it
 * brings libcurl and its TLS stack, whose loading costs every run 10 ms.
 */
static struct {
	__typeof__(debuginfod_begin) *begin;
	__typeof__(debuginfod_end) *end;
	__typeof__(debuginfod_find_debuginfo) *find_debuginfo;
	__typeof__(debuginfod_set_progressfn) *set_progressfn;
	__typeof__(debuginfod_set_user_data) *set_user_data;
	__typeof__(debuginfod_get_user_data) *get_user_data;
	bool ok;
} dfd;

static void dfd_load(void)
{
	void *lib = dlopen("libdebuginfod.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return;
	dfd.begin = (__typeof__(dfd.begin))dlsym(lib, "debuginfod_begin");
	dfd.end = (__typeof__(dfd.end))dlsym(lib, "debuginfod_end");
	dfd.find_debuginfo = (__typeof__(dfd.find_debuginfo))dlsym(
		lib, "debuginfod_find_debuginfo");
	dfd.set_progressfn = (__typeof__(dfd.set_progressfn))dlsym(
		lib, "debuginfod_set_progressfn");
	dfd.set_user_data = (__typeof__(dfd.set_user_data))dlsym(
		lib, "debuginfod_set_user_data");
	dfd.get_user_data = (__typeof__(dfd.get_user_data))dlsym(
		lib, "debuginfod_get_user_data");
	dfd.ok = dfd.begin && dfd.end && dfd.find_debuginfo &&
		 dfd.set_progressfn && dfd.set_user_data && dfd.get_user_data;
	/* kept open: the functions are used until the process ends */
}

static double now_s(void)
{
	return (double)ph_now_ns() / 1e9;
}

/* Shows a long download on stderr, and gives up after the time limit. */
static int progress_fn(debuginfod_client *c, long done, long total)
{
	struct progress *p = dfd.get_user_data(c);
	double t = now_s() - p->start;
	if (t > 1.0) {
		if (total > 0)
			fprintf(stderr,
				"\rpy-heap: downloading debug info: "
				"%ld of %ld KiB",
				done / 1024, total / 1024);
		else
			fprintf(stderr,
				"\rpy-heap: downloading debug info: "
				"%ld KiB",
				done / 1024);
		p->shown = true;
	}
	return t > p->limit; /* non-zero cancels */
}

void ph_module_find_debuginfo(struct ph_target *t, struct ph_module *mod)
{
	if (mod->debug_map || mod->debug_tried || !mod->build_id_len)
		return;
	mod->debug_tried = true;
	/* The file itself may have its symbol table. */
	if (file_has_symtab(mod)) {
		mod->debug_source = "the file's own symbol table";
		return;
	}
	char hex[129];
	for (size_t i = 0; i < mod->build_id_len; i++)
		sprintf(hex + 2 * i, "%02x", mod->build_id[i]);
	for (size_t d = 0; d <= t->ndebug_dirs; d++) {
		const char *dir = d < t->ndebug_dirs ? t->debug_dirs[d] : NULL;
		if (!dir) {
			dir = getenv("PYHEAP_DEBUG_FILE_DIRECTORY");
			if (!dir)
				dir = "/usr/lib/debug";
			if (!*dir)
				continue;
		}
		char path[4096];
		/* Under a sysroot, its own debug directory first (a chroot or
		 * container has its -dbg packages inside), as GDB does. */
		if (t->sysroot && d == t->ndebug_dirs) {
			snprintf(path, sizeof(path),
				 "%s%s/.build-id/%.2s/%s.debug", t->sysroot,
				 dir, hex, hex + 2);
			if (open_debug_file(mod, path, "the sysroot"))
				return;
		}
		snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", dir,
			 hex, hex + 2);
		if (open_debug_file(mod, path,
				    d < t->ndebug_dirs ? "--debug-dir" : dir))
			return;
	}
	const char *urls = getenv("DEBUGINFOD_URLS");
	if (!urls || !*urls || t->no_debuginfod)
		return;
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, dfd_load);
	if (!dfd.ok) {
		mod->debuginfod_error = "libdebuginfod.so.1 cannot be loaded";
		return;
	}
	debuginfod_client *c = dfd.begin();
	if (!c)
		return;
	struct progress p = {.start = now_s(), .limit = 30};
	const char *lim = getenv("PYHEAP_DEBUGINFOD_TIMEOUT");
	if (lim && atof(lim) > 0)
		p.limit = atof(lim);
	dfd.set_user_data(c, &p);
	dfd.set_progressfn(c, progress_fn);
	char *path = NULL;
	int fd = dfd.find_debuginfo(c, mod->build_id, (int)mod->build_id_len,
				    &path);
	if (p.shown)
		fputc('\n', stderr);
	if (fd >= 0) {
		close(fd);
		if (!open_debug_file(mod, path, "debuginfod"))
			mod->debuginfod_error =
				"the downloaded file is not ELF";
	} else if (now_s() - p.start > p.limit)
		mod->debuginfod_error = "timed out";
	else
		mod->debuginfod_error = strerror(-fd);
	free(path);
	dfd.end(c);
}

void ph_module_close_debuginfo(struct ph_module *mod)
{
	if (mod->debug_elf)
		elf_end(mod->debug_elf);
	if (mod->debug_map)
		munmap(mod->debug_map, mod->debug_size);
	if (mod->debug_fd > 0)
		close(mod->debug_fd);
	free(mod->debug_path);
}
