//! LVS-DR ("Route"): the IP packet is not touched at all; only the Ethernet
//! destination changes to the real server's MAC (the pipeline resolves it,
//! using the real server's own address as the next hop). The real server
//! holds the VIP on a non-ARPing interface and answers the client directly.

/// The next hop for a DR real server is the real server itself.
#[inline]
pub fn next_hop(real_server: u32) -> u32 {
    real_server
}
