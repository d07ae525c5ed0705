#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The chaos suite: a steady load of long-lived and short TCP connections
# through the web VIP (tests/chaos/load.py) while a seeded random schedule
# kills and restarts backend servers, SIGKILLs and restarts lbd, restarts
# lb-dpdk (SIGTERM, then start, as systemctl restart does), flips agent
# weights, drains and re-readies backends, and removes and adds backends.
# Afterwards tests/chaos/account.py counts every connection and attributes
# each one that broke to what happened to its backend; the rules are in
# README, "Chaos suite". lbd's and lb-dpdk's memory is compared before and
# after.
#
#   CHAOS_SEED     the schedule's seed (default: random; printed first and
#                  last). The same seed gives the same events in the same
#                  order with the same gaps; how many fit in CHAOS_SECONDS
#                  depends on how fast the machine settles each one.
#   CHAOS_SECONDS  how long the schedule runs (default 180)
#   CHAOS_STREAMS  long-lived connections held at all times (default 60)
#   CHAOS_RATE     short connections a second (default 20)
#
# Uses the e2e kit (tests/e2e/lib.sh): namespaces client - router -
# balancer - backends b1..b4; b4 is not in the configuration at the start,
# it is there to be added.
CHAOS_HOME=$(cd "$(dirname "$0")" && pwd)
. "$CHAOS_HOME/../e2e/lib.sh"

