/* SPDX-License-Identifier: BSD-3-Clause */
/* lbgen's flow set (tools/lbgen/flowset.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/pkt.h"
#include "tools/lbgen/flowset.h"

typedef unsigned __int128 flowset_u128;

static flowset_u128 flowset_load128(const __u8 *p)
{
	flowset_u128 v = 0;

	for (int i = 0; i < 16; i++)
		v = v << 8 | p[i];
	return v;
}

static void flowset_store128(__u8 *p, flowset_u128 v)
{
	for (int i = 15; i >= 0; i--) {
		p[i] = (__u8)v;
		v >>= 8;
	}
}

static __u32 flowset_load32(const __u8 *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

static void flowset_store32(__u8 *p, __u32 v)
{
	p[0] = (__u8)(v >> 24);
	p[1] = (__u8)(v >> 16);
	p[2] = (__u8)(v >> 8);
	p[3] = (__u8)v;
}

/* Parses one address; returns its family, or 0. */
static __u8 flowset_parse_addr(const char *text, __u8 *out)
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, text, out) == 1)
		return FLOW_FAMILY_IPV4;
	if (inet_pton(AF_INET6, text, out) == 1)
		return FLOW_FAMILY_IPV6;
	return 0;
}

int flowset_parse_addr_range(const char *text, struct flowset_addr_range *r, char *err,
			     size_t err_size)
{
	char first[64];
	const char *sep = strpbrk(text, "-/");
	size_t n = sep ? (size_t)(sep - text) : strlen(text);

	memset(r, 0, sizeof(*r));
	if (n == 0 || n >= sizeof(first))
		goto bad;
	memcpy(first, text, n);
	first[n] = '\0';
	r->family = flowset_parse_addr(first, r->first);
	if (!r->family)
		goto bad;
	const unsigned bits = r->family == FLOW_FAMILY_IPV4 ? 32 : 128;
	if (!sep) {
		r->count = 1;
		return 0;
	}
	if (*sep == '/') {
		char *end;
		unsigned long length = strtoul(sep + 1, &end, 10);
		if (end == sep + 1 || *end || length > bits)
			goto bad;
		if (bits - length > 32) {
			snprintf(err, err_size, "%s: more than %llu addresses in one range", text,
				 (unsigned long long)FLOWSET_RANGE_MAX);
			return -EINVAL;
		}
		r->count = 1ull << (bits - length);
		/* The whole prefix: start from its first address. */
		if (r->family == FLOW_FAMILY_IPV4)
			flowset_store32(r->first,
					flowset_load32(r->first) & ~(__u32)(r->count - 1));
		else
			flowset_store128(r->first,
					 flowset_load128(r->first) & ~(flowset_u128)(r->count - 1));
		return 0;
	}
	__u8 last[16];
	if (flowset_parse_addr(sep + 1, last) != r->family)
		goto bad;
	const int v4 = r->family == FLOW_FAMILY_IPV4;
	flowset_u128 a = v4 ? flowset_load32(r->first) : flowset_load128(r->first);
	flowset_u128 b = v4 ? flowset_load32(last) : flowset_load128(last);
	if (b < a) {
		snprintf(err, err_size, "%s: the last address is below the first", text);
		return -EINVAL;
	}
	if (b - a >= FLOWSET_RANGE_MAX) {
		snprintf(err, err_size, "%s: more than %llu addresses in one range", text,
			 (unsigned long long)FLOWSET_RANGE_MAX);
		return -EINVAL;
	}
	r->count = (__u64)(b - a) + 1;
	return 0;
bad:
	snprintf(err, err_size, "%s: not an address, FIRST-LAST or ADDRESS/LENGTH", text);
	return -EINVAL;
}

static int flowset_parse_port(const char *text, size_t n, __u32 *port)
{
	char buf[8];
	char *end;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, n);
	buf[n] = '\0';
	unsigned long v = strtoul(buf, &end, 10);
	if (*end || end == buf || v > 65535 || buf[0] == '-' || buf[0] == '+')
		return -EINVAL;
	*port = (__u32)v;
	return 0;
}

