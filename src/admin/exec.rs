//! Run one ipvsadm command line against the live rules.

use super::protocol::{Request, Response};
use crate::api::command::{Command, ListWhat};
use crate::api::{ConnView, ServiceKey};
use crate::control::Control;
use crate::ipvsadm::args;
use crate::ipvsadm::error::UsageError;
use crate::ipvsadm::format;
use crate::ipvsadm::restore::parse_restore_line;
use std::sync::Mutex;

/// One `--neighbours` row: interface, address, MAC ("-" while unresolved),
/// state (REACHABLE, STALE, INCOMPLETE, FAILED).
pub type NeighbourRow = (String, String, String, String);

/// ipvsadm exits 255 (its -1) when the kernel refuses a change.
pub const EXIT_REFUSED: i32 = 255;

/// What the poll loops can report beyond the rules: connections, counters.
pub trait DataPlaneQuery: Send + Sync {
    fn connections(&self) -> Vec<ConnView>;
    /// rvs extension `--counters`: (name, value) pairs.
    fn counters(&self) -> Vec<(String, u64)>;
    /// rvs extension `--neighbours`: every loop's ARP entries.
    fn neighbours(&self) -> Vec<NeighbourRow>;
    /// rvs extension `--checks`: the health checks' states.
    fn checks(&self) -> Vec<crate::health::spec::CheckView>;
    /// rvs extension `--reload`: re-read the configuration file.
    fn reload(&self) -> Result<String, String>;
    /// rvs extension `--announced`: the VIP announcements and why (a data
    /// plane without an announcer has none).
    fn announced(&self) -> String {
        crate::kernel::announce::listing(None, &[])
    }
}

fn usage_err(e: UsageError) -> Response {
    Response::err(e.message, e.exit_code)
}

pub fn execute(ctl: &Mutex<Control>, dp: &dyn DataPlaneQuery, req: &Request) -> Response {
    let cmd = match args::parse(&req.argv) {
        Ok(c) => c,
        Err(e) => return usage_err(e),
    };
    match cmd {
        // rvs's own commands ask the poll loops or the shared state, not the rules.
        Command::Counters => counters(dp),
        Command::Checks => checks(dp),
        Command::Neighbours => neighbours(dp),
        Command::Announced => Response::ok(dp.announced()),
        Command::Reload => match dp.reload() {
            Ok(msg) => Response::ok(msg),
            Err(e) => Response::err(format!("rvs: reload refused, running rules kept: {e}"), 1),
        },
        Command::Role(arg) => role(ctl, arg.as_deref()),
        Command::Sysctl(arg) => sysctl(ctl, arg.as_deref()),
        ipvsadm => execute_ipvsadm(ctl, dp, ipvsadm, req.stdin.as_deref()),
    }
}

fn execute_ipvsadm(ctl: &Mutex<Control>, dp: &dyn DataPlaneQuery, cmd: Command, stdin: Option<&str>) -> Response {
    let mut ctl = ctl.lock().unwrap_or_else(|e| e.into_inner());
    match cmd {
        Command::Help => Response::ok(format::usage()),
        Command::Version => Response::ok(format::version()),
        Command::List(what, fmt) => match what {
            ListWhat::Services(one) => match format::list_services(&ctl.views(), one.as_ref(), &fmt) {
                Ok(s) => Response::ok(s),
                Err(e) => Response::err(e.to_string(), EXIT_REFUSED),
            },
            ListWhat::Connections => {
                drop(ctl);
                Response::ok(format::list_connections(&dp.connections(), fmt.numeric))
            }
            ListWhat::Timeout => Response::ok(format::list_timeout(&ctl.rules().timeouts)),
            // Nothing at all when no daemon runs, as ipvsadm.
            ListWhat::Daemon => Response::ok(ctl.shared().sync.load().listing()),
        },
        Command::Save { numeric } => Response::ok(format::save_with_marks(&ctl.views(), &ctl.rules().marks, numeric)),
        Command::ListMarks => Response::ok(format::list_marks(&ctl.rules().marks)),
        Command::ListLaddr(one) => match format::list_laddrs(&ctl.views(), one.as_ref(), true) {
            Ok(s) => Response::ok(s),
            Err(e) => Response::err(e.to_string(), EXIT_REFUSED),
        },
        Command::Zero(key) => match ctl.zero(key.as_ref()) {
            Ok(()) => Response::ok(String::new()),
            Err(e) => Response::err(e.to_string(), EXIT_REFUSED),
        },
        Command::Restore => restore(&mut ctl, stdin.unwrap_or("")),
        Command::StartDaemon(d) => match ctl.start_daemon(&d) {
            Ok(()) => Response::ok(String::new()),
            Err(e) => Response::err(e.to_string(), EXIT_REFUSED),
        },
        Command::StopDaemon(role) => match ctl.stop_daemon(&role) {
            Ok(()) => Response::ok(String::new()),
            Err(e) => Response::err(e.to_string(), EXIT_REFUSED),
        },
        other => match ctl.apply(&other) {
            Ok(()) => Response::ok(String::new()),
            Err(e) => Response::err(e.to_string(), EXIT_REFUSED),
        },
    }
}

