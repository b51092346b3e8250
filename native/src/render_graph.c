/* render_graph.c - graph: the objects around one as a picture. py-heap
 * writes the DOT; graphviz's libraries (libgvc, libcgraph) lay it out and
 * draw it as SVG or PNG, in this process: no `dot` is run. They are opened
 * (dlopen) when the first picture is drawn, not linked: loading and
 * relocating them and the five libraries they need cost every run of
 * py-heap, most of which draw nothing. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include "command.h"
#include "query.h"

const char *ph_fmt_bytes(uint64_t n, char out[32])
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	if (n < 1024) {
		snprintf(out, 32, "%llu B", (unsigned long long)n);
		return out;
	}
	double v = (double)n / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(*units))
		v /= 1024, u++;
	snprintf(out, 32, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
	return out;
}

void ph_dot_quote(struct ph_buf *b, const char *s, size_t max)
{
	struct ph_buf t;
	ph_buf_init(&t);
	/* line by line: escaped text holds no '\n', which ends a line */
	for (const char *p = s ? s : "";;) {
		const char *nl = strchr(p, '\n');
		ph_text_escape(&t, p, nl ? (size_t)(nl - p) : strlen(p));
		if (!nl)
			break;
		ph_buf_putc(&t, '\n');
		p = nl + 1;
	}
	/* cut at a character, not inside one */
	size_t chars = 0, end = 0;
	bool cut = false;
	for (size_t i = 0; i < t.len; i++) {
		if (((unsigned char)t.data[i] & 0xc0) == 0x80)
			continue;
		if (chars++ == max) {
			cut = true;
			break;
		}
		end = i + 1;
		while (end < t.len &&
		       ((unsigned char)t.data[end] & 0xc0) == 0x80)
			end++;
	}
	ph_buf_putc(b, '"');
	for (size_t i = 0; i < end; i++) {
		char c = t.data[i];
		if (c == '\n') {
			ph_buf_puts(b, "\\n");
			continue;
		}
		if (c == '"' || c == '\\')
			ph_buf_putc(b, '\\');
		ph_buf_putc(b, c);
	}
	if (cut)
		ph_buf_puts(b, "...");
	ph_buf_putc(b, '"');
	ph_buf_free(&t);
}

/* A node's name in the DOT: objects by address (o7f3daab80290), the
 * others by number. */
static void node_name(struct ph_buf *b, const struct ph_subgraph_result *r,
		      size_t i)
{
	const struct ph_sg_node *n = &r->nodes[i];
	if (n->kind == PH_SG_OBJECT)
		ph_buf_printf(b, "o%llx", (unsigned long long)n->obj.addr);
	else
		ph_buf_printf(b, "%c%zu", n->kind == PH_SG_FOLD ? 'f' : 'r', i);
}

static void object_label(struct ph_buf *lab, const struct ph_subgraph_result *r,
			 const struct ph_sg_node *n)
{
	char c1[32], c2[32], c3[32];
	const char *repr = ph_strings_get(&r->str, n->label);
	ph_buf_printf(lab, "%s\n", n->obj.type);
	/* (a default repr says again the type and address shown) */
	if (*repr && strcmp(repr, n->obj.type) &&
	    !(repr[0] == '<' && strstr(repr, " object at 0x"))) {
		/* the repr's first 40 characters, on one line */
		size_t before = lab->len;
		ph_buf_puts(lab, repr);
		size_t chars = 0;
		for (size_t i = before; i < lab->len; i++) {
			if (((unsigned char)lab->data[i] & 0xc0) == 0x80)
				continue;
			if (chars++ == 40) {
				lab->len = i;
				ph_buf_puts(lab, "...");
				break;
			}
		}
		ph_buf_putc(lab, '\n');
	}
	ph_buf_printf(lab, "0x%llx\n%s", (unsigned long long)n->obj.addr,
		      ph_fmt_bytes(n->size, c1));
	if (n->retained_objects > 1)
		ph_buf_printf(lab, ", retains %s (%s objects)",
			      ph_fmt_bytes(n->retained_bytes, c2),
			      ph_fmt_count(n->retained_objects, c3));
	if (n->more)
		ph_buf_printf(lab, "\n+%s not drawn",
			      ph_fmt_count(n->more, c1));
	if (n->other_interp)
		ph_buf_printf(lab, "\n+%s of other interpreters",
			      ph_fmt_count(n->other_interp, c1));
}

