#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Sends inference requests through a VIP and shows where they went.

  infer_client.py ADDR PORT REQUESTS CONCURRENCY WEIGHTS_JSON

WEIGHTS_JSON gives each node's effective weight, for the expected shares.
"""
import http.client
import json
import sys
import threading
import time

addr, port, total, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
weights = json.loads(sys.argv[5])
lock = threading.Lock()
per_node, latencies, failures = {}, [], []
next_request = [0]


def worker():
    while True:
        with lock:
            if next_request[0] >= total:
                return
            next_request[0] += 1
            n = next_request[0]
        try:
            # A new connection per request: each gets its own client port,
            # so each is a new flow for Maglev to place.
            c = http.client.HTTPConnection(addr, port, timeout=10)
            started = time.monotonic()
            c.request("POST", "/v1/infer", body=json.dumps({"prompt": "request %d" % n}),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            reply = json.loads(r.read())
            elapsed = (time.monotonic() - started) * 1000
            c.close()
            with lock:
                per_node.setdefault(reply["node"], []).append(reply["inference_ms"])
                latencies.append(elapsed)
        except Exception as e:  # any failure is counted, never fatal
            with lock:
                failures.append(str(e))


started = time.monotonic()
threads = [threading.Thread(target=worker) for _ in range(concurrency)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.monotonic() - started

done = sum(len(v) for v in per_node.values())
weight_sum = sum(weights.values())
print("\n%d requests to http://%s:%d/v1/infer, %d at a time: %d answered, %d failed, %.1f s"
      % (total, addr, port, concurrency, done, len(failures), wall))
print("%-10s %6s %9s %9s  %s" % ("node", "weight", "requests", "expected", "share"))
for node in sorted(set(weights) | set(per_node)):
    got = len(per_node.get(node, []))
    weight = weights.get(node, 0)
    expected = done * weight / weight_sum
    print("%-10s %6g %9d %9.0f  %s" % (node, weight, got, expected, "#" * round(50 * got / max(done, 1))))
if latencies:
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print("end-to-end latency: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms" % (pick(0.5), pick(0.9), pick(0.99)))
sys.exit(0 if done == total else 1)
