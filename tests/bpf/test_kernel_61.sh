#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Fulcrum's BPF programs on Debian 12's own kernel (6.1), whatever kernel
# this machine runs. Fetches the kernel package apt names for
# linux-image-amd64 (apt-get download, kept under $BUILD/kernels and reused),
# boots it under qemu (KVM when it works, TCG otherwise) with an initramfs
# of busybox, iproute2's ip, the BPF objects, fulcrum-decap and
# tests/bpf/kernel_guest, and counts the "ok" / "FAIL" lines the guest
# writes to its second serial port: every program verified and loaded (the
# verifier's log tail when not), the balancer through lbd's loader with
# lbd's map sizes, the fixtures run through it, attached to a veth with
# fulcrum-decap on the peer. No archive and nothing cached, or no qemu:
# SKIPPED, with the reason.
#
#   tests/bpf/test_kernel_61.sh     after make (BUILD=dir for another build)
#   KERNEL_DEB=FILE.deb             boot that kernel package instead
#   QEMU_ACCEL=tcg | kvm            only that accelerator
#
# The console of the last run stays in $BUILD/kernels/last/.
set -u

BUILD=${BUILD:-build}
CACHE=$BUILD/kernels
KERNEL_META=linux-image-amd64
# Whole guest run under TCG (about 40 s here); KVM must reach /init sooner.
GUEST_TIMEOUT_S=${GUEST_TIMEOUT_S:-150}
KVM_BOOT_TIMEOUT_S=20
HERE=$(dirname "$0")
START_S=$(date +%s)

summary() {
	echo "[==========] $(($1 + $2)) test(s) run."
	echo "[  PASSED  ] $1 test(s)."
	[ "$2" -eq 0 ] || echo "[  FAILED  ] $2 test(s), listed above."
	[ "$2" -eq 0 ]
}

skip() {
	echo "kernel 6.1: skipped: $*"
	echo "[==========] 0 test(s) run."
	echo "[  PASSED  ] 0 test(s)."
	echo "[  SKIPPED ] 1 test(s)."
	exit 0
}

broken() {
	echo "FAIL - $*"
	summary 0 1
	exit 1
}

for tool in qemu-system-x86_64 busybox cpio dpkg-deb ip; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (make deps installs it)"
done
[ "$(uname -m)" = x86_64 ] || skip "the guest is an x86_64 machine; this host is $(uname -m)"
for f in "$BUILD/guest/kernel_guest" "$BUILD/fulcrum-decap" "$BUILD/bpf/balancer.bpf.o" \
	"$BUILD/bpf/decap.bpf.o"; do
	[ -e "$f" ] || broken "$f is missing: run make first"
done
mkdir -p "$CACHE" || broken "cannot create $CACHE"

# ---- the kernel package: apt's current one for linux-image-amd64, cached ----

# Sets DEB to the package to boot, or leaves it empty with the reason in
# $why.
find_kernel_deb() {
	local pkg version file out
	if [ -n "${KERNEL_DEB:-}" ]; then
		[ -r "$KERNEL_DEB" ] || { why="KERNEL_DEB=$KERNEL_DEB is not readable"; return; }
		DEB=$KERNEL_DEB
		return
	fi
	pkg=$(apt-cache depends "$KERNEL_META" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1)
	version=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
	if [ -z "$pkg" ] || [ -z "$version" ] || [ "$version" = "(none)" ]; then
		why="apt knows no $KERNEL_META (no Debian archive configured?)"
	elif [ "${version#6.1.}" = "$version" ]; then
		why="apt's $KERNEL_META is $pkg $version, not Debian 12's 6.1 (KERNEL_DEB=FILE boots another package)"
	else
		file=$CACHE/${pkg}_${version}_amd64.deb
		if [ -s "$file" ]; then
			DEB=$file
			return
		fi
		echo "fetching $pkg $version with apt-get download"
		if out=$(cd "$CACHE" && apt-get download -q "$pkg=$version" 2>&1) && [ -s "$file" ]; then
			# One kernel kept: the older ones and what was unpacked from them go.
			find "$CACHE" -maxdepth 1 -name 'linux-image-*' ! -name "$(basename "$file")" \
				-exec rm -rf {} +
			DEB=$file
			return
		fi
		why="apt-get download $pkg=$version failed: $(echo "$out" | grep -v '^W:' | tail -n 1)"
	fi
	# Offline: a 6.1 package fetched before still proves the point.
	file=$(ls -t "$CACHE"/linux-image-6.1.*_amd64.deb 2>/dev/null | head -n 1)
	if [ -n "$file" ]; then
		echo "$why; using the cached $(basename "$file")"
		why=""
		DEB=$file
	fi
}

