/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Agent check replies: every word an agent may send, how words combine, and
 * that every malformed reply is refused with a message naming the bad word
 * while the last good report stays as it was.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "controlplane/agent.h"

/* Parses a NUL-terminated reply that must be valid. */
static struct agent_report parse_ok(const char *text)
{
	struct agent_report r;
	char err[AGENT_ERROR_LEN];
	int ret = agent_parse_line(text, strlen(text), &r, err, sizeof(err));

	if (ret != 0)
		fail_msg("reply \"%s\" refused: %s", text, err);
	return r;
}

/* Asserts that length bytes of text are refused with a message containing expected. */
static void assert_refused_n(const char *text, size_t length, const char *expected)
{
	struct agent_report r;
	char err[AGENT_ERROR_LEN] = "";

	assert_int_equal(agent_parse_line(text, length, &r, err, sizeof(err)), -EINVAL);
	if (!strstr(err, expected))
		fail_msg("reply refused with \"%s\", expected \"%s\" in it", err, expected);
}

static void assert_refused(const char *text, const char *expected)
{
	assert_refused_n(text, strlen(text), expected);
}

static bool reports_equal(const struct agent_report *a, const struct agent_report *b)
{
	return a->has_weight_pct == b->has_weight_pct &&
	       (!a->has_weight_pct || a->weight_pct == b->weight_pct) &&
	       a->has_weight == b->has_weight && (!a->has_weight || a->weight == b->weight) &&
	       a->admin == b->admin && a->health == b->health &&
	       a->maxconn_ignored == b->maxconn_ignored &&
	       (!a->maxconn_ignored || a->maxconn == b->maxconn) &&
	       strcmp(a->reason, b->reason) == 0;
}

static void test_percentage_scales_the_configured_weight(void **state)
{
	(void)state;
	struct agent_report r = parse_ok("75%");

	assert_true(r.has_weight_pct);
	assert_int_equal(r.weight_pct, 75);
	assert_false(r.has_weight);
	assert_int_equal(r.admin, AGENT_ADMIN_NONE);
	assert_int_equal(r.health, AGENT_HEALTH_NONE);
	assert_false(r.maxconn_ignored);
	assert_string_equal(r.reason, "");

	assert_int_equal(parse_ok("0%").weight_pct, 0);
	assert_int_equal(parse_ok("1000%").weight_pct, 1000);
	assert_int_equal(parse_ok("007%").weight_pct, 7);
	r = parse_ok("weight:40%");
	assert_true(r.has_weight_pct);
	assert_int_equal(r.weight_pct, 40);
	assert_false(r.has_weight);
}

static void test_absolute_weight_replaces_the_configured_weight(void **state)
{
	(void)state;
	struct agent_report r = parse_ok("weight:40");

	assert_true(r.has_weight);
	assert_int_equal(r.weight, 40);
	assert_false(r.has_weight_pct);
	assert_int_equal(parse_ok("weight:0").weight, 0);
	assert_int_equal(parse_ok("weight:256").weight, 256);
}

static void test_admin_words_ready_drain_maint(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("ready").admin, AGENT_ADMIN_READY);
	assert_int_equal(parse_ok("drain").admin, AGENT_ADMIN_DRAIN);
	assert_int_equal(parse_ok("maint").admin, AGENT_ADMIN_MAINT);
	assert_int_equal(parse_ok("drain").health, AGENT_HEALTH_NONE);
	assert_false(parse_ok("maint").has_weight_pct);
}

static void test_health_words_and_haproxy_synonyms_of_down(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("up").health, AGENT_HEALTH_UP);
	assert_int_equal(parse_ok("down").health, AGENT_HEALTH_DOWN);
	assert_int_equal(parse_ok("stopped").health, AGENT_HEALTH_DOWN);
	assert_int_equal(parse_ok("fail").health, AGENT_HEALTH_DOWN);
	assert_int_equal(parse_ok("up").admin, AGENT_ADMIN_NONE);
}

static void test_maxconn_is_accepted_and_recorded_as_ignored(void **state)
{
	(void)state;
	struct agent_report r = parse_ok("maxconn:30");

	assert_true(r.maxconn_ignored);
	assert_int_equal(r.maxconn, 30);
	assert_false(r.has_weight_pct);
	assert_false(r.has_weight);
	assert_int_equal(r.health, AGENT_HEALTH_NONE);
	assert_int_equal(parse_ok("maxconn:2147483647").maxconn, 2147483647u);
	assert_int_equal(parse_ok("maxconn:0 up").health, AGENT_HEALTH_UP);
}

