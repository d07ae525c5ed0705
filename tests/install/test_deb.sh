#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The Debian packages: tools/build-deb.sh (make deb) builds fulcrum and
# fulcrum-node with dpkg-buildpackage; lintian finds no error (its warnings
# are shown); dpkg -c lists exactly the expected files; dependencies come
# from the libraries linked (shlibs) and resolve on this Debian machine
# (apt-get --simulate); /etc/fulcrum/fulcrum.conf is a conffile; the
# maintainer scripts never restart lb-dpdk. Then both packages are installed
# with dpkg into an empty root (maintainer scripts included, run against
# that root, in a private mount namespace so that they cannot see this
# machine's systemd): the installed lbd accepts the installed configuration,
# the services are installed disabled, an edited configuration survives a
# reinstall, and a purge takes it away.
#
# Needs root (dpkg --root, unshare); skipped otherwise. About 30 s, most of
# it lintian.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/e2e/report.sh"

echo "[==========] install: the Debian packages (build, lintian, dpkg -c, install into an empty root)"
if [ "$(id -u)" -ne 0 ]; then
	echo "needs root (dpkg --root, mount namespaces); skipped"
	echo "[  PASSED  ] 0 test(s)."
	echo "[  SKIPPED ] 1 test(s)."
	exit 0
fi

