//! The director process: build everything from the configuration, run the
//! poll loops, the admin socket and the rate estimator, and stop cleanly.

use crate::admin::exec::{DataPlaneQuery, NeighbourRow};
use crate::admin::server::AdminServer;
use crate::afxdp::link::Link;
use crate::afxdp::port::{Port, MAX_RX_FRAME};
use crate::afxdp::worker::{Request, Worker};
use crate::afxdp::xdp_prog::{kernel_addrs, XdpProgram};
use crate::afxdp::xsk_stats::XskStats;
use crate::api::ConnView;
use crate::config::Config;
use crate::control::Control;
use crate::health::checker::HealthChecker;
use crate::kernel::addr_watch::{AddrWatch, Owned};
use crate::kernel::announce::{Announcer, Inputs};
use crate::net::iface::{Interface, Interfaces};
use crate::net::route::RouteTable;
use crate::ownership::Ownership;
use crate::pipeline::{Director, Limits, Shared};
use crate::wire::ethernet::fmt_mac;
use crossbeam::channel::{bounded, Sender};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Query {
    workers: Vec<Sender<Request>>,
    ifaces: Interfaces,
    shared: Arc<Shared>,
    /// The AF_XDP sockets' kernel statistics, as the loops last read them.
    xsk_stats: Arc<XskStats>,
    control: Arc<Mutex<Control>>,
    config_path: String,
    running: Mutex<Config>,
    checker: Mutex<Option<HealthChecker>>,
    announcer: Option<Arc<Announcer>>,
}

impl Query {
    fn start_checks(&self, checks: Vec<crate::health::spec::ServiceChecks>) {
        let mut slot = self.checker.lock().unwrap_or_else(|e| e.into_inner());
        let previous = slot.take();
        *slot = Some(HealthChecker::start(self.control.clone(), checks, previous));
    }

    fn stop_checks(&self) {
        if let Some(c) = self.checker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            c.stop();
        }
    }
}

impl DataPlaneQuery for Query {
    fn connections(&self) -> Vec<ConnView> {
        let mut all = Vec::new();
        for w in &self.workers {
            let (tx, rx) = bounded(1);
            if w.send(Request::Connections(tx)).is_ok() {
                if let Ok(v) = rx.recv_timeout(Duration::from_secs(2)) {
                    all.extend(v);
                }
            }
        }
        all
    }

    fn counters(&self) -> Vec<(String, u64)> {
        let pipeline = self.shared.counters.nonzero().into_iter();
        pipeline.chain(self.xsk_stats.nonzero()).map(|(k, v)| (k.to_string(), v)).collect()
    }

    fn neighbours(&self) -> Vec<NeighbourRow> {
        let mut all = Vec::new();
        for w in &self.workers {
            let (tx, rx) = bounded(1);
            if w.send(Request::Neighbours(tx)).is_ok() {
                if let Ok(v) = rx.recv_timeout(Duration::from_secs(2)) {
                    for n in v {
                        all.push((
                            self.ifaces.get(n.iface).name.clone(),
                            Ipv4Addr::from(n.ip).to_string(),
                            n.mac.map_or_else(|| "-".to_string(), |m| fmt_mac(&m)),
                            n.state.to_string(),
                        ));
                    }
                }
            }
        }
        all.sort();
        all
    }

    fn announced(&self) -> String {
        match &self.announcer {
            Some(a) => crate::kernel::announce::listing(Some(a.config()), &a.views()),
            None => crate::kernel::announce::listing(None, &[]),
        }
    }

    fn checks(&self) -> Vec<crate::health::spec::CheckView> {
        self.checker.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|c| c.views()).unwrap_or_default()
    }

    /// SIGHUP and `rvsadm --reload`: re-read the file and apply its rules; a
    /// file that does not parse or validate (the same `Config::load` a start
    /// and `rvs --check` use) is refused, logged, and nothing changes.
    /// Unchanged services keep their connections and counters (Control::sync).
    fn reload(&self) -> Result<String, String> {
        let new = Config::load(&self.config_path).inspect_err(|e| {
            eprintln!("rvs: reload refused, running rules kept: {e}");
        })?;
        let mut note = String::new();
        {
            let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            let same_links = new.interfaces.len() == running.interfaces.len()
                && new
                    .interfaces
                    .iter()
                    .zip(&running.interfaces)
                    .all(|(a, b)| a.name == b.name && a.addresses == b.addresses && a.vips == b.vips)
                && new.routes == running.routes;
            if !same_links {
                note = " (interface, address and route changes need a restart: services applied only)".into();
            }
            if new.announce != running.announce {
                note.push_str(" ([announce] changes need a restart)");
            }
        }
        self.control.lock().unwrap_or_else(|e| e.into_inner()).sync(new.rules.clone());
        // The file's sysctls replace those set by `rvsadm --sysctl` (as `sysctl -p`).
        self.shared.sysctl.store(new.sysctl);
        // The running role belongs to rvsadm --role (keepalived), not to the file.
        self.shared.ha.set_garp(new.ha.garp_master_repeat, new.ha.garp_master_refresh, new.ha.garp_master_delay);
        self.control.lock().unwrap_or_else(|e| e.into_inner()).set_sync_policy(new.ha.sync);
        self.start_checks(new.checks.clone());
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = new;
        let msg = format!("rvs: reload: {} applied{note}", self.config_path);
        eprintln!("{msg}");
        Ok(msg + "\n")
    }
}

