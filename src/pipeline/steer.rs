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
use crate::wire::ip_protocol::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// This loop.
    Me,
    /// Another loop.
    Loop(usize),
    /// Every loop needs it (ARP: each keeps its own neighbour table).
    All,
}

#[inline]
fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}
#[inline]
fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
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
        if self.n_workers <= 1 || len < ETH + 20 {
            return if self.n_workers > 1 && len >= ETH && be16(buf, 12) == ethernet::ETHERTYPE_ARP {
                Owner::All
            } else {
                Owner::Me
            };
        }
        match be16(buf, 12) {
            ethernet::ETHERTYPE_ARP => return Owner::All,
            // Multicast: sync messages, whose entries belong to every loop.
            ethernet::ETHERTYPE_IPV4 if buf[0] & 1 == 1 => return Owner::All,
            ethernet::ETHERTYPE_IPV4 => {}
            _ => return Owner::Me,
        }
        let ip = &buf[ETH..len];
        let ihl = (ip[0] & 0x0f) as usize * 4;
        if ihl < 20 || ip.len() < ihl + 8 {
            return Owner::Me;
        }
        let (proto, src, dst) = (ip[9], be32(ip, 12), be32(ip, 16));
        let l4 = &ip[ihl..];
        let lp = match proto {
            IPPROTO_TCP | IPPROTO_UDP => {
                let (sport, dport) = (be16(l4, 0), be16(l4, 2));
                if self.is_service_dst(proto, dst, dport) {
                    self.loop_of_client(src)
                } else if self.services.is_laddr(dst) {
                    dport as usize % self.n_workers
                } else {
                    let _ = sport;
                    self.loop_of_client(dst)
                }
            }
            IPPROTO_ICMP if icmp::is_error(l4[0]) => {
                // The quoted packet is one the director sent.
                let q = &l4[icmp::HEADER_LEN..];
                if q.len() < 28 || q[0] >> 4 != 4 {
                    return Owner::Me;
                }
                let qihl = (q[0] & 0x0f) as usize * 4;
                if qihl < 20 || q.len() < qihl + 4 {
                    return Owner::Me;
                }
                let (qsrc, qdst, qsport) = (be32(q, 12), be32(q, 16), be16(q, qihl));
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
