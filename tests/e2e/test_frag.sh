#!/usr/bin/env bash
# tests/e2e/test_frag.sh: fragmented UDP datagrams through rvs by every forwarding method.
# Lab: tests/e2e/topo_direct.sh (client - router - LAN with the director, one-armed, and two
# real servers; every link MTU 1500), with:
#   rs1  DR and TUN real server: the VIP on lo, tests/e2e/ipip_decap.py on tunl-rvs (MTU
#        raised: the decapsulated datagram is whole), echo servers bound to VIP:5302 (DR) and
#        VIP:5303 (TUN); its answers go to the router directly.
#   rs2  NAT and FULLNAT real server: default route via the director (NAT answers come back
#        through it), an echo server on 0.0.0.0:7.
# Services (UDP): VIP:5301 -m rs2:7, VIP:5302 -g rs1, VIP:5303 -i rs1, VIP:5304 --fullnat
# rs2:7 from local address 198.18.1.200.
#
# The client sends datagrams of 4,000 and 9,000 bytes (DNS over EDNS0 answer sizes); its
# kernel cuts them in 3 and 7 fragments.  rvs reassembles, forwards by the method, and
# fragments again; the echo must come back byte for byte (SHA-256).  NAT and FULLNAT answers
# are fragmented by rs2's kernel and reassembled by rvs on the way back too.  Then scapy
# sends overlapping, duplicated and never-completed fragments, read back in --counters.
# Then 20 MB through each method in 9,000-byte datagrams (2,331 of them, each cut in 7 by the
# client's kernel), the SHA-256 of everything echoed against everything sent.
# Bounded: a few thousand datagrams, each awaited at most 6 s, each bulk run 100 s at most;
# the servers exit after 300 s.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_direct.sh
source "$(dirname "$0")/topo_direct.sh"

LIP=198.18.1.200   # FULLNAT's local address
VIP="$DIRECT_VIP" RS1="$DIRECT_RS1" RS2="$DIRECT_RS2"
PEER="$E2E_DIR/udp_frag.py"
SCAPY_PY="$(scapy_python)" || die "no python3 with scapy"
COUNT=3
BULK=$((20 * 1024 * 1024))   # the 20 MB each method carries, by SHA-256

counter() { rvsadm --counters | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
# ask PORT SIZE: COUNT datagrams of SIZE bytes to VIP:PORT from the client, each echoed whole
ask() { ns_exec c timeout 30 python3 "$PEER" ask "$VIP" "$1" "$2" "$COUNT"; }

topo_direct --no-servers
# rs2 is the NAT real server: its answers go back through the director.
ns_exec rs2 ip route replace default via "$DIRECT_DIR"
start_ipip_decap rs1 rs1 "$DIRECT_TUN_DEV" 300
ns_exec rs1 ip link set "$DIRECT_TUN_DEV" mtu 65000
bg rs1 echo-rs1 python3 "$PEER" serve "$VIP:5302" "$VIP:5303" --max-seconds 300
bg rs2 echo-rs2 python3 "$PEER" serve "0.0.0.0:7" --max-seconds 300
wait_udp_listen rs1 5303
wait_udp_listen rs2 7
start_rvs "$DIRECT_CONFIG"

rvsadm -A -u "$VIP:5301" -s rr
rvsadm -a -u "$VIP:5301" -r "$RS2:7" -m
rvsadm -A -u "$VIP:5302" -s rr
rvsadm -a -u "$VIP:5302" -r "$RS1" -g
rvsadm -A -u "$VIP:5303" -s rr
rvsadm -a -u "$VIP:5303" -r "$RS1" -i
rvsadm -A -u "$VIP:5304" -s rr
rvsadm -a -u "$VIP:5304" -r "$RS2:7" --fullnat
rvsadm -P -u "$VIP:5304" -z "$LIP"

# method_case NAME PORT: COUNT datagrams of each size through the service on PORT, answered
# intact; rvs reassembled at least one datagram per request (and per answer for NAT/FULLNAT).
method_case() {
  local name="$1" port="$2" r0 r1 out4 out9 rc=0
  r0="$(counter ip-datagrams-reassembled)"
  out4="$(ask "$port" 4000)" || rc=1
  out9="$(ask "$port" 9000)" || rc=1
  r1="$(counter ip-datagrams-reassembled)"
  log "$name: $out4; $out9; ip-datagrams-reassembled +$((r1 - r0))"
  assert_eq "4000 intact $COUNT/$COUNT" "$out4" "$name: 4,000-byte datagrams echoed intact"
  assert_eq "9000 intact $COUNT/$COUNT" "$out9" "$name: 9,000-byte datagrams echoed intact"
  local t0 t1 bulk
  t0="$(now)"
  bulk="$(ns_exec c timeout 100 python3 "$PEER" bulk "$VIP" "$port" 9000 "$BULK")" || rc=1
  t1="$(now)"
  log "$name: $bulk, $(ms_between "$t0" "$t1") ms"
  assert_match "$bulk" "^$BULK bytes in $(((BULK + 8999) / 9000)) datagrams sha256 [0-9a-f]{64} intact$" \
    "$name: 20 MB in 9,000-byte datagrams, every one fragmented, echoed intact"
  local want=$((2 * COUNT))
  case "$name" in NAT|FULLNAT) want=$((4 * COUNT)) ;; esac
  if [ "$((r1 - r0))" -lt "$want" ]; then
    warn "$name: $((r1 - r0)) datagrams reassembled, expected at least $want"; return 1
  fi
  [ "$rc" = 0 ]
}

