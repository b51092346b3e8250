/* CUnit tests of libpyheap's internals: buffers, the hash map, the
 * segment map, error values, ELF core parsing on small cores built here
 * byte by byte (valid, truncated, not a core), the /proc/PID/maps parser,
 * and how files named by a core or a process are opened; the other
 * suites' files (unit.h) are added from here. */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "memory.h"
#include "target.h"
#include "unit.h"

/* ---- buffers ---- */

static void test_buf_printf_grows(void)
{
	struct ph_buf b;
	char *s;
	ph_buf_init(&b);
	for (int i = 0; i < 1000; i++)
		ph_buf_printf(&b, "%04d,", i);
	CU_ASSERT_PTR_NULL(ph_buf_finish(&b, &s));
	CU_ASSERT_EQUAL(strlen(s), 5000);
	CU_ASSERT_NSTRING_EQUAL(s + 4995, "0999,", 5);
	free(s);
}

static void test_fmt_count(void)
{
	char out[32];
	CU_ASSERT_STRING_EQUAL(ph_fmt_count(0, out), "0");
	CU_ASSERT_STRING_EQUAL(ph_fmt_count(999, out), "999");
	CU_ASSERT_STRING_EQUAL(ph_fmt_count(1000, out), "1,000");
	CU_ASSERT_STRING_EQUAL(ph_fmt_count(1234567, out), "1,234,567");
}

/* ---- hash map ---- */

static void test_u64map(void)
{
	struct ph_u64map m;
	bool existed;
	ph_u64map_init(&m);
	CU_ASSERT_PTR_NULL(ph_u64map_get(&m, 5));
	for (uint64_t i = 1; i <= 100000; i++)
		CU_ASSERT_PTR_NULL(
			ph_u64map_put(&m, i * 16, (uint32_t)i, &existed));
	CU_ASSERT_EQUAL(m.count, 100000);
	CU_ASSERT_PTR_NULL(ph_u64map_put(&m, 16 * 77, 1, &existed));
	CU_ASSERT_TRUE(existed);
	CU_ASSERT_EQUAL(*ph_u64map_get(&m, 16 * 77), 77);
	CU_ASSERT_PTR_NULL(ph_u64map_get(&m, 8));
	CU_ASSERT_PTR_NULL(ph_u64map_get(&m, 0));
	ph_u64map_free(&m);
}

/* ---- segment map ---- */

static void test_memory_priority(void)
{
	static uint8_t core_a[0x1000], file_b[0x3000];
	struct ph_memory m;
	uint64_t v;
	memset(core_a, 0xaa, sizeof(core_a));
	memset(file_b, 0xbb, sizeof(file_b));
	ph_memory_init(&m);
	/* The core saved [0x2000,0x3000), names [0x3000,0x5000) unsaved;
	 * a file covers [0x1000,0x4000). */
	CU_ASSERT_PTR_NULL(
		ph_memory_add(&m, 0x2000, 0x3000, core_a, true, false));
	CU_ASSERT_PTR_NULL(
		ph_memory_add(&m, 0x3000, 0x5000, NULL, true, false));
	CU_ASSERT_PTR_NULL(
		ph_memory_add(&m, 0x1000, 0x4000, file_b, false, true));
	CU_ASSERT_PTR_NULL(ph_memory_finish(&m));
	CU_ASSERT_TRUE(ph_mem_u64(&m, 0x1000, &v));
	CU_ASSERT_EQUAL(v, 0xbbbbbbbbbbbbbbbbULL);
	CU_ASSERT_TRUE(ph_mem_u64(&m, 0x2ff8, &v));
	CU_ASSERT_EQUAL(v, 0xaaaaaaaaaaaaaaaaULL);
	CU_ASSERT_TRUE(ph_mem_u64(&m, 0x3ff8, &v));
	CU_ASSERT_EQUAL(v, 0xbbbbbbbbbbbbbbbbULL);
	CU_ASSERT_FALSE(ph_mem_u64(&m, 0x4000, &v));
	/* A read across the core/file boundary is whole. */
	uint8_t buf[16];
	CU_ASSERT_PTR_NULL(ph_mem_read(&m, 0x2ff8, buf, 16));
	CU_ASSERT_EQUAL(buf[0], 0xaa);
	CU_ASSERT_EQUAL(buf[15], 0xbb);
	/* Unsaved memory and unmapped memory are told apart. */
	struct ph_error *err = ph_mem_read(&m, 0x4800, buf, 8);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_NOT_SAVED);
	CU_ASSERT_EQUAL(ph_error_address(err), 0x4800);
	ph_error_destroy(err);
	err = ph_mem_read(&m, 0x9000, buf, 8);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_FAULT);
	ph_error_destroy(err);
	CU_ASSERT_EQUAL(m.bytes_missing, 0x1000);
	/* Reads that wrap around the address space fail. */
	CU_ASSERT_PTR_NULL(ph_mem_ptr(&m, UINT64_MAX - 3, 8));
	ph_memory_free(&m);
}

