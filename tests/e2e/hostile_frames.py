#!/usr/bin/env python3
"""tests/e2e/hostile_frames.py: malformed and unusual frames for the rvs director.

Runs inside a test namespace (the client), writes raw Ethernet frames with an AF_PACKET
socket on IFACE, addressed to the director's MAC.  Every IPv4 address is checked to lie in
198.18.0.0/15 (the benchmarking range); IPv6 frames use 2001:2::/48 (its IPv6 twin).
Everything is bounded: --count frames at most AND --duration seconds at most, at --rate
frames per second at most.

Modes:
  hostile   (default) cycle through the hostile kinds (--kinds to choose), --count/--duration
  once      send every chosen kind --repeat times (exact accounting), at --rate
  synflood  TCP SYNs to --vip:--port from random sources in --flood-net (inside 198.18.0.0/15);
            --sequential takes the sources in order instead (each address once per pass)
  spoofreply  TCP RSTs that pretend to be a real server's reply: from --reply-src ADDR:PORT to
            --reply-dst ADDR:PORT, sent from the client side to the director's MAC; each one's
            sequence number is taken from the last segment the client got from --vip, so it
            would land in the client's window
  list      print "KIND COUNTER" (the rvs counter each kind should raise, "-" for none)

At the end it prints one line per kind: "sent KIND N" (and "skipped KIND reason").
"""
import argparse
import ipaddress
import os
import random
import socket
import struct
import sys
import time

from flood_frames import csum  # the Internet checksum, shared with the flood generator
from scapy.all import (ARP, ICMP, IP, IPv6, ICMPv6EchoRequest, TCP, UDP, Dot1Q, Ether, IPOption_NOP, Raw,
                       raw)

BENCH4 = ipaddress.ip_network("198.18.0.0/15")
BENCH6 = ipaddress.ip_network("2001:2::/48")


def check4(*addrs):
    for a in addrs:
        if ipaddress.ip_address(a) not in BENCH4:
            sys.exit(f"hostile_frames: {a} is outside 198.18.0.0/15: refusing")




_IDENTS = iter(range(1 << 30))
# From the clock: runs a few seconds apart (a test's cases) start thousands apart.
_IDENT_BASE = int(time.time() * 1000)


def next_ident():
    """A new IP identification per call, so no two crafted pieces share a datagram."""
    return (_IDENT_BASE + next(_IDENTS)) % 65536


def ip_hdr(src, dst, proto, payload_len, ihl=5, ttl=64, flags_frag=0, version=4, total=None,
           options=b"", bad_csum=False, ident=0x4242):
    check4(src, dst)
    tot = total if total is not None else ihl * 4 + payload_len
    h = struct.pack("!BBHHHBBH4s4s", (version << 4) | (ihl & 0xF), 0, tot & 0xFFFF, ident,
                    flags_frag, ttl, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    h += options
    c = csum(h[: max(20, min(len(h), ihl * 4))])
    if bad_csum:
        c ^= 0x5A5A
    return h[:10] + struct.pack("!H", c) + h[12:]


def tcp_doff(sport, dport, doff):
    """A bare 20-byte TCP SYN header whose data offset field says `doff` words."""
    return struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, (doff & 0xF) << 4, 0x02, 64240, 0, 0)


def udp_lying(sport, dport, payload, length):
    """A UDP datagram whose length field says `length` (checksum 0: none, legal in IPv4)."""
    return struct.pack("!HHHH", sport, dport, length & 0xFFFF, 0) + payload


