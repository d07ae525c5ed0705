/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Agent check replies: parsing and canonical formatting (agent.h has the
 * grammar). The reply comes from a machine lbd does not control, so every
 * byte is checked and nothing is applied unless the whole line is valid.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "controlplane/agent.h"

/* Bytes of a word shown in an error message; longer words end in "...". */
#define AGENT_QUOTE_MAX 40

/* What a word speaks about; two words of one kind must agree. */
enum agent_kind {
	AGENT_KIND_WEIGHT,
	AGENT_KIND_ADMIN,
	AGENT_KIND_HEALTH,
	AGENT_KIND_MAXCONN,
	AGENT_KIND_COUNT
};

struct agent_word {
	const char *text;
	size_t length;
};

static void agent_error(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void agent_error(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (!err || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/*
 * Writes text as a C-style quoted string into buf: the bytes a terminal or a
 * log would mangle are escaped, so a hostile reply cannot forge log lines.
 */
static const char *agent_quote(const char *text, size_t length, char *buf, size_t size)
{
	size_t n = length > AGENT_QUOTE_MAX ? AGENT_QUOTE_MAX : length;
	size_t used = 0;

	used += snprintf(buf + used, size - used, "\"");
	for (size_t i = 0; i < n && used < size; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '"' || c == '\\')
			used += snprintf(buf + used, size - used, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			used += snprintf(buf + used, size - used, "\\x%02x", c);
		else
			used += snprintf(buf + used, size - used, "%c", c);
	}
	if (used < size)
		snprintf(buf + used, size - used, "%s\"", n < length ? "..." : "");
	return buf;
}

static bool agent_is_separator(char c)
{
	return c == ' ' || c == '\t' || c == ',';
}

static bool agent_word_is(const struct agent_word *w, const char *name)
{
	return w->length == strlen(name) && strncasecmp(w->text, name, w->length) == 0;
}

static bool agent_word_has_prefix(const struct agent_word *w, const char *prefix)
{
	size_t n = strlen(prefix);

	return w->length >= n && strncasecmp(w->text, prefix, n) == 0;
}

/*
 * Parses the decimal digits text[0..length) into *value if it is at most
 * max. Returns 0, -EINVAL (empty, or not all digits: no sign, no spaces) or
 * -ERANGE.
 */
static int agent_parse_number(const char *text, size_t length, __u32 max, __u32 *value)
{
	unsigned long long v = 0;

	if (length == 0)
		return -EINVAL;
	for (size_t i = 0; i < length; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
	}
	for (size_t i = 0; i < length; i++) {
		v = v * 10 + (unsigned long long)(text[i] - '0');
		/* Checked at every digit: a long run of digits must not wrap. */
		if (v > max)
			return -ERANGE;
	}
	*value = (__u32)v;
	return 0;
}

/*
 * Parses the number of word w that starts after skip bytes (and ends before
 * a '%' when pct), naming what it should have been in the message.
 */
static int agent_word_number(const struct agent_word *w, size_t skip, bool pct, __u32 max,
			     const char *what, __u32 *value, char *err, size_t err_size)
{
	char q[AGENT_QUOTE_MAX * 4 + 8];
	const char *digits = w->text + skip;
	size_t n = w->length - skip - (pct ? 1 : 0);
	int ret = agent_parse_number(digits, n, max, value);

	/* Only digits reach the -ERANGE message, so they need no quoting. */
	if (ret == -ERANGE)
		agent_error(err, err_size, "%s: %.*s%s%s is above %u%s",
			    agent_quote(w->text, w->length, q, sizeof(q)),
			    (int)(n > AGENT_QUOTE_MAX ? AGENT_QUOTE_MAX : n), digits,
			    n > AGENT_QUOTE_MAX ? "..." : "", pct ? "%" : "", max, pct ? "%" : "");
	else if (ret < 0)
		agent_error(err, err_size, "%s: not %s (0..%u%s)",
			    agent_quote(w->text, w->length, q, sizeof(q)), what, max,
			    pct ? "%" : "");
	return ret < 0 ? -EINVAL : 0;
}

/* Ensures a word of kind agrees with the first one seen (*first). */
static int agent_agree(struct agent_word *first, const struct agent_word *w, bool same, char *err,
		       size_t err_size)
{
	char q1[AGENT_QUOTE_MAX * 4 + 8], q2[AGENT_QUOTE_MAX * 4 + 8];

	if (!first->text) {
		*first = *w;
		return 0;
	}
	if (same)
		return 0;
	agent_error(err, err_size, "%s contradicts %s",
		    agent_quote(w->text, w->length, q1, sizeof(q1)),
		    agent_quote(first->text, first->length, q2, sizeof(q2)));
	return -EINVAL;
}

/* Applies one word to r, checking it against the earlier words of its kind. */
static int agent_parse_word(const struct agent_word *w, struct agent_report *r,
			    struct agent_word first[AGENT_KIND_COUNT], char *err, size_t err_size)
{
	char q[AGENT_QUOTE_MAX * 4 + 8];
	bool seen;
	__u32 v;
	int ret;

	if (agent_word_is(w, "up") || agent_word_is(w, "down") || agent_word_is(w, "stopped") ||
	    agent_word_is(w, "fail")) {
		enum agent_health h = agent_word_is(w, "up") ? AGENT_HEALTH_UP : AGENT_HEALTH_DOWN;

		seen = first[AGENT_KIND_HEALTH].text != NULL;
		ret = agent_agree(&first[AGENT_KIND_HEALTH], w, seen && r->health == h, err,
				  err_size);
		r->health = h;
		return ret;
	}
	if (agent_word_is(w, "ready") || agent_word_is(w, "drain") || agent_word_is(w, "maint")) {
		enum agent_admin a = agent_word_is(w, "ready")	 ? AGENT_ADMIN_READY
				     : agent_word_is(w, "drain") ? AGENT_ADMIN_DRAIN
								 : AGENT_ADMIN_MAINT;

		seen = first[AGENT_KIND_ADMIN].text != NULL;
		ret = agent_agree(&first[AGENT_KIND_ADMIN], w, seen && r->admin == a, err,
				  err_size);
		r->admin = a;
		return ret;
	}
	if (agent_word_has_prefix(w, "maxconn:")) {
		ret = agent_word_number(w, strlen("maxconn:"), false, AGENT_MAXCONN_MAX,
					"a connection count", &v, err, err_size);
		if (ret < 0)
			return ret;
		seen = first[AGENT_KIND_MAXCONN].text != NULL;
		ret = agent_agree(&first[AGENT_KIND_MAXCONN], w, seen && r->maxconn == v, err,
				  err_size);
		r->maxconn_ignored = true;
		r->maxconn = v;
		return ret;
	}
	bool pct = w->length > 0 && w->text[w->length - 1] == '%';
	bool prefixed = agent_word_has_prefix(w, "weight:");

	if (pct || prefixed) {
		size_t skip = prefixed ? strlen("weight:") : 0;

		if (pct)
			ret = agent_word_number(w, skip, true, AGENT_WEIGHT_PCT_MAX, "a percentage",
						&v, err, err_size);
		else
			ret = agent_word_number(w, skip, false, AGENT_WEIGHT_MAX, "a weight", &v,
						err, err_size);
		if (ret < 0)
			return ret;
		/* "weight:40 50%" disagree even though they are different fields. */
		seen = first[AGENT_KIND_WEIGHT].text != NULL;
		bool same = seen && (pct ? r->has_weight_pct && r->weight_pct == v
					 : r->has_weight && r->weight == v);
		ret = agent_agree(&first[AGENT_KIND_WEIGHT], w, same, err, err_size);
		if (pct) {
			r->has_weight_pct = true;
			r->weight_pct = v;
		} else {
			r->has_weight = true;
			r->weight = v;
		}
		return ret;
	}
	agent_error(err, err_size,
		    "%s is not an agent word (up, down, ready, drain, maint, N%%, weight:N, "
		    "weight:N%%, maxconn:N)",
		    agent_quote(w->text, w->length, q, sizeof(q)));
	return -EINVAL;
}

/*
 * Finds the run of non-separator bytes around offset at, for naming the word
 * that holds a bad byte.
 */
static struct agent_word agent_word_around(const char *line, size_t length, size_t at)
{
	size_t start = at, end = at;

	while (start > 0 && !agent_is_separator(line[start - 1]))
		start--;
	while (end < length && !agent_is_separator(line[end]))
		end++;
	return (struct agent_word){line + start, end - start};
}

int agent_parse_line(const char *line, size_t length, struct agent_report *out, char *err,
		     size_t err_size)
{
	struct agent_word first[AGENT_KIND_COUNT] = {0};
	struct agent_report r = {0};
	char q[AGENT_QUOTE_MAX * 4 + 8];
	size_t words_end, i;
	int ret;

	if (err && err_size > 0)
		err[0] = '\0';
	if (!out || (!line && length > 0)) {
		agent_error(err, err_size, "no reply to parse");
		return -EINVAL;
	}
	/* One line ending is allowed: "\n", "\r\n", or none (end of stream). */
	if (length > 0 && line[length - 1] == '\n')
		length--;
	if (length > 0 && line[length - 1] == '\r')
		length--;
	if (length > AGENT_LINE_MAX) {
		agent_error(err, err_size, "reply of %zu bytes is longer than %u", length,
			    AGENT_LINE_MAX);
		return -EINVAL;
	}
	for (i = 0; i < length; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\t' || (c >= 0x20 && c <= 0x7e))
			continue;
		struct agent_word w = agent_word_around(line, length, i);

		if (c == '\n' || c == '\r')
			agent_error(err, err_size,
				    "line break at byte %zu in %s: one line expected", i,
				    agent_quote(w.text, w.length, q, sizeof(q)));
		else if (c == '\0')
			agent_error(err, err_size, "NUL byte at byte %zu in %s", i,
				    agent_quote(w.text, w.length, q, sizeof(q)));
		else
			agent_error(err, err_size, "byte 0x%02x at byte %zu in %s is not printable",
				    c, i, agent_quote(w.text, w.length, q, sizeof(q)));
		return -EINVAL;
	}

	/* memchr() must not see a NULL line, even for 0 bytes. */
	const char *hash = length > 0 ? memchr(line, '#', length) : NULL;

	words_end = hash ? (size_t)(hash - line) : length;
	i = 0;
	for (;;) {
		while (i < words_end && agent_is_separator(line[i]))
			i++;
		if (i == words_end)
			break;
		struct agent_word w = {line + i, 0};

		while (i < words_end && !agent_is_separator(line[i]))
			i++;
		w.length = (size_t)(line + i - w.text);
		ret = agent_parse_word(&w, &r, first, err, err_size);
		if (ret < 0)
			return ret;
	}
	bool any = false;

	for (int k = 0; k < AGENT_KIND_COUNT; k++)
		any |= first[k].text != NULL;
	if (!any) {
		agent_error(err, err_size, hash ? "no word before the '#' reason" : "empty reply");
		return -EINVAL;
	}
	if (hash) {
		size_t start = words_end + 1, end = length;

		while (start < end && (line[start] == ' ' || line[start] == '\t'))
			start++;
		while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
			end--;
		/* A long reason is cut, not refused: it is only for people to read. */
		if (end - start > sizeof(r.reason) - 1)
			end = start + sizeof(r.reason) - 1;
		while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
			end--;
		memcpy(r.reason, line + start, end - start);
		r.reason[end - start] = '\0';
	}
	*out = r;
	return 0;
}

/* Appends to buf like snprintf, tracking the total that would have been written. */
static void agent_append(char *buf, size_t size, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void agent_append(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + (*used < size ? *used : size), *used < size ? size - *used : 0, fmt,
		      ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n;
}

int agent_fmt_report(const struct agent_report *r, char *buf, size_t size)
{
	size_t used = 0;
	const char *sep = "";

	if (!r || r->admin > AGENT_ADMIN_MAINT || r->health > AGENT_HEALTH_DOWN ||
	    (r->has_weight_pct && r->weight_pct > AGENT_WEIGHT_PCT_MAX) ||
	    (r->has_weight && r->weight > AGENT_WEIGHT_MAX) ||
	    (r->has_weight && r->has_weight_pct) ||
	    (r->maxconn_ignored && r->maxconn > AGENT_MAXCONN_MAX) ||
	    !memchr(r->reason, '\0', sizeof(r->reason)))
		return -EINVAL;
	if (r->admin == AGENT_ADMIN_NONE && r->health == AGENT_HEALTH_NONE && !r->has_weight_pct &&
	    !r->has_weight && !r->maxconn_ignored)
		return -EINVAL;
	if (!buf || size == 0)
		return -ENOSPC;
	for (const char *c = r->reason; *c; c++) {
		if (*c != '\t' && (*c < 0x20 || *c > 0x7e))
			return -EINVAL;
	}
	if (r->health != AGENT_HEALTH_NONE) {
		agent_append(buf, size, &used, "%s%s", sep, agent_health_name(r->health));
		sep = " ";
	}
	if (r->admin != AGENT_ADMIN_NONE) {
		agent_append(buf, size, &used, "%s%s", sep, agent_admin_name(r->admin));
		sep = " ";
	}
	if (r->has_weight_pct) {
		agent_append(buf, size, &used, "%s%u%%", sep, r->weight_pct);
		sep = " ";
	}
	if (r->has_weight) {
		agent_append(buf, size, &used, "%sweight:%u", sep, r->weight);
		sep = " ";
	}
	if (r->maxconn_ignored)
		agent_append(buf, size, &used, "%smaxconn:%u", sep, r->maxconn);
	if (r->reason[0])
		agent_append(buf, size, &used, " # %s", r->reason);
	return used < size ? 0 : -ENOSPC;
}

const char *agent_admin_name(enum agent_admin admin)
{
	switch (admin) {
	case AGENT_ADMIN_READY:
		return "ready";
	case AGENT_ADMIN_DRAIN:
		return "drain";
	case AGENT_ADMIN_MAINT:
		return "maint";
	case AGENT_ADMIN_NONE:
		break;
	}
	return "none";
}

const char *agent_health_name(enum agent_health health)
{
	switch (health) {
	case AGENT_HEALTH_UP:
		return "up";
	case AGENT_HEALTH_DOWN:
		return "down";
	case AGENT_HEALTH_NONE:
		break;
	}
	return "none";
}
