#!/usr/bin/env bash
# tests/e2e/test_tun.sh: rvs as a TUN (IP-in-IP, "Tunnel", ipvsadm -i) director, end to end.
# Lab: tests/e2e/topo_direct.sh.  The kernel here has no ipip module: each real server runs
# tests/e2e/ipip_decap.py, which hands the inner packets to its kernel through the TUN device
# "tunl-rvs"; the real servers answer the client directly through the router.
# Every case is bounded (curl --max-time, timeout around socat, a few dozen requests).
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
# counter NAME: the value of one `rvsadm --counters` line (0 if absent)
counter() { rvsadm --counters | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
# tun_rx NS: packets ipip_decap.py has written into the real server's TUN device
tun_rx() { ns_exec "$1" cat "/sys/class/net/$DIRECT_TUN_DEV/statistics/rx_packets"; }

# ---------------------------------------------------------------------------------- a
# The decapsulators' TUN devices count the inner packets: the requests really came in IPIP
# (a DR frame would be accepted by the real server too, and would not pass tunl-rvs).
case_a_rr() {
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -i
  rvsadm -a -t "$VIP:80" -r "$RS2:80" -i
  local out t1 t2
  t1="$(tun_rx rs1)"; t2="$(tun_rx rs2)"
  out="$(curl_many c 10 "http://$VIP/")"
  log "10 requests: $(tr '\n' ' ' <<<"$out")"
  assert_eq 5 "$(count_lines "$out" rs1)" "requests answered by rs1"
  assert_eq 5 "$(count_lines "$out" rs2)" "requests answered by rs2"
  strict_alternation "$out"
  t1=$(( $(tun_rx rs1) - t1 )); t2=$(( $(tun_rx rs2) - t2 ))
  log "inner packets decapsulated: rs1 $t1, rs2 $t2"
  # each connection: SYN, ACK, request, FIN, ACK at least
  if [ "$t1" -lt 20 ] || [ "$t2" -lt 20 ]; then warn "too few packets came through the tunnel"; return 1; fi
}

# ---------------------------------------------------------------------------------- b
case_b_list() {
  local out
  out="$(rvsadm -Ln)"
  printf '%s\n' "$out" | sed 's/^/    Ln| /'
  assert_contains "$out" "TCP  198.18.1.100:80 rr" "service row"
  assert_match "$(grep -F -- '-> 198.18.1.11:80' <<<"$out")" '^  -> 198\.18\.1\.11:80 +Tunnel +1 ' "rs1 row: Tunnel, weight 1"
  assert_match "$(grep -F -- '-> 198.18.1.12:80' <<<"$out")" '^  -> 198\.18\.1\.12:80 +Tunnel +1 ' "rs2 row: Tunnel, weight 1"
  assert_contains "$(rvsadm -S -n)" "-a -t 198.18.1.100:80 -r 198.18.1.11:80 -i -w 1" "-S -n saves -i"
}

# ---------------------------------------------------------------------------------- c
case_c_big() {
  direct_download TUN
}

# ---------------------------------------------------------------------------------- d
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
}

# ---------------------------------------------------------------------------------- e
# MTU: the client's full-size DF segments (1500 bytes) cannot take 20 more bytes of IPIP on
# the director's 1500-byte link.  The director must answer "fragmentation needed" (MTU 1480)
# to the client, whose PMTU discovery then sends smaller segments: the upload completes.
upload_size() { stat -c %s "$DIRECT_UPLOAD_DIR/rs1.bin" 2>/dev/null || echo 0; }
upload_done() { [ "$(upload_size)" = "$1" ]; }
case_e_mtu() {
  rvsadm -A -t "$VIP:9000" -s rr
  rvsadm -a -t "$VIP:9000" -r "$RS1:9000" -i
  local src="$RUN_DIR/upload.src" size=$((4 * 1024 * 1024)) fn0 fn1 rc=0
  head -c "$size" /dev/urandom >"$src"
  rm -f "$DIRECT_UPLOAD_DIR/rs1.bin"
  fn0="$(counter icmp-frag-needed-sent)"
  ns_exec c timeout 60 socat -u "OPEN:$src" "TCP4:$VIP:9000,connect-timeout=3" || rc=$?
  [ "$rc" = 0 ] || warn "client socat exited $rc"
  wait_until 30 upload_done "$size" || true
  fn1="$(counter icmp-frag-needed-sent)"
  log "upload: $(upload_size) of $size bytes at rs1; icmp-frag-needed-sent $fn0 -> $fn1"
  log "client route to the VIP: $(ns_exec c ip route get "$VIP" | tr -s ' \n' ' ')"
  assert_eq 0 "$rc" "client socat exit status"
  assert_eq "$size" "$(upload_size)" "uploaded size at rs1"
  assert_eq "$(sha256sum <"$src" | cut -d' ' -f1)" "$(sha256sum <"$DIRECT_UPLOAD_DIR/rs1.bin" | cut -d' ' -f1)" "sha256 of the upload at rs1"
  if [ "$fn1" -le "$fn0" ]; then warn "icmp-frag-needed-sent did not grow ($fn0 -> $fn1)"; return 1; fi
}

# ---------------------------------------------------------------------------------- f
# Mixed methods in one service: rs1 by DR, rs2 by IPIP.
case_f_mixed() {
  rvsadm -e -t "$VIP:80" -r "$RS1:80" -g
  local out ln t2
  ln="$(rvsadm -Ln)"
  printf '%s\n' "$ln" | sed 's/^/    Ln| /'
  assert_match "$(grep -F -- '-> 198.18.1.11:80' <<<"$ln")" '^  -> 198\.18\.1\.11:80 +Route +1 ' "rs1 row: Route"
  assert_match "$(grep -F -- '-> 198.18.1.12:80' <<<"$ln")" '^  -> 198\.18\.1\.12:80 +Tunnel +1 ' "rs2 row: Tunnel"
  t2="$(tun_rx rs2)"
  local t1; t1="$(tun_rx rs1)"
  out="$(curl_many c 10 "http://$VIP/")"
  log "10 requests: $(tr '\n' ' ' <<<"$out")"
  assert_eq 5 "$(count_lines "$out" rs1)" "requests answered by rs1 (DR)"
  assert_eq 5 "$(count_lines "$out" rs2)" "requests answered by rs2 (TUN)"
  strict_alternation "$out"
  t1=$(( $(tun_rx rs1) - t1 )); t2=$(( $(tun_rx rs2) - t2 ))
  log "inner packets decapsulated: rs1 $t1 (DR: expected 0), rs2 $t2"
  assert_eq 0 "$t1" "nothing tunnelled to rs1 once it is -g"
  if [ "$t2" -lt 20 ]; then warn "too few packets tunnelled to rs2"; return 1; fi
}

run_case "a. TUN rr: 10 requests alternate rs1/rs2, through IPIP" case_a_rr
run_case "b. -Ln shows Tunnel" case_b_list
run_case "c. 20 MB download, sha256; replies bypass the director" case_c_big
run_case "d. --stats: InPkts > 0, OutPkts 0" case_d_stats
run_case "e. MTU: 4 MB upload intact after ICMP frag-needed" case_e_mtu
run_case "f. mixed: rs1 -g and rs2 -i in one service" case_f_mixed
if stop_rvs; then pass "k. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "k. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
finish
