#!/usr/bin/env bash
# tests/e2e/test_admin.sh: the admin socket under abuse.  The NAT lab (tests/e2e/topo_nat.sh),
# rvs running with one service on VIP:80.  Cases: the socket is 0600 and a non-root client is
# refused (by the file mode, and by SO_PEERCRED when the mode is opened up); malformed JSON, a
# 5 MiB request, a half-sent request held open 7 s and binary garbage each get an error or a
# closed connection while rvs keeps serving other clients; 50 concurrent clients all succeed;
# 2000 rule changes on a second service while a curl loop forwards through the first: every
# request answered, rvs up.  Protocol: one JSON line {"argv":[...],"stdin":null} per
# connection, one JSON line back (src/admin/protocol.rs).
# `rvsadm -Ln | head -1` on a big table ends by SIGPIPE (141) as ipvsadm does, no panic.
# 70 slow clients (root and an [admin] group member) do not lock root's rvsadm out.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

VIP="$NAT_VIP"
RS1="$NAT_RS1"
RS2="$NAT_RS2"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

topo_nat
start_rvs "$NAT_CONFIG"
rvsadm -A -t "$VIP:80" -s rr
rvsadm -a -t "$VIP:80" -r "$RS1:80" -m
rvsadm -a -t "$VIP:80" -r "$RS2:80" -m

# raw_client MODE: talks to the admin socket directly; prints what came back
# ("reply <json>", "closed", "reset", "timeout").
raw_client() {
  "$PY" - "$RVS_SOCK" "$@" <<'PYEOF'
import json, os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(15)
s.connect(path)
try:
    if mode == "malformed":
        s.sendall(b'{"argv": ["-Ln", "stdin": nul\n')
    elif mode == "wrongtype":
        s.sendall(b'{"argv": "-Ln", "stdin": 7}\n')
    elif mode == "huge":
        body = b'{"argv":["-Ln"],"stdin":"' + b"A" * (5 << 20) + b'"}\n'
        s.sendall(body)
    elif mode == "half":
        s.sendall(b'{"argv":["-L","-n"],"st')
        time.sleep(float(sys.argv[3]))
    elif mode == "garbage":
        s.sendall(os.urandom(65536) + b"\n\x00\xff\n")
    elif mode == "valid":
        s.sendall(json.dumps({"argv": ["-Ln"], "stdin": None}).encode() + b"\n")
except (BrokenPipeError, ConnectionResetError):
    print("reset")
    sys.exit(0)
data = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except ConnectionResetError:
    print("reset" if not data else "reply " + data.decode(errors="replace").strip())
    sys.exit(0)
except socket.timeout:
    print("timeout")
    sys.exit(0)
print("reply " + data.decode(errors="replace").strip() if data else "closed")
PYEOF
}

still_serving() { assert_contains "$(rvsadm -Ln)" "TCP  198.18.0.100:80 rr" "rvs still answers -Ln"; }

# a refusal is a JSON error reply (non-zero code) or a closed/reset connection, never a success
assert_refused() {   # OUTPUT WHAT
  case "$1" in
    closed|reset) log "  $2: connection closed ($1)" ;;
    reply*)
      local code; code="$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1][6:])["code"])' "$1" 2>/dev/null || echo bad)"
      [ "$code" != 0 ] && [ "$code" != bad ] || { warn "$2: not refused: $1"; return 1; }
      log "  $2: refused: $(cut -c1-140 <<<"$1")" ;;
    *) warn "$2: unexpected outcome: $1"; return 1 ;;
  esac
}

# ---------------------------------------------------------------------------------- a
case_a_mode() {
  assert_eq "600 root" "$(stat -c '%a %U' "$RVS_SOCK")" "admin socket mode and owner"
  assert_eq socket "$(stat -c '%F' "$RVS_SOCK")" "admin socket type"
}

