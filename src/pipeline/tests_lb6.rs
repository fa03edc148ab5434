//! IPv6 services (lb6.rs) against frames as IPv6 clients and real servers
//! send them: NAT66 both ways with the checksums a receiver verifies, the
//! next hops resolved by neighbour discovery, DR over IPv6, and what is not
//! carried over IPv6 yet dropped and counted.

use super::{Reason, Verdict};
use crate::api::command::Command;
use crate::api::{DestSpec, FwdMethod, ServiceKey};
use crate::testkit::ipv6::{advertisement, ip6 as a, lab6, CLIENT6, IN6, OUT6, RS1_6, RS2_6, VIP6};
use crate::testkit::*;
use crate::wire::checksum::Checksum;
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::icmpv6::{self, nd};
use crate::wire::ip_protocol::{IPPROTO_ICMPV6, IPPROTO_TCP};
use crate::wire::ipv6::{self, HEADER_LEN as IP6};
use etherparse::PacketBuilder;
use std::net::IpAddr;

fn key6(port: u16) -> ServiceKey {
    ServiceKey::Addr { proto: IPPROTO_TCP, addr: IpAddr::V6(a(VIP6).into()), port }
}

/// TCP [VIP6]:80 by rr over `servers` (address, port, method).
fn service6(lab: &mut Lab, persistent: Option<(u32, u8)>, servers: &[(&str, u16, FwdMethod)]) {
    let mut spec = service_spec(key6(80), "rr");
    spec.persistent = persistent.map(|p| p.0);
    spec.netmask = crate::api::netmask6(persistent.map_or(128, |p| p.1));
    lab.cmd(Command::AddService(spec));
    for &(addr, port, fwd) in servers {
        let addr: IpAddr = addr.parse().unwrap();
        lab.cmd(Command::AddDest(key6(80), DestSpec { addr, ..dest_spec([0; 4], port, fwd, 1) }));
    }
}

fn tcp6(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: &str,
    dst: &str,
    sport: u16,
    dport: u16,
    syn: bool,
    hops: u8,
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv6(a(src).to_be_bytes(), a(dst).to_be_bytes(), hops)
        .tcp(sport, dport, 1000, 64000);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut f = Vec::new();
    b.write(&mut f, b"data").unwrap();
    f
}

/// The frame's IPv6 addresses, TCP ports and hop limit, its TCP checksum
/// checked from scratch over the pseudo-header.
fn read(frame: &[u8]) -> (u128, u16, u128, u16, u8) {
    let ip = &frame[ETH..];
    let h = ipv6::Header::new_checked(ip).unwrap();
    let l4 = &ip[IP6..IP6 + h.payload_len() as usize];
    let sum = Checksum::new()
        .add_bytes(&ip[8..40])
        .add_u32(l4.len() as u32)
        .add_u16(IPPROTO_TCP as u16)
        .add_bytes(l4)
        .finish();
    assert_eq!(sum, 0, "the TCP checksum verifies");
    let port = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
    (h.src(), port(0), h.dst(), port(2), h.hop_limit())
}

fn count(lab: &Lab, r: Reason) -> u64 {
    lab.d.shared().counters.total(r)
}

