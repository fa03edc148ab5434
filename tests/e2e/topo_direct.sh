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
DIRECT_CLIENT=$LAB_CLIENT
DIRECT_ROUTER_OUT=$LAB_GATEWAY
DIRECT_ROUTER_IN=$LAB_ROUTER_IN
DIRECT_DIR=198.18.1.2
DIRECT_RS1=198.18.1.11
DIRECT_RS2=198.18.1.12
DIRECT_TUN_DEV=tunl-rvs
DIRECT_CONFIG="$RUN_DIR/rvs-direct.toml"
DIRECT_UPLOAD_DIR="$RUN_DIR/upload"

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

  lab_switch
  lab_router
  lab_port --gro d d0 "${dargs[@]}"
  lab_port rs1 eth0
  lab_port rs2 eth0
  # real servers
  lab_dr_real_server rs1 "$DIRECT_RS1" "$DIRECT_VIP"
  lab_dr_real_server rs2 "$DIRECT_RS2" "$DIRECT_VIP"
  # The director's kernel interface stays address-less: rvs answers ARP itself.

  {
    rvs_conf_admin "$RVS_SOCK"
    rvs_conf_iface d0 "$DIRECT_DIR/24" "$DIRECT_VIP"
    rvs_conf_route "$DIRECT_ROUTER_IN"
  } >"$DIRECT_CONFIG"

  if [ "$servers" = 1 ]; then
    start_http rs1 80 rs1
    start_http rs2 80 rs2
    start_ipip_decap rs1 rs1 "$DIRECT_TUN_DEV" 1800
    start_ipip_decap rs2 rs2 "$DIRECT_TUN_DEV" 1800
    _direct_sink rs1 rs1
    _direct_sink rs2 rs2
  fi
  log "DR/TUN lab up: namespaces $RUN-{c,r,sw,d,rs1,rs2}; config $DIRECT_CONFIG"
}

# if_bytes NS IF rx|tx: the interface's byte counter
if_bytes() {
  ns_exec "$1" cat "/sys/class/net/$2/statistics/$3_bytes"
}

# direct_download WHAT: the run's 20 MB file from the VIP to the client, checked whole
# (size, sha256), and the replies must bypass the director: its switch port carries < 4 MB
# either way.  WHAT names the case in the messages.
direct_download() {
  local dl="$RUN_DIR/big-$1.download" want got t0 t1 d_in0 d_out0 d_in1 d_out1
  d_in0="$(if_bytes sw p-d tx)"; d_out0="$(if_bytes sw p-d rx)"
  t0=$(date +%s.%N)
  CURL_MAX_TIME=60 ns_curl c -o "$dl" "http://$DIRECT_VIP/big.bin"
  t1=$(date +%s.%N)
  d_in1="$(if_bytes sw p-d tx)"; d_out1="$(if_bytes sw p-d rx)"
  log "$1: 20 MB through the VIP in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s; the director's port: $((d_in1 - d_in0)) bytes in, $((d_out1 - d_out0)) out"
  assert_eq "$((BIG_MB * 1024 * 1024))" "$(stat -c %s "$dl")" "$1: downloaded size"
  want="$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)"
  got="$(sha256sum <"$dl" | cut -d' ' -f1)"
  assert_eq "$want" "$got" "$1: sha256 of big.bin through the VIP"
  local limit=$((4 * 1024 * 1024))
  if [ $((d_in1 - d_in0)) -ge "$limit" ] || [ $((d_out1 - d_out0)) -ge "$limit" ]; then
    warn "$1: the director's port carried >= 4 MB during the download: replies went through it"; return 1
  fi
}
