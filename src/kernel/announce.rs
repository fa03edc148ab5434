//! VIP announcement: the contract between rvs and a BGP daemon (bird2).
//!
//! rvs keeps one device route per VIP it can serve, `VIP/32 dev rvs-vips
//! table T proto P`, in a kernel table of its own; bird's `kernel` protocol
//! learns that table and BGP exports it to the upstream router with next hop
//! self. A VIP is announceable while rvs runs, every poll loop beats (see
//! [`crate::afxdp::heartbeat`]), this director is the HA master, and at least
//! one real server of a service on the VIP has weight > 0 (the health checker
//! removes failed servers or sets them to weight 0). Otherwise its route goes.
//!
//! The device is a TUN device rvs creates without TUNSETPERSIST: the kernel
//! destroys it when rvs's descriptor closes, however rvs ends (SIGKILL, a
//! panic, OOM), and every route through it goes with it. So a dead rvs
//! announces nothing, with no code of ours needing to run. The VIPs never
//! become addresses of the kernel, and nothing routes through the table.

use crate::api::ServiceKey;
use crate::control::{Control, Rules};
use crate::kernel::rtnl::{ifindex, DeviceRoute, RouteOp, Rtnl};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// `[announce]` as written in the file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAnnounce {
    table: Option<u32>,
    device: Option<String>,
    route_protocol: Option<u8>,
    withdraw_grace_ms: Option<u64>,
    loop_stall_ms: Option<u64>,
    hold_down_ms: Option<u64>,
}

/// `[announce]`: where the routes go and how long a stop waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceConfig {
    /// The kernel routing table the routes go in (bird's `kernel table`).
    pub table: u32,
    /// The TUN device the routes point at.
    pub device: String,
    /// The routes' `proto` number (bird sees it as krt_source).
    pub protocol: u8,
    /// On SIGTERM: how long rvs keeps forwarding after withdrawing, for the
    /// routers to move the flows elsewhere.
    pub withdraw_grace: Duration,
    /// A poll loop whose heartbeat stands still this long is dead.
    pub loop_stall: Duration,
    /// A prefix is announced only once it has been servable without a
    /// break this long (0: at once); a withdrawal is never held.
    pub hold_down: Duration,
}

pub const DEFAULT_TABLE: u32 = 100;
pub const DEFAULT_DEVICE: &str = "rvs-vips";
pub const DEFAULT_PROTOCOL: u8 = 250;
pub const DEFAULT_WITHDRAW_GRACE_MS: u64 = 1000;
pub const DEFAULT_LOOP_STALL_MS: u64 = 500;
/// Announce at once.
pub const DEFAULT_HOLD_DOWN_MS: u64 = 0;
/// How often the announcer looks (a withdrawal is at most this late).
const TICK: Duration = Duration::from_millis(100);

impl AnnounceConfig {
    /// None when the file has no `[announce]`: nothing is announced.
    pub fn parse(raw: Option<&RawAnnounce>) -> Result<Option<AnnounceConfig>, String> {
        let Some(raw) = raw else { return Ok(None) };
        let table = raw.table.unwrap_or(DEFAULT_TABLE);
        // 0 is "unspecified"; 253..255 are the default, main and local tables,
        // where a route to the device would steer the host's own traffic.
        if table == 0 || (253..=255).contains(&table) {
            return Err(format!(
                "announce.table: {table} is not a table of rvs's own (0, 253 default, 254 main, 255 local)"
            ));
        }
        let device = raw.device.clone().unwrap_or_else(|| DEFAULT_DEVICE.into());
        if device.is_empty() || device.len() > 15 || device.contains(['/', ' ', '\0']) {
            return Err(format!("announce.device: '{device}' is not an interface name"));
        }
        let protocol = raw.route_protocol.unwrap_or(DEFAULT_PROTOCOL);
        // 0..4 are the kernel's own (unspec, redirect, kernel, boot, static).
        if protocol <= 4 {
            return Err(format!("announce.route_protocol: {protocol} is the kernel's own; use 5..255"));
        }
        let grace = raw.withdraw_grace_ms.unwrap_or(DEFAULT_WITHDRAW_GRACE_MS);
        if grace > 600_000 {
            return Err(format!("announce.withdraw_grace_ms: {grace} is more than 10 minutes"));
        }
        let stall = raw.loop_stall_ms.unwrap_or(DEFAULT_LOOP_STALL_MS);
        if !(100..=60_000).contains(&stall) {
            return Err(format!("announce.loop_stall_ms: {stall} is not 100..60000"));
        }
        let hold = raw.hold_down_ms.unwrap_or(DEFAULT_HOLD_DOWN_MS);
        if hold > 600_000 {
            return Err(format!("announce.hold_down_ms: {hold} is more than 10 minutes"));
        }
        Ok(Some(AnnounceConfig {
            table,
            device,
            protocol,
            withdraw_grace: Duration::from_millis(grace),
            loop_stall: Duration::from_millis(stall),
            hold_down: Duration::from_millis(hold),
        }))
    }
}

