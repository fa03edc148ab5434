#!/usr/bin/env bash
# tests/e2e/test_metrics.sh: rvs's Prometheus endpoint ([metrics] listen) in a NAT lab with
# real traffic, scraped by the REAL Prometheus server (Debian prometheus 2.42, run by PID in
# the director's namespace with a temporary config and TSDB) and checked by `promtool check
# metrics`; its node_ipvs_* families diffed against what the REAL node_exporter prints from
# the /proc/net/ip_vs* files rvs keeps; rvs's own families against rvsadm.
# Lab: tests/e2e/topo_nat.sh. Services: TCP :80 wrr 3:1 and UDP :5353 added by rvsadm, and a
# command-checked quiescent TCP :81 from the config, whose health the test flips with a file.
# Traffic: 20 HTTP requests, 4 UDP datagrams, a connect to a port with no service.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

NODE_EXPORTER="${NODE_EXPORTER:-$(command -v prometheus-node-exporter || true)}"
PROMETHEUS="${PROMETHEUS:-$(command -v prometheus || true)}"
PROMTOOL="${PROMTOOL:-$(command -v promtool || true)}"
[ -x "$NODE_EXPORTER" ] || die "prometheus-node-exporter is not installed (scripts/setup installs it)"
[ -x "$PROMETHEUS" ] || die "prometheus is not installed (scripts/setup installs it)"
[ -x "$PROMTOOL" ] || die "promtool is not installed (Debian's prometheus package has it)"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
M_PORT=9520     # rvs's endpoint, on the director namespace's loopback
NE_PORT=19100   # node_exporter
PROM_PORT=19090 # Prometheus
DOWN_DIR="$RUN_DIR/down" # a file named after a real server marks it down for the :81 check
mkdir -p "$DOWN_DIR"

topo_nat
PROC_NET="$(rvs_proc_dir "$RVS_SOCK")"
PROC_ROOT="${PROC_NET%/net}"
cat >>"$NAT_CONFIG" <<CFG
[metrics]
listen = "127.0.0.1:$M_PORT"

[[service]]
tcp = "$VIP:81"
scheduler = "wrr"
quiescent = true
[service.check]
type = "command"
command = "test ! -e $DOWN_DIR/\$RVS_RIP"
interval = 0.3
retries = 1
[[service.real]]
address = "$RS1:80"
method = "masq"
[[service.real]]
address = "$RS2:80"
method = "masq"
CFG
start_rvs "$NAT_CONFIG"

# node_exporter and Prometheus are started here, not in a case (a case runs in a subshell),
# so the EXIT trap knows their PIDs.
bg d node_exporter "$NODE_EXPORTER" --collector.disable-defaults --collector.ipvs \
  --path.procfs="$PROC_ROOT" --web.listen-address="127.0.0.1:$NE_PORT"
log "node_exporter pid $BG_PID: --collector.disable-defaults --collector.ipvs --path.procfs=$PROC_ROOT"
mkdir -p "$RUN_DIR/prometheus/data"
cat >"$RUN_DIR/prometheus/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: rvs
    static_configs:
      - targets: ['127.0.0.1:$M_PORT']
YML
bg d prometheus "$PROMETHEUS" --config.file="$RUN_DIR/prometheus/prometheus.yml" \
  --storage.tsdb.path="$RUN_DIR/prometheus/data" --web.listen-address="127.0.0.1:$PROM_PORT"
log "prometheus pid $BG_PID (TSDB in $RUN_DIR/prometheus/data), scraping 127.0.0.1:$M_PORT every second"

