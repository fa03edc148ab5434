#!/usr/bin/env bash
# tests/e2e/test_sysctl.sh: IPVS's sysctls in rvs, end to end.  Two rvs directors A and B
# with the same DR service (mh over two real servers on one LAN); the router reaches the
# VIP (outside the LAN subnet) through director A.  In the middle of a paced download the
# router's route to the VIP is switched to director B, which never saw the flow's SYN (an
# ECMP change, by hand):
#   - sloppy_tcp=0 on B: B drops the client's ACKs (drop-tcp-not-syn-no-connection) and
#     the download stalls;
#   - sloppy_tcp=1 on B (rvsadm --sysctl): B schedules the ACKs to the real server mh
#     chose on A, and the download completes with the right sha256.
# Also `rvsadm --sysctl` listing, reading, setting and refusing, [sysctl] on reload, and
# ignore_tunneled (IPIP to the VIP: dropped by rvs, or with the sysctl passed to the kernel).
#
#   ${RUN}-c   client     eth0 198.18.0.10/24, default via 198.18.0.1
#   ${RUN}-r   router     r0 198.18.0.1/24, r1 198.18.1.1/24; 198.18.2.100/32 via A or B
#   ${RUN}-sw  switch     br0 = { p-r, p-a, p-b, p-rs1, p-rs2 }   (198.18.1.0/24)
#   ${RUN}-a   director A eth0, rvs 198.18.1.2/24      ${RUN}-b director B, rvs 198.18.1.3/24
#   ${RUN}-rs1 / rs2      198.18.1.11 / .12, the VIP on lo, default via the router; nginx
#                         serving /mid.bin (2 MB) at 400 KB/s
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

VIP=198.18.2.100
CLIENT=$LAB_CLIENT
RS1=198.18.1.11
RS2=198.18.1.12
declare -A DIR_ADDR=([a]=198.18.1.2 [b]=198.18.1.3)
MID_FILE="$RUN_DIR/mid.bin"
MID_BYTES=$((2 * 1024 * 1024))
SWITCH_AFTER=1.5   # seconds into the download when the route moves to B
STALL_SECS=9       # the download's whole budget when B drops the flow (nominal: 5 s)

command -v nginx >/dev/null 2>&1 || die "nginx is not installed (scripts/setup installs it)"

counter_on() { rvsadm_on "$1" --counters | awk -v n="$2" '$1 == n {v = $2} END {print v + 0}'; }
# conn_dest D PORT: the real server of the client's connection from PORT on director D
conn_dest() {
  rvsadm_on "$1" -Lnc | awk -v s="$CLIENT:$2" '$1 == "TCP" && $4 == s {print $6; exit}'
}
conn_state() {
  rvsadm_on "$1" -Lnc | awk -v s="$CLIENT:$2" '$1 == "TCP" && $4 == s {print $3; exit}'
}
route_via() { ns_exec r ip route replace "$VIP/32" via "${DIR_ADDR[$1]}" dev r1; }

# ---------------------------------------------------------------------------- the lab
for n in c r sw a b rs1 rs2; do ns_add "$n"; done
lab_switch
lab_router
lab_port --gro a eth0
lab_port --gro b eth0
lab_port rs1 eth0
lab_port rs2 eth0
lab_dr_real_server rs1 "$RS1" "$VIP"
lab_dr_real_server rs2 "$RS2" "$VIP"

head -c "$MID_BYTES" /dev/urandom >"$MID_FILE"
MID_SHA="$(sha256sum <"$MID_FILE" | awk '{print $1}')"
start_nginx() {
  start_paced_nginx "$1" "$2" 'location = /mid.bin { limit_rate 400k; }' "$MID_FILE:mid.bin"
}
start_nginx rs1 rs1
start_nginx rs2 rs2

# The same service on both directors; A's file also sets a sysctl.
for d in a b; do
  extra=""
  [ "$d" = a ] && extra=$'[sysctl]\nschedule_icmp = 1\n'
  {
    rvs_conf_admin "$(director_sock "$d")"
    rvs_conf_iface eth0 "${DIR_ADDR[$d]}/24" "$VIP"
    rvs_conf_route "$LAB_ROUTER_IN"
    cat <<EOF
[[service]]
tcp = "$VIP:80"
scheduler = "mh"
[[service.real]]
address = "$RS1:80"
method = "route"
[[service.real]]
address = "$RS2:80"
method = "route"

$extra
EOF
  } >"$RUN_DIR/rvs-$d.toml"
  start_director_rvs "$d"
done
ns_exec r ping -c 1 -W 2 -q "${DIR_ADDR[a]}" >/dev/null || die "director A does not answer ping"
ns_exec r ping -c 1 -W 2 -q "${DIR_ADDR[b]}" >/dev/null || die "director B does not answer ping"
route_via a

