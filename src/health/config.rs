//! `[service.check]` and the keys of a `[[service]]` that act on its result
//! (`quiescent`, `fallback`, `fallback_method`), as ldirectord and
//! keepalived spell them; the defaults are the `DEFAULT_*` constants here.

use super::spec::{CheckKind, CheckSpec, ServiceChecks};
use crate::api::{DestSpec, FwdMethod, ServiceKey, DEFAULT_WEIGHT};
use crate::control::rules_config::{parse_method, RawService};
use crate::control::Rules;
use crate::net::config_addr::addr_port;
use serde::Deserialize;
use std::time::Duration;

/// Seconds between probes of one real server.
pub const DEFAULT_INTERVAL_S: f64 = 2.0;
/// Seconds a probe may take.
pub const DEFAULT_TIMEOUT_S: f64 = 1.0;
/// Consecutive failures before a server is taken out.
pub const DEFAULT_RETRIES: u32 = 2;
/// Consecutive successes before it is put back.
pub const DEFAULT_RISE: u32 = 1;
/// What an http(s) check asks for and expects.
pub const DEFAULT_HTTP_PATH: &str = "/";
pub const DEFAULT_HTTP_STATUS: u16 = 200;
/// How the sorry server is reached.
pub const DEFAULT_FALLBACK_METHOD: FwdMethod = FwdMethod::Masq;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
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

/// `k` is the table's key, e.g. "service[0].check".
pub fn parse_check(k: &str, c: &RawCheck) -> Result<CheckSpec, String> {
    let secs = |name: &str, v: Option<f64>, default: f64| -> Result<Duration, String> {
        let v = v.unwrap_or(default);
        if !(0.01..=3600.0).contains(&v) {
            return Err(format!("{k}.{name}: {v} is not 0.01..3600 seconds"));
        }
        Ok(Duration::from_secs_f64(v))
    };
    let http = |c: &RawCheck| {
        (
            c.request.clone().unwrap_or_else(|| DEFAULT_HTTP_PATH.into()),
            c.status.unwrap_or(DEFAULT_HTTP_STATUS),
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
    let interval = secs("interval", c.interval, DEFAULT_INTERVAL_S)?;
    let timeout = secs("timeout", c.timeout, DEFAULT_TIMEOUT_S)?;
    Ok(CheckSpec {
        kind,
        interval,
        timeout,
        retries: c.retries.unwrap_or(DEFAULT_RETRIES).max(1),
        rise: c.rise.unwrap_or(DEFAULT_RISE).max(1),
        port: c.port,
    })
}

/// The checks of `[[service]]` `k`, already added to `rules` as `key` with
/// virtual port `vport`; None when it has no `[service.check]`.
pub fn service_checks(
    k: &str,
    s: &RawService<RawCheck>,
    key: ServiceKey,
    vport: u16,
    rules: &Rules,
) -> Result<Option<ServiceChecks>, String> {
    let fallback = match &s.fallback {
        Some(f) => {
            let (addr, port) = addr_port(&format!("{k}.fallback"), f, Some(vport))?;
            let fwd = match &s.fallback_method {
                Some(m) => parse_method(&format!("{k}.fallback_method"), m)?,
                None => DEFAULT_FALLBACK_METHOD,
            };
            Some(DestSpec { addr, port, fwd, weight: DEFAULT_WEIGHT, u_threshold: 0, l_threshold: 0 })
        }
        None => None,
    };
    let Some(c) = &s.check else {
        if fallback.is_some() || s.quiescent.is_some() {
            return Err(format!("{k}: quiescent and fallback need a [service.check]"));
        }
        return Ok(None);
    };
    let check = parse_check(&format!("{k}.check"), c)?;
    let dests = rules.services.iter().find(|(x, _)| x.key == key).map(|(_, d)| d.clone()).unwrap_or_default();
    Ok(Some(ServiceChecks { key, check, quiescent: s.quiescent.unwrap_or(false), fallback, dests }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::rules_config::add_service;

    fn checks(text: &str) -> Result<Option<ServiceChecks>, String> {
        let raw: RawService<RawCheck> = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut rules = Rules::default();
        let (key, vport) = add_service(&mut rules, "service[0]", &raw)?;
        service_checks("service[0]", &raw, key, vport, &rules)
    }

    #[test]
    fn defaults_and_errors() {
        let svc = "tcp = \"198.18.0.100:80\"\n[[real]]\naddress = \"198.18.1.11\"\n";
        assert_eq!(checks(svc), Ok(None));
        let c = checks(&format!("{svc}[check]\ntype = \"http\"\n")).unwrap().unwrap();
        assert_eq!(
            c.check,
            CheckSpec {
                kind: CheckKind::Http { path: "/".into(), status: 200, receive: None, host: None },
                interval: Duration::from_secs(2),
                timeout: Duration::from_secs(1),
                retries: 2,
                rise: 1,
                port: None,
            }
        );
        assert_eq!((c.dests.len(), c.quiescent, c.fallback), (1, false, None));
        let c = checks(&format!("fallback = \"198.18.1.99\"\nquiescent = true\n{svc}[check]\ntype = \"tcp\"\n"))
            .unwrap()
            .unwrap();
        let f = c.fallback.unwrap();
        assert_eq!((f.port, f.fwd, f.weight, c.quiescent), (80, DEFAULT_FALLBACK_METHOD, DEFAULT_WEIGHT, true));
        let e = checks(&format!("{svc}[check]\ntype = \"tcp\"\ninterval = 0\n")).unwrap_err();
        assert_eq!(e, "service[0].check.interval: 0 is not 0.01..3600 seconds");
        let e = checks(&format!("{svc}[check]\ntype = \"udp\"\n")).unwrap_err();
        assert_eq!(e, "service[0].check.payload: a udp check needs `payload`");
        let e = checks(&format!("quiescent = false\n{svc}")).unwrap_err();
        assert_eq!(e, "service[0]: quiescent and fallback need a [service.check]");
    }
}
