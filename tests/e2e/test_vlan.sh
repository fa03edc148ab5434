#!/usr/bin/env bash
# tests/e2e/test_vlan.sh: rvs on an 802.1Q trunk: two VLANs on ONE veth of the director,
# 100 outside (the client) and 200 inside (the real servers), each its own [[interface]]
# (vlan = 100 / 200) with its own addresses, ARP and routes; NAT through them.
#
#   ${RUN}-c  client 198.18.0.10/24 (eth0, untagged) ---- a100   (access, VLAN 100)
#   ${RUN}-rs1 198.18.1.11/24 (eth0) ------------------- a-rs1  (access, VLAN 200)   ${RUN}-sw
#   ${RUN}-rs2 198.18.1.12/24 (eth0) ------------------- a-rs2  (access, VLAN 200)   vlan_switch.py
#   ${RUN}-rs3 198.18.0.13/24 (eth0) ------------------- a-rs3  (access, VLAN 100)
#   ${RUN}-d  director d-trunk (no IP) ----------------- trunk  (tagged 100 and 200)
#
# rs3 is a DR real server on the client's VLAN (the VIP on its lo): the director takes the
# request tagged 100 and forwards it, tagged 100 again, to rs3's MAC; rs3 answers the client
# straight through the switch.
#
# This kernel has no 8021q module, no bridge VLAN filtering and no act_vlan: the switch that
# tags is tests/e2e/vlan_switch.py (AF_PACKET). Every case is bounded (curl --max-time, a
# few dozen requests, one 20 MB download, a handful of crafted frames).
# shellcheck disable=SC2317
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

VIP=198.18.0.100
DIR_OUT=198.18.0.1
DIR_IN=198.18.1.1
RS1=198.18.1.11
RS2=198.18.1.12
RS3=198.18.0.13
DIR6=2001:db8:6::1
CLIENT6=2001:db8:6::10
CONFIG="$RUN_DIR/rvs-vlan.toml"

# IPv6 only where case f wants it, on the client: no other kernel's IPv6 chatter (untagged on
# the trunk) disturbs case d's exact counts.
LAB_IPV6=1 ns_add c
for n in d sw rs1 rs2 rs3; do ns_add "$n"; done
veth_add c eth0 sw a100
veth_add rs1 eth0 sw a-rs1
veth_add rs2 eth0 sw a-rs2
veth_add rs3 eth0 sw a-rs3
veth_add d d-trunk sw trunk
lab_client
lab_host rs1 "$RS1" "$DIR_IN"
lab_host rs2 "$RS2" "$DIR_IN"
lab_host rs3 "$RS3"
lab_dr_vip rs3 "$VIP"
# The switch reads frames as sent (no GRO merging them past the MTU), and the trunk's tags
# stay in the frames' bytes (no VLAN offload moving them to metadata on the veths).
for i in a100 a-rs1 a-rs2 a-rs3 trunk; do ns_exec sw ethtool -K "$i" gro off rxvlan off txvlan off >/dev/null 2>&1 || true; done
ns_exec d ethtool -K d-trunk rxvlan off txvlan off >/dev/null 2>&1 || true
bg sw vlan-switch python3 "$E2E_DIR/vlan_switch.py" --trunk trunk --access a100=100 \
  --access a-rs1=200 --access a-rs2=200 --access a-rs3=100 --max-seconds 170
SWITCH_PID=$BG_PID
wait_until 10 grep -q switching "$LOG_DIR/vlan-switch.log" || die "vlan_switch.py did not start"

{
  rvs_conf_admin "$RVS_SOCK"
  cat <<EOT
[[interface]]
name = "d-trunk"
vlan = 100
xdp_mode = "${RVS_XDP_MODE:-generic}"
addresses = ["$DIR_OUT/24", "$DIR6/64"]
vips = ["$VIP"]

[[interface]]
name = "d-trunk"
vlan = 200
xdp_mode = "${RVS_XDP_MODE:-generic}"
addresses = ["$DIR_IN/24"]
EOT
} >"$CONFIG"
start_http rs1 80 rs1
start_http rs2 80 rs2
start_http rs3 8080 rs3
start_rvs "$CONFIG"

