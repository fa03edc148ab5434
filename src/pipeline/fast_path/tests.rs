//! The fast path against the general pipeline: two identical directors, one with the fast
//! path and one without, fed the same frames; every verdict, output byte, frame sent aside,
//! connection (state, expiry) and counter must agree, and the fast one must really have
//! forwarded the plain established frames itself. Checksums of what leaves are verified by
//! etherparse (an implementation not ours).

use super::super::role::Role;
use super::super::{BatchFrame, Verdict};
use crate::api::FwdMethod;
use crate::net::route::RouteTable;
use crate::net::IfaceId;
use crate::testkit::frames::{arp, as_fragment, tcp, udp, with_ip_options, with_ttl};
use crate::testkit::inspect::{field_ip, l4_port};
use crate::testkit::lab::FRAME_BUF;
use crate::testkit::*;
use crate::wire::ip_protocol::{IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP};

const NEW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x77];

/// Every checksum of an Ethernet/IPv4 frame recomputed by etherparse (through an IPIP
/// tunnel's inner packet too).
fn etherparse_checksums(ip: &[u8]) {
    let (h, _) = etherparse::Ipv4Header::from_slice(ip).expect("an IPv4 header");
    assert_eq!(h.header_checksum, h.calc_header_checksum(), "IP header checksum (etherparse)");
    let l4 = &ip[h.header_len()..h.total_len as usize];
    match h.protocol.0 {
        IPPROTO_TCP => {
            let (t, data) = etherparse::TcpHeader::from_slice(l4).expect("a TCP header");
            assert_eq!(t.checksum, t.calc_checksum_ipv4(&h, data).expect("size"), "TCP checksum (etherparse)");
        }
        IPPROTO_UDP => {
            let (u, data) = etherparse::UdpHeader::from_slice(l4).expect("a UDP header");
            if u.checksum != 0 {
                assert_eq!(u.checksum, u.calc_checksum_ipv4(&h, data).expect("size"), "UDP checksum (etherparse)");
            }
        }
        IPPROTO_IPIP => etherparse_checksums(l4),
        _ => {}
    }
}

/// Two labs alike: `fast` with the fast path, `slow` without.
struct Pair {
    fast: Lab,
    slow: Lab,
}

/// What one batch came to on one director: each frame's verdict and bytes, and what was sent aside.
type Outcome = (Vec<(Verdict, Vec<u8>)>, Vec<(IfaceId, Vec<u8>)>);

fn run(lab: &mut Lab, frames: &[(IfaceId, Vec<u8>)]) -> Outcome {
    let mut bufs: Vec<Vec<u8>> = frames
        .iter()
        .map(|(_, f)| {
            let mut b = vec![0u8; FRAME_BUF];
            b[..f.len()].copy_from_slice(f);
            b
        })
        .collect();
    let mut batch: Vec<BatchFrame> =
        bufs.iter_mut().zip(frames).map(|(b, (i, f))| BatchFrame::new(*i, b, f.len())).collect();
    lab.tx.0.clear();
    lab.d.process_batch(lab.now, &mut batch, &mut lab.tx);
    let out = batch.iter().map(|f| (f.verdict, f.buf[..f.len].to_vec())).collect();
    (out, std::mem::take(&mut lab.tx.0))
}

impl Pair {
    fn new(fwd: FwdMethod) -> (Pair, Vec<u8>, Option<Vec<u8>>) {
        let mut fast = Lab::two_servers("rr", fwd, small_limits(1024));
        let mut slow = Lab::two_servers("rr", fwd, small_limits(1024));
        slow.d.set_fast_path(false);
        let (ack, reply) = fast.established_flow(fwd);
        assert_eq!(slow.established_flow(fwd), (ack.clone(), reply.clone()));
        (Pair { fast, slow }, ack, reply)
    }

