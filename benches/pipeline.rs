//! Per-packet cost of the pure pipeline (no NIC): `cargo bench`.
//!
//! A two-interface director with one service of two real servers whose MACs
//! are resolved; frames are crafted once and re-processed in place, as the
//! AF_XDP loop does (the copy into the buffer is part of each figure).
//! Groups: established flows per method and direction, established flows of
//! many connections in turn (every frame of a batch another flow, in tables
//! of a thousand and a million), a new connection per scheduler family, ARP
//! and routing, and connection-table lookups with 1 thousand, 1 million and
//! 10 million live entries.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rvs::api::*;
use rvs::ipvs::conn::{ConnTable, FlowKey, NewConn};
use rvs::ipvs::dest::Dest;
use rvs::ipvs::service::Service;
use rvs::ipvs::state::ConnState;
use rvs::net::iface::{Interface, Interfaces};
use rvs::net::route::RouteTable;
use rvs::pipeline::{BatchFrame, Limits};
use rvs::testkit::frames::{arp, tcp, udp};
use rvs::testkit::*;
use std::hint::black_box;
use std::sync::Arc;

/// Frames per Director::process_batch call in the established group.
const BATCH: usize = 32;

/// The test kit's two-server director with tables of `connections` entries.
fn director(sched: &str, connections: usize, fwd: FwdMethod) -> Lab {
    Lab::two_servers(sched, fwd, Limits { connections, ..Limits::default() })
}

fn bench_established(c: &mut Criterion) {
    let mut g = c.benchmark_group("established");
    // A batch of frames per iteration through Director::process_batch, the poll loop's path
    // (all parsed and looked up, then each forwarded): the figure is per frame.
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, fwd) in [
        ("nat", FwdMethod::Masq),
        ("dr", FwdMethod::Route),
        ("tun", FwdMethod::Tunnel),
        ("fullnat", FwdMethod::FullNat),
    ] {
        let mut lab = director("rr", 1 << 16, fwd);
        let (frame, reply) = lab.established_flow(fwd);
        let mut bufs = vec![vec![0u8; 2048]; BATCH];
        for (dir, ingress, f) in [("client_to_server", OUT, Some(frame)), ("server_to_client", IN, reply)] {
            let Some(f) = f else { continue };
            let Lab { d, tx, .. } = &mut lab;
            let mut batch: Vec<BatchFrame> = bufs.iter_mut().map(|b| BatchFrame::new(ingress, b, 0)).collect();
            g.bench_function(format!("{name}_{dir}"), |b| {
                b.iter(|| {
                    for x in batch.iter_mut() {
                        x.buf[..f.len()].copy_from_slice(&f);
                        x.len = f.len();
                    }
                    d.process_batch(3, &mut batch, tx);
                    black_box(batch[0].verdict)
                })
            });
        }
    }
    g.finish();
}

