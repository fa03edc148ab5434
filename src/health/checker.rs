//! The health checker: one thread per (service, real server) probing every
//! interval, taking failed servers out of rotation and putting them back, as
//! ldirectord and keepalived do for kernel LVS.
//!
//! Each target starts UP: its configured real server is in the rules. After
//! `retries` consecutive failures it goes DOWN and is removed (`-d`) or, when
//! the service is quiescent, kept at weight 0 (`-e -w 0`) so its connections
//! finish. After `rise` consecutive successes it comes back UP: re-added, or
//! its configured weight restored. While every real server of a service is
//! DOWN its fallback (sorry server) is added; it goes when one comes back.
//!
//! A command check with `misc_dynamic` sets an UP server's weight from its
//! exit status (keepalived). `notify_up`/`notify_down` commands run on each
//! transition in a thread of their own, bounded by `NOTIFY_TIMEOUT`, so a
//! slow one never holds the checker up. After a failure that has not yet
//! taken a server out, the next probe comes `delay_before_retry` later.
//!
//! The control mutex is taken only to apply a command, never while probing.
//! A command that fails (the operator changed the rules with rvsadm) is
//! logged and the checker carries on.

use super::probe::{command_env, probe, run_command, Outcome};
use super::spec::{CheckKind, CheckSpec, CheckView, ServiceChecks};
use crate::api::command::Command;
use crate::api::{DestSpec, ServiceKey};
use crate::control::Control;
use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The probe a checker runs: `probe::probe`, or a fake in tests.
type ProbeDyn = dyn Fn(&CheckKind, Option<(IpAddr, u16)>, IpAddr, u16, Duration) -> Outcome + Send + Sync;
type ProbeFn = Arc<ProbeDyn>;

/// How long a notify_up/notify_down command may run before it is killed.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// A lock that survives a panicked holder: the checker must never stall.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// "TCP 198.18.0.100:80", "UDP ...", "FWM 5".
fn service_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            let p = match *proto {
                IPPROTO_TCP => "TCP".to_string(),
                IPPROTO_UDP => "UDP".to_string(),
                n => format!("proto {n}"),
            };
            format!("{p} {}", std::net::SocketAddr::new(*addr, *port))
        }
        ServiceKey::Fwmark(m) => format!("FWM {m}"),
        ServiceKey::Fwmark6(m) => format!("FWM {m} IPv6"),
    }
}

fn kind_name(kind: &CheckKind) -> &'static str {
    match kind {
        CheckKind::Tcp => "tcp",
        CheckKind::Http(_) => "http",
        CheckKind::Https(_) => "https",
        CheckKind::Command { .. } => "command",
        CheckKind::Udp { .. } => "udp",
        CheckKind::Dns { .. } => "dns",
        CheckKind::Smtp => "smtp",
    }
}

/// One target's state.
#[derive(Debug, Clone)]
struct State {
    up: bool,
    failures: u32,
    successes: u32,
    last_error: Option<String>,
    since: Instant,
    /// UP to DOWN and back, counted since the check started (kept across reloads).
    transitions: u64,
    /// The weight misc_dynamic set and the rules hold; None: the configured one.
    weight: Option<u32>,
}

impl State {
    fn new() -> Self {
        State {
            up: true,
            failures: 0,
            successes: 0,
            last_error: None,
            since: Instant::now(),
            transitions: 0,
            weight: None,
        }
    }
}

/// The wait before the next probe: `delay_before_retry` after a failure
/// that has not yet taken the server out (keepalived), else `interval`.
fn next_wait(check: &CheckSpec, retrying: bool) -> Duration {
    let wait = match (retrying, check.delay_before_retry) {
        (true, Some(d)) => d,
        _ => check.interval,
    };
    wait.max(Duration::from_millis(1))
}

struct GroupState {
    targets: Vec<State>,
    /// The fallback was added by this checker (and not yet removed).
    fallback_on: bool,
}

/// One service's targets; transitions are serialized by `inner`, which is
/// held while their commands are applied so the fallback logic sees a
/// consistent picture.
struct Group {
    checks: ServiceChecks,
    name: String,
    inner: Mutex<GroupState>,
}

impl Group {
    fn vip(&self) -> Option<(IpAddr, u16)> {
        match self.checks.key {
            ServiceKey::Addr { addr, port, .. } => Some((addr, port)),
            ServiceKey::Fwmark(_) | ServiceKey::Fwmark6(_) => None,
        }
    }

    /// `check.port`, else the real server's port, else the service's.
    fn probe_port(&self, dest: &DestSpec) -> u16 {
        let p = self.checks.check.port.filter(|&p| p != 0).unwrap_or(dest.port);
        if p != 0 {
            return p;
        }
        self.vip().map_or(0, |(_, p)| p)
    }

