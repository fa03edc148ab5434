//! Weighted least connection (ip_vs_wlc.c), rvs's and ipvsadm's default:
//! the lowest overhead / weight, compared by cross-multiplication as the
//! kernel does; the first one wins a tie.

use super::{conn_overhead, least_weighted, Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::Arc;

pub struct WeightedLeastConnection;

impl Scheduler for WeightedLeastConnection {
    fn schedule(&self, dests: &[Arc<Dest>], _: &SchedInput, _: &mut Position) -> Option<usize> {
        least_weighted(dests, conn_overhead)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn weight_scales_the_count() {
        let d = dests(&[3, 1]);
        // Fresh: tie at 0 -> first. Bind as new connections would.
        let seq: Vec<_> = sequence(&WeightedLeastConnection, &d, 8).into_iter().map(|x| x.unwrap()).collect();
        // Inactive conns count 1 each: rs0 takes 3 for each of rs1's.
        assert_eq!(seq.iter().filter(|&&i| i == 0).count(), 6);
        assert_eq!(seq, vec![0, 1, 0, 0, 0, 1, 0, 0]);
    }
}
