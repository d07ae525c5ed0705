#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, lbd's half-open TCP checks (health type "tcp-half-open")
# through lb-dpdk's exception path, IPv4 (web) and IPv6 (web6):
#   0. lbd without CAP_NET_RAW and a half-open VIP refuses to start, saying
#      why (no silent fallback to another check);
#   1. backends with a listener come up, and the answer that made them up
#      is a SYN-ACK; lbd holds no TCP socket toward them;
#   2. a backend whose port is closed (its server killed: the kernel resets
#      the SYN) goes down within fall x interval + timeout;
#   3. a backend whose host is silent (its link down: no answer at all)
#      goes down by timeouts, within the same bound;
#   4. the backends' kernels hold no half-open (SYN-RECV) connection from
#      the checks: lbd's kernel resets every SYN-ACK;
#   5. a VIP added at run time with `health tcp-half-open` is checked too.
. "$(dirname "$0")/lib.sh"

MONITOR_PID=""

# A silent host is down at most interval + jitter + timeout (its first
# failure) + fast interval + jitter + timeout (its second) after it fell
# silent: 3 420 ms here, a second within the bound of fall x interval +
# timeout (4 500 ms), which the shared machine's delays need.
INTERVAL_MS=2000
FAST_MS=200
TIMEOUT_MS=500
RISE=2
FALL=2
HALF_OPEN="type = \"tcp-half-open\"; interval_ms = $INTERVAL_MS; fast_interval_ms = $FAST_MS;
  down_interval_ms = 500; timeout_ms = $TIMEOUT_MS; rise = $RISE; fall = $FALL; jitter_pct = 10;"
WEB_HEALTH=$HALF_OPEN
BOUND_MS=$((FALL * INTERVAL_MS + TIMEOUT_MS))

# web6 gets the same checks (lib.sh gives web alone a health group).
write_half_open_config() {
	write_config
	sed -i "s|{ name = \"web6\"; protocol = \"tcp\"; address = \"$VIP6\"; port = 80;|& health = { $(echo $HALF_OPEN) };|" \
		"$E2E_DIR/fulcrum.conf"
	grep -q 'name = "web6".*tcp-half-open' "$E2E_DIR/fulcrum.conf"
}

# lbd's events, one JSON line each, from `lbctl monitor`; the time of the
# first one at or after $1 (ms) in which backend $3 of VIP $2 went down.
monitor_start() {
	$LBCTL monitor >>"$E2E_DIR/monitor.jsonl" 2>/dev/null &
	MONITOR_PID=$!
}
down_event_ms() {
	$PY - "$E2E_DIR/monitor.jsonl" "$1" "$2" "$3" <<'EOF'
import json, sys
since, vip, backend = int(sys.argv[2]), sys.argv[3], sys.argv[4]
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if (e.get("time_ms", 0) >= since and e.get("event") == "health" and e.get("vip") == vip
            and e.get("backend") == backend and e.get("health") == "down"):
        print(e["time_ms"])
        break
EOF
}
has_down_event() { [ -n "$(down_event_ms "$@")" ]; }

# The health of backend $2 of VIP $1 ("up" or "down") and its check's reason.
health_of() {
	$LBCTL -j backend show "$1" "$2" | $PY -c 'import json, sys
r = json.load(sys.stdin)["result"]; print(r["health"], "|", r["check"]["reason"])'
}
is_health() { [ "$(health_of "$1" "$2" | cut -d' ' -f1)" = "$3" ]; }
all_up() {
	local v b
	for v in web web6; do
		for b in b1 b2 b3; do is_health $v $b up || return 1; done
	done
}

echo "[==========] e2e: half-open TCP health checks (IPv4 and IPv6, through lb-dpdk)"
topo_up
write_half_open_config || { echo "could not write web6's health group"; exit 1; }
lb_start || { echo "lb-dpdk did not start"; cat "$E2E_DIR/lb-dpdk.log"; exit 1; }

# --- 0. no CAP_NET_RAW -------------------------------------------------------
no_raw_refused() {
	local rc=0
	timeout 20 nsenter --net="/var/run/netns/$E2E_PREFIX-lb" \
		setpriv --bounding-set=-net_raw --inh-caps=-net_raw \
		"$BUILD/lbd" -c "$E2E_DIR/fulcrum.conf" >"$E2E_DIR/lbd-noraw.log" 2>&1 || rc=$?
	sed 's/^/  /' "$E2E_DIR/lbd-noraw.log" | grep -i "error" | head -n 2
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "CAP_NET_RAW" "$E2E_DIR/lbd-noraw.log" &&
		[ ! -S "$E2E_DIR/lbd.sock" ]
}
check "lbd without CAP_NET_RAW refuses a tcp-half-open configuration at start, naming the capability" \
	no_raw_refused
rm -f "$E2E_DIR/lbd.state"

lbd_start
wait_for 10 test -S "$E2E_DIR/lbd.sock"
monitor_start
# --- 1. listeners: up ------------------------------------------------------------
came_up() {
	wait_for 20 all_up || return 1
	echo "  web b1: $(health_of web b1); web6 b1: $(health_of web6 b1)"
	grep "half-open health checks: SYNs from source port" "$E2E_DIR/lbd.log" | sed 's/^/  /'
	health_of web b1 | grep -q "tcp-half-open: SYN-ACK" &&
		health_of web6 b1 | grep -q "tcp-half-open: SYN-ACK"
}
check "web and web6: b1..b3 up after $RISE SYN-ACKs each" came_up
# No socket per check: lbd's namespace has no TCP connection to a backend.
no_lbd_connections() {
	local n
	n=$(nsenter --net="/var/run/netns/$E2E_PREFIX-lb" ss -Htan "( dport = :80 )" |
		grep -c "10\.99\.3\.\|fd99:3::")
	echo "  TCP sockets in the balancer's namespace toward backends' port 80: $n"
	[ "$n" -eq 0 ]
}
check "lbd holds no TCP socket toward the backends while checking them" no_lbd_connections

