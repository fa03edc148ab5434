#!/usr/bin/env bash
# tests/e2e/test_templates.sh: the persistence-template table (`[dataplane] templates`,
# src/ipvs/conn/templates.rs) end to end in the NAT lab (tests/e2e/topo_nat.sh), with a
# table of 4 templates and a persistent service (`persistent = 3`, rr over rs1 and rs2) from
# the config file. The client namespace plays five clients (198.18.0.21..25).
#   a. four clients get templates and stick to their servers; the fifth's SYNs are dropped
#      (no server sees them) and counted as drop-template-table-full; the four still work;
#   c. a reload with templates = 0, 16777217 or "four" (rvsadm --reload and SIGHUP) is
#      refused with the reason, services, templates and a connection held open across the
#      reloads are kept, traffic flows; a valid new size is accepted with "need a restart"
#      and keeps saying so until the file matches what runs again;
#   b. once the templates expire the fifth client is served and gets one;
#   d. a start with a bad value (those, 4.5, -1) exits non-zero with the reason and leaves
#      nothing behind.
# Every refusal must name the key (dataplane.templates) and the accepted range.
# The four clients' requests end with a TCP reset (tests/e2e/http_rst_client.py): a
# connection closed by FINs would sit in TIME_WAIT for 120 s and keep its template alive,
# a reset one is in CLOSE for 10 s. Every client is bounded (3 s connect, 5 s per request).
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
TEMPLATES=4
PERSIST=3
CLIENTS=(198.18.0.21 198.18.0.22 198.18.0.23 198.18.0.24)
EXTRA=198.18.0.25
LAB_CONFIG="$RUN_DIR/rvs-templates.toml"
MAP="$RUN_DIR/client-map"     # "client server" lines, written by case a
DROP=drop-template-table-full

topo_nat
for a in "${CLIENTS[@]}" "$EXTRA"; do ns_exec c ip addr add "$a/24" dev eth0; done

# write_config TEMPLATES-TOML [FILE]: the lab's config with `templates = TEMPLATES-TOML`
write_config() {
  {
    rvs_conf_admin "$RVS_SOCK"
    printf '[dataplane]\ntemplates = %s\n\n' "$1"
    printf '[[service]]\ntcp = "%s:80"\nscheduler = "rr"\npersistent = %s\n\n' "$VIP" "$PERSIST"
    printf '[[service.real]]\naddress = "%s:80"\nmethod = "masq"\n\n' "$RS1" "$RS2"
    sed -n '/^\[\[interface\]\]/,$p' "$NAT_CONFIG"
  } >"${2:-$LAB_CONFIG}"
}
write_config "$TEMPLATES"
cp "$LAB_CONFIG" "$RUN_DIR/good.toml"
start_rvs "$LAB_CONFIG"

# get_from SRC: one GET / from SRC ending with a reset; the body ("rs1"/"rs2") or ERR...
get_from() {
  ns_exec c python3 "$E2E_DIR/http_rst_client.py" "$1" "$VIP" 80 --max-seconds 5 || true
}
# curl_from SRC: one curl from SRC (its SYNs retried for 3 s); the body or ERR
curl_from() {
  ns_exec c curl -sS --noproxy '*' --interface "$1" --connect-timeout "$CURL_CONNECT_TIMEOUT" \
    --max-time "$CURL_MAX_TIME" "http://$VIP/" 2>/dev/null || echo ERR
}
counter() { rvsadm --counters | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
# template_map: "client server" per template row of -Lnc (state NONE), sorted
template_map() { rvsadm -Lnc | awk '$3 == "NONE" {split($4, c, ":"); split($6, r, ":"); print c[1], r[1]}' | sort; }
n_templates() { rvsadm -Lnc | awk '$3 == "NONE" {n++} END {print n + 0}'; }
rs_ip() { case "$1" in rs1) echo "$RS1" ;; rs2) echo "$RS2" ;; *) echo "?" ;; esac; }
# seen_by_servers SRC: request lines from SRC in the real servers' logs (NAT keeps the source)
seen_by_servers() { cat "$LOG_DIR"/http-rs[12]-80.log | grep -c "^${1//./\\.} " || true; }
show_lnc() { rvsadm -Lnc | sed "s/^/    $1| /"; }
# services: -Ln without the ActiveConn/InActConn columns (connections come and go meanwhile)
services() { rvsadm -Ln | awk '$1 == "->" && $2 ~ /^[0-9]/ {print $1, $2, $3, $4; next} {print}'; }

