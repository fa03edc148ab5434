//! What a poll loop does with frames, whatever decides their fate: the loop's
//! sockets on one shared UMEM, receiving in batches, transmitting a received
//! frame from any of them without a copy, flushing TX rings with their
//! wakeups, and resting in poll(2) when idle. rvs's [`super::worker`] and the
//! bench's ceiling (`examples/xsk_reflect.rs`) both move frames with it, so
//! the ceiling pays exactly what rvs pays around its pipeline.

use super::frame_pool::FramePool;
use super::port::Port;
use xsk_rs::FrameDesc;

/// Idle passes spun before the loop sleeps in poll(2).
const SPIN_PASSES: u32 = 64;
/// The longest sleep in poll(2) (ms): the loop still answers requests and stop.
const POLL_MS: libc::c_int = 20;

pub struct Shell {
    pub pool: FramePool,
    pub ports: Vec<Port>,
    /// Free frames kept out of the fill rings for frames the loop emits.
    reserve: usize,
    pollfds: Vec<libc::pollfd>,
    idle: u32,
    /// Frames dropped at transmit, all reasons (the ports say which).
    pub tx_dropped: u64,
    /// Received frames queued to transmit as they are (no copy).
    pub moved: u64,
    /// Frames copied into the UMEM to transmit (emitted, handed over).
    pub copied: u64,
}

impl Shell {
    /// `reserve`: free frames the fill rings never take, for frames the loop
    /// copies in (emitted by the pipeline, handed over by another loop).
    pub fn new(pool: FramePool, ports: Vec<Port>, reserve: usize) -> Shell {
        let pollfds = ports.iter().map(|p| libc::pollfd { fd: p.fd(), events: libc::POLLIN, revents: 0 }).collect();
        // A small UMEM (`frames = 64`) must still leave frames for the fill rings.
        let reserve = reserve.min(pool.total() / 4);
        let mut s = Shell { pool, ports, reserve, pollfds, idle: 0, tx_dropped: 0, moved: 0, copied: 0 };
        for p in s.ports.iter_mut() {
            p.refill(&mut s.pool, reserve);
        }
        s
    }

    /// A descriptor array of `n` for [`Shell::receive`].
    pub fn rx_batch(&self, n: usize) -> Vec<FrameDesc> {
        vec![self.pool.any_desc(); n.max(1)]
    }

    /// Port `pi`'s completions back, its fill ring topped up, then up to
    /// `out.len()` received frames.
    pub fn receive(&mut self, pi: usize, out: &mut [FrameDesc]) -> usize {
        let Some(p) = self.ports.get_mut(pi) else { return 0 };
        p.reclaim(&mut self.pool);
        p.refill(&mut self.pool, self.reserve);
        p.receive(out)
    }

    /// A received frame's bytes (its data length).
    pub fn frame(&self, desc: &FrameDesc) -> &[u8] {
        self.pool.frame(desc)
    }

    /// The frame's bytes (its whole capacity).
    #[allow(clippy::mut_from_ref)]
    pub fn frame_mut(&self, desc: &mut FrameDesc) -> &mut [u8] {
        self.pool.frame_mut(desc)
    }

    /// A received frame, `len` bytes long now, out of port `to` as it is (no
    /// copy: the TX descriptor is the RX frame). A `to` that is no port of
    /// this loop drops it. False when it was dropped.
    pub fn transmit(&mut self, mut desc: FrameDesc, to: usize, len: usize) -> bool {
        match self.ports.get_mut(to) {
            Some(p) => {
                self.pool.set_len(&mut desc, len);
                let ok = p.queue_tx(&mut self.pool, desc);
                self.moved += u64::from(ok);
                self.tx_dropped += u64::from(!ok);
                ok
            }
            None => {
                self.pool.give(desc);
                false
            }
        }
    }

    /// A received frame not transmitted: back to the pool.
    pub fn recycle(&mut self, desc: FrameDesc) {
        self.pool.give(desc);
    }

    /// Bytes from outside the UMEM (emitted, handed over) out of port `to`.
    pub fn send_copy(&mut self, to: usize, bytes: &[u8]) -> bool {
        let ok = match self.ports.get_mut(to) {
            Some(p) => p.send_copy(&mut self.pool, bytes),
            None => false,
        };
        self.copied += u64::from(ok);
        self.tx_dropped += u64::from(!ok);
        ok
    }

    /// The bytes of the frames port `pi` will transmit at the next flush.
    pub fn queued(&self, pi: usize) -> impl Iterator<Item = &[u8]> {
        let descs = self.ports.get(pi).map_or(&[][..], |p| p.queued());
        descs.iter().map(|d| self.pool.frame(d))
    }

    /// Every port's queued frames to its TX ring; the frames dropped because
    /// a TX ring was full.
    pub fn flush(&mut self) -> u64 {
        let mut dropped = 0;
        for p in self.ports.iter_mut() {
            dropped += p.flush(&mut self.pool);
        }
        self.tx_dropped += dropped;
        dropped
    }

    /// Frames still in a TX ring.
    pub fn tx_busy(&self) -> bool {
        self.ports.iter().any(|p| p.tx_busy())
    }

    /// After a pass: spin while there is work (`worked`, or frames still in
    /// a TX ring), then sleep in poll(2) so that an idle loop leaves the CPU to
    /// others (on veth, the kernel's receive work runs on the same cores).
    /// Wake from rest also when `fd` is readable (the local-node device).
    pub fn watch(&mut self, fd: std::os::fd::RawFd) {
        self.pollfds.push(libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
    }

    pub fn rest(&mut self, worked: bool) {
        if worked || self.tx_busy() {
            self.idle = 0;
            return;
        }
        self.idle += 1;
        if self.idle > SPIN_PASSES {
            for f in self.pollfds.iter_mut() {
                f.revents = 0;
            }
            // SAFETY: pollfds is a valid array of pollfd.
            unsafe { libc::poll(self.pollfds.as_mut_ptr(), self.pollfds.len() as libc::nfds_t, POLL_MS) };
        }
    }

    /// (frames accounted for, frames of the UMEM): free in the pool plus held
    /// by the ports. Between passes the two are equal, or a frame leaked
    /// (fewer) or was given back twice (more).
    pub fn frames_accounted(&self) -> (usize, usize) {
        (self.pool.free() + self.ports.iter().map(|p| p.held()).sum::<usize>(), self.pool.total())
    }

    /// One line for the log when the loop stops.
    pub fn summary(&self) -> String {
        let (acc, total) = self.frames_accounted();
        let (mut ring, mut frame, mut queue, mut kicks) = (0, 0, 0, 0);
        for p in &self.ports {
            kicks += p.drops.kicks;
            ring += p.drops.ring_full;
            frame += p.drops.no_frame;
            queue += p.drops.queue_full;
        }
        format!(
            "{} frames transmitted as received, {} copied in, {kicks} TX wakeups; {} dropped at transmit (TX ring full {ring}, no free frame {frame}, pass queue full {queue}); UMEM frames accounted {acc} of {total}",
            self.moved, self.copied, self.tx_dropped
        )
    }
}
