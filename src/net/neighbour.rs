//! The neighbour table: resolved next hops, probes for unresolved ones,
//! a bounded hold queue for packets waiting on a resolution, and ageing.
//! One table per address family: ARP's for IPv4 (`NeighbourTable<u32>`),
//! neighbour discovery's for IPv6 (`NeighbourTable<u128>`, RFC 4861's
//! INCOMPLETE, REACHABLE, PROBE and unreachable states map onto the same
//! ones); only the source prefix a resolution is rate-limited by differs
//! ([`NeighbourAddr::prefix_bucket`]).
//!
//! Under pressure it behaves like Linux's neighbour gc (net/core/neighbour.c):
//! a full table evicts a batch (down to seven eighths, as gc_thresh3 forces
//! a gc down to gc_thresh2) taking failed entries first, then incomplete
//! ones, then stale ones, each oldest first, and never an entry confirmed
//! within [`REACHABLE_MS`]; failed entries live seconds, not minutes. New
//! resolutions (each a broadcast ARP request and up to [`MAX_PROBES`] in
//! all) draw on a token bucket, so a flood of packets towards addresses
//! nobody answers for cannot make the director spray ARP; a target that
//! failed is not asked again within [`FAILED_HOLDOFF_MS`].
//!
//! Everything is sized at construction; nothing allocates per packet.

use super::IfaceId;
use crate::wire::ethernet::Mac;
use hashbrown::HashMap;

/// Re-confirm an entry older than this (a unicast probe; the MAC stays in use).
/// An entry confirmed within this is never evicted.
pub const REACHABLE_MS: u64 = 30_000;
/// Forget an entry that has not been confirmed for this long.
pub const STALE_MAX_MS: u64 = 300_000;
/// Retransmit an unanswered request after this long...
pub const PROBE_INTERVAL_MS: u64 = 1_000;
/// ...this many times, then give up on the held packets.
pub const MAX_PROBES: u8 = 3;
/// After giving up, refuse to queue for that neighbour this long.
pub const FAILED_HOLDOFF_MS: u64 = 1_000;
/// A failed entry is forgotten after this (Linux drops FAILED entries at its
/// next periodic gc); it only serves the hold-off and the admin listing.
pub const FAILED_KEEP_MS: u64 = 5_000;
/// New resolutions allowed per second for the addresses of one source
/// prefix (a /24 or an IPv6 /64, hashed to one of [`RESOLVE_BUCKETS`]
/// buckets per table)...
pub const RESOLVE_PER_SEC: u64 = 100;
/// ...and in a burst.
pub const RESOLVE_BURST: u64 = 100;
/// Why per prefix, not one bucket per table: a spoofed flood from some
/// prefixes then spends only their tokens, and a client from another prefix
/// still gets its ARP request out (with one shared bucket it won a token by
/// chance, about one try in five against a 1,000/s flood). Bounds the
/// requests a table sends to RESOLVE_BUCKETS * RESOLVE_PER_SEC a second.
pub const RESOLVE_BUCKETS: usize = 64;
/// The bits of an IPv4 address below its source prefix (a /24).
const RESOLVE_PREFIX_SHIFT: u32 = 8;
/// Packets held per unresolved neighbour (Linux's default unres_qlen is 3ish).
/// The fragments rvs cuts one datagram into count as one packet: held all
/// together or not at all, as Linux, which bounds its queue by bytes
/// (unres_qlen_bytes), holds a whole datagram's fragments.
pub const HOLD_PER_NEIGHBOUR: usize = 3;
/// Largest frame the hold queue keeps.
pub const HOLD_SLOT_BYTES: usize = 2048;

#[derive(Debug, Clone, Copy)]
enum State {
    Incomplete { probes: u8, since_ms: u64, last_probe_ms: u64 },
    Reachable { mac: Mac, confirmed_ms: u64, last_probe_ms: u64 },
    Failed { since_ms: u64 },
}

