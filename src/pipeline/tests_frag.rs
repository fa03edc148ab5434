//! Fragmented datagrams through the director (frag.rs, net/reassembly.rs): every forwarding
//! method and the replies, fragments in order, reversed and shuffled, each output put back
//! together by the test kit and checked whole (addresses, ports, every checksum recomputed,
//! the payload byte for byte); and the fragments that must not pass, each counted by why.

use super::*;
use crate::api::command::Command;
use crate::api::{FwdMethod, ServiceKey};
use crate::testkit::frames::*;
use crate::testkit::inspect::*;
use crate::testkit::*;
use crate::wire::ip_protocol::{IPPROTO_IPIP, IPPROTO_UDP};
use std::net::Ipv4Addr;

/// The sizes of the issue: DNS over EDNS0 answers.
const SIZES: [usize; 2] = [4_000, 9_000];
const MTU: usize = 1_500;

/// A lab with UDP VIP:53 over RS1:5353 by `fwd` (FULLNAT from LIP), both sides' MACs known.
fn udp_lab(fwd: FwdMethod, limits: Limits) -> Lab {
    let mut lab = udp_lab_unresolved(fwd, limits);
    lab.learn(IN, RS1, RS1_MAC);
    lab
}

/// [`udp_lab`] before the director has resolved the real server's MAC.
fn udp_lab_unresolved(fwd: FwdMethod, limits: Limits) -> Lab {
    let mut lab = Lab::with_limits(interfaces(DIR_OUT, DIR_IN), limits);
    let key = ServiceKey::Addr { proto: IPPROTO_UDP, addr: std::net::IpAddr::from(Ipv4Addr::from(VIP)), port: 53 };
    lab.cmd(Command::AddService(service_spec(key, "rr")));
    lab.cmd(Command::AddDest(key, dest_spec(RS1, 5353, fwd, 1)));
    if fwd == FwdMethod::FullNat {
        lab.cmd(Command::AddLaddr(key, std::net::IpAddr::from(Ipv4Addr::from(LIP))));
    }
    lab.learn(OUT, CLIENT, CLIENT_MAC);
    lab.tx.0.clear();
    lab
}

/// `n` bytes of UDP payload no two datagrams share.
fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// The orders a datagram's pieces are sent in: as sent, the last first, and mixed.
fn orders(n: usize) -> Vec<(&'static str, Vec<usize>)> {
    let mut mixed: Vec<usize> = (0..n).collect();
    // A fixed shuffle: the first piece (with the ports) neither first nor last.
    mixed.swap(0, n / 2);
    mixed.rotate_left(1);
    mixed.swap(1, n - 1);
    vec![("in order", (0..n).collect()), ("reversed", (0..n).rev().collect()), ("shuffled", mixed)]
}

/// Feed `frames` on `iface` in `order`: every piece but the last held, the last releasing the
/// datagram; returns the frames sent out of `out_iface` (and clears what was sent).
fn send(lab: &mut Lab, iface: IfaceId, frames: &[Vec<u8>], order: &[usize], out_iface: IfaceId) -> Vec<Vec<u8>> {
    for (k, &i) in order.iter().enumerate() {
        let v = lab.feed(iface, &frames[i]).0;
        if k + 1 < order.len() {
            assert_eq!(v, Verdict::Consumed, "piece {i} held");
            assert!(lab.tx.0.is_empty(), "nothing leaves before the datagram is whole");
        } else {
            assert!(matches!(v, Verdict::Consumed | Verdict::Forward(_)), "the last piece: {v:?}");
        }
    }
    let sent: Vec<_> = std::mem::take(&mut lab.tx.0);
    assert!(sent.iter().all(|(i, _)| *i == out_iface), "all out of interface {out_iface}");
    sent.into_iter().map(|(_, f)| f).collect()
}

fn counter(lab: &Lab, r: Reason) -> u64 {
    lab.d.shared().counters.total(r)
}

/// What leaves the director fits the MTU, and every fragment's header checksum is right.
fn assert_fit(frames: &[Vec<u8>]) {
    for f in frames {
        assert!(f.len() - 14 <= MTU, "{} bytes of IP over an MTU of {MTU}", f.len() - 14);
        assert_eq!(crate::wire::checksum::Checksum::new().add_bytes(&f[14..34]).finish(), 0);
    }
}