static void test_reason_after_hash_is_trimmed_and_kept(void **state)
{
	(void)state;
	struct agent_report r = parse_ok("down # GPU 3: ECC errors, queue 812  \t");

	assert_int_equal(r.health, AGENT_HEALTH_DOWN);
	assert_string_equal(r.reason, "GPU 3: ECC errors, queue 812");
	/* No separator needed before '#'; the case of the reason is kept. */
	assert_string_equal(parse_ok("down#Thermal").reason, "Thermal");
	/* Everything after the first '#' is reason, words and '#' included. */
	r = parse_ok("up # drain soon # maybe 50%");
	assert_int_equal(r.admin, AGENT_ADMIN_NONE);
	assert_false(r.has_weight_pct);
	assert_string_equal(r.reason, "drain soon # maybe 50%");
	assert_string_equal(parse_ok("up #").reason, "");
	assert_string_equal(parse_ok("up #   ").reason, "");
	assert_string_equal(parse_ok("up").reason, "");
}

static void test_long_reason_is_cut_to_its_buffer(void **state)
{
	(void)state;
	char line[AGENT_LINE_MAX + 1];
	int n = snprintf(line, sizeof(line), "down # ");

	memset(line + n, 'x', 300);
	line[n + 300] = '\0';
	struct agent_report r = parse_ok(line);

	assert_int_equal(strlen(r.reason), AGENT_REASON_MAX - 1);
	assert_int_equal(r.reason[0], 'x');
}

static void test_words_of_different_kinds_combine(void **state)
{
	(void)state;
	struct agent_report r = parse_ok("up 60%");

	assert_int_equal(r.health, AGENT_HEALTH_UP);
	assert_int_equal(r.weight_pct, 60);

	r = parse_ok("drain 0%");
	assert_int_equal(r.admin, AGENT_ADMIN_DRAIN);
	assert_true(r.has_weight_pct);
	assert_int_equal(r.weight_pct, 0);

	r = parse_ok("75%,maxconn:30,maint,down # planned");
	assert_int_equal(r.weight_pct, 75);
	assert_true(r.maxconn_ignored);
	assert_int_equal(r.maxconn, 30);
	assert_int_equal(r.admin, AGENT_ADMIN_MAINT);
	assert_int_equal(r.health, AGENT_HEALTH_DOWN);
	assert_string_equal(r.reason, "planned");

	r = parse_ok("weight:40 ready up");
	assert_int_equal(r.weight, 40);
	assert_int_equal(r.admin, AGENT_ADMIN_READY);
	assert_int_equal(r.health, AGENT_HEALTH_UP);
}

static void test_words_are_case_insensitive(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("UP").health, AGENT_HEALTH_UP);
	assert_int_equal(parse_ok("Down").health, AGENT_HEALTH_DOWN);
	assert_int_equal(parse_ok("STOPPED").health, AGENT_HEALTH_DOWN);
	assert_int_equal(parse_ok("FaIl").health, AGENT_HEALTH_DOWN);
	assert_int_equal(parse_ok("READY").admin, AGENT_ADMIN_READY);
	assert_int_equal(parse_ok("Drain").admin, AGENT_ADMIN_DRAIN);
	assert_int_equal(parse_ok("MAINT").admin, AGENT_ADMIN_MAINT);
	assert_int_equal(parse_ok("WEIGHT:40").weight, 40);
	assert_int_equal(parse_ok("Weight:40%").weight_pct, 40);
	assert_int_equal(parse_ok("MaxConn:7").maxconn, 7);
}

static void test_spaces_tabs_and_commas_separate_words(void **state)
{
	(void)state;
	const char *lines[] = {"up 60%", "up\t60%", "up,60%", "  up ,\t, 60%  ,", "\t\tup,,,60%\t"};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct agent_report r = parse_ok(lines[i]);

		assert_int_equal(r.health, AGENT_HEALTH_UP);
		assert_int_equal(r.weight_pct, 60);
	}
}

