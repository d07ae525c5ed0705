/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the benchmark programs: a monotonic clock, repeated runs
 * reported as median with min and max, ratios against a baseline, a line
 * describing the machine, the options every program takes (--runs N,
 * --json FILE), and the JSON file the suite (tests/bench/suite.sh) merges.
 * Benchmarks print figures; they never pass or fail on time.
 *
 * The JSON a program writes with --json, one object:
 *
 *   { "program": "bench_maglev", "runs": 7,
 *     "machine": { "cpu": "...", "cores": 2, "kernel": "..." },
 *     "context": { "key": "what the figures depend on", ... },
 *     "figures": [ { "name": "N=100, M=65537", "unit": "ms", "better": "lower",
 *                    "runs": 7, "median": 2.1, "min": 1.9, "max": 2.5,
 *                    "baseline": "ring write, M=65537",
 *                    "ratio": { "median": 112, "min": 98, "max": 130,
 *                               "method": "paired" } }, ... ] }
 *
 * "baseline" names another figure of the same file (or is null); "ratio"
 * is this figure over that one in the same unit (so for Mpps it is the
 * fraction of the ceiling, for times the cost in multiples of the
 * baseline's), null when there is no baseline. Its "method" says how its
 * range was found: "paired", per run against the baseline run measured
 * beside it (the median of those ratios); "bounds", from two figures not
 * measured side by side (median over median, min over max, max over min).
 * Any step of the suite that writes figures this way (the system benchmark
 * too) is merged, tabled and plotted without knowing what it measured.
 */
#ifndef FULCRUM_BENCH_H
#define FULCRUM_BENCH_H

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define BENCH_RUNS     7  /* runs per figure unless --runs says otherwise */
#define BENCH_RUNS_MAX 99 /* what --runs takes, and the arrays of samples hold */

struct bench_stat {
	double median, min, max;
};

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int bench_double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median, min and max of n samples (sorts them in place). */
static inline struct bench_stat bench_summarize(double *samples, int n)
{
	struct bench_stat s;

	qsort(samples, (size_t)n, sizeof(*samples), bench_double_cmp);
	s.min = samples[0];
	s.max = samples[n - 1];
	s.median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
	return s;
}

/*
 * The ratio of two figures measured side by side: values[i] / baselines[i]
 * for each of n (at most BENCH_RUNS_MAX) runs, summarized. Leaves both
 * arrays as they were, so call it before bench_summarize() sorts them.
 */
static inline struct bench_stat bench_ratio_paired(const double *values, const double *baselines,
						   int n)
{
	double r[BENCH_RUNS_MAX];

	for (int i = 0; i < n; i++)
		r[i] = values[i] / baselines[i];
	return bench_summarize(r, n);
}

/* The ratio of two figures not measured side by side: median over median,
 * and the widest range their runs allow. */
static inline struct bench_stat bench_ratio_bounds(struct bench_stat v, struct bench_stat base)
{
	return (struct bench_stat){ v.median / base.median, v.min / base.max, v.max / base.min };
}

/* ---- the machine ---- */

struct bench_machine {
	char cpu[256];
	long cores; /* online */
	char kernel[128];
};

/* CPU model (/proc/cpuinfo), online cores and kernel release. */
static inline void bench_machine_get(struct bench_machine *m)
{
	char line[512];
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(m->cpu, sizeof(m->cpu), "unknown CPU");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "model name", 10) == 0) {
				char *colon = strchr(line, ':');
				if (colon) {
					snprintf(m->cpu, sizeof(m->cpu), "%s", colon + 2);
					m->cpu[strcspn(m->cpu, "\n")] = '\0';
				}
				break;
			}
		}
		fclose(f);
	}
	m->cores = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(m->kernel, sizeof(m->kernel), "%s", uname(&u) == 0 ? u.release : "unknown");
}

