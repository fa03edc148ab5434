#!/usr/bin/env bash
# tests/e2e/test_vrrp.sh: keepalived's VRRP beside rvs, on interfaces rvs owns.  Two directors,
# as a future HA pair, run rvs with the same VIP and service, and keepalived (VRRPv3, VRRP
# only, priorities 150 and 100) from the kernel's host-path address on the same interface.
# rvs's XDP program must hand the VRRP adverts to the kernel; before it did, rvs dropped them
# (drop-not-our-mac) and both keepalived instances became MASTER.
#
#   ${RUN}-sw  switch       br0 = { p-c, p-d1, p-d2, p-rs1 }   (one L2 segment 198.18.1.0/24)
#                 |            |             |            |
#   ${RUN}-c   client       eth0 198.18.1.10/24
#   ${RUN}-d1  director 1   d0: kernel 198.18.1.21/24 (keepalived, priority 150);
#                           rvs owns 198.18.1.2/24 and the VIP 198.18.1.100
#   ${RUN}-d2  director 2   d0: kernel 198.18.1.22/24 (keepalived, priority 100);
#                           rvs owns 198.18.1.3/24 and the VIP 198.18.1.100
#   ${RUN}-rs1 real server  eth0 198.18.1.11/24, lo 198.18.1.100/32 (DR), HTTP on 80
#
# keepalived's virtual_ipaddress is a placeholder (198.19.255.1/32 on lo: this kernel has no
# dummy interfaces; none of rvs's); the shipped scripts/ha/rvs-notify, fed through keepalived's
# notify FIFO, writes the state to a file and sets the director's rvs role (`rvsadm --role`).  Both rvs start as backup ([ha] role = "backup"), so
# only keepalived's master answers for the VIP, and a takeover moves the client's ARP entry by
# gratuitous ARP.  Connection sync is not part of this lab.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

VIP=198.18.1.100
CLIENT=198.18.1.10
RS1=198.18.1.11
PLACEHOLDER=198.19.255.1
KEEPALIVED_TEMPLATE="$E2E_DIR/vrrp/keepalived.conf.in"
NOTIFY="$REPO_DIR/scripts/ha/rvs-notify"
# Bounds: keepalived elects in about 3 adverts (0.3 s) here; these leave room for a loaded box.
ELECT_SECS=10
TAKEOVER_SECS=5

command -v keepalived >/dev/null 2>&1 || die "keepalived is not installed (scripts/setup installs it)"

declare -A DIR_ADDR=([d1]=198.18.1.2 [d2]=198.18.1.3)
declare -A HOST_ADDR=([d1]=198.18.1.21 [d2]=198.18.1.22)
declare -A PRIORITY=([d1]=150 [d2]=100)
declare -A KA_PID=()
declare -A RVS_PIDS=()

# ---------------------------------------------------------------------------- the lab
for n in sw c d1 d2 rs1; do ns_add "$n"; done
lab_switch
lab_port c eth0
lab_port --gro d1 d0
lab_port --gro d2 d0
lab_port rs1 eth0

lab_host c "$CLIENT"
ns_exec c sysctl -qw net.ipv4.conf.eth0.arp_accept=1
# the real server is on the client's and the directors' segment: no gateway
lab_host rs1 "$RS1"
lab_dr_vip rs1 "$VIP"
start_http rs1 80 rs1

for d in d1 d2; do
  # The kernel's host-path address: rvs registers it and lets its traffic pass.
  ns_exec "$d" ip addr add "${HOST_ADDR[$d]}/24" dev d0
  ns_exec "$d" ethtool -K d0 tx off >/dev/null 2>&1 || true
  {
    rvs_conf_admin "$(director_sock "$d")"
    rvs_conf_iface d0 "${DIR_ADDR[$d]}/24" "$VIP"
    printf '[ha]\nrole = "backup"\n'
  } >"$RUN_DIR/rvs-$d.toml"
  # (RVS_PID cleared: lib.sh's cleanup finds both rvs in PIDS and their namespaces)
  start_director_rvs "$d"
  RVS_PIDS[$d]="$(cat "$RUN_DIR/pid-rvs-$d")"
  rvsadm_on "$d" -A -t "$VIP:80" -s rr
  rvsadm_on "$d" -a -t "$VIP:80" -r "$RS1:80" -g
