# SPDX-License-Identifier: BSD-3-Clause
#
# What every end-to-end script shares, sourced (needs bash): check prints one
# "ok - ..." / "FAIL - ..." line per check, e2e_summary ends the script with
# the summary lines tests/run-suites.sh counts (cmocka's format), wait_for
# polls a command.

E2E_PASSED=0
E2E_FAILED=0

check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok - $what"
		E2E_PASSED=$((E2E_PASSED + 1))
	else
		echo "FAIL - $what"
		E2E_FAILED=$((E2E_FAILED + 1))
	fi
}

e2e_summary() {
	echo "[==========] $((E2E_PASSED + E2E_FAILED)) test(s) run."
	echo "[  PASSED  ] $E2E_PASSED test(s)."
	[ "$E2E_FAILED" -eq 0 ] || echo "[  FAILED  ] $E2E_FAILED test(s), listed above."
	[ "$E2E_FAILED" -eq 0 ]
}

# Waits up to $1 seconds for the command to succeed.
wait_for() {
	local limit=$1 i=0
	shift
	while ! "$@" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -ge $((limit * 10)) ] && return 1
		sleep 0.1
	done
}
