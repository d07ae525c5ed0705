/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's client of the channel (controlplane/publish.c) on any byte stream:
 * the input is everything lb-dpdk says on one connection. A thread plays
 * lb-dpdk on a real UNIX socket — it accepts lbd's connection, writes the
 * input while draining lbd's requests, and closes its side — while lbd's
 * publisher runs a session against it: HELLO, a full generation, one with a
 * VIP kept, STATS_GET, MEMBERS_GET and FLOW_FIND.
 *
 * Invariant: lbd takes exactly the answers the protocol says, and believes
 * nothing else. The harness reads the same stream with its own simple
 * framing and predicts, for each request, which message answers it (the
 * first of the awaited type and sequence number, or the first ERROR; other
 * messages are late replies and skipped), and so the exact return code:
 * success with the values of that message, the remote error, -EPROTO for a
 * malformed answer, or the reader's error for a bad header or the end of the
 * stream (and then no connection). Counters beyond what lbd knows stay zero,
 * records are copied whole, and every message is read from the reader's
 * buffer under AddressSanitizer.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "controlplane/publish.h"
#include "tests/fuzz/fuzz.h"

#define INPUT_MAX (1u << 20)

static char dir[64], sock_path[128];
static int listen_fd = -1;
static struct conf_dataplane dp_conf;
static struct vip_table *tables[2];

/* The thread playing lb-dpdk, one session per input. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static const uint8_t *job_data;
static size_t job_size;
static int job_ready, job_done;

static void cleanup(void)
{
	unlink(sock_path);
	rmdir(dir);
}

/* Writes the session to lbd while reading (and dropping) its requests, so
 * that neither side can block the other; then closes its sending side and
 * waits for lbd to hang up. */
static void serve(int fd, const uint8_t *data, size_t size)
{
	size_t sent = 0;
	bool shut = false;
	char sink[65536];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < size ? POLLOUT : 0) };
		if (poll(&p, 1, 30000) <= 0)
			fuzz_fail(__FILE__, __LINE__, "poll", "lbd hangs: no progress in 30 s");
		if (p.revents & POLLOUT) {
			ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				sent = size; /* lbd hung up early */
		}
		if (sent == size && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN))
				break;
		}
	}
	close(fd);
}

static void *lb_dpdk_thread(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (!job_ready)
			pthread_cond_wait(&changed, &lock);
		job_ready = 0;
		pthread_mutex_unlock(&lock);

		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0)
			fuzz_fail(__FILE__, __LINE__, "accept", "%s", strerror(errno));
		serve(fd, job_data, job_size);

		pthread_mutex_lock(&lock);
		job_done = 1;
		pthread_cond_signal(&changed);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

/* Two VIPs (IPv4 TCP over two backends, one draining; IPv6 UDP over one)
 * with small rings, as tables.c would build them. */
static struct vip_table *table(const char *name, int family, const char *vip, __u16 port,
			       __u8 proto, const char *const *backends, const __u8 *states,
			       __u32 count, __u32 table_size)
{
	struct vip_table *t = calloc(1, sizeof(*t));
	int af = family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6;

	t->key.family = (__u8)family;
	inet_pton(af, vip, t->key.addr);
	t->key.port = htons(port);
	t->key.proto = proto;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->table_size = table_size;
	t->backend_count = count;
	t->backends = calloc(count, sizeof(*t->backends));
	t->ring = calloc(table_size, sizeof(*t->ring));
	for (__u32 i = 0; i < count; i++) {
		t->backends[i].family = (__u8)family;
		inet_pton(af, backends[i], t->backends[i].addr);
		t->backends[i].port = htons(port);
		t->backends[i].state = states[i];
		t->backends[i].weight = states[i] == CHAN_BACKEND_READY ? 100 : 0;
	}
	for (__u32 s = 0; s < table_size; s++)
		t->ring[s] = 0; /* backend 0 is READY in both */
	return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const web[] = { "10.1.0.11", "10.1.0.12" };
	static const char *const dns[] = { "fd00:1::53" };
	static const __u8 web_states[] = { CHAN_BACKEND_READY, CHAN_BACKEND_DRAIN };
	static const __u8 dns_states[] = { CHAN_BACKEND_READY };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	pthread_t thread;

	(void)argc, (void)argv;
	snprintf(dir, sizeof(dir), "/tmp/fulcrum-fuzz-publish-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/lb-dpdk.sock", dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	atexit(cleanup);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(listen_fd, 4) < 0)
		abort();
	if (pthread_create(&thread, NULL, lb_dpdk_thread, NULL))
		abort();
	pthread_detach(thread);

	dp_conf.mode = CONF_MODE_DPDK;
	dp_conf.encap = PKT_ENCAP_IPIP;
	dp_conf.gue_port = 6080;
	dp_conf.tcp_idle_timeout_s = 300;
	dp_conf.udp_idle_timeout_s = 30;
	tables[0] = table("web", FLOW_FAMILY_IPV4, "192.0.2.10", 80, 6, web, web_states, 2, 7);
	tables[1] = table("dns", FLOW_FAMILY_IPV6, "2001:db8::53", 53, 17, dns, dns_states, 1, 11);
	return 0;
}

