#!/usr/bin/env bash
# tests/e2e/test_procfs.sh: the kernel's /proc/net/ip_vs, ip_vs_conn, ip_vs_stats and
# ip_vs_stats_percpu as rvs writes them under [admin] proc_dir, read by the REAL Prometheus
# node_exporter (Debian prometheus-node-exporter, run by hand in the director's namespace
# with only its ipvs collector and --path.procfs at the directory's parent): its node_ipvs_*
# figures equal what rvsadm -Ln / -Ln --stats print at the same moment.
# Lab: tests/e2e/topo_nat.sh (NAT, a TCP service with two weighted real servers, a UDP
# service and a firewall-mark service). Traffic: 20 HTTP requests and 4 UDP datagrams.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

NODE_EXPORTER="${NODE_EXPORTER:-$(command -v prometheus-node-exporter || true)}"
[ -x "$NODE_EXPORTER" ] || die "prometheus-node-exporter is not installed (scripts/setup installs it)"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
NE_PORT=19100

topo_nat
PROC_NET="$(rvs_proc_dir "$RVS_SOCK")"
PROC_ROOT="${PROC_NET%/net}"
start_rvs "$NAT_CONFIG"

# ------------------------------------------------------------------------------------ a
# The files appear within a second of a change, byte for byte what `rvsadm --proc` prints.
case_a_files_follow_the_rules() {
  rvsadm -A -t "$VIP:80" -s wrr
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -m -w 3
  rvsadm -a -t "$VIP:80" -r "$RS2:80" -m -w 1
  rvsadm -A -u "$VIP:5353" -s rr -p 60
  rvsadm -a -u "$VIP:5353" -r "$RS2:5353" -m -w 2
  rvsadm -A -f 7 -s wlc
  rvsadm -a -f 7 -r "$RS1:0" -m -w 5
  local end=$((SECONDS + 2))
  until grep -q '^FWM  00000007 wlc' "$PROC_NET/ip_vs" 2>/dev/null; do
    [ "$SECONDS" -lt "$end" ] || { warn "$PROC_NET/ip_vs did not show the services within 2 s"; return 1; }
    sleep 0.1
  done
  log "$PROC_NET/ip_vs:"
  sed 's/^/    | /' "$PROC_NET/ip_vs"
  local n
  for n in ip_vs ip_vs_conn ip_vs_stats ip_vs_stats_percpu; do
    assert_true "$PROC_NET/$n exists" test -f "$PROC_NET/$n"
  done
  assert_eq "$(rvsadm --proc ip_vs)" "$(cat "$PROC_NET/ip_vs")" "the file and rvsadm --proc ip_vs"
  assert_eq "$(rvsadm --proc /proc/net/ip_vs)" "$(cat "$PROC_NET/ip_vs")" "--proc takes the /proc path too"
  # The kernel's lines (ip_vs_info_seq_show), the newest real server first.
  assert_eq "TCP  C6120064:0050 wrr  " "$(sed -n 4p "$PROC_NET/ip_vs")" "the TCP service's line"
  assert_eq "  -> C612010C:0050      Masq    1      0          0         " \
    "$(sed -n 5p "$PROC_NET/ip_vs")" "its newest real server"
  assert_contains "$(cat "$PROC_NET/ip_vs")" "UDP  C6120064:14E9 rr  persistent 15000 FFFFFFFF" "persistent UDP line"
  assert_contains "$(cat "$PROC_NET/ip_vs")" "  -> C612010B:0000      Masq    5      0          0         " "the FWM service's server"
  local rc=0 out
  out="$(rvsadm --proc ip_vs_nothing 2>&1)" || rc=$?
  assert_eq 2 "$rc" "exit status of --proc with an unknown name"
  assert_contains "$out" "ip_vs, ip_vs_conn, ip_vs_stats, ip_vs_stats_percpu" "the message names the files"
}

