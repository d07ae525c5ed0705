#!/bin/busybox sh
# SPDX-License-Identifier: BSD-3-Clause
#
# /init of the virtual machine tests/bpf/test_kernel_61.sh boots (busybox):
# mounts what the checks need, loads the veth driver from the kernel's own
# package, builds the veth pair tests/bpf/kernel_guest.c expects (the
# addresses test_bpf_balancer uses, so the fixtures' MACs and tunnel
# addresses hold), runs it and powers off. Everything it prints goes to the
# second serial port, which the host script reads; the first carries the
# kernel's own messages.

/bin/busybox mkdir -p /bin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin
# iproute2's, not busybox's (which its shell runs whatever PATH says): the
# set-up needs veth pairs and permanent neighbours.
ip=/usr/sbin/ip
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf

# Raw: no \r added to each line. stty sets the mode with TCSADRAIN, which
# the last call relies on to get every byte out before the power goes.
stty -F /dev/ttyS1 raw -echo
exec >/dev/ttyS1 2>&1

echo "@@ guest $(uname -r) $(nproc) CPUs"

setup() {
	insmod /fulcrum/veth.ko &&
		$ip link set lo up &&
		$ip link add xb0 address 02:00:00:00:00:03 type veth peer name xb1 \
			address 02:00:00:00:00:04 &&
		$ip link set xb0 up && $ip link set xb1 up &&
		$ip addr add 10.0.0.2/24 dev xb0 && $ip route add 10.1.0.0/16 dev xb0 &&
		$ip -6 addr add fd00::2/64 dev xb0 nodad && $ip -6 route add fd00:1::/64 dev xb0 &&
		for i in $(seq 11 20); do
			$ip neigh add 10.1.0.$i lladdr 02:00:00:00:00:04 dev xb0 nud permanent &&
				$ip -6 neigh add fd00:1::$i lladdr 02:00:00:00:00:04 dev xb0 \
					nud permanent || return 1
		done &&
		sysctl -qw net.ipv4.conf.all.forwarding=1 &&
		sysctl -qw net.ipv6.conf.all.forwarding=1
}

if setup; then
	/fulcrum/kernel_guest /fulcrum/fulcrum-decap /fulcrum/bpf/*.bpf.o
	echo "@@ end $?"
else
	echo "FAIL - the guest's veth pair, addresses, routes and neighbours (output above)"
	echo "@@ end 1"
fi
stty -F /dev/ttyS1 raw
poweroff -f
