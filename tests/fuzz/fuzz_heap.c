/*
 * libFuzzer target: everything that reads Python objects. The input is a
 * list of patches applied to a real core of a real interpreter (the seed
 * core, PYHEAP_FUZZ_CORE): each patch is 4 bytes of offset, 1 byte of
 * length and the bytes to write there. Every command then runs on the
 * damaged heap; none may crash, hang or trip a sanitizer.
 *
 * Reading the seed heap (22k objects) costs ~80 ms per input under the
 * sanitizers and the commands ~200 ms more: running them all, the target
 * managed 4 inputs a second. So each input runs one group of commands,
 * picked by its last byte, in text or JSON by that byte's bit 4;
 * PYHEAP_FUZZ_ALL=1 (the replay of regression inputs) runs them all.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_seed.h"
#include "query.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *seed, *work;
static int all;	      /* PYHEAP_FUZZ_ALL: every group, both outputs */
static int json_only; /* else: JSON or text, as the input picks */
static size_t seed_size;
/* Offsets of the core's PT_LOAD data: patches land in memory, mostly. */
static uint64_t load_start, load_end;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("PYHEAP_DEBUG_FILE_DIRECTORY", "", 1);
	setenv("DEBUGINFOD_URLS", "", 1);
	seed = seed_core_load("fuzz_heap", &seed_size);
	work = malloc(seed_size);
	if (!work) {
		perror("fuzz_heap");
		exit(1);
	}
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)seed;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(seed + eh->e_phoff);
	all = getenv("PYHEAP_FUZZ_ALL") != NULL;
	load_start = UINT64_MAX;
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_filesz) {
			if (ph[i].p_offset < load_start)
				load_start = ph[i].p_offset;
			if (ph[i].p_offset + ph[i].p_filesz > load_end)
				load_end = ph[i].p_offset + ph[i].p_filesz;
		}
	return 0;
}

static void run(struct ph_session *s, const char *a0, const char *a1,
		const char *a2)
{
	seed_run_words(s, a0, a1, a2, all, json_only);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memcpy(work, seed, seed_size);
	size_t i = 0;
	while (i + 5 <= size) {
		uint32_t off;
		memcpy(&off, data + i, 4);
		size_t len = data[i + 4] % 64 + 1;
		i += 5;
		if (i + len > size)
			len = size - i;
		uint64_t span = load_end - load_start;
		uint64_t at = load_start + off % span;
		if (at + len > seed_size)
			len = seed_size - at;
		memcpy(work + at, data + i, len);
		i += len;
	}
	struct ph_session *s = seed_session(work, seed_size);
	if (!s)
		return 0;
	uint8_t pick = size ? data[size - 1] : 0;
	unsigned group = pick % 8;
	json_only = (pick >> 4) & 1;
	if (all || group == 0) {
		run(s, "types", NULL, NULL);
		run(s, "summary", NULL, NULL);
	}
	if (all || group == 1)
		run(s, "cycles", "--unreachable", NULL);
	if (all || group == 2)
		run(s, "refcheck", NULL, NULL);
	if (all || group == 3)
		run(s, "leaks", NULL, NULL);
	if (all || group == 4) {
		run(s, "dominators", "--limit", "5");
		run(s, "types", "--retained", NULL);
	}
	/* A few objects, all the way through: every 97th of the first 2000,
	 * or, one group at a time, 3 of them from where the byte says. */
	if (!all && group >= 5)
		ph_error_destroy(ph_session_heap(s));
	char addrs[SEED_OBJECTS][32];
	size_t na = all || group >= 5
			    ? seed_objects(s->heap, all,
					   (size_t)(pick >> 3) * 7, 31, addrs)
			    : 0;
	for (size_t k = 0; k < na; k++) {
		const char *addr = addrs[k];
		if (all || group == 5) {
			run(s, "show", addr, NULL);
			run(s, "refcount", addr, NULL);
		}
		if (all || group == 6)
			run(s, "referrers", addr, NULL);
		if (all || group == 7) {
			run(s, "path", addr, NULL);
			run(s, "retained", addr, NULL);
		}
	}
	ph_session_destroy(s);
	return 0;
}