static void test_line_ending_lf_crlf_or_none(void **state)
{
	(void)state;
	const char *lines[] = {"drain 10%", "drain 10%\n", "drain 10%\r\n", "drain 10%\r"};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct agent_report r = parse_ok(lines[i]);

		assert_int_equal(r.admin, AGENT_ADMIN_DRAIN);
		assert_int_equal(r.weight_pct, 10);
	}
	assert_string_equal(parse_ok("down # why\r\n").reason, "why");
}

static void test_only_length_bytes_are_read(void **state)
{
	(void)state;
	const char buf[] = "up 60%XYZ";
	struct agent_report r;
	char err[AGENT_ERROR_LEN];

	assert_int_equal(agent_parse_line(buf, 6, &r, err, sizeof(err)), 0);
	assert_int_equal(r.weight_pct, 60);
	/* The line need not be NUL-terminated. */
	const char no_nul[2] = {'u', 'p'};

	assert_int_equal(agent_parse_line(no_nul, sizeof(no_nul), &r, err, sizeof(err)), 0);
	assert_int_equal(r.health, AGENT_HEALTH_UP);
}

static void test_repeated_words_that_agree_are_accepted(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("down fail stopped").health, AGENT_HEALTH_DOWN);
	assert_int_equal(parse_ok("up UP").health, AGENT_HEALTH_UP);
	assert_int_equal(parse_ok("drain drain").admin, AGENT_ADMIN_DRAIN);
	assert_int_equal(parse_ok("50% weight:50%").weight_pct, 50);
	assert_int_equal(parse_ok("weight:9 weight:09").weight, 9);
	assert_int_equal(parse_ok("maxconn:5 maxconn:5").maxconn, 5);
}

static void test_contradicting_words_are_refused(void **state)
{
	(void)state;
	assert_refused("up down", "\"down\" contradicts \"up\"");
	assert_refused("stopped up", "\"up\" contradicts \"stopped\"");
	assert_refused("ready drain", "\"drain\" contradicts \"ready\"");
	assert_refused("maint, ready", "\"ready\" contradicts \"maint\"");
	assert_refused("50% 60%", "\"60%\" contradicts \"50%\"");
	assert_refused("weight:40 weight:41", "\"weight:41\" contradicts \"weight:40\"");
	/* A percentage and an absolute weight: which would win is a guess. */
	assert_refused("weight:40 50%", "\"50%\" contradicts \"weight:40\"");
	assert_refused("50% weight:50", "\"weight:50\" contradicts \"50%\"");
	assert_refused("maxconn:1 maxconn:2", "\"maxconn:2\" contradicts \"maxconn:1\"");
	assert_refused("up 60% down # no", "\"down\" contradicts \"up\"");
}

static void test_unknown_words_are_refused(void **state)
{
	(void)state;
	assert_refused("upp", "\"upp\" is not an agent word");
	assert_refused("up healthy", "\"healthy\" is not an agent word");
	/* HAProxy needs the '%' too: a bare number is not a weight. */
	assert_refused("60", "\"60\" is not an agent word");
	assert_refused("weight=40", "\"weight=40\" is not an agent word");
	assert_refused("weight 40", "\"weight\" is not an agent word");
	assert_refused("up;ready", "\"up;ready\" is not an agent word");
	assert_refused("weigh:40", "\"weigh:40\" is not an agent word");
}

static void test_bad_numbers_are_refused(void **state)
{
	(void)state;
	assert_refused("%", "\"%\": not a percentage (0..1000%)");
	assert_refused("-5%", "\"-5%\": not a percentage");
	assert_refused("+5%", "\"+5%\": not a percentage");
	assert_refused("5.5%", "\"5.5%\": not a percentage");
	assert_refused("0x10%", "\"0x10%\": not a percentage");
	assert_refused("50%%", "\"50%%\": not a percentage");
	assert_refused("weight:", "\"weight:\": not a weight (0..256)");
	assert_refused("weight:%", "\"weight:%\": not a percentage");
	assert_refused("weight:x", "\"weight:x\": not a weight");
	assert_refused("weight:-1", "\"weight:-1\": not a weight");
	assert_refused("maxconn:", "\"maxconn:\": not a connection count");
	assert_refused("maxconn:ten", "\"maxconn:ten\": not a connection count");
}

