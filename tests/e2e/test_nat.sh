#!/usr/bin/env bash
# tests/e2e/test_nat.sh: rvs as a NAT (masquerading) director, end to end, driven by rvsadm
# with ipvsadm arguments.  Lab: tests/e2e/topo_nat.sh.  Every case is bounded (curl
# --max-time, a couple of hundred requests in all).
# Cases are called through run_case; topo_nat takes no script arguments.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"

topo_nat
start_rvs "$NAT_CONFIG"

# `ipvsadm -Ln` is compared exactly, header line included: rvs prints what IPVS prints.
LN_HEADER_RE='^IP Virtual Server version 1\.2\.1 \(size=4096\)$'
# Heredocs below end every line with "|" so trailing blanks are visible and survive editors;
# strip_bars removes exactly one trailing "|" per line.
strip_bars() { sed 's/|$//'; }

# ln_body: `rvsadm -Ln` without its first line, after checking that line's format.
ln_body() {
  local out; out="$(rvsadm -Ln)"
  assert_match "$(head -n1 <<<"$out")" "$LN_HEADER_RE" "first line of -Ln"
  tail -n +2 <<<"$out"
}

# ---------------------------------------------------------------------------------- a
case_a_rr() {
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -m
  rvsadm -a -t "$VIP:80" -r "$RS2:80" -m
  local out prev="" line i=0
  out="$(curl_many c 10 "http://$VIP/")"
  log "10 requests: $(tr '\n' ' ' <<<"$out")"
  assert_eq 5 "$(count_lines "$out" rs1)" "requests answered by rs1"
  assert_eq 5 "$(count_lines "$out" rs2)" "requests answered by rs2"
  while IFS= read -r line; do
    i=$((i + 1))
    [ "$line" != "$prev" ] || { warn "request $i went to $line again: not strict round robin"; return 1; }
    prev="$line"
  done <<<"$out"
}

# ---------------------------------------------------------------------------------- b
# ActiveConn counts connections in ESTABLISHED; every other state (SYN_RECV, FIN_WAIT,
# TIME_WAIT, CLOSE...) counts as InActConn.  Case a made 10 connections, 5 to each server,
# each closed by the time curl returned except that the last FIN may still be in flight:
# poll up to 5 s for 0 active / 5 inactive.  They then sit in TIME_WAIT (IPVS default 120 s;
# CLOSE 10 s), far longer than this case takes, so the inactive count is stable here.
case_b_list() {
  local expected actual
  expected="$(strip_bars <<EOF
Prot LocalAddress:Port Scheduler Flags|
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn|
TCP  198.18.0.100:80 rr|
  -> 198.18.1.11:80               Masq    1      0          5         |
  -> 198.18.1.12:80               Masq    1      0          5         |
EOF
)"
  local end=$((SECONDS + 5))
  while :; do
    actual="$(ln_body)"
    [ "$actual" = "$expected" ] && break
    [ "$SECONDS" -ge "$end" ] && break
    sleep 0.2
  done
  assert_eq "$expected" "$actual" "rvsadm -Ln after 10 closed connections"
}

# ---------------------------------------------------------------------------------- c
# `ipvsadm -Ln --stats`:
#   Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
#     -> RemoteAddress:Port
#   TCP  198.18.0.100:80                    10  ...
#     -> 198.18.1.11:80                      5  ...
# Numbers this small print in full (ipvsadm switches to K/M only from 10^8).
case_c_stats() {
  local out svc d1 d2
  out="$(rvsadm -Ln --stats)"
  printf '%s\n' "$out" | sed 's/^/    stats| /'
  assert_match "$(sed -n 2p <<<"$out")" '^Prot LocalAddress:Port +Conns +InPkts +OutPkts +InBytes +OutBytes$' "stats title"
  assert_eq "  -> RemoteAddress:Port" "$(sed -n 3p <<<"$out")" "stats second title"
  svc="$(awk '$1 == "TCP" && $2 == "198.18.0.100:80" {print $3, $4, $5, $6, $7}' <<<"$out")"
  d1="$(awk '$1 == "->" && $2 == "198.18.1.11:80" {print $3, $4, $5, $6, $7}' <<<"$out")"
  d2="$(awk '$1 == "->" && $2 == "198.18.1.12:80" {print $3, $4, $5, $6, $7}' <<<"$out")"
  if [ -z "$svc" ] || [ -z "$d1" ] || [ -z "$d2" ]; then warn "service or dest rows missing"; return 1; fi
  local -a s a b
  read -r -a s <<<"$svc"; read -r -a a <<<"$d1"; read -r -a b <<<"$d2"
  local v
  for v in "${s[@]}" "${a[@]}" "${b[@]}"; do
    assert_match "$v" '^[0-9]+$' "stats numbers are plain integers"
  done
  assert_eq 10 "${s[0]}" "service Conns"
  assert_eq 5 "${a[0]}" "rs1 Conns"
  assert_eq 5 "${b[0]}" "rs2 Conns"
  if [ "${s[1]}" -eq 0 ] || [ "${s[2]}" -eq 0 ]; then warn "service InPkts/OutPkts are zero"; return 1; fi
  if [ "${a[1]}" -eq 0 ] || [ "${a[2]}" -eq 0 ]; then warn "rs1 InPkts/OutPkts are zero"; return 1; fi
  if [ "${b[1]}" -eq 0 ] || [ "${b[2]}" -eq 0 ]; then warn "rs2 InPkts/OutPkts are zero"; return 1; fi
  # at least SYN, ACK, request, FIN, ACK in; SYN-ACK, response, FIN out, per connection
  if [ "${s[1]}" -lt 40 ] || [ "${s[2]}" -lt 30 ]; then warn "fewer packets than 10 connections need"; return 1; fi
  assert_eq "${s[1]}" "$((a[1] + b[1]))" "service InPkts == sum over dests"
  assert_eq "${s[2]}" "$((a[2] + b[2]))" "service OutPkts == sum over dests"
  assert_eq "${s[3]}" "$((a[3] + b[3]))" "service InBytes == sum over dests"
  assert_eq "${s[4]}" "$((a[4] + b[4]))" "service OutBytes == sum over dests"
}

