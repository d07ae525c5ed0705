#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# lbgen against lb-dpdk on one machine, over net_memif: lb-dpdk's port is the
# memif server, lbgen the client, and dataplane.gateway_mac (lbgen's MAC)
# sends every tunnelled packet straight back out the port to lbgen. Backends
# exist only as addresses, routed on lb-dpdk's kernel interface, with health
# checks of type "none": nothing needs to answer, lbgen sees the tunnels.
#
# Per run, from lbgen's JSON: every packet sent came back (none lost at a
# modest rate), tunnelled as the configuration says toward a configured
# backend, with every checksum right; each flow kept one backend for the
# whole run, and the backends shared the flows. Runs: TCP connection
# sequences (SYN, data, FIN) to an IPv4 VIP, UDP, an IPv6 VIP, mixed
# families (4in6 and 6in4), then GUE after a reload that happens while UDP
# flows are running (no loss, no flow moved). Also: the frames lbgen writes
# with --pcap-tx read back with scapy, replayed with --replay; a short
# no-drop-rate search; and lbgen against dpdk-testpmd in io mode, the
# forwarder `make bench` uses as its baseline.
#
# A run that lost packets which lb-dpdk all counted as drop_tx_full toward
# lbgen (the ring back overflowed while lbgen's receiver had no CPU, as
# happens on this shared VM under load) is made once more, and says so; the
# second run must lose nothing.
#
# LBGEN_RATE (default 200k packets/s) and LBGEN_SECONDS (default 3) set the
# runs' rate and length.
. "$(dirname "$0")/lib.sh"

LBGEN_RATE=${LBGEN_RATE:-200k}
LBGEN_SECONDS=${LBGEN_SECONDS:-3}
# The harness, shared with make bench's system step: lb-dpdk and lbd in
# namespace lb, lbgen, testpmd (tests/e2e/memif.sh).
MEMIF_DIR=$E2E_DIR
MEMIF_PREFIX=$E2E_PREFIX
MEMIF_NS=$E2E_PREFIX-lb
. "$(dirname "$0")/memif.sh"
B4="10.99.3.11,10.99.3.12,10.99.3.13"
B6="fd99:3::11,fd99:3::12,fd99:3::13"

lbgen_cleanup() {
	memif_cleanup
	e2e_cleanup
}
trap lbgen_cleanup EXIT

echo "[==========] e2e: lbgen against lb-dpdk over memif ($LBGEN_RATE packets/s, $LBGEN_SECONDS s a run)"

# Field $2 of run $1's JSON.
run_value() {
	$PY -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$E2E_DIR/$1.json" "$2"
}

# memif_lbgen_run against lb-dpdk, with lb-dpdk's rx_packets before it in RUN_RX_BEFORE.
# When packets were lost and lb-dpdk counted at least as many drop_tx_full
# meanwhile, the ring back to lbgen overflowed: lbgen's receiver fell behind
# for longer than the ring holds, as when this shared VM, loaded, leaves it
# without a CPU for 100 ms and more. That is said, and the run is made once
# more, which must then stand on its own.
lbgen_run_lb() {
	local name=$1 full_before lost tx_full
	full_before=$(lb_counter drop_tx_full)
	RUN_RX_BEFORE=$(lb_counter rx_packets)
	memif_lbgen_run "$@" || return 1
	lost=$(run_value "$name" lost)
	[ "$lost" -eq 0 ] && return 0
	tx_full=$(($(lb_counter drop_tx_full) - full_before))
	[ "$tx_full" -ge "$lost" ] || return 0
	echo "  $name: $lost lost, and lb-dpdk counted $tx_full drop_tx_full toward lbgen meanwhile:" \
		"lbgen's receiver fell behind for longer than the ring holds; once more"
	RUN_RX_BEFORE=$(lb_counter rx_packets)
	memif_lbgen_run "$@"
}

