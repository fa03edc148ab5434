//! Decoding of sync messages (version 1, and version 0 through [`super::v0`])
//! and encoding of version 1 messages, as ip_vs_sync.c builds and reads them.
//! Every read is bounds-checked: any input gives entries or a [`SyncError`].

use super::conn::{state_from_wire, state_to_wire, PeData, SeqAdjust, SeqData, SyncConn};
use super::layout::*;
use super::{v0, SyncError};
use crate::api::FwdMethod;
use std::net::Ipv4Addr;

/// A decoded message: the entries rvs can install, and why the others were
/// skipped (one [`SyncError`] per skipped entry, for the drop counters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncMessage {
    /// 0 or 1.
    pub version: u8,
    pub syncid: u8,
    pub conns: Vec<SyncConn>,
    pub skipped: Vec<SyncError>,
}

/// ip_vs_process_message's filter: a backup with sync id 0 takes every
/// message, any other only its own.
pub fn syncid_accepted(ours: u8, theirs: u8) -> bool {
    ours == 0 || ours == theirs
}

pub(super) fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

pub(super) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut w = [0u8; 4];
    w.copy_from_slice(s);
    Some(u32::from_be_bytes(w))
}

pub(super) fn byte(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

/// The method bits of a connection's flags; None for local node, bypass and
/// the undefined values.
pub(super) fn fwd_from_flags(flags: u32) -> Option<FwdMethod> {
    match flags & CONN_F_FWD_MASK {
        CONN_F_MASQ => Some(FwdMethod::Masq),
        CONN_F_TUNNEL => Some(FwdMethod::Tunnel),
        CONN_F_DROUTE => Some(FwdMethod::Route),
        _ => None,
    }
}

/// The sender's sync id, for the caller's [`syncid_accepted`] check before
/// decoding (ip_vs_process_message checks it after the size).
pub fn header_syncid(buf: &[u8]) -> Result<u8, SyncError> {
    let size = be16(buf, v1_field::SIZE).ok_or(SyncError::Truncated)?;
    if size as usize != buf.len() {
        return Err(SyncError::BadSize);
    }
    byte(buf, v1_field::SYNCID).ok_or(SyncError::Truncated)
}

/// Decodes one datagram's payload. Only the message as a whole can fail;
/// entries the kernel would skip are counted in `skipped`.
pub fn decode(buf: &[u8]) -> Result<SyncMessage, SyncError> {
    if buf.len() < V0_HEADER_LEN {
        return Err(SyncError::Truncated);
    }
    let size = be16(buf, v1_field::SIZE).ok_or(SyncError::Truncated)?;
    if size as usize != buf.len() {
        return Err(SyncError::BadSize);
    }
    let reserved = byte(buf, v1_field::RESERVED).ok_or(SyncError::Truncated)?;
    if reserved != 0 {
        return v0::decode(buf);
    }
    if buf.len() == V0_HEADER_LEN {
        // A version 0 message without entries.
        return v0::decode(buf);
    }
    let version = byte(buf, v1_field::VERSION).ok_or(SyncError::Truncated)?;
    let spare = be16(buf, v1_field::SPARE).ok_or(SyncError::Truncated)?;
    if version != SYNC_PROTO_VER || spare != 0 {
        return Err(SyncError::BadVersion);
    }
    decode_v1(buf)
}

fn decode_v1(buf: &[u8]) -> Result<SyncMessage, SyncError> {
    let syncid = byte(buf, v1_field::SYNCID).ok_or(SyncError::Truncated)?;
    let nr_conns = byte(buf, v1_field::NR_CONNS).ok_or(SyncError::Truncated)?;
    let mut msg = SyncMessage { version: 1, syncid, conns: Vec::new(), skipped: Vec::new() };
    let mut at = V1_HEADER_LEN;
    let mut end = V1_HEADER_LEN;
    for _ in 0..nr_conns {
        if at.checked_add(V4_ENTRY_LEN).is_none_or(|e| e > buf.len()) {
            return Err(SyncError::Truncated);
        }
        let ver_size = be16(buf, at + 2).ok_or(SyncError::Truncated)?;
        let size = (ver_size & SVER_MASK) as usize;
        let entry = buf.get(at..at + size).ok_or(SyncError::Truncated)?;
        if ver_size >> SVER_SHIFT != 0 {
            return Err(SyncError::BadEntryVersion);
        }
        match decode_v1_entry(entry)? {
            Ok(c) => msg.conns.push(c),
            Err(skip) => msg.skipped.push(skip),
        }
        end = at + size;
        // The next entry starts 32-bit aligned.
        at += (size + 3) & !3;
    }
    // The kernel ends a message right after its last entry; tolerate that
    // entry's alignment padding, nothing more.
    if buf.len() != end && buf.len() != at {
        return Err(SyncError::BadSize);
    }
    Ok(msg)
}

#[derive(Default)]
struct Options<'a> {
    seq: Option<SeqData>,
    pe_data: Option<&'a [u8]>,
    pe_name: Option<&'a [u8]>,
    fullnat: Option<(Ipv4Addr, u16)>,
    unknown_mandatory: bool,
}