#[test]
fn nat66_rewrites_both_ways_once_the_next_hops_are_resolved() {
    let mut lab = lab6();
    // rr takes the server added last first (IPVS adds each at the head of its list).
    service6(&mut lab, None, &[(RS2_6, 8080, FwdMethod::Masq), (RS1_6, 8080, FwdMethod::Masq)]);
    // The SYN is scheduled (rs1) and held while rs1 is asked for.
    let syn = tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 80, true, 64);
    assert_eq!(lab.feed(OUT, &syn).0, Verdict::Consumed);
    let ns = &lab.tx.0.last().unwrap().1;
    assert_eq!(icmpv6::neighbour_message(&ns[ETH + IP6..]).unwrap().target, a(RS1_6));
    lab.tx.0.clear();
    assert_eq!(lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6)).0, Verdict::Consumed);
    let (iface, sent) = lab.tx.0.pop().unwrap();
    assert_eq!((iface, &sent[0..6], &sent[6..12]), (IN, &RS1_MAC[..], &IN_MAC[..]));
    assert_eq!(read(&sent), (a(CLIENT6), 40000, a(RS1_6), 8080, 63), "to rs1:8080, a hop less");
    // The SYN-ACK back, held for the client's MAC, then to the client from the VIP.
    let syn_ack = tcp6(RS1_MAC, IN_MAC, RS1_6, CLIENT6, 8080, 40000, false, 64);
    assert_eq!(lab.feed(IN, &syn_ack).0, Verdict::Consumed);
    lab.tx.0.clear();
    lab.feed(OUT, &advertisement(OUT, CLIENT_MAC, CLIENT6, OUT6));
    let (iface, back) = lab.tx.0.pop().unwrap();
    assert_eq!((iface, &back[0..6]), (OUT, &CLIENT_MAC[..]));
    assert_eq!(read(&back), (a(VIP6), 80, a(CLIENT6), 40000, 63), "from [VIP]:80");
    // Both resolved: the next packets go at once.
    let ack = tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 80, false, 64);
    let (v, out) = lab.feed(OUT, &ack);
    assert_eq!(v, Verdict::Forward(IN));
    assert_eq!(read(&out), (a(CLIENT6), 40000, a(RS1_6), 8080, 63));
    // The next client goes to rs2; the table lists IPv6 addresses.
    let other = tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40001, 80, true, 64);
    assert_eq!(lab.feed(OUT, &other).0, Verdict::Consumed, "held for rs2's MAC");
    let conns = lab.d.connections(lab.now);
    let mut servers: Vec<String> = conns.iter().map(|c| format!("{} {} {}", c.caddr, c.vaddr, c.daddr)).collect();
    servers.sort();
    assert_eq!(
        servers,
        [format!("{CLIENT6} {VIP6} {RS1_6}"), format!("{CLIENT6} {VIP6} {RS2_6}")],
        "the IPv6 connections as -Lnc lists them"
    );
}

#[test]
fn dr_over_ipv6_changes_only_the_macs_and_hop_limits_are_kept() {
    let mut lab = lab6();
    service6(&mut lab, None, &[(RS1_6, 80, FwdMethod::Route)]);
    let syn = tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 80, true, 64);
    assert_eq!(lab.feed(OUT, &syn).0, Verdict::Consumed);
    lab.tx.0.clear();
    lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6));
    let (iface, sent) = lab.tx.0.pop().unwrap();
    assert_eq!((iface, &sent[0..6], &sent[6..12]), (IN, &RS1_MAC[..], &IN_MAC[..]));
    assert_eq!(&sent[12..], &syn[12..], "the packet itself as it came");
    // A packet with no hop left is not forwarded.
    let last_hop = tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 80, false, 1);
    assert_eq!(lab.feed(OUT, &last_hop).0, Verdict::Drop(Reason::TtlExceeded));
}

#[test]
fn what_ipv6_does_not_carry_yet_is_dropped_and_counted() {
    let syn = tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 80, true, 64);
    // GUE (and GRE) over IPv6.
    let mut lab = lab6();
    service6(&mut lab, None, &[(RS1_6, 80, FwdMethod::Tunnel)]);
    let gue = crate::api::TunSpec { kind: crate::api::TunType::Gue, port: 6080, ..Default::default() };
    lab.cmd(Command::EditDest(
        key6(80),
        DestSpec { addr: RS1_6.parse().unwrap(), tun: gue, ..dest_spec([0; 4], 80, FwdMethod::Tunnel, 1) },
    ));
    assert_eq!(lab.feed(OUT, &syn).0, Verdict::Drop(Reason::Ipv6Unsupported));
    // No service at that address or port; not a SYN.
    let mut lab = lab6();
    service6(&mut lab, None, &[(RS1_6, 80, FwdMethod::Masq)]);
    let elsewhere = tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 81, true, 64);
    assert_eq!(lab.feed(OUT, &elsewhere).0, Verdict::Drop(Reason::NoService));
    let ack = tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 80, false, 64);
    assert_eq!(lab.feed(OUT, &ack).0, Verdict::Drop(Reason::NotSyn));
    assert_eq!(count(&lab, Reason::NoService), 1);
    assert!(lab.d.connections(lab.now).is_empty());
}

