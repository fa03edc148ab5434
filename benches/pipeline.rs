//! Per-packet cost of the pure pipeline (no NIC): `cargo bench`.
//!
//! A two-interface director with one service of two real servers whose MACs
//! are resolved; frames are crafted once and re-processed in place, as the
//! AF_XDP loop does (the copy into the buffer is part of each figure).
//! Groups: established flows per method and direction, a new connection per
//! scheduler family, ARP and routing, and connection-table lookups with 1
//! thousand, 1 million and 10 million live entries.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use etherparse::PacketBuilder;
use rvs::api::command::Command;
use rvs::api::*;
use rvs::control::Control;
use rvs::ipvs::conn::{ConnTable, FlowKey, NewConn};
use rvs::ipvs::dest::Dest;
use rvs::ipvs::service::Service;
use rvs::ipvs::state::ConnState;
use rvs::net::iface::{Interface, Interfaces};
use rvs::net::route::RouteTable;
use rvs::pipeline::{Collect, Director, Limits, Shared, Verdict};
use rvs::wire::ip_protocol::*;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;

const OUT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const IN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const RS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
const VIP: [u8; 4] = [198, 18, 0, 100];
const CLIENT: [u8; 4] = [198, 18, 0, 10];
const LIP: [u8; 4] = [198, 18, 1, 100];

fn tcp(src_mac: [u8; 6], dst_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac).ipv4(src, dst, 64).tcp(sport, dport, 1, 64000);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut v = Vec::new();
    b.write(&mut v, &[0u8; 6]).unwrap();
    v
}

fn arp(op: u16, mac: [u8; 6], ip: [u8; 4], to_mac: [u8; 6], to_ip: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    let n = rvs::wire::arp::build_frame(
        &mut f,
        &to_mac,
        op,
        &mac,
        u32::from_be_bytes(ip),
        &to_mac,
        u32::from_be_bytes(to_ip),
    );
    f.truncate(n);
    f
}

fn feed(d: &mut Director, now: u64, iface: u8, frame: &[u8], tx: &mut Collect) -> (Verdict, Vec<u8>) {
    let mut b = frame.to_vec();
    let mut len = b.len();
    b.resize(2048, 0);
    let v = d.process(now, iface, &mut b, &mut len, tx);
    b.truncate(len);
    (v, b)
}

/// A director with one service on port 80 of `sched`, two real servers of
/// method `fwd` (a local address for FULLNAT), MACs of the real servers and
/// the client resolved.
fn director(sched: &str, connections: usize, fwd: FwdMethod) -> (Director, Control) {
    let ip = |a: [u8; 4]| u32::from_be_bytes(a);
    let ifaces = Interfaces(vec![
        Interface {
            id: 0,
            name: "out".into(),
            mac: OUT_MAC,
            mtu: 1500,
            addrs: vec![(ip([198, 18, 0, 1]), 24)],
            vips: vec![],
        },
        Interface {
            id: 1,
            name: "in".into(),
            mac: IN_MAC,
            mtu: 1500,
            addrs: vec![(ip([198, 18, 1, 1]), 24)],
            vips: vec![],
        },
    ]);
    let routes = RouteTable::build(&ifaces, &[]).unwrap();
    let shared = Arc::new(Shared::new());
    let mut ctl = Control::new(shared.clone());
    let key = ServiceKey::Addr { proto: IPPROTO_TCP, addr: Ipv4Addr::from(VIP), port: 80 };
    let spec = ServiceSpec {
        key,
        scheduler: sched.into(),
        persistent: None,
        netmask: Ipv4Addr::BROADCAST,
        sched_flags: vec![],
        ops: false,
        laddrs: if fwd == FwdMethod::FullNat { vec![Ipv4Addr::from(LIP)] } else { vec![] },
    };
    ctl.apply(&Command::AddService(spec)).unwrap();
    for last in [11u8, 12] {
        let d = DestSpec {
            addr: Ipv4Addr::new(198, 18, 1, last),
            port: 80,
            fwd,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        };
        ctl.apply(&Command::AddDest(key, d)).unwrap();
    }
    let mut d = Director::new(0, ifaces, routes, shared, Limits { connections, ..Limits::default() }, 0);
    d.begin_batch();
    let mut tx = Collect::default();
    // A SYN towards each real server and to the client makes the director ask; the answers resolve.
    for (i, last) in [11u8, 12].iter().enumerate() {
        feed(&mut d, 1, 0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1000 + i as u16, 80, true), &mut tx);
        feed(&mut d, 1, 1, &arp(2, RS_MAC, [198, 18, 1, *last], IN_MAC, [198, 18, 1, 1]), &mut tx);
    }
    let _ = feed(&mut d, 1, 0, &arp(1, CLIENT_MAC, CLIENT, [0xff; 6], [198, 18, 0, 1]), &mut tx);
    (d, ctl)
}

