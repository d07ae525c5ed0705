/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Configuration loading: the sample is valid and states the real defaults;
 * every class of mistake is rejected with FILE:LINE: KEY: and the value.
 */
#include <arpa/inet.h>
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

#include "controlplane/conf.h"

/* A valid base: XDP mode with both tunnel sources. Line 1..3. */
#define BASE                                                                                      \
	"dataplane = { mode = \"xdp\"; encap_source_v4 = \"10.0.0.2\";\n"                         \
	"  encap_source_v6 = \"fd00::2\";\n"                                                      \
	"  xdp = { interfaces = [ \"eth0\" ]; }; };\n"

static char tmp_path[64];

/* Loads text from a temporary file; errors receives the messages. */
static struct conf *load_text(const char *text, struct conf_errors *errors)
{
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/fulcrum-test-XXXXXX");
	int fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct conf *cfg = conf_load(tmp_path, errors);
	unlink(tmp_path);
	return cfg;
}

/* Asserts text is rejected with a message containing ":LINE: " + expected. */
static void assert_rejected(const char *text, int line, const char *expected)
{
	struct conf_errors errors;
	char want[CONF_ERROR_LEN];

	assert_null(load_text(text, &errors));
	assert_int_equal(errno, EINVAL);
	snprintf(want, sizeof(want), "%s:%d: %s", tmp_path, line, expected);
	for (__u32 i = 0; i < errors.count; i++) {
		if (strstr(errors.messages[i], want))
			return;
	}
	for (__u32 i = 0; i < errors.count; i++)
		print_error("  got: %s\n", errors.messages[i]);
	fail_msg("no error \"%s\"", want);
}

static void test_restart_settings_compare_by_value(void **state)
{
	(void)state;
	struct conf_errors errors;
	struct conf *a = conf_load("config/fulcrum.conf", &errors);
	struct conf *b = conf_load("config/fulcrum.conf", &errors);

	assert_non_null(a);
	assert_non_null(b);
	/* Two loads of one file: equal, though eal_args point to other strings. */
	assert_true(conf_dataplane_restart_equal(&a->dataplane, &b->dataplane));
	assert_true(b->dataplane.dpdk.eal_arg_count > 0);
	assert_ptr_not_equal(a->dataplane.dpdk.eal_args[0], b->dataplane.dpdk.eal_args[0]);
	b->dataplane.xdp.members_max++;
	assert_false(conf_dataplane_restart_equal(&a->dataplane, &b->dataplane));
	b->dataplane.xdp.members_max--;
	b->dataplane.dpdk.mbufs++;
	assert_false(conf_dataplane_restart_equal(&a->dataplane, &b->dataplane));
	b->dataplane.dpdk.mbufs--;
	/* The table of new flows: an eighth of the flow table unless set. */
	assert_int_equal(conf_new_flow_table_size(&a->dataplane), a->dataplane.flow_table_size / 8);
	b->dataplane.new_flow_table_size = a->dataplane.flow_table_size / 8;
	assert_true(conf_dataplane_restart_equal(&a->dataplane, &b->dataplane));
	b->dataplane.new_flow_table_size = 4096;
	assert_false(conf_dataplane_restart_equal(&a->dataplane, &b->dataplane));
	a->dataplane.flow_table_size = 2048;
	a->dataplane.new_flow_table_size = 0;
	assert_int_equal(conf_new_flow_table_size(&a->dataplane), 1024);
	conf_destroy(a);
	conf_destroy(b);
	print_message("dataplane settings that need a restart compare by value (EAL arguments "
		      "as strings): an unchanged file is no change\n");
}

