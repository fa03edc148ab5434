#!/usr/bin/env bash
# tests/e2e/test_service.sh: rvs as a systemd service, without systemd (it is not PID 1 here):
# the readiness protocol, the journal's native protocol, the unit's capability set, its
# text, and the scripts that must never stop the host's services. The NAT lab
# (tests/e2e/topo_nat.sh).
# Cases: a. READY=1 comes once, only when both XDP programs are attached and the admin socket
# answers (tests/e2e/notify_listen.py stands in for systemd's notification socket);
# b. SIGHUP: RELOADING=1 (with MONOTONIC_USEC) then READY=1; c. SIGTERM: STOPPING=1, exit 0;
# d. a start that fails sends no READY=1; e. a normal start's stderr is rvs's lines only
# ("LEVEL rvs: ..."), none a warning, no raw libbpf/libxdp line, libxdp's expected
# complaints at debug; f. with JOURNAL_STREAM naming its stderr (f2: or [log] target =
# "journald"), rvs writes the journal's native protocol (tests/e2e/journal_listen.py bound
# where /run/systemd/journal/socket is inside an `unshare -m` of rvs's own: the host's
# /run/systemd is never touched), and stderr, with a warning, where no journal answers: priorities,
# SYSLOG_IDENTIFIER and fields; g. rvs started with only the unit's CapabilityBoundingSet
# (setpriv) comes up and forwards, and without each of those capabilities it cannot start;
# h. `systemd-analyze verify` accepts the unit; i. scripts/setup and scripts/demo stop,
# disable or kill no service.
# rvs is this shell's child (`wait` needs that): starts and stops run at top level.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
UNIT="$REPO_DIR/scripts/rvs.service"
NOTIFY_SOCK="$RUN_DIR/notify.sock"
NOTIFY_OUT="$LOG_DIR/notify.out"
LEVELS='^(ERROR|WARN |INFO |DEBUG|TRACE) rvs: '

topo_nat

# start_rvs_with LOGNAME CMD...: rvs in the director namespace behind CMD (env, setpriv,
# unshare...; each execs the next, so $! is rvs), stderr and stdout to $LOG_DIR/LOGNAME.log.
start_rvs_with() {
  local name="$1"; shift
  RVS_LOG="$LOG_DIR/$name.log"
  : >"$RVS_LOG"
  rm -f "$RVS_SOCK"
  ip netns exec "$NS_D" "$@" "$RVS_BIN" --config "$NAT_CONFIG" >>"$RVS_LOG" 2>&1 </dev/null &
  RVS_PID=$!
  PIDS+=("$RVS_PID")
  RVS_NS="$NS_D"
}
# up: rvs answers rvsadm within 20 s (else its log, and false)
up() {
  wait_until 20 eval "rvsadm -Ln >/dev/null 2>&1" && return 0
  warn "rvs did not answer within 20 s; its log:"; sed 's/^/    rvs| /' "$RVS_LOG" >&2
  return 1
}
# exits_within SECS: rvs ended (by itself) within SECS; its status in EXIT_RC.
exits_within() {
  wait_until "$1" eval "! pid_alive $RVS_PID" || { kill -KILL "$RVS_PID"; wait "$RVS_PID" 2>/dev/null || true; RVS_PID=""; return 1; }
  EXIT_RC=0; wait "$RVS_PID" || EXIT_RC=$?
  RVS_PID=""
}
notified() { grep -c "$1" "$NOTIFY_OUT" || true; }

