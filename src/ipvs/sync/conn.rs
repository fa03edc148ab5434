//! One synced connection as rvs sees it: what a backup needs to take over a
//! flow or a persistence template, decoded from or encoded to a sync entry.

use super::layout::{PE_NAME_MAXLEN, TCP_STATES, UDP_STATES};
use crate::api::FwdMethod;
use crate::ipvs::state::ConnState;
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConn {
    pub proto: u8,
    pub caddr: Ipv4Addr,
    pub cport: u16,
    pub vaddr: Ipv4Addr,
    pub vport: u16,
    /// The real server.
    pub daddr: Ipv4Addr,
    pub dport: u16,
    pub fwd: FwdMethod,
    /// FULLNAT's local address and port (the source the real server sees);
    /// 0.0.0.0:0 for the other methods and for FULLNAT templates.
    pub laddr: Ipv4Addr,
    pub lport: u16,
    /// Always [`ConnState::None`] for a template, [`ConnState::Udp`] for UDP.
    pub state: ConnState,
    /// Counted in InActConn rather than ActiveConn.
    pub inactive: bool,
    /// Seconds left; 0 (all version 0 messages) means "the state's timeout",
    /// or 3 minutes for a template, as IPVS does.
    pub timeout_s: u32,
    /// A persistence template (IP_VS_CONN_F_TEMPLATE).
    pub template: bool,
    pub fwmark: u32,
    pub seq: Option<SeqData>,
    pub pe: Option<PeData>,
}

/// `struct ip_vs_seq`: TCP sequence adjustment of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqAdjust {
    pub init_seq: u32,
    pub delta: u32,
    pub previous_delta: u32,
}

/// IPVS_OPT_SEQ_DATA / `struct ip_vs_sync_conn_options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqData {
    pub in_seq: SeqAdjust,
    pub out_seq: SeqAdjust,
}

/// A persistence engine's name (e.g. "sip") and its data (e.g. a Call-ID);
/// built only through [`PeData::new`], so it always fits the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeData {
    name: Vec<u8>,
    data: Vec<u8>,
}

impl PeData {
    /// None unless the name is 1..=16 bytes and the data 1..=255 bytes (each
    /// goes in an option with a non-zero one-byte length).
    pub fn new(name: &[u8], data: &[u8]) -> Option<PeData> {
        let fits = (1..=PE_NAME_MAXLEN).contains(&name.len()) && (1..=255).contains(&data.len());
        fits.then(|| PeData { name: name.to_vec(), data: data.to_vec() })
    }
    pub fn name(&self) -> &[u8] {
        &self.name
    }
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

/// The wire state number of `state` (IP_VS_TCP_S_* share rvs's numbering;
/// SCTP's are IP_VS_SCTP_S_*; UDP's single state and a template's are 0).
pub fn state_to_wire(state: ConnState, template: bool) -> u16 {
    match state {
        _ if template => 0,
        ConnState::Udp => 0,
        s if (s as u8) < TCP_STATES as u8 => s as u16,
        s => crate::ipvs::proto_sctp::number(s) as u16,
    }
}

/// rvs's state for a wire state number, None when IPVS would refuse it
/// (ip_vs_proc_sync_conn: `state >= pp->num_states`) or the protocol is
/// not one rvs directs. A template's state (IP_VS_CTPL_S_NONE/ASSURED) is
/// not checked by IPVS either and rvs keeps its templates in NONE.
pub fn state_from_wire(proto: u8, state: u16, template: bool) -> Result<ConnState, super::SyncError> {
    use super::SyncError;
    if template {
        return Ok(ConnState::None);
    }
    match proto {
        IPPROTO_TCP if state < TCP_STATES => Ok(TCP_BY_NUMBER.get(state as usize).copied().unwrap_or(ConnState::None)),
        IPPROTO_UDP if state < UDP_STATES => Ok(ConnState::Udp),
        IPPROTO_SCTP => crate::ipvs::proto_sctp::STATES.get(state as usize).copied().ok_or(SyncError::BadState),
        IPPROTO_TCP | IPPROTO_UDP => Err(SyncError::BadState),
        _ => Err(SyncError::UnknownProtocol),
    }
}

const TCP_BY_NUMBER: [ConnState; TCP_STATES as usize] = ConnState::TCP;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_state_numbers_round_trip() {
        for n in 0..TCP_STATES {
            let s = state_from_wire(IPPROTO_TCP, n, false).unwrap();
            assert_eq!(state_to_wire(s, false), n, "{}", s.name());
        }
        assert_eq!(state_from_wire(IPPROTO_TCP, 1, false), Ok(ConnState::Established));
        assert_eq!(state_from_wire(IPPROTO_TCP, 10, false), Ok(ConnState::SynAck));
        assert_eq!(state_from_wire(IPPROTO_TCP, 11, false), Err(super::super::SyncError::BadState));
        assert_eq!(state_from_wire(IPPROTO_UDP, 0, false), Ok(ConnState::Udp));
        assert_eq!(state_from_wire(IPPROTO_UDP, 1, false), Err(super::super::SyncError::BadState));
        assert_eq!(state_from_wire(132, 8, false), Ok(ConnState::SctpEstablished));
        assert_eq!(state_to_wire(ConnState::SctpEstablished, false), 8);
        assert_eq!(state_to_wire(ConnState::SctpClosed, false), 13);
        assert_eq!(state_from_wire(132, 14, false), Err(super::super::SyncError::BadState));
        assert_eq!(state_from_wire(50, 0, false), Err(super::super::SyncError::UnknownProtocol));
        assert_eq!(state_from_wire(0, 1, true), Ok(ConnState::None));
    }

    #[test]
    fn pe_data_bounds() {
        assert!(PeData::new(b"sip", b"call-1").is_some());
        assert!(PeData::new(b"", b"x").is_none());
        assert!(PeData::new(b"sip", b"").is_none());
        assert!(PeData::new(&[b'a'; 17], b"x").is_none());
        assert!(PeData::new(&[b'a'; 16], &[1; 255]).is_some());
        assert!(PeData::new(b"sip", &[1; 256]).is_none());
    }
}
