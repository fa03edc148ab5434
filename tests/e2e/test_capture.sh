#!/usr/bin/env bash
# tests/e2e/test_capture.sh: `rvsadm --capture IFACE -w FILE [--count N] [--filter EXPR]`.
# tcpdump sees nothing of an interface rvs owns (AF_XDP takes the frames first), so rvs
# captures itself; the file is read back with the real tcpdump (and tshark when installed).
# Lab: tests/e2e/topo_nat.sh, one NAT service VIP:80 -> rs1 (rs1 serves the 20 MB file).
# Every capture ends by its count, a SIGINT from its case or rvs's stop; every curl has a
# --max-time: the lab is bounded.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
CLIENT="$NAT_CLIENT"

command -v tcpdump >/dev/null || die "tcpdump is missing (scripts/setup installs it)"

topo_nat
start_rvs "$NAT_CONFIG"
rvsadm -A -t "$VIP:80" -s rr
rvsadm -a -t "$VIP:80" -r "$RS1:80" -m

# capture_bg NAME ARGS...: `rvsadm --capture ARGS...` in the background (its stderr in
# $RUN_DIR/NAME.err), once it says it captures; CAPTURE_PID is rvsadm's pid. A capture ends by
# its --count, by a SIGINT (Ctrl-C) from the case, or at the latest when rvs stops (the exit
# trap stops it): rvsadm ends when its socket closes.
capture_bg() {
  local name="$1"; shift
  "$RVSADM_BIN" --socket "$RVS_SOCK" --capture "$@" 2>"$RUN_DIR/$name.err" &
  CAPTURE_PID=$!
  wait_until 10 grep -q "capturing on" "$RUN_DIR/$name.err" || {
    warn "rvsadm --capture $* did not start:"; cat "$RUN_DIR/$name.err" >&2; return 1; }
}

# capture_end SECS: waits up to SECS for the background capture; CAPTURE_RC is its exit
# status (set here, not printed: only this shell can wait for its child).
capture_end() {
  wait_until "$1" eval "! kill -0 $CAPTURE_PID" || { warn "the capture is still running after $1 s"; return 1; }
  CAPTURE_RC=0
  wait "$CAPTURE_PID" || CAPTURE_RC=$?
}

# download FILE: the 20 MB file through the VIP into FILE; checks its sha256.
download() {
  CURL_MAX_TIME=60 ns_curl c -o "$1" "http://$VIP/big.bin"
  assert_eq "$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)" "$(sha256sum <"$1" | cut -d' ' -f1)" \
    "sha256 of the download made during the capture"
  rm -f "$1"
}

# read_back FILE: the file as tcpdump reads it (no names, absolute sequence numbers, no times).
read_back() { tcpdump -nn -S -t -r "$1" 2>/dev/null; }

# ---------------------------------------------------------------------------------- a
# During a download: 200 frames of port 80 on the client side (d-out), each one to or from
# the VIP (received before the rewrite, or sent after it), none with the real server's address.
case_a_count_on_the_client_side() {
  local f="$RUN_DIR/a.pcap" out n
  capture_bg a d-out -w "$f" --count 200 --filter 'tcp port 80'
  download "$RUN_DIR/a.download"
  capture_end 20
  assert_eq 0 "$CAPTURE_RC" "rvsadm's exit status"
  assert_contains "$(cat "$RUN_DIR/a.err")" "200 packets captured"
  out="$(read_back "$f")"
  assert_eq 200 "$(wc -l <<<"$out")" "records tcpdump reads back"
  assert_eq 200 "$(grep -c "$VIP\.80" <<<"$out")" "records with the VIP's port 80"
  assert_eq 0 "$(grep -c "$RS1" <<<"$out" || true)" "records with the real server's address on d-out"
  n="$(grep -c "^IP $CLIENT\.[0-9]* > $VIP\.80:" <<<"$out" || true)"
  [ "$n" -gt 0 ] || { warn "no client-to-VIP frame (received)"; return 1; }
  n="$(grep -c "^IP $VIP\.80 > $CLIENT\.[0-9]*:" <<<"$out" || true)"
  [ "$n" -gt 0 ] || { warn "no VIP-to-client frame (sent after the reply's rewrite)"; return 1; }
  log "d-out, tcp port 80: 200 records; $(head -n1 <<<"$out")"
  if command -v tshark >/dev/null; then
    assert_eq 200 "$(tshark -n -r "$f" 2>/dev/null | wc -l)" "records tshark reads back"
  else
    log "tshark is not installed: tcpdump only"
  fi
}

