/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's control socket (controlplane/ctl.c, ctl_grammar.c) on any bytes: the
 * input is everything one client writes on one connection, sent through the
 * real server (ctl_create, ctl_run) of a fresh lbd with a small
 * configuration and no dataplane. Several lines make a session, so the
 * fuzzer reaches commands that depend on earlier ones (vip add, then backend
 * add, set, del, lookup, config show, monitor...).
 *
 * Invariants:
 *  - every request line gets exactly one reply, in order: the server's
 *    framing (a line per request, 4095 bytes at most, a last line without
 *    its newline ended by the end of the stream) is what lbctl and socat
 *    rely on;
 *  - every line the server writes is one line of valid JSON: a reply
 *    {"ok":true,"result":...} or {"ok":false,"error":{"code":C,"message":M}}
 *    with C one of ctl_error_code()'s names and M not empty, or (after
 *    `monitor`) an event with "event" and "time_ms";
 *  - a line the grammar refuses gets "invalid" ("request_too_long" when too
 *    long), and a line it accepts reads back the same: its words, written
 *    with ctl_grammar_fmt_word() and split again, are the same words and
 *    parse to the same request (what lbctl sends is what lbd runs);
 *  - `config show` reads back as a configuration, whatever the session
 *    changed before it;
 *  - what the session changed survives a restart: an lbd started again on
 *    the same file and state file shows the same running configuration.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "controlplane/config_dump.h"
#include "controlplane/ctl.h"
#include "controlplane/ctl_grammar.h"
#include "controlplane/lbd.h"
#include "tests/fuzz/fuzz.h"

/* Bytes a session may send: more than any socket buffer holds, to cover
 * the server reading in several turns, and bounded so a run stays quick. */
#define INPUT_MAX (256u << 10)

static char dir[64], conf_path[128], state_path[128], sock_path[128];

static void cleanup(void)
{
	unlink(state_path);
	unlink(conf_path);
	unlink(sock_path);
	rmdir(dir);
}

/* A VIP of each family, health checks off (nothing is ever connected to:
 * ctl_run never runs the health engine), an agent port so backend show has
 * its agent section, tunnel sources for both families. Small tables: a
 * reload builds every ring, and the default 65537 slots would make it most
 * of a session's time. Files live in tmpfs: lbd fsyncs its state file
 * after every change. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	snprintf(dir, sizeof(dir), "/dev/shm/fulcrum-fuzz-ctl-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "/tmp/fulcrum-fuzz-ctl-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	snprintf(conf_path, sizeof(conf_path), "%s/lb.conf", dir);
	snprintf(state_path, sizeof(state_path), "%s/state.json", dir);
	snprintf(sock_path, sizeof(sock_path), "%s/lbd.sock", dir);
	atexit(cleanup);
	FILE *f = fopen(conf_path, "w");
	if (!f)
		abort();
	fprintf(f,
		"global = { control_socket = \"%s\"; state_file = \"%s\"; metrics_listen = \"\";\n"
		"  log_level = \"error\"; };\n"
		"dataplane = { mode = \"dpdk\"; encap_source_v4 = \"10.0.0.2\"; encap_source_v6 = \"fd00::2\";\n"
		"  dpdk = { control_socket = \"%s/none.sock\";\n"
		"           ports = ( { name = \"p0\"; device = \"net_null0\"; } ); }; };\n"
		"health_defaults = { type = \"none\"; agent_port = 5555; };\n"
		"vips = ( { name = \"web\"; protocol = \"tcp\"; address = \"10.99.0.1\"; port = 80;\n"
		"  table_size = 7;\n"
		"  backends = ( { name = \"b1\"; address = \"10.1.0.1\"; weight = 10; },\n"
		"               { name = \"b2\"; address = \"10.1.0.2\"; state = \"drain\"; } ); },\n"
		"  { name = \"v6\"; protocol = \"udp\"; address = \"2001:db8::10\"; port = 53;\n"
		"    table_size = 11;\n"
		"    backends = ( { name = \"g1\"; address = \"fd00:1::11\"; port = 5353; } ); } );\n",
		sock_path, state_path, dir);
	fclose(f);
	return 0;
}

static const char *const error_codes[] = { "not_found", "exists", "invalid", "busy",
					    "dataplane_unavailable", "no_memory", "too_big",
					    "denied", "request_too_long", "error" };

/* Checks one line the server wrote; returns 1 for a reply, 0 for an event,
 * and in *ok and *code what the reply said. */
