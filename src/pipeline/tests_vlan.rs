//! VLANs (vlan.rs) on crafted frames: the standard lab's two sides as VLANs
//! 100 (outside) and 200 (inside) of one trunk device (port 0, one MAC), so
//! every frame comes in tagged on port 0 and must leave tagged for the
//! interface it goes out by.

use super::{BatchFrame, Reason, Verdict};
use crate::net::iface::Interfaces;
use crate::net::IfaceId;
use crate::testkit::frames::*;
use crate::testkit::inspect::*;
use crate::testkit::*;
use crate::wire::ip_protocol::IPPROTO_TCP;
use crate::wire::vlan;

const V_OUT: u16 = 100;
const V_IN: u16 = 200;
/// The trunk's MAC, both VLANs' (as Linux gives a VLAN its device's).
const TRUNK_MAC: [u8; 6] = OUT_MAC;

/// Both sides on one trunk; with `inside_untagged`, the inside is a device of its own.
fn trunk_ifaces(inside_untagged: bool) -> Interfaces {
    let mut ifaces = interfaces(DIR_OUT, DIR_IN);
    ifaces.0[0].vlan = V_OUT;
    if !inside_untagged {
        let i = &mut ifaces.0[1];
        (i.vlan, i.port, i.mac) = (V_IN, 0, TRUNK_MAC);
    }
    ifaces
}

fn lab(inside_untagged: bool) -> Lab {
    let mut lab = Lab::with_limits(trunk_ifaces(inside_untagged), small_limits(64));
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1)]);
    lab
}

fn tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut out = vec![0u8; frame.len() + vlan::TAG_LEN];
    let n = vlan::copy_tagged(frame, &mut out, vid).expect("room for a tag");
    out.truncate(n);
    out
}

/// The frame's VID and the frame without its tag (None: it had none).
fn untagged(frame: &[u8]) -> (Option<u16>, Vec<u8>) {
    match vlan::vid(frame) {
        Some(v) => {
            let mut f = frame[..12].to_vec();
            f.extend_from_slice(&frame[16..]);
            (Some(v), f)
        }
        None => (None, frame.to_vec()),
    }
}

fn count(lab: &Lab, r: Reason) -> u64 {
    lab.d.shared().counters.total(r)
}

/// Feed `frame` in on `port`, which the director holds while it asks for `who` on `iface`
/// (VLAN `vid`, or untagged): check the request, answer it, and return the held frame as
/// released (untagged, its tag checked).
fn held_then_released(
    lab: &mut Lab,
    port: IfaceId,
    frame: &[u8],
    iface: IfaceId,
    vid: Option<u16>,
    who: ([u8; 6], [u8; 4]),
) -> Vec<u8> {
    assert_eq!(lab.feed(port, frame).0, Verdict::Consumed, "held while {:?} is resolved", who.1);
    let (i, req) = lab.tx.0.pop().expect("an ARP request");
    let (tag, req) = untagged(&req);
    assert_eq!((i, tag, &req[12..14]), (iface, vid, &[8u8, 6][..]));
    let p = crate::wire::arp::Packet::new_checked(&req[14..]).unwrap();
    assert_eq!(p.target_ip(), ip(who.1));
    let (my_mac, my_ip) = (p.sender_mac(), p.sender_ip().to_be_bytes());
    let answer = arp(who.0, my_mac, 2, who.0, who.1, my_mac, my_ip);
    let answer = match vid {
        Some(v) => tagged(&answer, v),
        None => answer,
    };
    assert_eq!(lab.feed(port_of(iface, vid), &answer).0, Verdict::Consumed);
    let (i, released) = lab.tx.0.pop().expect("the held frame");
    let (tag, released) = untagged(&released);
    assert_eq!((i, tag, &released[0..6]), (iface, vid, &who.0[..]));
    assert_checksums(&released);
    released
}

/// The port a frame for `iface` comes in on: the trunk (0) for a VLAN.
fn port_of(iface: IfaceId, vid: Option<u16>) -> IfaceId {
    if vid.is_some() {
        0
    } else {
        iface
    }
}

#[test]
fn arp_is_answered_per_vlan_and_tagged_with_its_vid() {
    let mut lab = lab(false);
    for (vid, target, iface) in [(V_OUT, DIR_OUT, 0), (V_OUT, VIP, 0), (V_IN, DIR_IN, 1)] {
        let req = tagged(&arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], target), vid);
        let (v, out) = lab.feed(0, &req);
        assert_eq!(v, Verdict::Forward(iface), "{target:?} on VLAN {vid}");
        let (tag, out) = untagged(&out);
        assert_eq!(tag, Some(vid), "the reply carries the request's VLAN");
        assert_eq!((&out[0..6], &out[6..12], &out[12..14]), (&CLIENT_MAC[..], &TRUNK_MAC[..], &[8u8, 6][..]));
        let p = crate::wire::arp::Packet::new_checked(&out[14..]).unwrap();
        assert_eq!((p.op(), p.sender_mac(), p.sender_ip(), p.target_ip()), (2, TRUNK_MAC, ip(target), ip(CLIENT)));
    }
    // Each VLAN answers only for its own addresses: the inside's on the outside VLAN is not ours.
    for (vid, target) in [(V_OUT, DIR_IN), (V_IN, DIR_OUT), (V_IN, VIP)] {
        let req = tagged(&arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], target), vid);
        assert_eq!(lab.feed(0, &req).0, Verdict::Consumed, "{target:?} on VLAN {vid}");
    }
    assert_eq!(count(&lab, Reason::ArpReplied), 3);
}

