#!/usr/bin/env bash
# tests/e2e/test_ipv6_admin.sh: IPv6 in the control plane, on the NAT lab with IPv6 on. IPv6
# services, real servers and local addresses go in through ipvsadm's syntax (rvs's ipvsadm
# link: `-6`, `[addr]:port`, `-M` as a prefix length, IPv6 `-r`) and through the config file,
# are listed as ipvsadm 1.31 and the kernel's /proc/net/ip_vs print them (-Ln, --stats, -S,
# -Lnc), survive -S / -C / -R, and are refused with ipvsadm's texts and exit statuses where
# the kernel refuses them. The health checker probes IPv6 real servers (python http.server on
# [2001:db8:1::1x]:8086 in the real servers' namespaces) from the director's kernel over
# IPv6 and takes one out and back. The data plane does not forward IPv6 services yet: a
# client's IPv6 SYN to the VIP is dropped and counted (drop-ipv6), and IPv4 keeps working.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP6=$NAT_VIP6
HOST6_IN=2001:db8:1::2
RS1_6=2001:db8:1::11
RS2_6=2001:db8:1::12
CONFIG="$RUN_DIR/rvs-ipv6-admin.toml"

topo_nat6
ns_exec rs1 ip -6 addr add "$RS1_6/64" dev eth0 nodad
ns_exec rs2 ip -6 addr add "$RS2_6/64" dev eth0 nodad
# The director's kernel reaches the real servers over IPv6 (its health checks' host path).
ns_exec d ip -6 addr add "$HOST6_IN/64" dev d-in nodad
ns_exec d ethtool -K d-in tx off >/dev/null 2>&1 || true

# start_http6 NS ADDR NAME: a TCP server on [ADDR]:8086 answering "NAME" (socat: python's
# http.server asks DNS for its own name, which these namespaces cannot reach); its pid in
# $RUN_DIR/http6-NAME.pid (the health case stops and restarts it by that pid).
start_http6() {
  bg "$1" "http6-$3" socat "TCP6-LISTEN:8086,bind=[$2],reuseaddr,fork" "SYSTEM:echo $3"
  echo "$BG_PID" >"$RUN_DIR/http6-$3.pid"
  wait_until 10 _listening "$1" t 8086 || { ns_exec "$1" ss -Hltnp >&2; die "no server on [$2]:8086"; }
}
start_http6 rs1 "$RS1_6" rs1-v6
start_http6 rs2 "$RS2_6" rs2-v6

# The config file's IPv6 service: a TCP-checked NAT service of the two IPv6 servers.
{
  rvs_conf_admin "$RVS_SOCK"
  nat_conf_dout6
  rvs_conf_iface d-in "$NAT_DIR_IN/24"
  cat <<CFG
[[service]]
tcp = "[$VIP6]:80"
scheduler = "rr"
persistent = 600
netmask = "64"
[service.check]
type = "tcp"
interval = 0.3
timeout = 0.5
retries = 1
rise = 1
CFG
  for w in 1 2; do
    printf '[[service.real]]\naddress = "[2001:db8:1::1%s]:8086"\nmethod = "masq"\nweight = %s\n' "$w" "$w"
  done
} >"$CONFIG"
start_rvs "$CONFIG"

# rvs's ipvsadm link: the rvsadm binary under the name ipvsadm speaks ipvsadm 1.31.
mkdir -p "$RUN_DIR/bin"
ln -s "$RVSADM_BIN" "$RUN_DIR/bin/ipvsadm"
ipvsadm() { "$RUN_DIR/bin/ipvsadm" "$@"; }
# dline ADDR:PORT FORWARD WEIGHT: a real server's -Ln line with no connections (ipvsadm's
# "  -> %-28s %-7s %-6d %-10u %-10u").
dline() { printf '  -> %-28s %-7s %-6s %-10s %-10s' "$1" "$2" "$3" 0 0; }
counter() { rvsadm --counters | awk -v c="$1" '$1 == c {n = $2} END {print n + 0}'; }
# expect_fail STATUS TEXT CMD...: CMD fails with exactly STATUS and prints exactly TEXT on stderr.
expect_fail() {
  local status="$1" text="$2" rc=0 err="$RUN_DIR/err.txt"; shift 2
  "$@" >/dev/null 2>"$err" || rc=$?
  assert_eq "$status" "$rc" "exit status of: $*"
  assert_eq "$text" "$(cat "$err")" "message of: $*"
}