static void test_sample_config_is_valid(void **state)
{
	(void)state;
	struct conf_errors errors;
	struct conf *cfg = conf_load("config/fulcrum.conf", &errors);

	for (__u32 i = 0; !cfg && i < errors.count; i++)
		print_error("%s\n", errors.messages[i]);
	assert_non_null(cfg);
	assert_int_equal(cfg->vip_count, 3);
	const struct conf_vip *v4 = &cfg->vips[0];
	assert_string_equal(v4->name, "infer-v4");
	assert_int_equal(v4->proto, PKT_PROTO_TCP);
	assert_int_equal(v4->port, 80);
	assert_int_equal(v4->health.type, CONF_HEALTH_HTTP);
	assert_string_equal(v4->health.http_path, "/healthz");
	assert_int_equal(v4->health.http_expect_count, 2);
	assert_int_equal(v4->health.interval_ms, 2000); /* inherited from health_defaults */
	assert_int_equal(v4->backend_count, 3);
	assert_int_equal(v4->backends[1].port, 80); /* defaults to the VIP's port */
	assert_int_equal(v4->backends[2].state, CONF_ADMIN_DRAIN);
	assert_int_equal(cfg->vips[1].addr.family, FLOW_FAMILY_IPV6);
	assert_int_equal(cfg->vips[2].proto, PKT_PROTO_UDP);
	assert_int_equal(cfg->vips[2].health.type, CONF_HEALTH_NONE);
	assert_true(cfg->dataplane.dpdk.present && cfg->dataplane.xdp.present);
	assert_int_equal(cfg->dataplane.dpdk.port_count, 1);
	assert_int_equal(cfg->dataplane.dpdk.ports[0].address_count, 2);
	assert_int_equal(cfg->dataplane.dpdk.ports[0].addresses[0].length, 24);
	assert_int_equal(cfg->dataplane.dpdk.eal_arg_count, 3);
	conf_destroy(cfg);
	print_message("config/fulcrum.conf: valid, 3 VIPs, health overrides inherit defaults\n");
}

/* The values the sample writes out are the ones the loader uses when absent. */
static void test_sample_states_the_real_defaults(void **state)
{
	(void)state;
	struct conf_errors errors;
	struct conf *sample = conf_load("config/fulcrum.conf", &errors);
	struct conf *minimal = load_text(BASE "vips = ( { name = \"v\"; protocol = \"tcp\"; "
					      "address = \"192.0.2.1\"; port = 80; backends = ( "
					      "{ name = \"b\"; address = \"10.1.0.1\"; } ); } );\n",
					 &errors);

	assert_non_null(sample);
	assert_non_null(minimal);
	assert_memory_equal(&sample->global, &minimal->global, sizeof(sample->global));
	assert_memory_equal(&sample->health_defaults, &minimal->health_defaults,
			    sizeof(sample->health_defaults));
	const struct conf_dataplane *s = &sample->dataplane, *m = &minimal->dataplane;
	assert_int_equal(s->encap, m->encap);
	assert_int_equal(s->gue_port, m->gue_port);
	assert_int_equal(s->flow_table_size, m->flow_table_size);
	assert_int_equal(s->tcp_idle_timeout_s, m->tcp_idle_timeout_s);
	assert_int_equal(s->udp_idle_timeout_s, m->udp_idle_timeout_s);
	assert_string_equal(s->xdp.pin_path, m->xdp.pin_path);
	assert_int_equal(s->xdp.generic, m->xdp.generic);
	assert_int_equal(s->dpdk.mbufs, m->dpdk.mbufs);
	assert_int_equal(s->dpdk.mbuf_cache, m->dpdk.mbuf_cache);
	assert_string_equal(s->dpdk.control_socket, m->dpdk.control_socket);
	assert_string_equal(s->dpdk.flow_state_file, m->dpdk.flow_state_file);
	assert_string_equal(m->dpdk.flow_state_file, "/run/fulcrum/lb-dpdk.flows");
	assert_int_equal(s->dpdk.worker_lcores[0], m->dpdk.worker_lcores[0]);
	const struct conf_vip *sv = &sample->vips[0], *mv = &minimal->vips[0];
	assert_int_equal(sv->table_size, mv->table_size);
	assert_int_equal(sv->min_up, mv->min_up);
	assert_int_equal(mv->backends[0].weight, 1);
	assert_int_equal(mv->backends[0].state, CONF_ADMIN_READY);
	assert_int_equal(mv->backends[0].port, 80);
	conf_destroy(sample);
	conf_destroy(minimal);
}

static void test_syntax_errors_name_their_line(void **state)
{
	(void)state;
	assert_rejected(BASE "vips = (\n  { name = \"v\"; port = = 80; }\n);\n", 5,
			"syntax: syntax error");
}

