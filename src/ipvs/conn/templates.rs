//! The persistence templates of one poll loop (IPVS's IP_VS_CONN_F_TEMPLATE
//! entries): a client, or its netmask, pinned to a real server for a service
//! (its port, all its ports, or its firewall mark), with a count of the live
//! connections it placed.
//!
//! They live apart from the connections, in a small table of their own
//! (`[dataplane] templates` entries), so the connection table's slab and
//! index hold connections only and finding a template reads nothing of
//! theirs. The machinery is the connection table's, scaled down: a slab, the
//! same keyed cuckoo [`Index`] (one key per template), the same [`Refs`] for
//! the real server and its service. Expiry is a sweep of the slab, the whole
//! of it once a second of clock, in slices: templates are few and live for
//! minutes, so no wheel is kept for them.
//!
//! IPVS's rules: a template expires only when it places no live connection
//! (past its timeout it is re-armed for the service's persistence while it
//! does); a full table makes room by evicting a template that places nothing
//! and is unconfirmed (no connection it placed saw two-way traffic) or idle,
//! and otherwise refuses the new template, as IPVS refuses a new connection
//! it cannot make a template for. The link from a connection to its template
//! is the connection table's (`ConnTable::ctl`); this table keeps the counts.

use super::index::Index;
use super::refs::{ptr_of, Refs, NO_REF};
use super::{addr_word, fwd_bits, fwd_of_bits, port_word, DestRef, Eviction, InsertError, IDLE_EVICTABLE_MS};
use crate::api::{ConnView, FwdMethod};
use crate::ipvs::dest::Dest;
use crate::ipvs::service::Service;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The most templates one poll loop holds (the index's ids are 24 bits).
/// `[dataplane] templates` above it is refused.
pub const MAX_TEMPLATES: usize = super::index::MAX_ENTRIES;

/// The clock time one sweep of the whole slab takes (expiry is at most this
/// late, as the connections' one-second wheel ticks).
const SWEEP_MS: u64 = 1000;

/// `Template::bits`: the forwarding method in the low two bits (as a
/// connection's: `fwd_bits`), then flags.
const IN_USE: u8 = 1 << 2;
/// A connection it placed was confirmed by two-way traffic (or a master
/// synced it).
const CONFIRMED: u8 = 1 << 3;

/// What a template is found by: the client's address under the service's
/// netmask, and the service: its address and port (0 for a port-0 service),
/// or for a firewall-mark service the mark as the address, port 0 and
/// protocol 0, as IPVS keys (and `ipvsadm -Lc` shows) them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    pub caddr: u32,
    pub vaddr: u32,
    pub vport: u16,
    pub proto: u8,
}

impl TemplateKey {
    #[inline]
    fn words(&self) -> (u64, u64) {
        (addr_word(self.caddr, self.vaddr), port_word(0, self.vport, self.proto))
    }
}

/// One template: 40 bytes.
#[derive(Clone, Copy)]
pub struct Template {
    pub caddr: u32,
    pub vaddr: u32,
    pub daddr: u32,
    pub vport: u16,
    pub dport: u16,
    /// Live connections it placed.
    placed: u32,
    /// Low 32 bits of the millisecond clock when it last placed one (or was made).
    last_ms: u32,
    expires_ms: u64,
    /// The table's [`Refs`] slot of the real server and its service.
    dest: u16,
    pub proto: u8,
    bits: u8,
}

const FREE: Template = Template {
    caddr: 0,
    vaddr: 0,
    daddr: 0,
    vport: 0,
    dport: 0,
    placed: 0,
    last_ms: 0,
    expires_ms: 0,
    dest: NO_REF,
    proto: 0,
    bits: 0,
};

impl Template {
    #[inline]
    pub fn key(&self) -> TemplateKey {
        TemplateKey { caddr: self.caddr, vaddr: self.vaddr, vport: self.vport, proto: self.proto }
    }

    #[inline]
    pub fn fwd(&self) -> FwdMethod {
        fwd_of_bits(self.bits)
    }

    #[inline]
    pub fn in_use(&self) -> bool {
        self.bits & IN_USE != 0
    }

    #[inline]
    pub fn confirmed(&self) -> bool {
        self.bits & CONFIRMED != 0
    }

    #[inline]
    pub fn expires_ms(&self) -> u64 {
        self.expires_ms
    }

    /// Live connections it placed.
    #[inline]
    pub fn placed(&self) -> u32 {
        self.placed
    }
}

