#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
#
# Writes the seed corpora of the fuzz harnesses into tests/fuzz/corpus/NAME,
# one small file per seed, named after what it is:
#
#   /usr/bin/python3 tests/fuzz/make-corpus.py            (from the top directory)
#
# Seeds come from what the tests already trust: the scapy-built packet
# fixtures (tests/fixtures/pkt_fixtures.h), the sample configuration, lbctl's
# grammar as README and the unit tests use it, agent replies from agent.h, and
# channel messages laid out as dataplane/chan.h defines them (sizes checked by
# _Static_assert in dataplane/chan.c and by tests/e2e/chan_probe.py). Only
# standard modules: no scapy needed to regenerate.
#
# Inputs the fuzzers found and make-corpus did not write (merged with
# `make fuzz FUZZ_MERGE=1`, or a crash kept as a regression) live in the same
# directories; this script overwrites only its own files.
import os
import re
import struct
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(TOP, "tests", "fuzz", "corpus")


def put(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- packets: every frame of the scapy fixtures ----

def pkt_seeds():
    text = open(os.path.join(TOP, "tests", "fixtures", "pkt_fixtures.h")).read()
    n = 0
    for name, body in re.findall(r"static const unsigned char fx_(\w+)\[\d+\] = \{([^}]*)\};",
                                 text):
        put("pkt", name, bytes(int(b, 16) for b in body.split(",")))
        n += 1
    return n


# ---- configuration files: the sample, small valid files of each mode, and
# one of each class of mistake test_conf.c checks ----

XDP_BASE = ('dataplane = { mode = "xdp"; encap_source_v4 = "10.0.0.2";\n'
            '  encap_source_v6 = "fd00::2";\n'
            '  xdp = { interfaces = [ "eth0" ]; }; };\n')
VIP = ('vips = ( { name = "web"; protocol = "tcp"; address = "192.0.2.1"; port = 80;\n'
       '  table_size = 7;\n'
       '  backends = ( { name = "b1"; address = "10.1.0.1"; weight = 10; },\n'
       '               { name = "b2"; address = "fd00:1::2"; port = 8080; state = "drain"; } ); } );\n')

CONF_SEEDS = {
    "sample": None,  # config/fulcrum.conf
    "xdp_minimal": XDP_BASE,
    "xdp_vip": XDP_BASE + VIP,
    "dpdk_ports": (
        'global = { control_socket = "/tmp/lbd.sock"; state_file = ""; metrics_listen = "[::1]:9469";\n'
        '  log_level = "debug"; };\n'
        'dataplane = { mode = "dpdk"; encap = "gue"; gue_port = 6081; encap_source_v4 = "10.0.0.2";\n'
        '  gateway_mac = "02:00:5e:10:00:01"; flow_table_size = 1024;\n'
        '  dpdk = { eal_args = [ "--no-huge", "-m", "512", "--vdev=net_null0" ];\n'
        '    worker_lcores = [ 1, 2 ]; mbufs = 1023; mbuf_cache = 0; idle_sleep_us = 50;\n'
        '    ports = ( { name = "p0"; device = "net_null0"; rx_queues = 2; mtu = 9000;\n'
        '                addresses = [ "10.0.0.2/24", "fd00::2/64" ]; } ); }; };\n'
        'health_defaults = { type = "http"; http_path = "/healthz"; http_host = "gpu";\n'
        '  http_expect = [ 200, 204 ]; agent_port = 5555; agent_weight_step_pct = 10; };\n'
        'vips = ( { name = "dns"; protocol = "udp"; address = "192.0.2.53"; port = 53;\n'
        '  min_up = 0; health = { type = "none"; };\n'
        '  backends = ( { name = "d1"; address = "10.1.0.53"; weight = 256; state = "maint"; } ); } );\n'),
    "auto_both": (
        'dataplane = { mode = "auto"; encap_source_v6 = "fd00::2";\n'
        '  dpdk = { ports = ( { name = "edge0"; device = "0000:00:08.0"; } ); };\n'
        '  xdp = { interfaces = [ "eth1", "eth2" ]; attach_mode = "generic"; members_max = 64; }; };\n'
        'vips = ( { name = "v6"; protocol = "tcp"; address = "2001:db8::10"; port = 443;\n'
        '  table_size = 65537;\n'
        '  backends = ( { name = "g1"; address = "fd00:1::11"; weight = 0; } ); } );\n'),
    "bad_syntax": XDP_BASE + 'vips = (\n  { name = "v"; port = = 80; }\n);\n',
    "bad_unknown_key": XDP_BASE + 'colour = "blue";\n',
    "bad_type": XDP_BASE + 'global = { log_level = 3; };\n',
    "bad_range": XDP_BASE + 'health_defaults = { rise = 0; http_expect = [ 200, 700 ]; };\n',
    "bad_duplicates": XDP_BASE + (
        'vips = ( { name = "a"; protocol = "tcp"; address = "192.0.2.1"; port = 80;\n'
        '  backends = ( { name = "b"; address = "10.1.0.1"; }, { name = "b"; address = "10.1.0.1"; } ); },\n'
        '  { name = "a"; protocol = "tcp"; address = "192.0.2.1"; port = 80; } );\n'),
    "bad_missing": 'global = { };\n',
    "bad_values": ('dataplane = { mode = "dpdk"; gateway_mac = "02:00:5e:10:00";\n'
                   '  dpdk = { ports = ( { name = "a-very-long-port-name"; device = "x";\n'
                   '    addresses = [ "10.0.0.2", "fd00::2/129" ]; } ); }; };\n'
                   'global = { metrics_listen = "::1:9469"; };\n'
                   'vips = ( { name = "v"; protocol = "sctp"; address = "192.0.2"; port = 0;\n'
                   '  table_size = 100; backends = ( 1, { name = "x y"; address = "fd00::1"; } ); } );\n'),
}


def conf_seeds():
    for name, text in CONF_SEEDS.items():
        if text is None:
            text = open(os.path.join(TOP, "config", "fulcrum.conf")).read()
        put("conf", name, text)
    return len(CONF_SEEDS)


# ---- agent replies: agent.h's examples, every word, and the edges the unit
# tests probe (case, separators, limits, bad bytes, contradictions) ----

AGENT_SEEDS = [
    b"75%", b"up 60%", b"drain 0%", b"down # GPU 3 ECC errors", b"ready,weight:40",
    b"maxconn:100 up", b"weight:40%", b"maint", b"stopped", b"fail", b"UP\r\n",
    b"  75%,MAINT\tfail,MaxConn:30 #  planned work ", b"1000%", b"1001%", b"weight:256",
    b"weight:257", b"maxconn:2147483648", b"18446744073709551716%", b"up down",
    b"50% weight:50", b"# only a reason", b"", b"up\n60%\ndrain\n", b"down # \x1b[31mred",
    b"r\xc3\xa9", b"up\x00", b"75%\nweight:40\n0%\nready up\n",
    b"up # " + b"x" * 200, b"up " * 200,
]


def agent_seeds():
    for i, seed in enumerate(AGENT_SEEDS):
        put("agent", "seed%02d" % i, seed)
    return len(AGENT_SEEDS)


# ---- control sessions: lbctl's commands against fuzz_ctl's configuration
# (VIPs web and v6, backends b1, b2, g1), good and bad, one session per seed
# and one request per line ----

CTL_SESSIONS = {
    "read_only": ["info", "vip list", "vip show web", "backend list", "backend list v6",
                  "backend show web b1", "health show", "health show web", "help",
                  "help backend", "state show", "config show", "config check", "stats",
                  "stats --rate"],
    "changes": ["backend set web b1 state drain", "backend set web b1 state ready by scaler",
                "backend set web b1 weight 7 by operator", "backend add web b3 10.1.0.3 port 8080 weight 5",
                "backend add v6 g2 fd00:1::12 state maint by scaler", "backend del web b3",
                "backend del web b3 --force", "vip add api udp 10.99.0.2 53 table_size 7 min_up 2 health none",
                "vip set api min_up 0 table_size 11", "vip del api --force", "state save",
                "config reload", "health poll web", "health poll web b1"],
    "lookup": ["lookup web 192.0.2.1:5555", "lookup web 192.0.2.1", "lookup v6 [2001:db8:1::7]:40000",
               "lookup v6 2001:db8:1::7", "lookup web fd00::9", "lookup web 1.2.3.4:70000"],
    "monitor": ["monitor", "backend set web b2 state ready", "vip add x tcp 10.99.0.9 443",
                "backend add x y 10.1.0.9", "vip del x --force"],
    "quoting": ['backend set web "b 1" state drain', 'vip show "web"', 'help "back\\end"',
                'vip show "unbalanced', "vip\tshow\tweb", "info\r", ""],
    "mistakes": ["backend frob", "vip", "vip show", "backend set web b1", "backend set web b1 by scaler",
                 "backend set web b1 weight 1 weight 2", "backend set web b1 weight 257",
                 "vip add v tcp 10.0.0.1 0", "vip add v sctp 10.0.0.1 80", "vip add v tcp 10.0.0.300 80",
                 "nosuch", "backend add web b4 fd00::4", "backend show web nosuch",
                 " ".join(["w"] * 30)],
}


def ctl_seeds():
    for name, lines in CTL_SESSIONS.items():
        put("ctl", name, "".join(line + "\n" for line in lines))
    put("ctl", "no_final_newline", "vip list\ninfo")
    put("ctl", "too_long", "vip show " + "x" * 4100 + "\ninfo\n")
    return len(CTL_SESSIONS) + 2


# ---- channel messages, laid out as dataplane/chan.h says (CPU order,
# x86-64; addresses and ports in network order) ----

MAGIC, VERSION = 0x464C4348, 1
(HELLO, HELLO_REPLY, GEN_BEGIN, GEN_VIP, GEN_COMMIT, GEN_DONE, STATS_GET, STATS, ERROR,
 MEMBERS_GET, MEMBERS, FLOW_FIND, FLOW) = range(1, 14)
READY, DRAIN = 1, 2
TCP, UDP = 6, 17
COUNTER_COUNT = 64  # more than lbd knows: it must take the ones it knows


def msg(mtype, payload=b"", seq=1, magic=MAGIC, version=VERSION, length=None):
    return struct.pack("<IHHII", magic, version, mtype,
                       len(payload) if length is None else length, seq) + payload


def addr(family, text):
    import ipaddress
    a = ipaddress.ip_address(text).packed
    return a + bytes(16 - len(a)), family


def vip_key(text, port, proto):
    a, fam = addr(4 if "." in text else 6, text)
    return a + struct.pack(">H", port) + struct.pack("<BB", proto, fam)


def backend(text, port, state=READY, weight=100):
    a, fam = addr(4 if "." in text else 6, text)
    return a + struct.pack(">H", port) + struct.pack("<BBI", fam, state, weight)


def gen_begin(generation, vips, encap=1, gue_port=0, idle=(300, 30)):
    return (struct.pack("<QIBB", generation, vips, encap, 0) + struct.pack(">H", gue_port) +
            addr(4, "10.0.0.2")[0][:4] + addr(6, "fd00::2")[0] + struct.pack("<II", *idle) +
            bytes(4))


def gen_vip(key, name, backends, table_size, keep=False, ring=None):
    """backends: (text, port, state) in any order; sorted into canonical order."""
    if keep:
        return key + struct.pack("<III", 1, 0, 0) + name.encode().ljust(64, b"\0")
    recs = sorted(backend(*b) for b in backends)
    ready = [i for i, r in enumerate(recs) if r[19] == READY]
    if ring is None:
        ring = [ready[s % len(ready)] if ready else 0xFFFFFFFF for s in range(table_size)]
    return (key + struct.pack("<III", 0, table_size, len(recs)) +
            name.encode().ljust(64, b"\0") + b"".join(recs) + struct.pack("<%dI" % len(ring), *ring))


def flow_tuple(src, sport, dst, dport, proto):
    a, fam = addr(4 if "." in src else 6, src)
    b, _ = addr(fam, dst)
    return a + b + struct.pack(">HH", sport, dport) + struct.pack("<BBBB", proto, fam, 0, 0)


WEB = vip_key("192.0.2.10", 80, TCP)
WEB_API = vip_key("192.0.2.10", 8080, TCP)
DNS6 = vip_key("2001:db8::53", 53, UDP)
WEB_BACKENDS = [("10.1.0.11", 80), ("10.1.0.12", 80), ("10.1.0.13", 80, DRAIN), ("fd00:1::11", 80)]


def chan_seeds():
    hello = b"lbd 4242".ljust(32, b"\0")
    first = (msg(HELLO, hello, 1) + msg(GEN_BEGIN, gen_begin(1, 2), 2) +
             msg(GEN_VIP, gen_vip(WEB, "web", WEB_BACKENDS, 7), 3) +
             msg(GEN_VIP, gen_vip(DNS6, "dns6", [("fd00:1::53", 5353)], 11), 4) +
             msg(GEN_COMMIT, struct.pack("<Q", 1), 5))
    seeds = {
        "publish_one": first,
        "publish_then_keep": first + (
            msg(GEN_BEGIN, gen_begin(2, 3, encap=2, gue_port=6080), 6) +
            msg(GEN_VIP, gen_vip(WEB, "web", 0, 0, keep=True), 7) +
            msg(GEN_VIP, gen_vip(DNS6, "dns6", [("fd00:1::54", 5353), ("fd00:1::53", 5353, DRAIN)], 11), 8) +
            msg(GEN_VIP, gen_vip(WEB_API, "api", [("10.1.0.11", 8080)], 7), 9) +
            msg(GEN_COMMIT, struct.pack("<Q", 2), 3000) +
            msg(GEN_BEGIN, gen_begin(3, 1, idle=(1, 1)), 10) +
            msg(GEN_VIP, gen_vip(WEB_API, "api", [], 7), 11) +
            msg(GEN_COMMIT, struct.pack("<Q", 3), 4000)),
        "stats_members_flow": first + (
            msg(STATS_GET, b"", 6) + msg(MEMBERS_GET, b"", 7) +
            msg(FLOW_FIND, flow_tuple("198.51.100.7", 40000, "192.0.2.10", 80, TCP), 8) +
            msg(FLOW_FIND, flow_tuple("2001:db8:1::7", 5353, "2001:db8::53", 53, UDP), 9) +
            msg(FLOW_FIND, flow_tuple("198.51.100.7", 40000, "192.0.2.99", 80, TCP), 10)),
        "fragments_port0": (
            msg(GEN_BEGIN, gen_begin(5, 3), 1) +
            msg(GEN_VIP, gen_vip(WEB_API, "api", [("10.1.0.11", 8080)], 7), 2) +
            msg(GEN_VIP, gen_vip(WEB, "web", [("10.1.0.12", 80)], 7), 3) +
            msg(GEN_VIP, gen_vip(vip_key("192.0.2.10", 0, TCP), "any", [("10.1.0.13", 0)], 7), 4) +
            msg(GEN_COMMIT, struct.pack("<Q", 5), 5)),
        "refused_generations": (
            msg(GEN_VIP, gen_vip(WEB, "web", WEB_BACKENDS, 7), 1) +
            msg(GEN_BEGIN, gen_begin(1, 1), 2) +
            msg(GEN_VIP, gen_vip(WEB, "web", WEB_BACKENDS, 7, ring=[2] * 7), 3) +
            msg(GEN_COMMIT, struct.pack("<Q", 1), 4) +
            msg(GEN_BEGIN, gen_begin(1, 2), 5) +
            msg(GEN_VIP, gen_vip(WEB, "web", WEB_BACKENDS, 7), 6) +
            msg(GEN_VIP, gen_vip(WEB, "web", WEB_BACKENDS, 7), 7) +
            msg(GEN_COMMIT, struct.pack("<Q", 1), 8) +
            msg(GEN_BEGIN, gen_begin(9, 1), 9) +
            msg(GEN_VIP, gen_vip(WEB, "web", 0, 0, keep=True), 10) +
            msg(GEN_COMMIT, struct.pack("<Q", 8), 11) +
            msg(GEN_BEGIN, gen_begin(0, 1, encap=3), 12)),
        "bad_magic": msg(HELLO, hello, 1, magic=0x12345678),
        "bad_version": msg(HELLO, hello, 1, version=2),
        "bad_length": msg(HELLO, b"", 1, length=(72 << 20) + 1),
        "bad_type": msg(14, b"", 1) + msg(0, b"", 2),
        "not_requests": (msg(HELLO_REPLY, bytes(16), 1) + msg(GEN_DONE, bytes(16), 2) +
                         msg(ERROR, struct.pack("<i", 22) + b"no", 3) + msg(HELLO, b"short", 4)),
    }
    for name, data in seeds.items():
        put("chan", name, data)
    return len(seeds)


# lb-dpdk's answers to fuzz_publish's session: HELLO (seq 1), a generation
# (commit seq 5), a generation keeping a VIP (commit seq 9), STATS_GET (10),
# MEMBERS_GET (11), FLOW_FIND (12).

def hello_reply(generation=0, ports=1):
    return struct.pack("<QIHH", generation, 4242, 2, ports)


def gen_done(generation, vips=2, backends=3):
    return struct.pack("<QII", generation, vips, backends)


def stats(generation, counters):
    return struct.pack("<QQQII", generation, 12, 2 << 20, 2, len(counters)) + \
        struct.pack("<%dQ" % len(counters), *counters)


def members(generation, vips):
    """vips: (key, [(backend text, port, state)])"""
    head = struct.pack("<QIIQ", generation, len(vips), sum(len(b) for _, b in vips), 123456789)
    recs = b"".join(k + bytes(4) + struct.pack("<QQQQ", 10, 1500, 2, 0) for k, _ in vips)
    for k, bs in vips:
        for text, port, state in bs:
            a, fam = addr(4 if "." in text else 6, text)
            recs += k + a + struct.pack(">H", port) + struct.pack("<BBQQQQ", fam, state, 5, 700, 1, 1)
    return head + recs


def flow_reply(flags, vip, backend_rec, ring_rec, worker=0, expires=30):
    return struct.pack("<IHHI", flags, worker, 0, expires) + vip + backend_rec + ring_rec


def publish_seeds():
    web_members = [("10.1.0.11", 80, READY), ("10.1.0.12", 80, DRAIN)]
    good = (msg(HELLO_REPLY, hello_reply(), 1) + msg(GEN_DONE, gen_done(1), 5) +
            msg(GEN_DONE, gen_done(2), 9) + msg(STATS, stats(2, list(range(COUNTER_COUNT))), 10) +
            msg(MEMBERS, members(2, [(WEB, web_members), (DNS6, [("fd00:1::53", 53, READY)])]), 11) +
            msg(FLOW, flow_reply(7, WEB, backend("10.1.0.11", 80), backend("10.1.0.11", 80)), 12))
    seeds = {
        "good_session": good,
        "late_replies": (msg(GEN_DONE, gen_done(7), 0) + msg(HELLO_REPLY, hello_reply(41), 1) +
                         msg(GEN_DONE, gen_done(41), 5) + msg(GEN_DONE, gen_done(42), 5) +
                         msg(STATS, stats(42, [1, 2]), 9) + msg(GEN_DONE, gen_done(43), 9) +
                         msg(STATS, stats(43, [3] * 3), 10) + msg(MEMBERS, members(0, []), 11) +
                         msg(FLOW, flow_reply(0, bytes(20), bytes(24), bytes(24)), 12)),
        "errors": (msg(HELLO_REPLY, hello_reply(), 1) +
                   msg(ERROR, struct.pack("<i", 22) + b"GEN_VIP tcp [192.0.2.10]:80: bad", 3) +
                   msg(ERROR, b"", 9) + msg(ERROR, struct.pack("<i", 12) + b"out of memory", 10) +
                   msg(STATS, stats(1, [])[:20], 11) + msg(MEMBERS, members(1, [])[:16], 11) +
                   msg(FLOW, flow_reply(8, WEB, bytes(24), bytes(24)), 12)),
        "busy": msg(ERROR, struct.pack("<i", 16) + b"another lbd is connected", 0),
        "short_hello_reply": msg(HELLO_REPLY, hello_reply()[:12], 1),
        "bad_header_midway": (msg(HELLO_REPLY, hello_reply(), 1) + msg(GEN_DONE, gen_done(1), 5) +
                              msg(GEN_DONE, gen_done(2), 9, magic=0x12345678)),
        "cut_midway": good[:len(good) - 30],
    }
    for name, data in seeds.items():
        put("publish", name, data)
    return len(seeds)


# ---- half-open check replies: a family byte (0 IPv4, 1 IPv6), then the packet ----

def tcp_header(sport, dport, seq, ack, flags, options=b""):
    doff = (20 + len(options)) // 4
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, 65535, 0, 0) + options