#[test]
fn persistence_over_ipv6_keeps_a_client_prefix_on_its_server() {
    let mut lab = lab6();
    // -p 300 -M 64: clients of one /64 share a template.
    service6(&mut lab, Some((300, 64)), &[(RS2_6, 80, FwdMethod::Masq), (RS1_6, 80, FwdMethod::Masq)]);
    lab.feed(OUT, &tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 80, true, 64));
    lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6));
    // Another connection of the client, and one of a neighbour in its /64: rs1 again, though rr
    // would have moved on; a client of another prefix is scheduled (rs2).
    for (client, port) in [(CLIENT6, 40001), ("2001:db8:6::77", 40002)] {
        let (v, out) = lab.feed(OUT, &tcp6(CLIENT_MAC, OUT_MAC, client, VIP6, port, 80, true, 64));
        assert_eq!(v, Verdict::Forward(IN), "{client}");
        assert_eq!(read(&out).2, a(RS1_6), "{client} stays on rs1");
    }
    let far = tcp6(CLIENT_MAC, OUT_MAC, "2001:db8:9::5", VIP6, 40003, 80, true, 64);
    assert_eq!(lab.feed(OUT, &far).0, Verdict::Consumed, "held for rs2, not yet resolved");
    let ns = &lab.tx.0.last().unwrap().1;
    assert_eq!(icmpv6::neighbour_message(&ns[ETH + IP6..]).unwrap().target, a(RS2_6));
    // -Lnc lists the templates with the masked client: two of them.
    let templates: Vec<String> = lab
        .d
        .connections(lab.now)
        .iter()
        .filter(|c| c.cport == 0)
        .map(|c| format!("{} {}", c.caddr, c.daddr))
        .collect();
    assert_eq!(templates.len(), 2, "{templates:?}");
    assert!(templates.contains(&format!("2001:db8:6:: {RS1_6}")), "{templates:?}");
}

#[test]
fn a_packet_too_big_for_the_real_servers_link_gets_a_packet_too_big_back() {
    let mut lab = lab6();
    service6(&mut lab, None, &[(RS1_6, 80, FwdMethod::Masq)]);
    lab.feed(OUT, &tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 80, true, 64));
    lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6));
    // The SYN-ACK makes rvs ask for the client, who answers.
    lab.feed(IN, &tcp6(RS1_MAC, IN_MAC, RS1_6, CLIENT6, 80, 40000, false, 64));
    lab.feed(OUT, &advertisement(OUT, CLIENT_MAC, CLIENT6, OUT6));
    // The inside link is narrower than the client's packet.
    lab.d.ifaces.0[IN as usize].mtu = 1400;
    let b = PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ipv6(a(CLIENT6).to_be_bytes(), a(VIP6).to_be_bytes(), 64)
        .tcp(40000, 80, 1000, 64000)
        .ack(1);
    let mut big = Vec::new();
    b.write(&mut big, &[7u8; 1420]).unwrap();
    lab.tx.0.clear();
    assert_eq!(lab.feed(OUT, &big).0, Verdict::Drop(Reason::TooBig));
    let (iface, ptb) = lab.tx.0.pop().expect("a packet-too-big");
    assert_eq!((iface, &ptb[0..6]), (OUT, &CLIENT_MAC[..]));
    assert!(ptb.len() - ETH <= 1280, "within the IPv6 minimum MTU");
    let h = ipv6::Header::new_checked(&ptb[ETH..]).unwrap();
    assert_eq!((h.src(), h.dst(), h.next_header()), (a(OUT6), a(CLIENT6), IPPROTO_ICMPV6));
    let msg = &ptb[ETH + IP6..];
    assert!(icmpv6::verify_checksum(msg, a(OUT6), a(CLIENT6)));
    assert_eq!((msg[0], msg[1], &msg[4..8]), (icmpv6::PACKET_TOO_BIG, 0, &1400u32.to_be_bytes()[..]));
    assert_eq!(&msg[8..8 + 40], &big[ETH..ETH + 40], "the packet as the client sent it, quoted");
    assert_eq!(count(&lab, Reason::Icmpv6TooBigSent), 1);
}

