//! The connection table of one poll loop.
//!
//! An entry ([`Conn`]) is 32 bytes: addresses, ports, expiry (40-bit ms),
//! state and packed flags, and small indexes naming its real server (with
//! its service) and FULLNAT local address in the table's [`refs`], so a new
//! connection clones no `Arc`. What only some paths need lives in separate
//! arrays indexed by the entry's id: the expiry wheel's links, the latest
//! packet's time and the entry's age, the link to the persistence template
//! that placed it, the sync daemon's bookkeeping (only while a master daemon
//! runs). Templates live in a small table of their own ([`templates`]),
//! which this one owns so the link stays sound.
//! The [`index`] maps each direction's 5-tuple to its entry (both directions
//! of a NAT or FULLNAT connection are found; DR and TUN have only the
//! inbound one); keys are rebuilt from the entry, not stored twice.
//!
//! Expiry uses a timing wheel with lazy rescheduling: a packet only stores a
//! new expiry time in its entry; the wheel moves an entry when its old slot
//! comes due. Nothing here allocates after construction, but for the first
//! connection to a real server or local address no live entry uses yet.
//!
//! When the table is full, a newcomer takes the place of an entry that is
//! unconfirmed (never saw two-way traffic spread over time) or idle, the least
//! recently used of a small random sample ([`ConnTable::evict_for_newcomer`]);
//! entries with recent two-way traffic are never taken.

pub mod addr6;
mod index;
mod refs;
mod templates;

use super::dest::Dest;
use super::laddr::Laddr;
use super::service::Service;
use super::state::ConnState;
use crate::api::{ConnView, FwdMethod};
use index::Index;
use refs::{ptr_of, Refs, NO_REF};
use std::net::Ipv4Addr;
use std::sync::Arc;
pub use templates::{NewTemplate, Template, TemplateKey, Templates, MAX_TEMPLATES};

const NIL: u32 = u32::MAX;
/// Index values with this bit set name the reply (outbound) direction.
const OUT_BIT: u32 = 1 << 31;
const WHEEL_SLOTS: u64 = 1024;
const TICK_MS: u64 = 1000;

/// The most entries one table (one poll loop's) holds: the index's entry ids are 24 bits.
/// `[dataplane] connections` above it is refused.
pub const MAX_CONNECTIONS: usize = index::MAX_ENTRIES;
/// A client packet this long after the first one (with a reply seen in
/// between, for NAT and FULLNAT) confirms a connection. A spoofed source
/// sends its SYN and whatever follows at once and never hears the reply, so a
/// handshake's worth of packets proves nothing; a client still talking after
/// two seconds has a conversation (conntrack's UDP "stream" rule, 2 s).
pub const CONFIRM_AFTER_MS: u32 = 2_000;
/// A confirmed entry with no packet for this long may make room for a
/// newcomer when the table is full (after every unconfirmed one in the
/// sample). Shorter would cut live but briefly quiet sessions; longer would
/// let a flood that keeps its entries alive by a packet a while hold the
/// table that much longer after it stops.
pub const IDLE_EVICTABLE_MS: u32 = 10_000;
/// Slab slots looked at per round, and rounds at most, when choosing whom to
/// evict: Katran's per-CPU LRU without the list (a sample of 8 finds an
/// unconfirmed entry with probability 1 - (1 - f)^8 when a fraction f of the
/// table is unconfirmed: 0.9 at f = 0.25).
const EVICT_SAMPLE: usize = 8;
const EVICT_ROUNDS: usize = 4;

/// The entry to evict among a random sample of the `slots` slab slots, as
/// both tables choose (connections, and templates in templates.rs): `rank`
/// gives a slot's tier (lower goes first) and its idle time (longer goes
/// first), or `None` for a slot that may not go. Rounds of [`EVICT_SAMPLE`]
/// slots, at most [`EVICT_ROUNDS`], stopping after the first round that holds
/// a tier-0 slot. `seed` is any changing number. The victim's tier and slot.
pub(super) fn sample_victim(
    slots: usize,
    seed: u64,
    mut rank: impl FnMut(u32) -> Option<(u8, u32)>,
) -> Option<(u8, u32)> {
    let n = slots as u64;
    if n == 0 {
        return None;
    }
    let mut x = seed | 1;
    // The best so far as one number, tier above the complement of its idle
    // time (lower goes first: a lower tier, then a longer idle time), and
    // its slot; u64::MAX: none yet (a packed rank is below 2^40). Strictly
    // lower replaces, so the first sampled of equals stays.
    let mut best = (u64::MAX, 0u32);
    for _ in 0..EVICT_ROUNDS {
        for _ in 0..EVICT_SAMPLE {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = (x % n) as u32;
            if let Some((tier, idle)) = rank(id) {
                let packed = (tier as u64) << 32 | (u32::MAX - idle) as u64;
                if packed < best.0 {
                    best = (packed, id);
                }
            }
        }
        if best.0 >> 32 == 0 {
            break;
        }
    }
    (best.0 != u64::MAX).then_some(((best.0 >> 32) as u8, best.1))
}

/// The slots of a slab of `slots` from `from` on for which `in_use` holds,
/// at most `max` of them into `out`, scanning at most `8 * max`, and the slot
/// to go on from (None at the end): a dump in pieces, as both tables give
/// the sync daemon, so that no batch stalls on a big table.
pub(super) fn live_slots_from(
    slots: usize,
    from: u32,
    max: usize,
    out: &mut Vec<u32>,
    in_use: impl Fn(usize) -> bool,
) -> Option<u32> {
    let mut id = from as usize;
    let mut scanned = 0;
    while id < slots {
        if out.len() >= max || scanned >= max * 8 {
            return Some(id as u32);
        }
        if in_use(id) {
            out.push(id as u32);
        }
        id += 1;
        scanned += 1;
    }
    None
}

/// `Conn::bits`: the forwarding method in the low two bits, then flags.
const FWD_MASK: u8 = 0b11;
/// The real server is the director itself (IPVS's LOCALNODE): its packets go
/// to the host stack (pipeline/local_node.rs). Fixed when the connection is
/// made, as the kernel's conn_flags are.
const LOCAL_NODE: u8 = 1 << 2;
/// Counted in the dest's ActiveConn (else InActConn).
const ACTIVE: u8 = 1 << 3;
const IN_USE: u8 = 1 << 4;
const SEEN_REPLY: u8 = 1 << 5;
const CONFIRMED: u8 = 1 << 6;
/// Has a reply key (NAT and FULLNAT connections).
const HAS_REPLY: u8 = 1 << 7;

/// A direction of a flow as seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub saddr: u32,
    pub daddr: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

impl FlowKey {
    /// The key as two words (addresses; ports and protocol): what is hashed
    /// and what entries are compared with.
    #[inline(always)]
    pub fn words(&self) -> (u64, u64) {
        (addr_word(self.saddr, self.daddr), port_word(self.sport, self.dport, self.proto))
    }
}

#[inline(always)]
fn addr_word(s: u32, d: u32) -> u64 {
    s as u64 | (d as u64) << 32
}

#[inline(always)]
fn port_word(s: u16, d: u16, proto: u8) -> u64 {
    s as u64 | (d as u64) << 16 | (proto as u64) << 32
}

/// Which of a connection's keys a packet matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Client to director (the original direction).
    In,
    /// Real server to director (NAT and FULLNAT replies).
    Out,
}

fn fwd_bits(f: FwdMethod) -> u8 {
    match f {
        FwdMethod::Masq => 0,
        FwdMethod::Route => 1,
        FwdMethod::Tunnel => 2,
        FwdMethod::FullNat => FULLNAT_BITS,
    }
}

/// The forwarding method of flag bits made by [`fwd_bits`] (connections and templates).
#[inline]
fn fwd_of_bits(bits: u8) -> FwdMethod {
    match bits & FWD_MASK {
        0 => FwdMethod::Masq,
        1 => FwdMethod::Route,
        2 => FwdMethod::Tunnel,
        _ => FwdMethod::FullNat,
    }
}

/// One connection: 32 bytes, half a cache line.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Conn {
    pub caddr: u32,
    pub vaddr: u32,
    pub daddr: u32,
    pub cport: u16,
    pub vport: u16,
    pub dport: u16,
    /// FULLNAT's local port (the source port the real server sees).
    pub lport: u16,
    /// The expiry time on the millisecond clock, 40 bits (35 years): the
    /// low 32 here, the high 8 in `expires_hi`.
    expires_lo: u32,
    /// The table's [`refs`] slot of the real server and its service.
    dest: u16,
    /// The table's [`refs`] slot of the FULLNAT local address.
    laddr: u16,
    pub proto: u8,
    pub state: ConnState,
    bits: u8,
    expires_hi: u8,
}

const _: () = assert!(std::mem::size_of::<Conn>() == 32);

const FREE_CONN: Conn = Conn {
    caddr: 0,
    vaddr: 0,
    daddr: 0,
    cport: 0,
    vport: 0,
    dport: 0,
    lport: 0,
    expires_lo: 0,
    dest: NO_REF,
    laddr: NO_REF,
    proto: 0,
    state: ConnState::None,
    bits: 0,
    expires_hi: 0,
};