/// One announceable prefix and whether it is announced, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipStatus {
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub announced: bool,
    pub why: String,
}

/// What besides the rules decides: the director's own state.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Poll loops whose heartbeat stands still, and for how long.
    pub stalled: Vec<(usize, Duration)>,
    pub backup: bool,
    pub stopping: bool,
}

/// The prefixes a service is reached at: its VIP, or for a firewall-mark
/// service the destinations of the mark rules that set its mark.
fn prefixes(rules: &Rules, key: &ServiceKey) -> Vec<(Ipv4Addr, u8)> {
    match key {
        // The kernel takes a 0.0.0.0 (or broadcast, multicast) VIP; no route can announce it.
        // IPv6 VIPs are not announced (the IPv6 data path does not serve them yet).
        ServiceKey::Addr { addr: std::net::IpAddr::V6(_), .. } | ServiceKey::Fwmark6(_) => vec![],
        ServiceKey::Addr { addr: std::net::IpAddr::V4(addr), .. }
            if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() =>
        {
            vec![]
        }
        ServiceKey::Addr { addr: std::net::IpAddr::V4(addr), .. } => vec![(*addr, 32)],
        ServiceKey::Fwmark(m) => rules
            .marks
            .iter()
            .filter(|r| r.mark == *m)
            .filter_map(|r| match r.addr {
                std::net::IpAddr::V4(a) => {
                    let net = u32::from(a) & crate::wire::ipv4::prefix_mask(r.prefix);
                    Some((Ipv4Addr::from(net), r.prefix))
                }
                std::net::IpAddr::V6(_) => None,
            })
            .collect(),
    }
}

/// Which prefixes to announce, each with its reason. A prefix several
/// services share is announced while any of them has a real server.
pub fn evaluate(rules: &Rules, health: &Health) -> Vec<VipStatus> {
    // prefix -> (real servers with weight > 0, real servers)
    let mut per: std::collections::BTreeMap<(Ipv4Addr, u8), (usize, usize)> = Default::default();
    for (spec, dests) in &rules.services {
        let up = dests.iter().filter(|d| d.weight > 0).count();
        for p in prefixes(rules, &spec.key) {
            let e = per.entry(p).or_default();
            e.0 += up;
            e.1 += dests.len();
        }
    }
    let director_down = if health.stopping {
        Some("rvs is stopping".to_string())
    } else if let Some((id, d)) = health.stalled.first() {
        Some(format!("poll loop {id} stalled for {} ms", d.as_millis()))
    } else if health.backup {
        Some("HA role is backup".to_string())
    } else {
        None
    };
    per.into_iter()
        .map(|((addr, prefix), (up, all))| {
            let (announced, why) = match (&director_down, up) {
                (Some(why), _) => (false, why.clone()),
                (None, 0) => (false, format!("no real server available (0 of {all} with weight > 0)")),
                (None, n) => (true, format!("{n} of {all} real servers available")),
            };
            VipStatus { addr, prefix, announced, why }
        })
        .collect()
}

/// `[announce] hold_down_ms`: a prefix that could be announced waits until
/// it has been servable without a break for `hold`. It keeps a director
/// whose rules are still being added (rvsadm after start, a reload) from
/// drawing flows with a partial real-server list: with `mh` a partial list
/// sends the flows that move to it to other servers than the fleet's.
/// `since` remembers when each prefix became servable.
pub fn hold_down(
    views: &mut [VipStatus],
    since: &mut std::collections::BTreeMap<(Ipv4Addr, u8), Instant>,
    now: Instant,
    hold: Duration,
) {
    since.retain(|k, _| views.iter().any(|v| v.announced && (v.addr, v.prefix) == *k));
    for v in views.iter_mut().filter(|v| v.announced) {
        let held = now.duration_since(*since.entry((v.addr, v.prefix)).or_insert(now));
        if held < hold {
            v.announced = false;
            v.why = format!("held down, servable for {} of {} ms: {}", held.as_millis(), hold.as_millis(), v.why);
        }
    }
}

