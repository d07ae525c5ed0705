#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Floods a TCP VIP with packets from random IPv4 sources, through a raw
socket, for tests/e2e/test_flood.sh. Run as root inside the client's
namespace (the router must route 198.18.0.0/15, the benchmarking range of
RFC 2544, back to it and not filter it by source).

  flood.py syn   VIP PORT COUNT SEED [RATE]  one SYN from each of COUNT
                                       random sources: a SYN flood
  flood.py pairs VIP PORT COUNT SEED [RATE]  a SYN and then an ACK from
                                       each: COUNT flows of two packets, which
                                       a balancer takes for established
                                       connections

RATE (packets/s) paces the flood; without it, as fast as the socket takes.

Prints one JSON line: {"mode", "flows", "packets", "seconds"}. The sources
are 198.18.0.0/15 with random ports, reproducible from SEED.
"""
import json
import random
import socket
import struct
import sys
import time

SYN, ACK = 0x02, 0x10


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def segment(src, sport, dst, dport, seq, ack, flags):
    """An IPv4 header (the kernel fills its length, id and checksum) and a
    TCP header with a correct checksum."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64,
                     socket.IPPROTO_TCP, 0, src, dst)
    return ip + tcp


def main():
    if len(sys.argv) not in (6, 7) or sys.argv[1] not in ("syn", "pairs"):
        sys.exit(__doc__)
    mode, vip, port, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4]), int(sys.argv[5])
    rate = float(sys.argv[6]) if len(sys.argv) == 7 else 0
    rng = random.Random(seed)
    dst = socket.inet_aton(vip)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    packets = 0
    start = time.monotonic()
    for _ in range(count):
        src = struct.pack("!I", (198 << 24) | (18 << 16) | rng.getrandbits(17))
        sport = rng.randrange(1024, 65536)
        seq = rng.getrandbits(32)
        kinds = [(SYN, seq, 0)] if mode == "syn" else [(SYN, seq, 0), (ACK, seq + 1, 1)]
        for flags, s, a in kinds:
            frame = segment(src, sport, dst, port, s & 0xFFFFFFFF, a, flags)
            while True:
                try:
                    sock.sendto(frame, (vip, 0))
                    break
                except BlockingIOError:
                    time.sleep(0.001)
                except OSError as e:  # ENOBUFS: the qdisc is full, wait
                    if e.errno != 105:
                        raise
                    time.sleep(0.001)
            packets += 1
            # Every 100 packets, wait until the schedule catches up.
            if rate and packets % 100 == 0:
                ahead = start + packets / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
    print(json.dumps({"mode": mode, "flows": count, "packets": packets,
                      "seconds": round(time.monotonic() - start, 3)}))


if __name__ == "__main__":
    main()
