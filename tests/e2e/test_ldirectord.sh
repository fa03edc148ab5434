#!/usr/bin/env bash
# tests/e2e/test_ldirectord.sh: the real ldirectord (Debian's) drives rvs through the ipvsadm
# name, and rvs's reloads leave its rules alone. The NAT lab, with the director host holding
# 198.18.1.2 on the inside (the host path) so ldirectord's HTTP checks reach the real servers.
#
# ldirectord finds ipvsadm at the fixed paths /sbin/ipvsadm, then /usr/sbin/ipvsadm; only in
# its debug mode (-d, which also keeps it in the foreground and logs to stderr) does
# ./ipvsadm in its working directory come first. It runs here with -d in $LD_DIR, where
# ./ipvsadm is a symlink to rvsadm and RVS_SOCKET names this lab's rvs: the host's
# /sbin/ipvsadm (the kernel's IPVS) is never run. Its pid file is never written (-d), and
# ipvsadm's fixed path is checked in its log.
#
# ldirectord.cf: a NAT virtual service 198.18.0.100:80 (quiescent=no: a dead server is
# deleted) and 198.18.0.100:8080 (quiescent=yes: a dead server stays at weight 0), two real
# servers each, HTTP checks. rvs's own file has a different service (:81, then :82).
# Cases: ldirectord adds its services and servers; a stopped server leaves them and traffic
# goes to the other; SIGHUP and `rvsadm --reload` with a file whose service changed keep
# ldirectord's services, servers and weights, and traffic flows; ldirectord still drives rvs
# after the reloads (the server back is re-added); a bad file is refused, nothing changes.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

command -v ldirectord >/dev/null 2>&1 || die "ldirectord is not installed (scripts/setup installs it)"
LDIRECTORD="$(command -v ldirectord)"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
LD_DIR="$RUN_DIR/ldirectord"
LD_CF="$LD_DIR/ldirectord-$RUN.cf"     # its name keys ldirectord's /var/run pid path: unique
LD_LOG="$LOG_DIR/ldirectord.log"
CHECK_SECS=20                         # ldirectord: checkinterval 1, checktimeout 1

topo_nat
ns_exec d ip addr add 198.18.1.2/24 dev d-in
ns_exec d ethtool -K d-in tx off >/dev/null 2>&1 || true
BASE_CONFIG="$(cat "$NAT_CONFIG")"

# rvs's own file: one service on VIP:PORT to both real servers' :80.
write_config() {   # PORT
  cat >"$NAT_CONFIG" <<CFG
$BASE_CONFIG

[[service]]
tcp = "$VIP:$1"
scheduler = "rr"
[[service.real]]
address = "$RS1:80"
method = "masq"
[[service.real]]
address = "$RS2:80"
method = "masq"
CFG
}
write_config 81
start_rvs "$NAT_CONFIG"

# ldirectord.cf as an operator writes it (README.md, "ldirectord on rvs").
mkdir -p "$LD_DIR"
cat >"$LD_CF" <<CF
checktimeout=1
checkinterval=1
autoreload=no
logfile="$LD_DIR/ldirectord.file.log"

virtual=$VIP:80
	real=$RS1:80 masq 1
	real=$RS2:80 masq 1
	service=http
	scheduler=rr
	protocol=tcp
	checktype=negotiate
	request="index.html"
	receive="rs"
	quiescent=no

virtual=$VIP:8080
	real=$RS1:8080 masq 1
	real=$RS2:8080 masq 1
	service=http
	scheduler=rr
	protocol=tcp
	checktype=negotiate
	request="index.html"
	receive="rs"
	quiescent=yes
CF
ln -s "$RVSADM_BIN" "$LD_DIR/ipvsadm"
[ -f "$LD_DIR/ipvsadm" ] || die "$LD_DIR/ipvsadm does not lead to rvsadm"
bg d ldirectord env -C "$LD_DIR" RVS_SOCKET="$RVS_SOCK" "$LDIRECTORD" -d "$LD_CF" start
LD_PID=$BG_PID
log "ldirectord started (pid $LD_PID) in $LD_DIR with ./ipvsadm -> $RVSADM_BIN"

