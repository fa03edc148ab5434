//! The IPv6 stage against frames as peers send them: solicitations (unicast,
//! to the solicited-node group, duplicate address detection), echo, and
//! every kind of malformed packet, each counted by its reason.

use super::{Reason, Verdict};
use crate::net::iface::Interfaces;
use crate::testkit::*;
use crate::wire::ethernet::{self, HEADER_LEN as ETH};
use crate::wire::icmpv6::{self, nd};
use crate::wire::ip_protocol::{IPPROTO_ICMPV6, IPPROTO_UDP};
use crate::wire::ipv6::{self, HEADER_LEN as IP6};
use std::net::Ipv6Addr;

fn a(s: &str) -> u128 {
    u128::from(s.parse::<Ipv6Addr>().unwrap())
}

const CLIENT6: &str = "2001:db8:6::10";
const MINE6: &str = "2001:db8:6::1";
const VIP6: &str = "2001:db8:6::100";

/// The standard lab with MINE6/64 and VIP6 on its outside interface.
fn lab() -> Lab {
    Lab::with_limits(ifaces6(), small_limits(64))
}

fn ifaces6() -> Interfaces {
    let mut ifaces: Interfaces = interfaces(DIR_OUT, DIR_IN);
    ifaces.0[OUT as usize].addrs6 = vec![(a(MINE6), 64)];
    ifaces.0[OUT as usize].vips6 = vec![a(VIP6)];
    ifaces
}

/// An IPv6 frame of `payload` (next header `next`) from `src` to `dst`.
fn frame6(dst_mac: [u8; 6], src: u128, dst: u128, hop_limit: u8, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ETH + IP6 + payload.len()];
    ethernet::write_header(&mut f, &dst_mac, &CLIENT_MAC, ethernet::ETHERTYPE_IPV6);
    ipv6::write_header(&mut f[ETH..], payload.len() as u16, next, hop_limit, src, dst);
    f[ETH + IP6..].copy_from_slice(payload);
    f
}

fn solicitation(src: u128, dst: u128, target: u128, with_option: bool) -> Vec<u8> {
    let mut m = [0u8; nd::MESSAGE_LEN];
    icmpv6::write_neighbour_message(&mut m, icmpv6::NEIGHBOR_SOLICITATION, 0, target, &CLIENT_MAC, src, dst);
    let len = if with_option { nd::MESSAGE_LEN } else { nd::OPTIONS };
    icmpv6::fill_checksum(&mut m[..len], src, dst);
    frame6(ipv6::multicast_mac(dst), src, dst, 255, IPPROTO_ICMPV6, &m[..len])
}

fn echo(dst: u128, data: &[u8]) -> Vec<u8> {
    let mut m = vec![icmpv6::ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 7];
    m.extend_from_slice(data);
    icmpv6::fill_checksum(&mut m, a(CLIENT6), dst);
    frame6(OUT_MAC, a(CLIENT6), dst, 64, IPPROTO_ICMPV6, &m)
}

fn count(lab: &Lab, r: Reason) -> u64 {
    lab.d.shared().counters.total(r)
}

#[test]
fn a_solicitation_for_an_address_or_vip_is_answered_with_the_interfaces_mac() {
    let mut lab = lab();
    for target in [MINE6, VIP6] {
        let ns = solicitation(a(CLIENT6), ipv6::solicited_node(a(target)), a(target), true);
        let (v, out) = lab.feed(OUT, &ns);
        assert_eq!(v, Verdict::Forward(OUT), "{target}");
        // To the asker's MAC (its option), from ours; IPv6 from the target to the asker, hop limit 255.
        assert_eq!((&out[0..6], &out[6..12]), (&CLIENT_MAC[..], &OUT_MAC[..]));
        let h = ipv6::Header::new_checked(&out[ETH..]).unwrap();
        assert_eq!((h.src(), h.dst(), h.hop_limit(), h.next_header()), (a(target), a(CLIENT6), 255, IPPROTO_ICMPV6));
        let msg = &out[ETH + IP6..];
        assert!(icmpv6::verify_checksum(msg, a(target), a(CLIENT6)));
        assert_eq!(msg[0], icmpv6::NEIGHBOR_ADVERTISEMENT);
        let na = icmpv6::neighbour_message(msg).unwrap();
        assert_eq!(na.target, a(target));
        assert_eq!(na.flags, nd::FLAG_SOLICITED | nd::FLAG_OVERRIDE);
        assert_eq!(na.link_addr, Some(OUT_MAC));
    }
    assert_eq!(count(&lab, Reason::NdAdvertised), 2);
    // Not ours: consumed and counted, no answer; and not ours on the other interface.
    let other = solicitation(a(CLIENT6), ipv6::solicited_node(a("2001:db8:6::99")), a("2001:db8:6::99"), true);
    assert_eq!(lab.feed(OUT, &other).0, Verdict::Consumed);
    let wrong_side = solicitation(a(CLIENT6), ipv6::solicited_node(a(MINE6)), a(MINE6), true);
    assert_eq!(lab.feed(IN, &wrong_side).0, Verdict::Consumed);
    assert_eq!(count(&lab, Reason::NdIgnored), 2);
}