impl Conn {
    #[inline]
    pub fn fwd(&self) -> FwdMethod {
        fwd_of_bits(self.bits)
    }

    /// To the director itself (see [`LOCAL_NODE`]).
    #[inline(always)]
    pub fn local_node(&self) -> bool {
        self.bits & LOCAL_NODE != 0
    }

    /// The table's slot of this connection's real server and service (the
    /// fast path tallies traffic by it; see [`ConnTable::dest_and_svc_at`]).
    #[inline(always)]
    pub fn dest_ref(&self) -> u16 {
        self.dest
    }

    /// Counted in the dest's ActiveConn (else InActConn).
    #[inline]
    pub fn active(&self) -> bool {
        self.bits & ACTIVE != 0
    }

    #[inline]
    fn in_use(&self) -> bool {
        self.bits & IN_USE != 0
    }

    #[inline]
    pub fn expires_ms(&self) -> u64 {
        (self.expires_hi as u64) << 32 | self.expires_lo as u64
    }

    #[inline]
    fn set_expires_ms(&mut self, ms: u64) {
        let ms = ms.min(MAX_EXPIRY_MS);
        (self.expires_lo, self.expires_hi) = (ms as u32, (ms >> 32) as u8);
    }

    /// Saw two-way traffic spread over time (see [`ConnTable::touch`]).
    #[inline]
    pub fn confirmed(&self) -> bool {
        self.bits & CONFIRMED != 0
    }

    /// The key the client's packets arrive with.
    #[inline]
    fn in_key(&self) -> FlowKey {
        FlowKey { saddr: self.caddr, daddr: self.vaddr, sport: self.cport, dport: self.vport, proto: self.proto }
    }

    /// Is this connection still carrying a conversation? A TCP connection
    /// stops being one when it closes (or never got past the handshake), even
    /// if it was confirmed.
    fn live_conversation(&self) -> bool {
        self.confirmed() && self.in_conversation_state()
    }

    /// Past the handshake and not closing (any UDP flow; an SCTP association
    /// until its SHUTDOWN is acknowledged).
    fn in_conversation_state(&self) -> bool {
        use ConnState::*;
        match self.proto {
            crate::wire::ip_protocol::IPPROTO_TCP => matches!(self.state, Established | FinWait | CloseWait | LastAck),
            crate::wire::ip_protocol::IPPROTO_SCTP => {
                matches!(self.state, SctpEstablished | SctpShutdownSent | SctpShutdownReceived)
            }
            _ => true,
        }
    }

    /// The real server's side was heard (DR and TUN replies bypass the director: there is
    /// none to wait for).
    fn answered(&self) -> bool {
        self.bits & SEEN_REPLY != 0 || matches!(self.fwd(), FwdMethod::Route | FwdMethod::Tunnel)
    }
}

/// Does the entry an index value names hold `k` (as [`FlowKey::words`])
/// in that direction? Two word compares, without building the entry's key.
#[inline(always)]
fn holds_key(conns: &[Conn], laddrs: &Refs<LaddrRef>, v: u32, w: (u64, u64)) -> bool {
    let id = (v & !OUT_BIT) as usize;
    debug_assert!(id < conns.len());
    // SAFETY: the index holds only values `insert_hashed` stored, ids of slab
    // slots taken from the free list, below `conns.len()`, which never
    // changes after `ConnTable::new`.
    let c = unsafe { conns.get_unchecked(id) };
    if v & OUT_BIT == 0 {
        addr_word(c.caddr, c.vaddr) == w.0 && port_word(c.cport, c.vport, c.proto) == w.1
    } else {
        // NAT replies come to the client's address and port, FULLNAT's to
        // the local ones.
        let (daddr, dport) = if c.bits & FWD_MASK != FULLNAT_BITS {
            (c.caddr, c.cport)
        } else {
            (laddrs.get(c.laddr).map_or(0, |l| l.0), c.lport)
        };
        addr_word(c.daddr, daddr) == w.0 && port_word(c.dport, dport, c.proto) == w.1
    }
}

const FULLNAT_BITS: u8 = 3;

/// The latest expiry an entry holds (40 bits of milliseconds).
const MAX_EXPIRY_MS: u64 = (1 << 40) - 1;

/// Which kind of entry made room for a newcomer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// Never confirmed by two-way traffic, or finished.
    Unconfirmed,
    /// Confirmed, but quiet for at least [`IDLE_EVICTABLE_MS`].
    Idle,
}

/// What a caller supplies for a new connection. References, not `Arc`s:
/// the table clones one only for a referent none of its entries uses yet.
pub struct NewConn<'a> {
    pub proto: u8,
    pub state: ConnState,
    pub fwd: FwdMethod,
    /// The real server is the director itself ([`Conn::local_node`]).
    pub local: bool,
    pub caddr: u32,
    pub cport: u16,
    pub vaddr: u32,
    pub vport: u16,
    pub daddr: u32,
    pub dport: u16,
    pub laddr: u32,
    pub lport: u16,
    pub dest: &'a Arc<Dest>,
    pub svc: &'a Arc<Service>,
    pub laddr_ref: Option<&'a Arc<Laddr>>,
    pub expires_ms: u64,
    pub in_key: FlowKey,
    pub out_key: Option<FlowKey>,
    /// The persistence template that placed this connection (its id in
    /// [`ConnTable::templates`]).
    pub controller: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertError {
    /// The table holds its configured maximum.
    Full,
    /// Another connection already owns one of the keys.
    Collision,
}

/// A real server with the service it was scheduled by.
type DestRef = (Arc<Dest>, Arc<Service>);
/// A FULLNAT local address, and its counters when it is configured here.
type LaddrRef = (u32, Option<Arc<Laddr>>);

pub struct ConnTable {
    conns: Vec<Conn>,
    /// Per entry: the wheel's circular list links `[next, prev]`, then one
    /// sentinel head per wheel slot (ids `capacity + slot`). A free entry's
    /// `next` threads the free list.
    links: Vec<[u32; 2]>,
    /// Per entry: low 32 bits of the millisecond clock at the latest packet
    /// (differences wrap correctly for 24 days; the table's timeouts are far
    /// shorter).
    last_ms: Vec<u32>,
    /// Per entry, until it is confirmed: milliseconds from its first packet
    /// to its latest, saturating (only compared with [`CONFIRM_AFTER_MS`]).
    age_ms: Vec<u16>,
    /// Per entry: the template that placed the connection (NIL: none), a
    /// slot of `templates`, which counts the live connections naming it.
    ctl: Vec<u32>,
    /// Per entry, for the sync daemon's master (ip_vs_conn's in_pkts and
    /// sync_endtime): client packets seen, and when the entry was last
    /// synced (the clock in seconds, wrapping at 2^16 s, 18 hours: the
    /// refresh period is bounded below that; 0: never). Empty until a master
    /// daemon runs ([`ConnTable::keep_sync_bookkeeping`]): a director that
    /// syncs nothing does not pay for them.
    in_pkts: Vec<u32>,
    synced_s: Vec<u16>,
    synced_state: Vec<ConnState>,
    free_head: u32,
    index: Index,
    dests: Refs<DestRef>,
    laddrs: Refs<LaddrRef>,
    /// Last second whose wheel slot was processed.
    cursor_sec: u64,
    live: usize,
    /// The poll loop owning this table: its row of the real servers'
    /// connection counts (dest.rs) is the one this table writes.
    worker: usize,
    /// The persistence templates (see [`templates`]).
    templates: Templates,
}

/// One entry's rows of the table's per-entry arrays (`ConnTable::rows_mut`).
struct Rows<'a> {
    conn: &'a mut Conn,
    link: &'a mut [u32; 2],
    last_ms: &'a mut u32,
    age_ms: &'a mut u16,
    ctl: &'a mut u32,
}

/// The template table's size when `[dataplane] templates` is not set: a
/// quarter of the connections (a template places at least one connection;
/// many clients open several under one).
pub fn default_templates(connections: usize) -> usize {
    (connections / 4).clamp(1, MAX_TEMPLATES)
}

impl ConnTable {
    /// A table of `capacity` connections and [`default_templates`] templates.
    pub fn new(capacity: usize, now_ms: u64) -> Self {
        Self::with_templates(capacity, default_templates(capacity), now_ms)
    }

    pub fn with_templates(capacity: usize, templates: usize, now_ms: u64) -> Self {
        // The index stores entry ids below 2^24 (16.7 million entries a table).
        let capacity = capacity.clamp(1, index::MAX_ENTRIES);
        let mut links = vec![[NIL, NIL]; capacity + WHEEL_SLOTS as usize];
        for (id, l) in links.iter_mut().enumerate().take(capacity) {
            l[0] = if id + 1 < capacity { id as u32 + 1 } else { NIL };
        }
        for s in 0..WHEEL_SLOTS as usize {
            let head = (capacity + s) as u32;
            links[capacity + s] = [head, head];
        }
        ConnTable {
            conns: vec![FREE_CONN; capacity],
            links,
            last_ms: vec![0; capacity],
            age_ms: vec![0; capacity],
            ctl: vec![NIL; capacity],
            in_pkts: Vec::new(),
            synced_s: Vec::new(),
            synced_state: Vec::new(),
            free_head: 0,
            // Two keys per connection at most (NAT, FULLNAT).
            index: Index::new(capacity * 2),
            dests: Refs::new(),
            laddrs: Refs::new(),
            cursor_sec: now_ms / TICK_MS,
            live: 0,
            worker: 0,
            templates: Templates::new(templates, now_ms),
        }
    }

