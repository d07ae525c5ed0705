#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# fulcrum-setup, the set-up helper: usage errors; --status; --dry-run prints
# the commands it would run and changes nothing; a port whose interface (or
# a bridge on it) carries an IPv4 or IPv6 default route, or other routes, is
# refused unless --force, and then nothing at all is done; virtual
# interfaces, unknown names, non-network PCI devices and machines without an
# IOMMU are refused with the reason; a real run reserves huge pages and
# mounts a hugetlbfs.
#
# This machine has no NIC to bind, so the PCI devices are a sysfs-shaped tree
# (FULCRUM_SETUP_SYSFS) whose interfaces are veth pairs and a bridge in a
# network namespace holding the routes; `ip route` there is the real one.
# Nothing is ever bound: every run that would bind is a --dry-run. The real
# run is confined to a private mount namespace and to the fake tree's
# nr_hugepages. Needs root (namespaces); skipped otherwise.
set -u

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SETUP=$ROOT/tools/fulcrum-setup
. "$ROOT/tests/e2e/report.sh"

echo "[==========] install: fulcrum-setup (dry runs, refusals, a confined real run)"
if [ "$(id -u)" -ne 0 ]; then
	echo "needs root (network namespaces); skipped"
	echo "[  PASSED  ] 0 test(s)."
	echo "[  SKIPPED ] 1 test(s)."
	exit 0
fi

