#!/usr/bin/env bash
# tests/e2e/test_sctp.sh: SCTP services (`--sctp-service`) through rvs with NAT, DR, TUN and
# FULLNAT, to two real servers, end to end.  Lab: tests/e2e/topo_direct.sh (one segment:
# router, director, rs1, rs2), plus policy routing on the real servers so that what they
# send from their own address (NAT replies) goes back through the director while what they
# send from the VIP (DR, TUN) goes straight to the router.
#
# The kernel here has no SCTP (CONFIG_IP_SCTP off: socket(..., IPPROTO_SCTP) fails with
# EPROTONOSUPPORT, and socat's sctp with it), so both ends are tests/e2e/sctp_peer.py, our own
# user-space SCTP over raw IP sockets (INIT/INIT ACK/COOKIE ECHO/COOKIE ACK, DATA/SACK both
# ways, SHUTDOWN/SHUTDOWN ACK/SHUTDOWN COMPLETE, CRC32c checked on receipt).  A kernel with
# no SCTP answers SCTP with ICMP protocol-unreachable unless a raw socket took the packet: an
# nftables rule in every peer namespace drops (and counts) any such ICMP, and case h prints
# the counts.  Case i: ICMP errors about associations, from the real servers (sctp_peer.py
# sends them as a host would) and from the client.  Every case is bounded: a few associations
# of at most 20 MB each (a few seconds each here), 60 s each.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_direct.sh
source "$(dirname "$0")/topo_direct.sh"

VIP="$DIRECT_VIP"
RS1="$DIRECT_RS1"
RS2="$DIRECT_RS2"
CLIENT="$DIRECT_CLIENT"
PORT=3868       # the service's port
NAT_PORT=3869   # the NAT real servers' port (NAT maps it)
LIP=198.18.1.50 # the FULLNAT local address
REFUSED_PORT=3871 # the real servers answer it with ICMP port unreachable
RS_MTU=1200       # a longer packet (DF) gets ICMP fragmentation needed from a real server
PEER="$E2E_DIR/sctp_peer.py"
BIG=20000000    # bytes of the transfer through each method, checked by SHA-256
VIP_HEX="$(printf '%02X' ${VIP//./ })"

topo_direct --no-servers
for n in rs1:"$RS1" rs2:"$RS2"; do
  ns="${n%%:*}"; addr="${n#*:}"
  # From its own address (a NAT reply) a real server answers through the director.
  ns_exec "$ns" ip rule add from "$addr" table 100 prio 100
  ns_exec "$ns" ip route add 198.18.1.0/24 dev eth0 table 100
  ns_exec "$ns" ip route add default via "$DIRECT_DIR" table 100
done
for ns in c rs1 rs2; do
  ns_exec "$ns" nft -f - <<'EOF'
table inet sctplab {
  chain out {
    type filter hook output priority 0;
    icmp type destination-unreachable icmp code prot-unreachable counter drop
  }
}
EOF
done
start_ipip_decap rs1 rs1 "$DIRECT_TUN_DEV" 600
start_ipip_decap rs2 rs2 "$DIRECT_TUN_DEV" 600
for ns in rs1 rs2; do
  bg "$ns" "sctp-$ns" python3 "$PEER" server --name "$ns" --ports "$PORT,$NAT_PORT" --max-seconds 600 \
    --refuse-port "$REFUSED_PORT" --mtu "$RS_MTU"
  wait_until 10 grep -q serving "$LOG_DIR/sctp-$ns.log" || die "sctp_peer.py server in $ns did not start"
done
start_rvs "$DIRECT_CONFIG"

