//! Run one ipvsadm command line against the live rules.

use super::protocol::{Request, Response};
use crate::api::command::{CaptureSpec, Command, ListWhat};
use crate::api::{ConnView, ServiceKey};
use crate::control::{Control, Rules};
use crate::ipvsadm::args;
use crate::ipvsadm::error::UsageError;
use crate::ipvsadm::format;
use crate::ipvsadm::proc_net;
use crate::ipvsadm::restore::parse_restore_line;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

/// One `--neighbours` row: interface, address, MAC ("-" while unresolved),
/// state (REACHABLE, STALE, INCOMPLETE, FAILED).
pub type NeighbourRow = (String, String, String, String);

/// One poll loop as the metrics endpoint reads it: its counters by reason (every reason, zeros
/// too), its AF_XDP sockets' kernel statistics, and its tables' sizes (None if it did not
/// answer in time).
#[derive(Debug, Clone, Default)]
pub struct LoopView {
    pub counters: Vec<(&'static str, u64)>,
    pub xsk: Vec<(&'static str, u64)>,
    pub tables: Option<crate::pipeline::TableSizes>,
}

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
    /// How many poll loops count traffic: the rows of /proc/net/ip_vs_stats_percpu.
    fn poll_loops(&self) -> usize {
        1
    }
    /// Each poll loop's counters and table sizes, for the metrics endpoint (a data plane
    /// without loops has none).
    fn loops(&self) -> Vec<LoopView> {
        Vec::new()
    }
    /// rvs extension `--announced`: the VIP announcements and why (a data
    /// plane without an announcer has none).
    fn announced(&self) -> String {
        crate::kernel::announce::listing(None, &[])
    }
    /// rvs extension `--capture`: run one capture, streaming it to `client` after the first
    /// response line (crate::capture::stream); the last response line (refusal or summary).
    fn capture(&self, _spec: &CaptureSpec, _client: &UnixStream) -> Response {
        Response::err("rvsadm: --capture: this rvs has no poll loops to capture from", 1)
    }
}

/// ipvsadm's fail() prints the message and then a newline, whatever the message ends with
/// ("-6 used before -f\n" comes out with two).
fn usage_err(e: UsageError) -> Response {
    Response { stdout: String::new(), stderr: e.message + "\n", code: e.exit_code }
}

pub fn execute(ctl: &Mutex<Control>, dp: &dyn DataPlaneQuery, req: &Request) -> Response {
    match args::parse(&req.argv) {
        Ok(cmd) => execute_command(ctl, dp, cmd, req),
        Err(e) => usage_err(e),
    }
}

/// [`execute`] for a client on the admin socket, which `--capture` streams its frames to.
pub fn serve(ctl: &Mutex<Control>, dp: &dyn DataPlaneQuery, req: &Request, client: &UnixStream) -> Response {
    match args::parse(&req.argv) {
        Ok(Command::Capture(spec)) => dp.capture(&spec, client),
        Ok(cmd) => execute_command(ctl, dp, cmd, req),
        Err(e) => usage_err(e),
    }
}

fn execute_command(ctl: &Mutex<Control>, dp: &dyn DataPlaneQuery, cmd: Command, req: &Request) -> Response {
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
        Command::Capture(_) => {
            Response::err("rvsadm: --capture streams its answer: only the admin socket serves it", 2)
        }
        Command::Sysctl(arg) => sysctl(ctl, arg.as_deref()),
        Command::Proc(arg) => match arg.as_deref().and_then(proc_net::parse_name) {
            Some(name) => Response::ok(proc_text(ctl, dp, name)),
            None => Response::err(format!("rvsadm: --proc: NAME is one of {}", proc_net::NAMES.join(", ")), 2),
        },
        ipvsadm => execute_ipvsadm(ctl, dp, ipvsadm, req.stdin.as_deref()),
    }
}

fn execute_ipvsadm(ctl: &Mutex<Control>, dp: &dyn DataPlaneQuery, cmd: Command, stdin: Option<&str>) -> Response {
    // The poll loops answer -Lc: no need to hold the rules meanwhile.
    if let Command::List(ListWhat::Connections, fmt) = &cmd {
        return Response::ok(format::list_connections(&dp.connections(), fmt));
    }
    let mut ctl = ctl.lock().unwrap_or_else(|e| e.into_inner());
    match cmd {
        Command::Restore => restore(&mut ctl, dp, stdin.unwrap_or("")),
        cmd => run_locked(&mut ctl, dp, cmd),
    }
}

