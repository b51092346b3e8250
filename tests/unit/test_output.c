/* CUnit tests of what commands are made of: the JSON writer (strict
 * UTF-8 whatever the input), text made safe for a terminal and for DOT
 * labels, the option parser, and the graph's cycles (Tarjan, the
 * collector's view, the shortest loop) on graphs built here by hand. */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "graph.h"
#include "layout.h"
#include "memory.h"
#include "query.h"
#include "unicode.h"
#include "unit.h"

static char *json_of(const char *s, size_t n)
{
	struct ph_buf b;
	char *out;
	ph_buf_init(&b);
	ph_json_quote(&b, s, n);
	CU_ASSERT_PTR_NULL(ph_buf_finish(&b, &out));
	return out;
}

#define JSON_IS(in, n, want)                                                   \
	do {                                                                   \
		char *got_ = json_of(in, n);                                   \
		CU_ASSERT_STRING_EQUAL(got_, want);                            \
		free(got_);                                                    \
	} while (0)

static void test_json_strings(void)
{
	JSON_IS("a\"b\\c\n\x01", 7, "\"a\\\"b\\\\c\\n\\u0001\"");
	JSON_IS("", 0, "\"\"");
	/* NUL, DEL, ESC are escaped; printable UTF-8 passes */
	JSON_IS("a\0b\x7f\x1b", 5, "\"a\\u0000b\\u007f\\u001b\"");
	JSON_IS("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
		"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* C1 controls and the JS line separators are escaped */
	JSON_IS("\xc2\x85\xe2\x80\xa8", 5, "\"\\u0085\\u2028\"");
	/* a lone surrogate (as os.fsdecode makes: '\udcff') is itself */
	JSON_IS("name-\xed\xb3\xbf", 8, "\"name-\\udcff\"");
	/* bytes that start no valid sequence: surrogateescape */
	JSON_IS("\xff\xfe", 2, "\"\\udcff\\udcfe\"");
	/* overlong, truncated and out-of-range sequences */
	JSON_IS("\xc0\xaf", 2, "\"\\udcc0\\udcaf\"");
	JSON_IS("\xe2\x82", 2, "\"\\udce2\\udc82\"");
	JSON_IS("\xf4\x90\x80\x80", 4, "\"\\udcf4\\udc90\\udc80\\udc80\"");
}

static void test_json_writer(void)
{
	struct ph_buf b;
	struct ph_json j;
	char *out;
	ph_buf_init(&b);
	ph_json_init(&j, &b);
	ph_json_object_begin(&j);
	ph_json_key(&j, "a");
	ph_json_u64(&j, 1);
	ph_json_key(&j, "b");
	ph_json_array_begin(&j);
	ph_json_addr(&j, 0x10);
	ph_json_object_begin(&j);
	ph_json_object_end(&j);
	ph_json_null(&j);
	ph_json_array_end(&j);
	ph_json_key(&j, "c");
	ph_json_fixed(&j, 3.94, 1);
	ph_json_key(&j, "d");
	ph_json_i64(&j, -5);
	ph_json_object_end(&j);
	CU_ASSERT_PTR_NULL(ph_buf_finish(&b, &out));
	CU_ASSERT_STRING_EQUAL(out, "{\"a\": 1, \"b\": [\"0x10\", {}, null], "
				    "\"c\": 3.9, \"d\": -5}");
	free(out);
}

static void test_text_escape(void)
{
	struct ph_buf b;
	char *out;
	ph_buf_init(&b);
	/* ESC, a C1 control, a bidi override, a bad byte, a surrogate */
	const char in[] = "ok \x1b[31m \xc2\x9b \xe2\x80\xae \xff \xed\xb3\xbf "
			  "caf\xc3\xa9";
	ph_text_escape(&b, in, sizeof(in) - 1);
	CU_ASSERT_PTR_NULL(ph_buf_finish(&b, &out));
	CU_ASSERT_STRING_EQUAL(out, "ok \\x1b[31m \\x9b \\u202e \\xff \\udcff "
				    "caf\xc3\xa9");
	free(out);
	ph_buf_init(&b);
	ph_text_cell(&b, "ab", 4);
	ph_buf_putc(&b, '|');
	ph_text_cell(&b, "abcdef", 4);
	CU_ASSERT_PTR_NULL(ph_buf_finish(&b, &out));
	CU_ASSERT_STRING_EQUAL(out, "ab  |abcdef");
	free(out);
}

static char *row_of(bool plain, const char *fmt, const char *a, const char *b)
{
	struct ph_buf buf;
	char *out;
	ph_buf_init(&buf);
	ph_plain_set(plain);
	ph_text_row(&buf, fmt, a, b);
	ph_text_cell(&buf, "cell", 8);
	ph_text_sep(&buf);
	ph_text_row(&buf, "%6.2f%%\n", 12.5);
	ph_plain_set(false);
	CU_ASSERT_PTR_NULL(ph_buf_finish(&buf, &out));
	return out;
}

/* What repr() escapes, by the interpreter's Unicode version. */
static void test_unicode_printable(void)
{
	for (unsigned minor = 8; minor <= 16; minor++) {
		CU_ASSERT_TRUE(ph_unicode_printable(minor, ' '));
		CU_ASSERT_TRUE(ph_unicode_printable(minor, 0xe9));
		CU_ASSERT_TRUE(ph_unicode_printable(minor, 0x4e16));
		CU_ASSERT_TRUE(ph_unicode_printable(minor, 0x1f600));
		CU_ASSERT_FALSE(ph_unicode_printable(minor, '\n'));
		CU_ASSERT_FALSE(ph_unicode_printable(minor, 0x85));
		CU_ASSERT_FALSE(ph_unicode_printable(minor, 0xa0));
		CU_ASSERT_FALSE(ph_unicode_printable(minor, 0xad));
		CU_ASSERT_FALSE(ph_unicode_printable(minor, 0x200b));
		CU_ASSERT_FALSE(ph_unicode_printable(minor, 0x2028));
		CU_ASSERT_FALSE(ph_unicode_printable(minor, 0xd800));
		CU_ASSERT_FALSE(ph_unicode_printable(minor, 0xe000));
		CU_ASSERT_FALSE(ph_unicode_printable(minor, 0x10ffff));
		CU_ASSERT_FALSE(ph_unicode_printable(minor, 0xe0001));
	}
	/* U+1FAE8, assigned in Unicode 15.0 (CPython 3.12) */
	CU_ASSERT_FALSE(ph_unicode_printable(11, 0x1fae8));
	CU_ASSERT_TRUE(ph_unicode_printable(12, 0x1fae8));
	CU_ASSERT_TRUE(ph_unicode_printable(99, 0x1fae8));
	CU_ASSERT_STRING_EQUAL(ph_unicode_version(11), "14.0.0");
	CU_ASSERT_STRING_EQUAL(ph_unicode_version(8), "12.1.0");
	CU_ASSERT_PTR_NULL(ph_unicode_version(7));
}

static void test_text_plain(void)
{
	char c[32];
	CU_ASSERT_STRING_EQUAL(ph_fmt_count(36728, c), "36,728");
	ph_plain_set(true);
	CU_ASSERT_STRING_EQUAL(ph_fmt_count(36728, c), "36728");
	CU_ASSERT_STRING_EQUAL(ph_fmt_count(0, c), "0");
	ph_plain_set(false);
	char *out = row_of(false, "  %12s %-6s  ", "36,728", "ab");
	CU_ASSERT_STRING_EQUAL(out,
			       "        36,728 ab      cell      12.50%\n");
	free(out);
	/* plain: no widths, one tab between fields, none at the ends */
	out = row_of(true, "  %12s %-6s  ", "36728", "a b");
	CU_ASSERT_STRING_EQUAL(out, "36728\ta b\tcell\t12.50%\n");
	free(out);
	/* a long row is written whole */
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct ph_buf b;
	ph_buf_init(&b);
	ph_plain_set(true);
	ph_text_row(&b, "%s %s\n", big, "end");
	ph_plain_set(false);
	CU_ASSERT_PTR_NULL(ph_buf_finish(&b, &out));
	CU_ASSERT_EQUAL(strlen(out), sizeof(big) - 1 + 5);
	CU_ASSERT_STRING_EQUAL(out + sizeof(big) - 1, "\tend\n");
	free(out);
}

struct progress_log {
	int calls, ends;
	char what[64];
	uint64_t done, total;
};

static void progress_cb(void *arg, const char *what, uint64_t done,
			uint64_t total, double seconds)
{
	struct progress_log *l = arg;
	(void)seconds;
	if (!what) {
		l->ends++;
		return;
	}
	l->calls++;
	snprintf(l->what, sizeof(l->what), "%s", what);
	l->done = done;
	l->total = total;
}

static void *progress_worker(void *arg)
{
	(void)arg;
	ph_progress_stage("a worker's", 0); /* not the command's thread */
	ph_progress_tick();
	return NULL;
}

static void test_progress(void)
{
	struct progress_log l = {0};
	setenv("PYHEAP_PROGRESS_AFTER", "0", 1);
	ph_set_progress(progress_cb, &l);
	ph_progress_tick(); /* no command: nothing */
	CU_ASSERT_EQUAL(l.calls, 0);
	ph_progress_begin(false);
	ph_progress_stage("stage one", 10);
	CU_ASSERT_EQUAL(l.calls, 1);
	CU_ASSERT_STRING_EQUAL(l.what, "stage one");
	CU_ASSERT(l.done == 0 && l.total == 10);
	ph_progress_done(5);
	ph_progress_tick(); /* a tenth of a second has not passed */
	CU_ASSERT_EQUAL(l.calls, 1);
	pthread_t th;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, progress_worker, NULL),
			      0);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(l.calls, 1);
	/* work inside the command (diff opens a core) ends nothing */
	ph_progress_begin(false);
	ph_progress_end();
	CU_ASSERT_EQUAL(l.ends, 0);
	ph_progress_end();
	CU_ASSERT_EQUAL(l.ends, 1);
	/* quiet: nothing at all */
	ph_progress_begin(true);
	ph_progress_stage("quiet", 0);
	ph_progress_end();
	CU_ASSERT(l.calls == 1 && l.ends == 1);
	ph_set_progress(NULL, NULL);
	unsetenv("PYHEAP_PROGRESS_AFTER");
}