static void test_unknown_keys_are_rejected(void **state)
{
	(void)state;
	assert_rejected(BASE "colour = \"blue\";\n", 4, "colour: unknown key");
	assert_rejected("dataplane = { mode = \"xdp\"; xdp = { interfaces = [\"eth0\"];\n"
			"  atach_mode = \"native\"; }; };\n",
			2, "dataplane.xdp.atach_mode: unknown key");
	assert_rejected(BASE "vips = ( { name = \"v\"; protocol = \"tcp\"; address = \"192.0.2.1\";\n"
			     "  port = 80; backends = (\n"
			     "    { name = \"b\"; address = \"10.1.0.1\"; wieght = 3; } ); } );\n",
			6, "vips[0].backends[0].wieght: unknown key");
}

static void test_wrong_types_are_rejected(void **state)
{
	(void)state;
	assert_rejected(BASE "vips = ( { name = \"v\"; protocol = \"tcp\"; address = \"192.0.2.1\";\n"
			     "  port = \"80\"; } );\n",
			5, "vips[0].port: must be an integer, not a string");
	assert_rejected(BASE "vips = { name = \"v\"; };\n", 4,
			"vips: must be a list ( ), not a group { }");
	assert_rejected(BASE "global = { log_level = 3; };\n", 4,
			"global.log_level: must be a string, not an integer");
}

static void test_out_of_range_numbers_are_rejected(void **state)
{
	(void)state;
	const char *vip = BASE "vips = ( { name = \"v\"; protocol = \"tcp\"; address = \"192.0.2.1\";\n"
			       "  port = 80; backends = (\n";
	char text[1024];

	snprintf(text, sizeof(text), "%s    { name = \"b\"; address = \"10.1.0.1\"; weight = 300; } ); } );\n", vip);
	assert_rejected(text, 6, "vips[0].backends[0].weight: 300 is above 256");
	snprintf(text, sizeof(text), "%s    { name = \"b\"; address = \"10.1.0.1\"; port = 0; } ); } );\n", vip);
	assert_rejected(text, 6, "vips[0].backends[0].port: 0 is below 1");
	assert_rejected(BASE "health_defaults = { rise = 0; };\n", 4, "health_defaults.rise: 0 is below 1");
	assert_rejected("dataplane = { mode = \"xdp\"; encap_source_v4 = \"10.0.0.2\";\n"
			"  new_flow_table_size = 512; xdp = { interfaces = [ \"eth0\" ]; }; };\n",
			2,
			"dataplane.new_flow_table_size: 512 is below 1024");
	assert_rejected(BASE "health_defaults = {\n interval_ms = 500;\n timeout_ms = 900; };\n", 4,
			"health_defaults: timeout_ms 900 is longer than interval_ms 500");
	assert_rejected(BASE "health_defaults = { http_expect = [ 200, 700 ]; };\n", 4,
			"health_defaults.http_expect: 700 is not an HTTP status");
}

static void test_bad_enumerations_are_rejected(void **state)
{
	(void)state;
	assert_rejected(BASE "vips = ( { name = \"v\";\n protocol = \"sctp\"; address = \"192.0.2.1\"; port = 80; } );\n",
			5, "vips[0].protocol: \"sctp\" is not one of \"tcp\", \"udp\"");
	assert_rejected("dataplane = {\n mode = \"xdp\"; encap = \"gre\"; xdp = { interfaces = [\"e\"]; }; };\n",
			2, "dataplane.encap: \"gre\" is not one of");
}

static void test_malformed_addresses_are_rejected(void **state)
{
	(void)state;
	assert_rejected(BASE "vips = ( { name = \"v\"; protocol = \"tcp\";\n address = \"192.0.2\"; port = 80; } );\n",
			5, "vips[0].address: \"192.0.2\" is not an IPv4 or IPv6 address");
	assert_rejected(BASE "vips = ( { name = \"v\"; protocol = \"tcp\"; address = \"2001:db8::zz\"; port = 80; } );\n",
			4, "vips[0].address: \"2001:db8::zz\" is not an IPv4 or IPv6 address");
	assert_rejected("dataplane = { mode = \"xdp\"; xdp = { interfaces = [\"e\"]; };\n"
			" encap_source_v4 = \"fd00::1\"; };\n",
			2, "dataplane.encap_source_v4: must be an IPv4 address");
	assert_rejected(BASE "global = { metrics_listen = \"localhost\"; };\n", 4,
			"global.metrics_listen: \"localhost\" is not ADDRESS:PORT");
	assert_rejected("dataplane = { mode = \"xdp\"; xdp = { interfaces = [\"e\"]; };\n"
			" gateway_mac = \"02:00:5e:10:00\"; };\n",
			2, "dataplane.gateway_mac: \"02:00:5e:10:00\" is not a MAC address");
	assert_rejected("dataplane = { mode = \"dpdk\"; dpdk = { ports = ( { name = \"p\"; device = \"x\";\n"
			" addresses = [ \"10.0.0.2/33\" ]; } ); }; };\n",
			2, "dataplane.dpdk.ports[0].addresses: \"10.0.0.2/33\" is not ADDRESS/LENGTH");
}

