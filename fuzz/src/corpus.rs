//! The seed corpora of the fuzz targets (`fuzz/corpus/<target>/`), written by
//! `RVS_FUZZ_REGEN=1 cargo test --release --test fuzz_replay regenerate -- --ignored`:
//! pipeline seeds are single frames of every kind and sessions fed to the lab
//! as they are recorded (so that replies quote what the director really sent);
//! text seeds are ipvsadm command lines, admin requests, configurations, save
//! files and checksum edits.

use super::lab::*;
use super::{advance_ms, control_record, record};
use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
use etherparse::{Icmpv4Type, PacketBuilder};
use rvs::admin::protocol::Request;
use rvs::ipvsadm::names::NameDb;
use rvs::pipeline::Verdict;
use rvs::testkit::frames::*;
use rvs::testkit::inspect::{field_ip as addr, l4_port as port};
use rvs::testkit::*;

/// An echo request's payload as Linux's ping sends it.
const PING: &[u8] = b"abcdefghijklmnopqrstuvwabcdefghi";

/// A pipeline session: frames fed to a lab as they are recorded, so that
/// replies can quote what the director really sent.
struct Session {
    lab: Lab,
    bytes: Vec<u8>,
}

impl Session {
    fn new() -> Self {
        Session { lab: director(), bytes: Vec::new() }
    }
    /// Feed and record a frame; the frame as forwarded (or empty).
    fn frame(&mut self, iface: u8, code: u8, f: &[u8]) -> Vec<u8> {
        self.bytes.extend(record(iface, code, f));
        self.lab.now += advance_ms(code);
        self.lab.tx.0.clear();
        match process(&mut self.lab, iface, f) {
            Verdict::Forward(_) => self.lab.out().to_vec(),
            _ => Vec::new(),
        }
    }
    /// Frames the director transmitted besides the verdict's frame.
    fn sent(&self) -> Vec<(u8, Vec<u8>)> {
        self.lab.tx.0.iter().map(|(i, f)| (*i, f.clone())).collect()
    }
    fn control(&mut self, op: u8) {
        self.bytes.extend(control_record(op));
        control(&mut self.lab, op);
    }
}

/// A TCP connection to `vip:vport` from `client` through a method; the
/// server's replies mirror what the director sent it. `reply_via_director`:
/// NAT and FULLNAT replies come back through the director.
fn tcp_session(s: &mut Session, client: [u8; 4], cmac: [u8; 6], vip: [u8; 4], cport: u16, vport: u16, close: &str) {
    let syn = s.frame(0, 1, &tcp(cmac, OUT_MAC, client, vip, cport, vport, "S", b""));
    if syn.is_empty() {
        return;
    }
    let replies = syn[14 + 9] == 6 && addr(&syn, 16) != vip; // NAT/FULLNAT: rewritten destination
    let (rs, laddr) = (addr(&syn, 16), addr(&syn, 12));
    let (rport, lport) = (port(&syn, 2), port(&syn, 0));
    let rmac: [u8; 6] = syn[0..6].try_into().unwrap();
    if replies {
        s.frame(1, 2, &tcp(rmac, IN_MAC, rs, laddr, rport, lport, "SA", b""));
    }
    s.frame(0, 3, &tcp(cmac, OUT_MAC, client, vip, cport, vport, "A", b""));
    s.frame(0, 1, &tcp(cmac, OUT_MAC, client, vip, cport, vport, "PA", b"GET / HTTP/1.0\r\n\r\n"));
    if replies {
        s.frame(1, 1, &tcp(rmac, IN_MAC, rs, laddr, rport, lport, "PA", b"HTTP/1.0 200 OK\r\n\r\nhello"));
        let last = if close == "R" { "R" } else { "FA" };
        s.frame(1, 1, &tcp(rmac, IN_MAC, rs, laddr, rport, lport, last, b""));
    }
    s.frame(0, 1, &tcp(cmac, OUT_MAC, client, vip, cport, vport, if close == "R" { "R" } else { "FA" }, b""));
    if replies && close != "R" {
        s.frame(1, 1, &tcp(rmac, IN_MAC, rs, laddr, rport, lport, "A", b""));
    }
}

