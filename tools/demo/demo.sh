#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# make demo: Fulcrum in front of simulated GPU inference nodes, in network
# namespaces on this machine. Builds the topology of the end-to-end tests
# (client, router, balancer, backends), starts lb-dpdk and lbd, and walks
# through what an operator sees, with lbctl's output at each step:
#   1. requests spread over four nodes by weight;
#   2. a node's inference server dies: lbd's HTTP health check takes it out,
#      then back in when it returns;
#   3. a busy node's agent reports 50%: its share of new requests halves;
#   4. a node is drained for maintenance: no new requests, its flows run out;
#   5. scale-up: a fifth node added with lbctl takes its share after its
#      health checks pass;
# then the Prometheus metrics, and tears everything down.
if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root (network namespaces, XDP, DPDK)" >&2
	exit 1
fi
DEMO_DIR=$(cd "$(dirname "$0")" && pwd)
E2E_PREFIX=fdemo$$
. "$DEMO_DIR/../../tests/e2e/lib.sh"

REQUESTS=${REQUESTS:-300}
# Nodes b3 and b4 have twice the GPU of b1 and b2: weight 2, faster.
BACKENDS="b1:1 b2:1 b3:2 b4:2"
E2E_BACKENDS=4
declare -A LATENCY_MS=([b1]=40 [b2]=40 [b3]=20 [b4]=20 [b5]=20)
backend_serve() {
	ns "$1" $PY "$DEMO_DIR/infer_server.py" "$1" "${LATENCY_MS[$1]}" "$VIP4" 80 \
		"$(backend_addr4 "$1")" 80
}
# HTTP health checks on GET /healthz, agents on every node.
WEB_HEALTH="type = \"http\"; http_path = \"/healthz\"; interval_ms = 1000;
  fast_interval_ms = 200; down_interval_ms = 500; timeout_ms = 300; rise = 2; fall = 2;
  agent_port = $AGENT_PORT; agent_interval_ms = 500; agent_weight_interval_ms = 1000;"
TCP_IDLE_TIMEOUT_S=5

step() { echo; echo "== $*"; }
show() {
	echo "\$ lbctl $*"
	$LBCTL "$@" | sed 's/^/  /'
}
# A command whose answer (the changed backend) the next listing shows.
act() {
	echo "\$ lbctl $*"
	$LBCTL "$@" >/dev/null
}
requests() {
	ns cl $PY "$DEMO_DIR/infer_client.py" "$VIP4" 80 "$REQUESTS" 8 "$1" | sed 's/^/  /'
	return "${PIPESTATUS[0]}"
}
lbd_says() { grep -E "$1" "$E2E_DIR/lbd.log" | tail -n 1 | sed 's/^/  lbd log: /'; }
field() {
	$LBCTL -j backend show web "$1" | $PY -c 'import json, sys
r = json.load(sys.stdin)["result"]; print(eval(sys.argv[1], {"r": r}))' "$2"
}
rc=0

step "building the topology: client, router, balancer, 4 GPU nodes (namespaces $E2E_PREFIX-*)"
topo_up
for b in b1 b2 b3 b4; do agent_start $b; done
write_config
echo "== starting lb-dpdk (DPDK on net_af_packet, worker lcore 1) and lbd"
lb_start || { echo "lb-dpdk did not start:"; tail -20 "$E2E_DIR/lb-dpdk.log"; exit 1; }
lbd_start
wait_generation_after 0 || { echo "lbd did not publish:"; tail -20 "$E2E_DIR/lbd.log"; exit 1; }
grep "^lbd: info: \(started\|connected\|generation\)" "$E2E_DIR/lbd.log" | sed 's/^/  /'

step "1. $REQUESTS inference requests from the client to http://$VIP4/v1/infer"
show vip list
requests '{"b1": 1, "b2": 1, "b3": 2, "b4": 2}' || rc=1
show backend list web

step "2. b2's inference server dies"
server_kill b2
wait_for 10 test "$(field b2 'r["health"]')" = down
lbd_says "backend b2 .* is DOWN"
show backend list web
requests '{"b1": 1, "b3": 2, "b4": 2}' || rc=1
echo "  ... and comes back:"
server_start b2
wait_for 10 test "$(field b2 'r["table"]')" = ready
lbd_says "backend b2 .* is UP"

step "3. b3's GPU is busy: its agent reports 50% (echo 50% > the agent's file)"
agent_say b3 "50%"
wait_for 10 test "$(field b3 'r["published"]["weight"]')" = 1.0
lbd_says "backend b3 agent says"
show backend list web
requests '{"b1": 1, "b2": 1, "b3": 1, "b4": 2}' || rc=1
agent_say b3 "100%"

step "4. b4 goes into maintenance: drain it, wait until it carries no flows"
act backend set web b4 state drain
requests '{"b1": 1, "b2": 1, "b3": 2}' || rc=1
show backend list web
echo "  waiting for b4's ACTIVE_FLOWS to reach 0 (closed flows leave after ${TCP_IDLE_TIMEOUT_S} s idle)..."
wait_for 30 test "$(field b4 'r["flows_active"]')" = 0
show backend list web

step "5. scale-up: a new node, b5, joins (an autoscaler would run these commands)"
backend_add b5
agent_start b5
act backend add web b5 "$(backend_addr4 b5)" weight 2 by scaler
wait_for 10 test "$(field b5 'r["table"]')" = ready
lbd_says "backend b5 .* is UP"
act backend set web b4 state ready
show backend list web
requests '{"b1": 1, "b2": 1, "b3": 2, "b4": 2, "b5": 2}' || rc=1

step "the same from Prometheus (http://127.0.0.1:9469/metrics on the balancer)"
metrics | grep -E '^fulcrum_(backend_(flows_new_total|effective_weight|health_up)|vip_backends_up)\{vip="web"|^fulcrum_publish_latency' |
	sed 's/^/  /'
step "lb-dpdk counters (lbctl stats)"
$LBCTL stats | sed -n '1,12p' | sed 's/^/  /'

step "tearing down"
lbd_stop TERM
lb_stop TERM
exit $rc
