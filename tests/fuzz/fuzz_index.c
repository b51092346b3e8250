/*
 * libFuzzer target: the caches a first run on a core keeps beside each
 * other, as a later run finds them: the index (index-*, the object table,
 * heapcache.c), the graph of references (graph-*, graphcache.c) and the
 * answers (ans-KIND-*: cycles, refcheck, dominators..., answercache.c). A
 * file py-heap wrote for the seed core (PYHEAP_FUZZ_CORE) is patched, its
 * sums are made right again (else a sum refuses nearly every patch), and,
 * as the input says, it is sealed as it is: a seal says an earlier run
 * summed it whole and found it intact, so a sealed load trusts the
 * sections' contents and checks only what memory safety needs (bit rot
 * under a seal, which only a forged seal makes here). Whatever the files
 * hold, py-heap refuses them or answers from them, without crashing,
 * hanging or tripping a sanitizer.
 *
 * The input: its first byte the mode (bit 0: sealed; bit 1: the patches
 * land in the header, else anywhere; bit 2: the sums left as patched;
 * bits 3-4: which file: 0 the index; 1 the graph's, the index as written;
 * else an answer's, the one the next byte picks, the index and the graph
 * as written), then patches of 4 bytes of offset and a byte that says
 * what follows: its top bit set, one signed byte added to the 32-bit word
 * there (a number near the one it was: an object's, an offset, a rank, a
 * count); else its low 4 bits + 1 bytes written there. Its last byte picks
 * a group of commands (all of them with PYHEAP_FUZZ_ALL=1), run on the
 * seed core with the files in its cache directory. PYHEAP_FUZZ_SYSROOT:
 * the seed core's files under a root of their own (a free-threaded
 * build's, whose index keeps mimalloc's pages).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "answercache.h"
#include "fuzz_seed.h"
#include "graphcache.h"
#include "heapcache.h"
#include "query.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the headers' sizes (heapcache.c's struct hc_head, graphcache.c's
 * gc_head, answercache.c's ac_head), and the index's sections (its seal
 * must name each; the others' seals name at least theirs) */
enum { INDEX_HEAD = 648, GRAPH_HEAD = 256, ANSWER_HEAD = 384 };
enum { INDEX_SECTIONS = 13 };

/* a file py-heap wrote: where, its bytes, a copy to patch, how its sums
 * are made again */
struct kept {
	char path[4096];
	uint8_t *good, *work;
	size_t len, head;
	uint64_t (*resum)(uint8_t *file, size_t len, bool sums);
	uint32_t seal_mask;
};
#define MAX_ANSWERS 16

static const char *core_path;
static char dir[] = "/tmp/pyheap-fuzz-index-XXXXXX";
static char snap_path[4096];
static struct kept index_file, graph_file, answers[MAX_ANSWERS];
static size_t nanswers;
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

/* At exit: the cache directory gone, every file of it first. */
static void remove_dir(void)
{
	clear_dir();
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (e->d_name[0] != '.')
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static struct ph_session *open_core(void)
{
	struct ph_session *s = NULL;
	struct ph_error *err = ph_session_create_core(
		core_path, NULL, getenv("PYHEAP_FUZZ_SYSROOT"), &s);
	if (err) {
		ph_error_destroy(err);
		return NULL;
	}
	return s;
}

/* The file at path kept in k (its bytes read now), or false. */
static bool keep_file(const char *path, struct kept *k)
{
	struct stat st;
	snprintf(k->path, sizeof(k->path), "%s", path);
	FILE *f = fopen(k->path, "rb");
	bool ok =
		f && !fstat(fileno(f), &st) && (size_t)st.st_size > k->head &&
		(k->good = malloc((size_t)st.st_size)) &&
		(k->work = malloc((size_t)st.st_size)) &&
		fread(k->good, 1, (size_t)st.st_size, f) == (size_t)st.st_size;
	if (f)
		fclose(f);
	k->len = ok ? (size_t)st.st_size : 0;
	return ok;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct kept *)a)->path,
		      ((const struct kept *)b)->path);
}

/* Each file of dir named prefix* (at most max) kept in k, as resum makes
 * their sums; how many, or exit if none. */
