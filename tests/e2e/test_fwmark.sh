#!/usr/bin/env bash
# tests/e2e/test_fwmark.sh: firewall-mark services (ipvsadm -f) with persistence, end to end
# in the NAT lab (tests/e2e/topo_nat.sh): seed 004 §2.4 "防火墻標記解決調度問題" — HTTP on 80
# and HTTPS on 443 bound into one service by a mark, so that a client's 80 and 443 land on
# the same real server.  Kernel IPVS takes the mark from `iptables -t mangle ... -j MARK
# --set-mark 66`; AF_XDP frames never pass iptables, so rvs has its own classification rule:
# `rvsadm --add-mark 66 -t 198.18.0.100/32:80,443`.
# The real servers also answer plain HTTP on 443 ("rs1-443"/"rs2-443"): TLS adds nothing to
# what the director does.  The client namespace gets extra addresses 198.18.0.11..14.
# Every case is bounded (curl --max-time, a few dozen requests in all).
# shellcheck disable=SC2317,SC2119,SC2001
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
CLIENTS=(198.18.0.11 198.18.0.12 198.18.0.13 198.18.0.14)

topo_nat
start_http rs1 443 rs1-443
start_http rs2 443 rs2-443
for a in "${CLIENTS[@]}"; do ns_exec c ip addr add "$a/24" dev eth0; done
start_rvs "$NAT_CONFIG"

strip_bars() { sed 's/|$//'; }

# curl_from SRC COUNT URL: COUNT sequential requests from source address SRC; one line each
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

# ---------------------------------------------------------------------------------- a
# The seed's commands, with rvs's mark rule for its iptables line; -Ln exactly as ipvsadm.
case_a_setup() {
  rvsadm --add-mark 66 -t 198.18.0.100/32:80,443
  rvsadm -A -f 66 -s rr -p
  rvsadm -a -f 66 -r "$RS1" -m
  rvsadm -a -f 66 -r "$RS2" -m
  local expected
  expected="$(strip_bars <<EOF
IP Virtual Server version 1.2.1 (size=4096)|
Prot LocalAddress:Port Scheduler Flags|
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn|
FWM  66 rr persistent 360|
  -> 198.18.1.11:0                Masq    1      0          0         |
  -> 198.18.1.12:0                Masq    1      0          0         |
EOF
)"
  assert_eq "$expected" "$(rvsadm -Ln)" "rvsadm -Ln"
}

# ---------------------------------------------------------------------------------- b
# Each client: :80 and :443 (twice each, interleaved) on one server; rr over the clients'
# first connections uses both servers.
case_b_same_server() {
  local a out s used=""
  : >"$RUN_DIR/map-b"
  for a in "${CLIENTS[@]}"; do
    out="$(curl_from "$a" 1 "http://$VIP/")"
    out+=$'\n'"$(curl_from "$a" 1 "http://$VIP:443/")"
    out+=$'\n'"$(curl_from "$a" 1 "http://$VIP/")"
    out+=$'\n'"$(curl_from "$a" 1 "http://$VIP:443/")"
    log "client $a: $(tr '\n' ' ' <<<"$out")"
    s="$(one_server "$(sed 's/-443$//' <<<"$out")")"
    assert_eq 2 "$(count_lines "$out" "$s-443")" "client $a: both :443 requests on $s"
    printf '%s %s\n' "$a" "$s" >>"$RUN_DIR/map-b"
    used+="$s"$'\n'
  done
  if [ "$(count_lines "$used" rs1)" = 0 ] || [ "$(count_lines "$used" rs2)" = 0 ]; then
    warn "the clients did not use both servers: $(tr '\n' ' ' <<<"$used")"; return 1
  fi
}

