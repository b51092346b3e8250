/* runtime.c - finding _PyRuntime, the Python version and its layout. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "symcache.h"

static const char *const kind_symbols[PH_KIND_COUNT] = {
#define PH_KIND_SYMBOL(kind, ops, symbol) [PH_KIND_##kind] = symbol,
	PH_KINDS(PH_KIND_SYMBOL)
#undef PH_KIND_SYMBOL
};

/* Further static types of a kind; '*' marks a pointer to the type. */
static const struct {
	const char *symbol;
	enum ph_kind kind;
} extra_symbols[] = {
	{"_PyWeakref_ProxyType", PH_KIND_WEAKREF},
	{"_PyWeakref_CallableProxyType", PH_KIND_WEAKREF},
	{"PyCoro_Type", PH_KIND_GEN},
	{"PyAsyncGen_Type", PH_KIND_GEN},
	{"PyStaticMethod_Type", PH_KIND_CLASSMETHOD},
	{"*PyExc_BaseException", PH_KIND_EXCEPTION},
};

/* The record of lookups in mod (symcache.c), opened on its first; NULL
 * without memory, or past four modules. */
static struct ph_symcache *rt_symcache(struct ph_runtime *rt,
				       const struct ph_module *mod)
{
	for (size_t i = 0; i < rt->nsymcache; i++)
		if (rt->symcache_mod[i] == mod)
			return rt->symcache[i];
	if (rt->nsymcache == PH_ARRAY_SIZE(rt->symcache))
		return NULL;
	struct ph_symcache *c = ph_symcache_open(mod);
	if (c) {
		rt->symcache_mod[rt->nsymcache] = mod;
		rt->symcache[rt->nsymcache++] = c;
	}
	return c;
}

/* A symbol of mod, through its record; without one, from the module. */
static bool rt_symbol(struct ph_runtime *rt, const struct ph_module *mod,
		      const char *name, uint64_t *ret_addr)
{
	struct ph_symcache *c = rt_symcache(rt, mod);
	return c ? ph_symcache_symbol(c, name, ret_addr, NULL)
		 : ph_module_symbol(mod, name, ret_addr, NULL);
}

/* The records written where they lacked lookups made, and let go. */
static void rt_symcache_close(struct ph_runtime *rt)
{
	rt->symbols_cached = rt->nsymcache > 0;
	for (size_t i = 0; i < rt->nsymcache; i++) {
		rt->symbols_cached &= ph_symcache_all_cached(rt->symcache[i]);
		ph_symcache_close(rt->symcache[i]);
	}
	rt->nsymcache = 0;
}

static void add_static_type(void *arg, const char *name, uint64_t addr)
{
	struct ph_runtime *rt = arg;
	(void)name;
	if (ph_grow((void **)&rt->static_types, &rt->static_types_cap,
		    rt->nstatic_types + 1, sizeof(uint64_t)))
		return;
	rt->static_types[rt->nstatic_types++] = addr;
}

static bool is_libpython(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return !strncmp(base, "libpython", 9);
}

/*
 * 3.13's _Py_DebugOffsets: groups of uint64_t words, each a struct's size
 * then offsets in it (Include/internal/pycore_runtime.h). A struct's size
 * bounds its offsets; the sizes are bounded by what any 3.13 build has
 * (measured: _PyRuntimeState 283,320-328,320 bytes, PyInterpreterState
 * 194,968-215,616, PyThreadState 304, the objects 16-432), with room.
 */
static const struct debug_group {
	uint16_t at, end; /* its size's entry; the next group's */
	uint32_t max;	  /* the largest plausible size */
} debug_groups13[] = {
	{24, 48, 4u << 20},   /* runtime_state */
	{48, 152, 4u << 20},  /* interpreter_state */
	{152, 224, 64 << 10}, /* thread_state */
	{224, 272, 4096},     /* interpreter_frame */
	{272, 352, 4096},     /* code_object */
	{352, 368, 4096},     /* pyobject */
	{368, 400, 4096},     /* type_object */
	{400, 424, 4096},     /* tuple_object */
	{424, 448, 4096},     /* list_object */
	{448, 472, 4096},     /* dict_object */
	{472, 488, 4096},     /* float_object */
	{488, 512, 4096},     /* long_object */
	{512, 536, 4096},     /* bytes_object */
	{536, 568, 4096},     /* unicode_object */
	{568, 584, 4096},     /* gc */
};
#define PH_DEBUG_OFFSETS13_SIZE 584

/* Entries that are sizes, not offsets: bounded by their group's size. */
static bool debug_entry_is_size(uint32_t at)
{
	return at == 560; /* unicode_object.asciiobject_size */
}

/* By offset in _Py_DebugOffsets: applied in that order. */
struct debug_offset {
	uint32_t at;	  /* in _Py_DebugOffsets (3.13) */
	size_t field;	  /* in struct ph_layout */
	const char *name; /* its name there */
	bool bad;
};

static int debug_offset_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct debug_offset *)a)->at,
		 y = ((const struct debug_offset *)b)->at;
	return x < y ? -1 : x > y;
}

