#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Installs the Debian packages Fulcrum needs to build, test, benchmark and
# package (debhelper, dpkg-dev, lintian; dpdk and kmod for fulcrum-setup;
# groff, col and man for the manual pages; systemd-analyze for the units;
# python3 and gnuplot-nox for the benchmark suite's report and plot, which
# `make check` tests too; libFuzzer's runtime for the fuzz harnesses, which
# clang only recommends and so --no-install-recommends leaves out; qemu,
# busybox and cpio to boot Debian 12's kernel in tests/bpf/test_kernel_61.sh;
# bird2, the BGP daemon of tests/e2e/test_ecmp.sh and config/bird-fulcrum.conf),
# and only those missing: when everything is present it returns at once
# without touching apt, so `make test` stays quick on a machine that has run
# it before.
set -eu

packages="build-essential pkg-config clang libclang-rt-dev llvm libbpf-dev bpftool libelf-dev zlib1g-dev
	libconfig-dev libcmocka-dev libjansson-dev libmicrohttpd-dev libpcap-dev dpdk-dev libdpdk-dev iproute2 ethtool util-linux python3-scapy
	dpdk kmod debhelper dpkg-dev lintian groff-base bsdextrautils man-db systemd
	python3 gnuplot-nox qemu-system-x86 busybox-static cpio bird2"

missing=""
for pkg in $packages; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*"install ok installed") ;;
	*)
		# The kernel test's guest copies whichever busybox there is, with
		# its libraries; the two packages conflict, so a dynamic busybox
		# already there stays.
		if [ "$pkg" = busybox-static ] &&
			dpkg-query -W -f='${Status}' busybox 2>/dev/null | grep -q 'install ok installed'; then
			continue
		fi
		missing="$missing $pkg"
		;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run as root, or: apt-get install -y$missing" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is wanted
apt-get install -y -q --no-install-recommends $missing
