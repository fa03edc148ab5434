//! The established-flow fast path. A batch of frames is handled in two
//! passes: [`Director::prepare`] parses each frame (the common frame only,
//! see `parse.rs`) and looks its connection up, or, in a table larger than
//! the caches ([`DEFER_LOOKUPS_ABOVE_BYTES`]), hashes its key and prefetches
//! the index bucket its lookup reads, [`Director::look_up_prepared`] then
//! looking every flow of the batch up (the buckets arriving meanwhile); the
//! entries found are prefetched, so the table's memory for the whole batch
//! is fetched before the first rewrite; [`Director::process_prepared`] then forwards each frame whose
//! connection is established and whose next hop is cached and fresh, with
//! one combined checksum delta, no TCP state machine (a segment without SYN,
//! FIN or RST leaves ESTABLISHED as it is) and loop-local counters. Frames
//! of one flow that follow each other take the decision of the first of them
//! (a run, `run.rs`); a frame with no frame of its flow after it is decided
//! and forwarded alone.
//!
//! Everything else goes to the general pipeline ([`Director::process`]),
//! untouched: the fast path decides before it changes anything, so the slow
//! path sees the frame as it arrived and gives its own answer. That covers
//! no connection, TTL <= 1, IP options, fragments, SYN/FIN/RST, a state
//! other than ESTABLISHED, ICMP, ARP, sync messages, frames for the host,
//! the backup role, expire_nodest_conn, a next hop not resolved or due for
//! a probe, a packet over the MTU, and a reply from the wrong interface or
//! MAC. The general pipeline may change the tables, so a lookup made in the
//! first pass is redone once it has run.

mod next_hop;
pub mod parse;
mod run;
mod tallies;
#[cfg(test)]
mod tests;

use super::{Director, Reason, Transmit, Verdict};
use crate::api::{FwdMethod, TunType};
use crate::ipvs::conn::Side;
use crate::ipvs::state::ConnState;
use crate::ipvs::xmit::{rewrite::rewrite_common, tun};
use crate::net::IfaceId;
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::ip_protocol::IPPROTO_TCP;
use next_hop::{Hop, NextHops};

/// Frames one [`Director::prepare`] pass can hold; later slots take the general path.
pub const MAX_BATCH: usize = 1024;

/// A connection table larger than this (its entries and index, bytes) has
/// its lookups deferred to the end of the prepare pass, after every
/// frame's index bucket was prefetched ([`FastPath::defer_lookups`]): it is
/// larger than a core's caches, so a lookup waits for memory, and the waits
/// of a batch overlap. A smaller table is mostly in the caches, where the
/// deferral's bookkeeping costs more than it saves (cargo bench
/// `established_many_flows`: a million flows 40-64% cheaper, 1,024 flows
/// 17-31% dearer). The figure is a guess between the two, not a measured
/// crossover.
const DEFER_LOOKUPS_ABOVE_BYTES: usize = 8 << 20;

/// What [`Director::prepare`] left for a frame: 12 bytes, no `Option`s.
#[derive(Clone, Copy)]
struct Slot {
    /// The lookup: the connection found (low half) and [`FastPath::epoch`]
    /// at the lookup (high half), one word to compare with a run's.
    lookup: u64,
    ip_len: u16,
    ingress: IfaceId,
}

impl Slot {
    /// The connection found ([`OUT`] set: by its reply key), or [`MISSING`]
    /// (a common frame of no connection yet) or [`NOT_COMMON`].
    #[inline(always)]
    fn found(&self) -> u32 {
        self.lookup as u32
    }

    #[inline(always)]
    fn epoch(&self) -> u32 {
        (self.lookup >> 32) as u32
    }
}

#[inline(always)]
fn lookup_word(found: u32, epoch: u32) -> u64 {
    found as u64 | (epoch as u64) << 32
}