/// The UDP payload of a whole frame.
fn udp_payload(f: &[u8]) -> &[u8] {
    let ihl = (f[14] & 15) as usize * 4;
    &f[14 + ihl + 8..]
}

#[test]
fn requests_in_any_order_through_every_method() {
    let mut checked = 0;
    for fwd in [FwdMethod::Masq, FwdMethod::Route, FwdMethod::Tunnel, FwdMethod::FullNat] {
        for size in SIZES {
            let frags_of = |sport: u16| {
                let dgram = udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, sport, 53, &payload(size, sport as u8));
                (dgram.clone(), fragments(&with_ident(&dgram, sport), MTU))
            };
            let (_, first) = frags_of(40_000);
            for (name, order) in orders(first.len()) {
                let mut lab = udp_lab(fwd, small_limits(64));
                let (dgram, frags) = frags_of(40_000 + size as u16 % 7);
                let out = send(&mut lab, OUT, &frags, &order, IN);
                assert_fit(&out);
                let whole = reassemble(&out);
                assert_eq!(&whole[0..6], &RS1_MAC, "{fwd:?} {size} {name}: to the real server's MAC");
                let inner = match fwd {
                    FwdMethod::Tunnel => {
                        assert_eq!(
                            (whole[14 + 9], field_ip(&whole, 12), field_ip(&whole, 16)),
                            (IPPROTO_IPIP, DIR_IN, RS1)
                        );
                        // The tunnel carries the whole datagram: its inner header as the
                        // client's kernel would have sent it unfragmented, but for MF and offset.
                        let mut inner = whole[..14].to_vec();
                        inner.extend_from_slice(&whole[34..]);
                        assert_eq!(inner[14..34], reassemble(&frags)[14..34], "the inner header");
                        inner
                    }
                    _ => whole,
                };
                let (src, dst, sport, dport) = match fwd {
                    FwdMethod::Masq => (CLIENT, RS1, l4_port(&dgram, 0), 5353),
                    FwdMethod::FullNat => (LIP, RS1, l4_port(&inner, 0), 5353),
                    _ => (CLIENT, VIP, l4_port(&dgram, 0), 53),
                };
                assert_eq!((field_ip(&inner, 12), field_ip(&inner, 16)), (src, dst), "{fwd:?} {size} {name}");
                assert_eq!((l4_port(&inner, 0), l4_port(&inner, 2)), (sport, dport), "{fwd:?} {size} {name}");
                assert_eq!(udp_payload(&inner), udp_payload(&dgram), "{fwd:?} {size} {name}: payload");
                assert_checksums(&inner);
                assert_eq!(counter(&lab, Reason::Reassembled), 1);
                assert_eq!(counter(&lab, Reason::FragHeld), frags.len() as u64 - 1);
                assert_eq!(lab.d.connection_count(), 1, "one connection for the datagram");
                checked += 1;
            }
        }
    }
    println!("{checked} fragmented requests reassembled, forwarded and checked whole");
}

#[test]
fn replies_of_nat_and_fullnat_in_any_order() {
    for fwd in [FwdMethod::Masq, FwdMethod::FullNat] {
        for size in SIZES {
            for (name, order) in
                orders(fragments(&udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1, 53, &payload(size, 0)), MTU).len())
            {
                let mut lab = udp_lab(fwd, small_limits(64));
                // A small request opens the connection.
                let (v, req) = lab.feed(OUT, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40_001, 53, b"q"));
                assert_eq!(v, Verdict::Forward(IN));
                let (to, to_port) = (field_ip(&req, 12), l4_port(&req, 0));
                let answer = udp(RS1_MAC, IN_MAC, RS1, to, 5353, to_port, &payload(size, 9));
                let frags = fragments(&with_ident(&answer, 77), MTU);
                let out = send(&mut lab, IN, &frags, &order, OUT);
                assert_fit(&out);
                let whole = reassemble(&out);
                assert_eq!(&whole[0..6], &CLIENT_MAC);
                assert_eq!((field_ip(&whole, 12), field_ip(&whole, 16)), (VIP, CLIENT), "{fwd:?} {size} {name}");
                assert_eq!((l4_port(&whole, 0), l4_port(&whole, 2)), (53, 40_001), "{fwd:?} {size} {name}");
                assert_eq!(udp_payload(&whole), udp_payload(&answer), "{fwd:?} {size} {name}: payload");
                assert_checksums(&whole);
                assert_eq!(lab.d.connection_count(), 1, "the reply found its connection");
            }
        }
    }
}

