/* SPDX-License-Identifier: BSD-3-Clause */
/* rtnetlink requests for lb-dpdk's exception path and next hops (dataplane/nl.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "dataplane/flow_hash.h"
#include "dataplane/nl.h"

#define NL_BUF 8192

struct nl_req {
	struct nlmsghdr h;
	union {
		struct ifaddrmsg ifa;
		struct rtmsg rt;
		struct ndmsg nd;
	};
	char attrs[256];
};

static int nl_af(__u8 family)
{
	return family == FLOW_FAMILY_IPV6 ? AF_INET6 : AF_INET;
}

static int nl_addr_len(__u8 family)
{
	return family == FLOW_FAMILY_IPV6 ? 16 : 4;
}

static void nl_attr_put(struct nlmsghdr *h, unsigned short type, const void *data, int len)
{
	struct rtattr *rta = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, (size_t)len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

int nl_open(void)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	struct timeval timeout = { .tv_sec = 2 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	/* A kernel that does not answer must not hang the main lcore. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/*
 * Sends req and reads the answer into buf. Returns the length of the first
 * non-error message (0 for a plain ACK), or -errno from NLMSG_ERROR.
 */
static int nl_talk(int fd, struct nlmsghdr *req, char *buf, int size, struct nlmsghdr **answer)
{
	static __u32 seq;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	req->nlmsg_seq = ++seq;
	if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, buf, (size_t)size, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != req->nlmsg_seq)
				continue; /* a late answer to an earlier, timed-out request */
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error;
			}
			*answer = h;
			return (int)h->nlmsg_len;
		}
	}
}

int nl_addr_add(int fd, int ifindex, __u8 family, const __be32 *addr, __u8 prefix_len)
{
	struct nl_req r;
	char buf[NL_BUF];
	struct nlmsghdr *answer;

	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(r.ifa));
	r.h.nlmsg_type = RTM_NEWADDR;
	r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	r.ifa.ifa_family = (unsigned char)nl_af(family);
	r.ifa.ifa_prefixlen = prefix_len;
	r.ifa.ifa_index = (unsigned)ifindex;
	/* The address is the port's own, configured by the operator: no
	 * duplicate address detection delaying its use. */
	r.ifa.ifa_flags = family == FLOW_FAMILY_IPV6 ? IFA_F_NODAD : 0;
	nl_attr_put(&r.h, IFA_LOCAL, addr, nl_addr_len(family));
	nl_attr_put(&r.h, IFA_ADDRESS, addr, nl_addr_len(family));
	return nl_talk(fd, &r.h, buf, sizeof(buf), &answer);
}

int nl_route_get(int fd, __u8 family, const __be32 *dst, __be32 *gateway, int *oif)
{
	struct nl_req r;
	char buf[NL_BUF];
	struct nlmsghdr *answer;
	int found_oif = 0, n;

	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(r.rt));
	r.h.nlmsg_type = RTM_GETROUTE;
	r.h.nlmsg_flags = NLM_F_REQUEST;
	r.rt.rtm_family = (unsigned char)nl_af(family);
	r.rt.rtm_dst_len = (unsigned char)(nl_addr_len(family) * 8);
	nl_attr_put(&r.h, RTA_DST, dst, nl_addr_len(family));
	n = nl_talk(fd, &r.h, buf, sizeof(buf), &answer);
	if (n < 0)
		return n;
	if (n == 0 || answer->nlmsg_type != RTM_NEWROUTE)
		return -EPROTO;

	struct rtmsg *rt = NLMSG_DATA(answer);
	if (rt->rtm_type == RTN_UNREACHABLE || rt->rtm_type == RTN_BLACKHOLE ||
	    rt->rtm_type == RTN_PROHIBIT)
		return -EHOSTUNREACH;
	memset(gateway, 0, 16);
	memcpy(gateway, dst, (size_t)nl_addr_len(family));
	int len = (int)RTM_PAYLOAD(answer);
	for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == sizeof(int)) {
			memcpy(oif, RTA_DATA(a), sizeof(int));
			found_oif = 1;
		} else if (a->rta_type == RTA_GATEWAY &&
			   RTA_PAYLOAD(a) == (unsigned)nl_addr_len(family)) {
			memcpy(gateway, RTA_DATA(a), RTA_PAYLOAD(a));
		}
	}
	return found_oif ? 0 : -ENETUNREACH;
}

