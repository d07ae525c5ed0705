/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The running configuration written back as a configuration file (`lbctl
 * config show`): the file's global and dataplane settings with the VIPs and
 * backends as they are now, run-time changes included. Written with
 * libconfig's own writer, so it reads back with conf_load() as the same
 * configuration. A backend's state is the most restrictive opinion of the
 * config file, operators and scalers (an agent's opinion is live, not
 * configuration); health results are not configuration either.
 */
#ifndef FULCRUM_CONFIG_DUMP_H
#define FULCRUM_CONFIG_DUMP_H

#include <stddef.h>

#include "controlplane/conf.h"
#include "controlplane/model.h"

/* *text: a malloc'd NUL-terminated file. Returns 0 or -errno with err. */
int config_dump(const struct conf *cfg, const struct model *m, char **text, char *err,
		size_t err_size);

#endif /* FULCRUM_CONFIG_DUMP_H */
