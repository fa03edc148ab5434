#!/usr/bin/env bash
# tests/e2e/test_sched.sh: the connection-counting and hashing schedulers of rvs, end to end
# in the NAT lab (tests/e2e/topo_nat.sh).
#
#   lc, wlc, sed, nq  need connections that stay open: the real servers run a "holder" on
#                     tcp 9000 that writes its name and then keeps the connection for 40 s;
#                     the client opens held connections in the background (each bounded by
#                     `timeout 30`) and reads which server answered.  Each case uses its own
#                     service (VIP:9001..), so the counters of one case do not leak into the
#                     next (IPVS keeps ActiveConn per service and dest).
#   sh, mh            the client namespace gets extra addresses 198.18.0.11..16 (curl
#                     --interface): each client address must stay on one server (stable),
#                     and the clients must use both servers (spread).
#   dh, lblc, fo      quick checks with short requests.
#   -x/-y             an upper threshold diverts new connections from a full server.
#   twos, none        Linux 6.2's power of two choices with held connections; -s none.
# Every case is bounded (curl --max-time, `timeout` on every held connection).
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
CLIENTS=(198.18.0.11 198.18.0.12 198.18.0.13 198.18.0.14 198.18.0.15 198.18.0.16)
HOLD_PORT=9000
HOLD_SECS=40          # the server side keeps each held connection this long
HOLD_CLIENT_SECS=30   # and the client gives up after this

topo_nat
for a in "${CLIENTS[@]}"; do ns_exec c ip addr add "$a/24" dev eth0; done
bg rs1 holder-rs1 socat "TCP-LISTEN:$HOLD_PORT,fork,reuseaddr" "SYSTEM:echo rs1; sleep $HOLD_SECS"
bg rs2 holder-rs2 socat "TCP-LISTEN:$HOLD_PORT,fork,reuseaddr" "SYSTEM:echo rs2; sleep $HOLD_SECS"
wait_tcp_listen rs1 "$HOLD_PORT"
wait_tcp_listen rs2 "$HOLD_PORT"
start_rvs "$NAT_CONFIG"

# ------------------------------------------------------------------------------ helpers
# hold TAG PORT: opens one long-lived connection client -> VIP:PORT in the background and
# prints the name of the server that answered it (rs1/rs2); fails if none answered in 5 s.
hold() {
  local tag="$1" port="$2" f="$LOG_DIR/hold-$1.log"
  bg c "hold-$tag" timeout "$HOLD_CLIENT_SECS" socat -u "TCP4:$VIP:$port" STDOUT
  if ! wait_until 5 grep -q . "$f"; then warn "held connection $tag to :$port got no answer"; return 1; fi
  head -n1 "$f"
}

# active SVCPORT RIP: ActiveConn of dest RIP:9000 in service VIP:SVCPORT (-Ln)
active() {
  rvsadm -Ln -t "$VIP:$1" | awk -v d="$2:$HOLD_PORT" '$1 == "->" && $2 == d {print $5}'
}
inact() {
  rvsadm -Ln -t "$VIP:$1" | awk -v d="$2:$HOLD_PORT" '$1 == "->" && $2 == d {print $6}'
}

# wait_active SVCPORT N1 N2: polls (3 s) until rs1 and rs2 show N1 and N2 active
wait_active() {
  local end=$((SECONDS + 3)) a1 a2
  while :; do
    a1="$(active "$1" "$RS1")"; a2="$(active "$1" "$RS2")"
    [ "$a1" = "$2" ] && [ "$a2" = "$3" ] && return 0
    [ "$SECONDS" -ge "$end" ] && break
    sleep 0.2
  done
  warn "VIP:$1 ActiveConn rs1=$a1 rs2=$a2, expected rs1=$2 rs2=$3:"
  rvsadm -Ln -t "$VIP:$1" | sed 's/^/    Ln| /' >&2
  return 1
}

# hold_service PORT SCHED [RS1 OPTIONS...] -- [RS2 OPTIONS...]: VIP:PORT -> both holders
hold_service() {
  local port="$1" sched="$2"; shift 2
  local -a o1=() o2=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do o1+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  o2=("$@")
  rvsadm -A -t "$VIP:$port" -s "$sched"
  rvsadm -a -t "$VIP:$port" -r "$RS1:$HOLD_PORT" -m "${o1[@]}"
  rvsadm -a -t "$VIP:$port" -r "$RS2:$HOLD_PORT" -m "${o2[@]}"
}

