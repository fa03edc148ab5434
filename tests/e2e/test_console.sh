#!/usr/bin/env bash
# tests/e2e/test_console.sh: the web console ([console], src/console) in a NAT lab
# (tests/e2e/topo_nat.sh), seen and used through a real headless Chromium driven by the
# DevTools protocol (tests/e2e/console_cdp.py: mouse clicks and typed text), and refused to
# curl without its CSRF token, from another origin or under another host name.
#
# RVS_CONSOLE_SCREENSHOT=FILE: also keep the page's screenshot there (docs/console.png).
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

command -v chromium >/dev/null || die "chromium is not installed (scripts/setup installs it)"
/usr/bin/python3 -c 'import websockets' 2>/dev/null || die "python3-websockets is not installed (scripts/setup installs it)"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
CONSOLE=127.0.0.1:9521
URL="http://$CONSOLE/"
DEVTOOLS=9222
TOKEN_FILE="$RUN_DIR/console.token"
TOKEN="lab-token-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

DOWN_DIR="$RUN_DIR/down"       # the :81 service's command check: a file here marks a server down
mkdir -p "$DOWN_DIR"
touch "$DOWN_DIR/$NAT_RS2"

topo_nat
CONFIG="$RUN_DIR/rvs-console.toml"
# A health-checked service from the file beside the one the test adds with rvsadm: a command
# check (no host path needed) that finds rs2 down; quiescent, so rs2 stays with weight 0.
{ cat "$NAT_CONFIG"; printf '[console]\nlisten = "%s"\n\n' "$CONSOLE"; cat <<CFG
[[service]]
tcp = "$VIP:81"
scheduler = "rr"
quiescent = true
[service.check]
type = "command"
command = "test ! -e $DOWN_DIR/\$RVS_RIP"
interval = 0.3
retries = 1
[[service.real]]
address = "$NAT_RS1:80"
method = "masq"
[[service.real]]
address = "$NAT_RS2:80"
method = "masq"
CFG
} >"$CONFIG"
start_rvs "$CONFIG"
rvsadm -A -t "$VIP:80" -s wlc
rvsadm -a -t "$VIP:80" -r "$RS1:80" -m -w 1
rvsadm -a -t "$VIP:80" -r "$RS2:80" -m -w 2
curl_many c 9 "http://$VIP/" >/dev/null

# d_curl ARGS...: curl from the director's namespace (the console is on its loopback).
d_curl() { ns_exec d curl -sS --noproxy '*' --max-time 5 "$@"; }
cdp() { ns_exec d timeout 40 /usr/bin/python3 "$E2E_DIR/console_cdp.py" "$DEVTOOLS" "$@"; }
_devtools_up() { d_curl -o /dev/null "http://127.0.0.1:$DEVTOOLS/json/version" 2>/dev/null; }
_console_up() { d_curl -o /dev/null "$URL" 2>/dev/null; }

# -Ln's service and real server lines, as the page's table is read (console_cdp.py rows).
ln_rows() {
  rvsadm -Ln | awk '$1 == "TCP" {print $1, $2, $3} $1 == "->" && $2 != "RemoteAddress:Port" {print $1, $2, $3, $4, $5, $6}'
}
page_matches_ln() { [ "$(cdp rows)" = "$(ln_rows)" ]; }
weight_of() { rvsadm -Ln -t "$VIP:80" | awk -v rs="$1:80" '$2 == rs {print $3, $4}'; }

wait_until 10 _console_up || die "the console does not answer on $CONSOLE"
bg d chromium chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
  --window-size=1400,760 --user-data-dir="$RUN_DIR/chromium" --remote-debugging-port="$DEVTOOLS" about:blank
wait_until 30 _devtools_up || die "chromium's DevTools endpoint did not come up"