static void test_type_names(void)
{
	CU_ASSERT(ph_type_name_matches("dict", "dict"));
	CU_ASSERT(!ph_type_name_matches("dict", "dict2"));
	CU_ASSERT(ph_type_name_matches("__main__.*", "__main__.Session"));
	CU_ASSERT(ph_type_name_matches("*.Sess?on", "app.Session"));
	CU_ASSERT(!ph_type_name_matches("__main__.*", "dict"));
	CU_ASSERT(ph_type_module_matches("builtins", "dict"));
	CU_ASSERT(!ph_type_module_matches("builtins", "app.Session"));
	CU_ASSERT(ph_type_module_matches("myapp.*", "myapp.models.User"));
	CU_ASSERT(ph_type_module_matches("myapp.models",
					 "myapp.models.Outer.Inner"));
	CU_ASSERT(!ph_type_module_matches("myapp", "myapp2.User"));
	CU_ASSERT(!ph_type_module_matches("myapp.models", "myapp.models"));

	/* suggestions: the heap's names nearest to the one asked for */
	struct ph_type types[] = {
		{.name = "__main__.Session"},	     {.name = "dict"},
		{.name = "collections.OrderedDict"}, {.name = "str"},
		{.name = "__main__.Session"},	     {.name = NULL},
	};
	struct ph_heap h = {.types = types, .ntypes = PH_ARRAY_SIZE(types)};
	struct ph_error *err = ph_type_not_found(&h, "list", "Session");
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_NOT_FOUND);
	CU_ASSERT_STRING_EQUAL(ph_error_message(err),
			       "list: no type named 'Session' in the heap "
			       "(names as `types` prints them); did you mean "
			       "__main__.Session?");
	CU_ASSERT_EQUAL(err->nsuggestions, 1);
	ph_error_destroy(err);
	err = ph_type_not_found(&h, "list", "OrderDict");
	CU_ASSERT_STRING_EQUAL(err->suggestions, "collections.OrderedDict");
	ph_error_destroy(err);
	err = ph_type_not_found(&h, "list", "dcit");
	CU_ASSERT_STRING_EQUAL(err->suggestions, "dict");
	ph_error_destroy(err);
	err = ph_type_not_found(&h, "list", "zzzzzzzz");
	CU_ASSERT_PTR_NULL(err->suggestions);
	CU_ASSERT_PTR_NULL(strstr(ph_error_message(err), "did you mean"));
	ph_error_destroy(err);
	/* a glob that matches nothing says so, and suggests nothing */
	err = ph_type_not_found(&h, "list", "nope.*");
	CU_ASSERT_STRING_EQUAL(ph_error_message(err),
			       "list: no type matches 'nope.*' in the heap "
			       "(names as `types` prints them)");
	ph_error_destroy(err);
}

