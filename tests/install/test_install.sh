#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# make install and make uninstall: where each file goes for the default
# prefix, for PREFIX=/usr and with sysconfdir given; the units name the
# installed programs and configuration, pass systemd-analyze verify, keep
# lb-dpdk forwarding across lbd's restarts (ordering only, no binding) and
# reload through lbctl; the installed lbd accepts the installed sample
# configuration; the bash completion loads; reinstalling keeps an edited
# configuration, and uninstalling removes everything else.
#
# Everything goes into temporary directories (DESTDIR, or a PREFIX under one
# for systemd-analyze, which needs the programs at the units' paths). Needs
# no root.
set -u

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=$(mktemp -d /tmp/fulcrum-install.XXXXXX)
. "$ROOT/tests/e2e/report.sh"
trap 'rm -rf "$DIR"' EXIT
trap 'exit 1' INT TERM
# The suite may run under make: its jobserver and flags are not for us.
unset MAKEFLAGS MFLAGS MAKELEVEL

echo "[==========] install: make install, make uninstall, the systemd units"

# make -C ROOT with BUILD, the arguments given, output in $DIR/make.log.
mk() {
	make -C "$ROOT" --no-print-directory BUILD="$BUILD" "$@" >"$DIR/make.log" 2>&1
	local rc=$?
	[ "$rc" -eq 0 ] || sed 's/^/  | /' "$DIR/make.log"
	return $rc
}

# Exit 0 when every path given exists under $1 as a regular file of mode $2.
files_are() {
	local root=$1 mode=$2 f rc=0
	shift 2
	for f in "$@"; do
		if [ ! -f "$root$f" ]; then
			echo "  missing: $f"
			rc=1
		elif [ "$(stat -c %a "$root$f")" != "$mode" ]; then
			echo "  $f: mode $(stat -c %a "$root$f"), not $mode"
			rc=1
		fi
	done
	return $rc
}

MAN_FILES="man1/fulcrum-agent.1 man1/lbgen.1 man5/fulcrum.conf.5 man8/fulcrum-decap.8
	man8/fulcrum-setup.8 man8/lb-dpdk.8 man8/lbctl.8 man8/lbd.8"
# Every file an install under prefix $2 (config in $3, units in $4) has in $1.
installed_as_expected() {
	local root=$1 prefix=$2 etc=$3 units=$4 m man=""
	for m in $MAN_FILES; do man="$man $prefix/share/man/$m"; done
	# shellcheck disable=SC2086 # man is a list of paths
	files_are "$root" 755 "$prefix/sbin/lbd" "$prefix/sbin/lb-dpdk" "$prefix/sbin/lbctl" \
		"$prefix/sbin/fulcrum-decap" "$prefix/sbin/fulcrum-setup" "$prefix/bin/fulcrum-agent" \
		"$prefix/bin/lbgen" &&
		files_are "$root" 644 "$etc/fulcrum/fulcrum.conf" "$units/lbd.service" \
			"$units/lb-dpdk.service" "$prefix/share/bash-completion/completions/lbctl" $man &&
		cmp -s "$ROOT/config/fulcrum.conf" "$root$etc/fulcrum/fulcrum.conf" &&
		[ "$(find "$root" -type f | wc -l)" -eq 19 ]
}

# --- the default prefix ------------------------------------------------------------
D=$DIR/default
check "make install DESTDIR=... succeeds" mk install DESTDIR="$D"
check "PREFIX /usr/local: programs in sbin and bin, config in /usr/local/etc, units in /usr/local/lib/systemd/system" \
	installed_as_expected "$D" /usr/local /usr/local/etc /usr/local/lib/systemd/system
units_name() {
	local u=$D/usr/local/lib/systemd/system
	grep -qx "ExecStart=/usr/local/sbin/lbd -c /usr/local/etc/fulcrum/fulcrum.conf" "$u/lbd.service" &&
		grep -qx "ExecReload=/usr/local/sbin/lbctl config reload" "$u/lbd.service" &&
		grep -qx "ExecStart=/usr/local/sbin/lb-dpdk -c /usr/local/etc/fulcrum/fulcrum.conf" \
			"$u/lb-dpdk.service" &&
		! grep -n '@' "$u/lbd.service" "$u/lb-dpdk.service"
}
check "the units run the installed programs on the installed configuration" units_name
installed_lbd_checks_sample() {
	"$D/usr/local/sbin/lbd" -t -c "$D/usr/local/etc/fulcrum/fulcrum.conf" | sed 's/^/  /'
	[ "${PIPESTATUS[0]}" -eq 0 ]
}
check "the installed lbd accepts the installed sample configuration (lbd -t)" installed_lbd_checks_sample
completion_loads() {
	bash -c '. "$1" && complete -p lbctl' sh "$D/usr/local/share/bash-completion/completions/lbctl" |
		grep -qx "complete -F _lbctl lbctl"
}
check "the installed bash completion defines lbctl's completion" completion_loads
man_finds_pages() {
	local page
	for page in lbd lb-dpdk lbctl fulcrum.conf fulcrum-setup lbgen; do
		MANPATH=$D/usr/local/share/man man -w "$page" >/dev/null || { echo "  no $page"; return 1; }
	done
}
check "man finds the installed pages" man_finds_pages

