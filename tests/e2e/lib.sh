# shellcheck shell=bash
# tests/e2e/lib.sh: shared helpers for the rvs end-to-end tests.  Source it; do not run it.
#
#   source "$(dirname "$0")/lib.sh"
#
# Every test host lives in a network namespace named "${RUN}-<short>" that this run creates;
# the EXIT trap kills every process in those namespaces and deletes them, on success, on
# failure and on Ctrl-C.  Traffic goes only to 198.18.0.0/15 addresses inside them.
#
# Environment:
#   RVS_BIN, RVSADM_BIN   binaries under test (default: target/release/rvs, rvsadm)
#   RVS_E2E_KEEP=1        keep the run directory (logs, config) even when every case passed
#   RVS_E2E_VERBOSE=1     trace commands (set -x)

set -euo pipefail
[ "${RVS_E2E_VERBOSE:-0}" = 1 ] && set -x

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$E2E_DIR/../.." && pwd)"
RVS_BIN="${RVS_BIN:-$REPO_DIR/target/release/rvs}"
RVSADM_BIN="${RVSADM_BIN:-$REPO_DIR/target/release/rvsadm}"
export RVS_BIN RVSADM_BIN

TEST_NAME="${TEST_NAME:-$(basename "$0" .sh)}"
RUN="rvs$$"                                 # unique per run: every namespace is ${RUN}-<short>
RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/rvs-e2e.${RUN}.XXXXXX")"
LOG_DIR="$RUN_DIR/logs"
mkdir -p "$LOG_DIR"
RVS_SOCK="$RUN_DIR/rvs.sock"                # topo files write it into the rvs config
RVS_PID=""
RVS_LOG="$LOG_DIR/rvs.log"
LIB_SUMMARY="${LIB_SUMMARY:-1}"            # 0 (demo): no "N passed, N failed" line
PASSED=0
FAILED=0
FINISHED=0
NAMESPACES=()                               # full names, in creation order
PIDS=()                                     # background processes we started

if [ "$(id -u)" != 0 ]; then
  echo "$TEST_NAME: must run as root (network namespaces, XDP)" >&2
  exit 1
fi

# ---------------------------------------------------------------------------- messages
log()  { printf '[%s] %s\n' "$TEST_NAME" "$*"; }
warn() { printf '[%s] %s\n' "$TEST_NAME" "$*" >&2; }
die()  { warn "FATAL: $*"; exit 1; }

