//! Which poll loop owns a packet. Each loop keeps its own connection table,
//! so both directions of a connection must meet in one loop although the NIC
//! may deliver them on any queue. The owner is computed from the packet
//! alone: the client's address (under the widest persistence netmask, so a
//! persistence template and every connection it places share a loop) for
//! requests, NAT replies and ICMP errors; the local port for FULLNAT replies,
//! since each loop hands out only local ports of its own residue class.

use super::Director;
use crate::wire::ethernet::{self, HEADER_LEN as ETH};
use crate::wire::icmp;
use crate::wire::ip_protocol::{IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv4::{self, Header};
use crate::wire::l4::{self, Ports};
use crate::wire::vlan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// This loop.
    Me,
    /// Another loop.
    Loop(usize),
    /// Every loop needs it (ARP: each keeps its own neighbour table).
    All,
}

impl Director {
    #[inline]
    pub(super) fn loop_of_client(&self, addr: u32) -> usize {
        let h = ((addr & self.services.owner_mask()) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((h >> 32) % self.n_workers as u64) as usize
    }

    /// Is `dst:dport` a service's address (a request, not a reply)?
    #[inline]
    fn is_service_dst(&self, proto: u8, dst: u32, dport: u16) -> bool {
        self.services.is_vip(dst) || self.services.classify(proto, dst, dport) != 0
    }

    /// The loop owning this frame. Malformed or foreign frames belong to the
    /// loop that received them (it counts and drops them).
    pub fn owner(&self, buf: &[u8], len: usize) -> Owner {
        let Some(eth) = buf.get(..len).and_then(ethernet::Frame::new_checked) else {
            return Owner::Me;
        };
        // A VLAN's frame belongs where its untagged self would (vlan.rs).
        let (ethertype, l3) = match eth.ethertype() {
            ethernet::ETHERTYPE_VLAN => match vlan::inner(&buf[..len]) {
                Some(inner) => inner,
                None => return Owner::Me,
            },
            t => (t, ETH),
        };
        let payload = &buf[l3..len];
        if self.n_workers <= 1 || len < l3 + ipv4::MIN_HEADER_LEN {
            return if self.n_workers > 1 && ethertype == ethernet::ETHERTYPE_ARP { Owner::All } else { Owner::Me };
        }
        match ethertype {
            ethernet::ETHERTYPE_ARP => return Owner::All,
            // Multicast: sync messages, whose entries belong to every loop.
            ethernet::ETHERTYPE_IPV4 if eth.dst_is_group() => return Owner::All,
            ethernet::ETHERTYPE_IPV4 => {}
            _ => return Owner::Me,
        }
        // Not checked yet (the owner checks it): read only what fits.
        let ip = Header::new_unchecked(payload);
        let ihl = ip.header_len();
        if ihl < ipv4::MIN_HEADER_LEN || payload.len() < ihl + l4::field::QUOTED_LEN {
            return Owner::Me;
        }
        let (proto, src, dst) = (ip.protocol(), ip.src(), ip.dst());
        if ip.is_fragment() {
            // Every piece of a datagram must meet in one loop, and only the
            // first carries ports: by the addresses alone, a request to a
            // VIP by its client, a NAT reply by its client. A FULLNAT reply's
            // owner is its local port's: unknown here, so the receiving loop
            // reassembles it and hands the pieces on once the whole
            // datagram's ports name the owner (frag.rs, hand_over).
            let lp = if self.services.is_vip(dst) {
                self.loop_of_client(src)
            } else if self.services.is_laddr(dst) {
                return Owner::Me;
            } else {
                self.loop_of_client(dst)
            };
            return if lp == self.worker { Owner::Me } else { Owner::Loop(lp) };
        }
        let l4 = &payload[ihl..];
        let lp = match proto {
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP => {
                // SCTP's ports sit where TCP's and UDP's do.
                let dport = match Ports::new_quoted(l4, proto) {
                    Some(p) => p.dst_port(),
                    None => match crate::wire::sctp::ports(l4) {
                        Some((_, dport)) if proto == IPPROTO_SCTP => dport,
                        _ => return Owner::Me,
                    },
                };
                if self.is_service_dst(proto, dst, dport) {
                    self.loop_of_client(src)
                } else if self.services.is_laddr(dst) {
                    dport as usize % self.n_workers
                } else {
                    self.loop_of_client(dst)
                }
            }
            IPPROTO_ICMP => {
                let Some(m) = icmp::Message::new_checked(l4).filter(|m| icmp::is_error(m.msg_type())) else {
                    return Owner::Me;
                };
                // The quoted packet is one the director sent: its IPv4 header
                // and at least its source port.
                let q = m.payload();
                if q.len() < ipv4::MIN_HEADER_LEN + l4::field::QUOTED_LEN {
                    return Owner::Me;
                }
                let qh = Header::new_unchecked(q);
                let qihl = qh.header_len();
                if qh.version() != ipv4::VERSION
                    || qihl < ipv4::MIN_HEADER_LEN
                    || q.len() < qihl + l4::field::SRC_PORT.end
                {
                    return Owner::Me;
                }
                let sport = &q[qihl..][l4::field::SRC_PORT];
                let (qsrc, qdst, qsport) = (qh.src(), qh.dst(), u16::from_be_bytes([sport[0], sport[1]]));
                if self.services.is_laddr(qsrc) {
                    qsport as usize % self.n_workers
                } else if self.services.is_vip(qsrc) {
                    self.loop_of_client(qdst)
                } else {
                    self.loop_of_client(qsrc)
                }
            }
            _ => return Owner::Me,
        };
        if lp == self.worker {
            Owner::Me
        } else {
            Owner::Loop(lp)
        }
    }
}
