/* symcache.c - the runtime's symbol lookups in a module, kept by build-id.
 *
 * Finding _PyRuntime, the static types and forty other symbols builds the
 * module's table of every symbol (a debug file has tens of thousands):
 * 80% of a run that the index and answers caches otherwise answer. Every
 * lookup made through a record is kept in it, found or not, with whether
 * the debug file was there (it is searched too, and may come later), and
 * written at the end to syms-BUILDID in the cache directory when the file
 * lacked some. A file that is damaged, cut, of another module or of
 * another py-heap build is not used (and replaced); PYHEAP_NO_CACHE: none.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symcache.h"

#define SC_MAGIC 0x31595350u /* "PSY1" */
#define SC_MAX_FILE (4u << 20)
#define SC_MAX_ENTRIES 4096
#define SC_MAX_NAME 255

struct sc_entry {
	char *name;	  /* NULL: the objects of a size */
	uint64_t size;	  /* the symbol's; or the size asked */
	uint64_t *values; /* link-time addresses (one for a symbol) */
	uint32_t nvalues; /* a symbol: 1 found, 0 not */
	bool with_debug;  /* the debug file was searched too */
};

struct ph_symcache {
	const struct ph_module *mod;
	struct sc_entry *e;
	size_t n, cap;
	size_t from_file; /* e[0, from_file) were read from the file */
	bool missed;	  /* a lookup the record could not answer */
	bool off;	  /* no file read or written: the module's file is
			   * not open (its lookups all fail) */
};

/* The file: a head, then the entries, each an sc_rec and its name (padded
 * to 8 bytes) or its values. */
struct sc_head {
	uint32_t magic, n;
	uint64_t self_build; /* ph_build_hash() of the writer */
	uint8_t build_id[64];
	uint32_t build_id_len, body_len;
	uint64_t sum; /* FNV-1a of the body */
};

struct sc_rec {
	uint8_t kind; /* 0 a symbol, 1 the objects of a size */
	uint8_t with_debug;
	uint8_t found; /* a symbol: 1, its value follows; 0, 0 follows */
	uint8_t pad;
	uint32_t len; /* a symbol: its name's; objects: the values' count */
	uint64_t size;
};

static bool with_debug(const struct ph_symcache *c)
{
	return c->mod->debug_map != NULL;
}

static struct sc_entry *sc_add(struct ph_symcache *c)
{
	if (c->n >= SC_MAX_ENTRIES ||
	    ph_grow((void **)&c->e, &c->cap, c->n + 1, sizeof(*c->e)))
		return NULL;
	struct sc_entry *e = &c->e[c->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

static void sc_clear(struct ph_symcache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].name);
		free(c->e[i].values);
	}
	c->n = c->from_file = 0;
}

