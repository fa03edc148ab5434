#!/usr/bin/env python3
"""tests/e2e/ipip_decap.py: a user-space IPIP decapsulator for a TUN-mode real server.

With --ipv6 it decapsulates IPv6-in-IPv6 instead (RFC 2473, next header 41: rvs's TUN over
IPv6; this kernel has no ip6_tunnel either): an AF_INET6 raw socket of protocol 41 receives
the inner packet without the outer header, and the TUN device takes it as IPv6 (by its
version nibble). --inner-proto picks the inner family across families (rvs's TUN between
an IPv4 service and an IPv6 real server, or the other way round): `--ipv6 --inner-proto 4`
takes IPv4-in-IPv6, `--inner-proto 41` without --ipv6 IPv6-in-IPv4 (6in4).

This machine's kernel has no ipip module, so a real server behind an rvs director in TUN
mode (`rvsadm -a ... -i`) cannot decapsulate IP-in-IP itself.  This script does it:

  * a raw socket, socket(AF_INET, SOCK_RAW, IPPROTO_IPIP), receives every IPIP packet
    addressed to this host, reassembled, with its outer IP header;
  * a TUN device (IFF_TUN | IFF_NO_PI, named on the command line) is created and set up;
  * each packet's inner IP packet (the outer header stripped by its IHL) is written into the
    TUN device, so the kernel receives it as if it had arrived on that device.

The host must hold the VIP (on lo) so the inner packet (destination VIP) is local, and must
not drop it for arriving on an unexpected device: rp_filter=0 for "all", "default" and the
TUN device (this script sets the device's own and, with --sysctl, all and default).  The
host's TCP stack then answers the client directly, from the VIP, through its default route.

    ip netns exec NS python3 ipip_decap.py tunl-rvs [--sysctl] [--max-seconds N]

Bounded: exits on SIGTERM/SIGINT, or after --max-seconds (default 3600).  On exit it logs
its counts to stderr: received, written, and each kind of packet it dropped.
"""

import argparse
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IPPROTO_IPIP = 4
IPPROTO_IPV6 = 41


def log(msg):
    sys.stderr.write("ipip_decap: %s\n" % msg)
    sys.stderr.flush()


def set_sysctl(path, value):
    with open(path, "w") as f:
        f.write(value)


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI)
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    return fd


class Stop(Exception):
    """Raised by the signal handler: a flag alone would wait out select()'s timeout."""


def decap_loop(raw, tun, tun_name, counts, deadline):
    """Moves packets until the deadline; returns why it stopped."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "max-seconds"
        ready, _, _ = select.select([raw], [], [], min(left, 1.0))
        if not ready:
            continue
        while True:   # drain what is queued without blocking
            try:
                pkt = raw.recv(65535, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            counts["received"] += 1
            if raw.family == socket.AF_INET6:
                # An IPv6 raw socket hands over the payload alone: the inner packet.
                write_inner(tun, tun_name, pkt, counts)
                continue
            if len(pkt) < 20:
                counts["drop-short"] += 1
                continue
            if pkt[0] >> 4 != 4:
                counts["drop-not-ipv4"] += 1
                continue
            # strip the outer header by its IHL
            write_inner(tun, tun_name, pkt[(pkt[0] & 0x0F) * 4:], counts)


def write_inner(tun, tun_name, inner, counts):
    """Write the inner IPv4 or IPv6 packet into the TUN device, cut to the length its header
    gives (any trailing padding dropped); counted as written, bytes, or dropped."""
    version = inner[0] >> 4 if inner else 0
    if version == 4 and len(inner) >= 20:
        tot = struct.unpack("!H", inner[2:4])[0]
        ok = 20 <= tot <= len(inner)
    elif version == 6 and len(inner) >= 40:
        tot = 40 + struct.unpack("!H", inner[4:6])[0]
        ok = tot <= len(inner)
    else:
        ok = False
    if not ok:
        counts["drop-inner-bad"] += 1
        return
    try:
        os.write(tun, inner[:tot])
    except OSError as e:
        counts["drop-write"] += 1
        if counts["drop-write"] <= 5:
            log("write to %s failed: %s" % (tun_name, e))
        return
    counts["written"] += 1
    counts["bytes"] += tot


def stop_on_signals():
    """SIGTERM, SIGINT and SIGHUP raise Stop; the returned dict then names the signal."""
    why = {"signal": None}

    def on_signal(signum, _frame):
        why["signal"] = signal.Signals(signum).name
        raise Stop()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    return why


def tun_up(name, all_rp_filter):
    """The TUN device NAME created and up, its rp_filter (and with all_rp_filter, all and
    default) off: the inner packets arrive on it from clients routed elsewhere."""
    tun = open_tun(name)
    subprocess.run(["ip", "link", "set", "dev", name, "up"], check=True)
    if all_rp_filter:
        set_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter", "0")
        set_sysctl("/proc/sys/net/ipv4/conf/default/rp_filter", "0")
    set_sysctl("/proc/sys/net/ipv4/conf/%s/rp_filter" % name, "0")
    return tun


def main():
    ap = argparse.ArgumentParser(description="user-space IPIP decapsulator into a TUN device")
    ap.add_argument("tun", help="name of the TUN device to create (at most 15 characters)")
    ap.add_argument("--sysctl", action="store_true",
                    help="also set net.ipv4.conf.{all,default}.rp_filter=0")
    ap.add_argument("--ipv6", action="store_true", help="decapsulate IPv6-in-IPv6 (next header 41)")
    ap.add_argument("--inner-proto", type=int, choices=(IPPROTO_IPIP, IPPROTO_IPV6),
                    help="the outer header's protocol: 4 (inner IPv4) or 41 (inner IPv6); "
                         "default 41 with --ipv6, else 4")
    ap.add_argument("--max-seconds", type=float, default=3600.0,
                    help="exit after this many seconds (default 3600)")
    args = ap.parse_args()
    if not 0 < len(args.tun) <= 15:
        ap.error("TUN device name must be 1..15 characters")

    why = stop_on_signals()
    inner = args.inner_proto or (IPPROTO_IPV6 if args.ipv6 else IPPROTO_IPIP)
    raw = socket.socket(socket.AF_INET6 if args.ipv6 else socket.AF_INET, socket.SOCK_RAW, inner)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    tun = tun_up(args.tun, args.sysctl)
    kind = "%s-in-%s" % ("IPv6" if inner == IPPROTO_IPV6 else "IPv4", "IPv6" if args.ipv6 else "IPv4")
    log("decapsulating %s into %s (pid %d)" % (kind, args.tun, os.getpid()))

    counts = {"received": 0, "written": 0, "bytes": 0,
              "drop-short": 0, "drop-not-ipv4": 0, "drop-inner-bad": 0, "drop-write": 0}
    reason = "error"
    try:
        reason = decap_loop(raw, tun, args.tun, counts, time.monotonic() + args.max_seconds)
    except Stop:
        reason = why["signal"]
    finally:
        log("exiting (%s): %s" % (reason, " ".join("%s=%d" % kv for kv in counts.items())))
        os.close(tun)
        raw.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
