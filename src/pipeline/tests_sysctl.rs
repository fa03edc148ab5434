//! IPVS's sysctls in the pipeline: sloppy_tcp across two directors that
//! share rules (an ECMP fleet), conn_reuse_mode's three modes,
//! expire_nodest_conn on a SYN, expire_quiescent_template, schedule_icmp.

use super::*;
use crate::ipvs::sysctl::Sysctl;

const SERVERS: [([u8; 4], [u8; 6]); 3] = [(RS1, RS1_MAC), (RS2, RS2_MAC), (RS3, RS3_MAC)];

impl Lab {
    /// TCP VIP:80 with `sched` over the three servers, all by `fwd`.
    fn fleet_service(&mut self, sched: &str, fwd: FwdMethod) -> ServiceKey {
        let key = tcp_vip(80);
        self.cmd(Command::AddService(service_spec(key, sched)));
        for (a, mac) in SERVERS {
            self.cmd(Command::AddDest(key, dest_spec(a, 80, fwd, 1)));
            self.learn(1, a, mac);
        }
        key
    }

    fn sysctl(&mut self, s: Sysctl, v: u8) {
        self.d.shared.sysctl.set(s, v);
        self.d.begin_batch();
    }

    /// The real server a forwarded frame went to, by its destination MAC.
    fn server_of(&self, v: Verdict, out: &[u8]) -> Option<[u8; 4]> {
        if v != Verdict::Forward(1) {
            return None;
        }
        SERVERS.iter().find(|(_, m)| out[0..6] == m[..]).map(|&(a, _)| a)
    }

    fn tcp(&mut self, client: [u8; 4], sport: u16, flags: &str) -> (Verdict, Vec<u8>) {
        self.feed(0, &tcp(CLIENT_MAC, OUT_MAC, client, VIP, sport, 80, flags, b"data"))
    }

    fn state_of(&self, client: [u8; 4], sport: u16) -> String {
        let c = self.d.connections(self.now);
        c.iter()
            .find(|c| c.caddr == Ipv4Addr::from(client) && c.cport == sport)
            .map(|c| c.state.to_string())
            .unwrap_or_default()
    }
}

fn client(i: u8) -> [u8; 4] {
    [198, 18, 0, 20 + i]
}

/// Director A sees each flow's SYN; the ECMP hash then moves the flow to
/// director B, which never saw it. Without sloppy_tcp B drops the next
/// segment; with it, B schedules the ACK to the same server A chose.
fn flow_moves_to_a_second_director(sched: &str, fwd: FwdMethod) {
    let mut a = Lab::new();
    let mut b = Lab::new();
    a.fleet_service(sched, fwd);
    b.fleet_service(sched, fwd);
    const FLOWS: u8 = 24;
    let mut chosen = Vec::new();
    for i in 0..FLOWS {
        let (v, out) = a.tcp(client(i), 40000 + i as u16, "S");
        chosen.push(a.server_of(v, &out).expect("A forwards the SYN"));
    }
    let mut spread = chosen.clone();
    spread.sort_unstable();
    spread.dedup();
    assert!(spread.len() >= 2, "{sched}: the flows spread over the servers: {chosen:?}");

    let (v, _) = b.tcp(client(0), 40000, "A");
    assert_eq!(v, Verdict::Drop(Reason::NotSyn), "{sched} {fwd:?}: sloppy_tcp=0 drops a mid-stream ACK");
    b.sysctl(Sysctl::SloppyTcp, 1);
    let mut same = 0;
    for i in 0..FLOWS {
        let (v, out) = b.tcp(client(i), 40000 + i as u16, "A");
        assert_eq!(b.server_of(v, &out), Some(chosen[i as usize]), "{sched} {fwd:?}: flow {i} on B");
        assert_eq!(b.state_of(client(i), 40000 + i as u16), "ESTABLISHED", "an ACK from NONE");
        same += 1;
    }
    println!(
        "{sched} {fwd:?}: {same}/{FLOWS} mid-stream ACKs on director B went to A's server ({} servers used)",
        spread.len()
    );
    // A RST of an unknown flow still creates nothing (tcp_conn_schedule).
    let (v, _) = b.tcp(client(50), 41000, "R");
    assert_eq!(v, Verdict::Drop(Reason::NotSyn));
    // A FIN does, in the state the kernel's table gives it.
    let (v, _) = b.tcp(client(51), 41001, "FA");
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(b.state_of(client(51), 41001), "CLOSE");
}

