/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbctl: the operator's command line for lbd.
 *
 *   lbctl [-s SOCKET] [-j] OBJECT [COMMAND] [ARGS...]
 *
 * The arguments are checked against the grammar lbd uses
 * (controlplane/ctl_grammar.h), sent as one line over lbd's control socket,
 * and the one-line JSON reply is shown as tables (or as is, with -j).
 * `lbctl help` needs no daemon. Exit codes: 0 ok, 1 lbd answered with an
 * error, 2 usage, 3 lbd cannot be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "controlplane/conf.h"
#include "controlplane/ctl_grammar.h"

#define LBCTL_DEFAULT_SOCKET "/run/fulcrum/lbd.sock"
#define LBCTL_TIMEOUT_MS     30000

enum { LBCTL_OK = 0, LBCTL_ERROR = 1, LBCTL_USAGE = 2, LBCTL_UNREACHABLE = 3 };

static void lbctl_usage(FILE *out)
{
	char help[16384];

	ctl_grammar_help(NULL, help, sizeof(help));
	fprintf(out,
		"usage: lbctl [-s SOCKET] [-r SOCKET] [-j] OBJECT [COMMAND] [ARGS...]\n"
		"  -s SOCKET  lbd's control socket (default " LBCTL_DEFAULT_SOCKET ")\n"
		"  -r SOCKET  lbd's read-only socket, used for commands that change nothing\n"
		"             when the control socket is not ours to use (default: beside\n"
		"             the control socket, lbd.sock -> lbd-ro.sock)\n"
		"  -j         print lbd's JSON reply as it is\n"
		"  --complete WORDS...  what may follow WORDS (for shell completion)\n"
		"  -h, --help this help\n"
		"Exit status: 0 ok, 1 error from lbd, 2 usage, 3 cannot reach lbd.\n\n"
		"Commands:\n%s",
		help);
}

/* ---- rendering ---- */

static void lbctl_print_value(json_t *v, int width)
{
	char buf[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		printf("%-*s", width, json_string_value(v));
		return;
	case JSON_INTEGER:
		printf("%-*lld", width, (long long)json_integer_value(v));
		return;
	case JSON_REAL:
		snprintf(buf, sizeof(buf), "%.2f", json_real_value(v));
		printf("%-*s", width, buf);
		return;
	case JSON_TRUE:
		printf("%-*s", width, "yes");
		return;
	case JSON_FALSE:
		printf("%-*s", width, "no");
		return;
	case JSON_NULL:
		printf("%-*s", width, "-");
		return;
	default: {
		char *text = json_dumps(v, JSON_COMPACT);
		printf("%-*s", width, text ? text : "?");
		free(text);
	}
	}
}

static int lbctl_value_width(json_t *v)
{
	char buf[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		return (int)strlen(json_string_value(v));
	case JSON_INTEGER:
		return snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
	case JSON_REAL:
		return snprintf(buf, sizeof(buf), "%.2f", json_real_value(v));
	case JSON_TRUE:
		return 3;
	default:
		return 2;
	}
}

/* An array of objects as a table of the given columns (key, heading). */
static void lbctl_table(json_t *rows, const char *const *columns)
{
	int widths[24];
	int n = 0;
	size_t i;
	json_t *row;

	for (n = 0; columns[2 * n]; n++) {
		widths[n] = (int)strlen(columns[2 * n + 1]);
		json_array_foreach(rows, i, row) {
			int w = lbctl_value_width(json_object_get(row, columns[2 * n]));
			widths[n] = w > widths[n] ? w : widths[n];
		}
	}
	for (int c = 0; c < n; c++)
		printf("%-*s%s", widths[c], columns[2 * c + 1], c + 1 < n ? "  " : "\n");
	json_array_foreach(rows, i, row) {
		for (int c = 0; c < n; c++) {
			json_t *v = json_object_get(row, columns[2 * c]);
			lbctl_print_value(v ? v : json_null(), c + 1 < n ? widths[c] : 0);
			printf("%s", c + 1 < n ? "  " : "\n");
		}
	}
}

