#!/usr/bin/env bash
# tests/e2e/test_ipvsadm_seeds.sh: replays the ipvsadm command sequences of the seed articles
# (Chinese LVS tutorials: 000 yunweipai "LVS 相关软件以及命令", 003 "LvsTest", 004 "LVS技術知識詳解")
# through rvsadm and compares rvs's listings with what ipvsadm printed there.
#
# The seeds are web pages: their captures lost line breaks and trailing blanks.  The
# expected texts below are those captures with the line breaks put back where ipvsadm's
# print_title()/print_service_entry() put them; they are compared with rvs's output with
# blanks at line ends stripped on both sides, but otherwise exactly (column layout, sort
# order, header).  Seed 000's FWM listing kept its trailing blanks: that one is also
# compared byte for byte.  Layouts the seeds do not show (--rate, --thresholds,
# --persistent-conn) are built here with ipvsadm's own printf formats.
#
# The seed addresses (172.25.x, 192.168.x, 172.20.x) are only text in rvs's tables here:
# rvs runs in a namespace with one veth (198.18.0.1/24) and no packet is ever sent.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

SEEDS_CONFIG="$RUN_DIR/rvs-seeds.toml"
ns_add d
ns_add p
veth_add d d-out p eth0
{ rvs_conf_admin "$RVS_SOCK"; rvs_conf_iface d-out 198.18.0.1/24; } >"$SEEDS_CONFIG"
start_rvs "$SEEDS_CONFIG"

HDR="IP Virtual Server version 1.2.1 (size=4096)"
T1="Prot LocalAddress:Port Scheduler Flags"
T2="  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"

rstrip() { sed 's/[[:space:]]*$//'; }

# seed_eq WHAT EXPECTED ACTUAL: equal after stripping blanks at line ends (both sides)
seed_eq() {
  assert_eq "$(printf '%s\n' "$2" | rstrip)" "$(printf '%s\n' "$3" | rstrip)" "$1"
}

# ipvsadm's row formats (ipvsadm.c print_service_entry), for the layouts built here
dest_row() {   # ADDR:PORT FORWARD WEIGHT ACTIVE INACT
  printf '  -> %-28s %-7s %-6d %-10u %-10u\n' "$1" "$2" "$3" "$4" "$5"
}

# ---------------------------------------------------------------------------------- a
# 004 §2.1.2: the example commands, then §2.2.2.2 (4): the NAT service.
case_a_004_examples() {
  rvsadm -A -t 172.25.254.100:80 -s rr
  rvsadm -E -t 172.25.254.100:80 -s wrr
  rvsadm -a -t 172.25.254.100:80 -r 192.168.1.10:80 -g -w 2
  seed_eq "-Ln after -E -s wrr, -a -g -w 2" "$HDR
$T1
$T2
TCP  172.25.254.100:80 wrr
  -> 192.168.1.10:80              Route   2      0          0" "$(rvsadm -Ln)"
  rvsadm -e -t 172.25.254.100:80 -r 192.168.1.10:80 -g -w 5
  assert_contains "$(rvsadm -Ln)" "  -> 192.168.1.10:80              Route   5      0          0" "-e -w 5"
  rvsadm -d -t 172.25.254.100:80 -r 192.168.1.10:80
  seed_eq "-Ln after -d" "$HDR
$T1
$T2
TCP  172.25.254.100:80 wrr" "$(rvsadm -Ln)"
  rvsadm -D -t 172.25.254.100:80
  seed_eq "-Ln after -D" "$HDR
$T1
$T2" "$(rvsadm -Ln)"
}

# ---------------------------------------------------------------------------------- b
# 004 §2.2.2.2 (4)-(5): NAT rules, -Ln, -Sn, -C, -Ln, -R < saved, -Ln.
NAT_LN="$HDR
$T1
$T2
TCP  172.25.254.100:80 rr
  -> 192.168.1.10:80              Masq    1      0          0
  -> 192.168.1.20:80              Masq    1      0          0"
