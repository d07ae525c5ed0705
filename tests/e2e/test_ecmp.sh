#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Scale-out end to end: three Fulcrum instances behind one router that
# spreads the VIPs' traffic over them with ECMP (layer-4 hash), each
# instance announcing its VIPs with BGP through BIRD 2 and
# config/bird-fulcrum.conf. lb1 runs lb-dpdk, lb2 and lb3 the XDP balancer.
#
#   client ── router (BIRD, merge paths) ──┬── lb1: lb-dpdk + lbd + BIRD
#                 │                        ├── lb2: XDP + lbd + BIRD
#                 │                        └── lb3: XDP + lbd + BIRD
#                 └── bridge ── backends b1..b3
#
# With hundreds of long-lived TCP connections open: lb2's lbd is stopped
# (graceful: its routes are withdrawn, its XDP program keeps forwarding),
# lb1 is killed (lbd and lb-dpdk, SIGKILL: the router notices at the BGP
# hold time), both come back; no connection may break. Then one VIP's
# backends fall below min_up on lb3 alone: withdrawn there only. Before all
# that, the three lbd agree on 10 000 random flows (lbctl lookup).
. "$(dirname "$0")/lib.sh"

echo "[==========] e2e: ECMP scale-out (BIRD 2, 3 instances: 1 lb-dpdk, 2 XDP)"
if ! command -v bird >/dev/null || ! command -v birdc >/dev/null; then
	echo "bird2 is not installed (tools/install-deps.sh installs it); skipped"
	echo "[==========] 0 test(s) run."
	echo "[  SKIPPED ] 1 test(s)."
	exit 0
fi

STREAMS=${STREAMS:-300}
VIP_API=$VIP4_MIXED # the min_up VIP: an address of its own (one route per address)
INSTANCES="1 2 3"
BIRD_CONF=$(dirname "$0")/../../config/bird-fulcrum.conf
declare -A LBD_PIDS LB_PIDS

inst_mode() { if [ "$1" = 1 ]; then echo dpdk; else echo xdp; fi; }
inst_addr4() { echo "10.99.2$1.2"; }
inst_addr6() { echo "fd99:2$1::2"; }
inst_dir() { echo "$E2E_DIR/lb$1"; }

# --- topology ----------------------------------------------------------
ecmp_topo_up() {
	local i
	for n in cl rt; do e2e_ns_add $n; done
	e2e_veth cl0 cl rt-cl rt
	ns rt ip link add br-be type bridge
	ns rt ip link set br-be up
	# The layer-4 hash: the flows of one client spread over the instances.
	ns rt sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
	ns rt ip addr add 10.99.1.1/24 dev rt-cl
	ns rt ip addr add fd99:1::1/64 dev rt-cl nodad
	ns rt ip addr add 10.99.3.1/24 dev br-be
	ns rt ip addr add fd99:3::1/64 dev br-be nodad
	ns cl ip addr add 10.99.1.2/24 dev cl0
	ns cl ip addr add fd99:1::2/64 dev cl0 nodad
	ns cl ip route add default via 10.99.1.1
	ns cl ip -6 route add default via fd99:1::1
	for i in $INSTANCES; do
		e2e_ns_add "lb$i"
		e2e_veth lb0 "lb$i" "rt-lb$i" rt
		ns rt ip addr add "10.99.2$i.1/24" dev "rt-lb$i"
		ns rt ip addr add "fd99:2$i::1/64" dev "rt-lb$i" nodad
		mkdir -p "$(inst_dir "$i")"
	done
	for i in $(seq 1 "$E2E_BACKENDS"); do backend_add "b$i"; done
	mkdir -p "$XDP_PIN"
}

