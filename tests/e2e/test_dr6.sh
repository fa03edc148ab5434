#!/usr/bin/env bash
# tests/e2e/test_dr6.sh: DR and TUN over IPv6 on the DR lab with IPv6 beside IPv4. The client
# (2001:db8:10::10) reaches the LAN 2001:db8:11::/64 through the router; rvs owns
# 2001:db8:11::2 and the IPv6 VIP 2001:db8:11::100 on d0; the real servers hold the VIP on lo
# (Linux answers a solicitation only for an address of the interface it arrives on, so only
# rvs answers for the VIP: IPv6 needs no arp_ignore) and reply through the router, never
# through the director; and TUN over IPv6 (IPv6-in-IPv6) to the same servers, decapsulated
# in user space. Real clients (curl -6), real servers (python's http.server on [::]).
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/topo_direct.sh
source "$(dirname "$0")/topo_direct.sh"

CLIENT6=2001:db8:10::10
ROUTER_OUT6=2001:db8:10::1
ROUTER_IN6=2001:db8:11::1
DIR6=2001:db8:11::2
VIP6=2001:db8:11::100
RS1_6=2001:db8:11::11
RS2_6=2001:db8:11::12
CONFIG="$RUN_DIR/rvs-dr6.toml"

LAB_IPV6=1 topo_direct --no-servers
ns_exec c ip -6 addr add "$CLIENT6/64" dev eth0 nodad
ns_exec c ip -6 route add default via "$ROUTER_OUT6"
ns_exec r ip -6 addr add "$ROUTER_OUT6/64" dev r0 nodad
ns_exec r ip -6 addr add "$ROUTER_IN6/64" dev r1 nodad
ns_exec r sysctl -qw net.ipv6.conf.all.forwarding=1
for rs in rs1 rs2; do
  addr="$RS1_6"; [ "$rs" = rs2 ] && addr="$RS2_6"
  ns_exec "$rs" ip -6 addr add "$addr/64" dev eth0 nodad
  ns_exec "$rs" ip -6 addr add "$VIP6/128" dev lo
  ns_exec "$rs" ip -6 route add default via "$ROUTER_IN6"
  # Dual-stack servers on [::]:80 (IPv4 clients reach them too).
  HTTP_BIND=:: start_http "$rs" 80 "$rs"
done
{
  rvs_conf_admin "$RVS_SOCK"
  printf '[[interface]]\nname = "d0"\nxdp_mode = "%s"\naddresses = ["%s/24", "%s/64"]\nvips = ["%s"]\n\n' \
    "${RVS_XDP_MODE:-generic}" "$DIRECT_DIR" "$DIR6" "$DIRECT_VIP"
  rvs_conf_route "$DIRECT_ROUTER_IN"
} >"$CONFIG"
# TUN over IPv6 (IPv6-in-IPv6): a second VIP on the real servers' lo, the tunnel decapsulated
# in user space (this kernel has no ip6_tunnel): tests/e2e/ipip_decap.py --ipv6.
VIP6_TUN=2001:db8:11::101
for rs in rs1 rs2; do
  ns_exec "$rs" ip -6 addr add "$VIP6_TUN/128" dev lo
  bg "$rs" "ip6ip6-$rs" python3 "$E2E_DIR/ipip_decap.py" tunl6 --ipv6 --max-seconds 600
done
wait_until 10 eval 'ns_exec rs1 ip link show tunl6 >/dev/null 2>&1 && ns_exec rs2 ip link show tunl6 >/dev/null 2>&1' \
  || die "the IPv6-in-IPv6 decapsulators did not come up"
# TUN across families (IPVS allows a real server of the other family for TUN): the IPv4 VIP's
# packets inside IPv6 to the servers' IPv6 addresses (IPv4-in-IPv6), and a third IPv6 VIP's
# inside IPv4 to their IPv4 addresses (6in4); both decapsulated in user space.
VIP6_T64=2001:db8:11::102
for rs in rs1 rs2; do
  ns_exec "$rs" ip -6 addr add "$VIP6_T64/128" dev lo
  bg "$rs" "ip4ip6-$rs" python3 "$E2E_DIR/ipip_decap.py" tunl46 --ipv6 --inner-proto 4 --sysctl --max-seconds 600
  bg "$rs" "ip6ip4-$rs" python3 "$E2E_DIR/ipip_decap.py" tunl64 --inner-proto 41 --max-seconds 600
done
decaps_up() {
  local r t
  for r in rs1 rs2; do for t in tunl46 tunl64; do ns_exec "$r" ip link show "$t" >/dev/null 2>&1 || return 1; done; done
}
wait_until 10 decaps_up || die "the decapsulators across families did not come up"
start_rvs "$CONFIG"
rvsadm -A -t "[$VIP6_TUN]:80" -s rr
rvsadm -a -t "[$VIP6_TUN]:80" -r "[$RS1_6]:80" -i
rvsadm -a -t "[$VIP6_TUN]:80" -r "[$RS2_6]:80" -i
rvsadm -A -t "[$VIP6]:80" -s rr
rvsadm -a -t "[$VIP6]:80" -r "[$RS1_6]:80" -g
rvsadm -a -t "[$VIP6]:80" -r "[$RS2_6]:80" -g
rvsadm -A -t "$DIRECT_VIP:80" -s rr
rvsadm -a -t "$DIRECT_VIP:80" -r "[$RS1_6]:80" -i
rvsadm -a -t "$DIRECT_VIP:80" -r "[$RS2_6]:80" -i
rvsadm -A -t "[$VIP6_T64]:80" -s rr
rvsadm -a -t "[$VIP6_T64]:80" -r "$DIRECT_RS1:80" -i
rvsadm -a -t "[$VIP6_T64]:80" -r "$DIRECT_RS2:80" -i

