/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's control commands without a socket (ctl_execute() on a daemon with
 * no dataplane), the grammar lbctl shares, the state file, the running
 * configuration read back, the health engine against a real listener and
 * without a route, and the sockets' access rules (read-only socket, peer
 * credentials).
 */
#define _GNU_SOURCE /* setresuid, setresgid, unshare */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "controlplane/config_dump.h"
#include "controlplane/ctl.h"
#include "controlplane/ctl_grammar.h"
#include "controlplane/lbd.h"
#include "controlplane/state.h"

static char dir[] = "/tmp/fulcrum-ctl-XXXXXX";
static char conf_path[128], state_path[128];

static void write_conf(const char *backend_port_line)
{
	FILE *f = fopen(conf_path, "w");

	assert_non_null(f);
	fprintf(f,
		"global = { control_socket = \"%s/lbd.sock\"; state_file = \"%s\"; log_level = \"error\"; };\n"
		"dataplane = { mode = \"dpdk\"; encap_source_v4 = \"10.0.0.2\";\n"
		"  dpdk = { control_socket = \"%s/none.sock\";\n"
		"           ports = ( { name = \"p0\"; device = \"net_null0\"; } ); }; };\n"
		"health_defaults = { type = \"tcp\"; fast_interval_ms = 100; interval_ms = 200;\n"
		"                    timeout_ms = 100; rise = 2; fall = 2; jitter_pct = 0; };\n"
		"vips = ( { name = \"web\"; protocol = \"tcp\"; address = \"10.99.0.1\"; port = 80;\n"
		"  backends = ( { name = \"b1\"; address = \"127.0.0.1\"; %s weight = 10; },\n"
		"               { name = \"b2\"; address = \"10.1.0.2\"; state = \"drain\"; } ); } );\n",
		dir, state_path, dir, backend_port_line);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fulcrum-ctl-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(conf_path, sizeof(conf_path), "%s/lb.conf", dir);
	snprintf(state_path, sizeof(state_path), "%s/state.json", dir);
	write_conf("port = 80;");
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Runs a request; returns the reply (caller decrefs). */
static json_t *run(struct lbd *d, const char *request)
{
	char line[CTL_LINE_MAX];
	bool monitor;

	snprintf(line, sizeof(line), "%s", request);
	return ctl_execute(d, line, &monitor);
}

static void expect_ok(struct lbd *d, const char *request)
{
	json_t *r = run(d, request);

	if (!json_is_true(json_object_get(r, "ok"))) {
		char *text = json_dumps(r, 0);
		fail_msg("%s -> %s", request, text);
	}
	json_decref(r);
}

static void expect_error(struct lbd *d, const char *request, const char *code)
{
	json_t *r = run(d, request);

	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
			    code);
	assert_non_null(json_string_value(json_object_get(json_object_get(r, "error"), "message")));
	json_decref(r);
}

static void the_grammar_checks_every_word_and_names_the_bad_one(void **state)
{
	char line[] = "backend set web \"b 1\" state drain";
	char *words[CTL_WORDS_MAX];
	struct ctl_request req;
	char err[1024];

	(void)state;
	assert_int_equal(ctl_grammar_split(line, words, CTL_WORDS_MAX, err, sizeof(err)), 6);
	assert_string_equal(words[3], "b 1");
	assert_int_equal(ctl_grammar_parse(6, words, &req, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\"b 1\""));
	assert_non_null(strstr(err, "usage: backend set VIP BACKEND"));

	char *ok[] = { "backend", "set", "web", "b1", "weight", "7", "by", "scaler" };
	assert_int_equal(ctl_grammar_parse(8, ok, &req, err, sizeof(err)), 0);
	assert_int_equal(req.cmd->id, CTL_CMD_BACKEND_SET);
	assert_string_equal(req.opts[1], "7");
	assert_string_equal(req.opts[2], "scaler");

	char *nothing[] = { "backend", "set", "web", "b1", "by", "scaler" };
	assert_int_equal(ctl_grammar_parse(6, nothing, &req, err, sizeof(err)), -EINVAL);
	char *twice[] = { "backend", "set", "web", "b1", "weight", "1", "weight", "2" };
	assert_int_equal(ctl_grammar_parse(8, twice, &req, err, sizeof(err)), -EINVAL);
	char *unknown[] = { "vip", "frob" };
	assert_int_equal(ctl_grammar_parse(2, unknown, &req, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "list|show|add|del|set"));
	char *client[] = { "lookup", "web", "[fd00::1]:443" };
	assert_int_equal(ctl_grammar_parse(3, client, &req, err, sizeof(err)), 0);
	char *bad_client[] = { "lookup", "web", "1.2.3.4:70000" };
	assert_int_equal(ctl_grammar_parse(3, bad_client, &req, err, sizeof(err)), -EINVAL);
	char unbalanced[] = "vip show \"web";
	assert_int_equal(ctl_grammar_split(unbalanced, words, CTL_WORDS_MAX, err, sizeof(err)),
			 -EINVAL);
}

