//! One AF_XDP socket bound to one (interface, queue), on its poll loop's
//! shared UMEM ([`FramePool`]), with this (interface, queue)'s own fill and
//! completion rings.
//!
//! The port counts the frames it holds (in its fill ring, in flight in its TX
//! ring, queued to transmit): together with the pool's free frames they are
//! all of the UMEM, which the loop checks ([`Port::held`]).

use super::frame_pool::FramePool;
use super::socket_options::{is_zerocopy, set_busy_poll, BusyPoll, ZeroCopy};
use super::XdpMode;
use crate::net::IfaceId;
use std::os::unix::io::{AsRawFd, RawFd};
use xsk_rs::config::{BindFlags, Interface, LibxdpFlags, QueueSize, SocketConfig, XdpFlags};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue};

pub use super::frame_pool::MAX_RX_FRAME;

/// Frames the kernel transmits per wakeup in copy mode (TX_BATCH_SIZE).
const COPY_MODE_TX_BATCH: usize = 32;

/// How a socket is bound, besides where.
#[derive(Debug, Clone, Copy)]
pub struct BindOptions {
    pub mode: XdpMode,
    pub zerocopy: ZeroCopy,
    pub busy_poll: Option<BusyPoll>,
    /// rvs's XDP program is attached and steers frames to the socket once it
    /// is in the program's map; false: libxdp loads its default program.
    pub own_program: bool,
}

/// Why frames were not transmitted, counted per port.
#[derive(Debug, Default, Clone, Copy)]
pub struct TxDrops {
    /// The TX ring had no room at flush.
    pub ring_full: u64,
    /// TX wakeups (sendto) made: in copy mode, the kernel's transmit work.
    pub kicks: u64,
    /// No free frame to copy an emitted frame into.
    pub no_frame: u64,
    /// More frames queued in one pass than a ring holds.
    pub queue_full: u64,
}

pub struct Port {
    pub iface: IfaceId,
    pub queue: u32,
    pub name: String,
    fq: FillQueue,
    cq: CompQueue,
    tx: TxQueue,
    rx: RxQueue,
    /// Frames to hand to the TX ring at the end of the pass.
    pending: Vec<FrameDesc>,
    scratch: Vec<FrameDesc>,
    /// Frames in the fill ring or the RX ring (the kernel's, for receiving).
    in_fill: usize,
    /// Frames handed to the TX ring and not yet completed.
    in_flight: usize,
    pub drops: TxDrops,
    /// Native or Generic: what the socket really bound in (Auto tries both).
    mode: XdpMode,
    zerocopy: bool,
}

fn flags_for(mode: XdpMode) -> XdpFlags {
    match mode {
        XdpMode::Native => XdpFlags::XDP_FLAGS_DRV_MODE,
        XdpMode::Generic | XdpMode::Auto => XdpFlags::XDP_FLAGS_SKB_MODE,
    }
}

fn mode_name(mode: XdpMode) -> &'static str {
    match mode {
        XdpMode::Native => "native",
        XdpMode::Generic => "generic",
        XdpMode::Auto => "auto",
    }
}

fn is_busy(e: &str) -> bool {
    e.contains("busy") || e.contains("EBUSY") || e.contains("os error 16")
}

impl Port {
    /// [`Port::bind`], and says so in rvs's log.
    pub fn open(iface: IfaceId, name: &str, queue: u32, opts: BindOptions, pool: &FramePool) -> Result<Port, String> {
        // libxdp's messages of a bind that worked in the end (a mode tried first) are debug.
        let p = crate::logging::libbpf::quiet_unless_failed(|| Port::bind(iface, name, queue, opts, pool))?;
        let mut line = format!(
            "{name} queue {queue}: AF_XDP socket bound ({} mode, {}, shared UMEM of {} frames)",
            mode_name(p.mode),
            if p.zerocopy { "zero-copy" } else { "copy" },
            pool.total()
        );
        if opts.zerocopy == ZeroCopy::Try && !p.zerocopy {
            line.push_str(" (zero-copy refused by the driver: copy mode)");
        }
        if let Some(bp) = opts.busy_poll {
            let got = set_busy_poll(p.fd(), bp).map_err(|e| format!("{name} queue {queue}: {e}"))?;
            let budget = match got.budget {
                Some(b) => b.to_string(),
                None => format!("{} (set; the kernel has no getsockopt for it)", bp.budget),
            };
            line.push_str(&format!("; busy poll read back: prefer {} usec {} budget {budget}", got.prefer, got.usec));
        }
        log::info!(interface = name, queue = queue; "{line}");
        Ok(p)
    }

