#!/usr/bin/env bash
# tests/e2e/test_checks.sh: health checks as ldirectord and keepalived users write them, each
# against real servers in the NAT lab's namespaces (the director host holds 198.18.1.2 inside,
# so probes reach them). Each check takes rs2 out and puts it back by changing what rs2 serves:
#   a. http: request without its "/", receive as a regex; notify_up/notify_down leave a trace
#   b. http HEAD (httpmethod = "HEAD")
#   c. keepalived url blocks with MD5 digests, connect_port, delay_before_retry
#   d. command check with misc_dynamic: the exit status sets the weight `rvsadm -Ln` shows
#   e. dns: an A query answered by a python3 responder
#   f. smtp: a socat greeter (220, then QUIT)
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
TRACE="$RUN_DIR/notify.trace"
EXIT_DIR="$RUN_DIR/exit"      # misc_dynamic: the file named after a server holds its exit status
mkdir -p "$EXIT_DIR"

topo_nat
ns_exec d ip addr add 198.18.1.2/24 dev d-in
ns_exec d ethtool -K d-in tx off >/dev/null 2>&1 || true
WWW="$RUN_DIR/www"
for n in rs1 rs2; do
  printf 'head of %s\n' "$n" >"$WWW/$n/head.txt"
  printf 'alpha\n' >"$WWW/$n-8080/a.txt"
  printf 'beta\n' >"$WWW/$n-8080/b.txt"
done
MD5_A="$(md5sum <"$WWW/rs1-8080/a.txt" | cut -d' ' -f1)"
MD5_B="$(md5sum <"$WWW/rs1-8080/b.txt" | cut -d' ' -f1)"
log "digests: /a.txt $MD5_A, /b.txt $MD5_B"
printf '0\n' >"$EXIT_DIR/$RS1"; printf '0\n' >"$EXIT_DIR/$RS2"

# A DNS responder: answers every A query with the addresses in its file (none: an empty answer).
cat >"$RUN_DIR/dns.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    q, src = s.recvfrom(512)
    try:
        i = 12
        while q[i] != 0:
            i += 1 + q[i]
        end = i + 5
        addrs = open(sys.argv[2]).read().split()
    except (IndexError, OSError):
        continue
    r = q[:2] + b"\x81\x80" + q[4:6] + len(addrs).to_bytes(2, "big") + b"\0\0\0\0" + q[12:end]
    for a in addrs:
        r += b"\xc0\x0c\0\x01\0\x01\0\0\0\x3c\0\x04" + socket.inet_aton(a)
    s.sendto(r, src)
PY
for n in rs1 rs2; do
  printf '198.18.1.80\n' >"$RUN_DIR/dns-$n"
  bg "$n" "dns-$n" python3 "$RUN_DIR/dns.py" 53 "$RUN_DIR/dns-$n"
  wait_udp_listen "$n" 53
done
# An SMTP greeter on :25 sending the greeting in its file, then reading one line (the QUIT).
for n in rs1 rs2; do
  printf '220-%s ESMTP\r\n220 ready\r\n' "$n" >"$RUN_DIR/greet-$n"
  bg "$n" "smtp-$n" socat TCP-LISTEN:25,reuseaddr,fork "SYSTEM:cat $RUN_DIR/greet-$n; timeout 2 head -n 1 >>$RUN_DIR/smtp-$n.got"
  wait_tcp_listen "$n" 25
done

