#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Sends malformed frames straight onto the balancer's wire with scapy.

  malformed.py IFACE DST_MAC VIP VIP6 REASON COUNT

REASON names the drop counter the frame must land in (bad_ihl, ...).
"""
import sys

from scapy.all import IP, TCP, Ether, IPv6, IPv6ExtHdrFragment, Raw, sendp, conf

conf.verb = 0
iface, dst_mac, vip, vip6, reason = sys.argv[1:6]
count = int(sys.argv[6])
client = "10.99.1.2"
eth = Ether(dst=dst_mac)


def frame():
    if reason == "truncated":
        return bytes(eth / IP(src=client, dst=vip) / TCP(dport=80))[:14 + 12]
    if reason == "bad_ip_version":
        raw = bytearray(bytes(eth / IP(src=client, dst=vip) / TCP(dport=80, flags="A")))
        raw[14] = (6 << 4) | 5
        return bytes(raw)
    if reason == "bad_ihl":
        return bytes(eth / IP(src=client, dst=vip, ihl=3) / TCP(dport=80))
    if reason == "bad_ip_length":
        return bytes(eth / IP(src=client, dst=vip, len=12) / TCP(dport=80))
    if reason == "bad_l4_length":
        return bytes(eth / IP(src=client, dst=vip) / TCP(dport=80, dataofs=15, flags="A"))
    if reason == "bad_tcp_flags":
        return bytes(eth / IP(src=client, dst=vip) / TCP(dport=80, flags="SF"))
    if reason == "bad_fragment":
        # A fragment at offset 8 bytes, over the TCP header's flags (RFC 1858).
        # IPv6: the kernel under af_packet would reassemble IPv4 fragments
        # before lb-dpdk sees them.
        return bytes(eth / IPv6(src="fd99:1::2", dst=vip6) /
                     IPv6ExtHdrFragment(nh=6, offset=1, m=1) / Raw(bytes(16)))
    if reason == "ttl_expired":
        return bytes(eth / IP(src=client, dst=vip, ttl=1) / TCP(dport=80, flags="A"))
    sys.exit("unknown reason " + reason)


sendp([Ether(frame())] * count, iface=iface)