/* The per-thread cache of the last two segments read: hits give the right
 * bytes, a read running past a cached segment is not taken from it, and
 * nothing cached for one map (or an earlier version of it) serves another,
 * even one made at the same address. */
static void test_memory_cache(void)
{
	static uint8_t a[0x1000], b[0x1000], c[0x1000];
	memset(a, 0x11, sizeof(a));
	memset(b, 0x22, sizeof(b));
	memset(c, 0x33, sizeof(c));
	struct ph_memory m;
	uint64_t v;
	ph_memory_init(&m);
	CU_ASSERT_PTR_NULL(ph_memory_add(&m, 0x10000, 0x11000, a, true, false));
	CU_ASSERT_PTR_NULL(ph_memory_add(&m, 0x20000, 0x21000, b, true, false));
	CU_ASSERT_PTR_NULL(ph_memory_finish(&m));
	for (int i = 0; i < 3; i++) { /* misses, then hits in both entries */
		CU_ASSERT_EQUAL(ph_mem_ptr(&m, 0x10008, 8), a + 8);
		CU_ASSERT_EQUAL(ph_mem_ptr(&m, 0x20ff8, 8), b + 0xff8);
	}
	CU_ASSERT_PTR_NULL(ph_mem_ptr(&m, 0x10ffc, 8)); /* runs past a */
	CU_ASSERT_PTR_NULL(ph_mem_ptr(&m, 0xfff8, 16)); /* starts before */
	CU_ASSERT_PTR_NULL(ph_mem_ptr(&m, 0x10000, 0x1001));
	ph_memory_free(&m);
	/* the same struct, made again: other bytes at the same addresses */
	ph_memory_init(&m);
	CU_ASSERT_PTR_NULL(ph_memory_add(&m, 0x10000, 0x11000, c, true, false));
	CU_ASSERT_PTR_NULL(ph_memory_finish(&m));
	CU_ASSERT_TRUE(ph_mem_u64(&m, 0x10008, &v));
	CU_ASSERT_EQUAL(v, 0x3333333333333333ULL);
	CU_ASSERT_PTR_NULL(ph_mem_ptr(&m, 0x20ff8, 8)); /* b is gone */
	ph_memory_free(&m);
}

/* A live mapping is one buffer cut into segments where the pages the
 * process never touched begin: a read across the cut is one piece (a
 * list's items, partly spare capacity mremap grew). Segments whose data do
 * not follow each other, or with a gap between them, stay apart. */
