//! rvs's mark rules' values: `--add-mark|--del-mark MARK` and the rule's
//! `ADDR[/PREFIX][:PORTS]` (iptables' MARK target and multiport match, as rvs spells them).

use super::error::{fail, unsupported, UsageError};
use super::names::NameDb;
use super::values::{host_or_addr, str_is_digit, string_to_number, strtol_full};
use crate::api::MarkRule;
use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};
use std::net::Ipv4Addr;

/// A mark rule's MARK: decimal or `0x` hex (iptables' `--set-mark` takes
/// both), 1 to 2^32-1, refused with `-f`'s message.
pub(super) fn parse_mark(buf: &str) -> Result<u32, UsageError> {
    let v = match buf.strip_prefix("0x").or_else(|| buf.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) => u64::from_str_radix(h, 16).ok(),
        Some(_) => None,
        None => strtol_full(buf).and_then(|l| u64::try_from(l).ok()),
    };
    match v {
        Some(m) if m > 0 && m <= u32::MAX as u64 => Ok(m as u32),
        _ => Err(fail(format!("invalid fwmark value `{buf}' specified"))),
    }
}

pub(super) const BAD_MARK_RULE: &str = "illegal mark rule address[/prefix][:ports] specified";

/// A mark rule's port list, iptables multiport's syntax with `-` for
/// ranges: `80,443,8000-8100`. A single port may be a service name for
/// `proto` (TCP's or UDP's for `--any-proto`).
pub(super) fn parse_port_list(buf: &str, proto: u8, names: &NameDb) -> Result<Vec<(u16, u16)>, UsageError> {
    let num = |p: &str| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            string_to_number(p, 0, 65535).map(|n| n as u16)
        } else {
            None
        }
    };
    let name = |p: &str| match proto {
        0 => names.name_to_port(p, IPPROTO_TCP).or_else(|| names.name_to_port(p, IPPROTO_UDP)),
        _ => names.name_to_port(p, proto),
    };
    let mut ports = Vec::new();
    for item in buf.split(',') {
        let range = match item.split_once('-') {
            Some((lo, hi)) => match (num(lo), num(hi)) {
                (Some(lo), Some(hi)) => Some((lo, hi)),
                // A service name may contain '-' ("kerberos-adm").
                _ => name(item).map(|p| (p, p)),
            },
            None => num(item).or_else(|| name(item)).map(|p| (p, p)),
        };
        match range {
            Some((lo, hi)) if lo <= hi => ports.push((lo, hi)),
            _ => return Err(fail("illegal port range specified")),
        }
    }
    Ok(ports)
}

/// A mark rule's `ADDR[/PREFIX][:PORTS]` for `proto` (0: TCP or UDP). The
/// address is a dotted quad or an /etc/hosts name, PREFIX 0..=32 (32 when
/// absent), no PORTS any port. Like iptables, the address is reduced to its
/// network (`10.1.2.3/8` is `10.0.0.0/8`), so that `--del-mark` and
/// `--list-marks` see the rule the way it matches.
pub(super) fn parse_mark_rule(buf: &str, proto: u8, mark: u32, names: &NameDb) -> Result<MarkRule, UsageError> {
    if buf.starts_with('[') || buf.matches(':').count() > 1 {
        return Err(unsupported("IPv6"));
    }
    let (net, ports) = match buf.split_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (buf, None),
    };
    let (host, prefix) = match net.split_once('/') {
        Some((h, len)) => {
            if len.is_empty() || !str_is_digit(len) {
                return Err(fail(BAD_MARK_RULE));
            }
            match string_to_number(len, 0, 32) {
                Some(n) => (h, n as u8),
                None => return Err(fail(BAD_MARK_RULE)),
            }
        }
        None => (net, 32),
    };
    // As parse_service(): digits alone are not an address.
    if str_is_digit(host) {
        return Err(fail(BAD_MARK_RULE));
    }
    let addr = host_or_addr(host, names).ok_or_else(|| fail(BAD_MARK_RULE))?;
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix as u32) };
    let ports = match ports {
        None => Vec::new(),
        Some("") => return Err(fail(BAD_MARK_RULE)),
        Some(p) => parse_port_list(p, proto, names)?,
    };
    Ok(MarkRule { mark, proto, addr: Ipv4Addr::from(u32::from(addr) & mask), prefix, ports })
}
