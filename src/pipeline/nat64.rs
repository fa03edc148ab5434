//! NAT64, DPVS's FULLNAT across families: an IPv6 service's IPv4 real
//! servers. The connection lives in the IPv6 table like any IPv6 one; the
//! real server and the local address stand there as IPv4-mapped addresses
//! (::ffff:a.b.c.d, RFC 4291 2.5.5.2), so the entry's reply key is the
//! IPv4 reply's addresses by handle. A request leaves as IPv4 from a local
//! address (the service's IPv4 ones, `-P -z` as for IPv4 FULLNAT, else
//! rvs's own on the server's link) and a local port of this loop's; the
//! reply, an IPv4 packet no IPv4 entry has, is looked up in the IPv6 table
//! once this loop has ever translated (tun46.rs's `cross_family`), and
//! leaves as IPv6 from the VIP to the client. The header translation is
//! ipvs/xmit/nat64.rs.
//!
//! The two tables share the IPv4 local addresses and ports: a port is
//! handed out only when neither table's reply key holds it, both ways.
//! A reply too big for the client's link once translated: with DF,
//! "fragmentation needed" to the server with the link's MTU less the 20
//! bytes the IPv6 header adds; without (a datagram the server fragmented,
//! reassembled here), IPv6 fragments. A request rvs reassembled leaves with
//! DF clear, fragmented as IPv4 if need be. Not translated: ICMP errors
//! about a NAT64 connection (dropped as unrelated).

use super::frame::Frame;
use super::lb::{next_fullnat_port, Flow};
use super::{Director, Reason, Transmit, Verdict};
use crate::ipvs::conn::{FlowKey, Side};
use crate::ipvs::xmit::nat64;
use crate::wire::ipv4::MIN_HEADER_LEN as IP4;
use crate::wire::ipv6::HEADER_LEN as IP6;

/// The prefix of IPv4-mapped IPv6 addresses, ::ffff:0:0/96.
const MAPPED: u128 = 0xffff << 32;

/// `a` as an IPv4-mapped IPv6 address.
pub(super) fn mapped(a: u32) -> u128 {
    MAPPED | a as u128
}

/// The IPv4 address an IPv4-mapped one stands for.
pub(super) fn ipv4_of(a: u128) -> Option<u32> {
    (a >> 32 == MAPPED >> 32).then_some(a as u32)
}

/// The smallest MTU an IPv6 link may have (RFC 8200 5): never less in a packet too big.
const IPV6_MIN_MTU: usize = 1280;

impl Director {
    /// NAT64's source towards IPv4 real server `rip` (handle `hr`): a local
    /// address as [`Director::fullnat_source`] picks one for IPv4, and a
    /// port of this loop's that no reply key holds in either table. The
    /// address by handle, and the port.
    pub(super) fn fullnat_source64(
        &mut self,
        si: usize,
        rip: u32,
        hr: u32,
        rport: u16,
        proto: u8,
    ) -> Result<(u32, u16), Verdict> {
        const TRIES: usize = 256;
        let own = match self.routes.lookup(rip) {
            Some(nh) => self.ifaces.get(nh.iface).source_for(rip),
            None => return Err(Verdict::Drop(Reason::NoRoute)),
        };
        let Some(rt) = self.services.get(si).map(|(_, rt)| rt.clone()) else {
            return Err(Verdict::Drop(Reason::NoService));
        };
        let (lo, hi) = self.fullnat_ports;
        for k in 0..rt.laddrs.len().max(1) {
            let addr = match rt.laddrs.len() {
                0 => own,
                n => rt.laddrs[(self.laddr_rr + k) % n].addr,
            };
            let hl = self.pool6.intern(mapped(addr));
            for _ in 0..TRIES.min((hi as usize - lo as usize) / self.n_workers + 1) {
                let port = next_fullnat_port(&mut self.fullnat_cursor, self.fullnat_ports, self.worker, self.n_workers);
                let key4 = FlowKey { saddr: rip, daddr: addr, sport: rport, dport: port, proto };
                let key6 = FlowKey { saddr: hr, daddr: hl, ..key4 };
                if self.conns6.key_free(&key6) && self.conns.key_free(&key4) {
                    self.laddr_rr = self.laddr_rr.wrapping_add(1);
                    self.cross_family = true;
                    return Ok((hl, port));
                }
            }
        }
        Err(Verdict::Drop(Reason::FullnatNoPort))
    }