#[test]
fn sloppy_tcp_mh_dr_schedules_a_moved_flow_to_the_same_server() {
    flow_moves_to_a_second_director("mh", FwdMethod::Route);
}

#[test]
fn sloppy_tcp_mh_tun_schedules_a_moved_flow_to_the_same_server() {
    flow_moves_to_a_second_director("mh", FwdMethod::Tunnel);
}

#[test]
fn sloppy_tcp_mh_nat_schedules_a_moved_flow_to_the_same_server() {
    flow_moves_to_a_second_director("mh", FwdMethod::Masq);
}

#[test]
fn sloppy_tcp_sh_dr_schedules_a_moved_flow_to_the_same_server() {
    flow_moves_to_a_second_director("sh", FwdMethod::Route);
}

#[test]
fn sloppy_tcp_sh_tun_schedules_a_moved_flow_to_the_same_server() {
    flow_moves_to_a_second_director("sh", FwdMethod::Tunnel);
}

#[test]
fn sloppy_tcp_sh_nat_schedules_a_moved_flow_to_the_same_server() {
    flow_moves_to_a_second_director("sh", FwdMethod::Masq);
}

/// SYN, ACK, then the client's FIN: a DR connection sits in FIN_WAIT (the
/// director never sees the server's FIN); returns the server chosen.
fn dr_connection_in_fin_wait(lab: &mut Lab, port: u16) -> [u8; 4] {
    let (v, out) = lab.tcp(CLIENT, port, "S");
    let first = lab.server_of(v, &out).expect("SYN forwarded");
    lab.tcp(CLIENT, port, "A");
    lab.tcp(CLIENT, port, "FA");
    assert_eq!(lab.state_of(CLIENT, port), "FIN_WAIT");
    first
}

#[test]
fn conn_reuse_mode_0_keeps_a_finished_connection_for_a_new_syn() {
    let mut lab = Lab::new();
    lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1), (RS2, 80, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(1, RS2, RS2_MAC);
    lab.sysctl(Sysctl::ConnReuseMode, 0);
    let port = 43000;
    let (_, a) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port, 80, "S", b""));
    lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port, 80, "FA", b""));
    lab.feed(1, &tcp(RS1_MAC, IN_MAC, RS1, CLIENT, 80, port, "FA", b""));
    assert_eq!(lab.d.connections(lab.now)[0].state, "TIME_WAIT");
    let (_, b) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port, 80, "S", b""));
    assert_eq!(field_ip(&a, 16), field_ip(&b, 16), "mode 0: the old connection, its server");
    assert_eq!(lab.state_of(CLIENT, port), "SYN_RECV");
}

#[test]
fn conn_reuse_mode_2_also_reschedules_a_dr_connection_in_fin_wait() {
    let mut one = Lab::new();
    one.fleet_service("rr", FwdMethod::Route);
    let first = dr_connection_in_fin_wait(&mut one, 43001);
    let (v, out) = one.tcp(CLIENT, 43001, "S");
    assert_eq!(one.server_of(v, &out), Some(first), "mode 1 (default): FIN_WAIT is not finished");

    let mut two = Lab::new();
    two.fleet_service("rr", FwdMethod::Route);
    two.sysctl(Sysctl::ConnReuseMode, 2);
    let first = dr_connection_in_fin_wait(&mut two, 43001);
    let (v, out) = two.tcp(CLIENT, 43001, "S");
    let again = two.server_of(v, &out).expect("forwarded");
    assert_ne!(again, first, "mode 2: rescheduled (rr moves on)");
    assert_eq!(two.state_of(CLIENT, 43001), "SYN_RECV");
}

