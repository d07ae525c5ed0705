/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The half-open check's packets (controlplane/health_syn.c): the SYN lbd
 * sends, the replies it takes (SYN-ACK up, RST down) and those it must
 * not, the cookie that ties a reply to its check, and the classic BPF
 * filter that decides what the raw socket copies to lbd (run here by
 * libpcap's interpreter, bpf_filter(), which implements the same
 * instruction set as the kernel's socket filters).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "controlplane/health_syn.h"

/* libpcap's interpreter; struct bpf_insn has struct sock_filter's layout
 * (code, jt, jf, k). Declared here: <pcap/bpf.h> redefines <linux/filter.h>'s
 * macros. */
struct bpf_insn;
extern unsigned int bpf_filter(const struct bpf_insn *pc, const unsigned char *pkt,
			       unsigned int wirelen, unsigned int buflen);

#define OUR_PORT  40000
#define HIS_PORT  80
#define TCP_SYN   0x02
#define TCP_RST   0x04
#define TCP_ACK   0x10

static struct conf_addr v4(const char *text)
{
	struct conf_addr a = { .family = FLOW_FAMILY_IPV4 };

	assert_int_equal(inet_pton(AF_INET, text, &a.addr[0]), 1);
	return a;
}

static struct conf_addr v6(const char *text)
{
	struct conf_addr a = { .family = FLOW_FAMILY_IPV6 };

	assert_int_equal(inet_pton(AF_INET6, text, a.addr), 1);
	return a;
}

/* A TCP header from sport to dport with seq, ack and flags at p (20 bytes). */
static void tcp_header(__u8 *p, __u16 sport, __u16 dport, __u32 seq, __u32 ack, __u8 flags)
{
	memset(p, 0, 20);
	p[0] = (__u8)(sport >> 8), p[1] = (__u8)sport;
	p[2] = (__u8)(dport >> 8), p[3] = (__u8)dport;
	for (int i = 0; i < 4; i++) {
		p[4 + i] = (__u8)(seq >> (24 - 8 * i));
		p[8 + i] = (__u8)(ack >> (24 - 8 * i));
	}
	p[12] = 5 << 4;
	p[13] = flags;
	p[14] = 0xff, p[15] = 0xff;
}

/* An IPv4 packet from src to dst (IHL words, the rest options) carrying a
 * TCP header; returns its length. */
static size_t ipv4_reply(__u8 *p, const struct conf_addr *src, const struct conf_addr *dst,
			 unsigned ihl, __u16 sport, __u16 dport, __u32 ack, __u8 flags)
{
	size_t len = ihl * 4 + 20;

	memset(p, 0, ihl * 4);
	p[0] = (__u8)(0x40 | ihl);
	p[2] = (__u8)(len >> 8), p[3] = (__u8)len;
	p[6] = 0x40; /* DF, as Linux sends its SYN-ACKs */
	p[8] = 64;
	p[9] = IPPROTO_TCP;
	memcpy(p + 12, &src->addr[0], 4);
	memcpy(p + 16, &dst->addr[0], 4);
	for (unsigned i = 20; i < ihl * 4; i++)
		p[i] = 1; /* NOP options */
	tcp_header(p + ihl * 4, sport, dport, 12345, ack, flags);
	return len;
}

/* The ones' complement sum of the IPv4 pseudo-header and the segment:
 * 0xffff when the checksum in it is right. */
static __u16 tcp_v4_sum(const struct conf_addr *src, const struct conf_addr *dst, const __u8 *seg,
			size_t len)
{
	__u32 sum = 0;
	__u8 pseudo[12];

	memcpy(pseudo, &src->addr[0], 4);
	memcpy(pseudo + 4, &dst->addr[0], 4);
	pseudo[8] = 0, pseudo[9] = IPPROTO_TCP, pseudo[10] = 0, pseudo[11] = (__u8)len;
	for (size_t i = 0; i < 12; i += 2)
		sum += (__u32)(pseudo[i] << 8 | pseudo[i + 1]);
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (__u32)(seg[i] << 8 | seg[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

static void test_siphash_matches_the_reference_vectors(void **state)
{
	__u8 key[HEALTH_SYN_KEY_LEN], msg[15];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (__u8)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (__u8)i;
	/* Aumasson and Bernstein's paper (appendix A) and its vectors.h. */
	assert_true(health_syn_siphash(key, msg, 15) == 0xa129ca6149be45e5ull);
	assert_true(health_syn_siphash(key, msg, 0) == 0x726fdb47dd0e0e31ull);
	printf("SipHash-2-4: the paper's 15-byte vector and the empty message's\n");
}

static void test_cookie_depends_on_backend_port_time_and_key(void **state)
{
	__u8 key[HEALTH_SYN_KEY_LEN] = { 1, 2, 3 }, other_key[HEALTH_SYN_KEY_LEN] = { 1, 2, 4 };
	struct conf_addr a = v4("10.0.0.1"), b = v4("10.0.0.2"), c = v6("fd00::1");
	__u32 base = health_syn_cookie(key, &a, 80, 1000);

	(void)state;
	assert_int_equal(health_syn_cookie(key, &a, 80, 1000), base);
	assert_int_not_equal(health_syn_cookie(key, &b, 80, 1000), base);
	assert_int_not_equal(health_syn_cookie(key, &a, 81, 1000), base);
	assert_int_not_equal(health_syn_cookie(key, &a, 80, 1001), base);
	assert_int_not_equal(health_syn_cookie(other_key, &a, 80, 1000), base);
	assert_int_not_equal(health_syn_cookie(key, &c, 80, 1000), base);
	printf("cookie: same inputs, same ISN; another address, family, port, time or key, "
	       "another\n");
}

static void test_syn_v4_has_fields_mss_and_a_valid_checksum(void **state)
{
	struct conf_addr src = v4("10.99.2.2"), dst = v4("10.99.3.11");
	__u8 pkt[HEALTH_SYN_LEN];
	size_t len = health_syn_build(pkt, OUR_PORT, HIS_PORT, 0xdeadbeef, &src, &dst);

	(void)state;
	assert_int_equal(len, 24);
	assert_int_equal(pkt[0] << 8 | pkt[1], OUR_PORT);
	assert_int_equal(pkt[2] << 8 | pkt[3], HIS_PORT);
	assert_true(((__u32)pkt[4] << 24 | (__u32)pkt[5] << 16 | (__u32)pkt[6] << 8 | pkt[7]) ==
		    0xdeadbeef);
	assert_int_equal(pkt[8] | pkt[9] | pkt[10] | pkt[11], 0); /* no ack */
	assert_int_equal(pkt[12] >> 4, 6);                     /* 24 bytes */
	assert_int_equal(pkt[13], TCP_SYN);
	assert_int_equal(pkt[20], 2); /* MSS option, 1460 */
	assert_int_equal(pkt[21], 4);
	assert_int_equal(pkt[22] << 8 | pkt[23], 1460);
	assert_int_equal(tcp_v4_sum(&src, &dst, pkt, len), 0xffff);
	/* The pseudo-header counts: another source makes it wrong. */
	struct conf_addr other = v4("10.99.2.3");
	assert_int_not_equal(tcp_v4_sum(&other, &dst, pkt, len), 0xffff);
	printf("IPv4 SYN: ports, ISN, SYN alone, data offset 6, MSS 1460, checksum over the "
	       "pseudo-header\n");
}

static void test_syn_v6_leaves_the_checksum_to_the_kernel(void **state)
{
	struct conf_addr dst = v6("fd99:3::11");
	__u8 pkt[HEALTH_SYN_LEN];

	(void)state;
	memset(pkt, 0xaa, sizeof(pkt));
	assert_int_equal(health_syn_build(pkt, OUR_PORT, HIS_PORT, 7, NULL, &dst), 24);
	assert_int_equal(pkt[HEALTH_SYN_CHECKSUM_OFFSET] | pkt[HEALTH_SYN_CHECKSUM_OFFSET + 1], 0);
	assert_int_equal(pkt[13], TCP_SYN);
	assert_int_equal(pkt[22] << 8 | pkt[23], 1440);
	printf("IPv6 SYN: checksum 0 at offset 16 for IPV6_CHECKSUM, MSS 1440\n");
}

static void test_parse_v4_syn_ack_is_up_rst_is_down(void **state)
{
	struct conf_addr backend = v4("10.99.3.11"), us = v4("10.99.2.2");
	struct health_syn_reply r;
	__u8 pkt[128];

	(void)state;
	size_t len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, 101, TCP_SYN | TCP_ACK);
	assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), 0);
	assert_int_equal(r.answer, HEALTH_SYN_ACCEPTED);
	assert_int_equal(r.from_port, HIS_PORT);
	assert_int_equal(r.to_port, OUR_PORT);
	assert_int_equal(r.ack, 101);
	assert_int_equal(r.from.family, FLOW_FAMILY_IPV4);
	assert_memory_equal(&r.from.addr[0], &backend.addr[0], 4);

	len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, 101, TCP_RST | TCP_ACK);
	assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), 0);
	assert_int_equal(r.answer, HEALTH_SYN_REFUSED);

	/* IP options: the TCP header is where IHL says. */
	len = ipv4_reply(pkt, &backend, &us, 8, HIS_PORT, OUR_PORT, 202, TCP_SYN | TCP_ACK);
	assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), 0);
	assert_int_equal(r.ack, 202);
	/* Ethernet padding after the datagram: total length wins. */
	len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, 303, TCP_SYN | TCP_ACK);
	memset(pkt + len, 0, 6);
	assert_int_equal(health_syn_parse(pkt, len + 6, FLOW_FAMILY_IPV4, NULL, &r), 0);
	assert_int_equal(r.ack, 303);
	printf("IPv4 replies: SYN-ACK accepted, RST+ACK refused, IP options and padding "
	       "skipped\n");
}

