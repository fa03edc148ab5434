# shellcheck shell=bash
# tests/e2e/topo_nat.sh: the NAT (masquerading) lab.  Source after lib.sh, then call topo_nat.
#
#   ${RUN}-c  client        eth0 198.18.0.10/24, default via 198.18.0.1
#                              |
#   ${RUN}-d  director      d-out (no IP: rvs owns 198.18.0.1 and the VIP 198.18.0.100)
#                           d-in  (no IP: rvs owns 198.18.1.1)
#                              |
#   ${RUN}-sw switch        br0 = { p-d, p-rs1, p-rs2 }
#                            |                |
#   ${RUN}-rs1 real server  eth0 198.18.1.11/24   ${RUN}-rs2  eth0 198.18.1.12/24
#                           default via 198.18.1.1 (the director's inside address)
#
# Real servers: HTTP on 80 (GET / -> "rs1"/"rs2"), HTTP on 8080 (GET / -> "rs1-8080"/
# "rs2-8080", for port-mapping tests), UDP echo on 5353 (each datagram -> "rs1"/"rs2").
# rvs config with no services: $NAT_CONFIG.
#
# Optional: TOPO_VETH_ARGS="numrxqueues 1 numtxqueues 1" (ip-link options for the two veth
# pairs that reach the director), RVS_XDP_MODE=native|generic|auto (default generic),
# RVS_CORES="0,1" (poll loops pinned to these cores; default one unpinned loop).

NAT_VIP=198.18.0.100
NAT_CLIENT=$LAB_CLIENT
NAT_DIR_OUT=$LAB_GATEWAY
NAT_DIR_IN=198.18.1.1
NAT_RS1=198.18.1.11
NAT_RS2=198.18.1.12
NS_C="$RUN-c"
NS_D="$RUN-d"
NS_SW="$RUN-sw"
NS_RS1="$RUN-rs1"
NS_RS2="$RUN-rs2"
NAT_CONFIG="$RUN_DIR/rvs-nat.toml"

# topo_nat [--no-servers]: builds the lab, writes $NAT_CONFIG, starts the real servers.
topo_nat() {
  local servers=1
  [ "${1:-}" = --no-servers ] && servers=0
  local -a dargs=()
  # shellcheck disable=SC2206  # deliberate word splitting of an option list
  [ -n "${TOPO_VETH_ARGS:-}" ] && dargs=(${TOPO_VETH_ARGS})

  local n
  for n in c d sw rs1 rs2; do ns_add "$n"; done

  lab_switch
  lab_director_arms "${dargs[@]}"
  lab_port rs1 eth0
  lab_port rs2 eth0
  # real servers
  lab_host rs1 "$NAT_RS1" "$NAT_DIR_IN"
  lab_host rs2 "$NAT_RS2" "$NAT_DIR_IN"
  # The director's kernel interfaces stay address-less: rvs answers ARP itself.

  {
    rvs_conf_admin "$RVS_SOCK"
    # RVS_CORES="0,1" runs one poll loop per core (the veths have 2 queues each).
    printf '[dataplane]\ncores = [%s]\n\n' "${RVS_CORES:-}"
    rvs_conf_iface d-out "$NAT_DIR_OUT/24" "$NAT_VIP"
    rvs_conf_iface d-in "$NAT_DIR_IN/24"
  } >"$NAT_CONFIG"

  if [ "$servers" = 1 ]; then
    start_http rs1 80 rs1
    start_http rs2 80 rs2
    start_http rs1 8080 rs1-8080
    start_http rs2 8080 rs2-8080
    start_udp_echo rs1 5353 rs1
    start_udp_echo rs2 5353 rs2
  fi
  log "NAT lab up: namespaces $NS_C $NS_D $NS_SW $NS_RS1 $NS_RS2; config $NAT_CONFIG"
}

# nat_dual_config FILE OUT6 IN6: an rvs config for the NAT lab with an IPv6 address of rvs's
# on each side (OUT6/64 on d-out, IN6/64 on d-in: the real servers' IPv6 gateway) beside the
# IPv4 ones, the IPv4 VIP on d-out.
nat_dual_config() {
  {
    rvs_conf_admin "$RVS_SOCK"
    printf '[[interface]]\nname = "d-out"\nxdp_mode = "%s"\naddresses = ["%s/24", "%s/64"]\nvips = ["%s"]\n\n' \
      "${RVS_XDP_MODE:-generic}" "$NAT_DIR_OUT" "$2" "$NAT_VIP"
    printf '[[interface]]\nname = "d-in"\nxdp_mode = "%s"\naddresses = ["%s/24", "%s/64"]\n\n' \
      "${RVS_XDP_MODE:-generic}" "$NAT_DIR_IN" "$3"
  } >"$1"
}

# IPv6 on the NAT lab: rvs's address and VIP on d-out, and the client's.
NAT_MINE6=2001:db8:6::1
NAT_VIP6=2001:db8:6::100
NAT_CLIENT6=2001:db8:6::10

# topo_nat6 [--no-servers]: topo_nat with IPv6 on in every namespace (LAB_IPV6=1), the client
# at $NAT_CLIENT6/64.
topo_nat6() {
  LAB_IPV6=1 topo_nat "$@"
  ns_exec c ip -6 addr add "$NAT_CLIENT6/64" dev eth0 nodad
}

# nat_conf_dout6: d-out's [[interface]] with both families: rvs's $NAT_DIR_OUT/24 and
# $NAT_MINE6/64, the VIPs $NAT_VIP and $NAT_VIP6.
nat_conf_dout6() {
  printf '[[interface]]\nname = "d-out"\nxdp_mode = "%s"\naddresses = ["%s/24", "%s/64"]\nvips = ["%s", "%s"]\n\n' \
    "${RVS_XDP_MODE:-generic}" "$NAT_DIR_OUT" "$NAT_MINE6" "$NAT_VIP" "$NAT_VIP6"
}
