//! The pipeline target's lab: the test kit's director (src/testkit/) with every kind of
//! service the rules can make (every forwarding method, persistence per port, port 0 with a
//! netmask and firewall mark, mark rules), a default route and a route beyond the inside
//! gateway, both sync daemons, and every neighbour resolved; how one frame is processed with
//! the target's checks; and the control operations an input may interleave with its frames.

use rvs::api::command::Command;
use rvs::api::Timeouts;
use rvs::control::Control;
use rvs::ipvsadm::names::NameDb;
use rvs::pipeline::{Limits, Shared, Verdict};
use rvs::testkit::frames::{arp, tcp, with_ttl};
use rvs::testkit::lab::FRAME_BUF;
use rvs::testkit::*;
use std::sync::{Arc, OnceLock};

/// The VIP of the port-0 persistent service.
pub const VIP_PCC: [u8; 4] = [198, 18, 0, 101];
/// The VIP of firewall mark 66 (a /32 rule for TCP 80 and 443).
pub const VIP_MARK: [u8; 4] = [198, 18, 0, 102];
/// In the /28 of firewall mark 67 (any protocol, any port).
pub const VIP_MARK_NET: [u8; 4] = [198, 18, 0, 113];
/// A tunnel real server beyond the inside gateway.
pub const RS_FAR: [u8; 4] = [10, 1, 0, 3];
/// Where the lab's clock starts (ms).
pub const START_MS: u64 = 1_000_000;

/// The rules of the lab, as `rvsadm -R` reads them: every forwarding
/// method, persistence (per port, port 0 with a netmask, firewall mark),
/// mark rules and an SCTP service (NAT and FULLNAT: its CRC32c rewritten).
pub const RULES: &str = "\
-A --sctp-service 198.18.0.100:9 -s rr
-a --sctp-service 198.18.0.100:9 -r 198.18.1.11:3868 -m -w 1
-a --sctp-service 198.18.0.100:9 -r 198.18.1.12:3868 --fullnat -w 1
-P --sctp-service 198.18.0.100:9 -z 198.18.1.100
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

/// A fresh lab on a `Control` of its own.
pub fn director() -> Lab {
    director_on(lab_control())
}

/// A `Control` with the lab's rules, on a `Shared` of its own.
pub fn lab_control() -> Control {
    let mut ctl = Control::new(Arc::new(Shared::new()));
    ctl.apply_all(rules()).expect("fuzz harness: lab rules");
    // Both sync daemons on the inside LAN, as IPVS allows: every connection
    // is synced out, and multicast frames reach the sync receiver.
    ctl.set_sync_interfaces(vec![rvs::control::SyncInterface { name: "in".into(), id: IN, mtu: 1500, has_addr: true }]);
    for role in ["master", "backup"] {
        let req = rvs::ipvs::sync::daemon::DaemonRequest::new(role, "in", 0);
        ctl.start_daemon(&req).expect("fuzz harness: sync daemon");
    }
    ctl
}

const LAB_NEIGHBOURS: [(u8, [u8; 4], [u8; 6]); 5] = [
    (OUT, CLIENT, CLIENT_MAC),
    (OUT, GW_OUT, GW_OUT_MAC),
    (IN, RS1, RS1_MAC),
    (IN, RS2, RS2_MAC),
    (IN, GW_IN, GW_IN_MAC),
];

/// The frames that make a fresh director resolve every neighbour of the
/// lab, built once: (interface, frame).
fn resolving_frames() -> &'static [(u8, Vec<u8>)] {
    static FRAMES: OnceLock<Vec<(u8, Vec<u8>)>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let mut v = Vec::new();
        // Make the director ask for each neighbour (packets it must send
        // through that neighbour), then answer its ARP requests.
        v.push((OUT, with_ttl(&tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1, 80, "S", b""), 1)));
        v.push((OUT, with_ttl(&tcp(GW_OUT_MAC, OUT_MAC, FAR_CLIENT, VIP, 1, 80, "S", b""), 1)));
        for (p, vport) in [(2, 80), (3, 80), (4, 82), (5, 82), (6, 82)] {
            v.push((OUT, tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, p, vport, "S", b"")));
        }
        for (iface, hop, mac) in LAB_NEIGHBOURS {
            let (my_mac, my_ip) = if iface == OUT { (OUT_MAC, DIR_OUT) } else { (IN_MAC, DIR_IN) };
            v.push((iface, arp(mac, my_mac, 2, mac, hop, my_mac, my_ip)));
        }
        v
    })
}

