//! IPv6 fragments (frag6.rs): datagrams a client's kernel cut in pieces,
//! reassembled, carried by NAT66, DR and NAT64, and cut again for the way
//! out; the pieces rvs sends put back together as a receiver would and the
//! datagram checked whole.

use super::{Reason, Verdict};
use crate::api::command::Command;
use crate::api::{DestSpec, FwdMethod, ServiceKey};
use crate::testkit::frames::arp;
use crate::testkit::ipv6::{advertisement, ip6 as a, lab6, CLIENT6, IN6, RS1_6, VIP6};
use crate::testkit::*;
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::icmpv6::{self};
use crate::wire::ip_protocol::{IPPROTO_ICMPV6, IPPROTO_UDP};
use crate::wire::ipv6::{self, HEADER_LEN as IP6, NH_FRAGMENT};
use etherparse::PacketBuilder;
use std::net::IpAddr;

fn service(lab: &mut Lab, rs: &str, fwd: FwdMethod) {
    let key = ServiceKey::Addr { proto: IPPROTO_UDP, addr: IpAddr::V6(a(VIP6).into()), port: 53 };
    lab.cmd(Command::AddService(service_spec(key, "rr")));
    let addr: IpAddr = rs.parse().unwrap();
    lab.cmd(Command::AddDest(key, DestSpec { addr, ..dest_spec([0; 4], 5353, fwd, 1) }));
}

/// A UDP datagram over IPv6 with `size` bytes of payload, as one frame.
fn datagram(src: &str, dst: &str, sport: u16, dport: u16, size: usize) -> Vec<u8> {
    let body: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    let mut f = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ipv6(a(src).to_be_bytes(), a(dst).to_be_bytes(), 64)
        .udp(sport, dport)
        .write(&mut f, &body)
        .unwrap();
    f
}

