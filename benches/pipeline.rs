//! Per-packet cost of the pure pipeline (no NIC): `cargo bench`.
//!
//! A two-interface NAT director with one service and two real servers whose
//! MACs are already resolved; the frames are crafted once and re-processed
//! in place, as the AF_XDP loop does.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use etherparse::PacketBuilder;
use rvs::control::Control;
use rvs::ipvs::types::*;
use rvs::ipvsadm::command::Command;
use rvs::net::iface::{Interface, Interfaces};
use rvs::net::route::RouteTable;
use rvs::pipeline::{Collect, Director, Limits, Shared, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

const OUT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const IN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const VIP: [u8; 4] = [198, 18, 0, 100];

fn tcp(src_mac: [u8; 6], dst_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac).ipv4(src, dst, 64).tcp(sport, dport, 1, 64000);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut v = Vec::new();
    b.write(&mut v, &[0u8; 6]).unwrap();
    v
}

fn arp_reply(mac: [u8; 6], ip: [u8; 4], to_mac: [u8; 6], to_ip: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    let n = rvs::wire::arp::build_frame(
        &mut f,
        &to_mac,
        2,
        &mac,
        u32::from_be_bytes(ip),
        &to_mac,
        u32::from_be_bytes(to_ip),
    );
    f.truncate(n);
    f
}

fn director(sched: &str, connections: usize) -> (Director, Control) {
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
        scheduler: sched.into(),
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
    // Resolve the real servers and the client: a SYN towards each triggers ARP, the reply resolves.
    for (i, last) in [11u8, 12].iter().enumerate() {
        let mut f = tcp(CLIENT_MAC, OUT_MAC, [198, 18, 0, 10], VIP, 1000 + i as u16, 80, true);
        let mut len = f.len();
        f.resize(2048, 0);
        d.process(1, 0, &mut f, &mut len, &mut tx);
        let mut a = arp_reply([2, 0, 0, 0, 0, *last], [198, 18, 1, *last], IN_MAC, [198, 18, 1, 1]);
        let mut len = a.len();
        a.resize(2048, 0);
        d.process(1, 1, &mut a, &mut len, &mut tx);
    }
    (d, ctl)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(1));

    // Established NAT flow, client to real server: lookup, state, counters, DNAT, route, MAC.
    let (mut d, _ctl) = director("rr", 1 << 16);
    let frame = tcp(CLIENT_MAC, OUT_MAC, [198, 18, 0, 10], VIP, 1000, 80, false);
    let mut buf = vec![0u8; 2048];
    let mut tx = Collect::default();
    g.bench_function("nat_established_in", |b| {
        b.iter(|| {
            buf[..frame.len()].copy_from_slice(&frame);
            let mut len = frame.len();
            let v = d.process(2, 0, &mut buf, &mut len, &mut tx);
            debug_assert_eq!(v, Verdict::Forward(1));
            v
        })
    });

    // A new connection per packet: service lookup, scheduling, table insert.
    for sched in ["rr", "wrr", "lc", "wlc"] {
        let (mut d, _ctl) = director(sched, 1 << 20);
        let mut port: u16 = 2000;
        let mut src: u32 = u32::from_be_bytes([198, 18, 0, 10]);
        g.bench_function(format!("nat_new_connection_{sched}"), |b| {
            b.iter_batched_ref(
                || {
                    port = port.wrapping_add(1);
                    if port == 0 {
                        src += 1;
                    }
                    tcp(CLIENT_MAC, OUT_MAC, src.to_be_bytes(), VIP, port, 80, true)
                },
                |f| {
                    let mut len = f.len();
                    f.resize(2048, 0);
                    d.process(3, 0, f, &mut len, &mut tx)
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
