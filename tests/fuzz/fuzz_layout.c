/*
 * libFuzzer target: the layout cache (the DWARF check's outcome, which
 * runtime.c keeps in a file). A cache file is never trusted: whatever it
 * holds, py-heap either refuses it or uses a layout that differs from its
 * own table only where the check could have corrected it, and then reads
 * a real heap with that layout without crashing, hanging or tripping a
 * sanitizer.
 *
 * The input's first byte picks how the rest is used:
 *  - even: the rest is the file, as it is (the decoder's checks);
 *  - odd: the rest patches the cache that py-heap itself wrote for the
 *    seed core (PYHEAP_FUZZ_CORE, Debian's python3.11 with its debug
 *    information): 2 bytes of word index, 4 of value, repeated; the
 *    checksum is then made right, so that the patched layout gets past it
 *    and the patches' effect on the heap read is what is tested.
 * A file the decoder accepts is written where the session looks for it,
 * and the commands run on the seed core with its layout: one of them per
 * input, picked by the input's last byte (reading the heap is what costs:
 * ~80 ms under the sanitizers), or all of them with PYHEAP_FUZZ_ALL=1.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "fuzz_seed.h"
#include "query.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *core;
static size_t core_size;
static char cache_path[4096];
static uint8_t good[4096]; /* the cache py-heap wrote */
static size_t good_len;
/* what the decoder must hold a layout to: the table (the pointers, and
 * which words may differ) */
static struct ph_layout table;

/* The cache file's header, as runtime.c writes it (16 bytes of magic,
 * size and the check's counts, then an FNV-1a sum of the layout). */
enum { HEAD = 24 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("DEBUGINFOD_URLS", "", 1);
	core = seed_core_load("fuzz_layout", &core_size);
	/* a private cache directory, filled once by a session of our own */
	static char dir[] = "/tmp/pyheap-fuzz-layout-XXXXXX";
	seed_cache_dir(dir, core, core_size);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "layout-", 7))
			snprintf(cache_path, sizeof(cache_path), "%s/%s", dir,
				 e->d_name);
	if (d)
		closedir(d);
	int fd = cache_path[0] ? open(cache_path, O_RDONLY) : -1;
	ssize_t n = fd >= 0 ? read(fd, good, sizeof(good)) : -1;
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)(HEAD + sizeof(struct ph_layout))) {
		fprintf(stderr,
			"fuzz_layout: the seed core's session wrote no layout "
			"cache in %s (no debug information for its "
			"interpreter?)\n",
			dir);
		exit(1);
	}
	good_len = (size_t)n;
	/* the table the cache corrects: 3.11's, which the seed core is */
	table = *ph_layout_for(3, 11);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	static uint8_t file[8192];
	size_t len;
	if (!(data[0] & 1)) {
		len = size - 1 < sizeof(file) ? size - 1 : sizeof(file);
		memcpy(file, data + 1, len);
	} else {
		memcpy(file, good, good_len);
		len = good_len;
		size_t words = (good_len - HEAD) / 4;
		int32_t n = 0;
		for (size_t i = 1; i + 6 <= size; i += 6, n++) {
			uint16_t w;
			uint32_t v;
			memcpy(&w, data + i, 2);
			memcpy(&v, data + i + 2, 4);
			/* mostly offsets a check could have made (below
			 * 1 MiB), sometimes any value */
			if (!(w & 0x8000))
				v &= (1u << 20) - 1;
			memcpy(file + HEAD + 4 * (w % words), &v, 4);
		}
		/* as if the check had corrected that many fields */
		int32_t checked;
		memcpy(&checked, file + 8, 4);
		if (checked < n)
			memcpy(file + 8, &n, 4);
		memcpy(file + 12, &n, 4);
		uint64_t sum =
			ph_fnv1a(file + HEAD, good_len - HEAD, PH_FNV_BASIS);
		memcpy(file + 16, &sum, 8);
	}

	/* what the decoder accepts differs from the table only in words
	 * below 1 MiB, never in the pointers */
	struct ph_layout L;
	int checked = 0, differ = 0;
	if (!ph_layout_cache_decode(file, len, &table, &L, &checked, &differ))
		return 0; /* refused: the session checks DWARF again, as
			     without a cache (tested everywhere else) */
	if (L.source != table.source ||
	    L.code_field_names != table.code_field_names || differ < 0 ||
	    differ > checked)
		abort();
	uint32_t a[sizeof(L) / 4], b[sizeof(L) / 4];
	memcpy(a, &table, sizeof(L));
	memcpy(b, &L, sizeof(L));
	int changed = 0;
	for (size_t i = 0; i < sizeof(L) / 4; i++)
		if (a[i] != b[i] &&
		    (b[i] >= (1u << 20) || ++changed > 2 * differ))
			abort();

	/* accepted: the session reads the heap with it */
	seed_file_put(cache_path, file, len);
	struct ph_session *s = seed_session(core, core_size);
	if (!s)
		return 0;
	static const char *const cmds[][3] = {
		{"types"},
		{"cycles", "--unreachable"},
		{"refcheck"},
		{"info"},
	};
	int all = getenv("PYHEAP_FUZZ_ALL") != NULL;
	unsigned pick = data[size - 1] % 5;
	seed_run(s, cmds, sizeof(cmds) / sizeof(cmds[0]), pick, all);
	if (!all && pick != 4) {
		ph_session_destroy(s);
		return 0;
	}
	ph_error_destroy(ph_session_heap(s));
	struct ph_heap *h = s->heap;
	size_t first = all ? 0 : data[size - 1] / 5 * 7;
	size_t step = all ? 211 : 97, stop = all ? 2000 : first + 3 * step;
	for (size_t k = first; h && k < h->n && k < stop; k += step) {
		char addr[32];
		snprintf(addr, sizeof(addr), "0x%llx",
			 (unsigned long long)h->addr[k]);
		const char *argv[][2] = {
			{"show", addr}, {"referrers", addr}, {"path", addr}};
		for (size_t c = 0; c < 3; c++) {
			char *out = NULL;
			ph_error_destroy(
				ph_session_run(s, 2, argv[c], 0, &out));
			ph_free(out);
		}
	}
	ph_session_destroy(s);
	return 0;
}