done

counter() { rvsadm_on "$1" --counters | awk -v r="$2" '$1 == r {print $2}'; }
state_of() { local f="$RUN_DIR/state-$1"; [ -s "$f" ] && awk '{print $1}' "$f" || echo NONE; }
state_time() { awk '{print $2}' "$RUN_DIR/state-$1"; }
last_logged_state() {
  grep -o 'Entering [A-Z]* STATE' "$LOG_DIR/keepalived-$1.log" | tail -n1 | awk '{print $2}'
}
states_are() { [ "$(state_of d1)" = "$1" ] && [ "$(state_of d2)" = "$2" ]; }
# elected: d1 MASTER, d2 BACKUP, and neither has changed for a second (two instances that
# cannot hear each other pass through BACKUP before both going MASTER).
elected() {
  states_are MASTER BACKUP || return 1
  awk -v a="$(state_time d1)" -v b="$(state_time d2)" -v n="$(now)" \
    'BEGIN {exit !(n - a >= 1 && n - b >= 1)}'
}

# start_keepalived D: keepalived --vrrp in D's namespace, not forking, with its own files.
start_keepalived() {
  local d="$1" conf="$RUN_DIR/keepalived-$1.conf"
  sed -e "s|@ROUTER_ID@|rvs-$d|" -e "s|@INTERFACE@|d0|" -e "s|@PRIORITY@|${PRIORITY[$d]}|" \
    -e "s|@PLACEHOLDER@|$PLACEHOLDER|" -e "s|@PLACEHOLDER_DEV@|lo|" -e "s|@NOTIFY@|$NOTIFY|" \
    -e "s|@STATE_FILE@|$RUN_DIR/state-$d|g" -e "s|@FIFO@|$RUN_DIR/keepalived-$d.fifo|" -e "s|@RVSADM@|$RVSADM_BIN|" -e "s|@RVS_SOCKET@|$(director_sock "$d")|" \
    "$KEEPALIVED_TEMPLATE" >"$conf"
  bg "$d" "keepalived-$d" keepalived --vrrp -n -l -D -f "$conf" \
    -p "$RUN_DIR/keepalived-$d.pid" -r "$RUN_DIR/keepalived-vrrp-$d.pid"
  KA_PID[$d]=$BG_PID
}

# The rvs counter that swallowed the adverts, on the backup, before keepalived speaks.
D2_NOT_OUR_MAC_BEFORE="$(counter d2 drop-not-our-mac)"
KA_START="$(now)"
start_keepalived d1
start_keepalived d2
log "keepalived d1 pid ${KA_PID[d1]} (priority 150), d2 pid ${KA_PID[d2]} (priority 100)"
if wait_until "$ELECT_SECS" elected; then
  log "elected: d1 MASTER $(ms_between "$KA_START" "$(state_time d1)") ms after keepalived started, d2 BACKUP"
else
  log "no election within $ELECT_SECS s"
fi
log "states: d1 $(state_of d1), d2 $(state_of d2) (keepalived logs: d1 $(last_logged_state d1), d2 $(last_logged_state d2))"

case_b_one_master() {
  # Adverts (10 a second) reach d2's kernel past rvs: rvs's drop-not-our-mac stays flat.
  local c0 c1 t0 t1
  c0="$(counter d2 drop-not-our-mac)"; t0="$(now)"
  sleep 2
  c1="$(counter d2 drop-not-our-mac)"; t1="$(now)"
  log "d2 rvs drop-not-our-mac: ${D2_NOT_OUR_MAC_BEFORE:-0} before keepalived, ${c0:-0} -> ${c1:-0} over $(ms_between "$t0" "$t1") ms of adverts"
  assert_true "at most 2 frames (not the ~20 adverts) dropped as not-our-mac in 2 s" \
    test "$(( ${c1:-0} - ${c0:-0} ))" -le 2
  assert_eq "MASTER BACKUP" "$(state_of d1) $(state_of d2)" "d1 (150) MASTER and d2 (100) BACKUP"
  assert_eq MASTER "$(last_logged_state d1)" "d1's keepalived log agrees"
  assert_eq BACKUP "$(last_logged_state d2)" "d2's keepalived log agrees"
  assert_contains "$(ns_exec d1 ip -4 addr show dev lo)" "$PLACEHOLDER/32" "the master holds the placeholder"
  assert_not_contains "$(ns_exec d2 ip -4 addr show dev lo)" "$PLACEHOLDER/32" "the backup does not"
  # The backup's keepalived saw the master's adverts: still BACKUP, no transition since.
  assert_eq BACKUP "$(state_of d2)" "d2 still BACKUP after 2 s more of adverts"
}

