# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
#
# lbgen against a forwarder over net_memif on one machine: the harness that
# tests/e2e/test_lbgen.sh tests and the `system` step of `make bench`
# (tests/bench/suite.sh) measures. Sourced (bash), after report.sh (for
# wait_for). The forwarder is the memif server, lbgen the client:
#
#   lb-dpdk (memif server, worker on CPU 1, main lcore on 0), with lbd beside
#     it, both in network namespace MEMIF_NS; dataplane.gateway_mac is
#     lbgen's MAC, so every tunnelled packet goes straight back to lbgen.
#     Backends exist only as addresses routed on lb-dpdk's kernel interface,
#     with health checks of type "none": nothing needs to answer.
#   or dpdk-testpmd in io mode (memif server, forwarding on CPU 1): frames
#     come back as sent.
#   lbgen (memif client, on CPU 0) sends and receives.
#
# The caller sets:
#   MEMIF_DIR     a directory of its own: configuration, socket, logs, JSON
#   MEMIF_PREFIX  DPDK file prefix of lb-dpdk; lbgen takes MEMIF_PREFIX-gen,
#                 testpmd MEMIF_PREFIX-fwd (memif_cleanup removes theirs)
#   MEMIF_NS      the network namespace lb-dpdk and lbd run in (it exists)
# and may set:
#   MEMIF_HUGE=yes       every side on huge pages from a mounted hugetlbfs
#                        (lb-dpdk, and lbgen or testpmd beside it, take
#                        what they need); --no-huge and -m otherwise
#   MEMIF_ZERO_COPY=yes  lbgen's side in memif's zero-copy mode. DPDK 22.11
#                        (Debian 12) has it for the client only: a server,
#                        lb-dpdk or testpmd, copies each frame between the
#                        shared buffers and its own mbufs either way. It
#                        needs --single-file-segments (added), and rings
#                        that lbgen's mempool of 8191 mbufs can fill, since
#                        the client lends an mbuf to every slot of its RX
#                        rings and holds what it sent until the server took
#                        it: with MEMIF_RSIZE=14 lbgen stalls and nothing
#                        comes back; the bench uses 10
#   MEMIF_RSIZE          log2 of the rings' slots, which the client sets
#                        (default 14: 16384 slots ride out the tens of ms
#                        for which a shared VM under load may take a CPU
#                        from one side)
#   MEMIF_IDLE_SLEEP_US  lb-dpdk's worker sleep when idle (default 20, to
#                        leave a shared machine's CPU alone between runs)
#   ENCAP                lb-dpdk's tunnel (ipip unless set)
#   LBGEN_RXQ            lbgen's RX queues (2: lb-dpdk's worker and main
#                        lcore each send on a queue of their own)
# Starting sets LB_PID, LBD_PID, TESTPMD_PID, as lib.sh's lb_stop and
# lbd_stop expect.

BUILD=${BUILD:-build}
MEMIF_SOCK=$MEMIF_DIR/memif.sock
MEMIF_GEN_MAC=02:00:00:00:00:02
MEMIF_GEN_PREFIX=$MEMIF_PREFIX-gen
MEMIF_FWD_PREFIX=$MEMIF_PREFIX-fwd
ENCAP=${ENCAP:-ipip}
VIP4=${VIP4:-10.99.100.1}
VIP4_MIXED=${VIP4_MIXED:-10.99.100.2}
VIP6=${VIP6:-fd99:100::1}
VIP6_MIXED=${VIP6_MIXED:-fd99:100::2}
LB_PID=${LB_PID:-}
LBD_PID=${LBD_PID:-}
TESTPMD_PID=""

# EAL memory options of one side: $1 MiB when on 4 KiB pages; on huge pages
# each side takes what it needs.
memif_eal_mem() {
	if [ "${MEMIF_HUGE:-no}" = yes ]; then
		echo ""
	else
		echo "--no-huge -m $1"
	fi
}

# Three backends of family $1 (4 or 6), equal weights.
memif_backends() {
	local i sep="" addr
	for i in 1 2 3; do
		if [ "$1" = 6 ]; then addr=fd99:3::1$i; else addr=10.99.3.1$i; fi
		printf '%s{ name = "b%s"; address = "%s"; weight = 1; }' "$sep" "$i" "$addr"
		sep=", "
	done
}

