#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The benchmark suite's driver (tests/bench/suite.sh, what `make bench`
# runs) on the quickest benchmark, bench_maglev with one run: its figures
# reach results.json with the machine, the date and the commit; the summary
# table puts the ratio to the baseline before the absolute figure; the PNG
# is drawn (when gnuplot is installed); a program's WARNING lines go with
# its figures; a step whose program fails is reported as failed while the
# others' figures are kept; the system step is skipped, saying why, without
# lbgen; steps needing root are skipped, not failed, without it; unknown
# steps and bad BENCH_RUNS are usage errors. As root, with lbgen, lb-dpdk,
# lbd and dpdk-testpmd, a smoke run of the system step (one run of 1 s
# turns on 4 KiB pages, about 20 s): its figures, paired ratios and table
# row, and the memory it used said in its output.
#
# No figure is checked against any value: benchmarks are not timed tests.
# The suite runs in a BUILD directory of its own (a temporary one holding
# links to the benchmark programs), so that build/bench is left alone. A
# few seconds; the root-less case runs as nobody when run as root.
set -u

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_BIN=$(cd "$BUILD/bench" 2>/dev/null && pwd)
DIR=$(mktemp -d /tmp/fulcrum-bench-suite.XXXXXX)
. "$ROOT/tests/e2e/report.sh"
trap 'rm -rf "$DIR"' EXIT
trap 'exit 1' INT TERM
PY=/usr/bin/python3

echo "[==========] bench: the suite's driver, its merge, table and plot"

# A BUILD directory for the suite: $1, with bench_maglev linked in.
make_build() {
	mkdir -p "$1/bench" && ln -sf "$BENCH_BIN/bench_maglev" "$1/bench/bench_maglev"
}

# Runs the suite with BUILD=$1 and the rest as steps; output in $1.out,
# exit status in $1.rc. BENCH_RUNS and BENCH_HUGEPAGES come from the caller.
suite() {
	local build=$1
	shift
	BUILD=$build bash "$ROOT/tests/bench/suite.sh" "$@" >"$build.out" 2>&1
	echo $? >"$build.rc"
}

# Exit 0 when the Python expression $2 is true of results file $1 (as r).
results_say() {
	"$PY" -c 'import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$1" "$2"
}

show_on_failure() {
	"$@" || { sed 's/^/  | /' "$B.out" | tail -n 40; return 1; }
}

[ -x "$BENCH_BIN/bench_maglev" ] ||
	echo "  $BUILD/bench/bench_maglev is not built (make check builds it)"

# --- one step, one run ---------------------------------------------------------
B=$DIR/one
make_build "$B"
BENCH_RUNS=1 suite "$B" maglev system
R=$B/bench/results.json

check "the suite ends with status 0 when no step failed" \
	show_on_failure [ "$(cat "$B.rc")" -eq 0 ]
check "results.json holds the machine (CPU, cores, kernel), the date and the commit" \
	results_say "$R" 'all(r["machine"].get(k) for k in ("cpu", "cores", "kernel")) and
		r["date"] and r["commit"]'
check "maglev: 8 builds with a ratio paired with its ring write, and 2 baselines, each from 1 run" \
	results_say "$R" '[s for s in r["steps"] if s["name"] == "maglev" and s["status"] == "ok" and
		len([f for f in s["figures"] if f["ratio"] and f["ratio"]["method"] == "paired"]) == 8 and
		len([f for f in s["figures"] if not f["baseline"]]) == 2 and
		all(f["runs"] == 1 for f in s["figures"] if f["baseline"])]'
check "every figure has a median within its min..max, and a unit" \
	results_say "$R" 'all(f["min"] <= f["median"] <= f["max"] and f["unit"]
		for s in r["steps"] for f in s["figures"])'
check "the system step is skipped without lbgen, and says so" \
	results_say "$R" '[s for s in r["steps"] if s["name"] == "system" and
		s["status"] == "skipped" and "lbgen" in s["reason"]]'
grep -q '^-- system: skipped: .*lbgen' "$B.out"
check "the run's output says the system step was skipped and why" [ $? -eq 0 ]
table_ratio_first() {
	local header
	header=$(grep -m1 '^step ' "$B/bench/results.txt")
	[ -n "$header" ] && [[ $header == *"vs baseline"*"absolute"* ]] &&
		grep -qE '^maglev +N=1000, M=65537 +[0-9.]+x \(' "$B/bench/results.txt" &&
		grep -q '^machine: ' "$B/bench/results.txt"
}
check "the table shows the ratio before the absolute figure, and the machine" \
	show_on_failure table_ratio_first
