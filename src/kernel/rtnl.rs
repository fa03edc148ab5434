//! A minimal rtnetlink (NETLINK_ROUTE) client of our own: what rvs needs of
//! the kernel's routing socket and nothing more. IPv4 address dumps and
//! RTM_NEWADDR/RTM_DELADDR events (to follow the kernel's addresses on the
//! interfaces rvs owns), and route add/delete with an acknowledgement (to
//! announce VIPs). Every message from the kernel is parsed with bounds checks:
//! a short or malformed message is skipped, never trusted.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWRULE: u16 = 32;
const RTM_DELRULE: u16 = 33;
const RTM_GETRULE: u16 = 34;
const FRA_SRC: u16 = 2;
const FRA_PRIORITY: u16 = 6;
const FRA_TABLE: u16 = 15;
const FRA_SPORT_RANGE: u16 = 23;
const FR_ACT_TO_TBL: u8 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_TABLE: u16 = 15;
const RTN_UNICAST: u8 = 1;
const RT_SCOPE_LINK: u8 = 253;
/// The kernel's multicast group of IPv4 address changes.
pub const RTMGRP_IPV4_IFADDR: u32 = 0x10;
pub const RTMGRP_IPV6_IFADDR: u32 = 0x100;

/// One netlink message: its type, flags, sequence number and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The messages of one datagram, in order. Stops at the first header whose
/// length is impossible (shorter than a header or past the end).
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let len = u32_at(buf, at)? as usize;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            return None;
        }
        let m = Message {
            kind: u16_at(buf, at + 4)?,
            flags: u16_at(buf, at + 6)?,
            seq: u32_at(buf, at + 8)?,
            payload: buf.get(at + NLMSG_HDRLEN..at + len)?,
        };
        at += align4(len);
        Some(m)
    })
}

/// Attributes (type, value) after a fixed header of `skip` bytes.
fn attributes(payload: &[u8], skip: usize) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = skip;
    std::iter::from_fn(move || {
        let len = u16_at(payload, at)? as usize;
        if len < 4 || at + len > payload.len() {
            return None;
        }
        let kind = u16_at(payload, at + 2)? & 0x3fff;
        let value = payload.get(at + 4..at + len)?;
        at += align4(len);
        Some((kind, value))
    })
}

/// The errno of an NLMSG_ERROR payload (0: an acknowledgement).
pub fn error_code(payload: &[u8]) -> Option<i32> {
    Some(-(u32_at(payload, 0)? as i32))
}

/// An IPv4 address of an interface, as RTM_NEWADDR/RTM_DELADDR carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfAddr {
    pub ifindex: u32,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// Parse an ifaddrmsg payload; None for other families or no address. The
/// local address (IFA_LOCAL) is the interface's own; IFA_ADDRESS is the peer's
/// on point-to-point links, so it counts only without IFA_LOCAL.
pub fn parse_addr(payload: &[u8]) -> Option<IfAddr> {
    let family = *payload.first()?;
    let prefix = *payload.get(1)?;
    let ifindex = u32_at(payload, 4)?;
    if family as i32 != libc::AF_INET || prefix > 32 {
        return None;
    }
    let (mut local, mut address) = (None, None);
    for (kind, value) in attributes(payload, 8) {
        let a: Option<[u8; 4]> = value.try_into().ok();
        match kind {
            IFA_LOCAL => local = a,
            IFA_ADDRESS => address = a,
            _ => {}
        }
    }
    let addr = Ipv4Addr::from(local.or(address)?);
    Some(IfAddr { ifindex, addr, prefix })
}

/// What a route message asks of the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOp {
    /// Add or replace.
    Add,
    Delete,
}

/// A device route `dst/prefix dev OIF table TABLE proto PROTO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceRoute {
    pub dst: Ipv4Addr,
    pub prefix: u8,
    pub oif: u32,
    pub table: u32,
    pub protocol: u8,
}

fn push_attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    buf.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(align4(buf.len()), 0);
}

fn header(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32) {
    buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by finish
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
}

fn finish(mut buf: Vec<u8>) -> Vec<u8> {
    let len = (buf.len() as u32).to_ne_bytes();
    buf[..4].copy_from_slice(&len);
    buf
}