static int check_output_line(const char *line, size_t len, int *ok, const char **code,
			     json_t **keep)
{
	json_error_t jerr;
	json_t *o = json_loadb(line, len, 0, &jerr);

	FUZZ_CHECK(o != NULL, "not JSON (%s): %.*s", jerr.text, (int)len, line);
	FUZZ_CHECK(json_is_object(o), "not an object: %.*s", (int)len, line);
	*keep = o;
	json_t *event = json_object_get(o, "event");
	if (event) {
		FUZZ_CHECK(json_is_string(event) && json_is_integer(json_object_get(o, "time_ms")) &&
				   !json_object_get(o, "ok"),
			   "bad event: %.*s", (int)len, line);
		return 0;
	}
	json_t *j_ok = json_object_get(o, "ok");
	FUZZ_CHECK(json_is_boolean(j_ok), "no boolean ok: %.*s", (int)len, line);
	*ok = json_is_true(j_ok);
	if (*ok) {
		FUZZ_CHECK(json_object_get(o, "result") && !json_object_get(o, "error"),
			   "ok without result: %.*s", (int)len, line);
		*code = NULL;
		return 1;
	}
	json_t *e = json_object_get(o, "error");
	FUZZ_CHECK(json_is_object(e) && !json_object_get(o, "result"), "bad error reply: %.*s",
		   (int)len, line);
	const char *c = json_string_value(json_object_get(e, "code"));
	const char *m = json_string_value(json_object_get(e, "message"));
	FUZZ_CHECK(c && m && *m, "error without code or message: %.*s", (int)len, line);
	size_t i;
	for (i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++)
		if (strcmp(c, error_codes[i]) == 0)
			break;
	FUZZ_CHECK(i < sizeof(error_codes) / sizeof(error_codes[0]), "error code \"%s\"", c);
	*code = c;
	return 1;
}

/* What the grammar alone says of a request line: -1 refused, else the
 * command. Also checks that an accepted line reads back the same. */
static int grammar_verdict(const char *request)
{
	char line[CTL_LINE_MAX], again[CTL_LINE_MAX * 2], err[2048], word[CTL_LINE_MAX * 2 + 3];
	char *words[CTL_WORDS_MAX], *words2[CTL_WORDS_MAX];
	struct ctl_request req, req2;
	char completions[4096];

	snprintf(line, sizeof(line), "%s", request);
	int n = ctl_grammar_split(line, words, CTL_WORDS_MAX, err, sizeof(err));
	if (n < 0) {
		FUZZ_CHECK(n == -EINVAL || n == -E2BIG, "split %d", n);
		FUZZ_CHECK(err[0], "split refused without a message");
		return -1;
	}
	ctl_grammar_complete(n, words, completions, sizeof(completions));
	FUZZ_CHECK(memchr(completions, '\0', sizeof(completions)) != NULL, "completions");

	/* The words written as lbctl writes a request line. */
	again[0] = '\0';
	for (int i = 0; i < n; i++) {
		size_t used = strlen(again);
		ctl_grammar_fmt_word(words[i], word, sizeof(word));
		snprintf(again + used, sizeof(again) - used, "%s%s", i ? " " : "", word);
	}
	int n2 = ctl_grammar_split(again, words2, CTL_WORDS_MAX, err, sizeof(err));
	FUZZ_CHECK(n2 == n, "%d words written as \"%s\" split into %d (%s)", n, again, n2,
		   n2 < 0 ? err : "");
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(strcmp(words[i], words2[i]) == 0, "word %d \"%s\" read back as \"%s\"", i,
			   words[i], words2[i]);

	int rc = ctl_grammar_parse(n, words, &req, err, sizeof(err));
	int rc2 = ctl_grammar_parse(n2, words2, &req2, err, sizeof(err));
	FUZZ_CHECK(rc == rc2, "the same words parse %d then %d", rc, rc2);
	if (rc) {
		FUZZ_CHECK(rc == -EINVAL && err[0], "parse %d", rc);
		return -1;
	}
	FUZZ_CHECK(req.cmd == req2.cmd, "another command read back");
	for (int i = 0; i < CTL_ARGS_MAX; i++)
		FUZZ_CHECK(!req.args[i] == !req2.args[i] &&
				   (!req.args[i] || strcmp(req.args[i], req2.args[i]) == 0),
			   "argument %d read back differently", i);
	for (int i = 0; i < CTL_OPTS_MAX; i++)
		FUZZ_CHECK(!req.opts[i] == !req2.opts[i] &&
				   (!req.opts[i] || strcmp(req.opts[i], req2.opts[i]) == 0),
			   "option %d read back differently", i);
	/* Checked values are what handlers read back. */
	for (int i = 0; i < req.cmd->arg_count; i++)
		if (req.args[i] && req.cmd->args[i].type == CTL_UINT) {
			__u32 v = ctl_grammar_uint(req.args[i]);
			FUZZ_CHECK(v >= req.cmd->args[i].min && v <= req.cmd->args[i].max,
				   "%s %u out of range", req.cmd->args[i].name, v);
		}
	return (int)req.cmd->id;
}

/* `config show`'s text must load as a configuration. */
static void check_config_shown(json_t *reply)
{
	const char *text = json_string_value(json_object_get(json_object_get(reply, "result"),
							     "config"));
	struct conf_errors errors;

	FUZZ_CHECK(text != NULL, "config show without its text");
	struct conf *back = conf_load_string(text, "shown.conf", &errors);
	if (!back) {
		for (__u32 i = 0; i < errors.count; i++)
			fprintf(stderr, "%s\n", errors.messages[i]);
		fprintf(stderr, "---- shown.conf\n%s----\n", text);
		FUZZ_CHECK(back != NULL, "config show does not read back as configuration");
	}
	conf_destroy(back);
}

