//! IPVS's SCTP protocol (ip_vs_proto_sctp.c): which chunks may open a
//! connection, the state table (chunk event x direction x state -> state)
//! and the per-state timeouts. The states are those the real server's
//! association passes through as the director sees its chunks.

use super::state::{ConnState, Direction};
use crate::wire::sctp::chunk;
use ConnState::*;

/// The states by IPVS's number (IP_VS_SCTP_S_NONE = 0 ... CLOSED = 13): the
/// table's columns, and what the sync protocol carries.
pub const STATES: [ConnState; 14] = [
    None,
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
];

/// IPVS's number of an SCTP state (0, NONE, for a state of another protocol).
/// ConnState lists the SCTP states in IPVS's order, so the number is an
/// offset, not a search (the timeout lookup asks it per SCTP packet).
#[inline]
pub fn number(s: ConnState) -> u8 {
    let (first, n) = (SctpInit1 as u8, s as u8);
    if (first..=SctpClosed as u8).contains(&n) {
        n - first + 1
    } else {
        0
    }
}

/// IP_VS_SCTP_MAX_RTO: 60 s of RTO.max plus one.
const MAX_RTO: u32 = 61_000;

/// sctp_timeouts, in milliseconds, by state number.
pub const TIMEOUTS_MS: [u32; 14] = [
    2_000,   // NONE
    4_000,   // INIT1: (0 + 3 + 1) s, an INIT nobody answered
    MAX_RTO, // INIT
    MAX_RTO, // COOKIE_SENT
    MAX_RTO, // COOKIE_REPLIED
    MAX_RTO, // COOKIE_WAIT
    MAX_RTO, // COOKIE
    MAX_RTO, // COOKIE_ECHOED
    900_000, // ESTABLISHED: 15 min
    MAX_RTO, // SHUTDOWN_SENT
    MAX_RTO, // SHUTDOWN_RECEIVED
    MAX_RTO, // SHUTDOWN_ACK_SENT
    4_000,   // REJECTED
    MAX_RTO, // CLOSED
];

/// May a packet whose first chunk is `first` create a connection
/// (sctp_conn_schedule)? An INIT; with sloppy_sctp any chunk but an ABORT,
/// so an association a failover moved here is picked up mid-stream.
pub fn may_create(first: u8, sloppy: bool) -> bool {
    first != chunk::ABORT && (sloppy || first == chunk::INIT)
}

/// Is a connection in state `s` finished, so that a new INIT on its key
/// starts a new one (ip_vs_in's is_new_conn_expected)?
pub fn reusable(s: ConnState) -> bool {
    s == SctpClosed
}

// The events (ipvs_sctp_event_t), as row indices.
const EV_DATA: usize = 0;
const EV_INIT: usize = 1;
const EV_INIT_ACK: usize = 2;
const EV_COOKIE_ECHO: usize = 3;
const EV_COOKIE_ACK: usize = 4;
const EV_SHUTDOWN: usize = 5;
const EV_SHUTDOWN_ACK: usize = 6;
const EV_SHUTDOWN_COMPLETE: usize = 7;
const EV_ERROR: usize = 8;
const EV_ABORT: usize = 9;

/// sctp_events: a chunk type's event. DATA, SACK, the heartbeats, ECN's and
/// every type the table does not name move the state as DATA does.
fn event(chunk_type: u8) -> usize {
    match chunk_type {
        chunk::INIT => EV_INIT,
        chunk::INIT_ACK => EV_INIT_ACK,
        chunk::COOKIE_ECHO => EV_COOKIE_ECHO,
        chunk::COOKIE_ACK => EV_COOKIE_ACK,
        chunk::SHUTDOWN => EV_SHUTDOWN,
        chunk::SHUTDOWN_ACK => EV_SHUTDOWN_ACK,
        chunk::SHUTDOWN_COMPLETE => EV_SHUTDOWN_COMPLETE,
        chunk::ERROR => EV_ERROR,
        chunk::ABORT => EV_ABORT,
        _ => EV_DATA,
    }
}

// State numbers, to keep the table legible next to the kernel's (NONE, 0,
// is never a next state).
const I1: u8 = 1;
const IN: u8 = 2;
const CS: u8 = 3;
const CR: u8 = 4;
const CW: u8 = 5;
const CO: u8 = 6;
const CE: u8 = 7;
const ES: u8 = 8;
const SS: u8 = 9;
const SR: u8 = 10;
const SA: u8 = 11;
const RJ: u8 = 12;
const CL: u8 = 13;