static struct ph_error *parse_line(const char *const *argv, int argc,
				   struct ph_args *a, bool *help)
{
	return ph_args_parse(ph_command_find(argv[0]), argc, argv, a, help);
}

static void test_args(void)
{
	struct ph_args a;
	bool help;
	struct ph_error *err;
	const char *v1[] = {"types", "--limit", "3", "--sort=count", "--json"};
	CU_ASSERT_PTR_NULL(parse_line(v1, 5, &a, &help));
	CU_ASSERT_EQUAL(ph_args_num(&a, "--limit", 25), 3);
	CU_ASSERT_STRING_EQUAL(ph_args_str(&a, "--sort", "size"), "count");
	CU_ASSERT(a.json);
	CU_ASSERT(!help);
	CU_ASSERT(!a.plain && !a.quiet);
	/* --plain and --quiet, as --json, anywhere */
	const char *vp[] = {"list",    "--plain", "dict",
			    "--quiet", "--items", "4"};
	CU_ASSERT_PTR_NULL(parse_line(vp, 6, &a, &help));
	CU_ASSERT(a.plain && a.quiet);
	CU_ASSERT_STRING_EQUAL(a.operand, "dict");
	struct ph_readable_opts ro = ph_args_readable(&a, 99);
	CU_ASSERT(ro.items == 4 && ro.depth == 3 && ro.str_len == 60 &&
		  ro.max_len == 99);
	const char *v2[] = {"types", "--limit=1", "--limit", "2"};
	err = parse_line(v2, 4, &a, &help);
	CU_ASSERT_PTR_NOT_NULL(err);
	CU_ASSERT_EQUAL(ph_error_code(err), PH_ERR_USAGE);
	CU_ASSERT_PTR_NOT_NULL(strstr(ph_error_message(err), "given twice"));
	ph_error_destroy(err);
	const char *v3[] = {"types", "--sort", "bytes"};
	err = parse_line(v3, 3, &a, &help);
	CU_ASSERT_PTR_NOT_NULL(err);
	ph_error_destroy(err);
	/* -- ends the options: an operand that looks like one */
	const char *v4[] = {"list", "--limit", "0", "--", "--weird"};
	CU_ASSERT_PTR_NULL(parse_line(v4, 5, &a, &help));
	CU_ASSERT_STRING_EQUAL(a.operand, "--weird");
	CU_ASSERT_EQUAL(ph_args_num(&a, "--limit", 50), 0);
	const char *v5[] = {"cycles", "--unreachable=yes"};
	err = parse_line(v5, 2, &a, &help);
	CU_ASSERT_PTR_NOT_NULL(err);
	ph_error_destroy(err);
	const char *v6[] = {"show", "0x10", "0x20"};
	err = parse_line(v6, 3, &a, &help);
	CU_ASSERT_PTR_NOT_NULL(err);
	ph_error_destroy(err);
	const char *v7[] = {"show", "--help"};
	CU_ASSERT_PTR_NULL(parse_line(v7, 2, &a, &help));
	CU_ASSERT(help);
	const char *v8[] = {"referrers", "--depth"};
	err = parse_line(v8, 2, &a, &help);
	CU_ASSERT_PTR_NOT_NULL(err);
	ph_error_destroy(err);
	const char *v9[] = {"types", "--limit", "-1"};
	err = parse_line(v9, 3, &a, &help);
	CU_ASSERT_PTR_NOT_NULL(err);
	ph_error_destroy(err);
	/* the table: every option of every command is well formed */
	for (size_t i = 0; i < ph_ncommands; i++) {
		const struct ph_cmddef *c = &ph_commands[i];
		CU_ASSERT_PTR_NOT_NULL(c->summary);
		CU_ASSERT_PTR_NOT_NULL(c->help);
		CU_ASSERT_PTR_NOT_NULL(c->run);
		size_t n = 0;
		for (; c->opts[n].name; n++) {
			const struct ph_optdef *o = &c->opts[n];
			CU_ASSERT(!strncmp(o->name, "--", 2));
			CU_ASSERT((o->kind == PH_OPT_FLAG) == !o->metavar);
			CU_ASSERT((o->kind == PH_OPT_CHOICE) == !!o->choices);
		}
		CU_ASSERT(n < PH_MAX_OPTS);
	}
}