#[test]
fn expire_nodest_conn_reschedules_a_syn_on_a_connection_whose_server_has_weight_0() {
    for (on, moves) in [(0u8, false), (1, true)] {
        let mut lab = Lab::new();
        let key = lab.fleet_service("rr", FwdMethod::Route);
        lab.sysctl(Sysctl::ExpireNodestConn, on);
        let (v, out) = lab.tcp(CLIENT, 43002, "S");
        let first = lab.server_of(v, &out).expect("forwarded");
        lab.tcp(CLIENT, 43002, "A");
        lab.cmd(Command::EditDest(key, dest_spec(first, 80, FwdMethod::Route, 0)));
        let (v, out) = lab.tcp(CLIENT, 43002, "A");
        assert_eq!(lab.server_of(v, &out), Some(first), "a mid-stream segment keeps its quiesced server");
        let (v, out) = lab.tcp(CLIENT, 43002, "S");
        let again = lab.server_of(v, &out).expect("forwarded");
        assert_eq!(again != first, moves, "expire_nodest_conn={on}: a new SYN moves: {moves}");
    }
}

#[test]
fn expire_quiescent_template_reschedules_the_clients_of_a_weight_0_server() {
    for (on, moves) in [(0u8, false), (1, true)] {
        let mut lab = Lab::new();
        let key = tcp_vip(80);
        lab.persistent(key, 300, [255; 4], &[(RS1, 80), (RS2, 80)]);
        lab.sysctl(Sysctl::ExpireQuiescentTemplate, on);
        let first = lab.syn_from(CLIENT, 50000, 80);
        lab.cmd(Command::EditDest(key, dest_spec(first, 80, FwdMethod::Masq, 0)));
        let next = lab.syn_from(CLIENT, 50001, 80);
        assert_eq!(next != first, moves, "expire_quiescent_template={on}: the client moves: {moves}");
        // The connection already placed keeps its server either way.
        let (v, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 50000, 80, "A", b""));
        assert_eq!(v, Verdict::Forward(1));
        assert_eq!(field_ip(&out, 16), first);
    }
}

/// A client's "fragmentation needed" about a reply a DR real server sent as
/// the VIP (VIP:80 -> client:port).
fn frag_needed_from_client(client: [u8; 4], port: u16) -> Vec<u8> {
    let reply = tcp(RS1_MAC, CLIENT_MAC, VIP, client, 80, port, "A", &[0u8; 64]);
    let mut err = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ipv4(client, VIP, 64)
        .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 },
        ))
        .write(&mut err, &reply[14..14 + 28])
        .unwrap();
    err
}

#[test]
fn schedule_icmp_sends_an_error_about_an_unknown_dr_flow_to_its_server() {
    let mut a = Lab::new();
    a.fleet_service("mh", FwdMethod::Route);
    let mut b = Lab::new();
    b.fleet_service("mh", FwdMethod::Route);
    let (v, out) = a.tcp(client(3), 44000, "S");
    let chosen = a.server_of(v, &out).expect("forwarded");
    let (v, _) = b.feed(0, &frag_needed_from_client(client(3), 44000));
    assert_eq!(v, Verdict::Drop(Reason::IcmpErrorUnrelated), "schedule_icmp=0: nothing to send it to");
    b.sysctl(Sysctl::ScheduleIcmp, 1);
    let err = frag_needed_from_client(client(3), 44000);
    let (v, out) = b.feed(0, &err);
    assert_eq!(b.server_of(v, &out), Some(chosen), "scheduled like the flow: mh's server");
    assert_eq!(&out[14..], &err[14..], "DR: the error itself untouched");
    // An error naming no service stays unrelated.
    let mut stray = frag_needed_from_client(client(3), 44000);
    let q = 14 + 20 + 8;
    stray[q + 20..q + 22].copy_from_slice(&81u16.to_be_bytes());
    crate::wire::icmp::fill_checksum(&mut stray[14 + 20..]);
    assert_eq!(b.feed(0, &stray).0, Verdict::Drop(Reason::IcmpErrorUnrelated));
}

