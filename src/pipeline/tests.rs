//! The pipeline on crafted frames: every rewrite checked field by field and
//! every checksum verified by full recomputation. The lab, the frames and the
//! checks are the test kit's (src/testkit/).

use super::*;
use crate::api::command::Command;
use crate::api::MarkRule;
use crate::api::*;
use crate::control::Control;
use crate::testkit::frames::*;
use crate::testkit::inspect::*;
use crate::testkit::*;
use crate::wire::checksum::{pseudo_header, Checksum};
use crate::wire::ip_protocol::*;
use etherparse::PacketBuilder;
use std::net::Ipv4Addr;

impl Lab {
    /// Teach the director a neighbour's MAC the way the wire does: it asks, they answer.
    pub(super) fn learn(&mut self, iface: IfaceId, who: [u8; 4], mac: [u8; 6]) {
        let _ = self.d.neigh.resolve(iface, ip(who), self.now);
        let (my_ip, my_mac) = if iface == 0 { (DIR_OUT, OUT_MAC) } else { (DIR_IN, IN_MAC) };
        let f = arp(mac, my_mac, 2, mac, who, my_mac, my_ip);
        self.feed(iface, &f);
    }
}

#[test]
fn arp_request_for_vip_and_director_address_is_answered() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1)]);
    for target in [VIP, DIR_OUT] {
        let req = arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], target);
        let (v, out) = lab.feed(0, &req);
        assert_eq!(v, Verdict::Forward(0));
        assert_eq!(&out[0..6], &CLIENT_MAC);
        assert_eq!(&out[6..12], &OUT_MAC);
        let p = crate::wire::arp::Packet::new_checked(&out[14..]).unwrap();
        assert_eq!(p.op(), 2);
        assert_eq!(p.sender_mac(), OUT_MAC);
        assert_eq!(p.sender_ip(), ip(target));
        assert_eq!(p.target_ip(), ip(CLIENT));
    }
    // Not ours, and the VIP is not answered on the inside.
    let (v, _) = lab.feed(0, &arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], [198, 18, 0, 77]));
    assert_eq!(v, Verdict::Consumed);
    let (v, _) = lab.feed(1, &arp(RS1_MAC, [0xff; 6], 1, RS1_MAC, RS1, [0; 6], VIP));
    assert_eq!(v, Verdict::Consumed);
}

#[test]
fn gratuitous_arp_announces_vips() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1)]);
    lab.d.tick(10_000, &mut lab.tx);
    let garp: Vec<_> = lab.tx.0.iter().filter(|(i, f)| *i == 0 && f[12..14] == [8, 6]).collect();
    assert_eq!(garp.len(), 1);
    let p = crate::wire::arp::Packet::new_checked(&garp[0].1[14..]).unwrap();
    assert_eq!((p.sender_ip(), p.target_ip()), (ip(VIP), ip(VIP)));
}

#[test]
fn nat_request_held_for_arp_then_rewritten() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 8080, 1)]);
    let syn = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b"");
    let (v, _) = lab.feed(0, &syn);
    assert_eq!(v, Verdict::Consumed, "held while the real server's MAC resolves");
    let req = lab.tx.0.pop().unwrap();
    assert_eq!(req.0, 1);
    let p = crate::wire::arp::Packet::new_checked(&req.1[14..]).unwrap();
    assert_eq!((p.op(), p.target_ip(), p.sender_ip()), (1, ip(RS1), ip(DIR_IN)));
    // The answer releases the held SYN, rewritten.
    let (_, _) = lab.feed(1, &arp(RS1_MAC, IN_MAC, 2, RS1_MAC, RS1, IN_MAC, DIR_IN));
    let (iface, out) = lab.tx.0.pop().unwrap();
    assert_eq!(iface, 1);
    assert_eq!(&out[0..6], &RS1_MAC);
    assert_eq!(&out[6..12], &IN_MAC);
    assert_eq!(field_ip(&out, 12), CLIENT);
    assert_eq!(field_ip(&out, 16), RS1);
    assert_eq!((l4_port(&out, 0), l4_port(&out, 2)), (40000, 8080));
    assert_eq!(out[14 + 8], 63, "TTL decremented");
    assert_checksums(&out);
}

#[test]
fn nat_round_trip_with_payload_and_states() {
    let mut lab = Lab::new();
    let key = lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 8080, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(0, CLIENT, CLIENT_MAC);
    let (v, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "S", b""));
    assert_eq!(v, Verdict::Forward(1));
    assert_checksums(&out);
    // The reply is un-NATed to come from the VIP.
    let (v, out) = lab.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, CLIENT, 8080, 40001, "SA", b""));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(&out[0..6], &CLIENT_MAC);
    assert_eq!(field_ip(&out, 12), VIP);
    assert_eq!(field_ip(&out, 16), CLIENT);
    assert_eq!((l4_port(&out, 0), l4_port(&out, 2)), (80, 40001));
    assert_checksums(&out);
    assert_eq!(lab_dest(&lab_views(&lab.ctl), key), (0, 1), "SYN_RECV counts as inactive");
    let (_, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "A", b"GET / HTTP/1.0\r\n\r\n"));
    assert_checksums(&out);
    assert_eq!(lab_dest(&lab_views(&lab.ctl), key), (1, 0), "ESTABLISHED counts as active");
    assert_eq!(lab.d.connections(lab.now)[0].state, "ESTABLISHED");
    assert_eq!(lab.d.connections(lab.now)[0].expires, 900);
    let views = lab_views(&lab.ctl);
    assert_eq!(views[0].stats.conns, 1);
    assert_eq!(views[0].stats.inpkts, 2);
    assert_eq!(views[0].stats.outpkts, 1);
    assert_eq!(views[0].stats.inbytes, (40 + 58) as u64);
}

fn lab_views(c: &Control) -> Vec<ServiceView> {
    c.views()
}
fn lab_dest(v: &[ServiceView], key: ServiceKey) -> (u32, u32) {
    let s = v.iter().find(|s| s.spec.key == key).unwrap();
    (s.dests[0].active_conns, s.dests[0].inact_conns)
}

#[test]
fn rr_alternates_and_deleted_server_takes_no_new_connections() {
    let mut lab = Lab::new();
    let key = lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1), (RS2, 80, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(1, RS2, RS2_MAC);
    let mut seen = vec![];
    for p in 0..6 {
        let (_, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 41000 + p, 80, "S", b""));
        seen.push(field_ip(&out, 16));
    }
    // The kernel's list order: RS2, added last, at the head, first.
    assert_eq!(seen, vec![RS2, RS1, RS2, RS1, RS2, RS1]);
    lab.cmd(Command::DeleteDest(key, std::net::IpAddr::from(Ipv4Addr::from(RS2)), 80));
    for p in 0..4 {
        let (_, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 42000 + p, 80, "S", b""));
        assert_eq!(field_ip(&out, 16), RS1);
    }
    // An existing connection to the removed server (41000's) keeps flowing, as in IPVS.
    let (_, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 41000, 80, "A", b""));
    assert_eq!(field_ip(&out, 16), RS2);
}

#[test]
fn udp_nat_keeps_checksums_right_including_zero() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_UDP, 53, &[(RS1, 5353, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(0, CLIENT, CLIENT_MAC);
    let (v, out) = lab.feed(0, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5000, 53, b"hello"));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(l4_port(&out, 2), 5353);
    assert_checksums(&out);
    let mut zero = udp(RS1_MAC, IN_MAC, RS1, CLIENT, 5353, 5000, b"rs1");
    zero[14 + 20 + 6..14 + 20 + 8].fill(0);
    let (v, out) = lab.feed(1, &zero);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(&out[14 + 20 + 6..14 + 20 + 8], &[0, 0], "a UDP checksum of 0 stays 0");
    assert_eq!((field_ip(&out, 12), l4_port(&out, 0)), (VIP, 53));
    assert_checksums(&out);
    assert_eq!(lab.d.connections(lab.now)[0].state, "UDP");
}

