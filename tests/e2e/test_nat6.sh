#!/usr/bin/env bash
# tests/e2e/test_nat6.sh: IPv6 services, NAT66, on the NAT lab with IPv6 beside IPv4. rvs owns
# 2001:db8:6::1/64 on d-out (the client's side) and 2001:db8:7::1/64 on d-in (the real
# servers' side, their default gateway); the director's kernel keeps 2001:db8:6::2 on d-out
# (the host path). An IPv6 service [2001:db8:6::100]:80 balances over the real servers'
# IPv6 addresses by rr with masquerading: real clients (curl -6) and servers (python's
# http.server on [::]), the real servers' replies steered to rvs by the XDP program (their
# destination is the client), next hops resolved by rvs's own neighbour discovery, the
# client's link narrower than the servers' (path MTU discovery by rvs's packet-too-big).
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_nat.sh
source "$(dirname "$0")/topo_nat.sh"

OUT6=2001:db8:6::1
IN6=2001:db8:7::1
HOST6=2001:db8:6::2
VIP6=2001:db8:6::100
CLIENT6=2001:db8:6::10
RS1_6=2001:db8:7::11
RS2_6=2001:db8:7::12
CONFIG="$RUN_DIR/rvs-nat6.toml"

LAB_IPV6=1 topo_nat --no-servers
ns_exec c ip -6 addr add "$CLIENT6/64" dev eth0 nodad
ns_exec d ip -6 addr add "$HOST6/64" dev d-out nodad
for rs in rs1 rs2; do
  addr="$RS1_6"; [ "$rs" = rs2 ] && addr="$RS2_6"
  ns_exec "$rs" ip -6 addr add "$addr/64" dev eth0 nodad
  ns_exec "$rs" ip -6 route add default via "$IN6"
  # Dual-stack servers on [::]:80 (IPv4 clients reach them too).
  HTTP_BIND=:: start_http "$rs" 80 "$rs"
  bg "$rs" "udp6-$rs" socat "UDP6-RECVFROM:5353,reuseaddr,fork" "SYSTEM:timeout 1 head -n 1 >/dev/null; echo $rs"
  wait_udp_listen "$rs" 5353
done
{
  rvs_conf_admin "$RVS_SOCK"
  printf '[[interface]]\nname = "d-out"\nxdp_mode = "%s"\naddresses = ["%s/24", "%s/64"]\nvips = ["%s"]\n\n' \
    "${RVS_XDP_MODE:-generic}" "$NAT_DIR_OUT" "$OUT6" "$NAT_VIP"
  printf '[[interface]]\nname = "d-in"\nxdp_mode = "%s"\naddresses = ["%s/24", "%s/64"]\n\n' \
    "${RVS_XDP_MODE:-generic}" "$NAT_DIR_IN" "$IN6"
} >"$CONFIG"
# The client's link is narrower than the real servers' (1400 against 1500): full-size packets
# from a real server get a packet-too-big back from rvs (path MTU discovery; IPv6 routers
# never fragment).
ns_exec d ip link set d-out mtu 1400
start_rvs "$CONFIG"
rvsadm -A -t "[$VIP6]:80" -s rr
rvsadm -a -t "[$VIP6]:80" -r "[$RS1_6]:80" -m
rvsadm -a -t "[$VIP6]:80" -r "[$RS2_6]:80" -m
# Persistence over IPv6: -M is a prefix length.
rvsadm -A -t "[$VIP6]:8080" -s rr -p 300 -M 64
rvsadm -a -t "[$VIP6]:8080" -r "[$RS1_6]:80" -m
rvsadm -a -t "[$VIP6]:8080" -r "[$RS2_6]:80" -m
rvsadm -A -u "[$VIP6]:5353" -s rr
rvsadm -a -u "[$VIP6]:5353" -r "[$RS1_6]:5353" -m
rvsadm -a -u "[$VIP6]:5353" -r "[$RS2_6]:5353" -m
# A firewall-mark service over IPv6: ports 81 and 82 of the VIP, marked 66 by an IPv6 rule.
rvsadm --add-mark 66 -t "[$VIP6]/128:81,82"
rvsadm -A -f 66 -6 -s rr
rvsadm -a -f 66 -6 -r "[$RS1_6]:80" -m
# FULLNAT over IPv6: the real server sees the local address 2001:db8:7::50, not the client.
LADDR6=2001:db8:7::50
rvsadm -A -t "[$VIP6]:8081" -s rr
rvsadm -a -t "[$VIP6]:8081" -r "[$RS2_6]:80" --fullnat
rvsadm -P -t "[$VIP6]:8081" -z "$LADDR6"
# Nothing listens on the real server's 5354: its kernel answers with port unreachable.
rvsadm -A -u "[$VIP6]:5354" -s rr
rvsadm -a -u "[$VIP6]:5354" -r "[$RS1_6]:5354" -m
rvsadm -A -t "$NAT_VIP:80" -s rr
rvsadm -a -t "$NAT_VIP:80" -r "$NAT_RS1:80" -m
# NAT64 (FULLNAT across families): IPv6 clients, an IPv4 real server, an IPv4 local address.
LADDR4=198.18.1.50
rvsadm -A -t "[$VIP6]:8082" -s rr
rvsadm -a -t "[$VIP6]:8082" -r "$NAT_RS1:80" --fullnat
rvsadm -P -t "[$VIP6]:8082" -z "$LADDR4"
rvsadm -A -u "[$VIP6]:5355" -s rr
rvsadm -a -u "[$VIP6]:5355" -r "$NAT_RS2:5353" --fullnat
# SCTP over IPv6 (tests/e2e/sctp_peer.py: this kernel has no SCTP): NAT66 to rs1's IPv6
# server, NAT64 to rs2's IPv4 one. A host without SCTP must not answer with an ICMP error.
SCTP_PEER="$E2E_DIR/sctp_peer.py"
for ns in c rs1 rs2; do
  ns_exec "$ns" nft -f - <<'EOF'
