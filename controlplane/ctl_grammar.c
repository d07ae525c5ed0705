/* SPDX-License-Identifier: BSD-3-Clause */
/* The grammar of lbctl and of lbd's control socket (controlplane/ctl_grammar.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/ctl_grammar.h"

#define VIP_ARG      { "VIP", CTL_NAME, NULL, 0, 0, "the VIP's name" }
#define BACKEND_ARG  { "BACKEND", CTL_NAME, NULL, 0, 0, "the backend's name, unique in its VIP" }
#define WEIGHT_OPT   { "weight", CTL_UINT, NULL, 0, 256, "configured weight, 0..256 (0: no new flows)" }
#define STATE_OPT    { "state", CTL_CHOICE, "ready|drain|maint", 0, 0, \
		       "admin state: ready, drain (existing flows only) or maint (out)" }
#define BY_OPT       { "by", CTL_CHOICE, "operator|scaler", 0, 0, \
		       "who asks (default operator); the most restrictive source wins" }
#define FORCE_OPT    { "--force", CTL_FLAG, NULL, 0, 0, "even while it still carries flows" }

static const struct ctl_command ctl_commands[] = {
	{ CTL_CMD_INFO, "info", NULL, {}, 0, 0, {}, 0, false, true,
	  "what lbd runs: dataplane, generation in service, counts" },
	{ CTL_CMD_VIP_LIST, "vip", "list", {}, 0, 0, {}, 0, false, true,
	  "every VIP with its backends up and whether it is announced" },
	{ CTL_CMD_VIP_SHOW, "vip", "show", { VIP_ARG }, 1, 1, {}, 0, false, true,
	  "one VIP in detail, with its backends" },
	{ CTL_CMD_VIP_ADD, "vip", "add",
	  { VIP_ARG,
	    { "PROTOCOL", CTL_CHOICE, "tcp|udp", 0, 0, "tcp or udp" },
	    { "ADDRESS", CTL_ADDR, NULL, 0, 0, "IPv4 or IPv6 address" },
	    { "PORT", CTL_UINT, NULL, 1, 65535, "1..65535" } },
	  4, 4,
	  { { "table_size", CTL_UINT, NULL, 7, 16777213, "Maglev slots, a prime (default 65537)" },
	    { "min_up", CTL_UINT, NULL, 0, 65535, "backends needed to announce it (default 1)" },
	    { "health", CTL_CHOICE, "none|tcp|tcp-half-open|http", 0, 0,
	      "check type; other health settings from health_defaults" } },
	  3, false, false, "add a VIP (health settings from health_defaults)" },
	{ CTL_CMD_VIP_DEL, "vip", "del", { VIP_ARG }, 1, 1, { FORCE_OPT }, 1, false, false,
	  "delete a VIP; refused while its backends carry flows, unless --force" },
	{ CTL_CMD_VIP_SET, "vip", "set", { VIP_ARG }, 1, 1,
	  { { "min_up", CTL_UINT, NULL, 0, 65535, "backends needed to announce it" },
	    { "table_size", CTL_UINT, NULL, 7, 16777213, "Maglev slots, a prime" } },
	  2, true, false, "change a VIP's min_up or table size" },
	{ CTL_CMD_BACKEND_LIST, "backend", "list", { VIP_ARG }, 1, 0, {}, 0, false, true,
	  "backends of every VIP, or of one: state, health, weights, flows" },
	{ CTL_CMD_BACKEND_SHOW, "backend", "show", { VIP_ARG, BACKEND_ARG }, 2, 2, {}, 0, false,
	  true, "one backend in detail: every source's opinion, health, agent, counters" },
	{ CTL_CMD_BACKEND_ADD, "backend", "add",
	  { VIP_ARG, BACKEND_ARG, { "ADDRESS", CTL_ADDR, NULL, 0, 0, "IPv4 or IPv6 address" } },
	  3, 3,
	  { { "port", CTL_UINT, NULL, 1, 65535, "default: the VIP's port" }, WEIGHT_OPT, STATE_OPT,
	    BY_OPT },
	  4, false, false, "add a backend; it starts down and enters after `rise` checks" },
	{ CTL_CMD_BACKEND_DEL, "backend", "del", { VIP_ARG, BACKEND_ARG }, 2, 2, { FORCE_OPT }, 1,
	  false, false, "delete a backend; refused while it carries flows, unless --force" },
	{ CTL_CMD_BACKEND_SET, "backend", "set", { VIP_ARG, BACKEND_ARG }, 2, 2,
	  { STATE_OPT, WEIGHT_OPT, BY_OPT }, 3, true, false,
	  "set a backend's admin state (as operator or scaler) or weight" },
	{ CTL_CMD_HEALTH_SHOW, "health", "show", { VIP_ARG }, 1, 0, {}, 0, false, true,
	  "health and agent results of every backend, or of one VIP's" },
	{ CTL_CMD_HEALTH_POLL, "health", "poll", { VIP_ARG, BACKEND_ARG }, 2, 1, {}, 0, false, false,
	  "check a VIP's backends (or one) now instead of when due" },
	{ CTL_CMD_STATS, "stats", NULL, {}, 0, 0,
	  { { "--rate", CTL_FLAG, NULL, 0, 0, "per-second rates over lbd's last sample" } }, 1,
	  false, true, "dataplane counters, per VIP and per backend" },
	{ CTL_CMD_LOOKUP, "lookup",
	  NULL,
	  { VIP_ARG,
	    { "CLIENT", CTL_CLIENT, NULL, 0, 0,
	      "client ADDRESS[:PORT] ([IPV6]:PORT); no port: as a fragment" } },
	  2, 2, {}, 0, false, true,
	  "the backend a client's flow gets, and whether the flow table holds it" },
	{ CTL_CMD_CONFIG_CHECK, "config", "check", {}, 0, 0, {}, 0, false, false,
	  "check the configuration file as a reload would, without applying it" },
	{ CTL_CMD_CONFIG_RELOAD, "config", "reload", {}, 0, 0, {}, 0, false, false,
	  "re-read the file and apply what changed in it (as SIGHUP)" },
	{ CTL_CMD_CONFIG_SHOW, "config", "show", {}, 0, 0, {}, 0, false, true,
	  "the running configuration, run-time changes included, as a config file" },
	{ CTL_CMD_STATE_SHOW, "state", "show", {}, 0, 0, {}, 0, false, true,
	  "the run-time changes the state file keeps" },
	{ CTL_CMD_STATE_SAVE, "state", "save", {}, 0, 0, {}, 0, false, false,
	  "write the state file now (lbd also writes it after every change)" },
	{ CTL_CMD_MONITOR, "monitor", NULL, {}, 0, 0, {}, 0, false, true,
	  "stream events (health, state, publications), one JSON line each" },
	{ CTL_CMD_HELP, "help", NULL, { { "OBJECT", CTL_WORD, NULL, 0, 0, "a command's first word" } },
	  1, 0, {}, 0, false, true, "this help, or one object's commands in detail" },
};

const struct ctl_command *ctl_grammar_commands(__u32 *count)
{
	*count = sizeof(ctl_commands) / sizeof(ctl_commands[0]);
	return ctl_commands;
}

static void ctl_err(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void ctl_err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

static void ctl_append(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void ctl_append(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strnlen(buf, size);
	va_list ap;

	if (used + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

int ctl_grammar_split(char *line, char **words, int max, char *err, size_t err_size)
{
	char *in = line, *out = line;
	int n = 0;

	for (;;) {
		while (*in == ' ' || *in == '\t')
			in++;
		if (*in == '\0' || *in == '\n' || (*in == '\r' && in[1] == '\n') ||
		    (*in == '\r' && in[1] == '\0'))
			break;
		if (n == max) {
			ctl_err(err, err_size, "more than %d words", max);
			return -E2BIG;
		}
		words[n++] = out;
		bool quoted = false;
		for (;;) {
			char c = *in;
			if (c == '\0' || ((c == '\n' || c == '\r') && !quoted))
				break;
			if ((unsigned char)c < 0x20 && c != '\t') {
				ctl_err(err, err_size, "control character 0x%02x in the request",
					(unsigned char)c);
				return -EINVAL;
			}
			in++;
			if (c == '"') {
				quoted = !quoted;
				continue;
			}
			if (!quoted && (c == ' ' || c == '\t'))
				break;
			if (c == '\\' && quoted) {
				if (*in == '\0') {
					ctl_err(err, err_size, "a backslash ends the request");
					return -EINVAL;
				}
				c = *in++;
			}
			*out++ = c;
		}
		if (quoted) {
			ctl_err(err, err_size, "unbalanced double quote");
			return -EINVAL;
		}
		bool end = *in == '\0' || *in == '\n' || *in == '\r';
		*out++ = '\0';
		if (end)
			break;
	}
	return n;
}

void ctl_grammar_fmt_word(const char *word, char *buf, size_t size)
{
	bool plain = *word != '\0';

	for (const char *c = word; *c && plain; c++)
		plain = *c != ' ' && *c != '\t' && *c != '"' && *c != '\\' && (unsigned char)*c >= 0x20;
	if (plain) {
		snprintf(buf, size, "%s", word);
		return;
	}
	size_t o = 0;
	if (size < 3) {
		if (size)
			*buf = '\0';
		return;
	}
	buf[o++] = '"';
	for (const char *c = word; *c && o + 3 < size; c++) {
		if (*c == '"' || *c == '\\')
			buf[o++] = '\\';
		buf[o++] = *c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

static void ctl_param_usage(const struct ctl_param *p, bool option, char *buf, size_t size)
{
	if (!option) {
		ctl_append(buf, size, "%s", p->name);
		return;
	}
	if (p->type == CTL_FLAG)
		ctl_append(buf, size, "%s", p->name);
	else if (p->type == CTL_CHOICE)
		ctl_append(buf, size, "%s %s", p->name, p->choices);
	else
		ctl_append(buf, size, "%s N", p->name);
}

void ctl_grammar_usage(const struct ctl_command *c, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", c->object, c->verb ? " " : "", c->verb ? c->verb : "");
	for (__u8 i = 0; i < c->arg_count; i++) {
		const struct ctl_param *p = &c->args[i];
		ctl_append(buf, size, " %s", i < c->required ? "" : "[");
		if (p->type == CTL_CHOICE)
			ctl_append(buf, size, "%s", p->choices);
		else
			ctl_param_usage(p, false, buf, size);
		if (i >= c->required)
			ctl_append(buf, size, "]");
	}
	for (__u8 i = 0; i < c->opt_count; i++) {
		ctl_append(buf, size, " [");
		ctl_param_usage(&c->opts[i], true, buf, size);
		ctl_append(buf, size, "]");
	}
	if (c->needs_opt)
		ctl_append(buf, size, "  (at least one option)");
}

static bool ctl_is_name(const char *w)
{
	if (!*w || strlen(w) >= 64)
		return false;
	for (; *w; w++)
		if (!((*w >= 'a' && *w <= 'z') || (*w >= 'A' && *w <= 'Z') || (*w >= '0' && *w <= '9') ||
		      *w == '-' || *w == '_' || *w == '.'))
			return false;
	return true;
}

static bool ctl_parse_uint(const char *w, __u32 min, __u32 max, __u32 *out)
{
	unsigned long long v = 0;

	if (!*w || strlen(w) > 10)
		return false;
	for (const char *c = w; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		v = v * 10 + (unsigned)(*c - '0');
	}
	if (v < min || v > max)
		return false;
	*out = (__u32)v;
	return true;
}

__u32 ctl_grammar_uint(const char *word)
{
	__u32 v = 0;

	ctl_parse_uint(word, 0, UINT32_MAX, &v);
	return v;
}

static bool ctl_choice_ok(const char *choices, const char *w)
{
	size_t n = strlen(w);

	for (const char *c = choices; *c;) {
		const char *bar = strchr(c, '|');
		size_t len = bar ? (size_t)(bar - c) : strlen(c);
		if (len == n && strncmp(c, w, n) == 0)
			return true;
		c += len + (bar ? 1 : 0);
	}
	return false;
}

int ctl_grammar_client(const char *word, __u8 *family, __be32 addr[4], __u16 *port)
{
	char host[64];
	const char *colon = NULL;
	__u32 p = 0;

	memset(addr, 0, 16);
	*port = 0;
	if (word[0] == '[') {
		const char *close = strchr(word, ']');
		if (!close || (size_t)(close - word - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, word + 1, (size_t)(close - word - 1));
		host[close - word - 1] = '\0';
		if (close[1] == ':')
			colon = close + 1;
		else if (close[1] != '\0')
			return -EINVAL;
	} else {
		const char *first = strchr(word, ':');
		if (first && strchr(first + 1, ':') == NULL)
			colon = first; /* a.b.c.d:port; several colons: bare IPv6 */
		size_t len = colon ? (size_t)(colon - word) : strlen(word);
		if (len >= sizeof(host))
			return -EINVAL;
		memcpy(host, word, len);
		host[len] = '\0';
	}
	if (colon && !ctl_parse_uint(colon + 1, 1, 65535, &p))
		return -EINVAL;
	if (inet_pton(AF_INET, host, addr) == 1 && word[0] != '[')
		*family = 4;
	else if (inet_pton(AF_INET6, host, addr) == 1)
		*family = 6;
	else
		return -EINVAL;
	*port = (__u16)p;
	return 0;
}