/* The candidates for words, as one space-separated string. */
static const char *completions(int count, char *const *words)
{
	static char buf[4096];

	ctl_grammar_complete(count, words, buf, sizeof(buf));
	for (char *c = buf; *c; c++)
		if (*c == '\n')
			*c = ' ';
	return buf;
}

static void completion_follows_the_parser_table(void **state)
{
	char *b[] = { "backend", "set", "web", "b1", "state", "drain", "by" };
	char *vip_add[] = { "vip", "add", "v", "tcp", "10.0.0.1", "80", "--junk" };
	char *stats[] = { "stats" };
	char *help[] = { "help" };

	(void)state;
	assert_string_equal(completions(0, b), "info vip backend health stats lookup config state "
					       "monitor help ");
	assert_string_equal(completions(1, b), "list show add del set ");
	assert_string_equal(completions(2, b), "@VIP ");
	assert_string_equal(completions(3, b), "@BACKEND:web ");
	assert_string_equal(completions(4, b), "state weight by ");
	assert_string_equal(completions(5, b), "ready drain maint ");
	assert_string_equal(completions(6, b), "weight by ");
	assert_string_equal(completions(7, b), "operator scaler ");
	assert_string_equal(completions(3, vip_add), "tcp udp ");
	assert_string_equal(completions(4, vip_add), ""); /* an address */
	assert_string_equal(completions(6, vip_add), "table_size min_up health ");
	/* Past something the parser refuses: nothing. */
	assert_string_equal(completions(7, vip_add), "");
	assert_string_equal(completions(1, stats), "--rate ");
	assert_string_equal(completions(1, help), "info vip backend health stats lookup config state "
						  "monitor help ");
	/* backend list takes an optional VIP. */
	char *list[] = { "backend", "list" };
	assert_string_equal(completions(2, list), "@VIP ");
}

static void help_lists_every_command_of_the_parser_table(void **state)
{
	char help[16384], usage[512];
	__u32 count;
	const struct ctl_command *cmds = ctl_grammar_commands(&count);

	(void)state;
	assert_int_equal(count, CTL_CMD_COUNT);
	assert_int_equal(ctl_grammar_help(NULL, help, sizeof(help)), 0);
	for (__u32 i = 0; i < count; i++) {
		assert_int_equal(cmds[i].id, (enum ctl_cmd)i);
		ctl_grammar_usage(&cmds[i], usage, sizeof(usage));
		assert_non_null(strstr(help, usage));
	}
	assert_int_equal(ctl_grammar_help("nosuch", help, sizeof(help)), -ENOENT);
}