class Builder:
    def __init__(a, args, my_mac, mtu):
        a.a = args
        a.dmac = args.dst_mac
        a.smac = my_mac
        a.mtu = mtu
        check4(args.src, args.vip, args.gw)

    def eth(a, etype, dst=None):
        d = bytes.fromhex((dst or a.dmac).replace(":", ""))
        return d + bytes.fromhex(a.smac.replace(":", "")) + struct.pack("!H", etype)

    def ip4(a, payload, proto, **kw):
        dst = kw.pop("dst", a.a.vip)
        return a.eth(0x0800) + ip_hdr(a.a.src, dst, proto, len(payload), **kw) + payload

    def tcp(a, sport, dport, flags="S", bad=False, dst=None, src=None, ttl=64):
        pkt = IP(src=src or a.a.src, dst=dst or a.a.vip, ttl=ttl) / TCP(sport=sport, dport=dport, flags=flags, seq=1000)
        b = bytearray(raw(pkt))
        if bad:
            b[20 + 16] ^= 0x5A
        return a.eth(0x0800) + bytes(b)

    # kind -> (builder, counter rvs should raise or "-")
    def kinds(a):
        v, s = a.a.vip, a.a.src
        tcp_syn = raw(TCP(sport=40001, dport=a.a.port, flags="S"))
        udp9 = raw(UDP(sport=40002, dport=9) / Raw(b"hostile"))
        k = {}
        k["eth-truncated"] = (lambda: a.eth(0x0800)[:10], "drop-truncated-ethernet")
        k["eth-header-only"] = (lambda: a.eth(0x0800), "drop-ip-truncated")
        k["ip-truncated"] = (lambda: a.ip4(b"", 17)[:14 + 12], "drop-ip-truncated")
        k["ip-bad-version"] = (lambda: a.ip4(udp9, 17, version=6), "drop-ip-bad-version")
        k["ip-version-0"] = (lambda: a.ip4(udp9, 17, version=0), "drop-ip-bad-version")
        k["ip-ihl-4"] = (lambda: a.ip4(udp9, 17, ihl=4), "drop-ip-bad-header-length")
        k["ip-ihl-15-short"] = (lambda: a.ip4(b"\0" * 8, 17, ihl=15, total=60)[:14 + 40], "drop-ip-bad-header-length")
        k["ip-total-too-big"] = (lambda: a.ip4(udp9, 17, total=1400), "drop-ip-bad-total-length")
        k["ip-total-below-ihl"] = (lambda: a.ip4(udp9, 17, total=12), "drop-ip-bad-total-length")
        k["ip-bad-checksum"] = (lambda: a.ip4(udp9, 17, bad_csum=True), "drop-ip-bad-checksum")
        k["ip-options-nop"] = (lambda: a.eth(0x0800) + raw(IP(src=s, dst=v, options=[IPOption_NOP()] * 4) / UDP(sport=40003, dport=9) / Raw(b"opts")), "drop-no-service")
        k["ip-options-garbage"] = (lambda: a.ip4(udp9, 17, ihl=7, options=b"\x44\xff\x00\x01" + b"\x07\x03\x00\x00" ), "drop-no-service")
        # A piece before the last must carry a multiple of 8 bytes (20 and 15 here).
        k["frag-first"] = (lambda: a.ip4(tcp_syn, 6, flags_frag=0x2000), "drop-ip-fragment-bad")
        # Sound pieces of datagrams never completed (a new identification each): held, and
        # counted as drop-ip-fragment-timeout 5 s later.
        k["frag-later"] = (lambda: a.ip4(b"\0" * 64, 6, flags_frag=185, ident=next_ident()), "ip-fragments-held")
        k["frag-last"] = (lambda: a.ip4(b"\0" * 32, 17, flags_frag=0x0001, ident=next_ident()), "ip-fragments-held")
        k["frag-df-mf"] = (lambda: a.ip4(udp9, 17, flags_frag=0x6000), "drop-ip-fragment-bad")
        k["tcp-truncated"] = (lambda: a.ip4(tcp_syn[:10], 6), "drop-l4-truncated")
        k["tcp-bad-doff"] = (lambda: a.ip4(tcp_syn[:12] + bytes([0x40]) + tcp_syn[13:], 6), "drop-tcp-bad-data-offset")
        # L4 lengths that lie (issue 10, item 6): each would otherwise be forwarded and tracked.
        # Fixed source ports so a test can look for their (absent) connection entries.
        k["tcp-doff-15"] = (lambda: a.ip4(tcp_doff(40101, a.a.port, 15), 6), "drop-tcp-bad-data-offset")
        k["udp-len-300"] = (lambda: a.ip4(udp_lying(40102, a.a.udp_port, b"four", 300), 17), "drop-udp-bad-length")
        k["udp-len-0"] = (lambda: a.ip4(udp_lying(40103, a.a.udp_port, b"four", 0), 17), "drop-udp-bad-length")
        k["udp-truncated"] = (lambda: a.ip4(udp9[:4], 17), "drop-l4-truncated")
        k["icmp-truncated"] = (lambda: a.ip4(b"\x08\x00", 1), "drop-l4-truncated")
        k["icmp-bad-checksum"] = (lambda: a.eth(0x0800) + bytes(bytearray(raw(IP(src=s, dst=v) / ICMP(type=8, chksum=0x1234) / Raw(b"x" * 8)))), "drop-icmp-bad-checksum")
        k["icmp-timestamp"] = (lambda: a.eth(0x0800) + raw(IP(src=s, dst=v) / ICMP(type=13) / Raw(b"\0" * 12)), "drop-icmp-unhandled")
        k["ttl-1-syn"] = (lambda: a.tcp(40004, a.a.port, "S", ttl=1), "drop-ttl-exceeded")
        k["tcp-ack-no-conn"] = (lambda: a.tcp(random.randint(41000, 60000), a.a.port, "A"), "drop-tcp-not-syn-no-connection")
        k["tcp-fin-no-conn"] = (lambda: a.tcp(random.randint(41000, 60000), a.a.port, "F"), "drop-tcp-not-syn-no-connection")
        k["tcp-synack-no-conn"] = (lambda: a.tcp(random.randint(41000, 60000), a.a.port, "SA"), "drop-tcp-not-syn-no-connection")
        k["tcp-bad-checksum-ack"] = (lambda: a.tcp(random.randint(41000, 60000), a.a.port, "A", bad=True), "drop-tcp-not-syn-no-connection")
        k["udp-no-service"] = (lambda: a.ip4(udp9, 17), "drop-no-service")
        k["proto-gre"] = (lambda: a.ip4(b"\0" * 24, 47), "drop-other-ip-protocol")
        k["sctp-zero-chunk-length"] = (lambda: a.ip4(b"\0" * 32, 132), "drop-sctp-bad-chunk-length")
        k["proto-esp"] = (lambda: a.ip4(b"\0" * 32, 50), "drop-other-ip-protocol")
        k["proto-255"] = (lambda: a.ip4(b"\xff" * 16, 255), "drop-other-ip-protocol")
        k["vlan-ipv4"] = (lambda: a.eth(0x8100) + struct.pack("!HH", 100, 0x0800) + ip_hdr(s, v, 17, len(udp9)) + udp9, "drop-vlan-tagged")
        k["vlan-prio-0"] = (lambda: a.eth(0x8100) + struct.pack("!HH", 0, 0x0806) + b"\0" * 28, "drop-vlan-tagged")
        k["qinq"] = (lambda: a.eth(0x88A8) + struct.pack("!HH", 10, 0x8100) + b"\0" * 40, "drop-other-ethertype")
        k["ipv6-udp"] = (lambda: a.eth(0x86DD) + raw(IPv6(src="2001:db8:2::10", dst="2001:db8:2::100") / UDP(sport=40005, dport=80) / Raw(b"v6")), "drop-no-service")
        k["ipv6-gre"] = (lambda: a.eth(0x86DD) + raw(IPv6(src="2001:db8:2::10", dst="2001:db8:2::100", nh=47) / Raw(b"\0" * 8)), "drop-ipv6")
        k["ipv6-truncated"] = (lambda: a.eth(0x86DD) + b"\x60\0\0\0", "drop-ipv6-truncated")
        k["ipv6-bad-payload-length"] = (lambda: a.eth(0x86DD) + raw(IPv6(src="2001:db8:2::10", dst="2001:db8:2::100", plen=900) / UDP(sport=40006, dport=80)), "drop-ipv6-bad-payload-length")
        k["ipv6-bad-extension"] = (lambda: a.eth(0x86DD) + raw(IPv6(src="2001:db8:2::10", dst="2001:db8:2::100", nh=0) / Raw(b"\x11\x09" + b"\0" * 6)), "drop-ipv6-bad-extension-header")
        k["icmpv6-bad-checksum"] = (lambda: a.eth(0x86DD) + raw(IPv6(src="2001:db8:2::10", dst="2001:db8:2::100") / ICMPv6EchoRequest(cksum=0x1234)), "drop-icmpv6-bad-checksum")
        k["ethertype-0000"] = (lambda: a.eth(0x0000) + b"\0" * 46, "drop-other-ethertype")
        k["ethertype-1234"] = (lambda: a.eth(0x1234) + os.urandom(46), "drop-other-ethertype")
        k["ethertype-ffff"] = (lambda: a.eth(0xFFFF) + os.urandom(46), "drop-other-ethertype")
        k["ethertype-mpls"] = (lambda: a.eth(0x8847) + os.urandom(46), "drop-other-ethertype")
        k["not-our-mac"] = (lambda: a.eth(0x0800, dst="02:00:5e:12:34:56") + ip_hdr(s, v, 17, len(udp9)) + udp9, "drop-not-our-mac")
        k["ipv4-to-broadcast-mac"] = (lambda: a.eth(0x0800, dst="ff:ff:ff:ff:ff:ff") + ip_hdr(s, v, 17, len(udp9)) + udp9, "drop-not-our-mac")
        k["arp-truncated"] = (lambda: a.eth(0x0806) + b"\x00\x01\x08\x00\x06\x04", "drop-bad-arp")
        k["arp-bad-htype"] = (lambda: a.eth(0x0806) + raw(ARP(hwtype=7, op=1, psrc=s, pdst=a.a.gw)), "drop-bad-arp")
        k["random-garbage"] = (lambda: a.eth(0x0800) + os.urandom(random.randint(0, 120)), "-")
        big_payload = max(0, a.mtu - 28)
        k["oversize-udp"] = (lambda: a.eth(0x0800) + raw(IP(src=s, dst=v) / UDP(sport=40006, dport=9) / Raw(b"J" * big_payload)), "drop-no-service")
        k["oversize-9000"] = (lambda: a.eth(0x0800) + raw(IP(src=s, dst=v) / UDP(sport=40007, dport=9) / Raw(b"J" * 9000)), "drop-no-service")
        k["tcp-bad-checksum-syn"] = (lambda: a.tcp(40008, a.a.port, "S", bad=True), "-")
        k["udp-bad-checksum"] = (lambda: a.eth(0x0800) + bytes(bytearray(raw(IP(src=s, dst=v) / UDP(sport=40009, dport=9, chksum=0x1111) / Raw(b"x")))), "drop-no-service")
        return k


