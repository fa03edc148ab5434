//! TUN with `--tun-type gre` (ipvs_gre_encap): after the outer IPv4 header
//! (protocol 47) a GRE header of protocol type 0x0800, with its checksum when
//! the server has `--tun-csum`, then the client's packet untouched.

use crate::api::{TunSpec, TUN_FLAG_CSUM};
use crate::wire::gre;

/// The GRE header for `tun` (gre_calc_hlen: 4, or 8 with the checksum).
pub fn shim_len(tun: &TunSpec) -> usize {
    gre::header_len(tun.flags & TUN_FLAG_CSUM != 0)
}

/// Write the GRE header at the start of `seg` (the outer packet's payload:
/// the header's room, then the inner packet already in place).
pub fn fill(seg: &mut [u8], tun: &TunSpec) {
    gre::write_header(seg, gre::PROTO_IPV4, tun.flags & TUN_FLAG_CSUM != 0);
}
