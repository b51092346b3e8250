/* commands.c - the command table, the one option parser, and running a
 * command: the only place a command is declared. The CLI's usage, `help`,
 * `CMD --help`, the GDB commands (from `help --json`) and the manual page
 * py-heap(1) (`help --man`) are all made from the table below.
 *
 * Adding a command: an entry in ph_commands[] (and its options), its query
 * (query_*.c, its result in query.h) and its renderers with the function
 * the entry names (render_*.c). See docs/design.md, "Adding a command". */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "answercache.h"
#include "command.h"
#include "session.h"

/* The one version number is in the file VERSION; the Makefile passes it
 * (and the packaging, the GDB script and the manual read it there). */
#ifndef PH_VERSION
#error "PH_VERSION is not defined: build with make, which reads VERSION"
#endif

const char *ph_version(void)
{
	return PH_VERSION;
}

/* ---- the table ----------------------------------------------------------- */

#define PH_RUN(name)                                                           \
	struct ph_error *ph_run_##name(struct ph_session *s,                   \
				       const struct ph_args *a,                \
				       struct ph_out *out)
PH_RUN(summary);
PH_RUN(types);
PH_RUN(list);
PH_RUN(show);
PH_RUN(referents);
PH_RUN(referrers);
PH_RUN(path);
PH_RUN(roots);
PH_RUN(retained);
PH_RUN(dominators);
PH_RUN(leaks);
PH_RUN(cycles);
PH_RUN(refcount);
PH_RUN(refcheck);
PH_RUN(info);
PH_RUN(snapshot);
PH_RUN(diff);
PH_RUN(graph);
PH_RUN(report);
static PH_RUN(help);
static PH_RUN(version);
bool ph_run_diff_key(struct ph_session *s, const struct ph_args *a,
		     struct ph_buf *b);

static const char *const sort_size_count[] = {"size", "count", NULL};
static const char *const sort_types[] = {"size", "count", "retained", NULL};

#define OPT_LIMIT(what, deftext)                                               \
	{                                                                      \
		.name = "--limit", .kind = PH_OPT_NUM, .metavar = "N",         \
		.help = what " (0: no limit)", .def = deftext,                 \
	}

/* How much of each value show, list, referents and path write. */
#define OPT_READABLE                                                           \
	{.name = "--items",                                                    \
	 .kind = PH_OPT_NUM,                                                   \
	 .metavar = "N",                                                       \
	 .help = "values: at most N items of each container, attributes of "   \
		 "each instance (0: no limit)",                                \
	 .def = "10"},                                                         \
		{.name = "--nesting",                                          \
		 .kind = PH_OPT_NUM,                                           \
		 .metavar = "N",                                               \
		 .help = "values: containers and instances written out N "     \
			 "levels deep, deeper ones in short (0: no limit)",    \
		 .def = "3"},                                                  \
	{                                                                      \
		.name = "--str-len", .kind = PH_OPT_NUM, .metavar = "N",       \
		.help = "values: at most N characters of a str, bytes of a "   \
			"bytes (0: no limit)",                                 \
		.def = "60",                                                   \
	}

static const struct ph_optdef no_opts[] = {{0}};

/* Every interpreter by default; this one limits a command to one. */
#define OPT_INTERP                                                             \
	{                                                                      \
		.name = "--interp", .kind = PH_OPT_NUM, .metavar = "ID",       \
		.help = "only the objects of the interpreter with this id "    \
			"(0: the main one; info lists them)",                  \
		.def = "every interpreter",                                    \
	}

static const struct ph_optdef summary_opts[] = {
	OPT_INTERP,
	{0},
};

static const struct ph_optdef types_opts[] = {
	OPT_LIMIT("show the first N types, and the rest in one line",
		  "25 in text, all in JSON"),
	{.name = "--sort",
	 .kind = PH_OPT_CHOICE,
	 .metavar = "count|size|retained",
	 .help = "order by number of objects, by bytes, or by the bytes "
		 "their objects retain (--retained)",
	 .def = "size; retained with --retained",
	 .choices = sort_types},
	{.name = "--module",
	 .kind = PH_OPT_STR,
	 .metavar = "GLOB",
	 .help = "only the types of the modules GLOB matches (myapp.*; "
		 "builtins: the types named without a module)"},
	{.name = "--retained",
	 .kind = PH_OPT_FLAG,
	 .help = "also the bytes (and objects) that deleting every object of "
		 "the type would free: what its objects retain, each counted "
		 "once (builds the dominator tree)"},
	OPT_INTERP,
	{0},
};

static const struct ph_optdef list_opts[] = {
	OPT_LIMIT("at most N objects", "50 in text, all in JSON"),
	{.name = "--min-size",
	 .kind = PH_OPT_NUM,
	 .metavar = "B",
	 .help = "only objects of at least B bytes"},
	OPT_INTERP,
	OPT_READABLE,
	{0},
};

static const struct ph_optdef show_opts[] = {
	OPT_LIMIT("at most N of what it holds", "20"),
	OPT_READABLE,
	{0},
};

static const struct ph_optdef referents_opts[] = {
	OPT_LIMIT("at most N of what it holds", "1000 in text, all in JSON"),
	OPT_READABLE,
	OPT_INTERP,
	{0},
};

static const struct ph_optdef referrers_opts[] = {
	{.name = "--depth",
	 .kind = PH_OPT_NUM,
	 .metavar = "N",
	 .help = "also the referrers of each referrer, N levels up (1 to 16)",
	 .def = "1"},
	OPT_LIMIT("at most N referrers of each object",
		  "50 in text, all in JSON"),
	OPT_INTERP,
	{0},
};

static const struct ph_optdef path_opts[] = {
	{.name = "--all",
	 .kind = PH_OPT_NUM,
	 .metavar = "N",
	 .help = "up to N distinct chains (through other referrers, nearest "
		 "first)"},
	OPT_READABLE,
	{0},
};

static const struct ph_optdef roots_opts[] = {
	{.name = "--match",
	 .kind = PH_OPT_STR,
	 .metavar = "TEXT",
	 .help = "only the roots whose name contains TEXT"},
	OPT_LIMIT("at most N roots", "50 in text, all in JSON"),
	OPT_INTERP,
	{0},
};

static const struct ph_optdef dominators_opts[] = {
	OPT_LIMIT("at most N objects (with --tree: N children of each)", "20"),
	{.name = "--type",
	 .kind = PH_OPT_STR,
	 .metavar = "T",
	 .help = "only objects of the type named T (with * ? [ a glob)",
	 .complete = PH_COMPLETE_TYPE},
	{.name = "--min-bytes",
	 .kind = PH_OPT_NUM,
	 .metavar = "B",
	 .help = "only objects that retain at least B bytes"},
	{.name = "--tree",
	 .kind = PH_OPT_STR,
	 .metavar = "ADDR",
	 .help = "the dominator tree below ADDR instead, largest first: what "
		 "it retains, object by object ('root': the tree's top, what "
		 "the roots hold; 'unreachable': the objects no root reaches)",
	 .complete = PH_COMPLETE_EXPR},
	{.name = "--depth",
	 .kind = PH_OPT_NUM,
	 .metavar = "N",
	 .help = "with --tree: N levels below ADDR (0 to 64)",
	 .def = "2"},
	{.name = "--export",
	 .kind = PH_OPT_STR,
	 .metavar = "FILE",
	 .help = "write the graph (objects, roots, edges) and every object's "
		 "immediate dominator and retained size to FILE, one per line, "
		 "to check them with another tool",
	 .complete = PH_COMPLETE_FILE},
	OPT_INTERP,
	{0},
};

static const struct ph_optdef leaks_opts[] = {
	OPT_LIMIT("at most N suspects", "all"),
	{.name = "--min-share",
	 .kind = PH_OPT_STR,
	 .metavar = "P",
	 .help = "suspects retain at least P percent of the heap's bytes "
		 "(with --interp: of that interpreter's)",
	 .def = "10"},
	OPT_INTERP,
	{0},
};

static const struct ph_optdef cycles_opts[] = {
	{.name = "--unreachable",
	 .kind = PH_OPT_FLAG,
	 .help = "only the cycles nothing outside keeps alive: the garbage "
		 "gc.collect() would free"},
	{.name = "--min-size",
	 .kind = PH_OPT_NUM,
	 .metavar = "B",
	 .help = "only cycles of at least B bytes"},
	OPT_LIMIT("at most N cycles", "20 in text, all in JSON"),
	{.name = "--sort",
	 .kind = PH_OPT_CHOICE,
	 .metavar = "size|count",
	 .help = "order by bytes or by number of objects",
	 .def = "size",
	 .choices = sort_size_count},
	OPT_INTERP,
	{0},
};