# refused_client WHAT: the fifth client's curl fails, no server sees it, -Lnc lists nothing
# of it, the template count stays 4 and drop-template-table-full grows; prints the figures.
refused_client() {
  local d0 d1 out
  d0="$(counter "$DROP")"
  out="$(curl_from "$EXTRA")"
  d1="$(counter "$DROP")"
  log "$1: client $EXTRA: curl answer '$out'; $DROP $d0 -> $d1 (+$((d1 - d0)) SYNs); templates $(n_templates)/$TEMPLATES; requests from it seen by rs1+rs2: $(seen_by_servers "$EXTRA")"
  assert_eq ERR "$out" "$1: client $EXTRA's curl is refused"
  assert_true "$1: $DROP counts the refused SYNs" test "$d1" -gt "$d0"
  assert_eq 0 "$(seen_by_servers "$EXTRA")" "$1: no real server saw $EXTRA"
  assert_not_contains "$(rvsadm -Lnc)" " $EXTRA:" "$1: -Lnc lists nothing of $EXTRA"
  assert_eq "$TEMPLATES" "$(n_templates)" "$1: still $TEMPLATES templates"
}

# sticks WHAT: each of the four clients is answered by the server case a recorded
sticks() {
  local a s out
  while read -r a s; do
    out="$(get_from "$a")"
    assert_eq "$s" "$out" "$1: client $a answered by its server"
  done <"$MAP"
  now >"$RUN_DIR/last-request"
  log "$1: the $TEMPLATES clients answered by their servers ($(tr '\n' ' ' <"$MAP"))"
}

# ---------------------------------------------------------------------------------- a
case_a_table_full() {
  assert_contains "$(rvsadm -Ln)" "TCP  $VIP:80 rr persistent $PERSIST" "the persistent service from the file"
  local a o1 o2 used=""
  : >"$MAP"
  for a in "${CLIENTS[@]}"; do
    o1="$(get_from "$a")"; o2="$(get_from "$a")"
    log "client $a: $o1 $o2"
    [[ "$o1" == rs[12] ]] || { warn "client $a got '$o1'"; return 1; }
    assert_eq "$o1" "$o2" "client $a's second request on its first's server"
    printf '%s %s\n' "$a" "$o1" >>"$MAP"
    used+="$o1 "
  done
  [[ "$used" == *rs1* && "$used" == *rs2* ]] || { warn "rr used one server only: $used"; return 1; }
  show_lnc a
  local want=""
  while read -r a s; do want+="$a $(rs_ip "$s")"$'\n'; done <"$MAP"
  assert_eq "$(sort <<<"${want%$'\n'}")" "$(template_map)" "-Lnc: one template per client, naming its server"
  local pc
  pc="$(rvsadm -Ln --persistent-conn | awk '$1 == "->" && $2 ~ /^[0-9]/ {s += $4} END {print s + 0}')"
  assert_eq "$TEMPLATES" "$pc" "PersistConn summed over the real servers"
  refused_client "a"
  sticks "a"
}

# ---------------------------------------------------------------------------------- c
# reason_for VALUE-TOML: what rvs must say of `templates = VALUE-TOML`, naming the key
reason_for() {
  if [[ "$1" =~ ^-?[0-9]+$ ]]; then
    printf 'dataplane.templates: %s is not in 1..=16777216 per poll loop\n' "$1"
  else
    printf 'dataplane.templates: %s is not a whole number (1..=16777216 per poll loop)\n' "$1"
  fi
}

