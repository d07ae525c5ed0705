#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The system benchmark, the `system` step of `make bench` (as root):
#
#   tests/bench/system.sh [--runs N] [--json FILE]
#
# lbgen -> lb-dpdk -> lbgen over memif, beside lbgen -> dpdk-testpmd (io
# mode) -> lbgen in the same harness (tests/e2e/memif.sh) as the ceiling:
# lbgen on CPU 0, one lcore sending and receiving, as the memif client; the
# forwarder's worker on CPU 1 as the server. Traffic: UDP/IPv4 in 70-byte
# frames (the smallest that hold lbgen's probe) from 5000 flows to one VIP
# of three backends; lb-dpdk sends them back in IPIP, testpmd as they came.
#
# Each of N runs (5 unless --runs says otherwise; BENCH_RUNS in the suite)
# brings up each forwarder in turn, lb-dpdk first in odd runs and testpmd
# first in even ones, so that the neighbours' noise falls on both alike, and
# through each makes
#   a max-rate run: lbgen sends for BENCH_SYSTEM_SECONDS (default 5) as fast
#     as the memif ring takes frames; the figure is the packets back per
#     second. Not an RFC 2544 no-drop-rate search: memif pushes back rather
#     than drop, so the rate a path takes is its throughput, and a search's
#     verdicts on this shared VM are set by whichever trial a neighbour took
#     a CPU in (searches of 1 s trials through lb-dpdk and through testpmd
#     both failed trials at rates that other trials of the same search had
#     forwarded without loss);
#   a run at a fixed 1 Mpps for as long, for latency p50 and p99 (lbgen's
#     TSC stamps, sender and receiver on one host).
# The figures (tests/bench/report.py system) are medians with min and max,
# lb-dpdk's as ratios to testpmd's paired run by run, in the JSON format of
# tests/bench/bench.h. A forwarding error (a packet to an unknown backend,
# a bad checksum, a flow moved) fails the step, and a 1 Mpps run that
# lbgen could not hold is a WARNING beside the figures.
#
# Memory: huge pages when a hugetlbfs is mounted with SYSTEM_HUGE_MB free
# (the suite provides them as root; BENCH_HUGEPAGES=no declines them),
# --no-huge otherwise; the output says which. memif: zero-copy on lbgen's
# side, the only side DPDK 22.11 offers it (see tests/e2e/memif.sh), with
# rings of 1024 slots, as many as lbgen's mempool can lend the server.
#
# Exit status: 0 with figures, 1 when something failed, 2 for a usage error
# or a missing prerequisite (root, lbgen, lb-dpdk, lbd, dpdk-testpmd).
set -u

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
SECONDS_PER_RUN=${BENCH_SYSTEM_SECONDS:-5}
LATENCY_RATE=1000000
SYSTEM_HUGE_MB=512 # lb-dpdk and lbgen together take about 200 MiB of it
RUNS=5
JSON=""

usage() {
	echo "usage: $0 [--runs N] [--json FILE]  (environment: BUILD, BENCH_SYSTEM_SECONDS," \
		"BENCH_HUGEPAGES=no)" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--runs)
		[ $# -ge 2 ] || usage
		case $2 in
		*[!0-9]* | 0* | "") echo "$0: --runs $2: not a count from 1 to 99" >&2 && usage ;;
		esac
		[ "$2" -le 99 ] || { echo "$0: --runs $2: more than 99" >&2 && usage; }
		RUNS=$2
		shift 2
		;;
	--json)
		[ $# -ge 2 ] || usage
		JSON=$2
		shift 2
		;;
	*) usage ;;
	esac
done
case $SECONDS_PER_RUN in
*[!0-9]* | 0* | "") echo "$0: BENCH_SYSTEM_SECONDS=$SECONDS_PER_RUN: not a whole number of seconds" >&2 && usage ;;
esac

missing=""
[ "$(id -u)" -eq 0 ] || missing="root (a network namespace, DPDK's memif)"
for prog in lbgen lb-dpdk lbd; do
	[ -x "$BUILD/$prog" ] || missing="${missing:+$missing, }$BUILD/$prog"
done
command -v dpdk-testpmd >/dev/null || missing="${missing:+$missing, }dpdk-testpmd (Debian's dpdk-dev)"
if [ -n "$missing" ]; then
	echo "$0: needs $missing" >&2
	exit 2
fi

. "$ROOT/tests/e2e/report.sh" # wait_for
MEMIF_DIR=$(mktemp -d /tmp/fulcrum-bench-system.XXXXXX)
MEMIF_PREFIX=fbs$$
MEMIF_NS=$MEMIF_PREFIX-lb
MEMIF_IDLE_SLEEP_US=0 # lb-dpdk's default: its worker polls without pause, as testpmd's does
MEMIF_ZERO_COPY=yes
MEMIF_RSIZE=10
. "$ROOT/tests/e2e/memif.sh"

lb_down() {
	local pid
	for pid in "$LBD_PID" "$LB_PID"; do
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	LBD_PID=""
	LB_PID=""
}