/* A graph of n objects from an edge list, as graph.c would build it (the
 * forward edges only: all the cycle code reads). */
struct test_graph {
	struct ph_graph g;
	struct ph_heap h;
};

static void graph_from(struct test_graph *t, size_t n, const uint32_t (*e)[2],
		       size_t ne)
{
	memset(t, 0, sizeof(*t));
	t->h.n = n;
	t->g.h = &t->h;
	t->g.fwd_off = calloc(n + 1, sizeof(uint32_t));
	t->g.fwd = calloc(ne + 1, sizeof(uint32_t));
	for (size_t i = 0; i < ne; i++)
		t->g.fwd_off[e[i][0] + 1]++;
	for (size_t i = 0; i < n; i++)
		t->g.fwd_off[i + 1] += t->g.fwd_off[i];
	uint32_t *at = calloc(n + 1, sizeof(uint32_t));
	for (size_t i = 0; i < ne; i++)
		t->g.fwd[t->g.fwd_off[e[i][0]] + at[e[i][0]]++] = e[i][1];
	free(at);
	t->g.nedges = ne;
}

static void graph_free(struct test_graph *t)
{
	free(t->g.fwd_off);
	free(t->g.fwd);
}

static void test_scc(void)
{
	/* 0->1->2->0 (a cycle), 3->3 (a self-loop), 4->5 (none),
	 * 5->6->5 (a pair), 2->4 (joins them) */
	static const uint32_t e[][2] = {{0, 1}, {1, 2}, {2, 0}, {3, 3},
					{4, 5}, {5, 6}, {6, 5}, {2, 4}};
	struct test_graph t;
	graph_from(&t, 7, e, PH_ARRAY_SIZE(e));
	struct ph_scc sc;
	CU_ASSERT_PTR_NULL(ph_graph_scc(&t.g, &sc));
	CU_ASSERT_EQUAL(sc.ncomp, 3);
	CU_ASSERT_EQUAL(sc.comp[0], sc.comp[1]);
	CU_ASSERT_EQUAL(sc.comp[1], sc.comp[2]);
	CU_ASSERT_NOT_EQUAL(sc.comp[3], PH_NONE);
	CU_ASSERT_NOT_EQUAL(sc.comp[3], sc.comp[0]);
	CU_ASSERT_EQUAL(sc.comp[4], PH_NONE);
	CU_ASSERT_EQUAL(sc.comp[5], sc.comp[6]);
	CU_ASSERT_NOT_EQUAL(sc.comp[5], PH_NONE);
	/* the loop through a component: its members' bits set */
	uint32_t loop[8];
	uint64_t in = 0;
	for (uint32_t v = 0; v < 7; v++)
		in |= (uint64_t)(sc.comp[v] == sc.comp[1]) << v;
	size_t nl = ph_graph_scc_loop(&t.g, &in, 1, loop, 8);
	CU_ASSERT_EQUAL(nl, 3);
	CU_ASSERT_EQUAL(loop[0], 1);
	CU_ASSERT_EQUAL(loop[1], 2);
	CU_ASSERT_EQUAL(loop[2], 0);
	in = 1ULL << 3;
	nl = ph_graph_scc_loop(&t.g, &in, 3, loop, 8);
	CU_ASSERT_EQUAL(nl, 1);
	/* not through 4, outside the component (2->4 leaves it) */
	in = 1ULL << 5 | 1ULL << 6;
	nl = ph_graph_scc_loop(&t.g, &in, 5, loop, 8);
	CU_ASSERT_EQUAL(nl, 2);
	free(sc.comp);
	graph_free(&t);
}