fn bench_established(c: &mut Criterion) {
    let mut g = c.benchmark_group("established");
    g.throughput(Throughput::Elements(1));
    for (name, fwd) in [
        ("nat", FwdMethod::Masq),
        ("dr", FwdMethod::Route),
        ("tun", FwdMethod::Tunnel),
        ("fullnat", FwdMethod::FullNat),
    ] {
        let (mut d, _ctl) = director("rr", 1 << 16, fwd);
        let mut tx = Collect::default();
        // Open the flow and learn what the real server sees (for the reply).
        let (_, first) = feed(&mut d, 2, 0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1000, 80, true), &mut tx);
        let frame = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1000, 80, false);
        let mut buf = vec![0u8; 2048];
        g.bench_function(format!("{name}_client_to_server"), |b| {
            b.iter(|| {
                buf[..frame.len()].copy_from_slice(&frame);
                let mut len = frame.len();
                black_box(d.process(3, 0, &mut buf, &mut len, &mut tx))
            })
        });
        // The reply path exists for the methods whose replies cross the director.
        let reply = match fwd {
            FwdMethod::Masq => {
                Some(tcp(RS_MAC, IN_MAC, [first[30], first[31], first[32], first[33]], CLIENT, 80, 1000, false))
            }
            FwdMethod::FullNat => {
                let (rs, lport) =
                    ([first[30], first[31], first[32], first[33]], u16::from_be_bytes([first[34], first[35]]));
                Some(tcp(RS_MAC, IN_MAC, rs, LIP, 80, lport, false))
            }
            _ => None,
        };
        if let Some(reply) = reply {
            // The first reply makes the director ask for the client's MAC; the answer resolves it.
            let _ = feed(&mut d, 3, 1, &reply, &mut tx);
            let _ = feed(&mut d, 3, 0, &arp(2, CLIENT_MAC, CLIENT, OUT_MAC, [198, 18, 0, 1]), &mut tx);
            assert!(matches!(feed(&mut d, 3, 1, &reply, &mut tx).0, Verdict::Forward(0)), "{name} reply forwarded");
            g.bench_function(format!("{name}_server_to_client"), |b| {
                b.iter(|| {
                    buf[..reply.len()].copy_from_slice(&reply);
                    let mut len = reply.len();
                    black_box(d.process(3, 1, &mut buf, &mut len, &mut tx))
                })
            });
        }
        tx.0.clear();
    }
    g.finish();
}

fn bench_new_connection(c: &mut Criterion) {
    let mut g = c.benchmark_group("new_connection");
    g.throughput(Throughput::Elements(1));
    for sched in ["rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh", "lblc", "lblcr", "fo", "ovf"] {
        let (mut d, _ctl) = director(sched, 1 << 21, FwdMethod::Masq);
        let mut tx = Collect::default();
        let mut n: u32 = 0;
        let mut buf = vec![0u8; 2048];
        let template = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 2000, 80, true);
        g.bench_function(sched, |b| {
            b.iter_batched_ref(
                || {
                    // A fresh (address, port) every time: every packet opens a connection.
                    n = n.wrapping_add(1);
                    let mut f = template.clone();
                    let (a, p) = (0xc612_0000 | (n >> 14) & 0xffff, 1024 + (n & 0x3fff) as u16);
                    f[26..30].copy_from_slice(&a.to_be_bytes());
                    f[34..36].copy_from_slice(&p.to_be_bytes());
                    // Fix the IP and TCP checksums for the new source.
                    let ip = &mut f[14..34];
                    ip[10..12].fill(0);
                    let cs = rvs::wire::Checksum::new().add_bytes(ip).finish();
                    ip[10..12].copy_from_slice(&cs.to_be_bytes());
                    f
                },
                |f| {
                    buf[..f.len()].copy_from_slice(f);
                    let mut len = f.len();
                    black_box(d.process(4, 0, &mut buf, &mut len, &mut tx))
                },
                BatchSize::SmallInput,
            )
        });
        tx.0.clear();
    }
    g.finish();
}