static const struct ph_optdef refcheck_opts[] = {
	{.name = "--min-excess",
	 .kind = PH_OPT_NUM,
	 .metavar = "K",
	 .help = "only objects whose refcount exceeds the references found "
		 "by at least K",
	 .def = "1"},
	{.name = "--type",
	 .kind = PH_OPT_STR,
	 .metavar = "T",
	 .help = "only objects of the type named T (with * ? [ a glob)",
	 .complete = PH_COMPLETE_TYPE},
	OPT_LIMIT("at most N types in each list", "20 in text, all in JSON"),
	OPT_INTERP,
	{0},
};

static const struct ph_optdef snapshot_opts[] = {
	{.name = "--output",
	 .kind = PH_OPT_STR,
	 .metavar = "FILE",
	 .help = "the file to write (FILE alone says the same)",
	 .complete = PH_COMPLETE_FILE},
	OPT_INTERP,
	{0},
};

static const struct ph_optdef graph_opts[] = {
	{.name = "--backrefs",
	 .kind = PH_OPT_FLAG,
	 .help = "who holds it, up to the roots (the default), with path's "
		 "chain from its root whatever the depth"},
	{.name = "--refs", .kind = PH_OPT_FLAG, .help = "what it holds"},
	{.name = "--depth",
	 .kind = PH_OPT_NUM,
	 .metavar = "N",
	 .help = "objects up to N references away (1 to 64)",
	 .def = "4 with --backrefs, 2 with --refs"},
	{.name = "--max-nodes",
	 .kind = PH_OPT_NUM,
	 .metavar = "N",
	 .help = "at most N nodes (2 to 100000)",
	 .def = "60"},
	{.name = "--output",
	 .kind = PH_OPT_STR,
	 .metavar = "FILE",
	 .help = "write the picture to FILE: SVG, PNG or DOT by its extension "
		 "(.svg, .png, .dot or .gv); without it, DOT on stdout",
	 .complete = PH_COMPLETE_FILE},
	OPT_INTERP,
	{0},
};

static const struct ph_optdef report_opts[] = {
	{.name = "--output",
	 .kind = PH_OPT_STR,
	 .metavar = "FILE",
	 .help = "the HTML file to write",
	 .complete = PH_COMPLETE_FILE},
	OPT_INTERP,
	{0},
};

static const struct ph_optdef diff_opts[] = {
	{.name = "--interval",
	 .kind = PH_OPT_STR,
	 .metavar = "SECONDS",
	 .help = "with --pid: read the process again SECONDS after the first "
		 "reading, and compare the two (it runs in between)"},
	{.name = "--containers",
	 .kind = PH_OPT_NUM,
	 .metavar = "N",
	 .help = "name the N containers that gained the most new objects of "
		 "each type that grew (0: all)",
	 .def = "3"},
	OPT_LIMIT("show the N types that grew most, and the rest in one line",
		  "25 in text, all in JSON"),
	OPT_INTERP,
	{0},
};

static const struct ph_optdef help_opts[] = {
	{.name = "--man",
	 .kind = PH_OPT_FLAG,
	 .help = "the manual page py-heap(1), in troff"},
	{0},
};

