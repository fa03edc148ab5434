//! Reassembly of IP fragments: one poll loop's store of incomplete datagrams.
//!
//! IPVS never sees a fragment: the kernel's defragmentation (ip_defrag, run
//! before the IPVS hooks) hands it whole datagrams, and IPVS schedules,
//! rewrites, tunnels and counts those; the output path fragments them again
//! at the egress MTU. rvs does the same: fragments are held here until their
//! datagram is complete and checked, the datagram then takes the ordinary
//! path as one packet (its first bytes find or create the connection exactly
//! as an unfragmented packet's would), and leaves by the egress code's
//! fragmenter. The other choice, forwarding each fragment as it comes by a
//! map from (source, destination, protocol, id) to the first fragment's
//! connection, would have to hold the fragments that arrive before the first
//! anyway, could not drop a datagram whose overlap shows only after some of it
//! left (RFC 5722), and would need a fragment-aware rewrite in every
//! forwarding method; reassembling reuses every method unchanged.
//!
//! The store is family-neutral: a key holds 128-bit addresses and a 32-bit
//! identification (IPv4's are mapped in, see [`FragKey::v4`]), and a datagram
//! is its first fragment's "head" (the bytes before the fragmentable part:
//! the Ethernet and IP headers, for IPv6 also the unfragmentable extension
//! headers) plus payload pieces by offset. The family's own code checks the
//! header, fixes the reassembled one, and feeds this store.
//!
//! Bounded, as the kernel's ipfrag_high_thresh and ipfrag_time bound it, but
//! per poll loop and without a lock: a total of bytes (every piece charged
//! its length plus [`PIECE_OVERHEAD`]), a share of it per source address (a
//! fragment that would take a source past it is refused, so one source, or
//! one spoofing it, cannot take the store from the others), a time limit per
//! datagram (shorter than Linux's 30 s: a sender's fragments leave back to
//! back), and at most [`MAX_PIECES`] pieces a datagram. When the total is
//! reached the oldest datagrams are evicted; datagrams that complete leave at
//! once, so under a flood of fragments that never complete a real client's
//! datagram is lost only if the flood cycles the whole store while it is
//! arriving. Overlapping pieces discard the whole datagram (as Linux does for
//! IPv4 since 4.19, and RFC 5722 requires for IPv6); an exact duplicate is
//! dropped alone. Every fragment dropped is counted by why, by the caller.

use std::collections::VecDeque;

/// A datagram's identity: the family's addresses (IPv4 mapped into the low
/// 32 bits), identification and protocol (IPv6: the fragment header's next
/// header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: u128,
    pub dst: u128,
    pub id: u32,
    pub proto: u8,
    /// 4 or 6, so an IPv4 and an IPv6 datagram never share an entry.
    pub family: u8,
}

impl FragKey {
    pub fn v4(src: u32, dst: u32, id: u16, proto: u8) -> FragKey {
        FragKey { src: src.into(), dst: dst.into(), id: id.into(), proto, family: 4 }
    }
}

/// What the store may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in all (pieces with their overhead).
    pub bytes: usize,
    /// Bytes of the datagrams from one source address.
    pub bytes_per_source: usize,
    /// How long an incomplete datagram is kept after its first fragment.
    pub timeout_ms: u64,
}

impl Default for Limits {
    /// The kernel's ipfrag_high_thresh (4 MiB), a sixteenth of it per
    /// source (28 datagrams of 9,000 bytes in flight at once), and 5 s.
    fn default() -> Self {
        Limits { bytes: 4 << 20, bytes_per_source: 256 << 10, timeout_ms: 5_000 }
    }
}

/// What a piece costs beyond its bytes (its vector and place in the list).
pub const PIECE_OVERHEAD: usize = 64;
/// The most pieces one datagram may come in (a 64 KiB datagram over
/// 576-byte links needs 120).
pub const MAX_PIECES: usize = 128;

/// What became of a fragment offered to [`Reassembly::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Kept: its datagram is not complete yet.
    Held,
    /// Its datagram is complete: [`Reassembly::take`] writes it out.
    Complete,
    /// The same offset and length as a piece held: this one dropped.
    Duplicate,
    /// It overlaps a piece held, or its end disagrees with the datagram's
    /// known end: the datagram is discarded with it; `discarded` pieces held
    /// before went with it.
    Overlap { discarded: usize },
    /// Impossible in itself: not a multiple of 8 bytes but the last, empty,
    /// past the largest datagram, or one piece too many (the datagram's
    /// `discarded` held pieces go with the last case).
    Bad { discarded: usize },
    /// Its source already holds its share of the store.
    SourceShare,
}