/// The ignore_tunneled sysctl lives in the XDP programs' settings map: set on
/// a change, checked every pass of the main loop (at most a second late).
fn apply_ignore_tunneled(programs: &[XdpProgram], on: bool, applied: &mut Option<bool>) {
    if *applied == Some(on) {
        return;
    }
    for p in programs {
        if let Err(e) = p.set_ignore_tunneled(on) {
            eprintln!("rvs: {e}");
        }
    }
    if !programs.is_empty() {
        eprintln!(
            "rvs: ignore_tunneled {}: other IP protocols go to {}",
            on as u8,
            if on { "the kernel" } else { "rvs" }
        );
    }
    *applied = Some(on);
}

/// ipvsadm.service's save-on-stop: the rules as `-S -n` prints them.
fn save_state(control: &Mutex<Control>, path: &str) -> Result<(), String> {
    let ctl = control.lock().unwrap_or_else(|e| e.into_inner());
    let text = crate::ipvsadm::format::save_with_marks(&ctl.views(), &ctl.rules().marks, true);
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{tmp}: {e}"))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{path}: {e}"))
}

/// ...and restore-on-start: all or nothing, over the config's rules.
fn restore_state(control: &Mutex<Control>, path: &str) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut cmds = vec![crate::api::command::Command::Clear];
    for (n, line) in text.lines().enumerate() {
        match crate::ipvsadm::args::parse_restore_line(line) {
            None => {}
            Some(Ok(c)) => cmds.push(c),
            Some(Err(e)) => return Err(format!("{path}: line {}: {}", n + 1, e.message)),
        }
    }
    let n = cmds.len() - 1;
    control
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .apply_all(&cmds)
        .map_err(|(i, e)| format!("{path}: rule {i}: {e}"))?;
    Ok(n)
}

/// Block the signals rvs handles, so every thread inherits the mask and
/// the main thread alone takes them with sigtimedwait.
fn block_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-set manipulation on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec { tv_sec: timeout.as_secs() as i64, tv_nsec: timeout.subsec_nanos() as i64 };
    // SAFETY: set and ts are valid; info may be null.
    let s = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (s > 0).then_some(s)
}

/// libxdp wants bpffs for its dispatcher (several XDP programs on one
/// device); `ip netns exec` gives a fresh /sys without it. Mount it if absent.
fn ensure_bpffs() {
    const BPF_FS_MAGIC: i64 = 0xcafe4a11;
    let path = c"/sys/fs/bpf";
    // SAFETY: statfs into a zeroed struct; mount with static C strings.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(path.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC {
            return;
        }
        if libc::mount(c"bpf".as_ptr(), path.as_ptr(), c"bpf".as_ptr(), 0, std::ptr::null()) != 0 {
            eprintln!("rvs: note: bpffs is not mounted at /sys/fs/bpf and mounting it failed; libxdp will run without its dispatcher");
        }
    }
}