    /// Give the empty table's index the hash keys `seed` (see
    /// `Index::with_seed`: measurement only, so instruction counts repeat).
    /// False, with nothing changed, if the table holds anything.
    pub fn set_index_seed_for_measurement(&mut self, seed: u64) -> bool {
        if self.live != 0 {
            return false;
        }
        self.index = Index::with_seed(self.conns.len() * 2, seed);
        true
    }

    /// The table belongs to poll loop `worker` (see `ConnTable::worker`).
    pub fn set_worker(&mut self, worker: usize) {
        self.worker = worker;
        self.templates.set_worker(worker);
    }

    /// The persistence templates.
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    pub fn templates_mut(&mut self) -> &mut Templates {
        &mut self.templates
    }

    pub fn len(&self) -> usize {
        self.live
    }
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
    pub fn capacity(&self) -> usize {
        self.conns.len()
    }
    pub fn is_full(&self) -> bool {
        self.free_head == NIL
    }

    /// The hash of a key: computed once per packet, for the lookup and then
    /// the insert of a new connection ([`ConnTable::insert_hashed`]).
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        self.index.hash(key)
    }

    /// The hash of a key as [`FlowKey::words`] gives it.
    #[inline(always)]
    pub fn hash_words(&self, w: (u64, u64)) -> u64 {
        self.index.hash_words(w)
    }

    /// Bring the index bucket a lookup of hash `h` reads first into the cache
    /// (see `Index::prefetch`).
    #[inline(always)]
    pub fn prefetch_lookup(&self, h: u64) {
        self.index.prefetch(h)
    }

    /// [`ConnTable::lookup`] of the key of words `w` ([`FlowKey::words`]) and hash `h`.
    #[inline(always)]
    pub fn lookup_by_words(&self, w: (u64, u64), h: u64) -> Option<(u32, Side)> {
        self.lookup_words(w, h)
    }

    #[inline(always)]
    pub fn lookup(&self, key: &FlowKey) -> Option<(u32, Side)> {
        let w = key.words();
        self.lookup_words(w, self.index.hash_words(w))
    }

    #[inline(always)]
    pub fn lookup_hashed(&self, key: &FlowKey, h: u64) -> Option<(u32, Side)> {
        self.lookup_words(key.words(), h)
    }

    /// The lookup of a key as [`FlowKey::words`], of hash `h`.
    #[inline(always)]
    fn lookup_words(&self, w: (u64, u64), h: u64) -> Option<(u32, Side)> {
        self.index.find(h, |v| holds_key(&self.conns, &self.laddrs, v, w)).map(|v| {
            if v & OUT_BIT != 0 {
                (v & !OUT_BIT, Side::Out)
            } else {
                (v, Side::In)
            }
        })
    }

    /// The key an index value stands for (None: a stale value; never).
    #[inline]
    fn key_of(&self, v: u32) -> Option<FlowKey> {
        let c = self.conns.get((v & !OUT_BIT) as usize)?;
        if v & OUT_BIT == 0 {
            Some(c.in_key())
        } else {
            self.reply_key(c)
        }
    }

    /// The key replies from the real server arrive with (NAT, FULLNAT).
    #[inline]
    fn reply_key(&self, c: &Conn) -> Option<FlowKey> {
        if c.bits & HAS_REPLY == 0 {
            return None;
        }
        let (daddr, dport) = match c.fwd() {
            FwdMethod::FullNat => (self.laddr_addr(c), c.lport),
            _ => (c.caddr, c.cport),
        };
        Some(FlowKey { saddr: c.daddr, daddr, sport: c.dport, dport, proto: c.proto })
    }

    #[inline]
    fn laddr_addr(&self, c: &Conn) -> u32 {
        self.laddrs.get(c.laddr).map_or(0, |l| l.0)
    }

    #[inline]
    pub fn get(&self, id: u32) -> &Conn {
        &self.conns[id as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, id: u32) -> &mut Conn {
        &mut self.conns[id as usize]
    }

    /// The real server connection `id` was scheduled to.
    #[inline]
    pub fn dest_of(&self, id: u32) -> Option<&Arc<Dest>> {
        self.dests.get(self.conns[id as usize].dest).map(|r| &r.0)
    }

    /// The real server and the service of connection `id`, in one look.
    #[inline]
    pub fn dest_and_svc_of(&self, id: u32) -> Option<(&Arc<Dest>, &Arc<Service>)> {
        self.dests.get(self.conns[id as usize].dest).map(|r| (&r.0, &r.1))
    }

    /// The real server and service in slot `r` of the table's references
    /// (valid until a connection is inserted or removed).
    #[inline]
    pub fn dest_and_svc_at(&self, r: u16) -> Option<(&Arc<Dest>, &Arc<Service>)> {
        self.dests.get(r).map(|d| (&d.0, &d.1))
    }

    /// The service that scheduled connection `id`.
    #[inline]
    pub fn svc_of(&self, id: u32) -> Option<&Arc<Service>> {
        self.dests.get(self.conns[id as usize].dest).map(|r| &r.1)
    }

    /// FULLNAT's local address of connection `id` (0: none).
    #[inline]
    pub fn laddr_of(&self, id: u32) -> u32 {
        self.laddr_addr(&self.conns[id as usize])
    }

    /// Does connection `id` hold a port of a configured local address?
    pub fn holds_laddr(&self, id: u32) -> bool {
        self.laddrs.get(self.conns[id as usize].laddr).is_some_and(|l| l.1.is_some())
    }

    /// Is a reply key free? (FULLNAT asks before choosing a local port.)
    #[inline]
    pub fn key_free(&self, key: &FlowKey) -> bool {
        self.lookup(key).is_none()
    }

    pub fn insert(&mut self, n: NewConn, now_ms: u64) -> Result<u32, InsertError> {
        let h = self.index.hash(&n.in_key);
        self.insert_hashed(n, h, now_ms)
    }

    /// [`ConnTable::insert`] with the in-key's hash already computed (by the
    /// lookup that found no entry).
    pub fn insert_hashed(&mut self, n: NewConn, in_hash: u64, now_ms: u64) -> Result<u32, InsertError> {
        self.insert_new(n, in_hash, now_ms, false)
    }

    /// [`ConnTable::insert_hashed`] for a caller that looked the in-key up
    /// and found no entry, with nothing inserted since: the in-key is stored
    /// without searching its buckets again. (The reply key is still
    /// searched: another connection may hold it.) Its reply key must be the
    /// one the entry's fields make (new_connection_hashed builds it so), as
    /// the other inserts check.
    #[inline(always)]
    pub fn insert_absent(&mut self, n: NewConn, in_hash: u64, now_ms: u64) -> Result<u32, InsertError> {
        debug_assert!(self.lookup_hashed(&n.in_key, in_hash).is_none());
        debug_assert!(n.out_key.is_none_or(|k| match n.fwd {
            FwdMethod::Masq => {
                k == FlowKey { saddr: n.daddr, daddr: n.caddr, sport: n.dport, dport: n.cport, proto: n.proto }
            }
            FwdMethod::FullNat => {
                k == FlowKey { saddr: n.daddr, daddr: n.laddr, sport: n.dport, dport: n.lport, proto: n.proto }
            }
            _ => false,
        }));
        self.insert_new(n, in_hash, now_ms, true)
    }

    #[inline(always)]
    fn insert_new(&mut self, n: NewConn, in_hash: u64, now_ms: u64, absent: bool) -> Result<u32, InsertError> {
        let bits = fwd_bits(n.fwd)
            | IN_USE
            | if n.out_key.is_some() { HAS_REPLY } else { 0 }
            | if n.local { LOCAL_NODE } else { 0 };
        let mut c = Conn {
            caddr: n.caddr,
            vaddr: n.vaddr,
            daddr: n.daddr,
            cport: n.cport,
            vport: n.vport,
            dport: n.dport,
            lport: n.lport,
            expires_lo: 0,
            dest: NO_REF,
            laddr: NO_REF,
            proto: n.proto,
            state: n.state,
            bits,
            expires_hi: 0,
        };
        c.set_expires_ms(n.expires_ms);
        // The keys are rebuilt from the entry: they must be the caller's
        // (compared as words, which the index needs anyway).
        let w_in = n.in_key.words();
        let w_out = n.out_key.map(|k| k.words());
        let in_words = (addr_word(c.caddr, c.vaddr), port_word(c.cport, c.vport, c.proto));
        // An absent caller built the reply key from these fields (see insert_absent).
        let reply = absent
            || match (w_out, c.fwd()) {
                (Some(w), FwdMethod::Masq) => w == (addr_word(c.daddr, c.caddr), port_word(c.dport, c.cport, c.proto)),
                (Some(w), FwdMethod::FullNat) => {
                    w == (addr_word(c.daddr, n.laddr), port_word(c.dport, c.lport, c.proto))
                }
                (Some(_), _) => false,
                (None, _) => true,
            };
        // (A caller that found the in-key absent looked it up as built here.)
        if !reply || (!absent && in_words != w_in) {
            return Err(InsertError::Collision);
        }
        let id = self.free_head;
        // The free list's head: a slab slot, or NIL (beyond every slot) when
        // the table is full. This check bounds every side array's row
        // written below (see `rows_mut`).
        if id as usize >= self.conns.len() {
            let taken =
                self.lookup_hashed(&n.in_key, in_hash).is_some() || n.out_key.is_some_and(|k| !self.key_free(&k));
            return Err(if taken { InsertError::Collision } else { InsertError::Full });
        }
        // The in-key first, checked and stored in one pass; then the reply key.
        if absent {
            if !self.index.insert(in_hash, id) {
                return Err(InsertError::Full);
            }
        } else {
            match self.index.insert_unique(in_hash, id, |v| holds_key(&self.conns, &self.laddrs, v, w_in)) {
                Ok(()) => {}
                Err(Some(_)) => return Err(InsertError::Collision),
                Err(None) => return Err(InsertError::Full),
            }
        }
        // The reply key is compared with entries before this one's fields
        // are in place: a FULLNAT key names its local address directly.
        if let Some(w) = w_out {
            let h = self.index.hash_words(w);
            let taken = self.index.insert_unique(h, id | OUT_BIT, |v| holds_key(&self.conns, &self.laddrs, v, w));
            if let Err(e) = taken {
                self.unindex(in_hash, id, None);
                return Err(if e.is_some() { InsertError::Collision } else { InsertError::Full });
            }
        }
        // The real server's row remembers where this table keeps it: most
        // new connections go to a server already in use, found without a hash.
        let hint = n.dest.table_slot(self.worker);
        let acquired =
            self.dests.acquire_hinted(hint, (ptr_of(n.dest), ptr_of(n.svc)), || (n.dest.clone(), n.svc.clone()));
        let laddr = if n.laddr != 0 || n.laddr_ref.is_some() {
            let key = (n.laddr as usize, n.laddr_ref.map_or(0, ptr_of));
            self.laddrs.acquire(key, || (n.laddr, n.laddr_ref.cloned()))
        } else {
            Some(NO_REF)
        };
        match (acquired, laddr) {
            (Some(d), Some(l)) => (c.dest, c.laddr) = (d, l),
            (d, l) => {
                // 65535 distinct real servers or local addresses in use.
                if let Some(d) = d {
                    self.dests.release(d);
                }
                if let Some(l) = l.filter(|&l| l != NO_REF) {
                    self.laddrs.release(l);
                }
                self.unindex(in_hash, id, n.out_key);
                return Err(InsertError::Full);
            }
        }
        n.dest.bind_conn_at(self.worker, c.dest as u32);
        if let Some(l) = n.laddr_ref {
            l.bind();
        }
        let i = id as usize;
        let ctl = match n.controller {
            Some(t) if self.templates.place(t, now_ms) => t,
            _ => NIL,
        };
        let rows = self.rows_mut(i);
        let next_free = rows.link[0];
        (*rows.conn, *rows.last_ms, *rows.age_ms, *rows.ctl) = (c, now_ms as u32, 0, ctl);
        self.free_head = next_free;
        if let (Some(p), Some(s), Some(st)) =
            (self.in_pkts.get_mut(i), self.synced_s.get_mut(i), self.synced_state.get_mut(i))
        {
            (*p, *s, *st) = (0, 0, ConnState::None);
        }
        self.live += 1;
        self.link_at(id, c.expires_ms());
        Ok(id)
    }

    /// Take back the keys a failed insert of entry `id` stored (kept out of
    /// the insert: it would crowd the path every new connection takes).
    #[cold]
    fn unindex(&mut self, in_hash: u64, id: u32, out_key: Option<FlowKey>) {
        self.index.remove(in_hash, id);
        if let Some(k) = out_key {
            self.index.remove(self.index.hash(&k), id | OUT_BIT);
        }
    }

    /// Entry `i`'s rows of the arrays every entry has a row in, without a
    /// bounds check each: `i` must be below the capacity (`conns.len()`),
    /// which the caller checked. A new connection writes all of them.
    #[inline(always)]
    fn rows_mut(&mut self, i: usize) -> Rows<'_> {
        let cap = self.conns.len();
        debug_assert!(
            i < cap
                && self.links.len() == cap + WHEEL_SLOTS as usize
                && self.last_ms.len() == cap
                && self.age_ms.len() == cap
                && self.ctl.len() == cap
        );
        // SAFETY: i < cap (the caller's check); `with_templates` makes each
        // of these arrays `cap` rows long (`links` more: the wheel's heads
        // follow), and none is ever resized. Distinct fields: no aliasing.
        unsafe {
            Rows {
                conn: self.conns.get_unchecked_mut(i),
                link: self.links.get_unchecked_mut(i),
                last_ms: self.last_ms.get_unchecked_mut(i),
                age_ms: self.age_ms.get_unchecked_mut(i),
                ctl: self.ctl.get_unchecked_mut(i),
            }
        }
    }

    fn release_refs(&mut self, c: &Conn) {
        self.dests.release(c.dest);
        if c.laddr != NO_REF {
            self.laddrs.release(c.laddr);
        }
    }

    /// Change state, moving the dest between ActiveConn and InActConn as
    /// ip_vs_proto_tcp.c's set_tcp_state does.
    #[inline]
    pub fn set_state(&mut self, id: u32, state: ConnState) {
        let c = &mut self.conns[id as usize];
        if c.state == state {
            return;
        }
        c.state = state;
        let want_active = state.is_established();
        if want_active != c.active() {
            c.bits ^= ACTIVE;
            if let Some((d, _)) = self.dests.get(c.dest) {
                if want_active {
                    d.to_active(self.worker)
                } else {
                    d.to_inactive(self.worker)
                }
            }
        }
    }

    pub fn remove(&mut self, id: u32) {
        let i = id as usize;
        if !self.conns.get(i).is_some_and(|c| c.in_use()) {
            return;
        }
        self.unlink(id);
        let c = self.conns[i];
        let in_key = c.in_key();
        self.index.remove(self.index.hash(&in_key), id);
        if let Some(k) = self.reply_key(&c) {
            self.index.remove(self.index.hash(&k), id | OUT_BIT);
        }
        if let Some((d, _)) = self.dests.get(c.dest) {
            d.unbind_conn(self.worker, c.active());
        }
        if let Some((_, Some(l))) = self.laddrs.get(c.laddr) {
            l.unbind();
        }
        self.release_refs(&c);
        if self.ctl[i] != NIL {
            self.templates.unplace(self.ctl[i]);
        }
        self.ctl[i] = NIL;
        self.conns[i] = FREE_CONN;
        self.links[i] = [self.free_head, NIL];
        self.free_head = id;
        self.live -= 1;
    }

    /// Remove template `tid`. One removed while connections it placed live
    /// (`clear`, a master's sync naming another server, a caller outside the
    /// pipeline: expiry and eviction keep such templates) must not leave
    /// them naming its slot, which a new template may take: their removal
    /// would then lower the newcomer's count. A scan of the slab, on a path
    /// no packet takes.
    pub fn remove_template(&mut self, tid: u32) {
        match self.templates.placed_by(tid) {
            None => return,
            Some(0) => {}
            Some(_) => self.orphan_controlled(tid),
        }
        self.templates.remove(tid);
    }

    #[cold]
    fn orphan_controlled(&mut self, template: u32) {
        for (i, c) in self.conns.iter().enumerate() {
            if c.in_use() && self.ctl[i] == template {
                self.ctl[i] = NIL;
            }
        }
        self.templates.forget_placed(template);
    }

    /// Record a packet of connection `id` seen from `side`: its time, and
    /// whether it now confirms the connection. Per packet: stores only.
    ///
    /// NAT and FULLNAT see both directions: a reply from the real server
    /// side, then a client packet at least [`CONFIRM_AFTER_MS`] after the
    /// first, confirm. One-way traffic never does, however long it lasts.
    ///
    /// DR and TUN see only the client: a client packet that late confirms.
    /// A blind spoofer can fake that (its SYN, then anything two seconds
    /// later), but then pays one packet per entry every [`IDLE_EVICTABLE_MS`]
    /// to keep it: the entry is idle, hence evictable, as soon as it stops,
    /// and a TCP entry counts only while its state is a conversation's (a
    /// SYN-then-ACK pair reaches ESTABLISHED but is never confirmed without
    /// the later packet).
    #[inline(always)]
    pub fn touch(&mut self, id: u32, side: Side, now_ms: u64) {
        let i = id as usize;
        let now = now_ms as u32;
        let Some(last) = self.last_ms.get_mut(i) else { return };
        let since = now.wrapping_sub(*last);
        *last = now;
        let Some(c) = self.conns.get_mut(i) else { return };
        let bits = c.bits;
        // Confirmed (every long-lived flow after its first seconds): nothing else to keep.
        if bits & CONFIRMED != 0 {
            return;
        }
        let Some(age) = self.age_ms.get_mut(i) else { return };
        *age = age.saturating_add(since.min(u16::MAX as u32) as u16);
        let age = *age;
        match side {
            Side::Out => c.bits = bits | SEEN_REPLY,
            Side::In => {
                // DR and TUN replies bypass the director: there is none to wait for.
                let answered = bits & SEEN_REPLY != 0 || matches!(c.fwd(), FwdMethod::Route | FwdMethod::Tunnel);
                if answered && age as u32 >= CONFIRM_AFTER_MS {
                    self.confirm(i);
                }
            }
        }
    }

    /// An entry saw two-way traffic spread over time (see [`ConnTable::touch`]):
    /// it and the template that placed it are confirmed.
    #[cold]
    fn confirm(&mut self, i: usize) {
        self.conns[i].bits |= CONFIRMED;
        let t = self.ctl[i];
        if t != NIL {
            self.templates.confirm(t);
        }
    }

    /// Milliseconds since the last packet of `id`.
    #[inline]
    pub fn idle_ms(&self, id: u32, now_ms: u64) -> u32 {
        (now_ms as u32).wrapping_sub(self.last_ms[id as usize])
    }

    /// Whether a newcomer may take this entry's place, and how urgently:
    /// `Some((0, age))` unconfirmed or finished, `Some((1, age))` a young
    /// conversation, `Some((2, age))` confirmed but idle, `None` never (free
    /// or busy).
    fn eviction_rank(&self, id: u32, now_ms: u64) -> Option<(u8, u32)> {
        let c = &self.conns[id as usize];
        if !c.in_use() {
            return None;
        }
        let idle = self.idle_ms(id, now_ms);
        if !c.live_conversation() {
            // A young conversation (answered, past its handshake, not yet CONFIRM_AFTER_MS
            // old) goes only when no flood entry (half-open, never answered) is left: a
            // download that had just begun was evicted in test_hostile's SYN flood, its
            // pauses making it the idlest of a sample of fresh flood entries.
            let young = c.answered() && c.in_conversation_state();
            Some((young as u8, idle))
        } else if idle >= IDLE_EVICTABLE_MS {
            Some((2, idle))
        } else {
            None
        }
    }

    /// Set a connection's expiry. A later time only stores it (the wheel
    /// catches up lazily); an earlier one moves the entry to its new wheel
    /// slot, so a timeout shortened by a state change or by pressure takes
    /// effect.
    #[inline(always)]
    pub fn set_expiry(&mut self, id: u32, expires_ms: u64) {
        let Some(c) = self.conns.get_mut(id as usize) else { return };
        // A later time (every packet of a flow in a steady state) is only stored, and
        // only when it changed: no division into wheel ticks, no wheel work.
        let old = c.expires_ms();
        if expires_ms >= old {
            if expires_ms != old {
                c.set_expires_ms(expires_ms);
            }
            return;
        }
        self.set_expiry_earlier(id, expires_ms);
    }

    #[cold]
    fn set_expiry_earlier(&mut self, id: u32, expires_ms: u64) {
        let c = &mut self.conns[id as usize];
        let earlier = expires_ms.min(MAX_EXPIRY_MS) / TICK_MS < c.expires_ms() / TICK_MS;
        c.set_expires_ms(expires_ms);
        if earlier && self.links[id as usize][0] != NIL {
            self.unlink(id);
            self.link(id);
        }
    }

    /// Make room for a newcomer in a full table: remove one entry that is
    /// unconfirmed (or finished) or, failing that, confirmed but idle for
    /// [`IDLE_EVICTABLE_MS`]; never one with recent two-way traffic. The victim is the least recently
    /// used of a random sample of slab slots: rounds of 8, up to 32 slots,
    /// stopping at the first round that holds an unconfirmed entry. `seed`
    /// is any changing number. Removal goes through [`ConnTable::remove`], so
    /// the real server's counters and the controlling template's count stay
    /// right. Returns what kind of entry went, or None (nothing may go).
    pub fn evict_for_newcomer(&mut self, now_ms: u64, seed: u64) -> Option<Eviction> {
        let (tier, id) = sample_victim(self.conns.len(), seed, |id| self.eviction_rank(id, now_ms))?;
        self.remove(id);
        Some(if tier < 2 { Eviction::Unconfirmed } else { Eviction::Idle })
    }

    /// The former name of [`ConnTable::evict_for_newcomer`], for callers
    /// without a clock: the wheel's last processed second stands in for now.
    pub fn drop_half_open(&mut self, seed: u64) -> bool {
        self.evict_for_newcomer(self.cursor_sec * TICK_MS, seed).is_some()
    }

    /// A master sync daemon runs: keep its per-entry bookkeeping (packet
    /// counts, last sync times) from now on, counted from zero. Allocates
    /// once, when the daemon starts; stopped, the arrays stay.
    pub fn keep_sync_bookkeeping(&mut self) {
        let n = self.conns.len();
        if self.in_pkts.len() != n {
            self.in_pkts = vec![0; n];
            self.synced_s = vec![0; n];
            self.synced_state = vec![ConnState::None; n];
        }
    }

    /// Count a client packet for the sync daemon; returns the new count
    /// (0 without [`ConnTable::keep_sync_bookkeeping`]).
    #[inline]
    pub fn count_in_packet(&mut self, id: u32) -> u32 {
        match self.in_pkts.get_mut(id as usize) {
            Some(p) => {
                *p = p.wrapping_add(1);
                *p
            }
            None => 0,
        }
    }

    /// When connection `id` was last synced (see `ConnTable::synced_s`; 0:
    /// never).
    #[inline]
    pub fn synced_s(&self, id: u32) -> u16 {
        self.synced_s.get(id as usize).copied().unwrap_or(0)
    }

    /// Record that connection `id` was synced in its current state at
    /// second `s` of the wrapping clock (0: the state only, as a backup
    /// records an entry a master sent).
    #[inline]
    pub fn mark_synced(&mut self, id: u32, s: u16) {
        let state = self.conns[id as usize].state;
        let i = id as usize;
        if let (Some(x), Some(st)) = (self.synced_s.get_mut(i), self.synced_state.get_mut(i)) {
            if s != 0 {
                *x = s;
            }
            *st = state;
        }
    }

    /// The state connection `id` was last synced in (ip_vs_conn's
    /// old_state; None without the master's bookkeeping).
    #[inline]
    pub fn synced_state(&self, id: u32) -> ConnState {
        self.synced_state.get(id as usize).copied().unwrap_or(ConnState::None)
    }

    /// The template that placed connection `id`, if any.
    #[inline]
    pub fn controller_of(&self, id: u32) -> Option<u32> {
        let t = self.ctl[id as usize];
        (t != NIL).then_some(t)
    }

    /// Treat a connection installed from a master's sync message as one with
    /// two-way traffic (the master saw it): pressure must not evict it as a
    /// half-open newcomer.
    pub fn confirm_synced(&mut self, id: u32) {
        self.conns[id as usize].bits |= SEEN_REPLY | CONFIRMED;
    }

    /// Live entries from slot `from` on, at most `max` of them, and the slot
    /// to continue from (None at the end of the slab): a full-table dump in
    /// pieces, so no batch stalls on a big table.
    pub fn live_from(&self, from: u32, max: usize, out: &mut Vec<u32>) -> Option<u32> {
        live_slots_from(self.conns.len(), from, max, out, |i| self.conns[i].in_use())
    }

    /// Every address the live entries and templates name (client, VIP, real
    /// server, local address; with repeats), for the IPv6 table's handle
    /// pool (addr6.rs), whose addresses are these numbers.
    pub fn addresses_in_use(&self) -> impl Iterator<Item = u32> + '_ {
        let conns =
            self.conns.iter().filter(|c| c.in_use()).flat_map(|c| [c.caddr, c.vaddr, c.daddr, self.laddr_addr(c)]);
        let templates = self.templates.live_ids().flat_map(|t| {
            let t = self.templates.get(t);
            [t.caddr, t.vaddr, t.daddr]
        });
        conns.chain(templates)
    }

    /// The in-direction key of entry `id`.
    pub fn in_key_of(&self, id: u32) -> FlowKey {
        self.conns[id as usize].in_key()
    }

    /// The wheel slot's head of an entry expiring at `expires_ms`: its
    /// second, no earlier than the next one due, no further than the wheel
    /// reaches (a later entry comes round again and is moved on).
    #[inline(always)]
    fn head_for(&self, expires_ms: u64) -> usize {
        let earliest_sec = self.cursor_sec + 1;
        // (max then min, not clamp: clamp's check of its bounds is a call.)
        let sec = (expires_ms / TICK_MS).max(earliest_sec).min(earliest_sec + WHEEL_SLOTS - 1);
        self.conns.len() + (sec % WHEEL_SLOTS) as usize
    }

    fn link(&mut self, id: u32) {
        self.link_at(id, self.conns[id as usize].expires_ms());
    }

    /// Link entry `id`, expiring at `expires_ms` (its own expiry, which the
    /// caller has at hand), at the head of its wheel slot's list.
    #[inline(always)]
    fn link_at(&mut self, id: u32, expires_ms: u64) {
        let head = self.head_for(expires_ms);
        let first = self.links[head][0];
        self.links[id as usize] = [first, head as u32];
        self.links[first as usize][1] = id;
        self.links[head][0] = id;
    }

    fn unlink(&mut self, id: u32) {
        let [next, prev] = self.links[id as usize];
        if next == NIL {
            return;
        }
        self.links[prev as usize][0] = next;
        self.links[next as usize][1] = prev;
        self.links[id as usize] = [NIL, NIL];
    }

    /// Advance the wheel to `now_ms`: remove every connection whose expiry has
    /// passed (calling `on_expire` first), reschedule the rest of each due
    /// slot; then the templates' sweep. Returns the connections removed.
    pub fn expire(&mut self, now_ms: u64, mut on_expire: impl FnMut(&Conn)) -> usize {
        let now_sec = now_ms / TICK_MS;
        let mut expired = 0;
        let cap = self.conns.len();
        // After a long stall, one lap of the wheel covers every slot.
        if now_sec > self.cursor_sec + WHEEL_SLOTS {
            self.cursor_sec = now_sec - WHEEL_SLOTS;
        }
        while self.cursor_sec < now_sec {
            self.cursor_sec += 1;
            let head = cap + (self.cursor_sec % WHEEL_SLOTS) as usize;
            let mut id = self.links[head][0];
            self.links[head] = [head as u32, head as u32];
            while id as usize != head {
                let i = id as usize;
                let next = self.links[i][0];
                self.links[i] = [NIL, NIL];
                let c = self.conns[i];
                if c.expires_ms() <= now_ms {
                    on_expire(&c);
                    self.remove(id);
                    expired += 1;
                } else {
                    self.link(id);
                }
                id = next;
            }
        }
        self.templates.expire(now_ms);
        expired
    }

    /// Remove every connection and template (shutdown, `-C`, tests).
    pub fn clear(&mut self) {
        for id in 0..self.conns.len() as u32 {
            if self.conns[id as usize].in_use() {
                self.remove(id);
            }
        }
        let tids: Vec<u32> = self.templates.live_ids().collect();
        for tid in tids {
            self.remove_template(tid);
        }
    }

    /// Bytes this table holds: entries, their side arrays, the index, the
    /// wheel and the referents' slots (the templates' table apart:
    /// `templates().bytes()`).
    pub fn bytes(&self) -> usize {
        use std::mem::size_of_val;
        self.conns.capacity() * size_of_val(&FREE_CONN)
            + self.links.capacity() * 8
            + self.last_ms.capacity() * 4
            + self.age_ms.capacity() * 2
            + self.ctl.capacity() * 4
            + self.in_pkts.capacity() * 4
            + self.synced_s.capacity() * 2
            + self.synced_state.capacity()
            + self.index.bytes()
            + self.dests.bytes()
            + self.laddrs.bytes()
    }

    /// Check the table's internal consistency (tests and fuzzing): the slab
    /// and the free list partition the slots, every index entry names a live
    /// entry holding that key, every live entry is on exactly one wheel list
    /// with sound links, each template's count of connections it placed
    /// matches them (and the templates' table is sound), and each
    /// referent's count its users. Slow (walks
    /// everything); never on the packet path.
    pub fn check_invariants(&self) -> Result<(), String> {
        let cap = self.conns.len();
        // Insert writes these rows unchecked (rows_mut): their lengths are its bound.
        let (links, last, age, ctl) = (self.links.len(), self.last_ms.len(), self.age_ms.len(), self.ctl.len());
        if links != cap + WHEEL_SLOTS as usize || last != cap || age != cap || ctl != cap {
            return Err(format!("side arrays of {links}, {last}, {age}, {ctl} rows in a table of {cap}"));
        }
        if self.live > cap {
            return Err(format!("{} live entries in a table of {cap}", self.live));
        }
        let in_use = self.conns.iter().filter(|c| c.in_use()).count();
        let mut on_free = vec![false; cap];
        let (mut id, mut free) = (self.free_head, 0);
        while id != NIL {
            let i = id as usize;
            if i >= cap || on_free[i] || self.conns[i].in_use() {
                return Err(format!("free list holds {id} twice, out of range or in use"));
            }
            on_free[i] = true;
            free += 1;
            id = self.links[i][0];
        }
        if in_use != self.live || free + self.live != cap {
            return Err(format!("live {} in use {in_use} free {free} capacity {cap}", self.live));
        }
        let keys =
            self.conns.iter().filter(|c| c.in_use()).map(|c| 1 + (c.bits & HAS_REPLY != 0) as usize).sum::<usize>();
        if self.index.len() != keys {
            return Err(format!("index holds {} keys, the entries have {keys}", self.index.len()));
        }
        for v in self.index.values() {
            let id = (v & !OUT_BIT) as usize;
            let c = self.conns.get(id).ok_or_else(|| format!("index names slot {id} past the slab"))?;
            let Some(k) = self.key_of(v) else {
                return Err(format!("index value {v:#x} names an entry without that key"));
            };
            if !c.in_use()
                || self.lookup(&k) != Some((v & !OUT_BIT, if v & OUT_BIT != 0 { Side::Out } else { Side::In }))
            {
                return Err(format!("index entry {k:?} -> {v:#x} names an entry without that key"));
            }
        }
        let mut linked = vec![false; cap];
        for slot in 0..WHEEL_SLOTS as usize {
            let head = (cap + slot) as u32;
            let (mut prev, mut id) = (head, self.links[head as usize][0]);
            let mut steps = 0;
            while id != head {
                let i = id as usize;
                let c = self.conns.get(i).ok_or_else(|| format!("wheel slot {slot} names {id}"))?;
                if linked[i] || !c.in_use() || self.links[i][1] != prev || steps > cap {
                    return Err(format!("wheel slot {slot}: entry {id} linked twice, free, or with bad links"));
                }
                linked[i] = true;
                steps += 1;
                (prev, id) = (id, self.links[i][0]);
            }
            if self.links[head as usize][1] != prev {
                return Err(format!("wheel slot {slot}: head's back link is wrong"));
            }
        }
        let mut controlled = vec![0u32; self.templates.capacity()];
        let mut dest_uses = std::collections::HashMap::<u16, u32>::new();
        let mut laddr_uses = std::collections::HashMap::<u16, u32>::new();
        for (i, c) in self.conns.iter().enumerate() {
            if !c.in_use() {
                if c.dest != NO_REF || self.links[i][1] != NIL {
                    return Err(format!("free slot {i} still linked or holding a real server"));
                }
                continue;
            }
            if !linked[i] {
                return Err(format!("entry {i} is on no wheel list"));
            }
            if self.dests.get(c.dest).is_none() {
                return Err(format!("entry {i} names no real server"));
            }
            *dest_uses.entry(c.dest).or_default() += 1;
            if c.laddr != NO_REF {
                *laddr_uses.entry(c.laddr).or_default() += 1;
            }
            if c.active() != c.state.is_established() {
                return Err(format!("entry {i}: active {} in state {}", c.active(), c.state.name()));
            }
            if self.lookup(&c.in_key()) != Some((i as u32, Side::In)) {
                return Err(format!("entry {i}: its key is not indexed to it"));
            }
            if self.reply_key(c).is_some_and(|k| self.lookup(&k) != Some((i as u32, Side::Out))) {
                return Err(format!("entry {i}: its reply key is not indexed to it"));
            }
            if self.ctl[i] != NIL {
                let t = self.ctl[i] as usize;
                if t >= controlled.len() || !self.templates.get(t as u32).in_use() {
                    return Err(format!("entry {i}: its controller {t} is no live template"));
                }
                controlled[t] += 1;
            }
        }
        self.templates.check_invariants(&controlled)?;
        for (s, n) in dest_uses {
            if self.dests.uses(s) != n {
                return Err(format!("real server slot {s} counts {} users, {n} name it", self.dests.uses(s)));
            }
        }
        for (s, n) in laddr_uses {
            if self.laddrs.uses(s) != n {
                return Err(format!("local address slot {s} counts {} users, {n} name it", self.laddrs.uses(s)));
            }
        }
        Ok(())
    }

    /// Connections, then templates, as `-Lc` lists them.
    pub fn views(&self, now_ms: u64) -> Vec<ConnView> {
        self.conns
            .iter()
            .filter(|c| c.in_use())
            .map(|c| ConnView {
                proto: c.proto,
                caddr: Ipv4Addr::from(c.caddr).into(),
                cport: c.cport,
                vaddr: Ipv4Addr::from(c.vaddr).into(),
                vport: c.vport,
                daddr: Ipv4Addr::from(c.daddr).into(),
                dport: c.dport,
                state: c.state.name().to_string(),
                expires: (c.expires_ms().saturating_sub(now_ms) / 1000) as u32,
            })
            .chain(self.templates.views(now_ms))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> (Arc<Dest>, Arc<Service>) {
        crate::testkit::topology::conn_referents(None)
    }

    fn new_conn<'a>(d: &'a Arc<Dest>, s: &'a Arc<Service>, cport: u16, expires_ms: u64) -> NewConn<'a> {
        NewConn {
            proto: 6,
            state: ConnState::SynRecv,
            fwd: FwdMethod::Masq,
            local: false,
            caddr: 1,
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
            expires_ms,
            controller: None,
            in_key: FlowKey { saddr: 1, daddr: 2, sport: cport, dport: 80, proto: 6 },
            out_key: Some(FlowKey { saddr: 3, daddr: 1, sport: 80, dport: cport, proto: 6 }),
        }
    }

    #[test]
    fn both_directions_found_and_counted() {
        let (d, s) = fixtures();
        let mut t = ConnTable::new(4, 0);
        let id = t.insert(new_conn(&d, &s, 1000, 60_000), 0).unwrap();
        assert_eq!(t.lookup(&FlowKey { saddr: 1, daddr: 2, sport: 1000, dport: 80, proto: 6 }), Some((id, Side::In)));
        assert_eq!(t.lookup(&FlowKey { saddr: 3, daddr: 1, sport: 80, dport: 1000, proto: 6 }), Some((id, Side::Out)));
        assert_eq!((d.active_conns(), d.inactive_conns()), (0, 1));
        t.set_state(id, ConnState::Established);
        assert_eq!((d.active_conns(), d.inactive_conns()), (1, 0));
        t.set_state(id, ConnState::TimeWait);
        assert_eq!((d.active_conns(), d.inactive_conns()), (0, 1));
        t.remove(id);
        assert_eq!((d.active_conns(), d.inactive_conns()), (0, 0));
        assert!(t.is_empty());
    }

    /// The real server's row remembers one table's slot for it per poll
    /// loop; two tables of one loop (tests, a restart) overwrite each
    /// other's hint, which each must check rather than trust.
    #[test]
    fn tables_sharing_a_real_server_check_its_hint() {
        let (d, s) = fixtures();
        let (d2, _) = fixtures();
        let mut a = ConnTable::new(64, 0);
        let mut b = ConnTable::new(64, 0);
        // b keeps d in a slot other than a's (its slot 0 holds d2).
        b.insert(new_conn(&d2, &s, 1, 60_000), 0).unwrap();
        let mut ids = Vec::new();
        // The last one into a: d's row names a's slot.
        for port in 2..=40 {
            let t = if port % 3 == 0 { &mut b } else { &mut a };
            let id = t.insert(new_conn(&d, &s, port, 60_000), 0).unwrap();
            ids.push((port % 3 == 0, id));
            assert!(std::ptr::eq(t.dest_of(id).unwrap().as_ref(), d.as_ref()), "port {port}");
        }
        a.check_invariants().unwrap();
        b.check_invariants().unwrap();
        assert_eq!(d.inactive_conns(), 39);
        // All of a's connections to d gone: its slot freed while d's row
        // names it, then taken by d2.
        for &(in_b, id) in &ids {
            if !in_b {
                a.remove(id);
            }
        }
        a.insert(new_conn(&d2, &s, 50, 60_000), 0).unwrap();
        let id = a.insert(new_conn(&d, &s, 51, 60_000), 0).unwrap();
        assert!(std::ptr::eq(a.dest_of(id).unwrap().as_ref(), d.as_ref()));
        a.check_invariants().unwrap();
        b.check_invariants().unwrap();
        assert_eq!((d.inactive_conns(), d2.inactive_conns()), (14, 2));
    }

    #[test]
    fn full_and_collision() {
        let (d, s) = fixtures();
        let mut t = ConnTable::new(1, 0);
        t.insert(new_conn(&d, &s, 1, 1000), 0).unwrap();
        assert!(matches!(t.insert(new_conn(&d, &s, 1, 1000), 0), Err(InsertError::Collision)));
        assert!(matches!(t.insert(new_conn(&d, &s, 2, 1000), 0), Err(InsertError::Full)));
    }

    #[test]
    fn lazy_expiry() {
        let (d, s) = fixtures();
        let mut t = ConnTable::new(8, 0);
        let a = t.insert(new_conn(&d, &s, 1, 5_000), 0).unwrap();
        let _b = t.insert(new_conn(&d, &s, 2, 3_000), 0).unwrap();
        // A packet extends a's life: only its expiry time changes.
        t.set_expiry(a, 2_000_000);
        assert_eq!(t.expire(4_000, |_| {}), 1);
        assert_eq!(t.expire(100_000, |_| {}), 0);
        assert_eq!(t.len(), 1);
        // Past the wheel's horizon and back: still found and expired on time.
        assert_eq!(t.expire(1_999_000, |_| {}), 0);
        assert_eq!(t.expire(2_001_000, |_| {}), 1);
        assert!(t.is_empty());
        assert_eq!(d.inactive_conns(), 0);
    }
}