int flowset_parse_port_range(const char *text, struct flowset_port_range *r, char *err,
			     size_t err_size)
{
	const char *dash = strchr(text, '-');
	__u32 first, last;

	if (flowset_parse_port(text, dash ? (size_t)(dash - text) : strlen(text), &first))
		goto bad;
	last = first;
	if (dash && flowset_parse_port(dash + 1, strlen(dash + 1), &last))
		goto bad;
	if (last < first) {
		snprintf(err, err_size, "%s: the last port is below the first", text);
		return -EINVAL;
	}
	r->first = (__u16)first;
	r->count = last - first + 1;
	return 0;
bad:
	snprintf(err, err_size, "%s: not a port (0-65535) or FIRST-LAST", text);
	return -EINVAL;
}

int flowset_add_clients(struct flowset *fs, const char *text, char *err, size_t err_size)
{
	struct flowset_addr_range r;
	int rc = flowset_parse_addr_range(text, &r, err, err_size);

	if (rc)
		return rc;
	struct flowset_addr_range *slot = &fs->clients[r.family == FLOW_FAMILY_IPV6];
	if (slot->family) {
		snprintf(err, err_size, "%s: a second %s client range (give one per family)", text,
			 r.family == FLOW_FAMILY_IPV4 ? "IPv4" : "IPv6");
		return -EINVAL;
	}
	*slot = r;
	return 0;
}

int flowset_add_vips(struct flowset *fs, const char *text, char *err, size_t err_size)
{
	struct flowset_addr_range r;
	int rc;

	if (fs->vip_range_count >= FLOWSET_VIP_RANGES_MAX) {
		snprintf(err, err_size, "%s: more than %d VIP ranges", text,
			 FLOWSET_VIP_RANGES_MAX);
		return -EINVAL;
	}
	rc = flowset_parse_addr_range(text, &r, err, err_size);
	if (rc)
		return rc;
	fs->vips[fs->vip_range_count++] = r;
	return 0;
}

int flowset_finish(struct flowset *fs, char *err, size_t err_size)
{
	int families = 0;

	if (fs->proto != PKT_PROTO_TCP && fs->proto != PKT_PROTO_UDP) {
		snprintf(err, err_size, "the protocol is neither TCP nor UDP");
		return -EINVAL;
	}
	if (!fs->vip_range_count) {
		snprintf(err, err_size, "no VIP: give at least one --vip");
		return -EINVAL;
	}
	fs->vip_count = 0;
	for (__u32 i = 0; i < fs->vip_range_count; i++) {
		families |= fs->vips[i].family == FLOW_FAMILY_IPV4 ? 1 : 2;
		fs->vip_count += fs->vips[i].count;
	}
	if ((families & 1) && !fs->clients[0].family) {
		snprintf(err, err_size, "an IPv4 VIP needs an IPv4 client range (--src)");
		return -EINVAL;
	}
	if ((families & 2) && !fs->clients[1].family) {
		snprintf(err, err_size, "an IPv6 VIP needs an IPv6 client range (--src)");
		return -EINVAL;
	}
	if (families == 3 && fs->clients[0].count != fs->clients[1].count) {
		snprintf(err, err_size,
			 "with IPv4 and IPv6 VIPs, the client ranges must be the same size "
			 "(%llu IPv4, %llu IPv6 addresses)",
			 (unsigned long long)fs->clients[0].count,
			 (unsigned long long)fs->clients[1].count);
		return -EINVAL;
	}
	if (!fs->client_ports.count || !fs->vip_ports.count) {
		snprintf(err, err_size, "no client or VIP port");
		return -EINVAL;
	}
	fs->client_count = fs->clients[families & 1 ? 0 : 1].count;
	/* Each factor is at most 2^32 and the limit 2^24: check as it grows. */
	__u64 n = fs->client_count;
	const __u64 factors[3] = {fs->client_ports.count, fs->vip_ports.count, fs->vip_count};
	for (int i = 0; i < 3 && n <= FLOWSET_FLOWS_MAX; i++)
		n = factors[i] > FLOWSET_FLOWS_MAX ? FLOWSET_FLOWS_MAX + 1ull : n * factors[i];
	if (n > FLOWSET_FLOWS_MAX) {
		snprintf(err, err_size,
			 "more than %u flows (client addresses x client ports x VIP ports x VIPs); "
			 "narrow a range",
			 FLOWSET_FLOWS_MAX);
		return -EINVAL;
	}
	fs->flow_count = n;
	fs->list = NULL;
	return 0;
}

