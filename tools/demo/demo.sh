#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# make demo: Fulcrum in front of four simulated GPU inference nodes, in
# network namespaces on this machine. Builds the topology of the end-to-end
# tests (client, router, balancer, backends), starts lb-dpdk and lbd, sends
# a few hundred inference requests through the VIP, shows where they went,
# and tears everything down.
if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root (network namespaces, XDP, DPDK)" >&2
	exit 1
fi
DEMO_DIR=$(cd "$(dirname "$0")" && pwd)
E2E_PREFIX=fdemo$$
. "$DEMO_DIR/../../tests/e2e/lib.sh"

REQUESTS=${REQUESTS:-400}
# Nodes b3 and b4 have twice the GPU of b1 and b2: weight 2, faster.
BACKENDS="b1:1 b2:1 b3:2 b4:2"
E2E_BACKENDS=4
declare -A LATENCY_MS=([b1]=40 [b2]=40 [b3]=20 [b4]=20)
backend_serve() {
	ns "$1" $PY "$DEMO_DIR/infer_server.py" "$1" "${LATENCY_MS[$1]}" "$VIP4" 80
}

echo "== building the topology: client, router, balancer, 4 GPU nodes (namespaces $E2E_PREFIX-*)"
topo_up
write_config
echo "== starting lb-dpdk (DPDK on net_af_packet, worker lcore 1) and lbd"
lb_start || { echo "lb-dpdk did not start:"; tail -20 "$E2E_DIR/lb-dpdk.log"; exit 1; }
lbd_start
wait_generation_after 0 || { echo "lbd did not publish:"; tail -20 "$E2E_DIR/lbd.log"; exit 1; }
grep "^lbd: info" "$E2E_DIR/lbd.log" | sed 's/^/   /'
echo "== $REQUESTS inference requests from the client to http://$VIP4/v1/infer"
ns cl $PY "$DEMO_DIR/infer_client.py" "$VIP4" 80 "$REQUESTS" 8 '{"b1": 1, "b2": 1, "b3": 2, "b4": 2}'
rc=$?
echo
echo "== lb-dpdk counters (DPDK telemetry /fulcrum/stats)"
echo /fulcrum/stats | $PY /usr/bin/dpdk-telemetry.py -f "$E2E_PREFIX" 2>/dev/null |
	$PY -c 'import json, sys
for line in sys.stdin:
    if line.strip().startswith("{"):
        s = json.loads(line)["/fulcrum/stats"]
        print("   " + ", ".join("%s %s" % (k, v) for k, v in s.items()
                                if k in ("generation", "rx_packets", "tx_packets", "kernel_packets",
                                         "flow_new", "flow_hit") or (k.startswith("drop_") and v)))'
echo "== tearing down"
exit $rc