    /// One batch into both; asserts they agree and returns the fast one's outcome and how
    /// many of the batch the fast path forwarded itself.
    fn push(&mut self, frames: &[(IfaceId, Vec<u8>)]) -> (Outcome, u64) {
        self.slow.now = self.fast.now;
        let hits = self.fast.d.fast.hits;
        let a = run(&mut self.fast, frames);
        let b = run(&mut self.slow, frames);
        for (i, ((va, fa), (vb, fb))) in a.0.iter().zip(&b.0).enumerate() {
            assert_eq!(va, vb, "frame {i}: verdict, fast path vs general");
            if matches!(va, Verdict::Forward(_)) {
                assert_eq!(fa, fb, "frame {i}: bytes, fast path vs general");
                etherparse_checksums(&fa[14..]);
            }
        }
        assert_eq!(a.1, b.1, "frames sent aside");
        let now = self.fast.now;
        assert_eq!(self.fast.d.connections(now), self.slow.d.connections(now), "connections");
        assert_eq!(self.fast.d.shared().counters.nonzero(), self.slow.d.shared().counters.nonzero(), "counters");
        let stats = |l: &Lab| {
            let services = l.ctl.shared().services.load();
            let mut all = Vec::new();
            for s in services.services() {
                all.push(s.stats.snapshot());
                all.extend(s.runtime().dests.iter().map(|d| d.stats.snapshot()));
            }
            all
        };
        assert_eq!(stats(&self.fast), stats(&self.slow), "service and real server statistics");
        let hits = self.fast.d.fast.hits - hits;
        (a, hits)
    }
}

/// A client segment of the measured flow (CLIENT:1000 -> VIP:80).
fn client(flags: &str, payload: &[u8]) -> Vec<u8> {
    tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1000, 80, flags, payload)
}

/// The same segment the real server's reply `reply` answers, with other flags and payload.
fn server(reply: &[u8], flags: &str, payload: &[u8]) -> Vec<u8> {
    let rs_mac: [u8; 6] = reply[6..12].try_into().unwrap();
    tcp(rs_mac, IN_MAC, field_ip(reply, 12), field_ip(reply, 16), 80, l4_port(reply, 2), flags, payload)
}

fn every_method() -> [FwdMethod; 4] {
    [FwdMethod::Masq, FwdMethod::Route, FwdMethod::Tunnel, FwdMethod::FullNat]
}

#[test]
fn every_method_and_direction_agrees_with_the_general_path_frame_by_frame_and_in_one_batch() {
    for one_batch in [false, true] {
        for fwd in every_method() {
            let (mut p, ack, reply) = Pair::new(fwd);
            let mut frames: Vec<(IfaceId, Vec<u8>)> = vec![
                (OUT, ack.clone()),
                (OUT, client("A", b"some data")),
                (OUT, client("AP", b"pushed")),
                (OUT, with_ttl(&ack, 1)),
                (OUT, with_ttl(&ack, 2)),
                (OUT, with_ip_options(&ack, &[1, 1, 1, 0])),
                (OUT, as_fragment(&ack, true, 0)),
                (OUT, as_fragment(&ack, false, 8)),
                (OUT, {
                    let mut f = ack.clone();
                    f.extend_from_slice(&[0; 10]); // Ethernet padding after the packet
                    f
                }),
                (OUT, {
                    let mut f = ack.clone();
                    f[24] ^= 0x40; // the IP header checksum broken
                    f
                }),
                (OUT, {
                    let mut f = ack.clone();
                    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 0x99]); // not our MAC
                    f
                }),
                (IN, ack.clone()), // the client's segment on the wrong side
                // A new connection and its handshake in the same batch as established traffic.
                (OUT, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 2000, 80, "S", &[])),
                (OUT, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 2000, 80, "A", &[])),
                (OUT, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 2000, 80, "A", b"x")),
                (OUT, ack.clone()),
            ];
            if let Some(reply) = &reply {
                frames.extend([
                    (IN, reply.clone()),
                    (IN, server(reply, "A", b"answer")),
                    (IN, with_ttl(reply, 1)),
                    (IN, {
                        let mut f = reply.clone();
                        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0x66]); // a forged source MAC
                        f
                    }),
                    (OUT, reply.clone()), // a reply on the client's side
                ]);
            }
            // The real servers' MACs change: the next packet must carry the new one.
            for rs in [RS1, RS2] {
                frames.push((IN, arp(NEW_MAC, IN_MAC, 2, NEW_MAC, rs, IN_MAC, DIR_IN)));
            }
            frames.push((OUT, ack.clone()));
            if let Some(reply) = &reply {
                frames.push((IN, server(reply, "A", b"from the new MAC")));
                let mut moved = server(reply, "A", b"");
                moved[6..12].copy_from_slice(&NEW_MAC);
                frames.push((IN, moved));
            }
            // The end of the flow: FIN, the ACK after it, RST.
            frames.extend([(OUT, client("FA", b"")), (OUT, ack.clone()), (OUT, client("R", b"")), (OUT, ack.clone())]);

            let mut hits = 0;
            let mut outs = Vec::new();
            if one_batch {
                p.fast.now += 1;
                let ((o, _), h) = p.push(&frames);
                hits += h;
                outs = o;
            } else {
                for f in &frames {
                    p.fast.now += 1;
                    let ((o, _), h) = p.push(std::slice::from_ref(f));
                    hits += h;
                    outs.extend(o);
                }
            }
            // The plain ones went the fast way: the first three, the TTL-2 one, the padded one...
            assert!(hits >= 5, "{fwd:?} one batch {one_batch}: the fast path forwarded only {hits}");
            // ...and after the MAC change the next client packet went to the new MAC.
            let i = frames.iter().position(|(_, f)| f[..6] == IN_MAC && f[12..14] == [8, 6]).unwrap() + 2;
            assert!(matches!(outs[i].0, Verdict::Forward(_)), "{fwd:?}: {:?}", outs[i].0);
            assert_eq!(outs[i].1[..6], NEW_MAC, "{fwd:?}: the changed MAC at once");
            println!(
                "{fwd:?} (one batch: {one_batch}): {} frames, {hits} by the fast path, all as the general path",
                frames.len()
            );
        }
    }
}

