//! SCTP services through the pipeline: associations set up and torn down
//! through NAT, DR, TUN and FULLNAT with every CRC32c checked by full
//! recomputation, IPVS's state names and counts along the way, what may
//! open a connection (INIT; sloppy_sctp), and malformed packets counted.

use super::*;
use crate::api::command::Command;
use crate::api::MarkRule;
use crate::api::*;
use crate::ipvs::sysctl::Sysctl;
use crate::testkit::frames::*;
use crate::testkit::inspect::*;
use crate::testkit::*;
use crate::wire::ip_protocol::IPPROTO_SCTP;
use crate::wire::sctp::chunk::*;
use std::net::Ipv4Addr;

const VPORT: u16 = 9;
const RPORT: u16 = 3868;

fn sctp_key() -> ServiceKey {
    ServiceKey::Addr { proto: IPPROTO_SCTP, addr: std::net::IpAddr::from(Ipv4Addr::from(VIP)), port: VPORT }
}

impl Lab {
    /// SCTP `VIP:9` by rr over real servers (address, method) on port 3868.
    fn sctp_service(&mut self, rs: &[([u8; 4], FwdMethod)], laddrs: &[[u8; 4]]) -> ServiceKey {
        let key = sctp_key();
        self.cmd(Command::AddService(service_spec(key, "rr")));
        for &(a, fwd) in rs {
            self.cmd(Command::AddDest(key, dest_spec(a, RPORT, fwd, 1)));
        }
        for &l in laddrs {
            self.cmd(Command::AddLaddr(key, std::net::IpAddr::from(Ipv4Addr::from(l))));
        }
        self.learn(1, RS1, RS1_MAC);
        self.learn(1, RS2, RS2_MAC);
        self.learn(0, CLIENT, CLIENT_MAC);
        key
    }

    /// A client chunk to the VIP from port `cport`.
    fn client_sends(&mut self, cport: u16, kind: u8, value: &[u8]) -> (Verdict, Vec<u8>) {
        let f = sctp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, cport, VPORT, 7, &[(kind, 0, value)]);
        self.feed(0, &f)
    }

    /// A chunk from real server `rs` (its port 3868) to `to:port`.
    fn server_sends(&mut self, rs: [u8; 4], to: [u8; 4], port: u16, kind: u8) -> (Verdict, Vec<u8>) {
        let mac = if rs == RS1 { RS1_MAC } else { RS2_MAC };
        let f = sctp(mac, IN_MAC, rs, to, RPORT, port, 9, &[(kind, 0, &[])]);
        self.feed(1, &f)
    }

    fn state(&self) -> String {
        let c = self.d.connections(self.now);
        assert_eq!(c.len(), 1, "one association");
        c[0].state.clone()
    }

    fn counts(&self, key: ServiceKey) -> (u32, u32) {
        let v = self.ctl.views();
        let s = v.iter().find(|s| s.spec.key == key).expect("the service");
        s.dests.iter().fold((0, 0), |(a, i), d| (a + d.active_conns, i + d.inact_conns))
    }
}

/// An INIT's value: initiate tag, a_rwnd, streams, initial TSN.
const INIT_VALUE: &[u8] = &[0, 0, 0, 7, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1];

