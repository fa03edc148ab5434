//! FULLNAT (DPVS's "SNAT to a director address"): requests leave with the
//! source rewritten to a local address and port of the director and the
//! destination to the real server; replies come back to that local address
//! and are rewritten to come from the VIP and go to the client. The real
//! server needs no route to the client at all. Both ends (and, with
//! `decrement_ttl`, the TTL) change in one checksum pass.

use super::rewrite::{rewrite, Endpoint};

/// Client -> real server: CIP:cport > VIP:vport becomes LIP:lport > RIP:rport.
#[inline]
pub fn request(ip: &mut [u8], proto: u8, local: Endpoint, server: Endpoint, decrement_ttl: bool) {
    rewrite(ip, proto, Some(local), Some(server), decrement_ttl);
}

/// Real server -> client: RIP:rport > LIP:lport becomes VIP:vport > CIP:cport.
#[inline]
pub fn reply(ip: &mut [u8], proto: u8, virt: Endpoint, client: Endpoint, decrement_ttl: bool) {
    rewrite(ip, proto, Some(virt), Some(client), decrement_ttl);
}