rvsadm -A -t "$NAT_VIP:80" -s rr
rvsadm -a -t "$NAT_VIP:80" -r "$NAT_RS1:80" -m
rvsadm -a -t "$NAT_VIP:80" -r "$NAT_RS2:80" -m

W=2001:db8:6::200
case_a_ipvsadm_syntax_and_listing() {
  ipvsadm -A -t "[$W]:80" -s wrr -p 120 -M 48
  ipvsadm -a -t "[$W]:80" -r "[$RS1_6]:8086" -m -w 3
  ipvsadm -a -t "[$W]:80" -r "$RS2_6" -g
  ipvsadm -A -u "[$W]:53" -s rr
  ipvsadm -A -f 6 -6 -s rr
  ipvsadm -a -f 6 -6 -r "[$RS1_6]:0" -g
  ipvsadm -P -t "[$W]:80" -z 2001:db8:1::100
  # An IPv6 real server on the IPv4 service: only a tunnel can carry it.
  ipvsadm -a -t "$NAT_VIP:80" -r "[$RS1_6]:80" -i
  local out
  out="$(ipvsadm -Ln)"
  printf '%s\n' "$out"
  # ipvs_cmp_dests after the family: the IPv4 real servers first.
  assert_contains "$out" "TCP  198.18.0.100:80 rr
$(dline "$NAT_RS1:80" Masq 1)
$(dline "$NAT_RS2:80" Masq 1)
$(dline "[$RS1_6]:80" Tunnel 1)" "an IPv6 TUN server of an IPv4 service"
  assert_contains "$out" "TCP  [$VIP6]:80 rr persistent 600 mask 64
$(dline "[$RS1_6]:8086" Masq 1)
$(dline "[$RS2_6]:8086" Masq 2)" "the config file's IPv6 service"
  assert_contains "$out" "TCP  [$W]:80 wrr persistent 120 mask 48
$(dline "[$RS1_6]:8086" Masq 3)
$(dline "[$RS2_6]:80" Route 1)" "ipvsadm's IPv6 service"
  assert_contains "$out" "UDP  [$W]:53 rr" "the UDP one"
  assert_contains "$out" "FWM  6 IPv6 rr
$(dline "[$RS1_6]:0" Route 1)" "the IPv6 fwmark service"
  # The order ipvs_cmp_services gives: fwmark, family, protocol, address, port.
  assert_eq "TCP 198.18.0.100:80|TCP [$VIP6]:80|TCP [$W]:80|UDP [$W]:53|FWM 6" \
    "$(printf '%s\n' "$out" | grep -E '^(TCP|UDP|FWM)' | awk '{print $1" "$2}' | paste -sd'|')" \
    "services sorted as ipvsadm sorts them"
  assert_contains "$(ipvsadm -L -t "[$W]:80")" "TCP  [$W]:http wrr persistent 120 mask 48" "-L names the port, never the IPv6 address"
  assert_contains "$(ipvsadm -G -t "[$W]:80")" "2001:db8:1::100" "the IPv6 local address (-G)"
}