#[test]
fn fullnat_over_ipv6_rewrites_both_addresses_both_ways() {
    let mut lab = lab6();
    service6(&mut lab, None, &[(RS1_6, 8080, FwdMethod::FullNat)]);
    let laddr = "2001:db8:7::50";
    lab.cmd(Command::AddLaddr(key6(80), laddr.parse().unwrap()));
    lab.feed(OUT, &tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 80, true, 64));
    lab.tx.0.clear();
    lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6));
    let (_, sent) = lab.tx.0.pop().unwrap();
    let (src, lport, dst, dport, _) = read(&sent);
    assert_eq!((src, dst, dport), (a(laddr), a(RS1_6), 8080), "from the local address, to rs1:8080");
    // The server answers the local address; the client gets it from the VIP (resolving the client first).
    lab.feed(IN, &tcp6(RS1_MAC, IN_MAC, RS1_6, laddr, 8080, lport, false, 64));
    lab.tx.0.clear();
    lab.feed(OUT, &advertisement(OUT, CLIENT_MAC, CLIENT6, OUT6));
    let (iface, back) = lab.tx.0.pop().unwrap();
    assert_eq!(iface, OUT);
    assert_eq!(read(&back), (a(VIP6), 80, a(CLIENT6), 40000, 63));
    // rvs answers solicitations for the local address on the servers' link.
    let mut m = [0u8; nd::MESSAGE_LEN];
    let group = ipv6::solicited_node(a(laddr));
    icmpv6::write_neighbour_message(&mut m, icmpv6::NEIGHBOR_SOLICITATION, 0, a(laddr), &RS1_MAC, a(RS1_6), group);
    let mut ns = vec![0u8; ETH + IP6 + m.len()];
    crate::wire::ethernet::write_header(
        &mut ns,
        &ipv6::multicast_mac(group),
        &RS1_MAC,
        crate::wire::ethernet::ETHERTYPE_IPV6,
    );
    ipv6::write_header(&mut ns[ETH..], m.len() as u16, IPPROTO_ICMPV6, 255, a(RS1_6), group);
    ns[ETH + IP6..].copy_from_slice(&m);
    assert_eq!(lab.feed(IN, &ns).0, Verdict::Forward(IN));
}

/// An ICMPv6 error of `kind` from `src` to `dst` quoting `quoted` (a whole frame's IPv6 packet).
fn icmp6_error(src_mac: [u8; 6], dst_mac: [u8; 6], src: &str, dst: &str, kind: u8, quoted: &[u8]) -> Vec<u8> {
    let q = &quoted[ETH..];
    let mut m = vec![kind, if kind == icmpv6::DEST_UNREACHABLE { 4 } else { 0 }, 0, 0, 0, 0, 0x05, 0x00];
    m.extend_from_slice(q);
    icmpv6::fill_checksum(&mut m, a(src), a(dst));
    let mut f = vec![0u8; ETH + IP6 + m.len()];
    crate::wire::ethernet::write_header(&mut f, &dst_mac, &src_mac, crate::wire::ethernet::ETHERTYPE_IPV6);
    ipv6::write_header(&mut f[ETH..], m.len() as u16, IPPROTO_ICMPV6, 64, a(src), a(dst));
    f[ETH + IP6..].copy_from_slice(&m);
    f
}

