/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's control socket: an AF_UNIX stream socket (mode 0660) where each
 * request is one line in lbctl's grammar (controlplane/ctl_grammar.h) and
 * each reply one line of JSON:
 *   {"ok":true,"result":...}
 *   {"ok":false,"error":{"code":"not_found","message":"vip web has no backend b9"}}
 * A client may send several requests on one connection; `monitor` turns the
 * connection into a stream of events, one JSON object per line.
 *
 * Every command is a plain function from a parsed request to a result
 * object (ctl_execute() runs one without a socket, for the tests). The
 * server never blocks: sockets are non-blocking, a request line is bounded
 * (CTL_LINE_MAX), replies wait in a bounded per-client buffer, clients idle
 * without a complete request are closed, and so are monitors that do not
 * read their events.
 */
#ifndef FULCRUM_CTL_H
#define FULCRUM_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <linux/types.h>

struct lbd;
struct ctl_server;
struct conf_global;

#define CTL_CLIENTS_MAX      1024
#define CTL_CLIENTS_ROOT     64          /* more, kept for root when the rest are taken */
#define CTL_IDLE_TIMEOUT_MS  30000       /* nothing read or written: closed */
#define CTL_REQUEST_TIMEOUT_MS 10000     /* a request sent but not served by then: closed */
#define CTL_OUTPUT_MAX       (64u << 20) /* a reply for 100 000 backends fits */
#define CTL_UNREAD_MAX       (64u << 10) /* unread replies before requests wait */
#define CTL_PENDING_TOTAL_MAX (256u << 20) /* unread replies, all clients together */
#define CTL_MONITOR_BACKLOG  (1u << 20)  /* unread events before a monitor is cut */

/*
 * Listens on g's control_socket and, unless "", its readonly_socket (each
 * replacing a stale socket file; groups as g says). NULL with a message in
 * err.
 */
/* What the control server has done, for the metrics. */
struct ctl_totals {
	__u32 clients;       /* connected now */
	size_t pending;      /* reply bytes waiting for clients to read them */
	__u64 refused_busy;  /* turned away: every place taken */
	__u64 refused_forbidden; /* turned away: peer credentials */
	__u64 timed_out;     /* closed: idle, or a request unfinished in time */
};

void ctl_totals(const struct ctl_server *s, struct ctl_totals *out);

struct ctl_server *ctl_create(struct lbd *d, const struct conf_global *g, char *err,
			      size_t err_size);
void ctl_destroy(struct ctl_server *s);

/* The epoll fd lbd watches; ctl_run() when it is readable. */
int ctl_fd(const struct ctl_server *s);
void ctl_run(struct ctl_server *s);

/* Once a second: closes idle clients. */
void ctl_tick(struct ctl_server *s, __u64 now_ms);

/* Sends an event line to every monitor. */
void ctl_broadcast(struct ctl_server *s, json_t *event);

/* Runs one request line against d and returns the reply object (a new
 * reference). *monitor is set when the request was `monitor`. */
json_t *ctl_execute(struct lbd *d, char *line, bool *monitor);

/* As ctl_execute(), for a client of the read-only socket when read_only:
 * commands that change anything get a "forbidden" error. */
json_t *ctl_execute_as(struct lbd *d, char *line, bool read_only, bool *monitor);

/* The error code of a -errno, as replies spell it ("not_found", ...). */
const char *ctl_error_code(int err);

#endif /* FULCRUM_CTL_H */
