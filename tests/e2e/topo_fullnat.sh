# shellcheck shell=bash
# tests/e2e/topo_fullnat.sh: the FULLNAT lab.  Source after lib.sh, then call topo_fullnat.
#
#   ${RUN}-c   client       eth0 198.18.0.10/24, default via 198.18.0.1
#                              |
#   ${RUN}-d   director     d-out (no kernel IP: rvs owns 198.18.0.1 and the VIP 198.18.0.100)
#                           d-in  (no kernel IP: rvs owns 198.18.2.1; FULLNAT local
#                                  addresses 198.18.2.100 and .101 come with the service)
#                              |
#   ${RUN}-sw  switch       br0 = { p-d, p-rs1, p-rs2 }
#                            |                |
#   ${RUN}-rs1 real server  eth0 198.18.2.11/24   ${RUN}-rs2  eth0 198.18.2.12/24
#                           NO default route, no route to 198.18.0.0/24: only the connected
#                           subnet.  A reply can only go back to a local address.
#
# Real servers: nginx (Debian nginx-light) on 80 with a private config in the run directory:
# GET / -> "rs1"/"rs2", GET /big.bin -> the run's 20 MB file; access log
# $FULLNAT_WWW/<rs>/access.log, one line "$remote_addr $status" per request.
# rvs config with no services: $FULLNAT_CONFIG.
#
# Optional: TOPO_VETH_ARGS="numrxqueues 1 numtxqueues 1" (ip-link options for the two veth
# pairs that reach the director), RVS_XDP_MODE=native|generic|auto (default generic).

FULLNAT_VIP=198.18.0.100
FULLNAT_CLIENT=$LAB_CLIENT
FULLNAT_DIR_OUT=$LAB_GATEWAY
FULLNAT_DIR_IN=198.18.2.1
FULLNAT_RS1=198.18.2.11
FULLNAT_RS2=198.18.2.12
# shellcheck disable=SC2034  # the local address pool: used by the tests that source this
FULLNAT_LIP1=198.18.2.100 FULLNAT_LIP2=198.18.2.101
FULLNAT_CONFIG="$RUN_DIR/rvs-fullnat.toml"
FULLNAT_WWW="$RUN_DIR/nginx"

# start_nginx NS NAME: nginx on 0.0.0.0:80 in NS, everything under $FULLNAT_WWW/NAME
start_nginx() {
  local ns="$1" name="$2"
  local dir="$FULLNAT_WWW/$name"
  mkdir -p "$dir/root" "$dir/tmp"
  printf '%s\n' "$name" >"$dir/root/index.html"
  big_file >/dev/null
  ln -f "$BIG_FILE" "$dir/root/big.bin" 2>/dev/null || cp "$BIG_FILE" "$dir/root/big.bin"
  cat >"$dir/nginx.conf" <<EOF
# private nginx for the rvs FULLNAT e2e test (real server $name)
daemon off;
master_process on;
worker_processes 1;
user root root;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    log_format rs '\$remote_addr \$status';
    access_log $dir/access.log rs;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    server {
        listen 80 backlog=1024;
        root $dir/root;
        index index.html;
    }
}
EOF
  bg "$ns" "nginx-$name" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
  wait_tcp_listen "$ns" 80
}

# topo_fullnat [--no-servers]: builds the lab, writes $FULLNAT_CONFIG, starts the servers.
topo_fullnat() {
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
  # real servers: the connected subnet only, no default route
  lab_host rs1 "$FULLNAT_RS1"
  lab_host rs2 "$FULLNAT_RS2"

  {
    rvs_conf_admin "$RVS_SOCK"
    rvs_conf_iface d-out "$FULLNAT_DIR_OUT/24" "$FULLNAT_VIP"
    rvs_conf_iface d-in "$FULLNAT_DIR_IN/24"
  } >"$FULLNAT_CONFIG"

  if [ "$servers" = 1 ]; then
    start_nginx rs1 rs1
    start_nginx rs2 rs2
  fi
  log "FULLNAT lab up: namespaces $RUN-{c,d,sw,rs1,rs2}; config $FULLNAT_CONFIG"
}