other() { [ "$1" = rs1 ] && echo rs2 || echo rs1; }

# curl_from SRC COUNT URL: COUNT sequential requests from source address SRC; one line each
curl_from() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  ns_exec c bash -c '
    for _ in $(seq "$1"); do
      curl -sS --noproxy "*" --interface "$5" --connect-timeout "$2" --max-time "$3" "$4" 2>/dev/null || echo ERR
    done' _ "$2" "$CURL_CONNECT_TIMEOUT" "$CURL_MAX_TIME" "$3" "$1"
}

# one_server TEXT: prints the single distinct line of TEXT; fails if there are several
one_server() {
  local u; u="$(sort -u <<<"$1")"
  if [ "$(wc -l <<<"$u")" != 1 ] || [ "$u" = ERR ]; then
    warn "answers from more than one server (or errors): $(tr '\n' ' ' <<<"$1")"; return 1
  fi
  printf '%s\n' "$u"
}

# client_map FILE: for every client address, 5 requests to VIP:80; each must stay on one
# server; writes "ADDR SERVER" lines to FILE; fails unless both servers are used.
client_map() {
  local file="$1" a out s used=""
  : >"$file"
  for a in "${CLIENTS[@]}"; do
    out="$(curl_from "$a" 5 "http://$VIP/")"
    s="$(one_server "$out")" || { warn "client $a is not stable"; return 1; }
    printf '%s %s\n' "$a" "$s" >>"$file"
    used+="$s"$'\n'
  done
  log "clients -> servers: $(tr '\n' ' ' <"$file")"
  if [ "$(count_lines "$used" rs1)" = 0 ] || [ "$(count_lines "$used" rs2)" = 0 ]; then
    warn "the clients all went to one server: no spread"; return 1
  fi
}

# ---------------------------------------------------------------------------------- a
# lc: the least (ActiveConn*256 + InActConn) wins.  Three held connections split 2/1;
# the fourth goes to the server holding one.
case_a_lc() {
  hold_service 9001 lc
  local s1 s2 s3 s4 n1 n2
  s1="$(hold lc1 9001)"; s2="$(hold lc2 9001)"; s3="$(hold lc3 9001)"
  log "lc: held connections went to $s1 $s2 $s3"
  [ "$s2" = "$(other "$s1")" ] || { warn "lc: 2nd connection went to $s2 beside an active $s1"; return 1; }
  n1="$(printf '%s\n' "$s1" "$s2" "$s3" | grep -cx rs1 || true)"; n2=$((3 - n1))
  wait_active 9001 "$n1" "$n2"
  assert_eq 0 "$(inact 9001 "$RS1")" "rs1 InActConn"
  assert_eq 0 "$(inact 9001 "$RS2")" "rs2 InActConn"
  local fewer; if [ "$n1" -lt "$n2" ]; then fewer=rs1; else fewer=rs2; fi
  s4="$(hold lc4 9001)"
  log "lc: 4th connection went to $s4"
  assert_eq "$fewer" "$s4" "lc: the next connection goes to the server with fewer active"
  wait_active 9001 2 2
}

# ---------------------------------------------------------------------------------- b
# wlc 3:1: after three held connections rs1 holds 2 and rs2 1 whichever went first
# (0/3 vs 0/1 tie; then 1/3 < 1/1 or 0/1 < 1/3 ...); the fourth goes to rs1 (2/3 < 1/1).
case_b_wlc() {
  hold_service 9002 wlc -w 3 -- -w 1
  local s1 s2 s3 s4
  s1="$(hold wlc1 9002)"; s2="$(hold wlc2 9002)"; s3="$(hold wlc3 9002)"
  log "wlc 3:1: held connections went to $s1 $s2 $s3"
  wait_active 9002 2 1
  s4="$(hold wlc4 9002)"
  log "wlc 3:1: 4th connection went to $s4"
  assert_eq rs1 "$s4" "wlc: rs1 (2 active / weight 3) before rs2 (1 / 1)"
  wait_active 9002 3 1
}