static void test_metrics_listen_forms(void **state)
{
	struct conf_errors errors;
	struct conf *cfg;
	char text[512];
	(void)state;

	/* The default: loopback only. */
	cfg = load_text(BASE, &errors);
	assert_non_null(cfg);
	assert_int_equal(cfg->global.metrics_port, 9469);
	assert_int_equal(cfg->global.metrics_addr.family, FLOW_FAMILY_IPV4);
	assert_int_equal(cfg->global.metrics_addr.addr[0], htonl(0x7f000001));
	conf_destroy(cfg);
	snprintf(text, sizeof(text), "%sglobal = { metrics_listen = \"[::1]:9100\"; };\n", BASE);
	cfg = load_text(text, &errors);
	assert_non_null(cfg);
	assert_int_equal(cfg->global.metrics_port, 9100);
	assert_int_equal(cfg->global.metrics_addr.family, FLOW_FAMILY_IPV6);
	conf_destroy(cfg);
	/* "" turns the endpoint off. */
	snprintf(text, sizeof(text), "%sglobal = { metrics_listen = \"\"; };\n", BASE);
	cfg = load_text(text, &errors);
	assert_non_null(cfg);
	assert_int_equal(cfg->global.metrics_port, 0);
	conf_destroy(cfg);
	assert_rejected(BASE "global = { metrics_listen = \"::1:9469\"; };\n", 4,
			"global.metrics_listen: \"::1:9469\" is not ADDRESS:PORT");
	assert_rejected(BASE "global = { metrics_listen = \"127.0.0.1:65536\"; };\n", 4,
			"global.metrics_listen: \"127.0.0.1:65536\" is not ADDRESS:PORT");
	assert_rejected(BASE "global = { metrics_listen = \"127.0.0.1:\"; };\n", 4,
			"global.metrics_listen: \"127.0.0.1:\" is not ADDRESS:PORT");
}

/* lb-dpdk's flow state file: an absolute path to a file, or "" (off). */
static void test_flow_state_file_is_a_path_or_off(void **state)
{
	struct conf_errors errors;
	struct conf *cfg;
	(void)state;

	static const char dpdk[] =
		"dataplane = { mode = \"dpdk\"; encap_source_v4 = \"10.0.0.2\";\n"
		"  dpdk = { ports = ( { name = \"e0\"; device = \"net_null0\"; } );\n"
		"    flow_state_file = %s; }; };\n";
	char text[512];

	snprintf(text, sizeof(text), dpdk, "\"\"");
	cfg = load_text(text, &errors);
	assert_non_null(cfg);
	assert_string_equal(cfg->dataplane.dpdk.flow_state_file, "");
	conf_destroy(cfg);
	snprintf(text, sizeof(text), dpdk, "\"/var/lib/fulcrum/flows\"");
	cfg = load_text(text, &errors);
	assert_non_null(cfg);
	assert_string_equal(cfg->dataplane.dpdk.flow_state_file, "/var/lib/fulcrum/flows");
	conf_destroy(cfg);
	snprintf(text, sizeof(text), dpdk, "\"flows\"");
	assert_rejected(text, 3,
			"dataplane.dpdk.flow_state_file: \"flows\" is not an absolute path");
	snprintf(text, sizeof(text), dpdk, "\"/run/fulcrum/\"");
	assert_rejected(text, 3,
			"dataplane.dpdk.flow_state_file: \"/run/fulcrum/\" names a directory");
	snprintf(text, sizeof(text), dpdk, "\"/run/fulcrum/lb-dpdk.sock\"");
	assert_rejected(text, 3, "dataplane.dpdk.flow_state_file: \"/run/fulcrum/lb-dpdk.sock\" "
				 "is also the control_socket");
	snprintf(text, sizeof(text), dpdk, "7");
	assert_rejected(text, 3, "dataplane.dpdk.flow_state_file: ");
	char path[300] = "\"/";
	memset(path + 2, 'a', 250);
	strcpy(path + 252, "\"");
	char longer[700];
	snprintf(longer, sizeof(longer), dpdk, path);
	assert_rejected(longer, 3, "dataplane.dpdk.flow_state_file: ");
	print_message("flow_state_file: \"\" turns it off, an absolute path is kept; a relative "
		      "path, a directory, the control socket, a number and a path with no room "
		      "for \".refused\" are rejected at their line\n");
}