void ph_dot_subgraph(const struct ph_subgraph_result *r, const char *name,
		     struct ph_buf *out)
{
	struct ph_buf lab;
	ph_buf_init(&lab);
	char c1[32], c2[32];
	ph_buf_puts(out, "digraph ");
	ph_dot_quote(out, name, 200);
	ph_buf_puts(out,
		    " {\n"
		    "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=10, "
		    "nodesep=0.25, ranksep=0.45];\n"
		    "  node [shape=box, style=\"rounded,filled\", "
		    "fillcolor=\"#f5f5f5\", color=\"#777777\", "
		    "fontname=\"Helvetica\", fontsize=10];\n"
		    "  edge [fontname=\"Helvetica\", fontsize=9, "
		    "color=\"#666666\", fontcolor=\"#444444\"];\n");
	for (size_t i = 0; i < r->nnodes; i++) {
		const struct ph_sg_node *n = &r->nodes[i];
		lab.len = 0;
		ph_buf_puts(out, "  ");
		node_name(out, r, i);
		ph_buf_puts(out, " [label=");
		switch (n->kind) {
		case PH_SG_OBJECT:
			object_label(&lab, r, n);
			ph_buf_putc(&lab, '\0');
			ph_dot_quote(out, lab.data, 400);
			if (n->target)
				ph_buf_puts(out, ", fillcolor=\"#cfe3ff\", "
						 "penwidth=2");
			else if (n->on_path)
				ph_buf_puts(out, ", fillcolor=\"#eef4fb\"");
			if (n->in_cycle)
				ph_buf_puts(out, ", color=\"#c62828\"");
			break;
		case PH_SG_FOLD:
			if (!n->obj.type && n->on_path)
				ph_buf_printf(
					&lab, "%s more steps up to\n%s",
					ph_fmt_count(n->count, c1),
					ph_strings_get(&r->str, r->path_root));
			else
				ph_buf_printf(&lab, "%s more %s\n(%s)",
					      ph_fmt_count(n->count, c1),
					      n->obj.type ? n->obj.type
							  : "objects of other "
							    "types",
					      ph_fmt_bytes(n->size, c2));
			ph_buf_putc(&lab, '\0');
			ph_dot_quote(out, lab.data, 200);
			ph_buf_puts(out,
				    ", shape=note, style=\"dashed,filled\", "
				    "fillcolor=white");
			break;
		case PH_SG_ROOT: {
			/* a frame's root on two lines: what, then where */
			const char *rn = ph_strings_get(&r->str, n->label);
			const char *at = strstr(rn, " at ");
			if (at && strlen(rn) > 40) {
				ph_buf_putn(&lab, rn, (size_t)(at - rn));
				ph_buf_puts(&lab, "\n");
				ph_buf_puts(&lab, at + 1);
			} else
				ph_buf_puts(&lab, rn);
			if (n->count)
				ph_buf_printf(&lab, "\n(+%s more roots)",
					      ph_fmt_count(n->count, c1));
			ph_buf_putc(&lab, '\0');
			ph_dot_quote(out, lab.data, 90);
			ph_buf_puts(out, ", shape=box, style=filled, "
					 "fillcolor=\"#ffe8a3\"");
			break;
		}
		}
		ph_buf_puts(out, "];\n");
	}
	for (size_t e = 0; e < r->nedges; e++) {
		const struct ph_sg_edge *ed = &r->edges[e];
		ph_buf_puts(out, "  ");
		node_name(out, r, ed->src);
		ph_buf_puts(out, " -> ");
		node_name(out, r, ed->dst);
		ph_buf_puts(out, " [label=");
		ph_dot_quote(out, ph_strings_get(&r->str, ed->via), 30);
		if (ed->in_cycle)
			ph_buf_puts(out, ", color=\"#c62828\", "
					 "fontcolor=\"#c62828\", penwidth=1.6");
		else if (ed->on_path)
			ph_buf_puts(out, ", penwidth=2, color=\"#1f5fa8\"");
		if (r->nodes[ed->src].kind == PH_SG_FOLD ||
		    r->nodes[ed->dst].kind == PH_SG_FOLD)
			ph_buf_puts(out, ", style=dashed");
		ph_buf_puts(out, "];\n");
	}
	ph_buf_puts(out, "}\n");
	ph_buf_free(&lab);
}