pass() { PASSED=$((PASSED + 1)); printf 'PASS %s: %s\n' "$TEST_NAME" "$1"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s: %s%s\n' "$TEST_NAME" "$1" "${2:+ ($2)}"; }

# ---------------------------------------------------------------------------- assertions
# Each prints what went wrong and returns 1; inside run_case (set -e) that ends the case.
assert_eq() {   # EXPECTED ACTUAL [WHAT]
  if [ "$1" != "$2" ]; then
    warn "assert_eq failed${3:+: $3}"
    if [[ "$1$2" == *$'\n'* ]]; then
      diff -u <(printf '%s\n' "$1") <(printf '%s\n' "$2") | sed 's/^/    /' >&2 || true
      warn "    (diff: - expected, + actual; trailing spaces matter: cat -A shows them)"
      printf '%s\n' "$2" | cat -A | sed 's/^/    actual| /' >&2
    else
      warn "    expected: '$1'"
      warn "    actual:   '$2'"
    fi
    return 1
  fi
}
assert_contains() {   # HAYSTACK NEEDLE [WHAT]
  if [[ "$1" != *"$2"* ]]; then
    warn "assert_contains failed${3:+: $3}: '$2' not found in:"
    printf '%s\n' "$1" | sed 's/^/    /' >&2
    return 1
  fi
}
assert_not_contains() {   # HAYSTACK NEEDLE [WHAT]
  if [[ "$1" == *"$2"* ]]; then
    warn "assert_not_contains failed${3:+: $3}: '$2' found in:"
    printf '%s\n' "$1" | sed 's/^/    /' >&2
    return 1
  fi
}
assert_match() {   # STRING EXTENDED-REGEX [WHAT]
  if ! [[ "$1" =~ $2 ]]; then
    warn "assert_match failed${3:+: $3}: '$1' !~ /$2/"
    return 1
  fi
}
assert_true() {   # WHAT CMD...  (runs CMD; fails the case if it fails)
  local what="$1"; shift
  if ! "$@"; then warn "assert_true failed: $what: $*"; return 1; fi
}

# run_case NAME FUNCTION [ARGS...]: runs FUNCTION in a subshell with `set -e` really in force
# (it would be ignored if the function ran inside an `if`), records PASS/FAIL, and carries on
# with the next case.  Cases therefore cannot set globals for later cases: do that outside.
run_case() {
  local name="$1"; shift
  if [ -n "$RVS_PID" ] && ! pid_alive "$RVS_PID"; then
    fail "$name" "rvs is not running"
    return 0
  fi
  local rc=0
  set +e
  ( set -e; "$@" )
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then pass "$name"; else fail "$name" "exit $rc"; fi
}

# finish: prints the summary line and exits 0 only if nothing failed.
finish() {
  FINISHED=1
  if [ "$LIB_SUMMARY" = 1 ]; then
    printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
  fi
  [ "$FAILED" = 0 ] && exit 0
  exit 1
}

# ---------------------------------------------------------------------------- processes
pid_alive() {   # PID: running and not a zombie
  local st
  [ -r "/proc/$1/stat" ] || return 1
  st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# bg NS LOGNAME CMD...: starts CMD inside namespace NS in the background, output to
# $LOG_DIR/LOGNAME.log, records its pid (`ip netns exec` execs, so $! is the command's pid).
bg() {
  local ns; ns="$(ns_full "$1")"; local name="$2"; shift 2
  ip netns exec "$ns" "$@" >"$LOG_DIR/$name.log" 2>&1 </dev/null &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

# ---------------------------------------------------------------------------- namespaces
ns_full() {   # short name ("c") or full name ("${RUN}-c") -> full name
  case "$1" in
    "$RUN"-*) printf '%s\n' "$1" ;;
    *) printf '%s-%s\n' "$RUN" "$1" ;;
  esac
}

# ns_add NAME: creates namespace ${RUN}-NAME with lo up and IPv6 off (no RS/MLD/DAD noise
# in front of the director), unless the lab sets LAB_IPV6=1.
ns_add() {
  local ns; ns="$(ns_full "$1")"
  ip netns add "$ns"
  NAMESPACES+=("$ns")
  [ "${LAB_IPV6:-0}" = 1 ] || ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1 >/dev/null
  ip -n "$ns" link set lo up
}

ns_exec() {   # NS CMD...
  local ns; ns="$(ns_full "$1")"; shift
  ip netns exec "$ns" "$@"
}

# veth_add NS1 IF1 NS2 IF2 [ip-link options for both ends, e.g. numrxqueues 1 numtxqueues 1]
# Creates the pair directly inside the two namespaces (names are fixed and short) and sets
# both ends up.
veth_add() {
  local ns1 ns2; ns1="$(ns_full "$1")"; ns2="$(ns_full "$3")"
  local if1="$2" if2="$4"; shift 4
  ip link add "$if1" netns "$ns1" "$@" type veth peer name "$if2" netns "$ns2" "$@"
  ip -n "$ns1" link set "$if1" up
  ip -n "$ns2" link set "$if2" up
}

# host_if NS IF: an interface a test host SENDS from.  veth leaves locally generated TCP/UDP
# checksums unfinished (CHECKSUM_PARTIAL) and a user-space forwarder would pass them on
# broken: `tx off` makes the kernel finish them (and turns TSO off: no >MTU frames).
host_if() {
  ns_exec "$1" ethtool -K "$2" tx off >/dev/null 2>&1 \
    || die "ethtool -K $2 tx off failed in $(ns_full "$1")"
}

# ---------------------------------------------------------------------------- lab building blocks
# The labs share one addressing plan: the client 198.18.0.10/24 behind a gateway 198.18.0.1
# (a router, or the director's outside address), a LAN 198.18.1.0/24 on a bridge, and there
# the router's 198.18.1.1, the directors and the real servers.  Create the namespaces first
# (ns_add, in the order the lab wants them), then wire them with these.
LAB_CLIENT=198.18.0.10
LAB_GATEWAY=198.18.0.1
LAB_ROUTER_IN=198.18.1.1

# lab_switch: bridge br0 (no STP, no forward delay) in ${RUN}-sw, up.
lab_switch() {
  ns_exec sw ip link add br0 type bridge stp_state 0 forward_delay 0
  ns_exec sw ip link set br0 up
}

# lab_port [--gro] NS IF [ip-link options]: a veth from IF in NS to port p-NS of the switch's
# br0.  --gro on a director's port: frames rvs sends arrive on it, and GRO there lets a
# native-mode XDP redirect into the veth be delivered (harmless otherwise).
lab_port() {
  local gro=0
  [ "$1" = --gro ] && { gro=1; shift; }
  local ns="$1" ifname="$2"; shift 2
  veth_add "$ns" "$ifname" sw "p-$ns" "$@"
  ns_exec sw ip link set "p-$ns" master br0
  [ "$gro" = 0 ] || ns_exec sw ethtool -K "p-$ns" gro on >/dev/null 2>&1 || true
}

# lab_client: the client ${RUN}-c sends from eth0, $LAB_CLIENT/24, default via $LAB_GATEWAY.
lab_client() {
  ns_exec c ip addr add "$LAB_CLIENT/24" dev eth0
  ns_exec c ip route add default via "$LAB_GATEWAY"
  host_if c eth0
}

# lab_router [SYSCTL=VALUE...]: the router ${RUN}-r between the client (c eth0 - r0
# $LAB_GATEWAY/24) and the switch (r1 $LAB_ROUTER_IN/24 - p-r); ip_forward=1, rp_filter=0,
# and the given sysctls.  Wants namespaces c, r and sw, and lab_switch.
lab_router() {
  veth_add c eth0 r r0
  lab_port r r1
  lab_client
  ns_exec r ip addr add "$LAB_GATEWAY/24" dev r0
  ns_exec r ip addr add "$LAB_ROUTER_IN/24" dev r1
  ns_exec r sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 "$@" >/dev/null
  host_if r r0
  host_if r r1
}

# lab_director_arms [ip-link options]: the director ${RUN}-d between the client (c eth0 -
# d-out) and the switch (d-in - p-d); the client's gateway $LAB_GATEWAY is the director's.
# Frames rvs sends arrive on c's eth0 and on p-d: GRO on there (see lab_port).  Wants
# namespaces c, d and sw, and lab_switch.
lab_director_arms() {
  veth_add c eth0 d d-out "$@"
  lab_port --gro d d-in "$@"
  lab_client
  ns_exec c ethtool -K eth0 gro on >/dev/null 2>&1 || true
}

# lab_host NS ADDR [GATEWAY]: NS sends from eth0, ADDR/24, default via GATEWAY if given.
lab_host() {
  ns_exec "$1" ip addr add "$2/24" dev eth0
  [ -z "${3:-}" ] || ns_exec "$1" ip route add default via "$3"
  host_if "$1" eth0
}

# lab_dr_real_server NS ADDR VIP [SYSCTL=VALUE...]: a real server for DR and TUN on the LAN:
# ADDR/24 on eth0, default via the router (replies bypass the director), and lab_dr_vip.
lab_dr_real_server() {
  lab_host "$1" "$2" "$LAB_ROUTER_IN"
  lab_dr_vip "$1" "${@:3}"
}

# lab_dr_vip NS VIP [SYSCTL=VALUE...]: the VIP on lo of a DR/TUN real server; arp_ignore=1 /
# arp_announce=2 on all and lo (only the director answers ARP for the VIP), rp_filter=0
# (all, default, eth0, lo), and the given sysctls.
lab_dr_vip() {
  local ns="$1" vip="$2"; shift 2
  ns_exec "$ns" ip addr add "$vip/32" dev lo
  ns_exec "$ns" sysctl -qw \
    net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.lo.arp_ignore=1 \
    net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.lo.arp_announce=2 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.lo.rp_filter=0 "$@" >/dev/null
}

# director_host_path: the director's kernel gets 198.18.1.2/24 on d-in (see
# lab_director_arms), the host path its health checks (rvs's, ldirectord's) probe the real
# servers from; `tx off` there, as host_if, for the probes' checksums.
DIRECTOR_HOST_ADDR=198.18.1.2
director_host_path() {
  ns_exec d ip addr add "$DIRECTOR_HOST_ADDR/24" dev d-in
  ns_exec d ethtool -K d-in tx off >/dev/null 2>&1 || true
}

# rvs's config, in pieces a lab puts together: rvs_conf_admin SOCKET, rvs_conf_iface NAME
# ADDR/PLEN [VIP...] (xdp_mode from RVS_XDP_MODE, default generic), rvs_conf_route GATEWAY
# (the default route).  Each prints its TOML.
# rvs_conf_admin SOCK: the [admin] section; the /proc/net/ip_vs* texts go beside the socket
# ($(rvs_proc_dir SOCK)), not to the host's /run/rvs/proc/net.
rvs_proc_dir() { printf '%s.proc/net\n' "${1%.sock}"; }
rvs_conf_admin() { printf '[admin]\nsocket = "%s"\nproc_dir = "%s"\n\n' "$1" "$(rvs_proc_dir "$1")"; }
rvs_conf_iface() {
  local name="$1" addr="$2"; shift 2
  printf '[[interface]]\nname = "%s"\nxdp_mode = "%s"\naddresses = ["%s"]\n' "$name" "${RVS_XDP_MODE:-generic}" "$addr"
  if [ "$#" -gt 0 ]; then
    local vips
    vips="$(printf '"%s", ' "$@")"
    printf 'vips = [%s]\n' "${vips%, }"
  fi
  printf '\n'
}
rvs_conf_route() { printf '[[route]]\ndestination = "0.0.0.0/0"\ngateway = "%s"\n\n' "$1"; }

# start_ipip_decap NS NAME DEV MAX_SECONDS: tests/e2e/ipip_decap.py on TUN device DEV (a TUN
# real server's decapsulator: the kernel here has no ipip module), up and decapsulating.
_tun_up() { ns_exec "$1" ip link show dev "$2" 2>/dev/null | grep -q '[<,]UP[,>]'; }
start_ipip_decap() {
  local ns="$1" name="$2" dev="$3"
  bg "$ns" "ipip-decap-$name" python3 "$E2E_DIR/ipip_decap.py" "$dev" --sysctl --max-seconds "$4"
  wait_until 10 _tun_up "$ns" "$dev" \
    || { sed 's/^/    decap| /' "$LOG_DIR/ipip-decap-$name.log" >&2; die "ipip_decap.py did not bring $dev up in $(ns_full "$ns")"; }
  wait_until 5 grep -q decapsulating "$LOG_DIR/ipip-decap-$name.log" \
    || die "ipip_decap.py in $(ns_full "$ns") did not start"
}

# scapy_python: prints the python3 that has scapy (Debian's python3-scapy, so the system
# interpreter first); fails, saying so, if none has it.
scapy_python() {
  local p
  for p in /usr/bin/python3 python3; do
    if "$p" -c 'import scapy.all' >/dev/null 2>&1; then printf '%s\n' "$p"; return 0; fi
  done
  warn "python3 with scapy (Debian: python3-scapy) is needed; run scripts/setup"
  return 1
}

# ---------------------------------------------------------------------------- waiting
# wait_until SECONDS CMD...: polls CMD every 0.1 s; returns 1 if it never succeeded.
wait_until() {
  local secs="$1"; shift
  local end=$((SECONDS + secs))
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$SECONDS" -ge "$end" ] && return 1
    sleep 0.1
  done
}
# wait_still SECONDS CMD...: runs CMD every 1.5 s until two readings in a row are equal and
# prints that reading; returns 1 if it still moved after SECONDS.
wait_still() {
  local secs="$1"; shift
  local a b end=$((SECONDS + secs))
  a="$("$@")"
  while :; do
    sleep 1.5
    b="$("$@")"
    [ "$a" = "$b" ] && break
    [ "$SECONDS" -lt "$end" ] || { warn "$* still moving after $secs s"; return 1; }
    a="$b"
  done
  printf '%s\n' "$b"
}
_listening() {   # NS t|u PORT
  local out
  out="$(ns_exec "$1" ss -Hln"$2" "( sport = :$3 )" 2>/dev/null)" || return 1
  [ -n "$out" ]
}
wait_tcp_listen() { wait_until "${3:-10}" _listening "$1" t "$2" || die "nothing listens on tcp :$2 in $(ns_full "$1")"; }
wait_udp_listen() { wait_until "${3:-10}" _listening "$1" u "$2" || die "nothing listens on udp :$2 in $(ns_full "$1")"; }

# ---------------------------------------------------------------------------- real servers
# big.bin: 20 MB of random bytes, made once per run and hard-linked into every server's root.
BIG_FILE="$RUN_DIR/big.bin"
BIG_MB=20
big_file() {
  [ -f "$BIG_FILE" ] || head -c "$((BIG_MB * 1024 * 1024))" /dev/urandom >"$BIG_FILE"
  printf '%s\n' "$BIG_FILE"
}

# start_http NS PORT NAME: python's http.server (tests/e2e/http_server.py: no name lookups) on
# ${HTTP_BIND:-0.0.0.0}:PORT; GET / answers "NAME\n",
# GET /big.bin the run's 20 MB file.
start_http() {
  local ns="$1" port="$2" name="$3"
  local root="$RUN_DIR/www/$name"
  mkdir -p "$root"
  printf '%s\n' "$name" >"$root/index.html"
  big_file >/dev/null
  ln -f "$BIG_FILE" "$root/big.bin" 2>/dev/null || cp "$BIG_FILE" "$root/big.bin"
  bg "$ns" "http-$name-$port" python3 "$E2E_DIR/http_server.py" "$port" "$root" "${HTTP_BIND:-0.0.0.0}"
  wait_tcp_listen "$ns" "$port"
}

# kill_http NS PORT: stops that namespace's start_http server on PORT (its pid only): a real
# server's web server failing.
kill_http() {
  local ns p; ns="$(ns_full "$1")"
  for p in $(ip netns pids "$ns"); do
    if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "http_server.py $2 "; then kill "$p" 2>/dev/null || true; fi
  done
}

# start_paced_nginx NS NAME LOCATIONS FILE:URLNAME...: a private nginx (its own config, pid,
# logs and temp dirs under $RUN_DIR/nginx/NAME; master and one worker; no access log) in NS on
# ports 80 and 81, serving GET / as "NAME\n" and each FILE as /URLNAME. LOCATIONS is nginx
# config for the server block, typically the pacing that makes a download span an event:
# 'location = /big.bin { limit_rate 4m; }' (paced on the server: a client's --limit-rate
# reads in bursts and hides dark time). NGINX_HTTP_EXTRA adds lines to the http block.
start_paced_nginx() {
  local ns="$1" name="$2" locations="$3" dir="$RUN_DIR/nginx/$2" pair
  shift 3
  mkdir -p "$dir/root" "$dir/tmp"
  printf '%s\n' "$name" >"$dir/root/index.html"
  for pair in "$@"; do
    ln -f "${pair%%:*}" "$dir/root/${pair#*:}" 2>/dev/null || cp "${pair%%:*}" "$dir/root/${pair#*:}"
  done
  cat >"$dir/nginx.conf" <<EOF
# private nginx for $(basename "$0") (real server $name)
daemon off;
master_process on;
worker_processes 1;
user root root;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 2048; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    ${NGINX_HTTP_EXTRA:-}
    server {
        listen 80 backlog=1024;
        listen 81 backlog=1024;
        root $dir/root;
        index index.html;
        $locations
    }
}
EOF
  bg "$ns" "nginx-$name" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
  wait_tcp_listen "$ns" 80
  wait_tcp_listen "$ns" 81
}

