#!/usr/bin/env bash
# tests/e2e/test_umem.sh: rvs's AF_XDP shell on the NAT lab (tests/e2e/topo_nat.sh, two veths
# of 2 queues each): one UMEM per poll loop shared by every socket of both interfaces, so a
# frame received on d-out leaves by d-in without a copy; every UMEM frame accounted for when
# the loop stops; the real-NIC options (busy polling, zero-copy falling back to copy on veth)
# set and read back; bad option values refused at start and on reload, a valid change said to
# wait for the next start; native XDP mode on veth.
# Bounded: one 20 MB download and a few requests per rvs run.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
# Two queues on each of the director's veths: four sockets on the one UMEM (xsk-rs issue #20 was
# ENOMEM for a queue > 0 on a shared UMEM).
TOPO_VETH_ARGS="numrxqueues 2 numtxqueues 2"
topo_nat

# The lab's config with the real-NIC options: busy polling on every socket, zero-copy asked for.
OPTS_CONFIG="$RUN_DIR/rvs-opts.toml"
sed -e 's/^\[dataplane\]$/[dataplane]\nbusy_poll_budget = 64/' \
    -e 's/^xdp_mode = .*/&\nzerocopy = "try"/' "$NAT_CONFIG" >"$OPTS_CONFIG"
NATIVE_CONFIG="$RUN_DIR/rvs-native.toml"
sed -e 's/^xdp_mode = .*/xdp_mode = "native"/' "$NAT_CONFIG" >"$NATIVE_CONFIG"

services() {
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$NAT_RS1:80" -m
  rvsadm -a -t "$VIP:80" -r "$NAT_RS2:80" -m
}

download() {   # the 20 MB file through the VIP, checked by sha256
  local dl="$RUN_DIR/big.download"
  rm -f "$dl"
  CURL_MAX_TIME=60 ns_curl c -o "$dl" "http://$VIP/big.bin"
  assert_eq "$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)" "$(sha256sum <"$dl" | cut -d' ' -f1)" "sha256 through the VIP"
}

# The stop line of every poll loop: frames moved and copied, drops by reason, UMEM accounted.
check_stop_line() {
  local line moved acc total
  line="$(grep 'poll loop 0 stopped' "$RVS_LOG")" || { warn "no stop line in the log"; return 1; }
  log "$line"
  moved="$(sed -n 's/.*(\([0-9]*\) frames transmitted as received.*/\1/p' <<<"$line")"
  acc="$(sed -n 's/.*UMEM frames accounted \([0-9]*\) of \([0-9]*\).*/\1/p' <<<"$line")"
  total="$(sed -n 's/.*UMEM frames accounted \([0-9]*\) of \([0-9]*\).*/\2/p' <<<"$line")"
  assert_eq "$total" "$acc" "UMEM frames accounted when the loop stopped"
  [ "${moved:-0}" -gt 15000 ] || { warn "only ${moved:-0} frames transmitted without a copy"; return 1; }
}

# ---------------------------------------------------------------------------------- a
case_a_shared_umem() {
  local bound
  bound="$(grep -c 'AF_XDP socket bound (generic mode, copy, shared UMEM of 16384 frames)' "$RVS_LOG" || true)"
  assert_eq 4 "$bound" "sockets of d-out and d-in (2 queues each) on one UMEM of 4 x 4096 frames"
}

case_b_options_read_back() {
  log "$(grep -m1 'd-in queue 1: AF_XDP socket bound' "$RVS_LOG")"
  assert_eq 4 "$(grep -c 'zero-copy refused by the driver: copy mode' "$RVS_LOG" || true)" \
    "zero-copy asked, veth refused it, copy mode taken, on every socket"
  assert_eq 4 "$(grep -c 'busy poll read back: prefer 1 usec 20 budget 64' "$RVS_LOG" || true)" \
    "SO_PREFER_BUSY_POLL, SO_BUSY_POLL, SO_BUSY_POLL_BUDGET read back with getsockopt on every socket"
}

case_c_traffic() {
  services
  download
  assert_match "$(ns_curl c "http://$VIP/")" '^rs[12]$' "a request after the download"
}