# bad_reload VALUE-TOML hup|rvsadm EXPECTED-REASON: puts the bad value in the running
# config, reloads, puts the good file back; refused, the reason logged (and answered).
bad_reload() {
  local value="$1" how="$2" reason="$3" from rc=0 out newlog
  from=$(( $(wc -l <"$RVS_LOG") + 1 ))
  write_config "$value"
  if [ "$how" = hup ]; then
    kill -HUP "$RVS_PID"
    wait_until 5 eval "tail -n +$from '$RVS_LOG' | grep -q 'reload'" || true
  else
    out="$(rvsadm --reload 2>&1)" || rc=$?
    log "  templates = $value, rvsadm --reload: exit $rc: $out"
    [ "$rc" != 0 ] || { cp "$RUN_DIR/good.toml" "$LAB_CONFIG"; warn "rvsadm --reload accepted templates = $value"; return 1; }
    assert_contains "$out" "reload refused, running rules kept" "rvsadm --reload's refusal"
    assert_contains "$out" "$reason" "rvsadm --reload says why"
  fi
  cp "$RUN_DIR/good.toml" "$LAB_CONFIG"
  newlog="$(tail -n +"$from" "$RVS_LOG")"
  [ "$how" = rvsadm ] || log "  templates = $value, SIGHUP: rvs logged: $newlog"
  assert_contains "$newlog" "reload refused, running rules kept" "templates = $value ($how): the refusal is logged"
  assert_contains "$newlog" "$reason" "templates = $value ($how): the log says why"
  assert_not_contains "$newlog" "applied" "templates = $value ($how): nothing applied"
}

case_c_bad_reload() {
  local held="$RUN_DIR/held" release="$RUN_DIR/release" pid ln0 map0 how body hs
  rm -f "$release"
  # Released however the case ends: a held connection would keep client 1's template for
  # its whole 30 s bound, and case b waits for every template to go.
  trap ": >'$release'" EXIT
  # A connection held open (ESTABLISHED, no request yet) across the reloads, from client 1.
  ip netns exec "$NS_C" python3 "$E2E_DIR/http_rst_client.py" "${CLIENTS[0]}" "$VIP" 80 \
    --hold "$release" --max-seconds 30 >"$held" 2>&1 &
  pid=$!
  wait_until 5 grep -q connected "$held" || { warn "the held connection did not connect: $(cat "$held")"; return 1; }
  hs="$(awk -v c="${CLIENTS[0]}" '$1 == c {print $2}' "$MAP")"
  sticks "c, before"
  ln0="$(services)"
  map0="$(template_map)"
  show_lnc "c, before"
  assert_match "$(rvsadm -Lnc)" "ESTABLISHED ${CLIENTS[0]//./\\.}:[0-9]+ " "the held connection is listed"
  local d0 v reloads=0; d0="$(counter "$DROP")"
  for how in rvsadm hup; do
    for v in 0 16777217 '"four"'; do
      bad_reload "$v" "$how" "$(reason_for "$v")"
      reloads=$((reloads + 1))
    done
  done
  show_lnc "c, after"
  assert_eq "$ln0" "$(services)" "-Ln (services, real servers, weights) unchanged by the refused reloads"
  assert_eq "$map0" "$(template_map)" "the templates (client -> server) unchanged by the refused reloads"
  assert_match "$(rvsadm -Lnc)" "ESTABLISHED ${CLIENTS[0]//./\\.}:[0-9]+ " "the held connection is still listed"
  : >"$release"
  wait "$pid" || true
  body="$(tail -n 1 "$held")"
  log "the connection held across $reloads refused reloads: answered '$body' (client ${CLIENTS[0]} is on $hs)"
  assert_eq "$hs" "$body" "the held connection answered after the reloads, by its server"
  sticks "c, after"
  refused_client "c, after"
  log "c: $DROP grew by $(( $(counter "$DROP") - d0 )) during the case (the fifth client only)"
}

