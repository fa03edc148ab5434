//! What operators ask for: virtual services, real servers, timeouts, firewall-mark rules and
//! sync daemons, as ipvsadm's options and the kernel's `ip_vs_service_user` / `ip_vs_dest_user`
//! (include/uapi/linux/ip_vs.h) describe them. The control plane validates and applies them.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What IPVS prints as its version in every listing header.
pub const IPVS_VERSION: &str = "1.2.1";
/// The connection hash size IPVS reports (`size=4096`): kept for literal output.
pub const IPVS_CONN_TAB_SIZE: u32 = 4096;
/// `-p` without a value: 6*60 in ipvsadm.c (its man page says 300; the code wins).
pub const DEFAULT_PERSISTENCE_TIMEOUT: u32 = 360;
/// ipvsadm's MAX_TIMEOUT (31 days).
pub const MAX_TIMEOUT: u32 = 86400 * 31;
pub const DEFAULT_SCHEDULER: &str = "wlc";
/// `-a` without `-w`.
pub const DEFAULT_WEIGHT: u32 = 1;
/// `-a` without `-g`, `-m` or `-i`: ipvsadm's "direct routing as default forwarding method".
pub const DEFAULT_FWD_METHOD: FwdMethod = FwdMethod::Route;

/// A virtual service is either protocol+address+port or a firewall mark. The kernel keys a
/// fwmark service by (af, mark) (ip_vs_svc_fwm_find), so mark 1 of IPv4 and mark 1 of IPv6
/// (`-f 1 -6`) are two services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum ServiceKey {
    /// (protocol, VIP, port); port 0 means "all ports" (persistent only).
    Addr { proto: u8, addr: IpAddr, port: u16 },
    /// An IPv4 fwmark service (`-f MARK`).
    Fwmark(u32),
    /// An IPv6 fwmark service (`-f MARK -6`).
    Fwmark6(u32),
}

impl ServiceKey {
    /// The service's address family is IPv6 (AF_INET6 in the kernel's svc->af).
    pub fn is_ipv6(&self) -> bool {
        match self {
            ServiceKey::Addr { addr, .. } => addr.is_ipv6(),
            ServiceKey::Fwmark(_) => false,
            ServiceKey::Fwmark6(_) => true,
        }
    }

    /// The firewall mark of a fwmark service, of either family.
    pub fn fwmark(&self) -> Option<u32> {
        match self {
            ServiceKey::Fwmark(m) | ServiceKey::Fwmark6(m) => Some(*m),
            ServiceKey::Addr { .. } => None,
        }
    }
}

/// The persistence granularity a service of this family has without `-M`: /32 for IPv4
/// (ipvsadm's 0xffffffff), /128 for IPv6 (parse_service sets netmask = 128).
pub fn full_netmask(ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::from(u128::MAX))
    } else {
        IpAddr::V4(Ipv4Addr::BROADCAST)
    }
}

/// An IPv6 persistence netmask from ipvsadm's `-M PLEN` (1..=128): the kernel keeps the
/// prefix length, rvs the mask it stands for, so that both families mask the same way.
pub fn netmask6(prefix: u8) -> IpAddr {
    let bits = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix.min(128))) };
    IpAddr::V6(Ipv6Addr::from(bits))
}

/// The prefix length of an IPv6 netmask (its leading ones), as `-L` prints it (`mask 64`).
pub fn netmask6_prefix(mask: Ipv6Addr) -> u32 {
    u128::from(mask).leading_ones()
}

/// Forwarding method of a real server, as ipvsadm names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FwdMethod {
    /// `-m`, "Masq"
    Masq,
    /// `-g`, "Route" (ipvsadm's default)
    Route,
    /// `-i`, "Tunnel"
    Tunnel,
    /// FULLNAT: SNAT to a director local address; "FullNat"
    FullNat,
}

impl FwdMethod {
    /// Name in `-L` listings.
    pub fn list_name(self) -> &'static str {
        match self {
            FwdMethod::Masq => "Masq",
            FwdMethod::Route => "Route",
            FwdMethod::Tunnel => "Tunnel",
            FwdMethod::FullNat => "FullNat",
        }
    }
    /// Switch in `-S` output.
    pub fn switch(self) -> &'static str {
        match self {
            FwdMethod::Masq => "-m",
            FwdMethod::Route => "-g",
            FwdMethod::Tunnel => "-i",
            FwdMethod::FullNat => "--fullnat",
        }
    }
}