# ---------------------------------------------------------------------------------- 0
# The first datagram of the lab, 9,000 bytes, to rs2 before rvs knows its MAC: its 7 pieces
# (and the answer's, to the client, if that was not known either) wait in the ARP hold queue
# together and leave when ARP answers: echoed intact at the first try (rs2 saw it once).
case_0_unresolved() {
  local h0 o0 out seen
  h0="$(counter held-for-arp)"; o0="$(counter drop-arp-hold-overflow)"
  assert_not_contains "$(rvsadm --neighbours)" "$RS2 " "rs2 not yet resolved"
  out="$(ns_exec c timeout 30 python3 "$PEER" ask "$VIP" 5301 9000 1)"
  log "first datagram: $out; held-for-arp +$(($(counter held-for-arp) - h0))"
  assert_eq "9000 intact 1/1" "$out" "the datagram echoed intact"
  seen="$(grep -c '^udp_frag: 9000 bytes from' "$LOG_DIR/echo-rs2.log" || true)"
  assert_eq 1 "$seen" "rs2 got it once: no retry was needed"
  [ "$(($(counter held-for-arp) - h0))" -ge 7 ] || { warn "fewer than 7 pieces held for ARP"; return 1; }
  assert_eq "$o0" "$(counter drop-arp-hold-overflow)" "no piece refused by the hold queue"
}
case_a_nat() { method_case NAT 5301; }
case_b_dr() { method_case DR 5302; }
case_c_tun() {
  local t0; t0="$(ns_exec rs1 cat "/sys/class/net/$DIRECT_TUN_DEV/statistics/rx_packets")"
  method_case TUN 5303
  local t1; t1="$(ns_exec rs1 cat "/sys/class/net/$DIRECT_TUN_DEV/statistics/rx_packets")"
  log "TUN: $((t1 - t0)) whole datagrams decapsulated at rs1"
  if [ "$((t1 - t0))" -lt $((2 * COUNT)) ]; then warn "fewer datagrams came through the tunnel than were sent"; return 1; fi
}
case_d_fullnat() {
  method_case FULLNAT 5304
  # rs2 saw the local address, not the client.
  assert_contains "$(cat "$LOG_DIR/echo-rs2.log")" "from $LIP:" "FULLNAT requests reach rs2 from the local address"
}

# ---------------------------------------------------------------------------------- e
case_e_bad_fragments() {
  local names="drop-ip-fragment-overlap drop-ip-fragment-duplicate ip-datagrams-reassembled drop-ip-fragment-timeout" n
  declare -A b a
  for n in $names; do b[$n]="$(counter "$n")"; done
  log "scapy: $(ns_exec c timeout 30 "$SCAPY_PY" "$PEER" bad "$VIP" 5301 45000 2>&1 | grep -v WARNING)"
  # The incomplete ones go after the 5 s limit (checked every 200 ms).
  sleep 6
  for n in $names; do a[$n]="$(counter "$n")"; log "  $n +$(( ${a[$n]} - ${b[$n]} ))"; done
  d() { echo $(( ${a[$1]} - ${b[$1]} )); }
  assert_eq 2 "$(d drop-ip-fragment-overlap)" "overlap: the overlapping piece and the one it overlapped"
  assert_eq 1 "$(d drop-ip-fragment-duplicate)" "duplicate: the second copy"
  # ... and its echo, 2,008 bytes that rs2's kernel fragments, reassembled on the way back.
  assert_eq 2 "$(d ip-datagrams-reassembled)" "the datagram with a duplicate still completes, and its echo"
  assert_eq 2 "$(d drop-ip-fragment-timeout)" "never completed: two pieces timed out"
  # The service still answers after them.
  assert_eq "9000 intact $COUNT/$COUNT" "$(ask 5301 9000)" "NAT after the bad fragments"
}

run_case "0. the first 9,000-byte datagram to an unresolved real server waits whole for ARP" case_0_unresolved
run_case "a. NAT: 4,000 and 9,000-byte UDP datagrams and 20 MB echoed intact, both ways reassembled" case_a_nat
run_case "b. DR: 4,000 and 9,000-byte UDP datagrams and 20 MB echoed intact" case_b_dr
run_case "c. TUN: 4,000 and 9,000-byte UDP datagrams and 20 MB echoed intact, tunnelled whole" case_c_tun
run_case "d. FULLNAT: 4,000 and 9,000-byte UDP datagrams and 20 MB echoed intact, both ways reassembled" case_d_fullnat
run_case "e. overlapping, duplicate and never-completed fragments counted" case_e_bad_fragments
log "counters: $(rvsadm --counters | grep -E 'fragment|reassembled' | tr -s ' \n' ' ')"
if stop_rvs; then pass "k. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "k. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
finish
