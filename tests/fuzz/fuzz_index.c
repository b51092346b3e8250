/*
 * libFuzzer target: the index cache and the graph's cache (index-*, the
 * object table a first run on a core keeps, heapcache.c; graph-*, its
 * graph of references, graphcache.c) as a later run finds them. A file
 * py-heap wrote for the seed core (PYHEAP_FUZZ_CORE) is patched, its sums
 * are made right again (else a sum refuses nearly every patch), and, as
 * the input says, it is sealed as it is: a seal says an earlier run summed
 * it whole and found it intact, so a sealed load trusts the sections'
 * contents and checks only what memory safety needs (bit rot under a
 * seal, which only a forged seal makes here). Whatever the files hold,
 * py-heap refuses them or answers from them, without crashing, hanging
 * or tripping a sanitizer.
 *
 * The input: its first byte the mode (bit 0: sealed; bit 1: the patches
 * land in the header, else anywhere; bit 2: the sums left as patched;
 * bit 3: the graph's file patched, the index as written), then patches
 * of 4 bytes of offset and a byte that says what follows: its top bit
 * set, one signed byte added to the 32-bit word there (a number near the
 * one it was: an object's, an offset, a rank, a count); else its low 4
 * bits + 1 bytes written there. Its last byte picks a group of commands
 * (all of them with PYHEAP_FUZZ_ALL=1), run on the seed core with the
 * files in its cache directory.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_seed.h"
#include "graphcache.h"
#include "heapcache.h"
#include "query.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* heapcache.c's struct hc_head and graphcache.c's struct gc_head: their
 * sizes, and their sections (a seal's mask has a bit for each) */
enum { INDEX_HEAD = 648, INDEX_SECTIONS = 13 };
enum { GRAPH_HEAD = 256, GRAPH_SECTIONS = 10 };

/* a file py-heap wrote: where, its bytes, a copy to patch */
struct kept {
	char path[4096];
	uint8_t *good, *work;
	size_t len;
};

static const char *core_path;
static char dir[] = "/tmp/pyheap-fuzz-index-XXXXXX";
static char snap_path[4096];
static struct kept index_file, graph_file;
static bool all;

/* Every file of the cache directory but the layouts' and symbols' (which
 * a session of the seed core reads and the caches do not change) gone:
 * no answer, graph or seal of an earlier input is read. */
static void clear_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[4096];
		if (e->d_name[0] == '.' || !strncmp(e->d_name, "layout-", 7) ||
		    !strncmp(e->d_name, "syms-", 5))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
}

static struct ph_session *open_core(void)
{
	struct ph_session *s = NULL;
	struct ph_error *err =
		ph_session_create_core(core_path, NULL, NULL, &s);
	if (err) {
		ph_error_destroy(err);
		return NULL;
	}
	return s;
}

