//! IP protocol numbers (IANA; the kernel's `IPPROTO_*` in include/uapi/linux/in.h) of the
//! protocols rvs parses, balances or tunnels.

pub const IPPROTO_ICMP: u8 = 1;
/// IP-in-IP, the encapsulation of the TUN method (`-i`).
pub const IPPROTO_IPIP: u8 = 4;
/// IPv6-in-IPv6 (RFC 2473), the TUN method's encapsulation over IPv6.
pub const IPPROTO_IPV6: u8 = 41;
pub const IPPROTO_GRE: u8 = 47;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
/// ICMPv6 (RFC 4443), also IPv6's next-header value for it.
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_SCTP: u8 = 132;
