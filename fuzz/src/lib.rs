//! Shared code of the fuzz targets (`fuzz/fuzz_targets/*.rs`) and of the
//! stable-toolchain replay test (`tests/fuzz_replay.rs`, which includes this
//! file as a module with `#[path]`). It may use only `rvs`, `etherparse` and
//! the standard library, the dependencies both crates have.
//!
//! One function per target takes the raw fuzz input and must never panic
//! (except on an `assert!` that is the target's oracle); [`lab`] is the
//! pipeline target's director (on the main crate's test kit, `rvs::testkit`),
//! and [`corpus`] builds the seed corpora from real frames and texts.

#![allow(dead_code)]

pub mod conn_table;
pub mod corpus;
pub mod lab;
pub mod neighbour_table;
pub mod ops;

use lab::{control, director, director_on, lab_control, process};
use rvs::admin::exec::{execute, DataPlaneQuery};
use rvs::admin::protocol::{decode_request, read_message, MAX_REQUEST};
use rvs::api::ConnView;
use rvs::control::{Control, Rules};
use rvs::ipvsadm::args;
use rvs::ipvsadm::names::NameDb;
use rvs::pipeline::{Shared, Verdict};
use rvs::testkit::{Lab, CLIENT, RS1, VIP};
use rvs::wire::checksum::{update_u16, update_u32, Checksum};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

/// The fuzz targets, by the name of their file and corpus directory.
pub const TARGETS: &[&str] = &[
    "pipeline",
    "admin_request",
    "ipvsadm_args",
    "config",
    "save_file",
    "checksum",
    "conn_table",
    "neighbour_table",
    "sync_decode",
];

/// Run the target `name` on one input (the replay test's dispatcher).
pub fn run(name: &str, data: &[u8]) {
    match name {
        "pipeline" => pipeline(data),
        "admin_request" => admin_request(data),
        "ipvsadm_args" => ipvsadm_args(data),
        "config" => config(data),
        "save_file" => save_file(data),
        "checksum" => checksum(data),
        "conn_table" => conn_table::conn_table(data),
        "neighbour_table" => neighbour_table::neighbour_table(data),
        "sync_decode" => sync_decode(data),
        _ => panic!("unknown fuzz target {name}"),
    }
}

/// The IPVS sync decoder never panics on any datagram, and what it accepts
/// survives re-encoding: the entries of a decoded message, encoded as
/// version 1 and decoded again, are the same.
pub fn sync_decode(data: &[u8]) {
    use rvs::ipvs::sync::{decode, encode, SyncConn};
    let Ok(msg) = decode(data) else { return };
    let again: Vec<SyncConn> = encode(msg.syncid, &msg.conns, 65507)
        .iter()
        .flat_map(|m| match decode(m) {
            Ok(d) => {
                assert!(d.skipped.is_empty(), "re-encoded entries skipped: {:?}", d.skipped);
                assert_eq!(d.syncid, msg.syncid);
                d.conns
            }
            Err(e) => panic!("re-encoded message refused: {e}"),
        })
        .collect();
    assert_eq!(again, msg.conns);
}

fn names() -> &'static NameDb {
    static DB: OnceLock<NameDb> = OnceLock::new();
    DB.get_or_init(NameDb::system)
}

// ------------------------------------------------------------------ pipeline

/// A pipeline input is a sequence of records:
/// `[hdr] [len_hi] [len_lo] [len bytes]`. With bit 7 of `hdr` clear the
/// bytes are a frame received on interface `hdr & 1` after the clock
/// advanced by [`advance_ms`]`((hdr >> 1) & 63)`; with it set, `hdr & 127`
/// selects a control operation (the bytes are ignored). A short last record
/// takes what is left.
pub fn advance_ms(code: u8) -> u64 {
    let c = code as u64 & 63;
    match c {
        0..=15 => c,
        16..=47 => (c - 15) * 250,
        _ => (c - 47) * (c - 47) * 60_000,
    }
}

/// Encode one frame record (seeds): `code` is the clock advance code.
pub fn record(iface: u8, code: u8, frame: &[u8]) -> Vec<u8> {
    let n = frame.len().min(0xffff);
    let mut v = vec![(iface & 1) | ((code & 63) << 1), (n >> 8) as u8, n as u8];
    v.extend_from_slice(&frame[..n]);
    v
}

