/* libFuzzer target: the snapshot reader, and diff on what it accepts. The
 * input is a snapshot file; its checksums are set right first (on a copy),
 * so that mutations reach the sections' contents rather than stopping at
 * a checksum (the unit tests show every checksum is checked). A file that
 * decodes is encoded again (it must decode to the same objects), named
 * (paths from its tree), and diffed, through the command, against a copy
 * of itself with every other object left out. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "snapshot.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path_full[64], path_half[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path_full, sizeof(path_full), "/tmp/fuzz_snapshot.%d.a",
		 (int)getpid());
	snprintf(path_half, sizeof(path_half), "/tmp/fuzz_snapshot.%d.b",
		 (int)getpid());
	return 0;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* The checksums the header and table say, set right where they point
 * inside the file. */
static void fix_checksums(uint8_t *p, size_t n)
{
	if (n < 64 || memcmp(p, PH_SNAP_MAGIC, PH_SNAP_MAGIC_LEN))
		return;
	uint32_t nsec;
	memcpy(&nsec, p + 24, 4);
	if (nsec <= PH_SNAP_MAX_SECTIONS && 64 + (uint64_t)nsec * 32 <= n) {
		for (uint32_t i = 0; i < nsec; i++) {
			uint8_t *e = p + 64 + 32 * i;
			uint64_t off = rd64(e + 8), len = rd64(e + 16);
			if (off <= n && len <= n - off)
				wr32(e + 28, ph_crc32c(0, p + off, len));
		}
		wr32(p + 40, ph_crc32c(0, p + 64, nsec * 32));
	}
	wr32(p + 60, ph_crc32c(0, p, 60));
}

/* s without every other object (and without its tree). */
static struct ph_snap *halve(const struct ph_snap *s)
{
	struct ph_snap *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	*h = *s;
	h->pyheap_version = h->python = h->origin = h->source = h->exe = NULL;
	h->parent = NULL;
	h->roots = NULL, h->nroots = 0;
	h->named = NULL, h->labels = NULL, h->nnamed = 0;
	h->heap_index = NULL;
	h->n = (s->n + 1) / 2;
	h->addr = malloc((h->n + 1) * 8);
	h->type = malloc((h->n + 1) * 4);
	h->size = malloc((h->n + 1) * 8);
	h->fp = malloc((h->n + 1) * sizeof(*h->fp));
	h->gen = malloc(h->n + 1);
	h->types = calloc(s->ntypes + 1, sizeof(*h->types));
	if (!h->addr || !h->type || !h->size || !h->fp || !h->gen ||
	    !h->types) {
		h->ntypes = 0;
		ph_snap_destroy(h);
		return NULL;
	}
	for (size_t t = 0; t < s->ntypes; t++) {
		h->types[t] = s->types[t];
		h->types[t].name = strdup(s->types[t].name);
		h->types[t].count = h->types[t].bytes = 0;
	}
	h->bytes = 0;
	for (size_t i = 0; i < h->n; i++) {
		size_t k = 2 * i;
		h->addr[i] = s->addr[k];
		h->type[i] = s->type[k];
		h->size[i] = s->size[k];
		h->fp[i] = s->fp[k];
		h->gen[i] = s->gen[k];
		h->types[h->type[i]].count++;
		h->types[h->type[i]].bytes += h->size[i];
		h->bytes += h->size[i];
	}
	return h;
}

static void run(const char *a, const char *b, bool json)
{
	const char *argv[] = {
		"diff", a, b, json ? "--json" : "--limit", json ? NULL : "5",
		NULL};
	char *out = NULL;
	struct ph_error *err = ph_session_exec(
		NULL, json ? 4 : 5, argv, json ? PH_EXEC_JSON : 0, NULL, &out);
	ph_error_destroy(err);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	fix_checksums(copy, size);
	struct ph_snap *s = NULL;
	struct ph_error *err = ph_snap_decode(copy, size, "fuzz", &s);
	if (err) {
		ph_error_destroy(err);
		free(copy);
		return 0;
	}
	/* named from its tree */
	struct ph_buf b;
	ph_buf_init(&b);
	for (size_t i = 0; i < s->n && i < 64; i++) {
		b.len = 0;
		ph_snap_path(s, (uint32_t)(s->n - 1 - i), &b);
	}
	ph_buf_free(&b);
	/* encoded again: the same objects */
	uint8_t *again = NULL;
	size_t alen = 0;
	struct ph_snap *s2 = NULL;
	if (!(err = ph_snap_encode(s, &again, &alen)) &&
	    !(err = ph_snap_decode(again, alen, "again", &s2))) {
		if (s2->n != s->n || s2->ntypes != s->ntypes ||
		    (s->n && (memcmp(s2->addr, s->addr, s->n * 8) ||
			      memcmp(s2->size, s->size, s->n * 8))))
			abort();
	}
	if (err)
		abort(); /* what was read can be written */
	ph_snap_destroy(s2);
	free(again);
	/* diffed against half of itself, both ways */
	struct ph_snap *h = halve(s);
	FILE *f = fopen(path_full, "w");
	if (f) {
		fwrite(copy, 1, size, f);
		fclose(f);
	}
	if (h && !(err = ph_snap_write(h, path_half, NULL))) {
		run(path_half, path_full, true);
		run(path_full, path_half, false);
	}
	ph_error_destroy(err);
	unlink(path_full);
	unlink(path_half);
	ph_snap_destroy(h);
	ph_snap_destroy(s);
	free(copy);
	return 0;
}
