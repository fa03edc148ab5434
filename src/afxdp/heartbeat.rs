//! Poll-loop liveness: each loop bumps its own counter once per pass (at
//! least every 20 ms, idle or busy); a watcher that sees a counter stand still
//! for longer than a limit knows that loop is stuck and no longer forwards.
//! The VIP announcer withdraws on it.

use crossbeam::utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// One counter per poll loop, each written only by its loop.
pub struct Heartbeats(Vec<CachePadded<AtomicU64>>);

impl Heartbeats {
    pub fn new(loops: usize) -> Self {
        Heartbeats((0..loops).map(|_| CachePadded::new(AtomicU64::new(0))).collect())
    }

    /// Called by loop `id` once per pass: a plain store of its own line, no
    /// read-modify-write, no sharing with another writer.
    pub fn beat(&self, id: usize, pass: u64) {
        if let Some(c) = self.0.get(id) {
            c.store(pass, Relaxed);
        }
    }

    pub fn loops(&self) -> usize {
        self.0.len()
    }

    fn read(&self, id: usize) -> u64 {
        self.0.get(id).map_or(0, |c| c.load(Relaxed))
    }
}

/// The watcher's side: when each loop's counter last moved.
pub struct LoopWatch {
    seen: Vec<(u64, Instant)>,
}

impl LoopWatch {
    pub fn new(beats: &Heartbeats, now: Instant) -> Self {
        LoopWatch { seen: (0..beats.loops()).map(|i| (beats.read(i), now)).collect() }
    }

    /// Loops whose counter has not moved for more than `limit`, with how long.
    pub fn stalled(&mut self, beats: &Heartbeats, now: Instant, limit: Duration) -> Vec<(usize, Duration)> {
        let mut out = Vec::new();
        for (i, (value, since)) in self.seen.iter_mut().enumerate() {
            let v = beats.read(i);
            if v != *value {
                *value = v;
                *since = now;
            }
            let still = now.saturating_duration_since(*since);
            if still > limit {
                out.push((i, still));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stops_beating_is_stalled_after_the_limit_only() {
        let beats = Heartbeats::new(2);
        let t0 = Instant::now();
        let mut w = LoopWatch::new(&beats, t0);
        let limit = Duration::from_millis(500);
        assert!(w.stalled(&beats, t0 + Duration::from_millis(400), limit).is_empty());
        beats.beat(0, 1);
        beats.beat(1, 1);
        assert!(w.stalled(&beats, t0 + Duration::from_millis(450), limit).is_empty());
        beats.beat(0, 2);
        let s = w.stalled(&beats, t0 + Duration::from_millis(1000), limit);
        assert_eq!(s, vec![(1, Duration::from_millis(550))], "loop 1 stood still 450..1000 ms");
        beats.beat(1, 2);
        assert!(w.stalled(&beats, t0 + Duration::from_millis(1010), limit).is_empty(), "back");
    }
}