#[test]
fn a_route_change_is_followed_at_once() {
    for fwd in [FwdMethod::Masq, FwdMethod::Tunnel, FwdMethod::FullNat] {
        let (mut p, ack, _) = Pair::new(fwd);
        p.fast.now += 1;
        // (A TUN connection reaches ESTABLISHED by this first ACK, in the general path.)
        let ((o, _), hits) = p.push(&[(OUT, ack.clone()), (OUT, ack.clone())]);
        assert!(hits >= 1, "{fwd:?}: cached");
        let rs = field_ip(&o[0].1, 16);
        // The real server now lies behind a gateway.
        for lab in [&mut p.fast, &mut p.slow] {
            let routes = RouteTable::build(lab.d.interfaces(), &[(ip(rs), 32, ip(GW_IN))]).unwrap();
            lab.d.set_routes(routes);
        }
        p.fast.now += 1;
        let ((o, aside), _) = p.push(&[(OUT, ack.clone())]);
        assert_eq!(o[0].0, Verdict::Consumed, "{fwd:?}: held while the gateway is resolved");
        assert_eq!(aside.len(), 1, "{fwd:?}: an ARP request for the gateway");
        p.fast.now += 1;
        p.push(&[(IN, arp(GW_IN_MAC, IN_MAC, 2, GW_IN_MAC, GW_IN, IN_MAC, DIR_IN))]);
        p.fast.now += 1;
        let ((o, _), hits) = p.push(&[(OUT, ack.clone())]);
        assert_eq!((o[0].0, hits), (Verdict::Forward(IN), 1), "{fwd:?}");
        assert_eq!(o[0].1[..6], GW_IN_MAC, "{fwd:?}: by the new route");
    }
}