/* Checks one value; returns a complaint or NULL. */
static const char *ctl_check_value(const struct ctl_param *p, const char *w, char *why, size_t size)
{
	__u32 v;
	__u8 family;
	__be32 addr[4];
	__u16 port;

	switch (p->type) {
	case CTL_FLAG:
	case CTL_WORD:
		return NULL;
	case CTL_NAME:
		if (ctl_is_name(w))
			return NULL;
		snprintf(why, size, "is not a name (letters, digits, - _ . ; at most 63)");
		return why;
	case CTL_UINT:
		if (ctl_parse_uint(w, p->min, p->max, &v))
			return NULL;
		snprintf(why, size, "is not a number in %u..%u", p->min, p->max);
		return why;
	case CTL_CHOICE:
		if (ctl_choice_ok(p->choices, w))
			return NULL;
		snprintf(why, size, "is not one of %s", p->choices);
		return why;
	case CTL_ADDR:
		if (inet_pton(AF_INET, w, addr) == 1 || inet_pton(AF_INET6, w, addr) == 1)
			return NULL;
		snprintf(why, size, "is not an IPv4 or IPv6 address");
		return why;
	case CTL_CLIENT:
		if (ctl_grammar_client(w, &family, addr, &port) == 0)
			return NULL;
		snprintf(why, size, "is not ADDRESS, ADDRESS:PORT or [IPV6]:PORT");
		return why;
	}
	return NULL;
}

