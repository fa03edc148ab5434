//! Internet checksum (RFC 1071) and incremental update (RFC 1624).

/// A running one's-complement sum, folded on demand.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checksum(u32);

impl Checksum {
    pub fn new() -> Self {
        Checksum(0)
    }

    /// Sums in 32-bit words into a 64-bit accumulator: half the additions of a 16-bit
    /// loop (every IPv4 header is verified this way on the packet path), and the same
    /// one's-complement sum once folded (RFC 1071 section 2: the sum may be taken in
    /// wider words). A trailing odd byte is the high byte of its 16-bit word, as before.
    pub fn add_bytes(self, data: &[u8]) -> Self {
        let mut sum = self.0 as u64;
        let mut words = data.chunks_exact(4);
        for w in &mut words {
            sum += u32::from_be_bytes([w[0], w[1], w[2], w[3]]) as u64;
        }
        let mut pairs = words.remainder().chunks_exact(2);
        for c in &mut pairs {
            sum += u16::from_be_bytes([c[0], c[1]]) as u64;
        }
        if let [last] = pairs.remainder() {
            sum += (*last as u64) << 8;
        }
        // 64 -> 32 bits (twice: the first fold can carry), then the usual 32-bit state.
        sum = (sum & 0xffff_ffff) + (sum >> 32);
        sum = (sum & 0xffff_ffff) + (sum >> 32);
        let folded = (sum & 0xffff) + (sum >> 16);
        Checksum(folded as u32).fold_partial()
    }

    pub fn add_u16(mut self, v: u16) -> Self {
        self.0 += v as u32;
        self.fold_partial()
    }

    pub fn add_u32(self, v: u32) -> Self {
        self.add_u16((v >> 16) as u16).add_u16(v as u16)
    }

    fn fold_partial(mut self) -> Self {
        // Keep the accumulator from overflowing on long buffers.
        if self.0 > 0xffff_0000 {
            self.0 = (self.0 & 0xffff) + (self.0 >> 16);
        }
        self
    }

    /// The checksum field value: complement of the folded sum.
    pub fn finish(self) -> u16 {
        let mut s = self.0;
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }
}

/// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word.
#[inline]
pub fn update_u16(check: u16, old: u16, new: u16) -> u16 {
    let mut sum = (!check as u32) + (!old as u32) + new as u32;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// Incremental update for a 32-bit field (an IPv4 address).
#[inline]
pub fn update_u32(check: u16, old: u32, new: u32) -> u16 {
    let c = update_u16(check, (old >> 16) as u16, (new >> 16) as u16);
    update_u16(c, old as u16, new as u16)
}

/// Several field changes applied to a checksum at once (RFC 1624 eqn. 3 summed
/// over every changed word: HC' = ~(~HC + sum(~m + m'))). One fold for any
/// number of changes, where chaining [`update_u16`] folds once per word: the
/// forwarding path changes up to two addresses, two ports and the TTL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta(u64);

impl Delta {
    pub const NONE: Delta = Delta(0);

    /// A 16-bit word goes from `old` to `new`.
    #[inline(always)]
    pub fn word(self, old: u16, new: u16) -> Self {
        Delta(self.0 + (!old) as u64 + new as u64)
    }

    /// A 32-bit field (an address) goes from `old` to `new`: summed as one
    /// wide word, which folds to the same one's-complement sum as its halves.
    #[inline(always)]
    pub fn addr(self, old: u32, new: u32) -> Self {
        Delta(self.0 + (!old) as u64 + new as u64)
    }

    /// Both deltas at once (an address change counts in the IP header and in
    /// the TCP/UDP pseudo-header alike).
    #[inline(always)]
    pub fn plus(self, other: Delta) -> Self {
        Delta(self.0 + other.0)
    }

    /// The checksum field `check` after the changes.
    #[inline(always)]
    pub fn apply(self, check: u16) -> u16 {
        // At most a handful of terms below 2^33 each (the forwarding path
        // sums five), so s < 2^40 and three 16-bit folds bring it to 16 bits:
        // < 2^24 + 2^16, then <= 0x100ff, then <= 0xffff.
        let mut s = self.0 + (!check) as u64;
        debug_assert!(s < 1 << 40);
        s = (s & 0xffff) + (s >> 16);
        s = (s & 0xffff) + (s >> 16);
        s = (s & 0xffff) + (s >> 16);
        !(s as u16)
    }
}

/// One's-complement addition of two 32-bit words (the carry out goes back in
/// at the bottom): an add and an add-with-carry. Any number of 16-bit words
/// summed this way, two to a word, fold ([`fold32`]) to their RFC 1071 sum.
#[inline(always)]
pub fn add32(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(carry as u32)
}

/// A 32-bit one's-complement sum folded to 16 bits: the two halves added
/// with the carry wrapped round, in the upper half of `s + rotr(s, 16)`.
/// Never 0 for a sum that is not 0 (zero is then written 0xffff).
#[inline(always)]
pub fn fold32(s: u32) -> u16 {
    (s.wrapping_add(s.rotate_right(16)) >> 16) as u16
}

/// Pseudo-header sum for TCP/UDP over IPv4.
pub fn pseudo_header(src: u32, dst: u32, proto: u8, len: u16) -> Checksum {
    Checksum::new().add_u32(src).add_u32(dst).add_u16(proto as u16).add_u16(len)
}

#[cfg(test)]
mod tests {
    /// The 16-bit loop add_bytes replaced, as the reference.
    fn sum16(init: u32, data: &[u8]) -> u16 {
        let mut s = init as u64;
        for c in data.chunks(2) {
            s += if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) as u64 } else { (c[0] as u64) << 8 };
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn word_sums_equal_the_16_bit_sum_at_every_length_and_start() {
        // Deterministic bytes (an LCG), every length 0..=300 and a few starting sums,
        // including the all-ones bytes that carry the most.
        let mut x: u32 = 0x1234_5678;
        let data: Vec<u8> = (0..300)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        let ones = [0xffu8; 300];
        for buf in [&data[..], &ones[..]] {
            for len in 0..=buf.len() {
                for init in [0u32, 0xffff, 0x1_fffe, 0xffff_0000] {
                    assert_eq!(Checksum(init).add_bytes(&buf[..len]).finish(), sum16(init, &buf[..len]), "len {len}");
                }
            }
        }
    }

    use super::*;

    #[test]
    fn incremental_matches_full() {
        let mut data = [0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 0x40, 1, 0, 0, 198, 18, 0, 10, 198, 18, 0, 100];
        let full = Checksum::new().add_bytes(&data).finish();
        data[10..12].copy_from_slice(&full.to_be_bytes());
        let old = u32::from_be_bytes([198, 18, 0, 100]);
        let new = u32::from_be_bytes([198, 18, 1, 11]);
        data[16..20].copy_from_slice(&new.to_be_bytes());
        let inc = update_u32(full, old, new);
        data[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(inc, Checksum::new().add_bytes(&data).finish());
    }

    use crate::wire::captured::{ADDR_A, ADDR_B, ICMP_ECHO_REQUEST, TCP_SYN, UDP_DATAGRAM};
    use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};

    #[test]
    fn computes_the_captured_header_checksum() {
        let mut h = [0u8; 20];
        h.copy_from_slice(&ICMP_ECHO_REQUEST[14..34]);
        assert_eq!(Checksum::new().add_bytes(&h).finish(), 0, "a valid header sums to all ones");
        h[10..12].fill(0);
        assert_eq!(Checksum::new().add_bytes(&h).finish(), 0xc247);
    }

    #[test]
    fn pseudo_header_verifies_captured_segments() {
        let syn = &TCP_SYN[34..];
        assert_eq!(pseudo_header(ADDR_A, ADDR_B, IPPROTO_TCP, 40).add_bytes(syn).finish(), 0);
        let udp = &UDP_DATAGRAM[34..];
        // Odd length (11 bytes): the last byte is padded with a zero on the right.
        assert_eq!(pseudo_header(ADDR_A, ADDR_B, IPPROTO_UDP, 11).add_bytes(udp).finish(), 0);
        let by_parts = Checksum::new().add_u32(ADDR_A).add_u32(ADDR_B).add_u16(IPPROTO_UDP as u16).add_u16(11);
        assert_eq!(by_parts.add_bytes(udp).finish(), 0);
    }

    #[test]
    fn incremental_update_of_one_word_matches_the_capture() {
        // TTL 64 -> 63 in the captured echo request (TTL shares its word with the protocol).
        let mut h = [0u8; 20];
        h.copy_from_slice(&ICMP_ECHO_REQUEST[14..34]);
        let c = update_u16(0xc247, 0x4001, 0x3f01);
        h[8] = 63;
        h[10..12].fill(0);
        assert_eq!(c, Checksum::new().add_bytes(&h).finish());
        assert_eq!(c, 0xc347);
    }

    #[test]
    fn long_buffers_do_not_overflow_the_sum() {
        // 70 000 bytes of 0xff: 35 000 words of 0xffff, folded as it goes.
        let ones = vec![0xffu8; 70_000];
        assert_eq!(Checksum::new().add_bytes(&ones).finish(), 0);
        assert_eq!(Checksum::new().finish(), 0xffff);
    }

    #[test]
    fn add32_and_fold32_sum_as_the_16_bit_loop_does() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u32
        };
        for n in 0..2_000 {
            // Every few rounds words of all ones, the sums that carry most.
            let words: Vec<u32> = (0..1 + n % 12).map(|_| if n % 5 == 0 { u32::MAX } else { next() }).collect();
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
            let s = words.iter().fold(0u32, |s, &w| add32(s, w));
            // sum16 returns the complement of the folded sum.
            let want = !sum16(0, &bytes);
            // 0 and 0xffff are the same number; fold32 gives 0xffff but for an all-zero sum.
            assert_eq!(fold32(s) % 0xffff, want % 0xffff, "{words:x?}");
            assert_ne!(fold32(s), 0, "a sum of non-zero words never folds to 0");
        }
        assert_eq!(fold32(0), 0);
        assert_eq!(fold32(0xffff_0000), 0xffff);
        assert_eq!(fold32(0x0001_fffe), 0xffff);
    }

    #[test]
    fn odd_length() {
        assert_eq!(Checksum::new().add_bytes(&[0xff]).finish(), !0xff00u16);
    }

    #[test]
    fn one_delta_equals_the_chained_updates() {
        // Random fields (an LCG): addresses, ports and the TTL word changed at once give the
        // checksum a full recomputation gives, as the chained per-word updates do.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (x >> 32) as u32
        };
        for _ in 0..10_000 {
            let mut words = [0u16; 10];
            for w in words.iter_mut() {
                *w = next() as u16;
            }
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
            let check = Checksum::new().add_bytes(&bytes).finish();
            let (a_old, a_new) = (u32::from(words[0]) << 16 | u32::from(words[1]), next());
            let (p_old, p_new) = (words[2], next() as u16);
            let (t_old, t_new) = (words[3], words[3].wrapping_sub(0x100));
            let mut changed = words;
            changed[0] = (a_new >> 16) as u16;
            changed[1] = a_new as u16;
            changed[2] = p_new;
            changed[3] = t_new;
            let bytes: Vec<u8> = changed.iter().flat_map(|w| w.to_be_bytes()).collect();
            let want = Checksum::new().add_bytes(&bytes).finish();
            let chained = update_u16(update_u16(update_u32(check, a_old, a_new), p_old, p_new), t_old, t_new);
            let one = Delta::NONE.addr(a_old, a_new).word(p_old, p_new).word(t_old, t_new).apply(check);
            // 0 and 0xffff are the same one's-complement number; a receiver accepts either.
            let same = |a: u16, b: u16| a == b || (a | b == 0xffff && a & b == 0);
            assert!(same(one, want), "one pass {one:#06x}, full {want:#06x}");
            assert_eq!(one, chained, "one pass and chained updates agree bit for bit");
        }
    }
}
