#!/usr/bin/env python3
"""tests/e2e/arp_probe.py: ARP from a raw AF_PACKET socket, for test_role.sh (no arping or
scapy on the test hosts).

  ask IFACE TARGET --sender IP [--count N] [--wait S]
      broadcast N who-has TARGET requests (0.2 s apart) and print "replies K MAC" (MAC of
      the first reply, or "-"); exit 0 if any reply came, 1 otherwise (like arping).
  listen IFACE IP --seconds S
      print "listening" once the socket is open, then count gratuitous ARPs for IP (sender
      IP == target IP == IP) for S seconds; print "garps K MAC FIRST_MS" (MAC of the first, ms from start to the first, or "-").

Every frame goes out of, or is read on, IFACE of the namespace it runs in; nothing else.
"""
import argparse
import ipaddress
import select
import socket
import struct
import sys
import time

ETH_P_ARP = 0x0806


def mac_str(b):
    return ":".join(f"{x:02x}" for x in b)


def parse_arp(frame):
    """(op, sha, spa, tpa) of an ARP frame, or None."""
    if len(frame) < 42 or struct.unpack("!H", frame[12:14])[0] != ETH_P_ARP:
        return None
    op = struct.unpack("!H", frame[20:22])[0]
    return op, frame[22:28], frame[28:32], frame[38:42]


def open_sock(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    s.bind((iface, 0))
    return s


def ask(a):
    s = open_sock(a.iface)
    my_mac = s.getsockname()[4][:6]
    target = ipaddress.IPv4Address(a.target).packed
    sender = ipaddress.IPv4Address(a.sender).packed
    req = (b"\xff" * 6 + my_mac + struct.pack("!H", ETH_P_ARP)
           + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + my_mac + sender + b"\x00" * 6 + target)
    replies, first = 0, "-"
    end = time.monotonic() + a.count * 0.2 + a.wait
    next_send, sent = time.monotonic(), 0
    while time.monotonic() < end:
        if sent < a.count and time.monotonic() >= next_send:
            s.send(req)
            sent += 1
            next_send += 0.2
        r, _, _ = select.select([s], [], [], 0.05)
        if not r:
            continue
        p = parse_arp(s.recv(2048))
        if p and p[0] == 2 and p[2] == target and p[3] == sender:
            replies += 1
            if first == "-":
                first = mac_str(p[1])
    print(f"replies {replies} {first}")
    return 0 if replies else 1


def listen(a):
    s = open_sock(a.iface)
    # The caller waits for this line before it makes anything announce: on a loaded machine
    # Python's start-up alone can outlast a fixed sleep, and GARPs sent before the socket
    # exists are never heard.
    print("listening", flush=True)
    ip = ipaddress.IPv4Address(a.ip).packed
    start = time.monotonic()
    end = start + a.seconds
    n, first_mac, first_ms = 0, "-", "-"
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.05)
        if not r:
            continue
        p = parse_arp(s.recv(2048))
        if p and p[2] == ip and p[3] == ip:
            n += 1
            if first_mac == "-":
                first_mac, first_ms = mac_str(p[1]), str(int((time.monotonic() - start) * 1000))
    print(f"garps {n} {first_mac} {first_ms}", flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    q = sub.add_parser("ask")
    q.add_argument("iface")
    q.add_argument("target")
    q.add_argument("--sender", required=True)
    q.add_argument("--count", type=int, default=3)
    q.add_argument("--wait", type=float, default=1.0)
    li = sub.add_parser("listen")
    li.add_argument("iface")
    li.add_argument("ip")
    li.add_argument("--seconds", type=float, required=True)
    a = ap.parse_args()
    for addr in [getattr(a, "target", None), getattr(a, "ip", None)]:
        if addr and ipaddress.IPv4Address(addr) not in ipaddress.IPv4Network("198.18.0.0/15"):
            sys.exit(f"{addr} is outside 198.18.0.0/15")
    if getattr(a, "count", 0) > 20 or getattr(a, "seconds", 0) > 30:
        sys.exit("bounded: at most 20 requests, 30 s")
    return ask(a) if a.mode == "ask" else listen(a)


if __name__ == "__main__":
    sys.exit(main())
