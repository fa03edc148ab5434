//! The name database: ports by /etc/services and addresses by /etc/hosts, read the way
//! ipvsadm's resolver calls (getservbyname, gethostbyname and their reverses) end up reading
//! them through the files backend, never DNS. The parser resolves names with it and the
//! listings print them.

use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use std::net::Ipv4Addr;

#[derive(Debug, Clone)]
struct ServEnt {
    /// Official name first, then aliases.
    names: Vec<String>,
    port: u16,
    proto: String,
}

#[derive(Debug, Clone)]
struct HostEnt {
    addr: Ipv4Addr,
    /// Canonical name first, then aliases.
    names: Vec<String>,
}

/// The two name files ipvsadm's resolver calls end up reading, loaded once.
#[derive(Debug, Clone, Default)]
pub struct NameDb {
    services: Vec<ServEnt>,
    hosts: Vec<HostEnt>,
}

fn proto_key(proto: u8) -> Option<&'static str> {
    match proto {
        IPPROTO_TCP => Some("tcp"),
        IPPROTO_UDP => Some("udp"),
        IPPROTO_SCTP => Some("sctp"),
        _ => None,
    }
}

impl NameDb {
    /// No names at all: everything stays numeric.
    pub fn empty() -> Self {
        NameDb::default()
    }

    /// /etc/services and /etc/hosts of this system; a missing or unreadable
    /// file simply contributes no names.
    pub fn system() -> Self {
        let services = std::fs::read_to_string("/etc/services").unwrap_or_default();
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        NameDb::from_text(&services, &hosts)
    }

    /// Build from the text of an /etc/services and an /etc/hosts.
    pub fn from_text(services: &str, hosts: &str) -> Self {
        let strip = |l: &str| l.split('#').next().unwrap_or("").to_string();
        let mut db = NameDb::default();
        for line in services.lines().map(strip) {
            let mut f = line.split_whitespace();
            let (Some(name), Some(pp)) = (f.next(), f.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            let mut names = vec![name.to_string()];
            names.extend(f.map(String::from));
            db.services.push(ServEnt { names, port, proto: proto.to_ascii_lowercase() });
        }
        for line in hosts.lines().map(strip) {
            let mut f = line.split_whitespace();
            let (Some(addr), Some(_)) = (f.next(), f.clone().next()) else {
                continue;
            };
            // IPv6 lines are of no use to an IPv4-only director.
            let Ok(addr) = addr.parse::<Ipv4Addr>() else {
                continue;
            };
            db.hosts.push(HostEnt { addr, names: f.map(String::from).collect() });
        }
        db
    }

    /// getservbyname(name, proto): official names and aliases.
    pub fn name_to_port(&self, name: &str, proto: u8) -> Option<u16> {
        let p = proto_key(proto)?;
        self.services.iter().find(|s| s.proto == p && s.names.iter().any(|n| n == name)).map(|s| s.port)
    }

    /// getservbyport(port, proto): the official name of the first entry.
    pub fn port_to_name(&self, port: u16, proto: u8) -> Option<&str> {
        let p = proto_key(proto)?;
        self.services.iter().find(|s| s.proto == p && s.port == port).map(|s| s.names[0].as_str())
    }

    /// gethostbyname() through the files backend: names compare without
    /// regard to case; the first line wins.
    pub fn name_to_addr(&self, name: &str) -> Option<Ipv4Addr> {
        self.hosts.iter().find(|h| h.names.iter().any(|n| n.eq_ignore_ascii_case(name))).map(|h| h.addr)
    }

    /// gethostbyaddr() through the files backend: the canonical name of the
    /// first line with this address.
    pub fn addr_to_name(&self, addr: Ipv4Addr) -> Option<&str> {
        self.hosts.iter().find(|h| h.addr == addr).map(|h| h.names[0].as_str())
    }
}
