//! The connection table's hash index: ten tagged slots in each 64-byte bucket.
//!
//! A slot is a 16-bit tag (15 bits of the key's hash and a set top bit; 0
//! marks an empty slot) and the 32-bit value the table stores (an entry id
//! with the reply-direction bit): 6 bytes, the tags of a bucket side by side
//! so that one SSE2 compare (x86_64; a plain loop elsewhere) tests them all.
//! Keys are not stored: a tag match is confirmed against the entry itself,
//! so a lookup usually touches one bucket line and one entry line. A full
//! bucket overflows into the next one; the home bucket counts the keys that
//! passed it, so a lookup stops at the first bucket with no overflow, and
//! deletion needs no tombstones.

use super::FlowKey;

const SLOTS: usize = 10;
/// One bit per slot in a [`Bucket::matching`] mask: bit 2i for slot i.
const SLOT_BITS: u32 = 0x55555;
/// Keys per slot at most when the table holds its capacity (every entry
/// with two keys): bucketed linear probing with ten slots a bucket stays
/// short to about this full.
const MAX_LOAD_PERCENT: usize = 92;

/// Ten slots in one cache line: their 16-bit tags side by side (compared
/// at once), the count of keys that overflowed past this bucket, and the
/// slots' 32-bit values.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket {
    tags: [u16; SLOTS],
    overflow: u16,
    _pad: u16,
    values: [u32; SLOTS],
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

