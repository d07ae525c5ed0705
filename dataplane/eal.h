/* SPDX-License-Identifier: BSD-3-Clause */
/* What Fulcrum's DPDK programs do around the EAL that DPDK itself does not. */
#ifndef FULCRUM_EAL_H
#define FULCRUM_EAL_H

/*
 * Shuts the EAL down and removes its runtime directory (/var/run/dpdk/PREFIX:
 * config, memory maps, sockets), which rte_eal_cleanup() leaves behind. Call
 * once, from the main lcore, after every other DPDK object is released.
 */
void eal_cleanup_all(void);

#endif /* FULCRUM_EAL_H */