static void debug_offset_bad(struct ph_runtime *rt, struct debug_offset *e,
			     uint64_t v, const char *why, uint64_t bound,
			     const char *other)
{
	if (e->bad)
		return;
	e->bad = true;
	if (rt->debug_offsets_bad++)
		return;
	if (other)
		snprintf(rt->debug_offsets_first_bad,
			 sizeof(rt->debug_offsets_first_bad),
			 "%s = %llu, %s %s", e->name, (unsigned long long)v,
			 why, other);
	else
		snprintf(rt->debug_offsets_first_bad,
			 sizeof(rt->debug_offsets_first_bad),
			 "%s = %llu, %s %llu", e->name, (unsigned long long)v,
			 why, (unsigned long long)bound);
}

/*
 * Each entry of a 3.13 _Py_DebugOffsets checked before use: its group's
 * size within that struct's bounds, an offset below that size (a size
 * entry at most it), no two offsets of a struct the same. A bad one is
 * marked; the table's value stays.
 */
static void check_debug_offsets13(struct ph_runtime *rt, const uint8_t *d,
				  struct debug_offset *map, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct debug_group *g = NULL;
		for (size_t k = 0; k < PH_ARRAY_SIZE(debug_groups13); k++)
			if (map[i].at >= debug_groups13[k].at &&
			    map[i].at < debug_groups13[k].end)
				g = &debug_groups13[k];
		uint64_t size, v;
		memcpy(&v, d + map[i].at, 8);
		if (!g) {
			debug_offset_bad(rt, &map[i], v, "outside", 0,
					 "any struct");
			continue;
		}
		memcpy(&size, d + g->at, 8);
		if (!size || size > g->max) {
			debug_offset_bad(rt, &map[i], v,
					 map[i].at == g->at
						 ? "beyond the plausible"
						 : "in a struct whose size is",
					 map[i].at == g->at ? g->max : size,
					 NULL);
			continue;
		}
		if (map[i].at == g->at)
			continue; /* the size itself, checked */
		if (debug_entry_is_size(map[i].at) ? !v || v > size
						   : v >= size) {
			debug_offset_bad(rt, &map[i], v,
					 "beyond its struct's size", size,
					 NULL);
			continue;
		}
		for (size_t k = 0; k < i; k++) {
			uint64_t w;
			memcpy(&w, d + map[k].at, 8);
			if (map[k].at > g->at &&
			    !debug_entry_is_size(map[k].at) &&
			    !debug_entry_is_size(map[i].at) && w == v) {
				debug_offset_bad(rt, &map[k], w, "the same as",
						 0, map[i].name);
				debug_offset_bad(rt, &map[i], v, "the same as",
						 0, map[k].name);
			}
		}
	}
}

/*
 * _Py_DebugOffsets (3.13+), at the start of _PyRuntime: the interpreter's
 * own account of its layout, for debuggers. After checking its cookie and
 * version, every offset it covers is taken from it, each checked against
 * its bounds first: one out of them (a damaged core) leaves the table's
 * value, and a note says so (CPython itself checks only the cookie and
 * the version).
 */
static struct ph_error *apply_debug_offsets(struct ph_runtime *rt)
{
	struct ph_memory *mem = &rt->target->mem;
	const uint8_t *d =
		ph_mem_ptr(mem, rt->runtime_addr, PH_DEBUG_OFFSETS13_SIZE);
	if (!d)
		return ph_error_create_at(
			PH_ERR_NOT_SAVED, rt->runtime_addr,
			"cannot read _Py_DebugOffsets at 0x%llx",
			(unsigned long long)rt->runtime_addr);
	uint64_t version, free_threaded;
	memcpy(&version, d + 8, 8);
	memcpy(&free_threaded, d + 16, 8);
	if (memcmp(d, "xdebugpy", 8) || version >> 16 != rt->hexversion >> 16)
		return ph_error_create(PH_ERR_CORRUPT,
				       "_PyRuntime of Python %s does not start "
				       "with its debug offsets (cookie or "
				       "version wrong): a damaged core, or a "
				       "build py-heap does not know",
				       rt->version);
	if ((free_threaded != 0) != rt->layout->free_threaded)
		return ph_error_create(PH_ERR_CORRUPT,
				       "_PyRuntime of Python %s says its build "
				       "is %s, its symbols the other: a "
				       "damaged core",
				       rt->version,
				       free_threaded ? "free-threaded"
						     : "not free-threaded");
	if (rt->layout->minor != 13) {
		/* 3.14+ extend the struct: keep the tables, checked by the
		 * cookie and version only. */
		if (rt->layout != &rt->layout_copy)
			rt->layout_copy = *rt->layout;
		rt->layout_copy.source = "tables (debug offsets present)";
		rt->layout = &rt->layout_copy;
		return NULL;
	}
	if (rt->layout != &rt->layout_copy)
		rt->layout_copy = *rt->layout;
	struct ph_layout *L = &rt->layout_copy;
	/* The fields layout_fields.h gives an entry, by their offset in
	 * _Py_DebugOffsets (each a uint64_t). */
	static const struct debug_offset all[] = {
#define PH_DEBUG_OFFSET(type, name, dims, cstruct, member, dbg, dbg_off, ...)  \
	{dbg_off, offsetof(struct ph_layout, name), dbg, false},
		PH_LAYOUT_FIELDS(PH_DEBUG_OFFSET)
#undef PH_DEBUG_OFFSET
	};
	struct debug_offset map[PH_ARRAY_SIZE(all)];
	size_t n = 0;
	for (size_t i = 0; i < PH_ARRAY_SIZE(all); i++)
		if (all[i].at && all[i].at + 8 <= PH_DEBUG_OFFSETS13_SIZE)
			map[n++] = all[i];
	qsort(map, n, sizeof(*map), debug_offset_cmp);
	check_debug_offsets13(rt, d, map, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		memcpy(&v, d + map[i].at, 8);
		if (map[i].bad)
			continue;
		uint32_t *f = (uint32_t *)((char *)L + map[i].field);
		if (*f != (uint32_t)v)
			rt->debug_offsets_differ++;
		*f = (uint32_t)v;
	}
	if (rt->debug_offsets_bad) {
		snprintf(rt->debug_offsets_source,
			 sizeof(rt->debug_offsets_source),
			 "debug offsets (_Py_DebugOffsets; %d out of bounds, "
			 "the tables' instead) and tables",
			 rt->debug_offsets_bad);
		L->source = rt->debug_offsets_source;
	} else
		L->source = "debug offsets (_Py_DebugOffsets) and tables";
	rt->layout = L;
	return NULL;
}

