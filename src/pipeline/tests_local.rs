//! IPVS's "Local" forwarding: a real server that is the director itself
//! (127.0.0.0/8, or one of the host's addresses) is listed as `Local` (`-g` in `-S`, as ipvsadm's
//! fwd_switch prints LOCALNODE) and its packets go to the host stack,
//! destination rewritten to the server's address and port, not to a wire.

use super::*;
use crate::api::command::ListFormat;
use crate::api::*;
use crate::ipvsadm::format::{list_services, save};
use crate::testkit::frames::*;
use crate::testkit::inspect::*;
use crate::testkit::*;

const LOCAL: [u8; 4] = [127, 0, 0, 1];

#[test]
fn a_loopback_real_server_is_listed_as_local() {
    let mut lab = Lab::new();
    let key = lab.service("wlc", 80, &[(RS1, 80, FwdMethod::Route), (LOCAL, 80, FwdMethod::Masq)], &[]);
    let views = lab.ctl.views();
    let fmt = ListFormat { numeric: true, ..ListFormat::default() };
    let listing = list_services(&views, Some(&key), &fmt).unwrap();
    println!("{listing}");
    assert!(listing.contains("  -> 127.0.0.1:80                 Local   1      0          0"), "{listing}");
    assert!(listing.contains("  -> 198.18.1.11:80               Route   1      0          0"), "{listing}");
    let rules = save(&views, true);
    println!("{rules}");
    assert!(rules.contains("-a -t 198.18.0.100:80 -r 127.0.0.1:80 -g -w 1\n"), "{rules}");
    assert!(rules.contains("-a -t 198.18.0.100:80 -r 198.18.1.11:80 -g -w 1\n"), "{rules}");
}

#[test]
fn a_new_connection_to_a_local_real_server_goes_to_the_host_stack() {
    let mut lab = Lab::new();
    lab.service("rr", 80, &[(LOCAL, 8080, FwdMethod::Masq)], &[]);
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b""));
    assert_eq!(v, Verdict::Consumed, "handed to the host, not dropped");
    assert_eq!(lab.tx.1.len(), 1, "one packet for the host stack");
    let pkt = &lab.tx.1[0];
    // The host gets the IP packet (no Ethernet header) addressed to the local server.
    let mut frame = vec![0u8; 14];
    frame[12..14].copy_from_slice(&[8, 0]);
    frame.extend_from_slice(pkt);
    assert_eq!(field_ip(&frame, 12), CLIENT, "the client's address kept");
    assert_eq!(field_ip(&frame, 16), LOCAL);
    assert_eq!((l4_port(&frame, 0), l4_port(&frame, 2)), (40000, 8080));
    assert_checksums(&frame);
    // The rest of the connection follows it.
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "A", b"GET / HTTP/1.0\r\n\r\n"));
    assert_eq!(v, Verdict::Consumed);
    assert_eq!(lab.tx.1.len(), 2);
    assert!(lab.tx.0.iter().all(|(_, f)| f[12..14] == [8, 6]), "nothing but ARP on the wires");
    assert_eq!(lab.d.shared.counters.total(Reason::NoRoute), 0);
    println!("host packets: {}, connections: {}", lab.tx.1.len(), lab.d.connection_count());
}

/// A packet as the host stack writes it into the local-node device, with the
/// Ethernet room the shell leaves before it.
fn from_host(lab: &mut Lab, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut buf = frame.to_vec();
    buf[..14].fill(0);
    let mut len = buf.len();
    buf.resize(2048, 0);
    lab.now += 1;
    let v = lab.d.from_host(lab.now, &mut buf, &mut len, &mut lab.tx);
    (v, buf[..len].to_vec())
}

#[test]
fn the_local_servers_reply_goes_to_the_client_from_the_vip() {
    for fwd in [FwdMethod::Masq, FwdMethod::Route, FwdMethod::Tunnel, FwdMethod::FullNat] {
        println!("{fwd:?}");
        local_reply_by(fwd);
    }
}

