#!/usr/bin/env python3
"""tests/e2e/ecmp/flows.py: long-lived TCP flows that say which real server holds them.

Opens N connections to HOST:PORT from local ports FIRST..FIRST+N-1 (one flow each, so the
router's layer-4 ECMP hash and mh-port spread them), sends a line on each and reads the real
server's answer (its name).  Then, every time the file GO appears (the test creates it after
changing the lab), it asks every flow again and prints one line per flow:

    ROUND PORT ANSWER       ANSWER: the server's name, "reset", "timeout" or "closed"

A flow closed in an earlier round prints "gone".  A flow that moved to another real server gets a reset from it (that server never saw the
connection); a flow a director dropped gets no answer ("timeout").  Rounds: --rounds;
bounded: every wait is --timeout seconds at most, the whole run --max-seconds.

    python3 flows.py HOST PORT N FIRST GO_PREFIX [--rounds 2] [--timeout 3]
    (round R waits for the file GO_PREFIX.R; round 0 runs at once)
"""

import argparse
import os
import select
import socket
import sys
import time


def ask(socks, timeout):
    answers = {}
    for port, s in socks.items():
        if s is None:
            continue
        try:
            s.sendall(b"who\n")
        except OSError:
            answers[port] = "reset"
    pending = {s: port for port, s in socks.items() if s is not None and port not in answers}
    bufs = {s: b"" for s in pending}
    end = time.time() + timeout
    while pending and time.time() < end:
        r, _, _ = select.select(list(pending), [], [], max(0.0, end - time.time()))
        for s in r:
            port = pending[s]
            try:
                data = s.recv(256)
            except ConnectionResetError:
                answers[port] = "reset"
                del pending[s]
                continue
            except OSError:
                answers[port] = "reset"
                del pending[s]
                continue
            if not data:
                answers[port] = "closed"
                del pending[s]
                continue
            bufs[s] += data
            if b"\n" in bufs[s]:
                answers[port] = bufs[s].split(b"\n")[0].decode(errors="replace").strip() or "empty"
                del pending[s]
    for s, port in pending.items():
        answers[port] = "timeout"
    return answers


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("n", type=int)
    p.add_argument("first", type=int)
    p.add_argument("go")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--max-seconds", type=float, default=120)
    a = p.parse_args()
    if a.n > 1000:
        sys.exit("flows.py: at most 1000 flows")
    deadline = time.time() + a.max_seconds
    socks = {}
    connected = set()
    for i in range(a.n):
        port = a.first + i
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.settimeout(a.timeout)
        try:
            s.connect((a.host, a.port))
            s.setblocking(False)
            socks[port] = s
            connected.add(port)
        except OSError:
            socks[port] = None
            s.close()
    for rnd in range(a.rounds):
        if rnd > 0:
            go = "%s.%d" % (a.go, rnd)
            while not os.path.exists(go):
                if time.time() > deadline:
                    sys.exit("flows.py: %s never appeared" % go)
                time.sleep(0.05)
        answers = ask(socks, a.timeout)
        for port in sorted(socks):
            if socks[port] is None:
                ans = "gone" if port in connected else "noconnect"
            else:
                ans = answers.get(port, "timeout")
            print("%d %d %s" % (rnd, port, ans))
            if ans in ("reset", "closed"):
                socks[port].close()
                socks[port] = None
        sys.stdout.flush()
        # mark the round done for the test
        with open("%s.done.%d" % (a.go, rnd), "w") as f:
            f.write("done\n")


if __name__ == "__main__":
    main()