#[test]
fn a_tiny_first_fragment_and_a_datagram_that_fits_once_whole() {
    // 8 bytes of UDP header alone in the first piece: the ports come whole only after
    // reassembly; the datagram (300 bytes) then leaves unfragmented.
    let mut lab = udp_lab(FwdMethod::Masq, small_limits(64));
    let dgram = with_ident(&udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40_002, 53, &payload(292, 1)), 5);
    let frags = [fragment_of(&dgram, 0, 8, true), fragment_of(&dgram, 8, 292, false)];
    let out = send(&mut lab, OUT, &frags, &[1, 0], IN);
    assert_eq!(out.len(), 1, "one frame: it fits");
    assert_eq!(out[0][20] & 0x3f, 0, "not a fragment");
    assert_eq!((field_ip(&out[0], 16), l4_port(&out[0], 2)), (RS1, 5353));
    assert_eq!(udp_payload(&out[0]), udp_payload(&dgram));
    assert_checksums(&out[0]);
}

#[test]
fn duplicates_are_dropped_alone_and_the_datagram_completes() {
    let mut lab = udp_lab(FwdMethod::Masq, small_limits(64));
    let dgram = with_ident(&udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40_003, 53, &payload(4_000, 2)), 6);
    let frags = fragments(&dgram, MTU);
    assert_eq!(lab.feed(OUT, &frags[1]).0, Verdict::Consumed);
    assert_eq!(lab.feed(OUT, &frags[1]).0, Verdict::Drop(Reason::FragDuplicate));
    assert_eq!(lab.feed(OUT, &frags[0]).0, Verdict::Consumed);
    assert_eq!(lab.feed(OUT, &frags[0]).0, Verdict::Drop(Reason::FragDuplicate));
    let out = send(&mut lab, OUT, &frags, &[2], IN);
    assert_eq!(udp_payload(&reassemble(&out)), udp_payload(&dgram));
    assert_eq!(counter(&lab, Reason::FragDuplicate), 2);
}

#[test]
fn overlapping_fragments_discard_the_datagram() {
    let mut lab = udp_lab(FwdMethod::Masq, small_limits(64));
    let dgram = with_ident(&udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40_004, 53, &payload(4_000, 3)), 7);
    let frags = fragments(&dgram, MTU);
    assert_eq!(lab.feed(OUT, &frags[0]).0, Verdict::Consumed);
    assert_eq!(lab.feed(OUT, &frags[2]).0, Verdict::Consumed);
    // 1,000 bytes from 1,000: into the first piece (which ends at 1,480).
    let over = fragment_of(&dgram, 1_000, 1_000, true);
    assert_eq!(lab.feed(OUT, &over).0, Verdict::Drop(Reason::FragOverlap));
    assert_eq!(counter(&lab, Reason::FragOverlap), 3, "the overlapping piece and the two held");
    // The middle piece now starts a datagram of its own that never completes.
    assert_eq!(lab.feed(OUT, &frags[1]).0, Verdict::Consumed);
    assert!(lab.tx.0.is_empty(), "nothing of it forwarded");
    assert_eq!(lab.d.connection_count(), 0);
    lab.now += 5_000;
    lab.d.tick(lab.now, &mut lab.tx);
    assert_eq!(counter(&lab, Reason::FragTimeout), 1);
    // A last piece disagreeing with the known end is an overlap too.
    assert_eq!(lab.feed(OUT, &frags[2]).0, Verdict::Consumed);
    let short = fragment_of(&dgram, 2_960, 8, false);
    assert_eq!(lab.feed(OUT, &short).0, Verdict::Drop(Reason::FragOverlap));
    assert_eq!(counter(&lab, Reason::FragOverlap), 5);
    assert!(lab.d.frags.is_empty());
}

#[test]
fn never_completed_datagrams_time_out_counted() {
    let mut lab = udp_lab(FwdMethod::Masq, small_limits(64));
    let dgram = with_ident(&udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40_005, 53, &payload(9_000, 4)), 8);
    let frags = fragments(&dgram, MTU);
    for f in &frags[..frags.len() - 1] {
        assert_eq!(lab.feed(OUT, f).0, Verdict::Consumed);
    }
    let held = frags.len() as u64 - 1;
    lab.d.tick(lab.now + 4_700, &mut lab.tx);
    assert_eq!(counter(&lab, Reason::FragTimeout), 0, "within the time limit");
    lab.d.tick(lab.now + 5_000, &mut lab.tx);
    assert_eq!(counter(&lab, Reason::FragTimeout), held, "each piece held, counted");
    assert!(lab.d.frags.is_empty() && lab.d.frags.bytes() == 0);
    // Its last piece, late, is held on its own (and would time out in turn).
    lab.now += 5_000;
    lab.tx.0.clear();
    assert_eq!(lab.feed(OUT, &frags[frags.len() - 1]).0, Verdict::Consumed);
    assert!(lab.tx.0.is_empty(), "nothing forwarded");
}

