//! Source hashing (ip_vs_sh.c): a 256-bucket table (IP_VS_SH_TAB_SIZE)
//! filled in list order, each server taking as many consecutive buckets as
//! its weight (a weight-0 server still takes one, as ip_vs_sh_reassign's
//! `++d_count >= weight` does), round and round until the table is full.
//! The bucket is `hash_32(sport + saddr, 8)`, where sport is the client's
//! port with the "sh-port" flag (TCP, UDP and SCTP only) and 0 otherwise.
//!
//! A server with weight 0 or overloaded is unavailable: without
//! "sh-fallback" the connection gets no server; with it the kernel walks
//! `(offset + ihash + hash) & 255` for offset 0..256 (ip_vs_sh_get_fallback;
//! the hash is added twice, as in the kernel) and takes the first available.
//!
//! The table is built from the weights when the scheduler is built (rvs
//! rebuilds it on every change to the service's servers, as the kernel's
//! add_dest/del_dest/upd_dest reassign it).

use super::{Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::Arc;

const TAB_BITS: u32 = 8;
const TAB_SIZE: usize = 1 << TAB_BITS;
const TAB_MASK: u32 = TAB_SIZE as u32 - 1;

/// The kernel's hash_32 (include/linux/hash.h, generic version).
#[inline]
pub(super) fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(0x61C8_8647) >> (32 - bits)
}

/// Does the scheduler hash the ports of this protocol (TCP, UDP, SCTP)?
#[inline]
pub(super) fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132)
}

/// ip_vs_sh_hashkey.
#[inline]
fn hashkey(addr: u32, port: u16, offset: u32) -> usize {
    (offset.wrapping_add(hash_32((port as u32).wrapping_add(addr), TAB_BITS)) & TAB_MASK) as usize
}

#[inline]
fn unavailable(d: &Dest) -> bool {
    d.weight() == 0 || d.is_overloaded()
}

pub struct SourceHashing {
    /// Bucket -> index into the dests; empty when there are no dests.
    buckets: Vec<u16>,
    fallback: bool,
    port: bool,
}

impl SourceHashing {
    pub fn new(dests: &[Arc<Dest>], flags: &[String]) -> Self {
        let has = |a: &str, b: &str| flags.iter().any(|f| f == a || f == b);
        SourceHashing {
            buckets: weighted_table(dests),
            fallback: has("sh-fallback", "flag-1"),
            port: has("sh-port", "flag-2"),
        }
    }
}

/// ip_vs_sh_reassign: each dest fills `max(weight, 1)` consecutive buckets,
/// cycling over the dests in list order.
fn weighted_table(dests: &[Arc<Dest>]) -> Vec<u16> {
    if dests.is_empty() {
        return Vec::new();
    }
    let mut t = Vec::with_capacity(TAB_SIZE);
    let (mut p, mut count) = (0usize, 0u32);
    for _ in 0..TAB_SIZE {
        t.push(p as u16);
        count += 1;
        if count >= dests[p].weight() {
            p = (p + 1) % dests.len();
            count = 0;
        }
    }
    t
}

