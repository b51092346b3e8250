/*
 * pyheap.h - the public interface of libpyheap, a Python-aware heap inspector.
 *
 * libpyheap reads the memory of a CPython process from an ELF core file,
 * finds the interpreter's runtime state, enumerates every Python object and
 * answers questions about them (which types fill the heap, ...).
 *
 * Conventions:
 *  - Every handle is opaque. Functions named *_create allocate, *_destroy
 *    free and accept NULL.
 *  - Every call that can fail returns a struct ph_error * (NULL on success).
 *    The caller owns the error and frees it with ph_error_destroy().
 *  - Out-parameters come last and are named ret.
 *  - Strings returned through ret are malloc'ed; free them with ph_free().
 */
#ifndef PYHEAP_H
#define PYHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PH_EXPORT __attribute__((visibility("default")))

/* ---- Errors ------------------------------------------------------------ */

/* The one list of error codes. ph_error_code_name() gives a stable name. */
enum ph_error_code {
	PH_ERR_NOMEM = 1,   /* out of memory */
	PH_ERR_OS,	    /* a system call failed (errno in message) */
	PH_ERR_USAGE,	    /* bad command line or arguments */
	PH_ERR_NOT_CORE,    /* the file is not an ELF core */
	PH_ERR_TRUNCATED,   /* the core is shorter than its headers say */
	PH_ERR_ELF,	    /* libelf could not parse a file */
	PH_ERR_FAULT,	    /* memory at an address is not readable */
	PH_ERR_NOT_SAVED,   /* memory the core did not save */
	PH_ERR_NO_PYTHON,   /* no CPython runtime in the process */
	PH_ERR_UNSUPPORTED, /* a CPython version py-heap does not support */
	PH_ERR_BUILD_ID_MISMATCH, /* an executable does not match the core */
	PH_ERR_CORRUPT,		  /* inferior data is implausible */
	PH_ERR_NOT_FOUND,	  /* no such object, type or command */
	PH_ERR_INTERRUPTED,	  /* ph_interrupt() stopped a long command */
};

struct ph_error;

/* The code, message, and where it applies the fault address or path. */
PH_EXPORT enum ph_error_code ph_error_code(const struct ph_error *err);
PH_EXPORT const char *ph_error_code_name(enum ph_error_code code);
PH_EXPORT const char *ph_error_message(const struct ph_error *err);
/* 0 when the error has no address. */
PH_EXPORT uint64_t ph_error_address(const struct ph_error *err);
/* NULL when the error has no path. */
PH_EXPORT const char *ph_error_path(const struct ph_error *err);
PH_EXPORT void ph_error_destroy(struct ph_error *err);

/* Frees memory libpyheap returned through a ret parameter. */
PH_EXPORT void ph_free(void *ptr);

/* ---- Sessions ---------------------------------------------------------- */

/*
 * A session is one inspected process image (a core file) with everything
 * learned about it; the work done for one command is kept for the next.
 */
struct ph_session;

/*
 * Options for opening a session: what to open and where to look for
 * files. Create, set, pass to ph_session_create(), destroy.
 */
struct ph_options;

PH_EXPORT struct ph_error *ph_options_create(struct ph_options **ret);
PH_EXPORT void ph_options_destroy(struct ph_options *options);
/* A core file (exclusive with ph_options_set_pid). */
PH_EXPORT struct ph_error *ph_options_set_core(struct ph_options *options,
					       const char *core_path);
/* A running process; flags as for ph_session_create_pid(). */
PH_EXPORT struct ph_error *ph_options_set_pid(struct ph_options *options,
					      int pid, unsigned flags);
/* The executable, instead of the one the core names. */
PH_EXPORT struct ph_error *ph_options_set_exe(struct ph_options *options,
					      const char *exe_path);
/* A prefix for every path taken from the core. */
PH_EXPORT struct ph_error *ph_options_set_sysroot(struct ph_options *options,
						  const char *sysroot);
/* A directory of separate debug files (DIR/.build-id/xx/rest.debug),
 * searched before /usr/lib/debug; may be given several times. */
PH_EXPORT struct ph_error *ph_options_add_debug_dir(struct ph_options *options,
						    const char *dir);
/* Do not ask a debuginfod server even when DEBUGINFOD_URLS is set. */
PH_EXPORT void ph_options_set_no_debuginfod(struct ph_options *options,
					    bool no_debuginfod);

PH_EXPORT struct ph_error *ph_session_create(const struct ph_options *options,
					     struct ph_session **ret);

/*
 * Opens the core at core_path. exe_path overrides the executable named in
 * the core (NULL: take it from the core's NT_FILE note). sysroot, when not
 * NULL, prefixes every path taken from the core.
 */
PH_EXPORT struct ph_error *ph_session_create_core(const char *core_path,
						  const char *exe_path,
						  const char *sysroot,
						  struct ph_session **ret);
/* Flags for ph_session_create_pid(). */
enum {
	/* Do not stop the process: for one that must never pause, or that a
	 * debugger already holds stopped. The answer may be inconsistent. */
	PH_SESSION_NO_STOP = 1,
};

/*
 * Opens a running process: stops all its threads, copies its memory,
 * and lets it go on before returning (the pause is reported in the
 * session's notes). Never writes to the process.
 */
PH_EXPORT struct ph_error *ph_session_create_pid(int pid, unsigned flags,
						 struct ph_session **ret);

PH_EXPORT void ph_session_destroy(struct ph_session *session);

/*
 * Notes about partial answers gathered so far ("pymalloc arenas found by
 * scanning ..."), one per line; "" when there are none. Owned by the
 * session, valid until the next call on it.
 */
PH_EXPORT const char *ph_session_notes(struct ph_session *session);

/*
 * True when the input is damaged (a truncated core) so that answers are
 * known to be partial; the notes say what was lost. The CLI then exits 2
 * after printing what it could.
 */
PH_EXPORT bool ph_session_partial(struct ph_session *session);

/* ---- Commands ---------------------------------------------------------- */

/*
 * Runs one command, e.g. {"types", "--limit", "10"}, and returns its whole
 * output (text, or JSON when json is true) in *ret. The CLI and the GDB
 * extension both print exactly this string.
 */
PH_EXPORT struct ph_error *ph_session_run(struct ph_session *session, int argc,
					  const char *const *argv, bool json,
					  char **ret);

/*
 * Asks the command running now (in any thread) to stop soon: it returns
 * PH_ERR_INTERRUPTED and the session stays usable. Async-signal-safe: a
 * SIGINT handler may call it.
 */
PH_EXPORT void ph_interrupt(void);

/* The library's version string, e.g. "0.1.0". */
PH_EXPORT const char *ph_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAP_H */