/// RTM_NEWROUTE / RTM_DELROUTE for `r`, asking for an acknowledgement.
pub fn route_message(op: RouteOp, r: &DeviceRoute, seq: u32) -> Vec<u8> {
    let (kind, flags) = match op {
        RouteOp::Add => (RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE),
        RouteOp::Delete => (RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK),
    };
    let mut buf = Vec::with_capacity(64);
    header(&mut buf, kind, flags, seq);
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    let table8 = if r.table < 256 { r.table as u8 } else { 0 };
    buf.extend_from_slice(&[libc::AF_INET as u8, r.prefix, 0, 0, table8, r.protocol, RT_SCOPE_LINK, RTN_UNICAST]);
    buf.extend_from_slice(&0u32.to_ne_bytes());
    push_attr(&mut buf, RTA_DST, &r.dst.octets());
    push_attr(&mut buf, RTA_OIF, &r.oif.to_ne_bytes());
    push_attr(&mut buf, RTA_TABLE, &r.table.to_ne_bytes());
    finish(buf)
}

/// A policy rule `from SRC/PREFIX [sport SPORT] lookup TABLE priority PRIORITY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRule {
    pub src: Ipv4Addr,
    pub prefix: u8,
    /// Only packets from this TCP/UDP source port (None: any).
    pub sport: Option<u16>,
    pub table: u32,
    pub priority: u32,
}

/// RTM_NEWRULE / RTM_DELRULE for `r`, asking for an acknowledgement.
pub fn rule_message(op: RouteOp, r: &SourceRule, seq: u32) -> Vec<u8> {
    let (kind, flags) = match op {
        RouteOp::Add => (RTM_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE),
        RouteOp::Delete => (RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK),
    };
    let mut buf = Vec::with_capacity(64);
    header(&mut buf, kind, flags, seq);
    // struct fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags.
    let table8 = if r.table < 256 { r.table as u8 } else { 0 };
    buf.extend_from_slice(&[libc::AF_INET as u8, 0, r.prefix, 0, table8, 0, 0, FR_ACT_TO_TBL]);
    buf.extend_from_slice(&0u32.to_ne_bytes());
    push_attr(&mut buf, FRA_SRC, &r.src.octets());
    if let Some(p) = r.sport {
        // struct fib_rule_port_range: start and end, in host order.
        let mut range = [0u8; 4];
        range[..2].copy_from_slice(&p.to_ne_bytes());
        range[2..].copy_from_slice(&p.to_ne_bytes());
        push_attr(&mut buf, FRA_SPORT_RANGE, &range);
    }
    push_attr(&mut buf, FRA_PRIORITY, &r.priority.to_ne_bytes());
    push_attr(&mut buf, FRA_TABLE, &r.table.to_ne_bytes());
    finish(buf)
}

/// Parse an IPv4 rule message (RTM_NEWRULE) that sends to a table by source
/// (and maybe source port); None for anything else.
pub fn parse_rule(payload: &[u8]) -> Option<SourceRule> {
    let (family, prefix, table8, action) = (*payload.first()?, *payload.get(2)?, *payload.get(4)?, *payload.get(7)?);
    if family as i32 != libc::AF_INET || action != FR_ACT_TO_TBL || prefix > 32 {
        return None;
    }
    let mut r = SourceRule { src: Ipv4Addr::UNSPECIFIED, prefix, sport: None, table: table8 as u32, priority: 0 };
    for (kind, value) in attributes(payload, 12) {
        match kind {
            FRA_SRC => r.src = Ipv4Addr::from(<[u8; 4]>::try_from(value).ok()?),
            FRA_PRIORITY => r.priority = u32_at(value, 0)?,
            FRA_TABLE => r.table = u32_at(value, 0)?,
            FRA_SPORT_RANGE => {
                let (lo, hi) = (u16_at(value, 0)?, u16_at(value, 2)?);
                if lo != hi {
                    return None;
                }
                r.sport = Some(lo);
            }
            _ => {}
        }
    }
    Some(r)
}

/// RTM_GETRULE dump of every IPv4 rule.
pub fn rule_dump_message(seq: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(32);
    header(&mut buf, RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, seq);
    buf.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0, 0, 0, 0, 0]);
    buf.extend_from_slice(&0u32.to_ne_bytes());
    finish(buf)
}

/// RTM_GETADDR dump of every IPv4 address.
pub fn addr_dump_message(seq: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(32);
    header(&mut buf, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
    buf.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0]);
    buf.extend_from_slice(&0u32.to_ne_bytes());
    finish(buf)
}

/// The kernel's index of interface `name` (0: no such interface).
pub fn ifindex(name: &str) -> u32 {
    match std::ffi::CString::new(name) {
        // SAFETY: a valid C string.
        Ok(c) => unsafe { libc::if_nametoindex(c.as_ptr()) },
        Err(_) => 0,
    }
}