# ---------------------------------------------------------------------------------- a
case_a_page_shows_what_ipvsadm_lists() {
  assert_eq MASTER "$(cdp open "$URL")" "the role on the page"
  # The counts may move between the two reads while connections age: a few tries.
  wait_until 10 page_matches_ln || assert_eq "$(ln_rows)" "$(cdp rows)" "the page's table against rvsadm -Ln"
  log "page rows: $(cdp rows | tr '\n' '|')"
  assert_eq "no check" "$(cdp cell "$RS1:80" health)" "health of an unchecked server"
  _checks_settled() { [ "$(rvsadm --checks | grep -c ' UP \| DOWN ')" = 2 ] && rvsadm --checks | grep -q "$RS2:80 .* DOWN"; }
  wait_until 10 _checks_settled || { rvsadm --checks >&2; return 1; }
  _health_shown() { [[ "$(cdp cell "$RS2:80" health "-t $VIP:81")" == "DOWN (command"* ]]; }
  wait_until 10 _health_shown || { warn "health cell: $(cdp cell "$RS2:80" health "-t $VIP:81")"; return 1; }
  assert_eq "UP (command)" "$(cdp cell "$RS1:80" health "-t $VIP:81")" "rs1's check on the page"
  log "rvsadm --checks: $(rvsadm --checks | tail -n +2 | tr -s ' ' | tr '\n' '|')"
  log "page: rs2 on :81: $(cdp cell "$RS2:80" health "-t $VIP:81")"
  wait_until 10 page_matches_ln || assert_eq "$(ln_rows)" "$(cdp rows)" "the table with the checked service"
}

# ---------------------------------------------------------------------------------- b
case_b_weight_changed_in_the_page() {
  local msg
  msg="$(cdp set-weight "$RS2:80" 5)"
  assert_eq "ipvsadm -e -t $VIP:80 -r $RS2:80 -m -w 5: done" "$msg" "the page's message"
  assert_eq "Masq 5" "$(weight_of "$RS2")" "rvsadm -Ln after the page's change"
  assert_eq "Masq 1" "$(weight_of "$RS1")" "the other server"
  grep -q "rvs: console: 127.0.0.1:[0-9]* (session [0-9]*): ipvsadm -e -t $VIP:80 -r $RS2:80 -m -w 5: done" "$RVS_LOG" \
    || { warn "no log line for the change"; return 1; }
  wait_until 5 page_matches_ln || assert_eq "$(ln_rows)" "$(cdp rows)" "the page after the change"
}

# ---------------------------------------------------------------------------------- c
case_c_bad_weight_gets_ipvsadms_words() {
  local msg
  msg="$(cdp set-weight "$RS2:80" 70000)"
  assert_eq "ipvsadm -e -t $VIP:80 -r $RS2:80 -m -w 70000: illegal weight specified (exit 2)" "$msg"
  assert_eq "Masq 5" "$(weight_of "$RS2")" "unchanged"
}

# ---------------------------------------------------------------------------------- d
# Drain: weight 0, the page counts down to "drained" (no active connection: every client
# closed); new clients all go to the other server; Restore puts the old weight back.
case_d_drain_and_restore() {
  local msg out
  msg="$(cdp click "$RS1:80" drain)"
  assert_eq "ipvsadm -e -t $VIP:80 -r $RS1:80 -m -w 0: done" "$msg"
  assert_eq "Masq 0" "$(weight_of "$RS1")"
  _drained() { [[ "$(cdp cell "$RS1:80" health)" == *"drained in"* ]]; }
  wait_until 10 _drained || { warn "health cell: $(cdp cell "$RS1:80" health)"; return 1; }
  out="$(curl_many c 6 "http://$VIP/")"
  assert_eq 6 "$(count_lines "$out" rs2)" "requests to the other server while $RS1 drains"
  msg="$(cdp click "$RS1:80" restore)"
  assert_eq "ipvsadm -e -t $VIP:80 -r $RS1:80 -m -w 1: done" "$msg"
  assert_eq "Masq 1" "$(weight_of "$RS1")"
  grep -q "rvs: console: drain of $RS1:80 in -t $VIP:80 done" "$RVS_LOG" || { warn "no drain log line"; return 1; }
}