# ---------------------------------------------------------------------------------- d
# wrr with weights 3:1 repeats a cycle of 4 picks (rs1 rs1 rs1 rs2 in some rotation), so any
# 40 consecutive new connections are exactly 30:10 wherever the cycle starts.
case_d_wrr() {
  rvsadm -E -t "$VIP:80" -s wrr
  rvsadm -e -t "$VIP:80" -r "$RS1:80" -m -w 3   # -m: ipvsadm -e defaults to -g otherwise
  assert_contains "$(rvsadm -Ln)" "TCP  198.18.0.100:80 wrr" "scheduler edited"
  local out
  out="$(curl_many c 40 "http://$VIP/")"
  assert_eq 30 "$(count_lines "$out" rs1)" "requests answered by rs1 (weight 3)"
  assert_eq 10 "$(count_lines "$out" rs2)" "requests answered by rs2 (weight 1)"
}

# ---------------------------------------------------------------------------------- e
case_e_big() {
  local dl="$RUN_DIR/big.download" want got t0 t1
  t0=$(date +%s.%N)
  CURL_MAX_TIME=60 ns_curl c -o "$dl" "http://$VIP/big.bin"
  t1=$(date +%s.%N)
  log "20 MB through the VIP in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s"
  assert_eq "$((BIG_MB * 1024 * 1024))" "$(stat -c %s "$dl")" "downloaded size"
  want="$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)"
  got="$(sha256sum <"$dl" | cut -d' ' -f1)"
  assert_eq "$want" "$got" "sha256 of big.bin through the VIP"
}

# ---------------------------------------------------------------------------------- f
# Each udp_ask is a new socat, so a new source port and a new IPVS connection: rr alternates.
case_f_udp() {
  rvsadm -A -u "$VIP:5353" -s rr
  rvsadm -a -u "$VIP:5353" -r "$RS1:5353" -m
  rvsadm -a -u "$VIP:5353" -r "$RS2:5353" -m
  local i ans all=""
  for i in 1 2 3 4; do
    ans="$(udp_ask c "$VIP" 5353 "hello $i")"
    # UDP promises no delivery: one retry (a new socket, so a new connection) before failing.
    if [ -z "$ans" ]; then
      log "datagram $i unanswered; counters: $(rvsadm --counters | tr '\n' ' ')"
      ans="$(udp_ask c "$VIP" 5353 "hello $i again")"
    fi
    case "$ans" in
      rs1|rs2) ;;
      *) warn "datagram $i: answer '$ans', expected rs1 or rs2"; return 1 ;;
    esac
    all+="$ans"$'\n'
  done
  log "4 datagrams answered by: $(printf '%s' "$all" | tr '\n' ' ')"
  [ "$(count_lines "$all" rs1)" -ge 1 ] || { warn "no datagram answered by rs1"; return 1; }
  [ "$(count_lines "$all" rs2)" -ge 1 ] || { warn "no datagram answered by rs2"; return 1; }
}

# ---------------------------------------------------------------------------------- g
case_g_delete_dest() {
  rvsadm -d -t "$VIP:80" -r "$RS2:80"
  assert_not_contains "$(rvsadm -Ln)" "198.18.1.12:80" "rs2 gone from the service"
  local out
  out="$(curl_many c 10 "http://$VIP/")"
  assert_eq 10 "$(count_lines "$out" rs1)" "requests answered by rs1 after -d rs2"
}

