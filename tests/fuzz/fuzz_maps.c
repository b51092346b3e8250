/* libFuzzer target: the /proc/PID/maps parser. The input is the text of a
 * maps file, whatever it holds: lines of any length, NULs, no newline. */
#include <stdlib.h>
#include <string.h>

#include "target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1); /* the parser writes text[size] */
	if (!text)
		return 0;
	memcpy(text, data, size);
	struct ph_mapping *m = NULL;
	size_t n = 0, bad = 0;
	struct ph_error *err = ph_maps_parse(text, size, &m, &n, &bad);
	if (!err) {
		/* what the copy relies on: ordered, disjoint, page-aligned
		 * ranges, each path inside the text */
		uint64_t last = 0;
		for (size_t i = 0; i < n; i++) {
			if (m[i].start >= m[i].end || m[i].start < last ||
			    (m[i].start | m[i].end) & 0xfff ||
			    m[i].path < text || m[i].path > text + size ||
			    m[i].path + strlen(m[i].path) > text + size)
				abort();
			last = m[i].end;
		}
	}
	ph_error_destroy(err);
	free(m);
	free(text);
	return 0;
}