#[test]
fn ttl_one_gets_time_exceeded() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(0, CLIENT, CLIENT_MAC);
    let (v, _) = lab.feed(0, &with_ttl(&tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40002, 80, "S", b""), 1));
    assert_eq!(v, Verdict::Drop(Reason::TtlExceeded));
    let (iface, icmp) = lab.tx.0.pop().unwrap();
    assert_eq!(iface, 0);
    assert_eq!(field_ip(&icmp, 16), CLIENT);
    assert_eq!(icmp[14 + 20], 11);
    assert_checksums(&icmp);
}

#[test]
fn echo_request_to_vip_and_director_is_answered() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1)]);
    for target in [VIP, DIR_OUT] {
        let (v, out) = lab.feed(0, &echo_to(target));
        assert_eq!(v, Verdict::Forward(0));
        assert_eq!(&out[0..6], &CLIENT_MAC);
        assert_eq!((field_ip(&out, 12), field_ip(&out, 16)), (target, CLIENT));
        assert_eq!(out[14 + 20], 0, "echo reply");
        assert_eq!(&out[out.len() - 5..], b"ping!");
        assert_checksums(&out);
    }
}

#[test]
fn icmp_error_from_real_server_is_translated_to_the_client() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_UDP, 53, &[(RS1, 5353, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(0, CLIENT, CLIENT_MAC);
    let (_, fwd) = lab.feed(0, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5001, 53, b"q"));
    // The real server says port unreachable, quoting what it received.
    let quoted = &fwd[14..];
    let err = icmp_error(RS1_MAC, IN_MAC, RS1, CLIENT, port_unreachable(), quoted);
    let (v, out) = lab.feed(1, &err);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!((field_ip(&out, 12), field_ip(&out, 16)), (VIP, CLIENT));
    let q = &out[14 + 20 + 8..];
    assert_eq!(&q[12..16], &CLIENT, "quoted source stays the client");
    assert_eq!(&q[16..20], &VIP, "quoted destination is the VIP again");
    assert_eq!(u16::from_be_bytes([q[22], q[23]]), 53);
    assert_checksums(&out);
    // Unrelated errors are counted and dropped.
    let stray = icmp_error(
        RS1_MAC,
        IN_MAC,
        RS1,
        CLIENT,
        port_unreachable(),
        &udp(CLIENT_MAC, OUT_MAC, CLIENT, RS1, 9, 9, b"x")[14..],
    );
    assert_eq!(lab.feed(1, &stray).0, Verdict::Drop(Reason::IcmpErrorUnrelated));
}

#[test]
fn new_syn_on_finished_connection_is_rescheduled() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1), (RS2, 80, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(1, RS2, RS2_MAC);
    lab.learn(0, CLIENT, CLIENT_MAC);
    let port = 43000;
    let (_, a) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port, 80, "S", b""));
    lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port, 80, "FA", b""));
    lab.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, CLIENT, 80, port, "FA", b""));
    assert_eq!(lab.d.connections(lab.now)[0].state, "TIME_WAIT");
    let (_, b) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port, 80, "S", b""));
    assert_ne!(field_ip(&a, 16), field_ip(&b, 16), "rr moves on for the reused port");
}

#[test]
fn non_syn_without_connection_and_unknown_service_are_dropped() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1)]);
    assert_eq!(lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1, 80, "A", b"")).0, Verdict::Drop(Reason::NotSyn));
    assert_eq!(
        lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1, 81, "S", b"")).0,
        Verdict::Drop(Reason::NoService)
    );
    assert_eq!(
        lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, DIR_OUT, 1, 22, "S", b"")).0,
        Verdict::Drop(Reason::LocalNoService)
    );
}

#[test]
fn malformed_frames_are_counted_never_panic() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1)]);
    let good = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b"");
    for cut in 0..good.len() {
        let (v, _) = lab.feed(0, &good[..cut]);
        assert!(matches!(v, Verdict::Drop(_) | Verdict::Consumed), "cut at {cut}: {v:?}");
    }
    let mut bad = good.clone();
    bad[14 + 10] ^= 0xff;
    assert_eq!(lab.feed(0, &bad).0, Verdict::Drop(Reason::IpChecksum));
    let mut frag = good.clone();
    frag[14 + 6] = 0x20; // MF
    frag[14 + 10..14 + 12].fill(0);
    let c = Checksum::new().add_bytes(&frag[14..34]).finish();
    frag[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    // MF on a 20-byte segment: a piece before the last must carry a multiple of 8 bytes.
    assert_eq!(lab.feed(0, &frag).0, Verdict::Drop(Reason::FragBad));
    let mut vlan = good.clone();
    vlan[12..14].copy_from_slice(&[0x81, 0]);
    assert_eq!(lab.feed(0, &vlan).0, Verdict::Drop(Reason::Vlan));
    // Random garbage with our MAC and IPv4 ethertype: any verdict, no panic.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..20_000 {
        let n = (x % 200) as usize;
        let mut f: Vec<u8> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if f.len() >= 14 {
            f[0..6].copy_from_slice(&OUT_MAC);
            f[12..14].copy_from_slice(if x & 1 == 0 { &[8, 0] } else { &[8, 6] });
            if f.len() > 14 && x & 2 == 0 {
                f[14] = 0x45;
            }
        }
        lab.feed((x & 1) as u8, &f);
    }
    assert!(lab.d.shared.counters.total(Reason::RxFrames) > 20_000);
}

#[test]
fn wrr_three_to_one_over_forty() {
    let mut lab = Lab::new();
    lab.nat_service("wrr", IPPROTO_TCP, 80, &[(RS1, 80, 3), (RS2, 80, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(1, RS2, RS2_MAC);
    let mut n1 = 0;
    for p in 0..40 {
        let (_, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 44000 + p, 80, "S", b""));
        if field_ip(&out, 16) == RS1 {
            n1 += 1;
        }
    }
    assert_eq!(n1, 30);
}

// ---------------------------------------------------------------- the other methods

#[test]
fn dr_rewrites_only_the_destination_mac() {
    let mut lab = Lab::new();
    lab.service("rr", 80, &[(RS1, 80, FwdMethod::Route)], &[]);
    lab.learn(1, RS1, RS1_MAC);
    let syn = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b"");
    let (v, out) = lab.feed(0, &syn);
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(&out[0..6], &RS1_MAC);
    assert_eq!(&out[6..12], &IN_MAC);
    assert_eq!(&out[12..], &syn[12..], "IP packet untouched, TTL included");
}

#[test]
fn tun_encapsulates_in_ipip() {
    let mut lab = Lab::new();
    lab.service("rr", 80, &[(RS1, 80, FwdMethod::Tunnel)], &[]);
    lab.learn(1, RS1, RS1_MAC);
    let syn = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b"hello");
    let (v, out) = lab.feed(0, &syn);
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(&out[0..6], &RS1_MAC);
    assert_eq!(out.len(), syn.len() + 20);
    assert_eq!(out[14 + 9], 4, "IPIP");
    assert_eq!((field_ip(&out, 12), field_ip(&out, 16)), (DIR_IN, RS1));
    assert_eq!(out[14 + 8], 64, "outer TTL copies the inner");
    assert_eq!(Checksum::new().add_bytes(&out[14..34]).finish(), 0, "outer header checksum");
    assert_eq!(&out[34..], &syn[14..], "inner packet untouched");
}

