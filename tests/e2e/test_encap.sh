#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, per encapsulation: TCP and UDP over an IPv4 VIP, TCP over an
# IPv6 VIP, an IPv4 VIP with IPv6 backends; IPIP (and IP6IP6, 4in6) then
# GUE. Also: a 1 MB transfer with DF set through a path too small for the
# tunnelled packets (the client must learn the MTU from Fulcrum's ICMP), a
# fragmented UDP datagram, and malformed frames counted and dropped while a
# real connection keeps flowing.
#
# E2E_MODE=xdp (test_encap_xdp.sh) runs the same on lbd's XDP balancer,
# which differs in one documented way: it cannot fragment, so an IPv4
# datagram too big for the tunnel with DF clear is dropped and counted.
. "$(dirname "$0")/lib.sh"

echo "[==========] e2e: encapsulations, MTU, fragments, malformed packets ($E2E_MODE dataplane)"
topo_up
BACKENDS="b1:1 b2:1 b3:1"
ENCAP=ipip
write_config
lb_start || { echo "lb-dpdk did not start"; cat "$E2E_DIR/lb-dpdk.log"; exit 1; }
lbd_start
check "lbd published its first generation to the $E2E_MODE dataplane" wait_generation_after 0

decapsulated_total() {
	local b total=0 n
	for b in b1 b2 b3; do
		n=$(ns "$b" "$BUILD/fulcrum-decap" stats eth0 | awk '$1 == "decapsulated" { print $2 }')
		total=$((total + ${n:-0}))
	done
	echo "$total"
}

# Exit 0 when every one of $2 requests to $1 got an answer from >= 2 backends.
spread_check() {
	local addr=$1 count=$2 proto=${3:-tcp}
	ns cl $PY "$E2E_PEER" spread "$addr" "${PORT:-80}" "$count" "$proto" >"$E2E_DIR/spread.json"
	$PY - "$E2E_DIR/spread.json" "$count" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["counts"]
print("  answers per backend: %s; failures: %d" % (c, len(r["failures"])))
sys.exit(0 if sum(c.values()) == int(sys.argv[2]) and len(c) >= 2 else 1)
EOF
}

# --- MTU: 1 MB with DF through a path too small once tunnelled -----------
too_big_before=$(lb_counter too_big_sent)
bulk_ok() {
	ns cl $PY "$E2E_PEER" bulk "$VIP4" 80 1000000 >"$E2E_DIR/bulk.json" || return 1
	$PY - "$E2E_DIR/bulk.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("  1000000 bytes to %s: %r; client's MSS now %d" % (r["backend"], r["reply"], r["mss"]))
sys.exit(0 if r["ok"] and r["mss"] <= 1440 else 1)
EOF
}
check "1 MB over TCP (DF) completes: the client lowered its MSS below 1460 to fit the tunnel" bulk_ok
too_big_sent() {
	local now
	now=$(lb_counter too_big_sent)
	echo "  too_big_sent: $too_big_before -> $now"
	[ "$now" -gt "$too_big_before" ]
}
check "the $E2E_MODE dataplane answered with ICMP fragmentation-needed (too_big_sent rose)" too_big_sent

# --- fragments ------------------------------------------------------------
udp_big_ok() {
	ns cl $PY "$E2E_PEER" udp-big "$1" 53 "$2" >"$E2E_DIR/udp.json"
	$PY -c 'import json, sys
r = json.load(open(sys.argv[1])); print("  %s" % r); sys.exit(0 if r["ok"] else 1)' "$E2E_DIR/udp.json"
}
if [ "$E2E_MODE" = dpdk ]; then
# IPv4: af_packet's fanout (DPDK 22.11) has the kernel reassemble fragments
# before lb-dpdk sees them, so the datagram arrives whole, too big for the
# tunnel with DF clear: lb-dpdk fragments it before tunnelling.
fragmented_before=$(lb_counter fragmented)
check "IPv4: a 1600-byte UDP datagram (DF clear) is fragmented to fit the tunnel and answered whole" \
	udp_big_ok "$VIP4" 1600
