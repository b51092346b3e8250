/* query_heap.c - questions about the heap as a whole: types, list, info,
 * summary; and what every query shares (strings, the object an address
 * names). */
#define _GNU_SOURCE
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answercache.h"
#include "query.h"

/* ---- shared -------------------------------------------------------------- */

size_t ph_strings_add(struct ph_strings *st, const char *s, size_t n)
{
	/* offset 0 is "" (the empty string), always */
	if (!st->buf.len)
		ph_buf_putc(&st->buf, '\0');
	if (!n)
		return 0;
	size_t off = st->buf.len;
	ph_buf_putn(&st->buf, s, n);
	ph_buf_putc(&st->buf, '\0');
	return st->buf.failed ? 0 : off;
}

void ph_strings_free(struct ph_strings *st)
{
	ph_buf_free(&st->buf);
}

/* The object at v (an address), the heap read, and the graph's arrays of
 * need (graph set) */
static struct ph_error *object_at(struct ph_session *s, const char *cmd,
				  const char *v, bool graph, unsigned need,
				  uint32_t *ret)
{
	char *end;
	if (!v || !*v)
		return ph_error_create(PH_ERR_USAGE,
				       "%s: which object? give its address "
				       "(0x... as id() prints it in hex, or "
				       "decimal)",
				       cmd);
	unsigned long long addr = strtoull(v, &end, 0);
	if (*end || *v == '-')
		return ph_error_create(PH_ERR_USAGE,
				       "%s: '%s' is not an address", cmd, v);
	struct ph_error *err =
		graph ? ph_session_graph_need(s, need) : ph_session_heap(s);
	if (err)
		return err;
	uint32_t obj = ph_heap_lookup(s->heap, addr);
	if (obj == PH_NONE)
		return ph_error_create_at(PH_ERR_NOT_FOUND, addr,
					  "%s: no Python object at 0x%llx", cmd,
					  addr);
	*ret = obj;
	return NULL;
}

struct ph_error *ph_query_object_need(struct ph_session *s, const char *cmd,
				      const char *v, unsigned need,
				      uint32_t *ret)
{
	return object_at(s, cmd, v, true, need, ret);
}

struct ph_error *ph_query_heap_object(struct ph_session *s, const char *cmd,
				      const char *v, uint32_t *ret)
{
	return object_at(s, cmd, v, false, 0, ret);
}

/* ---- type names ---------------------------------------------------------- */

static bool is_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

bool ph_type_name_matches(const char *pattern, const char *name)
{
	return is_glob(pattern) ? !fnmatch(pattern, name, 0)
				: !strcmp(pattern, name);
}

bool ph_type_module_matches(const char *glob, const char *name)
{
	if (!strchr(name, '.'))
		return !fnmatch(glob, "builtins", 0);
	char buf[512];
	size_t len = strlen(name);
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, name, len + 1);
	/* every dotted prefix: a class nested in a class is in the module of
	 * its outer one (myapp.models.Outer.Inner: myapp.models) */
	for (char *dot = strrchr(buf, '.'); dot; dot = strrchr(buf, '.')) {
		*dot = '\0';
		if (!fnmatch(glob, buf, 0))
			return true;
	}
	return false;
}

/* The edit distance of a and b, a swap of two letters counting one
 * (dcit: dict), whatever the case; each cut at 63 bytes, else 99. */
static unsigned distance(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	if (na > 63 || nb > 63)
		return 99;
	unsigned d[64][64];
	for (size_t i = 0; i <= na; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= nb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= na; i++)
		for (size_t j = 1; j <= nb; j++) {
			int ca = tolower((unsigned char)a[i - 1]);
			int cb = tolower((unsigned char)b[j - 1]);
			unsigned v = d[i - 1][j - 1] + (ca != cb);
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 &&
			    ca == tolower((unsigned char)b[j - 2]) &&
			    cb == tolower((unsigned char)a[i - 2]) &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[na][nb];
}

static bool contains_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return true;
	return false;
}

/* How near a type name is to what was asked: 0 (its own name, without
 * the module), 1 (that, in another case), 2 + an edit distance, 20 (the
 * name contains it); 99: not near. */
static unsigned nearness(const char *asked, const char *name)
{
	const char *dot = strrchr(name, '.'), *own = dot ? dot + 1 : name;
	if (!strcmp(asked, own))
		return 0;
	if (!strcasecmp(asked, own) || !strcasecmp(asked, name))
		return 1;
	unsigned d = distance(asked, name), d2 = distance(asked, own);
	if (d2 < d)
		d = d2;
	/* a letter off in a short name, more in a long one */
	size_t len = strlen(asked);
	unsigned most = len <= 4 ? 1 : len / 3 > 2 ? (unsigned)(len / 3) : 2;
	if (d <= most)
		return 2 + d;
	if (strlen(asked) >= 3 && contains_nocase(name, asked))
		return 20;
	return 99;
}

#define PH_SUGGESTIONS 5

