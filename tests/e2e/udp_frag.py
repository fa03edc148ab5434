#!/usr/bin/env python3
"""tests/e2e/udp_frag.py: the peers of test_frag.sh.

    udp_frag.py serve ADDR:PORT [ADDR:PORT...] [--max-seconds N]
        (ADDR may be IPv6, in brackets: [::]:7 serves both families.)
        A UDP echo server on each address: every datagram (up to 65,507 bytes) is sent back
        whole to its sender, from the address it came to (DR and TUN real servers bind the
        VIP itself, so the answer leaves from it).

    udp_frag.py ask HOST PORT SIZE COUNT [SRC]
        COUNT datagrams of SIZE random bytes to HOST:PORT, one at a time, each answer awaited
        (2 s, three tries) and compared by SHA-256; prints "SIZE intact N/COUNT" and exits 1
        unless every one came back intact.  The sender's kernel fragments what exceeds its
        link's MTU. SRC: the client address to send from.

    udp_frag.py bulk HOST PORT SIZE TOTAL
        TOTAL random bytes in datagrams of SIZE, one at a time, each echo awaited as by ask;
        prints "TOTAL bytes in N datagrams sha256 HEX intact" when the SHA-256 of everything
        that came back equals that of everything sent, and exits 1 otherwise.

    udp_frag.py bad HOST PORT SPORT
        Hand-made fragment sets (scapy, layer 3) from SPORT: a datagram whose second piece
        overlaps its first, a complete one with a piece sent twice, and two never completed
        (a first piece alone, a middle piece alone).  Prints what it sent.

Bounded: the server exits after --max-seconds (default 600) or on SIGTERM.
"""

import hashlib
import os
import select
import socket
import sys
import time


def family(host):
    """IPv6 for an address with a colon ([::] and 2001:db8::1 alike), else IPv4."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def serve(binds, max_seconds):
    socks = []
    for b in binds:
        host, port = b.rsplit(":", 1)
        host = host.strip("[]")
        s = socket.socket(family(host), socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((host, int(port)))
        socks.append(s)
    sys.stderr.write("udp_frag: serving %s\n" % " ".join(binds))
    sys.stderr.flush()
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select(socks, [], [], 1.0)
        for s in ready:
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)
            sys.stderr.write("udp_frag: %d bytes from %s:%d echoed\n" % (len(data), peer[0], peer[1]))
            sys.stderr.flush()


def exchange(s, data):
    """Send `data`, await its echo (2 s, three tries); the echo, or None."""
    for _try in range(3):
        s.send(data)
        try:
            return s.recv(65535)
        except socket.timeout:
            continue
    return None


def connected(host, port, src=None):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    s.connect((host, port))
    s.settimeout(2.0)
    return s


def ask(host, port, size, count, src=None):
    s = connected(host, port, src)
    ok = 0
    for _ in range(count):
        data = os.urandom(size)
        got = exchange(s, data)
        if got is not None and hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest():
            ok += 1
    print("%d intact %d/%d" % (size, ok, count))
    return 0 if ok == count else 1


def bulk(host, port, size, total):
    """TOTAL random bytes in datagrams of SIZE, one at a time, echoed; the SHA-256 of all
    that went against all that came back, in order."""
    s = connected(host, port)
    sent, back, n, left, lost = hashlib.sha256(), hashlib.sha256(), 0, total, 0
    while left > 0:
        data = os.urandom(min(size, left))
        got = exchange(s, data)
        sent.update(data)
        if got is None:
            lost += 1
        else:
            back.update(got)
        left -= len(data)
        n += 1
    same = sent.hexdigest() == back.hexdigest()
    print("%d bytes in %d datagrams sha256 %s %s" % (total, n, back.hexdigest(), "intact" if same else
                                                     "BAD (%d unanswered)" % lost))
    return 0 if same else 1


def bad(host, port, sport):
    from scapy.all import IP, UDP, Raw, send, conf  # noqa: E402  (scapy only where needed)
    conf.verb = 0
    udp = bytes(UDP(sport=sport, dport=port, len=8 + 2000, chksum=0)) + b"o" * 2000

    def piece(ident, off, data, more):
        return IP(dst=host, id=ident, flags="MF" if more else 0, frag=off // 8, proto=17) / Raw(data)

    sent = []
    # Overlap: bytes 0..1480, then 800..1600 (inside the first).
    send(piece(2001, 0, udp[:1480], True))
    send(piece(2001, 800, udp[800:1600], True))
    sent.append("overlap: 2 pieces")
    # Duplicate: the last piece (1480..2008) twice, then the first; the UDP checksum is the
    # whole datagram's, as scapy fills it for the packet unfragmented.
    whole = IP(dst=host, proto=17, id=2002) / UDP(sport=sport, dport=port) / Raw(b"d" * 2000)
    dup = bytes(whole[UDP])
    send(piece(2002, 1480, dup[1480:], False))
    send(piece(2002, 1480, dup[1480:], False))
    send(piece(2002, 0, dup[:1480], True))
    sent.append("duplicate: 3 pieces, one twice, completing")
    # Never completed: a first piece alone, and a middle piece alone.
    send(piece(2003, 0, udp[:1480], True))
    send(piece(2004, 1480, udp[1480:1480 + 504], True))
    sent.append("incomplete: 2 datagrams of 1 piece")
    print("; ".join(sent))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "serve":
        binds = [a for a in argv[2:] if not a.startswith("--")]
        secs = 600
        if "--max-seconds" in argv:
            secs = int(argv[argv.index("--max-seconds") + 1])
            binds = [b for b in binds if b != str(secs)]
        serve(binds, secs)
        return 0
    if len(argv) in (6, 7) and argv[1] == "ask":
        return ask(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), *argv[6:])
    if len(argv) == 6 and argv[1] == "bulk":
        return bulk(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    if len(argv) == 5 and argv[1] == "bad":
        return bad(argv[2], int(argv[3]), int(argv[4]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
