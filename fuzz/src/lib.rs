//! Shared code of the fuzz targets (`fuzz/fuzz_targets/*.rs`) and of the
//! stable-toolchain replay test (`tests/fuzz_replay.rs`, which includes this
//! file as a module with `#[path]`). It may use only `rvs`, `etherparse` and
//! the standard library, the dependencies both crates have.
//!
//! One function per target takes the raw fuzz input and must never panic
//! (except on an `assert!` that is the target's oracle); [`seeds`] builds the
//! seed corpora from real frames and texts.

#![allow(dead_code)]

pub mod conn_table;
pub mod neighbour_table;
pub mod ops;

use rvs::admin::exec::{execute, DataPlaneQuery};
use rvs::admin::protocol::{decode_request, read_message, Request, MAX_REQUEST};
use rvs::api::command::Command;
use rvs::api::{ConnView, Timeouts};
use rvs::control::{Control, Rules};
use rvs::ipvsadm::args;
use rvs::ipvsadm::names::NameDb;
use rvs::net::iface::{Interface, Interfaces};
use rvs::net::route::RouteTable;
use rvs::pipeline::{Collect, Director, Limits, Shared, Verdict};
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

// ------------------------------------------------------------------ the lab

pub const OUT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const IN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
pub const GW_OUT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
pub const RS1_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
pub const RS2_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x12];
pub const GW_IN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfd];
pub const DIR_OUT: [u8; 4] = [198, 18, 0, 1];
pub const DIR_IN: [u8; 4] = [198, 18, 1, 1];
pub const CLIENT: [u8; 4] = [198, 18, 0, 10];
/// A client beyond the outside gateway.
pub const FAR_CLIENT: [u8; 4] = [203, 0, 113, 7];
pub const GW_OUT: [u8; 4] = [198, 18, 0, 254];
pub const GW_IN: [u8; 4] = [198, 18, 1, 254];
pub const VIP: [u8; 4] = [198, 18, 0, 100];
/// The VIP of the port-0 persistent service.
pub const VIP_PCC: [u8; 4] = [198, 18, 0, 101];
/// The VIP of firewall mark 66 (a /32 rule for TCP 80 and 443).
pub const VIP_MARK: [u8; 4] = [198, 18, 0, 102];
/// In the /28 of firewall mark 67 (any protocol, any port).
pub const VIP_MARK_NET: [u8; 4] = [198, 18, 0, 113];
pub const RS1: [u8; 4] = [198, 18, 1, 11];
pub const RS2: [u8; 4] = [198, 18, 1, 12];
/// A tunnel real server beyond the inside gateway.
pub const RS3: [u8; 4] = [10, 1, 0, 3];
pub const LIP1: [u8; 4] = [198, 18, 1, 100];
pub const LIP2: [u8; 4] = [198, 18, 1, 101];

/// The rules of the lab, as `rvsadm -R` reads them: every forwarding
/// method, persistence (per port, port 0 with a netmask, firewall mark) and
/// mark rules.
pub const RULES: &str = "\
-A -t 198.18.0.100:80 -s rr
-a -t 198.18.0.100:80 -r 198.18.1.11:80 -m -w 1
-a -t 198.18.0.100:80 -r 198.18.1.12:8080 -m -w 2
-A -u 198.18.0.100:53 -s wrr
-a -u 198.18.0.100:53 -r 198.18.1.11:53 -m -w 1
-a -u 198.18.0.100:53 -r 198.18.1.12:5353 --fullnat -w 1
-A -t 198.18.0.100:81 -s lc
-a -t 198.18.0.100:81 -r 198.18.1.11:81 -g -w 1
-a -t 198.18.0.100:81 -r 198.18.1.12:81 -g -w 1
-A -t 198.18.0.100:82 -s wlc
-a -t 198.18.0.100:82 -r 198.18.1.11:82 -i -w 1
-a -t 198.18.0.100:82 -r 10.1.0.3:82 -i -w 1
-A -t 198.18.0.100:83 -s sh -b sh-port
-a -t 198.18.0.100:83 -r 198.18.1.11:8080 --fullnat -w 1
-a -t 198.18.0.100:83 -r 198.18.1.12:8080 --fullnat -w 1
-P -t 198.18.0.100:83 -z 198.18.1.100
-P -t 198.18.0.100:83 -z 198.18.1.101
-A -t 198.18.0.100:443 -s rr -p 300
-a -t 198.18.0.100:443 -r 198.18.1.11:443 -m -w 1
-a -t 198.18.0.100:443 -r 198.18.1.12:443 -m -w 1
-A -t 198.18.0.101:0 -s mh -p 60 -M 255.255.255.0
-a -t 198.18.0.101:0 -r 198.18.1.11:0 -m -w 1
-a -t 198.18.0.101:0 -r 198.18.1.12:0 -m -w 1
--add-mark 66 -t 198.18.0.102/32:80,443
--add-mark 67 --any-proto 198.18.0.112/28
-A -f 66 -s rr -p 120
-a -f 66 -r 198.18.1.11:0 -m -w 1
-a -f 66 -r 198.18.1.12:0 -m -w 1
-A -f 67 -s lblc
-a -f 67 -r 198.18.1.11:0 -g -w 1
-a -f 67 -r 198.18.1.12:0 -i -w 1
";

fn ip(a: [u8; 4]) -> u32 {
    u32::from_be_bytes(a)
}

fn names() -> &'static NameDb {
    static DB: OnceLock<NameDb> = OnceLock::new();
    DB.get_or_init(NameDb::system)
}

/// The lab's rules as commands, parsed once per process: parsing them for
/// every input was a quarter of the pipeline and save_file targets' time.
pub fn rules() -> &'static [Command] {
    static PARSED: OnceLock<Vec<Command>> = OnceLock::new();
    PARSED.get_or_init(|| {
        RULES
            .lines()
            .map(|l| match rvs::ipvsadm::restore::parse_restore_line_with(l, &NameDb::empty()) {
                Some(Ok(c)) => c,
                other => panic!("fuzz harness: lab rule {l:?}: {other:?}"),
            })
            .collect()
    })
}

/// A director as the daemon builds one: two interfaces, static routes, every
/// kind of service, and every neighbour resolved (the way the wire does it).
pub struct Lab {
    pub d: Director,
    pub ctl: Control,
    pub tx: Collect,
    pub now: u64,
    /// A scratch frame buffer, the size of an AF_XDP frame.
    buf: Vec<u8>,
    /// The length of the frame in `buf` after the last `process`.
    last_len: usize,
}

/// The size of an AF_XDP frame: the most a received frame can be.
pub const FRAME_BUF: usize = 4096;
/// Where the lab's clock starts (ms).
pub const START_MS: u64 = 1_000_000;