const struct ph_cmddef ph_commands[] = {
	{
		.name = "summary",
		.summary = "a first look: totals, largest types, GC, pymalloc",
		.help = "Objects and bytes, the ten largest types, how many "
			"tracked objects each GC generation holds, pymalloc's "
			"pools (used, free, fragmentation) and threads.",
		.opts = summary_opts,
		.run = ph_run_summary,
		.flags = PH_CMD_OUTPUT_CACHED,
	},
	{
		.name = "types",
		.summary = "objects by type: count and sys.getsizeof() bytes",
		.help = "Counts the objects of each type and sums their "
			"sys.getsizeof() sizes, largest first. Type names are "
			"those repr(type(obj)) prints between the quotes "
			"(dict, __main__.Session); types with the same name (a "
			"class defined twice) share a row.",
		.opts = types_opts,
		.run = ph_run_types,
		.flags = PH_CMD_OUTPUT_CACHED,
	},
	{
		.name = "list",
		.operand = "TYPE",
		.operand_required = true,
		.operand_complete = PH_COMPLETE_TYPE,
		.summary = "the objects of one type: address, size, value",
		.help = "The objects whose type is named TYPE (as `types` "
			"prints it; with * ? [ a glob: __main__.*): address, "
			"sys.getsizeof() size and its value, largest first.",
		.opts = list_opts,
		.run = ph_run_list,
	},
	{
		.name = "show",
		.operand = "ADDR",
		.operand_required = true,
		.operand_complete = PH_COMPLETE_EXPR,
		.summary = "one object: type, size, retained size, refcount, "
			   "GC state, value",
		.help = "One object: its type, sys.getsizeof() size, retained "
			"size (what deleting it would free), refcount, GC "
			"state (untracked, tracked and its generation, or not "
			"a "
			"GC object), how py-heap found it, how many referrers "
			"it has (and whether a root reaches it), a repr()-like "
			"value, and what it holds (items, keys, attributes).",
		.opts = show_opts,
		.run = ph_run_show,
	},
	{
		.name = "referents",
		.operand = "ADDR",
		.operand_required = true,
		.operand_complete = PH_COMPLETE_EXPR,
		.summary = "what the object holds, and how",
		.help = "What the object refers to, each with its address, "
			"type "
			"and how it is held: [3] (item), ['key'] (dict value), "
			"<key> (dict key), .attr (attribute, __slots__ member "
			"or field), +0x18 (conservative) (a word of a C object "
			"that points at an object), (weak) (keeps nothing "
			"alive), (borrowed) (holds no reference: a 3.11+ "
			"frame's f_globals).",
		.opts = referents_opts,
		.run = ph_run_referents,
	},
	{
		.name = "referrers",
		.operand = "ADDR",
		.operand_required = true,
		.operand_complete = PH_COMPLETE_EXPR,
		.summary = "who holds it (what gc.get_referrers() would say)",
		.help = "Every object with a strong reference to ADDR (what "
			"gc.get_referrers() returns, and untracked referrers "
			"too), and the roots (module globals, thread frame "
			"locals, C data) that hold it directly. Each object's "
			"referrers are expanded once; the tree stops at 10,000 "
			"entries.",
		.opts = referrers_opts,
		.run = ph_run_referrers,
	},
	{
		.name = "path",
		.operand = "ADDR",
		.operand_required = true,
		.operand_complete = PH_COMPLETE_EXPR,
		.summary = "why it is alive: the chain from a root to it",
		.help = "The shortest chain of strong references from a root "
			"(a "
			"module's globals, a thread's frame, the interpreter, "
			"C "
			"data) to ADDR, root first, each step labelled; never "
			"through a weak reference. An "
			"object no root reaches is garbage: held only by a "
			"cycle or by a reference py-heap cannot see.",
		.opts = path_opts,
		.run = ph_run_path,
	},
	{
		.name = "roots",
		.summary = "what keeps objects alive: module globals, frames, "
			   "C data",
		.help = "The roots the graph starts from, each with the object "
			"it holds: each module's globals (module NAME) and "
			"sys.modules' entries, each thread's frames (their "
			"locals, stack and own fields), the interpreter's "
			"state (sys, builtins, gc.garbage), static types, and "
			"words of C memory that point at objects (C data: "
			"...). `path` names the first root that reaches an "
			"object.",
		.opts = roots_opts,
		.run = ph_run_roots,
	},
	{
		.name = "retained",
		.operand = "ADDR",
		.operand_required = true,
		.operand_complete = PH_COMPLETE_EXPR,
		.summary = "what deleting the object would free: its retained "
			   "size",
		.help = "The objects ADDR dominates (every path from a root to "
			"them passes through it, ADDR included): what deleting "
			"it would free, their count and sys.getsizeof() bytes; "
			"its own size; its immediate dominator (the nearest "
			"object every path to it passes through, or the roots "
			"themselves); and the shortest path from a root to it. "
			"Weak references keep nothing alive.",
		.opts = no_opts,
		.run = ph_run_retained,
	},
	{
		.name = "dominators",
		.summary = "what holds the memory: the largest retained sizes",
		.help = "The objects that retain the most (the dominator "
			"tree's largest nodes, at any depth), largest first, "
			"each with its own size, its retained objects and "
			"bytes, "
			"its share of the heap and the shortest path from a "
			"root to it. With --tree ADDR, the dominator tree "
			"below "
			"ADDR instead: what it retains, object by object. The "
			"tree starts at the roots; objects no root reaches "
			"hang "
			"under a root of their own, 'unreachable'.",
		.opts = dominators_opts,
		.run = ph_run_dominators,
		.flags = PH_CMD_OUTPUT_CACHED,
	},
	{
		.name = "leaks",
		.summary = "leak suspects: what retains most of the heap, and "
			   "where it accumulates",
		.help = "Objects that retain at least P percent of the heap "
			"(the largest nodes at the top of the dominator tree), "
			"each followed down the tree to its accumulation "
			"point: "
			"down while one object retains at least 80% of the one "
			"above, stopping at the object whose retained bytes "
			"spread over many children (a dict or list holding "
			"thousands of objects of one type), or at the first "
			"object of a chain (a type met 8 times on the way). "
			"Where an accumulation point splits into several "
			"children that each retain P percent, each is a "
			"suspect "
			"of its own. Largest first.",
		.opts = leaks_opts,
		.run = ph_run_leaks,
		.flags = PH_CMD_OUTPUT_CACHED,
	},
	{
		.name = "cycles",
		.summary = "reference cycles; --unreachable: what gc.collect() "
			   "would free now",
		.help = "The strongly connected components of the graph of "
			"strong references with more than one object or a "
			"self-reference, largest first: objects, bytes, types, "
			"and one loop through each written out edge by edge. "
			"The first line says how many objects are unreachable: "
			"what gc.collect() would free now (found as the "
			"collector does: refcounts less the references among "
			"tracked objects).",
		.opts = cycles_opts,
		.run = ph_run_cycles,
		.flags = PH_CMD_OUTPUT_CACHED,
	},
	{
		.name = "refcount",
		.operand = "ADDR",
		.operand_required = true,
		.operand_complete = PH_COMPLETE_EXPR,
		.summary = "its refcount against the references that exist",
		.help = "ob_refcnt, every strong reference py-heap found "
			"(objects, thread frames, the interpreter, C data) and "
			"the difference: an excess is held by code py-heap "
			"cannot see, or leaked by a C extension.",
		.opts = no_opts,
		.run = ph_run_refcount,
	},
	{
		.name = "refcheck",
		.summary = "the refcount audit: suspected C-extension leaks",
		.help = "Every refcount in the heap against the references "
			"found: objects with more (leaked, or held by C code), "
			"grouped by type, worst first; and objects with fewer "
			"(over-released, or corrupt).",
		.opts = refcheck_opts,
		.run = ph_run_refcheck,
		.flags = PH_CMD_OUTPUT_CACHED,
	},
	{
		.name = "info",
		.summary = "what py-heap found: version, runtime, sources",
		.help = "The Python version and build, the executable and its "
			"build-id, where the runtime state is, where the "
			"layouts and debug information came from, how many "
			"threads and objects were found and how, what the core "
			"did not save, what was damaged, and py-heap's "
			"version.",
		.opts = no_opts,
		.run = ph_run_info,
	},
	{
		.name = "snapshot",
		.operand = "[FILE]",
		.operand_complete = PH_COMPLETE_FILE,
		.summary = "save what a later diff needs to a file",
		.help = "Writes a snapshot of the heap to FILE (--output "
			"FILE): "
			"the types, each object's address, type, size, GC "
			"generation and a fingerprint of its contents, and the "
			"tree of shortest paths from the roots with the names "
			"of its containers; about 8 bytes per object, in a "
			"versioned format (docs/design.md). `diff` takes it in "
			"place of a core, for as long as it is kept.",
		.opts = snapshot_opts,
		.run = ph_run_snapshot,
	},
	{
		.name = "diff",
		.operand = "[BEFORE [AFTER]]",
		.operands_max = 2,
		.operand_complete = PH_COMPLETE_FILE,
		.summary = "what grew since BEFORE (a core or a snapshot), and "
			   "where",
		.help = "Compares the heap with BEFORE, a core or a snapshot "
			"file of the same process taken earlier: objects and "
			"bytes per type before and after, largest growth in "
			"bytes first; then where it grew: for each type that "
			"grew, the containers that gained the most new objects "
			"of it, with their path from a root. Objects are "
			"matched by address and type, and a block reused by a "
			"new object counts as freed and new. Two processes "
			"(two runs, two hosts) are compared by type only. "
			"Without --core or --pid, BEFORE and AFTER are both "
			"files; with --pid and --interval SECONDS, the process "
			"is read twice, running in between.",
		.opts = diff_opts,
		.flags = PH_CMD_SESSION_OPTIONAL | PH_CMD_OUTPUT_CACHED,
		.run = ph_run_diff,
		.output_key = ph_run_diff_key,
	},
	{
		.name = "graph",
		.operand = "ADDR",
		.operand_required = true,
		.operand_complete = PH_COMPLETE_EXPR,
		.summary = "a picture of the objects around one: who holds it, "
			   "or what it holds",
		.help = "The objects around ADDR as a graph, drawn by "
			"graphviz: who holds it, up to the roots (--backrefs, "
			"the default), or what it holds (--refs). Each node "
			"is an object (its type, a short repr, its address, "
			"size and retained size), a root (yellow) or a fold: "
			"past 8 holders (or referents), the first 3 of each "
			"type are drawn and the rest counted by type "
			"(\"4,997 more "
			"__main__.Session\"). Edges are strong references, "
			"labelled as referents labels them; path's chain from "
			"the root is blue, loops among the drawn objects are "
			"red. SVG, PNG or DOT by the extension of --output "
			"FILE; DOT on stdout without it.",
		.opts = graph_opts,
		.run = ph_run_graph,
	},
	{
		.name = "report",
		.summary = "one HTML page on the heap: leak suspects, cycles, "
			   "refcounts, types, with pictures",
		.help = "Writes one self-contained HTML page (--output "
			"FILE.html; its CSS, pictures and script inline, "
			"nothing loaded from the network): the leak suspects "
			"with their paths and pictures, the unreachable "
			"cycles with their loops drawn, the refcount audit's "
			"suspects, the largest types by count, bytes and "
			"retained bytes (tables sort when a heading is "
			"clicked), totals and pymalloc's use, and the process "
			"and what py-heap could not read.",
		.opts = report_opts,
		.run = ph_run_report,
	},
	{
		.name = "help",
		.operand = "[COMMAND]",
		.operand_complete = PH_COMPLETE_COMMAND,
		.summary = "this help, or one command's",
		.help = "Lists the commands, or tells what one does and its "
			"options. With --json, the command table itself (what "
			"the GDB commands are made from).",
		.opts = help_opts,
		.flags = PH_CMD_NO_SESSION,
		.run = ph_run_help,
	},
	{
		.name = "version",
		.summary = "py-heap's version",
		.help = "The version of py-heap (its library).",
		.opts = no_opts,
		.flags = PH_CMD_NO_SESSION,
		.run = ph_run_version,
	},
};

const size_t ph_ncommands = PH_ARRAY_SIZE(ph_commands);

