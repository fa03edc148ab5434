//! One transmitter per forwarding method, as `ip_vs_xmit.c`: each rewrites
//! the IPv4 packet (the bytes from the IP header on) for its method and
//! direction. Framing, TTL, routing and ARP are the pipeline's job.
pub mod dr;
pub mod fullnat;
pub mod gre;
pub mod gue;
pub mod nat;
pub mod nat6;
pub mod nat64;
pub mod rewrite;
pub mod tun;
