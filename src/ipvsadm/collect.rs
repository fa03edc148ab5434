//! Option collection, ipvsadm's parse_options(): the first option names the command, every
//! later one is read into the command entry (each value checked as ipvsadm checks it, the
//! first bad one refused), then the leftover words (`--set`'s three timeouts). What can only be
//! judged from the whole line is left to [`super::check`].

use super::error::{fail, popt_error, tryhelp, UsageError};
use super::legality::*;
use super::mark_rule::{parse_mark, parse_mark_rule};
use super::names::NameDb;
use super::options::Tag;
use super::popt::Popt;
use super::values::{
    host_or_addr, parse_fwmark, parse_service, parse_timeout, string_to_number, truncate, usable_laddr,
};
use crate::api::command::{Command, ListFormat};
use crate::api::{
    full_netmask, netmask6, DaemonRequest, FwdMethod, MarkRule, ServiceKey, Timeouts, DEFAULT_FWD_METHOD,
    DEFAULT_WEIGHT, MAX_TIMEOUT,
};
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP_VS_SCHEDNAME_MAXLEN - 1: ipvsadm `strncpy`s the scheduler name.
const SCHED_NAME_MAX: usize = 15;
/// IP_VS_PENAME_MAXLEN
const PE_NAME_MAX: usize = 16;
/// IP_VS_IFNAME_MAXLEN - 1, as ipvsadm's strncpy.
const IFNAME_MAX: usize = 15;
/// The size of ipvsadm's sched_flags_arg buffer, less its NUL.
const SCHED_FLAGS_ARG_MAX: usize = 127;

/// The command entry ipvsadm fills in while it reads the options.
pub(super) struct Entry {
    pub proto: u8,
    pub addr: IpAddr,
    pub port: u16,
    pub fwmark: u32,
    /// The service is IPv6 (ipvsadm's svc.af == AF_INET6): set by an IPv6 `-t`/`-u` address
    /// or by `-6` after `-f`, and read by `-M` when it comes.
    pub ipv6: bool,
    pub sched: String,
    pub persistent: Option<u32>,
    pub netmask: IpAddr,
    pub ops: bool,
    pub pe: Option<String>,
    /// `-b` as given; read against the scheduler once the whole line is known.
    pub sched_flags_arg: String,
    pub dest_addr: IpAddr,
    pub dest_port: u16,
    pub fwd: FwdMethod,
    pub weight: u32,
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub timeouts: Timeouts,
    pub tun_type: usize,
    /// `--tun-port`, `--tun-csum`/`--tun-remcsum` (the kernel's tun_port, tun_flags).
    pub tun_port: u16,
    pub tun_flags: u16,
    pub format: ListFormat,
    /// `-z`: a FULLNAT local address.
    pub laddr: IpAddr,
    /// `--add-mark`/`--del-mark`: the mark, then the rule (`-t|-u|--any-proto`).
    pub mark: u32,
    pub mark_rule: Option<MarkRule>,
    /// `--start-daemon`/`--stop-daemon` and the daemon options.
    pub daemon: DaemonRequest,
    pub mcast_group: Option<IpAddr>,
}

impl Entry {
    fn new() -> Self {
        Entry {
            proto: 0,
            addr: Ipv4Addr::UNSPECIFIED.into(),
            port: 0,
            fwmark: 0,
            ipv6: false,
            sched: String::new(),
            persistent: None,
            // "Set the default persistent granularity to /32 mask"
            netmask: full_netmask(false),
            ops: false,
            pe: None,
            sched_flags_arg: String::new(),
            dest_addr: Ipv4Addr::UNSPECIFIED.into(),
            dest_port: 0,
            // "Set direct routing as default forwarding method"
            fwd: DEFAULT_FWD_METHOD,
            weight: DEFAULT_WEIGHT,
            u_threshold: 0,
            l_threshold: 0,
            timeouts: Timeouts { tcp: 0, tcp_fin: 0, udp: 0 },
            tun_type: 0,
            tun_port: 0,
            tun_flags: 0,
            format: ListFormat::default(),
            laddr: Ipv4Addr::UNSPECIFIED.into(),
            mark: 0,
            mark_rule: None,
            daemon: DaemonRequest::new("", "", 0),
            mcast_group: None,
        }
    }

