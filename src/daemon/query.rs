//! The data plane and the running configuration as the admin server sees them:
//! `rvsadm -Lc`, `--counters`, `--neighbours`, `--announced`, `--checks`, `--capture`, and
//! the reload (SIGHUP, `rvsadm --reload`).

use crate::admin::exec::{DataPlaneQuery, LoopView, NeighbourRow};
use crate::admin::protocol::{write_message, Response};
use crate::afxdp::dataplane_config::DataplaneConfig;
use crate::afxdp::worker::Request;
use crate::afxdp::xsk_stats::XskStats;
use crate::api::command::CaptureSpec;
use crate::api::ConnView;
use crate::capture::ring::Tap;
use crate::config::Config;
use crate::control::Control;
use crate::health::checker::HealthChecker;
use crate::kernel::announce::Announcer;
use crate::net::iface::Interfaces;
use crate::pipeline::Shared;
use crate::wire::ethernet::fmt_mac;
use crossbeam::channel::{bounded, Sender};
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(super) struct Query {
    pub(super) workers: Vec<Sender<Request>>,
    pub(super) ifaces: Interfaces,
    pub(super) shared: Arc<Shared>,
    /// The AF_XDP sockets' kernel statistics, as the loops last read them.
    pub(super) xsk_stats: Arc<XskStats>,
    pub(super) control: Arc<Mutex<Control>>,
    pub(super) config_path: String,
    pub(super) running: Mutex<Config>,
    pub(super) checker: Mutex<Option<HealthChecker>>,
    /// Set by the last stage; taken by its undo, which withdraws first.
    pub(super) announcer: Mutex<Option<Arc<Announcer>>>,
    /// Set while `rvsadm --capture` runs: one at a time.
    pub(super) capturing: AtomicBool,
}

impl Query {
    pub(super) fn start_checks(&self, checks: Vec<crate::health::spec::ServiceChecks>) {
        let mut slot = self.checker.lock().unwrap_or_else(|e| e.into_inner());
        let previous = slot.take();
        *slot = Some(HealthChecker::start(self.control.clone(), checks, previous));
    }

    pub(super) fn stop_checks(&self) {
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

    fn poll_loops(&self) -> usize {
        self.workers.len()
    }

    /// The counters are read from the loops' own rows (no request); only the table sizes
    /// are asked of each loop, which answers between two batches.
    fn loops(&self) -> Vec<LoopView> {
        use crate::pipeline::Reason;
        let asked: Vec<_> = (self.workers.iter())
            .map(|w| {
                let (tx, rx) = bounded(1);
                w.send(Request::Tables(tx)).ok().map(|_| rx)
            })
            .collect();
        let xsk_names = crate::afxdp::xsk_stats::NAMES;
        (asked.into_iter().enumerate())
            .map(|(id, rx)| LoopView {
                counters: Reason::ALL.iter().map(|&r| (r.name(), self.shared.counters.get(id, r))).collect(),
                xsk: xsk_names.iter().copied().zip(self.xsk_stats.row(id)).collect(),
                tables: rx.and_then(|rx| rx.recv_timeout(Duration::from_secs(2)).ok()),
            })
            .collect()
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
                            n.ip.to_string(),
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
        match &*self.announcer.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(a) => crate::kernel::announce::listing(Some(a.config()), &a.views()),
            None => crate::kernel::announce::listing(None, &[]),
        }
    }