# --- 4 (while every backend listens). No half-open connection left --------------
# Sampled 40 times over about 10 s, while each backend gets a check a
# second (web and web6, every 2 s each): a SYN-RECV lives only until lbd's kernel resets
# the SYN-ACK, well under a millisecond, where a SYN-ACK left unanswered
# would keep one for a minute of retransmissions. (nsenter rather than
# `ip netns exec`: no /sys to mount, a lighter load on the machine.)
in_ns() {
	local n=$1
	shift
	nsenter --net="/var/run/netns/$E2E_PREFIX-$n" "$@"
}
syn_recv_count() {
	local b n total=0
	for b in b1 b2 b3; do
		n=$(in_ns "$b" ss -Htan state syn-recv | wc -l)
		total=$((total + n))
	done
	echo "$total"
}
no_half_open_left() {
	local i seen=0 n
	for i in $(seq 40); do
		n=$(syn_recv_count)
		[ "$n" -gt 0 ] && seen=$((seen + 1))
		sleep 0.25
	done
	echo "  samples with a SYN-RECV socket on b1..b3: $seen of 40"
	[ "$seen" -eq 0 ]
}
check "the backends' kernels hold no SYN-RECV connection from the checks (ss, 40 samples)" \
	no_half_open_left
# Each reply reaches this topology's balancer twice (the kernel takes it
# from lb0 as well as from lb-dpdk's exception interface); the second is
# ignored and counted, and no check may have failed.
no_failures() {
	local failures
	failures=$(metrics | awk '$1 == "fulcrum_health_check_failures_total" { print $2 }')
	echo "  fulcrum_health_check_failures_total $failures"
	! grep -q "is DOWN" "$E2E_DIR/lbd.log"
}
check "no backend went down while every one listened" no_failures

# --- 2. port closed: reset -> down -------------------------------------------------
down_within() { # $1 vip, $2 backend, $3 since (ms)
	wait_for 10 has_down_event "$3" "$1" "$2" || return 1
	local at
	at=$(down_event_ms "$3" "$1" "$2")
	echo "  $1 $2 down $((at - $3)) ms after (bound: fall x interval + timeout = $BOUND_MS ms):$(health_of "$1" "$2" | cut -d'|' -f2)"
	grep "vip $1: backend $2 .* is DOWN" "$E2E_DIR/lbd.log" | tail -n 1 | sed 's/^/  /'
	[ $((at - $3)) -le "$BOUND_MS" ]
}
killed_ms=$(now_ms)
server_kill b2
closed_down() {
	down_within web b2 "$killed_ms" && down_within web6 b2 "$killed_ms" &&
		health_of web b2 | grep -q "reset: nothing listens on port 80"
}
check "b2's server killed (port closed, RST): down within fall x interval + timeout, reason a reset" \
	closed_down

# --- 3. silent host: timeouts -> down ------------------------------------------------
silenced_ms=$(now_ms)
ns b3 ip link set eth0 down
silent_down() {
	down_within web b3 "$silenced_ms" && down_within web6 b3 "$silenced_ms" &&
		health_of web b3 | grep -q "tcp-half-open: no answer within $TIMEOUT_MS ms"
}
check "b3's host silent (link down): down by timeouts within fall x interval + timeout" silent_down
check "b1 stays up in web and web6" eval 'is_health web b1 up && is_health web6 b1 up'

# --- 4 again, once the checks have failed -----------------------------------------
no_state_after() {
	local b1 b2
	sleep 1
	b1=$(in_ns b1 ss -Htan state syn-recv | wc -l)
	b2=$(in_ns b2 ss -Htan | wc -l)
	echo "  afterwards: SYN-RECV sockets on b1: $b1; TCP sockets of any state on b2: $b2"
	[ "$b1" -eq 0 ] && [ "$b2" -eq 0 ]
}
check "afterwards: no SYN-RECV on b1, no socket at all on b2 (its port is closed)" no_state_after

# --- 5. a VIP added at run time -------------------------------------------------
runtime_vip() {
	$LBCTL vip add web9 tcp 10.99.100.9 80 health tcp-half-open >/dev/null || return 1
	$LBCTL backend add web9 b1 "$(backend_addr4 b1)" >/dev/null || return 1
	wait_for 20 is_health web9 b1 up || return 1
	echo "  web9 b1 (added with lbctl): $(health_of web9 b1)"
	$LBCTL -j vip show web9 | grep -q '"health": *"tcp-half-open"'
}
check "a VIP added with lbctl (health tcp-half-open): its backend checked and up" runtime_vip
metrics_ok() {
	local ignored
	ignored=$(metrics | awk '$1 == "fulcrum_health_half_open_ignored_total" { print $2 }')
	echo "  fulcrum_health_half_open_ignored_total $ignored"
	[ -n "$ignored" ]
}
check "metrics: the half-open ignored-replies counter is exported" metrics_ok

daemon_stop "$MONITOR_PID"
lbd_stop TERM
lb_stop TERM
e2e_dump_logs
e2e_summary