#[test]
fn tun_too_big_with_df_gets_frag_needed_and_without_df_is_fragmented() {
    let mut lab = Lab::new();
    lab.service("rr", 80, &[(RS1, 80, FwdMethod::Tunnel)], &[]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(0, CLIENT, CLIENT_MAC);
    lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b""));
    // A full-size segment: 1500 bytes of IP, DF set (etherparse sets DF).
    let big = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "A", &[7u8; 1460]);
    assert_eq!(big[14 + 6] & 0x40, 0x40);
    lab.tx.0.clear();
    let (v, _) = lab.feed(0, &big);
    assert_eq!(v, Verdict::Drop(Reason::TooBig));
    let (iface, icmp) = lab.tx.0.pop().expect("an ICMP error");
    assert_eq!(iface, 0);
    assert_eq!(field_ip(&icmp, 16), CLIENT);
    assert_eq!((icmp[34], icmp[35]), (3, 4), "destination unreachable, fragmentation needed");
    assert_eq!(u16::from_be_bytes([icmp[40], icmp[41]]), 1480, "next-hop MTU less the tunnel header");
    assert_eq!(&icmp[42 + 12..42 + 20], &big[14 + 12..14 + 20], "quotes the client's own packet");
    assert_checksums(&icmp);
    // Without DF the encapsulated packet leaves in fragments.
    let mut nodf = big.clone();
    nodf[14 + 6] = 0;
    nodf[14 + 10..14 + 12].fill(0);
    let c = Checksum::new().add_bytes(&nodf[14..34]).finish();
    nodf[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    lab.tx.0.clear();
    assert_eq!(lab.feed(0, &nodf).0, Verdict::Consumed);
    let frags: Vec<_> = lab.tx.0.iter().filter(|(i, _)| *i == 1).collect();
    assert_eq!(frags.len(), 2);
    let mut inner = Vec::new();
    for (k, (_, f)) in frags.iter().enumerate() {
        assert!(f.len() - 14 <= 1500);
        assert_eq!(Checksum::new().add_bytes(&f[14..34]).finish(), 0);
        let ff = u16::from_be_bytes([f[20], f[21]]);
        assert_eq!(ff & 0x2000 != 0, k == 0, "MF on all but the last");
        assert_eq!((ff & 0x1fff) as usize * 8, inner.len(), "offsets add up");
        inner.extend_from_slice(&f[34..]);
    }
    assert_eq!(&inner[..], &nodf[14..], "fragments reassemble to the inner packet");
}

#[test]
fn fullnat_round_trip_from_a_local_address() {
    let mut lab = Lab::new();
    let key = lab.service("rr", 80, &[(RS1, 8080, FwdMethod::FullNat)], &[LIP]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(0, CLIENT, CLIENT_MAC);
    // The director answers ARP for its local address on the real servers' side.
    let (v, _) = lab.feed(1, &arp(RS1_MAC, [0xff; 6], 1, RS1_MAC, RS1, [0; 6], LIP));
    assert_eq!(v, Verdict::Forward(1));
    let (v, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b""));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!((field_ip(&out, 12), field_ip(&out, 16)), (LIP, RS1));
    let lport = l4_port(&out, 0);
    assert_eq!(l4_port(&out, 2), 8080);
    assert!(lport >= 1024);
    assert_checksums(&out);
    let (v, back) = lab.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, LIP, 8080, lport, "SA", b""));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!((field_ip(&back, 12), field_ip(&back, 16)), (VIP, CLIENT));
    assert_eq!((l4_port(&back, 0), l4_port(&back, 2)), (80, 40000));
    assert_checksums(&back);
    let v = lab.ctl.views();
    let s = v.iter().find(|s| s.spec.key == key).unwrap();
    assert_eq!(s.dests[0].spec.fwd.list_name(), "FullNat");
    assert_eq!((s.laddrs[0].addr, s.laddrs[0].conns), (std::net::IpAddr::from(Ipv4Addr::from(LIP)), 1));
    // An ICMP error from the real server about our request goes to the client, translated.
    let err = icmp_error(RS1_MAC, IN_MAC, RS1, LIP, port_unreachable(), &out[14..]);
    let (v, e) = lab.feed(1, &err);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!((field_ip(&e, 12), field_ip(&e, 16)), (VIP, CLIENT));
    let q = &e[14 + 28..];
    assert_eq!((&q[12..16], &q[16..20]), (&CLIENT[..], &VIP[..]));
    assert_eq!((u16::from_be_bytes([q[20], q[21]]), u16::from_be_bytes([q[22], q[23]])), (40000, 80));
    assert_checksums(&e);
}

#[test]
fn fullnat_ports_never_collide_and_exhaustion_is_refused() {
    // Eight local ports in all, on the director's own inside address.
    let limits = Limits { fullnat_ports: (2000, 2007), workers: 1, ..small_limits(1024) };
    let mut lab = Lab::with_limits(interfaces(DIR_OUT, DIR_IN), limits);
    lab.service("rr", 80, &[(RS1, 80, FwdMethod::FullNat)], &[]);
    lab.learn(1, RS1, RS1_MAC);
    let mut ports = std::collections::HashSet::new();
    for p in 0..8 {
        let (v, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 41000 + p, 80, "S", b""));
        assert_eq!(v, Verdict::Forward(1));
        assert_eq!(field_ip(&out, 12), DIR_IN, "no pool: the director's own address");
        assert!(ports.insert(l4_port(&out, 0)), "a local port handed out twice");
    }
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 41100, 80, "S", b""));
    assert_eq!(v, Verdict::Drop(Reason::FullnatNoPort));
    // Expiry frees ports for new connections.
    lab.d.conns.expire(10_000_000, |_| {});
    lab.now = 10_000_000;
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 41101, 80, "S", b""));
    assert_eq!(v, Verdict::Forward(1));
}

// ---------------------------------------------------------------- persistence and marks

impl Lab {
    pub(super) fn persistent(&mut self, key: ServiceKey, secs: u32, mask: [u8; 4], rs: &[([u8; 4], u16)]) {
        let spec = ServiceSpec {
            persistent: Some(secs),
            netmask: std::net::IpAddr::from(Ipv4Addr::from(mask)),
            ..service_spec(key, "rr")
        };
        self.cmd(Command::AddService(spec));
        for &(a, p) in rs {
            self.cmd(Command::AddDest(key, dest_spec(a, p, FwdMethod::Masq, 1)));
        }
        self.learn(1, RS1, RS1_MAC);
        self.learn(1, RS2, RS2_MAC);
    }

    fn syn_from(&mut self, client: [u8; 4], sport: u16, dport: u16) -> [u8; 4] {
        let (v, out) = self.feed(0, &tcp(CLIENT_MAC, OUT_MAC, client, VIP, sport, dport, "S", b""));
        assert_eq!(v, Verdict::Forward(1), "SYN {client:?}:{sport} -> :{dport}");
        field_ip(&out, 16)
    }
}

