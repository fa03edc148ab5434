//! Generic UDP Encapsulation (draft-ietf-intarea-gue), variant 0, as IPVS's
//! ipvs_gue_encap writes it: a 4-byte header after the UDP header, then the
//! inner packet. The kernel's `struct guehdr`.

/// The header without options (hlen 0): what IPVS sends for a packet whose
/// checksum is complete (see xmit/gue.rs on remcsum).
pub const HEADER_LEN: usize = 4;

pub mod field {
    /// Version (2 bits, 0), control (1 bit, 0: data) and header length in
    /// 32-bit words of options (5 bits).
    pub const VER_C_HLEN: usize = 0;
    /// The inner packet's IP protocol (4: IPv4).
    pub const PROTO_CTYPE: usize = 1;
    pub const FLAGS: core::ops::Range<usize> = 2..4;
}

/// Write a data header without options for an inner packet of IP protocol `proto`.
pub fn write_header(h: &mut [u8; HEADER_LEN], proto: u8) {
    h[field::VER_C_HLEN] = 0;
    h[field::PROTO_CTYPE] = proto;
    h[field::FLAGS].copy_from_slice(&[0, 0]);
}
