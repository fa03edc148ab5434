//! LVS-TUN ("Tunnel"): the client's packet, untouched, inside a new IPv4
//! header (IPIP, protocol 4) from the director to the real server, which
//! decapsulates it and answers the client directly from the VIP.

use crate::wire::ipv4::{self, Header};

use crate::wire::ip_protocol::IPPROTO_IPIP;
pub const OUTER_LEN: usize = ipv4::MIN_HEADER_LEN;

/// Encapsulate the IPv4 packet at `buf[off..off + len]` in place: it moves
/// `OUTER_LEN` bytes up and the outer header goes in front. As IPVS does, the
/// outer header copies the inner TTL and DF. Returns the new packet length,
/// or `None` when `buf` has no room.
pub fn encapsulate(buf: &mut [u8], off: usize, len: usize, src: u32, dst: u32, ident: u16) -> Option<usize> {
    let total = len + OUTER_LEN;
    if off + total > buf.len() || total > u16::MAX as usize {
        return None;
    }
    let (ttl, df) = {
        let inner = Header::new_unchecked(&buf[off..off + len]);
        (inner.ttl(), inner.dont_fragment())
    };
    buf.copy_within(off..off + len, off + OUTER_LEN);
    ipv4::write_header(&mut buf[off..], total as u16, ident, df, ttl, IPPROTO_IPIP, src, dst);
    Some(total)
}
