//! IPv4 headers.

use super::checksum::{self, Checksum};

pub const MIN_HEADER_LEN: usize = 20;
pub const FLAG_DF: u16 = 0x4000;
pub const FLAG_MF: u16 = 0x2000;
pub const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 header whose version, IHL and total length were checked
/// against the buffer at construction.
pub struct Header<T>(T);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    Truncated,
    Version,
    HeaderLength,
    TotalLength,
    Checksum,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Validates version, IHL, total length and the header checksum.
    pub fn new_checked(buf: T) -> Result<Self, Malformed> {
        let b = buf.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(Malformed::Truncated);
        }
        if b[0] >> 4 != 4 {
            return Err(Malformed::Version);
        }
        let ihl = ((b[0] & 0x0f) as usize) * 4;
        if ihl < MIN_HEADER_LEN || ihl > b.len() {
            return Err(Malformed::HeaderLength);
        }
        let total = u16::from_be_bytes([b[2], b[3]]) as usize;
        if total < ihl || total > b.len() {
            return Err(Malformed::TotalLength);
        }
        if Checksum::new().add_bytes(&b[..ihl]).finish() != 0 {
            return Err(Malformed::Checksum);
        }
        Ok(Header(buf))
    }
    /// For headers already known good (e.g. ones rvs built).
    pub fn new_unchecked(buf: T) -> Self {
        Header(buf)
    }
    fn b(&self) -> &[u8] {
        self.0.as_ref()
    }
    pub fn header_len(&self) -> usize {
        ((self.b()[0] & 0x0f) as usize) * 4
    }
    pub fn total_len(&self) -> usize {
        u16::from_be_bytes([self.b()[2], self.b()[3]]) as usize
    }
    pub fn ident(&self) -> u16 {
        u16::from_be_bytes([self.b()[4], self.b()[5]])
    }
    pub fn flags_frag(&self) -> u16 {
        u16::from_be_bytes([self.b()[6], self.b()[7]])
    }
    pub fn dont_fragment(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }
    /// True for any fragment (first or later).
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }
    pub fn ttl(&self) -> u8 {
        self.b()[8]
    }
    pub fn protocol(&self) -> u8 {
        self.b()[9]
    }
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.b()[10], self.b()[11]])
    }
    pub fn src(&self) -> u32 {
        u32::from_be_bytes([self.b()[12], self.b()[13], self.b()[14], self.b()[15]])
    }
    pub fn dst(&self) -> u32 {
        u32::from_be_bytes([self.b()[16], self.b()[17], self.b()[18], self.b()[19]])
    }
    pub fn payload(&self) -> &[u8] {
        let (h, t) = (self.header_len(), self.total_len());
        &self.b()[h..t]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.0.as_mut()
    }
    fn set_checksum(&mut self, c: u16) {
        self.bm()[10..12].copy_from_slice(&c.to_be_bytes());
    }
    /// Rewrite the source address, keeping the header checksum right.
    pub fn set_src(&mut self, a: u32) {
        let c = checksum::update_u32(self.checksum(), self.src(), a);
        self.bm()[12..16].copy_from_slice(&a.to_be_bytes());
        self.set_checksum(c);
    }
    pub fn set_dst(&mut self, a: u32) {
        let c = checksum::update_u32(self.checksum(), self.dst(), a);
        self.bm()[16..20].copy_from_slice(&a.to_be_bytes());
        self.set_checksum(c);
    }
    /// TTL lives in the high byte of the word it shares with the protocol.
    pub fn decrement_ttl(&mut self) {
        let old = u16::from_be_bytes([self.b()[8], self.b()[9]]);
        self.bm()[8] -= 1;
        let new = u16::from_be_bytes([self.b()[8], self.b()[9]]);
        let c = checksum::update_u16(self.checksum(), old, new);
        self.set_checksum(c);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), self.total_len());
        &mut self.bm()[h..t]
    }
}

/// Write a 20-byte header (no options) with a computed checksum.
#[allow(clippy::too_many_arguments)]
pub fn write_header(buf: &mut [u8], total_len: u16, ident: u16, df: bool, ttl: u8, proto: u8, src: u32, dst: u32) {
    buf[0] = 0x45;
    buf[1] = 0;
    buf[2..4].copy_from_slice(&total_len.to_be_bytes());
    buf[4..6].copy_from_slice(&ident.to_be_bytes());
    buf[6..8].copy_from_slice(&(if df { FLAG_DF } else { 0 }).to_be_bytes());
    buf[8] = ttl;
    buf[9] = proto;
    buf[10..12].fill(0);
    buf[12..16].copy_from_slice(&src.to_be_bytes());
    buf[16..20].copy_from_slice(&dst.to_be_bytes());
    let c = Checksum::new().add_bytes(&buf[..20]).finish();
    buf[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Parse "a.b.c.d/len" into (address, prefix length).
pub fn parse_cidr(s: &str) -> Option<(std::net::Ipv4Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let len: u8 = l.parse().ok()?;
    (len <= 32).then_some((a.parse().ok()?, len))
}

pub fn prefix_mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}