/// Counts of fragments the store let go other than by completing, since the
/// caller last read them ([`Reassembly::take_losses`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Losses {
    /// Pieces of datagrams that outlived the time limit.
    pub timed_out: u64,
    /// Pieces of datagrams evicted for the total bound.
    pub evicted: u64,
}

struct Piece {
    off: usize,
    data: Vec<u8>,
}

struct Datagram {
    /// Its place in `age` (datagrams are queued in the order they began).
    seq: u64,
    /// Disjoint, ordered by offset.
    pieces: Vec<Piece>,
    /// The payload's length, once the last fragment is in.
    end: Option<usize>,
    /// Payload bytes held.
    have: usize,
    /// The first fragment's head, once it is in.
    head: Option<Vec<u8>>,
    /// Caller's word about the first fragment (the interface it came in on).
    tag: u8,
    charge: usize,
}

#[derive(Default)]
pub struct Reassembly {
    limits: Limits,
    datagrams: hashbrown::HashMap<FragKey, Datagram>,
    /// (began, seq, key) in the order datagrams began; entries whose
    /// datagram left early are skipped when met, and swept out when they
    /// outnumber the live ones.
    age: VecDeque<(u64, u64, FragKey)>,
    next_seq: u64,
    bytes: usize,
    per_source: hashbrown::HashMap<u128, usize>,
    losses: Losses,
    /// The key of the datagram [`Insert::Complete`] named.
    complete: Option<FragKey>,
}

impl Reassembly {
    pub fn new(limits: Limits) -> Reassembly {
        Reassembly { limits, ..Default::default() }
    }

    /// Bytes held, as charged against [`Limits::bytes`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Incomplete datagrams held.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// The fragments lost since the last call.
    pub fn take_losses(&mut self) -> Losses {
        std::mem::take(&mut self.losses)
    }