/* The control sockets: groups resolved at load, the read-only socket beside
 * the control socket unless placed, never the same file. */
static void test_control_socket_groups_and_readonly_socket(void **state)
{
	struct conf_errors errors;
	struct conf *cfg;
	(void)state;

	cfg = load_text(BASE "global = { control_socket = \"/tmp/x/ctl.sock\";\n"
			     "  control_socket_group = \"root\"; };\n",
			&errors);
	assert_non_null(cfg);
	assert_string_equal(cfg->global.readonly_socket, "/tmp/x/ctl-ro.sock");
	assert_string_equal(cfg->global.control_socket_group.name, "root");
	assert_int_equal(cfg->global.control_socket_group.gid, 0);
	assert_string_equal(cfg->global.readonly_socket_group.name, "");
	conf_destroy(cfg);
	cfg = load_text(BASE "global = { control_socket = \"/tmp/x/ctl\"; readonly_socket = \"\"; };\n",
			&errors);
	assert_non_null(cfg);
	assert_string_equal(cfg->global.readonly_socket, ""); /* turned off */
	conf_destroy(cfg);
	char derived[128];
	conf_readonly_socket_default("/tmp/x/ctl", derived, sizeof(derived));
	assert_string_equal(derived, "/tmp/x/ctl-ro");
	assert_rejected(BASE "global = {\n readonly_socket_group = \"no-such-group-fulcrum\"; };\n", 5,
			"global.readonly_socket_group: group \"no-such-group-fulcrum\" does not exist");
	assert_rejected(BASE "global = { control_socket = \"/tmp/a.sock\";\n"
			     " readonly_socket = \"/tmp/a.sock\"; };\n",
			5, "global.readonly_socket: \"/tmp/a.sock\" is also the control_socket");
	print_message("groups resolved to ids (unknown ones rejected at their line); the "
		      "read-only socket defaults to X-ro.sock beside X.sock, \"\" turns it off, "
		      "and it may not be the control socket\n");
}

static void test_table_sizes_must_be_prime_and_large_enough(void **state)
{
	(void)state;
	assert_rejected(BASE "vips = ( { name = \"v\"; protocol = \"tcp\"; address = \"192.0.2.1\";\n"
			     " port = 80; table_size = 65536; } );\n",
			5, "vips[0].table_size: 65536 is not a prime");
	assert_rejected(BASE "vips = ( { name = \"v\"; protocol = \"tcp\"; address = \"192.0.2.1\"; port = 80;\n"
			     " table_size = 7; backends = (\n"
			     " { name = \"a\"; address = \"10.1.0.1\"; }, { name = \"b\"; address = \"10.1.0.2\"; },\n"
			     " { name = \"c\"; address = \"10.1.0.3\"; }, { name = \"d\"; address = \"10.1.0.4\"; },\n"
			     " { name = \"e\"; address = \"10.1.0.5\"; }, { name = \"f\"; address = \"10.1.0.6\"; },\n"
			     " { name = \"g\"; address = \"10.1.0.7\"; } ); } );\n",
			4, "vips[0].table_size: 7 slots cannot hold 7 backends");
}