#[test]
fn backup_role_and_a_neighbour_due_for_a_probe_take_the_general_path() {
    for fwd in every_method() {
        let (mut p, ack, reply) = Pair::new(fwd);
        // 31 s on: the real server's entry wants a probe (the general path sends it).
        p.fast.now += 31_000;
        let ((o, aside), hits) = p.push(&[(OUT, ack.clone()), (OUT, ack.clone())]);
        assert!(matches!(o[0].0, Verdict::Forward(_)), "{fwd:?}");
        assert_eq!((aside.len(), hits), (1, 0), "{fwd:?}: one probe; unconfirmed, the general path");
        // The probe answered (the same MAC): the fast path again.
        let rs_mac: [u8; 6] = o[0].1[..6].try_into().unwrap();
        let rs = if rs_mac == RS1_MAC { RS1 } else { RS2 };
        p.fast.now += 1;
        p.push(&[(IN, arp(rs_mac, IN_MAC, 2, rs_mac, rs, IN_MAC, DIR_IN))]);
        p.fast.now += 1;
        let (_, hits) = p.push(&[(OUT, ack.clone())]);
        assert_eq!(hits, 1, "{fwd:?}: confirmed again");
        for lab in [&mut p.fast, &mut p.slow] {
            lab.d.shared().ha.set_role(Role::Backup);
            lab.d.begin_batch();
        }
        let mut frames = vec![(OUT, ack.clone())];
        frames.extend(reply.map(|r| (IN, r)));
        let ((o, _), hits) = p.push(&frames);
        assert_eq!(hits, 0, "{fwd:?}");
        assert!(o.iter().all(|(v, _)| *v == Verdict::Drop(super::super::Reason::BackupRole)), "{fwd:?}: {o:?}");
    }
}

#[test]
fn udp_with_and_without_a_checksum_agrees() {
    let (mut p, _, _) = Pair::new(FwdMethod::Masq);
    for lab in [&mut p.fast, &mut p.slow] {
        lab.nat_service("rr", IPPROTO_UDP, 53, &[(RS1, 53, 1)]);
    }
    let q = udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 3000, 53, b"query");
    let mut no_sum = q.clone();
    no_sum[40..42].fill(0);
    p.fast.now += 1;
    let ((o, _), _) = p.push(&[(OUT, q.clone())]);
    assert_eq!(o[0].0, Verdict::Forward(IN));
    let answer = udp(RS1_MAC, IN_MAC, RS1, CLIENT, 53, 3000, b"answer");
    p.fast.now += 1;
    let ((o, _), hits) = p.push(&[(OUT, q.clone()), (OUT, no_sum), (IN, answer.clone()), (OUT, q)]);
    assert!(o.iter().all(|(v, _)| matches!(v, Verdict::Forward(_))), "{o:?}");
    assert_eq!(hits, 4, "UDP both ways by the fast path");
    assert_eq!(o[1].1[40..42], [0, 0], "no checksum stays none");
}

#[test]
fn interleaved_flows_of_two_real_servers_in_one_batch_agree() {
    interleaved_flows_agree(true);
}

#[test]
fn interleaved_flows_agree_with_each_lookup_made_as_its_frame_is_prepared() {
    // Tests defer the prepare pass's lookups whatever the table's size (the new way); a
    // small table in the product looks each flow up as its frame is prepared.
    interleaved_flows_agree(false);
}

