//! The connection table's hash index: bucketed cuckoo hashing, twelve tagged
//! slots in each 64-byte bucket.
//!
//! A slot is an 8-bit tag (0 marks an empty slot) and a 32-bit word: the
//! value the table stores (an entry id below 2^24 with the reply-direction
//! bit) and, in bits 24-30, seven more bits of the key's fingerprint. The
//! twelve tags sit side by side so that one SSE2 compare (x86_64; a plain
//! loop elsewhere) tests them all; the word's fingerprint bits are compared
//! before the entry is touched (one false candidate in 16,384). Keys are not
//! stored: a match is confirmed against the entry itself, so a lookup
//! usually touches one bucket line and one entry line.
//!
//! Every key may live in two buckets: its home (from the hash's high half)
//! and an alternate computed from the home and the fingerprint alone
//! (partial-key cuckoo hashing, as in MemC3): `alt(b) = g(fp) - b` modulo
//! the bucket count, its own inverse, so the other bucket of a stored slot
//! is known without its key. A lookup, hit or miss, reads at most those two
//! buckets. An insert takes a free slot in the home, else in the alternate;
//! when both are full it moves one resident to that resident's other
//! bucket, searched breadth first two moves deep. Deletion clears the slot:
//! no tombstones, no counters. (Linear probing with per-bucket overflow
//! counts, at 92% load, made a miss walk the whole index once a full table
//! churned: the SYN-flood case.)

use super::FlowKey;

const SLOTS: usize = 12;
/// Keys per slot at most when the table holds its capacity (every entry
/// with two keys): about 64 bytes per connection at a million. Two-choice
/// buckets of twelve slots this full rarely need to move a resident (2% of
/// the inserts into a full, churning table), and a lookup finds 86% of the
/// keys in their home bucket.
const MAX_LOAD_PERCENT: usize = 77;
/// Values are entry ids below this (with the reply bit, bit 31): bits 24-30
/// of a stored value hold seven more bits of the key's fingerprint.
pub const MAX_ENTRIES: usize = 1 << 24;
const ID_BITS: u32 = (1 << 24) - 1;
const OUT: u32 = 1 << 31;
const FP_SHIFT: u32 = 24;
const FP_MASK: u32 = 0x7f << FP_SHIFT;
/// The most buckets one insert reads: its two, then up to twelve residents'
/// other buckets in each of them, then twelve residents' in each of those.
#[cfg(test)]
pub(super) const MAX_INSERT_READS: usize = 2 + 2 * SLOTS + 2 * SLOTS * SLOTS;

/// Twelve slots in one cache line: their 8-bit tags side by side (compared
/// at once) and their 32-bit values.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket {
    tags: [u8; SLOTS],
    /// Always 0 (read by the 16-byte tag compare, masked off).
    _spare: u32,
    values: [u32; SLOTS],
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