# sctp_client SPORT BYTES [ARGS...]: one association from the client, its result line.
sctp_client() {
  ns_exec c timeout 90 python3 "$PEER" client --src "$CLIENT" --to "$VIP" --port "$PORT" \
    --sport "$1" --bytes "$2" --max-seconds 60 "${@:3}"
}
counter() { rvsadm --counters | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
# associations N FIRST_SPORT BYTES: N associations in turn; prints the servers' names.
associations() {
  local i line names=""
  for i in $(seq "$1"); do
    line="$(sctp_client $(($2 + i)) "$3")"
    log "association $i: $line"
    assert_match "$line" '^rs[12] [0-9]+ [0-9a-f]{64} ok$' "association $i's result"
    names+="${line%% *}"$'\n'
  done
  printf '%s' "$names"
}
# conn_states: "-Lnc" rows as "state client" lines.
conn_states() { rvsadm -Lnc | awk '$1 == "SCTP" {print $3, $4}'; }
# service METHOD RS_PORT [ARGS...]: a fresh rr SCTP service over rs1 and rs2 by METHOD.
service() {
  rvsadm -C
  rvsadm -A --sctp-service "$VIP:$PORT" -s rr "${@:3}"
  rvsadm -a --sctp-service "$VIP:$PORT" -r "$RS1:$2" "$1"
  rvsadm -a --sctp-service "$VIP:$PORT" -r "$RS2:$2" "$1"
}

# ---------------------------------------------------------------------------------- a
case_a_nat() {
  service -m "$NAT_PORT"
  local names
  names="$(associations 4 41000 2000)"
  assert_eq 2 "$(count_lines "$names" rs1)" "associations answered by rs1"
  assert_eq 2 "$(count_lines "$names" rs2)" "associations answered by rs2"
  strict_alternation "$names"
  local expected actual
  expected="$(cat <<EOF
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
SCTP  198.18.1.100:3868 rr
  -> 198.18.1.11:3869             Masq    1      0          2         
  -> 198.18.1.12:3869             Masq    1      0          2         
EOF
)"
  actual="$(rvsadm -Ln | tail -n +2)"
  assert_eq "$expected" "$actual" "rvsadm -Ln: the SCTP service, 4 closed associations inactive"
  local states; states="$(conn_states)"
  printf '%s\n' "$states" | sed 's/^/    Lnc| /'
  assert_eq 4 "$(grep -c '^CLOSED 198\.18\.0\.10:4100[1-4]$' <<<"$states")" "4 associations CLOSED in -Lnc"
  assert_match "$(rvsadm -Lnc | grep -m1 ':41001 ')" \
    '^SCTP [0-9]{2}:[0-9]{2} +CLOSED +198\.18\.0\.10:41001 +198\.18\.1\.100:3868 +198\.18\.1\.1[12]:3869$' "-Lnc row"
}

# ---------------------------------------------------------------------------------- b
# 20 MB through the NAT association, checked by SHA-256, the association held open 3 s
# after the transfer: meanwhile -Lnc says ESTABLISHED and -Ln counts it active.
case_b_transfer() {
  local out="$RUN_DIR/transfer-b" pid line
  sctp_client 42000 $BIG --hold 3 >"$out" 2>&1 &
  pid=$!
  if ! wait_until 20 eval "conn_states | grep -qx 'ESTABLISHED 198.18.0.10:42000'"; then
    wait "$pid" || true; cat "$out" >&2; warn "no ESTABLISHED association in -Lnc"; return 1
  fi
  rvsadm -Lnc | grep ':42000 ' | sed 's/^/    Lnc| /'
  assert_eq 1 "$(rvsadm -Ln | awk '$1 == "->" {a += $5} END {print a + 0}')" "ActiveConn while ESTABLISHED"
  wait "$pid" || { cat "$out" >&2; return 1; }
  line="$(cat "$out")"
  log "transfer: $line"
  assert_match "$line" "^rs[12] $BIG [0-9a-f]{64} ok$" "20 MB intact"
  wait_until 5 eval "conn_states | grep -qx 'CLOSED 198.18.0.10:42000'" || { warn "not CLOSED after shutdown"; return 1; }
  assert_eq 0 "$(rvsadm -Ln | awk '$1 == "->" {a += $5} END {print a + 0}')" "ActiveConn after shutdown"
}

# ---------------------------------------------------------------------------------- c
case_c_save_restore_proc() {
  local proc; proc="$(rvsadm --proc ip_vs)"
  assert_contains "$proc" "SCTP  $VIP_HEX:0F1C rr" "/proc/net/ip_vs names the SCTP service"
  assert_match "$(rvsadm --proc ip_vs_conn | grep -m1 '^SCTP ')" \
    "^SCTP C612000A [0-9A-F]{4} $VIP_HEX 0F1C C612010[BC] 0F1D CLOSED +[0-9]+" "/proc/net/ip_vs_conn row"
  local saved
  saved="$(rvsadm -S -n)"
  printf '%s\n' "$saved" | sed 's/^/    S| /'
  assert_contains "$saved" "-A --sctp-service 198.18.1.100:3868 -s rr" "-S saves the service"
  assert_contains "$saved" "-a --sctp-service 198.18.1.100:3868 -r 198.18.1.11:3869 -m -w 1" "-S saves rs1"
  rvsadm -C
  rvsadm -R <<<"$saved"
  assert_eq "$saved" "$(rvsadm -S -n)" "-R restores what -S saved"
}