why=""
DEB=""
find_kernel_deb
[ -n "$DEB" ] || skip "$why"
KPKG=$(dpkg-deb -f "$DEB" Package 2>/dev/null) || broken "$DEB is no Debian package"
KVERSION=$(dpkg-deb -f "$DEB" Version)

# vmlinuz and the veth driver, unpacked once per package.
UNPACKED=$CACHE/$(basename "$DEB" .deb)
if [ ! -d "$UNPACKED" ]; then
	rm -rf "$UNPACKED.tmp" && mkdir -p "$UNPACKED.tmp" &&
		dpkg-deb --fsys-tarfile "$DEB" |
		tar -x -C "$UNPACKED.tmp" --wildcards './boot/vmlinuz-*' \
			'./lib/modules/*/kernel/drivers/net/veth.ko' &&
		mv "$UNPACKED.tmp" "$UNPACKED" || broken "cannot unpack vmlinuz and veth.ko from $DEB"
fi
VMLINUZ=$(ls "$UNPACKED"/boot/vmlinuz-* 2>/dev/null | head -n 1)
VETH=$(ls "$UNPACKED"/lib/modules/*/kernel/drivers/net/veth.ko 2>/dev/null | head -n 1)
[ -n "$VMLINUZ" ] && [ -n "$VETH" ] || broken "$DEB has no vmlinuz or no veth.ko"
KRELEASE=${VMLINUZ##*/vmlinuz-}

# ---- the initramfs ----

