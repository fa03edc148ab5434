#!/usr/bin/env bash
# tests/e2e/test_lifecycle.sh: starting and stopping rvs.  The NAT lab (tests/e2e/topo_nat.sh).
# Cases: SIGTERM removes the admin socket and every XDP program; SIGKILL leaves the program
# (and the socket file) behind, and a new rvs on the same config replaces both, starts
# cleanly and forwards; with [state] file/save_on_stop/restore_on_start, rules added with
# rvsadm come back after SIGTERM + restart.
# An empty or truncated config on SIGHUP and rvsadm --reload is refused, rules unchanged, and
# rvs --check refuses it with the message a start gives.
# A second rvs on the interfaces of a running one refuses before touching anything.
# rvs is this shell's child (`wait` needs that): every start and stop runs at top level; the
# checks after each are run_case cases.
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
STATE="$RUN_DIR/state/rules"
STATE_CONFIG="$RUN_DIR/rvs-state.toml"
{ cat "$NAT_CONFIG"; printf '\n[state]\nfile = "%s"\nsave_on_stop = true\nrestore_on_start = true\n' "$STATE"; } >"$STATE_CONFIG"

add_service() {
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -m
  rvsadm -a -t "$VIP:80" -r "$RS2:80" -m
}
forwards() {   # both real servers answer through the VIP
  local out; out="$(curl_many c 4 "http://$VIP/")"
  assert_eq 2 "$(count_lines "$out" rs1)" "requests answered by rs1"
  assert_eq 2 "$(count_lines "$out" rs2)" "requests answered by rs2"
}

# start_rvs_as_is CONFIG: like lib.sh's start_rvs, but leaves a stale socket file for rvs
# itself to deal with; ready when rvsadm -Ln answers.
start_rvs_as_is() {
  : >"$RVS_LOG"
  ip netns exec "$NS_D" "$RVS_BIN" --config "$1" >>"$RVS_LOG" 2>&1 </dev/null &
  RVS_PID=$!
  PIDS+=("$RVS_PID")
  RVS_NS="$NS_D"
  if ! wait_until 20 rvsadm -Ln; then
    warn "rvs did not answer within 20 s; its log:"; sed 's/^/    rvs| /' "$RVS_LOG" >&2
    die "start_rvs_as_is failed"
  fi
  log "rvs is up (pid $RVS_PID) over the stale socket file"
}

# ---------------------------------------------------------------------------------- 1
start_rvs "$NAT_CONFIG"
case_a_running() {
  local ids; ids="$(xdp_ids)"
  log "  XDP program ids while running (d-out d-in): $ids"
  assert_match "$ids" '^[0-9]+ [0-9]+ $' "an XDP program on each interface"
  add_service
  forwards
}
run_case "a. rvs attaches XDP on both interfaces and forwards" case_a_running
if stop_rvs; then pass "b. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "b. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
case_b_clean() {
  assert_eq "- - " "$(xdp_ids)" "no XDP program after SIGTERM"
  [ ! -e "$RVS_SOCK" ] || { warn "socket file left"; return 1; }
  assert_contains "$(cat "$RVS_LOG")" "XDP detached" "the stop is logged"
}
run_case "b2. after SIGTERM: ip -d link shows no XDP program" case_b_clean

# ---------------------------------------------------------------------------------- 2
start_rvs "$NAT_CONFIG"
STALE_IDS="$(xdp_ids)"
kill -KILL "$RVS_PID"
KILL_RC=0; wait "$RVS_PID" 2>/dev/null || KILL_RC=$?
RVS_PID=""
case_c_killed() {
  assert_eq 137 "$KILL_RC" "exit status of SIGKILLed rvs"
  local ids; ids="$(xdp_ids)"
  log "  XDP program ids after SIGKILL: $ids (before: $STALE_IDS)"
  assert_eq "$STALE_IDS" "$ids" "SIGKILL leaves rvs's XDP programs attached"
  [ -S "$RVS_SOCK" ] || { warn "expected the killed rvs's socket file to be left behind"; return 1; }
  # nobody answers on it
  if rvsadm -Ln >/dev/null 2>&1; then warn "something answers on the dead rvs's socket"; return 1; fi
  # with the stale program in place (no AF_XDP socket behind it), the VIP does not answer
  if CURL_MAX_TIME=2 ns_curl c "http://$VIP/" >/dev/null 2>&1; then log "  (the VIP answered with rvs dead?)"; fi
}
run_case "c. SIGKILL leaves the XDP programs (and the socket file) behind" case_c_killed

