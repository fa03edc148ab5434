//! GRE (RFC 2784, with RFC 2890's flag layout) as the kernel's gre_build_header
//! writes it for IPVS: version 0, no key, no sequence number, and the checksum
//! present (C bit) when asked for.

use super::checksum::Checksum;

/// The base header: flags and version, protocol type.
pub const BASE_LEN: usize = 4;
/// The checksum and its reserved word, when the C bit is set.
pub const CSUM_LEN: usize = 4;
/// The C bit of the flags word.
pub const FLAG_CSUM: u16 = 0x8000;
/// The protocol type of an IPv4 payload (ETH_P_IP).
pub const PROTO_IPV4: u16 = 0x0800;

pub mod field {
    use core::ops::Range;
    pub const FLAGS_VERSION: Range<usize> = 0..2;
    pub const PROTOCOL: Range<usize> = 2..4;
    /// Present with [`super::FLAG_CSUM`] only.
    pub const CHECKSUM: Range<usize> = 4..6;
    pub const RESERVED1: Range<usize> = 6..8;
}

/// The header's length (gre_calc_hlen): 4, or 8 with a checksum.
pub const fn header_len(csum: bool) -> usize {
    if csum {
        BASE_LEN + CSUM_LEN
    } else {
        BASE_LEN
    }
}

/// Write the header at the start of `pkt`, whose bytes after
/// [`header_len`]`(csum)` are the payload already in place, for a payload of
/// protocol type `proto`; with `csum` the checksum covers header and payload
/// (RFC 2784 section 2.5). `pkt` must hold at least the header.
pub fn write_header(pkt: &mut [u8], proto: u16, csum: bool) {
    let flags = if csum { FLAG_CSUM } else { 0 };
    pkt[field::FLAGS_VERSION].copy_from_slice(&flags.to_be_bytes());
    pkt[field::PROTOCOL].copy_from_slice(&proto.to_be_bytes());
    if csum {
        pkt[field::CHECKSUM.start..field::RESERVED1.end].fill(0);
        let c = Checksum::new().add_bytes(pkt).finish();
        pkt[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_covers_header_and_payload() {
        let mut p = vec![0u8; 8];
        p.extend_from_slice(&[0x45, 0, 0, 20, 1, 2, 3, 4, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 100, 0xab]);
        write_header(&mut p, PROTO_IPV4, true);
        assert_eq!(&p[..4], &[0x80, 0, 0x08, 0x00]);
        // A packet whose checksum field is right sums to 0xffff (its complement 0).
        assert_eq!(Checksum::new().add_bytes(&p).finish(), 0);
        let mut q = vec![0u8; 4];
        write_header(&mut q, PROTO_IPV4, false);
        assert_eq!(q, [0, 0, 0x08, 0x00]);
    }
}