case_b_stats_rate_and_proc() {
  local out zeros
  zeros="$(printf '%9s%9s%9s%9s%9s' 0 0 0 0 0)"
  out="$(ipvsadm -Ln --stats -t "[$W]:80")"
  assert_contains "$out" "$(printf '%-33s' "TCP  [$W]:80")$zeros" "--stats: the 33-column service field"
  assert_contains "$out" "$(printf '  -> %-28s' "[$RS1_6]:8086")$zeros" "--stats: a real server"
  assert_contains "$(ipvsadm -Ln --rate -t "[$W]:80")" "$(printf '%-33s' "TCP  [$W]:80")$zeros" "--rate"
  assert_contains "$(ipvsadm -Ln --thresholds -t "[$W]:80")" \
    "$(printf '  -> %-28s %-10s %-10s %-10s %-10s' "[$RS2_6]:80" 0 0 0 0)" "--thresholds"
  assert_contains "$(ipvsadm -Ln --persistent-conn -t "[$W]:80")" \
    "$(printf '  -> %-28s %-9s %-11s %-10s %-10s' "[$RS1_6]:8086" 3 0 0 0)" "--persistent-conn"
  assert_contains "$(ipvsadm -Ln --tun-info -t "$NAT_VIP:80")" \
    "$(printf '  -> %-28s %-7s %-13s %-6s %-10s %-10s' "[$RS1_6]:80" Tunnel ipip 1 0 0)" "--tun-info"
  local proc procfile
  procfile="$(rvs_proc_dir "$RVS_SOCK")/ip_vs"
  # rvs rewrites the file every few seconds.
  wait_until 10 grep -q "0200]:0050" "$procfile" || { cat "$procfile" >&2; warn "no IPv6 service in $procfile"; return 1; }
  proc="$(cat "$procfile")"
  assert_contains "$proc" "TCP  [2001:0db8:0006:0000:0000:0000:0000:0200]:0050 wrr persistent 30000 30000000" \
    "/proc/net/ip_vs: %pI6, no ops field, ntohl(48)"
  assert_contains "$proc" "  -> [2001:0db8:0001:0000:0000:0000:0000:0011]:1F96      Masq    3      0          0" "/proc/net/ip_vs: an IPv6 real server"
}

case_c_lnc_empty() {
  assert_eq "IPVS connection entries
pro expire state       source             virtual            destination" "$(ipvsadm -Lnc)" "-Lnc: no connections (IPv6 is not forwarded yet)"
}

case_d_save_clear_restore() {
  local saved="$RUN_DIR/saved.rules" again="$RUN_DIR/again.rules"
  ipvsadm -S -n >"$saved"
  cat "$saved"
  assert_contains "$(cat "$saved")" "-A -t [$W]:80 -s wrr -p 120 -M 48" "-S: -M as a prefix length"
  assert_contains "$(cat "$saved")" "-a -t [$W]:80 -r [$RS1_6]:8086 -m -w 3" "-S: an IPv6 real server"
  assert_contains "$(cat "$saved")" "-A -f 6 -6 -s rr" "-S: -f N -6"
  assert_contains "$(cat "$saved")" "-P -t [$W]:80 -z 2001:db8:1::100" "-S: an IPv6 local address"
  ipvsadm -C
  assert_eq "" "$(ipvsadm -S -n)" "-C cleared everything"
  ipvsadm -R <"$saved"
  ipvsadm -S -n >"$again"
  assert_eq "$(cat "$saved")" "$(cat "$again")" "-S after -R is what -S gave before -C"
}

case_e_errors_and_statuses() {
  expect_fail 2 "illegal virtual server address[:port] specified" ipvsadm -A -t "[$W:80"
  expect_fail 2 "illegal virtual server address[:port] specified" ipvsadm -A -t "[$W]80"
  expect_fail 2 "illegal virtual server address[:port] specified" ipvsadm -A -t "[$W]"
  expect_fail 2 "Zero port specified for non-persistent service" ipvsadm -A -t "$W:81"
  expect_fail 2 "illegal ipv6 netmask specified" ipvsadm -A -t "[$W]:81" -p -M 129
  expect_fail 2 "illegal real server address[:port] specified" ipvsadm -a -t "[$W]:80" -r "[$RS1_6"
  # ipvsadm's own text ends in a newline, then fail() adds one ($(...) strips both).
  expect_fail 2 "-6 used before -f" ipvsadm -A -6 -f 7
  local einval="Invalid operation.  Possibly wrong module version, address not unicast, ..."
  expect_fail 255 "$einval" ipvsadm -a -t "$NAT_VIP:80" -r "[$RS2_6]:80" -m
  expect_fail 255 "$einval" ipvsadm -a -t "[$W]:80" -r "$NAT_RS1:80" -g
  expect_fail 255 "$einval" ipvsadm -a -t "[$W]:80" -r "[fe80::1]:80" -m
  expect_fail 255 "$einval" ipvsadm -a -t "[$W]:80" -r "[ff02::1]:80" -m
  expect_fail 255 "Destination already exists" ipvsadm -a -t "[$W]:80" -r "[$RS1_6]:8086" -m
  expect_fail 255 "Service not defined" ipvsadm -a -t "[$W]:99" -r "[$RS1_6]:8086" -m
  # Nothing changed by the refusals; rvs still runs.
  assert_eq 3 "$(ipvsadm -Ln -t "[$W]:80" | grep -c -- '->' || true)" "the service kept its two real servers (the title's line and two)"
}