/// `rvsadm --announced`: the table the routes are in, then one line a prefix.
pub fn listing(cfg: Option<&AnnounceConfig>, views: &[VipStatus]) -> String {
    let Some(cfg) = cfg else {
        return "announcements off (no [announce] in the configuration)\n".into();
    };
    let mut out = format!(
        "routes: table {} dev {} proto {}; withdraw grace {} ms\n{:<20} {:<10} {}\n",
        cfg.table,
        cfg.device,
        cfg.protocol,
        cfg.withdraw_grace.as_millis(),
        "Prefix",
        "State",
        "Why"
    );
    for v in views {
        let state = if v.announced { "announced" } else { "withdrawn" };
        out.push_str(&format!("{:<20} {:<10} {}\n", format!("{}/{}", v.addr, v.prefix), state, v.why));
    }
    out
}

pub(super) const TUNSETIFF: libc::c_ulong = 0x400454ca;
pub(super) const IFF_TUN: i16 = 0x0001;
pub(super) const IFF_NO_PI: i16 = 0x1000;

/// The TUN device the routes point at; gone with its descriptor.
struct Tun {
    _fd: OwnedFd,
    ifindex: u32,
}

/// An ifreq: the name, then the flags (a short) at offset 16.
pub(super) fn ifreq(name: &str, flags: i16) -> [u8; 40] {
    let mut r = [0u8; 40];
    let n = name.len().min(15);
    r[..n].copy_from_slice(&name.as_bytes()[..n]);
    r[16..18].copy_from_slice(&flags.to_ne_bytes());
    r
}

/// Refuse a device name that is taken: a persistent device of that name
/// would keep the routes after rvs ends. Checked again when creating it, and
/// at start before anything is touched.
pub fn check_device_free(name: &str) -> Result<(), String> {
    if ifindex(name) != 0 {
        return Err(format!(
            "announce.device {name} exists already: another rvs, or a device of someone else's; \
             rvs needs one of its own, which the kernel removes when rvs ends"
        ));
    }
    Ok(())
}

