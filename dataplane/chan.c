/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control channel's framing and message checks (dataplane/chan.h),
 * shared by lbd and lb-dpdk. Everything that arrives is checked here before
 * either side looks at it, so a malformed or oversized message becomes an
 * error reply, never a crash.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "controlplane/maglev.h"
#include "dataplane/chan.h"

static const char *const chan_msg_type_names[CHAN_MSG_TYPE_COUNT] = {
	[CHAN_MSG_HELLO] = "HELLO",
	[CHAN_MSG_HELLO_REPLY] = "HELLO_REPLY",
	[CHAN_MSG_GEN_BEGIN] = "GEN_BEGIN",
	[CHAN_MSG_GEN_VIP] = "GEN_VIP",
	[CHAN_MSG_GEN_COMMIT] = "GEN_COMMIT",
	[CHAN_MSG_GEN_DONE] = "GEN_DONE",
	[CHAN_MSG_STATS_GET] = "STATS_GET",
	[CHAN_MSG_STATS] = "STATS",
	[CHAN_MSG_ERROR] = "ERROR",
	[CHAN_MSG_MEMBERS_GET] = "MEMBERS_GET",
	[CHAN_MSG_MEMBERS] = "MEMBERS",
	[CHAN_MSG_FLOW_FIND] = "FLOW_FIND",
	[CHAN_MSG_FLOW] = "FLOW",
};

/* The layouts other programs (tests/e2e/chan_probe.py) spell out by hand. */
_Static_assert(sizeof(struct chan_members) == 24, "chan_members layout");
_Static_assert(sizeof(struct chan_vip_stats) == 56, "chan_vip_stats layout");
_Static_assert(sizeof(struct chan_member_stats) == 72, "chan_member_stats layout");
_Static_assert(sizeof(struct chan_flow) == 80, "chan_flow layout");
_Static_assert(sizeof(struct flow_tuple) == 40, "flow_tuple layout");

const char *chan_msg_type_name(__u16 type)
{
	if (type < CHAN_MSG_TYPE_COUNT && chan_msg_type_names[type])
		return chan_msg_type_names[type];
	return "unknown";
}

/* Waits until fd can take more bytes; -ETIMEDOUT after timeout_ms. */
static int chan_wait_writable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