static const struct ctl_command *ctl_find(const char *object, const char *verb, bool *object_known)
{
	*object_known = false;
	for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++) {
		const struct ctl_command *c = &ctl_commands[i];
		if (strcmp(c->object, object) != 0)
			continue;
		*object_known = true;
		if (!c->verb || (verb && strcmp(c->verb, verb) == 0))
			return c;
	}
	return NULL;
}

static void ctl_err_usage(const struct ctl_command *c, char *err, size_t err_size, const char *fmt,
			  ...) __attribute__((format(printf, 4, 5)));

static void ctl_err_usage(const struct ctl_command *c, char *err, size_t err_size, const char *fmt,
			  ...)
{
	char usage[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	ctl_grammar_usage(c, usage, sizeof(usage));
	ctl_append(err, err_size, "; usage: %s", usage);
}

/* Whether word, after `given` positional words, starts c's options: an
 * option keyword once the required positionals are there. */
static bool ctl_ends_positionals(const struct ctl_command *c, const char *word, __u8 given)
{
	if (given < c->required)
		return false;
	for (__u8 o = 0; o < c->opt_count; o++)
		if (strcmp(word, c->opts[o].name) == 0)
			return true;
	return false;
}

int ctl_grammar_parse(int count, char *const *words, struct ctl_request *req, char *err,
		      size_t err_size)
{
	bool known;
	char why[128];

	memset(req, 0, sizeof(*req));
	if (count < 1) {
		ctl_err(err, err_size, "empty request; try: help");
		return -EINVAL;
	}
	const struct ctl_command *c = ctl_find(words[0], count > 1 ? words[1] : NULL, &known);
	if (!c) {
		char verbs[256] = "";
		for (size_t i = 0; known && i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
			if (strcmp(ctl_commands[i].object, words[0]) == 0)
				ctl_append(verbs, sizeof(verbs), "%s%s", *verbs ? "|" : "",
					   ctl_commands[i].verb);
		if (!known)
			ctl_err(err, err_size, "unknown command \"%.64s\"; try: help", words[0]);
		else if (count < 2)
			ctl_err(err, err_size, "%s needs a command: %s", words[0], verbs);
		else
			ctl_err(err, err_size, "unknown command \"%.64s %.64s\"; %s takes %s",
				words[0], words[1], words[0], verbs);
		return -EINVAL;
	}
	req->cmd = c;
	int w = c->verb ? 2 : 1;
	__u8 given = 0;
	while (w < count && given < c->arg_count) {
		/* An option keyword ends the positional words early. */
		if (ctl_ends_positionals(c, words[w], given))
			break;
		const char *bad = ctl_check_value(&c->args[given], words[w], why, sizeof(why));
		if (bad) {
			ctl_err_usage(c, err, err_size, "%s \"%.64s\" %s", c->args[given].name, words[w],
				      bad);
			return -EINVAL;
		}
		req->args[given++] = words[w++];
	}
	if (given < c->required) {
		ctl_err_usage(c, err, err_size, "missing %s", c->args[given].name);
		return -EINVAL;
	}
	bool any_opt = false;
	while (w < count) {
		const struct ctl_param *p = NULL;
		__u8 o;
		for (o = 0; o < c->opt_count; o++) {
			if (strcmp(words[w], c->opts[o].name) == 0) {
				p = &c->opts[o];
				break;
			}
		}
		if (!p) {
			ctl_err_usage(c, err, err_size, "unexpected \"%.64s\"", words[w]);
			return -EINVAL;
		}
		if (req->opts[o]) {
			ctl_err_usage(c, err, err_size, "%s given twice", p->name);
			return -EINVAL;
		}
		if (p->type == CTL_FLAG) {
			req->opts[o] = "";
			w++;
			continue;
		}
		if (w + 1 >= count) {
			ctl_err_usage(c, err, err_size, "%s needs a value", p->name);
			return -EINVAL;
		}
		const char *bad = ctl_check_value(p, words[w + 1], why, sizeof(why));
		if (bad) {
			ctl_err_usage(c, err, err_size, "%s \"%.64s\" %s", p->name, words[w + 1], bad);
			return -EINVAL;
		}
		req->opts[o] = words[w + 1];
		any_opt |= strcmp(p->name, "by") != 0;
		w += 2;
	}
	if (c->needs_opt && !any_opt) {
		ctl_err_usage(c, err, err_size, "nothing to set");
		return -EINVAL;
	}
	return 0;
}

int ctl_grammar_help(const char *object, char *buf, size_t size)
{
	char usage[512];
	bool found = false;

	*buf = '\0';
	for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++) {
		const struct ctl_command *c = &ctl_commands[i];
		if (object && strcmp(c->object, object) != 0)
			continue;
		found = true;
		ctl_grammar_usage(c, usage, sizeof(usage));
		ctl_append(buf, size, "%s\n    %s\n", usage, c->summary);
		if (!object)
			continue;
		for (__u8 a = 0; a < c->arg_count; a++)
			ctl_append(buf, size, "      %-10s %s\n", c->args[a].name, c->args[a].help);
		for (__u8 o = 0; o < c->opt_count; o++)
			ctl_append(buf, size, "      %-10s %s\n", c->opts[o].name, c->opts[o].help);
	}
	return found ? 0 : -ENOENT;
}

/* Candidates for one parameter's value. vip: the command's VIP argument. */
static void ctl_complete_value(const struct ctl_param *p, const char *vip, char *buf, size_t size)
{
	if (p->type == CTL_CHOICE) {
		char choices[128];
		snprintf(choices, sizeof(choices), "%s", p->choices);
		for (char *save = NULL, *c = strtok_r(choices, "|", &save); c;
		     c = strtok_r(NULL, "|", &save))
			ctl_append(buf, size, "%s\n", c);
	} else if (p->type == CTL_NAME && strcmp(p->name, "VIP") == 0) {
		ctl_append(buf, size, "@VIP\n");
	} else if (p->type == CTL_NAME && strcmp(p->name, "BACKEND") == 0 && vip) {
		ctl_append(buf, size, "@BACKEND:%s\n", vip);
	} else if (p->type == CTL_WORD) {
		/* help OBJECT: the objects. */
		for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
			if (i == 0 || strcmp(ctl_commands[i].object, ctl_commands[i - 1].object))
				ctl_append(buf, size, "%s\n", ctl_commands[i].object);
	}
}

void ctl_grammar_complete(int count, char *const *words, char *buf, size_t size)
{
	bool known, used[CTL_OPTS_MAX] = { false };

	*buf = '\0';
	if (count == 0) {
		ctl_complete_value(&(struct ctl_param){ .type = CTL_WORD }, NULL, buf, size);
		return;
	}
	const struct ctl_command *c = ctl_find(words[0], count > 1 ? words[1] : NULL, &known);
	if (!c && known && count == 1) {
		for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
			if (strcmp(ctl_commands[i].object, words[0]) == 0 && ctl_commands[i].verb)
				ctl_append(buf, size, "%s\n", ctl_commands[i].verb);
		return;
	}
	if (!c)
		return;
	int w = c->verb ? 2 : 1;
	__u8 given = 0;
	const char *vip = NULL;
	/* The positional words, as the parser takes them. */
	while (w < count && given < c->arg_count) {
		if (ctl_ends_positionals(c, words[w], given))
			break;
		if (strcmp(c->args[given].name, "VIP") == 0)
			vip = words[w];
		given++, w++;
	}
	if (w == count && given < c->arg_count) {
		ctl_complete_value(&c->args[given], vip, buf, size);
		if (given < c->required)
			return;
	}
	/* Then keyword options, each once. */
	while (w < count) {
		__u8 o;
		for (o = 0; o < c->opt_count && strcmp(words[w], c->opts[o].name); o++)
			;
		if (o == c->opt_count)
			return; /* not a command line the parser takes */
		used[o] = true;
		if (c->opts[o].type == CTL_FLAG) {
			w++;
			continue;
		}
		if (w + 1 == count) {
			ctl_complete_value(&c->opts[o], vip, buf, size);
			return;
		}
		w += 2;
	}
	for (__u8 o = 0; o < c->opt_count; o++)
		if (!used[o])
			ctl_append(buf, size, "%s\n", c->opts[o].name);
}