#[test]
fn duplicate_address_detection_is_answered_to_all_nodes() {
    let mut lab = lab();
    let ns = solicitation(0, ipv6::solicited_node(a(MINE6)), a(MINE6), false);
    let (v, out) = lab.feed(OUT, &ns);
    assert_eq!(v, Verdict::Forward(OUT));
    assert_eq!(&out[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
    let h = ipv6::Header::new_checked(&out[ETH..]).unwrap();
    assert_eq!(h.dst(), a("ff02::1"));
    let na = icmpv6::neighbour_message(&out[ETH + IP6..]).unwrap();
    assert_eq!(na.flags, nd::FLAG_OVERRIDE, "not solicited");
}

#[test]
fn invalid_solicitations_are_dropped_and_counted() {
    let mut lab = lab();
    let group = ipv6::solicited_node(a(MINE6));
    // Forwarded by a router (hop limit 254).
    let mut routed = solicitation(a(CLIENT6), group, a(MINE6), true);
    routed[ETH + 7] = 254;
    // Duplicate address detection with a source link-layer option; or not to the group.
    let dad_option = solicitation(0, group, a(MINE6), true);
    let dad_unicast = solicitation(0, a(MINE6), a(MINE6), false);
    // A multicast target.
    let multicast = solicitation(a(CLIENT6), group, a("ff02::1"), true);
    // An option of length 0.
    let mut zero = solicitation(a(CLIENT6), group, a(MINE6), true);
    zero[ETH + IP6 + nd::OPTIONS + 1] = 0;
    icmpv6::fill_checksum(&mut zero[ETH + IP6..], a(CLIENT6), group);
    for (name, f) in [
        ("routed", routed),
        ("dad-option", dad_option),
        ("dad-unicast", dad_unicast),
        ("multicast", multicast),
        ("zero", zero),
    ] {
        assert_eq!(lab.feed(OUT, &f).0, Verdict::Drop(Reason::NdInvalid), "{name}");
    }
    let mut bad_sum = solicitation(a(CLIENT6), group, a(MINE6), true);
    bad_sum[ETH + IP6 + 9] ^= 1;
    assert_eq!(lab.feed(OUT, &bad_sum).0, Verdict::Drop(Reason::Icmpv6Checksum));
    assert_eq!(count(&lab, Reason::NdAdvertised), 0);
}

#[test]
fn echo_to_an_address_is_answered_and_to_others_dropped() {
    let mut lab = lab();
    let (v, out) = lab.feed(OUT, &echo(a(MINE6), b"abcdefgh"));
    assert_eq!(v, Verdict::Forward(OUT));
    assert_eq!((&out[0..6], &out[6..12]), (&CLIENT_MAC[..], &OUT_MAC[..]));
    let h = ipv6::Header::new_checked(&out[ETH..]).unwrap();
    assert_eq!((h.src(), h.dst(), h.hop_limit()), (a(MINE6), a(CLIENT6), 64));
    let msg = &out[ETH + IP6..];
    assert_eq!((msg[0], &msg[4..8], &msg[8..]), (icmpv6::ECHO_REPLY, &[0x12, 0x34, 0, 7][..], &b"abcdefgh"[..]));
    assert!(icmpv6::verify_checksum(msg, a(MINE6), a(CLIENT6)));
    assert_eq!(lab.feed(OUT, &echo(a(VIP6), b"x")).0, Verdict::Forward(OUT));
    assert_eq!(lab.feed(OUT, &echo(a("2001:db8:6::99"), b"x")).0, Verdict::Drop(Reason::Icmpv6Unsupported));
    assert_eq!(count(&lab, Reason::Echo6Replied), 2);
}

#[test]
fn an_echo_behind_extension_headers_is_answered_without_them() {
    let mut lab = lab();
    let mut m = vec![icmpv6::ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1, 9, 9];
    icmpv6::fill_checksum(&mut m, a(CLIENT6), a(MINE6));
    let mut payload = vec![IPPROTO_ICMPV6, 0, 1, 4, 0, 0, 0, 0]; // destination options, 8 bytes
    payload.extend_from_slice(&m);
    let f = frame6(OUT_MAC, a(CLIENT6), a(MINE6), 64, ipv6::NH_DEST_OPTS, &payload);
    let (v, out) = lab.feed(OUT, &f);
    assert_eq!(v, Verdict::Forward(OUT));
    assert_eq!(out.len(), ETH + IP6 + m.len());
    let h = ipv6::Header::new_checked(&out[ETH..]).unwrap();
    assert_eq!((h.next_header(), h.payload_len() as usize), (IPPROTO_ICMPV6, m.len()));
    assert!(icmpv6::verify_checksum(&out[ETH + IP6..], a(MINE6), a(CLIENT6)));
}

#[test]
fn malformed_ipv6_is_dropped_by_reason() {
    let mut lab = lab();
    let good = echo(a(MINE6), b"abcd");
    let truncated = good[..ETH + 30].to_vec();
    let mut version = good.clone();
    version[ETH] = 0x40;
    let mut payload_len = good.clone();
    payload_len[ETH + 4..ETH + 6].copy_from_slice(&500u16.to_be_bytes());
    let extension =
        frame6(OUT_MAC, a(CLIENT6), a(MINE6), 64, ipv6::NH_HOP_BY_HOP, &[IPPROTO_ICMPV6, 9, 0, 0, 0, 0, 0, 0]);
    // A first piece of 4 bytes with more to come (pieces but the last are multiples of 8), and
    // a piece of an ICMPv6 message (frag6.rs reassembles TCP and UDP only).
    let fragment =
        frame6(OUT_MAC, a(CLIENT6), a(MINE6), 64, ipv6::NH_FRAGMENT, &[IPPROTO_UDP, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    let icmp_fragment = frame6(
        OUT_MAC,
        a(CLIENT6),
        a(MINE6),
        64,
        ipv6::NH_FRAGMENT,
        &[IPPROTO_ICMPV6, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    let udp = frame6(OUT_MAC, a(CLIENT6), a(MINE6), 64, IPPROTO_UDP, &[0, 1, 0, 2, 0, 8, 0, 0]);
    let short_icmp = frame6(OUT_MAC, a(CLIENT6), a(MINE6), 64, IPPROTO_ICMPV6, &[128, 0, 0]);
    for (f, r) in [
        (truncated, Reason::Ipv6Truncated),
        (version, Reason::Ipv6Version),
        (payload_len, Reason::Ipv6PayloadLength),
        (extension, Reason::Ipv6Extension),
        (fragment, Reason::FragBad),
        (icmp_fragment, Reason::Ipv6Fragment),
        (udp, Reason::NoService),
        (short_icmp, Reason::L4Truncated),
    ] {
        assert_eq!(lab.feed(OUT, &f).0, Verdict::Drop(r), "{}", r.name());
    }
    // Ethernet padding after the packet is not part of it: still answered.
    let mut padded = good.clone();
    padded.extend_from_slice(&[0; 10]);
    assert_eq!(lab.feed(OUT, &padded).0, Verdict::Forward(OUT));
}

#[test]
fn a_backup_answers_for_its_addresses_not_for_vips() {
    let mut lab = lab();
    let shared = lab.d.shared().clone();
    shared.ha.set_role(super::role::Role::Backup);
    let routes = crate::net::route::RouteTable::build(&ifaces6(), &[]).unwrap();
    lab.d = super::Director::new(0, ifaces6(), routes, shared, small_limits(64), lab.now);
    assert!(lab.d.is_backup());
    let ns = |t: &str| solicitation(a(CLIENT6), ipv6::solicited_node(a(t)), a(t), true);
    assert_eq!(lab.feed(OUT, &ns(MINE6)).0, Verdict::Forward(OUT));
    assert_eq!(lab.feed(OUT, &ns(VIP6)).0, Verdict::Drop(Reason::BackupRole));
    assert_eq!(lab.feed(OUT, &echo(a(MINE6), b"x")).0, Verdict::Forward(OUT));
    assert_eq!(lab.feed(OUT, &echo(a(VIP6), b"x")).0, Verdict::Drop(Reason::BackupRole));
}

#[test]
fn a_master_announces_its_ipv6_vips_unsolicited_and_a_backup_does_not() {
    let mut lab = lab();
    // One round per tick, each sent at once (the rounds of a takeover burst).
    for _ in 0..10 {
        lab.now += 1;
        let now = lab.now;
        lab.d.tick(now, &mut lab.tx);
    }
    let nas: Vec<&(crate::net::IfaceId, Vec<u8>)> =
        lab.tx.0.iter().filter(|(_, f)| f[12..14] == [0x86, 0xdd]).collect();
    // garp_master_repeat (5) advertisements of VIP6, out of the interface listing it, none of MINE6.
    assert_eq!(nas.len(), 5, "{nas:?}");
    for (iface, f) in nas {
        assert_eq!(*iface, OUT);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1], "to all nodes");
        let h = ipv6::Header::new_checked(&f[ETH..]).unwrap();
        assert_eq!((h.src(), h.dst(), h.hop_limit()), (a(VIP6), a("ff02::1"), 255));
        assert!(icmpv6::verify_checksum(&f[ETH + IP6..], a(VIP6), a("ff02::1")));
        let na = icmpv6::neighbour_message(&f[ETH + IP6..]).unwrap();
        assert_eq!((na.target, na.flags, na.link_addr), (a(VIP6), nd::FLAG_OVERRIDE, Some(OUT_MAC)));
    }
    assert_eq!(count(&lab, Reason::NdUnsolicitedSent), 5);
    // A backup sends none.
    let shared = lab.d.shared().clone();
    shared.ha.set_role(super::role::Role::Backup);
    let routes = crate::net::route::RouteTable::build(&ifaces6(), &[]).unwrap();
    lab.d = super::Director::new(0, ifaces6(), routes, shared, small_limits(64), lab.now);
    lab.tx.0.clear();
    for _ in 0..10 {
        lab.now += 1;
        let now = lab.now;
        lab.d.tick(now, &mut lab.tx);
    }
    assert!(lab.tx.0.is_empty(), "{:?}", lab.tx.0);
}

/// An advertisement for `target` from CLIENT6 to `dst`, with `flags` and the
/// target link-layer option `mac` (none: without it).
fn advertisement(dst: u128, target: u128, flags: u8, mac: Option<[u8; 6]>, hop_limit: u8) -> Vec<u8> {
    let mut m = [0u8; nd::MESSAGE_LEN];
    icmpv6::write_neighbour_message(
        &mut m,
        icmpv6::NEIGHBOR_ADVERTISEMENT,
        flags,
        target,
        &mac.unwrap_or([0; 6]),
        0,
        0,
    );
    let len = if mac.is_some() { nd::MESSAGE_LEN } else { nd::OPTIONS };
    m[2..4].fill(0);
    icmpv6::fill_checksum(&mut m[..len], a(CLIENT6), dst);
    let to_mac = if ipv6::is_multicast(dst) { ipv6::multicast_mac(dst) } else { OUT_MAC };
    frame6(to_mac, a(CLIENT6), dst, hop_limit, IPPROTO_ICMPV6, &m[..len])
}

/// A UDP datagram from MINE6 to CLIENT6 as the director would send one: a
/// frame whose Ethernet header the egress writes.
fn outgoing6() -> Vec<u8> {
    let mut f =
        frame6([0; 6], a(MINE6), a(CLIENT6), 64, IPPROTO_UDP, &[0x30, 0x39, 0x00, 0x35, 0, 12, 0, 0, 1, 2, 3, 4]);
    f[0..12].fill(0);
    f
}

/// The solicitation rvs sent for `target`: from MINE6 with OUT_MAC as its
/// source link-layer address, to the target's solicited-node group (or,
/// re-probing, to `unicast`).
fn assert_solicitation(frame: &[u8], target: u128, unicast: Option<[u8; 6]>) {
    let (dst, dst_mac) = match unicast {
        Some(mac) => (target, mac),
        None => (ipv6::solicited_node(target), ipv6::multicast_mac(ipv6::solicited_node(target))),
    };
    assert_eq!((&frame[0..6], &frame[6..12]), (&dst_mac[..], &OUT_MAC[..]));
    let h = ipv6::Header::new_checked(&frame[ETH..]).unwrap();
    assert_eq!((h.src(), h.dst(), h.hop_limit(), h.next_header()), (a(MINE6), dst, 255, IPPROTO_ICMPV6));
    let msg = &frame[ETH + IP6..];
    assert!(icmpv6::verify_checksum(msg, a(MINE6), dst));
    assert_eq!(msg[0], icmpv6::NEIGHBOR_SOLICITATION);
    let ns = icmpv6::neighbour_message(msg).unwrap();
    assert_eq!((ns.target, ns.link_addr), (target, Some(OUT_MAC)));
}

#[test]
fn an_ipv6_next_hop_is_resolved_by_solicitation_and_the_held_packet_sent_on_its_advertisement() {
    let mut lab = lab();
    let mut pkt = outgoing6();
    let now = lab.now;
    // Unknown: held, and a solicitation to the client's solicited-node group.
    let v = lab.d.route_out6(now, a(CLIENT6), &mut pkt, &mut lab.tx);
    assert_eq!(v, Some(Verdict::Consumed));
    assert_eq!(lab.tx.0.len(), 1);
    assert_eq!(lab.tx.0[0].0, OUT);
    assert_solicitation(&lab.tx.0[0].1, a(CLIENT6), None);
    assert_eq!((count(&lab, Reason::NdSolicitSent), count(&lab, Reason::HeldForNd)), (1, 1));
    // Off every IPv6 link: no route (no IPv6 gateways yet).
    assert_eq!(lab.d.route_out6(now, a("2001:db8:99::1"), &mut outgoing6(), &mut lab.tx), None);
    // The client's answer: learnt, and the held datagram goes to its MAC.
    lab.tx.0.clear();
    let na = advertisement(a(MINE6), a(CLIENT6), nd::FLAG_SOLICITED | nd::FLAG_OVERRIDE, Some(CLIENT_MAC), 255);
    assert_eq!(lab.feed(OUT, &na).0, Verdict::Consumed);
    assert_eq!(count(&lab, Reason::NdLearned), 1);
    assert_eq!(lab.tx.0.len(), 1, "the held datagram");
    let (iface, released) = &lab.tx.0[0];
    assert_eq!(*iface, OUT);
    assert_eq!((&released[0..6], &released[6..12]), (&CLIENT_MAC[..], &OUT_MAC[..]));
    assert_eq!(&released[12..], &outgoing6()[12..], "the datagram as it was given");
    // Known now: sent at once, listed.
    let mut pkt = outgoing6();
    let now = lab.now;
    assert_eq!(lab.d.route_out6(now, a(CLIENT6), &mut pkt, &mut lab.tx), Some(Verdict::Forward(OUT)));
    assert_eq!(&pkt[0..6], &CLIENT_MAC);
    let views = lab.d.neighbour_views(now);
    let v6: Vec<_> = views.iter().filter(|v| v.ip.is_ipv6()).collect();
    assert_eq!(v6.len(), 1);
    assert_eq!((v6[0].ip.to_string().as_str(), v6[0].mac, v6[0].state), (CLIENT6, Some(CLIENT_MAC), "REACHABLE"));
    // Past REACHABLE_MS: still sent, with a unicast probe to the known MAC.
    lab.tx.0.clear();
    let later = now + crate::net::neighbour::REACHABLE_MS + 1;
    assert_eq!(lab.d.route_out6(later, a(CLIENT6), &mut outgoing6(), &mut lab.tx), Some(Verdict::Forward(OUT)));
    assert_eq!(lab.tx.0.len(), 1);
    assert_solicitation(&lab.tx.0[0].1, a(CLIENT6), Some(CLIENT_MAC));
}

#[test]
fn advertisements_teach_only_what_was_asked_and_bad_ones_are_dropped() {
    let mut lab = lab();
    let flags = nd::FLAG_SOLICITED | nd::FLAG_OVERRIDE;
    // Nobody asked: no entry (an unsolicited flood cannot fill the table).
    let unasked = advertisement(a(MINE6), a(CLIENT6), nd::FLAG_OVERRIDE, Some(CLIENT_MAC), 255);
    assert_eq!(lab.feed(OUT, &unasked).0, Verdict::Consumed);
    assert_eq!(count(&lab, Reason::NdIgnored), 1);
    assert!(lab.d.neighbour_views(lab.now).is_empty());
    let now = lab.now;
    assert_eq!(lab.d.route_out6(now, a(CLIENT6), &mut outgoing6(), &mut lab.tx), Some(Verdict::Consumed));
    // RFC 4861 7.1.2: routed (hop limit 254), a multicast target, solicited to a group.
    let routed = advertisement(a(MINE6), a(CLIENT6), flags, Some(CLIENT_MAC), 254);
    let multicast_target = advertisement(a(MINE6), a("ff02::1"), flags, Some(CLIENT_MAC), 255);
    let to_group = advertisement(ipv6::ALL_NODES, a(CLIENT6), flags, Some(CLIENT_MAC), 255);
    for f in [&routed, &multicast_target, &to_group] {
        assert_eq!(lab.feed(OUT, f).0, Verdict::Drop(Reason::NdInvalid));
    }
    // Without the target's link-layer address: nothing to learn.
    let bare = advertisement(a(MINE6), a(CLIENT6), flags, None, 255);
    assert_eq!(lab.feed(OUT, &bare).0, Verdict::Consumed);
    assert_eq!(count(&lab, Reason::NdLearned), 0);
    let views = lab.d.neighbour_views(lab.now);
    assert_eq!((views.len(), views[0].state), (1, "INCOMPLETE"));
    // An unsolicited override for the entry asked about does teach it (RFC 4861 7.2.5).
    assert_eq!(lab.feed(OUT, &unasked).0, Verdict::Consumed);
    assert_eq!(count(&lab, Reason::NdLearned), 1);
}

#[test]
fn an_unanswered_solicitation_is_retried_then_given_up_with_its_packets() {
    let mut lab = lab();
    let start = lab.now;
    assert_eq!(lab.d.route_out6(start, a(CLIENT6), &mut outgoing6(), &mut lab.tx), Some(Verdict::Consumed));
    let probe = crate::net::neighbour::PROBE_INTERVAL_MS;
    let mut sent = 1;
    for k in 1..=crate::net::neighbour::MAX_PROBES as u64 + 1 {
        lab.tx.0.clear();
        lab.d.tick(start + k * probe, &mut lab.tx);
        // (The tick also announces the VIP: advertisements, not counted here.)
        let solicitations: Vec<_> =
            lab.tx.0.iter().filter(|(_, f)| f.get(ETH + IP6) == Some(&icmpv6::NEIGHBOR_SOLICITATION)).collect();
        sent += solicitations.len() as u64;
        for (_, f) in solicitations {
            assert_solicitation(f, a(CLIENT6), None);
        }
    }
    assert_eq!(sent, crate::net::neighbour::MAX_PROBES as u64);
    assert_eq!(count(&lab, Reason::NdSolicitSent), sent);
    let now = start + 10 * probe;
    let views = lab.d.neighbour_views(now);
    assert_eq!(views.iter().map(|v| v.state).collect::<Vec<_>>(), ["FAILED"]);
    // Given up at the third tick; within the hold-off after it, not asked again.
    let holdoff = start + 3 * probe + crate::net::neighbour::FAILED_HOLDOFF_MS / 2;
    assert_eq!(
        lab.d.route_out6(holdoff, a(CLIENT6), &mut outgoing6(), &mut lab.tx),
        Some(Verdict::Drop(Reason::NeighbourUnreachable))
    );
}
