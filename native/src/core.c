/* core.c - ELF core files: PT_LOAD segments, NT_FILE, the files on disk. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <elf.h>

#include "target.h"

#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif

/*
 * Opens a file that a core or a process named, for reading, without side
 * effects and without blocking: first as O_PATH, which opens no device and
 * waits on no FIFO, and only when that is a regular file of at most
 * max_size bytes, again through /proc/self/fd (the same inode) with
 * O_NONBLOCK. A final symbolic link is refused unless follow (the names a
 * core or /proc/PID/maps gives are resolved already; a link there was
 * planted). With root_fd >= 0, path is resolved inside that directory as
 * if it were "/" (openat2's RESOLVE_IN_ROOT), so that a name chosen by the
 * inspected process never leads out of it; -1 with errno ENOSYS on a
 * kernel older than 5.6. Returns the descriptor, or -1 with errno set and
 * *ret_why saying why a file that exists was refused (NULL otherwise).
 */
int ph_file_open(int root_fd, const char *path, bool follow, uint64_t max_size,
		 struct stat *ret_st, const char **ret_why)
{
	*ret_why = NULL;
	int flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
	int pfd;
	if (root_fd >= 0) {
		struct open_how how = {
			.flags = (uint64_t)flags,
			.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
		};
		pfd = (int)syscall(SYS_openat2, root_fd, path, &how,
				   sizeof(how));
	} else
		pfd = open(path, flags);
	if (pfd < 0)
		return -1;
	struct stat st;
	if (fstat(pfd, &st) < 0) {
		int e = errno;
		close(pfd);
		errno = e;
		return -1;
	}
	const char *why = NULL;
	if (S_ISLNK(st.st_mode))
		why = "a symbolic link";
	else if (S_ISFIFO(st.st_mode))
		why = "a FIFO";
	else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		why = "a device";
	else if (S_ISSOCK(st.st_mode))
		why = "a socket";
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if ((uint64_t)st.st_size > max_size)
		why = "implausibly large";
	if (why) {
		close(pfd);
		*ret_why = why;
		errno = EINVAL;
		return -1;
	}
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	int fd = open(self, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT && root_fd < 0) {
		/* no /proc: by name again, and it must be the same inode */
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY |
					(follow ? 0 : O_NOFOLLOW));
		struct stat st2;
		if (fd >= 0 &&
		    (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev ||
		     st2.st_ino != st.st_ino)) {
			close(fd);
			fd = -1;
			errno = ESTALE;
		}
	}
	int e = errno;
	close(pfd);
	if (fd >= 0 && ret_st)
		*ret_st = st;
	errno = e;
	return fd;
}

/* Maps the file open on fd (path names it in messages); takes fd. */
static struct ph_error *map_fd(int fd, const char *path, int *ret_fd,
			       void **ret_map, size_t *ret_size);

static void sym_table_free(void *p);

/* A file the user named (--core, --exe): symbolic links followed, but
 * never a wait on a FIFO. */
static struct ph_error *map_file(const char *path, int *ret_fd, void **ret_map,
				 size_t *ret_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return ph_error_create_path(PH_ERR_OS, path, "%s: %s", path,
					    strerror(errno));
	return map_fd(fd, path, ret_fd, ret_map, ret_size);
}

/* A file's mapping at a 2 MiB boundary (as its page cache's large folios
 * are): the kernel may then map a folio of 2 MiB with one entry
 * (ph_memory_read_whole). MAP_FAILED as mmap. */
static void *mmap_pmd_aligned(int fd, size_t len)
{
	const int prot = PROT_READ | PROT_WRITE;
	void *m = len < PH_HUGE_PAGE
			  ? MAP_FAILED
			  : ph_map_aligned(len, prot, MAP_PRIVATE, fd);
	return m != MAP_FAILED ? m : mmap(NULL, len, prot, MAP_PRIVATE, fd, 0);
}

static struct ph_error *map_fd(int fd, const char *path, int *ret_fd,
			       void **ret_map, size_t *ret_size)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return ph_error_create_path(PH_ERR_OS, path, "%s: %s", path,
					    strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ph_error_create_path(PH_ERR_NOT_CORE, path,
					    "%s: not a regular file", path);
	}
	void *map = NULL;
	if (st.st_size > 0) {
		/* Private and writable so that libelf may never fault, but
		 * nothing is written: no page is ever copied. */
		map = mmap_pmd_aligned(fd, (size_t)st.st_size);
		if (map == MAP_FAILED) {
			int e = errno;
			close(fd);
			return ph_error_create_path(PH_ERR_OS, path,
						    "%s: mmap: %s", path,
						    strerror(e));
		}
	}
	*ret_fd = fd;
	*ret_map = map;
	*ret_size = (size_t)st.st_size;
	return NULL;
}

void ph_target_note(struct ph_target *t, enum ph_note_code code,
		    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ph_notes_addv(&t->notes, &t->nnotes, &t->notes_cap, code, fmt, ap);
	va_end(ap);
}

void ph_target_note_refused(struct ph_target *t, const char *path,
			    const char *why)
{
	/* a crafted core may name a million: the first few, then a count */
	if (t->files_refused++ < 3)
		ph_target_note(t, PH_NOTE_FILES_NOT_USED, "%s: not used: %s",
			       path, why);
}

static uint64_t path_hash(const char *s)
{
	return ph_fnv1a(s, strlen(s), PH_FNV_BASIS);
}

