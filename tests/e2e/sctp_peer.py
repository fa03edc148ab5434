#!/usr/bin/env python3
"""A user-space SCTP endpoint (RFC 9260) over raw IP sockets, for the SCTP lab.

The kernel of the test machines has no SCTP (CONFIG_IP_SCTP is off: socket(AF_INET,
SOCK_STREAM, IPPROTO_SCTP) fails with EPROTONOSUPPORT, and socat's sctp with it), but raw
sockets of IP protocol 132 work: this script speaks the protocol itself. An association is
real: INIT, INIT ACK with a signed state cookie, COOKIE ECHO, COOKIE ACK; DATA and SACK both
ways; SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE; verification tags checked and CRC32c
computed on send and verified on receipt (bad ones are counted and ignored).

  server  --name rs1 --ports 3868,3869 [--refuse-port P] [--mtu N] [--max-seconds N]
      Answers every association to one of the ports on any local address (a NAT real
      server's own, a DR/TUN server's VIP), replying from the address it was reached at.
      Serves one request per association: "GET <bytes> <seed>" -> a message with its name,
      then <bytes> of data made from <seed> (go-back-N over a window of 16 DATA chunks).
      ICMP errors as a host sends them, quoting what it got (576 bytes at most, as Linux):
      a packet to --refuse-port gets port unreachable (RFC 9260 appendix C: an SCTP stack
      may take it as an ABORT), one longer than --mtu (DF set) fragmentation needed with
      that next-hop MTU. Every ICMP error about SCTP it receives is logged ("icmp ...").

  server  ... --ipv6
      The same over IPv6 (raw sockets of next header 132; --refuse-port and --mtu are
      IPv4's only).

  client  --to VIP --port 3868 --sport P --bytes N [--hold S] [--corrupt-first]
      (An IPv6 --to and --src speak SCTP over IPv6.)
      One association: request N bytes, check them against what the seed makes (SHA-256),
      hold the association open S seconds, shut it down. Prints
      "<server name> <bytes> <sha256> ok|BAD". Exit 0 only when every byte matched.
      --corrupt-first sends one INIT with a wrong CRC32c first (the director must drop it).

  client  ... --expect-icmp [--size N]
      Send an INIT (padded to N bytes of IP packet), expect an ICMP error quoting it and
      print it ("icmp TYPE/CODE mtu M from A to B quoting S:p > D:q crc ok|cut|BAD").

  client  ... --icmp-back
      Send an INIT, take the INIT ACK, answer it with fragmentation needed (MTU 1200)
      quoting it whole, as a router on the way back would; print "sent".

Everything is bounded: retries and --max-seconds.
"""
import argparse
import hashlib
import hmac
import os
import random
import select
import socket
import struct
import sys
import time

IPPROTO_SCTP = 132
ICMP_UNREACH, ICMP_PORT_UNREACH, ICMP_FRAG_NEEDED = 3, 3, 4
ICMP_QUOTE_MAX = 576 - 28  # RFC 1812 4.3.2.3, as Linux's icmp_send
PAD = 0x8005  # RFC 4820's padding parameter
IP_MTU_DISCOVER, IP_PMTUDISC_PROBE = 10, 3  # linux/in.h (Python names neither)
DATA, INIT, INIT_ACK, SACK, ABORT = 0, 1, 2, 3, 6
SHUTDOWN, SHUTDOWN_ACK, COOKIE_ECHO, COOKIE_ACK, SHUTDOWN_COMPLETE = 7, 8, 10, 11, 14
STATE_COOKIE = 7  # INIT ACK parameter
CHUNK_DATA_MAX = 1000
WINDOW = 16


def _crc_table():
    t = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _crc_table()


def crc32c(b):
    c = 0xFFFFFFFF
    t = CRC_TABLE
    for x in b:
        c = (c >> 8) ^ t[(c ^ x) & 0xFF]
    return c ^ 0xFFFFFFFF


def packet(sport, dport, vtag, chunks):
    """Common header and chunks (type, flags, value), each padded, with the CRC32c filled."""
    body = b""
    for kind, flags, value in chunks:
        c = struct.pack("!BBH", kind, flags, 4 + len(value)) + value
        body += c + b"\0" * (-len(c) % 4)
    head = struct.pack("!HHII", sport, dport, vtag, 0)
    crc = crc32c(head + body)
    return head[:8] + struct.pack("<I", crc) + body