impl Tun {
    fn create(name: &str) -> Result<Tun, String> {
        check_device_free(name)?;
        // SAFETY: open(2) of a static path; the result is checked.
        let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(format!("/dev/net/tun: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: fd is fresh and ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut req = ifreq(name, IFF_TUN | IFF_NO_PI);
        // SAFETY: req is an ifreq-sized buffer; no TUNSETPERSIST follows, so
        // the device lives only as long as fd.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, req.as_mut_ptr()) } != 0 {
            return Err(format!("announce.device {name}: TUNSETIFF: {}", std::io::Error::last_os_error()));
        }
        set_up(name)?;
        let ifindex = ifindex(name);
        if ifindex == 0 {
            return Err(format!("announce.device {name}: vanished after creation"));
        }
        Ok(Tun { _fd: fd, ifindex })
    }
}

/// `ip link set NAME up` (routes through a down device are refused).
pub(super) fn set_up(name: &str) -> Result<(), String> {
    // SAFETY: a datagram socket for the interface ioctls, closed below.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: s is ours.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    let mut req = ifreq(name, 0);
    // SAFETY: req is an ifreq-sized buffer for both ioctls.
    unsafe {
        if libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, req.as_mut_ptr()) != 0 {
            return Err(format!("{name}: SIOCGIFFLAGS: {}", std::io::Error::last_os_error()));
        }
        let flags = i16::from_ne_bytes([req[16], req[17]]) | libc::IFF_UP as i16;
        req[16..18].copy_from_slice(&flags.to_ne_bytes());
        if libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, req.as_mut_ptr()) != 0 {
            return Err(format!("{name}: SIOCSIFFLAGS up: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// What the announcer thread and the rest of rvs share.
struct State {
    views: Mutex<Vec<VipStatus>>,
    stopping: AtomicBool,
    stop: AtomicBool,
    /// Set by the thread once stopping and every route is gone.
    withdrawn: Mutex<bool>,
    wake: Condvar,
}

/// The running announcer: a control-plane thread, never a poll loop.
pub struct Announcer {
    cfg: AnnounceConfig,
    state: Arc<State>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How the announcer reads the director's state.
pub struct Inputs {
    pub control: Arc<Mutex<Control>>,
    pub heartbeats: Arc<crate::afxdp::heartbeat::Heartbeats>,
}

impl Announcer {
    /// Create the device (an error refuses the start) and run the thread.
    pub fn start(cfg: AnnounceConfig, inputs: Inputs) -> Result<Announcer, String> {
        let tun = Tun::create(&cfg.device)?;
        let rtnl = Rtnl::open(0)?;
        log::info!(interface = cfg.device.as_str();
            "announcing through table {} dev {} (ifindex {}) proto {}",
            cfg.table, cfg.device, tun.ifindex, cfg.protocol
        );
        let state = Arc::new(State {
            views: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            withdrawn: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread = {
            let (cfg, state) = (cfg.clone(), state.clone());
            std::thread::Builder::new()
                .name("rvs-announce".into())
                .spawn(move || run(cfg, tun, rtnl, inputs, &state))
                .map_err(|e| e.to_string())?
        };
        Ok(Announcer { cfg, state, thread: Some(thread) })
    }

    pub fn config(&self) -> &AnnounceConfig {
        &self.cfg
    }

    pub fn views(&self) -> Vec<VipStatus> {
        self.state.views.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Withdraw every route and wait (at most 2 s) until they are gone.
    pub fn withdraw_all(&self) -> bool {
        self.state.stopping.store(true, Ordering::Relaxed);
        self.state.wake.notify_all();
        let done = self.state.withdrawn.lock().unwrap_or_else(|e| e.into_inner());
        let (done, _) = self
            .state
            .wake
            .wait_timeout_while(done, Duration::from_secs(2), |d| !*d)
            .unwrap_or_else(|e| e.into_inner());
        *done
    }

    /// Has the thread ended (it should not before stop)?
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::Relaxed);
        self.state.stop.store(true, Ordering::Relaxed);
        self.state.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(cfg: AnnounceConfig, mut tun: Tun, mut rtnl: Rtnl, inputs: Inputs, state: &State) {
    let mut watch = crate::afxdp::heartbeat::LoopWatch::new(&inputs.heartbeats, Instant::now());
    let mut installed: BTreeSet<(Ipv4Addr, u8)> = BTreeSet::new();
    // Last logged state of each prefix, to log changes only.
    let mut logged: std::collections::BTreeMap<(Ipv4Addr, u8), bool> = Default::default();
    let mut servable_since: std::collections::BTreeMap<(Ipv4Addr, u8), Instant> = Default::default();
    loop {
        let stopping = state.stopping.load(Ordering::Relaxed);
        // Someone deleted the device: its routes went with it. Make it again.
        if !stopping && ifindex(&cfg.device) != tun.ifindex {
            log::warn!(interface = cfg.device.as_str(); "announce: device {} vanished; creating it again", cfg.device);
            installed.clear();
            match Tun::create(&cfg.device) {
                Ok(t) => tun = t,
                Err(e) => log::error!("announce: {e}"),
            }
        }
        let mut views = {
            let ctl = inputs.control.lock().unwrap_or_else(|e| e.into_inner());
            let backup = ctl.shared().ha.role() == crate::pipeline::role::Role::Backup;
            let stalled = watch.stalled(&inputs.heartbeats, Instant::now(), cfg.loop_stall);
            evaluate(ctl.rules(), &Health { stalled, backup, stopping })
        };
        hold_down(&mut views, &mut servable_since, Instant::now(), cfg.hold_down);
        for v in views.iter_mut() {
            let key = (v.addr, v.prefix);
            let route = DeviceRoute {
                dst: v.addr,
                prefix: v.prefix,
                oif: tun.ifindex,
                table: cfg.table,
                protocol: cfg.protocol,
            };
            if v.announced && !installed.contains(&key) {
                match rtnl.route(RouteOp::Add, &route) {
                    Ok(()) => {
                        installed.insert(key);
                    }
                    Err(e) => {
                        v.announced = false;
                        v.why = format!("route not installed: {e}");
                    }
                }
            } else if !v.announced && installed.contains(&key) {
                match rtnl.route(RouteOp::Delete, &route) {
                    Ok(()) => {
                        installed.remove(&key);
                    }
                    Err(e) => {
                        v.announced = true;
                        v.why = format!("withdrawal failed: {e} (was: {})", v.why);
                    }
                }
            }
        }
        // Prefixes of services that no longer exist.
        let stale: Vec<_> =
            installed.iter().filter(|k| !views.iter().any(|v| (v.addr, v.prefix) == **k)).copied().collect();
        for (addr, prefix) in stale {
            let route = DeviceRoute { dst: addr, prefix, oif: tun.ifindex, table: cfg.table, protocol: cfg.protocol };
            match rtnl.route(RouteOp::Delete, &route) {
                Ok(()) => {
                    installed.remove(&(addr, prefix));
                    log::info!("withdrawn {addr}/{prefix}: no service on it any more");
                }
                Err(e) => log::warn!("withdrawing {addr}/{prefix} failed: {e}"),
            }
            logged.remove(&(addr, prefix));
        }
        for v in &views {
            if logged.insert((v.addr, v.prefix), v.announced) != Some(v.announced) {
                let what = if v.announced { "announced" } else { "withdrawn" };
                log::info!("{what} {}/{}: {}", v.addr, v.prefix, v.why);
            }
        }
        *state.views.lock().unwrap_or_else(|e| e.into_inner()) = views;
        if stopping && installed.is_empty() {
            *state.withdrawn.lock().unwrap_or_else(|e| e.into_inner()) = true;
            state.wake.notify_all();
        }
        if state.stop.load(Ordering::Relaxed) {
            break;
        }
        let guard = state.withdrawn.lock().unwrap_or_else(|e| e.into_inner());
        let _ = state.wake.wait_timeout(guard, TICK);
    }
    // The device (and any route left) goes with `tun`.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::command::Command;
    use crate::api::*;
    use crate::wire::ip_protocol::IPPROTO_TCP;

    fn rules(weights: &[u32]) -> Rules {
        let mut r = Rules::default();
        let key = ServiceKey::Addr {
            proto: IPPROTO_TCP,
            addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 5, 100)),
            port: 80,
        };
        let spec = ServiceSpec {
            key,
            scheduler: "mh".into(),
            persistent: None,
            netmask: std::net::IpAddr::from(Ipv4Addr::BROADCAST),
            sched_flags: vec![],
            ops: false,
            laddrs: vec![],
        };
        r.apply(&Command::AddService(spec)).unwrap();
        for (i, &w) in weights.iter().enumerate() {
            let d = DestSpec {
                addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 1, 11 + i as u8)),
                port: 80,
                fwd: FwdMethod::Route,
                weight: w,
                u_threshold: 0,
                l_threshold: 0,
                tun: Default::default(),
            };
            r.apply(&Command::AddDest(key, d)).unwrap();
        }
        r
    }

    #[test]
    fn announced_only_with_a_real_server_of_weight_above_zero() {
        let h = Health::default();
        let v = evaluate(&rules(&[1, 0]), &h);
        assert_eq!(v.len(), 1);
        assert!(v[0].announced, "{v:?}");
        assert_eq!(v[0].why, "1 of 2 real servers available");
        let v = evaluate(&rules(&[0, 0]), &h);
        assert!(!v[0].announced);
        assert_eq!(v[0].why, "no real server available (0 of 2 with weight > 0)");
        let v = evaluate(&rules(&[]), &h);
        assert!(!v[0].announced, "a service with no real server");
    }

    #[test]
    fn stalled_loops_backup_and_stopping_withdraw() {
        let r = rules(&[1]);
        let stalled = Health { stalled: vec![(1, Duration::from_millis(700))], ..Default::default() };
        let v = evaluate(&r, &stalled);
        assert!(!v[0].announced);
        assert_eq!(v[0].why, "poll loop 1 stalled for 700 ms");
        let v = evaluate(&r, &Health { backup: true, ..Default::default() });
        assert_eq!((v[0].announced, v[0].why.as_str()), (false, "HA role is backup"));
        let v = evaluate(&r, &Health { stopping: true, backup: true, ..Default::default() });
        assert_eq!((v[0].announced, v[0].why.as_str()), (false, "rvs is stopping"));
    }

    #[test]
    fn shared_vips_and_fwmark_prefixes() {
        let mut r = rules(&[0]);
        // A second service on the same VIP with a live server keeps it announced.
        let key443 = ServiceKey::Addr {
            proto: IPPROTO_TCP,
            addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 5, 100)),
            port: 443,
        };
        let mut spec = r.services[0].0.clone();
        spec.key = key443;
        r.apply(&Command::AddService(spec.clone())).unwrap();
        let mut d = DestSpec {
            addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 1, 20)),
            port: 443,
            fwd: FwdMethod::Route,
            weight: 2,
            u_threshold: 0,
            l_threshold: 0,
            tun: Default::default(),
        };
        r.apply(&Command::AddDest(key443, d.clone())).unwrap();
        // A firewall-mark service announces its rules' prefixes.
        let m = MarkRule {
            mark: 7,
            proto: IPPROTO_TCP,
            addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 6, 9)),
            prefix: 24,
            ports: vec![],
        };
        r.apply(&Command::AddMark(m)).unwrap();
        spec.key = ServiceKey::Fwmark(7);
        r.apply(&Command::AddService(spec)).unwrap();
        d.port = 0;
        r.apply(&Command::AddDest(ServiceKey::Fwmark(7), d)).unwrap();
        let v = evaluate(&r, &Health::default());
        let got: Vec<_> = v.iter().map(|v| (v.addr.to_string(), v.prefix, v.announced)).collect();
        assert_eq!(got, vec![("198.18.5.100".into(), 32, true), ("198.18.6.0".into(), 24, true)]);
        assert_eq!(v[0].why, "1 of 2 real servers available");
    }

    #[test]
    fn the_section_in_a_whole_file() {
        let base = "[[interface]]\nname = \"d0\"\naddresses = [\"198.18.1.2/24\"]\n";
        assert_eq!(crate::config::Config::parse(base).unwrap().announce, None, "no section: off");
        let c = crate::config::Config::parse(&format!("{base}[announce]\ntable = 1000\n")).unwrap();
        assert_eq!(c.announce.map(|a| a.table), Some(1000));
        let e = crate::config::Config::parse(&format!("{base}[announce]\ntabel = 100\n")).unwrap_err();
        assert!(e.contains("tabel"), "{e}");
        let e = crate::config::Config::parse(&format!("{base}[announce]\ntable = 254\n")).unwrap_err();
        assert!(e.starts_with("announce.table: 254"), "{e}");
    }

    #[test]
    fn hold_down_announces_only_after_an_unbroken_hold() {
        let t0 = Instant::now();
        let hold = Duration::from_millis(1500);
        let view =
            |announced| VipStatus { addr: Ipv4Addr::new(198, 18, 3, 100), prefix: 32, announced, why: "ok".into() };
        let mut since = Default::default();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut v = [view(true)];
        hold_down(&mut v, &mut since, at(0), hold);
        assert!(!v[0].announced && v[0].why.starts_with("held down, servable for 0 of 1500 ms"), "{:?}", v[0]);
        let mut v = [view(true)];
        hold_down(&mut v, &mut since, at(1499), hold);
        assert!(!v[0].announced);
        let mut v = [view(true)];
        hold_down(&mut v, &mut since, at(1500), hold);
        assert!(v[0].announced, "{:?}", v[0]);
        // A break (no real server) starts the hold again; a withdrawal is never held.
        let mut v = [view(false)];
        hold_down(&mut v, &mut since, at(1600), hold);
        assert!(!v[0].announced);
        let mut v = [view(true)];
        hold_down(&mut v, &mut since, at(1700), hold);
        assert!(!v[0].announced);
        let mut v = [view(true)];
        hold_down(&mut v, &mut since, at(3200), hold);
        assert!(v[0].announced);
        // No hold: unchanged.
        let mut v = [view(true)];
        hold_down(&mut v, &mut Default::default(), at(0), Duration::ZERO);
        assert!(v[0].announced);
    }

    #[test]
    fn config_defaults_and_refusals() {
        assert_eq!(AnnounceConfig::parse(None), Ok(None));
        let c = AnnounceConfig::parse(Some(&RawAnnounce::default())).unwrap().unwrap();
        assert_eq!((c.table, c.device.as_str(), c.protocol), (100, "rvs-vips", 250));
        assert_eq!((c.withdraw_grace, c.loop_stall), (Duration::from_millis(1000), Duration::from_millis(500)));
        for t in [0, 253, 254, 255] {
            let e = AnnounceConfig::parse(Some(&RawAnnounce { table: Some(t), ..Default::default() })).unwrap_err();
            assert!(e.starts_with("announce.table"), "{e}");
        }
        let e = AnnounceConfig::parse(Some(&RawAnnounce { device: Some("x".repeat(16)), ..Default::default() }));
        assert!(e.unwrap_err().starts_with("announce.device"));
        let e = AnnounceConfig::parse(Some(&RawAnnounce { route_protocol: Some(2), ..Default::default() }));
        assert!(e.unwrap_err().starts_with("announce.route_protocol"));
        let e = AnnounceConfig::parse(Some(&RawAnnounce { loop_stall_ms: Some(10), ..Default::default() }));
        assert!(e.unwrap_err().starts_with("announce.loop_stall_ms"));
    }
}