# ---------------------------------------------------------------------------------- b
# nobody cannot connect (mode 0600); with the mode opened up for the test, SO_PEERCRED refuses.
case_b_non_root() {
  local bindir rc out
  bindir="$(mktemp -d /tmp/rvs-e2e-bin.XXXXXX)"; chmod 755 "$bindir"
  cp "$RVSADM_BIN" "$bindir/rvsadm"; chmod 755 "$bindir/rvsadm"
  local dirmode; dirmode="$(stat -c %a "$RUN_DIR")"
  chmod 711 "$RUN_DIR"   # nobody may traverse to the socket; the socket itself stays 0600
  rc=0; out="$(setpriv --reuid=65534 --regid=65534 --clear-groups "$bindir/rvsadm" --socket "$RVS_SOCK" -Ln 2>&1)" || rc=$?
  log "  nobody, socket 0600: exit $rc: $out"
  [ "$rc" != 0 ] || { chmod "$dirmode" "$RUN_DIR"; rm -rf "$bindir"; warn "nobody listed the rules"; return 1; }
  chmod 666 "$RVS_SOCK"
  rc=0; out="$(setpriv --reuid=65534 --regid=65534 --clear-groups "$bindir/rvsadm" --socket "$RVS_SOCK" -A -t "$VIP:9999" 2>&1)" || rc=$?
  chmod 600 "$RVS_SOCK"; chmod "$dirmode" "$RUN_DIR"; rm -rf "$bindir"
  log "  nobody, socket opened to 0666: exit $rc: $out"
  [ "$rc" != 0 ] || { warn "nobody's command was accepted"; return 1; }
  assert_contains "$out" "Permission denied (you must be root)" "SO_PEERCRED refusal"
  assert_not_contains "$(rvsadm -Ln)" ":9999" "nobody's service was not added"
  still_serving
}

# ---------------------------------------------------------------------------------- c
case_c_malformed() {
  assert_refused "$(raw_client malformed)" "malformed JSON"
  assert_refused "$(raw_client wrongtype)" "JSON of the wrong shape"
  assert_refused "$(raw_client garbage)" "64 KiB of binary garbage"
  local ok; ok="$(raw_client valid)"
  assert_contains "$ok" '"code":0' "a valid raw request still succeeds"
  still_serving
}

# ---------------------------------------------------------------------------------- d
case_d_huge() {
  local rss0 rss1
  rss0="$(awk '/^VmRSS:/ {print $2}' "/proc/$RVS_PID/status")"
  assert_refused "$(raw_client huge)" "a 5 MiB request (limit 4 MiB)"
  rss1="$(awk '/^VmRSS:/ {print $2}' "/proc/$RVS_PID/status")"
  log "  VmRSS $rss0 kB -> $rss1 kB"
  still_serving
}

# ---------------------------------------------------------------------------------- e
# A client sends half a line and waits 7 s: the 5 s read limit frees its thread; meanwhile
# others are served promptly.
case_e_half() {
  local out="$RUN_DIR/half.out" pid i t0 t1
  raw_client half 7 >"$out" &
  pid=$!
  sleep 0.5
  for i in 1 2 3 4 5; do
    t0=$(date +%s%N)
    still_serving
    t1=$(date +%s%N)
    [ $(( (t1 - t0) / 1000000 )) -lt 2000 ] || { warn "-Ln took $(( (t1 - t0) / 1000000 )) ms while a client stalled"; return 1; }
    sleep 1
  done
  wait "$pid"
  assert_refused "$(cat "$out")" "half a request, then 7 s of silence"
  still_serving
}

# ---------------------------------------------------------------------------------- f
case_f_concurrent() {
  local dir="$RUN_DIR/conc" i fails=0
  mkdir -p "$dir"
  for i in $(seq 50); do
    ( rc=0; rvsadm -Ln >"$dir/$i.out" 2>&1 || rc=$?; echo "$rc" >"$dir/$i.rc" ) &
  done
  wait
  for i in $(seq 50); do
    if [ "$(cat "$dir/$i.rc")" != 0 ] || ! grep -q "TCP  198.18.0.100:80 rr" "$dir/$i.out"; then
      fails=$((fails + 1)); warn "client $i: exit $(cat "$dir/$i.rc"): $(head -c 200 "$dir/$i.out")"
    fi
  done
  assert_eq 0 "$fails" "failed clients of 50 concurrent rvsadm -Ln"
}

