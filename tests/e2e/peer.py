#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Real TCP/UDP programs for Fulcrum's end-to-end tests.

  peer.py serve NAME ADDR PORT [ADDR PORT ...]
      TCP and UDP on each ADDR:PORT (the VIP on a backend's loopback). A TCP
      connection is greeted with "NAME\\n"; each line "x" is answered with
      "NAME x\\n"; "BULK n" reads n bytes and answers "NAME got n". A UDP
      datagram is answered with "NAME " + datagram.

  peer.py spread ADDR PORT COUNT [tcp|udp]
      COUNT connections (or datagrams from COUNT sockets), each from its own
      source port; prints {"backend": count, ...} and the failures.

  peer.py streams ADDR PORT COUNT STOP_FILE OUT_FILE
      COUNT long-lived connections, each sending a line every 0.2 s until
      STOP_FILE exists; writes one JSON record per connection to OUT_FILE:
      its backend, and whether it broke or changed backend.

  peer.py bulk ADDR PORT BYTES
      Sends BYTES through one connection and checks the backend got them all.

  peer.py hold ADDR PORT SECONDS
      Opens one connection, prints {"backend", "port"} (its local port) and
      keeps it open for SECONDS.

  peer.py idlers ADDR PORT COUNT GO_FILE OUT_FILE
      COUNT connections that stay silent until GO_FILE exists, then send one
      line each; OUT_FILE.ready lists each one's backend and local port once
      all are open, OUT_FILE whether each still reached its backend.

  peer.py udp-big ADDR PORT BYTES
      Sends one UDP datagram of BYTES (fragmented on the way) and checks the
      whole of it comes back.
"""
import json
import os
import socket
import sys
import threading
import time


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve_tcp_conn(name, conn):
    prefix = name.encode() + b" "
    try:
        conn.sendall(name.encode() + b"\n")
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.startswith(b"BULK "):
                    want = int(line[5:])
                    got = len(buf)
                    buf = b""
                    while got < want:
                        data = conn.recv(min(65536, want - got))
                        if not data:
                            return
                        got += len(data)
                    conn.sendall(prefix + b"got %d\n" % got)
                else:
                    conn.sendall(prefix + line + b"\n")
    except OSError:
        pass
    finally:
        conn.close()


def serve(name, endpoints):
    for addr, port in endpoints:
        fam = family_of(addr)
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((addr, port))
        t.listen(512)

        def accept_loop(sock=t):
            while True:
                conn, _ = sock.accept()
                threading.Thread(target=serve_tcp_conn, args=(name, conn), daemon=True).start()

        threading.Thread(target=accept_loop, daemon=True).start()
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((addr, port))

        def udp_loop(sock=u):
            while True:
                data, peer = sock.recvfrom(65536)
                sock.sendto(name.encode() + b" " + data, peer)

        threading.Thread(target=udp_loop, daemon=True).start()
    print("serving", name, endpoints, flush=True)
    while True:
        time.sleep(3600)


def read_line(sock, timeout):
    sock.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\n"):
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("closed by peer")
        buf += data
    return buf.decode().strip()


def spread(addr, port, count, proto):
    counts, failures = {}, []
    for i in range(count):
        try:
            if proto == "udp":
                s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
                s.settimeout(2)
                for attempt in range(3):
                    s.sendto(b"hello %d" % i, (addr, port))
                    try:
                        reply = s.recv(4096).decode()
                        break
                    except socket.timeout:
                        if attempt == 2:
                            raise
                name = reply.split(" ")[0]
            else:
                s = socket.create_connection((addr, port), timeout=5)
                name = read_line(s, 5)
            s.close()
            counts[name] = counts.get(name, 0) + 1
        except OSError as e:
            failures.append(str(e))
    print(json.dumps({"counts": counts, "failures": failures}))


def stream_one(addr, port, stop_file, record):
    try:
        s = socket.create_connection((addr, port), timeout=10)
        record["backend"] = read_line(s, 10)
        n = 0
        while not os.path.exists(stop_file):
            n += 1
            s.sendall(b"ping %d\n" % n)
            # Generous: a dataplane restart costs TCP a few retransmissions.
            reply = read_line(s, 30)
            who = reply.split(" ")[0]
            if reply != "%s ping %d" % (record["backend"], n):
                record["broken"] = True
                record["error"] = "answer %r from %s" % (reply, who)
                return
            record["pings"] = n
            time.sleep(0.2)
        s.close()
    except (OSError, ValueError) as e:
        record["broken"] = True
        record["error"] = str(e) or type(e).__name__


def streams(addr, port, count, stop_file, out_file):
    records = [{"backend": None, "broken": False, "pings": 0} for _ in range(count)]
    threads = []
    for r in records:
        t = threading.Thread(target=stream_one, args=(addr, port, stop_file, r))
        t.start()
        threads.append(t)
        time.sleep(0.02)
    for t in threads:
        t.join()
    with open(out_file + ".tmp", "w") as f:
        json.dump(records, f)
    os.rename(out_file + ".tmp", out_file)


def bulk(addr, port, nbytes):
    s = socket.create_connection((addr, port), timeout=30)
    name = read_line(s, 10)
    s.sendall(b"BULK %d\n" % nbytes)
    chunk = b"x" * 65536
    left = nbytes
    while left:
        n = min(left, len(chunk))
        s.sendall(chunk[:n])
        left -= n
    reply = read_line(s, 60)
    mss = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    print(json.dumps({"backend": name, "reply": reply, "ok": reply == "%s got %d" % (name, nbytes),
                      "mss": mss}))


def udp_big(addr, port, nbytes):
    s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    s.settimeout(3)
    payload = bytes(i % 251 for i in range(nbytes))
    for attempt in range(3):
        s.sendto(payload, (addr, port))
        try:
            reply = s.recv(65536)
            break
        except socket.timeout:
            reply = b""
    name = reply.split(b" ")[0].decode(errors="replace")
    ok = reply == name.encode() + b" " + payload
    print(json.dumps({"backend": name, "sent": nbytes, "received": len(reply), "ok": ok}))


def hold(addr, port, seconds):
    s = socket.create_connection((addr, port), timeout=10)
    name = read_line(s, 10)
    print(json.dumps({"backend": name, "port": s.getsockname()[1]}), flush=True)
    time.sleep(seconds)
    s.close()


def idlers(addr, port, count, go_file, out_file):
    """count connections that say nothing until go_file exists, then one
    ping each: a connection idle while its flow-table entry was evicted.
    Writes out_file + ".ready" (backend and local port of each) once all
    are open, and out_file when all have pinged."""
    conns, records = [], []
    for _ in range(count):
        s = socket.create_connection((addr, port), timeout=10)
        records.append({"backend": read_line(s, 10), "port": s.getsockname()[1],
                        "broken": False})
        conns.append(s)
    with open(out_file + ".ready.tmp", "w") as f:
        json.dump(records, f)
    os.rename(out_file + ".ready.tmp", out_file + ".ready")
    while not os.path.exists(go_file):
        time.sleep(0.1)
    for s, r in zip(conns, records):
        try:
            s.sendall(b"ping 1\n")
            reply = read_line(s, 30)
            if reply != "%s ping 1" % r["backend"]:
                r["broken"], r["error"] = True, "answer %r" % reply
        except OSError as e:
            r["broken"], r["error"] = True, str(e) or type(e).__name__
        s.close()
    with open(out_file + ".tmp", "w") as f:
        json.dump(records, f)
    os.rename(out_file + ".tmp", out_file)


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        rest = sys.argv[3:]
        serve(sys.argv[2], [(rest[i], int(rest[i + 1])) for i in range(0, len(rest), 2)])
    elif cmd == "spread":
        spread(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
               sys.argv[5] if len(sys.argv) > 5 else "tcp")
    elif cmd == "streams":
        streams(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
    elif cmd == "idlers":
        idlers(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
    elif cmd == "hold":
        hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "udp-big":
        udp_big(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "bulk":
        bulk(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
