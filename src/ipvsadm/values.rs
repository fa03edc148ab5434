//! The values of ipvsadm's options, read with the C library's semantics where ipvsadm relies on
//! them: numbers (strtol), addresses (inet_aton, then /etc/hosts), `host[:port]`
//! (parse_service), timeouts, fwmarks and scheduler flags.

use super::error::{fail, UsageError};
use super::names::NameDb;
use crate::api::DEFAULT_PERSISTENCE_TIMEOUT;
use crate::api::DEFAULT_SCHEDULER;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `strtol(s, &end, 10)` that must consume the whole string: leading white
/// space and a sign are allowed, at least one digit is required.
pub(super) fn strtol_full(s: &str) -> Option<i64> {
    let t = s.trim_start_matches(|c: char| c == ' ' || ('\t'..='\r').contains(&c));
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // An out-of-range value is ERANGE in C: refuse it the same way.
    let v: i64 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// ipvsadm's string_to_number(): -1 (here None) unless min <= n <= max.
pub(super) fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    strtol_full(s).filter(|n| (min..=max).contains(n))
}

pub(super) fn parse_timeout(buf: Option<&str>, min: i64, max: i64) -> Result<u32, UsageError> {
    let buf = match buf {
        None => return Ok(DEFAULT_PERSISTENCE_TIMEOUT),
        Some(b) => b,
    };
    string_to_number(buf, min, max)
        .map(|n| n as u32)
        .ok_or_else(|| fail(format!("invalid timeout value `{buf}' specified")))
}

pub(super) fn parse_fwmark(buf: &str) -> Result<u32, UsageError> {
    match strtol_full(buf) {
        Some(l) if l > 0 && l <= u32::MAX as i64 => Ok(l as u32),
        _ => Err(fail(format!("invalid fwmark value `{buf}' specified"))),
    }
}

/// glibc's inet_aton: 1 to 4 parts, each decimal, octal (leading 0) or hex
/// (0x); the last part fills the remaining bytes. Anything after white space
/// is ignored, as glibc does.
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let s = s.split(|c: char| c.is_ascii_whitespace()).next().unwrap_or("");
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut vals = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 8 {
            return None;
        }
        let v = if digits.is_empty() { 0 } else { u64::from_str_radix(digits, radix).ok()? };
        if digits.starts_with('+') || digits.starts_with('-') || v > u32::MAX as u64 {
            return None;
        }
        vals.push(v as u32);
    }
    let n = vals.len();
    let (head, last) = vals.split_at(n - 1);
    if head.iter().any(|&v| v > 0xff) {
        return None;
    }
    let last = last[0] as u64;
    let max_last: u64 = match n {
        1 => 0xffff_ffff,
        2 => 0x00ff_ffff,
        3 => 0x0000_ffff,
        _ => 0xff,
    };
    if last > max_last {
        return None;
    }
    let mut addr: u64 = 0;
    for (i, &v) in head.iter().enumerate() {
        addr |= (v as u64) << (24 - 8 * i);
    }
    addr |= last;
    Some(Ipv4Addr::from(addr as u32))
}

/// inet_aton, then a host name from /etc/hosts (never DNS).
pub(super) fn host_or_addr(s: &str, names: &NameDb) -> Option<Ipv4Addr> {
    inet_aton(s).or_else(|| names.name_to_addr(s))
}

/// True if `s` is empty or only digits: ipvsadm's str_is_digit(), which
/// makes `-t 80` (or `-t ""`) an illegal address rather than 0.0.0.80.
pub(super) fn str_is_digit(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// What parse_service() found: the address and, if given, the port.
pub(super) struct ParsedAddr {
    pub addr: IpAddr,
    pub port: Option<u16>,
}

/// ipvsadm's parse_service(): `host[:port]`, `[v6addr]:port` or a bare IPv6 address (no
/// port: its colons are the address's), port a number or a service name for `proto`. None
/// where ipvsadm returns SERVICE_NONE. Its quirks, kept:
/// - a bracket needs its `]` and then `:` (`[2001:db8::1]` and `[2001:db8::1]80` are
///   SERVICE_NONE);
/// - `2001:db8::1:80` is the IPv6 address 2001:db8::1:80 without a port;
/// - inside brackets an IPv4 address loses its port (`[198.18.0.1]:80`): parse_service looks
///   for the port with strrchr() in the bracketed text, which has no colon.
pub(super) fn parse_service(buf: &str, proto: u8, names: &NameDb) -> Result<Option<ParsedAddr>, UsageError> {
    if str_is_digit(buf) {
        return Ok(None);
    }
    let (inner, mut port) = match buf.strip_prefix('[') {
        Some(b) => match b.split_once(']') {
            Some((inner, after)) => match after.strip_prefix(':') {
                Some(p) => (inner, Some(p)),
                None => return Ok(None),
            },
            None => return Ok(None),
        },
        None => (buf, None),
    };
    // inet_pton(AF_INET6, ...): no scope id, no brackets, no white space.
    let addr = match inner.parse::<Ipv6Addr>() {
        Ok(a) => IpAddr::V6(a),
        Err(_) => {
            let host = match inner.rfind(':') {
                Some(i) => {
                    port = Some(&inner[i + 1..]);
                    &inner[..i]
                }
                None => {
                    port = None;
                    inner
                }
            };
            match host_or_addr(host, names) {
                Some(a) => IpAddr::V4(a),
                None => return Ok(None),
            }
        }
    };
    let port = match port {
        None => None,
        Some(p) => match string_to_number(p, 0, 65535) {
            Some(n) => Some(n as u16),
            None => match names.name_to_port(p, proto) {
                Some(n) => Some(n),
                None => return Ok(None),
            },
        },
    };
    Ok(Some(ParsedAddr { addr, port }))
}

/// Scheduler flag bits (IP_VS_SVC_F_SCHED1..3); sh-/mh- names alias them.
const SCHED1: u8 = 1;
const SCHED2: u8 = 2;
const SCHED3: u8 = 4;

/// ipvsadm's parse_sched_flags(), returning the flags by the names ipvsadm
/// prints them under for this scheduler (print_sched_flags), in its order,
/// so that `-S` output re-parses to the same list.
pub fn parse_sched_flags(sched: &str, arg: &str) -> Result<Vec<String>, UsageError> {
    let sched = if sched.is_empty() { DEFAULT_SCHEDULER } else { sched };
    let mut bits = 0u8;
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        let (bit, needs) = match flag {
            "flag-1" => (SCHED1, None),
            "flag-2" => (SCHED2, None),
            "flag-3" => (SCHED3, None),
            "sh-fallback" => (SCHED1, Some("sh")),
            "sh-port" => (SCHED2, Some("sh")),
            "mh-fallback" => (SCHED1, Some("mh")),
            "mh-port" => (SCHED2, Some("mh")),
            _ => return Err(fail(format!("invalid scheduler flag `{flag}'"))),
        };
        if let Some(s) = needs {
            if sched != s {
                return Err(fail(format!("incompatible scheduler flag `{flag}'")));
            }
        }
        bits |= bit;
    }
    let names: [&str; 3] = match sched {
        "sh" => ["sh-fallback", "sh-port", "flag-3"],
        "mh" => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    Ok([SCHED1, SCHED2, SCHED3]
        .iter()
        .zip(names)
        .filter(|(b, _)| bits & **b != 0)
        .map(|(_, n)| n.to_string())
        .collect())
}

/// An address a FULLNAT connection can use as its source towards the real
/// servers: not 0.0.0.0 (::), not broadcast, not multicast.
pub(super) fn usable_laddr(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

pub(super) fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
