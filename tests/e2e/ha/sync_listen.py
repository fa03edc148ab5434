#!/usr/bin/env python3
"""tests/e2e/ha/sync_listen.py LOCAL_ADDR DIR SECONDS [GROUP PORT]: captures IPVS sync datagrams.

Joins GROUP (default 224.0.0.81) on the interface holding LOCAL_ADDR, binds PORT (8848),
and writes every datagram to DIR/NNNNN.bin; DIR/index gets "NNNNN EPOCH SOURCE_ADDR SIZE"
per datagram.  Ends after SECONDS."""
import os
import socket
import struct
import sys
import time

local, outdir, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
group = sys.argv[4] if len(sys.argv) > 4 else "224.0.0.81"
port = int(sys.argv[5]) if len(sys.argv) > 5 else 8848
os.makedirs(outdir, exist_ok=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((group, port))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(local)))
end = time.time() + seconds
n = 0
with open(os.path.join(outdir, "index"), "w") as index:
    index.write("listening %.6f\n" % time.time())
    index.flush()
    while True:
        left = end - time.time()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            break
        name = "%05d" % n
        with open(os.path.join(outdir, name + ".bin"), "wb") as f:
            f.write(data)
        index.write("%s %.6f %s %d\n" % (name, time.time(), src[0], len(data)))
        index.flush()
        n += 1
