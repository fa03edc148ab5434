#!/usr/bin/env bash
# tests/e2e/test_fullnat.sh: rvs as a FULLNAT director (rvsadm --fullnat: source AND
# destination translated; the real servers see a director local address as the client),
# end to end.  Lab: tests/e2e/topo_fullnat.sh (real servers with no route to the client at
# all; nginx on each).  Every case is bounded (curl --max-time; wrk runs 8 s).
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_fullnat.sh
source "$(dirname "$0")/topo_fullnat.sh"

VIP="$FULLNAT_VIP"
RS1="$FULLNAT_RS1"
RS2="$FULLNAT_RS2"
LIP1="$FULLNAT_LIP1"
LIP2="$FULLNAT_LIP2"
WRK_MIN="${WRK_MIN:-5000}"    # requests the churn must complete (in rounds of 8 s, at most 6)

topo_fullnat
start_rvs "$FULLNAT_CONFIG"

# counter NAME: the value of one `rvsadm --counters` line (0 if absent)
counter() { rvsadm --counters | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
# access_addrs: every client address the real servers' nginx logged, one per line
access_addrs() { cat "$FULLNAT_WWW"/rs1/access.log "$FULLNAT_WWW"/rs2/access.log 2>/dev/null | awk '{print $1}'; }

# ---------------------------------------------------------------------------------- a
# The service with two real servers and two local addresses (rvsadm -P ... -z); -G lists
# them.  The real servers cannot reach the client: FULLNAT is the only way this can work.
case_a_setup() {
  if ns_exec rs1 ip route get "$FULLNAT_CLIENT" >/dev/null 2>&1; then
    warn "rs1 has a route to the client: the lab is wrong"; return 1
  fi
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$RS1:80" --fullnat
  rvsadm -a -t "$VIP:80" -r "$RS2:80" --fullnat
  rvsadm -P -t "$VIP:80" -z "$LIP1"
  rvsadm -P -t "$VIP:80" -z "$LIP2"
  local out
  out="$(rvsadm -G -t "$VIP:80")"
  printf '%s\n' "$out" | sed 's/^/    G| /'
  assert_contains "$out" "$LIP1" "-G lists $LIP1"
  assert_contains "$out" "$LIP2" "-G lists $LIP2"
  local rc=0 again
  again="$(rvsadm -P -t "$VIP:80" -z "$LIP1" 2>&1)" || rc=$?
  if [ "$rc" = 0 ]; then warn "a second -P of $LIP1 was accepted ($again)"; return 1; fi
  log "a second -P $LIP1 is refused: '$again' (exit $rc)"
}

# ---------------------------------------------------------------------------------- b
case_b_rr() {
  local out prev="" line i=0
  out="$(curl_many c 10 "http://$VIP/")"
  log "10 requests: $(tr '\n' ' ' <<<"$out")"
  assert_eq 5 "$(count_lines "$out" rs1)" "requests answered by rs1"
  assert_eq 5 "$(count_lines "$out" rs2)" "requests answered by rs2"
  while IFS= read -r line; do
    i=$((i + 1))
    [ "$line" != "$prev" ] || { warn "request $i went to $line again: not strict round robin"; return 1; }
    prev="$line"
  done <<<"$out"
}

# ---------------------------------------------------------------------------------- c
# access_only_lips MIN: the servers logged >= MIN requests, every one from a local address
access_only_lips() {
  local addrs n other
  addrs="$(access_addrs)"
  n="$(grep -c . <<<"$addrs" || true)"
  log "access logs: $n requests; by source: $(sort <<<"$addrs" | uniq -c | awk '{printf "%s x%s ", $2, $1}')"
  if [ "$n" -lt "$1" ]; then warn "only $n requests logged, expected >= $1"; return 1; fi
  other="$(grep -vxF -e "$LIP1" -e "$LIP2" <<<"$addrs" | sort -u || true)"
  assert_eq "" "$other" "client addresses the real servers saw besides the local addresses"
}
case_c_sources() {
  access_only_lips 10
}

# ---------------------------------------------------------------------------------- d
case_d_big() {
  local dl="$RUN_DIR/big.download" want got t0 t1
  t0=$(date +%s.%N)
  CURL_MAX_TIME=60 ns_curl c -o "$dl" "http://$VIP/big.bin"
  t1=$(date +%s.%N)
  log "20 MB through the VIP in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s"
  assert_eq "$((BIG_MB * 1024 * 1024))" "$(stat -c %s "$dl")" "downloaded size"
  want="$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)"
  got="$(sha256sum <"$dl" | cut -d' ' -f1)"
  assert_eq "$want" "$got" "sha256 of big.bin through the VIP"
}

# ---------------------------------------------------------------------------------- e
# Churn: a new connection per request, 64 at a time, in rounds of 8 s.  Every request answered, no local
# port ever missing, no connection-table collision.
case_e_churn() {
  # A count, not a rate: wrk runs in rounds of 8 s until WRK_MIN connections have churned
  # through the local ports (a shared, loaded machine may need more rounds; at most 6).
  local out reqs=0 sock=0 non2xx=0 r n round
  for round in 1 2 3 4 5 6; do
    out="$(ns_exec c timeout 30 wrk -t1 -c64 -d8s -H 'Connection: close' "http://$VIP/" 2>&1)" || true
    printf '%s\n' "$out" | sed "s/^/    wrk $round| /"
    r="$(awk '/ requests in / {print $1}' <<<"$out")"
    assert_match "${r:-}" '^[0-9]+$' "wrk printed a request count"
    reqs=$((reqs + r))
    # "Socket errors: connect 0, read 0, write 0, timeout 0" (printed only when one is not 0)
    n="$(awk -F'[ ,]+' '/Socket errors:/ {s = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print s}' <<<"$out")"
    sock=$((sock + ${n:-0}))
    n="$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' <<<"$out")"
    non2xx=$((non2xx + ${n:-0}))
    [ "$reqs" -lt "$WRK_MIN" ] || break
  done
  log "wrk: $reqs requests in $round round(s) of 8 s, socket errors $sock, non-2xx $non2xx"
  assert_eq 0 "$sock" "wrk socket errors"
  assert_eq 0 "$non2xx" "wrk non-2xx/3xx responses"
  if [ "$reqs" -lt "$WRK_MIN" ]; then warn "wrk completed $reqs requests in 6 rounds, fewer than $WRK_MIN"; return 1; fi
  local c
  rvsadm --counters | grep -E 'fullnat|collision|drop-no-real|table-full' | sed 's/^/    counters| /' || true
  for c in drop-fullnat-no-port drop-connection-collision drop-connection-table-full; do
    assert_eq 0 "$(counter "$c")" "counter $c"
  done
  access_only_lips "$reqs"
}

# ---------------------------------------------------------------------------------- f
case_f_list() {
  local out
  out="$(rvsadm -Ln)"
  printf '%s\n' "$out" | sed 's/^/    Ln| /'
  assert_contains "$out" "TCP  198.18.0.100:80 rr" "service row"
  assert_match "$(grep -F -- '-> 198.18.2.11:80' <<<"$out")" '^  -> 198\.18\.2\.11:80 +FullNat +1 ' "rs1 row: FullNat"
  assert_match "$(grep -F -- '-> 198.18.2.12:80' <<<"$out")" '^  -> 198\.18\.2\.12:80 +FullNat +1 ' "rs2 row: FullNat"
  assert_contains "$(rvsadm -S -n)" "-a -t 198.18.0.100:80 -r 198.18.2.11:80 --fullnat -w 1" "-S -n saves --fullnat"
}

# ---------------------------------------------------------------------------------- g
# -Q removes a local address: -G no longer lists it, new connections use the other one.
case_g_del_laddr() {
  rvsadm -Q -t "$VIP:80" -z "$LIP2"
  local out
  out="$(rvsadm -G -t "$VIP:80")"
  printf '%s\n' "$out" | sed 's/^/    G| /'
  assert_not_contains "$out" "$LIP2" "-G after -Q $LIP2"
  assert_contains "$out" "$LIP1" "-G still lists $LIP1"
  local n1 n2 tail_addrs
  n1="$(wc -l <"$FULLNAT_WWW/rs1/access.log")"; n2="$(wc -l <"$FULLNAT_WWW/rs2/access.log")"
  out="$(curl_many c 6 "http://$VIP/")"
  log "6 requests: $(tr '\n' ' ' <<<"$out"); drop counters: $(rvsadm --counters | awk '$1 ~ /^drop-/ {printf "%s=%s ", $1, $2}')"
  # Not a strict 3:3 here: after the churn every client port has an entry in the director's
  # table, and the few wrk left in SYN_RECV (connections cut at 8 s) are not rescheduled by
  # a new SYN (as in IPVS); such a request lands where the old entry points.
  assert_eq 6 "$(( $(count_lines "$out" rs1) + $(count_lines "$out" rs2) ))" "requests answered"
  if [ "$(count_lines "$out" rs1)" = 0 ] || [ "$(count_lines "$out" rs2)" = 0 ]; then
    warn "one real server got no request"; return 1
  fi
  tail_addrs="$( { tail -n +"$((n1 + 1))" "$FULLNAT_WWW/rs1/access.log"; tail -n +"$((n2 + 1))" "$FULLNAT_WWW/rs2/access.log"; } | awk '{print $1}' | sort -u)"
  assert_eq "$LIP1" "$tail_addrs" "sources of the requests after -Q $LIP2"
}

# ---------------------------------------------------------------------------------- l
# The same service from the configuration file, local addresses by the key
# [[service]] local_addresses: a second rvs, started after the first stopped.
case_l_config() {
  local out
  out="$(rvsadm -G -t "$VIP:80")"
  printf '%s\n' "$out" | sed 's/^/    G| /'
  assert_contains "$out" "$LIP1" "-G lists $LIP1 from the config"
  assert_contains "$out" "$LIP2" "-G lists $LIP2 from the config"
  assert_match "$(grep -F -- '-> 198.18.2.11:80' <<<"$(rvsadm -Ln)")" '^  -> 198\.18\.2\.11:80 +FullNat ' "rs1 row from the config"
  local n1 n2 tail_addrs
  n1="$(wc -l <"$FULLNAT_WWW/rs1/access.log")"; n2="$(wc -l <"$FULLNAT_WWW/rs2/access.log")"
  out="$(curl_many c 6 "http://$VIP/")"
  log "6 requests: $(tr '\n' ' ' <<<"$out")"
  assert_eq 3 "$(count_lines "$out" rs1)" "requests answered by rs1"
  assert_eq 3 "$(count_lines "$out" rs2)" "requests answered by rs2"
  tail_addrs="$( { tail -n +"$((n1 + 1))" "$FULLNAT_WWW/rs1/access.log"; tail -n +"$((n2 + 1))" "$FULLNAT_WWW/rs2/access.log"; } | awk '{print $1}')"
  assert_eq "" "$(grep -vxF -e "$LIP1" -e "$LIP2" <<<"$tail_addrs" || true)" "sources other than the configured local addresses"
}

run_case "a. --fullnat service, -P local addresses, -G lists them" case_a_setup
run_case "b. FULLNAT rr: 10 requests alternate rs1/rs2" case_b_rr
run_case "c. the real servers saw only the local addresses" case_c_sources
run_case "d. 20 MB download through the VIP, sha256" case_d_big
run_case "e. churn: wrk -c64 Connection: close, >= $WRK_MIN requests, no errors" case_e_churn
run_case "f. -Ln shows FullNat" case_f_list
run_case "g. -Q removes a local address" case_g_del_laddr
if stop_rvs; then pass "k. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "k. SIGTERM: exit 0, admin socket removed, XDP detached"; fi

FILE_CONFIG="$RUN_DIR/rvs-fullnat-service.toml"
{ cat "$FULLNAT_CONFIG"; cat <<EOF

[[service]]
tcp = "$VIP:80"
scheduler = "rr"
local_addresses = ["$LIP1", "$LIP2"]

[[service.real]]
address = "$RS1:80"
method = "fullnat"

[[service.real]]
address = "$RS2:80"
method = "fullnat"
EOF
} >"$FILE_CONFIG"
start_rvs "$FILE_CONFIG"
run_case "l. the service and local_addresses from the config file" case_l_config
if stop_rvs; then pass "m. SIGTERM of the second rvs"
else fail "m. SIGTERM of the second rvs"; fi
finish