case_b_004_nat_save_restore() {
  rvsadm -A -t 172.25.254.100:80 -s rr
  rvsadm -a -t 172.25.254.100:80 -r 192.168.1.10:80 -m
  rvsadm -a -t 172.25.254.100:80 -r 192.168.1.20:80 -m
  seed_eq "-Ln (004 §2.2.2.2 (4))" "$NAT_LN" "$(rvsadm -Ln)"
  local saved="$RUN_DIR/ipvsadm.saved"
  rvsadm -Sn >"$saved"
  seed_eq "-Sn (cat /etc/sysconfig/ipvsadm)" "-A -t 172.25.254.100:80 -s rr
-a -t 172.25.254.100:80 -r 192.168.1.10:80 -m -w 1
-a -t 172.25.254.100:80 -r 192.168.1.20:80 -m -w 1" "$(cat "$saved")"
  rvsadm -C
  seed_eq "-Ln after -C" "$HDR
$T1
$T2" "$(rvsadm -Ln)"
  rvsadm -R <"$saved"
  seed_eq "-Ln after -R < saved" "$NAT_LN" "$(rvsadm -Ln)"
}

# ---------------------------------------------------------------------------------- c
# `-L -t VIP:PORT` lists one service: titles and that service, no version line.  Without
# -n ipvsadm names the port from /etc/services (80 -> http), as getservbyport() would.
case_c_one_service() {
  seed_eq "-Ln -t 172.25.254.100:80" "$T1
$T2
TCP  172.25.254.100:80 rr
  -> 192.168.1.10:80              Masq    1      0          0
  -> 192.168.1.20:80              Masq    1      0          0" "$(rvsadm -Ln -t 172.25.254.100:80)"
  local want
  want="$(getent services 80/tcp | awk '{print $1}')"
  [ -n "$want" ] || want=80
  seed_eq "-L -t 172.25.254.100:80 (names)" "$T1
$T2
TCP  172.25.254.100:$want rr
$(dest_row "192.168.1.10:$want" Masq 1 0 0)
$(dest_row "192.168.1.20:$want" Masq 1 0 0)" "$(rvsadm -L -t 172.25.254.100:80)"
}

# ---------------------------------------------------------------------------------- d
# --stats and --rate with no traffic: all zeros, in ipvsadm's layout (titles %-33s then
# %8s columns; rows %-33s / "  -> %-28s" then " %8llu" per number).
case_d_stats_rate_zero() {
  local z
  z="$(printf ' %8u' 0 0 0 0 0)"
  seed_eq "-Ln --stats (003's title)" "$HDR
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
$(printf '%-33s%s' 'TCP  172.25.254.100:80' "$z")
$(printf '  -> %-28s%s' 192.168.1.10:80 "$z")
$(printf '  -> %-28s%s' 192.168.1.20:80 "$z")" "$(rvsadm -Ln --stats)"
  rvsadm -Z
  seed_eq "-Ln --rate" "$HDR
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
$(printf '%-33s%s' 'TCP  172.25.254.100:80' "$z")
$(printf '  -> %-28s%s' 192.168.1.10:80 "$z")
$(printf '  -> %-28s%s' 192.168.1.20:80 "$z")" "$(rvsadm -Ln --rate)"
  rvsadm -Z -t 172.25.254.100:80
  seed_eq "-Ln --stats --exact after -Z -t" "$(rvsadm -Ln --stats)" "$(rvsadm -Ln --stats --exact)"
}

# ---------------------------------------------------------------------------------- e
# -x/-y thresholds and the --thresholds / --persistent-conn layouts.
case_e_thresholds() {
  rvsadm -e -t 172.25.254.100:80 -r 192.168.1.10:80 -m -x 100 -y 50
  seed_eq "-Ln --thresholds" "$HDR
$(printf '%-33s %-10s %-10s %-10s %-10s' 'Prot LocalAddress:Port' Uthreshold Lthreshold ActiveConn InActConn)
  -> RemoteAddress:Port
TCP  172.25.254.100:80 rr
$(printf '  -> %-28s %-10u %-10u %-10u %-10u' 192.168.1.10:80 100 50 0 0)
$(printf '  -> %-28s %-10u %-10u %-10u %-10u' 192.168.1.20:80 0 0 0 0)" "$(rvsadm -Ln --thresholds)"
  seed_eq "-Ln --persistent-conn" "$HDR
$(printf '%-33s %-9s %-11s %-10s %-10s' 'Prot LocalAddress:Port' Weight PersistConn ActiveConn InActConn)
  -> RemoteAddress:Port
TCP  172.25.254.100:80 rr
$(printf '  -> %-28s %-9u %-11u %-10u %-10u' 192.168.1.10:80 1 0 0 0)
$(printf '  -> %-28s %-9u %-11u %-10u %-10u' 192.168.1.20:80 1 0 0 0)" "$(rvsadm -Ln --persistent-conn)"
  # ipvsadm -S saves thresholds as -x/-y
  assert_contains "$(rvsadm -Sn)" "-a -t 172.25.254.100:80 -r 192.168.1.10:80 -m -w 1 -x 100 -y 50" "-Sn keeps -x/-y"
  rvsadm -C
}

