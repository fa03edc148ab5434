# shellcheck shell=bash
# tests/e2e/topo_direct.sh: the DR / TUN lab (the seeds' "LVS DR" lab, 004 §2.3): the replies
# go from the real servers straight to the router, never back through the director.  Source
# after lib.sh, then call topo_direct.
#
#   ${RUN}-c   client       eth0 198.18.0.10/24, default via 198.18.0.1
#                              |
#   ${RUN}-r   router       r0 198.18.0.1/24, r1 198.18.1.1/24, ip_forward=1
#                              |
#   ${RUN}-sw  switch       br0 = { p-r, p-d, p-rs1, p-rs2 }   (one L2 segment 198.18.1.0/24)
#                 |                 |                          |
#   ${RUN}-d   director     d0 (no kernel IP: rvs owns 198.18.1.2/24 and the VIP
#                           198.18.1.100; rvs route 0.0.0.0/0 via 198.18.1.1)
#   ${RUN}-rs1 real server  eth0 198.18.1.11/24, lo 198.18.1.100/32 (the VIP)
#   ${RUN}-rs2 real server  eth0 198.18.1.12/24, lo 198.18.1.100/32
#                           default via the ROUTER 198.18.1.1 (replies bypass the director)
#
# Real servers: arp_ignore=1 / arp_announce=2 (all and lo: only the director answers ARP for
# the VIP), rp_filter=0 (all, default, eth0, tunl-rvs), HTTP on 80 (GET / -> "rs1"/"rs2",
# GET /big.bin -> the run's 20 MB file), tests/e2e/ipip_decap.py on TUN device "tunl-rvs"
# (the kernel here has no ipip module), a socat upload sink on TCP 9000 writing each upload
# to $DIRECT_UPLOAD_DIR/<rs>.bin.  rvs config with no services: $DIRECT_CONFIG.
#
# Optional: TOPO_VETH_ARGS="numrxqueues 1 numtxqueues 1" (ip-link options for the veth pair
# that reaches the director), RVS_XDP_MODE=native|generic|auto (default generic).

DIRECT_VIP=198.18.1.100
DIRECT_CLIENT=198.18.0.10
DIRECT_ROUTER_OUT=198.18.0.1
DIRECT_ROUTER_IN=198.18.1.1
DIRECT_DIR=198.18.1.2
DIRECT_RS1=198.18.1.11
DIRECT_RS2=198.18.1.12
DIRECT_TUN_DEV=tunl-rvs
DIRECT_CONFIG="$RUN_DIR/rvs-direct.toml"
DIRECT_UPLOAD_DIR="$RUN_DIR/upload"

# _direct_rs NS ADDR: a DR/TUN real server
_direct_rs() {
  local ns="$1" addr="$2"
  ns_exec "$ns" ip addr add "$addr/24" dev eth0
  ns_exec "$ns" ip route add default via "$DIRECT_ROUTER_IN"
  ns_exec "$ns" ip addr add "$DIRECT_VIP/32" dev lo
  ns_exec "$ns" sysctl -qw \
    net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.lo.arp_ignore=1 \
    net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.lo.arp_announce=2 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.lo.rp_filter=0 >/dev/null
  host_if "$ns" eth0
}

_direct_tun_up() { ns_exec "$1" ip link show dev "$DIRECT_TUN_DEV" 2>/dev/null | grep -q '[<,]UP[,>]'; }

# _direct_decap NS NAME: ipip_decap.py on $DIRECT_TUN_DEV, up and ready
_direct_decap() {
  local ns="$1" name="$2"
  bg "$ns" "ipip-decap-$name" python3 "$E2E_DIR/ipip_decap.py" "$DIRECT_TUN_DEV" --sysctl --max-seconds 1800
  wait_until 10 _direct_tun_up "$ns" \
    || { sed 's/^/    decap| /' "$LOG_DIR/ipip-decap-$name.log" >&2; die "ipip_decap.py did not bring $DIRECT_TUN_DEV up in $(ns_full "$ns")"; }
  wait_until 5 grep -q decapsulating "$LOG_DIR/ipip-decap-$name.log" \
    || die "ipip_decap.py in $(ns_full "$ns") did not start"
}

# _direct_sink NS NAME: TCP 9000; each connection's bytes go to $DIRECT_UPLOAD_DIR/NAME.bin
_direct_sink() {
  local ns="$1" name="$2"
  mkdir -p "$DIRECT_UPLOAD_DIR"
  bg "$ns" "sink-$name" socat -u TCP4-LISTEN:9000,reuseaddr,fork \
    "OPEN:$DIRECT_UPLOAD_DIR/$name.bin,creat,trunc,wronly"
  wait_tcp_listen "$ns" 9000
}

# topo_direct [--no-servers]: builds the lab, writes $DIRECT_CONFIG, starts the real servers.
topo_direct() {
  local servers=1
  [ "${1:-}" = --no-servers ] && servers=0
  local -a dargs=()
  # shellcheck disable=SC2206  # deliberate word splitting of an option list
  [ -n "${TOPO_VETH_ARGS:-}" ] && dargs=(${TOPO_VETH_ARGS})

  local n
  for n in c r sw d rs1 rs2; do ns_add "$n"; done

  veth_add c eth0 r r0
  veth_add r r1 sw p-r
  veth_add d d0 sw p-d "${dargs[@]}"
  veth_add sw p-rs1 rs1 eth0
  veth_add sw p-rs2 rs2 eth0

  ns_exec sw ip link add br0 type bridge stp_state 0 forward_delay 0
  for n in p-r p-d p-rs1 p-rs2; do ns_exec sw ip link set "$n" master br0; done
  ns_exec sw ip link set br0 up

  # client
  ns_exec c ip addr add "$DIRECT_CLIENT/24" dev eth0
  ns_exec c ip route add default via "$DIRECT_ROUTER_OUT"
  host_if c eth0
  # router
  ns_exec r ip addr add "$DIRECT_ROUTER_OUT/24" dev r0
  ns_exec r ip addr add "$DIRECT_ROUTER_IN/24" dev r1
  ns_exec r sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 >/dev/null
  host_if r r0
  host_if r r1
  # real servers
  _direct_rs rs1 "$DIRECT_RS1"
  _direct_rs rs2 "$DIRECT_RS2"
  # Frames rvs sends arrive on p-d; GRO there lets a native-mode XDP redirect into the veth
  # be delivered (harmless otherwise).
  ns_exec sw ethtool -K p-d gro on >/dev/null 2>&1 || true
  # The director's kernel interface stays address-less: rvs answers ARP itself.

  local mode="${RVS_XDP_MODE:-generic}"
  cat >"$DIRECT_CONFIG" <<EOF
[admin]
socket = "$RVS_SOCK"

[[interface]]
name = "d0"
xdp_mode = "$mode"
addresses = ["$DIRECT_DIR/24"]
vips = ["$DIRECT_VIP"]

[[route]]
destination = "0.0.0.0/0"
gateway = "$DIRECT_ROUTER_IN"
EOF

  if [ "$servers" = 1 ]; then
    start_http rs1 80 rs1
    start_http rs2 80 rs2
    _direct_decap rs1 rs1
    _direct_decap rs2 rs2
    _direct_sink rs1 rs1
    _direct_sink rs2 rs2
  fi
  log "DR/TUN lab up: namespaces $RUN-{c,r,sw,d,rs1,rs2}; config $DIRECT_CONFIG"
}

# if_bytes NS IF rx|tx: the interface's byte counter
if_bytes() {
  ns_exec "$1" cat "/sys/class/net/$2/statistics/$3_bytes"
}