    /// The command taking `dest` out of rotation.
    fn down_cmd(&self, dest: &DestSpec) -> Command {
        if self.checks.quiescent {
            Command::EditDest(self.checks.key, DestSpec { weight: 0, ..dest.clone() })
        } else {
            Command::DeleteDest(self.checks.key, dest.addr, dest.port)
        }
    }

    /// The command putting `dest` back, at `weight` (misc_dynamic's) or as configured.
    fn up_cmd(&self, dest: &DestSpec, weight: Option<u32>) -> Command {
        let dest = DestSpec { weight: weight.unwrap_or(dest.weight), ..dest.clone() };
        if self.checks.quiescent {
            Command::EditDest(self.checks.key, dest)
        } else {
            Command::AddDest(self.checks.key, dest)
        }
    }

    /// Run `command` (notify_up/notify_down) for `dest` in a thread of its
    /// own; the environment of a command check plus RVS_STATE (UP, DOWN).
    fn notify(&self, command: Option<&String>, dest: &DestSpec, state: &'static str) {
        let Some(command) = command.cloned() else { return };
        let mut env = command_env(self.vip(), dest.addr, dest.port);
        env.push(("RVS_STATE", state.to_string()));
        let who = format!("{} of {}", std::net::SocketAddr::new(dest.addr, dest.port), self.name);
        let spawned = std::thread::Builder::new().name("rvs-notify".into()).spawn(move || {
            match run_command(&command, &env, Instant::now() + NOTIFY_TIMEOUT) {
                Ok(0) => {}
                Ok(c) => log::warn!("check: {who}: notify command for {state} exited {c}"),
                Err(e) => log::warn!("check: {who}: notify command for {state}: {e}"),
            }
        });
        if let Err(e) = spawned {
            log::error!(service = self.name.as_str(); "check: {}: cannot start a notify thread: {e}", self.name);
        }
    }

    /// Apply `cmd`, logging a failure; true on success.
    fn apply(&self, control: &Mutex<Control>, cmd: &Command, what: &str) -> bool {
        let r = lock(control).apply(cmd);
        match r {
            Ok(()) => true,
            Err(e) => {
                log::error!(service = self.name.as_str(); "check: {}: cannot {what}: {e}", self.name);
                false
            }
        }
    }

    /// Record one probe result of target `i`; on a transition, log it and
    /// apply its commands. Called with `inner` locked.
    fn record(&self, g: &mut GroupState, i: usize, result: Outcome, control: &Mutex<Control>) {
        let check = &self.checks.check;
        let dest = &self.checks.dests[i];
        let st = &mut g.targets[i];
        let mut weight = None;
        match result {
            Ok(w) => {
                weight = w;
                st.successes = st.successes.saturating_add(1);
                st.failures = 0;
            }
            Err(e) => {
                st.failures = st.failures.saturating_add(1);
                st.successes = 0;
                st.last_error = Some(e);
            }
        }
        if st.up && st.failures >= check.retries.max(1) {
            st.up = false;
            st.since = Instant::now();
            st.transitions += 1;
            let err = st.last_error.clone().unwrap_or_default();
            log::warn!(service = self.name.as_str(), real_server:% = std::net::SocketAddr::new(dest.addr, dest.port);
                "check: {} of {} is DOWN ({err})",
                std::net::SocketAddr::new(dest.addr, dest.port),
                self.name
            );
            // The sorry server first, so the service is never left empty.
            if g.targets.iter().all(|t| !t.up) {
                self.fallback_on(g, control);
            }
            let what = format!("take {} out", std::net::SocketAddr::new(dest.addr, dest.port));
            self.apply(control, &self.down_cmd(dest), &what);
            self.notify(check.notify_down.as_ref(), dest, "DOWN");
        } else if !st.up && st.successes >= check.rise.max(1) {
            st.up = true;
            st.since = Instant::now();
            st.transitions += 1;
            st.weight = weight;
            log::info!(service = self.name.as_str(), real_server:% = std::net::SocketAddr::new(dest.addr, dest.port); "check: {} of {} is UP", std::net::SocketAddr::new(dest.addr, dest.port), self.name);
            let what = format!("put {} back", std::net::SocketAddr::new(dest.addr, dest.port));
            self.apply(control, &self.up_cmd(dest, weight), &what);
            self.fallback_off(g, control);
            self.notify(check.notify_up.as_ref(), dest, "UP");
        } else if st.up && st.failures == 0 && st.weight != weight {
            // misc_dynamic: the exit status moved the weight (or back to the configured one).
            let w = weight.unwrap_or(dest.weight);
            log::info!(service = self.name.as_str(), real_server:% = std::net::SocketAddr::new(dest.addr, dest.port);
                "check: {} of {} weight {w} (misc_dynamic)",
                std::net::SocketAddr::new(dest.addr, dest.port),
                self.name
            );
            let what = format!("set {} weight {w}", std::net::SocketAddr::new(dest.addr, dest.port));
            let cmd = Command::EditDest(self.checks.key, DestSpec { weight: w, ..dest.clone() });
            if self.apply(control, &cmd, &what) {
                st.weight = weight;
            }
        }
    }

