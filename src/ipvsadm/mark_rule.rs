//! rvs's mark rules' values: `--add-mark|--del-mark MARK` and the rule's
//! `ADDR[/PREFIX][:PORTS]` (iptables' MARK target and multiport match, as rvs spells them).

use super::error::{fail, UsageError};
use super::names::NameDb;
use super::values::{host_or_addr, str_is_digit, string_to_number, strtol_full};
use crate::api::MarkRule;
use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
/// absent), no PORTS any port; an IPv6 address is bracketed as ipvsadm brackets one before
/// a port (`[2001:db8::]/64:80`), or bare without ports (`2001:db8::/64`), PREFIX 0..=128.
/// Like iptables, the address is reduced to its network (`10.1.2.3/8` is `10.0.0.0/8`), so
/// that `--del-mark` and `--list-marks` see the rule the way it matches.
pub(super) fn parse_mark_rule(buf: &str, proto: u8, mark: u32, names: &NameDb) -> Result<MarkRule, UsageError> {
    let (host, rest) = if let Some(b) = buf.strip_prefix('[') {
        b.split_once(']').ok_or_else(|| fail(BAD_MARK_RULE))?
    } else if buf.matches(':').count() > 1 {
        // A bare IPv6 address: its colons leave no room for ports.
        buf.split_at(buf.find('/').unwrap_or(buf.len()))
    } else {
        buf.split_at(buf.find(['/', ':']).unwrap_or(buf.len()))
    };
    let (len, ports) = match rest.split_once(':') {
        Some((l, p)) => (l, Some(p)),
        None => (rest, None),
    };
    if ports.is_some() && host.contains(':') && !buf.starts_with('[') {
        return Err(fail(BAD_MARK_RULE));
    }
    // As parse_service(): digits alone are not an address.
    if str_is_digit(host) {
        return Err(fail(BAD_MARK_RULE));
    }
    let addr: IpAddr = match host.parse::<Ipv6Addr>() {
        Ok(a) => a.into(),
        Err(_) => host_or_addr(host, names).ok_or_else(|| fail(BAD_MARK_RULE))?.into(),
    };
    let max = if addr.is_ipv6() { 128 } else { 32 };
    let prefix = match len.strip_prefix('/') {
        None if len.is_empty() => max,
        Some(l) if !l.is_empty() && str_is_digit(l) => {
            string_to_number(l, 0, max as i64).ok_or_else(|| fail(BAD_MARK_RULE))? as u8
        }
        _ => return Err(fail(BAD_MARK_RULE)),
    };
    let ports = match ports {
        None => Vec::new(),
        Some("") => return Err(fail(BAD_MARK_RULE)),
        Some(p) => parse_port_list(p, proto, names)?,
    };
    let addr = match addr {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & prefix_mask4(prefix))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & prefix_mask6(prefix))),
    };
    Ok(MarkRule { mark, proto, addr, prefix, ports })
}

fn prefix_mask4(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn prefix_mask6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}