const OUT: u32 = 1 << 31;
/// `PENDING + k`: the flow whose lookup is the pass's `k`th (see
/// [`FastPath::pending`]), made by [`Director::look_up_prepared`]; read with
/// [`FastPath::resolve`]. Never an id (below 2^24, or with [`OUT`]) nor
/// [`MISSING`] or [`NOT_COMMON`].
const PENDING: u32 = 1 << 30;
const MISSING: u32 = u32::MAX - 1;
const NOT_COMMON: u32 = u32::MAX;
const EMPTY: Slot = Slot { lookup: NOT_COMMON as u64, ip_len: 0, ingress: 0 };

#[inline(always)]
fn encode(found: Option<(u32, Side)>) -> u32 {
    match found {
        Some((id, Side::In)) => id,
        Some((id, Side::Out)) => id | OUT,
        None => MISSING,
    }
}

/// A lookup the prepare pass left for [`Director::look_up_prepared`]: the
/// key as [`crate::ipvs::conn::FlowKey::words`], its hash, and then what it found.
#[derive(Clone, Copy)]
struct Pending {
    words: (u64, u64),
    hash: u64,
    found: u32,
}

const NO_PENDING: Pending = Pending { words: (0, 0), hash: 0, found: MISSING };

/// The latest lookup of the current prepare pass: frames of one flow arriving
/// together (a bulk transfer fills whole receive batches with one flow) pay
/// one lookup between them, the others a compare of two words.
#[derive(Clone, Copy)]
struct LastLookup {
    /// The flow as [`parse::Parsed::raw`] (second word [`parse::NO_RAW`]: none this pass).
    raw: (u64, u64),
    found: u32,
}

/// None: the pass begins, or the tables changed ([`FastPath::tables_changed`]).
const NO_LOOKUP: LastLookup = LastLookup { raw: (0, parse::NO_RAW), found: MISSING };

/// The interface the frames of the current prepare pass arrive on, with its
/// MAC as the parse compares it ([`parse::mac_word`]; [`parse::NO_MAC`]: a
/// frame must take the general path, as to an unknown interface or with the
/// fast path closed).
#[derive(Clone, Copy)]
struct Receiving {
    /// The interface ([`NOT_RECEIVING`]: none yet this pass).
    ingress: u16,
    mac: u64,
}

const NOT_RECEIVING: u16 = u16::MAX;

/// The fast path's state in one [`Director`].
pub(super) struct FastPath {
    slots: Vec<Slot>,
    /// The pass's lookups, one per flow (frames of one flow that follow each
    /// other share one), in the order of their first frames; `pending_len` used.
    pending: Vec<Pending>,
    pending_len: usize,
    /// Prefetch and defer the lookups (see [`DEFER_LOOKUPS_ABOVE_BYTES`]);
    /// otherwise each frame is looked up as it is prepared.
    defer_lookups: bool,
    pub(super) hops: NextHops,
    /// Bumped whenever the general pipeline or the housekeeping runs (either
    /// may add, remove or change connections): see [`Director::fast_tables_change`],
    /// which also ends the current run.
    pub epoch: u32,
    /// Bumped when the route table is replaced.
    pub route_generation: u64,
    /// Frames received and forwarded here, and received and not forwarded
    /// (a drop it answers itself), since the counters were last flushed into
    /// the loop's row.
    forwarded: u64,
    rx_only: u64,
    tallies: Box<tallies::Tallies>,
    /// The decision for the frames of one flow (run.rs).
    run: run::Run,
    last: LastLookup,
    receiving: Receiving,
    /// Off: every frame takes the general path (tests compare the two).
    pub enabled: bool,
    /// `enabled`, and neither the backup role nor expire_nodest_conn (whose
    /// packets the general path answers), as of the last batch start.
    open: bool,
    /// A master sync daemon runs (client packets may be due for a sync message).
    pub sync_master: bool,
    /// Frames this path forwarded itself (tests tell it from the general path by this).
    #[cfg(test)]
    pub hits: u64,
}

impl FastPath {
    /// What a slot's lookup found (an id, with [`OUT`] for the reply key, or
    /// [`MISSING`] / [`NOT_COMMON`]), its pending lookup's result read.
    #[inline(always)]
    fn resolve(&self, found: u32) -> u32 {
        match self.pending.get(found.wrapping_sub(PENDING) as usize) {
            Some(p) => p.found,
            None => found,
        }
    }