/* Is name (of nearness sc) to come before other: nearer, else shorter
 * (the builtin before a module's class of the same name), else first by
 * its letters. */
static bool nearer(unsigned sc, const char *name, unsigned other_sc,
		   const char *other)
{
	if (sc != other_sc)
		return sc < other_sc;
	if (strlen(name) != strlen(other))
		return strlen(name) < strlen(other);
	return strcmp(name, other) < 0;
}

struct ph_error *ph_type_not_found(struct ph_heap *h, const char *cmd,
				   const char *asked)
{
	const char *best[PH_SUGGESTIONS];
	unsigned score[PH_SUGGESTIONS];
	size_t n = 0;
	for (size_t i = 0; i < h->ntypes && !is_glob(asked); i++) {
		const char *name = h->types[i].name;
		if (!name)
			continue;
		unsigned sc = nearness(asked, name);
		if (sc == 99)
			continue;
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup |= !strcmp(best[k], name);
		if (dup || (n == PH_SUGGESTIONS &&
			    !nearer(sc, name, score[n - 1], best[n - 1])))
			continue;
		size_t k = n < PH_SUGGESTIONS ? n++ : n - 1;
		for (; k > 0 && nearer(sc, name, score[k - 1], best[k - 1]);
		     k--) {
			best[k] = best[k - 1];
			score[k] = score[k - 1];
		}
		best[k] = name;
		score[k] = sc;
	}
	struct ph_buf b;
	ph_buf_init(&b);
	for (size_t k = 0; k < n; k++)
		ph_buf_printf(&b, "%s%s", k ? (k + 1 < n ? ", " : " or ") : "",
			      best[k]);
	struct ph_error *err = ph_error_create(
		PH_ERR_NOT_FOUND,
		"%s: no type %s '%s' in the heap (names as `types` prints "
		"them)%s%s%s",
		cmd, is_glob(asked) ? "matches" : "named", asked,
		n ? "; did you mean " : "", n ? b.data : "", n ? "?" : "");
	if (n && err != ph_error_nomem()) {
		ph_buf_free(&b);
		ph_buf_init(&b);
		for (size_t k = 0; k < n; k++)
			ph_buf_printf(&b, "%s%c", best[k], '\0');
		if (!b.failed) {
			err->suggestions = b.data; /* NUL-separated */
			err->nsuggestions = n;
			return err;
		}
	}
	ph_buf_free(&b);
	return err;
}

uint8_t *ph_types_matching(struct ph_heap *h, const char *cmd,
			   const char *pattern, struct ph_error **ret_err)
{
	uint8_t *match = calloc(h->ntypes + 1, 1);
	bool any = false;
	if (!match) {
		*ret_err = ph_error_nomem();
		return NULL;
	}
	for (size_t i = 0; i < h->ntypes; i++)
		if (h->types[i].name &&
		    ph_type_name_matches(pattern, h->types[i].name))
			match[i] = any = 1;
	if (!any) {
		free(match);
		*ret_err = ph_type_not_found(h, cmd, pattern);
		return NULL;
	}
	return match;
}

/* ---- types --------------------------------------------------------------- */