/*
 * Before 3.11 there is no Py_Version: the version is sys.hexversion, read
 * from the sys module's dict in the process, through each older layout
 * that leads to one (3.9 and 3.10 place sys alike: the value decides).
 * Returns 0 when none does.
 */
static uint32_t old_hexversion(struct ph_runtime *rt)
{
	struct ph_memory *mem = &rt->target->mem;
	uint64_t dict_type = 0, str_type = 0, long_type = 0;
	if (!rt_symbol(rt, rt->pymod, "PyDict_Type", &dict_type) ||
	    !rt_symbol(rt, rt->pymod, "PyUnicode_Type", &str_type) ||
	    !rt_symbol(rt, rt->pymod, "PyLong_Type", &long_type))
		return 0;
	/* 3.7 too, only to name it: its runtime and interpreter differ, its
	 * dicts, strs and ints are 3.8's */
	static const struct {
		unsigned minor;
		uint32_t head, sysdict;
	} probes[] = {{10, 0, 0}, {9, 0, 0}, {8, 0, 0}, {7, 24, 56}};
	uint32_t any = 0;
	for (size_t m = 0; m < PH_ARRAY_SIZE(probes); m++) {
		const struct ph_layout *L = ph_layout_for(3, probes[m].minor);
		if (!L)
			L = ph_layout_for(3, 8);
		uint32_t head_off = probes[m].head ? probes[m].head
						   : L->rt_interpreters_head;
		uint32_t sysdict_off =
			probes[m].sysdict ? probes[m].sysdict : L->is_sysdict;
		uint64_t interp = 0, next, sysdict = 0, type = 0, keys = 0;
		uint64_t size = 0, nentries = 0, values = 1;
		if (!ph_mem_u64(mem, rt->runtime_addr + head_off, &interp) ||
		    !interp)
			continue;
		for (int i = 0;
		     i < 4096 && ph_mem_u64(mem, interp + L->is_next, &next) &&
		     next;
		     i++)
			interp = next;
		if (!ph_mem_u64(mem, interp + sysdict_off, &sysdict) ||
		    !ph_mem_u64(mem, sysdict + 8, &type) || type != dict_type ||
		    !ph_mem_u64(mem, sysdict + L->dict_keys, &keys) ||
		    !ph_mem_u64(mem, sysdict + L->dict_values, &values) ||
		    values || !ph_mem_u64(mem, keys + L->dk_size, &size) ||
		    !ph_mem_u64(mem, keys + L->dk_nentries, &nentries) ||
		    size < 8 || size > (1 << 20) || (size & (size - 1)) ||
		    nentries > size)
			continue;
		unsigned ix = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
		const uint8_t *e =
			ph_mem_ptr(mem, keys + L->dk_indices + size * ix,
				   (size_t)nentries * 24);
		for (uint64_t i = 0; e && i < nentries; i++) {
			uint64_t key, value, kt = 0, len = 0, vt = 0;
			int64_t ndigits = 0;
			uint32_t state = 0, hv = 0;
			memcpy(&key, e + i * 24 + 8, 8);
			memcpy(&value, e + i * 24 + 16, 8);
			const char *data =
				ph_mem_ptr(mem, key + L->sizeof_ascii, 11);
			/* a compact ASCII str "hexversion" and a one-digit int
			 */
			if (!key || !value || !data ||
			    !ph_mem_u64(mem, key + 8, &kt) || kt != str_type ||
			    !ph_mem_u64(mem, key + L->str_length, &len) ||
			    len != 10 ||
			    !ph_mem_u32(mem, key + L->str_state, &state) ||
			    (state & 0x60) != 0x60 ||
			    memcmp(data, "hexversion", 11) ||
			    !ph_mem_u64(mem, value + 8, &vt) ||
			    vt != long_type ||
			    !ph_mem_u64(mem, value + 16,
					(uint64_t *)&ndigits) ||
			    ndigits != 1 ||
			    !ph_mem_u32(mem, value + L->long_digits, &hv))
				continue;
			if (hv >> 24 == 3 &&
			    ((hv >> 16) & 0xff) == probes[m].minor)
				return hv;
			any = hv;
			break;
		}
	}
	return any;
}

