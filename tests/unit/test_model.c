/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's runtime model: admin opinions by source, the health state machine,
 * agent reports, effective weights, what a table holds, run-time changes
 * and reloads that keep them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "controlplane/model.h"
#include "controlplane/tables.h"

static const char base_conf[] =
	"dataplane = { mode = \"dpdk\"; encap_source_v4 = \"10.0.0.2\";\n"
	"  dpdk = { ports = ( { name = \"p0\"; device = \"net_null0\"; } ); }; };\n"
	"health_defaults = { rise = 2; fall = 3; agent_weight_step_pct = 10; };\n"
	"vips = ( { name = \"web\"; protocol = \"tcp\"; address = \"10.99.0.1\"; port = 80;\n"
	"  backends = ( { name = \"b1\"; address = \"10.1.0.1\"; weight = 10; },\n"
	"               { name = \"b2\"; address = \"10.1.0.2\"; weight = 20; state = \"drain\"; } ); },\n"
	"  { name = \"dns\"; protocol = \"udp\"; address = \"10.99.0.1\"; port = 53;\n"
	"    health = { type = \"none\"; };\n"
	"    backends = ( { name = \"d1\"; address = \"10.1.0.9\"; } ); } );\n";

static struct conf *load_text(const char *text)
{
	char path[] = "/tmp/fulcrum-model-XXXXXX";
	struct conf_errors errors;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct conf *cfg = conf_load(path, &errors);
	unlink(path);
	if (!cfg)
		for (__u32 i = 0; i < errors.count; i++)
			fprintf(stderr, "%s\n", errors.messages[i]);
	assert_non_null(cfg);
	return cfg;
}

static struct model *model_of(const char *text, struct conf **cfg_out)
{
	struct conf *cfg = load_text(text);
	struct model *m = model_create(cfg);

	assert_non_null(m);
	if (cfg_out)
		*cfg_out = cfg;
	else
		conf_destroy(cfg);
	return m;
}

static void pass_checks(struct model_backend *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		model_backend_check_result(b, true, "ok", 10, 1000 + i);
}

static void new_backends_start_down_and_need_rise_successes(void **state)
{
	(void)state;
	struct model *m = model_of(base_conf, NULL);
	struct model_backend *b1 = model_backend_find(model_vip_find(m, "web"), "b1");

	assert_false(model_backend_up(b1));
	assert_int_equal(model_backend_table_state(b1), MODEL_TABLE_ABSENT);
	assert_false(model_backend_check_result(b1, true, "ok", 5, 1));
	assert_false(model_backend_up(b1));
	assert_true(model_backend_check_result(b1, true, "ok", 5, 2)); /* rise = 2 */
	assert_true(model_backend_up(b1));
	assert_int_equal(model_backend_table_state(b1), MODEL_TABLE_READY);
	model_destroy(m);
}

static void fall_failures_take_a_backend_down_and_a_success_resets_them(void **state)
{
	(void)state;
	struct model *m = model_of(base_conf, NULL);
	struct model_backend *b1 = model_backend_find(model_vip_find(m, "web"), "b1");

	pass_checks(b1, 2);
	assert_false(model_backend_check_result(b1, false, "refused", 5, 10));
	assert_false(model_backend_check_result(b1, false, "refused", 5, 11));
	assert_false(model_backend_check_result(b1, true, "ok", 5, 12)); /* resets the count */
	assert_false(model_backend_check_result(b1, false, "refused", 5, 13));
	assert_false(model_backend_check_result(b1, false, "refused", 5, 14));
	assert_true(model_backend_up(b1));
	assert_true(model_backend_check_result(b1, false, "refused", 5, 15)); /* fall = 3 */
	assert_false(model_backend_up(b1));
	assert_string_equal(b1->check_reason, "refused");
	model_destroy(m);
}

static void a_vip_without_health_checks_has_its_backends_up(void **state)
{
	(void)state;
	struct model *m = model_of(base_conf, NULL);
	struct model_backend *d1 = model_backend_find(model_vip_find(m, "dns"), "d1");

	assert_true(model_backend_up(d1));
	assert_int_equal(model_backend_table_state(d1), MODEL_TABLE_READY);
	model_destroy(m);
}

