//! LVS-TUN ("Tunnel"): the client's packet, untouched, inside a new IPv4
//! header (IPIP, protocol 4) from the director to the real server, which
//! decapsulates it and answers the client directly from the VIP. GUE and GRE
//! (Linux 5.2+, `--tun-type`) put their header between the two: [`encapsulate_as`]
//! with gue.rs and gre.rs.
//!
//! The outer header is the same for every packet to one real server but for
//! four fields: the total length, the identification, and the TTL and DF
//! copied from the inner header (as IPVS's ipip transmitter does; the TOS is
//! 0). So [`Outer`] is built once per destination, with the one's-complement
//! sum of its constant words, and a packet adds only those four into the
//! checksum.

use super::{gre, gue};
use crate::api::{TunSpec, TunType};
use crate::wire::ip_protocol::{IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_UDP};
use crate::wire::ipv4::{self, field, write_header, FLAG_DF};

pub const OUTER_LEN: usize = ipv4::MIN_HEADER_LEN;

/// The outer header towards one real server, from one tunnel source: the
/// sum of its constant words (4 bytes, so the next-hop cache entry holding
/// it stays as small as it was).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outer {
    /// The one's-complement sum (unfolded) of the header's constant 16-bit
    /// words (version and header length, TOS 0, protocol, the addresses),
    /// each read in the machine's byte order: the sum is the same either way
    /// but for the order of its two bytes (RFC 1071 section 2 (B)), so the
    /// packet's fields join it as they lie in memory, unswapped.
    constant_sum: u32,
}

/// The outer header's first two bytes: version 4, five words, TOS 0.
const VER_IHL_TOS: [u8; 2] = [ipv4::VERSION << 4 | (ipv4::MIN_HEADER_LEN / 4) as u8, 0];

impl Outer {
    /// No header (a placeholder where none applies).
    pub const NONE: Outer = Outer { constant_sum: 0 };

    pub fn new(src: u32, dst: u32) -> Outer {
        let ne = |b: [u8; 2]| u32::from(u16::from_ne_bytes(b));
        let [s0, s1, s2, s3] = src.to_be_bytes();
        let [d0, d1, d2, d3] = dst.to_be_bytes();
        let words = [VER_IHL_TOS, [0, IPPROTO_IPIP], [s0, s1], [s2, s3], [d0, d1], [d2, d3]];
        Outer { constant_sum: words.into_iter().map(ne).sum() }
    }

    /// Encapsulate the IPv4 packet at `buf[off..off + len]` in place, from
    /// `src` to `dst` (those this header was built for): it moves `OUTER_LEN`
    /// bytes up and the outer header goes in front. Returns the new packet
    /// length, or `None` when `buf` has no room (or `len` is no IPv4 header).
    /// Bytes of `buf` past the new packet may change.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn encapsulate(&self, buf: &mut [u8], off: usize, len: usize, src: u32, dst: u32, ident: u16) -> Option<usize> {
        let total = len + OUTER_LEN;
        let p = buf.get_mut(off..)?;
        if len < ipv4::MIN_HEADER_LEN || total > u16::MAX as usize || total > p.len() {
            return None;
        }
        // The inner header's DF bit (the fragment field's other bits are
        // not copied) and TTL, as they lie in memory.
        let (df, ttl) = {
            let inner: &[u8; ipv4::MIN_HEADER_LEN] = p.first_chunk()?;
            let [f0, f1] = [inner[field::FLAGS_FRAG.start], inner[field::FLAGS_FRAG.start + 1]];
            (u16::from_ne_bytes([f0, f1]) & FLAG_DF.to_be(), inner[field::TTL])
        };
        move_up(p, len);
        let (total_be, ident_be) = ((total as u16).to_be(), ident.to_be());
        let ttl_word = u16::from_ne_bytes([ttl, 0]);
        let mut sum =
            self.constant_sum + u32::from(total_be) + u32::from(ident_be) + u32::from(df) + u32::from(ttl_word);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        let check = !(sum as u16);
        let h: &mut [u8; OUTER_LEN] = p.first_chunk_mut()?;
        h[..2].copy_from_slice(&VER_IHL_TOS);
        h[field::LENGTH].copy_from_slice(&total_be.to_ne_bytes());
        h[field::IDENT].copy_from_slice(&ident_be.to_ne_bytes());
        h[field::FLAGS_FRAG].copy_from_slice(&df.to_ne_bytes());
        h[field::TTL] = ttl;
        h[field::PROTOCOL] = IPPROTO_IPIP;
        h[field::CHECKSUM].copy_from_slice(&check.to_ne_bytes());
        h[field::SRC_ADDR].copy_from_slice(&src.to_be_bytes());
        h[field::DST_ADDR].copy_from_slice(&dst.to_be_bytes());
        Some(total)
    }
}

