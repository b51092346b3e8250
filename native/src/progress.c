/* progress.c - a line about work that takes long: after a second, the
 * stage running and how far it got, given to the function the program
 * registered (ph_set_progress), on the thread that runs the command. The
 * long loops report through ph_interrupted(), which they poll already;
 * the stages name themselves (ph_progress_stage). */
#include <stdlib.h>

#include "internal.h"

/* Work shorter than this says nothing (PYHEAP_PROGRESS_AFTER=SECONDS
 * says otherwise: the tests, on small heaps); then at most ten lines a
 * second. */
#define PROGRESS_AFTER 1.0
#define PROGRESS_EVERY 0.1

static double progress_after(void)
{
	static double after = -1;
	if (after < 0) {
		const char *v = getenv("PYHEAP_PROGRESS_AFTER");
		char *end;
		double d = v ? strtod(v, &end) : PROGRESS_AFTER;
		after = v && end != v && *end == '\0' && d >= 0
				? d
				: PROGRESS_AFTER;
	}
	return after;
}

static ph_progress_fn progress_fn;
static void *progress_arg;

/* The command running on this thread (none on a worker thread). */
static _Thread_local struct {
	bool on, quiet, shown;
	unsigned depth; /* begun inside a command (diff opens a core) */
	uint64_t start; /* ph_now_ns */
	double last;
	const char *what;
	uint64_t done, total;
} P;

void ph_set_progress(ph_progress_fn fn, void *arg)
{
	progress_fn = fn;
	progress_arg = arg;
}

static double seconds_since(uint64_t t)
{
	return (double)(ph_now_ns() - t) / 1e9;
}

void ph_progress_begin(bool quiet)
{
	if (P.depth++)
		return; /* (work inside a command: the command's) */
	P.on = true;
	P.quiet = quiet;
	P.shown = false;
	P.last = 0;
	P.what = NULL;
	P.done = P.total = 0;
	P.start = ph_now_ns();
}

void ph_progress_end(void)
{
	if (!P.depth || --P.depth)
		return;
	if (P.shown && progress_fn)
		progress_fn(progress_arg, NULL, 0, 0, seconds_since(P.start));
	P.on = false;
}

void ph_progress_stage(const char *what, uint64_t total)
{
	if (!P.on)
		return;
	P.what = what;
	P.done = 0;
	P.total = total;
	ph_progress_tick();
}

void ph_progress_done(uint64_t done)
{
	if (P.on)
		P.done = done;
}

const char *ph_progress_rename(const char *what)
{
	const char *was = P.what;
	if (P.on)
		P.what = what;
	return was;
}

void ph_progress_tick(void)
{
	if (!P.on || P.quiet || !progress_fn)
		return;
	double t = seconds_since(P.start);
	if (t < progress_after() || (P.shown && t - P.last < PROGRESS_EVERY))
		return;
	P.last = t;
	P.shown = true;
	progress_fn(progress_arg, P.what ? P.what : "working", P.done, P.total,
		    t);
}