static void test_duplicates_are_rejected(void **state)
{
	(void)state;
	assert_rejected(BASE "vips = ( { name = \"v\"; protocol = \"tcp\"; address = \"192.0.2.1\"; port = 80; },\n"
			     " { name = \"v\"; protocol = \"tcp\"; address = \"192.0.2.2\"; port = 80; } );\n",
			5, "vips[1]: name \"v\" already used at line 4");
	assert_rejected(BASE "vips = ( { name = \"a\"; protocol = \"tcp\"; address = \"192.0.2.1\"; port = 80; },\n"
			     " { name = \"b\"; protocol = \"tcp\"; address = \"192.0.2.1\"; port = 80; } );\n",
			5, "vips[1]: tcp 192.0.2.1 port 80 is already VIP \"a\" (line 4)");
	assert_rejected(BASE "vips = ( { name = \"v\"; protocol = \"tcp\"; address = \"192.0.2.1\"; port = 80;\n"
			     " backends = ( { name = \"a\"; address = \"10.1.0.1\"; },\n"
			     " { name = \"a\"; address = \"10.1.0.2\"; },\n"
			     " { name = \"c\"; address = \"10.1.0.1\"; port = 80; } ); } );\n",
			6, "vips[0].backends[1]: name \"a\" already used at line 5");
	assert_rejected(BASE "vips = ( { name = \"v\"; protocol = \"tcp\"; address = \"192.0.2.1\"; port = 80;\n"
			     " backends = ( { name = \"a\"; address = \"10.1.0.1\"; },\n"
			     " { name = \"c\"; address = \"10.1.0.1\"; port = 80; } ); } );\n",
			6, "vips[0].backends[1]: 10.1.0.1 port 80 is already backend \"a\" (line 5)");

	/* The same address and port under another protocol is another VIP. */
	struct conf_errors errors;
	struct conf *cfg = load_text(BASE "vips = ( { name = \"t\"; protocol = \"tcp\"; address = \"192.0.2.1\"; port = 53; },\n"
					  " { name = \"u\"; protocol = \"udp\"; address = \"192.0.2.1\"; port = 53; } );\n",
				     &errors);
	assert_non_null(cfg);
	conf_destroy(cfg);
}

static void test_backend_family_without_tunnel_source_is_rejected(void **state)
{
	(void)state;
	assert_rejected("dataplane = { mode = \"xdp\"; encap_source_v4 = \"10.0.0.2\";\n"
			" xdp = { interfaces = [ \"eth0\" ]; }; };\n"
			"vips = ( { name = \"v\"; protocol = \"tcp\"; address = \"192.0.2.1\"; port = 80;\n"
			" backends = ( { name = \"a\"; address = \"fd00:1::1\"; } ); } );\n",
			4, "vips[0].backends[0].address: fd00:1::1 is IPv6 but "
			   "dataplane.encap_source_v6 is not set");
}

static void test_missing_required_keys_and_groups(void **state)
{
	(void)state;
	assert_rejected(BASE "vips = (\n { name = \"v\"; protocol = \"tcp\"; port = 80; } );\n", 5,
			"vips[0].address: missing (required)");
	assert_rejected("global = { };\n", 0, "dataplane: missing (required)");
	assert_rejected("dataplane = {\n mode = \"dpdk\"; };\n", 1,
			"dataplane: mode \"dpdk\" needs a dpdk { } group");
}

static void test_every_error_is_reported_at_once(void **state)
{
	(void)state;
	struct conf_errors errors;

	assert_null(load_text(BASE "global = { log_level = \"loud\"; colour = 1; };\n"
				   "vips = ( { name = \"v\"; protocol = \"tcp\"; address = \"x\"; port = 0; } );\n",
			      &errors));
	assert_int_equal(errors.count, 4);
	print_message("one bad file, %u errors reported together\n", errors.count);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_config_is_valid),
		cmocka_unit_test(test_restart_settings_compare_by_value),
		cmocka_unit_test(test_sample_states_the_real_defaults),
		cmocka_unit_test(test_syntax_errors_name_their_line),
		cmocka_unit_test(test_unknown_keys_are_rejected),
		cmocka_unit_test(test_wrong_types_are_rejected),
		cmocka_unit_test(test_out_of_range_numbers_are_rejected),
		cmocka_unit_test(test_bad_enumerations_are_rejected),
		cmocka_unit_test(test_malformed_addresses_are_rejected),
		cmocka_unit_test(test_metrics_listen_forms),
		cmocka_unit_test(test_control_socket_groups_and_readonly_socket),
		cmocka_unit_test(test_flow_state_file_is_a_path_or_off),
		cmocka_unit_test(test_table_sizes_must_be_prime_and_large_enough),
		cmocka_unit_test(test_duplicates_are_rejected),
		cmocka_unit_test(test_backend_family_without_tunnel_source_is_rejected),
		cmocka_unit_test(test_missing_required_keys_and_groups),
		cmocka_unit_test(test_every_error_is_reported_at_once),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