# ---------------------------------------------------------------------------------- b
# `any`: both sides in one file, each of the client's segments to the VIP also sent to the
# real server after the rewrite, and the server's replies also sent from the VIP.
case_b_any_before_and_after_the_rewrite() {
  local f="$RUN_DIR/b.pcap" out line pairs_in=0 pairs_out=0
  capture_bg b any -w "$f" --count 400 --filter 'tcp port 80'
  download "$RUN_DIR/b.download"
  capture_end 20
  assert_eq 0 "$CAPTURE_RC" "rvsadm's exit status"
  out="$(read_back "$f")"
  assert_eq 400 "$(wc -l <<<"$out")" "records tcpdump reads back"
  assert_contains "$out" "$VIP.80" "the client side"
  assert_contains "$out" "$RS1.80" "the real server's side"
  while IFS= read -r line; do
    case "$line" in
      "IP $CLIENT."*" > $VIP.80:"*)
        grep -qxF "${line/ > $VIP.80:/ > $RS1.80:}" <<<"$out" && pairs_in=$((pairs_in + 1)) ;;
      "IP $RS1.80 > $CLIENT."*)
        grep -qxF "${line/IP $RS1.80 >/IP $VIP.80 >}" <<<"$out" && pairs_out=$((pairs_out + 1)) ;;
    esac
  done <<<"$out"
  log "any: $pairs_in client segments seen to the VIP and again to $RS1; $pairs_out replies from $RS1 and again from the VIP"
  [ "$pairs_in" -gt 0 ] && [ "$pairs_out" -gt 0 ] || { warn "no frame seen both before and after its rewrite"; return 1; }
}

# ---------------------------------------------------------------------------------- c
# The server side (d-in): the real server's address, never the VIP.
case_c_server_side() {
  local f="$RUN_DIR/c.pcap" out
  capture_bg c d-in -w "$f" --count 50 --filter "host $RS1"
  download "$RUN_DIR/c.download"
  capture_end 20
  assert_eq 0 "$CAPTURE_RC" "rvsadm's exit status"
  out="$(read_back "$f")"
  assert_eq 50 "$(grep -c "$RS1\.80" <<<"$out")" "records with the real server's port 80"
  assert_eq 0 "$(grep -c "$VIP" <<<"$out" || true)" "records with the VIP on d-in"
}

# ---------------------------------------------------------------------------------- d
# A filter that matches nothing captures nothing; without --count it runs until Ctrl-C,
# which ends it cleanly: status 0, a valid file of no records.
case_d_nothing_matches_until_ctrl_c() {
  local f="$RUN_DIR/d.pcap" out
  capture_bg d any -w "$f" --filter 'udp port 9'
  out="$(curl_many c 5 "http://$VIP/")"
  assert_eq 5 "$(count_lines "$out" rs1)" "requests answered during the capture"
  kill -INT "$CAPTURE_PID"
  capture_end 10
  assert_eq 0 "$CAPTURE_RC" "rvsadm's exit status after Ctrl-C"
  assert_contains "$(cat "$RUN_DIR/d.err")" "0 packets captured"
  assert_eq 24 "$(stat -c %s "$f")" "a pcap file header and nothing else"
  assert_eq "" "$(read_back "$f")" "records"
  tcpdump -r "$f" >/dev/null 2>&1 || { warn "tcpdump cannot read the empty capture"; return 1; }
}

