#!/usr/bin/env python3
"""tests/e2e/vlan_switch.py: an 802.1Q switch in user space for the VLAN lab.

The test kernels have no 8021q module (no VLAN devices, no bridge VLAN
filtering, no act_vlan), so the lab's switch is this: AF_PACKET sockets on a
trunk port and on access ports. A frame from an access port of VLAN v leaves
by the trunk with a tag of v (and by the other access ports of v when it is
broadcast or its destination was learnt there); a frame from the trunk tagged
v loses its tag and leaves by the access ports of v (the one its destination
was learnt on, else all). Untagged frames on the trunk and tags of no access
VLAN are dropped and counted.

The kernel takes a received frame's tag off into metadata before AF_PACKET
sees it (skb_vlan_untag, 8021q or not), so the tag is read from
PACKET_AUXDATA; one still in the bytes is read there.

    vlan_switch.py --trunk IF --access IF=VID [--access IF=VID ...] --max-seconds N

Prints "switching" once its sockets are open, and its counts at exit.
"""
import argparse
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 1 << 4
TPID = 0x8100
AUX = struct.Struct("IIIHHHH")  # struct tpacket_auxdata


def open_port(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((ifname, ETH_P_ALL))
    s.setblocking(False)
    return s


def receive(s):
    """(frame, vid or None), or None for a frame this port sent."""
    data, anc, _flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(AUX.size))
    if addr[2] == PACKET_OUTGOING:
        return None
    vid = None
    for level, kind, cdata in anc:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(cdata) >= AUX.size:
            status, _len, _snap, _mac, _net, tci, _tpid = AUX.unpack_from(cdata)
            if status & TP_STATUS_VLAN_VALID:
                vid = tci & 0x0FFF
    if vid is None and len(data) >= 18 and struct.unpack_from("!H", data, 12)[0] == TPID:
        vid = struct.unpack_from("!H", data, 14)[0] & 0x0FFF
        data = data[:12] + data[16:]
    return data, vid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trunk", required=True)
    ap.add_argument("--access", action="append", default=[], help="IF=VID")
    ap.add_argument("--max-seconds", type=float, required=True)
    a = ap.parse_args()
    trunk = open_port(a.trunk)
    access = {}  # socket -> (name, vid)
    for spec in a.access:
        name, vid = spec.split("=")
        access[open_port(name)] = (name, int(vid))
    learnt = {}  # (vid, mac) -> access socket
    counts = {"to-trunk": 0, "from-trunk": 0, "access-to-access": 0,
              "drop-trunk-untagged": 0, "drop-trunk-unknown-vid": 0, "drop-send": 0}
    print("switching", flush=True)
    end = time.monotonic() + a.max_seconds
    # A SIGTERM (the lab's cleanup, or the lab asking for the counts) ends the loop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def send(s, frame, what):
        try:
            s.send(frame)
            counts[what] += 1
        except OSError as e:
            counts["drop-send"] += 1
            print(f"send: {e} ({len(frame)} bytes)", file=sys.stderr, flush=True)

    try:
        switch(trunk, access, learnt, counts, end, send)
    finally:
        print(" ".join(f"{k}={n}" for k, n in counts.items()), flush=True)


def switch(trunk, access, learnt, counts, end, send):
    socks = [trunk] + list(access)
    while time.monotonic() < end:
        ready, _, _ = select.select(socks, [], [], 0.2)
        for s in ready:
            for _ in range(64):
                try:
                    got = receive(s)
                except BlockingIOError:
                    break
                if got is None:
                    continue
                frame, vid = got
                if len(frame) < 14:
                    continue
                dst, src = frame[0:6], frame[6:12]
                if s is trunk:
                    if vid is None:
                        counts["drop-trunk-untagged"] += 1
                        continue
                    outs = [p for p, (_, v) in access.items() if v == vid]
                    if not outs:
                        counts["drop-trunk-unknown-vid"] += 1
                        continue
                    known = learnt.get((vid, dst))
                    for p in [known] if known else outs:
                        send(p, frame, "from-trunk")
                    continue
                _, v = access[s]
                learnt[(v, src)] = s
                known = learnt.get((v, dst))
                if known is not None and known is not s:
                    send(known, frame, "access-to-access")
                    continue
                tagged = frame[:12] + struct.pack("!HH", TPID, v) + frame[12:]
                send(trunk, tagged, "to-trunk")
                if dst[0] & 1:
                    for p, (_, pv) in access.items():
                        if pv == v and p is not s:
                            send(p, frame, "access-to-access")


if __name__ == "__main__":
    main()
