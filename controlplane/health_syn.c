/* SPDX-License-Identifier: BSD-3-Clause */
/* The packets of the half-open TCP check (controlplane/health_syn.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "controlplane/health_syn.h"

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10
#define TCP_OPT_MSS  2
/* The MSS the SYN offers: a plain Ethernet path's. The backend answers
 * whatever it is; it only makes the SYN look like any client's. */
#define HEALTH_SYN_MSS_V4 1460
#define HEALTH_SYN_MSS_V6 1440

static __u64 rotl(__u64 x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static __u64 load_le64(const __u8 *p)
{
	__u64 v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = rotl(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = rotl(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = rotl(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = rotl(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = rotl(v2, 32);                                                                 \
	} while (0)

__u64 health_syn_siphash(const __u8 key[HEALTH_SYN_KEY_LEN], const void *data, size_t len)
{
	const __u8 *in = data;
	__u64 k0 = load_le64(key), k1 = load_le64(key + 8);
	__u64 v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	__u64 v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	size_t whole = len & ~(size_t)7;
	__u64 m;

	for (size_t i = 0; i < whole; i += 8) {
		m = load_le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	m = (__u64)(len & 0xff) << 56;
	for (size_t i = 0; i < (len & 7); i++)
		m |= (__u64)in[whole + i] << (8 * i);
	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

__u32 health_syn_cookie(const __u8 key[HEALTH_SYN_KEY_LEN], const struct conf_addr *addr,
			__u16 port, __u64 time_us)
{
	__u8 msg[28];

	/* The address as sent (16 bytes, an IPv4 one in the first 4 and the
	 * family in the last byte of the block), the port, the time. */
	memcpy(msg, addr->addr, 16);
	msg[15] ^= addr->family;
	msg[16] = (__u8)(port >> 8);
	msg[17] = (__u8)port;
	msg[18] = msg[19] = 0;
	for (int i = 0; i < 8; i++)
		msg[20 + i] = (__u8)(time_us >> (8 * i));
	return (__u32)health_syn_siphash(key, msg, sizeof(msg));
}

/* The ones' complement sum of len bytes (len even), folded later. */
static __u32 csum_add(__u32 sum, const void *data, size_t len)
{
	const __u8 *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (__u32)(p[i] << 8 | p[i + 1]);
	return sum;
}

static __u16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

size_t health_syn_build(__u8 *buf, __u16 src_port, __u16 dst_port, __u32 isn,
			const struct conf_addr *src, const struct conf_addr *dst)
{
	bool v4 = dst->family == FLOW_FAMILY_IPV4;
	__u16 mss = v4 ? HEALTH_SYN_MSS_V4 : HEALTH_SYN_MSS_V6;
	/* Big-endian fields written byte by byte: no alignment assumed. */
	__u8 hdr[HEALTH_SYN_LEN] = {
		(__u8)(src_port >> 8), (__u8)src_port, (__u8)(dst_port >> 8), (__u8)dst_port,
		(__u8)(isn >> 24), (__u8)(isn >> 16), (__u8)(isn >> 8), (__u8)isn,
		0, 0, 0, 0,                        /* ack */
		(HEALTH_SYN_LEN / 4) << 4, TCP_FLAG_SYN, /* data offset, flags */
		0xff, 0xff,                        /* window: 65535 */
		0, 0, 0, 0,                        /* checksum, urgent pointer */
		TCP_OPT_MSS, 4, (__u8)(mss >> 8), (__u8)mss,
	};

	if (v4) {
		/* The pseudo-header: source, destination, zero, protocol, length. */
		__u8 pseudo[12];
		memcpy(pseudo, &src->addr[0], 4);
		memcpy(pseudo + 4, &dst->addr[0], 4);
		pseudo[8] = 0;
		pseudo[9] = IPPROTO_TCP;
		pseudo[10] = 0;
		pseudo[11] = HEALTH_SYN_LEN;
		__u16 sum = csum_fold(csum_add(csum_add(0, pseudo, sizeof(pseudo)), hdr, sizeof(hdr)));
		hdr[HEALTH_SYN_CHECKSUM_OFFSET] = (__u8)(sum >> 8);
		hdr[HEALTH_SYN_CHECKSUM_OFFSET + 1] = (__u8)sum;
	}
	memcpy(buf, hdr, sizeof(hdr));
	return sizeof(hdr);
}

static __u32 be32_at(const __u8 *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

int health_syn_parse(const __u8 *pkt, size_t len, __u8 family, const struct conf_addr *from,
		     struct health_syn_reply *out)
{
	const __u8 *tcp = pkt;
	struct health_syn_reply r = { 0 };

	/* out is written only for a reply taken: a refusal leaves it zeroed. */
	memset(out, 0, sizeof(*out));
	if (family == FLOW_FAMILY_IPV4) {
		if (len < 20 || pkt[0] >> 4 != 4)
			return -EINVAL;
		size_t ihl = (size_t)(pkt[0] & 0x0f) * 4, total = (size_t)(pkt[2] << 8 | pkt[3]);
		/* Offset or more-fragments: a piece of something, not a reply. */
		if (ihl < 20 || pkt[9] != IPPROTO_TCP || (pkt[6] & 0x3f) || pkt[7])
			return -EINVAL;
		if (total < len)
			len = total; /* padding of a short frame */
		if (len < ihl + 20)
			return -EINVAL;
		r.from.family = FLOW_FAMILY_IPV4;
		memcpy(&r.from.addr[0], pkt + 12, 4);
		tcp = pkt + ihl;
		len -= ihl;
	} else {
		if (family != FLOW_FAMILY_IPV6 || !from || len < 20)
			return -EINVAL;
		r.from = *from;
	}
	if ((size_t)(tcp[12] >> 4) * 4 < 20)
		return -EINVAL;
	__u8 flags = tcp[13];
	if (!(flags & TCP_FLAG_ACK))
		return -EINVAL;
	if ((flags & (TCP_FLAG_SYN | TCP_FLAG_RST)) == TCP_FLAG_SYN)
		r.answer = HEALTH_SYN_ACCEPTED;
	else if ((flags & (TCP_FLAG_SYN | TCP_FLAG_RST)) == TCP_FLAG_RST)
		r.answer = HEALTH_SYN_REFUSED;
	else
		return -EINVAL;
	r.from_port = (__u16)(tcp[0] << 8 | tcp[1]);
	r.to_port = (__u16)(tcp[2] << 8 | tcp[3]);
	r.ack = be32_at(tcp + 8);
	*out = r;
	return 0;
}

bool health_syn_matches(const struct health_syn_reply *reply, const struct conf_addr *addr,
			__u16 port, __u16 our_port, __u32 isn)
{
	size_t alen = addr->family == FLOW_FAMILY_IPV4 ? 4 : 16;

	return reply->from.family == addr->family &&
	       memcmp(reply->from.addr, addr->addr, alen) == 0 && reply->from_port == port &&
	       reply->to_port == our_port && reply->ack == isn + 1;
}

unsigned short health_syn_filter(__u8 family, __u16 our_port, struct sock_filter *prog)
{
	if (family == FLOW_FAMILY_IPV4) {
		/* The IP header first; the TCP header at X = IHL * 4. */
		const struct sock_filter v4[] = {
			BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6), /* flags and fragment offset */
			BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 7, 0), /* MF or offset: drop */
			BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
			BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2), /* destination port */
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, our_port, 0, 4),
			BPF_STMT(BPF_LD | BPF_B | BPF_IND, 13), /* TCP flags */
			BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, TCP_FLAG_ACK, 0, 2),
			BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, TCP_FLAG_SYN | TCP_FLAG_RST, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, 0xffff),
			BPF_STMT(BPF_RET | BPF_K, 0),
		};
		memcpy(prog, v4, sizeof(v4));
		return (unsigned short)(sizeof(v4) / sizeof(v4[0]));
	}
	/* An IPv6 raw socket's packets start at the TCP header. */
	const struct sock_filter v6[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 2), /* destination port */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, our_port, 0, 4),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13), /* TCP flags */
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, TCP_FLAG_ACK, 0, 2),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, TCP_FLAG_SYN | TCP_FLAG_RST, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	memcpy(prog, v6, sizeof(v6));
	return (unsigned short)(sizeof(v6) / sizeof(v6[0]));
}
