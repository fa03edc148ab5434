#!/usr/bin/env bash
# tests/e2e/test_ipv6.sh: the director's own IPv6 stack, on the NAT lab. rvs owns
# 2001:db8:6::1/64 and the IPv6 VIP 2001:db8:6::100 on d-out (beside its IPv4 address); the
# director's kernel keeps 2001:db8:6::2/64 there (the host path). A real client (the client
# namespace's kernel: ping, its neighbour cache, duplicate address detection) finds rvs's MAC
# by neighbour discovery and gets echo answers from rvs, while the kernel's own IPv6 address
# and link-local traffic stay the kernel's; IPv4 keeps being balanced. rvs, master from the
# start, announces the IPv6 VIP by unsolicited advertisements (the client's stale entry moves).
# IPv6 services are not balanced yet (see the README).
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

MINE6=$NAT_MINE6
VIP6=$NAT_VIP6
HOST6=2001:db8:6::2
CONFIG="$RUN_DIR/rvs-ipv6.toml"

topo_nat6
ns_exec d ip -6 addr add "$HOST6/64" dev d-out nodad
{
  rvs_conf_admin "$RVS_SOCK"
  nat_conf_dout6
  rvs_conf_iface d-in "$NAT_DIR_IN/24"
} >"$CONFIG"
# The client believes the IPv6 VIP is elsewhere (the other director's MAC, say), until rvs,
# master from its start, announces it.
OLD_MAC=02:00:00:00:00:99
ns_exec c ip -6 neigh replace "$VIP6" lladdr "$OLD_MAC" dev eth0 nud stale
start_rvs "$CONFIG"
rvsadm -A -t "$NAT_VIP:80" -s rr
rvsadm -a -t "$NAT_VIP:80" -r "$NAT_RS1:80" -m
rvsadm -a -t "$NAT_VIP:80" -r "$NAT_RS2:80" -m

counter() { rvsadm --counters | awk -v c="$1" '$1 == c {print $2}'; }
DOUT_MAC="$(ns_exec d cat /sys/class/net/d-out/address)"

case_0_unsolicited_advertisement() {
  wait_until 5 eval 'ns_exec c ip -6 neigh show "$VIP6" dev eth0 | grep -q "lladdr $DOUT_MAC"' \
    || { ns_exec c ip -6 neigh show dev eth0 >&2; warn "the client still has the old MAC for $VIP6"; return 1; }
  assert_true "rvs counted its unsolicited advertisements" test "$(counter nd-unsolicited-sent)" -ge 1
}

case_a_ping_rvs_address() {
  local before="$(counter icmpv6-echo-replied)"
  ns_exec c ping -6 -c 3 -i 0.2 -W 2 -q "$MINE6" >/dev/null || { warn "the client cannot ping rvs's $MINE6"; return 1; }
  local after="$(counter icmpv6-echo-replied)"
  assert_eq 3 "$(( ${after:-0} - ${before:-0} ))" "rvs answered the three echo requests itself"
  assert_true "rvs answered a neighbour solicitation" test "$(counter nd-advertised)" -ge 1
}

case_b_neighbour_cache() {
  # The client kernel's entry for rvs's address: rvs's MAC, learnt from rvs's advertisement.
  local entry
  entry="$(ns_exec c ip -6 neigh show "$MINE6" dev eth0)"
  log "client: $entry"
  assert_contains "$entry" "lladdr $DOUT_MAC" "the client resolved $MINE6 to d-out's MAC"
  assert_not_contains "$entry" "FAILED" "the entry is usable"
}

case_c_ping_vip6() {
  ns_exec c ping -6 -c 2 -i 0.2 -W 2 -q "$VIP6" >/dev/null || { warn "the client cannot ping the IPv6 VIP"; return 1; }
  assert_contains "$(ns_exec c ip -6 neigh show "$VIP6" dev eth0)" "lladdr $DOUT_MAC" "the VIP resolves to d-out"
}