#[cfg(test)]
mod eviction {
    use super::*;

    fn fixtures() -> (Arc<Dest>, Arc<Service>) {
        crate::testkit::topology::conn_referents(Some(300))
    }

    /// A flow from client address `caddr`, as the load balancer inserts it.
    fn flow<'a>(d: &'a Arc<Dest>, s: &'a Arc<Service>, proto: u8, caddr: u32, fwd: FwdMethod, now: u64) -> NewConn<'a> {
        let state = if proto == 6 { ConnState::None } else { ConnState::Udp };
        let out_key =
            (fwd == FwdMethod::Masq).then_some(FlowKey { saddr: 3, daddr: caddr, sport: 80, dport: 1000, proto });
        NewConn {
            proto,
            state,
            fwd,
            local: false,
            caddr,
            cport: 1000,
            vaddr: 2,
            vport: 80,
            daddr: 3,
            dport: 80,
            laddr: 0,
            lport: 0,
            dest: d,
            svc: s,
            laddr_ref: None,
            expires_ms: now + 300_000,
            in_key: FlowKey { saddr: caddr, daddr: 2, sport: 1000, dport: 80, proto },
            out_key,
            controller: None,
        }
    }

    fn ok(t: &ConnTable) {
        if let Err(e) = t.check_invariants() {
            panic!("invariant broken: {e}");
        }
    }

