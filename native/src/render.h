/* render.h - what renderers write with: the JSON writer (json.c) and text
 * made safe for a terminal (text.c). */
#ifndef PH_RENDER_H
#define PH_RENDER_H

#include "internal.h"

/* ---- JSON ---------------------------------------------------------------
 * One writer for every answer: it places the commas, and every string goes
 * through ph_json_quote (strict UTF-8 out). Separators are ", " and ": ",
 * on one line, as py-heap has always printed. */
#define PH_JSON_MAX_DEPTH 128

struct ph_json {
	struct ph_buf *out;
	unsigned depth;
	bool after_key;
	bool has_item[PH_JSON_MAX_DEPTH];
};

void ph_json_init(struct ph_json *j, struct ph_buf *out);
void ph_json_object_begin(struct ph_json *j);
void ph_json_object_end(struct ph_json *j);
void ph_json_array_begin(struct ph_json *j);
void ph_json_array_end(struct ph_json *j);
void ph_json_key(struct ph_json *j, const char *key);
void ph_json_str(struct ph_json *j, const char *s);
void ph_json_strn(struct ph_json *j, const char *s, size_t n);
void ph_json_u64(struct ph_json *j, uint64_t v);
void ph_json_i64(struct ph_json *j, int64_t v);
/* A number with a fixed count of decimals (1 -> 3.9). */
void ph_json_fixed(struct ph_json *j, double v, int decimals);
void ph_json_bool(struct ph_json *j, bool v);
void ph_json_null(struct ph_json *j);
/* An address, as a string: "0x7f3daab80290". */
void ph_json_addr(struct ph_json *j, uint64_t addr);

/* Appends s (n bytes, any bytes) as a JSON string literal, quotes
 * included, in strict UTF-8: see json.c. */
void ph_json_quote(struct ph_buf *b, const char *s, size_t n);

/* ---- text ---------------------------------------------------------------
 * Strings from the process, escaped for a terminal: control characters,
 * bidi controls and invalid UTF-8 as \x.. or \u.... */
void ph_text_escape(struct ph_buf *b, const char *s, size_t n);
void ph_text_puts(struct ph_buf *b, const char *s);
/* s, escaped, then blanks up to width bytes (as printf's %-*s); plain
 * text (ph_plain): no blanks. */
void ph_text_cell(struct ph_buf *b, const char *s, size_t width);
/* Between two cells of a row: a blank, or in plain text a tab. */
void ph_text_sep(struct ph_buf *b);
/* (Part of) a table's row, as printf: in plain text its field widths are
 * dropped and the blanks between fields become one tab (none at the
 * start or the end of a line). */
void ph_text_row(struct ph_buf *b, const char *fmt, ...) PH_PRINTF(2, 3);

/* ---- pictures (render_graph.c) ------------------------------------------
 * DOT written by py-heap, laid out and drawn by graphviz's libraries. */
struct ph_subgraph_result;

/* s, escaped for a terminal, cut to max characters ("..." after), as a
 * DOT string literal, quotes included. */
void ph_dot_quote(struct ph_buf *b, const char *s, size_t max);
/* The subgraph as a DOT digraph named name. */
void ph_dot_subgraph(const struct ph_subgraph_result *r, const char *name,
		     struct ph_buf *out);
/* dot (a NUL-ended DOT graph) laid out with dot and drawn in format
 * ("svg", "png"), appended to out. */
struct ph_error *ph_graphviz_render(const char *dot, const char *format,
				    struct ph_buf *out);
/* Writes n bytes of data to path (a new file); errors name cmd. */
struct ph_error *ph_write_file(const char *cmd, const char *path,
			       const char *data, size_t n);
/* n bytes for a person: "56 B", "1.2 KiB", "3.4 MiB". */
const char *ph_fmt_bytes(uint64_t n, char out[32]);

#endif /* PH_RENDER_H */
