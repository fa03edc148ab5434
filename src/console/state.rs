//! What the page shows, as the JSON `/api/state` answers: every service and real server with
//! the figures of `ipvsadm -Ln` (weight, forwarding method, ActiveConn, InActConn) and of
//! `ipvsadm -Ln --rate` (CPS, InPPS, OutPPS, InBPS, OutBPS), each real server's health check,
//! the HA role and the sync daemons. All of it read through the admin socket's own query side.

use super::drain::Drains;
use crate::api::{RateSnapshot, ServiceKey, ServiceView};
use crate::health::spec::CheckView;
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Instant;

#[derive(Debug, Serialize)]
pub struct State {
    pub role: String,
    /// `ipvsadm -L --daemon`'s lines; none when no sync daemon runs.
    pub sync: Vec<String>,
    pub services: Vec<Service>,
}

#[derive(Debug, Serialize)]
pub struct Service {
    /// How ipvsadm names it on a command line ("-t 198.18.0.100:80", "-f 5 -6"): what the
    /// page sends back to change one of its real servers.
    pub id: String,
    /// -Ln's first column: TCP, UDP, SCTP, FWM.
    pub proto: &'static str,
    /// -Ln's second: "198.18.0.100:80", "[2001:db8::10]:80", "5", "5 IPv6".
    pub addr: String,
    pub scheduler: String,
    pub flags: Vec<String>,
    pub persistent: Option<u32>,
    pub rate: RateSnapshot,
    pub servers: Vec<Server>,
}

#[derive(Debug, Serialize)]
pub struct Server {
    pub addr: String,
    /// -Ln's Forward column: Masq, Route, Tunnel, FullNat, Local.
    pub forward: &'static str,
    pub weight: u32,
    pub active: u32,
    pub inactive: u32,
    pub rate: RateSnapshot,
    /// None: no health check watches this server.
    pub health: Option<Health>,
    pub drain: Option<DrainState>,
}

#[derive(Debug, Serialize)]
pub struct Health {
    pub up: bool,
    pub kind: String,
    pub failures: u32,
    pub since: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct DrainState {
    /// The weight before the drain, for the page's "restore".
    pub was: u32,
    pub seconds: u64,
    /// No active connection left: the server may be taken away.
    pub done: bool,
}

/// How ipvsadm names a service in its options (`-t`, `-u`, `--sctp-service`, `-f`).
pub fn service_option(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            let opt = match *proto {
                IPPROTO_TCP => "-t",
                IPPROTO_UDP => "-u",
                IPPROTO_SCTP => "--sctp-service",
                _ => "?",
            };
            format!("{opt} {}", SocketAddr::new(*addr, *port))
        }
        ServiceKey::Fwmark(m) => format!("-f {m}"),
        ServiceKey::Fwmark6(m) => format!("-f {m} -6"),
    }
}

fn service_columns(key: &ServiceKey) -> (&'static str, String) {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            let p = match *proto {
                IPPROTO_TCP => "TCP",
                IPPROTO_UDP => "UDP",
                IPPROTO_SCTP => "SCTP",
                _ => "?",
            };
            (p, SocketAddr::new(*addr, *port).to_string())
        }
        ServiceKey::Fwmark(m) => ("FWM", m.to_string()),
        ServiceKey::Fwmark6(m) => ("FWM", format!("{m} IPv6")),
    }
}

/// The page's order: services and servers by address, as `-Ln` sorts them.
fn order(key: &ServiceKey) -> (u8, u8, u128, u16, u32) {
    let addr = |a: std::net::IpAddr| match a {
        std::net::IpAddr::V4(v) => u128::from(u32::from(v)),
        std::net::IpAddr::V6(v) => u128::from(v),
    };
    match *key {
        ServiceKey::Addr { proto, addr: a, port } => (0, proto, addr(a), port, 0),
        ServiceKey::Fwmark(m) => (1, 0, 0, 0, m),
        ServiceKey::Fwmark6(m) => (2, 0, 0, 0, m),
    }
}