# Duplicate address detection by a real kernel: the client tries to take rvs's address and
# is told it is in use (rvs's advertisement to all nodes), so its copy stays "dadfailed".
case_d_duplicate_address_detection() {
  ns_exec c sysctl -qw net.ipv6.conf.eth0.accept_dad=1 net.ipv6.conf.eth0.dad_transmits=1
  ns_exec c ip -6 addr add "$MINE6/64" dev eth0
  wait_until 5 eval 'ns_exec c ip -6 addr show dev eth0 | grep -q "$MINE6/64.*dadfailed"' \
    || { ns_exec c ip -6 addr show dev eth0 >&2; warn "the client's DAD did not fail"; return 1; }
  ns_exec c ip -6 addr del "$MINE6/64" dev eth0
}

# The host path: the kernel's own IPv6 address and its link-local address are the kernel's.
case_e_host_path() {
  local before="$(counter icmpv6-echo-replied)"
  ns_exec c ping -6 -c 3 -i 0.2 -W 2 -q "$HOST6" >/dev/null || { warn "the client cannot ping the kernel's $HOST6"; return 1; }
  local ll
  ll="$(ns_exec d ip -6 addr show dev d-out scope link | awk '/inet6/ {sub("/.*", "", $2); print $2; exit}')"
  ns_exec c ping -6 -c 2 -i 0.2 -W 2 -q "$ll%eth0" >/dev/null || { warn "the client cannot ping the kernel's $ll"; return 1; }
  assert_eq "${before:-0}" "$(counter icmpv6-echo-replied)" "rvs saw none of those echoes"
  local sess="$RUN_DIR/session6.out"
  ns_exec d timeout 20 socat TCP6-LISTEN:2222,bind="[$HOST6]",reuseaddr EXEC:cat &
  wait_tcp_listen d 2222
  (for i in $(seq 1 10); do echo "line $i"; sleep 0.05; done) \
    | ns_exec c timeout 10 socat -t 2 - "TCP6:[$HOST6]:2222" >"$sess" || true
  assert_eq 10 "$(grep -c '^line ' "$sess")" "a TCP session over IPv6 to the kernel's address"
}

case_f_ipv4_still_balanced() {
  local out
  out="$(curl_many c 4 "http://$NAT_VIP/")"
  assert_eq 2 "$(count_lines "$out" rs1)" "rs1 served half"
  assert_eq 2 "$(count_lines "$out" rs2)" "rs2 served half"
}

case_g_config_errors() {
  local bad="$RUN_DIR/bad6.toml" err
  sed 's|"2001:db8:6::1/64"|"fe80::1/64"|' "$CONFIG" >"$bad"
  if err="$("$RVS_BIN" --config "$bad" --check 2>&1)"; then warn "a link-local address passed --check"; return 1; fi
  assert_contains "$err" "'fe80::1' is not a unicast address rvs can own" "a link-local address is refused"
  sed 's|"2001:db8:6::1/64"|"2001:db8:6::1/129"|' "$CONFIG" >"$bad"
  if err="$("$RVS_BIN" --config "$bad" --check 2>&1)"; then warn "prefix 129 passed --check"; return 1; fi
  assert_contains "$err" "'2001:db8:6::1/129' is not ADDRESS/PREFIX" "a bad prefix is refused"
}

run_case "0. the IPv6 VIP announced: the client's stale entry takes rvs's MAC" case_0_unsolicited_advertisement
run_case "a. ping -6 of rvs's address, answered by rvs" case_a_ping_rvs_address
run_case "b. the client's neighbour cache holds rvs's MAC" case_b_neighbour_cache
run_case "c. ping -6 of the IPv6 VIP" case_c_ping_vip6
run_case "d. a real kernel's duplicate address detection is answered" case_d_duplicate_address_detection
run_case "e. the kernel's own IPv6 traffic bypasses rvs" case_e_host_path
run_case "f. IPv4 still balanced" case_f_ipv4_still_balanced
run_case "g. bad IPv6 addresses in the config are refused" case_g_config_errors
if stop_rvs; then pass "h. SIGTERM: clean stop"; else fail "h. SIGTERM: clean stop"; fi
finish