# ---------------------------------------------------------------------------------- g
# 2000 rule changes on VIP:8081 (batches through -R and single commands) while a curl loop
# forwards through VIP:80.
case_g_churn() {
  local loop="$RUN_DIR/churn.loop" lpid changes=0 b batch
  ns_exec c bash -c 'for i in $(seq 300); do curl -sS --noproxy "*" --connect-timeout 3 --max-time 5 http://'"$VIP"'/ 2>/dev/null || echo ERR; sleep 0.02; done' >"$loop" &
  lpid=$!
  for b in $(seq 170); do
    batch="-A -t $VIP:8081 -s wrr
-a -t $VIP:8081 -r $RS1:8080 -m -w 1
-a -t $VIP:8081 -r $RS2:8080 -m -w 2
-e -t $VIP:8081 -r $RS1:8080 -m -w $((b % 7 + 1))
-e -t $VIP:8081 -r $RS2:8080 -m -w $((b % 5))
-d -t $VIP:8081 -r $RS1:8080
-a -t $VIP:8081 -r $RS1:8080 -m -w 3
-E -t $VIP:8081 -s rr
-d -t $VIP:8081 -r $RS2:8080
-D -t $VIP:8081"
    printf '%s\n' "$batch" | rvsadm -R
    changes=$((changes + 10))
    if [ $((b % 3)) = 0 ]; then   # and some single commands
      rvsadm -A -t "$VIP:8082" -s rr
      rvsadm -a -t "$VIP:8082" -r "$RS1:8080" -m
      rvsadm -e -t "$VIP:8082" -r "$RS1:8080" -m -w 5
      rvsadm -a -t "$VIP:8082" -r "$RS2:8080" -m
      rvsadm -d -t "$VIP:8082" -r "$RS1:8080"
      rvsadm -D -t "$VIP:8082"
      changes=$((changes + 6))
    fi
  done
  log "  $changes rule changes applied"
  pid_alive "$RVS_PID" || { warn "rvs died during the rule churn"; return 1; }
  wait "$lpid" || true
  local ok err
  ok="$(grep -cE '^rs[12]$' "$loop" || true)"; err="$(grep -vcE '^rs[12]$' "$loop" || true)"
  log "  curl loop during the churn: $ok answered, $err failed"
  [ "$changes" -ge 2000 ] || { warn "only $changes changes"; return 1; }
  assert_eq 0 "$err" "failed requests through VIP:80 during the churn"
  assert_eq 300 "$ok" "requests answered during the churn"
  assert_not_contains "$(rvsadm -Ln)" ":8081" "the churned service is gone at the end"
  still_serving
}

