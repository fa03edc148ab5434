//! `[service.check]` and the keys of a `[[service]]` that act on its result
//! (`quiescent`, `fallback`, `fallback_method`), as ldirectord and
//! keepalived spell them; the defaults are the `DEFAULT_*` constants here.

use super::spec::{CheckKind, CheckSpec, HttpCheck, HttpUrl, ServiceChecks};
use crate::api::{DestSpec, FwdMethod, ServiceKey, DEFAULT_WEIGHT};
use crate::control::rules_config::{parse_method, RawService};
use crate::control::Rules;
use crate::net::config_addr::ip_addr_port;
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
    #[serde(alias = "connect_port")]
    port: Option<u16>,
    request: Option<String>,
    receive: Option<String>,
    digest: Option<String>,
    status: Option<u16>,
    url: Option<Vec<RawUrl>>,
    httpmethod: Option<String>,
    virtualhost: Option<String>,
    command: Option<String>,
    misc_dynamic: Option<bool>,
    payload: Option<String>,
    expect: Option<String>,
    delay_before_retry: Option<f64>,
    notify_up: Option<String>,
    notify_down: Option<String>,
}

/// `[[service.check.url]]`: keepalived's `url { path; digest; status_code }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUrl {
    path: Option<String>,
    #[serde(alias = "status_code")]
    status: Option<u16>,
    receive: Option<String>,
    digest: Option<String>,
}

/// ldirectord sends `request = "index.html"` as "/index.html".
fn http_path(p: Option<&str>) -> String {
    match p {
        None | Some("") => DEFAULT_HTTP_PATH.into(),
        Some(p) if p.starts_with('/') => p.into(),
        Some(p) => format!("/{p}"),
    }
}

fn http_url(
    k: &str,
    path: Option<&str>,
    status: Option<u16>,
    receive: Option<&str>,
    digest: Option<&str>,
) -> Result<HttpUrl, String> {
    if let Some(r) = receive {
        regex::bytes::Regex::new(r).map_err(|e| format!("{k}.receive: {r:?} is not a regular expression: {e}"))?;
    }
    let digest = match digest {
        Some(d) if d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()) => Some(d.to_ascii_lowercase()),
        Some(d) => return Err(format!("{k}.digest: {d:?} is not an MD5 digest (32 hex digits)")),
        None => None,
    };
    Ok(HttpUrl {
        path: http_path(path),
        status: status.unwrap_or(DEFAULT_HTTP_STATUS),
        receive: receive.map(Into::into),
        digest,
    })
}

