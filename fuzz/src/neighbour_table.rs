//! The `neighbour_table` fuzz target: a random sequence of operations on a
//! small [`NeighbourTable`] (resolve, hold a frame, learn a reply, tick as the
//! clock advances, listings), checked after every operation against a model
//! kept here: the table never exceeds its capacity nor invents a neighbour,
//! a resolved MAC is the one last learned, unsolicited replies add nothing,
//! ageing removes only stale entries, and every held frame is released once
//! (to its own neighbour, with the MAC set) or counted as timed out.
//!
//! Eviction under pressure (in `resolve` on a full table, or asked for
//! directly) may take failed, incomplete and stale entries, never one
//! confirmed within REACHABLE_MS; the rate limit refuses without changing
//! anything. The table's own `check_invariants` runs after every operation.
//!
//! Only the table's public API is used. Adding an operation is one arm in
//! [`Run::step`] plus its model update.

use super::ops::{duration, Ops};
use rvs::net::neighbour::{
    NeighbourStats, NeighbourTable, Resolution, HOLD_PER_NEIGHBOUR, HOLD_SLOT_BYTES, REACHABLE_MS, STALE_MAX_MS,
};
use rvs::net::IfaceId;
use std::collections::{BTreeMap, BTreeSet};

/// Small, so that the table and the hold queue fill.
pub const CAPACITY: usize = 6;
pub const HOLD_SLOTS: usize = 5;
/// Neighbours are drawn from 2 interfaces x 8 addresses.
const IPS: usize = 8;
const START_MS: u64 = 1_000_000;
const FRAME_LENS: [usize; 5] = [14, 60, 1514, HOLD_SLOT_BYTES, HOLD_SLOT_BYTES + 1];

type Key = (IfaceId, u32);
type Mac = [u8; 6];

fn key(b: u8) -> Key {
    ((b / IPS as u8) % 2, 0xc612_0100 | (b as u32 % IPS as u32))
}

/// A held frame: its destination MAC blank, then its tag, then a pattern.
fn frame(tag: u64, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i as u64 ^ tag) as u8).collect();
    f[0..6].fill(0);
    f[6..14].copy_from_slice(&tag.to_be_bytes());
    f
}

/// A frame the model believes held.
#[derive(Debug, Clone, Copy)]
struct Held {
    key: Key,
    len: usize,
    /// Certainly still held; else a tick may have dropped it (the table
    /// counts how many it dropped, not which).
    certain: bool,
}

struct Run {
    t: NeighbourTable,
    now: u64,
    /// Neighbours the table was asked to resolve: only these may be in it.
    asked: BTreeSet<Key>,
    /// The MAC and time of the last reply the table took for a neighbour.
    learned: BTreeMap<Key, (Mac, u64)>,
    held: BTreeMap<u64, Held>,
    next_tag: u64,
    stats: NeighbourStats,
    trace: Vec<String>,
}

/// Run one input: a sequence of operations, checked after each.
pub fn neighbour_table(data: &[u8]) {
    let mut run = Run {
        t: NeighbourTable::new(CAPACITY, HOLD_SLOTS),
        now: START_MS,
        asked: BTreeSet::new(),
        learned: BTreeMap::new(),
        held: BTreeMap::new(),
        next_tag: 1,
        stats: NeighbourStats::default(),
        trace: Vec::new(),
    };
    let mut ops = Ops::new(data);
    while let Some(op) = ops.op() {
        run.step(op, &mut ops);
        run.check();
    }
    // Everything ages out in the end.
    for _ in 0..8 {
        run.tick(STALE_MAX_MS);
        run.check();
    }
    if !run.t.is_empty() || !run.t.resolved().is_empty() {
        run.fail(format!("{} entries left after every neighbour aged", run.t.len()));
    }
}

impl Run {
    fn fail(&self, what: String) -> ! {
        panic!("neighbour_table: {what}\n  after: {}", self.trace.join("; "))
    }