#[test]
fn malformed_fragments_are_dropped_counted() {
    let mut lab = udp_lab(FwdMethod::Masq, small_limits(64));
    let dgram = with_ident(&udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40_006, 53, &payload(4_000, 5)), 9);
    // Not a multiple of 8 but the last; past the largest datagram.
    assert_eq!(lab.feed(OUT, &fragment_of(&dgram, 0, 100, true)).0, Verdict::Drop(Reason::FragBad));
    let far = as_fragment(&fragment_of(&dgram, 0, 16, false), false, 8_190);
    assert_eq!(lab.feed(OUT, &far).0, Verdict::Drop(Reason::FragBad));
    assert_eq!(counter(&lab, Reason::FragBad), 2);
    assert!(lab.d.frags.is_empty());
}

#[test]
fn a_flood_of_incomplete_datagrams_keeps_memory_bounded_and_a_client_served() {
    use crate::net::reassembly::Limits as FragLimits;
    let frag = FragLimits { bytes: 256 << 10, bytes_per_source: 16 << 10, timeout_ms: 5_000 };
    let mut lab = udp_lab(FwdMethod::Masq, Limits { frag, ..small_limits(64) });
    // 5,000 sources, each one middle piece of a 9,000-byte datagram, and one source 40 of them.
    let flood = with_ident(&udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 9, 53, &payload(9_000, 6)), 1);
    let piece = fragment_of(&flood, 1_480, 1_480, true);
    for i in 0..5_000u32 {
        let mut f = piece.clone();
        f[26..30].copy_from_slice(&(0xc612_4000u32 + i).to_be_bytes());
        fix_ip(&mut f);
        assert_eq!(lab.feed(OUT, &f).0, Verdict::Consumed);
        assert!(lab.d.frags.bytes() <= frag.bytes, "{} bytes held", lab.d.frags.bytes());
    }
    let evicted = counter(&lab, Reason::FragEvicted);
    assert_eq!(evicted + lab.d.frags.len() as u64, 5_000, "each piece held or evicted, counted");
    let mut share = 0;
    for id in 0..40u16 {
        if lab.feed(OUT, &with_ident(&piece, 100 + id)).0 == Verdict::Drop(Reason::FragSourceShare) {
            share += 1;
        }
    }
    assert_eq!(share, 40 - 10, "16 KiB is ten pieces of 1,480 bytes");
    assert_eq!(counter(&lab, Reason::FragSourceShare), 30);
    // A real client's datagram still goes through.
    let dgram = with_ident(&udp(CLIENT_MAC, OUT_MAC, [198, 18, 0, 11], VIP, 40_007, 53, &payload(9_000, 7)), 2);
    let frags = fragments(&dgram, MTU);
    let out = send(&mut lab, OUT, &frags, &(0..frags.len()).collect::<Vec<_>>(), IN);
    assert_eq!(udp_payload(&reassemble(&out)), udp_payload(&dgram));
    println!(
        "flood: {} bytes held in {} datagrams, {evicted} evicted, {share} refused over a source's share",
        lab.d.frags.bytes(),
        lab.d.frags.len()
    );
}

#[test]
fn a_fragmented_ping_to_the_vip_is_answered_in_fragments() {
    let mut lab = udp_lab(FwdMethod::Masq, small_limits(64));
    let ping = with_ident(&echo_request(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1, 1, &payload(3_000, 8)), 10);
    let frags = fragments(&ping, MTU);
    let out = send(&mut lab, OUT, &frags, &[2, 0, 1], OUT);
    assert_fit(&out);
    let whole = reassemble(&out);
    assert_eq!((field_ip(&whole, 12), field_ip(&whole, 16), whole[34]), (VIP, CLIENT, 0), "an echo reply");
    assert_eq!(&whole[42..], &ping[42..], "its data echoed");
    assert_checksums(&whole);
}

