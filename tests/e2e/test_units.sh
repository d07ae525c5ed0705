#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# lb-dpdk and lbd with only the capabilities their systemd units grant
# (tools/systemd/*.service.in: CapabilityBoundingSet=, NoNewPrivileges=),
# applied with setpriv as systemd would: TCP and
# UDP through the VIPs; lbctl, including the reload `systemctl reload lbd`
# runs, which fails on an invalid file while lbd keeps its configuration;
# the sockets' owners and who may use them (nobody through the read-only
# socket only);
# lb-dpdk forwarding while lbd is stopped; lbd in DPDK mode with no
# capability at all, as its unit says. And the capabilities are needed:
# lb-dpdk without CAP_NET_ADMIN, or without CAP_NET_RAW, does not start.
#
# The units' file-system sandboxing needs systemd itself as the service
# manager, which this machine does not run; tests/install/test_install.sh
# checks the units with systemd-analyze.
. "$(dirname "$0")/lib.sh"

UNIT_DIR=$(dirname "$0")/../../tools/systemd
# shellcheck disable=SC2034 # lib.sh reads them
E2E_BACKENDS=2
# shellcheck disable=SC2034
BACKENDS="b1:1 b2:1"

echo "[==========] e2e: the daemons with their units' capabilities"

# The capabilities unit $1 grants, as setpriv's --bounding-set list.
unit_caps() {
	local caps
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT_DIR/$1.service.in")
	# shellcheck disable=SC2086 # caps is a list
	printf -- '-all%s' "$(printf ',+%s' $caps | tr '[:upper:]' '[:lower:]' | sed 's/+cap_/+/g')"
}
LB_CAPS=$(unit_caps lb-dpdk)
LBD_CAPS=$(unit_caps lbd)
echo "  lb-dpdk.service: $LB_CAPS; lbd.service: $LBD_CAPS"

# Starts lb-dpdk / lbd as the units do, with bounding set $1 (default: the
# unit's) and no new privileges. (The units' LimitMEMLOCK=infinity is left
# out: this container may not raise the limit, and --no-huge needs none.)
lb_start_caps() {
	nsenter --net="/var/run/netns/$E2E_PREFIX-lb" setpriv --no-new-privs --bounding-set="${1:-$LB_CAPS}" \
		"$BUILD/lb-dpdk" -c "$E2E_DIR/fulcrum.conf" >>"$E2E_DIR/lb-dpdk.log" 2>&1 &
	LB_PID=$!
}
lbd_start_caps() {
	nsenter --net="/var/run/netns/$E2E_PREFIX-lb" setpriv --no-new-privs --bounding-set="${1:-$LBD_CAPS}" \
		"$BUILD/lbd" -c "$E2E_DIR/fulcrum.conf" >>"$E2E_DIR/lbd.log" 2>&1 &
	LBD_PID=$!
}
lb_ready() {
	wait_for 30 ns lb ip link show edge0 >/dev/null || return 1
	ns lb ip route replace default via 10.99.2.1 dev edge0
	wait_for 10 ns lb ip -6 route replace default via fd99:2::1 dev edge0
	wait_for 10 test -S "$E2E_DIR/lb-dpdk.sock"
}