/// One ipvsadm command with the rules held: from the command line, or one line of `-R`.
fn run_locked(ctl: &mut Control, dp: &dyn DataPlaneQuery, cmd: Command) -> Response {
    match cmd {
        Command::Help => Response::ok(format::usage()),
        Command::Version => Response::ok(format::version()),
        Command::List(what, fmt) => match what {
            ListWhat::Services(one) => match format::list_services(&ctl.views(), one.as_ref(), &fmt) {
                Ok(s) => Response::ok(s),
                // list_service(): exit(1) when the kernel has no such service.
                Err(e) => Response::err(e.to_string(), 1),
            },
            ListWhat::Connections => Response::ok(format::list_connections(&dp.connections(), &fmt)),
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
        // -R read from a restore line: ipvsadm's "avoid infinite loop" (parse_restore_line
        // refuses it before it gets here).
        Command::Restore => usage_err(crate::ipvsadm::restore::nested_restore()),
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

/// The text of /proc/net/`name` (one of [`proc_net::NAMES`]) as the kernel would show it now:
/// for `rvsadm --proc` and the files the daemon keeps under `[admin] proc_dir`.
pub fn proc_text(ctl: &Mutex<Control>, dp: &dyn DataPlaneQuery, name: &str) -> String {
    // The poll loops answer for the connections: the rules are not held meanwhile.
    if name == "ip_vs_conn" {
        return proc_net::ip_vs_conn(&dp.connections());
    }
    let (views, per_loop) = {
        let ctl = ctl.lock().unwrap_or_else(|e| e.into_inner());
        (ctl.views(), ctl.loop_totals(dp.poll_loops()))
    };
    let (total, rate) = proc_net::totals(&views);
    match name {
        "ip_vs_stats" => proc_net::ip_vs_stats(&total, &rate),
        "ip_vs_stats_percpu" => proc_net::ip_vs_stats_percpu(&per_loop, &total, &rate),
        _ => proc_net::ip_vs(&views),
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
                let p = if proto == crate::wire::ip_protocol::IPPROTO_TCP { "TCP" } else { "UDP" };
                format!("{p} {}", std::net::SocketAddr::new(addr, port))
            }
            ServiceKey::Fwmark(m) => format!("FWM {m}"),
            ServiceKey::Fwmark6(m) => format!("FWM {m} IPv6"),
        };
        out.push_str(&format!(
            "{:<24} {:<22} {:<8} {:<5} {:>5} {:>5} {:>7}s  {}\n",
            svc,
            std::net::SocketAddr::new(v.addr, v.port).to_string(),
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
                log::info!("role {was} -> {role}");
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
                log::info!("sysctl {} {was} -> {v}", s.name());
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

/// `-R`, as ipvsadm 1.31's restore_table(): each line is run as it is read. A line the kernel
/// refuses prints its error and the next line is read; a popt error likewise; a line
/// ipvsadm's parser refuses with fail() (or -h, -v, which exit) ends the restore, the lines
/// before it applied. The status is the last line's. Rule changes in a row reach the live
/// rules together, when a line that reads them (or the end) comes, so a long file does not
/// rebuild the poll loops' rules once per line.
fn restore(ctl: &mut Control, dp: &dyn DataPlaneQuery, input: &str) -> Response {
    let mut out = Response::ok(String::new());
    let mut pending: Option<Rules> = None;
    for line in input.lines() {
        let cmd = match parse_restore_line(line) {
            None => continue,
            Some(Ok(cmd)) => cmd,
            Some(Err(e)) => {
                let exits = e.exits;
                append(&mut out, usage_err(e));
                if exits {
                    break;
                }
                continue;
            }
        };
        if cmd.changes_rules() {
            let trial = pending.get_or_insert_with(|| ctl.rules().clone());
            match trial.apply(&cmd) {
                Ok(()) => out.code = 0,
                Err(e) => append(&mut out, Response::err(e.to_string(), EXIT_REFUSED)),
            }
            continue;
        }
        if let Some(rules) = pending.take() {
            ctl.sync(rules);
        }
        let exits = matches!(cmd, Command::Help | Command::Version);
        append(&mut out, run_locked(ctl, dp, cmd));
        if exits {
            break;
        }
    }
    if let Some(rules) = pending {
        ctl.sync(rules);
    }
    out
}

/// One restore line's answer after the ones before: its output added, its status taken.
fn append(out: &mut Response, line: Response) {
    out.stdout.push_str(&line.stdout);
    out.stderr.push_str(&line.stderr);
    out.code = line.code;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pipeline::Shared;
    use std::sync::Arc;

    /// A data plane with no poll loops: for tests of what runs over the rules alone.
    pub(crate) struct NoLoops;
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

    fn restore_input(ctl: &Mutex<Control>, input: &str) -> Response {
        execute(ctl, &NoLoops, &Request { argv: vec!["-R".into()], stdin: Some(input.into()) })
    }

    fn fresh() -> Mutex<Control> {
        Mutex::new(Control::new(Arc::new(Shared::new())))
    }

    /// ipvsadm 1.31's restore_table(): each line applied as it is read; a line the kernel refuses
    /// prints the kernel's error and the next line is read; the exit status is the last line's.
    #[test]
    fn restore_applies_line_by_line_as_ipvsadm() {
        let ctl = fresh();
        let r = restore_input(
            &ctl,
            "-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.9:80 -r 198.18.1.1:80 -m\n# a comment\n\n             -a -t 198.18.0.1:80 -r 198.18.1.1:80 -m\n-A -t 198.18.0.1:80\n-A -t 198.18.0.2:80\n",
        );
        assert_eq!(r.stderr, "Service not defined\nService already exists\n");
        assert_eq!(r.code, 0, "the last line succeeded");
        let saved = run(&ctl, &["-S", "-n"]).stdout;
        assert_eq!(
            saved,
            "-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 1\n-A -t 198.18.0.2:80 -s wlc\n"
        );
        // The last line refused: its status.
        let r = restore_input(&ctl, "-A -t 198.18.0.3:80\n-D -t 198.18.0.99:80\n");
        assert_eq!((r.stderr.as_str(), r.code), ("No such service\n", 255));
        assert!(run(&ctl, &["-Ln"]).stdout.contains("198.18.0.3:80"));
        // A line ipvsadm's parser refuses (fail(2, ...)) ends the restore there: the lines
        // before it stay, the lines after it are not read.
        let r = restore_input(&ctl, "-A -t 198.18.0.4:80\n-A -t 198.18.0.5:80 -s rr -w 2\n-A -t 198.18.0.6:80\n");
        assert_eq!(r.code, 2);
        assert_eq!(r.stderr, "Illegal 'weight' option with the 'add-service' command\n");
        let listed = run(&ctl, &["-Ln"]).stdout;
        assert!(listed.contains("198.18.0.4:80") && !listed.contains("198.18.0.6:80"), "{listed}");
        // A popt error (an unknown option) returns -1 from the line: reported, the next read.
        let r = restore_input(&ctl, "-A -t 198.18.0.7:80 --bogus\n-A -t 198.18.0.8:80\n");
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stderr, "--bogus: unknown option\n");
        let listed = run(&ctl, &["-Ln"]).stdout;
        assert!(!listed.contains("198.18.0.7:80") && listed.contains("198.18.0.8:80"), "{listed}");
        // A listing line prints what the lines before it made.
        let r = restore_input(&ctl, "-C\n-A -t 198.18.0.10:80 -s rr\n-L -n\n");
        assert_eq!(r.code, 0);
        assert!(r.stdout.contains("TCP  198.18.0.10:80 rr"), "{}", r.stdout);
    }

    /// Differences from ipvsadm 1.31 found by running both on the same command sequences.
    #[test]
    fn ipvsadm_131_answers() {
        let ctl = fresh();
        // -p without a value: 6*60 in ipvsadm.c.
        assert_eq!(run(&ctl, &["-A", "-t", "198.18.0.1:80", "-p"]).code, 0);
        assert_eq!(run(&ctl, &["-S", "-n"]).stdout, "-A -t 198.18.0.1:80 -s wlc -p 360\n");
        // -L of a missing service: list_service() exits 1.
        let r = run(&ctl, &["-L", "-n", "-t", "198.18.0.2:80"]);
        assert_eq!((r.stderr.as_str(), r.code), ("No such service\n", 1));
        // An unknown scheduler: the kernel's ENOENT, in libipvs's words.
        let r = run(&ctl, &["-A", "-t", "198.18.0.3:80", "-s", "foo"]);
        assert_eq!((r.stderr.as_str(), r.code), ("Scheduler or persistence engine not found\n", 255));
        let r = run(&ctl, &["-E", "-t", "198.18.0.1:80", "-s", "foo"]);
        assert_eq!((r.stderr.as_str(), r.code), ("Scheduler or persistence engine not found\n", 255));
        // A lower threshold above the upper one: the kernel's ERANGE, which libipvs leaves to strerror.
        for args in [&["-x", "5", "-y", "6"][..], &["-y", "6"][..]] {
            let mut argv = vec!["-a", "-t", "198.18.0.1:80", "-r", "198.18.1.1:80", "-m"];
            argv.extend_from_slice(args);
            let r = run(&ctl, &argv);
            assert_eq!((r.stderr.as_str(), r.code), ("Numerical result out of range\n", 255), "{args:?}");
        }
        assert_eq!(
            run(&ctl, &["-a", "-t", "198.18.0.1:80", "-r", "198.18.1.1:80", "-m", "-x", "6", "-y", "5"]).code,
            0
        );
        let r = run(&ctl, &["-e", "-t", "198.18.0.1:80", "-r", "198.18.1.1:80", "-m", "-y", "7"]);
        assert_eq!((r.stderr.as_str(), r.code), ("Numerical result out of range\n", 255));
        // A 0.0.0.0 VIP: the kernel takes it.
        assert_eq!(run(&ctl, &["-A", "-t", "0.0.0.0:80"]).code, 0);
        assert!(run(&ctl, &["-Ln"]).stdout.contains("TCP  0.0.0.0:80 wlc"));
        // -c --persistent-conn: the pe columns in the title.
        assert_eq!(
            run(&ctl, &["-L", "-n", "-c", "--persistent-conn"]).stdout,
            "IPVS connection entries\npro expire state       source             virtual            \
             destination        pe name          pe_data\n"
        );
        // fail(2, "-6 used before -f\n"): the message's newline and fail()'s.
        let r = run(&ctl, &["-A", "-t", "198.18.0.1:80", "-6"]);
        assert_eq!((r.stderr.as_str(), r.code), ("-6 used before -f\n\n", 2));
    }

    /// --nosort lists real servers in the kernel's list order: each new one at the head.
    #[test]
    fn nosort_lists_real_servers_newest_first() {
        let ctl = fresh();
        run(&ctl, &["-A", "-t", "198.18.0.1:80", "-s", "rr"]);
        for rs in ["198.18.1.2", "198.18.1.1", "198.18.1.3"] {
            assert_eq!(run(&ctl, &["-a", "-t", "198.18.0.1:80", "-r", rs, "-m"]).code, 0);
        }
        let order = |args: &[&str]| -> Vec<String> {
            run(&ctl, args).stdout.lines().filter(|l| l.starts_with("  -> 198")).map(|l| l[5..15].to_string()).collect()
        };
        assert_eq!(order(&["-L", "-n", "--nosort"]), ["198.18.1.3", "198.18.1.1", "198.18.1.2"]);
        assert_eq!(order(&["-L", "-n"]), ["198.18.1.1", "198.18.1.2", "198.18.1.3"]);
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

    /// `Command::changes_rules` is the one list of the commands `Rules::apply` acts on: each
    /// command it names changes a rule set (or is refused), each other one leaves it as it was.
    #[test]
    fn changes_rules_is_what_rules_apply_changes() {
        let mut base = Rules::default();
        for line in [
            "-A -t 198.18.0.1:80 -s rr",
            "-a -t 198.18.0.1:80 -r 198.18.1.11:80 -m",
            "-P -t 198.18.0.1:80 -z 198.18.1.5",
            "--add-mark 7 -t 198.18.0.2",
        ] {
            let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
            let cmd = args::parse(&argv).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            base.apply(&cmd).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        let lines = [
            ("-A -t 198.18.0.1:81", true),
            ("-E -t 198.18.0.1:80 -s wrr", true),
            ("-D -t 198.18.0.1:80", true),
            ("-C", true),
            ("-a -t 198.18.0.1:80 -r 198.18.1.12:80 -m", true),
            ("-e -t 198.18.0.1:80 -r 198.18.1.11:80 -m -w 5", true),
            ("-d -t 198.18.0.1:80 -r 198.18.1.11:80", true),
            ("--set 5 6 7", true),
            ("-P -t 198.18.0.1:80 -z 198.18.1.6", true),
            ("-Q -t 198.18.0.1:80 -z 198.18.1.5", true),
            ("--add-mark 8 -t 198.18.0.3", true),
            ("--del-mark 7 -t 198.18.0.2", true),
            ("-L -n", false),
            ("-Z", false),
            ("-S -n", false),
            ("-R", false),
            ("-G", false),
            ("--list-marks", false),
            ("--start-daemon master", false),
            ("--stop-daemon master", false),
            ("-h", false),
            ("-v", false),
            ("--counters", false),
            ("--checks", false),
            ("--neighbours", false),
            ("--announced", false),
            ("--reload", false),
            ("--role", false),
            ("--sysctl", false),
            ("--proc ip_vs", false),
        ];
        for (line, changes) in lines {
            let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
            let cmd = args::parse(&argv).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            let mut after = base.clone();
            let applied = after.apply(&cmd);
            println!("{line}: changes_rules {}, apply {applied:?}, changed {}", cmd.changes_rules(), after != base);
            assert_eq!(cmd.changes_rules(), changes, "{line}");
            assert_eq!(applied.is_ok() && after != base, changes, "{line}: Rules::apply");
        }
    }
}
