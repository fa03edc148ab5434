#!/usr/bin/env python3
"""tests/e2e/ha/idle_conns.py HOST PORT COUNT SECONDS: idle connections through a VIP.

Opens COUNT HTTP/1.1 keep-alive connections to HOST:PORT, sends one request on each and
reads its answer (so each has had more than 3 inbound packets: a master syncs it once),
prints "open CLIENT_PORT" for each (flushed), then leaves them idle for SECONDS and closes
them.  A backup that was not listening while they opened can learn them only from the
master's full table."""
import socket
import sys
import time

host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
socks = []
for _ in range(count):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: lab\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got or not got.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    socks.append(s)
    print("open %d" % s.getsockname()[1], flush=True)
time.sleep(seconds)
for s in socks:
    s.close()
