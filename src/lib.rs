//! rvs: a Linux Virtual Server director in user space.
//!
//! The crate splits the way kernel IPVS and DPVS do:
//! - [`wire`]: typed, zero-copy views of Ethernet, ARP, IPv4, TCP, UDP, ICMP;
//! - [`net`]: the director's own small stack (interfaces, routes, ARP);
//! - [`ipvs`]: services, real servers, schedulers, connections, transmitters;
//! - [`pipeline`]: frame in, verdict and frame(s) out; pure, no I/O;
//! - [`control`]: the rule set operators change, published to the data plane;
//! - [`ipvsadm`] and [`admin`]: ipvsadm's syntax and text, and the local socket;
//! - [`afxdp`]: the thin shell over AF_XDP rings that feeds the pipeline;
//! - [`console`]: the web console, over the admin socket's query side and its `execute`;
//! - [`logging`]: the log (stderr lines or the journal), libbpf's and libxdp's messages in it;
//! - [`capture`]: `rvsadm --capture`, frames in and out of an interface as a pcap file;
//! - [`import`]: keepalived.conf and ldirectord.cf virtual services as rvs configuration;
//! - `testkit` (tests, benches, examples and the fuzz crate only: the `testkit` feature): the lab.

pub mod admin;
pub mod afxdp;
pub mod api;
pub mod capture;
pub mod config;
pub mod console;
pub mod control;
pub mod daemon;
pub mod health;
pub mod import;
pub mod ipvs;
pub mod ipvsadm;
pub mod kernel;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod ownership;
pub mod pipeline;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod wire;