pub fn run(cfg: Config, config_path: &str) -> Result<(), String> {
    // Before anything is touched: a running rvs on any of these interfaces
    // (or this admin socket) makes this one refuse, leaving it untouched.
    let mut ownership = Ownership::default();
    for ic in &cfg.interfaces {
        ownership.claim_interface(&ic.name)?;
    }
    ownership.claim_admin_socket(&cfg.socket)?;
    if let Some(a) = &cfg.announce {
        crate::kernel::announce::check_device_free(&a.device)?;
    }
    let mut ifaces = Vec::new();
    let mut links = Vec::new();
    for (i, ic) in cfg.interfaces.iter().enumerate() {
        let l = Link::probe(&ic.name)?;
        l.check_frame_fits(MAX_RX_FRAME)?;
        ifaces.push(Interface {
            id: i as u8,
            name: ic.name.clone(),
            mac: l.mac,
            mtu: l.mtu,
            addrs: ic.addresses.iter().map(|&(a, p)| (u32::from(a), p)).collect(),
            vips: ic.vips.iter().map(|&a| u32::from(a)).collect(),
        });
        links.push(l);
    }
    let ifaces = Interfaces(ifaces);
    let statics: Vec<_> = cfg.routes.iter().map(|&(d, l, g)| (u32::from(d), l, u32::from(g))).collect();
    let routes = RouteTable::build(&ifaces, &statics)?;

    let shared = Arc::new(Shared::new());
    let mut control = Control::new(shared.clone());
    control.sync(cfg.rules.clone());
    shared.sysctl.store(cfg.sysctl);
    // Before any loop starts: a box configured as backup is silent from its first frame.
    shared.ha.set_garp(cfg.ha.garp_master_repeat, cfg.ha.garp_master_refresh, cfg.ha.garp_master_delay);
    control.set_sync_policy(cfg.ha.sync);
    control.set_sync_interfaces(
        ifaces
            .0
            .iter()
            .map(|i| crate::control::SyncInterface {
                name: i.name.clone(),
                id: i.id,
                mtu: u32::from(i.mtu),
                has_addr: !i.addrs.is_empty(),
            })
            .collect(),
    );
    shared.ha.set_role(cfg.ha.role);
    eprintln!("rvs: starting as {}", cfg.ha.role);
    let control = Arc::new(Mutex::new(control));
    if let (true, Some(path)) = (cfg.restore_on_start, &cfg.state_file) {
        if std::path::Path::new(path).exists() {
            match restore_state(&control, path) {
                Ok(n) => eprintln!("rvs: restored {n} rules from {path}"),
                Err(e) => eprintln!("rvs: not restoring saved rules, keeping the config's: {e}"),
            }
        }
    }

    ensure_bpffs();
    // Sockets: every queue of every interface, dealt round robin to the loops.
    let n_workers = cfg.cores.len().max(1);
    let mut per_worker: Vec<Vec<Port>> = (0..n_workers).map(|_| Vec::new()).collect();
    // Our XDP program per interface (the host path); dropped, so detached, last.
    let mut programs = Vec::new();
    // Each interface's host path as set at start, for the address watcher.
    let mut host_paths = Vec::new();
    for (i, ic) in cfg.interfaces.iter().enumerate() {
        let program = if cfg.own_xdp_program {
            let p = XdpProgram::attach(&ic.name, ic.xdp_mode)?;
            let mut current = std::collections::BTreeSet::new();
            for a in kernel_addrs(&ic.name) {
                let rvs_owned = ic.addresses.iter().any(|&(x, _)| x == a) || ic.vips.contains(&a);
                if rvs_owned {
                    return Err(format!(
                        "interface {}: {a} is both the kernel's and rvs's; give each its own",
                        ic.name
                    ));
                }
                p.add_host_addr(a)?;
                current.insert(a);
                eprintln!("rvs: {}: host path for the kernel's address {a}", ic.name);
            }
            host_paths.push(Owned { ifindex: crate::kernel::rtnl::ifindex(&ic.name), host: p.host_path()?, current });
            Some(p)
        } else {
            None
        };
        let queues: Vec<u32> = ic.queues.clone().unwrap_or_else(|| (0..links[i].rx_queues).collect());
        // Every loop transmits on every interface, so each needs a queue there.
        if queues.len() < n_workers {
            return Err(format!(
                "interface {} has {} queue(s) for {n_workers} poll loops (dataplane.cores): give it more queues (ethtool -L, or veth numrxqueues/numtxqueues) or list fewer cores",
                ic.name,
                queues.len()
            ));
        }
        for (k, &q) in queues.iter().enumerate() {
            let port = Port::open(i as u8, &ic.name, q, ic.xdp_mode, cfg.frames, cfg.batch, program.is_some())?;
            if let Some(p) = &program {
                p.add_socket(q, port.fd())?;
            }
            per_worker[k % n_workers].push(port);
        }
        programs.extend(program);
    }

    let sigset = block_signals();
    let stop = Arc::new(AtomicBool::new(false));
    let limits = Limits {
        connections: cfg.connections,
        neighbours: cfg.neighbours,
        arp_hold_slots: cfg.arp_hold,
        fullnat_ports: cfg.fullnat_ports,
        workers: n_workers,
    };
    let handoff = Arc::new(crate::afxdp::handoff::Handoff::new(n_workers, 1024));
    let xsk_stats = Arc::new(XskStats::default());
    let heartbeats = Arc::new(crate::afxdp::heartbeat::Heartbeats::new(n_workers));
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for (id, ports) in per_worker.into_iter().enumerate() {
        let (tx, rx) = bounded(16);
        senders.push(tx);
        let w = Worker {
            id,
            core: cfg.cores.get(id).copied(),
            director: Director::new(id, ifaces.clone(), routes.clone(), shared.clone(), limits, crate::afxdp::now_ms()),
            ports,
            requests: rx,
            stop: stop.clone(),
            batch: cfg.batch,
            handoff: handoff.clone(),
            xsk_stats: xsk_stats.clone(),
            heartbeat: heartbeats.clone(),
        };
        handles.push(
            std::thread::Builder::new()
                .name(format!("rvs-poll-{id}"))
                .spawn(move || w.run())
                .map_err(|e| e.to_string())?,
        );
    }

    // An error here ends the process (main exits), loops and all.
    let announcer = match &cfg.announce {
        None => None,
        Some(a) => Some(Arc::new(Announcer::start(
            a.clone(),
            Inputs { control: control.clone(), heartbeats: heartbeats.clone() },
        )?)),
    };
    let addr_watch = if host_paths.is_empty() {
        None
    } else {
        let own: Vec<Ipv4Addr> = cfg
            .interfaces
            .iter()
            .flat_map(|i| i.addresses.iter().map(|&(a, _)| a).chain(i.vips.iter().copied()))
            .collect();
        let ctl = control.clone();
        let is_rvs = Box::new(move |a: Ipv4Addr| {
            own.contains(&a) || {
                let c = ctl.lock().unwrap_or_else(|e| e.into_inner());
                c.rules().services.iter().any(|(s, _)| {
                    matches!(s.key, crate::api::ServiceKey::Addr { addr, .. } if addr == a) || s.laddrs.contains(&a)
                })
            }
        });
        Some(AddrWatch::start(host_paths, is_rvs)?)
    };
    let group = match &cfg.admin_group {
        Some(g) => Some(crate::admin::server::group_gid(g).ok_or_else(|| format!("admin.group: no group named {g}"))?),
        None => None,
    };
    let admin = AdminServer::bind(std::path::Path::new(&cfg.socket), group)
        .map_err(|e| format!("admin socket {}: {e}", cfg.socket))?;
    let query = Arc::new(Query {
        workers: senders,
        ifaces: ifaces.clone(),
        shared: shared.clone(),
        xsk_stats,
        control: control.clone(),
        config_path: config_path.to_string(),
        running: Mutex::new(cfg.clone()),
        checker: Mutex::new(None),
        announcer: announcer.clone(),
    });
    query.start_checks(cfg.checks.clone());
    let dyn_query: Arc<dyn DataPlaneQuery> = query.clone();
    let admin_thread = {
        let (c, s) = (control.clone(), stop.clone());
        std::thread::Builder::new()
            .name("rvs-admin".into())
            .spawn(move || admin.serve(c, dyn_query, s))
            .map_err(|e| e.to_string())?
    };
    let estimator = {
        let (c, s) = (control.clone(), stop.clone());
        std::thread::Builder::new()
            .name("rvs-estimator".into())
            .spawn(move || {
                let mut last = std::time::Instant::now();
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    if last.elapsed() >= Duration::from_secs(2) {
                        last = std::time::Instant::now();
                        c.lock().unwrap_or_else(|e| e.into_inner()).estimate();
                    }
                }
            })
            .map_err(|e| e.to_string())?
    };
    eprintln!(
        "rvs: director running on {} ({} poll loop(s)); admin socket {}",
        cfg.interfaces.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", "),
        n_workers,
        cfg.socket
    );

    let mut ignore_tunneled = None;
    loop {
        apply_ignore_tunneled(&programs, shared.sysctl.load().ignore_tunneled(), &mut ignore_tunneled);
        match wait_signal(&sigset, Duration::from_secs(1)) {
            Some(libc::SIGHUP) => {
                // reload() logs what it did or why it refused.
                let _ = query.reload();
            }
            Some(s) => {
                eprintln!("rvs: signal {s}: stopping");
                break;
            }
            None => {
                if handles.iter().any(|h| h.is_finished()) {
                    eprintln!("rvs: a poll loop stopped unexpectedly: stopping");
                    break;
                }
            }
        }
    }
    // Withdraw first, then keep forwarding while the routers move the flows
    // elsewhere; only then stop.
    if let Some(a) = &announcer {
        let t = std::time::Instant::now();
        let done = a.withdraw_all();
        let grace = a.config().withdraw_grace;
        eprintln!(
            "rvs: announcements {} in {} ms; forwarding {} ms more while the routers converge",
            if done { "withdrawn" } else { "NOT all withdrawn" },
            t.elapsed().as_millis(),
            grace.as_millis()
        );
        std::thread::sleep(grace);
    }
    query.stop_checks();
    if let (true, Some(path)) = (cfg.save_on_stop, &cfg.state_file) {
        match save_state(&control, path) {
            Ok(()) => eprintln!("rvs: rules saved to {path}"),
            Err(e) => eprintln!("rvs: saving rules failed: {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let _ = admin_thread.join();
    let _ = estimator.join();
    drop(addr_watch);
    drop(announcer);
    drop(programs);
    drop(ownership);
    eprintln!("rvs: stopped; XDP detached, admin socket removed");
    Ok(())
}