# ------------------------------------------------------------------------------------ b
# Real traffic, then wait until rvsadm's figures are still (two readings 1.5 s apart equal).
listing() { rvsadm -Ln; echo; rvsadm -Ln --stats --exact; }
case_b_traffic() {
  local out i
  out="$(curl_many c 20 "http://$VIP/")"
  assert_eq 15 "$(count_lines "$out" rs1)" "wrr 3:1: requests answered by rs1"
  assert_eq 5 "$(count_lines "$out" rs2)" "wrr 3:1: requests answered by rs2"
  for i in 1 2 3 4; do udp_ask c "$VIP" 5353 "q$i" >/dev/null; done
  local still
  still="$(wait_still 15 listing)"
  log "still figures:"
  sed 's/^/    | /' <<<"$still"
  # The files are rewritten every second: give them one round after the figures stopped.
  sleep 1.2
  log "$PROC_NET/ip_vs_stats:"
  sed 's/^/    | /' "$PROC_NET/ip_vs_stats"
  log "$PROC_NET/ip_vs_stats_percpu:"
  sed 's/^/    | /' "$PROC_NET/ip_vs_stats_percpu"
  log "$PROC_NET/ip_vs_conn (first lines):"
  head -n 5 "$PROC_NET/ip_vs_conn" | sed 's/^/    | /'
  assert_eq "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData" \
    "$(head -n1 "$PROC_NET/ip_vs_conn")" "ip_vs_conn's header"
  assert_eq "$(($(rvsadm -Lnc | wc -l) - 2))" "$(($(wc -l <"$PROC_NET/ip_vs_conn") - 1))" \
    "ip_vs_conn has a line per -Lnc entry"
}