inst_config() {
	local i=$1 dir mode
	dir=$(inst_dir "$i")
	mode=$(inst_mode "$i")
	cat >"$dir/fulcrum.conf.tmp" <<EOF
global = {
  control_socket = "$dir/lbd.sock";
  state_file = "$dir/lbd.state";
  metrics_listen = "";
  log_level = "info";
};
dataplane = {
  mode = "$mode";
  encap = "ipip";
  encap_source_v4 = "$(inst_addr4 "$i")";
  encap_source_v6 = "$(inst_addr6 "$i")";
  flow_table_size = 65536;
  dpdk = {
    eal_args = [ "--no-huge", "-m", "512", "--file-prefix", "$E2E_PREFIX",
                 "--log-level=user1:info" ];
    worker_lcores = [ 1 ];
    mbufs = 8191;
    mbuf_cache = 128;
    control_socket = "$dir/lb-dpdk.sock";
    idle_sleep_us = 50;
    ports = ( { name = "edge0"; device = "net_af_packet0,iface=lb0"; mtu = 1500;
                addresses = [ "$(inst_addr4 "$i")/24", "$(inst_addr6 "$i")/64" ]; } );
  };
  xdp = {
    interfaces = [ "lb0" ];
    pin_path = "$XDP_PIN/lb$i";
  };
};
announce = {
  device = "fulcrum0";
  table = 4242;
};
vips = (
  { name = "web"; protocol = "tcp"; address = "$VIP4"; port = 80;
    backends = ( $(backends_block 4) ); },
  { name = "web6"; protocol = "tcp"; address = "$VIP6"; port = 80;
    backends = ( $(backends_block 6) ); },
  { name = "api"; protocol = "tcp"; address = "$VIP_API"; port = 80; min_up = 3;
    health = { type = "tcp"; interval_ms = 500; fast_interval_ms = 200;
               down_interval_ms = 500; timeout_ms = 300; rise = 2; fall = 2; };
    backends = ( $(backends_block 4) ); }
);
EOF
	mv "$dir/fulcrum.conf.tmp" "$dir/fulcrum.conf"
}

# BIRD on instance $1: the shipped example with this instance's addresses.
inst_bird() {
	local i=$1 dir
	dir=$(inst_dir "$i")
	sed -e "s/^router id .*/router id $(inst_addr4 "$i");/" \
		-e "s/neighbor 192.0.2.1 /neighbor 10.99.2$i.1 /" \
		-e "s/neighbor 2001:db8::1 /neighbor fd99:2$i::1 /" \
		-e "s|^log syslog all;|log \"$dir/bird.log\" all;|" "$BIRD_CONF" >"$dir/bird.conf"
	nsenter --net="/var/run/netns/$E2E_PREFIX-lb$i" bird -c "$dir/bird.conf" \
		-s "$dir/bird.ctl" -P "$dir/bird.pid"
}

router_bird() {
	local i
	{
		cat <<EOF
router id 10.99.1.1;
log "$E2E_DIR/bird-rt.log" all;
protocol device { }
# ECMP: every balancer's path to a VIP, merged into one kernel route.
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
protocol kernel { ipv6 { import none; export all; }; merge paths on; }
template bgp balancer {
	local as 65000;
	hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 10;
}
EOF
		for i in $INSTANCES; do
			cat <<EOF
protocol bgp lb${i}_v4 from balancer {
	neighbor $(inst_addr4 "$i") as 65100;
	ipv4 { import where net ~ [ 10.99.100.0/24{32,32} ]; export none; };
}
protocol bgp lb${i}_v6 from balancer {
	neighbor $(inst_addr6 "$i") as 65100;
	ipv6 { import where net ~ [ fd99:100::/64{128,128} ]; export none; };
}
EOF
		done
	} >"$E2E_DIR/bird-rt.conf"
	nsenter --net="/var/run/netns/$E2E_PREFIX-rt" bird -c "$E2E_DIR/bird-rt.conf" \
		-s "$E2E_DIR/bird-rt.ctl" -P "$E2E_DIR/bird-rt.pid"
}

inst_lbd_start() {
	local i=$1
	nsenter --net="/var/run/netns/$E2E_PREFIX-lb$i" "$BUILD/lbd" -c "$(inst_dir "$i")/fulcrum.conf" \
		>>"$(inst_dir "$i")/lbd.log" 2>&1 &
	LBD_PIDS[$i]=$!
}

