//! A poll loop: pinned to a core, it owns some (interface, queue) sockets
//! and one [`Director`], and moves frames between them in batches.

use super::handoff::Handoff;
use super::shell::Shell;
use super::xsk_stats::{read as read_xsk_stats, SocketStats, XskStats, READ_EVERY_MS};
use crate::api::ConnView;
use crate::capture::ring::Tap;
use crate::net::neighbour::NeighbourView;
use crate::net::IfaceId;
use crate::pipeline::Owner;
use crate::pipeline::{Director, Reason, Transmit, Verdict, FROM_HOST};
use crossbeam::channel::{Receiver, Sender};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Questions the control plane asks a loop; answered between batches.
pub enum Request {
    Connections(Sender<Vec<ConnView>>),
    Neighbours(Sender<Vec<NeighbourView<std::net::IpAddr>>>),
    /// `rvsadm --capture`: copy matching frames of a device into this tap; say so once it
    /// is in place, so that rvsadm's "capturing on" line means it.
    Capture(Tap, Sender<()>),
    /// The capture ended: drop the tap.
    StopCapture,
    /// How full the loop's tables are (the metrics endpoint's scrape).
    Tables(Sender<crate::pipeline::TableSizes>),
}

/// Frames the pipeline emits besides the one it was handed (ARP, ICMP,
/// released packets), staged in preallocated memory until the batch ends.
struct Stage {
    data: Vec<u8>,
    items: Vec<(IfaceId, usize, usize)>,
    used: usize,
    dropped: u64,
    /// The local-node device (kernel/local_device.rs), if rvs has one.
    host: Option<RawFd>,
    /// The other loops' inboxes, for what the pipeline learns belongs to one
    /// of them only after reassembly (pipeline/frag.rs).
    handoff: Arc<Handoff>,
}

