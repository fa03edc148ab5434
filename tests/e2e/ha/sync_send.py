#!/usr/bin/env python3
"""tests/e2e/ha/sync_send.py LOCAL_ADDR SYNCID: hand-built kernel-format sync messages for
test_ha.sh's services, multicast to 224.0.0.81:8848 from LOCAL_ADDR (TTL 1), built with the
independent Python codec tests/sync_wire_decode.py (struct over ip_vs_sync.c's layouts).

Sends a version 1 message (DR, NAT, an inactive SYN_RECV, FULLNAT by rvs's option 0x30, and
an entry with an unknown mandatory option that a backup must skip), a version 0 message,
and a version 1 message with syncid SYNCID+1 (a backup must ignore it).  Prints what a
backup with SYNCID must then list in `-Lnc` and what it must not:

  install STATE CLIENT VIRTUAL DESTINATION
  absent CLIENT"""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import sync_wire_decode as w  # noqa: E402

local, syncid = sys.argv[1], int(sys.argv[2])
VIP, LIP = "198.18.1.100", "198.18.1.200"
RS1, RS2, RS1_NAT = "198.18.1.11", "198.18.1.12", "198.18.1.31"
C1, C2, C3 = "198.18.0.201", "198.18.0.202", "198.18.0.203"
ESTABLISHED, SYN_RECV = 1, 3

fullnat_opt = bytes([w.OPT_RVS_FULLNAT, 6]) + socket.inet_aton(LIP) + (50003).to_bytes(2, "big")
v1 = w.v1_message(syncid, [
    w.v1_entry(6, w.F_DROUTE | w.F_NOOUTPUT, ESTABLISHED, (C1, 40001), (VIP, 80), (RS1, 80), 0, 900),
    w.v1_entry(6, 0, ESTABLISHED, (C1, 40002), (VIP, 8080), (RS1_NAT, 80), 0, 900),
    w.v1_entry(6, w.F_DROUTE | w.F_NOOUTPUT | w.F_INACTIVE, SYN_RECV, (C1, 40005), (VIP, 80), (RS2, 80), 0, 60),
    w.v1_entry(6, 0, ESTABLISHED, (C1, 40003), (VIP, 8443), (RS1, 80), 0, 900, extra=fullnat_opt),
    w.v1_entry(6, w.F_DROUTE, ESTABLISHED, (C1, 40004), (VIP, 80), (RS1, 80), 0, 900, extra=bytes([9, 2, 0, 0])),
])
v0_entry = w.ENTRY_V0.pack(0, 6, 40010, 80, 80, w.ip(C2), w.ip(VIP), w.ip(RS2), w.F_DROUTE, ESTABLISHED)
v0 = w.HDR_V0.pack(1, syncid, w.HDR_V0.size + len(v0_entry)) + v0_entry
wrong_id = w.v1_message((syncid + 1) % 256, [
    w.v1_entry(6, w.F_DROUTE, ESTABLISHED, (C3, 40020), (VIP, 80), (RS1, 80), 0, 900)])

# Our own reader agrees with our writer before anything goes on the wire.
for msg in (v1, v0, wrong_id):
    w.decode(msg)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.bind((local, 0))
for msg in (v1, v0, wrong_id):
    s.sendto(msg, ("224.0.0.81", 8848))
print("install ESTABLISHED %s:40001 %s:80 %s:80" % (C1, VIP, RS1))
print("install ESTABLISHED %s:40002 %s:8080 %s:80" % (C1, VIP, RS1_NAT))
print("install SYN_RECV %s:40005 %s:80 %s:80" % (C1, VIP, RS2))
print("install ESTABLISHED %s:40003 %s:8443 %s:80" % (C1, VIP, RS1))
print("absent %s:40004" % C1)
print("install ESTABLISHED %s:40010 %s:80 %s:80" % (C2, VIP, RS2))
print("absent %s:40020" % C3)