# Writes $MEMIF_DIR/fulcrum.conf: lb-dpdk's port is the memif server, ENCAP
# its tunnel. The MTU leaves room for a tunnel around 1518-byte frames.
memif_config_write() {
	local eal="" arg
	for arg in $(memif_eal_mem 512); do eal="$eal\"$arg\", "; done
	cat >"$MEMIF_DIR/fulcrum.conf.tmp" <<EOF
global = {
  control_socket = "$MEMIF_DIR/lbd.sock";
  state_file = "$MEMIF_DIR/lbd.state";
  log_level = "info";
};
dataplane = {
  mode = "dpdk";
  encap = "$ENCAP";
  gue_port = 6080;
  encap_source_v4 = "10.99.2.2";
  encap_source_v6 = "fd99:2::2";
  flow_table_size = 65536;
  gateway_mac = "$MEMIF_GEN_MAC";
  dpdk = {
    eal_args = [ $eal"--file-prefix", "$MEMIF_PREFIX", "--log-level=user1:info" ];
    worker_lcores = [ 1 ];
    mbufs = 8191;
    mbuf_cache = 128;
    control_socket = "$MEMIF_DIR/lb-dpdk.sock";
    # This run's own: never the machine's /run/fulcrum/lb-dpdk.flows.
    flow_state_file = "$MEMIF_DIR/lb-dpdk.flows";
    idle_sleep_us = ${MEMIF_IDLE_SLEEP_US:-20};
    ports = ( { name = "edge0"; mtu = 1600; addresses = [ "10.99.2.2/24", "fd99:2::2/64" ];
                device = "net_memif0,role=server,socket=$MEMIF_SOCK,socket-abstract=no"; } );
  };
};
health_defaults = { type = "none"; };
vips = (
  { name = "web"; protocol = "tcp"; address = "$VIP4"; port = 80; backends = ( $(memif_backends 4) ); },
  { name = "dns"; protocol = "udp"; address = "$VIP4"; port = 53; backends = ( $(memif_backends 4) ); },
  { name = "web6"; protocol = "tcp"; address = "$VIP6"; port = 80; backends = ( $(memif_backends 6) ); },
  { name = "mixed"; protocol = "tcp"; address = "$VIP4_MIXED"; port = 80; backends = ( $(memif_backends 6) ); },
  { name = "mixed6"; protocol = "tcp"; address = "$VIP6_MIXED"; port = 80; backends = ( $(memif_backends 4) ); }
);
EOF
	mv "$MEMIF_DIR/fulcrum.conf.tmp" "$MEMIF_DIR/fulcrum.conf"
}

memif_in_ns() { nsenter --net="/var/run/netns/$MEMIF_NS" "$@"; }

# lb-dpdk in MEMIF_NS, from $MEMIF_DIR/fulcrum.conf; the backends are
# reached on edge0, through lbgen's MAC. Returns once the memif socket is
# there to connect to.
memif_lb_start() {
	rm -f "$MEMIF_SOCK"
	# nsenter execs the daemon itself, so $! is the daemon's pid (a shell
	# function in the background would be a subshell: not memif_in_ns).
	nsenter --net="/var/run/netns/$MEMIF_NS" "$BUILD/lb-dpdk" -c "$MEMIF_DIR/fulcrum.conf" \
		>>"$MEMIF_DIR/lb-dpdk.log" 2>&1 &
	LB_PID=$!
	wait_for 30 memif_in_ns ip link show edge0 >/dev/null || return 1
	memif_in_ns ip route replace 10.99.3.0/24 dev edge0
	wait_for 10 memif_in_ns ip -6 route replace fd99:3::/64 dev edge0
	wait_for 10 test -S "$MEMIF_SOCK"
}

# lbd beside it, logging to $MEMIF_DIR/lbd.log.
memif_lbd_start() {
	nsenter --net="/var/run/netns/$MEMIF_NS" "$BUILD/lbd" -c "$MEMIF_DIR/fulcrum.conf" >>"$MEMIF_DIR/lbd.log" 2>&1 &
	LBD_PID=$!
}

# lbd's count of generations put in service so far.
memif_generations() {
	grep -c "^lbd: info: generation [0-9]* in service" "$MEMIF_DIR/lbd.log" 2>/dev/null
}

memif_generations_above() { [ "$(memif_generations)" -gt "$1" ]; }

# Waits for lbd to report one more generation than $1 (20 s at most).
memif_generation_after() { wait_for 20 memif_generations_above "$1"; }

