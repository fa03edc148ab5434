//! ICMPv6 (RFC 4443) and neighbour discovery's solicitation and
//! advertisement (RFC 4861 4.3, 4.4).
//!
//! An ICMPv6 message has ICMPv4's 8-byte layout (type, code, checksum, a
//! type-specific word), so [`super::icmp::Message`] views it; what differs
//! is the checksum, which covers the IPv6 pseudo-header (RFC 8200 8.1).

use super::checksum::Checksum;
use super::icmp::{field, HEADER_LEN};
use super::ip_protocol::IPPROTO_ICMPV6;

pub const DEST_UNREACHABLE: u8 = 1;
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;
pub const PARAMETER_PROBLEM: u8 = 4;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const ROUTER_SOLICITATION: u8 = 133;
pub const ROUTER_ADVERTISEMENT: u8 = 134;
pub const NEIGHBOR_SOLICITATION: u8 = 135;
pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;

/// Error messages have types below 128 (RFC 4443 2.1).
pub fn is_error(t: u8) -> bool {
    t < 128
}

/// The sum of the IPv6 pseudo-header of an upper-layer packet of `len` bytes.
pub fn pseudo_header(src: u128, dst: u128, next_header: u8, len: u32) -> Checksum {
    Checksum::new().add_bytes(&src.to_be_bytes()).add_bytes(&dst.to_be_bytes()).add_u32(len).add_u32(next_header as u32)
}

/// Fill the checksum of the ICMPv6 message `msg` sent from `src` to `dst`.
pub fn fill_checksum(msg: &mut [u8], src: u128, dst: u128) {
    msg[field::CHECKSUM].fill(0);
    let c = pseudo_header(src, dst, IPPROTO_ICMPV6, msg.len() as u32).add_bytes(msg).finish();
    msg[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
}

pub fn verify_checksum(msg: &[u8], src: u128, dst: u128) -> bool {
    pseudo_header(src, dst, IPPROTO_ICMPV6, msg.len() as u32).add_bytes(msg).finish() == 0
}

/// Neighbour discovery's layout after the 4-byte ICMPv6 header.
pub mod nd {
    use core::ops::Range;
    /// Advertisement flags, the first byte of the reserved word.
    pub const FLAGS: usize = 4;
    pub const FLAG_ROUTER: u8 = 0x80;
    pub const FLAG_SOLICITED: u8 = 0x40;
    pub const FLAG_OVERRIDE: u8 = 0x20;
    pub const TARGET: Range<usize> = 8..24;
    /// Where the options start; each is type, length in 8-byte units, data.
    pub const OPTIONS: usize = 24;
    pub const OPT_SOURCE_LL: u8 = 1;
    pub const OPT_TARGET_LL: u8 = 2;
    /// A solicitation or advertisement with one link-layer address option.
    pub const MESSAGE_LEN: usize = OPTIONS + 8;
}

/// A neighbour solicitation or advertisement read from a checked ICMPv6
/// message (RFC 4861 7.1.1, 7.1.2: at least 24 bytes, code 0, options of
/// non-zero length that fit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourMessage {
    pub target: u128,
    pub flags: u8,
    /// The source link-layer address (a solicitation's) or the target's (an
    /// advertisement's), when the message carries it.
    pub link_addr: Option<[u8; 6]>,
}

/// The solicitation or advertisement in `msg` (its checksum already
/// verified), or `None` when it breaks RFC 4861's validity rules.
pub fn neighbour_message(msg: &[u8]) -> Option<NeighbourMessage> {
    let t = *msg.first()?;
    if !(t == NEIGHBOR_SOLICITATION || t == NEIGHBOR_ADVERTISEMENT) || msg.len() < nd::OPTIONS || msg[1] != 0 {
        return None;
    }
    let mut target = [0u8; 16];
    target.copy_from_slice(&msg[nd::TARGET]);
    let wanted = if t == NEIGHBOR_SOLICITATION { nd::OPT_SOURCE_LL } else { nd::OPT_TARGET_LL };
    let mut link_addr = None;
    let mut at = nd::OPTIONS;
    while at < msg.len() {
        let (kind, len) = (msg[at], *msg.get(at + 1)? as usize * 8);
        if len == 0 || at + len > msg.len() {
            return None;
        }
        if kind == wanted && len == 8 {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&msg[at + 2..at + 8]);
            link_addr = Some(mac);
        }
        at += len;
    }
    Some(NeighbourMessage { target: u128::from_be_bytes(target), flags: msg[nd::FLAGS], link_addr })
}