counter() { rvsadm --counters | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
TRUNK_MAC="$(ns_exec d cat /sys/class/net/d-trunk/address)"

# ---------------------------------------------------------------------------------- a
# ARP per VLAN: the client (VLAN 100) and a real server (VLAN 200) each resolve rvs's address
# on their VLAN to the trunk's MAC and get echo answers; rvs's neighbour table holds each on
# its own VLAN interface.
case_a_arp_per_vlan() {
  ns_exec c ping -c 2 -W 2 -i 0.2 "$DIR_OUT" >/dev/null
  ns_exec rs1 ping -c 2 -W 2 -i 0.2 "$DIR_IN" >/dev/null
  assert_contains "$(ns_exec c ip neigh show "$DIR_OUT")" "lladdr $TRUNK_MAC" "client's entry for $DIR_OUT"
  assert_contains "$(ns_exec rs1 ip neigh show "$DIR_IN")" "lladdr $TRUNK_MAC" "rs1's entry for $DIR_IN"
  # An address of the other VLAN is not answered: the client asks for 198.18.1.1 on VLAN 100.
  ns_exec c ip route add "$DIR_IN/32" dev eth0
  ns_exec c ping -c 1 -W 1 "$DIR_IN" >/dev/null 2>&1 && { warn "$DIR_IN answered on VLAN 100"; return 1; }
  ns_exec c ip route del "$DIR_IN/32" dev eth0
}

# ---------------------------------------------------------------------------------- b
case_b_nat_rr() {
  rvsadm -A -t "$VIP:80" -s rr
  local rs seq
  for rs in "$RS1" "$RS2"; do rvsadm -a -t "$VIP:80" -r "$rs:80" -m; done
  seq="$(curl_many c 10 "http://$VIP/" | tr '\n' ' ')"
  log "10 requests: $seq"
  # Strict alternation, whichever server comes first.
  assert_match "$seq" '^(rs1 rs2 ){5}$|^(rs2 rs1 ){5}$' "rr over the two real servers"
}

# ---------------------------------------------------------------------------------- c
case_c_big() {
  local dl="$RUN_DIR/big.download" want got t0 t1
  t0=$(now)
  CURL_MAX_TIME=60 ns_curl c -o "$dl" "http://$VIP/big.bin"
  t1=$(now)
  log "20 MB through the VIP, VLAN 200 to VLAN 100 on one trunk, in $(ms_between "$t0" "$t1") ms"
  assert_eq "$((BIG_MB * 1024 * 1024))" "$(stat -c %s "$dl")" "downloaded size"
  want="$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)"
  got="$(sha256sum <"$dl" | cut -d' ' -f1)"
  assert_eq "$want" "$got" "sha256 of big.bin through the VIP"
}

# ---------------------------------------------------------------------------------- d
# Crafted frames straight onto the trunk from the switch's side: 3 ARP requests for rvs's
# address tagged with VID 300 (no VLAN of rvs's) and 2 untagged; each counted by its reason,
# none answered (a reply would be counted as arp-replied).
case_d_unknown_vid_and_untagged() {
  local unknown0 untagged0 replied0
  unknown0="$(counter drop-vlan-unknown-vid)"
  untagged0="$(counter drop-vlan-untagged)"
  replied0="$(counter arp-replied)"
  ns_exec sw python3 - "$TRUNK_MAC" <<'PY'
import socket, struct, sys
dst = bytes.fromhex(sys.argv[1].replace(":", ""))
src = bytes.fromhex("020000000a63")
arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, src, socket.inet_aton("198.18.0.10"),
                  b"\0" * 6, socket.inet_aton("198.18.0.1"))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("trunk", 0))
for _ in range(3):
    s.send(dst + src + struct.pack("!HH", 0x8100, 300) + struct.pack("!H", 0x0806) + arp + b"\0" * 14)
for _ in range(2):
    s.send(dst + src + struct.pack("!H", 0x0806) + arp + b"\0" * 18)
PY
  wait_until 5 eval '[ "$(counter drop-vlan-unknown-vid)" -ge $((unknown0 + 3)) ]' || true
  wait_until 5 eval '[ "$(counter drop-vlan-untagged)" -ge $((untagged0 + 2)) ]' || true
  local c; c="$(rvsadm --counters)"
  printf '%s\n' "$c" | grep -E 'vlan|arp|rx-frames' | sed 's/^/    counters| /'
  assert_eq "$((unknown0 + 3))" "$(counter drop-vlan-unknown-vid)" "drop-vlan-unknown-vid"
  assert_eq "$((untagged0 + 2))" "$(counter drop-vlan-untagged)" "drop-vlan-untagged"
  assert_eq "$replied0" "$(counter arp-replied)" "arp-replied (none of them answered)"
}

