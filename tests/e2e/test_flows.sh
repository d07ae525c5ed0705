#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End to end, with real TCP connections: connections spread over backends by
# weight; established connections keep their backend through backend
# additions, weight changes and removals (config edit + SIGHUP), through lbd
# being killed and restarted, and through lb-dpdk being restarted.
. "$(dirname "$0")/lib.sh"

echo "[==========] e2e: flows (lb-dpdk on af_packet, $E2E_BACKENDS backends)"
topo_up
BACKENDS="b1:1 b2:2 b3:3"
write_config
lb_start || { echo "lb-dpdk did not start"; cat "$E2E_DIR/lb-dpdk.log"; exit 1; }
lbd_start
check "lbd published its first generation to lb-dpdk" wait_generation_after 0

# --- 1. spread by weight ------------------------------------------------
ns cl $PY "$E2E_PEER" spread "$VIP4" 80 600 >"$E2E_DIR/spread.json"
spread_ok() {
	$PY - "$E2E_DIR/spread.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["counts"]
weights = {"b1": 1, "b2": 2, "b3": 3}
n = sum(c.values())
chi2 = sum((c.get(b, 0) - n * w / 6) ** 2 / (n * w / 6) for b, w in weights.items())
print("  600 connections: %s, %d failed; chi-square %.2f against weights 1:2:3 "
      "(99.9%% bound for 2 degrees of freedom: 13.82)" % (c, len(r["failures"]), chi2))
sys.exit(0 if n == 600 and not r["failures"] and chi2 < 13.82 else 1)
EOF
}
check "600 connections from 600 client ports all answered, spread 1:2:3 by weight" spread_ok

# --- 2. long-lived connections through add, reweight, remove -------------
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
reload_config() {
	local before
	before=$(lbd_generations)
	write_config
	kill -HUP "$LBD_PID"
	wait_generation_after "$before"
}

streams_start 30
backend_add b4
BACKENDS="b1:1 b2:2 b3:3 b4:2"
check "backend b4 added (config edit + SIGHUP): new generation in service" reload_config
sleep 1
BACKENDS="b1:3 b2:2 b3:1 b4:2"
check "weights changed to 3:2:1:2: new generation in service" reload_config
sleep 1
BACKENDS="b1:3 b3:1 b4:2"
check "backend b2 removed: new generation in service" reload_config
sleep 2
streams_stop
check "30 streaming connections: none broken by add / reweight / remove except those on b2" \
	streams_unbroken_except b2
ns cl $PY "$E2E_PEER" spread "$VIP4" 80 120 >"$E2E_DIR/spread.json"
new_spread_ok() {
	$PY - "$E2E_DIR/spread.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["counts"]
print("  120 new connections after the changes: %s" % c)
sys.exit(0 if "b2" not in c and c.get("b4", 0) > 0 and not r["failures"] else 1)
EOF
}
check "new connections reach the added b4 and never the removed b2" new_spread_ok

# --- 3. lbd killed and restarted ------------------------------------------
streams_start 20
lbd_stop KILL
sleep 1
ns cl $PY "$E2E_PEER" spread "$VIP4" 80 30 >"$E2E_DIR/spread.json"
all_answered() {
	$PY -c 'import json, sys
r = json.load(open(sys.argv[1])); print("  %s" % r["counts"])
sys.exit(0 if sum(r["counts"].values()) == int(sys.argv[2]) else 1)' "$E2E_DIR/spread.json" "$1"
}
check "lbd killed (SIGKILL): 30 new connections still answered" all_answered 30
before=$(lbd_generations)
lbd_start
check "lbd restarted: full resync published" wait_generation_after "$before"
sleep 2
streams_stop
check "20 streaming connections unbroken across lbd's death and restart" streams_unbroken_except

# --- 4. lb-dpdk restarted with unchanged tables ---------------------------
streams_start 20
before=$(lbd_generations)
lb_stop TERM
check "lb-dpdk restarted" lb_start
check "lbd reconnected and resynced the new lb-dpdk" wait_generation_after "$before"
sleep 3
streams_stop
check "20 streaming connections unbroken across an lb-dpdk restart (same backend chosen again)" \
	streams_unbroken_except

# --- 5. drain: flows stay, new flows go elsewhere ------------------------
streams_start 20
BACKENDS="b1:3 b3:1:drain b4:2"
check "b3 set to drain (config edit + SIGHUP): new generation in service" reload_config
ns cl $PY "$E2E_PEER" spread "$VIP4" 80 60 >"$E2E_DIR/spread.json"
no_new_on_b3() {
	$PY -c 'import json, sys
r = json.load(open(sys.argv[1])); print("  60 new connections: %s" % r["counts"])
sys.exit(0 if "b3" not in r["counts"] and not r["failures"] else 1)' "$E2E_DIR/spread.json"
}
check "no new connection reaches the draining b3" no_new_on_b3
sleep 1
streams_stop
check "20 streaming connections unbroken, those on the draining b3 included" streams_unbroken_except