/* graphviz's messages, kept for the error rather than printed */
static char gv_message[256];

static int gv_error(char *msg)
{
	snprintf(gv_message, sizeof(gv_message), "%s", msg);
	size_t n = strlen(gv_message);
	while (n && (gv_message[n - 1] == '\n' || gv_message[n - 1] == ' '))
		gv_message[--n] = '\0';
	return 0;
}

/* graphviz's functions py-heap calls, found in its libraries (by their
 * sonames: those of Debian's libgvc6 and libcgraph6) on first use; the
 * headers give their types. The libraries stay loaded. */
#define GV_FUNCS(X)                                                            \
	X(cgraph, agseterrf)                                                   \
	X(cgraph, agseterr)                                                    \
	X(cgraph, agmemread)                                                   \
	X(cgraph, agclose)                                                     \
	X(gvc, gvContext)                                                      \
	X(gvc, gvLayout)                                                       \
	X(gvc, gvRenderData)                                                   \
	X(gvc, gvFreeRenderData)                                               \
	X(gvc, gvFreeLayout)

static struct {
#define GV_FIELD(lib, name) __typeof__(name) *name;
	GV_FUNCS(GV_FIELD)
#undef GV_FIELD
} gv;

static const char *const gv_lib_file[] = {"libgvc.so.6", "libcgraph.so.6"};

/* Opens graphviz's libraries and finds its functions in them, once (under
 * gv_lock); NULL, or why not. A failure is not remembered: the next picture
 * tries again. */
static struct ph_error *gv_load(void)
{
	static bool loaded;
	if (loaded)
		return NULL;
	void *lib[2];
	for (size_t i = 0; i < 2; i++) {
		/* the soname: what Debian's libgvc6 and libcgraph6 install */
		if (!(lib[i] = dlopen(gv_lib_file[i], RTLD_NOW | RTLD_LOCAL))) {
			const char *why = dlerror();
			return ph_error_create(
				PH_ERR_OS,
				"graphviz's %s could not be loaded: %s "
				"(graph and report draw with it: Debian's "
				"package libgvc6)",
				i ? "libcgraph" : "libgvc",
				why ? why : "dlopen failed");
		}
	}
	enum { gvc, cgraph };
#define GV_SYM(l, name)                                                        \
	dlerror();                                                             \
	*(void **)&gv.name = dlsym(lib[l], #name);                             \
	if (!gv.name) {                                                        \
		const char *why = dlerror();                                   \
		return ph_error_create(PH_ERR_OS,                              \
				       "graphviz's lib%s has no %s: %s", #l,   \
				       #name, why ? why : "a NULL symbol");    \
	}
	GV_FUNCS(GV_SYM)
#undef GV_SYM
	loaded = true;
	return NULL;
}

/* One graphviz context for the process, made on first use and kept:
 * graphviz 2.42's pango plugin keeps a font name across contexts, which a
 * second context's layout reads after the first one freed it (ASan: a
 * use-after-free in textspan_size). graphviz is not thread-safe: its
 * calls are serialized. */
static GVC_t *gv_context;
static pthread_mutex_t gv_lock = PTHREAD_MUTEX_INITIALIZER;

struct ph_error *ph_graphviz_render(const char *dot, const char *format,
				    struct ph_buf *out)
{
	pthread_mutex_lock(&gv_lock);
	struct ph_error *err = gv_load();
	if (err) {
		pthread_mutex_unlock(&gv_lock);
		return err;
	}
	gv_message[0] = '\0';
	gv.agseterrf(gv_error);
	gv.agseterr(AGERR);
	if (!gv_context)
		gv_context = gv.gvContext();
	GVC_t *gvc = gv_context;
	if (!gvc) {
		pthread_mutex_unlock(&gv_lock);
		return ph_error_create(PH_ERR_OS, "graphviz: no context");
	}
	Agraph_t *g = gv.agmemread(dot);
	if (!g) {
		err = ph_error_create(PH_ERR_OS,
				      "graphviz: the DOT was not "
				      "read: %s",
				      gv_message);
		goto done;
	}
	if (gv.gvLayout(gvc, g, "dot")) {
		err = ph_error_create(PH_ERR_OS, "graphviz: no layout: %s",
				      gv_message);
		gv.agclose(g);
		goto done;
	}
	char *data = NULL;
	unsigned int len = 0;
	if (gv.gvRenderData(gvc, g, format, &data, &len) || !data || !len)
		err = ph_error_create(PH_ERR_OS,
				      "graphviz: could not draw %s (is its "
				      "plugin installed? libgvc6): %s",
				      format, gv_message);
	else
		ph_buf_putn(out, data, len);
	if (data)
		gv.gvFreeRenderData(data);
	gv.gvFreeLayout(gvc, g);
	gv.agclose(g);
done:
	pthread_mutex_unlock(&gv_lock);
	if (!err && out->failed)
		err = ph_error_nomem();
	return err;
}

/* ---- the command --------------------------------------------------------- */

/* The format FILE's extension names; NULL: none py-heap writes. */
static const char *format_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot || strchr(dot, '/'))
		return NULL;
	if (!strcasecmp(dot, ".svg"))
		return "svg";
	if (!strcasecmp(dot, ".png"))
		return "png";
	if (!strcasecmp(dot, ".dot") || !strcasecmp(dot, ".gv"))
		return "dot";
	return NULL;
}