scrape() { ns_curl d "http://127.0.0.1:$M_PORT/metrics"; }
# metric_sum TEXT NAME [LABELS-REGEX]: the sum over every matching sample.
metric_sum() {
  awk -v name="$2" -v lab="${3:-}" '
    $1 == name || index($1, name "{") == 1 { if (lab == "" || $1 ~ lab) s += $2 }
    END { printf "%.0f\n", s }' <<<"$1"
}
# node_ipvs SCRAPE: its node_ipvs_* samples, one "name{labels} integer" a line, sorted.
node_ipvs() { awk '/^node_ipvs_/ { printf "%s %.0f\n", $1, $2 + 0 }' <<<"$1" | sort; }
listing() { rvsadm -Ln; echo; rvsadm -Ln --stats --exact; }
# counter NAME: rvsadm --counters' value of NAME (0 when it is not listed).
counter() { rvsadm --counters | awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'; }

# ------------------------------------------------------------------------------------ a
# The endpoint answers on the namespace's loopback, in the text format promtool accepts.
case_a_endpoint() {
  assert_contains "$(cat "$RVS_LOG")" "rvs: metrics: http://127.0.0.1:$M_PORT/metrics" "the start logs the endpoint"
  local headers
  headers="$(ns_curl d -o /dev/null -D - "http://127.0.0.1:$M_PORT/metrics")"
  assert_match "$headers" "HTTP/1.1 200" "GET /metrics"
  assert_contains "$headers" "text/plain; version=0.0.4" "the content type"
  assert_eq 404 "$(ns_curl d -o /dev/null -w '%{http_code}' "http://127.0.0.1:$M_PORT/nothing")" "another path"
  assert_eq 405 "$(ns_curl d -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$M_PORT/metrics")" "POST"
  local rc=0
  ns_curl c -o /dev/null "http://$VIP:$M_PORT/metrics" 2>/dev/null || rc=$?
  assert_true "the endpoint is not reachable from the client (status $rc)" test "$rc" != 0
  local text
  text="$(scrape)"
  printf '%s\n' "$text" >"$RUN_DIR/scrape-a.txt"
  log "promtool check metrics on $(wc -l <<<"$text") lines:"
  assert_true "promtool check metrics" "$PROMTOOL" check metrics <"$RUN_DIR/scrape-a.txt"
  assert_eq 1 "$(metric "$text" rvs_poll_loops)" "rvs_poll_loops"
  assert_eq 1 "$(metric "$text" rvs_ha_role 'role="master"')" "rvs_ha_role master"
}

# ------------------------------------------------------------------------------------ b
# Real traffic, then figures still (two readings 1.5 s apart equal).
case_b_traffic() {
  rvsadm -A -t "$VIP:80" -s wrr
  rvsadm -a -t "$VIP:80" -r "$RS1:80" -m -w 3
  rvsadm -a -t "$VIP:80" -r "$RS2:80" -m -w 1
  rvsadm -A -u "$VIP:5353" -s rr
  rvsadm -a -u "$VIP:5353" -r "$RS2:5353" -m -w 2
  local out i
  out="$(curl_many c 20 "http://$VIP/")"
  assert_eq 15 "$(count_lines "$out" rs1)" "wrr 3:1: requests answered by rs1"
  assert_eq 5 "$(count_lines "$out" rs2)" "wrr 3:1: requests answered by rs2"
  for i in 1 2 3 4; do udp_ask c "$VIP" 5353 "q$i" >/dev/null; done
  # A connect to a port with no service: its SYNs are drop-no-service.
  ns_exec c curl -sS --noproxy '*' --connect-timeout 1 --retry 0 "http://$VIP:82/" >/dev/null 2>&1 || true
  local still
  still="$(wait_still 15 listing)"
  log "still figures:"
  sed 's/^/    | /' <<<"$still"
}