/// What a caller supplies for a new template.
pub struct NewTemplate<'a> {
    pub key: TemplateKey,
    pub fwd: FwdMethod,
    pub daddr: u32,
    pub dport: u16,
    pub dest: &'a Arc<Dest>,
    pub svc: &'a Arc<Service>,
    pub expires_ms: u64,
}

pub struct Templates {
    slots: Vec<Template>,
    /// Free slot ids, taken from the end.
    free: Vec<u32>,
    index: Index,
    dests: Refs<DestRef>,
    live: usize,
    /// The next slot the expiry sweep looks at, and the clock it last ran at.
    sweep_at: usize,
    swept_ms: u64,
    /// The poll loop owning the table (its row of the real servers' counts).
    worker: usize,
}

impl Templates {
    pub fn new(capacity: usize, now_ms: u64) -> Self {
        let capacity = capacity.clamp(1, MAX_TEMPLATES);
        Templates {
            slots: vec![FREE; capacity],
            free: (0..capacity as u32).rev().collect(),
            index: Index::new(capacity),
            dests: Refs::new(),
            live: 0,
            sweep_at: 0,
            swept_ms: now_ms,
            worker: 0,
        }
    }

    pub(super) fn set_worker(&mut self, worker: usize) {
        self.worker = worker;
    }

    pub fn len(&self) -> usize {
        self.live
    }
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
    pub fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    #[inline]
    fn hash(&self, k: &TemplateKey) -> u64 {
        self.index.hash_words(k.words())
    }

    /// The live template of `key` (not one invalidated).
    pub fn lookup(&self, key: &TemplateKey) -> Option<u32> {
        let w = key.words();
        self.index.find(self.hash(key), |v| self.slots.get(v as usize).is_some_and(|t| t.key().words() == w))
    }

    #[inline]
    pub fn get(&self, tid: u32) -> &Template {
        &self.slots[tid as usize]
    }

    /// The real server template `tid` pins its clients to.
    pub fn dest_of(&self, tid: u32) -> Option<&Arc<Dest>> {
        self.slots.get(tid as usize).and_then(|t| self.dests.get(t.dest)).map(|r| &r.0)
    }

    /// The service template `tid` was made for.
    pub fn svc_of(&self, tid: u32) -> Option<&Arc<Service>> {
        self.slots.get(tid as usize).and_then(|t| self.dests.get(t.dest)).map(|r| &r.1)
    }

    pub fn insert(&mut self, n: NewTemplate, now_ms: u64) -> Result<u32, InsertError> {
        let h = self.hash(&n.key);
        let Some(&id) = self.free.last() else {
            return Err(if self.lookup(&n.key).is_some() { InsertError::Collision } else { InsertError::Full });
        };
        let w = n.key.words();
        let slots = &self.slots;
        match self.index.insert_unique(h, id, |v| slots.get(v as usize).is_some_and(|t| t.key().words() == w)) {
            Ok(()) => {}
            Err(Some(_)) => return Err(InsertError::Collision),
            Err(None) => return Err(InsertError::Full),
        }
        let Some(dest) = self.dests.acquire((ptr_of(n.dest), ptr_of(n.svc)), || (n.dest.clone(), n.svc.clone())) else {
            // 65535 distinct real servers in use.
            self.index.remove(h, id);
            return Err(InsertError::Full);
        };
        self.free.pop();
        self.slots[id as usize] = Template {
            caddr: n.key.caddr,
            vaddr: n.key.vaddr,
            daddr: n.daddr,
            vport: n.key.vport,
            dport: n.dport,
            placed: 0,
            last_ms: now_ms as u32,
            expires_ms: n.expires_ms,
            dest,
            proto: n.key.proto,
            bits: fwd_bits(n.fwd) | IN_USE,
        };
        n.dest.bind_template(self.worker);
        self.live += 1;
        Ok(id)
    }

    /// Remove template `tid`. The caller ([`super::ConnTable::remove_template`])
    /// has unlinked the connections it placed.
    pub(super) fn remove(&mut self, tid: u32) {
        let Some(t) = self.slots.get(tid as usize).copied().filter(|t| t.in_use()) else { return };
        // The key may already name a newer template (an invalidated one's
        // successor): only what still names this one goes.
        self.index.remove(self.hash(&t.key()), tid);
        if let Some((d, _)) = self.dests.get(t.dest) {
            d.unbind_template(self.worker);
        }
        self.dests.release(t.dest);
        self.slots[tid as usize] = FREE;
        self.free.push(tid);
        self.live -= 1;
    }

