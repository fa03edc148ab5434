//! TUN with `--tun-type gue|gre` through the director: the headers field by field, every
//! checksum recomputed (etherparse for the UDP one), the fast path and the general path
//! agreeing on established flows, the MTU less each tunnel's overhead, ICMP errors
//! tunnelled as the connection is, and an edit of the server's tunnel followed at once.

use super::*;
use crate::api::command::Command;
use crate::api::*;
use crate::testkit::frames::*;
use crate::testkit::inspect::*;
use crate::testkit::*;
use crate::wire::checksum::Checksum;
use crate::wire::ip_protocol::*;

const GUE: TunSpec = TunSpec { kind: TunType::Gue, port: 6080, flags: 0 };
const GUE_CSUM: TunSpec = TunSpec { kind: TunType::Gue, port: 6080, flags: TUN_FLAG_CSUM };
const GUE_REMCSUM: TunSpec = TunSpec { kind: TunType::Gue, port: 6080, flags: TUN_FLAG_REMCSUM };
const GRE: TunSpec = TunSpec { kind: TunType::Gre, port: 0, flags: 0 };
const GRE_CSUM: TunSpec = TunSpec { kind: TunType::Gre, port: 0, flags: TUN_FLAG_CSUM };

/// [`Lab::two_servers`] by TUN with both servers' tunnel `tun`, and the flow CLIENT:1000
/// opened: the lab, the client's ACK of the flow and what its SYN became.
fn lab_with(tun: TunSpec, fast: bool) -> (Lab, Vec<u8>, Vec<u8>) {
    let mut lab = Lab::two_servers("rr", FwdMethod::Tunnel, small_limits(1024));
    lab.d.set_fast_path(fast);
    for rs in [RS1, RS2] {
        lab.cmd(Command::EditDest(tcp_vip(80), DestSpec { tun, ..dest_spec(rs, 80, FwdMethod::Tunnel, 1) }));
    }
    let (ack, _) = lab.established_flow(FwdMethod::Tunnel);
    let syn = lab.out().to_vec();
    (lab, ack, syn)
}

/// The outer IPv4 header of a tunnelled frame: protocol, addresses, its checksum right.
fn outer(out: &[u8], proto: u8) {
    assert_eq!(out[14 + 9], proto, "outer protocol");
    assert_eq!(field_ip(out, 12), DIR_IN, "outer source: the director facing the server");
    assert!([RS1, RS2].contains(&field_ip(out, 16)), "outer destination: a real server");
    assert_eq!(Checksum::new().add_bytes(&out[14..34]).finish(), 0, "outer header checksum");
    assert_eq!(usize::from(u16::from_be_bytes([out[16], out[17]])), out.len() - 14, "outer total length");
}

/// The UDP checksum of a GUE frame, checked by etherparse (0: none sent).
fn gue_udp_checksum(out: &[u8]) -> u16 {
    let (h, _) = etherparse::Ipv4Header::from_slice(&out[14..]).unwrap();
    let (u, data) = etherparse::UdpHeader::from_slice(&out[34..]).unwrap();
    if u.checksum != 0 {
        assert_eq!(u.checksum, u.calc_checksum_ipv4(&h, data).unwrap(), "UDP checksum (etherparse)");
    }
    u.checksum
}

#[test]
fn gue_puts_udp_to_the_tunnel_port_and_a_gue_header_before_the_packet() {
    for (tun, csum) in [(GUE, false), (GUE_CSUM, true), (GUE_REMCSUM, true)] {
        let (mut lab, ack, syn_out) = lab_with(tun, true);
        let (v, out) = lab.feed(OUT, &ack);
        assert_eq!(v, Verdict::Forward(IN));
        for o in [&syn_out, &out] {
            outer(o, IPPROTO_UDP);
            let sport = l4_port(o, 0);
            assert!((32768..60999).contains(&sport), "source port {sport} in the local port range");
            assert_eq!(l4_port(o, 2), 6080, "the tunnel port");
            assert_eq!(usize::from(u16::from_be_bytes([o[38], o[39]])), o.len() - 34, "UDP length");
            assert_eq!(&o[42..46], &[0, 4, 0, 0], "GUE: version 0, data, no options, IPv4");
            assert_eq!(gue_udp_checksum(o) != 0, csum, "{tun:?}: the UDP checksum");
        }
        assert_eq!(&out[46..], &ack[14..], "{tun:?}: the client's packet untouched");
        assert_eq!(l4_port(&out, 0), l4_port(&syn_out, 0), "one flow, one source port");
        assert_eq!(out.len(), ack.len() + 20 + 8 + 4);
    }
}

