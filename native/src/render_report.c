/* render_report.c - report: one self-contained HTML page on the heap, made
 * of the other commands' results (info, summary, types --retained, leaks,
 * cycles --unreachable, refcheck) and graph's pictures. Its CSS, SVG and
 * script are inline and nothing names a URL: it reads the same from a
 * file://, offline, or mailed. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "query.h"

#define REPORT_TYPES 100     /* rows of the types table */
#define REPORT_SUSPECTS 10   /* leak suspects drawn */
#define REPORT_CYCLES 10     /* unreachable cycles drawn */
#define REPORT_REFCHECK 50   /* types of the refcount audit */
#define REPORT_LOOP_DRAWN 24 /* objects of a loop drawn; the rest counted */

/* Text from the process or the system, escaped for a terminal (control
 * characters, bad UTF-8), then for HTML. */
static void html(struct ph_buf *b, const char *s)
{
	struct ph_buf t;
	ph_buf_init(&t);
	ph_text_puts(&t, s ? s : "");
	for (size_t i = 0; i < t.len; i++) {
		switch (t.data[i]) {
		case '&':
			ph_buf_puts(b, "&amp;");
			break;
		case '<':
			ph_buf_puts(b, "&lt;");
			break;
		case '>':
			ph_buf_puts(b, "&gt;");
			break;
		case '"':
			ph_buf_puts(b, "&quot;");
			break;
		case '\'':
			ph_buf_puts(b, "&#39;");
			break;
		default:
			ph_buf_putc(b, t.data[i]);
		}
	}
	ph_buf_free(&t);
}

