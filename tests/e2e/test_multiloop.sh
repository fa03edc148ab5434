#!/usr/bin/env bash
# tests/e2e/test_multiloop.sh: two poll loops pinned to the two cores, the director's veths
# with two queues each. A reply may arrive on either queue, so on either loop; its owner
# (the loop holding the connection) gets it through a lock-free ring. NAT and FULLNAT
# traffic must work exactly as with one loop, the hand-off must have happened, and the
# listings must merge both loops' connections.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
export RVS_CORES="0,1" TOPO_VETH_ARGS="numrxqueues 2 numtxqueues 2"
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
topo_nat
# Several client addresses: the owner loop is chosen by client address.
for a in 11 12 13 14 15 16 17 18; do ns_exec c ip addr add "198.18.0.$a/24" dev eth0; done
start_rvs "$NAT_CONFIG"
assert_contains "$(cat "$RVS_LOG")" "2 poll loop(s)" "rvs runs two poll loops"

case_a_nat() {
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$NAT_RS1:80" -m
  rvsadm -a -t "$VIP:80" -r "$NAT_RS2:80" -m
  local a out all=""
  for a in 10 11 12 13 14 15 16 17 18; do
    out="$(ns_curl c --interface "198.18.0.$a" "http://$VIP/")"
    case "$out" in rs1|rs2) all+="$out " ;; *) warn "client .$a got '$out'"; return 1 ;; esac
  done
  log "answers: $all"
}

case_b_download_and_udp() {
  local dl="$RUN_DIR/big.dl"
  CURL_MAX_TIME=60 ns_curl c --interface 198.18.0.13 -o "$dl" "http://$VIP/big.bin"
  assert_eq "$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)" "$(sha256sum <"$dl" | cut -d' ' -f1)" "20 MB intact across two loops"
  rvsadm -A -u "$VIP:5353" -s rr
  rvsadm -a -u "$VIP:5353" -r "$NAT_RS1:5353" -m
  local i ans n=0
  for i in 1 2 3 4 5 6; do
    ans="$(udp_ask c "$VIP" 5353 "q$i")"; [ -z "$ans" ] && ans="$(udp_ask c "$VIP" 5353 "q$i again")"
    [ "$ans" = rs1 ] && n=$((n + 1))
  done
  assert_eq 6 "$n" "UDP answered through two loops"
}

case_c_handoff_happened() {
  local h
  h="$(rvsadm --counters | awk '$1 == "handed-off-to-owner-loop" {print $2}')"
  log "frames handed to their owner loop: ${h:-0}"
  [ "${h:-0}" -gt 0 ] || { warn "no frame was handed off: the test did not exercise cross-queue replies"; rvsadm --counters >&2; return 1; }
  assert_eq "" "$(rvsadm --counters | awk '$1 == "drop-handoff-ring-full" {print $2}')" "no hand-off overflow"
}

case_d_listing_merges_loops() {
  local n
  n="$(rvsadm -Lnc | grep -c ' 198.18.0.100:80 ' || true)"
  [ "$n" -ge 9 ] || { warn "-Lnc shows $n connections to :80, expected >= 9 from both loops"; return 1; }
  assert_contains "$(rvsadm -Ln --stats)" "TCP  198.18.0.100:80" "stats from both loops"
}

# Fragmented FULLNAT replies: their pieces carry no ports past the first, so they are steered
# by addresses and all meet in one loop (the kernel hashes fragments by addresses too), while
# the local port that names each reply's owner loop was chosen by the loop of its client.
# The loop they meet in reassembles each datagram and hands its pieces to the owner.
case_e_fragmented_fullnat_replies() {
  local lip=198.18.1.50 h0 a out
  bg rs1 echo-frag python3 "$E2E_DIR/udp_frag.py" serve "0.0.0.0:7" --max-seconds 120
  wait_udp_listen rs1 7
  rvsadm -A -u "$VIP:7" -s rr
  rvsadm -a -u "$VIP:7" -r "$NAT_RS1:7" --fullnat
  rvsadm -P -u "$VIP:7" -z "$lip"
  h0="$(rvsadm --counters | awk '$1 == "handed-off-to-owner-loop" {v = $2} END {print v + 0}')"
  for a in 10 11 12 13 14 15 16 17 18; do
    out="$(ns_exec c timeout 30 python3 "$E2E_DIR/udp_frag.py" ask "$VIP" 7 9000 2 "198.18.0.$a")"
    assert_eq "9000 intact 2/2" "$out" "client .$a: 9,000-byte datagrams echoed intact by FULLNAT"
  done
  rvsadm -Lnc | awk '$1 == "UDP" && $5 ~ /:7$/' | sed 's/^/    Lnc| /'
  local h1; h1="$(rvsadm --counters | awk '$1 == "handed-off-to-owner-loop" {v = $2} END {print v + 0}')"
  log "frames handed to their owner loop during the case: $((h1 - h0))"
  [ "$((h1 - h0))" -gt 0 ] || { warn "nothing handed off: no reply met in a loop that does not own it"; return 1; }
}

run_case "a. NAT from nine client addresses" case_a_nat
run_case "b. 20 MB download and UDP" case_b_download_and_udp
run_case "c. replies were handed to their owner loop" case_c_handoff_happened
run_case "d. -Lnc merges both loops" case_d_listing_merges_loops
run_case "e. fragmented FULLNAT replies reach the loop of their local port" case_e_fragmented_fullnat_replies
if stop_rvs; then pass "k. SIGTERM: clean stop"; else fail "k. SIGTERM: clean stop"; fi
finish
