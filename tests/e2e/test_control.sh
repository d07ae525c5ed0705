#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, the control plane with real TCP: lbd health-checks the backends
# through lb-dpdk's exception path and reads their fulcrum-agent, and the
# operator drives it with lbctl.
#   1. a backend's server killed -> marked down within fall x interval +
#      timeout; its new flows go elsewhere; other connections untouched;
#      back after rise when it returns;
#   2. an agent reporting 50% -> that backend's weight against the others
#      halves (share of 1000 new connections);
#   3. drain -> no new flows, existing ones finish, ACTIVE_FLOWS reaches 0;
#   4. a backend added with lbctl -> traffic after rise;
#   5. lbd restarted -> run-time state restored, connections untouched;
#   and the Prometheus endpoint shows each of these.
# Each step prints the latency it measured from the event to the generation
# in service.
. "$(dirname "$0")/lib.sh"

# Health checks for web (the other VIPs have none): a check a second while
# steady, every 200 ms while a change is being confirmed.
INTERVAL_MS=1000
FAST_MS=200
TIMEOUT_MS=300
RISE=2
FALL=2
WEB_HEALTH="type = \"tcp\"; interval_ms = $INTERVAL_MS; fast_interval_ms = $FAST_MS;
  down_interval_ms = 500; timeout_ms = $TIMEOUT_MS; rise = $RISE; fall = $FALL;
  jitter_pct = 10; agent_port = $AGENT_PORT; agent_interval_ms = 300;
  agent_weight_interval_ms = 500;"
# Closed connections leave the flow table after 4 s idle (drain reaching 0).
TCP_IDLE_TIMEOUT_S=4

# lbd's events, one JSON line each, from `lbctl monitor`.
MONITOR_PID=""
monitor_start() {
	$LBCTL monitor >>"$E2E_DIR/monitor.jsonl" 2>/dev/null &
	MONITOR_PID=$!
}
monitor_stop() { daemon_stop "$MONITOR_PID"; MONITOR_PID=""; }

# The time_ms of the first monitor event after $1 (ms) matching the Python
# condition $2 on e (the event), or nothing.
event_time() {
	$PY - "$E2E_DIR/monitor.jsonl" "$1" "$2" <<'EOF'
import json, sys
since, cond = int(sys.argv[2]), sys.argv[3]
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("time_ms", 0) >= since and eval(cond, {"e": e}):
        print(e["time_ms"])
        break
EOF
}
has_event() { [ -n "$(event_time "$1" "$2")" ]; }
# Waits for the first event after $1 matching $2, then for the generation
# put in service after it: sets EVENT_MS and PUBLISHED_MS.
event_then_generation() {
	wait_for 10 has_event "$1" "$2" || return 1
	EVENT_MS=$(event_time "$1" "$2")
	wait_for 5 has_event "$EVENT_MS" 'e["event"] == "generation"' || return 1
	PUBLISHED_MS=$(event_time "$EVENT_MS" 'e["event"] == "generation"')
}

# A field of `lbctl -j backend show web $1` (a Python expression on r).
backend_field() {
	$LBCTL -j backend show web "$1" | $PY -c 'import json, sys
r = json.load(sys.stdin)["result"]; print(eval(sys.argv[1], {"r": r}))' "$2"
}

# The value of one series (NAME{LABELS}) on the metrics page.
metric_value() { metrics | awk -v series="$1" '$1 == series { print $2 }'; }
# Exit 0 when every line given is in the metrics page; prints them.
metrics_have() {
	local page line ok=0
	page=$(metrics) || return 1
	for line in "$@"; do
		if grep -qxF "$line" <<<"$page"; then echo "  $line"; else echo "  missing: $line"; ok=1; fi
	done
	return $ok
}

