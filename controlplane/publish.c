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
#include "controlplane/xdp.h"

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

void publish_configure(struct publisher *p, const struct conf_dataplane *dp, __u64 now_ms)
{
	p->xdp_conf = dp->xdp;
	p->flow_table_size = dp->flow_table_size;
	p->new_flow_table_size = conf_new_flow_table_size(dp);
	p->has_gateway_mac = dp->has_gateway_mac;
	memcpy(p->gateway_mac, dp->gateway_mac, sizeof(p->gateway_mac));
	if (p->kind != PUBLISH_UNDECIDED)
		return; /* a reload does not change the mode of a running lbd */
	if (dp->mode == CONF_MODE_DPDK) {
		p->kind = PUBLISH_DPDK;
		snprintf(p->reason, sizeof(p->reason), "dataplane.mode is \"dpdk\"");
	} else if (dp->mode == CONF_MODE_XDP) {
		p->kind = PUBLISH_XDP;
		snprintf(p->reason, sizeof(p->reason), "dataplane.mode is \"xdp\"");
	} else {
		p->auto_deadline_ms = now_ms + PUBLISH_AUTO_WAIT_MS;
		snprintf(p->reason, sizeof(p->reason), "auto: waiting for lb-dpdk at %s", p->path);
	}
}

bool publish_connected(const struct publisher *p)
{
	return p->kind == PUBLISH_XDP ? p->xdp != NULL : p->fd >= 0;
}

const char *publish_kind_name(const struct publisher *p)
{
	return p->kind == PUBLISH_DPDK ? "dpdk" : p->kind == PUBLISH_XDP ? "xdp" : "undecided";
}

/* Turns on forwarding of one family on an interface, if it is off. */
static int publish_forwarding_on(const char *family, const char *ifname, bool *changed)
{
	char path[128], value = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/forwarding", family, ifname);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*changed = false;
	if (read(fd, &value, 1) == 1 && value != '1') {
		if (pwrite(fd, "1", 1, 0) != 1) {
			int rc = -errno;
			close(fd);
			return rc;
		}
		*changed = true;
	}
	close(fd);
	return 0;
}

/* Loads and attaches the XDP balancer on every configured interface. */
static int publish_connect_xdp(struct publisher *p, char *err, size_t err_size)
{
	const struct conf_xdp *c = &p->xdp_conf;
	struct xdp_options o = {
		.pin_path = c->pin_path,
		.flow_capacity = p->flow_table_size,
		.new_flow_capacity = p->new_flow_table_size,
		.members_max = c->members_max,
		.has_gateway_mac = p->has_gateway_mac,
	};
	char note[256], log[1024] = "";
	bool adopted;
	int rc;

	memcpy(o.gateway_mac, p->gateway_mac, sizeof(o.gateway_mac));
	p->xdp = xdp_open(&o, &adopted, err, err_size);
	if (!p->xdp)
		return -errno;
	snprintf(log, sizeof(log), "%s", xdp_open_note(p->xdp));
	for (__u32 i = 0; i < c->interface_count; i++) {
		const char *ifname = c->interfaces[i];
		bool on4 = false, on6 = false;
		rc = publish_forwarding_on("ipv4", ifname, &on4);
		if (rc == 0)
			publish_forwarding_on("ipv6", ifname, &on6); /* no IPv6 on it: fine */
		if (rc == 0)
			rc = xdp_attach(p->xdp, ifname, c->generic, note, sizeof(note), err, err_size);
		else
			snprintf(err, err_size, "%s: turning on forwarding: %s", ifname, strerror(-rc));
		if (rc) {
			xdp_close(p->xdp);
			p->xdp = NULL;
			return rc;
		}
		size_t used = strlen(log);
		snprintf(log + used, sizeof(log) - used, "%s%s%s%s%s", used ? "\n" : "",
			 note[0] ? note : "", note[0] ? "; " : "",
			 on4 || on6 ? "forwarding turned on for " : "", on4 || on6 ? ifname : "");
	}
	p->generation = xdp_generation_id(p->xdp);
	p->need_full = true;
	snprintf(err, err_size, "XDP balancer on %u interface%s (%s), %s%s; generation %llu in "
		 "service%s%s",
		 c->interface_count, c->interface_count == 1 ? "" : "s", c->interfaces[0],
		 adopted ? "maps adopted from " : "maps pinned at ", c->pin_path,
		 (unsigned long long)p->generation, log[0] ? "\n" : "", log);
	return 0;
}