# Starts instance $1's dataplane (lb-dpdk; XDP: lbd attaches it) and, unless
# $2 is "dataplane", lbd.
inst_start() {
	local i=$1 dir
	dir=$(inst_dir "$i")
	if [ "$(inst_mode "$i")" = dpdk ]; then
		nsenter --net="/var/run/netns/$E2E_PREFIX-lb$i" "$BUILD/lb-dpdk" -c "$dir/fulcrum.conf" \
			>>"$dir/lb-dpdk.log" 2>&1 &
		LB_PIDS[$i]=$!
		wait_for 30 ns "lb$i" ip link show edge0 >/dev/null || return 1
		ns "lb$i" ip route replace default via "10.99.2$i.1" dev edge0
		wait_for 10 ns "lb$i" ip -6 route replace default via "fd99:2$i::1" dev edge0
		wait_for 10 test -S "$dir/lb-dpdk.sock" || return 1
	else
		ns "lb$i" ip addr replace "$(inst_addr4 "$i")/24" dev lb0
		ns "lb$i" ip addr replace "$(inst_addr6 "$i")/64" dev lb0 nodad
		ns "lb$i" ip route replace default via "10.99.2$i.1" dev lb0
		ns "lb$i" ip -6 route replace default via "fd99:2$i::1" dev lb0
		# XDP_TX on a veth needs a program on the peer (DESIGN.md).
		ns rt ip link show "rt-lb$i" | grep -q xdp ||
			ns rt "$BUILD/fulcrum-decap" attach "rt-lb$i" -a "10.99.2$i.1" >/dev/null
	fi
	[ "${2:-}" = dataplane ] || inst_lbd_start "$i"
}

# The router's paths toward $1: the instances' interfaces, sorted, one line
# (by interface: BIRD installs IPv6 routes via the link-local next hop).
rt_paths() {
	local fam=-4
	case $1 in *:*) fam=-6 ;; esac
	ns rt ip "$fam" route show "$1" 2>/dev/null | grep -o 'dev rt-lb[0-9]*' | sed 's/dev rt-//' | sort |
		tr '\n' ' ' | sed 's/ $//'
}
paths_are() { [ "$(rt_paths "$1")" = "$2" ]; }
ALL="lb1 lb2 lb3"