/* The command line's own options, before the command (the CLI). */
static const struct ph_optdef cli_opts[] = {
	{.name = "--core",
	 .kind = PH_OPT_STR,
	 .metavar = "CORE",
	 .help = "the ELF core file (gcore, or the kernel's)",
	 .complete = PH_COMPLETE_FILE},
	{.name = "--pid",
	 .kind = PH_OPT_STR,
	 .metavar = "PID",
	 .help = "a running process (stopped only while its memory is "
		 "copied)"},
	{.name = "--no-stop",
	 .kind = PH_OPT_FLAG,
	 .help = "read the process without stopping it (may be "
		 "inconsistent)"},
	{.name = "--exe",
	 .kind = PH_OPT_STR,
	 .metavar = "EXE",
	 .help = "the executable, instead of the one the core names",
	 .complete = PH_COMPLETE_FILE},
	{.name = "--sysroot",
	 .kind = PH_OPT_STR,
	 .metavar = "DIR",
	 .help = "prefix for every file path taken from the core",
	 .complete = PH_COMPLETE_FILE},
	{.name = "--debug-dir",
	 .kind = PH_OPT_STR,
	 .metavar = "DIR",
	 .help = "separate debug files (DIR/.build-id/xx/rest.debug), "
		 "searched before /usr/lib/debug; repeatable",
	 .def = "repeatable",
	 .complete = PH_COMPLETE_FILE},
	{.name = "--no-debuginfod",
	 .kind = PH_OPT_FLAG,
	 .help = "do not ask DEBUGINFOD_URLS for debug information"},
	{.name = "--no-cache",
	 .kind = PH_OPT_FLAG,
	 .help = "neither read nor write the core's caches (in "
		 "~/.cache/py-heap: the first run on a core keeps its object "
		 "table, graph and computed answers there, later runs on the "
		 "unchanged core read them)"},
	{.name = "--json",
	 .kind = PH_OPT_FLAG,
	 .help = "print JSON instead of text"},
	{.name = "--plain",
	 .kind = PH_OPT_FLAG,
	 .help = "text for tools: numbers without separators, the columns of "
		 "tables separated by one tab (PYHEAP_PLAIN=1 says the same)"},
	{.name = "--quiet",
	 .kind = PH_OPT_FLAG,
	 .help = "no progress lines on stderr (work longer than a second "
		 "prints them)"},
	{.name = "--batch",
	 .kind = PH_OPT_STR,
	 .metavar = "FILE",
	 .help = "run one command per line of FILE ('-': stdin) on one "
		 "session: the heap and its index are built once",
	 .complete = PH_COMPLETE_FILE},
	{.name = "--version",
	 .kind = PH_OPT_FLAG,
	 .help = "print py-heap's version"},
	{.name = "--help", .kind = PH_OPT_FLAG, .help = "print this help"},
	{0},
};

static const struct ph_cmddef cli_def = {
	.name = "py-heap",
	.operand = "COMMAND",
	.opts = cli_opts,
	.flags = PH_CMD_HIDDEN,
};

const struct ph_cmddef *ph_command_find(const char *name)
{
	for (size_t i = 0; i < ph_ncommands; i++)
		if (!strcmp(ph_commands[i].name, name))
			return &ph_commands[i];
	return NULL;
}

/* ---- the parser ---------------------------------------------------------- */

static int opt_index(const struct ph_cmddef *cmd, const char *name, size_t len)
{
	for (int i = 0; cmd->opts[i].name; i++)
		if (strlen(cmd->opts[i].name) == len &&
		    !strncmp(cmd->opts[i].name, name, len))
			return i;
	return -1;
}

static bool is_repeatable(const struct ph_optdef *o)
{
	return o->def && !strcmp(o->def, "repeatable");
}

static struct ph_error *parse_num(const char *who, const char *colon,
				  const char *opt, const char *v, uint64_t *ret)
{
	char *end;
	if (!v || !*v || *v == '-')
		return ph_error_create(PH_ERR_USAGE,
				       "%s%s%s needs a non-negative number",
				       who, colon, opt);
	errno = 0;
	unsigned long long n = strtoull(v, &end, 0);
	if (*end || errno)
		return ph_error_create(PH_ERR_USAGE,
				       "%s%s%s: '%s' is not a number", who,
				       colon, opt, v);
	*ret = n;
	return NULL;
}

/* Parses options until the operand (stop_at_operand: the CLI, whose
 * operand is the command) or to the end. Returns the index of the first
 * word not parsed in *ret_next. */
static struct ph_error *parse(const struct ph_cmddef *cmd, int argc,
			      const char *const *argv, bool stop_at_operand,
			      struct ph_args *ret, bool *ret_help,
			      int *ret_next)
{
	/* "types: " before a message; nothing for the CLI's own options */
	const char *who = cmd->flags & PH_CMD_HIDDEN ? "" : cmd->name;
	const char *colon = *who ? ": " : "";
	memset(ret, 0, sizeof(*ret));
	ret->cmd = cmd;
	*ret_help = false;
	bool ended = false;
	int i;
	for (i = 1; i < argc; i++) {
		const char *w = argv[i];
		if (!ended && !strcmp(w, "--")) {
			ended = true;
			continue;
		}
		bool option = !ended && w[0] == '-' && w[1] &&
			      !(w[1] >= '0' && w[1] <= '9');
		if (!option) {
			if (stop_at_operand)
				break;
			if (ret->operand && !ret->operand2 &&
			    cmd->operands_max >= 2) {
				ret->operand2 = w;
				continue;
			}
			if (ret->operand || !cmd->operand)
				return ph_error_create(
					PH_ERR_USAGE,
					"%s%sunexpected argument '%s'%s", who,
					colon, w,
					cmd->operand ? "" : " (it takes none)");
			ret->operand = w;
			continue;
		}
		if (!strcmp(w, "-h") || !strcmp(w, "--help")) {
			*ret_help = true;
			continue;
		}
		const char *eq = strchr(w, '=');
		size_t len = eq ? (size_t)(eq - w) : strlen(w);
		if (!strncmp(w, "--json", len) && len == 6 && !eq) {
			ret->json = true;
			continue;
		}
		int k = opt_index(cmd, w, len);
		if (k < 0 && !eq && !strcmp(w, "--plain")) {
			ret->plain = true;
			continue;
		}
		if (k < 0 && !eq && !strcmp(w, "--quiet")) {
			ret->quiet = true;
			continue;
		}
		if (k < 0)
			return ph_error_create(PH_ERR_USAGE,
					       "%s%sunknown option '%.*s' (%s "
					       "--help lists them)",
					       who, colon, (int)len, w,
					       cmd->flags & PH_CMD_HIDDEN
						       ? "py-heap"
						       : cmd->name);
		const struct ph_optdef *o = &cmd->opts[k];
		if (o->kind == PH_OPT_FLAG) {
			if (eq)
				return ph_error_create(PH_ERR_USAGE,
						       "%s%s%s takes no value",
						       who, colon, o->name);
			ret->v[k].set = true;
			ret->v[k].num++;
			continue;
		}
		const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
		if (!v)
			return ph_error_create(PH_ERR_USAGE,
					       "%s%s%s needs a value (%s)", who,
					       colon, o->name, o->metavar);
		if (ret->v[k].set && !is_repeatable(o))
			return ph_error_create(PH_ERR_USAGE,
					       "%s%s%s given twice", who, colon,
					       o->name);
		if (is_repeatable(o) && ret->v[k].num >= PH_MAX_VALUES)
			return ph_error_create(
				PH_ERR_USAGE, "%s%s%s given more than %d times",
				who, colon, o->name, PH_MAX_VALUES);
		ret->v[k].set = true;
		ret->v[k].str = v;
		if (is_repeatable(o))
			ret->values[k][ret->v[k].num++] = v;
		struct ph_error *err = NULL;
		if (o->kind == PH_OPT_NUM)
			err = parse_num(who, colon, o->name, v, &ret->v[k].num);
		else if (o->kind == PH_OPT_CHOICE) {
			size_t c;
			for (c = 0; o->choices[c]; c++)
				if (!strcmp(o->choices[c], v))
					break;
			if (!o->choices[c]) {
				struct ph_buf b;
				ph_buf_init(&b);
				for (c = 0; o->choices[c]; c++)
					ph_buf_printf(&b, "%s%s",
						      c ? (o->choices[c + 1]
								   ? ", "
								   : " or ")
							: "",
						      o->choices[c]);
				err = ph_error_create(
					PH_ERR_USAGE, "%s%s%s takes %s", who,
					colon, o->name, b.data ? b.data : "");
				ph_buf_free(&b);
			}
		}
		if (err)
			return err;
	}
	*ret_next = i;
	return NULL;
}

struct ph_error *ph_args_parse(const struct ph_cmddef *cmd, int argc,
			       const char *const *argv, struct ph_args *ret,
			       bool *ret_help)
{
	int next;
	return parse(cmd, argc, argv, false, ret, ret_help, &next);
}

static int arg_index(const struct ph_args *a, const char *name)
{
	return opt_index(a->cmd, name, strlen(name));
}

uint64_t ph_args_num(const struct ph_args *a, const char *name, uint64_t def)
{
	int k = arg_index(a, name);
	return k >= 0 && a->v[k].set ? a->v[k].num : def;
}

const char *ph_args_str(const struct ph_args *a, const char *name,
			const char *def)
{
	int k = arg_index(a, name);
	return k >= 0 && a->v[k].set ? a->v[k].str : def;
}

bool ph_args_flag(const struct ph_args *a, const char *name)
{
	int k = arg_index(a, name);
	return k >= 0 && a->v[k].set;
}

static unsigned arg_unsigned(const struct ph_args *a, const char *name,
			     unsigned def)
{
	uint64_t v = ph_args_num(a, name, def);
	return v > UINT32_MAX ? UINT32_MAX : (unsigned)v;
}