static void the_most_restrictive_source_wins_and_each_clears_only_its_own(void **state)
{
	(void)state;
	struct model *m = model_of(base_conf, NULL);
	struct model_backend *b1 = model_backend_find(model_vip_find(m, "web"), "b1");
	enum model_source by;

	pass_checks(b1, 2);
	model_backend_set_admin(b1, MODEL_BY_OPERATOR, CONF_ADMIN_MAINT);
	/* The agent says ready: that withdraws only the agent's objection. */
	struct agent_report ready = { .admin = AGENT_ADMIN_READY };
	model_backend_agent_result(b1, &ready, NULL);
	assert_int_equal(model_backend_admin(b1, &by), CONF_ADMIN_MAINT);
	assert_int_equal(by, MODEL_BY_OPERATOR);
	assert_int_equal(model_backend_table_state(b1), MODEL_TABLE_ABSENT);
	/* A scaler drains; the operator lifts maint: drain remains, by scaler. */
	model_backend_set_admin(b1, MODEL_BY_SCALER, CONF_ADMIN_DRAIN);
	model_backend_set_admin(b1, MODEL_BY_OPERATOR, CONF_ADMIN_READY);
	assert_int_equal(model_backend_admin(b1, &by), CONF_ADMIN_DRAIN);
	assert_int_equal(by, MODEL_BY_SCALER);
	assert_int_equal(model_backend_table_state(b1), MODEL_TABLE_DRAIN);
	model_backend_set_admin(b1, MODEL_BY_SCALER, CONF_ADMIN_READY);
	assert_int_equal(model_backend_admin(b1, NULL), CONF_ADMIN_READY);
	/* The file's drain of b2 stays whatever the operator says. */
	struct model_backend *b2 = model_backend_find(model_vip_find(m, "web"), "b2");
	model_backend_set_admin(b2, MODEL_BY_OPERATOR, CONF_ADMIN_READY);
	assert_int_equal(model_backend_admin(b2, &by), CONF_ADMIN_DRAIN);
	assert_int_equal(by, MODEL_BY_CONFIG);
	model_destroy(m);
}

static void effective_weight_is_weight_times_agent_percent_rounded_to_the_step(void **state)
{
	(void)state;
	struct model *m = model_of(base_conf, NULL);
	struct model_backend *b1 = model_backend_find(model_vip_find(m, "web"), "b1");
	struct agent_report r = { .has_weight_pct = true, .weight_pct = 50 };

	pass_checks(b1, 2);
	assert_int_equal(model_backend_weight_centi(b1), 10 * 100);
	model_backend_agent_result(b1, &r, NULL);
	assert_int_equal(model_backend_weight_centi(b1), 10 * 50);
	r.weight_pct = 74; /* step 10: 70 */
	model_backend_agent_result(b1, &r, NULL);
	assert_int_equal(model_backend_weight_centi(b1), 10 * 70);
	r.weight_pct = 3; /* a little load is not zero */
	model_backend_agent_result(b1, &r, NULL);
	assert_int_equal(model_backend_weight_centi(b1), 10 * 10);
	r.weight_pct = 0; /* zero is a drain */
	model_backend_agent_result(b1, &r, NULL);
	assert_int_equal(model_backend_weight_centi(b1), 0);
	assert_int_equal(model_backend_table_state(b1), MODEL_TABLE_DRAIN);
	/* An absolute weight replaces the configured one. */
	struct agent_report abs = { .has_weight = true, .weight = 40 };
	model_backend_agent_result(b1, &abs, NULL);
	assert_int_equal(model_backend_weight_centi(b1), 0); /* 0% still stands */
	r.weight_pct = 100;
	model_backend_agent_result(b1, &r, NULL);
	assert_int_equal(model_backend_weight_centi(b1), 40 * 100);
	/* Down (agent) or draining: nothing. */
	struct agent_report down = { .health = AGENT_HEALTH_DOWN };
	model_backend_agent_result(b1, &down, NULL);
	assert_int_equal(model_backend_weight_centi(b1), 0);
	assert_int_equal(model_backend_table_state(b1), MODEL_TABLE_ABSENT);
	model_destroy(m);
}

static void an_unreachable_agent_keeps_the_last_report_and_is_not_a_failure(void **state)
{
	(void)state;
	struct model *m = model_of(base_conf, NULL);
	struct model_backend *b1 = model_backend_find(model_vip_find(m, "web"), "b1");
	struct agent_report r = { .has_weight_pct = true, .weight_pct = 50 };

	pass_checks(b1, 2);
	model_backend_agent_result(b1, &r, NULL);
	assert_false(model_backend_agent_result(b1, NULL, "connect: refused"));
	assert_false(b1->agent_reachable);
	assert_true(model_backend_up(b1));
	assert_int_equal(model_backend_weight_centi(b1), 10 * 50);
	model_destroy(m);
}