# ---------------------------------------------------------------------------------- h
# The 8080 servers answer "rs1-8080"/"rs2-8080": an answer proves the port was rewritten.
case_h_port_map() {
  rvsadm -A -t "$VIP:8081" -s rr
  rvsadm -a -t "$VIP:8081" -r "$RS1:8080" -m
  rvsadm -a -t "$VIP:8081" -r "$RS2:8080" -m
  local out
  out="$(curl_many c 4 "http://$VIP:8081/")"
  log "4 requests to :8081: $(tr '\n' ' ' <<<"$out")"
  assert_eq 2 "$(count_lines "$out" rs1-8080)" "requests answered by rs1:8080"
  assert_eq 2 "$(count_lines "$out" rs2-8080)" "requests answered by rs2:8080"
}

# ---------------------------------------------------------------------------------- i
case_i_weight0() {
  rvsadm -e -t "$VIP:8081" -r "$RS1:8080" -m -w 0
  assert_contains "$(rvsadm -Ln)" "  -> 198.18.1.11:8080             Masq    0      " "rs1:8080 at weight 0"
  local out
  out="$(curl_many c 6 "http://$VIP:8081/")"
  assert_eq 6 "$(count_lines "$out" rs2-8080)" "requests answered by rs2:8080 with rs1 at weight 0"
}

# ---------------------------------------------------------------------------------- s
# ipvsadm -S -n prints the rules as commands, -R reads them back: the table survives -C + -R.
case_s_save_restore() {
  local saved before after
  saved="$(rvsadm -S -n)"
  printf '%s\n' "$saved" | sed 's/^/    saved| /'
  assert_contains "$saved" "-A -t 198.18.0.100:8081 -s rr"
  assert_contains "$saved" "-a -t 198.18.0.100:8081 -r 198.18.1.11:8080 -m -w 0"
  before="$(rvsadm -Ln | awk '{print $1, $2, $3, $4}')"   # counts dropped: -C resets them
  rvsadm -C
  printf '%s\n' "$saved" | rvsadm -R
  after="$(rvsadm -Ln | awk '{print $1, $2, $3, $4}')"
  assert_eq "$before" "$after" "services and dests after -S -n | -C | -R"
}


# ---------------------------------------------------------------------------------- l
# `ipvsadm -Lnc`: the closed connections of case a sit in TIME_WAIT, client -> VIP -> RS.
case_l_connections() {
  local out rows
  out="$(rvsadm -Lnc)"
  assert_eq "IPVS connection entries" "$(sed -n 1p <<<"$out")" "-Lnc first line"
  assert_eq "pro expire state       source             virtual            destination" "$(sed -n 2p <<<"$out")" "-Lnc title"
  rows="$(grep -cE '^TCP [0-9]{2}:[0-9]{2}  TIME_WAIT   198\.18\.0\.10:[0-9]+ +198\.18\.0\.100:80 +198\.18\.1\.1[12]:80$' <<<"$out" || true)"
  if [ "$rows" -lt 10 ]; then warn "expected >= 10 TIME_WAIT rows, got $rows:"; printf '%s\n' "$out" >&2; return 1; fi
}

# ---------------------------------------------------------------------------------- m
# --timeout shows IPVS's defaults; --set changes them (0 keeps one) and new UDP entries expire
# within the new udp timeout.
case_m_timeouts() {
  assert_eq "Timeout (tcp tcpfin udp): 900 120 300" "$(rvsadm -L --timeout)" "default timeouts"
  rvsadm --set 600 0 30
  assert_eq "Timeout (tcp tcpfin udp): 600 120 30" "$(rvsadm -L --timeout)" "after --set 600 0 30"
  udp_ask c "$VIP" 5353 "timeout probe" >/dev/null
  local n
  n="$(rvsadm -Lnc | grep -cE '^UDP 00:(2[0-9]|30)  UDP ' || true)"
  assert_eq 1 "$n" "one UDP entry (the new one) expires within 30 s"
  rvsadm --set 900 120 300
}

# ---------------------------------------------------------------------------------- n
case_n_ping() {
  ns_exec c ping -c 2 -W 2 -q "$VIP" >/dev/null || { warn "no echo reply from the VIP"; return 1; }
  ns_exec c ping -c 2 -W 2 -q 198.18.0.1 >/dev/null || { warn "no echo reply from the director"; return 1; }
  ns_exec rs1 ping -c 2 -W 2 -q 198.18.1.1 >/dev/null || { warn "no echo reply from the director's inside address"; return 1; }
}

