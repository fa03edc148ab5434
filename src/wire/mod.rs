//! Typed, zero-copy views of the headers rvs reads and rewrites.
//!
//! Each view wraps a byte slice whose length was checked once at construction,
//! so accessors index without further bounds failures on the per-packet path.
//! Each header's layout is named in its `field` module (as smoltcp's `wire`
//! does): code outside a view names a field, it never counts bytes.
pub mod arp;
#[cfg(test)]
mod captured;
pub mod checksum;
pub mod ethernet;
pub mod gre;
pub mod gue;
pub mod icmp;
pub mod icmpv6;
pub mod ip_protocol;
pub mod ipv4;
pub mod ipv6;
pub mod l4;
pub mod sctp;
pub mod vlan;

pub use checksum::Checksum;

/// A big-endian u16 at the start of `b`. The views call it only on ranges their
/// constructor checked, so the indexing cannot fail.
#[inline]
pub(crate) fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// A big-endian u32 at the start of `b`, on a checked range as [`be16`].
#[inline]
pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