#[test]
fn nat_across_two_vlans_of_one_trunk() {
    let mut lab = lab(false);
    // The client's SYN on VLAN 100 is held while RS1 is resolved on VLAN 200, then released there.
    let syn = tcp(CLIENT_MAC, TRUNK_MAC, CLIENT, VIP, 40000, 80, "S", b"");
    let released = held_then_released(&mut lab, 0, &tagged(&syn, V_OUT), 1, Some(V_IN), (RS1_MAC, RS1));
    assert_eq!(field_ip(&released, 16), RS1);
    // The client's next segment forwards in place, re-tagged for VLAN 200.
    let ack = tcp(CLIENT_MAC, TRUNK_MAC, CLIENT, VIP, 40000, 80, "A", b"hello");
    let (v, out) = lab.feed(0, &tagged(&ack, V_OUT));
    assert_eq!(v, Verdict::Forward(1));
    let (tag, out) = untagged(&out);
    assert_eq!((tag, &out[0..6], &out[6..12], field_ip(&out, 16)), (Some(V_IN), &RS1_MAC[..], &TRUNK_MAC[..], RS1));
    assert_eq!(&out[out.len() - 5..], b"hello");
    assert_checksums(&out);
    // RS1's reply on VLAN 200 goes back to the client on VLAN 100, from the VIP (the client
    // resolved on VLAN 100 first).
    let reply = tcp(RS1_MAC, TRUNK_MAC, RS1, CLIENT, 80, 40000, "A", b"world");
    let released = held_then_released(&mut lab, 0, &tagged(&reply, V_IN), 0, Some(V_OUT), (CLIENT_MAC, CLIENT));
    assert_eq!((field_ip(&released, 12), field_ip(&released, 16)), (VIP, CLIENT));
    let (v, out) = lab.feed(0, &tagged(&reply, V_IN));
    assert_eq!(v, Verdict::Forward(0));
    let (tag, out) = untagged(&out);
    assert_eq!((tag, &out[0..6], field_ip(&out, 12), field_ip(&out, 16)), (Some(V_OUT), &CLIENT_MAC[..], VIP, CLIENT));
    assert_checksums(&out);
    // The same reply untagged, or on the wrong VLAN, is not the server's.
    assert_eq!(lab.feed(0, &reply).0, Verdict::Drop(Reason::VlanUntagged));
    assert_ne!(lab.feed(0, &tagged(&reply, V_OUT)).0, Verdict::Forward(0));
}

/// A lab whose flow CLIENT:40000 -> VIP:80 (to RS1) is established, both neighbours resolved,
/// at 5 s.
fn established(inside_untagged: bool) -> Lab {
    let mut lab = lab(inside_untagged);
    let (in_port, in_vid) = if inside_untagged { (1, None) } else { (0, Some(V_IN)) };
    let syn = tcp(CLIENT_MAC, TRUNK_MAC, CLIENT, VIP, 40000, 80, "S", b"");
    held_then_released(&mut lab, 0, &tagged(&syn, V_OUT), 1, in_vid, (RS1_MAC, RS1));
    let rs_mac_to = if inside_untagged { IN_MAC } else { TRUNK_MAC };
    let synack = tcp(RS1_MAC, rs_mac_to, RS1, CLIENT, 80, 40000, "SA", b"");
    let synack = match in_vid {
        Some(v) => tagged(&synack, v),
        None => synack,
    };
    held_then_released(&mut lab, in_port, &synack, 0, Some(V_OUT), (CLIENT_MAC, CLIENT));
    lab.now = 5000;
    lab
}

#[test]
fn established_flows_on_vlans_leave_the_batch_tagged() {
    // The fast path reads untagged frames only: a batch of a VLAN's flow takes the general path.
    let mut lab = established(false);
    let frames: Vec<Vec<u8>> = (0..4u8)
        .map(|k| match k % 2 {
            0 => tagged(&tcp(CLIENT_MAC, TRUNK_MAC, CLIENT, VIP, 40000, 80, "A", &[k]), V_OUT),
            _ => tagged(&tcp(RS1_MAC, TRUNK_MAC, RS1, CLIENT, 80, 40000, "A", &[k]), V_IN),
        })
        .collect();
    let mut bufs: Vec<Vec<u8>> = frames.iter().map(|f| [f.clone(), vec![0; 4096 - f.len()]].concat()).collect();
    let mut batch: Vec<BatchFrame> =
        bufs.iter_mut().zip(&frames).map(|(b, f)| BatchFrame::new(0, b, f.len())).collect();
    lab.d.process_batch(lab.now, &mut batch, &mut lab.tx);
    for (k, f) in batch.iter().enumerate() {
        let (iface, vid): (IfaceId, u16) = if k % 2 == 0 { (1, V_IN) } else { (0, V_OUT) };
        assert_eq!(f.verdict, Verdict::Forward(iface), "frame {k}");
        let (tag, out) = untagged(&f.buf[..f.len]);
        assert_eq!((tag, out[out.len() - 1]), (Some(vid), k as u8), "frame {k}");
        assert_checksums(&out);
    }
}