/* Prints CPU model, online cores and kernel, so figures carry their machine. */
static inline void bench_print_machine(void)
{
	struct bench_machine m;

	bench_machine_get(&m);
	printf("machine: %s, %ld cores, kernel %s\n", m.cpu, m.cores, m.kernel);
}

/* ---- options every benchmark takes ---- */

struct bench_options {
	int runs;              /* runs per figure */
	const char *json_path; /* where to write the figures too, or NULL */
};

#define BENCH_STR_(x) #x
#define BENCH_STR(x)  BENCH_STR_(x)
#define BENCH_OPTIONS_USAGE                                                                    \
	"  --json FILE  also write the figures to FILE as JSON (tests/bench/bench.h)\n"
#define BENCH_OPTIONS_RUNS_USAGE                                                               \
	"  --runs N     runs per figure, 1.." BENCH_STR(BENCH_RUNS_MAX) " (default "              \
		BENCH_STR(BENCH_RUNS) ")\n"

/*
 * Takes the options the suite passes to every benchmark out of argv,
 * wherever they stand, and leaves the program's own arguments (argv[0]
 * first, argv[*argc] NULL) for it to parse: --json FILE and, when
 * default_runs is not 0, --runs N (default_runs unless given; when it is 0,
 * --runs is left for the program's parser to refuse). Fills o. Returns 0,
 * or -1 after saying what is wrong on stderr.
 */
static inline int bench_options_take(int *argc, char **argv, int default_runs,
				     struct bench_options *o)
{
	const bool runs_allowed = default_runs > 0;
	int kept = 1;

	o->runs = default_runs;
	o->json_path = NULL;
	for (int i = 1; i < *argc; i++) {
		const bool json = strcmp(argv[i], "--json") == 0;
		const bool runs = runs_allowed && strcmp(argv[i], "--runs") == 0;
		if (!json && !runs) {
			argv[kept++] = argv[i];
			continue;
		}
		if (i + 1 >= *argc) {
			fprintf(stderr, "%s: %s needs a value\n", argv[0], argv[i]);
			return -1;
		}
		const char *value = argv[++i];
		if (json) {
			o->json_path = value;
			continue;
		}
		char *end;
		long n = strtol(value, &end, 10);
		if (*end || end == value || n < 1 || n > BENCH_RUNS_MAX) {
			fprintf(stderr, "%s: --runs %s: not a count from 1 to %d\n", argv[0], value,
				BENCH_RUNS_MAX);
			return -1;
		}
		o->runs = (int)n;
	}
	*argc = kept;
	argv[kept] = NULL;
	return 0;
}

/* ---- the JSON file (see the top of this file) ---- */

enum bench_better { BENCH_LOWER_BETTER, BENCH_HIGHER_BETTER };
enum bench_ratio_method { BENCH_RATIO_NONE, BENCH_RATIO_PAIRED, BENCH_RATIO_BOUNDS };

struct bench_figure {
	const char *name; /* unique within the program */
	const char *unit;
	enum bench_better better;
	int runs; /* the samples behind value */
	struct bench_stat value;
	const char *baseline; /* another figure's name, or NULL */
	enum bench_ratio_method ratio_method;
	struct bench_stat ratio; /* value / baseline's value, when there is one */
};

/* A file being written; f is NULL when no --json was given, and every call
 * below then does nothing. */
struct bench_json {
	FILE *f;
	const char *path;
	bool in_figures; /* past "context", inside "figures" */
	int items;       /* in the object or array being written */
};

static inline void bench_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* A number, or null for what JSON cannot hold (NaN, infinities). */
static inline void bench_json_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static inline void bench_json_stat(FILE *f, struct bench_stat s)
{
	fputs("\"median\": ", f);
	bench_json_number(f, s.median);
	fputs(", \"min\": ", f);
	bench_json_number(f, s.min);
	fputs(", \"max\": ", f);
	bench_json_number(f, s.max);
}

/*
 * Starts the JSON file at path (nothing when path is NULL): the program's
 * name, its runs per figure and the machine. Returns 0 or -errno.
 */
