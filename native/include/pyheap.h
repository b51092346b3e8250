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

/*
 * The one list of error codes: X(NAME, name, description). NAME gives
 * PH_ERR_NAME (numbered from 1, in this order: never reorder, append),
 * name is what ph_error_code_name() and JSON answers say, description what
 * ph_error_code_description() says.
 */
#define PH_ERROR_LIST(X)                                                       \
	X(NOMEM, "nomem", "out of memory")                                     \
	X(OS, "os", "a system call failed")                                    \
	X(USAGE, "usage", "bad command line or arguments")                     \
	X(NOT_CORE, "not-core", "the file is not an ELF core")                 \
	X(TRUNCATED, "truncated", "the core is shorter than its headers say")  \
	X(ELF, "elf", "a file could not be parsed as ELF")                     \
	X(FAULT, "fault", "memory at an address is not readable")              \
	X(NOT_SAVED, "not-saved", "memory the core did not save")              \
	X(NO_PYTHON, "no-python", "no CPython runtime in the process")         \
	X(UNSUPPORTED, "unsupported",                                          \
	  "a CPython version or build py-heap does not support")               \
	X(BUILD_ID_MISMATCH, "build-id-mismatch",                              \
	  "an executable does not match the core")                             \
	X(CORRUPT, "corrupt", "inferior data is implausible")                  \
	X(NOT_FOUND, "not-found", "no such object, type or command")           \
	X(INTERRUPTED, "interrupted", "interrupted (ph_interrupt)")            \
	X(WRITE, "write", "the output could not be written")                   \
	X(BAD_SNAPSHOT, "bad-snapshot",                                        \
	  "a snapshot file is damaged, truncated or of another format")

enum ph_error_code {
	PH_ERR_NONE_ = 0,
#define PH_ERROR_ENUM_(NAME, name, description) PH_ERR_##NAME,
	PH_ERROR_LIST(PH_ERROR_ENUM_)
#undef PH_ERROR_ENUM_
};

struct ph_error;

/* The code, message, and where it applies the fault address or path. */
PH_EXPORT enum ph_error_code ph_error_code(const struct ph_error *err);
PH_EXPORT const char *ph_error_code_name(enum ph_error_code code);
PH_EXPORT const char *ph_error_code_description(enum ph_error_code code);
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
/* A debugger's number for a Python frame (GDB's level of the C frame that
 * runs it, as py-bt shows it): frame is the address of the frame the
 * debugger found running there (a _PyInterpreterFrame on 3.11+, a
 * PyFrameObject before), and the frames older than it, up to the next
 * frame given, carry the same number. Frame roots then read
 * "thread 1 frame #6 serve() at ...". May be given many times. */
PH_EXPORT struct ph_error *
ph_options_add_frame_number(struct ph_options *options, uint64_t frame,
			    unsigned number);
/* The same, on an open session: the commands that build the object graph
 * after it name frame roots with it (they are named once, when the graph
 * is built; GDB gives them just before the first such command). */
PH_EXPORT struct ph_error *
ph_session_add_frame_number(struct ph_session *session, uint64_t frame,
			    unsigned number);
/* Neither read nor write the index cache of a core (on by default: the
 * first run on a core keeps its object table in py-heap's cache
 * directory, later runs on the same, unchanged core read it). */
PH_EXPORT void ph_options_set_no_cache(struct ph_options *options,
				       bool no_cache);
/* Write the large cache files (a core's index, its graph) from a child
 * process forked at that point, which goes on after the caller returns
 * and exits: the answer does not wait for the disk, and a later look at
 * the same core waits for the writer (up to 30 s) instead of building
 * the index again. Off by default. For a short-lived program that may
 * fork (the py-heap command turns it on); never in a debugger's process.
 * The child leaves the caller's session and process group, its standard
 * streams are /dev/null (not the caller's), and it is not waited for. */
PH_EXPORT void ph_options_set_detached_writes(struct ph_options *options,
					      bool detach);

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

/* Flags for ph_session_exec(). */
enum {
	PH_EXEC_JSON = 1,  /* JSON instead of text (as --json) */
	PH_EXEC_CHECK = 2, /* only check the command line: an error, or NULL */
	/* text for tools (as --plain, or PYHEAP_PLAIN=1 in the environment):
	 * numbers without separators, columns separated by one tab */
	PH_EXEC_PLAIN = 4,
	PH_EXEC_QUIET = 8, /* no progress (as --quiet): see ph_progress_fn */
	/* the one command of a process (the CLI's): a whole-heap report's
	 * output is kept in the core's cache for ph_session_exec_cached */
	PH_EXEC_CACHE = 16,
};

