//! Ethernet II frames (no VLAN: tagged frames are counted and dropped upstream).

pub const HEADER_LEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

pub type Mac = [u8; 6];
pub const BROADCAST: Mac = [0xff; 6];

pub struct Frame<T>(T);

impl<T: AsRef<[u8]>> Frame<T> {
    pub fn new_checked(buf: T) -> Option<Self> {
        (buf.as_ref().len() >= HEADER_LEN).then_some(Frame(buf))
    }
    pub fn dst(&self) -> Mac {
        self.0.as_ref()[0..6].try_into().unwrap_or([0; 6])
    }
    pub fn src(&self) -> Mac {
        self.0.as_ref()[6..12].try_into().unwrap_or([0; 6])
    }
    pub fn ethertype(&self) -> u16 {
        let b = self.0.as_ref();
        u16::from_be_bytes([b[12], b[13]])
    }
    pub fn payload(&self) -> &[u8] {
        &self.0.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst(&mut self, mac: &Mac) {
        self.0.as_mut()[0..6].copy_from_slice(mac);
    }
    pub fn set_src(&mut self, mac: &Mac) {
        self.0.as_mut()[6..12].copy_from_slice(mac);
    }
    pub fn set_ethertype(&mut self, t: u16) {
        self.0.as_mut()[12..14].copy_from_slice(&t.to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.0.as_mut()[HEADER_LEN..]
    }
}

/// Write the MAC header in place.
#[inline]
pub fn write_header(buf: &mut [u8], dst: &Mac, src: &Mac, ethertype: u16) {
    buf[0..6].copy_from_slice(dst);
    buf[6..12].copy_from_slice(src);
    buf[12..14].copy_from_slice(&ethertype.to_be_bytes());
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