    /// Is IPv4 FULLNAT's reply key `key` free of NAT64 connections too?
    /// (Only asked once this loop has made one.)
    pub(super) fn nat64_key_free(&self, key: &FlowKey) -> bool {
        match (self.pool6.handle(mapped(key.saddr)), self.pool6.handle(mapped(key.daddr))) {
            (Some(s), Some(d)) => self.conns6.key_free(&FlowKey { saddr: s, daddr: d, ..*key }),
            _ => true,
        }
    }

    /// A NAT64 request (connection `id`'s client side, checked and tracked
    /// by load_balance6) out to its IPv4 real server: from `src` to `dst`.
    /// Too big once translated: a packet too big to the client with the
    /// IPv4 link's MTU plus the headers the translation takes off.
    pub(super) fn to_ipv4_server(
        &mut self,
        now_ms: u64,
        f: &mut Frame,
        src: (u32, u16),
        dst: (u32, u16),
        tx: &mut impl Transmit,
    ) -> Verdict {
        let Some(nh) = self.routes.lookup(dst.0) else {
            return Verdict::Drop(Reason::NoRoute);
        };
        let (l3, headers, proto) = (f.l3, f.l4 - f.l3, f.proto);
        let mtu = self.ifaces.get(nh.iface).mtu as usize;
        if f.l3_len() - headers + IP4 > mtu && !self.reassembled6 {
            let path_mtu = (mtu + headers - IP4).max(IPV6_MIN_MTU);
            return self.packet_too_big6(now_ms, f, path_mtu as u16, tx);
        }
        let len = f.len;
        let Some(end) = nat64::to_ipv4(f.buffer_mut(), l3, headers, len, proto, src, dst) else {
            return Verdict::Drop(Reason::Ipv6Unsupported);
        };
        f.parsed_ipv4(IP4, end - l3, proto);
        if self.reassembled6 {
            // Its sender fragmented it: so may the way on (DF clear), fragments if too big.
            let mut h = f.ipv4_mut();
            h.set_flags_frag(0);
            h.fill_checksum();
            return self.send_ip(now_ms, nh.iface, nh.addr, f.bytes_mut(), tx);
        }
        self.send_via(now_ms, nh.iface, nh.addr, f.bytes_mut(), tx)
    }

    /// The reply (`flow`, its key by handle `key`) of NAT64 connection
    /// `id`, which tun46.rs's `cross_family` found in the IPv6 table:
    /// translated and sent to the IPv6 client from the VIP.
    pub(super) fn nat64_reply(
        &mut self,
        now_ms: u64,
        flow: &Flow,
        key: FlowKey,
        id: u32,
        f: &mut Frame,
        tx: &mut impl Transmit,
    ) -> Verdict {
        // As reply_filter.rs: only from where the real server is routed.
        if self.routes.lookup(flow.key.saddr).map(|nh| nh.iface) != Some(f.ingress) {
            return Verdict::Drop(Reason::ReplyWrongInterface);
        }
        if f.ipv4().ttl() <= 1 {
            return Verdict::Drop(Reason::TtlExceeded);
        }
        self.with_table6(|d| d.track(now_ms, &Flow { key, ..*flow }, id, Side::Out, false));
        let c = *self.conns6.get(id);
        let (client, vip) = (self.pool6.addr(c.caddr), self.pool6.addr(c.vaddr));
        let Some((iface, _)) = self.ifaces.on_link6(client) else {
            return Verdict::Drop(Reason::NoRoute6);
        };
        let (l3, ihl, proto) = (f.l3, f.l4 - f.l3, f.proto);
        let mtu = self.ifaces.get(iface).mtu as usize;
        let too_big = f.l3_len() - ihl + IP6 > mtu;
        if too_big {
            // DF: the server learns the path; else (a datagram the server
            // fragmented, reassembled here) IPv6 fragments, as a translator may.
            let fits = (mtu + ihl - IP6) as u16;
            if let Some(v) = self.refuse_too_big(now_ms, f, fits, tx) {
                return v;
            }
        }
        let len = f.len;
        let Some(end) = nat64::to_ipv6(f.buffer_mut(), l3, ihl, len, proto, (vip, c.vport), (client, c.cport)) else {
            return Verdict::Drop(Reason::Ipv6Unsupported);
        };
        f.parsed_ipv6(IP6, end - l3, proto);
        if too_big {
            return self.fragment6(now_ms, iface, client, f.bytes(), mtu, tx);
        }
        self.send_via6(now_ms, iface, client, f.bytes_mut(), tx)
    }
}