struct ph_error *ph_target_module(struct ph_target *t, const char *path,
				  struct ph_module **ret)
{
	/* the index: open addressing, slot = module index + 1 */
	if (2 * (t->nmods + 1) > t->mod_slots_n) {
		size_t n = t->mod_slots_n ? 2 * t->mod_slots_n : 64;
		while (2 * (t->nmods + 1) > n)
			n *= 2;
		uint32_t *slots = calloc(n, sizeof(*slots));
		if (!slots)
			return ph_error_nomem();
		for (size_t i = 0; i < t->nmods; i++) {
			size_t k = (size_t)path_hash(t->mods[i].path) & (n - 1);
			while (slots[k])
				k = (k + 1) & (n - 1);
			slots[k] = (uint32_t)i + 1;
		}
		free(t->mod_slots);
		t->mod_slots = slots;
		t->mod_slots_n = n;
	}
	size_t mask = t->mod_slots_n - 1;
	size_t k = (size_t)path_hash(path) & mask;
	for (; t->mod_slots[k]; k = (k + 1) & mask)
		if (!strcmp(t->mods[t->mod_slots[k] - 1].path, path)) {
			*ret = &t->mods[t->mod_slots[k] - 1];
			return NULL;
		}
	if (t->nmods >= UINT32_MAX - 1)
		return ph_error_create(PH_ERR_CORRUPT, "too many mapped files");
	struct ph_error *err = ph_grow((void **)&t->mods, &t->mods_cap,
				       t->nmods + 1, sizeof(*t->mods));
	if (err)
		return err;
	struct ph_module *mod = &t->mods[t->nmods];
	memset(mod, 0, sizeof(*mod));
	mod->fd = -1;
	mod->start = UINT64_MAX;
	if (!(mod->path = strdup(path)))
		return ph_error_nomem();
	t->mod_slots[k] = (uint32_t)++t->nmods;
	*ret = mod;
	return NULL;
}

static bool read_build_id_notes(const uint8_t *p, size_t len, uint8_t *out,
				size_t *out_len)
{
	size_t off = 0;
	while (off + 12 <= len) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, p + off, 4);
		memcpy(&descsz, p + off + 4, 4);
		memcpy(&type, p + off + 8, 4);
		size_t name_off = off + 12;
		size_t desc_off = name_off + ((namesz + 3) & ~3u);
		size_t next = desc_off + ((descsz + 3) & ~3u);
		if (next > len || next <= off)
			return false;
		if (type == NT_GNU_BUILD_ID && namesz == 4 &&
		    !memcmp(p + name_off, "GNU", 4) && descsz <= 64) {
			memcpy(out, p + desc_off, descsz);
			*out_len = descsz;
			return true;
		}
		off = next;
	}
	return false;
}

/* A module file's ELF header and program headers. */
struct elf_heads {
	Elf64_Ehdr eh;
	Elf64_Phdr *ph; /* malloc'd: nph of them, NULL when unreadable */
	size_t nph;
};

/*
 * Reads them with pread: no page of the file's mapping is touched for them
 * (under a hypervisor that shadows the guest's page tables a first touch
 * costs more than the read, and a run on a cached index needs nothing else
 * of most files: docs/performance.md). NULL, or why the file cannot be a
 * module of a core py-heap reads (then nothing is allocated).
 */
const char *ph_elf_header_read(int fd, Elf64_Ehdr *ret)
{
	ssize_t got = pread(fd, ret, sizeof(*ret), 0);
	if (got < SELFMAG || memcmp(ret->e_ident, ELFMAG, SELFMAG))
		return "not an ELF file";
	if (got != (ssize_t)sizeof(*ret) ||
	    ret->e_ident[EI_CLASS] != ELFCLASS64 ||
	    ret->e_ident[EI_DATA] != ELFDATA2LSB)
		return "not a 64-bit little-endian ELF file";
	return NULL;
}

size_t ph_elf_section_count(int fd, const Elf64_Ehdr *eh, uint64_t size)
{
	uint64_t n = eh->e_shnum;
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > size)
		return 0;
	if (!n && eh->e_shoff) {
		/* SHN_XINDEX's way: the count in the first's sh_size */
		Elf64_Shdr sh0;
		if (pread(fd, &sh0, sizeof(sh0), (off_t)eh->e_shoff) !=
		    (ssize_t)sizeof(sh0))
			return 0;
		n = sh0.sh_size;
	}
	return n <= (size - eh->e_shoff) / sizeof(Elf64_Shdr) ? (size_t)n : 0;
}

static const char *elf_heads_read(int fd, struct elf_heads *ret)
{
	memset(ret, 0, sizeof(*ret));
	Elf64_Ehdr *eh = &ret->eh;
	const char *why = ph_elf_header_read(fd, eh);
	if (why)
		return why;
	uint64_t n = eh->e_phnum;
	if (n == PN_XNUM) {
		/* the count in the first section header's sh_info */
		Elf64_Shdr sh0;
		if (eh->e_shoff > INT64_MAX ||
		    pread(fd, &sh0, sizeof(sh0), (off_t)eh->e_shoff) !=
			    (ssize_t)sizeof(sh0))
			return NULL;
		n = sh0.sh_info;
	}
	/* bounded (a crafted header names 4G of them); past the file's end
	 * the read comes up short */
	if (!n || n > 65536 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phoff > INT64_MAX / 2)
		return NULL;
	Elf64_Phdr *ph = malloc(n * sizeof(*ph));
	if (ph && pread(fd, ph, n * sizeof(*ph), (off_t)eh->e_phoff) ==
			  (ssize_t)(n * sizeof(*ph))) {
		ret->ph = ph;
		ret->nph = n;
	} else
		free(ph);
	return NULL;
}