/// What one receive from an event socket brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Events {
    /// Address changes of either family: the interfaces (kernel indexes) they were on.
    Addrs(Vec<u32>),
    /// Nothing within the timeout.
    None,
    /// The kernel dropped events (ENOBUFS): the listener must read the
    /// whole state again.
    Overrun,
}

/// A NETLINK_ROUTE socket.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

fn os_err(what: &str) -> String {
    format!("netlink {what}: {}", std::io::Error::last_os_error())
}

impl Rtnl {
    /// A socket subscribed to `groups` (0: requests only).
    pub fn open(groups: u32) -> Result<Rtnl, String> {
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if fd < 0 {
            return Err(os_err("socket"));
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: a zeroed sockaddr_nl is valid; bind reads sizeof bytes.
        let r = unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            sa.nl_groups = groups;
            libc::bind(
                fd.as_raw_fd(),
                &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r != 0 {
            return Err(os_err("bind"));
        }
        Ok(Rtnl { fd, seq: 1, buf: vec![0; 64 * 1024] })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn send(&self, msg: &[u8]) -> Result<(), String> {
        // SAFETY: msg is a valid buffer; the kernel is the destination (address 0).
        let r = unsafe {
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr() as *const libc::c_void,
                msg.len(),
                0,
                &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r < 0 || r as usize != msg.len() {
            return Err(os_err("send"));
        }
        Ok(())
    }

    /// One datagram into self.buf, waiting at most `timeout`; Ok(0) on timeout.
    fn receive(&mut self, timeout: Duration) -> Result<usize, i32> {
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
        if n <= 0 {
            return Ok(0);
        }
        // SAFETY: buf is valid for its length.
        let r =
            unsafe { libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr() as *mut libc::c_void, self.buf.len(), 0) };
        if r < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
        }
        Ok(r as usize)
    }

    /// Send a request and wait (up to a second) for its acknowledgement.
    fn request(&mut self, build: impl FnOnce(u32) -> Vec<u8>) -> Result<(), i32> {
        let seq = self.next_seq();
        self.send(&build(seq)).map_err(|_| libc::EIO)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let n = self.receive(left)?;
            let answer = messages(&self.buf[..n]).find(|m| m.seq == seq && m.kind == NLMSG_ERROR);
            if let Some(m) = answer {
                return match error_code(m.payload) {
                    Some(0) => Ok(()),
                    Some(e) => Err(e),
                    None => Err(libc::EPROTO),
                };
            }
        }
        Err(libc::ETIMEDOUT)
    }

    /// Add (or replace) or delete a device route; deleting one that is not
    /// there succeeds.
    pub fn route(&mut self, op: RouteOp, r: &DeviceRoute) -> Result<(), String> {
        match self.request(|seq| route_message(op, r, seq)) {
            Ok(()) => Ok(()),
            Err(libc::ESRCH) if op == RouteOp::Delete => Ok(()),
            Err(e) => Err(std::io::Error::from_raw_os_error(e).to_string()),
        }
    }

    /// Add or delete a policy rule; deleting one that is not there succeeds.
    pub fn rule(&mut self, op: RouteOp, r: &SourceRule) -> Result<(), String> {
        match self.request(|seq| rule_message(op, r, seq)) {
            Ok(()) => Ok(()),
            Err(libc::ENOENT) if op == RouteOp::Delete => Ok(()),
            Err(e) => Err(std::io::Error::from_raw_os_error(e).to_string()),
        }
    }

    /// Every IPv4 address of every interface.
    pub fn dump_addrs(&mut self) -> Result<Vec<IfAddr>, String> {
        self.dump("address", addr_dump_message, RTM_NEWADDR, parse_addr)
    }

    /// Every IPv4 rule that sends to a table by source ([`parse_rule`]).
    pub fn dump_rules(&mut self) -> Result<Vec<SourceRule>, String> {
        self.dump("rule", rule_dump_message, RTM_NEWRULE, parse_rule)
    }

    /// A dump request and its answers of type `kind`, each parsed by `parse`.
    fn dump<T>(
        &mut self,
        what: &str,
        request: fn(u32) -> Vec<u8>,
        kind: u16,
        parse: fn(&[u8]) -> Option<T>,
    ) -> Result<Vec<T>, String> {
        let seq = self.next_seq();
        self.send(&request(seq))?;
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let left = deadline
                .checked_duration_since(std::time::Instant::now())
                .ok_or_else(|| format!("netlink {what} dump: no answer within 2 s"))?;
            let n =
                self.receive(left).map_err(|e| format!("netlink recv: {}", std::io::Error::from_raw_os_error(e)))?;
            for m in messages(&self.buf[..n]).filter(|m| m.seq == seq) {
                match m.kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let e = error_code(m.payload).unwrap_or(libc::EPROTO);
                        return Err(format!("netlink {what} dump: {}", std::io::Error::from_raw_os_error(e)));
                    }
                    k if k == kind => out.extend(parse(m.payload)),
                    _ => {}
                }
            }
        }
    }

    /// Wait up to `timeout` for address events (a socket opened with
    /// RTMGRP_IPV4_IFADDR).
    pub fn address_events(&mut self, timeout: Duration) -> Result<Events, String> {
        match self.receive(timeout) {
            Ok(0) => Ok(Events::None),
            Ok(n) => Ok(Events::Addrs(address_event_interfaces(&self.buf[..n]))),
            Err(libc::ENOBUFS) => Ok(Events::Overrun),
            Err(e) => Err(format!("netlink recv: {}", std::io::Error::from_raw_os_error(e))),
        }
    }
}