# ---------------------------------------------------------------------------------- h
# `rvsadm -Ln | head -1` over a table far larger than a pipe's 64 KiB: head exits after one
# line and the next write hits a closed pipe.  ipvsadm (C, SIGPIPE left at its default) dies
# by SIGPIPE there, which the shell reports as 141 under pipefail; rvsadm must do the same,
# with no Rust panic or backtrace on stderr.
case_h_closed_pipe() {
  local batch="$RUN_DIR/many.rules" err="$RUN_DIR/pipe.err" port bytes rc
  for port in $(seq 20001 21500); do
    printf -- '-A -t %s:%s -s rr\n-a -t %s:%s -r %s:80 -m\n-a -t %s:%s -r %s:80 -m\n' \
      "$VIP" "$port" "$VIP" "$port" "$RS1" "$VIP" "$port" "$RS2"
  done >"$batch"
  rvsadm -R <"$batch"
  bytes="$(rvsadm -Ln | wc -c)"
  log "  -Ln prints $bytes bytes ($(rvsadm -Ln | wc -l) lines)"
  [ "$bytes" -gt 131072 ] || { warn "the table is too small to fill the pipe"; return 1; }
  rc=0; rvsadm -Ln 2>"$err" | head -1 >/dev/null || rc=$?
  log "  rvsadm -Ln | head -1 (pipefail): exit $rc; stderr: $(head -c 300 "$err" | tr '\n' ' ')"
  assert_not_contains "$(cat "$err")" "panicked" "rvsadm's stderr"
  assert_eq "" "$(cat "$err")" "rvsadm's stderr (ipvsadm prints nothing when killed by SIGPIPE)"
  assert_eq 141 "$rc" "exit status (128 + SIGPIPE, as ipvsadm)"
  for port in $(seq 20001 21500); do printf -- '-D -t %s:%s\n' "$VIP" "$port"; done | rvsadm -R
  still_serving
  assert_eq 1 "$(rvsadm -Ln | grep -c '^TCP')" "the many services are gone again"
}

# ---------------------------------------------------------------------------------- n
# Slow admin clients: 35 connections of root and 35 of a member of the [admin] group, each
# sending one byte of a request every 3 s and reopening what the server closes (bounded at
# 24 s, killed by pid at the end).  rvsadm -Ln from root must still answer, and promptly.
SLOW_PY="$RUN_DIR/slow_admin.py"
cat >"$SLOW_PY" <<'PYEOF'
import socket, sys, time
path, count, lifetime, every = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
request = b'{"argv":["-Ln"],"stdin":null}\n'
conns, opened, closed, failed = [], 0, 0, 0
def connect():
    global opened, failed
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        failed += 1
        s.close()
        return None
    opened += 1
    s.setblocking(False)
    return [s, 0]
end = time.time() + lifetime
while time.time() < end:
    conns = [c for c in conns if c is not None]
    while len(conns) < count:
        c = connect()
        if c is None:
            break
        conns.append(c)
    for c in conns:
        s, sent = c
        try:
            gone = s.recv(4096) == b""
        except BlockingIOError:
            gone = False
        except OSError:
            gone = True
        if not gone:
            try:
                s.send(request[sent % (len(request) - 1):][:1])
                c[1] = sent + 1
            except OSError:
                gone = True
        if gone:
            closed += 1
            s.close()
            c[0] = None
    conns = [c for c in conns if c[0] is not None]
    print(f"open {len(conns)} opened {opened} closed-by-server {closed} connect-failed {failed}", flush=True)
    time.sleep(every)
PYEOF
chmod 644 "$SLOW_PY"
case_n_slow_clients() {
  local dirmode p1 p2 i t0 t1 ms rc out worst=0
  dirmode="$(stat -c %a "$RUN_DIR")"; chmod 711 "$RUN_DIR"
  "$PY" "$SLOW_PY" "$RVS_SOCK" 35 24 3 >"$RUN_DIR/slow.root" 2>&1 &
  p1=$!
  setpriv --reuid=65534 --regid="$GID" --clear-groups "$PY" "$SLOW_PY" "$RVS_SOCK" 35 24 3 >"$RUN_DIR/slow.group" 2>&1 &
  p2=$!
  sleep 4
  for i in 1 2 3 4 5; do
    t0=$(date +%s%N); rc=0
    out="$(timeout 15 "$RVSADM_BIN" --socket "$RVS_SOCK" -Ln 2>&1)" || rc=$?
    t1=$(date +%s%N); ms=$(( (t1 - t0) / 1000000 ))
    [ "$ms" -gt "$worst" ] && worst="$ms"
    log "  rvsadm -Ln #$i with 70 slow clients connected: exit $rc in $ms ms$( [ "$rc" = 0 ] || printf ': %s' "$out")"
    if [ "$rc" != 0 ] || [[ "$out" != *"IP Virtual Server version 1.2.1"* ]] || [ "$ms" -ge 3000 ]; then
      kill -TERM "$p1" "$p2" 2>/dev/null || true; wait "$p1" "$p2" 2>/dev/null || true; chmod "$dirmode" "$RUN_DIR"
      warn "rvsadm -Ln did not answer within 3 s"; return 1
    fi
    sleep 2
  done
  log "  slow root clients: $(tail -n1 "$RUN_DIR/slow.root")"
  log "  slow group clients: $(tail -n1 "$RUN_DIR/slow.group")"
  kill -TERM "$p1" "$p2" 2>/dev/null || true
  wait "$p1" "$p2" 2>/dev/null || true
  chmod "$dirmode" "$RUN_DIR"
  log "  slowest rvsadm -Ln: $worst ms"
  assert_contains "$(rvsadm -Ln)" "IP Virtual Server version 1.2.1" "rvs still answers -Ln"
}