impl State {
    /// Eviction order: lower class first, then older first. `None`: never
    /// evicted (confirmed lately).
    fn eviction_rank(&self, now_ms: u64) -> Option<(u8, u64)> {
        match *self {
            State::Failed { since_ms } => Some((0, since_ms)),
            State::Incomplete { since_ms, .. } => Some((1, since_ms)),
            State::Reachable { confirmed_ms, .. } if now_ms.saturating_sub(confirmed_ms) > REACHABLE_MS => {
                Some((2, confirmed_ms))
            }
            State::Reachable { .. } => None,
        }
    }

    fn name(&self, now_ms: u64) -> &'static str {
        match self.eviction_rank(now_ms) {
            Some((0, _)) => "FAILED",
            Some((1, _)) => "INCOMPLETE",
            Some(_) => "STALE",
            None => "REACHABLE",
        }
    }
}

/// What the caller should do with a packet for this next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Send now with this MAC.
    Ready(Mac),
    /// Send now with this MAC, and also send a unicast ARP probe to it.
    ReadyProbe(Mac),
    /// Hold the packet and broadcast an ARP request.
    HoldAndRequest,
    /// Hold the packet; a request is already out.
    Hold,
    /// The neighbour did not answer lately: drop.
    Unreachable,
    /// The table is full of entries too fresh to evict: drop.
    TableFull,
    /// Too many new resolutions lately: drop, ask nobody.
    RateLimited,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct NeighbourStats {
    pub held: u64,
    pub hold_overflow: u64,
    pub released: u64,
    pub timed_out: u64,
    /// Entries evicted to make room.
    pub evicted: u64,
    /// New resolutions refused by the rate limit.
    pub rate_limited: u64,
}

/// One entry as the admin listing shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourView<A = u32> {
    pub iface: IfaceId,
    pub ip: A,
    /// Known for REACHABLE and STALE entries only.
    pub mac: Option<Mac>,
    /// REACHABLE, STALE, INCOMPLETE or FAILED (as `ip neigh` names them).
    pub state: &'static str,
}

#[derive(Clone, Copy)]
struct HoldSlot<A> {
    used: bool,
    iface: IfaceId,
    ip: A,
    len: u16,
    /// The packet this frame is (a piece of): 0 for a frame held alone.
    packet: u32,
    /// The first frame held of its packet (what the per-neighbour count counts).
    first: bool,
}

/// One piece of a packet cut into several frames, for [`NeighbourTable::hold`]:
/// its packet (from [`NeighbourTable::new_packet`]) and how many pieces it has.
#[derive(Debug, Clone, Copy)]
pub struct Piece {
    pub packet: u32,
    pub pieces: usize,
}

#[derive(Clone, Copy)]
struct TokenBucket {
    tokens: u64,
    since_ms: u64,
}

/// An address a neighbour table resolves: IPv4's (`u32`) or IPv6's (`u128`),
/// in host order.
pub trait NeighbourAddr: Copy + Eq + std::hash::Hash + Default + std::fmt::Display {
    /// The bucket of this address's source prefix (Fibonacci hashing of the
    /// prefix), among [`RESOLVE_BUCKETS`].
    fn prefix_bucket(self) -> usize;
}

const BUCKET_SHIFT: u32 = RESOLVE_BUCKETS.trailing_zeros();

impl NeighbourAddr for u32 {
    fn prefix_bucket(self) -> usize {
        ((self >> RESOLVE_PREFIX_SHIFT).wrapping_mul(0x9e37_79b9) >> (32 - BUCKET_SHIFT)) as usize
    }
}