#[test]
fn fragments_of_a_datagram_meet_in_one_loop() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_UDP, 53, &[(RS1, 5353, 1)]);
    let shared = lab.d.shared().clone();
    let ifaces = interfaces(DIR_OUT, DIR_IN);
    let routes = crate::net::route::RouteTable::build(&ifaces, &[]).unwrap();
    let mut d = Director::new(0, ifaces, routes, shared, Limits { workers: 4, ..Limits::default() }, 0);
    d.begin_batch();
    let of = |f: &[u8]| match d.owner(f, f.len()) {
        Owner::Me => 0,
        Owner::Loop(l) => l,
        Owner::All => usize::MAX,
    };
    let mut loops = std::collections::BTreeSet::new();
    for c in 0..32u8 {
        let client = [198, 18, 0, 20 + c];
        let req = udp(CLIENT_MAC, OUT_MAC, client, VIP, 40_000, 53, &payload(4_000, c));
        let rep = udp(RS1_MAC, IN_MAC, RS1, client, 5353, 40_000, &payload(4_000, c));
        let want = of(&req);
        for f in fragments(&req, MTU).iter().chain(fragments(&rep, MTU).iter()) {
            assert_eq!(of(f), want, "client {c}: every piece where the unfragmented request goes");
        }
        loops.insert(want);
    }
    assert!(loops.len() > 1, "clients spread over the loops: {loops:?}");
}

#[test]
fn random_pieces_through_the_director_never_panic() {
    let mut lab = udp_lab(FwdMethod::Masq, small_limits(64));
    let base = udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40_008, 53, &payload(9_000, 11));
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut forwarded = 0;
    for i in 0..20_000u16 {
        // Now and then a whole datagram among them (its pieces reversed), so some complete;
        // from a client of its own (the random ones fill their sources' shares).
        if i % 500 == 0 {
            let whole = udp(CLIENT_MAC, OUT_MAC, [198, 18, 0, 20], VIP, 40_009, 53, &payload(9_000, 12));
            for f in fragments(&with_ident(&whole, i), MTU).iter().rev() {
                lab.feed(OUT, f);
            }
        }
        let off = next(1_100) as usize * 8;
        let len = (1 + next(1_480) as usize).min(9_008 - off);
        let mut f = fragment_of(&with_ident(&base, next(4) as u16), off, len, next(4) != 0);
        f[29] = 10 + next(3) as u8; // one of three clients
        fix_ip(&mut f);
        let v = lab.feed(OUT, &f).0;
        assert!(matches!(v, Verdict::Consumed | Verdict::Drop(_)), "{v:?}");
        for (_, out) in lab.tx.0.drain(..).filter(|(_, f)| f[12..14] == [8, 0]) {
            assert!(out.len() - 14 <= MTU);
            assert_eq!(crate::wire::checksum::Checksum::new().add_bytes(&out[14..34]).finish(), 0);
            forwarded += 1;
        }
        if next(50) == 0 {
            lab.now += 1_000;
            lab.d.tick(lab.now, &mut lab.tx);
        }
    }
    lab.now += 10_000;
    lab.d.tick(lab.now, &mut lab.tx);
    assert!(lab.d.frags.is_empty(), "everything timed out in the end");
    // Every whole one reassembled and cut in 7 again (some of them then waited for ARP: the
    // clock's long jumps let the real server's entry go stale).
    assert_eq!((counter(&lab, Reason::Reassembled), counter(&lab, Reason::Fragments)), (40, 40 * 7));
    println!(
        "20,000 random pieces: {forwarded} frames forwarded, {} datagrams reassembled",
        counter(&lab, Reason::Reassembled)
    );
}