# ---------------------------------------------------------------------------------- e
# curl: a session cookie alone, a wrong token, another origin, another host name: refused,
# and nothing changes.
case_e_refusals() {
  local jar="$RUN_DIR/cookies" csrf before code body
  before="$(rvsadm -S -n)"
  csrf="$(d_curl -c "$jar" "$URL" | sed -n 's/.*name="csrf" content="\([0-9a-f]*\)".*/\1/p')"
  [ -n "$csrf" ] || { warn "no CSRF token in the page"; return 1; }
  body="{\"service\":\"-t $VIP:80\",\"server\":\"$RS1:80\",\"action\":\"weight\",\"weight\":\"9\"}"
  post() { d_curl -b "$jar" -o "$RUN_DIR/answer" -w '%{http_code}' -H 'Content-Type: application/json' "$@" -d "$body" "${URL}api/server"; }
  assert_eq 403 "$(post)" "POST without the CSRF token"
  assert_contains "$(cat "$RUN_DIR/answer")" "CSRF token missing or wrong"
  assert_eq 403 "$(post -H "X-CSRF-Token: 00$csrf")" "a wrong CSRF token"
  assert_eq 403 "$(post -H "X-CSRF-Token: $csrf" -H 'Origin: http://evil.example')" "another origin"
  assert_eq 403 "$(post -H "X-CSRF-Token: $csrf" -H 'Host: evil.example:9521')" "another host name (DNS rebinding)"
  assert_eq "$before" "$(rvsadm -S -n)" "the rules after the refused POSTs"
  # The same request with its token goes through: the refusals above were for what they lacked.
  code="$(post -H "X-CSRF-Token: $csrf")"
  assert_eq 200 "$code" "the same POST with its token"
  assert_eq "Masq 9" "$(weight_of "$RS1")"
  rvsadm -e -t "$VIP:80" -r "$RS1:80" -m -w 1
  grep -q "rvs: console: 127.0.0.1:[0-9]*: refused POST /api/server: CSRF token missing or wrong" "$RVS_LOG" \
    || { warn "no log line for the refusal"; return 1; }
}

# ---------------------------------------------------------------------------------- f
case_f_rates_and_screenshot() {
  local png="$RUN_DIR/console.png" i
  # 15 s of uneven traffic (at most 45 requests) for the rates and the charts.
  for i in $(seq 15); do curl_many c $((i % 5 + 1)) "http://$VIP/" >/dev/null; sleep 1; done
  _rates_shown() { [[ "$(cdp figure pps)" =~ ^packets/s\ [1-9] ]]; }
  wait_until 5 _rates_shown || { warn "the page's rate: $(cdp figure pps)"; return 1; }
  log "page: $(cdp figure cps), $(cdp figure pps), $(cdp figure bps)"
  cdp screenshot "$png"
  assert_eq "89504e47" "$(head -c 4 "$png" | od -An -tx1 | tr -d ' \n')" "a PNG"
  [ "$(stat -c %s "$png")" -gt 10000 ] || { warn "screenshot too small"; return 1; }
  if [ -n "${RVS_CONSOLE_SCREENSHOT:-}" ]; then cp "$png" "$RVS_CONSOLE_SCREENSHOT"; fi
}

