#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end: lb-dpdk restarted with SIGTERM (what `systemctl restart
# lb-dpdk` does) while long-lived connections stream, after the ring has
# changed under them (one backend drained, another's weight raised), so that
# the ring alone would send many of them elsewhere. With the flow state file
# the new lb-dpdk restores its flow tables: no connection breaks, those on
# the draining backend stay there, and telemetry's flows_restored is the
# connections' flow count. Then the same sequence with the file turned off:
# connections break, which shows that the first part tests something.
. "$(dirname "$0")/lib.sh"

echo "[==========] e2e: lb-dpdk restart keeps established flows (flow state file)"
topo_up
BACKENDS="b1:1 b2:1 b3:1"
write_config
lb_start || { echo "lb-dpdk did not start"; cat "$E2E_DIR/lb-dpdk.log"; exit 1; }
lbd_start
check "lbd published its first generation to lb-dpdk" wait_generation_after 0

STREAMS=30
reload_config() {
	local before
	before=$(lbd_generations)
	write_config
	kill -HUP "$LBD_PID"
	wait_generation_after "$before"
}
# lb-dpdk stopped with SIGTERM and started again; lbd resyncs it.
lb_restart() {
	local before
	before=$(lbd_generations)
	lb_stop TERM
	lb_start && wait_generation_after "$before"
}
telemetry_is() {
	local value
	value=$(lb_counter "$1")
	echo "  /fulcrum/stats $1: $value (expected $2)"
	[ "$value" = "$2" ]
}
# Streams per backend, and broken ones: "b3 9 0" lines.
streams_by_backend() {
	$PY -c 'import json, sys
by = {}
for r in json.load(open(sys.argv[1])):
    n = by.setdefault(r["backend"], [0, 0])
    n[0] += 1
    n[1] += 1 if r["broken"] else 0
for b, (n, broken) in sorted(by.items(), key=str):
    print(b, n, broken)' "$E2E_DIR/streams.json"
}

# --- 1. with the flow state file ------------------------------------------
streams_start $STREAMS
BACKENDS="b1:3 b2:1 b3:1:drain"
check "b3 drained and b1's weight 1 -> 3 while $STREAMS connections stream: new generation" \
	reload_config
sleep 1
saved() {
	lb_stop TERM
	grep "flow state .* flows saved" "$E2E_DIR/lb-dpdk.log" | tail -n 1 | sed 's/^/  /'
	grep -q "flow state .*: $STREAMS flows saved" "$E2E_DIR/lb-dpdk.log" &&
		test -s "$FLOW_STATE_FILE"
}
check "lb-dpdk stopped with SIGTERM: its $STREAMS flows saved to the flow state file" saved
before=$(lbd_generations)
restarted() {
	lb_start && wait_generation_after "$before" || return 1
	grep "flow state .* restored" "$E2E_DIR/lb-dpdk.log" | tail -n 1 | sed 's/^/  /'
	! test -e "$FLOW_STATE_FILE"
}
check "lb-dpdk started again, lbd resynced it, the flows restored and the file removed" restarted
check "telemetry: flows_restored is the $STREAMS streams' flows" telemetry_is flows_restored $STREAMS
check "telemetry: flow_state is \"restored\", nothing dropped" eval \
	'telemetry_is flow_state restored && telemetry_is flows_restore_dropped_backend_gone 0 &&
	 telemetry_is flows_restore_dropped_expired 0'
sleep 3
streams_stop
check "$STREAMS connections across the restart after the ring changed: none broken" \
	streams_unbroken_except
drained_kept() {
	streams_by_backend | sed 's/^/  [backend, streams, broken] /'
	streams_by_backend | awk '$1 == "b3" && $2 > 0 && $3 == 0 { ok = 1 } END { exit !ok }'
}
check "the connections on the draining b3 are still on b3, unbroken" drained_kept

# The file is used once: lb-dpdk killed now (no save) starts empty next
# time rather than bringing back the flows of the earlier stop.
killed_restart() {
	local before
	before=$(lbd_generations)
	lb_stop KILL
	lb_start && wait_generation_after "$before" || return 1
	grep "flow state .*: none saved" "$E2E_DIR/lb-dpdk.log" | tail -n 1 | sed 's/^/  /'
	telemetry_is flow_state missing && telemetry_is flows_restored 0
}
check "lb-dpdk killed (SIGKILL) after the restore: the next one starts empty, the file used once" \
	killed_restart

# --- 2. control: the same sequence with the file turned off -----------------
BACKENDS="b1:1 b2:1 b3:1"
check "all three backends ready at weight 1 again: new generation" reload_config
streams_start $STREAMS
BACKENDS="b1:3 b2:1 b3:1:drain"
check "b3 drained and b1's weight 1 -> 3 again: new generation" reload_config
sleep 1
# Only lb-dpdk reads flow_state_file, at start; lbd is not told.
FLOW_STATE_FILE=""
write_config
check "lb-dpdk restarted the same way with flow_state_file = \"\"" lb_restart
check "telemetry: flow_state is \"off\", flows_restored 0" eval \
	'telemetry_is flow_state off && telemetry_is flows_restored 0'
sleep 3
streams_stop
control_broken() {
	streams_by_backend | sed 's/^/  [backend, streams, broken] /'
	# The ring never gives a flow to a draining backend: every connection
	# on b3 must have been moved, and so broken.
	streams_by_backend | awk '$1 == "b3" { b3 = $2; b3_broken = $3 } { broken += $3 }
		END { exit !(b3 > 0 && b3_broken == b3 && broken >= b3) }'
}
check "without the file the restart breaks connections: all of those on b3, as the test expects" \
	control_broken

e2e_dump_logs
e2e_summary
