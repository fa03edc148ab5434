#!/usr/bin/env bash
# tests/e2e/test_hostpath.sh: the host path beside the data path. The director's kernel
# keeps addresses of its own on the interfaces rvs serves (198.18.0.2 outside, 198.18.1.2
# inside); rvs's XDP program hands their traffic (and ARP about them) to the kernel and
# everything else to rvs. While rvs forwards real traffic, an ssh-like TCP session (socat)
# to the director's own address and pings of it keep working, in both directions.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
HOST_OUT=198.18.0.2
HOST_IN=198.18.1.2

topo_nat
# The kernel's own addresses: rvs must leave their traffic to the host stack.
ns_exec d ip addr add "$HOST_OUT/24" dev d-out
ns_exec d ip addr add "$HOST_IN/24" dev d-in
ns_exec d ethtool -K d-out tx off >/dev/null 2>&1 || true
ns_exec d ethtool -K d-in tx off >/dev/null 2>&1 || true
start_rvs "$NAT_CONFIG"
rvsadm -A -t "$VIP:80" -s rr
rvsadm -a -t "$VIP:80" -r "$NAT_RS1:80" -m
rvsadm -a -t "$VIP:80" -r "$NAT_RS2:80" -m

case_a_log() {
  assert_contains "$(cat "$RVS_LOG")" "host path for the kernel's address $HOST_OUT" "rvs saw the kernel's outside address"
  assert_contains "$(cat "$RVS_LOG")" "rvs XDP program attached" "rvs's own XDP program is in use"
}

case_b_ping_host() {
  ns_exec c ping -c 3 -i 0.2 -W 2 -q "$HOST_OUT" >/dev/null || { warn "client cannot ping the director's own address"; return 1; }
  ns_exec rs1 ping -c 3 -i 0.2 -W 2 -q "$HOST_IN" >/dev/null || { warn "rs1 cannot ping the director's inside address"; return 1; }
  # ...and the host reaches out through its own stack.
  ns_exec d ping -c 3 -i 0.2 -W 2 -q "$NAT_RS1" >/dev/null || { warn "the director host cannot ping rs1"; return 1; }
}

# An ssh-like session: a TCP listener on the director host, a client typing lines into it
# while ten HTTP requests go through rvs; every line comes back and every request is served.
case_c_tcp_session_while_forwarding() {
  local sess="$RUN_DIR/session.out"
  ns_exec d timeout 30 socat TCP-LISTEN:2222,bind="$HOST_OUT",reuseaddr EXEC:cat &
  wait_tcp_listen d 2222
  (for i in $(seq 1 20); do echo "line $i"; sleep 0.1; done) \
    | ns_exec c timeout 20 socat -t 2 - TCP:"$HOST_OUT":2222 >"$sess" &
  local sess_pid=$!
  local out
  out="$(curl_many c 10 "http://$VIP/")"
  wait "$sess_pid" || true
  assert_eq 5 "$(count_lines "$out" rs1)" "rs1 served half the requests during the session"
  assert_eq 5 "$(count_lines "$out" rs2)" "rs2 served half the requests during the session"
  assert_eq 20 "$(grep -c '^line ' "$sess")" "every line of the session came back"
  # The director host fetches from a real server through its own stack (a probe or an update).
  assert_eq "rs1" "$(ns_exec d curl -s --noproxy '*' --max-time 5 "http://$NAT_RS1/")" "the host reaches rs1 itself"
}

case_d_counters() {
  # The host's traffic never entered rvs: no drop for "local address without a service".
  local n
  n="$(rvsadm --counters | awk '$1 == "drop-local-no-service" {print $2}')"
  assert_eq "" "$n" "rvs saw none of the host's packets"
}

run_case "a. rvs hands the kernel its own addresses" case_a_log
run_case "b. ping the director host both ways" case_b_ping_host
run_case "c. ssh-like TCP session to the host while rvs forwards" case_c_tcp_session_while_forwarding
run_case "d. host traffic bypasses rvs" case_d_counters
if stop_rvs; then pass "e. SIGTERM: clean stop"; else fail "e. SIGTERM: clean stop"; fi
# With rvs gone the host keeps its addresses and connectivity.
if ns_exec c ping -c 1 -W 2 -q "$HOST_OUT" >/dev/null; then pass "f. host reachable after rvs stops"; else fail "f. host reachable after rvs stops"; fi
finish
