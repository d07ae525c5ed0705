/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's state file: the run-time changes to the configuration — VIPs and
 * backends added or deleted through the control socket, weights, and the
 * admin opinions of operators and scalers — so they survive a restart of
 * lbd. Health and agent results are not kept: they are measured again.
 *
 * The file is JSON (version 1), written whole to a temporary file in the
 * same directory, fsync'd and renamed over the old one, so a crash leaves
 * either the old or the new file, never half of one. Only objects that
 * differ from the configuration are listed:
 *
 *   { "version": 1,
 *     "vips": [ { "name": "web", "min_up": 2,
 *                 "backends": [ { "name": "b1", "weight": 40, "operator": "drain" },
 *                               { "name": "b9", "added": true, "address": "10.0.0.9",
 *                                 "port": 80, "scaler": "ready" } ] },
 *               { "name": "old", "deleted": true },
 *               { "name": "new", "added": true, "protocol": "tcp",
 *                 "address": "10.99.0.5", "port": 443, "table_size": 65537,
 *                 "min_up": 1, "health": "tcp", "backends": [ ... ] } ] }
 *
 * At startup the overrides are applied on top of the configuration file,
 * whatever it says now; an override that no longer fits (its VIP is gone
 * from the file, an address now taken) is skipped and reported.
 */
#ifndef FULCRUM_STATE_H
#define FULCRUM_STATE_H

#include <stddef.h>
#include <jansson.h>

#include "controlplane/model.h"

#define STATE_VERSION 1

/* The overrides of m, as the file holds them (a new reference). */
json_t *state_dump(const struct model *m);

/* Writes the file atomically. Returns 0 or -errno with err. */
int state_save(const struct model *m, const char *path, char *err, size_t err_size);

/*
 * Applies the file at path to m. Returns 0; -ENOENT when there is no file;
 * -EINVAL when it is not a state file (nothing applied) or when some
 * overrides could not be applied (the others are), with err naming them.
 */
int state_load(struct model *m, const char *path, char *err, size_t err_size);

#endif /* FULCRUM_STATE_H */