static void test_parse_refuses_what_is_no_answer(void **state)
{
	struct conf_addr backend = v4("10.99.3.11"), us = v4("10.99.2.2");
	struct health_syn_reply r;
	__u8 pkt[128];
	size_t len;

	(void)state;
	static const __u8 bad_flags[] = { TCP_SYN, TCP_ACK, TCP_RST, TCP_SYN | TCP_RST | TCP_ACK,
					  0 };
	for (size_t i = 0; i < sizeof(bad_flags); i++) {
		len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, 1, bad_flags[i]);
		assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), -EINVAL);
	}
	len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, 1, TCP_SYN | TCP_ACK);
	for (size_t cut = 0; cut < len; cut++) /* every truncation */
		assert_int_equal(health_syn_parse(pkt, cut, FLOW_FAMILY_IPV4, NULL, &r), -EINVAL);
	pkt[6] = 0x20; /* more fragments */
	assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), -EINVAL);
	pkt[6] = 0, pkt[7] = 1; /* an offset */
	assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), -EINVAL);
	pkt[7] = 0, pkt[9] = IPPROTO_UDP;
	assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), -EINVAL);
	pkt[9] = IPPROTO_TCP, pkt[0] = 0x44; /* IHL 4 */
	assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), -EINVAL);
	pkt[0] = 0x65; /* version 6 */
	assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), -EINVAL);
	pkt[0] = 0x45, pkt[20 + 12] = 4 << 4; /* data offset 4 */
	assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), -EINVAL);
	/* IPv6 needs its sender from the socket. */
	assert_int_equal(health_syn_parse(pkt + 20, 20, FLOW_FAMILY_IPV6, NULL, &r), -EINVAL);
	printf("refused: SYN, ACK, RST without ACK, SYN+RST, no flags, every truncation, "
	       "fragments, UDP, bad IHL, version or data offset\n");
}