static double share(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

/* A number cell: shown with separators, sorted by its value. */
static void td_num(struct ph_buf *b, uint64_t v)
{
	char c[32];
	ph_buf_printf(b, "<td class=\"n\" data-v=\"%llu\">%s</td>",
		      (unsigned long long)v, ph_fmt_count(v, c));
}

static void td_text(struct ph_buf *b, const char *s)
{
	ph_buf_puts(b, "<td>");
	html(b, s);
	ph_buf_puts(b, "</td>");
}

static void td_addr(struct ph_buf *b, uint64_t addr)
{
	ph_buf_printf(b, "<td class=\"a\">0x%llx</td>",
		      (unsigned long long)addr);
}

/* graphviz's SVG, inline: from its <svg> on, without the namespace
 * declarations (HTML gives inline SVG its namespace; they are the only
 * URLs graphviz writes). */
static void svg_inline(struct ph_buf *b, const struct ph_buf *svg)
{
	/* graphviz names its elements graph0, node1, ... in every picture:
	 * made unique by where the picture starts in the page */
	char id[40];
	snprintf(id, sizeof(id), " id=\"p%zu-", b->len);
	const char *start = memmem(svg->data, svg->len, "<svg", 4);
	if (!start)
		return;
	static const char *const drop[] = {
		" xmlns=\"http://www.w3.org/2000/svg\"",
		" xmlns:xlink=\"http://www.w3.org/1999/xlink\"",
	};
	const char *end = svg->data + svg->len, *p = start;
	ph_buf_puts(b, "<div class=\"pic\">");
	while (p < end) {
		size_t skip = 0;
		for (size_t k = 0; k < 2 && !skip; k++) {
			size_t n = strlen(drop[k]);
			if ((size_t)(end - p) >= n && !memcmp(p, drop[k], n))
				skip = n;
		}
		if (skip) {
			p += skip;
			continue;
		}
		if ((size_t)(end - p) >= 5 && !memcmp(p, " id=\"", 5)) {
			ph_buf_puts(b, id);
			p += 5;
			continue;
		}
		ph_buf_putc(b, *p++);
	}
	ph_buf_puts(b, "</div>\n");
}

/* dot drawn as inline SVG; a failure is said on the page, not fatal. */
static void picture(struct ph_buf *b, const char *dot)
{
	struct ph_buf svg;
	ph_buf_init(&svg);
	struct ph_error *err = ph_graphviz_render(dot, "svg", &svg);
	if (err) {
		ph_buf_puts(b, "<p class=\"warn\">No picture: ");
		html(b, ph_error_message(err));
		ph_buf_puts(b, "</p>\n");
		ph_error_destroy(err);
	} else
		svg_inline(b, &svg);
	ph_buf_free(&svg);
}

static void graph_picture(struct ph_buf *b, struct ph_session *s, uint64_t addr,
			  bool refs, uint64_t depth, uint64_t max_nodes)
{
	char a[32], name[64];
	snprintf(a, sizeof(a), "0x%llx", (unsigned long long)addr);
	snprintf(name, sizeof(name), "%s %s", refs ? "refs" : "backrefs", a);
	struct ph_subgraph_opts o = {.addr = a,
				     .refs = refs,
				     .depth = depth,
				     .max_nodes = max_nodes};
	struct ph_subgraph_result *r;
	struct ph_error *err = ph_query_subgraph(s, &o, &r);
	if (err) {
		ph_buf_puts(b, "<p class=\"warn\">No picture: ");
		html(b, ph_error_message(err));
		ph_buf_puts(b, "</p>\n");
		ph_error_destroy(err);
		return;
	}
	struct ph_buf dot;
	ph_buf_init(&dot);
	ph_dot_subgraph(r, name, &dot);
	ph_buf_putc(&dot, '\0');
	ph_buf_printf(b,
		      "<figure><figcaption>%s (py-heap graph %s%s)"
		      "</figcaption>\n",
		      refs ? "What it holds" : "Who holds it", a,
		      refs ? " --refs" : "");
	picture(b, dot.data);
	ph_buf_puts(b, "</figure>\n");
	ph_buf_free(&dot);
	ph_subgraph_result_destroy(r);
}

static void path_html(struct ph_buf *b, const struct ph_path_step *steps,
		      const struct ph_strings *str,
		      const struct ph_dom_row *row)
{
	const struct ph_path *p = &row->path;
	ph_buf_puts(b, "<code>");
	if (!row->reachable)
		ph_buf_puts(b, "(no root reaches it)");
	else {
		html(b, ph_strings_get(str, p->root));
		for (size_t i = 1; i < p->n; i++)
			html(b, ph_strings_get(str, steps[p->first + i].via));
		if (p->cut) {
			char c[32];
			ph_buf_printf(b, " ... %s more steps",
				      ph_fmt_count(p->cut, c));
		}
	}
	ph_buf_puts(b, "</code>");
}

static const char page_head[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
	"<meta name=\"viewport\" content=\"width=device-width\"/>\n"
	"<meta name=\"generator\" content=\"py-heap\"/>\n"
	"<title>py-heap report</title>\n<style>\n"
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
	"margin:0 auto;max-width:1200px;padding:0 24px 48px;color:#1b1b1b;"
	"background:#fff}\n"
	"h1{font-size:24px;margin:24px 0 4px}h2{font-size:19px;margin:32px 0 "
	"8px;padding-top:8px;border-top:2px solid #d8dee6}h3{font-size:15px;"
	"margin:20px 0 6px}\n"
	"table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;"
	"border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}"
	"th{background:#f1f4f8}\n"
	"table.sort th{cursor:pointer;user-select:none}table.sort "
	"th:after{content:' \\2195';color:#9aa4ae}\n"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}td.a,code{"
	"font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:"
	"12.5px}\n"
	"dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px "
	"16px;"
	"margin:8px 0}dl.kv dt{color:#56606b}dl.kv dd{margin:0}\n"
	".warn{color:#9a3412}.ok{color:#166534}.sub{color:#56606b}\n"
	".suspect{border:1px solid #d8dee6;border-radius:6px;padding:4px 16px "
	"12px;margin:12px 0}\n"
	"figure{margin:8px 0}figcaption{color:#56606b;font-size:13px}\n"
	".pic{overflow:auto;border:1px solid #eef0f3;border-radius:4px;"
	"max-height:720px}.scroll{max-height:560px;overflow:auto;display:"
	"inline-block;border:1px solid #eef0f3}.scroll th{position:sticky;"
	"top:0}.pic svg{display:block;height:auto;max-width:100%}\n"
	"</style>\n</head>\n<body>\n";

/* Sorts a table.sort by the clicked column: numbers by data-v, largest
 * first on the first click; text A to Z. */
static const char page_script[] =
	"<script>\n"
	"document.querySelectorAll('table.sort').forEach(function(t){\n"
	" t.querySelectorAll('th').forEach(function(th,i){\n"
	"  th.addEventListener('click',function(){\n"
	"   var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);\n"
	"   var num=rows.length&&rows[0].cells[i].hasAttribute('data-v');\n"
	"   var dir=th.getAttribute('data-dir')==='1'?-1:1;\n"
	"   th.setAttribute('data-dir',dir===1?'1':'-1');\n"
	"   rows.sort(function(x,y){\n"
	"    var a=x.cells[i],c=y.cells[i];\n"
	"    if(num)return dir*(Number(c.getAttribute('data-v'))-"
	"Number(a.getAttribute('data-v')));\n"
	"    return dir*a.textContent.localeCompare(c.textContent);\n"
	"   });\n"
	"   rows.forEach(function(r){b.appendChild(r);});\n"
	"  });\n"
	" });\n"
	"});\n"
	"</script>\n";

static void kv(struct ph_buf *b, const char *k, const char *v)
{
	ph_buf_printf(b, "<dt>%s</dt><dd>", k);
	html(b, v);
	ph_buf_puts(b, "</dd>\n");
}

static void kv_count(struct ph_buf *b, const char *k, uint64_t v)
{
	char c[32];
	ph_buf_printf(b, "<dt>%s</dt><dd>%s</dd>\n", k, ph_fmt_count(v, c));
}

static void section_process(struct ph_buf *b, struct ph_session *s,
			    const struct ph_info_result *in)
{
	char c1[32], c2[32], when[64] = "?";
	time_t t = (time_t)s->opened_at;
	struct tm tm;
	if (t && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	ph_buf_puts(b,
		    "<h2 id=\"process\">The process</h2>\n<dl class=\"kv\">\n");
	kv(b, "Python", in->python);
	kv(b, "build", in->debug_build ? "debug (Py_DEBUG)" : "release");
	kv(b, "allocator", in->allocator);
	kv(b, "executable", in->executable);
	kv(b, "build-id", in->build_id[0] ? in->build_id : "(none)");
	kv(b, "read", when);
	kv(b, "layouts from", in->layout_source);
	if (in->debug_file)
		kv(b, "debug information", in->debug_file);
	kv_count(b, "threads", in->threads);
	ph_buf_printf(b,
		      "<dt>objects found</dt><dd>%s: on the GC lists %s, by "
		      "reference ",
		      ph_fmt_count(in->objects, c1),
		      ph_fmt_count(in->found_gc, c2));
	ph_buf_printf(b, "%s, ", ph_fmt_count(in->found_ref, c1));
	ph_buf_printf(b, "as interpreter roots %s, ",
		      ph_fmt_count(in->found_root, c1));
	ph_buf_printf(b, "in pymalloc's pools %s (pools from ",
		      ph_fmt_count(in->found_pool, c1));
	html(b, in->pool_source);
	ph_buf_puts(b, ")</dd>\n");
	kv(b, "py-heap", in->version);
	ph_buf_puts(b, "</dl>\n");
	ph_buf_puts(b, "<h3>What py-heap could not read</h3>\n");
	if (!s->nnotes && !s->partial && !in->memory_not_saved)
		ph_buf_puts(b, "<p class=\"ok\">Nothing: every object was "
			       "read whole.</p>\n");
	else {
		ph_buf_puts(b, "<ul>\n");
		if (in->memory_not_saved)
			ph_buf_printf(b,
				      "<li class=\"warn\">%s bytes of memory "
				      "the core did not save</li>\n",
				      ph_fmt_count(in->memory_not_saved, c1));
		for (size_t i = 0; i < s->nnotes; i++) {
			ph_buf_puts(b, "<li class=\"warn\">");
			html(b, s->notes[i].message);
			ph_buf_puts(b, "</li>\n");
		}
		ph_buf_puts(b, "</ul>\n");
	}
}

static void section_totals(struct ph_buf *b, const struct ph_summary_result *sm)
{
	static const char *const gens[] = {"untracked or not GC",
					   "generation 0", "generation 1",
					   "generation 2", "permanent"};
	char c1[32], c2[32];
	const struct ph_types_result *t = sm->types;
	ph_buf_puts(b, "<h2 id=\"totals\">Totals</h2>\n<dl class=\"kv\">\n");
	ph_buf_printf(b,
		      "<dt>objects</dt><dd>%s, %s bytes (sys.getsizeof), "
		      "in %zu types</dd>\n",
		      ph_fmt_count(t->objects, c1), ph_fmt_count(t->bytes, c2),
		      t->nrows);
	for (size_t i = 0; i < 5; i++)
		kv_count(b, gens[i], sm->gens[i]);
	ph_buf_printf(b,
		      "<dt>pymalloc</dt><dd>%zu pools, %s bytes: %s in "
		      "use in ",
		      sm->pools, ph_fmt_count(sm->pool_bytes, c1),
		      ph_fmt_bytes(sm->used_bytes, c2));
	ph_buf_printf(b, "%s blocks, ", ph_fmt_count(sm->used_blocks, c1));
	ph_buf_printf(b, "%s free; fragmentation %.1f%%</dd>\n",
		      ph_fmt_bytes(sm->free_bytes, c1),
		      sm->fragmentation_percent);
	ph_buf_puts(b, "</dl>\n");
}

static void section_types(struct ph_buf *b, const struct ph_types_result *t)
{
	char c[32];
	ph_buf_puts(b, "<h2 id=\"types\">The largest types</h2>\n");
	ph_buf_printf(b,
		      "<p class=\"sub\">By bytes; click a heading to sort. "
		      "Retained: what deleting every object of the type would "
		      "free.%s</p>\n",
		      t->nrows > t->shown ? " The largest types only." : "");
	ph_buf_puts(b, "<div class=\"scroll\"><table class=\"sort\" "
		       "id=\"types-table\"><thead><tr>"
		       "<th>type</th><th>objects</th><th>bytes</th>"
		       "<th>% of bytes</th>");
	if (t->retained)
		ph_buf_puts(b, "<th>retained objects</th>"
			       "<th>retained bytes</th>");
	ph_buf_puts(b, "</tr></thead><tbody>\n");
	for (size_t i = 0; i < t->shown; i++) {
		const struct ph_type_row *row = &t->rows[i];
		ph_buf_puts(b, "<tr>");
		td_text(b, row->name);
		td_num(b, row->count);
		td_num(b, row->bytes);
		ph_buf_printf(b, "<td class=\"n\" data-v=\"%.4f\">%.2f</td>",
			      share(row->bytes, t->bytes),
			      share(row->bytes, t->bytes));
		if (t->retained) {
			td_num(b, row->retained_objects);
			td_num(b, row->retained_bytes);
		}
		ph_buf_puts(b, "</tr>\n");
	}
	ph_buf_puts(b, "</tbody></table></div>\n");
	if (t->nrows > t->shown)
		ph_buf_printf(b, "<p class=\"sub\">and %s more types</p>\n",
			      ph_fmt_count(t->nrows - t->shown, c));
}

static void section_leaks(struct ph_buf *b, struct ph_session *s,
			  const struct ph_leaks_result *l)
{
	char c1[32], c2[32], c3[32];
	ph_buf_puts(b, "<h2 id=\"leaks\">Leak suspects</h2>\n");
	ph_buf_printf(b,
		      "<p class=\"sub\">Objects that retain at least %.0f%% "
		      "of the heap (%s bytes), each followed down the "
		      "dominator tree to where it accumulates "
		      "(py-heap leaks).</p>\n",
		      l->min_share, ph_fmt_count(l->threshold, c1));
	if (!l->nsuspects) {
		ph_buf_puts(b, "<p class=\"ok\">None.</p>\n");
		return;
	}
	for (size_t i = 0; i < l->nsuspects; i++) {
		const struct ph_leak_suspect *x = &l->suspects[i];
		ph_buf_printf(b, "<div class=\"suspect\">\n<h3>%zu. ", i + 1);
		html(b, x->row.obj.type);
		ph_buf_printf(b,
			      " <code>0x%llx</code> retains %s bytes "
			      "(%.2f%% of the heap) in %s objects</h3>\n",
			      (unsigned long long)x->row.obj.addr,
			      ph_fmt_count(x->row.bytes, c1),
			      share(x->row.bytes, l->bytes),
			      ph_fmt_count(x->row.objects, c2));
		ph_buf_puts(b, "<p>path: ");
		path_html(b, l->steps, &l->str, &x->row);
		ph_buf_puts(b, "</p>\n");
		const struct ph_dom_row *acc = &x->row;
		if (x->depth) {
			acc = &x->acc;
			ph_buf_printf(b,
				      "<p>accumulation point, %u step%s "
				      "down: ",
				      x->depth, x->depth == 1 ? "" : "s");
			html(b, acc->obj.type);
			ph_buf_printf(b,
				      " <code>0x%llx</code>, %s bytes; "
				      "path: ",
				      (unsigned long long)acc->obj.addr,
				      ph_fmt_count(acc->bytes, c1));
			path_html(b, l->steps, &l->str, acc);
			ph_buf_puts(b, "</p>\n");
		}
		if (x->children_type) {
			ph_buf_printf(b, "<p>it holds %s ",
				      ph_fmt_count(x->children, c1));
			html(b, x->children_type);
			ph_buf_printf(b,
				      " retaining %s bytes in %s objects, "
				      "of the %s objects it dominates "
				      "directly</p>\n",
				      ph_fmt_count(x->children_bytes, c2),
				      ph_fmt_count(x->children_objects, c3),
				      ph_fmt_count(x->children_total, c1));
		}
		graph_picture(b, s, acc->obj.addr, false, 3, 30);
		graph_picture(b, s, acc->obj.addr, true, 1, 20);
		ph_buf_puts(b, "</div>\n");
	}
	if (l->total > l->nsuspects)
		ph_buf_printf(b, "<p class=\"sub\">and %s more suspects</p>\n",
			      ph_fmt_count(l->total - l->nsuspects, c1));
}

/* A loop of a cycle: its objects in order, each edge labelled. */
static void loop_picture(struct ph_buf *b, const struct ph_cycles_result *r,
			 const struct ph_cycle *c, size_t k)
{
	struct ph_buf dot;
	ph_buf_init(&dot);
	char name[32], c1[32];
	snprintf(name, sizeof(name), "cycle %zu", k + 1);
	ph_buf_puts(&dot, "digraph ");
	ph_dot_quote(&dot, name, 40);
	ph_buf_puts(&dot, " {\n  graph [fontname=\"Helvetica\"];\n"
			  "  node [shape=box, style=\"rounded,filled\", "
			  "fillcolor=\"#f5f5f5\", color=\"#c62828\", "
			  "fontname=\"Helvetica\", fontsize=10];\n"
			  "  edge [color=\"#c62828\", fontcolor=\"#c62828\", "
			  "fontname=\"Helvetica\", fontsize=9];\n");
	size_t n = c->nloop < REPORT_LOOP_DRAWN ? c->nloop : REPORT_LOOP_DRAWN;
	struct ph_buf lab;
	ph_buf_init(&lab);
	for (size_t i = 0; i < n; i++) {
		const struct ph_path_step *st = &r->loop[c->loop + i];
		lab.len = 0;
		ph_buf_printf(&lab, "%s\n0x%llx", st->obj.type,
			      (unsigned long long)st->obj.addr);
		ph_buf_putc(&lab, '\0');
		ph_buf_printf(&dot, "  n%zu [label=", i);
		ph_dot_quote(&dot, lab.data, 120);
		ph_buf_puts(&dot, "];\n");
	}
	if (n < c->nloop) {
		ph_buf_printf(&dot,
			      "  more [label=\"%s more objects\", "
			      "shape=note, style=dashed];\n",
			      ph_fmt_count(c->nloop - n, c1));
	}
	for (size_t i = 0; i < n; i++) {
		const struct ph_path_step *st = &r->loop[c->loop + i];
		if (i + 1 < n)
			ph_buf_printf(&dot, "  n%zu -> n%zu [label=", i, i + 1);
		else if (n < c->nloop)
			ph_buf_printf(&dot, "  n%zu -> more [label=", i);
		else
			ph_buf_printf(&dot, "  n%zu -> n0 [label=", i);
		ph_dot_quote(&dot, ph_strings_get(&r->str, st->via), 30);
		ph_buf_puts(&dot, "];\n");
	}
	if (n < c->nloop)
		ph_buf_puts(&dot, "  more -> n0 [style=dashed];\n");
	ph_buf_puts(&dot, "}\n");
	ph_buf_putc(&dot, '\0');
	picture(b, dot.data);
	ph_buf_free(&lab);
	ph_buf_free(&dot);
}

static void section_cycles(struct ph_buf *b, const struct ph_cycles_result *r)
{
	char c1[32], c2[32];
	ph_buf_puts(b, "<h2 id=\"cycles\">Unreachable cycles</h2>\n");
	ph_buf_printf(b,
		      "<p>%s objects (%s bytes) are unreachable: what "
		      "gc.collect() would free now",
		      ph_fmt_count(r->unreachable_objects, c1),
		      ph_fmt_count(r->unreachable_bytes, c2));
	if (r->unreachable_finalizers)
		ph_buf_printf(b, ", %s of them with a finalizer",
			      ph_fmt_count(r->unreachable_finalizers, c1));
	ph_buf_printf(b, "; in %s cycles.</p>\n", ph_fmt_count(r->total, c1));
	for (size_t k = 0; k < r->shown; k++) {
		const struct ph_cycle *c = &r->cycles[k];
		ph_buf_printf(b, "<h3>Cycle %zu: %s objects, %s bytes: ", k + 1,
			      ph_fmt_count(c->objects, c1),
			      ph_fmt_count(c->bytes, c2));
		for (size_t i = 0; i < c->ntypes; i++) {
			const struct ph_cycle_type *t = &r->types[c->types + i];
			if (i)
				ph_buf_puts(b, ", ");
			ph_buf_printf(b, "%u ", t->count);
			html(b, t->name);
		}
		ph_buf_puts(b, "</h3>\n");
		loop_picture(b, r, c, k);
	}
	if (r->total > r->shown)
		ph_buf_printf(b,
			      "<p class=\"sub\">and %s more cycles "
			      "(py-heap cycles --unreachable)</p>\n",
			      ph_fmt_count(r->total - r->shown, c1));
}

static void section_refcheck(struct ph_buf *b,
			     const struct ph_refcheck_result *r)
{
	char c1[32];
	ph_buf_puts(b, "<h2 id=\"refcheck\">Refcount audit</h2>\n");
	ph_buf_printf(b,
		      "<p class=\"sub\">Every refcount against the references "
		      "found: %s objects checked. An excess is held by code "
		      "py-heap cannot see, or leaked by a C extension "
		      "(py-heap refcheck).</p>\n",
		      ph_fmt_count(r->checked, c1));
	if (!r->nexcess) {
		ph_buf_puts(b, "<p class=\"ok\">No refcount exceeds the "
			       "references found.</p>\n");
	} else {
		ph_buf_puts(b, "<table class=\"sort\" id=\"refcheck-table\">"
			       "<thead><tr><th>type</th><th>objects</th>"
			       "<th>excess references</th><th>worst object</th>"
			       "<th>its excess</th></tr></thead><tbody>\n");
		for (size_t i = 0; i < r->nexcess; i++) {
			const struct ph_suspect_type *t = &r->excess[i];
			ph_buf_puts(b, "<tr>");
			td_text(b, t->type);
			td_num(b, t->objects);
			td_num(b, (uint64_t)t->total);
			td_addr(b, t->worst.addr);
			td_num(b, (uint64_t)t->worst.excess);
			ph_buf_puts(b, "</tr>\n");
		}
		ph_buf_puts(b, "</tbody></table>\n");
	}
	if (r->deficit_objects)
		ph_buf_printf(b,
			      "<p class=\"warn\">%s objects have fewer "
			      "references than their refcount says "
			      "(over-released, or corrupt).</p>\n",
			      ph_fmt_count(r->deficit_objects, c1));
}

struct ph_error *ph_run_report(struct ph_session *s, const struct ph_args *a,
			       struct ph_out *out)
{
	const char *path = ph_args_str(a, "--output", NULL);
	if (!path || !*path)
		return ph_error_create(PH_ERR_USAGE, "report: where to? give "
						     "--output FILE.html");
	struct ph_info_result *in = NULL;
	struct ph_summary_result *sm = NULL;
	struct ph_types_result *ty = NULL;
	struct ph_leaks_result *lk = NULL;
	struct ph_cycles_result *cy = NULL;
	struct ph_refcheck_result *rc = NULL;
	struct ph_types_opts to = {.limit = REPORT_TYPES, .retained = true};
	struct ph_leaks_opts lo = {.limit = REPORT_SUSPECTS, .min_share = 10};
	struct ph_cycles_opts co = {.unreachable_only = true,
				    .limit = REPORT_CYCLES};
	struct ph_refcheck_opts ro = {.min_excess = 1,
				      .limit = REPORT_REFCHECK};
	struct ph_error *err = ph_query_info(s, &in);
	if (!err)
		err = ph_query_summary(s, &sm);
	if (!err)
		err = ph_query_types(s, &to, &ty);
	if (!err)
		err = ph_query_leaks(s, &lo, &lk);
	if (!err)
		err = ph_query_cycles(s, &co, &cy);
	if (!err)
		err = ph_query_refcheck(s, &ro, &rc);
	struct ph_buf b;
	ph_buf_init(&b);
	if (!err) {
		char c1[32], c2[32];
		ph_buf_puts(&b, page_head);
		ph_buf_puts(&b, "<h1>py-heap report</h1>\n<p class=\"sub\">");
		html(&b, in->python);
		if (s->only_interp >= 0) /* --interp */
			ph_buf_printf(
				&b, ", interpreter %lld only",
				(long long)s->rt->interps[s->only_interp].id);
		ph_buf_printf(&b, ": %s objects, %s bytes",
			      ph_fmt_count(ty->objects, c1),
			      ph_fmt_count(ty->bytes, c2));
		ph_buf_printf(&b,
			      "; %zu leak suspect%s, %s unreachable "
			      "cycle%s, %zu type%s with refcount excess.",
			      lk->nsuspects, lk->nsuspects == 1 ? "" : "s",
			      ph_fmt_count(cy->total, c1),
			      cy->total == 1 ? "" : "s", rc->excess_types,
			      rc->excess_types == 1 ? "" : "s");
		ph_buf_puts(&b, " <a href=\"#leaks\">leaks</a> · "
				"<a href=\"#cycles\">cycles</a> · "
				"<a href=\"#refcheck\">refcounts</a> · "
				"<a href=\"#types\">types</a> · "
				"<a href=\"#totals\">totals</a> · "
				"<a href=\"#process\">process</a></p>\n");
		if (s->partial)
			ph_buf_puts(&b, "<p class=\"warn\">The heap was read "
					"in part: the answers below may be "
					"incomplete (see What py-heap could "
					"not read).</p>\n");
		/* what to act on first, then the numbers behind it */
		section_leaks(&b, s, lk);
		section_cycles(&b, cy);
		section_refcheck(&b, rc);
		section_types(&b, ty);
		section_totals(&b, sm);
		section_process(&b, s, in);
		ph_buf_puts(&b, page_script);
		ph_buf_puts(&b, "</body>\n</html>\n");
		if (b.failed)
			err = ph_error_nomem();
	}
	if (!err)
		err = ph_write_file("report", path, b.data, b.len);
	if (!err && out->json) {
		struct ph_json *j = &out->j;
		ph_json_key(j, "output");
		ph_json_str(j, path);
		ph_json_key(j, "bytes");
		ph_json_u64(j, b.len);
		ph_json_key(j, "suspects");
		ph_json_u64(j, lk->nsuspects);
		ph_json_key(j, "unreachable_cycles");
		ph_json_u64(j, cy->total);
		ph_json_key(j, "refcount_excess_types");
		ph_json_u64(j, rc->excess_types);
	} else if (!err) {
		char c1[32], c2[32];
		ph_buf_puts(out->buf, "report: wrote ");
		ph_text_puts(out->buf, path);
		ph_buf_printf(out->buf,
			      " (%s bytes): %zu leak suspect%s, %s unreachable "
			      "cycle%s, %zu type%s with refcount excess\n",
			      ph_fmt_count(b.len, c1), lk->nsuspects,
			      lk->nsuspects == 1 ? "" : "s",
			      ph_fmt_count(cy->total, c2),
			      cy->total == 1 ? "" : "s", rc->excess_types,
			      rc->excess_types == 1 ? "" : "s");
	}
	ph_buf_free(&b);
	ph_info_result_destroy(in);
	ph_summary_result_destroy(sm);
	ph_types_result_destroy(ty);
	ph_leaks_result_destroy(lk);
	ph_cycles_result_destroy(cy);
	ph_refcheck_result_destroy(rc);
	return err;
}
