# SPDX-License-Identifier: BSD-3-Clause
#
# End-to-end test kit: a topology of network namespaces and veth pairs, the
# real lb-dpdk and lbd, backends running tests/e2e/peer.py behind Fulcrum's
# decapsulation program, and check/summary helpers. Sourced by tests/e2e/*.sh.
#
#   client (cl0 10.99.1.2, fd99:1::2)
#      |
#   router (rt-cl 10.99.1.1 | rt-lb 10.99.2.1 | br-be 10.99.3.1; v6 alike)
#      |  VIPs 10.99.100.0/24 and fd99:100::/64 routed to the balancer
#   balancer: lb-dpdk on net_af_packet over lb0; its kernel interface edge0
#      carries 10.99.2.2 / fd99:2::2; lbd beside it. With E2E_MODE=xdp there
#      is no lb-dpdk: lb0 itself carries those addresses and lbd attaches the
#      XDP balancer to it (the router's end gets a pass-through XDP program,
#      without which XDP_TX on a veth is dropped).
#   backends b1..bN on the router's bridge (10.99.3.1N, fd99:3::1N), VIPs on
#      loopback, answering the client directly
#
# Everything created here (namespaces, processes, DPDK runtime files, temp
# files) is removed on exit, whatever the outcome.

set -u

if [ "$(id -u)" -ne 0 ]; then
	echo "e2e: needs root (network namespaces, XDP, DPDK); skipped"
	echo "[==========] 0 test(s) run."
	echo "[  PASSED  ] 0 test(s)."
	echo "[  SKIPPED ] 1 test(s)."
	exit 0
fi

E2E_PREFIX=${E2E_PREFIX:-fe$$}
# Which dataplane the suite drives: dpdk (lb-dpdk) or xdp (lbd's XDP balancer).
E2E_MODE=${E2E_MODE:-dpdk}
XDP_PIN=/sys/fs/bpf/$E2E_PREFIX
BUILD=${BUILD:-build}
PY=/usr/bin/python3
E2E_DIR=$(mktemp -d /tmp/fulcrum-e2e.XXXXXX)
E2E_PEER=$(dirname "${BASH_SOURCE[0]}")/peer.py
. "$(dirname "${BASH_SOURCE[0]}")/report.sh"
E2E_NAMESPACES=""
LB_PID=""
LBD_PID=""
E2E_BACKENDS=3
VIP4=10.99.100.1
VIP4_MIXED=10.99.100.2
VIP6=fd99:100::1
ENCAP=ipip
# name:weight[:state] for every VIP's backends
BACKENDS="b1:1 b2:1 b3:1"
# Health checking (libconfig group bodies): for every VIP, and for web alone.
HEALTH_DEFAULTS='type = "none";'
WEB_HEALTH=""
# dataplane.tcp_idle_timeout_s; empty = the default.
TCP_IDLE_TIMEOUT_S=""
# dataplane.flow_table_size, and new_flow_table_size (empty = the default).
FLOW_TABLE_SIZE=65536
NEW_FLOW_TABLE_SIZE=""
# dataplane.dpdk.flow_state_file: this run's own, never the machine's
# /run/fulcrum/lb-dpdk.flows that other runs (and a real lb-dpdk) use;
# "" turns it off.
FLOW_STATE_FILE=$E2E_DIR/lb-dpdk.flows

ns() {
	local n=$1
	shift
	ip netns exec "$E2E_PREFIX-$n" "$@"
}