/// A fresh director on `ctl`'s services, with every neighbour resolved.
pub fn director_on(ctl: Control) -> Lab {
    let mut ifaces = interfaces(DIR_OUT, DIR_IN);
    ifaces.0[OUT as usize].vips.push(ip(VIP));
    let statics = [(0, 0, ip(GW_OUT)), (ip([10, 1, 0, 0]), 16, ip(GW_IN))];
    let limits = Limits { fullnat_ports: (1024, 1055), ..small_limits(512) };
    let mut lab = Lab::build(ifaces, &statics, limits, ctl, START_MS);
    lab.d.begin_batch();
    lab.d.tick(lab.now, &mut lab.tx);
    for (iface, f) in resolving_frames() {
        lab.now += 1;
        process(&mut lab, *iface, f);
    }
    lab.d.clear_connections();
    let resolved = lab.d.neighbours();
    assert_eq!(resolved.len(), LAB_NEIGHBOURS.len(), "fuzz harness: neighbours not all resolved: {resolved:?}");
    lab.tx.0.clear();
    lab
}

/// One frame in on `iface` at the lab's time, in a batch of its own through
/// `Director::process_batch` (the poll loop's path: the fast path, then the
/// general pipeline), then the loop's housekeeping; the director must keep
/// within its interfaces and buffer.
pub fn process(lab: &mut Lab, iface: u8, frame: &[u8]) -> Verdict {
    lab.d.begin_batch();
    let n = frame.len().min(FRAME_BUF);
    lab.buf[..n].copy_from_slice(&frame[..n]);
    lab.buf[n..].fill(0);
    let mut batch = [rvs::pipeline::BatchFrame::new(iface, &mut lab.buf, n)];
    lab.d.process_batch(lab.now, &mut batch, &mut lab.tx);
    let (v, len) = (batch[0].verdict, batch[0].len);
    lab.len = len;
    assert!(len <= FRAME_BUF, "frame grew past its buffer: {len}");
    if let Verdict::Forward(out) = v {
        assert!((out as usize) < 2, "forwarded to interface {out}");
        assert!(len >= 14, "forwarded a {len}-byte frame");
    }
    for (i, f) in &lab.tx.0 {
        assert!((*i as usize) < 2, "transmitted on interface {i}");
        assert!(f.len() >= 14 && f.len() <= FRAME_BUF, "transmitted a {}-byte frame", f.len());
    }
    lab.d.tick(lab.now, &mut lab.tx);
    v
}

/// Control operations a pipeline input may interleave with its frames.
pub fn control(lab: &mut Lab, op: u8) {
    let p = |l: &str| rvs::ipvsadm::restore::parse_restore_line_with(l, &NameDb::empty()).unwrap().unwrap();
    let shared = lab.ctl.shared().clone();
    match op % 14 {
        0 => drop(lab.ctl.apply(&p("-d -t 198.18.0.100:80 -r 198.18.1.11:80"))),
        1 => drop(lab.ctl.apply(&p("-a -t 198.18.0.100:80 -r 198.18.1.11:80 -m"))),
        2 => drop(lab.ctl.apply(&p("-e -t 198.18.0.100:80 -r 198.18.1.12:8080 -m -w 0"))),
        3 => drop(lab.ctl.apply(&p("-e -t 198.18.0.100:80 -r 198.18.1.12:8080 -m -w 3"))),
        4 => {
            // `-C` then the same rules back, as a restart of ipvsadm.service.
            let rules = lab.ctl.rules().clone();
            let _ = lab.ctl.apply(&Command::Clear);
            lab.d.begin_batch();
            lab.ctl.sync(rules);
        }
        5 => drop(lab.ctl.apply(&Command::SetTimeout(Timeouts { tcp: 5, tcp_fin: 2, udp: 3 }))),
        6 => drop(lab.ctl.apply(&Command::SetTimeout(Timeouts::default()))),
        7 => {
            // One of IPVS's sysctls (sloppy_tcp, expire_nodest_conn...) to its next value.
            let s = rvs::ipvs::sysctl::Sysctl::ALL[(op / 14) as usize % rvs::ipvs::sysctl::Sysctl::ALL.len()];
            let v = shared.sysctl.load().get(s);
            shared.sysctl.set(s, (v + 1) % (s.max() + 1));
        }
        8 => drop(lab.ctl.apply(&p("-Q -t 198.18.0.100:83 -z 198.18.1.100"))),
        9 => drop(lab.ctl.apply(&p("-P -t 198.18.0.100:83 -z 198.18.1.100"))),
        10 => lab.d.clear_connections(),
        11 => drop(lab.ctl.apply(&p("--del-mark 66 -t 198.18.0.102/32:80,443"))),
        12 => drop(lab.ctl.apply(&p("--add-mark 66 -t 198.18.0.102/32:80,443"))),
        _ => drop(lab.ctl.apply(&p("-D -f 67"))),
    }
    lab.d.begin_batch();
    // Exercise the control plane's views of the live state too.
    let _ = lab.ctl.views();
    let _ = lab.d.connections(lab.now);
}
