//! ICMPv4: echo, and the error messages that quote an offending header.

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

pub fn is_error(t: u8) -> bool {
    matches!(t, DEST_UNREACHABLE | SOURCE_QUENCH | TIME_EXCEEDED | PARAMETER_PROBLEM)
}

/// Recompute the whole ICMP checksum (ICMP has no pseudo-header; messages are small).
pub fn fill_checksum(icmp: &mut [u8]) {
    icmp[2..4].fill(0);
    let c = Checksum::new().add_bytes(icmp).finish();
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
}

pub fn verify_checksum(icmp: &[u8]) -> bool {
    Checksum::new().add_bytes(icmp).finish() == 0
}