fn interleaved_flows_agree(deferred: bool) {
    // The prepare pass reuses the lookup of the frame before when the flow is the same, and
    // the traffic is tallied per real server while packets of one follow each other: three
    // flows on two servers, interleaved, must come out as the general path has them
    // (Pair::push compares verdicts, bytes, connections, counters and statistics).
    for fwd in every_method() {
        let (mut p, ack, reply) = Pair::new(fwd);
        p.fast.d.set_deferred_lookups(deferred);
        // Two more flows: round robin puts consecutive ones on different servers.
        let other =
            |port: u16, flags: &str, payload: &[u8]| tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port, 80, flags, payload);
        p.fast.now += 1;
        p.push(&[(OUT, other(2000, "S", b"")), (OUT, other(3000, "S", b""))]);
        // (DR and TUN connections reach ESTABLISHED by the first ACK, in the general path.)
        p.push(&[(OUT, other(2000, "A", b"")), (OUT, other(3000, "A", b"")), (OUT, ack.clone())]);
        p.fast.now += 1;
        let (b, c) = (other(2000, "A", b"b"), other(3000, "A", b"c"));
        let mut frames: Vec<(IfaceId, Vec<u8>)> =
            vec![(OUT, ack.clone()), (OUT, b.clone()), (OUT, c.clone()), (OUT, c.clone()), (OUT, b.clone())];
        if let Some(r) = &reply {
            frames.insert(3, (IN, r.clone()));
            frames.push((IN, r.clone()));
        }
        frames.extend([(OUT, b.clone()), (OUT, ack.clone()), (OUT, c.clone())]);
        let ((o, _), hits) = p.push(&frames);
        assert!(o.iter().all(|(v, _)| matches!(v, Verdict::Forward(_))), "{fwd:?}: {o:?}");
        assert_eq!(hits, frames.len() as u64, "{fwd:?}: every frame by the fast path");
        let to_servers: Vec<[u8; 6]> =
            o.iter().map(|(_, f)| f[..6].try_into().unwrap()).filter(|m| *m == RS1_MAC || *m == RS2_MAC).collect();
        assert!(to_servers.contains(&RS1_MAC) && to_servers.contains(&RS2_MAC), "{fwd:?}: both real servers");
        println!(
            "{fwd:?}: {} interleaved frames of three flows, {hits} by the fast path, as the general path",
            frames.len()
        );
    }
}

#[test]
fn a_master_sync_daemon_syncs_at_the_same_packets_from_the_fast_path() {
    use crate::control::SyncInterface;
    use crate::ipvs::sync::daemon::DaemonRequest;
    for fwd in every_method() {
        let (mut p, ack, _) = Pair::new(fwd);
        for lab in [&mut p.fast, &mut p.slow] {
            lab.ctl.set_sync_interfaces(vec![SyncInterface { name: "in".into(), id: IN, mtu: 1500, has_addr: true }]);
            lab.ctl.start_daemon(&DaemonRequest::new("master", "in", 1)).unwrap();
            lab.d.begin_batch();
        }
        let (mut hits, mut messages) = (0, 0);
        // 200 client packets, 5 to a batch, the loops' housekeeping after each batch.
        for _ in 0..40 {
            let (_, h) = p.push(&vec![(OUT, ack.clone()); 5]);
            hits += h;
            let mut sent = Vec::new();
            for lab in [&mut p.fast, &mut p.slow] {
                lab.now += 10;
                lab.tx.0.clear();
                lab.d.begin_batch();
                lab.d.tick(lab.now, &mut lab.tx);
                sent.push(std::mem::take(&mut lab.tx.0));
            }
            assert_eq!(sent[0], sent[1], "{fwd:?}: what the housekeeping sent, fast path vs general");
            messages += sent[0].iter().filter(|(_, f)| f[..6] == crate::testkit::sync::SYNC_MAC).count();
        }
        let synced = p.fast.d.shared().counters.total(super::super::Reason::SyncConnsSent);
        println!(
            "{fwd:?}: 200 client packets, {hits} by the fast path; {synced} entries synced in {messages} messages"
        );
        // All but, by DR and TUN, the first: it may still move the state on (general path).
        assert!(hits >= 199, "{fwd:?}: the fast path forwarded them");
        // The policy (3, 50): the 3rd, 53rd, 103rd and 153rd packet since the daemon started.
        assert_eq!(synced, 4, "{fwd:?}: entries synced");
    }
}

/// The client segment `ack` with `n` bytes of payload more (the IP length and checksum
/// and the TCP checksum made right): another frame of the same flow.
fn longer(ack: &[u8], n: usize) -> Vec<u8> {
    let (sport, dport) = (l4_port(ack, 0), l4_port(ack, 2));
    let mac = |at: usize| -> [u8; 6] { ack[at..at + 6].try_into().unwrap() };
    let ip4 = |at: usize| -> [u8; 4] { ack[at..at + 4].try_into().unwrap() };
    tcp(mac(6), mac(0), ip4(26), ip4(30), sport, dport, "A", &vec![0x5a; n])
}

/// One batch of frames pushed into the pair, with the figures the run tests print.
fn push_run(p: &mut Pair, what: &str, fwd: FwdMethod, frames: &[(IfaceId, Vec<u8>)]) -> (Outcome, u64) {
    let (o, hits) = p.push(frames);
    println!("{fwd:?} {what}: {} frames, {hits} by the fast path, all as the general path", frames.len());
    (o, hits)
}

