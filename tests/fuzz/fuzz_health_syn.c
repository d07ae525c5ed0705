/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The half-open check's reply parser (controlplane/health_syn.c,
 * health_syn_parse()) on any bytes: what lbd's raw sockets hand it is
 * whatever a host on the path chose to send to the checks' port.
 *
 * The first input byte picks the family (even: IPv4, whose packets start
 * with the IP header; odd: IPv6, whose start with the TCP header and whose
 * sender comes from the socket); the rest is the packet, in a heap block of
 * exactly its size, so that AddressSanitizer reports a read one byte past it.
 *
 * Invariants:
 *  - the parser returns 0 or -EINVAL and reads nothing past the packet;
 *  - a refusal leaves the reply zeroed, an acceptance fills it with the
 *    family asked for, an answer that is SYN-ACK or RST, and for IPv4 the
 *    packet's own source address and for IPv6 the socket's;
 *  - an accepted reply matches exactly the check whose ISN is its ack - 1,
 *    from its sender to its port, and not the checks beside it.
 */
#include <errno.h>
#include <string.h>

#include "controlplane/health_syn.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct health_syn_reply zero;
	struct conf_addr sender = { .family = FLOW_FAMILY_IPV6, .addr = { 0x000099fd, 0, 0, 0x11000000 } };
	struct health_syn_reply r;

	if (size < 1)
		return 0;
	__u8 family = data[0] & 1 ? FLOW_FAMILY_IPV6 : FLOW_FAMILY_IPV4;
	__u8 *pkt = fuzz_dup_exact(data + 1, size - 1);
	int rc = health_syn_parse(pkt, size - 1, family, family == FLOW_FAMILY_IPV6 ? &sender : NULL,
				  &r);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL, "returned %d", rc);
	if (rc) {
		FUZZ_CHECK(memcmp(&r, &zero, sizeof(r)) == 0, "a refusal left fields set");
		free(pkt);
		return 0;
	}
	FUZZ_CHECK(r.from.family == family, "family %u for %u", r.from.family, family);
	FUZZ_CHECK(r.answer == HEALTH_SYN_ACCEPTED || r.answer == HEALTH_SYN_REFUSED, "answer %d",
		   (int)r.answer);
	if (family == FLOW_FAMILY_IPV4)
		FUZZ_CHECK(size - 1 >= 40 && memcmp(&r.from.addr[0], pkt + 12, 4) == 0 &&
				   r.from.addr[1] == 0 && r.from.addr[2] == 0 && r.from.addr[3] == 0,
			   "IPv4 sender is not the packet's source");
	else
		FUZZ_CHECK(memcmp(r.from.addr, sender.addr, 16) == 0, "IPv6 sender not the socket's");
	FUZZ_CHECK(health_syn_matches(&r, &r.from, r.from_port, r.to_port, r.ack - 1),
		   "does not match its own check");
	FUZZ_CHECK(!health_syn_matches(&r, &r.from, r.from_port, r.to_port, r.ack),
		   "matches the check with the next ISN");
	FUZZ_CHECK(!health_syn_matches(&r, &r.from, (__u16)(r.from_port + 1), r.to_port, r.ack - 1),
		   "matches a check of another port");
	free(pkt);
	return 0;
}