pub fn director() -> Lab {
    director_on(lab_control())
}

/// A `Control` with the lab's rules, on a `Shared` of its own.
fn lab_control() -> Control {
    let mut ctl = Control::new(Arc::new(Shared::new()));
    ctl.apply_all(rules()).expect("fuzz harness: lab rules");
    // Both sync daemons on the inside LAN, as IPVS allows: every connection
    // is synced out, and multicast frames reach the sync receiver.
    ctl.set_sync_interfaces(vec![rvs::control::SyncInterface { name: "in".into(), id: 1, mtu: 1500, has_addr: true }]);
    for role in ["master", "backup"] {
        let req = rvs::ipvs::sync::daemon::DaemonRequest::new(role, "in", 0);
        ctl.start_daemon(&req).expect("fuzz harness: sync daemon");
    }
    ctl
}

/// The frames that make a fresh director resolve every neighbour of the
/// lab, built once: (interface, frame).
fn resolving_frames() -> &'static [(u8, Vec<u8>)] {
    static FRAMES: OnceLock<Vec<(u8, Vec<u8>)>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let mut v = Vec::new();
        // Make the director ask for each neighbour (packets it must send
        // through that neighbour), then answer its ARP requests.
        let mut ttl1 = frames::tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1, 80, "S", b"");
        ttl1[22] = 1;
        frames::fix_ip(&mut ttl1);
        v.push((0, ttl1));
        let mut ttl1 = frames::tcp(GW_OUT_MAC, OUT_MAC, FAR_CLIENT, VIP, 1, 80, "S", b"");
        ttl1[22] = 1;
        frames::fix_ip(&mut ttl1);
        v.push((0, ttl1));
        for (p, vport) in [(2, 80), (3, 80), (4, 82), (5, 82), (6, 82)] {
            v.push((0, frames::tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, p, vport, "S", b"")));
        }
        for (iface, hop, mac) in LAB_NEIGHBOURS {
            let (my_mac, my_ip) = if iface == 0 { (OUT_MAC, DIR_OUT) } else { (IN_MAC, DIR_IN) };
            v.push((iface, frames::arp(mac, my_mac, 2, mac, hop, my_mac, my_ip)));
        }
        v
    })
}

const LAB_NEIGHBOURS: [(u8, [u8; 4], [u8; 6]); 5] =
    [(0, CLIENT, CLIENT_MAC), (0, GW_OUT, GW_OUT_MAC), (1, RS1, RS1_MAC), (1, RS2, RS2_MAC), (1, GW_IN, GW_IN_MAC)];

/// A fresh director on `ctl`'s services, with every neighbour resolved.
fn director_on(ctl: Control) -> Lab {
    let ifaces = Interfaces(vec![
        Interface {
            id: 0,
            name: "out".into(),
            mac: OUT_MAC,
            mtu: 1500,
            addrs: vec![(ip(DIR_OUT), 24)],
            vips: vec![ip(VIP)],
        },
        Interface { id: 1, name: "in".into(), mac: IN_MAC, mtu: 1500, addrs: vec![(ip(DIR_IN), 24)], vips: vec![] },
    ]);
    let routes = RouteTable::build(&ifaces, &[(0, 0, ip(GW_OUT)), (ip([10, 1, 0, 0]), 16, ip(GW_IN))])
        .expect("fuzz harness: routes");
    let d = Director::new(
        0,
        ifaces,
        routes,
        ctl.shared().clone(),
        Limits {
            connections: 512,
            neighbours: 64,
            arp_hold_slots: 16,
            fullnat_ports: (1024, 1055),
            ..Limits::default()
        },
        START_MS,
    );
    let mut lab = Lab { d, ctl, tx: Collect::default(), now: START_MS, buf: vec![0; FRAME_BUF], last_len: 0 };
    lab.d.begin_batch();
    lab.d.tick(lab.now, &mut lab.tx);
    for (iface, f) in resolving_frames() {
        lab.feed(*iface, f);
    }
    lab.d.clear_connections();
    let resolved = lab.d.neighbours();
    assert_eq!(resolved.len(), LAB_NEIGHBOURS.len(), "fuzz harness: neighbours not all resolved: {resolved:?}");
    lab.tx.0.clear();
    lab
}

impl Lab {
    /// One frame in on `iface`, one millisecond later: the verdict and the
    /// frame as the director left it.
    pub fn feed(&mut self, iface: u8, frame: &[u8]) -> (Verdict, Vec<u8>) {
        self.now += 1;
        let v = self.process(iface, frame);
        let out = match v {
            Verdict::Forward(_) => self.buf[..self.last_len].to_vec(),
            _ => Vec::new(),
        };
        (v, out)
    }

    fn process(&mut self, iface: u8, frame: &[u8]) -> Verdict {
        let n = frame.len().min(self.buf.len());
        self.buf[..n].copy_from_slice(&frame[..n]);
        self.buf[n..].fill(0);
        let mut len = n;
        self.d.begin_batch();
        let v = self.d.process(self.now, iface, &mut self.buf, &mut len, &mut self.tx);
        assert!(len <= self.buf.len(), "frame grew past its buffer: {len}");
        if let Verdict::Forward(out) = v {
            assert!((out as usize) < 2, "forwarded to interface {out}");
            assert!(len >= 14, "forwarded a {len}-byte frame");
        }
        for (i, f) in &self.tx.0 {
            assert!((*i as usize) < 2, "transmitted on interface {i}");
            assert!(f.len() >= 14 && f.len() <= FRAME_BUF, "transmitted a {}-byte frame", f.len());
        }
        self.last_len = len;
        self.d.tick(self.now, &mut self.tx);
        v
    }