impl Bucket {
    /// Bit i set when slot i's tag equals `tag` (tag 0: the empty slots);
    /// no bit at or above [`SLOTS`].
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn matching(&self, tag: u8) -> u32 {
        use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
        // SAFETY: SSE2 is part of x86_64; the 16-byte load (the twelve tags
        // and the spare word) lies inside the 64-byte bucket.
        #[allow(unused_unsafe)]
        let m = unsafe {
            _mm_movemask_epi8(_mm_cmpeq_epi8(
                _mm_loadu_si128(self.tags.as_ptr() as *const __m128i),
                _mm_set1_epi8(tag as i8),
            ))
        };
        m as u32 & ((1 << SLOTS) - 1)
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    fn matching(&self, tag: u8) -> u32 {
        portable_matching(&self.tags, tag)
    }

    /// The stored word of the lowest slot in mask `m` (non-zero, from [`Bucket::matching`]).
    #[inline(always)]
    fn word(&self, m: u32) -> u32 {
        let i = m.trailing_zeros() as usize;
        debug_assert!(i < SLOTS);
        // SAFETY: `matching` sets no bit at or above SLOTS, and m != 0, so i < SLOTS.
        unsafe { *self.values.get_unchecked(i) }
    }

    /// The stored value `is_key` accepts among the slots of fingerprint `fp`.
    #[inline(always)]
    fn find(&self, fp: Fingerprint, is_key: &mut impl FnMut(u32) -> bool) -> Option<u32> {
        let mut m = self.matching(fp.tag);
        while m != 0 {
            let w = self.word(m);
            if w & FP_MASK == fp.high && is_key(w & !FP_MASK) {
                return Some(w & !FP_MASK);
            }
            m &= m - 1;
        }
        None
    }

    /// A free slot, if any.
    #[inline(always)]
    fn free_slot(&self) -> Option<usize> {
        let m = self.matching(0);
        (m != 0).then(|| m.trailing_zeros() as usize)
    }

    /// The fingerprint bits of slot `i` (occupied), for its other bucket:
    /// as [`Fingerprint::bits`].
    fn fingerprint_bits(&self, i: usize) -> u32 {
        (self.tags[i] & 0x7f) as u32 | (self.values[i] & FP_MASK) >> (FP_SHIFT - 8)
    }
}

#[allow(dead_code)]
#[inline]
fn portable_matching(tags: &[u8; SLOTS], tag: u8) -> u32 {
    let mut m = 0;
    for (i, &t) in tags.iter().enumerate() {
        m |= ((t == tag) as u32) << i;
    }
    m
}

/// Fourteen bits of a key's hash, split as stored: an 8-bit tag (seven bits
/// and a set top bit; 0 marks an empty slot) and seven bits kept in the
/// value's bits 24-30. Together they also choose the key's other bucket.
#[derive(Clone, Copy)]
struct Fingerprint {
    tag: u8,
    /// Already shifted into place ([`FP_MASK`]).
    high: u32,
}

impl Fingerprint {
    #[inline(always)]
    fn of(h: u64) -> Self {
        Fingerprint { tag: h as u8 | 0x80, high: (h as u32) << (FP_SHIFT - 8) & FP_MASK }
    }