# ------------------------------------------------------------------------------------ c
# node_exporter over rvs's proc files and rvs's endpoint print the same node_ipvs_* families:
# names, help, types, label sets and values.
case_c_node_exporter() {
  wait_tcp_listen d "$NE_PORT"
  # The files are rewritten every second: one round after the figures stood still.
  sleep 1.2
  local ne ours
  ne="$(ns_curl d "http://127.0.0.1:$NE_PORT/metrics")"
  ours="$(scrape)"
  assert_not_contains "$ne" 'node_scrape_collector_success{collector="ipvs"} 0' "node_exporter's ipvs collector succeeded"
  log "node_exporter's node_ipvs_* samples:"
  node_ipvs "$ne" | sed 's/^/    | /'
  assert_eq "$(node_ipvs "$ne")" "$(node_ipvs "$ours")" "node_ipvs_* samples: node_exporter and rvs"
  assert_eq "$(grep -E '^# (HELP|TYPE) node_ipvs_' <<<"$ne" | sort)" \
    "$(grep -E '^# (HELP|TYPE) node_ipvs_' <<<"$ours" | sort)" "node_ipvs_* HELP and TYPE lines"
  assert_eq 20 "$(node_ipvs "$ours" | wc -l)" "five totals and three gauges for each of five real servers"
}