/// Encode one control record.
pub fn control_record(op: u8) -> Vec<u8> {
    vec![0x80 | (op & 0x7f), 0, 0]
}

/// Per input, a fresh director (its tables are small) on the lab's services,
/// kept per thread: building them (the mh service's 4093-slot Maglev table
/// above all) was most of the target's time. After the input every service
/// but the mh ones is rebuilt from the rules, so each starts from a fresh
/// scheduler state; mh's table never changes once built. The next input
/// finds what a fresh lab has (`tests/fuzz_replay.rs` checks that).
pub fn pipeline(data: &[u8]) {
    with_kept_services(|lab| run_records(lab, data, |_, _| {}));
}

/// `f` on a fresh director over the thread's kept services (see [`pipeline`]).
fn with_kept_services(f: impl FnOnce(&mut Lab)) {
    thread_local! {
        static SERVICES: RefCell<Option<Control>> = const { RefCell::new(None) };
    }
    // Taken out while in use: a panic leaves nothing half-reset behind.
    let ctl = SERVICES.with(|s| s.borrow_mut().take()).unwrap_or_else(lab_control);
    let mut lab = director_on(ctl);
    f(&mut lab);
    let Lab { mut d, mut ctl, .. } = lab;
    // Connections release their real servers' and local addresses' counts.
    d.clear_connections();
    drop(d);
    reset_services(&mut ctl);
    SERVICES.with(|s| *s.borrow_mut() = Some(ctl));
}

/// Back to the lab's rules with every stateful scheduler rebuilt.
fn reset_services(ctl: &mut Control) {
    let mut stateless = lab_rules().clone();
    stateless.services.retain(|(spec, _)| spec.scheduler == "mh");
    ctl.sync(stateless);
    ctl.sync(lab_rules().clone());
    ctl.shared().sysctl.store(Default::default());
}

/// [`pipeline`] on a lab of its own, then `done` with the lab (tests read its counters).
pub fn pipeline_with(data: &[u8], done: impl FnOnce(&Lab)) {
    let mut lab = director();
    run_records(&mut lab, data, |_, _| {});
    done(&lab);
}

/// What an input did, frame by frame (verdict, the frame as it left, frames
/// sent besides), on a fresh lab or on the kept services of [`pipeline`].
pub fn pipeline_trace(data: &[u8], fresh: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut record = |v: Verdict, lab: &Lab| {
        // Sorted: ARP requests go out in the order of a hash map's iteration,
        // which differs between two tables even on fresh labs.
        let mut sent = lab.tx.0.clone();
        sent.sort();
        out.push(format!("{v:?} {:?} {sent:?}", lab.out()));
    };
    if fresh {
        let mut lab = director();
        run_records(&mut lab, data, &mut record);
    } else {
        with_kept_services(|lab| run_records(lab, data, &mut record));
    }
    out
}

/// Feed the records of a pipeline input to `lab`; `each` sees every
/// frame's verdict with the lab as the frame left it.
fn run_records(lab: &mut Lab, data: &[u8], mut each: impl FnMut(Verdict, &Lab)) {
    let mut rest = data;
    while !rest.is_empty() {
        let hdr = rest[0];
        let len = match rest.get(1..3) {
            Some(l) => u16::from_be_bytes([l[0], l[1]]) as usize,
            None => rest.len(),
        };
        let body_start = 3.min(rest.len());
        let body_end = (body_start + len).min(rest.len());
        let body = &rest[body_start..body_end];
        rest = &rest[body_end..];
        if hdr & 0x80 != 0 {
            control(lab, hdr & 0x7f);
            continue;
        }
        // The clock never goes back (the director may assume it).
        lab.now += advance_ms(hdr >> 1);
        let v = process(lab, hdr & 1, body);
        each(v, lab);
        lab.tx.0.clear();
    }
    // Expire everything, then the control plane's and listings' views.
    lab.now += 10 * 86_400_000;
    lab.d.tick(lab.now, &mut lab.tx);
    let _ = lab.d.connections(lab.now);
    let _ = lab.ctl.views();
}

// ------------------------------------------------------------------ admin

struct NoDataPlane;

