/* SPDX-License-Identifier: BSD-3-Clause */
/* lbd's client of the lb-dpdk control channel (controlplane/publish.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "controlplane/publish.h"

void publish_init(struct publisher *p, const char *path)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->fd = -1;
	chan_reader_init(&p->reader);
}

void publish_fini(struct publisher *p)
{
	publish_disconnect(p);
	chan_reader_fini(&p->reader);
}

void publish_disconnect(struct publisher *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	chan_reader_fini(&p->reader);
	chan_reader_init(&p->reader);
}

/*
 * Waits for the reply to request seq: the message of type want, or ERROR.
 * Returns 0 with the reply in p->reader, -EREMOTEIO for an ERROR (its text
 * in err), or a transport -errno (the channel is then closed).
 */
static int publish_wait_reply(struct publisher *p, __u32 seq, __u16 want, char *err,
			      size_t err_size)
{
	for (;;) {
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		int n = poll(&pfd, 1, PUBLISH_REPLY_TIMEOUT_MS);
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, err_size, "lb-dpdk did not answer within %d ms",
				 PUBLISH_REPLY_TIMEOUT_MS);
			publish_disconnect(p);
			return -ETIMEDOUT;
		}
		do {
			rc = chan_reader_fill(&p->reader, p->fd);
			if (rc < 0) {
				snprintf(err, err_size, "channel to lb-dpdk: %s", strerror(-rc));
				publish_disconnect(p);
				return rc;
			}
			if (rc == 0)
				break;
			const struct chan_hdr *h = &p->reader.hdr;
			if (h->type == CHAN_MSG_ERROR) {
				const struct chan_error *e = (const void *)p->reader.payload;
				int len = (int)(h->length - sizeof(*e));
				if (h->length < sizeof(*e))
					snprintf(err, err_size, "lb-dpdk: malformed error");
				else
					snprintf(err, err_size, "lb-dpdk: %.*s (%s)", len,
						 (const char *)(e + 1), strerror(e->code));
				return h->length >= sizeof(*e) && e->code == EBUSY ? -EBUSY
										     : -EREMOTEIO;
			}
			if (h->type == want && h->seq == seq)
				return 0;
			/* A late reply to an earlier request that timed out. */
		} while (rc == 1);
	}
}

int publish_connect(struct publisher *p, char *err, size_t err_size)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct chan_hello hello;
	int rc;

	publish_disconnect(p);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", p->path);
	p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return -errno;
	if (connect(p->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		snprintf(err, err_size, "%s: %s", p->path, strerror(errno));
		publish_disconnect(p);
		return rc;
	}
	fcntl(p->fd, F_SETFL, O_NONBLOCK);
	memset(&hello, 0, sizeof(hello));
	snprintf(hello.client, sizeof(hello.client), "lbd %d", (int)getpid());
	struct iovec part = { &hello, sizeof(hello) };
	rc = chan_send(p->fd, CHAN_MSG_HELLO, ++p->seq, &part, 1);
	if (rc == 0)
		rc = publish_wait_reply(p, p->seq, CHAN_MSG_HELLO_REPLY, err, err_size);
	if (rc) {
		publish_disconnect(p);
		return rc;
	}
	if (p->reader.hdr.length != sizeof(struct chan_hello_reply)) {
		snprintf(err, err_size, "lb-dpdk: malformed HELLO_REPLY");
		publish_disconnect(p);
		return -EPROTO;
	}
	const struct chan_hello_reply *reply = (const void *)p->reader.payload;
	if (reply->generation > p->generation)
		p->generation = reply->generation;
	p->need_full = true;
	snprintf(err, err_size, "lb-dpdk pid %u, %u workers, %u ports, generation %llu in service",
		 reply->pid, reply->worker_count, reply->port_count,
		 (unsigned long long)reply->generation);
	return 0;
}

