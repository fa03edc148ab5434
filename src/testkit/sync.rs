//! Connection-sync traffic as a peer director sends it: entries for established connections
//! of the lab's client through its VIP, and the multicast group and MAC IPVS sends them to.

use super::topology::{CLIENT, VIP};
use crate::api::FwdMethod;
use crate::ipvs::state::ConnState;
use crate::ipvs::sync::SyncConn;
use crate::wire::ip_protocol::IPPROTO_TCP;

/// IPVS's sync multicast group (224.0.0.81) and its Ethernet address.
pub const SYNC_GROUP: [u8; 4] = [224, 0, 0, 81];
pub const SYNC_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x51];

/// CLIENT:cport -> VIP:vport -> daddr:dport by `fwd`, ESTABLISHED with 900 s to live; a
/// FULLNAT entry's local address and port are `local` (otherwise none).
pub fn established(
    cport: u16,
    vport: u16,
    daddr: [u8; 4],
    dport: u16,
    fwd: FwdMethod,
    local: ([u8; 4], u16),
) -> SyncConn {
    SyncConn {
        proto: IPPROTO_TCP,
        caddr: CLIENT.into(),
        cport,
        vaddr: VIP.into(),
        vport,
        daddr: daddr.into(),
        dport,
        fwd,
        laddr: local.0.into(),
        lport: local.1,
        state: ConnState::Established,
        inactive: false,
        timeout_s: 900,
        template: false,
        fwmark: 0,
        seq: None,
        pe: None,
    }
}
