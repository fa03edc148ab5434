//! Power of two choices (ip_vs_twos.c, Linux 6.2): two servers drawn at
//! random, each with a chance proportional to its weight, and the one with
//! the lower connection overhead per weight (ip_vs_dest_conn_overhead:
//! active connections weigh 256 inactive ones) takes the connection; the
//! first draw wins a tie. Overloaded and weight-0 servers are never drawn.
//!
//! The kernel draws `prandom_u32() % (total_weight + 1)`, so each draw lies in
//! `[0, total]` inclusive and the first server takes one value more than its
//! weight (a draw of 0 and of its weight both land on it): [`pick`] keeps that
//! exactly. The random numbers come from a generator each thread (each poll
//! loop) owns, so scheduling writes nothing shared.

use super::{conn_overhead, Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::cell::Cell;
use std::sync::Arc;

pub struct TwoChoices;

thread_local! {
    /// xorshift64* state, seeded per thread from the process's random hash keys.
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(&h as *const _ as usize);
    h.finish() | 1
}

/// The next 32 random bits of this thread's generator.
fn next_u32() -> u32 {
    RNG.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    })
}

/// A drawn server: its index, weight and connection overhead.
type Draw = (usize, u64, u64);

/// ip_vs_twos_schedule with its two random numbers given: `r1`, `r2` are the
/// raw draws, reduced here modulo the schedulable servers' total weight + 1.
pub(super) fn pick(dests: &[Arc<Dest>], r1: u32, r2: u32) -> Option<usize> {
    let total: u64 = dests.iter().filter(|d| d.schedulable()).map(|d| u64::from(d.weight())).sum();
    if total == 0 {
        return None;
    }
    let (mut rw1, mut rw2) = (i64::from(r1) % (total as i64 + 1), i64::from(r2) % (total as i64 + 1));
    let (mut choice1, mut choice2): (Option<Draw>, Option<Draw>) = (None, None);
    for (i, d) in dests.iter().enumerate() {
        if !d.schedulable() {
            continue;
        }
        let w = u64::from(d.weight());
        rw1 -= w as i64;
        rw2 -= w as i64;
        if rw1 <= 0 && choice1.is_none() {
            choice1 = Some((i, w, conn_overhead(d)));
        }
        if rw2 <= 0 && choice2.is_none() {
            choice2 = Some((i, w, conn_overhead(d)));
        }
        if choice1.is_some() && choice2.is_some() {
            break;
        }
    }
    let (c1, c2) = (choice1?, choice2?);
    // weight2 * overhead1 > weight1 * overhead2: the second has less per weight.
    Some(if c2.1 * c1.2 > c1.1 * c2.2 { c2.0 } else { c1.0 })
}

impl Scheduler for TwoChoices {
    fn schedule(&self, dests: &[Arc<Dest>], _: &SchedInput, _: &mut Position) -> Option<usize> {
        pick(dests, next_u32(), next_u32())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn each_draw_lands_on_the_server_its_weight_covers() {
        // Weights 2, 3 (total 5): draws 0..=2 land on rs0 (0 lands on the first), 3..=5 on rs1.
        let d = dests(&[2, 3]);
        for r in 0..=2 {
            assert_eq!(pick(&d, r, r), Some(0), "draw {r}");
        }
        for r in 3..=5 {
            assert_eq!(pick(&d, r, r), Some(1), "draw {r}");
        }
        // Reduced modulo total + 1 = 6.
        assert_eq!(pick(&d, 6, 6), Some(0));
        assert_eq!(pick(&d, 9, 9), Some(1));
    }

    #[test]
    fn the_lower_overhead_per_weight_wins_and_the_first_draw_a_tie() {
        let d = dests(&[1, 1]);
        // Both idle: a tie, the first draw's server.
        assert_eq!(pick(&d, 0, 2), Some(0));
        assert_eq!(pick(&d, 2, 0), Some(1));
        // rs0 has an active connection (256), rs1 two inactive ones (2): rs1 either way.
        activate(&d[0], 1);
        d[1].bind_conn(0);
        d[1].bind_conn(0);
        assert_eq!(pick(&d, 0, 2), Some(1));
        assert_eq!(pick(&d, 2, 0), Some(1));
        // Weights count: rs0 weight 4 with 1 active (256/4 = 64) beats rs1 weight 1 with
        // 100 inactive (100/1).
        let d = dests(&[4, 1]);
        activate(&d[0], 1);
        for _ in 0..100 {
            d[1].bind_conn(0);
        }
        assert_eq!(pick(&d, 5, 0), Some(0));
        assert_eq!(pick(&d, 0, 5), Some(0));
    }

    #[test]
    fn weight_zero_and_overloaded_are_never_drawn() {
        let d = dests(&[0, 3, 0]);
        for r in 0..10 {
            assert_eq!(pick(&d, r, r + 1), Some(1));
        }
        assert_eq!(pick(&dests(&[0, 0]), 1, 2), None);
        assert_eq!(pick(&[], 1, 2), None);
    }

    #[test]
    fn random_draws_follow_the_weights_and_even_out_the_load() {
        // Connections that stay active: the two choices keep the servers within a few
        // connections of their weighted share.
        let d = dests(&[1, 2, 1]);
        let mut pos = Position::default();
        for i in 0..400 {
            let k = TwoChoices.schedule(&d, &input(i), &mut pos).unwrap();
            activate(&d[k], 1);
        }
        let counts: Vec<u32> = d.iter().map(|x| x.active_conns()).collect();
        assert_eq!(counts.iter().sum::<u32>(), 400);
        for (c, want) in counts.iter().zip([100, 200, 100]) {
            assert!(c.abs_diff(want) <= 8, "{counts:?}");
        }
    }
}
