#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The manual pages say what the programs do: every page renders without a
# warning; lbctl(8) lists exactly the commands `lbctl help` prints and the
# options `lbctl -h` prints; every program's manual documents exactly the
# options its usage lists; fulcrum.conf(5) documents exactly the keys
# controlplane/conf.c accepts, and its example is a valid configuration.
#
# Needs no root. Pages are rendered as an operator sees them, through groff,
# 300 columns wide so that no line wraps.
set -u

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MAN=$ROOT/tools/man
DIR=$(mktemp -d /tmp/fulcrum-man.XXXXXX)
. "$ROOT/tests/e2e/report.sh"
trap 'rm -rf "$DIR"' EXIT
trap 'exit 1' INT TERM

echo "[==========] install: manual pages agree with the programs"

# Renders page $1 as plain text.
render() {
	groff -mandoc -Tascii -rLL=300n "$1" 2>/dev/null | col -bx
}

# The lines of rendered section $2 of page $1 (up to the next section).
section() {
	render "$1" | awk -v s="$2" '$0 == s { on = 1; next } on && /^[A-Z]/ { exit } on'
}

# Exit 0 when the sorted word lists in files $1 and $2 are equal; prints the
# difference, naming $3 and $4 as where each side comes from.
same_lists() {
	local only1 only2
	only1=$(comm -23 "$1" "$2")
	only2=$(comm -13 "$1" "$2")
	[ -z "$only1" ] || printf '  only in %s:\n%s\n' "$3" "$(echo "$only1" | sed 's/^/    /')"
	[ -z "$only2" ] || printf '  only in %s:\n%s\n' "$4" "$(echo "$only2" | sed 's/^/    /')"
	[ -z "$only1$only2" ]
}

# --- every page renders cleanly ----------------------------------------------
renders_cleanly() {
	local out
	out=$(groff -mandoc -ww -z "$1" 2>&1)
	[ -z "$out" ] || echo "$out" | sed 's/^/  /'
	[ -z "$out" ] && render "$1" | grep -q '^NAME'
}
for page in "$MAN"/*.[158]; do
	check "$(basename "$page") renders without a groff warning" renders_cleanly "$page"
done

# --- lbctl help <-> lbctl(8) --------------------------------------------------
"$BUILD/lbctl" help | grep -v '^ ' | sed 's/  (at least one option)$//' | sort >"$DIR/help"
section "$MAN/lbctl.8" COMMANDS | grep -E '^     [^ ]' | sed 's/^ *//; s/ *$//' |
	sort >"$DIR/man"
lbctl_commands_agree() {
	echo "  $(wc -l <"$DIR/help") commands in lbctl help, $(wc -l <"$DIR/man") in lbctl(8)"
	[ -s "$DIR/help" ] && same_lists "$DIR/help" "$DIR/man" "lbctl help" "lbctl(8) COMMANDS"
}
check "every command lbctl help prints is in lbctl(8), with the same arguments, and the other way round" \
	lbctl_commands_agree

# The options a program's usage lists: the dashed words before the
# explanation of each line that starts with an option.
usage_options() {
	"$@" 2>&1 | grep -E '^ +-' | sed -E 's/^ +//; s/  .*//' |
		grep -oE '(^|[ ,])--?[A-Za-z][A-Za-z-]*' | tr -d ' ,' | sort -u
}

# The options page $1 documents: the Fl words of its OPTIONS items.
man_options() {
	awk '/^\.Sh / { on = ($0 == ".Sh OPTIONS") } on && /^\.It Fl /' "$1" |
		awk '{ for (i = 2; i < NF; i++) if ($i == "Fl") print "-" $(i + 1) }' |
		sed 's/\\-/-/g' | sort -u
}