# ------------------------------------------------------------------------------------ d
# The real Prometheus scrapes the endpoint; its query API answers what rvsadm prints.
# prom_query QUERY: the first result's value, "none" if there is none.
prom_query() {
  ns_curl d -G "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // "none"'
}
# prom_wait QUERY EXPECTED WHAT: polls for up to 20 s until the query answers EXPECTED.
prom_wait() {
  local got end=$((SECONDS + 20))
  while :; do
    got="$(prom_query "$1" 2>/dev/null || echo error)"
    [ "$got" = "$2" ] && break
    [ "$SECONDS" -lt "$end" ] || break
    sleep 0.5
  done
  log "  prometheus: $1 = $got"
  assert_eq "$2" "$got" "$3"
}
case_d_prometheus() {
  wait_tcp_listen d "$PROM_PORT" 30
  wait_until 30 ns_curl d -f -o /dev/null "http://127.0.0.1:$PROM_PORT/-/ready" ||
    { warn "prometheus not ready in 30 s"; return 1; }
  prom_wait 'up{job="rvs"}' 1 "Prometheus scrapes rvs: up"
  local stats conns inpkts outbytes rs1_inact rs1_conns
  stats="$(rvsadm -Ln --stats --exact)"
  read -r conns inpkts outbytes < <(awk '
    $1 == "TCP" || $1 == "UDP" { c += $3; ip += $4; ob += $7 } END { printf "%d %d %d\n", c, ip, ob }' <<<"$stats")
  rs1_conns="$(awk -v rs="$RS1:80" '$1 == "TCP" { tcp = ($2 == "'"$VIP"':80") } $1 == "->" && tcp && $2 == rs { print $3 }' <<<"$stats")"
  rs1_inact="$(rvsadm -Ln -t "$VIP:80" | awk -v rs="$RS1:80" '$1 == "->" && $2 == rs { print $6 }')"
  log "rvsadm: conns $conns inpkts $inpkts outbytes $outbytes; rs1 on :80 conns $rs1_conns inactive $rs1_inact"
  [ "$conns" -ge 24 ] || { warn "only $conns connections counted"; return 1; }
  prom_wait node_ipvs_connections_total "$conns" "node_ipvs_connections_total in Prometheus = rvsadm's"
  prom_wait node_ipvs_incoming_packets_total "$inpkts" "node_ipvs_incoming_packets_total = rvsadm's"
  prom_wait node_ipvs_outgoing_bytes_total "$outbytes" "node_ipvs_outgoing_bytes_total = rvsadm's"
  local rs1="local_address=\"$VIP\",local_port=\"80\",proto=\"TCP\",remote_address=\"$RS1\",remote_port=\"80\""
  prom_wait "node_ipvs_backend_connections_inactive{$rs1}" "$rs1_inact" "rs1's inactive connections = rvsadm -Ln"
  prom_wait "node_ipvs_backend_weight{$rs1}" 3 "rs1's weight"
  prom_wait "rvs_real_server_connections_total{$rs1}" "$rs1_conns" "rs1's connections = rvsadm -Ln --stats"
  prom_wait 'sum(rvs_drops_total{reason="drop-no-service"})' "$(counter drop-no-service)" \
    "drop-no-service = rvsadm --counters"
}

# Every query of the example dashboard (docs/grafana-rvs.json, its $instance as .*) runs in
# Prometheus and answers something. Grafana itself is not in Debian 12: not tried here.
case_d2_dashboard_queries() {
  local q n=0 answer
  while IFS= read -r q; do
    answer="$(ns_curl d -G "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$q")"
    assert_eq success "$(jq -r .status <<<"$answer")" "status of $q"
    assert_true "$q answers ($(jq -c '.data.result | length' <<<"$answer") series)" \
      test "$(jq '.data.result | length' <<<"$answer")" -gt 0
    n=$((n + 1))
  done < <(jq -r '.panels[].targets[].expr' "$REPO_DIR/docs/grafana-rvs.json" | sed 's/\$instance/.*/g')
  log "$n dashboard queries answered"
  [ "$n" -ge 16 ] || { warn "only $n queries in the dashboard"; return 1; }
}

# ------------------------------------------------------------------------------------ e
# rvs's own families against rvsadm at one still moment.
case_e_own_families() {
  local text n_conns
  text="$(scrape)"
  n_conns="$(($(rvsadm -Lnc | wc -l) - 2))"
  log "rvsadm -Lnc: $n_conns entries"
  assert_eq "$n_conns" "$(metric_sum "$text" rvs_connections)" "rvs_connections (both families) = -Lnc's entries"
  assert_true "rvs_connections_capacity is set" test "$(metric "$text" rvs_connections_capacity 'family="ipv4"')" -gt 0
  assert_true "ARP entries counted (the real servers at least)" \
    test "$(metric "$text" rvs_neighbours 'family="ipv4"')" -ge 2
  local rx
  rx="$(metric_sum "$text" rvs_rx_frames_total)"
  assert_true "rvs_rx_frames_total ($rx) counts the traffic" test "$rx" -ge 200
  assert_eq "$(metric "$text" rvs_xsk_rx_dropped_total 'loop="0"')" "$(counter xsk-rx-dropped)" "rvs_xsk_rx_dropped_total"
  rvsadm --role backup
  text="$(scrape)"
  assert_eq 1 "$(metric "$text" rvs_ha_role 'role="backup"')" "after --role backup: role backup"
  assert_eq 0 "$(metric "$text" rvs_ha_role 'role="master"')" "after --role backup: not master"
  rvsadm --role master
  rvsadm --start-daemon master --mcast-interface d-in --syncid 9
  text="$(scrape)"
  assert_eq 1 "$(metric "$text" rvs_sync_daemon_running 'daemon="master"')" "sync master running"
  assert_eq 9 "$(metric "$text" rvs_sync_daemon_syncid 'daemon="master"')" "its sync id"
  rvsadm --stop-daemon master
  assert_eq 0 "$(metric "$(scrape)" rvs_sync_daemon_running 'daemon="master"')" "sync master stopped"
}

# ------------------------------------------------------------------------------------ f
# The command check of :81: rs2 marked down, then back; state and transitions follow.
# check_is LABELS VALUE: rvs_health_check_up of the check with LABELS is VALUE now.
check_is() { [ "$(metric "$(scrape)" rvs_health_check_up "$1")" = "$2" ]; }
case_f_health() {
  local rs2="local_port=\"81\",proto=\"TCP\",remote_address=\"$RS2\",remote_port=\"80\",check=\"command\""
  wait_until 5 check_is "$rs2" 1 || true
  assert_eq 1 "$(metric "$(scrape)" rvs_health_check_up "$rs2")" "rs2 UP at first"
  assert_eq 0 "$(metric "$(scrape)" rvs_health_check_transitions_total "$rs2")" "no transition yet"
  touch "$DOWN_DIR/$RS2"
  wait_until 10 check_is "$rs2" 0 || true
  assert_eq 0 "$(metric "$(scrape)" rvs_health_check_up "$rs2")" "rs2 DOWN once marked"
  assert_contains "$(rvsadm --checks)" "DOWN" "rvsadm --checks agrees"
  # quiescent: still listed with weight 0, as node_ipvs_backend_weight shows.
  assert_eq 0 "$(metric "$(scrape)" node_ipvs_backend_weight "local_port=\"81\",proto=\"TCP\",remote_address=\"$RS2\"")" \
    "its node_ipvs_backend_weight is 0 (quiescent)"
  rm -f "$DOWN_DIR/$RS2"
  wait_until 10 check_is "$rs2" 1 || true
  local text
  text="$(scrape)"
  assert_eq 1 "$(metric "$text" rvs_health_check_up "$rs2")" "rs2 UP again"
  assert_eq 2 "$(metric "$text" rvs_health_check_transitions_total "$rs2")" "two transitions"
  assert_eq 0 "$(metric "$text" rvs_health_check_transitions_total "remote_address=\"$RS1\",remote_port=\"80\",check=")" \
    "rs1 never moved"
}

