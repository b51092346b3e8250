/* target.h - a process image: its memory and the ELF files mapped into it. */
#ifndef PH_TARGET_H
#define PH_TARGET_H

#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>

#include "memory.h"
#include "notes.h"

/* An ELF file mapped in the process (the executable, a shared object). */
struct ph_module {
	char *path;	     /* as the process named it */
	char *disk_path;     /* where it was opened (sysroot applied) */
	uint64_t start, end; /* lowest and highest mapped address */
	uint64_t bias;	     /* load address minus link-time address */
	int fd;
	void *map;
	size_t size;
	/* its ELF headers were read (with pread) and it is mapped: what a
	 * module without a file lacks */
	bool opened;
	/* libelf's view of map, made when first asked for (ph_module_elf):
	 * most runs on a cached index need none, and making it touches
	 * pages (a first touch costs more than a read) */
	Elf *elf;
	uint8_t build_id[64];
	size_t build_id_len;
	/* separate debug information (debuginfo.c), found by build-id */
	bool debug_tried;
	Elf *debug_elf; /* of debug_map, made when first asked for */
	int debug_fd;
	void *debug_map;
	size_t debug_size;
	char *debug_path;
	const char *debug_source; /* where it came from, for `info` */
	const char *debuginfod_error;
	void *syms; /* sorted symbols (core.c), built on first lookup */
	size_t nsyms;
	bool syms_with_debug;
};

struct ph_target {
	char *core_path;
	int fd;
	void *map;
	size_t size;
	bool map_borrowed; /* a caller's image (fuzzing): not unmapped */
	Elf *elf;
	struct ph_memory mem;
	struct ph_module *mods;
	size_t nmods, mods_cap;
	uint32_t *mod_slots; /* the modules by path (ph_target_module) */
	size_t mod_slots_n;
	size_t files_refused; /* files named but not opened (notes) */
	size_t nthreads;
	int exe_index; /* index in mods of the executable, -1 if unknown */
	/* notes for the user, as the session's are (without "py-heap: ");
	 * the session created on the target gives them */
	struct ph_note *notes;
	size_t nnotes, notes_cap;
	/* a live process: its pid, and the copies of its memory */
	int pid;
	struct {
		void *ptr;
		size_t size;
	} * bufs;
	size_t nbufs, bufs_cap;
	double pause_ms; /* how long the process was stopped */
	/* where to look for debug files, before /usr/lib/debug */
	char **debug_dirs;
	size_t ndebug_dirs;
	bool no_debuginfod;
	/* a debugger's frame numbers (ph_options_add_frame_number) */
	struct ph_frame_number {
		uint64_t frame;
		unsigned number;
	} * frame_numbers;
	size_t nframe_numbers, frame_numbers_cap;
	bool no_cache; /* no index cache (heapcache.c) */
	/* the index's and the graph's files written by a child of ours
	 * (ph_options_set_detached_writes) */
	bool detach_writes;
	char *sysroot; /* where the core's files are (its debug files too) */
	/* a truncated core: the size its headers need, what is missing */
	uint64_t truncated_need, truncated_bytes;
	/* the notes (the files mapped) lost with the end of a truncated
	 * core: the executable alone, found in memory by --exe */
	bool notes_lost;
	size_t truncated_segments;
	bool stopped; /* it was stopped while copied */
};

/* Flags for ph_target_open_pid. */
#define PH_PID_NO_STOP 1 /* do not stop the process (it is, or must not be) */

struct ph_error *ph_target_open_core(const char *core_path,
				     const char *exe_path, const char *sysroot,
				     struct ph_target **ret);
void ph_target_destroy(struct ph_target *t);

/* A core already in memory (fuzzing): image must outlive the target, and
 * must be writable memory (libelf may convert in place). */
struct ph_error *ph_target_open_core_image(const char *name, const void *image,
					   size_t size, const char *exe_path,
					   const char *sysroot,
					   struct ph_target **ret);

/* Copies the memory of a live process, stopping it only meanwhile. */
struct ph_error *ph_target_open_pid(int pid, unsigned flags,
				    struct ph_target **ret);

/* Opens a mapped file's ELF (sysroot prefixes its path), sets its bias and
 * adds its read-only segments to the memory map. */