static void test_parse_v6_takes_the_sender_from_the_socket(void **state)
{
	struct conf_addr backend = v6("fd99:3::11");
	struct health_syn_reply r;
	__u8 seg[20];

	(void)state;
	tcp_header(seg, HIS_PORT, OUR_PORT, 9, 55, TCP_SYN | TCP_ACK);
	assert_int_equal(health_syn_parse(seg, sizeof(seg), FLOW_FAMILY_IPV6, &backend, &r), 0);
	assert_int_equal(r.answer, HEALTH_SYN_ACCEPTED);
	assert_int_equal(r.from.family, FLOW_FAMILY_IPV6);
	assert_memory_equal(r.from.addr, backend.addr, 16);
	assert_int_equal(r.ack, 55);
	assert_int_equal(health_syn_parse(seg, 19, FLOW_FAMILY_IPV6, &backend, &r), -EINVAL);
	printf("IPv6 reply: TCP header first, sender from msg_name\n");
}

static void test_a_reply_matches_only_its_own_check(void **state)
{
	__u8 key[HEALTH_SYN_KEY_LEN] = { 9 };
	struct conf_addr backend = v4("10.99.3.11"), us = v4("10.99.2.2"),
			 other = v4("10.99.3.12");
	__u32 isn = health_syn_cookie(key, &backend, HIS_PORT, 5000);
	struct health_syn_reply r;
	__u8 pkt[128];

	(void)state;
	size_t len =
		ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, isn + 1, TCP_SYN | TCP_ACK);
	assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), 0);
	assert_true(health_syn_matches(&r, &backend, HIS_PORT, OUR_PORT, isn));
	/* The same reply for another check: another ISN, backend, port, or our port. */
	assert_false(health_syn_matches(&r, &backend, HIS_PORT, OUR_PORT, isn + 1));
	assert_false(health_syn_matches(&r, &backend, HIS_PORT, OUR_PORT,
					health_syn_cookie(key, &backend, HIS_PORT, 5001)));
	assert_false(health_syn_matches(&r, &other, HIS_PORT, OUR_PORT, isn));
	assert_false(health_syn_matches(&r, &backend, 8080, OUR_PORT, isn));
	assert_false(health_syn_matches(&r, &backend, HIS_PORT, OUR_PORT + 1, isn));
	/* ISN + 1 wraps. */
	len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, 0, TCP_RST | TCP_ACK);
	assert_int_equal(health_syn_parse(pkt, len, FLOW_FAMILY_IPV4, NULL, &r), 0);
	assert_true(health_syn_matches(&r, &backend, HIS_PORT, OUR_PORT, 0xffffffffu));
	/* An IPv6 backend whose address begins with the IPv4 one's bytes. */
	struct conf_addr six = { .family = FLOW_FAMILY_IPV6 };
	six.addr[0] = backend.addr[0];
	assert_false(health_syn_matches(&r, &six, HIS_PORT, OUR_PORT, 0xffffffffu));
	printf("match: ack = ISN + 1 (wrapping), from the probed address and port, to our "
	       "port; anything else is not this check's\n");
}

