#!/usr/bin/env bash
# tests/e2e/test_jumbo.sh: frames larger than one UMEM frame.  The NAT lab
# (tests/e2e/topo_nat.sh), the client's eth0 at MTU 9000.  Cases: with the director's d-out at
# MTU 9000, rvs refuses to start, says why and attaches nothing; started at MTU 1500, then
# d-out raised to 9000 at runtime, 5,042- and 8,042-byte frames from the client (ping -s 5000
# and -s 8000) are dropped by the kernel's AF_XDP receive path, and `rvsadm --counters` shows
# them as xsk-rx-dropped (read from the sockets' XDP_STATISTICS), one per frame.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
topo_nat
ns_exec c ip link set eth0 mtu 9000

counter() {   # NAME: its value in rvsadm --counters (0 when absent)
  rvsadm --counters | awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}
xdp_attached() { ip -n "$NS_D" -d link show | grep -c 'prog/xdp' || true; }

# ---------------------------------------------------------------------------------- a
ns_exec d ip link set d-out mtu 9000
case_a_refused() {
  local rc=0 out
  out="$(ip netns exec "$NS_D" timeout 20 "$RVS_BIN" --config "$NAT_CONFIG" 2>&1 </dev/null)" || rc=$?
  log "  rvs with d-out at MTU 9000: exit $rc: $(printf '%s' "$out" | tr '\n' '|')"
  [ "$rc" != 0 ] && [ "$rc" != 124 ] || { warn "rvs did not refuse (exit $rc)"; return 1; }
  assert_contains "$out" "interface d-out: MTU 9000" "the refusal names the interface and its MTU"
  assert_contains "$out" "UMEM frame" "the refusal says why"
  assert_not_contains "$out" "XDP program attached" "nothing was attached"
  assert_eq 0 "$(xdp_attached)" "XDP programs on the director after the refusal"
  [ ! -e "$RVS_SOCK" ] || { warn "the refused rvs left $RVS_SOCK"; return 1; }
}
run_case "a. d-out at MTU 9000: rvs refuses to start, attaches nothing" case_a_refused

# ---------------------------------------------------------------------------------- b
ns_exec d ip link set d-out mtu 1500
start_rvs "$NAT_CONFIG"
case_b_runtime_mtu() {
  local before after n5=3 n8=3 small
  small="$(ns_exec c ping -c 2 -i 0.2 -W 2 -q "$NAT_DIR_OUT" | grep -o '[0-9]* received' || true)"
  log "  small pings of the director at MTU 1500: $small"
  assert_eq "2 received" "$small" "rvs answers small pings"
  ns_exec d ip link set d-out mtu 9000
  sleep 1.5   # the loops read XDP_STATISTICS once a second
  before="$(counter xsk-rx-dropped)"
  ns_exec c ping -c "$n5" -i 0.2 -W 1 -q -M do -s 5000 "$NAT_DIR_OUT" >/dev/null 2>&1 || true
  ns_exec c ping -c "$n8" -i 0.2 -W 1 -q -M do -s 8000 "$NAT_DIR_OUT" >/dev/null 2>&1 || true
  sleep 2.5
  after="$(counter xsk-rx-dropped)"
  log "  sent $n5 frames of 5042 bytes and $n8 of 8042 bytes; xsk-rx-dropped $before -> $after"
  log "  rvsadm --counters: $(rvsadm --counters | grep '^xsk-' | tr -s ' ' | tr '\n' ';')"
  assert_eq $((n5 + n8)) $((after - before)) "frames the kernel dropped, counted as xsk-rx-dropped"
  ns_exec d ip link set d-out mtu 1500
  small="$(ns_exec c ping -c 2 -i 0.2 -W 2 -q "$NAT_DIR_OUT" | grep -o '[0-9]* received' || true)"
  assert_eq "2 received" "$small" "small pings still answered"
}
run_case "b. MTU raised to 9000 at runtime: 5042- and 8042-byte frames counted as xsk-rx-dropped" case_b_runtime_mtu
if stop_rvs; then pass "c. SIGTERM: clean stop"; else fail "c. SIGTERM: clean stop"; fi
finish
