//! IPv4 addresses as the configuration file writes them ("a.b.c.d",
//! "a.b.c.d:port", "a.b.c.d/len"), with errors that name the key, for every
//! section that takes one.

use crate::wire::ipv4::parse_cidr;
use std::net::Ipv4Addr;

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
}
