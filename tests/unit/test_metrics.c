/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's Prometheus endpoint: the exposition text of a daemon without a
 * dataplane and with a sampled one (values, labels, escaping, one TYPE per
 * family), and the HTTP server itself over a real TCP connection, driven the
 * way lbd's loop drives it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "controlplane/lbd.h"
#include "controlplane/maglev.h"
#include "controlplane/metrics.h"

static char dir[] = "/tmp/fulcrum-metrics-XXXXXX";
static char conf_path[128];

static int setup(void **state)
{
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fulcrum-metrics-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(conf_path, sizeof(conf_path), "%s/lb.conf", dir);
	f = fopen(conf_path, "w");
	assert_non_null(f);
	/* b2 drains; "we\"b" tests label escaping. */
	fprintf(f,
		"global = { control_socket = \"%s/lbd.sock\"; state_file = \"\"; log_level = \"error\"; };\n"
		"dataplane = { mode = \"dpdk\"; encap_source_v4 = \"10.0.0.2\";\n"
		"  dpdk = { control_socket = \"%s/none.sock\";\n"
		"           ports = ( { name = \"p0\"; device = \"net_null0\"; } ); }; };\n"
		"health_defaults = { type = \"none\"; };\n"
		"vips = ( { name = \"web\"; protocol = \"tcp\"; address = \"10.99.0.1\"; port = 80;\n"
		"  backends = ( { name = \"b1\"; address = \"10.1.0.1\"; weight = 10; },\n"
		"               { name = \"b2\"; address = \"10.1.0.2\"; state = \"drain\"; } ); },\n"
		"  { name = \"dns\"; protocol = \"udp\"; address = \"10.99.0.1\"; port = 53;\n"
		"  backends = ( { name = \"d1\"; address = \"10.1.0.1\"; } ); } );\n",
		dir, dir);
	fclose(f);
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

static char *dump(const struct lbd *d)
{
	char *text = NULL;
	size_t length = 0;
	FILE *f = open_memstream(&text, &length);

	assert_non_null(f);
	metrics_dump(d, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void expect_line(const char *text, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("no line \"%s\" in:\n%s", line, text);
}

/*
 * The text format's rules a scraper enforces: every sample belongs to a
 * family declared once with HELP and TYPE, just before its samples, and
 * every sample line is NAME[{LABELS}] VALUE.
 */
static void expect_well_formed(const char *text)
{
	char *copy = strdup(text), *save = NULL, family[128] = "";
	char seen[8192] = " ";
	__u32 samples = 0;

	assert_non_null(copy);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], key[140];
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (sscanf(line, "# TYPE %127s", name) == 1) {
			snprintf(key, sizeof(key), " %s ", name);
			if (strstr(seen, key))
				fail_msg("family %s declared twice", name);
			assert_true(strlen(seen) + strlen(key) < sizeof(seen));
			strcat(seen, key + 1);
			snprintf(family, sizeof(family), "%s", name);
			continue;
		}
		size_t n = strcspn(line, "{ ");
		if (strncmp(line, family, n) != 0 || family[n] != '\0')
			fail_msg("sample \"%s\" outside its family (last TYPE %s)", line, family);
		const char *value = strrchr(line, ' ');
		char *end;
		assert_non_null(value);
		strtod(value + 1, &end);
		if (*end)
			fail_msg("sample \"%s\": value is not a number", line);
		samples++;
	}
	assert_true(samples > 10);
	free(copy);
}

static void without_dataplane_the_model_is_shown_and_traffic_left_out(void **state)
{
	struct lbd d;

	(void)state;
	assert_int_equal(lbd_init(&d, conf_path), 0);
	char *text = dump(&d);
	expect_well_formed(text);
	expect_line(text, "fulcrum_dataplane_connected 0");
	expect_line(text, "fulcrum_generation 0");
	expect_line(text, "fulcrum_vip_info{vip=\"web\",protocol=\"tcp\",address=\"10.99.0.1\","
			  "port=\"80\"} 1");
	expect_line(text, "fulcrum_vip_backends{vip=\"web\"} 2");
	expect_line(text, "fulcrum_vip_backends_up{vip=\"web\"} 1");
	expect_line(text, "fulcrum_vip_table_size{vip=\"web\"} 65537");
	expect_line(text, "fulcrum_backend_info{vip=\"web\",backend=\"b1\",address=\"10.1.0.1\","
			  "port=\"80\",origin=\"config\"} 1");
	expect_line(text, "fulcrum_backend_weight{vip=\"web\",backend=\"b1\"} 10");
	expect_line(text, "fulcrum_backend_effective_weight{vip=\"web\",backend=\"b1\"} 10");
	expect_line(text, "fulcrum_backend_effective_weight{vip=\"web\",backend=\"b2\"} 0");
	expect_line(text, "fulcrum_backend_health_up{vip=\"web\",backend=\"b2\"} 1");
	expect_line(text, "fulcrum_backend_admin_state{vip=\"web\",backend=\"b2\",state=\"ready\"} 0");
	expect_line(text, "fulcrum_backend_admin_state{vip=\"web\",backend=\"b2\",state=\"drain\"} 1");
	expect_line(text, "fulcrum_backend_admin_state{vip=\"web\",backend=\"b2\",state=\"maint\"} 0");
	/* No sample, no traffic series: absent, not 0. */
	assert_null(strstr(text, "fulcrum_backend_packets_total{"));
	assert_null(strstr(text, "fulcrum_vip_flows_active{"));
	assert_null(strstr(text, "fulcrum_dataplane_rx_packets_total"));
	/* No health check, no check duration. */
	assert_null(strstr(text, "fulcrum_backend_check_duration_seconds{"));
	free(text);
	lbd_fini(&d);
}

/* Fills d's sample as lbd_take_sample() would from lb-dpdk. */
static void fake_sample(struct lbd *d)
{
	const struct model_vip *web = model_vip_find(d->model, "web");
	struct chan_vip_stats *vips = calloc(1, sizeof(*vips) + 2 * sizeof(struct chan_member_stats));
	struct chan_member_stats *members = (struct chan_member_stats *)(vips + 1);

	assert_non_null(vips);
	vips[0].key.family = web->addr.family;
	vips[0].key.proto = web->proto;
	vips[0].key.port = htons(web->port);
	memcpy(vips[0].key.addr, web->addr.addr, sizeof(vips[0].key.addr));
	vips[0].packets = 300;
	vips[0].bytes = 45000;
	vips[0].flows_new = 12;
	vips[0].drops_no_backend = 4;
	for (int i = 0; i < 2; i++) {
		const struct model_backend *b = web->backends[i];
		members[i].vip = vips[0].key;
		members[i].family = b->addr.family;
		memcpy(members[i].addr, b->addr.addr, sizeof(members[i].addr));
		members[i].port = htons(b->port);
		members[i].packets = 100 * (i + 1);
		members[i].bytes = 15000 * (i + 1);
		members[i].flows_new = 4 * (i + 1);
		members[i].flows_active = 3 + i;
	}
	/* The records come in canonical key order within a VIP. */
	if (maglev_key_order(members[0].family, members[0].addr, members[0].port, members[1].family,
			     members[1].addr, members[1].port) > 0) {
		struct chan_member_stats t = members[0];
		members[0] = members[1];
		members[1] = t;
	}
	d->members = (struct publish_members){
		.head = { .generation = 7, .vip_count = 1, .member_count = 2 },
		.vips = vips,
		.members = members,
	};
	d->members_valid = true;
	d->sample.valid = true;
	d->sample.stats = (struct chan_stats){ .generation = 7, .flows = 7, .flow_capacity = 65536,
					       .worker_count = 1 };
	d->sample.counters[COUNTER_RX_PACKETS] = 1000;
	d->sample.counters[counter_drop(PKT_DROP_TRUNCATED)] = 5;
}

static void with_a_sample_traffic_and_drops_are_shown_per_vip_and_backend(void **state)
{
	struct lbd d;
	char line[256];

	(void)state;
	assert_int_equal(lbd_init(&d, conf_path), 0);
	fake_sample(&d);
	d.pub.fd = dup(STDERR_FILENO); /* "connected" */
	char *text = dump(&d);
	expect_well_formed(text);
	expect_line(text, "fulcrum_dataplane_connected 1");
	expect_line(text, "fulcrum_dataplane_generation 7");
	expect_line(text, "fulcrum_dataplane_flow_capacity 65536");
	expect_line(text, "fulcrum_dataplane_rx_packets_total 1000");
	snprintf(line, sizeof(line), "fulcrum_dataplane_drops_total{reason=\"%s\"} 5",
		 counter_name(counter_drop(PKT_DROP_TRUNCATED)) + strlen("drop_"));
	expect_line(text, line);
	expect_line(text, "fulcrum_vip_packets_total{vip=\"web\"} 300");
	expect_line(text, "fulcrum_vip_bytes_total{vip=\"web\"} 45000");
	expect_line(text, "fulcrum_vip_flows_new_total{vip=\"web\"} 12");
	expect_line(text, "fulcrum_vip_flows_active{vip=\"web\"} 7");
	expect_line(text, "fulcrum_vip_drops_total{vip=\"web\",reason=\"no_backend\"} 4");
	expect_line(text, "fulcrum_backend_packets_total{vip=\"web\",backend=\"b1\"} 100");
	expect_line(text, "fulcrum_backend_bytes_total{vip=\"web\",backend=\"b2\"} 30000");
	expect_line(text, "fulcrum_backend_flows_new_total{vip=\"web\",backend=\"b2\"} 8");
	expect_line(text, "fulcrum_backend_flows_active{vip=\"web\",backend=\"b2\"} 4");
	/* dns is not in the sample: left out, not 0. */
	assert_null(strstr(text, "fulcrum_vip_packets_total{vip=\"dns\"}"));
	assert_null(strstr(text, "fulcrum_backend_packets_total{vip=\"dns\""));
	free(text);
	close(d.pub.fd);
	d.pub.fd = -1;
	lbd_fini(&d);
}

static void label_values_are_escaped(void **state)
{
	struct lbd d;
	char err[256];

	(void)state;
	assert_int_equal(lbd_init(&d, conf_path), 0);
	struct model_vip *web = model_vip_find(d.model, "web");
	/* Names come from the configuration's and lbctl's checks; the
	 * exposition must not trust them anyway. */
	snprintf(web->backends[0]->name, sizeof(web->backends[0]->name), "a\"b\\c");
	char *text = dump(&d);
	expect_line(text, "fulcrum_backend_weight{vip=\"web\",backend=\"a\\\"b\\\\c\"} 10");
	expect_well_formed(text);
	free(text);
	(void)err;
	lbd_fini(&d);
}

/* Sends request to the server on port and returns the reply, driving the
 * server as lbd's loop does: metrics_run() when its fd is readable. */
static char *http(struct metrics_server *s, const char *request)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(metrics_port(s)),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	size_t have = 0, cap = 1 << 20;
	char *reply = calloc(1, cap);
	bool sent = false;

	assert_true(fd >= 0);
	assert_non_null(reply);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		assert_int_equal(errno, EINPROGRESS);
	for (int turn = 0; turn < 2000; turn++) {
		struct pollfd p[2] = { { .fd = metrics_fd(s), .events = POLLIN },
				       { .fd = fd, .events = sent ? POLLIN : POLLOUT } };
		assert_true(poll(p, 2, 10) >= 0);
		if (p[0].revents || metrics_timeout_ms(s) == 0)
			metrics_run(s);
		if (!sent && (p[1].revents & POLLOUT)) {
			assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
			sent = true;
		} else if (sent && (p[1].revents & (POLLIN | POLLHUP))) {
			ssize_t n = read(fd, reply + have, cap - 1 - have);
			if (n == 0)
				break;
			if (n > 0)
				have += (size_t)n;
		}
	}
	close(fd);
	reply[have] = '\0';
	return reply;
}

