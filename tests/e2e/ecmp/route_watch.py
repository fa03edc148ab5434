#!/usr/bin/env python3
"""tests/e2e/ecmp/route_watch.py: logs every change of the router's next hops for one prefix.

Run inside the router's namespace.  Every INTERVAL seconds it asks `ip -j route show PREFIX`
and, when the set of next-hop gateways changed, prints one line "UNIXTIME gw1,gw2,..." ("-"
for no route), flushed.  The lab measures convergence from these lines: the time from a
director's death to its gateway leaving the set, and from its return to its coming back.

    python3 route_watch.py PREFIX [--interval 0.01] [--max-seconds 600]
"""

import argparse
import json
import subprocess
import sys
import time


def gateways(prefix):
    out = subprocess.run(["ip", "-j", "route", "show", prefix], capture_output=True, text=True).stdout
    try:
        routes = json.loads(out or "[]")
    except ValueError:
        return None
    gws = []
    for r in routes:
        if "gateway" in r:
            gws.append(r["gateway"])
        for nh in r.get("nexthops", []):
            if "gateway" in nh:
                gws.append(nh["gateway"])
    return ",".join(sorted(gws)) or "-"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("prefix")
    p.add_argument("--interval", type=float, default=0.01)
    p.add_argument("--max-seconds", type=float, default=600)
    a = p.parse_args()
    end = time.time() + a.max_seconds
    last = None
    while time.time() < end:
        g = gateways(a.prefix)
        # stamped once `ip` has answered: never earlier than the change it shows (a stamp
        # taken before the query could precede the event that the answer already reflects)
        t = time.time()
        if g is not None and g != last:
            sys.stdout.write("%.3f %s\n" % (t, g))
            sys.stdout.flush()
            last = g
        time.sleep(a.interval)


if __name__ == "__main__":
    main()