static void commands_change_the_model_and_bad_ones_get_error_replies(void **state)
{
	struct lbd d;

	(void)state;
	assert_int_equal(lbd_init(&d, conf_path), 0);
	expect_ok(&d, "info");
	expect_ok(&d, "vip list");
	expect_ok(&d, "backend set web b1 state drain");
	struct model_backend *b1 = model_backend_find(model_vip_find(d.model, "web"), "b1");
	assert_int_equal(model_backend_admin(b1, NULL), CONF_ADMIN_DRAIN);
	expect_ok(&d, "backend set web b1 state ready by scaler");
	assert_int_equal(model_backend_admin(b1, NULL), CONF_ADMIN_DRAIN); /* operator's stays */
	expect_ok(&d, "backend set web b1 state ready");
	assert_int_equal(model_backend_admin(b1, NULL), CONF_ADMIN_READY);
	expect_ok(&d, "backend add web b3 10.1.0.3 weight 5 by scaler");
	expect_error(&d, "backend add web b3 10.1.0.4", "exists");
	expect_error(&d, "backend add web b4 fd00::4", "invalid"); /* no v6 tunnel source */
	expect_error(&d, "backend show web nosuch", "not_found");
	expect_error(&d, "backend frob", "invalid");
	expect_error(&d, "", "invalid");
	/* Removing needs the dataplane's flow count, or --force. */
	expect_error(&d, "backend del web b3", "busy");
	expect_ok(&d, "backend del web b3 --force");
	assert_null(model_backend_find(model_vip_find(d.model, "web"), "b3"));
	expect_ok(&d, "vip add api udp 10.99.0.2 53 health none min_up 2");
	expect_ok(&d, "vip set api min_up 0");
	expect_error(&d, "vip set api table_size 100", "invalid");
	expect_ok(&d, "health poll web");
	expect_error(&d, "stats", "dataplane_unavailable");
	json_t *r = run(&d, "lookup web 192.0.2.1:5555");
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	expect_error(&d, "lookup web fd00::9", "invalid"); /* family mismatch */
	lbd_fini(&d);
}

/* The error message of a reply, checked to be one. */
static const char *error_message(json_t *r)
{
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "ok")));
	const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
	assert_non_null(m);
	return m;
}

/*
 * Regression (found by tests/fuzz/fuzz_ctl): request words may be any bytes,
 * error replies quote them, and JSON strings must be UTF-8. ctl_execute()
 * returned NULL when the quote was not valid UTF-8 (a stray byte, or a
 * character cut by the 64-byte quote), so the client got no reply at all and
 * lbd closed its connection. Bytes outside a well-formed sequence are now
 * written \xNN; valid UTF-8 passes through.
 */
static void error_replies_quote_any_bytes_as_valid_utf8(void **state)
{
	struct lbd d;
	char cut[128];
	json_t *r;

	(void)state;
	unlink(state_path);
	assert_int_equal(lbd_init(&d, conf_path), 0);
	r = run(&d, "backend set web b2 state readx\x91vip");
	assert_non_null(strstr(error_message(r), "\"readx\\x91vip\""));
	json_decref(r);
	r = run(&d, "help caf\xc3\xa9");
	assert_non_null(strstr(error_message(r), "caf\xc3\xa9"));
	json_decref(r);
	r = run(&d, "help \xed\xa0\x80"); /* a surrogate: not UTF-8 */
	assert_non_null(strstr(error_message(r), "\\xed\\xa0\\x80"));
	json_decref(r);
	/* 63 bytes and a two-byte character: the quote ends inside it. */
	snprintf(cut, sizeof(cut), "vip show %063d\xc3\xa9", 0);
	r = run(&d, cut);
	assert_non_null(strstr(error_message(r), "0\\xc3\""));
	char *text = json_dumps(r, JSON_COMPACT);
	assert_non_null(text);
	free(text);
	json_decref(r);
	lbd_fini(&d);
}

/* Sends input on one connection to d's control socket (served by ctl_run,
 * as lbd's loop does) and returns what the server wrote until it closed. */
static char *socket_session(struct lbd *d, const char *input)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	static char out[65536];
	size_t len = 0;
	char err[256];

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/lbd.sock", dir);
	d->ctl = ctl_create(d, &d->cfg->global, err, sizeof(err)); /* control_socket: sun_path */
	assert_non_null(d->ctl);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(send(fd, input, strlen(input), MSG_NOSIGNAL), (ssize_t)strlen(input));
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 1000; i++) {
		ctl_run(d->ctl);
		ssize_t n = recv(fd, out + len, sizeof(out) - 1 - len, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
		else
			usleep(1000);
	}
	close(fd);
	out[len] = '\0';
	return out;
}

