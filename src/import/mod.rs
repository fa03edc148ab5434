//! `rvs import keepalived FILE` and `rvs import ldirectord FILE`: the virtual services of a
//! keepalived.conf (`virtual_server`, `virtual_server_group`) or an ldirectord.cf (`virtual=`)
//! as rvs configuration (`[[service]]` tables, config.example's keys), and every key that
//! could not be carried, by line number. What both readers build is a [`Service`]; this file
//! writes it as TOML.

pub mod keepalived;
pub mod ldirectord;

use crate::ipvsadm::restore::split_words;
use std::fmt::Write as _;

/// One virtual service as rvs's config says it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Service {
    /// `tcp = "VIP:PORT"`, `udp = ...`, `sctp = ...` or `fwmark = N`: the key and its TOML value.
    pub key: (&'static str, String),
    pub scheduler: Option<String>,
    pub persistent: Option<u32>,
    pub netmask: Option<String>,
    pub quiescent: Option<bool>,
    /// The sorry server: address:port and method.
    pub fallback: Option<(String, &'static str)>,
    pub check: Vec<(&'static str, Value)>,
    /// keepalived's `url` blocks: `[[service.check.url]]` tables.
    pub urls: Vec<Vec<(&'static str, Value)>>,
    pub reals: Vec<Real>,
    /// The line the service starts at (for the comment above it).
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Real {
    pub address: String,
    pub method: &'static str,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(u64),
    Bool(bool),
}

/// What an import gives: the services and the keys left behind.
#[derive(Debug, Default)]
pub struct Imported {
    pub services: Vec<Service>,
    /// (line, text): a key, value or block rvs has no place for, and why.
    pub not_carried: Vec<(usize, String)>,
}

impl Imported {
    pub(crate) fn skip(&mut self, line: usize, what: impl Into<String>) {
        self.not_carried.push((line, what.into()));
    }

    /// The services as rvs configuration, headed by where they came from.
    pub fn to_toml(&self, source: &str) -> String {
        let mut out = format!("# Imported from {source} by `rvs import`: the virtual services only.\n");
        if !self.not_carried.is_empty() {
            let _ =
                writeln!(out, "# {} key(s) not carried: see `rvs import`'s standard error.", self.not_carried.len());
        }
        for s in &self.services {
            out.push('\n');
            let _ = writeln!(out, "# {source} line {}", s.line);
            out.push_str("[[service]]\n");
            let _ = writeln!(out, "{} = {}", s.key.0, s.key.1);
            if let Some(v) = &s.scheduler {
                let _ = writeln!(out, "scheduler = {}", quote(v));
            }
            if let Some(v) = s.persistent {
                let _ = writeln!(out, "persistent = {v}");
            }
            if let Some(v) = &s.netmask {
                let _ = writeln!(out, "netmask = {}", quote(v));
            }
            if let Some(v) = s.quiescent {
                let _ = writeln!(out, "quiescent = {v}");
            }
            if let Some((a, m)) = &s.fallback {
                let _ = writeln!(out, "fallback = {}\nfallback_method = {}", quote(a), quote(m));
            }
            if !s.check.is_empty() {
                out.push_str("[service.check]\n");
                write_keys(&mut out, &s.check);
                for u in &s.urls {
                    out.push_str("[[service.check.url]]\n");
                    write_keys(&mut out, u);
                }
            }
            for r in &s.reals {
                let _ = writeln!(
                    out,
                    "[[service.real]]\naddress = {}\nmethod = {}\nweight = {}",
                    quote(&r.address),
                    quote(r.method),
                    r.weight
                );
            }
        }
        out
    }

    /// The keys not carried, one line each, for standard error.
    pub fn report(&self, source: &str) -> String {
        self.not_carried.iter().map(|(l, w)| format!("rvs import: {source}:{l}: not carried: {w}\n")).collect()
    }
}

/// An address and port as rvs's config (and ipvsadm) write them: `[v6addr]:port` for IPv6,
/// whose colons would otherwise swallow the port.
pub(crate) fn addr_port(addr: &str, port: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

fn write_keys(out: &mut String, keys: &[(&'static str, Value)]) {
    for (k, v) in keys {
        match v {
            Value::Str(t) => writeln!(out, "{k} = {}", quote(t)),
            Value::Int(n) => writeln!(out, "{k} = {n}"),
            Value::Bool(b) => writeln!(out, "{k} = {b}"),
        }
        .ok();
    }
}

/// Words of one line, as both files are read: `#` and `!` start a comment (at a word's
/// start), double quotes group, braces are words of their own.
pub(crate) fn line_words(text: &str) -> Vec<String> {
    split_words(text, &['#', '!'], true)
}

/// A TOML basic string.
pub(crate) fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{:04x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// The interface a test config needs besides the imported services (an operator appends
/// the import to a config that has its own).
#[cfg(test)]
pub(crate) const TEST_INTERFACE: &str = "[[interface]]\nname = \"eth0\"\naddresses = [\"198.18.0.1/24\"]\n";

/// An HTTP check's path as ldirectord sends it: with its leading "/".
pub(crate) fn absolute_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

#[cfg(test)]
mod tests_ipv6 {
    //! IPv6 services as keepalived (`virtual_server 2001:db8::10 80`, `real_server ADDR PORT`)
    //! and ldirectord (`virtual=[2001:db8::10]:80`, `real=[ADDR]:PORT`) write them, imported
    //! into a configuration that loads with the same services.
    use super::*;
    use crate::api::{FwdMethod, ServiceKey};

    fn loaded(imp: &Imported, source: &str) -> crate::control::Rules {
        let text = imp.to_toml(source);
        crate::config::Config::parse(&format!("{TEST_INTERFACE}{text}")).unwrap_or_else(|e| panic!("{text}\n{e}")).rules
    }

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn keepalived_ipv6_virtual_server() {
        let imp = keepalived::import(
            "virtual_server 2001:db8::10 80 {\n  lb_algo rr\n  lb_kind NAT\n  persistence_timeout 300\n  \
             persistence_granularity 64\n  protocol TCP\n  sorry_server 2001:db8::99 80\n  \
             real_server 2001:db8::1:11 8080 {\n    weight 2\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n}\n",
        );
        assert_eq!(imp.services[0].key, ("tcp", "\"[2001:db8::10]:80\"".into()));
        let rules = loaded(&imp, "keepalived.conf");
        let (spec, dests) = &rules.services[0];
        assert_eq!(spec.key, ServiceKey::Addr { proto: 6, addr: ip("2001:db8::10"), port: 80 });
        assert_eq!(spec.netmask, crate::api::netmask6(64));
        assert_eq!(
            (dests[0].addr, dests[0].port, dests[0].fwd, dests[0].weight),
            (ip("2001:db8::1:11"), 8080, FwdMethod::Masq, 2)
        );
    }

    #[test]
    fn ldirectord_ipv6_virtual() {
        let imp = ldirectord::import(
            "virtual=[2001:db8::10]:80\n\treal=[2001:db8::1:11]:8080 masq 3\n\treal=[2001:db8::1:12]:8080 masq\n\t\
             scheduler=rr\n\tchecktype=connect\n",
        );
        let rules = loaded(&imp, "ldirectord.cf");
        let (spec, dests) = &rules.services[0];
        assert_eq!(spec.key, ServiceKey::Addr { proto: 6, addr: ip("2001:db8::10"), port: 80 });
        let got: Vec<_> = dests.iter().map(|d| (d.addr, d.port, d.weight)).collect();
        assert_eq!(got, [(ip("2001:db8::1:11"), 8080, 3), (ip("2001:db8::1:12"), 8080, 1)]);
    }
}