    /// The fourteen bits as they lie in the hash (bits 0-6 and 8-14).
    #[inline(always)]
    fn bits(h: u64) -> u32 {
        h as u32 & 0x7f7f
    }
}

pub struct Index {
    buckets: Vec<Bucket>,
    /// `buckets.len()`, below 2^32 (bucket numbers are 32-bit products).
    n: u64,
    seed: [u64; 2],
    /// The most buckets one insert read (its two, and any it looked in to
    /// move a resident) since tests last set it to 0 (a statistic for
    /// tests only: not kept in the product, where it cost a store per key).
    #[cfg(test)]
    pub(super) insert_reads: usize,
}

#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Index {
    /// An index for at most `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        // At least two buckets; fewer than 2^32 (the table caps its capacity
        // at 2^31 entries, 4.7e8 buckets).
        let n = (max_keys.max(1) * 100).div_ceil(SLOTS * MAX_LOAD_PERCENT).clamp(2, u32::MAX as usize);
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
        Index {
            buckets: vec![Bucket::default(); n],
            n: n as u64,
            seed,
            #[cfg(test)]
            insert_reads: 0,
        }
    }

    /// [`Index::new`] with the hash keys `seed` instead of random ones: for
    /// measurement only (scripts/callgrind must count the same instructions
    /// in every run; cuckoo moves depend on the keys). A director keeps
    /// random keys.
    pub fn with_seed(max_keys: usize, seed: u64) -> Self {
        let mut ix = Index::new(max_keys);
        ix.seed = [seed | 1, seed.rotate_left(32) | 1];
        ix
    }

    /// Bytes held (the memory figure's share of the index).
    pub fn bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<Bucket>()
    }

    /// The key's hash: computed once per packet, used for lookup and insert.
    #[inline(always)]
    pub fn hash(&self, k: &FlowKey) -> u64 {
        self.hash_words(k.words())
    }

    /// The hash of a key as [`FlowKey::words`].
    #[inline(always)]
    pub fn hash_words(&self, (a, b): (u64, u64)) -> u64 {
        fold_mul(a ^ self.seed[0], b ^ self.seed[1])
    }

    /// The home bucket of hash `h`: below `n` (a 32-bit fraction of it).
    #[inline(always)]
    fn home(&self, h: u64) -> usize {
        (((h >> 32) * self.n) >> 32) as usize
    }

    /// The other bucket of a key with fingerprint bits `fp` in bucket `b`
    /// (b < n): below `n`, and `alt(alt(b)) == b`.
    #[inline(always)]
    fn alt(&self, b: usize, fp: u32) -> usize {
        let g = (fp.wrapping_mul(0x9e37_79b1) as u64 * self.n >> 32) as usize;
        if g >= b {
            g - b
        } else {
            g + self.n as usize - b
        }
    }

    #[inline(always)]
    fn bucket(&self, b: usize) -> &Bucket {
        debug_assert!(b < self.buckets.len());
        // SAFETY: bucket numbers come from `home` and `alt`, both below n,
        // the length of `buckets`, which never changes after `new`.
        unsafe { self.buckets.get_unchecked(b) }
    }

    #[inline(always)]
    fn bucket_mut(&mut self, b: usize) -> &mut Bucket {
        debug_assert!(b < self.buckets.len());
        // SAFETY: as in `bucket`.
        unsafe { self.buckets.get_unchecked_mut(b) }
    }

    /// Ask the CPU to bring in the home bucket of hash `h` (where 86% of the
    /// keys of a full table live), so that a lookup made a little later finds
    /// it in the cache: a batch prefetches all its buckets before its first
    /// lookup. A hint only: nothing is read, nothing can fault.
    #[inline(always)]
    pub fn prefetch(&self, h: u64) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: _mm_prefetch only hints the cache; it reads nothing and cannot fault.
        unsafe {
            core::arch::x86_64::_mm_prefetch(
                self.buckets.as_ptr().wrapping_add(self.home(h)) as *const i8,
                core::arch::x86_64::_MM_HINT_T0,
            )
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = h;
    }

    /// The value stored for the key of hash `h` that `is_key` accepts.
    #[inline(always)]
    pub fn find(&self, h: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let fp = Fingerprint::of(h);
        let b = self.home(h);
        match self.bucket(b).find(fp, &mut is_key) {
            Some(v) => Some(v),
            None => self.bucket(self.alt(b, Fingerprint::bits(h))).find(fp, &mut is_key),
        }
    }

    /// Buckets a lookup of hash `h` reads (a statistic for tests).
    #[cfg(test)]
    pub fn reads(&self, h: u64, mut is_key: impl FnMut(u32) -> bool) -> usize {
        let b = self.home(h);
        if self.bucket(b).find(Fingerprint::of(h), &mut is_key).is_some() {
            1
        } else {
            2
        }
    }

    /// Store `value` under hash `h` unless `is_key` accepts a value already
    /// stored there: the key's two buckets read once for both. Err(Some(v)):
    /// the key is taken, by `v`; Err(None): no room.
    #[inline(always)]
    pub fn insert_unique(
        &mut self,
        h: u64,
        value: u32,
        mut is_key: impl FnMut(u32) -> bool,
    ) -> Result<(), Option<u32>> {
        let fp = Fingerprint::of(h);
        let home = self.home(h);
        let alt = self.alt(home, Fingerprint::bits(h));
        if let Some(v) = self.bucket(home).find(fp, &mut is_key) {
            return Err(Some(v));
        }
        if let Some(v) = self.bucket(alt).find(fp, &mut is_key) {
            return Err(Some(v));
        }
        if self.place(home, Fingerprint::bits(h), fp, value) {
            Ok(())
        } else {
            Err(None)
        }
    }

    /// Store `value` under hash `h`, the caller having found the key absent
    /// (a new connection's key, looked up just before): [`Index::insert_unique`]
    /// without its search. False when there is no room (no resident of
    /// either bucket can move within two moves: every slot taken, or, far
    /// below that, a crowded corner).
    #[inline(always)]
    pub fn insert(&mut self, h: u64, value: u32) -> bool {
        self.place(self.home(h), Fingerprint::bits(h), Fingerprint::of(h), value)
    }

    /// Store `value` with fingerprint `fp` (`bits` as [`Fingerprint::bits`])
    /// in a free slot of bucket `home`, else of the alternate, else one made
    /// free by moving residents. The alternate is computed only when the
    /// home is full.
    #[inline(always)]
    fn place(&mut self, home: usize, bits: u32, fp: Fingerprint, value: u32) -> bool {
        debug_assert!(value & !OUT <= ID_BITS);
        // (No count of keys to check against the slots: a full index has no
        // free slot, which make_room finds out.)
        if value & FP_MASK != 0 {
            return false;
        }
        let (b, i, reads) = match self.bucket(home).free_slot() {
            Some(i) => (home, i, 2),
            None => {
                let alt = self.alt(home, bits);
                match self.bucket(alt).free_slot() {
                    Some(i) => (alt, i, 2),
                    None => match self.make_room(home, alt) {
                        Some(found) => found,
                        None => return false,
                    },
                }
            }
        };
        debug_assert!(b < self.buckets.len() && i < SLOTS);
        let bucket = self.bucket_mut(b);
        // SAFETY: `i` is a free slot's number from `free_slot` or
        // `make_room`, below SLOTS (the mask `matching` returns has no
        // higher bit), the length of both arrays.
        unsafe {
            *bucket.tags.get_unchecked_mut(i) = fp.tag;
            *bucket.values.get_unchecked_mut(i) = value | fp.high;
        }
        #[cfg(test)]
        {
            self.insert_reads = self.insert_reads.max(reads);
        }
        #[cfg(not(test))]
        let _ = reads;
        true
    }

    /// Both of a key's buckets are full: move a resident of one to its other
    /// bucket (or one of that bucket's residents on first), freeing a slot.
    /// Returns the freed (bucket, slot) and the buckets read in all.
    #[cold]
    fn make_room(&mut self, b1: usize, b2: usize) -> Option<(usize, usize, usize)> {
        let mut reads = 2;
        for b in [b1, b2] {
            for i in 0..SLOTS {
                let c = self.alt(b, self.buckets[b].fingerprint_bits(i));
                reads += 1;
                if let Some(j) = self.bucket(c).free_slot() {
                    self.move_slot((b, i), (c, j));
                    return Some((b, i, reads));
                }
            }
        }
        for b in [b1, b2] {
            for i in 0..SLOTS {
                let c = self.alt(b, self.buckets[b].fingerprint_bits(i));
                for j in 0..SLOTS {
                    let d = self.alt(c, self.buckets[c].fingerprint_bits(j));
                    reads += 1;
                    if let Some(k) = self.bucket(d).free_slot() {
                        self.move_slot((c, j), (d, k));
                        self.move_slot((b, i), (c, j));
                        return Some((b, i, reads));
                    }
                }
            }
        }
        None
    }

    /// Move slot `from` to the free slot `to` (in the key's other bucket).
    fn move_slot(&mut self, from: (usize, usize), to: (usize, usize)) {
        let (tag, value) = (self.buckets[from.0].tags[from.1], self.buckets[from.0].values[from.1]);
        self.buckets[from.0].tags[from.1] = 0;
        let t = &mut self.buckets[to.0];
        t.tags[to.1] = tag;
        t.values[to.1] = value;
    }

    /// Remove the slot holding `value` under hash `h`; false if none does.
    pub fn remove(&mut self, h: u64, value: u32) -> bool {
        let fp = Fingerprint::of(h);
        let home = self.home(h);
        self.remove_from(home, fp, value) || self.remove_from(self.alt(home, Fingerprint::bits(h)), fp, value)
    }

    /// Clear the slot of bucket `b` holding `value` with fingerprint `fp`.
    #[inline(always)]
    fn remove_from(&mut self, b: usize, fp: Fingerprint, value: u32) -> bool {
        let bucket = self.bucket_mut(b);
        let mut m = bucket.matching(fp.tag);
        while m != 0 {
            if bucket.word(m) == value | fp.high {
                let i = m.trailing_zeros() as usize;
                // SAFETY: as in `Bucket::word`: m != 0 and has no bit at or above SLOTS.
                unsafe { *bucket.tags.get_unchecked_mut(i) = 0 };
                return true;
            }
            m &= m - 1;
        }
        false
    }

    /// Keys stored (checks and tests: it counts them, it keeps no count
    /// the inserts would pay for).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.matching(0).count_ones() as usize).map(|free| SLOTS - free).sum()
    }

    /// Every stored value (checks and tests).
    pub fn values(&self) -> impl Iterator<Item = u32> + '_ {
        self.buckets
            .iter()
            .flat_map(|b| b.tags.iter().zip(b.values.iter()).filter(|(&t, _)| t != 0).map(|(_, &v)| v & !FP_MASK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse2_and_portable_tag_compare_agree() {
        let b = Bucket {
            tags: [0x87, 0, 0x87, 0xff, 7, 0x87, 0x78, 3, 0x87, 0, 0x87, 1],
            _spare: 0x8787_8787,
            values: [0x8787_8787; SLOTS],
        };
        for tag in [0u8, 7, 0x87, 0xff, 0x78, 3, 1] {
            assert_eq!(b.matching(tag), portable_matching(&b.tags, tag), "tag {tag:#x}");
        }
        // Slots 0, 2, 5, 8, 10; neither the spare word nor the values match.
        assert_eq!(b.matching(0x87), 1 | 1 << 2 | 1 << 5 | 1 << 8 | 1 << 10);
        assert_eq!(b.matching(0), 1 << 1 | 1 << 9);
    }

    #[test]
    fn alternate_bucket_is_its_own_inverse() {
        for n in [2usize, 3, 7, 891, 100_003] {
            let ix = Index { buckets: Vec::new(), n: n as u64, seed: [1, 1], insert_reads: 0 };
            for b in (0..n).step_by(n / 50 + 1) {
                for fp in [0u32, 1, 0x1234, 0x3fff] {
                    let a = ix.alt(b, fp);
                    assert!(a < n && ix.alt(a, fp) == b, "n {n} b {b} fp {fp:#x}");
                }
            }
        }
    }

    #[test]
    fn fingerprint_survives_storage() {
        for h in [0u64, 0xffff, 0x1234_5678_9abc_def0, u64::MAX] {
            let fp = Fingerprint::of(h);
            let b = Bucket { tags: [fp.tag; SLOTS], _spare: 0, values: [7 | OUT | fp.high; SLOTS] };
            assert_eq!(b.fingerprint_bits(3), Fingerprint::bits(h));
            assert_eq!(b.find(fp, &mut |v| v == 7 | OUT), Some(7 | OUT));
        }
    }

    #[test]
    fn keys_sharing_a_home_fill_both_buckets_then_move_others() {
        // Far more keys with one home than a bucket holds: the home fills,
        // then the alternate (per tag), and residents move on to make room.
        let mut ix = Index::new(640);
        let h = |i: u64| (5u64 << 32) | (i * 0x9e37_79b9 & 0x7fff);
        let n = 150u64;
        for i in 0..n {
            assert!(ix.insert(h(i), i as u32), "key {i}");
        }
        for i in 0..n {
            assert_eq!(ix.find(h(i), |v| v == i as u32), Some(i as u32), "key {i}");
        }
        for i in (0..n).step_by(3) {
            assert!(ix.remove(h(i), i as u32));
        }
        for i in 0..n {
            let want = (i % 3 != 0).then_some(i as u32);
            assert_eq!(ix.find(h(i), |v| v == i as u32), want);
        }
        for i in 0..n {
            if i % 3 != 0 {
                assert!(ix.remove(h(i), i as u32));
            }
        }
        assert_eq!((ix.len(), ix.values().count()), (0, 0));
    }
}