/// The pipeline seeds.
pub fn pipeline() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut single = |name: &str, iface: u8, f: Vec<u8>| out.push((format!("frame-{name}"), record(iface, 1, &f)));

    // ---- single frames, each on a fresh lab
    let syn = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b"");
    single("tcp-syn-nat", 0, syn.clone());
    single("tcp-syn-dr", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 81, "S", b""));
    single("tcp-syn-tun", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 82, "S", b"hello"));
    single("tcp-syn-fullnat", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 83, "S", b""));
    single("tcp-syn-persistent", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 443, "S", b""));
    single("tcp-syn-pcc", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_PCC, 40000, 22, "S", b""));
    single("tcp-syn-fwmark66", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_MARK, 40000, 443, "S", b""));
    single("tcp-syn-fwmark67", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_MARK_NET, 40000, 8080, "S", b""));
    single("tcp-syn-far-client", 0, tcp(GW_OUT_MAC, OUT_MAC, FAR_CLIENT, VIP, 40000, 80, "S", b""));
    single("tcp-syn-no-service", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 8081, "S", b""));
    single("tcp-ack-no-conn", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "A", b"x"));
    single("tcp-rst-no-conn", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "R", b""));
    single("tcp-to-director", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, DIR_OUT, 40000, 22, "S", b""));
    single("tcp-not-our-mac", 0, tcp(CLIENT_MAC, RS1_MAC, CLIENT, VIP, 40000, 80, "S", b""));
    single("udp-nat", 0, udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5000, 53, b"\x12\x34\x01\x00\x00\x01"));
    single("udp-fwmark67", 0, udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_MARK_NET, 5000, 9999, b"ping"));
    let mut udp0 = udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5001, 53, b"no checksum");
    udp0[40..42].fill(0);
    single("udp-zero-checksum", 0, udp0);
    single("udp-no-service", 0, udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5000, 54, b"x"));
    // SCTP: an INIT (opens), a DATA chunk (no association: dropped), a corrupt CRC32c.
    let init_value = [0, 0, 0, 7, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1];
    let init = sctp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 9, 0, &[(1, 0, &init_value)]);
    single("sctp-init", 0, init.clone());
    single("sctp-data-no-conn", 0, sctp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 9, 7, &[(0, 3, &[0; 20])]));
    let mut bad_crc = init;
    bad_crc[14 + 20 + 8] ^= 0xff;
    single("sctp-bad-crc", 0, bad_crc);
    single("icmp-echo-vip", 0, echo_request(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 7, 1, PING));
    single("icmp-echo-director", 1, echo_request(RS1_MAC, IN_MAC, RS1, DIR_IN, 7, 1, PING));
    single("icmp-echo-elsewhere", 0, echo_request(CLIENT_MAC, OUT_MAC, CLIENT, [198, 18, 0, 55], 7, 1, PING));
    single("tcp-ttl1", 0, with_ttl(&syn, 1));
    // Sync messages from a peer director on the inside LAN.
    let peer = [198, 18, 1, 2];
    let peer_mac = [2, 0, 0, 0, 0, 0x22];
    let (sync_mac, group) = (rvs::testkit::sync::SYNC_MAC, rvs::testkit::sync::SYNC_GROUP);
    let synced = |cport: u16, vport: u16, daddr: [u8; 4], dport: u16, fwd: rvs::api::FwdMethod| {
        let local = if fwd == rvs::api::FwdMethod::FullNat { (LIP, 2000) } else { ([0; 4], 0) };
        rvs::testkit::sync::established(cport, vport, daddr, dport, fwd, local)
    };
    let conns = [
        synced(40100, 80, RS1, 80, rvs::api::FwdMethod::Masq),
        synced(40101, 81, RS1, 81, rvs::api::FwdMethod::Route),
        synced(40102, 83, RS1, 80, rvs::api::FwdMethod::FullNat),
    ];
    for (i, msg) in rvs::ipvs::sync::encode(0, &conns, 1472).into_iter().enumerate() {
        single(&format!("sync-message-{i}"), 1, udp(peer_mac, sync_mac, peer, group, 8848, 8848, &msg));
    }
    let request = rvs::ipvs::sync::daemon::full_table_request(0);
    single("sync-full-table-request", 1, udp(peer_mac, sync_mac, peer, group, 8848, 8848, &request));
    single(
        "multicast-other",
        1,
        udp(peer_mac, [0x01, 0x00, 0x5e, 0, 0, 0xfb], peer, [224, 0, 0, 251], 5353, 5353, b"mdns"),
    );
    single("arp-request-vip", 0, arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP));
    single("arp-request-director", 1, arp(RS1_MAC, [0xff; 6], 1, RS1_MAC, RS1, [0; 6], DIR_IN));
    single("arp-request-laddr", 1, arp(RS1_MAC, [0xff; 6], 1, RS1_MAC, RS1, [0; 6], LIP));
    single("arp-request-mark-vip", 0, arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP_MARK));
    single("arp-request-other", 0, arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], [198, 18, 0, 77]));
    single("arp-gratuitous", 0, arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], CLIENT));
    single("arp-reply-unsolicited", 1, arp(RS2_MAC, IN_MAC, 2, RS2_MAC, [198, 18, 1, 99], IN_MAC, DIR_IN));
    single(
        "arp-reply-changed-mac",
        1,
        arp([2, 0, 0, 0, 0, 0x99], IN_MAC, 2, [2, 0, 0, 0, 0, 0x99], RS1, IN_MAC, DIR_IN),
    );
    single("arp-truncated", 0, arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP)[..30].to_vec());
    let mut arp_bad = arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP);
    arp_bad[18] = 16; // hardware length
    single("arp-bad-hlen", 0, arp_bad);
    single("eth-truncated", 0, syn[..10].to_vec());
    single("ip-truncated", 0, syn[..30].to_vec());
    single("tcp-truncated", 0, syn[..40].to_vec());
    let mut short_total = syn.clone();
    short_total[16..18].copy_from_slice(&30u16.to_be_bytes());
    fix_ip(&mut short_total);
    single("ip-total-short", 0, short_total);
    let mut long_total = syn.clone();
    long_total[16..18].copy_from_slice(&1400u16.to_be_bytes());
    fix_ip(&mut long_total);
    single("ip-total-long", 0, long_total);
    let mut bad_ihl = syn.clone();
    bad_ihl[14] = 0x44;
    fix_ip(&mut bad_ihl);
    single("ip-bad-ihl", 0, bad_ihl);
    let mut big_ihl = syn.clone();
    big_ihl[14] = 0x4f;
    fix_ip(&mut big_ihl);
    single("ip-ihl-15", 0, big_ihl);
    let mut v6 = syn.clone();
    v6[14] = 0x65;
    single("ip-version-6-in-v4", 0, v6);
    let mut bad_ipck = syn.clone();
    bad_ipck[24] ^= 0x55;
    single("ip-bad-checksum", 0, bad_ipck);
    let mut bad_tcpck = syn.clone();
    bad_tcpck[50] ^= 0x55;
    single("tcp-bad-checksum", 0, bad_tcpck);
    let mut small_doff = syn.clone();
    small_doff[46] = 0x20;
    fix_l4(&mut small_doff);
    single("tcp-bad-data-offset", 0, small_doff);
    let mut big_doff = syn.clone();
    big_doff[46] = 0xf0;
    fix_l4(&mut big_doff);
    single("tcp-data-offset-15", 0, big_doff);
    let mut padded = syn.clone();
    padded.resize(80, 0xee);
    single("tcp-ethernet-padding", 0, padded);
    let rr = [7, 7, 4, 0, 0, 0, 0, 1]; // record route, then end of options
    single("ip-options-rr", 0, with_ip_options(&syn, &rr));
    single(
        "ip-options-nop",
        0,
        with_ip_options(&tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 83, "S", b""), &[1, 1, 1, 0]),
    );
    single("ip-options-bad-length", 0, with_ip_options(&syn, &[7, 200, 4, 0]));
    single("ip-fragment-first", 0, as_fragment(&syn, true, 0));
    single("ip-fragment-middle", 0, as_fragment(&syn, true, 100));
    single("ip-fragment-last", 0, as_fragment(&syn, false, 185));
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .single_vlan(etherparse::VlanId::try_new(10).unwrap())
        .ipv4(CLIENT, VIP, 64)
        .tcp(40000, 80, 1, 64000)
        .syn()
        .write(&mut v, b"")
        .unwrap();
    single("vlan-tcp-syn", 0, v);
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ipv6(
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x64],
            64,
        )
        .tcp(40000, 80, 1, 64000)
        .syn()
        .write(&mut v, b"")
        .unwrap();
    // Another upper protocol over IPv6 (GRE): no IPv6 service carries it (drop-ipv6).
    let mut v6_gre = v.clone();
    v6_gre[14 + 6] = 47;
    single("ipv6-tcp-syn", 0, v);
    single("ipv6-gre", 0, v6_gre);
    let mut gre = syn.clone();
    gre[23] = 47;
    fix_ip(&mut gre);
    single("ip-proto-gre", 0, gre);
    let mut lldp = syn.clone();
    lldp.resize(60, 0);
    lldp[12..14].copy_from_slice(&0x88ccu16.to_be_bytes());
    single("ethertype-lldp", 0, lldp);
    single("broadcast-ip", 0, tcp(CLIENT_MAC, [0xff; 6], CLIENT, VIP, 40000, 80, "S", b""));
    single("tcp-big-tun-df", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 82, "S", &[7u8; 1460]));
    let mut nodf = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 82, "S", &[7u8; 1460]);
    nodf[20] = 0;
    fix_ip(&mut nodf);
    single("tcp-big-tun-nodf", 0, nodf);
    single("ipip-from-rs", 1, {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(RS1_MAC, IN_MAC)
            .ipv4(RS1, DIR_IN, 64)
            .write(&mut v, etherparse::IpNumber::IPV4, &syn[14..])
            .unwrap();
        v
    });
    single(
        "unreachable-unrelated",
        1,
        icmp_error(RS1_MAC, IN_MAC, RS1, DIR_IN, unreachable(DestUnreachableHeader::Port), &syn[14..]),
    );
    single(
        "icmp-error-truncated-quote",
        1,
        icmp_error(RS1_MAC, IN_MAC, RS1, DIR_IN, unreachable(DestUnreachableHeader::Port), &syn[14..30]),
    );
    single(
        "icmp-error-empty-quote",
        0,
        icmp_error(CLIENT_MAC, OUT_MAC, CLIENT, VIP, unreachable(DestUnreachableHeader::Host), &[]),
    );
    let mut icmp_bad = echo_request(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 7, 1, PING);
    icmp_bad[36] ^= 0x5a;
    single("icmp-bad-checksum", 0, icmp_bad);
    let mut ts = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ipv4(CLIENT, VIP, 64)
        .icmpv4(Icmpv4Type::TimestampRequest(etherparse::icmpv4::TimestampMessage {
            id: 1,
            seq: 1,
            originate_timestamp: 1,
            receive_timestamp: 0,
            transmit_timestamp: 0,
        }))
        .write(&mut ts, &[])
        .unwrap();
    single("icmp-timestamp", 0, ts);

    // ---- sessions: both directions, ICMP errors quoting forwarded packets
    let mut sessions: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, vport) in [("nat", 80u16), ("dr", 81), ("tun", 82), ("fullnat", 83), ("persistent", 443)] {
        let mut s = Session::new();
        tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP, 40000, vport, "F");
        tcp_session(&mut s, FAR_CLIENT, GW_OUT_MAC, VIP, 40001, vport, "R");
        // A new SYN on the same ports after the close: rescheduled.
        tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP, 40000, vport, "F");
        sessions.push((format!("session-tcp-{name}"), s.bytes));
    }
    {
        let mut s = Session::new();
        tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP_PCC, 40000, 22, "F");
        tcp_session(&mut s, [198, 18, 0, 77], CLIENT_MAC, VIP_PCC, 40001, 8443, "F");
        tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP_MARK, 40002, 80, "F");
        tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP_MARK, 40003, 443, "F");
        tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP_MARK_NET, 40004, 7000, "F");
        // Templates and connections expire, then the client returns.
        s.frame(0, 63, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_PCC, 40005, 22, "S", b""));
        sessions.push(("session-persistence-fwmark".into(), s.bytes));
    }
    {
        // UDP both ways, NAT and FULLNAT (wrr alternates), then expiry.
        let mut s = Session::new();
        for p in 0..4u16 {
            let out = s.frame(0, 1, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5000 + p, 53, b"query"));
            if !out.is_empty() {
                let rmac: [u8; 6] = out[0..6].try_into().unwrap();
                let r = udp(rmac, IN_MAC, addr(&out, 16), addr(&out, 12), port(&out, 2), port(&out, 0), b"answer");
                s.frame(1, 1, &r);
                // The client is gone: the reply bounces back to the director as an ICMP error.
                let back = s.frame(1, 1, &r);
                let _ = back;
                let err = icmp_error(CLIENT_MAC, OUT_MAC, CLIENT, VIP, unreachable(DestUnreachableHeader::Port), &{
                    let mut q = udp(OUT_MAC, CLIENT_MAC, VIP, CLIENT, 53, 5000 + p, b"answer");
                    q.drain(..14);
                    q
                });
                s.frame(0, 1, &err);
            }
        }
        s.frame(0, 60, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5000, 53, b"again"));
        sessions.push(("session-udp".into(), s.bytes));
    }
    {
        // A fragmented UDP datagram (last piece first, one piece twice), reassembled and
        // forwarded; then one whose pieces overlap, and one never completed.
        let mut s = Session::new();
        let big: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
        let d = with_ident(&udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5100, 53, &big), 1);
        let frags = fragments(&d, 1500);
        s.frame(0, 1, &frags[2]);
        s.frame(0, 1, &frags[1]);
        s.frame(0, 1, &frags[1]);
        s.frame(0, 1, &frags[0]);
        let d = with_ident(&d, 2);
        s.frame(0, 1, &fragment_of(&d, 0, 1480, true));
        s.frame(0, 1, &fragment_of(&d, 1000, 1000, true));
        s.frame(0, 1, &fragment_of(&with_ident(&d, 3), 1480, 1480, true));
        s.frame(0, 60, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5100, 53, b"after"));
        sessions.push(("session-udp-fragments".into(), s.bytes));
    }
    for (name, vport) in [("nat", 80u16), ("fullnat", 83), ("tun", 82), ("dr", 81)] {
        // ICMP errors about forwarded packets, from the real server's side
        // (about the request) and from the client's side (about a reply).
        let mut s = Session::new();
        let fwd = s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 41000, vport, "S", b""));
        if fwd.is_empty() {
            continue;
        }
        let rmac: [u8; 6] = fwd[0..6].try_into().unwrap();
        let quoted_start = if fwd[23] == 4 { 34 } else { 14 }; // inside the tunnel: the inner packet
        let (rs, to) = (if fwd[23] == 4 { addr(&fwd, 16) } else { addr(&fwd, 16) }, addr(&fwd, 12));
        let q = &fwd[quoted_start..];
        s.frame(1, 1, &icmp_error(rmac, IN_MAC, rs, to, unreachable(DestUnreachableHeader::Port), q));
        s.frame(
            1,
            1,
            &icmp_error(
                rmac,
                IN_MAC,
                rs,
                to,
                unreachable(DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 }),
                &fwd[14..],
            ),
        );
        s.frame(
            1,
            1,
            &icmp_error(
                GW_IN_MAC,
                IN_MAC,
                GW_IN,
                DIR_IN,
                Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit),
                &fwd[14..],
            ),
        );
        s.frame(1, 1, &icmp_error(rmac, IN_MAC, rs, to, unreachable(DestUnreachableHeader::Port), &fwd[14..14 + 28]));
        if fwd[23] != 4 && addr(&fwd, 16) != VIP {
            // The real server answers; the client's host says port unreachable about the reply.
            let back = s.frame(
                1,
                1,
                &tcp(rmac, IN_MAC, addr(&fwd, 16), addr(&fwd, 12), port(&fwd, 2), port(&fwd, 0), "SA", b""),
            );
            if !back.is_empty() {
                s.frame(
                    0,
                    1,
                    &icmp_error(
                        CLIENT_MAC,
                        OUT_MAC,
                        CLIENT,
                        VIP,
                        unreachable(DestUnreachableHeader::Port),
                        &back[14..],
                    ),
                );
                s.frame(
                    0,
                    1,
                    &icmp_error(
                        GW_OUT_MAC,
                        OUT_MAC,
                        GW_OUT,
                        VIP,
                        Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit),
                        &back[14..],
                    ),
                );
            }
        }
        sessions.push((format!("session-icmp-error-{name}"), s.bytes));
    }
    {
        // Neighbours: a real server forgotten, re-resolved while packets wait.
        let mut s = Session::new();
        s.frame(0, 63, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 42000, 80, "S", b""));
        for k in 0..6u16 {
            s.frame(0, 20, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 42001 + k, 80, "S", b""));
        }
        let reqs: Vec<_> = s.sent();
        s.frame(1, 1, &arp(RS1_MAC, IN_MAC, 2, RS1_MAC, RS1, IN_MAC, DIR_IN));
        s.frame(1, 1, &arp(RS2_MAC, IN_MAC, 2, RS2_MAC, RS2, IN_MAC, DIR_IN));
        s.frame(0, 1, &arp(CLIENT_MAC, OUT_MAC, 2, CLIENT_MAC, CLIENT, OUT_MAC, DIR_OUT));
        let _ = reqs;
        s.frame(0, 40, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 42100, 80, "S", b""));
        sessions.push(("session-arp".into(), s.bytes));
    }
    {
        // Control operations between frames: servers removed and back, -C and -R, timeouts.
        let mut s = Session::new();
        tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP, 43000, 80, "F");
        s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43001, 80, "S", b""));
        s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43002, 80, "S", b""));
        for op in 0..14u8 {
            s.control(op);
            s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43001, 80, "A", b"data"));
            s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43100 + op as u16, 83, "S", b""));
            s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_MARK, 43200 + op as u16, 80, "S", b""));
        }
        s.control(7);
        s.control(0);
        s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43002, 80, "A", b"data"));
        s.frame(0, 50, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43003, 80, "S", b""));
        sessions.push(("session-control".into(), s.bytes));
    }
    {
        // FULLNAT local ports run out (32 per local address and real server).
        let mut s = Session::new();
        for p in 0..160u16 {
            s.frame(0, 0, &tcp(CLIENT_MAC, OUT_MAC, [198, 18, 0, 20 + (p % 50) as u8], VIP, 10000 + p, 83, "S", b""));
        }
        sessions.push(("session-fullnat-exhaustion".into(), s.bytes));
    }
    out.extend(sessions);
    out
}

