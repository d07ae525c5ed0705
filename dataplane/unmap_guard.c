/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The unmap guard: memory DPDK's interrupt thread unmaps is first let go of
 * by every lcore that polls ports.
 *
 * Why: DPDK's memif PMD (drivers/net/memif, 22.11 as Debian 12 ships it;
 * upstream's memif_disconnect() still does the same) tears a connection
 * down on its interrupt thread when the peer leaves. memif_disconnect() clears ETH_MEMIF_FLAG_CONNECTED and,
 * microseconds later, memif_free_regions() munmap()s the shared regions,
 * with nothing in between to wait for the data path. An lcore inside
 * eth_memif_rx() or eth_memif_tx() that checked the flag just before is
 * still reading the rings and copying frames out of (or into) the regions,
 * and takes SIGSEGV. That was lb-dpdk's crash when a memif client left:
 * every few dozen lbgen clients with the bench's settings, most often one
 * killed mid-traffic (tests/e2e/test_memif_churn.sh); testpmd has it too.
 *
 * The PMD offers no hook between clearing the flag and unmapping, and
 * reports no link-state event on a disconnect, so lb-dpdk takes the one it
 * calls: munmap(), which the PMD (a plugin loaded by the EAL) resolves
 * through the process's global scope, where lb-dpdk exports its own (see
 * the Makefile). On DPDK's interrupt thread it waits for a grace period of
 * the pollers' QSBR variable (worker_shared.rcu) before unmapping: every
 * worker reports a quiescent state after each round of bursts, the main
 * lcore is online there only while it moves exception traffic. The PMD
 * cleared the flag before the wait began, so once every poller has passed
 * a quiescent state none can still be in a burst that saw the link up,
 * and none will start one (rte_rcu_qsbr_start() releases the flag's store,
 * a quiescent report acquires it). Everything else unmaps at once.
 */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_interrupts.h>
#include <rte_rcu_qsbr.h>

#include "dataplane/lb_dpdk.h"

#define UNMAP_GUARD_POLL_US 10

static struct rte_rcu_qsbr *unmap_guard_rcu;

void unmap_guard_init(struct rte_rcu_qsbr *rcu)
{
	__atomic_store_n(&unmap_guard_rcu, rcu, __ATOMIC_RELEASE);
}

void unmap_guard_fini(void)
{
	__atomic_store_n(&unmap_guard_rcu, NULL, __ATOMIC_RELEASE);
}

/*
 * Replaces the C library's munmap() for the whole process (same contract:
 * 0, or -1 with errno set). Any thread may call it; only DPDK's interrupt
 * thread waits, and it never holds anything a poller waits for.
 */
int munmap(void *addr, size_t length)
{
	struct rte_rcu_qsbr *rcu = __atomic_load_n(&unmap_guard_rcu, __ATOMIC_ACQUIRE);

	if (rcu && rte_thread_is_intr()) {
		uint64_t start = rte_rdtsc(), token = rte_rcu_qsbr_start(rcu);

		/* Asleep between checks rather than spinning as
		 * rte_rcu_qsbr_synchronize() does: this thread may share a CPU
		 * with the very worker it waits for. */
		while (!rte_rcu_qsbr_check(rcu, token, false))
			rte_delay_us_sleep(UNMAP_GUARD_POLL_US);
		LB_LOG(INFO, "DPDK's interrupt thread unmaps %zu KiB of port memory (a memif peer "
		       "leaving): the pollers let go of it within %.1f us", length / 1024,
		       (double)(rte_rdtsc() - start) * 1e6 / (double)rte_get_tsc_hz());
	}
	/* The C library's munmap is this system call and nothing more. */
	return (int)syscall(SYS_munmap, addr, length);
}
