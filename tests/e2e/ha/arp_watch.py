#!/usr/bin/env python3
"""tests/e2e/ha/arp_watch.py IP DEV: the MAC a namespace's ARP table holds for IP on DEV.

Reads /proc/net/arp (this network namespace's) every 5 ms and prints "EPOCH MAC" (flushed)
each time the entry changes ("EPOCH -" when it is absent or incomplete), until killed."""
import sys
import time

ip, dev = sys.argv[1], sys.argv[2]
prev = None
while True:
    mac = "-"
    with open("/proc/net/arp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            # IP address, HW type, Flags, HW address, Mask, Device; flags 0x0: incomplete
            if len(cols) >= 6 and cols[0] == ip and cols[5] == dev and cols[2] != "0x0":
                mac = cols[3]
    if mac != prev:
        print("%.6f %s" % (time.time(), mac), flush=True)
        prev = mac
    time.sleep(0.005)
