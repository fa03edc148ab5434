//! Packet capture: `rvsadm --capture IFACE -w FILE [--count N] [--filter EXPR]`.
//!
//! tcpdump sees nothing of an interface rvs owns (AF_XDP takes the frames before the taps),
//! so rvs captures itself: each poll loop copies the frames it receives on IFACE (before any
//! rewrite) and the frames it sends out of IFACE (after it) that the filter accepts.
//!
//! - [`filter`]: tcpdump's expression, compiled by libpcap on the control side;
//! - [`bpf`]: the classic BPF it compiles to, checked at load and run in the loops;
//! - [`ring`]: the preallocated buffers between the loops and the control side;
//! - [`pcap`]: the savefile format; [`stream`]: how it travels on the admin socket;
//! - [`session`]: the daemon's side of one capture (rvsadm's is `admin::capture_client`).
//!
//! No capture, no cost: a loop holds its [`ring::Tap`] in a local `Option`, looked at once
//! per batch of frames per port, and set or cleared by a request between batches like every
//! other request the loops answer.

pub mod bpf;
pub mod filter;
pub mod pcap;
pub mod ring;
pub mod session;
pub mod stream;
