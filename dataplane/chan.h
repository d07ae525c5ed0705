/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control channel between lbd and lb-dpdk: the one definition of its
 * messages, included by both sides.
 *
 * Transport: an AF_UNIX stream socket that lb-dpdk listens on (dpdk
 * control_socket in the config). Every message is a chan_hdr followed by
 * `length` payload bytes. lbd sends requests; lb-dpdk answers each with the
 * reply named below, echoing `seq`, or with CHAN_MSG_ERROR.
 *
 * Byte order: the channel never leaves the host, so counts and numbers are in
 * the CPU's order; addresses and ports are in network order, as in packets
 * and struct flow_tuple. The magic doubles as a byte-order check.
 *
 * Publishing a table generation:
 *   GEN_BEGIN (parameters, VIP count)
 *   GEN_VIP   once per VIP: its backends and Maglev ring, or CHAN_VIP_KEEP
 *             to reuse the VIP's tables from the generation in service
 *   GEN_COMMIT
 * lb-dpdk builds the whole generation aside and swaps it in at COMMIT (reply
 * GEN_DONE). Any error discards the staged generation, answers CHAN_MSG_ERROR
 * and leaves the one in service untouched. A full resync after lbd restarts
 * is the same sequence without KEEP.
 *
 * Reading statistics (any time, no effect on forwarding):
 *   STATS_GET    -> STATS    counters summed over lcores
 *   MEMBERS_GET  -> MEMBERS  per VIP and per (VIP, backend) of the generation
 *                            in service: traffic, new and active flows
 *   FLOW_FIND    -> FLOW     whether a 5-tuple has a live flow-table entry,
 *                            and its backend
 * These message types were added after the first release without a version
 * change: an lb-dpdk that predates them refuses them as unknown types.
 */
#ifndef FULCRUM_CHAN_H
#define FULCRUM_CHAN_H

#include <stddef.h>
#include <sys/uio.h>
#include <linux/types.h>

#include "dataplane/counters.h"
#include "dataplane/flow_hash.h"

#define CHAN_MAGIC   0x464c4348u /* "FLCH" */
#define CHAN_VERSION 1
/* Largest payload either side accepts: a VIP with the largest table (about
 * 64 MiB of ring) and the most backends, with room to spare. */
#define CHAN_PAYLOAD_MAX (72u << 20)
#define CHAN_VIPS_MAX       4096
#define CHAN_BACKENDS_MAX   65536
#define CHAN_TABLE_SIZE_MAX 16777213u
#define CHAN_NAME_MAX       64
/* (VIP, backend) pairs lb-dpdk tracks at once, counting those removed less
 * than an idle timeout ago (their flows may still name them): a generation
 * that would need more is refused. Four VIPs of CHAN_BACKENDS_MAX each. */
#define CHAN_MEMBERS_MAX    262144
#define CHAN_SEND_TIMEOUT_MS 5000

enum chan_msg_type {
	CHAN_MSG_HELLO = 1,     /* lbd -> lb-dpdk: chan_hello; reply HELLO_REPLY */
	CHAN_MSG_HELLO_REPLY,   /* chan_hello_reply */
	CHAN_MSG_GEN_BEGIN,     /* chan_gen_begin; no reply */
	CHAN_MSG_GEN_VIP,       /* chan_vip, backends, ring; no reply */
	CHAN_MSG_GEN_COMMIT,    /* chan_gen_commit; reply GEN_DONE */
	CHAN_MSG_GEN_DONE,      /* chan_gen_done */
	CHAN_MSG_STATS_GET,     /* empty; reply STATS */
	CHAN_MSG_STATS,         /* chan_stats, then counter_count __u64 */
	CHAN_MSG_ERROR,         /* chan_error, then the message text */
	CHAN_MSG_MEMBERS_GET,   /* empty; reply MEMBERS */
	CHAN_MSG_MEMBERS,       /* chan_members, vip records, member records */
	CHAN_MSG_FLOW_FIND,     /* struct flow_tuple; reply FLOW */
	CHAN_MSG_FLOW,          /* chan_flow */
	CHAN_MSG_TYPE_COUNT
};

struct chan_hdr {
	__u32 magic;   /* CHAN_MAGIC */
	__u16 version; /* CHAN_VERSION */
	__u16 type;    /* enum chan_msg_type */
	__u32 length;  /* payload bytes that follow, <= CHAN_PAYLOAD_MAX */
	__u32 seq;     /* chosen by the requester, echoed in the reply */
};

struct chan_hello {
	char client[32]; /* NUL-terminated, e.g. "lbd 12345" */
};

struct chan_hello_reply {
	__u64 generation; /* in service; 0 = none yet */
	__u32 pid;
	__u16 worker_count;
	__u16 port_count;
};

