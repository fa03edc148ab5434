//! The new-connection path for the common SYN: a frame to this interface's
//! MAC carrying IPv4 without options, not a fragment, with a sound header
//! checksum and a whole TCP header whose flags open a connection (SYN
//! without ACK or RST), read in one pass at constant offsets as the fast
//! path reads the established frame (`fast_path/parse.rs`), instead of the
//! general pipeline's layer-by-layer parse.
//!
//! Such a frame passes every check the general pipeline makes on the way to
//! `load_balance` (Ethernet, IPv4 header, TCP header), so when its key finds
//! no connection it goes straight to [`Director::new_connection_hashed`] and
//! on as `load_balance` carries a new connection. Anything else, including a
//! SYN of a connection that exists (reuse, expire_nodest_conn) and every
//! frame of a backup, is left untouched to the general pipeline, which
//! answers it as before: only a lookup has happened.

use super::fast_path::parse::{bytes_at, mac_word};
use super::frame::Frame;
use super::lb::Flow;
use super::{Director, Transmit, Verdict};
use crate::ipvs::conn::{FlowKey, Side};
use crate::wire::checksum::{add32, fold32};
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::ip_protocol::IPPROTO_TCP;
use crate::wire::l4::{TCP_ACK, TCP_MIN_HEADER_LEN, TCP_RST, TCP_SYN};

/// Ethernet, a 20-byte IPv4 header and a TCP header without options.
const SYN_FRAME: usize = ETH + 20 + TCP_MIN_HEADER_LEN;
const L4: usize = ETH + 20;