impl DataPlaneQuery for NoDataPlane {
    fn connections(&self) -> Vec<ConnView> {
        vec![ConnView {
            proto: 6,
            caddr: std::net::IpAddr::from(std::net::Ipv4Addr::from(CLIENT)),
            cport: 40000,
            vaddr: std::net::IpAddr::from(std::net::Ipv4Addr::from(VIP)),
            vport: 80,
            daddr: std::net::IpAddr::from(std::net::Ipv4Addr::from(RS1)),
            dport: 80,
            state: "ESTABLISHED".into(),
            expires: 899,
        }]
    }
    fn counters(&self) -> Vec<(String, u64)> {
        vec![("rx-frames".into(), 10)]
    }
    fn neighbours(&self) -> Vec<rvs::admin::exec::NeighbourRow> {
        vec![("in".into(), "198.18.1.11".into(), "02:00:00:00:00:11".into(), "REACHABLE".into())]
    }
    fn checks(&self) -> Vec<rvs::health::spec::CheckView> {
        Vec::new()
    }
    fn reload(&self) -> Result<String, String> {
        Err("reload: not in the fuzz harness".into())
    }
}

/// The lab's rules as applied.
fn lab_rules() -> &'static Rules {
    static APPLIED: OnceLock<Rules> = OnceLock::new();
    APPLIED.get_or_init(|| lab_control().rules().clone())
}

/// `f` on a `Control` holding the lab's rules, built once per thread and
/// synced back to those rules afterwards, for the text targets, which only
/// change rules (no traffic moves a scheduler or a counter): building it
/// afresh (eight services, the mh one's 4093-slot Maglev table) took a
/// third of the save_file target's time per input. `sync` rebuilds every
/// service whose rules an input changed, so the next input finds the same
/// state as a fresh one; a panic drops the `Control`, so it is rebuilt.
fn with_lab_control<R>(f: impl FnOnce(&mut Control) -> R) -> R {
    thread_local! {
        static LAB: RefCell<Option<Control>> = const { RefCell::new(None) };
    }
    let mut ctl = LAB.with(|l| l.borrow_mut().take()).unwrap_or_else(lab_control);
    let r = f(&mut ctl);
    if ctl.rules() != lab_rules() {
        ctl.sync(lab_rules().clone());
    }
    LAB.with(|l| *l.borrow_mut() = Some(ctl));
    r
}

/// A request as the admin socket reads it (newline-terminated, bounded),
/// decoded, and run against the lab's rules.
pub fn admin_request(data: &[u8]) {
    let mut reqs = Vec::new();
    if let Ok(msg) = read_message(data, MAX_REQUEST) {
        if let Ok(r) = decode_request(&msg) {
            reqs.push(r);
        }
    }
    if let Ok(r) = decode_request(data) {
        reqs.push(r);
    }
    let _ = read_message(data, 64);
    for req in reqs {
        with_lab_control(|lab| {
            let ctl = Mutex::new(std::mem::replace(lab, Control::new(Arc::new(Shared::new()))));
            let _ = execute(&ctl, &NoDataPlane, &req);
            *lab = ctl.into_inner().unwrap_or_else(|e| e.into_inner());
        });
    }
}

// ------------------------------------------------------------------ ipvsadm

/// Words of a command line: NUL-separated if the input has a NUL, else
/// white-space separated.
pub fn argv(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    if text.contains('\0') {
        text.split('\0').map(String::from).collect()
    } else {
        text.split_whitespace().map(String::from).collect()
    }
}

/// `rvs::ipvsadm::args::parse` (with the system's names loaded once), and a
/// command that parses is also applied to the lab's rules.
pub fn ipvsadm_args(data: &[u8]) {
    let words = argv(data);
    if let Ok(cmd) = args::parse_with(&words, names()) {
        with_lab_control(|ctl| {
            let _ = ctl.apply(&cmd);
            let _ = ctl.views();
        });
    }
    let _ = args::parse_with(&words, &NameDb::empty());
}

// ------------------------------------------------------------------ config

pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = rvs::config::Config::parse(text) {
        // A valid configuration's rules go live as the daemon's would.
        let mut ctl = Control::new(Arc::new(Shared::new()));
        ctl.sync(cfg.rules.clone());
        let _ = ctl.views();
    }
}

// ------------------------------------------------------------------ save file