struct chan_gen_begin {
	__u64 generation; /* any value but 0; lbd counts on from HELLO_REPLY's */
	__u32 vip_count;  /* GEN_VIP messages that follow, <= CHAN_VIPS_MAX */
	__u8 encap;       /* enum pkt_encap_type */
	__u8 pad;
	__be16 gue_port;
	__be32 encap_source_v4;    /* outer source of IPv4 tunnels; 0 = none */
	__be32 encap_source_v6[4]; /* outer source of IPv6 tunnels; :: = none */
	__u32 tcp_idle_timeout_s;
	__u32 udp_idle_timeout_s;
};

/* A VIP as packets name it. */
struct chan_vip_key {
	__be32 addr[4]; /* IPv4 in word 0, words 1..3 zero */
	__be16 port;
	__u8 proto;  /* PKT_PROTO_TCP / PKT_PROTO_UDP */
	__u8 family; /* FLOW_FAMILY_IPV4 / FLOW_FAMILY_IPV6 */
};

#define CHAN_VIP_KEEP 0x1u /* tables unchanged since the generation in service */

struct chan_vip {
	struct chan_vip_key key;
	__u32 flags;         /* CHAN_VIP_* */
	__u32 table_size;    /* ring slots that follow; 0 with KEEP */
	__u32 backend_count; /* chan_backend records that follow; 0 with KEEP */
	char name[CHAN_NAME_MAX];
	/* then struct chan_backend backends[backend_count], in the Maglev
	 * builder's canonical order, then __u32 ring[table_size]: an index
	 * into backends, or FLOW_NO_BACKEND */
};

enum chan_backend_state {
	CHAN_BACKEND_READY = 1, /* new and existing flows */
	CHAN_BACKEND_DRAIN = 2, /* existing flows only: never in the ring */
};

/* Backends that are down, in maintenance or removed are simply not sent:
 * their flows move at the next packet. */
struct chan_backend {
	__be32 addr[4]; /* the tunnel's outer destination */
	__be16 port;
	__u8 family;
	__u8 state; /* enum chan_backend_state */
	__u32 weight;
};

struct chan_gen_commit {
	__u64 generation; /* as in GEN_BEGIN */
};

struct chan_gen_done {
	__u64 generation; /* now in service */
	__u32 vip_count;
	__u32 backend_count; /* VIP memberships in the generation */
};

struct chan_stats {
	__u64 generation;
	__u64 flows;         /* entries in use over all workers' flow tables */
	__u64 flow_capacity; /* over all workers */
	__u32 worker_count;
	__u32 counter_count; /* __u64 counters that follow, indexed by enum counter */
};

/*
 * MEMBERS: traffic per VIP and per member ((VIP, backend) pair) of the
 * generation in service, summed over workers since lb-dpdk started. Counts
 * go on across generations while the VIP or member stays in them. A VIP
 * left out of a generation starts again from 0 if it comes back; a member
 * left out keeps its counts if it comes back within the longest idle
 * timeout, else starts again from 0. Packets and bytes are those tunnelled
 * toward a backend (bytes: the client's IP packets, before encapsulation);
 * a VIP's counts are the sums over its backends, backends since removed
 * included. Active flows are counted when asked, by scanning every
 * worker's flow table (about 2 ms per million entries).
 */
struct chan_members {
	__u64 generation;   /* in service; 0 = none (and no records) */
	__u32 vip_count;    /* chan_vip_stats records that follow, <= CHAN_VIPS_MAX */
	__u32 member_count; /* chan_member_stats records after them, <= CHAN_MEMBERS_MAX */
	__u64 now_ns;       /* when the counters were read: CLOCK_MONOTONIC of the host */
	/* then struct chan_vip_stats vips[vip_count] in the generation's order,
	 * then struct chan_member_stats members[member_count], grouped by VIP in
	 * the same order and within a VIP in the backends' canonical order */
};

struct chan_vip_stats {
	struct chan_vip_key key;
	__u32 pad;
	__u64 packets;          /* tunnelled to its backends */
	__u64 bytes;            /* IP bytes of those packets */
	__u64 flows_new;        /* flows the ring gave a backend: new ones, and moved ones */
	__u64 drops_no_backend; /* packets dropped as the ring had no backend (drop_no_backend) */
};

struct chan_member_stats {
	struct chan_vip_key vip;
	__be32 addr[4]; /* the backend, as in chan_backend */
	__be16 port;
	__u8 family;
	__u8 state;         /* enum chan_backend_state in this generation */
	__u64 packets;      /* tunnelled to this backend for this VIP */
	__u64 bytes;        /* IP bytes of those packets */
	__u64 flows_new;    /* flows the ring gave it: new, or moved from a backend gone */
	__u64 flows_active; /* live flow-table entries naming it, over all workers */
};

/* FLOW_FIND's answer. A 5-tuple (struct flow_tuple, as the worker builds it
 * from a client's packet: src = client, dst = VIP, network order, pad zero)
 * is looked up in every worker's flow table, and in the generation's ring. */
