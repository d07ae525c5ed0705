#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Runs each test program given, shows its output, and ends with one line
# "N passed, N failed" over all of them. cmocka suites are counted by their
# own summary lines; a program that dies before printing one (a sanitizer
# report, a crash) counts as one failure.
set -u

passed=0
failed=0
for prog in "$@"; do
	name=$(basename "$prog")
	echo "=== $name"
	out=$(mktemp)
	{
		"$prog" 2>&1
		echo $? >"$out.rc"
	} | tee "$out"
	rc=$(cat "$out.rc")
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	rm -f "$out" "$out.rc"
	if [ -z "$p$f" ] || { [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; }; then
		echo "*** $name exited $rc without reporting a failed test (crashed?)"
		passed=$((passed + ${p:-0}))
		failed=$((failed + 1))
		continue
	fi
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	skipped=$((${skipped:-0} + ${s:-0}))
done

echo
if [ "${skipped:-0}" -gt 0 ]; then
	echo "$passed passed, $failed failed, ${skipped} skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
