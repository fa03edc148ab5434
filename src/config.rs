//! The TOML configuration (`config.example` documents every key).
//!
//! Parsing is strict: unknown keys are refused, and every error names the
//! key and the reason, so a bad file never half-starts a director.

use crate::api::command::Command;
use crate::api::*;
use crate::control::Rules;
use crate::wire::ip_protocol::*;
use crate::wire::ipv4::parse_cidr;
use serde::Deserialize;
use std::net::Ipv4Addr;

pub const DEFAULT_SOCKET: &str = "/run/rvs/rvs.sock";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    dataplane: RawDataplane,
    announce: Option<crate::kernel::announce::RawAnnounce>,
    #[serde(default, rename = "interface")]
    interfaces: Vec<RawInterface>,
    #[serde(default, rename = "route")]
    routes: Vec<RawRoute>,
    #[serde(default)]
    timeouts: Option<RawTimeouts>,
    #[serde(default)]
    state: RawState,
    #[serde(default, rename = "fwmark")]
    marks: Vec<RawMark>,
    #[serde(default, rename = "service")]
    services: Vec<RawService>,
    #[serde(default)]
    ha: RawHa,
    /// IPVS's sysctls by name; checked by `parse_sysctls`.
    #[serde(default)]
    sysctl: std::collections::BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHa {
    role: Option<String>,
    garp_master_repeat: Option<u32>,
    garp_master_refresh: Option<u32>,
    garp_master_delay: Option<u32>,
    sync_threshold: Option<[u32; 2]>,
    sync_refresh_period: Option<u32>,
}

/// `[ha]`: the role this director starts in and how it announces a takeover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaConfig {
    pub role: crate::pipeline::role::Role,
    /// Gratuitous ARPs per VIP and interface on becoming master.
    pub garp_master_repeat: u32,
    /// Seconds between refreshes while master; 0: none.
    pub garp_master_refresh: u32,
    /// Seconds after becoming master before a second round of gratuitous
    /// ARPs (keepalived's garp_master_delay, default 5; 0: none).
    pub garp_master_delay: u32,
    /// When a master syncs a connection (IPVS's sync_threshold and
    /// sync_refresh_period sysctls).
    pub sync: crate::ipvs::sync::daemon::SyncPolicy,
}

fn parse_ha(raw: &RawHa) -> Result<HaConfig, String> {
    use crate::pipeline::role::{Role, DEFAULT_GARP_REPEAT};
    let role = match raw.role.as_deref() {
        None => Role::Master,
        Some(r) => Role::parse(r).ok_or_else(|| format!("ha.role: '{r}' is not master or backup"))?,
    };
    let garp_master_repeat = raw.garp_master_repeat.unwrap_or(DEFAULT_GARP_REPEAT);
    if !(1..=255).contains(&garp_master_repeat) {
        return Err(format!("ha.garp_master_repeat: {garp_master_repeat} is not 1..255"));
    }
    let garp_master_refresh = raw.garp_master_refresh.unwrap_or(0);
    if garp_master_refresh > 86_400 {
        return Err(format!("ha.garp_master_refresh: {garp_master_refresh} s is more than a day (0 turns it off)"));
    }
    let garp_master_delay = raw.garp_master_delay.unwrap_or(crate::pipeline::role::DEFAULT_GARP_DELAY);
    if garp_master_delay > 3_600 {
        return Err(format!("ha.garp_master_delay: {garp_master_delay} s is more than an hour (0 turns it off)"));
    }
    // The kernel's bounds (proc_do_sync_threshold): threshold below the
    // period, unless the period is 0.
    let [threshold, period] = raw.sync_threshold.unwrap_or([3, 50]);
    if period > 0 && threshold >= period {
        return Err(format!("ha.sync_threshold: [{threshold}, {period}]: the threshold must be below the period"));
    }
    let refresh = raw.sync_refresh_period.unwrap_or(0);
    if refresh > 43_200 {
        return Err(format!("ha.sync_refresh_period: {refresh} s is more than 12 hours (0 turns it off)"));
    }
    let sync = crate::ipvs::sync::daemon::SyncPolicy { threshold, period, refresh_period_ms: refresh * 1000 };
    Ok(HaConfig { role, garp_master_repeat, garp_master_refresh, garp_master_delay, sync })
}