/* Build-id of an ELF file on disk, from its PT_NOTE segments (pread). */
static void file_build_id(struct ph_module *mod, int fd,
			  const struct elf_heads *e)
{
	for (size_t i = 0; i < e->nph; i++) {
		const Elf64_Phdr *ph = &e->ph[i];
		/* bounded by the file's size and the note's, and to what a
		 * build-id note needs: it comes first (a crafted 16 GB note of
		 * zeros was walked whole) */
		if (ph->p_type != PT_NOTE || ph->p_offset > mod->size ||
		    ph->p_filesz > mod->size - ph->p_offset)
			continue;
		size_t len =
			ph->p_filesz < 65536 ? (size_t)ph->p_filesz : 65536;
		uint8_t small[1024];
		uint8_t *p = len <= sizeof(small) ? small : malloc(len);
		bool found = p &&
			     pread(fd, p, len, (off_t)ph->p_offset) ==
				     (ssize_t)len &&
			     read_build_id_notes(p, len, mod->build_id,
						 &mod->build_id_len);
		if (p != small)
			free(p);
		if (found)
			return;
	}
}

bool ph_image_build_id(bool (*read)(void *ctx, uint64_t addr, void *buf,
				    size_t len),
		       void *ctx, uint64_t base, uint8_t *out, size_t *out_len)
{
	Elf64_Ehdr eh;
	if (!read(ctx, base, &eh, sizeof(eh)) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phnum > 256 ||
	    !eh.e_phnum || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    base + eh.e_phoff < base)
		return false;
	Elf64_Phdr *ph = malloc(eh.e_phnum * sizeof(*ph));
	if (!ph ||
	    !read(ctx, base + eh.e_phoff, ph, eh.e_phnum * sizeof(*ph))) {
		free(ph);
		return false;
	}
	/* The image's own load bias, from its own headers. */
	uint64_t first = UINT64_MAX;
	for (unsigned i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < first)
			first = ph[i].p_vaddr & ~(uint64_t)0xfff;
	bool found = false;
	uint64_t bias = base - first;
	for (unsigned i = 0; first != UINT64_MAX && !found && i < eh.e_phnum;
	     i++) {
		if (ph[i].p_type != PT_NOTE || !ph[i].p_memsz ||
		    ph[i].p_memsz > 65536)
			continue;
		uint8_t *p = malloc(ph[i].p_memsz);
		if (p && read(ctx, bias + ph[i].p_vaddr, p, ph[i].p_memsz))
			found = read_build_id_notes(p, ph[i].p_memsz, out,
						    out_len);
		free(p);
	}
	free(ph);
	return found;
}

static bool mem_read_cb(void *ctx, uint64_t addr, void *buf, size_t len)
{
	/* (read once: the core's file with pread, its mapping untouched) */
	struct ph_error *err = ph_mem_read_once(ctx, addr, buf, len);
	ph_error_destroy(err);
	return !err;
}

/*
 * Build-id of the ELF image mapped at base in the process, read from the
 * core's own pages only (never from the file we want to check). Returns
 * false when the core did not save the headers.
 */
static bool memory_build_id(struct ph_target *t, uint64_t base, uint8_t *out,
			    size_t *out_len)
{
	return ph_image_build_id(mem_read_cb, &t->mem, base, out, out_len);
}

static struct ph_error *parse_nt_file(struct ph_target *t, const uint8_t *d,
				      size_t len)
{
	if (len < 16)
		return ph_error_create(PH_ERR_CORRUPT,
				       "NT_FILE note too short");
	uint64_t count, page;
	memcpy(&count, d, 8);
	memcpy(&page, d + 8, 8);
	if (count > len / 24)
		return ph_error_create(PH_ERR_CORRUPT,
				       "NT_FILE note claims %llu files",
				       (unsigned long long)count);
	const uint8_t *names = d + 16 + count * 24;
	const uint8_t *end = d + len;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t start, stop, ofs;
		memcpy(&start, d + 16 + i * 24, 8);
		memcpy(&stop, d + 16 + i * 24 + 8, 8);
		memcpy(&ofs, d + 16 + i * 24 + 16, 8);
		const uint8_t *nul = memchr(names, 0, (size_t)(end - names));
		if (!nul)
			return ph_error_create(PH_ERR_CORRUPT,
					       "NT_FILE note names run past "
					       "its end");
		const char *name = (const char *)names;
		names = nul + 1;
		struct ph_module *mod;
		struct ph_error *err = ph_target_module(t, name, &mod);
		if (err)
			return err;
		if (ofs == 0 && start < mod->start)
			mod->start = start;
		if (stop > mod->end)
			mod->end = stop;
		(void)page;
	}
	return NULL;
}

/*
 * Reads the module's ELF from fd (taken): its build-id, its bias, and its
 * read-only segments into the memory map (all of its file-backed segments
 * for a live process: see ph_module_fill). With want_len, a file whose
 * build-id differs is refused (PH_ERR_BUILD_ID_MISMATCH, the module left
 * without a file); with check_memory, the image's own build-id is read
 * from memory and compared. strict: an error for a file that is no ELF
 * (--exe); otherwise that module is left without a file.
 */