/// [direction][event][state] -> state, as ip_vs_proto_sctp.c's sctp_states.
#[rustfmt::skip]
const TABLE: [[[u8; 14]; 10]; 3] = [
    // INPUT (client to server, replies seen)
    [
        //          NO  I1  IN  CS  CR  CW  CO  CE  ES  SS  SR  SA  RJ  CL
        /* data */ [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* init */ [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
        /* i_a  */ [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_e  */ [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_a  */ [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
        /* s    */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
        /* s_a  */ [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
        /* s_c  */ [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
        /* err  */ [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
        /* ab   */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
    ],
    // OUTPUT (server to client)
    [
        //          NO  I1  IN  CS  CR  CW  CO  CE  ES  SS  SR  SA  RJ  CL
        /* data */ [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* init */ [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
        /* i_a  */ [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_e  */ [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
        /* c_a  */ [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
        /* s    */ [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
        /* s_a  */ [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
        /* s_c  */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* err  */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* ab   */ [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY (client to server, replies bypass the director: DR, TUN)
    [
        //          NO  I1  IN  CS  CR  CW  CO  CE  ES  SS  SR  SA  RJ  CL
        /* data */ [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* init */ [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
        /* i_a  */ [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_e  */ [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_a  */ [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
        /* s    */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
        /* s_a  */ [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
        /* s_c  */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
        /* err  */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* ab   */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
    ],
];

/// The state after a packet whose state chunk (wire::sctp's `state_chunk`)
/// is `chunk_type` travels `dir` on a connection in `state`.
pub fn transition(state: ConnState, dir: Direction, chunk_type: u8) -> ConnState {
    let d = match dir {
        Direction::Input => 0,
        Direction::Output => 1,
        Direction::InputOnly => 2,
    };
    STATES[TABLE[d][event(chunk_type)][number(state) as usize] as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sctp::chunk::*;
    use Direction::*;

    fn walk(dir_chunks: &[(Direction, u8)]) -> Vec<&'static str> {
        let mut s = None;
        dir_chunks
            .iter()
            .map(|&(d, c)| {
                s = transition(s, d, c);
                s.name()
            })
            .collect()
    }

    #[test]
    fn nat_association_up_and_down() {
        let seen = walk(&[
            (Input, INIT),
            (Output, INIT_ACK),
            (Input, COOKIE_ECHO),
            (Output, COOKIE_ACK),
            (Input, DATA),
            (Output, SACK),
            (Input, SHUTDOWN),
            (Output, SHUTDOWN_ACK),
            (Input, SHUTDOWN_COMPLETE),
        ]);
        assert_eq!(
            seen,
            [
                "INIT1",
                "C-SENT",
                "C-REPLIED",
                "ESTABLISHED",
                "ESTABLISHED",
                "ESTABLISHED",
                "S-RECEIVED",
                "S-ACK-SENT",
                "CLOSED"
            ]
        );
    }

    #[test]
    fn server_initiated_shutdown_closes() {
        let mut s = SctpEstablished;
        s = transition(s, Output, SHUTDOWN);
        assert_eq!(s, SctpShutdownSent);
        s = transition(s, Input, SHUTDOWN_ACK);
        assert_eq!(s, SctpClosed);
        assert!(reusable(s));
        // A new INIT on the finished key starts again.
        assert_eq!(transition(s, Input, INIT), SctpInit);
    }

    #[test]
    fn dr_sees_only_the_client() {
        let seen = walk(&[(InputOnly, INIT), (InputOnly, COOKIE_ECHO), (InputOnly, DATA), (InputOnly, SHUTDOWN_ACK)]);
        assert_eq!(seen, ["INIT1", "ESTABLISHED", "ESTABLISHED", "CLOSED"]);
        // A retransmitted INIT before any answer.
        assert_eq!(walk(&[(InputOnly, INIT), (InputOnly, INIT)]), ["INIT1", "INIT"]);
    }

    #[test]
    fn aborts_and_unknown_chunks() {
        assert_eq!(transition(SctpInit1, Output, ABORT), SctpRejected);
        assert_eq!(transition(SctpEstablished, Input, ABORT), SctpClosed);
        // FORWARD TSN (192), AUTH (15): DATA's row.
        assert_eq!(transition(None, Input, 192), SctpEstablished);
        assert_eq!(transition(SctpCookieWait, InputOnly, 15), SctpEstablished);
        assert_eq!(transition(SctpEstablished, Input, HEARTBEAT), SctpEstablished);
    }

    #[test]
    fn timeouts_and_numbers() {
        for (n, &s) in STATES.iter().enumerate() {
            assert_eq!(number(s) as usize, n, "{}", s.name());
        }
        for (i, &st) in STATES.iter().enumerate() {
            assert_eq!(number(st) as usize, i, "{st:?}: its number is its place in STATES");
        }
        assert_eq!((number(ConnState::Established), number(ConnState::Udp)), (0, 0), "not SCTP: NONE");
        assert_eq!(TIMEOUTS_MS[number(SctpEstablished) as usize], 900_000);
        assert_eq!(TIMEOUTS_MS[number(SctpInit1) as usize], 4_000);
        assert_eq!(TIMEOUTS_MS[number(SctpClosed) as usize], 61_000);
    }

    #[test]
    fn only_init_opens_unless_sloppy() {
        assert!(may_create(INIT, false));
        assert!(!may_create(DATA, false));
        assert!(!may_create(COOKIE_ECHO, false));
        assert!(may_create(DATA, true));
        assert!(!may_create(ABORT, true), "an ABORT never opens one");
    }
}
