//! SCTP (RFC 9260): the common header and the chunk list a director reads
//! (ports, the first chunk's type for IPVS's state table) and the CRC32c
//! that must be computed afresh whenever a port changes. Unlike the
//! Internet checksum, CRC32c cannot be updated incrementally, so NAT
//! recomputes it over the whole packet (as the kernel's sctp_nat_csum).

use super::{be16, be32};

pub const COMMON_HEADER_LEN: usize = 12;
pub const CHUNK_HEADER_LEN: usize = 4;

/// Chunk types (RFC 9260 3.2) that IPVS's state table tells apart.
pub mod chunk {
    pub const DATA: u8 = 0;
    pub const INIT: u8 = 1;
    pub const INIT_ACK: u8 = 2;
    pub const SACK: u8 = 3;
    pub const HEARTBEAT: u8 = 4;
    pub const HEARTBEAT_ACK: u8 = 5;
    pub const ABORT: u8 = 6;
    pub const SHUTDOWN: u8 = 7;
    pub const SHUTDOWN_ACK: u8 = 8;
    pub const ERROR: u8 = 9;
    pub const COOKIE_ECHO: u8 = 10;
    pub const COOKIE_ACK: u8 = 11;
    pub const SHUTDOWN_COMPLETE: u8 = 14;
}

pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const VERIFICATION_TAG: Range<usize> = 4..8;
    pub const CHECKSUM: Range<usize> = 8..12;
    /// Within a chunk: type, flags, length (header included, padding not).
    pub const CHUNK_TYPE: usize = 0;
    pub const CHUNK_FLAGS: usize = 1;
    pub const CHUNK_LENGTH: Range<usize> = 2..4;
}

/// Why an SCTP packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the common header and one chunk header.
    Truncated,
    /// A chunk whose length is below its header's 4 bytes or runs past the
    /// end of the packet.
    ChunkLength,
}

/// A view of an SCTP packet (the whole IP payload) whose chunk list was
/// walked once: every chunk's length fits.
pub struct Packet<T>(T);

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn parse(buf: T) -> Result<Self, Malformed> {
        let b = buf.as_ref();
        if b.len() < COMMON_HEADER_LEN + CHUNK_HEADER_LEN {
            return Err(Malformed::Truncated);
        }
        let mut at = COMMON_HEADER_LEN;
        // Each chunk is padded to 4 bytes; the last one's padding may be absent.
        while at < b.len() {
            let Some(h) = b.get(at..at + CHUNK_HEADER_LEN) else { return Err(Malformed::ChunkLength) };
            let len = be16(&h[field::CHUNK_LENGTH]) as usize;
            if len < CHUNK_HEADER_LEN || at + len > b.len() {
                return Err(Malformed::ChunkLength);
            }
            at += len.next_multiple_of(4);
        }
        Ok(Packet(buf))
    }
    #[inline]
    fn b(&self) -> &[u8] {
        self.0.as_ref()
    }
    pub fn src_port(&self) -> u16 {
        be16(&self.b()[field::SRC_PORT])
    }
    pub fn dst_port(&self) -> u16 {
        be16(&self.b()[field::DST_PORT])
    }
    pub fn verification_tag(&self) -> u32 {
        be32(&self.b()[field::VERIFICATION_TAG])
    }
    /// The checksum as carried (CRC32c in little-endian byte order, as RFC
    /// 9260 appendix A's reference code stores it).
    pub fn checksum(&self) -> u32 {
        let c = &self.b()[field::CHECKSUM];
        u32::from_le_bytes([c[0], c[1], c[2], c[3]])
    }
    pub fn checksum_ok(&self) -> bool {
        packet_crc(self.b()) == self.checksum()
    }
    /// The chunks, in order: (type, flags, value bytes).
    pub fn chunks(&self) -> impl Iterator<Item = (u8, u8, &[u8])> {
        let b = self.b();
        let mut at = COMMON_HEADER_LEN;
        core::iter::from_fn(move || {
            let h = b.get(at..at + CHUNK_HEADER_LEN)?;
            let len = be16(&h[field::CHUNK_LENGTH]) as usize;
            let value = b.get(at + CHUNK_HEADER_LEN..at + len)?;
            let item = (h[field::CHUNK_TYPE], h[field::CHUNK_FLAGS], value);
            at += len.next_multiple_of(4);
            Some(item)
        })
    }
    /// The chunk type IPVS's state table reads (set_sctp_state): the first
    /// chunk's, except that a COOKIE ECHO or COOKIE ACK with an ABORT
    /// bundled right after it counts as the ABORT.
    pub fn state_chunk(&self) -> u8 {
        let mut it = self.chunks();
        let first = it.next().map_or(chunk::DATA, |c| c.0);
        if matches!(first, chunk::COOKIE_ECHO | chunk::COOKIE_ACK) && it.next().is_some_and(|c| c.0 == chunk::ABORT) {
            return chunk::ABORT;
        }
        first
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, p: u16) {
        self.0.as_mut()[field::SRC_PORT].copy_from_slice(&p.to_be_bytes());
    }
    pub fn set_dst_port(&mut self, p: u16) {
        self.0.as_mut()[field::DST_PORT].copy_from_slice(&p.to_be_bytes());
    }
    /// Compute and store the checksum (after the ports changed).
    pub fn fill_checksum(&mut self) {
        let c = packet_crc(self.0.as_ref());
        self.0.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_le_bytes());
    }
}