echo "# edited" >>"$D/usr/local/etc/fulcrum/fulcrum.conf"
keeps_edited_config() {
	mk install DESTDIR="$D" && grep -q "kept $D/usr/local/etc/fulcrum/fulcrum.conf" "$DIR/make.log" &&
		tail -n 1 "$D/usr/local/etc/fulcrum/fulcrum.conf" | grep -qx "# edited"
}
check "installing again keeps an edited configuration, and says so" keeps_edited_config
uninstall_keeps_edited_config() {
	mk uninstall DESTDIR="$D" &&
		[ "$(find "$D" -type f)" = "$D/usr/local/etc/fulcrum/fulcrum.conf" ] &&
		grep -q "kept $D/usr/local/etc/fulcrum/fulcrum.conf: it differs" "$DIR/make.log"
}
check "make uninstall removes every installed file but the edited configuration" \
	uninstall_keeps_edited_config

# --- PREFIX=/usr, and sysconfdir given -----------------------------------------------
U=$DIR/usr
check "make install PREFIX=/usr DESTDIR=... succeeds" mk install PREFIX=/usr DESTDIR="$U"
check "PREFIX /usr: config in /etc, units in /lib/systemd/system" \
	installed_as_expected "$U" /usr /etc /lib/systemd/system
uninstall_leaves_nothing() {
	mk uninstall PREFIX=/usr DESTDIR="$U" && [ -z "$(find "$U" -type f)" ] &&
		[ ! -e "$U/etc/fulcrum" ]
}
check "make uninstall with the sample unchanged leaves no file behind" uninstall_leaves_nothing
O=$DIR/opt
check "make install PREFIX=/opt/fulcrum sysconfdir=/etc succeeds" \
	mk install PREFIX=/opt/fulcrum sysconfdir=/etc DESTDIR="$O"
opt_layout() {
	installed_as_expected "$O" /opt/fulcrum /etc /opt/fulcrum/lib/systemd/system &&
		grep -qx "ExecStart=/opt/fulcrum/sbin/lbd -c /etc/fulcrum/fulcrum.conf" \
			"$O/opt/fulcrum/lib/systemd/system/lbd.service"
}
check "sysconfdir=/etc moves the configuration, and the units follow" opt_layout

# --- the units ------------------------------------------------------------------------
# systemd-analyze wants the programs and manuals where the units say: a
# PREFIX inside the temporary directory (no DESTDIR) puts them there.
P=$DIR/prefix
mk install PREFIX="$P" unitdir="$P/units"
UNITS="$P/units/lbd.service $P/units/lb-dpdk.service"
units_verify() {
	# shellcheck disable=SC2086 # UNITS is a list of paths
	MANPATH=$P/share/man systemd-analyze verify $UNITS 2>&1 | sed 's/^/  /'
	[ "${PIPESTATUS[0]}" -eq 0 ] || return 1
	for u in $UNITS; do
		echo "  $(systemd-analyze security --offline=true "$u" 2>/dev/null | tail -n 1)"
	done
}
check "systemd-analyze verify: no error in either unit (nor in their Documentation= pages)" \
	units_verify
# The values of key $2 in unit file $1, one per line.
unit_values() { sed -n "s/^$2=//p" "$1" | tr ' ' '\n' | grep .; }
lbd_only_ordered() {
	local key
	unit_values "$P/units/lbd.service" After | grep -qx lb-dpdk.service || return 1
	for key in Requires Requisite BindsTo PartOf Wants Upholds PropagatesStopTo StopPropagatedFrom; do
		if unit_values "$P/units/lbd.service" "$key" | grep -qx lb-dpdk.service; then
			echo "  lbd.service: $key=lb-dpdk.service"
			return 1
		fi
	done
	for key in PartOf BindsTo Requires; do
		if unit_values "$P/units/lb-dpdk.service" "$key" | grep -qx lbd.service; then
			echo "  lb-dpdk.service: $key=lbd.service"
			return 1
		fi
	done
}
check "lbd.service starts after lb-dpdk.service and is bound to it in no way (lb-dpdk outlives lbd's restarts)" \
	lbd_only_ordered
restarts_on_failure() {
	for u in $UNITS; do
		grep -qx "Restart=on-failure" "$u" || { echo "  $u"; return 1; }
	done
}
check "both units restart on failure" restarts_on_failure
reload_through_lbctl() {
	unit_values "$P/units/lbd.service" ExecReload | head -n 1 | grep -qx "$P/sbin/lbctl"
}
check "systemctl reload lbd runs lbctl config reload, which reports an invalid file" reload_through_lbctl
caps_explained() {
	local u cap rc=0
	for u in $UNITS; do
		for cap in $(unit_values "$u" CapabilityBoundingSet); do
			grep -q "^#   $cap " "$u" || { echo "  $(basename "$u"): $cap unexplained"; rc=1; }
		done
	done
	return $rc
}
check "each capability a unit grants is explained in it" caps_explained

e2e_summary
