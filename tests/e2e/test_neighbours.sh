#!/usr/bin/env bash
# tests/e2e/test_neighbours.sh: the director's ARP table under a flood from its own connected
# subnet (issue 10, item 3).
#
#   ${RUN}-c  client      eth0 198.18.64.10/18 and 198.18.127.77/18 (the "new client"),
#                         default via 198.18.64.1
#                            |
#   ${RUN}-d  director    d-out (rvs: 198.18.64.1/18, VIP 198.18.0.100)
#                         d-in  (rvs: 198.18.1.1/24)
#                            |
#   ${RUN}-rs1 real server eth0 198.18.1.11/24, default via 198.18.1.1; HTTP on 80
#
# The client side is one connected /18, wide enough for a flood of more distinct sources than
# the default table holds (4,096).  Spoofed SYNs from addresses in it that nobody answers ARP
# for make the real server's SYN-ACKs need a resolution each.  Cases, each on a fresh rvs:
#   a. `neighbours = 64`: 500 spoofed SYNs (distinct sources); `--neighbours` shows the FAILED
#      entries; then a new client in the same subnet must get an answer within a few seconds.
#   b. the default table (4,096): 4,600 spoofed SYNs (distinct sources), then the same.
#   c. the default table under a sustained flood (1,000 spoofed SYNs/s for 12 s): a new client
#      asking from the flood's second second on must get in while it lasts (new resolutions
#      share one rate limit with the flood, so this lockout is longer: printed).
# Each prints the lockout (seconds from the flood's end to the new client's first answer) and
# the ARP requests the director sent while at it (frames the client side received).
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

VIP=198.18.0.100
DIR_OUT=198.18.64.1
CLIENT=198.18.64.10
NEWCOMER=198.18.127.77
DIR_IN=198.18.1.1
RS1=198.18.1.11
LOCKOUT_LIMIT=5      # seconds a new client may wait after the flood
LOCKOUT_GIVE_UP=40   # seconds we wait at most (an unfixed rvs locks out for ~300)

PY=""
for p in /usr/bin/python3 python3; do
  if "$p" -c 'import scapy.all' >/dev/null 2>&1; then PY="$p"; break; fi
done
[ -n "$PY" ] || die "python3 with scapy (Debian: python3-scapy) is needed; run scripts/setup"
FRAMES="$E2E_DIR/hostile_frames.py"

for n in c d rs1; do ns_add "$n"; done
veth_add c eth0 d d-out
veth_add d d-in rs1 eth0
ns_exec c ip addr add "$CLIENT/18" dev eth0
ns_exec c ip addr add "$NEWCOMER/18" dev eth0
ns_exec c ip route add default via "$DIR_OUT"
host_if c eth0
lab_host rs1 "$RS1" "$DIR_IN"
start_http rs1 80 rs1

config() {   # FILE [dataplane line]
  {
    rvs_conf_admin "$RVS_SOCK"
    printf '[dataplane]\n%s\n\n' "${2:-}"
    rvs_conf_iface d-out "$DIR_OUT/18" "$VIP"
    rvs_conf_iface d-in "$DIR_IN/24"
  } >"$1"
}

