#!/usr/bin/env python3
"""tests/e2e/tun_decap.py: a user-space GUE or GRE decapsulator for a TUN-mode real server.

The GUE and GRE sisters of ipip_decap.py (whose TUN device set-up this reuses): this
machine's kernel has no fou and no gre module, so a real server of an rvs director with
`--tun-type gue|gre` cannot decapsulate in its kernel.  This script does:

  gue PORT  a UDP socket bound to PORT receives the datagrams (the kernel has checked a
            non-zero UDP checksum: a bad one is dropped and counted in Udp InCsumErrors);
            each must start with a GUE data header of version 0 with no options whose
            protocol is 4 (IPv4); the rest, the inner packet, goes into the TUN device.
            A raw UDP socket sees the same datagrams with their headers: it counts those
            sent with a checksum (csum) and without (zero).
  gre       a raw socket of IP protocol 47 receives each GRE packet with its outer header;
            the GRE header must be version 0, protocol 0x0800, no key, no sequence number;
            with the C bit its checksum (header and payload) is verified.

    ip netns exec NS python3 tun_decap.py DEV gue|gre [--port N] [--stats FILE] [--sysctl]
                                                    [--max-seconds N]

Bounded: exits on SIGTERM/SIGINT, or after --max-seconds.  Its counts (received, written,
with-csum, no-csum, and each kind of packet it dropped) go to --stats FILE as "name value"
lines (rewritten at most every 0.2 s while packets come, and at exit) and to stderr at exit.
"""

import argparse
import array
import os
import select
import socket
import struct
import sys
import time

from ipip_decap import Stop, log, stop_on_signals, tun_up, write_inner

IPPROTO_GRE = 47
GRE_CSUM = 0x8000


def inet_checksum(data):
    """The Internet checksum of data (RFC 1071): 0 when a checksum field in it is right."""
    if len(data) % 2:
        data += b"\0"
    words = array.array("H", data)
    if sys.byteorder == "little":
        words.byteswap()
    s = sum(words)
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def inner_of_gue(payload, counts):
    """The inner packet of a GUE datagram's payload, or None (counted)."""
    if len(payload) < 4:
        counts["drop-short"] += 1
        return None
    first, proto, flags = payload[0], payload[1], struct.unpack("!H", payload[2:4])[0]
    if first >> 6 != 0 or first & 0x20 or first & 0x1F or flags:
        counts["drop-gue-header"] += 1    # version, control, options or flags we do not take
        return None
    if proto != 4:
        counts["drop-gue-proto"] += 1
        return None
    return payload[4:]


def inner_of_gre(pkt, counts):
    """The inner packet of a GRE packet with its outer IPv4 header, or None (counted)."""
    ihl = (pkt[0] & 0x0F) * 4
    gre = pkt[ihl:]
    if len(gre) < 4:
        counts["drop-short"] += 1
        return None
    flags, proto = struct.unpack("!HH", gre[:4])
    if proto != 0x0800 or flags & ~GRE_CSUM:
        counts["drop-gre-header"] += 1    # key, sequence, version or a non-IPv4 payload
        return None
    if flags & GRE_CSUM:
        if len(gre) < 8 or inet_checksum(gre) != 0:
            counts["drop-gre-csum"] += 1
            return None
        counts["with-csum"] += 1
        return gre[8:]
    counts["no-csum"] += 1
    return gre[4:]


def count_udp_csum(pkt, port, counts):
    """A raw UDP socket's copy: with or without a checksum (the UDP socket decapsulates)."""
    ihl = (pkt[0] & 0x0F) * 4
    if len(pkt) < ihl + 8 or struct.unpack("!H", pkt[ihl + 2:ihl + 4])[0] != port:
        return
    csum = struct.unpack("!H", pkt[ihl + 6:ihl + 8])[0]
    counts["with-csum" if csum else "no-csum"] += 1


def write_stats(path, counts):
    if path:
        with open(path + ".tmp", "w") as f:
            f.write("".join("%s %d\n" % kv for kv in counts.items()))
        os.replace(path + ".tmp", path)


def loop(mode, port, socks, tun, counts, deadline, stats):
    main_sock, observer = socks
    written = 0.0
    while True:
        now = time.monotonic()
        left = deadline - now
        if left <= 0:
            return "max-seconds"
        if now - written >= 0.2:
            write_stats(stats, counts)
            written = now
        ready, _, _ = select.select([s for s in socks if s], [], [], min(left, 0.2))
        for s in ready:
            while True:
                try:
                    pkt = s.recv(65535, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                if s is observer:
                    count_udp_csum(pkt, port, counts)
                    continue
                counts["received"] += 1
                inner = inner_of_gue(pkt, counts) if mode == "gue" else inner_of_gre(pkt, counts)
                if inner is not None:
                    write_inner(tun, "tun", inner, counts)


def main():
    ap = argparse.ArgumentParser(description="user-space GUE/GRE decapsulator into a TUN device")
    ap.add_argument("tun", help="name of the TUN device to create (at most 15 characters)")
    ap.add_argument("mode", choices=["gue", "gre"])
    ap.add_argument("--port", type=int, default=0, help="gue: the UDP port to receive on")
    ap.add_argument("--sysctl", action="store_true",
                    help="also set net.ipv4.conf.{all,default}.rp_filter=0")
    ap.add_argument("--stats", help="file for the counts")
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    args = ap.parse_args()
    if not 0 < len(args.tun) <= 15:
        ap.error("TUN device name must be 1..15 characters")
    if args.mode == "gue" and not 0 < args.port < 65536:
        ap.error("gue needs --port 1..65535")

    why = stop_on_signals()
    if args.mode == "gue":
        main_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        main_sock.bind(("0.0.0.0", args.port))
        observer = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    else:
        main_sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_GRE)
        observer = None
    for s in (main_sock, observer):
        if s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    tun = tun_up(args.tun, args.sysctl)
    log("decapsulating %s into %s (pid %d)" % (args.mode, args.tun, os.getpid()))

    counts = {k: 0 for k in ("received", "written", "bytes", "with-csum", "no-csum", "drop-short",
                             "drop-gue-header", "drop-gue-proto", "drop-gre-header",
                             "drop-gre-csum", "drop-inner-bad", "drop-write")}
    reason = "error"
    try:
        reason = loop(args.mode, args.port, (main_sock, observer), tun, counts,
                      time.monotonic() + args.max_seconds, args.stats)
    except Stop:
        reason = why["signal"]
    finally:
        log("exiting (%s): %s" % (reason, " ".join("%s=%d" % kv for kv in counts.items())))
        write_stats(args.stats, counts)
        os.close(tun)
    return 0


if __name__ == "__main__":
    sys.exit(main())