cleanup() {
	lb_down
	memif_cleanup
	ip netns del "$MEMIF_NS" 2>/dev/null
	rm -rf "/var/run/dpdk/$MEMIF_PREFIX" "$MEMIF_DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- memory ----

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
huge_free_mb=$(($(meminfo HugePages_Free) * $(meminfo Hugepagesize) / 1024))
if [ "${BENCH_HUGEPAGES:-}" = no ]; then
	memory="4 KiB pages (--no-huge): BENCH_HUGEPAGES=no"
elif ! grep -q ' hugetlbfs ' /proc/mounts; then
	memory="4 KiB pages (--no-huge): no hugetlbfs mounted"
elif [ "$huge_free_mb" -lt "$SYSTEM_HUGE_MB" ]; then
	memory="4 KiB pages (--no-huge): only $huge_free_mb MiB of huge pages free, $SYSTEM_HUGE_MB wanted"
else
	MEMIF_HUGE=yes
	memory="huge pages ($huge_free_mb MiB free in $(meminfo Hugepagesize) kB pages)"
fi
memif="zero-copy on lbgen's side (client, zero-copy=yes, --single-file-segments);"
memif="$memif lb-dpdk and testpmd (servers) copy, DPDK 22.11 having zero-copy for clients only;"
memif="$memif rings of $((1 << MEMIF_RSIZE)) slots (rsize=$MEMIF_RSIZE)"
echo "system: $RUNS runs, each of $SECONDS_PER_RUN s at the most lbgen can send and"\
	"$SECONDS_PER_RUN s at $((LATENCY_RATE / 1000)) kpps, through lb-dpdk and through testpmd"
echo "memory: $memory"
echo "memif: $memif"

# ---- the harness ----

ip netns add "$MEMIF_NS" || exit 1
ip -n "$MEMIF_NS" link set lo up
memif_config_write

FLOWS="--proto udp --src 10.1.0.1-10.1.0.50 --src-port 20000-20099 --vip $VIP4 --vip-port 53
	--order random --duration $SECONDS_PER_RUN"
BACKENDS4=10.99.3.11,10.99.3.12,10.99.3.13

# Shows the end of log $1 (in MEMIF_DIR) when a forwarder did not start.
show_log() {
	echo "  $1 (last 10 lines):"
	grep -v "TELEMETRY" "$MEMIF_DIR/$1" | tail -n 10 | sed 's/^/  | /'
}

# Run $1 through lb-dpdk: up with lbd and its first generation, the two
# lbgen runs, down.
through_lb() {
	local before
	before=$(memif_generations)
	before=${before:-0}
	memif_lb_start || { echo "lb-dpdk did not start"; show_log lb-dpdk.log; return 1; }
	memif_lbd_start
	memif_generation_after "$before" || {
		echo "lbd put no generation in service"
		show_log lbd.log
		return 1
	}
	# shellcheck disable=SC2086 # FLOWS is options
	memif_lbgen_run "lb-$1-max" $FLOWS --backends "$BACKENDS4" &&
		memif_lbgen_run "lb-$1-lat" $FLOWS --backends "$BACKENDS4" --rate "$LATENCY_RATE"
	local rc=$?
	[ "$rc" -eq 0 ] || show_log lb-dpdk.log
	lb_down
	memif_cleanup
	return $rc
}

# The same through testpmd, started afresh for each of the two lbgen runs:
# it crashes now and then when a memif client leaves (see turn), which then
# costs nothing. Two TX queues, though it sends on the first only: lbgen
# then polls two RX rings, one of them idle, as it does against lb-dpdk,
# whose main lcore's queue carries next to nothing.
through_testpmd() {
	local what rc=0 status
	for what in max lat; do
		memif_testpmd_start 2 || { echo "dpdk-testpmd did not start"; show_log testpmd.log; return 1; }
		if [ "$what" = max ]; then
			# shellcheck disable=SC2086 # FLOWS is options
			memif_lbgen_run "fwd-$1-max" $FLOWS
		else
			# shellcheck disable=SC2086 # FLOWS is options
			memif_lbgen_run "fwd-$1-lat" $FLOWS --rate "$LATENCY_RATE"
		fi
		rc=$?
		if [ "$rc" -ne 0 ] && ! kill -0 "$TESTPMD_PID" 2>/dev/null; then
			wait "$TESTPMD_PID" 2>/dev/null
			status=$?
			[ "$status" -gt 128 ] && status="signal $((status - 128))"
			echo "  dpdk-testpmd had exited ($status)"
			TESTPMD_PID=""
		fi
		[ "$rc" -eq 0 ] || show_log testpmd.log
		# Whatever becomes of it once lbgen left, it is done with.
		memif_testpmd_stop 2>/dev/null
		memif_cleanup
		[ "$rc" -eq 0 ] || return "$rc"
	done
}

# Forwarder $1's turn (lb or testpmd) in run $2, made again when it failed,
# up to 3 times in all: DPDK 22.11's memif server now and then crashes when
# a client leaves, or refuses lbgen's connection, or never brings its link
# up (seen here from dpdk-testpmd, about one lbgen run in ten while the
# machine was loaded, mostly on a client's second connection). The turns made again are named with the figures; a
# third failure fails the step.
retried=""
turn() {
	local attempt
	for attempt in 1 2 3; do
		"through_$1" "$2" && return 0
		[ "$attempt" -lt 3 ] || break
		echo "system: run $2: the turn through $1 failed; once more"
		retried="${retried:+$retried, }run $2 through $1"
	done
	return 1
}

for run in $(seq 1 "$RUNS"); do
	if [ $((run % 2)) -eq 1 ]; then
		order="lb-dpdk, then testpmd"
		turn lb "$run" && turn testpmd "$run"
	else
		order="testpmd, then lb-dpdk"
		turn testpmd "$run" && turn lb "$run"
	fi || { echo "system: run $run failed"; exit 1; }
	echo "run $run of $RUNS done ($order)"
done
memif_cleanup

$PY "$ROOT/tests/bench/report.py" system --dir "$MEMIF_DIR" --runs "$RUNS" \
	--seconds "$SECONDS_PER_RUN" --rate "$LATENCY_RATE" ${JSON:+--json "$JSON"} \
	--context memory "$memory" --context memif "$memif" \
	--context "turns made again" "${retried:-none}"
