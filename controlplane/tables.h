/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A VIP's table as lbd publishes it: the backends that may carry traffic,
 * in the Maglev builder's canonical order with their state and weight, and
 * the ring built from them. Two tables with the same inputs have the same
 * ring, so lbd rebuilds and republishes only VIPs whose inputs changed.
 */
#ifndef FULCRUM_TABLES_H
#define FULCRUM_TABLES_H

#include <stdbool.h>

#include "controlplane/model.h"
#include "dataplane/chan.h"

struct vip_table {
	struct chan_vip_key key;
	char name[CHAN_NAME_MAX];
	__u32 table_size;
	__u32 backend_count;
	struct chan_backend *backends; /* canonical order */
	__u32 *ring;                   /* table_size ranks; NULL until built */
};

/*
 * The inputs of a VIP's table from the model: each backend in its table
 * state (model_backend_table_state()), READY ones with their weight in
 * hundredths, absent ones left out. NULL with errno (ENOMEM, EEXIST for two
 * backends of one address).
 */
struct vip_table *tables_from_model(const struct model_vip *vip);

/* Builds the ring. Returns 0 or the Maglev builder's -errno. */
int tables_build_ring(struct vip_table *t);

/* Whether two tables have the same inputs (and so the same ring). */
bool tables_same_input(const struct vip_table *a, const struct vip_table *b);

void tables_destroy(struct vip_table *t);

#endif /* FULCRUM_TABLES_H */