def iface_info(ifname):
    with open(f"/sys/class/net/{ifname}/address") as f:
        mac = f.read().strip()
    with open(f"/sys/class/net/{ifname}/mtu") as f:
        mtu = int(f.read())
    return mac, mtu


class Pacer:
    """At most `rate` frames a second, at most `count` frames, at most `duration` seconds."""

    def __init__(self, rate, count, duration):
        self.rate, self.count, self.deadline = rate, count, time.monotonic() + duration
        self.t0, self.n = time.monotonic(), 0

    def next(self):
        if self.n >= self.count:
            return False
        now = time.monotonic()
        if now >= self.deadline:
            return False
        due = self.t0 + self.n / self.rate
        if due > now:
            time.sleep(due - now)
        self.n += 1
        return True


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", nargs="?", default="hostile", choices=["hostile", "once", "synflood", "spoofreply", "list"])
    p.add_argument("--iface", default="eth0")
    p.add_argument("--dst-mac", help="the director's MAC (required to send)")
    p.add_argument("--src", default="198.18.0.10")
    p.add_argument("--vip", default="198.18.0.100")
    p.add_argument("--gw", default="198.18.0.1")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--udp-port", type=int, default=5353, help="UDP service port of the L4-length kinds")
    p.add_argument("--kinds", default="all", help="comma list of kinds, or all")
    p.add_argument("--count", type=int, default=10000, help="at most this many frames (hard cap 1000000)")
    p.add_argument("--duration", type=float, default=5.0, help="at most this many seconds (hard cap 600)")
    p.add_argument("--rate", type=float, default=2000.0, help="at most this many frames a second (hard cap 200000)")
    p.add_argument("--repeat", type=int, default=1, help="once: frames of each kind")
    p.add_argument("--flood-net", default="198.18.64.0/18", help="synflood: source network (inside 198.18.0.0/15)")
    p.add_argument("--sequential", action="store_true", help="synflood: sources in order, not random")
    p.add_argument("--reply-src", help="spoofreply: the real server's ADDR:PORT to pretend to be")
    p.add_argument("--reply-dst", help="spoofreply: the client's ADDR:PORT")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    a.count = min(a.count, 1_000_000)
    a.duration = min(a.duration, 600.0)
    a.rate = max(1.0, min(a.rate, 200_000.0))
    random.seed(a.seed)

    if a.mode == "list":
        b = Builder(a, "02:00:00:00:00:01", 1500)
        for name, (_, counter) in b.kinds().items():
            print(name, counter)
        return 0
    if not a.dst_mac:
        sys.exit("hostile_frames: --dst-mac is required")
    my_mac, mtu = iface_info(a.iface)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sent, skipped = {}, {}

    def send(name, frame):
        try:
            s.send(frame)
            sent[name] = sent.get(name, 0) + 1
            return True
        except OSError as e:
            skipped[name] = f"{e.strerror} ({len(frame)} bytes)"
            return False
        # ENOBUFS under load is a skipped frame, not a failure of the run

    if a.mode == "synflood":
        net = ipaddress.ip_network(a.flood_net)
        if not net.subnet_of(BENCH4):
            sys.exit(f"hostile_frames: --flood-net {net} is not inside 198.18.0.0/15")
        check4(a.vip)
        base = int(net.network_address)
        eth = bytes.fromhex(a.dst_mac.replace(":", "")) + bytes.fromhex(my_mac.replace(":", "")) + b"\x08\x00"
        vip = socket.inet_aton(a.vip)
        pacer = Pacer(a.rate, a.count, a.duration)
        while pacer.next():
            host = (pacer.n - 1) % (net.num_addresses - 2) + 1 if a.sequential else random.randrange(1, net.num_addresses - 1)
            src = struct.pack("!I", base + host)
            sport = random.randint(1024, 65535)
            tcp = struct.pack("!HHIIBBHHH", sport, a.port, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, random.getrandbits(16), 0x4000, 64, 6, 0, src, vip)
            ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
            pseudo = src + vip + struct.pack("!BBH", 0, 6, 20)
            tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
            if not send("syn", eth + ip + tcp):
                time.sleep(0.001)
    elif a.mode == "spoofreply":
        from scapy.all import sniff
        (rs, rsport), (cl, cport) = [(x.rsplit(":", 1)[0], int(x.rsplit(":", 1)[1])) for x in (a.reply_src, a.reply_dst)]
        check4(rs, cl, a.vip)
        eth = bytes.fromhex(a.dst_mac.replace(":", "")) + bytes.fromhex(my_mac.replace(":", "")) + b"\x08\x00"

        def from_vip(p):
            return p.haslayer(TCP) and p[IP].src == a.vip and p[IP].dst == cl and p[TCP].dport == cport

        pacer = Pacer(a.rate, a.count, a.duration)
        while pacer.next():
            got = sniff(iface=a.iface, count=1, timeout=0.5, lfilter=from_vip)
            seq = (got[0][TCP].seq + len(got[0][TCP].payload)) & 0xFFFFFFFF if got else 0
            send("spoof-reply-rst", eth + raw(IP(src=rs, dst=cl) / TCP(sport=rsport, dport=cport, flags="R", seq=seq)))
    else:
        b = Builder(a, my_mac, mtu)
        kinds = b.kinds()
        names = list(kinds) if a.kinds == "all" else a.kinds.split(",")
        for n in names:
            if n not in kinds:
                sys.exit(f"hostile_frames: unknown kind {n} (see: list)")
        if a.mode == "once":
            pacer = Pacer(a.rate, min(a.count, a.repeat * len(names)), a.duration)
            for _ in range(a.repeat):
                for n in names:
                    if not pacer.next():
                        break
                    send(n, kinds[n][0]())
        else:
            # prebuild a few variants of each kind (random ports, random bytes), then cycle
            frames = [(n, kinds[n][0]()) for _ in range(4) for n in names]
            pacer = Pacer(a.rate, a.count, a.duration)
            i = 0
            while pacer.next():
                n, f = frames[i % len(frames)]
                i += 1
                if n in skipped and n not in sent:
                    continue
                send(n, f)
    for n in sorted(sent):
        print("sent", n, sent[n])
    for n in sorted(skipped):
        print("skipped", n, skipped[n])
    return 0


if __name__ == "__main__":
    sys.exit(main())