/// `[sysctl]`: `name = value` for IPVS's sysctls; an unknown name or a value
/// out of range is refused. `[dataplane] expire_nodest_conn` (older than this
/// section) still works, but not beside a different `[sysctl]` value.
fn parse_sysctls(
    raw: &std::collections::BTreeMap<String, toml::Value>,
    dataplane_expire_nodest_conn: Option<bool>,
) -> Result<crate::ipvs::sysctl::Values, String> {
    use crate::ipvs::sysctl::{Sysctl, Values};
    let mut v = Values::default();
    if let Some(on) = dataplane_expire_nodest_conn {
        v.set(Sysctl::ExpireNodestConn, on as u8);
    }
    for (name, value) in raw {
        let sc = Sysctl::lookup(name).map_err(|e| format!("sysctl: {e}"))?;
        let text = match value {
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => (*b as u8).to_string(),
            other => other.to_string(),
        };
        let n = sc.parse_value(&text).map_err(|e| format!("sysctl.{e}"))?;
        if sc == Sysctl::ExpireNodestConn && dataplane_expire_nodest_conn.is_some_and(|d| d as u8 != n) {
            return Err("sysctl.expire_nodest_conn and dataplane.expire_nodest_conn disagree: set it once".into());
        }
        v.set(sc, n);
    }
    Ok(v)
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    file: Option<String>,
    save_on_stop: Option<bool>,
    restore_on_start: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    #[serde(rename = "type")]
    kind: String,
    interval: Option<f64>,
    timeout: Option<f64>,
    retries: Option<u32>,
    rise: Option<u32>,
    port: Option<u16>,
    request: Option<String>,
    receive: Option<String>,
    status: Option<u16>,
    virtualhost: Option<String>,
    command: Option<String>,
    payload: Option<String>,
    expect: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMark {
    mark: u32,
    protocol: Option<String>,
    destination: String,
    ports: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    socket: Option<String>,
    group: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDataplane {
    cores: Option<Vec<usize>>,
    connections: Option<usize>,
    neighbours: Option<usize>,
    arp_hold: Option<usize>,
    batch: Option<usize>,
    frames: Option<u32>,
    fullnat_ports: Option<[u16; 2]>,
    xdp_program: Option<String>,
    expire_nodest_conn: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: String,
    xdp_mode: Option<String>,
    queues: Option<Vec<u32>>,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    vips: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    destination: String,
    gateway: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    tcp: Option<u32>,
    tcpfin: Option<u32>,
    udp: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    tcp: Option<String>,
    udp: Option<String>,
    fwmark: Option<u32>,
    scheduler: Option<String>,
    /// ipvsadm's `-b`: ["mh-port"], ["sh-fallback", "sh-port"], ...
    #[serde(default)]
    scheduler_flags: Vec<String>,
    persistent: Option<u32>,
    netmask: Option<String>,
    /// FULLNAT local addresses (`rvsadm -P ... -z LIP`).
    #[serde(default)]
    local_addresses: Vec<String>,
    check: Option<RawCheck>,
    quiescent: Option<bool>,
    fallback: Option<String>,
    fallback_method: Option<String>,
    #[serde(default)]
    real: Vec<RawReal>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReal {
    address: String,
    method: Option<String>,
    weight: Option<u32>,
    u_threshold: Option<u32>,
    l_threshold: Option<u32>,
}

pub use crate::afxdp::XdpMode;

#[derive(Debug, Clone)]
pub struct InterfaceConfig {
    pub name: String,
    pub xdp_mode: XdpMode,
    /// Queues to bind; `None` = every receive queue of the device.
    pub queues: Option<Vec<u32>>,
    pub addresses: Vec<(Ipv4Addr, u8)>,
    pub vips: Vec<Ipv4Addr>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub socket: String,
    /// A group whose members may use the admin socket beside root.
    pub admin_group: Option<String>,
    /// One poll loop per core listed; empty = one loop, not pinned.
    pub cores: Vec<usize>,
    pub connections: usize,
    pub neighbours: usize,
    pub arp_hold: usize,
    pub batch: usize,
    /// UMEM frames per socket.
    pub frames: u32,
    /// FULLNAT local port range, inclusive.
    pub fullnat_ports: (u16, u16),
    /// rvs's own XDP program (host traffic to the kernel, the rest to rvs);
    /// false: libxdp's default program (every frame to rvs).
    pub own_xdp_program: bool,
    /// `[announce]`: VIP routes for a BGP daemon; None: no announcements.
    pub announce: Option<crate::kernel::announce::AnnounceConfig>,
    pub interfaces: Vec<InterfaceConfig>,
    /// (destination, prefix length, gateway)
    pub routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
    /// IPVS's sysctls (`[sysctl]`, and `[dataplane] expire_nodest_conn`).
    pub sysctl: crate::ipvs::sysctl::Values,
    /// IPVS's expire_nodest_conn: packets of a connection whose real server
    /// was removed are dropped and the connection expired at once.
    pub expire_nodest_conn: bool,
    /// Health checks, per service that has a [service.check].
    pub checks: Vec<crate::health::spec::ServiceChecks>,
    /// Where `-S` output is kept across restarts (ipvsadm.service's
    /// /etc/sysconfig/ipvsadm), and when it is written and read.
    pub state_file: Option<String>,
    pub save_on_stop: bool,
    pub restore_on_start: bool,
    /// The services and timeouts, as rules.
    pub rules: Rules,
    pub ha: HaConfig,
}

fn addr(key: &str, s: &str) -> Result<Ipv4Addr, String> {
    s.trim().parse().map_err(|_| format!("{key}: '{s}' is not an IPv4 address"))
}

/// "a.b.c.d[:port]" with the port defaulting to `default_port`.
fn addr_port(key: &str, s: &str, default_port: Option<u16>) -> Result<(Ipv4Addr, u16), String> {
    let (a, p) = match s.rsplit_once(':') {
        Some((a, p)) => (a, Some(p.parse::<u16>().map_err(|_| format!("{key}: '{p}' is not a port number"))?)),
        None => (s, None),
    };
    let ip = addr(key, a)?;
    let port = p.or(default_port).ok_or_else(|| format!("{key}: '{s}' needs a port (ADDRESS:PORT)"))?;
    Ok((ip, port))
}

fn parse_method(key: &str, m: &str) -> Result<FwdMethod, String> {
    Ok(match m {
        "masq" | "nat" | "m" => FwdMethod::Masq,
        "route" | "gate" | "dr" | "g" => FwdMethod::Route,
        "tunnel" | "ipip" | "tun" | "i" => FwdMethod::Tunnel,
        "fullnat" => FwdMethod::FullNat,
        m => return Err(format!("{key}: '{m}' is not one of masq, route, tunnel, fullnat")),
    })
}

fn parse_check(k: &str, c: &RawCheck) -> Result<crate::health::spec::CheckSpec, String> {
    use crate::health::spec::{CheckKind, CheckSpec};
    let secs = |name: &str, v: Option<f64>, default: f64| -> Result<std::time::Duration, String> {
        let v = v.unwrap_or(default);
        if !(0.01..=3600.0).contains(&v) {
            return Err(format!("{k}.{name}: {v} is not 0.01..3600 seconds"));
        }
        Ok(std::time::Duration::from_secs_f64(v))
    };
    let http = |c: &RawCheck| {
        (
            c.request.clone().unwrap_or_else(|| "/".into()),
            c.status.unwrap_or(200),
            c.receive.clone(),
            c.virtualhost.clone(),
        )
    };
    let kind = match c.kind.as_str() {
        "tcp" | "connect" => CheckKind::Tcp,
        "http" => {
            let (path, status, receive, host) = http(c);
            CheckKind::Http { path, status, receive, host }
        }
        "https" => {
            let (path, status, receive, host) = http(c);
            CheckKind::Https { path, status, receive, host }
        }
        "command" | "misc" => CheckKind::Command {
            command: c.command.clone().ok_or_else(|| format!("{k}.command: a command check needs `command`"))?,
        },
        "udp" => CheckKind::Udp {
            payload: c.payload.clone().ok_or_else(|| format!("{k}.payload: a udp check needs `payload`"))?,
            expect: c.expect.clone(),
        },
        t => return Err(format!("{k}.type: '{t}' is not one of tcp, http, https, command, udp")),
    };
    let interval = secs("interval", c.interval, 2.0)?;
    let timeout = secs("timeout", c.timeout, 1.0)?;
    Ok(CheckSpec {
        kind,
        interval,
        timeout,
        retries: c.retries.unwrap_or(2).max(1),
        rise: c.rise.unwrap_or(1).max(1),
        port: c.port,
    })
}

/// "80,443,8000-8100" -> inclusive ranges.
fn parse_port_list(s: &str) -> Option<Vec<(u16, u16)>> {
    s.split(',')
        .map(|p| {
            let p = p.trim();
            let (lo, hi) = p.split_once('-').unwrap_or((p, p));
            let (lo, hi) = (lo.trim().parse::<u16>().ok()?, hi.trim().parse::<u16>().ok()?);
            (lo <= hi).then_some((lo, hi))
        })
        .collect()
}

impl Config {
    /// The one validation of a configuration file: a start, `rvs --check` and
    /// a reload (SIGHUP, `rvsadm --reload`) all take a file through here, so
    /// none of them accepts what another refuses. What only the running
    /// system can tell (does the device exist, its MTU) is checked at start.
    pub fn load(path: &str) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        Config::parse(&text).map_err(|e| format!("{path}: {e}"))
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))?;
        let mut interfaces = Vec::new();
        for (i, r) in raw.interfaces.iter().enumerate() {
            let k = format!("interface[{i}]");
            if r.name.is_empty() || r.name.len() > 15 {
                return Err(format!("{k}.name: '{}' is not an interface name", r.name));
            }
            if interfaces.iter().any(|x: &InterfaceConfig| x.name == r.name) {
                return Err(format!("{k}.name: '{}' is listed twice", r.name));
            }
            let xdp_mode = match r.xdp_mode.as_deref().unwrap_or("auto") {
                "native" | "drv" => XdpMode::Native,
                "generic" | "skb" => XdpMode::Generic,
                "auto" => XdpMode::Auto,
                m => return Err(format!("{k}.xdp_mode: '{m}' is not one of native, generic, auto")),
            };
            let mut addresses = Vec::new();
            for (j, a) in r.addresses.iter().enumerate() {
                addresses
                    .push(parse_cidr(a).ok_or_else(|| format!("{k}.addresses[{j}]: '{a}' is not ADDRESS/PREFIX"))?);
            }
            let vips: Vec<Ipv4Addr> =
                r.vips.iter().enumerate().map(|(j, v)| addr(&format!("{k}.vips[{j}]"), v)).collect::<Result<_, _>>()?;
            if addresses.is_empty() && vips.is_empty() {
                return Err(format!(
                    "{k} ({}): no addresses and no vips: rvs could neither answer on it nor route through it",
                    r.name
                ));
            }
            if let Some(q) = &r.queues {
                if q.is_empty() {
                    return Err(format!("{k}.queues: empty (leave it out to bind every queue)"));
                }
            }
            interfaces.push(InterfaceConfig {
                name: r.name.clone(),
                xdp_mode,
                queues: r.queues.clone(),
                addresses,
                vips,
            });
        }
        if interfaces.is_empty() {
            return Err("the configuration names no [[interface]]".into());
        }
        let mut routes = Vec::new();
        for (i, r) in raw.routes.iter().enumerate() {
            let (d, l) = parse_cidr(&r.destination)
                .ok_or_else(|| format!("route[{i}].destination: '{}' is not ADDRESS/PREFIX", r.destination))?;
            let gw = addr(&format!("route[{i}].gateway"), &r.gateway)?;
            let connected = interfaces.iter().flat_map(|i| i.addresses.iter()).any(|&(a, l)| {
                let m = crate::wire::ipv4::prefix_mask(l);
                u32::from(a) & m == u32::from(gw) & m
            });
            if !connected {
                return Err(format!("route[{i}].gateway: {gw} is not in a subnet of any interface's addresses"));
            }
            routes.push((d, l, gw));
        }
        let dp = &raw.dataplane;
        let cores = dp.cores.clone().unwrap_or_default();
        if cores.len() > crate::ipvs::stats::MAX_WORKERS {
            return Err(format!("dataplane.cores: at most {} poll loops", crate::ipvs::stats::MAX_WORKERS));
        }
        let fullnat_ports = match dp.fullnat_ports {
            Some([lo, hi]) if lo >= 1 && lo <= hi => (lo, hi),
            Some(_) => return Err("dataplane.fullnat_ports: [LOW, HIGH] with 1 <= LOW <= HIGH <= 65535".into()),
            None => (1024, 65535),
        };
        let own_xdp_program = match dp.xdp_program.as_deref().unwrap_or("rvs") {
            "rvs" => true,
            "libxdp" => false,
            p => return Err(format!("dataplane.xdp_program: '{p}' is not one of rvs, libxdp")),
        };
        let announce = crate::kernel::announce::AnnounceConfig::parse(raw.announce.as_ref())?;
        let mut rules = Rules::default();
        if let Some(t) = &raw.timeouts {
            rules.timeouts =
                Timeouts { tcp: t.tcp.unwrap_or(900), tcp_fin: t.tcpfin.unwrap_or(120), udp: t.udp.unwrap_or(300) };
            if [rules.timeouts.tcp, rules.timeouts.tcp_fin, rules.timeouts.udp]
                .iter()
                .any(|&v| v == 0 || v > MAX_TIMEOUT)
            {
                return Err(format!("timeouts: each must be 1..{MAX_TIMEOUT} seconds"));
            }
        }
        for (i, m) in raw.marks.iter().enumerate() {
            let k = format!("fwmark[{i}]");
            let proto = match m.protocol.as_deref().unwrap_or("tcp") {
                "tcp" => IPPROTO_TCP,
                "udp" => IPPROTO_UDP,
                "any" => 0,
                p => return Err(format!("{k}.protocol: '{p}' is not one of tcp, udp, any")),
            };
            let (addr, prefix) = if m.destination.contains('/') {
                parse_cidr(&m.destination)
                    .ok_or_else(|| format!("{k}.destination: '{}' is not ADDRESS[/PREFIX]", m.destination))?
            } else {
                (addr(&format!("{k}.destination"), &m.destination)?, 32)
            };
            let ports = match &m.ports {
                None => vec![],
                Some(p) => parse_port_list(p).ok_or_else(|| {
                    format!("{k}.ports: '{p}' is not a list of ports and ranges like \"80,443,8000-8100\"")
                })?,
            };
            let rule = MarkRule { mark: m.mark, proto, addr, prefix, ports };
            rules.apply(&Command::AddMark(rule)).map_err(|e| format!("{k}: {e}"))?;
        }
        let mut checks = Vec::new();
        for (i, s) in raw.services.iter().enumerate() {
            let k = format!("service[{i}]");
            let key = match (&s.tcp, &s.udp, s.fwmark) {
                (Some(a), None, None) => {
                    let (addr, port) = addr_port(&format!("{k}.tcp"), a, None)?;
                    ServiceKey::Addr { proto: IPPROTO_TCP, addr, port }
                }
                (None, Some(a), None) => {
                    let (addr, port) = addr_port(&format!("{k}.udp"), a, None)?;
                    ServiceKey::Addr { proto: IPPROTO_UDP, addr, port }
                }
                (None, None, Some(m)) if m > 0 => ServiceKey::Fwmark(m),
                _ => return Err(format!("{k}: give exactly one of tcp, udp or fwmark (a mark > 0)")),
            };
            let netmask = match &s.netmask {
                Some(m) => addr(&format!("{k}.netmask"), m)?,
                None => Ipv4Addr::BROADCAST,
            };
            if let Some(p) = s.persistent {
                if p == 0 || p > MAX_TIMEOUT {
                    return Err(format!("{k}.persistent: must be 1..{MAX_TIMEOUT} seconds"));
                }
            }
            if matches!(key, ServiceKey::Addr { port: 0, .. }) && s.persistent.is_none() {
                return Err(format!("{k}: port 0 (all ports) needs persistent"));
            }
            let scheduler = s.scheduler.clone().unwrap_or_else(|| DEFAULT_SCHEDULER.into());
            // The same check and spelling as `-b`, so `-S` shows what the file says.
            let sched_flags = if s.scheduler_flags.is_empty() {
                vec![]
            } else {
                crate::ipvsadm::args::parse_sched_flags(&scheduler, &s.scheduler_flags.join(","))
                    .map_err(|e| format!("{k}.scheduler_flags: {e}"))?
            };
            let spec = ServiceSpec {
                key,
                scheduler,
                persistent: s.persistent,
                netmask,
                sched_flags,
                ops: false,
                laddrs: vec![],
            };
            rules.apply(&Command::AddService(spec)).map_err(|e| format!("{k}: {e}"))?;
            for (j, a) in s.local_addresses.iter().enumerate() {
                let k = format!("{k}.local_addresses[{j}]");
                if matches!(key, ServiceKey::Fwmark(_)) {
                    return Err(format!("{k}: firewall-mark services take no local addresses"));
                }
                rules.apply(&Command::AddLaddr(key, addr(&k, a)?)).map_err(|e| format!("{k}: {e}"))?;
            }
            let vport = match key {
                ServiceKey::Addr { port, .. } => port,
                ServiceKey::Fwmark(_) => 0,
            };
            for (j, r) in s.real.iter().enumerate() {
                let rk = format!("{k}.real[{j}]");
                let fwd = parse_method(&format!("{rk}.method"), r.method.as_deref().unwrap_or("route"))?;
                let (addr, mut port) = addr_port(&format!("{rk}.address"), &r.address, Some(vport))?;
                // As ipvsadm: DR and TUN cannot map ports.
                if matches!(fwd, FwdMethod::Route | FwdMethod::Tunnel) && !matches!(key, ServiceKey::Fwmark(_)) {
                    port = vport;
                }
                let weight = r.weight.unwrap_or(1);
                if weight > 65535 {
                    return Err(format!("{rk}.weight: must be 0..65535"));
                }
                let d = DestSpec {
                    addr,
                    port,
                    fwd,
                    weight,
                    u_threshold: r.u_threshold.unwrap_or(0),
                    l_threshold: r.l_threshold.unwrap_or(0),
                };
                rules.apply(&Command::AddDest(key, d)).map_err(|e| format!("{rk}: {e}"))?;
            }
            let fallback = match &s.fallback {
                Some(f) => {
                    let (addr, port) = addr_port(&format!("{k}.fallback"), f, Some(vport))?;
                    let fwd =
                        parse_method(&format!("{k}.fallback_method"), s.fallback_method.as_deref().unwrap_or("masq"))?;
                    Some(DestSpec { addr, port, fwd, weight: 1, u_threshold: 0, l_threshold: 0 })
                }
                None => None,
            };
            match &s.check {
                Some(c) => {
                    let check = parse_check(&format!("{k}.check"), c)?;
                    let dests =
                        rules.services.iter().find(|(x, _)| x.key == key).map(|(_, d)| d.clone()).unwrap_or_default();
                    checks.push(crate::health::spec::ServiceChecks {
                        key,
                        check,
                        quiescent: s.quiescent.unwrap_or(false),
                        fallback,
                        dests,
                    });
                }
                None if fallback.is_some() || s.quiescent.is_some() => {
                    return Err(format!("{k}: quiescent and fallback need a [service.check]"));
                }
                None => {}
            }
        }
        let state_file = raw.state.file.clone();
        let (save_on_stop, restore_on_start) =
            (raw.state.save_on_stop.unwrap_or(false), raw.state.restore_on_start.unwrap_or(false));
        if (save_on_stop || restore_on_start) && state_file.is_none() {
            return Err("state: save_on_stop and restore_on_start need state.file".into());
        }
        let ha = parse_ha(&raw.ha)?;
        let sysctl = parse_sysctls(&raw.sysctl, dp.expire_nodest_conn)?;
        Ok(Config {
            ha,
            expire_nodest_conn: sysctl.expire_nodest_conn(),
            sysctl,
            checks,
            state_file,
            save_on_stop,
            restore_on_start,
            socket: raw.admin.socket.unwrap_or_else(|| DEFAULT_SOCKET.into()),
            admin_group: raw.admin.group.clone(),
            cores,
            connections: dp.connections.unwrap_or(1 << 18).max(1),
            neighbours: dp.neighbours.unwrap_or(4096).max(16),
            arp_hold: dp.arp_hold.unwrap_or(256).max(1),
            batch: dp.batch.unwrap_or(64).clamp(1, 1024),
            frames: dp.frames.unwrap_or(4096).clamp(64, 1 << 20).next_power_of_two(),
            fullnat_ports,
            own_xdp_program,
            announce,
            interfaces,
            routes,
            rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[admin]
socket = "/tmp/x.sock"
[[interface]]
name = "d-out"
xdp_mode = "generic"
addresses = ["198.18.0.1/24"]
vips = ["198.18.0.100"]
[[interface]]
name = "d-in"
addresses = ["198.18.1.1/24"]
[[route]]
destination = "198.19.0.0/16"
gateway = "198.18.1.254"
[[service]]
tcp = "198.18.0.100:80"
scheduler = "rr"
[[service.real]]
address = "198.18.1.11:8080"
method = "masq"
weight = 3
[[service.real]]
address = "198.18.1.12"
"#;

    #[test]
    fn parses_the_example_shape() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.interfaces.len(), 2);
        assert_eq!(c.interfaces[0].xdp_mode, XdpMode::Generic);
        assert_eq!(c.interfaces[1].xdp_mode, XdpMode::Auto);
        assert_eq!(c.routes.len(), 1);
        let (svc, dests) = &c.rules.services[0];
        assert_eq!(svc.scheduler, "rr");
        assert_eq!(dests[0].port, 8080);
        assert_eq!(dests[0].weight, 3);
        assert_eq!(dests[1].fwd, FwdMethod::Route, "ipvsadm's default method");
        assert_eq!(dests[1].port, 80);
    }

    #[test]
    fn scheduler_flags_as_ipvsadms_b() {
        let svc = |sched: &str, flags: &str| {
            format!(
                "{GOOD}\n[[service]]\ntcp = \"198.18.0.100:81\"\nscheduler = \"{sched}\"\nscheduler_flags = {flags}\n"
            )
        };
        let c = Config::parse(&svc("mh", r#"["mh-port"]"#)).unwrap();
        assert_eq!(c.rules.services[1].0.sched_flags, vec!["mh-port".to_string()]);
        let c = Config::parse(&svc("sh", r#"["sh-port", "sh-fallback"]"#)).unwrap();
        assert_eq!(c.rules.services[1].0.sched_flags, vec!["sh-fallback".to_string(), "sh-port".to_string()]);
        let e = Config::parse(&svc("rr", r#"["mh-port"]"#)).unwrap_err();
        assert_eq!(e, "service[1].scheduler_flags: incompatible scheduler flag `mh-port'");
        let e = Config::parse(&svc("mh", r#"["bogus"]"#)).unwrap_err();
        assert_eq!(e, "service[1].scheduler_flags: invalid scheduler flag `bogus'");
    }

    #[test]
    fn fwmark_rules() {
        let c = Config::parse(&format!(
            "{GOOD}\n[[fwmark]]\nmark = 66\ndestination = \"198.18.0.100\"\nports = \"80,443,8000-8100\"\n"
        ))
        .unwrap();
        let m = &c.rules.marks[0];
        assert_eq!((m.mark, m.proto, m.prefix), (66, IPPROTO_TCP, 32));
        assert_eq!(m.ports, vec![(80, 80), (443, 443), (8000, 8100)]);
        let e = Config::parse(&format!(
            "{GOOD}\n[[fwmark]]\nmark = 66\ndestination = \"198.18.0.100\"\nports = \"90-80\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("fwmark[0].ports"), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::parse(&GOOD.replace("198.18.0.1/24", "198.18.0.1")).unwrap_err();
        assert!(e.contains("interface[0].addresses[0]"), "{e}");
        let e = Config::parse(&GOOD.replace("\"rr\"", "\"nope\"")).unwrap_err();
        assert!(e.contains("service[0]") && e.contains("Scheduler not found"), "{e}");
        let e = Config::parse(&GOOD.replace("198.18.1.254", "203.0.113.1")).unwrap_err();
        assert!(e.contains("route[0].gateway"), "{e}");
        let e = Config::parse(&format!("{GOOD}\nbogus = 1\n")).unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        let e = Config::parse(&GOOD.replace("method = \"masq\"", "method = \"teleport\"")).unwrap_err();
        assert!(e.contains("service[0].real[0].method"), "{e}");
    }

    #[test]
    fn empty_and_truncated_files_are_refused() {
        assert_eq!(Config::parse("").unwrap_err(), "the configuration names no [[interface]]");
        let services_only = &GOOD[GOOD.find("[[service]]").unwrap()..];
        assert_eq!(Config::parse(services_only).unwrap_err(), "the configuration names no [[interface]]");
        let cut = &GOOD[..GOOD.find("xdp_mode").unwrap()];
        let e = Config::parse(cut).unwrap_err();
        assert!(e.contains("interface[0] (d-out): no addresses and no vips"), "{e}");
    }

    #[test]
    fn ha_role_defaults_to_master_and_is_validated() {
        use crate::pipeline::role::Role;
        let c = Config::parse(GOOD).unwrap();
        let sync = crate::ipvs::sync::daemon::SyncPolicy::default();
        assert_eq!(
            c.ha,
            HaConfig { role: Role::Master, garp_master_repeat: 5, garp_master_refresh: 0, garp_master_delay: 5, sync }
        );
        let c = Config::parse(&format!(
            "{GOOD}\n[ha]\nrole = \"backup\"\ngarp_master_repeat = 3\ngarp_master_refresh = 60\n\
             garp_master_delay = 0\nsync_threshold = [2, 0]\nsync_refresh_period = 10\n"
        ))
        .unwrap();
        let sync = crate::ipvs::sync::daemon::SyncPolicy { threshold: 2, period: 0, refresh_period_ms: 10_000 };
        assert_eq!(
            c.ha,
            HaConfig { role: Role::Backup, garp_master_repeat: 3, garp_master_refresh: 60, garp_master_delay: 0, sync }
        );
        let e = Config::parse(&format!("{GOOD}\n[ha]\nsync_threshold = [50, 50]\n")).unwrap_err();
        assert!(e.contains("ha.sync_threshold"), "{e}");
        let e = Config::parse(&format!("{GOOD}\n[ha]\nrole = \"slave\"\n")).unwrap_err();
        assert_eq!(e, "ha.role: 'slave' is not master or backup");
        let e = Config::parse(&format!("{GOOD}\n[ha]\ngarp_master_repeat = 0\n")).unwrap_err();
        assert!(e.contains("ha.garp_master_repeat"), "{e}");
        let e = Config::parse(&format!("{GOOD}\n[ha]\nvrid = 1\n")).unwrap_err();
        assert!(e.contains("vrid"), "{e}");
    }
    #[test]
    fn sysctl_section_sets_ipvs_sysctls_and_refuses_unknown_names() {
        use crate::ipvs::sysctl::Sysctl;
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.sysctl, crate::ipvs::sysctl::Values::default());
        let c = Config::parse(&format!(
            "{GOOD}\n[sysctl]\nsloppy_tcp = 1\nconn_reuse_mode = 2\nschedule_icmp = true\nexpire_nodest_conn = 1\n"
        ))
        .unwrap();
        assert!(c.sysctl.sloppy_tcp() && c.sysctl.schedule_icmp() && c.expire_nodest_conn);
        assert_eq!(c.sysctl.conn_reuse_mode(), 2);
        assert_eq!(c.sysctl.get(Sysctl::SloppySctp), 0);
        let e = Config::parse(&format!("{GOOD}\n[sysctl]\nsloppy_udp = 1\n")).unwrap_err();
        assert!(e.starts_with("sysctl: unknown sysctl 'sloppy_udp'"), "{e}");
        let e = Config::parse(&format!("{GOOD}\n[sysctl]\nsloppy_tcp = 2\n")).unwrap_err();
        assert_eq!(e, "sysctl.sloppy_tcp: '2' is not an integer from 0 to 1");
        let e = Config::parse(&format!("{GOOD}\n[sysctl]\nconn_reuse_mode = \"on\"\n")).unwrap_err();
        assert!(e.starts_with("sysctl.conn_reuse_mode:"), "{e}");
        // The older [dataplane] key keeps working, alone or agreeing.
        let dp = GOOD.replace(
            "[[interface]]\nname = \"d-out\"",
            "[dataplane]\nexpire_nodest_conn = true\n[[interface]]\nname = \"d-out\"",
        );
        assert!(Config::parse(&dp).unwrap().sysctl.expire_nodest_conn());
        let e = Config::parse(&format!("{dp}\n[sysctl]\nexpire_nodest_conn = 0\n")).unwrap_err();
        assert!(e.contains("disagree"), "{e}");
    }
}
