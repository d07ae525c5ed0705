/* SPDX-License-Identifier: BSD-3-Clause */
/* Names and meanings of the dataplane counters, for telemetry, metrics and lbctl. */
#include "dataplane/counters.h"

#define COUNTER_NAME(name, text, meaning) [name] = text,
#define COUNTER_MEANING(name, text, meaning) [name] = meaning,
#define COUNTER_DROP_NAME(name, text, meaning) [COUNTER_DROP_BASE + name] = "drop_" text,
#define COUNTER_DROP_MEANING(name, text, meaning) [COUNTER_DROP_BASE + name] = "dropped: " meaning,
static const char *const counter_names[COUNTER_COUNT] = {
	COUNTERS(COUNTER_NAME)
	[COUNTER_DROP_BASE] = "drop_none",
	PKT_DROP_REASONS(COUNTER_DROP_NAME)
	COUNTERS_ADDED(COUNTER_NAME)
};
static const char *const counter_meanings[COUNTER_COUNT] = {
	COUNTERS(COUNTER_MEANING)
	[COUNTER_DROP_BASE] = "never counted",
	PKT_DROP_REASONS(COUNTER_DROP_MEANING)
	COUNTERS_ADDED(COUNTER_MEANING)
};
#undef COUNTER_NAME
#undef COUNTER_MEANING
#undef COUNTER_DROP_NAME
#undef COUNTER_DROP_MEANING

const char *counter_name(__u32 counter)
{
	return counter < COUNTER_COUNT ? counter_names[counter] : "unknown";
}

const char *counter_meaning(__u32 counter)
{
	return counter < COUNTER_COUNT ? counter_meanings[counter] : "unknown";
}
