#!/usr/bin/env bash
# tests/e2e/test_local.sh: IPVS's "Local" forwarding. A real server that is the director
# itself (127.0.0.1, as ldirectord's `fallback=127.0.0.1:80` makes one) gets its connections
# through the host stack: rvs writes them into its local-node device (`[dataplane]
# local_device`), un-NATs the local server's replies read back from it, and lists the server
# as `Local` (`-g` in -S, as ipvsadm prints LOCALNODE). Lab: tests/e2e/topo_nat.sh, with an
# HTTP server bound to 127.0.0.1 only in the director's namespace.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
DEVICE=rvs-lcl
TABLE=201

topo_nat
sed -i "s/^\[dataplane\]$/[dataplane]\nlocal_device = \"$DEVICE\"\nlocal_table = $TABLE/" "$NAT_CONFIG"
# The local server listens on the loopback address only: nothing but the host stack reaches it.
mkdir -p "$RUN_DIR/www/local"
printf 'local\n' >"$RUN_DIR/www/local/index.html"
bg d http-local-8081 python3 -m http.server 8081 --bind 127.0.0.1 --directory "$RUN_DIR/www/local"
wait_tcp_listen d 8081
start_rvs "$NAT_CONFIG"

case_a_device() {
  assert_contains "$(cat "$RVS_LOG")" "local real servers reach the host stack through $DEVICE (table $TABLE)" "rvs opened its device"
  assert_contains "$(ns_exec d ip rule)" "from 127.0.0.0/8 lookup $TABLE" "the rule for the local servers' replies"
  assert_contains "$(ns_exec d ip route show table "$TABLE")" "default dev $DEVICE" "the route into the device"
}

# The seed's fallback alone: a service whose only real server is 127.0.0.1 on the same port.
case_b_only_local() {
  rvsadm -A -t "$VIP:8081" -s rr
  # ipvsadm's default method (-g): LOCALNODE takes its place.
  rvsadm -a -t "$VIP:8081" -r 127.0.0.1:8081
  local out
  out="$(curl_many c 5 "http://$VIP:8081/")"
  log "5 requests to $VIP:8081: $(tr '\n' ' ' <<<"$out")"
  assert_eq 5 "$(count_lines "$out" local)" "requests answered by the director's own 127.0.0.1:8081"
}

# A remote real server and a local one with another port, as a fallback beside it: rr
# alternates, the local server's answers come back from VIP:80 (the port un-NATed).
case_c_remote_and_local() {
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -m -w 1
  # -m: with -g ipvsadm would give the server the service's port.
  rvsadm -a -t "$VIP:80" -r 127.0.0.1:8081 -m -w 1
  local out
  out="$(curl_many c 10 "http://$VIP/")"
  log "10 requests to $VIP:80: $(tr '\n' ' ' <<<"$out")"
  assert_eq 5 "$(count_lines "$out" rs1)" "requests answered by rs1"
  assert_eq 5 "$(count_lines "$out" local)" "requests answered by the local server"
}

case_d_listing() {
  local ln save
  ln="$(rvsadm -Ln)"
  save="$(rvsadm -Sn)"
  printf '%s\n%s\n' "$ln" "$save"
  assert_match "$ln" "  -> 127\.0\.0\.1:8081 +Local +1 +[0-9]+ +[0-9]+" "-Ln lists the local server as Local"
  assert_match "$ln" "  -> $RS1:80 +Masq +1 " "-Ln lists rs1 as Masq"
  assert_contains "$save" "-a -t $VIP:80 -r 127.0.0.1:8081 -g -w 1" "-S writes Local as -g (ipvsadm's fwd_switch)"
  assert_contains "$save" "-a -t $VIP:8081 -r 127.0.0.1:8081 -g -w 1" "-S of the fallback-only service"
}

case_e_counters() {
  local c to_host unmatched
  c="$(rvsadm --counters)"
  to_host="$(awk '$1 == "local-node-to-host" {print $2}' <<<"$c")"
  unmatched="$(awk '$1 == "drop-from-host-no-local-connection" {print $2}' <<<"$c")"
  log "local-node-to-host ${to_host:-0}, drop-from-host-no-local-connection ${unmatched:-0}"
  [ "${to_host:-0}" -ge 10 ] || { warn "only ${to_host:-0} packets went to the host stack"; return 1; }
}

run_case "a. the local-node device, its route and rule" case_a_device
run_case "b. a service whose only real server is 127.0.0.1:8081" case_b_only_local
run_case "c. a remote real server and a local one (port 8081) by rr" case_c_remote_and_local
run_case "d. -Ln says Local, -S says -g" case_d_listing
run_case "e. counters" case_e_counters
if stop_rvs; then pass "f. SIGTERM: clean stop"; else fail "f. SIGTERM: clean stop"; fi
if ns_exec d ip link show "$DEVICE" >/dev/null 2>&1; then
  fail "g. the device and rule are gone after the stop" "$DEVICE still exists"
elif ns_exec d ip rule | grep -q "lookup $TABLE"; then
  fail "g. the device and rule are gone after the stop" "the rule is still there"
else
  pass "g. the device and rule are gone after the stop"
fi
finish