#[test]
fn a_run_of_one_flow_with_a_frame_for_the_general_path_in_the_middle_agrees() {
    // Frames of one flow in a batch take the decision of the first (run.rs). A frame in the
    // middle that the general path answers (it may change the connection, the neighbours)
    // ends the run: the frames after it must come out as the general path has them.
    for fwd in every_method() {
        let (mut p, ack, reply) = Pair::new(fwd);
        p.fast.now += 1;
        // (DR and TUN reach ESTABLISHED by this first ACK, in the general path.)
        p.push(&[(OUT, ack.clone())]);
        let run = |n: usize| -> Vec<(IfaceId, Vec<u8>)> { (0..n).map(|i| (OUT, longer(&ack, i * 7))).collect() };
        let rs_mac = |o: &Outcome| -> [u8; 6] { o.0[0].1[..6].try_into().unwrap() };
        p.fast.now += 1;
        let (o, _) = p.push(&run(1));
        let rs_orig = rs_mac(&o);
        let rs = if rs_orig == RS1_MAC { RS1 } else { RS2 };
        let middles: Vec<(&str, (IfaceId, Vec<u8>))> = vec![
            ("TTL 1", (OUT, with_ttl(&ack, 1))),
            ("over the MTU", (OUT, longer(&ack, 1500))),
            ("the real server's MAC changed", (IN, arp(NEW_MAC, IN_MAC, 2, NEW_MAC, rs, IN_MAC, DIR_IN))),
            ("its MAC changed back", (IN, arp(rs_orig, IN_MAC, 2, rs_orig, rs, IN_MAC, DIR_IN))),
            ("a FIN", (OUT, client("FA", b""))),
        ];
        for (what, middle) in middles {
            p.fast.now += 1;
            let mut frames = run(4);
            frames.push(middle);
            frames.extend(run(4));
            let ((o, _), hits) = push_run(&mut p, &format!("a run with {what} in the middle"), fwd, &frames);
            if what != "a FIN" {
                assert!(hits >= 6, "{fwd:?} {what}: only {hits} by the fast path");
            }
            if what == "the real server's MAC changed" {
                assert_eq!(o[5].1[..6], NEW_MAC, "{fwd:?}: the frame after the change to the new MAC");
            }
        }
        // The flow is closing now; a reply and an ACK of it go the general path's way too.
        if let Some(r) = reply {
            p.fast.now += 1;
            push_run(&mut p, "after the FIN", fwd, &[(IN, r.clone()), (OUT, ack.clone()), (IN, r), (OUT, ack.clone())]);
        }
    }
}

/// `frames` `n` times over.
fn times(n: usize, frames: &[(IfaceId, Vec<u8>)]) -> Vec<(IfaceId, Vec<u8>)> {
    (0..n).flat_map(|_| frames.iter().cloned()).collect()
}