table inet sctplab6 {
  chain out {
    type filter hook output priority 0;
    icmpv6 type parameter-problem counter drop
    icmp type destination-unreachable icmp code prot-unreachable counter drop
  }
}
EOF
done
bg rs1 sctp6-rs1 python3 "$SCTP_PEER" server --name rs1 --ports 3868 --ipv6 --max-seconds 600
bg rs2 sctp4-rs2 python3 "$SCTP_PEER" server --name rs2 --ports 3868 --max-seconds 600
wait_until 10 grep -q serving "$LOG_DIR/sctp6-rs1.log" || die "sctp_peer.py server in rs1 did not start"
wait_until 10 grep -q serving "$LOG_DIR/sctp4-rs2.log" || die "sctp_peer.py server in rs2 did not start"
rvsadm -A --sctp-service "[$VIP6]:3868" -s rr
rvsadm -a --sctp-service "[$VIP6]:3868" -r "[$RS1_6]:3868" -m
rvsadm -A --sctp-service "[$VIP6]:3870" -s rr
rvsadm -a --sctp-service "[$VIP6]:3870" -r "$NAT_RS2:3868" --fullnat

counter() { rvsadm --counters | awk -v c="$1" '$1 == c {n = $2} END {print n + 0}'; }

case_a_requests_alternate() {
  local out
  out="$(curl_many c 10 "http://[$VIP6]/")"
  log "answers: $(printf '%s' "$out" | tr '\n' ' ')"
  assert_eq 5 "$(count_lines "$out" rs1)" "rs1 answered half of the ten IPv6 requests"
  assert_eq 5 "$(count_lines "$out" rs2)" "rs2 answered the other half"
  assert_true "round robin alternates" strict_alternation "$out"
}

case_b_download_intact() {
  local want got
  want="$(sha256sum <"$(big_file)" | cut -d' ' -f1)"
  got="$(ns_exec c curl -sS -g --noproxy '*' --max-time 60 "http://[$VIP6]/big.bin" | sha256sum | cut -d' ' -f1)"
  assert_eq "$want" "$got" "the 20 MB download through NAT66 is intact (sha256)"
  assert_true "the real server was told the narrower MTU (packet too big)" test "$(counter icmpv6-too-big-sent)" -ge 1
}

