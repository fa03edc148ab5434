//! The test kit: one lab for everything that drives the pure pipeline without a NIC — the
//! crate's unit tests, `benches/pipeline.rs`, `examples/rvs_pipeline_driver.rs` and the fuzz
//! crate. Built for the crate's own tests, and for others with the cargo feature `testkit`
//! (as tokio's `test-util`); never part of the product.
//!
//! - [`topology`]: the standard two-interface director (addresses, MACs, routes, limits) and
//!   the specs of its services;
//! - [`frames`]: frames built as the wire carries them, and the edits tests make to them;
//! - [`inspect`]: reading a frame's fields back, and every checksum verified;
//! - [`lab`]: a director with its control plane, fed frame by frame;
//! - [`ipv6`]: the lab with IPv6 beside IPv4, its addresses and neighbour advertisements;
//! - [`sync`]: connection-sync entries as a peer director sends them.

pub mod frames;
pub mod inspect;
pub mod ipv6;
pub mod lab;
pub mod sync;
pub mod topology;

pub use lab::Lab;
pub use topology::*;
