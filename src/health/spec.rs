//! What to check on each real server, and what to do when one fails: the
//! settings ldirectord and keepalived give kernel LVS.

use crate::api::{DestSpec, ServiceKey};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One URL an http(s) check asks for (keepalived's `url` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpUrl {
    /// Always starts with "/" (the config adds it, as ldirectord does).
    pub path: String,
    pub status: u16,
    /// A regular expression the body must match (ldirectord `receive`).
    pub receive: Option<String>,
    /// The MD5 of the body, lower-case hex (keepalived `digest`).
    pub digest: Option<String>,
}

/// An http(s) check: every URL must answer as expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    pub urls: Vec<HttpUrl>,
    pub host: Option<String>,
    /// HEAD instead of GET (ldirectord `httpmethod = HEAD`): the status only.
    pub head: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    /// A TCP connect (keepalived TCP_CHECK, ldirectord checktype=connect).
    Tcp,
    /// GET (or HEAD) each URL (ldirectord request/receive, keepalived HTTP_GET).
    Http(HttpCheck),
    /// The same over TLS; the certificate is not verified (as ldirectord).
    Https(HttpCheck),
    /// `sh -c COMMAND` with RVS_VIP, RVS_VPORT, RVS_RIP, RVS_RPORT set; up
    /// when it exits 0 within the timeout (keepalived MISC_CHECK). `dynamic`
    /// (misc_dynamic): 1 is down, 2..255 up with weight status - 2.
    Command { command: String, dynamic: bool },
    /// Send `payload`, up when a reply arrives (containing `expect`, if given).
    Udp { payload: String, expect: Option<String> },
    /// An A query for `name` over UDP; up on an answer (holding `expect`, if given).
    Dns { name: String, expect: Option<std::net::Ipv4Addr> },
    /// A 220 greeting, then QUIT (ldirectord service=smtp).
    Smtp,
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
    /// Wait after a failure while still retrying (keepalived); `None`: `interval`.
    pub delay_before_retry: Option<Duration>,
    /// `sh -c` when a server goes UP / DOWN (keepalived notify_up/notify_down).
    pub notify_up: Option<String>,
    pub notify_down: Option<String>,
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
    pub addr: std::net::IpAddr,
    pub port: u16,
    pub kind: String,
    pub up: bool,
    pub failures: u32,
    pub successes: u32,
    pub last_error: Option<String>,
    /// Seconds since the last transition.
    pub since: u64,
    /// How many times it went DOWN or came back UP.
    pub transitions: u64,
}