    /// Live connections template `tid` placed (None: no live template).
    pub fn placed_by(&self, tid: u32) -> Option<u32> {
        self.slots.get(tid as usize).filter(|t| t.in_use()).map(|t| t.placed)
    }

    /// A new connection was placed by template `tid`; false if `tid` is no
    /// live template (the connection then has none).
    pub(super) fn place(&mut self, tid: u32, now_ms: u64) -> bool {
        match self.slots.get_mut(tid as usize).filter(|t| t.in_use()) {
            Some(t) => {
                t.placed += 1;
                t.last_ms = now_ms as u32;
                true
            }
            None => false,
        }
    }

    /// A connection template `tid` placed is gone.
    pub(super) fn unplace(&mut self, tid: u32) {
        if let Some(t) = self.slots.get_mut(tid as usize) {
            t.placed = t.placed.saturating_sub(1);
        }
    }

    /// Its connections were orphaned: it places none any more.
    pub(super) fn forget_placed(&mut self, tid: u32) {
        if let Some(t) = self.slots.get_mut(tid as usize) {
            t.placed = 0;
        }
    }

    /// A connection template `tid` placed saw two-way traffic (or a master
    /// synced the template): it is no flood's.
    pub fn confirm(&mut self, tid: u32) {
        if let Some(t) = self.slots.get_mut(tid as usize).filter(|t| t.in_use()) {
            t.bits |= CONFIRMED;
        }
    }

    /// Set template `tid`'s expiry (the sweep reads it as it passes).
    #[inline]
    pub fn set_expiry(&mut self, tid: u32, expires_ms: u64) {
        if let Some(t) = self.slots.get_mut(tid as usize).filter(|t| t.in_use()) {
            t.expires_ms = expires_ms;
        }
    }

    /// A template whose real server went away: new connections must not
    /// find it, but it stays (unfindable) while connections it placed live.
    pub fn invalidate(&mut self, tid: u32, now_ms: u64) {
        let Some(t) = self.slots.get(tid as usize).filter(|t| t.in_use()) else { return };
        let k = t.key();
        self.index.remove(self.hash(&k), tid);
        self.set_expiry(tid, now_ms);
    }

    /// Point template `tid` at a re-added real server of the same address.
    pub fn rebind(&mut self, tid: u32, dest: &Arc<Dest>) {
        let Some(t) = self.slots.get(tid as usize).copied().filter(|t| t.in_use()) else { return };
        let Some((old, svc)) = self.dests.get(t.dest) else { return };
        let svc = svc.clone();
        old.unbind_template(self.worker);
        if let Some(s) = self.dests.acquire((ptr_of(dest), ptr_of(&svc)), || (dest.clone(), svc.clone())) {
            self.dests.release(t.dest);
            self.slots[tid as usize].dest = s;
        }
        dest.bind_template(self.worker);
    }

