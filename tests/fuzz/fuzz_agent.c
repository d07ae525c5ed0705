/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Agent check replies (controlplane/agent.c) on any bytes, and what lbd's
 * model makes of them (model_backend_agent_result()).
 *
 * The input is what a GPU node's agent sends on one connection. It is parsed
 * whole, as agent_parse_line() is documented to take any bytes; then line by
 * line as the health engine hands it over (each line up to its '\n'), each
 * line being the next report of the same agent to three backends that differ
 * in configured weight and in their VIP's percentage step.
 *
 * Invariants:
 *  - a refused reply leaves the report untouched and explains itself in a
 *    NUL-terminated, printable-ASCII message within the buffer, however
 *    small (a hostile agent cannot forge a log line); an accepted one holds
 *    only printable bytes and tabs, no more than AGENT_LINE_MAX of them;
 *  - an accepted report is within its bounds (percentage 0..1000, weight
 *    0..256, never both, known words), and its canonical form
 *    (agent_fmt_report) parses back to the same report and is a fixed point;
 *  - the model keeps the last good report (a bad or missing reply changes
 *    nothing but the error), its effective weight is exactly the documented
 *    formula, within bounds, and a little load is never "no new flows".
 */
#include <errno.h>
#include <string.h>

#include "controlplane/agent.h"
#include "controlplane/conf.h"
#include "controlplane/model.h"
#include "tests/fuzz/fuzz.h"

#define LINES_MAX 8

static struct conf *cfg;

/* Three VIPs with percentage steps 1, 7 and 100; one backend each, of
 * weights 1, 100 and 256. No health checks: the backends are up. */
static const char config_text[] =
	"dataplane = { mode = \"xdp\"; encap_source_v4 = \"10.0.0.2\";\n"
	"  xdp = { interfaces = [ \"eth0\" ]; }; };\n"
	"health_defaults = { type = \"none\"; agent_port = 5555; };\n"
	"vips = (\n"
	"  { name = \"a\"; protocol = \"tcp\"; address = \"192.0.2.1\"; port = 80;\n"
	"    health = { agent_weight_step_pct = 1; };\n"
	"    backends = ( { name = \"b\"; address = \"10.1.0.1\"; weight = 1; } ); },\n"
	"  { name = \"b\"; protocol = \"tcp\"; address = \"192.0.2.2\"; port = 80;\n"
	"    health = { agent_weight_step_pct = 7; };\n"
	"    backends = ( { name = \"b\"; address = \"10.1.0.2\"; weight = 100; } ); },\n"
	"  { name = \"c\"; protocol = \"tcp\"; address = \"192.0.2.3\"; port = 80;\n"
	"    health = { agent_weight_step_pct = 100; };\n"
	"    backends = ( { name = \"b\"; address = \"10.1.0.3\"; weight = 256; } ); } );\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct conf_errors errors;

	(void)argc, (void)argv;
	cfg = conf_load_string(config_text, "agent.conf", &errors);
	if (!cfg) {
		for (__u32 i = 0; i < errors.count; i++)
			fprintf(stderr, "%s\n", errors.messages[i]);
		abort();
	}
	return 0;
}

static int reports_equal(const struct agent_report *a, const struct agent_report *b)
{
	return a->has_weight_pct == b->has_weight_pct &&
	       (!a->has_weight_pct || a->weight_pct == b->weight_pct) &&
	       a->has_weight == b->has_weight && (!a->has_weight || a->weight == b->weight) &&
	       a->admin == b->admin && a->health == b->health &&
	       a->maxconn_ignored == b->maxconn_ignored &&
	       (!a->maxconn_ignored || a->maxconn == b->maxconn) &&
	       strcmp(a->reason, b->reason) == 0;
}