/// The outer error drops the message, the inner one skips this entry.
fn decode_v1_entry(e: &[u8]) -> Result<Result<SyncConn, SyncError>, SyncError> {
    let typ = byte(e, 0).ok_or(SyncError::BadEntrySize)?;
    let fixed = if typ & STYPE_F_INET6 != 0 {
        V6_ENTRY_LEN
    } else if typ == 0 {
        V4_ENTRY_LEN
    } else {
        return Err(SyncError::BadEntryType);
    };
    if e.len() < fixed {
        return Err(SyncError::BadEntrySize);
    }
    let opts = decode_options(e.get(fixed..).unwrap_or(&[]))?;
    if fixed == V6_ENTRY_LEN {
        return Ok(Err(SyncError::Ipv6Entry));
    }
    if opts.unknown_mandatory {
        return Ok(Err(SyncError::UnknownOption));
    }
    let t = SyncError::Truncated;
    let proto = byte(e, 1).ok_or(t)?;
    let flags = be32(e, 4).ok_or(t)?;
    let template = flags & CONN_F_TEMPLATE != 0;
    let state = match state_from_wire(proto, be16(e, 8).ok_or(t)?, template) {
        Ok(s) => s,
        Err(skip) => return Ok(Err(skip)),
    };
    let pe = match (opts.pe_data, opts.pe_name) {
        (None, _) => None,
        (Some(data), Some(name)) => PeData::new(name, data),
        (Some(_), None) => return Ok(Err(SyncError::BadPe)),
    };
    let Some(mut fwd) = fwd_from_flags(flags) else {
        return Ok(Err(SyncError::UnsupportedMethod));
    };
    let (mut laddr, mut lport) = (Ipv4Addr::UNSPECIFIED, 0);
    if let Some((a, p)) = opts.fullnat {
        if fwd != FwdMethod::Masq {
            return Err(SyncError::BadOption);
        }
        (fwd, laddr, lport) = (FwdMethod::FullNat, a, p);
    }
    Ok(Ok(SyncConn {
        proto,
        caddr: Ipv4Addr::from(be32(e, 24).ok_or(t)?),
        cport: be16(e, 10).ok_or(t)?,
        vaddr: Ipv4Addr::from(be32(e, 28).ok_or(t)?),
        vport: be16(e, 12).ok_or(t)?,
        daddr: Ipv4Addr::from(be32(e, 32).ok_or(t)?),
        dport: be16(e, 14).ok_or(t)?,
        fwd,
        laddr,
        lport,
        state,
        inactive: flags & CONN_F_INACTIVE != 0,
        timeout_s: be32(e, 20).ok_or(t)?,
        template,
        fwmark: be32(e, 16).ok_or(t)?,
        seq: opts.seq,
        pe,
    }))
}

fn seq_at(b: &[u8], at: usize) -> Option<SeqAdjust> {
    Some(SeqAdjust { init_seq: be32(b, at)?, delta: be32(b, at + 4)?, previous_delta: be32(b, at + 8)? })
}