    fn step(&mut self, op: u8, r: &mut Ops) {
        match op % 7 {
            0 | 1 => {
                let k = key(r.byte());
                self.resolve(k);
            }
            2 => {
                let k = key(r.byte());
                let len = FRAME_LENS[r.below(FRAME_LENS.len())];
                self.hold(k, len);
            }
            3 => {
                let k = key(r.byte());
                let mac = [2, 0, 0, 0, r.byte() % 3, 1];
                self.learn(k, mac);
            }
            4 => {
                let advance = duration(r.byte());
                self.tick(advance);
            }
            6 => {
                let count = r.below(8);
                self.evict(count);
            }
            _ => {
                // Time passes without a tick (a busy loop ticks late).
                let advance = duration(r.byte()) % 2_000;
                self.trace.push(format!("wait {advance}ms"));
                self.now += advance;
            }
        }
    }

    fn reachable(&self) -> BTreeMap<Key, Mac> {
        let mut m = BTreeMap::new();
        for (i, ip, mac) in self.t.resolved() {
            if m.insert((i, ip), mac).is_some() {
                self.fail(format!("resolved() lists {i}/{ip:#x} twice"));
            }
        }
        m
    }

    fn resolve(&mut self, k: Key) {
        self.trace.push(format!("resolve {}", name(k)));
        let (len, was_asked) = (self.t.len(), self.asked.contains(&k));
        let before = self.reachable();
        let res = self.t.resolve(k.0, k.1, self.now);
        let after = self.t.len();
        let reachable = self.reachable();
        let ok = match res {
            Resolution::Ready(mac) | Resolution::ReadyProbe(mac) => {
                let last = self.learned.get(&k);
                let fresh = last.is_some_and(|&(_, at)| self.now.saturating_sub(at) <= REACHABLE_MS);
                reachable.get(&k) == Some(&mac)
                    && last.map(|l| l.0) == Some(mac)
                    && !(fresh && matches!(res, Resolution::ReadyProbe(_)))
                    && after == len
            }
            // A new entry, or one given up on tried again; under pressure another may make room.
            Resolution::HoldAndRequest => {
                !reachable.contains_key(&k) && (after == len + 1 || (was_asked || len == CAPACITY) && after <= len)
            }
            Resolution::Hold | Resolution::Unreachable => was_asked && !reachable.contains_key(&k) && after == len,
            Resolution::TableFull => len >= CAPACITY && after == len && !reachable.contains_key(&k),
            // Refused before anything changes.
            Resolution::RateLimited => after == len && !reachable.contains_key(&k),
        };
        if !ok {
            self.fail(format!("resolve {} gave {res:?} (len {len} -> {after}, asked before: {was_asked})", name(k)));
        }
        if !matches!(res, Resolution::TableFull | Resolution::RateLimited) {
            self.asked.insert(k);
        }
        self.after_eviction(&before);
    }

    fn evict(&mut self, count: usize) {
        self.trace.push(format!("evict {count}"));
        let (len, before) = (self.t.len(), self.reachable());
        let n = self.t.evict(self.now, count);
        if n > count || self.t.len() != len - n {
            self.fail(format!("evict {count} said {n}, len {len} -> {}", self.t.len()));
        }
        self.after_eviction(&before);
    }

    /// Whatever an eviction took: never a neighbour confirmed lately; the
    /// frames held for what it took are dropped (counted), so the model no
    /// longer knows which remain.
    fn after_eviction(&mut self, before: &BTreeMap<Key, Mac>) {
        if self.t.stats.evicted == self.stats.evicted {
            return;
        }
        let after = self.reachable();
        for k in before.keys() {
            let fresh = self.learned.get(k).is_some_and(|&(_, at)| self.now.saturating_sub(at) <= REACHABLE_MS);
            if fresh && !after.contains_key(k) {
                self.fail(format!("eviction took {}, confirmed within REACHABLE_MS", name(*k)));
            }
        }
        for h in self.held.values_mut() {
            h.certain = false;
        }
    }

