#!/usr/bin/env bash
# tests/e2e/test_startup.sh: start-up as an ordered list of stages (src/daemon.rs), each undone
# in reverse when a later one fails or rvs stops.  The NAT lab (tests/e2e/topo_nat.sh).
# Cases: a start that fails at a late stage (the admin group does not exist: after XDP is
# attached and the poll loops run; a kernel address on the second interface is also rvs's:
# after the first interface's XDP program is attached; the admin socket path is a directory)
# exits 1 within seconds with an error naming the stage, leaves no XDP program on either
# interface, no admin socket file, no rvs process, and no ownership lock: the next rvs on the
# same interfaces starts and forwards. A SIGTERM undoes the stages in the reverse of the
# order they started in (as the log lists them).
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

topo_nat


# failed_start NAME CONFIG: runs rvs on CONFIG in the foreground (at most 20 s); sets
# FAIL_RC, FAIL_SECS and FAIL_LOG.
failed_start() {
  local name="$1" config="$2" t0
  FAIL_LOG="$LOG_DIR/rvs-$name.log"
  t0="$(date +%s%N)"
  FAIL_RC=0
  ip netns exec "$NS_D" timeout -s KILL 20 "$RVS_BIN" --config "$config" >"$FAIL_LOG" 2>&1 </dev/null || FAIL_RC=$?
  FAIL_SECS="$(( ($(date +%s%N) - t0) / 1000000 ))"
  log "  $name: rvs exited $FAIL_RC after $FAIL_SECS ms; its log:"
  sed 's/^/    rvs| /' "$FAIL_LOG"
}

# nothing_left_behind: what a failed start must not leave: XDP programs, the socket, an rvs process.
nothing_left_behind() {
  local ids; ids="$(xdp_ids)"
  log "  XDP program ids after the failed start (d-out d-in): $ids"
  assert_eq "- - " "$ids" "no XDP program on either interface"
  [ ! -S "$RVS_SOCK" ] || { warn "admin socket file left: $RVS_SOCK"; return 1; }
  local left; left="$(ip netns pids "$NS_D" | xargs -r ps -o comm= -p 2>/dev/null | grep -c '^rvs' || true)"
  log "  rvs processes left in the director namespace: $left"
  assert_eq 0 "$left" "no rvs process"
}

# ---------------------------------------------------------------------------------- a
# The group is looked up only when the admin socket is bound, the last stage before the loops
# run free: XDP attached on both interfaces, the sockets open, the loops started.
NO_GROUP="$RUN_DIR/rvs-no-group.toml"
sed 's/^\[admin\]$/[admin]\ngroup = "rvs-e2e-no-such-group"/' "$NAT_CONFIG" >"$NO_GROUP"
failed_start no-group "$NO_GROUP"
case_a() {
  assert_eq 1 "$FAIL_RC" "exit status"
  assert_contains "$(cat "$FAIL_LOG")" "admin.group: no group named rvs-e2e-no-such-group" "the error"
  assert_true "within 10 s" [ "$FAIL_SECS" -lt 10000 ]
  assert_contains "$(cat "$FAIL_LOG")" "rvs: d-out: XDP program detached" "the XDP stage undone"
  nothing_left_behind
}
run_case "a. admin group missing (a late stage): exit 1, XDP detached, loops stopped" case_a

# ---------------------------------------------------------------------------------- b
# The kernel holding rvs's own inside address: refused while attaching to d-in, after d-out's
# program went on.
ip -n "$NS_D" addr add "$NAT_DIR_IN/24" dev d-in
failed_start shared-addr "$NAT_CONFIG"
ip -n "$NS_D" addr del "$NAT_DIR_IN/24" dev d-in
case_b() {
  assert_eq 1 "$FAIL_RC" "exit status"
  assert_contains "$(cat "$FAIL_LOG")" "interface d-in: $NAT_DIR_IN is both the kernel's and rvs's" "the error"
  nothing_left_behind
}
run_case "b. second interface refused (kernel address is rvs's): d-out's XDP detached" case_b

# ---------------------------------------------------------------------------------- c
BUSY_SOCK="$RUN_DIR/busy.sock"
mkdir -p "$BUSY_SOCK"
BUSY="$RUN_DIR/rvs-busy.toml"
sed "s|^socket = .*|socket = \"$BUSY_SOCK\"|" "$NAT_CONFIG" >"$BUSY"
failed_start busy-socket "$BUSY"
case_c() {
  assert_eq 1 "$FAIL_RC" "exit status"
  assert_contains "$(cat "$FAIL_LOG")" "admin socket $BUSY_SOCK" "the error names the socket"
  nothing_left_behind
  [ -d "$BUSY_SOCK" ] || { warn "rvs removed the directory in its socket's place"; return 1; }
}
run_case "c. admin socket path unusable (a directory): exit 1, nothing left" case_c

# ---------------------------------------------------------------------------------- d
# No lock left behind: the next rvs on the same interfaces and socket starts and forwards.
start_rvs "$NAT_CONFIG"
case_d() {
  local ids; ids="$(xdp_ids)"
  assert_match "$ids" '^[0-9]+ [0-9]+ $' "an XDP program on each interface"
  rvsadm -A -t "$NAT_VIP:80" -s rr
  rvsadm -a -t "$NAT_VIP:80" -r "$NAT_RS1:80" -m
  assert_eq rs1 "$(ns_curl c "http://$NAT_VIP/")" "the VIP answers"
}
run_case "d. after the failed starts, a new rvs takes the interfaces and forwards" case_d

# ---------------------------------------------------------------------------------- e
if stop_rvs; then pass "e. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "e. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
case_e() {
  local started undone expected
  started="$(sed -n 's/^[A-Z]* *rvs: stage [0-9]*: \([a-z ]*\) started.*/\1/p' "$RVS_LOG" | paste -sd,)"
  undone="$(sed -n 's/^[A-Z]* *rvs: stage [0-9]*: \([a-z ]*\) undone.*/\1/p' "$RVS_LOG" | paste -sd,)"
  log "  stages started: $started"
  log "  stages undone:  $undone"
  expected="$(sed -n 's/^[A-Z]* *rvs: stage [0-9]*: \([a-z ]*\) started.*/\1/p' "$RVS_LOG" | tac | paste -sd,)"
  assert_true "some stages started" [ -n "$started" ]
  assert_eq "$expected" "$undone" "undone in the reverse order"
}
run_case "e2. SIGTERM undoes the stages in reverse" case_e

finish
