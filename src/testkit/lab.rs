//! A lab: one director (one poll loop) with its control plane, fed frame by frame on a
//! simulated clock, the way the AF_XDP loop feeds it: each frame copied into a buffer the
//! size of an AF_XDP frame and processed in place.

use super::frames::{arp, tcp};
use super::inspect::{field_ip, l4_port};
use super::topology::*;
use crate::api::command::Command;
use crate::api::{FwdMethod, ServiceKey};
use crate::control::Control;
use crate::net::iface::Interfaces;
use crate::net::route::RouteTable;
use crate::net::IfaceId;
use crate::pipeline::{Collect, Director, Limits, Shared, Verdict};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The size of an AF_XDP frame: the most a received frame can be.
pub const FRAME_BUF: usize = 4096;

pub struct Lab {
    pub d: Director,
    pub ctl: Control,
    /// What the director sent besides the verdicts' frames.
    pub tx: Collect,
    /// The clock (ms).
    pub now: u64,
    /// The receive buffer, and the length of its frame after the last [`Lab::receive`].
    pub buf: Vec<u8>,
    pub len: usize,
}

impl Default for Lab {
    fn default() -> Self {
        Lab::new()
    }
}

impl Lab {
    /// The standard director, small tables, no services, the clock at 1 s.
    pub fn new() -> Lab {
        Lab::with_addrs(DIR_OUT, DIR_IN)
    }

    /// A director with its own addresses on the two sides (a pair's second).
    pub fn with_addrs(out: [u8; 4], inside: [u8; 4]) -> Lab {
        Lab::with_limits(interfaces(out, inside), small_limits(1024))
    }

    /// The standard interfaces, directly connected routes only, `limits`, the clock at 1 s.
    pub fn with_limits(ifaces: Interfaces, limits: Limits) -> Lab {
        Lab::build(ifaces, &[], limits, Control::new(Arc::new(Shared::new())), 1000)
    }

    /// A director on `ifaces` with static routes `statics` (destination, prefix, gateway), on
    /// `ctl`'s rules, started at `now`.
    pub fn build(ifaces: Interfaces, statics: &[(u32, u8, u32)], limits: Limits, ctl: Control, now: u64) -> Lab {
        let routes = RouteTable::build(&ifaces, statics).expect("testkit: routes");
        let d = Director::new(0, ifaces, routes, ctl.shared().clone(), limits, now);
        Lab { d, ctl, tx: Collect::default(), now, buf: vec![0; FRAME_BUF], len: 0 }
    }

    /// Apply a command; the director sees it from its next batch, which starts now.
    pub fn cmd(&mut self, c: Command) {
        self.ctl.apply(&c).expect("testkit: command refused");
        self.d.begin_batch();
    }

    /// `proto VIP:port` by `sched` over NAT real servers (address, port, weight).
    pub fn nat_service(&mut self, sched: &str, proto: u8, port: u16, rs: &[([u8; 4], u16, u32)]) -> ServiceKey {
        let key = ServiceKey::Addr { proto, addr: std::net::IpAddr::from(Ipv4Addr::from(VIP)), port };
        self.cmd(Command::AddService(service_spec(key, sched)));
        for &(a, p, w) in rs {
            self.cmd(Command::AddDest(key, dest_spec(a, p, FwdMethod::Masq, w)));
        }
        key
    }

    /// TCP `VIP:port` by `sched` over real servers (address, port, method) of weight 1, with
    /// FULLNAT local addresses `laddrs`.
    pub fn service(
        &mut self,
        sched: &str,
        port: u16,
        rs: &[([u8; 4], u16, FwdMethod)],
        laddrs: &[[u8; 4]],
    ) -> ServiceKey {
        let key = tcp_vip(port);
        self.cmd(Command::AddService(service_spec(key, sched)));
        for &(a, p, fwd) in rs {
            self.cmd(Command::AddDest(key, dest_spec(a, p, fwd, 1)));
        }
        for &l in laddrs {
            self.cmd(Command::AddLaddr(key, std::net::IpAddr::from(Ipv4Addr::from(l))));
        }
        key
    }

    /// The frame received on `iface` at the current time, processed in the receive buffer.
    pub fn receive(&mut self, iface: IfaceId, frame: &[u8]) -> Verdict {
        let n = frame.len().min(FRAME_BUF);
        self.buf[..n].copy_from_slice(&frame[..n]);
        self.buf[n..].fill(0);
        self.len = n;
        self.d.process(self.now, iface, &mut self.buf, &mut self.len, &mut self.tx)
    }

