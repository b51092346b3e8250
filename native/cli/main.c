/* main.c - the py-heap command line: argument parsing and nothing else.
 * The options and commands are declared in the library's command table;
 * this file reads them, opens the session, runs the command (or each line
 * of a --batch file) and prints what comes back. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pyheap.h"

/* gcc's and clang's ways of saying a sanitizer is on */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CLI_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CLI_SANITIZED 1
#endif
#endif
#ifndef CLI_SANITIZED
#define CLI_SANITIZED 0
#endif

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

static volatile sig_atomic_t got_sigint;

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
	ph_interrupt(); /* the command returns "interrupted" soon */
}

/* Dies by SIGINT, as shells expect of an interrupted program (a loop of
 * py-heap runs stops); whatever had to be undone was undone before. */
static void die_by_sigint(void)
{
	fflush(stdout);
	signal(SIGINT, SIG_DFL);
	raise(SIGINT);
	_exit(130);
}

/* Writes s to stdout; false (after the message) when it cannot be
 * written. A closed pipe kills py-heap quietly by SIGPIPE, as it does
 * cat. */
static bool put_out(const char *s)
{
	if (fputs(s, stdout) == EOF || fflush(stdout) == EOF) {
		fprintf(stderr, "py-heap: cannot write the output: %s\n",
			strerror(errno));
		return false;
	}
	return true;
}

/* Progress of long work, on stderr (never stdout): on a terminal one line
 * redrawn in place and cleared at the end; elsewhere a line when a stage
 * starts to take long, and every 5 seconds. */
static void on_progress(void *arg, const char *what, uint64_t done,
			uint64_t total, double seconds)
{
	static int tty = -1;
	static bool drawn;
	static const char *last_what;
	static double last_line;
	(void)arg;
	if (tty < 0)
		tty = isatty(STDERR_FILENO);
	if (!what) {
		if (tty && drawn)
			fputs("\r\033[K", stderr);
		drawn = false;
		last_what = NULL;
		return;
	}
	if (!tty && what == last_what && seconds - last_line < 5)
		return;
	char line[160];
	if (total)
		snprintf(line, sizeof(line),
			 "py-heap progress: %s: %d%% (%.0f s)", what,
			 (int)(100.0 * (double)(done < total ? done : total) /
			       (double)total),
			 seconds);
	else
		snprintf(line, sizeof(line), "py-heap progress: %s... (%.0f s)",
			 what, seconds);
	if (tty) {
		fprintf(stderr, "\r\033[K%s", line);
		drawn = true;
	} else
		fprintf(stderr, "%s\n", line);
	fflush(stderr);
	last_what = what;
	last_line = seconds;
}

/* Prints the session's notes that were not printed yet. */
static void print_notes(struct ph_session *s, size_t *shown)
{
	if (!s)
		return;
	const char *notes = ph_session_notes(s);
	size_t len = strlen(notes);
	if (len > *shown)
		fputs(notes + *shown, stderr);
	*shown = len;
}

/* 0, or 2 on an error or a partial answer; -1 when stdout is gone. */
static int run_one(struct ph_session *s, int argc, const char *const *argv,
		   unsigned flags, size_t *notes_shown)
{
	char *out = NULL;
	/* a report this core's cache kept: its bytes, nothing computed */
	int kept =
		s ? ph_session_exec_cached(s, argc, argv, flags, STDOUT_FILENO)
		  : 0;
	if (kept) {
		print_notes(s, notes_shown);
		if (kept > 0)
			return ph_session_partial(s) ? 2 : 0;
		fprintf(stderr, "py-heap: cannot write the output: %s\n",
			strerror(errno));
		return -1;
	}
	struct ph_error *err = ph_session_exec(
		s, argc, argv, flags | (s ? PH_EXEC_CACHE : 0), NULL, &out);
	print_notes(s, notes_shown);
	int status = 0;
	if (err) {
		fprintf(stderr, "py-heap: %s\n", ph_error_message(err));
		ph_error_destroy(err);
		status = 2;
	} else if (s && ph_session_partial(s))
		status = 2;
	if (out && !put_out(out))
		status = -1;
	ph_free(out);
	return status;
}

/* One command per line, of any length; blank lines and # comments are
 * skipped (the library splits the line into words). */