    fn capture(&self, spec: &CaptureSpec, client: &UnixStream) -> Response {
        let mut devices: Vec<String> = self.ifaces.0.iter().map(|i| i.name.clone()).collect();
        devices.sort();
        devices.dedup();
        let mut loops = |tap: Option<&Tap>| {
            for w in &self.workers {
                match tap {
                    Some(t) => {
                        let (ready, set) = bounded(1);
                        if w.send(Request::Capture(t.clone(), ready)).is_ok() {
                            let _ = set.recv_timeout(Duration::from_secs(2));
                        }
                    }
                    None => {
                        let _ = w.send(Request::StopCapture);
                    }
                }
            }
        };
        let mut started =
            |line: &str| write_message(client, &Response { stdout: String::new(), stderr: line.to_string(), code: 0 });
        let outcome = crate::capture::session::run(spec, &devices, &self.capturing, &mut loops, client, &mut started);
        let (stderr, code) = outcome.answer();
        Response { stdout: String::new(), stderr, code }
    }

    fn checks(&self) -> Vec<crate::health::spec::CheckView> {
        self.checker.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|c| c.views()).unwrap_or_default()
    }

    /// SIGHUP and `rvsadm --reload`: re-read the file and apply its rules; a
    /// file that does not parse or validate (the same `Config::load` a start
    /// and `rvs --check` use) is refused, logged, and nothing changes.
    /// The file owns only what it names: services, mark rules and timeouts
    /// added at run time (rvsadm, ldirectord, keepalived) stay (Control::reload).
    /// Unchanged services keep their connections and counters (Control::sync).
    fn reload(&self) -> Result<String, String> {
        super::notify::reloading();
        let r = self.reload_file();
        super::notify::notify(match &r {
            Ok(_) => "READY=1\nSTATUS=director running; configuration reloaded",
            Err(_) => "READY=1\nSTATUS=director running; reload refused, running rules kept",
        });
        r
    }
}

impl Query {
    fn reload_file(&self) -> Result<String, String> {
        let new = Config::load(&self.config_path).inspect_err(|e| {
            log::warn!("reload refused, running rules kept: {e}");
        })?;
        // Held to the end: two reloads at once must each start from the file the other applied.
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let note = restart_notes(&new, &running);
        self.control.lock().unwrap_or_else(|e| e.into_inner()).reload(&running.file_rules(), &new.file_rules());
        // The file's sysctls replace those set by `rvsadm --sysctl` (as `sysctl -p`).
        self.shared.sysctl.store(new.sysctl);
        // The running role belongs to rvsadm --role (keepalived), not to the file.
        self.shared.ha.set_garp(new.ha.garp_master_repeat, new.ha.garp_master_refresh, new.ha.garp_master_delay);
        self.control.lock().unwrap_or_else(|e| e.into_inner()).set_sync_policy(new.ha.sync);
        self.start_checks(new.checks.clone());
        crate::logging::apply(&new.log);
        *running = after_reload(new, &running);
        let msg = format!("reload: {} applied{note}", self.config_path);
        log::info!("{msg}");
        Ok(format!("rvs: {msg}\n"))
    }
}

/// What a reload cannot apply, for its answer: the parts of `new` that differ
/// from what runs and only a restart changes.
fn restart_notes(new: &Config, running: &Config) -> String {
    let mut note = String::new();
    let same_links = new.interfaces.len() == running.interfaces.len()
        && new
            .interfaces
            .iter()
            .zip(&running.interfaces)
            .all(|(a, b)| a.name == b.name && a.vlan == b.vlan && a.addresses == b.addresses && a.vips == b.vips)
        && new.routes == running.routes;
    if !same_links {
        note = " (interface, address and route changes need a restart: services applied only)".into();
    }
    // The sockets and poll loops are built once at start (UMEM size, rings, busy poll,
    // zero-copy, queues): rebinding them live would drop frames in flight.
    let same_sockets = new.interfaces.len() == running.interfaces.len()
        && new.interfaces.iter().zip(&running.interfaces).all(|(a, b)| {
            a.name == b.name && a.xdp_mode == b.xdp_mode && a.queues == b.queues && a.zerocopy == b.zerocopy
        });
    if !same_sockets {
        note.push_str(" (interface xdp_mode, queues and zerocopy changes need a restart)");
    }
    // Its older expire_nodest_conn spelling feeds [sysctl], which a reload does apply.
    if sysctl_aside(&new.dataplane) != sysctl_aside(&running.dataplane) {
        note.push_str(" ([dataplane] changes need a restart)");
    }
    if new.announce != running.announce {
        note.push_str(" ([announce] changes need a restart)");
    }
    // The endpoint is bound once at start, as the admin socket is.
    if new.metrics != running.metrics {
        note.push_str(" ([metrics] changes need a restart)");
    }
    if new.console != running.console {
        note.push_str(" ([console] changes need a restart)");
    }
    note
}