static void check_report(const struct agent_report *r)
{
	FUZZ_CHECK(!r->has_weight_pct || r->weight_pct <= AGENT_WEIGHT_PCT_MAX, "percentage %u",
		   r->weight_pct);
	FUZZ_CHECK(!r->has_weight || r->weight <= AGENT_WEIGHT_MAX, "weight %u", r->weight);
	FUZZ_CHECK(!(r->has_weight && r->has_weight_pct), "both weights");
	FUZZ_CHECK(r->admin <= AGENT_ADMIN_MAINT && r->health <= AGENT_HEALTH_DOWN, "enums");
	FUZZ_CHECK(!r->maxconn_ignored || r->maxconn <= AGENT_MAXCONN_MAX, "maxconn %u",
		   r->maxconn);
	FUZZ_CHECK(r->has_weight_pct || r->has_weight || r->admin || r->health ||
			   r->maxconn_ignored,
		   "a report that says nothing");
	size_t n = strnlen(r->reason, sizeof(r->reason));
	FUZZ_CHECK(n < sizeof(r->reason), "reason not terminated");
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(r->reason[i] == '\t' || (r->reason[i] >= 0x20 && r->reason[i] <= 0x7e),
			   "reason byte 0x%02x", (unsigned char)r->reason[i]);
	if (n)
		FUZZ_CHECK(r->reason[0] != ' ' && r->reason[0] != '\t' && r->reason[n - 1] != ' ' &&
				   r->reason[n - 1] != '\t',
			   "reason \"%s\" not trimmed", r->reason);
}

/* The canonical form parses back to the same report, and stays put. */
static void check_canonical(const struct agent_report *r)
{
	char buf[AGENT_LINE_MAX + 1], again[AGENT_LINE_MAX + 1], err[AGENT_ERROR_LEN];
	struct agent_report back;

	FUZZ_CHECK(agent_fmt_report(r, buf, sizeof(buf)) == 0, "a parsed report does not format");
	FUZZ_CHECK(agent_parse_line(buf, strlen(buf), &back, err, sizeof(err)) == 0,
		   "canonical \"%s\" refused: %s", buf, err);
	FUZZ_CHECK(reports_equal(r, &back), "\"%s\" parses to another report", buf);
	FUZZ_CHECK(agent_fmt_report(&back, again, sizeof(again)) == 0 && strcmp(buf, again) == 0,
		   "\"%s\" is not a fixed point", buf);
}

/* Parses one reply exactly as given; err_size varies so that every length
 * of the message buffer is tried against the longest messages. */
static int parse_checked(const char *line, size_t length, size_t err_size,
			 struct agent_report *out)
{
	char *copy = fuzz_dup_exact(line, length);
	char *err = malloc(err_size ? err_size : 1);
	struct agent_report r;
	int rc;

	FUZZ_CHECK(err != NULL, "out of memory");
	memset(&r, 0xa5, sizeof(r));
	struct agent_report before = r;
	rc = agent_parse_line(copy, length, &r, err, err_size);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL, "rc %d", rc);
	if (rc) {
		FUZZ_CHECK(memcmp(&r, &before, sizeof(r)) == 0, "a refused reply changed the report");
		if (err_size) {
			size_t n = strnlen(err, err_size);
			FUZZ_CHECK(n < err_size, "message not terminated in %zu bytes", err_size);
			FUZZ_CHECK(n > 0 || err_size == 1, "refused without a word");
			for (size_t i = 0; i < n; i++)
				FUZZ_CHECK(err[i] >= 0x20 && err[i] <= 0x7e,
					   "message byte 0x%02x: a reply could forge log lines",
					   (unsigned char)err[i]);
		}
	} else {
		size_t n = length;
		if (n && copy[n - 1] == '\n')
			n--;
		if (n && copy[n - 1] == '\r')
			n--;
		FUZZ_CHECK(n <= AGENT_LINE_MAX, "a %zu-byte reply accepted", n);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(copy[i] == '\t' || (copy[i] >= 0x20 && copy[i] <= 0x7e),
				   "byte 0x%02x accepted", (unsigned char)copy[i]);
		check_report(&r);
		*out = r;
	}
	free(err);
	free(copy);
	return rc;
}

/* The documented effective weight, computed apart from the model. */
static __u32 expected_centi(const struct model_backend *b)
{
	__u32 base = b->weight, pct = 100;

	if (model_backend_admin(b, NULL) != CONF_ADMIN_READY || !model_backend_up(b))
		return 0;
	if (b->agent_valid && b->agent.has_weight)
		base = b->agent.weight;
	if (b->agent_valid && b->agent.has_weight_pct) {
		__u32 step = b->vip->health.agent_weight_step_pct;
		pct = (b->agent.weight_pct + step / 2) / step * step;
		if (pct == 0 && b->agent.weight_pct > 0)
			pct = step;
	}
	return base * pct;
}