/// The option list after an entry's fixed part (type, length, data; no
/// padding between options), checked as ip_vs_proc_sync_conn does.
fn decode_options(mut rest: &[u8]) -> Result<Options<'_>, SyncError> {
    let mut o = Options::default();
    while !rest.is_empty() {
        let (Some(&ptype), Some(&plen)) = (rest.first(), rest.get(1)) else {
            return Err(SyncError::BadOption);
        };
        let plen = plen as usize;
        let Some(data) = rest.get(2..2 + plen).filter(|_| plen > 0) else {
            return Err(SyncError::BadOption);
        };
        match ptype & !OPT_F_PARAM {
            OPT_SEQ_DATA => {
                if plen != SEQ_OPTIONS_LEN || o.seq.is_some() {
                    return Err(SyncError::BadOption);
                }
                let in_seq = seq_at(data, 0).ok_or(SyncError::BadOption)?;
                let out_seq = seq_at(data, 12).ok_or(SyncError::BadOption)?;
                o.seq = Some(SeqData { in_seq, out_seq });
            }
            OPT_PE_DATA if o.pe_data.is_none() => o.pe_data = Some(data),
            OPT_PE_NAME if o.pe_name.is_none() && plen <= PE_NAME_MAXLEN => o.pe_name = Some(data),
            OPT_PE_DATA | OPT_PE_NAME => return Err(SyncError::BadOption),
            OPT_RVS_FULLNAT if ptype == OPT_RVS_FULLNAT => {
                if plen != FULLNAT_OPTION_LEN || o.fullnat.is_some() {
                    return Err(SyncError::BadOption);
                }
                let a = be32(data, 0).ok_or(SyncError::BadOption)?;
                let p = be16(data, 4).ok_or(SyncError::BadOption)?;
                o.fullnat = Some((Ipv4Addr::from(a), p));
            }
            _ if ptype & OPT_F_PARAM == 0 => o.unknown_mandatory = true,
            _ => {}
        }
        rest = rest.get(2 + plen..).unwrap_or(&[]);
    }
    Ok(o)
}

/// The length of `c`'s version 1 entry, options included, padding not.
fn entry_len(c: &SyncConn) -> usize {
    let seq = if c.seq.is_some() { 2 + SEQ_OPTIONS_LEN } else { 0 };
    let pe = c.pe.as_ref().map_or(0, |pe| 2 + pe.data().len() + 2 + pe.name().len());
    let fullnat = if c.fwd == FwdMethod::FullNat { 2 + FULLNAT_OPTION_LEN } else { 0 };
    V4_ENTRY_LEN + seq + pe + fullnat
}

/// Append `c`'s version 1 entry (without alignment padding) to `out`: no
/// allocation when `out` has room for it.
fn write_entry(c: &SyncConn, out: &mut Vec<u8>) {
    let mut flags = match c.fwd {
        FwdMethod::Masq | FwdMethod::FullNat => CONN_F_MASQ,
        FwdMethod::Route => CONN_F_DROUTE | CONN_F_NOOUTPUT,
        FwdMethod::Tunnel => CONN_F_TUNNEL | CONN_F_NOOUTPUT,
    };
    if c.inactive {
        flags |= CONN_F_INACTIVE;
    }
    if c.template {
        flags |= CONN_F_TEMPLATE;
    }
    if c.seq.is_some() {
        flags |= CONN_F_SEQ_MASK;
    }
    // At most 36 + 26 + 257 + 18 + 8 bytes: well inside the 12-bit size.
    let size = (entry_len(c) as u16) & SVER_MASK;
    let mut e = [0u8; V4_ENTRY_LEN];
    e[1] = c.proto;
    e[2..4].copy_from_slice(&size.to_be_bytes());
    e[4..8].copy_from_slice(&flags.to_be_bytes());
    e[8..10].copy_from_slice(&state_to_wire(c.state, c.template).to_be_bytes());
    e[10..12].copy_from_slice(&c.cport.to_be_bytes());
    e[12..14].copy_from_slice(&c.vport.to_be_bytes());
    e[14..16].copy_from_slice(&c.dport.to_be_bytes());
    e[16..20].copy_from_slice(&c.fwmark.to_be_bytes());
    e[20..24].copy_from_slice(&c.timeout_s.to_be_bytes());
    e[24..28].copy_from_slice(&c.caddr.octets());
    e[28..32].copy_from_slice(&c.vaddr.octets());
    e[32..36].copy_from_slice(&c.daddr.octets());
    out.extend_from_slice(&e);
    if let Some(s) = &c.seq {
        out.extend_from_slice(&[OPT_SEQ_DATA, SEQ_OPTIONS_LEN as u8]);
        for a in [s.in_seq, s.out_seq] {
            for w in [a.init_seq, a.delta, a.previous_delta] {
                out.extend_from_slice(&w.to_be_bytes());
            }
        }
    }
    if let Some(pe) = &c.pe {
        // PeData::new bounds both lengths to one byte.
        out.extend_from_slice(&[OPT_PE_DATA, pe.data().len() as u8]);
        out.extend_from_slice(pe.data());
        out.extend_from_slice(&[OPT_PE_NAME, pe.name().len() as u8]);
        out.extend_from_slice(pe.name());
    }
    if c.fwd == FwdMethod::FullNat {
        out.extend_from_slice(&[OPT_RVS_FULLNAT, FULLNAT_OPTION_LEN as u8]);
        out.extend_from_slice(&c.laddr.octets());
        out.extend_from_slice(&c.lport.to_be_bytes());
    }
}