impl NeighbourAddr for u128 {
    /// By the /64 (a LAN's prefix under SLAAC): one host's many addresses
    /// share a bucket.
    fn prefix_bucket(self) -> usize {
        (((self >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - BUCKET_SHIFT)) as usize
    }
}

/// An eviction candidate: (class, timestamp, key).
type Candidate<A> = (u8, u64, (IfaceId, A));

pub struct NeighbourTable<A: NeighbourAddr = u32> {
    entries: HashMap<(IfaceId, A), State>,
    capacity: usize,
    slots: Vec<HoldSlot<A>>,
    data: Vec<u8>,
    /// Scratch for choosing evictions, sized once.
    candidates: Vec<Candidate<A>>,
    /// Per source prefix: resolution tokens left, and when last topped up.
    buckets: [TokenBucket; RESOLVE_BUCKETS],
    pub stats: NeighbourStats,
    /// The last packet number handed out, and the packet whose first piece was
    /// refused (its later pieces are refused too: no part of a datagram waits).
    last_packet: u32,
    refused_packet: u32,
    /// Bumped by every change to an entry (learnt, added, evicted, aged, gave
    /// up): a cache of this table's answers is good while it is unchanged.
    generation: u64,
}

impl<A: NeighbourAddr> NeighbourTable<A> {
    pub fn new(capacity: usize, hold_slots: usize) -> Self {
        let capacity = capacity.max(1);
        NeighbourTable {
            entries: HashMap::with_capacity(capacity),
            capacity,
            slots: vec![
                HoldSlot { used: false, iface: 0, ip: A::default(), len: 0, packet: 0, first: false };
                hold_slots
            ],
            data: vec![0; hold_slots * HOLD_SLOT_BYTES],
            candidates: Vec::with_capacity(capacity),
            buckets: [TokenBucket { tokens: RESOLVE_BURST, since_ms: 0 }; RESOLVE_BUCKETS],
            stats: NeighbourStats::default(),
            last_packet: 0,
            refused_packet: 0,
            generation: 0,
        }
    }

    /// See [`NeighbourTable`]'s `generation`: any change to any entry moves it.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A resolved neighbour's MAC and the last millisecond at which
    /// [`NeighbourTable::resolve`] still answers `Ready` for it without a
    /// probe; read only (a cache fills itself from this).
    pub fn reachable(&self, iface: IfaceId, ip: A) -> Option<(Mac, u64)> {
        match self.entries.get(&(iface, ip)) {
            Some(State::Reachable { mac, confirmed_ms, .. }) => Some((*mac, confirmed_ms.saturating_add(REACHABLE_MS))),
            _ => None,
        }
    }

    pub fn resolve(&mut self, iface: IfaceId, ip: A, now_ms: u64) -> Resolution {
        match self.entries.get_mut(&(iface, ip)) {
            Some(State::Reachable { mac, confirmed_ms, last_probe_ms }) => {
                if now_ms.saturating_sub(*confirmed_ms) > REACHABLE_MS
                    && now_ms.saturating_sub(*last_probe_ms) >= PROBE_INTERVAL_MS
                {
                    *last_probe_ms = now_ms;
                    Resolution::ReadyProbe(*mac)
                } else {
                    Resolution::Ready(*mac)
                }
            }
            Some(State::Incomplete { .. }) => Resolution::Hold,
            Some(State::Failed { since_ms }) => {
                if now_ms.saturating_sub(*since_ms) < FAILED_HOLDOFF_MS {
                    Resolution::Unreachable
                } else if !self.take_token(ip, now_ms) {
                    Resolution::RateLimited
                } else {
                    self.generation += 1;
                    self.entries
                        .insert((iface, ip), State::Incomplete { probes: 1, since_ms: now_ms, last_probe_ms: now_ms });
                    Resolution::HoldAndRequest
                }
            }
            None => {
                if !self.take_token(ip, now_ms) {
                    return Resolution::RateLimited;
                }
                if self.entries.len() >= self.capacity {
                    let target = self.capacity - self.capacity / 8;
                    self.evict(now_ms, self.entries.len() + 1 - target.min(self.entries.len()));
                    if self.entries.len() >= self.capacity {
                        // Nothing could go: give the token back.
                        let b = &mut self.buckets[ip.prefix_bucket()];
                        b.tokens = (b.tokens + 1).min(RESOLVE_BURST);
                        return Resolution::TableFull;
                    }
                }
                self.generation += 1;
                self.entries
                    .insert((iface, ip), State::Incomplete { probes: 1, since_ms: now_ms, last_probe_ms: now_ms });
                Resolution::HoldAndRequest
            }
        }
    }