# Exit 0 when run $1 got back every packet it sent, each tunnelled as one of
# the kinds in $2 (e.g. "ipip" or "4in6 6in4") toward one of the backends in
# $3, with every checksum right. Prints the figures.
all_back_tunnelled() {
	$PY - "$E2E_DIR/$1.json" "$2" "$3" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
kinds, backends = sys.argv[2].split(), sys.argv[3].split(",")
encap = r["encap"]
tunnelled = sum(encap[k] for k in kinds)
lat = r["latency_ns"]
print("  %d sent, %d back (%s), lost %d; latency p50 %.1f us, p99 %.1f us; "
      "unknown backend %d, bad checksum %d, flow mismatch %d, duplicates %d" % (
      r["tx_packets"], r["rx_packets"], ", ".join("%s %d" % kv for kv in encap.items() if kv[1]),
      r["lost"], lat["p50"] / 1e3, lat["p99"] / 1e3, r["unknown_backend"], r["bad_checksum"],
      r["flow_mismatch"], r["duplicates"]))
ok = (r["tx_packets"] > 0 and r["rx_packets"] == r["tx_packets"] and r["lost"] == 0 and
      tunnelled == r["rx_packets"] and r["unknown_backend"] == 0 and r["bad_checksum"] == 0 and
      r["flow_mismatch"] == 0 and r["duplicates"] == 0 and
      set(a for a, n in r["backends"].items() if n) <= set(backends))
sys.exit(0 if ok else 1)
EOF
	[ "${PIPESTATUS[0]}" -eq 0 ] && return 0
	# Where the loss was: lb-dpdk counts what it could not hand back.
	[ -z "$LB_PID" ] || echo "  lb-dpdk so far: rx_packets $(lb_counter rx_packets)," \
		"tx_packets $(lb_counter tx_packets), drop_tx_full $(lb_counter drop_tx_full)"
	return 1
}

# Exit 0 when in run $1 every flow came back, none moved between backends,
# and each backend of $2 took a share: with equal weights, none more than
# 1.5 times or less than half the fair one.
flows_stable_and_spread() {
	$PY - "$E2E_DIR/$1.json" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
backends = sys.argv[2].split(",")
counts = [r["backends"].get(b, 0) for b in backends]
fair = r["rx_packets"] / len(backends)
print("  %d flows sent, %d came back, %d moved; packets per backend: %s" % (
      r["flows"], r["flows_received"], r["flows_moved"],
      ", ".join("%s %d" % (b, n) for b, n in zip(backends, counts))))
ok = (r["flows"] > 0 and r["flows_received"] == r["flows"] and r["flows_moved"] == 0 and
      all(0.5 * fair <= n <= 1.5 * fair for n in counts))
sys.exit(0 if ok else 1)
EOF
}

e2e_ns_add lb
ENCAP=ipip
memif_config_write
memif_lb_start || { echo "lb-dpdk did not start"; cat "$E2E_DIR/lb-dpdk.log"; exit 1; }
lbd_start
check "lbd published its first generation to lb-dpdk on a memif port" wait_generation_after 0
check "lb-dpdk tells what a memif client needs (2 RX queues)" \
	grep -q "memif: the peer needs 2 RX queues" "$E2E_DIR/lb-dpdk.log"

COMMON="--rate $LBGEN_RATE --duration $LBGEN_SECONDS --order random"

# --- TCP connection sequences to an IPv4 VIP --------------------------------
lbgen_run_lb tcp4 $COMMON --proto tcp --tcp-conn 3 --src 10.1.0.1-10.1.0.50 --src-port 10000-10099 \
	--vip "$VIP4" --vip-port 80 --backends "$B4"
check "TCP SYN/data/FIN sequences, IPv4 VIP: every packet back, IPIP to a configured backend" \
	all_back_tunnelled tcp4 ipip "$B4"
check "TCP SYN/data/FIN sequences, IPv4 VIP: 5000 flows, each kept its backend, spread over 3" \
	flows_stable_and_spread tcp4 "$B4"
lb_counts_agree() {
	local grew tx
	grew=$(($(lb_counter rx_packets) - RUN_RX_BEFORE))
	tx=$(run_value tcp4 tx_packets)
	echo "  lb-dpdk rx_packets grew by $grew; lbgen sent $tx; lb-dpdk flow_moved $(lb_counter flow_moved)"
	[ "$grew" -eq "$tx" ] && [ "$(lb_counter flow_moved)" -eq 0 ]
}
check "lb-dpdk's counters agree: it received what lbgen sent, and moved no flow" lb_counts_agree

# --- UDP, IMIX ----------------------------------------------------------------
lbgen_run_lb udp4 $COMMON --proto udp --src 10.1.0.1-10.1.0.50 --src-port 20000-20099 \
	--vip "$VIP4" --vip-port 53 --size imix --backends "$B4"
check "UDP, IMIX sizes, IPv4 VIP: every packet back, IPIP to a configured backend" \
	all_back_tunnelled udp4 ipip "$B4"
check "UDP, IMIX sizes, IPv4 VIP: each flow kept its backend, spread over 3" \
	flows_stable_and_spread udp4 "$B4"

# --- an IPv6 VIP ----------------------------------------------------------------
lbgen_run_lb tcp6 $COMMON --proto tcp --tcp-flags syn:1,ack:8,fin:1 --src fd01::1-fd01::32 \
	--src-port 10000-10099 --vip "$VIP6" --backends "$B6"
check "TCP SYN/ACK/FIN mix, IPv6 VIP: every packet back, IP6IP6 to a configured backend" \
	all_back_tunnelled tcp6 ip6ip6 "$B6"