#[test]
fn nat_association_up_and_down_with_crc_and_states() {
    let mut lab = Lab::new();
    let key = lab.sctp_service(&[(RS1, FwdMethod::Masq)], &[]);
    let (v, out) = lab.client_sends(40000, INIT, INIT_VALUE);
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!((field_ip(&out, 12), field_ip(&out, 16)), (CLIENT, RS1));
    assert_eq!((l4_port(&out, 0), l4_port(&out, 2)), (40000, RPORT));
    assert_checksums(&out);
    assert_eq!(out[14 + 20 + 12], INIT, "the chunks travel unchanged");
    assert_eq!((lab.state(), lab.counts(key)), ("INIT1".into(), (0, 1)));

    let (v, back) = lab.server_sends(RS1, CLIENT, 40000, INIT_ACK);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!((field_ip(&back, 12), field_ip(&back, 16)), (VIP, CLIENT));
    assert_eq!((l4_port(&back, 0), l4_port(&back, 2)), (VPORT, 40000));
    assert_checksums(&back);
    assert_eq!(lab.state(), "C-SENT");

    assert_eq!(lab.client_sends(40000, COOKIE_ECHO, b"cookie").0, Verdict::Forward(1));
    assert_eq!(lab.state(), "C-REPLIED");
    assert_eq!(lab.server_sends(RS1, CLIENT, 40000, COOKIE_ACK).0, Verdict::Forward(0));
    assert_eq!((lab.state(), lab.counts(key)), ("ESTABLISHED".into(), (1, 0)));
    assert_eq!(lab.d.connections(lab.now)[0].expires, 900, "15 minutes whatever --set tcp says");

    let (v, data) = lab.client_sends(40000, DATA, &[0u8; 333]);
    assert_eq!(v, Verdict::Forward(1));
    assert_checksums(&data);
    assert_eq!(lab.server_sends(RS1, CLIENT, 40000, SACK).0, Verdict::Forward(0));

    assert_eq!(lab.client_sends(40000, SHUTDOWN, &[0, 0, 0, 1]).0, Verdict::Forward(1));
    assert_eq!((lab.state(), lab.counts(key)), ("S-RECEIVED".into(), (0, 1)));
    assert_eq!(lab.server_sends(RS1, CLIENT, 40000, SHUTDOWN_ACK).0, Verdict::Forward(0));
    assert_eq!(lab.state(), "S-ACK-SENT");
    assert_eq!(lab.client_sends(40000, SHUTDOWN_COMPLETE, &[]).0, Verdict::Forward(1));
    assert_eq!(lab.state(), "CLOSED");
    assert_eq!(lab.d.connections(lab.now)[0].expires, 61);
    let v = lab.ctl.views();
    assert_eq!((v[0].stats.conns, v[0].stats.inpkts, v[0].stats.outpkts), (1, 5, 4));
}

#[test]
fn rr_alternates_and_an_init_on_a_closed_association_is_scheduled_afresh() {
    let mut lab = Lab::new();
    lab.sctp_service(&[(RS1, FwdMethod::Masq), (RS2, FwdMethod::Masq)], &[]);
    let seen: Vec<_> = (0..4).map(|p| field_ip(&lab.client_sends(41000 + p, INIT, INIT_VALUE).1, 16)).collect();
    assert_eq!(seen, [RS2, RS1, RS2, RS1]);
    // Port 41000's association (on RS2) ends; its next INIT is a new connection.
    lab.client_sends(41000, ABORT, &[]);
    let c = lab.d.connections(lab.now);
    assert_eq!(c.iter().find(|c| c.cport == 41000).map(|c| c.state.as_str()), Some("CLOSED"));
    let (v, out) = lab.client_sends(41000, INIT, INIT_VALUE);
    assert_eq!((v, field_ip(&out, 16)), (Verdict::Forward(1), RS2));
    let c = lab.d.connections(lab.now);
    assert_eq!(c.iter().find(|c| c.cport == 41000).map(|c| c.state.as_str()), Some("INIT1"));
    assert_eq!(lab.ctl.views()[0].stats.conns, 5);
}

#[test]
fn only_an_init_opens_unless_sloppy_sctp() {
    let mut lab = Lab::new();
    lab.sctp_service(&[(RS1, FwdMethod::Masq)], &[]);
    for kind in [DATA, COOKIE_ECHO, ABORT, HEARTBEAT] {
        assert_eq!(lab.client_sends(40000, kind, &[0; 4]).0, Verdict::Drop(Reason::SctpNotInit));
    }
    assert_eq!(lab.d.shared.counters.total(Reason::SctpNotInit), 4);
    assert!(lab.d.connections(lab.now).is_empty());
    lab.d.shared.sysctl.set(Sysctl::SloppySctp, 1);
    lab.d.begin_batch();
    assert_eq!(lab.client_sends(40000, ABORT, &[]).0, Verdict::Drop(Reason::SctpNotInit), "never an ABORT");
    // A DATA chunk mid-association: picked up, established at once and counted active.
    assert_eq!(lab.client_sends(40000, DATA, &[0; 8]).0, Verdict::Forward(1));
    assert_eq!((lab.state(), lab.counts(sctp_key())), ("ESTABLISHED".into(), (1, 0)));
}