    /// Control operations a pipeline input may interleave with its frames.
    fn control(&mut self, op: u8) {
        let p = |l: &str| rvs::ipvsadm::restore::parse_restore_line_with(l, &NameDb::empty()).unwrap().unwrap();
        let shared = self.ctl.shared().clone();
        match op % 14 {
            0 => drop(self.ctl.apply(&p("-d -t 198.18.0.100:80 -r 198.18.1.11:80"))),
            1 => drop(self.ctl.apply(&p("-a -t 198.18.0.100:80 -r 198.18.1.11:80 -m"))),
            2 => drop(self.ctl.apply(&p("-e -t 198.18.0.100:80 -r 198.18.1.12:8080 -m -w 0"))),
            3 => drop(self.ctl.apply(&p("-e -t 198.18.0.100:80 -r 198.18.1.12:8080 -m -w 3"))),
            4 => {
                // `-C` then the same rules back, as a restart of ipvsadm.service.
                let rules = self.ctl.rules().clone();
                let _ = self.ctl.apply(&Command::Clear);
                self.d.begin_batch();
                self.ctl.sync(rules);
            }
            5 => drop(self.ctl.apply(&Command::SetTimeout(Timeouts { tcp: 5, tcp_fin: 2, udp: 3 }))),
            6 => drop(self.ctl.apply(&Command::SetTimeout(Timeouts::default()))),
            7 => {
                // One of IPVS's sysctls (sloppy_tcp, expire_nodest_conn...) to its next value.
                let s = rvs::ipvs::sysctl::Sysctl::ALL[(op / 14) as usize % rvs::ipvs::sysctl::Sysctl::ALL.len()];
                let v = shared.sysctl.load().get(s);
                shared.sysctl.set(s, (v + 1) % (s.max() + 1));
            }
            8 => drop(self.ctl.apply(&p("-Q -t 198.18.0.100:83 -z 198.18.1.100"))),
            9 => drop(self.ctl.apply(&p("-P -t 198.18.0.100:83 -z 198.18.1.100"))),
            10 => self.d.clear_connections(),
            11 => drop(self.ctl.apply(&p("--del-mark 66 -t 198.18.0.102/32:80,443"))),
            12 => drop(self.ctl.apply(&p("--add-mark 66 -t 198.18.0.102/32:80,443"))),
            _ => drop(self.ctl.apply(&p("-D -f 67"))),
        }
        self.d.begin_batch();
        // Exercise the control plane's views of the live state too.
        let _ = self.ctl.views();
        let _ = self.d.connections(self.now);
    }
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
        out.push(format!("{v:?} {:?} {sent:?}", &lab.buf[..lab.last_len]));
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
            lab.control(hdr & 0x7f);
            continue;
        }
        // The clock never goes back (the director may assume it).
        lab.now += advance_ms(hdr >> 1);
        let v = lab.process(hdr & 1, body);
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
            caddr: std::net::Ipv4Addr::from(CLIENT),
            cport: 40000,
            vaddr: std::net::Ipv4Addr::from(VIP),
            vport: 80,
            daddr: std::net::Ipv4Addr::from(RS1),
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

/// The lab's rules in a `Control`, for the text targets.
fn control() -> Control {
    lab_control()
}

/// The lab's rules as applied.
fn lab_rules() -> &'static Rules {
    static APPLIED: OnceLock<Rules> = OnceLock::new();
    APPLIED.get_or_init(|| control().rules().clone())
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
    let mut ctl = LAB.with(|l| l.borrow_mut().take()).unwrap_or_else(control);
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

// ------------------------------------------------------------------ frames

/// Frame builders for the seeds and the setup.
pub mod frames {
    use super::ip;
    use etherparse::PacketBuilder;
    use rvs::wire::checksum::{pseudo_header, Checksum};

    pub fn arp(
        eth_src: [u8; 6],
        eth_dst: [u8; 6],
        op: u16,
        sha: [u8; 6],
        spa: [u8; 4],
        tha: [u8; 6],
        tpa: [u8; 4],
    ) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        let n = rvs::wire::arp::build_frame(&mut f, &eth_dst, op, &sha, ip(spa), &tha, ip(tpa));
        f[6..12].copy_from_slice(&eth_src);
        // Ethernet pads to 60 bytes: keep the padding as the wire has it.
        f.truncate(n.max(60));
        f
    }

    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        src_mac: [u8; 6],
        dst_mac: [u8; 6],
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
        flags: &str,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut b = PacketBuilder::ethernet2(src_mac, dst_mac).ipv4(src, dst, 64).tcp(sport, dport, 1000, 64000);
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('A') {
            b = b.ack(1);
        }
        if flags.contains('F') {
            b = b.fin();
        }
        if flags.contains('R') {
            b = b.rst();
        }
        if flags.contains('P') {
            b = b.psh();
        }
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    pub fn udp(
        src_mac: [u8; 6],
        dst_mac: [u8; 6],
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(src_mac, dst_mac).ipv4(src, dst, 64).udp(sport, dport).write(&mut v, payload).unwrap();
        v
    }

    pub fn echo_request(src_mac: [u8; 6], dst_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], id: u16, seq: u16) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(src_mac, dst_mac)
            .ipv4(src, dst, 64)
            .icmpv4_echo_request(id, seq)
            .write(&mut v, b"abcdefghijklmnopqrstuvwabcdefghi")
            .unwrap();
        v
    }

    /// An ICMP error from `src` to `dst` quoting `quoted` (an IP packet).
    pub fn icmp_error(
        src_mac: [u8; 6],
        dst_mac: [u8; 6],
        src: [u8; 4],
        dst: [u8; 4],
        t: etherparse::Icmpv4Type,
        quoted: &[u8],
    ) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(src_mac, dst_mac).ipv4(src, dst, 64).icmpv4(t).write(&mut v, quoted).unwrap();
        v
    }

    pub fn unreachable(code: etherparse::icmpv4::DestUnreachableHeader) -> etherparse::Icmpv4Type {
        etherparse::Icmpv4Type::DestinationUnreachable(code)
    }

    /// Recompute the IPv4 header checksum of an Ethernet frame.
    pub fn fix_ip(f: &mut [u8]) {
        let ihl = (f[14] & 15) as usize * 4;
        f[24..26].fill(0);
        let c = Checksum::new().add_bytes(&f[14..(14 + ihl).min(f.len())]).finish();
        f[24..26].copy_from_slice(&c.to_be_bytes());
    }

    /// Recompute the TCP or UDP checksum of an Ethernet/IPv4 frame.
    pub fn fix_l4(f: &mut [u8]) {
        let ihl = (f[14] & 15) as usize * 4;
        let total = u16::from_be_bytes([f[16], f[17]]) as usize;
        let proto = f[23];
        let (src, dst) =
            (u32::from_be_bytes(f[26..30].try_into().unwrap()), u32::from_be_bytes(f[30..34].try_into().unwrap()));
        let l4 = 14 + ihl;
        let at = match proto {
            6 => l4 + 16,
            17 => l4 + 6,
            _ => return,
        };
        f[at..at + 2].fill(0);
        let mut c = pseudo_header(src, dst, proto, (total - ihl) as u16).add_bytes(&f[l4..14 + total]).finish();
        if proto == 17 && c == 0 {
            c = 0xffff;
        }
        f[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }

    /// Insert IPv4 options (a multiple of 4 bytes) after the fixed header.
    pub fn with_ip_options(f: &[u8], opts: &[u8]) -> Vec<u8> {
        assert_eq!(opts.len() % 4, 0);
        let mut v = f[..34].to_vec();
        v.extend_from_slice(opts);
        v.extend_from_slice(&f[34..]);
        v[14] = 0x40 | (5 + opts.len() / 4) as u8;
        let total = u16::from_be_bytes([v[16], v[17]]) + opts.len() as u16;
        v[16..18].copy_from_slice(&total.to_be_bytes());
        fix_ip(&mut v);
        v
    }

    /// Set fragment flags and offset (in 8-byte units).
    pub fn as_fragment(f: &[u8], more: bool, offset: u16) -> Vec<u8> {
        let mut v = f.to_vec();
        let ff = (if more { 0x2000 } else { 0 }) | (offset & 0x1fff);
        v[20..22].copy_from_slice(&ff.to_be_bytes());
        fix_ip(&mut v);
        v
    }
}

