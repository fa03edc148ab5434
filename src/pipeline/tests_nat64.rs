//! NAT64 (nat64.rs): an IPv6 service's IPv4 real servers by FULLNAT. Frames
//! as an IPv6 client and an IPv4 server send them; what leaves is checked as
//! their receivers would (headers valid, transport checksums verified from
//! scratch over the other family's pseudo-header).

use super::{Reason, Verdict};
use crate::api::command::Command;
use crate::api::{FwdMethod, ServiceKey};
use crate::testkit::frames::{arp, tcp, udp};
use crate::testkit::ipv6::{advertisement, ip6 as a, lab6 as lab64, CLIENT6, OUT6, VIP6};
use crate::testkit::*;
use crate::wire::checksum::{pseudo_header, Checksum};
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::icmpv6::{self};
use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv4;
use crate::wire::ipv6::{self, HEADER_LEN as IP6};
use etherparse::PacketBuilder;
use std::net::IpAddr;

fn key6(proto: u8, port: u16) -> ServiceKey {
    ServiceKey::Addr { proto, addr: IpAddr::V6(a(VIP6).into()), port }
}

/// `[VIP6]:80` of `proto` by rr over IPv4 `servers` by FULLNAT, the client's
/// and the servers' MACs known (an advertisement, ARP replies).
fn service64(lab: &mut Lab, proto: u8, servers: &[[u8; 4]], laddr: Option<[u8; 4]>) {
    lab.cmd(Command::AddService(service_spec(key6(proto, 80), "rr")));
    for &rs in servers {
        lab.cmd(Command::AddDest(key6(proto, 80), dest_spec(rs, 8080, FwdMethod::FullNat, 1)));
    }
    if let Some(l) = laddr {
        lab.cmd(Command::AddLaddr(key6(proto, 80), IpAddr::from(l)));
    }
}

/// `frame` in from the client; once its real server's MAC is known (ARP asked and
/// answered when it is not), the frame that left.
fn first(lab: &mut Lab, frame: &[u8]) -> Vec<u8> {
    let (v, out) = lab.feed(OUT, frame);
    if v == Verdict::Forward(IN) {
        return out;
    }
    assert_eq!(v, Verdict::Consumed, "held for ARP");
    let (_, request) = lab.tx.0.pop().expect("an ARP request");
    let asked: [u8; 4] = request[ETH + 24..ETH + 28].try_into().unwrap();
    let mac = if asked == RS1 { RS1_MAC } else { RS2_MAC };
    lab.feed(IN, &arp(mac, IN_MAC, 2, mac, asked, IN_MAC, DIR_IN));
    let (iface, sent) = lab.tx.0.pop().expect("the held frame");
    assert_eq!(iface, IN);
    sent
}

fn tcp6(src: &str, dst: &str, sport: u16, dport: u16, syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ipv6(a(src).to_be_bytes(), a(dst).to_be_bytes(), 64)
        .tcp(sport, dport, 1000, 64000);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut f = Vec::new();
    b.write(&mut f, b"request").unwrap();
    f
}

/// The IPv4 packet's addresses, ports and TTL; its header and transport checksums verified.
fn read4(frame: &[u8]) -> ([u8; 4], u16, [u8; 4], u16, u8) {
    let ip = &frame[ETH..];
    let h = ipv4::Header::new_checked(ip).expect("a valid IPv4 header");
    assert_eq!(Checksum::new().add_bytes(h.header()).finish(), 0, "IPv4 header checksum");
    let l4 = h.payload();
    let sum = pseudo_header(h.src(), h.dst(), h.protocol(), l4.len() as u16).add_bytes(l4).finish();
    assert_eq!(sum, 0, "the transport checksum verifies over IPv4");
    let port = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
    (h.src().to_be_bytes(), port(0), h.dst().to_be_bytes(), port(2), h.ttl())
}

/// The IPv6 packet's addresses, ports and hop limit; its transport checksum verified.
fn read6(frame: &[u8]) -> (u128, u16, u128, u16, u8) {
    let ip = &frame[ETH..];
    let h = ipv6::Header::new_checked(ip).expect("a valid IPv6 header");
    let l4 = &ip[IP6..IP6 + h.payload_len() as usize];
    let sum = icmpv6::pseudo_header(h.src(), h.dst(), h.next_header(), l4.len() as u32).add_bytes(l4).finish();
    assert_eq!(sum, 0, "the transport checksum verifies over IPv6");
    let port = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
    (h.src(), port(0), h.dst(), port(2), h.hop_limit())
}

