//! Least connection (ip_vs_lc.c): the lowest overhead (active * 256 +
//! inactive) among servers with weight > 0; the first one wins a tie.

use super::{conn_overhead, Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::Arc;

pub struct LeastConnection;

impl Scheduler for LeastConnection {
    fn schedule(&self, dests: &[Arc<Dest>], _: &SchedInput, _: &mut Position) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.schedulable() {
                continue;
            }
            let oh = conn_overhead(d);
            if best.is_none_or(|(_, b)| oh < b) {
                best = Some((i, oh));
            }
        }
        best.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn picks_fewest_and_first_on_tie() {
        let d = dests(&[1, 1, 1]);
        d[0].bind_conn(0);
        d[0].to_active(0);
        d[1].bind_conn(0);
        // overheads: 256, 1, 0
        assert_eq!(LeastConnection.schedule(&d, &input(0), &mut Position::default()), Some(2));
        d[2].bind_conn(0);
        assert_eq!(LeastConnection.schedule(&d, &input(0), &mut Position::default()), Some(1));
    }
}