/// The ports of an SCTP header, if at least they are there (for steering a
/// frame to its loop before it is checked).
pub fn ports(b: &[u8]) -> Option<(u16, u16)> {
    (b.len() >= 4).then(|| (be16(&b[field::SRC_PORT]), be16(&b[field::DST_PORT])))
}

/// Rewrite the ports of the SCTP header `b` starts with, where given; `b`
/// may be cut short after them (the quote in an ICMP error). Its checksum
/// is left for the caller, who knows whether the whole packet is there.
pub fn set_ports(b: &mut [u8], src: Option<u16>, dst: Option<u16>) {
    if b.len() < field::DST_PORT.end {
        return;
    }
    if let Some(p) = src {
        b[field::SRC_PORT].copy_from_slice(&p.to_be_bytes());
    }
    if let Some(p) = dst {
        b[field::DST_PORT].copy_from_slice(&p.to_be_bytes());
    }
}

/// The CRC32c of an SCTP packet with its checksum field taken as zero.
pub fn packet_crc(b: &[u8]) -> u32 {
    if b.len() < COMMON_HEADER_LEN {
        return crc32c(b);
    }
    let mut c = crc32c_update(!0, &b[..field::CHECKSUM.start]);
    c = crc32c_update(c, &[0; 4]);
    !crc32c_update(c, &b[COMMON_HEADER_LEN..])
}

/// CRC32c (Castagnoli, reflected polynomial 0x82f63b78) of `b`.
pub fn crc32c(b: &[u8]) -> u32 {
    !crc32c_update(!0, b)
}

const POLY: u32 = 0x82f6_3b78;

/// Slice-by-8 tables: TABLES[0] is the byte-at-a-time table, TABLES[k][n]
/// the CRC of byte n followed by k zero bytes, so eight bytes fold in one
/// step of eight independent lookups.
static TABLES: [[u32; 256]; 8] = make_tables();

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][n] = c;
        n += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut n = 0;
        while n < 256 {
            let prev = t[k - 1][n];
            t[k][n] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            n += 1;
        }
        k += 1;
    }
    t
}

