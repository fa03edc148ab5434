#!/usr/bin/env bash
# tests/e2e/selftest_topo.sh: checks the NAT lab and the helpers WITHOUT rvs.  The director's
# kernel takes the addresses rvs would own (198.18.0.1, the VIP, 198.18.1.1) and forwards, so
# every host, route, bridge port and real server can be exercised.  Not part of scripts/test.
# Cases are called through run_case; topo_nat takes no script arguments.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

topo_nat

# Stand-in for rvs: the director's kernel.
ns_exec d ip addr add "$NAT_DIR_OUT/24" dev d-out
ns_exec d ip addr add "$NAT_VIP/32" dev d-out
ns_exec d ip addr add "$NAT_DIR_IN/24" dev d-in
ns_exec d sysctl -qw net.ipv4.ip_forward=1

ping1() { ns_exec "$1" ping -c 1 -W 2 "$2" >/dev/null; }

case_pings() {
  assert_true "client -> director outside" ping1 c "$NAT_DIR_OUT"
  assert_true "client -> VIP on director" ping1 c "$NAT_VIP"
  assert_true "director -> client" ping1 d "$NAT_CLIENT"
  assert_true "rs1 -> director inside" ping1 rs1 "$NAT_DIR_IN"
  assert_true "rs2 -> director inside" ping1 rs2 "$NAT_DIR_IN"
  assert_true "director -> rs1" ping1 d "$NAT_RS1"
  assert_true "director -> rs2" ping1 d "$NAT_RS2"
  assert_true "rs1 -> rs2 over the bridge" ping1 rs1 "$NAT_RS2"
}

case_http_from_director() {
  assert_eq rs1 "$(ns_curl d "http://$NAT_RS1/")" "GET / on rs1:80"
  assert_eq rs2 "$(ns_curl d "http://$NAT_RS2/")" "GET / on rs2:80"
  assert_eq rs1-8080 "$(ns_curl d "http://$NAT_RS1:8080/")" "GET / on rs1:8080"
  assert_eq rs2-8080 "$(ns_curl d "http://$NAT_RS2:8080/")" "GET / on rs2:8080"
}

case_routed_client() {
  # client -> real servers through the kernel's forwarding: the default routes are right
  local out
  out="$(curl_many c 4 "http://$NAT_RS1/")"
  assert_eq 4 "$(count_lines "$out" rs1)" "4 routed requests to rs1"
  assert_eq rs2 "$(ns_curl c "http://$NAT_RS2/")"
}

case_udp_echo() {
  assert_eq rs1 "$(udp_ask c "$NAT_RS1" 5353)" "udp echo rs1 (routed)"
  assert_eq rs2 "$(udp_ask c "$NAT_RS2" 5353)" "udp echo rs2 (routed)"
  assert_eq rs1 "$(udp_ask d "$NAT_RS1" 5353)" "udp echo rs1 (from director)"
}

case_big_file() {
  local dl="$RUN_DIR/big.download" want got
  CURL_MAX_TIME=30 ns_curl c -o "$dl" "http://$NAT_RS2/big.bin"
  want="$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)"
  got="$(sha256sum <"$dl" | cut -d' ' -f1)"
  assert_eq "$want" "$got" "sha256 of big.bin fetched through the director's kernel"
  assert_eq "$((BIG_MB * 1024 * 1024))" "$(stat -c %s "$dl")" "size of big.bin"
}

case_tx_off() {
  local out
  out="$(ns_exec c ethtool -k eth0)"
  assert_contains "$out" "tx-checksumming: off" "client eth0 tx checksum offload off"
  out="$(ns_exec rs1 ethtool -k eth0)"
  assert_contains "$out" "tx-checksumming: off" "rs1 eth0 tx checksum offload off"
}

case_config() {
  assert_true "config written" test -s "$NAT_CONFIG"
  assert_contains "$(cat "$NAT_CONFIG")" "socket = \"$RVS_SOCK\""
  assert_contains "$(cat "$NAT_CONFIG")" 'vips = ["198.18.0.100"]'
}

run_case "pings client/rs <-> director kernel" case_pings
run_case "curl rs1/rs2 :80 and :8080 from the director ns" case_http_from_director
run_case "client -> real servers routed by the director kernel" case_routed_client
run_case "udp echo on 5353" case_udp_echo
run_case "20 MB download, sha256" case_big_file
run_case "host interfaces have tx checksum offload off" case_tx_off
run_case "rvs config written" case_config
finish
