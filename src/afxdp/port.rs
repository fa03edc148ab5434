//! One AF_XDP socket bound to one (interface, queue), with its own UMEM.
//!
//! A UMEM per socket sidesteps shared-UMEM trouble on multi-queue veth
//! (xsk-rs issue #20) and costs a copy only when a frame changes interface,
//! which in copy mode (all that veth offers) the kernel does anyway.

use super::XdpMode;
use crate::net::IfaceId;
use std::num::NonZeroU32;
use std::os::unix::io::{AsRawFd, RawFd};
use xsk_rs::config::{BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig, XdpFlags};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

const FRAME_SIZE: u32 = 4096;
/// What the kernel keeps in front of every received frame (XDP_PACKET_HEADROOM;
/// our UMEM adds no headroom of its own).
const XDP_PACKET_HEADROOM: u32 = 256;
/// The largest frame a socket receives: a longer one the kernel drops (and
/// counts in XDP_STATISTICS rx_dropped), as long as rvs has no multi-buffer mode.
pub const MAX_RX_FRAME: usize = (FRAME_SIZE - XDP_PACKET_HEADROOM) as usize;
/// Frames the kernel transmits per wakeup in copy mode (TX_BATCH_SIZE).
const COPY_MODE_TX_BATCH: usize = 32;

pub struct Port {
    pub iface: IfaceId,
    pub queue: u32,
    pub name: String,
    umem: Umem,
    fq: FillQueue,
    cq: CompQueue,
    tx: TxQueue,
    rx: RxQueue,
    /// Frames owned by user space and in no ring.
    free: Vec<FrameDesc>,
    /// Frames to hand to the TX ring at the end of the batch.
    pending: Vec<FrameDesc>,
    scratch: Vec<FrameDesc>,
    /// Frames kept out of the fill ring so this port can always transmit.
    reserve: usize,
    pub tx_dropped: u64,
    /// Frames handed to the TX ring and not yet completed.
    in_flight: usize,
    /// Native or Generic: what the socket really bound in (Auto tries both).
    mode: XdpMode,
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

impl Port {
    /// [`Port::bind`], and says so in rvs's log.
    pub fn open(
        iface: IfaceId,
        name: &str,
        queue: u32,
        mode: XdpMode,
        frames: u32,
        batch: usize,
        own_program: bool,
    ) -> Result<Port, String> {
        let p = Port::bind(iface, name, queue, mode, frames, batch, own_program)?;
        eprintln!("rvs: {name} queue {queue}: AF_XDP socket bound ({} mode)", mode_name(p.mode));
        Ok(p)
    }

    /// With `own_program`, rvs's XDP program is already attached and steers
    /// frames to this socket once it is registered in the program's map;
    /// otherwise libxdp loads its default program (every frame to the socket).
    pub fn bind(
        iface: IfaceId,
        name: &str,
        queue: u32,
        mode: XdpMode,
        frames: u32,
        batch: usize,
        own_program: bool,
    ) -> Result<Port, String> {
        let ring = QueueSize::new(frames / 2).map_err(|e| format!("{name}: ring size: {e}"))?;
        let umem_cfg = UmemConfig::builder()
            .frame_size(FrameSize::new(FRAME_SIZE).map_err(|e| e.to_string())?)
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(|e| format!("{name}: UMEM config: {e}"))?;
        let ifname: Interface = name.parse().map_err(|_| format!("{name}: bad interface name"))?;
        let count = NonZeroU32::new(frames).ok_or("frames must be > 0")?;
        let (umem, descs) = Umem::new(umem_cfg, count, false).map_err(|e| format!("{name}: UMEM: {e}"))?;
        // Auto tries the driver's native XDP first, then generic.
        let modes: &[XdpMode] = match mode {
            XdpMode::Auto => &[XdpMode::Native, XdpMode::Generic],
            XdpMode::Native => &[XdpMode::Native],
            XdpMode::Generic => &[XdpMode::Generic],
        };
        let mut last_err = String::new();
        for &m in modes {
            let mut builder = SocketConfig::builder();
            if own_program {
                builder.libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD);
            }
            let cfg = builder
                .rx_queue_size(ring)
                .tx_queue_size(ring)
                .xdp_flags(flags_for(m))
                .bind_flags(BindFlags::XDP_USE_NEED_WAKEUP)
                .build();
            // Rebinding right after a previous owner closed can say EBUSY for a moment.
            for attempt in 0..20 {
                // SAFETY: the UMEM is fresh and bound once to this (device, queue).
                match unsafe { Socket::new(cfg, &umem, &ifname, queue) } {
                    Ok((tx, rx, Some((fq, cq)))) => {
                        let mut p = Port {
                            iface,
                            queue,
                            name: name.to_string(),
                            umem,
                            fq,
                            cq,
                            tx,
                            rx,
                            scratch: vec![descs[0]; batch.max(1)],
                            free: descs,
                            pending: Vec::with_capacity(frames as usize),
                            // A director forwards between interfaces: as many frames wait to be
                            // sent as to be filled, so half of them stay out of the fill ring.
                            reserve: (frames as usize / 2).max(batch * 2),
                            tx_dropped: 0,
                            in_flight: 0,
                            mode: m,
                        };
                        p.refill();
                        return Ok(p);
                    }
                    Ok(_) => return Err(format!("{name} queue {queue}: socket came without fill/completion rings")),
                    Err(e) => {
                        last_err = e.to_string();
                        if last_err.contains("busy") || last_err.contains("EBUSY") || last_err.contains("os error 16") {
                            std::thread::sleep(std::time::Duration::from_millis(100 + 50 * attempt));
                            continue;
                        }
                        break;
                    }
                }
            }
        }
        Err(format!("{name} queue {queue}: cannot bind AF_XDP socket: {last_err}"))
    }

