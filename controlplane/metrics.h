/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's Prometheus endpoint (global.metrics_listen): GET /metrics answers
 * with the text exposition format. The HTTP server is libmicrohttpd driven
 * from lbd's own epoll loop (no thread): its epoll fd sits in lbd's set and
 * metrics_run() does whatever is ready. A scrape reads what lbd already
 * holds (the model, and lb-dpdk's counters sampled every second); it never
 * waits on lb-dpdk.
 */
#ifndef FULCRUM_METRICS_H
#define FULCRUM_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include "controlplane/conf.h"

struct lbd;
struct metrics_server;

/*
 * Listens on addr:port (port 0: any free port, for tests). Returns the
 * server or NULL with the reason in err.
 */
struct metrics_server *metrics_create(struct lbd *d, const struct conf_addr *addr, __u16 port,
				      char *err, size_t err_size);
void metrics_destroy(struct metrics_server *s);

/* The fd to watch for input, the port bound, and the longest lbd may wait
 * before calling metrics_run() (UINT64_MAX: no deadline). */
int metrics_fd(const struct metrics_server *s);
__u16 metrics_port(const struct metrics_server *s);
__u64 metrics_timeout_ms(const struct metrics_server *s);

/* Accepts, reads, answers and times out connections; never blocks. */
void metrics_run(struct metrics_server *s);

/* Writes every metric of d to f in the text exposition format (0.0.4). */
void metrics_dump(const struct lbd *d, FILE *f);

#endif /* FULCRUM_METRICS_H */