/// The interfaces whose addresses (IPv4 or IPv6: ifaddrmsg is the same
/// for both) one datagram of the address groups says changed.
pub fn address_event_interfaces(buf: &[u8]) -> Vec<u32> {
    messages(buf)
        .filter(|m| m.kind == RTM_NEWADDR || m.kind == RTM_DELADDR)
        .filter_map(|m| u32_at(m.payload, 4))
        .collect()
}

/// The IPv4 address changes in one datagram of the address group.
pub fn address_events_of(buf: &[u8]) -> Vec<(u16, IfAddr)> {
    messages(buf)
        .filter(|m| m.kind == RTM_NEWADDR || m.kind == RTM_DELADDR)
        .filter_map(|m| parse_addr(m.payload).map(|a| (m.kind, a)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTM_NEWADDR/RTM_DELADDR message as the kernel sends it.
    fn addr_msg(kind: u16, ifindex: u32, prefix: u8, local: Option<[u8; 4]>, address: Option<[u8; 4]>) -> Vec<u8> {
        let mut b = Vec::new();
        header(&mut b, kind, 0, 0);
        b.extend_from_slice(&[libc::AF_INET as u8, prefix, 0, 0]);
        b.extend_from_slice(&ifindex.to_ne_bytes());
        if let Some(a) = address {
            push_attr(&mut b, IFA_ADDRESS, &a);
        }
        if let Some(a) = local {
            push_attr(&mut b, IFA_LOCAL, &a);
        }
        push_attr(&mut b, 3, b"d0\0"); // IFA_LABEL, ignored
        finish(b)
    }

    #[test]
    fn new_and_deleted_addresses_are_parsed_in_order() {
        let mut dgram = addr_msg(RTM_NEWADDR, 7, 24, Some([198, 18, 1, 3]), Some([198, 18, 1, 3]));
        dgram.extend(addr_msg(RTM_DELADDR, 7, 32, None, Some([198, 18, 1, 4])));
        let ev = address_events_of(&dgram);
        assert_eq!(
            ev,
            vec![
                (RTM_NEWADDR, IfAddr { ifindex: 7, addr: Ipv4Addr::new(198, 18, 1, 3), prefix: 24 }),
                (RTM_DELADDR, IfAddr { ifindex: 7, addr: Ipv4Addr::new(198, 18, 1, 4), prefix: 32 }),
            ]
        );
    }

    #[test]
    fn local_wins_over_the_peer_address() {
        let m = addr_msg(RTM_NEWADDR, 2, 32, Some([198, 18, 0, 1]), Some([198, 18, 0, 2]));
        assert_eq!(address_events_of(&m)[0].1.addr, Ipv4Addr::new(198, 18, 0, 1));
    }

    #[test]
    fn malformed_messages_are_skipped_not_trusted() {
        let good = addr_msg(RTM_NEWADDR, 7, 24, Some([198, 18, 1, 3]), None);
        // Cut anywhere: never a panic, never an address from a cut attribute.
        for cut in 0..good.len() {
            let ev = address_events_of(&good[..cut]);
            assert!(ev.is_empty(), "cut at {cut}: {ev:?}");
        }
        // A header claiming more than the datagram holds.
        let mut long = good.clone();
        long[..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(address_events_of(&long).is_empty());
        // A header claiming less than a header.
        let mut short = good.clone();
        short[..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(address_events_of(&short).is_empty());
        // An attribute with a zero length ends the attribute walk.
        let mut zero = addr_msg(RTM_NEWADDR, 7, 24, None, None);
        zero.extend_from_slice(&[0, 0, 2, 0, 198, 18, 1, 3]);
        let n = zero.len() as u32;
        zero[..4].copy_from_slice(&n.to_ne_bytes());
        assert!(address_events_of(&zero).is_empty());
        // Another family, an impossible prefix, an address of 3 bytes.
        let mut v6 = good.clone();
        v6[NLMSG_HDRLEN] = libc::AF_INET6 as u8;
        assert!(address_events_of(&v6).is_empty());
        let mut p33 = good.clone();
        p33[NLMSG_HDRLEN + 1] = 33;
        assert!(address_events_of(&p33).is_empty());
        let mut b = Vec::new();
        header(&mut b, RTM_NEWADDR, 0, 0);
        b.extend_from_slice(&[libc::AF_INET as u8, 24, 0, 0, 7, 0, 0, 0]);
        push_attr(&mut b, IFA_LOCAL, &[198, 18, 1]);
        assert!(address_events_of(&finish(b)).is_empty());
    }

    #[test]
    fn acks_and_errors() {
        let mut b = Vec::new();
        header(&mut b, NLMSG_ERROR, 0, 42);
        b.extend_from_slice(&(-libc::EEXIST).to_ne_bytes());
        let b = finish(b);
        let m = messages(&b).next().unwrap();
        assert_eq!((m.kind, m.seq, error_code(m.payload)), (NLMSG_ERROR, 42, Some(libc::EEXIST)));
        assert_eq!(error_code(&[0, 0]), None);
    }

    #[test]
    fn route_message_layout() {
        let r = DeviceRoute { dst: Ipv4Addr::new(198, 18, 5, 100), prefix: 32, oif: 9, table: 1000, protocol: 250 };
        let m = route_message(RouteOp::Add, &r, 5);
        let msg = messages(&m).next().unwrap();
        assert_eq!((msg.kind, msg.seq), (RTM_NEWROUTE, 5));
        assert_eq!(msg.flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        assert_eq!(&msg.payload[..8], &[libc::AF_INET as u8, 32, 0, 0, 0, 250, RT_SCOPE_LINK, RTN_UNICAST]);
        let attrs: Vec<_> = attributes(msg.payload, 12).collect();
        assert_eq!(
            attrs,
            vec![
                (RTA_DST, &[198u8, 18, 5, 100][..]),
                (RTA_OIF, &9u32.to_ne_bytes()[..]),
                (RTA_TABLE, &1000u32.to_ne_bytes()[..])
            ]
        );
        let d = route_message(RouteOp::Delete, &DeviceRoute { table: 100, ..r }, 6);
        let msg = messages(&d).next().unwrap();
        assert_eq!((msg.kind, msg.flags, msg.payload[4]), (RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, 100));
    }

    /// `from 198.18.9.1 sport 8082 lookup 201 priority 1000`, as `ip rule` sends it.
    #[test]
    fn rule_message_with_a_source_port() {
        let r =
            SourceRule { src: Ipv4Addr::new(198, 18, 9, 1), prefix: 32, sport: Some(8082), table: 201, priority: 1000 };
        let m = rule_message(RouteOp::Add, &r, 7);
        let msg = messages(&m).next().unwrap();
        assert_eq!((msg.kind, msg.seq), (RTM_NEWRULE, 7));
        assert_eq!(&msg.payload[..8], &[libc::AF_INET as u8, 0, 32, 0, 201, 0, 0, FR_ACT_TO_TBL]);
        let attrs: Vec<_> = attributes(msg.payload, 12).collect();
        let mut range = 8082u16.to_ne_bytes().to_vec();
        range.extend_from_slice(&8082u16.to_ne_bytes());
        assert_eq!(
            attrs,
            vec![
                (FRA_SRC, &[198u8, 18, 9, 1][..]),
                (FRA_SPORT_RANGE, &range[..]),
                (FRA_PRIORITY, &1000u32.to_ne_bytes()[..]),
                (FRA_TABLE, &201u32.to_ne_bytes()[..])
            ]
        );
        // A dump answers with the same layout: read back as it was written.
        assert_eq!(parse_rule(msg.payload), Some(r));
        let any = rule_message(RouteOp::Delete, &SourceRule { sport: None, ..r }, 8);
        let msg = messages(&any).next().unwrap();
        assert!(attributes(msg.payload, 12).all(|(k, _)| k != FRA_SPORT_RANGE), "no port: every port");
        assert_eq!(parse_rule(msg.payload), Some(SourceRule { sport: None, ..r }));
        assert_eq!(parse_rule(&msg.payload[..3]), None, "short: skipped");
    }
}