static void test_memory_contiguous(void)
{
	/* one buffer, so that where data follow or not is this test's doing
	 * (two arrays may lie end to end) */
	static uint8_t buf[0x6000];
	struct ph_memory m;
	ph_memory_init(&m);
	/* added out of order: the pieces are found after the sort */
	CU_ASSERT_PTR_NULL(
		ph_memory_add(&m, 0x12000, 0x13000, buf + 0x2000, true, false));
	CU_ASSERT_PTR_NULL(
		ph_memory_add(&m, 0x10000, 0x11000, buf, true, false));
	CU_ASSERT_PTR_NULL(
		ph_memory_add(&m, 0x11000, 0x12000, buf + 0x1000, true, false));
	/* next in memory, not in data */
	CU_ASSERT_PTR_NULL(
		ph_memory_add(&m, 0x13000, 0x14000, buf + 0x4000, true, false));
	/* next in data, not in memory */
	CU_ASSERT_PTR_NULL(
		ph_memory_add(&m, 0x15000, 0x16000, buf + 0x5000, true, false));
	CU_ASSERT_PTR_NULL(ph_memory_finish(&m));
	CU_ASSERT_EQUAL(ph_mem_ptr(&m, 0x10ff8, 0x2000), buf + 0xff8);
	CU_ASSERT_EQUAL(ph_mem_ptr(&m, 0x10000, 0x3000), buf);
	/* (now cached: a hit the same) */
	CU_ASSERT_EQUAL(ph_mem_ptr(&m, 0x12ff8, 8), buf + 0x2ff8);
	CU_ASSERT_EQUAL(ph_mem_ptr(&m, 0x11800, 0x1800), buf + 0x1800);
	CU_ASSERT_PTR_NULL(ph_mem_ptr(&m, 0x12ff8, 16)); /* into the other */
	CU_ASSERT_PTR_NULL(ph_mem_ptr(&m, 0x13ff8, 16)); /* into the gap */
	CU_ASSERT_PTR_NULL(ph_mem_ptr(&m, 0x10000, 0x3001));
	CU_ASSERT_EQUAL(ph_mem_ptr(&m, 0x15000, 0x1000), buf + 0x5000);
	ph_memory_free(&m);
}

static void test_memory_many_segments(void)
{
	static uint8_t page[4096];
	struct ph_memory m;
	ph_memory_init(&m);
	for (uint64_t i = 0; i < 500; i++)
		CU_ASSERT_PTR_NULL(ph_memory_add(&m, 0x100000 + i * 0x2000,
						 0x101000 + i * 0x2000, page,
						 true, false));
	CU_ASSERT_PTR_NULL(ph_memory_finish(&m));
	CU_ASSERT_EQUAL(m.nsegs, 500);
	CU_ASSERT_PTR_NOT_NULL(ph_mem_ptr(&m, 0x100000 + 321 * 0x2000 + 8, 8));
	CU_ASSERT_PTR_NULL(ph_mem_ptr(&m, 0x101000 + 321 * 0x2000, 8));
	ph_memory_free(&m);
}

/* Overlapping segments cost what they cover, not their product: 20k
 * unsaved segments, each over 20k saved ones, resolve in well under a
 * second (400M pieces before), and the saved pages still win. */
static void test_memory_overlaps_linear(void)
{
	static uint8_t page[4096];
	memset(page, 0x77, sizeof(page));
	struct ph_memory m;
	ph_memory_init(&m);
	const uint64_t n = 20000, base = 0x100000;
	for (uint64_t i = 0; i < n; i++)
		CU_ASSERT_PTR_NULL(ph_memory_add(&m, base + i * 0x2000,
						 base + i * 0x2000 + 0x1000,
						 page, true, false));
	for (uint64_t i = 0; i < n; i++)
		CU_ASSERT_PTR_NULL(ph_memory_add(&m, base, base + n * 0x2000,
						 NULL, true, false));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_PTR_NULL(ph_memory_finish(&m));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) +
		   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CU_ASSERT(s < 1.0);
	CU_ASSERT_EQUAL(m.nsegs, 2 * n); /* saved, gap, saved, gap... */
	uint64_t v;
	CU_ASSERT_TRUE(ph_mem_u64(&m, base + 777 * 0x2000, &v));
	CU_ASSERT_EQUAL(v, 0x7777777777777777ULL);
	CU_ASSERT_FALSE(ph_mem_u64(&m, base + 777 * 0x2000 + 0x1000, &v));
	CU_ASSERT_EQUAL(m.bytes_missing, n * 0x1000);
	ph_memory_free(&m);
}

/* ---- /proc/PID/maps ---- */