static unsigned run_filter(const struct sock_filter *prog, const __u8 *pkt, size_t len)
{
	return bpf_filter((const struct bpf_insn *)prog, pkt, (unsigned)len, (unsigned)len);
}

static void test_filter_v4_passes_only_answers_to_our_port(void **state)
{
	struct conf_addr backend = v4("10.99.3.11"), us = v4("10.99.2.2");
	struct sock_filter prog[HEALTH_SYN_FILTER_MAX];
	unsigned short n = health_syn_filter(FLOW_FAMILY_IPV4, OUR_PORT, prog);
	__u8 pkt[128];
	size_t len;

	(void)state;
	assert_true(n > 0 && n <= HEALTH_SYN_FILTER_MAX);
	len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, 1, TCP_SYN | TCP_ACK);
	assert_int_not_equal(run_filter(prog, pkt, len), 0);
	len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, 1, TCP_RST | TCP_ACK);
	assert_int_not_equal(run_filter(prog, pkt, len), 0);
	len = ipv4_reply(pkt, &backend, &us, 7, HIS_PORT, OUR_PORT, 1, TCP_SYN | TCP_ACK);
	assert_int_not_equal(run_filter(prog, pkt, len), 0); /* IP options */
	/* Other ports, plain data segments, SYNs, fragments: not copied. */
	len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT + 1, 1, TCP_SYN | TCP_ACK);
	assert_int_equal(run_filter(prog, pkt, len), 0);
	len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, 1, TCP_ACK);
	assert_int_equal(run_filter(prog, pkt, len), 0);
	len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, 1, TCP_SYN);
	assert_int_equal(run_filter(prog, pkt, len), 0);
	len = ipv4_reply(pkt, &backend, &us, 5, HIS_PORT, OUR_PORT, 1, TCP_SYN | TCP_ACK);
	pkt[6] = 0x20;
	assert_int_equal(run_filter(prog, pkt, len), 0);
	pkt[6] = 0x40, pkt[7] = 3;
	assert_int_equal(run_filter(prog, pkt, len), 0);
	printf("IPv4 filter (%u instructions): SYN-ACK and RST+ACK to our port pass, also "
	       "after IP options; other ports, bare ACKs, SYNs, fragments do not\n",
	       n);
}