case_c_listings() {
  local l
  l="$(rvsadm -Ln)"
  log "$l"
  assert_contains "$l" "TCP  [$VIP6]:80 rr" "the IPv6 service is listed"
  assert_match "$l" "\[$RS1_6\]:80 +Masq +1 " "its real server is listed"
  l="$(rvsadm -Lnc)"
  assert_contains "$l" "[$CLIENT6]" "the client's IPv6 connections are listed"
  assert_contains "$l" "[$RS2_6]:80" "with their real server"
}

case_d_neighbour_discovery() {
  assert_true "rvs sent solicitations for its next hops" test "$(counter nd-solicitations-sent)" -ge 2
  assert_true "and learnt from the advertisements" test "$(counter nd-learned)" -ge 2
  local n
  n="$(rvsadm --neighbours)"
  log "$n"
  assert_contains "$n" "$CLIENT6" "the client is rvs's IPv6 neighbour"
  assert_contains "$n" "$RS1_6" "so is a real server"
}

case_e_ipv4_and_host_path_kept() {
  assert_eq rs1 "$(ns_curl c "http://$NAT_VIP/")" "the IPv4 service still answers"
  ns_exec c ping -6 -c 2 -i 0.2 -W 2 -q "$HOST6" >/dev/null || { warn "the kernel's $HOST6 is unreachable"; return 1; }
  assert_eq 0 "$(counter drop-ipv6-no-route || true)" "nothing lacked a route"
}

case_f_persistence() {
  local out
  out="$(curl_many c 6 "http://[$VIP6]:8080/")"
  log "answers: $(printf '%s' "$out" | tr '\n' ' ')"
  assert_eq 1 "$(printf '%s\n' "$out" | sort -u | wc -l)" "one real server answered all six (-p 300)"
  assert_not_contains "$out" ERR "every request was answered"
  assert_match "$(rvsadm -Ln)" "TCP  \[$VIP6\]:8080 rr persistent 300 mask 64" "listed with its prefix length"
}

case_g_udp() {
  local one two
  one="$(printf 'ping\n' | ns_exec c timeout 5 socat -t 2 -T 2 - "UDP6:[$VIP6]:5353" 2>/dev/null || true)"
  two="$(printf 'ping\n' | ns_exec c timeout 5 socat -t 2 -T 2 - "UDP6:[$VIP6]:5353" 2>/dev/null || true)"
  log "UDP answers: $one $two"
  assert_eq "rs1 rs2" "$(printf '%s\n%s\n' "$one" "$two" | sort | tr '\n' ' ' | sed 's/ $//')" \
    "two datagrams from two source ports, one to each real server"
}

case_h_fwmark() {
  local a b
  a="$(ns_curl c -g "http://[$VIP6]:81/")"
  b="$(ns_curl c -g "http://[$VIP6]:82/")"
  assert_eq "rs1 rs1" "$a $b" "ports 81 and 82 reach the mark-66 service's real server"
  assert_contains "$(rvsadm -Ln)" "FWM  66 IPv6 rr" "the service is listed as IPv6's"
}

case_i_fullnat() {
  local want got
  assert_eq rs2 "$(ns_curl c -g "http://[$VIP6]:8081/")" "the FULLNAT service answers"
  want="$(sha256sum <"$(big_file)" | cut -d' ' -f1)"
  got="$(ns_exec c curl -sS -g --noproxy '*' --max-time 60 "http://[$VIP6]:8081/big.bin" | sha256sum | cut -d' ' -f1)"
  assert_eq "$want" "$got" "the 20 MB download by FULLNAT over IPv6 is intact (sha256)"
  assert_contains "$(cat "$LOG_DIR/http-rs2-80.log")" "$LADDR6" "rs2 saw the local address as its client"
}

case_j_icmpv6_error_translated() {
  local before result
  before="$(counter icmp-error-forwarded)"
  # A connected UDP socket learns of the port unreachable only if the error comes from the
  # VIP quoting its own datagram: rvs's translation.
  result="$(ns_exec c python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[1], 5354))
s.send(b"anyone?")
try:
    s.recv(100)
    print("answered")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
' "$VIP6")"
  assert_eq refused "$result" "the client's socket got the real server's port unreachable"
  assert_true "rvs translated it" test "$(counter icmp-error-forwarded)" -gt "$before"
}