pub fn build(
    views: &[ServiceView],
    checks: &[CheckView],
    role: String,
    sync: &str,
    drains: &mut Drains,
    now: Instant,
) -> State {
    let mut services: Vec<&ServiceView> = views.iter().collect();
    services.sort_by_key(|s| order(&s.spec.key));
    let services = services
        .into_iter()
        .map(|sv| {
            let id = service_option(&sv.spec.key);
            let (proto, addr) = service_columns(&sv.spec.key);
            let mut dests: Vec<_> = sv.dests.iter().collect();
            dests.sort_by_key(|d| (d.spec.addr, d.spec.port));
            let servers = dests
                .into_iter()
                .map(|d| {
                    let saddr = SocketAddr::new(d.spec.addr, d.spec.port);
                    let check = checks
                        .iter()
                        .find(|c| c.service == sv.spec.key && c.addr == d.spec.addr && c.port == d.spec.port);
                    Server {
                        addr: saddr.to_string(),
                        forward: if d.local { "Local" } else { d.spec.fwd.list_name() },
                        weight: d.spec.weight,
                        active: d.active_conns,
                        inactive: d.inact_conns,
                        rate: d.rate,
                        health: check.map(|c| Health {
                            up: c.up,
                            kind: c.kind.clone(),
                            failures: c.failures,
                            since: c.since,
                            last_error: c.last_error.clone(),
                        }),
                        drain: drains.state(&id, &saddr.to_string(), d.spec.weight, d.active_conns, now),
                    }
                })
                .collect();
            Service {
                id,
                proto,
                addr,
                scheduler: sv.spec.scheduler.clone(),
                flags: sv.spec.sched_flags.clone(),
                persistent: sv.spec.persistent,
                rate: sv.rate,
                servers,
            }
        })
        .collect();
    drains.forget_missing(views);
    State { role, sync: sync.lines().map(String::from).collect(), services }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::exec::{execute, tests::NoLoops};
    use crate::admin::protocol::Request;
    use crate::control::Control;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_checked_server_shows_its_check_and_the_others_none() {
        let ctl = Mutex::new(Control::new(Arc::new(crate::pipeline::Shared::new())));
        for cmd in [
            "-A -t 198.18.0.100:80 -s wlc",
            "-a -t 198.18.0.100:80 -r 198.18.1.12:80 -m",
            "-a -t 198.18.0.100:80 -r 198.18.1.11:80 -m",
        ] {
            let argv = cmd.split(' ').map(String::from).collect();
            assert_eq!(execute(&ctl, &NoLoops, &Request { argv, stdin: None }).code, 0, "{cmd}");
        }
        let mut views = ctl.lock().unwrap().views();
        let key = views[0].spec.key;
        for d in &mut views[0].dests {
            d.rate = RateSnapshot { cps: 3, inpps: 40, outpps: 30, inbps: 4000, outbps: 90000 };
        }
        let down = CheckView {
            service: key,
            addr: "198.18.1.11".parse().unwrap(),
            port: 80,
            kind: "http".into(),
            up: false,
            failures: 3,
            successes: 0,
            last_error: Some("connection refused".into()),
            since: 7,
            transitions: 1,
        };
        let s = build(&views, &[down], "backup".into(), "", &mut Drains::default(), Instant::now());
        let servers = &s.services[0].servers;
        assert_eq!(servers[0].addr, "198.18.1.11:80", "sorted as -Ln sorts");
        let h = servers[0].health.as_ref().unwrap();
        assert_eq!((h.up, h.kind.as_str(), h.last_error.as_deref()), (false, "http", Some("connection refused")));
        assert!(servers[1].health.is_none());
        assert_eq!(servers[1].rate.outbps, 90000, "-Ln --rate's figures");
        assert_eq!((s.role.as_str(), s.services[0].id.as_str()), ("backup", "-t 198.18.0.100:80"));
    }
}