# ---------------------------------------------------------------------------------- d
# A corrupted INIT (CRC32c wrong) is counted and dropped; the retry is served.
case_d_bad_crc() {
  local before line
  before="$(counter drop-sctp-bad-checksum)"
  line="$(sctp_client 43000 1000 --corrupt-first)"
  log "after a corrupt INIT: $line"
  assert_match "$line" '^rs[12] 1000 [0-9a-f]{64} ok$' "served after the bad INIT"
  assert_eq $((before + 1)) "$(counter drop-sctp-bad-checksum)" "drop-sctp-bad-checksum"
}

# ---------------------------------------------------------------------------------- e-g
# methods METHOD TAG SPORT: 4 associations alternate, then 20 MB intact; -Ln's Forward TAG.
methods() {
  service "$1" "$PORT" "${@:4}"
  local names line
  names="$(associations 4 "$3" 2000)"
  strict_alternation "$names"
  assert_eq 2 "$(count_lines "$names" rs1)" "associations answered by rs1"
  local t0; t0="$(now)"
  line="$(sctp_client $(($3 + 10)) $BIG)"
  log "transfer: $line, $(ms_between "$t0" "$(now)") ms"
  assert_match "$line" "^rs[12] $BIG [0-9a-f]{64} ok$" "20 MB intact"
  local ln; ln="$(rvsadm -Ln)"
  printf '%s\n' "$ln" | sed 's/^/    Ln| /'
  assert_match "$(grep -F -- "-> $RS1:$PORT" <<<"$ln")" "^  -> 198\.18\.1\.11:3868 +$2 +1 +0 +[23] *$" "rs1 row"
  assert_contains "$ln" "SCTP  198.18.1.100:3868 rr" "the service row"
  conn_states | sed 's/^/    Lnc| /'
  local closed
  closed="$(conn_states | awk -v lo="$3" '{split($2, a, ":")} $1 == "CLOSED" && a[2] > lo && a[2] <= lo + 10' | wc -l)"
  assert_eq 5 "$closed" "every association CLOSED as the director saw it"
}
case_e_dr() { methods -g Route 44000; }
case_f_tun() { methods -i Tunnel 45000; }
case_g_fullnat() {
  service --fullnat "$PORT"
  rvsadm -P --sctp-service "$VIP:$PORT" -z "$LIP"
  local names line
  names="$(associations 2 46000 2000)"
  strict_alternation "$names"
  local t0; t0="$(now)"
  line="$(sctp_client 46010 $BIG)"
  log "transfer: $line, $(ms_between "$t0" "$(now)") ms"
  assert_match "$line" "^rs[12] $BIG [0-9a-f]{64} ok$" "20 MB intact"
  assert_match "$(rvsadm -Ln | grep -F -- "-> $RS1:$PORT")" '^  -> 198\.18\.1\.11:3868 +FullNat +1 ' "rs1 row"
  assert_contains "$(rvsadm -G --sctp-service "$VIP:$PORT")" "$LIP" "-G lists the local address"
}

# ---------------------------------------------------------------------------------- h
case_h_icmp() {
  local ns n
  for ns in c rs1 rs2; do
    n="$(ns_exec "$ns" nft list chain inet sctplab out | grep -o 'packets [0-9]*' | awk '{print $2}')"
    log "$ns: ICMP protocol-unreachable the kernel tried to send (dropped): ${n:-0}"
  done
  local bad; bad="$(grep -h 'bad CRCs' "$LOG_DIR"/sctp-rs*.log || true)"
  assert_eq 0 "$(counter drop-sctp-bad-chunk-length)" "no chunk list refused"
  assert_eq 0 "$(counter drop-sctp-not-init-no-connection)" "no stray chunk without a connection"
  log "servers: ${bad:-still running}"
}

