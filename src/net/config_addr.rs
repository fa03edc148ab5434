//! IPv4 (and the interface lists' IPv6) addresses as the configuration file writes them ("a.b.c.d",
//! "a.b.c.d:port", "a.b.c.d/len"), with errors that name the key, for every
//! section that takes one.

use crate::wire::ipv4::parse_cidr;
use crate::wire::ipv6::{is_link_local, is_multicast};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// "a.b.c.d".
pub fn addr(key: &str, s: &str) -> Result<Ipv4Addr, String> {
    s.trim().parse().map_err(|_| format!("{key}: '{s}' is not an IPv4 address"))
}

/// "a.b.c.d[:port]" with the port defaulting to `default_port`.
pub fn addr_port(key: &str, s: &str, default_port: Option<u16>) -> Result<(Ipv4Addr, u16), String> {
    let (a, p) = match s.rsplit_once(':') {
        Some((a, p)) => (a, Some(p.parse::<u16>().map_err(|_| format!("{key}: '{p}' is not a port number"))?)),
        None => (s, None),
    };
    let ip = addr(key, a)?;
    let port = p.or(default_port).ok_or_else(|| format!("{key}: '{s}' needs a port (ADDRESS:PORT)"))?;
    Ok((ip, port))
}

/// "a.b.c.d/len".
pub fn cidr(key: &str, s: &str) -> Result<(Ipv4Addr, u8), String> {
    parse_cidr(s).ok_or_else(|| format!("{key}: '{s}' is not ADDRESS/PREFIX"))
}

/// An IPv6 address, plain ("2001:db8::1"), as the interface lists take it.
pub fn addr6(key: &str, s: &str) -> Result<Ipv6Addr, String> {
    let a: Ipv6Addr = s.trim().parse().map_err(|_| format!("{key}: '{s}' is not an IPv6 address"))?;
    usable6(key, a)
}

/// "2001:db8::1/64", an address of rvs's own.
pub fn cidr6(key: &str, s: &str) -> Result<(Ipv6Addr, u8), String> {
    let (a, l) = prefix6(key, s)?;
    Ok((usable6(key, a)?, l))
}

/// "2001:db8::/32" or "::/0": any prefix (a route's destination).
pub fn prefix6(key: &str, s: &str) -> Result<(Ipv6Addr, u8), String> {
    let bad = || format!("{key}: '{s}' is not ADDRESS/PREFIX");
    let (a, l) = s.trim().split_once('/').ok_or_else(bad)?;
    let a: Ipv6Addr = a.parse().map_err(|_| bad())?;
    let l: u8 = l.parse().ok().filter(|&l| l <= 128).ok_or_else(bad)?;
    Ok((a, l))
}

/// An IPv4 or IPv6 address, as a service, a real server or a local address is written:
/// "198.18.0.1", "2001:db8::1" or "[2001:db8::1]".
pub fn ip_addr(key: &str, s: &str) -> Result<IpAddr, String> {
    let t = s.trim();
    let t = t.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(t);
    t.parse().map_err(|_| format!("{key}: '{s}' is not an IPv4 or IPv6 address"))
}

/// "a.b.c.d[:port]" or "[v6][:port]" (a bare IPv6 address, "2001:db8::1", takes the default
/// port: its colons are not a port's), the port defaulting to `default_port`.
pub fn ip_addr_port(key: &str, s: &str, default_port: Option<u16>) -> Result<(IpAddr, u16), String> {
    let t = s.trim();
    let (a, p) = if let Some(rest) = t.strip_prefix('[') {
        let (a, after) = rest.split_once(']').ok_or_else(|| format!("{key}: '{s}' has no closing ']'"))?;
        match after {
            "" => (a, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (a, Some(p)),
                None => return Err(format!("{key}: '{s}' is not [ADDRESS]:PORT")),
            },
        }
    } else if t.matches(':').count() > 1 {
        (t, None)
    } else {
        match t.rsplit_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        }
    };
    let port = match p {
        Some(p) => Some(p.parse::<u16>().map_err(|_| format!("{key}: '{p}' is not a port number"))?),
        None => None,
    };
    let ip = ip_addr(key, a)?;
    let port = port.or(default_port).ok_or_else(|| format!("{key}: '{s}' needs a port (ADDRESS:PORT)"))?;
    Ok((ip, port))
}

