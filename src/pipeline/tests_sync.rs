//! The sync daemons between two directors in memory: what a master sends, a
//! backup installs, and the backup, become master, forwards the same way;
//! the full-table request; and bad sync input counted, never installed.

use super::*;
use crate::ipvs::sync::daemon::{full_table_request, DaemonRequest};
use crate::pipeline::role::Role;
use crate::testkit::sync::SYNC_MAC;

fn daemon(role: &str, ifname: &str, syncid: u8) -> DaemonRequest {
    DaemonRequest::new(role, ifname, syncid)
}

impl Lab {
    /// Let the loop's housekeeping run a little later; returns the sync
    /// frames it sent.
    fn sync_frames(&mut self) -> Vec<Vec<u8>> {
        self.now += 50;
        self.tx.0.clear();
        self.d.begin_batch();
        self.d.tick(self.now, &mut self.tx);
        self.tx
            .0
            .iter()
            .filter(|(_, f)| f[..6] == SYNC_MAC)
            .map(|(i, f)| {
                assert_eq!(*i, 1, "sync goes out of the daemon's interface");
                f.clone()
            })
            .collect()
    }

    fn counter(&self, r: Reason) -> u64 {
        self.d.shared().counters.total(r)
    }
}

/// A master with one NAT (or FULLNAT) service on RS1:8080, and a backup
/// (its own addresses, same rules), both daemons running, syncid 7.
fn pair(fwd: FwdMethod, laddrs: &[[u8; 4]]) -> (Lab, Lab) {
    let mut m = Lab::new();
    let mut b = Lab::with_addrs(DIR2_OUT, DIR2_IN);
    for lab in [&mut m, &mut b] {
        lab.service("rr", 80, &[(RS1, 8080, fwd)], laddrs);
        lab.learn(1, RS1, RS1_MAC);
        lab.learn(0, CLIENT, CLIENT_MAC);
    }
    m.start_daemon("master", 7);
    b.d.shared().ha.set_role(Role::Backup);
    b.start_daemon("backup", 7);
    // The backup's first tick asks for the table; nothing to answer yet.
    let _ = b.sync_frames();
    (m, b)
}

/// Client SYN, server SYN-ACK, then client ACKs up to `in_packets` in all.
fn open_connection(m: &mut Lab, cport: u16, in_packets: usize, reply_to: [u8; 4], reply_port: u16) {
    let (v, _) = m.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, cport, 80, "S", b""));
    assert_eq!(v, Verdict::Forward(1));
    let (v, _) = m.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, reply_to, 8080, reply_port, "SA", b""));
    assert_eq!(v, Verdict::Forward(0));
    for _ in 1..in_packets {
        let (v, _) = m.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, cport, 80, "A", b"x"));
        assert_eq!(v, Verdict::Forward(1));
    }
}

fn deliver(frames: &[Vec<u8>], to: &mut Lab) {
    for f in frames {
        let (v, _) = to.feed(1, f);
        assert_eq!(v, Verdict::Consumed, "a sync frame is consumed");
    }
}

#[test]
fn nat_connection_is_synced_at_its_third_packet_and_the_new_master_forwards_it() {
    let (mut m, mut b) = pair(FwdMethod::Masq, &[]);
    open_connection(&mut m, 40001, 2, CLIENT, 40001);
    assert!(m.sync_frames().is_empty(), "not yet due: two client packets");
    let (v, _) = m.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "A", b"GET"));
    assert_eq!(v, Verdict::Forward(1));
    let frames = m.sync_frames();
    assert_eq!(frames.len(), 1, "the third client packet syncs it");
    let f = &frames[0];
    assert_checksums(f);
    assert_eq!(&f[6..12], &IN_MAC);
    assert_eq!((field_ip(f, 12), field_ip(f, 16)), (DIR_IN, [224, 0, 0, 81]));
    assert_eq!(f[14 + 8], 1, "multicast TTL 1");
    assert_eq!(l4_port(f, 2), 8848);
    assert_eq!(m.counter(Reason::SyncConnsSent), 1);

    deliver(&frames, &mut b);
    assert_eq!(b.counter(Reason::SyncConnsInstalled), 1);
    let c = b.d.connections(b.now);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].caddr, c[0].cport, c[0].daddr, c[0].dport),
        (Ipv4Addr::from(CLIENT).into(), 40001, Ipv4Addr::from(RS1).into(), 8080)
    );
    assert_eq!(c[0].state, "ESTABLISHED");
    assert_eq!(c[0].expires, 900);
    let key = tcp_vip(80);
    assert_eq!(lab_dest(&lab_views(&b.ctl), key), (1, 0), "ActiveConn on the backup too");
    // Still backup: the flow's packets are not forwarded.
    let (v, _) = b.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "A", b"more"));
    assert_eq!(v, Verdict::Drop(Reason::BackupRole));

    // Takeover: mid-stream packets go to the same real server, NATed.
    b.d.shared().ha.set_role(Role::Master);
    b.d.begin_batch();
    let (v, out) = b.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "A", b"more"));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!((field_ip(&out, 16), l4_port(&out, 2)), (RS1, 8080));
    assert_checksums(&out);
    let (v, back) = b.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, CLIENT, 8080, 40001, "A", b"data"));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!((field_ip(&back, 12), l4_port(&back, 0)), (VIP, 80));
    assert_checksums(&back);
}

