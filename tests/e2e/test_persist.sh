#!/usr/bin/env bash
# tests/e2e/test_persist.sh: persistence (ipvsadm -p, -M, port-0 PCC services) through rvs,
# end to end in the NAT lab (tests/e2e/topo_nat.sh).  The client namespace gets extra
# addresses 198.18.0.11..16 so that one namespace plays several clients (curl --interface).
# Every case is bounded (curl --max-time, under a hundred requests in all).
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
CLIENTS=(198.18.0.11 198.18.0.12 198.18.0.13 198.18.0.14 198.18.0.15 198.18.0.16)

topo_nat
for a in "${CLIENTS[@]}"; do ns_exec c ip addr add "$a/24" dev eth0; done
start_rvs "$NAT_CONFIG"

# curl_from SRC COUNT URL: COUNT sequential requests (a new connection each) from source
# address SRC in the client namespace; one line per request: the body, or "ERR".
curl_from() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  ns_exec c bash -c '
    for _ in $(seq "$1"); do
      curl -sS --noproxy "*" --interface "$5" --connect-timeout "$2" --max-time "$3" "$4" 2>/dev/null || echo ERR
    done' _ "$2" "$CURL_CONNECT_TIMEOUT" "$CURL_MAX_TIME" "$3" "$1"
}

# one_server TEXT: prints the single distinct line of TEXT; fails if there are several
one_server() {
  local u; u="$(sort -u <<<"$1")"
  if [ "$(wc -l <<<"$u")" != 1 ] || [ "$u" = ERR ]; then
    warn "answers from more than one server (or errors): $(tr '\n' ' ' <<<"$1")"; return 1
  fi
  printf '%s\n' "$u"
}

# rs_ip NAME (rs1|rs2) -> the real server's address
rs_ip() { case "$1" in rs1*) echo "$RS1" ;; rs2*) echo "$RS2" ;; *) echo "?" ;; esac; }

# persist_sum: sum of the PersistConn column of `-Ln --persistent-conn`
persist_sum() { rvsadm -Ln --persistent-conn | awk '$1 == "->" && $2 ~ /^[0-9]/ {s += $4} END {print s + 0}'; }

# ---------------------------------------------------------------------------------- a
# rr -p 300: six requests from one client all reach the server its first one reached.
case_a_one_client() {
  rvsadm -A -t "$VIP:80" -s rr -p 300
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -m
  rvsadm -a -t "$VIP:80" -r "$RS2:80" -m
  assert_contains "$(rvsadm -Ln)" "TCP  198.18.0.100:80 rr persistent 300" "-Ln service row"
  assert_contains "$(rvsadm -Sn)" "-A -t 198.18.0.100:80 -s rr -p 300" "-Sn saves -p"
  local out s
  out="$(curl_from 198.18.0.10 6 "http://$VIP/")"
  log "6 requests from 198.18.0.10: $(tr '\n' ' ' <<<"$out")"
  s="$(one_server "$out")"
  log "198.18.0.10 sticks to $s"
}

# ---------------------------------------------------------------------------------- b
# Six more clients, three requests each: each sticks to one server; rr spreads the first
# connections of new clients over both servers.  The client -> server mapping is kept in
# $RUN_DIR/map-b for case c.
case_b_clients() {
  local a out s used=""
  : >"$RUN_DIR/map-b"
  for a in "${CLIENTS[@]}"; do
    out="$(curl_from "$a" 3 "http://$VIP/")"
    s="$(one_server "$out")" || { warn "client $a"; return 1; }
    log "client $a -> $s"
    printf '%s %s\n' "$a" "$s" >>"$RUN_DIR/map-b"
    used+="$s"$'\n'
  done
  printf '198.18.0.10 %s\n' "$(curl_from 198.18.0.10 1 "http://$VIP/")" >>"$RUN_DIR/map-b"
  if [ "$(count_lines "$used" rs1)" = 0 ] || [ "$(count_lines "$used" rs2)" = 0 ]; then
    warn "new clients did not use both servers: $(tr '\n' ' ' <<<"$used")"; return 1
  fi
}