static size_t keep(const char *prefix, struct kept *k, size_t max, size_t head,
		   uint64_t (*resum)(uint8_t *, size_t, bool),
		   uint32_t seal_mask)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	while (d && (e = readdir(d)) && n < max) {
		char p[4096];
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		k[n] = (struct kept){
			.head = head, .resum = resum, .seal_mask = seal_mask};
		n += keep_file(p, &k[n]);
	}
	if (d)
		closedir(d);
	/* in their names' order (the kinds': a corpus's picks stay put) */
	qsort(k, n, sizeof(*k), by_path);
	if (!n) {
		fprintf(stderr,
			"fuzz_index: the seed core's sessions wrote no %s* "
			"in %s\n",
			prefix, dir);
		exit(1);
	}
	return n;
}

/* cmd run on a session of the seed core, with one object's address after
 * it (that of the table's middle object) when obj */
static void run_once(const char *cmd, const char *arg, bool obj)
{
	struct ph_session *s = open_core();
	struct ph_error *err = s ? ph_session_heap(s) : NULL;
	if (s && !err && s->heap->n) {
		char addr[32];
		snprintf(addr, sizeof(addr), "0x%llx",
			 (unsigned long long)s->heap->addr[s->heap->n / 2]);
		const char *argv[] = {cmd, obj ? addr : arg};
		char *out = NULL;
		ph_error_destroy(
			ph_session_run(s, argv[1] ? 2 : 1, argv, true, &out));
		ph_free(out);
	}
	ph_error_destroy(err);
	ph_session_destroy(s);
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
	atexit(remove_dir);
	setenv("PYHEAP_CACHE_DIR", dir, 1);
	snprintf(snap_path, sizeof(snap_path), "%s/snap", dir);
	/* the index, the whole graph and the answers written by sessions of
	 * our own */
	run_once("info", NULL, false);
	keep("index-", &index_file, 1, INDEX_HEAD, ph_heapcache_fuzz_resum,
	     (1u << INDEX_SECTIONS) - 1);
	run_once("referrers", NULL, true);
	keep("graph-", &graph_file, 1, GRAPH_HEAD, ph_graphcache_fuzz_resum,
	     UINT32_MAX);
	run_once("path", NULL, true);
	run_once("cycles", "--unreachable", false);
	run_once("refcheck", NULL, false);
	run_once("dominators", NULL, false);
	run_once("leaks", NULL, false);
	run_once("types", "--retained", false);
	run_once("list", "dict", false);
	run_once("diff", core_path, false);
	nanswers = keep("ans-", answers, MAX_ANSWERS, ANSWER_HEAD,
			ph_answercache_fuzz_resum, UINT32_MAX);
	fprintf(stderr,
		"fuzz_index: in %s, the index, the graph and %zu "
		"answers' files:",
		dir, nanswers);
	for (size_t i = 0; i < nanswers; i++)
		fprintf(stderr, " %s", strrchr(answers[i].path, '/') + 1);
	fprintf(stderr, "\n");
	return 0;
}

/* k patched by the input's patches (data, size; into its header, or
 * anywhere), its sums made again (sums), written in its place, and with
 * seal sealed. */
static void put(struct kept *k, const uint8_t *data, size_t size, bool header,
		bool sums, bool seal)
{
	memcpy(k->work, k->good, k->len);
	const size_t span = header ? k->head : k->len;
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
	uint64_t head_sum = k->resum(k->work, k->len, sums);
	seed_file_put(k->path, k->work, k->len);
	if (seal && !ph_heapcache_fuzz_seal(k->path, head_sum, k->seal_mask)) {
		fprintf(stderr, "fuzz_index: could not seal %s\n", k->path);
		exit(1);
	}
}

static void run(struct ph_session *s, const char *a0, const char *a1,
		const char *a2, bool json)
{
	seed_run_words(s, a0, a1, a2, all, json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const uint8_t mode = data[0];
	const bool sealed = mode & 1, header = mode & 2, raw = mode & 4;
	const unsigned which = (mode >> 3) & 3;
	clear_dir();
	/* the files before the one patched as written (and sealed, as a
	 * later run finds them most often) */
	struct kept *k = &index_file;
	if (which >= 1) {
		put(&index_file, NULL, 0, false, true, true);
		k = &graph_file;
	}
	if (which >= 2) {
		put(&graph_file, NULL, 0, false, true, true);
		k = &answers[data[1] % nanswers];
		data++, size--;
	}
	put(k, data + 1, size - 1, header, !raw, sealed);
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