#[test]
fn sloppy_sctp_is_shown_and_leaves_tcp_strict() {
    let mut lab = Lab::new();
    lab.fleet_service("mh", FwdMethod::Route);
    lab.sysctl(Sysctl::SloppySctp, 1);
    assert!(lab.d.shared.sysctl.load().listing().contains("sloppy_sctp = 1\n"));
    let (v, _) = lab.tcp(CLIENT, 45000, "A");
    assert_eq!(v, Verdict::Drop(Reason::NotSyn), "sloppy_sctp is not sloppy_tcp");
}

/// The kernel's ip_vs_in since 5.9: with expire_nodest_conn, a packet of a
/// connection whose real server was deleted expires the entry and is then
/// treated as a packet without one: scheduled afresh when it may create a
/// connection (UDP; TCP with sloppy_tcp), else dropped.
#[test]
fn expire_nodest_conn_expires_then_schedules_what_may_create_a_connection() {
    let mut lab = Lab::new();
    let udp_key = lab.nat_service("rr", IPPROTO_UDP, 53, &[(RS1, 53, 1), (RS2, 53, 1)]);
    let tcp_key = lab.nat_service("rr", IPPROTO_TCP, 80, &[(RS1, 80, 1), (RS2, 80, 1)]);
    lab.learn(1, RS1, RS1_MAC);
    lab.learn(1, RS2, RS2_MAC);
    lab.sysctl(Sysctl::ExpireNodestConn, 1);
    let q = |lab: &mut Lab| lab.feed(0, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5300, 53, b"q"));
    let (_, out) = q(&mut lab);
    let first = field_ip(&out, 16);
    lab.cmd(Command::DeleteDest(udp_key, std::net::IpAddr::from(Ipv4Addr::from(first)), 53));
    let (v, out) = q(&mut lab);
    assert_eq!(v, Verdict::Forward(1), "UDP: expired, then scheduled afresh");
    assert_ne!(field_ip(&out, 16), first);

    // TCP without sloppy_tcp: the ACK is dropped and the entry forgotten.
    for (port, sloppy) in [(43100u16, 0u8), (43101, 1)] {
        if sloppy == 1 {
            lab.cmd(Command::AddDest(tcp_key, dest_spec(first, 80, FwdMethod::Masq, 1)));
        }
        lab.sysctl(Sysctl::SloppyTcp, sloppy);
        let mut to = [0u8; 4];
        // rr: open connections until one lands on `first`.
        for p in 0..4 {
            let (_, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port + 100 * p, 80, "S", b""));
            to = field_ip(&out, 16);
            if to == first {
                lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port + 100 * p, 80, "A", b""));
                lab.cmd(Command::DeleteDest(tcp_key, std::net::IpAddr::from(Ipv4Addr::from(first)), 80));
                let (v, out) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port + 100 * p, 80, "A", b""));
                if sloppy == 0 {
                    assert_eq!(v, Verdict::Drop(Reason::NoDestExpired));
                    assert_eq!(lab.state_of(CLIENT, port + 100 * p), "", "forgotten");
                } else {
                    assert_eq!(v, Verdict::Forward(1), "sloppy_tcp: the ACK is scheduled afresh");
                    assert_ne!(field_ip(&out, 16), first);
                    assert_eq!(lab.state_of(CLIENT, port + 100 * p), "ESTABLISHED");
                }
                break;
            }
        }
        assert_eq!(to, first);
    }
}

/// No shared atomic per packet: a loop sees a change at its next batch.
#[test]
fn a_change_takes_effect_at_the_next_batch() {
    let mut lab = Lab::new();
    lab.fleet_service("mh", FwdMethod::Route);
    lab.d.shared.sysctl.set(Sysctl::SloppyTcp, 1);
    assert_eq!(lab.tcp(CLIENT, 46000, "A").0, Verdict::Drop(Reason::NotSyn), "within the batch: the old value");
    lab.d.begin_batch();
    assert_eq!(lab.tcp(CLIENT, 46000, "A").0, Verdict::Forward(1), "next batch: the new value");
}
