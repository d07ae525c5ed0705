#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, lbd's control socket under a flood of misbehaving clients
# (tests/e2e/ctl_flood.py, as the unprivileged user nobody in the socket's
# group): 3000 connections, more than the 1024 places, holding half-written
# requests, oversized lines, 20 000 pipelined requests never read, and
# requests trickled a byte every 2 s. Meanwhile:
#   - a backend's server is killed: health checking marks it down and the
#     table without it is published, as fast as in the same step before the
#     flood (printed side by side);
#   - root still gets in (the places kept for it) and is answered;
#   - lbd turns the surplus away as busy, closes the trickling and
#     half-written clients after 10 s and the oversized ones at once, and
#     its memory stays bounded; the metrics count all of it.
. "$(dirname "$0")/lib.sh"

FLOOD_CLIENTS=3000
INTERVAL_MS=1000
WEB_HEALTH="type = \"tcp\"; interval_ms = $INTERVAL_MS; fast_interval_ms = 200;
  down_interval_ms = 500; timeout_ms = 300; rise = 2; fall = 2;"
E2E_GLOBAL_EXTRA='control_socket_group = "nogroup";'

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$LBD_PID/status"; }
metric_value() { metrics | awk -v series="$1" '$1 == series { print $2 }'; }
backend_health() {
	$LBCTL -j backend show web "$1" | $PY -c 'import json, sys
print(json.load(sys.stdin)["result"]["health"])'
}
health_is() { [ "$(backend_health "$1")" = "$2" ]; }
clients_at_least() { [ "$(metric_value fulcrum_control_clients)" -ge "$1" ]; }
clients_at_most() { [ "$(metric_value fulcrum_control_clients)" -le "$1" ]; }

# Kills $1's server and prints the milliseconds until lbd has published a
# generation without it (health down, then a new generation).
down_latency() {
	local before start
	before=$(lbd_generations)
	start=$(now_ms)
	server_kill "$1"
	wait_for 30 health_is "$1" down || return 1
	wait_generation_after "$before" || return 1
	echo $(($(now_ms) - start))
}

echo "[==========] e2e: control socket flood ($FLOOD_CLIENTS clients)"
topo_up
write_config
lb_start || { echo "lb-dpdk did not start"; cat "$E2E_DIR/lb-dpdk.log"; exit 1; }
lbd_start
wait_for 20 lbd_generations_above 0 || { echo "lbd published nothing"; cat "$E2E_DIR/lbd.log"; exit 1; }
wait_for 20 health_is b1 up
# nobody reaches the socket through the test's directory, and writes its
# report in a directory of its own.
chmod o+x "$E2E_DIR"
mkdir -m 0777 "$E2E_DIR/nobody"

# --- before the flood: the same step, for comparison ------------------------
base_ms=$(down_latency b1)
check "before the flood: b1's server killed, down and published in ${base_ms:-?} ms" \
	test -n "$base_ms"
server_start b1
wait_for 30 health_is b1 up
rss0=$(rss_kib)

# --- the flood ---------------------------------------------------------------
rm -f "$E2E_DIR/flood_stop"
nsenter --net="/var/run/netns/$E2E_PREFIX-lb" setpriv --reuid=nobody --regid=nogroup \
	--clear-groups $PY "$(dirname "$0")/ctl_flood.py" "$E2E_DIR/lbd.sock" "$FLOOD_CLIENTS" \
	"$E2E_DIR/flood_stop" "$E2E_DIR/nobody/flood.json" &
flood_pid=$!
wait_for 120 test -f "$E2E_DIR/nobody/flood.json.ready"
clients=$(metric_value fulcrum_control_clients)
check "the flood holds $clients of lbd's control places" test "${clients:-0}" -ge 1000
check "root still gets in and is answered while every ordinary place is taken" \
	lbctl_ok vip list
flood_ms=$(down_latency b2)
check "during the flood: b2's server killed, down and published in ${flood_ms:-?} ms (${base_ms} ms before it)" \
	test -n "$flood_ms"
rss1=$(rss_kib)
check "lbd's memory during the flood: $((rss1 / 1024)) MiB against $((rss0 / 1024)) MiB before (bound: +128 MiB)" \
	test "$rss1" -le $((rss0 + 131072))
# The trickling and half-written clients are closed 10 s after their first
# byte (lbd looks once a second).
sleep 13
touch "$E2E_DIR/flood_stop"
wait "$flood_pid"
flood_summary() {
	$PY - "$E2E_DIR/nobody/flood.json" "$FLOOD_CLIENTS" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("  flood: %d held, %d turned away busy, %d closed by lbd while held; by kind %s" % (
    r["opened"], r["refused"], r["closed_by_lbd"], r["kinds"]))
k = r["kinds"]
ok = r["refused"] > 0 and r["opened"] + r["refused"] == int(sys.argv[2])
for kind in ("half", "long", "slow"):
    ok &= k[kind]["closed_by_lbd"] == k[kind]["opened"]
sys.exit(0 if ok else 1)
EOF
}
check "the surplus was turned away busy; half-written, oversized and trickled requests were all closed" \
	flood_summary
busy=$(metric_value 'fulcrum_control_refused_total{reason="busy"}')
timeouts=$(metric_value fulcrum_control_timeouts_total)
wait_for 40 clients_at_most 1
check "metrics: refused busy $busy, closed on timeout $timeouts, clients back to $(metric_value fulcrum_control_clients)" \
	test "${busy:-0}" -gt 0 -a "${timeouts:-0}" -gt 0 -a "$(metric_value fulcrum_control_clients)" -le 1
local_errors=$(metric_value fulcrum_health_local_errors_total)
check "health checks never lacked a descriptor (local errors: ${local_errors:-?})" \
	test "${local_errors:-1}" -eq 0
server_start b2
check "after the flood, b2 comes back up" wait_for 30 health_is b2 up

lbd_stop TERM
lb_stop TERM
e2e_dump_logs
e2e_summary