# moved_download PORT MAX_TIME OUT: the client fetches /mid.bin from PORT through A; after
# $SWITCH_AFTER s the router sends the VIP to B; B's entry for the flow, once it has one
# (polled for up to 3 s: a client in TCP retransmission backoff, as on a loaded machine,
# reaches B later than a second after the move), goes to OUT.state.  Prints curl's exit status.
moved_download() {
  local port="$1" max="$2" out="$3" pid rc=0
  route_via a
  ns_exec c curl -sS --noproxy '*' --local-port "$port" --connect-timeout 3 --max-time "$max" \
    -o "$out" "http://$VIP/mid.bin" 2>"$out.err" &
  pid=$!
  sleep "$SWITCH_AFTER"
  route_via b
  local state="" i
  for i in $(seq 30); do
    state="$(conn_state b "$port")"
    [ -n "$state" ] && break
    sleep 0.1
  done
  printf '%s\n' "$state" >"$out.state"
  wait "$pid" || rc=$?
  printf '%s\n' "$rc"
}

# ---------------------------------------------------------------------------------- a
case_a_admin() {
  local out r before
  out="$(rvsadm_on b --sysctl)"
  printf '%s\n' "$out" | sed 's/^/    sysctl| /'
  assert_eq "conn_reuse_mode = 1
expire_nodest_conn = 0
expire_quiescent_template = 0
ignore_tunneled = 0
schedule_icmp = 0
sloppy_sctp = 0
sloppy_tcp = 0" "$out" "B: every sysctl, sorted, the kernel's defaults"
  assert_eq "schedule_icmp = 1" "$(rvsadm_on a --sysctl schedule_icmp)" "A: [sysctl] of its file"
  before="$out"
  for bad in "sloppy_udp=1" "sloppy_tcp=2" "conn_reuse_mode=x" "nope"; do
    r=0; out="$(rvsadm_on b --sysctl "$bad" 2>&1)" || r=$?
    log "rvsadm --sysctl $bad -> exit $r: $out"
    assert_eq 2 "$r" "exit status of --sysctl $bad"
    assert_contains "$out" "rvsadm: --sysctl: " "the error names the option"
  done
  assert_eq "$before" "$(rvsadm_on b --sysctl)" "refused: nothing changed"
  rvsadm_on b --sysctl conn_reuse_mode=2
  assert_eq "conn_reuse_mode = 2" "$(rvsadm_on b --sysctl conn_reuse_mode)" "set at run time"
  rvsadm_on b --sysctl conn_reuse_mode=1
  # A reload applies the file's [sysctl]; an unknown name is refused and nothing changes.
  cp "$RUN_DIR/rvs-a.toml" "$RUN_DIR/rvs-a.toml.orig"
  printf 'expire_quiescent_template = 1\n' >>"$RUN_DIR/rvs-a.toml"
  rvsadm_on a --reload >/dev/null
  assert_eq "expire_quiescent_template = 1" "$(rvsadm_on a --sysctl expire_quiescent_template)" "reload applied"
  printf 'sloppy_udp = 1\n' >>"$RUN_DIR/rvs-a.toml"
  r=0; out="$(rvsadm_on a --reload 2>&1)" || r=$?
  log "reload with sloppy_udp: exit $r: $out"
  assert_eq 1 "$r" "a bad [sysctl] is refused"
  assert_contains "$out" "unknown sysctl 'sloppy_udp'"
  assert_eq "expire_quiescent_template = 1" "$(rvsadm_on a --sysctl expire_quiescent_template)" "kept"
  cp "$RUN_DIR/rvs-a.toml.orig" "$RUN_DIR/rvs-a.toml"
  rvsadm_on a --reload >/dev/null
  assert_eq "expire_quiescent_template = 0" "$(rvsadm_on a --sysctl expire_quiescent_template)" "back to the default"
}

# ---------------------------------------------------------------------------------- b
case_b_stall_without_sloppy() {
  local out="$RUN_DIR/stall.download" rc n0 n1 size dest_a
  assert_eq "sloppy_tcp = 0" "$(rvsadm_on b --sysctl sloppy_tcp)"
  n0="$(counter_on b drop-tcp-not-syn-no-connection)"
  rc="$(moved_download 45001 "$STALL_SECS" "$out")"
  n1="$(counter_on b drop-tcp-not-syn-no-connection)"
  size="$(stat -c %s "$out" 2>/dev/null || echo 0)"
  dest_a="$(conn_dest a 45001)"
  log "sloppy_tcp=0: curl exit $rc after ${STALL_SECS} s, $size of $MID_BYTES bytes; A chose $dest_a;" \
    "B: drop-tcp-not-syn-no-connection +$((n1 - n0)), connection on B: '$(conn_dest b 45001)'"
  [ "$rc" != 0 ] || { warn "the download completed although B dropped the flow"; return 1; }
  [ "$size" -lt "$MID_BYTES" ] || { warn "the whole file arrived"; return 1; }
  [ "$((n1 - n0))" -gt 0 ] || { warn "B counted no drop-tcp-not-syn-no-connection"; return 1; }
  assert_eq "" "$(conn_dest b 45001)" "B made no connection for the moved flow"
}