case_k_nat64() {
  local want got l udp
  assert_eq rs1 "$(ns_curl c -g "http://[$VIP6]:8082/")" "an IPv6 client reaches the IPv4 real server"
  assert_contains "$(cat "$LOG_DIR/http-rs1-80.log")" "$LADDR4" "rs1 saw the IPv4 local address as its client"
  want="$(sha256sum <"$(big_file)" | cut -d' ' -f1)"
  # The IPv4 server's 1500-byte packets grow by 20 bytes as IPv6 and the client's link is 1400:
  # rvs tells the server "fragmentation needed" with 1380 and the server sends smaller ones.
  got="$(ns_exec c curl -sS -g --noproxy '*' --max-time 60 "http://[$VIP6]:8082/big.bin" | sha256sum | cut -d' ' -f1)"
  assert_eq "$want" "$got" "the 20 MB download by NAT64 is intact (sha256)"
  assert_true "rvs told the IPv4 server the narrower path (fragmentation needed)" \
    test "$(counter icmp-frag-needed-sent)" -ge 1
  l="$(rvsadm -Ln)"
  assert_match "$l" "TCP  \[$VIP6\]:8082 rr" "the IPv6 service is listed"
  assert_match "$l" "$NAT_RS1:80 +FullNat +1 " "with its IPv4 real server"
  assert_contains "$(rvsadm -G -t "[$VIP6]:8082")" "$LADDR4" "and its IPv4 local address"
  udp="$(printf 'ping\n' | ns_exec c timeout 5 socat -t 2 -T 2 - "UDP6:[$VIP6]:5355" 2>/dev/null || true)"
  assert_eq rs2 "$udp" "a UDP datagram by NAT64 is answered by the IPv4 server"
  assert_contains "$(rvsadm -Lnc)" "$NAT_RS2:5353" "-Lnc lists the NAT64 connection with its IPv4 real server"
}

case_l_sctp6() {
  local big=$((20 * 1024 * 1024)) line
  line="$(ns_exec c timeout 120 python3 "$SCTP_PEER" client --src "$CLIENT6" --to "$VIP6" --port 3868 \
    --sport 45000 --bytes "$big" --max-seconds 100 2>&1 | tail -1)"
  log "NAT66: $line"
  assert_match "$line" "^rs1 $big [0-9a-f]{64} ok$" "20 MB over an SCTP association by NAT66, checked (SHA-256)"
  line="$(ns_exec c timeout 120 python3 "$SCTP_PEER" client --src "$CLIENT6" --to "$VIP6" --port 3870 \
    --sport 45001 --bytes "$big" --max-seconds 100 2>&1 | tail -1)"
  log "NAT64: $line"
  assert_match "$line" "^rs2 $big [0-9a-f]{64} ok$" "20 MB over an SCTP association by NAT64 to an IPv4 server"
  assert_match "$(rvsadm -Ln)" "SCTP  \[$VIP6\]:3868 rr" "the SCTP service over IPv6 is listed"
}

run_case "a. ten requests over IPv6 alternate between the two IPv6 real servers" case_a_requests_alternate
run_case "b. a 20 MB download over IPv6 through a narrower link (packet too big), intact" case_b_download_intact
run_case "c. -Ln and -Lnc list the IPv6 service and connections" case_c_listings
run_case "d. rvs resolved its IPv6 next hops by neighbour discovery" case_d_neighbour_discovery
run_case "e. IPv4 and the kernel's IPv6 address keep working" case_e_ipv4_and_host_path_kept
run_case "f. persistence over IPv6 (-p 300 -M 64)" case_f_persistence
run_case "g. UDP over IPv6" case_g_udp
run_case "h. a firewall-mark service over IPv6" case_h_fwmark
run_case "i. FULLNAT over IPv6 (a local address of the servers' link)" case_i_fullnat
run_case "j. a real server's ICMPv6 error reaches the client translated" case_j_icmpv6_error_translated
run_case "k. NAT64: an IPv6 service's IPv4 real server by FULLNAT (TCP, 20 MB, UDP)" case_k_nat64
run_case "l. SCTP over IPv6: 20 MB by NAT66 and by NAT64 (user-space SCTP peers)" case_l_sctp6
finish