    /// Insert into a full table the way the load balancer does: evict, then insert.
    fn admit(t: &mut ConnTable, n: NewConn, now: u64, seed: u64) -> Result<u32, InsertError> {
        if t.is_full() {
            t.evict_for_newcomer(now, seed);
        }
        let r = t.insert(n, now);
        ok(t);
        r
    }

    /// A NAT TCP connection the way a real client makes one: handshake with
    /// the real server's reply, then the client still talking 2 s later.
    fn confirmed_tcp(t: &mut ConnTable, d: &Arc<Dest>, s: &Arc<Service>, caddr: u32, now: u64) -> u32 {
        let id = t.insert(flow(d, s, 6, caddr, FwdMethod::Masq, now), now).unwrap();
        t.set_state(id, ConnState::SynRecv);
        t.touch(id, Side::In, now);
        t.touch(id, Side::Out, now + 1);
        t.set_state(id, ConnState::Established);
        t.touch(id, Side::In, now + 2);
        assert!(!t.get(id).confirmed(), "a handshake alone confirms nothing");
        t.touch(id, Side::In, now + CONFIRM_AFTER_MS as u64);
        assert!(t.get(id).confirmed());
        ok(t);
        id
    }

    /// test_hostile case e: a download that began a second before a SYN flood must outlive
    /// it. Its handshake is answered and it is ESTABLISHED, but younger than
    /// CONFIRM_AFTER_MS; when it pauses (curl's rate limit) it is idler than the fresh flood
    /// entries, the eviction's first pick among the unconfirmed.
    #[test]
    fn a_young_download_outlives_a_syn_flood() {
        let (d, s) = fixtures();
        let mut t = ConnTable::new(64, 0);
        let dl = t.insert(flow(&d, &s, 6, 7, FwdMethod::Masq, 0), 0).unwrap();
        t.set_state(dl, ConnState::SynRecv);
        t.touch(dl, Side::In, 0);
        t.touch(dl, Side::Out, 1);
        t.set_state(dl, ConnState::Established);
        t.touch(dl, Side::In, 2);
        let key = FlowKey { saddr: 7, daddr: 2, sport: 1000, dport: 80, proto: 6 };
        // 1900 SYNs, one a millisecond, each answered by the real server and never ACKed.
        for i in 0..1900u32 {
            let now = 3 + i as u64;
            let id = admit(&mut t, flow(&d, &s, 6, 1000 + i, FwdMethod::Masq, now), now, 0x9e37 + i as u64).unwrap();
            t.set_state(id, ConnState::SynRecv);
            t.touch(id, Side::In, now);
            t.touch(id, Side::Out, now);
            assert!(t.lookup(&key).is_some(), "the download was evicted by SYN {i}");
        }
        assert!(!t.get(dl).confirmed(), "still younger than CONFIRM_AFTER_MS");
    }

