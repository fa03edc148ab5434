//! The byte layout of IPVS's sync messages (net/netfilter/ipvs/ip_vs_sync.c)
//! and the connection flag values they carry (include/uapi/linux/ip_vs.h).
//! Every multi-byte field is big-endian except version 0's sequence options,
//! which the kernel copies in the sender's host order.

/// `struct ip_vs_sync_mesg` (version 1): reserved=0, syncid, size (be16),
/// nr_conns, version, spare (u16, 0).
pub const V1_HEADER_LEN: usize = 8;
/// Where the fields of the version 1 header sit. Version 0 has its syncid
/// and size at the same offsets, which is how a receiver checks both before
/// it knows the version.
pub mod v1_field {
    /// 0 in version 1; version 0 has its entry count here.
    pub const RESERVED: usize = 0;
    pub const SYNCID: usize = 1;
    /// be16, the whole message's length.
    pub const SIZE: usize = 2;
    pub const NR_CONNS: usize = 4;
    pub const VERSION: usize = 5;
    /// be16, 0.
    pub const SPARE: usize = 6;
}
/// `struct ip_vs_sync_mesg_v0`: nr_conns, syncid, size (be16).
pub const V0_HEADER_LEN: usize = 4;
pub const SYNC_PROTO_VER: u8 = 1;

/// `struct ip_vs_sync_v4`; the IPv6 twin has three 16-byte addresses.
pub const V4_ENTRY_LEN: usize = 36;
pub const V6_ENTRY_LEN: usize = 72;
/// `struct ip_vs_sync_conn_v0`.
pub const V0_ENTRY_LEN: usize = 24;
/// `struct ip_vs_sync_conn_options`: two `struct ip_vs_seq` of three u32.
pub const SEQ_OPTIONS_LEN: usize = 24;

/// Bit 0 of an entry's type: IPv6 addresses.
pub const STYPE_F_INET6: u8 = 1;
/// ver_size: version in the top 4 bits, entry size (options included,
/// padding excluded) in the low 12.
pub const SVER_SHIFT: u16 = 12;
pub const SVER_MASK: u16 = 0x0fff;

pub const OPT_SEQ_DATA: u8 = 1;
pub const OPT_PE_DATA: u8 = 2;
pub const OPT_PE_NAME: u8 = 3;
/// Set in an option's type: receivers that do not know it skip the option
/// and keep the entry. Without it an unknown option makes the kernel drop
/// the whole entry (and only it: "Unknown mandatory param").
pub const OPT_F_PARAM: u8 = 1 << 6;
/// rvs's FULLNAT local address and port: 4-byte address, 2-byte port.
/// Deliberately mandatory (OPT_F_PARAM clear): a kernel backup has no
/// FULLNAT, and installing the entry as the NAT connection its method bits
/// say would send the real server's replies nowhere, so it must skip it.
pub const OPT_RVS_FULLNAT: u8 = 0x30;
pub const FULLNAT_OPTION_LEN: usize = 6;

/// IP_VS_PENAME_MAXLEN; data is bounded by its one-byte length (255).
pub const PE_NAME_MAXLEN: usize = 16;

pub const CONN_F_FWD_MASK: u32 = 0x0007;
pub const CONN_F_MASQ: u32 = 0x0000;
pub const CONN_F_LOCALNODE: u32 = 0x0001;
pub const CONN_F_TUNNEL: u32 = 0x0002;
pub const CONN_F_DROUTE: u32 = 0x0003;
pub const CONN_F_BYPASS: u32 = 0x0004;
pub const CONN_F_HASHED: u32 = 0x0040;
/// Replies do not pass the director (set by IPVS for DR and TUN).
pub const CONN_F_NOOUTPUT: u32 = 0x0080;
/// Counted in InActConn rather than ActiveConn.
pub const CONN_F_INACTIVE: u32 = 0x0100;
pub const CONN_F_OUT_SEQ: u32 = 0x0200;
pub const CONN_F_IN_SEQ: u32 = 0x0400;
pub const CONN_F_SEQ_MASK: u32 = 0x0600;
pub const CONN_F_NO_CPORT: u32 = 0x0800;
pub const CONN_F_TEMPLATE: u32 = 0x1000;

/// IP_VS_TCP_S_LAST: TCP's state numbers run 0..11 (NONE, ESTABLISHED,
/// SYN_SENT, SYN_RECV, FIN_WAIT, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK,
/// LISTEN, SYNACK); UDP has one state, IP_VS_UDP_S_NORMAL = 0.
pub const TCP_STATES: u16 = 11;
pub const UDP_STATES: u16 = 1;