void publish_disconnect(struct publisher *p)
{
	if (p->xdp)
		xdp_close(p->xdp); /* the program keeps forwarding */
	p->xdp = NULL;
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

static int publish_connect_dpdk(struct publisher *p, char *err, size_t err_size);

int publish_connect(struct publisher *p, __u64 now_ms, char *err, size_t err_size)
{
	if (p->kind == PUBLISH_XDP)
		return publish_connect_xdp(p, err, err_size);
	int rc = publish_connect_dpdk(p, err, err_size);
	if (p->kind == PUBLISH_DPDK)
		return rc;
	/* auto */
	if (rc == 0 && p->dpdk_ports > 0) {
		p->kind = PUBLISH_DPDK;
		snprintf(p->reason, sizeof(p->reason), "auto: lb-dpdk answered at %s with %u ports up",
			 p->path, p->dpdk_ports);
		return 0;
	}
	if (rc == 0)
		publish_disconnect(p);
	if (now_ms < p->auto_deadline_ms)
		return rc ? rc : -ENETDOWN;
	p->kind = PUBLISH_XDP;
	snprintf(p->reason, sizeof(p->reason), "auto: lb-dpdk %s %s within %d s: XDP on %s",
		 rc ? "did not answer at" : "had no port up at", p->path,
		 PUBLISH_AUTO_WAIT_MS / 1000, p->xdp_conf.interfaces[0]);
	return publish_connect_xdp(p, err, err_size);
}

static int publish_connect_dpdk(struct publisher *p, char *err, size_t err_size)
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
	p->dpdk_ports = reply->port_count;
	p->need_full = true;
	snprintf(err, err_size, "lb-dpdk pid %u, %u workers, %u ports, generation %llu in service",
		 reply->pid, reply->worker_count, reply->port_count,
		 (unsigned long long)reply->generation);
	return 0;
}

/*
 * bpf_fib_lookup() only reads the neighbour table; the kernel fills it on
 * demand. An empty UDP datagram to each backend's discard port (9) makes
 * the kernel resolve the next hop toward it, so that the program finds a
 * MAC before the first client packet (health checks do the same, but may
 * be off). Best effort: errors only mean a drop_no_route or two.
 */
static void publish_xdp_resolve_neighbours(struct vip_table *const *tables, const bool *sent,
					   __u32 count)
{
	int fd4 = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int fd6 = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	for (__u32 i = 0; i < count; i++) {
		if (!sent[i])
			continue;
		for (__u32 k = 0; k < tables[i]->backend_count; k++) {
			const struct chan_backend *b = &tables[i]->backends[k];
			if (b->family == FLOW_FAMILY_IPV4 && fd4 >= 0) {
				struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(9) };
				memcpy(&sa.sin_addr, b->addr, 4);
				sendto(fd4, "", 0, 0, (struct sockaddr *)&sa, sizeof(sa));
			} else if (b->family == FLOW_FAMILY_IPV6 && fd6 >= 0) {
				struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(9) };
				memcpy(&sa.sin6_addr, b->addr, 16);
				sendto(fd6, "", 0, 0, (struct sockaddr *)&sa, sizeof(sa));
			}
		}
	}
	if (fd4 >= 0)
		close(fd4);
	if (fd6 >= 0)
		close(fd6);
}

/* The XDP half of publish_generation(): the same tables as views, written
 * into the maps by controlplane/xdp.c. */
static int publish_generation_xdp(struct publisher *p, const struct chan_gen_begin *begin,
				  struct vip_table *const *tables, const bool *keep, __u32 count,
				  char *err, size_t err_size)
{
	struct chan_vip *vips = calloc(count + 1, sizeof(*vips));
	struct chan_vip_view *views = calloc(count + 1, sizeof(*views));
	bool *sent = calloc(count + 1, sizeof(*sent));
	int rc = -ENOMEM;

	if (!vips || !views || !sent) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	for (__u32 i = 0; i < count; i++) {
		const struct vip_table *t = tables[i];
		vips[i].key = t->key;
		snprintf(vips[i].name, sizeof(vips[i].name), "%s", t->name);
		if (keep && keep[i] && !p->need_full) {
			vips[i].flags = CHAN_VIP_KEEP;
		} else {
			vips[i].table_size = t->table_size;
			vips[i].backend_count = t->backend_count;
			views[i].backends = t->backends;
			views[i].ring = t->ring;
			sent[i] = true;
		}
		views[i].vip = &vips[i];
	}
	rc = xdp_publish(p->xdp, begin, views, count, err, err_size);
	if (rc == 0) {
		p->generation = xdp_generation_id(p->xdp);
		p->need_full = false;
		publish_xdp_resolve_neighbours(tables, sent, count);
	}
out:
	free(vips);
	free(views);
	free(sent);
	return rc;
}

int publish_generation(struct publisher *p, struct vip_table *const *tables, const bool *keep,
		       __u32 count, const struct conf_dataplane *dp, char *err, size_t err_size)
{
	struct chan_gen_begin begin;
	int rc;

	if (!publish_connected(p)) {
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
	if (p->kind == PUBLISH_XDP)
		return publish_generation_xdp(p, &begin, tables, keep, count, err, err_size);

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

	if (p->kind == PUBLISH_XDP && p->xdp)
		return xdp_stats(p->xdp, stats, counters, err, err_size);
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
	if (p->kind == PUBLISH_XDP && p->xdp)
		return xdp_members(p->xdp, &out->head, &out->vips, &out->members, err, err_size);
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

	if (p->kind == PUBLISH_XDP && p->xdp)
		return xdp_flow_find(p->xdp, t, out, err, err_size);
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