fn advertise_client(lab: &mut Lab) {
    lab.feed(OUT, &advertisement(OUT, CLIENT_MAC, CLIENT6, OUT6));
}

#[test]
fn a_tcp_connection_is_translated_both_ways() {
    let mut lab = lab64();
    service64(&mut lab, IPPROTO_TCP, &[RS2, RS1], Some(LIP));
    let out = first(&mut lab, &tcp6(CLIENT6, VIP6, 40000, 80, true));
    assert_eq!(&out[12..14], &[0x08, 0x00], "an IPv4 frame");
    assert_eq!(&out[0..6], &RS1_MAC[..]);
    let (src, lport, dst, dport, ttl) = read4(&out);
    assert_eq!((src, dst, dport, ttl), (LIP, RS1, 8080, 63), "from the local address to rs1:8080");
    // The SYN-ACK: to the client, from the VIP, over IPv6 (held while the client is asked for).
    let syn_ack = tcp(RS1_MAC, IN_MAC, RS1, LIP, 8080, lport, "SA", b"response");
    assert_eq!(lab.feed(IN, &syn_ack).0, Verdict::Consumed);
    lab.tx.0.clear();
    advertise_client(&mut lab);
    let (iface, back) = lab.tx.0.pop().expect("the held reply");
    assert_eq!((iface, &back[0..6], &back[12..14]), (OUT, &CLIENT_MAC[..], &[0x86, 0xdd][..]));
    assert_eq!(read6(&back), (a(VIP6), 80, a(CLIENT6), 40000, 63));
    assert_eq!(&back[back.len() - 8..], b"response");
    // Both resolved: the next packets go at once, each way.
    let (v, out) = lab.feed(OUT, &tcp6(CLIENT6, VIP6, 40000, 80, false));
    assert_eq!(v, Verdict::Forward(IN));
    assert_eq!(read4(&out).1, lport, "the same local port");
    let (v, back) = lab.feed(IN, &tcp(RS1_MAC, IN_MAC, RS1, LIP, 8080, lport, "A", b"more"));
    assert_eq!(v, Verdict::Forward(OUT));
    assert_eq!(read6(&back).0, a(VIP6));
    // -Lnc lists the connection with its IPv4 real server; the next client goes to rs2.
    let conns = lab.d.connections(lab.now);
    assert_eq!(conns.len(), 1);
    assert_eq!((conns[0].caddr.to_string(), conns[0].daddr.to_string()), (CLIENT6.into(), "198.18.1.11".into()));
    let out = first(&mut lab, &tcp6(CLIENT6, VIP6, 40001, 80, true));
    assert_eq!(read4(&out).2, RS2);
    let views = lab.ctl.views();
    assert_eq!(views[0].dests.iter().map(|d| d.active_conns + d.inact_conns).sum::<u32>(), 2);
}

#[test]
fn udp_without_a_local_address_leaves_from_rvs_own_and_gets_a_checksum_back() {
    let mut lab = lab64();
    service64(&mut lab, IPPROTO_UDP, &[RS1], None);
    let mut q = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ipv6(a(CLIENT6).to_be_bytes(), a(VIP6).to_be_bytes(), 64)
        .udp(5353, 80)
        .write(&mut q, b"query")
        .unwrap();
    let out = first(&mut lab, &q);
    let (src, lport, dst, _, _) = read4(&out);
    assert_eq!((src, dst), (DIR_IN, RS1), "rvs's own address on the servers' link");
    // A reply without a UDP checksum (allowed over IPv4) gets one over IPv6.
    let mut r = udp(RS1_MAC, IN_MAC, RS1, DIR_IN, 8080, lport, b"answer");
    r[ETH + 20 + 6..ETH + 20 + 8].fill(0);
    assert_eq!(lab.feed(IN, &r).0, Verdict::Consumed, "held for the client's MAC");
    lab.tx.0.clear();
    advertise_client(&mut lab);
    let (_, back) = lab.tx.0.pop().expect("the held reply");
    assert_eq!(read6(&back), (a(VIP6), 80, a(CLIENT6), 5353, 63));
    assert_eq!(back[ETH + 6], IPPROTO_UDP);
}

