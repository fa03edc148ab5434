#!/usr/bin/env bash
# tests/e2e/test_hostile.sh: rvs under hostile traffic.  The NAT lab (tests/e2e/topo_nat.sh)
# with `xdp_program = "libxdp"` (rvs sees every frame, IPv6 and garbage included) and a small
# connection table (`connections = 2000`).  Frames come from tests/e2e/hostile_frames.py
# (scapy, raw AF_PACKET in the client namespace, to the director's MAC, 198.18.0.0/15 only).
# Cases: every malformed kind is dropped under its own counter, exactly; a bounded flood of
# them during a 20 MB download leaves the download intact and rvs serving; impossible
# fragments are dropped and counted, incomplete ones time out, a fragmented ping is answered;
# a bounded SYN flood from random 198.18.64.0/18 sources never grows the table past its bound,
# keeps rvs's memory flat, counts the refused SYNs, and leaves an established download intact;
# new connections during that flood are reported.
# g: TCP/UDP headers whose lengths lie (data offset 15 in 20 bytes, UDP length 300 in 12 bytes,
# UDP length 0) are dropped under their own counters, create no entry and reach no real server.
# h: RSTs spoofed from the client side as the real server's replies (src = real server ip:port,
# dst = client ip:port) during a live download are dropped (drop-reply-wrong-interface), leave
# the entry ESTABLISHED and the download intact.
# HOSTILE_CASES="g h" runs only those cases (default: all).
# Every flood is bounded in frames and seconds.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
TABLE=2000

PY="$(scapy_python)" || die "no python3 with scapy"
FRAMES="$E2E_DIR/hostile_frames.py"
KINDS="$("$PY" "$FRAMES" list)"   # "KIND COUNTER" lines

topo_nat
# [dataplane] keys: into the existing section if the lab wrote one, else a new section.
dataplane_keys() {   # CONFIG LINE...
  local cfg="$1"; shift
  if grep -q '^\[dataplane\]' "$cfg"; then
    local l; for l in "$@"; do sed -i "/^\[dataplane\]/a $l" "$cfg"; done
  else
    printf '\n[dataplane]\n' >>"$cfg"; printf '%s\n' "$@" >>"$cfg"
  fi
}
dataplane_keys "$NAT_CONFIG" 'xdp_program = "libxdp"' "connections = $TABLE"
start_rvs "$NAT_CONFIG"
DMAC="$(ns_exec d cat /sys/class/net/d-out/address)"
rvsadm -A -t "$VIP:80" -s rr
rvsadm -a -t "$VIP:80" -r "$RS1:80" -m
rvsadm -a -t "$VIP:80" -r "$RS2:80" -m
rvsadm -A -u "$VIP:5353" -s rr
rvsadm -a -u "$VIP:5353" -r "$RS1:5353" -m