    fn fallback_on(&self, g: &mut GroupState, control: &Mutex<Control>) {
        let Some(fb) = &self.checks.fallback else { return };
        if g.fallback_on {
            return;
        }
        log::warn!(service = self.name.as_str();
            "check: every real server of {} is DOWN: adding fallback {}",
            self.name,
            std::net::SocketAddr::new(fb.addr, fb.port)
        );
        let what = format!("add fallback {}", std::net::SocketAddr::new(fb.addr, fb.port));
        g.fallback_on = self.apply(control, &Command::AddDest(self.checks.key, fb.clone()), &what);
    }

    fn fallback_off(&self, g: &mut GroupState, control: &Mutex<Control>) {
        let Some(fb) = &self.checks.fallback else { return };
        if !g.fallback_on {
            return;
        }
        g.fallback_on = false;
        log::info!(service = self.name.as_str();
            "check: {} has a real server UP: removing fallback {}",
            self.name,
            std::net::SocketAddr::new(fb.addr, fb.port)
        );
        let what = format!("remove fallback {}", std::net::SocketAddr::new(fb.addr, fb.port));
        self.apply(control, &Command::DeleteDest(self.checks.key, fb.addr, fb.port), &what);
    }

    /// After a reload: make the (new) rules agree with targets kept DOWN, and
    /// add the fallback if they are all DOWN. Only what is not already so is
    /// changed, so an unchanged rule set is left alone.
    fn reapply(&self, g: &mut GroupState, control: &Mutex<Control>) {
        let key = self.checks.key;
        for (i, dest) in self.checks.dests.iter().enumerate() {
            if g.targets[i].up {
                continue;
            }
            let present = {
                let c = lock(control);
                let svc = c.rules().services.iter().find(|(s, _)| s.key == key);
                svc.and_then(|(_, ds)| ds.iter().find(|d| d.addr == dest.addr && d.port == dest.port).map(|d| d.weight))
            };
            let needed = match present {
                None => false,
                Some(w) => !self.checks.quiescent || w != 0,
            };
            if needed {
                log::warn!(service = self.name.as_str(), real_server:% = std::net::SocketAddr::new(dest.addr, dest.port);
                    "check: {} of {} stays DOWN",
                    std::net::SocketAddr::new(dest.addr, dest.port),
                    self.name
                );
                let what = format!("take {} out", std::net::SocketAddr::new(dest.addr, dest.port));
                self.apply(control, &self.down_cmd(dest), &what);
            }
        }
        if !g.targets.is_empty() && g.targets.iter().all(|t| !t.up) {
            if let Some(fb) = &self.checks.fallback {
                let present = {
                    let c = lock(control);
                    let svc = c.rules().services.iter().find(|(s, _)| s.key == key);
                    svc.is_some_and(|(_, ds)| ds.iter().any(|d| d.addr == fb.addr && d.port == fb.port))
                };
                g.fallback_on = present;
                self.fallback_on(g, control);
            }
        }
    }
}