real() {   # PORT [WEIGHT]
  printf '[[service.real]]\naddress = "%s:%s"\nmethod = "masq"\nweight = %s\n' "$RS1" "$1" "${2:-1}"
  printf '[[service.real]]\naddress = "%s:%s"\nmethod = "masq"\nweight = %s\n' "$RS2" "$1" "${2:-1}"
}
{
  cat "$NAT_CONFIG"
  cat <<CFG

[[service]]
tcp = "$VIP:80"
[service.check]
type = "http"
interval = 0.3
retries = 1
request = "index.html"
receive = '^rs[0-9]\s*$'
notify_up = 'echo "UP \$RVS_RIP:\$RVS_RPORT of \$RVS_VIP:\$RVS_VPORT" >> $TRACE'
notify_down = 'echo "DOWN \$RVS_RIP:\$RVS_RPORT of \$RVS_VIP:\$RVS_VPORT" >> $TRACE'
$(real 80)

[[service]]
tcp = "$VIP:82"
[service.check]
type = "http"
httpmethod = "HEAD"
request = "/head.txt"
interval = 0.3
retries = 1
$(real 80)

[[service]]
tcp = "$VIP:83"
[service.check]
type = "http"
connect_port = 8080
interval = 3
delay_before_retry = 0.2
retries = 3
[[service.check.url]]
path = "/a.txt"
digest = "$MD5_A"
[[service.check.url]]
path = "b.txt"
digest = "$MD5_B"
status_code = 200
$(real 83)

[[service]]
tcp = "$VIP:84"
scheduler = "wrr"
[service.check]
type = "misc"
command = 'exit \$(cat $EXIT_DIR/\$RVS_RIP)'
misc_dynamic = true
interval = 0.3
retries = 1
$(real 80 5)

[[service]]
udp = "$VIP:53"
[service.check]
type = "dns"
request = "www.example.com"
receive = "198.18.1.80"
interval = 0.3
retries = 1
$(real 53)

[[service]]
tcp = "$VIP:25"
[service.check]
type = "smtp"
interval = 0.3
retries = 1
$(real 25)
CFG
} >"$RUN_DIR/checks.toml"
"$RVS_BIN" --config "$RUN_DIR/checks.toml" --check >/dev/null || die "the config does not pass rvs --check"
start_rvs "$RUN_DIR/checks.toml"

present() {   # PORT ADDR: 1 when ADDR:PORT is a real server of TCP/UDP VIP:PORT
  rvsadm -Ln | awk -v s="$VIP:$1" -v d="$2:" '$1 == "TCP" || $1 == "UDP" {on = ($2 == s)} on && $1 == "->" && index($2, d) == 1 {n++} END {print n + 0}'
}
weight() { rvsadm -Ln -t "$VIP:84" | awk -v d="$1:80" '$2 == d {print $4}'; }
# flip PORT HOW-DOWN HOW-UP WHAT: rs2 must leave VIP:PORT after HOW-DOWN and return after HOW-UP.
flip() {
  local port="$1" down="$2" up="$3" t0
  wait_until 10 eval '[ "$(present '"$port"' '"$RS2"')" = 1 ] && [ "$(present '"$port"' '"$RS1"')" = 1 ]' \
    || { rvsadm -Ln >&2; rvsadm --checks >&2; warn "not both servers in :$port at the start"; return 1; }
  t0=$(now); eval "$down"
  wait_until 10 eval '[ "$(present '"$port"' '"$RS2"')" = 0 ]' || { rvsadm --checks >&2; warn "rs2 never left :$port"; return 1; }
  log ":$port rs2 out $(ms_between "$t0" "$(now)") ms after: $down ($(rvsadm --checks | grep "$RS2:$port" | grep -o 'DOWN.*' | head -n1))"
  assert_eq 1 "$(present "$port" "$RS1")" "rs1 stays in :$port"
  t0=$(now); eval "$up"
  wait_until 10 eval '[ "$(present '"$port"' '"$RS2"')" = 1 ]' || { rvsadm --checks >&2; warn "rs2 never came back to :$port"; return 1; }
  log ":$port rs2 back $(ms_between "$t0" "$(now)") ms after: $up"
}

