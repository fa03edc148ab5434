//! The `conn_table` fuzz target: a random sequence of operations on a small
//! [`ConnTable`] and its templates' table (insert, template and controlled
//! insert, remove, state and expiry changes, expire as the clock advances,
//! eviction under pressure in either table, template invalidation, rebinding
//! and removal, clear), checked after every operation against a model kept
//! here: what must be present, findable in both directions, counted on its
//! real server and local address, and expired on time; what was removed must
//! be gone.
//!
//! Eviction for a newcomer (`evict_for_newcomer`, of either table) may take
//! at most one entry, never a template still placing connections and never
//! one with recent two-way traffic; `touch` (a packet from either side)
//! drives the model's idea of confirmation. A template expires only when it
//! places no connection, within a second of clock of coming due (the
//! templates' sweep). The table's own `check_invariants` runs after every
//! operation.
//!
//! Only the table's public API is used. Adding an operation is one arm in
//! [`Run::step`] plus its model update.

use super::ops::{duration, Ops};
use rvs::api::{DestSpec, FwdMethod, ServiceKey, ServiceSpec};
use rvs::ipvs::conn::{
    ConnTable, Eviction, FlowKey, InsertError, NewConn, NewTemplate, Side, TemplateKey, CONFIRM_AFTER_MS,
    IDLE_EVICTABLE_MS,
};
use rvs::ipvs::dest::Dest;
use rvs::ipvs::laddr::Laddr;
use rvs::ipvs::service::Service;
use rvs::ipvs::state::ConnState;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Small, so that the tables are often full and keys collide.
pub const CAPACITY: usize = 8;
pub const TEMPLATE_CAPACITY: usize = 3;
/// The templates' sweep covers the whole table in this much clock.
const SWEEP_MS: u64 = 1000;
const START_MS: u64 = 1_000_000;
/// The service's persistence: a template with live connections is re-armed for this long.
const PERSISTENT_S: u32 = 5;
/// One lap of the expiry wheel (s): an entry is looked at at least this often.
const HORIZON_S: u64 = 1024;
/// Flow keys drawn from (both directions share the pool) and template keys.
const FLOW_KEYS: usize = 12;
const TEMPLATE_KEYS: usize = 4;

/// An expiry lowered in place (as the pipeline does on a state change, e.g.
/// ESTABLISHED's 900 s to CLOSE's 10 s) must take effect within a second of
/// coming due, as an extended one does. False: only within one lap of the
/// wheel (what the table's lazy rescheduling promises today).
pub const STRICT_SHORTENED_EXPIRY: bool = true;

/// A template may be removed while connections it placed live (the API
/// allows it; eviction may do it). False: only templates placing nothing.
pub const REMOVE_PLACING_TEMPLATES: bool = true;

const VIP: u32 = 0xc612_0064;
const CLIENT_NET: u32 = 0xc612_0000;
const VIP_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);

fn flow_key(i: usize) -> FlowKey {
    let i = i % FLOW_KEYS;
    FlowKey { saddr: CLIENT_NET | (i % 3) as u32, daddr: VIP, sport: 1000 + (i / 3) as u16, dport: 80, proto: 6 }
}

fn template_key(i: usize) -> TemplateKey {
    TemplateKey { caddr: CLIENT_NET | (i % TEMPLATE_KEYS) as u32, vaddr: VIP, vport: 80, proto: 6 }
}

fn all_keys() -> impl Iterator<Item = FlowKey> {
    (0..FLOW_KEYS).map(flow_key)
}

/// The states a new entry starts in (the pipeline's: a SYN, UDP, other).
const NEW_STATES: [ConnState; 4] = [ConnState::SynRecv, ConnState::Udp, ConnState::None, ConnState::SynSent];
/// Every state: the TCP ones, then UDP's.
const STATES: [ConnState; 12] = {
    let mut all = [ConnState::Udp; 12];
    let mut i = 0;
    while i < ConnState::TCP.len() {
        all[i] = ConnState::TCP[i];
        i += 1;
    }
    all
};