# ---------------------------------------------------------------------------------- c
# sed 3:1 ((active+1)/weight): the first two held connections both go to rs1 (1/3 < 1/1,
# 2/3 < 1/1).  nq 3:1: an idle server is taken first, so the first two go one to each.
case_c_sed_nq() {
  hold_service 9003 sed -w 3 -- -w 1
  local a b
  a="$(hold sed1 9003)"; b="$(hold sed2 9003)"
  log "sed 3:1: $a $b"
  assert_eq "rs1 rs1" "$a $b" "sed: both to the weight-3 server"
  wait_active 9003 2 0
  hold_service 9004 nq -w 3 -- -w 1
  a="$(hold nq1 9004)"; b="$(hold nq2 9004)"
  log "nq 3:1: $a $b"
  assert_eq "$(other "$a")" "$b" "nq: the second connection to the idle server"
  wait_active 9004 1 1
}

# ---------------------------------------------------------------------------------- d
# -x 2 on rs1 (wrr 100:1, so rs1 would take nearly everything): once rs1 holds 2 connections
# (ActiveConn + InActConn >= -x) it gets no new ones; --thresholds lists -x/-y. The first
# connection goes to rs2: the kernel's wrr keeps the current weight its adds left (with rs1
# alone the gcd is 100, so cw became 100 - 99 = 1; adding rs2 kept it), and rs2, at the head
# of the list, has weight 1 >= 1; then cw wraps to 100 and rs1 takes the next ones.
case_d_threshold() {
  hold_service 9005 wrr -w 100 -x 2 -y 1 -- -w 1
  assert_match "$(rvsadm -Ln --thresholds -t "$VIP:9005" | grep -F "$RS1:$HOLD_PORT")" \
    "^  -> 198\\.18\\.1\\.11:9000 +2 +1 +0 +0 *$" "--thresholds row of rs1"
  local a b c d e
  a="$(hold x1 9005)"; b="$(hold x2 9005)"; c="$(hold x3 9005)"
  assert_eq "rs2 rs1 rs1" "$a $b $c" "wrr 100:1 after the adds: rs2 (cw 1), then rs1"
  wait_active 9005 2 1
  d="$(hold x4 9005)"; e="$(hold x5 9005)"
  log "-x 2: 4th and 5th went to $d $e"
  assert_eq "rs2 rs2" "$d $e" "rs1 at its upper threshold takes no new connections"
  assert_match "$(rvsadm -Ln --thresholds -t "$VIP:9005" | grep -F "$RS1:$HOLD_PORT")" \
    "^  -> 198\\.18\\.1\\.11:9000 +2 +1 +2 +0 *$" "--thresholds row of rs1 with 2 active"
}

# ---------------------------------------------------------------------------------- e
# sh: stable per client address, spread over the clients.
case_e_sh() {
  rvsadm -A -t "$VIP:80" -s sh
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -m
  rvsadm -a -t "$VIP:80" -r "$RS2:80" -m
  client_map "$RUN_DIR/map-sh"
  # the same again: the mapping depends only on the address
  client_map "$RUN_DIR/map-sh2"
  assert_eq "$(cat "$RUN_DIR/map-sh")" "$(cat "$RUN_DIR/map-sh2")" "sh mapping repeated"
}

# ---------------------------------------------------------------------------------- f
# sh with -b sh-port: the source port joins the hash, so one client's connections spread.
case_f_sh_port() {
  rvsadm -E -t "$VIP:80" -s sh -b sh-port
  assert_contains "$(rvsadm -Ln)" "TCP  198.18.0.100:80 sh (sh-port)" "-Ln shows the flag"
  assert_contains "$(rvsadm -Sn)" "-A -t 198.18.0.100:80 -s sh -b sh-port" "-Sn saves the flag"
  local out
  out="$(curl_from 198.18.0.11 12 "http://$VIP/")"
  log "sh-port, 12 requests from one client: $(tr '\n' ' ' <<<"$out")"
  if [ "$(count_lines "$out" rs1)" = 0 ] || [ "$(count_lines "$out" rs2)" = 0 ]; then
    warn "sh-port: one client's 12 connections all went to one server"; return 1
  fi
  rvsadm -E -t "$VIP:80" -s sh
}