rx_frames() { ns_exec c cat /sys/class/net/eth0/statistics/rx_packets; }
counter() { rvsadm --counters | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
neigh_count() { rvsadm --neighbours | awk -v s="$1" 'NR > 1 && $4 == s {n++} END {print n + 0}'; }
newcomer_ok() {
  ns_exec c curl -s --noproxy '*' --interface "$NEWCOMER" --connect-timeout 1 --max-time 2 "http://$VIP/" \
    2>/dev/null | grep -qx rs1
}

# newcomer_until FILE: from now, the new client asks every 0.5 s until answered (at most
# $LOCKOUT_GIVE_UP s); writes the milliseconds it took to FILE (-1: never).
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
newcomer_until() {
  local t0 took=-1
  t0="$(now_ms)"
  while [ $(( $(now_ms) - t0 )) -lt $((LOCKOUT_GIVE_UP * 1000)) ]; do
    if newcomer_ok; then took=$(( $(now_ms) - t0 )); break; fi
    sleep 0.5
  done
  echo "$took" >"$1"
}

# flood_then_newcomer NAME SYNS NET RATE: the case body.
flood_then_newcomer() {
  local name="$1" syns="$2" net="$3" rate="$4" rx0 rx1 lockout failed=0 incomplete=0 f i sent npid
  # The service works, and the director knows the real server and the client, before the flood.
  assert_eq rs1 "$(ns_curl c "http://$VIP/")" "a request before the flood"
  rx0="$(rx_frames)"
  sent="$(ns_exec c "$PY" "$FRAMES" synflood --iface eth0 --dst-mac "$DMAC" --vip "$VIP" --sequential \
    --flood-net "$net" --count "$syns" --rate "$rate" --duration 15 | awk '$2 == "syn" {print $3}')"
  # The flood is over: the new client, from the same subnet, starts asking at once.
  newcomer_until "$RUN_DIR/$name.lockout" &
  npid=$!
  # While the real server's SYN-ACKs wait on resolutions that fail (3 probes, 1 s apart),
  # --neighbours must show them: FAILED (and INCOMPLETE) rows with their state.
  for _ in $(seq 50); do
    f="$(neigh_count FAILED)"; i="$(neigh_count INCOMPLETE)"
    [ "$f" -gt "$failed" ] && failed="$f"
    [ "$i" -gt "$incomplete" ] && incomplete="$i"
    if [ "$f" -gt 0 ]; then rvsadm --neighbours >"$RUN_DIR/$name.neighbours"; break; fi
    sleep 0.2
  done
  wait "$npid" || true
  lockout="$(cat "$RUN_DIR/$name.lockout")"
  rx1="$(rx_frames)"
  log "  $name: $sent spoofed SYNs from $net; --neighbours showed up to $incomplete INCOMPLETE and $failed FAILED rows, e.g.:"
  [ -f "$RUN_DIR/$name.neighbours" ] && { sed -n '1p;/FAILED/{p;q}' "$RUN_DIR/$name.neighbours" | sed 's/^/    | /'; }
  if [ "$lockout" -ge 0 ]; then
    log "  $name: lockout: the new client $NEWCOMER was answered $((lockout / 1000)).$(printf %03d $((lockout % 1000))) s after the flood"
  else log "  $name: lockout: the new client $NEWCOMER was not answered within $LOCKOUT_GIVE_UP s of the flood"; fi
  log "  $name: frames the director sent to the client side (ARP requests, all but a few): $((rx1 - rx0)) for $sent SYNs"
  log "  $name: drops: neighbour table full $(counter drop-neighbour-table-full), resolutions rate-limited $(counter drop-neighbour-resolution-rate-limited), neighbour unreachable $(counter drop-neighbour-unreachable)"
  [ "$failed" -gt 0 ] || { warn "--neighbours never showed a FAILED entry"; rvsadm --neighbours | head -5 >&2; return 1; }
  [ "$lockout" -ge 0 ] && [ "$lockout" -le $((LOCKOUT_LIMIT * 1000)) ] \
    || { warn "a new client was locked out (limit $LOCKOUT_LIMIT s)"; return 1; }
}

# during_flood NAME SYNS NET RATE: the new client starts asking 1 s into a 12 s flood.
# Resolutions are rate-limited per source prefix (/24): a flood from one prefix must be
# limited (counted) and still not keep out the new client, whose prefix is another.
during_flood() {
  local name="$1" syns="$2" net="$3" rate="$4" took fpid limited rx0 rx1
  assert_eq rs1 "$(ns_curl c "http://$VIP/")" "a request before the flood"
  rx0="$(rx_frames)"
  ns_exec c "$PY" "$FRAMES" synflood --iface eth0 --dst-mac "$DMAC" --vip "$VIP" --sequential \
    --flood-net "$net" --count "$syns" --rate "$rate" --duration 12 >"$RUN_DIR/during.sent" &
  fpid=$!
  sleep 1
  LOCKOUT_GIVE_UP=11 newcomer_until "$RUN_DIR/during.lockout"
  took="$(cat "$RUN_DIR/during.lockout")"
  pid_alive "$fpid" && log "  during: the flood was still running when the new client got its answer (or gave up)"
  wait "$fpid" || true
  rx1="$(rx_frames)"
  limited="$(counter drop-neighbour-resolution-rate-limited)"
  log "  $name: $(awk '$2 == "syn" {print $3}' "$RUN_DIR/during.sent") spoofed SYNs from $net; rate-limited resolutions $limited; frames the director sent to the client side $((rx1 - rx0))"
  if [ "$took" -ge 0 ]; then log "  $name: lockout while the flood ran: $((took / 1000)).$(printf %03d $((took % 1000))) s"
  else log "  $name: the new client was not answered during the flood (11 s)"; return 1; fi
  if [ "$name" = one-prefix ] && [ "$limited" -eq 0 ]; then
    warn "a 1,000/s flood from one /24 was never rate-limited"; return 1
  fi
}

run_lab() {   # NAME SYNS NET RATE "dataplane line" CASE-TITLE
  local name="$1"
  config "$RUN_DIR/$name.toml" "$5"
  start_rvs "$RUN_DIR/$name.toml"
  DMAC="$(ns_exec d cat /sys/class/net/d-out/address)"
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -m
  run_case "$6" "${7:-flood_then_newcomer}" "$name" "$2" "$3" "$4"
  if stop_rvs; then pass "$name: clean stop"; else fail "$name: clean stop"; fi
  # The real server's kernel keeps retransmitting SYN-ACKs to the spoofed sources: forget them.
  ns_exec rs1 ss -K state syn-recv >/dev/null 2>&1 || true
}

run_lab small 500 198.18.80.0/20 1000 "neighbours = 64" \
  "a. neighbours = 64, 500 spoofed SYNs from the subnet: FAILED entries shown, a new client in within $LOCKOUT_LIMIT s"
run_lab default 4600 198.18.96.0/19 1500 "" \
  "b. default table (4,096), 4,600 spoofed SYNs from the subnet: a new client in within $LOCKOUT_LIMIT s"
run_lab during 12000 198.18.96.0/19 1000 "" \
  "c. default table, a 12 s flood of spoofed SYNs from the subnet: a new client in while it lasts" during_flood
run_lab one-prefix 12000 198.18.100.0/24 1000 "" \
  "d. a 12 s flood from one /24: its resolutions rate-limited, a new client of another /24 in while it lasts" during_flood
finish
