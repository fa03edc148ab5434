//! Round robin (ip_vs_rr.c): the next schedulable server after the last one
//! chosen, skipping weight-0 and overloaded servers.
//!
//! The rotation's position belongs to the poll loop that schedules (a
//! [`Position`]), so choosing a server writes no memory another loop shares.
//! IPVS keeps one position per service for all CPUs; one per loop gives each
//! server the same share over time, and with one loop the same sequence.

use super::{Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::Arc;

#[derive(Default)]
pub struct RoundRobin;

impl Scheduler for RoundRobin {
    fn schedule(&self, dests: &[Arc<Dest>], _: &SchedInput, pos: &mut Position) -> Option<usize> {
        let n = dests.len();
        // The server after the last one, wrapping round (a division only
        // for a position past the end).
        let mut i = pos.last.map_or(0, |last| last.wrapping_add(1));
        if i >= n {
            if n == 0 {
                return None;
            }
            i %= n;
        }
        for _ in 0..n {
            if dests.get(i).is_some_and(|d| d.schedulable()) {
                pos.last = Some(i);
                return Some(i);
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn rotates_and_skips_weight_zero() {
        let d = dests(&[1, 0, 5]);
        let s = RoundRobin;
        let seq: Vec<_> = sequence(&s, &d, 5).into_iter().map(|x| x.unwrap()).collect();
        assert_eq!(seq, vec![0, 2, 0, 2, 0]);
        assert_eq!(s.schedule(&dests(&[0, 0]), &input(1), &mut Position::default()), None);
    }

    #[test]
    fn each_loop_rotates_on_its_own_from_the_head() {
        let d = dests(&[1, 1, 1]);
        let mut loops = [Position::default(), Position::default()];
        let seq: Vec<_> =
            [0, 1, 0, 0, 1].iter().map(|&l| RoundRobin.schedule(&d, &input(0), &mut loops[l]).unwrap()).collect();
        // Each loop starts at the head of the list, where IPVS starts: one client (one loop)
        // sees the kernel's sequence.
        assert_eq!(seq, vec![0, 0, 1, 2, 1]);
    }
}