/// The frame cut as a sender's kernel cuts it for a link of `mtu`.
fn fragments(frame: &[u8], mtu: usize, id: u32) -> Vec<Vec<u8>> {
    let (head, payload) = frame.split_at(ETH + IP6);
    let next = head[ETH + 6];
    let step = (mtu - IP6 - 8) & !7;
    payload
        .chunks(step)
        .enumerate()
        .map(|(k, chunk)| {
            let mut p = head.to_vec();
            p[ETH + 6] = NH_FRAGMENT;
            p[ETH + 4..ETH + 6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
            let mut fh = [0u8; 8];
            ipv6::write_fragment_header(&mut fh, next, k * step, (k + 1) * step < payload.len(), id);
            p.extend_from_slice(&fh);
            p.extend_from_slice(chunk);
            p
        })
        .collect()
}

/// Put the pieces rvs sent back together: the datagram as one IPv6 packet
/// (after an Ethernet header), each piece checked to fit `mtu`.
fn reassemble(pieces: &[Vec<u8>], mtu: usize) -> Vec<u8> {
    let mut payload = Vec::new();
    let mut head = Vec::new();
    let mut id = None;
    for (k, p) in pieces.iter().enumerate() {
        assert!(p.len() - ETH <= mtu, "piece {k} fits the link");
        assert_eq!(p[ETH + 6], NH_FRAGMENT, "piece {k} has a fragment header");
        let fh = &p[ETH + IP6..ETH + IP6 + 8];
        let off = (u16::from_be_bytes([fh[2], fh[3]]) & 0xfff8) as usize;
        let more = fh[3] & 1 == 1;
        assert_eq!(off, payload.len(), "piece {k} in order");
        assert_eq!(more, k + 1 < pieces.len(), "M on all but the last");
        let this = u32::from_be_bytes(fh[4..8].try_into().unwrap());
        assert_eq!(*id.get_or_insert(this), this, "one identification");
        payload.extend_from_slice(&p[ETH + IP6 + 8..]);
        if k == 0 {
            head = p[..ETH + IP6].to_vec();
            head[ETH + 6] = fh[0];
        }
    }
    head[ETH + 4..ETH + 6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    head.extend_from_slice(&payload);
    head
}

/// The datagram's addresses and ports, its UDP checksum verified from scratch.
fn read(frame: &[u8]) -> (u128, u16, u128, u16, usize) {
    let ip = &frame[ETH..];
    let h = ipv6::Header::new_checked(ip).unwrap();
    assert_eq!(h.next_header(), IPPROTO_UDP);
    let l4 = &ip[IP6..];
    let sum = icmpv6::pseudo_header(h.src(), h.dst(), IPPROTO_UDP, l4.len() as u32).add_bytes(l4).finish();
    assert_eq!(sum, 0, "the UDP checksum over the whole datagram verifies");
    let port = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
    (h.src(), port(0), h.dst(), port(2), l4.len() - 8)
}

/// Feed every piece; what rvs sent out of `iface` meanwhile.
fn feed_all(lab: &mut Lab, pieces: &[Vec<u8>], iface: u8) -> Vec<Vec<u8>> {
    lab.tx.0.clear();
    for (k, p) in pieces.iter().enumerate() {
        let (v, out) = lab.feed(OUT, p);
        if k + 1 < pieces.len() {
            assert_eq!(v, Verdict::Consumed, "piece {k} held");
        } else if let Verdict::Forward(i) = v {
            lab.tx.0.push((i, out));
        }
    }
    lab.tx.0.drain(..).filter(|(i, _)| *i == iface).map(|(_, f)| f).collect()
}

#[test]
fn nat66_carries_fragmented_datagrams_and_fragments_them_again() {
    let mut lab = lab6();
    service(&mut lab, RS1_6, FwdMethod::Masq);
    lab.d.ifaces.0[IN as usize].mtu = 1280;
    for (n, size) in [(0, 4000usize), (1, 9000)] {
        let whole = datagram(CLIENT6, VIP6, 33000, 53, size);
        let pieces = fragments(&whole, 1500, 0x100 + n);
        let mut sent = feed_all(&mut lab, &pieces, IN);
        if n == 0 {
            // The first waited for the real server's MAC, its pieces held together.
            assert!(sent.iter().all(|f| f[ETH + 6] == IPPROTO_ICMPV6), "only a solicitation");
            lab.tx.0.clear();
            lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6));
            sent = lab.tx.0.drain(..).map(|(_, f)| f).collect();
        }
        assert_eq!(sent.len(), (size + 8).div_ceil(1280 - 48), "{size}: cut for the 1,280-byte link");
        let got = reassemble(&sent, 1280);
        assert_eq!(read(&got), (a(CLIENT6), 33000, a(RS1_6), 5353, size), "{size}: to rs1:5353");
        assert_eq!(got[ETH + IP6 + 8..], whole[ETH + IP6 + 8..], "{size}: the payload intact");
    }
    assert_eq!(lab.d.shared().counters.total(Reason::Reassembled), 2);
    assert_eq!(lab.d.shared().counters.total(Reason::Icmpv6TooBigSent), 0, "no packet too big");
}

#[test]
fn dr_over_ipv6_sends_the_reassembled_datagram_in_pieces_that_fit() {
    let mut lab = lab6();
    service(&mut lab, RS1_6, FwdMethod::Route);
    // Resolve rs1 with a first small datagram.
    lab.feed(OUT, &datagram(CLIENT6, VIP6, 33000, 53, 10));
    lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6));
    let whole = datagram(CLIENT6, VIP6, 33000, 53, 4000);
    let sent = feed_all(&mut lab, &fragments(&whole, 1500, 7), IN);
    let got = reassemble(&sent, 1500);
    assert_eq!(&got[ETH..], &whole[ETH..], "the datagram as the client sent it");
    assert_eq!(&sent[0][0..6], &RS1_MAC[..]);
}

