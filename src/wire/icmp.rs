//! ICMPv4: echo, and the error messages that quote an offending header.

use super::be16;
use super::checksum::Checksum;

pub const HEADER_LEN: usize = 8;
pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACHABLE: u8 = 3;
pub const ECHO_REQUEST: u8 = 8;
pub const TIME_EXCEEDED: u8 = 11;
pub const PARAMETER_PROBLEM: u8 = 12;
pub const SOURCE_QUENCH: u8 = 4;

/// Destination unreachable code 4: "fragmentation needed and DF set".
pub const CODE_FRAG_NEEDED: u8 = 4;
pub const CODE_HOST_UNREACHABLE: u8 = 1;
pub const CODE_TTL_EXCEEDED: u8 = 0;

/// Where each field sits in the message.
pub mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// The type-specific word: echo identifier and sequence, or the unused
    /// half and next-hop MTU of "fragmentation needed" (RFC 1191).
    pub const REST: Range<usize> = 4..8;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ: Range<usize> = 6..8;
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
    /// Echo data, or the quoted header of an error.
    pub const PAYLOAD: usize = 8;
}

pub fn is_error(t: u8) -> bool {
    matches!(t, DEST_UNREACHABLE | SOURCE_QUENCH | TIME_EXCEEDED | PARAMETER_PROBLEM)
}

/// A view of an ICMP message (header and payload) at least [`HEADER_LEN`] long.
pub struct Message<T>(T);

impl<T: AsRef<[u8]>> Message<T> {
    /// `None` when shorter than the 8-byte header. The checksum is not
    /// checked here: [`Message::checksum_ok`] says.
    pub fn new_checked(buf: T) -> Option<Self> {
        (buf.as_ref().len() >= HEADER_LEN).then_some(Message(buf))
    }
    #[inline]
    fn b(&self) -> &[u8] {
        self.0.as_ref()
    }
    pub fn msg_type(&self) -> u8 {
        self.b()[field::TYPE]
    }
    pub fn code(&self) -> u8 {
        self.b()[field::CODE]
    }
    pub fn checksum(&self) -> u16 {
        be16(&self.b()[field::CHECKSUM])
    }
    pub fn checksum_ok(&self) -> bool {
        verify_checksum(self.b())
    }
    pub fn echo_ident(&self) -> u16 {
        be16(&self.b()[field::ECHO_IDENT])
    }
    pub fn echo_seq(&self) -> u16 {
        be16(&self.b()[field::ECHO_SEQ])
    }
    pub fn next_hop_mtu(&self) -> u16 {
        be16(&self.b()[field::NEXT_HOP_MTU])
    }
    /// Echo data, or the quoted packet of an error.
    pub fn payload(&self) -> &[u8] {
        &self.b()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Message<T> {
    /// Type, code and the rest-of-header word of a new message; the checksum
    /// is left to [`Message::fill_checksum`], once the payload is in.
    pub fn set_header(&mut self, msg_type: u8, code: u8, rest: u32) {
        let b = self.0.as_mut();
        b[field::TYPE] = msg_type;
        b[field::CODE] = code;
        b[field::REST].copy_from_slice(&rest.to_be_bytes());
    }
    /// Change the type (echo request to reply), checksum left to the caller.
    pub fn set_msg_type(&mut self, msg_type: u8) {
        self.0.as_mut()[field::TYPE] = msg_type;
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.0.as_mut()[field::PAYLOAD..]
    }
    /// Recompute the whole checksum (ICMP has no pseudo-header; messages are small).
    pub fn fill_checksum(&mut self) {
        fill_checksum(self.0.as_mut());
    }
}

/// Recompute the whole ICMP checksum of `icmp` (header and payload).
pub fn fill_checksum(icmp: &mut [u8]) {
    icmp[field::CHECKSUM].fill(0);
    let c = Checksum::new().add_bytes(icmp).finish();
    icmp[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
}

pub fn verify_checksum(icmp: &[u8]) -> bool {
    Checksum::new().add_bytes(icmp).finish() == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captured::{ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, TCP_SYN};
    use crate::wire::ethernet::HEADER_LEN as ETH;
    const IP: usize = ETH + 20;

    #[test]
    fn parses_a_captured_echo_request() {
        let m = Message::new_checked(&ICMP_ECHO_REQUEST[IP..]).expect("16 bytes");
        assert_eq!((m.msg_type(), m.code(), m.checksum()), (ECHO_REQUEST, 0, 0xcc4f));
        assert_eq!((m.echo_ident(), m.echo_seq()), (8095, 1));
        assert!(m.checksum_ok());
        assert_eq!(m.payload(), &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert!(!is_error(m.msg_type()));
    }

    #[test]
    fn turns_the_request_into_the_captured_reply() {
        let mut b = [0u8; 16];
        b.copy_from_slice(&ICMP_ECHO_REQUEST[IP..]);
        let mut m = Message::new_checked(&mut b[..]).expect("16 bytes");
        m.set_msg_type(ECHO_REPLY);
        assert!(!m.checksum_ok(), "stale until filled");
        m.fill_checksum();
        assert_eq!(m.checksum(), 0xd44f);
        assert_eq!(b, ICMP_ECHO_REPLY[IP..]);
    }

    #[test]
    fn builds_a_frag_needed_quoting_a_captured_syn() {
        // RFC 1191: type 3 code 4, the next-hop MTU in the low half of the rest word,
        // then the offending IP header and 8 bytes of its payload.
        let mut b = [0u8; HEADER_LEN + 28];
        let mut m = Message::new_checked(&mut b[..]).expect("36 bytes");
        m.set_header(DEST_UNREACHABLE, CODE_FRAG_NEEDED, 1400);
        m.payload_mut().copy_from_slice(&TCP_SYN[ETH..ETH + 28]);
        m.fill_checksum();
        let m = Message::new_checked(&b[..]).expect("36 bytes");
        assert_eq!((m.msg_type(), m.code(), m.next_hop_mtu()), (3, 4, 1400));
        assert!(m.checksum_ok() && is_error(m.msg_type()));
        assert_eq!(&b[field::REST], &[0, 0, 0x05, 0x78]);
        assert_eq!(Checksum::new().add_bytes(&b).finish(), 0);
    }

    #[test]
    fn refuses_short_messages_and_bad_checksums() {
        assert!(Message::new_checked(&ICMP_ECHO_REQUEST[IP..IP + 7]).is_none());
        let mut b = ICMP_ECHO_REQUEST;
        b[IP + field::PAYLOAD] ^= 0x80;
        assert!(!Message::new_checked(&b[IP..]).expect("16 bytes").checksum_ok());
        assert!([DEST_UNREACHABLE, SOURCE_QUENCH, TIME_EXCEEDED, PARAMETER_PROBLEM].iter().all(|&t| is_error(t)));
        assert!(![ECHO_REPLY, ECHO_REQUEST, 5, 13].iter().any(|&t| is_error(t)));
    }
}
