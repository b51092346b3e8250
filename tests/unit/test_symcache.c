/* test_symcache.c - the record of the runtime's symbol lookups (symcache.c)
 * on a real ELF file, this test's own: kept, read back, and never trusted
 * when damaged, cut, or of another module. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symcache.h"
#include "unit.h"

/* a data object of a size nothing else has, for objects_of_size */
char ph_test_symcache_probe[4567];

struct fixture {
	struct ph_module mod;
	char dir[64], file[200];
};

static bool fixture_open(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ph-symcache-XXXXXX");
	if (!mkdtemp(f->dir))
		return false;
	setenv("PYHEAP_CACHE_DIR", f->dir, 1);
	unsetenv("PYHEAP_NO_CACHE");
	int fd = open("/proc/self/exe", O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		return false;
	f->mod.fd = fd;
	f->mod.size = (size_t)st.st_size;
	f->mod.map = mmap(NULL, f->mod.size, PROT_READ, MAP_PRIVATE, fd, 0);
	elf_version(EV_CURRENT);
	f->mod.elf = elf_memory(f->mod.map, f->mod.size);
	f->mod.opened = true;
	f->mod.bias = 0x1000; /* as if loaded elsewhere */
	f->mod.build_id_len = 20;
	memset(f->mod.build_id, 0xab, 20);
	snprintf(f->file, sizeof(f->file), "%s/syms-%s", f->dir,
		 "abababababababababababababababababababab");
	return f->mod.elf != NULL;
}

static void fixture_close(struct fixture *f)
{
	ph_module_free_symbols(&f->mod);
	elf_end(f->mod.elf);
	munmap(f->mod.map, f->mod.size);
	close(f->mod.fd);
	unlink(f->file);
	rmdir(f->dir);
	unsetenv("PYHEAP_CACHE_DIR");
}

struct seen {
	uint64_t addr[8];
	size_t n;
};

static void see(void *arg, const char *name, uint64_t addr)
{
	struct seen *s = arg;
	(void)name;
	if (s->n < 8)
		s->addr[s->n++] = addr;
}

/* The lookups every run makes; with what the module itself answers. */
struct answers {
	bool main_found, none_found;
	uint64_t main_addr, main_size;
	struct seen objects;
	bool all_cached;
};

static struct answers lookups(struct ph_module *mod)
{
	struct answers a = {0};
	struct ph_symcache *c = ph_symcache_open(mod);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	a.main_found =
		ph_symcache_symbol(c, "main", &a.main_addr, &a.main_size);
	uint64_t x;
	a.none_found = ph_symcache_symbol(c, "ph_no_such_symbol", &x, NULL);
	ph_symcache_objects_of_size(c, sizeof(ph_test_symcache_probe), see,
				    &a.objects);
	a.all_cached = ph_symcache_all_cached(c);
	ph_symcache_close(c);
	return a;
}

static void same_answers(const struct answers *a, const struct answers *b)
{
	CU_ASSERT_EQUAL(a->main_found, b->main_found);
	CU_ASSERT_EQUAL(a->main_addr, b->main_addr);
	CU_ASSERT_EQUAL(a->main_size, b->main_size);
	CU_ASSERT_EQUAL(a->none_found, b->none_found);
	CU_ASSERT_EQUAL(a->objects.n, b->objects.n);
	CU_ASSERT_EQUAL(a->objects.addr[0], b->objects.addr[0]);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	uint8_t *buf = malloc(1 << 16);
	*len = buf ? fread(buf, 1, 1 << 16, fp) : 0;
	fclose(fp);
	return buf;
}

static void write_all(const char *path, const uint8_t *p, size_t len)
{
	FILE *fp = fopen(path, "wb");
	if (fp) {
		fwrite(p, 1, len, fp);
		fclose(fp);
	}
}

/* Written by the first run, read by the second, the same answers; with the
 * module's bias applied to what the file keeps. */
static void test_symcache_kept(void)
{
	struct fixture f;
	CU_ASSERT_FATAL(fixture_open(&f));
	struct answers first = lookups(&f.mod);
	CU_ASSERT_TRUE(first.main_found);
	CU_ASSERT_FALSE(first.none_found);
	CU_ASSERT_EQUAL(first.objects.n, 1);
	CU_ASSERT_FALSE(first.all_cached);
	CU_ASSERT_EQUAL(access(f.file, F_OK), 0);
	struct answers second = lookups(&f.mod);
	CU_ASSERT_TRUE(second.all_cached);
	same_answers(&first, &second);
	/* another load address: the same symbols, moved with it */
	f.mod.bias += 0x10000;
	struct answers moved = lookups(&f.mod);
	CU_ASSERT_TRUE(moved.all_cached);
	CU_ASSERT_EQUAL(moved.main_addr, first.main_addr + 0x10000);
	CU_ASSERT_EQUAL(moved.objects.addr[0], first.objects.addr[0] + 0x10000);
	f.mod.bias -= 0x10000;
	/* PYHEAP_NO_CACHE: the file is neither read nor written */
	setenv("PYHEAP_NO_CACHE", "1", 1);
	struct answers off = lookups(&f.mod);
	unsetenv("PYHEAP_NO_CACHE");
	CU_ASSERT_FALSE(off.all_cached);
	same_answers(&first, &off);
	fixture_close(&f);
}

/* Every byte of the file changed, and every length cut: not used (the
 * lookups are made on the module again, and give its answers), and the
 * file is written again whole. */
static void test_symcache_damaged(void)
{
	struct fixture f;
	CU_ASSERT_FATAL(fixture_open(&f));
	struct answers truth = lookups(&f.mod);
	size_t len = 0;
	uint8_t *good = read_all(f.file, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(good);
	CU_ASSERT_TRUE_FATAL(len > 96 && len < (1 << 16));
	uint8_t *bad = malloc(len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
	int used = 0;
	for (size_t i = 0; i < len; i++) {
		memcpy(bad, good, len);
		bad[i] ^= 0x41;
		write_all(f.file, bad, len);
		struct answers a = lookups(&f.mod);
		used += a.all_cached;
		same_answers(&truth, &a);
	}
	for (size_t cut = 0; cut < len; cut += 7) {
		write_all(f.file, good, cut);
		struct answers a = lookups(&f.mod);
		used += a.all_cached;
		same_answers(&truth, &a);
	}
	CU_ASSERT_EQUAL(used, 0);
	/* Every byte of the entries changed, the sum made right (as no
	 * damage would): what the entries' own checks let through is read
	 * without harm (ASan's run), answered from or looked up again. */
	const size_t head = 96, sum_at = 88;
	int refused = 0;
	for (size_t i = head; i < len; i++) {
		for (int x = 0; x < 3; x++) {
			static const uint8_t flip[3] = {0x01, 0x80, 0xff};
			memcpy(bad, good, len);
			bad[i] ^= flip[x];
			uint64_t sum =
				ph_fnv1a(bad + head, len - head, PH_FNV_BASIS);
			memcpy(bad + sum_at, &sum, 8);
			struct ph_symcache *c = ph_symcache_open(&f.mod);
			CU_ASSERT_PTR_NOT_NULL_FATAL(c);
			refused += !ph_symcache_decode(c, bad, len);
			uint64_t a, sz;
			ph_symcache_symbol(c, "main", &a, &sz);
			struct seen o = {0};
			ph_symcache_objects_of_size(
				c, sizeof(ph_test_symcache_probe), see, &o);
			ph_symcache_close(c);
		}
	}
	/* (a name's letters and the values may change and still pass) */
	CU_ASSERT_TRUE(refused > 0);
	write_all(f.file, good, len);
	/* rewritten by the last run: used again */
	CU_ASSERT_TRUE(lookups(&f.mod).all_cached);
	/* another module's file under this one's name */
	f.mod.build_id[0] ^= 1;
	struct ph_symcache *c = ph_symcache_open(&f.mod);
	CU_ASSERT_FALSE(ph_symcache_decode(c, good, len));
	ph_symcache_close(c);
	f.mod.build_id[0] ^= 1;
	/* a module whose file is not open: no file read, none written */
	unlink(f.file);
	Elf *elf = f.mod.elf;
	f.mod.elf = NULL;
	f.mod.opened = false;
	ph_module_free_symbols(&f.mod);
	struct answers closed = lookups(&f.mod);
	CU_ASSERT_FALSE(closed.main_found);
	CU_ASSERT_NOT_EQUAL(access(f.file, F_OK), 0);
	f.mod.elf = elf;
	f.mod.opened = true;
	free(bad);
	free(good);
	fixture_close(&f);
}

void ph_test_symcache_register(void)
{
	CU_pSuite s = CU_add_suite("symbols' cache", NULL, NULL);
	CU_add_test(s, "symcache: kept, read back, moved with the bias",
		    test_symcache_kept);
	CU_add_test(s, "symcache: damaged, cut, foreign: not used",
		    test_symcache_damaged);
}
