/*
 * libFuzzer target: the symbols' cache (syms-BUILDID: what the runtime
 * looked up in a module's symbol tables, which symcache.c keeps). A cache
 * file is never trusted: whatever it holds, py-heap either refuses it or
 * uses its answers, and then reads a real heap with the symbols it gave
 * (a _PyRuntime, static types or allocator state at any address) without
 * crashing, hanging or tripping a sanitizer.
 *
 * The input's first byte picks how the rest is used:
 *  - even: the rest is the file, as it is (the decoder's checks);
 *  - odd: the rest patches the file py-heap itself wrote for the seed
 *    core's executable (PYHEAP_FUZZ_CORE, Debian's python3.11): 2 bytes of
 *    word index and 8 of value, repeated, a value near the word's own
 *    when the index's top bit is clear; the checksum is then made right,
 *    so that what the patches do to the runtime is what is tested.
 * A file the decoder accepts is put where the session looks for it, and
 * one command (picked by the input's last byte) runs on the seed core
 * with it; all of them with PYHEAP_FUZZ_ALL=1.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_seed.h"
#include "query.h"
#include "symcache.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *core;
static size_t core_size;
static char cache_path[4096];
static uint8_t *good; /* the file py-heap wrote */
static size_t good_len;
/* the seed core's executable, whose file it is */
static struct ph_target *probe;
static const struct ph_module *exe;

/* symcache.c's struct sc_head: 96 bytes, the FNV-1a sum of the body at 88 */
enum { HEAD = 96, SUM_AT = 88 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("DEBUGINFOD_URLS", "", 1);
	core = seed_core_load("fuzz_symcache", &core_size);
	/* a private cache directory, filled once by a session of our own */
	static char dir[] = "/tmp/pyheap-fuzz-symcache-XXXXXX";
	seed_cache_dir(dir, core, core_size);
	struct ph_error *err = ph_target_open_core_image(
		"fuzz", core, core_size, NULL, NULL, &probe);
	if (err || probe->exe_index < 0) {
		fprintf(stderr, "fuzz_symcache: the seed core: %s\n",
			err ? ph_error_message(err) : "no executable");
		exit(1);
	}
	exe = &probe->mods[probe->exe_index];
	char name[8 + 129] = "syms-";
	for (size_t i = 0; i < exe->build_id_len && i < 64; i++)
		sprintf(name + 5 + 2 * i, "%02x", exe->build_id[i]);
	snprintf(cache_path, sizeof(cache_path), "%s/%s", dir, name);
	struct stat st;
	int fd = open(cache_path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= HEAD ||
	    !(good = malloc((size_t)st.st_size)) ||
	    read(fd, good, (size_t)st.st_size) != st.st_size) {
		fprintf(stderr,
			"fuzz_symcache: the seed core's session wrote no "
			"symbols' cache %s\n",
			cache_path);
		exit(1);
	}
	close(fd);
	good_len = (size_t)st.st_size;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	static uint8_t file[1 << 16];
	size_t len;
	if (!(data[0] & 1)) {
		len = size - 1 < sizeof(file) ? size - 1 : sizeof(file);
		memcpy(file, data + 1, len);
	} else {
		if (good_len > sizeof(file))
			return 0;
		memcpy(file, good, good_len);
		len = good_len;
		size_t words = (good_len - HEAD) / 8;
		for (size_t i = 1; words && i + 10 <= size; i += 10) {
			uint16_t w;
			uint64_t v, old;
			memcpy(&w, data + i, 2);
			memcpy(&v, data + i + 2, 8);
			uint8_t *at = file + HEAD + 8 * (w % words);
			memcpy(&old, at, 8);
			/* mostly near what was there (another symbol, a field
			 * of the same struct), sometimes anything */
			if (!(w & 0x8000))
				v = old + (uint64_t)(int64_t)(int16_t)v;
			memcpy(at, &v, 8);
		}
		uint64_t sum =
			ph_fnv1a(file + HEAD, good_len - HEAD, PH_FNV_BASIS);
		memcpy(file + SUM_AT, &sum, 8);
	}

	/* the decoder: refused, or every entry one it could have written */
	struct ph_symcache *c = ph_symcache_open(exe);
	if (!c)
		return 0;
	bool ok = ph_symcache_decode(c, file, len);
	ph_symcache_close(c); /* (writes nothing: the module's answers
			       * are what the file has, or none) */
	if (!ok)
		return 0; /* the session looks them up again, as without it */

	/* accepted: the session reads the heap with its symbols */
	seed_file_put(cache_path, file, len);
	struct ph_session *s = seed_session(core, core_size);
	if (!s)
		return 0;
	static const char *const cmds[][3] = {
		{"info"},     {"types"},
		{"summary"},  {"cycles", "--unreachable"},
		{"refcheck"},
	};
	seed_run(s, cmds, sizeof(cmds) / sizeof(cmds[0]), data[size - 1] % 5,
		 getenv("PYHEAP_FUZZ_ALL") != NULL);
	ph_session_destroy(s);
	return 0;
}
