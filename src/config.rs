//! The TOML configuration (`config.example` documents every key): a short
//! driver that hands each section to the module that owns it, as DPVS's
//! `install_*_keywords` do, and keeps one error format (`key: reason`).
//!
//! | section | parsed by |
//! |---|---|
//! | `[admin]` | `admin/config.rs` |
//! | `[dataplane]` | `afxdp/dataplane_config.rs` |
//! | `[[interface]]` | `afxdp/interface_config.rs` |
//! | `[[route]]` | `net/route_config.rs` |
//! | `[timeouts]`, `[[fwmark]]`, `[[service]]` | `control/rules_config.rs` |
//! | `[service.check]`, `quiescent`, `fallback` | `health/config.rs` |
//! | `[ha]` | `control/ha_config.rs` |
//! | `[sysctl]` | `ipvs/sysctl.rs` |
//! | `[announce]` | `kernel/announce.rs` |
//! | `[log]` | `logging/config.rs` |
//! | `[metrics]` | `metrics/config.rs` |
//! | `[state]` | here (the daemon's save and restore) |
//! | `[console]` | `console/config.rs` |
//!
//! Parsing is strict: unknown keys are refused, and every error names the
//! key and the reason, so a bad file never half-starts a director.

use crate::admin::config::{AdminConfig, RawAdmin};
use crate::afxdp::dataplane_config::{DataplaneConfig, RawDataplane};
use crate::afxdp::interface_config::{parse_interfaces, RawInterface};
use crate::console::{ConsoleConfig, RawConsole};
use crate::control::reload::{FileRules, TimeoutKeys};
use crate::control::rules_config::{
    add_mark, add_service, named_timeouts, parse_timeouts, RawMark, RawService, RawTimeouts,
};
use crate::control::Rules;
use crate::health::config::{service_checks, RawCheck};
use crate::ipvs::sysctl::RawSysctls;
use crate::kernel::announce::{AnnounceConfig, RawAnnounce};
use crate::logging::config::{LogConfig, RawLog};
use crate::metrics::config::{MetricsConfig, RawMetrics};
use crate::net::route_config::{parse_routes, parse_routes6, RawRoute};
use serde::Deserialize;
use std::net::Ipv4Addr;

pub use crate::admin::config::DEFAULT_SOCKET;
pub use crate::afxdp::interface_config::InterfaceConfig;
pub use crate::afxdp::XdpMode;
pub use crate::control::ha_config::HaConfig;