impl Bucket {
    /// Bit 2i set when slot i's tag equals `tag` (tag 0: the empty slots).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn matching(&self, tag: u16) -> u32 {
        use std::arch::x86_64::{__m128i, _mm_cmpeq_epi16, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi16};
        let p = self.tags.as_ptr() as *const u8;
        // SAFETY: SSE2 is part of x86_64; both 16-byte loads (tags 0-7, and
        // tags 2-9) lie inside the 64-byte bucket.
        #[allow(unused_unsafe)]
        unsafe {
            let t = _mm_set1_epi16(tag as i16);
            let lo = _mm_movemask_epi8(_mm_cmpeq_epi16(_mm_loadu_si128(p as *const __m128i), t)) as u32;
            let hi = _mm_movemask_epi8(_mm_cmpeq_epi16(_mm_loadu_si128(p.add(4) as *const __m128i), t)) as u32;
            // The second load's last two lanes are tags 8 and 9.
            (lo | (hi & 0xf000) << 4) & SLOT_BITS
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn matching(&self, tag: u16) -> u32 {
        portable_matching(&self.tags, tag)
    }
}

#[allow(dead_code)]
#[inline]
fn portable_matching(tags: &[u16; SLOTS], tag: u16) -> u32 {
    let mut m = 0;
    for (i, &t) in tags.iter().enumerate() {
        m |= ((t == tag) as u32) << (2 * i);
    }
    m
}

#[inline(always)]
fn slot_of(m: u32) -> usize {
    // m holds bits 2i only (i < 10): the index is in range.
    ((m.trailing_zeros() >> 1) as usize).min(SLOTS - 1)
}

pub struct Index {
    buckets: Vec<Bucket>,
    seed: [u64; 2],
    len: usize,
}

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The tag of a hash: 15 bits of it and a set top bit (0 marks an empty slot).
#[inline(always)]
fn tag_of(h: u64) -> u16 {
    h as u16 | 0x8000
}

impl Index {
    /// An index for at most `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        let n = (max_keys.max(1) * 100).div_ceil(SLOTS * MAX_LOAD_PERCENT).max(2);
        // Per-table random keys: a sender cannot aim its flows at one bucket.
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let s = std::collections::hash_map::RandomState::new();
            let mut a = s.build_hasher();
            a.write_u64(0x9e37_79b9_7f4a_7c15);
            let mut b = s.build_hasher();
            b.write_u64(0xc2b2_ae3d_27d4_eb4f);
            [a.finish() | 1, b.finish() | 1]
        };
        Index { buckets: vec![Bucket::default(); n], seed, len: 0 }
    }

    /// Bytes held (the memory figure's share of the index).
    pub fn bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<Bucket>()
    }

    /// The key's hash: computed once per packet, used for lookup and insert.
    #[inline(always)]
    pub fn hash(&self, k: &FlowKey) -> u64 {
        let (a, b) = k.words();
        fold_mul(a ^ self.seed[0], b ^ self.seed[1])
    }

    #[inline(always)]
    fn home(&self, h: u64) -> usize {
        (((h >> 32) * self.buckets.len() as u64) >> 32) as usize
    }

    #[inline]
    fn next(&self, b: usize) -> usize {
        if b + 1 == self.buckets.len() {
            0
        } else {
            b + 1
        }
    }

    /// The value stored for the key of hash `h` that `is_key` accepts.
    #[inline(always)]
    pub fn find(&self, h: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let tag = tag_of(h);
        let mut b = self.home(h);
        for _ in 0..self.buckets.len() {
            let bucket = self.buckets.get(b)?;
            let mut m = bucket.matching(tag);
            while m != 0 {
                let v = bucket.values[slot_of(m)];
                if is_key(v) {
                    return Some(v);
                }
                m &= m - 1;
            }
            if bucket.overflow == 0 {
                return None;
            }
            b = self.next(b);
        }
        None
    }

    /// Store `value` under hash `h` unless `is_key` accepts a value already
    /// stored there: one pass over the probe chain. Err(Some(v)): the key is
    /// taken, by `v`; Err(None): every slot is taken.
    #[inline]
    pub fn insert_unique(
        &mut self,
        h: u64,
        value: u32,
        mut is_key: impl FnMut(u32) -> bool,
    ) -> Result<(), Option<u32>> {
        let tag = tag_of(h);
        let mut b = self.home(h);
        for _ in 0..self.buckets.len() {
            let bucket = &self.buckets[b];
            let mut m = bucket.matching(tag);
            while m != 0 {
                let v = bucket.values[slot_of(m)];
                if is_key(v) {
                    return Err(Some(v));
                }
                m &= m - 1;
            }
            if bucket.overflow == 0 {
                break;
            }
            b = self.next(b);
        }
        if self.insert(h, value) {
            Ok(())
        } else {
            Err(None)
        }
    }

    /// Store `value` under hash `h` (the caller checked the key is absent).
    /// False when every slot is taken.
    #[inline]
    pub fn insert(&mut self, h: u64, value: u32) -> bool {
        if self.len >= self.buckets.len() * SLOTS {
            return false;
        }
        let tag = tag_of(h);
        let mut b = self.home(h);
        loop {
            let bucket = &mut self.buckets[b];
            let m = bucket.matching(0);
            if m != 0 {
                let i = slot_of(m);
                bucket.tags[i] = tag;
                bucket.values[i] = value;
                self.len += 1;
                return true;
            }
            // Saturated counts stay: a lookup then always looks further.
            if bucket.overflow < u16::MAX {
                bucket.overflow += 1;
            }
            b = self.next(b);
        }
    }

    /// Remove the slot holding `value` under hash `h`; false if none does.
    pub fn remove(&mut self, h: u64, value: u32) -> bool {
        let tag = tag_of(h);
        let home = self.home(h);
        let mut b = home;
        for _ in 0..self.buckets.len() {
            let bucket = &mut self.buckets[b];
            let mut m = bucket.matching(tag);
            while m != 0 {
                let i = slot_of(m);
                if bucket.values[i] == value {
                    bucket.tags[i] = 0;
                    self.len -= 1;
                    let mut p = home;
                    while p != b {
                        let o = &mut self.buckets[p].overflow;
                        if *o < u16::MAX {
                            *o -= 1;
                        }
                        p = self.next(p);
                    }
                    return true;
                }
                m &= m - 1;
            }
            if bucket.overflow == 0 {
                return false;
            }
            b = self.next(b);
        }
        false
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Every stored value (checks and tests).
    pub fn values(&self) -> impl Iterator<Item = u32> + '_ {
        self.buckets.iter().flat_map(|b| b.tags.iter().zip(b.values.iter()).filter(|(&t, _)| t != 0).map(|(_, &v)| v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse2_and_portable_tag_compare_agree() {
        let b = Bucket {
            tags: [0x8007, 0, 0x8007, 0xffff, 7, 0x8007, 0x0780, 3, 0x8007, 0],
            overflow: 0x8007,
            _pad: 0x8007,
            values: [0x8007; SLOTS],
        };
        for tag in [0u16, 7, 0x8007, 0xffff, 0x780, 3] {
            assert_eq!(b.matching(tag), portable_matching(&b.tags, tag), "tag {tag:#x}");
        }
        // Slots 0, 2, 5, 8; neither the overflow count nor the values match.
        assert_eq!(b.matching(0x8007), 1 | 1 << 4 | 1 << 10 | 1 << 16);
        assert_eq!(b.matching(0), 1 << 2 | 1 << 18);
    }

    #[test]
    fn overflow_chains_survive_removal() {
        // Four buckets' worth of keys and more, all with the same home.
        let mut ix = Index::new(64);
        let h = |i: u64| (5u64 << 32) | (i + 1);
        for i in 0..45u64 {
            assert!(ix.insert(h(i), i as u32));
        }
        for i in 0..45u64 {
            assert_eq!(ix.find(h(i), |v| v == i as u32), Some(i as u32));
        }
        for i in (0..45u64).step_by(3) {
            assert!(ix.remove(h(i), i as u32));
        }
        for i in 0..45u64 {
            let want = (i % 3 != 0).then_some(i as u32);
            assert_eq!(ix.find(h(i), |v| v == i as u32), want);
        }
        for i in 0..45u64 {
            if i % 3 != 0 {
                assert!(ix.remove(h(i), i as u32));
            }
        }
        assert_eq!(ix.len(), 0);
        assert!(ix.buckets.iter().all(|b| b.overflow == 0), "every overflow count back to 0");
    }
}