    pub fn new() -> Self {
        FastPath {
            slots: vec![EMPTY; MAX_BATCH],
            pending: vec![NO_PENDING; MAX_BATCH],
            pending_len: 0,
            defer_lookups: false,
            hops: NextHops::new(),
            epoch: 0,
            route_generation: 0,
            forwarded: 0,
            rx_only: 0,
            tallies: tallies::Tallies::new(),
            run: run::NONE,
            last: NO_LOOKUP,
            receiving: Receiving { ingress: NOT_RECEIVING, mac: parse::NO_MAC },
            enabled: true,
            open: true,
            sync_master: false,
            #[cfg(test)]
            hits: 0,
        }
    }
}

/// One frame of a [`Director::process_batch`]: its buffer (`len` bytes of
/// frame, the rest room to grow) and, after the call, its verdict.
pub struct BatchFrame<'a> {
    pub ingress: IfaceId,
    pub buf: &'a mut [u8],
    pub len: usize,
    pub verdict: Verdict,
}

impl<'a> BatchFrame<'a> {
    pub fn new(ingress: IfaceId, buf: &'a mut [u8], len: usize) -> Self {
        BatchFrame { ingress, buf, len, verdict: Verdict::Consumed }
    }
}

/// Ask the CPU to bring `p`'s cache line in (a hint: it never faults).
#[inline(always)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: _mm_prefetch only hints the cache; it reads nothing and cannot fault.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p as *const T as *const i8, core::arch::x86_64::_MM_HINT_T0)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl Director {
    /// Handle a batch: every frame is parsed and looked up first, then each is
    /// forwarded by the fast path or handed to [`Director::process`]; each
    /// frame's verdict and length are left in it.
    pub fn process_batch(&mut self, now_ms: u64, frames: &mut [BatchFrame<'_>], tx: &mut impl Transmit) {
        self.open_fast_path();
        for chunk in frames.chunks_mut(MAX_BATCH) {
            self.begin_prepare();
            for (i, f) in chunk.iter().enumerate() {
                let n = f.len.min(f.buf.len());
                self.prepare_next(i, f.ingress, &f.buf[..n]);
            }
            self.look_up_prepared();
            for (i, f) in chunk.iter_mut().enumerate() {
                f.verdict = self.process_prepared(i, now_ms, f.ingress, f.buf, &mut f.len, tx);
            }
        }
        self.flush_fast_counters();
    }

    /// A frame's parse and its connection (or [`MISSING`] / [`NOT_COMMON`]).
    #[inline(always)]
    fn parse_and_look_up(&self, ingress: IfaceId, frame: &[u8]) -> (Option<parse::Parsed>, u32) {
        let parsed = parse::parse(frame, self.receiving_mac(ingress));
        match parsed {
            Some(p) => (parsed, encode(self.conns.lookup(&p.key()))),
            None => (None, NOT_COMMON),
        }
    }

    /// First pass for the frame in batch slot `slot` (0.. [`MAX_BATCH`]):
    /// parse it and ready its connection's lookup. Once every frame of the
    /// batch is prepared, [`Director::look_up_prepared`] makes the lookups;
    /// then the same frame must go to [`Director::process_prepared`] with the
    /// same slot, in the same batch.
    #[inline]
    pub fn prepare(&mut self, slot: usize, ingress: IfaceId, frame: &[u8]) {
        if slot == 0 {
            self.begin_prepare();
        }
        self.prepare_next(slot, ingress, frame);
    }

    /// A prepare pass begins: nothing of the last one is reused.
    #[inline(always)]
    fn begin_prepare(&mut self) {
        let f = &mut self.fast;
        f.receiving.ingress = NOT_RECEIVING;
        // The last flow of the pass before stays the pass's first pending
        // lookup (made again: the tables may have changed between passes), so
        // a flow that fills batch after batch keeps its run: a run is known by
        // its first frame's lookup word, which names the pending lookup.
        let k = f.last.found.wrapping_sub(PENDING) as usize;
        match f.pending.get(k) {
            Some(&p) if k < f.pending_len => {
                f.pending[0] = p;
                f.pending_len = 1;
                f.last.found = PENDING;
                f.run.renumber(PENDING + k as u32, PENDING);
            }
            _ => {
                f.last = NO_LOOKUP;
                f.pending_len = 0;
                f.run.end_if_pending();
            }
        }
    }

    /// The lookups of the prepare pass, in one go after it: each frame's
    /// index bucket was prefetched when it was prepared, so by now the first
    /// ones have arrived; each entry found is prefetched for the second pass.
    #[inline(always)]
    pub fn look_up_prepared(&mut self) {
        let n = self.fast.pending_len.min(self.fast.pending.len());
        for k in 0..n {
            let p = self.fast.pending[k];
            let found = encode(self.conns.lookup_by_words(p.words, p.hash));
            if found < MISSING {
                prefetch(self.conns.get(found & !OUT));
            }
            self.fast.pending[k].found = found;
        }
    }

    /// [`Director::prepare`] for a slot after [`Director::begin_prepare`].
    #[inline(always)]
    fn prepare_next(&mut self, slot: usize, ingress: IfaceId, frame: &[u8]) {
        let r = self.fast.receiving;
        let mac = if r.ingress == ingress as u16 {
            r.mac
        } else {
            let mac = self.receiving_mac(ingress);
            self.fast.receiving = Receiving { ingress: ingress as u16, mac };
            mac
        };
        let parsed = parse::parse(frame, mac);
        let epoch = self.fast.epoch;
        let (found, ip_len) = match parsed {
            Some(p) => {
                let last = &self.fast.last;
                let found = if last.raw == p.raw {
                    // The same flow as the frame before: one lookup for both.
                    last.found
                } else if !self.fast.defer_lookups {
                    let found = encode(self.conns.lookup(&p.key()));
                    self.fast.last = LastLookup { raw: p.raw, found };
                    if found < MISSING {
                        prefetch(self.conns.get(found & !OUT));
                    }
                    found
                } else {
                    let words = p.key().words();
                    let hash = self.conns.hash_words(words);
                    let k = self.fast.pending_len;
                    let found = match self.fast.pending.get_mut(k) {
                        Some(slot) => {
                            *slot = Pending { words, hash, found: MISSING };
                            self.fast.pending_len = k + 1;
                            self.conns.prefetch_lookup(hash);
                            PENDING + k as u32
                        }
                        // (Not reached: a pass has at most MAX_BATCH frames.)
                        None => encode(self.conns.lookup_by_words(words, hash)),
                    };
                    self.fast.last = LastLookup { raw: p.raw, found };
                    found
                };
                (found, p.ip_len)
            }
            None => (NOT_COMMON, 0),
        };
        if let Some(s) = self.fast.slots.get_mut(slot) {
            *s = Slot { lookup: lookup_word(found, epoch), ip_len, ingress };
        }
    }

    /// The MAC frames to `ingress` must carry to take the fast path, as the parse compares it.
    #[inline(always)]
    fn receiving_mac(&self, ingress: IfaceId) -> u64 {
        match self.ifaces.0.get(ingress as usize) {
            // A trunk's frames carry tags the parse does not read (vlan.rs).
            Some(i) if self.fast.open && i.vlan == 0 => parse::mac_word(&i.mac),
            _ => parse::NO_MAC,
        }
    }

    /// Second pass: forward the frame prepared in `slot` by the fast path, or
    /// hand it to the general pipeline. As [`Director::process`].
    #[inline(always)]
    pub fn process_prepared(
        &mut self,
        slot: usize,
        now_ms: u64,
        ingress: IfaceId,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        if let Some(v) = self.fast_forward(slot, now_ms, ingress, buf, len, tx) {
            return v;
        }
        self.process_counted(now_ms, ingress, buf, len, tx, true)
    }

    /// Decide whether the prepare pass defers its lookups, by the connection
    /// table's size ([`DEFER_LOOKUPS_ABOVE_BYTES`]); tests take the deferred
    /// way whatever the size, the way that is new.
    pub(super) fn size_lookups(&mut self) {
        self.fast.defer_lookups = cfg!(test) || self.conns.bytes() > DEFER_LOOKUPS_ABOVE_BYTES;
    }

    /// Defer the prepare pass's lookups (prefetching every bucket first) or
    /// make each as its frame is prepared, whatever the table's size (tests
    /// take each way).
    #[cfg(test)]
    pub(crate) fn set_deferred_lookups(&mut self, on: bool) {
        self.fast.defer_lookups = on;
        self.fast.end_run();
        self.fast.last = NO_LOOKUP;
        self.fast.pending_len = 0;
    }

    /// Turn the fast path off (every frame then takes the general path) or on.
    pub fn set_fast_path(&mut self, on: bool) {
        self.fast.enabled = on;
        self.open_fast_path();
    }

    /// Decide, once per batch (role and sysctls change only between batches),
    /// whether frames may take the fast path at all.
    #[inline]
    pub(super) fn open_fast_path(&mut self) {
        let open = self.fast.enabled && !self.backup && !self.sysctl.expire_nodest_conn();
        if open != self.fast.open {
            self.fast.end_run();
        }
        self.fast.open = open;
    }

    /// Add the fast path's loop-local counts to the loop's counter row, and
    /// its tallied traffic to the real servers' and services' counters.
    pub fn flush_fast_counters(&mut self) {
        self.flush_fast_stats();
        let f = &mut self.fast;
        let rx = f.forwarded + f.rx_only;
        if rx != 0 {
            self.shared.counters.add(self.worker, Reason::RxFrames, rx);
        }
        if f.forwarded != 0 {
            self.shared.counters.add(self.worker, Reason::TxFrames, f.forwarded);
        }
        (f.forwarded, f.rx_only) = (0, 0);
    }

    /// Count a frame the general pipeline handled for [`Director::process_prepared`]
    /// as [`Director::process`] counts it, its reception and forwarding in the
    /// loop-local counts ([`Director::flush_fast_counters`] adds them).
    #[inline(always)]
    pub(super) fn count_in_loop(&mut self, v: Verdict) {
        match v {
            Verdict::Forward(_) => self.fast.forwarded += 1,
            Verdict::Drop(r) => {
                self.fast.rx_only += 1;
                self.count(r);
            }
            Verdict::Consumed => self.fast.rx_only += 1,
        }
    }

    /// Due when what a run decided on may change between batches (a rule
    /// set, timeouts, the sync daemon, the routes): the current run ends.
    #[inline]
    pub(super) fn end_fast_run(&mut self) {
        self.fast.end_run();
    }

    /// Due before anything that may change the connections, the neighbours or
    /// the routes (the general pipeline, the housekeeping, a clear): the
    /// tallied traffic goes to its counters (a removal may free the reference
    /// slots the tallies name), the prepare pass's lookups are to be made
    /// again and the current run ends.
    #[inline]
    pub(super) fn fast_tables_change(&mut self) {
        self.flush_and_clear_tallies();
        let f = &mut self.fast;
        f.epoch = f.epoch.wrapping_add(1);
        f.last = NO_LOOKUP;
        f.end_run();
    }

    /// The way to `addr` as the general path would find it now, from the
    /// cache or refilled from the route and neighbour tables: its cache slot.
    #[inline(always)]
    pub(super) fn hop(&mut self, addr: u32) -> Option<u8> {
        let generations = (self.neigh.generation(), self.fast.route_generation);
        match self.fast.hops.find(addr, generations) {
            Some(i) => Some(i),
            None => self.refill_hop(addr, generations),
        }
    }

    #[cold]
    fn refill_hop(&mut self, addr: u32, generations: (u64, u64)) -> Option<u8> {
        let nh = self.routes.lookup(addr)?;
        let i = self.ifaces.get(nh.iface);
        let mac = self.neigh.reachable(nh.iface, nh.addr);
        // Out by a VLAN the frame needs a tag, which only the general path
        // (vlan.rs) writes: an MTU of 0 sends every such packet there.
        let mtu = if i.vlan == 0 { i.mtu } else { 0 };
        Some(self.fast.hops.put(Hop::new(addr, nh.iface, nh.addr, mac, i.mac, mtu, i.source_for(addr), generations)))
    }

    /// A lookup made before the general pipeline ran, made again (from the
    /// frame, which nothing has changed since).
    #[cold]
    fn look_up_again(&self, ingress: IfaceId, frame: &[u8]) -> (u32, u16) {
        match self.parse_and_look_up(ingress, frame) {
            (Some(p), found) => (found, p.ip_len),
            (None, found) => (found, 0),
        }
    }

    /// The fast path proper: `None` (with nothing changed) when the frame
    /// must take the general path. A frame of the current run (run.rs) takes
    /// its decision; one whose next frame is of its flow starts a run; any
    /// other is decided and forwarded alone.
    #[inline(always)]
    fn fast_forward(
        &mut self,
        slot: usize,
        now_ms: u64,
        ingress: IfaceId,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
    ) -> Option<Verdict> {
        let s = *self.fast.slots.get(slot)?;
        if s.found() == NOT_COMMON || s.ingress != ingress {
            return None;
        }
        let ip_len = s.ip_len as usize;
        if self.fast.continues_run(s, ingress, now_ms) {
            if !self.fast.run.admits(buf, *len, ip_len) {
                return None;
            }
        } else if self.fast.slots.get(slot + 1).is_some_and(|n| n.lookup == s.lookup) {
            self.start_run(s, now_ms, ingress, buf, *len)?;
        } else {
            return self.forward_alone(s, now_ms, ingress, buf, len, tx);
        }
        Some(self.forward_in_run(now_ms, ip_len, buf, len, tx))
    }

    /// The way the frame of slot `s` (`len` bytes in `buf`) takes, checked
    /// for this frame: `None` when it must take the general path. Changes
    /// nothing but the next-hop cache (filled).
    #[inline(always)]
    fn way(&mut self, s: Slot, now_ms: u64, ingress: IfaceId, buf: &[u8], len: usize) -> Option<Way> {
        if len > buf.len() {
            return None;
        }
        let found = if s.epoch() == self.fast.epoch {
            self.fast.resolve(s.found())
        } else {
            self.look_up_again(ingress, &buf[..len]).0
        };
        let ip_len = s.ip_len as usize;
        if found >= MISSING || len < ETH + ip_len {
            return None;
        }
        let (id, side) = if found & OUT == 0 { (found, Side::In) } else { (found & !OUT, Side::Out) };
        // Only what the decision needs; the rest is read for the rewrite.
        let (fwd, daddr, caddr) = {
            let c = self.conns.get(id);
            if c.proto == IPPROTO_TCP && c.state != ConnState::Established {
                return None;
            }
            // A local real server's packets go to the host stack (local_node.rs).
            if c.local_node() {
                return None;
            }
            (c.fwd(), c.daddr, c.caddr)
        };
        let server = self.hop(daddr)?;
        let (out, extra) = match side {
            Side::In => {
                // DR needs the real server on a connected segment.
                if fwd == FwdMethod::Route && self.fast.hops.at(server).nexthop != daddr {
                    return None;
                }
                if fwd == FwdMethod::Tunnel {
                    // The cache holds IPIP's outer header only: GUE and GRE take the
                    // general path (lb.rs), which writes their headers in full.
                    if self.conns.dest_of(id).is_some_and(|d| d.tun().kind != TunType::Ipip) {
                        return None;
                    }
                    (server, tun::OUTER_LEN)
                } else {
                    (server, 0)
                }
            }
            Side::Out => {
                // The reply filter (reply_filter.rs): the server's interface and MAC.
                let h = self.fast.hops.at(server);
                if h.iface != ingress || (h.mac_known && buf.get(6..12) != Some(&h.eth_dst()[..])) {
                    return None;
                }
                if !matches!(fwd, FwdMethod::Masq | FwdMethod::FullNat) {
                    return None;
                }
                (self.hop(caddr)?, 0)
            }
        };
        let h = self.fast.hops.at(out);
        if !h.fresh(now_ms) || ip_len + extra > h.mtu as usize {
            return None;
        }
        if extra != 0 && buf.len() < ETH + ip_len + extra {
            return None;
        }
        Some(Way { id, side, fwd, server, out, extra })
    }

    /// The steps a forwarded frame of connection `w.id` takes once per run
    /// (for a frame alone, once): the connection touched and its expiry
    /// moved on.
    #[inline(always)]
    fn commit_way(&mut self, w: &Way, now_ms: u64) {
        // A touch of one connection between frames of a run may change what
        // the next touch does (a reply seen): the run ends.
        self.fast.end_run();
        self.conns.touch(w.id, w.side, now_ms);
        let timeout = self.timeout_for(w.id);
        self.conns.set_expiry(w.id, now_ms + timeout as u64);
    }

    /// Decide for the frame of slot `s` and forward it, alone (no frame of
    /// its flow follows it): nothing is kept for the next frame.
    #[inline(always)]
    fn forward_alone(
        &mut self,
        s: Slot,
        now_ms: u64,
        ingress: IfaceId,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
    ) -> Option<Verdict> {
        let w = self.way(s, now_ms, ingress, buf, *len)?;
        // Committed: from here on the packet is forwarded, as the general path would.
        self.commit_way(&w, now_ms);
        let (id, side, ip_len) = (w.id, w.side, s.ip_len as usize);
        if side == Side::In && self.fast.sync_master {
            self.sync_fast_packet(now_ms, id, tx);
        }
        let dest = self.conns.get(id).dest_ref();
        self.tally(dest, side, ip_len);
        let mut new_len = ETH + ip_len;
        let pkt = &mut buf[ETH..new_len];
        let c = *self.conns.get(id);
        match (side, w.fwd) {
            (Side::In, FwdMethod::Masq) => rewrite_common(pkt, c.proto, None, Some((c.daddr, c.dport))),
            (Side::In, FwdMethod::FullNat) => {
                let laddr = self.conns.laddr_of(id);
                rewrite_common(pkt, c.proto, Some((laddr, c.lport)), Some((c.daddr, c.dport)))
            }
            (Side::In, FwdMethod::Route) => {}
            (Side::In, FwdMethod::Tunnel) => {
                self.ip_ident = self.ip_ident.wrapping_add(1);
                // The hop towards the real server holds its outer header.
                let h = self.fast.hops.at(w.out);
                match h.tunnel.encapsulate(buf, ETH, ip_len, h.source, h.addr, self.ip_ident) {
                    Some(n) => new_len = ETH + n,
                    // Not reached (room and size were checked above); as the general path.
                    None => {
                        self.fast.rx_only += 1;
                        self.count(Reason::TooBig);
                        return Some(Verdict::Drop(Reason::TooBig));
                    }
                }
            }
            (Side::Out, FwdMethod::Masq) => rewrite_common(pkt, c.proto, Some((c.vaddr, c.vport)), None),
            (Side::Out, _) => rewrite_common(pkt, c.proto, Some((c.vaddr, c.vport)), Some((c.caddr, c.cport))),
        }
        let h = self.fast.hops.at(w.out);
        let (out_iface, eth) = (h.iface, h.eth);
        if let Some(e) = buf.first_chunk_mut::<12>() {
            *e = eth;
        }
        *len = new_len;
        self.fast.forwarded += 1;
        #[cfg(test)]
        {
            self.fast.hits += 1;
        }
        Some(Verdict::Forward(out_iface))
    }
}

/// What [`Director::way`] found for a frame: its connection and side, how it
/// is forwarded, the next-hop cache slots of its real server and of the way
/// out, and the bytes the encapsulation adds.
#[derive(Clone, Copy)]
struct Way {
    id: u32,
    side: Side,
    fwd: FwdMethod,
    server: u8,
    out: u8,
    extra: usize,
}