static struct ph_error *module_load(struct ph_target *t, struct ph_module *mod,
				    int fd, const char *disk, bool strict,
				    bool check_memory, const uint8_t *want_id,
				    size_t want_len)
{
	/* The headers by pread first: a file that is not ELF is never mapped
	 * (a page of a shared-memory file would be made by reading it). */
	struct elf_heads e;
	const char *why = elf_heads_read(fd, &e);
	if (why) {
		close(fd);
		return strict ? ph_error_create_path(PH_ERR_ELF, disk, "%s: %s",
						     disk, why)
			      : NULL;
	}
	struct ph_error *err =
		map_fd(fd, disk, &mod->fd, &mod->map, &mod->size);
	if (err) {
		free(e.ph);
		if (strict)
			return err;
		ph_error_destroy(err);
		return NULL;
	}
	mod->opened = true;
	file_build_id(mod, mod->fd, &e);
	if (want_len && (want_len != mod->build_id_len ||
			 memcmp(want_id, mod->build_id, want_len))) {
		free(e.ph);
		mod->opened = false;
		munmap(mod->map, mod->size);
		mod->map = NULL;
		mod->size = 0;
		close(mod->fd);
		mod->fd = -1;
		mod->build_id_len = 0;
		return ph_error_create_path(PH_ERR_BUILD_ID_MISMATCH, disk,
					    "%s: not the file the process "
					    "mapped (another build-id)",
					    disk);
	}

	/* The bias: where the PT_LOAD with offset 0 went. */
	uint64_t first_vaddr = UINT64_MAX;
	for (size_t i = 0; i < e.nph; i++)
		if (e.ph[i].p_type == PT_LOAD && e.ph[i].p_vaddr < first_vaddr)
			first_vaddr = e.ph[i].p_vaddr & ~(uint64_t)0xfff;
	if (first_vaddr == UINT64_MAX || mod->start == UINT64_MAX) {
		free(e.ph);
		return NULL;
	}
	mod->bias = mod->start - first_vaddr;
	/* The image reaches past its file mappings: .bss is anonymous. */
	for (size_t i = 0; i < e.nph; i++)
		if (e.ph[i].p_type == PT_LOAD &&
		    mod->bias + e.ph[i].p_vaddr + e.ph[i].p_memsz > mod->end)
			mod->end =
				mod->bias + e.ph[i].p_vaddr + e.ph[i].p_memsz;

	if (check_memory && mod->build_id_len) {
		uint8_t mem_id[64];
		size_t mem_len = 0;
		if (memory_build_id(t, mod->start, mem_id, &mem_len) &&
		    (mem_len != mod->build_id_len ||
		     memcmp(mem_id, mod->build_id, mem_len))) {
			char a[129], b[129];
			for (size_t i = 0; i < mem_len; i++)
				sprintf(a + 2 * i, "%02x", mem_id[i]);
			for (size_t i = 0; i < mod->build_id_len; i++)
				sprintf(b + 2 * i, "%02x", mod->build_id[i]);
			free(e.ph);
			return ph_error_create_path(
				PH_ERR_BUILD_ID_MISMATCH, disk,
				"%s does not match the core: build-id %s, the "
				"core's %s is %s",
				disk, b, mod->path, a);
		}
	}

	/* Read-only segments of the file stand in for pages the core left
	 * out; writable ones would be stale, so they are not used. */
	for (size_t i = 0; i < e.nph && !err; i++) {
		const Elf64_Phdr *ph = &e.ph[i];
		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W) ||
		    ph->p_offset > mod->size ||
		    ph->p_filesz > mod->size - ph->p_offset)
			continue;
		err = ph_memory_add(&t->mem, mod->bias + ph->p_vaddr,
				    mod->bias + ph->p_vaddr + ph->p_filesz,
				    (const uint8_t *)mod->map + ph->p_offset,
				    false, true);
	}
	free(e.ph);
	return err;
}

/* libelf's view of the file mapped at map, in *slot: made by the first
 * caller, another thread's kept when it came first. */
