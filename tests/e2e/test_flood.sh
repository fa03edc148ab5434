#!/usr/bin/env bash
# tests/e2e/test_flood.sh: floods of every kind against a full connection table.  The NAT lab
# (tests/e2e/topo_nat.sh) with `connections = 2048`, a TCP service on VIP:80 and a UDP service
# on VIP:5300 (a single-process echo server on each real server).  Spoofed sources come from
# 198.18.64.0/18: the director has no route to them, so every reply dies there (drop-no-route)
# and nothing leaves the lab.  Frames come from tests/e2e/flood_frames.py (AF_PACKET in the
# client namespace, to the director's MAC).
#
# Each flood case starts a fresh rvs (an empty table), sends 2,500 units of its kind (more than
# the table holds), and then a real client retries `curl http://VIP/` every 0.5 s: the time
# until its first success is the lockout, printed as "lockout KIND: N s".  A case passes when
# the lockout is at most LOCKOUT_BOUND seconds (a few retries: the table makes room for a
# newcomer instead of holding it full of flood entries), the table never held more than 2048
# entries, and (for floods that fill it) the eviction counters moved.  The last case keeps a
# slow download running across two floods and checks it arrives intact (sha256).
# Every flood is bounded in units and seconds; the client waits at most CLIENT_CAP seconds.
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
TABLE=2048
UNITS=2500
UDP_PORT=5300
LOCKOUT_BOUND=3
CLIENT_CAP=20
FLOOD_NET=198.18.64.0/18

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
FRAMES="$E2E_DIR/flood_frames.py"

topo_nat
grep -q '^\[dataplane\]' "$NAT_CONFIG" || die "topo_nat wrote no [dataplane] section"
sed -i "/^\[dataplane\]/a connections = $TABLE" "$NAT_CONFIG"
bg rs1 udp-echo-rs1 "$PY" "$FRAMES" echo-server --port "$UDP_PORT" --reply rs1
bg rs2 udp-echo-rs2 "$PY" "$FRAMES" echo-server --port "$UDP_PORT" --reply rs2
wait_udp_listen rs1 "$UDP_PORT"
wait_udp_listen rs2 "$UDP_PORT"

counter() { rvsadm --counters | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
evictions() { echo $(( $(counter half-open-dropped-under-pressure) + $(counter idle-evicted-under-pressure) )); }
table_len() { rvsadm -Lnc | awk 'NR > 2' | wc -l; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }

# fresh_rvs: a new rvs (empty table) with both services, answering a first request.  Runs
# outside run_case (a subshell) so RVS_PID stays right for the next case and the cleanup.
fresh_rvs() {
  if [ -n "$RVS_PID" ]; then stop_rvs || die "rvs did not stop cleanly between cases"; fi
  start_rvs "$NAT_CONFIG"
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -m
  rvsadm -a -t "$VIP:80" -r "$RS2:80" -m
  rvsadm -A -u "$VIP:$UDP_PORT" -s rr
  rvsadm -a -u "$VIP:$UDP_PORT" -r "$RS1:$UDP_PORT" -m
  rvsadm -a -u "$VIP:$UDP_PORT" -r "$RS2:$UDP_PORT" -m
  DMAC="$(ns_exec d cat /sys/class/net/d-out/address)"
  wait_until 10 ns_curl c -o /dev/null "http://$VIP/" || die "rvs does not serve before the flood"
  [ -n "$(udp_ask c "$VIP" "$UDP_PORT")" ] || die "the UDP service does not answer before the flood"
}

flood() {   # MODE PORT: one bounded flood; prints the generator's "sent" line
  ns_exec c "$PY" "$FRAMES" "$1" --iface eth0 --dst-mac "$DMAC" --vip "$VIP" --port "$2" \
    --count "$UNITS" --rate 5000 --duration 15 --flood-net "$FLOOD_NET" --seed "$RANDOM"
}

# lockout: a real client retries every 0.5 s (each try a new connection, 0.5 s to connect);
# prints the milliseconds from the first try to the start of the first that succeeded, or
# "none" when none did within CLIENT_CAP seconds.
lockout_ms() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  ns_exec c bash -c '
    start=$(date +%s%N); tries=$(( $2 * 2 ))
    for i in $(seq 0 $((tries - 1))); do
      t=$(date +%s%N)
      if curl -s --noproxy "*" --connect-timeout 0.5 --max-time 2 -o /dev/null "http://$1/"; then
        echo $(( (t - start) / 1000000 )); exit 0
      fi
      next=$(( start + (i + 1) * 500000000 )); now=$(date +%s%N)
      [ "$now" -lt "$next" ] && sleep "$(awk -v d=$((next - now)) "BEGIN {printf \"%.3f\", d / 1e9}")"
    done
    echo none' _ "$VIP" "$CLIENT_CAP"
}

