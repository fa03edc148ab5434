//! LVS-NAT ("Masq"): rewrite the destination of requests to the real server,
//! and the source of replies back to the virtual service; with
//! `decrement_ttl` the hop is taken off in the same checksum pass.

use super::rewrite::rewrite;

/// Client -> real server: VIP:vport becomes RIP:rport.
#[inline]
pub fn request(ip: &mut [u8], proto: u8, daddr: u32, dport: u16, decrement_ttl: bool) {
    rewrite(ip, proto, None, Some((daddr, dport)), decrement_ttl);
}

/// Real server -> client: RIP:rport becomes VIP:vport.
#[inline]
pub fn reply(ip: &mut [u8], proto: u8, saddr: u32, sport: u16, decrement_ttl: bool) {
    rewrite(ip, proto, Some((saddr, sport)), None, decrement_ttl);
}
