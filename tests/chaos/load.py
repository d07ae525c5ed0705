#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The chaos suite's steady load, run in the client's namespace.

  load.py ADDR PORT OUT_FILE STOP_FILE [options]

Two kinds of TCP connection to ADDR:PORT (a VIP served by tests/e2e/peer.py
on every backend, which greets each connection with its backend's name and
echoes each line prefixed with that name), until STOP_FILE exists:

  long   --streams N connections at all times. Each lives a random
         --life MIN MAX seconds, sending a line every 0.2 s and checking the
         answer (same backend, same line); when it ends, cleanly or broken,
         another takes its place.
  short  about --rate R connections a second from --threads T threads: each
         connects, reads the greeting, sends one line, reads the answer and
         closes.

Connects and reads wait --timeout seconds (long enough that a SYN or a
segment lost while lb-dpdk restarts is retransmitted by TCP and answered).
Every connection becomes one JSON line in OUT_FILE (written when all have
ended): kind, open and end times (ms since the epoch), the backend that
greeted it (null if none did), outcome ("completed", "broken" after the
greeting, "failed" before it), the step that failed and the error, and for
long ones the pings answered and the time of the last answered one.
While running, a line of totals is printed every --report seconds.
"""
import argparse
import json
import os
import random
import socket
import threading
import time


def now_ms():
    return int(time.time() * 1000)


def read_line(sock, buf):
    """One line from sock (bytes left over kept in buf[0]); raises on EOF."""
    while b"\n" not in buf[0]:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("closed by peer")
        buf[0] += data
    line, buf[0] = buf[0].split(b"\n", 1)
    return line.decode(errors="replace")


class Load:
    def __init__(self, args):
        self.args = args
        self.records = []
        self.lock = threading.Lock()
        self.seq = 0

    def stopped(self):
        return os.path.exists(self.args.stop)

    def add(self, record):
        with self.lock:
            self.records.append(record)

    def open_conn(self, record):
        """Connects and reads the greeting; sets record's backend. Returns
        (socket, buffer) or None with the record failed."""
        a = self.args
        s = None
        record["step"] = "connect"
        try:
            s = socket.create_connection((a.addr, a.port), timeout=a.timeout)
            record["port"] = s.getsockname()[1]
            record["step"] = "greeting"
            buf = [b""]
            record["backend"] = read_line(s, buf)
            record["step"] = None
            return s, buf
        except (OSError, ValueError) as e:
            record["outcome"] = "failed"
            record["error"] = str(e) or type(e).__name__
            record["end_ms"] = now_ms()
            if s:
                s.close()
            return None

    def exchange(self, s, buf, record, line):
        """Sends line, checks the answer is the greeting backend's echo."""
        s.sendall(line.encode() + b"\n")
        reply = read_line(s, buf)
        want = "%s %s" % (record["backend"], line)
        if reply != want:
            raise ValueError("answer %r, expected %r" % (reply, want))

    def long_one(self, rng):
        a = self.args
        record = {"kind": "long", "open_ms": now_ms(), "backend": None, "pings": 0}
        life_s = rng.uniform(a.life[0], a.life[1])
        conn = self.open_conn(record)
        if conn is None:
            self.add(record)
            return
        s, buf = conn
        record["step"] = "ping"
        record["last_ok_ms"] = now_ms()
        try:
            while not self.stopped() and time.time() * 1000 < record["open_ms"] + life_s * 1000:
                self.exchange(s, buf, record, "ping %d" % (record["pings"] + 1))
                record["pings"] += 1
                record["last_ok_ms"] = now_ms()
                time.sleep(0.2)
            record["outcome"] = "completed"
            record["step"] = None
        except (OSError, ValueError) as e:
            record["outcome"] = "broken"
            record["error"] = str(e) or type(e).__name__
        finally:
            s.close()
            record["end_ms"] = now_ms()
            self.add(record)

    def long_slot(self, slot):
        rng = random.Random(self.args.seed * 1000 + slot)
        while not self.stopped():
            self.long_one(rng)
            time.sleep(0.2)

    def short_one(self, n):
        record = {"kind": "short", "open_ms": now_ms(), "backend": None}
        conn = self.open_conn(record)
        if conn is None:
            self.add(record)
            return
        s, buf = conn
        record["step"] = "request"
        try:
            self.exchange(s, buf, record, "request %d" % n)
            record["outcome"] = "completed"
            record["step"] = None
        except (OSError, ValueError) as e:
            record["outcome"] = "broken"
            record["error"] = str(e) or type(e).__name__
        finally:
            s.close()
            record["end_ms"] = now_ms()
            self.add(record)

    def short_thread(self, t):
        a = self.args
        period = a.threads / a.rate
        next_at = time.time() + t * period / a.threads
        while not self.stopped():
            delay = next_at - time.time()
            if delay > 0:
                time.sleep(delay)
            # After a long wait (a connect riding out a restart) start again
            # from now rather than making up for the lost time in a burst.
            next_at = max(next_at + period, time.time())
            with self.lock:
                self.seq += 1
                n = self.seq
            self.short_one(n)

    def report(self):
        while not self.stopped():
            time.sleep(self.args.report)
            with self.lock:
                recs = list(self.records)
            parts = []
            for kind in ("long", "short"):
                r = [x for x in recs if x["kind"] == kind]
                parts.append("%s: %d ended (%d completed, %d broken, %d failed to open)" % (
                    kind, len(r), sum(x["outcome"] == "completed" for x in r),
                    sum(x["outcome"] == "broken" for x in r),
                    sum(x["outcome"] == "failed" for x in r)))
            print("  load: " + "; ".join(parts), flush=True)

    def run(self):
        a = self.args
        threads = []
        for slot in range(a.streams):
            threads.append(threading.Thread(target=self.long_slot, args=(slot,)))
            threads[-1].start()
            time.sleep(0.02)  # no SYN burst
        for t in range(a.threads):
            threads.append(threading.Thread(target=self.short_thread, args=(t,)))
            threads[-1].start()
        if a.report:
            threading.Thread(target=self.report, daemon=True).start()
        for t in threads:
            t.join()
        with open(a.out + ".tmp", "w") as f:
            for r in self.records:
                f.write(json.dumps(r) + "\n")
        os.rename(a.out + ".tmp", a.out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("out")
    p.add_argument("stop")
    p.add_argument("--streams", type=int, default=60)
    p.add_argument("--life", type=float, nargs=2, default=(5.0, 40.0))
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--report", type=float, default=0)
    Load(p.parse_args()).run()


if __name__ == "__main__":
    main()
