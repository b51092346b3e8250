/* render_report.c - report: one self-contained HTML page on the heap. */
#define _GNU_SOURCE
#include "command.h"
#include "query.h"

struct ph_error *ph_run_report(struct ph_session *s, const struct ph_args *a,
			       struct ph_out *out)
{
	return ph_error_create(PH_ERR_USAGE, "report: not yet");
}