# The data path through the VIP while keepalived runs: keepalived's master (d1) holds the
# rvs master role and alone answers for the VIP; d2's rvs is backup.
mac_of() { ns_exec "$1" cat /sys/class/net/d0/address; }
client_vip_mac() { ns_exec c ip neigh show "$VIP" dev eth0 | sed -n 's/.* lladdr \([0-9a-f:]*\).*/\1/p'; }
case_d_forwarding() {
  local out
  wait_until 2 eval '[ "$(rvsadm_on d1 --role)" = master ]' || { warn "d1's rvs is not master"; return 1; }
  assert_eq backup "$(rvsadm_on d2 --role)" "d2's rvs role"
  ns_exec c ip neigh del "$VIP" dev eth0 2>/dev/null || true
  out="$(curl_many c 3 "http://$VIP/")"
  assert_eq 3 "$(count_lines "$out" rs1)" "3 requests through the VIP answered by rs1"
  assert_eq "$(mac_of d1)" "$(client_vip_mac)" "the client's ARP entry for the VIP: d1's MAC"
  assert_contains "$(rvsadm_on d1 -Lnc)" "$CLIENT:" "d1's rvs lists the client's connections"
  assert_not_contains "$(rvsadm_on d2 -Lnc)" "$CLIENT:" "d2's rvs (backup) forwarded nothing"
  assert_eq "MASTER BACKUP" "$(state_of d1) $(state_of d2)" "VRRP states unchanged during the traffic"
}

# `systemctl reload keepalived` (SIGHUP) on the master: it keeps the VIP.  keepalived stops
# its FIFO script and starts a new one; fifo_write_vrrp_states_on_reload is not set in this
# lab's file, so no state is written again: the old rvs-notify must leave the role alone.
case_e_reload() {
  local before after out
  before="$(grep -c . "$RUN_DIR/state-d1.log")"
  kill -HUP "${KA_PID[d1]}"
  sleep 2
  after="$(tail -n +"$((before + 1))" "$RUN_DIR/state-d1.log" | cut -d' ' -f4- | tr '\n' ';')"
  log "d1's rvs-notify after the reload: ${after:-nothing}"
  assert_eq master "$(rvsadm_on d1 --role)" "d1's rvs role after keepalived's reload"
  assert_eq backup "$(rvsadm_on d2 --role)" "d2's rvs role"
  assert_eq "MASTER BACKUP" "$(state_of d1) $(state_of d2)" "VRRP states after the reload"
  ns_exec c ip neigh del "$VIP" dev eth0 2>/dev/null || true
  out="$(curl_many c 3 "http://$VIP/")"
  assert_eq 3 "$(count_lines "$out" rs1)" "3 requests through the VIP after the reload"
}

