//! Round robin (ip_vs_rr.c): the next schedulable server after the last one
//! chosen, skipping weight-0 and overloaded servers.

use super::{SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct RoundRobin {
    /// Index of the last server chosen; usize::MAX before the first.
    last: AtomicUsize,
}

impl Default for RoundRobin {
    fn default() -> Self {
        RoundRobin { last: AtomicUsize::new(usize::MAX) }
    }
}

impl Scheduler for RoundRobin {
    fn schedule(&self, dests: &[Arc<Dest>], _: &SchedInput) -> Option<usize> {
        let n = dests.len();
        if n == 0 {
            return None;
        }
        loop {
            let last = self.last.load(Ordering::Acquire);
            let start = if last == usize::MAX { 0 } else { (last + 1) % n };
            let pick = (0..n).map(|k| (start + k) % n).find(|&i| dests[i].schedulable())?;
            // A compare-exchange keeps the rotation exact when loops race.
            if self.last.compare_exchange(last, pick, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return Some(pick);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn rotates_and_skips_weight_zero() {
        let d = dests(&[1, 0, 5]);
        let s = RoundRobin::default();
        let seq: Vec<_> = sequence(&s, &d, 5).into_iter().map(|x| x.unwrap()).collect();
        assert_eq!(seq, vec![0, 2, 0, 2, 0]);
        assert_eq!(s.schedule(&dests(&[0, 0]), &input(1)), None);
    }
}
