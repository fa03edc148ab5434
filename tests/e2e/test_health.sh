#!/usr/bin/env bash
# tests/e2e/test_health.sh: what ldirectord and keepalived give LVS, in rvs. The NAT lab, with
# the director host holding 198.18.1.2 on the inside (the host path) so probes reach the
# real servers. Cases: a failed server leaves rotation within interval x retries and comes
# back when it recovers (failed requests during detection are reported); the sorry server
# answers while every server is down; quiescent mode keeps an open connection working while
# new ones go elsewhere; a reload during a 20 MB download changes weights and adds a server
# with the download intact; a bad reload is refused; rules survive a restart when asked.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
DOWN_DIR="$RUN_DIR/down"     # command checks: a file here marks a server down
STATE="$RUN_DIR/state/rules"
mkdir -p "$DOWN_DIR"

topo_nat
director_host_path
start_http rs1 8080 rs1-8080 >/dev/null 2>&1 || true
BASE_CONFIG="$(cat "$NAT_CONFIG")"

# An HTTP-checked service on :80 (rs1, rs2; sorry server rs1:8080) and a command-checked
# quiescent service on :81 (rs1:80, rs2:80), whose health the test flips with files.
write_config() {   # WEIGHT_RS1_81 [EXTRA-REAL-ON-81]
  cat >"$NAT_CONFIG" <<CFG
$BASE_CONFIG

[state]
file = "$STATE"
save_on_stop = true
restore_on_start = ${RESTORE:-false}

[[service]]
tcp = "$VIP:80"
scheduler = "rr"
fallback = "$RS1:8080"
[service.check]
type = "http"
interval = 0.3
timeout = 0.5
retries = 2
rise = 2
request = "/"
receive = "rs"
[[service.real]]
address = "$RS1:80"
method = "masq"
[[service.real]]
address = "$RS2:80"
method = "masq"

[[service]]
tcp = "$VIP:81"
scheduler = "wrr"
quiescent = true
[service.check]
type = "command"
command = "test ! -e $DOWN_DIR/\$RVS_RIP"
interval = 0.3
retries = 1
[[service.real]]
address = "$RS1:80"
method = "masq"
weight = $1
${2:-}
CFG
}

in_rotation() { rvsadm -Ln -t "$VIP:80" | grep -c "$1:80 " || true; }

write_config 1 "[[service.real]]
address = \"$RS2:80\"
method = \"masq\""
start_rvs "$NAT_CONFIG"

case_a_failover() {
  wait_until 10 eval '[ "$(rvsadm --checks | grep -c " UP ")" -ge 4 ]' || { rvsadm --checks >&2; warn "checks never all UP"; return 1; }
  local log="$RUN_DIR/loop.out"
  # A client loop: one request every 50 ms for 6 s, recording who answered ("fail" if none).
  ns_exec c bash -c 'for i in $(seq 120); do curl -s --noproxy "*" --max-time 1 http://'"$VIP"'/ || echo fail; sleep 0.05; done' >"$log" &
  local loop=$!
  sleep 1
  kill_http rs2 80
  local t0=$SECONDS
  wait_until 10 eval '[ "$(in_rotation '"$RS2"')" = 0 ]' || { warn "rs2 never left rotation"; return 1; }
  log "rs2 left rotation within $((SECONDS - t0)) s of its server stopping (interval 0.3 s x retries 2)"
  assert_contains "$(rvsadm --checks)" "DOWN" "--checks shows the failure"
  assert_contains "$(cat "$RVS_LOG")" "is DOWN" "the transition is logged"
  local mark; mark=$(wc -l <"$log")
  wait "$loop" || true
  local fails_total fails_after
  fails_total=$(grep -c '^fail$' "$log" || true)
  fails_after=$(tail -n +"$((mark + 1))" "$log" | grep -c '^fail$' || true)
  log "failed requests: $fails_total in all, all of them inside the detection window; $fails_after after rs2 left rotation"
  assert_eq 0 "$fails_after" "no request fails once the failure is detected"
  assert_eq 0 "$(tail -n +"$((mark + 1))" "$log" | grep -c '^rs2$' || true)" "nothing reaches rs2 after detection"
  start_http rs2 80 rs2
  wait_until 10 eval '[ "$(in_rotation '"$RS2"')" = 1 ]' || { warn "rs2 never came back"; return 1; }
  assert_contains "$(curl_many c 4 "http://$VIP/")" "rs2" "rs2 serves again after recovery"
}

case_b_fallback() {
  kill_http rs1 80; kill_http rs2 80
  wait_until 10 eval 'rvsadm -Ln -t '"$VIP"':80 | grep -q "'"$RS1"':8080 "' || { rvsadm -Ln >&2; warn "no fallback"; return 1; }
  assert_eq "rs1-8080 rs1-8080 rs1-8080" "$(curl_many c 3 "http://$VIP/" | tr '\n' ' ' | sed 's/ $//')" "the sorry server answers"
  start_http rs1 80 rs1; start_http rs2 80 rs2
  wait_until 10 eval '! rvsadm -Ln -t '"$VIP"':80 | grep -q ":8080 "' || { warn "fallback not withdrawn"; return 1; }
  assert_not_contains "$(curl_many c 4 "http://$VIP/")" "8080" "real servers back, fallback withdrawn"
}