# ------------------------------------------------------------------------ a-c: readiness
python3 "$E2E_DIR/notify_listen.py" "$NOTIFY_SOCK" "$NOTIFY_OUT" 100 "$NS_D" "$RVS_SOCK" "$RVSADM_BIN" &
PIDS+=("$!")
wait_until 5 grep -q listening "$NOTIFY_OUT" 2>/dev/null || die "notify_listen.py did not start"
start_rvs_with rvs-notify env NOTIFY_SOCKET="$NOTIFY_SOCK"
up || die "rvs did not start"
case_a_ready_after_the_rings() {
  wait_until 10 grep -q 'READY=1' "$NOTIFY_OUT" || { warn "no READY=1"; cat "$NOTIFY_OUT" >&2; return 1; }
  local ready; ready="$(grep 'READY=1' "$NOTIFY_OUT")"
  log "  $ready"
  assert_eq 1 "$(printf '%s\n' "$ready" | wc -l)" "one READY=1 for one start"
  assert_match "$ready" ' xdp=2 counters=0$' "when READY=1 arrived, both XDP programs were attached and rvsadm --counters answered"
  assert_match "$ready" 'STATUS=director running' "a STATUS line with it"
  assert_eq "" "$(sed -n '2,/READY=1/p' "$NOTIFY_OUT" | grep -v 'READY=1' || true)" "nothing before READY=1"
}
run_case "a. READY=1 once, after XDP is attached and the admin socket answers" case_a_ready_after_the_rings

kill -HUP "$RVS_PID"
case_b_reload() {
  wait_until 10 eval '[ "$(notified READY=1)" -ge 2 ]' || { warn "no READY=1 after the reload"; cat "$NOTIFY_OUT" >&2; return 1; }
  local after; after="$(sed -n '/READY=1/,$p' "$NOTIFY_OUT" | tail -n +2)"
  log "  $(printf '%s\n' "$after" | cut -d' ' -f2 | tr '\n' ' ')"
  assert_match "$(printf '%s\n' "$after" | sed -n 1p)" 'RELOADING=1;MONOTONIC_USEC=[0-9]+' "RELOADING=1 first"
  assert_match "$(printf '%s\n' "$after" | sed -n 2p)" 'READY=1;STATUS=director running; configuration reloaded' "then READY=1"
}
run_case "b. SIGHUP: RELOADING=1, then READY=1" case_b_reload

kill -TERM "$RVS_PID"
exits_within 10 || true
case_c_stopping() {
  assert_eq 0 "${EXIT_RC:-none}" "rvs exited 0 after SIGTERM"
  assert_match "$(tail -n1 "$NOTIFY_OUT")" 'STOPPING=1' "STOPPING=1 last"
}
run_case "c. SIGTERM: STOPPING=1, exit 0" case_c_stopping

# ------------------------------------------------------------------------ d: a failed start
GOOD_CONFIG="$NAT_CONFIG"
NAT_CONFIG="$RUN_DIR/rvs-missing.toml"
{ rvs_conf_admin "$RVS_SOCK"; rvs_conf_iface d-nowhere 198.18.0.1/24; } >"$NAT_CONFIG"
before="$(grep -c . "$NOTIFY_OUT")"
start_rvs_with rvs-failed env NOTIFY_SOCKET="$NOTIFY_SOCK"
exits_within 20 || true
NAT_CONFIG="$GOOD_CONFIG"
case_d_failed_start() {
  assert_true "rvs exited non-zero" [ "${EXIT_RC:-0}" != 0 ]
  sleep 0.5
  assert_eq "" "$(tail -n +"$((before + 1))" "$NOTIFY_OUT")" "no notification from a start that failed"
  log "  exit $EXIT_RC: $(grep -m1 ERROR "$RVS_LOG")"
}
run_case "d. a start that fails: no READY=1" case_d_failed_start