static bool sc_zeros(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

bool ph_symcache_decode(struct ph_symcache *c, const uint8_t *data, size_t len)
{
	sc_clear(c);
	struct sc_head hd;
	if (len < sizeof(hd) || len > SC_MAX_FILE)
		return false;
	memcpy(&hd, data, sizeof(hd));
	const struct ph_module *m = c->mod;
	if (hd.magic != SC_MAGIC || hd.n > SC_MAX_ENTRIES ||
	    hd.self_build != ph_build_hash() ||
	    hd.build_id_len != m->build_id_len || !m->build_id_len ||
	    hd.build_id_len > sizeof(hd.build_id) ||
	    memcmp(hd.build_id, m->build_id, m->build_id_len) ||
	    !sc_zeros(hd.build_id + hd.build_id_len,
		      sizeof(hd.build_id) - hd.build_id_len) ||
	    hd.body_len != len - sizeof(hd) ||
	    hd.sum != ph_fnv1a(data + sizeof(hd), hd.body_len, PH_FNV_BASIS))
		return false;
	size_t off = sizeof(hd);
	for (uint32_t i = 0; i < hd.n; i++) {
		struct sc_rec r;
		if (len - off < sizeof(r))
			goto bad;
		memcpy(&r, data + off, sizeof(r));
		off += sizeof(r);
		struct sc_entry *e = sc_add(c);
		if (!e || r.kind > 1 || r.with_debug > 1 || r.found > 1 ||
		    r.pad || (r.kind && r.found))
			goto bad;
		e->with_debug = r.with_debug;
		e->size = r.size;
		if (r.kind == 0) {
			/* a value (0: not found), then the name */
			size_t padded = (r.len + 7) & ~7u;
			if (!r.len || r.len > SC_MAX_NAME ||
			    len - off < 8 + padded)
				goto bad;
			uint64_t v;
			memcpy(&v, data + off, 8);
			const char *name = (const char *)data + off + 8;
			if (memchr(name, 0, r.len) ||
			    !(e->name = strndup(name, r.len)))
				goto bad;
			off += 8 + padded;
			if (r.found) {
				if (!(e->values = malloc(8)))
					goto bad;
				e->values[0] = v;
				e->nvalues = 1;
			} else if (v || r.size) {
				goto bad;
			}
		} else {
			if (r.len > (len - off) / 8)
				goto bad;
			if (r.len) {
				if (!(e->values = malloc((size_t)r.len * 8)))
					goto bad;
				memcpy(e->values, data + off,
				       (size_t)r.len * 8);
			}
			e->nvalues = r.len;
			off += (size_t)r.len * 8;
		}
		/* each lookup once */
		for (size_t j = 0; j + 1 < c->n; j++) {
			const struct sc_entry *o = &c->e[j];
			if (o->with_debug == e->with_debug &&
			    !o->name == !e->name &&
			    (o->name ? !strcmp(o->name, e->name)
				     : o->size == e->size))
				goto bad;
		}
	}
	if (off != len)
		goto bad;
	c->from_file = c->n;
	return true;
bad:
	sc_clear(c);
	return false;
}

static char *sc_path(const struct ph_module *m)
{
	if (!m->build_id_len || getenv("PYHEAP_NO_CACHE"))
		return NULL;
	char name[8 + 129];
	strcpy(name, "syms-");
	for (size_t i = 0; i < m->build_id_len && i < 64; i++)
		sprintf(name + 5 + 2 * i, "%02x", m->build_id[i]);
	return ph_cache_file(name);
}

struct ph_symcache *ph_symcache_open(const struct ph_module *mod)
{
	struct ph_symcache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->mod = mod;
	c->off = !mod->opened;
	char *path = c->off ? NULL : sc_path(mod);
	size_t len;
	uint8_t *buf = path ? ph_cache_read(path, SC_MAX_FILE, &len) : NULL;
	if (buf)
		ph_symcache_decode(c, buf, len);
	free(buf);
	free(path);
	return c;
}

static bool sc_encode(const struct ph_symcache *c, struct ph_buf *b)
{
	struct sc_head hd = {SC_MAGIC,
			     (uint32_t)c->n,
			     ph_build_hash(),
			     {0},
			     (uint32_t)c->mod->build_id_len,
			     0,
			     0};
	memcpy(hd.build_id, c->mod->build_id, c->mod->build_id_len);
	ph_buf_putn(b, (const char *)&hd, sizeof(hd));
	static const uint8_t zeros[8];
	for (size_t i = 0; i < c->n; i++) {
		const struct sc_entry *e = &c->e[i];
		struct sc_rec r = {e->name ? 0 : 1,
				   e->with_debug,
				   e->name && e->nvalues,
				   0,
				   0,
				   e->size};
		if (e->name) {
			r.len = (uint32_t)strlen(e->name);
			uint64_t v = e->nvalues ? e->values[0] : 0;
			ph_buf_putn(b, (const char *)&r, sizeof(r));
			ph_buf_putn(b, (const char *)&v, 8);
			ph_buf_putn(b, e->name, r.len);
			ph_buf_putn(b, (const char *)zeros,
				    ((r.len + 7) & ~7u) - r.len);
		} else {
			r.len = e->nvalues;
			ph_buf_putn(b, (const char *)&r, sizeof(r));
			if (e->nvalues)
				ph_buf_putn(b, (const char *)e->values,
					    (size_t)e->nvalues * 8);
		}
	}
	if (b->failed || b->len > SC_MAX_FILE)
		return false;
	hd.body_len = (uint32_t)(b->len - sizeof(hd));
	hd.sum = ph_fnv1a((const uint8_t *)b->data + sizeof(hd), hd.body_len,
			  PH_FNV_BASIS);
	memcpy(b->data, &hd, sizeof(hd));
	return true;
}

static void sc_store(const struct ph_symcache *c)
{
	char *path = sc_path(c->mod);
	struct ph_buf b = {0};
	if (path && sc_encode(c, &b))
		ph_cache_write(path, b.data, b.len);
	free(path);
	ph_buf_free(&b);
}

void ph_symcache_close(struct ph_symcache *c)
{
	if (!c)
		return;
	if (c->n > c->from_file && !c->off)
		sc_store(c);
	sc_clear(c);
	free(c->e);
	free(c);
}

bool ph_symcache_all_cached(const struct ph_symcache *c)
{
	return c && !c->missed && c->n;
}

bool ph_symcache_symbol(struct ph_symcache *c, const char *name,
			uint64_t *ret_addr, uint64_t *ret_size)
{
	const struct ph_module *m = c->mod;
	bool dbg = with_debug(c);
	for (size_t i = 0; i < c->n; i++) {
		const struct sc_entry *e = &c->e[i];
		if (!e->name || e->with_debug != dbg || strcmp(e->name, name))
			continue;
		if (!e->nvalues)
			return false;
		*ret_addr = e->values[0] + m->bias;
		if (ret_size)
			*ret_size = e->size;
		return true;
	}
	c->missed = true;
	uint64_t addr = 0, size = 0;
	bool found = ph_module_symbol(m, name, &addr, &size);
	struct sc_entry *e;
	if (strlen(name) <= SC_MAX_NAME && (e = sc_add(c))) {
		e->with_debug = dbg;
		e->size = found ? size : 0;
		if (!(e->name = strdup(name)) ||
		    (found && !(e->values = malloc(8)))) {
			free(e->name);
			c->n--;
		} else if (found) {
			e->values[0] = addr - m->bias;
			e->nvalues = 1;
		}
	}
	if (found) {
		*ret_addr = addr;
		if (ret_size)
			*ret_size = size;
	}
	return found;
}

struct sc_objects {
	struct sc_entry *e;
	uint64_t bias;
	bool failed;
	void (*fn)(void *arg, const char *name, uint64_t addr);
	void *arg;
};

static void sc_objects_cb(void *arg, const char *name, uint64_t addr)
{
	struct sc_objects *o = arg;
	o->fn(o->arg, name, addr);
	struct sc_entry *e = o->e;
	if (!e || o->failed)
		return;
	uint64_t *v = realloc(e->values, (e->nvalues + 1) * sizeof(*v));
	if (!v) {
		o->failed = true;
		return;
	}
	e->values = v;
	e->values[e->nvalues++] = addr - o->bias;
}

void ph_symcache_objects_of_size(struct ph_symcache *c, uint64_t size,
				 void (*fn)(void *arg, const char *name,
					    uint64_t addr),
				 void *arg)
{
	const struct ph_module *m = c->mod;
	bool dbg = with_debug(c);
	for (size_t i = 0; i < c->n; i++) {
		const struct sc_entry *e = &c->e[i];
		if (e->name || e->with_debug != dbg || e->size != size)
			continue;
		for (uint32_t k = 0; k < e->nvalues; k++)
			fn(arg, "", e->values[k] + m->bias);
		return;
	}
	c->missed = true;
	struct sc_objects o = {sc_add(c), m->bias, false, fn, arg};
	if (o.e) {
		o.e->with_debug = dbg;
		o.e->size = size;
	}
	ph_module_objects_of_size(m, size, sc_objects_cb, &o);
	if (o.e && o.failed) { /* not kept: the record would be partial */
		free(o.e->values);
		c->n--;
	}
}