# ------------------------------------------------------------------------------------ c
# node_exporter's ipvs collector over the files equals rvsadm.
scrape() { ns_curl d "http://127.0.0.1:$NE_PORT/metrics"; }
case_c_node_exporter() {
  bg d node_exporter "$NODE_EXPORTER" --collector.disable-defaults --collector.ipvs \
    --path.procfs="$PROC_ROOT" --web.listen-address="127.0.0.1:$NE_PORT"
  log "node_exporter pid $BG_PID: --collector.disable-defaults --collector.ipvs --path.procfs=$PROC_ROOT"
  wait_tcp_listen d "$NE_PORT"
  local before metrics after
  before="$(listing)"
  metrics="$(scrape)"
  after="$(listing)"
  assert_eq "$before" "$after" "rvsadm's figures did not move during the scrape"
  log "node_exporter's node_ipvs_* samples:"
  grep '^node_ipvs_' <<<"$metrics" | sed 's/^/    | /'
  assert_not_contains "$metrics" 'node_scrape_collector_success{collector="ipvs"} 0' "the ipvs collector succeeded"

  # Totals: the sum of the service lines of -Ln --stats (Conns InPkts OutPkts InBytes OutBytes).
  local stats conns inpkts outpkts inbytes outbytes
  stats="$(rvsadm -Ln --stats --exact)"
  read -r conns inpkts outpkts inbytes outbytes < <(awk '
    $1 == "TCP" || $1 == "UDP" || $1 == "FWM" { c += $3; ip += $4; op += $5; ib += $6; ob += $7 }
    END { printf "%d %d %d %d %d\n", c, ip, op, ib, ob }' <<<"$stats")
  log "rvsadm -Ln --stats totals: conns $conns inpkts $inpkts outpkts $outpkts inbytes $inbytes outbytes $outbytes"
  [ "$conns" -ge 20 ] || { warn "only $conns connections counted"; return 1; }
  assert_eq "$conns" "$(metric "$metrics" node_ipvs_connections_total)" "node_ipvs_connections_total"
  assert_eq "$inpkts" "$(metric "$metrics" node_ipvs_incoming_packets_total)" "node_ipvs_incoming_packets_total"
  assert_eq "$outpkts" "$(metric "$metrics" node_ipvs_outgoing_packets_total)" "node_ipvs_outgoing_packets_total"
  assert_eq "$inbytes" "$(metric "$metrics" node_ipvs_incoming_bytes_total)" "node_ipvs_incoming_bytes_total"
  assert_eq "$outbytes" "$(metric "$metrics" node_ipvs_outgoing_bytes_total)" "node_ipvs_outgoing_bytes_total"

  # Per real server: weight, ActiveConn, InActConn of -Ln against the backend gauges.
  local ln proto vaddr vport mark raddr rport weight act inact labels n=0
  ln="$(rvsadm -Ln)"
  while read -r proto vaddr vport mark raddr rport weight act inact; do
    if [ "$proto" = FWM ]; then
      labels="local_mark=\"$(printf '%08X' "$mark")\".*proto=\"FWM\".*remote_address=\"$raddr\",remote_port=\"$rport\""
    else
      labels="local_address=\"$vaddr\",local_mark=\"\",local_port=\"$vport\",proto=\"$proto\",remote_address=\"$raddr\",remote_port=\"$rport\""
    fi
    log "  $proto $vaddr:$vport mark $mark -> $raddr:$rport weight $weight active $act inactive $inact"
    assert_eq "$weight" "$(metric "$metrics" node_ipvs_backend_weight "$labels")" "node_ipvs_backend_weight $raddr:$rport"
    assert_eq "$act" "$(metric "$metrics" node_ipvs_backend_connections_active "$labels")" \
      "node_ipvs_backend_connections_active $raddr:$rport"
    assert_eq "$inact" "$(metric "$metrics" node_ipvs_backend_connections_inactive "$labels")" \
      "node_ipvs_backend_connections_inactive $raddr:$rport"
    n=$((n + 1))
  done < <(awk '
    $1 == "TCP" || $1 == "UDP" { p = $1; split($2, a, ":"); va = a[1]; vp = a[2]; m = "-" }
    $1 == "FWM" { p = "FWM"; va = "-"; vp = "-"; m = $2 }
    $1 == "->" && p != "" { split($2, r, ":"); print p, va, vp, m, r[1], r[2], $4, $5, $6 }' <<<"$ln")
  assert_eq 4 "$n" "real servers compared"
  # The inactive connections are the 20 closed HTTP ones (TIME_WAIT), 15 and 5.
  assert_eq 15 "$(metric "$metrics" node_ipvs_backend_connections_inactive "remote_address=\"$RS1\",remote_port=\"80\"")" \
    "rs1's inactive connections"
}

# ------------------------------------------------------------------------------------ d
# -Z: the totals start again from zero; the per-loop rows keep their raw counts, as the
# kernel's per-CPU rows do.
case_d_zero() {
  local rows_before rows_after
  rows_before="$(sed -n 3p "$PROC_NET/ip_vs_stats_percpu")"
  rvsadm -Z
  sleep 1.2
  log "after -Z, $PROC_NET/ip_vs_stats_percpu:"
  sed 's/^/    | /' "$PROC_NET/ip_vs_stats_percpu"
  assert_eq "$(printf '%8X %8X %8X %16X %16X' 0 0 0 0 0)" \
    "$(sed -n 3p "$PROC_NET/ip_vs_stats")" "ip_vs_stats counts after -Z"
  rows_after="$(sed -n 3p "$PROC_NET/ip_vs_stats_percpu")"
  assert_eq "$rows_before" "$rows_after" "loop 0's row is untouched by -Z"
  assert_eq "$(printf '  ~ %8X %8X %8X %16X %16X' 0 0 0 0 0)" "$(sed -n 4p "$PROC_NET/ip_vs_stats_percpu")" \
    "the ~ line after -Z"
}

run_case "a. the files follow the rules within a second; rvsadm --proc prints them" case_a_files_follow_the_rules
run_case "b. real traffic, figures still; ip_vs_conn lists the connections" case_b_traffic
run_case "c. node_exporter's node_ipvs_* figures equal rvsadm -Ln / -Ln --stats" case_c_node_exporter
run_case "d. -Z zeroes the totals, not the per-loop rows" case_d_zero
if stop_rvs; then pass "e. SIGTERM: clean stop"; else fail "e. SIGTERM: clean stop"; fi
left="$(ls -A "$PROC_NET" 2>/dev/null || true)"
if [ -z "$left" ]; then pass "f. the files are gone after the stop"; else fail "f. the files are gone after the stop" "$left"; fi
finish