fn http_check(k: &str, c: &RawCheck) -> Result<HttpCheck, String> {
    let head = match c.httpmethod.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("GET") => false,
        Some("HEAD") => true,
        Some(m) => return Err(format!("{k}.httpmethod: '{m}' is not GET or HEAD")),
    };
    let urls = match &c.url {
        Some(urls) => {
            if c.request.is_some() || c.receive.is_some() || c.digest.is_some() || c.status.is_some() {
                return Err(format!("{k}: give request/receive/digest/status or [[url]] blocks, not both"));
            }
            if urls.is_empty() {
                return Err(format!("{k}.url: needs at least one url"));
            }
            let mut v = Vec::with_capacity(urls.len());
            for (i, u) in urls.iter().enumerate() {
                let ku = format!("{k}.url[{i}]");
                v.push(http_url(&ku, u.path.as_deref(), u.status, u.receive.as_deref(), u.digest.as_deref())?);
            }
            v
        }
        None => vec![http_url(k, c.request.as_deref(), c.status, c.receive.as_deref(), c.digest.as_deref())?],
    };
    if head && urls.iter().any(|u| u.receive.is_some() || u.digest.is_some()) {
        return Err(format!("{k}: a HEAD request has no body for receive or digest"));
    }
    Ok(HttpCheck { urls, host: c.virtualhost.clone(), head })
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
    let kind = match c.kind.as_str() {
        "tcp" | "connect" => CheckKind::Tcp,
        "http" => CheckKind::Http(http_check(k, c)?),
        "https" => CheckKind::Https(http_check(k, c)?),
        "command" | "misc" => CheckKind::Command {
            command: c.command.clone().ok_or_else(|| format!("{k}.command: a command check needs `command`"))?,
            dynamic: c.misc_dynamic.unwrap_or(false),
        },
        "udp" => CheckKind::Udp {
            payload: c.payload.clone().ok_or_else(|| format!("{k}.payload: a udp check needs `payload`"))?,
            expect: c.expect.clone(),
        },
        // ldirectord: `request` is the name asked for, `receive` the address expected.
        "dns" => CheckKind::Dns {
            name: c.request.clone().ok_or_else(|| format!("{k}.request: a dns check needs the name to ask for"))?,
            expect: match &c.receive {
                Some(a) => Some(a.parse().map_err(|_| format!("{k}.receive: '{a}' is not an IPv4 address"))?),
                None => None,
            },
        },
        "smtp" => CheckKind::Smtp,
        t => return Err(format!("{k}.type: '{t}' is not one of tcp, http, https, command, udp, dns, smtp")),
    };
    if c.misc_dynamic.is_some() && !matches!(kind, CheckKind::Command { .. }) {
        return Err(format!("{k}.misc_dynamic: only a command check sets weights"));
    }
    let interval = secs("interval", c.interval, DEFAULT_INTERVAL_S)?;
    let timeout = secs("timeout", c.timeout, DEFAULT_TIMEOUT_S)?;
    let delay_before_retry = match c.delay_before_retry {
        Some(v) => Some(secs("delay_before_retry", Some(v), v)?),
        None => None,
    };
    Ok(CheckSpec {
        kind,
        interval,
        timeout,
        retries: c.retries.unwrap_or(DEFAULT_RETRIES).max(1),
        rise: c.rise.unwrap_or(DEFAULT_RISE).max(1),
        port: c.port,
        delay_before_retry,
        notify_up: c.notify_up.clone(),
        notify_down: c.notify_down.clone(),
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
            let (addr, port) = ip_addr_port(&format!("{k}.fallback"), f, Some(vport))?;
            let fwd = match &s.fallback_method {
                Some(m) => parse_method(&format!("{k}.fallback_method"), m)?,
                None => DEFAULT_FALLBACK_METHOD,
            };
            Some(DestSpec {
                addr,
                port,
                fwd,
                weight: DEFAULT_WEIGHT,
                u_threshold: 0,
                l_threshold: 0,
                tun: Default::default(),
            })
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
                kind: CheckKind::Http(HttpCheck {
                    urls: vec![HttpUrl { path: "/".into(), status: 200, receive: None, digest: None }],
                    host: None,
                    head: false,
                }),
                interval: Duration::from_secs(2),
                timeout: Duration::from_secs(1),
                retries: 2,
                rise: 1,
                port: None,
                delay_before_retry: None,
                notify_up: None,
                notify_down: None,
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

    #[test]
    fn ldirectord_and_keepalived_keys() {
        let svc = "tcp = \"198.18.0.100:80\"\n[[real]]\naddress = \"198.18.1.11\"\n";
        let spec = |extra: &str| checks(&format!("{svc}[check]\n{extra}")).map(|c| c.unwrap().check);
        // A path without its "/" gets one; receive is a regular expression; HEAD.
        let c = spec("type = \"http\"\nrequest = \"health\"\nreceive = \"^rs[0-9]+$\"\n").unwrap();
        let CheckKind::Http(h) = c.kind else { panic!("not http") };
        assert_eq!(
            (h.urls[0].path.as_str(), h.urls[0].receive.as_deref(), h.head),
            ("/health", Some("^rs[0-9]+$"), false)
        );
        let c = spec("type = \"http\"\nhttpmethod = \"head\"\n").unwrap();
        assert!(matches!(c.kind, CheckKind::Http(HttpCheck { head: true, .. })));
        let e = spec("type = \"http\"\nhttpmethod = \"HEAD\"\nreceive = \"x\"\n").unwrap_err();
        assert_eq!(e, "service[0].check: a HEAD request has no body for receive or digest");
        let e = spec("type = \"http\"\nreceive = \"rs(\"\n").unwrap_err();
        assert!(e.starts_with("service[0].check.receive: \"rs(\" is not a regular expression"), "{e}");
        // keepalived: several url blocks, digest, connect_port, delay_before_retry, notify.
        let c = spec(
            "type = \"http\"\nconnect_port = 8080\ndelay_before_retry = 0.5\nnotify_up = \"echo up\"\n\
             notify_down = \"echo down\"\n[[check.url]]\npath = \"a\"\ndigest = \"D41D8CD98F00B204E9800998ECF8427E\"\n\
             [[check.url]]\npath = \"/b\"\nstatus_code = 204\n",
        )
        .unwrap();
        assert_eq!((c.port, c.delay_before_retry), (Some(8080), Some(Duration::from_millis(500))));
        assert_eq!((c.notify_up.as_deref(), c.notify_down.as_deref()), (Some("echo up"), Some("echo down")));
        let CheckKind::Http(h) = c.kind else { panic!("not http") };
        assert_eq!(
            h.urls,
            vec![
                HttpUrl {
                    path: "/a".into(),
                    status: 200,
                    receive: None,
                    digest: Some("d41d8cd98f00b204e9800998ecf8427e".into())
                },
                HttpUrl { path: "/b".into(), status: 204, receive: None, digest: None },
            ]
        );
        let e = spec("type = \"http\"\ndigest = \"abc\"\n").unwrap_err();
        assert_eq!(e, "service[0].check.digest: \"abc\" is not an MD5 digest (32 hex digits)");
        let e = spec("type = \"http\"\nrequest = \"/\"\n[[check.url]]\npath = \"/\"\n").unwrap_err();
        assert_eq!(e, "service[0].check: give request/receive/digest/status or [[url]] blocks, not both");
        // misc_dynamic, dns, smtp.
        let c = spec("type = \"misc\"\ncommand = \"true\"\nmisc_dynamic = true\n").unwrap();
        assert_eq!(c.kind, CheckKind::Command { command: "true".into(), dynamic: true });
        let e = spec("type = \"tcp\"\nmisc_dynamic = true\n").unwrap_err();
        assert_eq!(e, "service[0].check.misc_dynamic: only a command check sets weights");
        let c = spec("type = \"dns\"\nrequest = \"www.example.com\"\nreceive = \"198.18.1.11\"\n").unwrap();
        assert_eq!(
            c.kind,
            CheckKind::Dns { name: "www.example.com".into(), expect: Some("198.18.1.11".parse().unwrap()) }
        );
        let e = spec("type = \"dns\"\nrequest = \"a\"\nreceive = \"x\"\n").unwrap_err();
        assert_eq!(e, "service[0].check.receive: 'x' is not an IPv4 address");
        assert_eq!(spec("type = \"smtp\"\n").unwrap().kind, CheckKind::Smtp);
    }
}
