#!/usr/bin/env python3
"""tests/e2e/ha/wire_lag.py CAPTURE_DIR SAMPLES: the sync lag on the wire.

CAPTURE_DIR is what sync_listen.py wrote on the sync LAN (NNNNN.bin and an index with each
datagram's arrival time); SAMPLES holds sync_lag.py's output ("... CLIENT:PORT sent EPOCH").
For each sample, the time from the request being sent to the arrival of the first sync
datagram that carries the connection (decoded by tests/sync_wire_decode.py).  Prints
"wire_lag_ms N CLIENT:PORT" per sample ("never" if none did), then
"summary samples N seen N min_ms N median_ms N max_ms N"."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import sync_wire_decode as w  # noqa: E402

capture, samples = sys.argv[1], sys.argv[2]
arrivals = []
with open(os.path.join(capture, "index")) as f:
    for line in f:
        cols = line.split()
        if len(cols) == 4:
            with open(os.path.join(capture, cols[0] + ".bin"), "rb") as b:
                _, entries = w.decode(b.read())
            arrivals.append((float(cols[1]), entries))
lags = []
with open(samples) as f:
    for line in f:
        cols = line.split()
        if not cols or cols[0] != "lag_ms" or "sent" not in cols:
            continue
        who, sent = cols[cols.index("sent") - 1], float(cols[cols.index("sent") + 1])
        needle = "caddr=%s " % who
        first = next((t for t, entries in arrivals if any(needle in e for e in entries)), None)
        if first is None:
            print("wire_lag_ms never %s" % who)
        else:
            lags.append((first - sent) * 1000)
            print("wire_lag_ms %.1f %s" % (lags[-1], who))
lags.sort()
if lags:
    print("summary samples %d seen %d min_ms %.1f median_ms %.1f max_ms %.1f"
          % (len(lags), len(lags), lags[0], lags[len(lags) // 2], lags[-1]))