#[test]
fn malformed_sctp_is_counted_and_dropped() {
    let mut lab = Lab::new();
    lab.sctp_service(&[(RS1, FwdMethod::Masq)], &[]);
    let good = sctp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, VPORT, 0, &[(INIT, 0, INIT_VALUE)]);
    let l4 = 14 + 20;
    // The CRC: one payload bit flipped.
    let mut bad = good.clone();
    bad[l4 + 20] ^= 1;
    assert_eq!(lab.feed(0, &bad).0, Verdict::Drop(Reason::SctpChecksum));
    // Only the common header: no chunk.
    let mut short = good[..l4 + 12].to_vec();
    short[16..18].copy_from_slice(&32u16.to_be_bytes());
    fix_ip(&mut short);
    assert_eq!(lab.feed(0, &short).0, Verdict::Drop(Reason::SctpTruncated));
    // A chunk longer than the packet, and one shorter than its header.
    for len in [200u16, 2] {
        let mut f = good.clone();
        f[l4 + 14..l4 + 16].copy_from_slice(&len.to_be_bytes());
        assert_eq!(lab.feed(0, &f).0, Verdict::Drop(Reason::SctpChunkLength), "chunk length {len}");
    }
    // Every truncation of the frame: a drop, never a panic.
    for cut in 0..good.len() {
        let mut f = good[..cut].to_vec();
        if cut > 14 + 20 {
            f[16..18].copy_from_slice(&((cut - 14) as u16).to_be_bytes());
            fix_ip(&mut f);
        }
        assert!(matches!(lab.feed(0, &f).0, Verdict::Drop(_) | Verdict::Consumed), "cut at {cut}");
    }
    assert!(lab.d.connections(lab.now).is_empty());
    assert_eq!(lab.feed(0, &good).0, Verdict::Forward(1), "the sound INIT still opens one");
}

#[test]
fn dr_and_tun_forward_the_packet_unchanged_and_see_the_client_only() {
    let mut lab = Lab::new();
    lab.sctp_service(&[(RS1, FwdMethod::Route)], &[]);
    let init = sctp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, VPORT, 0, &[(INIT, 0, INIT_VALUE)]);
    let (v, out) = lab.feed(0, &init);
    assert_eq!((v, &out[0..6]), (Verdict::Forward(1), &RS1_MAC[..]));
    assert_eq!(&out[12..], &init[12..], "IP packet untouched: the VIP and port 9 reach the server");
    assert_eq!(lab.state(), "INIT1");
    lab.client_sends(40000, COOKIE_ECHO, b"c");
    assert_eq!(lab.state(), "ESTABLISHED", "input-only: a COOKIE ECHO establishes");

    let mut lab = Lab::new();
    lab.sctp_service(&[(RS1, FwdMethod::Tunnel)], &[]);
    let (v, out) = lab.feed(0, &init);
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!((out[14 + 9], field_ip(&out, 16)), (4, RS1), "IPIP to the server");
    assert_eq!(&out[14 + 20..], &init[14..], "the inner packet as the client sent it");
}

#[test]
fn fullnat_rewrites_both_ends_with_a_fresh_crc() {
    let mut lab = Lab::new();
    lab.sctp_service(&[(RS1, FwdMethod::FullNat)], &[LIP]);
    let (v, out) = lab.client_sends(40000, INIT, INIT_VALUE);
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!((field_ip(&out, 12), field_ip(&out, 16)), (LIP, RS1));
    let lport = l4_port(&out, 0);
    assert_eq!(l4_port(&out, 2), RPORT);
    assert_checksums(&out);
    let (v, back) = lab.server_sends(RS1, LIP, lport, INIT_ACK);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!((field_ip(&back, 12), field_ip(&back, 16)), (VIP, CLIENT));
    assert_eq!((l4_port(&back, 0), l4_port(&back, 2)), (VPORT, 40000));
    assert_checksums(&back);
    assert_eq!(lab.state(), "C-SENT");
}