#[test]
fn persistent_port_service_pins_each_client() {
    let mut lab = Lab::new();
    let key = tcp_vip(80);
    lab.persistent(key, 300, [255; 4], &[(RS1, 80), (RS2, 80)]);
    let a: Vec<_> = (0..5).map(|p| lab.syn_from(CLIENT, 50000 + p, 80)).collect();
    assert!(a.iter().all(|&x| x == a[0]), "one client sticks under rr: {a:?}");
    let other = lab.syn_from([198, 18, 0, 11], 50000, 80);
    assert_ne!(other, a[0], "the next client goes to the other server");
    let views = lab.d.connections(lab.now);
    let templates: Vec<_> = views.iter().filter(|c| c.state == "NONE").collect();
    assert_eq!(templates.len(), 2);
    assert_eq!((templates[0].cport, templates[0].vport), (0, 80));
    assert!((299..=300).contains(&templates[0].expires), "counts down from -p 300");
    let persist: u32 = lab.ctl.views()[0].dests.iter().map(|d| d.persist_conns).sum();
    assert_eq!(persist, 2, "PersistConn counts templates");
    let inact: u32 = lab.ctl.views()[0].dests.iter().map(|d| d.inact_conns).sum();
    assert_eq!(inact, 6, "templates are not connections");
}

#[test]
fn port_zero_service_pins_all_ports_and_netmask_groups_clients() {
    let mut lab = Lab::new();
    let key = tcp_vip(0);
    lab.persistent(key, 300, [255, 255, 255, 0], &[(RS1, 0), (RS2, 0)]);
    let first = lab.syn_from(CLIENT, 50000, 80);
    assert_eq!(lab.syn_from(CLIENT, 50001, 443), first, "PCC: every port of the VIP");
    assert_eq!(lab.syn_from([198, 18, 0, 77], 50002, 22), first, "-M 255.255.255.0: the whole /24");
    let (_, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 50003, 8443, "S", b""));
    assert_eq!(l4_port(&out, 2), 8443, "a port-0 real server keeps the client's port");
}

#[test]
fn fwmark_service_with_persistence_keeps_http_and_https_together() {
    let mut lab = Lab::new();
    lab.cmd(Command::AddMark(MarkRule {
        mark: 66,
        proto: IPPROTO_TCP,
        addr: std::net::IpAddr::from(Ipv4Addr::from(VIP)),
        prefix: 32,
        ports: vec![(80, 80), (443, 443)],
    }));
    lab.persistent(ServiceKey::Fwmark(66), 300, [255; 4], &[(RS1, 0), (RS2, 0)]);
    for c in 10..16u8 {
        let client = [198, 18, 0, c];
        let http = lab.syn_from(client, 40000, 80);
        let https = lab.syn_from(client, 40001, 443);
        assert_eq!(http, https, "client {c}: 80 and 443 on one server");
    }
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40002, 8080, "S", b""));
    assert_eq!(v, Verdict::Drop(Reason::NoService), "an unmarked port has no service");
    let t = lab.d.connections(lab.now).into_iter().find(|c| c.state == "NONE").unwrap();
    assert_eq!(
        (t.proto, t.vaddr, t.vport),
        (0, std::net::IpAddr::from(Ipv4Addr::new(0, 0, 0, 66)), 0),
        "PFWMC template as IPVS shows it"
    );
    // The VIP of a /32 mark rule is answered for.
    let (v, _) = lab.feed(0, &arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP));
    assert_eq!(v, Verdict::Forward(0));
}

#[test]
fn template_outlives_its_timeout_while_connections_live_and_dies_with_its_server() {
    let mut lab = Lab::new();
    let key = tcp_vip(80);
    lab.persistent(key, 10, [255; 4], &[(RS1, 80), (RS2, 80)]);
    let first = lab.syn_from(CLIENT, 50000, 80);
    // Established: the connection lives 900 s; the template's 10 s pass.
    lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 50000, 80, "A", b""));
    lab.now += 60_000;
    lab.d.conns.expire(lab.now, |_| {});
    assert_eq!(lab.d.connections(lab.now).iter().filter(|c| c.state == "NONE").count(), 1, "template kept");
    assert_eq!(lab.syn_from(CLIENT, 50001, 80), first, "still pinned");
    // Its server deleted: the client is scheduled afresh.
    let rs = if first == RS1 { RS1 } else { RS2 };
    lab.cmd(Command::DeleteDest(key, std::net::IpAddr::from(Ipv4Addr::from(rs)), 80));
    assert_ne!(lab.syn_from(CLIENT, 50002, 80), first);
}

#[test]
fn template_survives_clear_and_restore_of_its_server() {
    let mut lab = Lab::new();
    let key = tcp_vip(80);
    lab.persistent(key, 300, [255; 4], &[(RS1, 80), (RS2, 80)]);
    lab.syn_from(CLIENT, 50000, 80);
    let second = lab.syn_from([198, 18, 0, 11], 50000, 80);
    // `-C` then `-R` of the same rules, as `systemctl restart ipvsadm` does.
    let rules = lab.ctl.rules().clone();
    lab.cmd(Command::Clear);
    lab.ctl.sync(rules);
    lab.d.begin_batch();
    assert_eq!(lab.syn_from([198, 18, 0, 11], 50001, 80), second, "the client keeps its server");
    let persist: u32 = lab.ctl.views()[0].dests.iter().map(|d| d.persist_conns).sum();
    assert_eq!(persist, 1, "the revived template counts on the new server object");
}

/// The templates' table (`[dataplane] templates`) full of templates that
/// each place a connection: a new client of a persistent service is refused
/// and counted, as IPVS drops a packet it cannot make a template for; the
/// pinned clients go on; a template placing nothing makes room.
#[test]
fn a_full_template_table_refuses_a_new_client_counted_by_reason() {
    let limits = Limits { templates: 2, ..small_limits(64) };
    let mut lab = Lab::with_limits(interfaces(DIR_OUT, DIR_IN), limits);
    lab.persistent(tcp_vip(80), 300, [255; 4], &[(RS1, 80), (RS2, 80)]);
    let a = lab.syn_from(CLIENT, 40000, 80);
    let b = [198, 18, 0, 11];
    lab.syn_from(b, 40000, 80);
    let c = [198, 18, 0, 12];
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, c, VIP, 40000, 80, "S", b""));
    assert_eq!(v, Verdict::Drop(Reason::TemplateTableFull));
    let refused = lab.d.shared.counters.total(Reason::TemplateTableFull);
    println!(
        "templates' table of 2, both placing: client {c:?} refused ({refused} counted as {}); {} connections",
        Reason::TemplateTableFull.name(),
        lab.d.connection_count()
    );
    assert_eq!(refused, 1);
    assert_eq!(lab.d.connection_count(), 2, "nothing made for the refused client");
    assert_eq!(lab.syn_from(CLIENT, 40001, 80), a, "a pinned client goes on");
    // Client b's connection ends: its template, unconfirmed and placing nothing, makes room.
    let k = crate::ipvs::conn::FlowKey {
        saddr: u32::from_be_bytes(b),
        daddr: u32::from_be_bytes(VIP),
        sport: 40000,
        dport: 80,
        proto: 6,
    };
    let (id, _) = lab.d.conns.lookup(&k).unwrap();
    lab.d.conns.remove(id);
    lab.syn_from(c, 40000, 80);
    assert_eq!(lab.d.shared.counters.total(Reason::DroppedHalfOpen), 1, "b's template evicted");
    assert_eq!(lab.d.shared.counters.total(Reason::TemplateTableFull), 1);
    lab.d.conns.check_invariants().unwrap();
}

// ---------------------------------------------------------------- several poll loops

fn two_loop_director(worker: usize, shared: Arc<Shared>) -> Director {
    let ifaces = interfaces(DIR_OUT, DIR_IN);
    let routes = RouteTable::build(&ifaces, &[]).unwrap();
    let mut d =
        Director::new(worker, ifaces, routes, shared, Limits { connections: 1024, workers: 2, ..Limits::default() }, 0);
    d.begin_batch();
    d
}

