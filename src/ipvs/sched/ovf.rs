//! Overflow connection (ip_vs_ovf.c): the server with the highest weight
//! among those with weight > 0, not overloaded and with no more active
//! connections than its weight (the kernel skips `activeconns > weight`, so
//! a server at exactly its weight still qualifies); the first one in list
//! order wins a tie. Only active connections count.

use super::{Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::Arc;

pub struct Overflow;

impl Scheduler for Overflow {
    fn schedule(&self, dests: &[Arc<Dest>], _: &SchedInput, _: &mut Position) -> Option<usize> {
        let (mut best, mut hw) = (None, 0u32);
        for (i, d) in dests.iter().enumerate() {
            let w = d.weight();
            if d.is_overloaded() || d.active_conns() > w || w == 0 {
                continue;
            }
            if best.is_none() || w > hw {
                best = Some(i);
                hw = w;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn overflows_by_active_count() {
        // Weights 1, 3, 2, 3; every connection becomes active at once.
        // rs1 (first of the 3s) holds while active <= 3: four connections,
        // then rs3 four, then rs2 three, then rs0 two, then nothing.
        let d = dests(&[1, 3, 2, 3]);
        let seq: Vec<_> = (0..14)
            .map(|i| {
                let k = Overflow.schedule(&d, &input(i), &mut Position::default());
                if let Some(k) = k {
                    d[k].bind_conn(0);
                    d[k].to_active(0);
                }
                k
            })
            .collect();
        let mut want: Vec<Option<usize>> = [1, 1, 1, 1, 3, 3, 3, 3, 2, 2, 2, 0, 0].iter().map(|&k| Some(k)).collect();
        want.push(None);
        assert_eq!(seq, want);
    }

    #[test]
    fn inactive_ignored_and_weight_zero_skipped() {
        let d = dests(&[0, 1]);
        for _ in 0..5 {
            d[1].bind_conn(0); // inactive: does not count
        }
        assert_eq!(Overflow.schedule(&d, &input(0), &mut Position::default()), Some(1));
        assert_eq!(Overflow.schedule(&dests(&[0]), &input(0), &mut Position::default()), None);
    }
}