    #[test]
    fn one_way_traffic_never_confirms_and_dr_needs_time() {
        let (d, s) = fixtures();
        let mut t = ConnTable::new(8, 0);
        // NAT: client packets for a minute, never a reply.
        let a = t.insert(flow(&d, &s, 17, 10, FwdMethod::Masq, 0), 0).unwrap();
        for ms in (0..60_000).step_by(500) {
            t.touch(a, Side::In, ms);
        }
        assert!(!t.get(a).confirmed(), "one-way UDP");
        // NAT: replies only (a server retransmitting its SYN-ACK).
        let b = t.insert(flow(&d, &s, 6, 11, FwdMethod::Masq, 0), 0).unwrap();
        t.touch(b, Side::In, 0);
        for ms in [1_000, 3_000, 7_000, 15_000] {
            t.touch(b, Side::Out, ms);
        }
        assert!(!t.get(b).confirmed(), "replies alone");
        // DR: a SYN-then-ACK pair reaches ESTABLISHED but is not confirmed...
        let c = t.insert(flow(&d, &s, 6, 12, FwdMethod::Route, 0), 0).unwrap();
        t.touch(c, Side::In, 0);
        t.set_state(c, ConnState::Established);
        t.touch(c, Side::In, 1);
        assert!(!t.get(c).confirmed());
        assert_eq!(t.eviction_rank(c, 1), Some((1, 0)), "a young conversation: after flood entries");
        // ...until the client is still sending two seconds on.
        t.touch(c, Side::In, 2_000);
        assert!(t.get(c).confirmed());
        assert_eq!(t.eviction_rank(c, 2_001), None, "busy");
        assert_eq!(t.eviction_rank(c, 12_000), Some((2, 10_000)), "idle");
        ok(&t);
    }