/* ---- the oracle: the stream as the protocol says lbd must read it ---- */

struct stream {
	const uint8_t *data;
	size_t size, at; /* at: the next message */
	bool connected;
};

/* What answers a request waiting for (type, seq): 1 with the message, 0
 * for an ERROR, or the reader's -errno (bad header, end of stream). */
static int next_answer(struct stream *s, __u16 want, __u32 seq, struct chan_hdr *h,
		       const uint8_t **payload)
{
	for (;;) {
		if (s->size - s->at < sizeof(*h))
			return -ECONNRESET;
		memcpy(h, s->data + s->at, sizeof(*h));
		if (h->magic != CHAN_MAGIC)
			return -EPROTO;
		if (h->version != CHAN_VERSION)
			return -EPROTONOSUPPORT;
		if (h->length > CHAN_PAYLOAD_MAX)
			return -EMSGSIZE;
		if (h->type == 0 || h->type >= CHAN_MSG_TYPE_COUNT)
			return -EBADMSG;
		if (s->size - s->at - sizeof(*h) < h->length)
			return -ECONNRESET;
		*payload = s->data + s->at + sizeof(*h);
		s->at += sizeof(*h) + h->length;
		if (h->type == CHAN_MSG_ERROR)
			return 0;
		if (h->type == want && h->seq == seq)
			return 1;
	}
}

/* The return code for an ERROR answer. */
static int remote_error(const struct chan_hdr *h, const uint8_t *payload)
{
	__s32 code = 0;

	if (h->length >= sizeof(code))
		memcpy(&code, payload, sizeof(code));
	return h->length >= sizeof(code) && code == EBUSY ? -EBUSY : -EREMOTEIO;
}

/* FUZZ_TRACE=1 in the environment shows each request's outcome, for
 * checking seeds. */
