#!/usr/bin/env python3
"""An independent reader and writer of IPVS sync messages, written with
Python's struct over the layouts in Linux net/netfilter/ipvs/ip_vs_sync.c,
to cross-check rvs's codec (tests/sync_wire_python.rs).

  sync_wire_decode.py decode FILE...   print every message's entries
  sync_wire_decode.py build DIR        write kernel-format messages and the
                                       entries they hold (NAME.bin, NAME.expect)

Entry lines: "conn proto=.. caddr=A:P vaddr=A:P daddr=A:P fwd=.. laddr=A:P
state=.. inactive=0|1 timeout=S template=0|1 fwmark=N seq=..|- pe=name:hex|-"
and "skip REASON" for entries a kernel backup would skip.
"""
import os
import socket
import struct
import sys

HDR_V1 = struct.Struct("!BBHBbH")          # reserved, syncid, size, nr_conns, version, spare
HDR_V0 = struct.Struct("!BBH")             # nr_conns, syncid, size
ENTRY_V4 = struct.Struct("!BBHIHHHHII4s4s4s")  # struct ip_vs_sync_v4, 36 bytes
ENTRY_V6_LEN = 72
ENTRY_V0 = struct.Struct("!BBHHH4s4s4sHH")  # struct ip_vs_sync_conn_v0, 24 bytes
SEQ_BE = struct.Struct("!III")
SEQ_HOST = struct.Struct("<III")           # version 0: the sender's (x86) host order

F_FWD_MASK, F_LOCALNODE, F_TUNNEL, F_DROUTE, F_BYPASS = 0x7, 1, 2, 3, 4
F_NOOUTPUT, F_INACTIVE, F_SEQ_MASK, F_TEMPLATE = 0x80, 0x100, 0x600, 0x1000
F_SYNC, F_HASHED, F_NFCT = 0x20, 0x40, 1 << 16
OPT_SEQ, OPT_PE_DATA, OPT_PE_NAME, OPT_F_PARAM, OPT_RVS_FULLNAT = 1, 2, 3, 0x40, 0x30

TCP_STATES = ["NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT",
              "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK"]
# IP_VS_SCTP_S_* (ip_vs_proto_sctp.c's sctp_state_name_table).
SCTP_STATES = ["NONE", "INIT1", "INIT", "C-SENT", "C-REPLIED", "C-WAIT", "COOKIE", "C-ECHOED",
               "ESTABLISHED", "S-SENT", "S-RECEIVED", "S-ACK-SENT", "REJECTED", "CLOSED"]
FWD_NAMES = {0: "Masq", F_TUNNEL: "Tunnel", F_DROUTE: "Route"}


class Bad(Exception):
    pass


def addr(b):
    return socket.inet_ntoa(b)


def state_name(proto, state, template):
    if template:
        return "NONE"
    if proto == 6:
        return TCP_STATES[state] if state < len(TCP_STATES) else None
    if proto == 17:
        return "UDP" if state == 0 else None
    if proto == 132:
        return SCTP_STATES[state] if state < len(SCTP_STATES) else None
    return None


def line(proto, caddr, cport, vaddr, vport, daddr, dport, fwd, laddr, state, flags,
         timeout, fwmark, seq, pe):
    seq_s = "-" if seq is None else "%d,%d,%d/%d,%d,%d" % (seq[0] + seq[1])
    pe_s = "-" if pe is None else "%s:%s" % (pe[0].decode(), pe[1].hex())
    return ("conn proto=%d caddr=%s:%d vaddr=%s:%d daddr=%s:%d fwd=%s laddr=%s state=%s "
            "inactive=%d timeout=%d template=%d fwmark=%d seq=%s pe=%s") % (
        proto, caddr, cport, vaddr, vport, daddr, dport, fwd, laddr, state,
        1 if flags & F_INACTIVE else 0, timeout, 1 if flags & F_TEMPLATE else 0, fwmark, seq_s, pe_s)


