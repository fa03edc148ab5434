#!/usr/bin/env bash
# tests/e2e/test_tun_types.sh: TUN with `--tun-type gue` and `--tun-type gre` (Linux 5.2+,
# ipvsadm 1.31), end to end.  Lab: tests/e2e/topo_direct.sh.  The kernel here has no fou and
# no gre module: rs1 runs tests/e2e/tun_decap.py in gue mode (UDP port 6080, TUN device
# "tgue-rvs") and rs2 in gre mode (raw IP protocol 47, "tgre-rvs"); each hands the inner
# packets to its kernel, which answers the client directly through the router (DR-like
# return).  The decapsulators count what they took with and without a checksum (their
# --stats files); the GRE one verifies the GRE checksum itself, the kernel the UDP one.
# Every case is bounded (curl --max-time, timeout around socat, a few dozen requests).
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_direct.sh
source "$(dirname "$0")/topo_direct.sh"

VIP="$DIRECT_VIP" RS1="$DIRECT_RS1" RS2="$DIRECT_RS2"
GUE_PORT=6080
GUE_DEV=tgue-rvs
GRE_DEV=tgre-rvs

topo_direct

# start_tun_decap NS DEV MODE [ARGS...]: tests/e2e/tun_decap.py up and decapsulating
start_tun_decap() {
  local ns="$1" dev="$2" mode="$3"; shift 3
  bg "$ns" "tun-decap-$mode" python3 "$E2E_DIR/tun_decap.py" "$dev" "$mode" --sysctl \
    --stats "$RUN_DIR/decap-$mode.stats" --max-seconds 600 "$@"
  wait_until 10 _tun_up "$ns" "$dev" \
    || { sed 's/^/    decap| /' "$LOG_DIR/tun-decap-$mode.log" >&2; die "tun_decap.py did not bring $dev up"; }
  wait_until 5 grep -q decapsulating "$LOG_DIR/tun-decap-$mode.log" || die "tun_decap.py ($mode) did not start"
}
start_tun_decap rs1 "$GUE_DEV" gue --port "$GUE_PORT"
start_tun_decap rs2 "$GRE_DEV" gre
start_rvs "$DIRECT_CONFIG"

