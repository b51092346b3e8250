/* command.h - the command table: each command is declared once, in
 * commands.c, and the CLI's usage, `help`, the GDB commands (through
 * `help --json`), their completion and the manual page follow from it. */
#ifndef PH_COMMAND_H
#define PH_COMMAND_H

#include "render.h"

struct ph_session;

enum ph_opt_kind {
	PH_OPT_FLAG,   /* --unreachable */
	PH_OPT_NUM,    /* --limit N: a non-negative integer */
	PH_OPT_STR,    /* --type T */
	PH_OPT_CHOICE, /* --sort count|size */
};

/* What completes an option's value or a command's operand (GDB's TAB). */
enum ph_complete {
	PH_COMPLETE_NONE,
	PH_COMPLETE_TYPE,    /* a type name in the heap */
	PH_COMPLETE_EXPR,    /* an address: a GDB expression */
	PH_COMPLETE_COMMAND, /* a command name */
	PH_COMPLETE_FILE,    /* a file name */
};

struct ph_optdef {
	const char *name; /* "--limit" */
	enum ph_opt_kind kind;
	const char *metavar; /* "N" (none for a flag) */
	const char *help;
	const char *def;	    /* the default as help shows it, or NULL;
				       "repeatable": given any number of times */
	const char *const *choices; /* PH_OPT_CHOICE: NULL-terminated */
	enum ph_complete complete;
};

#define PH_MAX_OPTS 16
#define PH_MAX_VALUES 64 /* of a repeatable option */

/* A command line parsed against its command's options. */
struct ph_args {
	const struct ph_cmddef *cmd;
	const char *operand;  /* ADDR, TYPE, ...; NULL when none was given */
	const char *operand2; /* a second one (diff BEFORE AFTER), or NULL */
	bool json;
	bool plain; /* --plain anywhere: text for tools (ph_plain) */
	bool quiet; /* --quiet anywhere: no progress */
	struct {
		bool set;
		uint64_t num; /* a number's value; a repeatable's count */
		const char *str;
	} v[PH_MAX_OPTS];
	const char *values[PH_MAX_OPTS][PH_MAX_VALUES]; /* repeatable ones */
};

/* The value of an option (by name, as declared), or def when not given. */
uint64_t ph_args_num(const struct ph_args *a, const char *name, uint64_t def);
const char *ph_args_str(const struct ph_args *a, const char *name,
			const char *def);
bool ph_args_flag(const struct ph_args *a, const char *name);
/* The bytes of a value in a row of a table (list, referents, path);
 * show's own value gets PH_VALUE_MAX. */
#define PH_ROW_VALUE_MAX 200
#define PH_VALUE_MAX 1024
/* Rows (list, referents) and steps (path) with values: the first ones.
 * A list of a million items has a million referents, a chain of a
 * million lists a path of a million steps: damage_checks' batch on them
 * wrote 240 MB of JSON, 389 MB with every row's value. */
#define PH_ROW_VALUES 1000

/* The bounds of the values a command writes (--items, --nesting,
 * --str-len), and at most max_len bytes of each. */
struct ph_readable_opts ph_args_readable(const struct ph_args *a,
					 size_t max_len);

/* Where a command writes its answer. In JSON, the writer is inside the
 * answer's object: a command writes its own fields, and "partial" and
 * "notes" are added after them. */
struct ph_out {
	bool json;
	struct ph_buf *buf;
	struct ph_json j;
	bool partial; /* this answer is incomplete (beyond the session's) */
};

enum {
	PH_CMD_NO_SESSION = 1, /* runs without a process: help, version */
	PH_CMD_HIDDEN = 2,     /* not listed in the usage text */
	/* runs without a process too, when its operands name what it
	 * needs (diff OLD.snap NEW.snap) */
	PH_CMD_SESSION_OPTIONAL = 4,
	/* a whole-heap report: its output kept in the answers' cache, read
	 * back by a later run on the same core (ph_session_exec_cached) */
	PH_CMD_OUTPUT_CACHED = 8,
};

struct ph_cmddef {
	const char *name;
	const char *operand; /* "ADDR", "TYPE", "[COMMAND]", or NULL */
	bool operand_required;
	unsigned operands_max; /* 0: one */
	enum ph_complete operand_complete;
	const char *summary; /* one line */
	const char *help;    /* what it does, in paragraphs */
	const struct ph_optdef *opts;
	unsigned flags;
	struct ph_error *(*run)(struct ph_session *s, const struct ph_args *a,
				struct ph_out *out);
	/* PH_CMD_OUTPUT_CACHED with a file operand: what the output takes
	 * from the files its operands name, appended to the outputs' cache's
	 * key (their identity); false: not to be cached now. Without it such
	 * a command is not cached. */
	bool (*output_key)(struct ph_session *s, const struct ph_args *a,
			   struct ph_buf *b);
};

/* The table (commands.c). */
extern const struct ph_cmddef ph_commands[];
extern const size_t ph_ncommands;
const struct ph_cmddef *ph_command_find(const char *name);

/*
 * Parses argv (argv[0] is the command's name) into *ret: GNU long options,
 * "--opt VALUE" and "--opt=VALUE", "--" ends the options, a single-valued
 * option given twice is an error, "--json" anywhere. Sets *ret_help when
 * "--help" was given (nothing else is checked then).
 */
struct ph_error *ph_args_parse(const struct ph_cmddef *cmd, int argc,
			       const char *const *argv, struct ph_args *ret,
			       bool *ret_help);

/* The help of one command, or of all (cmd NULL), as text. */
void ph_help_text(const struct ph_cmddef *cmd, struct ph_buf *out);

#endif /* PH_COMMAND_H */
