/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's log: one line per event on stderr ("lbd: warning: ..."), which
 * systemd's journal or the terminal timestamps. Nothing per packet or per
 * health check passes through here unless something changed.
 */
#ifndef FULCRUM_LOG_H
#define FULCRUM_LOG_H

#include "controlplane/conf.h"

void log_set_level(enum conf_log_level level);

void log_msg(enum conf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(CONF_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(CONF_LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(CONF_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(CONF_LOG_DEBUG, __VA_ARGS__)

#endif /* FULCRUM_LOG_H */