# ---------------------------------------------------------------------------------- e
# Refusals: a bad filter, an interface rvs does not own, a missing -w: status 2, a clear
# message, no file, and everything as before (forwarding, and the next capture starts). A
# file rvsadm cannot create: status 1, before rvs is asked.
case_e_refusals_change_nothing() {
  local f="$RUN_DIR/e.pcap" rc err
  rc=0; err="$(timeout 10 "$RVSADM_BIN" --socket "$RVS_SOCK" --capture d-out -w "$f" --filter 'tcp prt 80' 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status for a bad filter"
  assert_eq "rvsadm: --filter 'tcp prt 80': can't parse filter expression: syntax error" "$err"
  [ ! -e "$f" ] || { warn "a refused capture created $f"; return 1; }
  rc=0; err="$(timeout 10 "$RVSADM_BIN" --socket "$RVS_SOCK" --capture eth9 -w "$f" 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status for an interface rvs does not own"
  assert_eq "rvsadm: --capture: rvs owns no interface 'eth9' (it owns d-in, d-out; any: all of them)" "$err"
  rc=0; err="$(timeout 10 "$RVSADM_BIN" --socket "$RVS_SOCK" --capture d-out 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status without -w"
  assert_eq "rvsadm: --capture: -w FILE is required (a pcap file; - for standard output)" "$err"
  [ ! -e "$f" ] || { warn "a refused capture created $f"; return 1; }
  rc=0; err="$(timeout 10 "$RVSADM_BIN" --socket "$RVS_SOCK" --capture d-out -w "$RUN_DIR/no-such-dir/e.pcap" 2>&1)" || rc=$?
  assert_eq 1 "$rc" "exit status for a file rvsadm cannot create"
  assert_eq "rvsadm: $RUN_DIR/no-such-dir/e.pcap: No such file or directory (os error 2)" "$err"
  assert_eq rs1 "$(ns_curl c "http://$VIP/")" "forwarding after the refusals"
  capture_bg e d-out -w "$f" --count 1 --filter "tcp port 80"
  assert_eq rs1 "$(ns_curl c "http://$VIP/")"
  capture_end 10
  assert_eq 0 "$CAPTURE_RC" "the next capture's exit status"
  assert_eq 1 "$(read_back "$f" | wc -l)" "records"
}

# ---------------------------------------------------------------------------------- f
# `-w -`: the file on standard output, straight into tcpdump. On `any`, one connection's SYN
# is received on d-out and sent on d-in, its SYN-ACK received on d-in and sent on d-out.
case_f_stdout_into_tcpdump() {
  local out
  ( sleep 1; ns_curl c "http://$VIP/" >/dev/null ) &
  out="$(timeout 30 "$RVSADM_BIN" --socket "$RVS_SOCK" --capture any -w - --count 4 \
    --filter "tcp[tcpflags] & tcp-syn != 0" 2>/dev/null | tcpdump -nn -t -r - 2>/dev/null)"
  wait
  assert_eq 4 "$(wc -l <<<"$out")" "SYN and SYN-ACK, as received and as sent"
  assert_eq 2 "$(grep -c 'Flags \[S\]' <<<"$out")" "the client's SYN, in and out"
  assert_eq 2 "$(grep -c 'Flags \[S\.\]' <<<"$out")" "the server's SYN-ACK, in and out"
}

# ---------------------------------------------------------------------------------- g
# One capture at a time: a second is refused (status 1) and the first goes on.
case_g_one_at_a_time() {
  local f="$RUN_DIR/g.pcap" rc err
  capture_bg g d-out -w "$f" --filter "tcp port 80"
  rc=0; err="$(timeout 10 "$RVSADM_BIN" --socket "$RVS_SOCK" --capture d-in -w "$RUN_DIR/g2.pcap" 2>&1)" || rc=$?
  assert_eq 1 "$rc" "a second capture's exit status"
  assert_eq "rvsadm: --capture: a capture is already running (one at a time)" "$err"
  assert_eq rs1 "$(ns_curl c "http://$VIP/")"
  kill -INT "$CAPTURE_PID"
  capture_end 10
  assert_eq 0 "$CAPTURE_RC" "the first capture's exit status"
  [ "$(read_back "$f" | wc -l)" -ge 6 ] || { warn "the first capture lost its frames"; return 1; }
}

run_case "a: --count 200 'tcp port 80' on d-out during a 20 MB download" case_a_count_on_the_client_side
run_case "b: any: the same frames before and after the NAT rewrite" case_b_any_before_and_after_the_rewrite
run_case "c: d-in: the real server's side only" case_c_server_side
run_case "d: a filter that matches nothing, ended by Ctrl-C" case_d_nothing_matches_until_ctrl_c
run_case "e: a bad filter, an unknown interface, no -w: status 2, nothing changed" case_e_refusals_change_nothing
run_case "f: -w - into tcpdump -r -" case_f_stdout_into_tcpdump
run_case "g: one capture at a time" case_g_one_at_a_time
finish