kill_http() {   # NS PORT: stop that namespace's http.server on PORT (its pid only)
  local ns p; ns="$(ns_full "$1")"
  for p in $(ip netns pids "$ns"); do
    if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "http.server $2 "; then kill "$p" 2>/dev/null || true; fi
  done
}
service_of() { rvsadm -Ln -t "$VIP:$1" 2>/dev/null; }
# "ADDR:PORT WEIGHT" of each real server of VIP:PORT, sorted.
servers_of() { service_of "$1" | awk '$1 == "->" && $2 != "RemoteAddress:Port" {print $2, $4}' | sort; }
# who answered COUNT requests to VIP:PORT: "rs1=N rs2=N other=N"
spread() {   # PORT COUNT
  local out; out="$(curl_many c "$2" "http://$VIP:$1/")"
  printf 'rs1=%s rs2=%s other=%s' "$(count_lines "$out" rs1)" "$(count_lines "$out" rs2)" \
    "$(printf '%s\n' "$out" | grep -cvx 'rs1\|rs2\|rs1-8080\|rs2-8080' || true)"
}
spread8080() {
  local out; out="$(curl_many c "$1" "http://$VIP:8080/")"
  printf 'rs1=%s rs2=%s other=%s' "$(count_lines "$out" rs1-8080)" "$(count_lines "$out" rs2-8080)" \
    "$(printf '%s\n' "$out" | grep -cvx 'rs1-8080\|rs2-8080' || true)"
}
BOTH80="$RS1:80 1
$RS2:80 1"
BOTH8080="$RS1:8080 1
$RS2:8080 1"
# After rs2 fails: :80 without it (quiescent=no), :8080 with it at weight 0 (quiescent=yes).
DEAD80="$RS1:80 1"
DEAD8080="$RS1:8080 1
$RS2:8080 0"

case_a_ldirectord_adds_its_rules() {
  wait_until "$CHECK_SECS" eval '[ "$(servers_of 80)" = "$BOTH80" ] && [ "$(servers_of 8080)" = "$BOTH8080" ]' || {
    rvsadm -Ln >&2; tail -n 30 "$LD_LOG" >&2; warn "ldirectord's services never appeared"; return 1; }
  log "rvs's table with ldirectord's services:"; rvsadm -Ln | sed 's/^/    /'
  assert_contains "$(cat "$LD_LOG")" "Running system(./ipvsadm -A -t $VIP:80" "ldirectord ran ./ipvsadm, rvsadm"
  assert_not_contains "$(cat "$LD_LOG")" "/sbin/ipvsadm" "never the host's ipvsadm"
  assert_contains "$(service_of 80)" "TCP  $VIP:80 rr" "ldirectord's scheduler"
  local s; s="$(spread 80 10)"; log ":80, both servers up: $s"
  assert_eq "rs1=5 rs2=5 other=0" "$s" "rr over both"
}

case_b_dead_server_leaves() {
  kill_http rs2 80; kill_http rs2 8080
  local t0=$SECONDS
  wait_until "$CHECK_SECS" eval '[ "$(servers_of 80)" = "$DEAD80" ] && [ "$(servers_of 8080)" = "$DEAD8080" ]' || {
    rvsadm -Ln >&2; tail -n 30 "$LD_LOG" >&2; warn "ldirectord did not take rs2 out"; return 1; }
  log "rs2 out within $((SECONDS - t0)) s: :80 deleted (quiescent=no), :8080 weight 0 (quiescent=yes)"
  local s; s="$(spread 80 6)"; log ":80, rs2 stopped: $s"
  assert_eq "rs1=6 rs2=0 other=0" "$s" "traffic goes to rs1"
  s="$(spread8080 6)"; log ":8080, rs2 quiesced: $s"
  assert_eq "rs1=6 rs2=0 other=0" "$s" "new connections avoid the weight-0 server"
}