/// Move the packet `p[..len]` up by `OUTER_LEN` (`p` holds at least
/// `len + OUTER_LEN` bytes). A short packet moves as one block of a fixed
/// size, in line (a few vector loads, then the stores), when `p` has that
/// much room: the bytes past the packet it carries along are the buffer's
/// slack. Longer ones by memmove, a call that pays off on longer copies.
#[inline(always)]
fn move_up(p: &mut [u8], len: usize) {
    if len <= 64 {
        if let Some(b) = p.first_chunk_mut::<{ 64 + OUTER_LEN }>() {
            b.copy_within(..64, OUTER_LEN);
            return;
        }
    } else if len <= 128 {
        if let Some(b) = p.first_chunk_mut::<{ 128 + OUTER_LEN }>() {
            b.copy_within(..128, OUTER_LEN);
            return;
        }
    }
    p.copy_within(..len, OUTER_LEN);
}

/// [`Outer::encapsulate`] with the outer header built for this one packet.
pub fn encapsulate(buf: &mut [u8], off: usize, len: usize, src: u32, dst: u32, ident: u16) -> Option<usize> {
    Outer::new(src, dst).encapsulate(buf, off, len, src, dst, ident)
}

/// The bytes `tun` adds in front of a packet: the outer IPv4 header and the
/// tunnel's own (the kernel's max_headroom less the link layer).
#[inline]
pub fn overhead(tun: &TunSpec) -> usize {
    OUTER_LEN + shim_len(tun)
}

/// The outer header's protocol for a tunnel of `kind`.
pub fn outer_protocol(kind: TunType) -> u8 {
    match kind {
        TunType::Ipip => IPPROTO_IPIP,
        TunType::Gue => IPPROTO_UDP,
        TunType::Gre => IPPROTO_GRE,
    }
}

/// The tunnel header between the outer IPv4 header and the inner packet.
fn shim_len(tun: &TunSpec) -> usize {
    match tun.kind {
        TunType::Ipip => 0,
        TunType::Gue => gue::SHIM_LEN,
        TunType::Gre => gre::shim_len(tun),
    }
}