fn bench_stack(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack");
    g.throughput(Throughput::Elements(1));
    let (mut d, _ctl) = director("rr", 1024, FwdMethod::Masq);
    let mut tx = Collect::default();
    let req = arp(1, CLIENT_MAC, CLIENT, [0xff; 6], VIP);
    let mut buf = vec![0u8; 2048];
    g.bench_function("arp_request_to_reply", |b| {
        b.iter(|| {
            buf[..req.len()].copy_from_slice(&req);
            let mut len = req.len();
            black_box(d.process(5, 0, &mut buf, &mut len, &mut tx))
        })
    });
    let ifaces = Interfaces(
        (0..4)
            .map(|i| Interface {
                id: i,
                name: format!("e{i}"),
                mac: [0; 6],
                mtu: 1500,
                addrs: vec![(0xc612_0001 + ((i as u32) << 8), 24)],
                vips: vec![],
            })
            .collect(),
    );
    let statics: Vec<_> = (0..16u32).map(|i| (0x0a00_0000 + (i << 16), 16, 0xc612_00fe)).collect();
    let routes = RouteTable::build(&ifaces, &statics).unwrap();
    let mut x = 0u32;
    g.bench_function("route_lookup_20_routes", |b| {
        b.iter(|| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            black_box(routes.lookup(x))
        })
    });
    g.finish();
}

/// Lookups in tables of 1 thousand, 1 million and 10 million live connections
/// (the 10-million table is built once: about 1.7 GB).
fn bench_conn_table(c: &mut Criterion) {
    let mut g = c.benchmark_group("conn_table_lookup");
    g.throughput(Throughput::Elements(1));
    let dest = Arc::new(Dest::new(&DestSpec {
        addr: Ipv4Addr::new(198, 18, 1, 11),
        port: 80,
        fwd: FwdMethod::Masq,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
    }));
    let svc = Arc::new(
        Service::new(ServiceSpec {
            key: ServiceKey::Addr { proto: 6, addr: Ipv4Addr::from(VIP), port: 80 },
            scheduler: "rr".into(),
            persistent: None,
            netmask: Ipv4Addr::BROADCAST,
            sched_flags: vec![],
            ops: false,
            laddrs: vec![],
        })
        .unwrap(),
    );
    for n in [1_000usize, 1_000_000, 10_000_000] {
        let key = |i: usize| FlowKey {
            saddr: 0xc612_0000 | (i >> 16) as u32,
            daddr: 0xc612_0064,
            sport: i as u16,
            dport: 80,
            proto: 6,
        };
        let mut t = ConnTable::new(n, 0);
        let started = std::time::Instant::now();
        for i in 0..n {
            let k = key(i);
            t.insert(
                NewConn {
                    proto: 6,
                    state: ConnState::Established,
                    fwd: FwdMethod::Masq,
                    caddr: k.saddr,
                    cport: k.sport,
                    vaddr: k.daddr,
                    vport: 80,
                    daddr: 0xc612_010b,
                    dport: 80,
                    laddr: 0,
                    lport: 0,
                    dest: dest.clone(),
                    svc: svc.clone(),
                    laddr_ref: None,
                    expires_ms: 900_000,
                    in_key: k,
                    out_key: Some(FlowKey { saddr: 0xc612_010b, daddr: k.saddr, sport: 80, dport: k.sport, proto: 6 }),
                    template: false,
                    controller: None,
                },
                0,
            )
            .expect("insert");
        }
        eprintln!("conn table of {n}: built in {:.2?}, {} live", started.elapsed(), t.len());
        let mut x = 0u64;
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                black_box(t.lookup(&key((x >> 33) as usize % n)))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_established, bench_new_connection, bench_stack, bench_conn_table);
criterion_main!(benches);