# ---------------------------------------------------------------------------------- f
# 004 §2.3.2.2 (4) and §2.4.1 (3): DR services on 80 and 443 (sorted by port), -C.
case_f_004_dr() {
  rvsadm -A -t 192.168.1.220:80 -s rr
  rvsadm -a -t 192.168.1.220:80 -r 192.168.1.10:80 -g
  rvsadm -a -t 192.168.1.220:80 -r 192.168.1.20:80 -g
  seed_eq "-Ln (004 §2.3.2.2 (4))" "$HDR
$T1
$T2
TCP  192.168.1.220:80 rr
  -> 192.168.1.10:80              Route   1      0          0
  -> 192.168.1.20:80              Route   1      0          0" "$(rvsadm -Ln)"
  rvsadm -A -t 192.168.1.220:443 -s rr
  rvsadm -a -t 192.168.1.220:443 -r 192.168.1.10:443 -g
  rvsadm -a -t 192.168.1.220:443 -r 192.168.1.20:443 -g
  seed_eq "-Ln (004 §2.4.1 (3))" "$HDR
$T1
$T2
TCP  192.168.1.220:80 rr
  -> 192.168.1.10:80              Route   1      0          0
  -> 192.168.1.20:80              Route   1      0          0
TCP  192.168.1.220:443 rr
  -> 192.168.1.10:443             Route   1      0          0
  -> 192.168.1.20:443             Route   1      0          0" "$(rvsadm -Ln)"
  rvsadm -C
  seed_eq "-Ln after -C (004 §2.4.2 (1))" "$HDR
$T1
$T2" "$(rvsadm -Ln)"
}

# ---------------------------------------------------------------------------------- g
# 004 §2.4.2 (3): the firewall-mark service.  The seed's iptables MARK rule becomes rvs's
# own classification rule (checked in test_fwmark.sh with traffic); here only the table.
case_g_004_fwm66() {
  rvsadm --add-mark 66 -t 192.168.1.220/32:80,443
  rvsadm -A -f 66 -s rr
  rvsadm -a -f 66 -r 192.168.1.10 -g
  rvsadm -a -f 66 -r 192.168.1.20 -g
  seed_eq "-Ln (004 §2.4.2 (3))" "$HDR
$T1
$T2
FWM  66 rr
  -> 192.168.1.10:0               Route   1      0          0
  -> 192.168.1.20:0               Route   1      0          0" "$(rvsadm -Ln)"
  assert_contains "$(rvsadm -Sn)" "-A -f 66 -s rr" "-Sn saves the FWM service"
  assert_contains "$(rvsadm -Sn)" "-a -f 66 -r 192.168.1.10:0 -g -w 1" "-Sn saves the FWM dest"
  assert_contains "$(rvsadm --list-marks)" "192.168.1.220" "--list-marks shows the rule"
  # -C clears rvs's whole table, its mark rules included (so that -S | -C | -R round-trips)
  rvsadm -C
  assert_not_contains "$(rvsadm --list-marks)" "192.168.1.220" "-C removed the mark rule"
}

# ---------------------------------------------------------------------------------- h
# 000: `ipvsadm -A -f 10` (default scheduler wlc), two -g dests; listed sorted by address
# (192.168.39.7 before 192.168.39.17).  This capture kept its trailing blanks: byte-exact.
case_h_000_fwm10() {
  rvsadm -A -f 10
  rvsadm -a -f 10 -r 192.168.39.17 -g
  rvsadm -a -f 10 -r 192.168.39.7 -g
  local expected
  expected="$HDR
$T1
$T2
FWM  10 wlc
  -> 192.168.39.7:0               Route   1      0          0         
  -> 192.168.39.17:0              Route   1      0          0         "
  assert_eq "$expected" "$(rvsadm -Ln)" "-Ln (000 FWM 10), trailing blanks included"
  rvsadm -C
}

