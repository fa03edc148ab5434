//! Weighted round robin (ip_vs_wrr.c): the classic interleaving. The current
//! weight `cw` starts at the maximum and drops by the weights' gcd each
//! time the index wraps; a server is chosen when its weight >= cw.

use super::{Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::Arc;

/// The cycle's place (the last index chosen and the current weight `cw`)
/// lives in the scheduling loop's [`Position`]: see rr.rs.
pub struct WeightedRoundRobin;

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl WeightedRoundRobin {
    pub fn new(_dests: &[Arc<Dest>]) -> Self {
        WeightedRoundRobin
    }
}

/// The kernel's `mw` and `di`: the largest weight less the weights' gcd plus one, and that
/// gcd (of the non-zero weights; 1 when there are none).
fn max_and_gcd(dests: &[Arc<Dest>]) -> (u32, u32) {
    let di = dests.iter().map(|d| d.weight()).filter(|&w| w > 0).fold(0, gcd).max(1);
    let max = dests.iter().map(|d| d.weight()).max().unwrap_or(0);
    (max.saturating_sub(di - 1), di)
}

/// ip_vs_wrr_dest_changed: the current weight `cw` when the servers change: kept when it is
/// still within the new maximum (on a multiple of the new gcd, plus one), else the maximum.
pub(super) fn current_weight_kept(cw: u32, dests: &[Arc<Dest>]) -> u32 {
    let (mw, di) = max_and_gcd(dests);
    if cw > mw || cw == 0 {
        mw
    } else if di > 1 {
        cw / di * di + 1
    } else {
        cw
    }
}

impl Scheduler for WeightedRoundRobin {
    /// ip_vs_wrr_schedule: from the server after the last one chosen (or the list's head),
    /// the first with a weight of at least `cw`; each time the list wraps `cw` drops by the
    /// gcd, back to the maximum below 1.
    fn schedule(&self, dests: &[Arc<Dest>], _: &SchedInput, pos: &mut Position) -> Option<usize> {
        let n = dests.len();
        // Weights can change under us (`-e`): read them once per decision.
        let (mw, di) = max_and_gcd(dests);
        if n == 0 || mw == 0 {
            return None;
        }
        let mut cw = if pos.cw == 0 || pos.cw > mw { mw } else { pos.cw } as i64;
        let mut i = pos.last.map_or(0, |l| l + 1);
        // Each full pass lowers cw by di, so mw/di + 1 passes visit every weight.
        for _ in 0..n * ((mw / di) as usize + 2) {
            if i >= n {
                i = 0;
                cw -= di as i64;
                if cw <= 0 {
                    cw = mw as i64;
                }
            }
            let d = &dests[i];
            if !d.is_overloaded() && d.weight() as i64 >= cw {
                (pos.last, pos.cw) = (Some(i), cw as u32);
                return Some(i);
            }
            i += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn three_to_one() {
        let d = dests(&[3, 1]);
        let s = WeightedRoundRobin::new(&d);
        let seq: Vec<_> = sequence(&s, &d, 8).into_iter().map(|x| x.unwrap()).collect();
        assert_eq!(seq, vec![0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn kernel_interleaving_4_3_2() {
        // The example of ip_vs_wrr.c's comment: weights 4, 3, 2.
        let d = dests(&[4, 3, 2]);
        let s = WeightedRoundRobin::new(&d);
        let seq: Vec<_> = sequence(&s, &d, 9).into_iter().map(|x| x.unwrap()).collect();
        assert_eq!(seq, vec![0, 0, 1, 0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn gcd_steps_and_zero_weight() {
        let d = dests(&[4, 2, 0]);
        let s = WeightedRoundRobin::new(&d);
        let seq: Vec<_> = sequence(&s, &d, 6).into_iter().map(|x| x.unwrap()).collect();
        assert_eq!(seq, vec![0, 0, 1, 0, 0, 1]);
        assert_eq!(WeightedRoundRobin::new(&[]).schedule(&dests(&[0]), &input(0), &mut Position::default()), None);
    }
}