/// rvs answers for global unicast addresses only: the link-local and
/// multicast ranges, the unspecified and loopback addresses belong to the
/// kernel's own stack on the link.
fn usable6(key: &str, a: Ipv6Addr) -> Result<Ipv6Addr, String> {
    let v = u128::from(a);
    if a.is_unspecified() || a.is_loopback() || is_link_local(v) || is_multicast(v) {
        return Err(format!(
            "{key}: '{a}' is not a unicast address rvs can own (link-local, multicast, :: and ::1 are not)"
        ));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_key_and_the_text() {
        assert_eq!(addr("k", " 198.18.0.1 "), Ok(Ipv4Addr::new(198, 18, 0, 1)));
        assert_eq!(addr("k", "x").unwrap_err(), "k: 'x' is not an IPv4 address");
        assert_eq!(addr_port("k", "198.18.0.1", Some(80)), Ok((Ipv4Addr::new(198, 18, 0, 1), 80)));
        assert_eq!(addr_port("k", "198.18.0.1:8080", Some(80)), Ok((Ipv4Addr::new(198, 18, 0, 1), 8080)));
        assert_eq!(addr_port("k", "198.18.0.1", None).unwrap_err(), "k: '198.18.0.1' needs a port (ADDRESS:PORT)");
        assert_eq!(addr_port("k", "198.18.0.1:http", None).unwrap_err(), "k: 'http' is not a port number");
        assert_eq!(cidr("k", "198.18.0.0/24"), Ok((Ipv4Addr::new(198, 18, 0, 0), 24)));
        assert_eq!(cidr("k", "198.18.0.1").unwrap_err(), "k: '198.18.0.1' is not ADDRESS/PREFIX");
    }

    /// Services, real servers and local addresses of either family: an IPv6 address with a
    /// port in brackets, as ipvsadm writes it; a bare one has no port.
    #[test]
    fn service_addresses_of_either_family() {
        let v6: IpAddr = "2001:db8::10".parse().unwrap();
        assert_eq!(ip_addr_port("k", "[2001:db8::10]:80", None), Ok((v6, 80)));
        assert_eq!(ip_addr_port("k", "[2001:db8::10]", Some(443)), Ok((v6, 443)));
        assert_eq!(ip_addr_port("k", "2001:db8::10", Some(443)), Ok((v6, 443)));
        assert_eq!(ip_addr_port("k", "198.18.0.1:8080", None), Ok((Ipv4Addr::new(198, 18, 0, 1).into(), 8080)));
        for (text, e) in [
            ("2001:db8::10", "k: '2001:db8::10' needs a port (ADDRESS:PORT)"),
            ("[2001:db8::10:80", "k: '[2001:db8::10:80' has no closing ']'"),
            ("[2001:db8::10]80", "k: '[2001:db8::10]80' is not [ADDRESS]:PORT"),
            ("[198.18.0.1x]:80", "k: '198.18.0.1x' is not an IPv4 or IPv6 address"),
        ] {
            assert_eq!(ip_addr_port("k", text, None).unwrap_err(), e);
        }
        assert_eq!(ip_addr("k", "[2001:db8::10]"), Ok(v6));
    }

    #[test]
    fn ipv6_addresses_and_prefixes() {
        assert_eq!(addr6("k", "2001:db8::1"), Ok("2001:db8::1".parse().unwrap()));
        assert_eq!(cidr6("k", "2001:db8::1/64"), Ok(("2001:db8::1".parse().unwrap(), 64)));
        assert_eq!(cidr6("k", "2001:db8::1/129").unwrap_err(), "k: '2001:db8::1/129' is not ADDRESS/PREFIX");
        assert_eq!(cidr6("k", "2001:db8::1").unwrap_err(), "k: '2001:db8::1' is not ADDRESS/PREFIX");
        assert_eq!(addr6("k", "2001:db8::g").unwrap_err(), "k: '2001:db8::g' is not an IPv6 address");
        for bad in ["fe80::1", "ff02::1", "::", "::1"] {
            assert!(addr6("k", bad).unwrap_err().contains("is not a unicast address rvs can own"), "{bad}");
        }
    }
}