# ------------------------------------------------------------------------ e: stderr
start_rvs_with rvs-plain env
up || die "rvs did not start"
stop_rvs || warn "rvs did not stop cleanly"
PLAIN_LOG="$RVS_LOG"
start_rvs_with rvs-debug env RVS_LOG=debug
up || die "rvs did not start"
stop_rvs || warn "rvs did not stop cleanly"
case_e_stderr() {
  local raw warned
  raw="$(grep -Ev "$LEVELS" "$PLAIN_LOG" || true)"
  assert_eq "" "$raw" "every stderr line is one of rvs's ('LEVEL rvs: ...'), none raw from libbpf or libxdp"
  warned="$(grep -E '^(ERROR|WARN )' "$PLAIN_LOG" || true)"
  assert_eq "" "$warned" "a normal start warns of nothing"
  assert_not_contains "$(cat "$PLAIN_LOG")" "permission error" "libbpf's dispatcher complaint not shown at info"
  assert_contains "$(cat "$PLAIN_LOG")" "INFO  rvs: stage 1: ownership locks started" "info lines"
  assert_eq "" "$(grep -Ev "$LEVELS" "$RVS_LOG" || true)" "at debug too, only rvs's lines"
  local lib; lib="$(grep -E 'rvs: (libbpf|libxdp): ' "$RVS_LOG" || true)"
  log "  at RVS_LOG=debug, $(printf '%s' "$lib" | grep -c . || true) libbpf/libxdp lines, e.g. $(printf '%s\n' "$lib" | grep -m1 'permission error' || printf '%s\n' "$lib" | head -n1)"
  assert_eq "" "$(printf '%s\n' "$lib" | grep -Ev '^(DEBUG|TRACE) ' || true)" "their messages of a start that worked are debug"
}
run_case "e. a normal start's stderr: rvs's lines only, libbpf's at debug" case_e_stderr

# ------------------------------------------------------------------------ f: the journal
FAKE_SYSTEMD="$RUN_DIR/fake-systemd"
mkdir -p "$FAKE_SYSTEMD/journal"
JOURNAL_OUT="$LOG_DIR/journal.jsonl"
python3 "$E2E_DIR/journal_listen.py" "$FAKE_SYSTEMD/journal/socket" "$JOURNAL_OUT" 60 &
PIDS+=("$!")
wait_until 5 test -S "$FAKE_SYSTEMD/journal/socket" || die "journal_listen.py did not start"
RVS_LOG="$LOG_DIR/rvs-journal.log"
: >"$RVS_LOG"
# What systemd sets when stderr is its journal stream: the device and inode of that stream.
STREAM="$(stat -c '%d:%i' "$RVS_LOG")"
# shellcheck disable=SC2016  # expanded by the inner shell
start_rvs_with rvs-journal env JOURNAL_STREAM="$STREAM" \
  unshare -m sh -c 'mount --bind "$0" /run/systemd && exec "$@"' "$FAKE_SYSTEMD"
up || die "rvs did not start"
cp "$NAT_CONFIG" "$RUN_DIR/nat.good"
printf '[log]\nlevel = "loud"\n' >>"$NAT_CONFIG"
rvsadm --reload >/dev/null 2>&1 || true
cp "$RUN_DIR/nat.good" "$NAT_CONFIG"
stop_rvs || warn "rvs did not stop cleanly"
case_f_journal() {
  local entry
  entry() { python3 - "$JOURNAL_OUT" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if sys.argv[2] in e.get("MESSAGE", ""):
        print(" ".join(f"{k}={e[k]}" for k in sorted(e) if k in ("PRIORITY", "SYSLOG_IDENTIFIER", "STAGE", "INTERFACE", "QUEUE", "MESSAGE")))
        break
PY
  }
  log "  $(grep -c . "$JOURNAL_OUT") journal entries"
  assert_eq "" "$(grep -F '"_BAD"' "$JOURNAL_OUT" || true)" "every entry decodes"
  local e
  e="$(entry 'stage 1: ownership locks started')"; log "  $e"
  assert_match "$e" '^MESSAGE=stage 1: ownership locks started PRIORITY=5 STAGE=ownership locks SYSLOG_IDENTIFIER=rvs$' "info: priority 5, the stage as a field"
  e="$(entry 'd-out: rvs XDP program attached')"; log "  $e"
  assert_match "$e" '^INTERFACE=d-out MESSAGE=.* PRIORITY=5 ' "the interface as a field"
  e="$(entry 'd-in queue 0: AF_XDP socket bound')"; log "  $e"
  assert_match "$e" '^INTERFACE=d-in MESSAGE=.* PRIORITY=5 QUEUE=0 ' "interface and queue"
  e="$(entry 'reload refused')"; log "  $e"
  assert_match "$e" "log.level: 'loud' is not one of.* PRIORITY=4 SYSLOG_IDENTIFIER=rvs$" "a refused reload: a warning, priority 4"
  assert_contains "$(entry 'stopped; XDP detached')" "PRIORITY=5" "the stop"
  assert_eq "" "$(grep 'rvs: ' "$RVS_LOG" || true)" "nothing on stderr: the journal got it all"
}
run_case "f. JOURNAL_STREAM: the journal's native protocol, priorities and fields" case_f_journal