/// IPVS's LOCALNODE takes the place of whichever method the server was given.
fn local_reply_by(fwd: FwdMethod) {
    let mut lab = Lab::new();
    lab.service("rr", 80, &[(LOCAL, 8080, fwd)], &[LIP]);
    let _ = lab.d.neigh.resolve(0, ip(CLIENT), lab.now);
    lab.feed(0, &arp(CLIENT_MAC, OUT_MAC, 2, CLIENT_MAC, CLIENT, OUT_MAC, DIR_OUT));
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b""));
    assert_eq!(v, Verdict::Consumed);
    // Nothing from a wire passes for the local server's reply.
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, LOCAL, CLIENT, 8080, 40000, "SA", b""));
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    let (v, _) = lab.feed(1, &tcp(RS1_MAC, IN_MAC, LOCAL, CLIENT, 8080, 40000, "SA", b""));
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    // From the host stack it goes out to the client, from VIP:80.
    let (v, out) = from_host(&mut lab, &tcp([0; 6], [0; 6], LOCAL, CLIENT, 8080, 40000, "SA", b""));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(&out[0..6], &CLIENT_MAC);
    assert_eq!(&out[6..12], &OUT_MAC);
    assert_eq!(field_ip(&out, 12), VIP);
    assert_eq!(field_ip(&out, 16), CLIENT);
    assert_eq!((l4_port(&out, 0), l4_port(&out, 2)), (80, 40000));
    assert_checksums(&out);
    // A host packet of no local connection is dropped and counted.
    let (v, _) = from_host(&mut lab, &tcp([0; 6], [0; 6], LOCAL, CLIENT, 8081, 40000, "SA", b""));
    assert_eq!(v, Verdict::Drop(Reason::FromHostUnmatched));
    assert_eq!(lab.d.shared.counters.total(Reason::LocalNodeDelivered), 1);
    let views = lab.ctl.views();
    println!("conns {} inpkts {} outpkts {}", views[0].stats.conns, views[0].stats.inpkts, views[0].stats.outpkts);
    assert_eq!((views[0].stats.conns, views[0].stats.inpkts, views[0].stats.outpkts), (1, 1, 1));
}

/// The host as the control plane sees it (control/own_addrs.rs): addresses the test changes.
struct Host(std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<std::net::Ipv4Addr>>>);

impl crate::control::own_addrs::LocalHost for Host {
    fn addresses(&mut self) -> Result<std::collections::BTreeSet<std::net::Ipv4Addr>, String> {
        Ok(self.0.lock().unwrap().clone())
    }
    fn delivers(&self) -> bool {
        true
    }
    fn serve(&mut self, _: &std::collections::BTreeSet<(std::net::Ipv4Addr, u16)>) {}
}

/// A real server at one of the host's addresses (not 127.0.0.0/8) goes to the host stack as
/// a loopback one does; when the host loses the address, new connections take the server's
/// method and the connection made before keeps going to the host, as the kernel's keep
/// their conn_flags.
#[test]
fn a_real_server_at_a_host_address_is_local_until_the_host_loses_it() {
    const OWN: [u8; 4] = [198, 18, 9, 1];
    let mut lab = Lab::new();
    let addrs = std::sync::Arc::new(std::sync::Mutex::new([std::net::Ipv4Addr::from(OWN)].into()));
    lab.ctl.set_local_host(Some(Box::new(Host(addrs.clone()))));
    lab.service("rr", 80, &[(OWN, 8080, FwdMethod::Masq)], &[]);
    let _ = lab.d.neigh.resolve(0, ip(CLIENT), lab.now);
    lab.feed(0, &arp(CLIENT_MAC, OUT_MAC, 2, CLIENT_MAC, CLIENT, OUT_MAC, DIR_OUT));
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "S", b""));
    assert_eq!(v, Verdict::Consumed, "handed to the host");
    let mut frame = vec![0u8; 14];
    frame[12..14].copy_from_slice(&[8, 0]);
    frame.extend_from_slice(&lab.tx.1[0]);
    assert_eq!((field_ip(&frame, 12), field_ip(&frame, 16)), (CLIENT, OWN));
    assert_eq!(l4_port(&frame, 2), 8080);
    // The host's reply, read back from the device, goes to the client from the VIP.
    let (v, out) = from_host(&mut lab, &tcp([0; 6], [0; 6], OWN, CLIENT, 8080, 40000, "SA", b""));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!((field_ip(&out, 12), l4_port(&out, 0)), (VIP, 80));
    // Nothing from a wire passes for it.
    let (v, _) = lab.feed(1, &tcp(RS1_MAC, IN_MAC, OWN, CLIENT, 8080, 40000, "SA", b""));
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");

    addrs.lock().unwrap().clear();
    lab.ctl.refresh_local();
    assert!(!lab.ctl.views()[0].dests[0].local, "no longer Local");
    // The connection made before still goes to the host...
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000, 80, "A", b""));
    assert_eq!(v, Verdict::Consumed);
    assert_eq!(lab.tx.1.len(), 2);
    // ...a new one is forwarded as a remote Masq server's would be (no route to it here).
    let (v, _) = lab.feed(0, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40001, 80, "S", b""));
    assert_eq!(v, Verdict::Drop(Reason::NoRoute));
    assert_eq!(lab.tx.1.len(), 2, "not to the host");
    println!(
        "host packets {}, local-node-to-host {}, connections {}",
        lab.tx.1.len(),
        lab.d.shared.counters.total(Reason::LocalNodeDelivered),
        lab.d.connection_count()
    );
}