CHAOS_SECONDS=${CHAOS_SECONDS:-180}
CHAOS_SEED=${CHAOS_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
CHAOS_STREAMS=${CHAOS_STREAMS:-60}
CHAOS_RATE=${CHAOS_RATE:-20}
echo "[==========] chaos: CHAOS_SEED=$CHAOS_SEED CHAOS_SECONDS=$CHAOS_SECONDS" \
	"($CHAOS_STREAMS long-lived connections, $CHAOS_RATE short ones a second)"
# Bash's generator, seeded: the schedule is a function of the seed alone.
# (Only the main shell draws from it; a subshell would draw a copy.)
RANDOM=$CHAOS_SEED

# Health checks for web as in test_control.sh: a check a second while
# steady, every 200 ms while a change is being confirmed; agents read every
# 300 ms, agent weights published at most every 500 ms.
INTERVAL_MS=1000
TIMEOUT_MS=300
FALL=2
WEB_HEALTH="type = \"tcp\"; interval_ms = $INTERVAL_MS; fast_interval_ms = 200;
  down_interval_ms = 500; timeout_ms = $TIMEOUT_MS; rise = 2; fall = $FALL;
  jitter_pct = 10; agent_port = $AGENT_PORT; agent_interval_ms = 300;
  agent_weight_interval_ms = 500;"
# What a server's death may cost new connections: fall checks, the last one
# timing out, then the publication (a generation is in service within a
# few ms here), as seen by polling lbctl, which on this shared machine has
# taken up to 4 s in all: 5 s of slack.
DETECT_BOUND_MS=$((FALL * INTERVAL_MS + TIMEOUT_MS + 5000))
# Memory bounds (README, "Chaos suite", says how they were chosen).
LBD_RSS_BOUND_KB=2048
LB_RSS_BOUND_KB=2048
LB_HEAP_BOUND_KB=64
# The load's connect and read timeout: covers lb-dpdk's restart gap (a SYN
# or segment lost in it is sent again after 1, 3, 7, 15 s).
LOAD_TIMEOUT_S=20

E2E_BACKENDS=4
ALL="b1 b2 b3 b4"
BACKENDS="b1:1 b2:1 b3:1"
EVENTS=$E2E_DIR/events.jsonl
MEM=$E2E_DIR/memory.txt
START_MS=0
EVENT_FAILURES=0
: >"$EVENTS"
: >"$MEM"

chaos_exit() {
	local rc=$?
	touch "$E2E_DIR/stop"
	e2e_cleanup
	echo "chaos: seed $CHAOS_SEED (replay: CHAOS_SEED=$CHAOS_SEED CHAOS_SECONDS=$CHAOS_SECONDS make chaos)"
	exit $rc
}
trap chaos_exit EXIT

# ---- the model the schedule keeps (what it did, not what it measured) ------
declare -A IN ALIVE ADMIN AGENT
for b in $ALL; do
	IN[$b]=0
	ALIVE[$b]=1
	ADMIN[$b]=ready
	AGENT[$b]=100
done
for b in b1 b2 b3; do IN[$b]=1; done

# Healthy: in web's pool, admin ready, its server running.
healthy() { [ "${IN[$1]}" = 1 ] && [ "${ALIVE[$1]}" = 1 ] && [ "${ADMIN[$1]}" = ready ]; }
# Exit 0 when a backend other than $1 is healthy.
other_healthy() {
	local b
	for b in $ALL; do [ "$b" != "$1" ] && healthy "$b" && return 0; done
	return 1
}

# R = a random integer in [0, $1) from the seeded generator.
rand() { R=$((RANDOM % $1)); }
# PICK = a random word of "$@" (none: empty).
pick() {
	PICK=""
	[ $# -gt 0 ] || return 1
	rand $#
	shift "$R"
	PICK=$1
}

elapsed_ms() { echo $(($(now_ms) - START_MS)); }
# Records an event ($1 kind, $2 backend or "", $3 detail) with its time
# ($4, ms; default now), and prints it.
ev() {
	local t=${4:-$(now_ms)}
	printf '{"t": %s, "event": "%s", "backend": "%s", "detail": "%s"}\n' "$t" "$1" "$2" "$3" \
		>>"$EVENTS"
	printf '  [%7.1f s] %-10s %-3s %s\n' "$(awk -v ms=$((t - START_MS)) 'BEGIN { print ms / 1000 }')" "$1" "$2" "$3"
}
event_failed() {
	echo "  !! $*"
	EVENT_FAILURES=$((EVENT_FAILURES + 1))
}

# A field of lbd's view of web's backend $1 (Python expression on r).
backend_field() {
	$LBCTL -j backend show web "$1" 2>/dev/null | $PY -c 'import json, sys
r = json.load(sys.stdin)["result"]; print(eval(sys.argv[1], {"r": r}))' "$2"
}
published_not_ready() { [ "$(backend_field "$1" 'r["published"]["table"]')" != ready ]; }
published_ready() { [ "$(backend_field "$1" 'r["published"]["table"]')" = ready ]; }
health_up() { [ "$(backend_field "$1" 'r["health"]')" = up ]; }

# ---- memory ------------------------------------------------------------------
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }
# lb-dpdk's DPDK heap in use (kB): the flow tables and mempools live there.
lb_heap_kb() {
	echo "/eal/heap_info,0" | $PY /usr/bin/dpdk-telemetry.py -f "$E2E_PREFIX" 2>/dev/null |
		$PY -c 'import json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        print(int(json.loads(line)["/eal/heap_info"]["Alloc_size"]) // 1024)
        break'
}
# One line of $MEM: daemon, pid, phase (start: 5 s of load after its first
# generation in service; end: just before it is stopped, or after the run),
# VmRSS kB, and for lb-dpdk its DPDK heap in use.
mem_sample() {
	local heap=-
	[ "$1" = lb-dpdk ] && heap=$(lb_heap_kb)
	echo "$1 $2 $3 $(rss_kb "$2") ${heap:--}" >>"$MEM"
}
# The start sample of a daemon just (re)started, taken in the background so
# the schedule goes on.
mem_sample_later() {
	(
		sleep 5
		kill -0 "$2" 2>/dev/null && mem_sample "$1" "$2" start
	) &
	SAMPLERS="$SAMPLERS $!"
}
SAMPLERS=""

# ---- the events ----------------------------------------------------------------
# Each returns once its effect is settled, so that the next one starts from
# a known state (and, with the seed, a known model).

ev_kill() {
	local t0 t1 b=$1
	t0=$(now_ms)
	server_kill "$b"
	ALIVE[$b]=0
	ev kill "$b" "server SIGKILLed" "$t0"
	# Until lbd takes it out of the table, new connections hashed to it are
	# refused: that window is measured here and allowed (README). A draining
	# or removed backend takes no new connections: no window.
	if [ "${IN[$b]}" = 1 ] && [ "${ADMIN[$b]}" = ready ]; then
		if wait_for 20 published_not_ready "$b"; then
			t1=$(now_ms)
			ev detected "$b" "out of the table after $((t1 - t0)) ms" "$t1"
			[ $((t1 - t0)) -le "$DETECT_BOUND_MS" ] ||
				event_failed "$b: detection took longer than $DETECT_BOUND_MS ms"
		else
			event_failed "$b: still in the table 20 s after its server died"
		fi
	fi
}

ev_revive() {
	local b=$1
	server_start "$b" || event_failed "$b: server did not start"
	ALIVE[$b]=1
	ev revive "$b" "server started"
	if [ "${IN[$b]}" = 1 ]; then
		if wait_for 20 health_up "$b"; then
			ev up "$b" "health up"
		else
			event_failed "$b: not up 20 s after its server returned"
		fi
	fi
}

ev_lbd_kill() {
	local before gap
	rand 3
	gap=$((R + 1))
	mem_sample lbd "$LBD_PID" end
	ev lbd-kill "" "SIGKILL; restart in $gap s"
	lbd_stop KILL
	sleep "$gap"
	before=$(lbd_generations)
	lbd_start
	if wait_generation_after "$before"; then
		ev lbd-back "" "pid $LBD_PID, generation in service"
		mem_sample_later lbd "$LBD_PID"
	else
		event_failed "lbd restarted but published nothing in 20 s"
	fi
}

ev_lb_restart() {
	local before
	mem_sample lb-dpdk "$LB_PID" end
	before=$(lbd_generations)
	ev lb-stop "" "SIGTERM"
	lb_stop TERM
	if ! lb_start; then
		event_failed "lb-dpdk did not start again"
		return
	fi
	ev lb-start "" "pid $LB_PID"
	if wait_generation_after "$before"; then
		ev lb-back "" "lbd resynced it"
		mem_sample_later lb-dpdk "$LB_PID"
	else
		event_failed "lbd did not resync the new lb-dpdk in 20 s"
	fi
}

ev_agent() {
	local b=$1
	pick $(for p in 25 50 75 100; do [ "$p" != "${AGENT[$b]}" ] && echo $p; done)
	AGENT[$b]=$PICK
	agent_say "$b" "$PICK%"
	ev agent "$b" "agent says $PICK%"
}

ev_admin() {
	local b=$1 state=$2
	if lbctl_ok backend set web "$b" state "$state"; then
		ADMIN[$b]=$state
		ev "$state" "$b" "lbctl backend set web $b state $state"
	else
		event_failed "lbctl backend set web $b state $state refused"
	fi
}

ev_remove() {
	local b=$1 t0
	t0=$(now_ms)
	if lbctl_ok backend del web "$b" --force; then
		IN[$b]=0
		ev remove "$b" "lbctl backend del web $b --force" "$t0"
	else
		event_failed "lbctl backend del web $b --force refused"
	fi
}

ev_add() {
	local b=$1
	if ! lbctl_ok backend add web "$b" "$(backend_addr4 "$b")" by scaler; then
		event_failed "lbctl backend add web $b refused"
		return
	fi
	IN[$b]=1
	ADMIN[$b]=ready
	ev add "$b" "lbctl backend add web $b $(backend_addr4 "$b") by scaler"
	if [ "${ALIVE[$b]}" = 1 ]; then
		if wait_for 20 published_ready "$b"; then
			ev up "$b" "in the table"
		else
			event_failed "$b: added but not in the table after 20 s"
		fi
	fi
}

# One event, drawn among those the constraints allow (README):
#   kill a server        only if another backend stays healthy
#   drain a backend      only if another backend stays healthy
#   remove a backend     only if another backend stays healthy (so never the last)
#   revive, re-ready, add, agent percentages (25..100%), lbd and lb-dpdk
#   restarts: always. Draws are weighted so that the pool refills about as
#   fast as it is emptied.
one_event() {
	local b kills="" deads="" drains="" drained="" removes="" adds="" agents="" menu=""
	for b in $ALL; do
		if [ "${ALIVE[$b]}" = 1 ]; then
			other_healthy "$b" && kills="$kills $b"
		else
			deads="$deads $b"
		fi
		if [ "${IN[$b]}" = 1 ]; then
			agents="$agents $b"
			if [ "${ADMIN[$b]}" = ready ]; then
				other_healthy "$b" && drains="$drains $b"
			else
				drained="$drained $b"
			fi
			other_healthy "$b" && removes="$removes $b"
		else
			adds="$adds $b"
		fi
	done
	# The menu: each kind listed as many times as its weight.
	[ -n "$kills" ] && menu="$menu kill kill kill"
	[ -n "$deads" ] && menu="$menu revive revive revive"
	[ -n "$drains" ] && menu="$menu drain drain"
	[ -n "$drained" ] && menu="$menu ready ready"
	[ -n "$removes" ] && menu="$menu remove"
	[ -n "$adds" ] && menu="$menu add add"
	menu="$menu agent agent agent lbd lb"
	pick $menu
	case $PICK in
	kill) pick $kills && ev_kill "$PICK" ;;
	revive) pick $deads && ev_revive "$PICK" ;;
	drain) pick $drains && ev_admin "$PICK" drain ;;
	ready) pick $drained && ev_admin "$PICK" ready ;;
	remove) pick $removes && ev_remove "$PICK" ;;
	add) pick $adds && ev_add "$PICK" ;;
	agent) pick $agents && ev_agent "$PICK" ;;
	lbd) ev_lbd_kill ;;
	lb) ev_lb_restart ;;
	esac
}

