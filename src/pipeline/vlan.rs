//! 802.1Q VLANs: several logical interfaces on one device, each with its own
//! IfaceId (addresses, VIPs, neighbours, routes), told apart by the tag. The
//! AF_XDP shell knows devices only ("ports": the IfaceId of a device's first
//! logical interface); this stage maps (port, VID) to the logical interface
//! on the way in, takes the tag off so every later stage sees a plain
//! Ethernet II frame, and puts the tag of the way out back on: on the frame
//! forwarded in place and on every frame the pipeline emits (ARP, ICMP,
//! released packets) through [`Tagging`].
//!
//! A configuration without VLANs never enters this file: the per-packet cost
//! of untagged traffic is one flag test.

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::net::iface::Interfaces;
use crate::net::IfaceId;
use crate::wire::vlan::{self, TAG_LEN};

/// The VLAN layout of the interfaces, built once.
#[derive(Debug, Default)]
pub(super) struct Vlans {
    /// Any interface tagged at all.
    pub any: bool,
    /// Per logical interface: its VID, 0 when untagged.
    vid: Vec<u16>,
    /// (port, VID) -> logical interface; few entries, searched in order.
    by_tag: Vec<(IfaceId, u16, IfaceId)>,
    /// Where an emitted frame gets its tag (one Ethernet frame and a tag).
    pub(super) scratch: Vec<u8>,
}

impl Vlans {
    pub fn new(ifaces: &Interfaces) -> Vlans {
        let vid: Vec<u16> = ifaces.0.iter().map(|i| i.vlan).collect();
        let by_tag = ifaces.0.iter().filter(|i| i.vlan != 0).map(|i| (i.port, i.vlan, i.id)).collect();
        Vlans { any: vid.iter().any(|&v| v != 0), vid, by_tag, scratch: vec![0; 4096 + TAG_LEN] }
    }

    pub(super) fn vid_of(&self, iface: IfaceId) -> u16 {
        self.vid.get(iface as usize).copied().unwrap_or(0)
    }

    /// The logical interface of a frame tagged `vid` on `port`: Err the
    /// reason it is dropped.
    fn logical(&self, port: IfaceId, vid: Option<u16>) -> Result<IfaceId, Reason> {
        // A device is either untagged or a trunk (config refuses a mix), so
        // the port's own VID says which.
        let trunk = self.vid_of(port) != 0;
        match vid {
            None if trunk => Err(Reason::VlanUntagged),
            None => Ok(port),
            Some(_) if !trunk => Err(Reason::Vlan),
            Some(v) => self
                .by_tag
                .iter()
                .find(|&&(p, t, _)| p == port && t == v)
                .map(|&(_, _, i)| i)
                .ok_or(Reason::VlanUnknown),
        }
    }
}

/// A [`Transmit`] that tags what goes out by a VLAN interface.
pub(super) struct Tagging<'a, T: Transmit> {
    tx: &'a mut T,
    vid: &'a [u16],
    scratch: &'a mut [u8],
}

impl<T: Transmit> Transmit for Tagging<'_, T> {
    fn send(&mut self, iface: IfaceId, frame: &[u8]) {
        match self.vid.get(iface as usize) {
            Some(&v) if v != 0 => {
                if let Some(n) = vlan::copy_tagged(frame, self.scratch, v) {
                    self.tx.send(iface, &self.scratch[..n]);
                }
            }
            _ => self.tx.send(iface, frame),
        }
    }
    fn to_host(&mut self, ip_packet: &[u8]) -> bool {
        self.tx.to_host(ip_packet)
    }
    fn to_loop(&mut self, to: usize, iface: IfaceId, frame: &[u8]) -> bool {
        self.tx.to_loop(to, iface, frame)
    }
}

impl Director {
    /// Run `body` with a transmitter that tags frames for VLAN interfaces.
    #[inline(never)]
    pub(super) fn with_tagging<T: Transmit, R>(
        &mut self,
        tx: &mut T,
        body: impl FnOnce(&mut Director, &mut Tagging<'_, T>) -> R,
    ) -> R {
        // Out of self while `body` borrows it whole; put back after.
        let vid = std::mem::take(&mut self.vlans.vid);
        let mut scratch = std::mem::take(&mut self.vlans.scratch);
        let mut t = Tagging { tx, vid: &vid, scratch: &mut scratch };
        let r = body(self, &mut t);
        self.vlans.vid = vid;
        self.vlans.scratch = scratch;
        r
    }

    /// [`Director::process_counted`]'s work when some interface is a VLAN:
    /// the frame arrived on `port`; `buf` holds `*len` bytes of it and ends
    /// holding the frame to send (its tag on), `*len` bytes long. Cold: out
    /// of the untagged path's way (its layout and costs stay as they were).
    #[cold]
    #[inline(never)]
    pub(super) fn process_vlan(
        &mut self,
        now_ms: u64,
        port: IfaceId,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let tag = vlan::vid(buf.get(..*len).unwrap_or_default());
        let ingress = match self.vlans.logical(port, tag) {
            Ok(i) => i,
            Err(r) => return Verdict::Drop(r),
        };
        let start = match tag {
            None => 0,
            Some(_) => match vlan::pop(buf, *len) {
                Some(s) => s,
                None => return Verdict::Drop(Reason::TruncatedEthernet),
            },
        };
        let mut f = Frame::new(&mut buf[start..], *len - start, ingress);
        let v = self.with_tagging(tx, |d, t| d.process_frame(now_ms, &mut f, t));
        let n = f.len;
        self.tag_out(v, buf, start, n, len)
    }

    /// The verdict on the `n`-byte untagged frame at `start` in `buf`: a
    /// forwarded one made the frame to send at the buffer's start, tagged
    /// for its interface, `*len` bytes long.
    fn tag_out(&self, v: Verdict, buf: &mut [u8], start: usize, n: usize, len: &mut usize) -> Verdict {
        let Verdict::Forward(out) = v else {
            *len = start + n;
            return v;
        };
        match self.retag(buf, start, n, self.vlans.vid_of(out)) {
            Some(l) => {
                *len = l;
                v
            }
            None => Verdict::Drop(Reason::TooBig),
        }
    }

    /// A frame built untagged at the start of `buf` (the host stack's,
    /// local_node.rs) tagged when `v` forwards it by a VLAN interface.
    #[inline]
    pub(super) fn tag_forwarded(&self, v: Verdict, buf: &mut [u8], len: &mut usize) -> Verdict {
        if !self.vlans.any {
            return v;
        }
        self.tag_out(v, buf, 0, *len, len)
    }

    /// The `n`-byte untagged frame at `start` in `buf` made the frame to
    /// send at the buffer's start, tagged `vid` (0: untagged); its length.
    fn retag(&self, buf: &mut [u8], start: usize, n: usize, vid: u16) -> Option<usize> {
        match (start, vid) {
            (0, 0) => Some(n),
            (0, v) => vlan::push(buf, n, v),
            (s, 0) => {
                buf.copy_within(s..s + n, 0);
                Some(n)
            }
            // Popped and pushed again: only the MACs move back over the old tag.
            (_, v) => vlan::push_popped(buf, n, v),
        }
    }
}