/* An object as "key: value" lines; nested objects indent. */
static void lbctl_fields(json_t *o, int indent)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		if (json_is_object(v)) {
			printf("%*s%s:\n", indent, "", key);
			lbctl_fields(v, indent + 2);
		} else if (json_is_array(v) && json_array_size(v) && json_is_object(json_array_get(v, 0))) {
			continue; /* tables are printed by the caller */
		} else {
			printf("%*s%s: ", indent, "", key);
			lbctl_print_value(v, 0);
			printf("\n");
		}
	}
}

static const char *const lbctl_vip_columns[] = {
	"name", "VIP", "protocol", "PROTO", "address", "ADDRESS", "port", "PORT",
	"backends", "BACKENDS", "up", "UP", "min_up", "MIN_UP", "announced", "ANNOUNCED", "route", "ROUTE",
	"packets", "PACKETS", "flows_new", "NEW_FLOWS", "drops_no_backend", "NO_BACKEND_DROPS",
	NULL, NULL
};

static const char *const lbctl_backend_columns[] = {
	"vip", "VIP", "name", "BACKEND", "address", "ADDRESS", "port", "PORT", "state", "STATE",
	"state_by", "BY", "health", "HEALTH", "weight", "WEIGHT", "effective_weight", "EFFECTIVE",
	"table", "TABLE", "flows_active", "ACTIVE_FLOWS", "packets", "PACKETS",
	NULL, NULL
};

static void lbctl_health_table(json_t *rows)
{
	static const char *const columns[] = {
		"vip", "VIP", "name", "BACKEND", "health", "HEALTH", "check_up", "CHECK",
		"reason", "LAST_RESULT", "agent_report", "AGENT", "agent_error", "AGENT_ERROR",
		NULL, NULL
	};
	size_t i;
	json_t *row;

	/* Flatten what the table shows from the nested objects. */
	json_array_foreach(rows, i, row) {
		json_t *check = json_object_get(row, "check"), *agent = json_object_get(row, "agent");
		json_object_set(row, "check_up", json_object_get(check, "up"));
		json_object_set(row, "reason", json_object_get(check, "reason"));
		json_object_set(row, "agent_report", agent ? json_object_get(agent, "report")
							   : json_null());
		json_object_set(row, "agent_error", agent ? json_object_get(agent, "error")
							  : json_null());
	}
	lbctl_table(rows, columns);
}

static void lbctl_render(const struct ctl_command *c, json_t *result)
{
	switch (c->id) {
	case CTL_CMD_VIP_LIST:
		lbctl_table(result, lbctl_vip_columns);
		return;
	case CTL_CMD_VIP_SHOW:
		lbctl_fields(result, 0);
		printf("\n");
		lbctl_table(json_object_get(result, "backend_list"), lbctl_backend_columns);
		return;
	case CTL_CMD_BACKEND_LIST:
		lbctl_table(result, lbctl_backend_columns);
		return;
	case CTL_CMD_HEALTH_SHOW:
		lbctl_health_table(result);
		return;
	case CTL_CMD_STATS: {
		json_t *counters = json_object_get(result, "counters");
		const char *key;
		json_t *v;
		printf("generation %lld, %lld flows of %lld, %lld workers%s\n",
		       (long long)json_integer_value(json_object_get(result, "generation")),
		       (long long)json_integer_value(json_object_get(result, "flows")),
		       (long long)json_integer_value(json_object_get(result, "flow_capacity")),
		       (long long)json_integer_value(json_object_get(result, "workers")),
		       json_object_get(result, "interval_s") ? " (per second)" : "");
		json_object_foreach(counters, key, v) {
			if ((json_is_integer(v) && json_integer_value(v) == 0) ||
			    (json_is_real(v) && json_real_value(v) == 0.0))
				continue;
			printf("  %-24s ", key);
			lbctl_print_value(v, 0);
			printf("\n");
		}
		printf("\n");
		lbctl_table(json_object_get(result, "vips"), lbctl_vip_columns);
		return;
	}
	case CTL_CMD_CONFIG_SHOW:
		fputs(json_string_value(json_object_get(result, "config")), stdout);
		return;
	case CTL_CMD_STATE_SHOW: {
		char *text = json_dumps(result, JSON_INDENT(2));
		printf("%s\n", text ? text : "");
		free(text);
		return;
	}
	default:
		if (json_is_object(result))
			lbctl_fields(result, 0);
		else if (!json_is_null(result))
			lbctl_print_value(result, 0), printf("\n");
	}
}