/// Everything `-A`/`-E` can set on a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub key: ServiceKey,
    pub scheduler: String,
    /// Persistence timeout in seconds when persistent (`-p`).
    pub persistent: Option<u32>,
    /// Persistence granularity (`-M`): 255.255.255.255 by default; for an IPv6 service the
    /// mask of its prefix length ([`netmask6`]), all ones (/128) by default.
    pub netmask: IpAddr,
    /// `-b` scheduler flags, e.g. "sh-fallback,sh-port".
    pub sched_flags: Vec<String>,
    /// `-o`, one-packet scheduling (UDP only).
    pub ops: bool,
    /// FULLNAT local addresses (DPVS's `--add-laddr`): sources the real
    /// servers see. Empty: the director's address facing the real server.
    #[serde(default)]
    pub laddrs: Vec<IpAddr>,
}

/// Everything `-a`/`-e` can set on a real server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestSpec {
    /// Of the service's family, or (TUN only, as the kernel allows) of the other one.
    pub addr: IpAddr,
    pub port: u16,
    pub fwd: FwdMethod,
    pub weight: u32,
    /// `-x`, 0 = no limit.
    pub u_threshold: u32,
    /// `-y`
    pub l_threshold: u32,
    /// `--tun-type`, `--tun-port`, `--tun-*csum`: how a `-i` server's packets are
    /// encapsulated (the kernel keeps them whatever the method; only TUN uses them).
    #[serde(default)]
    pub tun: TunSpec,
}

/// A tunnel's encapsulation (Linux 5.2+: `IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TunType {
    /// IPIP (protocol 4): ipvsadm's default.
    #[default]
    Ipip,
    /// Generic UDP Encapsulation (draft-ietf-intarea-gue) to `TunSpec::port`.
    Gue,
    /// GRE (RFC 2784), protocol 0x0800.
    Gre,
}

impl TunType {
    /// ipvsadm's tunnames[].
    pub fn name(self) -> &'static str {
        match self {
            TunType::Ipip => "ipip",
            TunType::Gue => "gue",
            TunType::Gre => "gre",
        }
    }

    pub fn from_name(name: &str) -> Option<TunType> {
        [TunType::Ipip, TunType::Gue, TunType::Gre].into_iter().find(|t| t.name() == name)
    }
}

/// The kernel's tun_flags: IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM is 0.
pub const TUN_FLAG_CSUM: u16 = 1 << 0;
/// IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM.
pub const TUN_FLAG_REMCSUM: u16 = 1 << 1;

/// A real server's tunnel settings, as the kernel's dest keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TunSpec {
    pub kind: TunType,
    /// GUE's UDP destination port (0: none; GUE requires one).
    pub port: u16,
    /// [`TUN_FLAG_CSUM`], [`TUN_FLAG_REMCSUM`] (0: no checksum).
    pub flags: u16,
}

impl TunSpec {
    /// The kernel's checks at ip_vs_add_dest/ip_vs_edit_dest (GUE without a port is
    /// EINVAL), and what ipvsadm's tunnel_types_v_options allows, for the paths that do
    /// not go through ipvsadm's parser (the config file, the API).
    pub fn check(&self) -> Result<(), String> {
        let csum = self.flags & TUN_FLAG_CSUM != 0;
        let remcsum = self.flags & TUN_FLAG_REMCSUM != 0;
        if self.flags & !(TUN_FLAG_CSUM | TUN_FLAG_REMCSUM) != 0 || (csum && remcsum) {
            return Err(format!("tunnel flags {:#x}: one of nocsum, csum, remcsum", self.flags));
        }
        match self.kind {
            TunType::Gue if self.port == 0 => Err("a gue tunnel needs a tunnel port (1-65535)".into()),
            TunType::Ipip | TunType::Gre if self.port != 0 => {
                Err(format!("a tunnel port is only for gue, not {}", self.kind.name()))
            }
            TunType::Ipip if self.flags != 0 => Err("ipip tunnels take no checksum option".into()),
            TunType::Gre if remcsum => Err("remote checksum offload (remcsum) is only for gue".into()),
            _ => Ok(()),
        }
    }