png_drawn() {
	if command -v gnuplot >/dev/null; then
		[ "$(head -c 8 "$B/bench/results.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
	else
		echo "  (gnuplot is not installed: only its absence is reported)"
		grep -q 'gnuplot is not installed' "$B.out"
	fi
}
check "results.png is a PNG (or the run says gnuplot is missing)" show_on_failure png_drawn

# --- a failing step ------------------------------------------------------------
B=$DIR/fail
make_build "$B"
printf '#!/bin/sh\necho "cannot run"\nexit 3\n' >"$B/bench/bench_pkt"
chmod +x "$B/bench/bench_pkt"
BENCH_RUNS=1 suite "$B" pkt maglev
R=$B/bench/results.json
check "a failing program makes the suite's status 1" [ "$(cat "$B.rc")" -eq 1 ]
check "its step is recorded as failed with its exit status, the other step's figures kept" \
	results_say "$R" '[s["status"] for s in r["steps"]] == ["failed", "ok"] and
		"exit status 3" in r["steps"][0]["reason"] and r["steps"][1]["figures"]'

# --- a program that warns -----------------------------------------------------
B=$DIR/warn
make_build "$B"
# A stand-in that warns, then writes figures as bench.h does (its last
# argument is the file --json names).
cat >"$B/bench/bench_pkt" <<'EOF'
#!/bin/sh
echo "WARNING: the rate was not held"
for last; do :; done
printf '{"program": "fake", "runs": 5, "context": {}, "figures": []}\n' >"$last"
EOF
chmod +x "$B/bench/bench_pkt"
BENCH_RUNS=5 suite "$B" pkt
check "a program's WARNING lines are kept with its step in results.json" \
	results_say "$B/bench/results.json" 'r["steps"][0]["status"] == "ok" and
		r["steps"][0]["warnings"] == ["WARNING: the rate was not held"]'
check "... and the table says so" grep -q 'WARNINGS from pkt' "$B/bench/results.txt"

# --- the system step, one short run --------------------------------------------
B=$DIR/system
make_build "$B"
for prog in lbgen lb-dpdk lbd; do
	[ -x "$BUILD/$prog" ] && ln -sf "$(cd "$BUILD" && pwd)/$prog" "$B/$prog"
done
if [ "$(id -u)" -ne 0 ]; then
	echo "  (not root: the system step's run is left to the root-less case below)"
elif ! command -v dpdk-testpmd >/dev/null || [ ! -x "$B/lbgen" ] || [ ! -x "$B/lb-dpdk" ] ||
	[ ! -x "$B/lbd" ]; then
	suite "$B" system
	check "without dpdk-testpmd or lbgen, lb-dpdk, lbd built, the system step is skipped, saying why" \
		results_say "$B/bench/results.json" '[(s["name"], s["status"]) for s in r["steps"]] ==
			[("system", "skipped")] and r["steps"][0]["reason"]'
else
	BENCH_RUNS=1 BENCH_SYSTEM_SECONDS=1 BENCH_HUGEPAGES=no suite "$B" system
	R=$B/bench/results.json
	check "system: the step ran (status 0)" show_on_failure [ "$(cat "$B.rc")" -eq 0 ]
	check "system: lb-dpdk's Mpps and latency p50, p99 at 1 Mpps, each paired with testpmd's" \
		results_say "$R" '[s for s in r["steps"] if s["name"] == "system" and
			s["status"] == "ok" and len(s["figures"]) == 6 and
			[f["name"] for f in s["figures"] if f["ratio"] and f["ratio"]["method"] == "paired"] ==
			["lb-dpdk, UDP flows, IPIP", "lb-dpdk at 1 Mpps, latency p50",
			 "lb-dpdk at 1 Mpps, latency p99"] and
			all(f["runs"] == 1 and f["median"] > 0 for f in s["figures"])]'
	check "system: its context says the memory (BENCH_HUGEPAGES=no: --no-huge) and the memif mode" \
		results_say "$R" '[s for s in r["steps"] if s["name"] == "system" and
			"--no-huge" in s["context"]["memory"] and "zero-copy" in s["context"]["memif"]]'
	check "system: the table has lb-dpdk's row, its share of testpmd's rate first" \
		show_on_failure grep -qE '^system +lb-dpdk, UDP flows, IPIP +[0-9.]+% \(' \
		"$B/bench/results.txt"
fi

# --- without root --------------------------------------------------------------
B=$DIR/noroot
mkdir -p "$B"
for prog in lbgen lb-dpdk lbd; do
	[ -x "$BUILD/$prog" ] && ln -sf "$(cd "$BUILD" && pwd)/$prog" "$B/$prog"
done
if [ "$(id -u)" -eq 0 ]; then
	chmod 0777 "$DIR" "$B"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env BUILD="$B" bash "$ROOT/tests/bench/suite.sh" system xdp health >"$B.out" 2>&1
	echo $? >"$B.rc"
else
	suite "$B" system xdp health
fi
noroot_skips() {
	# The system step says it needs root where its programs are built, and
	# what is not built otherwise: either way, skipped.
	results_say "$B/bench/results.json" '[(s["name"], s["status"]) for s in r["steps"]] ==
		[("system", "skipped"), ("xdp", "skipped"), ("health", "skipped")] and
		all("needs root" in s["reason"] for s in r["steps"][1:]) and
		("needs root" in r["steps"][0]["reason"] or "not built" in r["steps"][0]["reason"])'
}
check "without root, system, xdp and health are skipped (status 0), each saying why" noroot_skips
check "... and the suite's status is 0" show_on_failure [ "$(cat "$B.rc")" -eq 0 ]

# --- usage errors --------------------------------------------------------------
B=$DIR/usage
suite "$B" maglev nosuchstep
check "an unknown step is a usage error (status 2)" [ "$(cat "$B.rc")" -eq 2 ]
BENCH_RUNS=0 suite "$B" maglev
check "BENCH_RUNS=0 is a usage error (status 2)" [ "$(cat "$B.rc")" -eq 2 ]

e2e_summary