#[test]
fn a_local_real_server_gets_the_association_and_its_reply_leaves_from_the_vip() {
    let mut lab = Lab::new();
    let key = sctp_key();
    lab.cmd(Command::AddService(service_spec(key, "rr")));
    lab.cmd(Command::AddDest(key, dest_spec([127, 0, 0, 1], RPORT, FwdMethod::Route, 1)));
    lab.learn(0, CLIENT, CLIENT_MAC);
    assert_eq!(lab.client_sends(40000, INIT, INIT_VALUE).0, Verdict::Consumed, "to the host stack");
    let mut host = vec![0u8; 14];
    host[12..14].copy_from_slice(&[8, 0]);
    host.extend_from_slice(&lab.tx.1[0]);
    assert_eq!((field_ip(&host, 16), l4_port(&host, 2)), ([127, 0, 0, 1], RPORT));
    assert_checksums(&host);
    // The host's INIT ACK, from 127.0.0.1:3868, as it writes it into the local-node device.
    let mut reply = sctp([0; 6], [0; 6], [127, 0, 0, 1], CLIENT, RPORT, 40000, 7, &[(INIT_ACK, 0, INIT_VALUE)]);
    let mut len = reply.len();
    reply.resize(2048, 0);
    lab.now += 1;
    let v = lab.d.from_host(lab.now, &mut reply, &mut len, &mut lab.tx);
    assert_eq!(v, Verdict::Forward(0));
    let out = &reply[..len];
    assert_eq!((field_ip(out, 12), l4_port(out, 0)), (VIP, VPORT));
    assert_checksums(out);
    assert_eq!(lab.state(), "C-SENT");
}

#[test]
fn persistence_and_a_firewall_mark_carry_sctp() {
    // -p 300 on the SCTP service: a client's associations from other ports stick to one server.
    let mut lab = Lab::new();
    lab.persistent(sctp_key(), 300, [255; 4], &[(RS1, RPORT), (RS2, RPORT)]);
    lab.learn(0, CLIENT, CLIENT_MAC);
    let first = field_ip(&lab.client_sends(40000, INIT, INIT_VALUE).1, 16);
    for p in 40001..40005 {
        let (v, out) = lab.client_sends(p, INIT, INIT_VALUE);
        assert_eq!((v, field_ip(&out, 16)), (Verdict::Forward(1), first), "port {p}");
    }
    let t = lab.d.connections(lab.now).into_iter().find(|c| c.cport == 0).expect("the template");
    assert_eq!((t.proto, t.vport), (IPPROTO_SCTP, VPORT), "a per-port template of protocol SCTP");

    // A mark rule for SCTP to the VIP, a fwmark service: an INIT is marked and scheduled; TCP
    // to the same port is not marked.
    let mut lab = Lab::new();
    lab.cmd(Command::AddMark(MarkRule {
        mark: 66,
        proto: IPPROTO_SCTP,
        addr: std::net::IpAddr::from(Ipv4Addr::from(VIP)),
        prefix: 32,
        ports: vec![(VPORT, VPORT)],
    }));
    lab.persistent(ServiceKey::Fwmark(66), 300, [255; 4], &[(RS1, 0), (RS2, 0)]);
    lab.learn(0, CLIENT, CLIENT_MAC);
    let (v, out) = lab.client_sends(40000, INIT, INIT_VALUE);
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(l4_port(&out, 2), VPORT, "a port-0 real server keeps the client's port");
    assert_checksums(&out);
    let tcp_syn = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, VPORT, "S", b"");
    assert_eq!(lab.feed(0, &tcp_syn).0, Verdict::Drop(Reason::NoService));
}

/// The packet an ICMP error in `f` (an Ethernet frame) quotes, from its IP header on.
fn quoted_of(f: &[u8]) -> &[u8] {
    &f[14 + 20 + 8..]
}

/// (source, destination, source port, destination port, verification tag) of a quoted packet.
fn quoted_fields(q: &[u8]) -> ([u8; 4], [u8; 4], u16, u16, u32) {
    let a = |o: usize| [q[o], q[o + 1], q[o + 2], q[o + 3]];
    let p = |o: usize| u16::from_be_bytes([q[o], q[o + 1]]);
    (a(12), a(16), p(20), p(22), u32::from_be_bytes(a(24)))
}

/// Is the quoted SCTP packet's CRC32c right (the whole packet is quoted)?
fn quoted_crc_ok(q: &[u8]) -> bool {
    crate::wire::sctp::Packet::parse(&q[20..]).is_ok_and(|p| p.checksum_ok())
}

fn frag_needed(mtu: u16) -> etherparse::Icmpv4Type {
    unreachable(etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu })
}

