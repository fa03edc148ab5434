//! The classic pcap savefile (what `tcpdump -w` writes and `tcpdump -r`, tshark and
//! Wireshark read): a 24-byte file header, then per frame a 16-byte record header and the
//! frame's bytes. Written by hand: two fixed little-endian headers are fewer lines than a
//! crate's writer wrapped around our own ring buffers, and the records are assembled on the
//! control side straight from those buffers.
//!
//! Microsecond timestamps, the writer's byte order (little endian: magic 0xa1b2c3d4 as
//! d4 c3 b2 a1), version 2.4, link type Ethernet. Classic pcap has no direction field:
//! a frame received and the same frame sent after the rewrite are two records.

use super::filter::{LINKTYPE_ETHERNET, SNAPLEN};

pub const FILE_HEADER_LEN: usize = 24;
pub const RECORD_HEADER_LEN: usize = 16;
const MAGIC_MICROSECONDS: u32 = 0xa1b2_c3d4;

/// The file header: magic, version 2.4, no time zone offset or accuracy, snapshot length,
/// link type.
pub fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC_MICROSECONDS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

/// One record's header: when (seconds and microseconds since the epoch), how many bytes the
/// file holds, and how long the frame was.
pub fn record_header(sec: u32, usec: u32, caplen: u32, wire_len: u32) -> [u8; RECORD_HEADER_LEN] {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&sec.to_le_bytes());
    h[4..8].copy_from_slice(&usec.to_le_bytes());
    h[8..12].copy_from_slice(&caplen.to_le_bytes());
    h[12..16].copy_from_slice(&wire_len.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout libpcap's sf-pcap.c reads, field by field.
    #[test]
    fn headers_as_libpcap_reads_them() {
        let f = file_header();
        assert_eq!(f[..4], [0xd4, 0xc3, 0xb2, 0xa1], "little-endian microsecond magic");
        assert_eq!(u16::from_le_bytes([f[4], f[5]]), 2);
        assert_eq!(u16::from_le_bytes([f[6], f[7]]), 4);
        assert_eq!(f[8..16], [0; 8], "thiszone and sigfigs");
        assert_eq!(u32::from_le_bytes(f[16..20].try_into().unwrap()), 262_144);
        assert_eq!(u32::from_le_bytes(f[20..24].try_into().unwrap()), 1, "LINKTYPE_ETHERNET");
        let r = record_header(1_700_000_000, 999_999, 60, 1514);
        assert_eq!(u32::from_le_bytes(r[0..4].try_into().unwrap()), 1_700_000_000);
        assert_eq!(u32::from_le_bytes(r[4..8].try_into().unwrap()), 999_999);
        assert_eq!(u32::from_le_bytes(r[8..12].try_into().unwrap()), 60);
        assert_eq!(u32::from_le_bytes(r[12..16].try_into().unwrap()), 1514);
    }
}