#[test]
fn icmpv6_errors_about_a_connection_reach_the_other_end_translated() {
    let mut lab = lab6();
    service6(&mut lab, None, &[(RS1_6, 8080, FwdMethod::Masq)]);
    lab.feed(OUT, &tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 80, true, 64));
    lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6));
    lab.feed(IN, &tcp6(RS1_MAC, IN_MAC, RS1_6, CLIENT6, 8080, 40000, false, 64));
    lab.feed(OUT, &advertisement(OUT, CLIENT_MAC, CLIENT6, OUT6));
    // The real server's port unreachable about the request it got (client -> rs1:8080).
    let request_as_sent = tcp6(IN_MAC, RS1_MAC, CLIENT6, RS1_6, 40000, 8080, false, 63);
    let unreach = icmp6_error(RS1_MAC, IN_MAC, RS1_6, CLIENT6, icmpv6::DEST_UNREACHABLE, &request_as_sent);
    let (v, out) = lab.feed(IN, &unreach);
    assert_eq!(v, Verdict::Forward(OUT));
    let h = ipv6::Header::new_checked(&out[ETH..]).unwrap();
    assert_eq!((h.src(), h.dst(), h.hop_limit()), (a(VIP6), a(CLIENT6), 63), "from the VIP to the client");
    let msg = &out[ETH + IP6..];
    assert!(icmpv6::verify_checksum(msg, a(VIP6), a(CLIENT6)));
    let mut quoted = vec![0u8; ETH];
    quoted.extend_from_slice(&msg[8..]);
    // The quote as the client sent it (to [VIP]:80), its TCP checksum still sound.
    let (qs, qsp, qd, qdp, _) = read(&quoted);
    assert_eq!((qs, qsp, qd, qdp), (a(CLIENT6), 40000, a(VIP6), 80));
    // The client's packet-too-big about a reply it got ([VIP]:80 -> client): to rs1,
    // quoting the reply as rs1 sent it.
    let reply_as_sent = tcp6(OUT_MAC, CLIENT_MAC, VIP6, CLIENT6, 80, 40000, false, 63);
    let ptb = icmp6_error(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, icmpv6::PACKET_TOO_BIG, &reply_as_sent);
    let (v, out) = lab.feed(OUT, &ptb);
    assert_eq!(v, Verdict::Forward(IN));
    let h = ipv6::Header::new_checked(&out[ETH..]).unwrap();
    assert_eq!((h.src(), h.dst()), (a(CLIENT6), a(RS1_6)), "from the client to rs1");
    let msg = &out[ETH + IP6..];
    assert!(icmpv6::verify_checksum(msg, a(CLIENT6), a(RS1_6)));
    assert_eq!(&msg[4..8], &[0, 0, 5, 0], "the MTU as the client gave it");
    let mut quoted = vec![0u8; ETH];
    quoted.extend_from_slice(&msg[8..]);
    let (qs, qsp, qd, qdp, _) = read(&quoted);
    assert_eq!((qs, qsp, qd, qdp), (a(RS1_6), 8080, a(CLIENT6), 40000));
    assert_eq!(count(&lab, Reason::IcmpErrorForwarded), 2);
    // About no connection: dropped and counted.
    let stranger = tcp6(IN_MAC, RS1_MAC, "2001:db8:6::99", RS1_6, 1234, 8080, false, 63);
    let unrelated = icmp6_error(RS1_MAC, IN_MAC, RS1_6, "2001:db8:6::99", icmpv6::DEST_UNREACHABLE, &stranger);
    assert_eq!(lab.feed(IN, &unrelated).0, Verdict::Drop(Reason::IcmpErrorUnrelated));
}

#[test]
fn tun_over_ipv6_wraps_the_packet_in_an_ipv6_header_to_the_real_server() {
    let mut lab = lab6();
    service6(&mut lab, None, &[(RS1_6, 80, FwdMethod::Tunnel)]);
    let syn = tcp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 40000, 80, true, 64);
    assert_eq!(lab.feed(OUT, &syn).0, Verdict::Consumed);
    lab.tx.0.clear();
    lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6));
    let (iface, sent) = lab.tx.0.pop().unwrap();
    assert_eq!((iface, &sent[0..6]), (IN, &RS1_MAC[..]));
    let outer = ipv6::Header::new_checked(&sent[ETH..]).unwrap();
    assert_eq!((outer.src(), outer.dst(), outer.next_header()), (a(IN6), a(RS1_6), 41));
    assert_eq!(outer.payload_len() as usize, syn.len() - ETH);
    assert_eq!(&sent[ETH + IP6..], &syn[ETH..], "the client's packet inside, as it came");
    // One too big for the link with the outer header gets a packet-too-big of the MTU less 40.
    lab.d.ifaces.0[IN as usize].mtu = 1400;
    let b = PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ipv6(a(CLIENT6).to_be_bytes(), a(VIP6).to_be_bytes(), 64)
        .tcp(40000, 80, 1000, 64000)
        .ack(1);
    let mut big = Vec::new();
    b.write(&mut big, &[0u8; 1380]).unwrap();
    assert_eq!(lab.feed(OUT, &big).0, Verdict::Drop(Reason::TooBig));
    // (Held until the client's MAC is known: TUN's replies bypass the director.)
    lab.tx.0.clear();
    lab.feed(OUT, &advertisement(OUT, CLIENT_MAC, CLIENT6, OUT6));
    let ptb = &lab.tx.0.pop().unwrap().1;
    assert_eq!(ptb[ETH + IP6], icmpv6::PACKET_TOO_BIG);
    assert_eq!(&ptb[ETH + IP6 + 4..ETH + IP6 + 8], &1360u32.to_be_bytes());
}

