#!/usr/bin/env bash
# tests/e2e/test_dr.sh: rvs as a DR (direct routing, "Route", ipvsadm -g) director, end to
# end.  Lab: tests/e2e/topo_direct.sh (client - router - one L2 segment with the director
# and the real servers; the real servers hold the VIP on lo and answer the client through
# the router).  Every case is bounded (curl --max-time, a few dozen requests in all).
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_direct.sh
source "$(dirname "$0")/topo_direct.sh"

VIP="$DIRECT_VIP"
RS1="$DIRECT_RS1"
RS2="$DIRECT_RS2"

topo_direct
start_rvs "$DIRECT_CONFIG"

# stats_row TEXT TYPE ADDR: the five numbers of a `-Ln --stats` row (TYPE "TCP" or "->")
stats_row() { awk -v t="$2" -v a="$3" '$1 == t && $2 == a {print $3, $4, $5, $6, $7}' <<<"$1"; }

# ---------------------------------------------------------------------------------- a
# Seed 003's DR experiment: RS2 added first, RS1 second; the client's ten requests read RS1,
# RS2, RS1... (kernel IPVS puts each new real server at the head of the list and rr starts
# there: the one added last gets the first connection).
case_a_rr() {
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$RS2:80" -g
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -g
  local out
  out="$(curl_many c 10 "http://$VIP/")"
  log "10 requests: $(tr '\n' ' ' <<<"$out")"
  assert_eq "rs1 rs2 rs1 rs2 rs1 rs2 rs1 rs2 rs1 rs2" "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')" \
    "seed 003: the server added last first, then strict alternation"
}

# ---------------------------------------------------------------------------------- b
case_b_list() {
  local out
  out="$(rvsadm -Ln)"
  printf '%s\n' "$out" | sed 's/^/    Ln| /'
  assert_contains "$out" "TCP  198.18.1.100:80 rr" "service row"
  assert_match "$(grep -F -- '-> 198.18.1.11:80' <<<"$out")" '^  -> 198\.18\.1\.11:80 +Route +1 ' "rs1 row: Route, weight 1"
  assert_match "$(grep -F -- '-> 198.18.1.12:80' <<<"$out")" '^  -> 198\.18\.1\.12:80 +Route +1 ' "rs2 row: Route, weight 1"
  assert_contains "$(rvsadm -S -n)" "-a -t 198.18.1.100:80 -r 198.18.1.11:80 -g -w 1" "-S -n saves -g"
}

# ---------------------------------------------------------------------------------- c
# 20 MB from a real server to the client.  Besides the checksum, the switch's port counters
# show where the bytes went: the real servers sent >= 20 MB into the switch, while the
# director's port carried only the client's ACKs (a few hundred KB each way): the replies
# did not pass the director.
case_c_big() {
  local dl="$RUN_DIR/big.download" want got t0 t1
  local d_in0 d_out0 rs0 d_in1 d_out1 rs1
  d_in0="$(if_bytes sw p-d tx)"                      # switch -> director
  d_out0="$(if_bytes sw p-d rx)"                     # director -> switch
  rs0=$(( $(if_bytes sw p-rs1 rx) + $(if_bytes sw p-rs2 rx) ))   # real servers -> switch
  t0=$(date +%s.%N)
  CURL_MAX_TIME=60 ns_curl c -o "$dl" "http://$VIP/big.bin"
  t1=$(date +%s.%N)
  log "20 MB through the VIP in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s"
  d_in1="$(if_bytes sw p-d tx)"
  d_out1="$(if_bytes sw p-d rx)"
  rs1=$(( $(if_bytes sw p-rs1 rx) + $(if_bytes sw p-rs2 rx) ))
  log "bytes during the download: real servers -> switch $((rs1 - rs0)), switch -> director $((d_in1 - d_in0)), director -> switch $((d_out1 - d_out0))"
  assert_eq "$((BIG_MB * 1024 * 1024))" "$(stat -c %s "$dl")" "downloaded size"
  want="$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)"
  got="$(sha256sum <"$dl" | cut -d' ' -f1)"
  assert_eq "$want" "$got" "sha256 of big.bin through the VIP"
  local limit=$((4 * 1024 * 1024))
  if [ $((rs1 - rs0)) -lt $((BIG_MB * 1024 * 1024)) ]; then warn "the real servers sent less than the file"; return 1; fi
  if [ $((d_in1 - d_in0)) -ge "$limit" ] || [ $((d_out1 - d_out0)) -ge "$limit" ]; then
    warn "the director's port carried >= 4 MB during the download: replies went through it"; return 1
  fi
}