# ---------------------------------------------------------------------------------- c
# -Lnc: one template per client, virtual "0.0.0.66:0" (the mark), the real server with
# port 0, naming the server that client reached; --persistent-conn counts them.
case_c_templates() {
  local out a s rip n
  out="$(rvsadm -Lnc)"
  grep ' NONE ' <<<"$out" | sed 's/^/    template| /' || true
  n="$(grep -cE '^[A-Z?_]+ +[0-9]{2}:[0-9]{2}  NONE        198\.18\.0\.1[1-4]:0 +0\.0\.0\.66:0 +198\.18\.1\.1[12]:0$' <<<"$out" || true)"
  assert_eq 4 "$n" "FWM templates (one per client)"
  while read -r a s; do
    case "$s" in rs1) rip='198\.18\.1\.11' ;; *) rip='198\.18\.1\.12' ;; esac
    assert_match "$(grep -F " $a:0 " <<<"$out" | grep ' NONE ')" "^[A-Z?_]+ +[0-9]{2}:[0-9]{2}  NONE        ${a//./\\.}:0 +0\\.0\\.0\\.66:0 +$rip:0$" "template of $a names $s"
  done <"$RUN_DIR/map-b"
  # the connections themselves: TCP, client -> VIP:80/443 -> RIP:80/443
  assert_match "$out" "TCP [0-9]{2}:[0-9]{2}  [A-Z_]+ +198\\.18\\.0\\.11:[0-9]+ +198\\.18\\.0\\.100:443 +198\\.18\\.1\\.1[12]:443" "a :443 connection row"
  assert_eq 4 "$(rvsadm -Ln --persistent-conn | awk '$1 == "->" && $2 ~ /^[0-9]/ {s += $4} END {print s + 0}')" "PersistConn sum"
}

# ---------------------------------------------------------------------------------- c2
# The protocol column of a firewall-mark template: IPVS makes it with IPPROTO_IP and
# /proc/net/ip_vs_conn names that "IP" (ip_vs_proto_name()); ipvsadm prints it "%-3s":
#   IP  04:59  NONE        198.18.0.11:0      0.0.0.66:0         198.18.1.11:0
case_c2_template_proto() {
  local rows bad
  rows="$(rvsadm -Lnc | grep ' NONE ' || true)"
  [ -n "$rows" ] || { warn "no templates listed"; return 1; }
  bad="$(grep -vE '^IP  [0-9]{2}:[0-9]{2}  NONE ' <<<"$rows" || true)"
  if [ -n "$bad" ]; then
    warn "FWM template rows not starting 'IP  MM:SS  NONE ':"
    printf '%s\n' "$bad" | cat -A | sed 's/^/    /' >&2
    return 1
  fi
}

# ---------------------------------------------------------------------------------- d
# Ports the rule does not name get no mark: no service answers VIP:8080.
case_d_unmarked_port() {
  if CURL_MAX_TIME=2 CURL_CONNECT_TIMEOUT=2 ns_curl c "http://$VIP:8080/" >/dev/null 2>&1; then
    warn "VIP:8080 answered, but only 80 and 443 are marked"; return 1
  fi
}

# ---------------------------------------------------------------------------------- e
# --list-marks shows the rule as the command that makes it.
case_e_list_marks() {
  assert_eq "FWMARK rules (last match wins)
--add-mark 66 -t 198.18.0.100/32:80,443" "$(rvsadm --list-marks)" "--list-marks"
}

# ---------------------------------------------------------------------------------- f
# -S | -C | -R: the mark rule and the service come back; traffic flows again.
case_f_save_restore() {
  local saved before after
  saved="$(rvsadm -S -n)"
  printf '%s\n' "$saved" | sed 's/^/    saved| /'
  assert_contains "$saved" "--add-mark 66 -t 198.18.0.100/32:80,443" "-S saves the mark rule"
  assert_contains "$saved" "-A -f 66 -s rr -p 360" "-S saves the service (-p alone is 6*60 in ipvsadm.c)"
  assert_contains "$saved" "-a -f 66 -r 198.18.1.11:0 -m -w 1" "-S saves rs1"
  before="$(rvsadm -Ln | awk '{print $1, $2, $3, $4, $5}')"
  rvsadm -C
  assert_eq "FWMARK rules (last match wins)" "$(rvsadm --list-marks)" "-C removes the mark rules"
  assert_not_contains "$(rvsadm -Ln)" "FWM" "-C removes the service"
  printf '%s\n' "$saved" | rvsadm -R
  after="$(rvsadm -Ln | awk '{print $1, $2, $3, $4, $5}')"
  assert_eq "$before" "$after" "-Ln after -S | -C | -R (counters dropped)"
  assert_eq "FWMARK rules (last match wins)
--add-mark 66 -t 198.18.0.100/32:80,443" "$(rvsadm --list-marks)" "--list-marks after -R"
  assert_eq "$saved" "$(rvsadm -S -n)" "-S after -R equals -S before"
  local out
  out="$(curl_from 198.18.0.10 2 "http://$VIP/")"$'\n'"$(curl_from 198.18.0.10 2 "http://$VIP:443/")"
  log "after -R, 198.18.0.10: $(tr '\n' ' ' <<<"$out")"
  local s; s="$(one_server "$(sed 's/-443$//' <<<"$out")")"
  assert_eq 2 "$(count_lines "$out" "$s-443")" "after -R: :443 on the server of :80"
}