DIR=$(mktemp -d /tmp/fulcrum-deb-test.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
trap 'exit 1' INT TERM
OUT=$DIR/out
R=$DIR/root
unset MAKEFLAGS MFLAGS MAKELEVEL

builds() {
	local start=$SECONDS
	sh "$ROOT/tools/build-deb.sh" "$OUT" | sed 's/^/  /'
	[ "${PIPESTATUS[0]}" -eq 0 ] || return 1
	echo "  built in $((SECONDS - start)) s"
	DEB=$(ls "$OUT"/fulcrum_*.deb 2>/dev/null)
	NODE_DEB=$(ls "$OUT"/fulcrum-node_*.deb 2>/dev/null)
	[ -f "$DEB" ] && [ -f "$NODE_DEB" ] && [ -f "$(ls "$OUT"/fulcrum_*.changes)" ]
}
check "dpkg-buildpackage builds fulcrum and fulcrum-node (tools/build-deb.sh)" builds
if [ "$E2E_FAILED" -ne 0 ]; then
	e2e_summary
	exit 1
fi

lintian_no_error() {
	lintian --pedantic -I "$OUT"/fulcrum_*.changes >"$DIR/lintian" 2>&1
	sed 's/^/  /' "$DIR/lintian"
	! grep -q "^E: " "$DIR/lintian" && ! grep -qi "^lintian:.*error\|internal error" "$DIR/lintian"
}
check "lintian: no error (warnings and notes shown above)" lintian_no_error

# The files (not directories) package $1 holds, sorted.
files_of() { dpkg -c "$1" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|' | sort; }
contents_are() {
	local deb=$1
	shift
	files_of "$deb" >"$DIR/have"
	printf '%s\n' "$@" | sort >"$DIR/want"
	sed 's/^/  /' "$DIR/have"
	diff "$DIR/want" "$DIR/have" | sed -n 's/^</  missing:/p; s/^>/  unexpected:/p'
	cmp -s "$DIR/want" "$DIR/have"
}
check "dpkg -c fulcrum: programs, units, config, manuals, completion, nothing else" \
	contents_are "$DEB" /etc/fulcrum/fulcrum.conf /lib/systemd/system/lb-dpdk.service \
	/lib/systemd/system/lbd.service /usr/sbin/fulcrum-setup /usr/sbin/lb-dpdk /usr/sbin/lbctl \
	/usr/sbin/lbd /usr/bin/lbgen /usr/share/bash-completion/completions/lbctl \
	/usr/share/doc/fulcrum/changelog.gz /usr/share/doc/fulcrum/copyright \
	/usr/share/man/man1/lbgen.1.gz \
	/usr/share/man/man5/fulcrum.conf.5.gz /usr/share/man/man8/fulcrum-setup.8.gz \
	/usr/share/man/man8/lb-dpdk.8.gz /usr/share/man/man8/lbctl.8.gz /usr/share/man/man8/lbd.8.gz
check "dpkg -c fulcrum-node: fulcrum-agent, fulcrum-decap and their manuals" \
	contents_are "$NODE_DEB" /usr/bin/fulcrum-agent /usr/sbin/fulcrum-decap \
	/usr/share/doc/fulcrum-node/changelog.gz /usr/share/doc/fulcrum-node/copyright \
	/usr/share/man/man1/fulcrum-agent.1.gz /usr/share/man/man8/fulcrum-decap.8.gz

depends_declared() {
	local dep lib
	dep=$(dpkg-deb -f "$DEB" Depends)
	echo "  fulcrum: Depends: $dep; Recommends: $(dpkg-deb -f "$DEB" Recommends)"
	echo "  fulcrum-node: Depends: $(dpkg-deb -f "$NODE_DEB" Depends)"
	for lib in libconfig9 libjansson4 libmicrohttpd12 libpcap0.8 librte-eal23 librte-ethdev23 \
		iproute2 kmod; do
		echo "$dep" | grep -q "\b$lib\b" || { echo "  fulcrum does not depend on $lib"; return 1; }
	done
	dpkg-deb -f "$DEB" Recommends | grep -q '\bdpdk\b' &&
		dpkg-deb -f "$NODE_DEB" Depends | grep -q '\blibbpf1\b'
}
check "dependencies: the linked libraries (shlibs), iproute2 and kmod; dpdk recommended" \
	depends_declared
resolvable() {
	apt-get install --simulate "$DEB" "$NODE_DEB" >"$DIR/apt" 2>&1
	local rc=$?
	grep -E "^(Inst|E:)" "$DIR/apt" | sed 's/^/  /'
	[ "$rc" -eq 0 ]
}
check "apt-get --simulate installs both packages on this Debian machine" resolvable

dpkg-deb -e "$DEB" "$DIR/control"
conffile() { [ "$(cat "$DIR/control/conffiles")" = /etc/fulcrum/fulcrum.conf ]; }
check "the configuration is a conffile: /etc/fulcrum/fulcrum.conf" conffile
scripts_parse() {
	local s
	for s in postinst prerm postrm; do
		sh -n "$DIR/control/$s" || { echo "  $s does not parse"; return 1; }
	done
}
check "the maintainer scripts parse" scripts_parse
lb_dpdk_never_restarted() {
	# postinst may start lb-dpdk (when enabled and stopped); nothing else
	# touches it but prerm's stop on removal.
	grep -n "lb-dpdk" "$DIR/control/postinst" "$DIR/control/prerm" | grep "invoke" | sed 's/^/  /'
	! grep "deb-systemd-invoke" "$DIR/control/postinst" | grep "lb-dpdk" | grep -vq "start 'lb-dpdk" &&
		! grep -B2 "deb-systemd-invoke stop 'lb-dpdk" "$DIR/control/prerm" | grep -q upgrade &&
		grep -q "\[ \"\$1\" = remove \]" "$DIR/control/prerm"
}
check "an upgrade never restarts nor stops lb-dpdk (prerm stops it only on removal)" \
	lb_dpdk_never_restarted

# --- into an empty root ----------------------------------------------------------------
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers"
: >"$R/var/lib/dpkg/status"
: >"$R/var/lib/dpkg/available"
# dpkg ARGS... on the empty root, maintainer scripts run outside a chroot
# with DPKG_ROOT set, in a mount namespace whose /run is empty (no systemd to
# reload or start anything). Dependencies are this machine's.
rdpkg() {
	unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run && exec "$@"' \
		sh dpkg --root="$R" --log="$R/dpkg.log" --force-depends --force-script-chrootless "$@" \
		>"$DIR/dpkg.out" 2>&1
	local rc=$?
	grep -v "depends on\|is not installed\|dependency problems\|^$" "$DIR/dpkg.out" | sed 's/^/  /'
	return $rc
}
installs() {
	rdpkg -i "$DEB" "$NODE_DEB" &&
		[ "$(dpkg --root="$R" -l fulcrum fulcrum-node | grep -c '^ii ')" -eq 2 ]
}
check "dpkg installs both packages into an empty root (ii)" installs
installed_lbd_checks() {
	"$R/usr/sbin/lbd" -t -c "$R/etc/fulcrum/fulcrum.conf" | sed 's/^/  /'
	[ "${PIPESTATUS[0]}" -eq 0 ]
}
check "the installed lbd -t accepts the installed /etc/fulcrum/fulcrum.conf" installed_lbd_checks
libraries_resolve() {
	local p
	for p in usr/sbin/lbd usr/sbin/lb-dpdk usr/sbin/lbctl usr/bin/lbgen usr/bin/fulcrum-agent \
		usr/sbin/fulcrum-decap; do
		if ldd "$R/$p" | grep "not found"; then
			echo "  $p"
			return 1
		fi
	done
	"$R/usr/sbin/lbctl" help >/dev/null && "$R/usr/sbin/lb-dpdk" -h >/dev/null &&
		"$R/usr/bin/lbgen" --help >/dev/null && "$R/usr/bin/fulcrum-agent" -h >/dev/null
}
check "the installed programs find their libraries and run" libraries_resolve
installed_disabled() {
	ls "$R"/var/lib/systemd/deb-systemd-helper-enabled/ | sed 's/^/  /'
	[ -e "$R/var/lib/systemd/deb-systemd-helper-enabled/lbd.service.dsh-also" ] &&
		[ -z "$(find "$R/etc" -path '*systemd*' -name '*.service' 2>/dev/null)" ]
}
check "the services are registered and installed disabled (no enablement link)" installed_disabled

echo "# edited by the operator" >>"$R/etc/fulcrum/fulcrum.conf"
keeps_edit() {
	rdpkg -i "$DEB" && tail -n 1 "$R/etc/fulcrum/fulcrum.conf" | grep -qx "# edited by the operator"
}
check "reinstalling keeps the operator's edit of the configuration" keeps_edit
remove_keeps_purge_removes() {
	rdpkg -r fulcrum && [ -f "$R/etc/fulcrum/fulcrum.conf" ] && [ ! -e "$R/usr/sbin/lbd" ] &&
		rdpkg -P fulcrum && [ ! -e "$R/etc/fulcrum/fulcrum.conf" ] &&
		[ ! -e "$R/var/lib/systemd/deb-systemd-helper-enabled/lbd.service.dsh-also" ]
}
check "removing keeps the configuration, purging removes it and the units' state" \
	remove_keeps_purge_removes

e2e_summary
