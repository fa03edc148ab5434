#!/usr/bin/env bash
# tests/e2e/test_role.sh: the HA role (issue 11, section 1).  A director configured with
# [ha] role = "backup" starts silent for its VIPs: no ARP or ping answer, no forwarding, no
# gratuitous ARP.  `rvsadm --role master` makes it announce every VIP by gratuitous ARP on
# the interface that answers for it, so a neighbour that only listened (arp_accept=1) learns
# the VIP without asking; `rvsadm --role backup` silences it again.
# Lab: tests/e2e/topo_nat.sh, plus an inside gateway VIP 198.18.1.254 (a VIP without a
# service) that the real servers route through.  ARP is probed with tests/e2e/arp_probe.py.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
GW_VIP=198.18.1.254
REPEAT=3
PROBE="$E2E_DIR/arp_probe.py"

topo_nat
# The real servers route through the gateway VIP, which must follow the master.
for n in rs1 rs2; do ns_exec "$n" ip route replace default via "$GW_VIP"; done
# The listeners: learn from gratuitous ARP without asking.
ns_exec c sysctl -qw net.ipv4.conf.eth0.arp_accept=1
ns_exec rs1 sysctl -qw net.ipv4.conf.eth0.arp_accept=1
# The config's last table is the d-in interface: give it the gateway VIP, then [ha].
cat >>"$NAT_CONFIG" <<EOF2
vips = ["$GW_VIP"]

[ha]
role = "backup"
garp_master_repeat = $REPEAT
EOF2
start_rvs "$NAT_CONFIG"
rvsadm -A -t "$VIP:80" -s rr
rvsadm -a -t "$VIP:80" -r "$NAT_RS1:80" -m
rvsadm -a -t "$VIP:80" -r "$NAT_RS2:80" -m
MAC_OUT="$(ns_exec d cat /sys/class/net/d-out/address)"
MAC_IN="$(ns_exec d cat /sys/class/net/d-in/address)"