static void test_numbers_out_of_range_are_refused(void **state)
{
	(void)state;
	assert_refused("1001%", "\"1001%\": 1001% is above 1000%");
	assert_refused("weight:1001%", "\"weight:1001%\": 1001% is above 1000%");
	assert_refused("weight:257", "\"weight:257\": 257 is above 256");
	/* Not a number at all, however large its first digits. */
	assert_refused("99999x%", "\"99999x%\": not a percentage");
	/* Digits beyond any integer type must not wrap into range. */
	assert_refused("18446744073709551716%", "is above 1000%");
	assert_refused("weight:4294967297", "is above 256");
	assert_refused("maxconn:2147483648",
		       "\"maxconn:2147483648\": 2147483648 is above 2147483647");
}

static void test_empty_replies_are_refused(void **state)
{
	(void)state;
	assert_refused("", "empty reply");
	assert_refused("\n", "empty reply");
	assert_refused("\r\n", "empty reply");
	assert_refused("   \t ", "empty reply");
	assert_refused(", ,", "empty reply");
	assert_refused("# only a reason", "no word before the '#' reason");
	assert_refused_n(NULL, 0, "empty reply");
}

static void test_line_longer_than_512_bytes_is_refused(void **state)
{
	(void)state;
	char line[AGENT_LINE_MAX + 8];

	/* Exactly 512 bytes, then its CRLF: accepted. */
	memset(line, ' ', sizeof(line));
	memcpy(line, "up", 2);
	memcpy(line + AGENT_LINE_MAX, "\r\n", 2);
	struct agent_report r;
	char err[AGENT_ERROR_LEN];

	assert_int_equal(agent_parse_line(line, AGENT_LINE_MAX + 2, &r, err, sizeof(err)), 0);
	assert_int_equal(r.health, AGENT_HEALTH_UP);
	/* 513 bytes, without and with a line ending (which does not count). */
	memcpy(line + AGENT_LINE_MAX, " \r\n", 3);
	assert_refused_n(line, AGENT_LINE_MAX + 1, "reply of 513 bytes is longer than 512");
	assert_refused_n(line, AGENT_LINE_MAX + 3, "reply of 513 bytes is longer than 512");
}

static void test_nul_and_unprintable_bytes_are_refused(void **state)
{
	(void)state;
	assert_refused_n("up\0", 3, "NUL byte at byte 2 in \"up\\x00\"");
	assert_refused_n("\0", 1, "NUL byte at byte 0");
	assert_refused("up 6\a0%", "byte 0x07 at byte 4 in \"6\\x070%\" is not printable");
	assert_refused("down # \x1b[31mred", "byte 0x1b at byte 7");
	assert_refused("up\x7f", "byte 0x7f at byte 2");
	assert_refused("r\xc3\xa9" "ady",
		       "byte 0xc3 at byte 1 in \"r\\xc3\\xa9ady\" is not printable");
	/* A second line is not silently dropped. */
	assert_refused("up\n60%", "line break at byte 2 in \"up\\x0a60%\": one line expected");
	assert_refused("up\r60%", "line break at byte 2");
	assert_refused("up\n\n", "line break at byte 2");
}

static void test_refused_reply_leaves_the_last_report_unchanged(void **state)
{
	(void)state;
	const char *bad[] = {"up down", "upp", "1001%",	       "",
			     "up\a",	"# x", "weight:x 50%", "drain 50% bogus"};
	struct agent_report last = parse_ok("drain 50% maxconn:3 # before");
	char err[AGENT_ERROR_LEN];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct agent_report r = last;

		assert_int_equal(agent_parse_line(bad[i], strlen(bad[i]), &r, err, sizeof(err)),
				 -EINVAL);
		assert_memory_equal(&r, &last, sizeof(r));
		assert_true(err[0] != '\0');
	}
}