# start_udp_echo NS PORT NAME: answers every datagram with "NAME\n" (one forked socat child
# per datagram, replying from the bound port to the sender).
start_udp_echo() {
  local ns="$1" port="$2" name="$3"
  # The answer waits for the request's line (1 s at most): a bare `echo` could exit before
  # socat wrote the datagram to it, and socat then dropped that query (write: Broken pipe).
  # SYSTEM runs /bin/sh (dash: no `read -t`, which failed at once and brought the race
  # back), hence timeout(1) around head(1).
  bg "$ns" "udp-$name-$port" socat "UDP4-RECVFROM:$port,reuseaddr,fork" "SYSTEM:timeout 1 head -n 1 >/dev/null; echo $name"
  wait_udp_listen "$ns" "$port"
}

# ---------------------------------------------------------------------------- clients
CURL_MAX_TIME="${CURL_MAX_TIME:-10}"
CURL_CONNECT_TIMEOUT="${CURL_CONNECT_TIMEOUT:-3}"
# ns_curl NS CURL-ARGS...: curl inside NS, always bounded, never through a proxy.
ns_curl() {
  local ns="$1"; shift
  ns_exec "$ns" curl -sS --noproxy '*' --connect-timeout "$CURL_CONNECT_TIMEOUT" \
    --max-time "$CURL_MAX_TIME" "$@"
}