static void test_filter_v6_passes_only_answers_to_our_port(void **state)
{
	struct sock_filter prog[HEALTH_SYN_FILTER_MAX];
	unsigned short n = health_syn_filter(FLOW_FAMILY_IPV6, OUR_PORT, prog);
	__u8 seg[20];

	(void)state;
	assert_true(n > 0 && n <= HEALTH_SYN_FILTER_MAX);
	tcp_header(seg, HIS_PORT, OUR_PORT, 1, 2, TCP_SYN | TCP_ACK);
	assert_int_not_equal(run_filter(prog, seg, sizeof(seg)), 0);
	tcp_header(seg, HIS_PORT, OUR_PORT, 1, 2, TCP_RST | TCP_ACK);
	assert_int_not_equal(run_filter(prog, seg, sizeof(seg)), 0);
	tcp_header(seg, HIS_PORT, OUR_PORT - 1, 1, 2, TCP_SYN | TCP_ACK);
	assert_int_equal(run_filter(prog, seg, sizeof(seg)), 0);
	tcp_header(seg, HIS_PORT, OUR_PORT, 1, 2, TCP_ACK | 0x08 /* PSH */);
	assert_int_equal(run_filter(prog, seg, sizeof(seg)), 0);
	/* Shorter than a TCP header: the interpreter's bounds check drops it. */
	tcp_header(seg, HIS_PORT, OUR_PORT, 1, 2, TCP_SYN | TCP_ACK);
	assert_int_equal(run_filter(prog, seg, 12), 0);
	printf("IPv6 filter (%u instructions): SYN-ACK and RST+ACK to our port pass; other "
	       "ports, data segments, short packets do not\n",
	       n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_matches_the_reference_vectors),
		cmocka_unit_test(test_cookie_depends_on_backend_port_time_and_key),
		cmocka_unit_test(test_syn_v4_has_fields_mss_and_a_valid_checksum),
		cmocka_unit_test(test_syn_v6_leaves_the_checksum_to_the_kernel),
		cmocka_unit_test(test_parse_v4_syn_ack_is_up_rst_is_down),
		cmocka_unit_test(test_parse_refuses_what_is_no_answer),
		cmocka_unit_test(test_parse_v6_takes_the_sender_from_the_socket),
		cmocka_unit_test(test_a_reply_matches_only_its_own_check),
		cmocka_unit_test(test_filter_v4_passes_only_answers_to_our_port),
		cmocka_unit_test(test_filter_v6_passes_only_answers_to_our_port),
	};

	return cmocka_run_group_tests_name("health_syn", tests, NULL, NULL);
}