void flowset_use_list(struct flowset *fs, const struct flow_tuple *tuples, __u64 count)
{
	fs->list = tuples;
	fs->flow_count = count;
}

/* SplitMix64's output function: a strong 64-bit mix, for keys and rounds. */
static __u64 flowset_mix64(__u64 x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void flowset_order(struct flowset *fs, int random, __u64 seed)
{
	unsigned bits = 1;

	fs->random = random;
	while (bits < 64 && (1ull << bits) < fs->flow_count)
		bits++;
	fs->half_bits = (bits + 1) / 2;
	for (int i = 0; i < 4; i++)
		fs->keys[i] = flowset_mix64(seed + (__u64)i * 0x632be59bd9b4e019ull);
}

/* One pass of the Feistel network: a bijection of [0, 2^(2 * half_bits)). */
static __u64 flowset_feistel(const struct flowset *fs, __u64 x)
{
	const __u64 mask = (1ull << fs->half_bits) - 1;
	__u64 left = x >> fs->half_bits, right = x & mask;

	for (int i = 0; i < 4; i++) {
		__u64 next = left ^ (flowset_mix64(right ^ fs->keys[i]) & mask);
		left = right;
		right = next;
	}
	return left << fs->half_bits | right;
}

__u64 flowset_flow_at(const struct flowset *fs, __u64 position)
{
	if (!fs->random || fs->flow_count < 2)
		return position;
	/* Cycle walking: the permutation of the larger domain, applied until it
	 * lands in range, is a permutation of [0, flow_count). The domain is
	 * less than 4 times flow_count, so it takes under 4 steps on average. */
	__u64 x = position;
	do
		x = flowset_feistel(fs, x);
	while (x >= fs->flow_count);
	return x;
}

/* The index-th address of a range, written into a tuple's address words. */
static void flowset_addr_at(const struct flowset_addr_range *r, __u64 index, __be32 *out)
{
	__u8 bytes[16];

	memset(out, 0, 16);
	if (r->family == FLOW_FAMILY_IPV4) {
		flowset_store32(bytes, flowset_load32(r->first) + (__u32)index);
		memcpy(out, bytes, 4);
	} else {
		flowset_store128(bytes, flowset_load128(r->first) + index);
		memcpy(out, bytes, 16);
	}
}

void flowset_tuple(const struct flowset *fs, __u64 flow, struct flow_tuple *t)
{
	if (fs->list) {
		*t = fs->list[flow];
		return;
	}
	__u64 vip = flow % fs->vip_count;
	flow /= fs->vip_count;
	__u64 vip_port = flow % fs->vip_ports.count;
	flow /= fs->vip_ports.count;
	__u64 client_port = flow % fs->client_ports.count;
	__u64 client = flow / fs->client_ports.count;

	const struct flowset_addr_range *range = fs->vips;
	while (vip >= range->count) {
		vip -= range->count;
		range++;
	}
	memset(t, 0, sizeof(*t));
	t->family = range->family;
	t->proto = fs->proto;
	flowset_addr_at(range, vip, t->dst_addr);
	flowset_addr_at(&fs->clients[range->family == FLOW_FAMILY_IPV6], client, t->src_addr);
	t->src_port = htons((__u16)(fs->client_ports.first + client_port));
	t->dst_port = htons((__u16)(fs->vip_ports.first + vip_port));
}

const char *flowset_fmt_range(const struct flowset_addr_range *r, char *buf, size_t size)
{
	char first[INET6_ADDRSTRLEN], last[INET6_ADDRSTRLEN];
	int af = r->family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6;
	__be32 words[4];

	inet_ntop(af, r->first, first, sizeof(first));
	if (r->count <= 1) {
		snprintf(buf, size, "%s", first);
		return buf;
	}
	flowset_addr_at(r, r->count - 1, words);
	inet_ntop(af, words, last, sizeof(last));
	snprintf(buf, size, "%s-%s", first, last);
	return buf;
}
