#!/usr/bin/env python3
"""tests/e2e/ha/dark_probe.py HOST PORT SECONDS OUT: the client-side dark time of a VIP.

Every 10 ms a fresh TCP connect to HOST:PORT (100 ms timeout, then closed); after SECONDS
writes to OUT one line

  attempts N ok N failed N longest_gap_ms G gap_from T gap_to T first_ok T last_ok T

where G is the longest time between two successive successful connects (the dark time when
a failover falls in it; about 10 ms otherwise) and the T are the epoch seconds around it."""
import socket
import sys
import time

host, port, seconds, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
INTERVAL, TIMEOUT = 0.01, 0.1
attempts = ok = 0
last = first = None
gap, gap_from, gap_to = 0.0, 0.0, 0.0
end = time.time() + seconds
tick = time.time()
while time.time() < end:
    attempts += 1
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    try:
        s.connect((host, port))
        t = time.time()
        ok += 1
        if last is not None and t - last > gap:
            gap, gap_from, gap_to = t - last, last, t
        if first is None:
            first = t
        last = t
    except OSError:
        pass
    finally:
        s.close()
    tick += INTERVAL
    delay = tick - time.time()
    if delay > 0:
        time.sleep(delay)
    else:
        tick = time.time()
with open(out, "w") as f:
    f.write("attempts %d ok %d failed %d longest_gap_ms %.0f gap_from %.3f gap_to %.3f first_ok %.3f last_ok %.3f\n"
            % (attempts, ok, attempts - ok, gap * 1000, gap_from, gap_to, first or 0, last or 0))