/// The bytes of one version 1 entry (without alignment padding).
pub fn encode_entry(c: &SyncConn) -> Vec<u8> {
    let mut e = Vec::with_capacity(entry_len(c));
    write_entry(c, &mut e);
    e
}

/// The longest entry: the fixed part and every option at its longest.
const MAX_ENTRY_LEN: usize = V4_ENTRY_LEN + 2 + SEQ_OPTIONS_LEN + 2 + 255 + 2 + PE_NAME_MAXLEN + 2 + FULLNAT_OPTION_LEN;

/// Packs entries into version 1 messages of at most `max_len` bytes (the
/// sync daemon's sync_maxlen, see [`super::maxlen`]), as ip_vs_sync_conn
/// fills its buffers: an entry that does not fit closes the message; an
/// entry larger than `max_len` on its own still goes, alone (the kernel
/// sizes such a buffer to the entry).
///
/// Entries are written straight into the message being filled, and a closed
/// message waits in a second buffer ([`Encoder::closed`]) until the next one
/// closes: both are sized once, in [`Encoder::new`], so a master syncing a
/// connection allocates nothing.
pub struct Encoder {
    syncid: u8,
    max_len: usize,
    msg: Vec<u8>,
    nr_conns: u8,
    closed: Vec<u8>,
}

/// How many entries a version 1 message this director encoded holds.
pub fn message_conn_count(msg: &[u8]) -> u8 {
    msg.get(v1_field::NR_CONNS).copied().unwrap_or(0)
}

impl Encoder {
    pub fn new(syncid: u8, max_len: usize) -> Encoder {
        // The size field is 16 bits.
        let max_len = max_len.min(u16::MAX as usize);
        let room = max_len.max(V1_HEADER_LEN) + 3 + MAX_ENTRY_LEN;
        Encoder { syncid, max_len, msg: Vec::with_capacity(room), nr_conns: 0, closed: Vec::with_capacity(room) }
    }

    /// Adds an entry; true when it closed the message before it, which is
    /// then [`Encoder::closed`].
    pub fn push(&mut self, c: &SyncConn) -> bool {
        let len = entry_len(c);
        let pad = (4 - self.msg.len() % 4) % 4;
        let full = self.nr_conns == u8::MAX || self.msg.len() + pad + len > self.max_len;
        let closed = self.nr_conns > 0 && full;
        if closed {
            self.close();
        }
        if self.nr_conns == 0 {
            self.msg.clear();
            self.msg.extend_from_slice(&[0, self.syncid, 0, 0, 0, SYNC_PROTO_VER, 0, 0]);
        }
        let pad = (4 - self.msg.len() % 4) % 4;
        self.msg.resize(self.msg.len() + pad, 0);
        write_entry(c, &mut self.msg);
        self.nr_conns += 1;
        closed
    }

    /// Close the message being filled, if it holds any entry; it is then
    /// [`Encoder::closed`], and returned.
    pub fn finish(&mut self) -> Option<&[u8]> {
        if self.nr_conns == 0 {
            return None;
        }
        self.close();
        Some(&self.closed)
    }

    /// The message the last [`Encoder::push`] that returned true, or the
    /// last [`Encoder::finish`] that returned one, closed.
    pub fn closed(&self) -> &[u8] {
        &self.closed
    }

    fn close(&mut self) {
        let size = (self.msg.len().min(u16::MAX as usize) as u16).to_be_bytes();
        if let Some(field) = self.msg.get_mut(v1_field::SIZE..v1_field::SIZE + 2) {
            field.copy_from_slice(&size);
        }
        if let Some(n) = self.msg.get_mut(v1_field::NR_CONNS) {
            *n = self.nr_conns;
        }
        self.nr_conns = 0;
        std::mem::swap(&mut self.msg, &mut self.closed);
        self.msg.clear();
    }
}

/// Encodes a batch into as few messages of at most `max_len` bytes as the
/// kernel's packing gives.
pub fn encode(syncid: u8, conns: &[SyncConn], max_len: usize) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new(syncid, max_len);
    let mut out = Vec::new();
    for c in conns {
        if enc.push(c) {
            out.push(enc.closed().to_vec());
        }
    }
    out.extend(enc.finish().map(<[u8]>::to_vec));
    out
}
