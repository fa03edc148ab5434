#!/usr/bin/env bash
# tests/e2e/test_announce.sh: VIP announcement by BGP (bird2) from one rvs director, and the
# kernel's addresses followed on the interface rvs owns.  The bird configurations are the
# shipped docs/scale-out/bird-director.conf and bird-router.conf, with only addresses,
# AS numbers and the table substituted.
#
#   ${RUN}-c   client       eth0 198.18.0.10/24, default via 198.18.0.1
#   ${RUN}-r   router       r0 198.18.0.1/24, r1 198.18.1.1/24; bird (ECMP kernel protocol)
#   ${RUN}-sw  switch       br0 = { p-r, p-d, p-rs1, p-rs2 }  (198.18.1.0/24)
#   ${RUN}-d   director     d0: rvs owns it (rvs address 198.18.1.2/24); the kernel keeps
#                           198.18.1.3/24 there (the host path) for bird's BGP + BFD session
#   ${RUN}-rs1/rs2          DR real servers 198.18.1.11/.12, VIP 198.18.5.100 on lo
#
# The VIP lies outside the LAN: the router reaches it only through the BGP next hop.
# Every case prints its figures; times are measured by polling every 20 ms.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

command -v bird >/dev/null || die "bird2 is not installed (scripts/setup installs it)"
VIP=198.18.5.100
VIP_RANGE=198.18.5.0/24
CLIENT=$LAB_CLIENT
R_IN=$LAB_ROUTER_IN
D_RVS=198.18.1.2
D_KERNEL=198.18.1.3
D_EXTRA=198.18.1.4
RS1=198.18.1.11
RS2=198.18.1.12
TABLE=100
DOWN_DIR="$RUN_DIR/down"
CONFIG="$RUN_DIR/rvs.toml"
mkdir -p "$DOWN_DIR"

# ------------------------------------------------------------------------------ the lab
for n in c r sw d rs1 rs2; do ns_add "$n"; done
lab_switch
lab_router net.ipv4.fib_multipath_hash_policy=1
lab_port --gro d d0 numrxqueues 1 numtxqueues 1
for rs in rs1 rs2; do
  a="$RS1"; [ "$rs" = rs2 ] && a="$RS2"
  lab_port "$rs" eth0
  lab_dr_real_server "$rs" "$a" "$VIP"
  start_http "$rs" 80 "$rs"
done
# The director's kernel address: bird's session runs from it, through rvs's host path.
ns_exec d ip addr add "$D_KERNEL/24" dev d0

{
  rvs_conf_admin "$RVS_SOCK"
  RVS_XDP_MODE=generic rvs_conf_iface d0 "$D_RVS/24"
  rvs_conf_route "$R_IN"
  cat <<EOF
[announce]
table = $TABLE
withdraw_grace_ms = 1000

[[service]]
tcp = "$VIP:80"
scheduler = "mh"
[service.check]
type = "command"
command = "test ! -e $DOWN_DIR/\$RVS_RIP"
interval = 0.1
timeout = 1
retries = 1
[[service.real]]
address = "$RS1:80"
method = "route"
[[service.real]]
address = "$RS2:80"
method = "route"
EOF
} >"$CONFIG"

# The shipped bird configurations, placeholders substituted.
DOCS="$REPO_DIR/docs/scale-out"
sed -e "s/@ROUTER_ID@/$D_KERNEL/; s/@LOCAL_ADDR@/$D_KERNEL/; s/@LOCAL_AS@/65001/" \
  -e "s/@ROUTER_ADDR@/$R_IN/; s/@ROUTER_AS@/65000/; s/@RVS_TABLE@/$TABLE/" \
  -e "s#@VIP_RANGE@#$VIP_RANGE#" "$DOCS/bird-director.conf" >"$RUN_DIR/bird-d.conf"
sed -e "s/@ROUTER_ID@/$R_IN/; s/@ROUTER_ADDR@/$R_IN/; s/@ROUTER_AS@/65000/" \
  -e "s#@DIRECTOR_NET@#198.18.1.0/24#; s/@DIRECTOR_AS@/65001/; s#@VIP_RANGE@#$VIP_RANGE#" \
  "$DOCS/bird-router.conf" >"$RUN_DIR/bird-r.conf"