    /// Token bucket for new resolutions: [`RESOLVE_PER_SEC`] a second, at
    /// most [`RESOLVE_BURST`] saved up.
    fn take_token(&mut self, ip: A, now_ms: u64) -> bool {
        let b = &mut self.buckets[ip.prefix_bucket()];
        let elapsed = now_ms.saturating_sub(b.since_ms);
        let earned = elapsed * RESOLVE_PER_SEC / 1000;
        if earned > 0 {
            b.tokens = (b.tokens + earned).min(RESOLVE_BURST);
            // Keep the fraction of a token not yet earned.
            b.since_ms = if b.tokens == RESOLVE_BURST { now_ms } else { b.since_ms + earned * 1000 / RESOLVE_PER_SEC };
        }
        if b.tokens == 0 {
            self.stats.rate_limited += 1;
            return false;
        }
        b.tokens -= 1;
        true
    }

    /// Evict up to `count` entries: failed first, then incomplete, then
    /// stale, each oldest first; never one confirmed within
    /// [`REACHABLE_MS`]. Packets held for an evicted entry are dropped.
    /// Returns how many went. One pass over the table, no allocation.
    pub fn evict(&mut self, now_ms: u64, count: usize) -> usize {
        if count == 0 {
            return 0;
        }
        let mut cands = std::mem::take(&mut self.candidates);
        cands.clear();
        cands.extend(
            self.entries.iter().filter_map(|(&k, st)| st.eviction_rank(now_ms).map(|(class, ts)| (class, ts, k))),
        );
        let n = count.min(cands.len());
        if n > 0 && n < cands.len() {
            cands.select_nth_unstable_by_key(n - 1, |&(class, ts, _)| (class, ts));
        }
        self.generation += 1;
        for &(_, _, (iface, ip)) in &cands[..n] {
            self.entries.remove(&(iface, ip));
            self.drop_held(iface, ip);
        }
        self.stats.evicted += n as u64;
        cands.clear();
        self.candidates = cands;
        n
    }
    /// The MAC of a resolved neighbour, without touching its state.
    pub fn known_mac(&self, iface: IfaceId, ip: A) -> Option<Mac> {
        match self.entries.get(&(iface, ip)) {
            Some(State::Reachable { mac, .. }) => Some(*mac),
            _ => None,
        }
    }

    /// A number for the pieces of one packet about to be held ([`Piece`]).
    pub fn new_packet(&mut self) -> u32 {
        self.last_packet = self.last_packet.wrapping_add(1).max(1);
        self.last_packet
    }

    /// Copy a frame into the hold queue (its Ethernet destination is filled
    /// in on release). False when the neighbour's share or the pool is full.
    /// A `piece` of a packet is held only if every piece of it will be: its
    /// first needs room for them all (nothing else is held while its pieces
    /// come), and once its first is refused so is the rest.
    pub fn hold(&mut self, iface: IfaceId, ip: A, frame: &[u8], piece: Option<Piece>) -> bool {
        let waiting = matches!(self.entries.get(&(iface, ip)), Some(State::Incomplete { .. }));
        let packet = piece.map_or(0, |p| p.packet);
        let mine = |s: &HoldSlot<A>| s.used && s.iface == iface && s.ip == ip;
        let continuing = packet != 0 && self.slots.iter().any(|s| mine(s) && s.packet == packet);
        let room = if continuing {
            true
        } else {
            let packets = self.slots.iter().filter(|s| mine(s) && s.first).count();
            let need = piece.map_or(1, |p| p.pieces.max(1));
            packets < HOLD_PER_NEIGHBOUR && self.slots.iter().filter(|s| !s.used).take(need).count() == need
        };
        let free = self.slots.iter().position(|s| !s.used);
        match free {
            Some(i)
                if waiting
                    && room
                    && frame.len() <= HOLD_SLOT_BYTES
                    && (packet == 0 || packet != self.refused_packet) =>
            {
                self.slots[i] = HoldSlot { used: true, iface, ip, len: frame.len() as u16, packet, first: !continuing };
                self.data[i * HOLD_SLOT_BYTES..i * HOLD_SLOT_BYTES + frame.len()].copy_from_slice(frame);
                self.stats.held += 1;
                true
            }
            _ => {
                if packet != 0 {
                    self.refused_packet = packet;
                }
                self.stats.hold_overflow += 1;
                false
            }
        }
    }