/// The file: each section in its owner's raw form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    dataplane: RawDataplane,
    announce: Option<RawAnnounce>,
    metrics: Option<RawMetrics>,
    console: Option<RawConsole>,
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
    services: Vec<RawService<RawCheck>>,
    #[serde(default)]
    ha: crate::control::ha_config::RawHa,
    #[serde(default)]
    sysctl: RawSysctls,
    #[serde(default)]
    log: RawLog,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    file: Option<String>,
    save_on_stop: Option<bool>,
    restore_on_start: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub socket: String,
    /// A group whose members may use the admin socket beside root.
    pub admin_group: Option<String>,
    /// `[admin] proc_dir`: where the /proc/net/ip_vs* texts are kept; None: nowhere.
    pub proc_dir: Option<String>,
    /// `[dataplane]`: the poll loops, their sockets and table sizes.
    pub dataplane: DataplaneConfig,
    /// `[announce]`: VIP routes for a BGP daemon; None: no announcements.
    pub announce: Option<AnnounceConfig>,
    /// `[metrics]`: the Prometheus endpoint; None: no endpoint.
    pub metrics: Option<MetricsConfig>,
    /// `[console]`: the web console; None: off.
    pub console: Option<ConsoleConfig>,
    pub interfaces: Vec<InterfaceConfig>,
    /// (destination, prefix length, gateway)
    pub routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
    /// IPVS's sysctls (`[sysctl]`, and `[dataplane] expire_nodest_conn`).
    pub sysctl: crate::ipvs::sysctl::Values,
    /// Health checks, per service that has a [service.check].
    pub checks: Vec<crate::health::spec::ServiceChecks>,
    /// Where `-S` output is kept across restarts (ipvsadm.service's
    /// /etc/sysconfig/ipvsadm), and when it is written and read.
    pub state_file: Option<String>,
    pub save_on_stop: bool,
    pub restore_on_start: bool,
    /// The services and timeouts, as rules.
    pub rules: Rules,
    /// The `[timeouts]` keys the file writes.
    pub timeouts_named: TimeoutKeys,
    pub ha: HaConfig,
    /// `[log]`: the level and where records go.
    pub log: LogConfig,
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

    /// Each section to its owner, in the order their errors are reported.
    pub fn parse(text: &str) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))?;
        let mut interfaces = parse_interfaces(&raw.interfaces)?;
        let connected: Vec<(Ipv4Addr, u8)> = interfaces.iter().flat_map(|i| i.addresses.iter().copied()).collect();
        let routes = parse_routes(&raw.routes, &connected)?;
        let connected6: Vec<_> = interfaces.iter().map(|i| i.addresses6.clone()).collect();
        for (k, r) in parse_routes6(&raw.routes, &connected6)? {
            interfaces[k].routes6.push(r);
        }
        let dataplane = DataplaneConfig::parse(&raw.dataplane)?;
        let announce = AnnounceConfig::parse(raw.announce.as_ref())?;
        let metrics = MetricsConfig::parse(raw.metrics.as_ref())?;
        let console = ConsoleConfig::parse(raw.console.as_ref())?;
        let mut rules = Rules { timeouts: parse_timeouts(raw.timeouts.as_ref())?, ..Rules::default() };
        for (i, m) in raw.marks.iter().enumerate() {
            add_mark(&mut rules, i, m)?;
        }
        let mut checks = Vec::new();
        for (i, s) in raw.services.iter().enumerate() {
            let k = format!("service[{i}]");
            let (key, vport) = add_service(&mut rules, &k, s)?;
            checks.extend(service_checks(&k, s, key, vport, &rules)?);
        }
        let state_file = raw.state.file.clone();
        let (save_on_stop, restore_on_start) =
            (raw.state.save_on_stop.unwrap_or(false), raw.state.restore_on_start.unwrap_or(false));
        if (save_on_stop || restore_on_start) && state_file.is_none() {
            return Err("state: save_on_stop and restore_on_start need state.file".into());
        }
        let ha = HaConfig::parse(&raw.ha)?;
        let sysctl = crate::ipvs::sysctl::parse_section(&raw.sysctl, dataplane.expire_nodest_conn)?;
        let admin = AdminConfig::parse(&raw.admin);
        let log = LogConfig::parse(&raw.log)?;
        Ok(Config {
            socket: admin.socket,
            admin_group: admin.group,
            proc_dir: admin.proc_dir,
            dataplane,
            announce,
            metrics,
            console,
            interfaces,
            routes,
            sysctl,
            checks,
            state_file,
            save_on_stop,
            restore_on_start,
            rules,
            timeouts_named: named_timeouts(raw.timeouts.as_ref()),
            ha,
            log,
        })
    }

    /// The part of the running rules this file owns, for a reload (`Control::reload`).
    pub fn file_rules(&self) -> FileRules {
        FileRules {
            rules: self.rules.clone(),
            timeouts_named: self.timeouts_named,
            fallbacks: self.checks.iter().filter_map(|c| Some((c.key, c.fallback.clone()?))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::*;

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
    fn errors_name_the_key() {
        let e = Config::parse(&GOOD.replace("198.18.0.1/24", "198.18.0.1")).unwrap_err();
        assert!(e.contains("interface[0].addresses[0]"), "{e}");
        let e = Config::parse(&GOOD.replace("\"rr\"", "\"nope\"")).unwrap_err();
        assert!(e.contains("service[0]") && e.contains("Scheduler or persistence engine not found"), "{e}");
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
    fn config_example_parses() {
        let c = Config::parse(include_str!("../config.example")).unwrap();
        assert!(!c.interfaces.is_empty() && !c.rules.services.is_empty());
    }

    /// Every default comes from the module that owns it: nothing to repeat here.
    #[test]
    fn defaults_are_the_owners() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(format!("{:?}", c.dataplane.limits()), format!("{:?}", crate::pipeline::Limits::default()));
        assert_eq!(
            (c.dataplane.batch, c.dataplane.frames),
            (crate::afxdp::DEFAULT_BATCH, crate::afxdp::DEFAULT_FRAMES)
        );
        assert_eq!(c.rules.timeouts, Timeouts::default());
        assert_eq!(c.sysctl, crate::ipvs::sysctl::Values::default());
        assert_eq!(c.ha.sync, crate::ipvs::sync::daemon::SyncPolicy::default());
        assert_eq!(c.socket, "/tmp/x.sock");
        assert_eq!(Config::parse(&GOOD.replace("socket = \"/tmp/x.sock\"", "")).unwrap().socket, DEFAULT_SOCKET);
        let svc = format!("{GOOD}\n[[service]]\nfwmark = 1\n");
        assert_eq!(Config::parse(&svc).unwrap().rules.services[1].0.scheduler, DEFAULT_SCHEDULER);
    }

    /// The driver keeps each section's own error text, in the file's order of checks.
    #[test]
    fn section_errors_come_through_unchanged() {
        let e = Config::parse(&format!("{GOOD}\n[ha]\nrole = \"slave\"\n")).unwrap_err();
        assert_eq!(e, "ha.role: 'slave' is not master or backup");
        let e = Config::parse(&format!("{GOOD}\n[sysctl]\nsloppy_tcp = 2\n")).unwrap_err();
        assert_eq!(e, "sysctl.sloppy_tcp: '2' is not an integer from 0 to 1");
        let e = Config::parse(&format!("{GOOD}\n[dataplane]\nxdp_program = \"x\"\n")).unwrap_err();
        assert_eq!(e, "dataplane.xdp_program: 'x' is not one of rvs, libxdp");
        let e = Config::parse(&format!("{GOOD}\n[announce]\ntable = 254\n")).unwrap_err();
        assert!(e.starts_with("announce.table: 254"), "{e}");
        let e = Config::parse(&format!("{GOOD}\n[metrics]\nlisten = \"nowhere\"\n")).unwrap_err();
        assert!(e.starts_with("metrics.listen: 'nowhere' is not ADDRESS:PORT"), "{e}");
        let e = Config::parse(&format!("{GOOD}\n[metrics]\nport = 1\n")).unwrap_err();
        assert!(e.contains("TOML parse error") && e.contains("port"), "{e}");
        let e = Config::parse(&format!("{GOOD}\n[timeouts]\ntcp = 0\n")).unwrap_err();
        assert_eq!(e, format!("timeouts: each must be 1..{MAX_TIMEOUT} seconds"));
        let e = Config::parse(&format!("{GOOD}\n[state]\nsave_on_stop = true\n")).unwrap_err();
        assert_eq!(e, "state: save_on_stop and restore_on_start need state.file");
        let e = Config::parse(&format!("{GOOD}\n[service.check]\ntype = \"ping\"\n")).unwrap_err();
        assert_eq!(e, "service[0].check.type: 'ping' is not one of tcp, http, https, command, udp, dns, smtp");
        let e = Config::parse(&format!("{GOOD}\n[ha]\nvrid = 1\n")).unwrap_err();
        assert!(e.contains("TOML parse error") && e.contains("vrid"), "{e}");
    }
}
