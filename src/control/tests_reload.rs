//! A reload changes only what the configuration file owns: the services it names (with their
//! real servers), its mark rules and the timeouts it writes. What rvsadm, ldirectord or a
//! script added at run time stays, live objects and all.

use super::reload::FileRules;
use super::Control;
use crate::api::command::Command;
use crate::api::*;
use crate::config::Config;
use crate::pipeline::Shared;
use std::sync::Arc;

const IFACE: &str = "[[interface]]\nname = \"d-out\"\naddresses = [\"198.18.0.1/24\"]\n";

/// A configuration file with `body` (services, marks, timeouts), as a reload reads it.
fn file(body: &str) -> FileRules {
    Config::parse(&format!("{IFACE}{body}")).unwrap_or_else(|e| panic!("{e}\n{body}")).file_rules()
}

/// rvsadm's command lines, as ldirectord runs them.
fn rvsadm(ctl: &mut Control, lines: &[&str]) {
    for l in lines {
        let argv: Vec<String> = l.split_whitespace().map(String::from).collect();
        let cmd: Command = crate::ipvsadm::args::parse(&argv).unwrap_or_else(|e| panic!("{l}: {e}"));
        ctl.apply(&cmd).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
}

/// The rules as `-S -n` writes them, without the header.
fn saved(ctl: &Control) -> Vec<String> {
    let text = crate::ipvsadm::format::save_with_marks(&ctl.views(), &ctl.rules().marks, true);
    text.lines().map(String::from).collect()
}

/// A started director: the file's rules applied, as the daemon does at start.
fn started(f: &FileRules) -> Control {
    let mut ctl = Control::new(Arc::new(Shared::new()));
    ctl.sync(f.rules.clone());
    ctl
}

/// The file's web service: `real` in its order, "ADDRESS WEIGHT" each, and `extra` keys.
fn web(scheduler: &str, extra: &str, real: &[&str]) -> String {
    let mut s = format!("[[service]]\ntcp = \"198.18.0.100:80\"\nscheduler = \"{scheduler}\"\n{extra}");
    for r in real {
        let (addr, weight) = r.split_once(' ').unwrap_or((r, "1"));
        s.push_str(&format!("[[service.real]]\naddress = \"{addr}:80\"\nmethod = \"masq\"\nweight = {weight}\n"));
    }
    s
}

const RS: [&str; 2] = ["198.18.1.11", "198.18.1.12"];

const LDIRECTORD: [&str; 3] = [
    "-A -t 198.18.0.101:80 -s wrr",
    "-a -t 198.18.0.101:80 -r 198.18.1.11:80 -m -w 1",
    "-a -t 198.18.0.101:80 -r 198.18.1.12:80 -m -w 1",
];

/// The reload ldirectord users hit: the file changes its own service; ldirectord's service,
/// added with ipvsadm commands, stays with its servers, its counters and its live objects.
#[test]
fn a_reload_keeps_the_services_added_at_run_time() {
    let old = file(&web("rr", "", &RS));
    let mut ctl = started(&old);
    rvsadm(&mut ctl, &LDIRECTORD);
    let theirs = ctl.live.iter().find(|s| s.key == ctl.rules.services[1].0.key).cloned().expect("ldirectord's");
    let new = file(&web("wlc", "", &RS));
    ctl.reload(&old, &new);
    let rules = saved(&ctl);
    println!("after the reload:\n{}", rules.join("\n"));
    assert!(rules.contains(&"-A -t 198.18.0.100:80 -s wlc".to_string()), "the file's change applied");
    assert!(rules.contains(&"-A -t 198.18.0.101:80 -s wrr".to_string()), "ldirectord's service kept");
    assert!(rules.contains(&"-a -t 198.18.0.101:80 -r 198.18.1.11:80 -m -w 1".to_string()));
    assert!(rules.contains(&"-a -t 198.18.0.101:80 -r 198.18.1.12:80 -m -w 1".to_string()));
    let kept = ctl.live.iter().find(|s| s.key == theirs.key).expect("still live");
    assert!(Arc::ptr_eq(kept, &theirs), "the same live service: connections and counters kept");

    // ldirectord takes a dead server out (quiescent=no) and the file is reloaded unchanged.
    rvsadm(&mut ctl, &["-d -t 198.18.0.101:80 -r 198.18.1.12:80"]);
    ctl.reload(&new, &new);
    let rules = saved(&ctl);
    assert!(!rules.contains(&"-a -t 198.18.0.101:80 -r 198.18.1.12:80 -m -w 1".to_string()), "not put back");
    assert!(rules.contains(&"-a -t 198.18.0.101:80 -r 198.18.1.11:80 -m -w 1".to_string()));
}

/// A real server added at run time to a service the file names stays: the file owns the
/// servers it lists, not the service's whole list (an operator scaling out with `-a` keeps
/// the server across a reload; taking it out is a `-d`). A server the old file listed and
/// the new one does not goes; one both list takes the new file's weight.
#[test]
fn a_reload_changes_only_the_real_servers_the_files_list() {
    let old = file(&web("rr", "", &RS));
    let mut ctl = started(&old);
    rvsadm(&mut ctl, &["-a -t 198.18.0.100:80 -r 198.18.1.13:80 -m -w 2"]);
    let new = file(&web("rr", "", &["198.18.1.11 5"]));
    assert_eq!(new.rules.services[0].1.len(), 1, "the new file lists 198.18.1.11 only");
    ctl.reload(&old, &new);
    let rules = saved(&ctl);
    println!("after the reload:\n{}", rules.join("\n"));
    // (-S lists the real servers sorted, as ipvsadm does.)
    let dests: Vec<&String> = rules.iter().filter(|l| l.starts_with("-a -t 198.18.0.100:80")).collect();
    assert_eq!(
        dests,
        ["-a -t 198.18.0.100:80 -r 198.18.1.11:80 -m -w 5", "-a -t 198.18.0.100:80 -r 198.18.1.13:80 -m -w 2"],
        "added at run time kept, the file's weight applied, the server the file dropped gone"
    );
}

/// What only the old file defined goes, even with servers added to it at run time; what the
/// new file defines and is not running (deleted with rvsadm since) comes back.
#[test]
fn a_reload_removes_what_the_old_file_defined_and_the_new_one_does_not() {
    let two = format!(
        "{}\n[[service]]\nudp = \"198.18.0.100:53\"\n[[service.real]]\naddress = \"198.18.1.11\"\n",
        web("rr", "", &RS)
    );
    let old = file(&two);
    let mut ctl = started(&old);
    rvsadm(&mut ctl, &["-a -u 198.18.0.100:53 -r 198.18.1.13:53 -g", "-D -t 198.18.0.100:80"]);
    rvsadm(&mut ctl, &LDIRECTORD);
    let new = file(&web("rr", "", &RS));
    ctl.reload(&old, &new);
    let rules = saved(&ctl);
    println!("after the reload:\n{}", rules.join("\n"));
    assert!(!rules.iter().any(|l| l.contains("198.18.0.100:53")), "the dropped service goes whole");
    assert!(rules.contains(&"-a -t 198.18.0.100:80 -r 198.18.1.11:80 -m -w 1".to_string()), "the file's back");
    assert!(rules.contains(&"-A -t 198.18.0.101:80 -s wrr".to_string()), "ldirectord's kept");
}

/// Mark rules the same way; timeouts by key: a key the file writes is set by every reload, a
/// key it stopped writing goes back to IPVS's default, a key it never wrote keeps `--set`'s.
#[test]
fn marks_and_timeouts_follow_the_file_only_where_it_writes_them() {
    let mark = |m: u32| format!("[[fwmark]]\nmark = {m}\ndestination = \"198.18.0.100\"\n");
    let old = file(&format!("[timeouts]\ntcp = 100\ntcpfin = 50\n{}{}", mark(1), mark(2)));
    let mut ctl = started(&old);
    rvsadm(&mut ctl, &["--add-mark 7 -t 198.18.0.102", "--set 200 60 70"]);
    let new = file(&format!("[timeouts]\ntcp = 110\n{}", mark(1)));
    ctl.reload(&old, &new);
    let t = ctl.rules().timeouts;
    println!("timeouts after the reload: tcp {} tcpfin {} udp {}", t.tcp, t.tcp_fin, t.udp);
    assert_eq!(t, Timeouts { tcp: 110, tcp_fin: Timeouts::default().tcp_fin, udp: 70 });
    let kept: Vec<u32> = ctl.rules().marks.iter().map(|m| m.mark).collect();
    assert_eq!(kept, [1, 7], "the file's mark 1, the run-time mark 7; mark 2 dropped from the file");
}

/// The sorry server a health check added is the file's: it goes with the file's fallback.
#[test]
fn a_fallback_goes_when_the_file_drops_it() {
    let check = "[service.check]\ntype = \"tcp\"\n";
    let with = file(&web("rr", &format!("fallback = \"198.18.1.20:80\"\n{check}"), &RS));
    let mut ctl = started(&with);
    // The checker found every server down: it took them out and put the fallback in.
    rvsadm(
        &mut ctl,
        &[
            "-d -t 198.18.0.100:80 -r 198.18.1.11:80",
            "-d -t 198.18.0.100:80 -r 198.18.1.12:80",
            "-a -t 198.18.0.100:80 -r 198.18.1.20:80 -m",
        ],
    );
    ctl.reload(&with, &with);
    assert!(saved(&ctl).iter().any(|l| l.contains("198.18.1.20:80")), "the same fallback: the checker's call");
    let without = file(&web("rr", check, &RS));
    ctl.reload(&with, &without);
    assert!(!saved(&ctl).iter().any(|l| l.contains("198.18.1.20:80")), "dropped from the file: gone");
}

/// The same file again changes nothing: every live object is the one that ran.
#[test]
fn reloading_the_same_file_leaves_every_live_object() {
    let f = file(&web("rr", "", &RS));
    let mut ctl = started(&f);
    rvsadm(&mut ctl, &LDIRECTORD);
    let before: Vec<_> = ctl.live.clone();
    let (rules, table) = (saved(&ctl), ctl.shared().services.load_full());
    ctl.reload(&f, &f);
    assert_eq!(saved(&ctl), rules);
    assert!(before.iter().zip(&ctl.live).all(|(a, b)| Arc::ptr_eq(a, b)) && before.len() == ctl.live.len());
    let same = table.services().len() == ctl.shared().services.load().services().len();
    assert!(same, "the same services published");
}