case_f_health_check_over_ipv6() {
  wait_until 10 eval '[ "$(rvsadm --checks | grep -c " UP ")" -ge 2 ]' || { rvsadm --checks >&2; warn "IPv6 checks never UP"; return 1; }
  rvsadm --checks
  assert_contains "$(rvsadm --checks)" "[$RS1_6]:8086" "--checks names the IPv6 real server"
  local pid
  pid="$(cat "$RUN_DIR/http6-rs1-v6.pid")"
  kill "$pid"
  wait_until 10 eval '[[ "$(rvsadm -Ln -t "[$VIP6]:80")" != *"[$RS1_6]:8086"* ]]' \
    || { rvsadm -Ln >&2; warn "rs1's IPv6 server stopped, still in rotation"; return 1; }
  assert_contains "$(rvsadm --checks)" "DOWN" "--checks shows rs1 down"
  assert_contains "$(rvsadm -Ln -t "[$VIP6]:80")" "[$RS2_6]:8086" "rs2 stays"
  start_http6 rs1 "$RS1_6" rs1-v6
  wait_until 10 eval '[[ "$(rvsadm -Ln -t "[$VIP6]:80")" == *"[$RS1_6]:8086"* ]]' \
    || { rvsadm -Ln >&2; warn "rs1's IPv6 server back, not back in rotation"; return 1; }
  assert_contains "$(rvsadm -Ln -t "[$VIP6]:80")" "$(dline "[$RS1_6]:8086" Masq 1)" "rs1 back at its weight"
}

case_g_ipv4_client_to_an_ipv6_tun_server() {
  local before out
  # The IPv4 service's IPv6 TUN real server (IPv4-in-IPv6, pipeline/tun46.rs) is on no link
  # where rvs has an IPv6 address (2001:db8:1::/64), and no IPv6 route leads there: it takes
  # its share of the IPv4 clients' SYNs, each dropped and counted (drop-ipv6-no-route), no
  # connection made, and the client's retransmission is scheduled on to the next server.
  # (test_dr6.sh e carries IPv4-in-IPv6 to servers rvs can reach.)
  before="$(counter drop-ipv6-no-route)"
  out="$(curl_many c 6 "http://$NAT_VIP/")"
  assert_eq 6 "$(( $(count_lines "$out" rs1) + $(count_lines "$out" rs2) ))" "every IPv4 request answered by an IPv4 server"
  assert_true "SYNs scheduled to the unreachable IPv6 TUN server counted as drop-ipv6-no-route" \
    test "$(counter drop-ipv6-no-route)" -gt "$before"
  assert_not_contains "$(rvsadm -Lnc)" "[$RS1_6]" "no connection to it"
}

case_h_start_daemon_refused_with_mixed_family() {
  local einval="Invalid operation.  Possibly wrong module version, address not unicast, ..."
  expect_fail 255 "$einval" ipvsadm --start-daemon master --mcast-interface d-in
  expect_fail 255 "Operation not supported with specified address family" \
    ipvsadm --start-daemon master --mcast-interface d-in --mcast-group ff02::81
}

run_case "a. ipvsadm's IPv6 syntax, listed as ipvsadm 1.31 lists it" case_a_ipvsadm_syntax_and_listing
run_case "b. --stats, --thresholds, --persistent-conn, --tun-info, --rate, /proc/net/ip_vs" case_b_stats_rate_and_proc
run_case "c. -Lnc: empty" case_c_lnc_empty
run_case "d. -S, -C, -R round trip" case_d_save_clear_restore
run_case "e. ipvsadm's and the kernel's errors, texts and exit statuses" case_e_errors_and_statuses
run_case "f. no sync daemon with an IPv6 group or mixed families" case_h_start_daemon_refused_with_mixed_family
run_case "g. health checks probe IPv6 real servers: down and up again" case_f_health_check_over_ipv6
run_case "h. an IPv4 client scheduled to an unreachable IPv6 TUN server: dropped and counted, retried elsewhere" case_g_ipv4_client_to_an_ipv6_tun_server
if stop_rvs; then pass "i. SIGTERM: clean stop"; else fail "i. SIGTERM: clean stop"; fi
finish
