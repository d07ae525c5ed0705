/* SPDX-License-Identifier: BSD-3-Clause */
/* VIP tables from configuration to ring (controlplane/tables.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/maglev.h"
#include "controlplane/tables.h"

static int tables_backend_cmp(const void *pa, const void *pb)
{
	const struct chan_backend *a = pa, *b = pb;

	return maglev_key_order(a->family, a->addr, a->port, b->family, b->addr, b->port);
}

struct vip_table *tables_from_model(const struct model_vip *vip)
{
	struct vip_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->backends = calloc(vip->backend_count + 1, sizeof(*t->backends));
	if (!t->backends) {
		free(t);
		return NULL;
	}
	t->key.family = vip->addr.family;
	memcpy(t->key.addr, vip->addr.addr, sizeof(t->key.addr));
	t->key.port = htons(vip->port);
	t->key.proto = vip->proto;
	snprintf(t->name, sizeof(t->name), "%s", vip->name);
	t->table_size = vip->table_size;
	for (__u32 i = 0; i < vip->backend_count; i++) {
		const struct model_backend *mb = vip->backends[i];
		enum model_table_state state = model_backend_table_state(mb);
		struct chan_backend *b = &t->backends[t->backend_count];
		if (state == MODEL_TABLE_ABSENT)
			continue;
		b->family = mb->addr.family;
		memcpy(b->addr, mb->addr.addr, sizeof(b->addr));
		b->port = htons(mb->port);
		if (state == MODEL_TABLE_READY) {
			b->state = CHAN_BACKEND_READY;
			b->weight = model_backend_weight_centi(mb);
		} else {
			b->state = CHAN_BACKEND_DRAIN;
			b->weight = 0;
		}
		t->backend_count++;
	}
	qsort(t->backends, t->backend_count, sizeof(*t->backends), tables_backend_cmp);
	for (__u32 i = 1; i < t->backend_count; i++) {
		if (tables_backend_cmp(&t->backends[i - 1], &t->backends[i]) == 0) {
			tables_destroy(t);
			errno = EEXIST;
			return NULL;
		}
	}
	return t;
}

int tables_build_ring(struct vip_table *t)
{
	struct maglev_backend *mb = calloc(t->backend_count + 1, sizeof(*mb));
	int rc;

	if (!mb)
		return -ENOMEM;
	if (!t->ring)
		t->ring = malloc((size_t)t->table_size * sizeof(*t->ring));
	if (!t->ring) {
		free(mb);
		return -ENOMEM;
	}
	for (__u32 i = 0; i < t->backend_count; i++) {
		memcpy(mb[i].addr, t->backends[i].addr, sizeof(mb[i].addr));
		mb[i].port = t->backends[i].port;
		mb[i].family = t->backends[i].family;
		mb[i].weight = t->backends[i].state == CHAN_BACKEND_READY ? t->backends[i].weight : 0;
	}
	/* The backends are already in canonical order, so the builder's ranks
	 * are indices into t->backends. */
	rc = maglev_build(mb, t->backend_count, t->ring, t->table_size, NULL);
	free(mb);
	return rc;
}

bool tables_same_input(const struct vip_table *a, const struct vip_table *b)
{
	return chan_vip_key_equal(&a->key, &b->key) && strcmp(a->name, b->name) == 0 &&
	       a->table_size == b->table_size && a->backend_count == b->backend_count &&
	       memcmp(a->backends, b->backends, a->backend_count * sizeof(*a->backends)) == 0;
}

void tables_destroy(struct vip_table *t)
{
	if (!t)
		return;
	free(t->backends);
	free(t->ring);
	free(t);
}