def entry_v1(e):
    """One version 1 entry (its bytes, size from ver_size) -> line."""
    typ = e[0]
    if typ & 1:
        if len(e) < ENTRY_V6_LEN:
            raise Bad("entry size")
        return "skip sync-ipv6-entry"
    if typ != 0:
        raise Bad("entry type")
    if len(e) < ENTRY_V4.size:
        raise Bad("entry size")
    (_, proto, _, flags, state, cport, vport, dport, fwmark, timeout,
     caddr, vaddr, daddr) = ENTRY_V4.unpack_from(e)
    p = ENTRY_V4.size
    seq = pe_data = pe_name = fullnat = None
    unknown = False
    while p < len(e):
        if p + 2 > len(e):
            raise Bad("option header")
        ptype, plen = e[p], e[p + 1]
        data = e[p + 2:p + 2 + plen]
        if plen == 0 or len(data) != plen:
            raise Bad("option length")
        kind = ptype & ~OPT_F_PARAM
        if kind == OPT_SEQ:
            if plen != 24 or seq is not None:
                raise Bad("seq option")
            seq = (SEQ_BE.unpack_from(data, 0), SEQ_BE.unpack_from(data, 12))
        elif kind == OPT_PE_DATA:
            if pe_data is not None:
                raise Bad("pe data twice")
            pe_data = data
        elif kind == OPT_PE_NAME:
            if pe_name is not None or plen > 16:
                raise Bad("pe name")
            pe_name = data
        elif ptype == OPT_RVS_FULLNAT:
            if plen != 6 or fullnat is not None:
                raise Bad("fullnat option")
            fullnat = "%s:%d" % (addr(data[:4]), struct.unpack("!H", data[4:6])[0])
        elif not ptype & OPT_F_PARAM:
            unknown = True
        p += 2 + plen
    if unknown:
        return "skip sync-unknown-option"
    template = bool(flags & F_TEMPLATE)
    sname = state_name(proto, state, template)
    if sname is None:
        return "skip sync-unknown-protocol" if proto not in (6, 17, 132) else "skip sync-bad-state"
    if pe_data is not None and pe_name is None:
        return "skip sync-bad-pe"
    fwd = FWD_NAMES.get(flags & F_FWD_MASK)
    if fwd is None:
        return "skip sync-unsupported-method"
    laddr = "0.0.0.0:0"
    if fullnat is not None:
        if fwd != "Masq":
            raise Bad("fullnat on a non-masq entry")
        fwd, laddr = "FullNat", fullnat
    pe = (pe_name, pe_data) if pe_data is not None else None
    return line(proto, addr(caddr), cport, addr(vaddr), vport, addr(daddr), dport, fwd, laddr,
                sname, flags, timeout, fwmark, seq, pe)


def decode(buf):
    """-> (header line, entry lines); raises Bad where the kernel drops the message."""
    if len(buf) < HDR_V0.size:
        raise Bad("short header")
    nr0, syncid, size = HDR_V0.unpack_from(buf)
    if size != len(buf):
        raise Bad("size %d != %d" % (size, len(buf)))
    out = []
    if len(buf) >= HDR_V1.size and buf[0] == 0:
        reserved, syncid, size, nr, version, spare = HDR_V1.unpack_from(buf)
        if version != 1 or spare != 0:
            raise Bad("version")
        p = end = HDR_V1.size
        for _ in range(nr):
            if p + ENTRY_V4.size > len(buf):
                raise Bad("entry past the end")
            ver_size = struct.unpack_from("!H", buf, p + 2)[0]
            esize = ver_size & 0x0fff
            if ver_size >> 12:
                raise Bad("entry version")
            if p + esize > len(buf):
                raise Bad("entry size past the end")
            out.append(entry_v1(buf[p:p + esize]))
            end = p + esize
            p += (esize + 3) & ~3
        if len(buf) not in (end, p):
            raise Bad("trailing bytes")
        return "msg version=1 syncid=%d conns=%d" % (syncid, nr), out
    p = HDR_V0.size
    for _ in range(nr0):
        if p + ENTRY_V0.size > len(buf):
            raise Bad("v0 entry past the end")
        (_, proto, cport, vport, dport, caddr, vaddr, daddr, flags, state) = ENTRY_V0.unpack_from(buf, p)
        p += ENTRY_V0.size
        seq = None
        if flags & F_SEQ_MASK:
            if p + 24 > len(buf):
                raise Bad("v0 options past the end")
            seq = (SEQ_HOST.unpack_from(buf, p), SEQ_HOST.unpack_from(buf, p + 12))
            p += 24
        sname = state_name(proto, state, bool(flags & F_TEMPLATE))
        fwd = FWD_NAMES.get(flags & F_FWD_MASK)
        if sname is None:
            out.append("skip sync-unknown-protocol" if proto not in (6, 17, 132) else "skip sync-bad-state")
        elif fwd is None:
            out.append("skip sync-unsupported-method")
        else:
            out.append(line(proto, addr(caddr), cport, addr(vaddr), vport, addr(daddr), dport, fwd,
                            "0.0.0.0:0", sname, flags, 0, 0, seq, None))
    if p != len(buf):
        raise Bad("v0 trailing bytes")
    return "msg version=0 syncid=%d conns=%d" % (syncid, nr0), out