    /// A valid descriptor of this UMEM, to initialise descriptor arrays.
    pub fn any_desc(&self) -> FrameDesc {
        self.scratch[0]
    }

    /// The mode the socket bound in: "native" or "generic", never "auto".
    pub fn mode_name(&self) -> &'static str {
        mode_name(self.mode)
    }

    pub fn fd(&self) -> RawFd {
        self.rx.fd().as_raw_fd()
    }

    /// Completed transmissions give their frames back.
    pub fn reclaim(&mut self) {
        loop {
            // SAFETY: the completion ring returns frames of this port's UMEM.
            let n = unsafe { self.cq.consume(&mut self.scratch) };
            self.free.extend_from_slice(&self.scratch[..n]);
            self.in_flight = self.in_flight.saturating_sub(n);
            if n < self.scratch.len() {
                break;
            }
        }
    }

    /// Keep the fill ring stocked, holding back a reserve for transmit.
    pub fn refill(&mut self) {
        self.refill_keeping(self.reserve);
    }

    /// Keep the fill ring stocked, holding back `keep` free frames: a port that
    /// only receives (or transmits in place) needs fewer than a director's reserve.
    pub fn refill_keeping(&mut self, keep: usize) {
        if self.free.len() <= keep {
            return;
        }
        let want = (self.free.len() - keep).min(self.fq.nb_free(self.free.len() as u32) as usize);
        if want == 0 {
            return;
        }
        let start = self.free.len() - want;
        // SAFETY: these frames belong to this UMEM and are in no ring.
        let n = unsafe { self.fq.produce(&self.free[start..]) };
        self.free.truncate(self.free.len() - n);
        if self.fq.needs_wakeup() {
            let fd = self.rx.fd_mut();
            let _ = self.fq.wakeup(fd, 0);
        }
    }

    /// Take up to `out.len()` received frames.
    pub fn receive(&mut self, out: &mut [FrameDesc]) -> usize {
        // SAFETY: frames produced by this port's rings belong to its UMEM.
        unsafe { self.rx.consume(out) }
    }

    /// The whole data segment of a frame (its capacity) and the frame's length.
    /// The caller writes the new length back with [`Port::set_len`].
    pub fn frame_mut<'a>(&'a self, desc: &'a mut FrameDesc) -> &'a mut [u8] {
        // SAFETY: desc is one of this UMEM's frames, owned by user space now.
        let mut d = unsafe { self.umem.data_mut(desc) };
        d.cursor().set_pos(usize::MAX);
        let buf = d.contents_mut();
        // SAFETY: the slice points into the UMEM mapping, which lives as long
        // as self; DataMut only tied it to the descriptor borrow.
        unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr(), buf.len()) }
    }

    pub fn set_len(&self, desc: &mut FrameDesc, len: usize) {
        // SAFETY: as in frame_mut.
        let mut d = unsafe { self.umem.data_mut(desc) };
        d.cursor().set_pos(len);
    }

    pub fn frame(&self, desc: &FrameDesc) -> &[u8] {
        // SAFETY: desc is one of this UMEM's frames.
        unsafe { self.umem.data(desc) }.contents()
    }

    /// Queue a received frame for transmission on this port, as it is.
    pub fn queue_tx(&mut self, desc: FrameDesc) {
        self.pending.push(desc);
    }

    /// Copy bytes into a free frame and queue it. False when out of frames.
    pub fn send_copy(&mut self, bytes: &[u8]) -> bool {
        if self.free.is_empty() {
            // Completions may be waiting: take them back before giving up.
            self.reclaim();
        }
        let Some(mut desc) = self.free.pop() else {
            self.tx_dropped += 1;
            return false;
        };
        let buf = self.frame_mut(&mut desc);
        if bytes.len() > buf.len() {
            self.free.push(desc);
            self.tx_dropped += 1;
            return false;
        }
        buf[..bytes.len()].copy_from_slice(bytes);
        self.set_len(&mut desc, bytes.len());
        self.pending.push(desc);
        true
    }

    pub fn recycle(&mut self, desc: FrameDesc) {
        self.free.push(desc);
    }

    /// Are frames still waiting in the TX ring?
    pub fn tx_busy(&self) -> bool {
        self.in_flight > 0
    }

    /// Hand queued frames to the kernel, and kick it while any are still in
    /// the ring: in copy mode each wakeup sends at most a small batch (32),
    /// so a burst needs several, even when no new frame arrives.
    pub fn flush(&mut self) {
        let mut queued = 0;
        if !self.pending.is_empty() {
            // SAFETY: pending frames belong to this UMEM and are in no ring.
            let n = unsafe { self.tx.produce(&self.pending) };
            self.in_flight += n;
            queued = n;
            if n < self.pending.len() {
                // TX ring full: those frames are dropped, counted, and reused.
                self.tx_dropped += (self.pending.len() - n) as u64;
                for i in n..self.pending.len() {
                    let d = self.pending[i];
                    self.free.push(d);
                }
            }
            self.pending.clear();
        }
        if self.in_flight > 0 && self.tx.needs_wakeup() {
            // Copy mode sends at most 32 frames per wakeup: one kick per 32
            // frames queued keeps the ring from filling (still a syscall per
            // 32 packets, never per packet).
            for _ in 0..queued / COPY_MODE_TX_BATCH + 1 {
                let _ = self.tx.wakeup();
            }
        }
    }
}