#[test]
fn fullnat_mapping_survives_the_takeover() {
    let (mut m, mut b) = pair(FwdMethod::FullNat, &[LIP]);
    let (v, out) = m.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40002, 80, "S", b""));
    assert_eq!(v, Verdict::Forward(1));
    let lport = l4_port(&out, 0);
    let (v, _) = m.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, LIP, 8080, lport, "SA", b""));
    assert_eq!(v, Verdict::Forward(0));
    for _ in 0..2 {
        m.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40002, 80, "A", b"x"));
    }
    let frames = m.sync_frames();
    assert_eq!(frames.len(), 1);
    deliver(&frames, &mut b);
    b.d.shared().ha.set_role(Role::Master);
    b.d.begin_batch();
    // The real server keeps answering the same local address and port.
    let (v, back) = b.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, LIP, 8080, lport, "A", b"data"));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!((field_ip(&back, 12), field_ip(&back, 16)), (VIP, CLIENT));
    assert_eq!((l4_port(&back, 0), l4_port(&back, 2)), (80, 40002));
    assert_checksums(&back);
    let (v, fwd) = b.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40002, 80, "A", b"more"));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!((field_ip(&fwd, 12), l4_port(&fwd, 0)), (LIP, lport));
    let v = b.ctl.views();
    assert_eq!(v[0].laddrs[0].conns, 1, "the local address counts the synced connection");
}

#[test]
fn a_new_backup_gets_the_whole_table_on_request() {
    let (mut m, _) = pair(FwdMethod::Masq, &[]);
    // Three connections, none far enough along to be synced on its own.
    for p in 0..3 {
        open_connection(&mut m, 41000 + p, 1, CLIENT, 41000 + p);
    }
    assert!(m.sync_frames().is_empty());
    let mut late = Lab::with_addrs([198, 18, 0, 3], [198, 18, 1, 3]);
    late.service("rr", 80, &[(RS1, 8080, FwdMethod::Masq)], &[]);
    late.d.shared().ha.set_role(Role::Backup);
    late.start_daemon("backup", 7);
    let request = late.sync_frames();
    assert_eq!(request.len(), 1, "a starting backup asks");
    assert_eq!(&request[0][14 + 20 + 8..], &full_table_request(7));
    assert_eq!(late.counter(Reason::SyncRequestsSent), 1);
    deliver(&request, &mut m);
    assert_eq!(m.counter(Reason::SyncRequestsReceived), 1);
    let dump = m.sync_frames();
    assert!(!dump.is_empty());
    deliver(&dump, &mut late);
    assert_eq!(late.d.connections(late.now).len(), 3);
    assert!(late.d.connections(late.now).iter().all(|c| c.state == "SYN_RECV"));
    // Heard from a master: no more requests.
    late.now += 2_000;
    assert!(late.sync_frames().is_empty());
}