static void agent_weight_changes_wait_for_the_rate_limit_but_state_changes_do_not(void **state)
{
	(void)state;
	struct model *m = model_of(base_conf, NULL);
	struct model_vip *web = model_vip_find(m, "web");
	struct model_backend *b1 = model_backend_find(web, "b1");
	__u32 interval = web->health.agent_weight_interval_ms;

	pass_checks(b1, 2);
	model_vip_published(web, 100000);
	struct agent_report r = { .has_weight_pct = true, .weight_pct = 50 };
	model_backend_agent_result(b1, &r, NULL);
	/* The last publication changed b1's weight (it came up): the next
	 * weight-only change waits an interval after it. */
	assert_false(model_vip_publish_due(web, 100000 + interval - 1));
	assert_true(model_vip_publish_due(web, 100000 + interval));
	model_vip_published(web, 100000 + interval);
	r.weight_pct = 80;
	model_backend_agent_result(b1, &r, NULL);
	assert_false(model_vip_publish_due(web, 100000 + 2 * interval - 1));
	assert_true(model_vip_publish_due(web, 100000 + 2 * interval));
	/* A backend going down publishes at once. */
	model_backend_check_result(b1, false, "x", 1, 1);
	model_backend_check_result(b1, false, "x", 1, 2);
	model_backend_check_result(b1, false, "x", 1, 3);
	assert_true(model_vip_publish_due(web, 100000 + 1));
	model_destroy(m);
}

static void tables_hold_ready_with_weight_drain_without_and_leave_out_the_rest(void **state)
{
	(void)state;
	struct model *m = model_of(base_conf, NULL);
	struct model_vip *web = model_vip_find(m, "web");

	pass_checks(model_backend_find(web, "b1"), 2);
	pass_checks(model_backend_find(web, "b2"), 2);
	struct vip_table *t = tables_from_model(web);
	assert_non_null(t);
	assert_int_equal(t->backend_count, 2);
	for (__u32 i = 0; i < t->backend_count; i++) {
		if (t->backends[i].state == CHAN_BACKEND_READY)
			assert_int_equal(t->backends[i].weight, 1000);
		else
			assert_int_equal(t->backends[i].weight, 0);
	}
	assert_int_equal(tables_build_ring(t), 0);
	tables_destroy(t);
	model_backend_set_admin(model_backend_find(web, "b2"), MODEL_BY_OPERATOR, CONF_ADMIN_MAINT);
	t = tables_from_model(web);
	assert_int_equal(t->backend_count, 1);
	tables_destroy(t);
	model_destroy(m);
}

static void run_time_additions_are_validated_like_the_file(void **state)
{
	(void)state;
	struct model *m = model_of(base_conf, NULL);
	struct model_vip *web = model_vip_find(m, "web");
	struct conf_backend spec = { .name = "b3", .port = 80, .weight = 5 };
	char err[256];

	conf_parse_addr("10.1.0.1", &spec.addr);
	assert_int_equal(model_backend_add(m, web, &spec, MODEL_BY_SCALER, err, sizeof(err)),
			 -EEXIST); /* b1's address and port */
	conf_parse_addr("fd00::3", &spec.addr);
	assert_int_equal(model_backend_add(m, web, &spec, MODEL_BY_SCALER, err, sizeof(err)),
			 -EINVAL); /* no IPv6 tunnel source */
	assert_non_null(strstr(err, "encap_source_v6"));
	snprintf(spec.name, sizeof(spec.name), "bad name");
	conf_parse_addr("10.1.0.3", &spec.addr);
	assert_int_equal(model_backend_add(m, web, &spec, MODEL_BY_SCALER, err, sizeof(err)),
			 -EINVAL);
	snprintf(spec.name, sizeof(spec.name), "b3");
	assert_int_equal(model_backend_add(m, web, &spec, MODEL_BY_SCALER, err, sizeof(err)), 0);
	struct model_backend *b3 = model_backend_find(web, "b3");
	assert_non_null(b3);
	assert_false(model_backend_up(b3)); /* starts down */
	assert_true(b3->added);
	struct conf_vip vs = { .name = "web2", .proto = PKT_PROTO_TCP, .port = 80,
			       .table_size = 4, .min_up = 1 };
	conf_parse_addr("10.99.0.1", &vs.addr);
	assert_int_equal(model_vip_add(m, &vs, err, sizeof(err)), -EINVAL); /* not a prime */
	vs.table_size = 65537;
	assert_int_equal(model_vip_add(m, &vs, err, sizeof(err)), -EEXIST); /* web's address */
	vs.port = 8080;
	assert_int_equal(model_vip_add(m, &vs, err, sizeof(err)), 0);
	model_destroy(m);
}

static const char reload_conf[] =
	"dataplane = { mode = \"dpdk\"; encap_source_v4 = \"10.0.0.2\";\n"
	"  dpdk = { ports = ( { name = \"p0\"; device = \"net_null0\"; } ); }; };\n"
	"vips = ( { name = \"web\"; protocol = \"tcp\"; address = \"10.99.0.1\"; port = 80;\n"
	"  backends = ( { name = \"b1\"; address = \"10.1.0.1\"; weight = 10; },\n"
	"               { name = \"b2\"; address = \"10.1.0.2\"; weight = 25; state = \"drain\"; },\n"
	"               { name = \"b4\"; address = \"10.1.0.4\"; } ); } );\n";