#[test]
fn both_directions_of_a_connection_have_one_owner() {
    let mut lab = Lab::new();
    lab.service("rr", 80, &[(RS1, 8080, FwdMethod::Masq)], &[]);
    lab.service("rr", 81, &[(RS1, 8081, FwdMethod::FullNat)], &[LIP]);
    let shared = lab.d.shared().clone();
    let loops = [two_loop_director(0, shared.clone()), two_loop_director(1, shared)];
    let mut owners = [0usize; 2];
    for c in 0..64u8 {
        let client = [198, 18, 0, c];
        let req = tcp(CLIENT_MAC, OUT_MAC, client, VIP, 40000 + c as u16, 80, "S", b"");
        let rep = tcp(RS1_MAC, IN_MAC, RS1, client, 8080, 40000 + c as u16, "SA", b"");
        let of = |d: &Director, f: &[u8]| match d.owner(f, f.len()) {
            Owner::Me => d.worker,
            Owner::Loop(l) => l,
            Owner::All => usize::MAX,
        };
        let o = of(&loops[0], &req);
        assert_eq!(o, of(&loops[1], &req), "every loop agrees on the owner");
        assert_eq!(o, of(&loops[0], &rep), "the NAT reply goes where the request went");
        owners[o] += 1;
    }
    assert!(owners[0] > 10 && owners[1] > 10, "clients spread over the loops: {owners:?}");
    // FULLNAT: each loop allocates local ports of its own residue class.
    let mut fl = two_loop_director(1, lab.d.shared().clone());
    let _ = fl.neigh.resolve(1, ip(RS1), 0);
    let mut tx = Collect::default();
    let mut a = arp(RS1_MAC, IN_MAC, 2, RS1_MAC, RS1, IN_MAC, DIR_IN);
    let mut n = a.len();
    a.resize(2048, 0);
    fl.process(1, 1, &mut a, &mut n, &mut tx);
    for p in 0..8 {
        let mut f = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 41000 + p, 81, "S", b"");
        let mut n = f.len();
        f.resize(2048, 0);
        assert_eq!(fl.process(2, 0, &mut f, &mut n, &mut tx), Verdict::Forward(1));
        let lport = l4_port(&f[..n], 0);
        assert_eq!(lport % 2, 1, "loop 1 hands out odd local ports");
        let rep = tcp(RS1_MAC, IN_MAC, RS1, LIP, 8081, lport, "SA", b"");
        assert_eq!(loops[0].owner(&rep, rep.len()), Owner::Loop(1), "the reply is steered to loop 1");
    }
    let arp = arp(RS1_MAC, [0xff; 6], 1, RS1_MAC, RS1, [0; 6], DIR_IN);
    assert_eq!(loops[0].owner(&arp, arp.len()), Owner::All);
}

#[test]
fn persistence_netmask_keeps_a_group_in_one_loop() {
    let mut lab = Lab::new();
    let key = tcp_vip(80);
    lab.persistent(key, 300, [255, 255, 255, 0], &[(RS1, 80), (RS2, 80)]);
    let d = two_loop_director(0, lab.d.shared().clone());
    let owner = |c: u8| {
        let f = tcp(CLIENT_MAC, OUT_MAC, [198, 18, 0, c], VIP, 1000 + c as u16, 80, "S", b"");
        d.owner(&f, f.len())
    };
    let first = owner(1);
    assert!((2..=200).all(|c| owner(c) == first), "a -M /24 group lives in one loop");
}

#[test]
fn syn_flood_drops_half_open_entries_never_established_ones() {
    let mut lab = small_table_lab(8);
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    // A flood of SYNs from spoofed sources fills the table with half-open entries...
    for p in 0..50u16 {
        lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, [198, 18, 7, p as u8], VIP, 1000 + p, 80, "S", b""));
    }
    assert_eq!(lab.d.connection_count(), 8, "the table stays within its bound");
    // ...yet a real client still gets in.
    assert_eq!(lab.syn_from(CLIENT, 50000, 80), RS1);
    assert!(lab.d.shared.counters.total(Reason::DroppedHalfOpen) > 40);
    // Connections confirmed by two-way traffic and still busy are never the
    // victims: a full table of them refuses.
    lab.d.conns.clear();
    for p in 0..8u16 {
        let c = [198, 18, 8, p as u8];
        lab.syn_from(c, 2000 + p, 80);
        lab.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, c, 80, 2000 + p, "SA", b""));
        lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, c, VIP, 2000 + p, 80, "A", b""));
    }
    lab.now += 2_000;
    for p in 0..8u16 {
        let c = [198, 18, 8, p as u8];
        lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, c, VIP, 2000 + p, 80, "A", b"more"));
    }
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 50001, 80, "S", b""));
    assert_eq!(v, Verdict::Drop(Reason::ConnTableFull));
    assert!(lab.d.connections(lab.now).iter().all(|c| c.state == "ESTABLISHED"));
    lab.d.conns.check_invariants().unwrap();
}

/// A small table for the flood tests: 8 entries, a TCP and a UDP NAT service.
fn flood_lab() -> Lab {
    let mut lab = small_table_lab(8);
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1)]);
    lab.nat_service("rr", IPPROTO_UDP, 53, &[(RS1, 53, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab
}

/// A lab whose tables are the default's but for `connections` entries, started at 0.
fn small_table_lab(connections: usize) -> Lab {
    let mut lab = Lab::build(
        interfaces(DIR_OUT, DIR_IN),
        &[],
        Limits { connections, ..Limits::default() },
        Control::new(Arc::new(Shared::new())),
        0,
    );
    lab.now = 1000;
    lab
}

#[test]
fn udp_flood_with_replies_neither_holds_the_table_nor_lives_long() {
    let mut lab = flood_lab();
    // Spoofed datagrams, each answered by the real server: two-way, but the
    // "client" never speaks again, so nothing is confirmed.
    for p in 0..50u16 {
        let c = [198, 18, 9, p as u8];
        lab.feed(0, &udp(CLIENT_MAC, OUT_MAC, c, VIP, 3000 + p, 53, b"q"));
        lab.feed(1, &udp(RS1_MAC, IN_MAC, RS1, c, 53, 3000 + p, b"a"));
        lab.d.conns.check_invariants().unwrap();
    }
    assert_eq!(lab.d.connection_count(), 8);
    assert!(lab.d.connections(lab.now).iter().all(|c| c.expires <= 10), "unconfirmed UDP lives 10 s under pressure");
    assert_eq!(lab.syn_from(CLIENT, 50000, 80), RS1, "a TCP client gets in");
    assert!(lab.d.shared.counters.total(Reason::DroppedHalfOpen) >= 43);
    assert_eq!(lab.d.shared.counters.total(Reason::ConnTableFull), 0);
    // The flood's entries expire at their shortened time.
    lab.now += 11_000;
    lab.d.conns.expire(lab.now, |_| {});
    assert_eq!(lab.d.connection_count(), 0, "the SYN_RECV entry too (10 s under pressure)");
    lab.d.conns.check_invariants().unwrap();
}

#[test]
fn blind_tcp_pairs_never_hold_the_table() {
    for second in ["FA", "A", "R", "F"] {
        let mut lab = flood_lab();
        for p in 0..40u16 {
            let c = [198, 18, 10, p as u8];
            lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, c, VIP, 4000 + p, 80, "S", b""));
            // the real server answers the SYN it saw, then retransmits it
            lab.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, c, 80, 4000 + p, "SA", b""));
            lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, c, VIP, 4000 + p, 80, second, b""));
            lab.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, c, 80, 4000 + p, "SA", b""));
        }
        assert!(lab.d.connection_count() <= 8);
        assert_eq!(lab.syn_from(CLIENT, 50000, 80), RS1, "SYN then {second}: a real client gets in");
        lab.d.conns.check_invariants().unwrap();
    }
}