/*
 * Regression (found by tests/fuzz/fuzz_ctl): a monitor's own request sends
 * it an event. When that request was its last line, ended by the end of the
 * stream (socat, printf | nc -U), the event's flush found the client closing
 * with nothing left to send and freed it, and ctl_client_input() then queued
 * the reply into freed memory. The client being served is now only queued
 * to; it is flushed and closed once its request is answered.
 */
static void a_monitor_closing_after_its_own_change_gets_its_replies(void **state)
{
	struct lbd d;

	(void)state;
	unlink(state_path);
	assert_int_equal(lbd_init(&d, conf_path), 0);
	const char *out = socket_session(&d, "monitor\nvip add x tcp 10.99.0.9 443");
	int replies = 0, events = 0;
	for (const char *line = out; *line; line = strchr(line, '\n') + 1) {
		json_t *o = json_loadb(line, (size_t)(strchr(line, '\n') - line), 0, NULL);
		assert_non_null(o);
		if (json_object_get(o, "event"))
			events++;
		else
			replies += json_is_true(json_object_get(o, "ok"));
		json_decref(o);
	}
	assert_int_equal(replies, 2);
	assert_true(events >= 1);
	lbd_fini(&d);
	unlink(state_path);
}

static void run_time_changes_survive_a_restart_through_the_state_file(void **state)
{
	struct lbd d;

	(void)state;
	unlink(state_path);
	assert_int_equal(lbd_init(&d, conf_path), 0);
	expect_ok(&d, "backend set web b1 state maint by scaler");
	expect_ok(&d, "backend set web b1 weight 42");
	expect_ok(&d, "backend add web b5 10.1.0.5 port 8080 weight 3");
	expect_ok(&d, "backend del web b2 --force");
	expect_ok(&d, "vip add api tcp 10.99.0.2 443 table_size 7");
	lbd_fini(&d); /* each change was written as it was made */

	assert_int_equal(lbd_init(&d, conf_path), 0);
	struct model_vip *web = model_vip_find(d.model, "web");
	struct model_backend *b1 = model_backend_find(web, "b1");
	assert_int_equal(b1->admin[MODEL_BY_SCALER], CONF_ADMIN_MAINT);
	assert_int_equal(b1->weight, 42);
	struct model_backend *b5 = model_backend_find(web, "b5");
	assert_non_null(b5);
	assert_int_equal(b5->port, 8080);
	assert_int_equal(b5->weight, 3);
	assert_null(model_backend_find(web, "b2"));
	assert_non_null(model_vip_find(d.model, "api"));
	assert_int_equal(model_vip_find(d.model, "api")->table_size, 7);
	lbd_fini(&d);
	unlink(state_path);
}

static void config_show_reads_back_as_the_same_configuration(void **state)
{
	struct lbd d;
	struct conf_errors errors;
	char path[160], *text = NULL, err[256];

	(void)state;
	unlink(state_path);
	assert_int_equal(lbd_init(&d, conf_path), 0);
	expect_ok(&d, "backend add web b6 10.1.0.6 weight 9");
	expect_ok(&d, "backend set web b1 state drain");
	assert_int_equal(config_dump(d.cfg, d.model, &text, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/shown.conf", dir);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	struct conf *back = conf_load(path, &errors);
	for (__u32 i = 0; !back && i < errors.count; i++)
		fprintf(stderr, "%s\n", errors.messages[i]);
	assert_non_null(back);
	assert_int_equal(back->vip_count, 1);
	assert_int_equal(back->vips[0].backend_count, 3);
	assert_string_equal(back->vips[0].backends[2].name, "b6");
	assert_int_equal(back->vips[0].backends[2].weight, 9);
	assert_int_equal(back->vips[0].backends[0].state, CONF_ADMIN_DRAIN);
	assert_string_equal(back->dataplane.dpdk.flow_state_file,
			    d.cfg->dataplane.dpdk.flow_state_file);
	assert_true(conf_dataplane_restart_equal(&back->dataplane, &d.cfg->dataplane));
	/* Shown again from what it read, it is the same text. */
	struct model *m2 = model_create(back);
	char *again = NULL;
	assert_int_equal(config_dump(back, m2, &again, err, sizeof(err)), 0);
	assert_string_equal(text, again);
	free(again);
	model_destroy(m2);
	conf_destroy(back);
	free(text);
	lbd_fini(&d);
	unlink(state_path);
}

static void health_checks_bring_a_listening_backend_up_and_a_closed_one_down(void **state)
{
	struct lbd d;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	char line[64];

	(void)state;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 64), 0);
	getsockname(ls, (struct sockaddr *)&sin, &len);
	snprintf(line, sizeof(line), "port = %u;", ntohs(sin.sin_port));
	write_conf(line);
	unlink(state_path);
	assert_int_equal(lbd_init(&d, conf_path), 0);
	struct model_backend *b1 = model_backend_find(model_vip_find(d.model, "web"), "b1");
	__u64 deadline = health_now_ms() + 3000;
	while (!model_backend_up(b1) && health_now_ms() < deadline) {
		usleep(5000);
		health_run(d.health, health_now_ms());
	}
	assert_true(model_backend_up(b1));
	close(ls);
	deadline = health_now_ms() + 3000;
	while (model_backend_up(b1) && health_now_ms() < deadline) {
		usleep(5000);
		health_run(d.health, health_now_ms());
	}
	assert_false(model_backend_up(b1));
	assert_non_null(strstr(b1->check_reason, "connect"));
	lbd_fini(&d);
	write_conf("port = 80;");
}

