#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The benchmark suite, what `make bench` runs after installing and building:
#
#   tests/bench/suite.sh [STEP...]        (make bench STEPS="worker maglev")
#
# Steps, in this order (all of them when none is named):
#   worker   lb-dpdk's worker on one core, in-process: established, new flow,
#            not a VIP, beside a trivial forwarder (bench_worker)
#   pkt      the packet core on one core, beside a MAC swap (bench_pkt)
#   system   lbgen -> lb-dpdk -> lbgen over memif beside dpdk-testpmd in io
#            mode, throughput and latency at 1 Mpps (tests/bench/system.sh;
#            root, about 25 s a run)
#   xdp      the XDP balancer, ns/packet beside an empty program (bench_xdp; root)
#   maglev   table builds over a grid of N and M (bench_maglev)
#   health   lbd's health engine with 10 000 backends, beside bare checks
#            (bench_health: tcp, http, tcp-half-open; root, about 75 s)
#
# Each step's program prints its own table (kept in $BUILD/bench/steps/STEP.log)
# and writes its figures as JSON (STEP.json, format in tests/bench/bench.h).
# At the end they are merged into $BUILD/bench/results.json with the machine,
# the date and the commit, summed up in one table (also results.txt), and
# plotted into results.png with gnuplot.
#
# Environment: BUILD (build), BENCH_RUNS (runs per figure, 1..99; each
# program's default otherwise, 7, or 5 of 2 s for health, 5 for system;
# bench_xdp always makes 7), BENCH_HUGEPAGES=no (leave huge pages alone; by
# default, as root, the worker and system steps get 600 MiB of them, and
# they are given back after), BENCH_SYSTEM_SECONDS (the system step's runs,
# 5 s each).
#
# A step needing root is skipped, not failed, without it; a step whose
# program fails is reported as failed and the others still run. Exit status:
# 0 when no step failed, 1 otherwise, 2 for a usage error. Nothing here is
# timed against a limit: benchmarks print figures.
#
# shellcheck disable=SC2317 # the steps' functions are called by name, "step_$s"
set -u

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$BUILD/bench
STEP_DIR=$OUT/steps
PYTHON=${PYTHON:-/usr/bin/python3}
REPORT="$PYTHON $ROOT/tests/bench/report.py"
ALL_STEPS="worker pkt system xdp maglev health"
HUGE_MB=600 # what bench_worker asks for before it uses huge pages

usage() {
	echo "usage: $0 [STEP...]   steps: $ALL_STEPS" >&2
	echo "  environment: BUILD, BENCH_RUNS (1..99), BENCH_HUGEPAGES=no, BENCH_SYSTEM_SECONDS" >&2
	exit 2
}

steps=${*:-$ALL_STEPS}
for s in $steps; do
	case " $ALL_STEPS " in
	*" $s "*) ;;
	*) echo "suite: no step \"$s\"" >&2 && usage ;;
	esac
done
runs=${BENCH_RUNS:-}
if [ -n "$runs" ]; then
	case $runs in
	*[!0-9]* | 0*) echo "suite: BENCH_RUNS=$runs: not a count from 1 to 99" >&2 && usage ;;
	esac
	[ "$runs" -le 99 ] || { echo "suite: BENCH_RUNS=$runs: more than 99" >&2 && usage; }
fi
runs_text=${runs:-"each program's default"}
is_root() { [ "$(id -u)" -eq 0 ]; }