# curl_many NS COUNT URL: COUNT sequential requests (one new connection each) from one
# `ip netns exec`; prints one line per request: the body, or "ERR" if curl failed.
curl_many() {
  local ns="$1" n="$2" url="$3"
  [ "$n" -le 500 ] || die "curl_many: $n requests is more than this suite allows"
  # shellcheck disable=SC2016  # expanded by the inner bash
  ns_exec "$ns" bash -c '
    for _ in $(seq "$1"); do
      curl -sS --noproxy "*" --connect-timeout "$2" --max-time "$3" "$4" 2>/dev/null || echo ERR
    done' _ "$n" "$CURL_CONNECT_TIMEOUT" "$CURL_MAX_TIME" "$url"
}

# udp_ask NS HOST PORT [PAYLOAD]: sends one datagram from a fresh source port, prints the
# answer (empty if none came within 2 s).
udp_ask() {
  local ns="$1" host="$2" port="$3" payload="${4:-ping}"
  printf '%s\n' "$payload" | ns_exec "$ns" timeout 5 socat -t 2 -T 2 - "UDP4:$host:$port" 2>/dev/null || true
}

# count_lines TEXT WORD: how many lines of TEXT are exactly WORD
count_lines() { printf '%s\n' "$1" | grep -cx -- "$2" || true; }