/// Fold `b` into the running (pre-inverted) CRC `crc`.
fn crc32c_update(mut crc: u32, b: &[u8]) -> u32 {
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let lo = crc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let hi = u32::from_le_bytes([w[4], w[5], w[6], w[7]]);
        crc = TABLES[7][(lo & 0xff) as usize]
            ^ TABLES[6][(lo >> 8 & 0xff) as usize]
            ^ TABLES[5][(lo >> 16 & 0xff) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][(hi & 0xff) as usize]
            ^ TABLES[2][(hi >> 8 & 0xff) as usize]
            ^ TABLES[1][(hi >> 16 & 0xff) as usize]
            ^ TABLES[0][(hi >> 24) as usize];
    }
    for &x in words.remainder() {
        crc = (crc >> 8) ^ TABLES[0][((crc ^ x as u32) & 0xff) as usize];
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bit-at-a-time definition, to check the tables against.
    fn crc32c_bitwise(b: &[u8]) -> u32 {
        let mut c = !0u32;
        for &x in b {
            c ^= x as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn crc32c_check_values() {
        // The standard check value (RFC 3720 B.4's polynomial, "123456789").
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        // RFC 3720 B.4: 32 bytes of zeros, of 0xff, ascending, descending.
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let up: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&up), 0x46dd_794e);
        let down: Vec<u8> = (0..32).rev().collect();
        assert_eq!(crc32c(&down), 0x113f_db5c);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn slice_by_8_agrees_with_the_bitwise_definition_at_every_length_and_offset() {
        let data: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for start in 0..9 {
            for end in start..data.len() {
                assert_eq!(crc32c(&data[start..end]), crc32c_bitwise(&data[start..end]), "{start}..{end}");
            }
        }
    }

    /// An INIT from 40000 to 9 (tag 0), its CRC as a Linux sender fills it.
    fn init() -> Vec<u8> {
        let mut p = vec![0x9c, 0x40, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 0];
        // INIT: initiate tag, a_rwnd, OS, MIS, initial TSN.
        p.extend_from_slice(&[1, 0, 0, 20, 0x12, 0x34, 0x56, 0x78, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1]);
        let c = packet_crc(&p);
        p[8..12].copy_from_slice(&c.to_le_bytes());
        p
    }

    #[test]
    fn parses_an_init_and_checks_its_crc() {
        let p = init();
        let v = Packet::parse(&p[..]).expect("an INIT");
        assert_eq!((v.src_port(), v.dst_port(), v.verification_tag()), (40000, 9, 0));
        assert!(v.checksum_ok());
        assert_eq!(v.state_chunk(), chunk::INIT);
        assert_eq!(v.chunks().count(), 1);
        let mut bad = p.clone();
        bad[20] ^= 1;
        assert!(!Packet::parse(&bad[..]).unwrap().checksum_ok(), "a flipped bit");
        // The checksum bytes are little-endian: the CRC's low byte first.
        assert_eq!(u32::from_le_bytes([p[8], p[9], p[10], p[11]]), packet_crc(&p));
    }

    #[test]
    fn port_rewrite_and_fill_make_a_packet_that_checks() {
        let mut p = init();
        let mut v = Packet::parse(&mut p[..]).unwrap();
        v.set_dst_port(3868);
        assert!(!v.checksum_ok(), "a port changed: the old CRC no longer holds");
        v.fill_checksum();
        assert!(v.checksum_ok());
        assert_eq!(v.dst_port(), 3868);
    }

    #[test]
    fn malformed_chunk_lists_are_refused() {
        let p = init();
        assert_eq!(Packet::parse(&p[..15]).err(), Some(Malformed::Truncated));
        assert_eq!(Packet::parse(&p[..12]).err(), Some(Malformed::Truncated));
        // Length 3: below the chunk header.
        let mut short = p.clone();
        short[15] = 3;
        assert_eq!(Packet::parse(&short[..]).err(), Some(Malformed::ChunkLength));
        // Length past the end.
        let mut long = p.clone();
        long[15] = 24;
        assert_eq!(Packet::parse(&long[..]).err(), Some(Malformed::ChunkLength));
        // A second chunk header cut short after the first chunk.
        let mut tail = p.clone();
        tail.extend_from_slice(&[0, 0]);
        assert_eq!(Packet::parse(&tail[..]).err(), Some(Malformed::ChunkLength));
        // Length 0 would loop for ever if the walk trusted it.
        let mut zero = p.clone();
        zero[14..16].copy_from_slice(&[0, 0]);
        assert_eq!(Packet::parse(&zero[..]).err(), Some(Malformed::ChunkLength));
    }

    #[test]
    fn bundled_chunks_and_the_abort_rule() {
        // COOKIE ECHO (5 bytes of cookie, padded to 8) then ABORT.
        let mut p = vec![0u8; 12];
        p.extend_from_slice(&[chunk::COOKIE_ECHO, 0, 0, 9, 1, 2, 3, 4, 5, 0, 0, 0]);
        p.extend_from_slice(&[chunk::ABORT, 0, 0, 4]);
        let v = Packet::parse(&p[..]).unwrap();
        let types: Vec<u8> = v.chunks().map(|c| c.0).collect();
        assert_eq!(types, [chunk::COOKIE_ECHO, chunk::ABORT]);
        assert_eq!(v.chunks().next().map(|c| c.2.len()), Some(5));
        assert_eq!(v.state_chunk(), chunk::ABORT);
        // DATA then ABORT stays DATA (only the cookie chunks are looked past).
        p[12] = chunk::DATA;
        assert_eq!(Packet::parse(&p[..]).unwrap().state_chunk(), chunk::DATA);
        // The last chunk's padding may be left off.
        let mut unpadded = vec![0u8; 12];
        unpadded.extend_from_slice(&[chunk::DATA, 3, 0, 5, 7]);
        assert!(Packet::parse(&unpadded[..]).is_ok());
        assert_eq!(ports(&p[..3]), None);
    }
}
