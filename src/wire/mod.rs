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
pub mod icmp;
pub mod ip_protocol;
pub mod ipv4;
pub mod l4;

pub use checksum::Checksum;