    /// Record `ip is-at mac` heard on `iface`. Only neighbours we asked about
    /// or already know are recorded, so unsolicited ARP cannot fill the table.
    /// Held packets for it are handed to `release` with their MAC set.
    pub fn learn(&mut self, iface: IfaceId, ip: A, mac: Mac, now_ms: u64, mut release: impl FnMut(&mut [u8])) {
        let Some(state) = self.entries.get_mut(&(iface, ip)) else {
            return;
        };
        let was_waiting = matches!(state, State::Incomplete { .. });
        self.generation += 1;
        *state = State::Reachable { mac, confirmed_ms: now_ms, last_probe_ms: now_ms };
        if !was_waiting {
            return;
        }
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.used && s.iface == iface && s.ip == ip {
                let frame = &mut self.data[i * HOLD_SLOT_BYTES..i * HOLD_SLOT_BYTES + s.len as usize];
                frame[0..6].copy_from_slice(&mac);
                release(frame);
                s.used = false;
                self.stats.released += 1;
            }
        }
    }

    /// Once a second or so: retransmit requests, give up on silent neighbours
    /// (dropping what they held), forget entries unconfirmed for too long.
    pub fn tick(&mut self, now_ms: u64, mut request: impl FnMut(IfaceId, A)) {
        let mut gave_up = [(0u8, A::default()); 16];
        let mut n_gave_up = 0;
        // Ageing may forget or fail any entry; one bump per tick (a few a second) is
        // cheaper than telling which changed.
        self.generation += 1;
        self.entries.retain(|&(iface, ip), st| match st {
            State::Incomplete { probes, last_probe_ms, .. } => {
                if now_ms.saturating_sub(*last_probe_ms) < PROBE_INTERVAL_MS {
                    return true;
                }
                if *probes >= MAX_PROBES {
                    if n_gave_up < gave_up.len() {
                        gave_up[n_gave_up] = (iface, ip);
                        n_gave_up += 1;
                    }
                    *st = State::Failed { since_ms: now_ms };
                } else {
                    *probes += 1;
                    *last_probe_ms = now_ms;
                    request(iface, ip);
                }
                true
            }
            State::Reachable { confirmed_ms, .. } => now_ms.saturating_sub(*confirmed_ms) <= STALE_MAX_MS,
            State::Failed { since_ms } => now_ms.saturating_sub(*since_ms) <= FAILED_KEEP_MS,
        });
        for &(iface, ip) in &gave_up[..n_gave_up] {
            self.drop_held(iface, ip);
        }
        // Anything left held for a neighbour that is no longer waiting is stale.
        for s in self.slots.iter_mut() {
            if s.used && !matches!(self.entries.get(&(s.iface, s.ip)), Some(State::Incomplete { .. })) {
                s.used = false;
                self.stats.timed_out += 1;
            }
        }
    }

    fn drop_held(&mut self, iface: IfaceId, ip: A) {
        for s in self.slots.iter_mut() {
            if s.used && s.iface == iface && s.ip == ip {
                s.used = false;
                self.stats.timed_out += 1;
            }
        }
    }

    /// (iface, ip, mac) of every resolved neighbour.
    pub fn resolved(&self) -> Vec<(IfaceId, A, Mac)> {
        self.entries
            .iter()
            .filter_map(|(&(i, ip), st)| match st {
                State::Reachable { mac, .. } => Some((i, ip, *mac)),
                _ => None,
            })
            .collect()
    }

    /// Every entry with its state, for the admin listing.
    pub fn views(&self, now_ms: u64) -> Vec<NeighbourView<A>> {
        self.entries
            .iter()
            .map(|(&(iface, ip), st)| NeighbourView {
                iface,
                ip,
                mac: match st {
                    State::Reachable { mac, .. } => Some(*mac),
                    _ => None,
                },
                state: st.name(now_ms),
            })
            .collect()
    }