# A bad value is refused at start naming the key, and on reload with the running rules kept.
case_d_bad_values() {
  local bad="$RUN_DIR/bad.toml" rc out v
  for v in 'busy_poll_budget = 0' 'busy_poll_budget = 5000' 'busy_poll_usec = 5'; do
    sed -e "s/^\[dataplane\]\$/[dataplane]\n$v/" "$NAT_CONFIG" >"$bad"
    rc=0; out="$("$RVS_BIN" --config "$bad" 2>&1)" || rc=$?
    assert_eq 2 "$rc" "exit status for '$v'"
    assert_contains "$out" "dataplane.busy_poll_" "the message names the key ($v)"
  done
  sed -e 's/^xdp_mode = .*/&\nzerocopy = "always"/' "$NAT_CONFIG" >"$bad"
  rc=0; out="$("$RVS_BIN" --config "$bad" 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status for zerocopy = \"always\""
  assert_contains "$out" "interface[0].zerocopy: 'always' is not one of try, off, kernel"
  # Reload: the running file replaced by a bad one, refused, the service still served.
  cp "$OPTS_CONFIG" "$RUN_DIR/opts.saved"
  sed -e 's/^busy_poll_budget = 64/busy_poll_budget = 0/' "$RUN_DIR/opts.saved" >"$OPTS_CONFIG"
  rc=0; out="$(rvsadm --reload 2>&1)" || rc=$?
  cp "$RUN_DIR/opts.saved" "$OPTS_CONFIG"
  [ "$rc" != 0 ] || { warn "a reload with busy_poll_budget = 0 was accepted"; return 1; }
  assert_contains "$out" "dataplane.busy_poll_budget" "the reload's refusal names the key"
  assert_contains "$(rvsadm -Ln)" "198.18.0.100:80" "the running service is kept"
  assert_match "$(ns_curl c "http://$VIP/")" '^rs[12]$' "and still answers"
}

# A valid change of a socket option on reload: the rules are applied, and the answer says the
# sockets keep what they were bound with until the next start (they are not rebound live).
case_d2_reload_says_restart() {
  local rc out
  cp "$OPTS_CONFIG" "$RUN_DIR/opts.saved"
  sed -e 's/^busy_poll_budget = 64/busy_poll_budget = 32/' -e 's/^zerocopy = "try"/zerocopy = "off"/' \
    "$RUN_DIR/opts.saved" >"$OPTS_CONFIG"
  rc=0; out="$(rvsadm --reload 2>&1)" || rc=$?
  cp "$RUN_DIR/opts.saved" "$OPTS_CONFIG"
  log "$out"
  assert_eq 0 "$rc" "a reload with busy_poll_budget = 32 and zerocopy = off is accepted"
  assert_contains "$out" "[dataplane] changes need a restart" "the answer says the busy-poll change waits for a restart"
  assert_contains "$out" "xdp_mode, queues and zerocopy changes need a restart" "and the zero-copy change too"
  # A reload changes only what the file names (issue 15): the service rvsadm added stays.
  assert_eq "TCP  198.18.0.100:80 rr" "$(rvsadm -Ln | grep "$VIP" | sed 's/ *$//' || true)" "the service added at run time kept"
  assert_match "$(ns_curl c "http://$VIP/")" '^rs[12]$' "the sockets bound at start still forward"
}

start_rvs "$OPTS_CONFIG"
run_case "a. both interfaces' sockets on one UMEM per loop" case_a_shared_umem
run_case "b. busy poll and zero-copy fallback read back from the kernel" case_b_options_read_back
run_case "c. 20 MB through the VIP, d-out to d-in on one UMEM" case_c_traffic
run_case "d. bad option values refused at start and on reload" case_d_bad_values
run_case "d2. a valid socket option change on reload: applied at the next start, said so" case_d2_reload_says_restart
if stop_rvs; then pass "e. SIGTERM: rvs stopped"; else fail "e. SIGTERM: rvs stopped"; fi
run_case "f. every UMEM frame accounted, frames forwarded without a copy" check_stop_line

start_rvs "$NATIVE_CONFIG"
case_g_native() {
  assert_eq 4 "$(grep -c 'AF_XDP socket bound (native mode' "$RVS_LOG" || true)" "sockets bound in native mode"
  services
  download
}
run_case "g. native XDP mode on veth: 20 MB through the VIP" case_g_native
if stop_rvs; then pass "h. SIGTERM: rvs stopped (native)"; else fail "h. SIGTERM: rvs stopped (native)"; fi
run_case "i. native: every UMEM frame accounted" check_stop_line

# The smallest UMEM the config takes (frames = 64: rings of 32, 256 frames for the loop's four
# sockets) with the default batch of 64: more frames can be queued in a pass than a TX ring
# holds. Traffic still passes, drops are counted by reason, and every frame is accounted for.
SMALL_CONFIG="$RUN_DIR/rvs-small.toml"
sed -e 's/^\[dataplane\]$/[dataplane]\nframes = 64/' "$NAT_CONFIG" >"$SMALL_CONFIG"
start_rvs "$SMALL_CONFIG"
case_j_small_umem() {
  assert_eq 4 "$(grep -c 'shared UMEM of 256 frames' "$RVS_LOG" || true)" "four sockets on a UMEM of 4 x 64 frames"
  services
  download
}
run_case "j. frames = 64: 20 MB through the VIP" case_j_small_umem
if stop_rvs; then pass "k. SIGTERM: rvs stopped (small UMEM)"; else fail "k. SIGTERM: rvs stopped (small UMEM)"; fi
check_small_stop() {
  local line
  line="$(grep 'poll loop 0 stopped' "$RVS_LOG")" || { warn "no stop line in the log"; return 1; }
  log "$line"
  assert_match "$line" 'UMEM frames accounted ([0-9]+) of \1;' "every frame accounted, ring-full drops included"
}
run_case "l. small UMEM: drops counted by reason, every frame accounted" check_small_stop
finish