# ---------------------------------------------------------------------------------- g
# mh: stable and spread; then rs2 is deleted (its clients move to rs1, rs1's stay) and
# re-added: the clients of rs1 never moved.  Kernel IPVS rebuilds the same Maglev table
# for the same dests, so rs2's clients come back too.
case_g_mh() {
  rvsadm -E -t "$VIP:80" -s mh
  assert_contains "$(rvsadm -Ln)" "TCP  198.18.0.100:80 mh" "-Ln shows mh"
  client_map "$RUN_DIR/map-mh"
  rvsadm -d -t "$VIP:80" -r "$RS2:80"
  local a s out
  while read -r a s; do
    out="$(curl_from "$a" 2 "http://$VIP/")"
    assert_eq "rs1" "$(one_server "$out")" "without rs2, client $a (was $s)"
  done <"$RUN_DIR/map-mh"
  rvsadm -a -t "$VIP:80" -r "$RS2:80" -m
  local moved=0 back=0
  while read -r a s; do
    out="$(one_server "$(curl_from "$a" 2 "http://$VIP/")")"
    if [ "$s" = rs1 ]; then
      [ "$out" = rs1 ] || { warn "client $a of rs1 moved to $out after rs2 came back"; moved=1; }
    elif [ "$out" = rs2 ]; then back=$((back + 1))
    fi
  done <"$RUN_DIR/map-mh"
  local was2; was2="$(grep -c ' rs2$' "$RUN_DIR/map-mh" || true)"
  log "mh: $back of $was2 clients of rs2 came back to it"
  [ "$moved" = 0 ]
  assert_eq "$was2" "$back" "clients of rs2 back on rs2 (same dests, same Maglev table)"
}

# ---------------------------------------------------------------------------------- h
# dh and lblc hash the destination address: one VIP, every client on one server.
case_h_dh_lblc() {
  local sched a all
  for sched in dh lblc lblcr; do
    rvsadm -E -t "$VIP:80" -s "$sched"
    all=""
    for a in 198.18.0.11 198.18.0.12 198.18.0.13; do
      all+="$(curl_from "$a" 2 "http://$VIP/")"$'\n'
    done
    all="${all%$'\n'}"
    log "$sched: $(tr '\n' ' ' <<<"$all")"
    one_server "$all" >/dev/null || { warn "$sched spread one destination address"; return 1; }
  done
}

# ---------------------------------------------------------------------------------- i
# fo: the highest-weight server takes everything; at weight 0 it takes nothing new.
case_i_fo() {
  rvsadm -E -t "$VIP:80" -s fo
  rvsadm -e -t "$VIP:80" -r "$RS2:80" -m -w 5
  local out
  out="$(curl_from 198.18.0.12 4 "http://$VIP/")"
  assert_eq 4 "$(count_lines "$out" rs2)" "fo: all to rs2 (weight 5)"
  rvsadm -e -t "$VIP:80" -r "$RS2:80" -m -w 0
  out="$(curl_from 198.18.0.12 4 "http://$VIP/")"
  assert_eq 4 "$(count_lines "$out" rs1)" "fo: all to rs1 with rs2 at weight 0"
}

# ---------------------------------------------------------------------------------- j
# The config file says what -b says: scheduler_flags in [[service]], applied by a reload
# (which replaces the rvsadm-made rules with the file's).
case_j_config_flags() {
  cat >>"$NAT_CONFIG" <<EOF

[[service]]
tcp = "$VIP:80"
scheduler = "mh"
scheduler_flags = ["mh-port"]
[[service.real]]
address = "$RS1:80"
method = "masq"
[[service.real]]
address = "$RS2:80"
method = "masq"
EOF
  rvsadm --reload >/dev/null
  assert_contains "$(rvsadm -Ln)" "TCP  198.18.0.100:80 mh (mh-port)" "-Ln shows the file's flag"
  assert_contains "$(rvsadm -Sn)" "-A -t 198.18.0.100:80 -s mh -b mh-port" "-Sn saves it"
  local out
  out="$(curl_from 198.18.0.11 12 "http://$VIP/")"
  log "mh-port from the config, 12 requests from one client: $(tr '\n' ' ' <<<"$out")"
  if [ "$(count_lines "$out" rs1)" = 0 ] || [ "$(count_lines "$out" rs2)" = 0 ]; then
    warn "mh-port: one client's 12 connections all went to one server"; return 1
  fi
}

