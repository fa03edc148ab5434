//! Maglev hashing (ip_vs_mh.c), keyed like sh by the client's address (and
//! its port with "mh-port": TCP, UDP and SCTP only).
//!
//! As in the kernel (default CONFIG_IP_VS_MH_TAB_INDEX = 12):
//! * the lookup table has 4093 entries (primes[12 - 8]; 251 is the
//!   smallest configurable size, not the default);
//! * each server's permutation starts at `hash1(addr, port) % 4093` and
//!   steps by `hash2(addr, port) % 4092 + 1`, where `hashN(a, p)` is
//!   hsiphash of the u32 `p + a` (host order values, offset 0) under the
//!   kernel's *fixed* keys (generate_hash_secret: hash1 = {2654435761,
//!   2654435761}, hash2 = {2654446892, 2654446892}), and hsiphash is the
//!   64-bit kernels' SipHash-1-3 truncated to 32 bits. The table therefore
//!   matches an x86-64 kernel's for the same servers in the same order, and
//!   is the same across restarts and directors;
//! * servers take turns in list order, each filling `turns` consecutive
//!   preferred free slots per turn, `turns = (last_weight / gcd) >> rshift`
//!   (or 1 when that is 0 and the weight is not), `rshift` keeping
//!   max_weight/gcd within 6 bits; servers whose last weight is 0 get no
//!   slot;
//! * `last_weight` is the server's latest non-zero weight (0 only when it
//!   was added with weight 0): quiescing a server (`-e -w 0`) keeps its
//!   slots, so nothing else moves; lookups that land on it find it
//!   unavailable;
//! * a lookup lands on `hash1(saddr, sport) % 4093`; an unavailable server
//!   there (weight 0 or overloaded) means no server, or with "mh-fallback"
//!   the first available of `hash1(saddr, sport + roffset)`, roffset =
//!   (offset + ihash) % 4093 for offset 0..4093.

