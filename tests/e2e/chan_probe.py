#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Talks to lb-dpdk's control socket as a (misbehaving) lbd would.

  chan_probe.py SOCKET stats
      HELLO, then STATS_GET: prints the generation and a few counters as JSON.
  chan_probe.py SOCKET abuse
      Sends a bad magic, another version, an oversized length, an unknown
      type, and a generation with a malformed VIP, each on a fresh
      connection; prints what lb-dpdk answered to each as JSON.
  chan_probe.py SOCKET members
      MEMBERS_GET: prints per-VIP and per-backend counters as JSON.
  chan_probe.py SOCKET flow CLIENT CLIENT_PORT VIP VIP_PORT [tcp|udp]
      FLOW_FIND for the flow CLIENT:CLIENT_PORT -> VIP:VIP_PORT: prints
      whether a flow table holds it, its backend, and the ring's backend.
  chan_probe.py SOCKET flow-bad
      FLOW_FIND with a bad family, protocol, padding and length, then
      STATS_GET on the same connection: prints the answers as JSON.
  chan_probe.py SOCKET no-backend VIP PORT tcp|udp SOURCE4 SOURCE6
      Publishes a generation that keeps every VIP in service (IPIP from
      SOURCE4 / SOURCE6, default timeouts) and adds VIP:PORT with one
      draining backend, so that its ring has no backend.