# ---- set-up --------------------------------------------------------------------
topo_up
for b in $ALL; do agent_start "$b"; done
write_config
lb_start || { echo "lb-dpdk did not start"; cat "$E2E_DIR/lb-dpdk.log"; exit 1; }
lbd_start
all_up() {
	local b
	for b in b1 b2 b3; do published_ready "$b" || return 1; done
}
check "lb-dpdk and lbd started; b1..b3 up and in web's table (b4 waits to be added)" \
	wait_for 30 all_up

# lbd's events (health verdicts above all), one JSON line each with its
# time, across lbd's deaths: account.py names a backend lbd marked down
# while its server ran.
chaos_monitor() {
	while [ ! -f "$E2E_DIR/stop" ]; do
		$LBCTL monitor >>"$E2E_DIR/monitor.jsonl" 2>/dev/null
		sleep 0.2
	done
}
: >"$E2E_DIR/monitor.jsonl"
chaos_monitor &
MONITOR_LOOP=$!

START_MS=$(now_ms)
ns cl $PY "$CHAOS_HOME/load.py" "$VIP4" 80 "$E2E_DIR/load.jsonl" "$E2E_DIR/stop" \
	--streams "$CHAOS_STREAMS" --rate "$CHAOS_RATE" --timeout "$LOAD_TIMEOUT_S" \
	--seed "$CHAOS_SEED" --report 15 &