for f in bird-d bird-r; do
  if grep -q @ "$RUN_DIR/$f.conf"; then die "$f.conf: a placeholder left: $(grep @ "$RUN_DIR/$f.conf")"; fi
  bird -p -c "$RUN_DIR/$f.conf" || die "bird -p refuses $f.conf"
done
log "bird -p accepts both shipped configurations (substituted)"

bg r bird-r bird -f -c "$RUN_DIR/bird-r.conf" -s "$RUN_DIR/bird-r.sock" -P "$RUN_DIR/bird-r.pid"
start_rvs "$CONFIG"
T_RVS_START="$(date +%s%3N)"
bg d bird-d bird -f -c "$RUN_DIR/bird-d.conf" -s "$RUN_DIR/bird-d.sock" -P "$RUN_DIR/bird-d.pid"

# ------------------------------------------------------------------------------ helpers
now_ms() { date +%s%3N; }
# router_has_vip: the router's kernel has bird's route to the VIP
router_has_vip() { ns_exec r ip route show "$VIP" proto bird 2>/dev/null | grep -q .; }
# wait_ms SECONDS CMD...: polls CMD every 20 ms; prints the ms it took, returns 1 on timeout
wait_ms() {
  local secs="$1"; shift
  local t0 end; t0="$(now_ms)"; end=$((t0 + secs * 1000))
  while :; do
    if "$@" >/dev/null 2>&1; then echo $(($(now_ms) - t0)); return 0; fi
    [ "$(now_ms)" -ge "$end" ] && { echo "timeout"; return 1; }
    sleep 0.02
  done
}
router_lacks_vip() { ! router_has_vip; }
birdc_r() { birdc -s "$RUN_DIR/bird-r.sock" "$@"; }

# ------------------------------------------------------------------------------ cases
case_announced() {
  local ms
  ms="$(wait_ms 30 router_has_vip)" || { birdc_r show protocols all >&2; return 1; }
  log "VIP route at the router $(($(now_ms) - T_RVS_START)) ms after rvs started (bird's session setup included)"
  ns_exec r ip route show "$VIP" | sed 's/^/    router| /'
  ns_exec d ip route show table "$TABLE" | sed 's/^/    director table '"$TABLE"'| /'
  assert_contains "$(ns_exec r ip route show "$VIP")" "via $D_KERNEL dev r1" "next hop: the director's kernel address"
  # Never a local address of the kernel: not in the local table, not on any device.
  assert_eq "" "$(ns_exec d ip route show table local | grep -F "$VIP" || true)" "VIP in the director's local table"
  assert_eq "" "$(ns_exec d ip -4 addr | grep -F "$VIP" || true)" "VIP as a kernel address"
  local out; out="$(rvsadm --announced)"
  printf '%s\n' "$out" | sed 's/^/    --announced| /'
  assert_match "$out" "$VIP/32 +announced +2 of 2 real servers available"
  out="$(curl_many c 6 "http://$VIP/")"
  log "6 requests through the router: $(tr '\n' ' ' <<<"$out")"
  assert_eq 6 "$(($(count_lines "$out" rs1) + $(count_lines "$out" rs2)))" "answers from the real servers"
}

case_address_followed() {
  # A second kernel address on d0, added after rvs started: the host path must follow it.
  ns_exec d ip addr add "$D_EXTRA/24" dev d0
  bg d hostpath-7000 socat TCP4-LISTEN:7000,bind="$D_EXTRA",reuseaddr,fork SYSTEM:'echo host-path'
  wait_tcp_listen d 7000
  local ms; ms="$(wait_ms 5 ns_exec r ping -c1 -W1 "$D_EXTRA")" || { warn "no ping answer from $D_EXTRA"; return 1; }
  log "ping to the added kernel address $D_EXTRA answered after $ms ms"
  local got; got="$(ns_exec r timeout 5 socat -T 3 - "TCP4:$D_EXTRA:7000" </dev/null)"
  assert_eq host-path "$got" "TCP to the added kernel address"
  assert_contains "$(cat "$RVS_LOG")" "d0: host path for the kernel's address $D_EXTRA (added after start)"
  ns_exec d ip addr del "$D_EXTRA/24" dev d0
  ms="$(wait_ms 5 grep -q "the kernel's address $D_EXTRA is gone" "$RVS_LOG")" || return 1
  log "address deleted: host path closed after $ms ms"
  if ns_exec r ping -c1 -W1 "$D_EXTRA" >/dev/null 2>&1; then warn "$D_EXTRA still answers"; return 1; fi
  # rvs's own address as a kernel address: refused, its traffic stays with rvs.
  ns_exec d ip addr add "$D_RVS/32" dev d0
  ms="$(wait_ms 5 grep -q "the kernel's address $D_RVS is also rvs's own: refused" "$RVS_LOG")" || return 1
  log "rvs's own address added to the kernel: refused after $ms ms"
  ns_exec d ip addr del "$D_RVS/32" dev d0
  out="$(curl_many c 2 "http://$VIP/")"
  assert_eq 2 "$(($(count_lines "$out" rs1) + $(count_lines "$out" rs2)))" "service still answers"
}

