//! Ethernet II frames (802.1Q tags: wire/vlan.rs; the pipeline takes them off first).

pub const HEADER_LEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

pub type Mac = [u8; 6];
pub const BROADCAST: Mac = [0xff; 6];

/// Where each field sits in the header.
pub mod field {
    use core::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// The IEEE group bit: multicast and broadcast destinations have it set.
    pub const GROUP_BIT_OCTET: usize = 0;
}

pub struct Frame<T>(T);

impl<T: AsRef<[u8]>> Frame<T> {
    pub fn new_checked(buf: T) -> Option<Self> {
        (buf.as_ref().len() >= HEADER_LEN).then_some(Frame(buf))
    }
    #[inline]
    pub fn dst(&self) -> Mac {
        self.0.as_ref()[field::DESTINATION].try_into().unwrap_or([0; 6])
    }
    #[inline]
    pub fn src(&self) -> Mac {
        self.0.as_ref()[field::SOURCE].try_into().unwrap_or([0; 6])
    }
    #[inline]
    pub fn ethertype(&self) -> u16 {
        let b = &self.0.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }
    /// A multicast (or broadcast) destination: the group bit of its first octet.
    #[inline]
    pub fn dst_is_group(&self) -> bool {
        self.0.as_ref()[field::GROUP_BIT_OCTET] & 1 == 1
    }
    pub fn payload(&self) -> &[u8] {
        &self.0.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst(&mut self, mac: &Mac) {
        self.0.as_mut()[field::DESTINATION].copy_from_slice(mac);
    }
    pub fn set_src(&mut self, mac: &Mac) {
        self.0.as_mut()[field::SOURCE].copy_from_slice(mac);
    }
    pub fn set_ethertype(&mut self, t: u16) {
        self.0.as_mut()[field::ETHERTYPE].copy_from_slice(&t.to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.0.as_mut()[HEADER_LEN..]
    }
}

/// Write the MAC header in place.
#[inline]
pub fn write_header(buf: &mut [u8], dst: &Mac, src: &Mac, ethertype: u16) {
    buf[field::DESTINATION].copy_from_slice(dst);
    buf[field::SOURCE].copy_from_slice(src);
    buf[field::ETHERTYPE].copy_from_slice(&ethertype.to_be_bytes());
}

pub fn fmt_mac(m: &Mac) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut out = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captured::{ARP_REQUEST, MAC_A, MAC_B, TCP_SYN};

    #[test]
    fn parses_captured_frames() {
        let arp = Frame::new_checked(&ARP_REQUEST[..]).expect("42 bytes");
        assert_eq!((arp.dst(), arp.src(), arp.ethertype()), (BROADCAST, MAC_A, ETHERTYPE_ARP));
        assert!(arp.dst_is_group());
        assert_eq!(arp.payload().len(), 28);
        let syn = Frame::new_checked(&TCP_SYN[..]).expect("74 bytes");
        assert_eq!((syn.dst(), syn.src(), syn.ethertype()), (MAC_B, MAC_A, ETHERTYPE_IPV4));
        assert!(!syn.dst_is_group());
        assert_eq!(syn.payload()[0], 0x45, "the IPv4 header follows");
    }

    #[test]
    fn setters_write_the_captured_layout() {
        // The reply's header, written over a copy of the request: the bytes the peer sent.
        let mut f = TCP_SYN;
        let mut e = Frame::new_checked(&mut f[..]).expect("74 bytes");
        e.set_dst(&MAC_A);
        e.set_src(&MAC_B);
        e.set_ethertype(ETHERTYPE_ARP);
        assert_eq!(&f[..14], &[2, 0, 0, 0, 0x0a, 1, 2, 0, 0, 0, 0x0b, 2, 0x08, 0x06]);
        let mut g = [0u8; 14];
        write_header(&mut g, &BROADCAST, &MAC_A, ETHERTYPE_ARP);
        assert_eq!(g, ARP_REQUEST[..14]);
        let mut h = TCP_SYN;
        Frame::new_checked(&mut h[..]).expect("74 bytes").payload_mut()[0] = 0x46;
        assert_eq!(h[HEADER_LEN], 0x46);
    }

    #[test]
    fn refuses_short_frames() {
        assert!(Frame::new_checked(&ARP_REQUEST[..13]).is_none());
        assert!(Frame::new_checked(&[][..]).is_none());
        let bare = Frame::new_checked(&ARP_REQUEST[..14]).expect("a bare header is a frame");
        assert!(bare.payload().is_empty());
    }

    #[test]
    fn macs_format_and_parse() {
        assert_eq!(fmt_mac(&MAC_B), "02:00:00:00:0b:02");
        assert_eq!(parse_mac(" 02:00:00:00:0B:02 "), Some(MAC_B));
        assert_eq!(parse_mac("02:00:00:00:0b"), None);
        assert_eq!(parse_mac("02:00:00:00:0b:02:03"), None);
        assert_eq!(parse_mac("02:00:00:00:0b:zz"), None);
    }
}