/// The stop signal every thread of one checker waits on.
struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    fn is_set(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Sleep until `t`; true when stopped.
    fn sleep_until(&self, t: Instant) -> bool {
        let mut g = lock(&self.stopped);
        loop {
            if *g {
                return true;
            }
            let now = Instant::now();
            if now >= t {
                return false;
            }
            g = self.cv.wait_timeout(g, t - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// Health checks of every configured service. Dropping it stops its threads.
pub struct HealthChecker {
    groups: Vec<Arc<Group>>,
    stop: Arc<Stop>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl HealthChecker {
    /// Start one thread per (service, real server) target, probing every `interval`.
    /// `previous`: the checker being replaced (config reload): targets with the same
    /// (service key, address, port) keep their state (a server down stays down), and
    /// the previous checker's threads are stopped. Call without holding `control`.
    pub fn start(
        control: Arc<Mutex<Control>>,
        services: Vec<ServiceChecks>,
        previous: Option<HealthChecker>,
    ) -> HealthChecker {
        Self::start_with(control, services, previous, Arc::new(probe))
    }

    fn start_with(
        control: Arc<Mutex<Control>>,
        services: Vec<ServiceChecks>,
        previous: Option<HealthChecker>,
        probe: ProbeFn,
    ) -> HealthChecker {
        // Stop the previous checker and wait out any transition it is
        // applying, so none lands after the states are taken over.
        let carried: Vec<(ServiceKey, IpAddr, u16, State)> = match &previous {
            None => Vec::new(),
            Some(prev) => {
                prev.stop();
                let mut v = Vec::new();
                for g in &prev.groups {
                    let inner = lock(&g.inner);
                    for (d, st) in g.checks.dests.iter().zip(&inner.targets) {
                        v.push((g.checks.key, d.addr, d.port, st.clone()));
                    }
                }
                v
            }
        };
        drop(previous);

        let stop = Arc::new(Stop { stopped: Mutex::new(false), cv: Condvar::new() });
        let mut groups = Vec::with_capacity(services.len());
        for checks in services {
            let targets: Vec<State> = checks
                .dests
                .iter()
                .map(|d| {
                    carried
                        .iter()
                        .find(|(k, a, p, _)| *k == checks.key && *a == d.addr && *p == d.port)
                        // The new rules hold the configured weight: misc_dynamic's is set again.
                        .map_or_else(State::new, |(.., st)| State { weight: None, ..st.clone() })
                })
                .collect();
            let group = Group {
                name: service_name(&checks.key),
                checks,
                inner: Mutex::new(GroupState { targets, fallback_on: false }),
            };
            {
                let mut g = lock(&group.inner);
                if g.targets.iter().any(|t| !t.up) {
                    group.reapply(&mut g, &control);
                }
            }
            groups.push(Arc::new(group));
        }

        let mut threads = Vec::new();
        for group in &groups {
            for i in 0..group.checks.dests.len() {
                let (g, stop, control, probe) = (group.clone(), stop.clone(), control.clone(), probe.clone());
                let spawned = std::thread::Builder::new()
                    .name("rvs-check".into())
                    .spawn(move || run(&g, i, &stop, &control, &*probe));
                match spawned {
                    Ok(h) => threads.push(h),
                    Err(e) => {
                        log::error!(service = group.name.as_str(); "check: {}: cannot start a check thread: {e}", group.name)
                    }
                }
            }
        }
        HealthChecker { groups, stop, threads: Mutex::new(threads) }
    }

    /// Stop every thread: each exits within about one interval (a probe in
    /// flight finishes first, bounded by its timeout). Idempotent.
    pub fn stop(&self) {
        *lock(&self.stop.stopped) = true;
        self.stop.cv.notify_all();
    }

    /// Every target's state, service by service in configuration order.
    pub fn views(&self) -> Vec<CheckView> {
        let mut out = Vec::new();
        for g in &self.groups {
            let inner = lock(&g.inner);
            for (d, st) in g.checks.dests.iter().zip(&inner.targets) {
                out.push(CheckView {
                    service: g.checks.key,
                    addr: d.addr,
                    port: d.port,
                    kind: kind_name(&g.checks.check.kind).to_string(),
                    up: st.up,
                    failures: st.failures,
                    successes: st.successes,
                    last_error: st.last_error.clone(),
                    since: st.since.elapsed().as_secs(),
                    transitions: st.transitions,
                });
            }
        }
        out
    }

    /// How many of its threads are still running (0 some time after `stop`).
    pub fn running(&self) -> usize {
        lock(&self.threads).iter().filter(|h| !h.is_finished()).count()
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The loop of one target's thread.
fn run(group: &Group, i: usize, stop: &Stop, control: &Mutex<Control>, probe: &ProbeDyn) {
    let check = &group.checks.check;
    let dest = &group.checks.dests[i];
    let port = group.probe_port(dest);
    let vip = group.vip();
    let interval = check.interval.max(Duration::from_millis(1));
    loop {
        if stop.is_set() {
            return;
        }
        let t0 = Instant::now();
        // A panicking probe counts as a failure, never as a dead thread.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            probe(&check.kind, vip, dest.addr, port, check.timeout)
        }))
        .unwrap_or_else(|_| Err("probe panicked".into()));
        let failed = result.is_err();
        let wait = {
            let mut g = lock(&group.inner);
            // Checked under the group lock: once stop() has been followed by
            // taking this lock, this checker changes nothing more.
            if stop.is_set() {
                return;
            }
            group.record(&mut g, i, result, control);
            if failed && g.targets[i].up {
                next_wait(check, true)
            } else {
                interval
            }
        };
        if stop.sleep_until(t0 + wait) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FwdMethod, ServiceSpec};
    use crate::health::spec::CheckSpec;
    use crate::pipeline::Shared;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    const RS1: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 11));
    const RS2: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 12));
    const SORRY: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 99));
    const KEY: ServiceKey = ServiceKey::Addr { proto: IPPROTO_TCP, addr: IpAddr::V4(VIP), port: 80 };

    fn dest(addr: IpAddr, weight: u32) -> DestSpec {
        DestSpec {
            addr: std::net::IpAddr::from(addr),
            port: 80,
            fwd: FwdMethod::Masq,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tun: Default::default(),
        }
    }

    fn control_with(dests: &[DestSpec]) -> Arc<Mutex<Control>> {
        let mut c = Control::new(Arc::new(Shared::new()));
        let spec = ServiceSpec {
            key: KEY,
            scheduler: "wlc".into(),
            persistent: None,
            netmask: std::net::IpAddr::from(Ipv4Addr::BROADCAST),
            sched_flags: Vec::new(),
            ops: false,
            laddrs: Vec::new(),
        };
        c.apply(&Command::AddService(spec)).unwrap();
        for d in dests {
            c.apply(&Command::AddDest(KEY, d.clone())).unwrap();
        }
        Arc::new(Mutex::new(c))
    }

    fn checks(dests: Vec<DestSpec>, quiescent: bool, fallback: Option<DestSpec>) -> ServiceChecks {
        ServiceChecks {
            key: KEY,
            check: CheckSpec {
                kind: CheckKind::Tcp,
                interval: Duration::from_millis(10),
                timeout: Duration::from_millis(50),
                retries: 3,
                rise: 2,
                port: None,
                delay_before_retry: None,
                notify_up: None,
                notify_down: None,
            },
            quiescent,
            fallback,
            dests,
        }
    }

    /// A fake probe whose answer per address the test sets; counts probes.
    #[derive(Clone, Default)]
    struct Fake {
        down: Arc<Mutex<HashMap<IpAddr, bool>>>,
        probes: Arc<Mutex<HashMap<(IpAddr, u16), u32>>>,
        /// What an UP server's probe reports as its weight (misc_dynamic).
        weights: Arc<Mutex<HashMap<IpAddr, u32>>>,
    }

    impl Fake {
        fn set_down(&self, a: IpAddr, down: bool) {
            lock(&self.down).insert(a, down);
        }
        fn count(&self, a: IpAddr, port: u16) -> u32 {
            lock(&self.probes).get(&(a, port)).copied().unwrap_or(0)
        }
        fn probe_fn(&self) -> ProbeFn {
            let f = self.clone();
            Arc::new(move |_k: &CheckKind, _v, a: IpAddr, p: u16, _t| {
                *lock(&f.probes).entry((a, p)).or_default() += 1;
                if lock(&f.down).get(&a).copied().unwrap_or(false) {
                    Err(format!("connect {a}:{p}: connection refused"))
                } else {
                    Ok(lock(&f.weights).get(&a).copied())
                }
            })
        }
    }

    fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while !cond() {
            assert!(t0.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The real servers of KEY in the rules, as (addr, weight).
    fn rules(c: &Mutex<Control>) -> Vec<(IpAddr, u32)> {
        let c = lock(c);
        let svc = c.rules().services.iter().find(|(s, _)| s.key == KEY);
        let mut v: Vec<_> = svc.map(|(_, ds)| ds.iter().map(|d| (d.addr, d.weight)).collect()).unwrap_or_default();
        v.sort();
        v
    }

    fn view(hc: &HealthChecker, a: IpAddr) -> CheckView {
        hc.views().into_iter().find(|v| v.addr == a).unwrap()
    }

    #[test]
    fn failed_server_removed_and_readded() {
        let ds = vec![dest(RS1, 3), dest(RS2, 1)];
        let control = control_with(&ds);
        let fake = Fake::default();
        fake.set_down(RS1, true);
        let hc = HealthChecker::start_with(control.clone(), vec![checks(ds, false, None)], None, fake.probe_fn());
        wait_for("RS1 removed", || rules(&control) == vec![(RS2, 1)]);
        let v = view(&hc, RS1);
        assert!(!v.up);
        assert!(v.failures >= 3);
        assert_eq!(v.kind, "tcp");
        assert_eq!(v.last_error.as_deref(), Some("connect 198.18.1.11:80: connection refused"));
        assert!(view(&hc, RS2).up);
        // Probes of a removed server go on; it comes back as configured.
        let n = fake.count(RS1, 80);
        wait_for("more probes", || fake.count(RS1, 80) > n + 2);
        fake.set_down(RS1, false);
        wait_for("RS1 back", || rules(&control) == vec![(RS1, 3), (RS2, 1)]);
        wait_for("RS1 up", || view(&hc, RS1).up);
        assert!(view(&hc, RS1).successes >= 2);
        hc.stop();
    }

    #[test]
    fn quiescent_weights_zero_then_restores() {
        let ds = vec![dest(RS1, 5), dest(RS2, 1)];
        let control = control_with(&ds);
        let fake = Fake::default();
        fake.set_down(RS1, true);
        let hc = HealthChecker::start_with(control.clone(), vec![checks(ds, true, None)], None, fake.probe_fn());
        wait_for("RS1 weight 0", || rules(&control) == vec![(RS1, 0), (RS2, 1)]);
        fake.set_down(RS1, false);
        wait_for("RS1 weight 5", || rules(&control) == vec![(RS1, 5), (RS2, 1)]);
        drop(hc);
    }

    #[test]
    fn retries_and_rise_are_counted() {
        // Failures that never reach `retries` in a row leave the server in.
        let ds = vec![dest(RS1, 1)];
        let control = control_with(&ds);
        let n = Arc::new(Mutex::new(0u32));
        let n2 = n.clone();
        let probe: ProbeFn = Arc::new(move |_k: &CheckKind, _v, _a, _p, _t| {
            let mut n = lock(&n2);
            *n += 1;
            if n.is_multiple_of(3) {
                Ok(None)
            } else {
                Err("timed out".into())
            }
        });
        let hc = HealthChecker::start_with(control.clone(), vec![checks(ds, false, None)], None, probe);
        wait_for("probes", || *lock(&n) > 20);
        hc.stop();
        assert!(view(&hc, RS1).up);
        assert_eq!(rules(&control), vec![(RS1, 1)]);
    }

    #[test]
    fn fallback_when_all_down() {
        let ds = vec![dest(RS1, 1), dest(RS2, 1)];
        let control = control_with(&ds);
        let fake = Fake::default();
        fake.set_down(RS1, true);
        fake.set_down(RS2, true);
        let fb = dest(SORRY, 1);
        let hc = HealthChecker::start_with(control.clone(), vec![checks(ds, false, Some(fb))], None, fake.probe_fn());
        wait_for("fallback only", || rules(&control) == vec![(SORRY, 1)]);
        fake.set_down(RS2, false);
        wait_for("RS2 back, fallback gone", || rules(&control) == vec![(RS2, 1)]);
        // The sorry server is not probed.
        assert_eq!(fake.count(SORRY, 80), 0);
        hc.stop();
    }

    #[test]
    fn reload_keeps_down_state_and_reapplies() {
        let ds = vec![dest(RS1, 1), dest(RS2, 1)];
        let control = control_with(&ds);
        let fake = Fake::default();
        fake.set_down(RS1, true);
        fake.set_down(RS2, true);
        let fb = dest(SORRY, 1);
        let sc = checks(ds.clone(), false, Some(fb.clone()));
        let hc = HealthChecker::start_with(control.clone(), vec![sc.clone()], None, fake.probe_fn());
        wait_for("all down", || rules(&control) == vec![(SORRY, 1)]);
        // The reload: the configuration's rules again, every server in.
        {
            let mut c = lock(&control);
            let rules = c.rules().clone();
            let mut r = rules.clone();
            r.services[0].1 = ds.clone();
            c.sync(r);
        }
        assert_eq!(rules(&control), vec![(RS1, 1), (RS2, 1)]);
        let mut sc2 = sc.clone();
        // Slow probes, so the new checker's threads cannot have acted yet.
        sc2.check.interval = Duration::from_secs(60);
        let slow = fake.clone();
        let gate = Arc::new(Mutex::new(false));
        let gate2 = gate.clone();
        let p = slow.probe_fn();
        let gated: ProbeFn = Arc::new(move |k: &CheckKind, v, a, port, t| {
            while !*lock(&gate2) {
                std::thread::sleep(Duration::from_millis(2));
            }
            p(k, v, a, port, t)
        });
        let hc2 = HealthChecker::start_with(control.clone(), vec![sc2], Some(hc), gated);
        // Right away, before any probe of the new checker.
        assert_eq!(rules(&control), vec![(SORRY, 1)]);
        assert!(hc2.views().iter().all(|v| !v.up));
        *lock(&gate) = true;
        fake.set_down(RS1, false);
        hc2.stop();
        wait_for("threads end", || hc2.running() == 0);

        // A reload that changed nothing in the rules changes nothing either.
        let fake3 = Fake::default();
        fake3.set_down(RS1, true);
        fake3.set_down(RS2, true);
        let before = rules(&control);
        let hc3 = HealthChecker::start_with(control.clone(), vec![sc], Some(hc2), fake3.probe_fn());
        assert_eq!(rules(&control), before);
        hc3.stop();
    }

    #[test]
    fn reload_quiescent_and_new_targets() {
        let ds = vec![dest(RS1, 4), dest(RS2, 1)];
        let control = control_with(&ds);
        let fake = Fake::default();
        fake.set_down(RS1, true);
        let hc =
            HealthChecker::start_with(control.clone(), vec![checks(ds.clone(), true, None)], None, fake.probe_fn());
        wait_for("RS1 weight 0", || rules(&control) == vec![(RS1, 0), (RS2, 1)]);
        {
            let mut c = lock(&control);
            let mut r = c.rules().clone();
            r.services[0].1 = ds.clone();
            c.sync(r);
        }
        let hc2 = HealthChecker::start_with(control.clone(), vec![checks(ds, true, None)], Some(hc), fake.probe_fn());
        assert_eq!(rules(&control), vec![(RS1, 0), (RS2, 1)]);
        assert!(!view(&hc2, RS1).up);
        fake.set_down(RS1, false);
        wait_for("RS1 weight 4", || rules(&control) == vec![(RS1, 4), (RS2, 1)]);
        hc2.stop();
    }

    #[test]
    fn failing_commands_do_not_stall() {
        let ds = vec![dest(RS1, 1), dest(RS2, 1)];
        let control = control_with(&ds);
        let fake = Fake::default();
        let hc = HealthChecker::start_with(control.clone(), vec![checks(ds, false, None)], None, fake.probe_fn());
        // The operator deletes the service.
        lock(&control).apply(&Command::DeleteService(KEY)).unwrap();
        fake.set_down(RS1, true);
        wait_for("RS1 down", || !view(&hc, RS1).up);
        fake.set_down(RS1, false);
        wait_for("RS1 up", || view(&hc, RS1).up);
        assert!(lock(&control).rules().services.is_empty());
        hc.stop();
    }

    #[test]
    fn stop_ends_threads_and_probe_port() {
        let mut ds = vec![dest(RS1, 1), dest(RS2, 1)];
        ds[1].port = 0;
        let control = control_with(&ds[..1]);
        let fake = Fake::default();
        let mut sc = checks(ds.clone(), false, None);
        sc.check.interval = Duration::from_secs(3600);
        let hc = HealthChecker::start_with(control.clone(), vec![sc.clone()], None, fake.probe_fn());
        wait_for("first probes", || fake.count(RS1, 80) == 1 && fake.count(RS2, 80) == 1);
        assert_eq!(hc.running(), 2);
        let t0 = Instant::now();
        hc.stop();
        hc.stop();
        wait_for("threads end", || hc.running() == 0);
        assert!(t0.elapsed() < Duration::from_secs(2));
        // check.port overrides.
        sc.check.port = Some(8080);
        let hc = HealthChecker::start_with(control, vec![sc], None, fake.probe_fn());
        wait_for("probes on 8080", || fake.count(RS1, 8080) == 1 && fake.count(RS2, 8080) == 1);
        drop(hc);
    }

    #[test]
    fn real_probe_against_closed_port() {
        // The real probe function end to end: 127.0.0.1 on a closed port.
        let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let key = ServiceKey::Addr { proto: IPPROTO_TCP, addr: IpAddr::V4(VIP), port };
        let mut c = Control::new(Arc::new(Shared::new()));
        let spec = ServiceSpec {
            key,
            scheduler: "rr".into(),
            persistent: None,
            netmask: std::net::IpAddr::from(Ipv4Addr::BROADCAST),
            sched_flags: Vec::new(),
            ops: false,
            laddrs: Vec::new(),
        };
        c.apply(&Command::AddService(spec)).unwrap();
        let d = DestSpec {
            addr: std::net::IpAddr::from(Ipv4Addr::LOCALHOST),
            port,
            fwd: FwdMethod::Masq,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun: Default::default(),
        };
        c.apply(&Command::AddDest(key, d.clone())).unwrap();
        let control = Arc::new(Mutex::new(c));
        let mut sc = checks(vec![d], false, None);
        sc.key = key;
        sc.check.retries = 1;
        let hc = HealthChecker::start(control.clone(), vec![sc], None);
        wait_for("removed", || lock(&control).rules().services[0].1.is_empty());
        let v = &hc.views()[0];
        assert_eq!(v.last_error.as_deref(), Some(format!("connect 127.0.0.1:{port}: connection refused").as_str()));
        hc.stop();
    }

    #[test]
    fn misc_dynamic_sets_weights() {
        let ds = vec![dest(RS1, 3), dest(RS2, 1)];
        let control = control_with(&ds);
        let fake = Fake::default();
        lock(&fake.weights).insert(RS1, 7);
        let hc = HealthChecker::start_with(control.clone(), vec![checks(ds, false, None)], None, fake.probe_fn());
        wait_for("RS1 weight 7", || rules(&control) == vec![(RS1, 7), (RS2, 1)]);
        println!("exit 9 (weight 7): {:?}", rules(&control));
        lock(&fake.weights).remove(&RS1);
        wait_for("RS1 weight back to 3", || rules(&control) == vec![(RS1, 3), (RS2, 1)]);
        println!("exit 0 (configured weight): {:?}", rules(&control));
        // Down, then back with a new weight: re-added at that weight.
        fake.set_down(RS1, true);
        wait_for("RS1 removed", || rules(&control) == vec![(RS2, 1)]);
        lock(&fake.weights).insert(RS1, 2);
        fake.set_down(RS1, false);
        wait_for("RS1 back at 2", || rules(&control) == vec![(RS1, 2), (RS2, 1)]);
        println!("exit 1 then exit 4: {:?}", rules(&control));
        hc.stop();
    }

    #[test]
    fn notify_commands_leave_a_trace_and_never_block() {
        let dir = std::env::temp_dir().join(format!("rvs-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let trace = dir.join("trace");
        let ds = vec![dest(RS1, 3), dest(RS2, 1)];
        let control = control_with(&ds);
        let fake = Fake::default();
        let mut c = checks(ds, false, None);
        let t = trace.display();
        c.check.notify_down =
            Some(format!("echo \"$RVS_STATE $RVS_VIP:$RVS_VPORT $RVS_RIP:$RVS_RPORT\" >> {t}; sleep 3"));
        c.check.notify_up = Some(format!("echo \"$RVS_STATE $RVS_RIP\" >> {t}"));
        fake.set_down(RS1, true);
        let hc = HealthChecker::start_with(control.clone(), vec![c], None, fake.probe_fn());
        wait_for("RS1 removed", || rules(&control) == vec![(RS2, 1)]);
        wait_for("the DOWN line", || std::fs::read_to_string(&trace).is_ok_and(|s| s.contains("DOWN")));
        // The notify_down command sleeps 3 s; the checker goes on meanwhile.
        let t0 = Instant::now();
        fake.set_down(RS1, false);
        wait_for("RS1 back", || rules(&control) == vec![(RS1, 3), (RS2, 1)]);
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        wait_for("two lines", || std::fs::read_to_string(&trace).is_ok_and(|s| s.lines().count() == 2));
        let text = std::fs::read_to_string(&trace).unwrap();
        println!("notify trace:\n{text}");
        assert_eq!(text, "DOWN 198.18.0.100:80 198.18.1.11:80\nUP 198.18.1.11\n");
        hc.stop();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn delay_before_retry_paces_retries_only() {
        let mut c = checks(vec![dest(RS1, 1)], false, None).check;
        c.interval = Duration::from_secs(5);
        assert_eq!((next_wait(&c, true), next_wait(&c, false)), (Duration::from_secs(5), Duration::from_secs(5)));
        c.delay_before_retry = Some(Duration::from_millis(300));
        assert_eq!((next_wait(&c, true), next_wait(&c, false)), (Duration::from_millis(300), Duration::from_secs(5)));
        // Live: interval 10 s, retries 3, delay_before_retry 20 ms: down within about 40 ms.
        let ds = vec![dest(RS1, 3), dest(RS2, 1)];
        let control = control_with(&ds);
        let fake = Fake::default();
        fake.set_down(RS1, true);
        let mut sc = checks(ds, false, None);
        sc.check.interval = Duration::from_secs(10);
        sc.check.delay_before_retry = Some(Duration::from_millis(20));
        let t0 = Instant::now();
        let hc = HealthChecker::start_with(control.clone(), vec![sc], None, fake.probe_fn());
        wait_for("RS1 removed", || rules(&control) == vec![(RS2, 1)]);
        println!("3 failures with delay_before_retry 20 ms, interval 10 s: down after {:?}", t0.elapsed());
        assert!(t0.elapsed() < Duration::from_secs(2));
        // Once DOWN, the interval paces it again: no fourth probe soon.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(fake.count(RS1, 80), 3);
        hc.stop();
    }
}