# metric TEXT NAME [LABELS-REGEX]: in Prometheus text, the value (as an integer) of the first
# sample of NAME whose labels match, "missing" if none; 1.2e+06 (node_exporter's way) is read.
metric() {
  awk -v name="$2" -v lab="${3:-}" '
    $1 == name || index($1, name "{") == 1 {
      if (lab == "" || $1 ~ lab) { printf "%.0f\n", $2 + 0; found = 1; exit }
    }
    END { if (!found) print "missing" }' <<<"$1"
}
# strict_alternation TEXT: no two consecutive lines equal (round robin over two servers).
strict_alternation() {
  local prev="" line i=0
  while IFS= read -r line; do
    i=$((i + 1))
    [ "$line" != "$prev" ] || { warn "request $i went to $line again: not strict round robin"; return 1; }
    prev="$line"
  done <<<"$1"
}

# ---------------------------------------------------------------------------- rvs
# xdp_ids: the XDP program ids on the director's ($NS_D) d-out and d-in, "-" for none:
# whether rvs left its program attached.
xdp_ids() {
  local i id
  for i in d-out d-in; do
    id="$(ip -n "$NS_D" -d link show "$i" | grep -o 'prog/xdp id [0-9]*' | awk '{print $3}' | head -n1)"
    printf '%s ' "${id:--}"
  done
}