static void check_rc(const char *what, int rc, int want, const char *err, size_t err_size)
{
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "%s: %d %s\n", what, rc, rc ? err : "");
	FUZZ_CHECK(rc == want, "%s returned %d, the stream says %d (%s)", what, rc, want, err);
	FUZZ_CHECK(memchr(err, '\0', err_size) != NULL, "%s: message not terminated", what);
	if (rc)
		FUZZ_CHECK(err[0], "%s failed without a message", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream s = { data, size, 0, false };
	struct publisher p;
	struct chan_hdr h;
	const uint8_t *m = NULL;
	char err[512];
	int rc, want;

	if (size > INPUT_MAX)
		return -1;
	pthread_mutex_lock(&lock);
	job_data = data;
	job_size = size;
	job_done = 0;
	job_ready = 1;
	pthread_cond_signal(&changed);
	pthread_mutex_unlock(&lock);

	publish_init(&p, sock_path);
	publish_configure(&p, &dp_conf, 0);

	/* HELLO */
	err[0] = '\0';
	rc = publish_connect(&p, 0, err, sizeof(err));
	want = next_answer(&s, CHAN_MSG_HELLO_REPLY, p.seq, &h, &m);
	if (want == 1) {
		struct chan_hello_reply reply;
		want = h.length == sizeof(reply) ? 0 : -EPROTO;
		if (want == 0) {
			memcpy(&reply, m, sizeof(reply));
			FUZZ_CHECK(p.generation == reply.generation && p.dpdk_ports == reply.port_count,
				   "HELLO_REPLY not taken");
		}
	} else if (want == 0) {
		want = remote_error(&h, m);
	}
	check_rc("connect", rc, want, err, sizeof(err));
	s.connected = rc == 0;
	FUZZ_CHECK(publish_connected(&p) == s.connected, "connected after connect %d", rc);

	/* A full generation, then one that keeps the first VIP. */
	for (int round = 0; round < 2; round++) {
		static const bool keep[2] = { true, false };
		__u64 generation = p.generation + 1;
		err[0] = '\0';
		rc = publish_generation(&p, tables, round ? keep : NULL, 2, &dp_conf, err,
					sizeof(err));
		if (!s.connected) {
			want = -ENOTCONN;
		} else {
			for (;;) {
				want = next_answer(&s, CHAN_MSG_GEN_DONE, p.seq, &h, &m);
				if (want == 0) {
					want = remote_error(&h, m);
					break;
				}
				if (want < 0)
					break;
				struct chan_gen_done done;
				if (h.length == sizeof(done)) {
					memcpy(&done, m, sizeof(done));
					if (done.generation == generation) {
						want = 0;
						break;
					}
				}
				/* not this generation's: lbd waits on */
			}
		}
		check_rc("publish_generation", rc, want, err, sizeof(err));
		if (rc == 0)
			FUZZ_CHECK(p.generation == generation, "generation %llu after publishing %llu",
				   (unsigned long long)p.generation, (unsigned long long)generation);
		if (want < 0 && want != -EREMOTEIO && want != -EBUSY && want != -ENOTCONN)
			s.connected = false; /* the channel is closed on transport errors */
		FUZZ_CHECK(publish_connected(&p) == s.connected, "connected after publish %d", rc);
	}

	/* STATS_GET */
	struct chan_stats stats;
	__u64 counters[COUNTER_COUNT];
	err[0] = '\0';
	rc = publish_stats(&p, &stats, counters, err, sizeof(err));
	want = s.connected ? next_answer(&s, CHAN_MSG_STATS, p.seq, &h, &m) : -ENOTCONN;
	if (want == 0) {
		want = remote_error(&h, m);
	} else if (want == 1) {
		struct chan_stats head;
		want = -EPROTO;
		if (h.length >= sizeof(head)) {
			memcpy(&head, m, sizeof(head));
			__u32 n = head.counter_count < COUNTER_COUNT ? head.counter_count : COUNTER_COUNT;
			if (h.length >= sizeof(head) + (size_t)n * sizeof(__u64)) {
				want = 0;
				FUZZ_CHECK(rc != 0 || memcmp(&stats, &head, sizeof(head)) == 0,
					   "STATS head not taken");
				for (__u32 c = 0; rc == 0 && c < COUNTER_COUNT; c++) {
					__u64 v = 0;
					if (c < n)
						memcpy(&v, m + sizeof(head) + c * sizeof(v), sizeof(v));
					FUZZ_CHECK(counters[c] == v, "counter %u is %llu, sent %llu", c,
						   (unsigned long long)counters[c],
						   (unsigned long long)v);
				}
			}
		}
	} else if (want != -ENOTCONN) {
		s.connected = false;
	}
	check_rc("publish_stats", rc, want, err, sizeof(err));
	FUZZ_CHECK(publish_connected(&p) == s.connected, "connected after stats %d", rc);

	/* MEMBERS_GET */
	struct publish_members members;
	err[0] = '\0';
	rc = publish_members(&p, &members, err, sizeof(err));
	want = s.connected ? next_answer(&s, CHAN_MSG_MEMBERS, p.seq, &h, &m) : -ENOTCONN;
	if (want == 0) {
		want = remote_error(&h, m);
	} else if (want == 1) {
		struct chan_members_view view;
		char why[256];
		void *copy = fuzz_dup_exact(m, h.length); /* aligned, as the reader's */
		want = chan_members_decode(copy, h.length, &view, why, sizeof(why)) ? -EPROTO : 0;
		if (want == 0 && rc == 0) {
			size_t nv = (size_t)view.head->vip_count * sizeof(*view.vips);
			size_t nm = (size_t)view.head->member_count * sizeof(*view.members);
			FUZZ_CHECK(memcmp(&members.head, view.head, sizeof(members.head)) == 0 &&
					   (!nv || memcmp(members.vips, view.vips, nv) == 0) &&
					   (!nm || memcmp(members.members, view.members, nm) == 0),
				   "MEMBERS records not copied whole");
		}
		free(copy);
	} else if (want != -ENOTCONN) {
		s.connected = false;
	}
	check_rc("publish_members", rc, want, err, sizeof(err));
	publish_members_fini(&members);
	FUZZ_CHECK(publish_connected(&p) == s.connected, "connected after members %d", rc);

	/* FLOW_FIND */
	struct flow_tuple t = { .proto = 6, .family = FLOW_FAMILY_IPV4 };
	struct chan_flow flow;
	inet_pton(AF_INET, "198.51.100.7", t.src_addr);
	inet_pton(AF_INET, "192.0.2.10", t.dst_addr);
	t.src_port = htons(40000);
	t.dst_port = htons(80);
	err[0] = '\0';
	rc = publish_flow_find(&p, &t, &flow, err, sizeof(err));
	want = s.connected ? next_answer(&s, CHAN_MSG_FLOW, p.seq, &h, &m) : -ENOTCONN;
	if (want == 0) {
		want = remote_error(&h, m);
	} else if (want == 1) {
		struct chan_flow expect;
		char why[256];
		want = chan_flow_decode(m, h.length, &expect, why, sizeof(why)) ? -EPROTO : 0;
		if (want == 0 && rc == 0)
			FUZZ_CHECK(memcmp(&flow, &expect, sizeof(flow)) == 0, "FLOW not taken whole");
	} else if (want != -ENOTCONN) {
		s.connected = false;
	}
	check_rc("publish_flow_find", rc, want, err, sizeof(err));
	FUZZ_CHECK(publish_connected(&p) == s.connected, "connected after flow find %d", rc);

	publish_fini(&p);
	pthread_mutex_lock(&lock);
	while (!job_done)
		pthread_cond_wait(&changed, &lock);
	pthread_mutex_unlock(&lock);
	return 0;
}
