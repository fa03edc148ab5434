#!/usr/bin/env bash
# tests/e2e/test_local.sh: IPVS's "Local" forwarding. A real server that is the director
# itself (127.0.0.1, as ldirectord's `fallback=127.0.0.1:80` makes one) gets its connections
# through the host stack: rvs writes them into its local-node device (`[dataplane]
# local_device`), un-NATs the local server's replies read back from it, and lists the server
# as `Local` (`-g` in -S, as ipvsadm prints LOCALNODE). Lab: tests/e2e/topo_nat.sh, with an
# HTTP server bound to 127.0.0.1 only in the director's namespace.
# A real server at one of the director namespace's own addresses is Local too (the kernel's
# inet_addr_type() == RTN_LOCAL): 198.18.9.1 on the namespace's lo from the start, with an HTTP
# server bound there only (cases h, i); and 198.18.9.2, given to d-in (an interface rvs owns)
# only after its real server was added, then taken away again (case j).
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
OWN=198.18.9.1
LATE=198.18.9.2

topo_nat
sed -i "s/^\[dataplane\]$/[dataplane]\nlocal_device = \"$DEVICE\"\nlocal_table = $TABLE/" "$NAT_CONFIG"
# The local server listens on the loopback address only: nothing but the host stack reaches it.
mkdir -p "$RUN_DIR/www/local"
printf 'local\n' >"$RUN_DIR/www/local/index.html"
bg d http-local-8081 python3 "$E2E_DIR/http_server.py" 8081 "$RUN_DIR/www/local" 127.0.0.1
wait_tcp_listen d 8081
# One of the director namespace's own addresses, on an interface rvs does not own (lo: the
# machine's kernel may have no dummy interfaces).
ns_exec d ip addr add "$OWN/32" dev lo
mkdir -p "$RUN_DIR/www/own"
printf 'own\n' >"$RUN_DIR/www/own/index.html"
bg d http-own-8082 python3 "$E2E_DIR/http_server.py" 8082 "$RUN_DIR/www/own" "$OWN"
wait_tcp_listen d 8082
# The server for the address the namespace gets later: on every address, so it listens already.
mkdir -p "$RUN_DIR/www/late"
printf 'late\n' >"$RUN_DIR/www/late/index.html"
bg d http-late-8083 python3 "$E2E_DIR/http_server.py" 8083 "$RUN_DIR/www/late" 0.0.0.0
wait_tcp_listen d 8083
# A reply rule an rvs that did not stop cleanly would have left behind: the start deletes it.
ns_exec d ip rule add from 198.18.9.3 sport 9999 lookup "$TABLE" priority 1000
start_rvs "$NAT_CONFIG"