#[test]
fn persistent_service_under_a_flood_keeps_its_counts_and_a_live_client_pinned() {
    let mut lab = small_table_lab(16);
    let key = tcp_vip(80);
    lab.persistent(key, 300, [255; 4], &[(RS1, 80), (RS2, 80)]);
    // A real client, confirmed: the server's reply, then still talking 2 s on.
    let rs = lab.syn_from(CLIENT, 40000, 80);
    let rs_mac = if rs == RS1 { RS1_MAC } else { RS2_MAC };
    lab.feed(1, &tcp(rs_mac, IN_MAC, rs, CLIENT, 80, 40000, "SA", b""));
    lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "A", b""));
    lab.now += 2_000;
    lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "A", b"GET"));
    // A SYN flood: each spoofed source costs a template and a connection.
    for p in 0..100u16 {
        lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, [198, 18, 11, p as u8], VIP, 5000 + p, 80, "S", b""));
        lab.d.conns.check_invariants().unwrap();
        let views = lab.d.connections(lab.now);
        let templates = views.iter().filter(|c| c.cport == 0).count() as u32;
        let dests = &lab.ctl.views()[0].dests;
        assert_eq!(dests.iter().map(|d| d.persist_conns).sum::<u32>(), templates, "PersistConn follows evictions");
        assert_eq!(
            dests.iter().map(|d| d.active_conns + d.inact_conns).sum::<u32>(),
            views.len() as u32 - templates,
            "ActiveConn + InActConn follow evictions"
        );
    }
    assert!(lab.d.connection_count() <= 16);
    assert!(lab.d.shared.counters.total(Reason::DroppedHalfOpen) > 80);
    let live = lab.d.connections(lab.now);
    assert!(live.iter().any(|c| c.cport == 40000 && c.state == "ESTABLISHED"), "the confirmed connection stays");
    assert_eq!(lab.syn_from(CLIENT, 40001, 80), rs, "and its template still pins the client");
}

// ---------------------------------------------------------------- L4 lengths that lie (issue 10, item 6)

#[test]
fn l4_headers_whose_lengths_lie_are_dropped_and_create_nothing() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1)]);
    lab.nat_service("rr", IPPROTO_UDP, 5353, &[(RS1, 5353, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    let l4 = 14 + 20;
    // TCP data offset 15 (60 bytes of header) in a 20-byte segment, and 4 (below the minimum).
    for doff in [15u8, 4, 0] {
        let mut syn = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40101, 80, "S", b"");
        syn[l4 + 12] = doff << 4;
        assert_eq!(lab.feed(0, &syn).0, Verdict::Drop(Reason::TcpBadDataOffset), "data offset {doff}");
    }
    // UDP length 300 in a 12-byte datagram, 0 (a jumbogram's, IPv6 only), and 7.
    for udp_len in [300u16, 0, 7, 13] {
        let mut d = udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40102, 5353, b"four");
        d[l4 + 4..l4 + 6].copy_from_slice(&udp_len.to_be_bytes());
        assert_eq!(lab.feed(0, &d).0, Verdict::Drop(Reason::UdpBadLength), "UDP length {udp_len}");
    }
    assert_eq!(lab.d.connection_count(), 0, "no entry for any of them");
    assert_eq!(lab.d.shared.counters.total(Reason::TcpBadDataOffset), 3);
    assert_eq!(lab.d.shared.counters.total(Reason::UdpBadLength), 4);
    // Honest ones still pass.
    let (v, _) = lab.feed(0, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40103, 5353, b"four"));
    assert_eq!(v, Verdict::Forward(1));
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40104, 80, "S", b""));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(lab.d.connection_count(), 2);
}

// ---------------------------------------------------------------- replies from the wrong side (issue 10, item 7)

#[test]
fn nat_reply_is_accepted_only_from_the_real_servers_side_and_next_hop() {
    const STRANGER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x66];
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 8080, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(0, CLIENT, CLIENT_MAC);
    lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "S", b""));
    lab.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, CLIENT, 8080, 40001, "SA", b""));
    lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "A", b""));
    assert_eq!(lab.d.connections(lab.now)[0].state, "ESTABLISHED");
    let sent_before = lab.tx.0.len();
    // The real server's address and port, forged on the client's side.
    let forged = tcp(CLIENT_MAC, OUT_MAC, RS1, CLIENT, 8080, 40001, "R", b"");
    assert_eq!(lab.feed(0, &forged).0, Verdict::Drop(Reason::ReplyWrongInterface));
    // The right interface but not the real server's MAC.
    let stranger = tcp(STRANGER_MAC, IN_MAC, RS1, CLIENT, 8080, 40001, "R", b"");
    assert_eq!(lab.feed(1, &stranger).0, Verdict::Drop(Reason::ReplyWrongNeighbour));
    assert_eq!(lab.d.connections(lab.now)[0].state, "ESTABLISHED", "the entry is untouched");
    assert_eq!(lab.tx.0.len(), sent_before, "nothing sent on their behalf");
    assert_eq!(lab.d.shared.counters.total(Reason::ReplyWrongInterface), 1);
    assert_eq!(lab.d.shared.counters.total(Reason::ReplyWrongNeighbour), 1);
    // The real server's own reply still goes through.
    let (v, out) = lab.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, CLIENT, 8080, 40001, "A", b"data"));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(field_ip(&out, 12), VIP);
    // An ICMP error about the reply direction, forged on the client's side, is refused too.
    let quoted = tcp(CLIENT_MAC, OUT_MAC, CLIENT, RS1, 40001, 8080, "A", b"");
    let err = icmp_error(CLIENT_MAC, OUT_MAC, RS1, CLIENT, port_unreachable(), &quoted[14..]);
    assert_eq!(lab.feed(0, &err).0, Verdict::Drop(Reason::ReplyWrongInterface));
    assert_eq!(lab.d.connections(lab.now)[0].state, "ESTABLISHED");
}

#[test]
fn reply_before_the_next_hop_is_resolved_is_judged_by_interface_alone() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_UDP, 5353, &[(RS1, 5353, 1)]);
    // The request is held for ARP: the real server's MAC is not known yet.
    let (v, _) = lab.feed(0, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 5353, b"q"));
    assert_eq!(v, Verdict::Consumed);
    assert_eq!(lab.d.connection_count(), 1);
    let reply = udp(RS1_MAC, IN_MAC, RS1, CLIENT, 5353, 40001, b"a");
    let (v, _) = lab.feed(1, &reply);
    assert_ne!(v, Verdict::Drop(Reason::ReplyWrongNeighbour));
    assert_ne!(v, Verdict::Drop(Reason::ReplyWrongInterface));
    let forged = udp(CLIENT_MAC, OUT_MAC, RS1, CLIENT, 5353, 40001, b"a");
    assert_eq!(lab.feed(0, &forged).0, Verdict::Drop(Reason::ReplyWrongInterface));
}