struct ph_readable_opts ph_args_readable(const struct ph_args *a,
					 size_t max_len)
{
	return (struct ph_readable_opts){
		.items = arg_unsigned(a, "--items", 10),
		.depth = arg_unsigned(a, "--nesting", 3),
		.str_len = arg_unsigned(a, "--str-len", 60),
		.max_len = max_len,
	};
}

/* ---- the CLI's own options ----------------------------------------------- */

struct ph_cli {
	struct ph_args a;
	int command; /* index of the command's name in argv, or argc */
};

struct ph_error *ph_cli_parse(int argc, const char *const *argv,
			      struct ph_cli **ret)
{
	struct ph_cli *c = calloc(1, sizeof(*c));
	if (!c)
		return ph_error_nomem();
	bool help;
	struct ph_error *err =
		parse(&cli_def, argc, argv, true, &c->a, &help, &c->command);
	if (err) {
		free(c);
		return err;
	}
	if (help)
		c->a.v[opt_index(&cli_def, "--help", 6)].set = true;
	if (c->a.json)
		c->a.v[opt_index(&cli_def, "--json", 6)].set = true;
	*ret = c;
	return NULL;
}

const char *ph_cli_value(const struct ph_cli *c, const char *option, size_t i)
{
	int k = arg_index(&c->a, option);
	if (k < 0 || !c->a.v[k].set)
		return NULL;
	if (!is_repeatable(&cli_def.opts[k]))
		return i ? NULL : c->a.v[k].str;
	return i < c->a.v[k].num ? c->a.values[k][i] : NULL;
}

bool ph_cli_flag(const struct ph_cli *c, const char *option)
{
	return ph_args_flag(&c->a, option);
}

int ph_cli_command(const struct ph_cli *c)
{
	return c->command;
}

void ph_cli_destroy(struct ph_cli *c)
{
	free(c);
}

/* ---- help ---------------------------------------------------------------- */

static const char *const kind_names[] = {
	[PH_OPT_FLAG] = "flag",
	[PH_OPT_NUM] = "number",
	[PH_OPT_STR] = "string",
	[PH_OPT_CHOICE] = "choice",
};

static const char *const complete_names[] = {
	[PH_COMPLETE_NONE] = "none",	   [PH_COMPLETE_TYPE] = "type",
	[PH_COMPLETE_EXPR] = "expression", [PH_COMPLETE_COMMAND] = "command",
	[PH_COMPLETE_FILE] = "file",
};

/* "types [--limit N] [--sort count|size]" */
static void synopsis(const struct ph_cmddef *c, struct ph_buf *b)
{
	ph_buf_puts(b, c->name);
	if (c->operand)
		ph_buf_printf(b, " %s", c->operand);
	for (size_t i = 0; c->opts[i].name; i++) {
		const struct ph_optdef *o = &c->opts[i];
		if (o->kind == PH_OPT_FLAG)
			ph_buf_printf(b, " [%s]", o->name);
		else
			ph_buf_printf(b, " [%s %s]", o->name, o->metavar);
	}
}

/* text wrapped at width, each line after the first indented */
static void wrap(struct ph_buf *b, const char *text, size_t indent,
		 size_t first_col, size_t width)
{
	size_t col = first_col;
	const char *p = text;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		size_t len = (size_t)(e - p);
		if (!len)
			break;
		if (col > indent && col + 1 + len > width) {
			ph_buf_printf(b, "\n%*s", (int)indent, "");
			col = indent;
		} else if (col > indent) {
			ph_buf_putc(b, ' ');
			col++;
		}
		ph_buf_putn(b, p, len);
		col += len;
		p = e;
	}
	ph_buf_putc(b, '\n');
}

static void options_text(const struct ph_optdef *opts, struct ph_buf *b)
{
	for (size_t i = 0; opts[i].name; i++) {
		const struct ph_optdef *o = &opts[i];
		size_t before = b->len;
		ph_buf_printf(b, "  %s%s%s", o->name, o->metavar ? " " : "",
			      o->metavar ? o->metavar : "");
		size_t col = b->len - before;
		if (col < 22)
			ph_buf_printf(b, "%*s", (int)(22 - col), "");
		else {
			ph_buf_printf(b, "\n%22s", "");
		}
		struct ph_buf h;
		ph_buf_init(&h);
		ph_buf_puts(&h, o->help);
		if (o->def && !is_repeatable(o))
			ph_buf_printf(&h, " (default: %s)", o->def);
		wrap(b, h.data ? h.data : "", 22, 22, 78);
		ph_buf_free(&h);
	}
}

void ph_help_text(const struct ph_cmddef *c, struct ph_buf *b)
{
	if (c) {
		ph_buf_puts(b, "usage: py-heap [OPTIONS] ");
		synopsis(c, b);
		ph_buf_puts(b, " [--json]\n\n");
		wrap(b, c->summary, 0, 0, 78);
		ph_buf_putc(b, '\n');
		wrap(b, c->help, 0, 0, 78);
		if (c->opts[0].name) {
			ph_buf_puts(b, "\nOptions:\n");
			options_text(c->opts, b);
		}
		ph_buf_puts(b, "  --json              print JSON instead of "
			       "text\n"
			       "  --plain             text for tools: numbers "
			       "without separators, tabs\n"
			       "                      between columns\n"
			       "  --quiet             no progress lines on "
			       "stderr\n");
		if (c->operand && !strcmp(c->operand, "ADDR"))
			ph_buf_puts(b, "\nADDR is an object's address, as id() "
				       "gives it (0x7f... or decimal).\n");
		return;
	}
	ph_buf_puts(b,
		    "usage: py-heap --core CORE [--exe EXE] [--sysroot DIR] "
		    "[--debug-dir DIR]\n"
		    "               [--no-debuginfod] [--json] COMMAND "
		    "[ARGS]\n"
		    "       py-heap --pid PID [--no-stop] [--json] COMMAND "
		    "[ARGS]\n"
		    "       py-heap --core CORE|--pid PID [--json] --batch "
		    "FILE\n"
		    "       py-heap [--json] diff BEFORE AFTER (two snapshots "
		    "or cores)\n"
		    "       py-heap help [COMMAND]\n"
		    "\n"
		    "Inspect the Python heap of a CPython process from its "
		    "core dump, or\n"
		    "of a running process (stopped only while its memory is "
		    "copied).\n"
		    "\nOptions:\n");
	options_text(cli_opts, b);
	ph_buf_puts(b, "\nCommands:\n");
	for (size_t i = 0; i < ph_ncommands; i++) {
		const struct ph_cmddef *c2 = &ph_commands[i];
		size_t before = b->len;
		ph_buf_puts(b, "  ");
		synopsis(c2, b);
		size_t col = b->len - before;
		if (col < 18)
			ph_buf_printf(b, "%*s", (int)(18 - col), "");
		else
			ph_buf_printf(b, "\n%18s", "");
		wrap(b, c2->summary, 18, 18, 78);
	}
	ph_buf_puts(b,
		    "\nADDR is an object's address, as id() gives it (0x7f... "
		    "or decimal).\n"
		    "Options take --opt VALUE or --opt=VALUE; -- ends them. "
		    "`py-heap help\n"
		    "COMMAND` or `COMMAND --help` tells more about one "
		    "command.\n"
		    "\n"
		    "Exit status: 0 on success; 2 on any error (one line on "
		    "stderr), and\n"
		    "after a partial answer from a damaged core (notes on "
		    "stderr); killed\n"
		    "by SIGINT when interrupted (a process is resumed "
		    "first).\n");
}