# flood_case KIND MODE PORT FILLS: fresh table, flood, measure; FILLS=1 when the flood is
# expected to fill the table (so evictions must have happened).
flood_case() {
  local kind="$1" mode="$2" port="$3" fills="$4" ev0 ev1 sent ms len full0 full1 secs
  ev0="$(evictions)"; full0="$(counter drop-connection-table-full)"
  sent="$(flood "$mode" "$port")"
  ms="$(lockout_ms)"
  len="$(table_len)"; ev1="$(evictions)"; full1="$(counter drop-connection-table-full)"
  if [ "$ms" = none ]; then secs="> $CLIENT_CAP"
  else secs="$(awk -v m="$ms" 'BEGIN {printf "%.1f", m / 1000}')"; fi
  log "lockout $kind: $secs s  ($sent; table $len/$TABLE after; evictions +$((ev1 - ev0)); refused table-full +$((full1 - full0)))"
  echo "$kind $secs" >>"$RUN_DIR/lockouts"
  [ "$len" -le "$TABLE" ] || { warn "the table holds $len entries, more than $TABLE"; return 1; }
  if [ "$fills" = 1 ]; then
    [ $((ev1 - ev0)) -gt 0 ] || { warn "no eviction was counted"; rvsadm -Lnc | awk 'NR > 2 {print $1, $3}' | sort | uniq -c >&2; return 1; }
  fi
  [ "$ms" != none ] || { warn "a real client stayed locked out for more than $CLIENT_CAP s"; return 1; }
  [ "$ms" -le $((LOCKOUT_BOUND * 1000)) ] || { warn "lockout $secs s is more than $LOCKOUT_BOUND s"; return 1; }
}

case_udp() { flood_case udp-flood udp "$UDP_PORT" 1; }
case_syn_finack() { flood_case syn-finack-flood syn-finack 80 1; }
case_syn_ack() { flood_case syn-ack-flood syn-ack 80 1; }
case_icmp() { flood_case icmp-flood icmp 80 0; }
case_syn() { flood_case syn-flood syn 80 1; }

# A download confirmed by two-way traffic before the floods (3 s in) stays intact across a UDP
# flood and a SYN then FIN|ACK flood that each overfill the table.
case_live_download() {
  local dl="$RUN_DIR/live.download" pid rc=0 ms ev0 ev1
  ev0="$(evictions)"
  ns_exec c curl -sS --noproxy '*' --max-time 60 --limit-rate 2M -o "$dl" "http://$VIP/big.bin" \
    2>"$RUN_DIR/live.err" &
  pid=$!
  sleep 3
  flood udp "$UDP_PORT" >/dev/null
  flood syn-finack 80 >/dev/null
  ms="$(lockout_ms)"
  ev1="$(evictions)"
  local secs="> $CLIENT_CAP"
  [ "$ms" = none ] || secs="$(awk -v m="$ms" 'BEGIN {printf "%.1f", m / 1000}')"
  log "lockout udp+syn-finack-during-download: $secs s  (evictions +$((ev1 - ev0)); table $(table_len)/$TABLE)"
  echo "udp+syn-finack-during-download $secs" >>"$RUN_DIR/lockouts"
  wait "$pid" || rc=$?
  assert_eq 0 "$rc" "curl exit status of the download across the floods ($(cat "$RUN_DIR/live.err"))"
  assert_eq "$((BIG_MB * 1024 * 1024))" "$(stat -c %s "$dl")" "downloaded size"
  assert_eq "$(sha "$BIG_FILE")" "$(sha "$dl")" "sha256 of big.bin downloaded across the floods"
  [ $((ev1 - ev0)) -gt 0 ] || { warn "the floods evicted nothing"; return 1; }
  [ "$ms" != none ] && [ "$ms" -le $((LOCKOUT_BOUND * 1000)) ] || { warn "lockout $secs s is more than $LOCKOUT_BOUND s"; return 1; }
}

fresh_rvs; run_case "1. UDP flood: a TCP client gets in within $LOCKOUT_BOUND s" case_udp
fresh_rvs; run_case "2. SYN then FIN|ACK flood: a client gets in within $LOCKOUT_BOUND s" case_syn_finack
fresh_rvs; run_case "3. SYN then ACK flood: a client gets in within $LOCKOUT_BOUND s" case_syn_ack
fresh_rvs; run_case "4. ICMP flood (echo and errors): a client gets in within $LOCKOUT_BOUND s" case_icmp
fresh_rvs; run_case "5. SYN flood: a client gets in within $LOCKOUT_BOUND s" case_syn
fresh_rvs; run_case "6. a confirmed download survives UDP and SYN+FIN|ACK floods intact" case_live_download
log "lockouts (s):"; sed 's/^/    /' "$RUN_DIR/lockouts" 2>/dev/null || true
if stop_rvs; then pass "7. SIGTERM after the floods: clean stop"; else fail "7. SIGTERM after the floods: clean stop"; fi
finish