#[test]
fn gue_source_ports_spread_over_flows() {
    let (mut lab, _, _) = lab_with(GUE, true);
    let mut ports = std::collections::HashSet::new();
    for cport in 2000..2040 {
        let (_, out) = lab.feed(OUT, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, cport, 80, "S", b""));
        ports.insert(l4_port(&out, 0));
    }
    assert!(ports.len() >= 30, "40 flows, {} source ports", ports.len());
}

#[test]
fn gre_carries_protocol_0x0800_with_its_checksum_when_asked() {
    for (tun, csum) in [(GRE, false), (GRE_CSUM, true)] {
        let (mut lab, ack, _) = lab_with(tun, true);
        let (v, out) = lab.feed(OUT, &ack);
        assert_eq!(v, Verdict::Forward(IN));
        outer(&out, IPPROTO_GRE);
        let hdr = if csum { 8 } else { 4 };
        assert_eq!(&out[34..36], if csum { &[0x80, 0] } else { &[0, 0] }, "{tun:?}: flags and version 0");
        assert_eq!(&out[36..38], &[0x08, 0x00], "protocol type IPv4");
        if csum {
            assert_eq!(&out[40..42], &[0, 0], "reserved1");
            assert_eq!(Checksum::new().add_bytes(&out[34..]).finish(), 0, "GRE checksum over header and payload");
        }
        assert_eq!(&out[34 + hdr..], &ack[14..], "{tun:?}: the client's packet untouched");
        assert_eq!(out.len(), ack.len() + 20 + hdr);
    }
}

#[test]
fn established_flows_of_every_tunnel_type_agree_with_the_general_path() {
    for tun in [TunSpec::default(), GUE, GUE_CSUM, GRE, GRE_CSUM] {
        let (mut fast, ack, syn_fast) = lab_with(tun, true);
        let (mut slow, _, syn_slow) = lab_with(tun, false);
        assert_eq!(syn_fast, syn_slow);
        let data = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1000, 80, "AP", &[9; 700]);
        for f in [&ack, &data, &ack, &data] {
            let (a, b) = (fast.feed(OUT, f), slow.feed(OUT, f));
            assert_eq!(a, b, "{tun:?}: fast path vs general path");
            assert_eq!(a.0, Verdict::Forward(IN));
            assert_eq!(a.1[14 + 9], crate::ipvs::xmit::tun::outer_protocol(tun.kind), "{tun:?}");
        }
    }
}

#[test]
fn the_mtu_leaves_room_for_each_tunnels_headers() {
    // 1500 less the outer header and the tunnel's own: GUE 8 + 4, GRE 4 (8 with its checksum).
    for (tun, mtu) in [(TunSpec::default(), 1480u16), (GUE, 1468), (GRE, 1476), (GRE_CSUM, 1472)] {
        let (mut lab, _, _) = lab_with(tun, true);
        // The largest segment that fits goes, one byte more is refused with frag-needed.
        let fits = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1000, 80, "A", &vec![7u8; usize::from(mtu) - 40]);
        let (v, out) = lab.feed(OUT, &fits);
        assert_eq!(v, Verdict::Forward(IN), "{tun:?}");
        assert_eq!(out.len() - 14, 1500, "{tun:?}: a full-size outer packet");
        let big = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1000, 80, "A", &vec![7u8; usize::from(mtu) - 39]);
        lab.tx.0.clear();
        assert_eq!(lab.feed(OUT, &big).0, Verdict::Drop(Reason::TooBig), "{tun:?}");
        // The director asks for the client's MAC (it saw only its request); the answer
        // releases the held error.
        lab.feed(OUT, &arp(CLIENT_MAC, OUT_MAC, 2, CLIENT_MAC, CLIENT, OUT_MAC, DIR_OUT));
        let (_, icmp) = lab.tx.0.iter().find(|(_, f)| f[12..14] == [8, 0]).expect("an ICMP error");
        assert_eq!((icmp[14 + 9], icmp[34], icmp[35]), (IPPROTO_ICMP, 3, 4), "fragmentation needed");
        assert_eq!(u16::from_be_bytes([icmp[40], icmp[41]]), mtu, "{tun:?}: the next-hop MTU");
    }
}