static inline int bench_json_open(struct bench_json *j, const char *path, const char *program,
				  int runs)
{
	struct bench_machine m;

	memset(j, 0, sizeof(*j));
	if (!path)
		return 0;
	j->f = fopen(path, "w");
	if (!j->f)
		return -errno;
	j->path = path;
	bench_machine_get(&m);
	fputs("{\n  \"program\": ", j->f);
	bench_json_string(j->f, program);
	fprintf(j->f, ",\n  \"runs\": %d,\n  \"machine\": { \"cpu\": ", runs);
	bench_json_string(j->f, m.cpu);
	fprintf(j->f, ", \"cores\": %ld, \"kernel\": ", m.cores);
	bench_json_string(j->f, m.kernel);
	fputs(" },\n  \"context\": {", j->f);
	return 0;
}

/* Adds "key": "value" (printf format) to the context: what the figures
 * depend on (memory, placement, settings). Only before the first figure. */
__attribute__((format(printf, 3, 4))) static inline void
bench_json_context(struct bench_json *j, const char *key, const char *fmt, ...)
{
	char value[512];
	va_list ap;

	if (!j->f || j->in_figures)
		return;
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	fputs(j->items++ ? ",\n    " : "\n    ", j->f);
	bench_json_string(j->f, key);
	fputs(": ", j->f);
	bench_json_string(j->f, value);
}

static inline void bench_json_figure(struct bench_json *j, const struct bench_figure *fig)
{
	static const char *const methods[] = { "none", "paired", "bounds" };
	FILE *f = j->f;

	if (!f)
		return;
	if (!j->in_figures) {
		fputs(j->items ? "\n  },\n  \"figures\": [" : "},\n  \"figures\": [", f);
		j->in_figures = true;
		j->items = 0;
	}
	fputs(j->items++ ? ",\n    { \"name\": " : "\n    { \"name\": ", f);
	bench_json_string(f, fig->name);
	fputs(", \"unit\": ", f);
	bench_json_string(f, fig->unit);
	fprintf(f, ", \"better\": \"%s\", \"runs\": %d,\n      ",
		fig->better == BENCH_HIGHER_BETTER ? "higher" : "lower", fig->runs);
	bench_json_stat(f, fig->value);
	fputs(",\n      \"baseline\": ", f);
	if (fig->baseline && fig->ratio_method != BENCH_RATIO_NONE) {
		bench_json_string(f, fig->baseline);
		fputs(", \"ratio\": { ", f);
		bench_json_stat(f, fig->ratio);
		fprintf(f, ", \"method\": \"%s\" } }", methods[fig->ratio_method]);
	} else {
		fputs("null, \"ratio\": null }", f);
	}
}

/* A figure that is some other figures' baseline: no ratio of its own. */
static inline void bench_json_baseline(struct bench_json *j, const char *name, const char *unit,
				       enum bench_better better, int runs, struct bench_stat value)
{
	struct bench_figure fig = { .name = name, .unit = unit, .better = better, .runs = runs,
				    .value = value };

	bench_json_figure(j, &fig);
}

/* Ends and closes the file. Returns 0, or -errno (after saying which file
 * could not be written on stderr). */
static inline int bench_json_close(struct bench_json *j)
{
	int err = 0;

	if (!j->f)
		return 0;
	if (!j->in_figures)
		fputs(j->items ? "\n  },\n  \"figures\": [" : "},\n  \"figures\": [", j->f);
	fputs(j->in_figures && j->items ? "\n  ]\n}\n" : "]\n}\n", j->f);
	if (ferror(j->f))
		err = -EIO;
	if (fclose(j->f) != 0 && !err)
		err = -errno;
	if (err)
		fprintf(stderr, "%s: %s\n", j->path, strerror(-err));
	j->f = NULL;
	return err;
}

#endif /* FULCRUM_BENCH_H */
