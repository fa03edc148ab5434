//! Receiving IPVS's original sync format (version 0, `sysctl
//! net.ipv4.vs.sync_version=0`): fixed 24-byte IPv4 entries, no fwmark and
//! no timeout (the backup uses the state's), sequence options only.

use super::conn::{state_from_wire, SeqAdjust, SeqData, SyncConn};
use super::layout::*;
use super::wire::{be16, be32, byte, fwd_from_flags, SyncMessage};
use super::SyncError;
use std::net::Ipv4Addr;

/// The kernel memcpy()s its `struct ip_vs_seq` into version 0 messages in
/// host order; every IPVS sender in practice is little-endian (x86, arm64).
fn le32(b: &[u8], at: usize) -> Option<u32> {
    be32(b, at).map(u32::swap_bytes)
}

fn seq_at(b: &[u8], at: usize) -> Option<SeqAdjust> {
    Some(SeqAdjust { init_seq: le32(b, at)?, delta: le32(b, at + 4)?, previous_delta: le32(b, at + 8)? })
}

/// Called by [`super::decode`] once the size is known to match.
pub(super) fn decode(buf: &[u8]) -> Result<SyncMessage, SyncError> {
    let t = SyncError::Truncated;
    let nr_conns = byte(buf, 0).ok_or(t)?;
    let syncid = byte(buf, 1).ok_or(t)?;
    let mut msg = SyncMessage { version: 0, syncid, conns: Vec::new(), skipped: Vec::new() };
    let mut at = V0_HEADER_LEN;
    for _ in 0..nr_conns {
        let e = buf.get(at..at + V0_ENTRY_LEN).ok_or(t)?;
        let flags = u32::from(be16(e, 20).ok_or(t)?) & !CONN_F_HASHED;
        at += V0_ENTRY_LEN;
        let seq = if flags & CONN_F_SEQ_MASK != 0 {
            let o = buf.get(at..at + SEQ_OPTIONS_LEN).ok_or(t)?;
            at += SEQ_OPTIONS_LEN;
            Some(SeqData { in_seq: seq_at(o, 0).ok_or(t)?, out_seq: seq_at(o, 12).ok_or(t)? })
        } else {
            None
        };
        let proto = byte(e, 1).ok_or(t)?;
        let template = flags & CONN_F_TEMPLATE != 0;
        let state = match state_from_wire(proto, be16(e, 22).ok_or(t)?, template) {
            Ok(s) => s,
            Err(skip) => {
                msg.skipped.push(skip);
                continue;
            }
        };
        let Some(fwd) = fwd_from_flags(flags) else {
            msg.skipped.push(SyncError::UnsupportedMethod);
            continue;
        };
        msg.conns.push(SyncConn {
            proto,
            caddr: Ipv4Addr::from(be32(e, 8).ok_or(t)?),
            cport: be16(e, 2).ok_or(t)?,
            vaddr: Ipv4Addr::from(be32(e, 12).ok_or(t)?),
            vport: be16(e, 4).ok_or(t)?,
            daddr: Ipv4Addr::from(be32(e, 16).ok_or(t)?),
            dport: be16(e, 6).ok_or(t)?,
            fwd,
            laddr: Ipv4Addr::UNSPECIFIED,
            lport: 0,
            state,
            inactive: flags & CONN_F_INACTIVE != 0,
            timeout_s: 0,
            template,
            fwmark: 0,
            seq,
            pe: None,
        });
    }
    if at != buf.len() {
        return Err(SyncError::BadSize);
    }
    Ok(msg)
}