static int run_batch(struct ph_session *s, const char *path, unsigned flags,
		     size_t *notes_shown)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f) {
		fprintf(stderr, "py-heap: --batch %s: %s\n", path,
			strerror(errno));
		return 2;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int status = 0;
	while (!got_sigint && (len = getline(&line, &cap, f)) >= 0) {
		/* the line as given, without its end */
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		char *out = NULL;
		struct ph_error *err =
			ph_session_exec_line(s, line, flags, &out);
		print_notes(s, notes_shown);
		int r = 0;
		if (err) {
			fprintf(stderr, "py-heap: %s\n", ph_error_message(err));
			ph_error_destroy(err);
			r = 2;
		} else if (out && ph_session_partial(s))
			r = 2;
		if (out && !put_out(out)) {
			ph_free(out);
			status = 2;
			break;
		}
		ph_free(out);
		if (r)
			status = r;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return status;
}

/*
 * The command's memory freed after it has exited: a child sharing that
 * memory (CLONE_VM), holding none of its files, waits for the command to
 * exit, then is killed (PR_SET_PDEATHSIG), and the memory goes with the
 * child's exit, the last user of it. The command's own exit only drops its
 * hold: its caller has the answer and the exit status at once, not after
 * the core's mapping and the tables are torn down (5-7 ms at 2M objects,
 * 12-44 ms at 10M: docs/performance.md). A core's session only (a live
 * process is let go by the session's end itself); never under valgrind
 * (which cannot run such a child) nor a sanitizer (whose leak check runs
 * at a normal exit). PYHEAP_DETACH_EXIT=0: the command tears down, then
 * exits.
 * The child runs on the command's memory: raw system calls only.
 */
#if !CLI_SANITIZED
#ifndef SYS_close_range
#define SYS_close_range 436 /* Linux 5.9, older headers */
#endif
static pid_t reaper_parent;
static uint32_t reaper_ready; /* set by the child, then woken */

static int reaper_main(void *arg)
{
	(void)arg;
	uint64_t all = ~0ULL;
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, sizeof(all));
	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (syscall(SYS_getppid) != reaper_parent)
		syscall(SYS_exit, 0); /* the command is gone already */
	/* none of its files: a pipe's reader sees its end when it exits */
	if (syscall(SYS_close_range, 0, ~0U, 0))
		for (long fd = 0; fd < 4096; fd++)
			syscall(SYS_close, fd);
	__atomic_store_n(&reaper_ready, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &reaper_ready, FUTEX_WAKE, 1, NULL, NULL, 0);
	for (;;)
		syscall(SYS_pause);
	return 0;
}
#endif