NS=fpkg$$-setup
DIR=$(mktemp -d /tmp/fulcrum-setup.XXXXXX)
F=$DIR/sys
cleanup() {
	ip netns del "$NS" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

PAGE_KIB=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
HUGETLBFS_MOUNTS=$(grep -c " hugetlbfs " /proc/mounts)

# --- the fake machine ------------------------------------------------------------
# PCI function $1 of class $2 bound to driver $3 ("" = none), with kernel
# interface $4 ("" = none) directly under it, or under a virtio device when
# $5 is set (virtio-net's layout).
pci_dev() {
	local addr=$1 class=$2 driver=$3 ifname=$4 virtio=${5:-} dev
	dev=$F/devices/pci0000:00/$addr
	mkdir -p "$dev" "$F/bus/pci/devices"
	echo "$class" >"$dev/class"
	ln -s ../../../bus/pci "$dev/subsystem"
	ln -s "../../../devices/pci0000:00/$addr" "$F/bus/pci/devices/$addr"
	if [ -n "$driver" ]; then
		mkdir -p "$F/bus/pci/drivers/$driver"
		ln -s "../../../bus/pci/drivers/$driver" "$dev/driver"
	fi
	[ -n "$ifname" ] || return 0
	if [ -n "$virtio" ]; then
		mkdir -p "$dev/virtio3/net/$ifname"
		ln -s ../../../virtio3 "$dev/virtio3/net/$ifname/device"
		ln -s "../../devices/pci0000:00/$addr/virtio3/net/$ifname" "$F/class/net/$ifname"
	else
		mkdir -p "$dev/net/$ifname"
		ln -s "../../../$addr" "$dev/net/$ifname/device"
		ln -s "../../devices/pci0000:00/$addr/net/$ifname" "$F/class/net/$ifname"
	fi
}
virtual_dev() {
	mkdir -p "$F/devices/virtual/net/$1"
	ln -s "../../devices/virtual/net/$1" "$F/class/net/$1"
}
mkdir -p "$F/class/net" "$F/kernel/iommu_groups/12" "$F/module/vfio"
for kib in "$PAGE_KIB" 1048576; do
	mkdir -p "$F/kernel/mm/hugepages/hugepages-${kib}kB"
	echo 0 >"$F/kernel/mm/hugepages/hugepages-${kib}kB/nr_hugepages"
	echo 0 >"$F/kernel/mm/hugepages/hugepages-${kib}kB/free_hugepages"
done
pci_dev 0000:5e:00.0 0x020000 ixgbe fpk0    # IPv4 default route
pci_dev 0000:5e:00.1 0x020000 ixgbe fpk1    # unused: bindable
pci_dev 0000:5e:00.2 0x020000 ixgbe fpk3    # other routes
pci_dev 0000:5e:00.3 0x020000 vfio-pci ""   # bound already
pci_dev 0000:00:04.0 0x020000 virtio-pci fpk2 virtio # its bridge: IPv6 default
pci_dev 0000:00:1f.0 0x060100 lpc_ich ""    # an ISA bridge
virtual_dev fpkbr
virtual_dev fpk4
ln -s ../../../../../virtual/net/fpkbr "$F/class/net/fpk2/upper_fpkbr"

ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up
nsx sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
for i in 0 1 2 3 4; do
	nsx ip link add "fpk$i" type veth peer name "fpk${i}p"
	nsx ip link set "fpk$i" up
	nsx ip link set "fpk${i}p" up
done
nsx ip link add fpkbr type bridge
nsx ip link set fpk2 master fpkbr
nsx ip link set fpkbr up
nsx ip addr add 10.77.0.2/24 dev fpk0
nsx ip route add default via 10.77.0.1 dev fpk0
nsx ip -6 addr add fd77::2/64 dev fpkbr nodad
nsx ip -6 route add default via fd77::1 dev fpkbr
nsx ip addr add 10.78.0.2/24 dev fpk3

# Runs fulcrum-setup in the namespace on the fake machine; stdout in
# $DIR/out, stderr in $DIR/err, exit status in RC (shown, with both).
setup() {
	nsx env FULCRUM_SETUP_SYSFS="$F" sh "$SETUP" "$@" >"$DIR/out" 2>"$DIR/err"
	RC=$?
	echo "  fulcrum-setup $*: exit $RC"
	sed 's/^/  | /' "$DIR/out" "$DIR/err"
}
# Exit 0 when fulcrum-setup ARGS... exits $1 and stderr has text $2.
exits_saying() {
	local rc=$1 text=$2
	shift 2
	setup "$@"
	[ "$RC" -eq "$rc" ] && grep -qF -- "$text" "$DIR/err"
}
# ... and printed no command at all.
refused() {
	exits_saying 1 "$@" && ! grep -v '^#' "$DIR/out" | grep -q .
}
out_has() { grep -qxF -- "$1" "$DIR/out"; }
nr_of() { cat "$F/kernel/mm/hugepages/hugepages-${1}kB/nr_hugepages"; }

# --- usage ----------------------------------------------------------------------
check "no arguments: exit 2, nothing to do" exits_saying 2 "nothing to do"
check "an unknown option: exit 2" exits_saying 2 "unknown option --bind" --bind fpk1
check "--hugepages 12X: exit 2, not a size" exits_saying 2 "12X is not a size" --hugepages 12X
check "--page-size 3M: exit 2" exits_saying 2 "give 2M or 1G" --hugepages 1G --page-size 3M
check "--page-size alone: exit 2" exits_saying 2 "goes with --hugepages" --page-size 2M fpk1
check "--status with other options: exit 2" exits_saying 2 "takes no other option" --status fpk1
status_lists() {
	setup --status && [ "$RC" -eq 0 ] && grep -q "^Huge pages:" "$DIR/out" &&
		grep -q "IOMMU groups: 1" "$DIR/out" &&
		grep -qx "  0000:5e:00.0  driver ixgbe  interface fpk0 (default route)" "$DIR/out" &&
		grep -qx "  0000:5e:00.1  driver ixgbe  interface fpk1" "$DIR/out" &&
		grep -qx "  0000:5e:00.3  driver vfio-pci" "$DIR/out"
}
check "--status: huge pages, IOMMU groups, NICs with their drivers and default routes" status_lists

# --- refusals: nothing is done --------------------------------------------------
check "a port whose interface carries the IPv4 default route is refused" \
	refused "carries the default route (default via 10.77.0.1 dev fpk0" -n 0000:5e:00.0
check "... named by its interface too" refused "its interface fpk0 carries the default route" -n fpk0
check "... and then nothing else is done either (no huge pages, no other port)" \
	refused "--force takes it anyway" -n --hugepages 64M fpk1 fpk0
check "... without --dry-run as well" refused "carries the default route" 0000:5e:00.0
check "a virtio port whose bridge carries the IPv6 default route is refused" \
	refused "fpk2 carries the default route through fpkbr (default via fd77::1" -n 0000:00:04.0
check "a port with other routes is refused as in use" \
	refused "fpk3 is in use, with routes (10.78.0.0/24" -n fpk3
check "a virtual interface is refused, pointing to net_af_packet" \
	refused 'device = "net_af_packet0,iface=fpk4"' -n fpk4
check "an unknown name is refused" refused "nosuch0: no such network interface" -n nosuch0
check "an absent PCI address is refused" refused "no PCI device 0000:5e:00.7" -n 5e:00.7
check "a PCI device that is no NIC is refused" \
	refused "0000:00:1f.0 is not a network controller (PCI class 0x060100)" -n 0000:00:1f.0
mv "$F/kernel/iommu_groups/12" "$DIR/iommu-12"
check "without an IOMMU, binding is refused" refused "no IOMMU on this machine" -n fpk1
mv "$DIR/iommu-12" "$F/kernel/iommu_groups/12"
runs_as_nobody() {
	install -d -m 0755 "$DIR/bin" && install -m 0755 "$SETUP" "$DIR/bin/"
	chmod 0755 "$DIR"
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		sh "$DIR/bin/fulcrum-setup" --hugepages 64M >"$DIR/out" 2>"$DIR/err"
	RC=$?
	sed 's/^/  | /' "$DIR/err"
	[ "$RC" -eq 1 ] && grep -qF "needs root (or --dry-run" "$DIR/err"
}
check "without root and without --dry-run: refused" runs_as_nobody

# --- dry runs: the plan, and nothing changed -------------------------------------
DEVBIND=$(command -v dpdk-devbind.py || echo dpdk-devbind.py)
plan_binds_and_reserves() {
	setup -n --hugepages 64M fpk1 0000:5e:00.3 0000:5e:00.1
	[ "$RC" -eq 0 ] &&
		out_has "# fulcrum-setup --dry-run: these commands would run; none has." &&
		out_has "echo $(((65536 + PAGE_KIB - 1) / PAGE_KIB)) > $F/kernel/mm/hugepages/hugepages-${PAGE_KIB}kB/nr_hugepages" &&
		out_has "modprobe vfio-pci" &&
		out_has "$DEVBIND --bind=vfio-pci 0000:5e:00.1" &&
		grep -qF "0000:5e:00.3 is bound to vfio-pci already" "$DIR/err" &&
		[ "$(nr_of "$PAGE_KIB")" -eq 0 ]
}
check "--dry-run plans the huge pages, vfio-pci and one bind per port, and changes nothing" \
	plan_binds_and_reserves
plans_mount_unless_mounted() {
	if grep -q " hugetlbfs .*pagesize=$((PAGE_KIB / 1024))M" /proc/mounts; then
		! grep -q "^mount " "$DIR/out"
	else
		grep -qx "mount -t hugetlbfs -o pagesize=$((PAGE_KIB / 1024))M nodev /dev/hugepages" \
			"$DIR/out"
	fi
}
check "... with a hugetlbfs mount exactly when none is mounted" plans_mount_unless_mounted
plans_force() {
	setup -n -f 0000:5e:00.0 fpk3 0000:00:04.0
	[ "$RC" -eq 0 ] &&
		out_has "$DEVBIND --force --bind=vfio-pci 0000:5e:00.0 0000:5e:00.2 0000:00:04.0" &&
		[ "$(grep -c "taken anyway (--force)" "$DIR/err")" -eq 3 ]
}
check "--force takes the refused ports, says so for each, and passes --force on" plans_force
plans_1g() {
	setup -n --hugepages 3G --page-size 1G
	[ "$RC" -eq 0 ] &&
		out_has "echo 3 > $F/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages" &&
		[ "$(nr_of 1048576)" -eq 0 ]
}
check "--page-size 1G: 3G is three 1 GiB pages" plans_1g
echo 40 >"$F/kernel/mm/hugepages/hugepages-${PAGE_KIB}kB/nr_hugepages"
never_lowers() {
	setup -n --hugepages 2M
	[ "$RC" -eq 0 ] && ! grep -q "nr_hugepages" "$DIR/out" &&
		grep -qF "40 huge pages of $PAGE_KIB KiB are reserved already" "$DIR/err"
}
check "huge pages already reserved are left as they are, never lowered" never_lowers
echo 0 >"$F/kernel/mm/hugepages/hugepages-${PAGE_KIB}kB/nr_hugepages"
plans_persist() {
	local before after
	before=$(cat /etc/dpdk/dpdk.conf /etc/dpdk/interfaces | cksum)
	setup -n -p --hugepages 64M fpk1
	after=$(cat /etc/dpdk/dpdk.conf /etc/dpdk/interfaces | cksum)
	[ "$RC" -eq 0 ] && [ "$before" = "$after" ] &&
		out_has "echo 'NR_$((PAGE_KIB / 1024))M_PAGES=$(((65536 + PAGE_KIB - 1) / PAGE_KIB))' >> /etc/dpdk/dpdk.conf" &&
		out_has "echo 'pci 0000:5e:00.1 vfio-pci' >> /etc/dpdk/interfaces"
}
if [ -f /etc/dpdk/dpdk.conf ] && [ -f /etc/dpdk/interfaces ]; then
	check "--persist plans the entries in /etc/dpdk for dpdk.service, and changes nothing" plans_persist
else
	check "--persist without Debian's dpdk package is refused" \
		refused "which come with Debian's dpdk package" -n -p fpk1
fi

# --- a real run, confined --------------------------------------------------------
# In a private mount namespace, so the hugetlbfs it mounts goes with it; the
# pages it reserves are the fake tree's.
real_run_reserves_and_mounts() {
	[ -d /dev/hugepages ] || { echo "  no /dev/hugepages here; not tried"; return 0; }
	unshare -m --propagation private sh -c '
		umount -q /dev/hugepages 2>/dev/null
		FULCRUM_SETUP_SYSFS=$1 sh "$2" --hugepages 64M >"$3/out" 2>"$3/err" || exit 1
		grep -q "^nodev /dev/hugepages hugetlbfs .*pagesize=$4M" /proc/mounts' \
		sh "$F" "$SETUP" "$DIR" "$((PAGE_KIB / 1024))"
	RC=$?
	sed 's/^/  | /' "$DIR/out" "$DIR/err"
	[ "$RC" -eq 0 ] && [ "$(nr_of "$PAGE_KIB")" -eq $(((65536 + PAGE_KIB - 1) / PAGE_KIB)) ] &&
		grep -q "^mount -t hugetlbfs" "$DIR/out"
}
check "a real run reserves the pages and mounts a hugetlbfs (in a private mount namespace)" \
	real_run_reserves_and_mounts
not_mounted_outside() {
	[ "$(grep -c " hugetlbfs " /proc/mounts)" -eq "$HUGETLBFS_MOUNTS" ]
}
check "... which the machine's own mounts never see" not_mounted_outside

e2e_summary