check "TCP SYN/ACK/FIN mix, IPv6 VIP: each flow kept its backend, spread over 3" \
	flows_stable_and_spread tcp6 "$B6"

# --- mixed families: an IPv4 VIP on IPv6 backends and the other way round ---------
lbgen_run_lb mixed $COMMON --proto tcp --src 10.1.0.1-10.1.0.50 --src fd01::1-fd01::32 \
	--src-port 10000-10049 --vip "$VIP4_MIXED" --vip "$VIP6_MIXED" --backends "$B4,$B6"
check "IPv4 VIP on IPv6 backends and IPv6 VIP on IPv4 backends: every packet back, 4in6 and 6in4" \
	all_back_tunnelled mixed "4in6 6in4" "$B4,$B6"
mixed_split() {
	$PY - "$E2E_DIR/mixed.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["encap"]
print("  4in6 %d, 6in4 %d, flows moved %d" % (e["4in6"], e["6in4"], r["flows_moved"]))
sys.exit(0 if e["4in6"] > 0 and e["6in4"] > 0 and
         abs(e["4in6"] - e["6in4"]) <= 0.01 * r["rx_packets"] and r["flows_moved"] == 0 else 1)
EOF
}
check "mixed families: half the packets each way, no flow moved" mixed_split

# --- GUE, switched by a reload while UDP flows run --------------------------------
reload_to_gue() {
	local before
	before=$(lbd_generations)
	ENCAP=gue
	memif_config_write
	kill -HUP "$LBD_PID"
	wait_generation_after "$before"
}
memif_lbgen_run reload --rate "$LBGEN_RATE" --duration $((LBGEN_SECONDS + 2)) --proto udp \
	--src 10.1.0.1-10.1.0.50 --src-port 30000-30099 --vip "$VIP4" --vip-port 53 \
	--backends "$B4" &
GEN_PID=$!
sleep 2
check "dataplane.encap changed to gue and lbd reloaded (SIGHUP): new generation in service" \
	reload_to_gue
wait "$GEN_PID"
check "UDP flows across the switch from IPIP to GUE: every packet back to a configured backend" \
	all_back_tunnelled reload "ipip gue" "$B4"
gue_took_over() {
	$PY - "$E2E_DIR/reload.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["encap"]
print("  ipip %d, then gue %d; %d flows, %d moved" % (e["ipip"], e["gue"], r["flows"], r["flows_moved"]))
sys.exit(0 if e["ipip"] > 0 and e["gue"] > 0 and r["flows_moved"] == 0 else 1)
EOF
}
check "UDP flows across the switch: IPIP before, GUE after, no flow moved" gue_took_over
lbgen_run_lb gue6 $COMMON --proto tcp --tcp-conn 2 --src fd01::1-fd01::32 --src-port 10000-10099 \
	--vip "$VIP6" --backends "$B6"
check "TCP sequences, IPv6 VIP, GUE over IPv6: every packet back to a configured backend" \
	all_back_tunnelled gue6 gue "$B6"
check "TCP sequences, IPv6 VIP, GUE: each flow kept its backend, spread over 3" \
	flows_stable_and_spread gue6 "$B6"

# --- pcap: what lbgen sends, read by scapy, and replayed ------------------------------
memif_lbgen_run pcap --count 300 --rate 10k --proto udp --src 10.1.0.1-10.1.0.3 --src-port 5000-5009 \
	--vip "$VIP4" --vip-port 53 --size 128 --pcap-tx "$E2E_DIR/sent.pcap"
pcap_reads_back() {
	$PY - "$E2E_DIR/sent.pcap" "$VIP4" <<'EOF'
import sys
from scapy.all import rdpcap, IP, UDP, raw
frames = rdpcap(sys.argv[1])
flows, bad = set(), 0
for f in frames:
    ip = f[IP]
    # scapy recomputes both checksums from scratch: they must match lbgen's.
    again = IP(raw(ip))
    del again.chksum
    del again[UDP].chksum
    again = IP(raw(again))
    if (len(f) != 124 or ip.dst != sys.argv[2] or f[UDP].dport != 53 or
            again.chksum != ip.chksum or again[UDP].chksum != f[UDP].chksum or
            bytes(f[UDP].payload)[:4] != b"LBG\x01"):
        bad += 1
    flows.add((ip.src, f[UDP].sport))
print("  %d frames in the pcap, %d flows, %d not as asked" % (len(frames), len(flows), bad))
sys.exit(0 if len(frames) == 300 and len(flows) == 30 and bad == 0 else 1)
EOF
}
check "--pcap-tx: 300 frames of 30 flows, 128 bytes, checksums as scapy computes them" \
	pcap_reads_back
