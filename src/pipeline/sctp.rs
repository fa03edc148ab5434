//! What the load balancer reads of an SCTP packet, checked: the ports and
//! the chunk type IPVS's state table moves on. The CRC32c is checked here,
//! before any state moves or any entry is made, and for every method: NAT
//! and FULLNAT write a fresh CRC after their port rewrite, which would
//! otherwise pass a packet corrupted on its way in as sound.

use super::Reason;
use crate::wire::sctp::{Malformed, Packet};

/// (source port, destination port, state chunk type) of the SCTP packet
/// `l4` (the whole IP payload), or why it is dropped.
pub(super) fn read(l4: &[u8]) -> Result<(u16, u16, u8), Reason> {
    let p = Packet::parse(l4).map_err(|e| match e {
        Malformed::Truncated => Reason::SctpTruncated,
        Malformed::ChunkLength => Reason::SctpChunkLength,
    })?;
    if !p.checksum_ok() {
        return Err(Reason::SctpChecksum);
    }
    Ok((p.src_port(), p.dst_port(), p.state_chunk()))
}