fragmented_rose() {
	local now
	now=$(lb_counter fragmented)
	echo "  fragmented: $fragmented_before -> $now"
	[ "$now" -gt "$fragmented_before" ]
}
check "lb-dpdk counted the datagram it fragmented" fragmented_rose
else
# IPv4 in XDP: the client's 1500-byte first fragment, DF clear, does not fit
# the tunnel, and XDP cannot make two packets of it: dropped and counted.
# (The client first forgets the path MTU the TCP transfer taught it.)
ns cl ip route flush cache
too_big_drops_before=$(lb_counter drop_too_big)
ns cl $PY "$E2E_PEER" udp-big "$VIP4" 53 1600 >"$E2E_DIR/udp.json"
too_big_dropped() {
	local now
	now=$(lb_counter drop_too_big)
	echo "  drop_too_big: $too_big_drops_before -> $now"
	[ "$now" -gt "$too_big_drops_before" ]
}
check "IPv4: a 1600-byte UDP datagram (DF clear) too big for the tunnel: drop_too_big (XDP cannot fragment)" \
	too_big_dropped
fi
# IPv6: real fragments reach the balancer; all of a datagram go to one
# backend (hashed on addresses), and the first try is too big for the tunnel,
# so the client also learns the path MTU from the balancer's packet-too-big.
check "IPv6: a 4000-byte UDP datagram in fragments reaches one backend and is answered whole" \
	udp_big_ok "$VIP6" 4000

# --- each encapsulation ------------------------------------------------------
for ENCAP in ipip gue; do
	if [ "$ENCAP" = gue ]; then
		before=$(lbd_generations)
		write_config
		kill -HUP "$LBD_PID"
		check "encapsulation switched to GUE by a reload" wait_generation_after "$before"
	fi
	decap_before=$(decapsulated_total)
	check "$ENCAP: TCP to an IPv4 VIP, IPv4 backends, 60 connections answered" spread_check "$VIP4" 60
	PORT=53 check "$ENCAP: UDP to an IPv4 VIP, 60 datagrams from 60 sockets answered" \
		spread_check "$VIP4" 60 udp
	check "$ENCAP: TCP to an IPv6 VIP, IPv6 backends, 60 connections answered" spread_check "$VIP6" 60
	PORT=53 check "$ENCAP: UDP to an IPv6 VIP, 60 datagrams from 60 sockets answered" \
		spread_check "$VIP6" 60 udp
	check "$ENCAP: TCP to an IPv4 VIP with IPv6 backends, 60 connections answered" \
		spread_check "$VIP4_MIXED" 60
	decap_rose() {
		local now
		now=$(decapsulated_total)
		echo "  backends decapsulated $((now - decap_before)) packets"
		[ "$now" -gt "$decap_before" ]
	}
	check "$ENCAP: the backends' decapsulation counters rose" decap_rose
done

# --- malformed frames, dropped by name, while a connection streams ----------
rm -f "$E2E_DIR/stop"
ns cl $PY "$E2E_PEER" streams "$VIP4" 80 5 "$E2E_DIR/stop" "$E2E_DIR/streams.json" &
sleep 2
lb_mac=$(ns lb cat /sys/class/net/lb0/address)
for reason in truncated bad_ip_version bad_ihl bad_ip_length bad_l4_length bad_tcp_flags \
	bad_fragment ttl_expired; do
	before=$(lb_counter "drop_$reason")
	ns rt $PY "$(dirname "$0")/malformed.py" rt-lb "$lb_mac" "$VIP4" "$VIP6" "$reason" 20
	counted() {
		local now
		wait_for 5 test "$(lb_counter "drop_$reason")" -ge $((before + 20))
		now=$(lb_counter "drop_$reason")
		echo "  drop_$reason: $before -> $now"
		[ "$now" -eq $((before + 20)) ]
	}
	check "20 frames with $reason: counted under drop_$reason and dropped" counted
done
touch "$E2E_DIR/stop"
streams_ok() {
	wait_for 30 test -f "$E2E_DIR/streams.json" || return 1
	$PY -c 'import json, sys
r = json.load(open(sys.argv[1]))
print("  %d streams, pings %s" % (len(r), [x.get("pings") for x in r]))
sys.exit(0 if all(not x["broken"] for x in r) else 1)' "$E2E_DIR/streams.json"
}
check "5 streaming connections kept flowing while malformed frames arrived" streams_ok

e2e_dump_logs
e2e_summary