#define CHAN_FLOW_FOUND 0x1u /* a worker's table holds a live entry for the flow */
#define CHAN_FLOW_VIP   0x2u /* the tuple's destination is a VIP in service: vip */
#define CHAN_FLOW_RING  0x4u /* the VIP's ring has a backend for it: ring_backend */

struct chan_flow {
	__u32 flags;        /* CHAN_FLOW_* */
	__u16 worker;       /* with FOUND: whose table holds it (the latest to expire) */
	__u16 pad;
	__u32 expires_in_s; /* with FOUND: seconds left unless another packet comes */
	struct chan_vip_key vip; /* with FOUND: the entry's VIP; else with VIP: the tuple's */
	/* With FOUND: the backend the entry names, as the generation in service
	 * has it; state and weight 0 when it is no longer in the generation
	 * (the flow's next packet moves it). */
	struct chan_backend backend;
	/* With RING: the backend the ring gives the tuple now, which a new
	 * connection (a SYN) would get. */
	struct chan_backend ring_backend;
};

struct chan_error {
	__s32 code; /* a positive errno */
	/* then the message text, not NUL-terminated */
};

/* A VIP message checked by chan_vip_decode(), pointing into its payload. */
struct chan_vip_view {
	const struct chan_vip *vip;
	const struct chan_backend *backends;
	const __u32 *ring;
};

/* A MEMBERS message checked by chan_members_decode(), pointing into its payload. */
struct chan_members_view {
	const struct chan_members *head;
	const struct chan_vip_stats *vips;
	const struct chan_member_stats *members;
};

/* Assembles one incoming message from a (possibly non-blocking) socket. */
struct chan_reader {
	struct chan_hdr hdr;
	__u8 *payload; /* hdr.length bytes once complete; owned by the reader */
	__u32 have;    /* bytes of header + payload read so far */
	__u32 capacity;
};

/*
 * Sends one message whose payload is the concatenation of parts (part_count
 * may be 0). Waits up to CHAN_SEND_TIMEOUT_MS for room on a non-blocking
 * socket. Returns 0, -EMSGSIZE for a payload over CHAN_PAYLOAD_MAX,
 * -ETIMEDOUT, or the socket's -errno (-EPIPE when the peer has gone).
 */
int chan_send(int fd, enum chan_msg_type type, __u32 seq, const struct iovec *parts,
	      int part_count);

/* Sends CHAN_MSG_ERROR with a printf-style message. Returns as chan_send(). */
int chan_send_error(int fd, __u32 seq, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

void chan_reader_init(struct chan_reader *r);
void chan_reader_fini(struct chan_reader *r);

/*
 * Reads what the socket has toward the next message. Returns 1 when a whole
 * message is in r (valid until the next call), 0 when more bytes are needed
 * (EAGAIN), -ECONNRESET when the peer closed, -EPROTO for a bad magic,
 * -EPROTONOSUPPORT for another version, -EMSGSIZE for an oversized payload,
 * -EBADMSG for an unknown type, or the socket's -errno. After an error the
 * stream is out of step: close it.
 */
int chan_reader_fill(struct chan_reader *r, int fd);

/*
 * Checks a GEN_VIP payload completely — sizes, families, protocol, states,
 * every ring entry — and points view into it. Returns 0, or -EINVAL with a
 * message naming the bad field in err.
 */
int chan_vip_decode(const void *payload, __u32 length, struct chan_vip_view *view, char *err,
		    size_t err_size);

/* Checks a GEN_BEGIN payload into *out. Returns 0, or -EINVAL with err. */
int chan_gen_begin_decode(const void *payload, __u32 length, struct chan_gen_begin *out,
			  char *err, size_t err_size);

/*
 * Checks a MEMBERS payload — exact length for its counts, counts within the
 * limits, families, protocols, states — and points view into it (the
 * payload must be 8-byte aligned, as chan_reader's is). Returns 0, or
 * -EINVAL with a message in err.
 */
int chan_members_decode(const void *payload, __u32 length, struct chan_members_view *view,
			char *err, size_t err_size);

/* Checks a FLOW_FIND payload (family, addresses, protocol, padding) into
 * *out. Returns 0, or -EINVAL with err. */
int chan_flow_find_decode(const void *payload, __u32 length, struct flow_tuple *out, char *err,
			  size_t err_size);

/* Checks a FLOW payload into *out. Returns 0, or -EINVAL with err. */
int chan_flow_decode(const void *payload, __u32 length, struct chan_flow *out, char *err,
		     size_t err_size);

/* Whether two VIP keys are the same VIP. */
int chan_vip_key_equal(const struct chan_vip_key *a, const struct chan_vip_key *b);

/* "tcp [10.0.0.1]:80" — buf of at least CHAN_VIP_KEY_TEXT bytes. */
#define CHAN_VIP_KEY_TEXT 64
const char *chan_fmt_vip_key(const struct chan_vip_key *key, char *buf, size_t size);

/* Name of a message type, for logs. */
const char *chan_msg_type_name(__u16 type);

#endif /* FULCRUM_CHAN_H */