/// What the model knows of one live connection.
#[derive(Debug, Clone)]
struct Entry {
    /// Unique per insert, stored in the entry's `daddr` to recognise it in `expire`'s callback.
    serial: u32,
    in_key: FlowKey,
    out_key: Option<FlowKey>,
    /// The live template that placed this entry.
    controller: Option<u32>,
    dest: usize,
    laddr: bool,
    state: ConnState,
    /// Counted in its dest's ActiveConn.
    active: bool,
    expires_ms: u64,
    /// The table's wheel cursor (s) when the entry was linked.
    linked_sec: u64,
    /// Its expiry was lowered in place at some point.
    shortened: bool,
    /// Inserted at (ms), last touched at (ms).
    born_ms: u64,
    last_ms: u64,
    /// A packet from the real server's side was seen.
    seen_reply: bool,
    /// Confirmed by two-way traffic.
    confirmed: bool,
}

/// What the model knows of one live template.
#[derive(Debug, Clone)]
struct TEntry {
    /// Unique per insert (shared with the connections' serials), stored in its `daddr`.
    serial: u32,
    key: TemplateKey,
    dest: usize,
    expires_ms: u64,
    /// Made unfindable.
    invalidated: bool,
    /// Made, or last placed a connection, at (ms).
    last_ms: u64,
    /// A connection it placed was confirmed.
    confirmed: bool,
    /// Clock the sweep has covered since it came due (expire calls at which it was due).
    due_for_ms: u64,
}

impl TEntry {
    /// A new expiry: the sweep's lateness counts from it.
    fn set_expiry(&mut self, ms: u64) {
        self.expires_ms = ms;
        self.due_for_ms = 0;
    }
}

struct Run {
    t: ConnTable,
    dests: [Arc<Dest>; 2],
    svc: Arc<Service>,
    laddr: Arc<Laddr>,
    live: BTreeMap<u32, Entry>,
    templates: BTreeMap<u32, TEntry>,
    now: u64,
    /// The last second the table's wheel processed, as the model follows it.
    cursor_sec: u64,
    serial: u32,
    /// The operations so far, for the failure message.
    trace: Vec<String>,
}

fn dest(last: u8) -> Arc<Dest> {
    Arc::new(Dest::new(&DestSpec {
        addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 1, last)),
        port: 80,
        fwd: FwdMethod::Masq,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
        tun: Default::default(),
    }))
}

/// Run one input: a sequence of operations, checked after each.
pub fn conn_table(data: &[u8]) {
    let svc = Service::new(ServiceSpec {
        key: ServiceKey::Addr { proto: 6, addr: std::net::IpAddr::from(VIP_ADDR), port: 80 },
        scheduler: "rr".into(),
        persistent: Some(PERSISTENT_S),
        netmask: std::net::IpAddr::from(Ipv4Addr::BROADCAST),
        sched_flags: vec![],
        ops: false,
        laddrs: vec![],
    })
    .expect("fuzz harness: service");
    let mut run = Run {
        t: ConnTable::with_templates(CAPACITY, TEMPLATE_CAPACITY, START_MS),
        dests: [dest(11), dest(12)],
        svc: Arc::new(svc),
        laddr: Arc::new(Laddr::new(0xc612_0164)),
        live: BTreeMap::new(),
        templates: BTreeMap::new(),
        now: START_MS,
        cursor_sec: START_MS / 1000,
        serial: 0,
        trace: Vec::new(),
    };
    let mut ops = Ops::new(data);
    while let Some(op) = ops.op() {
        run.step(op, &mut ops);
        run.check();
    }
    run.t.clear();
    run.live.clear();
    run.templates.clear();
    run.trace.push("clear (end)".into());
    run.check();
}

impl Run {
    fn fail(&self, what: String) -> ! {
        panic!("conn_table: {what}\n  after: {}", self.trace.join("; "))
    }