# ---------------------------------------------------------------------------------- i
# 003 "LVS-nat": rr service, dests without a port (the service's port), -Z, --stats/--rate,
# then -E -s wrr and -e -w 3; -L --timeout.
case_i_003_wrr() {
  rvsadm -A -t 172.20.0.24:80 -s rr
  seed_eq "-L -n, empty service" "$HDR
$T1
$T2
TCP  172.20.0.24:80 rr" "$(rvsadm -L -n)"
  rvsadm -a -t 172.20.0.24:80 -r 192.168.1.16 -m
  rvsadm -a -t 172.20.0.24:80 -r 192.168.1.8 -m
  local z; z="$(printf ' %8u' 0 0 0 0 0)"
  rvsadm -Z
  seed_eq "-L -n --stats (003)" "$HDR
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
$(printf '%-33s%s' 'TCP  172.20.0.24:80' "$z")
$(printf '  -> %-28s%s' 192.168.1.8:80 "$z")
$(printf '  -> %-28s%s' 192.168.1.16:80 "$z")" "$(rvsadm -L -n --stats)"
  assert_eq 6 "$(rvsadm -L -n --rate | wc -l)" "-L -n --rate lines"
  rvsadm -E -t 172.20.0.24:80 -s wrr
  rvsadm -e -t 172.20.0.24:80 -r 192.168.1.16 -m -w 3
  rvsadm -e -t 172.20.0.24:80 -r 192.168.1.8 -m
  seed_eq "-Ln after -E -s wrr, -e -w 3" "$HDR
$T1
$T2
TCP  172.20.0.24:80 wrr
  -> 192.168.1.8:80               Masq    1      0          0
  -> 192.168.1.16:80              Masq    3      0          0" "$(rvsadm -Ln)"
  seed_eq "-L -c, no connections" "IPVS connection entries
pro expire state       source             virtual            destination" "$(rvsadm -L -c)"
  assert_eq "Timeout (tcp tcpfin udp): 900 120 300" "$(rvsadm -L --timeout)" "-L --timeout"
  rvsadm -C
}

# ---------------------------------------------------------------------------------- j
# 003 "lvs_dr_vs.sh start": -a with -w 1 given explicitly, default -g; then "stop": -C.
case_j_003_dr_script() {
  local vip=172.20.0.24 port=80 rs1=192.168.1.16 rs2=192.168.1.8 scheduler=wrr type=-g
  rvsadm -A -t "${vip}:${port}" -s "$scheduler"
  rvsadm -a -t "${vip}:${port}" -r "${rs1}" "$type" -w 1
  rvsadm -a -t "${vip}:${port}" -r "${rs2}" "$type" -w 1
  seed_eq "-Ln after lvs_dr_vs.sh start" "$HDR
$T1
$T2
TCP  172.20.0.24:80 wrr
  -> 192.168.1.8:80               Route   1      0          0
  -> 192.168.1.16:80              Route   1      0          0" "$(rvsadm -Ln)"
  seed_eq "-S -n" "-A -t 172.20.0.24:80 -s wrr
-a -t 172.20.0.24:80 -r 192.168.1.8:80 -g -w 1
-a -t 172.20.0.24:80 -r 192.168.1.16:80 -g -w 1" "$(rvsadm -S -n)"
  rvsadm -C
  seed_eq "-Ln after lvs_dr_vs.sh stop" "$HDR
$T1
$T2" "$(rvsadm -Ln)"
}