# start_rvs CONFIG [NS]: runs $RVS_BIN --config CONFIG in the director namespace (default
# ${RUN}-d) in the background; waits up to 20 s for the admin socket named in CONFIG.
start_rvs() {
  local config="$1" ns="${2:-d}" sock
  [ -x "$RVS_BIN" ] || die "RVS_BIN=$RVS_BIN is not an executable (cargo build --release?)"
  sock="$(sed -n 's/^[[:space:]]*socket[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' "$config" | head -n1)"
  RVS_SOCK="${sock:-$RVS_SOCK}"
  export RVS_SOCKET="$RVS_SOCK"
  rm -f "$RVS_SOCK"
  : >"$RVS_LOG"
  RVS_NS="$(ns_full "$ns")"
  ip netns exec "$RVS_NS" "$RVS_BIN" --config "$config" >>"$RVS_LOG" 2>&1 </dev/null &
  RVS_PID=$!
  PIDS+=("$RVS_PID")
  local end=$((SECONDS + 20))
  while [ ! -S "$RVS_SOCK" ]; do
    if ! pid_alive "$RVS_PID"; then
      local rc=0; wait "$RVS_PID" || rc=$?
      RVS_PID=""
      warn "rvs exited (status $rc) before creating $RVS_SOCK; its log:"
      sed 's/^/    rvs| /' "$RVS_LOG" >&2
      die "start_rvs failed"
    fi
    if [ "$SECONDS" -ge "$end" ]; then
      warn "rvs did not create $RVS_SOCK within 20 s; its log:"
      sed 's/^/    rvs| /' "$RVS_LOG" >&2
      die "start_rvs failed"
    fi
    sleep 0.1
  done
  log "rvs is up (pid $RVS_PID, socket $RVS_SOCK)"
}

