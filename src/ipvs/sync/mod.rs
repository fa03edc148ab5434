//! IPVS connection synchronization messages, byte-compatible with the Linux
//! kernel's sync daemon (net/netfilter/ipvs/ip_vs_sync.c): a pure codec, no
//! I/O. A master multicasts (224.0.0.81:8848 by default) UDP datagrams that
//! each hold one message: a header and up to 255 connection entries, so a
//! backup can take over the flows (and persistence templates) the master was
//! directing with the same real servers, methods, states and timeouts.
//!
//! Version 1 (what rvs sends): an 8-byte header `0, syncid, size(be16),
//! nr_conns, version=1, spare=0`, then per entry `struct ip_vs_sync_v4`
//! (36 bytes: type=0, protocol, ver_size = version 0 << 12 | entry size,
//! flags(be32), state(be16), cport, vport, dport, fwmark(be32),
//! timeout(be32, seconds), caddr, vaddr, daddr), then its options as
//! `type, length, data` (IPVS_OPT_SEQ_DATA = 1 with two `struct ip_vs_seq`
//! of three be32, IPVS_OPT_PE_DATA = 2, IPVS_OPT_PE_NAME = 3); the next
//! entry starts on a 4-byte boundary (zero padding before it, counted in
//! the header's size). Version 0 (received only) is the old format: a
//! 4-byte header `nr_conns, syncid, size` and 24-byte entries with no
//! fwmark or timeout; see [`v0`]. IPv6 entries (type bit 0) are skipped:
//! rvs directs IPv4.
//!
//! Flags carry the forwarding method in IP_VS_CONN_F_FWD_MASK (masq 0,
//! tunnel 2, droute 3; the kernel has no FULLNAT), IP_VS_CONN_F_INACTIVE
//! (InActConn rather than ActiveConn), IP_VS_CONN_F_TEMPLATE and the
//! sequence bits; rvs sends NOOUTPUT with DR and TUN as IPVS does and
//! ignores the bits a backup masks off anyway.
//!
//! FULLNAT, rvs's own method, goes as a masq entry plus an option of type
//! 0x30 ([`layout::OPT_RVS_FULLNAT`]), length 6: the local address (4 bytes)
//! and port (be16) the real server sees. Option types without bit 0x40
//! (IPVS_OPT_F_PARAM) are mandatory: a kernel backup that does not know one
//! drops that entry alone ("Unknown mandatory param") and goes on with the
//! rest of the message. That is deliberate: installed as plain NAT, the
//! connection would be forwarded with the client's source and the real
//! server would answer the local address, which a kernel backup does not
//! own. Templates of FULLNAT services carry 0.0.0.0:0.
//!
//! Decoding is total: [`decode`] returns the entries, with the ones the
//! kernel would skip listed by reason, or the reason the whole message is
//! dropped, each named for its drop counter ([`SyncError::name`]). The sync
//! id filter is the caller's ([`header_syncid`], [`syncid_accepted`]).
//! [`Encoder`] packs entries into messages no longer than the sync daemon's
//! maximum ([`maxlen`]).
//!
//! Not carried: IP_VS_CONN_F_NO_CPORT (FTP data connections; rvs has no FTP
//! helper), one-packet-scheduled flows (IPVS does not sync them either).

pub mod conn;
pub mod daemon;
pub mod error;
pub mod layout;
pub mod maxlen;
pub mod v0;
pub mod wire;

#[cfg(test)]
mod tests;

pub use conn::{PeData, SeqAdjust, SeqData, SyncConn};
pub use error::SyncError;
pub use wire::{decode, encode, encode_entry, header_syncid, syncid_accepted, Encoder, SyncMessage};