case_weights_zero() {
  local t0 ms
  t0="$(now_ms)"
  rvsadm -e -t "$VIP:80" -r "$RS1:80" -g -w 0
  rvsadm -e -t "$VIP:80" -r "$RS2:80" -g -w 0
  ms="$(wait_ms 5 router_lacks_vip)" || return 1
  log "both real servers at weight 0: withdrawn at the router $ms ms after the last rvsadm -e ($(($(now_ms) - t0)) ms after the first)"
  assert_match "$(rvsadm --announced)" "$VIP/32 +withdrawn +no real server available \(0 of 2 with weight > 0\)"
  [ "$ms" -lt 1000 ] || { warn "withdrawal took $ms ms (limit 1000)"; return 1; }
  rvsadm -e -t "$VIP:80" -r "$RS1:80" -g -w 1
  ms="$(wait_ms 10 router_has_vip)" || return 1
  log "one real server back at weight 1: announced at the router after $ms ms"
  rvsadm -e -t "$VIP:80" -r "$RS2:80" -g -w 1
}

case_health_failed() {
  local ms
  touch "$DOWN_DIR/$RS1" "$DOWN_DIR/$RS2"
  ms="$(wait_ms 5 router_lacks_vip)" || return 1
  log "both real servers failing their health check: withdrawn at the router $ms ms after they failed (check interval 100 ms included)"
  [ "$ms" -lt 1000 ] || { warn "withdrawal took $ms ms (limit 1000)"; return 1; }
  rm -f "$DOWN_DIR/$RS2"
  ms="$(wait_ms 10 router_has_vip)" || return 1
  log "rs2 healthy again: announced at the router after $ms ms"
  assert_match "$(rvsadm --announced)" "$VIP/32 +announced +1 of 1 real servers available"
  rm -f "$DOWN_DIR/$RS1"
  wait_until 5 eval "rvsadm --announced | grep -q '2 of 2'"
}

case_backup_role() {
  local ms
  rvsadm --role backup
  ms="$(wait_ms 5 router_lacks_vip)" || return 1
  log "rvsadm --role backup: withdrawn at the router after $ms ms"
  assert_match "$(rvsadm --announced)" "$VIP/32 +withdrawn +HA role is backup"
  rvsadm --role master
  ms="$(wait_ms 10 router_has_vip)" || return 1
  log "rvsadm --role master: announced after $ms ms"
  [ "$ms" -ge 0 ]
}

case_stalled_loop() {
  local tid="" t ms
  for t in /proc/"$RVS_PID"/task/*; do
    [ "$(cat "$t/comm")" = rvs-poll-0 ] && tid="${t##*/}"
  done
  [ -n "$tid" ] || { warn "no thread rvs-poll-0 in rvs"; return 1; }
  python3 "$E2E_DIR/announce/stall_thread.py" "$tid" 2 >"$LOG_DIR/stall.log" 2>&1 &
  local stall=$!
  wait_until 5 grep -q stopped "$LOG_DIR/stall.log" || { cat "$LOG_DIR/stall.log" >&2; return 1; }
  local stopped_at; stopped_at="$(awk '$1 == "stopped" {print $2}' "$LOG_DIR/stall.log")"
  wait_ms 5 router_lacks_vip >/dev/null || { wait "$stall"; return 1; }
  ms=$(($(now_ms) - stopped_at))
  log "poll loop 0 stopped (ptrace, the other threads running): withdrawn at the router $ms ms after it stopped (stall limit 500 ms)"
  [ "$ms" -lt 1000 ] || { wait "$stall"; warn "withdrawal took $ms ms (limit 1000)"; return 1; }
  assert_contains "$(rvsadm --announced)" "poll loop 0 stalled for"
  wait "$stall"
  ms="$(wait_ms 10 router_has_vip)" || return 1
  log "poll loop released: announced again after $ms ms"
  [ "$ms" -ge 0 ]
  out="$(curl_many c 2 "http://$VIP/")"
  assert_eq 2 "$(($(count_lines "$out" rs1) + $(count_lines "$out" rs2)))" "service answers again"
}