# rvsadm ARGS...: the ipvsadm-compatible client against this run's rvs
rvsadm() { "$RVSADM_BIN" --socket "$RVS_SOCK" "$@"; }

# stop_rvs: SIGTERM, wait up to 10 s; returns 1 unless rvs exited 0 and removed its socket.
stop_rvs() {
  [ -n "$RVS_PID" ] || { warn "stop_rvs: rvs is not running"; return 1; }
  local pid="$RVS_PID" rc=0
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_until 10 eval "! pid_alive $pid"; then
    warn "rvs did not exit within 10 s of SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  RVS_PID=""
  if [ "$rc" != 0 ]; then
    warn "rvs exited with status $rc after SIGTERM; log tail:"
    tail -n 30 "$RVS_LOG" | sed 's/^/    rvs| /' >&2
    return 1
  fi
  if [ -e "$RVS_SOCK" ]; then warn "rvs left its admin socket $RVS_SOCK behind"; return 1; fi
  # Every XDP program rvs attached must be gone with it.
  if ip -n "$RVS_NS" -d link show 2>/dev/null | grep -q 'prog/xdp'; then
    warn "rvs left an XDP program attached:"; ip -n "$RVS_NS" -d link show | grep -B2 'prog/xdp' >&2; return 1
  fi
}