static void test_long_bad_word_is_quoted_escaped_and_cut(void **state)
{
	(void)state;
	char line[AGENT_LINE_MAX + 1];
	char err[AGENT_ERROR_LEN];
	struct agent_report r;

	/* 300 bytes of a word with quotes and backslashes in it. */
	for (int i = 0; i < 300; i++)
		line[i] = "a\"\\"[i % 3];
	assert_int_equal(agent_parse_line(line, 300, &r, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, "\"a\\\"\\\\a", 7) == 0);
	assert_non_null(strstr(err, "...\" is not an agent word"));
	assert_true(strlen(err) < 200);

	/* Among the longest messages, two cut words, it fits AGENT_ERROR_LEN. */
	char two[] = "weight:000000000000000000000000000000000000000009 "
		     "weight:000000000000000000000000000000000000000001";

	assert_int_equal(agent_parse_line(two, strlen(two), &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "...\" contradicts \"weight:"));
	assert_true(err[strlen(err) - 1] == '"');
}

static void test_error_buffer_may_be_small_or_absent(void **state)
{
	(void)state;
	struct agent_report r;
	char err[8];

	assert_int_equal(agent_parse_line("upp", 3, &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(agent_parse_line("upp", 3, &r, NULL, 0), -EINVAL);
	assert_int_equal(agent_parse_line("up", 2, &r, NULL, 0), 0);
	assert_int_equal(agent_parse_line("up", 2, NULL, err, sizeof(err)), -EINVAL);
}

static void test_fmt_writes_the_canonical_line(void **state)
{
	(void)state;
	char buf[AGENT_LINE_MAX + 1];
	struct agent_report r = parse_ok("  75%,MAINT\tfail,MaxConn:30 #  planned work ");

	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "down maint 75% maxconn:30 # planned work");
	r = parse_ok("weight:40%");
	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "40%");
	r = parse_ok("WEIGHT:40 ready");
	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ready weight:40");
	r = parse_ok("stopped");
	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "down");
}

static void test_parse_of_fmt_gives_the_report_back(void **state)
{
	(void)state;
	const enum agent_health healths[] = {AGENT_HEALTH_NONE, AGENT_HEALTH_UP, AGENT_HEALTH_DOWN};
	const enum agent_admin admins[] = {AGENT_ADMIN_NONE, AGENT_ADMIN_READY, AGENT_ADMIN_DRAIN,
					   AGENT_ADMIN_MAINT};
	const char *reasons[] = {"", "x", "GPU 3: queue 812 # high", "tab\tinside"};
	char buf[AGENT_LINE_MAX + 1], err[AGENT_ERROR_LEN];
	unsigned int checked = 0;

	for (size_t h = 0; h < 3; h++)
		for (size_t a = 0; a < 4; a++)
			for (int weight = 0; weight < 6; weight++)
				for (int m = 0; m < 3; m++)
					for (size_t s = 0; s < 4; s++) {
						struct agent_report r = {0}, back;

						r.health = healths[h];
						r.admin = admins[a];
						r.has_weight_pct =
							weight == 1 || weight == 2 || weight == 3;
						r.weight_pct = weight == 1   ? 0
							       : weight == 2 ? 60
									     : 1000;
						r.has_weight = weight == 4 || weight == 5;
						r.weight = weight == 4 ? 0 : 256;
						if (!r.has_weight_pct)
							r.weight_pct = 0;
						if (!r.has_weight)
							r.weight = 0;
						r.maxconn_ignored = m > 0;
						r.maxconn = m == 2 ? AGENT_MAXCONN_MAX : 0;
						snprintf(r.reason, sizeof(r.reason), "%s",
							 reasons[s]);
						int ret = agent_fmt_report(&r, buf, sizeof(buf));

						if (h == 0 && a == 0 && weight == 0 && m == 0) {
							/* Nothing to say: no valid reply. */
							assert_int_equal(ret, -EINVAL);
							continue;
						}
						assert_int_equal(ret, 0);
						if (agent_parse_line(buf, strlen(buf), &back, err,
								     sizeof(err)) != 0)
							fail_msg("\"%s\" refused: %s", buf, err);
						if (!reports_equal(&r, &back))
							fail_msg("\"%s\" read back differently",
								 buf);
						checked++;
					}
	print_message("%u reports formatted and read back\n", checked);
}