static void test_maps_parse(void)
{
	/* a path of 1,000 characters holding what looks like a line */
	char name[1100];
	memset(name, 'n', sizeof(name));
	name[0] = '/';
	strcpy(name + 950, " 10000-40010000 rw-p 00000000 00:00 0 /fifo");
	char *text = NULL;
	int len = asprintf(
		&text,
		"00400000-00401000 r-xp 00000000 08:01 42"
		"                             /usr/bin/python3 (deleted)\n"
		"00401000-00402000 rw-p 00001000 08:01 42 %s\n"
		"00402000-00403000 rw-p 00000000 00:00 0 \n"
		"00403000-00404000 rw-s 00000000 00:05 7    /a b  c\n"
		"garbage line\n"
		"00300000-00301000 rw-p 00000000 00:00 0\n" /* out of order */
		"00500000-00501000 rw-p 00000000 00:00 0 [heap]",
		name);
	CU_ASSERT_FATAL(len > 0);
	struct ph_mapping *m = NULL;
	size_t n = 0, bad = 0;
	CU_ASSERT_PTR_NULL_FATAL(
		ph_maps_parse(text, (size_t)len, &m, &n, &bad));
	CU_ASSERT_EQUAL_FATAL(n, 5);
	CU_ASSERT_EQUAL(bad, 2);
	CU_ASSERT_STRING_EQUAL(m[0].path, "/usr/bin/python3 (deleted)");
	CU_ASSERT_TRUE(m[0].x && !m[0].w && !m[0].shared);
	CU_ASSERT_EQUAL(m[0].inode, 42);
	CU_ASSERT_EQUAL(m[0].dev_major, 8);
	CU_ASSERT_EQUAL(m[1].offset, 0x1000);
	CU_ASSERT_STRING_EQUAL(m[1].path, name); /* whole, one mapping */
	CU_ASSERT_STRING_EQUAL(m[2].path, "");
	CU_ASSERT_TRUE(m[3].shared);
	CU_ASSERT_STRING_EQUAL(m[3].path, "/a b  c");
	CU_ASSERT_EQUAL(m[4].start, 0x500000);
	CU_ASSERT_STRING_EQUAL(m[4].path, "[heap]");
	free(m);
	free(text);
}

/* ---- files named by a core or a process ---- */

static char tmpdir[64];

