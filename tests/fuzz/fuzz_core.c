/* libFuzzer target: the ELF core reader. The input is a core file. */
#include <stdlib.h>
#include <string.h>

#include "target.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("PYHEAP_DEBUG_FILE_DIRECTORY", "", 1);
	setenv("DEBUGINFOD_URLS", "", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libelf may convert in place: give it a private copy. */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	struct ph_target *t = NULL;
	struct ph_error *err =
		ph_target_open_core_image("fuzz", copy, size, NULL, NULL, &t);
	if (!err) {
		/* Read through every segment once. */
		uint8_t buf[64];
		for (size_t i = 0; i < t->mem.nsegs; i++) {
			struct ph_error *e =
				ph_mem_read(&t->mem, t->mem.segs[i].start, buf,
					    sizeof(buf));
			ph_error_destroy(e);
		}
		for (size_t i = 0; i < t->nmods; i++) {
			uint64_t a;
			ph_module_symbol(&t->mods[i], "_PyRuntime", &a, NULL);
		}
	}
	ph_error_destroy(err);
	ph_target_destroy(t);
	free(copy);
	return 0;
}