case_c_quiescent() {
  # A slow download through :81 pinned to whichever server; then that server "fails".
  local dl="$RUN_DIR/q.bin" pid who
  ns_exec c curl -s --noproxy '*' --max-time 60 --limit-rate 4M -o "$dl" -D "$RUN_DIR/q.hdr" "http://$VIP:81/big.bin" &
  pid=$!
  established81() { rvsadm -Lnc | awk '$3 == "ESTABLISHED" && $5 ~ /:81$/ {print $6}' | head -n1 | cut -d: -f1; }
  wait_until 10 eval '[ -n "$(established81)" ]' || true
  who="$(established81)"
  [ -n "$who" ] || { warn "no established connection on :81"; rvsadm -Lnc >&2; return 1; }
  touch "$DOWN_DIR/$who"
  wait_until 5 eval 'rvsadm -Ln -t '"$VIP"':81 | grep -q "'"$who"':80 *Masq *0 "' || { rvsadm -Ln >&2; warn "$who not quiesced"; return 1; }
  local wname=rs2; [ "$who" = "$RS1" ] && wname=rs1
  local other; other="$(curl_many c 3 "http://$VIP:81/")"
  assert_eq 0 "$(count_lines "$other" "$wname")" "new connections avoid the quiesced $wname"
  wait "$pid" || { warn "the open download failed"; return 1; }
  assert_eq "$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)" "$(sha256sum <"$dl" | cut -d' ' -f1)" "the quiesced server's open download completed intact"
  rm -f "$DOWN_DIR/$who"
  wait_until 5 eval '! rvsadm -Ln -t '"$VIP"':81 | grep -q " Masq *0 "' || { warn "$who not restored"; return 1; }
}

case_d_reload_during_download() {
  local dl="$RUN_DIR/r.bin" pid
  ns_exec c curl -s --noproxy '*' --max-time 60 --limit-rate 5M -o "$dl" "http://$VIP/big.bin" &
  pid=$!
  sleep 0.5
  write_config 3 "[[service.real]]
address = \"$RS2:80\"
method = \"masq\"
weight = 2
[[service.real]]
address = \"198.18.1.13:80\"
method = \"masq\""
  assert_contains "$(rvsadm --reload)" "applied" "rvsadm --reload"
  local l; l="$(rvsadm -Ln -t "$VIP:81")"
  assert_contains "$l" "  -> $RS1:80               Masq    3 " "new weight of rs1"
  assert_contains "$l" "  -> $RS2:80               Masq    2 " "new weight of rs2"
  assert_contains "$l" "  -> 198.18.1.13:80" "the added server"
  wait "$pid" || { warn "the download failed across the reload"; return 1; }
  assert_eq "$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)" "$(sha256sum <"$dl" | cut -d' ' -f1)" "download intact across the reload"
  # A bad file is refused with the reason; the running rules stay.
  local before rc=0 out; before="$(rvsadm -Ln)"
  printf 'this is not = toml [\n' >>"$NAT_CONFIG"
  out="$(rvsadm --reload 2>&1)" || rc=$?
  assert_eq 1 "$rc" "exit status of a refused reload"
  assert_contains "$out" "reload refused" "the refusal says so"
  assert_eq "$before" "$(rvsadm -Ln)" "rules unchanged after a refused reload"
  kill -HUP "$RVS_PID"; sleep 0.5
  assert_contains "$(cat "$RVS_LOG")" "reload refused, running rules kept" "SIGHUP with a bad file is refused too"
}

# Rules changed live survive a restart when the config asks (ipvsadm.service's
# save-on-stop / restore-on-start). rvs is this shell's child: stop and start it here,
# outside run_case's subshells.
case_e1_change_live() {
  write_config 1
  rvsadm --reload >/dev/null
  rvsadm -A -u "$VIP:5353" -s rr
  rvsadm -a -u "$VIP:5353" -r "$RS1:5353" -m
}
case_e2_saved() {
  assert_contains "$(cat "$STATE")" "-A -u 198.18.0.100:5353 -s rr" "saved on stop"
  assert_contains "$(cat "$STATE")" "-a -u 198.18.0.100:5353 -r 198.18.1.11:5353 -m -w 1" "saved on stop"
}
case_e3_restored() {
  assert_contains "$(rvsadm -Ln)" "UDP  198.18.0.100:5353 rr" "restored on start"
  assert_contains "$(cat "$RVS_LOG")" "restored" "the restore is logged"
}

run_case "a. a failed server leaves rotation and returns" case_a_failover
run_case "b. every server down: the sorry server answers" case_b_fallback
run_case "c. quiescent: open connection finishes, new ones go elsewhere" case_c_quiescent
run_case "d. reload during a 20 MB download; a bad reload is refused" case_d_reload_during_download
run_case "e1. rules changed live with rvsadm" case_e1_change_live
if stop_rvs; then pass "e. SIGTERM: clean stop, rules saved"; else fail "e. SIGTERM: clean stop, rules saved"; fi
run_case "e2. the saved file holds the live rules" case_e2_saved
RESTORE=true write_config 1
start_rvs "$NAT_CONFIG"
run_case "e3. rules restored on start" case_e3_restored
if stop_rvs; then pass "k. SIGTERM: clean stop"; else fail "k. SIGTERM: clean stop"; fi
finish
