//! The director's own small network stack: its interfaces and addresses,
//! a longest-prefix-match route table, and the ARP neighbour table; and
//! rvs's dealings with the kernel's routing socket: following the kernel's
//! addresses on owned interfaces, announcing VIPs to a BGP daemon.
pub mod addr_watch;
pub mod announce;
pub mod iface;
pub mod neighbour;
pub mod route;
pub mod rtnl;

/// Index of an interface rvs owns (position in the config's interface list).
pub type IfaceId = u8;
