//! Shortest expected delay (ip_vs_sed.c): the lowest (activeconns + 1) /
//! weight, compared by cross-multiplication as the kernel does. Inactive
//! connections do not count. Overloaded and weight-0 servers are skipped;
//! the first one in list order wins a tie.

use super::{least_weighted, Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::Arc;

pub struct ShortestExpectedDelay;

/// ip_vs_sed_dest_overhead (also nq's): the connection the new one would
/// queue behind, plus itself.
#[inline]
pub(super) fn sed_overhead(d: &Dest) -> u64 {
    d.active_conns() as u64 + 1
}

impl Scheduler for ShortestExpectedDelay {
    fn schedule(&self, dests: &[Arc<Dest>], _: &SchedInput, _: &mut Position) -> Option<usize> {
        least_weighted(dests, sed_overhead)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    /// Schedule `n` connections, each becoming active at once.
    fn active_sequence(s: &dyn Scheduler, d: &[Arc<Dest>], n: usize) -> Vec<usize> {
        (0..n)
            .map(|i| {
                let k = s.schedule(d, &input(i as u16), &mut Position::default()).unwrap();
                activate(&d[k], 1);
                k
            })
            .collect()
    }

    #[test]
    fn expected_delay_sequence() {
        // Weights 3 and 1, every connection becomes active:
        // (a+1)/w: rs0 1/3 vs rs1 1/1 -> 0; 2/3 vs 1 -> 0; 3/3 vs 1 tie -> 0 (first);
        // 4/3 vs 1 -> 1; 4/3 vs 2 -> 0; 5/3 vs 2 -> 0; 6/3 vs 2 tie -> 0; 7/3 vs 2 -> 1.
        let d = dests(&[3, 1]);
        assert_eq!(active_sequence(&ShortestExpectedDelay, &d, 8), vec![0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn inactive_conns_do_not_count_and_zero_weight_skipped() {
        let d = dests(&[1, 1, 0]);
        for _ in 0..10 {
            d[0].bind_conn(0); // inactive only
        }
        activate(&d[1], 1);
        // rs0: (0+1)/1, rs1: (1+1)/1, rs2 weight 0.
        assert_eq!(ShortestExpectedDelay.schedule(&d, &input(0), &mut Position::default()), Some(0));
        activate(&d[0], 1);
        // Tie 2/1 vs 2/1: the first wins.
        assert_eq!(ShortestExpectedDelay.schedule(&d, &input(0), &mut Position::default()), Some(0));
        assert_eq!(ShortestExpectedDelay.schedule(&dests(&[0, 0]), &input(0), &mut Position::default()), None);
        assert_eq!(ShortestExpectedDelay.schedule(&[], &input(0), &mut Position::default()), None);
    }

    #[test]
    fn overloaded_skipped() {
        use crate::api::{DestSpec, FwdMethod};
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
        let d = vec![mk(5, 1), mk(1, 0)];
        d[0].bind_conn(0); // reaches its upper threshold: overloaded
        assert!(d[0].is_overloaded());
        assert_eq!(ShortestExpectedDelay.schedule(&d, &input(0), &mut Position::default()), Some(1));
    }
}