lbctl_of() { "$BUILD/lbctl" -s "$(inst_dir "$1")/lbd.sock" "${@:2}"; }
# Whether VIP $2 is announced by instance $1 (lbctl's "announced").
announced_on() {
	[ "$(lbctl_of "$1" -j vip show "$2" 2>/dev/null | $PY -c '
import json, sys
print(json.load(sys.stdin)["result"]["announced"])')" = "$3" ]
}

# Established client connections to the VIP: "port instance" per line,
# the instance being the router's ECMP choice for that 5-tuple.
ecmp_map() {
	local ports
	ports=$(ns cl ss -Htn state established dst "$VIP4" | awk '{print $3}' | sed 's/.*://' | sort -n)
	[ -n "$ports" ] || return 0
	for p in $ports; do
		echo "route get $VIP4 from 10.99.1.2 iif rt-cl ipproto tcp sport $p dport 80"
	done >"$E2E_DIR/route-get.batch"
	paste -d' ' <(echo "$ports" | tr ' ' '\n') \
		<(ns rt ip -batch "$E2E_DIR/route-get.batch" 2>&1 | grep -o 'dev rt-lb[0-9]' | sed 's/dev rt-//')
}
established() { ns cl ss -Htn state established dst "$VIP4" | wc -l; }
established_at_least() { [ "$(established)" -ge "$1" ]; }
# Connections of map $1 on another instance in map $2 (or gone from it).
moved_between() {
	join "$1" "$2" | awk '$2 != $3 { n++ } END { print n + 0 }'
}
per_instance() { awk '{ c[$2]++ } END { for (k in c) printf "%s:%d ", k, c[k] }' "$1"; }

# --- bring-up ------------------------------------------------------------
ecmp_topo_up
for i in $INSTANCES; do inst_config "$i"; done
router_bird
for i in $INSTANCES; do
	inst_start "$i" || { echo "instance lb$i did not start"; cat "$(inst_dir "$i")"/*.log; exit 1; }
	inst_bird "$i"
done
check "the router has the web VIP from all three instances (ECMP, 3 paths): $ALL" \
	wait_for 60 paths_are "$VIP4/32" "$ALL"
check "and the IPv6 VIP over IPv6 sessions: $ALL" wait_for 30 paths_are "$VIP6/128" "$ALL"
check "the api VIP (min_up 3, health-checked) from all three" \
	wait_for 30 paths_are "$VIP_API/32" "$ALL"
ns lb1 ip route show table 4242 >"$E2E_DIR/table-lb1"
echo "  lb1's announce table: $(tr '\n' ';' <"$E2E_DIR/table-lb1")"

# --- the three instances publish the same tables ---------------------------
lookup_agree() {
	$PY - "$(inst_dir 1)/lbd.sock" "$(inst_dir 2)/lbd.sock" "$(inst_dir 3)/lbd.sock" <<'EOF'
import json, random, socket, sys
rng = random.Random(8)
flows = ["10.%d.%d.%d:%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(256),
                             rng.randrange(1024, 65536)) for _ in range(10000)]
answers = []
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    f = s.makefile("rwb")
    got = []
    for i in range(0, len(flows), 200):  # a batch of requests, then their answers
        for c in flows[i:i + 200]:
            f.write(b"lookup web %s\n" % c.encode())
        f.flush()
        for _ in flows[i:i + 200]:
            r = json.loads(f.readline())
            got.append(r["result"]["backend"] if r.get("ok") else "error: %s" % r)
    answers.append(got)
same = sum(1 for a, b, c in zip(*answers) if a == b == c and a and not a.startswith("error"))
spread = {b: answers[0].count(b) for b in sorted(set(answers[0]))}
print("  10000 random flows: %d with the same backend on all three lbd; lb1's spread %s" % (
    same, spread))
sys.exit(0 if same == len(flows) else 1)
EOF
}
check "lbctl lookup: the three lbd pick the same backend for 10000 random flows" lookup_agree

# --- long-lived connections through leave, death and return ----------------
streams_start "$STREAMS"
check "$STREAMS long-lived connections established" wait_for 60 established_at_least "$STREAMS"
ecmp_map >"$E2E_DIR/map0"
echo "  connections open: $(established); per instance: $(per_instance "$E2E_DIR/map0")"
spread_ok() { [ "$(awk '{print $2}' "$E2E_DIR/map0" | sort -u | wc -l)" -eq 3 ]; }
check "the router spreads them over the three instances" spread_ok

# 1. graceful: lbd on lb2 stops; its XDP program keeps forwarding meanwhile.
lbd_stop_graceful() { daemon_stop "${LBD_PIDS[2]}" TERM; }
lbd_stop_graceful
check "1. lb2 shut down gracefully: its routes withdrawn, the router keeps lb1 and lb3" \
	wait_for 20 paths_are "$VIP4/32" "lb1 lb3"
check "   lbd withdrew its 3 address routes before it stopped" \
	grep -q "withdrew 3 VIP address routes" "$(inst_dir 2)/lbd.log"
sleep 3
ecmp_map >"$E2E_DIR/map1"
MOVED1=$(moved_between "$E2E_DIR/map0" "$E2E_DIR/map1")
echo "  connections open: $(established); moved between instances: $MOVED1;" \
	"per instance: $(per_instance "$E2E_DIR/map1")"
check "   no connection broken (all $STREAMS still open), $MOVED1 moved" \
	established_at_least "$STREAMS"

# 2. SIGKILL lb1: lbd and lb-dpdk. Its BIRD lives but cannot reach the
#    router any more (the session ran through lb-dpdk): the hold time ends it.
#    lb-dpdk first: lbd's death would otherwise reach the router as a BGP
#    withdrawal through the still-living lb-dpdk, the easy case.
KILL_AT=$(now_ms)
daemon_stop "${LB_PIDS[1]}" KILL
daemon_stop "${LBD_PIDS[1]}" KILL
check "2. lb1 killed (lbd and lb-dpdk, SIGKILL): the router drops it after the hold time" \
	wait_for 30 paths_are "$VIP4/32" "lb3"
echo "  the router dropped lb1 $(($(now_ms) - KILL_AT)) ms after the kill (hold time 3 s)"
sleep 6 # TCP's retransmissions reach lb3 now
ecmp_map >"$E2E_DIR/map2"
MOVED2=$(moved_between "$E2E_DIR/map1" "$E2E_DIR/map2")
echo "  connections open: $(established); moved between instances: $MOVED2;" \
	"per instance: $(per_instance "$E2E_DIR/map2")"
check "   no connection broken, $MOVED2 moved" established_at_least "$STREAMS"

# 3. both come back and are announced again. lb1's lbd first: without its
#    lb-dpdk it must announce nothing.
route_why() {
	lbctl_of "$1" -j vip show "$2" 2>/dev/null | $PY -c '
import json, sys
print(json.load(sys.stdin)["result"]["route"])'
}
inst_lbd_start 1
lbd_waits_for_lb_dpdk() {
	[ "$(route_why 1 web)" = "lb-dpdk is not connected" ] &&
		[ -z "$(ns lb1 ip route show table 4242)" ] && paths_are "$VIP4/32" "lb3"
}
check "3. lb1's lbd back without its lb-dpdk: announces nothing (\"lb-dpdk is not connected\")" \
	wait_for 20 lbd_waits_for_lb_dpdk
inst_start 1 dataplane || { echo "lb1 did not restart"; cat "$(inst_dir 1)/lb-dpdk.log"; }
inst_start 2
check "   lb1's lb-dpdk and lb2's lbd back: announced again, the router has all three" \
	wait_for 60 paths_are "$VIP4/32" "$ALL"
check "   the IPv6 VIP too" wait_for 30 paths_are "$VIP6/128" "$ALL"
sleep 4
ecmp_map >"$E2E_DIR/map3"
MOVED3=$(moved_between "$E2E_DIR/map2" "$E2E_DIR/map3")
echo "  connections open: $(established); moved between instances: $MOVED3;" \
	"per instance: $(per_instance "$E2E_DIR/map3")"
check "   no connection broken, $MOVED3 moved" established_at_least "$STREAMS"

streams_stop
check "$STREAMS streams: none broken, none answered by another backend (peer.py's own record)" \
	streams_unbroken_except ""
BROKEN=$($PY -c 'import json, sys; print(sum(r["broken"] for r in json.load(open(sys.argv[1]))))' \
	"$E2E_DIR/streams.json")
echo "  summary: connections open $STREAMS; moved between instances $MOVED1 (graceful)," \
	"$MOVED2 (SIGKILL), $MOVED3 (return); broken $BROKEN"

# --- 4. below min_up on one instance only ----------------------------------
# lb3's health checks of b1 fail (a rule in lb3 alone refuses them); lb1 and
# lb2 still see b1 up. The api VIP needs 3: lb3 withdraws it, the others not.
ns lb3 ip rule add to 10.99.3.11 ipproto tcp dport 80 prohibit
check "4. api below min_up on lb3: the router keeps api on lb1 and lb2 only" \
	wait_for 30 paths_are "$VIP_API/32" "lb1 lb2"
check "   web (other address, no min_up) stays on all three" paths_are "$VIP4/32" "$ALL"
check "   lbctl on lb3: api not announced; on lb1: announced" \
	eval 'announced_on 3 api False && announced_on 1 api True'
lbctl_of 3 vip list | grep -E "^(VIP|api) " | sed 's/^/  /'
ns lb3 ip rule del to 10.99.3.11 ipproto tcp dport 80 prohibit
check "   b1 healthy again on lb3: api announced there again" \
	wait_for 30 paths_are "$VIP_API/32" "$ALL"

if [ "$E2E_FAILED" -ne 0 ]; then
	for i in $INSTANCES; do
		for f in lbd.log lb-dpdk.log bird.log; do
			[ -f "$(inst_dir "$i")/$f" ] || continue
			echo "--- lb$i $f (last 15 lines)"
			tail -n 15 "$(inst_dir "$i")/$f"
		done
	done
	echo "--- router bird"
	tail -n 20 "$E2E_DIR/bird-rt.log"
	birdc -s "$E2E_DIR/bird-rt.ctl" show protocols
	echo "--- router routes"
	ns rt ip route
	ns rt ip -6 route
	# ECMP_DEBUG_DIR=dir keeps every log and config of the run there.
	[ -z "${ECMP_DEBUG_DIR:-}" ] || cp -r "$E2E_DIR/." "$ECMP_DEBUG_DIR/"
fi
e2e_summary