/// Write a solicitation (`kind` 135, `mac` the source link-layer address) or
/// an advertisement (136, `mac` the target's, `flags`) of `target` into
/// `msg[..nd::MESSAGE_LEN]`, checksum filled for `src` to `dst`.
pub fn write_neighbour_message(
    msg: &mut [u8],
    kind: u8,
    flags: u8,
    target: u128,
    mac: &[u8; 6],
    src: u128,
    dst: u128,
) -> usize {
    let m = &mut msg[..nd::MESSAGE_LEN];
    m.fill(0);
    m[field::TYPE] = kind;
    m[nd::FLAGS] = flags;
    m[nd::TARGET].copy_from_slice(&target.to_be_bytes());
    m[nd::OPTIONS] = if kind == NEIGHBOR_SOLICITATION { nd::OPT_SOURCE_LL } else { nd::OPT_TARGET_LL };
    m[nd::OPTIONS + 1] = 1;
    m[nd::OPTIONS + 2..nd::OPTIONS + 8].copy_from_slice(mac);
    fill_checksum(m, src, dst);
    nd::MESSAGE_LEN
}

const _: () = assert!(nd::MESSAGE_LEN > HEADER_LEN);

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn a(s: &str) -> u128 {
        u128::from(s.parse::<Ipv6Addr>().unwrap())
    }

    /// An echo request (id 0x1c2d, seq 1, 8 bytes of data); its checksum field is
    /// refilled by the tests.
    const ECHO: [u8; 16] = [0x80, 0x00, 0x1c, 0x70, 0x1c, 0x2d, 0x00, 0x01, 0, 1, 2, 3, 4, 5, 6, 7];

    #[test]
    fn the_checksum_covers_the_pseudo_header() {
        let (s, d) = (a("2001:db8::1"), a("2001:db8::2"));
        let mut m = ECHO;
        fill_checksum(&mut m, s, d);
        assert!(verify_checksum(&m, s, d));
        assert!(!verify_checksum(&m, s, a("2001:db8::3")), "another destination, another sum");
        // Independently: the one's-complement sum over pseudo-header and message is 0xffff.
        let mut words: Vec<u16> = Vec::new();
        for x in [s.to_be_bytes(), d.to_be_bytes()] {
            words.extend(x.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])));
        }
        words.extend([0, m.len() as u16, 0, 58]);
        words.extend(m.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])));
        let mut sum: u32 = words.iter().map(|&w| w as u32).sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
    }

    #[test]
    fn a_solicitation_and_an_advertisement_round_trip() {
        let mac = [0x02, 0, 0, 0, 0, 0x11];
        let (me, peer, target) = (a("2001:db8::1"), a("2001:db8::2"), a("2001:db8::100"));
        let mut m = [0u8; nd::MESSAGE_LEN];
        let n = write_neighbour_message(&mut m, NEIGHBOR_SOLICITATION, 0, target, &mac, peer, me);
        assert!(verify_checksum(&m[..n], peer, me));
        let ns = neighbour_message(&m[..n]).unwrap();
        assert_eq!(ns, NeighbourMessage { target, flags: 0, link_addr: Some(mac) });
        let flags = nd::FLAG_SOLICITED | nd::FLAG_OVERRIDE;
        write_neighbour_message(&mut m, NEIGHBOR_ADVERTISEMENT, flags, target, &mac, me, peer);
        assert_eq!(neighbour_message(&m).unwrap(), NeighbourMessage { target, flags, link_addr: Some(mac) });
        // The solicitation's option type in an advertisement is not its target's address.
        let mut wrong = m;
        wrong[nd::OPTIONS] = nd::OPT_SOURCE_LL;
        assert_eq!(neighbour_message(&wrong).unwrap().link_addr, None);
    }

    #[test]
    fn invalid_neighbour_messages_are_refused() {
        let mac = [2, 0, 0, 0, 0, 1];
        let mut m = [0u8; nd::MESSAGE_LEN];
        write_neighbour_message(&mut m, NEIGHBOR_SOLICITATION, 0, a("2001:db8::1"), &mac, 0, 0);
        assert!(neighbour_message(&m[..23]).is_none(), "shorter than the target");
        let mut code = m;
        code[1] = 1;
        assert!(neighbour_message(&code).is_none(), "code not 0");
        let mut zero = m;
        zero[nd::OPTIONS + 1] = 0;
        assert!(neighbour_message(&zero).is_none(), "an option of length 0");
        let mut long = m;
        long[nd::OPTIONS + 1] = 2;
        assert!(neighbour_message(&long).is_none(), "an option past the end");
        assert!(neighbour_message(&ECHO).is_none());
        assert!(neighbour_message(&m[..nd::OPTIONS]).unwrap().link_addr.is_none(), "no option is valid");
    }
}