/* Does the executable or a libpython it loaded export the C API (an old
 * CPython)? *ret_name: which. */
static bool old_python(struct ph_target *t, const char **ret_name)
{
	uint64_t a;
	for (size_t i = 0; i < t->nmods; i++) {
		const struct ph_module *m = &t->mods[i];
		if (((int)i == t->exe_index || is_libpython(m->path)) &&
		    ph_module_symbol(m, "PyType_Type", &a, NULL) &&
		    ph_module_symbol(m, "Py_GetVersion", &a, NULL)) {
			*ret_name = m->path;
			return true;
		}
	}
	return false;
}

/* ---- the DWARF check's outcome, cached ------------------------------ */

/*
 * Checking the tables against DWARF means decompressing and walking the
 * debug information: 0.2 s, more than reading a heap of a million objects.
 * Its outcome depends on the interpreter (its build-id), on the list of
 * fields and of what is checked (layout_fields.h) and on the layout
 * checked (this py-heap's table, with the debug offsets applied), so it is
 * kept in a file named by the build-id and a hash of the other two (the
 * same for every build of the same sources), in $PYHEAP_CACHE_DIR, else
 * $XDG_CACHE_HOME/py-heap, else ~/.cache/py-heap. A cache that cannot be
 * read or written is no error: the check runs again.
 */
#define LAYOUT_CACHE_MAGIC 0x32434c50u /* "PLC2" */

struct layout_cache_head {
	uint32_t magic, size;
	int32_t checked, differ;
	uint64_t sum; /* FNV-1a of the layout that follows */
};

static uint64_t layout_hash(const struct ph_layout *L)
{
	struct ph_layout c = *L;
	/* pointers: not part of what was checked (and moved by ASLR) */
	c.source = NULL;
	c.code_field_names = NULL;
	uint64_t h = ph_fnv1a(&c, sizeof(c), PH_FNV_BASIS);
	return ph_fnv1a(ph_layout_fields_text, strlen(ph_layout_fields_text),
			h);
}

/* The cache's directory, if it is one this user owns and no one else may
 * write: a directory another user can write could hold a planted file or
 * a link (the cache is never trusted to be safe otherwise). */
static bool cache_dir_ok(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return false;
	*slash = '\0';
	struct stat st;
	return !lstat(dir, &st) && S_ISDIR(st.st_mode) &&
	       st.st_uid == geteuid() && !(st.st_mode & 022);
}

bool ph_cache_dir_ok(const char *path)
{
	return cache_dir_ok(path);
}

/* The directories of path made, as mkdir -p would, private; is its own
 * directory fit for a cache (cache_dir_ok)? */
bool ph_cache_mkdir(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0700);
		*p = '/';
	}
	return cache_dir_ok(path);
}

void *ph_cache_read(const char *path, size_t max, size_t *ret_len)
{
	if (!cache_dir_ok(path))
		return NULL;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	uint8_t *buf = NULL;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    st.st_size > 0 && (uint64_t)st.st_size <= max &&
	    (buf = malloc((size_t)st.st_size)) &&
	    !ph_pread_all(fd, buf, (uint64_t)st.st_size, 0)) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	if (buf)
		*ret_len = (size_t)st.st_size;
	return buf;
}

bool ph_write_all(int fd, const void *buf, uint64_t n)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t r = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (uint64_t)r;
	}
	return true;
}

bool ph_pread_all(int fd, void *buf, uint64_t n, uint64_t off)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = pread(fd, p, n > (1u << 30) ? (1u << 30) : n,
				  (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (uint64_t)r;
		off += (uint64_t)r;
	}
	return true;
}