    fn hold(&mut self, k: Key, len: usize) {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.trace.push(format!("hold#{tag} {} {len}B", name(k)));
        let ok = self.t.hold(k.0, k.1, &frame(tag, len), None);
        let mine =
            |certain_only: bool| self.held.values().filter(|h| h.key == k && (h.certain || !certain_only)).count();
        let all = |certain_only: bool| self.held.values().filter(|h| h.certain || !certain_only).count();
        let fits = len <= HOLD_SLOT_BYTES;
        if ok && (!fits || mine(true) >= HOLD_PER_NEIGHBOUR || all(true) >= HOLD_SLOTS) {
            self.fail(format!(
                "hold accepted a {len}-byte frame with {} of its own and {} in all held",
                mine(true),
                all(true)
            ));
        }
        if !ok && fits && mine(false) < HOLD_PER_NEIGHBOUR && all(false) < HOLD_SLOTS {
            self.fail(format!("hold refused a frame with {} of its own and {} in all held", mine(false), all(false)));
        }
        let s = self.t.stats;
        if (s.held, s.hold_overflow) != (self.stats.held + ok as u64, self.stats.hold_overflow + !ok as u64) {
            self.fail(format!("hold counted {:?} after {:?}", s, self.stats));
        }
        if ok {
            self.held.insert(tag, Held { key: k, len, certain: true });
        }
    }

    fn learn(&mut self, k: Key, mac: Mac) {
        self.trace.push(format!("learn {} {:02x}", name(k), mac[4]));
        let (len, before) = (self.t.len(), self.reachable());
        let mut out: Vec<Vec<u8>> = Vec::new();
        self.t.learn(k.0, k.1, mac, self.now, |f| out.push(f.to_vec()));
        let after = self.reachable();
        if self.t.len() != len {
            self.fail(format!("learn changed len {len} -> {}", self.t.len()));
        }
        if !self.asked.contains(&k) && (after.contains_key(&k) || !out.is_empty()) {
            self.fail(format!("an unsolicited reply from {} was taken", name(k)));
        }
        if before.contains_key(&k) && after.get(&k) != Some(&mac) {
            self.fail(format!("a known neighbour {} not updated to the new MAC: {:?}", name(k), after.get(&k)));
        }
        match after.get(&k) {
            Some(&m) if m == mac => {
                self.learned.insert(k, (mac, self.now));
            }
            Some(m) => self.fail(format!("learn {} left MAC {m:?}", name(k))),
            None => {}
        }
        if before.contains_key(&k) && !out.is_empty() {
            self.fail(format!("learn released {} frames for an already resolved {}", out.len(), name(k)));
        }
        let mut released = BTreeSet::new();
        for f in &out {
            let tag = f.get(6..14).map(|t| u64::from_be_bytes(t.try_into().expect("8 bytes"))).unwrap_or(0);
            let Some(h) = self.held.get(&tag) else {
                self.fail(format!("released a frame (tag {tag}) not held, or released twice"));
            };
            let mut want = frame(tag, h.len);
            want[0..6].copy_from_slice(&mac);
            if h.key != k || *f != want || !released.insert(tag) {
                self.fail(format!("released frame #{tag} held for {} is wrong or repeated", name(h.key)));
            }
        }
        if !out.is_empty() {
            // The table releases every frame it holds for the neighbour at once.
            for (&tag, h) in &self.held {
                if h.key == k && h.certain && !released.contains(&tag) {
                    self.fail(format!("frame #{tag} for {} not released with the others", name(k)));
                }
            }
            self.held.retain(|_, h| h.key != k);
        }
        let s = self.t.stats;
        if s.released != self.stats.released + out.len() as u64 {
            self.fail(format!("released {} frames, counted {}", out.len(), s.released - self.stats.released));
        }
    }

    fn tick(&mut self, advance: u64) {
        self.now += advance;
        self.trace.push(format!("tick +{advance}ms"));
        let (len, before) = (self.t.len(), self.reachable());
        let mut requests = Vec::new();
        self.t.tick(self.now, |i, ip| requests.push((i, ip)));
        let after = self.reachable();
        if self.t.len() > len {
            self.fail(format!("tick grew the table {len} -> {}", self.t.len()));
        }
        for r in &requests {
            if !self.asked.contains(r) || after.contains_key(r) || requests.iter().filter(|x| *x == r).count() > 1 {
                self.fail(format!("tick requested {} (asked: {})", name(*r), self.asked.contains(r)));
            }
        }
        for (k, mac) in &after {
            if before.get(k) != Some(mac) {
                self.fail(format!("tick changed or added resolved {}", name(*k)));
            }
        }
        let stale = |k: &Key| self.learned.get(k).is_none_or(|&(_, at)| self.now.saturating_sub(at) > STALE_MAX_MS);
        for k in before.keys() {
            let gone = !after.contains_key(k);
            if gone != stale(k) {
                self.fail(format!(
                    "tick {} {} (last confirmed {} ms ago)",
                    if gone { "forgot" } else { "kept" },
                    name(*k),
                    self.learned.get(k).map(|l| self.now - l.1).unwrap_or(0)
                ));
            }
        }
        // Frames held for a neighbour no longer waiting are dropped; others may be.
        let dropped = self.t.stats.timed_out - self.stats.timed_out;
        let resolved_now: Vec<u64> =
            self.held.iter().filter(|(_, h)| after.contains_key(&h.key)).map(|(&t, _)| t).collect();
        if (dropped as usize) < resolved_now.iter().filter(|t| self.held[t].certain).count() {
            self.fail(format!("tick dropped {dropped} frames, fewer than those held for resolved neighbours"));
        }
        for t in resolved_now {
            self.held.remove(&t);
        }
        for h in self.held.values_mut() {
            h.certain = false;
        }
    }