fn sysctl_aside(d: &DataplaneConfig) -> DataplaneConfig {
    DataplaneConfig { expire_nodest_conn: None, ..d.clone() }
}

/// The configuration that runs after a reload of `new`: its rules, sysctls,
/// checks and HA keys, but the interfaces, routes, `[dataplane]` and
/// `[announce]` that run, which only a restart changes. Recording the file's
/// instead made the next reload of the same file compare against it and drop
/// the "need a restart" note while the change still did not run, and a file
/// put back to what runs be told it needed one.
fn after_reload(new: Config, running: &Config) -> Config {
    Config {
        interfaces: running.interfaces.clone(),
        routes: running.routes.clone(),
        dataplane: DataplaneConfig {
            expire_nodest_conn: new.dataplane.expire_nodest_conn,
            ..running.dataplane.clone()
        },
        announce: running.announce.clone(),
        metrics: running.metrics.clone(),
        console: running.console.clone(),
        ..new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(templates: usize, address: &str) -> Config {
        Config::parse(&format!(
            "[dataplane]\ntemplates = {templates}\n[[interface]]\nname = \"eth0\"\naddresses = [\"{address}\"]\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_change_only_a_restart_applies_is_noted_until_the_file_matches_what_runs() {
        let mut running = config(4, "198.18.0.1/24");
        let resized = config(8, "198.18.0.1/24");
        let note = restart_notes(&resized, &running);
        assert_eq!(note, " ([dataplane] changes need a restart)");
        running = after_reload(resized.clone(), &running);
        assert_eq!(running.dataplane.templates, 4, "the table runs at its start size");
        assert_eq!(restart_notes(&resized, &running), note, "the same file again: still not running");
        assert_eq!(restart_notes(&config(4, "198.18.0.1/24"), &running), "", "the file back at what runs");

        let moved = config(4, "198.18.0.2/24");
        assert!(restart_notes(&moved, &running).contains("services applied only"));
        running = after_reload(moved.clone(), &running);
        assert!(restart_notes(&moved, &running).contains("services applied only"));
        assert_eq!(running.interfaces[0].addresses, config(4, "198.18.0.1/24").interfaces[0].addresses);

        // A VLAN's id is its interface's identity: a new one needs a restart too.
        let tagged = |vid: u16| {
            Config::parse(&format!("[[interface]]\nname = \"eth0\"\nvlan = {vid}\naddresses = [\"198.18.0.1/24\"]\n"))
                .unwrap()
        };
        assert!(restart_notes(&tagged(200), &tagged(100)).contains("services applied only"));
        assert_eq!(restart_notes(&tagged(100), &tagged(100)), "");

        // The endpoint stays where it was bound until a restart.
        let off = config(4, "198.18.0.1/24");
        let on = Config::parse(&format!(
            "[metrics]\nlisten = \"127.0.0.1:9521\"\n[dataplane]\ntemplates = 4\n[[interface]]\nname = \"eth0\"\naddresses = [\"198.18.0.1/24\"]\n"
        ))
        .unwrap();
        assert_eq!(restart_notes(&on, &off), " ([metrics] changes need a restart)");
        let running = after_reload(on.clone(), &off);
        assert_eq!(running.metrics, None, "no endpoint was started");
        assert_eq!(restart_notes(&on, &running), " ([metrics] changes need a restart)");
    }
}