LOAD_PID=$!
ev load "" "$CHAOS_STREAMS long-lived connections, $CHAOS_RATE short ones a second"
# The first instances' start samples: 5 s of load after their first
# generation, as for every restarted one.
sleep 5
mem_sample lbd "$LBD_PID" start
mem_sample lb-dpdk "$LB_PID" start
sleep 5

# ---- the schedule ----------------------------------------------------------------
echo "chaos: the schedule (seed $CHAOS_SEED), time since the load started:"
n_events=0
while [ $(($(now_ms) - START_MS)) -lt $((CHAOS_SECONDS * 1000)) ]; do
	one_event
	n_events=$((n_events + 1))
	# A gap of 0.5 .. 3 s between events.
	rand 26
	sleep "$(awk -v r="$R" 'BEGIN { print 0.5 + r / 10 }')"
done
ev end "" "$n_events events; load goes on 10 s"
# Settle, then the end samples at the same load.
sleep 10
[ -z "$SAMPLERS" ] || wait $SAMPLERS # the background start samples
mem_sample lbd "$LBD_PID" end
mem_sample lb-dpdk "$LB_PID" end
touch "$E2E_DIR/stop"
ev stop "" "load stopping"
wait_for 60 test -f "$E2E_DIR/load.jsonl"

# ---- the verdicts ------------------------------------------------------------------
check "every event settled within its bound ($n_events events; detection bound $DETECT_BOUND_MS ms)" \
	test "$EVENT_FAILURES" -eq 0