# ---------------------------------------------------------------------------------- o
# Refused commands: ipvsadm's message and exit status, and the table unchanged.
case_o_refusals() {
  local before out rc
  before="$(rvsadm -Ln)"
  rc=0; out="$(rvsadm -a -t "$VIP:80" -r "$RS1:80" -m -w 70000 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status for a bad weight"; assert_eq "illegal weight specified" "$out"
  rc=0; out="$(rvsadm -A -t "$VIP:80" -s rr 2>&1)" || rc=$?
  assert_eq 255 "$rc" "exit status for an existing service"; assert_eq "Service already exists" "$out"
  rc=0; out="$(rvsadm -A -t "$VIP:81" -s nosuch 2>&1)" || rc=$?
  assert_eq 255 "$rc" "exit status for an unknown scheduler"; assert_eq "Scheduler or persistence engine not found" "$out"
  rc=0; out="$(rvsadm -d -t "$VIP:80" -r 198.18.1.99 2>&1)" || rc=$?
  assert_eq "No such destination" "$out"
  assert_eq "$before" "$(rvsadm -Ln)" "nothing changed by the refused commands"
  # -R as ipvsadm 1.31's restore_table(): the line its parser refuses (fail(2, ...)) ends the
  # restore with that status; the line before it stays applied.
  rc=0; out="$(printf -- '-A -t %s:82 -s rr\n-a -t %s:82 -r 198.18.1.11 -m -w nine\n' "$VIP" "$VIP" | rvsadm -R 2>&1)" || rc=$?
  assert_eq "2 illegal weight specified" "$rc $out" "-R stops at the bad line with ipvsadm's text and status"
  assert_contains "$(rvsadm -Ln)" "TCP  198.18.0.100:82 rr" "-R: the line before the bad one applied"
  rvsadm -D -t "$VIP:82"
  assert_eq "$before" "$(rvsadm -Ln)" "back as before"
}

# ---------------------------------------------------------------------------------- p
# A bad configuration file: refused before anything starts, naming the key.
case_p_bad_config() {
  local bad="$RUN_DIR/bad.toml" rc=0 out
  sed 's#"198.18.0.1/24"#"198.18.0.1"#' "$NAT_CONFIG" >"$bad"
  out="$("$RVS_BIN" --config "$bad" 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status for a bad config"
  assert_contains "$out" "interface[0].addresses[0]" "the message names the key"
}

# ---------------------------------------------------------------------------------- q
# -D removes a service: gone from the listing, its VIP:port no longer answered; a second -D
# is refused as ipvsadm refuses it.
case_q_delete_service() {
  rvsadm -A -t "$VIP:8082" -s rr
  rvsadm -a -t "$VIP:8082" -r "$RS1:8080" -m
  assert_eq "rs1-8080" "$(ns_curl c "http://$VIP:8082/")" "service answers before -D"
  rvsadm -D -t "$VIP:8082"
  assert_not_contains "$(rvsadm -Ln)" "198.18.0.100:8082" "service gone from -Ln"
  if CURL_MAX_TIME=2 ns_curl c "http://$VIP:8082/" >/dev/null 2>&1; then warn "VIP:8082 still answered after -D"; return 1; fi
  local rc=0 out
  out="$(rvsadm -D -t "$VIP:8082" 2>&1)" || rc=$?
  assert_eq 255 "$rc" "exit status of -D on a missing service"
  assert_eq "No such service" "$out"
}

# ---------------------------------------------------------------------------------- j
case_j_clear() {
  rvsadm -C
  local expected
  expected="$(strip_bars <<EOF
Prot LocalAddress:Port Scheduler Flags|
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn|
EOF
)"
  assert_eq "$expected" "$(ln_body)" "rvsadm -Ln after -C"
}

run_case "a. rr: 10 requests alternate rs1/rs2" case_a_rr
run_case "b. -Ln lists the service and dests" case_b_list
run_case "c. -Ln --stats counts connections and packets" case_c_stats
run_case "l. -Lnc lists the connections" case_l_connections
run_case "d. wrr 3:1 over 40 requests" case_d_wrr
run_case "e. 20 MB download through the VIP, sha256" case_e_big
run_case "f. UDP service answered by both servers" case_f_udp
run_case "g. -d rs2: all requests to rs1" case_g_delete_dest
run_case "h. port mapping VIP:8081 -> RIP:8080" case_h_port_map
run_case "i. weight 0 gets no new connections" case_i_weight0
run_case "m. --timeout and --set" case_m_timeouts
run_case "n. ping the VIP and the director" case_n_ping
run_case "o. refused commands keep the table" case_o_refusals
run_case "p. a bad config is refused naming the key" case_p_bad_config
run_case "q. -D deletes a service" case_q_delete_service
run_case "s. -S -n, -C, -R round trip" case_s_save_restore
run_case "j. -C leaves an empty table" case_j_clear
# rvs is this shell's child (`wait` for its status works only here): not in a run_case subshell
if stop_rvs; then pass "k. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "k. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
finish