# What a reload must keep: ldirectord's two services as ldirectord left them, and traffic.
ldirectords_rules_kept() {
  assert_eq "$DEAD80" "$(servers_of 80)" "ldirectord's :80 as it left it"
  assert_eq "$DEAD8080" "$(servers_of 8080)" "ldirectord's :8080 as it left it"
  local s; s="$(spread 80 6)"; log ":80 after the reload: $s"
  assert_eq "rs1=6 rs2=0 other=0" "$s" "traffic flows to ldirectord's live server"
  s="$(spread8080 4)"; log ":8080 after the reload: $s"
  assert_eq "rs1=4 rs2=0 other=0" "$s" "traffic flows on :8080"
}

case_c_sighup_keeps_ldirectords_rules() {
  write_config 82
  local before; before="$(grep -c 'reload:' "$RVS_LOG" || true)"
  kill -HUP "$RVS_PID"
  wait_until 10 eval '[ "$(grep -c "reload:" "$RVS_LOG")" -gt '"$before"' ]' || { warn "no reload logged"; return 1; }
  log "after SIGHUP (file: :81 -> :82):"; rvsadm -Ln | sed 's/^/    /'
  assert_eq "" "$(service_of 81)" "the file's old service :81 removed"
  assert_contains "$(service_of 82)" "TCP  $VIP:82 rr" "the file's new service :82 added"
  assert_eq "$RS1:80 1
$RS2:80 1" "$(servers_of 82)" "the file's servers on :82"
  ldirectords_rules_kept
}

case_d_rvsadm_reload_keeps_ldirectords_rules() {
  write_config 81
  assert_contains "$(rvsadm --reload)" "applied" "rvsadm --reload"
  log "after rvsadm --reload (file: :82 -> :81):"; rvsadm -Ln | sed 's/^/    /'
  assert_eq "" "$(service_of 82)" "the file's old service :82 removed"
  assert_contains "$(service_of 81)" "TCP  $VIP:81 rr" "the file's service :81 back"
  ldirectords_rules_kept
}

case_e_ldirectord_still_drives_rvs() {
  start_http rs2 80 rs2; start_http rs2 8080 rs2-8080
  local t0=$SECONDS
  wait_until "$CHECK_SECS" eval '[ "$(servers_of 80)" = "$BOTH80" ] && [ "$(servers_of 8080)" = "$BOTH8080" ]' || {
    rvsadm -Ln >&2; tail -n 30 "$LD_LOG" >&2; warn "ldirectord did not put rs2 back"; return 1; }
  log "rs2 back within $((SECONDS - t0)) s (re-added on :80, weight 1 on :8080)"
  local s; s="$(spread 80 10)"; log ":80, rs2 back: $s"
  assert_eq "rs1=5 rs2=5 other=0" "$s" "rr over both again"
}

case_f_bad_file_refused() {
  local before rc=0 out; before="$(rvsadm -Ln)"
  printf 'this is not = toml [\n' >>"$NAT_CONFIG"
  out="$(rvsadm --reload 2>&1)" || rc=$?
  assert_eq 1 "$rc" "exit status of a refused reload"
  assert_contains "$out" "reload refused" "the refusal says so"
  assert_eq "$before" "$(rvsadm -Ln)" "rules unchanged after a refused reload"
  write_config 81
}

run_case "a. ldirectord adds its services and real servers to rvs (./ipvsadm is rvsadm)" case_a_ldirectord_adds_its_rules
run_case "b. a stopped server: deleted (quiescent=no), weight 0 (quiescent=yes); traffic to the other" case_b_dead_server_leaves
run_case "c. SIGHUP with the file's service changed keeps ldirectord's rules; traffic flows" case_c_sighup_keeps_ldirectords_rules
run_case "d. rvsadm --reload likewise" case_d_rvsadm_reload_keeps_ldirectords_rules
run_case "e. after the reloads ldirectord still drives rvs: rs2 back in" case_e_ldirectord_still_drives_rvs
run_case "f. a bad file is refused and nothing changes" case_f_bad_file_refused
if pid_alive "$LD_PID"; then pass "ldirectord ran throughout"; else fail "ldirectord ran throughout" "it exited"; fi
kill -TERM "$LD_PID" 2>/dev/null || true
wait_until 10 eval "! pid_alive $LD_PID" || true
if stop_rvs; then pass "SIGTERM: clean stop"; else fail "SIGTERM: clean stop"; fi
finish
