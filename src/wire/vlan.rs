//! IEEE 802.1Q tags: 4 bytes (TPID 0x8100, then PCP/DEI/VID) between the
//! source MAC and the ethertype. The pipeline takes a tag off a received
//! frame in place and puts one on a frame leaving by a VLAN interface.

use super::ethernet::{field, ETHERTYPE_VLAN};

/// Bytes a tag adds to a frame.
pub const TAG_LEN: usize = 4;
/// The MAC addresses the tag follows.
const MACS: usize = field::ETHERTYPE.start;
/// The highest VID that names a VLAN (4095 is reserved, 0 means "priority only").
pub const MAX_VID: u16 = 4094;

/// The VID of a tagged frame's outer tag; None for an untagged or short frame.
#[inline]
pub fn vid(frame: &[u8]) -> Option<u16> {
    let t = frame.get(MACS..MACS + TAG_LEN)?;
    (u16::from_be_bytes([t[0], t[1]]) == ETHERTYPE_VLAN).then(|| u16::from_be_bytes([t[2], t[3]]) & 0x0fff)
}

/// The ethertype after one tag, if any, and where the network header starts.
#[inline]
pub fn inner(frame: &[u8]) -> Option<(u16, usize)> {
    let e = frame.get(field::ETHERTYPE)?;
    let t = u16::from_be_bytes([e[0], e[1]]);
    if t != ETHERTYPE_VLAN {
        return Some((t, super::ethernet::HEADER_LEN));
    }
    let e = frame.get(MACS + TAG_LEN..MACS + TAG_LEN + 2)?;
    Some((u16::from_be_bytes([e[0], e[1]]), super::ethernet::HEADER_LEN + TAG_LEN))
}

/// Take the outer tag off the `len`-byte frame in `buf`: the MACs move up
/// over it (12 bytes, not the packet) and the frame now starts `TAG_LEN`
/// bytes into `buf`. Returns that start.
#[inline]
pub fn pop(buf: &mut [u8], len: usize) -> Option<usize> {
    if len < MACS + TAG_LEN + 2 || buf.len() < len {
        return None;
    }
    buf.copy_within(0..MACS, TAG_LEN);
    Some(TAG_LEN)
}

/// Put a tag of `vid` on the `len`-byte untagged frame in `buf` by moving its
/// payload (from the ethertype on) `TAG_LEN` bytes down; the new length, or
/// None when `buf` has no room.
#[inline]
pub fn push(buf: &mut [u8], len: usize, vid: u16) -> Option<usize> {
    if len < field::ETHERTYPE.end || buf.len() < len + TAG_LEN {
        return None;
    }
    buf.copy_within(MACS..len, MACS + TAG_LEN);
    write_tag(&mut buf[MACS..MACS + TAG_LEN], vid);
    Some(len + TAG_LEN)
}

/// Put a tag of `vid` on the `n`-byte frame [`pop`] left at `TAG_LEN` in
/// `buf`: the MACs move back to the start and the tag goes where the old
/// one was. The new length (the frame starts at 0 again).
#[inline]
pub fn push_popped(buf: &mut [u8], n: usize, vid: u16) -> Option<usize> {
    if n < field::ETHERTYPE.end || buf.len() < n + TAG_LEN {
        return None;
    }
    buf.copy_within(TAG_LEN..TAG_LEN + MACS, 0);
    write_tag(&mut buf[MACS..MACS + TAG_LEN], vid);
    Some(n + TAG_LEN)
}

/// Copy the untagged `frame` into `out` with a tag of `vid`; the new length.
#[inline]
pub fn copy_tagged(frame: &[u8], out: &mut [u8], vid: u16) -> Option<usize> {
    let n = frame.len() + TAG_LEN;
    if frame.len() < field::ETHERTYPE.end || out.len() < n {
        return None;
    }
    out[..MACS].copy_from_slice(&frame[..MACS]);
    write_tag(&mut out[MACS..MACS + TAG_LEN], vid);
    out[MACS + TAG_LEN..n].copy_from_slice(&frame[MACS..]);
    Some(n)
}

fn write_tag(t: &mut [u8], vid: u16) {
    t[..2].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
    t[2..4].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captured::ARP_REQUEST;

    #[test]
    fn push_pop_and_copy_agree() {
        let mut buf = [0u8; 64];
        buf[..42].copy_from_slice(&ARP_REQUEST);
        assert_eq!((vid(&buf[..42]), inner(&buf[..42])), (None, Some((0x0806, 14))));
        let n = push(&mut buf, 42, 100).expect("room");
        assert_eq!(n, 46);
        assert_eq!(&buf[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x06]);
        assert_eq!(&buf[..12], &ARP_REQUEST[..12]);
        assert_eq!(&buf[18..46], &ARP_REQUEST[14..]);
        assert_eq!((vid(&buf[..n]), inner(&buf[..n])), (Some(100), Some((0x0806, 18))));
        let mut copied = [0u8; 64];
        assert_eq!(copy_tagged(&ARP_REQUEST, &mut copied, 100), Some(46));
        assert_eq!(copied[..46], buf[..46]);
        // PCP and DEI bits are not part of the VID.
        buf[14] |= 0xe0;
        assert_eq!(vid(&buf[..n]), Some(100));
        let start = pop(&mut buf, n).expect("a tagged frame");
        assert_eq!(&buf[start..start + 42], &ARP_REQUEST[..]);
        // Tagged again for another VLAN where it lies: the same bytes as a push.
        assert_eq!(push_popped(&mut buf, 42, 200), Some(46));
        let mut other = [0u8; 64];
        assert_eq!(copy_tagged(&ARP_REQUEST, &mut other, 200), Some(46));
        assert_eq!(buf[..46], other[..46]);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let mut buf = [0u8; 44];
        buf[..42].copy_from_slice(&ARP_REQUEST);
        assert_eq!(push(&mut buf, 42, 7), None, "no room for 4 more bytes");
        assert_eq!(copy_tagged(&ARP_REQUEST, &mut [0u8; 45], 7), None);
        assert_eq!(pop(&mut [0x81u8; 17], 17), None, "a tag with no ethertype after it");
        assert_eq!(inner(&[0u8; 13]), None);
        let mut short = [0u8; 16];
        short[12..14].copy_from_slice(&[0x81, 0]);
        assert_eq!(inner(&short), None);
    }
}