#[test]
fn ipv4_fullnat_and_nat64_never_share_a_reply_key() {
    // An IPv4 FULLNAT service and the NAT64 one, both from LIP to rs1:8080: every local
    // port handed out is free in both tables, so each reply finds its own connection.
    let mut lab = lab64();
    service64(&mut lab, IPPROTO_TCP, &[RS1], Some(LIP));
    lab.service("rr", 80, &[(RS1, 8080, FwdMethod::FullNat)], &[LIP]);
    let mut ports = std::collections::HashSet::new();
    for k in 0..40u16 {
        let out = if k % 2 == 0 {
            first(&mut lab, &tcp6(CLIENT6, VIP6, 41000 + k, 80, true))
        } else {
            first(&mut lab, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 41000 + k, 80, "S", b""))
        };
        assert!(ports.insert(read4(&out).1), "local port reused at {k}");
        // The reply reaches the client of its own family (the clients' MACs asked for once).
        lab.tx.0.clear();
        let (v, back) = lab.feed(IN, &tcp(RS1_MAC, IN_MAC, RS1, LIP, 8080, read4(&out).1, "SA", b""));
        let back = match (k, v) {
            (0, Verdict::Consumed) => {
                advertise_client(&mut lab);
                lab.tx.0.pop().unwrap().1
            }
            (1, Verdict::Consumed) => {
                lab.feed(OUT, &arp(CLIENT_MAC, OUT_MAC, 2, CLIENT_MAC, CLIENT, OUT_MAC, DIR_OUT));
                lab.tx.0.pop().unwrap().1
            }
            (_, v) => {
                assert_eq!(v, Verdict::Forward(OUT), "{k}");
                back
            }
        };
        let family = u16::from_be_bytes([back[12], back[13]]);
        assert_eq!(family, if k % 2 == 0 { 0x86dd } else { 0x0800 }, "{k}");
    }
}

#[test]
fn what_nat64_refuses_is_counted() {
    let mut lab = lab64();
    service64(&mut lab, IPPROTO_TCP, &[RS1], Some(LIP));
    // A reply from the wrong side; a reply for no connection.
    let out = first(&mut lab, &tcp6(CLIENT6, VIP6, 40000, 80, true));
    let lport = read4(&out).1;
    let wrong = tcp(CLIENT_MAC, OUT_MAC, RS1, LIP, 8080, lport, "SA", b"");
    assert_eq!(lab.feed(OUT, &wrong).0, Verdict::Drop(Reason::ReplyWrongInterface));
    let stray = tcp(RS1_MAC, IN_MAC, RS1, LIP, 8080, lport.wrapping_add(1), "SA", b"");
    assert_ne!(lab.feed(IN, &stray).0, Verdict::Forward(OUT));
    // Too big for the servers' link once translated: a packet too big to the client, with
    // the IPv4 MTU plus the 20 bytes the header loses.
    lab.feed(IN, &tcp(RS1_MAC, IN_MAC, RS1, LIP, 8080, lport, "SA", b""));
    advertise_client(&mut lab);
    lab.d.ifaces.0[IN as usize].mtu = 1400;
    let mut big = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ipv6(a(CLIENT6).to_be_bytes(), a(VIP6).to_be_bytes(), 64)
        .tcp(40000, 80, 1000, 64000)
        .ack(1)
        .write(&mut big, &[7u8; 1400])
        .unwrap();
    lab.tx.0.clear();
    assert_eq!(lab.feed(OUT, &big).0, Verdict::Drop(Reason::TooBig));
    let (_, ptb) = lab.tx.0.pop().expect("a packet too big");
    let msg = &ptb[ETH + IP6..];
    assert_eq!((msg[0], &msg[4..8]), (icmpv6::PACKET_TOO_BIG, &1420u32.to_be_bytes()[..]));
    // What was dropped made no connection.
    assert_eq!(lab.d.connections(lab.now).len(), 1);
}