run_case "a. the admin socket is 0600, owned by root" case_a_mode
run_case "b. a non-root client is refused (file mode, then SO_PEERCRED)" case_b_non_root
run_case "c. malformed JSON, wrong shape, binary garbage: refused, rvs serves" case_c_malformed
run_case "d. a 5 MiB request is refused, rvs serves" case_d_huge
run_case "e. a half-sent request held 7 s does not block other clients" case_e_half
run_case "f. 50 concurrent rvsadm -Ln all succeed" case_f_concurrent
run_case "g. 2000 rule changes while a curl loop forwards: no failed request" case_g_churn
run_case "h. rvsadm -Ln | head -1 on a 1500-service table: SIGPIPE exit 141, no panic" case_h_closed_pipe
if stop_rvs; then pass "k. SIGTERM: clean stop"; else fail "k. SIGTERM: clean stop"; fi

# [admin] group: members of a configured group (by primary group) may use the socket too.
GRP="rvse2e$$"
groupadd "$GRP"
GID="$(getent group "$GRP" | cut -d: -f3)"
sed -i "s|^socket = \"$RVS_SOCK\"|&\ngroup = \"$GRP\"|" "$NAT_CONFIG"
start_rvs "$NAT_CONFIG"
case_l_group() {
  local bindir rc out dirmode
  assert_eq "660 root $GRP" "$(stat -c '%a %U %G' "$RVS_SOCK")" "socket owned by the group, mode 0660"
  bindir="$(mktemp -d /tmp/rvs-e2e-bin.XXXXXX)"; chmod 755 "$bindir"
  cp "$RVSADM_BIN" "$bindir/rvsadm"; chmod 755 "$bindir/rvsadm"
  dirmode="$(stat -c %a "$RUN_DIR")"; chmod 711 "$RUN_DIR"
  rc=0; out="$(setpriv --reuid=65534 --regid="$GID" --clear-groups "$bindir/rvsadm" --socket "$RVS_SOCK" -Ln 2>&1)" || rc=$?
  local rc2=0 out2
  out2="$(setpriv --reuid=65534 --regid=65534 --clear-groups "$bindir/rvsadm" --socket "$RVS_SOCK" -Ln 2>&1)" || rc2=$?
  chmod "$dirmode" "$RUN_DIR"; rm -rf "$bindir"
  assert_eq 0 "$rc" "a member of $GRP lists the rules"
  assert_contains "$out" "IP Virtual Server version 1.2.1" "the member's listing"
  [ "$rc2" != 0 ] || { warn "a non-member was served: $out2"; return 1; }
}
run_case "l. [admin] group: members served, others refused" case_l_group
run_case "n. 70 slow clients (35 root, 35 of the group): rvsadm -Ln from root answers within 3 s" case_n_slow_clients
if stop_rvs; then pass "m. SIGTERM: clean stop"; else fail "m. SIGTERM: clean stop"; fi
groupdel "$GRP" 2>/dev/null || true
finish
