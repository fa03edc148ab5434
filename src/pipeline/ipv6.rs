//! IPv6 as far as the director's own stack goes: the header checked and its
//! extension headers walked (every malformed packet counted by reason),
//! neighbour solicitations for the director's IPv6 addresses and VIPs
//! answered (RFC 4861 7.2.4), and echo requests to them answered (RFC 4443
//! 4.2). IPv6 services are not balanced yet: any other IPv6 packet is
//! counted as `drop-ipv6` and dropped.
//!
//! Which IPv6 frames reach rvs at all is the XDP program's choice
//! (bpf/rvs_xdp.c): those to rvs's own IPv6 addresses and VIPs, and
//! solicitations for them; everything else, the kernel's own IPv6 traffic
//! included, goes to the kernel.

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::net::IfaceId;
use crate::wire::ethernet::{self, Mac, HEADER_LEN as ETH};
use crate::wire::icmp::field as icmp_field;
use crate::wire::icmpv6::{self, nd};
use crate::wire::ip_protocol::{IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv6::{self, Header, Malformed, ALL_NODES, HEADER_LEN as IP6};

use super::nd::ND_HOP_LIMIT;

impl Director {
    pub(super) fn ipv6(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let (total, upper, addrs) = match Header::new_checked(f.l3_bytes()) {
            Ok(h) => match ipv6::upper_layer(&h) {
                Ok(u) => (h.total_len(), u, Addrs { src: h.src(), dst: h.dst(), hop_limit: h.hop_limit() }),
                Err(_) => return Verdict::Drop(Reason::Ipv6Extension),
            },
            Err(e) => {
                return Verdict::Drop(match e {
                    Malformed::Truncated => Reason::Ipv6Truncated,
                    Malformed::Version => Reason::Ipv6Version,
                    Malformed::PayloadLength => Reason::Ipv6PayloadLength,
                    Malformed::Extension => Reason::Ipv6Extension,
                })
            }
        };
        f.parsed_ipv6(upper.offset, total, upper.proto);
        if let Some(frag) = upper.fragment {
            return self.ipv6_fragment(now_ms, f, frag, addrs.src, addrs.dst, tx);
        }
        match upper.proto {
            IPPROTO_ICMPV6 => self.icmpv6(now_ms, f, addrs, tx),
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP => {
                let a = super::lb6::Addrs6 { src: addrs.src, dst: addrs.dst, hop_limit: addrs.hop_limit };
                self.load_balance6(now_ms, f, a, tx)
            }
            _ => Verdict::Drop(Reason::Ipv6),
        }
    }

    /// Does the director answer for `ip` on `iface`: its own IPv6 addresses
    /// there, the IPv6 VIPs listed there, and IPv6 services' VIPs and FULLNAT
    /// local addresses on a link where it has an IPv6 address.
    fn answers6(&self, iface: IfaceId, ip: u128) -> bool {
        let i = self.ifaces.get(iface);
        i.owns_addr6(ip)
            || i.vips6.contains(&ip)
            || (!i.addrs6.is_empty() && (self.services.is_vip6(ip) || self.services.is_laddr6(ip)))
    }

    /// VIPs move with the role, as in IPv4 (`follows_role`); own addresses stay.
    fn follows_role6(&self, iface: IfaceId, ip: u128) -> bool {
        !self.ifaces.get(iface).owns_addr6(ip)
    }

    fn icmpv6(&mut self, now_ms: u64, f: &mut Frame, a: Addrs, tx: &mut impl Transmit) -> Verdict {
        let Addrs { src, dst, hop_limit } = a;
        let msg = f.l4_bytes();
        if msg.len() < crate::wire::icmp::HEADER_LEN {
            return Verdict::Drop(Reason::L4Truncated);
        }
        if !icmpv6::verify_checksum(msg, src, dst) {
            return Verdict::Drop(Reason::Icmpv6Checksum);
        }
        let kind = msg[icmp_field::TYPE];
        match kind {
            icmpv6::NEIGHBOR_SOLICITATION => self.solicitation(f, src, dst, hop_limit),
            icmpv6::NEIGHBOR_ADVERTISEMENT => self.advertisement(now_ms, f, dst, hop_limit, tx),
            icmpv6::DEST_UNREACHABLE | icmpv6::PACKET_TOO_BIG | icmpv6::TIME_EXCEEDED | icmpv6::PARAMETER_PROBLEM => {
                self.icmpv6_error(now_ms, f, hop_limit, tx)
            }
            icmpv6::ECHO_REQUEST if !ipv6::is_multicast(dst) && self.answers6(f.ingress, dst) => {
                if self.backup && self.follows_role6(f.ingress, dst) {
                    return Verdict::Drop(Reason::BackupRole);
                }
                self.echo6_reply(f, src, dst)
            }
            _ => Verdict::Drop(Reason::Icmpv6Unsupported),
        }
    }

    /// Answer a solicitation for one of ours with an advertisement carrying
    /// the interface's MAC, unicast to the asker (solicited, override) or,
    /// for duplicate address detection, to all nodes.
    fn solicitation(&mut self, f: &mut Frame, src: u128, dst: u128, hop_limit: u8) -> Verdict {
        let Some(ns) = icmpv6::neighbour_message(f.l4_bytes()) else {
            return Verdict::Drop(Reason::NdInvalid);
        };
        // RFC 4861 7.1.1: hop limit 255, a unicast target, and from the
        // unspecified address only to a solicited-node group, without a
        // source link-layer address.
        let dad = src == 0;
        if hop_limit != ND_HOP_LIMIT
            || ipv6::is_multicast(ns.target)
            || (dad && (dst != ipv6::solicited_node(ns.target) || ns.link_addr.is_some()))
        {
            return Verdict::Drop(Reason::NdInvalid);
        }
        if !self.answers6(f.ingress, ns.target) {
            self.count(Reason::NdIgnored);
            return Verdict::Consumed;
        }
        if self.backup && self.follows_role6(f.ingress, ns.target) {
            return Verdict::Drop(Reason::BackupRole);
        }
        let my_mac = self.ifaces.get(f.ingress).mac;
        let (to, to_mac, flags) = if dad {
            (ALL_NODES, ipv6::multicast_mac(ALL_NODES), nd::FLAG_OVERRIDE)
        } else {
            (src, ns.link_addr.unwrap_or(f.eth_src()), nd::FLAG_SOLICITED | nd::FLAG_OVERRIDE)
        };
        f.len = write_advertisement(f.buffer_mut(), &to_mac, &my_mac, ns.target, to, flags);
        self.count(Reason::NdAdvertised);
        Verdict::Forward(f.ingress)
    }

    /// The echo request turned into its reply in place: addresses swapped,
    /// the message moved up to the fixed header (extension headers are not
    /// echoed), checksum filled.
    fn echo6_reply(&mut self, f: &mut Frame, src: u128, dst: u128) -> Verdict {
        let (l3, l4, end) = (f.l3, f.l4, f.len);
        let msg_len = end - l4;
        let buf = f.buffer_mut();
        buf.copy_within(l4..end, l3 + IP6);
        ipv6::write_header(&mut buf[l3..], msg_len as u16, IPPROTO_ICMPV6, ipv6::OWN_HOP_LIMIT, dst, src);
        let msg = &mut buf[l3 + IP6..l3 + IP6 + msg_len];
        msg[icmp_field::TYPE] = icmpv6::ECHO_REPLY;
        icmpv6::fill_checksum(msg, dst, src);
        f.len = l3 + IP6 + msg_len;
        f.l4 = l3 + IP6;
        let (peer_mac, my_mac) = (f.eth_src(), self.ifaces.get(f.ingress).mac);
        ethernet::write_header(f.bytes_mut(), &peer_mac, &my_mac, ethernet::ETHERTYPE_IPV6);
        self.count(Reason::Echo6Replied);
        Verdict::Forward(f.ingress)
    }
}

/// What the ICMPv6 stage needs of the checked header.
#[derive(Clone, Copy)]
struct Addrs {
    src: u128,
    dst: u128,
    hop_limit: u8,
}

/// A neighbour advertisement frame into `buf`: Ethernet, IPv6 with hop limit
/// 255 from the target address, the advertisement with the target
/// link-layer option. Returns its length.
pub(super) fn write_advertisement(
    buf: &mut [u8],
    to_mac: &Mac,
    my_mac: &Mac,
    target: u128,
    to: u128,
    flags: u8,
) -> usize {
    ethernet::write_header(buf, to_mac, my_mac, ethernet::ETHERTYPE_IPV6);
    ipv6::write_header(&mut buf[ETH..], nd::MESSAGE_LEN as u16, IPPROTO_ICMPV6, ND_HOP_LIMIT, target, to);
    let n = icmpv6::write_neighbour_message(
        &mut buf[ETH + IP6..],
        icmpv6::NEIGHBOR_ADVERTISEMENT,
        flags,
        target,
        my_mac,
        target,
        to,
    );
    ETH + IP6 + n
}
