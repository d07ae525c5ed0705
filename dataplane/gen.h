/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Table generations on the dataplane side: what lb-dpdk's workers read to
 * balance a packet, built on the main lcore from lbd's GEN_* messages
 * (dataplane/chan.h) and published whole.
 *
 * A generation is immutable once built. Workers hold a pointer to it for the
 * length of one burst; the main lcore swaps the pointer and frees the old
 * generation after an RCU grace period. VIPs whose tables did not change are
 * shared between consecutive generations (reference counted on the main
 * lcore only).
 *
 * Members. Every (VIP, backend) pair gets a member id that stays the same for
 * as long as the pair keeps appearing in generations — across table changes
 * and across lbd restarts, because ids are kept here, by key, not by lbd.
 * Flow tables store member ids, and a generation maps every id to the
 * member's state, so a worker knows in one array read whether a remembered
 * backend may still carry its flow. An id is reused only after its member has
 * been absent for longer than the longest idle timeout, when no flow table
 * entry can still name it live. There are at most GEN_MEMBERS_MAX at once.
 *
 * VIPs get stable ids the same way, kept by key while the VIP stays in
 * consecutive generations (whether sent whole or as KEEP), and released as
 * soon as a generation leaves it out: only generations name VIP ids.
 *
 * Both ids index per-worker counter arrays (dataplane/worker.h) sized once
 * at start-up. A generation lists the ids it gives out for the first time
 * (fresh_*): nothing in service can name those, so the main lcore zeroes
 * their counters before publishing it, and a recycled id starts from 0.
 */
#ifndef FULCRUM_GEN_H
#define FULCRUM_GEN_H

#include <linux/types.h>

#include "dataplane/chan.h"
#include "dataplane/flow_hash.h"
#include "dataplane/pkt.h"

#define GEN_MEMBERS_MAX CHAN_MEMBERS_MAX
/* A generation's VIPs plus the next one's new VIPs: never exhausted. */
#define GEN_VIPS_MAX    (2 * CHAN_VIPS_MAX)

enum gen_member_state {
	GEN_MEMBER_ABSENT = 0, /* not in this generation: flows move */
	GEN_MEMBER_READY = CHAN_BACKEND_READY,
	GEN_MEMBER_DRAIN = CHAN_BACKEND_DRAIN,
};

/* One backend of one VIP, as a worker needs it. */
struct gen_member {
	__be32 addr[4]; /* the tunnel's outer destination */
	__u8 family;
	__u8 state;       /* enum gen_member_state */
	__u16 nexthop;    /* index into the dataplane's next-hop table */
	__u32 vip;        /* index of the VIP in this generation */
};

struct gen_vip {
	struct chan_vip_key key;
	char name[CHAN_NAME_MAX];
	__u32 table_size;
	__u32 id;                 /* stable VIP id (< GEN_VIPS_MAX); not the index in gen.vips */
	__u64 table_size_inverse; /* 2^64 / table_size, rounded up: see gen_vip_ring_slot() */
	__u32 *ring;              /* table_size member ids, or FLOW_NO_BACKEND */
	__u32 backend_count;
	struct chan_backend *backends; /* as lbd sent them (canonical order) */
	__u32 *member_ids;        /* member id of backends[i] */
	__u32 refs;               /* generations holding this VIP (main lcore) */
};

/* A VIP index slot: open addressing, immutable after the build. */
struct gen_vip_slot {
	__be32 addr[4];
	__be16 port;
	__u8 proto;
	__u8 family;        /* 0: empty slot */
	__u32 vip;          /* index into vips */
	__u32 fragment_only; /* the port-0 entry that routes fragments */
};

struct gen {
	__u64 id;
	struct chan_gen_begin params;
	__u32 vip_count;
	struct gen_vip **vips;
	struct gen_vip_slot *index;
	__u32 index_mask;
	__u32 member_count; /* size of members: the registry's id space */
	struct gen_member *members;
	/* By member id, like members: the outer headers of the member's
	 * tunnel (this generation's encap, source address and GUE port, the
	 * backend's address). Length 0 for absent members, and for members
	 * of a family the generation has no tunnel source for. */
	struct pkt_encap_template *encap;
	__u32 backend_count; /* members present (READY or DRAIN) */
	/* Ids in this generation that no earlier generation had: their
	 * counters must be zeroed before it is published. */
	__u32 *fresh_member_ids;
	__u32 fresh_member_count;
	__u32 *fresh_vip_ids;
	__u32 fresh_vip_count;
};

struct gen_registry;
struct gen_builder;

/* Returns the next-hop index a backend's packets leave through. */
typedef __u16 (*gen_nexthop_fn)(void *ctx, __u8 family, const __be32 *addr);

/* The member-id registry that outlives generations. NULL with errno. */
struct gen_registry *gen_registry_create(void);
void gen_registry_destroy(struct gen_registry *reg);
/* Lowers the number of member ids below GEN_MEMBERS_MAX (the XDP maps are
 * sized before load); ids in use must be below it. */
void gen_registry_limit_members(struct gen_registry *reg, __u32 max);
/* Member ids currently allocated (present, or absent but not yet reusable). */
__u32 gen_registry_size(const struct gen_registry *reg);
/* VIP ids currently allocated. */
__u32 gen_registry_vip_count(const struct gen_registry *reg);

/*
 * The key of the member with this id, present or removed but not yet
 * released: its VIP, and in b the backend's address, port and family (state
 * and weight 0). Returns 0, or -ENOENT for an id not in use. Main lcore.
 */
