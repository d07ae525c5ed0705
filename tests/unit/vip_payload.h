/* SPDX-License-Identifier: BSD-3-Clause */
/* Test helper: GEN_VIP payloads as lbd would send them, built with the real Maglev builder. */
#ifndef FULCRUM_TEST_VIP_PAYLOAD_H
#define FULCRUM_TEST_VIP_PAYLOAD_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/maglev.h"
#include "dataplane/chan.h"

struct vip_payload {
	void *data;
	__u32 length;
};

/* An IPv4 VIP key 192.0.2.<host>:port/proto. */
static inline struct chan_vip_key vip_key_v4(__u8 host, __u16 port, __u8 proto)
{
	struct chan_vip_key k;

	memset(&k, 0, sizeof(k));
	k.family = FLOW_FAMILY_IPV4;
	k.addr[0] = htonl(0xc0000200u | host);
	k.port = htons(port);
	k.proto = proto;
	return k;
}

/* Backend 10.0.0.<host>:8080, READY (or DRAIN), weight 1. */
static inline struct chan_backend backend_v4(__u8 host, __u8 state)
{
	struct chan_backend b;

	memset(&b, 0, sizeof(b));
	b.family = FLOW_FAMILY_IPV4;
	b.addr[0] = htonl(0x0a000000u | host);
	b.port = htons(8080);
	b.state = state;
	b.weight = 1;
	return b;
}

/*
 * A GEN_VIP payload for key with the given backends (any order: they are
 * sorted into canonical order as lbd does) and a Maglev ring of table_size
 * in which only READY backends own slots. Free data with free().
 */
static inline struct vip_payload vip_payload_build(const struct chan_vip_key *key, const char *name,
						   const struct chan_backend *backends, __u32 n,
						   __u32 table_size)
{
	struct maglev_backend *mb = calloc(n + 1, sizeof(*mb));
	__u32 *order = calloc(n + 1, sizeof(*order));
	struct vip_payload p;

	p.length = (__u32)(sizeof(struct chan_vip) + n * sizeof(struct chan_backend) +
			   table_size * sizeof(__u32));
	p.data = calloc(1, p.length);
	struct chan_vip *v = p.data;
	struct chan_backend *b = (void *)(v + 1);
	__u32 *ring = (void *)(b + n);

	v->key = *key;
	v->table_size = table_size;
	v->backend_count = n;
	strncpy(v->name, name, sizeof(v->name) - 1);
	for (__u32 i = 0; i < n; i++) {
		memcpy(mb[i].addr, backends[i].addr, sizeof(mb[i].addr));
		mb[i].port = backends[i].port;
		mb[i].family = backends[i].family;
		mb[i].weight = backends[i].state == CHAN_BACKEND_READY ? backends[i].weight : 0;
	}
	if (maglev_build(mb, n, ring, table_size, order) != 0)
		abort();
	for (__u32 rank = 0; rank < n; rank++)
		b[rank] = backends[order[rank]];
	free(mb);
	free(order);
	return p;
}

/* A KEEP payload for key. */
static inline struct vip_payload vip_payload_keep(const struct chan_vip_key *key)
{
	struct vip_payload p = { calloc(1, sizeof(struct chan_vip)), sizeof(struct chan_vip) };
	struct chan_vip *v = p.data;

	v->key = *key;
	v->flags = CHAN_VIP_KEEP;
	return p;
}

#endif /* FULCRUM_TEST_VIP_PAYLOAD_H */