static Elf *elf_once(Elf **slot, bool have, void *map, size_t size)
{
	Elf *elf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (elf || !have || !map)
		return elf;
	if (!(elf = elf_memory(map, size)))
		return NULL;
	Elf *none = NULL;
	if (__atomic_compare_exchange_n(slot, &none, elf, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return elf;
	elf_end(elf);
	return none;
}

/* (the module's two views are a cache: made through a const module) */
Elf *ph_module_elf(const struct ph_module *mod)
{
	struct ph_module *m = (struct ph_module *)mod;
	return elf_once(&m->elf, m->opened, m->map, m->size);
}

Elf *ph_module_debug_elf(const struct ph_module *mod)
{
	struct ph_module *m = (struct ph_module *)mod;
	return elf_once(&m->debug_elf, true, m->debug_map, m->debug_size);
}

struct ph_error *ph_module_open_fd(struct ph_target *t, struct ph_module *mod,
				   int fd, const char *disk_path,
				   const uint8_t *want_id, size_t want_len)
{
	if (!(mod->disk_path = strdup(disk_path))) {
		close(fd);
		return ph_error_nomem();
	}
	return module_load(t, mod, fd, mod->disk_path, false, false, want_id,
			   want_len);
}

struct ph_error *ph_module_open(struct ph_target *t, struct ph_module *mod,
				const char *override, const char *sysroot,
				bool check_build_id)
{
	char *disk;
	const char *in_root = NULL; /* the path inside the sysroot */
	size_t rootlen = 0;
	if (override)
		disk = strdup(override);
	else if (sysroot && *sysroot) {
		/* Keep every path under the sysroot: no ".." escapes, and
		 * symbolic links resolved inside it (RESOLVE_IN_ROOT). */
		size_t n = strlen(sysroot);
		while (n > 1 && sysroot[n - 1] == '/')
			n--;
		rootlen = n;
		if (strstr(mod->path, "/../") || mod->path[0] != '/')
			return NULL;
		/* gcore run outside a chroot names files by their full path:
		 * those already inside the sysroot are taken as they are. */
		if (!strncmp(mod->path, sysroot, n) && mod->path[n] == '/') {
			disk = strdup(mod->path);
			in_root = mod->path + n;
		} else {
			if (asprintf(&disk, "%.*s%s", (int)n, sysroot,
				     mod->path) < 0)
				disk = NULL;
			in_root = mod->path;
		}
	} else
		disk = strdup(mod->path);
	if (!disk)
		return ph_error_nomem();
	mod->disk_path = disk;
	if (override) {
		int fd = open(disk,
			      O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd < 0)
			return ph_error_create_path(PH_ERR_OS, disk, "%s: %s",
						    disk, strerror(errno));
		struct stat st;
		if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
			close(fd);
			return ph_error_create_path(PH_ERR_ELF, disk,
						    "%s: not a regular file",
						    disk);
		}
		return module_load(t, mod, fd, disk, true, check_build_id, NULL,
				   0);
	}
	/* A file the core names: never a FIFO, a device or a link, never
	 * one larger than any executable or library is. */
	const char *why = NULL;
	int fd;
	if (in_root) {
		char root[4096];
		snprintf(root, sizeof(root), "%.*s", (int)rootlen, sysroot);
		int dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		fd = dfd < 0 ? -1
			     : ph_file_open(dfd, in_root, false,
					    PH_FILE_MAX_SIZE, NULL, &why);
		int e = errno;
		if (dfd >= 0)
			close(dfd);
		errno = e;
		if (fd < 0 && errno == ENOSYS)
			fd = ph_file_open(-1, disk, false, PH_FILE_MAX_SIZE,
					  NULL, &why);
	} else
		fd = ph_file_open(-1, disk, false, PH_FILE_MAX_SIZE, NULL,
				  &why);
	/* A library that cannot be opened costs only read-only data. */
	if (fd < 0) {
		if (why)
			ph_target_note_refused(t, disk, why);
		return NULL;
	}
	return module_load(t, mod, fd, disk, false, check_build_id, NULL, 0);
}

/*
 * A core whose notes are lost (truncated): find the executable's image in
 * memory by its ELF header and build-id, so that what is left can still
 * be read.
 */
static struct ph_error *find_exe_in_memory(struct ph_target *t,
					   const char *exe_path)
{
	struct ph_module probe = {.fd = -1, .start = UINT64_MAX};
	struct ph_error *err =
		map_file(exe_path, &probe.fd, &probe.map, &probe.size);
	if (err)
		return err;
	struct elf_heads e;
	const char *why = elf_heads_read(probe.fd, &e);
	if (why) {
		munmap(probe.map, probe.size);
		close(probe.fd);
		return ph_error_create_path(PH_ERR_ELF, exe_path, "%s: %s",
					    exe_path, why);
	}
	file_build_id(&probe, probe.fd, &e);
	free(e.ph);
	munmap(probe.map, probe.size);
	close(probe.fd);
	for (size_t i = 0; i < t->mem.nsegs; i++) {
		const struct ph_segment *sg = &t->mem.segs[i];
		if (!sg->data || (sg->start & 0xfff))
			continue;
		uint8_t id[64];
		size_t len = 0;
		if (memcmp(sg->data, ELFMAG, SELFMAG) ||
		    !memory_build_id(t, sg->start, id, &len) ||
		    len != probe.build_id_len ||
		    memcmp(id, probe.build_id, len))
			continue;
		t->mods = calloc(1, sizeof(*t->mods));
		if (!t->mods || !(t->mods[0].path = strdup(exe_path)))
			return ph_error_nomem();
		t->mods[0].fd = -1;
		t->mods[0].start = sg->start;
		t->mods[0].end = sg->end;
		t->nmods = 1;
		t->mods_cap = 1;
		t->notes_lost = true;
		return NULL;
	}
	return ph_error_create_path(PH_ERR_TRUNCATED, exe_path,
				    "%s: core truncated, and %s is not in what "
				    "is left of it",
				    t->core_path, exe_path);
}

static struct ph_error *open_core(const char *core_path, const void *image,
				  size_t image_size, const char *exe_path,
				  const char *sysroot, struct ph_target **ret);

struct ph_error *ph_target_open_core(const char *core_path,
				     const char *exe_path, const char *sysroot,
				     struct ph_target **ret)
{
	return open_core(core_path, NULL, 0, exe_path, sysroot, ret);
}

struct ph_error *ph_target_open_core_image(const char *name, const void *image,
					   size_t size, const char *exe_path,
					   const char *sysroot,
					   struct ph_target **ret)
{
	return open_core(name, image, size, exe_path, sysroot, ret);
}

static struct ph_error *open_core(const char *core_path, const void *image,
				  size_t image_size, const char *exe_path,
				  const char *sysroot, struct ph_target **ret)
{
	struct ph_error *err;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return ph_error_create(PH_ERR_ELF, "libelf: %s",
				       elf_errmsg(-1));
	struct ph_target *t = calloc(1, sizeof(*t));
	if (!t)
		return ph_error_nomem();
	t->fd = -1;
	t->exe_index = -1;
	ph_memory_init(&t->mem);
	t->core_path = strdup(core_path);
	if (sysroot && *sysroot && !(t->sysroot = strdup(sysroot))) {
		err = ph_error_nomem();
		goto fail;
	}
	if (!t->core_path) {
		err = ph_error_nomem();
		goto fail;
	}
	if (image) {
		t->map = (void *)image; /* the caller's: not unmapped */
		t->size = image_size;
		t->map_borrowed = true;
	} else if ((err = map_file(core_path, &t->fd, &t->map, &t->size))) {
		goto fail;
	} else {
		t->mem.file_map = t->map;
		t->mem.file_map_len = t->size;
		t->mem.file_fd = t->fd;
	}
	if (t->size < sizeof(Elf64_Ehdr) || memcmp(t->map, ELFMAG, SELFMAG)) {
		err = ph_error_create_path(PH_ERR_NOT_CORE, core_path,
					   "%s: not an ELF core file",
					   core_path);
		goto fail;
	}
	const Elf64_Ehdr *eh = t->map;
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB) {
		err = ph_error_create_path(
			PH_ERR_UNSUPPORTED, core_path,
			"%s: only 64-bit little-endian cores "
			"are supported",
			core_path);
		goto fail;
	}
	if (eh->e_type != ET_CORE) {
		err = ph_error_create_path(PH_ERR_NOT_CORE, core_path,
					   "%s: an ELF file, but not a core "
					   "(type %u)",
					   core_path, eh->e_type);
		goto fail;
	}
	if (eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) >
	    t->size) {
		err = ph_error_create_path(PH_ERR_TRUNCATED, core_path,
					   "%s: core truncated: its program "
					   "headers run past the end of the "
					   "file (%zu bytes)",
					   core_path, t->size);
		goto fail;
	}
	t->elf = elf_memory(t->map, t->size);
	if (!t->elf) {
		err = ph_error_create_path(PH_ERR_ELF, core_path, "%s: %s",
					   core_path, elf_errmsg(-1));
		goto fail;
	}
	size_t nph;
	if (elf_getphdrnum(t->elf, &nph)) {
		err = ph_error_create_path(PH_ERR_ELF, core_path, "%s: %s",
					   core_path, elf_errmsg(-1));
		goto fail;
	}
	uint64_t need = 0, entry = 0;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(t->elf, (int)i, &ph))
			continue;
		uint64_t end = ph.p_offset + ph.p_filesz;
		if (end < ph.p_offset)
			end = UINT64_MAX;
		if (ph.p_filesz && end > need)
			need = end;
	}
	if (need > t->size) {
		/* A truncated core: keep what is there, and say so. */
		t->truncated_need = need;
	}
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(t->elf, (int)i, &ph))
			continue;
		if (ph.p_type == PT_LOAD) {
			uint64_t present = ph.p_filesz;
			if (ph.p_offset >= t->size)
				present = 0;
			else if (present > t->size - ph.p_offset)
				present = t->size - ph.p_offset;
			const uint8_t *data =
				present ? (const uint8_t *)t->map + ph.p_offset
					: NULL;
			/* A segment that wraps around the address space is
			 * nonsense: keep none of it. */
			if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr) {
				t->truncated_segments++;
				continue;
			}
			if (present < ph.p_filesz) {
				t->truncated_segments++;
				t->truncated_bytes += ph.p_filesz - present;
			}
			err = ph_memory_add(&t->mem, ph.p_vaddr,
					    ph.p_vaddr + present, data,
					    ph.p_flags & PF_W, false);
			if (!err && ph.p_memsz > present)
				err = ph_memory_add(
					&t->mem, ph.p_vaddr + present,
					ph.p_vaddr + ph.p_memsz, NULL,
					ph.p_flags & PF_W, false);
			if (err)
				goto fail;
		} else if (ph.p_type == PT_NOTE) {
			if (ph.p_offset > t->size ||
			    ph.p_filesz > t->size - ph.p_offset)
				continue;
			Elf_Data *d = elf_getdata_rawchunk(
				t->elf, (int64_t)ph.p_offset, ph.p_filesz,
				ELF_T_NHDR);
			if (!d)
				continue;
			GElf_Nhdr nh;
			size_t off = 0, name_off, desc_off;
			while ((off = gelf_getnote(d, off, &nh, &name_off,
						   &desc_off)) > 0) {
				const uint8_t *desc =
					(const uint8_t *)d->d_buf + desc_off;
				if (nh.n_type == NT_PRSTATUS)
					t->nthreads++;
				else if (nh.n_type == NT_AUXV) {
					for (size_t k = 0;
					     k + 16 <= nh.n_descsz; k += 16) {
						uint64_t at, val;
						memcpy(&at, desc + k, 8);
						memcpy(&val, desc + k + 8, 8);
						if (at == AT_ENTRY)
							entry = val;
					}
				} else if (nh.n_type == NT_FILE) {
					err = parse_nt_file(t, desc,
							    nh.n_descsz);
					if (err)
						goto fail;
				}
			}
		}
	}
	/* The core's pages must be in place to check build-ids. */
	err = ph_memory_finish(&t->mem);
	if (err)
		goto fail;
	if (!t->nmods && t->truncated_need && exe_path &&
	    (err = find_exe_in_memory(t, exe_path)))
		goto fail;
	if (!t->nmods) {
		if (t->truncated_need)
			err = ph_error_create_path(
				PH_ERR_TRUNCATED, core_path,
				"%s: core truncated: %zu bytes of the %llu its "
				"headers describe (%.0f%%), and its notes (the "
				"files mapped) are in the part that is "
				"missing; "
				"give the executable with --exe to read the "
				"rest",
				core_path, t->size,
				(unsigned long long)t->truncated_need,
				100.0 * (double)t->size /
					(double)t->truncated_need);
		else
			err = ph_error_create_path(
				PH_ERR_NOT_CORE, core_path,
				"%s: the core names no mapped "
				"files (no NT_FILE note)",
				core_path);
		goto fail;
	}
	/* The executable is the file that holds the entry point (AT_ENTRY);
	 * failing that, the first file mapped. */
	t->exe_index = 0;
	for (size_t i = 0; i < t->nmods; i++)
		if (entry >= t->mods[i].start && entry < t->mods[i].end)
			t->exe_index = (int)i;
	for (size_t i = 0; i < t->nmods; i++) {
		bool is_exe = (int)i == t->exe_index;
		err = ph_module_open(t, &t->mods[i], is_exe ? exe_path : NULL,
				     sysroot, true);
		if (err)
			goto fail;
	}
	err = ph_memory_finish(&t->mem);
	if (err)
		goto fail;
	*ret = t;
	return NULL;
