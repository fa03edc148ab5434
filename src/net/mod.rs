//! The director's own small network stack: its interfaces and addresses,
//! a longest-prefix-match route table, the ARP neighbour table, and the
//! store where IP fragments wait for the rest of their datagram. (The
//! kernel's own routing socket is [`crate::kernel`]'s business.)
pub mod config_addr;
pub mod iface;
pub mod neighbour;
pub mod reassembly;
pub mod route;
pub mod route_config;

/// Index of an interface rvs owns (position in the config's interface list).
pub type IfaceId = u8;