/// An `ipvsadm-save` file, as `rvsadm -R` restores it: every line parsed,
/// the commands applied all or nothing, on empty rules and on the lab's.
pub fn save_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut cmds = Vec::new();
    for line in text.lines() {
        if let Some(Ok(c)) = rvs::ipvsadm::restore::parse_restore_line_with(line, names()) {
            cmds.push(c);
        }
    }
    let mut empty = Control::new(Arc::new(Shared::new()));
    if empty.apply_all(&cmds).is_ok() {
        let views = empty.views();
        let _ = rvs::ipvsadm::format::save_with_marks_with(&views, &empty.rules().marks, true, &NameDb::empty());
    }
    with_lab_control(|lab| {
        let _ = lab.apply_all(&cmds);
    });
    // Each command on its own as well: a refused one leaves the rules as they were.
    for c in &cmds {
        let before = empty.rules().clone();
        if empty.apply(c).is_err() {
            assert!(*empty.rules() == before, "a refused command changed the rules: {before:?} -> {:?}", empty.rules());
        }
    }
}

// ------------------------------------------------------------------ checksum

/// Input: `[n] { [kind] [off_hi] [off_lo] [v0 v1 v2 v3] }*n  buffer...`.
/// The checksum of the buffer is computed, then each change (a 16-bit or a
/// 32-bit field at an even offset) is applied to the buffer and to the
/// checksum incrementally; the result must equal a full recomputation, both
/// as a bare sum and stored in a checksum field inside the buffer.
pub fn checksum(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = (n % 8) as usize;
    if rest.len() < n * 7 {
        return;
    }
    let (changes, buf) = rest.split_at(n * 7);
    let mut buf = buf.to_vec();
    if buf.len() < 2 {
        return;
    }
    // A checksum field at the start of the buffer, as in an ICMP header.
    buf[0..2].fill(0);
    let stored = Checksum::new().add_bytes(&buf).finish();
    buf[0..2].copy_from_slice(&stored.to_be_bytes());
    assert_eq!(Checksum::new().add_bytes(&buf).finish(), 0, "a stored checksum must verify");
    // The other ways of summing agree with add_bytes.
    let mut words = Checksum::new();
    for c in buf.chunks(2) {
        words = words.add_u16(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    assert_eq!(words.finish(), 0, "add_u16 word by word");
    let mut stored = stored;
    let mut plain = buf.clone();
    plain[0..2].copy_from_slice(&[0, 0]);
    // `full` tracks the checksum of `plain`, the buffer without its checksum field.
    let mut full = Checksum::new().add_bytes(&plain).finish();
    for ch in changes.chunks_exact(7) {
        let wide = ch[0] & 1 == 1;
        let size = if wide { 4 } else { 2 };
        // Not the checksum field itself; an even offset, inside the buffer.
        let off = 2 + (u16::from_be_bytes([ch[1], ch[2]]) as usize & !1);
        if off + size > buf.len() {
            continue;
        }
        let v = u32::from_be_bytes([ch[3], ch[4], ch[5], ch[6]]);
        if wide {
            let old = u32::from_be_bytes(buf[off..off + 4].try_into().unwrap());
            buf[off..off + 4].copy_from_slice(&v.to_be_bytes());
            plain[off..off + 4].copy_from_slice(&v.to_be_bytes());
            stored = update_u32(stored, old, v);
            full = update_u32(full, old, v);
        } else {
            let (old, v) = (u16::from_be_bytes([buf[off], buf[off + 1]]), v as u16);
            buf[off..off + 2].copy_from_slice(&v.to_be_bytes());
            plain[off..off + 2].copy_from_slice(&v.to_be_bytes());
            stored = update_u16(stored, old, v);
            full = update_u16(full, old, v);
        }
        buf[0..2].copy_from_slice(&stored.to_be_bytes());
        let recomputed = Checksum::new().add_bytes(&plain).finish();
        // One's complement has two zeros: only an all-zero buffer sums to
        // +0 (checksum 0xffff) where the incremental update yields -0.
        if plain.iter().all(|&b| b == 0) {
            assert!(full == 0 || full == 0xffff, "all-zero buffer: {full:#06x}");
            continue;
        }
        assert_eq!(full, recomputed, "incremental update differs from full recomputation");
        assert_eq!(stored, recomputed, "stored checksum differs from full recomputation");
        assert_eq!(Checksum::new().add_bytes(&buf).finish(), 0, "updated stored checksum must verify");
    }
}
