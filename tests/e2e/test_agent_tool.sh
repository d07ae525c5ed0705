#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# fulcrum-agent, the reference agent of a GPU node, over real TCP on
# loopback: file mode reports the file's first line and follows a rewrite;
# command mode reports the command's output; a missing file, an invalid
# line, a failing command and a command hanging past its timeout each give
# a connection closed without a line plus one log line, and the agent keeps
# serving; slow clients and clients that talk first do not stall it;
# SIGTERM ends it cleanly, even during a command.
#
# Needs no root and no namespaces, so it does not source lib.sh (which skips
# without root), only report.sh, as every e2e script does.
set -u

BUILD=${BUILD:-build}
AGENT=$BUILD/fulcrum-agent
PY=/usr/bin/python3
DIR=$(mktemp -d /tmp/fulcrum-agent-e2e.XXXXXX)
. "$(dirname "$0")/report.sh"
AGENT_PIDS=""

cleanup() {
	local pid
	for pid in $AGENT_PIDS; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
	$PY -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts fulcrum-agent with the given arguments, its stderr in $DIR/$1.log;
# sets STARTED_PID. $1 names the instance.
agent_start() {
	local name=$1
	shift
	"$AGENT" "$@" 2>"$DIR/$name.log" &
	STARTED_PID=$!
	AGENT_PIDS="$AGENT_PIDS $STARTED_PID"
	wait_for 5 grep -q "listening on" "$DIR/$name.log"
}

# Connects to HOST PORT, optionally sends bytes first (like HAProxy's
# agent-send), reads until the agent closes, and exits 0 when what arrived is
# exactly EXPECTED (a closed connection with nothing for ""), within MAX_MS.
# Usage: reply_is HOST PORT EXPECTED [MAX_MS [SEND]]
reply_is() {
	$PY - "$@" <<'EOF'
import socket, sys, time
host, port, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
max_ms = int(sys.argv[4]) if len(sys.argv) > 4 else 3000
send = sys.argv[5].encode() if len(sys.argv) > 5 else b""
start = time.monotonic()
s = socket.create_connection((host, port), timeout=10)
if send:
    s.sendall(send)
data = b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
except OSError as e:
    print("  %r after %r" % (e, data))
    sys.exit(1)
ms = (time.monotonic() - start) * 1000
print("  got %r, closed, in %.0f ms" % (data, ms))
sys.exit(0 if data == expected and ms <= max_ms else 1)
EOF
}

# Exit 0 when log $1 has exactly $3 lines containing $2.
log_count_is() {
	local n
	n=$(grep -cF -- "$2" "$DIR/$1.log")
	echo "  $n line(s) with \"$2\" in $1.log"
	[ "$n" -eq "$3" ]
}

# Replaces file $1 with the bytes $2, atomically, as an operator would.
write_atomically() {
	printf '%s' "$2" >"$1.tmp" && mv "$1.tmp" "$1"
}

echo "[==========] e2e: fulcrum-agent (file and command modes, failures, shutdown)"
[ -x "$AGENT" ] || {
	echo "$AGENT is missing (make $AGENT)"
	echo "[  FAILED  ] 1 test(s)."
	exit 1
}

# --- usage ------------------------------------------------------------------
usage_exits_2() {
	local args
	for args in "" "-p 0 -f x" "-p 70000 -f x" "-p 1 -f x -c y" "-p 1" "-p 1 -f x -t 10" \
		"-p 1 -c y -t 0" "-l nowhere -p 1 -f x" "-p 1 -f x extra" "-q"; do
		# shellcheck disable=SC2086
		"$AGENT" $args >/dev/null 2>&1
		[ $? -eq 2 ] || { echo "  \"$args\" did not exit 2"; return 1; }
	done
	"$AGENT" -h | grep -q "^usage: fulcrum-agent"
}
check "usage errors exit 2, each with a message; -h prints the usage" usage_exits_2

# --- file mode --------------------------------------------------------------
REPORT=$DIR/report
write_atomically "$REPORT" $'up 60%\n'
FP=$(free_port)
agent_start file -l 127.0.0.1 -p "$FP" -f "$REPORT"
FILE_PID=$STARTED_PID
check "file mode: the agent is listening" kill -0 "$FILE_PID"
check "file mode: reports the file's line" reply_is 127.0.0.1 "$FP" $'up 60%\n'
write_atomically "$REPORT" $'drain 0% # maintenance window\n'
check "file mode: follows an atomic rewrite, reason and all" \
	reply_is 127.0.0.1 "$FP" $'drain 0% # maintenance window\n'
write_atomically "$REPORT" $'WEIGHT:40\r\nsecond line is not read\n'
check "file mode: only the first line, CRLF ending replaced by LF" \
	reply_is 127.0.0.1 "$FP" $'WEIGHT:40\n'
write_atomically "$REPORT" 'maint'
check "file mode: a last line without its newline counts" reply_is 127.0.0.1 "$FP" $'maint\n'

write_atomically "$REPORT" $'upp 60%\n'
check "file mode: an invalid line gives a closed connection with no line" \
	reply_is 127.0.0.1 "$FP" ""
check "file mode: the invalid line is logged, naming the bad word" \
	log_count_is file "report: \"upp\" is not an agent word" 1
write_atomically "$REPORT" $'up up down\n'
check "file mode: contradicting words give no line" reply_is 127.0.0.1 "$FP" ""
check "file mode: ... logged as a contradiction" log_count_is file '"down" contradicts "up"' 1
printf 'up 1%s\n' "$(head -c 600 /dev/zero | tr '\0' '0')" >"$REPORT"
check "file mode: a first line over 512 bytes gives no line" reply_is 127.0.0.1 "$FP" ""
check "file mode: ... logged as too long" log_count_is file "first line is longer than 512" 1

write_atomically "$REPORT" $'ready 80%\n'
check "file mode: serves again once the line is valid" reply_is 127.0.0.1 "$FP" $'ready 80%\n'
check "file mode: the recovery is logged once" log_count_is file "reporting again: ready 80%" 1

rm -f "$REPORT"
check "file mode: a missing file gives no line" reply_is 127.0.0.1 "$FP" ""
check "file mode: a missing file again gives no line" reply_is 127.0.0.1 "$FP" ""
check "file mode: the missing file is logged once, not per connection" \
	log_count_is file "cannot open $REPORT: No such file or directory" 1
write_atomically "$REPORT" $'up\n'
check "file mode: serves again once the file is back" reply_is 127.0.0.1 "$FP" $'up\n'

# --- clients ----------------------------------------------------------------
idle_clients_then_reply() {
	$PY - "$FP" <<'EOF' &
import socket, sys, time
# Ten clients that connect and never read nor close, for 3 s.
idle = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(10)]
time.sleep(3)
EOF
	local idle_pid=$!
	sleep 0.5
	reply_is 127.0.0.1 "$FP" $'up\n' 1000
	local rc=$?
	wait "$idle_pid"
	return $rc
}
check "ten clients that never read do not delay the next one" idle_clients_then_reply
check "a client that sends first (HAProxy's agent-send) still gets the line" \
	reply_is 127.0.0.1 "$FP" $'up\n' 3000 $'hello agent\n'