    pub(super) fn key(&self) -> ServiceKey {
        if self.fwmark != 0 && self.ipv6 {
            ServiceKey::Fwmark6(self.fwmark)
        } else if self.fwmark != 0 {
            ServiceKey::Fwmark(self.fwmark)
        } else {
            ServiceKey::Addr { proto: self.proto, addr: self.addr, port: self.port }
        }
    }
}

/// A command line read to its end: the command, its entry and the options it carried.
pub(super) struct Collected {
    pub cmd: Cmd,
    pub entry: Entry,
    pub options: OptionSet,
}

/// What a command line asks for, as far as reading it tells.
pub(super) enum Reading {
    /// The line read to its end, for the checks.
    Collected(Collected),
    /// `-h` and `-v`: ipvsadm answers at once, ignoring the rest of the line.
    Answer(Command),
}

/// ipvsadm's parse_options() over a non-empty `argv`.
pub(super) fn collect_options(argv: &[String], names: &NameDb) -> Result<Reading, UsageError> {
    let mut popt = Popt::new(argv);
    let mut entry = Entry::new();
    let cmd = match read_command(&mut popt, &mut entry)? {
        Ok(cmd) => cmd,
        Err(answer) => return Ok(Reading::Answer(answer)),
    };
    let mut collector = Collector { cmd, entry, options: OptionSet::default(), names };
    collector.read_options(&mut popt)?;
    collector.read_leftovers(&mut popt)?;
    let Collector { cmd, entry, options, .. } = collector;
    Ok(Reading::Collected(Collected { cmd, entry, options }))
}

/// The first option, which must be the command: Ok(Err(answer)) for `-h`/`-v`.
fn read_command(popt: &mut Popt, entry: &mut Entry) -> Result<Result<Cmd, Command>, UsageError> {
    let (tag, arg) = match popt.next_opt() {
        Ok(Some(x)) => x,
        _ => return Err(tryhelp()),
    };
    Ok(Ok(match tag {
        Tag::Add => Cmd::Add,
        Tag::Edit => Cmd::Edit,
        Tag::Del => Cmd::Del,
        Tag::AddSrv => Cmd::AddDest,
        Tag::EditSrv => Cmd::EditDest,
        Tag::DelSrv => Cmd::DelDest,
        Tag::Clear => Cmd::Flush,
        Tag::List => Cmd::List,
        Tag::Zero => Cmd::Zero,
        Tag::Set => Cmd::Timeout,
        Tag::Restore => Cmd::Restore,
        Tag::Save => Cmd::Save,
        Tag::StartDaemon | Tag::StopDaemon => {
            let role = arg.unwrap_or_default();
            if role != "master" && role != "backup" {
                return Err(fail(if tag == Tag::StartDaemon {
                    "illegal start-daemon parameter specified"
                } else {
                    "illegal start_daemon specified"
                }));
            }
            entry.daemon.role = role;
            if tag == Tag::StartDaemon {
                Cmd::StartDaemon
            } else {
                Cmd::StopDaemon
            }
        }
        Tag::Help => return Ok(Err(Command::Help)),
        Tag::Version => return Ok(Err(Command::Version)),
        Tag::AddLaddr => Cmd::AddLaddr,
        Tag::DelLaddr => Cmd::DelLaddr,
        Tag::GetLaddr => Cmd::GetLaddr,
        Tag::AddMark | Tag::DelMark => {
            entry.mark = parse_mark(arg.as_deref().unwrap_or(""))?;
            if tag == Tag::AddMark {
                Cmd::AddMark
            } else {
                Cmd::DelMark
            }
        }
        Tag::ListMarks => Cmd::ListMarks,
        _ => return Err(tryhelp()),
    }))
}

/// The options after the command, read into the entry.
struct Collector<'a> {
    cmd: Cmd,
    entry: Entry,
    options: OptionSet,
    names: &'a NameDb,
}

