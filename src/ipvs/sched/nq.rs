//! Never queue (ip_vs_nq.c): the first server (in list order) with a
//! positive weight, not overloaded and no active connection takes the
//! connection at once; when every one is busy, shortest expected delay decides
//! ((activeconns + 1) / weight, cross-multiplied, the first wins a tie).

use super::sed::sed_overhead;
use super::{least_weighted, Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::Arc;

pub struct NeverQueue;

impl Scheduler for NeverQueue {
    fn schedule(&self, dests: &[Arc<Dest>], _: &SchedInput, _: &mut Position) -> Option<usize> {
        // An idle server takes it at once: no queueing at all.
        dests
            .iter()
            .position(|d| d.schedulable() && d.active_conns() == 0)
            .or_else(|| least_weighted(dests, sed_overhead))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn idle_servers_first_then_sed() {
        // Weights 3, 1, connections become active at once: both idle servers
        // are used first (the first one first), then sed:
        // after [0, 1]: rs0 2/3 vs rs1 2/1 -> 0; 3/3 vs 2 -> 0; 4/3 vs 2 -> 0;
        // 5/3 vs 2 -> 0; 6/3 vs 2 tie -> 0; 7/3 vs 2 -> 1.
        let d = dests(&[3, 1]);
        let seq: Vec<_> = (0..8)
            .map(|i| {
                let k = NeverQueue.schedule(&d, &input(i), &mut Position::default()).unwrap();
                activate(&d[k], 1);
                k
            })
            .collect();
        assert_eq!(seq, vec![0, 1, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn idle_wins_over_better_ratio() {
        let d = dests(&[100, 1, 1]);
        activate(&d[0], 1); // 2/100, far better than 1/1 ...
        activate(&d[1], 1);
        // ... but rs2 is idle, and an idle server is taken at once.
        assert_eq!(NeverQueue.schedule(&d, &input(0), &mut Position::default()), Some(2));
        activate(&d[2], 1);
        assert_eq!(NeverQueue.schedule(&d, &input(0), &mut Position::default()), Some(0));
        // Inactive connections leave a server idle.
        let d = dests(&[1, 1]);
        activate(&d[0], 1);
        d[1].bind_conn(0);
        assert_eq!(NeverQueue.schedule(&d, &input(0), &mut Position::default()), Some(1));
        assert_eq!(NeverQueue.schedule(&dests(&[0]), &input(0), &mut Position::default()), None);
    }
}