    #[test]
    fn full_table_of_one_way_udp_admits_a_tcp_syn() {
        let (d, s) = fixtures();
        let mut t = ConnTable::new(64, 0);
        for i in 0..64 {
            let id = t.insert(flow(&d, &s, 17, 1000 + i, FwdMethod::Masq, i as u64), i as u64).unwrap();
            t.touch(id, Side::In, i as u64);
            ok(&t);
        }
        assert!(t.is_full());
        assert_eq!(d.inactive_conns(), 64);
        let id = admit(&mut t, flow(&d, &s, 6, 5, FwdMethod::Masq, 100), 100, 7).expect("the SYN gets in");
        assert_eq!(t.get(id).proto, 6);
        assert_eq!((t.len(), d.inactive_conns()), (64, 64), "one UDP entry made room, counters follow");
    }

    #[test]
    fn confirmed_entries_survive_while_unconfirmed_ones_exist() {
        let (d, s) = fixtures();
        let mut t = ConnTable::new(32, 0);
        let live: Vec<u32> = (0..16).map(|i| confirmed_tcp(&mut t, &d, &s, 100 + i, 0)).collect();
        assert_eq!(d.active_conns(), 16);
        // A flood of one-way entries, far more than the table holds, with the
        // confirmed connections still talking.
        let mut admitted = 0;
        for i in 0..2_000u32 {
            let now = 3_000 + i as u64;
            if i % 100 == 0 {
                for &id in &live {
                    t.touch(id, Side::In, now);
                    t.touch(id, Side::Out, now);
                }
            }
            if admit(&mut t, flow(&d, &s, 17, 10_000 + i, FwdMethod::Masq, now), now, i as u64 * 7919).is_ok() {
                admitted += 1;
            }
        }
        assert!(admitted > 1_900, "newcomers displaced flood entries: {admitted} of 2000");
        for &id in &live {
            assert!(
                t.get(id).in_use() && t.get(id).confirmed() && t.get(id).proto == 6,
                "a live connection was evicted"
            );
        }
        assert_eq!(d.active_conns(), 16);
    }

