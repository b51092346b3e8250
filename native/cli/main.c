/* main.c - the py-heap command line: argument parsing and nothing else. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyheap.h"

static const char usage[] =
	"usage: py-heap --core CORE [--exe EXE] [--sysroot DIR] [--debug-dir "
	"DIR]\n"
	"               [--no-debuginfod] [--json] COMMAND [ARGS]\n"
	"       py-heap --pid PID [--no-stop] [--json] COMMAND [ARGS]\n"
	"       py-heap --core CORE|--pid PID [--json] --batch FILE\n"
	"\n"
	"Inspect the Python heap of a CPython process from its core dump, or\n"
	"of a running process (stopped only while its memory is copied).\n"
	"\n"
	"Options:\n"
	"  --core CORE     the ELF core file (gcore, or the kernel's)\n"
	"  --pid PID       a running process\n"
	"  --no-stop       read the process without stopping it (may be\n"
	"                  inconsistent)\n"
	"  --debug-dir DIR separate debug files "
	"(DIR/.build-id/xx/rest.debug),\n"
	"                  searched before /usr/lib/debug; repeatable\n"
	"  --no-debuginfod do not ask DEBUGINFOD_URLS for debug information\n"
	"  --exe EXE       the executable, instead of the one the core names\n"
	"  --sysroot DIR   prefix for every file path taken from the core\n"
	"  --json          print JSON instead of text\n"
	"  --batch FILE    run one command per line of FILE ('-': stdin) on\n"
	"                  one session: the heap and its index are built once\n"
	"  --version       print py-heap's version\n"
	"\n"
	"Commands:\n"
	"  summary         a first look: totals, largest types, GC, pymalloc\n"
	"  types [--limit N] [--sort count|size]\n"
	"                  objects by type: count and sys.getsizeof() bytes\n"
	"  list TYPE [--limit N] [--min-size B]\n"
	"                  the objects of one type: address, size, value\n"
	"  show ADDR [--limit N]\n"
	"                  one object: type, size, refcount, GC state, value\n"
	"  referents ADDR  what the object holds, and how\n"
	"  referrers ADDR [--depth N] [--limit N]\n"
	"                  who holds it (what gc.get_referrers() would say)\n"
	"  path ADDR [--all N]\n"
	"                  why it is alive: the chain from a root to it\n"
	"  cycles [--unreachable] [--min-size B] [--limit N] [--sort "
	"size|count]\n"
	"                  reference cycles; --unreachable: what gc.collect()\n"
	"                  would free now\n"
	"  refcount ADDR   its refcount against the references that exist\n"
	"  refcheck [--min-excess K] [--type T] [--limit N]\n"
	"                  the refcount audit: suspected C-extension leaks\n"
	"  info            what py-heap found: version, runtime, sources\n"
	"\n"
	"ADDR is an object's address, as id() gives it (0x7f... or decimal).\n"
	"\n"
	"Exit status: 0 on success; 2 on any error (one line on stderr), and\n"
	"after a partial answer from a damaged core (notes on stderr).\n";

/* Prints the session's notes that were not printed yet. */
static void print_notes(struct ph_session *s, size_t *shown)
{
	const char *notes = ph_session_notes(s);
	size_t len = strlen(notes);
	if (len > *shown)
		fputs(notes + *shown, stderr);
	*shown = len;
}

static int run_one(struct ph_session *s, int argc, const char *const *argv,
		   bool json, size_t *notes_shown)
{
	char *out = NULL;
	struct ph_error *err = ph_session_run(s, argc, argv, json, &out);
	print_notes(s, notes_shown);
	if (err) {
		fprintf(stderr, "py-heap: %s\n", ph_error_message(err));
		ph_error_destroy(err);
		return 2;
	}
	fputs(out, stdout);
	ph_free(out);
	fflush(stdout);
	return ph_session_partial(s) ? 2 : 0;
}

/* One command per line; blank lines and # comments are skipped. Words are
 * split on blanks; 'single' or "double" quotes keep a word together. */
static int run_batch(struct ph_session *s, const char *path, bool json,
		     size_t *notes_shown)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f) {
		fprintf(stderr, "py-heap: --batch %s: %s\n", path,
			strerror(errno));
		return 2;
	}
	char line[8192];
	int status = 0;
	while (fgets(line, sizeof(line), f)) {
		const char *words[256];
		int n = 0;
		char *p = line;
		while (*p && n < 256) {
			while (*p == ' ' || *p == '\t' || *p == '\n' ||
			       *p == '\r')
				p++;
			if (!*p || *p == '#')
				break;
			char q = (*p == '\'' || *p == '"') ? *p++ : 0;
			words[n++] = p;
			while (*p && (q ? *p != q
					: !(*p == ' ' || *p == '\t' ||
					    *p == '\n' || *p == '\r')))
				p++;
			if (*p)
				*p++ = '\0';
		}
		if (!n)
			continue;
		int r = run_one(s, n, words, json, notes_shown);
		if (r)
			status = r;
	}
	if (f != stdin)
		fclose(f);
	return status;
}