/* The file of dir named prefix* kept, or exit. */
static void keep(const char *prefix, struct kept *k)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)))
			snprintf(k->path, sizeof(k->path), "%s/%s", dir,
				 e->d_name);
	if (d)
		closedir(d);
	struct stat st;
	FILE *f = k->path[0] ? fopen(k->path, "rb") : NULL;
	if (!f || fstat(fileno(f), &st) || st.st_size <= INDEX_HEAD ||
	    !(k->good = malloc((size_t)st.st_size)) ||
	    !(k->work = malloc((size_t)st.st_size)) ||
	    fread(k->good, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fprintf(stderr,
			"fuzz_index: the seed core's session wrote no %s* "
			"in %s\n",
			prefix, dir);
		exit(1);
	}
	fclose(f);
	k->len = (size_t)st.st_size;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("PYHEAP_DEBUG_FILE_DIRECTORY", "", 1);
	setenv("DEBUGINFOD_URLS", "", 1);
	all = getenv("PYHEAP_FUZZ_ALL") != NULL;
	if (!(core_path = getenv("PYHEAP_FUZZ_CORE"))) {
		fprintf(stderr, "fuzz_index: set PYHEAP_FUZZ_CORE to a core\n");
		exit(1);
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	setenv("PYHEAP_CACHE_DIR", dir, 1);
	snprintf(snap_path, sizeof(snap_path), "%s/snap", dir);
	/* the index and the whole graph written by a session of our own */
	struct ph_session *s = open_core();
	char *out = NULL;
	const char *info[] = {"info"};
	if (s)
		ph_error_destroy(ph_session_run(s, 1, info, true, &out));
	ph_free(out);
	ph_session_destroy(s);
	keep("index-", &index_file);
	s = open_core();
	struct ph_error *err = s ? ph_session_heap(s) : NULL;
	if (s && !err && s->heap->n) {
		char addr[32];
		snprintf(addr, sizeof(addr), "0x%llx",
			 (unsigned long long)s->heap->addr[s->heap->n / 2]);
		const char *refs[] = {"referrers", addr};
		out = NULL;
		ph_error_destroy(ph_session_run(s, 2, refs, true, &out));
		ph_free(out);
	}
	ph_error_destroy(err);
	ph_session_destroy(s);
	keep("graph-", &graph_file);
	return 0;
}

/* k patched by the input's patches (data, size; into its first span
 * bytes, or all of it), its sums made again (sums), written in its
 * place, and with seal sealed, the sections of mask summed whole. */
static void put(struct kept *k, const uint8_t *data, size_t size, size_t span,
		bool sums, bool seal, bool graph)
{
	memcpy(k->work, k->good, k->len);
	if (!span || span > k->len)
		span = k->len;
	for (size_t i = 0; i + 5 < size;) {
		uint32_t off;
		memcpy(&off, data + i, 4);
		uint8_t ctl = data[i + 4];
		size_t at = off % span;
		i += 5;
		if (ctl & 0x80) {
			at &= ~(size_t)3;
			uint32_t w;
			memcpy(&w, k->work + at, 4);
			w += (uint32_t)(int32_t)(int8_t)data[i++];
			memcpy(k->work + at, &w, 4);
			continue;
		}
		size_t len = (ctl & 15) + 1;
		if (len > size - i)
			len = size - i;
		if (len > k->len - at)
			len = k->len - at;
		memcpy(k->work + at, data + i, len);
		i += len;
	}
	uint64_t head_sum =
		graph ? ph_graphcache_fuzz_resum(k->work, k->len, sums)
		      : ph_heapcache_fuzz_resum(k->work, k->len, sums);
	seed_file_put(k->path, k->work, k->len);
	unsigned nsec = graph ? GRAPH_SECTIONS : INDEX_SECTIONS;
	if (seal &&
	    !ph_heapcache_fuzz_seal(k->path, head_sum, (1u << nsec) - 1)) {
		fprintf(stderr, "fuzz_index: could not seal %s\n", k->path);
		exit(1);
	}
}

static void run(struct ph_session *s, const char *a0, const char *a1,
		const char *a2, bool json)
{
	const char *argv[] = {a0, a1, a2};
	int argc = a2 ? 3 : a1 ? 2 : 1;
	for (int j = all ? 0 : json; j < 2; j += 2 - all) {
		char *out = NULL;
		ph_error_destroy(ph_session_run(s, argc, argv, j, &out));
		ph_free(out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const uint8_t mode = data[0];
	const bool sealed = mode & 1, header = mode & 2, raw = mode & 4,
		   graph = mode & 8;
	clear_dir();
	if (graph) {
		/* the index as written (and sealed, as a graph's load finds
		 * it most often) */
		put(&index_file, NULL, 0, 0, true, true, false);
		put(&graph_file, data + 1, size - 1, header ? GRAPH_HEAD : 0,
		    !raw, sealed, true);
	} else {
		put(&index_file, data + 1, size - 1, header ? INDEX_HEAD : 0,
		    !raw, sealed, false);
	}
	struct ph_session *s = open_core();
	if (!s)
		return 0;
	const uint8_t pick = data[size - 1];
	const unsigned group = pick % 8;
	const bool json = (pick >> 3) & 1;
	if (all || group == 0) {
		run(s, "info", NULL, NULL, json);
		run(s, "types", NULL, NULL, json);
		run(s, "summary", NULL, NULL, json);
	}
	if (all || group == 1) {
		run(s, "cycles", "--unreachable", NULL, json);
		run(s, "refcheck", NULL, NULL, json);
	}
	if (all || group == 2) {
		run(s, "dominators", "--limit", "5", json);
		run(s, "leaks", NULL, NULL, json);
	}
	if (all || group == 3) {
		run(s, "list", "dict", NULL, json);
		run(s, "roots", NULL, NULL, json);
		run(s, "snapshot", snap_path, NULL, json);
	}
	/* A few objects through the table as loaded (where rot may have put
	 * any address): every 97th of the first 2000, or 3 of them from
	 * where the byte says. */
	if (!all && group >= 4)
		ph_error_destroy(ph_session_heap(s));
	char addrs[SEED_OBJECTS][32];
	size_t na = all || group >= 4
			    ? seed_objects(s->heap, all,
					   (size_t)(pick >> 4) * 131, 37, addrs)
			    : 0;
	for (size_t k = 0; k < na; k++) {
		const char *addr = addrs[k];
		if (all || group == 4) {
			run(s, "show", addr, NULL, json);
			run(s, "refcount", addr, NULL, json);
		}
		if (all || group == 5) {
			run(s, "referrers", addr, NULL, json);
			run(s, "referents", addr, NULL, json);
		}
		if (all || group == 6)
			run(s, "path", addr, NULL, json);
		if (all || group == 7)
			run(s, "retained", addr, NULL, json);
	}
	ph_session_destroy(s);
	return 0;
}
