/*
 * libFuzzer target: a diff's result as the outputs' cache keeps it
 * (query_diff.c, "a diff's answer kept"). The file's sums vouch for it
 * only against damage: whatever its bytes, the reader refuses them or
 * gives a result every offset of which is inside it. A result it accepts
 * is packed again (the same bytes: nothing is lost or made up on the way)
 * and every string, row and note the renderers would use is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t sink;

static void side_read(const struct ph_diff_result *r,
		      const struct ph_diff_side *d)
{
	sink += strlen(d->kind) + strlen(ph_strings_get(&r->str, d->source)) +
		strlen(ph_strings_get(&r->str, d->of)) +
		strlen(ph_strings_get(&r->str, d->python));
	for (size_t i = 0; i < d->nnotes; i++)
		sink += strlen(ph_strings_get(&r->str, r->notes[d->notes + i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ph_diff_result *r = ph_diff_result_unpack(data, size);
	if (!r)
		return 0;
	side_read(r, &r->before);
	side_read(r, &r->after);
	sink += strlen(ph_strings_get(&r->str, r->differ));
	for (size_t i = 0; i < r->nrows; i++)
		sink += strlen(ph_strings_get(&r->str, r->rows[i].name));
	for (size_t i = 0; i < r->ngrew; i++) {
		const struct ph_diff_container *c = &r->grew[i];
		sink += r->rows[c->row].count_after +
			strlen(ph_strings_get(&r->str, c->type)) +
			strlen(ph_strings_get(&r->str, c->path));
	}
	struct ph_buf b;
	ph_buf_init(&b);
	ph_diff_result_pack(r, &b);
	if (b.failed || b.len != size || memcmp(b.data, data, size)) {
		fprintf(stderr,
			"fuzz_diffresult: packed again, %zu bytes "
			"differ from the %zu read\n",
			b.len, size);
		abort();
	}
	ph_buf_free(&b);
	ph_diff_result_destroy(r);
	return 0;
}