// ------------------------------------------------------------------ seeds

/// The seed corpora: (file name, bytes) per target.
pub mod seeds {
    use super::frames::*;
    use super::*;
    use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
    use etherparse::{Icmpv4Type, PacketBuilder};

    /// A pipeline session: frames fed to a lab as they are recorded, so that
    /// replies can quote what the director really sent.
    struct Session {
        lab: Lab,
        bytes: Vec<u8>,
    }

    impl Session {
        fn new() -> Self {
            Session { lab: director(), bytes: Vec::new() }
        }
        /// Feed and record a frame; the frame as forwarded (or empty).
        fn frame(&mut self, iface: u8, code: u8, f: &[u8]) -> Vec<u8> {
            self.bytes.extend(record(iface, code, f));
            self.lab.now += advance_ms(code);
            self.lab.tx.0.clear();
            let v = self.lab.process(iface, f);
            match v {
                Verdict::Forward(_) => self.lab.buf[..self.lab.last_len].to_vec(),
                _ => Vec::new(),
            }
        }
        /// Frames the director transmitted besides the verdict's frame.
        fn sent(&self) -> Vec<(u8, Vec<u8>)> {
            self.lab.tx.0.iter().map(|(i, f)| (*i, f.clone())).collect()
        }
        fn control(&mut self, op: u8) {
            self.bytes.extend(control_record(op));
            self.lab.control(op);
        }
    }

    fn port(f: &[u8], at: usize) -> u16 {
        let ihl = (f[14] & 15) as usize * 4;
        u16::from_be_bytes([f[14 + ihl + at], f[14 + ihl + at + 1]])
    }
    fn addr(f: &[u8], at: usize) -> [u8; 4] {
        f[14 + at..14 + at + 4].try_into().unwrap()
    }

    /// A TCP connection to `vip:vport` from `client` through a method; the
    /// server's replies mirror what the director sent it. `reply_via_director`:
    /// NAT and FULLNAT replies come back through the director.
    fn tcp_session(s: &mut Session, client: [u8; 4], cmac: [u8; 6], vip: [u8; 4], cport: u16, vport: u16, close: &str) {
        let syn = s.frame(0, 1, &tcp(cmac, OUT_MAC, client, vip, cport, vport, "S", b""));
        if syn.is_empty() {
            return;
        }
        let replies = syn[14 + 9] == 6 && addr(&syn, 16) != vip; // NAT/FULLNAT: rewritten destination
        let (rs, laddr) = (addr(&syn, 16), addr(&syn, 12));
        let (rport, lport) = (port(&syn, 2), port(&syn, 0));
        let rmac: [u8; 6] = syn[0..6].try_into().unwrap();
        if replies {
            s.frame(1, 2, &tcp(rmac, IN_MAC, rs, laddr, rport, lport, "SA", b""));
        }
        s.frame(0, 3, &tcp(cmac, OUT_MAC, client, vip, cport, vport, "A", b""));
        s.frame(0, 1, &tcp(cmac, OUT_MAC, client, vip, cport, vport, "PA", b"GET / HTTP/1.0\r\n\r\n"));
        if replies {
            s.frame(1, 1, &tcp(rmac, IN_MAC, rs, laddr, rport, lport, "PA", b"HTTP/1.0 200 OK\r\n\r\nhello"));
            let last = if close == "R" { "R" } else { "FA" };
            s.frame(1, 1, &tcp(rmac, IN_MAC, rs, laddr, rport, lport, last, b""));
        }
        s.frame(0, 1, &tcp(cmac, OUT_MAC, client, vip, cport, vport, if close == "R" { "R" } else { "FA" }, b""));
        if replies && close != "R" {
            s.frame(1, 1, &tcp(rmac, IN_MAC, rs, laddr, rport, lport, "A", b""));
        }
    }

    /// The pipeline seeds.
    pub fn pipeline() -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        let mut single = |name: &str, iface: u8, f: Vec<u8>| out.push((format!("frame-{name}"), record(iface, 1, &f)));