# Execs lbgen as the memif client on CPU 0: $1 names the run (its JSON and
# log in MEMIF_DIR), the rest are lbgen's options.
memif_lbgen_exec() {
	local name=$1 mem zc=""
	shift
	mem=$(memif_eal_mem 256)
	if [ "${MEMIF_ZERO_COPY:-no}" = yes ]; then
		zc=",zero-copy=yes"
		mem="$mem --single-file-segments"
	fi
	# shellcheck disable=SC2086 # the EAL memory options are words
	exec "$BUILD/lbgen" -l 0 $mem --no-pci --file-prefix "$MEMIF_GEN_PREFIX" \
		--vdev="net_memif0,role=client,socket=$MEMIF_SOCK,socket-abstract=no,mac=$MEMIF_GEN_MAC,rsize=${MEMIF_RSIZE:-14}$zc" \
		-- --rx-queues "${LBGEN_RXQ:-2}" -q --json "$MEMIF_DIR/$name.json" "$@" \
		>"$MEMIF_DIR/$name.log" 2>&1
}

# Runs lbgen as memif_lbgen_exec does and waits for it. Prints lbgen's last
# lines when it fails.
memif_lbgen_run() {
	local name=$1 rc
	(memif_lbgen_exec "$@")
	rc=$?
	[ "$rc" -eq 0 ] || { echo "  lbgen exited $rc:"; grep -v "^EAL\|^TELEMETRY" "$MEMIF_DIR/$name.log" | tail -n 5 | sed 's/^/  /'; }
	return $rc
}

# Starts lbgen as memif_lbgen_exec does, in the background: GEN_PID is
# lbgen's own pid (the subshell execs it), for a signal or a wait.
memif_lbgen_start() {
	(memif_lbgen_exec "$@") &
	GEN_PID=$!
}

# dpdk-testpmd in io mode as the memif server, forwarding on CPU 1, each
# frame back out as it came (--port-topology=loop). TX queues: $1 (1 by
# default), lbgen's --rx-queues against it; it forwards on the first. Returns
# once it forwards: without waiting for the link, which comes up only when
# lbgen connects (testpmd would wait 9 s for it otherwise).
memif_testpmd_start() {
	# The log goes first: the shell truncates it in the child, after
	# wait_for below may have read an earlier testpmd's.
	rm -f "$MEMIF_SOCK" "$MEMIF_DIR/testpmd.log"
	# Line-buffered, so that its log says when it forwards.
	# shellcheck disable=SC2046 # the EAL memory options are words
	stdbuf -oL dpdk-testpmd -l 0,1 $(memif_eal_mem 256) --no-pci --file-prefix "$MEMIF_FWD_PREFIX" \
		--vdev="net_memif0,role=server,socket=$MEMIF_SOCK,socket-abstract=no" -- \
		--forward-mode=io --port-topology=loop --rxq=1 --txq="${1:-1}" --total-num-mbufs=8192 \
		--no-lsc-interrupt --disable-link-check --stats-period=60 -a >"$MEMIF_DIR/testpmd.log" 2>&1 &
	TESTPMD_PID=$!
	wait_for 20 grep -q "forwards packets on" "$MEMIF_DIR/testpmd.log" &&
		wait_for 10 test -S "$MEMIF_SOCK"
}

memif_testpmd_stop() {
	[ -n "$TESTPMD_PID" ] || return 0
	kill -TERM "$TESTPMD_PID" 2>/dev/null
	wait "$TESTPMD_PID" 2>/dev/null
	TESTPMD_PID=""
}

# What lbgen and testpmd leave behind once they exited: their runtime
# directories, and on huge pages their hugetlbfs files, which hold the pages
# until removed (lb-dpdk removes its own; the caller removes MEMIF_DIR and
# MEMIF_NS).
memif_cleanup() {
	local mnt
	[ -z "$TESTPMD_PID" ] || { kill -KILL "$TESTPMD_PID" 2>/dev/null; wait "$TESTPMD_PID" 2>/dev/null; }
	TESTPMD_PID=""
	rm -rf "/var/run/dpdk/$MEMIF_GEN_PREFIX" "/var/run/dpdk/$MEMIF_FWD_PREFIX"
	for mnt in $(awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts); do
		rm -f "$mnt/${MEMIF_GEN_PREFIX}map_"* "$mnt/${MEMIF_FWD_PREFIX}map_"*
	done
}
