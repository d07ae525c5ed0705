#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The chaos suite's accounting.

  account.py LOAD_FILE EVENTS_FILE VERDICTS_FILE [MONITOR_FILE]

LOAD_FILE: one JSON record per connection (tests/chaos/load.py). EVENTS_FILE:
one JSON line per schedule event (tests/chaos/chaos.sh): t (ms), event,
backend, detail. Prints what was opened, completed and broken, attributes
every broken or failed connection to what happened to its backend, and
writes VERDICTS_FILE, one line "NAME ok|fail" per rule (README, "Chaos
suite"). MONITOR_FILE: lbd's events (`lbctl monitor`); a health verdict
"down" on a backend whose server ran is named beside the violations it
explains (a false DOWN: checks timing out on a starved machine), which stay
violations:

  long_broken, short_broken  a connection that broke after its backend
      greeted it is allowed only if that backend's server was killed, or the
      backend removed, between its opening and its end.
  opens  a connection that failed before any backend greeted it is allowed
      only if its life overlaps a detection window (a server killed, until
      lbd had it out of the table in service) or holds a kill or removal
      (which backend it reached is unknown).
  steady  connections completed in every 10 s of the load.
"""
import json
import sys

# Clock slack between the load's and the schedule's timestamps (both the
# same host's wall clock, read by different processes).
SLACK_MS = 50


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def main():
    records, events = load(sys.argv[1]), load(sys.argv[2])
    t0 = next(e["t"] for e in events if e["event"] == "load")
    t_stop = next((e["t"] for e in events if e["event"] == "stop"), events[-1]["t"])

    def rel(ms):
        return "%.1f s" % ((ms - t0) / 1000.0)

    # What happened to each backend, and the windows.
    hits = {}  # backend -> [(t, "killed"|"removed")]
    detect = []  # (backend, from, to)
    pending = {}
    restarts = []  # ("lb-dpdk"|"lbd", from, to)
    down_since = {}
    for e in events:
        kind, b, t = e["event"], e["backend"], e["t"]
        if kind == "kill":
            hits.setdefault(b, []).append((t, "its server was killed"))
            pending[b] = t
        elif kind == "detected" and b in pending:
            detect.append((b, pending.pop(b), t))
        elif kind == "remove":
            hits.setdefault(b, []).append((t, "it was removed"))
        elif kind in ("lb-stop", "lbd-kill"):
            down_since[kind] = t
        elif kind in ("lb-back", "lbd-back"):
            start = "lb-stop" if kind == "lb-back" else "lbd-kill"
            if start in down_since:
                restarts.append(("lb-dpdk" if kind == "lb-back" else "lbd",
                                 down_since.pop(start), t))
        elif kind == "revive":
            # A kill whose backend was out of the pool has no detection
            # window; a revive closes it anyway.
            pending.pop(b, None)
    for b, t in pending.items():  # never detected: open until the end
        detect.append((b, t, t_stop))
    for kind, t in down_since.items():
        restarts.append(("lb-dpdk" if kind == "lb-stop" else "lbd", t, t_stop))

    # Health verdicts "down" that lbd gave while the backend's server ran.
    false_downs = {}  # backend -> [(t, reason)]
    if len(sys.argv) > 4:
        server = {}  # backend -> [(t, "kill"|"revive")]
        for e in events:
            if e["event"] in ("kill", "revive"):
                server.setdefault(e["backend"], []).append((e["t"], e["event"]))
        for m in load(sys.argv[4]):
            if m.get("event") != "health" or m.get("health") != "down" or m.get("vip") != "web":
                continue
            b, t = m["backend"], m["time_ms"]
            last = [k for ts, k in server.get(b, []) if ts <= t]
            if not last or last[-1] == "revive":
                false_downs.setdefault(b, []).append((t, m.get("reason", "")))

    def overlaps(lo, hi, a, b):
        return lo <= b + SLACK_MS and a <= hi + SLACK_MS

    def context(r):
        """The events that overlapped a connection's life, for the report."""
        out = []
        for what, a, b in restarts:
            if overlaps(r["open_ms"], r["end_ms"], a, b):
                out.append("%s restart %s..%s" % (what, rel(a), rel(b)))
        for b, lst in hits.items():
            for t, why in lst:
                if r["open_ms"] - SLACK_MS <= t <= r["end_ms"] + SLACK_MS:
                    out.append("%s: %s at %s" % (b, why.split(" ", 1)[1], rel(t)))
        for t, why in false_downs.get(r["backend"], []):
            if r["open_ms"] - SLACK_MS <= t <= r["end_ms"] + SLACK_MS:
                out.append("%s: marked down by lbd at %s, its server running (%s)" % (
                    r["backend"], rel(t), why))
        return "; ".join(out) or "no event"

    verdicts = {}
    bad_all = []
    print("chaos: accounting (times from the start of the load)")
    for b, lst in sorted(false_downs.items()):
        for t, why in lst:
            print("  lbd marked %s down at %s while its server ran: %s" % (b, rel(t), why))
    for kind in ("long", "short"):
        rs = [r for r in records if r["kind"] == kind]
        opened = [r for r in rs if r["backend"] is not None]
        completed = [r for r in opened if r["outcome"] == "completed"]
        broken = [r for r in opened if r["outcome"] == "broken"]
        failed = [r for r in rs if r["outcome"] == "failed"]
        causes = {}
        bad = []
        for r in broken:
            why = None
            for t, w in hits.get(r["backend"], []):
                if r["open_ms"] - SLACK_MS <= t <= r["end_ms"] + SLACK_MS:
                    why = w
                    break
            if why:
                causes[why] = causes.get(why, 0) + 1
            else:
                bad.append(r)
        excused, bad_open = 0, []
        for r in failed:
            in_window = any(overlaps(r["open_ms"], r["end_ms"], a, b) for _, a, b in detect)
            hit = any(r["open_ms"] - SLACK_MS <= t <= r["end_ms"] + SLACK_MS
                      for lst in hits.values() for t, _ in lst)
            if in_window or hit:
                excused += 1
            else:
                bad_open.append(r)
        print("  %s: %d tried, %d opened (a backend greeted them), %d completed, %d broken "
              "(%s; %d with their backend healthy), %d failed to open (%d in a detection "
              "window, %d outside)" % (
                  "long-lived" if kind == "long" else "short", len(rs), len(opened),
                  len(completed), len(broken),
                  ", ".join("%d as %s" % (n, w) for w, n in sorted(causes.items())) or "none explained",
                  len(bad), len(failed), excused, len(bad_open)))
        if kind == "long":
            pings = [r["pings"] for r in opened]
            if pings:
                print("    pings answered per long-lived connection: %d..%d, %d in all" % (
                    min(pings), max(pings), sum(pings)))
        verdicts[kind + "_broken"] = not bad
        bad_all += [("broken", r) for r in bad] + [("failed", r) for r in bad_open]
        verdicts.setdefault("opens", True)
        verdicts["opens"] &= not bad_open
        by_backend = {}
        for r in opened:
            by_backend[r["backend"]] = by_backend.get(r["backend"], 0) + 1
        print("    opened per backend: %s" % dict(sorted(by_backend.items())))

    if detect:
        lens = [b - a for _, a, b in detect]
        print("  detection windows (server killed -> out of the table in service): %d, "
              "%d..%d ms" % (len(lens), min(lens), max(lens)))
    for what in ("lb-dpdk", "lbd"):
        gaps = [b - a for w, a, b in restarts if w == what]
        if gaps:
            print("  %s restarts (stopped -> generation in service): %d, %d..%d ms" % (
                what, len(gaps), min(gaps), max(gaps)))
    for what, r in bad_all[:30]:
        print("  VIOLATION: %s connection %s on %s (client port %s), %s..%s, %s at %s: %s; "
              "during its life: %s" % (
                  r["kind"], what, r["backend"] or "(no greeting)", r.get("port", "-"),
                  rel(r["open_ms"]), rel(r["end_ms"]), r["outcome"], r.get("step"),
                  r.get("error"), context(r)))
    if len(bad_all) > 30:
        print("  ... and %d more" % (len(bad_all) - 30))
    lb_only = [r for _, r in bad_all
               if any(w == "lb-dpdk" and overlaps(r["open_ms"], r["end_ms"], a, b)
                      for w, a, b in restarts)]
    if bad_all:
        print("  of the %d violations, %d spanned an lb-dpdk restart" % (len(bad_all), len(lb_only)))

    # Steady load: completions in every 10 s.
    buckets = {}
    for r in records:
        if r["outcome"] == "completed" and t0 <= r["end_ms"] < t_stop:
            k = (r["end_ms"] - t0) // 10000
            buckets[k] = buckets.get(k, 0) + 1
    n = max(1, (t_stop - t0) // 10000)
    counts = [buckets.get(k, 0) for k in range(n)]
    print("  completed connections per 10 s: %s" % counts)
    verdicts["steady"] = all(counts)

    with open(sys.argv[3], "w") as f:
        for k, v in verdicts.items():
            f.write("%s %s\n" % (k, "ok" if v else "fail"))


if __name__ == "__main__":
    main()