options_agree() {
	local page=$1
	shift
	usage_options "$@" >"$DIR/usage-opts"
	man_options "$page" >"$DIR/man-opts"
	echo "  $(tr '\n' ' ' <"$DIR/usage-opts")"
	[ -s "$DIR/usage-opts" ] &&
		same_lists "$DIR/usage-opts" "$DIR/man-opts" "the usage" "$(basename "$page") OPTIONS"
}
check "lbctl(8) documents exactly the options lbctl -h lists" \
	options_agree "$MAN/lbctl.8" "$BUILD/lbctl" -h
check "lbd(8) documents exactly the options lbd -h lists" \
	options_agree "$MAN/lbd.8" "$BUILD/lbd" -h
check "lb-dpdk(8) documents exactly the options lb-dpdk -h lists" \
	options_agree "$MAN/lb-dpdk.8" "$BUILD/lb-dpdk" -h
check "fulcrum-agent(1) documents exactly the options fulcrum-agent -h lists" \
	options_agree "$MAN/fulcrum-agent.1" "$BUILD/fulcrum-agent" -h
check "fulcrum-decap(8) documents exactly the options its usage lists" \
	options_agree "$MAN/fulcrum-decap.8" "$BUILD/fulcrum-decap"
check "fulcrum-setup(8) documents exactly the options fulcrum-setup -h lists" \
	options_agree "$MAN/fulcrum-setup.8" sh "$ROOT/tools/fulcrum-setup" -h
check "lbgen(1) documents exactly the options lbgen --help lists" \
	options_agree "$MAN/lbgen.1" "$BUILD/lbgen" --help

# --- fulcrum.conf(5) <-> controlplane/conf.c -------------------------------------
# The keys conf.c accepts: the strings of its keys[] arrays, every group's
# list of known keys (top_keys, the four top-level groups, aside).
awk '/(^|[ *])keys\[\] = \{|conf_health_keys\[\] = \{/ { on = 1 } on { print } on && /\};/ { on = 0 }' \
	"$ROOT/controlplane/conf.c" | grep -oE '"[a-z0-9_]+"' | tr -d '"' | sort -u >"$DIR/conf-keys"
awk '/top_keys\[\] = \{/ { on = 1 } on { print } on && /;/ { on = 0 }' "$ROOT/controlplane/conf.c" |
	grep -oE '"[a-z0-9_]+"' | tr -d '"' | sort -u >"$DIR/top-keys"
sed -n 's/^\.It Va \([a-z0-9_]*\).*/\1/p' "$MAN/fulcrum.conf.5" | sort -u >"$DIR/man-keys"
conf_keys_agree() {
	echo "  $(wc -l <"$DIR/conf-keys") keys in conf.c, $(wc -l <"$DIR/man-keys") in fulcrum.conf(5)"
	[ "$(wc -l <"$DIR/conf-keys")" -gt 40 ] &&
		same_lists "$DIR/conf-keys" "$DIR/man-keys" "controlplane/conf.c" "fulcrum.conf(5)"
}
check "fulcrum.conf(5) documents every key conf.c accepts, and no other" conf_keys_agree
top_groups_named() {
	local g rc=0
	for g in $(cat "$DIR/top-keys"); do
		grep -q "^\.Va $g" "$MAN/fulcrum.conf.5" || { echo "  $g is not named"; rc=1; }
	done
	[ -s "$DIR/top-keys" ] && return $rc
}
check "fulcrum.conf(5) names the top-level groups" top_groups_named

awk '/^\.Sh EXAMPLES/ { ex = 1 } ex && /^\.Ed/ { exit } ex && on { print } ex && /^\.Bd -literal/ { on = 1 }' \
	"$MAN/fulcrum.conf.5" >"$DIR/example.conf"
example_is_valid() {
	"$BUILD/lbd" -t -c "$DIR/example.conf" | sed 's/^/  /'
	[ "${PIPESTATUS[0]}" -eq 0 ]
}
check "the example in fulcrum.conf(5) is a valid configuration (lbd -t)" example_is_valid

e2e_summary