impl Collector<'_> {
    /// ipvsadm's `while ((c = poptGetNextOpt(context)) >= 0)` loop. A value ipvsadm refuses
    /// while reading stops the line at once; a popt error is reported after the loop, with
    /// popt's text and ipvsadm's return -1 from main (status 255).
    fn read_options(&mut self, popt: &mut Popt) -> Result<(), UsageError> {
        loop {
            match popt.next_opt() {
                Ok(Some((tag, arg))) => self.option(tag, arg.as_deref().unwrap_or(""), arg.is_some(), popt)?,
                Ok(None) => return Ok(()),
                Err(e) => return Err(popt_error(format!("{}: {}", popt.bad_option(), e.text()))),
            }
        }
    }

    /// One option. `arg` is "" for an option without argument; popt always gives one to an
    /// option declared with one, but for `-p`, whose argument is optional (`has_arg`).
    fn option(&mut self, tag: Tag, arg: &str, has_arg: bool, popt: &Popt) -> Result<(), UsageError> {
        match tag {
            Tag::Tcp | Tag::Udp | Tag::Sctp | Tag::AnyProto => self.service_address(tag, arg),
            Tag::Fwmark => self.fwmark_service(arg),
            Tag::Sched | Tag::Persistent | Tag::Netmask | Tag::Ops | Tag::Pe | Tag::SchedFlags => {
                self.service_option(tag, arg, has_arg)
            }
            Tag::Real => self.real_server(arg),
            Tag::Ipip | Tag::Gate | Tag::Masq | Tag::FullNat => self.forwarding_method(tag),
            Tag::Weight | Tag::UThreshold | Tag::LThreshold => self.server_number(tag, arg),
            Tag::Laddr => self.local_address(arg),
            Tag::Numeric
            | Tag::Connection
            | Tag::Timeout
            | Tag::Daemon
            | Tag::Stats
            | Tag::Rate
            | Tag::Thresholds
            | Tag::PersistentConn
            | Tag::NoSort
            | Tag::Sort
            | Tag::Exact => self.list_option(tag),
            Tag::McastInterface | Tag::SyncId | Tag::McastGroup | Tag::McastPort | Tag::McastTtl | Tag::SyncMaxlen => {
                self.daemon_option(tag, arg)
            }
            Tag::TunInfo | Tag::TunType | Tag::TunPort | Tag::TunNocsum | Tag::TunCsum | Tag::TunRemcsum => {
                self.tunnel_option(tag, arg)
            }
            // `-6` makes the fwmark service IPv6, its netmask /128 (a `-M` before it is lost).
            Tag::Ipv6 => {
                if self.entry.fwmark == 0 {
                    // ipvsadm's message carries its own newline.
                    return Err(fail("-6 used before -f\n"));
                }
                self.entry.ipv6 = true;
                self.entry.netmask = full_netmask(true);
                Ok(())
            }
            // A second command (or -h/-v after the command): ipvsadm's default case names the
            // last word popt read.
            Tag::Add
            | Tag::Edit
            | Tag::Del
            | Tag::Clear
            | Tag::List
            | Tag::Zero
            | Tag::AddSrv
            | Tag::EditSrv
            | Tag::DelSrv
            | Tag::Set
            | Tag::Help
            | Tag::Version
            | Tag::Restore
            | Tag::Save
            | Tag::StartDaemon
            | Tag::StopDaemon
            | Tag::AddLaddr
            | Tag::DelLaddr
            | Tag::GetLaddr
            | Tag::AddMark
            | Tag::DelMark
            | Tag::ListMarks => Err(fail(format!("invalid option `{}'", popt.bad_option()))),
        }
    }

    /// `-t`, `-u`, `--sctp-service`, `--any-proto`: the service address, or with the mark
    /// commands a mark rule's ADDR[/PREFIX][:PORTS] (`--any-proto` always is one).
    fn service_address(&mut self, tag: Tag, arg: &str) -> Result<(), UsageError> {
        self.options.set(OPTC_SERVICE)?;
        self.entry.proto = match tag {
            Tag::Tcp => IPPROTO_TCP,
            Tag::Udp => IPPROTO_UDP,
            Tag::Sctp => IPPROTO_SCTP,
            _ => {
                self.options.set(OPTC_ANYPROTO)?;
                0
            }
        };
        if self.is_mark_command() || tag == Tag::AnyProto {
            self.entry.mark_rule = Some(parse_mark_rule(arg, self.entry.proto, self.entry.mark, self.names)?);
            return Ok(());
        }
        match parse_service(arg, self.entry.proto, self.names)? {
            Some(p) => {
                self.entry.addr = p.addr;
                // parse_service() sets af, and for IPv6 the netmask to 128 (over any `-M`
                // read before it).
                self.entry.ipv6 = p.addr.is_ipv6();
                if p.addr.is_ipv6() {
                    self.entry.netmask = full_netmask(true);
                }
                if let Some(port) = p.port {
                    self.entry.port = port;
                }
                Ok(())
            }
            None => Err(fail("illegal virtual server address[:port] specified")),
        }
    }

    fn is_mark_command(&self) -> bool {
        matches!(self.cmd, Cmd::AddMark | Cmd::DelMark)
    }

    /// `-f`
    fn fwmark_service(&mut self, arg: &str) -> Result<(), UsageError> {
        self.options.set(OPTC_SERVICE)?;
        if self.is_mark_command() {
            // A mark rule sets a mark; it cannot match one.
            return Err(fail(format!(
                "Illegal 'fwmark-service' option with the '{}' command",
                CMDNAMES[self.cmd as usize]
            )));
        }
        // ipvsadm sets TCP "even though it is not used"; it decides which /etc/services
        // column names a fwmark dest's port. And AF_INET, until a `-6`.
        self.entry.proto = IPPROTO_TCP;
        self.entry.ipv6 = false;
        self.entry.fwmark = parse_fwmark(arg)?;
        Ok(())
    }

    /// `-s`, `-p`, `-M`, `-o`, `--pe`, `-b`
    fn service_option(&mut self, tag: Tag, arg: &str, has_arg: bool) -> Result<(), UsageError> {
        let ce = &mut self.entry;
        match tag {
            Tag::Sched => {
                self.options.set(OPTC_SCHEDULER)?;
                ce.sched = truncate(arg, SCHED_NAME_MAX);
            }
            Tag::Persistent => {
                self.options.set(OPTC_PERSISTENT)?;
                ce.persistent = Some(parse_timeout(has_arg.then_some(arg), 1, MAX_TIMEOUT as i64)?);
            }
            Tag::Netmask => {
                self.options.set(OPTC_NETMASK)?;
                // An IPv6 service (as far as the line has told) takes a prefix length, read
                // with atoi(): "64", "64abc"; an IPv4 one a mask (inet_aton, then /etc/hosts).
                ce.netmask = if ce.ipv6 {
                    match atoi(arg) {
                        p @ 1..=128 => netmask6(p as u8),
                        _ => return Err(fail("illegal ipv6 netmask specified")),
                    }
                } else {
                    host_or_addr(arg, self.names)
                        .ok_or_else(|| fail("illegal virtual server persistent mask specified"))?
                        .into()
                };
            }
            Tag::Ops => {
                self.options.set(OPTC_ONEPACKET)?;
                ce.ops = true;
            }
            Tag::Pe => {
                self.options.set(OPTC_PERSISTENCE_ENGINE)?;
                ce.pe = Some(truncate(arg, PE_NAME_MAX));
            }
            _ => {
                self.options.set(OPTC_SCHED_FLAGS)?;
                ce.sched_flags_arg = truncate(arg, SCHED_FLAGS_ARG_MAX);
            }
        }
        Ok(())
    }

    /// `-r`: ipvsadm parses into a copy of the service as it stands now: the protocol names
    /// the port, and a missing port is the service port *known so far* (so `-r` before `-t`
    /// gives port 0, as in ipvsadm).
    fn real_server(&mut self, arg: &str) -> Result<(), UsageError> {
        self.options.set(OPTC_SERVER)?;
        match parse_service(arg, self.entry.proto, self.names)? {
            Some(p) => {
                self.entry.dest_addr = p.addr;
                self.entry.dest_port = p.port.unwrap_or(self.entry.port);
                Ok(())
            }
            None => Err(fail("illegal real server address[:port] specified")),
        }
    }

    /// `-i`, `-g`, `-m`, `--fullnat`
    fn forwarding_method(&mut self, tag: Tag) -> Result<(), UsageError> {
        self.options.set(OPTC_FORWARD)?;
        self.entry.fwd = match tag {
            Tag::Ipip => FwdMethod::Tunnel,
            Tag::Gate => FwdMethod::Route,
            Tag::Masq => FwdMethod::Masq,
            _ => FwdMethod::FullNat,
        };
        Ok(())
    }

    /// `-w`, `-x`, `-y`
    fn server_number(&mut self, tag: Tag, arg: &str) -> Result<(), UsageError> {
        let (optc, max, what, field) = match tag {
            Tag::Weight => (OPTC_WEIGHT, 65535, "weight", &mut self.entry.weight),
            Tag::UThreshold => (OPTC_UTHRESHOLD, i32::MAX as i64, "u_threshold", &mut self.entry.u_threshold),
            _ => (OPTC_LTHRESHOLD, i32::MAX as i64, "l_threshold", &mut self.entry.l_threshold),
        };
        self.options.set(optc)?;
        *field = string_to_number(arg, 0, max).ok_or_else(|| fail(format!("illegal {what} specified")))? as u32;
        Ok(())
    }

    /// `-z`: DPVS runs the argument through parse_service() and only wants the address (a
    /// `:port` is accepted and ignored). An address that cannot be a packet's source is
    /// refused too: it could never be used for SNAT.
    fn local_address(&mut self, arg: &str) -> Result<(), UsageError> {
        self.options.set(OPTC_LADDR)?;
        self.entry.laddr = match parse_service(arg, self.entry.proto, self.names)? {
            Some(p) if usable_laddr(p.addr) => p.addr,
            _ => return Err(fail("illegal local address specified")),
        };
        Ok(())
    }

    /// `-n`, `-c`, `--timeout`, `--daemon` and the listing format flags.
    fn list_option(&mut self, tag: Tag) -> Result<(), UsageError> {
        let f = &mut self.entry.format;
        let (optc, flag) = match tag {
            Tag::Numeric => (OPTC_NUMERIC, Some(&mut f.numeric)),
            Tag::Connection => (OPTC_CONNECTION, None),
            Tag::Timeout => (OPTC_TIMEOUT, None),
            Tag::Daemon => (OPTC_DAEMON, None),
            Tag::Stats => (OPTC_STATS, Some(&mut f.stats)),
            Tag::Rate => (OPTC_RATE, Some(&mut f.rate)),
            Tag::Thresholds => (OPTC_THRESHOLDS, Some(&mut f.thresholds)),
            Tag::PersistentConn => (OPTC_PERSISTENTCONN, Some(&mut f.persistent_conn)),
            Tag::NoSort => (OPTC_NOSORT, Some(&mut f.nosort)),
            Tag::Exact => (OPTC_EXACT, Some(&mut f.exact)),
            // "Sort is the default, this is a no-op for compatibility"
            _ => return Ok(()),
        };
        self.options.set(optc)?;
        if let Some(flag) = flag {
            *flag = true;
        }
        Ok(())
    }

    /// The sync daemon's options.
    fn daemon_option(&mut self, tag: Tag, arg: &str) -> Result<(), UsageError> {
        let d = &mut self.entry.daemon;
        match tag {
            Tag::McastInterface => {
                self.options.set(OPTC_MCAST)?;
                d.mcast_ifn = truncate(arg, IFNAME_MAX);
            }
            Tag::SyncId => {
                self.options.set(OPTC_SYNCID)?;
                d.syncid = string_to_number(arg, 0, 255).ok_or_else(|| fail("illegal syncid specified"))? as u8;
            }
            Tag::McastGroup => {
                self.options.set(OPTC_MCAST_GROUP)?;
                self.entry.mcast_group = Some(mcast_group(arg)?);
            }
            Tag::McastPort => {
                self.options.set(OPTC_MCAST_PORT)?;
                d.port =
                    Some(string_to_number(arg, 1, 65535).ok_or_else(|| fail("illegal mcast-port specified"))? as u16);
            }
            Tag::McastTtl => {
                self.options.set(OPTC_MCAST_TTL)?;
                d.ttl = Some(string_to_number(arg, 1, 255).ok_or_else(|| fail("illegal mcast-ttl specified"))? as u8);
            }
            _ => {
                self.options.set(OPTC_SYNC_MAXLEN)?;
                d.sync_maxlen = Some(
                    string_to_number(arg, 1, 65535 - 20 - 8).ok_or_else(|| fail("illegal sync-maxlen specified"))?
                        as u32,
                );
            }
        }
        Ok(())
    }

    /// `--tun-info`, `--tun-type` and the tunnel's options.
    fn tunnel_option(&mut self, tag: Tag, arg: &str) -> Result<(), UsageError> {
        match tag {
            Tag::TunInfo => {
                self.options.set(OPTC_TUN_INFO)?;
                self.entry.format.tun_info = true;
            }
            Tag::TunType => {
                self.options.set(OPTC_TUN_TYPE)?;
                self.entry.tun_type = match arg {
                    "ipip" => 0,
                    "gue" => 1,
                    "gre" => 2,
                    _ => return Err(fail("illegal tunnel type specified")),
                };
            }
            Tag::TunPort => {
                self.options.set(OPTC_TUN_PORT)?;
                self.entry.tun_port =
                    string_to_number(arg, 1, 65535).ok_or_else(|| fail("illegal tunnel port specified"))? as u16;
            }
            // IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM is 0: the option only counts as given.
            Tag::TunNocsum => self.options.set(OPTC_TUN_NOCSUM)?,
            Tag::TunCsum => {
                self.options.set(OPTC_TUN_CSUM)?;
                self.entry.tun_flags |= crate::api::TUN_FLAG_CSUM;
            }
            _ => {
                self.options.set(OPTC_TUN_REMCSUM)?;
                self.entry.tun_flags |= crate::api::TUN_FLAG_REMCSUM;
            }
        }
        Ok(())
    }

    /// The words that were no option: `--set`'s three timeouts, and nothing else.
    fn read_leftovers(&mut self, popt: &mut Popt) -> Result<(), UsageError> {
        if self.cmd == Cmd::Timeout {
            match (popt.get_arg(), popt.get_arg(), popt.get_arg()) {
                (Some(a), Some(b), Some(c)) => {
                    let max = MAX_TIMEOUT as i64;
                    self.entry.timeouts = Timeouts {
                        tcp: parse_timeout(Some(&a), 0, max)?,
                        tcp_fin: parse_timeout(Some(&b), 0, max)?,
                        udp: parse_timeout(Some(&c), 0, max)?,
                    };
                }
                _ => return Err(fail("--set option requires 3 timeout values")),
            }
        }
        if let Some(extra) = popt.get_arg() {
            return Err(fail(format!("unexpected argument {extra}")));
        }
        Ok(())
    }
}

/// C's atoi(): leading white space, a sign, then digits as far as they go; 0 when none.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start_matches(|c: char| c == ' ' || ('\t'..='\r').contains(&c));
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    let v = digits[..end].parse::<i64>().unwrap_or(if end == 0 { 0 } else { i64::MAX });
    if neg {
        -v
    } else {
        v
    }
}

/// `--mcast-group`: an IPv4 or IPv6 multicast group (the daemon decides what it can use).
fn mcast_group(g: &str) -> Result<IpAddr, UsageError> {
    if g.contains(':') {
        match g.parse::<Ipv6Addr>() {
            Ok(x) if x.is_multicast() => Ok(x.into()),
            _ => Err(fail(format!("invalid IPv6 mcast-group `{g}'"))),
        }
    } else {
        match g.parse::<Ipv4Addr>() {
            Ok(x) if x.is_multicast() => Ok(x.into()),
            _ => Err(fail(format!("invalid IPv4 mcast-group `{g}'"))),
        }
    }
}
