#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Floods lbd's control socket with misbehaving clients, for
tests/e2e/test_ctl_flood.sh:

  ctl_flood.py SOCKET COUNT STOP_FILE OUT_FILE

COUNT connections, opened one after the other, in four kinds taken in turn:
  half     writes half a request ("backend li") and nothing more
  long     writes 5000 bytes without a newline (over the 4095-byte limit)
  deaf     writes 20 000 requests ("vip list") and never reads a reply
  slow     writes a request one byte every 2 seconds
A connection lbd turns away (a "busy" line, then the end) is counted as
refused. All stay open until STOP_FILE exists, or lbd closes them. Then
OUT_FILE.ready appears once all are open and each kind has begun; at the
end OUT_FILE gets {"opened", "refused", "closed_by_lbd", "kinds"}: closed_by_lbd
counts connections lbd ended (timeouts, oversized requests) while they were
held.
"""
import json
import os
import resource
import socket
import sys
import time

KINDS = ("half", "long", "deaf", "slow")


def main():
    path, count, stop_file, out_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 256), hard))
    conns, refused = [], 0
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        time.sleep(0.002)
        try:
            first = s.recv(4096)
        except BlockingIOError:
            first = None
        if first is not None and b'"busy"' in first:
            refused += 1
            s.close()
            continue
        try:
            if kind == "half":
                s.send(b"backend li")
            elif kind == "long":
                s.send(b"x" * 5000)
            elif kind == "deaf":
                try:
                    s.send(b"vip list\n" * 20000)
                except BlockingIOError:
                    pass  # lbd stopped reading: what was meant
        except OSError:
            pass
        conns.append({"sock": s, "kind": kind, "open": True, "sent": 0})
    deadline_slow = time.monotonic()
    # Everybody in place (the trickling ones send their first byte in the
    # loop's first pass, right away): say so.
    ready = True
    while not os.path.exists(stop_file):
        now = time.monotonic()
        for c in conns:
            if not c["open"]:
                continue
            try:
                data = c["sock"].recv(65536) if c["kind"] != "deaf" else b"x"
                if data == b"":
                    c["open"] = False
                    continue
            except BlockingIOError:
                pass
            except OSError:
                c["open"] = False
                continue
            if c["kind"] == "slow" and now >= deadline_slow:
                word = b"vip list\n"
                try:
                    c["sock"].send(word[c["sent"] % len(word):][:1])
                    c["sent"] += 1
                except OSError:
                    c["open"] = False
        if now >= deadline_slow:
            deadline_slow = now + 2
        if ready:
            open(out_file + ".ready", "w").close()
            ready = False
        time.sleep(0.2)
    kinds = {}
    for c in conns:
        k = kinds.setdefault(c["kind"], {"opened": 0, "closed_by_lbd": 0})
        k["opened"] += 1
        k["closed_by_lbd"] += not c["open"]
        c["sock"].close()
    with open(out_file + ".tmp", "w") as f:
        json.dump({"opened": len(conns), "refused": refused,
                   "closed_by_lbd": sum(not c["open"] for c in conns), "kinds": kinds}, f)
    os.rename(out_file + ".tmp", out_file)


if __name__ == "__main__":
    main()