# ---------------------------------------------------------------------------------- c
# -Lnc lists one persistence template per client (state NONE, client port 0, expiring
# within 300 s), naming the server that client reached; --persistent-conn counts them.
case_c_templates() {
  local out a s row n
  out="$(rvsadm -Lnc)"
  grep ' NONE ' <<<"$out" | sed 's/^/    template| /' || true
  n="$(grep -cE '^TCP [0-9]{2}:[0-9]{2}  NONE        198\.18\.0\.1[0-6]:0 +198\.18\.0\.100:80 +198\.18\.1\.1[12]:80$' <<<"$out" || true)"
  assert_eq 7 "$n" "template rows (7 clients)"
  while read -r a s; do
    row="$(grep -E "^TCP [0-9]{2}:[0-9]{2}  NONE        ${a//./\\.}:0 " <<<"$out" || true)"
    assert_match "$row" "^TCP 0[0-4]:[0-5][0-9]  NONE        ${a//./\\.}:0 +198\\.18\\.0\\.100:80 +$(rs_ip "$s" | sed 's/\./\\./g'):80$" "template of $a names $s"
  done <"$RUN_DIR/map-b"
  local ln
  ln="$(rvsadm -Ln --persistent-conn)"
  printf '%s\n' "$ln" | sed 's/^/    pconn| /'
  assert_eq 7 "$(persist_sum)" "PersistConn summed over the dests (7 clients)"
  local n1 p1
  n1="$(awk '$2 == "rs1" {n++} END {print n + 0}' "$RUN_DIR/map-b")"
  p1="$(awk -v r="$RS1:80" '$1 == "->" && $2 == r {print $4}' <<<"$ln")"
  assert_eq "$n1" "$p1" "rs1's PersistConn = clients mapped to rs1"
}

# ---------------------------------------------------------------------------------- d
# -E ... -M 255.255.255.0: the template is per /24, so every client of 198.18.0.0/24 sticks
# to one server (the old /32 templates no longer match anything).
case_d_netmask() {
  rvsadm -E -t "$VIP:80" -s rr -p 300 -M 255.255.255.0
  assert_contains "$(rvsadm -Ln)" "TCP  198.18.0.100:80 rr persistent 300 mask 255.255.255.0" "-Ln shows the mask"
  assert_contains "$(rvsadm -Sn)" "-A -t 198.18.0.100:80 -s rr -p 300 -M 255.255.255.0" "-Sn saves -M"
  local a out all=""
  for a in 198.18.0.10 "${CLIENTS[@]}"; do
    out="$(curl_from "$a" 2 "http://$VIP/")"
    all+="$out"$'\n'
  done
  all="${all%$'\n'}"
  log "14 requests from 7 clients of the /24: $(tr '\n' ' ' <<<"$all")"
  one_server "$all" >/dev/null
  assert_match "$(rvsadm -Lnc)" "TCP [0-9]{2}:[0-9]{2}  NONE        198\\.18\\.0\\.0:0 +198\\.18\\.0\\.100:80 +198\\.18\\.1\\.1[12]:80" "a /24 template (client 198.18.0.0:0)"
}

# ---------------------------------------------------------------------------------- e
# Port-0 service (PCC): every port of the VIP from one client goes to one real server; the
# dests have no port, so the client's port is kept (80 -> "rsN", 8080 -> "rsN-8080").
case_e_pcc() {
  rvsadm -C
  rvsadm -A -t "$VIP:0" -s rr -p
  rvsadm -a -t "$VIP:0" -r "$RS1" -m
  rvsadm -a -t "$VIP:0" -r "$RS2" -m
  assert_contains "$(rvsadm -Ln)" "TCP  198.18.0.100:0 rr persistent 360" "-Ln port-0 service (-p alone: 360)"
  assert_contains "$(rvsadm -Ln)" "$(printf '  -> %-28s %-7s %-6d %-10u %-10u' 198.18.1.11:0 Masq 1 0 0)" "-Ln port-0 dest"
  local a p80 p8080 s used=""
  for a in 198.18.0.11 198.18.0.12 198.18.0.13 198.18.0.14; do
    p80="$(curl_from "$a" 2 "http://$VIP/")"
    p8080="$(curl_from "$a" 2 "http://$VIP:8080/")"
    log "client $a: :80 -> $(tr '\n' ' ' <<<"$p80"), :8080 -> $(tr '\n' ' ' <<<"$p8080")"
    s="$(one_server "$p80")"
    assert_eq "$s-8080" "$(one_server "$p8080")" "client $a: :8080 on the server of :80"
    used+="$s"$'\n'
  done
  if [ "$(count_lines "$used" rs1)" = 0 ] || [ "$(count_lines "$used" rs2)" = 0 ]; then
    warn "PCC clients did not use both servers: $(tr '\n' ' ' <<<"$used")"; return 1
  fi
  local n
  n="$(rvsadm -Lnc | grep -cE '^TCP [0-9]{2}:[0-9]{2}  NONE        198\.18\.0\.1[1-4]:0 +198\.18\.0\.100:0 +198\.18\.1\.1[12]:0$' || true)"
  assert_eq 4 "$n" "PCC templates (VIP:0 -> RIP:0), one per client"
}

# ---------------------------------------------------------------------------------- f
# PPC on another port alongside PCC: the more specific VIP:8080 service wins over VIP:0
# (IPVS looks up the exact port before the port-0 service).
case_f_ppc_beside_pcc() {
  rvsadm -A -t "$VIP:8080" -s rr
  rvsadm -a -t "$VIP:8080" -r "$RS1:8080" -m
  local out
  out="$(curl_from 198.18.0.15 4 "http://$VIP:8080/")"
  assert_eq 4 "$(count_lines "$out" rs1-8080)" "VIP:8080 answered by the exact service (rs1 only)"
  rvsadm -D -t "$VIP:8080"
}

run_case "a. rr -p 300: 6 requests from one client, one server" case_a_one_client
run_case "b. 6 more clients: each sticks, both servers used" case_b_clients
run_case "c. -Lnc templates per client, --persistent-conn sums to 7" case_c_templates
run_case "d. -E -M 255.255.255.0: the whole /24 sticks to one server" case_d_netmask
run_case "e. port-0 PCC: :80 and :8080 from a client reach one server" case_e_pcc
run_case "f. an exact VIP:8080 service beside the port-0 service" case_f_ppc_beside_pcc
if stop_rvs; then pass "k. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "k. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
finish