static int row_by_bytes(const void *a, const void *b)
{
	const struct ph_type_row *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int row_by_retained(const void *a, const void *b)
{
	const struct ph_type_row *x = a, *y = b;
	if (x->retained_bytes != y->retained_bytes)
		return x->retained_bytes > y->retained_bytes ? -1 : 1;
	return row_by_bytes(a, b);
}

static int row_by_count(const void *a, const void *b)
{
	const struct ph_type_row *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Each interpreter's objects and bytes (--interp: that one's only). */
/* What types, summary and info count over every object: by type, by
 * interpreter, by GC generation. One pass, kept in the answers' cache
 * (answercache.c), so that a cached core's counts cost no pass at all. */
#define CENSUS_FORMAT 2

struct census {
	uint64_t *count, *bytes;     /* by type */
	uint64_t *iobjects, *ibytes; /* by interpreter */
	/* by type, of those with objects: 1 when their bytes are what
	 * __sizeof__ says (ph_type_size_exact, which reads the type's MRO
	 * and dicts in the core: a thousand reads a run otherwise) */
	uint8_t *exact;
	uint64_t gens[5];
	/* summary's: pymalloc's pools (their bytes, the blocks used, their
	 * bytes, the bytes free) and mimalloc's pages (their bytes, the
	 * blocks used, their bytes), which the index's records give only
	 * read whole (ph_objtable_index_pool, a record a pool) */
	uint64_t pools[7];
	struct ph_answers cache; /* where they are mapped, if they are */
};

static void census_free(struct census *c)
{
	if (c->cache.map)
		ph_answercache_release(&c->cache);
	else {
		free(c->count);
		free(c->bytes);
		free(c->iobjects);
		free(c->ibytes);
		free(c->exact);
	}
	memset(c, 0, sizeof(*c));
}

/* A part of one interpreter's census, counted by a thread into arrays of
 * its own; the parts are summed after (the same sums in any order). */
struct census_part {
	const struct ph_heap *h;
	size_t lo, hi;
	uint64_t *count, *bytes; /* nt + 1 each */
	uint64_t gens[8], all;
};

static void *census_worker(void *arg)
{
	struct census_part *p = arg;
	const struct ph_heap *h = p->h;
	const uint8_t *flags = h->flags;
	uint64_t all = 0;
	for (size_t i = p->lo; i < p->hi; i++) {
		uint32_t t = ph_tidx(h, i);
		uint64_t sz = ph_heap_obj_size(h, i);
		p->count[t]++;
		p->bytes[t] += sz;
		all += sz;
		p->gens[(flags[i] >> 4) & 7]++;
	}
	p->all = all;
	return NULL;
}

/* One interpreter's census (every object's), in chunks on the threads:
 * the pass was the last serial one over all objects of a cold `types`. */
static struct ph_error *census_one(const struct ph_heap *h, struct census *c,
				   uint64_t gens[8], uint64_t *ret_all)
{
	enum { K = 8 };
	size_t nt = h->ntypes;
	size_t k = h->n > (1 << 16) ? K : 1;
	struct census_part *p = calloc(k, sizeof(*p));
	uint64_t *arrays = k > 1 ? calloc(k * 2 * (nt + 1), 8) : NULL;
	if (!p || (k > 1 && !arrays)) {
		free(p);
		free(arrays);
		return ph_error_nomem();
	}
	for (size_t j = 0; j < k; j++) {
		p[j].h = h;
		p[j].lo = h->n * j / k;
		p[j].hi = h->n * (j + 1) / k;
		p[j].count = k > 1 ? arrays + 2 * j * (nt + 1) : c->count;
		p[j].bytes = k > 1 ? p[j].count + (nt + 1) : c->bytes;
	}
	ph_run_chunks(census_worker, p, sizeof(*p), k, k > 1);
	*ret_all = 0;
	for (size_t j = 0; j < k; j++) {
		if (k > 1)
			for (size_t t = 0; t <= nt; t++) {
				c->count[t] += p[j].count[t];
				c->bytes[t] += p[j].bytes[t];
			}
		for (int g = 0; g < 8; g++)
			gens[g] += p[j].gens[g];
		*ret_all += p[j].all;
	}
	free(arrays);
	free(p);
	return NULL;
}

static void pool_stats(struct ph_heap *h, uint64_t ret[7])
{
	memset(ret, 0, 7 * sizeof(*ret));
	for (size_t i = 0; i < h->npools; i++) {
		const struct ph_pool *p = &h->pools[i];
		if (!p->block_size)
			continue; /* (a sealed index's records: not checked) */
		uint32_t nfree = 0;
		for (int w = 0; w < 16; w++)
			nfree +=
				(uint32_t)__builtin_popcountll(p->free_bits[w]);
		uint64_t total_blocks =
			(h->L->pool_size - h->L->pool_overhead) / p->block_size;
		ret[0] += h->L->pool_size;
		ret[1] += p->nblocks - nfree;
		ret[2] += (uint64_t)(p->nblocks - nfree) * p->block_size;
		ret[3] += (total_blocks - (p->nblocks - nfree)) * p->block_size;
	}
	for (size_t i = 0; i < h->nmi_pages; i++) {
		const struct ph_mi_page *p = &h->mi_pages[i];
		uint64_t nb = (p->end - p->start) / p->bsize, nfree = 0;
		for (uint64_t w = 0; w < (nb + 63) / 64; w++)
			nfree +=
				(uint64_t)__builtin_popcountll(p->free_bits[w]);
		ret[4] += p->end - p->start;
		ret[5] += nb - nfree;
		ret[6] += (nb - nfree) * p->bsize;
	}
}

static struct ph_error *census_get(struct ph_session *s, struct census *c)
{
	struct ph_heap *h = s->heap;
	size_t nt = h->ntypes, ni = s->rt->ninterps;
	memset(c, 0, sizeof(*c));
	struct ph_answers *a = &c->cache;
	if (ph_answercache_load(h, "census", CENSUS_FORMAT, 5, a)) {
		if (a->val[0] == nt && a->val[1] == ni &&
		    a->bytes[0] == nt * 8 && a->bytes[1] == nt * 8 &&
		    a->bytes[2] == ni * 8 && a->bytes[3] == ni * 8 &&
		    a->bytes[4] == nt) {
			c->count = a->sec[0];
			c->bytes = a->sec[1];
			c->iobjects = a->sec[2];
			c->ibytes = a->sec[3];
			c->exact = a->sec[4];
			memcpy(c->gens, a->val + 2, sizeof(c->gens));
			memcpy(c->pools, a->val + 7, sizeof(c->pools));
			return NULL;
		}
		ph_answercache_release(a);
	}
	c->count = calloc(nt + 1, 8);
	c->bytes = calloc(nt + 1, 8);
	c->iobjects = calloc(ni + 1, 8);
	c->ibytes = calloc(ni + 1, 8);
	c->exact = calloc(nt + 1, 1);
	if (!c->count || !c->bytes || !c->iobjects || !c->ibytes || !c->exact) {
		census_free(c);
		return ph_error_nomem();
	}
	/* (gens[5..7] collect the generations past 4, counted as 0's) */
	uint64_t gens[8] = {0};
	if (!h->interp) {
		/* one interpreter: its sums are the totals */
		uint64_t all = 0;
		struct ph_error *err = census_one(h, c, gens, &all);
		if (err) {
			census_free(c);
			return err;
		}
		if (ni) {
			c->iobjects[0] = h->n;
			c->ibytes[0] = all;
		}
	} else {
		for (size_t i = 0; i < h->n; i++) {
			uint32_t t = ph_tidx(h, i);
			unsigned k = ph_heap_interp(h, (uint32_t)i);
			c->count[t]++;
			c->bytes[t] += ph_heap_obj_size(h, i);
			if (k < ni) {
				c->iobjects[k]++;
				c->ibytes[k] += ph_heap_obj_size(h, i);
			}
			gens[(h->flags[i] >> 4) & 7]++;
		}
	}
	memcpy(c->gens, gens, sizeof(c->gens));
	c->gens[0] += gens[5] + gens[6] + gens[7];
	for (size_t t = 0; t < nt; t++)
		c->exact[t] =
			c->count[t] && ph_type_size_exact(h, &h->types[t]);
	pool_stats(h, c->pools);
	const void *sec[5] = {c->count, c->bytes, c->iobjects, c->ibytes,
			      c->exact};
	uint64_t bytes[5] = {nt * 8, nt * 8, ni * 8, ni * 8, nt};
	uint64_t val[PH_ANSWER_VALS] = {nt, ni};
	memcpy(val + 2, c->gens, sizeof(c->gens));
	memcpy(val + 7, c->pools, sizeof(c->pools));
	if (h->cache_sum && ph_answercache_store(h, "census", CENSUS_FORMAT, 5,
						 sec, bytes, val))
		ph_stage("census cache written");
	return NULL;
}

/* Each interpreter's row; from the census c when the caller has one
 * (NULL: counted here). */
static struct ph_error *interp_rows(struct ph_session *s,
				    const struct census *have,
				    struct ph_interp_row **ret, size_t *ret_n)
{
	const struct ph_runtime *rt = s->rt;
	struct ph_heap *h = s->heap;
	struct ph_interp_row *rows = calloc(rt->ninterps, sizeof(*rows));
	if (!rows)
		return ph_error_nomem();
	for (size_t k = 0; k < rt->ninterps; k++) {
		rows[k].id = rt->interps[k].id;
		rows[k].own_allocator = rt->interps[k].own_obmalloc;
		uint64_t ts = 0;
		ph_mem_u64(h->mem, rt->interps[k].addr + h->L->is_threads_head,
			   &ts);
		for (; ts && rows[k].threads < 100000; rows[k].threads++)
			if (!ph_mem_u64(h->mem, ts + h->L->ts_next, &ts))
				ts = 0;
	}
	struct census c;
	struct ph_error *err = have ? NULL : census_get(s, &c);
	if (err) {
		free(rows);
		return err;
	}
	const struct census *cs = have ? have : &c;
	for (size_t k = 0; k < rt->ninterps; k++) {
		rows[k].objects = cs->iobjects[k];
		rows[k].bytes = cs->ibytes[k];
	}
	if (!have)
		census_free(&c);
	if (s->only_interp >= 0) {
		rows[0] = rows[s->only_interp];
		*ret_n = 1;
	} else
		*ret_n = rt->ninterps;
	*ret = rows;
	return NULL;
}

/* types, and the census's generations for summary (gens, if not NULL,
 * with every interpreter's objects): one count of the objects for both. */
static struct ph_error *query_types(struct ph_session *s,
				    const struct ph_types_opts *o,
				    struct ph_types_result **ret,
				    uint64_t *gens, uint64_t *pools)
{
	struct ph_error *err = ph_session_heap(s);
	if (err)
		return err;
	struct ph_heap *h = s->heap;
	struct ph_types_result *r = calloc(1, sizeof(*r));
	uint32_t *row_of = NULL;
	uint64_t *count = calloc(h->ntypes + 1, sizeof(*count));
	uint64_t *bytes = calloc(h->ntypes + 1, sizeof(*bytes));
	uint8_t *exact = malloc(h->ntypes + 1);
	if (!r || !count || !bytes || !exact) {
		err = ph_error_nomem();
		goto fail;
	}
	r->python = s->rt->version;
	/* every object's: counted once (for the interpreters' rows too), or
	 * read; with --interp, that interpreter's counted below */
	struct census cs;
	if ((err = census_get(s, &cs)))
		goto fail;
	err = interp_rows(s, &cs, &r->interps, &r->ninterps);
	memcpy(exact, cs.exact, h->ntypes);
	if (s->only_interp < 0) {
		for (size_t t = 0; t < h->ntypes; t++) {
			count[t] = cs.count[t];
			bytes[t] = cs.bytes[t];
			r->bytes += cs.bytes[t];
		}
		r->objects = h->n;
		if (gens)
			memcpy(gens, cs.gens, sizeof(cs.gens));
	}
	if (pools)
		memcpy(pools, cs.pools, sizeof(cs.pools));
	census_free(&cs);
	if (err)
		goto fail;
	for (size_t i = 0; i < h->n && s->only_interp >= 0; i++) {
		if (!ph_session_keeps(s, (uint32_t)i))
			continue;
		count[ph_tidx(h, i)]++;
		uint64_t size = ph_heap_obj_size(h, i);
		bytes[ph_tidx(h, i)] += size;
		r->bytes += size;
		r->objects++;
	}
	/* Types that share a name (a class defined twice) share a row, as
	 * they would in objgraph's or the user's own count by name. */
	struct ph_u64map by_name;
	ph_u64map_init(&by_name);
	if (!(r->rows = calloc(h->ntypes + 1, sizeof(*r->rows))) ||
	    (o->retained &&
	     !(row_of = calloc(h->ntypes + 1, sizeof(*row_of))))) {
		err = ph_error_nomem();
		goto fail;
	}
	for (size_t i = 0; i < h->ntypes; i++) {
		if (!count[i])
			continue;
		const char *name = tname(&h->types[i]);
		if (o->module && !ph_type_module_matches(o->module, name)) {
			/* (a row of its own past the others, for the
			 * retained sizes: no other row's) */
			r->objects -= count[i];
			r->bytes -= bytes[i];
			if (row_of)
				row_of[i] = (uint32_t)h->ntypes;
			continue;
		}
		bool inexact = !exact[i];
		uint64_t key = 1469598103934665603ULL;
		for (const char *c = name; *c; c++)
			key = (key ^ (unsigned char)*c) * 1099511628211ULL;
		key |= 1;
		uint32_t *row = ph_u64map_get(&by_name, key);
		if (row && !strcmp(r->rows[*row].name, name)) {
			r->rows[*row].count += count[i];
			r->rows[*row].bytes += bytes[i];
			r->rows[*row].size_inexact |= inexact;
			if (row_of)
				row_of[i] = *row;
			continue;
		}
		if (!row && (err = ph_u64map_put(&by_name, key,
						 (uint32_t)r->nrows, NULL))) {
			ph_u64map_free(&by_name);
			goto fail;
		}
		if (row_of)
			row_of[i] = (uint32_t)r->nrows;
		r->rows[r->nrows++] =
			(struct ph_type_row){.name = name,
					     .count = count[i],
					     .bytes = bytes[i],
					     .size_inexact = inexact};
	}
	for (size_t i = 0; i < r->nrows; i++)
		r->inexact += r->rows[i].size_inexact;
	ph_u64map_free(&by_name);
	if (row_of) {
		if ((err = ph_query_retained_by_type(s, row_of, r->rows,
						     !o->module)))
			goto fail;
		r->retained = true;
	}
	free(row_of);
	row_of = NULL;
	qsort(r->rows, r->nrows, sizeof(*r->rows),
	      o->by_count      ? row_by_count
	      : o->by_retained ? row_by_retained
			       : row_by_bytes);
	r->shown = o->limit && o->limit < r->nrows ? o->limit : r->nrows;
	for (size_t i = r->shown; i < r->nrows; i++) {
		r->rest_count += r->rows[i].count;
		r->rest_bytes += r->rows[i].bytes;
	}
	free(count);
	free(bytes);
	free(exact);
	*ret = r;
	return NULL;
fail:
	free(row_of);
	free(count);
	free(bytes);
	free(exact);
	ph_types_result_destroy(r);
	return err;
}

struct ph_error *ph_query_types(struct ph_session *s,
				const struct ph_types_opts *o,
				struct ph_types_result **ret)
{
	return query_types(s, o, ret, NULL, NULL);
}

void ph_types_result_destroy(struct ph_types_result *r)
{
	if (!r)
		return;
	free(r->rows);
	free(r->interps);
	free(r);
}

/* ---- list ---------------------------------------------------------------- */

/* list's order: the largest first, then by address */
struct list_key {
	uint64_t size, addr;
	uint32_t ob;
};

static int list_cmp(const void *a, const void *b)
{
	const struct list_key *x = a, *y = b;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The first k in list's order kept in a heap whose top is the last of
 * them: the rows shown of a type with many objects, without sorting them
 * all (a class of 500,000 instances, --limit 20). */
static void list_keep(struct list_key *heap, size_t *n, size_t k,
		      struct list_key key)
{
	size_t i;
	if (*n < k) {
		for (i = (*n)++; i && list_cmp(&heap[(i - 1) / 2], &key) < 0;
		     i = (i - 1) / 2)
			heap[i] = heap[(i - 1) / 2];
		heap[i] = key;
		return;
	}
	if (list_cmp(&key, &heap[0]) >= 0)
		return;
	for (i = 0;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && list_cmp(&heap[c + 1], &heap[c]) > 0)
			c++;
		if (list_cmp(&heap[c], &key) <= 0)
			break;
		heap[i] = heap[c];
		i = c;
	}
	heap[i] = key;
}

/* "listtop": list's first LT_KEEP objects of every type in list's order,
 * and every type's count, over every interpreter, kept in the answers'
 * cache: list TYPE --limit K (K up to LT_KEEP, no --min-size or --interp)
 * reads its type's rows instead of passing over every object's type. */
#define LT_FORMAT 1
#define LT_KEEP 64

static uint32_t lt_rows_of(uint32_t count)
{
	return count < LT_KEEP ? count : LT_KEEP;
}

/* The sections' sizes, what any read of the file checks first */
static bool lt_sizes(const struct ph_answers *a, const struct ph_heap *h)
{
	uint64_t nt = a->val[0], ne = a->val[1];
	return nt == h->ntypes && a->bytes[0] == (nt + 1) * 4 &&
	       a->bytes[1] == ne * 4 && a->bytes[2] == nt * 4;
}

/* Beside the sums (on bytes not yet known intact): the sizes, every
 * type's rows within the objects and as many as its count gives, the
 * objects below the object count */
static bool lt_check(const struct ph_answers *a, void *ctx)
{
	const struct ph_heap *h = ctx;
	uint64_t nt = a->val[0], ne = a->val[1], total = 0;
	const uint32_t *start = a->sec[0], *cnt = a->sec[2];
	bool ok = lt_sizes(a, h) && start[0] == 0 && start[nt] == ne;
	for (uint64_t t = 0; ok && t < nt; t++) {
		ok = start[t] <= start[t + 1] &&
		     start[t + 1] - start[t] == lt_rows_of(cnt[t]);
		total += cnt[t];
	}
	return ok && total <= h->n &&
	       ph_answercache_below(a->sec[1], ne, (uint32_t)h->n, 0);
}

/* The rows of the types match names, merged in list's order and cut to
 * limit (*ret, *ret_n), and their count: false if there is no file, or a
 * row read is damaged (a sealed file's rows are checked as read: an
 * object of its type, in list's order, as many as its count gives). */
static bool lt_read(struct ph_heap *h, const uint8_t *match, size_t limit,
		    struct list_key **ret, size_t *ret_n, size_t *ret_count)
{
	struct ph_answers a;
	if (!ph_answercache_load_rows(h, "listtop", LT_FORMAT, 3, lt_check, h,
				      &a))
		return false;
	uint64_t nt = a.val[0], ne = a.val[1];
	const uint32_t *start = a.sec[0], *obj = a.sec[1], *cnt = a.sec[2];
	bool ok = lt_sizes(&a, h);
	size_t nk = 0, count = 0, cap = 0;
	struct list_key *keys = NULL;
	for (uint64_t t = 0; ok && t < nt; t++) {
		if (!match[t])
			continue;
		uint32_t lo = start[t], hi = start[t + 1];
		ok = lo <= hi && hi <= ne && hi - lo == lt_rows_of(cnt[t]);
		struct ph_error *err =
			ok ? ph_grow((void **)&keys, &cap, nk + (hi - lo) + 1,
				     sizeof(*keys))
			   : NULL;
		if (err) {
			ph_error_destroy(err); /* (the pass, then) */
			ok = false;
		}
		count += ok ? cnt[t] : 0;
		for (uint32_t k = lo; ok && k < hi; k++) {
			uint32_t i = obj[k];
			ok = i < h->n && ph_tidx(h, i) == t;
			if (!ok)
				break;
			keys[nk] = (struct list_key){ph_heap_obj_size(h, i),
						     h->addr[i], i};
			ok = k == lo || list_cmp(&keys[nk - 1], &keys[nk]) < 0;
			nk++;
		}
	}
	ph_answercache_release(&a);
	if (!ok || count > h->n) {
		free(keys);
		return false;
	}
	if (nk)
		qsort(keys, nk, sizeof(*keys), list_cmp);
	*ret = keys;
	*ret_n = nk < limit ? nk : limit;
	*ret_count = count;
	return true;
}

/* Every type's first LT_KEEP in list's order and its count, in a pass
 * over every object, written to the file */
static bool lt_write(struct ph_heap *h)
{
	size_t nt = h->ntypes;
	uint32_t *cnt = calloc(nt + 1, 4), *start = calloc(nt + 2, 4);
	size_t *kept = calloc(nt + 1, sizeof(*kept));
	struct list_key *keys = NULL;
	uint32_t *obj = NULL;
	bool ok = false;
	if (!cnt || !start || !kept)
		goto out;
	for (size_t i = 0; i < h->n; i++)
		cnt[ph_tidx(h, i)]++;
	for (size_t t = 0; t < nt; t++)
		start[t + 1] = start[t] + lt_rows_of(cnt[t]);
	if (!(keys = malloc((start[nt] + 1) * sizeof(*keys))) ||
	    !(obj = malloc((start[nt] + 1) * 4)))
		goto out;
	for (size_t i = 0; i < h->n; i++) {
		uint32_t t = ph_tidx(h, i);
		if (t >= nt)
			continue; /* (no type: none of list's) */
		list_keep(keys + start[t], &kept[t], LT_KEEP,
			  (struct list_key){ph_heap_obj_size(h, i), h->addr[i],
					    (uint32_t)i});
	}
	for (size_t t = 0; t < nt; t++) {
		qsort(keys + start[t], kept[t], sizeof(*keys), list_cmp);
		for (size_t k = 0; k < kept[t]; k++)
			obj[start[t] + k] = keys[start[t] + k].ob;
	}
	const void *sec[3] = {start, obj, cnt};
	uint64_t bytes[3] = {((uint64_t)nt + 1) * 4, (uint64_t)start[nt] * 4,
			     (uint64_t)nt * 4};
	uint64_t val[PH_ANSWER_VALS] = {nt, start[nt]};
	ok = ph_answercache_store(h, "listtop", LT_FORMAT, 3, sec, bytes, val);
out:
	free(cnt);
	free(start);
	free(kept);
	free(keys);
	free(obj);
	return ok;
}

struct ph_error *ph_query_list(struct ph_session *s,
			       const struct ph_list_opts *o,
			       struct ph_list_result **ret)
{
	if (!o->type)
		return ph_error_create(PH_ERR_USAGE,
				       "list: which type? e.g. list dict");
	struct ph_error *err = ph_session_heap(s);
	if (err)
		return err;
	struct ph_heap *h = s->heap;
	/* Several type objects may share a name (classes redefined). */
	uint8_t *match = ph_types_matching(h, "list", o->type, &err);
	if (!match)
		return err;
	/* every match's key, or (--limit) the first that many */
	struct list_key *keys = NULL;
	size_t n = 0, nkept = 0, cap = 0;
	bool rows = o->limit && o->limit <= LT_KEEP && !o->min_size &&
		    s->only_interp < 0 && h->cache_sum;
	if (rows) {
		ph_stage(NULL);
		if (lt_read(h, match, o->limit, &keys, &nkept, &n))
			ph_stage("list's largest read");
		else if (lt_write(h) &&
			 lt_read(h, match, o->limit, &keys, &nkept, &n))
			ph_stage("list's largest written");
		else
			rows = false;
	}
	for (size_t i = 0; i < h->n && !rows; i++) {
		uint64_t size;
		if (!match[ph_tidx(h, i)] ||
		    (size = ph_heap_obj_size(h, i)) < o->min_size ||
		    !ph_session_keeps(s, (uint32_t)i))
			continue;
		struct list_key key = {size, h->addr[i], (uint32_t)i};
		n++;
		if ((!o->limit || nkept < o->limit) &&
		    (err = ph_grow((void **)&keys, &cap, nkept + 1,
				   sizeof(*keys)))) {
			free(match);
			free(keys);
			return err;
		}
		if (o->limit)
			list_keep(keys, &nkept, o->limit, key);
		else
			keys[nkept++] = key;
	}
	free(match);
	if (nkept && !rows)
		qsort(keys, nkept, sizeof(*keys), list_cmp);
	struct ph_list_result *r = calloc(1, sizeof(*r));
	size_t shown = nkept;
	if (!r || !(r->rows = calloc(shown + 1, sizeof(*r->rows)))) {
		free(r);
		free(keys);
		return ph_error_nomem();
	}
	r->type = o->type;
	r->count = n;
	r->shown = shown;
	struct ph_buf tmp;
	ph_buf_init(&tmp);
	for (size_t i = 0; i < shown; i++) {
		uint32_t ob = keys[i].ob;
		tmp.len = 0;
		ph_repr_object(h, h->addr[ob], ph_tidx(h, ob), &tmp);
		r->rows[i] = (struct ph_list_row){
			.addr = h->addr[ob],
			.size = ph_heap_obj_size(h, ob),
			.repr = ph_strings_add(&r->str, tmp.data, tmp.len)};
	}
	bool failed = tmp.failed || r->str.buf.failed;
	ph_buf_free(&tmp);
	free(keys);
	if (failed) {
		ph_list_result_destroy(r);
		return ph_error_nomem();
	}
	*ret = r;
	return NULL;
}

void ph_list_result_destroy(struct ph_list_result *r)
{
	if (!r)
		return;
	free(r->rows);
	ph_strings_free(&r->str);
	free(r);
}

/* ---- info ---------------------------------------------------------------- */

struct ph_error *ph_query_info(struct ph_session *s,
			       struct ph_info_result **ret)
{
	struct ph_error *err = ph_session_heap(s);
	if (err)
		return err;
	struct ph_info_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	struct ph_target *t = s->target;
	struct ph_heap *h = s->heap;
	r->interps_unread = s->rt->interps_unread;
	if ((err = interp_rows(s, NULL, &r->interps, &r->ninterps))) {
		free(r);
		return err;
	}
	const struct ph_module *exe =
		t->exe_index >= 0 ? &t->mods[t->exe_index] : NULL;
	if (exe)
		for (size_t i = 0; i < exe->build_id_len && i < 64; i++)
			snprintf(r->build_id + 2 * i, 3, "%02x",
				 exe->build_id[i]);
	const struct ph_module *pm = s->rt->pymod;
	r->version = ph_version();
	r->python = s->rt->version;
	r->debug_build = s->rt->debug_build;
	r->free_threaded = s->rt->layout->free_threaded;
	r->mi_pages = h->nmi_pages;
	if (r->free_threaded)
		r->allocator = h->block_head ? "mimalloc with debug hooks"
					     : "mimalloc";
	else
		r->allocator = h->block_head ? "pymalloc with debug hooks"
					     : "pymalloc";
	r->executable =
		exe ? (exe->disk_path ? exe->disk_path : exe->path) : "";
	r->runtime_in = pm->path;
	r->runtime_address = s->rt->runtime_addr;
	r->layout_source = s->rt->layout->source;
	r->layout_cached = s->rt->layout_cached;
	r->symbols_cached = s->rt->symbols_cached;
	r->index_cache = h->cache_loaded       ? "read"
			 : h->cache_written    ? "written"
			 : h->cache_ignored[0] ? "ignored"
					       : "off";
	r->index_cache_ignored = h->cache_ignored[0] ? h->cache_ignored : NULL;
	r->index_cache_sealed = h->cache_sealed;
	r->threads = t->nthreads;
	r->objects = h->n;
	r->found_gc = h->n_gc;
	r->found_ref = h->n_ref;
	r->found_root = h->n_root;
	r->found_pool = h->n_pool;
	r->types = h->ntypes;
	r->pools = h->npools;
	r->pool_source = h->arena_source;
	r->debug_file = pm->debug_path;
	r->debug_source = pm->debug_source;
	r->memory_not_saved = t->mem.bytes_missing;
	r->gc_list_damaged = h->gc_list_damaged;
	r->gc_zeroed_links = h->gc_zeroed_links;
	r->gc_bad_objects = h->gc_bad_objects;
	r->gc_zeroed_objects = h->gc_zeroed_objects;
	r->gc_damaged_objects = h->gc_damaged_objects;
	r->refs_into_missing = h->refs_into_missing;
	r->refs_to_zeros = h->refs_to_zeros;
	r->refs_to_damaged = h->refs_to_damaged;
	r->refs_wild = h->refs_wild;
	r->pools_inconsistent = h->pools_inconsistent;
	*ret = r;
	return NULL;
}

void ph_info_result_destroy(struct ph_info_result *r)
{
	if (r)
		free(r->interps);
	free(r);
}

/* ---- summary ------------------------------------------------------------- */

struct ph_error *ph_query_summary(struct ph_session *s,
				  struct ph_summary_result **ret)
{
	struct ph_summary_result *r = calloc(1, sizeof(*r));
	if (!r)
		return ph_error_nomem();
	/* the top types, by bytes, as the types query counts them */
	struct ph_types_opts to = {.limit = 10};
	uint64_t pools[7];
	struct ph_error *err = query_types(s, &to, &r->types, r->gens, pools);
	if (err) {
		free(r);
		return err;
	}
	struct ph_heap *h = s->heap;
	r->python = s->rt->version;
	r->threads = s->target->nthreads;
	for (size_t i = 0; i < h->n && s->only_interp >= 0; i++) {
		if (!ph_session_keeps(s, (uint32_t)i))
			continue;
		unsigned gen = (h->flags[i] >> 4) & 7;
		r->gens[gen < 5 ? gen : 0]++;
	}
	r->pool_bytes = pools[0];
	r->used_blocks = pools[1];
	r->used_bytes = pools[2];
	r->free_bytes = pools[3];
	r->pools = h->npools;
	r->free_threaded = h->L->free_threaded;
	r->mi_bytes = pools[4];
	r->mi_used_blocks = pools[5];
	r->mi_used_bytes = pools[6];
	r->mi_pages = h->nmi_pages;
	r->fragmentation_percent =
		r->pool_bytes
			? 100.0 * (double)r->free_bytes / (double)r->pool_bytes
			: 0;
	*ret = r;
	return NULL;
}

void ph_summary_result_destroy(struct ph_summary_result *r)
{
	if (!r)
		return;
	ph_types_result_destroy(r->types);
	free(r);
}