    /// Offer a fragment of datagram `key`: `payload` at byte `off` of the
    /// fragmentable part, `more` unless it is the last; `head` with the
    /// first fragment (offset 0), `tag` a word kept with it. `max_len`: the
    /// largest payload the family's datagram may carry.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        now_ms: u64,
        key: FragKey,
        off: usize,
        more: bool,
        payload: &[u8],
        head: Option<&[u8]>,
        tag: u8,
        max_len: usize,
    ) -> Insert {
        let len = payload.len();
        let end = off + len;
        if len == 0 || end > max_len || (more && len % 8 != 0) {
            return Insert::Bad { discarded: 0 };
        }
        let charge = len + PIECE_OVERHEAD + head.map_or(0, <[u8]>::len);
        // A new datagram's first piece, or another's: the checks that may
        // refuse it come before anything changes.
        if let Some(d) = self.datagrams.get(&key) {
            match fit(d, off, end, more) {
                Fit::Duplicate => return Insert::Duplicate,
                Fit::Overlap => {
                    let n = self.remove(&key);
                    return Insert::Overlap { discarded: n };
                }
                Fit::At(_) if d.pieces.len() >= MAX_PIECES => {
                    let n = self.remove(&key);
                    return Insert::Bad { discarded: n };
                }
                Fit::At(_) => {}
            }
        }
        let held_by_source = self.per_source.get(&key.src).copied().unwrap_or(0);
        if held_by_source + charge > self.limits.bytes_per_source {
            return Insert::SourceShare;
        }
        self.expire(now_ms);
        // Room in the total: the oldest datagrams go, never this one.
        while self.bytes + charge > self.limits.bytes {
            match self.oldest_except(&key) {
                Some(k) => {
                    let n = self.remove(&k);
                    self.losses.evicted += n as u64;
                }
                None => return Insert::SourceShare,
            }
        }
        if !self.datagrams.contains_key(&key) {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.age.push_back((now_ms, seq, key));
            let d = Datagram { seq, pieces: Vec::new(), end: None, have: 0, head: None, tag, charge: 0 };
            self.datagrams.insert(key, d);
        }
        let Some(d) = self.datagrams.get_mut(&key) else { return Insert::Bad { discarded: 0 } };
        // Placed again: an expiry or eviction above did not touch this key.
        let Fit::At(at) = fit(d, off, end, more) else { return Insert::Bad { discarded: 0 } };
        d.pieces.insert(at, Piece { off, data: payload.to_vec() });
        d.have += len;
        d.charge += charge;
        if !more {
            d.end = Some(end);
        }
        if let Some(h) = head {
            d.head = Some(h.to_vec());
            d.tag = tag;
        }
        self.bytes += charge;
        *self.per_source.entry(key.src).or_insert(0) += charge;
        let done = d.head.is_some() && d.end == Some(d.have);
        if done {
            self.complete = Some(key);
            Insert::Complete
        } else {
            Insert::Held
        }
    }

    /// Write the datagram the last [`Insert::Complete`] named into `out`: its
    /// head, then its payload. Returns (head length, total length, tag), and
    /// forgets the datagram; None if there is none or `out` is too small.
    pub fn take(&mut self, out: &mut [u8]) -> Option<(usize, usize, u8)> {
        let key = self.complete.take()?;
        let d = self.datagrams.get(&key)?;
        let head = d.head.as_deref()?;
        let total = head.len() + d.have;
        let result = if total <= out.len() {
            out[..head.len()].copy_from_slice(head);
            for p in &d.pieces {
                let at = head.len() + p.off;
                out[at..at + p.data.len()].copy_from_slice(&p.data);
            }
            Some((head.len(), total, d.tag))
        } else {
            None
        };
        self.remove(&key);
        result
    }

    /// Drop the datagrams older than the time limit (their pieces counted
    /// in [`Losses::timed_out`]).
    pub fn expire(&mut self, now_ms: u64) {
        while let Some(&(began, seq, key)) = self.age.front() {
            let live = self.datagrams.get(&key).is_some_and(|d| d.seq == seq);
            if live && now_ms.saturating_sub(began) < self.limits.timeout_ms {
                break;
            }
            self.age.pop_front();
            if live {
                let n = self.remove(&key);
                self.losses.timed_out += n as u64;
            }
        }
    }

    /// The oldest datagram but `keep`.
    fn oldest_except(&mut self, keep: &FragKey) -> Option<FragKey> {
        self.age
            .iter()
            .find(|(_, seq, k)| k != keep && self.datagrams.get(k).is_some_and(|d| d.seq == *seq))
            .map(|e| e.2)
    }

    /// Forget datagram `key`; returns how many pieces it held.
    fn remove(&mut self, key: &FragKey) -> usize {
        let Some(d) = self.datagrams.remove(key) else { return 0 };
        self.bytes -= d.charge;
        if let Some(b) = self.per_source.get_mut(&key.src) {
            *b -= d.charge;
            if *b == 0 {
                self.per_source.remove(&key.src);
            }
        }
        // The queue keeps a stale entry per datagram gone early: sweep them
        // once they are most of it, so it stays within twice the live ones.
        if self.age.len() > 2 * self.datagrams.len() + 64 {
            let datagrams = &self.datagrams;
            self.age.retain(|(_, seq, k)| datagrams.get(k).is_some_and(|d| d.seq == *seq));
        }
        d.pieces.len()
    }
}

#[cfg(test)]
impl Reassembly {
    /// The accounts agree with what is held: bytes in all and per source, each datagram's
    /// pieces ordered, disjoint, within its end and summing to what it says it has.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut per_source: hashbrown::HashMap<u128, usize> = hashbrown::HashMap::new();
        let mut bytes = 0;
        for (k, d) in &self.datagrams {
            let mut at = 0;
            let mut have = 0;
            for p in &d.pieces {
                if p.off < at || p.data.is_empty() {
                    return Err(format!("{k:?}: piece at {} overlaps or is empty", p.off));
                }
                at = p.off + p.data.len();
                have += p.data.len();
            }
            if have != d.have || d.end.is_some_and(|e| at > e) || d.pieces.len() > MAX_PIECES {
                return Err(format!("{k:?}: have {have} vs {}, end {:?}, last byte {at}", d.have, d.end));
            }
            if !self.age.iter().any(|(_, seq, q)| q == k && *seq == d.seq) {
                return Err(format!("{k:?}: not in the age queue"));
            }
            bytes += d.charge;
            *per_source.entry(k.src).or_insert(0) += d.charge;
        }
        if bytes != self.bytes || per_source != self.per_source || bytes > self.limits.bytes {
            return Err(format!("bytes {} recorded, {bytes} held", self.bytes));
        }
        Ok(())
    }
}

enum Fit {
    /// Goes at this index of the pieces.
    At(usize),
    Duplicate,
    Overlap,
}

