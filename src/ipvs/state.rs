//! Connection states and IPVS's TCP state table (ip_vs_proto_tcp.c), with
//! the per-state timeouts `--set tcp tcpfin udp` adjusts. SCTP's states are
//! named here too (a connection holds one state of either protocol); their
//! table and timeouts are proto_sctp.rs's.

use crate::api::Timeouts;
use crate::wire::l4::{TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnState {
    None = 0,
    Established,
    SynSent,
    SynRecv,
    FinWait,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    SynAck,
    /// The single state of a UDP connection ("UDP" in listings).
    Udp,
    // SCTP's (ip_vs_proto_sctp.c, IP_VS_SCTP_S_*; its NONE is `None`).
    SctpInit1,
    SctpInit,
    SctpCookieSent,
    SctpCookieReplied,
    SctpCookieWait,
    SctpCookie,
    SctpCookieEchoed,
    SctpEstablished,
    SctpShutdownSent,
    SctpShutdownReceived,
    SctpShutdownAckSent,
    SctpRejected,
    SctpClosed,
}

use ConnState::*;

impl ConnState {
    /// The TCP states, indexed by IPVS's numbers (IP_VS_TCP_S_NONE = 0 ...
    /// IP_VS_TCP_S_SYNACK = 10): what the sync protocol carries.
    pub const TCP: [ConnState; 11] =
        [None, Established, SynSent, SynRecv, FinWait, TimeWait, Close, CloseWait, LastAck, Listen, SynAck];

    pub fn name(self) -> &'static str {
        match self {
            None => "NONE",
            Established => "ESTABLISHED",
            SynSent => "SYN_SENT",
            SynRecv => "SYN_RECV",
            FinWait => "FIN_WAIT",
            TimeWait => "TIME_WAIT",
            Close => "CLOSE",
            CloseWait => "CLOSE_WAIT",
            LastAck => "LAST_ACK",
            Listen => "LISTEN",
            SynAck => "SYNACK",
            Udp => "UDP",
            // sctp_state_name_table's texts.
            SctpInit1 => "INIT1",
            SctpInit => "INIT",
            SctpCookieSent => "C-SENT",
            SctpCookieReplied => "C-REPLIED",
            SctpCookieWait => "C-WAIT",
            SctpCookie => "COOKIE",
            SctpCookieEchoed => "C-ECHOED",
            SctpEstablished => "ESTABLISHED",
            SctpShutdownSent => "S-SENT",
            SctpShutdownReceived => "S-RECEIVED",
            SctpShutdownAckSent => "S-ACK-SENT",
            SctpRejected => "REJECTED",
            SctpClosed => "CLOSED",
        }
    }

    /// Counted in ActiveConn: TCP's and SCTP's ESTABLISHED, as both
    /// protocols' state transitions move a connection between the counts.
    #[inline]
    pub fn is_established(self) -> bool {
        matches!(self, Established | SctpEstablished)
    }
}

/// Which way a packet travels relative to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to real server.
    Input,
    /// Real server to client, through the director (NAT, FULLNAT).
    Output,
    /// Client to real server when replies never pass the director (DR, TUN).
    InputOnly,
}

const S: [ConnState; 11] =
    [None, Established, SynSent, SynRecv, FinWait, TimeWait, Close, CloseWait, LastAck, Listen, SynAck];
//                            sNO  sES          sSS      sSR      sFW      sTW       sCL    sCW        sLA      sLI     sSA

// Indices into S, to keep the table legible next to the kernel's.
const NO: u8 = 0;
const ES: u8 = 1;
const SS: u8 = 2;
const SR: u8 = 3;
const FW: u8 = 4;
const TW: u8 = 5;
const CL: u8 = 6;
const CW: u8 = 7;
const LA: u8 = 8;
const LI: u8 = 9;

/// [direction][event: syn fin ack rst][current state] -> new state.
#[rustfmt::skip]
const TCP_STATES: [[[u8; 11]; 4]; 3] = [
    // INPUT
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
    ],
    // OUTPUT
    [
        /*syn*/ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
        /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// tcp_state_idx: RST beats SYN beats FIN beats ACK; a segment with none of
/// them changes nothing.
fn event(flags: u8) -> Option<usize> {
    if flags & TCP_RST != 0 {
        Some(3)
    } else if flags & TCP_SYN != 0 {
        Some(0)
    } else if flags & TCP_FIN != 0 {
        Some(1)
    } else if flags & TCP_ACK != 0 {
        Some(2)
    } else {
        Option::None
    }
}

pub fn tcp_transition(state: ConnState, dir: Direction, flags: u8) -> ConnState {
    let Some(ev) = event(flags) else { return state };
    let cur = S.iter().position(|&s| s == state).unwrap_or(NO as usize);
    let d = match dir {
        Direction::Input => 0,
        Direction::Output => 1,
        Direction::InputOnly => 2,
    };
    S[TCP_STATES[d][ev][cur] as usize]
}

/// Per-state timeouts in milliseconds (ip_vs_proto_tcp.c's defaults; the
/// three that `--set` controls come from [`Timeouts`]).
#[derive(Debug, Clone, Copy)]
pub struct StateTimeouts {
    pub tcp: [u32; 11],
    pub udp: u32,
    /// By IPVS's SCTP state number; `--set` changes none of them.
    pub sctp: [u32; 14],
}

impl StateTimeouts {
    pub fn new(t: &Timeouts) -> Self {
        let mut tcp = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];
        tcp[ES as usize] = t.tcp;
        tcp[FW as usize] = t.tcp_fin;
        StateTimeouts { tcp: tcp.map(|s| s * 1000), udp: t.udp * 1000, sctp: super::proto_sctp::TIMEOUTS_MS }
    }

    #[inline]
    pub fn for_state(&self, s: ConnState) -> u32 {
        match s {
            Udp => self.udp,
            None | Established | SynSent | SynRecv | FinWait | TimeWait | Close | CloseWait | LastAck | Listen
            | SynAck => self.tcp[s as usize],
            _ => self.sctp[super::proto_sctp::number(s) as usize],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_handshake_and_close() {
        let mut s = None;
        s = tcp_transition(s, Direction::Input, TCP_SYN);
        assert_eq!(s, SynRecv);
        s = tcp_transition(s, Direction::Output, TCP_SYN | TCP_ACK);
        assert_eq!(s, SynRecv);
        s = tcp_transition(s, Direction::Input, TCP_ACK);
        assert_eq!(s, Established);
        s = tcp_transition(s, Direction::Input, TCP_FIN | TCP_ACK);
        assert_eq!(s, CloseWait);
        s = tcp_transition(s, Direction::Output, TCP_FIN | TCP_ACK);
        assert_eq!(s, TimeWait);
    }

    #[test]
    fn dr_input_only() {
        let mut s = tcp_transition(None, Direction::InputOnly, TCP_SYN);
        s = tcp_transition(s, Direction::InputOnly, TCP_ACK);
        assert_eq!(s, Established);
        s = tcp_transition(s, Direction::InputOnly, TCP_FIN | TCP_ACK);
        assert_eq!(s, FinWait);
        s = tcp_transition(s, Direction::InputOnly, TCP_RST);
        assert_eq!(s, Close);
    }

    #[test]
    fn set_timeouts() {
        let t = StateTimeouts::new(&Timeouts { tcp: 5, tcp_fin: 6, udp: 7 });
        assert_eq!(t.for_state(Established), 5000);
        assert_eq!(t.for_state(FinWait), 6000);
        assert_eq!(t.for_state(Udp), 7000);
        assert_eq!(t.for_state(SynRecv), 60_000);
    }
}