/// A 9,000-byte datagram (7 pieces on the way out) to a real server whose MAC is not known
/// yet: every piece waits in the ARP hold queue, and the reply releases the whole datagram.
/// The queue still keeps at most 3 packets a neighbour (a datagram's pieces count as one),
/// and a datagram the pool cannot hold whole is not held in part: its pieces are let go,
/// every one counted.
#[test]
fn a_fragmented_datagram_waits_whole_for_arp() {
    for fwd in [FwdMethod::Masq, FwdMethod::FullNat, FwdMethod::Route] {
        let mut lab = udp_lab_unresolved(fwd, small_limits(64));
        let dgram = udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40_100, 53, &payload(9_000, 3));
        let frags = fragments(&with_ident(&dgram, 77), MTU);
        for f in &frags {
            lab.feed(OUT, f);
        }
        let arp_requests = std::mem::take(&mut lab.tx.0);
        assert_eq!(arp_requests.len(), 1, "{fwd:?}: one ARP request, nothing else out yet");
        assert_eq!(counter(&lab, Reason::Held), 7, "{fwd:?}: every piece held");
        assert_eq!(counter(&lab, Reason::HoldOverflow), 0, "{fwd:?}");
        lab.feed(IN, &arp(RS1_MAC, IN_MAC, 2, RS1_MAC, RS1, IN_MAC, DIR_IN));
        let out: Vec<Vec<u8>> = std::mem::take(&mut lab.tx.0).into_iter().map(|(_, f)| f).collect();
        assert_eq!(out.len(), 7, "{fwd:?}: the 7 pieces released");
        assert_fit(&out);
        let whole = reassemble(&out);
        assert_eq!(&whole[0..6], &RS1_MAC);
        assert_eq!(udp_payload(&whole), udp_payload(&dgram), "{fwd:?}: the datagram whole");
        assert_checksums(&whole);
    }
}

#[test]
fn the_hold_queue_keeps_three_packets_a_neighbour_and_never_part_of_a_datagram() {
    // 16 slots in all (the test kit's limits): two datagrams of 7 pieces fit, a third does not.
    let mut lab = udp_lab_unresolved(FwdMethod::Masq, small_limits(64));
    for (i, port) in [40_200u16, 40_201, 40_202].into_iter().enumerate() {
        let dgram = udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port, 53, &payload(9_000, i as u8));
        for f in fragments(&with_ident(&dgram, port), MTU) {
            lab.feed(OUT, &f);
        }
    }
    assert_eq!(counter(&lab, Reason::Held), 14, "two datagrams held whole");
    // The third's first 2 pieces found slots, the third none: all 7 let go, counted.
    assert_eq!(counter(&lab, Reason::HoldOverflow), 7, "the third datagram, every piece");
    // A small packet: a third packet for the neighbour (slots remain: 2).
    lab.feed(OUT, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40_210, 53, b"small"));
    assert_eq!(counter(&lab, Reason::Held), 15);
    // A fourth packet is one too many, whatever room the pool has.
    lab.feed(OUT, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40_211, 53, b"small"));
    assert_eq!(counter(&lab, Reason::HoldOverflow), 8);
    lab.tx.0.clear();
    lab.feed(IN, &arp(RS1_MAC, IN_MAC, 2, RS1_MAC, RS1, IN_MAC, DIR_IN));
    let out: Vec<Vec<u8>> = std::mem::take(&mut lab.tx.0).into_iter().map(|(_, f)| f).collect();
    assert_eq!(out.len(), 15, "two datagrams' pieces and the small packet");
    lab.d.neigh.check_invariants().expect("the table's promises");
}

/// With several poll loops, a FULLNAT reply's pieces are steered by their addresses alone (only
/// the first carries the local port that names the owner loop): the loop they meet in
/// reassembles the datagram, reads its owner from the whole datagram's ports, and hands the
/// pieces to that loop, which reassembles them again and replies to the client.
#[test]
fn a_fragmented_fullnat_reply_reaches_the_loop_of_its_local_port() {
    let limits = Limits { workers: 2, ..small_limits(64) };
    let mut lab = udp_lab(FwdMethod::FullNat, limits);
    let (_, req) = lab.feed(OUT, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40_300, 53, b"q"));
    let lport = l4_port(&req, 0);
    assert_eq!(lport as usize % 2, 0, "loop 0's local ports");
    // Loop 1, which the NIC gave the reply's pieces to.
    let ifaces = interfaces(DIR_OUT, DIR_IN);
    let routes = crate::net::route::RouteTable::build(&ifaces, &[]).unwrap();
    let mut d1 = Director::new(1, ifaces, routes, lab.d.shared().clone(), limits, lab.now);
    d1.begin_batch();
    let reply = udp(RS1_MAC, IN_MAC, RS1, LIP, 5353, lport, &payload(4_000, 9));
    let pieces = fragments(&with_ident(&reply, 4_242), MTU);
    let mut tx1 = Collect::default();
    for p in &pieces {
        let mut buf = p.clone();
        buf.resize(4096, 0);
        let mut len = p.len();
        let v = d1.process(lab.now, IN, &mut buf, &mut len, &mut tx1);
        assert_eq!(v, Verdict::Consumed);
    }
    assert!(tx1.0.is_empty(), "loop 1 sends nothing out");
    assert_eq!(tx1.2.len(), pieces.len(), "every piece handed to loop 0");
    assert!(tx1.2.iter().all(|(to, iface, _)| (*to, *iface) == (0, IN)));
    assert_eq!(counter(&lab, Reason::HandedOff), pieces.len() as u64);
    assert_eq!(d1.connection_count(), 0);
    // Loop 0 takes them from its inbox, as they came off the wire.
    let handed: Vec<Vec<u8>> = tx1.2.iter().map(|(_, _, f)| f.clone()).collect();
    let out = send(&mut lab, IN, &handed, &(0..handed.len()).collect::<Vec<_>>(), OUT);
    let whole = reassemble(&out);
    assert_eq!((field_ip(&whole, 12), field_ip(&whole, 16)), (VIP, CLIENT));
    assert_eq!((l4_port(&whole, 0), l4_port(&whole, 2)), (53, 40_300));
    assert_eq!(udp_payload(&whole), udp_payload(&reply), "the reply whole");
    assert_checksums(&whole);
}

