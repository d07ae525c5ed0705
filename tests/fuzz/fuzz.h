/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every libFuzzer harness in tests/fuzz shares: the entry points'
 * prototypes (the build has -Wmissing-prototypes) and one way to fail an
 * invariant. A failed invariant prints what broke and aborts; libFuzzer
 * treats the abort as a crash and saves the input, so a wrong answer is
 * found and kept exactly as a sanitizer report would be.
 */
#ifndef FULCRUM_FUZZ_H
#define FULCRUM_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * LeakSanitizer's built-in suppressions. Debian 12's libconfig 1.5 leaks the
 * string token its lexer holds when a syntax error stops the parse (a
 * libconfig bug, not Fulcrum's: the token never reaches our code; lbd loses
 * a few bytes per refused reload). Only the lexer's allocations are excused:
 * a config_t we forget to destroy is still reported, through the settings
 * the parser allocated.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

__attribute__((format(printf, 4, 5), noreturn)) static inline void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: invariant broken: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* FUZZ_CHECK(condition, "what it means", args...) */
#define FUZZ_CHECK(cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                         \
	} while (0)

/* A copy of bytes in a heap block of exactly n bytes (one for n = 0), so that
 * AddressSanitizer reports a read even one byte past them. */
static inline void *fuzz_dup_exact(const void *bytes, size_t n)
{
	unsigned char *p = malloc(n ? n : 1);

	if (!p)
		abort();
	if (n)
		memcpy(p, bytes, n);
	return p;
}

#endif /* FULCRUM_FUZZ_H */
