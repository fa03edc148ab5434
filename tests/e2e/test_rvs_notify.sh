#!/usr/bin/env bash
# tests/e2e/test_rvs_notify.sh: the shipped keepalived notify script scripts/ha/rvs-notify on its
# own, against tests/e2e/ha/fake_rvsadm.sh (no namespaces: test_ha.sh and test_vrrp.sh run it
# under the real keepalived).
#
#   fifo    keepalived's vrrp_notify_fifo: states applied in the order written, even when each
#           takes a while; GROUP lines and other instances ignored; end of file while
#           keepalived (the parent) lives: the role is left as it is
#   reload  SIGTERM while keepalived lives (its reload): an rvsadm call in progress is not cut
#           short, the role stays, exit 0
#   stop    SIGTERM, then the STOP line keepalived writes on its way out: BACKUP
#   died    keepalived (the parent) gone, then SIGTERM (the kernel's, for a killed keepalived):
#           BACKUP
#   calls   one call per state: overlapping calls end in the newest state whatever order they
#           get the lock in; the daemon answers it must tolerate; a real failure is reported
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

NOTIFY_BIN="$REPO_DIR/scripts/ha/rvs-notify"
FAKE="$E2E_DIR/ha/fake_rvsadm.sh"

# unit DIR ARGS...: rvs-notify with the fake rvsadm, its state and log in DIR.
unit() {
  local dir="$1"; shift
  FAKE_RVSADM_LOG="$dir/calls" "$NOTIFY_BIN" --rvsadm "$FAKE" --socket /nonexistent \
    --interface eth0 --syncid 7 --state "$dir/state" --log "$dir/log" "$@"
}
fresh_dir() { local d="$RUN_DIR/$1"; mkdir -p "$d"; : >"$d/calls"; printf '%s\n' "$d"; }
show() { sed 's/^/    log| /' "$1/log"; sed 's/^/    rvsadm| /' "$1/calls"; }
roles() { grep -- '^--role' "$1/calls" | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//'; }

# start_fifo DIR [ROLE_SECS]: rvs-notify reading DIR/fifo, as keepalived starts it (the test's
# shell is its parent, standing for keepalived); fd 7 is the writing end.  Sets PID.
start_fifo() {
  local dir="$1"
  mkfifo "$dir/fifo"
  # (A simple command, so that $! is rvs-notify itself, not a subshell.)
  FAKE_RVSADM_LOG="$dir/calls" FAKE_RVSADM_ROLE_SECS="${2:-0}" "$NOTIFY_BIN" --rvsadm "$FAKE" \
    --socket /nonexistent --interface eth0 --syncid 7 --state "$dir/state" --log "$dir/log" \
    --instance rvs_pair "$dir/fifo" & PID=$!
  # Opened read-write: never blocks, even if rvs-notify is gone.
  exec 7<>"$dir/fifo"
}
# ended PID: waits for rvs-notify to exit by itself (5 s); its status in RC.
ended() {
  RC=0
  wait_until 5 eval "! pid_alive $1" || { warn "rvs-notify $1 still runs"; kill -KILL "$1"; }
  wait "$1" || RC=$?
}
instance_line() { printf 'INSTANCE "rvs_pair" %s 150\n' "$1" >&7; }
applied_roles() {
  wait_until 5 eval "[ \"\$(grep -c -- '^--role' '$1/calls')\" = $2 ]" || warn "not $2 roles applied"
}

case_fifo() {
  local dir; dir="$(fresh_dir fifo)"
  start_fifo "$dir" 0.2
  # keepalived's lines, as its vrrp_notify_fifo writes them, faster than they are applied.
  instance_line BACKUP; instance_line MASTER
  printf '%s\n' 'GROUP "pair_group" BACKUP' 'INSTANCE "other" BACKUP 100' >&7
  instance_line BACKUP; instance_line MASTER
  applied_roles "$dir" 4
  # End of file ends nothing (keepalived holds its end open while it runs; a writing end can
  # outlive it): SIGTERM, as keepalived's stop or reload sends, ends the script.
  exec 7>&-
  sleep 0.7
  pid_alive "$PID" || { warn "rvs-notify ended at end of file"; return 1; }
  kill -TERM "$PID"
  ended "$PID"
  assert_eq 0 "$RC" "exit status after SIGTERM"
  show "$dir"
  assert_eq "backup master backup master" "$(roles "$dir")" "roles in keepalived's order; none at end of file"
  assert_eq "--start-daemon master --mcast-interface eth0 --syncid 7" "$(tail -n1 "$dir/calls")" \
    "the last daemon started: master"
  assert_eq MASTER "$(awk '{print $1}' "$dir/state")" "recorded state"
  assert_contains "$(cat "$dir/log")" "ignored: GROUP pair_group BACKUP" "GROUP line ignored"
  assert_contains "$(cat "$dir/log")" "ignored: INSTANCE other BACKUP" "another instance ignored"
  assert_contains "$(cat "$dir/log")" "runs on: role left as it is" "SIGTERM with keepalived alive logged"
}

# A line that arrives across the end of a timed-out read (the poll's 0.5 s): bash keeps
# what such a read took in its variables and reports the timeout, so the line's first bytes
# were lost and the rest ignored ("ignored: NSTANCE rvs_pair BACKUP", seen in a full run's
# test_ha d, where d2 never applied BACKUP). Split here on purpose, 1.2 s apart.
case_split() {
  local dir; dir="$(fresh_dir split)"
  start_fifo "$dir" 0
  printf 'IN' >&7
  sleep 1.2
  printf 'STANCE "rvs_pair" MASTER 150\n' >&7
  applied_roles "$dir" 1
  kill -TERM "$PID"
  ended "$PID"
  exec 7>&-
  show "$dir"
  assert_eq "master" "$(roles "$dir")" "the split line applied"
  assert_not_contains "$(cat "$dir/log")" "ignored" "no part of the line ignored"
}

case_reload() {
  local dir; dir="$(fresh_dir reload)"
  start_fifo "$dir" 0.5
  instance_line MASTER
  wait_until 5 grep -q -- '--role master' "$dir/calls" || { warn "MASTER never applied"; return 1; }
  kill -TERM "$PID"
  ended "$PID"
  assert_eq 0 "$RC" "exit status"
  exec 7>&-
  show "$dir"
  assert_eq "master" "$(roles "$dir")" "the MASTER call in progress completed; no other role"
  assert_contains "$(cat "$dir/log")" "rvsadm --role master: ok" "the call in progress logged"
  assert_contains "$(cat "$dir/log")" "keepalived ended this script (SIGTERM)" "SIGTERM logged"
}

case_stop() {
  local dir; dir="$(fresh_dir stop)"
  start_fifo "$dir"
  instance_line MASTER
  applied_roles "$dir" 1
  kill -TERM "$PID"
  sleep 0.2
  instance_line STOP
  ended "$PID"
  assert_eq 0 "$RC" "exit status"
  exec 7>&-
  show "$dir"
  assert_eq "master backup" "$(roles "$dir")" "STOP after SIGTERM: backup"
  assert_eq BACKUP "$(awk '{print $1}' "$dir/state")" "recorded state"
}

case_died() {
  local dir pid; dir="$(fresh_dir died)"
  mkfifo "$dir/fifo"
  # keepalived stands as a shell that starts rvs-notify and exits after 1 s.
  FAKE_RVSADM_LOG="$dir/calls" bash -c '"$@" & echo $! >"'"$dir"'/pid"; sleep 1' _ "$NOTIFY_BIN" \
    --rvsadm "$FAKE" --socket /nonexistent --state "$dir/state" --log "$dir/log" "$dir/fifo" &
  exec 7<>"$dir/fifo"
  instance_line MASTER
  applied_roles "$dir" 1
  pid="$(cat "$dir/pid")"
  # No SIGTERM, and no end of file either (the test holds a writing end, as a FIFO script
  # opened while keepalived reloaded can be left with one, or blocked in its open): rvs-notify
  # must see by itself that keepalived is gone (seen in test_vrrp: d1's rvs stayed master).
  wait_until 6 eval "! pid_alive $pid" || { warn "rvs-notify $pid still runs"; kill -KILL "$pid"; return 1; }
  exec 7>&-
  show "$dir"
  assert_eq "master backup" "$(roles "$dir")" "keepalived gone: backup"
  assert_contains "$(cat "$dir/log")" "is gone: this box is nobody's master any more" "logged"
}

case_calls() {
  local dir rc m b
  dir="$(fresh_dir calls)"
  # 1. The lock is held while MASTER and then BACKUP are called: the later (BACKUP) wins.
  exec 8>>"$dir/state.lock"
  flock 8
  FAKE_RVSADM_ROLE_SECS=0.2 unit "$dir" MASTER & m=$!
  sleep 0.1
  FAKE_RVSADM_ROLE_SECS=0.2 unit "$dir" BACKUP & b=$!
  sleep 0.1
  flock -u 8
  exec 8>&-
  rc=0; wait "$m" || rc=$?; wait "$b" || rc=$?
  show "$dir"
  assert_eq 0 "$rc" "rvs-notify exit status with 'already run' / 'not running' answers"
  assert_eq BACKUP "$(awk '{print $1}' "$dir/state")" "recorded state: the later call's"
  assert_eq "--role backup" "$(grep -- '^--role' "$dir/calls" | tail -n1)" "the last role applied"
  assert_eq "--start-daemon backup --mcast-interface eth0 --syncid 7" "$(tail -n1 "$dir/calls")" "the last daemon started"
  assert_contains "$(cat "$dir/log")" "Daemon has already run (as wanted)" "tolerated answer logged"
  # 2. An older call that gets the lock last re-applies the newer state, never its own.
  : >"$dir/calls"
  echo "MASTER $(($(date +%s) + 3600)).0" >"$dir/state"
  unit "$dir" BACKUP
  assert_eq "--role master" "$(head -n1 "$dir/calls")" "a stale BACKUP call applies the newer MASTER"
  assert_contains "$(cat "$dir/log")" "a later call recorded MASTER: applying MASTER" "logged"
  # 3. A real failure: exit 1, logged.
  rm -f "$dir/state"
  rc=0; FAKE_RVSADM_ROLE_FAILS=1 unit "$dir" FAULT || rc=$?
  assert_eq 1 "$rc" "exit status when rvsadm --role fails"
  assert_contains "$(tail -n5 "$dir/log")" "rvsadm --role backup: FAILED (exit 2)" "failure logged"
  # 4. Neither a state nor a FIFO: usage, exit 2.
  rc=0; unit "$dir" "$dir/state" 2>/dev/null || rc=$?
  assert_eq 2 "$rc" "a regular file is not a FIFO: usage"
}

run_case "fifo. keepalived's FIFO: states in its order, GROUP and other instances ignored; SIGTERM, keepalived alive: role kept" case_fifo
run_case "split. a line split across a timed-out read is applied whole" case_split
run_case "reload. SIGTERM, keepalived alive: the rvsadm call in progress completes, the role stays" case_reload
run_case "stop. SIGTERM, then keepalived's STOP line: backup" case_stop
run_case "died. keepalived gone, no signal, no end of file: backup" case_died
run_case "calls. one call per state: overlapping calls end in the newest; tolerated answers; failure reported" case_calls
finish