# The monitor loop ends at its next turn; lbctl, at the end of its stream.
pkill -f "lbctl -s $E2E_DIR/lbd.sock monitor" 2>/dev/null
wait "$MONITOR_LOOP" 2>/dev/null
$PY "$CHAOS_HOME/account.py" "$E2E_DIR/load.jsonl" "$EVENTS" "$E2E_DIR/verdicts" \
	"$E2E_DIR/monitor.jsonl"
verdict() { grep -qx "$1 ok" "$E2E_DIR/verdicts"; }
check "long-lived connections: none broke whose backend's server stayed up and which stayed in the pool" \
	verdict long_broken
check "short connections: none broke whose backend's server stayed up and which stayed in the pool" \
	verdict short_broken
check "new connections: every one opened outside a dead server's detection window succeeded" \
	verdict opens
check "the load ran throughout: connections completed in every 10 s of the run" \
	verdict steady

memory_ok() {
	$PY - "$MEM" "$LBD_RSS_BOUND_KB" "$LB_RSS_BOUND_KB" "$LB_HEAP_BOUND_KB" <<'EOF'
import sys
lines = [l.split() for l in open(sys.argv[1]) if l.strip()]
bound = {"lbd": int(sys.argv[2]), "lb-dpdk": int(sys.argv[3])}
heap_bound = int(sys.argv[4])
ok = True
for daemon in ("lbd", "lb-dpdk"):
    inst = {}
    order = []
    for d, pid, phase, rss, heap in lines:
        if d != daemon:
            continue
        if pid not in inst:
            order.append(pid)
        inst.setdefault(pid, {})[phase] = (int(rss or 0), None if heap == "-" else int(heap))
    print("  %s: %d instance(s); VmRSS kB at start (5 s of load after its first generation) -> "
          "at its end%s:" % (daemon, len(order), "; DPDK heap in use kB" if daemon == "lb-dpdk" else ""))
    for pid in order:
        s, e = inst[pid].get("start"), inst[pid].get("end")
        line = "    pid %s: %s -> %s" % (pid, s[0] if s else "-", e[0] if e else "-")
        if s and e:
            line += " (%+d)" % (e[0] - s[0])
            ok &= e[0] - s[0] <= bound[daemon]
            if daemon == "lb-dpdk":
                line += "; heap %s -> %s" % (s[1], e[1])
                ok &= s[1] is not None and e[1] is not None and e[1] - s[1] <= heap_bound
        print(line)
    first, last = inst[order[0]].get("start"), inst[order[-1]].get("end")
    if not first or not last:
        print("    missing the first start or the last end sample")
        ok = False
        continue
    print("    before the chaos %d kB, after %d kB: %+d kB (bound +%d kB)%s" % (
        first[0], last[0], last[0] - first[0], bound[daemon],
        "; heap %+d kB (bound +%d kB)" % (last[1] - first[1], heap_bound)
        if daemon == "lb-dpdk" else ""))
    ok &= last[0] - first[0] <= bound[daemon]
    if daemon == "lb-dpdk":
        ok &= last[1] - first[1] <= heap_bound
sys.exit(0 if ok else 1)
EOF
}
check "memory: lbd within +$LBD_RSS_BOUND_KB kB, lb-dpdk within +$LB_RSS_BOUND_KB kB (heap +$LB_HEAP_BOUND_KB kB), each instance and before -> after" \
	memory_ok

lbd_stop TERM
lb_stop TERM
e2e_dump_logs
e2e_summary