#[test]
fn icmp_errors_about_a_nat_association_are_translated_both_ways() {
    let mut lab = Lab::new();
    lab.sctp_service(&[(RS1, FwdMethod::Masq)], &[]);
    let (_, fwd) = lab.client_sends(40000, INIT, INIT_VALUE);
    // The real server: port unreachable about the INIT it got (as RS1:3868).
    let err = icmp_error(RS1_MAC, IN_MAC, RS1, CLIENT, port_unreachable(), &fwd[14..]);
    let (v, out) = lab.feed(1, &err);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!((field_ip(&out, 12), field_ip(&out, 16)), (VIP, CLIENT));
    let q = quoted_of(&out);
    assert_eq!(quoted_fields(q), (CLIENT, VIP, 40000, VPORT, 7), "the client's own INIT, as it sent it");
    assert!(quoted_crc_ok(q), "quoted whole: its CRC made right for the ports it now carries");
    assert_eq!(&q[20 + 12..], &fwd[14 + 20 + 12..], "the chunks as quoted");
    assert_checksums(&out);
    // The client: fragmentation needed about the server's INIT ACK (from VIP:9), cut to 8 bytes.
    let (_, back) = lab.server_sends(RS1, CLIENT, 40000, INIT_ACK);
    let err = icmp_error(CLIENT_MAC, OUT_MAC, CLIENT, VIP, frag_needed(1400), &back[14..14 + 28]);
    let (v, out) = lab.feed(0, &err);
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!((field_ip(&out, 12), field_ip(&out, 16)), (CLIENT, RS1));
    assert_eq!((out[34], out[35], u16::from_be_bytes([out[40], out[41]])), (3, 4, 1400));
    let q = quoted_of(&out);
    assert_eq!(&q[12..16], &RS1);
    assert_eq!((u16::from_be_bytes([q[20], q[21]]), u16::from_be_bytes([q[22], q[23]])), (RPORT, 40000));
    assert_checksums(&out);
    assert_eq!(lab.d.shared.counters.total(Reason::IcmpErrorForwarded), 2);
}

#[test]
fn icmp_errors_about_a_fullnat_association_are_translated_both_ways() {
    let mut lab = Lab::new();
    lab.sctp_service(&[(RS1, FwdMethod::FullNat)], &[LIP]);
    let (_, fwd) = lab.client_sends(40000, INIT, INIT_VALUE);
    let lport = l4_port(&fwd, 0);
    let err = icmp_error(RS1_MAC, IN_MAC, RS1, LIP, frag_needed(1280), &fwd[14..]);
    let (v, out) = lab.feed(1, &err);
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!((field_ip(&out, 12), field_ip(&out, 16)), (VIP, CLIENT));
    let q = quoted_of(&out);
    assert_eq!(quoted_fields(q), (CLIENT, VIP, 40000, VPORT, 7));
    assert!(quoted_crc_ok(q));
    assert_checksums(&out);
    let (_, back) = lab.server_sends(RS1, LIP, lport, INIT_ACK);
    let err = icmp_error(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port_unreachable(), &back[14..]);
    let (v, out) = lab.feed(0, &err);
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!((field_ip(&out, 12), field_ip(&out, 16)), (LIP, RS1));
    let q = quoted_of(&out);
    assert_eq!(quoted_fields(q), (RS1, LIP, RPORT, lport, 9), "the server's INIT ACK as it sent it");
    assert!(quoted_crc_ok(q));
    assert_checksums(&out);
}

#[test]
fn icmp_errors_from_the_client_reach_a_dr_or_tun_server_unchanged() {
    for fwd in [FwdMethod::Route, FwdMethod::Tunnel] {
        let mut lab = Lab::new();
        lab.sctp_service(&[(RS1, fwd)], &[]);
        lab.client_sends(40000, INIT, INIT_VALUE);
        // The server's reply left from the VIP, not through the director; the client's error
        // about it comes to the VIP.
        let reply = sctp(RS1_MAC, CLIENT_MAC, VIP, CLIENT, VPORT, 40000, 7, &[(INIT_ACK, 0, INIT_VALUE)]);
        let err = icmp_error(CLIENT_MAC, OUT_MAC, CLIENT, VIP, frag_needed(1400), &reply[14..]);
        let (v, out) = lab.feed(0, &err);
        assert_eq!(v, Verdict::Forward(1), "{fwd:?}");
        let inner = if fwd == FwdMethod::Tunnel {
            assert_eq!((out[14 + 9], field_ip(&out, 16)), (4, RS1), "IPIP to the server");
            &out[14 + 20..]
        } else {
            assert_eq!(&out[0..6], &RS1_MAC[..]);
            &out[14..]
        };
        assert_eq!(inner, &err[14..], "{fwd:?}: the error as the client sent it");
    }
}
