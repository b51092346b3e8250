/* target.h - a process image: its memory and the ELF files mapped into it. */
#ifndef PH_TARGET_H
#define PH_TARGET_H

#include <gelf.h>
#include <libelf.h>

#include "memory.h"

/* An ELF file mapped in the process (the executable, a shared object). */
struct ph_module {
	char *path;	     /* as the process named it */
	char *disk_path;     /* where it was opened (sysroot applied) */
	uint64_t start, end; /* lowest and highest mapped address */
	uint64_t bias;	     /* load address minus link-time address */
	int fd;
	void *map;
	size_t size;
	Elf *elf; /* NULL when the file could not be opened */
	uint8_t build_id[64];
	size_t build_id_len;
	/* separate debug information (debuginfo.c), found by build-id */
	bool debug_tried;
	Elf *debug_elf;
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
	size_t nmods;
	size_t nthreads;
	int exe_index; /* index in mods of the executable, -1 if unknown */
	struct ph_buf notes; /* notes for the user, one per line */
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
	char *sysroot; /* where the core's files are (its debug files too) */
	/* a truncated core: the size its headers need, what is missing */
	uint64_t truncated_need, truncated_bytes;
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

/* Finds the module's debug information by build-id (once). */
void ph_module_find_debuginfo(struct ph_target *t, struct ph_module *mod);
void ph_module_close_debuginfo(struct ph_module *mod);

/* Looks name up in the module's .dynsym and .symtab, and its debug file's;
 * a local symbol may carry a suffix (LTO's "name.lto_priv.0"). */
bool ph_module_symbol(const struct ph_module *mod, const char *name,
		      uint64_t *ret_addr, uint64_t *ret_size);

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
