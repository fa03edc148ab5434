#!/usr/bin/env python3
"""journal_listen.py SOCKET OUT MAX_SECONDS: a stand-in for journald's native socket
(/run/systemd/journal/socket, systemd's native journal protocol). Binds the unix datagram
socket SOCKET, decodes every entry (KEY=VALUE lines, or KEY, a 64-bit little-endian length and
the value, for values holding newlines; a sealed memfd passed with SCM_RIGHTS for entries too
big for a datagram) and appends it to OUT as one JSON object a line. Empty datagrams (a
client probing the socket) are skipped. Ends after MAX_SECONDS.
"""
import array
import json
import os
import socket
import struct
import sys
import time


def decode(data):
    fields, i = {}, 0
    while i < len(data):
        nl = data.find(b"\n", i)
        if nl < 0:
            raise ValueError("entry does not end with a newline")
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack_from("<Q", data, nl + 1)
            v = data[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        fields[k.decode()] = v.decode(errors="replace")
    return fields


def main():
    path, out, max_s = sys.argv[1:4]
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    end = time.time() + float(max_s)
    with open(out, "a", buffering=1) as f:
        while time.time() < end:
            s.settimeout(max(0.1, end - time.time()))
            try:
                data, anc, _, _ = s.recvmsg(1 << 20, socket.CMSG_SPACE(4))
            except socket.timeout:
                break
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fd = array.array("i", cdata[:4])[0]
                    with os.fdopen(fd, "rb") as m:
                        data = m.read()
            if not data:
                continue
            try:
                f.write(json.dumps(decode(data)) + "\n")
            except ValueError as e:
                f.write(json.dumps({"_BAD": str(e)}) + "\n")


if __name__ == "__main__":
    main()