static void test_fmt_refuses_reports_no_reply_could_give(void **state)
{
	(void)state;
	char buf[AGENT_LINE_MAX + 1];
	struct agent_report r = {0};

	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), -EINVAL); /* says nothing */
	snprintf(r.reason, sizeof(r.reason), "only a reason");
	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), -EINVAL);

	r = parse_ok("up");
	r.has_weight = r.has_weight_pct = true;
	r.weight = r.weight_pct = 50;
	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), -EINVAL);
	r = parse_ok("up 1000%");
	r.weight_pct = 1001;
	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), -EINVAL);
	r = parse_ok("weight:256");
	r.weight = 257;
	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), -EINVAL);
	r = parse_ok("up");
	r.health = (enum agent_health)7;
	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), -EINVAL);
	r = parse_ok("up");
	r.admin = (enum agent_admin)9;
	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), -EINVAL);
	r = parse_ok("up # fine");
	r.reason[1] = '\n';
	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), -EINVAL);
	r = parse_ok("up");
	memset(r.reason, 'x', sizeof(r.reason)); /* no terminating NUL */
	assert_int_equal(agent_fmt_report(&r, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(agent_fmt_report(NULL, buf, sizeof(buf)), -EINVAL);
}

static void test_fmt_reports_a_buffer_too_small(void **state)
{
	(void)state;
	struct agent_report r = parse_ok("up 60%");
	char buf[16];

	assert_int_equal(agent_fmt_report(&r, buf, 7), 0); /* "up 60%" and its NUL */
	assert_string_equal(buf, "up 60%");
	assert_int_equal(agent_fmt_report(&r, buf, 6), -ENOSPC);
	assert_int_equal(agent_fmt_report(&r, buf, 0), -ENOSPC);
	assert_int_equal(agent_fmt_report(&r, NULL, 0), -ENOSPC);
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(agent_admin_name(AGENT_ADMIN_READY), "ready");
	assert_string_equal(agent_admin_name(AGENT_ADMIN_DRAIN), "drain");
	assert_string_equal(agent_admin_name(AGENT_ADMIN_MAINT), "maint");
	assert_string_equal(agent_admin_name(AGENT_ADMIN_NONE), "none");
	assert_string_equal(agent_health_name(AGENT_HEALTH_UP), "up");
	assert_string_equal(agent_health_name(AGENT_HEALTH_DOWN), "down");
	assert_string_equal(agent_health_name(AGENT_HEALTH_NONE), "none");
	assert_string_equal(agent_health_name((enum agent_health)42), "none");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percentage_scales_the_configured_weight),
		cmocka_unit_test(test_absolute_weight_replaces_the_configured_weight),
		cmocka_unit_test(test_admin_words_ready_drain_maint),
		cmocka_unit_test(test_health_words_and_haproxy_synonyms_of_down),
		cmocka_unit_test(test_maxconn_is_accepted_and_recorded_as_ignored),
		cmocka_unit_test(test_reason_after_hash_is_trimmed_and_kept),
		cmocka_unit_test(test_long_reason_is_cut_to_its_buffer),
		cmocka_unit_test(test_words_of_different_kinds_combine),
		cmocka_unit_test(test_words_are_case_insensitive),
		cmocka_unit_test(test_spaces_tabs_and_commas_separate_words),
		cmocka_unit_test(test_line_ending_lf_crlf_or_none),
		cmocka_unit_test(test_only_length_bytes_are_read),
		cmocka_unit_test(test_repeated_words_that_agree_are_accepted),
		cmocka_unit_test(test_contradicting_words_are_refused),
		cmocka_unit_test(test_unknown_words_are_refused),
		cmocka_unit_test(test_bad_numbers_are_refused),
		cmocka_unit_test(test_numbers_out_of_range_are_refused),
		cmocka_unit_test(test_empty_replies_are_refused),
		cmocka_unit_test(test_line_longer_than_512_bytes_is_refused),
		cmocka_unit_test(test_nul_and_unprintable_bytes_are_refused),
		cmocka_unit_test(test_refused_reply_leaves_the_last_report_unchanged),
		cmocka_unit_test(test_long_bad_word_is_quoted_escaped_and_cut),
		cmocka_unit_test(test_error_buffer_may_be_small_or_absent),
		cmocka_unit_test(test_fmt_writes_the_canonical_line),
		cmocka_unit_test(test_parse_of_fmt_gives_the_report_back),
		cmocka_unit_test(test_fmt_refuses_reports_no_reply_could_give),
		cmocka_unit_test(test_fmt_reports_a_buffer_too_small),
		cmocka_unit_test(test_state_names),
	};
	return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