    /// The expiry sweep: the slots due since the last call (the whole slab
    /// per [`SWEEP_MS`] of clock). A template past its time that still
    /// places connections is re-armed for its service's persistence timeout
    /// (IPVS keeps it while they live); one that places none is removed.
    /// Returns how many were removed.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let n = self.slots.len();
        let elapsed = now_ms.saturating_sub(self.swept_ms);
        if elapsed == 0 {
            return 0;
        }
        self.swept_ms = now_ms;
        let due = if elapsed >= SWEEP_MS { n } else { (n as u64 * elapsed).div_ceil(SWEEP_MS) as usize };
        let mut expired = 0;
        for _ in 0..due.min(n) {
            let i = self.sweep_at;
            self.sweep_at = if i + 1 < n { i + 1 } else { 0 };
            let t = self.slots[i];
            if !t.in_use() || t.expires_ms > now_ms {
                continue;
            }
            if t.placed > 0 {
                let keep = self.dests.get(t.dest).and_then(|(_, s)| s.runtime().spec.persistent).unwrap_or(1);
                self.slots[i].expires_ms = now_ms + keep as u64 * 1000;
            } else {
                self.remove(i as u32);
                expired += 1;
            }
        }
        expired
    }

    /// Whether a new template may take `tid`'s place, and how urgently:
    /// `Some((0, idle))` unconfirmed, `Some((2, idle))` confirmed but idle
    /// for [`IDLE_EVICTABLE_MS`] (the connection table's tiers), `None`
    /// never: free, placing connections, or recently used.
    fn eviction_rank(&self, tid: u32, now_ms: u64) -> Option<(u8, u32)> {
        let t = &self.slots[tid as usize];
        if !t.in_use() || t.placed > 0 {
            return None;
        }
        let idle = (now_ms as u32).wrapping_sub(t.last_ms);
        if !t.confirmed() {
            Some((0, idle))
        } else if idle >= IDLE_EVICTABLE_MS {
            Some((2, idle))
        } else {
            None
        }
    }

    /// Make room for a new template in a full table: remove the idlest of a
    /// random sample of templates that place no connection, unconfirmed ones
    /// first (see [`Templates::eviction_rank`]). `seed` is any changing
    /// number. Returns what kind went, or None (none may go).
    pub fn evict_for_newcomer(&mut self, now_ms: u64, seed: u64) -> Option<Eviction> {
        let (tier, id) = super::sample_victim(self.slots.len(), seed, |id| self.eviction_rank(id, now_ms))?;
        self.remove(id);
        Some(if tier == 0 { Eviction::Unconfirmed } else { Eviction::Idle })
    }

    /// Live templates from slot `from` on, at most `max`, and the slot to go
    /// on from (None at the end): a sync dump in pieces.
    pub fn live_from(&self, from: u32, max: usize, out: &mut Vec<u32>) -> Option<u32> {
        super::live_slots_from(self.slots.len(), from, max, out, |i| self.slots[i].in_use())
    }

    /// Ids of every live template (removal of all, checks).
    pub(super) fn live_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().enumerate().filter(|(_, t)| t.in_use()).map(|(i, _)| i as u32)
    }

    /// Templates as `-Lc` lists them: state NONE, client port 0.
    pub fn views(&self, now_ms: u64) -> impl Iterator<Item = ConnView> + '_ {
        self.slots.iter().filter(|t| t.in_use()).map(move |t| ConnView {
            proto: t.proto,
            caddr: Ipv4Addr::from(t.caddr).into(),
            cport: 0,
            vaddr: Ipv4Addr::from(t.vaddr).into(),
            vport: t.vport,
            daddr: Ipv4Addr::from(t.daddr).into(),
            dport: t.dport,
            state: "NONE".to_string(),
            expires: (t.expires_ms.saturating_sub(now_ms) / 1000) as u32,
        })
    }

    /// Bytes this table holds: the slab, the free list, the index and the
    /// referents' slots.
    pub fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Template>()
            + self.free.capacity() * 4
            + self.index.bytes()
            + self.dests.bytes()
    }

    /// Check the table against itself and against `placed` (per slot, the
    /// live connections naming it, as the connection table counts them):
    /// the free list and the slab partition the slots, every index entry
    /// names a live template holding that key, each template's count is its
    /// connections', each referent's count its users'.
    pub(super) fn check_invariants(&self, placed: &[u32]) -> Result<(), String> {
        let cap = self.slots.len();
        let in_use = self.slots.iter().filter(|t| t.in_use()).count();
        let mut on_free = vec![false; cap];
        for &id in &self.free {
            let i = id as usize;
            if i >= cap || on_free[i] || self.slots[i].in_use() {
                return Err(format!("template free list holds {id} twice, out of range or in use"));
            }
            on_free[i] = true;
        }
        if in_use != self.live || self.free.len() + self.live != cap {
            return Err(format!(
                "templates: live {} in use {in_use} free {} capacity {cap}",
                self.live,
                self.free.len()
            ));
        }
        for v in self.index.values() {
            let t = self.slots.get(v as usize).ok_or_else(|| format!("template index names slot {v} past the slab"))?;
            if !t.in_use() || self.lookup(&t.key()) != Some(v) {
                return Err(format!("template index names {v}, which does not hold that key"));
            }
        }
        let mut dest_uses = std::collections::HashMap::<u16, u32>::new();
        for (i, t) in self.slots.iter().enumerate() {
            if !t.in_use() {
                if t.dest != NO_REF || placed.get(i).is_some_and(|&p| p != 0) {
                    return Err(format!("free template slot {i} holds a real server or connections"));
                }
                continue;
            }
            if self.dests.get(t.dest).is_none() {
                return Err(format!("template {i} names no real server"));
            }
            *dest_uses.entry(t.dest).or_default() += 1;
            let want = placed.get(i).copied().unwrap_or(0);
            if t.placed != want {
                return Err(format!("template {i} counts {} connections, {want} name it", t.placed));
            }
        }
        for (s, n) in dest_uses {
            if self.dests.uses(s) != n {
                return Err(format!("template real server slot {s} counts {} users, {n} name it", self.dests.uses(s)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ConnTable, FlowKey, NewConn, CONFIRM_AFTER_MS};
    use super::*;
    use crate::ipvs::state::ConnState;

    fn fixtures() -> (Arc<Dest>, Arc<Service>) {
        // Persistence 300 s: a template kept for its connections is re-armed for that long.
        crate::testkit::topology::conn_referents(Some(300))
    }

    fn key(client: u32) -> TemplateKey {
        TemplateKey { caddr: client, vaddr: 2, vport: 80, proto: 6 }
    }

    fn template<'a>(d: &'a Arc<Dest>, s: &'a Arc<Service>, client: u32, expires_ms: u64) -> NewTemplate<'a> {
        NewTemplate { key: key(client), fwd: FwdMethod::Masq, daddr: 3, dport: 80, dest: d, svc: s, expires_ms }
    }

    /// A NAT connection from `client:cport`, placed by template `tid`.
    fn placed<'a>(d: &'a Arc<Dest>, s: &'a Arc<Service>, client: u32, cport: u16, tid: Option<u32>) -> NewConn<'a> {
        NewConn {
            proto: 6,
            state: ConnState::SynRecv,
            fwd: FwdMethod::Masq,
            local: false,
            caddr: client,
            cport,
            vaddr: 2,
            vport: 80,
            daddr: 3,
            dport: 80,
            laddr: 0,
            lport: 0,
            dest: d,
            svc: s,
            laddr_ref: None,
            expires_ms: 900_000,
            in_key: FlowKey { saddr: client, daddr: 2, sport: cport, dport: 80, proto: 6 },
            out_key: Some(FlowKey { saddr: 3, daddr: client, sport: 80, dport: cport, proto: 6 }),
            controller: tid,
        }
    }

    fn ok(t: &ConnTable) {
        if let Err(e) = t.check_invariants() {
            panic!("invariant broken: {e}");
        }
    }

    #[test]
    fn templates_are_not_in_the_connection_table() {
        let (d, s) = fixtures();
        let mut t = ConnTable::with_templates(64, 16, 0);
        // The same connections without templates, counted on other referents.
        let (d2, s2) = fixtures();
        let mut alone = ConnTable::with_templates(64, 16, 0);
        for c in 0..8u32 {
            let tid = t.templates_mut().insert(template(&d, &s, 100 + c, 300_000), 0).unwrap();
            for p in 0..2 {
                t.insert(placed(&d, &s, 100 + c, 1000 + p, Some(tid)), 0).unwrap();
                alone.insert(placed(&d2, &s2, 100 + c, 1000 + p, None), 0).unwrap();
            }
            assert_eq!(t.templates().placed_by(tid), Some(2));
        }
        ok(&t);
        let conns = t.views(0).iter().filter(|v| v.state != "NONE").count();
        println!(
            "16 connections placed by 8 templates: the connection table holds {} entries and {} index keys \
             ({} bytes, {} without templates); the templates' table {} of {} ({} bytes)",
            t.len(),
            t.index.len(),
            t.bytes(),
            alone.bytes(),
            t.templates().len(),
            t.templates().capacity(),
            t.templates().bytes()
        );
        assert_eq!((t.len(), conns, t.index.len()), (16, 16, 32), "connections only, two keys each");
        assert_eq!(t.bytes(), alone.bytes(), "templates take nothing of the connection table");
        assert_eq!(t.templates().len(), 8);
        assert_eq!(t.views(0).len(), 24, "-Lc lists both");
        assert_eq!((d.inactive_conns(), d.persistent_conns()), (16, 8));
        assert!(t.lookup(&FlowKey { saddr: 100, daddr: 2, sport: 0, dport: 80, proto: 6 }).is_none());
        assert!(t.templates().lookup(&key(100)).is_some());
        t.clear();
        assert_eq!((t.len(), t.templates().len(), d.inactive_conns(), d.persistent_conns()), (0, 0, 0, 0));
        ok(&t);
    }

    #[test]
    fn a_full_template_table_evicts_what_places_nothing_then_refuses() {
        let (d, s) = fixtures();
        let mut t = ConnTable::with_templates(64, 4, 0);
        let mut conns = vec![];
        for c in 0..4u32 {
            let tid = t.templates_mut().insert(template(&d, &s, 100 + c, 300_000), 0).unwrap();
            conns.push(t.insert(placed(&d, &s, 100 + c, 1000, Some(tid)), 0).unwrap());
        }
        assert!(t.templates().is_full());
        assert!(matches!(t.templates_mut().insert(template(&d, &s, 200, 300_000), 0), Err(InsertError::Full)));
        for seed in 0..50 {
            assert_eq!(t.templates_mut().evict_for_newcomer(1_000, seed), None, "every template places a connection");
        }
        // Client 100's connection is confirmed (so is its template), then both clients' end.
        t.touch(conns[0], super::super::Side::Out, 1);
        t.touch(conns[0], super::super::Side::In, CONFIRM_AFTER_MS as u64);
        assert!(t.templates().get(t.templates().lookup(&key(100)).unwrap()).confirmed());
        t.remove(conns[0]);
        t.remove(conns[1]);
        ok(&t);
        // The unconfirmed one goes first; the confirmed one only once idle.
        let now = 3_000;
        assert_eq!(t.templates_mut().evict_for_newcomer(now, 7), Some(Eviction::Unconfirmed));
        assert!(t.templates().lookup(&key(101)).is_none() && t.templates().lookup(&key(100)).is_some());
        let tid = t.templates_mut().insert(template(&d, &s, 200, 300_000), now).unwrap();
        t.insert(placed(&d, &s, 200, 1000, Some(tid)), now).unwrap();
        for seed in 0..50 {
            assert_eq!(t.templates_mut().evict_for_newcomer(now, seed), None, "recently used and confirmed");
        }
        let idle = CONFIRM_AFTER_MS as u64 + IDLE_EVICTABLE_MS as u64;
        assert_eq!(t.templates_mut().evict_for_newcomer(idle, 9), Some(Eviction::Idle), "client 100's");
        assert_eq!(t.templates_mut().evict_for_newcomer(idle, 9), None, "the rest place connections");
        assert_eq!(d.persistent_conns(), 3);
        ok(&t);
    }

    #[test]
    fn a_template_outlives_its_connections_then_expires() {
        let (d, s) = fixtures();
        let mut t = ConnTable::with_templates(64, 16, 0);
        let tid = t.templates_mut().insert(template(&d, &s, 100, 10_000), 0).unwrap();
        let c = t.insert(placed(&d, &s, 100, 1000, Some(tid)), 0).unwrap();
        t.set_expiry(c, 60_000);
        // Past its 10 s: kept while its connection lives, re-armed for the persistence (300 s).
        t.expire(30_000, |_| {});
        assert_eq!(t.templates().placed_by(tid), Some(1));
        assert_eq!(t.templates().get(tid).expires_ms(), 330_000);
        // The connection expires at 60 s; the template counts it gone and lives to its time.
        assert_eq!(t.expire(61_000, |_| {}), 1);
        assert_eq!(t.templates().placed_by(tid), Some(0));
        t.expire(329_000, |_| {});
        assert!(t.templates().lookup(&key(100)).is_some(), "still within its persistence");
        ok(&t);
        t.expire(331_000, |_| {});
        assert_eq!((t.templates().len(), d.persistent_conns()), (0, 0), "gone within a second of its time");
        ok(&t);
    }

    #[test]
    fn a_template_removed_while_placing_leaves_no_connection_naming_its_slot() {
        let (d, s) = fixtures();
        let mut t = ConnTable::with_templates(64, 1, 0);
        let tid = t.templates_mut().insert(template(&d, &s, 100, 10_000), 0).unwrap();
        let c = t.insert(placed(&d, &s, 100, 1000, Some(tid)), 0).unwrap();
        t.remove_template(tid);
        assert_eq!(t.controller_of(c), None);
        // A new template takes the slot; the old connection's end must not lower its count.
        let again = t.templates_mut().insert(template(&d, &s, 101, 10_000), 0).unwrap();
        assert_eq!(again, tid);
        t.insert(placed(&d, &s, 101, 1000, Some(again)), 0).unwrap();
        t.remove(c);
        assert_eq!(t.templates().placed_by(again), Some(1));
        ok(&t);
    }
}
