//! Which real servers are the director itself (IPVS's LOCALNODE, `Local` in
//! -Ln). The kernel decides it in __ip_vs_update_dest, at every add and edit:
//! a real server whose address inet_addr_type() calls RTN_LOCAL has its
//! method replaced by LOCALNODE. rvs asks the same of the host: 127.0.0.0/8
//! (on `lo` everywhere) and the addresses of the namespace rvs runs in, on any
//! interface, those on the interfaces rvs owns included (the kernel layer
//! reads them: kernel/local_servers.rs). It asks at every add and edit, and
//! again when those addresses change (the daemon's tick), which the kernel
//! does not: an address given to the host later makes its real server Local
//! for the connections that come after, and one taken away makes it a remote
//! server again. A connection keeps what it was made with (Conn::local_node),
//! as the kernel's keep their conn_flags.
//!
//! rvs's VIPs and own `addresses` are not the host's: the host stack would not
//! take a packet for them in, so they count only when the host has them too.
//! A host address other than 127.0.0.0/8 counts only with a way to the host
//! stack (`[dataplane] local_device`); without it such a server keeps its
//! method, as before (a note is logged), since it may be reachable the long
//! way, through a router.

use crate::ipvs::dest::{is_loopback_node, Dest};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// What the host side offers: its addresses, and the way back of local
/// servers' replies.
pub trait LocalHost: Send {
    /// The host's IPv4 addresses now, on every interface of the namespace.
    fn addresses(&mut self) -> Result<BTreeSet<Ipv4Addr>, String>;
    /// Is there a way to the host stack (`[dataplane] local_device`)?
    fn delivers(&self) -> bool;
    /// The local real servers at host addresses other than 127.0.0.0/8
    /// (address, port; port 0: every port): their replies must come back
    /// to rvs. Called with the whole set whenever it changes.
    fn serve(&mut self, servers: &BTreeSet<(Ipv4Addr, u16)>);
}

/// The decision: is a real server at `addr` the director itself, given the
/// host's addresses and whether rvs has a way to the host stack?
/// The host's addresses are its IPv4 ones (the host path is IPv4): an IPv6 real server is
/// the director only at ::1.
pub fn is_director(addr: IpAddr, host_addrs: &BTreeSet<Ipv4Addr>, delivers: bool) -> bool {
    is_loopback_node(addr) || (delivers && host_addr(addr, host_addrs).is_some())
}

/// `addr` when it is one of the host's (IPv4) addresses.
fn host_addr(addr: IpAddr, host_addrs: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    match addr {
        IpAddr::V4(a) if host_addrs.contains(&a) => Some(a),
        _ => None,
    }
}

/// The host's addresses as last read, and what was done with them.
#[derive(Default)]
pub struct OwnAddrs {
    host: Option<Box<dyn LocalHost>>,
    addrs: BTreeSet<Ipv4Addr>,
    served: BTreeSet<(Ipv4Addr, u16)>,
    /// Host addresses already logged as not Local for want of a device.
    noted: BTreeSet<Ipv4Addr>,
}

impl OwnAddrs {
    /// Follow `host` from now on (None: 127.0.0.0/8 only, as in the tests).
    /// The rules of the old host go with it.
    pub fn set_host(&mut self, host: Option<Box<dyn LocalHost>>) {
        self.host = host;
        self.addrs.clear();
        self.served.clear();
        self.noted.clear();
    }

    /// Read the host's addresses again; true when they changed. A failed read
    /// keeps the last ones (logged).
    pub fn refresh(&mut self) -> bool {
        let Some(host) = self.host.as_mut() else { return false };
        match host.addresses() {
            Ok(a) if a != self.addrs => {
                self.addrs = a;
                true
            }
            Ok(_) => false,
            Err(e) => {
                log::warn!("reading the host's addresses (for Local real servers): {e}");
                false
            }
        }
    }

    fn delivers(&self) -> bool {
        self.host.as_ref().is_some_and(|h| h.delivers())
    }

    /// Decide for one real server of service `service` (a name for the log)
    /// and log what changed.
    pub fn mark(&mut self, service: &str, d: &Dest) {
        let delivers = self.delivers();
        let local = is_director(d.addr, &self.addrs, delivers);
        if d.set_local(local) {
            if local {
                log::info!(service, real_server:% = SocketAddr::new(d.addr, d.port);
                    "{service}: real server {} is one of the host's addresses: Local",
                    SocketAddr::new(d.addr, d.port)
                );
            } else {
                log::info!(service, real_server:% = SocketAddr::new(d.addr, d.port);
                    "{service}: real server {} is no longer one of the host's addresses: {} again",
                    SocketAddr::new(d.addr, d.port),
                    d.fwd().list_name()
                );
            }
        }
        let host = host_addr(d.addr, &self.addrs);
        if !local && !delivers && host.is_some_and(|a| self.noted.insert(a)) {
            log::warn!(service, real_server:% = SocketAddr::new(d.addr, d.port);
                "{service}: real server {} is one of the host's addresses, but without [dataplane] \
                 local_device rvs has no way to the host stack: not Local, forwarded by its method ({})",
                SocketAddr::new(d.addr, d.port),
                d.fwd().list_name()
            );
        }
    }

    /// Tell the host which local real servers (other than 127.0.0.0/8) there
    /// are now, when that changed.
    pub fn serve<'a>(&mut self, dests: impl Iterator<Item = &'a Dest>) {
        let Some(host) = self.host.as_mut() else { return };
        if !host.delivers() {
            return;
        }
        let now: BTreeSet<(Ipv4Addr, u16)> = dests
            .filter(|d| d.is_local() && !is_loopback_node(d.addr))
            .filter_map(|d| match d.addr {
                IpAddr::V4(a) => Some((a, d.port)),
                IpAddr::V6(_) => None,
            })
            .collect();
        if now != self.served {
            host.serve(&now);
            self.served = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[[u8; 4]]) -> BTreeSet<Ipv4Addr> {
        list.iter().map(|&a| Ipv4Addr::from(a)).collect()
    }

    #[test]
    fn the_loopback_net_is_always_the_director() {
        let none = BTreeSet::new();
        for a in [[127, 0, 0, 1], [127, 1, 2, 3], [127, 255, 255, 254]] {
            assert!(is_director(std::net::IpAddr::from(Ipv4Addr::from(a)), &none, false), "{a:?}");
            assert!(is_director(std::net::IpAddr::from(Ipv4Addr::from(a)), &none, true), "{a:?}");
        }
        assert!(!is_director(std::net::IpAddr::from(Ipv4Addr::new(128, 0, 0, 1)), &none, true));
    }

    #[test]
    fn a_host_address_is_the_director_only_with_a_way_to_the_host() {
        let host = addrs(&[[198, 18, 9, 1], [198, 18, 0, 2]]);
        println!("host addresses {host:?}");
        assert!(is_director(std::net::IpAddr::from(Ipv4Addr::new(198, 18, 9, 1)), &host, true));
        assert!(is_director(std::net::IpAddr::from(Ipv4Addr::new(198, 18, 0, 2)), &host, true));
        assert!(
            !is_director(std::net::IpAddr::from(Ipv4Addr::new(198, 18, 9, 2)), &host, true),
            "a neighbour of it is not"
        );
        assert!(
            !is_director(std::net::IpAddr::from(Ipv4Addr::new(198, 18, 9, 1)), &host, false),
            "no local_device: keeps its method"
        );
    }
}
