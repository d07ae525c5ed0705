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
# goes through each forwarder in turn, lb-dpdk first in odd runs and
# testpmd first in even ones, so that the neighbours' noise falls on both
# alike, and through each makes (the forwarder started afresh for each)
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
SYSTEM_HUGE_MB=512 # for lb-dpdk and lbgen together
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

# Shows the end of log $1 (in MEMIF_DIR) when a forwarder failed.
show_log() {
	echo "  $1 (last 10 lines):"
	grep -v "TELEMETRY" "$MEMIF_DIR/$1" | tail -n 10 | sed 's/^/  | /'
}

# Forwarder $1 (lb: lb-dpdk with lbd and its first generation; testpmd)
# up as the memif server, its pid in FWD_PID.
fwd_start() {
	local before
	if [ "$1" = testpmd ]; then
		# Two TX queues, though it sends on the first only: lbgen then
		# polls two RX rings, one of them idle, as it does against
		# lb-dpdk, whose main lcore's queue carries next to nothing.
		memif_testpmd_start 2 || { echo "dpdk-testpmd did not start"; show_log testpmd.log; return 1; }
		FWD_PID=$TESTPMD_PID
		return 0
	fi
	before=$(memif_generations)
	memif_lb_start || { echo "lb-dpdk did not start"; show_log lb-dpdk.log; return 1; }
	FWD_PID=$LB_PID
	memif_lbd_start
	memif_generation_after "${before:-0}" || {
		echo "lbd put no generation in service"
		show_log lbd.log
		return 1
	}
}

# Stops forwarder $1; FWD_ENDED says how it had ended: "" when by the TERM
# sent here (or a clean exit), else its exit status or signal.
fwd_stop() {
	local status
	if [ "$1" = lb ]; then
		[ -z "$LBD_PID" ] || { kill -TERM "$LBD_PID" 2>/dev/null; wait "$LBD_PID" 2>/dev/null; }
		LBD_PID=""
	fi
	kill -TERM "$FWD_PID" 2>/dev/null
	wait "$FWD_PID" 2>/dev/null
	status=$?
	LB_PID=""
	TESTPMD_PID=""
	memif_cleanup
	FWD_ENDED=""
	case $status in
	0 | 143) ;;
	*) FWD_ENDED="exit status $status" ;;
	esac
	[ "$status" -gt 128 ] && [ "$status" -ne 143 ] && FWD_ENDED="signal $((status - 128))"
	return 0
}

# Run $2 of lbgen's two through forwarder $1 (lb or testpmd), in run $3:
# the forwarder is started afresh for each, so that a crash of testpmd
# after lbgen left (see turn) costs nothing but is noted in "crashed".
# Returns 2 when lb-dpdk ended by a signal: a bug of ours, never retried.
crashed=""
through() {
	local fwd=$1 what=$2 run=$3 name rc ended
	name=$([ "$fwd" = lb ] && echo lb || echo fwd)-$run-$what
	fwd_start "$fwd" || { fwd_stop "$fwd"; return 1; }
	local opts=()
	[ "$fwd" = lb ] && opts+=(--backends "$BACKENDS4")
	[ "$what" = lat ] && opts+=(--rate "$LATENCY_RATE")
	# shellcheck disable=SC2086 # FLOWS is options
	memif_lbgen_run "$name" $FLOWS "${opts[@]}"
	rc=$?
	[ "$rc" -eq 0 ] || show_log "$([ "$fwd" = lb ] && echo lb-dpdk || echo testpmd).log"
	fwd_stop "$fwd" 2>/dev/null
	ended=$FWD_ENDED
	if [ -n "$ended" ]; then
		echo "  $fwd: ended by $ended $([ "$rc" -eq 0 ] && echo "after lbgen's run" || echo "during lbgen's run")"
		crashed="${crashed:+$crashed, }$fwd in run $run ($ended)"
		if [ "$fwd" = lb ] && [ "${ended#signal}" != "$ended" ]; then
			echo "  lb-dpdk crashed: not retried"
			show_log lb-dpdk.log
			return 2
		fi
	fi
	return $rc
}

# Forwarder $1's turn in run $2: a max-rate run and a run at 1 Mpps, each
# made again when it failed, up to 3 times in all. A memif server of DPDK
# 22.11 dies of SIGSEGV now and then when its client leaves: the PMD
# unmaps the client's memory on its interrupt thread while the polling
# lcore may still be copying from it (seen from dpdk-testpmd every few
# dozen lbgen runs). lb-dpdk guards against that (dataplane/unmap_guard.c;
# tests/e2e/test_memif_churn.sh), so its crash fails the step at once;
# testpmd's, after lbgen's run, costs nothing, the forwarder being
# restarted anyway, and during one the run is made again; a third failure
# fails the step. Crashes are named with the figures.
retried=""
turn() {
	local what attempt rc
	for what in max lat; do
		for attempt in 1 2 3; do
			through "$1" "$what" "$2" && continue 2
			rc=$?
			[ "$rc" -ne 2 ] || return 1
			[ "$attempt" -lt 3 ] || return 1
			echo "system: run $2: the $what run through $1 failed; once more"
			retried="${retried:+$retried, }run $2 $what through $1"
		done
	done
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
	--context "runs made again" "${retried:-none}" \
	--context "forwarders that crashed" "${crashed:-none}"