case_a_http_regex_notify() {
  flip 80 "printf 'rs2 is broken\n' >$WWW/rs2/index.html" "printf 'rs2\n' >$WWW/rs2/index.html"
  wait_until 5 eval '[ "$(wc -l <'"$TRACE"')" -ge 2 ]' || true
  log "notify trace: $(tr '\n' ';' <"$TRACE")"
  assert_eq "DOWN $RS2:80 of $VIP:80
UP $RS2:80 of $VIP:80" "$(cat "$TRACE")" "notify_down then notify_up, with the server and service"
}
case_b_head() {
  flip 82 "mv $WWW/rs2/head.txt $WWW/rs2/head.off" "mv $WWW/rs2/head.off $WWW/rs2/head.txt"
  assert_contains "$(cat "$LOG_DIR/http-rs2-80.log")" '"HEAD /head.txt HTTP/1.0" 200' "the server saw HEAD requests"
}
case_c_digest_urls() {
  local t0
  flip 83 "printf 'BETA\n' >$WWW/rs2-8080/b.txt" "printf 'beta\n' >$WWW/rs2-8080/b.txt"
  assert_contains "$(cat "$RVS_LOG")" "/b.txt: digest" "the log names the url whose digest differed"
  assert_contains "$(cat "$LOG_DIR/http-rs2-8080-8080.log")" '"GET /b.txt HTTP/1.0" 200' "probes went to connect_port 8080, path given its /"
}
case_d_misc_dynamic() {
  wait_until 10 eval '[ "$(weight '"$RS2"')" = 5 ]' || { rvsadm -Ln >&2; warn "rs2 not at weight 5"; return 1; }
  echo 9 >"$EXIT_DIR/$RS2"
  wait_until 5 eval '[ "$(weight '"$RS2"')" = 7 ]' || { rvsadm -Ln >&2; warn "exit 9 did not set weight 7"; return 1; }
  log "exit 9: $(rvsadm -Ln -t "$VIP:84" | grep "$RS2")"
  echo 2 >"$EXIT_DIR/$RS2"
  wait_until 5 eval '[ "$(weight '"$RS2"')" = 0 ]' || { warn "exit 2 did not set weight 0"; return 1; }
  log "exit 2: $(rvsadm -Ln -t "$VIP:84" | grep "$RS2")"
  echo 1 >"$EXIT_DIR/$RS2"
  wait_until 5 eval '[ -z "$(weight '"$RS2"')" ]' || { warn "exit 1 did not take rs2 out"; return 1; }
  log "exit 1: rs2 removed; $(rvsadm -Ln -t "$VIP:84" | grep -c -- '->' ) lines with ->"
  echo 0 >"$EXIT_DIR/$RS2"
  wait_until 5 eval '[ "$(weight '"$RS2"')" = 5 ]' || { rvsadm -Ln >&2; warn "exit 0 did not restore weight 5"; return 1; }
  log "exit 0: $(rvsadm -Ln -t "$VIP:84" | grep "$RS2")"
  assert_eq 5 "$(weight "$RS1")" "rs1 keeps its weight"
}
case_e_dns() {
  flip 53 "printf '198.18.1.81\n' >$RUN_DIR/dns-rs2" "printf '198.18.1.80\n' >$RUN_DIR/dns-rs2"
  flip 53 ": >$RUN_DIR/dns-rs2" "printf '198.18.1.80\n' >$RUN_DIR/dns-rs2"
}
case_f_smtp() {
  flip 25 "printf '554 no service here\\r\\n' >$RUN_DIR/greet-rs2" "printf '220 rs2 back\\r\\n' >$RUN_DIR/greet-rs2"
  assert_contains "$(cat "$RUN_DIR/smtp-rs1.got")" "QUIT" "the check said QUIT"
}

run_case "a. http: path without /, receive regex, notify_up/notify_down" case_a_http_regex_notify
run_case "b. http HEAD" case_b_head
run_case "c. url blocks with MD5 digests, connect_port, delay_before_retry" case_c_digest_urls
run_case "d. misc_dynamic sets the weight" case_d_misc_dynamic
run_case "e. dns check" case_e_dns
run_case "f. smtp check" case_f_smtp
if stop_rvs; then pass "k. SIGTERM: clean stop"; else fail "k. SIGTERM: clean stop"; fi
finish