        // ---- single frames, each on a fresh lab
        let syn = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b"");
        single("tcp-syn-nat", 0, syn.clone());
        single("tcp-syn-dr", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 81, "S", b""));
        single("tcp-syn-tun", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 82, "S", b"hello"));
        single("tcp-syn-fullnat", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 83, "S", b""));
        single("tcp-syn-persistent", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 443, "S", b""));
        single("tcp-syn-pcc", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_PCC, 40000, 22, "S", b""));
        single("tcp-syn-fwmark66", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_MARK, 40000, 443, "S", b""));
        single("tcp-syn-fwmark67", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_MARK_NET, 40000, 8080, "S", b""));
        single("tcp-syn-far-client", 0, tcp(GW_OUT_MAC, OUT_MAC, FAR_CLIENT, VIP, 40000, 80, "S", b""));
        single("tcp-syn-no-service", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 8081, "S", b""));
        single("tcp-ack-no-conn", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "A", b"x"));
        single("tcp-rst-no-conn", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "R", b""));
        single("tcp-to-director", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, DIR_OUT, 40000, 22, "S", b""));
        single("tcp-not-our-mac", 0, tcp(CLIENT_MAC, RS1_MAC, CLIENT, VIP, 40000, 80, "S", b""));
        single("udp-nat", 0, udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5000, 53, b"\x12\x34\x01\x00\x00\x01"));
        single("udp-fwmark67", 0, udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_MARK_NET, 5000, 9999, b"ping"));
        let mut udp0 = udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5001, 53, b"no checksum");
        udp0[40..42].fill(0);
        single("udp-zero-checksum", 0, udp0);
        single("udp-no-service", 0, udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5000, 54, b"x"));
        single("icmp-echo-vip", 0, echo_request(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 7, 1));
        single("icmp-echo-director", 1, echo_request(RS1_MAC, IN_MAC, RS1, DIR_IN, 7, 1));
        single("icmp-echo-elsewhere", 0, echo_request(CLIENT_MAC, OUT_MAC, CLIENT, [198, 18, 0, 55], 7, 1));
        let mut ttl1 = syn.clone();
        ttl1[22] = 1;
        fix_ip(&mut ttl1);
        single("tcp-ttl1", 0, ttl1);
        // Sync messages from a peer director on the inside LAN.
        let peer = [198, 18, 1, 2];
        let peer_mac = [2, 0, 0, 0, 0, 0x22];
        let sync_mac = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x51];
        let group = [224, 0, 0, 81];
        let synced =
            |cport: u16, vport: u16, daddr: [u8; 4], dport: u16, fwd: rvs::api::FwdMethod| rvs::ipvs::sync::SyncConn {
                proto: 6,
                caddr: CLIENT.into(),
                cport,
                vaddr: VIP.into(),
                vport,
                daddr: daddr.into(),
                dport,
                fwd,
                laddr: if fwd == rvs::api::FwdMethod::FullNat { LIP1.into() } else { [0; 4].into() },
                lport: if fwd == rvs::api::FwdMethod::FullNat { 2000 } else { 0 },
                state: rvs::ipvs::state::ConnState::Established,
                inactive: false,
                timeout_s: 900,
                template: false,
                fwmark: 0,
                seq: None,
                pe: None,
            };
        let conns = [
            synced(40100, 80, RS1, 80, rvs::api::FwdMethod::Masq),
            synced(40101, 81, RS1, 81, rvs::api::FwdMethod::Route),
            synced(40102, 83, RS1, 80, rvs::api::FwdMethod::FullNat),
        ];
        for (i, msg) in rvs::ipvs::sync::encode(0, &conns, 1472).into_iter().enumerate() {
            single(&format!("sync-message-{i}"), 1, udp(peer_mac, sync_mac, peer, group, 8848, 8848, &msg));
        }
        let request = rvs::ipvs::sync::daemon::full_table_request(0);
        single("sync-full-table-request", 1, udp(peer_mac, sync_mac, peer, group, 8848, 8848, &request));
        single(
            "multicast-other",
            1,
            udp(peer_mac, [0x01, 0x00, 0x5e, 0, 0, 0xfb], peer, [224, 0, 0, 251], 5353, 5353, b"mdns"),
        );
        single("arp-request-vip", 0, arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP));
        single("arp-request-director", 1, arp(RS1_MAC, [0xff; 6], 1, RS1_MAC, RS1, [0; 6], DIR_IN));
        single("arp-request-laddr", 1, arp(RS1_MAC, [0xff; 6], 1, RS1_MAC, RS1, [0; 6], LIP1));
        single("arp-request-mark-vip", 0, arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP_MARK));
        single("arp-request-other", 0, arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], [198, 18, 0, 77]));
        single("arp-gratuitous", 0, arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], CLIENT));
        single("arp-reply-unsolicited", 1, arp(RS2_MAC, IN_MAC, 2, RS2_MAC, [198, 18, 1, 99], IN_MAC, DIR_IN));
        single(
            "arp-reply-changed-mac",
            1,
            arp([2, 0, 0, 0, 0, 0x99], IN_MAC, 2, [2, 0, 0, 0, 0, 0x99], RS1, IN_MAC, DIR_IN),
        );
        single("arp-truncated", 0, arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP)[..30].to_vec());
        let mut arp_bad = arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], VIP);
        arp_bad[18] = 16; // hardware length
        single("arp-bad-hlen", 0, arp_bad);
        single("eth-truncated", 0, syn[..10].to_vec());
        single("ip-truncated", 0, syn[..30].to_vec());
        single("tcp-truncated", 0, syn[..40].to_vec());
        let mut short_total = syn.clone();
        short_total[16..18].copy_from_slice(&30u16.to_be_bytes());
        fix_ip(&mut short_total);
        single("ip-total-short", 0, short_total);
        let mut long_total = syn.clone();
        long_total[16..18].copy_from_slice(&1400u16.to_be_bytes());
        fix_ip(&mut long_total);
        single("ip-total-long", 0, long_total);
        let mut bad_ihl = syn.clone();
        bad_ihl[14] = 0x44;
        fix_ip(&mut bad_ihl);
        single("ip-bad-ihl", 0, bad_ihl);
        let mut big_ihl = syn.clone();
        big_ihl[14] = 0x4f;
        fix_ip(&mut big_ihl);
        single("ip-ihl-15", 0, big_ihl);
        let mut v6 = syn.clone();
        v6[14] = 0x65;
        single("ip-version-6-in-v4", 0, v6);
        let mut bad_ipck = syn.clone();
        bad_ipck[24] ^= 0x55;
        single("ip-bad-checksum", 0, bad_ipck);
        let mut bad_tcpck = syn.clone();
        bad_tcpck[50] ^= 0x55;
        single("tcp-bad-checksum", 0, bad_tcpck);
        let mut small_doff = syn.clone();
        small_doff[46] = 0x20;
        fix_l4(&mut small_doff);
        single("tcp-bad-data-offset", 0, small_doff);
        let mut big_doff = syn.clone();
        big_doff[46] = 0xf0;
        fix_l4(&mut big_doff);
        single("tcp-data-offset-15", 0, big_doff);
        let mut padded = syn.clone();
        padded.resize(80, 0xee);
        single("tcp-ethernet-padding", 0, padded);
        let rr = [7, 7, 4, 0, 0, 0, 0, 1]; // record route, then end of options
        single("ip-options-rr", 0, with_ip_options(&syn, &rr));
        single(
            "ip-options-nop",
            0,
            with_ip_options(&tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 83, "S", b""), &[1, 1, 1, 0]),
        );
        single("ip-options-bad-length", 0, with_ip_options(&syn, &[7, 200, 4, 0]));
        single("ip-fragment-first", 0, as_fragment(&syn, true, 0));
        single("ip-fragment-middle", 0, as_fragment(&syn, true, 100));
        single("ip-fragment-last", 0, as_fragment(&syn, false, 185));
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
            .single_vlan(etherparse::VlanId::try_new(10).unwrap())
            .ipv4(CLIENT, VIP, 64)
            .tcp(40000, 80, 1, 64000)
            .syn()
            .write(&mut v, b"")
            .unwrap();
        single("vlan-tcp-syn", 0, v);
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
            .ipv6(
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x64],
                64,
            )
            .tcp(40000, 80, 1, 64000)
            .syn()
            .write(&mut v, b"")
            .unwrap();
        single("ipv6-tcp-syn", 0, v);
        let mut gre = syn.clone();
        gre[23] = 47;
        fix_ip(&mut gre);
        single("ip-proto-gre", 0, gre);
        let mut lldp = syn.clone();
        lldp.resize(60, 0);
        lldp[12..14].copy_from_slice(&0x88ccu16.to_be_bytes());
        single("ethertype-lldp", 0, lldp);
        single("broadcast-ip", 0, tcp(CLIENT_MAC, [0xff; 6], CLIENT, VIP, 40000, 80, "S", b""));
        single("tcp-big-tun-df", 0, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 82, "S", &[7u8; 1460]));
        let mut nodf = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 82, "S", &[7u8; 1460]);
        nodf[20] = 0;
        fix_ip(&mut nodf);
        single("tcp-big-tun-nodf", 0, nodf);
        single("ipip-from-rs", 1, {
            let mut v = Vec::new();
            PacketBuilder::ethernet2(RS1_MAC, IN_MAC)
                .ipv4(RS1, DIR_IN, 64)
                .write(&mut v, etherparse::IpNumber::IPV4, &syn[14..])
                .unwrap();
            v
        });
        single(
            "unreachable-unrelated",
            1,
            icmp_error(RS1_MAC, IN_MAC, RS1, DIR_IN, unreachable(DestUnreachableHeader::Port), &syn[14..]),
        );
        single(
            "icmp-error-truncated-quote",
            1,
            icmp_error(RS1_MAC, IN_MAC, RS1, DIR_IN, unreachable(DestUnreachableHeader::Port), &syn[14..30]),
        );
        single(
            "icmp-error-empty-quote",
            0,
            icmp_error(CLIENT_MAC, OUT_MAC, CLIENT, VIP, unreachable(DestUnreachableHeader::Host), &[]),
        );
        let mut icmp_bad = echo_request(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 7, 1);
        icmp_bad[36] ^= 0x5a;
        single("icmp-bad-checksum", 0, icmp_bad);
        let mut ts = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
            .ipv4(CLIENT, VIP, 64)
            .icmpv4(Icmpv4Type::TimestampRequest(etherparse::icmpv4::TimestampMessage {
                id: 1,
                seq: 1,
                originate_timestamp: 1,
                receive_timestamp: 0,
                transmit_timestamp: 0,
            }))
            .write(&mut ts, &[])
            .unwrap();
        single("icmp-timestamp", 0, ts);

        // ---- sessions: both directions, ICMP errors quoting forwarded packets
        let mut sessions: Vec<(String, Vec<u8>)> = Vec::new();
        for (name, vport) in [("nat", 80u16), ("dr", 81), ("tun", 82), ("fullnat", 83), ("persistent", 443)] {
            let mut s = Session::new();
            tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP, 40000, vport, "F");
            tcp_session(&mut s, FAR_CLIENT, GW_OUT_MAC, VIP, 40001, vport, "R");
            // A new SYN on the same ports after the close: rescheduled.
            tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP, 40000, vport, "F");
            sessions.push((format!("session-tcp-{name}"), s.bytes));
        }
        {
            let mut s = Session::new();
            tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP_PCC, 40000, 22, "F");
            tcp_session(&mut s, [198, 18, 0, 77], CLIENT_MAC, VIP_PCC, 40001, 8443, "F");
            tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP_MARK, 40002, 80, "F");
            tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP_MARK, 40003, 443, "F");
            tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP_MARK_NET, 40004, 7000, "F");
            // Templates and connections expire, then the client returns.
            s.frame(0, 63, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_PCC, 40005, 22, "S", b""));
            sessions.push(("session-persistence-fwmark".into(), s.bytes));
        }
        {
            // UDP both ways, NAT and FULLNAT (wrr alternates), then expiry.
            let mut s = Session::new();
            for p in 0..4u16 {
                let out = s.frame(0, 1, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5000 + p, 53, b"query"));
                if !out.is_empty() {
                    let rmac: [u8; 6] = out[0..6].try_into().unwrap();
                    let r = udp(rmac, IN_MAC, addr(&out, 16), addr(&out, 12), port(&out, 2), port(&out, 0), b"answer");
                    s.frame(1, 1, &r);
                    // The client is gone: the reply bounces back to the director as an ICMP error.
                    let back = s.frame(1, 1, &r);
                    let _ = back;
                    let err =
                        icmp_error(CLIENT_MAC, OUT_MAC, CLIENT, VIP, unreachable(DestUnreachableHeader::Port), &{
                            let mut q = udp(OUT_MAC, CLIENT_MAC, VIP, CLIENT, 53, 5000 + p, b"answer");
                            q.drain(..14);
                            q
                        });
                    s.frame(0, 1, &err);
                }
            }
            s.frame(0, 60, &udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5000, 53, b"again"));
            sessions.push(("session-udp".into(), s.bytes));
        }
        for (name, vport) in [("nat", 80u16), ("fullnat", 83), ("tun", 82), ("dr", 81)] {
            // ICMP errors about forwarded packets, from the real server's side
            // (about the request) and from the client's side (about a reply).
            let mut s = Session::new();
            let fwd = s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 41000, vport, "S", b""));
            if fwd.is_empty() {
                continue;
            }
            let rmac: [u8; 6] = fwd[0..6].try_into().unwrap();
            let quoted_start = if fwd[23] == 4 { 34 } else { 14 }; // inside the tunnel: the inner packet
            let (rs, to) = (if fwd[23] == 4 { addr(&fwd, 16) } else { addr(&fwd, 16) }, addr(&fwd, 12));
            let q = &fwd[quoted_start..];
            s.frame(1, 1, &icmp_error(rmac, IN_MAC, rs, to, unreachable(DestUnreachableHeader::Port), q));
            s.frame(
                1,
                1,
                &icmp_error(
                    rmac,
                    IN_MAC,
                    rs,
                    to,
                    unreachable(DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 }),
                    &fwd[14..],
                ),
            );
            s.frame(
                1,
                1,
                &icmp_error(
                    GW_IN_MAC,
                    IN_MAC,
                    GW_IN,
                    DIR_IN,
                    Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit),
                    &fwd[14..],
                ),
            );
            s.frame(
                1,
                1,
                &icmp_error(rmac, IN_MAC, rs, to, unreachable(DestUnreachableHeader::Port), &fwd[14..14 + 28]),
            );
            if fwd[23] != 4 && addr(&fwd, 16) != VIP {
                // The real server answers; the client's host says port unreachable about the reply.
                let back = s.frame(
                    1,
                    1,
                    &tcp(rmac, IN_MAC, addr(&fwd, 16), addr(&fwd, 12), port(&fwd, 2), port(&fwd, 0), "SA", b""),
                );
                if !back.is_empty() {
                    s.frame(
                        0,
                        1,
                        &icmp_error(
                            CLIENT_MAC,
                            OUT_MAC,
                            CLIENT,
                            VIP,
                            unreachable(DestUnreachableHeader::Port),
                            &back[14..],
                        ),
                    );
                    s.frame(
                        0,
                        1,
                        &icmp_error(
                            GW_OUT_MAC,
                            OUT_MAC,
                            GW_OUT,
                            VIP,
                            Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit),
                            &back[14..],
                        ),
                    );
                }
            }
            sessions.push((format!("session-icmp-error-{name}"), s.bytes));
        }
        {
            // Neighbours: a real server forgotten, re-resolved while packets wait.
            let mut s = Session::new();
            s.frame(0, 63, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 42000, 80, "S", b""));
            for k in 0..6u16 {
                s.frame(0, 20, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 42001 + k, 80, "S", b""));
            }
            let reqs: Vec<_> = s.sent();
            s.frame(1, 1, &arp(RS1_MAC, IN_MAC, 2, RS1_MAC, RS1, IN_MAC, DIR_IN));
            s.frame(1, 1, &arp(RS2_MAC, IN_MAC, 2, RS2_MAC, RS2, IN_MAC, DIR_IN));
            s.frame(0, 1, &arp(CLIENT_MAC, OUT_MAC, 2, CLIENT_MAC, CLIENT, OUT_MAC, DIR_OUT));
            let _ = reqs;
            s.frame(0, 40, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 42100, 80, "S", b""));
            sessions.push(("session-arp".into(), s.bytes));
        }
        {
            // Control operations between frames: servers removed and back, -C and -R, timeouts.
            let mut s = Session::new();
            tcp_session(&mut s, CLIENT, CLIENT_MAC, VIP, 43000, 80, "F");
            s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43001, 80, "S", b""));
            s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43002, 80, "S", b""));
            for op in 0..14u8 {
                s.control(op);
                s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43001, 80, "A", b"data"));
                s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43100 + op as u16, 83, "S", b""));
                s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP_MARK, 43200 + op as u16, 80, "S", b""));
            }
            s.control(7);
            s.control(0);
            s.frame(0, 1, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43002, 80, "A", b"data"));
            s.frame(0, 50, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 43003, 80, "S", b""));
            sessions.push(("session-control".into(), s.bytes));
        }
        {
            // FULLNAT local ports run out (32 per local address and real server).
            let mut s = Session::new();
            for p in 0..160u16 {
                s.frame(
                    0,
                    0,
                    &tcp(CLIENT_MAC, OUT_MAC, [198, 18, 0, 20 + (p % 50) as u8], VIP, 10000 + p, 83, "S", b""),
                );
            }
            sessions.push(("session-fullnat-exhaustion".into(), s.bytes));
        }
        out.extend(sessions);
        out
    }

    /// Lines that look like ipvsadm command lines in the seed texts: the
    /// command part from `ipvsadm` on, the program name dropped.
    pub fn command_lines(text: &str) -> Vec<String> {
        let mut v = Vec::new();
        for line in text.lines() {
            let Some(at) = line.find("ipvsadm ") else {
                continue;
            };
            let rest = line[at + "ipvsadm ".len()..].trim();
            // Typographic dashes as the web pages print them.
            let rest = rest.replace(['\u{2013}', '\u{2014}'], "-");
            let rest: String = rest.split('#').next().unwrap_or("").trim().to_string();
            if !rest.is_empty() && rest.starts_with('-') && rest.len() < 300 {
                v.push(rest);
            }
        }
        v
    }

    /// The lab's rules as `rvsadm -S -n` writes them.
    pub fn saved_rules() -> String {
        let ctl = control();
        rvs::ipvsadm::format::save_with_marks_with(&ctl.views(), &ctl.rules().marks, true, &NameDb::empty())
    }

    /// Seeds of the text targets, from the repository root `root` and the
    /// ipvsadm texts under `seeds_dir` (if present).
    pub fn texts(root: &std::path::Path, seeds_dir: &std::path::Path) -> Vec<(&'static str, String, Vec<u8>)> {
        let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
        let mut lines: Vec<String> = RULES.lines().map(String::from).collect();
        lines.extend(
            [
                "-Ln",
                "-Lnc",
                "-Ln --stats",
                "-Ln --rate",
                "-Ln --exact",
                "-Ln --thresholds",
                "-Ln --persistent-conn",
                "-L --timeout",
                "-S -n",
                "-S",
                "-C",
                "-Z",
                "-Z -t 198.18.0.100:80",
                "-D -t 198.18.0.100:80",
                "-E -t 198.18.0.100:80 -s wlc -p 30 -M 255.255.0.0",
                "-e -t 198.18.0.100:80 -r 198.18.1.11:80 -m -w 5 -x 100 -y 50",
                "-d -t 198.18.0.100:80 -r 198.18.1.11:80",
                "--set 900 120 300",
                "-G",
                "-G -t 198.18.0.100:83",
                "-Q -t 198.18.0.100:83 -z 198.18.1.100",
                "--list-marks",
                "--del-mark 66 -t 198.18.0.102/32:80,443",
                "-A -u 198.18.0.100:53 -s rr -o",
                "-A -t 198.18.0.100:8080 -s sh -b sh-port,sh-fallback",
                "-A -t 198.18.0.100:8081 -s mh -b mh-port,mh-fallback",
                "-A -t www.example.com:http -s rr",
                "-A -t [2001:db8::1]:80",
                "-h",
                "-v",
                "-R",
                "--counters",
                "--neighbours",
                "--checks",
                "--reload",
                "-A -t 198.18.0.100:80 -s nosuch",
                "-a -t 198.18.0.100:80 -r 198.18.1.13 -w 70000",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let mut seeds: Vec<String> = Vec::new();
        if let Ok(rd) = std::fs::read_dir(seeds_dir) {
            let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            files.sort();
            for f in files {
                if let Ok(t) = std::fs::read_to_string(&f) {
                    seeds.extend(command_lines(&t));
                }
            }
        }
        seeds.sort();
        seeds.dedup();
        lines.extend(seeds.into_iter().take(120));
        let mut seen = std::collections::HashSet::new();
        let mut k = 0;
        for l in &lines {
            if !seen.insert(l.clone()) {
                continue;
            }
            // Alternate the two argv encodings.
            let bytes = if k % 3 == 2 {
                l.split_whitespace().collect::<Vec<_>>().join("\0").into_bytes()
            } else {
                l.clone().into_bytes()
            };
            out.push(("ipvsadm_args", format!("args-{k:03}"), bytes));
            k += 1;
        }
        // Admin requests: as rvsadm sends them, and broken ones.
        let reqs: Vec<Request> = vec![
            Request { argv: vec!["-Ln".into()], stdin: None },
            Request { argv: vec!["-Lnc".into()], stdin: None },
            Request { argv: vec!["-S".into(), "-n".into()], stdin: None },
            Request { argv: vec!["-R".into()], stdin: Some(saved_rules()) },
            Request { argv: vec!["-R".into()], stdin: Some(RULES.into()) },
            Request {
                argv: vec!["-R".into()],
                stdin: Some("-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 5.6.7.8\n-a -t 9.9.9.9:1 -r 1.1.1.1\n".into()),
            },
            Request { argv: vec!["-C".into()], stdin: None },
            Request { argv: vec!["-D".into(), "-t".into(), "198.18.0.100:80".into()], stdin: None },
            Request {
                argv: vec![
                    "-a".into(),
                    "-t".into(),
                    "198.18.0.100:80".into(),
                    "-r".into(),
                    "198.18.1.13:80".into(),
                    "-m".into(),
                ],
                stdin: None,
            },
            Request { argv: vec!["--counters".into()], stdin: None },
            Request { argv: vec!["--neighbours".into()], stdin: None },
            Request { argv: vec!["--checks".into()], stdin: None },
            Request { argv: vec!["--reload".into()], stdin: None },
            Request { argv: vec!["-G".into()], stdin: None },
            Request { argv: vec!["--list-marks".into()], stdin: None },
            Request { argv: vec!["-Ln".into(), "--stats".into(), "--exact".into()], stdin: None },
            Request { argv: vec!["-Z".into()], stdin: None },
            Request { argv: vec!["--set".into(), "10".into(), "5".into(), "3".into()], stdin: None },
            Request { argv: vec![], stdin: None },
        ];
        for (i, r) in reqs.iter().enumerate() {
            let mut v = Vec::new();
            rvs::admin::protocol::write_message(&mut v, r).unwrap();
            out.push(("admin_request", format!("request-{i:02}"), v));
        }
        for (i, raw) in [
            &b"{\"argv\": 3}\n"[..],
            b"{\"argv\": [\"-Ln\"]",
            b"{\"argv\": [\"-Ln\"], \"stdin\": null, \"extra\": 1}\n",
            b"\xff\xfe\n",
            b"[]\n",
            b"{\"argv\": [\"-R\"], \"stdin\": \"\\u0000-A -t 1.1.1.1:1\\n\"}\n",
        ]
        .iter()
        .enumerate()
        {
            out.push(("admin_request", format!("broken-{i:02}"), raw.to_vec()));
        }
        // Configurations.
        if let Ok(t) = std::fs::read(root.join("config.example")) {
            out.push(("config", "config-example".into(), t));
        }
        out.push((
            "config",
            "minimal".into(),
            b"[[interface]]\nname = \"eth0\"\naddresses = [\"10.0.0.1/24\"]\n".to_vec(),
        ));
        out.push((
            "config",
            "services".into(),
            br#"[admin]
socket = "/tmp/rvs.sock"
[dataplane]
connections = 1024
fullnat_ports = [2000, 3000]
[[interface]]
name = "eth0"
addresses = ["198.18.0.1/24"]
vips = ["198.18.0.100"]
[[interface]]
name = "eth1"
addresses = ["198.18.1.1/24"]
[[route]]
destination = "0.0.0.0/0"
gateway = "198.18.0.254"
[timeouts]
tcp = 60
[[fwmark]]
mark = 66
tcp = "198.18.0.102/32:80,443"
[[service]]
tcp = "198.18.0.100:80"
scheduler = "wrr"
persistent = 300
[[service.real]]
address = "198.18.1.11:80"
method = "masq"
weight = 3
[[service.real]]
address = "198.18.1.12:80"
method = "fullnat"
[service.check]
type = "http"
path = "/"
"#
            .to_vec(),
        ));
        out.push(("config", "bad-key".into(), b"[dataplane]\nnosuch = 1\n".to_vec()));
        out.push((
            "config",
            "bad-address".into(),
            b"[[interface]]\nname = \"eth0\"\naddresses = [\"300.0.0.1/33\"]\n".to_vec(),
        ));
        // Save files.
        out.push(("save_file", "lab-saved".into(), saved_rules().into_bytes()));
        out.push(("save_file", "lab-rules".into(), RULES.as_bytes().to_vec()));
        out.push((
            "save_file",
            "ipvsadm-save".into(),
            b"# ipvsadm-save -n\n-A -t 10.0.0.1:80 -s wlc -p 300\n-a -t 10.0.0.1:80 -r 192.168.0.2:80 -g -w 1\n\
              -a -t 10.0.0.1:80 -r 192.168.0.3:80 -i -w 0 -x 10 -y 5\n-A -u 10.0.0.1:53 -s rr\n\
              -a -u 10.0.0.1:53 -r 192.168.0.2:53 -m -w 1\n-A -f 1 -s sh -b sh-port\n-a -f 1 -r 192.168.0.4:0 -g -w 1\n"
                .to_vec(),
        ));
        out.push((
            "save_file",
            "refused".into(),
            b"-A -t 1.1.1.1:80\n-A -t 1.1.1.1:80\n-a -t 2.2.2.2:1 -r 3.3.3.3\n".to_vec(),
        ));
        out.push((
            "save_file",
            "quoted".into(),
            b"ipvsadm \"-A\" -t \"1.1.1.1:80\" -s rr # comment\n\n   \n-R\n".to_vec(),
        ));
        // Checksum: headers with their fields changed as the pipeline does.
        let syn = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b"");
        let mut c = vec![3u8];
        c.extend([1, 0, 14, 198, 18, 1, 11]); // an address (offset 2 + 14 = 16: the destination)
        c.extend([0, 0, 20, 0, 0, 0x1f, 0x90]); // a port
        c.extend([0, 0, 6, 0, 0, 63, 6]); // TTL and protocol word
        c.extend(&syn[14..34]);
        out.push(("checksum", "ip-header".into(), c));
        let mut c = vec![2u8];
        c.extend([1, 0, 0, 198, 18, 1, 100, 0]);
        c.extend([0, 0, 4, 0, 0, 0xff, 0xff]);
        c.extend(&syn[34..]);
        out.push(("checksum", "tcp-header".into(), c));
        out.push(("checksum", "zeros".into(), vec![1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]));
        out.push((
            "checksum",
            "ones-odd".into(),
            vec![1, 1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ));
        out
    }
}
