//! FULLNAT (DPVS's "SNAT to a director address"): requests leave with the
//! source rewritten to a local address and port of the director and the
//! destination to the real server; replies come back to that local address
//! and are rewritten to come from the VIP and go to the client. The real
//! server needs no route to the client at all.

use super::rewrite::rewrite as rewrite_one_pass;

/// Rewrite both ends of an IPv4 TCP/UDP packet in one pass, checksums kept right.
#[inline]
pub fn rewrite(ip: &mut [u8], proto: u8, src: (u32, u16), dst: (u32, u16)) {
    rewrite_one_pass(ip, proto, Some(src), Some(dst), false);
}

/// Client -> real server: CIP:cport > VIP:vport becomes LIP:lport > RIP:rport.
#[inline]
pub fn request(ip: &mut [u8], proto: u8, laddr: u32, lport: u16, daddr: u32, dport: u16) {
    rewrite(ip, proto, (laddr, lport), (daddr, dport));
}

/// Real server -> client: RIP:rport > LIP:lport becomes VIP:vport > CIP:cport.
#[inline]
pub fn reply(ip: &mut [u8], proto: u8, vaddr: u32, vport: u16, caddr: u32, cport: u16) {
    rewrite(ip, proto, (vaddr, vport), (caddr, cport));
}
