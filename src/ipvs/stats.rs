//! Per-worker counters and IPVS's rate estimator.
//!
//! Each poll loop writes only its own cache line (a load and a store, no
//! locked instruction); readers sum the lines. Zeroing (`-Z`) moves a baseline
//! instead of writing the workers' lines, so it never races with them.

use crate::api::{RateSnapshot, StatsSnapshot};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Upper bound on poll loops; counters are laid out for this many.
pub const MAX_WORKERS: usize = 16;

#[repr(align(64))]
#[derive(Default)]
struct Line {
    conns: AtomicU64,
    inpkts: AtomicU64,
    outpkts: AtomicU64,
    inbytes: AtomicU64,
    outbytes: AtomicU64,
}

#[inline]
fn bump(c: &AtomicU64, by: u64) {
    c.store(c.load(Relaxed).wrapping_add(by), Relaxed);
}

#[derive(Default)]
pub struct Counters {
    lines: [Line; MAX_WORKERS],
    baseline: Mutex<StatsSnapshot>,
    estimator: Mutex<Estimator>,
}

impl Counters {
    /// Loop `worker`'s line (below MAX_WORKERS, which the configuration
    /// enforces; the mask costs less than a bounds check, as dest.rs's rows).
    #[inline(always)]
    fn line(&self, worker: usize) -> &Line {
        &self.lines[worker % MAX_WORKERS]
    }

    #[inline]
    pub fn conn(&self, worker: usize) {
        bump(&self.line(worker).conns, 1);
    }
    #[inline]
    pub fn inbound(&self, worker: usize, bytes: usize) {
        let l = self.line(worker);
        bump(&l.inpkts, 1);
        bump(&l.inbytes, bytes as u64);
    }
    #[inline]
    pub fn outbound(&self, worker: usize, bytes: usize) {
        let l = self.line(worker);
        bump(&l.outpkts, 1);
        bump(&l.outbytes, bytes as u64);
    }

    /// Add a loop's [`Tally`] to its line (one load and store per field, once per batch).
    #[inline]
    pub fn add(&self, worker: usize, t: &Tally) {
        let l = self.line(worker);
        bump(&l.inpkts, t.inpkts);
        bump(&l.inbytes, t.inbytes);
        bump(&l.outpkts, t.outpkts);
        bump(&l.outbytes, t.outbytes);
    }

    fn raw(&self) -> StatsSnapshot {
        let mut s = StatsSnapshot::default();
        for l in &self.lines {
            s.conns += l.conns.load(Relaxed);
            s.inpkts += l.inpkts.load(Relaxed);
            s.outpkts += l.outpkts.load(Relaxed);
            s.inbytes += l.inbytes.load(Relaxed);
            s.outbytes += l.outbytes.load(Relaxed);
        }
        s
    }

    /// Each of the first `loops` loops' own counts, raw (a `-Z` moves only the baseline), as
    /// the kernel's per-CPU counters in /proc/net/ip_vs_stats_percpu.
    pub fn per_loop(&self, loops: usize) -> impl Iterator<Item = StatsSnapshot> + '_ {
        self.lines.iter().take(loops.min(MAX_WORKERS)).map(|l| StatsSnapshot {
            conns: l.conns.load(Relaxed),
            inpkts: l.inpkts.load(Relaxed),
            outpkts: l.outpkts.load(Relaxed),
            inbytes: l.inbytes.load(Relaxed),
            outbytes: l.outbytes.load(Relaxed),
        })
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let r = self.raw();
        let b = *self.baseline.lock().unwrap_or_else(|e| e.into_inner());
        StatsSnapshot {
            conns: r.conns.wrapping_sub(b.conns),
            inpkts: r.inpkts.wrapping_sub(b.inpkts),
            outpkts: r.outpkts.wrapping_sub(b.outpkts),
            inbytes: r.inbytes.wrapping_sub(b.inbytes),
            outbytes: r.outbytes.wrapping_sub(b.outbytes),
        }
    }

    /// `-Z`: counters and rates start again from zero.
    pub fn zero(&self) {
        *self.baseline.lock().unwrap_or_else(|e| e.into_inner()) = self.raw();
        let mut e = self.estimator.lock().unwrap_or_else(|e| e.into_inner());
        *e = Estimator::default();
        e.prime(&self.raw());
    }

    /// Called every 2 seconds by the control thread, as IPVS's estimator timer.
    pub fn estimate(&self) {
        let raw = self.raw();
        self.estimator.lock().unwrap_or_else(|e| e.into_inner()).update(&raw);
    }

    pub fn rate(&self) -> RateSnapshot {
        self.estimator.lock().unwrap_or_else(|e| e.into_inner()).read()
    }
}