#[test]
fn untagged_frames_on_a_trunk_and_unknown_vids_are_dropped_and_counted() {
    let mut lab = lab(false);
    let req = arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], DIR_OUT);
    assert_eq!(lab.feed(0, &req).0, Verdict::Drop(Reason::VlanUntagged));
    assert_eq!(lab.feed(0, &tagged(&req, 300)).0, Verdict::Drop(Reason::VlanUnknown));
    assert_eq!(lab.feed(0, &tagged(&req, 300)).0, Verdict::Drop(Reason::VlanUnknown));
    // A tag with nothing after it.
    assert_eq!(lab.feed(0, &tagged(&req, V_OUT)[..17]).0, Verdict::Drop(Reason::TruncatedEthernet));
    assert_eq!((count(&lab, Reason::VlanUntagged), count(&lab, Reason::VlanUnknown)), (1, 2));
    assert_eq!(
        (Reason::VlanUntagged.name(), Reason::VlanUnknown.name()),
        ("drop-vlan-untagged", "drop-vlan-unknown-vid")
    );
    assert!(lab.tx.0.is_empty(), "nothing answered");
}

#[test]
fn between_a_vlan_and_an_untagged_device() {
    // The outside a VLAN of device 0, the inside untagged on device 1: a tag comes off one
    // way and goes on the other.
    let mut lab = established(true);
    let ack = tcp(CLIENT_MAC, TRUNK_MAC, CLIENT, VIP, 40000, 80, "A", b"x");
    let (v, out) = lab.feed(0, &tagged(&ack, V_OUT));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!((vlan::vid(&out), &out[0..6], field_ip(&out, 16)), (None, &RS1_MAC[..], RS1));
    assert_checksums(&out);
    let reply = tcp(RS1_MAC, IN_MAC, RS1, CLIENT, 80, 40000, "A", b"y");
    let (v, out) = lab.feed(1, &reply);
    assert_eq!(v, Verdict::Forward(0));
    let (tag, out) = untagged(&out);
    assert_eq!((tag, &out[0..6], field_ip(&out, 12)), (Some(V_OUT), &CLIENT_MAC[..], VIP));
    assert_checksums(&out);
    // The untagged device keeps refusing tags.
    assert_eq!(lab.feed(1, &tagged(&reply, V_IN)).0, Verdict::Drop(Reason::Vlan));
}

#[test]
fn announcements_leave_tagged() {
    let mut lab = lab(false);
    lab.d.tick(10_000, &mut lab.tx);
    let garps: Vec<_> = lab.tx.0.iter().filter(|(i, _)| *i == 0).map(|(_, f)| untagged(f)).collect();
    assert!(!garps.is_empty());
    for (tag, f) in garps {
        assert_eq!((tag, &f[12..14]), (Some(V_OUT), &[8u8, 6][..]));
    }
}

#[test]
fn several_loops_steer_a_vlans_frames_as_their_untagged_selves() {
    use super::{Director, Limits, Owner};
    use crate::net::route::RouteTable;
    let lab = lab(false);
    let loop_of = |worker| {
        let ifaces = trunk_ifaces(false);
        let routes = RouteTable::build(&ifaces, &[]).unwrap();
        let limits = Limits { connections: 1024, workers: 2, ..Limits::default() };
        let mut d = Director::new(worker, ifaces, routes, lab.d.shared().clone(), limits, 0);
        d.begin_batch();
        d
    };
    let loops = [loop_of(0), loop_of(1)];
    let owner = |d: &Director, f: &[u8]| match d.owner(f, f.len()) {
        Owner::Me => d.worker,
        Owner::Loop(l) => l,
        Owner::All => usize::MAX,
    };
    let mut seen = [0usize; 2];
    for c in 0..32u8 {
        let client = [198, 18, 0, c];
        let req = tcp(CLIENT_MAC, TRUNK_MAC, client, VIP, 40000 + u16::from(c), 80, "S", b"");
        let rep = tcp(RS1_MAC, TRUNK_MAC, RS1, client, 80, 40000 + u16::from(c), "SA", b"");
        let o = owner(&loops[0], &req);
        assert_eq!(owner(&loops[0], &tagged(&req, V_OUT)), o, "the request tagged");
        assert_eq!(owner(&loops[1], &tagged(&rep, V_IN)), o, "its reply, tagged for the other VLAN");
        seen[o] += 1;
    }
    assert!(seen[0] > 4 && seen[1] > 4, "clients spread over the loops: {seen:?}");
    let req = tagged(&arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], DIR_OUT), V_OUT);
    assert_eq!(loops[0].owner(&req, req.len()), Owner::All, "every loop keeps its own ARP table");
}
