#!/usr/bin/env bash
# tests/e2e/test_import.sh: `rvs import ldirectord FILE` and `rvs import keepalived FILE`
# (issue 15): an ldirectord.cf and a keepalived.conf written as their users write them
# (seed 003's ldirectord.cf keys with this lab's addresses; keepalived's HTTP_GET, TCP_CHECK,
# MISC_CHECK and sorry_server), imported, appended to the NAT lab's config, checked by
# `rvs --check`, and run: the services forward real traffic and their checks take a stopped
# server out of rotation. Both files also name an SCTP service (keepalived's `protocol SCTP`,
# ldirectord's `protocol=sctp`): each carries an association (tests/e2e/sctp_peer.py, the
# kernel here has no SCTP) with 100 KB checked by SHA-256. Every case is bounded (curl --max-time, a few dozen requests).
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"

topo_nat
director_host_path

LDIRECTORD_CF="$RUN_DIR/ldirectord.cf"
cat >"$LDIRECTORD_CF" <<CF
# As seed 003's, with this lab's addresses and NAT (masq).
checktimeout=1
checkinterval=1
quiescent=no
logfile="local0"
virtual=$VIP:80
        real=$RS1:80 masq 1
        real=$RS2:80 masq 1
#       fallback=127.0.0.1:80 gate
        service=http
        scheduler=rr
        protocol=tcp
        checktype=negotiate
        checkport=80
        request="index.html"
        receive="rs"
virtual=$VIP:3869
        real=$RS2:3869 masq 1
        scheduler=rr
        protocol=sctp
        checktype=connect
        checkport=80
CF

KEEPALIVED_CONF="$RUN_DIR/keepalived.conf"
cat >"$KEEPALIVED_CONF" <<CF
! keepalived.conf: virtual servers only matter to the import
global_defs {
   router_id rvs_lab
}
virtual_server $VIP 8080 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    sorry_server $RS1 80
    real_server $RS1 8080 {
        weight 2
        HTTP_GET {
            url {
              path index.html
              status_code 200
            }
            connect_timeout 1
            retry 1
        }
    }
    real_server $RS2 8080 {
        weight 1
        HTTP_GET {
            url {
              path index.html
              status_code 200
            }
            connect_timeout 1
            retry 1
        }
    }
}
virtual_server $VIP 81 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server $RS2 80 {
        TCP_CHECK {
            connect_timeout 1
            connect_port 80
        }
    }
}
virtual_server $VIP 3868 {
    lb_algo rr
    lb_kind NAT
    protocol SCTP
    real_server $RS1 3868 {
        weight 1
    }
}
virtual_server $VIP 82 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server $RS1 80 {
        MISC_CHECK {
            misc_path "test ! -e $RUN_DIR/down-rs1"
            misc_timeout 2
        }
    }
}
CF

CONFIG="$RUN_DIR/rvs-imported.toml"

case_a_import() {
  local rc=0
  "$RVS_BIN" import ldirectord "$LDIRECTORD_CF" >"$RUN_DIR/ld.toml" 2>"$RUN_DIR/ld.err" || rc=$?
  assert_eq 0 "$rc" "rvs import ldirectord: exit status"
  log "ldirectord import, not carried: $(tr '\n' ' ' <"$RUN_DIR/ld.err")"
  assert_contains "$(cat "$RUN_DIR/ld.err")" "ldirectord.cf:5: not carried: global \`logfile=\"local0\"\`" "the key left behind, by line"
  assert_contains "$(cat "$RUN_DIR/ld.toml")" 'request = "/index.html"' "the request path gets its leading /, as ldirectord sends it"
  rc=0
  "$RVS_BIN" import keepalived "$KEEPALIVED_CONF" >"$RUN_DIR/ka.toml" 2>"$RUN_DIR/ka.err" || rc=$?
  assert_eq 0 "$rc" "rvs import keepalived: exit status"
  log "keepalived import, not carried: $(tr '\n' ' ' <"$RUN_DIR/ka.err")"
  assert_contains "$(cat "$RUN_DIR/ka.toml")" "fallback = \"$RS1:80\"" "sorry_server as fallback"
  cat "$NAT_CONFIG" "$RUN_DIR/ld.toml" "$RUN_DIR/ka.toml" >"$CONFIG"
  assert_eq "$CONFIG: OK" "$("$RVS_BIN" --config "$CONFIG" --check 2>&1)" "rvs --check on the lab's config with both imports"
  rc=0; "$RVS_BIN" import keepalived /dev/null >/dev/null 2>&1 || rc=$?
  assert_eq 1 "$rc" "a file without a virtual service: exit 1"
}