# ---------------------------------------------------------------------------------- c
case_c_sloppy_completes() {
  local out="$RUN_DIR/sloppy.download" rc n0 n1 got dest_a dest_b t0 t1
  rvsadm_on b --sysctl sloppy_tcp=1
  assert_eq "sloppy_tcp = 1" "$(rvsadm_on b --sysctl sloppy_tcp)"
  n0="$(counter_on b drop-tcp-not-syn-no-connection)"
  t0=$(date +%s.%N)
  rc="$(moved_download 45002 30 "$out")"
  t1=$(date +%s.%N)
  n1="$(counter_on b drop-tcp-not-syn-no-connection)"
  got="$(sha256sum <"$out" | awk '{print $1}')"
  dest_a="$(conn_dest a 45002)"
  dest_b="$(conn_dest b 45002)"
  log "sloppy_tcp=1: curl exit $rc in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s," \
    "$(stat -c %s "$out") bytes; A chose $dest_a, B scheduled $dest_b ($(cat "$out.state") mid-download);" \
    "B: drop-tcp-not-syn-no-connection +$((n1 - n0))"
  rvsadm_on b -Lnc | sed 's/^/    B -Lnc| /'
  assert_eq 0 "$rc" "curl exit status"
  assert_eq "$MID_SHA" "$got" "sha256 of the moved download"
  [ -n "$dest_a" ] || { warn "A has no connection for the flow"; return 1; }
  assert_eq "$dest_a" "$dest_b" "B scheduled the flow to A's real server (mh)"
  assert_eq ESTABLISHED "$(cat "$out.state")" "B's entry, made by a mid-stream ACK, as soon as it is there"
  assert_eq 0 "$((n1 - n0))" "B dropped nothing of the moved flow"
}

# ---------------------------------------------------------------------------------- d
# ip_in_receives NS: the kernel's IP input counter in NS (/proc/net/snmp is per namespace)
ip_in_receives() {
  ns_exec "$1" awk '$1 == "Ip:" && $2 !~ /^[0-9]+$/ {for (i = 2; i <= NF; i++) if ($i == "InReceives") col = i; next}
                    $1 == "Ip:" && col {print $col}' /proc/net/snmp
}
# send_ipip N: N IPIP packets (inner UDP 198.18.0.10 -> 198.18.2.100:9) from the client to the VIP
send_ipip() {
  ns_exec c python3 -c '
import socket, struct, sys
inner = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, 0, 64, 17, 0,
                    socket.inet_aton("198.18.0.10"), socket.inet_aton("198.18.2.100")) + struct.pack("!HHHH", 9, 9, 8, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
for _ in range(int(sys.argv[1])):
    s.sendto(inner, ("198.18.2.100", 0))' "$1"
}
case_d_ignore_tunneled() {
  local n=5 r0 k0 r1 k1 r2 k2
  route_via b
  r0="$(counter_on b drop-other-ip-protocol)"; k0="$(ip_in_receives b)"
  send_ipip "$n"; sleep 0.5
  r1="$(counter_on b drop-other-ip-protocol)"; k1="$(ip_in_receives b)"
  log "ignore_tunneled=0: $n IPIP packets to the VIP: rvs drop-other-ip-protocol +$((r1 - r0)), kernel IpInReceives +$((k1 - k0))"
  assert_eq "$n" "$((r1 - r0))" "rvs drops them by default"
  rvsadm_on b --sysctl ignore_tunneled=1
  # The main loop sets the XDP program's flag within a second.
  wait_until 3 grep -q "ignore_tunneled 1" "$LOG_DIR/rvs-b.log" || { warn "rvs did not apply ignore_tunneled"; return 1; }
  send_ipip "$n"; sleep 0.5
  r2="$(counter_on b drop-other-ip-protocol)"; k2="$(ip_in_receives b)"
  log "ignore_tunneled=1: $n IPIP packets to the VIP: rvs drop-other-ip-protocol +$((r2 - r1)), kernel IpInReceives +$((k2 - k1))"
  rvsadm_on b --sysctl ignore_tunneled=0
  assert_eq 0 "$((r2 - r1))" "rvs never sees them"
  [ "$((k2 - k1))" -ge "$n" ] || { warn "the kernel did not receive them"; return 1; }
  route_via a
}

run_case "a. rvsadm --sysctl: list, read, set, refuse (exit 2, nothing changed); [sysctl] on reload" case_a_admin
run_case "b. sloppy_tcp=0: a flow moved to B mid-download stalls (drop-tcp-not-syn-no-connection)" case_b_stall_without_sloppy
run_case "c. sloppy_tcp=1: the moved flow completes on B, same real server, right sha256" case_c_sloppy_completes
run_case "d. ignore_tunneled=1: IPIP to the VIP goes to the kernel, not to rvs" case_d_ignore_tunneled
for d in a b; do
  RVS_PID="$(cat "$RUN_DIR/pid-rvs-$d")"
  RVS_SOCK="$(director_sock "$d")"
  RVS_NS="$(ns_full "$d")"
  RVS_LOG="$LOG_DIR/rvs-$d.log"
  if stop_rvs; then pass "k. $d: SIGTERM: exit 0, admin socket removed, XDP detached"
  else fail "k. $d: SIGTERM: exit 0, admin socket removed, XDP detached"; fi
done
finish