#[test]
fn runs_of_two_flows_alternating_and_in_turn_agree() {
    for fwd in every_method() {
        let (mut p, ack, reply) = Pair::new(fwd);
        let other = |flags: &str, payload: &[u8]| tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 2000, 80, flags, payload);
        p.fast.now += 1;
        p.push(&[(OUT, other("S", b""))]);
        p.push(&[(OUT, other("A", b"")), (OUT, ack.clone())]);
        let (a, b) = ((OUT, client("A", b"a")), (OUT, other("A", b"b")));
        // Alternating (no run longer than one), in runs of three, and a run broken by one frame.
        let mut shapes: Vec<(&str, Vec<(IfaceId, Vec<u8>)>)> = vec![
            ("alternating", times(4, &[a.clone(), b.clone()])),
            ("in runs of three", times(2, &[vec![a.clone(); 3], vec![b.clone(); 3]].concat())),
            (
                "a run broken by one frame of the other",
                [vec![a.clone(); 3], vec![b.clone()], vec![a.clone(); 3]].concat(),
            ),
        ];
        if let Some(r) = &reply {
            // The client's frames and the real server's, of one connection, in turn and in runs.
            let r = (IN, r.clone());
            shapes.push(("both sides alternating", times(4, &[a.clone(), r.clone()])));
            shapes.push(("both sides in runs", [vec![a.clone(); 3], vec![r.clone(); 3], vec![a.clone(); 3]].concat()));
        }
        for (what, frames) in shapes {
            p.fast.now += 1;
            let (_, hits) = push_run(&mut p, what, fwd, &frames);
            assert_eq!(hits, frames.len() as u64, "{fwd:?} {what}: every frame by the fast path");
        }
        // A new connection first in the batch (the general path: every lookup of the
        // prepare pass is made again), then a run of an established flow.
        p.fast.now += 1;
        let syn = (OUT, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 3000, 80, "S", &[]));
        let (_, hits) = push_run(&mut p, "a run after a new connection", fwd, &[syn, a.clone(), a.clone(), a.clone()]);
        assert_eq!(hits, 3, "{fwd:?}: the run by the fast path");
    }
}

#[test]
fn a_run_across_batches_at_one_millisecond_follows_a_route_change_and_new_timeouts() {
    // The poll loop's batches follow each other within a millisecond: a run lives on into
    // the next batch when nothing changed, and must end when the routes or the timeouts did.
    use crate::api::command::Command;
    use crate::api::Timeouts;
    for fwd in [FwdMethod::Masq, FwdMethod::Tunnel, FwdMethod::FullNat] {
        let (mut p, ack, _) = Pair::new(fwd);
        p.fast.now += 1;
        p.push(&[(OUT, ack.clone())]);
        p.fast.now += 1;
        let frames = vec![(OUT, ack.clone()); 3];
        let ((o, _), hits) = push_run(&mut p, "a batch", fwd, &frames);
        assert_eq!(hits, 3, "{fwd:?}");
        let ((_, _), hits) = push_run(&mut p, "the next batch, the same millisecond", fwd, &frames);
        assert_eq!(hits, 3, "{fwd:?}");
        let rs = field_ip(&o[0].1, 16);
        // New timeouts: the expiry of the next packet's connection follows them.
        for lab in [&mut p.fast, &mut p.slow] {
            lab.cmd(Command::SetTimeout(Timeouts { tcp: 600, tcp_fin: 100, udp: 200 }));
        }
        push_run(&mut p, "new timeouts, the same millisecond", fwd, &frames);
        let c = p.fast.d.connections(p.fast.now);
        assert!(c.iter().any(|c| c.state == "ESTABLISHED" && c.expires == 600), "{fwd:?}: {c:?}");
        // The real server now lies behind a gateway (resolved): the next frame goes there.
        for lab in [&mut p.fast, &mut p.slow] {
            let routes = RouteTable::build(lab.d.interfaces(), &[(ip(rs), 32, ip(GW_IN))]).unwrap();
            lab.d.set_routes(routes);
        }
        let ((o, _), _) = push_run(&mut p, "a run after a route change, the gateway unresolved", fwd, &frames);
        assert_eq!(o[0].0, Verdict::Consumed, "{fwd:?}: held while the gateway is resolved");
        p.push(&[(IN, arp(GW_IN_MAC, IN_MAC, 2, GW_IN_MAC, GW_IN, IN_MAC, DIR_IN))]);
        let ((o, _), hits) = push_run(&mut p, "a run after a route change", fwd, &frames);
        assert_eq!((o[0].1[..6].to_vec(), hits), (GW_IN_MAC.to_vec(), 3), "{fwd:?}: by the gateway");
        for lab in [&mut p.fast, &mut p.slow] {
            lab.d.set_routes(RouteTable::build(lab.d.interfaces(), &[]).unwrap());
        }
        let ((o, _), hits) = push_run(&mut p, "the route removed, the same millisecond", fwd, &frames);
        assert_eq!(hits, 3, "{fwd:?}");
        assert_ne!(o[0].1[..6], GW_IN_MAC, "{fwd:?}: not by the gateway any more");
    }
}