# ---------------------------------------------------------------------------- several directors
# Labs with several rvs (d1, d2... or a, b) give each its config $RUN_DIR/rvs-D.toml, admin
# socket $(director_sock D) and log $LOG_DIR/rvs-D.log.
director_sock() { printf '%s/rvs-%s.sock\n' "$RUN_DIR" "$1"; }
rvsadm_on() { local d="$1"; shift; "$RVSADM_BIN" --socket "$(director_sock "$d")" "$@"; }

# start_director_rvs D: starts rvs with $RUN_DIR/rvs-D.toml in namespace D (a restart keeps
# the previous log in rvs-D.previous.log); its pid goes to $RUN_DIR/pid-rvs-D, since the cases
# run in subshells, and RVS_PID is cleared: run_case must not stop at a director a case kills
# on purpose.
start_director_rvs() {
  local d="$1"
  RVS_LOG="$LOG_DIR/rvs-$d.log"
  [ -s "$RVS_LOG" ] && cat "$RVS_LOG" >>"$LOG_DIR/rvs-$d.previous.log"
  start_rvs "$RUN_DIR/rvs-$d.toml" "$d"
  echo "$RVS_PID" >"$RUN_DIR/pid-rvs-$d"
  RVS_PID=""
}

# now: the time in seconds (nanosecond digits); ms_between T0 T1: milliseconds from T0 to T1
now() { date +%s.%N; }
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", (b - a) * 1000}'; }

# ---------------------------------------------------------------------------- cleanup
_cleanup() {
  local rc=$?
  set +e +x
  trap - EXIT INT TERM HUP
  if [ "$LIB_SUMMARY" = 1 ] && [ "$FINISHED" = 0 ]; then
    # the script died outside a case (set -e, die, signal): count that as a failure
    FAILED=$((FAILED + 1))
    printf 'FAIL %s: aborted (status %s)\n' "$TEST_NAME" "$rc"
  fi
  if [ -n "$RVS_PID" ] && pid_alive "$RVS_PID"; then
    kill -TERM "$RVS_PID" 2>/dev/null
    wait_until 5 eval "! pid_alive $RVS_PID" || kill -KILL "$RVS_PID" 2>/dev/null
  fi
  if [ "$FAILED" != 0 ] && [ -s "$RVS_LOG" ]; then
    warn "rvs log tail ($RVS_LOG):"
    tail -n 40 "$RVS_LOG" | sed 's/^/    rvs| /' >&2
  fi
  local p ns pids
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for ns in "${NAMESPACES[@]}"; do
    pids="$(ip netns pids "$ns" 2>/dev/null)"
    # shellcheck disable=SC2086  # word-splitting a list of pids
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
  done
  sleep 0.2
  for ns in "${NAMESPACES[@]}"; do
    pids="$(ip netns pids "$ns" 2>/dev/null)"
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  # anything left with our prefix (e.g. created by a helper that died half-way)
  for ns in $(ip netns list 2>/dev/null | awk -v p="$RUN-" 'index($1, p) == 1 {print $1}'); do
    ip netns del "$ns" 2>/dev/null
  done
  rm -f "$BIG_FILE" "$RUN_DIR"/www/*/big.bin "$RUN_DIR"/*.download 2>/dev/null
  if [ "$FAILED" = 0 ] && [ "$rc" = 0 ] && [ "${RVS_E2E_KEEP:-0}" != 1 ]; then
    rm -rf "$RUN_DIR"
  else
    warn "logs kept in $RUN_DIR"
  fi
  if [ "$LIB_SUMMARY" = 1 ] && [ "$FINISHED" = 0 ]; then
    printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
    [ "$rc" = 0 ] && rc=1
  fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# A stale namespace with our prefix can only be left over from a killed run that had our pid.
for _ns in $(ip netns list 2>/dev/null | awk -v p="$RUN-" 'index($1, p) == 1 {print $1}'); do
  ip netns del "$_ns" 2>/dev/null || true
done
unset _ns
