//! The commands an ipvsadm command line (or a line of a save file) stands for.

use crate::api::{DestSpec, ServiceKey, ServiceSpec, Timeouts};
use serde::{Deserialize, Serialize};

/// Listing format flags (ipvsadm's FMT_*).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFormat {
    pub numeric: bool,
    pub stats: bool,
    pub rate: bool,
    pub thresholds: bool,
    pub persistent_conn: bool,
    pub nosort: bool,
    pub exact: bool,
    /// `--tun-info`: the TunnelInfo column.
    #[serde(default)]
    pub tun_info: bool,
}

/// What `-L` was asked to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListWhat {
    /// All services (optionally one, with `-t/-u/-f`).
    Services(Option<ServiceKey>),
    /// `-c`: connection entries.
    Connections,
    /// `--timeout`
    Timeout,
    /// `--daemon`
    Daemon,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// `-A`
    AddService(ServiceSpec),
    /// `-E`
    EditService(ServiceSpec),
    /// `-D`
    DeleteService(ServiceKey),
    /// `-C`
    Clear,
    /// `-a`
    AddDest(ServiceKey, DestSpec),
    /// `-e`
    EditDest(ServiceKey, DestSpec),
    /// `-d` (only address and port of the DestSpec matter)
    DeleteDest(ServiceKey, std::net::IpAddr, u16),
    /// `-L`/`-l`
    List(ListWhat, ListFormat),
    /// `-Z [service]`
    Zero(Option<ServiceKey>),
    /// `--set tcp tcpfin udp`
    SetTimeout(Timeouts),
    /// `-S [-n]`
    Save { numeric: bool },
    /// `-R`: the lines of standard input are commands.
    Restore,
    /// DPVS extension `-P|--add-laddr -t|-u VIP:PORT -z LIP`: add a FULLNAT
    /// local address to a service.
    AddLaddr(ServiceKey, std::net::IpAddr),
    /// `-Q|--del-laddr -t|-u VIP:PORT -z LIP`
    DelLaddr(ServiceKey, std::net::IpAddr),
    /// `-G|--get-laddr [-t|-u VIP:PORT]`
    ListLaddr(Option<ServiceKey>),
    /// rvs extension `--add-mark MARK -t|-u|--any-proto ADDR[/PREFIX][:PORTS]`:
    /// classify packets into firewall mark MARK (iptables' MARK target).
    AddMark(crate::api::MarkRule),
    /// `--del-mark MARK -t|-u|--any-proto ADDR[/PREFIX][:PORTS]`
    DelMark(crate::api::MarkRule),
    /// `--list-marks`
    ListMarks,
    /// `--start-daemon master|backup [daemon options]`
    StartDaemon(crate::api::DaemonRequest),
    /// `--stop-daemon master|backup`
    StopDaemon(String),
    /// `-h`
    Help,
    /// `-v`
    Version,
    /// rvs extension `--counters`: the data plane's counters.
    Counters,
    /// rvs extension `--checks`: the health checks' states.
    Checks,
    /// rvs extension `--neighbours`: the poll loops' ARP entries.
    Neighbours,
    /// rvs extension `--announced`: the VIP announcements and why.
    Announced,
    /// rvs extension `--reload`: re-read the configuration file.
    Reload,
    /// rvs extension `--role [master|backup]`: print or set the HA role.
    Role(Option<String>),
    /// rvs extension `--sysctl [NAME[=VALUE]]`: print or set IPVS's sysctls.
    Sysctl(Option<String>),
    /// rvs extension `--proc NAME`: the text the kernel shows in /proc/net/NAME (ip_vs,
    /// ip_vs_conn, ip_vs_stats, ip_vs_stats_percpu).
    Proc(Option<String>),
    /// rvs extension `--capture IFACE -w FILE [--count N] [--filter EXPR]`.
    Capture(CaptureSpec),
}

/// What `--capture` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureSpec {
    /// The device (an `[[interface]]` name) whose frames, in and out, are captured; `any`:
    /// every device.
    pub iface: String,
    /// Where rvsadm writes the pcap file; `-`: standard output. rvs itself never opens it.
    pub file: String,
    /// Stop after this many frames; None: when rvsadm is stopped (Ctrl-C).
    pub count: Option<u64>,
    /// tcpdump's filter expression; None: every frame.
    pub filter: Option<String>,
}

impl Command {
    /// Whether the command changes the rules (`Rules::apply` acts on it); the others list,
    /// zero, restore, run the sync daemons or are rvs's status and HA commands, which the
    /// admin server answers. Every variant is named, so a new one must say which it is.
    pub fn changes_rules(&self) -> bool {
        match self {
            Command::AddService(_)
            | Command::EditService(_)
            | Command::DeleteService(_)
            | Command::Clear
            | Command::AddDest(..)
            | Command::EditDest(..)
            | Command::DeleteDest(..)
            | Command::SetTimeout(_)
            | Command::AddLaddr(..)
            | Command::DelLaddr(..)
            | Command::AddMark(_)
            | Command::DelMark(_) => true,
            Command::List(..)
            | Command::Zero(_)
            | Command::Save { .. }
            | Command::Restore
            | Command::ListLaddr(_)
            | Command::ListMarks
            | Command::StartDaemon(_)
            | Command::StopDaemon(_)
            | Command::Help
            | Command::Version
            | Command::Counters
            | Command::Checks
            | Command::Neighbours
            | Command::Announced
            | Command::Reload
            | Command::Role(_)
            | Command::Sysctl(_)
            | Command::Proc(_)
            | Command::Capture(_) => false,
        }
    }
}
