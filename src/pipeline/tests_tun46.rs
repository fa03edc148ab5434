//! TUN across families (tun46.rs): an IPv4 service's IPv6 real server gets
//! the IPv4 packet inside IPv6 (next header 4), an IPv6 service's IPv4 real
//! server the IPv6 packet inside IPv4 (protocol 41); the inner packet as the
//! client sent it.

use super::Verdict;
use crate::api::command::Command;
use crate::api::{DestSpec, FwdMethod, ServiceKey};
use crate::testkit::frames::{arp, tcp};
use crate::testkit::ipv6::{advertisement, ip6 as a, lab6, CLIENT6, IN6, RS1_6, VIP6};
use crate::testkit::*;
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::ip_protocol::{IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_TCP};
use crate::wire::ipv4;
use crate::wire::ipv6::{self, HEADER_LEN as IP6};
use etherparse::PacketBuilder;
use std::net::IpAddr;

#[test]
fn an_ipv4_service_tunnels_to_its_ipv6_real_server_in_ipv6() {
    let mut lab = lab6();
    let key = tcp_vip(80);
    lab.cmd(Command::AddService(service_spec(key, "rr")));
    let rs: IpAddr = RS1_6.parse().unwrap();
    lab.cmd(Command::AddDest(key, DestSpec { addr: rs, ..dest_spec([0; 4], 80, FwdMethod::Tunnel, 1) }));
    // The SYN waits for the server's MAC (neighbour discovery), then leaves tunnelled.
    let syn = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b"");
    assert_eq!(lab.feed(OUT, &syn).0, Verdict::Consumed);
    lab.tx.0.clear();
    lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6));
    let (iface, sent) = lab.tx.0.pop().expect("the held SYN");
    assert_eq!((iface, &sent[0..6], &sent[12..14]), (IN, &RS1_MAC[..], &[0x86, 0xdd][..]));
    let h = ipv6::Header::new_checked(&sent[ETH..]).unwrap();
    assert_eq!((h.src(), h.dst(), h.next_header()), (a(IN6), a(RS1_6), IPPROTO_IPIP));
    assert_eq!(&sent[ETH + IP6..], &syn[ETH..], "the client's IPv4 packet as it came");
    // The next packets of the connection find it (in the IPv6 table) and follow.
    for flags in ["A", "PA"] {
        let p = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, flags, b"GET /");
        let (v, out) = lab.feed(OUT, &p);
        assert_eq!(v, Verdict::Forward(IN), "{flags}");
        assert_eq!(&out[ETH + IP6..], &p[ETH..], "{flags}");
    }
    // -Lnc: the IPv4 client and VIP, the IPv6 real server; counted on the server.
    let conns = lab.d.connections(lab.now);
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!(
        (c.caddr.to_string(), c.vaddr.to_string(), c.daddr.to_string()),
        ("198.18.0.10".into(), "198.18.0.100".into(), RS1_6.into())
    );
    let d = &lab.ctl.views()[0].dests[0];
    assert_eq!(d.active_conns + d.inact_conns, 1);
}

#[test]
fn an_ipv6_service_tunnels_to_its_ipv4_real_server_in_ipv4() {
    let mut lab = lab6();
    let key = ServiceKey::Addr { proto: IPPROTO_TCP, addr: IpAddr::V6(a(VIP6).into()), port: 80 };
    lab.cmd(Command::AddService(service_spec(key, "rr")));
    lab.cmd(Command::AddDest(key, dest_spec(RS1, 80, FwdMethod::Tunnel, 1)));
    let mut syn = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ipv6(a(CLIENT6).to_be_bytes(), a(VIP6).to_be_bytes(), 64)
        .tcp(40000, 80, 1000, 64000)
        .syn()
        .write(&mut syn, b"")
        .unwrap();
    assert_eq!(lab.feed(OUT, &syn).0, Verdict::Consumed, "held for ARP");
    lab.tx.0.clear();
    lab.feed(IN, &arp(RS1_MAC, IN_MAC, 2, RS1_MAC, RS1, IN_MAC, DIR_IN));
    let (iface, sent) = lab.tx.0.pop().expect("the held SYN");
    assert_eq!((iface, &sent[0..6], &sent[12..14]), (IN, &RS1_MAC[..], &[0x08, 0x00][..]));
    let h = ipv4::Header::new_checked(&sent[ETH..]).unwrap();
    assert_eq!((h.src(), h.dst(), h.protocol()), (u32::from_be_bytes(DIR_IN), u32::from_be_bytes(RS1), IPPROTO_IPV6));
    assert!(h.dont_fragment());
    assert_eq!(&sent[ETH + 20..], &syn[ETH..], "the client's IPv6 packet as it came");
    assert_eq!(lab.d.connections(lab.now)[0].daddr.to_string(), "198.18.1.11");
}