int nl_route_set(int fd, bool add, __u8 family, const __be32 *dst, __u8 prefix_len, int oif,
		 __u32 table, __u8 protocol)
{
	/* The request in a plain buffer: attributes follow the rtmsg, and the
	 * compiler is to see the whole of it as the object written. */
	union {
		struct nl_req r;
		char bytes[sizeof(struct nl_req)];
	} u;
	struct nlmsghdr *h = (struct nlmsghdr *)u.bytes;
	struct rtmsg *rt = NLMSG_DATA(h);
	char buf[NL_BUF];
	struct nlmsghdr *answer;
	__u32 oif32 = (__u32)oif;

	memset(&u, 0, sizeof(u));
	h->nlmsg_len = NLMSG_LENGTH(sizeof(*rt));
	h->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	rt->rtm_family = (unsigned char)nl_af(family);
	rt->rtm_dst_len = prefix_len;
	/* Tables above 255 exist only as RTA_TABLE; the header says "see it". */
	rt->rtm_table = table < 256 ? (unsigned char)table : RT_TABLE_UNSPEC;
	rt->rtm_protocol = protocol;
	rt->rtm_scope = add ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
	rt->rtm_type = RTN_UNICAST;
	nl_attr_put(h, RTA_DST, dst, nl_addr_len(family));
	nl_attr_put(h, RTA_TABLE, &table, sizeof(table));
	nl_attr_put(h, RTA_OIF, &oif32, sizeof(oif32));
	int rc = nl_talk(fd, h, buf, sizeof(buf), &answer);
	return !add && rc == -ESRCH ? 0 : rc < 0 ? rc : 0;
}

int nl_neigh_get(int fd, __u8 family, const __be32 *addr, int ifindex, uint8_t mac[6])
{
	struct nl_req r;
	char buf[NL_BUF];
	struct nlmsghdr *answer;
	int n;

	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(r.nd));
	r.h.nlmsg_type = RTM_GETNEIGH;
	r.h.nlmsg_flags = NLM_F_REQUEST;
	r.nd.ndm_family = (unsigned char)nl_af(family);
	r.nd.ndm_ifindex = ifindex;
	nl_attr_put(&r.h, NDA_DST, addr, nl_addr_len(family));
	n = nl_talk(fd, &r.h, buf, sizeof(buf), &answer);
	if (n < 0)
		return n;
	if (n == 0 || answer->nlmsg_type != RTM_NEWNEIGH)
		return -EPROTO;

	struct ndmsg *nd = NLMSG_DATA(answer);
	if (!(nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT |
			       NUD_NOARP)))
		return -ENOENT;
	int len = (int)(answer->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)));
	for (struct rtattr *a = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
	     RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
			memcpy(mac, RTA_DATA(a), 6);
			return 0;
		}
	}
	return -ENOENT;
}

int nl_neigh_resolve(int fd, __u8 family, const __be32 *addr, int ifindex)
{
	struct nl_req r;
	char buf[NL_BUF];
	struct nlmsghdr *answer;

	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(r.nd));
	r.h.nlmsg_type = RTM_NEWNEIGH;
	r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
	r.nd.ndm_family = (unsigned char)nl_af(family);
	r.nd.ndm_ifindex = ifindex;
	/* NTF_USE: "use" the entry as if a packet were waiting on it, which
	 * starts resolution without sending anything to the backend. */
	r.nd.ndm_flags = NTF_USE;
	r.nd.ndm_state = NUD_NONE;
	nl_attr_put(&r.h, NDA_DST, addr, nl_addr_len(family));
	return nl_talk(fd, &r.h, buf, sizeof(buf), &answer);
}