    fn step(&mut self, op: u8, r: &mut Ops) {
        match op % 13 {
            0..=2 => {
                let in_key = flow_key(r.below(FLOW_KEYS));
                let out = r.below(FLOW_KEYS + 1);
                let has_reply = out < FLOW_KEYS && flow_key(out) != in_key;
                let state = NEW_STATES[r.below(NEW_STATES.len())];
                let (expires, dest, laddr) = (duration(r.byte()), r.below(2), r.byte() & 1 == 1);
                // op 2: a connection placed by a template (any id: the table
                // must ignore one that is not a live template).
                let controller = (op % 13 == 2).then(|| r.below(TEMPLATE_CAPACITY + 1) as u32);
                self.insert(in_key, has_reply, state, expires, dest, laddr, controller);
            }
            3 => {
                let key = template_key(r.below(TEMPLATE_KEYS));
                let (expires, dest) = (duration(r.byte()), r.below(2));
                self.insert_template(key, expires, dest);
            }
            4 => {
                let Some(id) = self.pick(r, |_| true) else { return };
                self.trace.push(format!("remove {id}"));
                self.t.remove(id);
                self.forget(id);
            }
            5 => {
                // Removing an id that is not live changes nothing.
                let id = r.below(CAPACITY) as u32;
                if self.live.contains_key(&id) {
                    return;
                }
                self.trace.push(format!("remove free {id}"));
                self.t.remove(id);
            }
            6 => {
                let Some(id) = self.pick(r, |_| true) else { return };
                let state = STATES[r.below(STATES.len())];
                self.trace.push(format!("set_state {id} {state:?}"));
                self.t.set_state(id, state);
                let e = self.live.get_mut(&id).expect("picked");
                if e.state != state {
                    e.state = state;
                    e.active = state == ConnState::Established;
                }
            }
            7 => {
                // A packet stores a new expiry (longer or shorter) in the entry.
                let Some(id) = self.pick(r, |_| true) else { return };
                let expires = self.now + duration(r.byte());
                self.trace.push(format!("expires {id} +{}", expires - self.now));
                let expires = whole_s(expires);
                self.t.set_expiry(id, expires);
                let e = self.live.get_mut(&id).expect("picked");
                e.shortened |= expires < e.expires_ms;
                e.expires_ms = expires;
            }
            8 => {
                let advance = duration(r.byte());
                self.expire(advance);
            }
            9 => {
                let seed = u64::from_le_bytes([r.byte(), r.byte(), r.byte(), r.byte(), 0, 0, 0, 0]);
                if seed & 0x100 == 0 {
                    self.evict_for_newcomer(seed)
                } else {
                    self.evict_template(seed)
                }
            }
            12 => {
                let Some(id) = self.pick(r, |_| true) else { return };
                let side = if r.byte() & 1 == 0 { Side::In } else { Side::Out };
                self.touch(id, side);
            }
            10 => {
                let ids: Vec<u32> = self.templates.keys().copied().collect();
                let Some(&id) = ids.get(r.below(ids.len())) else { return };
                match r.byte() % 4 {
                    0 => {
                        self.trace.push(format!("invalidate_template {id}"));
                        self.t.templates_mut().invalidate(id, self.now);
                        let e = self.templates.get_mut(&id).expect("picked");
                        e.invalidated = true;
                        e.set_expiry(self.now);
                    }
                    1 => {
                        let d = r.below(2);
                        self.trace.push(format!("rebind_template {id} dest{d}"));
                        self.t.templates_mut().rebind(id, &self.dests[d]);
                        self.templates.get_mut(&id).expect("picked").dest = d;
                    }
                    2 if REMOVE_PLACING_TEMPLATES || self.controlled(id) == 0 => {
                        self.trace.push(format!("remove_template {id}"));
                        self.t.remove_template(id);
                        self.forget_template(id);
                    }
                    2 => {}
                    _ => {
                        let expires = self.now + duration(r.byte());
                        self.trace.push(format!("template expires {id} +{}", expires - self.now));
                        self.t.templates_mut().set_expiry(id, expires);
                        self.templates.get_mut(&id).expect("picked").set_expiry(expires);
                    }
                }
            }
            _ => {
                self.trace.push("clear".into());
                self.t.clear();
                self.live.clear();
                self.templates.clear();
            }
        }
    }

    /// A live entry (that `want` accepts), chosen by the next argument byte.
    fn pick(&self, r: &mut Ops, want: impl Fn(&Entry) -> bool) -> Option<u32> {
        self.pick_id(r, |_, e| want(e))
    }

    fn pick_id(&self, r: &mut Ops, want: impl Fn(u32, &Entry) -> bool) -> Option<u32> {
        let ids: Vec<u32> = self.live.iter().filter(|(&id, e)| want(id, e)).map(|(&id, _)| id).collect();
        let i = r.below(ids.len());
        ids.get(i).copied()
    }

    /// Which live entry a key should find.
    fn expected(&self, key: &FlowKey) -> Option<(u32, Side)> {
        let mut found = None;
        for (&id, e) in &self.live {
            let hit = if e.in_key == *key {
                Some((id, Side::In))
            } else if e.out_key == Some(*key) {
                Some((id, Side::Out))
            } else {
                None
            };
            if let Some(h) = hit {
                assert!(found.is_none(), "fuzz harness: model holds key {key:?} twice");
                found = Some(h);
            }
        }
        found
    }

    fn controlled(&self, template: u32) -> usize {
        self.live.values().filter(|e| e.controller == Some(template)).count()
    }