    /// The frame in the receive buffer as the director left it.
    pub fn out(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// One frame in on `iface`, a millisecond later: the verdict and the frame as left.
    pub fn feed(&mut self, iface: IfaceId, frame: &[u8]) -> (Verdict, Vec<u8>) {
        self.now += 1;
        let v = self.receive(iface, frame);
        (v, self.out().to_vec())
    }

    /// The director's set-up in benches/pipeline.rs and examples/rvs_pipeline_driver.rs: TCP
    /// VIP:80 by `sched` over RS1 and RS2 by `fwd` (FULLNAT from LIP), the clock at 0; then,
    /// at 1 ms, the real servers resolved the way the wire does it (a SYN from CLIENT, source
    /// port 1000 and 1001, makes the director ask; the answer resolves) and the client too
    /// (its ARP request for the director's address).
    pub fn two_servers(sched: &str, fwd: FwdMethod, limits: Limits) -> Lab {
        let mut lab = Lab::build(interfaces(DIR_OUT, DIR_IN), &[], limits, Control::new(Arc::new(Shared::new())), 0);
        let laddrs: &[[u8; 4]] = if fwd == FwdMethod::FullNat { &[LIP] } else { &[] };
        lab.service(sched, 80, &[(RS1, 80, fwd), (RS2, 80, fwd)], laddrs);
        lab.now = 1;
        // Both SYNs first: rr sends one to each server, whichever it starts with, and the
        // director asks for both; then both answer.
        for port in [1000, 1001] {
            lab.receive(OUT, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, port, 80, "S", &[0; 6]));
        }
        for (rs, mac) in [(RS1, RS1_MAC), (RS2, RS2_MAC)] {
            lab.receive(IN, &arp(mac, IN_MAC, 2, mac, rs, IN_MAC, DIR_IN));
        }
        lab.receive(OUT, &arp(CLIENT_MAC, [0xff; 6], 1, CLIENT_MAC, CLIENT, [0; 6], DIR_OUT));
        lab.tx.0.clear();
        lab
    }

    /// Start a sync daemon (`role` "master" or "backup") on the director's "in" interface,
    /// every interface offered for sync as rvs's stages offer them.
    pub fn start_daemon(&mut self, role: &str, syncid: u8) {
        self.ctl.set_sync_interfaces(
            self.d
                .interfaces()
                .0
                .iter()
                .map(|i| crate::control::SyncInterface { name: i.name.clone(), id: i.id, mtu: 1500, has_addr: true })
                .collect(),
        );
        self.ctl
            .start_daemon(&crate::ipvs::sync::daemon::DaemonRequest::new(role, "in", syncid))
            .expect("testkit: the sync daemon starts");
        self.d.begin_batch();
    }

    /// On a [`Lab::two_servers`] director, at 2 ms: the flow CLIENT:1000 -> VIP:80 opened by a
    /// SYN; returns its client ACK and, for the methods whose replies cross the director (NAT,
    /// FULLNAT), the real server's ACK back from the MAC and address (to the FULLNAT local
    /// port) the director chose, with the client's MAC resolved so the reply forwards.
    pub fn established_flow(&mut self, fwd: FwdMethod) -> (Vec<u8>, Option<Vec<u8>>) {
        self.now = 2;
        self.receive(OUT, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1000, 80, "S", &[0; 6]));
        let first = self.out().to_vec();
        let ack = tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 1000, 80, "A", &[0; 6]);
        let rs_mac: [u8; 6] = first[0..6].try_into().expect("testkit: an Ethernet header");
        let (rs, lport) = (field_ip(&first, 16), l4_port(&first, 0));
        let reply = match fwd {
            FwdMethod::Masq => tcp(rs_mac, IN_MAC, rs, CLIENT, 80, 1000, "A", &[0; 6]),
            FwdMethod::FullNat => tcp(rs_mac, IN_MAC, rs, LIP, 80, lport, "A", &[0; 6]),
            _ => return (ack, None),
        };
        // The first reply makes the director ask for the client's MAC; the answer resolves it.
        self.now = 3;
        self.receive(IN, &reply);
        self.receive(OUT, &arp(CLIENT_MAC, OUT_MAC, 2, CLIENT_MAC, CLIENT, OUT_MAC, DIR_OUT));
        assert_eq!(self.receive(IN, &reply), Verdict::Forward(OUT), "testkit: the reply forwards");
        self.tx.0.clear();
        (ack, Some(reply))
    }
}