case_link_cut() {
  local ms
  ns_exec d ip link set d0 down
  ms="$(wait_ms 5 router_lacks_vip)" || { ns_exec d ip link set d0 up; return 1; }
  log "director's uplink down: BFD withdrew the VIP at the router after $ms ms"
  birdc_r show protocols | sed 's/^/    router bird| /'
  [ "$ms" -lt 1000 ] || { ns_exec d ip link set d0 up; warn "BFD took $ms ms (limit 1000)"; return 1; }
  ns_exec d ip link set d0 up
  ms="$(wait_ms 30 router_has_vip)" || return 1
  log "uplink up again: announced at the router after $ms ms (bird's reconnect included)"
  [ "$ms" -ge 0 ]
  wait_until 10 eval "curl_many c 1 http://$VIP/ | grep -q rs" || { warn "no answer through the director after the link came back"; return 1; }
  out="$(curl_many c 4 "http://$VIP/")"
  assert_eq 4 "$(($(count_lines "$out" rs1) + $(count_lines "$out" rs2)))" "service answers after the link came back"
}

case_sigterm() {
  # A static route of worse metric keeps the client's traffic reaching the director after
  # bird's route is withdrawn: the requests then show how long rvs still forwards.
  ns_exec r ip route add "$VIP/32" via "$D_KERNEL" metric 500
  # shellcheck disable=SC2016
  ns_exec c bash -c 'end=$((SECONDS + 8)); while [ $SECONDS -lt $end ]; do
      if curl -s --noproxy "*" --connect-timeout 0.3 --max-time 0.5 "http://$1/" >/dev/null; then
        echo "ok $(date +%s%3N)"; else echo "err $(date +%s%3N)"; fi; sleep 0.02; done' _ "$VIP" \
    >"$LOG_DIR/sigterm-curl.log" 2>&1 &
  local loop=$! t0 withdrawn exited last_ok
  sleep 0.5
  t0="$(now_ms)"
  kill -TERM "$RVS_PID"
  withdrawn="$(wait_ms 5 router_lacks_vip)" || return 1
  wait_until 10 eval "! pid_alive $RVS_PID" || return 1
  exited=$(($(now_ms) - t0))
  wait "$loop" || true
  ns_exec r ip route del "$VIP/32" via "$D_KERNEL" metric 500
  last_ok="$(awk '$1 == "ok" {t = $2} END {print t}' "$LOG_DIR/sigterm-curl.log")"
  local fwd_until=$((last_ok - t0))
  log "SIGTERM at 0 ms: route gone at the router at $withdrawn ms; last request through rvs at $fwd_until ms; rvs exited at $exited ms"
  grep -E 'announcements|withdrawn' "$RVS_LOG" | tail -n 3 | sed 's/^/    rvs| /'
  [ "$withdrawn" -lt 1000 ] || { warn "withdrawal took $withdrawn ms"; return 1; }
  [ "$withdrawn" -lt "$fwd_until" ] || { warn "forwarding stopped ($fwd_until ms) before the withdrawal ($withdrawn ms)"; return 1; }
}

case_sigkill() {
  local ms
  wait_until 30 router_has_vip || return 1
  kill -KILL "$RVS_PID"
  ms="$(wait_ms 5 router_lacks_vip)" || return 1
  log "SIGKILL of rvs: route gone at the router after $ms ms (the TUN device died with rvs)"
  assert_eq "" "$(ns_exec d ip link show rvs-vips 2>/dev/null || true)" "rvs-vips after SIGKILL"
  assert_eq "" "$(ns_exec d ip route show table "$TABLE")" "table $TABLE after SIGKILL"
  [ "$ms" -lt 1000 ]
}

