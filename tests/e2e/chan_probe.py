#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Talks to lb-dpdk's control socket as a (misbehaving) lbd would.

  chan_probe.py SOCKET stats
      HELLO, then STATS_GET: prints the generation and a few counters as JSON.
  chan_probe.py SOCKET abuse
      Sends a bad magic, another version, an oversized length, an unknown
      type, and a generation with a malformed VIP, each on a fresh
      connection; prints what lb-dpdk answered to each as JSON.

Layouts follow dataplane/chan.h (native byte order, x86-64).
"""
import json
import socket
import struct
import sys

MAGIC, VERSION = 0x464C4348, 1
HELLO, HELLO_REPLY, GEN_BEGIN, GEN_VIP, GEN_COMMIT, GEN_DONE, STATS_GET, STATS, ERROR = range(1, 10)
HDR = struct.Struct("<IHHII")
COUNTER_NAMES = ["rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "kernel_packets"]


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    return s


def send(s, mtype, payload=b"", seq=1, magic=MAGIC, version=VERSION, length=None):
    s.sendall(HDR.pack(magic, version, mtype, len(payload) if length is None else length, seq) + payload)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        data = s.recv(n - len(buf))
        if not data:
            raise ConnectionError("closed")
        buf += data
    return buf


def recv(s):
    magic, version, mtype, length, seq = HDR.unpack(recv_exact(s, HDR.size))
    return mtype, seq, recv_exact(s, length)


def describe(mtype, payload):
    if mtype == ERROR:
        code = struct.unpack_from("<i", payload)[0]
        return {"type": "ERROR", "code": code, "text": payload[4:].decode(errors="replace")}
    return {"type": mtype, "length": len(payload)}


def hello(s):
    send(s, HELLO, struct.pack("<32s", b"chan_probe"))
    mtype, _, payload = recv(s)
    return mtype, payload


def stats(path):
    s = connect(path)
    mtype, payload = hello(s)
    if mtype != HELLO_REPLY:
        print(json.dumps({"hello": describe(mtype, payload)}))
        return 1
    send(s, STATS_GET, seq=2)
    mtype, seq, payload = recv(s)
    generation, flows, capacity, workers, count = struct.unpack_from("<QQQII", payload)
    counters = struct.unpack_from("<%dQ" % count, payload, 32)
    print(json.dumps({"generation": generation, "flows": flows, "flow_capacity": capacity,
                      "workers": workers, "counter_count": count,
                      **dict(zip(COUNTER_NAMES, counters))}))
    return 0


def answer_to(path, action):
    s = connect(path)
    try:
        action(s)
        mtype, _, payload = recv(s)
        result = describe(mtype, payload)
    except (OSError, ConnectionError) as e:
        result = {"type": "closed", "text": str(e)}
    # After a bad header the channel must be closed by lb-dpdk.
    try:
        s.settimeout(2)
        result["closed_after"] = s.recv(1) == b""
    except ConnectionResetError:  # closed with our unread bytes pending
        result["closed_after"] = True
    except OSError:
        result["closed_after"] = False
    s.close()
    return result


def bad_vip(s):
    hello(s)
    begin = struct.pack("<QIBBHI16sII4x", 999, 1, 1, 0, 0, 0x0102000a, bytes(16), 300, 30)
    send(s, GEN_BEGIN, begin, seq=2)
    # A VIP whose ring names backend 5 of 1.
    key = struct.pack("<16sHBB", bytes([10, 99, 100, 9]) + bytes(12), socket.htons(80), 6, 4)
    vip = key + struct.pack("<III64s", 0, 7, 1, b"probe")
    backend = struct.pack("<16sHBBI", bytes([10, 99, 3, 11]) + bytes(12), socket.htons(80), 4, 1, 1)
    ring = struct.pack("<7I", 0, 0, 5, 0, 0, 0, 0)
    send(s, GEN_VIP, vip + backend + ring, seq=3)
    send(s, GEN_COMMIT, struct.pack("<Q", 999), seq=4)


def abuse(path):
    results = {
        "bad_magic": answer_to(path, lambda s: send(s, HELLO, bytes(32), magic=0x12345678)),
        "other_version": answer_to(path, lambda s: send(s, HELLO, bytes(32), version=99)),
        "oversized": answer_to(path, lambda s: send(s, GEN_VIP, b"", length=0x7FFFFFFF)),
        "unknown_type": answer_to(path, lambda s: send(s, 77, b"")),
        "bad_vip": answer_to(path, bad_vip),
    }
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(stats(sys.argv[1]) if sys.argv[2] == "stats" else abuse(sys.argv[1]))