lbgen_run_lb replay --replay "$E2E_DIR/sent.pcap" --count 3000 --rate 20k --backends "$B4"
check "--replay of that capture through lb-dpdk: every packet back, GUE to a configured backend" \
	all_back_tunnelled replay gue "$B4"
replay_flows() {
	$PY - "$E2E_DIR/replay.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("  %d flows replayed, %d came back, %d moved, %d unstamped" % (
      r["flows"], r["flows_received"], r["flows_moved"], r["tx_unstamped"]))
sys.exit(0 if r["flows"] == 30 and r["flows_received"] == 30 and r["flows_moved"] == 0 and
         r["tx_unstamped"] == 0 else 1)
EOF
}
check "--replay: the capture's 30 flows numbered, probed, none moved" replay_flows

# --- a short no-drop-rate search -------------------------------------------------------
# From a rate one lcore of lbgen cannot send over memif on any machine of
# this kind (4 Mpps once passed in a quiet CI run): the search must come
# down.
memif_lbgen_run ndr --ndr --rate 40M --duration 1 --ndr-resolution 1M --ndr-loss 0.001 --proto udp \
	--src 10.1.0.1-10.1.0.50 --src-port 40000-40099 --vip "$VIP4" --vip-port 53 \
	--backends "$B4"
ndr_consistent() {
	$PY - "$E2E_DIR/ndr.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
n = r["ndr"]
trials = n["trials"]
for t in trials:
    print("  trial: offered %.0f pps, sent %.0f pps, %d sent, %d back, loss %.4f%%: %s" % (
          t["rate_pps"], t["tx_pps"], t["tx_packets"], t["rx_packets"], 100 * t["loss_ratio"],
          "pass" if t["passed"] else "fail"))
print("  no-drop rate %.0f pps" % n["pps"])
passed = [t["rate_pps"] for t in trials if t["passed"]]
failed = [t["rate_pps"] for t in trials if not t["passed"]]
ok = (len(trials) >= 2 and trials[0]["rate_pps"] == 40e6 and n["loss_threshold"] == 0.001 and
      all((t["loss_ratio"] <= 0.001 and t["tx_pps"] >= 0.99 * t["rate_pps"]) == t["passed"]
          for t in trials) and
      n["pps"] == (max(passed) if passed else 0) and failed and
      min(failed) - n["pps"] <= 1e6 and r["unknown_backend"] == 0 and r["flows_moved"] == 0)
sys.exit(0 if ok else 1)
EOF
}
check "--ndr: binary search down from 40 Mpps to 1 Mpps, each verdict from loss and rate sent" \
	ndr_consistent

# --- dpdk-testpmd in io mode: frames come back as sent ---------------------------------
# testpmd spins without pause: on this shared 2-vCPU VM it loses CPU time in
# long stretches and may drop what its rings cannot hold meanwhile. lbgen's
# part is to account exactly: every frame back valid and unencapsulated,
# sent = received + lost.
lbd_stop
lb_stop
forwarded_as_sent() {
	$PY - "$E2E_DIR/forwarder.json" "$VIP4" <<'EOF2'
import json, sys
r = json.load(open(sys.argv[1]))
print("  %d sent, %d back unencapsulated, lost %d; %d flows back, %d moved; bad checksum %d, "
      "flow mismatch %d, duplicates %d" % (r["tx_packets"], r["encap"]["none"], r["lost"],
      r["flows_received"], r["flows_moved"], r["bad_checksum"], r["flow_mismatch"],
      r["duplicates"]))
ok = (r["rx_packets"] > 0 and r["encap"]["none"] == r["rx_packets"] and
      r["tx_packets"] == r["rx_packets"] + r["lost"] and r["unknown_backend"] == 0 and
      r["bad_checksum"] == 0 and r["flow_mismatch"] == 0 and r["duplicates"] == 0 and
      r["flows_moved"] == 0 and list(r["backends"]) == [sys.argv[2]])
sys.exit(0 if ok else 1)
EOF2
}
if ! command -v dpdk-testpmd >/dev/null; then
	echo "  dpdk-testpmd is not installed (Debian's dpdk-dev package): skipping the forwarder run"
elif check "dpdk-testpmd in io mode forwards on a memif port" memif_testpmd_start; then
	LBGEN_RXQ=1 memif_lbgen_run forwarder --rate 100k --duration 2 --proto udp --src 10.1.0.1-10.1.0.10 \
		--vip "$VIP4" --vip-port 53
	check "through testpmd's io forwarding: frames back as sent (encap.none), sent = back + lost" \
		forwarded_as_sent
	memif_testpmd_stop
fi

e2e_dump_logs
e2e_summary