static void a_reload_applies_what_the_file_changed_and_keeps_run_time_changes(void **state)
{
	(void)state;
	struct conf *cfg;
	struct model *m = model_of(base_conf, &cfg);
	struct model_vip *web = model_vip_find(m, "web");
	struct conf_backend spec = { .name = "b3", .port = 80, .weight = 5 };
	char err[256];

	model_backend_set_weight(model_backend_find(web, "b1"), 99, err, sizeof(err));
	model_backend_set_weight(model_backend_find(web, "b2"), 77, err, sizeof(err));
	conf_parse_addr("10.1.0.3", &spec.addr);
	assert_int_equal(model_backend_add(m, web, &spec, MODEL_BY_OPERATOR, err, sizeof(err)), 0);
	pass_checks(model_backend_find(web, "b1"), 2);

	struct conf *next = load_text(reload_conf);
	assert_int_equal(model_apply_config(m, next, err, sizeof(err)), 0);
	web = model_vip_find(m, "web");
	/* b1: the file did not change it, so the operator's weight stays, and
	 * so does its health. */
	assert_int_equal(model_backend_find(web, "b1")->weight, 99);
	assert_true(model_backend_up(model_backend_find(web, "b1")));
	/* b2: the file changed its weight, which wins. */
	assert_int_equal(model_backend_find(web, "b2")->weight, 25);
	/* b3 (run time) stays, b4 (new in the file) arrives down. */
	assert_non_null(model_backend_find(web, "b3"));
	assert_non_null(model_backend_find(web, "b4"));
	assert_false(model_backend_up(model_backend_find(web, "b4")));
	/* dns left the file. */
	assert_null(model_vip_find(m, "dns"));
	conf_destroy(next);
	conf_destroy(cfg);
	model_destroy(m);
}

static void a_reload_that_collides_with_run_time_changes_is_refused_whole(void **state)
{
	(void)state;
	struct model *m = model_of(base_conf, NULL);
	struct model_vip *web = model_vip_find(m, "web");
	struct conf_backend spec = { .name = "x4", .port = 80, .weight = 5 };
	char err[256];

	conf_parse_addr("10.1.0.4", &spec.addr); /* the file's next b4 */
	assert_int_equal(model_backend_add(m, web, &spec, MODEL_BY_OPERATOR, err, sizeof(err)), 0);
	struct conf *next = load_text(reload_conf);
	assert_int_equal(model_apply_config(m, next, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "x4"));
	assert_null(model_backend_find(web, "b4"));  /* nothing applied */
	assert_non_null(model_vip_find(m, "dns"));
	conf_destroy(next);
	model_destroy(m);
}

static void a_deleted_file_backend_stays_deleted_across_an_unchanged_reload(void **state)
{
	(void)state;
	struct conf *cfg;
	struct model *m = model_of(base_conf, &cfg);
	char err[256];

	assert_int_equal(model_backend_del(model_vip_find(m, "web"), "b1", err, sizeof(err)), 0);
	assert_null(model_backend_find(model_vip_find(m, "web"), "b1"));
	assert_int_equal(model_apply_config(m, cfg, err, sizeof(err)), 0);
	assert_null(model_backend_find(model_vip_find(m, "web"), "b1"));
	conf_destroy(cfg);
	model_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_backends_start_down_and_need_rise_successes),
		cmocka_unit_test(fall_failures_take_a_backend_down_and_a_success_resets_them),
		cmocka_unit_test(a_vip_without_health_checks_has_its_backends_up),
		cmocka_unit_test(the_most_restrictive_source_wins_and_each_clears_only_its_own),
		cmocka_unit_test(effective_weight_is_weight_times_agent_percent_rounded_to_the_step),
		cmocka_unit_test(an_unreachable_agent_keeps_the_last_report_and_is_not_a_failure),
		cmocka_unit_test(agent_weight_changes_wait_for_the_rate_limit_but_state_changes_do_not),
		cmocka_unit_test(tables_hold_ready_with_weight_drain_without_and_leave_out_the_rest),
		cmocka_unit_test(run_time_additions_are_validated_like_the_file),
		cmocka_unit_test(a_reload_applies_what_the_file_changed_and_keeps_run_time_changes),
		cmocka_unit_test(a_reload_that_collides_with_run_time_changes_is_refused_whole),
		cmocka_unit_test(a_deleted_file_backend_stays_deleted_across_an_unchanged_reload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