/// The hashing schedulers over IPv6 key on the addresses folded to 32 bits, as IPVS's
/// ip_vs_sh_hashkey folds an IPv6 address: sh keeps a client on one server whatever its port.
#[test]
fn sh_over_ipv6_keeps_a_client_on_one_server() {
    let mut lab = lab6();
    let mut spec = service_spec(key6(80), "sh");
    spec.netmask = crate::api::netmask6(128);
    lab.cmd(Command::AddService(spec));
    for rs in [RS1_6, RS2_6] {
        lab.cmd(Command::AddDest(
            key6(80),
            DestSpec { addr: rs.parse().unwrap(), ..dest_spec([0; 4], 80, FwdMethod::Masq, 1) },
        ));
    }
    let mut by_client = std::collections::HashMap::new();
    for client in 1..=8u32 {
        let addr = format!("2001:db8:6::{client:x}0");
        for port in 40000..40004 {
            // (Held for the server's MAC, or dropped once its hold queue is full: the
            // connection is made either way.)
            lab.feed(OUT, &tcp6(CLIENT_MAC, OUT_MAC, &addr, VIP6, port, 80, true, 64));
        }
        let servers: std::collections::HashSet<String> = lab
            .d
            .connections(lab.now)
            .iter()
            .filter(|c| c.caddr.to_string() == addr)
            .map(|c| c.daddr.to_string())
            .collect();
        assert_eq!(servers.len(), 1, "{addr}: one server for its four ports, {servers:?}");
        by_client.insert(addr, servers.into_iter().next().unwrap());
    }
    let used: std::collections::HashSet<_> = by_client.values().collect();
    assert_eq!(used.len(), 2, "eight clients spread over both servers: {by_client:?}");
}

/// The address pool gives its handles back once their connections are gone: the
/// housekeeping sweeps it when it holds many more than the live entries can name.
#[test]
fn the_ipv6_address_pool_is_swept_when_connections_expire() {
    let mut lab = lab6();
    let key =
        ServiceKey::Addr { proto: crate::wire::ip_protocol::IPPROTO_UDP, addr: IpAddr::V6(a(VIP6).into()), port: 53 };
    lab.cmd(Command::AddService(service_spec(key, "rr")));
    lab.cmd(Command::AddDest(
        key,
        DestSpec { addr: RS1_6.parse().unwrap(), ..dest_spec([0; 4], 53, FwdMethod::Masq, 1) },
    ));
    for k in 0..1500u32 {
        let client = format!("2001:db8:6::{:x}:{:x}", 1 + k / 0x1000, k % 0x1000 + 1);
        let b = PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
            .ipv6(a(&client).to_be_bytes(), a(VIP6).to_be_bytes(), 64)
            .udp(40000, 53);
        let mut f = Vec::new();
        b.write(&mut f, b"q").unwrap();
        lab.feed(OUT, &f);
    }
    assert!(lab.d.pool6.len() > 1500, "a handle per client, the VIP and the server: {}", lab.d.pool6.len());
    // Every UDP entry expires (300 s); the next housekeeping tick sweeps the pool.
    let later = lab.now + 400_000;
    lab.d.tick(later, &mut lab.tx);
    assert_eq!(lab.d.conns6.len(), 0);
    assert_eq!(lab.d.pool6.len(), 0, "every handle given back");
}