e2e_cleanup() {
	local n pid
	for n in $E2E_NAMESPACES; do
		for pid in $(ip netns pids "$E2E_PREFIX-$n" 2>/dev/null); do
			kill -TERM "$pid" 2>/dev/null
		done
	done
	sleep 0.5
	for n in $E2E_NAMESPACES; do
		for pid in $(ip netns pids "$E2E_PREFIX-$n" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$E2E_PREFIX-$n" 2>/dev/null
	done
	rm -rf "/var/run/dpdk/$E2E_PREFIX" "$E2E_DIR" "$XDP_PIN"
}
trap e2e_cleanup EXIT
trap 'exit 1' INT TERM

e2e_ns_add() {
	ip netns add "$E2E_PREFIX-$1"
	E2E_NAMESPACES="$E2E_NAMESPACES $1"
	ns "$1" ip link set lo up
	ns "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# veth pair: $1 in namespace $2, its peer $3 in namespace $4. Offloads off:
# the balancer reads frames through AF_PACKET, which sees neither finished
# checksums nor segmented super-packets.
e2e_veth() {
	ip link add "$1" netns "$E2E_PREFIX-$2" type veth peer name "$3" netns "$E2E_PREFIX-$4"
	ns "$2" ethtool -K "$1" tx off tso off gso off gro off >/dev/null 2>&1
	ns "$4" ethtool -K "$3" tx off tso off gso off gro off >/dev/null 2>&1
	ns "$2" ip link set "$1" up
	ns "$4" ip link set "$3" up
}

topo_up() {
	local i
	for n in cl rt lb; do e2e_ns_add $n; done
	e2e_veth cl0 cl rt-cl rt
	e2e_veth lb0 lb rt-lb rt
	ns rt ip link add br-be type bridge
	ns rt ip link set br-be up
	ns rt sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	ns rt ip addr add 10.99.1.1/24 dev rt-cl
	ns rt ip addr add fd99:1::1/64 dev rt-cl nodad
	ns rt ip addr add 10.99.2.1/24 dev rt-lb
	ns rt ip addr add fd99:2::1/64 dev rt-lb nodad
	ns rt ip addr add 10.99.3.1/24 dev br-be
	ns rt ip addr add fd99:3::1/64 dev br-be nodad
	ns rt ip route add 10.99.100.0/24 via 10.99.2.2
	ns rt ip route add fd99:100::/64 via fd99:2::2
	ns cl ip addr add 10.99.1.2/24 dev cl0
	ns cl ip addr add fd99:1::2/64 dev cl0 nodad
	ns cl ip route add default via 10.99.1.1
	ns cl ip -6 route add default via fd99:1::1
	for i in $(seq 1 "$E2E_BACKENDS"); do backend_add "b$i"; done
}

backend_addr4() { echo "10.99.3.1${1#b}"; }
backend_addr6() { echo "fd99:3::1${1#b}"; }

# Creates backend namespace $1 (b1..b9): decapsulation, VIPs, servers.
backend_add() {
	local b=$1 a4 a6
	a4=$(backend_addr4 "$b")
	a6=$(backend_addr6 "$b")
	e2e_ns_add "$b"
	e2e_veth eth0 "$b" "rt-$b" rt
	ns rt ip link set "rt-$b" master br-be
	ns "$b" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	ns "$b" ip addr add "$a4/24" dev eth0
	ns "$b" ip addr add "$a6/64" dev eth0 nodad
	ns "$b" ip route add default via 10.99.3.1
	ns "$b" ip -6 route add default via fd99:3::1
	ns "$b" ip addr add "$VIP4/32" dev lo
	ns "$b" ip addr add "$VIP4_MIXED/32" dev lo
	ns "$b" ip addr add "$VIP6/128" dev lo nodad
	ns "$b" "$BUILD/fulcrum-decap" attach eth0 -a "$a4" -a "$a6" >/dev/null
	backend_serve "$b" >"$E2E_DIR/$b.log" 2>&1 &
	wait_for 10 grep -q serving "$E2E_DIR/$b.log"
}

# The backend's servers (make demo replaces this with inference servers): the
# VIPs, and port 80 on the backend's own addresses for health checks.
backend_serve() {
	ns "$1" $PY "$E2E_PEER" serve "$1" "$VIP4" 80 "$VIP4" 53 "$VIP6" 80 "$VIP6" 53 \
		"$VIP4_MIXED" 80 "$(backend_addr4 "$1")" 80 "$(backend_addr6 "$1")" 80
}

# One VIP's backends block from $BACKENDS; $1 = 4 or 6 (backend family).
backends_block() {
	local fam=$1 spec name weight state addr sep=""
	for spec in $BACKENDS; do
		name=${spec%%:*}
		weight=$(echo "$spec" | cut -d: -f2)
		state=$(echo "$spec" | cut -s -d: -f3)
		if [ "$fam" = 6 ]; then addr=$(backend_addr6 "$name"); else addr=$(backend_addr4 "$name"); fi
		printf '%s{ name = "%s"; address = "%s"; weight = %s;%s }' "$sep" "$name" "$addr" \
			"$weight" "${state:+ state = \"$state\";}"
		sep=", "
	done
}

# Writes $E2E_DIR/fulcrum.conf from ENCAP and BACKENDS.
write_config() {
	local web_health=""
	[ -z "$WEB_HEALTH" ] || web_health="health = { $WEB_HEALTH };"
	cat >"$E2E_DIR/fulcrum.conf.tmp" <<EOF
global = {
  control_socket = "$E2E_DIR/lbd.sock";
  state_file = "$E2E_DIR/lbd.state";
  log_level = "info";${E2E_GLOBAL_EXTRA:+
  $E2E_GLOBAL_EXTRA}
};
dataplane = {
  mode = "$E2E_MODE";
  encap = "$ENCAP";
  gue_port = 6080;
  encap_source_v4 = "10.99.2.2";
  encap_source_v6 = "fd99:2::2";
  flow_table_size = $FLOW_TABLE_SIZE;${NEW_FLOW_TABLE_SIZE:+
  new_flow_table_size = $NEW_FLOW_TABLE_SIZE;}${TCP_IDLE_TIMEOUT_S:+
  tcp_idle_timeout_s = $TCP_IDLE_TIMEOUT_S;}
  dpdk = {
    eal_args = [ "--no-huge", "-m", "512", "--file-prefix", "$E2E_PREFIX",
                 "--log-level=user1:info" ];
    worker_lcores = [ 1 ];
    mbufs = 8191;
    mbuf_cache = 128;
    control_socket = "$E2E_DIR/lb-dpdk.sock";
    flow_state_file = "$FLOW_STATE_FILE";
    idle_sleep_us = 20;
    ports = ( { name = "edge0"; device = "net_af_packet0,iface=lb0"; mtu = 1500;
                addresses = [ "10.99.2.2/24", "fd99:2::2/64" ]; } );
  };
  xdp = {
    interfaces = [ "lb0" ];
    pin_path = "$XDP_PIN";
  };
};
health_defaults = { $HEALTH_DEFAULTS };
vips = (
  { name = "web"; protocol = "tcp"; address = "$VIP4"; port = 80; $web_health
    backends = ( $(backends_block 4) ); },
  { name = "dns"; protocol = "udp"; address = "$VIP4"; port = 53;
    backends = ( $(backends_block 4) ); },
  { name = "web6"; protocol = "tcp"; address = "$VIP6"; port = 80;
    backends = ( $(backends_block 6) ); },
  { name = "dns6"; protocol = "udp"; address = "$VIP6"; port = 53;
    backends = ( $(backends_block 6) ); },
  { name = "mixed"; protocol = "tcp"; address = "$VIP4_MIXED"; port = 80;
    backends = ( $(backends_block 6) ); }
);
EOF
	mv "$E2E_DIR/fulcrum.conf.tmp" "$E2E_DIR/fulcrum.conf"
}

# XDP mode: the balancer's kernel owns lb0 and its addresses.
lb_kernel_up() {
	ns lb ip addr replace 10.99.2.2/24 dev lb0
	ns lb ip addr replace fd99:2::2/64 dev lb0 nodad
	ns lb ip route replace default via 10.99.2.1 dev lb0
	ns lb ip -6 route replace default via fd99:2::1 dev lb0
	ns rt "$BUILD/fulcrum-decap" attach rt-lb -a 10.99.2.1 >/dev/null
}

lb_start() {
	if [ "$E2E_MODE" = xdp ]; then
		lb_kernel_up
		return
	fi
	# nsenter execs the daemon itself (ip netns exec may fork, and a shell
	# function in the background is a subshell): $! is the daemon's pid.
	nsenter --net="/var/run/netns/$E2E_PREFIX-lb" "$BUILD/lb-dpdk" -c "$E2E_DIR/fulcrum.conf" \
		>>"$E2E_DIR/lb-dpdk.log" 2>&1 &
	LB_PID=$!
	wait_for 30 ns lb ip link show edge0 >/dev/null || return 1
	# The kernel side of the port routes toward the backends via the router.
	ns lb ip route replace default via 10.99.2.1 dev edge0
	wait_for 10 ns lb ip -6 route replace default via fd99:2::1 dev edge0
	wait_for 10 test -S "$E2E_DIR/lb-dpdk.sock"
}

# Signals a daemon started here ($1: pid, $2: signal, TERM by default) and
# waits for it to exit.
daemon_stop() {
	[ -n "$1" ] || return 0
	kill -"${2:-TERM}" "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

lb_stop() {
	[ "$E2E_MODE" = xdp ] && return 0 # the balancer lives in the kernel
	daemon_stop "$LB_PID" "${1:-TERM}"
	LB_PID=""
}

lbd_start() {
	nsenter --net="/var/run/netns/$E2E_PREFIX-lb" "$BUILD/lbd" -c "$E2E_DIR/fulcrum.conf" \
		>>"$E2E_DIR/lbd.log" 2>&1 &
	LBD_PID=$!
}

lbd_stop() {
	daemon_stop "$LBD_PID" "${1:-TERM}"
	LBD_PID=""
}

# lbd's count of generations put in service so far.
lbd_generations() {
	grep -c "^lbd: info: generation [0-9]* in service" "$E2E_DIR/lbd.log" 2>/dev/null
}

lbd_generations_above() {
	[ "$(lbd_generations)" -gt "$1" ]
}

# Waits for lbd to report one more generation than $1.
wait_generation_after() {
	wait_for 20 lbd_generations_above "$1"
}

# The dataplane's counter $1: lb-dpdk's /fulcrum/stats through DPDK
# telemetry, or in XDP mode lbctl stats (the per-CPU maps, summed).
lb_counter() {
	if [ "$E2E_MODE" = xdp ]; then
		# lbd has counters once it took its first sample (a second in).
		local try value
		for try in $(seq 50); do
			value=$($BUILD/lbctl -s "$E2E_DIR/lbd.sock" -j stats 2>/dev/null | $PY -c '
import json, sys
r = json.load(sys.stdin)
print(r["result"]["counters"].get(sys.argv[1], -1) if r.get("ok") else "")' "$1" 2>/dev/null)
			[ -n "$value" ] && break
			sleep 0.1
		done
		echo "${value:--1}"
		return
	fi
	echo /fulcrum/stats | $PY /usr/bin/dpdk-telemetry.py -f "$E2E_PREFIX" 2>/dev/null |
		$PY -c 'import json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        print(json.loads(line)["/fulcrum/stats"].get(sys.argv[1], -1))
        break' "$1"
}

# ---- the control plane: lbctl, agents, backend servers, metrics ----------

LBCTL="$BUILD/lbctl -s $E2E_DIR/lbd.sock"
AGENT_PORT=5555

now_ms() { date +%s%3N; }
# An lbctl command that must succeed; its output is not shown.
lbctl_ok() { $LBCTL "$@" >/dev/null; }

# The reference agent on backend $1, answering with the line in its file.
agent_start() {
	echo "${2:-100%}" >"$E2E_DIR/agent-$1"
	nsenter --net="/var/run/netns/$E2E_PREFIX-$1" "$BUILD/fulcrum-agent" -p "$AGENT_PORT" \
		-f "$E2E_DIR/agent-$1" >>"$E2E_DIR/agent-$1.log" 2>&1 &
}
agent_say() { echo "$2" >"$E2E_DIR/agent-$1.tmp" && mv "$E2E_DIR/agent-$1.tmp" "$E2E_DIR/agent-$1"; }

# Kills backend $1's servers: the Python processes in its namespace (peer.py,
# or the demo's inference server; the agent and decapsulation stay).
server_kill() {
	local pid
	for pid in $(ip netns pids "$E2E_PREFIX-$1"); do
		grep -q "python3" "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid"
	done
}
# (The count is read again on each try: wait_for runs its command as given.)
serving_above() { [ "$(grep -c serving "$E2E_DIR/$1.log")" -gt "$2" ]; }
server_start() {
	local before
	before=$(grep -c serving "$E2E_DIR/$1.log")
	backend_serve "$1" >>"$E2E_DIR/$1.log" 2>&1 &
	wait_for 10 serving_above "$1" "$before"
}

# lbd's Prometheus page, fetched inside the balancer's namespace.
metrics() {
	ns lb $PY -c 'import urllib.request
print(urllib.request.urlopen("http://127.0.0.1:9469/metrics", timeout=5).read().decode(), end="")'
}

# Long-lived connections to web from the client, $1 of them, each pinging
# every 0.2 s until streams_stop.
streams_start() {
	rm -f "$E2E_DIR/stop" "$E2E_DIR/streams.json"
	ns cl $PY "$E2E_PEER" streams "$VIP4" 80 "$1" "$E2E_DIR/stop" "$E2E_DIR/streams.json" &
	sleep 3
}
streams_stop() {
	touch "$E2E_DIR/stop"
	wait_for 60 test -f "$E2E_DIR/streams.json"
}
# Exit 0 when no stream broke, except those on the backends named in $1.
streams_unbroken_except() {
	$PY - "$E2E_DIR/streams.json" "${1:-}" <<'EOF'
import json, sys
records = json.load(open(sys.argv[1]))
removed = set(sys.argv[2].split()) if len(sys.argv) > 2 else set()
by = {}
bad = []
for r in records:
    b = r["backend"]
    by.setdefault(b, [0, 0])
    by[b][0] += 1
    if r["broken"]:
        by[b][1] += 1
        if b not in removed:
            bad.append(r)
print("  streams per backend [total, broken]: %s; pings per stream: %d..%d" % (
    by, min(r.get("pings", 0) for r in records), max(r.get("pings", 0) for r in records)))
for r in bad:
    print("  broken on %s: %s" % (r["backend"], r.get("error")))
sys.exit(1 if bad or None in by else 0)
EOF
}
# Shows the logs when a check failed, for whoever reads CI output.
e2e_dump_logs() {
	[ "$E2E_FAILED" -eq 0 ] && return 0
	for f in lb-dpdk.log lbd.log; do
		[ -f "$E2E_DIR/$f" ] || continue
		echo "--- $f (last 30 lines)"
		tail -n 30 "$E2E_DIR/$f" 2>/dev/null
	done
	# Health transitions from the whole run: a backend marked down by
	# lbd while its server ran explains broken connections by itself.
	if [ -f "$E2E_DIR/lbd.log" ] && grep -q " is DOWN" "$E2E_DIR/lbd.log"; then
		echo "--- lbd.log: health transitions"
		grep -E " is (DOWN|UP)" "$E2E_DIR/lbd.log"
	fi
}
