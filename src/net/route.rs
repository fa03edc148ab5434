//! Longest-prefix-match routing over connected subnets and static routes.

use super::iface::Interfaces;
use super::IfaceId;
use crate::wire::ipv4::prefix_mask;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub dest: u32,
    pub prefix_len: u8,
    pub iface: IfaceId,
    /// `None` for a connected route: the destination itself is the next hop.
    pub gateway: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    pub iface: IfaceId,
    pub addr: u32,
}

/// Routes sorted longest prefix first, so the first match wins. Directors
/// carry a handful of routes: a scan of a short sorted array beats a trie.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Connected routes from the interfaces' addresses, then the static ones.
    /// A static route's gateway must sit in a connected subnet; its interface
    /// is that subnet's.
    pub fn build(ifaces: &Interfaces, statics: &[(u32, u8, u32)]) -> Result<Self, String> {
        let mut routes = Vec::new();
        for i in &ifaces.0 {
            for &(a, l) in &i.addrs {
                routes.push(Route { dest: a & prefix_mask(l), prefix_len: l, iface: i.id, gateway: None });
            }
        }
        let connected = RouteTable::sorted(routes.clone());
        for &(dest, len, gw) in statics {
            let via = connected
                .lookup(gw)
                .ok_or_else(|| format!("gateway {} is not in a connected subnet", std::net::Ipv4Addr::from(gw)))?;
            routes.push(Route { dest: dest & prefix_mask(len), prefix_len: len, iface: via.iface, gateway: Some(gw) });
        }
        Ok(RouteTable::sorted(routes))
    }

    fn sorted(mut routes: Vec<Route>) -> Self {
        routes.sort_by(|a, b| b.prefix_len.cmp(&a.prefix_len));
        RouteTable { routes }
    }

    pub fn lookup(&self, dst: u32) -> Option<NextHop> {
        self.routes
            .iter()
            .find(|r| dst & prefix_mask(r.prefix_len) == r.dest)
            .map(|r| NextHop { iface: r.iface, addr: r.gateway.unwrap_or(dst) })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::iface::Interface;

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
    }

    #[test]
    fn longest_prefix_wins() {
        let ifs = Interfaces(vec![
            Interface {
                id: 0,
                name: "o".into(),
                mac: [0; 6],
                mtu: 1500,
                vlan: 0,
                port: 0,
                addrs: vec![(ip("198.18.0.1"), 24)],
                vips: vec![],
                addrs6: vec![],
                routes6: vec![],
                vips6: vec![],
            },
            Interface {
                id: 1,
                name: "i".into(),
                mac: [0; 6],
                mtu: 1500,
                vlan: 0,
                port: 1,
                addrs: vec![(ip("198.18.1.1"), 24)],
                vips: vec![],
                addrs6: vec![],
                routes6: vec![],
                vips6: vec![],
            },
        ]);
        let t =
            RouteTable::build(&ifs, &[(0, 0, ip("198.18.0.254")), (ip("198.19.0.0"), 16, ip("198.18.1.254"))]).unwrap();
        assert_eq!(t.lookup(ip("198.18.1.7")), Some(NextHop { iface: 1, addr: ip("198.18.1.7") }));
        assert_eq!(t.lookup(ip("198.19.3.3")), Some(NextHop { iface: 1, addr: ip("198.18.1.254") }));
        assert_eq!(t.lookup(ip("203.0.113.9")), Some(NextHop { iface: 0, addr: ip("198.18.0.254") }));
        assert!(RouteTable::build(&ifs, &[(0, 0, ip("198.20.0.1"))]).is_err());
    }
}
