#!/usr/bin/env python3
"""tests/e2e/http_rst_client.py: one HTTP GET from a given source address that ends with a
TCP reset instead of a FIN (SO_LINGER 0), and prints the answer's body (or ERR).

Why: a connection closed by FINs stays in IPVS's TIME_WAIT for 120 s, and a persistence
template lives as long as a connection it placed does; a reset leaves the connection in
CLOSE (10 s), so a lab can watch templates expire within seconds.

  http_rst_client.py SRC DST PORT [--hold FILE] [--max-seconds N]

--hold FILE: connect, print "connected" and wait (at most --max-seconds) until FILE exists
before sending the request: a connection held open across whatever the lab does meanwhile.
"""
import argparse
import os
import socket
import struct
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("--hold")
    p.add_argument("--max-seconds", type=float, default=10.0)
    a = p.parse_args()
    deadline = time.monotonic() + a.max_seconds
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((a.src, 0))
        s.settimeout(3.0)
        s.connect((a.dst, a.port))
        if a.hold:
            print("connected", flush=True)
            while not os.path.exists(a.hold):
                if time.monotonic() > deadline:
                    print("ERR hold timed out", flush=True)
                    return 1
                time.sleep(0.05)
        s.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
        data = b""
        while time.monotonic() < deadline:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep or not head.startswith(b"HTTP/1.0 200"):
            print("ERR", flush=True)
            return 1
        print(body.decode(errors="replace").strip(), flush=True)
        return 0
    except OSError as e:
        print(f"ERR {e.__class__.__name__}", flush=True)
        return 1
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


if __name__ == "__main__":
    sys.exit(main())