fail:
	ph_target_destroy(t);
	return err;
}

void ph_target_destroy(struct ph_target *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nmods; i++) {
		struct ph_module *m = &t->mods[i];
		if (m->elf)
			elf_end(m->elf);
		if (m->map)
			munmap(m->map, m->size);
		if (m->fd >= 0)
			close(m->fd);
		ph_module_close_debuginfo(m);
		ph_module_free_symbols(m);
		free(m->path);
		free(m->disk_path);
	}
	free(t->mods);
	free(t->mod_slots);
	if (t->elf)
		elf_end(t->elf);
	/* (a core read whole has its pages dropped on two threads; one a
	 * cached run touched in a few places is merely unmapped) */
	if (t->map && !t->map_borrowed) {
		if (t->mem.read_whole)
			ph_unmap(t->map, t->size);
		else
			munmap(t->map, t->size);
	}
	if (t->fd >= 0)
		close(t->fd);
	for (size_t i = 0; i < t->nbufs; i++)
		munmap(t->bufs[i].ptr, t->bufs[i].size);
	for (size_t i = 0; i < t->ndebug_dirs; i++)
		free(t->debug_dirs[i]);
	free(t->debug_dirs);
	free(t->frame_numbers);
	free(t->bufs);
	ph_memory_free(&t->mem);
	for (size_t i = 0; i < t->nnotes; i++)
		free(t->notes[i].message);
	free(t->notes);
	free(t->core_path);
	free(t->sysroot);
	free(t);
}

