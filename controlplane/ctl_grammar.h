/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The grammar of lbctl's arguments, which is also the grammar of a request
 * on lbd's control socket: one table of commands, each with its positional
 * arguments, keyword options and a summary. lbctl checks its command line
 * with it (usage errors exit 2 before anything is sent), lbd parses socket
 * requests with it, and both print help from it, so the help text and the
 * parser cannot drift.
 *
 * A request line is the words of lbctl's arguments separated by blanks; a
 * word holding blanks, quotes or backslashes is written in double quotes
 * with backslash escapes (ctl_grammar_fmt_word()). Example:
 *   backend set infer-v4 gpu-a1 state drain by scaler
 */
#ifndef FULCRUM_CTL_GRAMMAR_H
#define FULCRUM_CTL_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define CTL_LINE_MAX  4096 /* a request line, newline included */
#define CTL_WORDS_MAX 24
#define CTL_ARGS_MAX  4
#define CTL_OPTS_MAX  6

enum ctl_cmd {
	CTL_CMD_INFO,
	CTL_CMD_VIP_LIST,
	CTL_CMD_VIP_SHOW,
	CTL_CMD_VIP_ADD,
	CTL_CMD_VIP_DEL,
	CTL_CMD_VIP_SET,
	CTL_CMD_BACKEND_LIST,
	CTL_CMD_BACKEND_SHOW,
	CTL_CMD_BACKEND_ADD,
	CTL_CMD_BACKEND_DEL,
	CTL_CMD_BACKEND_SET,
	CTL_CMD_HEALTH_SHOW,
	CTL_CMD_HEALTH_POLL,
	CTL_CMD_STATS,
	CTL_CMD_LOOKUP,
	CTL_CMD_CONFIG_CHECK,
	CTL_CMD_CONFIG_RELOAD,
	CTL_CMD_CONFIG_SHOW,
	CTL_CMD_STATE_SHOW,
	CTL_CMD_STATE_SAVE,
	CTL_CMD_MONITOR,
	CTL_CMD_HELP,
	CTL_CMD_COUNT
};

enum ctl_type {
	CTL_FLAG,   /* a keyword alone, e.g. --force */
	CTL_NAME,   /* letters, digits, - _ . (as names in the config file) */
	CTL_UINT,   /* decimal, within [min, max] */
	CTL_CHOICE, /* one of choices, "a|b|c" */
	CTL_ADDR,   /* an IPv4 or IPv6 address */
	CTL_CLIENT, /* ADDRESS, ADDRESS:PORT, or [IPV6]:PORT */
	CTL_WORD,   /* anything (a command or object name for help) */
};

struct ctl_param {
	const char *name; /* positional: "VIP"; option: its keyword, "weight" */
	enum ctl_type type;
	const char *choices; /* CTL_CHOICE */
	__u32 min, max;      /* CTL_UINT */
	const char *help;
};

struct ctl_command {
	enum ctl_cmd id;
	const char *object;
	const char *verb; /* NULL: the object alone is the command ("info") */
	struct ctl_param args[CTL_ARGS_MAX];
	__u8 arg_count, required; /* the first `required` args must be given */
	struct ctl_param opts[CTL_OPTS_MAX];
	__u8 opt_count;
	bool needs_opt;  /* at least one option (e.g. backend set) */
	bool read_only;  /* changes nothing: allowed on a read-only socket */
	const char *summary;
};

/* A parsed request: pointers into the words it was parsed from. */
struct ctl_request {
	const struct ctl_command *cmd;
	const char *args[CTL_ARGS_MAX]; /* NULL when not given */
	const char *opts[CTL_OPTS_MAX]; /* the value; "" for a flag; NULL when not given */
};

/* The command table, in help order. */
const struct ctl_command *ctl_grammar_commands(__u32 *count);

/*
 * Splits a request line into words, in place (quotes and escapes removed).
 * Returns the number of words, or -EINVAL (unbalanced quote, control byte)
 * or -E2BIG (more than max words), with a message in err.
 */
int ctl_grammar_split(char *line, char **words, int max, char *err, size_t err_size);

/*
 * Parses words into req, checking every value's type and range. Returns 0,
 * or -EINVAL with a message in err that names the bad word and ends with
 * the command's usage (or, for an unknown command, the object's commands).
 */
int ctl_grammar_parse(int count, char *const *words, struct ctl_request *req, char *err,
		      size_t err_size);

/* "backend set VIP BACKEND [state ready|drain|maint] [weight N] ..." */
void ctl_grammar_usage(const struct ctl_command *c, char *buf, size_t size);

/* The help text: every command with its summary, or one object's commands
 * with their options explained. Returns -ENOENT for an unknown object. */
int ctl_grammar_help(const char *object, char *buf, size_t size);

/*
 * What may follow words, the complete words of a command line so far (for
 * shell completion): candidates, one per line, into buf. Names only lbd
 * knows are written "@VIP" (any VIP) and "@BACKEND:VIP" (a backend of VIP);
 * the caller asks lbd for them. Free-form values (numbers, addresses) have
 * no candidates.
 */
void ctl_grammar_complete(int count, char *const *words, char *buf, size_t size);

/* A word as a request line writes it: bare, or quoted when it must be. */
void ctl_grammar_fmt_word(const char *word, char *buf, size_t size);

/* Value helpers for handlers (values the grammar has already checked). */
__u32 ctl_grammar_uint(const char *word);

/* Parses CLIENT[:PORT]: address family 4/6 into addr (network order),
 * port in host order (0 when absent). Returns 0 or -EINVAL. */
int ctl_grammar_client(const char *word, __u8 *family, __be32 addr[4], __u16 *port);

#endif /* FULCRUM_CTL_GRAMMAR_H */