static void options_json(const struct ph_optdef *opts, struct ph_json *j)
{
	ph_json_array_begin(j);
	for (size_t i = 0; opts[i].name; i++) {
		const struct ph_optdef *o = &opts[i];
		ph_json_object_begin(j);
		ph_json_key(j, "name");
		ph_json_str(j, o->name);
		ph_json_key(j, "kind");
		ph_json_str(j, kind_names[o->kind]);
		ph_json_key(j, "metavar");
		if (o->metavar)
			ph_json_str(j, o->metavar);
		else
			ph_json_null(j);
		ph_json_key(j, "help");
		ph_json_str(j, o->help);
		ph_json_key(j, "default");
		if (o->def && !is_repeatable(o))
			ph_json_str(j, o->def);
		else
			ph_json_null(j);
		ph_json_key(j, "repeatable");
		ph_json_bool(j, is_repeatable(o));
		ph_json_key(j, "choices");
		ph_json_array_begin(j);
		for (size_t c = 0; o->choices && o->choices[c]; c++)
			ph_json_str(j, o->choices[c]);
		ph_json_array_end(j);
		ph_json_key(j, "complete");
		ph_json_str(j, complete_names[o->complete]);
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
}

static void command_json(const struct ph_cmddef *c, struct ph_json *j)
{
	struct ph_buf syn;
	ph_buf_init(&syn);
	synopsis(c, &syn);
	ph_json_key(j, "name");
	ph_json_str(j, c->name);
	ph_json_key(j, "synopsis");
	ph_json_str(j, syn.data);
	ph_buf_free(&syn);
	ph_json_key(j, "operand");
	if (c->operand)
		ph_json_str(j, c->operand);
	else
		ph_json_null(j);
	ph_json_key(j, "operand_required");
	ph_json_bool(j, c->operand_required);
	ph_json_key(j, "operand_complete");
	ph_json_str(j, complete_names[c->operand_complete]);
	ph_json_key(j, "operands_max");
	ph_json_u64(j,
		    c->operand ? (c->operands_max ? c->operands_max : 1) : 0);
	ph_json_key(j, "needs_process");
	ph_json_bool(j, !(c->flags & PH_CMD_NO_SESSION));
	ph_json_key(j, "summary");
	ph_json_str(j, c->summary);
	ph_json_key(j, "help");
	ph_json_str(j, c->help);
	ph_json_key(j, "options");
	options_json(c->opts, j);
}

/* troff: a line's leading . or ' and every backslash escaped */
static void man_text(struct ph_buf *b, const char *s)
{
	if (*s == '.' || *s == '\'')
		ph_buf_puts(b, "\\&");
	for (; *s; s++) {
		if (*s == '\\')
			ph_buf_puts(b, "\\e");
		else if (*s == '-')
			ph_buf_puts(b, "\\-");
		else
			ph_buf_putc(b, *s);
	}
}

static void man_options(const struct ph_optdef *opts, struct ph_buf *b)
{
	for (size_t i = 0; opts[i].name; i++) {
		const struct ph_optdef *o = &opts[i];
		ph_buf_puts(b, ".TP\n\\fB");
		man_text(b, o->name);
		ph_buf_puts(b, "\\fR");
		if (o->metavar) {
			ph_buf_puts(b, " \\fI");
			man_text(b, o->metavar);
			ph_buf_puts(b, "\\fR");
		}
		ph_buf_putc(b, '\n');
		man_text(b, o->help);
		if (o->def && !is_repeatable(o)) {
			ph_buf_puts(b, " (default: ");
			man_text(b, o->def);
			ph_buf_putc(b, ')');
		}
		ph_buf_puts(b, ".\n");
	}
}

static void man_page(struct ph_buf *b)
{
	ph_buf_printf(
		b,
		".TH PY\\-HEAP 1 \"\" \"py-heap %s\" \"User Commands\"\n"
		".SH NAME\n"
		"py\\-heap \\- inspect the Python heap of a CPython core "
		"dump or process\n"
		".SH SYNOPSIS\n"
		".B py\\-heap\n"
		"\\fB\\-\\-core\\fR \\fICORE\\fR|\\fB\\-\\-pid\\fR "
		"\\fIPID\\fR [\\fIOPTIONS\\fR] \\fICOMMAND\\fR "
		"[\\fIARGS\\fR]\n"
		".br\n"
		".B py\\-heap\n"
		"\\fB\\-\\-core\\fR \\fICORE\\fR|\\fB\\-\\-pid\\fR "
		"\\fIPID\\fR [\\fIOPTIONS\\fR] \\fB\\-\\-batch\\fR "
		"\\fIFILE\\fR\n"
		".br\n"
		".B py\\-heap\n"
		"\\fBdiff\\fR \\fIBEFORE\\fR \\fIAFTER\\fR\n"
		".br\n"
		".B py\\-heap help\n"
		"[\\fICOMMAND\\fR]\n"
		".SH DESCRIPTION\n"
		"py\\-heap reads the memory of a CPython 3.8 to 3.15 "
		"process, from a core file or a running process "
		"(stopped only while its memory is copied), finds every "
		"Python object without running code in the process, "
		"and answers: which types fill the heap, who holds an "
		"object and why it is alive, which cycles are garbage, "
		"whose refcount its referrers do not explain. The same "
		"commands run in GDB as \\fBpy\\-heap\\fR "
		"\\fICOMMAND\\fR (source share/py\\-heap/gdb/py\\-heap.py).\n"
		".SH OPTIONS\n",
		ph_version());
	man_options(cli_opts, b);
	ph_buf_puts(b, ".SH COMMANDS\n");
	for (size_t i = 0; i < ph_ncommands; i++) {
		const struct ph_cmddef *c = &ph_commands[i];
		struct ph_buf syn;
		ph_buf_init(&syn);
		synopsis(c, &syn);
		ph_buf_puts(b, ".SS ");
		man_text(b, syn.data ? syn.data : "");
		ph_buf_free(&syn);
		ph_buf_puts(b, "\n");
		man_text(b, c->help);
		ph_buf_puts(b, "\n");
		if (c->opts[0].name) {
			ph_buf_puts(b, ".RS\n");
			man_options(c->opts, b);
			ph_buf_puts(b, ".RE\n");
		}
	}
	ph_buf_puts(b,
		    ".SH OUTPUT\n"
		    "Text for people, or with \\fB\\-\\-json\\fR one JSON "
		    "object per answer, on one line, in strict UTF\\-8, "
		    "each with \\fB\"partial\"\\fR and \\fB\"notes\"\\fR; an "
		    "error is \\fB{\"error\": {\"code\", \"message\"}}\\fR. "
		    "With \\fB\\-\\-batch\\fR each answer also has "
		    "\\fB\"command\"\\fR, the line it answers.\n"
		    ".SH EXIT STATUS\n"
		    "0 on success; 2 on an error (one line on stderr) or a "
		    "partial answer (a damaged or truncated core; notes on "
		    "stderr), and with \\fB\\-\\-batch\\fR when any command "
		    "failed or was partial; a failed write to standard "
		    "output is an error. Interrupted (SIGINT), py\\-heap "
		    "lets a stopped process go and then dies by SIGINT.\n"
		    ".SH ENVIRONMENT\n"
		    ".TP\n\\fBDEBUGINFOD_URLS\\fR\n"
		    "debuginfod servers asked for debug information.\n"
		    ".TP\n\\fBPYHEAP_CACHE_DIR\\fR\n"
		    "where the outcome of the layout check is cached "
		    "(default ~/.cache/py\\-heap).\n"
		    ".TP\n\\fBPYHEAP_DETACH_WRITES\\fR\n"
		    "0: the cache files written by py\\-heap before it "
		    "answers; all: each by a child it forks, which the answer "
		    "does not wait for. Unset: a child writes those of 4 MiB "
		    "and more (a large heap's index and graph).\n"
		    ".TP\n\\fBPYHEAP_DETACH_EXIT\\fR\n"
		    "0: py\\-heap frees its memory before it exits. Unset, "
		    "on a core: it exits once it has answered, and a child "
		    "sharing that memory frees it as it dies with it.\n"
		    ".TP\n\\fBPYHEAP_NO_OUTPUT_CACHE\\fR\n"
		    "set and not 0: a whole-heap report is computed from the "
		    "core's other caches, not read back as printed before "
		    "(to time or test them).\n"
		    ".TP\n\\fBPYHEAP_PLAIN\\fR\n"
		    "set and not 0: text for tools, as \\fB\\-\\-plain\\fR.\n"
		    ".TP\n\\fBPYHEAP_PROGRESS_AFTER\\fR\n"
		    "seconds of work before progress is shown on stderr "
		    "(default 1).\n"
		    ".TP\n\\fBPYHEAP_TIMING\\fR\n"
		    "1: the time of each stage, on stderr.\n"
		    ".SH SEE ALSO\n"
		    "\\fBgdb\\fR(1), \\fBgcore\\fR(1); the manual, "
		    "docs/manual.md in the sources.\n");
}

static PH_RUN(help)
{
	const struct ph_cmddef *c = NULL;
	if (a->operand && !(c = ph_command_find(a->operand)))
		return ph_error_create(PH_ERR_NOT_FOUND,
				       "help: no command '%s' (py-heap help "
				       "lists them)",
				       a->operand);
	if (ph_args_flag(a, "--man")) {
		if (out->json)
			return ph_error_create(PH_ERR_USAGE,
					       "help: --man and --json: one or "
					       "the other");
		man_page(out->buf);
		return NULL;
	}
	if (!out->json) {
		ph_help_text(c, out->buf);
		return NULL;
	}
	struct ph_json *j = &out->j;
	ph_json_key(j, "version");
	ph_json_str(j, ph_version());
	/* (one command's help is the table with one entry) */
	ph_json_key(j, "commands");
	ph_json_array_begin(j);
	for (size_t i = 0; i < ph_ncommands; i++) {
		if (c && c != &ph_commands[i])
			continue;
		ph_json_object_begin(j);
		command_json(&ph_commands[i], j);
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
	if (!c) {
		ph_json_key(j, "options");
		options_json(cli_opts, j);
	}
	return NULL;
}

static PH_RUN(version)
{
	if (out->json) {
		ph_json_key(&out->j, "version");
		ph_json_str(&out->j, ph_version());
	} else
		ph_buf_printf(out->buf, "py-heap %s\n", ph_version());
	return NULL;
}

/* ---- running a command --------------------------------------------------- */

static void notes_json(struct ph_session *s, bool partial, struct ph_json *j)
{
	ph_json_key(j, "partial");
	ph_json_bool(j, partial || (s && s->partial));
	ph_json_key(j, "notes");
	ph_json_array_begin(j);
	for (size_t i = 0; s && i < s->nnotes; i++) {
		ph_json_object_begin(j);
		ph_json_key(j, "code");
		ph_json_str(j, ph_note_code_name(s->notes[i].code));
		ph_json_key(j, "message");
		ph_json_str(j, s->notes[i].message);
		ph_json_object_end(j);
	}
	ph_json_array_end(j);
}

char *ph_error_json(const struct ph_error *err, struct ph_session *s,
		    const char *command)
{
	struct ph_buf b;
	struct ph_json j;
	ph_buf_init(&b);
	ph_json_init(&j, &b);
	ph_json_object_begin(&j);
	if (command) {
		ph_json_key(&j, "command");
		ph_json_str(&j, command);
	}
	ph_json_key(&j, "error");
	ph_json_object_begin(&j);
	ph_json_key(&j, "code");
	ph_json_str(&j, ph_error_code_name(ph_error_code(err)));
	ph_json_key(&j, "message");
	ph_json_str(&j, ph_error_message(err));
	if (ph_error_address(err)) {
		ph_json_key(&j, "address");
		ph_json_addr(&j, ph_error_address(err));
	}
	if (ph_error_path(err)) {
		ph_json_key(&j, "path");
		ph_json_str(&j, ph_error_path(err));
	}
	if (err->suggestions) {
		ph_json_key(&j, "suggestions");
		ph_json_array_begin(&j);
		const char *sg = err->suggestions;
		for (size_t k = 0; k < err->nsuggestions; k++) {
			ph_json_str(&j, sg);
			sg += strlen(sg) + 1;
		}
		ph_json_array_end(&j);
	}
	ph_json_object_end(&j);
	notes_json(s, false, &j);
	ph_json_object_end(&j);
	ph_buf_putc(&b, '\n');
	char *ret = NULL;
	struct ph_error *e = ph_buf_finish(&b, &ret);
	ph_error_destroy(e);
	return ret;
}

/* --interp ID: the interpreter the command is limited to, by its id. */
static struct ph_error *select_interp(struct ph_session *s,
				      const struct ph_args *a)
{
	if (!s)
		return NULL;
	s->only_interp = -1;
	if (arg_index(a, "--interp") < 0 || !ph_args_flag(a, "--interp"))
		return NULL;
	uint64_t id = ph_args_num(a, "--interp", 0);
	struct ph_buf b;
	ph_buf_init(&b);
	for (size_t k = 0; k < s->rt->ninterps; k++) {
		if ((uint64_t)s->rt->interps[k].id == id) {
			s->only_interp = (int)k;
			ph_buf_free(&b);
			return NULL;
		}
		ph_buf_printf(&b, "%s%lld", k ? ", " : "",
			      (long long)s->rt->interps[k].id);
	}
	struct ph_error *err = ph_error_create(
		PH_ERR_USAGE,
		"%s: --interp %llu: no such interpreter (the process has %s)",
		a->cmd->name, (unsigned long long)id, b.data ? b.data : "");
	ph_buf_free(&b);
	return err;
}

static const char *command_names(struct ph_buf *b)
{
	for (size_t i = 0; i < ph_ncommands; i++)
		ph_buf_printf(b, "%s%s", i ? ", " : "", ph_commands[i].name);
	return b->data ? b->data : "";
}

/* ---- the outputs' cache ---------------------------------------------------
 * A whole-heap report of a core (a command flagged PH_CMD_OUTPUT_CACHED,
 * run by PH_EXEC_CACHE: the CLI's one command) is kept as the bytes it
 * printed, in the answers' cache, under a key of everything those bytes
 * depend on beyond the core's index (answercache.c keys by that index and
 * this build): the command and its options as parsed (a number by its
 * value), --json and --plain as they apply (PYHEAP_PLAIN included), the
 * core's path as given (notes name it) and the notes the session had
 * before the command (they are in the JSON). The renderers read nothing
 * else: no terminal, locale or clock. An option naming a file (dominators
 * --export writes one) is never cached; an operand naming one is read,
 * and its identity is in the key (diff's BEFORE: its own core's index, or
 * a snapshot file's header and sections' sums). */

static void key_str(struct ph_buf *b, const char *what, const char *v)
{
	ph_buf_printf(b, "%s %zu:", what, v ? strlen(v) : (size_t)0);
	if (v)
		ph_buf_puts(b, v);
	ph_buf_putc(b, '\n');
}

/* The key of the command a on s, with the first notes_len bytes of the
 * session's notes; false when it is not to be cached. */
static bool output_key(struct ph_session *s, const struct ph_args *a,
		       size_t notes_len, struct ph_buf *b)
{
	const struct ph_cmddef *c = a->cmd;
	if (!s || !(c->flags & PH_CMD_OUTPUT_CACHED) ||
	    !ph_answercache_outputs_on(s->rt))
		return false;
	ph_buf_printf(b, "py-heap %s output\ncommand %s json %d plain %d\n",
		      ph_version(), c->name, a->json, a->plain);
	key_str(b, "operand", a->operand);
	key_str(b, "operand2", a->operand2);
	for (int i = 0; c->opts[i].name; i++) {
		const struct ph_optdef *o = &c->opts[i];
		if (!a->v[i].set)
			continue;
		if (o->complete == PH_COMPLETE_FILE || is_repeatable(o))
			return false;
		if (o->kind == PH_OPT_NUM)
			ph_buf_printf(b, "%s %llu\n", o->name,
				      (unsigned long long)a->v[i].num);
		else if (o->kind == PH_OPT_FLAG)
			ph_buf_printf(b, "%s\n", o->name);
		else
			key_str(b, o->name, a->v[i].str);
	}
	key_str(b, "core", s->target->core_path);
	/* a file an operand names: by what it is now, else not cached */
	if (a->operand && c->operand_complete == PH_COMPLETE_FILE &&
	    !(c->output_key && c->output_key(s, a, b)))
		return false;
	ph_buf_printf(b, "notes %zu:", notes_len);
	ph_buf_putn(b, s->notes_text.data ? s->notes_text.data : "", notes_len);
	return !b->failed;
}

/* Keeps the output just made (the notes from note0 on, partial): of a
 * heap in the index cache, or of what was kept of one (no heap read: a
 * diff's result). */
static void output_store(struct ph_session *s, const struct ph_args *a,
			 size_t notes_len, size_t note0, bool partial,
			 const struct ph_buf *out)
{
	struct ph_buf key, notes;
	const struct ph_heap *h = s->heap;
	if ((h && !h->cache_sum) || out->failed || !out->len)
		return;
	ph_buf_init(&key);
	ph_buf_init(&notes);
	if (output_key(s, a, notes_len, &key) &&
	    ph_session_notes_pack(s, note0, &notes)) {
		ph_stage(NULL);
		if (ph_answercache_output_store(s->rt, h, key.data, key.len,
						out->data, out->len, notes.data,
						notes.len, partial))
			ph_stage("output cache written");
	}
	ph_buf_free(&key);
	ph_buf_free(&notes);
}

/* --json (in flags, or anywhere in argv: an error's JSON wants it before
 * the words are parsed) and --plain (in flags, or PYHEAP_PLAIN), as a
 * run and a cached output both take them. */
static void output_mode(struct ph_args *a, int argc, const char *const *argv,
			unsigned flags)
{
	const char *env = getenv("PYHEAP_PLAIN");
	a->json |= (flags & PH_EXEC_JSON) != 0;
	for (int i = 1; i < argc; i++)
		a->json |= !strcmp(argv[i], "--json");
	a->plain |=
		(flags & PH_EXEC_PLAIN) || (env && *env && strcmp(env, "0"));
}

int ph_session_exec_cached(struct ph_session *s, int argc,
			   const char *const *argv, unsigned flags, int fd)
{
	const struct ph_cmddef *c;
	struct ph_args a;
	bool help = false;
	if (!s || argc < 1 || !argv[0] || !(c = ph_command_find(argv[0])) ||
	    !(c->flags & PH_CMD_OUTPUT_CACHED))
		return 0;
	struct ph_error *err = ph_args_parse(c, argc, argv, &a, &help);
	if (err || help) {
		ph_error_destroy(err);
		return 0;
	}
	output_mode(&a, argc, argv, flags);
	if ((err = select_interp(s, &a))) {
		ph_error_destroy(err);
		return 0;
	}
	s->only_interp = -1;
	struct ph_buf key;
	struct ph_answers ans;
	ph_buf_init(&key);
	ph_stage(NULL);
	bool hit = output_key(s, &a, s->notes_text.len, &key) &&
		   ph_answercache_output_load(s->rt, key.data, key.len, &ans);
	ph_buf_free(&key);
	if (!hit)
		return 0;
	/* the notes the run made, as it made them */
	ph_session_notes_unpack(s, ans.sec[1], ans.bytes[1]);
	s->partial |= ans.val[0] != 0;
	bool ok = ph_write_all(fd, ans.sec[0], ans.bytes[0]);
	int saved = errno;
	ph_answercache_release(&ans);
	ph_stage("output cache read");
	errno = saved;
	return ok ? 1 : -1;
}

struct ph_error *ph_session_exec(struct ph_session *s, int argc,
				 const char *const *argv, unsigned flags,
				 const char *command, char **ret)
{
	*ret = NULL;
	bool json = flags & PH_EXEC_JSON;
	struct ph_error *err = NULL;
	const struct ph_cmddef *c = NULL;
	struct ph_args a;
	bool help = false;
	for (int i = 1; i < argc; i++) /* an error's JSON wants it early */
		if (!strcmp(argv[i], "--json"))
			json = true;
	if (argc < 1 || !argv[0] || !*argv[0]) {
		struct ph_buf b;
		ph_buf_init(&b);
		err = ph_error_create(PH_ERR_USAGE, "no command (commands: %s)",
				      command_names(&b));
		ph_buf_free(&b);
	} else if (!(c = ph_command_find(argv[0]))) {
		struct ph_buf b;
		ph_buf_init(&b);
		err = ph_error_create(PH_ERR_USAGE,
				      "unknown command '%s' (commands: %s)",
				      argv[0], command_names(&b));
		ph_buf_free(&b);
	} else if (!(err = ph_args_parse(c, argc, argv, &a, &help))) {
		output_mode(&a, argc, argv, flags);
		json = a.json;
		a.quiet |= (flags & PH_EXEC_QUIET) != 0;
		if (flags & PH_EXEC_CHECK)
			return NULL;
		if (!s && !help &&
		    !(c->flags & (PH_CMD_NO_SESSION | PH_CMD_SESSION_OPTIONAL)))
			err = ph_error_create(PH_ERR_USAGE,
					      "%s needs a core or a process "
					      "(--core CORE or --pid PID)",
					      c->name);
	}
	if (err) {
		if (json)
			*ret = ph_error_json(err, s, command);
		return err;
	}
	struct ph_buf buf;
	ph_buf_init(&buf);
	size_t notes_len = 0, note0 = 0;
	struct ph_out out = {.json = json, .buf = &buf};
	ph_json_init(&out.j, &buf);
	if (json) {
		ph_json_object_begin(&out.j);
		if (command) {
			ph_json_key(&out.j, "command");
			ph_json_str(&out.j, command);
		}
	}
	char label[64];
	snprintf(label, sizeof(label), "command %s", c->name);
	ph_stage(NULL);
	__atomic_store_n(&ph_interrupt_flag, 0, __ATOMIC_RELAXED);
	if (help) {
		if (json) {
			ph_json_key(&out.j, "version");
			ph_json_str(&out.j, ph_version());
			ph_json_key(&out.j, "commands");
			ph_json_array_begin(&out.j);
			ph_json_object_begin(&out.j);
			command_json(c, &out.j);
			ph_json_object_end(&out.j);
			ph_json_array_end(&out.j);
		} else
			ph_help_text(c, &buf);
	} else if (!(err = select_interp(s, &a))) {
		ph_plain_set(a.plain && !json);
		ph_progress_begin(a.quiet);
		notes_len = s ? s->notes_text.len : 0;
		note0 = s ? s->nnotes : 0;
		ph_big_hold();
		err = c->run(s, &a, &out);
		ph_big_release();
		ph_progress_end();
		ph_plain_set(false);
		if (s)
			s->only_interp = -1;
	}
	if (!err && ph_interrupted())
		err = ph_error_interrupted();
	__atomic_store_n(&ph_interrupt_flag, 0, __ATOMIC_RELAXED);
	ph_stage(label);
	if (err) {
		ph_buf_free(&buf);
		if (json)
			*ret = ph_error_json(err, s, command);
		return err;
	}
	if (json) {
		notes_json(s, out.partial, &out.j);
		ph_json_object_end(&out.j);
		ph_buf_putc(&buf, '\n');
	}
	if ((flags & PH_EXEC_CACHE) && !help && s && !command)
		output_store(s, &a, notes_len, note0, s->partial, &buf);
	return ph_buf_finish(&buf, ret);
}

struct ph_error *ph_session_run(struct ph_session *s, int argc,
				const char *const *argv, bool json, char **ret)
{
	struct ph_error *err = ph_session_exec(
		s, argc, argv, json ? PH_EXEC_JSON : 0, NULL, ret);
	if (err) {
		free(*ret);
		*ret = NULL;
	}
	return err;
}

/* Splits a line into words: blanks separate them, 'single' or "double"
 * quotes keep a word together; a # outside quotes starts a comment. The
 * words point into line, which is changed; *ret is malloc'ed. Returns the
 * number of words. */
static struct ph_error *split_words(char *line, char ***ret, int *ret_n)
{
	size_t n = 0, cap = 16;
	char **w = malloc(cap * sizeof(*w));
	if (!w)
		return ph_error_nomem();
	char *p = line, *o;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (!*p || *p == '#')
			break;
		if (n + 1 >= cap) {
			char **nw = realloc(w, 2 * cap * sizeof(*w));
			if (!nw) {
				free(w);
				return ph_error_nomem();
			}
			w = nw, cap *= 2;
		}
		w[n++] = o = p;
		char q = 0;
		for (; *p; p++) {
			if (q && *p == q)
				q = 0;
			else if (q)
				*o++ = *p;
			else if (*p == '\'' || *p == '"')
				q = *p;
			else if (*p == ' ' || *p == '\t' || *p == '\r' ||
				 *p == '\n')
				break;
			else
				*o++ = *p;
		}
		if (q) {
			free(w);
			return ph_error_create(PH_ERR_USAGE,
					       "a %s quote is not closed",
					       q == '"' ? "double" : "single");
		}
		bool more = *p != '\0';
		*o = '\0';
		if (!more)
			break;
		p++;
	}
	if (n > INT32_MAX) {
		free(w);
		return ph_error_create(PH_ERR_USAGE, "too many words");
	}
	w[n] = NULL;
	*ret = w;
	*ret_n = (int)n;
	return NULL;
}

struct ph_error *ph_session_exec_line(struct ph_session *s, const char *line,
				      unsigned flags, char **ret)
{
	*ret = NULL;
	char *work = strdup(line);
	if (!work)
		return ph_error_nomem();
	char **words = NULL;
	int n = 0;
	struct ph_error *err = split_words(work, &words, &n);
	if (err) {
		bool json = flags & PH_EXEC_JSON;
		if (json)
			*ret = ph_error_json(err, s, line);
	} else if (n)
		err = ph_session_exec(s, n, (const char *const *)words, flags,
				      line, ret);
	free(words);
	free(work);
	return err;
}