# ---------------------------------------------------------------------------------- l
# twos (Linux 6.2's power of two choices): two servers drawn by weight, the one with the
# lower overhead per weight takes the connection.  rs1 at weight 0 is never drawn; then 1:1,
# ten held connections use both (all ten on one server would need that one drawn twice, or
# beside a busier one, nine times running: p < 0.001); -Ln and -Sn name it.
case_l_twos() {
  hold_service 9006 twos -w 0 -- -w 1
  local a b i out="" n1
  a="$(hold twos-a 9006)"; b="$(hold twos-b 9006)"
  assert_eq "rs2 rs2" "$a $b" "twos: rs1 at weight 0 is never drawn"
  rvsadm -e -t "$VIP:9006" -r "$RS1:$HOLD_PORT" -m -w 1
  for i in $(seq 1 10); do out+="$(hold "twos$i" 9006)"$'\n'; done
  n1="$(count_lines "$out" rs1)"
  log "twos 1:1, 10 held connections after 2 on rs2: rs1 $n1, rs2 $((10 - n1))"
  if [ "$n1" = 0 ] || [ "$n1" = 10 ]; then warn "twos: all ten held connections on one server"; return 1; fi
  wait_active 9006 "$n1" "$((12 - n1))"
  assert_contains "$(rvsadm -Ln -t "$VIP:9006")" "TCP  198.18.0.100:9006 twos" "-Ln shows twos"
  assert_contains "$(rvsadm -Sn)" "-A -t 198.18.0.100:9006 -s twos" "-Sn saves twos"
}

# ---------------------------------------------------------------------------------- m
# -s none (ip_vs_ctl.c: no scheduler): the service exists and lists as "none", but a new
# connection finds no server (counted as drop-no-real-server).
case_m_none() {
  rvsadm -A -t "$VIP:9007" -s none
  rvsadm -a -t "$VIP:9007" -r "$RS1:$HOLD_PORT" -m
  local nd0 nd1 rc=0
  nd0="$(rvsadm --counters | awk '$1 == "drop-no-real-server" {v = $2} END {print v + 0}')"
  ns_exec c timeout 3 socat -u "TCP4:$VIP:9007,connect-timeout=2" STDOUT >/dev/null 2>&1 || rc=$?
  nd1="$(rvsadm --counters | awk '$1 == "drop-no-real-server" {v = $2} END {print v + 0}')"
  log "-s none: the client's connect ended with status $rc; drop-no-real-server $nd0 -> $nd1"
  [ "$rc" != 0 ] || { warn "-s none: a connection was made"; return 1; }
  if [ "$nd1" -le "$nd0" ]; then warn "-s none: drop-no-real-server did not grow"; return 1; fi
  assert_contains "$(rvsadm -Ln -t "$VIP:9007")" "TCP  198.18.0.100:9007 none" "-Ln shows none"
  assert_contains "$(rvsadm -Sn)" "-A -t 198.18.0.100:9007 -s none" "-Sn saves none"
}

run_case "a. lc: 3 held connections split 2/1, the 4th to the one with fewer" case_a_lc
run_case "b. wlc 3:1: rs1 2 active, rs2 1, the 4th to rs1" case_b_wlc
run_case "c. sed 3:1 and nq 3:1 with held connections" case_c_sed_nq
run_case "d. -x 2 -y 1: a full server takes no new connections" case_d_threshold
run_case "e. sh: stable per client, spread over clients" case_e_sh
run_case "f. sh -b sh-port: one client spreads" case_f_sh_port
run_case "g. mh: stable, spread, rs1's clients stay when rs2 leaves and returns" case_g_mh
run_case "h. dh, lblc, lblcr: one VIP -> one server" case_h_dh_lblc
run_case "i. fo: highest weight first" case_i_fo
run_case "l. twos: weight 0 never drawn, both servers used at 1:1" case_l_twos
run_case "m. -s none: listed, schedules nothing" case_m_none
run_case "j. scheduler_flags in the config (mh-port), applied by a reload" case_j_config_flags
if stop_rvs; then pass "k. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "k. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
finish