case_docs() {
  # The README shows the shipped files literally (block after "<!-- FILE -->"), and the lab
  # changed nothing in them but the placeholders.
  local f block lab
  for f in bird-director bird-router; do
    block="$(awk -v m="<!-- docs/scale-out/$f.conf -->" '$0 == m {on = 1; getline; next} on && /^```$/ {exit} on' "$REPO_DIR/README.md")"
    assert_eq "$(cat "$DOCS/$f.conf")" "$block" "README's block for docs/scale-out/$f.conf"
    lab="$RUN_DIR/bird-d.conf"; [ "$f" = bird-router ] && lab="$RUN_DIR/bird-r.conf"
    assert_eq "" "$(diff "$DOCS/$f.conf" "$lab" | grep '^<' | grep -v @ || true)" "lab lines changed beyond placeholders"
  done
}

run_case "docs: README shows the shipped bird configs, the lab runs them as shipped" case_docs
run_case "announced: VIP at the router, curl through it" case_announced
run_case "kernel address added/removed after start: host path follows" case_address_followed
run_case "all real servers weight 0: withdrawn < 1 s, back: announced" case_weights_zero
run_case "all real servers failing health checks: withdrawn < 1 s" case_health_failed
run_case "HA role backup: withdrawn, master: announced" case_backup_role
run_case "stalled poll loop: withdrawn < 1 s of the stall" case_stalled_loop
run_case "uplink cut: BFD withdraws" case_link_cut
run_case "SIGTERM: withdrawn before forwarding stops" case_sigterm
RVS_PID=""
start_rvs "$CONFIG"
run_case "SIGKILL: the announcement vanishes by itself" case_sigkill
RVS_PID=""

case_device_taken() {
  # A persistent device of that name would keep routes after rvs ends: refused at start,
  # before anything is touched (no XDP program attached).
  ns_exec d ip tuntap add dev rvs-vips mode tun
  ns_exec d ip link set d0 xdpgeneric off 2>/dev/null || true   # left by the SIGKILLed rvs
  local rc=0 out
  out="$(ns_exec d timeout 10 "$RVS_BIN" --config "$CONFIG" 2>&1)" || rc=$?
  ns_exec d ip tuntap del dev rvs-vips mode tun
  log "rvs with rvs-vips taken: exit $rc: $(tail -n1 <<<"$out")"
  assert_eq 1 "$rc" "exit status"
  assert_contains "$out" "announce.device rvs-vips exists already"
  assert_not_contains "$(ns_exec d ip -d link show d0)" "prog/xdp" "XDP attached by a refused start"
}
run_case "a taken announce.device refuses the start" case_device_taken

case_hold_down() {
  # [announce] hold_down_ms: a VIP is announced only once it has been servable for that long
  # (a director whose rules are still being added draws no flows); a withdrawal is not held.
  local cfg="$RUN_DIR/rvs-hold.toml" t0 ms out
  sed 's/^withdraw_grace_ms = 1000$/&\nhold_down_ms = 1500/' "$CONFIG" >"$cfg"
  assert_contains "$(cat "$cfg")" "hold_down_ms = 1500" "the lab's config with a hold-down"
  # From before the start: the hold runs from the announcer's first look, inside the start.
  t0="$(now_ms)"
  start_rvs "$cfg"
  out="$(rvsadm --announced)"
  printf '%s\n' "$out" | sed 's/^/    --announced| /'
  assert_match "$out" "$VIP/32 +withdrawn +held down, servable for [0-9]+ of 1500 ms"
  ms="$(wait_ms 10 router_has_vip)" || return 1
  log "hold_down_ms = 1500: route at the router $(($(now_ms) - t0)) ms after rvs was started"
  [ "$(($(now_ms) - t0))" -ge 1500 ] || { warn "announced inside the hold-down"; return 1; }
  rvsadm -e -t "$VIP:80" -r "$RS1:80" -g -w 0
  rvsadm -e -t "$VIP:80" -r "$RS2:80" -g -w 0
  ms="$(wait_ms 5 router_lacks_vip)" || return 1
  log "both real servers at weight 0: withdrawn after $ms ms (not held)"
  [ "$ms" -lt 1000 ] || return 1
  t0="$(now_ms)"
  rvsadm -e -t "$VIP:80" -r "$RS1:80" -g -w 1
  ms="$(wait_ms 10 router_has_vip)" || return 1
  log "a real server back: announced again after $ms ms (held 1500 ms)"
  [ "$ms" -ge 1400 ] || { warn "re-announced after $ms ms, inside the hold-down"; return 1; }
}
run_case "hold_down_ms: announced only after the hold, withdrawn at once" case_hold_down
finish