/*
 * As ph_session_run(), and more: session may be NULL for the commands that
 * need no process (help, version); command, when not NULL, is the line the
 * command came from, echoed as the JSON answer's "command" (--batch). In
 * JSON, *ret is set on an error too: the error as a JSON object, to print
 * (ph_error_json()). Free *ret with ph_free().
 */
PH_EXPORT struct ph_error *ph_session_exec(struct ph_session *session, int argc,
					   const char *const *argv,
					   unsigned flags, const char *command,
					   char **ret);

/*
 * The output a run with PH_EXEC_CACHE kept for this command line (the same
 * command, options, flags, core and index cache, and this build), checked,
 * written to fd in large writes, its notes added to the session as the run
 * made them (and its partial state): 1. 0 when there is none (run it with
 * ph_session_exec), -1 when fd could not be written (errno says why).
 * Never for a live process, with --no-cache, or for a command that is not
 * a whole-heap report (summary, types, dominators, leaks, cycles,
 * refcheck).
 */
PH_EXPORT int ph_session_exec_cached(struct ph_session *session, int argc,
				     const char *const *argv, unsigned flags,
				     int fd);

/*
 * Runs one line of text as a command, e.g. "path 0x7f3d... --all 3": the
 * line is split into words (blanks between them, 'single' or "double"
 * quotes keep one together, # starts a comment) and run as by
 * ph_session_exec() with the line as its command. A blank or comment line
 * does nothing: NULL, and *ret NULL.
 */
PH_EXPORT struct ph_error *ph_session_exec_line(struct ph_session *session,
						const char *line,
						unsigned flags, char **ret);

/*
 * An error as the JSON object py-heap prints for it, newline-ended:
 * {"command": ..., "error": {"code", "message"}, "partial", "notes"}
 * ("command" only when given; session may be NULL). NULL when out of
 * memory; free with ph_free().
 */
PH_EXPORT char *ph_error_json(const struct ph_error *err,
			      struct ph_session *session, const char *command);

/* ---- The command line's own options --------------------------------------
 * The options before the command (--core, --pid, --json, ...), declared in
 * the library's command table and parsed by its parser, so that the CLI,
 * its usage text and the manual page agree. */
struct ph_cli;

/* Parses argv up to the command (argv[0] is the program). */
PH_EXPORT struct ph_error *ph_cli_parse(int argc, const char *const *argv,
					struct ph_cli **ret);
/* The i-th value of an option ("--core", "--debug-dir"), or NULL. */
PH_EXPORT const char *ph_cli_value(const struct ph_cli *cli, const char *option,
				   size_t i);
/* Whether a flag ("--json", "--help") was given. */
PH_EXPORT bool ph_cli_flag(const struct ph_cli *cli, const char *option);
/* The index in argv of the command's name (argc when there is none). */
PH_EXPORT int ph_cli_command(const struct ph_cli *cli);
PH_EXPORT void ph_cli_destroy(struct ph_cli *cli);

/*
 * Asks the command running now (in any thread) to stop soon: it returns
 * PH_ERR_INTERRUPTED and the session stays usable. Async-signal-safe: a
 * SIGINT handler may call it.
 */
PH_EXPORT void ph_interrupt(void);

/*
 * Progress of long work. Once a command (or ph_session_create) has run
 * about a second, fn is called at most ten times a second, on the thread
 * running it: what names the stage ("reading the heap", "building the
 * graph", "finding cycles", ...), done of total how far it got (total 0:
 * not counted), seconds the time since the command started. A last call
 * with what NULL says the work is over (a line drawn may be cleared). The
 * CLI writes a line on stderr; the GDB extension through GDB. Process-wide
 * (as ph_interrupt); fn NULL: no progress. A command run with --quiet (or
 * PH_EXEC_QUIET) reports none.
 */
typedef void (*ph_progress_fn)(void *arg, const char *what, uint64_t done,
			       uint64_t total, double seconds);
PH_EXPORT void ph_set_progress(ph_progress_fn fn, void *arg);

/* The library's version string, e.g. "0.1.0". */
PH_EXPORT const char *ph_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PYHEAP_H */
