#!/usr/bin/env bash
# tests/e2e/test_frag6.sh: fragmented UDP datagrams over IPv6 through rvs: NAT66, FULLNAT over
# IPv6 and NAT64. The NAT lab with IPv6 beside IPv4 (as test_nat6.sh, every link MTU 1500):
# rvs owns 2001:db8:6::1/64 on d-out and 2001:db8:7::1/64 on d-in (the real servers'
# gateway). rs2 runs tests/e2e/udp_frag.py's echo server on [::]:7 (both families).
# Services (UDP): [VIP6]:5301 -m [rs2]:7, [VIP6]:5304 --fullnat [rs2]:7 from 2001:db8:7::50,
# [VIP6]:5305 --fullnat rs2's IPv4 address :7 from 198.18.1.50 (NAT64).
#
# The client sends datagrams of 4,000 and 9,000 bytes; its kernel cuts them in fragments (a
# fragment header each). rvs reassembles them, forwards the datagram by the method and cuts it
# again for the link out (a fragment header and an identification of its own; NAT64: IPv4
# fragments); rs2's kernel reassembles, echoes, and fragments the answer, which rvs reassembles
# and cuts again for the client. Each echo must come back byte for byte (SHA-256); then 20 MB
# in 9,000-byte datagrams through each. Bounded: each datagram awaited at most 6 s, each bulk
# run 100 s at most; the server exits after 300 s.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

OUT6=2001:db8:6::1
IN6=2001:db8:7::1
VIP6=2001:db8:6::100
CLIENT6=2001:db8:6::10
RS2_6=2001:db8:7::12
LADDR6=2001:db8:7::50
LADDR4=198.18.1.50
PEER="$E2E_DIR/udp_frag.py"
CONFIG="$RUN_DIR/rvs-frag6.toml"
COUNT=3
BULK=$((20 * 1024 * 1024))

counter() { rvsadm --counters | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
ask() { ns_exec c timeout 30 python3 "$PEER" ask "$VIP6" "$1" "$2" "$3"; }

LAB_IPV6=1 topo_nat --no-servers
ns_exec c ip -6 addr add "$CLIENT6/64" dev eth0 nodad
ns_exec rs2 ip -6 addr add "$RS2_6/64" dev eth0 nodad
ns_exec rs2 ip -6 route add default via "$IN6"
bg rs2 echo-rs2 python3 "$PEER" serve "[::]:7" --max-seconds 300
wait_udp_listen rs2 7
{
  rvs_conf_admin "$RVS_SOCK"
  printf '[[interface]]\nname = "d-out"\nxdp_mode = "%s"\naddresses = ["%s/24", "%s/64"]\nvips = ["%s"]\n\n' \
    "${RVS_XDP_MODE:-generic}" "$NAT_DIR_OUT" "$OUT6" "$NAT_VIP"
  printf '[[interface]]\nname = "d-in"\nxdp_mode = "%s"\naddresses = ["%s/24", "%s/64"]\n\n' \
    "${RVS_XDP_MODE:-generic}" "$NAT_DIR_IN" "$IN6"
} >"$CONFIG"
start_rvs "$CONFIG"
rvsadm -A -u "[$VIP6]:5301" -s rr
rvsadm -a -u "[$VIP6]:5301" -r "[$RS2_6]:7" -m
rvsadm -A -u "[$VIP6]:5304" -s rr
rvsadm -a -u "[$VIP6]:5304" -r "[$RS2_6]:7" --fullnat
rvsadm -P -u "[$VIP6]:5304" -z "$LADDR6"
rvsadm -A -u "[$VIP6]:5305" -s rr
rvsadm -a -u "[$VIP6]:5305" -r "$NAT_RS2:7" --fullnat
rvsadm -P -u "[$VIP6]:5305" -z "$LADDR4"

# method_case NAME PORT: COUNT datagrams of each size, and 20 MB in 9,000-byte ones, echoed
# intact; rvs reassembled each request and each answer.
method_case() {
  local name="$1" port="$2" r0 r1 out4 out9 bulk rc=0
  r0="$(counter ip-datagrams-reassembled)"
  out4="$(ask "$port" 4000 "$COUNT")" || rc=1
  out9="$(ask "$port" 9000 "$COUNT")" || rc=1
  r1="$(counter ip-datagrams-reassembled)"
  log "$name: $out4; $out9; ip-datagrams-reassembled +$((r1 - r0))"
  assert_eq "4000 intact $COUNT/$COUNT" "$out4" "$name: 4,000-byte datagrams echoed intact"
  assert_eq "9000 intact $COUNT/$COUNT" "$out9" "$name: 9,000-byte datagrams echoed intact"
  if [ "$((r1 - r0))" -lt $((4 * COUNT)) ]; then
    warn "$name: $((r1 - r0)) datagrams reassembled, expected at least $((4 * COUNT))"; rc=1
  fi
  bulk="$(ns_exec c timeout 100 python3 "$PEER" bulk "$VIP6" "$port" 9000 "$BULK")" || rc=1
  log "$name: $bulk"
  assert_match "$bulk" "^$BULK bytes in $(((BULK + 8999) / 9000)) datagrams sha256 [0-9a-f]{64} intact$" \
    "$name: 20 MB in 9,000-byte datagrams, every one fragmented, echoed intact"
  [ "$rc" = 0 ]
}

case_0_unresolved() {
  local h0 out
  h0="$(counter held-for-nd)"
  out="$(ask 5301 9000 1)"
  log "first datagram: $out; held-for-nd +$(($(counter held-for-nd) - h0))"
  assert_eq "9000 intact 1/1" "$out" "the datagram echoed intact"
  assert_eq 1 "$(grep -c '^udp_frag: 9000 bytes from' "$LOG_DIR/echo-rs2.log" || true)" "rs2 got it once: no retry"
  [ "$(($(counter held-for-nd) - h0))" -ge 7 ] || { warn "fewer than 7 pieces held for neighbour discovery"; return 1; }
}
case_a_nat66() { method_case NAT66 5301; }
case_b_fullnat6() {
  method_case FULLNAT6 5304
  assert_contains "$(cat "$LOG_DIR/echo-rs2.log")" "from $LADDR6" "rs2 saw the IPv6 local address"
}
case_c_nat64() {
  method_case NAT64 5305
  assert_contains "$(cat "$LOG_DIR/echo-rs2.log")" "$LADDR4:" "rs2 saw the IPv4 local address"
}
case_d_counted() {
  log "counters: $(rvsadm --counters | grep -E 'fragment|reassembled|too-big' | tr -s ' \n' ' ')"
  assert_eq 0 "$(counter icmpv6-too-big-sent)" "no packet too big: the senders' fragments fit"
  assert_eq 0 "$(counter drop-ipv6-fragment)" "no fragment left unreassembled"
}

run_case "0. the first 9,000-byte datagram waits whole for neighbour discovery" case_0_unresolved
run_case "a. NAT66: 4,000 and 9,000-byte datagrams and 20 MB echoed intact, both ways reassembled" case_a_nat66
run_case "b. FULLNAT over IPv6: the same, from the IPv6 local address" case_b_fullnat6
run_case "c. NAT64: IPv6 fragments in, IPv4 fragments to the server, and back" case_c_nat64
run_case "d. nothing refused" case_d_counted
finish