# ---------------------------------------------------------------------------------- d
# The director sees only the client -> server half: InPkts counts, OutPkts stays 0.
case_d_stats() {
  local out svc d1 d2
  out="$(rvsadm -Ln --stats)"
  printf '%s\n' "$out" | sed 's/^/    stats| /'
  svc="$(stats_row "$out" TCP "$VIP:80")"
  d1="$(stats_row "$out" "->" "$RS1:80")"
  d2="$(stats_row "$out" "->" "$RS2:80")"
  if [ -z "$svc" ] || [ -z "$d1" ] || [ -z "$d2" ]; then warn "service or dest rows missing"; return 1; fi
  local -a s a b
  read -r -a s <<<"$svc"; read -r -a a <<<"$d1"; read -r -a b <<<"$d2"
  assert_eq 11 "${s[0]}" "service Conns (10 requests + 1 download)"
  assert_eq 0 "${s[2]}" "service OutPkts"
  assert_eq 0 "${a[2]}" "rs1 OutPkts"
  assert_eq 0 "${b[2]}" "rs2 OutPkts"
  assert_eq 0 "${s[4]}" "service OutBytes"
  # 11 connections and the ACKs of a 20 MB download (GRO on the client coalesces: count low)
  if [ "${s[1]}" -lt 100 ]; then warn "service InPkts ${s[1]}: fewer than 10 requests and a download need"; return 1; fi
  if [ "${a[1]}" -eq 0 ] || [ "${b[1]}" -eq 0 ]; then warn "a dest has InPkts 0"; return 1; fi
  assert_eq "${s[1]}" "$((a[1] + b[1]))" "service InPkts == sum over dests"
}

# ---------------------------------------------------------------------------------- e
# The director answers ARP and ping for the VIP on the LAN (the real servers do not:
# arp_ignore), and for its own address.
case_e_ping() {
  ns_exec c ping -c 2 -W 2 -q "$VIP" >/dev/null || { warn "no echo reply from the VIP"; return 1; }
  ns_exec r ping -c 2 -W 2 -q "$DIRECT_DIR" >/dev/null || { warn "no echo reply from the director"; return 1; }
  local mac_vip mac_dir
  mac_vip="$(ns_exec r ip neigh show "$VIP" dev r1 | awk '{print $3}')"
  mac_dir="$(ns_exec d cat /sys/class/net/d0/address)"
  assert_eq "$mac_dir" "$mac_vip" "the router's ARP entry for the VIP is the director's MAC"
}

# ---------------------------------------------------------------------------------- f
# -d rs2: every new connection goes to rs1.
case_f_delete_dest() {
  rvsadm -d -t "$VIP:80" -r "$RS2:80"
  local out
  out="$(curl_many c 6 "http://$VIP/")"
  assert_eq 6 "$(count_lines "$out" rs1)" "requests answered by rs1 after -d rs2"
}

run_case "a. DR rr (seed 003): rs2 added, then rs1: 10 requests read rs1, rs2, rs1..." case_a_rr
run_case "b. -Ln shows Route" case_b_list
run_case "c. 20 MB download, sha256; replies bypass the director" case_c_big
run_case "d. --stats: InPkts > 0, OutPkts 0" case_d_stats
run_case "e. the director answers ARP/ping for the VIP" case_e_ping
run_case "f. -d rs2: all requests to rs1" case_f_delete_dest
if stop_rvs; then pass "k. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "k. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
finish