/* Runs lbd's health engine for up to ms, until b's health is want. */
static bool health_until(struct lbd *d, struct model_backend *b, bool want, __u64 ms)
{
	__u64 deadline = health_now_ms() + ms;

	while (model_backend_up(b) != want && health_now_ms() < deadline) {
		usleep(5000);
		health_run(d->health, health_now_ms());
	}
	return model_backend_up(b) == want;
}

/* In a child: b1 up against a listener, then the child moves to a network
 * namespace of its own, whose loopback is down, so that connect() fails at
 * once with ENETUNREACH, as every check does while lb-dpdk restarts. What
 * it saw goes into got: "ok: ...", "fail: ..." or "skip: ...". */
static void unroutable_child(char *got, size_t size)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	char line[64], reason_early[MODEL_REASON_MAX];
	struct lbd d;

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(ls, (struct sockaddr *)&sin, sizeof(sin)) || listen(ls, 64)) {
		snprintf(got, size, "fail: listen: %s", strerror(errno));
		return;
	}
	getsockname(ls, (struct sockaddr *)&sin, &len);
	snprintf(line, sizeof(line), "port = %u;", ntohs(sin.sin_port));
	write_conf(line);
	unlink(state_path);
	if (lbd_init(&d, conf_path)) {
		snprintf(got, size, "fail: lbd_init");
		return;
	}
	struct model_backend *b1 = model_backend_find(model_vip_find(d.model, "web"), "b1");
	if (!health_until(&d, b1, true, 3000)) {
		snprintf(got, size, "fail: b1 not up against its listener");
		goto out;
	}
	if (unshare(CLONE_NEWNET) && unshare(CLONE_NEWUSER | CLONE_NEWNET)) {
		snprintf(got, size, "skip: no network namespace of our own: %s", strerror(errno));
		goto out;
	}
	__u64 since = health_now_ms();
	/* 2 s: twenty fast intervals, ten times fall. */
	bool kept = health_until(&d, b1, false, 2000) == false;
	snprintf(reason_early, sizeof(reason_early), "%s", b1->check_reason);
	bool down = health_until(&d, b1, false, 12000);
	__u64 down_after = health_now_ms() - since;
	snprintf(got, size, "%s: unroutable: still up after 2 s (%s), reason \"%s\"; down after %llu ms "
		 "(the grace is 10 s), reason \"%s\"",
		 kept && strstr(reason_early, "no verdict") && down && down_after >= 10000 &&
				 strstr(b1->check_reason, "Network is unreachable")
			 ? "ok"
			 : "fail",
		 kept ? "yes" : "no", reason_early, (unsigned long long)down_after, b1->check_reason);
out:
	lbd_fini(&d);
	close(ls);
}

/* Runs lbd's health engine until b's health is up, or 10 s have passed. */
static void run_health_until(struct lbd *d, struct model_backend *b, bool up)
{
	__u64 deadline = health_now_ms() + 10000;

	while (model_backend_up(b) != up && health_now_ms() < deadline) {
		usleep(5000);
		health_run(d->health, health_now_ms());
	}
}

