//! The standard lab with IPv6 beside IPv4: an address of 2001:db8:6::/64 on
//! the client's side and of 2001:db8:7::/64 on the real servers', the
//! addresses the IPv6 tests use, and the neighbour advertisement a host
//! answers rvs's solicitation with.

use super::topology::*;
use super::Lab;
use crate::net::iface::Interfaces;
use crate::wire::ethernet::{self, HEADER_LEN as ETH};
use crate::wire::icmpv6::{self, nd};
use crate::wire::ip_protocol::IPPROTO_ICMPV6;
use crate::wire::ipv6::{self, HEADER_LEN as IP6};
use std::net::Ipv6Addr;

pub const OUT6: &str = "2001:db8:6::1";
pub const IN6: &str = "2001:db8:7::1";
pub const VIP6: &str = "2001:db8:6::100";
pub const CLIENT6: &str = "2001:db8:6::10";
pub const RS1_6: &str = "2001:db8:7::11";
pub const RS2_6: &str = "2001:db8:7::12";

/// An IPv6 address as the pipeline holds it.
pub fn ip6(s: &str) -> u128 {
    u128::from(s.parse::<Ipv6Addr>().expect("testkit: an IPv6 address"))
}

/// The standard lab with OUT6/64 and IN6/64 on its two sides.
pub fn lab6() -> Lab {
    let mut ifaces: Interfaces = interfaces(DIR_OUT, DIR_IN);
    ifaces.0[OUT as usize].addrs6 = vec![(ip6(OUT6), 64)];
    ifaces.0[IN as usize].addrs6 = vec![(ip6(IN6), 64)];
    Lab::with_limits(ifaces, small_limits(64))
}

/// The advertisement a neighbour at `addr` (`mac`) sends rvs's address `to` on `iface`.
pub fn advertisement(iface: u8, mac: [u8; 6], addr: &str, to: &str) -> Vec<u8> {
    let mut m = [0u8; nd::MESSAGE_LEN];
    let flags = nd::FLAG_SOLICITED | nd::FLAG_OVERRIDE;
    icmpv6::write_neighbour_message(&mut m, icmpv6::NEIGHBOR_ADVERTISEMENT, flags, ip6(addr), &mac, ip6(addr), ip6(to));
    let my_mac = if iface == OUT { OUT_MAC } else { IN_MAC };
    let mut f = vec![0u8; ETH + IP6 + m.len()];
    ethernet::write_header(&mut f, &my_mac, &mac, ethernet::ETHERTYPE_IPV6);
    ipv6::write_header(&mut f[ETH..], m.len() as u16, IPPROTO_ICMPV6, 255, ip6(addr), ip6(to));
    f[ETH + IP6..].copy_from_slice(&m);
    f
}