/// Lines that look like ipvsadm command lines in the seed texts: the
/// command part from `ipvsadm` on, the program name dropped.
pub fn command_lines(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    for line in text.lines() {
        let Some(at) = line.find("ipvsadm ") else {
            continue;
        };
        let rest = line[at + "ipvsadm ".len()..].trim();
        // Typographic dashes as the web pages print them.
        let rest = rest.replace(['\u{2013}', '\u{2014}'], "-");
        let rest: String = rest.split('#').next().unwrap_or("").trim().to_string();
        if !rest.is_empty() && rest.starts_with('-') && rest.len() < 300 {
            v.push(rest);
        }
    }
    v
}

/// The lab's rules as `rvsadm -S -n` writes them.
pub fn saved_rules() -> String {
    let ctl = lab_control();
    rvs::ipvsadm::format::save_with_marks_with(&ctl.views(), &ctl.rules().marks, true, &NameDb::empty())
}

/// Seeds of the text targets, from the repository root `root` and the
/// ipvsadm texts under `seeds_dir` (if present).
pub fn texts(root: &std::path::Path, seeds_dir: &std::path::Path) -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut lines: Vec<String> = RULES.lines().map(String::from).collect();
    lines.extend(
        [
            "-Ln",
            "-Lnc",
            "-Ln --stats",
            "-Ln --rate",
            "-Ln --exact",
            "-Ln --thresholds",
            "-Ln --persistent-conn",
            "-L --timeout",
            "-S -n",
            "-S",
            "-C",
            "-Z",
            "-Z -t 198.18.0.100:80",
            "-D -t 198.18.0.100:80",
            "-E -t 198.18.0.100:80 -s wlc -p 30 -M 255.255.0.0",
            "-e -t 198.18.0.100:80 -r 198.18.1.11:80 -m -w 5 -x 100 -y 50",
            "-d -t 198.18.0.100:80 -r 198.18.1.11:80",
            "--set 900 120 300",
            "-G",
            "-G -t 198.18.0.100:83",
            "-Q -t 198.18.0.100:83 -z 198.18.1.100",
            "--list-marks",
            "--del-mark 66 -t 198.18.0.102/32:80,443",
            "-A -u 198.18.0.100:53 -s rr -o",
            "-A -t 198.18.0.100:8080 -s sh -b sh-port,sh-fallback",
            "-A -t 198.18.0.100:8081 -s mh -b mh-port,mh-fallback",
            "-A -t www.example.com:http -s rr",
            "-A -t [2001:db8::1]:80",
            "-h",
            "-v",
            "-R",
            "--counters",
            "--neighbours",
            "--checks",
            "--reload",
            "-A -t 198.18.0.100:80 -s nosuch",
            "-a -t 198.18.0.100:80 -r 198.18.1.13 -w 70000",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let mut seeds: Vec<String> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(seeds_dir) {
        let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            if let Ok(t) = std::fs::read_to_string(&f) {
                seeds.extend(command_lines(&t));
            }
        }
    }
    seeds.sort();
    seeds.dedup();
    lines.extend(seeds.into_iter().take(120));
    let mut seen = std::collections::HashSet::new();
    let mut k = 0;
    for l in &lines {
        if !seen.insert(l.clone()) {
            continue;
        }
        // Alternate the two argv encodings.
        let bytes = if k % 3 == 2 {
            l.split_whitespace().collect::<Vec<_>>().join("\0").into_bytes()
        } else {
            l.clone().into_bytes()
        };
        out.push(("ipvsadm_args", format!("args-{k:03}"), bytes));
        k += 1;
    }
    // Admin requests: as rvsadm sends them, and broken ones.
    let reqs: Vec<Request> = vec![
        Request { argv: vec!["-Ln".into()], stdin: None },
        Request { argv: vec!["-Lnc".into()], stdin: None },
        Request { argv: vec!["-S".into(), "-n".into()], stdin: None },
        Request { argv: vec!["-R".into()], stdin: Some(saved_rules()) },
        Request { argv: vec!["-R".into()], stdin: Some(RULES.into()) },
        Request {
            argv: vec!["-R".into()],
            stdin: Some("-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 5.6.7.8\n-a -t 9.9.9.9:1 -r 1.1.1.1\n".into()),
        },
        Request { argv: vec!["-C".into()], stdin: None },
        Request { argv: vec!["-D".into(), "-t".into(), "198.18.0.100:80".into()], stdin: None },
        Request {
            argv: vec![
                "-a".into(),
                "-t".into(),
                "198.18.0.100:80".into(),
                "-r".into(),
                "198.18.1.13:80".into(),
                "-m".into(),
            ],
            stdin: None,
        },
        Request { argv: vec!["--counters".into()], stdin: None },
        Request { argv: vec!["--neighbours".into()], stdin: None },
        Request { argv: vec!["--checks".into()], stdin: None },
        Request { argv: vec!["--reload".into()], stdin: None },
        Request { argv: vec!["-G".into()], stdin: None },
        Request { argv: vec!["--list-marks".into()], stdin: None },
        Request { argv: vec!["-Ln".into(), "--stats".into(), "--exact".into()], stdin: None },
        Request { argv: vec!["-Z".into()], stdin: None },
        Request { argv: vec!["--set".into(), "10".into(), "5".into(), "3".into()], stdin: None },
        Request { argv: vec![], stdin: None },
    ];
    for (i, r) in reqs.iter().enumerate() {
        let mut v = Vec::new();
        rvs::admin::protocol::write_message(&mut v, r).unwrap();
        out.push(("admin_request", format!("request-{i:02}"), v));
    }
    for (i, raw) in [
        &b"{\"argv\": 3}\n"[..],
        b"{\"argv\": [\"-Ln\"]",
        b"{\"argv\": [\"-Ln\"], \"stdin\": null, \"extra\": 1}\n",
        b"\xff\xfe\n",
        b"[]\n",
        b"{\"argv\": [\"-R\"], \"stdin\": \"\\u0000-A -t 1.1.1.1:1\\n\"}\n",
    ]
    .iter()
    .enumerate()
    {
        out.push(("admin_request", format!("broken-{i:02}"), raw.to_vec()));
    }
    // Configurations.
    if let Ok(t) = std::fs::read(root.join("config.example")) {
        out.push(("config", "config-example".into(), t));
    }
    out.push(("config", "minimal".into(), b"[[interface]]\nname = \"eth0\"\naddresses = [\"10.0.0.1/24\"]\n".to_vec()));
    out.push((
        "config",
        "services".into(),
        br#"[admin]
socket = "/tmp/rvs.sock"
[dataplane]
connections = 1024
fullnat_ports = [2000, 3000]
[[interface]]
name = "eth0"
addresses = ["198.18.0.1/24"]
vips = ["198.18.0.100"]
[[interface]]
name = "eth1"
addresses = ["198.18.1.1/24"]
[[route]]
destination = "0.0.0.0/0"
gateway = "198.18.0.254"
[timeouts]
tcp = 60
[[fwmark]]
mark = 66
tcp = "198.18.0.102/32:80,443"
[[service]]
tcp = "198.18.0.100:80"
scheduler = "wrr"
persistent = 300
[[service.real]]
address = "198.18.1.11:80"
method = "masq"
weight = 3
[[service.real]]
address = "198.18.1.12:80"
method = "fullnat"
[service.check]
type = "http"
path = "/"
"#
        .to_vec(),
    ));
    out.push(("config", "bad-key".into(), b"[dataplane]\nnosuch = 1\n".to_vec()));
    out.push((
        "config",
        "bad-address".into(),
        b"[[interface]]\nname = \"eth0\"\naddresses = [\"300.0.0.1/33\"]\n".to_vec(),
    ));
    // Save files.
    out.push(("save_file", "lab-saved".into(), saved_rules().into_bytes()));
    out.push(("save_file", "lab-rules".into(), RULES.as_bytes().to_vec()));
    out.push((
        "save_file",
        "ipvsadm-save".into(),
        b"# ipvsadm-save -n\n-A -t 10.0.0.1:80 -s wlc -p 300\n-a -t 10.0.0.1:80 -r 192.168.0.2:80 -g -w 1\n\
          -a -t 10.0.0.1:80 -r 192.168.0.3:80 -i -w 0 -x 10 -y 5\n-A -u 10.0.0.1:53 -s rr\n\
          -a -u 10.0.0.1:53 -r 192.168.0.2:53 -m -w 1\n-A -f 1 -s sh -b sh-port\n-a -f 1 -r 192.168.0.4:0 -g -w 1\n"
            .to_vec(),
    ));
    out.push((
        "save_file",
        "refused".into(),
        b"-A -t 1.1.1.1:80\n-A -t 1.1.1.1:80\n-a -t 2.2.2.2:1 -r 3.3.3.3\n".to_vec(),
    ));
    out.push(("save_file", "quoted".into(), b"ipvsadm \"-A\" -t \"1.1.1.1:80\" -s rr # comment\n\n   \n-R\n".to_vec()));
    // Checksum: headers with their fields changed as the pipeline does.
    let syn = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b"");
    let mut c = vec![3u8];
    c.extend([1, 0, 14, 198, 18, 1, 11]); // an address (offset 2 + 14 = 16: the destination)
    c.extend([0, 0, 20, 0, 0, 0x1f, 0x90]); // a port
    c.extend([0, 0, 6, 0, 0, 63, 6]); // TTL and protocol word
    c.extend(&syn[14..34]);
    out.push(("checksum", "ip-header".into(), c));
    let mut c = vec![2u8];
    c.extend([1, 0, 0, 198, 18, 1, 100, 0]);
    c.extend([0, 0, 4, 0, 0, 0xff, 0xff]);
    c.extend(&syn[34..]);
    out.push(("checksum", "tcp-header".into(), c));
    out.push(("checksum", "zeros".into(), vec![1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]));
    out.push(("checksum", "ones-odd".into(), vec![1, 1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    out
}