/// The common SYN's flow, or `None` for any other frame. `my_mac`: the
/// receiving interface's [`mac_word`].
#[inline(always)]
pub(super) fn parse_syn(frame: &[u8], my_mac: u64) -> Option<Flow> {
    let h = frame.first_chunk::<SYN_FRAME>()?;
    let w0 = u64::from_ne_bytes(bytes_at(h, 0));
    let w12 = u64::from_ne_bytes(bytes_at(h, 12));
    let w20 = bytes_at::<4, SYN_FRAME>(h, 20);
    let mac_mask = u64::from_ne_bytes([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    let ipv4_mask = u64::from_ne_bytes([0xff, 0xff, 0xff, 0, 0, 0, 0, 0]);
    let ipv4 = u64::from_ne_bytes([0x08, 0x00, 0x45, 0, 0, 0, 0, 0]);
    if (w0 ^ my_mac) & mac_mask != 0 || w12 & ipv4_mask != ipv4 {
        return None;
    }
    let ip_len = u16::from_be_bytes([w12.to_ne_bytes()[4], w12.to_ne_bytes()[5]]) as usize;
    // More fragments or an offset: a fragment (DF alone is fine).
    let frag = u16::from_be_bytes([w20[0], w20[1]]);
    if frag & 0x3fff != 0 || w20[3] != IPPROTO_TCP || ip_len < 20 + TCP_MIN_HEADER_LEN || ip_len > frame.len() - ETH {
        return None;
    }
    let [off, flags] = bytes_at::<2, SYN_FRAME>(h, L4 + 12);
    let doff = (off >> 4) as usize * 4;
    if flags & (TCP_SYN | TCP_ACK | TCP_RST) != TCP_SYN || doff < TCP_MIN_HEADER_LEN || doff > ip_len - 20 {
        return None;
    }
    // The header checksum in 32-bit words (byte-order independent, RFC 1071).
    let w = |at: usize| u32::from_ne_bytes(bytes_at(h, ETH + at));
    let sum = add32(add32(add32(w(0), w(4)), add32(w(8), w(12))), w(16));
    if fold32(sum) != 0xffff {
        return None;
    }
    let be32 = |at: usize| u32::from_be_bytes(bytes_at(h, at));
    let be16 = |at: usize| u16::from_be_bytes(bytes_at(h, at));
    Some(Flow {
        key: FlowKey {
            saddr: be32(ETH + 12),
            daddr: be32(ETH + 16),
            sport: be16(L4),
            dport: be16(L4 + 2),
            proto: IPPROTO_TCP,
        },
        tcp_flags: flags,
        ip_len,
    })
}

impl Director {
    /// The common SYN of no connection: scheduled, inserted and sent to its
    /// real server here, with the verdict `load_balance` would give. `None`
    /// (nothing changed) for every other frame: the general pipeline's. Open
    /// when the fast path is (not for a backup, nor with expire_nodest_conn;
    /// tests turn both off to compare with the general pipeline).
    #[inline(always)]
    pub(super) fn new_from_syn(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Option<Verdict> {
        if !(self.fast.enabled && !self.backup && !self.sysctl.expire_nodest_conn()) {
            return None;
        }
        let mac = mac_word(&self.ifaces.0.get(f.ingress as usize)?.mac);
        let flow = parse_syn(f.bytes(), mac)?;
        let hash = self.conns.hash(&flow.key);
        if self.conns.lookup_hashed(&flow.key, hash).is_some() {
            return None;
        }
        // As the general path records the parse (the padding trimmed).
        f.parsed_ipv4(20, flow.ip_len, IPPROTO_TCP);
        #[cfg(test)]
        {
            self.syn_hits += 1;
        }
        Some(match self.new_connection_absent(now_ms, &flow, hash) {
            Ok(id) => self.carry(now_ms, &flow, id, Side::In, true, f, tx),
            Err(v) => self.crossed_or(now_ms, &flow, f, v, tx),
        })
    }
}

#[cfg(test)]
mod tests {
    //! The SYN path against the general pipeline: two directors alike, one
    //! with the fast paths off, fed the same batches; verdicts, bytes, frames
    //! sent aside, connections, counters and statistics must agree.
    use super::super::BatchFrame;
    use super::*;
    use crate::api::FwdMethod;
    use crate::net::IfaceId;
    use crate::testkit::frames::{as_fragment, tcp, udp, with_ttl};
    use crate::testkit::lab::FRAME_BUF;
    use crate::testkit::*;

    type Outcome = (Vec<(Verdict, Vec<u8>)>, Vec<(IfaceId, Vec<u8>)>);

    fn run(lab: &mut Lab, frames: &[Vec<u8>]) -> Outcome {
        let mut bufs: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| {
                let mut b = vec![0u8; FRAME_BUF];
                b[..f.len()].copy_from_slice(f);
                b
            })
            .collect();
        let mut batch: Vec<BatchFrame> =
            bufs.iter_mut().zip(frames).map(|(b, f)| BatchFrame::new(OUT, b, f.len())).collect();
        lab.tx.0.clear();
        lab.d.process_batch(lab.now, &mut batch, &mut lab.tx);
        let out = batch.iter().map(|f| (f.verdict, f.buf[..f.len].to_vec())).collect();
        (out, std::mem::take(&mut lab.tx.0))
    }

    /// Batches into both labs; asserts they agree; returns the SYNs the fast lab's path took.
    fn compare(fast: &mut Lab, slow: &mut Lab, batches: &[Vec<Vec<u8>>]) -> u64 {
        let hits = fast.d.syn_hits;
        for (n, frames) in batches.iter().enumerate() {
            slow.now = fast.now;
            let a = run(fast, frames);
            let b = run(slow, frames);
            for (i, (x, y)) in a.0.iter().zip(&b.0).enumerate() {
                assert_eq!(x.0, y.0, "batch {n} frame {i}: verdict, SYN path vs general");
                if matches!(x.0, Verdict::Forward(_)) {
                    assert_eq!(x.1, y.1, "batch {n} frame {i}: bytes");
                }
            }
            assert_eq!(a.1, b.1, "batch {n}: frames sent aside");
            let now = fast.now;
            assert_eq!(fast.d.connections(now), slow.d.connections(now), "batch {n}: connections");
            assert_eq!(fast.d.shared().counters.nonzero(), slow.d.shared().counters.nonzero(), "batch {n}: counters");
            let stats = |l: &Lab| {
                let services = l.ctl.shared().services.load();
                let mut all = Vec::new();
                for s in services.services() {
                    all.push(s.stats.snapshot());
                    all.extend(s.runtime().dests.iter().map(|d| d.stats.snapshot()));
                }
                all
            };
            assert_eq!(stats(fast), stats(slow), "batch {n}: service and real server statistics");
            fast.now += 10;
        }
        fast.d.syn_hits - hits
    }

    fn labs(fwd: FwdMethod, connections: usize) -> (Lab, Lab) {
        let fast = Lab::two_servers("rr", fwd, small_limits(connections));
        let mut slow = Lab::two_servers("rr", fwd, small_limits(connections));
        slow.d.set_fast_path(false);
        (fast, slow)
    }

    fn syn(sport: u16, flags: &str) -> Vec<u8> {
        tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, sport, 80, flags, &[])
    }

    #[test]
    fn new_connections_by_the_syn_path_match_the_general_pipeline() {
        for fwd in [FwdMethod::Masq, FwdMethod::FullNat, FwdMethod::Route, FwdMethod::Tunnel] {
            let (mut fast, mut slow) = labs(fwd, 1024);
            let mut bad_checksum = syn(2003, "S");
            bad_checksum[24] ^= 0xff;
            let batches = vec![
                // A SYN retransmitted within the batch finds the first one's entry.
                vec![syn(2000, "S"), syn(2001, "S"), syn(2000, "S"), syn(2002, "S")],
                // Not the SYN path's (the general pipeline answers): a bad header checksum,
                // SYN+ACK, TTL 1, a fragment, another port, UDP; then an ACK of an entry.
                vec![
                    bad_checksum,
                    syn(2004, "SA"),
                    with_ttl(&syn(2005, "S"), 1),
                    as_fragment(&syn(2006, "S"), true, 0),
                    tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 2007, 81, "S", &[]),
                    udp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 2008, 80, b"q"),
                    syn(2001, "A"),
                ],
                // A new SYN on a live connection (no reuse: the general path's), and data.
                vec![syn(2001, "S"), syn(2009, "S"), syn(2010, "S")],
            ];
            let taken = compare(&mut fast, &mut slow, &batches);
            println!("{fwd:?}: {taken} of the SYNs took the SYN path");
            // 2000, 2001, 2002 (2000's retransmission found its entry); TTL 1 (the path
            // answers it as load_balance does: time exceeded) and port 81 (no service);
            // 2009, 2010.
            assert_eq!(taken, 7, "{fwd:?}: SYNs the path took");
        }
    }

    #[test]
    fn a_nat_syn_over_the_mtu_is_refused_as_the_general_pipeline_refuses_it() {
        // lb.rs's ready-way NAT branch must leave a packet over the MTU to the checks after it:
        // with DF, "fragmentation needed" to the client and a drop (IPVS's ensure_mtu_is_adequate).
        let mut lab = Lab::two_servers("rr", FwdMethod::Masq, small_limits(64));
        let big = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 4000, 80, "S", &[7u8; 1461]);
        assert_eq!((big.len() - 14, big[14 + 6] & 0x40), (1501, 0x40), "1501 bytes of IP, DF");
        let sent_before = lab.d.shared().counters.total(crate::pipeline::Reason::IcmpFragNeededSent);
        let hits = lab.d.syn_hits;
        let (v, _) = lab.feed(OUT, &big);
        assert_eq!(lab.d.syn_hits - hits, 1, "the SYN path took it");
        assert_eq!(v, Verdict::Drop(crate::pipeline::Reason::TooBig));
        // "Fragmentation needed" went to the client (the general path's refuse_too_big).
        let frag_needed = || lab.d.shared().counters.total(crate::pipeline::Reason::IcmpFragNeededSent);
        assert_eq!(frag_needed(), sent_before + 1, "fragmentation needed sent");
        println!("a SYN of 1501 bytes of IP: {v:?}, {} fragmentation needed sent", frag_needed() - sent_before);
        // One byte less fits and is forwarded.
        let fits = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 4001, 80, "S", &[7u8; 1460]);
        assert!(matches!(lab.feed(OUT, &fits).0, Verdict::Forward(_)));
    }

    #[test]
    fn a_nat_syn_whose_reply_key_another_connection_holds_is_refused_by_the_syn_path() {
        // Ports 81 and 82 both lead to RS1:80 only: one client port to both makes the same
        // reply key (RS1:80 -> CLIENT:5000). IPVS refuses the second connection; so does the
        // SYN path (its insert skips the in-key's search, never the reply key's).
        let (mut fast, mut slow) = labs(FwdMethod::Masq, 1024);
        for lab in [&mut fast, &mut slow] {
            for port in [81, 82] {
                lab.service("rr", port, &[(RS1, 80, FwdMethod::Masq)], &[]);
            }
            lab.d.begin_batch();
        }
        let to = |port: u16| tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 5000, port, "S", &[]);
        let batches = vec![vec![to(81)], vec![to(82)], vec![to(81)]];
        let before = fast.d.shared().counters.total(crate::pipeline::Reason::ConnCollision);
        let taken = compare(&mut fast, &mut slow, &batches);
        let refused = fast.d.shared().counters.total(crate::pipeline::Reason::ConnCollision) - before;
        let now = fast.now;
        let held = fast.d.connections(now).iter().filter(|c| c.cport == 5000).count();
        println!("{taken} SYNs by the SYN path, {refused} refused as a collision, {held} connection of port 5000");
        assert_eq!((taken, refused, held), (2, 1, 1), "(SYN path, collisions, connections)");
    }

    #[test]
    fn a_syn_flood_into_a_full_table_by_the_syn_path_matches_the_general_pipeline() {
        let (mut fast, mut slow) = labs(FwdMethod::Masq, 64);
        let batches: Vec<Vec<Vec<u8>>> =
            (0..8u16).map(|b| (0..32u16).map(|i| syn(3000 + b * 32 + i, "S")).collect()).collect();
        let taken = compare(&mut fast, &mut slow, &batches);
        let now = fast.now;
        println!("{taken} SYNs into a table of 64: {} entries", fast.d.connections(now).len());
        assert_eq!(taken, 256);
        assert_eq!(fast.d.connections(now).len(), 64);
    }
}