int publish_generation(struct publisher *p, struct vip_table *const *tables, const bool *keep,
		       __u32 count, const struct conf_dataplane *dp, char *err, size_t err_size)
{
	struct chan_gen_begin begin;
	int rc;

	if (p->fd < 0) {
		snprintf(err, err_size, "not connected to lb-dpdk");
		return -ENOTCONN;
	}
	memset(&begin, 0, sizeof(begin));
	begin.generation = p->generation + 1;
	begin.vip_count = count;
	begin.encap = (__u8)dp->encap;
	begin.gue_port = htons(dp->gue_port);
	begin.encap_source_v4 = dp->encap_source_v4.addr[0];
	if (dp->encap_source_v6.family == FLOW_FAMILY_IPV6)
		memcpy(begin.encap_source_v6, dp->encap_source_v6.addr, 16);
	begin.tcp_idle_timeout_s = dp->tcp_idle_timeout_s;
	begin.udp_idle_timeout_s = dp->udp_idle_timeout_s;

	struct iovec part = { &begin, sizeof(begin) };
	rc = chan_send(p->fd, CHAN_MSG_GEN_BEGIN, ++p->seq, &part, 1);
	for (__u32 i = 0; rc == 0 && i < count; i++) {
		const struct vip_table *t = tables[i];
		struct chan_vip v;
		bool kept = keep && keep[i] && !p->need_full;

		memset(&v, 0, sizeof(v));
		v.key = t->key;
		snprintf(v.name, sizeof(v.name), "%s", t->name);
		if (kept) {
			v.flags = CHAN_VIP_KEEP;
		} else {
			v.table_size = t->table_size;
			v.backend_count = t->backend_count;
		}
		struct iovec parts[3] = {
			{ &v, sizeof(v) },
			{ kept ? NULL : t->backends, kept ? 0 : t->backend_count * sizeof(*t->backends) },
			{ kept ? NULL : t->ring, kept ? 0 : (size_t)t->table_size * sizeof(*t->ring) },
		};
		rc = chan_send(p->fd, CHAN_MSG_GEN_VIP, ++p->seq, parts, 3);
	}
	struct chan_gen_commit commit = { .generation = begin.generation };
	struct iovec cpart = { &commit, sizeof(commit) };
	if (rc == 0)
		rc = chan_send(p->fd, CHAN_MSG_GEN_COMMIT, ++p->seq, &cpart, 1);
	if (rc) {
		snprintf(err, err_size, "sending to lb-dpdk: %s", strerror(-rc));
		publish_disconnect(p);
		return rc;
	}
	/* lb-dpdk answers the whole generation once: GEN_DONE to the COMMIT,
	 * or one ERROR naming the first message it refused. */
	for (;;) {
		rc = publish_wait_reply(p, p->seq, CHAN_MSG_GEN_DONE, err, err_size);
		if (rc)
			return rc;
		const struct chan_gen_done *done = (const void *)p->reader.payload;
		if (p->reader.hdr.length == sizeof(*done) && done->generation == begin.generation)
			break;
	}
	p->generation = begin.generation;
	p->need_full = false;
	return 0;
}

int publish_stats(struct publisher *p, struct chan_stats *stats, __u64 *counters, char *err,
		  size_t err_size)
{
	int rc;

	if (p->fd < 0) {
		snprintf(err, err_size, "not connected to lb-dpdk");
		return -ENOTCONN;
	}
	rc = chan_send(p->fd, CHAN_MSG_STATS_GET, ++p->seq, NULL, 0);
	if (rc == 0)
		rc = publish_wait_reply(p, p->seq, CHAN_MSG_STATS, err, err_size);
	if (rc)
		return rc;
	if (p->reader.hdr.length < sizeof(*stats)) {
		snprintf(err, err_size, "lb-dpdk: malformed STATS");
		return -EPROTO;
	}
	memcpy(stats, p->reader.payload, sizeof(*stats));
	memset(counters, 0, COUNTER_COUNT * sizeof(*counters));
	__u32 n = stats->counter_count < COUNTER_COUNT ? stats->counter_count : COUNTER_COUNT;
	if (p->reader.hdr.length < sizeof(*stats) + (size_t)n * sizeof(*counters)) {
		snprintf(err, err_size, "lb-dpdk: STATS shorter than its counters");
		return -EPROTO;
	}
	memcpy(counters, p->reader.payload + sizeof(*stats), n * sizeof(*counters));
	return 0;
}

void publish_members_fini(struct publish_members *m)
{
	free(m->vips); /* the records' one allocation */
	memset(m, 0, sizeof(*m));
}

int publish_members(struct publisher *p, struct publish_members *out, char *err, size_t err_size)
{
	struct chan_members_view view;
	int rc;

	memset(out, 0, sizeof(*out));
	if (p->fd < 0) {
		snprintf(err, err_size, "not connected to lb-dpdk");
		return -ENOTCONN;
	}
	rc = chan_send(p->fd, CHAN_MSG_MEMBERS_GET, ++p->seq, NULL, 0);
	if (rc == 0)
		rc = publish_wait_reply(p, p->seq, CHAN_MSG_MEMBERS, err, err_size);
	if (rc)
		return rc;
	if (chan_members_decode(p->reader.payload, p->reader.hdr.length, &view, err, err_size))
		return -EPROTO;
	/* Copied out: the reader's buffer is reused by the next message. */
	size_t vips = (size_t)view.head->vip_count * sizeof(*view.vips);
	size_t members = (size_t)view.head->member_count * sizeof(*view.members);
	void *records = malloc(vips + members + 1);
	if (!records) {
		snprintf(err, err_size, "MEMBERS: out of memory");
		return -ENOMEM;
	}
	memcpy(records, view.vips, vips);
	memcpy((char *)records + vips, view.members, members);
	out->head = *view.head;
	out->vips = records;
	out->members = (void *)((char *)records + vips);
	return 0;
}

int publish_flow_find(struct publisher *p, const struct flow_tuple *t, struct chan_flow *out,
		      char *err, size_t err_size)
{
	struct flow_tuple checked;
	int rc;

	if (p->fd < 0) {
		snprintf(err, err_size, "not connected to lb-dpdk");
		return -ENOTCONN;
	}
	/* lb-dpdk would refuse it with the same words: spare the round trip. */
	rc = chan_flow_find_decode(t, sizeof(*t), &checked, err, err_size);
	if (rc)
		return rc;
	struct iovec part = { &checked, sizeof(checked) };
	rc = chan_send(p->fd, CHAN_MSG_FLOW_FIND, ++p->seq, &part, 1);
	if (rc == 0)
		rc = publish_wait_reply(p, p->seq, CHAN_MSG_FLOW, err, err_size);
	if (rc)
		return rc;
	if (chan_flow_decode(p->reader.payload, p->reader.hdr.length, out, err, err_size))
		return -EPROTO;
	return 0;
}
