//! A poll loop: pinned to a core, it owns some (interface, queue) sockets
//! and one [`Director`], and moves frames between them in batches.

use super::handoff::Handoff;
use super::port::Port;
use super::xsk_stats::{read as read_xsk_stats, SocketStats, XskStats, READ_EVERY_MS};
use crate::api::ConnView;
use crate::net::neighbour::NeighbourView;
use crate::net::IfaceId;
use crate::pipeline::Owner;
use crate::pipeline::{Director, Reason, Transmit, Verdict};
use crossbeam::channel::{Receiver, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Questions the control plane asks a loop; answered between batches.
pub enum Request {
    Connections(Sender<Vec<ConnView>>),
    Neighbours(Sender<Vec<NeighbourView>>),
}

/// Frames the pipeline emits besides the one it was handed (ARP, ICMP,
/// released packets), staged in preallocated memory until the batch ends.
struct Stage {
    data: Vec<u8>,
    items: Vec<(IfaceId, usize, usize)>,
    used: usize,
    dropped: u64,
}

impl Stage {
    fn new(frames: usize) -> Self {
        Stage { data: vec![0; frames * 2048], items: Vec::with_capacity(frames), used: 0, dropped: 0 }
    }
}

impl Transmit for Stage {
    fn send(&mut self, iface: IfaceId, frame: &[u8]) {
        if self.items.len() == self.items.capacity() || self.used + frame.len() > self.data.len() {
            self.dropped += 1;
            return;
        }
        self.data[self.used..self.used + frame.len()].copy_from_slice(frame);
        self.items.push((iface, self.used, frame.len()));
        self.used += frame.len();
    }
}

pub struct Worker {
    pub id: usize,
    pub core: Option<usize>,
    pub director: Director,
    pub ports: Vec<Port>,
    pub requests: Receiver<Request>,
    pub stop: Arc<AtomicBool>,
    pub batch: usize,
    pub handoff: Arc<Handoff>,
    /// Where this loop publishes its sockets' kernel drop counters.
    pub xsk_stats: Arc<XskStats>,
    /// Bumped once per pass: the VIP announcer's proof this loop still runs.
    pub heartbeat: Arc<super::heartbeat::Heartbeats>,
}

/// Two distinct ports mutably at once.
fn pair(ports: &mut [Port], a: usize, b: usize) -> (&mut Port, &mut Port) {
    if a < b {
        let (x, y) = ports.split_at_mut(b);
        (&mut x[a], &mut y[0])
    } else {
        let (x, y) = ports.split_at_mut(a);
        (&mut y[0], &mut x[b])
    }
}

impl Worker {
    pub fn run(self) {
        let Worker { id, core, mut director, mut ports, requests, stop, batch, handoff, xsk_stats, heartbeat } = self;
        if let Some(c) = core {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                eprintln!("rvs: poll loop {id}: could not pin to core {c}");
            }
        }
        // The port that transmits for each interface (this loop's first on it).
        let n_ifaces = director.interfaces().len();
        let tx_port: Vec<usize> =
            (0..n_ifaces).map(|i| ports.iter().position(|p| p.iface as usize == i).unwrap_or(usize::MAX)).collect();
        let Some(first) = ports.first() else { return };
        // consume() overwrites these; they only need to be valid descriptors.
        let mut rx = vec![first.any_desc(); batch];
        let mut stage = Stage::new(256);
        let mut pollfds: Vec<libc::pollfd> =
            ports.iter().map(|p| libc::pollfd { fd: p.fd(), events: libc::POLLIN, revents: 0 }).collect();
        let shared = director.shared().clone();
        let counters = &shared.counters;
        let mut idle = 0u32;
        let mut next_xsk_read = 0u64;
        let mut pass = 0u64;
        while !stop.load(Ordering::Relaxed) {
            pass += 1;
            heartbeat.beat(id, pass);
            while let Ok(req) = requests.try_recv() {
                let now = super::now_ms();
                match req {
                    Request::Connections(tx) => {
                        let _ = tx.send(director.connections(now));
                    }
                    Request::Neighbours(tx) => {
                        let _ = tx.send(director.neighbour_views(now));
                    }
                }
            }
            let now = super::now_ms();
            if now >= next_xsk_read {
                next_xsk_read = now + READ_EVERY_MS;
                let mut sums: SocketStats = [0; 6];
                for stats in ports.iter().filter_map(|p| read_xsk_stats(p.fd())) {
                    for (sum, v) in sums.iter_mut().zip(stats) {
                        *sum += v;
                    }
                }
                xsk_stats.publish(id, &sums);
            }
            director.begin_batch();
            let mut got = 0;
            // Frames other loops received for this one.
            for _ in 0..batch {
                let Some(mut parcel) = handoff.receive(id) else { break };
                got += 1;
                let (iface, mut len) = (parcel.iface, parcel.len);
                if let Verdict::Forward(out) = director.process(now, iface, &mut parcel.buf, &mut len, &mut stage) {
                    match tx_port.get(out as usize) {
                        Some(&ti) if ti < ports.len() => {
                            if !ports[ti].send_copy(&parcel.buf[..len]) {
                                counters.count(id, Reason::TxRingFull);
                            }
                        }
                        _ => {}
                    }
                }
                handoff.recycle(parcel);
            }
            for pi in 0..ports.len() {
                ports[pi].reclaim();
                ports[pi].refill();
                let n = ports[pi].receive(&mut rx);
                got += n;
                // The fast path's first pass: every frame parsed and looked up before any is rewritten.
                for (slot, desc) in rx.iter().take(n).enumerate() {
                    director.prepare(slot, ports[pi].iface, ports[pi].frame(desc));
                }
                for (slot, desc) in rx.iter_mut().take(n).enumerate() {
                    let mut d = *desc;
                    let mut len = d.lengths().data();
                    let iface = ports[pi].iface;
                    let verdict = {
                        let buf = ports[pi].frame_mut(&mut d);
                        match director.owner(buf, len) {
                            Owner::Me => director.process_prepared(slot, now, iface, buf, &mut len, &mut stage),
                            Owner::Loop(to) => {
                                if handoff.send(to, iface, &buf[..len]) {
                                    counters.count(id, Reason::HandedOff);
                                } else {
                                    counters.count(id, Reason::HandoffFull);
                                }
                                Verdict::Consumed
                            }
                            Owner::All => {
                                for to in (0..handoff.loops()).filter(|&to| to != id) {
                                    if !handoff.send(to, iface, &buf[..len]) {
                                        counters.count(id, Reason::HandoffFull);
                                    }
                                }
                                director.process(now, iface, buf, &mut len, &mut stage)
                            }
                        }
                    };
                    match verdict {
                        Verdict::Forward(out) => {
                            let ti = tx_port.get(out as usize).copied().unwrap_or(usize::MAX);
                            if ti == pi {
                                ports[pi].set_len(&mut d, len);
                                ports[pi].queue_tx(d);
                            } else if ti < ports.len() {
                                let (src, dst) = pair(&mut ports, pi, ti);
                                let buf = src.frame_mut(&mut d);
                                if !dst.send_copy(&buf[..len]) {
                                    counters.count(id, Reason::TxRingFull);
                                }
                                src.recycle(d);
                            } else {
                                ports[pi].recycle(d);
                            }
                        }
                        _ => ports[pi].recycle(d),
                    }
                }
            }
            director.tick(now, &mut stage);
            for &(iface, off, len) in &stage.items {
                if let Some(&ti) = tx_port.get(iface as usize) {
                    if ti < ports.len() && !ports[ti].send_copy(&stage.data[off..off + len]) {
                        counters.count(id, Reason::TxRingFull);
                    }
                }
            }
            stage.items.clear();
            stage.used = 0;
            for p in ports.iter_mut() {
                p.flush();
            }
            if got == 0 && !ports.iter().any(|p| p.tx_busy()) && !director.sync_busy() {
                idle += 1;
                // Spin briefly for low latency, then sleep in poll(2) so an
                // idle director leaves the CPU to others.
                if idle > 64 {
                    for f in pollfds.iter_mut() {
                        f.revents = 0;
                    }
                    // SAFETY: pollfds is a valid array of pollfd.
                    unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, 20) };
                }
            } else {
                idle = 0;
            }
        }
        director.clear_connections();
        let dropped: u64 = ports.iter().map(|p| p.tx_dropped).sum::<u64>() + stage.dropped;
        eprintln!("rvs: poll loop {id} stopped ({dropped} frames dropped at transmit)");
    }
}