# ---------------------------------------------------------------------------------- i
# ICMP errors about SCTP associations (ip_vs_nat_icmp's ports, as for TCP and UDP). The real
# server's port unreachable (a whole quote: its CRC32c made right again) and fragmentation
# needed (a cut quote) reach the client as about what the client sent (VIP:3868); the
# client's fragmentation needed about a reply reaches the real server as about what the
# server sent, by every method (TUN inside IPIP).
one_server() {   # METHOD VPORT RS_PORT
  rvsadm -C
  rvsadm -A --sctp-service "$VIP:$2" -s rr
  rvsadm -a --sctp-service "$VIP:$2" -r "$RS1:$3" "$1"
}
icmp_to_client() {   # SPORT VPORT EXPECTED [CLIENT ARGS...]
  local line
  line="$(sctp_client "$1" 0 --port "$2" --expect-icmp "${@:4}" 2>&1)"
  log "client: $line"
  assert_eq "$3" "$line" "the error the client got"
}
icmp_to_server() {   # SPORT LINE-REGEX
  local line
  sctp_client "$1" 0 --icmp-back >/dev/null
  wait_until 5 grep -qE "$2" "$LOG_DIR/sctp-rs1.log" || { warn "rs1 log: $(grep icmp "$LOG_DIR/sctp-rs1.log")"; }
  line="$(grep -E "$2" "$LOG_DIR/sctp-rs1.log" | tail -1)"
  log "rs1: $line"
  assert_match "$line" "$2" "the error rs1 got"
}
case_i_icmp_errors() {
  local c="$CLIENT" q='icmp 3/4 mtu 1200 from' unrelated
  unrelated="$(counter drop-icmp-error-unrelated)"
  one_server -m 3870 "$REFUSED_PORT"
  icmp_to_client 47001 3870 "icmp 3/3 mtu 0 from $VIP to $c quoting $c:47001 > $VIP:3870 crc ok"
  one_server -m "$PORT" "$NAT_PORT"
  icmp_to_client 47002 "$PORT" "$q $VIP to $c quoting $c:47002 > $VIP:$PORT crc cut" --size 1400
  icmp_to_server 47003 "^$q $c to $RS1 quoting $RS1:$NAT_PORT > $c:47003 crc ok$"
  one_server --fullnat 3870 "$REFUSED_PORT"
  rvsadm -P --sctp-service "$VIP:3870" -z "$LIP"
  icmp_to_client 47011 3870 "icmp 3/3 mtu 0 from $VIP to $c quoting $c:47011 > $VIP:3870 crc ok"
  one_server --fullnat "$PORT" "$PORT"
  rvsadm -P --sctp-service "$VIP:$PORT" -z "$LIP"
  icmp_to_client 47012 "$PORT" "$q $VIP to $c quoting $c:47012 > $VIP:$PORT crc cut" --size 1400
  icmp_to_server 47013 "^$q $LIP to $RS1 quoting $RS1:$PORT > $LIP:[0-9]+ crc ok$"
  one_server -g "$PORT" "$PORT"
  icmp_to_server 47021 "^$q $c to $VIP quoting $VIP:$PORT > $c:47021 crc ok$"
  one_server -i "$PORT" "$PORT"
  icmp_to_server 47031 "^$q $c to $VIP quoting $VIP:$PORT > $c:47031 crc ok$"
  assert_eq "$unrelated" "$(counter drop-icmp-error-unrelated)" "no error about SCTP left unrelated"
}

run_case "a. NAT: 4 associations alternate rs2/rs1, -Ln lists SCTP, -Lnc CLOSED" case_a_nat
run_case "b. NAT: 20 MB by SHA-256, ESTABLISHED and ActiveConn 1 while open" case_b_transfer
run_case "c. -S/-R round trip, /proc/net/ip_vs and ip_vs_conn" case_c_save_restore_proc
run_case "d. a corrupt INIT is dropped as drop-sctp-bad-checksum" case_d_bad_crc
run_case "e. DR: alternate, 20 MB intact, input-only states" case_e_dr
run_case "f. TUN: alternate, 20 MB intact through IPIP" case_f_tun
run_case "g. FULLNAT: alternate, 20 MB intact from a local address" case_g_fullnat
run_case "i. ICMP errors about SCTP, NAT/FULLNAT/DR/TUN, both ways" case_i_icmp_errors
run_case "h. counters and ICMP protocol-unreachable" case_h_icmp
if stop_rvs; then pass "k. SIGTERM: exit 0"; else fail "k. SIGTERM: exit 0"; fi
finish