WORK=$(mktemp -d /tmp/fulcrum-k61.XXXXXX)
QEMU_PID=""
cleanup() {
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ROOT=$WORK/root

# Copies a program to $ROOT/dest and the shared libraries it needs to
# their own paths there (nothing more for a static one).
stage() {
	local src=$1 dst=$2 lib
	mkdir -p "$ROOT/$(dirname "$dst")" && cp -L "$src" "$ROOT/$dst" || return 1
	for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$ROOT$lib" ] && continue
		mkdir -p "$ROOT$(dirname "$lib")" && cp -L "$lib" "$ROOT$lib" || return 1
	done
}

{
	stage "$(command -v busybox)" bin/busybox &&
		stage "$(command -v ip)" usr/sbin/ip &&
		stage "$BUILD/guest/kernel_guest" fulcrum/kernel_guest &&
		stage "$BUILD/fulcrum-decap" fulcrum/fulcrum-decap &&
		mkdir -p "$ROOT/fulcrum/bpf" && cp "$BUILD"/bpf/*.bpf.o "$ROOT/fulcrum/bpf/" &&
		cp "$VETH" "$ROOT/fulcrum/veth.ko" &&
		install -m 0755 "$HERE/kernel_guest_init.sh" "$ROOT/init" &&
		(cd "$ROOT" && find . | cpio -o -H newc --quiet) | gzip -1 >"$WORK/initrd.gz"
} || broken "cannot build the initramfs"

echo "kernel: $KPKG $KVERSION ($KRELEASE)"
echo "guest: busybox, ip, kernel_guest, fulcrum-decap, $(cd "$BUILD/bpf" && echo *.bpf.o)"

# ---- the boot ----

# Boots the guest with accelerator $1; returns once it powered off, or
# failed to come up (1, the reason in $why), or ran out of time.
boot() {
	local accel=$1 cpu=max started=$SECONDS
	[ "$accel" = kvm ] && cpu=host
	: >"$WORK/console.log"
	: >"$WORK/results.log"
	qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -smp 2 -m 1024 \
		-nodefaults -no-user-config -display none -no-reboot \
		-kernel "$VMLINUZ" -initrd "$WORK/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet loglevel=4" \
		-serial "file:$WORK/console.log" -serial "file:$WORK/results.log" \
		>"$WORK/qemu-$accel.log" 2>&1 &
	QEMU_PID=$!
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		if [ "$accel" = kvm ] && [ $((SECONDS - started)) -ge "$KVM_BOOT_TIMEOUT_S" ] &&
			! grep -q '^@@ guest' "$WORK/results.log"; then
			why="the guest did not reach /init within $KVM_BOOT_TIMEOUT_S s"
			break
		fi
		if [ $((SECONDS - started)) -ge "$GUEST_TIMEOUT_S" ]; then
			why="the guest did not finish within $GUEST_TIMEOUT_S s"
			break
		fi
		sleep 0.2
	done
	if kill -0 "$QEMU_PID" 2>/dev/null; then
		kill "$QEMU_PID" 2>/dev/null
		wait "$QEMU_PID" 2>/dev/null
		QEMU_PID=""
		grep -q '^@@ guest' "$WORK/results.log" || return 1
		return 0
	fi
	wait "$QEMU_PID" 2>/dev/null
	QEMU_PID=""
	if ! grep -q '^@@ guest' "$WORK/results.log"; then
		why="qemu exited without the guest reaching /init: $(head -n 1 "$WORK/qemu-$accel.log")"
		return 1
	fi
}

accels=${QEMU_ACCEL:-}
if [ -z "$accels" ]; then
	accels=tcg
	[ -r /dev/kvm ] && [ -w /dev/kvm ] && accels="kvm tcg"
fi
accel_used=""
accel_note=""
for accel in $accels; do
	why=""
	# (bash's note about a qemu that aborted goes to the log, not the report)
	if boot "$accel" 2>>"$WORK/qemu-$accel.log"; then
		accel_used=$accel
		break
	fi
	accel_note="$accel_note${accel_note:+; }$accel: $why"
done
mkdir -p "$CACHE/last" && cp "$WORK"/*.log "$CACHE/last/" 2>/dev/null
if [ -z "$accel_used" ]; then
	echo "guest console (tail):"
	tail -n 20 "$WORK/console.log" | tr -d '\r' | sed 's/^/  /'
	broken "the $KRELEASE guest did not start ($accel_note)"
fi
echo "accelerator: ${accel_used^^}${accel_note:+ (not $accel_note)}"

# ---- what the guest said ----

tr -d '\r' <"$WORK/results.log" >"$WORK/results.txt"
read -r _ _ guest_release guest_cpus _ < <(grep -m 1 '^@@ guest' "$WORK/results.txt")
echo "inside the guest: Linux $guest_release, $guest_cpus CPUs"
sed -n '/^@@ guest/,/^@@ end/p' "$WORK/results.txt" | sed -n '/^@@/!p'
passed=$(grep -c '^ok - ' "$WORK/results.txt")
failed=$(grep -c '^FAIL - ' "$WORK/results.txt")
if [ "$guest_release" != "$KRELEASE" ]; then
	echo "FAIL - the guest ran Linux $guest_release, not $KRELEASE"
	failed=$((failed + 1))
fi
end=$(sed -n 's/^@@ end \([0-9]*\)$/\1/p' "$WORK/results.txt")
if [ -z "$end" ]; then
	echo "FAIL - the guest stopped before its checks ended: ${why:-it crashed}"
	echo "guest console (tail):"
	tail -n 20 "$WORK/console.log" | tr -d '\r' | sed 's/^/  /'
	failed=$((failed + 1))
elif [ "$end" -ne 0 ] && [ "$failed" -eq 0 ]; then
	echo "FAIL - kernel_guest exited $end without a failed check (crashed?)"
	failed=$((failed + 1))
fi
echo "kernel $KRELEASE ($KPKG $KVERSION) under ${accel_used^^}: $passed passed, $failed failed" \
	"in $(($(date +%s) - START_S)) s"
summary "$passed" "$failed"
