//! Weighted failover (ip_vs_fo.c): every connection goes to the
//! non-overloaded server with the highest weight (> 0); the first one in
//! list order wins a tie. Connection counts play no part.

use super::{Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::Arc;

pub struct WeightedFailover;

impl Scheduler for WeightedFailover {
    fn schedule(&self, dests: &[Arc<Dest>], _: &SchedInput, _: &mut Position) -> Option<usize> {
        let (mut best, mut hw) = (None, 0u32);
        for (i, d) in dests.iter().enumerate() {
            let w = d.weight();
            if !d.is_overloaded() && w > hw {
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
    use crate::api::{DestSpec, FwdMethod};

    #[test]
    fn highest_weight_first_wins_ties() {
        let d = dests(&[2, 5, 5, 1]);
        let seq: Vec<_> = sequence(&WeightedFailover, &d, 4).into_iter().map(|x| x.unwrap()).collect();
        assert_eq!(seq, vec![1, 1, 1, 1]);
        assert_eq!(WeightedFailover.schedule(&dests(&[0, 0]), &input(0), &mut Position::default()), None);
    }

    #[test]
    fn fails_over_when_overloaded() {
        let mk = |w, u| {
            Arc::new(Dest::new(&DestSpec {
                addr: std::net::IpAddr::from(std::net::Ipv4Addr::new(10, 0, 0, 1)),
                port: 80,
                fwd: FwdMethod::Masq,
                weight: w,
                u_threshold: u,
                l_threshold: 0,
                tun: Default::default(),
            }))
        };
        let d = vec![mk(1, 0), mk(10, 2), mk(3, 0)];
        let seq: Vec<_> = sequence(&WeightedFailover, &d, 4).into_iter().map(|x| x.unwrap()).collect();
        // rs1 takes two, reaches its threshold, then rs2 (next highest).
        assert_eq!(seq, vec![1, 1, 2, 2]);
    }
}
