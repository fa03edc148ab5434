#!/usr/bin/env python3
"""tests/e2e/ha/sync_lag.py HOST PORT COUNT RVSADM SOCKET: sync lag, run in the client's namespace.

COUNT times: opens a TCP connection to HOST:PORT, sends an HTTP request (its third packet:
IPVS syncs a connection at its third inbound packet), then polls `RVSADM --socket SOCKET
-Lnc` (the BACKUP director's) until the connection's line appears.  The lag of a sample is
from the request to the START of the first poll that lists it (the backup had it by then,
or within that poll's round trip, printed as poll_ms).  Prints one line per sample,
"lag_ms N poll_ms N CLIENT:PORT sent EPOCH" ("lag_ms never ..." after 5 s), then
"summary samples N seen N min_ms N median_ms N max_ms N poll_median_ms N"."""
import socket
import subprocess
import sys
import time

host, port, count, rvsadm, sock = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
lags, polls = [], []
for _ in range(count):
    s = socket.create_connection((host, port), timeout=3)
    me = "%s:%d " % s.getsockname()
    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: lab\r\n\r\n")
    t0 = time.time()
    seen = None
    while time.time() - t0 < 5:
        start = time.time()
        out = subprocess.run([rvsadm, "--socket", sock, "-Lnc"], capture_output=True, text=True).stdout
        poll = time.time() - start
        if me in out:
            seen = start - t0
            break
        time.sleep(0.002)
    if seen is None:
        print("lag_ms never %s sent %.6f" % (me.strip(), t0), flush=True)
    else:
        print("lag_ms %.1f poll_ms %.1f %s sent %.6f" % (seen * 1000, poll * 1000, me.strip(), t0), flush=True)
        lags.append(seen * 1000)
        polls.append(poll * 1000)
    s.close()
    time.sleep(0.05)
lags.sort()
polls.sort()
if lags:
    print("summary samples %d seen %d min_ms %.1f median_ms %.1f max_ms %.1f poll_median_ms %.1f"
          % (count, len(lags), lags[0], lags[len(lags) // 2], lags[-1], polls[len(polls) // 2]))
else:
    print("summary samples %d seen 0" % count)
