/*
 * fuzz_seed.h - what the fuzz targets that read a real heap share: the
 * seed core (PYHEAP_FUZZ_CORE, read whole into memory once) and a session
 * on an image of it. Included by one target each; static functions.
 */
#ifndef FUZZ_SEED_H
#define FUZZ_SEED_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "query.h"

/* PYHEAP_FUZZ_CORE's bytes (malloc'd; its size in *ret_size), or exit
 * with a message naming who asked. */
static inline uint8_t *seed_core_load(const char *who, size_t *ret_size)
{
	const char *path = getenv("PYHEAP_FUZZ_CORE");
	if (!path) {
		fprintf(stderr, "%s: set PYHEAP_FUZZ_CORE to a core\n", who);
		exit(1);
	}
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		exit(1);
	}
	size_t n = (size_t)st.st_size;
	uint8_t *core = malloc(n);
	if (!core || read(fd, core, n) != (ssize_t)n) {
		perror(path);
		exit(1);
	}
	close(fd);
	*ret_size = n;
	return core;
}

/* A session on the image (NULL if py-heap refuses it). */
static inline struct ph_session *seed_session(const uint8_t *image, size_t size)
{
	struct ph_target *t = NULL;
	struct ph_error *err =
		ph_target_open_core_image("fuzz", image, size, NULL, NULL, &t);
	if (err) {
		ph_error_destroy(err);
		return NULL;
	}
	struct ph_session *s = NULL;
	err = ph_session_create_from_target(t, &s);
	if (err) {
		ph_error_destroy(err);
		return NULL;
	}
	return s;
}

/* A private cache directory for the sessions (PYHEAP_CACHE_DIR), made
 * from tmpl (mkdtemp's; it becomes the name), filled once by a session of
 * our own on the image; exit if it cannot be made. */
static inline void seed_cache_dir(char *tmpl, const uint8_t *image, size_t size)
{
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		exit(1);
	}
	setenv("PYHEAP_CACHE_DIR", tmpl, 1);
	ph_session_destroy(seed_session(image, size));
}

/* The bytes put in the file at path (a cache file the next session
 * reads), or exit. */
static inline void seed_file_put(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		exit(1);
	}
	close(fd);
}

/* One command of at most three words (a1, a2 may be NULL) run on s, its
 * output dropped: in JSON if json, else as text; both with all. */
static inline void seed_run_words(struct ph_session *s, const char *a0,
				  const char *a1, const char *a2, bool all,
				  bool json)
{
	const char *argv[] = {a0, a1, a2};
	int argc = a2 ? 3 : a1 ? 2 : 1;
	for (int j = all ? 0 : json; j < 2; j += 2 - all) {
		char *out = NULL;
		ph_error_destroy(ph_session_run(s, argc, argv, j, &out));
		ph_free(out);
	}
}

/* Of cmds (n, each at most two words), the one pick names, or every one
 * with all, run on s in JSON. */
static inline void seed_run(struct ph_session *s, const char *const (*cmds)[3],
			    size_t n, unsigned pick, bool all)
{
	for (size_t k = 0; k < n; k++)
		if (all || pick == k)
			seed_run_words(s, cmds[k][0], cmds[k][1], NULL, false,
				       true);
}

/* The objects a target runs its commands for one object on, as "0x..."
 * in ret (at most SEED_OBJECTS): with all, every 97th of the table's
 * first 2000; else 3 of them, step apart, from first. How many. */
enum { SEED_OBJECTS = 21 };
static inline size_t seed_objects(const struct ph_heap *h, bool all,
				  size_t first, size_t step, char (*ret)[32])
{
	if (all) {
		first = 0;
		step = 97;
	}
	size_t stop = all ? 2000 : first + 3 * step, n = 0;
	for (size_t k = first; h && k < h->n && k < stop && n < SEED_OBJECTS;
	     k += step)
		snprintf(ret[n++], 32, "0x%llx",
			 (unsigned long long)h->addr[k]);
	return n;
}

#endif /* FUZZ_SEED_H */
