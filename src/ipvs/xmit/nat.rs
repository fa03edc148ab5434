//! LVS-NAT ("Masq"): rewrite the destination of requests to the real server,
//! and the source of replies back to the virtual service.

use crate::wire::ipv4::Header;
use crate::wire::l4::Ports;

/// Client -> real server: VIP:vport becomes RIP:rport.
#[inline]
pub fn request(ip: &mut [u8], proto: u8, daddr: u32, dport: u16) {
    let mut h = Header::new_unchecked(&mut *ip);
    let old = h.dst();
    h.set_dst(daddr);
    if let Some(mut p) = Ports::new_checked(h.payload_mut(), proto) {
        p.pseudo_addr_changed(old, daddr);
        p.set_dst_port(dport);
    }
}

/// Real server -> client: RIP:rport becomes VIP:vport.
#[inline]
pub fn reply(ip: &mut [u8], proto: u8, saddr: u32, sport: u16) {
    let mut h = Header::new_unchecked(&mut *ip);
    let old = h.src();
    h.set_src(saddr);
    if let Some(mut p) = Ports::new_checked(h.payload_mut(), proto) {
        p.pseudo_addr_changed(old, saddr);
        p.set_src_port(sport);
    }
}