# decap MODE NAME: one count of a decapsulator's --stats file (0 before its first write)
decap() { awk -v n="$2" '$1 == n {v = $2} END {print v + 0}' "$RUN_DIR/decap-$1.stats" 2>/dev/null || echo 0; }
# rx NS DEV: packets written into a real server's TUN device
rx() { ns_exec "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }
counter() { rvsadm --counters | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
# udp_csum_errors NS: the kernel's Udp InCsumErrors (a bad UDP checksum dropped)
udp_csum_errors() { ns_exec "$1" awk '$1 == "Udp:" && !h {h = 1; for (i = 1; i <= NF; i++) c[$i] = i; next}
  $1 == "Udp:" {print $c["InCsumErrors"]}' /proc/net/snmp; }
# no_drops MODE: the decapsulator dropped nothing
no_drops() {
  local n
  for n in drop-short drop-gue-header drop-gue-proto drop-gre-header drop-gre-csum drop-inner-bad drop-write; do
    assert_eq 0 "$(decap "$1" "$n")" "$1 decapsulator $n"
  done
}

# ---------------------------------------------------------------------------------- a
# rr over rs1 (GUE, UDP checksum) and rs2 (GRE, GRE checksum): 10 requests alternate, and
# each server's requests came through its own tunnel (its TUN device counts them; the IPIP
# decapsulator's device none).
case_a_rr() {
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -i --tun-type gue --tun-port "$GUE_PORT" --tun-csum
  rvsadm -a -t "$VIP:80" -r "$RS2:80" -i --tun-type gre --tun-csum
  local out g0 r0 i1 i2 g r
  g0="$(rx rs1 "$GUE_DEV")"; r0="$(rx rs2 "$GRE_DEV")"
  i1="$(rx rs1 "$DIRECT_TUN_DEV")"; i2="$(rx rs2 "$DIRECT_TUN_DEV")"
  out="$(curl_many c 10 "http://$VIP/")"
  log "10 requests: $(tr '\n' ' ' <<<"$out")"
  assert_eq 5 "$(count_lines "$out" rs1)" "requests answered by rs1 (GUE)"
  assert_eq 5 "$(count_lines "$out" rs2)" "requests answered by rs2 (GRE)"
  g=$(( $(rx rs1 "$GUE_DEV") - g0 )); r=$(( $(rx rs2 "$GRE_DEV") - r0 ))
  log "inner packets decapsulated: rs1 GUE $g, rs2 GRE $r"
  if [ "$g" -lt 20 ] || [ "$r" -lt 20 ]; then warn "too few packets came through the tunnels"; return 1; fi
  assert_eq "$i1" "$(rx rs1 "$DIRECT_TUN_DEV")" "nothing came to rs1 by IPIP"
  assert_eq "$i2" "$(rx rs2 "$DIRECT_TUN_DEV")" "nothing came to rs2 by IPIP"
  sleep 0.3   # the decapsulators' stats files catch up
  assert_eq 0 "$(decap gue no-csum)" "GUE datagrams without a UDP checksum (--tun-csum)"
  assert_eq 0 "$(decap gre no-csum)" "GRE packets without a checksum (--tun-csum)"
  if [ "$(decap gre with-csum)" -lt 20 ]; then warn "the GRE checksums were not seen"; return 1; fi
  no_drops gue
  no_drops gre
}

# ---------------------------------------------------------------------------------- b
# The listing with --tun-info, whole, and -S, as ipvsadm 1.31 prints them.
case_b_list() {
  local out want
  out="$(rvsadm -Ln --tun-info)"
  printf '%s\n' "$out" | sed 's/^/    Ln| /'
  want="$(printf '%s\n' \
    "IP Virtual Server version 1.2.1 (size=4096)" \
    "Prot LocalAddress:Port Scheduler Flags" \
    "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn" \
    "TCP  198.18.1.100:80 rr" \
    "  -> 198.18.1.11:80               Tunnel  gue:6080:+c   1      0          5         " \
    "  -> 198.18.1.12:80               Tunnel  gre:+c        1      0          5         ")"
  assert_eq "$want" "$out" "rvsadm -Ln --tun-info"
  out="$(rvsadm -Sn)"
  assert_contains "$out" "-a -t 198.18.1.100:80 -r 198.18.1.11:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum" "-Sn: rs1"
  assert_contains "$out" "-a -t 198.18.1.100:80 -r 198.18.1.12:80 -i -w 1 --tun-type gre --tun-csum" "-Sn: rs2"
  # What ipvsadm itself refuses, with its text and status 2; the rules stay.
  local rc=0 err
  err="$(rvsadm -e -t "$VIP:80" -r "$RS1:80" -i --tun-type gue 2>&1)" || rc=$?
  assert_eq 2 "$rc" "gue without --tun-port: exit status"
  assert_contains "$err" "You need to supply the 'tun-port' option for the 'gue' tunnel type" "its message"
  rc=0; err="$(rvsadm -e -t "$VIP:80" -r "$RS2:80" -g --tun-csum 2>&1)" || rc=$?
  assert_eq 2 "$rc" "a tunnel option with -g: exit status"
  assert_contains "$err" "Tunnel options conflict with forward method" "its message"
  assert_eq "$want" "$(rvsadm -Ln --tun-info)" "the rules unchanged"
}

# ---------------------------------------------------------------------------------- c
# The 20 MB download through each tunnel (the other server at weight 0): intact, and the
# replies bypass the director.
case_c_big() {
  local e0; e0="$(udp_csum_errors rs1)"
  rvsadm -e -t "$VIP:80" -r "$RS2:80" -i --tun-type gre --tun-csum -w 0
  direct_download GUE
  rvsadm -e -t "$VIP:80" -r "$RS2:80" -i --tun-type gre --tun-csum -w 1
  rvsadm -e -t "$VIP:80" -r "$RS1:80" -i --tun-type gue --tun-port "$GUE_PORT" --tun-csum -w 0
  direct_download GRE
  rvsadm -e -t "$VIP:80" -r "$RS1:80" -i --tun-type gue --tun-port "$GUE_PORT" --tun-csum -w 1
  assert_eq "$e0" "$(udp_csum_errors rs1)" "rs1's kernel found no bad UDP checksum"
  no_drops gue
  no_drops gre
}

# ---------------------------------------------------------------------------------- d
# --tun-nocsum (and an -e of a live server): GUE datagrams go with UDP checksum 0, GRE
# headers without the C bit; remcsum sends what csum sends (the packets came with their
# checksums complete: the kernel adds the remote checksum option only to partial ones).
case_d_nocsum() {
  rvsadm -e -t "$VIP:80" -r "$RS1:80" -i --tun-type gue --tun-port "$GUE_PORT" --tun-nocsum
  rvsadm -e -t "$VIP:80" -r "$RS2:80" -i --tun-type gre --tun-nocsum
  sleep 0.3
  local gn0 gc0 rn0 rc0 out
  gn0="$(decap gue no-csum)"; gc0="$(decap gue with-csum)"
  rn0="$(decap gre no-csum)"; rc0="$(decap gre with-csum)"
  out="$(curl_many c 6 "http://$VIP/")"
  assert_eq 3 "$(count_lines "$out" rs1)" "nocsum: requests answered by rs1 (GUE)"
  assert_eq 3 "$(count_lines "$out" rs2)" "nocsum: requests answered by rs2 (GRE)"
  sleep 0.3
  log "GUE no-csum +$(( $(decap gue no-csum) - gn0 )) with-csum +$(( $(decap gue with-csum) - gc0 )); GRE no-csum +$(( $(decap gre no-csum) - rn0 )) with-csum +$(( $(decap gre with-csum) - rc0 ))"
  assert_eq "$gc0" "$(decap gue with-csum)" "no GUE datagram with a checksum"
  assert_eq "$rc0" "$(decap gre with-csum)" "no GRE packet with a checksum"
  if [ "$(decap gue no-csum)" -le "$gn0" ] || [ "$(decap gre no-csum)" -le "$rn0" ]; then
    warn "the nocsum packets were not seen"; return 1
  fi
  rvsadm -e -t "$VIP:80" -r "$RS1:80" -i --tun-type gue --tun-port "$GUE_PORT" --tun-remcsum
  assert_contains "$(rvsadm -Ln --tun-info)" "Tunnel  gue:6080:r+c  1" "-Ln --tun-info: remcsum"
  gc0="$(decap gue with-csum)"
  out="$(curl_many c 2 "http://$VIP/")"
  assert_eq 1 "$(count_lines "$out" rs1)" "remcsum: a request answered by rs1"
  sleep 0.3
  if [ "$(decap gue with-csum)" -le "$gc0" ]; then warn "remcsum: no UDP checksum"; return 1; fi
  no_drops gue
  no_drops gre
}

# ---------------------------------------------------------------------------------- e
# MTU: a GUE tunnel costs 20 + 8 + 4 bytes: the client's full-size DF segments get
# "fragmentation needed" with MTU 1468, and the upload completes intact.
upload_size() { stat -c %s "$DIRECT_UPLOAD_DIR/rs1.bin" 2>/dev/null || echo 0; }
upload_done() { [ "$(upload_size)" = "$1" ]; }
case_e_mtu() {
  rvsadm -A -t "$VIP:9000" -s rr
  rvsadm -a -t "$VIP:9000" -r "$RS1:9000" -i --tun-type gue --tun-port "$GUE_PORT"
  local src="$RUN_DIR/upload.src" size=$((4 * 1024 * 1024)) fn0 fn1 rc=0 route
  head -c "$size" /dev/urandom >"$src"
  rm -f "$DIRECT_UPLOAD_DIR/rs1.bin"
  ns_exec c ip route flush cache || true
  fn0="$(counter icmp-frag-needed-sent)"
  ns_exec c timeout 60 socat -u "OPEN:$src" "TCP4:$VIP:9000,connect-timeout=3" || rc=$?
  wait_until 30 upload_done "$size" || true
  fn1="$(counter icmp-frag-needed-sent)"
  route="$(ns_exec c ip route get "$VIP" | tr -s ' \n' ' ')"
  log "upload: $(upload_size) of $size bytes at rs1; icmp-frag-needed-sent $fn0 -> $fn1; client route: $route"
  assert_eq 0 "$rc" "client socat exit status"
  assert_eq "$size" "$(upload_size)" "uploaded size at rs1"
  assert_eq "$(sha256sum <"$src" | cut -d' ' -f1)" "$(sha256sum <"$DIRECT_UPLOAD_DIR/rs1.bin" | cut -d' ' -f1)" "sha256 of the upload"
  if [ "$fn1" -le "$fn0" ]; then warn "icmp-frag-needed-sent did not grow ($fn0 -> $fn1)"; return 1; fi
  assert_contains "$route" "mtu 1468" "the client learnt the path MTU less GUE's 32 bytes"
}

# ---------------------------------------------------------------------------------- f
# The config file's keys (tun_type, tun_port, tun_checksum) say what the options say.
case_f_config() {
  cat >>"$DIRECT_CONFIG" <<EOF

[[service]]
tcp = "$VIP:80"
scheduler = "rr"
[[service.real]]
address = "$RS1:80"
method = "tunnel"
tun_type = "gue"
tun_port = $GUE_PORT
tun_checksum = "csum"
[[service.real]]
address = "$RS2:80"
method = "tunnel"
tun_type = "gre"
EOF
  rvsadm --reload >/dev/null
  local out
  out="$(rvsadm -Ln --tun-info -t "$VIP:80")"
  printf '%s\n' "$out" | sed 's/^/    Ln| /'
  assert_match "$(grep -F -- '-> 198.18.1.11:80' <<<"$out")" '^  -> 198\.18\.1\.11:80 +Tunnel  gue:6080:\+c   1 ' "rs1 from the file"
  assert_match "$(grep -F -- '-> 198.18.1.12:80' <<<"$out")" '^  -> 198\.18\.1\.12:80 +Tunnel  gre:-c        1 ' "rs2 from the file"
  out="$(curl_many c 4 "http://$VIP/")"
  assert_eq 2 "$(count_lines "$out" rs1)" "config: requests answered by rs1 (GUE)"
  assert_eq 2 "$(count_lines "$out" rs2)" "config: requests answered by rs2 (GRE)"
  # A file ipvsadm's rules refuse is refused whole, the running rules kept.
  local bad="$RUN_DIR/bad.toml" rc=0
  sed 's/^tun_port = .*//' "$DIRECT_CONFIG" >"$bad"
  "$RVS_BIN" --config "$bad" --check >"$RUN_DIR/check.out" 2>&1 || rc=$?
  [ "$rc" != 0 ] || { warn "--check accepted gue without tun_port"; return 1; }
  assert_contains "$(cat "$RUN_DIR/check.out")" "a gue tunnel needs a tunnel port" "--check names the fault"
}

run_case "a. rr over GUE (rs1) and GRE (rs2): 10 requests alternate, each through its tunnel" case_a_rr
run_case "b. -Ln --tun-info and -Sn literally; ipvsadm's refusals" case_b_list
run_case "c. 20 MB download through GUE, then GRE: sha256, replies bypass the director" case_c_big
run_case "d. --tun-nocsum: no checksums; --tun-remcsum: the UDP checksum" case_d_nocsum
run_case "e. MTU: frag-needed with 1468 for GUE, 4 MB upload intact" case_e_mtu
run_case "f. [[service.real]] tun_type/tun_port/tun_checksum, by a reload" case_f_config
if stop_rvs; then pass "k. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "k. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
finish
