/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the benchmark programs: a monotonic clock, repeated runs
 * reported as median with min and max, and a line describing the machine.
 * Benchmarks print figures; they never pass or fail on time.
 */
#ifndef FULCRUM_BENCH_H
#define FULCRUM_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define BENCH_RUNS 7

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

/* Prints CPU model, online cores and kernel, so figures carry their machine. */
static inline void bench_print_machine(void)
{
	char model[256] = "unknown CPU", line[512];
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "model name", 10) == 0) {
				char *colon = strchr(line, ':');
				if (colon) {
					snprintf(model, sizeof(model), "%s", colon + 2);
					model[strcspn(model, "\n")] = '\0';
				}
				break;
			}
		}
		fclose(f);
	}
	uname(&u);
	printf("machine: %s, %ld cores, kernel %s\n", model, sysconf(_SC_NPROCESSORS_ONLN),
	       u.release);
}

#endif /* FULCRUM_BENCH_H */
