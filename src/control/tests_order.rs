//! The kernel's list order reaches the schedulers: IPVS puts each new real server at the head
//! of its service's list (__ip_vs_update_dest), and every scheduler walks that list from the
//! head, so the server added last gets the first connection, and wins the ties.

use super::Control;
use crate::api::command::Command;
use crate::ipvs::sched::{Position, SchedInput};
use crate::pipeline::Shared;
use std::sync::Arc;

fn control(lines: &[&str]) -> Control {
    let mut ctl = Control::new(Arc::new(Shared::new()));
    for l in lines {
        let argv: Vec<String> = l.split_whitespace().map(String::from).collect();
        let cmd: Command = crate::ipvsadm::args::parse(&argv).unwrap_or_else(|e| panic!("{l}: {e}"));
        ctl.apply(&cmd).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    ctl
}

/// The real servers the first service's scheduler picks for `n` new connections in a row,
/// one poll loop's, each connection held (bound) as a real one would be.
fn picks(ctl: &Control, n: usize) -> Vec<String> {
    let table = ctl.shared().services.load();
    let (_, rt) = table.get(0).expect("a service");
    let mut pos = Position::default();
    (0..n)
        .map(|i| {
            let input = SchedInput { proto: 6, saddr: 0xc612_000a, sport: 40000 + i as u16, daddr: 0, dport: 80 };
            let k = rt.sched.schedule(&rt.dests, &input, &mut pos).expect("a server");
            rt.dests[k].bind_conn(0);
            rt.dests[k].addr.to_string()
        })
        .collect()
}

/// Seed 003's DR experiment: RS2 (192.168.1.8) added first, RS1 (192.168.1.16) second; the
/// client's ten requests read RS1, RS2, RS1...
#[test]
fn rr_starts_with_the_server_added_last() {
    let ctl = control(&[
        "-A -t 172.20.0.24:80 -s rr",
        "-a -t 172.20.0.24:80 -r 192.168.1.8 -g",
        "-a -t 172.20.0.24:80 -r 192.168.1.16 -g",
    ]);
    assert_eq!(picks(&ctl, 4), ["192.168.1.16", "192.168.1.8", "192.168.1.16", "192.168.1.8"]);
}

/// wrr, wlc, lc, sed, nq, fo: equal standing goes to the head of the list, the newest server.
#[test]
fn ties_go_to_the_server_added_last() {
    for sched in ["wrr", "wlc", "lc", "sed", "nq", "fo", "ovf"] {
        let ctl = control(&[
            &format!("-A -t 198.18.0.1:80 -s {sched}"),
            "-a -t 198.18.0.1:80 -r 198.18.1.1 -m",
            "-a -t 198.18.0.1:80 -r 198.18.1.2 -m",
        ]);
        assert_eq!(picks(&ctl, 1), ["198.18.1.2"], "{sched}");
    }
}

/// test_sched's case d: wrr 100:1, the heavy server added first. The kernel's wrr state after
/// the adds (ip_vs_wrr_dest_changed on each): with RS1 alone the gcd is 100, so mw = 100 - 99
/// = 1 and cw = 1; adding RS2 (weight 1) makes mw 100 but keeps cw 1, so the first pick from
/// the head is RS2 (1 >= 1), then RS1; then cw wraps to 100 and RS1 takes the rest. A poll
/// loop that saw each rule change carries its place over each (pipeline/lb.rs does it with
/// sched::carry, as here).
#[test]
fn wrr_keeps_the_current_weight_its_adds_left() {
    let mut ctl = Control::new(Arc::new(Shared::new()));
    let mut pos = Position::default();
    let mut before: Option<Arc<crate::ipvs::service::ServiceRuntime>> = None;
    for l in [
        "-A -t 198.18.0.1:80 -s wrr",
        "-a -t 198.18.0.1:80 -r 198.18.1.1 -m -w 100",
        "-a -t 198.18.0.1:80 -r 198.18.1.2 -m -w 1",
    ] {
        let argv: Vec<String> = l.split_whitespace().map(String::from).collect();
        ctl.apply(&crate::ipvsadm::args::parse(&argv).expect("parses")).expect("applies");
        let table = ctl.shared().services.load();
        let (_, rt) = table.get(0).expect("a service");
        if let Some(old) = &before {
            pos = crate::ipvs::sched::carry(&rt.spec.scheduler, pos, &old.dests, &rt.dests);
        }
        before = Some(rt.clone());
    }
    let rt = before.expect("a runtime");
    let picks: Vec<String> = (0..4)
        .map(|i| {
            let input = SchedInput { proto: 6, saddr: 0xc612_000a, sport: 40000 + i, daddr: 0, dport: 80 };
            let k = rt.sched.schedule(&rt.dests, &input, &mut pos).expect("a server");
            rt.dests[k].addr.to_string()
        })
        .collect();
    assert_eq!(picks, ["198.18.1.2", "198.18.1.1", "198.18.1.1", "198.18.1.1"]);
    // Without the carry (a fresh start at the heaviest): RS1 first.
    let input = SchedInput { proto: 6, saddr: 1, sport: 1, daddr: 0, dport: 80 };
    let first = rt.sched.schedule(&rt.dests, &input, &mut Position::default());
    assert_eq!(first.map(|k| rt.dests[k].addr.to_string()).as_deref(), Some("198.18.1.1"));
}