impl Stage {
    fn new(frames: usize, host: Option<RawFd>, handoff: Arc<Handoff>) -> Self {
        Stage { data: vec![0; frames * 2048], items: Vec::with_capacity(frames), used: 0, dropped: 0, host, handoff }
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

    /// One write(2) into the TUN device: the kernel takes the packet in at once.
    fn to_host(&mut self, ip_packet: &[u8]) -> bool {
        let Some(fd) = self.host else { return false };
        // SAFETY: ip_packet is valid for its length; fd stays open while the loop runs (Worker::host).
        let n = unsafe { libc::write(fd, ip_packet.as_ptr() as *const libc::c_void, ip_packet.len()) };
        n == ip_packet.len() as isize
    }

    fn to_loop(&mut self, to: usize, iface: IfaceId, frame: &[u8]) -> bool {
        to < self.handoff.loops() && self.handoff.send(to, iface, frame)
    }
}

/// Room for an Ethernet header before a packet read from the local-node device.
const ETH_ROOM: usize = 14;

/// Read one packet the host stack sent into the local-node device into `buf`
/// after [`ETH_ROOM`] bytes; its length with them, or None when there is none.
fn read_host(fd: RawFd, buf: &mut [u8]) -> Option<usize> {
    // An IPv4 ethertype, so that steering (Director::owner) reads the packet.
    buf.get_mut(12..ETH_ROOM)?.copy_from_slice(&[8, 0]);
    let room = buf.get_mut(ETH_ROOM..)?;
    // SAFETY: room is valid for its length; the fd is non-blocking.
    let n = unsafe { libc::read(fd, room.as_mut_ptr() as *mut libc::c_void, room.len()) };
    (n > 0).then_some(ETH_ROOM + n as usize)
}

/// Frames the pipeline may emit per pass (ARP, ICMP, released packets).
pub const STAGE_FRAMES: usize = 256;

pub struct Worker {
    pub id: usize,
    pub core: Option<usize>,
    pub director: Director,
    /// This loop's sockets, on one shared UMEM.
    pub shell: Shell,
    pub requests: Receiver<Request>,
    pub stop: Arc<AtomicBool>,
    pub batch: usize,
    pub handoff: Arc<Handoff>,
    /// Where this loop publishes its sockets' kernel drop counters.
    pub xsk_stats: Arc<XskStats>,
    /// Bumped once per pass: the VIP announcer's proof this loop still runs.
    pub heartbeat: Arc<super::heartbeat::Heartbeats>,
    /// The local-node device (kernel/local_device.rs): every loop writes local
    /// connections' packets into it; loop 0 reads the replies and hands each
    /// to the loop that owns its connection.
    pub host: Option<Arc<OwnedFd>>,
}

impl Worker {
    pub fn run(self) {
        let Worker { id, core, mut director, mut shell, requests, stop, batch, handoff, xsk_stats, heartbeat, host } =
            self;
        let host_fd = host.as_ref().map(|h| h.as_raw_fd());
        let reads_host = host_fd.filter(|_| id == 0);
        if let Some(fd) = reads_host {
            shell.watch(fd);
        }
        let mut host_buf = vec![0u8; super::handoff::PARCEL_BYTES];
        if let Some(c) = core {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                log::warn!("poll loop {id}: could not pin to core {c}");
            }
        }
        // The port that transmits for each interface (this loop's first on
        // its device: a VLAN's frames leave by its trunk, tagged).
        let tx_port: Vec<usize> = (director.interfaces().0.iter())
            .map(|i| shell.ports.iter().position(|p| p.iface == i.port).unwrap_or(usize::MAX))
            .collect();
        if shell.ports.is_empty() {
            return;
        }
        // consume() overwrites these; they only need to be valid descriptors.
        let mut rx = shell.rx_batch(batch);
        let mut stage = Stage::new(STAGE_FRAMES, host_fd, handoff.clone());
        let shared = director.shared().clone();
        let counters = &shared.counters;
        let mut next_xsk_read = 0u64;
        let mut pass = 0u64;
        // The running capture, if any: looked at once per port per pass, never per frame.
        let mut capture: Option<Tap> = None;
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
                    Request::Capture(mut tap, ready) => {
                        tap.bind_ports(shell.ports.iter().map(|p| p.name.as_str()));
                        capture = Some(tap);
                        let _ = ready.send(());
                    }
                    Request::StopCapture => capture = None,
                    Request::Tables(tx) => {
                        let _ = tx.send(director.table_sizes());
                    }
                }
            }
            let now = super::now_ms();
            if now >= next_xsk_read {
                next_xsk_read = now + READ_EVERY_MS;
                let mut sums: SocketStats = [0; 6];
                for stats in shell.ports.iter().filter_map(|p| read_xsk_stats(p.fd())) {
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
                let v = if iface == FROM_HOST {
                    director.from_host(now, &mut parcel.buf, &mut len, &mut stage)
                } else {
                    director.process(now, iface, &mut parcel.buf, &mut len, &mut stage)
                };
                if let Verdict::Forward(out) = v {
                    let ti = tx_port.get(out as usize).copied().unwrap_or(usize::MAX);
                    if ti < shell.ports.len() && !shell.send_copy(ti, &parcel.buf[..len]) {
                        counters.count(id, Reason::TxRingFull);
                    }
                }
                handoff.recycle(parcel);
            }
            // The local servers' replies, from the host stack.
            if let Some(fd) = reads_host {
                for _ in 0..batch {
                    let Some(mut len) = read_host(fd, &mut host_buf) else { break };
                    got += 1;
                    let v = match director.owner(&host_buf, len) {
                        Owner::Loop(to) if to != id => {
                            if !handoff.send(to, FROM_HOST, &host_buf[..len]) {
                                counters.count(id, Reason::HandoffFull);
                            }
                            Verdict::Consumed
                        }
                        _ => director.from_host(now, &mut host_buf, &mut len, &mut stage),
                    };
                    if let Verdict::Forward(out) = v {
                        let ti = tx_port.get(out as usize).copied().unwrap_or(usize::MAX);
                        if ti < shell.ports.len() && !shell.send_copy(ti, &host_buf[..len]) {
                            counters.count(id, Reason::TxRingFull);
                        }
                    }
                }
            }
            for pi in 0..shell.ports.len() {
                let n = shell.receive(pi, &mut rx);
                got += n;
                let iface = shell.ports[pi].iface;
                // As received: before the pipeline rewrites anything.
                if let Some(tap) = capture.as_mut().filter(|t| t.watches(pi)) {
                    tap.offer(rx.iter().take(n).map(|d| shell.frame(d)));
                }
                // The fast path's first pass: every frame parsed and looked up before any is rewritten.
                for (slot, desc) in rx.iter().take(n).enumerate() {
                    director.prepare(slot, iface, shell.frame(desc));
                }
                director.look_up_prepared();
                for (slot, desc) in rx.iter_mut().take(n).enumerate() {
                    let mut d = *desc;
                    let mut len = d.lengths().data();
                    let verdict = {
                        let buf = shell.frame_mut(&mut d);
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
                        // Out of whichever socket of this loop owns the interface, the
                        // same UMEM frame: no copy, whichever NIC it came in on.
                        Verdict::Forward(out) => {
                            let ti = tx_port.get(out as usize).copied().unwrap_or(usize::MAX);
                            if ti < shell.ports.len() && !shell.transmit(d, ti, len) {
                                counters.count(id, Reason::TxRingFull);
                            } else if ti >= shell.ports.len() {
                                shell.recycle(d);
                            }
                        }
                        _ => shell.recycle(d),
                    }
                }
            }
            director.tick(now, &mut stage);
            for &(iface, off, len) in &stage.items {
                let ti = tx_port.get(iface as usize).copied().unwrap_or(usize::MAX);
                if ti < shell.ports.len() && !shell.send_copy(ti, &stage.data[off..off + len]) {
                    counters.count(id, Reason::TxRingFull);
                }
            }
            stage.items.clear();
            stage.used = 0;
            // As sent: every frame each port transmits this pass, rewritten, forwarded or emitted.
            if let Some(tap) = capture.as_mut() {
                for pi in 0..shell.ports.len() {
                    if tap.watches(pi) {
                        tap.offer(shell.queued(pi));
                    }
                }
                let missed = tap.take_dropped();
                if missed > 0 {
                    counters.add(id, Reason::CaptureDropped, missed);
                }
                if tap.closed() {
                    capture = None;
                }
            }
            // A full TX ring drops frames at flush: counted as the pipeline's own drops are.
            let ring_full = shell.flush();
            if ring_full > 0 {
                counters.add(id, Reason::TxRingFull, ring_full);
            }
            shell.rest(got > 0 || director.sync_busy());
        }
        director.clear_connections();
        log::info!("poll loop {id} stopped ({}; {} emitted frames dropped at staging)", shell.summary(), stage.dropped);
    }
}
