//! What a connection costs in memory, and that a table of ten million still
//! serves: issue 14's measured figures.
//!
//! A counting global allocator adds up the bytes each thread holds, so the
//! figure is what `ConnTable::new` and the inserts really allocated (entries,
//! side arrays, index, wheel, referents), not a sum of `size_of`s. Counting
//! is per thread, so the tests may run side by side. The persistence
//! templates' table (conn/templates.rs), a fixed size beside the
//! connections', is reported apart.

use rvs::api::FwdMethod;
use rvs::ipvs::conn::{ConnTable, FlowKey, NewConn, Side};
use rvs::ipvs::dest::Dest;
use rvs::ipvs::service::Service;
use rvs::ipvs::state::ConnState;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
}

fn add(n: isize) {
    // try_with: the allocator may run while the thread's locals are torn down.
    let _ = HELD.try_with(|h| h.set(h.get() + n));
}

// SAFETY: every call is forwarded to the system allocator unchanged; only
// the sizes are added up.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        add(l.size() as isize);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        add(l.size() as isize);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        add(-(l.size() as isize));
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        add(new as isize - l.size() as isize);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn held() -> isize {
    HELD.with(|h| h.get())
}

/// Target of issue 14.
const TARGET_BYTES_PER_CONN: f64 = 64.0;
const RS: u32 = 0xc612_010b;
const VIP: u32 = 0xc612_0064;

fn fixtures() -> (Arc<Dest>, Arc<Service>) {
    rvs::testkit::topology::conn_referents(None)
}

/// Client `i`'s key: distinct for every i below 2^32.
fn client(i: usize) -> FlowKey {
    FlowKey { saddr: 0xc612_0000 ^ (i >> 16) as u32, daddr: VIP, sport: i as u16, dport: 80, proto: 6 }
}

fn reply(k: &FlowKey) -> FlowKey {
    FlowKey { saddr: RS, daddr: k.saddr, sport: 80, dport: k.sport, proto: 6 }
}

/// A table of `n` connections, every one NAT (two keys) or DR (one).
fn fill(n: usize, fwd: FwdMethod, d: &Arc<Dest>, s: &Arc<Service>) -> ConnTable {
    let mut t = ConnTable::new(n, 0);
    for i in 0..n {
        let k = client(i);
        let c = NewConn {
            proto: 6,
            state: ConnState::Established,
            fwd,
            local: false,
            caddr: k.saddr,
            cport: k.sport,
            vaddr: k.daddr,
            vport: 80,
            daddr: RS,
            dport: 80,
            laddr: 0,
            lport: 0,
            dest: d,
            svc: s,
            laddr_ref: None,
            expires_ms: 900_000,
            in_key: k,
            out_key: (fwd == FwdMethod::Masq).then(|| reply(&k)),
            controller: None,
        };
        if let Err(e) = t.insert(c, 0) {
            panic!("insert {i} of {n}: {e:?}");
        }
    }
    t
}

fn bytes_per_conn(n: usize, fwd: FwdMethod, sync_master: bool) -> f64 {
    let (d, s) = fixtures();
    let before = held();
    let mut t = fill(n, fwd, &d, &s);
    if sync_master {
        t.keep_sync_bookkeeping();
    }
    let templates = t.templates().bytes() as isize;
    let bytes = held() - before - templates;
    assert_eq!(t.len(), n);
    let per = bytes as f64 / n as f64;
    println!(
        "{n} {fwd:?} connections: {bytes} bytes held, {per:.1} bytes per connection (ConnTable::bytes says {}); \
         the templates' table apart: {templates} bytes for {} templates, {:.1} per template",
        t.bytes(),
        t.templates().capacity(),
        templates as f64 / t.templates().capacity() as f64
    );
    per
}

#[test]
fn bytes_per_connection_at_one_million() {
    let dr = bytes_per_conn(1_000_000, FwdMethod::Route, false);
    let nat = bytes_per_conn(1_000_000, FwdMethod::Masq, false);
    let synced = bytes_per_conn(1_000_000, FwdMethod::Masq, true);
    println!(
        "target {TARGET_BYTES_PER_CONN}: NAT (index sized for two keys each) {nat:.1}, DR {dr:.1}, \
         NAT with a master sync daemon's bookkeeping {synced:.1}"
    );
    assert!(nat <= TARGET_BYTES_PER_CONN, "{nat:.1} bytes per NAT connection, target {TARGET_BYTES_PER_CONN}");
    // The sync master's packet counts, sync times and synced states: 7 bytes more, only while it runs.
    assert!(synced <= TARGET_BYTES_PER_CONN + 7.0, "{synced:.1} bytes per connection with sync");
}

#[test]
fn ten_million_connections_served() {
    const N: usize = 10_000_000;
    let (d, s) = fixtures();
    let started = std::time::Instant::now();
    let t = fill(N, FwdMethod::Masq, &d, &s);
    let built = started.elapsed();
    // Every 7th connection, both directions; and keys never inserted.
    let mut found = 0;
    for i in (0..N).step_by(7) {
        let k = client(i);
        assert_eq!(t.lookup(&k), Some((i as u32, Side::In)), "client key {i}");
        assert_eq!(t.lookup(&reply(&k)), Some((i as u32, Side::Out)), "reply key {i}");
        found += 2;
    }
    for i in N..N + 100_000 {
        assert_eq!(t.lookup(&client(i)), None, "a key never inserted");
    }
    println!("{N} connections: built in {built:.2?}, {found} lookups found, all in {:.2?}", started.elapsed());
    assert_eq!(t.len(), N);
}