/// Traffic a poll loop counted for one real server (and its service) in
/// plain integers, added to their [`Counters`] when the loop flushes: a
/// packet then costs two additions in memory the loop already has in cache,
/// not four read-modify-writes behind two `Arc`s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub inpkts: u64,
    pub inbytes: u64,
    pub outpkts: u64,
    pub outbytes: u64,
}

impl Tally {
    #[inline(always)]
    pub fn inbound(&mut self, bytes: usize) {
        self.inpkts += 1;
        self.inbytes += bytes as u64;
    }

    #[inline(always)]
    pub fn outbound(&mut self, bytes: usize) {
        self.outpkts += 1;
        self.outbytes += bytes as u64;
    }
}

/// ip_vs_est.c: sampled every 2 s, scaled fixed point, EWMA with weight 1/4.
#[derive(Default)]
struct Estimator {
    primed: bool,
    last: StatsSnapshot,
    cps: i64,
    inpps: i64,
    outpps: i64,
    inbps: i64,
    outbps: i64,
}

impl Estimator {
    fn prime(&mut self, s: &StatsSnapshot) {
        self.last = *s;
        self.primed = true;
    }

    fn update(&mut self, s: &StatsSnapshot) {
        if !self.primed {
            self.prime(s);
            return;
        }
        let step = |avg: &mut i64, now: u64, last: u64, shift: u32| {
            let rate = (now.wrapping_sub(last) as i64) << shift;
            *avg += (rate - *avg) >> 2;
        };
        step(&mut self.cps, s.conns, self.last.conns, 9);
        step(&mut self.inpps, s.inpkts, self.last.inpkts, 9);
        step(&mut self.outpps, s.outpkts, self.last.outpkts, 9);
        step(&mut self.inbps, s.inbytes, self.last.inbytes, 4);
        step(&mut self.outbps, s.outbytes, self.last.outbytes, 4);
        self.last = *s;
    }

    fn read(&self) -> RateSnapshot {
        let pkt = |v: i64| ((v.max(0) + 0x1ff) >> 10) as u64;
        let byt = |v: i64| ((v.max(0) + 0xf) >> 5) as u64;
        RateSnapshot {
            cps: pkt(self.cps),
            inpps: pkt(self.inpps),
            outpps: pkt(self.outpps),
            inbps: byt(self.inbps),
            outbps: byt(self.outbps),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_keeps_workers_untouched() {
        let c = Counters::default();
        c.inbound(0, 100);
        c.inbound(3, 50);
        c.conn(1);
        assert_eq!(c.snapshot().inpkts, 2);
        assert_eq!(c.snapshot().inbytes, 150);
        c.zero();
        assert_eq!(c.snapshot(), StatsSnapshot::default());
        c.outbound(0, 10);
        assert_eq!(c.snapshot().outbytes, 10);
    }

    #[test]
    fn a_tally_adds_what_the_per_packet_calls_add() {
        let (a, b) = (Counters::default(), Counters::default());
        let mut t = Tally::default();
        for (n, bytes) in [(0usize, 60usize), (1, 1500), (2, 40)] {
            if n % 2 == 0 {
                a.inbound(2, bytes);
                t.inbound(bytes);
            } else {
                a.outbound(2, bytes);
                t.outbound(bytes);
            }
        }
        b.add(2, &t);
        assert_eq!(a.snapshot(), b.snapshot());
        assert_eq!(b.snapshot().inbytes, 100);
    }

    #[test]
    fn estimator_converges_to_rate() {
        let c = Counters::default();
        c.estimate();
        for _ in 0..40 {
            for _ in 0..200 {
                c.inbound(0, 100); // 200 packets per 2 s = 100 pps, 10000 Bps
            }
            c.estimate();
        }
        let r = c.rate();
        assert_eq!(r.inpps, 100);
        assert_eq!(r.inbps, 10000);
    }
}