/// Encapsulate the IPv4 packet at `buf[off..off + len]` in place as `tun`
/// says, from `src` to `dst`: the packet moves up by [`overhead`] and the
/// headers go in front, each written in full (the general path's way; the
/// fast path keeps IPIP's precomputed [`Outer`]). Returns the new length, or
/// `None` when `buf` has no room or `len` is no IPv4 header.
#[allow(clippy::too_many_arguments)]
pub fn encapsulate_as(
    tun: &TunSpec,
    buf: &mut [u8],
    off: usize,
    len: usize,
    src: u32,
    dst: u32,
    ident: u16,
) -> Option<usize> {
    let (shim, proto) = match tun.kind {
        TunType::Ipip => return encapsulate(buf, off, len, src, dst, ident),
        kind => (shim_len(tun), outer_protocol(kind)),
    };
    let hdr = OUTER_LEN + shim;
    let total = len.checked_add(hdr)?;
    let p = buf.get_mut(off..)?;
    if len < ipv4::MIN_HEADER_LEN || total > u16::MAX as usize || total > p.len() {
        return None;
    }
    let inner = ipv4::Header::new_unchecked(&p[..len]);
    let (df, ttl) = (inner.dont_fragment(), inner.ttl());
    p.copy_within(..len, hdr);
    write_header(p, total as u16, ident, df, ttl, proto, src, dst);
    let after_outer = &mut p[OUTER_LEN..total];
    match tun.kind {
        TunType::Gue => gue::fill(after_outer, tun, src, dst),
        _ => gre::fill(after_outer, tun),
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::{write_header, Header};

    /// An IPv4 packet of `len` bytes whose payload bytes count up.
    fn packet(len: usize, df: bool, ttl: u8) -> Vec<u8> {
        let mut p: Vec<u8> = (0..len).map(|i| i as u8).collect();
        write_header(&mut p, len as u16, 0x1234, df, ttl, 17, 0xc612_0001, 0xc612_0102);
        p
    }

    /// Byte for byte what the outer header was before it was precomputed: a
    /// full header written (and checksummed) per packet, the packet moved up.
    fn reference(buf: &[u8], off: usize, len: usize, src: u32, dst: u32, ident: u16) -> Vec<u8> {
        let mut b = buf.to_vec();
        let inner = Header::new_unchecked(&buf[off..off + len]);
        let (ttl, df) = (inner.ttl(), inner.dont_fragment());
        b.copy_within(off..off + len, off + OUTER_LEN);
        write_header(&mut b[off..], (len + OUTER_LEN) as u16, ident, df, ttl, IPPROTO_IPIP, src, dst);
        b
    }

    #[test]
    fn matches_a_header_written_in_full_for_every_length_flag_ttl_and_ident() {
        let mut checked = 0;
        for len in (20..=200).chain([1400, 1480]) {
            for (df, ttl) in [(true, 64), (false, 1), (true, 255), (false, 0)] {
                for ident in [0u16, 1, 0xbeef, 0xffff] {
                    for (src, dst) in [(0xc612_0101, 0xc612_0202), (0xffff_ffff, 0xffff_fffe), (0, 1)] {
                        // No room past the packet (memmove) and plenty (the block moves).
                        for slack in [0, 1, 200] {
                            let off = 14;
                            let mut buf = vec![0xaau8; off + len + OUTER_LEN + slack];
                            buf[off..off + len].copy_from_slice(&packet(len, df, ttl));
                            let want = reference(&buf, off, len, src, dst, ident);
                            let n = Outer::new(src, dst).encapsulate(&mut buf, off, len, src, dst, ident);
                            assert_eq!(n, Some(len + OUTER_LEN));
                            let end = off + len + OUTER_LEN;
                            assert_eq!(buf[..end], want[..end], "len {len} df {df} ttl {ttl} ident {ident:#x}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        println!("tun: {checked} encapsulations byte-identical to the full header written per packet");
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let mut buf = vec![0u8; 14 + 60 + OUTER_LEN - 1];
        let p = packet(60, true, 64);
        buf[14..74].copy_from_slice(&p);
        assert_eq!(encapsulate(&mut buf, 14, 60, 1, 2, 3), None, "one byte short");
        assert_eq!(encapsulate(&mut buf, 14, 19, 1, 2, 3), None, "no IPv4 header");
        assert_eq!(encapsulate(&mut buf, usize::MAX, 60, 1, 2, 3), None, "offset overflows");
        let mut big = vec![0u8; 70_000];
        big[..20].copy_from_slice(&packet(20, true, 9));
        assert_eq!(encapsulate(&mut big, 0, u16::MAX as usize - 19, 1, 2, 3), None, "over 64 KiB");
    }
}
