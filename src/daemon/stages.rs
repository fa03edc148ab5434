//! Start-up as an ordered list, as DPVS's `dpvs_modules` table: each stage
//! starts one part of the director and knows how to undo it. A stage that
//! fails has the ones before it (and what it did itself) undone in reverse
//! order, and a stop (SIGTERM) undoes them all the same way, so a failed start
//! leaves no XDP program, thread, socket file or ownership lock behind.

use super::query::Query;
use super::state_file::{restore_state, save_state};
use crate::admin::exec::DataPlaneQuery;
use crate::admin::server::AdminServer;
use crate::afxdp::frame_pool::FramePool;
use crate::afxdp::heartbeat::Heartbeats;
use crate::afxdp::interface_config::devices;
use crate::afxdp::link::Link;
use crate::afxdp::port::{BindOptions, Port, MAX_RX_FRAME};
use crate::afxdp::shell::Shell;
use crate::afxdp::worker::{Request, Worker};
use crate::afxdp::xdp_prog::{kernel_addrs, kernel_addrs6, XdpProgram};
use crate::afxdp::xsk_stats::XskStats;
use crate::config::Config;
use crate::control::Control;
use crate::kernel::addr_watch::{AddrWatch, Owned};
use crate::kernel::announce::{Announcer, Inputs};
use crate::net::iface::{Interface, Interfaces};
use crate::net::route::RouteTable;
use crate::ownership::Ownership;
use crate::pipeline::{Director, Shared};
use crossbeam::channel::{bounded, Sender};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One stage: its name in the log, how it starts, how it is undone. An undo
/// takes only what its stage left, so it may run after a partial start.
pub(super) struct Stage {
    pub name: &'static str,
    pub start: fn(&mut Daemon) -> Result<(), String>,
    pub undo: fn(&mut Daemon),
}

/// In start order; undone from the bottom up. The announcer is last so that a
/// stop withdraws the VIPs first and keeps everything else running while the
/// routers move the flows elsewhere.
pub(super) const STAGES: &[Stage] = &[
    Stage { name: "ownership locks", start: Daemon::claim_ownership, undo: Daemon::release_ownership },
    Stage { name: "links", start: Daemon::probe_links, undo: Daemon::forget_links },
    Stage { name: "rules", start: Daemon::load_rules, undo: Daemon::keep_rules },
    Stage { name: "saved rules", start: Daemon::restore_rules, undo: Daemon::save_rules },
    Stage { name: "xdp programs and sockets", start: Daemon::attach_xdp, undo: Daemon::detach_xdp },
    Stage { name: "local-node device", start: Daemon::open_local_device, undo: Daemon::close_local_device },
    Stage { name: "poll loops", start: Daemon::spawn_loops, undo: Daemon::stop_loops },
    Stage { name: "address watch", start: Daemon::watch_addresses, undo: Daemon::unwatch_addresses },
    Stage { name: "admin socket", start: Daemon::open_admin_socket, undo: Daemon::close_admin_socket },
    Stage { name: "health checks", start: Daemon::start_checks, undo: Daemon::stop_checks },
    Stage { name: "estimator", start: Daemon::start_estimator, undo: Daemon::stop_estimator },
    Stage { name: "proc files", start: Daemon::start_proc_files, undo: Daemon::stop_proc_files },
    Stage { name: "metrics endpoint", start: Daemon::start_metrics, undo: Daemon::stop_metrics },
    Stage { name: "web console", start: Daemon::start_console, undo: Daemon::stop_console },
    Stage { name: "announcer", start: Daemon::start_announcer, undo: Daemon::withdraw_and_stop_announcer },
];