def ipv4_header(payload_len, src, dst, ihl=5, frag=0x4000):
    options = b"\x01" * (ihl * 4 - 20)
    return struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + payload_len, 1, frag, 64, 6, 0,
                       bytes(src), bytes(dst)) + options


def health_syn_seeds():
    backend, us = [10, 99, 3, 11], [10, 99, 2, 2]
    syn_ack, rst_ack, ack = 0x12, 0x14, 0x10
    mss = b"\x02\x04\x05\xb4"
    seeds = {}
    for name, flags in (("syn_ack", syn_ack), ("rst_ack", rst_ack), ("bare_ack", ack)):
        tcp = tcp_header(80, 40000, 12345, 0x12345679, flags, mss if flags == syn_ack else b"")
        seeds["v4_" + name] = b"\x00" + ipv4_header(len(tcp), backend, us) + tcp
        seeds["v6_" + name] = b"\x01" + tcp
    tcp = tcp_header(80, 40000, 1, 0, syn_ack)
    seeds["v4_ip_options"] = b"\x00" + ipv4_header(len(tcp), backend, us, ihl=8) + tcp
    seeds["v4_fragment"] = b"\x00" + ipv4_header(len(tcp), backend, us, frag=0x2000) + tcp
    seeds["v4_padded"] = b"\x00" + ipv4_header(len(tcp), backend, us) + tcp + bytes(6)
    for name, data in seeds.items():
        put("health_syn", name, data)
    return len(seeds)


def main():
    counts = {"pkt": pkt_seeds(), "conf": conf_seeds(), "agent": agent_seeds(), "ctl": ctl_seeds(),
              "chan": chan_seeds(), "publish": publish_seeds(), "health_syn": health_syn_seeds()}
    for harness, n in counts.items():
        print("%s: %d seeds" % (harness, n))


if __name__ == "__main__":
    sys.exit(main())
