#!/usr/bin/env python3
"""tests/e2e/flood_frames.py: spoofed-source floods (and a UDP echo server) for test_flood.sh.

Flood modes write raw Ethernet frames with an AF_PACKET socket on IFACE, addressed to the
director's MAC, from random sources in --flood-net (which must lie inside 198.18.0.0/15, as
must the VIP).  Each "unit" is one spoofed source and port; every mode is bounded by --count
units AND --duration seconds, at --rate units a second at most.

  udp          one UDP datagram per source to --vip:--port
  syn          one TCP SYN per source
  syn-finack   a SYN, then a FIN|ACK from the same source and port
  syn-ack      a SYN, then a bare ACK from the same source and port
  icmp         alternately an echo request to the VIP and a port-unreachable error quoting a
               VIP:--port -> source TCP segment (an ICMP error "towards a service")
  echo-server  (no flood) answer every datagram on --port with --reply, one process, no fork

A flood prints "sent MODE UNITS FRAMES" at the end.
"""
import argparse
import ipaddress
import random
import socket
import struct
import sys
import time

BENCH4 = ipaddress.ip_network("198.18.0.0/15")
MODES = ["udp", "syn", "syn-finack", "syn-ack", "icmp"]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), random.getrandbits(16), 0x4000, 64,
                    proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def tcp(src, dst, sport, dport, seq, ack, flags):
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(t))
    return t[:16] + struct.pack("!H", csum(pseudo + t)) + t[18:]


def udp(src, dst, sport, dport, data):
    u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    pseudo = src + dst + struct.pack("!BBH", 0, 17, len(u))
    c = csum(pseudo + u) or 0xFFFF
    return u[:6] + struct.pack("!H", c) + u[8:]


def icmp(kind, code, rest, body):
    m = struct.pack("!BBH", kind, code, 0) + rest + body
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def frames(mode, src, vip, port, i):
    """The frames (IP packets) of unit i from spoofed address src."""
    sport = random.randint(1024, 65535)
    seq = random.getrandbits(32)
    if mode == "udp":
        return [ip4(src, vip, 17, udp(src, vip, sport, port, b"flood"))]
    syn = ip4(src, vip, 6, tcp(src, vip, sport, port, seq, 0, 0x02))
    if mode == "syn":
        return [syn]
    if mode == "syn-finack":
        return [syn, ip4(src, vip, 6, tcp(src, vip, sport, port, seq + 1, random.getrandbits(32), 0x11))]
    if mode == "syn-ack":
        return [syn, ip4(src, vip, 6, tcp(src, vip, sport, port, seq + 1, random.getrandbits(32), 0x10))]
    if i % 2 == 0:
        return [ip4(src, vip, 1, icmp(8, 0, struct.pack("!HH", sport, i & 0xFFFF), b"flood" * 4))]
    quoted = ip4(vip, src, 6, tcp(vip, src, port, sport, seq, 0, 0x12))[:28]
    return [ip4(src, vip, 1, icmp(3, 3, b"\0\0\0\0", quoted))]


def echo_server(port, reply):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", port))
    while True:
        _, peer = s.recvfrom(2048)
        try:
            s.sendto(reply, peer)
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=MODES + ["echo-server"])
    p.add_argument("--iface", default="eth0")
    p.add_argument("--dst-mac", help="the director's MAC (floods)")
    p.add_argument("--vip", default="198.18.0.100")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--reply", default="echo", help="echo-server: the answer")
    p.add_argument("--count", type=int, default=2500, help="at most this many units (hard cap 100000)")
    p.add_argument("--duration", type=float, default=10.0, help="at most this many seconds (hard cap 60)")
    p.add_argument("--rate", type=float, default=5000.0, help="at most this many units a second")
    p.add_argument("--flood-net", default="198.18.64.0/18")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    if a.mode == "echo-server":
        echo_server(a.port, a.reply.encode() + b"\n")
        return 0
    count, duration, rate = min(a.count, 100_000), min(a.duration, 60.0), max(1.0, min(a.rate, 100_000.0))
    net = ipaddress.ip_network(a.flood_net)
    if not net.subnet_of(BENCH4) or ipaddress.ip_address(a.vip) not in BENCH4:
        sys.exit("flood_frames: --flood-net and --vip must lie inside 198.18.0.0/15")
    if not a.dst_mac:
        sys.exit("flood_frames: --dst-mac is required")
    random.seed(a.seed)
    with open(f"/sys/class/net/{a.iface}/address") as f:
        my_mac = f.read().strip()
    eth = bytes.fromhex(a.dst_mac.replace(":", "")) + bytes.fromhex(my_mac.replace(":", "")) + b"\x08\x00"
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    vip = socket.inet_aton(a.vip)
    base, span = int(net.network_address), net.num_addresses
    t0 = time.monotonic()
    deadline = t0 + duration
    units = sent = 0
    while units < count:
        now = time.monotonic()
        if now >= deadline:
            break
        due = t0 + units / rate
        if due > now:
            time.sleep(due - now)
        src = struct.pack("!I", base + random.randrange(1, span - 1))
        for f in frames(a.mode, src, vip, a.port, units):
            for _ in range(50):   # ENOBUFS: the queue is full for a moment; retry briefly
                try:
                    s.send(eth + f)
                    sent += 1
                    break
                except OSError:
                    time.sleep(0.001)
        units += 1
    print("sent", a.mode, units, sent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