counter() { rvsadm --counters | awk -v k="$1" '$1 == k { print $2 }' | grep . || echo 0; }
# lladdr NS IFACE IP: the MAC the namespace's neighbour table holds for IP, or nothing.
lladdr() { ns_exec "$1" ip neigh show "$3" dev "$2" | sed -n 's/.* lladdr \([0-9a-f:]*\).*/\1/p'; }
curl_ok() { ns_exec c curl -sS --noproxy '*' --connect-timeout 1 --max-time 2 "http://$VIP/" >/dev/null 2>&1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
ping_ok() { ns_exec c ping -c 1 -W 2 "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------- a
case_a_starts_backup() {
  assert_eq backup "$(rvsadm --role)" "rvsadm --role"
  assert_contains "$(cat "$RVS_LOG")" "starting as backup" "rvs log"
}

# ---------------------------------------------------------------------------------- b
case_b_backup_is_silent() {
  local out rc
  rc=0; out="$(ns_exec c "$PROBE" ask eth0 "$VIP" --sender "$NAT_CLIENT" --count 3 --wait 1)" || rc=$?
  log "client ARP for the VIP: $out"
  assert_eq 1 "$rc" "ARP for the VIP answered by a backup"
  rc=0; out="$(ns_exec rs1 "$PROBE" ask eth0 "$GW_VIP" --sender "$NAT_RS1" --count 3 --wait 1)" || rc=$?
  log "rs1 ARP for the gateway VIP: $out"
  assert_eq 1 "$rc" "ARP for the gateway VIP answered by a backup"
  # The director's own addresses are answered in both roles.
  out="$(ns_exec c "$PROBE" ask eth0 "$NAT_DIR_OUT" --sender "$NAT_CLIENT" --count 1 --wait 1)"
  log "client ARP for the director's own address: $out"
  # (With two poll loops each answers the broadcast request: two replies.)
  assert_match "$out" "^replies [1-9] $MAC_OUT$" "own address answered by a backup"
  assert_true "ping of the director's own address" ping_ok "$NAT_DIR_OUT"
  if ping_ok "$VIP"; then warn "ping of the VIP answered"; return 1; fi
  if curl_ok; then warn "curl to the VIP worked on a backup"; return 1; fi
  assert_eq "" "$(lladdr c eth0 "$VIP")" "client's neighbour entry for the VIP"
  assert_eq 0 "$(counter gratuitous-arp-sent)" "gratuitous ARPs sent by a backup"
  local dropped; dropped="$(counter drop-backup-role)"
  log "drop-backup-role: $dropped frames ignored"
  [ "$dropped" -gt 0 ] || { warn "drop-backup-role not counted"; return 1; }
}

# ---------------------------------------------------------------------------------- c
case_c_master_announces() {
  # Whatever the client and rs1 learnt while asking goes: the entries must come from GARP.
  ns_exec c ip neigh del "$VIP" dev eth0 2>/dev/null || true
  ns_exec rs1 ip neigh del "$GW_VIP" dev eth0 2>/dev/null || true
  bg c garp-listen-c "$PROBE" listen eth0 "$VIP" --seconds 3
  local listen_c=$BG_PID
  bg rs1 garp-listen-rs1 "$PROBE" listen eth0 "$GW_VIP" --seconds 3
  local listen_rs1=$BG_PID
  wait_until 10 grep -q '^listening' "$LOG_DIR/garp-listen-c.log" || { warn "client's GARP listener did not start"; return 1; }
  wait_until 10 grep -q '^listening' "$LOG_DIR/garp-listen-rs1.log" || { warn "rs1's GARP listener did not start"; return 1; }
  local t0 t_neigh="" t_curl="" mac
  t0="$(now_ms)"
  rvsadm --role master
  while [ $(($(now_ms) - t0)) -lt 5000 ]; do
    if [ -z "$t_neigh" ] && [ -n "$(lladdr c eth0 "$VIP")" ]; then t_neigh=$(($(now_ms) - t0)); fi
    if [ -n "$t_neigh" ] && curl_ok; then t_curl=$(($(now_ms) - t0)); break; fi
    sleep 0.02
  done
  wait "$listen_c" "$listen_rs1" || true
  log "--role master -> client's ARP entry for the VIP (unasked) after ${t_neigh:-never} ms"
  log "--role master -> first working curl after ${t_curl:-never} ms"
  log "client heard: $(cat "$LOG_DIR/garp-listen-c.log"); rs1 heard: $(cat "$LOG_DIR/garp-listen-rs1.log")"
  [ -n "$t_neigh" ] && [ "$t_neigh" -le 1000 ] || { warn "no unasked ARP entry within 1 s"; return 1; }
  [ -n "$t_curl" ] || { warn "curl never worked after --role master"; return 1; }
  assert_eq master "$(rvsadm --role)" "rvsadm --role"
  mac="$(lladdr c eth0 "$VIP")"
  assert_eq "$MAC_OUT" "$mac" "client's ARP entry for the VIP"
  assert_eq "$MAC_IN" "$(lladdr rs1 eth0 "$GW_VIP")" "rs1's ARP entry for the gateway VIP"
  assert_match "$(grep ^garps "$LOG_DIR/garp-listen-c.log")" "^garps $REPEAT $MAC_OUT " "GARPs for the VIP heard by the client"
  assert_match "$(grep ^garps "$LOG_DIR/garp-listen-rs1.log")" "^garps $REPEAT $MAC_IN " "GARPs for the gateway VIP heard by rs1"
  assert_eq $((2 * REPEAT)) "$(counter gratuitous-arp-sent)" "gratuitous-arp-sent (2 VIPs x $REPEAT)"
  assert_true "ping of the VIP" ping_ok "$VIP"
  local out; out="$(curl_many c 4 "http://$VIP/")"
  assert_eq 2 "$(count_lines "$out" rs1)" "rs1 answers (through the gateway VIP)"
  assert_eq 2 "$(count_lines "$out" rs2)" "rs2 answers"
}

# ---------------------------------------------------------------------------------- d
case_d_back_to_backup() {
  local before t0 rc out
  before="$(counter drop-backup-role)"
  t0="$(now_ms)"
  rvsadm --role backup
  assert_eq backup "$(rvsadm --role)" "rvsadm --role"
  if curl_ok; then warn "curl worked after --role backup"; return 1; fi
  log "--role backup -> first failed curl returned after $(($(now_ms) - t0)) ms"
  rc=0; out="$(ns_exec c "$PROBE" ask eth0 "$VIP" --sender "$NAT_CLIENT" --count 2 --wait 1)" || rc=$?
  assert_eq 1 "$rc" "ARP for the VIP answered after --role backup ($out)"
  [ "$(counter drop-backup-role)" -gt "$before" ] || { warn "drop-backup-role did not grow"; return 1; }
  assert_eq $((2 * REPEAT)) "$(counter gratuitous-arp-sent)" "no GARP on becoming backup"
}

# ---------------------------------------------------------------------------------- e
case_e_bad_role_refused() {
  local rc=0 err
  err="$(rvsadm --role slave 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status of --role slave"
  assert_contains "$err" "not master or backup" "error text"
  rc=0; rvsadm --role master backup >/dev/null 2>&1 || rc=$?
  assert_eq 2 "$rc" "exit status of --role with two arguments"
  assert_eq backup "$(rvsadm --role)" "role kept after refusals"
}

# ---------------------------------------------------------------------------------- f
case_f_master_again() {
  rvsadm --role master
  wait_until 3 curl_ok || { warn "curl did not work again after the second --role master"; return 1; }
  assert_eq $((4 * REPEAT)) "$(counter gratuitous-arp-sent)" "each takeover announces afresh"
}

T_START=$SECONDS
run_case "a. [ha] role = backup: starts as backup" case_a_starts_backup
run_case "b. backup: no ARP/ping/curl for the VIPs, own address answered" case_b_backup_is_silent
run_case "c. --role master: unasked ARP entries by GARP, curl works" case_c_master_announces
run_case "d. --role backup: silent again at once" case_d_back_to_backup
run_case "e. --role with a bad argument is refused, role kept" case_e_bad_role_refused
run_case "f. --role master again: announced again, curl works" case_f_master_again
log "cases took $((SECONDS - T_START)) s"
if stop_rvs; then pass "g. SIGTERM: exit 0"; else fail "g. SIGTERM: exit 0"; fi
finish