/*
 * A VIP without an agent port has its agent reads parked (they no longer
 * wake lbd every agent interval for nothing); a reload that gives it one
 * starts them: the backend's agent is read and its report taken.
 */
static void a_reload_that_gives_an_agent_port_starts_agent_reads(void **state)
{
	struct lbd d;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	struct health_totals t;
	char text[4096], err[512];

	(void)state;
	write_conf("port = 80;");
	unlink(state_path);
	assert_int_equal(lbd_init(&d, conf_path), 0);
	struct model_backend *b1 = model_backend_find(model_vip_find(d.model, "web"), "b1");
	__u64 until = health_now_ms() + 500;
	while (health_now_ms() < until) {
		usleep(5000);
		health_run(d.health, health_now_ms());
	}
	health_totals(d.health, &t);
	assert_int_equal(t.agent_reads, 0);
	/* An agent on loopback, and the file's health_defaults given its port. */
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 64), 0);
	getsockname(ls, (struct sockaddr *)&sin, &len);
	FILE *f = fopen(conf_path, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	char *at = strstr(text, "jitter_pct = 0;");
	assert_non_null(at);
	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "%.*sjitter_pct = 0; agent_port = %u; agent_interval_ms = 200;%s",
		(int)(at - text), text, ntohs(sin.sin_port), at + strlen("jitter_pct = 0;"));
	fclose(f);
	assert_int_equal(lbd_reload(&d, true, NULL, err, sizeof(err)), 0);
	until = health_now_ms() + 10000;
	while (!b1->agent_valid && health_now_ms() < until) {
		int c = accept(ls, NULL, NULL);
		if (c >= 0) {
			assert_int_equal(write(c, "50%\n", 4), 4);
			close(c);
		}
		usleep(5000);
		health_run(d.health, health_now_ms());
	}
	close(ls);
	health_totals(d.health, &t);
	assert_true(b1->agent_valid);
	assert_true(t.agent_reads > 0);
	printf("no agent port: no agent read in 0.5 s; after a reload giving one: read, report "
	       "taken (%llu reads)\n",
	       (unsigned long long)t.agent_reads);
	lbd_fini(&d);
	write_conf("port = 80;");
}

/*
 * A VIP added with `health tcp-half-open`: with CAP_NET_RAW its backend is
 * up while a listener answers the SYNs and down once the port is closed
 * (resets); without it, the command is refused with a message naming the
 * capability, and no VIP is added (no silent fallback to another check).
 */
static void half_open_checks_need_cap_net_raw_and_follow_the_listener(void **state)
{
	struct lbd d;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	char line[128];

	(void)state;
	unlink(state_path);
	assert_int_equal(lbd_init(&d, conf_path), 0);
	int raw = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
	if (raw < 0) {
		json_t *r = run(&d, "vip add hv tcp 10.99.0.9 80 health tcp-half-open");
		assert_non_null(strstr(error_message(r), "CAP_NET_RAW"));
		json_decref(r);
		assert_null(model_vip_find(d.model, "hv"));
		printf("without CAP_NET_RAW: vip add ... health tcp-half-open refused, naming it\n");
		lbd_fini(&d);
		return;
	}
	close(raw);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 64), 0);
	getsockname(ls, (struct sockaddr *)&sin, &len);
	expect_ok(&d, "vip add hv tcp 10.99.0.9 80 health tcp-half-open");
	snprintf(line, sizeof(line), "backend add hv b1 127.0.0.1 port %u", ntohs(sin.sin_port));
	expect_ok(&d, line);
	struct model_backend *b1 = model_backend_find(model_vip_find(d.model, "hv"), "b1");
	assert_non_null(b1);
	run_health_until(&d, b1, true);
	assert_true(model_backend_up(b1));
	assert_string_equal(b1->check_reason, "tcp-half-open: SYN-ACK");
	/* Nothing reached the listener: the kernel reset each SYN-ACK. */
	int flags = fcntl(ls, F_GETFL);
	fcntl(ls, F_SETFL, flags | O_NONBLOCK);
	assert_int_equal(accept(ls, NULL, NULL), -1);
	close(ls);
	run_health_until(&d, b1, false);
	assert_false(model_backend_up(b1));
	assert_non_null(strstr(b1->check_reason, "tcp-half-open: reset"));
	printf("with CAP_NET_RAW: up on SYN-ACKs (the listener accepted nothing), down on "
	       "resets: \"%s\"\n",
	       b1->check_reason);
	lbd_fini(&d);
}