    #[test]
    fn full_table_of_busy_confirmed_refuses_then_takes_the_idle() {
        let (d, s) = fixtures();
        let mut t = ConnTable::new(8, 0);
        let ids: Vec<u32> = (0..8).map(|i| confirmed_tcp(&mut t, &d, &s, 100 + i, 0)).collect();
        let now = CONFIRM_AFTER_MS as u64 + 1_000;
        for seed in 0..50 {
            assert_eq!(t.evict_for_newcomer(now, seed), None, "busy confirmed entries stay");
        }
        assert!(matches!(t.insert(flow(&d, &s, 6, 5, FwdMethod::Masq, now), now), Err(InsertError::Full)));
        // All but one keep talking; the quiet one goes once it is idle.
        let later = now + IDLE_EVICTABLE_MS as u64;
        for &id in &ids[1..] {
            t.touch(id, Side::In, later);
        }
        assert_eq!(t.evict_for_newcomer(later, 99), Some(Eviction::Idle));
        assert!(!t.get(ids[0]).in_use());
        assert_eq!((d.active_conns(), d.inactive_conns()), (7, 0));
        ok(&t);
        // A finished connection is no conversation, confirmed or not.
        t.set_state(ids[1], ConnState::TimeWait);
        t.insert(flow(&d, &s, 6, 5, FwdMethod::Masq, later), later).unwrap();
        assert_eq!(t.evict_for_newcomer(later, 5), Some(Eviction::Unconfirmed));
        assert!(!t.get(ids[1]).in_use() || t.get(ids[1]).caddr != 101);
        ok(&t);
    }

    #[test]
    fn a_shortened_timeout_moves_the_entry_on_the_wheel() {
        let (d, s) = fixtures();
        let mut t = ConnTable::new(4, 0);
        let id = t.insert(flow(&d, &s, 17, 10, FwdMethod::Masq, 0), 0).unwrap();
        t.set_expiry(id, 10_000);
        ok(&t);
        assert_eq!(t.expire(11_000, |_| {}), 1, "expired at its new time, not at the old 300 s");
        let id = t.insert(flow(&d, &s, 17, 10, FwdMethod::Masq, 20_000), 20_000).unwrap();
        t.set_expiry(id, 900_000);
        t.set_expiry(id, 25_000);
        ok(&t);
        assert_eq!(t.expire(26_000, |_| {}), 1);
        ok(&t);
    }
}

#[cfg(test)]
mod churn {
    use super::*;

    /// The SYN-flood case: a table of NAT connections (two keys each) kept
    /// full while entries leave and newcomers arrive. Every lookup that
    /// misses (each newcomer's, before its insert) and every insert must stay
    /// a few bucket reads, however long the churn goes on.
    #[test]
    fn full_table_churn_keeps_probes_bounded() {
        let (d, s) = crate::testkit::topology::conn_referents(None);
        const CAP: u32 = 4096;
        const ROUNDS: u32 = 60_000;
        let key = |i: u32| FlowKey { saddr: 0xc612_0000 | i >> 16, daddr: 2, sport: i as u16, dport: 80, proto: 6 };
        let conn = |i: u32| {
            let k = key(i);
            NewConn {
                proto: 6,
                state: ConnState::SynRecv,
                fwd: FwdMethod::Masq,
                local: false,
                caddr: k.saddr,
                cport: k.sport,
                vaddr: 2,
                vport: 80,
                daddr: 3,
                dport: 80,
                laddr: 0,
                lport: 0,
                dest: &d,
                svc: &s,
                laddr_ref: None,
                expires_ms: 600_000,
                controller: None,
                in_key: k,
                out_key: Some(FlowKey { saddr: 3, daddr: k.saddr, sport: 80, dport: k.sport, proto: 6 }),
            }
        };
        let mut t = ConnTable::new(CAP as usize, 0);
        for i in 0..CAP {
            t.insert(conn(i), 0).expect("room");
        }
        assert!(t.is_full());
        let (mut max_miss, mut max_insert, mut sum_insert) = (0, 0, 0);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in CAP..CAP + ROUNDS {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t.remove((x % CAP as u64) as u32);
            let k = key(i);
            let w = k.words();
            let miss = t.index.reads(t.hash(&k), |v| holds_key(&t.conns, &t.laddrs, v, w));
            t.index.insert_reads = 0;
            t.insert(conn(i), 0).expect("the evicted entry's room");
            max_miss = max_miss.max(miss);
            max_insert = max_insert.max(t.index.insert_reads);
            sum_insert += t.index.insert_reads;
        }
        t.check_invariants().unwrap();
        let mean_insert = sum_insert as f64 / ROUNDS as f64;
        println!(
            "full table of {CAP} churned {ROUNDS} times: a miss reads at most {max_miss} buckets; an insert at most \
             {max_insert}, {mean_insert:.2} on average (its larger key)"
        );
        assert!(max_miss <= 2, "a lookup miss read {max_miss} buckets");
        assert!(mean_insert <= 4.0, "an insert read {mean_insert:.2} buckets on average");
        assert!(max_insert <= index::MAX_INSERT_READS, "an insert read {max_insert} buckets");
    }
}

#[cfg(test)]
mod size {
    /// The entry is 32 bytes (also asserted at compile time); the whole
    /// figure per connection, side arrays and index included, is measured
    /// by tests/conn_memory.rs.
    #[test]
    fn entry_size_bound() {
        let e = std::mem::size_of::<super::Conn>();
        assert!(e <= 32, "Conn grew to {e} bytes");
    }
}