start_rvs_as_is "$NAT_CONFIG"
case_d_restart_after_kill() {
  local ids; ids="$(xdp_ids)"
  log "  XDP program ids after the restart: $ids (stale: $STALE_IDS)"
  assert_match "$ids" '^[0-9]+ [0-9]+ $' "an XDP program on each interface"
  [ "$ids" != "$STALE_IDS" ] || { warn "the stale programs were not replaced"; return 1; }
  [ "$(ip -n "$NS_D" -d link show d-out | grep -c 'prog/xdp')" = 1 ] || { warn "more than one program on d-out"; return 1; }
  [ "$(stat -c %a "$RVS_SOCK")" = 600 ] || { warn "the new socket is not 0600"; return 1; }
  # rvs's own lines (libbpf/libxdp chatter about the dispatcher aside) report no trouble
  local bad; bad="$(grep -E '^[A-Z]+ +rvs: ' "$RVS_LOG" | grep -iE 'error|cannot|fail|busy' || true)"
  [ -z "$bad" ] || { warn "the restart logged trouble:"; printf '%s\n' "$bad" >&2; return 1; }
  add_service
  forwards
}
run_case "d. a new rvs on the same config replaces the stale program and socket, forwards" case_d_restart_after_kill
if stop_rvs; then pass "e. SIGTERM of the restarted rvs: clean"; else fail "e. SIGTERM of the restarted rvs: clean"; fi

# ---------------------------------------------------------------------------------- 3
start_rvs "$STATE_CONFIG"
case_f_rules_live() {
  add_service
  rvsadm -A -u "$VIP:5353" -s wrr
  rvsadm -a -u "$VIP:5353" -r "$RS1:5353" -m -w 3
  rvsadm -A -t "$VIP:8081" -s sh -p 120
  rvsadm -a -t "$VIP:8081" -r "$RS2:8080" -m -w 2
  forwards
  rvsadm -Ln | awk '{print $1, $2, $3, $4, $5}' >"$RUN_DIR/rules.before"
}
run_case "f. rules added live with rvsadm" case_f_rules_live
if stop_rvs; then pass "g. SIGTERM with save_on_stop: clean"; else fail "g. SIGTERM with save_on_stop: clean"; fi
case_g_saved() {
  [ -s "$STATE" ] || { warn "no state file $STATE"; return 1; }
  assert_contains "$(cat "$STATE")" "-A -t 198.18.0.100:8081 -s sh -p 120" "saved persistent service"
  assert_contains "$(cat "$STATE")" "-a -u 198.18.0.100:5353 -r 198.18.1.11:5353 -m -w 3" "saved UDP real server"
}
run_case "g2. the state file holds the rules" case_g_saved
start_rvs "$STATE_CONFIG"
case_h_restored() {
  rvsadm -Ln | awk '{print $1, $2, $3, $4, $5}' >"$RUN_DIR/rules.after"
  assert_eq "$(cat "$RUN_DIR/rules.before")" "$(cat "$RUN_DIR/rules.after")" "rules after restart (counts aside)"
  assert_contains "$(cat "$RVS_LOG")" "restored" "the restore is logged"
  forwards
  assert_eq "rs2-8080" "$(ns_curl c "http://$VIP:8081/")" "the restored port-mapped service forwards"
}
run_case "h. restore_on_start brings the rules back and they forward" case_h_restored
if stop_rvs; then pass "i. final SIGTERM: clean"; else fail "i. final SIGTERM: clean"; fi
# ---------------------------------------------------------------------------------- 4
# An empty or truncated configuration on SIGHUP / rvsadm --reload is refused as it is at
# start: the running rules stay, the refusal is logged and returned to rvsadm, and
# `rvs --check` reports the same error as a start would.  The file holds the services first
# and the interfaces last, each section a paragraph: cut at half its bytes and back to a
# paragraph end, it is valid TOML with some services and no interface (a cut mid-line is a
# TOML error, which reload refused already).
RELOAD_CONFIG="$RUN_DIR/rvs-reload.toml"
{
  rvs_conf_admin "$RVS_SOCK"
  printf '[timeouts]\ntcp = 900\ntcpfin = 120\nudp = 300\n\n'
  printf '[[service]]\ntcp = "%s:80"\nscheduler = "rr"\n\n' "$VIP"
  printf '[[service.real]]\naddress = "%s:80"\nmethod = "masq"\n\n' "$RS1" "$RS2"
  printf '[[service]]\ntcp = "%s:8081"\nscheduler = "wrr"\n\n' "$VIP"
  printf '[[service.real]]\naddress = "%s:8080"\nmethod = "masq"\nweight = 2\n\n' "$RS1" "$RS2"
  printf '[[service]]\nudp = "%s:5353"\nscheduler = "rr"\n\n' "$VIP"
  printf '[[service.real]]\naddress = "%s:5353"\nmethod = "masq"\n\n' "$RS1" "$RS2"
  sed -n '/^\[\[interface\]\]/,$p' "$NAT_CONFIG"
} >"$RELOAD_CONFIG"
cp "$RELOAD_CONFIG" "$RUN_DIR/reload.good"
: >"$RUN_DIR/reload.empty"
HALF=$(( $(stat -c %s "$RUN_DIR/reload.good") / 2 ))
head -c "$HALF" "$RUN_DIR/reload.good" >"$RUN_DIR/reload.half"
CUT_LINE="$(grep -n '^$' "$RUN_DIR/reload.half" | tail -n1 | cut -d: -f1)"
head -n "$CUT_LINE" "$RUN_DIR/reload.half" >"$RUN_DIR/reload.truncated"
log "reload config: $(stat -c %s "$RUN_DIR/reload.good") bytes; truncated copy: $(stat -c %s "$RUN_DIR/reload.truncated") bytes ($HALF cut back to line $CUT_LINE), $(grep -c '^\[\[service\]\]' "$RUN_DIR/reload.truncated") of 3 services, $(grep -c '^\[\[interface\]\]' "$RUN_DIR/reload.truncated") interfaces"