static void test_scc_deep(void)
{
	/* one ring of a million objects: no recursion may follow it */
	size_t n = 1000000;
	uint32_t(*e)[2] = malloc(n * sizeof(*e));
	for (size_t i = 0; i < n; i++) {
		e[i][0] = (uint32_t)i;
		e[i][1] = (uint32_t)((i + 1) % n);
	}
	struct test_graph t;
	graph_from(&t, n, (const uint32_t(*)[2])e, n);
	free(e);
	struct ph_scc sc;
	CU_ASSERT_PTR_NULL(ph_graph_scc(&t.g, &sc));
	CU_ASSERT_EQUAL(sc.ncomp, 1);
	CU_ASSERT_EQUAL(sc.comp[0], sc.comp[n - 1]);
	free(sc.comp);
	graph_free(&t);
}

/* The collector's view: refcounts less the references among tracked
 * objects; what is held from outside is alive with all it reaches. */
static void test_gc_unreachable(void)
{
	/* 0 <-> 1: a cycle nothing else holds (garbage);
	 * 2 <-> 3: a cycle 2 of which is held once from outside;
	 * 3 -> 4: alive through it; 0 -> 5: 5 is not tracked */
	static const uint32_t e[][2] = {{0, 1}, {1, 0}, {2, 3},
					{3, 2}, {3, 4}, {0, 5}};
	static const uint64_t refcnt[] = {1, 1, 2, 1, 1, 1};
	static uint8_t mem[0x100];
	struct test_graph t;
	graph_from(&t, 6, e, PH_ARRAY_SIZE(e));
	uint64_t addr[6];
	uint32_t tidx[6] = {0};
	uint8_t flags[6];
	for (int i = 0; i < 6; i++) {
		addr[i] = 0x10000 + 0x20 * (uint64_t)i;
		memcpy(mem + 0x20 * i, &refcnt[i], 8);
		flags[i] = i == 5 ? 0 : PH_OBJ_GC_LIST;
	}
	struct ph_memory m;
	ph_memory_init(&m);
	CU_ASSERT_PTR_NULL(
		ph_memory_add(&m, 0x10000, 0x10100, mem, true, false));
	CU_ASSERT_PTR_NULL(ph_memory_finish(&m));
	struct ph_type type = {.kind = PH_KIND_OTHER};
	t.h.mem = &m;
	t.h.L = ph_layout_for(3, 11);
	t.h.addr = addr;
	t.h.tidx = tidx;
	t.h.flags = flags;
	t.h.types = &type;
	t.h.ntypes = 1;
	struct ph_error *err = NULL;
	uint8_t *dead = ph_graph_gc_unreachable(&t.g, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dead);
	CU_ASSERT_PTR_NULL(err);
	const uint8_t want[] = {1, 1, 0, 0, 0, 0};
	CU_ASSERT_EQUAL(memcmp(dead, want, 6), 0);
	free(dead);
	ph_memory_free(&m);
	graph_free(&t);
}