# 600 new connections to web; counts in $E2E_DIR/spread.json.
spread() { ns cl $PY "$E2E_PEER" spread "$VIP4" 80 "${1:-600}" >"$E2E_DIR/spread.json"; }
spread_has_none_of() {
	$PY - "$E2E_DIR/spread.json" "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("  %d new connections: %s, %d failed" % (sum(r["counts"].values()), r["counts"],
                                              len(r["failures"])))
sys.exit(0 if sys.argv[2] not in r["counts"] and not r["failures"] else 1)
EOF
}

echo "[==========] e2e: control plane (health, agents, lbctl, metrics; $E2E_BACKENDS backends)"
topo_up
for b in b1 b2 b3; do agent_start $b; done
BACKENDS="b1:1 b2:1 b3:1"
write_config
lb_start || { echo "lb-dpdk did not start"; cat "$E2E_DIR/lb-dpdk.log"; exit 1; }
lbd_start
wait_for 10 test -S "$E2E_DIR/lbd.sock"
monitor_start
all_up() {
	local n
	n=$($LBCTL -j backend list web | $PY -c 'import json, sys
print(sum(b["health"] == "up" and b["table"] == "ready" for b in json.load(sys.stdin)["result"]))')
	[ "$n" -eq 3 ]
}
check "lbd checked b1..b3 through lb-dpdk's exception path: all up, first generation in service" \
	wait_for 20 all_up
wait_generation_after 0
$LBCTL backend list web | sed 's/^/  /'

# Bash completion, with names from the running lbd.
COMPLETION=$(dirname "$0")/../../tools/lbctl.bash-completion
complete_words() {
	bash -c '. "$0"
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _lbctl; echo "${COMPREPLY[*]}"' "$COMPLETION" "$@"
}
completes() {
	local vips backends states
	vips=$(complete_words "$BUILD/lbctl" -s "$E2E_DIR/lbd.sock" backend set "")
	backends=$(complete_words "$BUILD/lbctl" -s "$E2E_DIR/lbd.sock" backend set web b)
	states=$(complete_words "$BUILD/lbctl" -s "$E2E_DIR/lbd.sock" backend set web b1 state d)
	echo "  lbctl backend set <TAB>: $vips"
	echo "  lbctl backend set web b<TAB>: $backends"
	echo "  lbctl backend set web b1 state d<TAB>: $states"
	[ "$vips" = "web dns web6 dns6 mixed" ] && [ "$backends" = "b1 b2 b3" ] &&
		[ "$states" = "drain" ]
}
check "bash completion: VIP and backend names from lbd, states from the grammar" completes

# --- 1. a backend's server dies -------------------------------------------
streams_start 30
killed_ms=$(now_ms)
server_kill b2
bound_ms=$((FALL * INTERVAL_MS + TIMEOUT_MS))
down_in_time() {
	event_then_generation "$killed_ms" \
		'e["event"] == "health" and e["backend"] == "b2" and e["health"] == "down"' || return 1
	echo "  b2 marked down $((EVENT_MS - killed_ms)) ms after its server died (bound: fall x interval + timeout = $bound_ms ms);" \
		"failure to generation in service: $((PUBLISHED_MS - killed_ms)) ms"
	grep "backend b2 .* is DOWN" "$E2E_DIR/lbd.log" | tail -n 1 | sed 's/^/  /'
	[ $((EVENT_MS - killed_ms)) -le "$bound_ms" ]
}
check "b2's server killed: marked down within fall x interval + timeout, and published" down_in_time
spread 300
check "300 new connections after the failure: none to b2, none failed" spread_has_none_of b2
sleep 1
streams_stop
check "30 streaming connections: only those on b2 (whose server died) broke" streams_unbroken_except b2
check "metrics: b2 health 0, b1 health 1, web has 2 backends up" metrics_have \
	'fulcrum_backend_health_up{vip="web",backend="b2"} 0' \
	'fulcrum_backend_health_up{vip="web",backend="b1"} 1' \
	'fulcrum_vip_backends_up{vip="web"} 2'
back_ms=$(now_ms)
server_start b2
back_after_rise() {
	event_then_generation "$back_ms" \
		'e["event"] == "health" and e["backend"] == "b2" and e["health"] == "up"' || return 1
	echo "  b2 up $((EVENT_MS - back_ms)) ms after its server returned (rise $RISE at the $FAST_MS ms fast interval, or the 500 ms down interval first); in service after $((PUBLISHED_MS - back_ms)) ms"
	grep "backend b2 .* is UP" "$E2E_DIR/lbd.log" | tail -n 1 | sed 's/^/  /'
}
check "b2's server restarted: b2 up again after $RISE successes" back_after_rise
# The generation that followed the event may be another VIP's: web's own
# change can wait for its rate limit (500 ms). Spread only once web has b2.
wait_for 5 test "$(backend_field b2 'r["published"]["table"]')" = "ready"

# --- 2. an agent reports 50% ---------------------------------------------
# The share of b1 against the mean of b2 and b3 is the ratio of their weights;
# with 1000 connections the tolerance is about 4 standard deviations.
weight_ratio() {
	$PY - "$E2E_DIR/spread.json" "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["counts"]
want, label = float(sys.argv[2]), sys.argv[3]
ratio = c.get("b1", 0) / ((c.get("b2", 0) + c.get("b3", 0)) / 2.0)
print("  %s: %s; b1 / mean(b2, b3) = %.2f (expected %.2f, tolerance +-0.15)" % (
    label, c, ratio, want))
sys.exit(0 if not r["failures"] and abs(ratio - want) <= 0.15 else 1)
EOF
}
spread 1000
check "agents at 100%: 1000 connections spread evenly" weight_ratio 1.0 "agents at 100%"
said_ms=$(now_ms)
agent_say b1 "50%"
agent_latency() {
	event_then_generation "$said_ms" 'e["event"] == "agent" and e["backend"] == "b1"' || return 1
	echo "  b1's agent said 50%: lbd read it after $((EVENT_MS - said_ms)) ms, generation in service after $((PUBLISHED_MS - said_ms)) ms (agent every 300 ms, weight changes at most every 500 ms)"
	echo "  lbctl backend show web b1: effective weight $(backend_field b1 'r["effective_weight"]'), agent report \"$(backend_field b1 'r["agent"]["report"]')\""
	[ "$(backend_field b1 'r["published"]["weight"]')" = "0.5" ]
}
check "b1's agent reports 50%: effective weight 0.5 published" agent_latency
spread 1000
check "agent at 50%: b1's share against the others halves" weight_ratio 0.5 "b1's agent at 50%"
check "metrics: b1 effective weight 0.5, agent reachable" metrics_have \
	'fulcrum_backend_effective_weight{vip="web",backend="b1"} 0.5' \
	'fulcrum_backend_agent_reachable{vip="web",backend="b1"} 1'
agent_say b1 "100%"
wait_for 10 test "$(backend_field b1 'r["published"]["weight"]')" = "1.0"

# --- 3. drain ---------------------------------------------------------------
streams_start 30
drain_ms=$(now_ms)
check "lbctl backend set web b3 state drain" lbctl_ok backend set web b3 state drain
drain_published() {
	wait_for 5 has_event "$drain_ms" 'e["event"] == "generation"' || return 1
	echo "  drain to generation in service: $(($(event_time "$drain_ms" 'e["event"] == "generation"') - drain_ms)) ms"
}
check "the drain is published" drain_published
spread 200
check "200 new connections while b3 drains: none to b3" spread_has_none_of b3
b3_active() { backend_field b3 'r["flows_active"]'; }
b3_flows=$(b3_active)
b3_has_flows() {
	echo "  b3 still carries $b3_flows flows (lbctl backend list, ACTIVE_FLOWS):"
	$LBCTL backend list web | sed 's/^/    /'
	[ "$b3_flows" -gt 0 ]
}
check "lbctl shows the flows the draining b3 still has" b3_has_flows
b3_metric_flows() {
	local n
	n=$(metric_value 'fulcrum_backend_flows_active{vip="web",backend="b3"}')
	echo "  fulcrum_backend_flows_active{vip=\"web\",backend=\"b3\"} $n"
	[ "${n:-0}" -gt 0 ]
}
check "metrics: b3 admin state drain, with active flows" metrics_have \
	'fulcrum_backend_admin_state{vip="web",backend="b3",state="drain"} 1'
check "metrics: b3's active flows above 0" b3_metric_flows
sleep 1
streams_stop
check "30 streaming connections finished unbroken, those on the draining b3 included" \
	streams_unbroken_except
b3_empty() { [ "$(b3_active)" = 0 ]; }
empty_ms=$(now_ms)
drain_empties() {
	wait_for 20 b3_empty || return 1
	echo "  b3 empty $(($(now_ms) - empty_ms)) ms after its last connection closed (idle timeout ${TCP_IDLE_TIMEOUT_S} s, sampled every second)"
}
check "once its connections close, b3's ACTIVE_FLOWS reaches 0 (safe to remove)" drain_empties
check "lbctl backend set web b3 state ready" lbctl_ok backend set web b3 state ready

# --- 4. scale-up: a backend added with lbctl ----------------------------------
backend_add b4
agent_start b4
added_ms=$(now_ms)
check "lbctl backend add web b4 $(backend_addr4 b4)" lbctl_ok backend add web b4 "$(backend_addr4 b4)" \
	by scaler
added_latency() {
	event_then_generation "$added_ms" \
		'e["event"] == "health" and e["backend"] == "b4" and e["health"] == "up"' || return 1
	echo "  b4 added: up after $((EVENT_MS - added_ms)) ms ($RISE successes), in service after $((PUBLISHED_MS - added_ms)) ms"
	[ "$(backend_field b4 'r["published"]["table"]')" = "ready" ]
}
check "b4 comes up after rise and enters the table" added_latency
spread 400
b4_gets_traffic() {
	$PY - "$E2E_DIR/spread.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["counts"]
print("  400 new connections: %s" % c)
sys.exit(0 if c.get("b4", 0) >= 40 and not r["failures"] else 1)
EOF
}
check "b4 receives new connections (at least 40 of 400; a fair share is 100)" b4_gets_traffic

# --- 5. lbd restarted: run-time state restored ----------------------------
check "lbctl backend set web b2 weight 3" lbctl_ok backend set web b2 weight 3
check "lbctl backend set web b1 state maint (operator)" lbctl_ok backend set web b1 state maint
wait_for 5 test "$(backend_field b1 'r["published"]["table"]')" = "absent"
streams_start 20
monitor_stop
before=$(lbd_generations)
lbd_stop TERM
lbd_start
wait_for 10 test -S "$E2E_DIR/lbd.sock"
restored() {
	wait_generation_after "$before" || return 1
	local b4 b2w b1s
	b4=$(backend_field b4 'r["origin"]')
	b2w=$(backend_field b2 'r["weight"]')
	b1s=$(backend_field b1 '"%s by %s" % (r["state"], r["state_by"])')
	echo "  after the restart: b4 from $b4, b2 weight $b2w, b1 $b1s"
	grep "state file .*: run-time changes restored" "$E2E_DIR/lbd.log" | tail -n 1 | sed 's/^/  /'
	[ "$b4" = runtime ] && [ "$b2w" = 3 ] && [ "$b1s" = "maint by operator" ]
}
check "lbd restarted: the added b4, b2's weight and b1's maint are restored from the state file" \
	restored
sleep 2
streams_stop
check "20 streaming connections unbroken across lbd's restart (b1, in maint, had none)" \
	streams_unbroken_except
spread 300
check "after the restart new connections avoid b1 (maint)" spread_has_none_of b1

monitor_stop
lbd_stop TERM
lb_stop TERM
e2e_dump_logs
e2e_summary