# Exit 0 when process $1 runs with exactly the set of bounding list $2.
holds_exactly() {
	local pid=$1 want=$2 eff bnd expect=0 cap bit
	[ -r "/proc/$pid/status" ] || { echo "  process $pid is gone"; return 1; }
	eff=$((16#$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")))
	bnd=$((16#$(awk '/^CapBnd:/ { print $2 }' "/proc/$pid/status")))
	for cap in $(echo "$want" | tr ',' '\n' | sed -n 's/^+//p'); do
		bit=$(awk -v c="CAP_$(echo "$cap" | tr '[:lower:]' '[:upper:]')" '$1 == "#define" && $2 == c { print $3 }' \
			/usr/include/linux/capability.h)
		[ -n "$bit" ] || { echo "  unknown capability $cap"; return 1; }
		expect=$((expect | (1 << bit)))
	done
	printf '  pid %s: effective %#x, bounding %#x, the unit grants %#x\n' "$pid" "$eff" "$bnd" "$expect"
	[ "$eff" -eq "$expect" ] && [ "$bnd" -eq "$expect" ] &&
		grep -q "^NoNewPrivs:[[:space:]]*1" "/proc/$pid/status"
}

# Exit 0 when COUNT new TCP connections and COUNT UDP datagrams to the VIP
# are all answered.
all_answered() {
	ns cl $PY "$E2E_PEER" spread "$VIP4" 80 "$1" >"$E2E_DIR/tcp.json" &&
		ns cl $PY "$E2E_PEER" spread "$VIP4" 53 "$1" udp >"$E2E_DIR/udp.json" &&
		$PY - "$E2E_DIR/tcp.json" "$E2E_DIR/udp.json" "$1" <<'EOF'
import json, sys
ok = True
for path, proto in ((sys.argv[1], "TCP"), (sys.argv[2], "UDP")):
    r = json.load(open(path))
    n = sum(r["counts"].values())
    print("  %s: %d of %s answered, %s; %d failed" % (proto, n, sys.argv[3], r["counts"],
                                                     len(r["failures"])))
    ok = ok and n == int(sys.argv[3]) and not r["failures"]
sys.exit(0 if ok else 1)
EOF
}

topo_up
# The read-only socket belongs to nogroup: lbd needs CAP_CHOWN for it.
# shellcheck disable=SC2034 # lib.sh reads it
E2E_GLOBAL_EXTRA='readonly_socket_group = "nogroup";'
write_config
chmod 755 "$E2E_DIR" # nobody reaches the sockets below

# --- the capabilities are needed ---------------------------------------------------
# Exit 0 when lb-dpdk with bounding set $1 exits with an error within 30 s,
# its log saying $2.
lb_fails_without() {
	local i
	: >"$E2E_DIR/lb-dpdk.log"
	lb_start_caps "$1"
	for i in $(seq 300); do
		kill -0 "$LB_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$LB_PID" 2>/dev/null; then
		echo "  still running after 30 s"
		lb_stop
		return 1
	fi
	wait "$LB_PID"
	local rc=$?
	LB_PID=""
	grep -i -m 2 -- "$2" "$E2E_DIR/lb-dpdk.log" | sed 's/^/  | /'
	[ "$rc" -ne 0 ] && grep -qi -- "$2" "$E2E_DIR/lb-dpdk.log"
}
check "lb-dpdk without CAP_NET_ADMIN does not start (no exception interface)" \
	lb_fails_without "$(echo "$LB_CAPS" | sed 's/,+net_admin//')" "tap\|tun\|not permitted"
check "lb-dpdk without CAP_NET_RAW does not start (no AF_PACKET socket)" \
	lb_fails_without "$(echo "$LB_CAPS" | sed 's/,+net_raw//')" "af_packet\|not permitted"
rm -rf "/var/run/dpdk/$E2E_PREFIX"

# --- the daemons as their units run them ---------------------------------------------
: >"$E2E_DIR/lb-dpdk.log"
lb_start_caps
check "lb-dpdk starts with its unit's capabilities" lb_ready
if [ "$E2E_FAILED" -ne 0 ]; then
	e2e_dump_logs
	e2e_summary
	exit 1
fi
lbd_start_caps
check "lbd starts with its unit's capabilities and publishes to lb-dpdk" wait_generation_after 0
check "lb-dpdk holds exactly its unit's capabilities, without new privileges" \
	holds_exactly "$LB_PID" "$LB_CAPS"
check "lbd holds exactly its unit's capabilities, without new privileges" \
	holds_exactly "$LBD_PID" "$LBD_CAPS"
check "40 TCP connections and 40 UDP datagrams through the VIP, all answered" all_answered 40
check "lbctl talks to lbd" lbctl_ok vip list

# --- the control surface: who may use which socket -----------------------------------
socket_owned() {
	stat -c '  %n: %U:%G %a' "$E2E_DIR/lbd.sock" "$E2E_DIR/lbd-ro.sock"
	[ "$(stat -c '%U:%G %a' "$E2E_DIR/lbd.sock")" = "root:root 660" ] &&
		[ "$(stat -c '%U:%G %a' "$E2E_DIR/lbd-ro.sock")" = "root:nogroup 660" ]
}
check "lbd gives the read-only socket to readonly_socket_group (CAP_CHOWN): root:nogroup 0660" \
	socket_owned
# lbctl as nobody:nogroup, exit status $1 expected, output matching $2.
as_nobody() {
	local want=$1 pattern=$2 out rc
	shift 2
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$BUILD/lbctl" "$@" 2>&1)
	rc=$?
	echo "$out" | head -n 3 | sed 's/^/  | /'
	[ "$rc" -eq "$want" ] && echo "$out" | grep -q -- "$pattern"
}
check "as nobody:nogroup, lbctl vip list goes through the read-only socket" \
	as_nobody 0 web -s "$E2E_DIR/lbd.sock" vip list
check "as nobody:nogroup, lbctl backend set cannot reach the control socket (exit 3)" \
	as_nobody 3 "Permission denied" -s "$E2E_DIR/lbd.sock" backend set web b1 state drain
check "as nobody:nogroup, a change sent to the read-only socket is forbidden (exit 1)" \
	as_nobody 1 forbidden -s "$E2E_DIR/lbd-ro.sock" backend set web b1 state drain

reload_applies() {
	$LBCTL config reload | sed 's/^/  /'
	[ "${PIPESTATUS[0]}" -eq 0 ]
}
check "lbctl config reload (systemctl reload lbd) applies a valid file: exit 0" reload_applies
cp "$E2E_DIR/fulcrum.conf" "$E2E_DIR/fulcrum.conf.good"
sed -i 's/weight = 1;/weight = 300;/' "$E2E_DIR/fulcrum.conf"
reload_refused() {
	local before rc
	before=$(lbd_generations)
	$LBCTL config reload 2>"$DIR_ERR" >/dev/null
	rc=$?
	sed 's/^/  /' "$DIR_ERR"
	[ "$rc" -eq 1 ] && grep -q "fulcrum.conf:[0-9]*: .*weight: 300 is above 256" "$DIR_ERR" &&
		grep -q "reload refused" "$E2E_DIR/lbd.log" && [ "$(lbd_generations)" -eq "$before" ]
}
DIR_ERR=$E2E_DIR/reload.err
check "... an invalid file: exit 1 with the error, and nothing published" reload_refused
check "... and the running configuration stays: all answered" all_answered 40
mv "$E2E_DIR/fulcrum.conf.good" "$E2E_DIR/fulcrum.conf"

lbd_stop
check "with lbd stopped, lb-dpdk keeps forwarding: all answered" all_answered 40
before=$(lbd_generations)
E2E_GLOBAL_EXTRA="" # no socket group: nothing to chown
write_config
lbd_start_caps -all
check "lbd in DPDK mode (no socket groups) needs no capability at all: it publishes with none" \
	wait_generation_after "$before"
check "... and holds none" holds_exactly "$LBD_PID" -all
check "... and traffic flows: all answered" all_answered 40

lbd_stop
lb_stop
e2e_dump_logs
e2e_summary
