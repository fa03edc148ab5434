//! `rvs_pipeline_driver established|new N`: a deterministic driver of the pure pipeline
//! (no NIC, no threads, no clock) for `scripts/callgrind`.
//!
//! It builds the same two-interface NAT director as benches/pipeline.rs (one TCP service,
//! rr, two real servers whose MACs are resolved), pushes 10 000 warm-up frames, then N
//! measured frames:
//!   * `established`: the same client-to-VIP ACK of one established connection;
//!   * `established-sync`: the same with a master sync daemon running (IPVS's default
//!     policy: the connection is synced every 50th packet; messages go to a collector);
//!   * `new`: a SYN of a new connection per frame (the source port moves on, the TCP
//!     window the opposite way, so the checksum stays valid without being recomputed;
//!     hence at most 50 000 measured frames).
//! Each frame is copied from a template into the receive buffer first (as the AF_XDP loop
//! hands the pipeline a frame in place).  Running it for N and 2N and subtracting removes
//! every fixed cost; what remains per frame is the pipeline plus that copy (tens of
//! instructions).  Prints one line to stderr at the end: how many frames were forwarded.

use etherparse::PacketBuilder;
use rvs::api::command::Command;
use rvs::api::*;
use rvs::control::Control;
use rvs::net::iface::{Interface, Interfaces};
use rvs::net::route::RouteTable;
use rvs::pipeline::{Collect, Director, Limits, Shared, Verdict};
use rvs::wire::ip_protocol::*;
use std::net::Ipv4Addr;
use std::sync::Arc;

const OUT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const IN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const VIP: [u8; 4] = [198, 18, 0, 100];
const WARMUP: u64 = 10_000;

fn tcp(src: [u8; 4], sport: u16, syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC).ipv4(src, VIP, 64).tcp(sport, 80, 1, 64000);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut v = Vec::new();
    b.write(&mut v, &[0u8; 6]).unwrap();
    v
}

fn arp_reply(mac: [u8; 6], ip: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    let n = rvs::wire::arp::build_frame(
        &mut f,
        &IN_MAC,
        2,
        &mac,
        u32::from_be_bytes(ip),
        &IN_MAC,
        u32::from_be_bytes([198, 18, 1, 1]),
    );
    f.truncate(n);
    f
}

fn director(connections: usize) -> (Director, Control) {
    let ifaces = Interfaces(vec![
        Interface {
            id: 0,
            name: "out".into(),
            mac: OUT_MAC,
            mtu: 1500,
            addrs: vec![(u32::from_be_bytes([198, 18, 0, 1]), 24)],
            vips: vec![],
        },
        Interface {
            id: 1,
            name: "in".into(),
            mac: IN_MAC,
            mtu: 1500,
            addrs: vec![(u32::from_be_bytes([198, 18, 1, 1]), 24)],
            vips: vec![],
        },
    ]);
    let routes = RouteTable::build(&ifaces, &[]).unwrap();
    let shared = Arc::new(Shared::new());
    let mut ctl = Control::new(shared.clone());
    let key = ServiceKey::Addr { proto: IPPROTO_TCP, addr: Ipv4Addr::from(VIP), port: 80 };
    ctl.apply(&Command::AddService(ServiceSpec {
        key,
        scheduler: "rr".into(),
        persistent: None,
        netmask: Ipv4Addr::BROADCAST,
        sched_flags: vec![],
        ops: false,
        laddrs: vec![],
    }))
    .unwrap();
    for last in [11u8, 12] {
        ctl.apply(&Command::AddDest(
            key,
            DestSpec {
                addr: Ipv4Addr::new(198, 18, 1, last),
                port: 80,
                fwd: FwdMethod::Masq,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
            },
        ))
        .unwrap();
    }
    let mut d = Director::new(
        0,
        ifaces,
        routes,
        shared,
        Limits { connections, neighbours: 64, arp_hold_slots: 16, ..Limits::default() },
        0,
    );
    d.begin_batch();
    let mut tx = Collect::default();
    for (i, last) in [11u8, 12].iter().enumerate() {
        let mut f = tcp([198, 18, 0, 10], 1000 + i as u16, true);
        let mut len = f.len();
        f.resize(2048, 0);
        d.process(1, 0, &mut f, &mut len, &mut tx);
        let mut a = arp_reply([2, 0, 0, 0, 0, *last], [198, 18, 1, *last]);
        let mut len = a.len();
        a.resize(2048, 0);
        d.process(1, 1, &mut a, &mut len, &mut tx);
    }
    (d, ctl)
}

fn add16(buf: &mut [u8], at: usize, delta: i64) {
    let v = u16::from_be_bytes([buf[at], buf[at + 1]]) as i64 + delta;
    buf[at..at + 2].copy_from_slice(&(v as u16).to_be_bytes());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: rvs_pipeline_driver established|established-sync|new N");
        std::process::exit(2)
    };
    if args.len() != 3 {
        usage();
    }
    let (new, sync) = match args[1].as_str() {
        "established" => (false, false),
        "established-sync" => (false, true),
        "new" => (true, false),
        _ => usage(),
    };
    let n: u64 = args[2].parse().unwrap_or_else(|_| usage());
    let total = WARMUP + n;
    if new && total > 60_000 {
        eprintln!("rvs_pipeline_driver: new: at most {} measured frames (one source port each)", 60_000 - WARMUP);
        std::process::exit(2);
    }
    let (mut d, mut ctl) = director(if new { (total as usize + 1024).next_power_of_two() } else { 1 << 16 });
    if sync {
        ctl.set_sync_interfaces(vec![rvs::control::SyncInterface {
            name: "in".into(),
            id: 1,
            mtu: 1500,
            has_addr: true,
        }]);
        let req = rvs::ipvs::sync::daemon::DaemonRequest::new("master", "in", 1);
        ctl.start_daemon(&req).unwrap();
        d.begin_batch();
    }
    let mut tx = Collect::default();
    let mut buf = vec![0u8; 2048];
    let mut forwarded = 0u64;
    if new {
        let tmpl = tcp([198, 18, 0, 10], 1024, true);
        let flen = tmpl.len();
        for i in 0..total {
            let a = i as i64;
            buf[..flen].copy_from_slice(&tmpl);
            add16(&mut buf, 34, a); // TCP source port
            add16(&mut buf, 34 + 14, -a); // TCP window: keeps the checksum
            let mut len = flen;
            if let Verdict::Forward(_) = d.process(3, 0, &mut buf, &mut len, &mut tx) {
                forwarded += 1;
            }
            tx.0.clear();
        }
    } else {
        let syn = tcp([198, 18, 0, 10], 1000, true);
        buf[..syn.len()].copy_from_slice(&syn);
        let mut len = syn.len();
        d.process(2, 0, &mut buf, &mut len, &mut tx);
        let frame = tcp([198, 18, 0, 10], 1000, false);
        for _ in 0..total {
            buf[..frame.len()].copy_from_slice(&frame);
            let mut len = frame.len();
            if let Verdict::Forward(_) = d.process(2, 0, &mut buf, &mut len, &mut tx) {
                forwarded += 1;
            }
            tx.0.clear();
        }
    }
    // Not for `new`: listing grows with N and would count as per-packet cost.
    let states: Vec<String> = if new { vec![] } else { d.connections(2).iter().map(|c| c.state.clone()).collect() };
    let synced = d.shared().counters.total(rvs::pipeline::Reason::SyncConnsSent);
    eprintln!(
        "rvs_pipeline_driver: {} {}: forwarded {forwarded} of {total}; states {states:?}; {synced} entries synced",
        args[1], n
    );
}