/// Where piece [off, end) goes among `d`'s pieces.
fn fit(d: &Datagram, off: usize, end: usize, more: bool) -> Fit {
    // A last fragment must end where an earlier last one did, and no piece
    // may reach past the known end, nor the end fall short of a piece held.
    let held_end = d.pieces.last().map_or(0, |p| p.off + p.data.len());
    match (d.end, more) {
        (Some(e), true) if end > e => return Fit::Overlap,
        (Some(e), false) if end != e => return Fit::Overlap,
        (None, false) if end < held_end => return Fit::Overlap,
        _ => {}
    }
    let at = d.pieces.partition_point(|p| p.off < off);
    if let Some(p) = d.pieces.get(at) {
        if p.off == off && p.data.len() == end - off {
            return Fit::Duplicate;
        }
        if p.off < end {
            return Fit::Overlap;
        }
    }
    if at > 0 {
        let p = &d.pieces[at - 1];
        if p.off + p.data.len() > off {
            return Fit::Overlap;
        }
    }
    Fit::At(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 65_515;

    fn key(src: u32, id: u16) -> FragKey {
        FragKey::v4(src, 0xc612_0064, id, 17)
    }

    /// `n` bytes of payload counting up, cut into pieces of `step` bytes.
    fn pieces(n: usize, step: usize) -> Vec<(usize, bool, Vec<u8>)> {
        let all: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
        all.chunks(step).enumerate().map(|(i, c)| (i * step, (i + 1) * step < n, c.to_vec())).collect()
    }

    fn offer(r: &mut Reassembly, now: u64, k: FragKey, p: &(usize, bool, Vec<u8>)) -> Insert {
        let head = [0xeeu8; 34];
        r.insert(now, k, p.0, p.1, &p.2, (p.0 == 0).then_some(&head[..]), 3, MAX)
    }

    #[test]
    fn any_order_completes_to_the_same_bytes() {
        let ps = pieces(9_000, 1_480);
        let want: Vec<u8> = [vec![0xee; 34], ps.iter().flat_map(|p| p.2.clone()).collect()].concat();
        let orders: Vec<Vec<usize>> =
            vec![(0..ps.len()).collect(), (0..ps.len()).rev().collect(), vec![3, 0, 6, 1, 5, 2, 4]];
        for order in orders {
            let mut r = Reassembly::new(Limits::default());
            for (i, &j) in order.iter().enumerate() {
                let v = offer(&mut r, 1, key(1, 7), &ps[j]);
                assert_eq!(v, if i + 1 == order.len() { Insert::Complete } else { Insert::Held }, "{order:?}");
            }
            let mut out = vec![0u8; 70_000];
            assert_eq!(r.take(&mut out), Some((34, 9_034, 3)));
            assert_eq!(&out[..9_034], &want[..], "{order:?}");
            assert_eq!((r.len(), r.bytes()), (0, 0), "nothing left after the datagram");
        }
    }

    #[test]
    fn duplicates_overlaps_and_bad_pieces() {
        let ps = pieces(4_000, 1_480);
        let mut r = Reassembly::new(Limits::default());
        assert_eq!(offer(&mut r, 1, key(1, 1), &ps[1]), Insert::Held);
        assert_eq!(offer(&mut r, 1, key(1, 1), &ps[1]), Insert::Duplicate);
        assert_eq!(offer(&mut r, 1, key(1, 1), &ps[0]), Insert::Held);
        // 8 bytes into the second piece: the datagram goes with it.
        let over = (1_472, true, vec![0u8; 16]);
        assert_eq!(offer(&mut r, 1, key(1, 1), &over), Insert::Overlap { discarded: 2 });
        assert_eq!((r.len(), r.bytes()), (0, 0));
        // Two last fragments that disagree on the end.
        assert_eq!(offer(&mut r, 1, key(1, 2), &ps[2]), Insert::Held);
        assert_eq!(offer(&mut r, 1, key(1, 2), &(2_960, false, vec![1u8; 8])), Insert::Overlap { discarded: 1 });
        // A piece past a known end, and a last one short of a held piece.
        assert_eq!(offer(&mut r, 1, key(1, 3), &ps[1]), Insert::Held);
        assert_eq!(offer(&mut r, 1, key(1, 3), &(0, false, vec![1u8; 8])), Insert::Overlap { discarded: 1 });
        for bad in [(0, true, vec![0u8; 7]), (8, true, vec![]), (MAX - 8, false, vec![0u8; 16])] {
            assert_eq!(offer(&mut r, 1, key(1, 4), &bad), Insert::Bad { discarded: 0 }, "{:?}", (bad.0, bad.2.len()));
        }
        assert_eq!((r.len(), r.bytes()), (0, 0));
        // One piece too many.
        for i in 0..MAX_PIECES {
            assert_eq!(offer(&mut r, 1, key(1, 5), &(8 + i * 8, true, vec![0u8; 8])), Insert::Held);
        }
        assert_eq!(offer(&mut r, 1, key(1, 5), &(0, true, vec![0u8; 8])), Insert::Bad { discarded: MAX_PIECES });
        assert_eq!((r.len(), r.bytes()), (0, 0));
    }

    #[test]
    fn never_completed_datagrams_time_out() {
        let ps = pieces(4_000, 1_480);
        let mut r = Reassembly::new(Limits { timeout_ms: 1_000, ..Limits::default() });
        offer(&mut r, 0, key(1, 1), &ps[0]);
        offer(&mut r, 0, key(1, 1), &ps[2]);
        offer(&mut r, 600, key(2, 1), &ps[1]);
        r.expire(999);
        assert_eq!((r.len(), r.take_losses()), (2, Losses::default()));
        r.expire(1_000);
        assert_eq!((r.len(), r.take_losses().timed_out), (1, 2));
        // The late piece of the timed-out datagram starts a new one.
        assert_eq!(offer(&mut r, 1_200, key(1, 1), &ps[1]), Insert::Held);
        r.expire(1_600);
        assert_eq!((r.len(), r.take_losses().timed_out), (1, 1));
    }

    #[test]
    fn a_flood_from_many_sources_stays_within_the_bound_and_evicts_the_oldest() {
        let limits = Limits { bytes: 64 << 10, bytes_per_source: 16 << 10, timeout_ms: 5_000 };
        let mut r = Reassembly::new(limits);
        let ps = pieces(9_000, 1_480);
        let mut evicted = 0;
        for i in 0..10_000u32 {
            // Every source's first piece only: never complete.
            assert_eq!(offer(&mut r, 1, key(0xc612_4000 + i, i as u16), &ps[1]), Insert::Held);
            assert!(r.bytes() <= limits.bytes, "{} bytes after {i}", r.bytes());
            evicted += r.take_losses().evicted;
        }
        assert!(r.age.len() <= 2 * r.len() + 65, "age queue swept: {} for {}", r.age.len(), r.len());
        assert_eq!(evicted as usize + r.len(), 10_000, "each datagram held or evicted");
        // A real datagram still completes.
        for p in &ps {
            offer(&mut r, 2, key(0xc612_0001, 9), p);
        }
        let mut out = vec![0u8; 70_000];
        assert_eq!(r.take(&mut out).map(|t| t.1), Some(9_034));
        // One source stops at its share; the others are unaffected.
        let mut r = Reassembly::new(limits);
        let mut refused = 0;
        for id in 0..20 {
            if offer(&mut r, 1, key(5, id), &ps[1]) == Insert::SourceShare {
                refused += 1;
            }
        }
        assert_eq!((r.len(), refused), (10, 10), "16 KiB is ten pieces of 1,480 bytes");
        assert_eq!(offer(&mut r, 1, key(6, 0), &ps[1]), Insert::Held);
    }

    #[test]
    fn random_pieces_keep_the_accounts_and_the_bounds() {
        let limits = Limits { bytes: 48 << 10, bytes_per_source: 12 << 10, timeout_ms: 300 };
        let mut r = Reassembly::new(limits);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let data = vec![0x5au8; 2_000];
        let mut out = vec![0u8; 70_000];
        let (mut complete, mut now) = (0, 0);
        for i in 0..50_000 {
            now += next(3);
            let k = key(next(6) as u32, next(4) as u16);
            let off = next(12) as usize * 8 * if next(2) == 0 { 1 } else { 185 };
            let len = if next(4) == 0 { next(2_000) as usize } else { 8 * (1 + next(190) as usize) };
            let more = next(3) != 0;
            let head = [0u8; 34];
            let v = r.insert(now, k, off, more, &data[..len], (off == 0).then_some(&head[..]), 0, MAX);
            if v == Insert::Complete {
                let (h, total, _) = r.take(&mut out).expect("a complete datagram");
                assert!(h == 34 && total > h);
                complete += 1;
            }
            if i % 97 == 0 {
                r.expire(now);
            }
            if let Err(e) = r.check_invariants() {
                panic!("after piece {i} ({off}, {len}, more {more}): {e}");
            }
        }
        r.expire(now + limits.timeout_ms);
        assert_eq!((r.len(), r.bytes()), (0, 0), "everything goes in the end");
        r.check_invariants().unwrap();
        assert!(complete > 0, "some datagrams completed");
        println!("50,000 random pieces: {complete} datagrams completed, the accounts right after each");
    }
}