case_a_requests_alternate() {
  local out
  out="$(curl_many c 10 "http://[$VIP6]/")"
  log "answers: $(printf '%s' "$out" | tr '\n' ' ')"
  assert_eq 5 "$(count_lines "$out" rs1)" "rs1 answered half of the ten IPv6 requests"
  assert_eq 5 "$(count_lines "$out" rs2)" "rs2 answered the other half"
}

case_b_download_bypasses_the_director() {
  local want got in0 in1
  want="$(sha256sum <"$(big_file)" | cut -d' ' -f1)"
  in0="$(if_bytes sw p-d tx)"
  got="$(ns_exec c curl -sS -g --noproxy '*' --max-time 60 "http://[$VIP6]/big.bin" | sha256sum | cut -d' ' -f1)"
  in1="$(if_bytes sw p-d tx)"
  assert_eq "$want" "$got" "the 20 MB download by DR over IPv6 is intact (sha256)"
  log "the director's port carried $((in1 - in0)) bytes towards it"
  assert_true "the reply bypassed the director (under 4 MB reached it)" test "$((in1 - in0))" -lt 4000000
}

case_c_listing() {
  assert_match "$(rvsadm -Ln)" "\[$RS1_6\]:80 +Route +1 " "the IPv6 real server is listed as Route"
  assert_contains "$(rvsadm -Lnc)" "[$CLIENT6]" "the client's connections are listed"
}

case_d_tun6() {
  local out want got
  out="$(curl_many c 4 "http://[$VIP6_TUN]/")"
  log "answers: $(printf '%s' "$out" | tr '\n' ' ')"
  assert_eq 2 "$(count_lines "$out" rs1)" "rs1 answered two of four requests through the tunnel"
  assert_eq 2 "$(count_lines "$out" rs2)" "rs2 the other two"
  want="$(sha256sum <"$(big_file)" | cut -d' ' -f1)"
  got="$(ns_exec c curl -sS -g --noproxy '*' --max-time 60 "http://[$VIP6_TUN]/big.bin" | sha256sum | cut -d' ' -f1)"
  assert_eq "$want" "$got" "the 20 MB download by TUN over IPv6 is intact (sha256)"
  assert_match "$(rvsadm -Ln)" "\[$RS1_6\]:80 +Tunnel +1 " "listed as Tunnel"
}

# tun_across NAME URL: four requests alternate over the two servers, the 20 MB intact.
tun_across() {
  local name="$1" url="$2" out want got
  out="$(curl_many c 4 "$url/")"
  log "$name answers: $(printf '%s' "$out" | tr '\n' ' ')"
  assert_eq 2 "$(count_lines "$out" rs1)" "$name: rs1 answered two of four requests through the tunnel"
  assert_eq 2 "$(count_lines "$out" rs2)" "$name: rs2 the other two"
  want="$(sha256sum <"$(big_file)" | cut -d' ' -f1)"
  got="$(ns_exec c curl -sS -g --noproxy '*' --max-time 60 "$url/big.bin" | sha256sum | cut -d' ' -f1)"
  assert_eq "$want" "$got" "$name: the 20 MB download is intact (sha256)"
}

case_e_ipv4_service_ipv6_servers() {
  tun_across "IPv4-in-IPv6" "http://$DIRECT_VIP"
  assert_match "$(rvsadm -Ln)" "\[$RS1_6\]:80 +Tunnel +1 " "the IPv6 real server of the IPv4 service is listed"
  assert_contains "$(rvsadm -Lnc)" "$DIRECT_CLIENT" "the IPv4 client's connections are listed"
}

case_f_ipv6_service_ipv4_servers() {
  tun_across "IPv6-in-IPv4" "http://[$VIP6_T64]"
  assert_match "$(rvsadm -Ln)" "$DIRECT_RS1:80 +Tunnel +1 " "the IPv4 real server of the IPv6 service is listed"
}

run_case "a. ten requests by DR over IPv6 alternate between two real servers" case_a_requests_alternate
run_case "b. a 20 MB download, intact, its reply bypassing the director" case_b_download_bypasses_the_director
run_case "c. -Ln and -Lnc" case_c_listing
run_case "d. TUN over IPv6 (IPv6-in-IPv6), decapsulated by the real servers" case_d_tun6
run_case "e. TUN across families: an IPv4 service's IPv6 real servers (IPv4-in-IPv6)" case_e_ipv4_service_ipv6_servers
run_case "f. TUN across families: an IPv6 service's IPv4 real servers (6in4)" case_f_ipv6_service_ipv4_servers
finish
