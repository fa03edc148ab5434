//! The IPVS core, one concept per file as in the kernel's `net/netfilter/ipvs`:
//! services and real servers, schedulers, connections and their states,
//! counters, and one transmitter per forwarding method.
pub mod conn;
pub mod dest;
pub mod laddr;
pub mod proto_sctp;
pub mod sched;
pub mod service;
pub mod state;
pub mod stats;
pub mod sync;
pub mod sysctl;
pub mod xmit;