/// rvs extension `--counters`
fn counters(dp: &dyn DataPlaneQuery) -> Response {
    let mut out = String::new();
    for (k, v) in dp.counters() {
        out.push_str(&format!("{k:<40} {v}\n"));
    }
    Response::ok(out)
}

/// rvs extension `--checks`
fn checks(dp: &dyn DataPlaneQuery) -> Response {
    let mut out = format!(
        "{:<24} {:<22} {:<8} {:<5} {:>5} {:>5} {:>8}  {}\n",
        "Service", "RealServer", "Check", "State", "Fails", "Oks", "Since", "LastError"
    );
    for v in dp.checks() {
        let svc = match v.service {
            ServiceKey::Addr { proto, addr, port } => {
                format!("{} {addr}:{port}", if proto == crate::wire::ip_protocol::IPPROTO_TCP { "TCP" } else { "UDP" })
            }
            ServiceKey::Fwmark(m) => format!("FWM {m}"),
        };
        out.push_str(&format!(
            "{:<24} {:<22} {:<8} {:<5} {:>5} {:>5} {:>7}s  {}\n",
            svc,
            format!("{}:{}", v.addr, v.port),
            v.kind,
            if v.up { "UP" } else { "DOWN" },
            v.failures,
            v.successes,
            v.since,
            v.last_error.as_deref().unwrap_or("-")
        ));
    }
    Response::ok(out)
}

/// rvs extension `--neighbours`. The first three columns are as before; the state was added
/// after them.
fn neighbours(dp: &dyn DataPlaneQuery) -> Response {
    let mut out = format!("{:<16} {:<16} {:<17} {}\n", "Interface", "Address", "HWaddress", "State");
    for (i, a, m, st) in dp.neighbours() {
        out.push_str(&format!("{i:<16} {a:<16} {m:<17} {st}\n"));
    }
    Response::ok(out)
}

/// rvs extension `--role [master|backup]`: print or set the HA role. The poll
/// loops pick a change up at their next batch.
fn role(ctl: &Mutex<Control>, arg: Option<&str>) -> Response {
    use crate::pipeline::role::Role;
    let shared = ctl.lock().unwrap_or_else(|e| e.into_inner()).shared().clone();
    match arg {
        None => Response::ok(format!("{}\n", shared.ha.role())),
        Some(r) => match Role::parse(r) {
            Some(role) => {
                let was = shared.ha.role();
                shared.ha.set_role(role);
                eprintln!("rvs: role {was} -> {role}");
                Response::ok(String::new())
            }
            None => Response::err(format!("rvsadm: --role: '{r}' is not master or backup"), 2),
        },
    }
}