bool ph_cache_write_parts(const char *path, const void *const *parts,
			  const uint64_t *bytes, int nparts)
{
	char *tmp = NULL;
	if (!ph_cache_mkdir(path) || asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return false;
	/* a new file of ours (O_EXCL: never through a planted link), then
	 * renamed over the name: a reader sees the old file or the new */
	int fd = mkostemp(tmp, O_CLOEXEC);
	bool ok = fd >= 0;
	for (int i = 0; ok && i < nparts; i++)
		ok = ph_write_all(fd, parts[i], bytes[i]);
	if (fd >= 0 && close(fd))
		ok = false;
	if (ok)
		ok = !rename(tmp, path);
	if (!ok && fd >= 0)
		unlink(tmp);
	free(tmp);
	return ok;
}

bool ph_cache_write(const char *path, const void *data, size_t len)
{
	const uint64_t bytes = len;
	return ph_cache_write_parts(path, &data, &bytes, 1);
}

char *ph_cache_file(const char *name)
{
	const char *dir = getenv("PYHEAP_CACHE_DIR");
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *path = NULL;
	int r;
	if (dir && *dir)
		r = asprintf(&path, "%s/%s", dir, name);
	else if (xdg && *xdg)
		r = asprintf(&path, "%s/py-heap/%s", xdg, name);
	else if (home && *home)
		r = asprintf(&path, "%s/.cache/py-heap/%s", home, name);
	else
		return NULL;
	return r < 0 ? NULL : path;
}

static char *layout_cache_path(const struct ph_module *m,
			       const struct ph_layout *L)
{
	if (!m->build_id_len || getenv("PYHEAP_NO_CACHE"))
		return NULL;
	char name[7 + 129 + 18] = "layout-";
	for (size_t i = 0; i < m->build_id_len && i < 64; i++)
		sprintf(name + 7 + 2 * i, "%02x", m->build_id[i]);
	snprintf(name + strlen(name), sizeof(name) - strlen(name), "-%016llx",
		 (unsigned long long)layout_hash(L));
	return ph_cache_file(name);
}

/*
 * A cached layout is used only when everything about it holds: a regular
 * file of this user's, in a private directory, of the exact size, with its
 * magic and checksum, and differing from the table it corrects only where
 * the DWARF check said, by offsets within a struct (below 1 MiB). Anything
 * else and the check runs again.
 */
bool ph_layout_cache_decode(const void *data, size_t len,
			    const struct ph_layout *table,
			    struct ph_layout *ret_layout, int *ret_checked,
			    int *ret_differ)
{
	struct layout_cache_head hd;
	struct ph_layout L;
	if (len != sizeof(hd) + sizeof(L))
		return false;
	memcpy(&hd, data, sizeof(hd));
	memcpy(&L, (const uint8_t *)data + sizeof(hd), sizeof(L));
	if (hd.magic != LAYOUT_CACHE_MAGIC || hd.size != sizeof(L) ||
	    hd.sum != ph_fnv1a(&L, sizeof(L), PH_FNV_BASIS) || hd.checked < 0 ||
	    hd.differ < 0 || hd.differ > hd.checked)
		return false;
	/* the pointers are this process's, never the file's */
	L.source = table->source;
	L.code_field_names = table->code_field_names;
	uint32_t a[sizeof(L) / 4], b[sizeof(L) / 4];
	memcpy(a, table, sizeof(L));
	memcpy(b, &L, sizeof(L));
	int words = 0;
	for (size_t i = 0; i < sizeof(L) / 4; i++) {
		if (a[i] == b[i])
			continue;
		if (b[i] >= (1u << 20) || ++words > 2 * hd.differ)
			return false;
	}
	*ret_layout = L;
	*ret_checked = hd.checked;
	*ret_differ = hd.differ;
	return true;
}

static bool layout_cache_load(const char *path, struct ph_runtime *rt)
{
	size_t len;
	uint8_t *buf = path ? ph_cache_read(path,
					    sizeof(struct layout_cache_head) +
						    sizeof(struct ph_layout),
					    &len)
			    : NULL;
	struct ph_layout L;
	int checked, differ;
	bool ok = buf && ph_layout_cache_decode(buf, len, &rt->layout_copy, &L,
						&checked, &differ);
	free(buf);
	if (!ok)
		return false;
	rt->layout_copy = L;
	rt->dwarf_checked = checked;
	rt->dwarf_differ = differ;
	rt->layout_cached = true;
	return true;
}

static void layout_cache_store(const char *path, const struct ph_runtime *rt)
{
	if (!path || !rt->dwarf_checked)
		return;
	struct ph_layout L = rt->layout_copy;
	L.source = NULL;
	L.code_field_names = NULL;
	struct layout_cache_head hd = {LAYOUT_CACHE_MAGIC,
				       (uint32_t)sizeof(struct ph_layout),
				       rt->dwarf_checked, rt->dwarf_differ,
				       ph_fnv1a(&L, sizeof(L), PH_FNV_BASIS)};
	const void *parts[2] = {&hd, &L};
	const uint64_t bytes[2] = {sizeof(hd), sizeof(L)};
	ph_cache_write_parts(path, parts, bytes, 2);
}

/*
 * Every interpreter in _PyRuntime's list (newest first, the main one last;
 * interpreters.main names it too): main first in rt->interps, then the
 * others oldest first. The walk is bounded, an id seen twice or a loop
 * ends it (the rest is counted as unread).
 */
static struct ph_error *find_interpreters(struct ph_runtime *rt, uint64_t head)
{
	struct ph_memory *mem = &rt->target->mem;
	const struct ph_layout *L = rt->layout;
	uint64_t list[PH_MAX_INTERPS];
	size_t n = 0;
	for (uint64_t interp = head; interp && n < 4096;) {
		bool seen = false;
		for (size_t i = 0; i < n && i < PH_ARRAY_SIZE(list); i++)
			seen |= list[i] == interp;
		if (seen || (interp & 7))
			break;
		if (n < PH_ARRAY_SIZE(list))
			list[n] = interp;
		n++;
		if (!ph_mem_u64(mem, interp + L->is_next, &interp))
			break;
	}
	if (!n) /* a misaligned head: read as before, and fail there */
		list[n++] = head;
	size_t kept = n < PH_ARRAY_SIZE(list) ? n : PH_ARRAY_SIZE(list);
	uint64_t main_interp = 0;
	if (L->rt_interpreters_main)
		ph_mem_u64(mem, rt->runtime_addr + L->rt_interpreters_main,
			   &main_interp);
	/* The main one: interpreters.main if the list holds it; if not (a
	 * damaged list), it alone when it reads as an interpreter (id 0),
	 * else the list's last, as before 3.12 it always is. */
	size_t mi = kept - 1;
	bool on_list = false;
	for (size_t i = 0; i < kept; i++)
		if (list[i] == main_interp) {
			mi = i;
			on_list = true;
		}
	uint64_t main_id = 1;
	if (!on_list && main_interp && !(main_interp & 7) &&
	    ph_mem_u64(mem, main_interp + L->is_id, &main_id) && !main_id) {
		list[0] = main_interp;
		kept = 1;
		mi = 0;
	}
	rt->interps = calloc(kept, sizeof(*rt->interps));
	if (!rt->interps)
		return ph_error_nomem();
	uint64_t main_obm = 0;
	for (size_t k = 0; k < kept; k++) {
		/* main first, then oldest first (the list's end backwards) */
		size_t i = k == 0 ? mi : kept - k - (kept - k <= mi);
		uint64_t a = list[i];
		struct ph_interp *it = &rt->interps[rt->ninterps];
		it->addr = a;
		it->id = -1;
		ph_mem_u64(mem, a + L->is_id, (uint64_t *)&it->id);
		it->gc_state =
			L->rt_gc ? rt->runtime_addr + L->rt_gc : a + L->is_gc;
		if (L->is_obmalloc) {
			/* 3.12 embeds the state; 3.13+ point at it */
			it->obmalloc = a + L->is_obmalloc;
			if (L->minor >= 13 &&
			    !ph_mem_u64(mem, a + L->is_obmalloc, &it->obmalloc))
				it->obmalloc = 0;
			uint32_t flags = 0;
			ph_mem_u32(mem, a + L->is_feature_flags, &flags);
			if (k == 0)
				main_obm = it->obmalloc;
			/* Py_RTFLAGS_USE_MAIN_OBMALLOC (1 << 5) unset */
			it->own_obmalloc = k > 0 && !(flags & (1U << 5)) &&
					   it->obmalloc &&
					   it->obmalloc != main_obm;
		}
		bool dup = false;
		for (size_t j = 0; j < rt->ninterps; j++)
			dup |= rt->interps[j].id == it->id;
		/* damage: leave it out (ids count up from 0, one by one) */
		if (dup || (k > 0 && (it->id <= 0 || it->id >= (1LL << 32))))
			continue;
		rt->ninterps++;
	}
	rt->interps_unread = n - rt->ninterps;
	rt->main_interp = rt->interps[0].addr;
	rt->gc_state = rt->interps[0].gc_state;
	return NULL;
}

struct ph_error *ph_runtime_create(struct ph_target *t, struct ph_runtime **ret)
{
	struct ph_runtime *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return ph_error_nomem();
	rt->target = t;
	struct ph_memory *mem = &t->mem;
	struct ph_error *err = NULL;

	/* _PyRuntime lives in the executable or in libpython. */
	const struct ph_module *exe =
		t->exe_index >= 0 ? &t->mods[t->exe_index] : NULL;
	uint64_t addr = 0;
	if (exe && rt_symbol(rt, exe, "_PyRuntime", &addr))
		rt->pymod = exe;
	for (size_t i = 0; !rt->pymod && i < t->nmods; i++)
		if (is_libpython(t->mods[i].path) &&
		    rt_symbol(rt, &t->mods[i], "_PyRuntime", &addr))
			rt->pymod = &t->mods[i];
	if (!rt->pymod) {
		const char *name =
			exe ? (exe->disk_path ? exe->disk_path : exe->path)
			    : t->core_path;
		if (exe && !exe->opened)
			err = ph_error_create_path(
				PH_ERR_NO_PYTHON, exe->path,
				"cannot open the executable %s%s; give it "
				"with --exe or --sysroot",
				exe->disk_path ? exe->disk_path : exe->path,
				exe->disk_path ? "" : "");
		else if (t->notes_lost)
			/* libpython's name and place were in the notes */
			err = ph_error_create_path(
				PH_ERR_TRUNCATED, name,
				"its notes (the files the process mapped) are "
				"in the part that is missing, and %s has no "
				"_PyRuntime of its own: it is in a libpython "
				"the process loaded, which only the notes "
				"name; the heap cannot be read",
				name);
		else if (old_python(t, &name))
			/* CPython before 3.7 had no _PyRuntime */
			err = ph_error_create(
				PH_ERR_UNSUPPORTED,
				"Python older than 3.7 (%s has the C API but "
				"no "
				"_PyRuntime): not supported; supported: 3.8 to "
				"3.14",
				name);
		else
			err = ph_error_create(
				PH_ERR_NO_PYTHON,
				"not a Python process: no _PyRuntime symbol in "
				"%s or any libpython it loaded",
				name);
		goto fail;
	}
	rt->runtime_addr = addr;
	/* Py_DEBUG builds define (and export) these; release builds not. */
	uint64_t dbg;
	rt->debug_build =
		rt_symbol(rt, rt->pymod, "_Py_RefTotal", &dbg) ||
		rt_symbol(rt, rt->pymod, "_Py_NegativeRefcount", &dbg);
	/* Py_TRACE_REFS (never in Debian's builds) puts two list pointers
	 * before every object's refcount: other layouts altogether. */
	if (rt_symbol(rt, rt->pymod, "_Py_PrintReferences", &dbg)) {
		err = ph_error_create(PH_ERR_UNSUPPORTED,
				      "%s is a build of CPython with "
				      "Py_TRACE_REFS: not supported",
				      rt->pymod->path);
		goto fail;
	}
	/* Symbols the build does not export (pymalloc's arenas, the interned
	 * table) are in its debug information, when there is some. */
	ph_module_find_debuginfo(t, (struct ph_module *)rt->pymod);

	/* The version as the process itself states it. */
	uint64_t vaddr;
	uint32_t hexversion = 0;
	if (rt_symbol(rt, rt->pymod, "Py_Version", &vaddr)) {
		if (!ph_mem_u32(mem, vaddr, &hexversion)) {
			err = ph_error_create_at(PH_ERR_NOT_SAVED, vaddr,
						 "cannot read Py_Version at "
						 "0x%llx",
						 (unsigned long long)vaddr);
			goto fail;
		}
	} else if (!(hexversion = old_hexversion(rt))) {
		/* Either the memory that holds it is lost, or it is older */
		err = ph_error_create(PH_ERR_UNSUPPORTED,
				      "cannot read the Python version: no "
				      "Py_Version symbol in %s (older than "
				      "3.11), and no sys.hexversion where 3.8 "
				      "to 3.10 keep it: its memory damaged, "
				      "zeroed or not saved, or a Python older "
				      "than 3.8 (not supported; supported: 3.8 "
				      "to 3.15)",
				      rt->pymod->path);
		goto fail;
	}
	rt->hexversion = hexversion;
	unsigned major = hexversion >> 24, minor = (hexversion >> 16) & 0xff,
		 micro = (hexversion >> 8) & 0xff,
		 level = (hexversion >> 4) & 0xf, serial = hexversion & 0xf;
	const char *lv = level == 0xa	? "a"
			 : level == 0xb ? "b"
			 : level == 0xc ? "rc"
					: "";
	if (*lv)
		snprintf(rt->version, sizeof(rt->version), "%u.%u.%u%s%u",
			 major, minor, micro, lv, serial);
	else
		snprintf(rt->version, sizeof(rt->version), "%u.%u.%u", major,
			 minor, micro);
	/* A free-threaded build (3.13+) says so in its debug offsets; its
	 * symbols too (the biased refcounts' queue). */
	uint64_t ft_word = 0;
	bool ft = major == 3 && minor >= 13 &&
		  rt_symbol(rt, rt->pymod, "_Py_brc_queue_object", &dbg);
	if (major == 3 && minor >= 13 && ph_mem_u64(mem, addr + 16, &ft_word) &&
	    ft_word == 1)
		ft = true;
	rt->layout = ft ? ph_layout_for_ft(major, minor)
			: ph_layout_for(major, minor);
	if (!rt->layout && ft) {
		err = ph_error_create(PH_ERR_UNSUPPORTED,
				      "Python %s is a free-threaded build: "
				      "supported for 3.13 (3.13t) only",
				      rt->version);
		goto fail;
	}
	if (!rt->layout) {
		err = ph_error_create(PH_ERR_UNSUPPORTED,
				      "Python %s is not supported (supported: "
				      "3.8 to 3.15)",
				      rt->version);
		goto fail;
	}
	if (rt->debug_build) {
		rt->layout_copy = *rt->layout;
		if (!ph_layout_debug_adjust(&rt->layout_copy)) {
			err = ph_error_create(
				PH_ERR_UNSUPPORTED,
				"%s is a debug build of CPython %s "
				"(Py_DEBUG): not supported for this "
				"version (debug builds: 3.11, 3.13, "
				"3.14, 3.15)",
				rt->pymod->path, rt->version);
			goto fail;
		}
		rt->layout = &rt->layout_copy;
	}
	if (major == 3 && minor >= 13 && (err = apply_debug_offsets(rt)))
		goto fail;
	/* With DWARF at hand, the tables are checked against it. */
	if (rt->pymod->debug_map || rt->pymod->debug_source) {
		if (rt->layout != &rt->layout_copy) {
			rt->layout_copy = *rt->layout;
			rt->layout = &rt->layout_copy;
		}
		char *cache = layout_cache_path(rt->pymod, &rt->layout_copy);
		if (!layout_cache_load(cache, rt)) {
			/* A build seen for the first time: a core of it has
			 * no index yet, and its heap will be read whole. */
			struct ph_prefault *pf = ph_memory_prefault_start(mem);
			rt->dwarf_differ = ph_dwarf_check_layout(
				rt->pymod, &rt->layout_copy,
				&rt->dwarf_checked);
			ph_prefault_stop(pf);
			layout_cache_store(cache, rt);
		}
		free(cache);
		if (rt->dwarf_checked) {
			snprintf(rt->layout_source, sizeof(rt->layout_source),
				 "%s, %d fields checked against DWARF%s%s",
				 rt->layout_copy.source, rt->dwarf_checked,
				 rt->dwarf_differ ? " (some corrected)" : "",
				 rt->layout_cached ? " (the check's outcome "
						     "cached)"
						   : "");
			rt->layout_copy.source = rt->layout_source;
		}
	}
	const struct ph_layout *L = rt->layout;

	uint64_t head;
	if (!ph_mem_u64(mem, addr + L->rt_interpreters_head, &head)) {
		err = ph_error_create_at(PH_ERR_NOT_SAVED,
					 addr + L->rt_interpreters_head,
					 "cannot read _PyRuntime at 0x%llx",
					 (unsigned long long)addr);
		goto fail;
	}
	if (!head) {
		/* A runtime that was ever set up holds non-zero words near its
		 * start (3.13+: the debug offsets): all zeros is damage. */
		const uint8_t *p = ph_mem_ptr(mem, addr, 4096);
		size_t nz = 0;
		for (size_t i = 0; p && i < 4096; i++)
			nz += p[i] != 0;
		if (p && !nz)
			err = ph_error_create_at(
				PH_ERR_CORRUPT, addr,
				"_PyRuntime at 0x%llx reads as zeros (its "
				"memory in the core was zeroed or damaged, or "
				"Python was never initialized): no interpreter "
				"to read",
				(unsigned long long)addr);
		else
			err = ph_error_create(
				PH_ERR_NO_PYTHON,
				"the Python runtime has no "
				"interpreter (not initialized, or "
				"already finalized)");
		goto fail;
	}
	if ((err = find_interpreters(rt, head)))
		goto fail;

	for (int k = 1; k < PH_KIND_COUNT; k++)
		if (kind_symbols[k])
			rt_symbol(rt, rt->pymod, kind_symbols[k],
				  &rt->kind_types[k]);
	for (size_t i = 0; i < PH_ARRAY_SIZE(extra_symbols); i++) {
		const char *sym = extra_symbols[i].symbol;
		bool deref = *sym == '*';
		uint64_t a;
		if (!rt_symbol(rt, rt->pymod, sym + deref, &a))
			continue;
		if (deref && !ph_mem_u64(mem, a, &a))
			continue;
		if (extra_symbols[i].kind == PH_KIND_EXCEPTION)
			rt->kind_types[PH_KIND_EXCEPTION] = a;
		else {
			rt->extra_types[rt->nextra] = a;
			rt->extra_kinds[rt->nextra++] = extra_symbols[i].kind;
		}
	}
	rt_symbol(rt, rt->pymod, "_Py_NoneStruct", &rt->none_addr);
	uint64_t dummy_ptr;
	if (rt_symbol(rt, rt->pymod, "_PySet_Dummy", &dummy_ptr))
		ph_mem_u64(mem, dummy_ptr, &rt->set_dummy);
	if (!rt_symbol(rt, rt->pymod, "arenas", &rt->arenas_sym) ||
	    !rt_symbol(rt, rt->pymod, "maxarenas", &rt->maxarenas_sym))
		rt->arenas_sym = rt->maxarenas_sym = 0;
	if (L->interned_uncounted &&
	    !rt_symbol(rt, rt->pymod, "interned", &rt->interned_sym))
		rt->interned_sym = 0;
	if (L->static_method_cache &&
	    !rt_symbol(rt, rt->pymod, "method_cache", &rt->method_cache_sym))
		rt->method_cache_sym = 0;
	struct ph_symcache *sc = rt_symcache(rt, rt->pymod);
	if (sc)
		ph_symcache_objects_of_size(sc, L->sizeof_type, add_static_type,
					    rt);
	else
		ph_module_objects_of_size(rt->pymod, L->sizeof_type,
					  add_static_type, rt);
	rt_symcache_close(rt);
	if (!rt->kind_types[PH_KIND_TYPE] || !rt->kind_types[PH_KIND_OBJECT]) {
		err = ph_error_create(PH_ERR_NO_PYTHON,
				      "%s exports _PyRuntime but not "
				      "PyType_Type: not a CPython build "
				      "py-heap knows",
				      rt->pymod->path);
		goto fail;
	}
	*ret = rt;
	return NULL;
fail:
	rt_symcache_close(rt);
	ph_runtime_destroy(rt);
	return err;
}

void ph_runtime_destroy(struct ph_runtime *rt)
{
	if (!rt)
		return;
	free(rt->static_types);
	free(rt->interps);
	free(rt);
}