# ---------------------------------------------------------------------------------- e
# rvs resolved the client and the real servers (for the NAT traffic), each on its VLAN.
case_e_neighbours() {
  local neigh; neigh="$(rvsadm --neighbours)"
  printf '%s\n' "$neigh" | sed 's/^/    neighbours| /'
  assert_match "$neigh" "d-trunk\.100 +198\.18\.0\.10 " "the client on d-trunk.100"
  assert_match "$neigh" "d-trunk\.200 +198\.18\.1\.11 " "rs1 on d-trunk.200"
  assert_match "$neigh" "d-trunk\.200 +198\.18\.1\.12 " "rs2 on d-trunk.200"
  assert_contains "$(rvsadm -Ln)" "TCP  198.18.0.100:80 rr" "the service"
}

# ---------------------------------------------------------------------------------- f
# IPv6 on a VLAN: the client resolves rvs's IPv6 address on VLAN 100 (neighbour solicitation
# in, advertisement out, both tagged on the trunk) and pings it.
case_f_ipv6() {
  ns_exec c ip -6 addr add "$CLIENT6/64" dev eth0 nodad
  ns_exec c ping -6 -c 2 -W 2 -i 0.2 "$DIR6" >/dev/null
  assert_contains "$(ns_exec c ip -6 neigh show "$DIR6")" "lladdr $TRUNK_MAC" "client's entry for $DIR6"
}

run_case "a: ARP and ping per VLAN on one trunk" case_a_arp_per_vlan
run_case "b: NAT from VLAN 100 to VLAN 200, rr alternating" case_b_nat_rr
run_case "c: 20 MB download, sha256 intact" case_c_big
run_case "d: unknown VID and untagged frames on the trunk counted and dropped" case_d_unknown_vid_and_untagged
run_case "e: neighbours per VLAN interface" case_e_neighbours
# ---------------------------------------------------------------------------------- h
# DR on VLAN 100: requests to VIP:8080 reach rs3 with the VIP as their destination (its own
# answer comes from the VIP), rvs's counts see only the requests, and the 20 MB arrives whole
# though its replies never cross the trunk: rs3 answers through the switch alone.
case_h_dr() {
  rvsadm -A -t "$VIP:8080" -s rr
  rvsadm -a -t "$VIP:8080" -r "$RS3:8080" -g
  local seq; seq="$(curl_many c 4 "http://$VIP:8080/" | tr '\n' ' ')"
  assert_eq "rs3 rs3 rs3 rs3 " "$seq" "4 requests answered by rs3"
  local dl="$RUN_DIR/big-dr.download" t0 t1
  t0=$(now)
  CURL_MAX_TIME=60 ns_curl c -o "$dl" "http://$VIP:8080/big.bin"
  t1=$(now)
  log "20 MB by DR on VLAN 100 in $(ms_between "$t0" "$t1") ms"
  assert_eq "$(sha256sum <"$BIG_FILE" | cut -d' ' -f1)" "$(sha256sum <"$dl" | cut -d' ' -f1)" "sha256 of big.bin by DR"
  local ln; ln="$(rvsadm -Ln --stats -t "$VIP:8080")"
  printf '%s\n' "$ln" | sed 's/^/    stats| /'
  # InPkts counted, OutPkts 0: the replies bypassed the director.
  assert_match "$(grep -F -- "-> $RS3:8080" <<<"$ln")" "^  -> $RS3:8080 +[0-9]+ +[0-9]+ +0 +[0-9]+[KMG]? +0 *$" "rs3's row: no outbound packets"
  assert_match "$(rvsadm --neighbours)" "d-trunk\.100 +198\.18\.0\.13 " "rs3 resolved on d-trunk.100"
}

run_case "f: IPv6 neighbour discovery and ping on VLAN 100" case_f_ipv6
run_case "h: DR on VLAN 100: rs3 answers the client directly, 20 MB intact" case_h_dr
if stop_rvs; then pass "g. SIGTERM: clean stop"; else fail "g. SIGTERM: clean stop"; fi
# The switch's own counts: frames it tagged toward the trunk and untagged from it.
kill -TERM "$SWITCH_PID" 2>/dev/null || true
wait_until 5 eval '[ "$(wc -l <"$LOG_DIR/vlan-switch.log")" -ge 2 ]' || true
log "switch: $(tail -n1 "$LOG_DIR/vlan-switch.log")"
finish