# ------------------------------------------------------------------------------------ g
# A reload with another [metrics] keeps the endpoint where it is and says a restart is needed;
# a bad listen value is refused by rvs --check.
case_g_reload_and_check() {
  local saved out
  saved="$(cat "$NAT_CONFIG")"
  sed -i "s/^listen = \"127.0.0.1:$M_PORT\"/listen = \"127.0.0.1:9521\"/" "$NAT_CONFIG"
  out="$(rvsadm --reload)"
  assert_contains "$out" "[metrics] changes need a restart" "the reload's answer"
  assert_contains "$(scrape)" "node_ipvs_connections_total" "still served on :$M_PORT"
  sed -i 's/^listen = "127.0.0.1:9521"/listen = "localhost"/' "$NAT_CONFIG"
  local rc=0
  out="$("$RVS_BIN" --config "$NAT_CONFIG" --check 2>&1)" || rc=$?
  assert_true "rvs --check refuses listen = \"localhost\" (status $rc)" test "$rc" != 0
  assert_contains "$out" "metrics.listen: 'localhost' is not ADDRESS:PORT" "its message"
  printf '%s\n' "$saved" >"$NAT_CONFIG"
}

run_case "a. the endpoint answers on loopback; promtool check metrics passes" case_a_endpoint
run_case "b. real traffic, figures still" case_b_traffic
run_case "c. node_ipvs_* as node_exporter prints them from rvs's proc files" case_c_node_exporter
run_case "d. the real Prometheus scrapes rvs and its query API answers rvsadm's figures" case_d_prometheus
run_case "d2. every query of docs/grafana-rvs.json answers in Prometheus" case_d2_dashboard_queries
run_case "e. rvs's own families: tables, frames, AF_XDP, role, sync daemon" case_e_own_families
run_case "f. health-check state and transitions" case_f_health
run_case "g. [metrics] changes need a restart; a bad listen is refused" case_g_reload_and_check
if stop_rvs; then pass "h. SIGTERM: clean stop"; else fail "h. SIGTERM: clean stop"; fi
rc=0
ns_curl d -o /dev/null "http://127.0.0.1:$M_PORT/metrics" 2>/dev/null || rc=$?
if [ "$rc" != 0 ]; then pass "i. the endpoint is gone after the stop"; else fail "i. the endpoint is gone after the stop"; fi

# A start with an address beyond loopback serves it and warns.
case_j_beyond_loopback() {
  assert_contains "$(cat "$RVS_LOG")" \
    "WARN  rvs: metrics: http://0.0.0.0:$M_PORT/metrics is beyond loopback" "the start's warning"
  assert_contains "$(scrape)" "node_ipvs_connections_total" "served (on loopback too)"
}
sed -i "s/^listen = \"127.0.0.1:$M_PORT\"/listen = \"0.0.0.0:$M_PORT\"/" "$NAT_CONFIG"
start_rvs "$NAT_CONFIG"
wait_tcp_listen d "$M_PORT"
run_case "j. listen = 0.0.0.0: served, with a warning at start" case_j_beyond_loopback
if stop_rvs; then pass "k. SIGTERM: clean stop"; else fail "k. SIGTERM: clean stop"; fi
finish