/// A thread and the flag that asks it to end.
struct Stoppable {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Stoppable {
    fn spawn(name: &str, body: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Result<Stoppable, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread =
            std::thread::Builder::new().name(name.into()).spawn(move || body(s)).map_err(|e| format!("{name}: {e}"))?;
        Ok(Stoppable { stop, thread })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// The poll loops and what they share with the rest.
pub(super) struct Loops {
    stop: Arc<AtomicBool>,
    pub handles: Vec<JoinHandle<()>>,
}

/// Everything the stages build, each part empty until its stage has run.
pub(super) struct Daemon {
    pub cfg: Config,
    config_path: String,
    ownership: Option<Ownership>,
    links: Vec<Link>,
    ifaces: Interfaces,
    routes: RouteTable,
    pub shared: Arc<Shared>,
    pub control: Arc<Mutex<Control>>,
    n_workers: usize,
    /// rvs's XDP program per interface; detached after the loops stopped.
    pub programs: Vec<XdpProgram>,
    /// Each interface's host path as set at start, for the address watcher.
    host_paths: Vec<Owned>,
    /// The sockets, dealt round robin to the loops, until the loops take them.
    per_worker: Vec<Shell>,
    pub loops: Option<Loops>,
    /// `[dataplane] local_device`: local real servers' way to the host stack.
    local_device: Option<crate::kernel::local_device::LocalDevice>,
    workers: Vec<Sender<Request>>,
    xsk_stats: Arc<XskStats>,
    heartbeats: Arc<Heartbeats>,
    addr_watch: Option<AddrWatch>,
    pub query: Option<Arc<Query>>,
    admin: Option<Stoppable>,
    estimator: Option<Stoppable>,
    proc_files: Option<Stoppable>,
    metrics: Option<Stoppable>,
    console: Option<Stoppable>,
    /// Set once every stage has started: only a stop, not a failed start,
    /// saves the rules (`[state] save_on_stop`).
    pub running: bool,
}

impl Daemon {
    pub fn new(cfg: Config, config_path: &str) -> Daemon {
        let shared = Arc::new(Shared::new());
        let n_workers = cfg.dataplane.loops();
        Daemon {
            control: Arc::new(Mutex::new(Control::new(shared.clone()))),
            shared,
            cfg,
            config_path: config_path.to_string(),
            ownership: None,
            links: Vec::new(),
            ifaces: Interfaces::default(),
            routes: RouteTable::default(),
            n_workers,
            programs: Vec::new(),
            host_paths: Vec::new(),
            per_worker: Vec::new(),
            loops: None,
            local_device: None,
            workers: Vec::new(),
            xsk_stats: Arc::new(XskStats::default()),
            heartbeats: Arc::new(Heartbeats::new(n_workers)),
            addr_watch: None,
            query: None,
            admin: None,
            estimator: None,
            proc_files: None,
            metrics: None,
            console: None,
            running: false,
        }
    }

    /// Before anything is touched: a running rvs on any of these interfaces
    /// (or this admin socket) makes this one refuse, leaving it untouched.
    fn claim_ownership(&mut self) -> Result<(), String> {
        let ownership = self.ownership.insert(Ownership::default());
        for (_, ic) in devices(&self.cfg.interfaces) {
            ownership.claim_interface(&ic.name)?;
        }
        ownership.claim_admin_socket(&self.cfg.socket)?;
        if let Some(a) = &self.cfg.announce {
            crate::kernel::announce::check_device_free(&a.device)?;
        }
        Ok(())
    }

    fn release_ownership(&mut self) {
        self.ownership = None;
    }

    /// Each device's MAC, MTU and queues, and the routes over them.
    fn probe_links(&mut self) -> Result<(), String> {
        let mut ifaces = Vec::new();
        for (i, ic) in self.cfg.interfaces.iter().enumerate() {
            let l = Link::probe(&ic.name)?;
            l.check_frame_fits(MAX_RX_FRAME)?;
            // A VLAN's port is its device's first entry.
            let port = self.cfg.interfaces.iter().position(|x| x.name == ic.name).unwrap_or(i) as u8;
            ifaces.push(Interface {
                id: i as u8,
                name: ic.logical_name(),
                mac: l.mac,
                mtu: l.mtu,
                vlan: ic.vlan,
                port,
                addrs: ic.addresses.iter().map(|&(a, p)| (u32::from(a), p)).collect(),
                vips: ic.vips.iter().map(|&a| u32::from(a)).collect(),
                addrs6: ic.addresses6.iter().map(|&(a, p)| (u128::from(a), p)).collect(),
                routes6: ic.routes6.iter().map(|&(d, l, gw)| (u128::from(d), l, u128::from(gw))).collect(),
                vips6: ic.vips6.iter().map(|&a| u128::from(a)).collect(),
            });
            self.links.push(l);
        }
        self.ifaces = Interfaces(ifaces);
        let statics: Vec<_> = self.cfg.routes.iter().map(|&(d, l, g)| (u32::from(d), l, u32::from(g))).collect();
        self.routes = RouteTable::build(&self.ifaces, &statics)?;
        Ok(())
    }

    fn forget_links(&mut self) {
        self.links.clear();
    }

    /// The config's services, sysctls and HA settings, before any loop runs:
    /// a box configured as backup is silent from its first frame.
    fn load_rules(&mut self) -> Result<(), String> {
        let cfg = &self.cfg;
        let mut control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        control.sync(cfg.rules.clone());
        self.shared.sysctl.store(cfg.sysctl);
        self.shared.ha.set_garp(cfg.ha.garp_master_repeat, cfg.ha.garp_master_refresh, cfg.ha.garp_master_delay);
        control.set_sync_policy(cfg.ha.sync);
        control.set_sync_interfaces(
            self.ifaces
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
        self.shared.ha.set_role(cfg.ha.role);
        log::info!("starting as {}", cfg.ha.role);
        Ok(())
    }

    /// The rules live in memory only: nothing to undo.
    fn keep_rules(&mut self) {}

    /// `[state] restore_on_start`: all or nothing, over the config's rules.
    fn restore_rules(&mut self) -> Result<(), String> {
        if let (true, Some(path)) = (self.cfg.restore_on_start, &self.cfg.state_file) {
            if std::path::Path::new(path).exists() {
                match restore_state(&self.control, path) {
                    Ok(n) => log::info!("restored {n} rules from {path}"),
                    Err(e) => log::warn!("not restoring saved rules, keeping the config's: {e}"),
                }
            }
        }
        Ok(())
    }

    /// `[state] save_on_stop`, on a stop only: a failed start would replace
    /// the saved rules with the config's.
    fn save_rules(&mut self) {
        if let (true, true, Some(path)) = (self.running, self.cfg.save_on_stop, &self.cfg.state_file) {
            match save_state(&self.control, path) {
                Ok(()) => log::info!("rules saved to {path}"),
                Err(e) => log::error!("saving rules failed: {e}"),
            }
        }
    }

    /// rvs's XDP program on each interface (the kernel's own addresses on its
    /// host path) and an AF_XDP socket on each of its queues.
    fn attach_xdp(&mut self) -> Result<(), String> {
        super::ensure_bpffs();
        let n_workers = self.n_workers;
        let dp = &self.cfg.dataplane;
        // One UMEM per loop, shared by its sockets on every interface, with
        // `frames` frames for each of them (what a socket had of its own before).
        // Per device (a trunk's VLANs share its program and sockets), by its first entry's index.
        let queues_of: Vec<Vec<u32>> = self
            .cfg
            .interfaces
            .iter()
            .enumerate()
            .map(|(i, ic)| ic.queues.clone().unwrap_or_else(|| (0..self.links[i].rx_queues).collect()))
            .collect();
        let devs: Vec<usize> = devices(&self.cfg.interfaces).map(|(i, _)| i).collect();
        let mut sockets = vec![0u32; n_workers];
        for queues in devs.iter().map(|&i| &queues_of[i]) {
            for k in 0..queues.len() {
                sockets[k % n_workers] += 1;
            }
        }
        let mut pools = Vec::with_capacity(n_workers);
        for (id, &n) in sockets.iter().enumerate() {
            let pool = FramePool::new(dp.frames.saturating_mul(n.max(1)), dp.frames / 2)
                .map_err(|e| format!("poll loop {id}: {e}"))?;
            pools.push(pool);
        }
        let mut ports: Vec<Vec<Port>> = (0..n_workers).map(|_| Vec::new()).collect();
        for (i, ic) in devices(&self.cfg.interfaces) {
            let on_device = || self.cfg.interfaces.iter().filter(|x| x.name == ic.name);
            let program = if self.cfg.dataplane.own_xdp_program {
                let p = XdpProgram::attach(&ic.name, ic.xdp_mode)?;
                // Kept at once, so an error below still has it detached.
                self.programs.push(p);
                let p = self.programs.last().ok_or("no XDP program")?;
                let mut current = std::collections::BTreeSet::new();
                for a in kernel_addrs(&ic.name) {
                    let rvs_owned =
                        on_device().any(|x| x.addresses.iter().any(|&(y, _)| y == a) || x.vips.contains(&a));
                    if rvs_owned {
                        return Err(format!(
                            "interface {}: {a} is both the kernel's and rvs's; give each its own",
                            ic.name
                        ));
                    }
                    p.add_host_addr(a)?;
                    current.insert(a);
                    log::info!(interface = ic.name.as_str(); "{}: host path for the kernel's address {a}", ic.name);
                }
                // IPv6 (bpf/rvs_xdp.c): rvs's own addresses to rvs; with an
                // IPv6 address of rvs's on the device, rvs balances IPv6 and
                // every other global unicast destination but the kernel's
                // comes to rvs too; without, all other IPv6 goes up.
                let kernel6 = kernel_addrs6(&ic.name);
                let mut balances6 = false;
                for &a in on_device().flat_map(|x| x.addresses6.iter().map(|(a, _)| a).chain(&x.vips6)) {
                    if kernel6.contains(&a) {
                        return Err(format!(
                            "interface {}: {a} is both the kernel's and rvs's; give each its own",
                            ic.name
                        ));
                    }
                    p.add_rvs_addr6(a)?;
                    balances6 = true;
                }
                if balances6 {
                    for &a in &kernel6 {
                        p.add_host_addr6(a)?;
                        log::info!(interface = ic.name.as_str(); "{}: host path for the kernel's address {a}", ic.name);
                    }
                    p.balance_ipv6()?;
                }
                self.host_paths.push(Owned {
                    ifindex: crate::kernel::rtnl::ifindex(&ic.name),
                    host: p.host_path()?,
                    current,
                    current6: balances6.then(|| kernel6.iter().copied().collect()),
                });
                Some(p)
            } else {
                None
            };
            let queues = &queues_of[i];
            // Every loop transmits on every interface, so each needs a queue there.
            if queues.len() < n_workers {
                return Err(format!(
                    "interface {} has {} queue(s) for {n_workers} poll loops (dataplane.cores): give it more queues (ethtool -L, or veth numrxqueues/numtxqueues) or list fewer cores",
                    ic.name,
                    queues.len()
                ));
            }
            for (k, &q) in queues.iter().enumerate() {
                let opts = BindOptions {
                    mode: ic.xdp_mode,
                    zerocopy: ic.zerocopy,
                    busy_poll: dp.busy_poll,
                    own_program: program.is_some(),
                };
                let port = Port::open(i as u8, &ic.name, q, opts, &pools[k % n_workers])?;
                if let Some(p) = &program {
                    p.add_socket(q, port.fd())?;
                }
                ports[k % n_workers].push(port);
            }
        }
        // Kept free of the fill rings: a pass's emitted frames and handed-over ones.
        let reserve = dp.batch * 2 + crate::afxdp::worker::STAGE_FRAMES;
        self.per_worker = pools.into_iter().zip(ports).map(|(pool, ports)| Shell::new(pool, ports, reserve)).collect();
        Ok(())
    }

    /// After the loops stopped: the sockets close, then the programs go.
    fn detach_xdp(&mut self) {
        self.per_worker.clear();
        self.host_paths.clear();
        // One program per interface, in the config's order.
        for (p, (_, ic)) in self.programs.drain(..).zip(devices(&self.cfg.interfaces)) {
            match p.detach() {
                Ok(()) => log::info!(interface = ic.name.as_str(); "{}: XDP program detached", ic.name),
                Err(e) => log::error!(interface = ic.name.as_str(); "{e}"),
            }
        }
    }

    /// `[dataplane] local_device`: the TUN device and rule of kernel/local_device.rs;
    /// and, with or without it, the host's addresses, which make a real server at one of
    /// them the director itself (control/own_addrs.rs, kernel/local_servers.rs).
    fn open_local_device(&mut self) -> Result<(), String> {
        let table = match &self.cfg.dataplane.local_device {
            Some((name, table)) => {
                let d = crate::kernel::local_device::LocalDevice::open(name, *table)?;
                log::info!(interface = name.as_str(); "local real servers reach the host stack through {name} (table {table})");
                self.local_device = Some(d);
                Some(*table)
            }
            None => None,
        };
        let host = crate::kernel::local_servers::LocalServers::open(table)?;
        self.control.lock().unwrap_or_else(|e| e.into_inner()).set_local_host(Some(Box::new(host)));
        Ok(())
    }

    /// After the loops stopped: the rules go; the device with its last descriptor.
    fn close_local_device(&mut self) {
        self.control.lock().unwrap_or_else(|e| e.into_inner()).set_local_host(None);
        self.local_device = None;
    }

    fn spawn_loops(&mut self) -> Result<(), String> {
        let stop = Arc::new(AtomicBool::new(false));
        let limits = self.cfg.dataplane.limits();
        let handoff = Arc::new(crate::afxdp::handoff::Handoff::new(self.n_workers, 1024));
        let loops = self.loops.insert(Loops { stop: stop.clone(), handles: Vec::new() });
        for (id, shell) in std::mem::take(&mut self.per_worker).into_iter().enumerate() {
            let (tx, rx) = bounded(16);
            self.workers.push(tx);
            let now = crate::afxdp::now_ms();
            let w = Worker {
                id,
                core: self.cfg.dataplane.cores.get(id).copied(),
                director: Director::new(id, self.ifaces.clone(), self.routes.clone(), self.shared.clone(), limits, now),
                shell,
                requests: rx,
                stop: stop.clone(),
                batch: self.cfg.dataplane.batch,
                handoff: handoff.clone(),
                xsk_stats: self.xsk_stats.clone(),
                heartbeat: self.heartbeats.clone(),
                host: self.local_device.as_ref().map(|d| d.fd.clone()),
            };
            loops.handles.push(
                std::thread::Builder::new()
                    .name(format!("rvs-poll-{id}"))
                    .spawn(move || w.run())
                    .map_err(|e| format!("rvs-poll-{id}: {e}"))?,
            );
        }
        Ok(())
    }

    fn stop_loops(&mut self) {
        self.workers.clear();
        if let Some(loops) = self.loops.take() {
            loops.stop.store(true, Ordering::Relaxed);
            for h in loops.handles {
                let _ = h.join();
            }
        }
    }

    /// The kernel's addresses on each interface follow into its host path.
    fn watch_addresses(&mut self) -> Result<(), String> {
        if self.host_paths.is_empty() {
            return Ok(());
        }
        let own: Vec<Ipv4Addr> = self
            .cfg
            .interfaces
            .iter()
            .flat_map(|i| i.addresses.iter().map(|&(a, _)| a).chain(i.vips.iter().copied()))
            .collect();
        let own6: Vec<std::net::Ipv6Addr> = self
            .cfg
            .interfaces
            .iter()
            .flat_map(|i| i.addresses6.iter().map(|&(a, _)| a).chain(i.vips6.iter().copied()))
            .collect();
        // A service's VIP or local address, of either family.
        let in_rules = |ctl: &std::sync::Mutex<crate::control::Control>, a: std::net::IpAddr| {
            let c = ctl.lock().unwrap_or_else(|e| e.into_inner());
            c.rules().services.iter().any(|(s, _)| {
                matches!(s.key, crate::api::ServiceKey::Addr { addr, .. } if addr == a) || s.laddrs.contains(&a)
            })
        };
        let (ctl, ctl6) = (self.control.clone(), self.control.clone());
        let is_rvs = crate::kernel::addr_watch::IsRvs {
            v4: Box::new(move |a: Ipv4Addr| own.contains(&a) || in_rules(&ctl, a.into())),
            v6: Box::new(move |a: std::net::Ipv6Addr| own6.contains(&a) || in_rules(&ctl6, a.into())),
        };
        self.addr_watch = Some(AddrWatch::start(std::mem::take(&mut self.host_paths), is_rvs)?);
        Ok(())
    }

    fn unwatch_addresses(&mut self) {
        self.addr_watch = None;
    }

    /// The socket rvsadm talks to, served by its own thread (which removes
    /// the socket file when it ends).
    fn open_admin_socket(&mut self) -> Result<(), String> {
        let cfg = &self.cfg;
        let group = match &cfg.admin_group {
            Some(g) => {
                Some(crate::admin::server::group_gid(g).ok_or_else(|| format!("admin.group: no group named {g}"))?)
            }
            None => None,
        };
        let admin = AdminServer::bind(std::path::Path::new(&cfg.socket), group)
            .map_err(|e| format!("admin socket {}: {e}", cfg.socket))?;
        let query = Arc::new(Query {
            workers: self.workers.clone(),
            ifaces: self.ifaces.clone(),
            shared: self.shared.clone(),
            xsk_stats: self.xsk_stats.clone(),
            control: self.control.clone(),
            config_path: self.config_path.clone(),
            running: Mutex::new(cfg.clone()),
            checker: Mutex::new(None),
            announcer: Mutex::new(None),
            capturing: Default::default(),
        });
        self.query = Some(query.clone());
        let dyn_query: Arc<dyn DataPlaneQuery> = query;
        let control = self.control.clone();
        let path = admin.path().to_path_buf();
        match Stoppable::spawn("rvs-admin", move |stop| admin.serve(control, dyn_query, stop)) {
            Ok(t) => self.admin = Some(t),
            Err(e) => {
                // The server never ran, so its file is ours to remove.
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        }
        Ok(())
    }

    fn close_admin_socket(&mut self) {
        if let Some(a) = self.admin.take() {
            a.stop();
        }
        self.query = None;
    }

    fn start_checks(&mut self) -> Result<(), String> {
        let query = self.query.as_ref().ok_or("health checks need the admin socket's view")?;
        query.start_checks(self.cfg.checks.clone());
        Ok(())
    }

    fn stop_checks(&mut self) {
        if let Some(q) = &self.query {
            q.stop_checks();
        }
    }

    /// IPVS's rate estimator, every 2 s.
    fn start_estimator(&mut self) -> Result<(), String> {
        let c = self.control.clone();
        self.estimator = Some(Stoppable::spawn("rvs-estimator", move |s| {
            let mut last = std::time::Instant::now();
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if last.elapsed() >= Duration::from_secs(2) {
                    last = std::time::Instant::now();
                    c.lock().unwrap_or_else(|e| e.into_inner()).estimate();
                }
            }
        })?);
        Ok(())
    }

    fn stop_estimator(&mut self) {
        if let Some(e) = self.estimator.take() {
            e.stop();
        }
    }

    /// `[admin] proc_dir`: the kernel's /proc/net/ip_vs* texts, every second.
    fn start_proc_files(&mut self) -> Result<(), String> {
        let Some(dir) = self.cfg.proc_dir.as_ref().map(std::path::PathBuf::from) else { return Ok(()) };
        let query = self.query.as_ref().ok_or("proc files need the admin socket's view")?;
        super::proc_files::prepare(&dir)?;
        let (control, dp): (_, Arc<dyn DataPlaneQuery>) = (self.control.clone(), query.clone());
        self.proc_files =
            Some(Stoppable::spawn("rvs-proc-files", move |s| super::proc_files::run(dir, control, dp, s))?);
        Ok(())
    }

    fn stop_proc_files(&mut self) {
        if let Some(p) = self.proc_files.take() {
            p.stop();
            if let Some(dir) = &self.cfg.proc_dir {
                super::proc_files::remove(std::path::Path::new(dir));
            }
        }
    }

    /// `[metrics]`: the Prometheus endpoint, bound here so a busy address stops the start.
    fn start_metrics(&mut self) -> Result<(), String> {
        let Some(m) = &self.cfg.metrics else { return Ok(()) };
        let query = self.query.as_ref().ok_or("the metrics endpoint needs the admin socket's view")?;
        let server = crate::metrics::MetricsServer::bind(m.listen)?;
        if m.is_loopback() {
            log::info!("metrics: http://{}/metrics", m.listen);
        } else {
            log::warn!(
                "metrics: http://{}/metrics is beyond loopback: whoever reaches it reads every VIP, real server and counter",
                m.listen
            );
        }
        let (control, dp): (_, Arc<dyn DataPlaneQuery>) = (self.control.clone(), query.clone());
        self.metrics = Some(Stoppable::spawn("rvs-metrics", move |s| server.serve(control, dp, s))?);
        Ok(())
    }

    fn stop_metrics(&mut self) {
        if let Some(m) = self.metrics.take() {
            m.stop();
        }
    }

    /// `[console]`: the web console's listener, bound here so that a port in use fails the start.
    fn start_console(&mut self) -> Result<(), String> {
        let Some(cfg) = &self.cfg.console else { return Ok(()) };
        let query = self.query.as_ref().ok_or("the console needs the admin socket's view")?;
        let token = cfg.read_token()?;
        let listener = crate::console::Listener::bind(cfg.listen)?;
        eprintln!(
            "rvs: web console on http://{}/ ({})",
            listener.addr,
            if token.is_some() { "token required" } else { "no token: whoever reaches the port may act" }
        );
        let dp: Arc<dyn DataPlaneQuery> = query.clone();
        let console = crate::console::Console::new(self.control.clone(), dp, token, cfg.hosts.clone());
        self.console = Some(Stoppable::spawn("rvs-console", move |s| listener.serve(console, s))?);
        Ok(())
    }

    fn stop_console(&mut self) {
        if let Some(c) = self.console.take() {
            c.stop();
        }
    }

    /// `[announce]`: VIP routes for a BGP daemon.
    fn start_announcer(&mut self) -> Result<(), String> {
        let Some(a) = &self.cfg.announce else { return Ok(()) };
        let inputs = Inputs { control: self.control.clone(), heartbeats: self.heartbeats.clone() };
        let announcer = Arc::new(Announcer::start(a.clone(), inputs)?);
        if let Some(q) = &self.query {
            *q.announcer.lock().unwrap_or_else(|e| e.into_inner()) = Some(announcer);
        }
        Ok(())
    }

    /// Withdraw first, then keep forwarding while the routers move the flows
    /// elsewhere; only then do the stages below stop.
    fn withdraw_and_stop_announcer(&mut self) {
        let Some(q) = &self.query else { return };
        let Some(a) = q.announcer.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
        let t = std::time::Instant::now();
        let done = a.withdraw_all();
        let grace = a.config().withdraw_grace;
        log::log!(
            if done { log::Level::Info } else { log::Level::Warn },
            "announcements {} in {} ms; forwarding {} ms more while the routers converge",
            if done { "withdrawn" } else { "NOT all withdrawn" },
            t.elapsed().as_millis(),
            grace.as_millis()
        );
        std::thread::sleep(grace);
    }
}