# --- 6. a bad configuration on SIGHUP changes nothing ---------------------
before=$(lbd_generations)
cp "$E2E_DIR/fulcrum.conf" "$E2E_DIR/good.conf"
sed -i 's/weight = 3;/weight = 300;/' "$E2E_DIR/fulcrum.conf"
kill -HUP "$LBD_PID"
refused() {
	wait_for 5 grep -q "reload refused" "$E2E_DIR/lbd.log" || return 1
	grep "reload: .*fulcrum.conf:[0-9]*: .*weight: 300 is above 256" "$E2E_DIR/lbd.log" |
		sed 's/^/  /' | head -n 1
	sleep 1
	[ "$(lbd_generations)" -eq "$before" ]
}
check "a config with weight 300: lbd reports file:line and keeps the running generation" refused
ns cl $PY "$E2E_PEER" spread "$VIP4" 80 30 >"$E2E_DIR/spread.json"
check "30 new connections answered after the refused reload" all_answered 30
cp "$E2E_DIR/good.conf" "$E2E_DIR/fulcrum.conf"

# --- 7. an ICMP error about a flow reaches that flow's backend ---------------
ns cl $PY "$E2E_PEER" hold "$VIP4" 80 8 >"$E2E_DIR/hold.json" &
wait_for 10 test -s "$E2E_DIR/hold.json"
held_backend=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["backend"])' "$E2E_DIR/hold.json")
held_port=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$E2E_DIR/hold.json")
decap_of() { ns "$1" "$BUILD/fulcrum-decap" stats eth0 | awk '$1 == "decapsulated" { print $2 }'; }
icmp_before=$(lb_counter icmp_forwarded)
declare -A decap_before
for b in b1 b3 b4; do decap_before[$b]=$(decap_of $b); done
# Fragmentation needed from a router near the client, quoting the backend's
# reply (VIP -> client) as a router quotes the packet it could not forward.
ns rt $PY -c '
import sys
from scapy.all import IP, ICMP, TCP, send, conf
conf.verb = 0
vip, client, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
quote = IP(src=vip, dst=client, flags="DF") / TCP(sport=80, dport=port, flags="A")
send([IP(src="10.99.1.1", dst=vip) / ICMP(type=3, code=4, nexthopmtu=1400) / bytes(quote)[:28]] * 5)
' "$VIP4" 10.99.1.2 "$held_port"
icmp_to_owner() {
	local b moved="" extra=0
	wait_for 5 test "$(lb_counter icmp_forwarded)" -ge $((icmp_before + 5))
	for b in b1 b3 b4; do
		moved="$moved $b:$(($(decap_of $b) - ${decap_before[$b]}))"
		[ "$b" = "$held_backend" ] || extra=$((extra + $(decap_of $b) - ${decap_before[$b]}))
	done
	echo "  connection on $held_backend (client port $held_port); packets tunnelled since:$moved"
	[ "$(lb_counter icmp_forwarded)" -ge $((icmp_before + 5)) ] &&
		[ $(($(decap_of "$held_backend") - ${decap_before[$held_backend]})) -ge 5 ] &&
		[ "$extra" -eq 0 ]
}
check "5 ICMP errors quoting a connection went to its backend and no other" icmp_to_owner
wait_for 15 test -z "$(jobs -r)"

# --- 8. the control channel refuses nonsense and stays up -----------------
lbd_stop TERM
ns lb $PY "$(dirname "$0")/chan_probe.py" "$E2E_DIR/lb-dpdk.sock" abuse >"$E2E_DIR/abuse.json"
abuse_refused() {
	$PY - "$E2E_DIR/abuse.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
ok = True
for case, want_code, must_close in (("bad_magic", 71, True), ("other_version", 93, True),
                                    ("oversized", 90, True), ("unknown_type", 74, True),
                                    ("bad_vip", 22, False)):
    a = r[case]
    print("  %s: %s %s: %s%s" % (case, a.get("type"), a.get("code"), a.get("text"),
                                 ", channel closed" if a.get("closed_after") else ""))
    ok &= a.get("type") == "ERROR" and a.get("code") == want_code and (a["closed_after"] or not must_close)
sys.exit(0 if ok else 1)
EOF
}
check "bad magic, other version, oversized and unknown messages, a bad VIP: each an error reply" \
	abuse_refused
check "lb-dpdk is still running after the abuse" kill -0 "$LB_PID"
ns lb $PY "$(dirname "$0")/chan_probe.py" "$E2E_DIR/lb-dpdk.sock" stats >"$E2E_DIR/stats.json"
stats_sane() {
	$PY -c 'import json, sys
r = json.load(open(sys.argv[1])); print("  %s" % r)
sys.exit(0 if r["generation"] > 0 and r["rx_packets"] > 0 and r["counter_count"] > 20 else 1)' \
		"$E2E_DIR/stats.json"
}
check "STATS over the channel: the generation in service survived the bad VIP; counters" stats_sane
ns cl $PY "$E2E_PEER" spread "$VIP4" 80 30 >"$E2E_DIR/spread.json"
check "30 new connections answered with lbd stopped, after the abuse" all_answered 30

e2e_dump_logs
e2e_summary