# A valid new size is taken by the reload and answered with "[dataplane] changes need a
# restart"; the table keeps its size (the fifth client is still refused). The note must stay
# until the file matches what runs again: a second reload of the same file is no less
# unapplied, and the running size back in the file needs no restart.
case_c2_resize_needs_restart() {
  local out
  write_config 8
  out="$(rvsadm --reload 2>&1)"
  log "templates = 8, rvsadm --reload: $out"
  assert_contains "$out" "applied" "templates = 8: the reload is taken"
  assert_contains "$out" "[dataplane] changes need a restart" "templates = 8: it says a restart applies it"
  out="$(rvsadm --reload 2>&1)"
  log "templates = 8 again, rvsadm --reload: $out"
  assert_contains "$out" "[dataplane] changes need a restart" "templates = 8 again: still not running, still said"
  refused_client "c2, templates = 8 in the file"
  cp "$RUN_DIR/good.toml" "$LAB_CONFIG"
  out="$(rvsadm --reload 2>&1)"
  log "templates = $TEMPLATES again, rvsadm --reload: $out"
  assert_not_contains "$out" "need a restart" "templates = $TEMPLATES (what runs): nothing needs a restart"
  sticks "c2"
}

# ---------------------------------------------------------------------------------- b
case_b_expiry() {
  local t0 t1 out
  t0="$(cat "$RUN_DIR/last-request")"
  wait_until 40 eval '[ "$(n_templates)" = 0 ]' || { show_lnc b; warn "templates still listed 40 s into case b"; return 1; }
  t1="$(now)"
  log "b: every template gone $(ms_between "$t0" "$t1") ms after the clients' last request (their connections' CLOSE 10 s, then the persistence timeout $PERSIST s)"
  local d0; d0="$(counter "$DROP")"
  out="$(curl_from "$EXTRA")"
  log "b: client $EXTRA after the expiry: '$out'"
  [[ "$out" == rs[12] ]] || { warn "client $EXTRA is still refused: '$out'"; return 1; }
  assert_eq "$EXTRA $(rs_ip "$out")" "$(template_map)" "b: -Lnc lists its template, naming its server"
  assert_eq "$d0" "$(counter "$DROP")" "b: no drop this time"
  assert_true "b: a real server saw $EXTRA" test "$(seen_by_servers "$EXTRA")" -ge 1
  show_lnc b
}

# ---------------------------------------------------------------------------------- d
case_d_bad_start() {
  local v reason f rc out chk crc
  for v in 0 16777217 '"four"' 4.5 -1; do
    reason="$(reason_for "$v")"
    f="$RUN_DIR/bad-$(tr -d '"' <<<"$v").toml"
    write_config "$v" "$f"
    rc=0; out="$(ip netns exec "$NS_D" timeout 10 "$RVS_BIN" --config "$f" 2>&1 </dev/null)" || rc=$?
    crc=0; chk="$("$RVS_BIN" --config "$f" --check 2>&1)" || crc=$?
    log "d: start with templates = $v: exit $rc: $out"
    assert_true "d: templates = $v: a non-zero exit" test "$rc" != 0
    assert_true "d: templates = $v: not still running (timeout)" test "$rc" != 124
    assert_contains "$out" "bad configuration" "d: templates = $v: says the configuration is bad"
    assert_contains "$out" "$reason" "d: templates = $v: says why"
    assert_eq "$rc $out" "$crc $chk" "d: templates = $v: rvs --check says the same"
    [ ! -e "$RVS_SOCK" ] || { warn "d: templates = $v left $RVS_SOCK"; return 1; }
    if ip -n "$NS_D" -d link show | grep -q 'prog/xdp'; then warn "d: templates = $v left an XDP program"; return 1; fi
  done
}

T_START=$SECONDS
run_case "a. templates = $TEMPLATES: four clients stick, the fifth is dropped ($DROP)" case_a_table_full
run_case "c. reloads with templates = 0, 16777217, \"four\": refused, state and a held connection kept" case_c_bad_reload
run_case "c2. a valid new size on reload: needs a restart, said until the file matches" case_c2_resize_needs_restart
run_case "b. the templates expire: the fifth client is served" case_b_expiry
if stop_rvs; then pass "e. SIGTERM: clean"; else fail "e. SIGTERM: clean"; fi
run_case "d. a start with templates = 0, 16777217, \"four\", 4.5, -1: refused, non-zero exit" case_d_bad_start
log "cases took $((SECONDS - T_START)) s"
finish
