//! `[[route]]`: the static routes, each through a gateway in a subnet of the
//! interfaces' own addresses (the connected routes). An IPv6 destination
//! takes an IPv6 gateway in a subnet of the interfaces' IPv6 addresses: the
//! IPv6 path's routes (`net::iface::Interface::routes6`, held with the
//! interface the gateway is on).

use super::config_addr::{addr, addr6, cidr, prefix6};
use crate::wire::ipv4::prefix_mask;
use serde::Deserialize;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPv6 static route: (destination, prefix length, gateway).
pub type Route6 = (Ipv6Addr, u8, Ipv6Addr);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    destination: String,
    gateway: String,
}

/// (destination, prefix length, gateway), in the file's order; `connected`:
/// every interface's addresses with their prefix lengths.
pub fn parse_routes(raw: &[RawRoute], connected: &[(Ipv4Addr, u8)]) -> Result<Vec<(Ipv4Addr, u8, Ipv4Addr)>, String> {
    let mut routes = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        if r.destination.contains(':') {
            continue;
        }
        let (d, l) = cidr(&format!("route[{i}].destination"), &r.destination)?;
        let gw = addr(&format!("route[{i}].gateway"), &r.gateway)?;
        let reachable = connected.iter().any(|&(a, l)| u32::from(a) & prefix_mask(l) == u32::from(gw) & prefix_mask(l));
        if !reachable {
            return Err(format!("route[{i}].gateway: {gw} is not in a subnet of any interface's addresses"));
        }
        routes.push((d, l, gw));
    }
    Ok(routes)
}

/// The IPv6 routes of `raw`, each with the index of the interface (of
/// `connected`: each interface's IPv6 addresses) whose subnet holds its gateway.
pub fn parse_routes6(raw: &[RawRoute], connected: &[Vec<(Ipv6Addr, u8)>]) -> Result<Vec<(usize, Route6)>, String> {
    let mut routes = Vec::new();
    for (i, r) in raw.iter().enumerate().filter(|(_, r)| r.destination.contains(':')) {
        let (d, l) = prefix6(&format!("route[{i}].destination"), &r.destination)?;
        let gw = addr6(&format!("route[{i}].gateway"), &r.gateway)?;
        let on = |&(a, l): &(Ipv6Addr, u8)| {
            let m = crate::wire::ipv6::prefix_mask(l);
            u128::from(a) & m == u128::from(gw) & m
        };
        let Some(k) = connected.iter().position(|addrs| addrs.iter().any(on)) else {
            return Err(format!("route[{i}].gateway: {gw} is not in a subnet of any interface's IPv6 addresses"));
        };
        routes.push((k, (d, l, gw)));
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_must_be_connected() {
        let raw: Vec<RawRoute> =
            vec![toml::from_str("destination = \"198.19.0.0/16\"\ngateway = \"198.18.1.254\"").unwrap()];
        let connected = [(Ipv4Addr::new(198, 18, 1, 1), 24)];
        assert_eq!(
            parse_routes(&raw, &connected),
            Ok(vec![(Ipv4Addr::new(198, 19, 0, 0), 16, Ipv4Addr::new(198, 18, 1, 254))])
        );
        let e = parse_routes(&raw, &[(Ipv4Addr::new(198, 18, 0, 1), 24)]).unwrap_err();
        assert_eq!(e, "route[0].gateway: 198.18.1.254 is not in a subnet of any interface's addresses");
    }

    #[test]
    fn an_ipv6_route_belongs_to_the_interface_of_its_gateway() {
        let raw: Vec<RawRoute> = vec![
            toml::from_str("destination = \"198.19.0.0/16\"\ngateway = \"198.18.1.254\"").unwrap(),
            toml::from_str("destination = \"::/0\"\ngateway = \"2001:db8:6::fe\"").unwrap(),
        ];
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let connected = [vec![(a("2001:db8:7::1"), 64)], vec![(a("2001:db8:6::1"), 64)]];
        assert_eq!(parse_routes6(&raw, &connected), Ok(vec![(1, (a("::"), 0, a("2001:db8:6::fe")))]));
        assert_eq!(parse_routes(&raw, &[(Ipv4Addr::new(198, 18, 1, 1), 24)]).unwrap().len(), 1, "IPv4's own");
        let e = parse_routes6(&raw, &connected[..1]).unwrap_err();
        assert_eq!(e, "route[1].gateway: 2001:db8:6::fe is not in a subnet of any interface's IPv6 addresses");
        let bad: Vec<RawRoute> =
            vec![toml::from_str("destination = \"2001:db8::/32\"\ngateway = \"198.18.1.254\"").unwrap()];
        assert!(parse_routes6(&bad, &connected).unwrap_err().contains("route[0].gateway"));
    }
}
