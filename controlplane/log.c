/* SPDX-License-Identifier: BSD-3-Clause */
/* lbd's log lines (controlplane/log.h). */
#include <stdarg.h>
#include <stdio.h>

#include "controlplane/log.h"

static enum conf_log_level log_level = CONF_LOG_INFO;

void log_set_level(enum conf_log_level level)
{
	log_level = level;
}

void log_msg(enum conf_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[1024];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so lines of concurrent writers never mix. */
	fprintf(stderr, "lbd: %s: %s\n", names[level], line);
}
