#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A simulated GPU inference node for `make demo`.

  infer_server.py NAME LATENCY_MS ADDR PORT [ADDR PORT ...]

Answers POST /v1/infer with JSON naming the node, after a simulated
inference time around LATENCY_MS, and GET /healthz with 200 (lbd's HTTP
health check). Listens on the VIP (on the node's loopback), so replies go
straight back to the client (direct server return), and on the node's own
address, where lbd's health checks arrive.
"""
import json
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = sys.argv[1]
LATENCY_MS = float(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path != "/healthz":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        if self.path != "/v1/infer":
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        started = time.monotonic()
        time.sleep(max(0.0, random.gauss(LATENCY_MS, LATENCY_MS / 5)) / 1000)
        reply = json.dumps({"node": NAME, "prompt_bytes": len(body),
                            "inference_ms": round((time.monotonic() - started) * 1000, 1),
                            "output": "simulated tokens"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True


class Server6(Server):
    address_family = socket.AF_INET6


endpoints = [(sys.argv[i], int(sys.argv[i + 1])) for i in range(3, len(sys.argv), 2)]
for addr, port in endpoints:
    server = (Server6 if ":" in addr else Server)((addr, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("serving", NAME, endpoints, flush=True)
threading.Event().wait()