static bool reaper_start(void)
{
#if CLI_SANITIZED
	return false;
#else
	const char *e = getenv("PYHEAP_DETACH_EXIT");
	if ((e && !strcmp(e, "0")) || RUNNING_ON_VALGRIND)
		return false;
	static char stack[16384] __attribute__((aligned(64)));
	reaper_parent = getpid();
	if (clone(reaper_main, stack + sizeof(stack), CLONE_VM, NULL) <= 0)
		return false;
	/* ready (its files closed, its death tied to this exit) before the
	 * exit; a child not ready in 50 ms still dies with the command */
	struct timespec t = {0, 50000000};
	if (!__atomic_load_n(&reaper_ready, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &reaper_ready, FUTEX_WAIT, 0, &t, NULL, 0);
	return true;
#endif
}

int main(int argc, char **argv)
{
	struct ph_cli *cli = NULL;
	struct ph_error *err =
		ph_cli_parse(argc, (const char *const *)argv, &cli);
	if (err) {
		fprintf(stderr, "py-heap: %s\n", ph_error_message(err));
		ph_error_destroy(err);
		return 2;
	}
	const char *core = ph_cli_value(cli, "--core", 0);
	const char *pid = ph_cli_value(cli, "--pid", 0);
	const char *exe = ph_cli_value(cli, "--exe", 0);
	const char *sysroot = ph_cli_value(cli, "--sysroot", 0);
	const char *batch = ph_cli_value(cli, "--batch", 0);
	bool json = ph_cli_flag(cli, "--json");
	unsigned flags = (json ? PH_EXEC_JSON : 0) |
			 (ph_cli_flag(cli, "--plain") ? PH_EXEC_PLAIN : 0) |
			 (ph_cli_flag(cli, "--quiet") ? PH_EXEC_QUIET : 0);
	int cmd = ph_cli_command(cli);
	/* --quiet before the command, or among its words */
	bool quiet = ph_cli_flag(cli, "--quiet");
	for (int i = cmd + 1; i < argc && strcmp(argv[i], "--"); i++)
		quiet |= !strcmp(argv[i], "--quiet");
	if (!quiet)
		ph_set_progress(on_progress, NULL);
	int status = 0;
	size_t notes_shown = 0;
	struct ph_session *s = NULL;
	struct ph_options *o = NULL;

	if (ph_cli_flag(cli, "--help") || ph_cli_flag(cli, "--version")) {
		const char *av[] = {
			ph_cli_flag(cli, "--help") ? "help" : "version", NULL};
		status = run_one(NULL, 1, av, flags, &notes_shown);
		goto out;
	}
	/* Commands that need no process: help, version, CMD --help. */
	if (cmd < argc && !core && !pid && !batch) {
		status = run_one(NULL, argc - cmd,
				 (const char *const *)argv + cmd, flags,
				 &notes_shown);
		goto out;
	}
	const char *problem = NULL;
	if (!core == !pid)
		problem = "give --core CORE or --pid PID (see --help)";
	else if (pid && (exe || sysroot))
		problem = "--exe and --sysroot are for cores; a process's "
			  "files are read through /proc";
	else if (cmd >= argc && !batch)
		problem = "no command (see --help)";
	else if (cmd < argc && batch)
		problem = "give commands with --batch or on the command line, "
			  "not both";
	char *end = NULL;
	long pid_n = pid ? strtol(pid, &end, 10) : 0;
	if (!problem && pid && (*end || pid_n <= 0 || pid_n > 0x7fffffff)) {
		fprintf(stderr, "py-heap: --pid: '%s' is not a process id\n",
			pid);
		status = 2;
		goto out;
	}
	if (problem) {
		fprintf(stderr, "py-heap: %s\n", problem);
		status = 2;
		goto out;
	}
	/* A command line that cannot run is said before the process is
	 * read. */
	if (cmd < argc) {
		char *msg = NULL;
		err = ph_session_exec(
			NULL, argc - cmd, (const char *const *)argv + cmd,
			PH_EXEC_CHECK | (json ? PH_EXEC_JSON : 0), NULL, &msg);
		if (err) {
			fprintf(stderr, "py-heap: %s\n", ph_error_message(err));
			if (msg)
				put_out(msg);
			ph_free(msg);
			ph_error_destroy(err);
			status = 2;
			goto out;
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL);

	err = ph_options_create(&o);
	if (!err)
		err = pid ? ph_options_set_pid(o, (int)pid_n,
					       ph_cli_flag(cli, "--no-stop")
						       ? PH_SESSION_NO_STOP
						       : 0)
			  : ph_options_set_core(o, core);
	if (!err && exe)
		err = ph_options_set_exe(o, exe);
	if (!err && sysroot)
		err = ph_options_set_sysroot(o, sysroot);
	const char *dir;
	for (size_t k = 0; !err && (dir = ph_cli_value(cli, "--debug-dir", k));
	     k++)
		err = ph_options_add_debug_dir(o, dir);
	if (!err) {
		ph_options_set_no_debuginfod(
			o, ph_cli_flag(cli, "--no-debuginfod"));
		ph_options_set_no_cache(o, ph_cli_flag(cli, "--no-cache"));
		/* the answer need not wait for the index's file */
		ph_options_set_detached_writes(o, true);
		err = ph_session_create(o, &s);
	}
	if (err) {
		fprintf(stderr, "py-heap: %s\n", ph_error_message(err));
		if (json) {
			char *j = ph_error_json(err, NULL, NULL);
			if (j)
				put_out(j);
			ph_free(j);
		}
		ph_error_destroy(err);
		status = 2;
		goto out;
	}
	/* The pause is worth knowing before a long analysis. */
	print_notes(s, &notes_shown);
	fflush(stderr);
	if (got_sigint)
		goto out;
	if (batch)
		status = run_batch(s, batch, flags, &notes_shown);
	else {
		int r = run_one(s, argc - cmd, (const char *const *)argv + cmd,
				flags, &notes_shown);
		status = r < 0 ? 2 : r;
	}
out:
	if (s && core && !got_sigint) {
		if (fflush(stdout) != 0)
			status = 2;
		/* (a ^C meanwhile: the way out below, which the child does
		 * not outlive) */
		if (fflush(stderr) == 0 && reaper_start() && !got_sigint)
			_exit(status);
	}
	ph_session_destroy(s);
	ph_options_destroy(o);
	ph_cli_destroy(cli);
	if (got_sigint)
		die_by_sigint();
	if (fflush(stdout) != 0)
		status = 2;
	return status;
}
