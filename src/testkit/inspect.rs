//! Reading a frame back: its address and port fields, and every checksum in it verified by
//! full recomputation (the pipeline updates them incrementally; this is the oracle).

use crate::wire::checksum::{pseudo_header, Checksum};

/// The IPv4 address at offset `off` of the IP header (12: source, 16: destination).
pub fn field_ip(f: &[u8], off: usize) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(&f[14 + off..14 + off + 4]);
    a
}

/// The 16-bit field at offset `off` of the L4 header (0: source port, 2: destination port).
pub fn l4_port(f: &[u8], off: usize) -> u16 {
    let ihl = (f[14] & 15) as usize * 4;
    u16::from_be_bytes([f[14 + ihl + off], f[14 + ihl + off + 1]])
}

/// Full recomputation of every checksum in an Ethernet/IPv4 frame: the IP header, TCP, UDP
/// (unless 0, "none"), SCTP's CRC32c, ICMP, and the IP header an ICMP error quotes.
pub fn assert_checksums(f: &[u8]) {
    let ip = &f[14..];
    let ihl = (ip[0] & 15) as usize * 4;
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    assert_eq!(Checksum::new().add_bytes(&ip[..ihl]).finish(), 0, "IP header checksum");
    let (src, dst, proto) = (super::topology::ip(field_ip(f, 12)), super::topology::ip(field_ip(f, 16)), ip[9]);
    let l4 = &ip[ihl..total];
    match proto {
        6 => assert_eq!(pseudo_header(src, dst, 6, l4.len() as u16).add_bytes(l4).finish(), 0, "TCP checksum"),
        17 if l4[6..8] != [0, 0] => {
            assert_eq!(pseudo_header(src, dst, 17, l4.len() as u16).add_bytes(l4).finish(), 0, "UDP checksum")
        }
        132 => {
            assert!(crate::wire::sctp::Packet::parse(l4).is_ok_and(|p| p.checksum_ok()), "SCTP CRC32c (or chunk list)")
        }
        1 => {
            assert_eq!(Checksum::new().add_bytes(l4).finish(), 0, "ICMP checksum");
            if l4[0] == 3 || l4[0] == 11 {
                let q = &l4[8..];
                let qihl = (q[0] & 15) as usize * 4;
                assert_eq!(Checksum::new().add_bytes(&q[..qihl]).finish(), 0, "quoted IP header checksum");
            }
        }
        _ => {}
    }
}

/// The datagram the IPv4 fragments `frags` (Ethernet frames, any order) carry, as one frame:
/// the first fragment's Ethernet and IP headers with MF and the offset cleared, the total
/// length and header checksum made right, and the payloads at their offsets. Panics if a
/// piece is missing or pieces overlap.
pub fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
    let offset = |f: &[u8]| (u16::from_be_bytes([f[20], f[21]]) & 0x1fff) as usize * 8;
    let mut sorted: Vec<&Vec<u8>> = frags.iter().collect();
    sorted.sort_by_key(|f| offset(f));
    let first = sorted.first().expect("testkit: no fragments");
    assert_eq!(offset(first), 0, "testkit: no first fragment");
    let ihl = (first[14] & 15) as usize * 4;
    let mut v = first[..14 + ihl].to_vec();
    for f in &sorted {
        let (fihl, total) = ((f[14] & 15) as usize * 4, u16::from_be_bytes([f[16], f[17]]) as usize);
        assert_eq!(offset(f), v.len() - 14 - ihl, "testkit: a hole or an overlap");
        v.extend_from_slice(&f[14 + fihl..14 + total]);
    }
    let last = sorted.last().expect("testkit: no fragments");
    assert_eq!(last[20] & 0x20, 0, "testkit: the last piece has MF");
    let total = (v.len() - 14) as u16;
    v[16..18].copy_from_slice(&total.to_be_bytes());
    v[20] &= 0x40;
    v[21] = 0;
    v[24..26].fill(0);
    let c = Checksum::new().add_bytes(&v[14..14 + ihl]).finish();
    v[24..26].copy_from_slice(&c.to_be_bytes());
    v
}