case_a_device() {
  assert_contains "$(cat "$RVS_LOG")" "local real servers reach the host stack through $DEVICE (table $TABLE)" "rvs opened its device"
  assert_contains "$(ns_exec d ip rule)" "from 127.0.0.0/8 lookup $TABLE" "the rule for the local servers' replies"
  assert_contains "$(ns_exec d ip route show table "$TABLE")" "default dev $DEVICE" "the route into the device"
  assert_not_contains "$(ns_exec d ip rule)" "sport 9999" "the left-over reply rule is gone"
  assert_contains "$(cat "$RVS_LOG")" "rule from 198.18.9.3 sport 9999 lookup $TABLE, left by an earlier rvs: deleted" "logged"
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

unmatched_count() { awk '$1 == "drop-from-host-no-local-connection" {print $2}' <<<"$(rvsadm --counters)"; }
to_host_count() { awk '$1 == "local-node-to-host" {print $2}' <<<"$(rvsadm --counters)"; }

# The listing line of real server $2 in service $1.
dest_line() { rvsadm -Ln -t "$1" | grep -F -- "-> $2 " || true; }
listed_as() { dest_line "$1" "$2" | grep -qE -- "-> $2 +$3 "; }
# The Conns column of real server $2 in service $1 (-Ln --stats).
dest_conns() { rvsadm -Ln --stats -t "$1" | awk -v d="$2" '$1 == "->" && $2 == d {print $3}'; }

# One of the namespace's own addresses (on its lo), there before rvs started.
case_h_own_address() {
  rvsadm -A -t "$VIP:8082" -s rr
  rvsadm -a -t "$VIP:8082" -r "$OWN:8082" -m
  local ln rules out before after
  ln="$(rvsadm -Ln -t "$VIP:8082")"
  printf '%s\n' "$ln"
  assert_match "$ln" "  -> 198\.18\.9\.1:8082 +Local +1 +0 +0" "-Ln lists the server at the namespace's own address as Local"
  rules="$(ns_exec d ip rule)"
  printf '%s\n' "$rules"
  assert_match "$rules" "from $OWN sport 8082 lookup $TABLE" "the rule that brings its replies back to rvs"
  before="$(to_host_count)"
  out="$(curl_many c 5 "http://$VIP:8082/")"
  after="$(to_host_count)"
  log "5 requests to $VIP:8082: $(tr '\n' ' ' <<<"$out"); local-node-to-host $before -> $after; conns $(dest_conns "$VIP:8082" "$OWN:8082")"
  assert_eq 5 "$(count_lines "$out" own)" "requests answered by the server bound to $OWN only"
  assert_eq 5 "$(dest_conns "$VIP:8082" "$OWN:8082")" "connections counted for $OWN:8082"
  [ "$((after - before))" -ge 10 ] || { warn "only $((after - before)) packets went to the host stack"; return 1; }
}

case_i_own_save() {
  local save
  save="$(rvsadm -Sn)"
  printf '%s\n' "$save"
  assert_contains "$save" "-a -t $VIP:8082 -r $OWN:8082 -g -w 1" "-S writes it as -g"
}

# An address the namespace gets after its real server was added (on d-in, which rvs owns),
# and loses again.
case_j_address_comes_and_goes() {
  rvsadm -A -t "$VIP:8083" -s rr
  rvsadm -a -t "$VIP:8083" -r "$LATE:8083" -m
  local out t0 t1
  dest_line "$VIP:8083" "$LATE:8083"
  listed_as "$VIP:8083" "$LATE:8083" Masq || { warn "not Masq before the address exists"; return 1; }
  out="$(CURL_CONNECT_TIMEOUT=1 CURL_MAX_TIME=2 curl_many c 1 "http://$VIP:8083/")"
  log "before the address: $out"
  assert_eq ERR "$out" "no answer: $LATE is nobody's yet"
  ns_exec d ip addr add "$LATE/32" dev d-in
  t0="$(now)"
  wait_until 5 listed_as "$VIP:8083" "$LATE:8083" Local || { warn "not Local 5 s after the address came"; return 1; }
  t1="$(now)"
  log "Local $(ms_between "$t0" "$t1") ms after the address was added: $(dest_line "$VIP:8083" "$LATE:8083")"
  assert_match "$(ns_exec d ip rule)" "from $LATE sport 8083 lookup $TABLE" "its reply rule"
  out="$(curl_many c 4 "http://$VIP:8083/")"
  log "4 requests to $VIP:8083: $(tr '\n' ' ' <<<"$out")"
  assert_eq 4 "$(count_lines "$out" late)" "answered by the director's own server once the address is there"
  # Straight to $LATE:8083, not through the VIP (rs1 reaches d-in's kernel address through
  # the host path): the reply rule takes the answer into the device, where rvs drops it.
  local unmatched0 unmatched1
  unmatched0="$(unmatched_count)"
  out="$(CURL_CONNECT_TIMEOUT=1 CURL_MAX_TIME=2 curl_many rs1 1 "http://$LATE:8083/")"
  unmatched1="$(unmatched_count)"
  log "rs1 straight to $LATE:8083: $out; drop-from-host-no-local-connection ${unmatched0:-0} -> ${unmatched1:-0}"
  assert_eq ERR "$out" "a client that does not come through rvs gets no answer"
  [ "${unmatched1:-0}" -gt "${unmatched0:-0}" ] || { warn "its answers were not dropped by rvs"; return 1; }
  ns_exec d ip addr del "$LATE/32" dev d-in
  t0="$(now)"
  wait_until 5 listed_as "$VIP:8083" "$LATE:8083" Masq || { warn "still Local 5 s after the address went"; return 1; }
  t1="$(now)"
  log "Masq again $(ms_between "$t0" "$t1") ms after the address was removed: $(dest_line "$VIP:8083" "$LATE:8083")"
  assert_not_contains "$(ns_exec d ip rule)" "sport 8083" "its reply rule is gone"
  out="$(CURL_CONNECT_TIMEOUT=1 CURL_MAX_TIME=2 curl_many c 1 "http://$VIP:8083/")"
  log "after the address went: $out"
  assert_eq ERR "$out" "no answer again"
  assert_contains "$(cat "$RVS_LOG")" "real server $LATE:8083 is one of the host's addresses: Local" "logged"
  assert_contains "$(cat "$RVS_LOG")" "real server $LATE:8083 is no longer one of the host's addresses: Masq again" "logged"
}

run_case "a. the local-node device, its route and rule" case_a_device
run_case "b. a service whose only real server is 127.0.0.1:8081" case_b_only_local
run_case "c. a remote real server and a local one (port 8081) by rr" case_c_remote_and_local
run_case "d. -Ln says Local, -S says -g" case_d_listing
run_case "e. counters" case_e_counters
run_case "h. a real server at the namespace's own address $OWN (on lo) is Local and answers" case_h_own_address
run_case "i. -S writes it as -g" case_i_own_save
run_case "j. an address added after its real server: Local; removed: Masq again" case_j_address_comes_and_goes
if stop_rvs; then pass "f. SIGTERM: clean stop"; else fail "f. SIGTERM: clean stop"; fi
if ns_exec d ip link show "$DEVICE" >/dev/null 2>&1; then
  fail "g. the device and rule are gone after the stop" "$DEVICE still exists"
elif ns_exec d ip rule | grep -q "lookup $TABLE"; then
  fail "g. the device and rule are gone after the stop" "a rule is still there: $(ns_exec d ip rule | grep "lookup $TABLE")"
else
  pass "g. the device and rule are gone after the stop"
fi

# Without local_device: the server at the namespace's own address keeps its method (no way
# to the host stack), and the log says why; 127.0.0.1 is still listed as Local.
case_k_no_device() {
  rvsadm -A -t "$VIP:8082" -s rr
  rvsadm -a -t "$VIP:8082" -r "$OWN:8082" -m
  rvsadm -a -t "$VIP:8082" -r 127.0.0.1:8081 -m
  local ln out
  ln="$(rvsadm -Ln -t "$VIP:8082")"
  printf '%s\n' "$ln"
  assert_match "$ln" "  -> 198\.18\.9\.1:8082 +Masq +1 " "listed by its method"
  assert_match "$ln" "  -> 127\.0\.0\.1:8081 +Local +1 " "127.0.0.1 still Local"
  assert_contains "$(cat "$RVS_LOG")" \
    "real server $OWN:8082 is one of the host's addresses, but without [dataplane] local_device rvs has no way to the host stack: not Local, forwarded by its method (Masq)" \
    "the log says why"
  assert_not_contains "$(ns_exec d ip rule)" "sport 8082" "no reply rule"
}
sed -i '/^local_device = /d; /^local_table = /d' "$NAT_CONFIG"
start_rvs "$NAT_CONFIG"
run_case "k. without local_device a server at the namespace's own address keeps its method" case_k_no_device
if stop_rvs; then pass "l. SIGTERM: clean stop (no local_device)"; else fail "l. SIGTERM: clean stop (no local_device)"; fi
finish
