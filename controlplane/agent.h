/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Agent check replies: the one line a GPU node's agent (tools/fulcrum-agent.c
 * or any HAProxy agent) writes when lbd connects to its agent port.
 *
 * A reply is one line, ended by "\n", "\r\n" or the end of the connection, of
 * at most AGENT_LINE_MAX bytes without its ending. Words are separated by
 * spaces, tabs or commas, in any order, and compared without regard to case:
 *
 *   N%            weight percentage 0..1000: effective weight = configured
 *   weight:N%     weight x N / 100 (the caller caps the product at 256)
 *   weight:N      absolute weight 0..256, replaces the configured weight
 *   ready         the agent's admin opinion: in service,
 *   drain         no new flows (established flows stay),
 *   maint         out of service
 *   up            the agent's health opinion: up,
 *   down          down; "stopped" and "fail" are synonyms of down
 *   maxconn:N     accepted and ignored (Fulcrum has no connection limit)
 *   # text        everything after the first '#' is a free-text reason,
 *                 kept (trimmed, cut to AGENT_REASON_MAX - 1 bytes) for logs
 *
 * Examples: "75%", "up 60%", "drain 0%", "down # GPU 3 ECC errors",
 * "ready,weight:40", "maxconn:100 up".
 *
 * How lbd applies a report, as HAProxy does:
 *  - The agent's health opinion is combined with the health checks: "up"
 *    cannot bring back a backend whose checks fail; "down" takes it out
 *    whatever the checks say.
 *  - "drain" and "maint" set the admin state with the agent as its source;
 *    "ready" clears what the agent set, not an operator's drain.
 *  - A percentage of 0 has the effect of a drain (weight 0).
 *  - An agent that cannot be reached, times out, or sends a bad reply is
 *    never a health failure: lbd keeps the last good report and logs why.
 *
 * Where Fulcrum differs from HAProxy, on purpose:
 *  - A word Fulcrum does not know, a bad or out-of-range number, bytes that
 *    are not printable ASCII, an empty reply, or two words of one kind that
 *    disagree ("up down", "50% 60%", "weight:40 50%") make the whole reply
 *    an error, named in lbd's log; the reply is not half-applied. Repeating
 *    a word with the same meaning ("down fail") is accepted.
 *  - "weight:N" and "weight:N%" are Fulcrum's spellings; an agent meant for
 *    HAProxy as well should send "N%".
 */
#ifndef FULCRUM_AGENT_H
#define FULCRUM_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define AGENT_LINE_MAX	     512  /* bytes of a reply, without its line ending */
#define AGENT_REASON_MAX     128  /* reason buffer, NUL included */
#define AGENT_WEIGHT_MAX     256  /* weight:N */
#define AGENT_WEIGHT_PCT_MAX 1000 /* N% and weight:N% */
#define AGENT_MAXCONN_MAX    2147483647u
/* Enough for any error message of agent_parse_line (longer buffers are cut). */
#define AGENT_ERROR_LEN 384

enum agent_admin { AGENT_ADMIN_NONE, AGENT_ADMIN_READY, AGENT_ADMIN_DRAIN, AGENT_ADMIN_MAINT };
enum agent_health { AGENT_HEALTH_NONE, AGENT_HEALTH_UP, AGENT_HEALTH_DOWN };

/* One parsed reply. NONE / has_* false: the reply said nothing of that kind.
 * has_weight_pct and has_weight are never both set. */
struct agent_report {
	bool has_weight_pct;
	__u32 weight_pct; /* 0..AGENT_WEIGHT_PCT_MAX */
	bool has_weight;
	__u32 weight; /* 0..AGENT_WEIGHT_MAX */
	enum agent_admin admin;
	enum agent_health health;
	bool maxconn_ignored; /* the reply had HAProxy's maxconn:N; N kept for logs */
	__u32 maxconn;
	char reason[AGENT_REASON_MAX]; /* after '#', trimmed; "" when none */
};

/*
 * Parses one agent reply of length bytes (not NUL-terminated; with or
 * without its line ending; bytes after a '\n' are an error, so pass exactly
 * one line). Returns 0 and fills *out, or -EINVAL with *out untouched and a
 * message in err (when err_size > 0) naming the offending word, quoted,
 * escaped and cut if long, e.g. "weight:300": 300 is above 256, or the bad
 * byte and its offset. The caller prefixes where the reply came from. Any
 * thread; no allocation.
 */
int agent_parse_line(const char *line, size_t length, struct agent_report *out, char *err,
		     size_t err_size);

/*
 * Writes r as the canonical reply, NUL-terminated, for logs and lbctl:
 * health, admin, weight, maxconn, then "# reason", e.g. "down drain 50% #
 * busy". agent_parse_line() of the result gives r back. Returns 0, -EINVAL
 * when r is not something agent_parse_line() could have produced (a value
 * out of range, both weights, no word at all), or -ENOSPC when size is too
 * small (AGENT_LINE_MAX + 1 is always enough).
 */
int agent_fmt_report(const struct agent_report *r, char *buf, size_t size);

/* "ready", "drain", "maint", or "none"; never NULL. */
const char *agent_admin_name(enum agent_admin admin);
/* "up", "down", or "none"; never NULL. */
const char *agent_health_name(enum agent_health health);

#endif /* FULCRUM_AGENT_H */