start_rvs "$RELOAD_CONFIG"
# bad_reload FILE hup|rvsadm: puts FILE in place of the running config, reloads, puts the
# good one back; the rules must not change and the refusal must be logged.
bad_reload() {
  local file="$1" how="$2" before after from rc=0 out newlog
  before="$(rvsadm -Ln)"
  from=$(( $(wc -l <"$RVS_LOG") + 1 ))
  cp "$file" "$RELOAD_CONFIG"
  if [ "$how" = hup ]; then
    kill -HUP "$RVS_PID"
    wait_until 5 eval "tail -n +$from '$RVS_LOG' | grep -q 'reload'" || true
  else
    out="$(rvsadm --reload 2>&1)" || rc=$?
    log "  rvsadm --reload ($(basename "$file")): exit $rc: $out"
    [ "$rc" != 0 ] || { cp "$RUN_DIR/reload.good" "$RELOAD_CONFIG"; warn "rvsadm --reload succeeded"; return 1; }
    assert_contains "$out" "reload refused, running rules kept" "rvsadm --reload's error"
    assert_contains "$out" "names no [[interface]]" "rvsadm --reload says why"
  fi
  cp "$RUN_DIR/reload.good" "$RELOAD_CONFIG"
  after="$(rvsadm -Ln)"
  newlog="$(tail -n +"$from" "$RVS_LOG")"
  log "  rvs logged ($how, $(basename "$file")): $newlog"
  assert_eq "$before" "$after" "rvsadm -Ln before and after the refused reload"
  assert_contains "$newlog" "reload refused, running rules kept" "the refusal is logged"
  assert_contains "$newlog" "names no [[interface]]" "the log says why"
  assert_not_contains "$newlog" "applied" "nothing is applied"
}
case_j_reload_refused() {
  assert_eq 3 "$(rvsadm -Ln | grep -cE '^(TCP|UDP)')" "services from the config"
  forwards
  bad_reload "$RUN_DIR/reload.empty" hup
  bad_reload "$RUN_DIR/reload.empty" rvsadm
  bad_reload "$RUN_DIR/reload.truncated" hup
  bad_reload "$RUN_DIR/reload.truncated" rvsadm
  forwards
  assert_contains "$(rvsadm --reload)" "applied" "the good file still reloads"
}
run_case "j. an empty or truncated config on SIGHUP and rvsadm --reload: refused, rules kept" case_j_reload_refused
case_k_check_as_start() {
  local f rc src chk st
  for f in empty truncated; do
    rc=0; chk="$("$RVS_BIN" --config "$RUN_DIR/reload.$f" --check 2>&1)" || rc=$?
    # a start from the same file (it names no interface, so it cannot touch the running one)
    src=0; st="$(ip netns exec "$NS_D" timeout 10 "$RVS_BIN" --config "$RUN_DIR/reload.$f" 2>&1 </dev/null)" || src=$?
    log "  $f: rvs --check: exit $rc: $chk"
    log "  $f: rvs (start): exit $src: $st"
    [ "$rc" != 0 ] || { warn "rvs --check accepted the $f file"; return 1; }
    assert_eq "$st" "$chk" "rvs --check and a start report the same error ($f file)"
    assert_eq "$src" "$rc" "rvs --check and a start exit alike ($f file)"
  done
  rc=0; chk="$("$RVS_BIN" --config "$RUN_DIR/reload.good" --check 2>&1)" || rc=$?
  assert_eq 0 "$rc" "rvs --check on the good file ($chk)"
}
run_case "k. rvs --check refuses both files with the message a start gives" case_k_check_as_start
if stop_rvs; then pass "l. SIGTERM after the refused reloads: clean"; else fail "l. SIGTERM after the refused reloads: clean"; fi
# ---------------------------------------------------------------------------------- 5
# A second rvs on the interfaces of a running one refuses before touching anything: with the
# same config (same admin socket), and with its own admin socket but the same interfaces.
# The first keeps its XDP programs and forwards.
start_rvs "$NAT_CONFIG"
add_service
FIRST_IDS="$(xdp_ids)"
OTHER_SOCK_CONFIG="$RUN_DIR/rvs-other-socket.toml"
sed "s|^socket = .*|socket = \"$RUN_DIR/other.sock\"|" "$NAT_CONFIG" >"$OTHER_SOCK_CONFIG"
# second_rvs CONFIG: runs a second rvs in the director namespace (bounded); "status<TAB>log"
second_rvs() {
  local rc=0 out
  out="$(ip netns exec "$NS_D" timeout 20 "$RVS_BIN" --config "$1" 2>&1 </dev/null)" || rc=$?
  printf '%s\t%s\n' "$rc" "$(printf '%s' "$out" | tr '\n' '|')"
}
case_m_second_instance() {
  local cfg res rc out ids
  forwards
  for cfg in "$NAT_CONFIG" "$OTHER_SOCK_CONFIG"; do
    res="$(second_rvs "$cfg")"; rc="${res%%$'\t'*}"; out="${res#*$'\t'}"
    ids="$(xdp_ids)"
    log "  second rvs with $(basename "$cfg"): exit $rc: $out"
    log "  XDP program ids (d-out d-in): before $FIRST_IDS, after $ids"
    [ "$rc" != 0 ] || { warn "the second rvs exited 0"; return 1; }
    [ "$rc" != 124 ] || { warn "the second rvs kept running"; return 1; }
    assert_contains "$out" "is owned by rvs pid $RVS_PID" "the second rvs says who owns the interface"
    assert_not_contains "$out" "AF_XDP socket bound" "the second rvs bound no socket"
    assert_eq "$FIRST_IDS" "$ids" "the first rvs's XDP programs are still attached"
    pid_alive "$RVS_PID" || { warn "the first rvs died"; return 1; }
    forwards
    assert_contains "$(rvsadm -Ln)" "TCP  $VIP:80 rr" "the first rvs still answers rvsadm"
  done
  [ ! -e "$RUN_DIR/other.sock" ] || { warn "the second rvs left $RUN_DIR/other.sock"; return 1; }
}
run_case "m. a second rvs on the same interfaces refuses and leaves the first forwarding" case_m_second_instance
if stop_rvs; then pass "n. SIGTERM of the first rvs: clean"; else fail "n. SIGTERM of the first rvs: clean"; fi
finish
