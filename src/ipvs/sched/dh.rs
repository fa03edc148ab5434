//! Destination hashing (ip_vs_dh.c): a 256-bucket table filled with the
//! servers in list order, one bucket each, round and round (weights do not
//! shape the table, as in the kernel), looked up by `hash_32(daddr, 8)`.
//! An unavailable server there (weight 0, overloaded or removed) means no
//! server: dh has no fallback.

use super::sh::hash_32;
use super::{Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::Arc;

const TAB_BITS: u32 = 8;
const TAB_SIZE: usize = 1 << TAB_BITS;

pub struct DestinationHashing {
    /// Number of servers the table was built for; bucket b holds b % n.
    n: usize,
}

impl DestinationHashing {
    pub fn new(dests: &[Arc<Dest>]) -> Self {
        DestinationHashing { n: dests.len() }
    }

    /// ip_vs_dh_reassign's table, bucket by bucket.
    #[inline]
    fn bucket(&self, b: usize) -> usize {
        b % self.n
    }
}

impl Scheduler for DestinationHashing {
    fn schedule(&self, dests: &[Arc<Dest>], input: &SchedInput, _: &mut Position) -> Option<usize> {
        if self.n == 0 {
            return None;
        }
        let b = hash_32(input.daddr, TAB_BITS) as usize;
        debug_assert!(b < TAB_SIZE);
        let i = self.bucket(b);
        let d = dests.get(i)?;
        if !d.is_available() || d.weight() == 0 || d.is_overloaded() {
            return None;
        }
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn to(daddr: u32, saddr: u32) -> SchedInput {
        SchedInput { daddr, saddr, ..input(0) }
    }

    #[test]
    fn same_destination_same_server_and_spread() {
        let d = dests(&[1, 5, 1]); // weights are ignored by dh
        let s = DestinationHashing::new(&d);
        let mut n = [0usize; 3];
        for a in 0..9000u32 {
            let dst = 0xcb00_7100 + a * 3;
            let k = s.schedule(&d, &to(dst, 1), &mut Position::default()).unwrap();
            assert_eq!(s.schedule(&d, &to(dst, 0x0a0a0a0a), &mut Position::default()), Some(k));
            n[k] += 1;
        }
        // 86 / 85 / 85 buckets of 256.
        for c in n {
            assert!((2700..3300).contains(&c), "{n:?}");
        }
        let b = hash_32(0xc6120064, 8) as usize;
        assert_eq!(s.schedule(&d, &to(0xc6120064, 0), &mut Position::default()), Some(b % 3));
    }

    #[test]
    fn unavailable_means_none() {
        let d = dests(&[1, 1]);
        let s = DestinationHashing::new(&d);
        let dst = (0..).find(|&a| s.schedule(&d, &to(a, 0), &mut Position::default()) == Some(1)).unwrap();
        d[1].update(&crate::api::DestSpec { weight: 0, ..d[1].spec() });
        assert_eq!(s.schedule(&d, &to(dst, 0), &mut Position::default()), None);
        assert_eq!(DestinationHashing::new(&[]).schedule(&[], &to(dst, 0), &mut Position::default()), None);
    }
}