case_b_run() {
  wait_until 15 eval '[ "$(rvsadm --checks | grep -c " UP ")" -ge 7 ]' || { rvsadm --checks >&2; warn "checks never all UP"; return 1; }
  local out
  out="$(curl_many c 4 "http://$VIP/")"
  assert_eq 2 "$(count_lines "$out" rs1)" "ldirectord's service: rs1 answers"
  assert_eq 2 "$(count_lines "$out" rs2)" "ldirectord's service: rs2 answers"
  out="$(curl_many c 6 "http://$VIP:8080/")"
  assert_eq 4 "$(count_lines "$out" rs1-8080)" "keepalived's wrr 2:1: rs1"
  assert_eq 2 "$(count_lines "$out" rs2-8080)" "keepalived's wrr 2:1: rs2"
  assert_eq "rs2" "$(curl_many c 1 "http://$VIP:81/")" "TCP_CHECK service"
  assert_eq "rs1" "$(curl_many c 1 "http://$VIP:82/")" "MISC_CHECK service"
}

case_b2_sctp() {
  local ln line
  ln="$(rvsadm -Ln)"
  assert_contains "$ln" "SCTP  $VIP:3868 rr" "keepalived's protocol SCTP service"
  assert_contains "$ln" "SCTP  $VIP:3869 rr" "ldirectord's protocol=sctp service"
  for svc in 3868:rs1 3869:rs2; do
    line="$(ns_exec c timeout 60 python3 "$E2E_DIR/sctp_peer.py" client --src "$NAT_CLIENT" --to "$VIP" \
      --port "${svc%%:*}" --sport $((45000 + ${svc%%:*})) --bytes 100000 --max-seconds 40)"
    log "SCTP to :${svc%%:*}: $line"
    assert_match "$line" "^${svc#*:} 100000 [0-9a-f]{64} ok$" "an association through :${svc%%:*}, 100 KB intact"
  done
}

case_c_checks_act() {
  kill_http rs2 80
  wait_until 10 eval '! rvsadm -Ln -t '"$VIP"':80 | grep -q "'"$RS2"':80 "' || { rvsadm -Ln >&2; warn "rs2 never left :80"; return 1; }
  assert_eq "rs1 rs1" "$(curl_many c 2 "http://$VIP/" | tr '\n' ' ' | sed 's/ $//')" "ldirectord's http check took rs2 out"
  wait_until 10 eval '! rvsadm -Ln -t '"$VIP"':81 | grep -q "'"$RS2"':80 "' || { rvsadm -Ln >&2; warn "rs2 never left :81"; return 1; }
  log "TCP_CHECK took rs2:80 out of :81"
  touch "$RUN_DIR/down-rs1"
  wait_until 10 eval '! rvsadm -Ln -t '"$VIP"':82 | grep -q "'"$RS1"':80 "' || { rvsadm -Ln >&2; warn "rs1 never left :82"; return 1; }
  log "MISC_CHECK took rs1:80 out of :82"
  kill_http rs1 8080; kill_http rs2 8080
  wait_until 10 eval 'rvsadm -Ln -t '"$VIP"':8080 | grep -q "'"$RS1"':80 "' || { rvsadm -Ln >&2; warn "no sorry server"; return 1; }
  assert_eq "rs1" "$(curl_many c 1 "http://$VIP:8080/")" "keepalived's sorry_server answers when both are down"
}

run_case "a. import ldirectord.cf and keepalived.conf; rvs --check passes" case_a_import
# rvs is this shell's child (stop_rvs waits for it): started here, not in a run_case subshell.
[ -s "$CONFIG" ] || die "case a wrote no config"
for ns in rs1 rs2; do
  bg "$ns" "sctp-$ns" python3 "$E2E_DIR/sctp_peer.py" server --name "$ns" --ports 3868,3869 --max-seconds 300
  wait_until 10 grep -q serving "$LOG_DIR/sctp-$ns.log" || die "sctp_peer.py server in $ns did not start"
done
start_rvs "$CONFIG"
run_case "b. the imported services forward: ldirectord's rr, keepalived's wrr 2:1, TCP_CHECK, MISC_CHECK" case_b_run
run_case "b2. the imported SCTP services carry an association each" case_b2_sctp
run_case "c. the imported checks act: http, tcp, command; the sorry server" case_c_checks_act
if stop_rvs; then pass "d. SIGTERM: clean stop"; else fail "d. SIGTERM: clean stop"; fi
finish