Layouts follow dataplane/chan.h (native byte order, x86-64).
"""
import json
import socket
import struct
import sys

MAGIC, VERSION = 0x464C4348, 1
(HELLO, HELLO_REPLY, GEN_BEGIN, GEN_VIP, GEN_COMMIT, GEN_DONE, STATS_GET, STATS, ERROR,
 MEMBERS_GET, MEMBERS, FLOW_FIND, FLOW) = range(1, 14)
HDR = struct.Struct("<IHHII")
# struct chan_vip_key, chan_members, chan_vip_stats, chan_member_stats,
# chan_backend, chan_flow, flow_tuple
VIP_KEY = struct.Struct("<16sHBB")
MEMBERS_HEAD = struct.Struct("<QIIQ")
VIP_STATS = struct.Struct("<20s4xQQQQ")
MEMBER_STATS = struct.Struct("<20s16sHBBQQQQ")
BACKEND = struct.Struct("<16sHBBI")
FLOW_REPLY = struct.Struct("<IHHI20s24s24s")
TUPLE = struct.Struct("<16s16sHHBBBB")
FOUND, VIP_FLAG, RING = 1, 2, 4
STATE_NAMES = {0: "removed", 1: "ready", 2: "drain"}
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


def addr_bytes(addr):
    if ":" in addr:
        return socket.inet_pton(socket.AF_INET6, addr), 6
    return socket.inet_pton(socket.AF_INET, addr) + bytes(12), 4


def addr_text(raw, family):
    if family == 6:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return socket.inet_ntop(socket.AF_INET, raw[:4])


def vip_text(raw):
    addr, port, proto, family = VIP_KEY.unpack(raw)
    return "%s %s:%d" % ("tcp" if proto == 6 else "udp", addr_text(addr, family),
                         socket.ntohs(port))


def backend_record(raw):
    addr, port, family, state, weight = BACKEND.unpack(raw)
    return {"backend": addr_text(addr, family), "port": socket.ntohs(port),
            "state": STATE_NAMES.get(state, state)}


def hello_or_fail(s):
    mtype, payload = hello(s)
    if mtype != HELLO_REPLY:
        print(json.dumps({"hello": describe(mtype, payload)}))
        sys.exit(1)
    return struct.unpack_from("<Q", payload)[0]


def get_members(s, seq=2):
    send(s, MEMBERS_GET, seq=seq)
    mtype, _, payload = recv(s)
    if mtype != MEMBERS:
        raise RuntimeError("MEMBERS_GET: %s" % describe(mtype, payload))
    generation, vip_count, member_count, now_ns = MEMBERS_HEAD.unpack_from(payload)
    off = MEMBERS_HEAD.size
    vips, members = [], []
    for _ in range(vip_count):
        key, packets, nbytes, flows_new, drops = VIP_STATS.unpack_from(payload, off)
        off += VIP_STATS.size
        vips.append({"vip": vip_text(key), "key": key.hex(), "packets": packets,
                     "bytes": nbytes, "flows_new": flows_new, "drops_no_backend": drops})
    for _ in range(member_count):
        key, addr, port, family, state, packets, nbytes, flows_new, active = \
            MEMBER_STATS.unpack_from(payload, off)
        off += MEMBER_STATS.size
        members.append({"vip": vip_text(key), "backend": addr_text(addr, family),
                        "port": socket.ntohs(port), "state": STATE_NAMES.get(state, state),
                        "packets": packets, "bytes": nbytes, "flows_new": flows_new,
                        "flows_active": active})
    if off != len(payload):
        raise RuntimeError("MEMBERS: %d bytes, records end at %d" % (len(payload), off))
    return {"generation": generation, "now_ns": now_ns, "vips": vips, "members": members}


def members(path):
    s = connect(path)
    hello_or_fail(s)
    print(json.dumps(get_members(s)))
    return 0


def tuple_bytes(client, client_port, vip, vip_port, proto, family=None, pad=0):
    """struct flow_tuple as a worker builds it; proto "tcp", "udp" or a number."""
    src, fam = addr_bytes(client)
    dst, _ = addr_bytes(vip)
    number = {"tcp": 6, "udp": 17}.get(proto, proto)
    return TUPLE.pack(src, dst, socket.htons(client_port), socket.htons(vip_port), number,
                      family or fam, pad, 0)


def flow(path, client, client_port, vip, vip_port, proto):
    s = connect(path)
    hello_or_fail(s)
    send(s, FLOW_FIND, tuple_bytes(client, client_port, vip, vip_port, proto), seq=2)
    mtype, _, payload = recv(s)
    if mtype != FLOW:
        print(json.dumps({"answer": describe(mtype, payload)}))
        return 1
    flags, worker, _, expires, key, backend, ring = FLOW_REPLY.unpack(payload)
    r = {"found": bool(flags & FOUND), "vip_known": bool(flags & VIP_FLAG)}
    if flags & (FOUND | VIP_FLAG):
        r["vip"] = vip_text(key)
    if flags & FOUND:
        r.update(worker=worker, expires_in_s=expires, **backend_record(backend))
    if flags & RING:
        r["ring"] = backend_record(ring)
    print(json.dumps(r))
    return 0


def flow_bad(path):
    s = connect(path)
    hello_or_fail(s)
    good = tuple_bytes("10.99.1.2", 40000, "10.99.100.1", 80, "tcp")
    cases = {
        "bad_family": tuple_bytes("10.99.1.2", 40000, "10.99.100.1", 80, "tcp", family=5),
        "bad_protocol": tuple_bytes("10.99.1.2", 40000, "10.99.100.1", 80, 1),
        "bad_padding": tuple_bytes("10.99.1.2", 40000, "10.99.100.1", 80, "tcp", pad=1),
        "short": good[:-1],
    }
    results = {}
    for seq, (name, payload) in enumerate(cases.items(), start=2):
        send(s, FLOW_FIND, payload, seq=seq)
        mtype, _, reply = recv(s)
        results[name] = describe(mtype, reply)
    send(s, STATS_GET, seq=99)
    mtype, _, _ = recv(s)
    results["stats_after"] = mtype == STATS
    print(json.dumps(results))
    return 0


def no_backend(path, vip, port, proto, source4, source6):
    s = connect(path)
    generation = hello_or_fail(s)
    kept = get_members(s)["vips"]
    begin = struct.pack("<QIBBHI16sII4x", generation + 1, len(kept) + 1, 1, 0, 0,
                        struct.unpack("<I", socket.inet_aton(source4))[0],
                        socket.inet_pton(socket.AF_INET6, source6), 300, 30)
    send(s, GEN_BEGIN, begin, seq=3)
    seq = 4
    for v in kept:
        send(s, GEN_VIP, bytes.fromhex(v["key"]) + struct.pack("<III64s", 1, 0, 0, b"kept"),
             seq=seq)
        seq += 1
    addr, family = addr_bytes(vip)
    key = VIP_KEY.pack(addr, socket.htons(port), 6 if proto == "tcp" else 17, family)
    backend = BACKEND.pack(addr_bytes("10.99.3.11")[0], 0, 4, 2, 1)  # draining
    ring = struct.pack("<7I", *([0xFFFFFFFF] * 7))
    send(s, GEN_VIP, key + struct.pack("<III64s", 0, 7, 1, b"nobackend") + backend + ring,
         seq=seq)
    send(s, GEN_COMMIT, struct.pack("<Q", generation + 1), seq=seq + 1)
    mtype, _, payload = recv(s)
    print(json.dumps({"answer": describe(mtype, payload) if mtype != GEN_DONE else "GEN_DONE",
                      "generation": generation + 1, "kept": len(kept)}))
    return 0 if mtype == GEN_DONE else 1


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
    sock, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "stats":
        sys.exit(stats(sock))
    elif cmd == "abuse":
        sys.exit(abuse(sock))
    elif cmd == "members":
        sys.exit(members(sock))
    elif cmd == "flow":
        sys.exit(flow(sock, args[0], int(args[1]), args[2], int(args[3]),
                      args[4] if len(args) > 4 else "tcp"))
    elif cmd == "flow-bad":
        sys.exit(flow_bad(sock))
    elif cmd == "no-backend":
        sys.exit(no_backend(sock, args[0], int(args[1]), args[2], args[3], args[4]))
    sys.exit("unknown command " + cmd)