mkdir -p "$STEP_DIR" || exit 1
# Only this run's figures are merged.
rm -f "$STEP_DIR"/*.json "$STEP_DIR"/*.log "$OUT/results.json" "$OUT/results.txt" \
	"$OUT/results.png"

# ---- the machine's state: CPU time stolen by the hypervisor, load ----

# "steal total" jiffies of all CPUs, from /proc/stat's first line.
cpu_jiffies() {
	local _cpu user nice system idle iowait irq softirq steal _rest
	read -r _cpu user nice system idle iowait irq softirq steal _rest </proc/stat
	echo "$steal $((user + nice + system + idle + iowait + irq + softirq + steal))"
}
read -r steal0 total0 <<<"$(cpu_jiffies)"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)

# ---- huge pages for the worker and system steps ----

huge_added=0   # pages this script reserved, given back at the end
huge_mounted=  # the hugetlbfs this script mounted, unmounted at the end
huge_note="not needed by the steps run"

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
huge_free_mb() { echo $(($(meminfo HugePages_Free) * $(meminfo Hugepagesize) / 1024)); }

# As lb-dpdk would run: bench_worker takes huge pages when a hugetlbfs is
# mounted with HUGE_MB free. Reserves what is missing and mounts one if
# none is, remembering both so that huge_restore() gives them back: the
# machine is shared.
huge_setup() {
	if [ "${BENCH_HUGEPAGES:-}" = no ]; then
		huge_note="left alone (BENCH_HUGEPAGES=no)"
		return
	fi
	if ! is_root; then
		huge_note="left alone (not root)"
		return
	fi
	if ! grep -q ' hugetlbfs ' /proc/mounts; then
		mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages &&
			huge_mounted=/dev/hugepages
	fi
	local page_kb free_mb total want
	page_kb=$(meminfo Hugepagesize)
	free_mb=$(huge_free_mb)
	if [ "$free_mb" -lt "$HUGE_MB" ]; then
		total=$(cat /proc/sys/vm/nr_hugepages)
		want=$((total + (HUGE_MB - free_mb) * 1024 / page_kb))
		echo "$want" >/proc/sys/vm/nr_hugepages 2>/dev/null
		huge_added=$(($(cat /proc/sys/vm/nr_hugepages) - total))
	fi
	free_mb=$(huge_free_mb)
	if grep -q ' hugetlbfs ' /proc/mounts && [ "$free_mb" -ge "$HUGE_MB" ]; then
		huge_note="$free_mb MiB free in ${page_kb} kB pages"
		[ "$huge_added" -gt 0 ] && huge_note="$huge_note ($huge_added pages reserved for the run)"
		[ -n "$huge_mounted" ] && huge_note="$huge_note, hugetlbfs mounted on $huge_mounted"
	else
		huge_note="could not have $HUGE_MB MiB free (only $free_mb): 4 KiB pages"
	fi
}

huge_restore() {
	if [ "$huge_added" -gt 0 ]; then
		echo $(($(cat /proc/sys/vm/nr_hugepages) - huge_added)) >/proc/sys/vm/nr_hugepages
		huge_added=0
	fi
	if [ -n "$huge_mounted" ]; then
		umount "$huge_mounted" && huge_mounted=
	fi
}
trap huge_restore EXIT
trap 'exit 130' INT TERM

# ---- the steps ----

step_args=() # for report.py merge: NAME STATUS SECONDS REASON, per step
failed=0

record() {
	step_args+=(--step "$1" "$2" "$3" "$4")
}

skip() {
	echo "-- $1: skipped: $2"
	record "$1" skipped "" "$2"
}

# Runs step $1's program $2 (in $BUILD/bench) with the arguments after it,
# plus --json.
run_program() {
	local name=$1 prog=$BUILD/bench/$2
	shift 2
	if [ ! -x "$prog" ]; then
		echo "-- $name: FAILED: $prog is not built"
		record "$name" failed "" "$prog is not built"
		failed=1
		return
	fi
	run_command "$name" "$prog" "$@"
}

# Runs step $1's command, the arguments after it, plus --json; keeps its
# output in $STEP_DIR/$1.log and records how it went.
run_command() {
	local name=$1 t0 rc took
	shift
	echo "-- $name: $* --json $STEP_DIR/$name.json"
	t0=$(date +%s%N)
	"$@" --json "$STEP_DIR/$name.json" 2>&1 | tee "$STEP_DIR/$name.log"
	rc=${PIPESTATUS[0]}
	took=$(awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", ns / 1e9 }')
	if [ "$rc" -ne 0 ]; then
		echo "-- $name: FAILED: exit status $rc (see $STEP_DIR/$name.log)"
		record "$name" failed "$took" "exit status $rc, see $STEP_DIR/$name.log"
		failed=1
		return
	fi
	record "$name" ok "$took" ""
}

runs_args=()
[ -n "$runs" ] && runs_args=(--runs "$runs")

step_worker() { run_program worker bench_worker "${runs_args[@]}"; }
step_pkt() { run_program pkt bench_pkt "${runs_args[@]}"; }
step_maglev() { run_program maglev bench_maglev "${runs_args[@]}"; }

step_xdp() {
	if ! is_root; then
		skip xdp "needs root: it loads BPF programs and makes a network namespace"
		return
	fi
	# Its runs are fixed at BENCH_RUNS (7): it takes no --runs.
	run_program xdp bench_xdp
}

step_health() {
	if ! is_root; then
		skip health "needs root: the fleet is behind a veth pair, in a network namespace of\
 its own; $BUILD/bench/bench_health -l measures it on loopback instead"
		return
	fi
	run_program health bench_health "${runs_args[@]}"
}

# The system benchmark: lbgen -> lb-dpdk -> lbgen over memif beside the
# same harness with dpdk-testpmd in io mode as the ceiling (Mpps, % of it),
# and latency at a fixed 1 Mpps (p50, p99); tests/bench/system.sh says how.
# It uses the huge pages set up here when there are enough, --no-huge
# otherwise, and says which. About 25 s a run.
step_system() {
	local prog missing=""
	for prog in lbgen lb-dpdk lbd; do
		[ -x "$BUILD/$prog" ] || missing="${missing:+$missing, }$BUILD/$prog"
	done
	if [ -n "$missing" ]; then
		skip system "$missing not built: lbgen drives this benchmark through lb-dpdk and lbd"
		return
	fi
	if ! is_root; then
		skip system "needs root: lb-dpdk runs in a network namespace of its own, and DPDK's memif"
		return
	fi
	if ! command -v dpdk-testpmd >/dev/null; then
		skip system "dpdk-testpmd is not installed (Debian's dpdk-dev): it is the ceiling"
		return
	fi
	# BENCH_HUGEPAGES reaches it through the environment.
	BUILD=$BUILD PYTHON=$PYTHON run_command system bash "$ROOT/tests/bench/system.sh" \
		"${runs_args[@]}"
}

echo "Fulcrum benchmark suite: steps: $steps; runs per figure: $runs_text"
[ -n "$runs" ] && [ "$runs" -lt 5 ] &&
	echo "note: BENCH_RUNS=$runs is fewer than 5 runs per figure: a smoke run, not figures to quote"
$REPORT machine
case " $steps " in
*" worker "* | *" system "*)
	huge_setup
	echo "huge pages: $huge_note"
	;;
esac
for s in $ALL_STEPS; do
	case " $steps " in
	*" $s "*) "step_$s" ;;
	esac
done
huge_restore

# ---- merge, table, plot ----

read -r steal1 total1 <<<"$(cpu_jiffies)"
load1=$(cut -d' ' -f1-3 /proc/loadavg)
steal_pct=$(awk -v s=$((steal1 - steal0)) -v t=$((total1 - total0)) \
	'BEGIN { printf "%.1f", (t > 0 ? 100 * s / t : 0) }')
took=$(($(date +%s) - start))
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] &&
	commit="$commit (with uncommitted changes)"

$REPORT merge --out "$OUT/results.json" --commit "$commit" \
	--condition "runs requested" "$runs_text" \
	--condition "huge pages" "$huge_note" \
	--condition "load average" "$load0 at the start, $load1 at the end" \
	--condition "CPU time stolen by the hypervisor" "$steal_pct% during the suite" \
	--condition "suite time" "$took s" \
	"${step_args[@]}" "$STEP_DIR" || exit 1
echo
$REPORT table "$OUT/results.json" | tee "$OUT/results.txt"
$REPORT plot "$OUT/results.json" "$OUT/results.png" || failed=1
echo
outputs="$OUT/results.json, $OUT/results.txt"
[ -f "$OUT/results.png" ] && outputs="$outputs, $OUT/results.png"
echo "results: $outputs; each program's output: $STEP_DIR/"
exit "$failed"