static void test_dot_quote(void)
{
	struct ph_buf b;
	char *out, c[32];
	ph_buf_init(&b);
	/* quotes and backslashes escaped, a line break as DOT's \n, control
	 * characters as for a terminal */
	ph_dot_quote(&b, "a \"q\" \\ b\nc\x1b", 100);
	ph_buf_putc(&b, ' ');
	/* cut by characters, never inside one: "\xc3\xa9" is one */
	ph_dot_quote(&b, "caf\xc3\xa9s", 4);
	ph_buf_putc(&b, ' ');
	ph_dot_quote(&b, "abc", 3);
	CU_ASSERT_PTR_NULL(ph_buf_finish(&b, &out));
	CU_ASSERT_STRING_EQUAL(out, "\"a \\\"q\\\" \\\\ b\\nc\\\\x1b\" "
				    "\"caf\xc3\xa9...\" \"abc\"");
	free(out);
	CU_ASSERT_STRING_EQUAL(ph_fmt_bytes(56, c), "56 B");
	CU_ASSERT_STRING_EQUAL(ph_fmt_bytes(1023, c), "1023 B");
	CU_ASSERT_STRING_EQUAL(ph_fmt_bytes(1536, c), "1.5 KiB");
	CU_ASSERT_STRING_EQUAL(ph_fmt_bytes(3555553, c), "3.4 MiB");
	CU_ASSERT_STRING_EQUAL(ph_fmt_bytes(UINT64_MAX, c), "16777216 TiB");
}

void ph_test_output_register(void)
{
	CU_pSuite s = CU_add_suite("output and commands", NULL, NULL);
	CU_add_test(s, "json: strict UTF-8 strings", test_json_strings);
	CU_add_test(s, "json: the writer", test_json_writer);
	CU_add_test(s, "text: escapes for a terminal", test_text_escape);
	CU_add_test(s, "text: plain, for tools", test_text_plain);
	CU_add_test(s, "unicode: what repr() escapes, by version",
		    test_unicode_printable);
	CU_add_test(s, "progress: when, on which thread, the end",
		    test_progress);
	CU_add_test(s, "type names: globs, modules, suggestions",
		    test_type_names);
	CU_add_test(s, "dot: labels quoted and cut", test_dot_quote);
	CU_add_test(s, "args: the option parser and the table", test_args);
	CU_add_test(s, "graph: components and loops", test_scc);
	CU_add_test(s, "graph: a ring of a million", test_scc_deep);
	CU_add_test(s, "graph: the collector's view", test_gc_unreachable);
}