static char *running_config(const struct lbd *d)
{
	char err[256], *text = NULL;

	FUZZ_CHECK(config_dump(d->cfg, d->model, &text, err, sizeof(err)) == 0, "config_dump: %s",
		   err);
	return text;
}

/* Sends the session through the real server and collects what it writes. */
static char *converse(struct lbd *d, const uint8_t *data, size_t size, size_t *out_len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t sent = 0, len = 0, cap = 65536;
	char *out = malloc(cap);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int idle = 0;
	bool shut = false;

	FUZZ_CHECK(out && fd >= 0, "socket: %s", strerror(errno));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0, "connect: %s",
		   strerror(errno));
	for (;;) {
		bool progress = false;
		if (sent < size) {
			ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				sent += (size_t)n;
				progress = true;
			} else if (n < 0 && errno != EAGAIN) {
				sent = size; /* the server closed: a request was too long */
			}
		}
		if (sent == size && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		ctl_run(d->ctl);
		for (;;) {
			if (cap - len < 4096) {
				cap *= 2;
				out = realloc(out, cap);
				FUZZ_CHECK(out != NULL, "out of memory");
			}
			ssize_t n = recv(fd, out + len, cap - len, MSG_DONTWAIT);
			if (n > 0) {
				len += (size_t)n;
				progress = true;
				continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				close(fd);
				*out_len = len;
				return out; /* the server closed: all answered */
			}
			break;
		}
		idle = progress ? 0 : idle + 1;
		FUZZ_CHECK(idle < 1000, "the server stopped answering after %zu of %zu bytes", sent,
			   size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lbd d;
	char err[256];

	if (size > INPUT_MAX)
		return -1;
	unlink(state_path); /* each session starts from the configuration */
	FUZZ_CHECK(lbd_init(&d, conf_path) == 0, "lbd_init");
	d.ctl = ctl_create(&d, &d.cfg->global, err, sizeof(err)); /* its control_socket: sock_path */
	FUZZ_CHECK(d.ctl != NULL, "ctl_create: %s", err);

	size_t out_len;
	char *out = converse(&d, data, size, &out_len);

	/* Replay the server's framing: which lines are requests, and what the
	 * grammar makes of each. */
	int expect[1024];
	size_t requests = 0;
	bool capped = false;
	for (size_t at = 0; at < size;) {
		if (requests == sizeof(expect) / sizeof(expect[0])) {
			capped = true; /* the rest are only counted as at least one */
			break;
		}
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
		if (len >= CTL_LINE_MAX) {
			expect[requests++] = -2; /* request_too_long, and the end */
			break;
		}
		if (!nl && len == 0)
			break;
		char line[CTL_LINE_MAX];
		memcpy(line, data + at, len);
		line[len] = '\0'; /* a NUL in the line ends it, for the server too */
		expect[requests++] = grammar_verdict(line);
		at += len + 1;
	}
	FUZZ_CHECK(out_len == 0 || out[out_len - 1] == '\n', "output ends inside a line");

	size_t replies = 0;
	for (size_t at = 0; at < out_len;) {
		const char *nl = memchr(out + at, '\n', out_len - at);
		size_t len = (size_t)(nl - (out + at));
		int ok = 0;
		const char *code = NULL;
		json_t *o = NULL;
		if (check_output_line(out + at, len, &ok, &code, &o)) {
			FUZZ_CHECK(capped || replies < requests, "%zu replies to %zu requests",
				   replies + 1, requests);
			int want = replies < requests ? expect[replies] : -3;
			if (want == CTL_CMD_CONFIG_SHOW && ok)
				check_config_shown(o);
			if (want == -2)
				FUZZ_CHECK(!ok && strcmp(code, "request_too_long") == 0,
					   "reply %zu to a too long line", replies);
			else if (want == -1)
				FUZZ_CHECK(!ok && strcmp(code, "invalid") == 0,
					   "reply %zu to a line the grammar refuses: %.*s", replies,
					   (int)len, out + at);
			replies++;
		}
		json_decref(o);
		at += len + 1;
	}
	FUZZ_CHECK(capped ? replies > requests : replies == requests,
		   "%zu replies to %zu requests", replies, requests);
	free(out);

	/* lbd stopped and started again: the state file brings back every
	 * run-time change, so the running configuration reads the same. */
	char *before = running_config(&d);
	lbd_fini(&d);
	FUZZ_CHECK(lbd_init(&d, conf_path) == 0, "lbd_init after the session");
	char *after = running_config(&d);
	if (strcmp(before, after) != 0) {
		fprintf(stderr, "---- before the restart\n%s---- after\n%s----\n", before, after);
		FUZZ_CHECK(0, "run-time changes did not survive a restart");
	}
	free(before);
	free(after);
	lbd_fini(&d);
	return 0;
}
