//! FULLNAT (DPVS's "SNAT to a director address"): requests leave with the
//! source rewritten to a local address and port of the director and the
//! destination to the real server; replies come back to that local address
//! and are rewritten to come from the VIP and go to the client. The real
//! server needs no route to the client at all.

use crate::wire::ipv4::Header;
use crate::wire::l4::Ports;

/// Rewrite both ends of an IPv4 TCP/UDP packet, checksums kept right.
#[inline]
pub fn rewrite(ip: &mut [u8], proto: u8, src: (u32, u16), dst: (u32, u16)) {
    let mut h = Header::new_unchecked(&mut *ip);
    let (old_src, old_dst) = (h.src(), h.dst());
    h.set_src(src.0);
    h.set_dst(dst.0);
    if let Some(mut p) = Ports::new_checked(h.payload_mut(), proto) {
        p.pseudo_addr_changed(old_src, src.0);
        p.pseudo_addr_changed(old_dst, dst.0);
        p.set_src_port(src.1);
        p.set_dst_port(dst.1);
    }
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