static void test_file_open(void)
{
	char path[128], fifo[128], link[128];
	const char *why;
	struct stat st;
	snprintf(path, sizeof(path), "%s/regular", tmpdir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("hello", f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
	CU_ASSERT_EQUAL_FATAL(symlink(path, link), 0);
	int fd = ph_file_open(-1, path, false, 100, &st, &why);
	CU_ASSERT_TRUE(fd >= 0);
	CU_ASSERT_EQUAL(st.st_size, 5);
	if (fd >= 0) {
		char b[8] = "";
		CU_ASSERT_EQUAL(read(fd, b, sizeof(b)), 5);
		close(fd);
	}
	/* a FIFO is refused, never waited on; a link is not followed */
	CU_ASSERT_EQUAL(ph_file_open(-1, fifo, false, 100, &st, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "a FIFO");
	CU_ASSERT_EQUAL(ph_file_open(-1, link, false, 100, &st, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "a symbolic link");
	fd = ph_file_open(-1, link, true, 100, &st, &why);
	CU_ASSERT_TRUE(fd >= 0);
	if (fd >= 0)
		close(fd);
	CU_ASSERT_EQUAL(ph_file_open(-1, "/dev/null", true, 100, &st, &why),
			-1);
	CU_ASSERT_STRING_EQUAL(why, "a device");
	CU_ASSERT_EQUAL(ph_file_open(-1, path, false, 4, &st, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "implausibly large");
	CU_ASSERT_EQUAL(ph_file_open(-1, "/nonexistent", false, 4, &st, &why),
			-1);
	CU_ASSERT_PTR_NULL(why);
	unlink(fifo);
	unlink(link);
	unlink(path);
}

/* ---- errors ---- */

static void test_errors(void)
{
	struct ph_error *err =
		ph_error_create_path(PH_ERR_NOT_CORE, "/x", "%s: nope", "/x");
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_NOT_CORE);
	CU_ASSERT_STRING_EQUAL(ph_error_path(err), "/x");
	err = ph_error_wrap(err, "opening %d", 1);
	CU_ASSERT_STRING_EQUAL(ph_error_message(err), "opening 1: /x: nope");
	CU_ASSERT_STRING_EQUAL(ph_error_code_name(PH_ERR_NOT_CORE), "not-core");
	ph_error_destroy(err);
	ph_error_destroy(NULL);
	ph_error_destroy(ph_error_nomem()); /* static: must not be freed */
	CU_ASSERT_STRING_EQUAL(ph_error_message(ph_error_nomem()),
			       "out of memory");
}

/* ---- ELF cores built here ---- */

/* An x86-64 ELF header of class cls and type, phnum program headers at
 * phoff. */
static void fill_ehdr(Elf64_Ehdr *eh, uint8_t cls, uint16_t type,
		      uint16_t phnum, uint64_t phoff)
{
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = cls;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = type;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = phoff;
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = phnum;
}

/* Writes a core with one PT_LOAD of 4 KiB at 0x10000 and an NT_FILE note
 * naming /nonexistent/prog there; returns its size. */
static size_t write_core(const char *path, size_t cut, uint16_t type)
{
	uint8_t img[8192] = {0};
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	fill_ehdr(eh, ELFCLASS64, type, 2, sizeof(*eh));
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	/* the note */
	uint8_t *note = img + 512;
	const char *fname = "/nonexistent/prog";
	uint32_t desc_size = 16 + 24 + (uint32_t)strlen(fname) + 1;
	uint32_t nh[3] = {5, desc_size, 0x46494c45};
	memcpy(note, nh, 12);
	memcpy(note + 12, "CORE\0\0\0", 8);
	uint64_t d[5] = {1, 4096, 0x10000, 0x11000, 0};
	memcpy(note + 20, d, 40);
	strcpy((char *)note + 60, fname);
	size_t note_len = 20 + ((desc_size + 3) & ~3u);
	ph[0] = (Elf64_Phdr){
		.p_type = PT_NOTE, .p_offset = 512, .p_filesz = note_len};
	ph[1] = (Elf64_Phdr){.p_type = PT_LOAD,
			     .p_offset = 4096,
			     .p_vaddr = 0x10000,
			     .p_filesz = 4096,
			     .p_memsz = 4096,
			     .p_flags = PF_R | PF_W};
	memset(img + 4096, 0x5a, 4096);
	size_t size = cut ? cut : sizeof(img);
	FILE *f = fopen(path, "wb");
	fwrite(img, 1, size, f);
	fclose(f);
	return size;
}

static void test_core_valid(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/good.core", tmpdir);
	write_core(path, 0, ET_CORE);
	struct ph_target *t = NULL;
	struct ph_error *err = ph_target_open_core(path, NULL, NULL, &t);
	CU_ASSERT_PTR_NULL_FATAL(err);
	uint64_t v;
	CU_ASSERT_TRUE(ph_mem_u64(&t->mem, 0x10008, &v));
	CU_ASSERT_EQUAL(v, 0x5a5a5a5a5a5a5a5aULL);
	/* read once: from the file with pread, the same bytes and faults */
	v = 0;
	CU_ASSERT_PTR_NULL(ph_mem_read_once(&t->mem, 0x10ff8, &v, 8));
	CU_ASSERT_EQUAL(v, 0x5a5a5a5a5a5a5a5aULL);
	uint8_t two[16];
	struct ph_error *past = ph_mem_read_once(&t->mem, 0x10ff8, two, 16);
	CU_ASSERT_PTR_NOT_NULL(past);
	CU_ASSERT_EQUAL(ph_error_code(past), PH_ERR_FAULT);
	ph_error_destroy(past);
	CU_ASSERT_EQUAL(t->nmods, 1);
	CU_ASSERT_STRING_EQUAL(t->mods[0].path, "/nonexistent/prog");
	CU_ASSERT_EQUAL(t->mods[0].start, 0x10000);
	ph_target_destroy(t);
}

static void test_core_truncated(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/short.core", tmpdir);
	write_core(path, 6000, ET_CORE);
	/* Cut inside the PT_LOAD: what is there is read, the rest missing. */
	struct ph_target *t = NULL;
	struct ph_error *err = ph_target_open_core(path, NULL, NULL, &t);
	CU_ASSERT_PTR_NULL_FATAL(err);
	CU_ASSERT_EQUAL(t->truncated_need, 8192);
	CU_ASSERT_EQUAL(t->truncated_segments, 1);
	CU_ASSERT_EQUAL(t->truncated_bytes, 8192 - 6000);
	uint64_t v;
	CU_ASSERT_TRUE(ph_mem_u64(&t->mem, 0x10000 + 6000 - 4096 - 8, &v));
	CU_ASSERT_FALSE(ph_mem_u64(&t->mem, 0x10000 + 6000 - 4096, &v));
	uint8_t b;
	err = ph_mem_read(&t->mem, 0x10000 + 3000, &b, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_NOT_SAVED);
	ph_error_destroy(err);
	ph_target_destroy(t);
	/* Cut before the notes: nothing says which files were mapped. */
	write_core(path, 300, ET_CORE);
	err = ph_target_open_core(path, NULL, NULL, &t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_TRUNCATED);
	CU_ASSERT_PTR_NOT_NULL(strstr(ph_error_message(err), "truncated"));
	ph_error_destroy(err);
	/* Cut inside the program headers. */
	write_core(path, 100, ET_CORE);
	err = ph_target_open_core(path, NULL, NULL, &t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_TRUNCATED);
	ph_error_destroy(err);
}

static void test_core_not_core(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/exec.core", tmpdir);
	write_core(path, 0, ET_EXEC);
	struct ph_target *t = NULL;
	struct ph_error *err = ph_target_open_core(path, NULL, NULL, &t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_NOT_CORE);
	ph_error_destroy(err);
	err = ph_target_open_core("/etc/hostname", NULL, NULL, &t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_NOT_CORE);
	ph_error_destroy(err);
	err = ph_target_open_core("/nonexistent/core", NULL, NULL, &t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_OS);
	ph_error_destroy(err);
}

static void test_core_sysroot_escape(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/good.core", tmpdir);
	write_core(path, 0, ET_CORE);
	struct ph_target *t = NULL;
	/* Under a sysroot, files are looked for inside it only. */
	struct ph_error *err = ph_target_open_core(path, NULL, tmpdir, &t);
	CU_ASSERT_PTR_NULL_FATAL(err);
	CU_ASSERT_FALSE(t->mods[0].opened); /* not in tmpdir */
	ph_target_destroy(t);
}

/* The build-id of an ELF file as libelf reads it (its notes, walked). */
static size_t libelf_build_id(const char *path, uint8_t *out)
{
	int fd = open(path, O_RDONLY);
	Elf *elf = fd < 0 ? NULL : elf_begin(fd, ELF_C_READ, NULL);
	size_t len = 0, n = 0;
	if (elf && !elf_getphdrnum(elf, &n))
		for (size_t i = 0; i < n && !len; i++) {
			GElf_Phdr ph;
			if (!gelf_getphdr(elf, (int)i, &ph) ||
			    ph.p_type != PT_NOTE)
				continue;
			Elf_Data *d =
				elf_getdata_rawchunk(elf, (int64_t)ph.p_offset,
						     ph.p_filesz, ELF_T_NHDR);
			GElf_Nhdr nh;
			size_t off = 0, no, doff;
			while (d && !len &&
			       (off = gelf_getnote(d, off, &nh, &no, &doff))) {
				if (nh.n_type == NT_GNU_BUILD_ID &&
				    nh.n_descsz <= 64) {
					memcpy(out, (uint8_t *)d->d_buf + doff,
					       nh.n_descsz);
					len = nh.n_descsz;
				}
			}
		}
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return len;
}

/* An ELF file of the test's own header, class and program headers. */
static void write_elf(const char *path, uint8_t cls, uint16_t phnum,
		      uint64_t phoff, uint32_t xnum)
{
	uint8_t img[4096] = {0};
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	fill_ehdr(eh, cls, ET_DYN, phnum, phoff);
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + 256);
	ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
			     .p_vaddr = 0x3000,
			     .p_filesz = 4096,
			     .p_memsz = 8192,
			     .p_flags = PF_R};
	if (xnum) { /* the count in section header 0's sh_info */
		eh->e_shoff = 1024;
		eh->e_shentsize = sizeof(Elf64_Shdr);
		((Elf64_Shdr *)(img + 1024))->sh_info = xnum;
	}
	FILE *f = fopen(path, "wb");
	fwrite(img, 1, sizeof(img), f);
	fclose(f);
}

/* --exe's file: read by pread (headers, build-id), libelf only when asked;
 * what cannot be a module of a 64-bit core refused with why. */
static void test_core_exe_headers(void)
{
	char core[128], exe[128];
	snprintf(core, sizeof(core), "%s/exe.core", tmpdir);
	snprintf(exe, sizeof(exe), "%s/exe.elf", tmpdir);
	write_core(core, 0, ET_CORE);
	struct ph_target *t = NULL;
	struct ph_error *err =
		ph_target_open_core(core, "/proc/self/exe", NULL, &t);
	CU_ASSERT_PTR_NULL_FATAL(err);
	const struct ph_module *m = &t->mods[0];
	uint8_t id[64];
	size_t len = libelf_build_id("/proc/self/exe", id);
	CU_ASSERT_TRUE(m->opened);
	CU_ASSERT_EQUAL(m->build_id_len, len);
	CU_ASSERT_TRUE(len && !memcmp(m->build_id, id, len));
	CU_ASSERT_PTR_NULL(m->elf); /* not made until asked */
	Elf *elf = ph_module_elf(m);
	CU_ASSERT_PTR_NOT_NULL(elf);
	CU_ASSERT_PTR_EQUAL(ph_module_elf(m), elf);
	ph_target_destroy(t);

	/* PN_XNUM: the program headers' count in section 0 */
	write_elf(exe, ELFCLASS64, PN_XNUM, 256, 1);
	err = ph_target_open_core(core, exe, NULL, &t);
	CU_ASSERT_PTR_NULL_FATAL(err);
	CU_ASSERT_EQUAL(t->mods[0].bias, 0x10000 - 0x3000);
	CU_ASSERT_EQUAL(t->mods[0].end, 0x10000 + 8192);
	ph_target_destroy(t);
	/* program headers past the file's end: opened, no bias */
	write_elf(exe, ELFCLASS64, 3, 1ULL << 40, 0);
	err = ph_target_open_core(core, exe, NULL, &t);
	CU_ASSERT_PTR_NULL_FATAL(err);
	CU_ASSERT_TRUE(t->mods[0].opened);
	CU_ASSERT_EQUAL(t->mods[0].bias, 0);
	ph_target_destroy(t);

	static const struct {
		uint8_t cls;
		const char *why;
	} bad[] = {{ELFCLASS32, "not a 64-bit little-endian ELF file"},
		   {0, "not an ELF file"}};
	for (size_t i = 0; i < PH_ARRAY_SIZE(bad); i++) {
		if (bad[i].cls)
			write_elf(exe, bad[i].cls, 1, 256, 0);
		else {
			FILE *f = fopen(exe, "wb");
			fputs("#!/bin/sh\n", f);
			fclose(f);
		}
		t = NULL;
		err = ph_target_open_core(core, exe, NULL, &t);
		CU_ASSERT_PTR_NOT_NULL_FATAL(err);
		CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_ELF);
		CU_ASSERT_PTR_NOT_NULL(
			strstr(ph_error_message(err), bad[i].why));
		ph_error_destroy(err);
	}
	unlink(exe);
	unlink(core);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pyheap-unit-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("internals", NULL, NULL);
	CU_add_test(s, "buf: printf grows", test_buf_printf_grows);
	CU_add_test(s, "fmt: thousands", test_fmt_count);
	CU_add_test(s, "u64map: put/get", test_u64map);
	CU_add_test(s, "memory: core over file over unsaved",
		    test_memory_priority);
	CU_add_test(s, "memory: many segments", test_memory_many_segments);
	CU_add_test(s, "memory: segments that follow each other",
		    test_memory_contiguous);
	CU_add_test(s, "memory: the segment cache", test_memory_cache);
	CU_add_test(s, "memory: overlaps resolved in linear time",
		    test_memory_overlaps_linear);
	CU_add_test(s, "maps: any length, any path", test_maps_parse);
	CU_add_test(s, "files: only regular ones, never blocking",
		    test_file_open);
	CU_add_test(s, "errors: codes, paths, wrap", test_errors);
	CU_pSuite c = CU_add_suite("core files", NULL, NULL);
	CU_add_test(c, "core: valid", test_core_valid);
	CU_add_test(c, "core: truncated", test_core_truncated);
	CU_add_test(c, "core: not a core", test_core_not_core);
	CU_add_test(c, "core: sysroot confines paths",
		    test_core_sysroot_escape);
	CU_add_test(c, "core: a file's headers read, libelf when asked",
		    test_core_exe_headers);
	ph_test_add_layout();
	ph_test_add_objects();
	ph_test_output_register();
	ph_test_dominators_register();
	ph_test_snapshot_register();
	ph_test_symcache_register();
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return failed ? 1 : 0;
}