hostile() { ns_exec c "$PY" "$FRAMES" --iface eth0 --dst-mac "$DMAC" --vip "$VIP" "$@"; }
# counter NAME: rvs's frame counter NAME (0 when not listed)
counter() { rvsadm --counters | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
counters_snapshot() { rvsadm --counters >"$1"; }
delta() {   # BEFORE-FILE AFTER-FILE NAME
  local b a
  b="$(awk -v n="$3" '$1 == n {v = $2} END {print v + 0}' "$1")"
  a="$(awk -v n="$3" '$1 == n {v = $2} END {print v + 0}' "$2")"
  echo $((a - b))
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$RVS_PID/status"; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }
# packets the services took in (every service's InPkts): what reached a real server
svc_inpkts() { rvsadm -Ln --stats --exact | awk '$1 == "TCP" || $1 == "UDP" {s += $4} END {print s + 0}'; }
# conn_of ADDR:PORT: the -Lnc line whose client is ADDR:PORT (empty if none)
conn_of() { rvsadm -Lnc | awk -v c="$1" '$4 == c'; }
wanted() { [ -z "${HOSTILE_CASES:-}" ] || [[ " $HOSTILE_CASES " == *" $1 "* ]]; }

# ---------------------------------------------------------------------------------- a
# Each kind sent 5 times, slowly, with no other traffic: every counter moves by exactly what
# its kinds should add.  Kinds the kernel refused to send (oversize) are left out.
case_a_exact() {
  local before="$RUN_DIR/a.before" after="$RUN_DIR/a.after" out kind n counter want got bad=0
  counters_snapshot "$before"
  # random-garbage lands wherever its random bytes say: not part of the exact count
  out="$(hostile once --kinds "$(awk '$1 != "random-garbage" {print $1}' <<<"$KINDS" | paste -sd,)" \
    --repeat 5 --rate 400 --duration 20)"
  sleep 0.5
  counters_snapshot "$after"
  printf '%s\n' "$out" | grep '^skipped' | sed 's/^/    /' || true
  declare -A expect=()
  while read -r _ kind n; do
    counter="$(awk -v k="$kind" '$1 == k {print $2}' <<<"$KINDS")"
    [ "$counter" = "-" ] && continue
    expect[$counter]=$(( ${expect[$counter]:-0} + n ))
  done < <(grep '^sent' <<<"$out")
  for counter in $(printf '%s\n' "${!expect[@]}" | sort); do
    want="${expect[$counter]}"; got="$(delta "$before" "$after" "$counter")"
    if [ "$counter" = drop-truncated-ethernet ] && [ "$got" = 0 ]; then
      # AF_PACKET pads a frame shorter than the Ethernet header (root has CAP_SYS_RAWIO):
      # such a frame cannot reach rvs over a veth.  Not rvs's fault; say so.
      log "  $counter: sent $want, rvs saw 0 (the kernel pads sub-14-byte frames to a full header)"
      continue
    fi
    if [ "$got" = "$want" ]; then log "  $counter: +$got (expected $want)"
    else warn "  $counter: +$got, expected +$want"; bad=1; fi
  done
  [ "$bad" = 0 ] || { rvsadm --counters | sed 's/^/    counters| /' >&2; return 1; }
}

# ---------------------------------------------------------------------------------- b
case_b_flood_during_download() {
  local dl="$RUN_DIR/b.download" before="$RUN_DIR/b.before" after="$RUN_DIR/b.after" pid out rc=0
  counters_snapshot "$before"
  ns_exec c curl -sS --noproxy '*' --max-time 60 --limit-rate 3M -o "$dl" "http://$VIP/big.bin" &
  pid=$!
  sleep 0.5
  out="$(hostile hostile --rate 3000 --count 15000 --duration 5)"
  log "flood: $(awk '$1 == "sent" {s += $3} END {print s + 0}' <<<"$out") frames in <= 5 s; $(grep -c '^skipped' <<<"$out" || true) kinds refused by the kernel"
  pid_alive "$RVS_PID" || { warn "rvs died during the flood"; return 1; }
  wait "$pid" || rc=$?
  counters_snapshot "$after"
  assert_eq 0 "$rc" "curl exit status of the download during the flood"
  assert_eq "$((BIG_MB * 1024 * 1024))" "$(stat -c %s "$dl")" "downloaded size"
  assert_eq "$(sha "$BIG_FILE")" "$(sha "$dl")" "sha256 of big.bin downloaded during the flood"
  assert_contains "$(rvsadm -Ln)" "TCP  198.18.0.100:80 rr" "rvsadm -Ln still answers"
  local c bad=0
  for c in drop-not-our-mac drop-vlan-tagged drop-ipv6 drop-ipv6-truncated drop-ipv6-bad-payload-length \
           drop-ipv6-bad-extension-header drop-icmpv6-bad-checksum drop-other-ethertype drop-ip-truncated \
           drop-ip-bad-version drop-ip-bad-header-length drop-ip-bad-total-length \
           drop-ip-bad-checksum drop-ip-fragment-bad drop-l4-truncated drop-ttl-exceeded \
           drop-tcp-not-syn-no-connection drop-other-ip-protocol drop-no-service \
           drop-icmp-bad-checksum drop-icmp-unhandled drop-bad-arp drop-sctp-bad-chunk-length; do
    local d; d="$(delta "$before" "$after" "$c")"
    if [ "$d" -gt 0 ]; then log "  $c +$d"; else warn "  $c did not move"; bad=1; fi
  done
  [ "$bad" = 0 ] || { rvsadm --counters | sed 's/^/    counters| /' >&2; return 1; }
  assert_eq "rs1 rs2" "$(curl_many c 2 "http://$VIP/" | sort | tr '\n' ' ' | sed 's/ $//')" "the service still balances after the flood"
}

# ---------------------------------------------------------------------------------- c
# Fragments (tests/e2e/test_frag.sh has the datagrams that pass): pieces that cannot be part
# of a datagram are dropped at once, sound pieces of datagrams never completed are held, then
# time out (5 s); a ping the client's kernel fragments is reassembled and answered.
case_c_fragments() {
  local b1 b2 b3 a1 a2 a3 out
  # The pieces earlier cases held time out first, so the counts below are this case's alone.
  sleep 5.5
  b1="$(counter drop-ip-fragment-bad)"; b2="$(counter ip-fragments-held)"; b3="$(counter drop-ip-fragment-timeout)"
  out="$(hostile once --kinds frag-first,frag-later,frag-last,frag-df-mf --repeat 10 --rate 200)"
  sleep 6
  a1="$(counter drop-ip-fragment-bad)"; a2="$(counter ip-fragments-held)"; a3="$(counter drop-ip-fragment-timeout)"
  assert_eq 20 "$((a1 - b1))" "drop-ip-fragment-bad after 10 x (first of 20 bytes, DF+MF of 15 bytes)"
  assert_eq 20 "$((a2 - b2))" "ip-fragments-held after 10 x (later, last), each of its own datagram"
  assert_eq 20 "$((a3 - b3))" "drop-ip-fragment-timeout: the held pieces, 5 s on"
  b1="$(counter ip-datagrams-reassembled)"
  ns_exec c ping -c 2 -W 2 -s 3000 -q "$VIP" >/dev/null || { warn "a fragmented echo request to the VIP was not answered"; return 1; }
  a1="$(counter ip-datagrams-reassembled)"
  assert_eq 2 "$((a1 - b1))" "ip-datagrams-reassembled after 2 kernel-fragmented 3000-byte pings"
  ns_exec c ping -c 1 -W 2 -q "$VIP" >/dev/null || { warn "a plain ping to the VIP failed after the fragments"; return 1; }
}

# ---------------------------------------------------------------------------------- d/e
# A SYN flood from random sources in 198.18.64.0/18 (no route back: their SYN-ACKs die at the
# director as drop-no-route), 20000 SYNs at <= 4000/s, <= 12 s, against a 2000-entry table.
# The flood fills the table with SYN_RECV entries (60 s); the rest must be refused.
FLOOD_N=20000
flood_run() {   # runs the flood, the established download and a new-connection loop; leaves
                # results in $RUN_DIR/flood.*
  local dl="$RUN_DIR/flood.download" dpid lpid fpid maxc=0 n
  rss_kb >"$RUN_DIR/flood.rss0"
  counter drop-connection-table-full >"$RUN_DIR/flood.full0"
  counter half-open-dropped-under-pressure >"$RUN_DIR/flood.evict0"
  # established before the flood: a 20 MB download at 2.5 MB/s (~8 s)
  ns_exec c curl -sS --noproxy '*' --max-time 60 --limit-rate 2500K -o "$dl" "http://$VIP/big.bin" \
    2>"$RUN_DIR/flood.download.err" &
  dpid=$!
  sleep 1
  # new connections during the flood: one every 0.2 s for ~8 s
  ns_exec c bash -c 'for i in $(seq 40); do curl -s --noproxy "*" --connect-timeout 1 --max-time 2 http://'"$VIP"'/ || echo fail; sleep 0.2; done' \
    >"$RUN_DIR/flood.loop" 2>/dev/null &
  lpid=$!
  hostile synflood --count "$FLOOD_N" --rate 4000 --duration 12 --flood-net 198.18.64.0/18 >"$RUN_DIR/flood.sent" &
  fpid=$!
  while pid_alive "$fpid"; do
    n="$(rvsadm -Lnc | wc -l)"
    [ "$n" -gt "$maxc" ] && maxc="$n"
    sleep 0.3
  done
  wait "$fpid" || true
  n="$(rvsadm -Lnc | wc -l)"; [ "$n" -gt "$maxc" ] && maxc="$n"
  echo "$maxc" >"$RUN_DIR/flood.maxlines"
  local rc=0; wait "$dpid" || rc=$?; echo "$rc" >"$RUN_DIR/flood.download.rc"
  wait "$lpid" || true
  rss_kb >"$RUN_DIR/flood.rss1"
  counter drop-connection-table-full >"$RUN_DIR/flood.full1"
  counter half-open-dropped-under-pressure >"$RUN_DIR/flood.evict1"
}
case_d_synflood_bounded() {
  local sent maxl rss0 rss1 full evict
  sent="$(awk '$2 == "syn" {print $3}' "$RUN_DIR/flood.sent")"; sent="${sent:-0}"
  maxl="$(cat "$RUN_DIR/flood.maxlines")"
  rss0="$(cat "$RUN_DIR/flood.rss0")"; rss1="$(cat "$RUN_DIR/flood.rss1")"
  full=$(( $(cat "$RUN_DIR/flood.full1") - $(cat "$RUN_DIR/flood.full0") ))
  evict=$(( $(cat "$RUN_DIR/flood.evict1") - $(cat "$RUN_DIR/flood.evict0") ))
  log "SYN flood: $sent SYNs sent; most -Lnc lines seen $maxl (bound $TABLE + 2 header lines);"
  log "  half-open entries dropped for newcomers +$evict, SYNs refused (table full) +$full; VmRSS $rss0 kB -> $rss1 kB"
  [ "$sent" -ge $((TABLE * 3)) ] || { warn "the generator sent only $sent SYNs"; return 1; }
  [ "$maxl" -le $((TABLE + 2)) ] || { warn "the connection table grew past its bound: $maxl lines"; return 1; }
  [ "$maxl" -ge $((TABLE / 2)) ] || { warn "the flood never filled the table ($maxl lines)"; return 1; }
  # every SYN beyond the free entries either displaced a half-open entry (IPVS's
  # drop_entry) or was refused, and each is counted
  [ $((full + evict)) -ge $((sent - TABLE)) ] || { warn "counted $full refused + $evict displaced < $sent - $TABLE"; return 1; }
  [ "$rss1" -le $((rss0 * 120 / 100)) ] || { warn "VmRSS grew more than 20%: $rss0 -> $rss1 kB"; return 1; }
  pid_alive "$RVS_PID" || { warn "rvs died"; return 1; }
  rvsadm -Ln >/dev/null
}

case_e_established_survives() {
  local dl="$RUN_DIR/flood.download"
  assert_eq 0 "$(cat "$RUN_DIR/flood.download.rc")" "curl exit status of the download across the SYN flood ($(cat "$RUN_DIR/flood.download.err"))"
  assert_eq "$(sha "$BIG_FILE")" "$(sha "$dl")" "sha256 of the download across the SYN flood"
}

# New connections while the table is full of flood entries: IPVS (no table bound) would
# accept them; rvs's table is bounded and holds SYN_RECV entries 60 s with no early drop
# (IPVS's drop_entry defense), so they are refused until the flood entries expire.
case_f_new_connections() {
  local ok fail
  ok="$(grep -cE '^rs[12]$' "$RUN_DIR/flood.loop" || true)"
  fail="$(grep -c '^fail$' "$RUN_DIR/flood.loop" || true)"
  log "new connections during the SYN flood: $ok answered, $fail failed (of $((ok + fail)))"
  if [ "$fail" != 0 ]; then
    warn "$fail new connections failed while the flood filled the table; table now (state count):"
    rvsadm -Lnc | awk 'NR > 2 {print $3}' | sort | uniq -c | sed 's/^/    /' >&2
    warn "  drop-connection-table-full $(counter drop-connection-table-full)"
    return 1
  fi
}

# ---------------------------------------------------------------------------------- g
# Issue 10, item 6: each frame alone, then: its own counter moved by one, no entry for its
# source port, and the services' InPkts (packets handed to a real server) did not move.
case_g_malformed_l4() {
  local spec kind want sport b a in0 in1 bad=0
  for spec in "tcp-doff-15 drop-tcp-bad-data-offset 40101" "udp-len-300 drop-udp-bad-length 40102" \
              "udp-len-0 drop-udp-bad-length 40103"; do
    read -r kind want sport <<<"$spec"
    b="$(counter "$want")"; in0="$(svc_inpkts)"
    hostile once --kinds "$kind" --repeat 1 --rate 10 >/dev/null
    sleep 0.5
    a="$(counter "$want")"; in1="$(svc_inpkts)"
    log "  $kind: $want +$((a - b)); packets to real servers +$((in1 - in0)); entry: '$(conn_of "$NAT_CLIENT:$sport")'"
    [ $((a - b)) = 1 ] || { warn "  $kind: $want moved by $((a - b)), expected 1"; bad=1; }
    [ "$in1" = "$in0" ] || { warn "  $kind was forwarded to a real server"; bad=1; }
    [ -z "$(conn_of "$NAT_CLIENT:$sport")" ] || { warn "  $kind created a connection entry"; bad=1; }
  done
  [ "$bad" = 0 ]
}

# ---------------------------------------------------------------------------------- h
# Issue 10, item 7: NAT replies are accepted only on the interface the real server is reached
# through (and from its next hop's MAC once known), like rp_filter.
case_h_spoofed_reply() {
  local dl="$RUN_DIR/h.download" pid rc=0 line client rs b a sent state
  b="$(counter drop-reply-wrong-interface)"
  ns_exec c curl -sS --noproxy '*' --max-time 60 --limit-rate 1500K -o "$dl" "http://$VIP/big.bin" \
    2>"$RUN_DIR/h.err" &
  pid=$!
  established() { rvsadm -Lnc | awk -v v="$VIP:80" '$5 == v && $3 == "ESTABLISHED" {f = 1} END {exit !f}'; }
  wait_until 5 established || { warn "the download never showed as ESTABLISHED"; rvsadm -Lnc >&2; return 1; }
  line="$(rvsadm -Lnc | awk -v v="$VIP:80" '$5 == v && $3 == "ESTABLISHED"' | head -1)"
  client="$(awk '{print $4}' <<<"$line")"; rs="$(awk '{print $6}' <<<"$line")"
  log "  download $client -> $VIP:80 via $rs; spoofing RSTs from $rs to $client on the client side"
  sent="$(hostile spoofreply --reply-src "$rs" --reply-dst "$client" --count 10 --rate 10 --duration 4 \
    | awk '$1 == "sent" {s += $3} END {print s + 0}')"
  sleep 0.3
  state="$(conn_of "$client" | awk '{print $3}')"
  a="$(counter drop-reply-wrong-interface)"
  local running=yes; pid_alive "$pid" || running=no
  log "  $sent spoofed RSTs sent; drop-reply-wrong-interface +$((a - b)); entry state now '$state'; download still running: $running"
  wait "$pid" || rc=$?
  log "  download: curl exit $rc, $(stat -c %s "$dl" 2>/dev/null || echo 0) bytes"
  assert_eq "$sent" "$((a - b))" "every spoofed reply counted under drop-reply-wrong-interface"
  # An accepted spoofed RST would have closed the entry (CLOSE). FIN_WAIT is the real server's
  # own FIN: on a loaded box the spoofer can take seconds, and by then the server has written
  # the file's end, whose last megabytes still sit in the socket buffers (a run saw this).
  assert_true "the entry's state after the spoofed RSTs ('$state') is not CLOSE" \
    grep -qxE 'ESTABLISHED|FIN_WAIT|CLOSE_WAIT|LAST_ACK|TIME_WAIT' <<<"$state"
  assert_eq 0 "$rc" "curl exit status of the download under spoofed RSTs ($(cat "$RUN_DIR/h.err"))"
  assert_eq "$(sha "$BIG_FILE")" "$(sha "$dl")" "sha256 of the download under spoofed RSTs"
}

wanted g && run_case "g. malformed L4 lengths (TCP doff 15, UDP length 300 and 0) dropped, counted, untracked" case_g_malformed_l4
wanted h && run_case "h. replies spoofed from the client side: dropped, counted, the download intact" case_h_spoofed_reply
wanted a && run_case "a. every hostile kind dropped under its own counter, exactly" case_a_exact
wanted b && run_case "b. hostile flood during a 20 MB download: intact, rvs serving, each counter moved" case_b_flood_during_download
wanted c && run_case "c. fragments: impossible ones dropped, incomplete ones time out, a fragmented ping answered" case_c_fragments
if wanted d || wanted e || wanted f; then
flood_run   # after a-c: the flood leaves the table full of SYN_RECV entries for 60 s
run_case "d. SYN flood: table stays within $TABLE, refusals counted, memory flat" case_d_synflood_bounded
run_case "e. SYN flood: an established download stays intact" case_e_established_survives
run_case "f. SYN flood: new connections during the flood succeed" case_f_new_connections
fi
if stop_rvs; then pass "k. SIGTERM after the floods: clean stop"; else fail "k. SIGTERM after the floods: clean stop"; fi
finish