/* ---- the socket ---- */

static int lbctl_connect(const char *path, bool quiet)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		if (!quiet)
			fprintf(stderr, "lbctl: socket path too long: %s\n", path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (!quiet)
			fprintf(stderr, "lbctl: cannot reach lbd at %s: %s\n", path,
				strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Reads one line into a malloc'd buffer; NULL at EOF or error. */
static char *lbctl_read_line(int fd, char **pending, size_t *pending_len, int timeout_ms)
{
	for (;;) {
		char *nl = *pending ? memchr(*pending, '\n', *pending_len) : NULL;
		if (nl) {
			size_t len = (size_t)(nl - *pending);
			char *line = strndup(*pending, len);
			memmove(*pending, nl + 1, *pending_len - len - 1);
			*pending_len -= len + 1;
			return line;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return NULL;
		char buf[65536];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return NULL;
		char *grown = realloc(*pending, *pending_len + (size_t)n + 1);
		if (!grown)
			return NULL;
		*pending = grown;
		memcpy(*pending + *pending_len, buf, (size_t)n);
		*pending_len += (size_t)n;
	}
}

/* The request line (newline included) for words. Returns its length or
 * -E2BIG. */
static int lbctl_line(int count, char *const *words, char *line, size_t size)
{
	size_t used = 0;

	for (int i = 0; i < count; i++) {
		char word[CTL_LINE_MAX];
		ctl_grammar_fmt_word(words[i], word, sizeof(word));
		int n = snprintf(line + used, size - used, "%s%s", i ? " " : "", word);
		if (n < 0 || (size_t)n >= size - used - 1)
			return -E2BIG;
		used += (size_t)n;
	}
	line[used++] = '\n';
	line[used] = '\0';
	return (int)used;
}

/*
 * Sends line to lbd at path and returns its one-line reply (malloc'd), or
 * NULL after saying why (unless quiet). The connection stays open in *fd
 * (for monitor's events; close it) with what followed the reply in
 * *pending.
 */
static char *lbctl_send(const char *path, const char *line, int *fd, char **pending,
			size_t *pending_len, bool quiet)
{
	size_t length = strlen(line);
	char *reply;

	*fd = lbctl_connect(path, quiet);
	if (*fd < 0)
		return NULL;
	if (send(*fd, line, length, MSG_NOSIGNAL) != (ssize_t)length) {
		if (!quiet)
			fprintf(stderr, "lbctl: lbd at %s: %s\n", path, strerror(errno));
		close(*fd);
		return NULL;
	}
	reply = lbctl_read_line(*fd, pending, pending_len, LBCTL_TIMEOUT_MS);
	if (!reply) {
		if (!quiet)
			fprintf(stderr, "lbctl: lbd at %s closed the connection without a reply\n",
				path);
		close(*fd);
		free(*pending);
		*pending = NULL;
	}
	return reply;
}

/* The "name" of every object in the result of a request to lbd, one per
 * line; nothing when lbd cannot be asked. */
static void lbctl_print_names(const char *path, int count, char *const *words)
{
	char line[CTL_LINE_MAX], *pending = NULL, *reply;
	size_t pending_len = 0, i;
	json_t *doc, *item;
	int fd;

	if (lbctl_line(count, words, line, sizeof(line)) < 0)
		return;
	reply = lbctl_send(path, line, &fd, &pending, &pending_len, true);
	if (!reply)
		return;
	close(fd);
	free(pending);
	doc = json_loads(reply, 0, NULL);
	free(reply);
	json_array_foreach(json_object_get(doc, "result"), i, item)
		if (json_is_string(json_object_get(item, "name")))
			printf("%s\n", json_string_value(json_object_get(item, "name")));
	json_decref(doc);
}

/*
 * lbctl --complete WORDS...: the words that may follow WORDS, one per line,
 * for the bash completion (tools/lbctl.bash-completion). VIP and backend
 * names come from lbd when it can be reached.
 */
static int lbctl_complete(const char *path, int count, char *const *words)
{
	char candidates[4096];

	ctl_grammar_complete(count, words, candidates, sizeof(candidates));
	for (char *save = NULL, *c = strtok_r(candidates, "\n", &save); c;
	     c = strtok_r(NULL, "\n", &save)) {
		if (strcmp(c, "@VIP") == 0) {
			char *list[] = { "vip", "list" };
			lbctl_print_names(path, 2, list);
		} else if (strncmp(c, "@BACKEND:", 9) == 0) {
			char *list[] = { "backend", "list", c + 9 };
			lbctl_print_names(path, 3, list);
		} else {
			printf("%s\n", c);
		}
	}
	return LBCTL_OK;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "complete", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = LBCTL_DEFAULT_SOCKET, *ro_path = NULL;
	char ro_default[CONF_PATH_MAX];
	bool raw = false, complete = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "+s:r:jh", long_options, NULL)) != -1) {
		switch (opt) {
		case 'C':
			complete = true;
			break;
		case 's':
			path = optarg;
			break;
		case 'r':
			ro_path = optarg;
			break;
		case 'j':
			raw = true;
			break;
		case 'h':
			lbctl_usage(stdout);
			return LBCTL_OK;
		default:
			lbctl_usage(stderr);
			return LBCTL_USAGE;
		}
	}
	int count = argc - optind;
	char **words = argv + optind;
	struct ctl_request req;
	char err[2048];

	if (complete)
		return lbctl_complete(path, count, words);
	if (count == 0) {
		lbctl_usage(stderr);
		return LBCTL_USAGE;
	}
	if (ctl_grammar_parse(count, words, &req, err, sizeof(err))) {
		fprintf(stderr, "lbctl: %s\n", err);
		return LBCTL_USAGE;
	}
	if (req.cmd->id == CTL_CMD_HELP) {
		/* From the same table lbd parses with: no daemon needed. */
		char help[16384];
		if (ctl_grammar_help(req.args[0], help, sizeof(help))) {
			fprintf(stderr, "lbctl: no command starts with \"%s\"\n", req.args[0]);
			return LBCTL_USAGE;
		}
		fputs(help, stdout);
		return LBCTL_OK;
	}

	char line[CTL_LINE_MAX];
	if (lbctl_line(count, words, line, sizeof(line)) < 0) {
		fprintf(stderr, "lbctl: request longer than %d bytes\n", CTL_LINE_MAX - 1);
		return LBCTL_USAGE;
	}
	/* A user outside control_socket_group may still look through the
	 * read-only socket (connecting takes write permission on the file). */
	if (!ro_path) {
		conf_readonly_socket_default(path, ro_default, sizeof(ro_default));
		ro_path = ro_default;
	}
	if (req.cmd->read_only && access(path, W_OK) < 0 && errno == EACCES &&
	    access(ro_path, W_OK) == 0)
		path = ro_path;
	int fd;
	char *pending = NULL;
	size_t pending_len = 0;
	char *reply = lbctl_send(path, line, &fd, &pending, &pending_len, false);
	if (!reply)
		return LBCTL_UNREACHABLE;
	json_error_t jerr;
	json_t *doc = json_loads(reply, 0, &jerr);
	int rc = LBCTL_OK;
	if (!doc) {
		fprintf(stderr, "lbctl: lbd sent something that is not JSON: %s\n", jerr.text);
		rc = LBCTL_ERROR;
	} else if (!json_is_true(json_object_get(doc, "ok"))) {
		json_t *e = json_object_get(doc, "error");
		if (raw)
			printf("%s\n", reply);
		fprintf(stderr, "lbctl: %s: %s\n", json_string_value(json_object_get(e, "code")),
			json_string_value(json_object_get(e, "message")));
		rc = LBCTL_ERROR;
	} else if (raw) {
		printf("%s\n", reply);
	} else if (req.cmd->id != CTL_CMD_MONITOR) {
		lbctl_render(req.cmd, json_object_get(doc, "result"));
	}
	if (rc == LBCTL_OK && req.cmd->id == CTL_CMD_MONITOR) {
		/* Events until lbd goes away or we are interrupted. */
		setvbuf(stdout, NULL, _IOLBF, 0);
		char *ev;
		while ((ev = lbctl_read_line(fd, &pending, &pending_len, -1)) != NULL) {
			printf("%s\n", ev);
			free(ev);
		}
	}
	json_decref(doc);
	free(reply);
	free(pending);
	close(fd);
	return rc;
}