#[test]
fn fullnat_reply_is_accepted_only_from_the_real_servers_side() {
    let mut lab = Lab::new();
    lab.service("rr", 80, &[(RS1, 8080, FwdMethod::FullNat)], &[LIP]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(0, CLIENT, CLIENT_MAC);
    let (_, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b""));
    let lport = l4_port(&out, 0);
    let state = lab.d.connections(lab.now)[0].state.clone();
    let forged = tcp(CLIENT_MAC, OUT_MAC, RS1, LIP, 8080, lport, "R", b"");
    assert_eq!(lab.feed(0, &forged).0, Verdict::Drop(Reason::ReplyWrongInterface));
    assert_eq!(lab.d.connections(lab.now)[0].state, state, "the entry is untouched");
    let (v, back) = lab.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, LIP, 8080, lport, "SA", b""));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!((field_ip(&back, 12), field_ip(&back, 16)), (VIP, CLIENT));
}

#[test]
fn dr_and_tun_are_not_judged_as_replies() {
    let mut lab = Lab::new();
    lab.service("rr", 80, &[(RS1, 80, FwdMethod::Route)], &[]);
    lab.learn(1, RS1, RS1_MAC);
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b""));
    assert_eq!(v, Verdict::Forward(1));
    // The client's next packets arrive on its own side: requests, never replies.
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "A", b"x"));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(lab.d.shared.counters.total(Reason::ReplyWrongInterface), 0);
}

// ---- HA role: master answers for the VIPs, backup stays silent ----

/// An inside gateway address the NAT real servers route through: a VIP without a service.
const GW_VIP: [u8; 4] = [198, 18, 1, 254];

/// A director started (not switched) in `role`, with a NAT service on VIP and
/// GW_VIP listed in the inside interface's vips, sharing the lab's rules.
fn lab_started_as(role: super::role::Role) -> Lab {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1)]);
    let mut ifaces = lab.d.ifaces.clone();
    ifaces.0[1].vips.push(ip(GW_VIP));
    let routes = RouteTable::build(&ifaces, &[]).unwrap();
    let shared = lab.d.shared().clone();
    shared.ha.set_role(role);
    lab.d = Director::new(0, ifaces, routes, shared, small_limits(1024), lab.now);
    lab
}

fn echo_to(dst: [u8; 4]) -> Vec<u8> {
    echo_request(CLIENT_MAC, OUT_MAC, CLIENT, dst, 7, 1, b"ping!")
}

fn garps(tx: &Collect) -> Vec<(IfaceId, u32)> {
    tx.0.iter()
        .filter(|(_, f)| f[12..14] == [8, 6])
        .filter_map(|(i, f)| {
            let p = crate::wire::arp::Packet::new_checked(&f[14..])?;
            (p.op() == 1 && p.sender_ip() == p.target_ip() && f[0..6] == [0xff; 6]).then(|| (*i, p.target_ip()))
        })
        .collect()
}

#[test]
fn backup_ignores_arp_ping_and_tcp_for_vips_but_answers_for_its_own_addresses() {
    let mut lab = lab_started_as(super::role::Role::Backup);
    assert!(lab.d.is_backup());
    let silent = lab.d.shared().counters.total(Reason::BackupRole);
    // ARP for the service VIP (outside) and the gateway VIP (inside): no answer.
    let (v, _) = lab.feed(0, &arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP));
    assert_eq!(v, Verdict::Drop(Reason::BackupRole));
    let (v, _) = lab.feed(1, &arp(RS1_MAC, [0xff; 6], 1, RS1_MAC, RS1, [0; 6], GW_VIP));
    assert_eq!(v, Verdict::Drop(Reason::BackupRole));
    // Ping and a SYN to the VIP: nothing forwarded, nothing sent.
    let (v, _) = lab.feed(0, &echo_to(VIP));
    assert_eq!(v, Verdict::Drop(Reason::BackupRole));
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b""));
    assert_eq!(v, Verdict::Drop(Reason::BackupRole));
    assert_eq!(lab.d.connection_count(), 0);
    // No gratuitous ARP from a backup, however long it runs.
    for t in 0..20 {
        lab.d.tick(10_000 + t * 1000, &mut lab.tx);
    }
    assert!(lab.tx.0.is_empty(), "a backup sends nothing: {:?}", lab.tx.0);
    let dropped = lab.d.shared().counters.total(Reason::BackupRole) - silent;
    println!("backup: {dropped} frames counted as drop-backup-role");
    assert_eq!(dropped, 4);
    // Its own addresses are per box: answered in both roles.
    let (v, out) = lab.feed(0, &arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], DIR_OUT));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(crate::wire::arp::Packet::new_checked(&out[14..]).unwrap().sender_ip(), ip(DIR_OUT));
    let (v, _) = lab.feed(1, &arp(RS1_MAC, [0xff; 6], 1, RS1_MAC, RS1, [0; 6], DIR_IN));
    assert_eq!(v, Verdict::Forward(1));
    let (v, _) = lab.feed(0, &echo_to(DIR_OUT));
    assert_eq!(v, Verdict::Forward(0));
}

#[test]
fn switching_to_master_announces_each_vip_repeat_times_per_interface_then_back_to_backup_is_silent() {
    use super::role::Role;
    let mut lab = lab_started_as(Role::Backup);
    let repeat = 3;
    lab.d.shared().ha.set_garp(repeat, 0, 0);
    lab.d.tick(10_000, &mut lab.tx);
    assert!(garps(&lab.tx).is_empty());

    lab.d.shared().ha.set_role(Role::Master);
    lab.d.begin_batch();
    assert!(!lab.d.is_backup());
    // The first pass after the switch, not the next 200 ms tick, starts announcing.
    let mut passes = 0;
    for t in 0..10 {
        lab.d.tick(10_001 + t, &mut lab.tx);
        passes += 1;
        if lab.d.garp_owed.is_empty() {
            break;
        }
    }
    let g = garps(&lab.tx);
    let count = |iface: IfaceId, vip: [u8; 4]| g.iter().filter(|&&x| x == (iface, ip(vip))).count();
    println!(
        "master: {} gratuitous ARPs in {passes} passes: VIP out {}, VIP in {}, gateway VIP in {}, gateway VIP out {}",
        g.len(),
        count(0, VIP),
        count(1, VIP),
        count(1, GW_VIP),
        count(0, GW_VIP)
    );
    // The service VIP routes out of "out"; the gateway VIP is listed on "in".
    assert_eq!(count(0, VIP), repeat as usize);
    assert_eq!(count(1, GW_VIP), repeat as usize);
    assert_eq!(g.len(), 2 * repeat as usize, "no GARP on an interface that does not answer for the VIP");
    assert_eq!(lab.d.shared().counters.total(Reason::GarpSent), 2 * repeat as u64);
    // Nothing more while master without a refresh.
    lab.tx.0.clear();
    for t in 0..20 {
        lab.d.tick(20_000 + t * 1000, &mut lab.tx);
    }
    assert!(garps(&lab.tx).is_empty());
    // Now it answers and forwards.
    let (v, _) = lab.feed(0, &arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP));
    assert_eq!(v, Verdict::Forward(0));
    let (v, _) = lab.feed(1, &arp(RS1_MAC, [0xff; 6], 1, RS1_MAC, RS1, [0; 6], GW_VIP));
    assert_eq!(v, Verdict::Forward(1));
    let (v, _) = lab.feed(0, &echo_to(VIP));
    assert_eq!(v, Verdict::Forward(0));
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "S", b""));
    assert_ne!(v, Verdict::Drop(Reason::BackupRole));
    assert_eq!(lab.d.connection_count(), 1);

    // Back to backup: silent from the next batch, even for the connection it has.
    lab.d.shared().ha.set_role(Role::Backup);
    lab.d.begin_batch();
    lab.tx.0.clear();
    let (v, _) = lab.feed(0, &arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP));
    assert_eq!(v, Verdict::Drop(Reason::BackupRole));
    let (v, _) = lab.feed(0, &echo_to(VIP));
    assert_eq!(v, Verdict::Drop(Reason::BackupRole));
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "A", b"x"));
    assert_eq!(v, Verdict::Drop(Reason::BackupRole));
    for t in 0..10 {
        lab.d.tick(40_000 + t * 1000, &mut lab.tx);
    }
    // It may still resolve its own next hops (from its own address), nothing else.
    let own = |f: &Vec<u8>| f[12..14] == [8, 6] && field_ip(f, 14) == DIR_IN;
    assert!(lab.tx.0.iter().all(|(_, f)| own(f)), "a backup sends nothing for the VIPs: {:?}", lab.tx.0);
    // The SYN held for the real server's MAC while master is not released now.
    let (v, _) = lab.feed(1, &arp(RS1_MAC, IN_MAC, 2, RS1_MAC, RS1, IN_MAC, DIR_IN));
    assert_eq!(v, Verdict::Consumed);
    assert!(lab.tx.0.iter().all(|(_, f)| own(f)), "held frame released by a backup: {:?}", lab.tx.0);
}