static bool sym_iter_elf(Elf *elf,
			 bool (*fn)(void *arg, const char *name, GElf_Sym *sym),
			 void *arg);

static bool sym_iter(const struct ph_module *mod,
		     bool (*fn)(void *arg, const char *name, GElf_Sym *sym),
		     void *arg)
{
	Elf *elf = ph_module_elf(mod), *debug = ph_module_debug_elf(mod);
	if (elf && sym_iter_elf(elf, fn, arg))
		return true;
	return debug && sym_iter_elf(debug, fn, arg);
}

static bool sym_iter_elf(Elf *elf,
			 bool (*fn)(void *arg, const char *name, GElf_Sym *sym),
			 void *arg)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB))
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		if (!d || !sh.sh_entsize)
			continue;
		size_t n = sh.sh_size / sh.sh_entsize;
		/* 64-bit symbols in memory as GElf's, their names ended in
		 * the table: read where they are (gelf_getsym and elf_strptr
		 * took half of building a debug file's 42k symbols' table) */
		Elf_Scn *ss = elf_getscn(elf, sh.sh_link);
		Elf_Data *sd = ss ? elf_getdata(ss, NULL) : NULL;
		if (gelf_getclass(elf) == ELFCLASS64 && d->d_buf &&
		    d->d_type == ELF_T_SYM &&
		    d->d_size >= n * sizeof(GElf_Sym) && sd && sd->d_buf &&
		    sd->d_size && !((const char *)sd->d_buf)[sd->d_size - 1]) {
			GElf_Sym *syms = d->d_buf;
			const char *strs = sd->d_buf;
			for (size_t i = 0; i < n; i++) {
				if (syms[i].st_shndx == SHN_UNDEF ||
				    syms[i].st_name >= sd->d_size)
					continue;
				GElf_Sym sym = syms[i];
				if (fn(arg, strs + sym.st_name, &sym))
					return true;
			}
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(d, (int)i, &sym) ||
			    sym.st_shndx == SHN_UNDEF)
				continue;
			const char *name =
				elf_strptr(elf, sh.sh_link, sym.st_name);
			if (name && fn(arg, name, &sym))
				return true;
		}
	}
	return false;
}

struct sym_find {
	const char *name;
	GElf_Sym sym;
};

static bool sym_find_cb(void *arg, const char *name, GElf_Sym *sym)
{
	struct sym_find *f = arg;
	size_t n = strlen(f->name);
	if (strncmp(name, f->name, n) ||
	    (name[n] && strncmp(name + n, ".lto_priv.", 10)))
		return false;
	f->sym = *sym;
	return true;
}

/* A module's defined symbols sorted by name (without LTO's suffix), built
 * on the first lookup: a debug file has tens of thousands. */
struct sym_entry {
	const char *name;
	size_t len; /* up to ".lto_priv." */
	uint64_t value, size;
};

struct sym_collect {
	struct sym_entry *e;
	size_t n, cap;
	bool failed;
};

static bool sym_collect_cb(void *arg, const char *name, GElf_Sym *sym)
{
	struct sym_collect *c = arg;
	if (!*name ||
	    ph_grow((void **)&c->e, &c->cap, c->n + 1, sizeof(*c->e))) {
		c->failed = c->failed || *name;
		return false;
	}
	/* (strstr on each name: a third of the table's building) */
	size_t len = strlen(name);
	const char *lto = memchr(name, '.', len);
	while (lto && strncmp(lto, ".lto_priv.", 10))
		lto = memchr(lto + 1, '.', len - (size_t)(lto + 1 - name));
	c->e[c->n++] =
		(struct sym_entry){name, lto ? (size_t)(lto - name) : len,
				   sym->st_value, sym->st_size};
	return false;
}

static bool sym_entry_eq(const struct sym_entry *x, const char *name,
			 size_t len)
{
	return x->len == len && !memcmp(x->name, name, len);
}

static uint64_t sym_hash(const char *name, size_t len)
{
	return ph_fnv1a(name, len, PH_FNV_BASIS);
}