static void a_check_this_host_cannot_route_gives_no_verdict_for_10_s(void **state)
{
	char got[1024];
	int pipefd[2], status;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		snprintf(got, sizeof(got), "fail: the child said nothing");
		unroutable_child(got, sizeof(got));
		if (write(pipefd[1], got, strlen(got)) < 0)
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	ssize_t n = read(pipefd[0], got, sizeof(got) - 1);
	got[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	write_conf("port = 80;");
	unlink(state_path);
	if (strncmp(got, "skip", 4) == 0) {
		print_message("skipped: %s\n", got + 6);
		skip();
	}
	print_message("  %s\n", got);
	assert_true(strncmp(got, "ok", 2) == 0);
}

static void expect_code(json_t *r, const char *code)
{
	const char *got = json_string_value(json_object_get(json_object_get(r, "error"), "code"));

	if (!got || strcmp(got, code) != 0) {
		char *text = json_dumps(r, 0);
		fail_msg("expected error %s, got %s", code, text);
	}
	json_decref(r);
}

/* As a client of the read-only socket. */
static json_t *run_read_only(struct lbd *d, const char *request)
{
	char line[CTL_LINE_MAX];
	bool monitor;

	snprintf(line, sizeof(line), "%s", request);
	return ctl_execute_as(d, line, true, &monitor);
}

static void the_read_only_socket_serves_only_what_changes_nothing(void **state)
{
	static const char *const allowed[] = { "info", "vip list", "vip show web",
						"backend list", "backend show web b1",
						"health show", "lookup web 192.0.2.1:5555",
						"config show", "state show", "help", "monitor" };
	static const char *const refused[] = { "backend set web b1 state drain",
						"backend add web b3 10.1.0.3", "backend del web b2",
						"vip del web", "vip set web min_up 1", "health poll web",
						"config reload", "config check", "state save" };
	struct lbd d;

	(void)state;
	assert_int_equal(lbd_init(&d, conf_path), 0);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(*allowed); i++) {
		json_t *r = run_read_only(&d, allowed[i]);
		if (!json_is_true(json_object_get(r, "ok")))
			fail_msg("read-only socket refused `%s`", allowed[i]);
		json_decref(r);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++)
		expect_code(run_read_only(&d, refused[i]), "forbidden");
	/* Nothing changed on the way. */
	struct model_backend *b1 = model_backend_find(model_vip_find(d.model, "web"), "b1");
	assert_int_equal(model_backend_admin(b1, NULL), CONF_ADMIN_READY);
	assert_non_null(model_vip_find(d.model, "web"));
	lbd_fini(&d);
	print_message("read-only socket: %zu read commands answered, %zu changing ones "
		      "refused as forbidden, nothing changed\n",
		      sizeof(allowed) / sizeof(*allowed), sizeof(refused) / sizeof(*refused));
}

/* In a child as uid/gid 65534 (nobody/nogroup): sends request to the socket
 * at path and returns the reply line's error code ("" for ok), or a why. */