struct ph_error *ph_write_file(const char *cmd, const char *path,
			       const char *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return ph_error_create(PH_ERR_WRITE, "%s: %s: %s", cmd, path,
				       strerror(errno));
	size_t w = fwrite(data, 1, n, f);
	int e = w == n ? 0 : errno;
	if (fclose(f) && !e)
		e = errno ? errno : EIO;
	if (w != n || e) {
		remove(path);
		return ph_error_create(PH_ERR_WRITE, "%s: %s: %s", cmd, path,
				       strerror(e ? e : EIO));
	}
	return NULL;
}

static void graph_json(struct ph_json *j, const struct ph_subgraph_result *r)
{
	static const char *const kinds[] = {"object", "fold", "root"};
	ph_json_key(j, "address");
	ph_json_addr(j, r->addr);
	ph_json_key(j, "direction");
	ph_json_str(j, r->refs ? "refs" : "backrefs");
	ph_json_key(j, "depth");
	ph_json_u64(j, r->depth);
	ph_json_key(j, "max_nodes");
	ph_json_u64(j, r->max_nodes);
	ph_json_key(j, "reachable");
	ph_json_bool(j, r->reachable);
	ph_json_key(j, "root");
	if (!r->refs && r->reachable)
		ph_json_str(j, ph_strings_get(&r->str, r->path_root));
	else
		ph_json_null(j);
	ph_json_key(j, "path_cut");
	ph_json_u64(j, r->path_cut);
	ph_json_key(j, "truncated");
	ph_json_bool(j, r->truncated);
	if (r->interp >= 0) {
		ph_json_key(j, "interp");
		ph_json_i64(j, r->interp);
	}
	ph_json_key(j, "nodes");
	ph_json_array_begin(j);
	for (size_t i = 0; i < r->nnodes; i++) {
		const struct ph_sg_node *n = &r->nodes[i];
		ph_json_object_begin(j);
		ph_json_key(j, "kind");
		ph_json_str(j, kinds[n->kind]);
		if (n->kind == PH_SG_OBJECT) {
			ph_json_key(j, "address");
			ph_json_addr(j, n->obj.addr);
		}
		ph_json_key(j, "type");
		if (n->obj.type)
			ph_json_str(j, n->obj.type);
		else
			ph_json_null(j);
		if (n->kind == PH_SG_OBJECT) {
			ph_json_key(j, "repr");
			ph_json_str(j, ph_strings_get(&r->str, n->label));
			ph_json_key(j, "size");
			ph_json_u64(j, n->size);
			ph_json_key(j, "retained_objects");
			ph_json_u64(j, n->retained_objects);
			ph_json_key(j, "retained_bytes");
			ph_json_u64(j, n->retained_bytes);
			ph_json_key(j, "depth");
			ph_json_u64(j, n->depth);
			ph_json_key(j, "on_path");
			ph_json_bool(j, n->on_path);
			ph_json_key(j, "in_cycle");
			ph_json_bool(j, n->in_cycle);
			ph_json_key(j, "expanded");
			ph_json_bool(j, n->expanded);
			ph_json_key(j, "not_drawn");
			ph_json_u64(j, n->more);
			if (r->interp >= 0) {
				ph_json_key(j, "other_interp");
				ph_json_u64(j, n->other_interp);
			}
		} else if (n->kind == PH_SG_FOLD) {
			ph_json_key(j, "count");
			ph_json_u64(j, n->count);
			ph_json_key(j, "bytes");
			ph_json_u64(j, n->size);
			ph_json_key(j, "on_path");
			ph_json_bool(j, n->on_path);
		} else {
			ph_json_key(j, "name");
			ph_json_str(j, ph_strings_get(&r->str, n->label));
			ph_json_key(j, "more_roots");
			ph_json_u64(j, n->count);
			ph_json_key(j, "on_path");
			ph_json_bool(j, n->on_path);
		}
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
	ph_json_key(j, "edges");
	ph_json_array_begin(j);
	for (size_t e = 0; e < r->nedges; e++) {
		const struct ph_sg_edge *ed = &r->edges[e];
		ph_json_object_begin(j);
		ph_json_key(j, "from");
		ph_json_u64(j, ed->src);
		ph_json_key(j, "to");
		ph_json_u64(j, ed->dst);
		ph_json_key(j, "via");
		ph_json_str(j, ph_strings_get(&r->str, ed->via));
		ph_json_key(j, "on_path");
		ph_json_bool(j, ed->on_path);
		ph_json_key(j, "in_cycle");
		ph_json_bool(j, ed->in_cycle);
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
}

struct ph_error *ph_run_graph(struct ph_session *s, const struct ph_args *a,
			      struct ph_out *out)
{
	bool back = ph_args_flag(a, "--backrefs"),
	     refs = ph_args_flag(a, "--refs");
	if (back && refs)
		return ph_error_create(PH_ERR_USAGE,
				       "graph: --backrefs or --refs, not both");
	const char *path = ph_args_str(a, "--output", NULL);
	const char *format = NULL;
	if (path && !(format = format_of(path)))
		return ph_error_create(PH_ERR_USAGE,
				       "graph: %s: name a .svg, .png or .dot "
				       "file (the format is its extension)",
				       path);
	struct ph_subgraph_opts o = {
		.addr = a->operand,
		.refs = refs,
		.depth = ph_args_num(a, "--depth", refs ? 2 : 4),
		.max_nodes = ph_args_num(a, "--max-nodes", 60),
	};
	struct ph_subgraph_result *r;
	struct ph_error *err = ph_query_subgraph(s, &o, &r);
	if (err)
		return err;
	struct ph_buf dot, pic;
	ph_buf_init(&dot);
	ph_buf_init(&pic);
	char name[64];
	snprintf(name, sizeof(name), "%s 0x%llx", refs ? "refs" : "backrefs",
		 (unsigned long long)r->addr);
	ph_dot_subgraph(r, name, &dot);
	ph_buf_putc(&dot, '\0');
	if (dot.failed)
		err = ph_error_nomem();
	const struct ph_buf *data = &dot;
	if (!err && format && strcmp(format, "dot")) {
		err = ph_graphviz_render(dot.data, format, &pic);
		data = &pic;
	}
	size_t len = data == &dot ? dot.len - 1 : pic.len;
	if (!err && path)
		err = ph_write_file("graph", path, data->data, len);
	if (!err && out->json) {
		graph_json(&out->j, r);
		ph_json_key(&out->j, "output");
		if (path)
			ph_json_str(&out->j, path);
		else
			ph_json_null(&out->j);
		ph_json_key(&out->j, "format");
		ph_json_str(&out->j, format ? format : "dot");
		ph_json_key(&out->j, "bytes");
		ph_json_u64(&out->j, len);
	} else if (!err && path) {
		char c1[32], c2[32], c3[32];
		size_t objs = 0;
		for (size_t i = 0; i < r->nnodes; i++)
			objs += r->nodes[i].kind == PH_SG_OBJECT;
		ph_buf_printf(out->buf, "graph: wrote ");
		ph_text_puts(out->buf, path);
		ph_buf_printf(
			out->buf, " (%s, %s objects, %s edges, %s bytes)%s\n",
			format, ph_fmt_count(objs, c1),
			ph_fmt_count(r->nedges, c2), ph_fmt_count(len, c3),
			r->truncated ? "; --max-nodes cut it" : "");
	} else if (!err) {
		ph_buf_putn(out->buf, dot.data, dot.len - 1);
	}
	ph_buf_free(&dot);
	ph_buf_free(&pic);
	ph_subgraph_result_destroy(r);
	return err;
}
