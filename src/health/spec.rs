//! What to check on each real server, and what to do when one fails: the
//! settings ldirectord and keepalived give kernel LVS.

use crate::api::{DestSpec, ServiceKey};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    /// A TCP connect (keepalived TCP_CHECK, ldirectord checktype=connect).
    Tcp,
    /// GET `path`; up when the status is `status` and, if given, the body
    /// contains `receive` (ldirectord request/receive, keepalived HTTP_GET).
    Http { path: String, status: u16, receive: Option<String>, host: Option<String> },
    /// The same over TLS; the certificate is not verified (as ldirectord).
    Https { path: String, status: u16, receive: Option<String>, host: Option<String> },
    /// `sh -c COMMAND` with RVS_VIP, RVS_VPORT, RVS_RIP, RVS_RPORT set; up
    /// when it exits 0 within the timeout (keepalived MISC_CHECK).
    Command { command: String },
    /// Send `payload`, up when a reply arrives (containing `expect`, if given).
    Udp { payload: String, expect: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSpec {
    pub kind: CheckKind,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures before a server is taken out.
    pub retries: u32,
    /// Consecutive successes before it is put back.
    pub rise: u32,
    /// Port to probe; `None`: the real server's own port (the service's for port 0).
    pub port: Option<u16>,
}

/// The checks of one service, built from its `[service.check]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceChecks {
    pub key: ServiceKey,
    pub check: CheckSpec,
    /// true: a failed server keeps its place at weight 0, so its connections
    /// finish (ldirectord quiescent=yes); false: it is removed.
    pub quiescent: bool,
    /// The sorry server that takes new connections while every real server is down.
    pub fallback: Option<DestSpec>,
    /// The real servers as configured (weights to restore on recovery).
    pub dests: Vec<DestSpec>,
}

/// One real server's check state, for `rvsadm --checks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckView {
    pub service: ServiceKey,
    pub addr: std::net::Ipv4Addr,
    pub port: u16,
    pub kind: String,
    pub up: bool,
    pub failures: u32,
    pub successes: u32,
    pub last_error: Option<String>,
    /// Seconds since the last transition.
    pub since: u64,
}