static int child_ask(const char *path, const char *request, char *reply, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(reply, size, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (write(fd, request, strlen(request)) < 0 || write(fd, "\n", 1) < 0) {
		snprintf(reply, size, "write: %s", strerror(errno));
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, reply, size - 1);
	reply[n > 0 ? n : 0] = '\0';
	close(fd);
	return 0;
}

/* What a child running as nobody:nogroup got; the server runs meanwhile. */
static void ask_as_nobody(struct ctl_server *s, const char *path, const char *request,
			  char *reply, size_t size)
{
	int pipefd[2];

	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char got[1024];
		close(pipefd[0]);
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			snprintf(got, sizeof(got), "setresuid: %s", strerror(errno));
		else
			child_ask(path, request, got, sizeof(got));
		if (write(pipefd[1], got, strlen(got)) < 0)
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	int status;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		ctl_run(s);
		usleep(1000);
	}
	ssize_t n = read(pipefd[0], reply, size - 1);
	reply[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
}

static void the_sockets_check_their_peers(void **state)
{
	char err[256], reply[1024], rw[128], ro[128];
	struct group *nogroup = getgrnam("nogroup");
	struct lbd d;

	(void)state;
	if (geteuid() != 0 || !nogroup || nogroup->gr_gid != 65534) {
		print_message("skipped: needs root and the group nogroup (65534)\n");
		skip();
	}
	assert_int_equal(lbd_init(&d, conf_path), 0);
	struct conf_global g = d.cfg->global;
	snprintf(rw, sizeof(rw), "%s/peer.sock", dir);
	snprintf(ro, sizeof(ro), "%s/peer-ro.sock", dir);
	snprintf(g.control_socket, sizeof(g.control_socket), "%s", rw);
	snprintf(g.readonly_socket, sizeof(g.readonly_socket), "%s", ro);
	snprintf(g.readonly_socket_group.name, sizeof(g.readonly_socket_group.name), "nogroup");
	g.readonly_socket_group.gid = 65534;
	assert_int_equal(chmod(dir, 0755), 0); /* let nobody reach the sockets */
	struct ctl_server *s = ctl_create(&d, &g, err, sizeof(err));
	if (!s)
		fail_msg("ctl_create: %s", err);
	struct stat st;
	assert_int_equal(stat(ro, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, 65534);
	assert_int_equal(stat(rw, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);

	/* The file's mode keeps nobody off the control socket... */
	ask_as_nobody(s, rw, "info", reply, sizeof(reply));
	assert_non_null(strstr(reply, "Permission denied"));
	/* ...and lbd's own check when the mode has been loosened. */
	assert_int_equal(chmod(rw, 0666), 0);
	ask_as_nobody(s, rw, "info", reply, sizeof(reply));
	assert_non_null(strstr(reply, "\"forbidden\""));
	assert_non_null(strstr(reply, "uid 65534"));
	/* nogroup may read through the read-only socket, not change. */
	ask_as_nobody(s, ro, "info", reply, sizeof(reply));
	assert_non_null(strstr(reply, "\"ok\":true"));
	ask_as_nobody(s, ro, "backend set web b1 state maint", reply, sizeof(reply));
	assert_non_null(strstr(reply, "\"forbidden\""));
	ctl_destroy(s);
	assert_int_equal(access(rw, F_OK), -1); /* the server removed its sockets */
	assert_int_equal(access(ro, F_OK), -1);
	lbd_fini(&d);
	print_message("as nobody:nogroup: the control socket refused by its mode and, mode "
		      "loosened, by lbd's credential check; the read-only socket (group "
		      "nogroup) answers info and refuses backend set\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_grammar_checks_every_word_and_names_the_bad_one),
		cmocka_unit_test(completion_follows_the_parser_table),
		cmocka_unit_test(help_lists_every_command_of_the_parser_table),
		cmocka_unit_test(commands_change_the_model_and_bad_ones_get_error_replies),
		cmocka_unit_test(error_replies_quote_any_bytes_as_valid_utf8),
		cmocka_unit_test(a_monitor_closing_after_its_own_change_gets_its_replies),
		cmocka_unit_test(run_time_changes_survive_a_restart_through_the_state_file),
		cmocka_unit_test(config_show_reads_back_as_the_same_configuration),
		cmocka_unit_test(health_checks_bring_a_listening_backend_up_and_a_closed_one_down),
		cmocka_unit_test(a_check_this_host_cannot_route_gives_no_verdict_for_10_s),
		cmocka_unit_test(half_open_checks_need_cap_net_raw_and_follow_the_listener),
		cmocka_unit_test(a_reload_that_gives_an_agent_port_starts_agent_reads),
		cmocka_unit_test(the_read_only_socket_serves_only_what_changes_nothing),
		cmocka_unit_test(the_sockets_check_their_peers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