use super::sh::has_ports;
use super::{Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::sync::{Arc, Mutex, Weak};

/// IP_VS_MH_TAB_SIZE for the default CONFIG_IP_VS_MH_TAB_INDEX (12).
pub(super) const TAB_SIZE: usize = 4093;
/// IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2.
const TAB_BITS: u32 = 6;
const NONE: u16 = u16::MAX;

type Key = (u64, u64);
const HASH1: Key = (2654435761, 2654435761);
const HASH2: Key = (2654446892, 2654446892);

#[inline]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-c-d of `msg` under `key`, the full 64-bit result.
fn siphash(key: Key, msg: &[u8], c: usize, d: usize) -> u64 {
    let mut v = [
        0x736f_6d65_7073_6575 ^ key.0,
        0x646f_7261_6e64_6f6d ^ key.1,
        0x6c79_6765_6e65_7261 ^ key.0,
        0x7465_6462_7974_6573 ^ key.1,
    ];
    let mut chunks = msg.chunks_exact(8);
    for w in &mut chunks {
        let m = w.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64); // little-endian word
        v[3] ^= m;
        for _ in 0..c {
            sipround(&mut v);
        }
        v[0] ^= m;
    }
    let mut b = (msg.len() as u64) << 56;
    for (i, &x) in chunks.remainder().iter().enumerate() {
        b |= (x as u64) << (8 * i);
    }
    v[3] ^= b;
    for _ in 0..c {
        sipround(&mut v);
    }
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..d {
        sipround(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The kernel's hsiphash on 64-bit machines: SipHash-1-3, low 32 bits.
#[inline]
fn hsiphash(key: Key, msg: &[u8]) -> u32 {
    siphash(key, msg, 1, 3) as u32
}

/// ip_vs_mh_hashkey: hsiphash of the native (little-endian) u32
/// `offset + port + addr`.
#[inline]
fn hashkey(addr: u32, port: u16, key: Key, offset: u32) -> u32 {
    let v = offset.wrapping_add(port as u32).wrapping_add(addr);
    hsiphash(key, &v.to_le_bytes())
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// fls: the 1-based index of the highest set bit, 0 for 0.
fn fls(x: u32) -> u32 {
    32 - x.leading_zeros()
}

/// The latest non-zero weight of each live server (the kernel's
/// dest->last_weight), remembered across scheduler rebuilds: rvs keeps a
/// server's `Arc<Dest>` while it stays in its service.
static LAST_WEIGHT: Mutex<Vec<(Weak<Dest>, u32)>> = Mutex::new(Vec::new());

fn last_weights(dests: &[Arc<Dest>]) -> Vec<u32> {
    let mut reg = LAST_WEIGHT.lock().unwrap_or_else(|e| e.into_inner());
    reg.retain(|(w, _)| w.strong_count() > 0);
    dests
        .iter()
        .map(|d| {
            let w = d.weight();
            let slot = reg.iter_mut().find(|(x, _)| std::ptr::eq(x.as_ptr(), Arc::as_ptr(d)));
            match slot {
                Some((_, lw)) => {
                    if w != 0 {
                        *lw = w;
                    }
                    *lw
                }
                None => {
                    // First seen: "added" now, with its current weight.
                    reg.push((Arc::downgrade(d), w));
                    w
                }
            }
        })
        .collect()
}

/// ip_vs_mh_permutate + ip_vs_mh_populate for servers at (addr, port) with
/// these last weights, in list order.
pub(super) fn build_table(servers: &[(u32, u16)], weights: &[u32]) -> Vec<u16> {
    let mut lookup = vec![NONE; TAB_SIZE];
    let n = servers.len();
    if n == 0 || n > TAB_SIZE {
        return lookup; // the kernel refuses more servers than slots
    }
    let g = weights.iter().filter(|&&w| w > 0).fold(0, |g, &w| gcd(w, g));
    if g < 1 {
        return lookup;
    }
    let mw = weights.iter().copied().max().unwrap_or(0) / g;
    let rshift = fls(mw).saturating_sub(TAB_BITS);
    let m = TAB_SIZE as u32;
    let mut perm = Vec::with_capacity(n);
    let mut skip = Vec::with_capacity(n);
    let mut turns = Vec::with_capacity(n);
    for (&(addr, port), &lw) in servers.iter().zip(weights) {
        perm.push(hashkey(addr, port, HASH1, 0) % m);
        skip.push(hashkey(addr, port, HASH2, 0) % (m - 1) + 1);
        let t = (lw / g) >> rshift;
        turns.push(if t != 0 { t } else { (lw != 0) as u32 });
    }
    let mut taken = vec![false; TAB_SIZE];
    let (mut filled, mut dt_count) = (0usize, 0u32);
    loop {
        let mut i = 0;
        while i < n {
            if turns[i] < 1 {
                i += 1;
                continue;
            }
            while taken[perm[i] as usize] {
                perm[i] += skip[i];
                if perm[i] >= m {
                    perm[i] -= m;
                }
            }
            let c = perm[i] as usize;
            taken[c] = true;
            lookup[c] = i as u16;
            filled += 1;
            if filled == TAB_SIZE {
                return lookup;
            }
            dt_count += 1;
            if dt_count >= turns[i] {
                dt_count = 0;
                i += 1;
            }
        }
    }
}

pub struct MaglevHashing {
    lookup: Vec<u16>,
    fallback: bool,
    port: bool,
}

impl MaglevHashing {
    pub fn new(dests: &[Arc<Dest>], flags: &[String]) -> Self {
        let has = |a: &str, b: &str| flags.iter().any(|f| f == a || f == b);
        let servers: Vec<_> = dests.iter().map(|d| (crate::ipvs::dest::addr_fold(d.addr), d.port)).collect();
        MaglevHashing {
            lookup: build_table(&servers, &last_weights(dests)),
            fallback: has("mh-fallback", "flag-1"),
            port: has("mh-port", "flag-2"),
        }
    }
}

#[inline]
fn unavailable(d: &Dest) -> bool {
    d.weight() == 0 || d.is_overloaded()
}

impl Scheduler for MaglevHashing {
    fn schedule(&self, dests: &[Arc<Dest>], input: &SchedInput, _: &mut Position) -> Option<usize> {
        let port = if self.port && has_ports(input.proto) { input.sport } else { 0 };
        let addr = input.saddr;
        let m = TAB_SIZE as u32;
        let at = |h: u32| {
            let i = self.lookup[(h % m) as usize];
            if i == NONE {
                return None;
            }
            dests.get(i as usize).map(|d| (i as usize, unavailable(d)))
        };
        let ihash = hashkey(addr, port, HASH1, 0) % m;
        let (i, bad) = at(ihash)?;
        if !bad {
            return Some(i);
        }
        if !self.fallback {
            return None;
        }
        for offset in 0..m {
            let roffset = (offset + ihash) % m;
            let (i, bad) = at(hashkey(addr, port, HASH1, roffset))?;
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
    use crate::api::DestSpec;

    fn from(saddr: u32, sport: u16) -> SchedInput {
        SchedInput { saddr, sport, ..input(0) }
    }

    fn flags(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    fn set_weight(d: &Dest, w: u32) {
        d.update(&DestSpec { weight: w, ..d.spec() });
    }

    #[test]
    fn siphash_reference_vectors() {
        // SipHash-2-4 paper vectors, key 00..0f: the rounds and padding.
        let key = (u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]), u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]));
        assert_eq!(siphash(key, &[], 2, 4), 0x726f_db47_dd0e_0e31);
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash(key, &msg, 2, 4), 0xa129_ca61_49be_45e5);
        // Stable values of our hsiphash (pinned so any change is noticed).
        let a = hashkey(0xc612_010a, 80, HASH1, 0);
        assert_eq!(a, hashkey(0xc612_010a, 80, HASH1, 0));
        assert_ne!(a, hashkey(0xc612_010a, 80, HASH2, 0));
        assert_eq!(hashkey(10, 5, HASH1, 1), hashkey(16, 0, HASH1, 0));
    }

    #[test]
    fn table_shares_follow_weights() {
        let d = dests(&[1, 2, 3]);
        let s = MaglevHashing::new(&d, &[]);
        let count = |k: u16| s.lookup.iter().filter(|&&x| x == k).count();
        assert!(s.lookup.iter().all(|&x| x != NONE));
        let (a, b, c) = (count(0), count(1), count(2));
        assert_eq!(a + b + c, TAB_SIZE);
        // Turns 1:2:3 -> shares 682:1364:2047 (the last round is cut short).
        assert!((a as i64 - 682).abs() <= 3, "{a} {b} {c}");
        assert!((b as i64 - 1364).abs() <= 3, "{a} {b} {c}");
        // Weights with a common factor give the same table.
        let servers: Vec<_> = d.iter().map(|d| (crate::ipvs::dest::addr_fold(d.addr), d.port)).collect();
        assert_eq!(build_table(&servers, &[10, 20, 30]), s.lookup);
        // Large weights are shifted down to 6 bits of turns: fls(1000) = 10,
        // rshift 4: 1000:1 -> 62:0 -> 62:1; 4093 = 64 rounds of 63 + 61.
        let t = build_table(&servers[..2], &[1000, 1]);
        assert_eq!(t.iter().filter(|&&x| x == 0).count(), 64 * 62 + 61);
    }

    #[test]
    fn stable_and_spread() {
        let d = dests(&[1, 1, 2]);
        let s = MaglevHashing::new(&d, &[]);
        let again = MaglevHashing::new(&d, &[]);
        assert_eq!(s.lookup, again.lookup);
        let mut n = [0usize; 3];
        for a in 0..10000u32 {
            let src = 0x0a00_0000 + a;
            let k = s.schedule(&d, &from(src, a as u16), &mut Position::default()).unwrap();
            assert_eq!(s.schedule(&d, &from(src, 7), &mut Position::default()), Some(k)); // port ignored
            n[k] += 1;
        }
        for (k, want) in [(0, 2500.0), (1, 2500.0), (2, 5000.0)] {
            assert!(((n[k] as f64) - want).abs() < want * 0.12, "{n:?}");
        }
    }

    #[test]
    fn removing_one_of_five_moves_about_a_fifth() {
        let d = dests(&[1, 1, 1, 1, 1]);
        let s = MaglevHashing::new(&d, &[]);
        let mut rest = d.clone();
        let gone = rest.remove(2);
        let s2 = MaglevHashing::new(&rest, &[]);
        let (mut moved, mut survivors, mut survivors_moved) = (0, 0, 0);
        for a in 0..10000u32 {
            let inp = from(0x0a00_0000 + a * 13, 0);
            let before = &d[s.schedule(&d, &inp, &mut Position::default()).unwrap()];
            let after = &rest[s2.schedule(&rest, &inp, &mut Position::default()).unwrap()];
            if !Arc::ptr_eq(before, after) {
                moved += 1;
            }
            if !Arc::ptr_eq(before, &gone) {
                survivors += 1;
                if !Arc::ptr_eq(before, after) {
                    survivors_moved += 1;
                }
            }
        }
        let frac = moved as f64 / 10000.0;
        assert!((0.1..0.3).contains(&frac), "moved {frac}");
        let sfrac = survivors_moved as f64 / survivors as f64;
        assert!(sfrac < 0.04, "survivors moved {sfrac}");
    }

    #[test]
    fn port_flag() {
        let d = dests(&[1, 1, 1, 1]);
        let s = MaglevHashing::new(&d, &flags(&["mh-port"]));
        let mut seen = [false; 4];
        for p in 0..64u16 {
            let k = s.schedule(&d, &from(0x0a000001, p), &mut Position::default()).unwrap();
            assert_eq!(s.schedule(&d, &from(0x0a000001, p), &mut Position::default()), Some(k));
            seen[k] = true;
        }
        assert_eq!(seen, [true; 4]);
        let udp = |p| SchedInput { proto: 17, ..from(0x0a000001, p) };
        let icmp = |p| SchedInput { proto: 1, ..from(0x0a000001, p) };
        assert_eq!(
            s.schedule(&d, &udp(9), &mut Position::default()),
            s.schedule(&d, &from(0x0a000001, 9), &mut Position::default())
        );
        let k = s.schedule(&d, &icmp(0), &mut Position::default());
        assert!((0..64).all(|p| s.schedule(&d, &icmp(p), &mut Position::default()) == k));
    }

    #[test]
    fn quiesced_server_keeps_its_slots_and_fallback() {
        let d = dests(&[2, 2, 2]);
        let s = MaglevHashing::new(&d, &[]);
        set_weight(&d[1], 0);
        // Rebuilt as rvs does on `-e -w 0`: the table stays the same.
        let plain = MaglevHashing::new(&d, &[]);
        let fb = MaglevHashing::new(&d, &flags(&["mh-fallback"]));
        assert_eq!(plain.lookup, s.lookup);
        assert_eq!(fb.lookup, s.lookup);
        let mut hit = 0;
        for a in 0..3000u32 {
            let inp = from(0x0a00_0000 + a, 0);
            let p = plain.schedule(&d, &inp, &mut Position::default());
            let f = fb.schedule(&d, &inp, &mut Position::default());
            let home = s.lookup[(hashkey(inp.saddr, 0, HASH1, 0) % TAB_SIZE as u32) as usize];
            if home == 1 {
                hit += 1;
                assert_eq!(p, None);
                assert!(matches!(f, Some(0) | Some(2)));
                assert_eq!(fb.schedule(&d, &inp, &mut Position::default()), f);
            } else {
                assert_eq!(p, Some(home as usize));
                assert_eq!(f, p);
            }
        }
        assert!(hit > 500);
        // A server added with weight 0 gets no slot.
        let z = dests(&[1, 0]);
        let t = MaglevHashing::new(&z, &[]);
        assert!(t.lookup.iter().all(|&x| x == 0));
        // No weight at all: no table, no server.
        let zz = dests(&[0, 0]);
        let e = MaglevHashing::new(&zz, &flags(&["mh-fallback"]));
        assert_eq!(e.schedule(&zz, &from(1, 0), &mut Position::default()), None);
        assert_eq!(MaglevHashing::new(&[], &[]).schedule(&[], &from(1, 0), &mut Position::default()), None);
    }
}