# --- command mode -----------------------------------------------------------
SCRIPT=$DIR/cmd.sh
CP=$(free_port)
printf 'echo "up 75%%"\necho second line\n' >"$SCRIPT"
agent_start cmd -l 127.0.0.1 -p "$CP" -c "sh $SCRIPT" -t 500
CMD_PID=$STARTED_PID
check "command mode: reports the first line of the command's output" \
	reply_is 127.0.0.1 "$CP" $'up 75%\n'
printf 'echo "weight:40 # queue depth 12"\n' >"$SCRIPT"
check "command mode: runs the command afresh for each connection" \
	reply_is 127.0.0.1 "$CP" $'weight:40 # queue depth 12\n'

printf 'echo up; exit 3\n' >"$SCRIPT"
check "command mode: a command that fails gives no line, even with output" \
	reply_is 127.0.0.1 "$CP" ""
check "command mode: ... logged with its exit status" \
	log_count_is cmd "command exited with status 3" 1

printf 'echo fast\n' >"$SCRIPT"
check "command mode: an invalid line gives no line" reply_is 127.0.0.1 "$CP" ""
check "command mode: ... logged, naming the bad word" \
	log_count_is cmd 'command: "fast" is not an agent word' 1

# A sleep only this test runs, to see that the timeout kills it, not just sh.
printf 'sleep 7.3141\necho up\n' >"$SCRIPT"
check "command mode: a command hanging past -t 500 gives no line within 1.5 s" \
	reply_is 127.0.0.1 "$CP" "" 1500
check "command mode: ... logged as a timeout" log_count_is cmd "command timed out after 500 ms" 1
no_sleep_left() { ! pgrep -f "sleep 7.3141" >/dev/null; }
check "command mode: the timeout killed the command's children too" wait_for 2 no_sleep_left

printf 'echo "up 10%%"\n' >"$SCRIPT"
check "command mode: serves again after the failures" reply_is 127.0.0.1 "$CP" $'up 10%\n'

# --- both address families by default ---------------------------------------
DP=$(free_port)
agent_start dual -p "$DP" -f "$REPORT"
DUAL_PID=$STARTED_PID
check "no -l: answers on 127.0.0.1" reply_is 127.0.0.1 "$DP" $'up\n'
if ip -6 addr show dev lo 2>/dev/null | grep -q "inet6 ::1/"; then
	check "no -l: answers on ::1 as well (dual-stack)" reply_is ::1 "$DP" $'up\n'
fi

# --- shutdown ---------------------------------------------------------------
# Exit 0 when process $1 exits with status 0 within 2 s of SIGTERM.
stops_cleanly() {
	local pid=$1 i rc
	kill -TERM "$pid"
	for i in $(seq 20); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "  still running 2 s after SIGTERM"
		kill -KILL "$pid"
		wait "$pid"
		return 1
	fi
	wait "$pid"
	rc=$?
	echo "  exit status $rc"
	[ "$rc" -eq 0 ]
}
check "SIGTERM: the file-mode agent exits 0" stops_cleanly "$FILE_PID"
check "SIGTERM: the dual-stack agent exits 0" stops_cleanly "$DUAL_PID"
check "SIGTERM: the command-mode agent exits 0" stops_cleanly "$CMD_PID"

printf 'sleep 7.3141\necho up\n' >"$SCRIPT"
# A fresh agent with a long timeout, stopped while its command runs.
LONG_CP=$(free_port)
agent_start long -l 127.0.0.1 -p "$LONG_CP" -c "sh $SCRIPT" -t 60000
LONG_PID=$STARTED_PID
$PY -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); time.sleep(3)' "$LONG_CP" &
sleep 0.5
check "SIGTERM during a 60 s command: exits 0 within 2 s" stops_cleanly "$LONG_PID"
check "SIGTERM during a command: the command is gone too" wait_for 2 no_sleep_left
wait 2>/dev/null

e2e_summary