# ---------------------------------------------------------------------------------- f2
# After -C and -R the clients of case b still stick to their servers: kernel IPVS keeps the
# templates through -C (connections are not flushed) and -a revives a deleted dest with the
# same address from its dest trash, so each template's server is valid again (this is what
# `systemctl restart ipvsadm`, i.e. -C then -R, relies on).
case_f2_templates_survive_restore() {
  local a s out
  rvsadm -Lnc | grep ' NONE ' | sed 's/^/    template| /' || true
  while read -r a s; do
    out="$(curl_from "$a" 1 "http://$VIP/")"
    assert_eq "$s" "$out" "client $a after -C/-R (was on $s)"
  done <"$RUN_DIR/map-b"
}

# ---------------------------------------------------------------------------------- g
# A marked packet belongs to the FWM service even when a VIP:80 service exists (IPVS looks
# up the mark first): the new VIP:80 service -> rs2:8080 is never used by marked traffic.
case_g_mark_first() {
  rvsadm -A -t "$VIP:80" -s rr
  rvsadm -a -t "$VIP:80" -r "$RS2:8080" -m
  local out
  out="$(curl_from 198.18.0.13 3 "http://$VIP/")"
  log "198.18.0.13 with both services: $(tr '\n' ' ' <<<"$out")"
  assert_not_contains "$out" "8080" "marked traffic went to the VIP:80 service"
  one_server "$out" >/dev/null
  rvsadm -D -t "$VIP:80"
}

# ---------------------------------------------------------------------------------- h
# --del-mark: the rule goes, so :80 is no longer marked and (no VIP:80 service) unanswered.
case_h_del_mark() {
  rvsadm --del-mark 66 -t 198.18.0.100/32:80,443
  assert_eq "FWMARK rules (last match wins)" "$(rvsadm --list-marks)" "--list-marks after --del-mark"
  if CURL_MAX_TIME=2 CURL_CONNECT_TIMEOUT=2 ns_curl c --interface 198.18.0.14 "http://$VIP/" >/dev/null 2>&1; then
    warn "VIP:80 answered a new client after --del-mark"; return 1
  fi
  local rc=0 out
  out="$(rvsadm --del-mark 66 -t 198.18.0.100/32:80,443 2>&1)" || rc=$?
  assert_eq "No such mark rule" "$out" "second --del-mark refused"
  [ "$rc" != 0 ] || { warn "second --del-mark exited 0"; return 1; }
}

run_case "a. --add-mark 66, -A -f 66 -s rr -p, -Ln as ipvsadm" case_a_setup
run_case "b. 4 clients: :80 and :443 of each on one server" case_b_same_server
run_case "c. -Lnc: templates to 0.0.0.66:0, one per client; PersistConn" case_c_templates
run_case "c2. -Lnc: FWM templates are protocol IP" case_c2_template_proto
run_case "d. an unmarked port is not served" case_d_unmarked_port
run_case "e. --list-marks" case_e_list_marks
run_case "f. -S, -C, -R restores the mark rule and the service" case_f_save_restore
run_case "f2. templates survive -C / -R (dest trash)" case_f2_templates_survive_restore
run_case "g. the mark is looked up before VIP:80" case_g_mark_first
run_case "h. --del-mark" case_h_del_mark
if stop_rvs; then pass "k. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "k. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
finish