    /// Which live template a key should find.
    fn expected_template(&self, key: &TemplateKey) -> Option<u32> {
        let mut found = self.templates.iter().filter(|(_, e)| !e.invalidated && e.key == *key).map(|(&id, _)| id);
        let first = found.next();
        assert!(found.next().is_none(), "fuzz harness: model holds template key {key:?} twice");
        first
    }

    fn insert_template(&mut self, key: TemplateKey, expires_in: u64, dest: usize) {
        self.serial += 1;
        let serial = self.serial;
        let expires_ms = self.now + expires_in;
        self.trace.push(format!("insert#{serial} template T{} +{expires_in}ms dest{dest}", key.caddr & 0xff));
        let want = if self.expected_template(&key).is_some() {
            Err(InsertError::Collision)
        } else if self.templates.len() >= TEMPLATE_CAPACITY {
            Err(InsertError::Full)
        } else {
            Ok(())
        };
        let n = NewTemplate {
            key,
            fwd: FwdMethod::Masq,
            daddr: serial,
            dport: 80,
            dest: &self.dests[dest],
            svc: &self.svc,
            expires_ms,
        };
        let got = self.t.templates_mut().insert(n, self.now);
        match (want, got) {
            (Err(w), Err(g)) if w == g => {}
            (Ok(()), Ok(id)) => {
                if id as usize >= TEMPLATE_CAPACITY || self.templates.contains_key(&id) {
                    self.fail(format!("template insert returned id {id}, not a free slot"));
                }
                let e = TEntry {
                    serial,
                    key,
                    dest,
                    expires_ms,
                    invalidated: false,
                    last_ms: self.now,
                    confirmed: false,
                    due_for_ms: 0,
                };
                self.templates.insert(id, e);
            }
            (w, g) => self.fail(format!("template insert: expected {w:?}, got {g:?}")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        in_key: FlowKey,
        has_reply: bool,
        state: ConnState,
        expires_in: u64,
        dest: usize,
        laddr: bool,
        controller: Option<u32>,
    ) {
        self.serial += 1;
        let serial = self.serial;
        let expires_ms = whole_s(self.now + expires_in);
        // The table rebuilds keys from the entry: the reply key is the
        // real server's (the serial, unique) to the client.
        let out_key = has_reply.then_some(FlowKey {
            saddr: serial,
            daddr: in_key.saddr,
            sport: 80,
            dport: in_key.sport,
            proto: in_key.proto,
        });
        self.trace.push(format!(
            "insert#{serial} {}{} {state:?} +{expires_in}ms{}",
            key_name(&in_key),
            out_key.map(|k| format!("/{}", key_name(&k))).unwrap_or_default(),
            controller.map(|c| format!(" controller {c}")).unwrap_or_default()
        ));
        let want = if self.expected(&in_key).is_some() || out_key.is_some_and(|k| self.expected(&k).is_some()) {
            Err(InsertError::Collision)
        } else if self.live.len() >= CAPACITY {
            Err(InsertError::Full)
        } else {
            Ok(())
        };
        let got = self.t.insert(
            NewConn {
                proto: in_key.proto,
                state,
                fwd: if out_key.is_some() { FwdMethod::Masq } else { FwdMethod::Route },
                local: false,
                caddr: in_key.saddr,
                cport: in_key.sport,
                vaddr: VIP,
                vport: 80,
                daddr: serial,
                dport: 80,
                laddr: 0,
                lport: 0,
                dest: &self.dests[dest],
                svc: &self.svc,
                laddr_ref: laddr.then_some(&self.laddr),
                expires_ms,
                in_key,
                out_key,
                controller,
            },
            self.now,
        );
        match (want, got) {
            (Err(w), Err(g)) if w == g => {}
            (Ok(()), Ok(id)) => {
                if id as usize >= CAPACITY || self.live.contains_key(&id) {
                    self.fail(format!("insert returned id {id}, not a free slot"));
                }
                let controller = controller.filter(|c| self.templates.contains_key(c));
                if let Some(t) = controller.and_then(|c| self.templates.get_mut(&c)) {
                    t.last_ms = self.now;
                }
                let e = Entry {
                    serial,
                    in_key,
                    out_key,
                    controller,
                    dest,
                    laddr,
                    state,
                    active: false,
                    expires_ms,
                    linked_sec: self.cursor_sec,
                    shortened: false,
                    born_ms: self.now,
                    last_ms: self.now,
                    seen_reply: false,
                    confirmed: false,
                };
                self.live.insert(id, e);
            }
            (w, g) => self.fail(format!("insert: expected {w:?}, got {g:?}")),
        }
    }

    /// The model's side of removing connection `id`.
    fn forget(&mut self, id: u32) {
        self.live.remove(&id);
    }

    /// The model's side of removing template `id`: what it placed no longer names it.
    fn forget_template(&mut self, id: u32) {
        self.templates.remove(&id);
        for e in self.live.values_mut() {
            if e.controller == Some(id) {
                e.controller = None;
            }
        }
    }

    fn removed_from_table(&self, id: u32) -> bool {
        self.t.dest_of(id).is_none()
    }

    fn template_removed(&self, id: u32) -> bool {
        self.t.templates().placed_by(id).is_none()
    }

    fn expire(&mut self, advance: u64) {
        self.now += advance;
        let now = self.now;
        self.trace.push(format!("expire +{advance}ms"));
        let mut seen: Vec<(u32, u64)> = Vec::new();
        let n = self.t.expire(now, |c| seen.push((c.daddr, c.expires_ms())));
        self.cursor_sec = self.cursor_sec.max(now / 1000);
        if n != seen.len() {
            self.fail(format!("expire returned {n} but called back {} times", seen.len()));
        }
        for &(serial, expires) in &seen {
            let Some((&id, e)) = self.live.iter().find(|(_, e)| e.serial == serial) else {
                self.fail(format!("expire called back for #{serial}, not live"));
            };
            if e.expires_ms > now || expires != e.expires_ms {
                self.fail(format!("expired #{serial} due at {} (saw {expires}) at {now}", e.expires_ms));
            }
            if !self.removed_from_table(id) {
                self.fail(format!("expired #{serial} still in the table"));
            }
            self.forget(id);
        }
        let ids: Vec<u32> = self.live.keys().copied().collect();
        for id in ids {
            if self.removed_from_table(id) {
                self.fail(format!("#{} removed by expire without its callback", self.live[&id].serial));
            }
        }
        self.expire_templates(advance);
        let now_sec = now / 1000;
        for e in self.live.values() {
            if e.expires_ms > now {
                continue;
            }
            let due_sec = e.expires_ms / 1000;
            let overdue = if e.shortened && !STRICT_SHORTENED_EXPIRY {
                now_sec > due_sec + HORIZON_S
            } else {
                due_sec < now_sec && e.linked_sec < now_sec
            };
            if overdue {
                self.fail(format!(
                    "#{} ({}) due at {} is still live at {now} ({:.1} s late){}",
                    e.serial,
                    key_name(&e.in_key),
                    e.expires_ms,
                    (now - e.expires_ms) as f64 / 1000.0,
                    if e.shortened { ", its expiry had been lowered in place" } else { "" }
                ));
            }
        }
    }

    /// The templates' sweep, after the connections expired in this call: a
    /// template gone was due and placed nothing; one re-armed was due and
    /// placing, now for the service's persistence; one due and untouched
    /// must not have been due for a whole sweep.
    fn expire_templates(&mut self, advance: u64) {
        let now = self.now;
        let ids: Vec<u32> = self.templates.keys().copied().collect();
        for id in ids {
            let placing = self.controlled(id);
            let e = self.templates[&id].clone();
            if self.template_removed(id) {
                if e.expires_ms > now || placing > 0 {
                    self.fail(format!(
                        "template #{} expired, due at {} at {now}, placing {placing} connections",
                        e.serial, e.expires_ms
                    ));
                }
                self.forget_template(id);
                continue;
            }
            let got = self.t.templates().get(id).expires_ms();
            if got != e.expires_ms {
                if e.expires_ms > now || placing == 0 || got != now + PERSISTENT_S as u64 * 1000 {
                    self.fail(format!(
                        "template #{} re-armed to {got} (due at {}, now {now}, placing {placing})",
                        e.serial, e.expires_ms
                    ));
                }
                self.templates.get_mut(&id).expect("live").set_expiry(got);
            } else if e.expires_ms <= now {
                let due_for = e.due_for_ms + advance;
                if advance > 0 && due_for >= SWEEP_MS {
                    self.fail(format!(
                        "template #{} due at {} still untouched at {now}, after {due_for} ms of sweeps",
                        e.serial, e.expires_ms
                    ));
                }
                self.templates.get_mut(&id).expect("live").due_for_ms = due_for;
            }
        }
    }

    /// A packet of `id` from `side`, as the pipeline records it.
    fn touch(&mut self, id: u32, side: Side) {
        self.trace.push(format!("touch {id} {side:?}"));
        self.t.touch(id, side, self.now);
        let now = self.now;
        let e = self.live.get_mut(&id).expect("picked");
        e.last_ms = now;
        let mut confirm_template = None;
        match side {
            Side::Out => e.seen_reply = true,
            Side::In => {
                // DR (the model's entries without a reply key) sees no replies.
                let answered = e.seen_reply || e.out_key.is_none();
                if !e.confirmed && answered && now - e.born_ms >= CONFIRM_AFTER_MS as u64 {
                    e.confirmed = true;
                    confirm_template = e.controller;
                }
            }
        }
        if let Some(t) = confirm_template {
            if let Some(te) = self.templates.get_mut(&t) {
                te.confirmed = true;
            }
        }
    }

    /// May a newcomer take `id`'s place? Not a connection carrying a
    /// conversation touched within IDLE_EVICTABLE_MS.
    fn protected(&self, id: u32) -> bool {
        let e = &self.live[&id];
        let conversation = e.confirmed
            && (e.in_key.proto != 6
                || matches!(
                    e.state,
                    ConnState::Established | ConnState::FinWait | ConnState::CloseWait | ConnState::LastAck
                ));
        conversation && self.now - e.last_ms < IDLE_EVICTABLE_MS as u64
    }

    /// May a new template take template `id`'s place? Not while it places
    /// connections, nor when confirmed and used within IDLE_EVICTABLE_MS.
    fn template_protected(&self, id: u32) -> bool {
        let e = &self.templates[&id];
        self.controlled(id) > 0 || (e.confirmed && self.now - e.last_ms < IDLE_EVICTABLE_MS as u64)
    }

    fn evict_template(&mut self, seed: u64) {
        self.trace.push(format!("evict_template {seed}"));
        let protected: Vec<u32> = self.templates.keys().copied().filter(|&id| self.template_protected(id)).collect();
        let got = self.t.templates_mut().evict_for_newcomer(self.now, seed);
        let gone: Vec<u32> = self.templates.keys().copied().filter(|&id| self.template_removed(id)).collect();
        if got.is_some() != (gone.len() == 1) || gone.len() > 1 {
            self.fail(format!("template evict_for_newcomer returned {got:?} and removed {gone:?}"));
        }
        for id in gone {
            let e = &self.templates[&id];
            if protected.contains(&id) {
                self.fail(format!(
                    "template evict_for_newcomer took #{} (placing {}, confirmed {}, idle {} ms)",
                    e.serial,
                    self.controlled(id),
                    e.confirmed,
                    self.now - e.last_ms
                ));
            }
            if got == Some(Eviction::Idle) && self.now - e.last_ms < IDLE_EVICTABLE_MS as u64 {
                self.fail(format!("template #{} evicted as idle after {} ms", e.serial, self.now - e.last_ms));
            }
            self.forget_template(id);
        }
    }

    fn evict_for_newcomer(&mut self, seed: u64) {
        self.trace.push(format!("evict_for_newcomer {seed}"));
        let protected: Vec<u32> = self.live.keys().copied().filter(|&id| self.protected(id)).collect();
        let got = self.t.evict_for_newcomer(self.now, seed);
        let gone: Vec<u32> = self.live.keys().copied().filter(|&id| self.removed_from_table(id)).collect();
        if got.is_some() != (gone.len() == 1) || gone.len() > 1 {
            self.fail(format!("evict_for_newcomer returned {got:?} and removed {gone:?}"));
        }
        for id in gone {
            let e = &self.live[&id];
            if protected.contains(&id) {
                self.fail(format!(
                    "evict_for_newcomer took #{} ({:?}, confirmed {}, idle {} ms)",
                    e.serial,
                    e.state,
                    e.confirmed,
                    self.now - e.last_ms
                ));
            }
            if got == Some(Eviction::Idle) && self.now - e.last_ms < IDLE_EVICTABLE_MS as u64 {
                self.fail(format!("evict_for_newcomer called #{} idle after {} ms", e.serial, self.now - e.last_ms));
            }
            self.forget(id);
        }
    }

    /// Every invariant, after every operation.
    #[allow(clippy::len_zero)] // is_empty is checked against len itself
    fn check(&self) {
        if let Err(e) = self.t.check_invariants() {
            self.fail(format!("check_invariants: {e}"));
        }
        let t = &self.t;
        if t.len() != self.live.len() || t.len() > t.capacity() || t.capacity() != CAPACITY {
            self.fail(format!("len {} capacity {}, model holds {}", t.len(), t.capacity(), self.live.len()));
        }
        if t.is_full() != (t.len() == CAPACITY) || t.is_empty() != (t.len() == 0) {
            self.fail(format!("is_full {} is_empty {} at len {}", t.is_full(), t.is_empty(), t.len()));
        }
        // Every key finds exactly what the model says, in the right direction;
        // removed and invalidated keys find nothing.
        for key in all_keys() {
            let (want, got) = (self.expected(&key), t.lookup(&key));
            if want != got || t.key_free(&key) != want.is_none() {
                self.fail(format!("lookup {}: expected {want:?}, got {got:?}", key_name(&key)));
            }
        }
        for (&id, e) in &self.live {
            // Reply keys are outside the pool: each is looked up here.
            if let Some(k) = e.out_key {
                if t.lookup(&k) != Some((id, Side::Out)) {
                    self.fail(format!("lookup of #{}'s reply key {k:?}: got {:?}", e.serial, t.lookup(&k)));
                }
            }
            let c = t.get(id);
            let same_dest = t.dest_of(id).is_some_and(|d| Arc::ptr_eq(d, &self.dests[e.dest]));
            if !same_dest
                || t.svc_of(id).is_none()
                || c.daddr != e.serial
                || t.controller_of(id) != e.controller
                || c.state != e.state
                || c.active() != e.active
                || c.expires_ms() != e.expires_ms
                || t.holds_laddr(id) != e.laddr
            {
                self.fail(format!(
                    "entry {id} differs: model {e:?}; table state {:?} active {} expires {} controller {:?} daddr {}",
                    c.state,
                    c.active(),
                    c.expires_ms(),
                    t.controller_of(id),
                    c.daddr
                ));
            }
        }
        // The real servers' and the local address's counts follow the entries.
        for (i, d) in self.dests.iter().enumerate() {
            let mine = || self.live.values().filter(move |e| e.dest == i);
            let active = mine().filter(|e| e.active).count() as u32;
            let inactive = mine().filter(|e| !e.active).count() as u32;
            let persistent = self.templates.values().filter(|e| e.dest == i).count() as u32;
            let got = (d.active_conns(), d.inactive_conns(), d.persistent_conns());
            if got != (active, inactive, persistent) {
                self.fail(format!(
                    "dest{i} counts (active, inactive, persistent) {got:?}, expected {:?}",
                    (active, inactive, persistent)
                ));
            }
        }
        let laddr = self.live.values().filter(|e| e.laddr).count() as u64;
        if self.laddr.conns() != laddr {
            self.fail(format!("local address holds {} ports, expected {laddr}", self.laddr.conns()));
        }
        if t.views(self.now).len() != self.live.len() + self.templates.len() {
            self.fail(format!(
                "views list {} entries, expected {} connections and {} templates",
                t.views(self.now).len(),
                self.live.len(),
                self.templates.len()
            ));
        }
        // The templates' table: its keys, fields and counts.
        let tt = t.templates();
        if tt.len() != self.templates.len() || tt.capacity() != TEMPLATE_CAPACITY {
            self.fail(format!(
                "templates: len {} capacity {}, model holds {}",
                tt.len(),
                tt.capacity(),
                self.templates.len()
            ));
        }
        for i in 0..TEMPLATE_KEYS {
            let key = template_key(i);
            let (want, got) = (self.expected_template(&key), tt.lookup(&key));
            if want != got {
                self.fail(format!("template lookup T{i}: expected {want:?}, got {got:?}"));
            }
        }
        for (&id, e) in &self.templates {
            let x = tt.get(id);
            let same_dest = tt.dest_of(id).is_some_and(|d| Arc::ptr_eq(d, &self.dests[e.dest]));
            let placed = tt.placed_by(id);
            if !same_dest
                || tt.svc_of(id).is_none()
                || x.daddr != e.serial
                || x.key() != e.key
                || x.expires_ms() != e.expires_ms
                || x.confirmed() != e.confirmed
                || placed != Some(self.controlled(id) as u32)
            {
                self.fail(format!(
                    "template {id} differs: model {e:?} placing {}; table daddr {} expires {} confirmed {} placed {placed:?}",
                    self.controlled(id),
                    x.daddr,
                    x.expires_ms(),
                    x.confirmed()
                ));
            }
        }
    }
}

/// The table keeps expiry to the millisecond (40 bits): unchanged.
fn whole_s(ms: u64) -> u64 {
    ms
}

fn key_name(k: &FlowKey) -> String {
    if k.daddr == VIP {
        format!("c{}:{}", k.saddr & 0xff, k.sport)
    } else {
        format!("{k:?}")
    }
}

/// Seed inputs: op sequences reaching every operation. None lowers an
/// expiry it then waits for, nor removes a template placing connections.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    // Argument bytes as `step` reads them; durations are `ops::DURATIONS_MS` codes.
    let ins = |i: u8, o: u8, state: u8, exp: u8, dest: u8, laddr: u8| vec![0, i, o, state, exp, dest, laddr];
    let placed = |i: u8, o: u8, exp: u8, controller: u8| vec![2, i, o, 0, exp, 0, 0, controller];
    let template = |k: u8, exp: u8, dest: u8| vec![3, k, exp, dest];
    let remove = |pick: u8| vec![4, pick];
    let remove_free = |id: u8| vec![5, id];
    let set_state = |pick: u8, state: u8| vec![6, pick, state];
    let extend = |pick: u8, exp: u8| vec![7, pick, exp];
    let expire = |code: u8| vec![8, code];
    let evict = |seed: u8| vec![9, seed, 0, 2, 3];
    let evict_template = |seed: u8| vec![9, seed, 1, 2, 3];
    let invalidate = |pick: u8| vec![10, pick, 0];
    let rebind = |pick: u8, dest: u8| vec![10, pick, 1, dest];
    let remove_template = |pick: u8| vec![10, pick, 2];
    let template_expires = |pick: u8, exp: u8| vec![10, pick, 3, exp];
    let touch = |pick: u8, side: u8| vec![12, pick, side];
    let clear = || vec![11];
    let none = FLOW_KEYS as u8;
    vec![
        (
            "fill-collide-full".into(),
            [
                ins(0, none, 0, 9, 0, 0),
                ins(0, 3, 0, 9, 0, 0),
                ins(1, 0, 1, 9, 1, 1),
                ins(1, 2, 1, 8, 1, 1),
                ins(2, none, 2, 10, 0, 0),
                ins(4, 5, 0, 9, 0, 1),
                ins(6, 7, 3, 13, 1, 0),
                ins(8, none, 0, 7, 0, 0),
                ins(9, 10, 1, 14, 1, 1),
                ins(11, none, 0, 15, 0, 0),
                ins(3, none, 0, 9, 0, 0),
                expire(7),
                expire(10),
                ins(3, none, 0, 9, 0, 0),
                expire(13),
                expire(15),
            ]
            .concat(),
        ),
        (
            "templates".into(),
            [
                template(0, 4, 0),
                placed(0, none, 13, 0),
                placed(1, none, 9, 5),
                template(0, 4, 1),
                template(1, 4, 1),
                template(2, 9, 0),
                template(3, 9, 0),
                evict_template(3),
                expire(7),
                expire(7),
                invalidate(0),
                expire(7),
                template(0, 10, 0),
                placed(2, none, 13, 1),
                touch(1, 1),
                expire(6),
                touch(1, 0),
                rebind(0, 1),
                template_expires(1, 2),
                expire(3),
                expire(3),
                remove_template(0),
                remove(1),
                evict_template(9),
                expire(13),
                expire(15),
            ]
            .concat(),
        ),
        (
            "states-evict".into(),
            [
                ins(0, 1, 0, 9, 0, 0),
                ins(2, 3, 2, 9, 0, 0),
                ins(4, 5, 1, 9, 1, 0),
                ins(6, 7, 0, 9, 1, 1),
                set_state(0, 1),
                set_state(1, 1),
                set_state(1, 6),
                set_state(2, 3),
                evict(1),
                evict(7),
                evict(200),
                extend(0, 13),
                remove_free(7),
                remove(0),
                remove(0),
                clear(),
                ins(0, 1, 0, 9, 0, 0),
                expire(10),
            ]
            .concat(),
        ),
        (
            "past-the-horizon".into(),
            [
                ins(0, 1, 0, 15, 0, 0),
                ins(2, none, 1, 14, 1, 0),
                expire(14),
                extend(0, 15),
                expire(14),
                expire(15),
                expire(15),
            ]
            .concat(),
        ),
    ]
}