# ---------------------------------------------------------------------------------- g
# The header follows the HA role and the sync daemons as rvsadm changes them.
case_g_role_and_sync() {
  _header_is() { [ "$(cdp text '#role')|$(cdp text '#sync')" = "$1" ]; }
  wait_until 5 _header_is "MASTER|no sync daemon" || { warn "header: $(cdp text '#role')|$(cdp text '#sync')"; return 1; }
  rvsadm --start-daemon master --mcast-interface d-in --syncid 7
  rvsadm --role backup
  local want
  want="BACKUP|$(rvsadm -L --daemon | head -n1)"
  assert_contains "$want" "master sync daemon (mcast=d-in, syncid=7"
  wait_until 6 _header_is "$want" || { warn "header: $(cdp text '#role')|$(cdp text '#sync'), not $want"; return 1; }
  rvsadm --role master
  rvsadm --stop-daemon master
  wait_until 6 _header_is "MASTER|no sync daemon" || { warn "header: $(cdp text '#role')|$(cdp text '#sync')"; return 1; }
}

# ---------------------------------------------------------------------------------- h
# Off loopback a token is required: the config is refused without one.
case_h_no_token_off_loopback() {
  local bad="$RUN_DIR/open.toml" out
  { cat "$NAT_CONFIG"; printf '[console]\nlisten = "0.0.0.0:9521"\n'; } >"$bad"
  if out="$("$RVS_BIN" --config "$bad" --check 2>&1)"; then warn "accepted: $out"; return 1; fi
  assert_contains "$out" "console.listen: 0.0.0.0:9521 is not a loopback address: set console.token_file"
}

# ---------------------------------------------------------------------------------- i
# With a token (rvs restarted below with one), the page is a login form until it is given.
case_i_token_login() {
  local jar="$RUN_DIR/cookies-token"
  assert_contains "$(d_curl "$URL")" 'action="/login"' "the login form"
  assert_eq 401 "$(d_curl -o /dev/null -w '%{http_code}' "${URL}api/state")" "state without a session"
  assert_eq 403 "$(d_curl -o /dev/null -w '%{http_code}' --data-urlencode "token=wrong-$TOKEN" "${URL}login")" "a wrong token"
  assert_eq 303 "$(d_curl -c "$jar" -o /dev/null -w '%{http_code}' --data-urlencode "token=$TOKEN" "${URL}login")" "the token"
  assert_contains "$(d_curl -b "$jar" "${URL}api/state")" '"role":"master"' "state in the session"
  grep -q "rvs: console: 127.0.0.1:[0-9]*: login refused: wrong token" "$RVS_LOG" || { warn "no log line"; return 1; }
  grep -q "rvs: web console on http://0.0.0.0:9521/ (token required)" "$RVS_LOG" || { warn "no start line"; return 1; }
}

run_case "a: Chromium shows the services as rvsadm -Ln lists them" case_a_page_shows_what_ipvsadm_lists
run_case "b: a weight typed and set in the page reaches rvsadm -Ln, logged" case_b_weight_changed_in_the_page
run_case "c: a bad weight in the page gets ipvsadm's error text" case_c_bad_weight_gets_ipvsadms_words
run_case "d: drain from the page: weight 0, drained, traffic elsewhere, restored" case_d_drain_and_restore
run_case "e: POST without CSRF token, from another origin or host: refused" case_e_refusals
run_case "f: live rates on the page after traffic; screenshot" case_f_rates_and_screenshot
run_case "g: the header follows rvsadm --role and the sync daemon" case_g_role_and_sync
run_case "h: a console off loopback without a token is refused" case_h_no_token_off_loopback
# (rvs is restarted here, outside a case: a case's subshell cannot wait for it.)
printf '%s\n' "$TOKEN" >"$TOKEN_FILE"
chmod 600 "$TOKEN_FILE"
{ cat "$NAT_CONFIG"; printf '[console]\nlisten = "0.0.0.0:9521"\ntoken_file = "%s"\n' "$TOKEN_FILE"; } >"$RUN_DIR/token.toml"
stop_rvs
start_rvs "$RUN_DIR/token.toml"
wait_until 10 _console_up || die "the console did not come back with its token"
run_case "i: with a token: a login form, wrong tokens refused and logged, the token opens a session" case_i_token_login
finish