    /// Binds a socket on the pool's UMEM: the first on this (interface,
    /// queue) gets the fill and completion rings of the pair.
    pub fn bind(iface: IfaceId, name: &str, queue: u32, opts: BindOptions, pool: &FramePool) -> Result<Port, String> {
        let ring = QueueSize::new(pool.ring()).map_err(|e| format!("{name}: ring size: {e}"))?;
        let ifname: Interface = name.parse().map_err(|_| format!("{name}: bad interface name"))?;
        // Auto tries the driver's native XDP first, then generic.
        let modes: &[XdpMode] = match opts.mode {
            XdpMode::Auto => &[XdpMode::Native, XdpMode::Generic],
            XdpMode::Native => &[XdpMode::Native],
            XdpMode::Generic => &[XdpMode::Generic],
        };
        // Try: zero-copy asked first, copy if the driver says no.
        let copies: &[BindFlags] = match opts.zerocopy {
            ZeroCopy::Kernel => &[BindFlags::empty()],
            ZeroCopy::Try => &[BindFlags::XDP_ZEROCOPY, BindFlags::XDP_COPY],
            ZeroCopy::Off => &[BindFlags::XDP_COPY],
        };
        let mut last_err = String::new();
        for &m in modes {
            for &copy in copies {
                let mut builder = SocketConfig::builder();
                if opts.own_program {
                    builder.libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD);
                }
                let cfg = builder
                    .rx_queue_size(ring)
                    .tx_queue_size(ring)
                    .xdp_flags(flags_for(m))
                    .bind_flags(BindFlags::XDP_USE_NEED_WAKEUP | copy)
                    .build();
                // Rebinding right after a previous owner closed can say EBUSY for a moment.
                for attempt in 0..20 {
                    // SAFETY: every (device, queue) is bound once per UMEM, so each
                    // socket gets its pair's fill and completion rings.
                    match unsafe { Socket::new(cfg, pool.umem(), &ifname, queue) } {
                        Ok((tx, rx, Some((fq, cq)))) => {
                            let zerocopy = is_zerocopy(rx.fd().as_raw_fd());
                            return Ok(Port {
                                iface,
                                queue,
                                name: name.to_string(),
                                fq,
                                cq,
                                tx,
                                rx,
                                pending: Vec::with_capacity(pool.ring() as usize),
                                scratch: vec![pool.any_desc(); 64],
                                in_fill: 0,
                                in_flight: 0,
                                drops: TxDrops::default(),
                                mode: m,
                                zerocopy,
                            });
                        }
                        Ok(_) => {
                            return Err(format!("{name} queue {queue}: socket came without fill/completion rings"))
                        }
                        Err(e) => {
                            last_err = match std::error::Error::source(&e) {
                                Some(s) => format!("{e}: {s}"),
                                None => e.to_string(),
                            };
                            if is_busy(&last_err) {
                                std::thread::sleep(std::time::Duration::from_millis(100 + 50 * attempt));
                                continue;
                            }
                            break;
                        }
                    }
                }
            }
        }
        Err(format!("{name} queue {queue}: cannot bind AF_XDP socket: {last_err}"))
    }

    /// The mode the socket bound in: "native" or "generic", never "auto".
    pub fn mode_name(&self) -> &'static str {
        mode_name(self.mode)
    }

    /// Did the driver take zero-copy?
    pub fn zerocopy(&self) -> bool {
        self.zerocopy
    }

    pub fn fd(&self) -> RawFd {
        self.rx.fd().as_raw_fd()
    }

    /// Frames of the UMEM this port holds: fill and RX rings, TX ring, queued.
    pub fn held(&self) -> usize {
        self.in_fill + self.in_flight + self.pending.len()
    }

    /// Completed transmissions give their frames back to the pool.
    pub fn reclaim(&mut self, pool: &mut FramePool) {
        while self.in_flight > 0 {
            // SAFETY: the completion ring returns frames of the pool's UMEM.
            let n = unsafe { self.cq.consume(&mut self.scratch) };
            pool.give_all(&self.scratch[..n]);
            self.in_flight -= n.min(self.in_flight);
            if n < self.scratch.len() {
                break;
            }
        }
    }

    /// Keep the fill ring stocked from the pool, leaving `keep` frames free
    /// for frames the loop emits itself (ARP, ICMP, handed-off frames).
    pub fn refill(&mut self, pool: &mut FramePool, keep: usize) {
        let spare = pool.free().saturating_sub(keep);
        if spare == 0 {
            return;
        }
        let want = spare.min(self.fq.nb_free(spare as u32) as usize);
        if want == 0 {
            return;
        }
        // SAFETY: these frames belong to the pool's UMEM and are in no ring.
        let n = unsafe { self.fq.produce(pool.tail(want)) };
        pool.taken(n);
        self.in_fill += n;
        if self.fq.needs_wakeup() {
            let fd = self.rx.fd_mut();
            let _ = self.fq.wakeup(fd, 0);
        }
    }

    /// Take up to `out.len()` received frames.
    pub fn receive(&mut self, out: &mut [FrameDesc]) -> usize {
        // SAFETY: frames produced by this port's rings belong to the pool's UMEM.
        let n = unsafe { self.rx.consume(out) };
        self.in_fill -= n.min(self.in_fill);
        n
    }

    /// Queue a frame of the pool (received on any port of the loop) for
    /// transmission here, as it is; false (frame back to the pool) when more
    /// were queued this pass than the TX ring holds.
    pub fn queue_tx(&mut self, pool: &mut FramePool, desc: FrameDesc) -> bool {
        if self.pending.len() == self.pending.capacity() {
            self.drops.queue_full += 1;
            pool.give(desc);
            return false;
        }
        self.pending.push(desc);
        true
    }

    /// Copy bytes into a free frame and queue it. False when out of frames.
    pub fn send_copy(&mut self, pool: &mut FramePool, bytes: &[u8]) -> bool {
        if pool.free() == 0 {
            // Completions may be waiting: take them back before giving up.
            self.reclaim(pool);
        }
        let Some(mut desc) = pool.take() else {
            self.drops.no_frame += 1;
            return false;
        };
        let buf = pool.frame_mut(&mut desc);
        if bytes.len() > buf.len() {
            pool.give(desc);
            self.drops.no_frame += 1;
            return false;
        }
        buf[..bytes.len()].copy_from_slice(bytes);
        pool.set_len(&mut desc, bytes.len());
        self.queue_tx(pool, desc)
    }

    /// The frames queued this pass, not yet handed to the TX ring.
    pub fn queued(&self) -> &[FrameDesc] {
        &self.pending
    }

    /// Are frames still waiting in the TX ring?
    pub fn tx_busy(&self) -> bool {
        self.in_flight > 0
    }

    /// Hand queued frames to the kernel, and kick it while any are still in
    /// the ring: in copy mode each wakeup sends at most a small batch (32),
    /// so a burst needs several, even when no new frame arrives. Returns the
    /// frames dropped because the TX ring was full (back in the pool).
    pub fn flush(&mut self, pool: &mut FramePool) -> u64 {
        let mut queued = 0;
        let mut dropped = 0;
        if !self.pending.is_empty() {
            // libxdp reserves all or nothing: ask for no more than the ring has room for, so a
            // ring with room for part of the pass sends that part and drops only the rest.
            let room = (self.tx.nb_free(self.pending.len() as u32) as usize).min(self.pending.len());
            // SAFETY: pending frames belong to the pool's UMEM and are in no ring.
            let n = unsafe { self.tx.produce(&self.pending[..room]) };
            self.in_flight += n;
            queued = n;
            if n < self.pending.len() {
                dropped = (self.pending.len() - n) as u64;
                self.drops.ring_full += dropped;
                pool.give_all(&self.pending[n..]);
            }
            self.pending.clear();
        }
        if self.in_flight > 0 && self.tx.needs_wakeup() {
            // Copy mode sends at most 32 frames per wakeup: one kick per 32
            // frames queued keeps the ring from filling (still a syscall per
            // 32 packets, never per packet).
            for _ in 0..queued / COPY_MODE_TX_BATCH + 1 {
                let _ = self.tx.wakeup();
                self.drops.kicks += 1;
            }
        }
        dropped
    }
}