    /// ipvsadm's tunflags[] and tun_flags_opts[] entries for these flags.
    fn flag_names(&self) -> (&'static str, &'static str) {
        match self.flags {
            0 => ("-c", "--tun-nocsum"),
            TUN_FLAG_CSUM => ("+c", "--tun-csum"),
            _ => ("r+c", "--tun-remcsum"),
        }
    }

    /// ipvsadm's `--tun-info` column (fwd_tun_info: "ipip", "gue:PORT:-c", "gre:+c").
    pub fn info(&self) -> String {
        let flags = self.flag_names().0;
        match self.kind {
            TunType::Ipip => "ipip".to_string(),
            TunType::Gue => format!("gue:{}:{flags}", self.port),
            TunType::Gre => format!("gre:{flags}"),
        }
    }

    /// ipvsadm -S's tunnel options (print_tunnel_rule).
    pub fn rule_options(&self) -> String {
        let flags = self.flag_names().1;
        match self.kind {
            TunType::Ipip => " --tun-type ipip".to_string(),
            TunType::Gue => format!(" --tun-type gue --tun-port {} {flags}", self.port),
            TunType::Gre => format!(" --tun-type gre {flags}"),
        }
    }
}

/// `--set tcp tcpfin udp` (seconds); 0 in a `--set` means "leave unchanged".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { tcp: 900, tcp_fin: 120, udp: 300 }
    }
}

/// A packet classification rule: what iptables' `-t mangle ... -j MARK
/// --set-mark N` does for kernel IPVS, which AF_XDP frames never see, so rvs
/// classifies itself. A packet matches when its destination is in
/// `addr/prefix`, its protocol is `proto` (0 = TCP or UDP) and its
/// destination port is in one of `ports` (empty = any port). When several
/// rules match, the last one wins, as with consecutive MARK targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkRule {
    pub mark: u32,
    pub proto: u8,
    /// An IPv6 rule (prefix up to 128) classifies only IPv6 packets.
    pub addr: IpAddr,
    pub prefix: u8,
    /// Inclusive ranges.
    pub ports: Vec<(u16, u16)>,
}

impl MarkRule {
    /// Does an IPv4 packet match? An IPv6 rule never does.
    #[inline]
    pub fn matches(&self, proto: u8, daddr: u32, dport: u16) -> bool {
        let IpAddr::V4(addr) = self.addr else { return false };
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix.min(32) as u32) };
        (self.proto == 0 || self.proto == proto)
            && daddr & mask == u32::from(addr) & mask
            && (self.ports.is_empty() || self.ports.iter().any(|&(lo, hi)| dport >= lo && dport <= hi))
    }

    /// Does an IPv6 packet match? An IPv4 rule never does.
    pub fn matches6(&self, proto: u8, daddr: u128, dport: u16) -> bool {
        let IpAddr::V6(addr) = self.addr else { return false };
        let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix.min(128) as u32) };
        (self.proto == 0 || self.proto == proto)
            && daddr & mask == u128::from(addr) & mask
            && (self.ports.is_empty() || self.ports.iter().any(|&(lo, hi)| dport >= lo && dport <= hi))
    }
}

/// What `--start-daemon` asks for; `None` (or 0) means the kernel's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonRequest {
    pub role: String,
    pub mcast_ifn: String,
    pub syncid: u8,
    pub sync_maxlen: Option<u32>,
    pub group: Option<IpAddr>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
}

impl DaemonRequest {
    /// `--start-daemon ROLE --mcast-interface IFN --syncid N`, every other
    /// option left to its default.
    pub fn new(role: &str, mcast_ifn: &str, syncid: u8) -> DaemonRequest {
        DaemonRequest {
            role: role.into(),
            mcast_ifn: mcast_ifn.into(),
            syncid,
            sync_maxlen: None,
            group: None,
            port: None,
            ttl: None,
        }
    }
}