# [log] target = "journald" without JOURNAL_STREAM: the journal when it answers, else stderr.
JOURNALD_CONFIG="$RUN_DIR/rvs-journald.toml"
{ cat "$GOOD_CONFIG"; printf '\n[log]\ntarget = "journald"\n'; } >"$JOURNALD_CONFIG"
NAT_CONFIG="$JOURNALD_CONFIG"
before="$(grep -c . "$JOURNAL_OUT")"
# shellcheck disable=SC2016  # expanded by the inner shell
start_rvs_with rvs-journald env -u JOURNAL_STREAM \
  unshare -m sh -c 'mount --bind "$0" /run/systemd && exec "$@"' "$FAKE_SYSTEMD"
up || die "rvs did not start"
stop_rvs || warn "rvs did not stop cleanly"
JOURNALD_LOG="$RVS_LOG"
# No journal socket at all (this host has none): stderr, saying so.
start_rvs_with rvs-no-journal env -u JOURNAL_STREAM
up || die "rvs did not start"
stop_rvs || warn "rvs did not stop cleanly"
NAT_CONFIG="$GOOD_CONFIG"
case_f2_target_journald() {
  local new; new="$(tail -n +"$((before + 1))" "$JOURNAL_OUT")"
  log "  target = \"journald\": $(printf '%s\n' "$new" | grep -c .) entries, stderr $(grep -c . "$JOURNALD_LOG" || true) lines"
  assert_contains "$new" '"MESSAGE": "stage 1: ownership locks started"' "the journal got the start"
  assert_eq "" "$(grep 'rvs: ' "$JOURNALD_LOG" || true)" "nothing on stderr"
  if [ -S /run/systemd/journal/socket ]; then log "  this host has a journal: the fallback is not tried"; return 0; fi
  log "  without a journal: $(head -n1 "$RVS_LOG")"
  assert_match "$(head -n1 "$RVS_LOG")" "^WARN  rvs: the journal's socket does not answer \\(.*\\): logging to stderr$" "said once, first"
  assert_contains "$(cat "$RVS_LOG")" "INFO  rvs: stage 1: ownership locks started" "then stderr lines"
}
run_case "f2. [log] target = \"journald\": the journal, or stderr with a warning when there is none" case_f2_target_journald

# ------------------------------------------------------------------------ g: capabilities
CAPS="$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")"
# As the unit, but for LimitMEMLOCK=infinity: this machine's hard limit is 8 MiB and root here
# lacks CAP_SYS_RESOURCE to raise it, so these starts use a UMEM that fits (256 frames a
# socket, 2 MiB in all) and show what the limit does to the default one (32 MiB).
as_unit() {   # SETPRIV-CAP-LIST: the wrapper
  printf '%s\n' setpriv --bounding-set "$1" --inh-caps -all
}
setpriv_caps() {   # CAP...: setpriv's list (-all,+net_admin,...)
  local c list="-all"
  for c in "$@"; do c="${c#CAP_}"; list="$list,+${c,,}"; done
  printf '%s\n' "$list"
}
# shellcheck disable=SC2086  # the unit's list, word by word
SET="$(setpriv_caps $CAPS)"
mapfile -t WRAP < <(as_unit "$SET")
if [ "$(ulimit -l)" != unlimited ] && [ "$(ulimit -l)" -lt 32768 ]; then
  start_rvs_with rvs-caps-32M "${WRAP[@]}"
  exits_within 20 || true
  case_g_memlock() {
    assert_true "rvs refused to start" [ "${EXIT_RC:-0}" != 0 ]
    assert_contains "$(cat "$RVS_LOG")" "creating UMEM" "the UMEM could not be locked"
    log "  memlock $(ulimit -l) KiB, no CAP_IPC_LOCK, UMEM of 8192 frames: $(grep -m1 ERROR "$RVS_LOG" | cut -c1-120)"
  }
  run_case "g. a 32 MiB UMEM over an 8 MiB RLIMIT_MEMLOCK without CAP_IPC_LOCK: refused (the unit's LimitMEMLOCK=infinity)" case_g_memlock