/// A persistence template goes with the connection it placed (in its own
/// table on both sides); after a takeover the backup keeps the client on the
/// master's server.
#[test]
fn a_template_is_synced_to_the_backup_and_pins_the_client_after_takeover() {
    let mut m = Lab::new();
    let mut b = Lab::with_addrs(DIR2_OUT, DIR2_IN);
    for lab in [&mut m, &mut b] {
        lab.persistent(tcp_vip(80), 300, [255; 4], &[(RS1, 8080), (RS2, 8080)]);
        lab.learn(0, CLIENT, CLIENT_MAC);
    }
    m.start_daemon("master", 7);
    b.d.shared().ha.set_role(Role::Backup);
    b.start_daemon("backup", 7);
    let _ = b.sync_frames();
    let (v, out) = m.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "S", b""));
    assert_eq!(v, Verdict::Forward(1));
    let rs = field_ip(&out, 16);
    let rs_mac = if rs == RS1 { RS1_MAC } else { RS2_MAC };
    m.feed(1, &tcp(rs_mac, IN_MAC, rs, CLIENT, 8080, 40001, "SA", b""));
    for _ in 0..2 {
        m.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "A", b"x"));
    }
    let frames = m.sync_frames();
    assert_eq!(m.counter(Reason::SyncConnsSent), 2, "the connection and its template");
    deliver(&frames, &mut b);
    assert_eq!(b.counter(Reason::SyncConnsInstalled), 2);
    assert_eq!((b.d.conns.len(), b.d.conns.templates().len()), (1, 1), "each in its own table");
    let views = b.d.connections(b.now);
    let t = views.iter().find(|c| c.state == "NONE").expect("the template is listed");
    println!("backup's template: {:?}", t);
    assert_eq!(
        (t.caddr, t.cport, t.vport, t.daddr, t.dport, t.expires),
        (Ipv4Addr::from(CLIENT).into(), 0, 80, Ipv4Addr::from(rs).into(), 8080, 300)
    );
    let persist: u32 = b.ctl.views()[0].dests.iter().map(|d| d.persist_conns).sum();
    assert_eq!(persist, 1, "PersistConn on the backup");
    // Takeover: the client's new connections go where the master pinned it (rr alone would alternate).
    b.d.shared().ha.set_role(Role::Master);
    b.d.begin_batch();
    for p in 0..4 {
        let (v, out) = b.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 41000 + p, 80, "S", b""));
        assert_eq!(v, Verdict::Forward(1));
        assert_eq!(field_ip(&out, 16), rs, "connection {p} after the takeover");
    }
    b.d.conns.check_invariants().unwrap();
}

#[test]
fn bad_sync_input_is_counted_by_reason_and_installs_nothing() {
    let (mut m, mut b) = pair(FwdMethod::Masq, &[]);
    open_connection(&mut m, 40003, 3, CLIENT, 40003);
    let good = m.sync_frames().remove(0);
    let payload_at = 14 + 20 + 8;
    let refill_udp = |f: &mut Vec<u8>| {
        let udp_len = (f.len() - 14 - 20) as u16;
        f[14 + 24..14 + 26].copy_from_slice(&udp_len.to_be_bytes());
        f[14 + 26..14 + 28].copy_from_slice(&[0, 0]);
        let total = (f.len() - 14) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[24..26].copy_from_slice(&[0, 0]);
        let c = Checksum::new().add_bytes(&f[14..34]).finish();
        f[24..26].copy_from_slice(&c.to_be_bytes());
        let s = pseudo_header(ip(DIR_IN), ip([224, 0, 0, 81]), IPPROTO_UDP, udp_len).add_bytes(&f[34..]).finish();
        f[14 + 26..14 + 28].copy_from_slice(&s.to_be_bytes());
    };
    let cases: Vec<(&str, Vec<u8>, IfaceId, Reason)> = vec![
        (
            "wrong syncid",
            {
                let mut f = good.clone();
                f[payload_at + 1] = 8;
                refill_udp(&mut f);
                f
            },
            1,
            Reason::SyncBadSyncid,
        ),
        (
            "truncated",
            {
                let mut f = good.clone();
                f.truncate(payload_at + 20);
                refill_udp(&mut f);
                f
            },
            1,
            Reason::SyncBadSize,
        ),
        (
            "bad version",
            {
                let mut f = good.clone();
                f[payload_at + 5] = 2;
                refill_udp(&mut f);
                f
            },
            1,
            Reason::SyncBadVersion,
        ),
        (
            "bad udp checksum",
            {
                let mut f = good.clone();
                f[payload_at + 40] ^= 0xff;
                f
            },
            1,
            Reason::SyncBadUdp,
        ),
        ("wrong interface", good.clone(), 0, Reason::SyncWrongInterface),
        (
            "own address",
            {
                let mut f = good.clone();
                f[26..30].copy_from_slice(&DIR2_IN);
                refill_udp(&mut f);
                f
            },
            1,
            Reason::SyncOwnAddress,
        ),
        (
            "off link",
            {
                let mut f = good.clone();
                f[26..30].copy_from_slice(&[203, 0, 113, 9]);
                refill_udp(&mut f);
                f
            },
            1,
            Reason::SyncOffLink,
        ),
    ];
    for (what, f, iface, reason) in cases {
        let before = b.counter(reason);
        let (v, _) = b.feed(iface, &f);
        assert_eq!(v, Verdict::Drop(reason), "{what}");
        assert_eq!(b.counter(reason), before + 1, "{what}");
        assert!(b.d.connections(b.now).is_empty(), "{what}: nothing installed");
    }
    // Every truncation of the good message: dropped, never a panic.
    for n in payload_at..good.len() {
        let mut f = good[..n].to_vec();
        refill_udp(&mut f);
        let _ = b.feed(1, &f);
    }
    assert!(b.d.connections(b.now).is_empty());
    // An entry for a service the backup does not have is counted and skipped.
    let mut c = Lab::with_addrs([198, 18, 0, 3], [198, 18, 1, 3]);
    c.nat_service("rr", IPPROTO_TCP, 81, &[(RS1, 8080, 1)]);
    c.d.shared().ha.set_role(Role::Backup);
    c.start_daemon("backup", 0);
    deliver(&[good.clone()], &mut c);
    assert_eq!(c.counter(Reason::SyncNoService), 1);
    // The good one still installs.
    deliver(&[good], &mut b);
    assert_eq!(b.d.connections(b.now).len(), 1);
}

