#!/usr/bin/env python3
"""notify_listen.py SOCKET OUT MAX_SECONDS NETNS ADMIN_SOCKET RVSADM: a stand-in for systemd's
notification socket (sd_notify(3)). Binds the unix datagram socket SOCKET and, for every
datagram, appends one line to OUT:

    <unix time> <KEY=VALUE;KEY=VALUE...> xdp=<programs attached in NETNS> counters=<rvsadm status>

taken at the moment the datagram arrived: how many XDP programs `ip -n NETNS link` shows, and
the exit status of `RVSADM --socket ADMIN_SOCKET --counters` (0: the admin socket answers).
So a READY=1 line says what was up when rvs declared itself ready. Ends after MAX_SECONDS.
"""
import os
import socket
import subprocess
import sys
import time


def main():
    path, out, max_s, netns, admin, rvsadm = sys.argv[1:7]
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    end = time.time() + float(max_s)
    with open(out, "a", buffering=1) as f:
        f.write("listening\n")
        while time.time() < end:
            s.settimeout(max(0.1, end - time.time()))
            try:
                data = s.recv(4096)
            except socket.timeout:
                break
            t = time.time()
            fields = ";".join(data.decode(errors="replace").strip().split("\n"))
            links = subprocess.run(["ip", "-n", netns, "-d", "link", "show"], capture_output=True, text=True).stdout
            xdp = links.count("prog/xdp")
            rc = subprocess.run([rvsadm, "--socket", admin, "--counters"], capture_output=True).returncode
            f.write(f"{t:.6f} {fields} xdp={xdp} counters={rc}\n")


if __name__ == "__main__":
    main()