/// rvs extension `--sysctl [NAME[=VALUE]]`: IPVS's sysctls, as `sysctl
/// net.ipv4.vs` shows and sets them. No argument lists them all; a bad name
/// or value changes nothing and exits 2. The poll loops read the new value
/// at their next batch.
fn sysctl(ctl: &Mutex<Control>, arg: Option<&str>) -> Response {
    use crate::ipvs::sysctl::{parse_assignment, Sysctl};
    let shared = ctl.lock().unwrap_or_else(|e| e.into_inner()).shared().clone();
    match arg {
        None => Response::ok(shared.sysctl.load().listing()),
        Some(a) if a.contains('=') => match parse_assignment(a) {
            Ok((s, v)) => {
                let was = shared.sysctl.load().get(s);
                shared.sysctl.set(s, v);
                eprintln!("rvs: sysctl {} {was} -> {v}", s.name());
                Response::ok(String::new())
            }
            Err(e) => Response::err(format!("rvsadm: --sysctl: {e}"), 2),
        },
        Some(name) => match Sysctl::lookup(name) {
            Ok(s) => Response::ok(format!("{} = {}\n", s.name(), shared.sysctl.load().get(s))),
            Err(e) => Response::err(format!("rvsadm: --sysctl: {e}"), 2),
        },
    }
}

/// `-R`: every line parsed and applied, all or nothing, so a bad line leaves
/// the rules in force unchanged; the error names the line.
fn restore(ctl: &mut Control, input: &str) -> Response {
    let mut cmds = Vec::new();
    let mut lines = Vec::new();
    for (n, line) in input.lines().enumerate() {
        match parse_restore_line(line) {
            None => {}
            Some(Err(e)) => return Response::err(format!("line {}: {}", n + 1, e.message), e.exit_code),
            Some(Ok(
                Command::Restore
                | Command::Save { .. }
                | Command::List(..)
                | Command::Help
                | Command::Version
                | Command::StartDaemon(_)
                | Command::StopDaemon(_),
            )) => return Response::err(format!("line {}: not a rule: {}", n + 1, line.trim()), 2),
            Some(Ok(c)) => {
                cmds.push(c);
                lines.push(n + 1);
            }
        }
    }
    match ctl.apply_all(&cmds) {
        Ok(()) => Response::ok(String::new()),
        Err((i, e)) => Response::err(format!("line {}: {}", lines[i], e), EXIT_REFUSED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Shared;
    use std::sync::Arc;

    struct NoLoops;
    impl DataPlaneQuery for NoLoops {
        fn connections(&self) -> Vec<ConnView> {
            vec![]
        }
        fn counters(&self) -> Vec<(String, u64)> {
            vec![]
        }
        fn neighbours(&self) -> Vec<NeighbourRow> {
            vec![]
        }
        fn checks(&self) -> Vec<crate::health::spec::CheckView> {
            vec![]
        }
        fn reload(&self) -> Result<String, String> {
            Err("no file".into())
        }
    }

    fn run(ctl: &Mutex<Control>, args: &[&str]) -> Response {
        execute(ctl, &NoLoops, &Request { argv: args.iter().map(|s| s.to_string()).collect(), stdin: None })
    }

    #[test]
    fn sysctl_lists_prints_sets_and_refuses_without_change() {
        let shared = Arc::new(Shared::new());
        let ctl = Mutex::new(Control::new(shared.clone()));
        let all = run(&ctl, &["--sysctl"]);
        assert_eq!(all.code, 0);
        assert_eq!(all.stdout.lines().count(), 7);
        assert!(all.stdout.starts_with("conn_reuse_mode = 1\n") && all.stdout.ends_with("sloppy_tcp = 0\n"));
        assert_eq!(run(&ctl, &["--sysctl", "sloppy_tcp=1"]).code, 0);
        assert!(shared.sysctl.load().sloppy_tcp());
        assert_eq!(run(&ctl, &["--sysctl", "sloppy_tcp"]).stdout, "sloppy_tcp = 1\n");
        let before = shared.sysctl.load();
        for bad in [["--sysctl", "sloppy_tcp=7"], ["--sysctl", "sloppy=1"], ["--sysctl", "nope"], ["--sysctl", "=1"]] {
            let r = run(&ctl, &bad);
            assert_eq!(r.code, 2, "{bad:?}");
            assert!(r.stderr.starts_with("rvsadm: --sysctl: "), "{}", r.stderr);
        }
        assert_eq!(run(&ctl, &["--sysctl", "a", "b"]).code, 2);
        assert_eq!(shared.sysctl.load(), before, "refused: nothing changed");
    }
}