struct ph_error *ph_module_open(struct ph_target *t, struct ph_module *mod,
				const char *override, const char *sysroot,
				bool check_build_id);

/* The same from a file already open (taken): with want_len, refused with
 * PH_ERR_BUILD_ID_MISMATCH unless its build-id is want_id. */
struct ph_error *ph_module_open_fd(struct ph_target *t, struct ph_module *mod,
				   int fd, const char *disk_path,
				   const uint8_t *want_id, size_t want_len);

/* libelf's view of the module's file, or of its separate debug file: made
 * on the first call (any thread), kept until the target is destroyed;
 * NULL without such a file, or when libelf refuses it. */
Elf *ph_module_elf(const struct ph_module *mod);
Elf *ph_module_debug_elf(const struct ph_module *mod);

/* The module of that path, added (without a file) when new: one hash
 * lookup, however many files a core names. */
struct ph_error *ph_target_module(struct ph_target *t, const char *path,
				  struct ph_module **ret);

/* Larger than any executable or shared library: a file named by a core or
 * a process that is larger is not opened. */
#define PH_FILE_MAX_SIZE (4ULL << 30)

/* Opens a file named by a core or a process: no FIFO, device or final
 * symbolic link (unless follow), nothing larger than max_size; inside
 * root_fd when >= 0 (RESOLVE_IN_ROOT). -1 with errno, and *ret_why when a
 * file that exists was refused. core.c. */
int ph_file_open(int root_fd, const char *path, bool follow, uint64_t max_size,
		 struct stat *ret_st, const char **ret_why);

/* The ELF header of the file open on fd, read with pread (core.c): NULL,
 * or why the file cannot be one a 64-bit little-endian process maps. */
const char *ph_elf_header_read(int fd, Elf64_Ehdr *ret);
/* How many section headers the file of eh (size bytes, open on fd) has,
 * counted as libelf counts them: 0 when none, or when they are not all
 * inside the file. */
size_t ph_elf_section_count(int fd, const Elf64_Ehdr *eh, uint64_t size);

/* The build-id of the ELF image at base, read through read() (from its
 * headers and PT_NOTE); false when they cannot be read or hold none. */
bool ph_image_build_id(bool (*read)(void *ctx, uint64_t addr, void *buf,
				    size_t len),
		       void *ctx, uint64_t base, uint8_t *out, size_t *out_len);

/* One line of /proc/PID/maps. */
struct ph_mapping {
	uint64_t start, end, offset, inode;
	uint32_t dev_major, dev_minor;
	bool r, w, x, shared;
	const char *path; /* "" when none; points into the text parsed */
};

/* Parses the text of /proc/PID/maps in place (each newline, and
 * text[len], which must be writable, become NULs): lines and paths of any
 * length. A line that is not well formed, or out of order, is skipped and
 * counted in *ret_bad. live.c. */
struct ph_error *ph_maps_parse(char *text, size_t len, struct ph_mapping **ret,
			       size_t *ret_n, size_t *ret_bad);

/* A note for the session made on the target (message without newline). */
void ph_target_note(struct ph_target *t, enum ph_note_code code,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A note that a file named was not used, and why (the first three). */
void ph_target_note_refused(struct ph_target *t, const char *path,
			    const char *why);

/* Finds the module's debug information by build-id (once). */
void ph_module_find_debuginfo(struct ph_target *t, struct ph_module *mod);
void ph_module_close_debuginfo(struct ph_module *mod);

/* Looks name up in the module's .dynsym and .symtab, and its debug file's;
 * a local symbol may carry a suffix (LTO's "name.lto_priv.0"). */
bool ph_module_symbol(const struct ph_module *mod, const char *name,
		      uint64_t *ret_addr, uint64_t *ret_size);

/* Frees the table the lookups built (rebuilt on the next one). */
void ph_module_free_symbols(struct ph_module *mod);

/* Every symbol of that name (file statics may share one): up to max
 * addresses and sizes; returns how many. */
size_t ph_module_symbols(const struct ph_module *mod, const char *name,
			 uint64_t *addrs, uint64_t *sizes, size_t max);

/* Calls fn for every defined data object symbol of the given size. */
void ph_module_objects_of_size(const struct ph_module *mod, uint64_t size,
			       void (*fn)(void *arg, const char *name,
					  uint64_t addr),
			       void *arg);

#endif /* PH_TARGET_H */