def parse(seg):
    """(sport, dport, vtag, crc_ok, [(type, flags, value)]) or None if the chunk list lies."""
    if len(seg) < 16:
        return None
    sport, dport, vtag = struct.unpack("!HHI", seg[:8])
    (crc,) = struct.unpack("<I", seg[8:12])
    ok = crc32c(seg[:8] + b"\0\0\0\0" + seg[12:]) == crc
    chunks, at = [], 12
    while at < len(seg):
        if at + 4 > len(seg):
            return None
        kind, flags, ln = struct.unpack("!BBH", seg[at:at + 4])
        if ln < 4 or at + ln > len(seg):
            return None
        chunks.append((kind, flags, seg[at + 4:at + ln]))
        at += (ln + 3) & ~3
    return sport, dport, vtag, ok, chunks


class Raw:
    """A raw socket of protocol 132 to receive on, and one per source address to send from,
    each writing its own IP header: a reply comes from the address its request went to (a
    DR server's VIP), and the socket bound to that address makes the kernel route it as from
    there (a NAT server's policy routing by source)."""

    def __init__(self, ipv6=False):
        self.ipv6 = ipv6
        if ipv6:
            # An IPv6 raw socket hands over the payload alone: the addresses come from
            # recvmsg (the source) and IPV6_PKTINFO (the destination).
            self.s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_SCTP)
            self.s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else:
            self.s = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_SCTP)
        self.senders = {}
        self.bad_crc = 0

    def send(self, src, dst, seg):
        if self.ipv6:
            out = self.senders.get(src)
            if out is None:
                out = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_SCTP)
                out.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                out.bind((src, 0))
                self.senders[src] = out
            out.sendto(seg, (dst, 0))
            return
        out = self.senders.get(src)
        if out is None:
            out = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_SCTP)
            out.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            # The device's MTU, not a path MTU an ICMP error of the lab taught the kernel:
            # an oversized probe must leave (and draw its error again) in every case.
            out.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
            out.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            out.bind((src, 0))
            self.senders[src] = out
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0, 0x4000, 64, IPPROTO_SCTP, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
        out.sendto(ip + seg, (dst, 0))

    def recv(self, timeout, on_packet=None):
        """(src, dst, sport, dport, vtag, chunks) of the next sound packet, or None.
        `on_packet(pkt)` sees each packet first; when it returns true the packet is taken."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.s], [], [], left)[0]:
                return None
            if self.ipv6:
                seg, anc, _flags, addr = self.s.recvmsg(65535, 256)
                dst = next((socket.inet_ntop(socket.AF_INET6, d[:16]) for lvl, kind, d in anc
                            if lvl == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO), None)
                p = parse(seg)
                if p is None or dst is None:
                    continue
                if not p[3]:
                    self.bad_crc += 1
                    continue
                return addr[0], dst, p[0], p[1], p[2], p[4]
            pkt = self.s.recv(65535)
            if on_packet is not None and on_packet(pkt):
                continue
            ihl = (pkt[0] & 15) * 4
            p = parse(pkt[ihl:])
            if p is None:
                continue
            if not p[3]:
                self.bad_crc += 1
                continue
            src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
            return src, dst, p[0], p[1], p[2], p[4]


def icmp_socket():
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)


def inet_sum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def send_icmp_error(src, dst, kind, code, mtu, quoted):
    """An ICMP error from src to dst quoting `quoted` (an IP packet, cut to 548 bytes)."""
    msg = struct.pack("!BBHHH", kind, code, 0, 0, mtu) + quoted[:ICMP_QUOTE_MAX]
    msg = msg[:2] + struct.pack("!H", inet_sum(msg)) + msg[4:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.bind((src, 0))
    s.sendto(msg, (dst, 0))
    s.close()


def describe_icmp(pkt):
    """The ICMP error (with its IP header) about an SCTP packet, in words; or None."""
    ihl = (pkt[0] & 15) * 4
    m = pkt[ihl:]
    if len(m) < 8 + 20 + 8 or m[0] not in (3, 11) or inet_sum(m) != 0:
        return None
    q = m[8:]
    qihl = (q[0] & 15) * 4
    if q[9] != IPPROTO_SCTP or len(q) < qihl + 8:
        return None
    qlen = struct.unpack("!H", q[2:4])[0]
    seg = q[qihl:qlen] if len(q) >= qlen else None
    crc = "cut" if seg is None else ("ok" if parse(seg) and parse(seg)[3] else "BAD")
    qs, qd = struct.unpack("!HH", q[qihl:qihl + 4])
    return "icmp %d/%d mtu %d from %s to %s quoting %s:%d > %s:%d crc %s" % (
        m[0], m[1], struct.unpack("!H", m[6:8])[0], socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]),
        socket.inet_ntoa(q[12:16]), qs, socket.inet_ntoa(q[16:20]), qd, crc)


def payload(nbytes, seed):
    out, i = bytearray(), 0
    while len(out) < nbytes:
        out += hashlib.sha256(b"%s:%d" % (seed.encode(), i)).digest()
        i += 1
    return bytes(out[:nbytes])


def data_chunk(tsn, ssn, msg):
    # B and E set: each message is one unfragmented chunk on stream 0.
    return (DATA, 3, struct.pack("!IHHI", tsn, 0, ssn, 0) + msg)


def sack_chunk(cum):
    return (SACK, 0, struct.pack("!IIHH", cum, 1 << 20, 0, 0))


def init_value(tag, tsn):
    return struct.pack("!IIHHI", tag, 1 << 20, 1, 1, tsn)


# ------------------------------------------------------------------------------- server
class Assoc:
    def __init__(self, my_tag, peer_tag, my_tsn, peer_tsn):
        self.my_tag, self.peer_tag = my_tag, peer_tag
        self.next_tsn = my_tsn          # our next new TSN
        self.acked = my_tsn - 1         # peer's cumulative ack of ours
        self.peer_cum = peer_tsn - 1    # last in-order TSN from the peer
        self.out = []                   # (tsn, message) sent or to send
        self.sent_upto = 0              # index into out of the next to send
        self.last_progress = time.monotonic()
        self.ssn = 0
        self.closing = None             # when SHUTDOWN ACK went out


def serve(args):
    raw = Raw(args.ipv6)
    secret = os.urandom(16)
    ports = {int(p) for p in args.ports.split(",")}
    assocs = {}
    end = time.monotonic() + args.max_seconds
    served = 0
    icmp = icmp_socket()
    print("serving on ports %s" % sorted(ports), flush=True)

    def refuse(pkt):
        """ICMP errors a host sends about what it got, instead of taking it."""
        ihl = (pkt[0] & 15) * 4
        if len(pkt) < ihl + 4:
            return False
        src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
        dport = struct.unpack("!H", pkt[ihl + 2:ihl + 4])[0]
        if args.mtu and len(pkt) > args.mtu and pkt[6] & 0x40:
            send_icmp_error(dst, src, ICMP_UNREACH, ICMP_FRAG_NEEDED, args.mtu, pkt)
        elif dport == args.refuse_port:
            send_icmp_error(dst, src, ICMP_UNREACH, ICMP_PORT_UNREACH, 0, pkt)
        else:
            return False
        return True

    def reply(key, vtag, chunks):
        src, dst, sport, dport = key
        raw.send(dst, src, packet(dport, sport, vtag, chunks))

    def pump(a, key):
        now = time.monotonic()
        # Go-back-N: nothing acknowledged for 300 ms, send again from the first unacked.
        # TSNs run on from the first message's: the first unacknowledged is found by arithmetic
        # (a search of the list at every turn made a 20 MB transfer quadratic).
        first_unacked = min(max(a.acked + 1 - a.out[0][0], 0), len(a.out)) if a.out else 0
        if a.sent_upto > first_unacked and now - a.last_progress > 0.3:
            a.sent_upto = first_unacked
            a.last_progress = now
        while a.sent_upto < len(a.out) and a.sent_upto - first_unacked < WINDOW:
            tsn, msg = a.out[a.sent_upto]
            reply(key, a.peer_tag, [data_chunk(tsn, (tsn - a.out[0][0]) & 0xFFFF, msg)])
            a.sent_upto += 1

    while time.monotonic() < end:
        while select.select([icmp], [], [], 0)[0]:
            said = describe_icmp(icmp.recv(65535))
            if said:
                print(said, flush=True)
        got = raw.recv(0.05, refuse)
        if got is not None:
            src, dst, sport, dport, vtag, chunks = got
            key = (src, dst, sport, dport)
            if dport not in ports:
                continue
            a = assocs.get(key)
            for kind, _flags, value in chunks:
                if kind == INIT and vtag == 0 and len(value) >= 16:
                    peer_tag, _rwnd, _os, _mis, peer_tsn = struct.unpack("!IIHHI", value[:16])
                    my_tag, my_tsn = random.getrandbits(32) | 1, random.getrandbits(31) + 1
                    state = struct.pack("!IIII", peer_tag, peer_tsn, my_tag, my_tsn)
                    cookie = state + hmac.new(secret, state, "sha256").digest()[:16]
                    param = struct.pack("!HH", STATE_COOKIE, 4 + len(cookie)) + cookie
                    reply(key, peer_tag, [(INIT_ACK, 0, init_value(my_tag, my_tsn) + param)])
                elif kind == COOKIE_ECHO and len(value) == 32:
                    state, mac = value[:16], value[16:]
                    if not hmac.compare_digest(mac, hmac.new(secret, state, "sha256").digest()[:16]):
                        continue
                    peer_tag, peer_tsn, my_tag, my_tsn = struct.unpack("!IIII", state)
                    if vtag != my_tag:
                        continue
                    if a is None:
                        a = assocs[key] = Assoc(my_tag, peer_tag, my_tsn, peer_tsn)
                    reply(key, a.peer_tag, [(COOKIE_ACK, 0, b"")])
                elif a is None or vtag != a.my_tag:
                    continue
                elif kind == DATA and len(value) >= 12:
                    tsn = struct.unpack("!I", value[:4])[0]
                    if tsn == a.peer_cum + 1:
                        a.peer_cum = tsn
                        words = value[12:].split()
                        if len(words) == 3 and words[0] == b"GET" and not a.out:
                            body = payload(int(words[1]), words[2].decode())
                            msgs = [args.name.encode()] + [body[i:i + CHUNK_DATA_MAX]
                                                          for i in range(0, len(body), CHUNK_DATA_MAX)]
                            for m in msgs:
                                a.out.append((a.next_tsn, m))
                                a.next_tsn += 1
                    reply(key, a.peer_tag, [sack_chunk(a.peer_cum)])
                elif kind == SACK and len(value) >= 4:
                    cum = struct.unpack("!I", value[:4])[0]
                    if cum > a.acked:
                        a.acked = cum
                        a.last_progress = time.monotonic()
                elif kind == SHUTDOWN:
                    a.closing = a.closing or time.monotonic()
                    reply(key, a.peer_tag, [(SHUTDOWN_ACK, 0, b"")])
                elif kind in (SHUTDOWN_COMPLETE, ABORT):
                    served += kind == SHUTDOWN_COMPLETE
                    print("association %s:%d done (%s)" % (src, sport, "complete" if kind == SHUTDOWN_COMPLETE
                                                              else "aborted"), flush=True)
                    assocs.pop(key, None)
                    a = None
        for key, a in list(assocs.items()):
            if a.closing and time.monotonic() - a.closing > 5:
                assocs.pop(key)
            elif not a.closing:
                pump(a, key)
    print("served %d associations, %d bad CRCs ignored" % (served, raw.bad_crc), flush=True)


# ------------------------------------------------------------------------------- client
def client(args):
    raw = Raw(":" in args.to)
    me, vip, vport, sport = args.src, args.to, args.port, args.sport
    my_tag, my_tsn = random.getrandbits(32) | 1, random.getrandbits(31) + 1

    def ask(vtag, chunks, want, tries=5, wait=1.0):
        """Send, until a packet from the service with one of the `want` chunk types comes."""
        for _ in range(tries):
            raw.send(me, vip, packet(sport, vport, vtag, chunks))
            end = time.monotonic() + wait
            while time.monotonic() < end:
                got = raw.recv(end - time.monotonic())
                if got is None:
                    break
                src, _dst, gsport, gdport, gtag, gchunks = got
                if (src, gsport, gdport) != (vip, vport, sport) or gtag != my_tag:
                    continue
                for c in gchunks:
                    if c[0] in want:
                        return c
        sys.exit("client: no answer with chunk %s after %d tries" % (want, tries))

    if args.expect_icmp or args.icmp_back:
        return icmp_probe(args, raw, my_tag, my_tsn)
    if args.corrupt_first:
        bad = bytearray(packet(sport, vport, 0, [(INIT, 0, init_value(my_tag, my_tsn))]))
        bad[8] ^= 0xFF
        raw.send(me, vip, bytes(bad))
        time.sleep(0.2)
    _, _, value = ask(0, [(INIT, 0, init_value(my_tag, my_tsn))], {INIT_ACK})
    peer_tag, _rwnd, _os, _mis, peer_tsn = struct.unpack("!IIHHI", value[:16])
    cookie, at = None, 16
    while at + 4 <= len(value):
        ptype, plen = struct.unpack("!HH", value[at:at + 4])
        if plen < 4:
            break
        if ptype == STATE_COOKIE:
            cookie = value[at + 4:at + plen]
        at += (plen + 3) & ~3
    if cookie is None:
        sys.exit("client: INIT ACK without a state cookie")
    ask(peer_tag, [(COOKIE_ECHO, 0, cookie)], {COOKIE_ACK})
    request = b"GET %d %s" % (args.bytes, args.seed.encode())
    ask(peer_tag, [data_chunk(my_tsn, 0, request)], {SACK})

    # Receive the server's messages in order, acknowledging each packet.
    expected_tsn, messages, need, have = peer_tsn, [], None, 0
    deadline = time.monotonic() + args.max_seconds
    while need is None or have < need:
        if time.monotonic() > deadline:
            sys.exit("client: transfer incomplete after %ds" % args.max_seconds)
        got = raw.recv(1.0)
        if got is None:
            continue
        src, _dst, gsport, gdport, gtag, gchunks = got
        if (src, gsport, gdport) != (vip, vport, sport) or gtag != my_tag:
            continue
        for kind, _flags, value in gchunks:
            if kind == DATA and len(value) >= 12:
                tsn = struct.unpack("!I", value[:4])[0]
                if tsn == expected_tsn:
                    messages.append(value[12:])
                    expected_tsn += 1
                    if need is None:
                        need = args.bytes
                    else:
                        have += len(value) - 12
        raw.send(me, vip, packet(sport, vport, peer_tag, [sack_chunk(expected_tsn - 1)]))
    if args.hold:
        time.sleep(args.hold)
    ask(peer_tag, [(SHUTDOWN, 0, struct.pack("!I", expected_tsn - 1))], {SHUTDOWN_ACK})
    raw.send(me, vip, packet(sport, vport, peer_tag, [(SHUTDOWN_COMPLETE, 0, b"")]))
    body = b"".join(messages[1:])
    digest = hashlib.sha256(body).hexdigest()
    good = body == payload(args.bytes, args.seed)
    print("%s %d %s %s" % (messages[0].decode(), len(body), digest, "ok" if good else "BAD"), flush=True)
    sys.exit(0 if good else 1)


def icmp_probe(args, raw, my_tag, my_tsn):
    """--expect-icmp and --icmp-back: see the module's docstring."""
    me, vip, vport, sport = args.src, args.to, args.port, args.sport
    value = init_value(my_tag, my_tsn)
    pad = max(0, args.size - 20 - 12 - 4 - len(value) - 4)
    if pad:
        value += struct.pack("!HH", PAD, 4 + pad) + b"\0" * pad
    init = packet(sport, vport, 0, [(INIT, 0, value)])
    icmp = icmp_socket()
    want = " quoting %s:%d > %s:%d " % (me, sport, vip, vport)
    for _ in range(3):
        raw.send(me, vip, init)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            if args.icmp_back:
                init_ack = []

                def take_init_ack(pkt):
                    ihl = (pkt[0] & 15) * 4
                    p = parse(pkt[ihl:])
                    if p and socket.inet_ntoa(pkt[12:16]) == vip and p[:2] == (vport, sport) \
                            and any(c[0] == INIT_ACK for c in p[4]):
                        init_ack.append(pkt)
                        return False
                    return True

                raw.recv(end - time.monotonic(), take_init_ack)
                if init_ack:
                    send_icmp_error(me, vip, ICMP_UNREACH, ICMP_FRAG_NEEDED, 1200, init_ack[0])
                    print("sent", flush=True)
                    return
                continue
            if not select.select([icmp], [], [], end - time.monotonic())[0]:
                break
            said = describe_icmp(icmp.recv(65535))
            if said and want in said:
                print(said, flush=True)
                return
    sys.exit("client: no %s" % ("INIT ACK" if args.icmp_back else "ICMP error quoting the INIT"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--name", required=True)
    s.add_argument("--ports", required=True)
    s.add_argument("--max-seconds", type=float, default=600)
    s.add_argument("--refuse-port", type=int, default=0)
    s.add_argument("--mtu", type=int, default=0)
    s.add_argument("--ipv6", action="store_true", help="serve SCTP over IPv6 (ICMP parts stay IPv4's)")
    c = sub.add_parser("client")
    c.add_argument("--src", required=True)
    c.add_argument("--to", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--sport", type=int, required=True)
    c.add_argument("--bytes", type=int, default=1000)
    c.add_argument("--seed", default="rvs")
    c.add_argument("--hold", type=float, default=0)
    c.add_argument("--corrupt-first", action="store_true")
    c.add_argument("--max-seconds", type=float, default=60)
    c.add_argument("--expect-icmp", action="store_true")
    c.add_argument("--icmp-back", action="store_true")
    c.add_argument("--size", type=int, default=0)
    a = ap.parse_args()
    serve(a) if a.role == "server" else client(a)


if __name__ == "__main__":
    main()