static void on_sigint(int sig)
{
	(void)sig;
	ph_interrupt(); /* the command returns "interrupted" */
}

int main(int argc, char **argv)
{
	const char *core = NULL, *exe = NULL, *sysroot = NULL, *pid = NULL;
	const char *batch = NULL;
	const char *debug_dirs[64];
	size_t ndebug_dirs = 0;
	bool json = false, no_stop = false, no_debuginfod = false;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		if (!strcmp(a, "--core"))
			dst = &core;
		else if (!strcmp(a, "--exe"))
			dst = &exe;
		else if (!strcmp(a, "--sysroot"))
			dst = &sysroot;
		else if (!strcmp(a, "--pid"))
			dst = &pid;
		else if (!strcmp(a, "--batch"))
			dst = &batch;
		else if (!strcmp(a, "--no-stop")) {
			no_stop = true;
			continue;
		} else if (!strcmp(a, "--no-debuginfod")) {
			no_debuginfod = true;
			continue;
		} else if (!strcmp(a, "--debug-dir")) {
			if (i + 1 >= argc || ndebug_dirs == 64) {
				fprintf(stderr, "py-heap: --debug-dir needs a "
						"directory\n");
				return 2;
			}
			debug_dirs[ndebug_dirs++] = argv[++i];
			continue;
		} else if (!strcmp(a, "--json")) {
			json = true;
			continue;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("py-heap %s\n", ph_version());
			return 0;
		} else if (a[0] == '-' && a[1] == '-' && strchr(a, '=')) {
			/* --core=FILE */
			size_t n = (size_t)(strchr(a, '=') - a);
			if (!strncmp(a, "--core", n) && n == 6)
				core = a + 7;
			else if (!strncmp(a, "--exe", n) && n == 5)
				exe = a + 6;
			else if (!strncmp(a, "--sysroot", n) && n == 9)
				sysroot = a + 10;
			else if (!strncmp(a, "--pid", n) && n == 5)
				pid = a + 6;
			else {
				fprintf(stderr, "py-heap: unknown option %s\n",
					a);
				return 2;
			}
			continue;
		} else if (a[0] == '-') {
			fprintf(stderr,
				"py-heap: unknown option %s (see --help)\n", a);
			return 2;
		} else
			break;
		if (i + 1 >= argc) {
			fprintf(stderr, "py-heap: %s needs a value\n", a);
			return 2;
		}
		*dst = argv[++i];
	}
	if (!core == !pid) {
		fprintf(stderr, "py-heap: give --core CORE or --pid PID (see "
				"--help)\n");
		return 2;
	}
	if (pid && (exe || sysroot)) {
		fprintf(stderr, "py-heap: --exe and --sysroot are for cores; a "
				"process's files are read through /proc\n");
		return 2;
	}
	char *end = NULL;
	long pid_n = pid ? strtol(pid, &end, 10) : 0;
	if (pid && (*end || pid_n <= 0 || pid_n > 0x7fffffff)) {
		fprintf(stderr, "py-heap: --pid: '%s' is not a process id\n",
			pid);
		return 2;
	}
	if (i >= argc && !batch) {
		fprintf(stderr, "py-heap: no command (see --help)\n");
		return 2;
	}
	if (i < argc && batch) {
		fprintf(stderr, "py-heap: give commands with --batch or on the "
				"command line, not both\n");
		return 2;
	}
	struct ph_session *s = NULL;
	struct ph_options *o = NULL;
	struct ph_error *err = ph_options_create(&o);
	if (!err)
		err = pid ? ph_options_set_pid(o, (int)pid_n,
					       no_stop ? PH_SESSION_NO_STOP : 0)
			  : ph_options_set_core(o, core);
	if (!err && exe)
		err = ph_options_set_exe(o, exe);
	if (!err && sysroot)
		err = ph_options_set_sysroot(o, sysroot);
	for (size_t k = 0; !err && k < ndebug_dirs; k++)
		err = ph_options_add_debug_dir(o, debug_dirs[k]);
	if (!err) {
		ph_options_set_no_debuginfod(o, no_debuginfod);
		err = ph_session_create(o, &s);
	}
	ph_options_destroy(o);
	if (err) {
		fprintf(stderr, "py-heap: %s\n", ph_error_message(err));
		ph_error_destroy(err);
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL);
	/* The pause is worth knowing before a long analysis. */
	if (pid && *ph_session_notes(s)) {
		fputs(ph_session_notes(s), stderr);
		fflush(stderr);
	}
	int status = 0;
	size_t notes_shown = 0;
	if (pid) /* the pause note was printed already */
		notes_shown = strlen(ph_session_notes(s));
	if (batch)
		status = run_batch(s, batch, json, &notes_shown);
	else
		status = run_one(s, argc - i, (const char *const *)argv + i,
				 json, &notes_shown);
	ph_session_destroy(s);
	if (fflush(stdout) != 0)
		status = 2;
	return status;
}