/// An SCTP packet over IPv6 from `src` to `dst` (testkit's IPv4 one, its SCTP part rehoused).
fn sctp6(src_mac: [u8; 6], dst_mac: [u8; 6], src: &str, dst: &str, sport: u16, dport: u16, kind: u8) -> Vec<u8> {
    let v4 = crate::testkit::frames::sctp(src_mac, dst_mac, CLIENT, VIP, sport, dport, 7, &[(kind, 0, &[0u8; 16])]);
    let l4 = &v4[ETH + 20..];
    let mut f = vec![0u8; ETH + IP6];
    f[..12].copy_from_slice(&v4[..12]);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    ipv6::write_header(&mut f[ETH..], l4.len() as u16, crate::wire::ip_protocol::IPPROTO_SCTP, 64, a(src), a(dst));
    f.extend_from_slice(l4);
    f
}

#[test]
fn sctp_over_ipv6_by_nat66_and_nat64_with_a_fresh_crc() {
    use crate::wire::ip_protocol::IPPROTO_SCTP;
    use crate::wire::sctp::{chunk, Packet};
    let mut lab = lab6();
    let key = ServiceKey::Addr { proto: IPPROTO_SCTP, addr: IpAddr::V6(a(VIP6).into()), port: 3868 };
    lab.cmd(Command::AddService(service_spec(key, "rr")));
    let rs: IpAddr = RS1_6.parse().unwrap();
    lab.cmd(Command::AddDest(key, DestSpec { addr: rs, ..dest_spec([0; 4], 3869, FwdMethod::Masq, 1) }));
    // Only an INIT opens an association; its CRC is checked first.
    let data = sctp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 5000, 3868, chunk::DATA);
    assert_eq!(lab.feed(OUT, &data).0, Verdict::Drop(Reason::SctpNotInit));
    let mut bad = sctp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 5000, 3868, chunk::INIT);
    bad[ETH + IP6 + 8] ^= 1;
    assert_eq!(lab.feed(OUT, &bad).0, Verdict::Drop(Reason::SctpChecksum));
    let init = sctp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 5000, 3868, chunk::INIT);
    assert_eq!(lab.feed(OUT, &init).0, Verdict::Consumed, "held for rs1's MAC");
    lab.tx.0.clear();
    lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6));
    let (_, sent) = lab.tx.0.pop().unwrap();
    let h = ipv6::Header::new_checked(&sent[ETH..]).unwrap();
    assert_eq!((h.src(), h.dst(), h.hop_limit()), (a(CLIENT6), a(RS1_6), 63));
    let p = Packet::parse(&sent[ETH + IP6..]).unwrap();
    assert!(p.checksum_ok(), "a fresh CRC32c");
    assert_eq!((p.src_port(), p.dst_port()), (5000, 3869));
    assert_eq!(lab.d.connections(lab.now)[0].state, "INIT1");
    // NAT64: an IPv4 SCTP server of the same kind of service.
    let key2 = ServiceKey::Addr { proto: IPPROTO_SCTP, addr: IpAddr::V6(a(VIP6).into()), port: 3870 };
    lab.cmd(Command::AddService(service_spec(key2, "rr")));
    lab.cmd(Command::AddDest(key2, dest_spec(RS1, 3868, FwdMethod::FullNat, 1)));
    lab.feed(IN, &crate::testkit::frames::arp(RS1_MAC, IN_MAC, 2, RS1_MAC, RS1, IN_MAC, DIR_IN));
    let init = sctp6(CLIENT_MAC, OUT_MAC, CLIENT6, VIP6, 5001, 3870, chunk::INIT);
    let (v, out) = lab.feed(OUT, &init);
    let out = if v == Verdict::Consumed {
        lab.feed(IN, &crate::testkit::frames::arp(RS1_MAC, IN_MAC, 2, RS1_MAC, RS1, IN_MAC, DIR_IN));
        lab.tx.0.pop().unwrap().1
    } else {
        assert_eq!(v, Verdict::Forward(IN));
        out
    };
    let h = crate::wire::ipv4::Header::new_checked(&out[ETH..]).unwrap();
    assert_eq!((h.dst(), h.protocol()), (u32::from_be_bytes(RS1), IPPROTO_SCTP));
    let p = Packet::parse(h.payload()).unwrap();
    assert!(p.checksum_ok(), "a fresh CRC32c over IPv4");
    assert_eq!(p.dst_port(), 3868);
}