int gen_registry_member_key(const struct gen_registry *reg, __u32 id, struct chan_vip_key *vip,
			    struct chan_backend *b);

/*
 * Rebuild a registry from ids that outlived the process that gave them out
 * (lbd reads them back from the XDP balancer's maps when it restarts): the
 * VIP key or (VIP, backend) pair gets exactly `id`, as already published,
 * so flow-table entries naming it stay valid. timeout_s: the longest idle
 * timeout those ids were given under. Returns 0, -EEXIST (id or key taken),
 * -ENOSPC (id beyond the limit) or -ENOMEM. Before any build.
 */
int gen_registry_adopt_vip(struct gen_registry *reg, const struct chan_vip_key *key, __u32 id);
int gen_registry_adopt_member(struct gen_registry *reg, const struct chan_vip_key *vip,
			      const struct chan_backend *b, __u32 id, __u32 timeout_s);

/*
 * Starts building a generation with begin's parameters on top of in_service
 * (may be NULL), whose VIPs CHAN_VIP_KEEP refers to. NULL with errno.
 * Main lcore only, like every builder call.
 */
struct gen_builder *gen_builder_create(struct gen_registry *reg, const struct chan_gen_begin *begin,
				       const struct gen *in_service);

/* The generation number GEN_BEGIN gave the builder. */
__u64 gen_builder_generation(const struct gen_builder *gb);

/*
 * Adds a VIP checked by chan_vip_decode(). Returns 0, -ENOENT (KEEP of a
 * VIP not in service), -E2BIG (more VIPs than GEN_BEGIN announced),
 * -ENOSPC (more than GEN_MEMBERS_MAX members in use) or -ENOMEM, with a
 * message in err.
 */
int gen_builder_add_vip(struct gen_builder *gb, const struct chan_vip_view *view, char *err,
			size_t err_size);

/*
 * Completes the generation: checks the VIP count, builds the VIP index and
 * member table (asking nexthop for each member's next hop), and retires the
 * ids of members absent for longer than the idle timeouts (now_s: seconds of
 * a monotonic clock). Frees the builder, whatever the outcome. Returns the
 * generation, or NULL with errno and a message in err: EINVAL (fewer VIPs
 * than announced), EEXIST (a VIP listed twice), ENOMEM.
 */
struct gen *gen_builder_finish(struct gen_builder *gb, gen_nexthop_fn nexthop, void *ctx,
			       __u64 now_s, char *err, size_t err_size);

/* Discards a builder and what it staged, releasing the ids it gave to
 * members and VIPs that no finished generation has. */
void gen_builder_abort(struct gen_builder *gb);

/*
 * Calls fn(ctx, member id, VIP id) for every member present in `to` but not
 * in `from` (NULL: an empty generation), the VIP id being the one its VIP
 * has in `to`. With the arguments swapped: the members `to` leaves out.
 * This is how the main lcore keeps a VIP's traffic whole as its backends
 * come and go. Any thread that can see both generations.
 */
void gen_members_added(const struct gen *from, const struct gen *to,
		       void (*fn)(void *ctx, __u32 member_id, __u32 vip_id), void *ctx);

/* Frees a generation no worker can see any more (shared VIPs survive). */
void gen_destroy(struct gen *g);

/* Slot hash of a VIP key: cheap, since the index is tiny and probed linearly. */
static inline __u32 gen_vip_index_hash(const __be32 *addr, __be16 port, __u8 proto)
{
	__u32 state = flow_hash_mix(FLOW_HASH_SEED, (__u32)(addr[0] ^ addr[1] ^ addr[2] ^ addr[3]));

	state = flow_hash_mix(state, ((__u32)port << 8) | proto);
	return flow_hash_finish(state, 2);
}

/*
 * The VIP a parsed packet is addressed to (tuple dst), or NULL. Fragments
 * (ports zero) find the lowest-port VIP of their address and protocol.
 * Any lcore; the generation must stay visible for the call.
 */
static inline const struct gen_vip *gen_vip_find(const struct gen *g, const struct flow_tuple *t,
						 int fragment)
{
	__u32 i = gen_vip_index_hash(t->dst_addr, t->dst_port, t->proto) & g->index_mask;

	for (;;) {
		const struct gen_vip_slot *s = &g->index[i];
		if (s->family == 0)
			return NULL;
		if (s->family == t->family && s->port == t->dst_port && s->proto == t->proto &&
		    s->addr[0] == t->dst_addr[0] && s->addr[1] == t->dst_addr[1] &&
		    s->addr[2] == t->dst_addr[2] && s->addr[3] == t->dst_addr[3] &&
		    (fragment || !s->fragment_only))
			return g->vips[s->vip];
		i = (i + 1) & g->index_mask;
	}
}

/*
 * hash % table_size without a division (Lemire, Kaser and Kurz, "Faster
 * remainder by direct computation", 2019): exact for every 32-bit hash and
 * table size. The same slot as flow_hash_ring_slot(), which BPF uses.
 */
static inline __u32 gen_vip_ring_slot(const struct gen_vip *v, __u32 hash)
{
	__u64 low = v->table_size_inverse * hash;

	return (__u32)(((unsigned __int128)low * v->table_size) >> 64);
}

/* A member by id; NULL for an id outside the generation. */
static inline const struct gen_member *gen_member_get(const struct gen *g, __u32 id)
{
	return id < g->member_count ? &g->members[id] : NULL;
}

#endif /* FULCRUM_GEN_H */