/*
 * The table: entries in the order the symbol tables give them (.dynsym
 * before .symtab), then an open-addressing index by name hash holding each
 * name's first entry, and a chain to the next entry of the same name.
 * Built in one pass (no sort): a debug file has tens of thousands.
 */
struct sym_table {
	struct sym_entry *e;
	size_t n;
	uint32_t *slots; /* entry + 1; 0: empty */
	uint32_t *next;	 /* entry + 1 of the next of the same name */
	size_t mask;
};

static void sym_table_free(void *p)
{
	struct sym_table *t = p;
	if (!t)
		return;
	free(t->e);
	free(t->slots);
	free(t->next);
	free(t);
}

static struct sym_table *sym_table_build(struct sym_collect *c)
{
	struct sym_table *t = calloc(1, sizeof(*t));
	size_t cap = 16;
	while (cap < 2 * c->n + 1)
		cap <<= 1;
	if (!t || !(t->slots = calloc(cap, sizeof(*t->slots))) ||
	    !(t->next = calloc(c->n + 1, sizeof(*t->next)))) {
		if (t) {
			free(t->slots);
			free(t);
		}
		free(c->e);
		return NULL;
	}
	t->e = c->e;
	t->n = c->n;
	t->mask = cap - 1;
	uint32_t *last = calloc(c->n + 1, sizeof(*last));
	if (!last) {
		sym_table_free(t);
		return NULL;
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct sym_entry *x = &t->e[i];
		size_t s = (size_t)sym_hash(x->name, x->len) & t->mask;
		while (t->slots[s] &&
		       !sym_entry_eq(&t->e[t->slots[s] - 1], x->name, x->len))
			s = (s + 1) & t->mask;
		if (!t->slots[s]) {
			t->slots[s] = (uint32_t)i + 1;
			last[i] = (uint32_t)i + 1;
		} else {
			/* append to that name's chain, in table order */
			uint32_t head = t->slots[s] - 1;
			t->next[last[head] - 1] = (uint32_t)i + 1;
			last[head] = (uint32_t)i + 1;
		}
	}
	free(last);
	return t;
}

/* The first entry named name (without LTO's suffix), or NULL. */
static const struct sym_entry *sym_table_find(const struct sym_table *t,
					      const char *name)
{
	size_t len = strlen(name);
	size_t s = (size_t)sym_hash(name, len) & t->mask;
	while (t->slots[s]) {
		const struct sym_entry *x = &t->e[t->slots[s] - 1];
		if (sym_entry_eq(x, name, len))
			return x;
		s = (s + 1) & t->mask;
	}
	return NULL;
}

void ph_module_free_symbols(struct ph_module *mod)
{
	sym_table_free(mod->syms);
	mod->syms = NULL;
	mod->nsyms = 0;
}

bool ph_module_symbol(const struct ph_module *cmod, const char *name,
		      uint64_t *ret_addr, uint64_t *ret_size)
{
	struct ph_module *mod = (struct ph_module *)cmod;
	/* Rebuilt when debug information arrives after the first lookup. */
	if (!mod->syms || mod->syms_with_debug != (mod->debug_map != NULL)) {
		struct sym_collect c = {0};
		sym_iter(mod, sym_collect_cb, &c);
		if (c.failed) {
			free(c.e);
			struct sym_find f = {.name = name};
			if (!sym_iter(mod, sym_find_cb, &f))
				return false;
			*ret_addr = f.sym.st_value + mod->bias;
			if (ret_size)
				*ret_size = f.sym.st_size;
			return true;
		}
		struct sym_table *t = sym_table_build(&c);
		if (!t)
			return false;
		sym_table_free(mod->syms);
		mod->syms = t;
		mod->nsyms = t->n;
		mod->syms_with_debug = mod->debug_map != NULL;
	}
	const struct sym_entry *e = sym_table_find(mod->syms, name);
	if (!e)
		return false;
	*ret_addr = e->value + mod->bias;
	if (ret_size)
		*ret_size = e->size;
	return true;
}

size_t ph_module_symbols(const struct ph_module *mod, const char *name,
			 uint64_t *addrs, uint64_t *sizes, size_t max)
{
	uint64_t a;
	/* builds the table (when it can be built) */
	if (!ph_module_symbol(mod, name, &a, NULL) || !mod->nsyms)
		return 0;
	const struct sym_table *t = mod->syms;
	const struct sym_entry *e = sym_table_find(t, name);
	size_t n = 0;
	while (e && n < max) {
		/* the same symbol in .dynsym and .symtab: once */
		bool dup = false;
		for (size_t i = 0; i < n && !dup; i++)
			dup = addrs[i] == e->value + mod->bias;
		if (!dup) {
			addrs[n] = e->value + mod->bias;
			sizes[n++] = e->size;
		}
		uint32_t nx = t->next[e - t->e];
		e = nx ? &t->e[nx - 1] : NULL;
	}
	return n;
}

struct sym_size {
	const struct ph_module *mod;
	uint64_t size;
	void (*fn)(void *, const char *, uint64_t);
	void *arg;
};

static bool sym_size_cb(void *arg, const char *name, GElf_Sym *sym)
{
	struct sym_size *s = arg;
	if (GELF_ST_TYPE(sym->st_info) == STT_OBJECT && sym->st_size == s->size)
		s->fn(s->arg, name, sym->st_value + s->mod->bias);
	return false;
}

void ph_module_objects_of_size(const struct ph_module *mod, uint64_t size,
			       void (*fn)(void *arg, const char *name,
					  uint64_t addr),
			       void *arg)
{
	struct sym_size s = {.mod = mod, .size = size, .fn = fn, .arg = arg};
	sym_iter(mod, sym_size_cb, &s);
}