fi
CAPS_CONFIG="$RUN_DIR/rvs-caps.toml"
sed 's/^\[dataplane\]$/[dataplane]\nframes = 256/' "$GOOD_CONFIG" >"$CAPS_CONFIG"
NAT_CONFIG="$CAPS_CONFIG"
start_rvs_with rvs-caps "${WRAP[@]}"
up || die "rvs did not start with the unit's capabilities ($CAPS)"
case_g_caps() {
  log "  unit: $CAPS; rvs's effective set: $(grep CapEff "/proc/$RVS_PID/status" | awk '{print $2}') ($(capsh --decode="$(grep CapEff "/proc/$RVS_PID/status" | awk '{print $2}')" | cut -d= -f2))"
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$NAT_RS1:80" -m
  rvsadm -a -t "$VIP:80" -r "$NAT_RS2:80" -m
  local out; out="$(curl_many c 4 "http://$VIP/")"
  assert_eq 2 "$(count_lines "$out" rs1)" "requests answered by rs1"
  assert_eq 2 "$(count_lines "$out" rs2)" "requests answered by rs2"
}
run_case "g. with only the unit's capabilities ($CAPS): up, forwarding" case_g_caps
if stop_rvs; then pass "g. with only the unit's capabilities: SIGTERM detaches XDP, exit 0"
else fail "g. with only the unit's capabilities: SIGTERM detaches XDP, exit 0"; fi
# shellcheck disable=SC2086
for drop in $CAPS; do
  [ "$drop" = CAP_CHOWN ] && continue   # needed only with [admin] group: below
  rest=()
  for c in $CAPS; do [ "$c" = "$drop" ] || rest+=("$c"); done
  mapfile -t WRAP < <(as_unit "$(setpriv_caps "${rest[@]}")")
  start_rvs_with "rvs-no-$drop" "${WRAP[@]}"
  exits_within 20 || true
  case_g_without() {
    assert_true "rvs refused to start without $drop" [ "${EXIT_RC:-0}" != 0 ]
    log "  without $drop: exit $EXIT_RC: $(grep -m1 'ERROR' "$RVS_LOG" | cut -c1-150)"
  }
  run_case "g. without $drop rvs cannot start" case_g_without
done
# CAP_BPF instead of CAP_SYS_ADMIN: rvs runs, but cannot detach its program.
rest=(CAP_BPF)
# shellcheck disable=SC2086
for c in $CAPS; do [ "$c" = CAP_SYS_ADMIN ] || rest+=("$c"); done
mapfile -t WRAP < <(as_unit "$(setpriv_caps "${rest[@]}")")
start_rvs_with rvs-bpf-not-sys-admin "${WRAP[@]}"
up || die "rvs did not start with CAP_BPF instead of CAP_SYS_ADMIN"
kill -TERM "$RVS_PID"
exits_within 10 || true
case_g_no_sys_admin() {
  local ids; ids="$(xdp_ids)"
  log "  ${rest[*]}: exit ${EXIT_RC:-?}, XDP program ids after the stop (d-out d-in): $ids"
  assert_match "$ids" '^[0-9]+ [0-9]+ $' "both programs left attached: libxdp could not look them up to detach them"
  assert_contains "$(cat "$RVS_LOG")" "ERROR rvs: d-out: XDP program NOT detached" "and rvs says so (libxdp: ENOENT, the id lookup was refused)"
}
run_case "g. CAP_BPF instead of CAP_SYS_ADMIN: up, but SIGTERM leaves XDP attached" case_g_no_sys_admin
ip -n "$NS_D" link set dev d-out xdp off 2>/dev/null || true
ip -n "$NS_D" link set dev d-in xdp off 2>/dev/null || true