# A crash of the master's keepalived: its VRRP child and the parent die without a word (the
# parent is stopped first so it neither respawns the child nor lets it resign gracefully).
case_c_takeover() {
  states_are MASTER BACKUP || { warn "no MASTER/BACKUP pair to fail over"; return 1; }
  local parent="${KA_PID[d1]}" child t_kill t_master
  child="$(cat "$RUN_DIR/keepalived-vrrp-d1.pid")"
  assert_eq "$parent" "$(awk '{print $4}' "/proc/$child/stat")" "the VRRP child $child is our keepalived's"
  t_kill="$(now)"
  kill -STOP "$parent"
  kill -KILL "$child"
  kill -KILL "$parent"
  if ! wait_until "$TAKEOVER_SECS" eval '[ "$(state_of d2)" = MASTER ]'; then
    warn "d2 did not become MASTER within $TAKEOVER_SECS s"
    return 1
  fi
  t_master="$(state_time d2)"
  log "takeover: d2 MASTER $(ms_between "$t_kill" "$t_master") ms after SIGKILL of d1's keepalived"
  assert_eq MASTER "$(last_logged_state d2)" "d2's keepalived log agrees"
  wait_until 2 eval "ns_exec d2 ip -4 addr show dev lo | grep -q $PLACEHOLDER/32" \
    || { warn "d2 did not take the placeholder"; return 1; }
  # d2's notify script made its rvs master; its gratuitous ARP moved the client's entry.
  local d2mac t_arp=""
  d2mac="$(mac_of d2)"
  while awk -v a="$t_kill" -v n="$(now)" 'BEGIN {exit !(n - a < 5)}'; do
    if [ "$(client_vip_mac)" = "$d2mac" ]; then t_arp="$(now)"; break; fi
    sleep 0.02
  done
  [ -n "$t_arp" ] || { warn "the client's ARP entry for the VIP never moved to d2 ($(client_vip_mac))"; return 1; }
  log "takeover: client's ARP entry for the VIP -> d2 $(ms_between "$t_kill" "$t_arp") ms after the SIGKILL ($(ms_between "$t_master" "$t_arp") ms after d2's notify_master)"
  assert_eq master "$(rvsadm_on d2 --role)" "d2's rvs role"
  local out
  out="$(curl_many c 3 "http://$VIP/")"
  assert_eq 3 "$(count_lines "$out" rs1)" "3 requests through d2 answered by rs1"
  assert_contains "$(rvsadm_on d2 -Lnc)" "$CLIENT:" "d2's rvs lists the client's connections"
  # d1's rvs-notify saw its keepalived die (SIGTERM, or, polling, another parent than its
  # keepalived): d1's rvs gave the VIP up.
  wait_until 3 eval '[ "$(rvsadm_on d1 --role)" = backup ]' || { warn "d1's rvs is still $(rvsadm_on d1 --role)"; return 1; }
  assert_contains "$(cat "$RUN_DIR/state-d1.log")" "is gone: this box is nobody's master any more" "d1's rvs-notify logged it"
  # rvs on both directors is untouched by keepalived's fate.
  pid_alive "${RVS_PIDS[d1]}" || { warn "d1's rvs died"; return 1; }
  pid_alive "${RVS_PIDS[d2]}" || { warn "d2's rvs died"; return 1; }
  rvsadm_on d1 -Ln >/dev/null
  rvsadm_on d2 -Ln >/dev/null
}

run_case "b. one MASTER (150) and one BACKUP, adverts pass rvs" case_b_one_master
run_case "d. only keepalived's master (d1) answers and forwards for the VIP; d2's rvs is backup" case_d_forwarding
run_case "e. keepalived reloaded (SIGHUP) on the master: rvs stays master, the VIP answers" case_e_reload
# keepalived stopped on the master (d2 since c; SIGTERM to the keepalived this test started, by PID,
# as a service stop sends it): no keepalived, no VIP; rvs goes backup.
case_f_stop() {
  [ "$(rvsadm_on d2 --role)" = master ] || { warn "needs d2's rvs master"; return 1; }
  kill -TERM "${KA_PID[d2]}"
  wait_until 5 eval "! pid_alive ${KA_PID[d2]}" || { warn "d2's keepalived does not stop"; return 1; }
  wait_until 3 eval '[ "$(rvsadm_on d2 --role)" = backup ]' || { warn "d2's rvs is still $(rvsadm_on d2 --role)"; return 1; }
  log "d2's rvs-notify: $(grep -o 'called [A-Z]*\|keepalived [a-z].*' "$RUN_DIR/state-d2.log" | tail -n4 | tr '\n' ';')"
}

run_case "c. SIGKILL of the master's keepalived: the backup takes over, GARP moves the client, curl via d2" case_c_takeover
run_case "f. keepalived stopped (SIGTERM) on the master: its rvs goes backup" case_f_stop
for d in d1 d2; do
  log "$d rvs-notify: $(grep -o 'called [A-Z]*\|applied [A-Z]*\|keepalived ended[^:]*\|is gone' "$RUN_DIR/state-$d.log" 2>/dev/null | tr '\n' ';')"
done
finish