# ---------------------------------------------------------------------------------- l
# ipvsadm 1.31's answers where rvs used to differ (issue 15), through rvsadm and the daemon:
# -R line by line (restore_table()), the exit statuses and texts of a missing service, an
# unknown scheduler, thresholds out of range, -p alone, a 0.0.0.0 VIP, -6 before -f.
case_l_ipvsadm_131() {
  local out rc
  rvsadm -C
  rc=0; out="$(printf '%s\n' "-A -t 198.18.5.1:80 -s rr" "-a -t 198.18.5.9:80 -r 198.18.6.1 -m" \
    "-a -t 198.18.5.1:80 -r 198.18.6.1 -m" "-A -t 198.18.5.2:80 -p" | rvsadm -R 2>&1)" || rc=$?
  assert_eq "Service not defined" "$out" "-R: the refused line's error, the others applied"
  assert_eq 0 "$rc" "-R: the last line's status"
  seed_eq "-S -n after a -R with a refused line" "-A -t 198.18.5.1:80 -s rr
-a -t 198.18.5.1:80 -r 198.18.6.1:80 -m -w 1
-A -t 198.18.5.2:80 -s wlc -p 360" "$(rvsadm -S -n)"
  rc=0; out="$(printf '%s\n' "-A -t 198.18.5.3:80" "-A -t 198.18.5.4:80 -w 2" "-A -t 198.18.5.5:80" \
    | rvsadm -R 2>&1)" || rc=$?
  assert_eq "2 Illegal 'weight' option with the 'add-service' command" "$rc $out" "-R stops at a fail() line"
  assert_contains "$(rvsadm -Ln)" "198.18.5.3:80" "-R: the lines before the fail() line stay"
  if rvsadm -Ln | grep -q "198.18.5.5:80"; then fail "-R read on after a fail() line"; return 1; fi
  rc=0; out="$(rvsadm -L -n -t 198.18.5.9:80 2>&1)" || rc=$?
  assert_eq "1 No such service" "$rc $out" "-L -t of a missing service"
  rc=0; out="$(rvsadm -A -t 198.18.5.6:80 -s foo 2>&1)" || rc=$?
  assert_eq "255 Scheduler or persistence engine not found" "$rc $out" "-s foo"
  rc=0; out="$(rvsadm -a -t 198.18.5.1:80 -r 198.18.6.2 -m -x 5 -y 6 2>&1)" || rc=$?
  assert_eq "255 Numerical result out of range" "$rc $out" "-x 5 -y 6"
  rc=0; out="$(rvsadm -a -t 198.18.5.1:80 -r 198.18.6.2 -m -y 6 2>&1)" || rc=$?
  assert_eq "255 Numerical result out of range" "$rc $out" "-y 6 alone"
  rvsadm -A -t 0.0.0.0:80 -s rr
  assert_contains "$(rvsadm -Ln)" "TCP  0.0.0.0:80 rr" "a 0.0.0.0 VIP"
  rc=0; rvsadm -A -t 198.18.5.7:80 -6 2>"$RUN_DIR/six.err" || rc=$?
  assert_eq "2" "$rc" "-6 before -f: status"
  assert_eq "$(printf '%s\n\n' "-6 used before -f" | od -c)" "$(od -c <"$RUN_DIR/six.err")" "-6 before -f: two newlines"
  seed_eq "-L -c --persistent-conn title" "IPVS connection entries
pro expire state       source             virtual            destination        pe name          pe_data" \
    "$(rvsadm -L -c --persistent-conn)"
  rvsadm -C
}

run_case "a. 004 §2.1.2 examples: -A, -E -s wrr, -a -g -w 2, -e -w 5, -d, -D" case_a_004_examples
run_case "b. 004 NAT: -Ln, -Sn, -C, -R < saved, -Ln" case_b_004_nat_save_restore
run_case "c. -L -t VIP:80 lists one service (no version line)" case_c_one_service
run_case "d. --stats, -Z, --rate: zeros in ipvsadm's layout" case_d_stats_rate_zero
run_case "e. -x 100 -y 50: --thresholds, --persistent-conn" case_e_thresholds
run_case "f. 004 DR: 80 and 443, then -C" case_f_004_dr
run_case "g. 004 §2.4.2: FWM 66 rr" case_g_004_fwm66
run_case "h. 000: FWM 10 wlc, byte-exact" case_h_000_fwm10
run_case "i. 003 NAT: -Z, --stats, -E -s wrr, -e -w 3, -L -c, --timeout" case_i_003_wrr
run_case "j. 003 lvs_dr_vs.sh start/stop" case_j_003_dr_script
run_case "l. ipvsadm 1.31: -R line by line, exit statuses and texts" case_l_ipvsadm_131
if stop_rvs; then pass "k. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "k. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
finish