# CAP_CHOWN: the admin socket goes to [admin] group.
GROUP_CONFIG="$RUN_DIR/rvs-group.toml"
sed 's/^\[admin\]$/[admin]\ngroup = "nogroup"/' "$CAPS_CONFIG" >"$GROUP_CONFIG"
NAT_CONFIG="$GROUP_CONFIG"
rest=()
# shellcheck disable=SC2086
for c in $CAPS; do [ "$c" = CAP_CHOWN ] || rest+=("$c"); done
mapfile -t WRAP < <(as_unit "$(setpriv_caps "${rest[@]}")")
start_rvs_with rvs-no-CAP_CHOWN "${WRAP[@]}"
exits_within 20 || true
case_g_no_chown() {
  assert_true "rvs refused to start" [ "${EXIT_RC:-0}" != 0 ]
  log "  without CAP_CHOWN, [admin] group = nogroup: exit $EXIT_RC: $(grep -m1 'ERROR' "$RVS_LOG" | cut -c1-150)"
}
run_case "g. without CAP_CHOWN an [admin] group cannot be given the socket" case_g_no_chown
mapfile -t WRAP < <(as_unit "$SET")
start_rvs_with rvs-group-caps "${WRAP[@]}"
up || die "rvs did not start with the unit's capabilities and [admin] group"
case_g_group() {
  assert_eq "660 root nogroup" "$(stat -c '%a %U %G' "$RVS_SOCK")" "the socket is the group's"
}
run_case "g. with the unit's capabilities, [admin] group = nogroup: the socket is 0660 root:nogroup" case_g_group
stop_rvs || warn "rvs did not stop cleanly"
NAT_CONFIG="$GOOD_CONFIG"

# ------------------------------------------------------------------------ h: the unit's text
case_h_verify() {
  command -v systemd-analyze >/dev/null || { log "  no systemd-analyze here: skipped"; return 0; }
  # The unit as scripts/install writes it, naming this tree's binaries (verify checks that
  # ExecStart's program exists).
  local unit="$RUN_DIR/unit/rvs.service" out rc=0
  mkdir -p "$RUN_DIR/unit"
  sed "s#/usr/local/sbin/#$(dirname "$RVS_BIN")/#g" "$UNIT" >"$unit"
  out="$(systemd-analyze verify "$unit" 2>&1)" || rc=$?
  # Other units of this host may draw warnings; none may be about rvs.service.
  assert_eq 0 "$rc" "systemd-analyze verify exit status"
  assert_eq "" "$(printf '%s\n' "$out" | grep 'rvs.service' || true)" "no complaint about rvs.service"
  out="$(systemd-analyze security --offline=true "$unit" 2>/dev/null | grep 'Overall exposure')"
  log "  $out"
  assert_match "$out" 'exposure level for rvs.service: [0-3]\.[0-9] ' "exposure 3.9 or less"
  assert_match "$(grep '^Type=' "$UNIT")" '^Type=notify$' "Type=notify"
}
run_case "h. systemd-analyze verify and security --offline accept the unit" case_h_verify

# ------------------------------------------------------------------------ i: host services
case_i_scripts_leave_services_alone() {
  local f hits
  for f in "$REPO_DIR/scripts/setup" "$REPO_DIR/scripts/demo"; do
    # Comments aside, any command that stops, disables or masks a host service, or ends
    # processes by name (the pattern is assembled so this checker is not itself a match).
    local by_name="\\b(p""kill|kill""all)\\b"
    hits="$(grep -nE "systemctl[^#]*\\b(stop|disable|kill|mask|restart|isolate)\\b|\\bservice +[^ ]+ +(stop|restart)\\b|invoke-rc\\.d|$by_name" "$f" \
      | grep -vE '^[0-9]+:[[:space:]]*#' || true)"
    assert_eq "" "$hits" "$(basename "$f") stops, disables or kills no service"
  done
  # Package installs run with a policy-rc.d that forbids starting and stopping services.
  assert_contains "$(cat "$REPO_DIR/scripts/setup")" "policy-rc.d" "scripts/setup installs packages under a policy-rc.d"
}
run_case "i. scripts/setup and scripts/demo stop, disable or kill no service" case_i_scripts_leave_services_alone

finish
