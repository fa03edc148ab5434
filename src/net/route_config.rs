//! `[[route]]`: the static routes, each through a gateway in a subnet of the
//! interfaces' own addresses (the connected routes).

use super::config_addr::{addr, cidr};
use crate::wire::ipv4::prefix_mask;
use serde::Deserialize;
use std::net::Ipv4Addr;

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
}