#[test]
fn master_refreshes_gratuitous_arp_every_period_and_only_loop_zero_announces() {
    use super::role::Role;
    let mut lab = lab_started_as(Role::Master);
    lab.d.shared().ha.set_garp(2, 5, 0);
    lab.d.tick(10_000, &mut lab.tx);
    lab.d.tick(10_001, &mut lab.tx);
    assert_eq!(garps(&lab.tx).len(), 2 * 2, "the start burst: 2 VIPs x 2");
    lab.tx.0.clear();
    // 30 s of ticks: one round per 5 s.
    for t in 1..=150 {
        lab.d.tick(10_001 + t * 200, &mut lab.tx);
    }
    let n = garps(&lab.tx).len();
    println!("refresh every 5 s over 30 s: {n} gratuitous ARPs (2 VIPs)");
    assert_eq!(n, 2 * 6);
    // Another loop of the same director never announces.
    let shared = lab.d.shared().clone();
    let ifaces = lab.d.ifaces.clone();
    let routes = RouteTable::build(&ifaces, &[]).unwrap();
    let mut other = Director::new(1, ifaces, routes, shared, Limits { workers: 2, ..Limits::default() }, 0);
    let mut tx = Collect::default();
    for t in 0..50 {
        other.tick(10_000 + t * 1000, &mut tx);
    }
    assert!(garps(&tx).is_empty());
}

#[test]
fn garp_master_delay_sends_a_second_round_once_per_term() {
    use super::role::Role;
    let mut lab = lab_started_as(Role::Backup);
    lab.d.shared().ha.set_garp(2, 0, 5);
    lab.d.shared().ha.set_role(Role::Master);
    lab.d.begin_batch();
    lab.d.tick(10_000, &mut lab.tx);
    lab.d.tick(10_001, &mut lab.tx);
    assert_eq!(garps(&lab.tx).len(), 2 * 2, "the takeover burst: 2 VIPs x 2");
    lab.tx.0.clear();
    for t in 1..=20 {
        lab.d.tick(10_001 + t * 200, &mut lab.tx);
    }
    assert!(garps(&lab.tx).is_empty(), "nothing before the delay");
    for t in 21..=30 {
        lab.d.tick(10_001 + t * 200, &mut lab.tx);
    }
    assert_eq!(garps(&lab.tx).len(), 2 * 2, "the delayed round, 5 s in");
    lab.tx.0.clear();
    for t in 31..=200 {
        lab.d.tick(10_001 + t * 200, &mut lab.tx);
    }
    assert!(garps(&lab.tx).is_empty(), "once per term");
    // A new term (master again) has its own delayed round.
    lab.d.shared().ha.set_role(Role::Master);
    lab.d.begin_batch();
    for t in 0..=30 {
        lab.d.tick(60_000 + t * 200, &mut lab.tx);
    }
    assert_eq!(garps(&lab.tx).len(), 2 * 2 * 2);
}

#[path = "tests_sync.rs"]
mod sync_tests;

#[path = "tests_sysctl.rs"]
mod sysctl_tests;

/// rr's position is the loop's own (lb.rs): it survives a change of another service (a new
/// rule table), and a change of its own servers moves it as the kernel's rr moves its
/// sched_data: kept on an add or an edit, to the server before a deleted one.
#[test]
fn rr_position_follows_the_kernel_across_rule_changes() {
    let mut lab = Lab::new();
    let key = lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1), (RS2, 80, 1)]);
    for (rs, mac) in [(RS1, RS1_MAC), (RS2, RS2_MAC), (RS3, RS3_MAC)] {
        lab.learn(1, rs, mac);
    }
    let syn = |lab: &mut Lab, port: u16| {
        let (_, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port, 80, "S", b""));
        field_ip(&out, 16)
    };
    // The list: RS2, RS1.
    assert_eq!(syn(&mut lab, 43000), RS2);
    // Another service: a new rule table, this service's runtime unchanged.
    lab.nat_service("rr", IPPROTO_TCP, 8080, &[(RS1, 80, 1)]);
    assert_eq!(syn(&mut lab, 43001), RS1, "the rotation goes on");
    // RS3 added at the head (RS3, RS2, RS1): the place stays on RS1, so the head is next.
    lab.cmd(Command::AddDest(key, dest_spec(RS3, 80, FwdMethod::Masq, 1)));
    assert_eq!(syn(&mut lab, 43002), RS3, "after an add, on from where it was");
    assert_eq!(syn(&mut lab, 43003), RS2);
    // The server it stands on deleted: the place moves to the one before it (RS3).
    lab.cmd(Command::DeleteDest(key, std::net::IpAddr::from(Ipv4Addr::from(RS2)), 80));
    assert_eq!(syn(&mut lab, 43004), RS1, "after a delete, from the server before the deleted one");
    // An edit (a weight) keeps the place too.
    lab.cmd(Command::EditDest(key, dest_spec(RS3, 80, FwdMethod::Masq, 2)));
    assert_eq!(syn(&mut lab, 43005), RS3, "after an edit, on from where it was");
    // Another scheduler: a new start at the head.
    lab.cmd(Command::EditService(crate::testkit::service_spec(key, "wrr")));
    assert_eq!(syn(&mut lab, 43006), RS3, "wrr starts at the head, the heaviest");
}

/// wrr keeps its current weight across a change of its servers (ip_vs_wrr_dest_changed),
/// where restarting the cycle would begin again at the heaviest server: seed 003's
/// `-E -s wrr`, then `-e -w 3` on one server.
#[test]
fn wrr_keeps_its_current_weight_across_an_edit() {
    let mut lab = Lab::new();
    let key = lab.nat_service("wrr", IPPROTO_TCP, 80, &[(RS1, 80, 1), (RS2, 80, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(1, RS2, RS2_MAC);
    let syn = |lab: &mut Lab, port: u16| {
        let (_, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port, 80, "S", b""));
        field_ip(&out, 16)
    };
    assert_eq!(syn(&mut lab, 44000), RS2, "the head of the list: RS2, added last");
    lab.cmd(Command::EditDest(key, dest_spec(RS1, 80, FwdMethod::Masq, 3)));
    // cw stays 1 (within the new maximum 3), the place goes to the head: RS2 (weight 1 >= 1)
    // next, then RS1; then cw wraps to 3: RS1 alone, three times in a cycle.
    let seq: Vec<_> = (1..=6).map(|i| syn(&mut lab, 44000 + i)).collect();
    assert_eq!(seq, vec![RS2, RS1, RS1, RS1, RS2, RS1]);
}