# --- Building messages the way ip_vs_sync_conn / ip_vs_sync_conn_v0 do ----

def ip(s):
    return socket.inet_aton(s)


def v1_entry(proto, flags, state, c, v, d, fwmark, timeout, seq=None, pe=None, extra=b""):
    opts = b""
    if seq is not None:
        opts += bytes([OPT_SEQ, 24]) + SEQ_BE.pack(*seq[0]) + SEQ_BE.pack(*seq[1])
    if pe is not None:
        opts += bytes([OPT_PE_DATA, len(pe[1])]) + pe[1] + bytes([OPT_PE_NAME, len(pe[0])]) + pe[0]
    opts += extra
    size = ENTRY_V4.size + len(opts)
    return ENTRY_V4.pack(0, proto, size, flags & ~F_HASHED, state, c[1], v[1], d[1], fwmark, timeout,
                         ip(c[0]), ip(v[0]), ip(d[0])) + opts


def v1_message(syncid, entries):
    body = b""
    for e in entries:
        body += b"\0" * ((4 - (HDR_V1.size + len(body))) & 3) + e
    return HDR_V1.pack(0, syncid, HDR_V1.size + len(body), len(entries), 1, 0) + body


def build(outdir):
    c, v = ("198.18.0.20", 41000), ("198.18.1.1", 80)
    seq = ((1000, 5, 0), (2000, 0xfffffffd, 2))
    entries = [
        # NAT, ESTABLISHED, with bits a kernel sets but a backup ignores.
        (v1_entry(6, F_HASHED | F_SYNC | F_NFCT, 1, c, v, ("198.19.0.2", 8080), 0, 900),
         "conn proto=6 caddr=198.18.0.20:41000 vaddr=198.18.1.1:80 daddr=198.19.0.2:8080 fwd=Masq "
         "laddr=0.0.0.0:0 state=ESTABLISHED inactive=0 timeout=900 template=0 fwmark=0 seq=- pe=-"),
        # DR, SYN_RECV, inactive, fwmark service.
        (v1_entry(6, F_DROUTE | F_NOOUTPUT | F_INACTIVE, 3, c, ("198.18.1.9", 443), ("198.19.0.3", 443), 5, 60),
         "conn proto=6 caddr=198.18.0.20:41000 vaddr=198.18.1.9:443 daddr=198.19.0.3:443 fwd=Route "
         "laddr=0.0.0.0:0 state=SYN_RECV inactive=1 timeout=60 template=0 fwmark=5 seq=- pe=-"),
        # A SIP template with persistence engine data (49 bytes: padded after).
        (v1_entry(17, F_TUNNEL | F_NOOUTPUT | F_TEMPLATE, 1, ("198.18.0.20", 0), ("198.18.1.1", 5060),
                  ("198.19.0.4", 5060), 0, 300, pe=(b"sip", b"callid-77")),
         "conn proto=17 caddr=198.18.0.20:0 vaddr=198.18.1.1:5060 daddr=198.19.0.4:5060 fwd=Tunnel "
         "laddr=0.0.0.0:0 state=NONE inactive=0 timeout=300 template=1 fwmark=0 seq=- pe=sip:63616c6c69642d3737"),
        # UDP.
        (v1_entry(17, 0, 0, ("198.18.0.21", 5353), ("198.18.1.2", 53), ("198.19.0.5", 53), 0, 300),
         "conn proto=17 caddr=198.18.0.21:5353 vaddr=198.18.1.2:53 daddr=198.19.0.5:53 fwd=Masq "
         "laddr=0.0.0.0:0 state=UDP inactive=0 timeout=300 template=0 fwmark=0 seq=- pe=-"),
        # Sequence adjustment (an FTP-style NAT connection), TIME_WAIT.
        (v1_entry(6, F_SEQ_MASK, 5, c, ("198.18.1.1", 21), ("198.19.0.2", 21), 0, 120, seq=seq),
         "conn proto=6 caddr=198.18.0.20:41000 vaddr=198.18.1.1:21 daddr=198.19.0.2:21 fwd=Masq "
         "laddr=0.0.0.0:0 state=TIME_WAIT inactive=0 timeout=120 template=0 fwmark=0 "
         "seq=1000,5,0/2000,4294967293,2 pe=-"),
        # An optional parameter nobody knows: ignored, entry kept.
        (v1_entry(6, 0, 7, c, v, ("198.19.0.2", 8080), 0, 60, extra=bytes([OPT_F_PARAM | 9, 3, 1, 2, 3])),
         "conn proto=6 caddr=198.18.0.20:41000 vaddr=198.18.1.1:80 daddr=198.19.0.2:8080 fwd=Masq "
         "laddr=0.0.0.0:0 state=CLOSE_WAIT inactive=0 timeout=60 template=0 fwmark=0 seq=- pe=-"),
        # Entries a backup skips.
        # SCTP in INIT1 (state 1).
        (v1_entry(132, 0, 1, c, v, ("198.19.0.2", 80), 0, 60),
         "conn proto=132 caddr=198.18.0.20:41000 vaddr=198.18.1.1:80 daddr=198.19.0.2:80 fwd=Masq "
         "laddr=0.0.0.0:0 state=INIT1 inactive=0 timeout=60 template=0 fwmark=0 seq=- pe=-"),
        (v1_entry(132, 0, 14, c, v, ("198.19.0.2", 80), 0, 60), "skip sync-bad-state"),
        (v1_entry(50, 0, 1, c, v, ("198.19.0.2", 80), 0, 60), "skip sync-unknown-protocol"),
        (v1_entry(6, F_LOCALNODE, 1, c, v, ("198.19.0.2", 80), 0, 60), "skip sync-unsupported-method"),
        (v1_entry(6, 0, 1, c, v, ("198.19.0.2", 80), 0, 60, extra=bytes([9, 2, 0, 0])), "skip sync-unknown-option"),
        (struct.pack("!BBHIHHHHII", 1, 6, ENTRY_V6_LEN, 0, 1, 1, 2, 3, 0, 60) + bytes(48), "skip sync-ipv6-entry"),
    ]
    v0_entries = [
        (ENTRY_V0.pack(0, 6, 41000, 80, 8080, ip("198.18.0.20"), ip("198.18.1.1"), ip("198.19.0.2"), 0, 1),
         "conn proto=6 caddr=198.18.0.20:41000 vaddr=198.18.1.1:80 daddr=198.19.0.2:8080 fwd=Masq "
         "laddr=0.0.0.0:0 state=ESTABLISHED inactive=0 timeout=0 template=0 fwmark=0 seq=- pe=-"),
        (ENTRY_V0.pack(0, 6, 41001, 21, 21, ip("198.18.0.20"), ip("198.18.1.1"), ip("198.19.0.2"),
                       F_SEQ_MASK | F_HASHED, 4) + SEQ_HOST.pack(*seq[0]) + SEQ_HOST.pack(*seq[1]),
         "conn proto=6 caddr=198.18.0.20:41001 vaddr=198.18.1.1:21 daddr=198.19.0.2:21 fwd=Masq "
         "laddr=0.0.0.0:0 state=FIN_WAIT inactive=0 timeout=0 template=0 fwmark=0 "
         "seq=1000,5,0/2000,4294967293,2 pe=-"),
        (ENTRY_V0.pack(0, 17, 0, 53, 53, ip("198.18.0.0"), ip("198.18.1.2"), ip("198.19.0.5"),
                       F_DROUTE | F_TEMPLATE | F_INACTIVE, 0),
         "conn proto=17 caddr=198.18.0.0:0 vaddr=198.18.1.2:53 daddr=198.19.0.5:53 fwd=Route "
         "laddr=0.0.0.0:0 state=NONE inactive=1 timeout=0 template=1 fwmark=0 seq=- pe=-"),
        (ENTRY_V0.pack(0, 17, 1, 53, 53, ip("198.18.0.1"), ip("198.18.1.2"), ip("198.19.0.5"), 0, 3),
         "skip sync-bad-state"),
    ]
    body0 = b"".join(e for e, _ in v0_entries)
    messages = {
        "kernel_v1": (v1_message(17, [e for e, _ in entries]), entries),
        "kernel_v0": (HDR_V0.pack(len(v0_entries), 17, HDR_V0.size + len(body0)) + body0, v0_entries),
    }
    for name, (msg, ents) in messages.items():
        header, lines = decode(msg)  # our own reader agrees with our writer
        assert lines == [want for _, want in ents], (name, lines)
        with open(os.path.join(outdir, name + ".bin"), "wb") as f:
            f.write(msg)
        with open(os.path.join(outdir, name + ".expect"), "w") as f:
            f.write("\n".join([header] + lines) + "\n")
        print("%s: %d bytes, %d entries" % (name, len(msg), len(ents)))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "decode":
        for path in sys.argv[2:]:
            with open(path, "rb") as f:
                try:
                    header, lines = decode(f.read())
                except Bad as e:
                    print("error %s: %s" % (path, e))
                    return 1
            print(header)
            for entry in lines:
                print(entry)
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "build":
        build(sys.argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
