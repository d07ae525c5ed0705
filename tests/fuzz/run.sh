#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Runs the libFuzzer harnesses built in $BUILD/fuzz (default build).
#
#   run.sh [test] [NAME...]   each harness over its committed corpus
#                             (tests/fuzz/corpus/NAME), then FUZZ_TEST_SECONDS
#                             (default 5) of fuzzing; cmocka-style lines, so
#                             tests/run-suites.sh counts one test per harness
#   run.sh fuzz [NAME...]     FUZZ_SECONDS (default 60) of fuzzing each; new
#                             inputs are kept in $BUILD/fuzz/work/NAME, and
#                             with FUZZ_MERGE=1 the ones that add coverage are
#                             merged into the committed corpus
#
# A fuzz run longer than FUZZ_CHUNK_SECONDS (default 1200) is cut into
# processes of at most that long, one after the other on the same work
# directory: libconfig 1.5 leaks a little on many syntax errors (see
# README, "Fuzzing"), and in one process of hours fuzz_conf would reach
# libFuzzer's memory limit for that alone.
#
# Crashes and broken invariants are saved as $BUILD/fuzz/artifacts/NAME-*;
# rerun one with `$BUILD/fuzz/fuzz_NAME FILE`. Runs are logged in
# $BUILD/fuzz/logs/NAME.log (NAME.test.log for test runs) and tallied
# (seconds, executions) in $BUILD/fuzz/runs.tsv.
set -u

BUILD=${BUILD:-build}
mode=test
case "${1:-}" in
test | fuzz)
	mode=$1
	shift
	;;
esac
here=$(dirname "$0")
names=$*
if [ -z "$names" ]; then
	for f in "$here"/fuzz_*.c; do
		n=${f##*/fuzz_}
		names="$names ${n%.c}"
	done
fi
mkdir -p "$BUILD/fuzz/artifacts" "$BUILD/fuzz/logs"

if [ "$mode" = test ]; then
	seconds=${FUZZ_TEST_SECONDS:-5}
else
	seconds=${FUZZ_SECONDS:-60}
fi

chunk=${FUZZ_CHUNK_SECONDS:-1200}
passed=0
failed=0
failures=""
echo "[==========] fuzz: $(echo $names | wc -w) harness(es), corpus + ${seconds} s each"
for name in $names; do
	bin=$BUILD/fuzz/fuzz_$name
	corpus=$here/corpus/$name
	if [ "$mode" = test ]; then
		log=$BUILD/fuzz/logs/$name.test.log
	else
		log=$BUILD/fuzz/logs/$name.log
	fi
	if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
		echo "[  ERROR   ] fuzz_$name: no $bin or no $corpus"
		failed=$((failed + 1))
		failures="$failures $name"
		continue
	fi
	if [ "$mode" = test ]; then
		# New inputs go to a scratch directory: a test run never
		# changes the committed corpus.
		work=$(mktemp -d)
	else
		work=$BUILD/fuzz/work/$name
		mkdir -p "$work"
	fi
	echo "[ RUN      ] fuzz_$name"
	: >"$log"
	left=$seconds
	took=0
	runs=0
	rc=0
	while [ "$left" -gt 0 ] && [ "$rc" -eq 0 ]; do
		slice=$left
		[ "$mode" = fuzz ] && [ "$slice" -gt "$chunk" ] && slice=$chunk
		set -- -max_total_time="$slice" -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix="$BUILD/fuzz/artifacts/$name-"
		[ -f "$here/$name.dict" ] && set -- "$@" -dict="$here/$name.dict"
		start=$(date +%s)
		# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
		"$bin" "$@" ${FUZZ_ARGS:-} "$work" "$corpus" >>"$log" 2>&1
		rc=$?
		spent=$(($(date +%s) - start))
		n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" "$mode" \
			"$spent" "${n:-0}" >>"$BUILD/fuzz/runs.tsv"
		took=$((took + spent))
		runs=$((runs + ${n:-0}))
		left=$((left - slice))
	done
	inputs=$(ls "$corpus" | wc -l)
	if [ "$rc" -eq 0 ]; then
		echo "[       OK ] fuzz_$name: $runs runs in ${took} s ($inputs corpus inputs)"
		passed=$((passed + 1))
	else
		grep -E 'invariant broken|ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|SUMMARY|Test unit written' "$log" | head -n 20
		echo "[  FAILED  ] fuzz_$name: exit $rc (log: $log)"
		failed=$((failed + 1))
		failures="$failures $name"
	fi
	if [ "$mode" = test ]; then
		rm -rf "$work"
	elif [ "$rc" -eq 0 ] && [ "${FUZZ_MERGE:-0}" = 1 ]; then
		before=$inputs
		set -- -merge=1
		[ -f "$here/$name.dict" ] && set -- "$@" -dict="$here/$name.dict"
		"$bin" "$@" "$corpus" "$work" >>"$log" 2>&1
		echo "           merged into $corpus: $before -> $(ls "$corpus" | wc -l) inputs"
	fi
done

echo "[==========] fuzz: $((passed + failed)) harness(es) run"
echo "[  PASSED  ] $passed test(s)."
if [ "$failed" -gt 0 ]; then
	echo "[  FAILED  ] $failed test(s), listed below:"
	for name in $failures; do
		echo "[  FAILED  ] fuzz_$name"
	done
	exit 1
fi
exit 0