#[test]
fn nat64_carries_a_fragmented_request_as_ipv4_fragments() {
    let mut lab = lab6();
    service(&mut lab, "198.18.1.11", FwdMethod::FullNat);
    lab.feed(OUT, &datagram(CLIENT6, VIP6, 33000, 53, 10));
    lab.feed(IN, &arp(RS1_MAC, IN_MAC, 2, RS1_MAC, RS1, IN_MAC, DIR_IN));
    let whole = datagram(CLIENT6, VIP6, 33000, 53, 4000);
    let sent = feed_all(&mut lab, &fragments(&whole, 1500, 9), IN);
    assert_eq!(sent.len(), 3, "IPv4 fragments of the translated datagram");
    let mut payload = Vec::new();
    for f in &sent {
        let h = crate::wire::ipv4::Header::new_checked(&f[ETH..]).unwrap();
        assert!(!h.dont_fragment());
        assert_eq!((h.src(), h.dst()), (u32::from_be_bytes(DIR_IN), u32::from_be_bytes(RS1)));
        payload.extend_from_slice(h.payload());
    }
    assert_eq!(payload.len(), 8 + 4000);
    let sum = crate::wire::checksum::pseudo_header(
        u32::from_be_bytes(DIR_IN),
        u32::from_be_bytes(RS1),
        IPPROTO_UDP,
        payload.len() as u16,
    )
    .add_bytes(&payload)
    .finish();
    assert_eq!(sum, 0, "the UDP checksum over the whole datagram verifies over IPv4");
    assert_eq!(payload[8..], whole[ETH + IP6 + 8..]);
}

#[test]
fn fragments_rvs_does_not_reassemble_are_counted() {
    let mut lab = lab6();
    service(&mut lab, RS1_6, FwdMethod::Masq);
    let whole = datagram(CLIENT6, VIP6, 33000, 53, 3000);
    let pieces = fragments(&whole, 1500, 11);
    // A piece twice: dropped alone; the datagram still completes.
    assert_eq!(lab.feed(OUT, &pieces[0]).0, Verdict::Consumed);
    assert_eq!(lab.feed(OUT, &pieces[0]).0, Verdict::Drop(Reason::FragDuplicate));
    // A hop-by-hop header before the fragment header: not reassembled.
    let mut hbh = pieces[1].clone();
    hbh[ETH + 6] = ipv6::NH_HOP_BY_HOP;
    hbh.splice(ETH + IP6..ETH + IP6, [NH_FRAGMENT, 0, 1, 4, 0, 0, 0, 0]);
    let len = u16::from_be_bytes([hbh[ETH + 4], hbh[ETH + 5]]) + 8;
    hbh[ETH + 4..ETH + 6].copy_from_slice(&len.to_be_bytes());
    assert_eq!(lab.feed(OUT, &hbh).0, Verdict::Drop(Reason::Ipv6Fragment));
    // Never completed: let go at the time limit and counted.
    lab.now += 5_000;
    lab.d.tick(lab.now, &mut lab.tx);
    assert!(lab.d.shared().counters.total(Reason::FragTimeout) >= 1);
}

#[test]
fn tun_over_ipv6_fragments_the_outer_packet_of_a_reassembled_datagram() {
    let mut lab = lab6();
    service(&mut lab, RS1_6, FwdMethod::Tunnel);
    lab.feed(OUT, &datagram(CLIENT6, VIP6, 33000, 53, 10));
    lab.feed(IN, &advertisement(IN, RS1_MAC, RS1_6, IN6));
    let whole = datagram(CLIENT6, VIP6, 33000, 53, 4000);
    let sent = feed_all(&mut lab, &fragments(&whole, 1500, 13), IN);
    let outer = reassemble(&sent, 1500);
    let h = ipv6::Header::new_checked(&outer[ETH..]).unwrap();
    assert_eq!((h.src(), h.dst(), h.next_header()), (a(IN6), a(RS1_6), crate::wire::ip_protocol::IPPROTO_IPV6));
    assert_eq!(&outer[ETH + IP6..], &whole[ETH..], "the client's datagram whole inside");
}