/// Established NAT flows in turn, as many as the table holds: every frame of a batch is
/// another flow (UDP to VIP:53, one datagram made each connection), so each one costs a
/// lookup in a table of `flows` live entries and a decision of its own; with a million the
/// index and the entries are far larger than the caches. `established` above is the best
/// case (one flow); this is the worst (scripts/callgrind's `established-mixed` counts its
/// instructions with 1024 flows).
fn bench_many_flows(c: &mut Criterion) {
    let mut g = c.benchmark_group("established_many_flows");
    g.throughput(Throughput::Elements(BATCH as u64));
    for flows in [1usize << 10, 1 << 20] {
        let mut lab = director("rr", 2 * flows + 4096, FwdMethod::Masq);
        lab.nat_service("rr", 17, 53, &[(RS1, 53, 1), (RS2, 53, 1)]);
        // Clients 198.19.a.b, ports 1024..: one flow each.
        let frame = |i: usize| {
            let client = [198, 19, (i >> 16) as u8, (i >> 8) as u8];
            udp(CLIENT_MAC, OUT_MAC, client, VIP, 1024 + (i & 0xff) as u16 * 251 % 64_000, 53, &[0; 18])
        };
        let frames: Vec<Vec<u8>> = (0..flows).map(frame).collect();
        let Lab { d, tx, .. } = &mut lab;
        let mut bufs = vec![vec![0u8; 2048]; BATCH];
        let mut run = |d: &mut rvs::pipeline::Director, from: usize, bufs: &mut [Vec<u8>]| {
            let mut batch: Vec<BatchFrame> = bufs.iter_mut().map(|b| BatchFrame::new(OUT, b, 0)).collect();
            for (k, x) in batch.iter_mut().enumerate() {
                let f = &frames[(from + k) % flows];
                x.buf[..f.len()].copy_from_slice(f);
                x.len = f.len();
            }
            d.process_batch(4, &mut batch, tx);
            batch.iter().filter(|x| matches!(x.verdict, rvs::pipeline::Verdict::Forward(_))).count()
        };
        // One datagram per flow makes its connection.
        let mut made = 0;
        for from in (0..flows).step_by(BATCH) {
            made += run(d, from, &mut bufs);
        }
        assert_eq!(made, flows, "every flow's first datagram is forwarded");
        eprintln!("established_many_flows/{flows}: {} connections", d.connections(4).len());
        let mut from = 0;
        g.bench_function(format!("{flows}"), |b| {
            b.iter(|| {
                let n = run(d, from, &mut bufs);
                from = (from + BATCH) % flows;
                black_box(n)
            })
        });
    }
    g.finish();
}

fn bench_new_connection(c: &mut Criterion) {
    let mut g = c.benchmark_group("new_connection");
    g.throughput(Throughput::Elements(1));
    for sched in ["rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh", "lblc", "lblcr", "fo", "ovf"] {
        let mut lab = director(sched, 1 << 21, FwdMethod::Masq);
        let Lab { d, tx, .. } = &mut lab;
        let mut n: u32 = 0;
        let mut buf = vec![0u8; 2048];
        let template = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 2000, 80, "S", &[0; 6]);
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
                    rvs::testkit::frames::fix_ip(&mut f);
                    f
                },
                |f| {
                    buf[..f.len()].copy_from_slice(f);
                    let mut len = f.len();
                    black_box(d.process(4, OUT, &mut buf, &mut len, tx))
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn bench_stack(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack");
    g.throughput(Throughput::Elements(1));
    let mut lab = director("rr", 1024, FwdMethod::Masq);
    let Lab { d, tx, .. } = &mut lab;
    let req = arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0xff; 6], VIP);
    let mut buf = vec![0u8; 2048];
    g.bench_function("arp_request_to_reply", |b| {
        b.iter(|| {
            buf[..req.len()].copy_from_slice(&req);
            let mut len = req.len();
            black_box(d.process(5, OUT, &mut buf, &mut len, tx))
        })
    });
    let ifaces = Interfaces(
        (0..4)
            .map(|i| Interface {
                id: i,
                name: format!("e{i}"),
                mac: [0; 6],
                mtu: 1500,
                vlan: 0,
                port: i,
                addrs: vec![(0xc612_0001 + ((i as u32) << 8), 24)],
                vips: vec![],
                addrs6: vec![],
                routes6: vec![],
                vips6: vec![],
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
    let dest = Arc::new(Dest::new(&dest_spec(RS1, 80, FwdMethod::Masq, 1)));
    let svc = Arc::new(Service::new(service_spec(tcp_vip(80), "rr")).unwrap());
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
                    local: false,
                    caddr: k.saddr,
                    cport: k.sport,
                    vaddr: k.daddr,
                    vport: 80,
                    daddr: 0xc612_010b,
                    dport: 80,
                    laddr: 0,
                    lport: 0,
                    dest: &dest,
                    svc: &svc,
                    laddr_ref: None,
                    expires_ms: 900_000,
                    in_key: k,
                    out_key: Some(FlowKey { saddr: 0xc612_010b, daddr: k.saddr, sport: 80, dport: k.sport, proto: 6 }),
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

criterion_group!(benches, bench_established, bench_many_flows, bench_new_connection, bench_stack, bench_conn_table);
criterion_main!(benches);