int chan_send(int fd, enum chan_msg_type type, __u32 seq, const struct iovec *parts,
	      int part_count)
{
	struct iovec iov[8];
	struct chan_hdr hdr = { .magic = CHAN_MAGIC, .version = CHAN_VERSION, .type = (__u16)type,
				.seq = seq };
	size_t length = 0, left;
	int count = 0;

	if (part_count < 0 || part_count > 7)
		return -EINVAL;
	for (int i = 0; i < part_count; i++)
		length += parts[i].iov_len;
	if (length > CHAN_PAYLOAD_MAX)
		return -EMSGSIZE;
	hdr.length = (__u32)length;
	iov[count++] = (struct iovec){ .iov_base = &hdr, .iov_len = sizeof(hdr) };
	for (int i = 0; i < part_count; i++)
		if (parts[i].iov_len)
			iov[count++] = parts[i];
	left = sizeof(hdr) + length;

	/* sendmsg may take part of the message; advance through iov until all
	 * of it is gone. */
	struct iovec *cur = iov;
	while (left) {
		struct msghdr msg = { .msg_iov = cur, .msg_iovlen = (size_t)count };
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int err = chan_wait_writable(fd, CHAN_SEND_TIMEOUT_MS);
				if (err)
					return err;
				continue;
			}
			return -errno;
		}
		left -= (size_t)n;
		while (count && (size_t)n >= cur->iov_len) {
			n -= (ssize_t)cur->iov_len;
			cur++;
			count--;
		}
		if (count) {
			cur->iov_base = (char *)cur->iov_base + n;
			cur->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int chan_send_error(int fd, __u32 seq, int code, const char *fmt, ...)
{
	struct chan_error head = { .code = code };
	char text[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(text))
		n = sizeof(text) - 1;
	struct iovec parts[2] = { { &head, sizeof(head) }, { text, (size_t)n } };
	return chan_send(fd, CHAN_MSG_ERROR, seq, parts, 2);
}

void chan_reader_init(struct chan_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void chan_reader_fini(struct chan_reader *r)
{
	free(r->payload);
	memset(r, 0, sizeof(*r));
}

/* Reads into buf up to want bytes: >0 read, 0 would block, <0 -errno. */
static ssize_t chan_read_some(int fd, void *buf, size_t want)
{
	for (;;) {
		ssize_t n = read(fd, buf, want);

		if (n > 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
}

static int chan_hdr_check(const struct chan_hdr *h)
{
	if (h->magic != CHAN_MAGIC)
		return -EPROTO;
	if (h->version != CHAN_VERSION)
		return -EPROTONOSUPPORT;
	if (h->length > CHAN_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (h->type == 0 || h->type >= CHAN_MSG_TYPE_COUNT)
		return -EBADMSG;
	return 0;
}

int chan_reader_fill(struct chan_reader *r, int fd)
{
	const __u32 hdr_size = sizeof(r->hdr);

	/* A completed message stays readable until this call: start afresh. */
	if (r->have >= hdr_size && r->have == hdr_size + r->hdr.length)
		r->have = 0;

	while (r->have < hdr_size) {
		ssize_t n = chan_read_some(fd, (__u8 *)&r->hdr + r->have, hdr_size - r->have);
		if (n <= 0)
			return (int)n;
		r->have += (__u32)n;
		if (r->have == hdr_size) {
			int err = chan_hdr_check(&r->hdr);
			if (err)
				return err;
			if (r->hdr.length > r->capacity) {
				/* Grow only to what this message needs; a peer
				 * cannot make us hold more than one payload. */
				__u8 *p = realloc(r->payload, r->hdr.length);
				if (!p)
					return -ENOMEM;
				r->payload = p;
				r->capacity = r->hdr.length;
			}
		}
	}
	while (r->have < hdr_size + r->hdr.length) {
		__u32 off = r->have - hdr_size;
		ssize_t n = chan_read_some(fd, r->payload + off, r->hdr.length - off);
		if (n <= 0)
			return (int)n;
		r->have += (__u32)n;
	}
	return 1;
}

int chan_vip_key_equal(const struct chan_vip_key *a, const struct chan_vip_key *b)
{
	return a->family == b->family && a->proto == b->proto && a->port == b->port &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static const char *chan_fmt_addr(__u8 family, const __be32 *addr, char *buf, size_t size)
{
	if (!inet_ntop(family == FLOW_FAMILY_IPV6 ? AF_INET6 : AF_INET, addr, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

const char *chan_fmt_vip_key(const struct chan_vip_key *key, char *buf, size_t size)
{
	char addr[64];

	snprintf(buf, size, "%s [%s]:%u", key->proto == PKT_PROTO_TCP ? "tcp" : "udp",
		 chan_fmt_addr(key->family, key->addr, addr, sizeof(addr)), ntohs(key->port));
	return buf;
}

/* A family byte and its address words: IPv4 leaves words 1..3 zero. */
static int chan_addr_valid(__u8 family, const __be32 *addr)
{
	if (family == FLOW_FAMILY_IPV4)
		return addr[1] == 0 && addr[2] == 0 && addr[3] == 0;
	return family == FLOW_FAMILY_IPV6;
}

static int chan_backend_key_cmp(const struct chan_backend *a, const struct chan_backend *b)
{
	return maglev_key_order(a->family, a->addr, a->port, b->family, b->addr, b->port);
}

static int chan_name_valid(const char *name, size_t size)
{
	return memchr(name, '\0', size) != NULL;
}

__attribute__((format(printf, 3, 4))) static int chan_reject(char *err, size_t err_size,
							      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int chan_vip_decode(const void *payload, __u32 length, struct chan_vip_view *view, char *err,
		    size_t err_size)
{
	const struct chan_vip *v = payload;
	char key[CHAN_VIP_KEY_TEXT];
	__u64 want;

	if (length < sizeof(*v))
		return chan_reject(err, err_size, "GEN_VIP: %u bytes, shorter than its %zu-byte head",
				   length, sizeof(*v));
	if (!chan_addr_valid(v->key.family, v->key.addr))
		return chan_reject(err, err_size, "GEN_VIP: bad address of family %u", v->key.family);
	if (v->key.proto != PKT_PROTO_TCP && v->key.proto != PKT_PROTO_UDP)
		return chan_reject(err, err_size, "GEN_VIP: protocol %u is neither TCP nor UDP",
				   v->key.proto);
	chan_fmt_vip_key(&v->key, key, sizeof(key));
	if (!chan_name_valid(v->name, sizeof(v->name)))
		return chan_reject(err, err_size, "GEN_VIP %s: name is not NUL-terminated", key);
	if (v->flags & ~CHAN_VIP_KEEP)
		return chan_reject(err, err_size, "GEN_VIP %s: unknown flags 0x%x", key, v->flags);
	if (v->flags & CHAN_VIP_KEEP) {
		if (v->table_size || v->backend_count || length != sizeof(*v))
			return chan_reject(err, err_size, "GEN_VIP %s: KEEP carries no tables", key);
		*view = (struct chan_vip_view){ .vip = v };
		return 0;
	}
	if (v->table_size == 0 || v->table_size > CHAN_TABLE_SIZE_MAX)
		return chan_reject(err, err_size, "GEN_VIP %s: table size %u outside 1..%u", key,
				   v->table_size, CHAN_TABLE_SIZE_MAX);
	if (v->backend_count > CHAN_BACKENDS_MAX)
		return chan_reject(err, err_size, "GEN_VIP %s: %u backends, more than %u", key,
				   v->backend_count, CHAN_BACKENDS_MAX);
	want = sizeof(*v) + (__u64)v->backend_count * sizeof(struct chan_backend) +
	       (__u64)v->table_size * sizeof(__u32);
	if (want != length)
		return chan_reject(err, err_size, "GEN_VIP %s: %u bytes, but its counts need %llu",
				   key, length, (unsigned long long)want);

	const struct chan_backend *b = (const void *)(v + 1);
	const __u32 *ring = (const void *)(b + v->backend_count);
	for (__u32 i = 0; i < v->backend_count; i++) {
		if (!chan_addr_valid(b[i].family, b[i].addr))
			return chan_reject(err, err_size, "GEN_VIP %s: backend %u: bad address of family %u",
					   key, i, b[i].family);
		if (b[i].state != CHAN_BACKEND_READY && b[i].state != CHAN_BACKEND_DRAIN)
			return chan_reject(err, err_size, "GEN_VIP %s: backend %u: bad state %u",
					   key, i, b[i].state);
		if (i > 0 && chan_backend_key_cmp(&b[i - 1], &b[i]) >= 0)
			return chan_reject(err, err_size,
					   "GEN_VIP %s: backend %u: not after backend %u in key order",
					   key, i, i - 1);
	}
	for (__u32 s = 0; s < v->table_size; s++) {
		if (ring[s] == FLOW_NO_BACKEND)
			continue;
		if (ring[s] >= v->backend_count)
			return chan_reject(err, err_size,
					   "GEN_VIP %s: ring slot %u names backend %u of %u", key,
					   s, ring[s], v->backend_count);
		if (b[ring[s]].state != CHAN_BACKEND_READY)
			return chan_reject(err, err_size,
					   "GEN_VIP %s: ring slot %u names draining backend %u",
					   key, s, ring[s]);
	}
	*view = (struct chan_vip_view){ .vip = v, .backends = b, .ring = ring };
	return 0;
}

int chan_gen_begin_decode(const void *payload, __u32 length, struct chan_gen_begin *out,
			  char *err, size_t err_size)
{
	if (length != sizeof(*out))
		return chan_reject(err, err_size, "GEN_BEGIN: %u bytes, expected %zu", length,
				   sizeof(*out));
	memcpy(out, payload, sizeof(*out));
	if (out->generation == 0)
		return chan_reject(err, err_size, "GEN_BEGIN: generation 0 is reserved");
	if (out->vip_count > CHAN_VIPS_MAX)
		return chan_reject(err, err_size, "GEN_BEGIN: %u VIPs, more than %u",
				   out->vip_count, CHAN_VIPS_MAX);
	if (out->encap != PKT_ENCAP_IPIP && out->encap != PKT_ENCAP_GUE)
		return chan_reject(err, err_size, "GEN_BEGIN: unknown encapsulation %u",
				   out->encap);
	if (out->encap == PKT_ENCAP_GUE && out->gue_port == 0)
		return chan_reject(err, err_size, "GEN_BEGIN: GUE needs a port");
	if (out->tcp_idle_timeout_s == 0 || out->udp_idle_timeout_s == 0)
		return chan_reject(err, err_size, "GEN_BEGIN: idle timeouts must be positive");
	return 0;
}

/* A VIP key as a VIP record may carry it: family, address words, protocol. */
static int chan_vip_key_valid(const struct chan_vip_key *k)
{
	return chan_addr_valid(k->family, k->addr) &&
	       (k->proto == PKT_PROTO_TCP || k->proto == PKT_PROTO_UDP);
}

int chan_members_decode(const void *payload, __u32 length, struct chan_members_view *view,
			char *err, size_t err_size)
{
	const struct chan_members *head = payload;
	__u64 want;

	if (length < sizeof(*head))
		return chan_reject(err, err_size, "MEMBERS: %u bytes, shorter than its %zu-byte head",
				   length, sizeof(*head));
	if (head->vip_count > CHAN_VIPS_MAX)
		return chan_reject(err, err_size, "MEMBERS: %u VIPs, more than %u", head->vip_count,
				   CHAN_VIPS_MAX);
	if (head->member_count > CHAN_MEMBERS_MAX)
		return chan_reject(err, err_size, "MEMBERS: %u members, more than %u",
				   head->member_count, CHAN_MEMBERS_MAX);
	want = sizeof(*head) + (__u64)head->vip_count * sizeof(struct chan_vip_stats) +
	       (__u64)head->member_count * sizeof(struct chan_member_stats);
	if (want != length)
		return chan_reject(err, err_size, "MEMBERS: %u bytes, but its counts need %llu",
				   length, (unsigned long long)want);

	const struct chan_vip_stats *vips = (const void *)(head + 1);
	const struct chan_member_stats *members = (const void *)(vips + head->vip_count);
	for (__u32 i = 0; i < head->vip_count; i++)
		if (!chan_vip_key_valid(&vips[i].key))
			return chan_reject(err, err_size, "MEMBERS: VIP %u: bad key (family %u, protocol %u)",
					   i, vips[i].key.family, vips[i].key.proto);
	for (__u32 i = 0; i < head->member_count; i++) {
		const struct chan_member_stats *m = &members[i];
		if (!chan_vip_key_valid(&m->vip))
			return chan_reject(err, err_size, "MEMBERS: member %u: bad VIP key", i);
		if (!chan_addr_valid(m->family, m->addr))
			return chan_reject(err, err_size, "MEMBERS: member %u: bad address of family %u",
					   i, m->family);
		if (m->state != CHAN_BACKEND_READY && m->state != CHAN_BACKEND_DRAIN)
			return chan_reject(err, err_size, "MEMBERS: member %u: bad state %u", i,
					   m->state);
	}
	*view = (struct chan_members_view){ .head = head, .vips = vips, .members = members };
	return 0;
}

int chan_flow_find_decode(const void *payload, __u32 length, struct flow_tuple *out, char *err,
			  size_t err_size)
{
	if (length != sizeof(*out))
		return chan_reject(err, err_size, "FLOW_FIND: %u bytes, expected %zu", length,
				   sizeof(*out));
	memcpy(out, payload, sizeof(*out));
	/* The tuple is hashed and fingerprinted as a whole, so it must be
	 * exactly what the parser builds: anything else would never match. */
	if (!chan_addr_valid(out->family, out->src_addr) ||
	    !chan_addr_valid(out->family, out->dst_addr))
		return chan_reject(err, err_size, "FLOW_FIND: bad addresses of family %u",
				   out->family);
	if (out->proto != PKT_PROTO_TCP && out->proto != PKT_PROTO_UDP)
		return chan_reject(err, err_size, "FLOW_FIND: protocol %u is neither TCP nor UDP",
				   out->proto);
	if (out->pad[0] || out->pad[1])
		return chan_reject(err, err_size, "FLOW_FIND: padding is not zero");
	return 0;
}

int chan_flow_decode(const void *payload, __u32 length, struct chan_flow *out, char *err,
		     size_t err_size)
{
	if (length != sizeof(*out))
		return chan_reject(err, err_size, "FLOW: %u bytes, expected %zu", length,
				   sizeof(*out));
	memcpy(out, payload, sizeof(*out));
	if (out->flags & ~(CHAN_FLOW_FOUND | CHAN_FLOW_VIP | CHAN_FLOW_RING))
		return chan_reject(err, err_size, "FLOW: unknown flags 0x%x", out->flags);
	if ((out->flags & (CHAN_FLOW_FOUND | CHAN_FLOW_VIP)) && !chan_vip_key_valid(&out->vip))
		return chan_reject(err, err_size, "FLOW: bad VIP key");
	if ((out->flags & CHAN_FLOW_FOUND) &&
	    (!chan_addr_valid(out->backend.family, out->backend.addr) ||
	     out->backend.state > CHAN_BACKEND_DRAIN))
		return chan_reject(err, err_size, "FLOW: bad backend (family %u, state %u)",
				   out->backend.family, out->backend.state);
	if ((out->flags & CHAN_FLOW_RING) &&
	    (!chan_addr_valid(out->ring_backend.family, out->ring_backend.addr) ||
	     out->ring_backend.state != CHAN_BACKEND_READY))
		return chan_reject(err, err_size, "FLOW: bad ring backend (family %u, state %u)",
				   out->ring_backend.family, out->ring_backend.state);
	return 0;
}