    /// Every invariant, after every operation.
    #[allow(clippy::len_zero)] // is_empty is checked against len itself
    fn check(&mut self) {
        if let Err(e) = self.t.check_invariants() {
            self.fail(format!("check_invariants: {e}"));
        }
        let t = &self.t;
        let reachable = self.reachable();
        if t.len() > CAPACITY || reachable.len() > t.len() || t.is_empty() != (t.len() == 0) {
            self.fail(format!("len {} (capacity {CAPACITY}), {} resolved", t.len(), reachable.len()));
        }
        for (k, mac) in &reachable {
            if !self.asked.contains(k) || self.learned.get(k).map(|l| l.0) != Some(*mac) {
                self.fail(format!("{} resolved to {mac:?}, never learned so", name(*k)));
            }
        }
        // Held frames: counted in, out, or still in the pool, never more than it holds.
        let s = t.stats;
        let Some(in_pool) = s.held.checked_sub(s.released + s.timed_out) else {
            self.fail(format!("more frames released or dropped than held: {s:?}"));
        };
        let certain = self.held.values().filter(|h| h.certain).count() as u64;
        let maybe = self.held.len() as u64;
        if in_pool > HOLD_SLOTS as u64 || in_pool < certain || in_pool > maybe {
            self.fail(format!("{in_pool} frames in the pool; the model holds {certain} for sure, {maybe} at most"));
        }
        if in_pool == maybe {
            self.held.values_mut().for_each(|h| h.certain = true);
        } else if in_pool == certain {
            self.held.retain(|_, h| h.certain);
        }
        self.stats = s;
    }
}

fn name(k: Key) -> String {
    format!("{}/.{}", k.0, k.1 & 0xff)
}

/// Seed inputs: op sequences reaching every operation.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let resolve = |k: u8| vec![0, k];
    let hold = |k: u8, len: u8| vec![2, k, len];
    let learn = |k: u8, mac: u8| vec![3, k, mac];
    let tick = |code: u8| vec![4, code];
    let wait = |code: u8| vec![5, code];
    let cat = |parts: Vec<Vec<u8>>| parts.concat();
    vec![
        (
            "resolve-hold-learn".into(),
            cat(vec![resolve(1), hold(1, 1), hold(1, 0), hold(1, 2), hold(1, 1), resolve(1), learn(1, 0), resolve(1)]),
        ),
        (
            "fill-table".into(),
            cat((0..10).map(|k| resolve(k * 3)).chain([learn(0, 1), learn(3, 1), learn(4, 1), resolve(30)]).collect()),
        ),
        (
            "give-up-and-retry".into(),
            cat(vec![resolve(2), hold(2, 1), tick(4), tick(4), tick(4), tick(5), resolve(2), wait(7), resolve(2)]),
        ),
        (
            "age-and-probe".into(),
            cat(vec![
                resolve(9),
                learn(9, 2),
                tick(8),
                resolve(9),
                resolve(9),
                tick(12),
                resolve(9),
                tick(13),
                learn(9, 0),
            ]),
        ),
        (
            "pool-and-unsolicited".into(),
            cat(vec![
                learn(5, 1),
                resolve(5),
                resolve(6),
                resolve(7),
                hold(5, 1),
                hold(5, 3),
                hold(6, 1),
                hold(6, 4),
                hold(7, 2),
                hold(7, 1),
                hold(7, 0),
                learn(6, 2),
                tick(4),
                learn(7, 0),
            ]),
        ),
    ]
}