static void apply(struct model_backend *b, const struct agent_report *r, const char *error)
{
	struct agent_report before = b->agent;
	bool valid_before = b->agent_valid;

	model_backend_agent_result(b, r, error);
	if (!r) {
		FUZZ_CHECK(!b->agent_reachable && b->agent_error[0], "a failed read left no error");
		FUZZ_CHECK(b->agent_valid == valid_before &&
				   (!valid_before || reports_equal(&before, &b->agent)),
			   "a failed read changed the last good report");
	} else {
		FUZZ_CHECK(b->agent_valid && b->agent_reachable && !b->agent_error[0],
			   "a good report not taken");
		if (r->has_weight_pct)
			FUZZ_CHECK(b->agent.has_weight_pct && b->agent.weight_pct == r->weight_pct,
				   "percentage not taken");
		if (r->has_weight)
			FUZZ_CHECK(b->agent.has_weight && b->agent.weight == r->weight,
				   "weight not taken");
		if (r->admin)
			FUZZ_CHECK(b->admin[MODEL_BY_AGENT] ==
					   (r->admin == AGENT_ADMIN_MAINT   ? CONF_ADMIN_MAINT
					    : r->admin == AGENT_ADMIN_DRAIN ? CONF_ADMIN_DRAIN
									    : CONF_ADMIN_READY),
				   "the agent's admin opinion not taken");
		if (r->health == AGENT_HEALTH_DOWN)
			FUZZ_CHECK(!model_backend_up(b), "up after the agent said down");
		FUZZ_CHECK(strcmp(b->agent.reason, r->reason) == 0, "reason not taken");
	}
	/* What lbctl backend show prints of the report. The model keeps only
	 * what it applies (maxconn is not: a reply of nothing else leaves
	 * nothing to print), and a percentage and an absolute weight from
	 * different replies combine (model.h) where no single reply may say
	 * both: those two states have no canonical line. */
	const struct agent_report *k = &b->agent;
	if (b->agent_valid && !(k->has_weight && k->has_weight_pct) &&
	    (k->has_weight || k->has_weight_pct || k->admin || k->health))
		check_canonical(k);

	__u32 centi = model_backend_weight_centi(b);
	FUZZ_CHECK(centi == expected_centi(b), "effective weight %u, formula %u", centi,
		   expected_centi(b));
	FUZZ_CHECK(centi <= CONF_WEIGHT_MAX * (AGENT_WEIGHT_PCT_MAX + 100), "weight %u", centi);
	if (b->agent_valid && b->agent.has_weight_pct && b->agent.weight_pct > 0 &&
	    (b->agent.has_weight ? b->agent.weight : b->weight) > 0 &&
	    model_backend_admin(b, NULL) == CONF_ADMIN_READY && model_backend_up(b))
		FUZZ_CHECK(centi > 0, "%u%% made no new flows", b->agent.weight_pct);
	enum model_table_state state = model_backend_table_state(b);
	FUZZ_CHECK(state == MODEL_TABLE_ABSENT || (state == MODEL_TABLE_READY) == (centi > 0),
		   "table state %d with weight %u", state, centi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_report r;
	const char *text = (const char *)data;

	if (parse_checked(text, size, AGENT_ERROR_LEN, &r) == 0)
		check_canonical(&r);
	parse_checked(text, size, size % 48, &r);

	/* Line by line, as the health engine reads an agent. */
	struct model *m = model_create(cfg);
	FUZZ_CHECK(m != NULL, "model_create");
	size_t at = 0;
	for (int line = 0; line < LINES_MAX && at < size; line++) {
		const char *nl = memchr(text + at, '\n', size - at);
		size_t len = nl ? (size_t)(nl - (text + at)) : size - at;
		int rc = parse_checked(text + at, len, AGENT_ERROR_LEN, &r);
		for (__u32 v = 0; v < m->vip_count; v++)
			apply(m->vips[v]->backends[0], rc == 0 ? &r : NULL, "refused");
		at += len + 1;
	}
	model_destroy(m);
	return 0;
}