impl Scheduler for SourceHashing {
    fn schedule(&self, dests: &[Arc<Dest>], input: &SchedInput, _: &mut Position) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let port = if self.port && has_ports(input.proto) { input.sport } else { 0 };
        let addr = input.saddr;
        let pick = |b: usize| {
            let i = self.buckets[b] as usize;
            dests.get(i).map(|d| (i, unavailable(d)))
        };
        let ihash = hashkey(addr, port, 0);
        let (i, bad) = pick(ihash)?;
        if !bad {
            return Some(i);
        }
        if !self.fallback {
            return None;
        }
        for offset in 0..TAB_SIZE as u32 {
            let roffset = (offset + ihash as u32) % TAB_SIZE as u32;
            let (i, bad) = pick(hashkey(addr, port, roffset))?;
            if !bad {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn from(saddr: u32, sport: u16) -> SchedInput {
        SchedInput { saddr, sport, ..input(0) }
    }

    fn flags(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn table_follows_weights() {
        let d = dests(&[1, 2, 3, 0]);
        let t = weighted_table(&d);
        assert_eq!(&t[..8], &[0, 1, 1, 2, 2, 2, 3, 0]);
        // 256 = 36 cycles of 7 + [0, 1, 1, 2]
        let count = |k| t.iter().filter(|&&x| x == k).count();
        assert_eq!((count(0), count(1), count(2), count(3)), (37, 74, 109, 36));
    }

    #[test]
    fn kernel_hash() {
        // hash_32(x, 8) is the top byte of x * 0x61C88647.
        assert_eq!(hash_32(0, 8), 0);
        assert_eq!(hash_32(1, 8), 0x61);
        assert_eq!(hashkey(0xc0a8_0001, 0, 0), (0xc0a8_0001u32.wrapping_mul(0x61C88647) >> 24) as usize);
        assert_eq!(hashkey(5, 3, 0), hashkey(8, 0, 0));
        assert_eq!(hashkey(5, 0, 10), (hashkey(5, 0, 0) + 10) & 255);
    }

    #[test]
    fn same_source_same_server_spread_by_weight() {
        let d = dests(&[1, 2, 1]);
        let s = SourceHashing::new(&d, &[]);
        let mut n = [0usize; 3];
        for a in 0..10000u32 {
            let src = 0x0a00_0000 + a * 7;
            let k = s.schedule(&d, &from(src, 1000), &mut Position::default()).unwrap();
            // Port is ignored without sh-port, and the answer is stable.
            assert_eq!(s.schedule(&d, &from(src, 2000), &mut Position::default()), Some(k));
            n[k] += 1;
        }
        // Buckets 64 / 128 / 64 of 256.
        for (k, want) in [(0, 2500.0), (1, 5000.0), (2, 2500.0)] {
            let got = n[k] as f64;
            assert!((got - want).abs() < want * 0.15, "{n:?}");
        }
        // A rebuilt scheduler maps the same way.
        let s2 = SourceHashing::new(&d, &[]);
        for a in 0..100u32 {
            assert_eq!(
                s.schedule(&d, &from(a, 0), &mut Position::default()),
                s2.schedule(&d, &from(a, 0), &mut Position::default())
            );
        }
    }

    #[test]
    fn sh_port_hashes_the_source_port() {
        let d = dests(&[1, 1, 1, 1]);
        let s = SourceHashing::new(&d, &flags(&["sh-port"]));
        let mut seen = [false; 4];
        for p in 0..64u16 {
            let k = s.schedule(&d, &from(0x0a000001, p), &mut Position::default()).unwrap();
            assert_eq!(s.schedule(&d, &from(0x0a000001, p), &mut Position::default()), Some(k));
            seen[k] = true;
        }
        assert_eq!(seen, [true; 4]);
        // Not for protocols without ports.
        let icmp = |p| SchedInput { proto: 1, ..from(0x0a000001, p) };
        let k = s.schedule(&d, &icmp(1), &mut Position::default());
        assert!((0..64).all(|p| s.schedule(&d, &icmp(p), &mut Position::default()) == k));
    }

    #[test]
    fn unavailable_without_and_with_fallback() {
        let d = dests(&[1, 1, 1]);
        let plain = SourceHashing::new(&d, &[]);
        let fb = SourceHashing::new(&d, &flags(&["sh-fallback"]));
        let srcs: Vec<u32> = (0..3000u32).map(|a| 0x0a00_0000 + a).collect();
        let before: Vec<_> = srcs.iter().map(|&a| plain.schedule(&d, &from(a, 0), &mut Position::default())).collect();
        // Quiesce rs1 without rebuilding (the weight is read per packet).
        d[1].update(&crate::api::DestSpec { weight: 0, ..d[1].spec() });
        for (&a, &b) in srcs.iter().zip(&before) {
            let p = plain.schedule(&d, &from(a, 0), &mut Position::default());
            let f = fb.schedule(&d, &from(a, 0), &mut Position::default());
            if b == Some(1) {
                assert_eq!(p, None);
                // Deterministic fallback to an available server.
                assert!(matches!(f, Some(0) | Some(2)));
                assert_eq!(fb.schedule(&d, &from(a, 0), &mut Position::default()), f);
                // The kernel's walk: first available of (offset + 2*ihash) & 255.
                let ih = hashkey(a, 0, 0);
                let want = (0..256).map(|o| fb.buckets[(o + 2 * ih) & 255] as usize).find(|&k| k != 1);
                assert_eq!(f, want);
            } else {
                assert_eq!(p, b);
                assert_eq!(f, b);
            }
        }
        // Nothing available at all.
        let z = dests(&[0, 0]);
        assert_eq!(
            SourceHashing::new(&z, &flags(&["sh-fallback"])).schedule(&z, &from(1, 0), &mut Position::default()),
            None
        );
        assert_eq!(SourceHashing::new(&[], &[]).schedule(&[], &from(1, 0), &mut Position::default()), None);
    }
}
