//! The traffic the fast path forwarded for each real server (by its
//! reference slot in the connection table), not yet added to the server's and
//! its service's counters: a packet costs a tag compare and one addition, and
//! the counters are reached once per server and batch (by
//! [`Director::flush_fast_stats`]), however the servers' packets interleave
//! (round robin alternates them).
//!
//! Direct-mapped by the slot's low byte; two servers of one byte take turns
//! (the one leaving is flushed first). The slots in use are listed, so a
//! flush visits those only.

use crate::ipvs::conn::Side;
use crate::ipvs::stats::Tally;
use crate::pipeline::Director;

const SLOTS: usize = 256;
/// No real server's reference slot is this (they are `u16`).
const EMPTY: u32 = u32::MAX;

pub(super) struct Tallies {
    /// The reference slot each entry counts for, or [`EMPTY`].
    dest: [u32; SLOTS],
    /// By side (`Side as usize`: in, out): packets in the high 64 bits, bytes
    /// in the low, so one addition counts both (the bytes between two
    /// flushes never reach 2^64).
    counts: [[u128; 2]; SLOTS],
    /// The entries not [`EMPTY`], `used` of them.
    in_use: [u8; SLOTS],
    used: usize,
}

impl Tallies {
    pub fn new() -> Box<Tallies> {
        Box::new(Tallies { dest: [EMPTY; SLOTS], counts: [[0; 2]; SLOTS], in_use: [0; SLOTS], used: 0 })
    }

    /// Count a packet of `bytes` on `side` in entry `i` (see [`Director::tally_entry`]).
    #[inline(always)]
    pub fn count(&mut self, i: u8, side: Side, bytes: usize) {
        let t = &mut self.counts[i as usize][side as usize & 1];
        *t = t.wrapping_add(1 << 64 | bytes as u128);
    }
}

impl Director {
    /// Count a packet of `bytes` (IP length) forwarded on `side` for the real
    /// server of reference slot `dest`.
    #[inline(always)]
    pub(super) fn tally(&mut self, dest: u16, side: Side, bytes: usize) {
        let i = self.tally_entry(dest);
        self.fast.tallies.count(i, side, bytes);
    }

    /// The entry counting for the real server of reference slot `dest`
    /// (taken for it if need be). It stays its entry until
    /// [`Director::flush_and_clear_tallies`] or a [`Director::tally`] for
    /// another server of the same entry.
    #[inline(always)]
    pub(super) fn tally_entry(&mut self, dest: u16) -> u8 {
        let i = dest as u8;
        if self.fast.tallies.dest[i as usize] != dest as u32 {
            self.take_tally_entry(i as usize, dest);
        }
        i
    }

    /// Entry `i` for `dest`: the server counting there before is flushed.
    #[cold]
    fn take_tally_entry(&mut self, i: usize, dest: u16) {
        let t = &mut self.fast.tallies;
        if t.dest[i] == EMPTY {
            if let Some(u) = t.in_use.get_mut(t.used) {
                *u = i as u8;
                t.used += 1;
            }
        } else if self.fast.tallies.counts[i] != [0; 2] {
            self.flush_tally_entry(i);
        }
        self.fast.tallies.dest[i] = dest as u32;
    }

    /// Entry `i`'s counts to its real server's and service's counters.
    #[inline(never)]
    fn flush_tally_entry(&mut self, i: usize) {
        let t = &mut self.fast.tallies;
        let [inbound, outbound] = t.counts[i];
        t.counts[i] = [0; 2];
        let split = |c: u128| ((c >> 64) as u64, c as u64);
        let ((inpkts, inbytes), (outpkts, outbytes)) = (split(inbound), split(outbound));
        let tally = Tally { inpkts, inbytes, outpkts, outbytes };
        if let Some((d, s)) = u16::try_from(t.dest[i]).ok().and_then(|r| self.conns.dest_and_svc_at(r)) {
            d.stats.add(self.worker, &tally);
            s.stats.add(self.worker, &tally);
        }
    }

    /// The tallied traffic to the real servers' and services' counters (the
    /// entries stay with their servers).
    #[inline]
    pub(super) fn flush_fast_stats(&mut self) {
        for k in 0..self.fast.tallies.used {
            let i = self.fast.tallies.in_use.get(k).map_or(0, |&i| i as usize);
            if self.fast.tallies.counts[i] != [0; 2] {
                self.flush_tally_entry(i);
            }
        }
    }

    /// [`Director::flush_fast_stats`], and every entry emptied. Due before
    /// anything may remove a connection (the general pipeline, the
    /// housekeeping, a clear): that may free the reference slots the entries
    /// name.
    pub(super) fn flush_and_clear_tallies(&mut self) {
        self.flush_fast_stats();
        let t = &mut self.fast.tallies;
        for k in 0..t.used {
            let i = t.in_use.get(k).map_or(0, |&i| i as usize);
            t.dest[i] = EMPTY;
        }
        t.used = 0;
    }
}