    /// The table's promises, for tests and fuzzing: within capacity, every
    /// entry's fields consistent, every held packet waiting on an
    /// incomplete entry (at most [`HOLD_PER_NEIGHBOUR`] each), every held
    /// packet accounted for, the rate limit within its burst.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.entries.len() > self.capacity {
            return Err(format!("{} entries in a table of {}", self.entries.len(), self.capacity));
        }
        if self.candidates.capacity() < self.capacity {
            return Err("the eviction scratch shrank".into());
        }
        if let Some(b) = self.buckets.iter().find(|b| b.tokens > RESOLVE_BURST) {
            return Err(format!("{} resolution tokens, burst {}", b.tokens, RESOLVE_BURST));
        }
        for (&(iface, ip), st) in &self.entries {
            match *st {
                State::Incomplete { probes, since_ms, last_probe_ms } => {
                    if probes == 0 || probes > MAX_PROBES || last_probe_ms < since_ms {
                        return Err(format!(
                            "{iface}/{ip}: incomplete with {probes} probes, {since_ms}..{last_probe_ms}"
                        ));
                    }
                }
                State::Reachable { confirmed_ms, last_probe_ms, .. } => {
                    if last_probe_ms < confirmed_ms {
                        return Err(format!("{iface}/{ip}: probed at {last_probe_ms} before confirmed {confirmed_ms}"));
                    }
                }
                State::Failed { .. } => {}
            }
        }
        let mut used = 0u64;
        for s in self.slots.iter().filter(|s| s.used) {
            used += 1;
            if s.len as usize > HOLD_SLOT_BYTES {
                return Err(format!("held frame of {} bytes", s.len));
            }
            if !matches!(self.entries.get(&(s.iface, s.ip)), Some(State::Incomplete { .. })) {
                return Err(format!("a packet held for {}/{}, which is not being resolved", s.iface, s.ip));
            }
            let mine = self.slots.iter().filter(|o| o.used && o.iface == s.iface && o.ip == s.ip && o.first).count();
            if mine > HOLD_PER_NEIGHBOUR {
                return Err(format!("{mine} packets held for {}/{}", s.iface, s.ip));
            }
            if !s.first && !self.slots.iter().any(|o| o.used && o.first && o.packet == s.packet && o.ip == s.ip) {
                return Err(format!("a piece of packet {} held without its first", s.packet));
            }
        }
        let st = &self.stats;
        if st.held != st.released + st.timed_out + used {
            return Err(format!(
                "held {} != released {} + timed out {} + still held {used}",
                st.held, st.released, st.timed_out
            ));
        }
        Ok(())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every test checks the table's invariants after each operation.
    fn ok(t: &NeighbourTable) {
        if let Err(e) = t.check_invariants() {
            panic!("invariant broken: {e}");
        }
    }

    fn resolve(t: &mut NeighbourTable, ip: u32, now: u64) -> Resolution {
        let r = t.resolve(0, ip, now);
        ok(t);
        r
    }

    fn learn(t: &mut NeighbourTable, ip: u32, now: u64) {
        t.learn(0, ip, [2, 0, 0, 0, 0, ip as u8], now, |_| {});
        ok(t);
    }

    fn tick(t: &mut NeighbourTable, now: u64) {
        t.tick(now, |_, _| {});
        ok(t);
    }

    fn has(t: &NeighbourTable, ip: u32) -> bool {
        t.views(0).iter().any(|v| v.ip == ip)
    }

    fn state_of(t: &NeighbourTable, ip: u32, now: u64) -> &'static str {
        t.views(now).iter().find(|v| v.ip == ip).map_or("-", |v| v.state)
    }

    #[test]
    fn hold_then_release_on_reply() {
        let mut t = NeighbourTable::new(8, 8);
        assert_eq!(resolve(&mut t, 7, 0), Resolution::HoldAndRequest);
        assert_eq!(resolve(&mut t, 7, 10), Resolution::Hold);
        for _ in 0..5 {
            t.hold(0, 7, &[0u8; 60], None);
            ok(&t);
        }
        assert_eq!(t.stats.held, HOLD_PER_NEIGHBOUR as u64);
        assert!(!t.hold(0, 8, &[0u8; 60], None), "nothing is held for a neighbour not being resolved");
        ok(&t);
        let mut out = vec![];
        t.learn(0, 7, [1, 2, 3, 4, 5, 6], 20, |f| out.push(f[0..6].to_vec()));
        ok(&t);
        assert_eq!(out.len(), HOLD_PER_NEIGHBOUR);
        assert_eq!(out[0], vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(resolve(&mut t, 7, 30), Resolution::Ready([1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn gives_up_after_probes_and_ignores_unsolicited() {
        let mut t = NeighbourTable::new(8, 8);
        learn(&mut t, 9, 0);
        assert_eq!(t.len(), 0, "unsolicited ARP must not fill the table");
        resolve(&mut t, 7, 0);
        t.hold(0, 7, &[0u8; 60], None);
        ok(&t);
        let mut probes = 0;
        for s in 1..=3 {
            t.tick(s * 1000, |_, _| probes += 1);
            ok(&t);
        }
        assert_eq!(probes, (MAX_PROBES - 1) as usize);
        assert_eq!(t.stats.timed_out, 1);
        assert_eq!(state_of(&t, 7, 3000), "FAILED");
        // Per target: not asked again within the hold-off...
        assert_eq!(resolve(&mut t, 7, 3100), Resolution::Unreachable);
        // ...then tried again.
        assert_eq!(resolve(&mut t, 7, 4100), Resolution::HoldAndRequest);
    }

    #[test]
    fn failed_entries_are_forgotten_in_seconds() {
        let mut t = NeighbourTable::new(8, 8);
        resolve(&mut t, 7, 0);
        for s in 1..=3 {
            tick(&mut t, s * 1000);
        }
        assert_eq!(state_of(&t, 7, 3000), "FAILED");
        tick(&mut t, 3000 + FAILED_KEEP_MS);
        assert!(has(&t, 7));
        tick(&mut t, 3000 + FAILED_KEEP_MS + 200);
        assert!(!has(&t, 7), "a failed entry outlived FAILED_KEEP_MS");
    }

    #[test]
    fn eviction_order_failed_then_incomplete_then_stale_never_fresh() {
        let mut t = NeighbourTable::new(64, 8);
        // Stale by 40 s: 10 (confirmed at 0) and 11 (at 100).
        resolve(&mut t, 10, 0);
        resolve(&mut t, 11, 0);
        learn(&mut t, 10, 0);
        learn(&mut t, 11, 100);
        // Failed: 1 (at 3000) and 2 (at 3600).
        resolve(&mut t, 1, 0);
        resolve(&mut t, 2, 500);
        for now in [1000, 1600, 2000, 2600, 3000, 3600] {
            tick(&mut t, now);
        }
        assert_eq!((state_of(&t, 1, 3600), state_of(&t, 2, 3600)), ("FAILED", "FAILED"));
        // Incomplete: 20 (since 30000) and 21 (since 30001).
        resolve(&mut t, 20, 30_000);
        resolve(&mut t, 21, 30_001);
        // Reachable and fresh at 40 s: 12 (confirmed at 35 s).
        resolve(&mut t, 12, 34_999);
        learn(&mut t, 12, 35_000);
        let now = 40_000;
        assert_eq!(state_of(&t, 10, now), "STALE");
        assert_eq!(state_of(&t, 12, now), "REACHABLE");
        assert_eq!(state_of(&t, 20, now), "INCOMPLETE");
        let mut order = vec![];
        while t.evict(now, 1) == 1 {
            ok(&t);
            let gone = [1, 2, 20, 21, 10, 11, 12].into_iter().find(|&ip| !has(&t, ip) && !order.contains(&ip));
            order.push(gone.expect("one entry went"));
        }
        assert_eq!(order, vec![1, 2, 20, 21, 10, 11], "failed, incomplete, stale; oldest first");
        assert!(has(&t, 12), "a fresh reachable entry is never evicted");
        assert_eq!(t.evict(now, 100), 0);
        assert_eq!(t.stats.evicted, 6);
    }

    #[test]
    fn a_full_table_makes_room_by_evicting_a_batch_of_the_unresolved() {
        let mut t = NeighbourTable::new(16, 16);
        for ip in 1..=8 {
            resolve(&mut t, ip, 0);
            learn(&mut t, ip, 0);
        }
        // Eight neighbours that never answer, one a millisecond, one with a held packet.
        for ip in 101..=108 {
            resolve(&mut t, ip, ip as u64);
            t.hold(0, ip, &[0u8; 60], None);
            ok(&t);
        }
        assert_eq!(t.len(), 16);
        // Full: a newcomer evicts three, oldest incomplete first, so that with it the table
        // holds 14 (seven eighths): the next 1/8 of newcomers need no eviction pass.
        assert_eq!(resolve(&mut t, 200, 1000), Resolution::HoldAndRequest);
        assert_eq!(t.len(), 14);
        assert_eq!(resolve(&mut t, 201, 1001), Resolution::HoldAndRequest);
        assert_eq!(t.stats.evicted, 3);
        for ip in 1..=8 {
            assert_eq!(state_of(&t, ip, 1000), "REACHABLE", "{ip} was evicted before the unresolved");
        }
        assert!(!has(&t, 101) && !has(&t, 102) && !has(&t, 103), "the three oldest incomplete went");
        assert!(has(&t, 104) && has(&t, 200));
        assert_eq!(t.stats.timed_out, 3, "their held packets were dropped");
    }

    #[test]
    fn a_table_full_of_fresh_entries_refuses() {
        let mut t = NeighbourTable::new(2, 1);
        resolve(&mut t, 1, 0);
        resolve(&mut t, 2, 0);
        learn(&mut t, 1, 0);
        learn(&mut t, 2, 0);
        assert_eq!(resolve(&mut t, 3, 10), Resolution::TableFull);
        assert_eq!(t.len(), 2);
        // Once they go stale they may be evicted.
        assert_eq!(resolve(&mut t, 3, REACHABLE_MS + 10), Resolution::HoldAndRequest);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn new_resolutions_are_rate_limited_per_source_prefix() {
        let mut t = NeighbourTable::new(4096, 8);
        let flood_net = 0xc612_6000u32; // 198.18.96.0/24
        let mut asked = 0;
        for i in 0..250u32 {
            if resolve(&mut t, flood_net | i, 5000) == Resolution::HoldAndRequest {
                asked += 1;
            }
        }
        assert_eq!(asked, RESOLVE_BURST, "a burst, then no more requests from that prefix");
        assert_eq!(t.len() as u64, RESOLVE_BURST, "refused resolutions leave no entry");
        assert_eq!(t.stats.rate_limited, 250 - RESOLVE_BURST);
        // Known neighbours are unaffected.
        assert_eq!(resolve(&mut t, flood_net, 5001), Resolution::Hold);
        // A client of another prefix is not: the flood spent only its own bucket.
        let other = 0xc612_7f4d; // 198.18.127.77
        assert_ne!(other.prefix_bucket(), flood_net.prefix_bucket());
        assert_eq!(resolve(&mut t, other, 5001), Resolution::HoldAndRequest);
        // Tokens come back at RESOLVE_PER_SEC.
        let later = 5000 + 1000 / RESOLVE_PER_SEC;
        assert_eq!(resolve(&mut t, flood_net | 250, later), Resolution::HoldAndRequest);
        assert_eq!(resolve(&mut t, flood_net | 251, later), Resolution::RateLimited);
        t.check_invariants().unwrap();
    }

    #[test]
    fn views_name_every_state() {
        let mut t = NeighbourTable::new(8, 8);
        resolve(&mut t, 1, 0);
        learn(&mut t, 1, 0);
        resolve(&mut t, 2, 0);
        resolve(&mut t, 3, 0);
        for s in 1..=3 {
            tick(&mut t, s * 1000);
        }
        resolve(&mut t, 2, 4000);
        let mut v = t.views(4000);
        v.sort_by_key(|v| v.ip);
        let got: Vec<_> = v.iter().map(|v| (v.ip, v.mac.is_some(), v.state)).collect();
        assert_eq!(got, vec![(1, true, "REACHABLE"), (2, false, "INCOMPLETE"), (3, false, "FAILED")]);
        assert_eq!(t.views(3000 + REACHABLE_MS).iter().find(|v| v.ip == 1).map(|v| v.state), Some("STALE"));
    }
}