static void the_endpoint_serves_metrics_over_http_from_the_event_loop(void **state)
{
	struct conf_addr loopback = { .family = FLOW_FAMILY_IPV4 };
	struct lbd d;
	char err[256];

	(void)state;
	assert_int_equal(lbd_init(&d, conf_path), 0);
	loopback.addr[0] = htonl(INADDR_LOOPBACK);
	struct metrics_server *s = metrics_create(&d, &loopback, 0, err, sizeof(err));
	assert_non_null(s);
	assert_true(metrics_port(s) > 0);

	char *reply = http(s, "GET /metrics HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(reply, "HTTP/1.1 200"));
	assert_non_null(strstr(reply, "text/plain; version=0.0.4"));
	assert_non_null(strstr(reply, "\nfulcrum_vip_backends{vip=\"web\"} 2\n"));
	free(reply);
	reply = http(s, "GET /nope HTTP/1.0\r\n\r\n");
	assert_non_null(strstr(reply, "HTTP/1.1 404"));
	free(reply);
	reply = http(s, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
	assert_non_null(strstr(reply, "HTTP/1.1 405"));
	assert_non_null(strstr(reply, "Allow: GET, HEAD"));
	free(reply);
	/* Garbage gets an error reply, and the server goes on. */
	reply = http(s, "\x01\x02 nonsense\r\n\r\n");
	assert_non_null(strstr(reply, "HTTP/1.1 400"));
	free(reply);
	reply = http(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(reply, "HTTP/1.1 200"));
	free(reply);

	/* A second server on the same port is refused with a reason. */
	struct metrics_server *again = metrics_create(&d, &loopback, metrics_port(s), err,
						      sizeof(err));
	assert_null(again);
	assert_non_null(strstr(err, "cannot listen"));
	metrics_destroy(s);
	lbd_fini(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(without_dataplane_the_model_is_shown_and_traffic_left_out),
		cmocka_unit_test(with_a_sample_traffic_and_drops_are_shown_per_vip_and_backend),
		cmocka_unit_test(label_values_are_escaped),
		cmocka_unit_test(the_endpoint_serves_metrics_over_http_from_the_event_loop),
	};

	return cmocka_run_group_tests_name("metrics", tests, setup, teardown);
}