#[test]
fn other_multicast_is_not_ours_and_no_daemon_means_no_sync() {
    let mut lab = Lab::new();
    let f = udp(CLIENT_MAC, SYNC_MAC, CLIENT, [224, 0, 0, 81], 8848, 8848, &full_table_request(0));
    let (v, _) = lab.feed(1, &f);
    assert_eq!(v, Verdict::Drop(Reason::NotOurMac));
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 8080, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(0, CLIENT, CLIENT_MAC);
    open_connection(&mut lab, 40004, 5, CLIENT, 40004);
    assert!(lab.sync_frames().is_empty());
    assert_eq!(lab.counter(Reason::SyncMessagesSent), 0);
}

#[test]
fn daemon_commands_follow_the_kernel() {
    let mut lab = Lab::new();
    lab.start_daemon("master", 7);
    let e = lab.ctl.start_daemon(&daemon("master", "in", 7)).unwrap_err();
    assert_eq!(e.to_string(), "Daemon has already run");
    assert_eq!(lab.ctl.start_daemon(&daemon("backup", "nope", 1)).unwrap_err().to_string(), "No such device");
    lab.ctl.start_daemon(&daemon("backup", "out", 3)).unwrap();
    assert_eq!(
        lab.d.shared().sync.load().listing(),
        "master sync daemon (mcast=in, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n\
         backup sync daemon (mcast=out, syncid=3, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
    lab.ctl.stop_daemon("master").unwrap();
    assert_eq!(lab.ctl.stop_daemon("master").unwrap_err().to_string(), "No daemon is running");
    lab.ctl.stop_daemon("backup").unwrap();
    assert_eq!(lab.d.shared().sync.load().listing(), "");
}

#[test]
fn a_backup_started_while_the_master_sends_still_asks_for_the_table() {
    let (mut m, _) = pair(FwdMethod::Masq, &[]);
    // An idle connection the master will not sync on its own.
    open_connection(&mut m, 42000, 1, CLIENT, 42000);
    let mut late = Lab::with_addrs([198, 18, 0, 3], [198, 18, 1, 3]);
    late.service("rr", 80, &[(RS1, 8080, FwdMethod::Masq)], &[]);
    late.d.shared().ha.set_role(Role::Backup);
    late.start_daemon("backup", 7);
    // In the new backup's first batch, before its housekeeping runs, a busy
    // master's regular message arrives.
    open_connection(&mut m, 42001, 3, CLIENT, 42001);
    let busy = m.sync_frames();
    assert_eq!(busy.len(), 1);
    deliver(&busy, &mut late);
    let request = late.sync_frames();
    assert_eq!(request.len(), 1, "the request still goes out");
    deliver(&request, &mut m);
    deliver(&m.sync_frames(), &mut late);
    let ports: Vec<u16> = late.d.connections(late.now).iter().map(|c| c.cport).collect();
    assert!(ports.contains(&42000), "the idle connection came with the table: {ports:?}");
}

#[test]
fn a_stale_fullnat_entry_gives_way_to_the_masters_newer_use_of_its_local_port() {
    let (mut m, mut b) = pair(FwdMethod::FullNat, &[LIP]);
    let fullnat_conn = |cport: u16, lport: u16| {
        crate::testkit::sync::established(cport, 80, RS1, 8080, FwdMethod::FullNat, (LIP, lport))
    };
    let frame = |c: &crate::ipvs::sync::SyncConn| {
        let msg = crate::ipvs::sync::encode(7, std::slice::from_ref(c), 1472).remove(0);
        udp(RS2_MAC, SYNC_MAC, DIR_IN, [224, 0, 0, 81], 8848, 8848, &msg)
    };
    // The backup still holds an old connection on local port 5000 that the
    // master has since forgotten, and the master reuses the port.
    deliver(&[frame(&fullnat_conn(43000, 5000))], &mut b);
    deliver(&[frame(&fullnat_conn(43001, 5000))], &mut b);
    let c = b.d.connections(b.now);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].cport, 43001, "the master's current use of the port wins");
    assert_eq!(b.counter(Reason::SyncCollision), 0);
    let _ = &mut m;
}