/// The same for a request to a firewall-mark prefix rule's address (no service's VIP): its
/// pieces are steered as a reply would be (by that address), the whole datagram by its client.
#[test]
fn a_fragmented_request_to_a_fwmark_prefix_reaches_its_clients_loop() {
    let limits = Limits { workers: 2, ..small_limits(64) };
    let mut lab = Lab::with_limits(interfaces(DIR_OUT, DIR_IN), limits);
    lab.cmd(Command::AddMark(crate::api::MarkRule {
        mark: 5,
        proto: IPPROTO_UDP,
        addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 5, 0)),
        prefix: 24,
        ports: vec![(53, 53)],
    }));
    lab.cmd(Command::AddService(service_spec(ServiceKey::Fwmark(5), "rr")));
    lab.cmd(Command::AddDest(ServiceKey::Fwmark(5), dest_spec(RS1, 5353, FwdMethod::Masq, 1)));
    lab.learn(IN, RS1, RS1_MAC);
    lab.tx.0.clear();
    let ifaces = interfaces(DIR_OUT, DIR_IN);
    let routes = crate::net::route::RouteTable::build(&ifaces, &[]).unwrap();
    let mut d1 = Director::new(1, ifaces, routes, lab.d.shared().clone(), limits, lab.now);
    d1.begin_batch();
    // A client and an address of the prefix whose pieces go to loop 1, the datagram to loop 0.
    let (client, dst, dgram, pieces) = (2..250u8)
        .flat_map(|c| (1..250u8).map(move |a| ([198, 18, 0, c], [198, 18, 5, a])))
        .map(|(c, a)| {
            let dgram = udp(CLIENT_MAC, OUT_MAC, c, a, 40_400, 53, &payload(4_000, 5));
            let pieces = fragments(&with_ident(&dgram, 99), MTU);
            (c, a, dgram, pieces)
        })
        .find(|(_, _, dgram, pieces)| {
            d1.owner(&pieces[1], pieces[1].len()) == Owner::Me && d1.owner(dgram, dgram.len()) == Owner::Loop(0)
        })
        .expect("such a pair among 60,000");
    let mut tx1 = Collect::default();
    for p in &pieces {
        let mut buf = p.clone();
        buf.resize(4096, 0);
        let mut len = p.len();
        assert_eq!(d1.process(lab.now, OUT, &mut buf, &mut len, &mut tx1), Verdict::Consumed);
    }
    assert_eq!(tx1.2.len(), pieces.len(), "every piece handed to loop 0");
    let handed: Vec<Vec<u8>> = tx1.2.iter().map(|(_, _, f)| f.clone()).collect();
    let out = send(&mut lab, OUT, &handed, &(0..handed.len()).collect::<Vec<_>>(), IN);
    let whole = reassemble(&out);
    assert_eq!((field_ip(&whole, 12), field_ip(&whole, 16)), (client, RS1), "NAT to the real server");
    assert_eq!(udp_payload(&whole), udp_payload(&dgram));
    assert_checksums(&whole);
    let c = lab.d.connections(lab.now);
    assert_eq!((c.len(), c[0].vaddr), (1, std::net::IpAddr::from(Ipv4Addr::from(dst))), "loop 0 holds the connection");
}