#[test]
fn icmp_errors_about_a_gue_connection_go_through_the_tunnel() {
    let (mut lab, _, syn_out) = lab_with(GUE_CSUM, true);
    // The client says our (the real server's) reply could not be delivered: it quotes the
    // reply VIP:80 -> CLIENT:1000, which maps to the connection.
    let reply = tcp(OUT_MAC, CLIENT_MAC, VIP, CLIENT, 80, 1000, "A", b"");
    let err = icmp_error(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port_unreachable(), &reply[14..]);
    let (v, out) = lab.feed(OUT, &err);
    assert_eq!(v, Verdict::Forward(IN));
    outer(&out, IPPROTO_UDP);
    assert_eq!(field_ip(&out, 16), field_ip(&syn_out, 16), "to the connection's server");
    assert_eq!(l4_port(&out, 2), 6080);
    assert_ne!(gue_udp_checksum(&out), 0);
    assert_eq!(&out[46..], &err[14..], "the error untouched inside");
}

#[test]
fn an_edit_of_the_servers_tunnel_applies_to_its_connections_at_once() {
    let (mut lab, ack, syn_out) = lab_with(GUE, true);
    let rs = field_ip(&syn_out, 16);
    assert_eq!(lab.feed(OUT, &ack).1[14 + 9], IPPROTO_UDP);
    lab.cmd(Command::EditDest(tcp_vip(80), DestSpec { tun: GRE, ..dest_spec(rs, 80, FwdMethod::Tunnel, 1) }));
    assert_eq!(lab.feed(OUT, &ack).1[14 + 9], IPPROTO_GRE, "as the kernel reads cp->dest's type");
    lab.cmd(Command::EditDest(tcp_vip(80), dest_spec(rs, 80, FwdMethod::Tunnel, 1)));
    let (v, out) = lab.feed(OUT, &ack);
    assert_eq!((v, out[14 + 9], out.len()), (Verdict::Forward(IN), IPPROTO_IPIP, ack.len() + 20));
}

#[test]
fn a_gue_server_without_a_port_is_refused_as_the_kernel_refuses_it() {
    let mut lab = Lab::new();
    let key = lab.service("rr", 80, &[], &[]);
    let d =
        DestSpec { tun: TunSpec { kind: TunType::Gue, port: 0, flags: 0 }, ..dest_spec(RS1, 80, FwdMethod::Tunnel, 1) };
    assert_eq!(lab.ctl.apply(&Command::AddDest(key, d)).unwrap_err().to_string(), "Invalid argument");
    let d =
        DestSpec { tun: TunSpec { kind: TunType::Gue, port: 1, flags: 3 }, ..dest_spec(RS1, 80, FwdMethod::Tunnel, 1) };
    assert_eq!(lab.ctl.apply(&Command::AddDest(key, d)).unwrap_err().to_string(), "Invalid argument");
    assert!(lab.ctl.views()[0].dests.is_empty(), "nothing added");
}

#[test]
fn a_too_big_packet_without_df_leaves_in_fragments_of_the_tunnel_packet() {
    for tun in [GUE_CSUM, GRE_CSUM] {
        let (mut lab, _, _) = lab_with(tun, true);
        let mut nodf = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1000, 80, "A", &[7u8; 1460]);
        nodf[14 + 6] = 0;
        fix_ip(&mut nodf);
        lab.tx.0.clear();
        assert_eq!(lab.feed(OUT, &nodf).0, Verdict::Consumed, "{tun:?}");
        let frags: Vec<_> = lab.tx.0.iter().filter(|(i, _)| *i == IN).map(|(_, f)| f.clone()).collect();
        assert_eq!(frags.len(), 2, "{tun:?}");
        let mut payload = Vec::new();
        for f in &frags {
            assert!(f.len() - 14 <= 1500);
            assert_eq!(Checksum::new().add_bytes(&f[14..34]).finish(), 0);
            assert_eq!(f[14 + 9], crate::ipvs::xmit::tun::outer_protocol(tun.kind));
            let off = usize::from(u16::from_be_bytes([f[20], f[21]]) & 0x1fff) * 8;
            assert_eq!(off, payload.len(), "{tun:?}: offsets add up");
            payload.extend_from_slice(&f[34..]);
        }
        // Reassembled: the tunnel header, then the client's packet; the checksum holds.
        let shim = if tun.kind == TunType::Gue { 12 } else { 8 };
        assert_eq!(&payload[shim..], &nodf[14..], "{tun:?}");
        if tun.kind == TunType::Gre {
            assert_eq!(Checksum::new().add_bytes(&payload).finish(), 0, "GRE checksum");
        } else {
            let c = crate::wire::checksum::pseudo_header(
                ip(DIR_IN),
                u32::from_be_bytes(field_ip(&frags[0], 16)),
                17,
                payload.len() as u16,
            )
            .add_bytes(&payload)
            .finish();
            assert_eq!(c, 0, "UDP checksum over the reassembled datagram");
        }
    }
}
