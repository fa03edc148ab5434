//! ipvsadm 1.31's command line, parsed the way popt and `ipvsadm.c` parse it.
//!
//! The parser is a small model of popt (short options clustered, `-t ADDR`,
//! `-tADDR`, `-t=ADDR`, `--tcp-service ADDR`, `--tcp-service=ADDR`, `-p`'s
//! optional argument, leftovers anywhere, `--` ends options) followed by
//! ipvsadm's own checks in ipvsadm's order, so that every error names the
//! same thing and exits with the same status as ipvsadm:
//! - `fail()` cases exit 2 with ipvsadm's message;
//! - popt errors (unknown option, missing argument) exit 255 with
//!   "`<word>: <popt error>`", because ipvsadm returns -1 from `main` there;
//! - a first option that is not a command exits 255 with the "Try" line.
//!
//! rvs adds one option, `--fullnat`, a fourth forwarding method, and DPVS's
//! ipvsadm extensions for FULLNAT local addresses, spelled as DPVS spells
//! them: `-P|--add-laddr`, `-Q|--del-laddr` (both `-t|-u VIP:PORT -z LIP`)
//! and `-G|--get-laddr [-t|-u VIP:PORT]`, with `-z|--laddr ADDR`. And since
//! AF_XDP frames never pass iptables, rvs marks packets itself (what
//! `iptables -t mangle ... -j MARK --set-mark N` does for kernel IPVS) with
//! rules of its own: `--add-mark MARK -t|-u|--any-proto ADDR[/PREFIX][:PORTS]`,
//! `--del-mark` (same arguments) and `--list-marks`. Things rvs
//! cannot do (IPv6, SCTP, persistence engines, sync daemons, GUE/GRE tunnels)
//! are still parsed and checked like ipvsadm does, then refused with a clear
//! message and exit status 2.

use super::format::NameDb;
use crate::api::command::{Command, ListFormat, ListWhat};
use crate::api::{
    DestSpec, FwdMethod, MarkRule, ServiceKey, ServiceSpec, Timeouts, DEFAULT_PERSISTENCE_TIMEOUT, DEFAULT_SCHEDULER,
    MAX_TIMEOUT,
};
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The program name used in "Try ..." and usage texts.
pub const PROGRAM: &str = "rvsadm";

/// IP_VS_SCHEDNAME_MAXLEN - 1: ipvsadm `strncpy`s the scheduler name.
const SCHED_NAME_MAX: usize = 15;
/// IP_VS_PENAME_MAXLEN
const PE_NAME_MAX: usize = 16;

/// A command line ipvsadm would refuse: what it prints (without the final
/// newline) and the status it exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    pub message: String,
    pub exit_code: i32,
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// ipvsadm's `fail(2, ...)`.
fn fail(message: impl Into<String>) -> UsageError {
    UsageError { message: message.into(), exit_code: 2 }
}

/// ipvsadm's `tryhelp_exit(argv[0], -1)`: exit(-1) is status 255.
fn tryhelp() -> UsageError {
    UsageError { message: format!("Try `{PROGRAM} -h' or '{PROGRAM} --help' for more information."), exit_code: 255 }
}

/// Something ipvsadm accepts but rvs does not implement.
fn unsupported(what: &str) -> UsageError {
    fail(format!("{what} is not supported by rvs"))
}

// ---------------------------------------------------------------------------
// Option table (ipvsadm's poptOption table plus --fullnat)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Add,
    Edit,
    Del,
    Clear,
    List,
    Zero,
    AddSrv,
    EditSrv,
    DelSrv,
    Set,
    Help,
    Version,
    Restore,
    Save,
    StartDaemon,
    StopDaemon,
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Sched,
    Persistent,
    Netmask,
    Real,
    Masq,
    Ipip,
    Gate,
    FullNat,
    Weight,
    UThreshold,
    LThreshold,
    Numeric,
    Connection,
    McastInterface,
    SyncId,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    Ipv6,
    Ops,
    Pe,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
    AddLaddr,
    DelLaddr,
    GetLaddr,
    Laddr,
    AddMark,
    DelMark,
    ListMarks,
    AnyProto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArgKind {
    None,
    Required,
    /// POPT_ARGFLAG_OPTIONAL: the next word is taken only if it does not
    /// start with '-'.
    Optional,
}

struct OptDef {
    long: &'static str,
    short: Option<char>,
    arg: ArgKind,
    tag: Tag,
}

const fn o(long: &'static str, short: Option<char>, arg: ArgKind, tag: Tag) -> OptDef {
    OptDef { long, short, arg, tag }
}

use ArgKind::{None as NoArg, Optional as OptArg, Required as ReqArg};

/// Same order as ipvsadm's table: popt finds the first match, which matters
/// for `--list` (both -L and -l carry that long name). The laddr commands
/// and `--laddr` sit where DPVS's ipvsadm has them; rvs's mark rule commands
/// (long names only, `--add-mark`/`--del-mark` taking the mark as their
/// argument like `--start-daemon` takes its state) follow them.
static OPTIONS: &[OptDef] = &[
    o("add-service", Some('A'), NoArg, Tag::Add),
    o("edit-service", Some('E'), NoArg, Tag::Edit),
    o("delete-service", Some('D'), NoArg, Tag::Del),
    o("clear", Some('C'), NoArg, Tag::Clear),
    o("list", Some('L'), NoArg, Tag::List),
    o("list", Some('l'), NoArg, Tag::List),
    o("zero", Some('Z'), NoArg, Tag::Zero),
    o("add-server", Some('a'), NoArg, Tag::AddSrv),
    o("edit-server", Some('e'), NoArg, Tag::EditSrv),
    o("delete-server", Some('d'), NoArg, Tag::DelSrv),
    o("set", None, NoArg, Tag::Set),
    o("help", Some('h'), NoArg, Tag::Help),
    o("version", Some('v'), NoArg, Tag::Version),
    o("restore", Some('R'), NoArg, Tag::Restore),
    o("save", Some('S'), NoArg, Tag::Save),
    o("start-daemon", None, ReqArg, Tag::StartDaemon),
    o("stop-daemon", None, ReqArg, Tag::StopDaemon),
    o("add-laddr", Some('P'), NoArg, Tag::AddLaddr),
    o("del-laddr", Some('Q'), NoArg, Tag::DelLaddr),
    o("get-laddr", Some('G'), NoArg, Tag::GetLaddr),
    o("add-mark", None, ReqArg, Tag::AddMark),
    o("del-mark", None, ReqArg, Tag::DelMark),
    o("list-marks", None, NoArg, Tag::ListMarks),
    o("tcp-service", Some('t'), ReqArg, Tag::Tcp),
    o("udp-service", Some('u'), ReqArg, Tag::Udp),
    o("sctp-service", None, ReqArg, Tag::Sctp),
    o("any-proto", None, ReqArg, Tag::AnyProto),
    o("fwmark-service", Some('f'), ReqArg, Tag::Fwmark),
    o("scheduler", Some('s'), ReqArg, Tag::Sched),
    o("persistent", Some('p'), OptArg, Tag::Persistent),
    o("netmask", Some('M'), ReqArg, Tag::Netmask),
    o("real-server", Some('r'), ReqArg, Tag::Real),
    o("masquerading", Some('m'), NoArg, Tag::Masq),
    o("ipip", Some('i'), NoArg, Tag::Ipip),
    o("gatewaying", Some('g'), NoArg, Tag::Gate),
    o("fullnat", None, NoArg, Tag::FullNat),
    o("weight", Some('w'), ReqArg, Tag::Weight),
    o("u-threshold", Some('x'), ReqArg, Tag::UThreshold),
    o("l-threshold", Some('y'), ReqArg, Tag::LThreshold),
    o("numeric", Some('n'), NoArg, Tag::Numeric),
    o("connection", Some('c'), NoArg, Tag::Connection),
    o("mcast-interface", None, ReqArg, Tag::McastInterface),
    o("syncid", None, ReqArg, Tag::SyncId),
    o("timeout", None, NoArg, Tag::Timeout),
    o("daemon", None, NoArg, Tag::Daemon),
    o("stats", None, NoArg, Tag::Stats),
    o("rate", None, NoArg, Tag::Rate),
    o("thresholds", None, NoArg, Tag::Thresholds),
    o("persistent-conn", None, NoArg, Tag::PersistentConn),
    o("nosort", None, NoArg, Tag::NoSort),
    o("sort", None, NoArg, Tag::Sort),
    o("exact", Some('X'), NoArg, Tag::Exact),
    o("ipv6", Some('6'), NoArg, Tag::Ipv6),
    o("ops", Some('o'), NoArg, Tag::Ops),
    o("pe", None, ReqArg, Tag::Pe),
    o("laddr", Some('z'), ReqArg, Tag::Laddr),
    o("sched-flags", Some('b'), ReqArg, Tag::SchedFlags),
    o("mcast-group", None, ReqArg, Tag::McastGroup),
    o("mcast-port", None, ReqArg, Tag::McastPort),
    o("mcast-ttl", None, ReqArg, Tag::McastTtl),
    o("sync-maxlen", None, ReqArg, Tag::SyncMaxlen),
    o("tun-info", None, NoArg, Tag::TunInfo),
    o("tun-type", None, ReqArg, Tag::TunType),
    o("tun-port", None, ReqArg, Tag::TunPort),
    o("tun-nocsum", None, NoArg, Tag::TunNocsum),
    o("tun-csum", None, NoArg, Tag::TunCsum),
    o("tun-remcsum", None, NoArg, Tag::TunRemcsum),
];

// ---------------------------------------------------------------------------
// A model of popt's option scanner
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PoptErr {
    BadOpt,
    NoArg,
    UnwantedArg,
}

impl PoptErr {
    /// poptStrerror()
    fn text(self) -> &'static str {
        match self {
            PoptErr::BadOpt => "unknown option",
            PoptErr::NoArg => "missing argument",
            PoptErr::UnwantedArg => "option does not take an argument",
        }
    }
}

struct Popt<'a> {
    argv: &'a [String],
    /// Index of the next word to read (popt's `os->next`).
    next: usize,
    /// The rest of a cluster of short options (`-Ln`: "n" after 'L').
    cluster: Option<String>,
    rest_leftover: bool,
    leftovers: Vec<String>,
    leftover_pos: usize,
}

impl<'a> Popt<'a> {
    fn new(argv: &'a [String]) -> Self {
        Popt { argv, next: 0, cluster: None, rest_leftover: false, leftovers: Vec::new(), leftover_pos: 0 }
    }

    /// poptBadOption(POPT_BADOPTION_NOALIAS): the last word read, which is
    /// the option's argument if it took one from the next word.
    fn bad_option(&self) -> String {
        self.next.checked_sub(1).and_then(|i| self.argv.get(i)).cloned().unwrap_or_default()
    }

    /// The argument of an option whose text did not carry one.
    fn arg_from_next_word(&mut self, kind: ArgKind) -> Result<Option<String>, PoptErr> {
        match self.argv.get(self.next) {
            None if kind == ArgKind::Optional => Ok(None),
            None => Err(PoptErr::NoArg),
            Some(w) if kind == ArgKind::Optional && w.starts_with('-') => Ok(None),
            Some(w) => {
                self.next += 1;
                Ok(Some(w.clone()))
            }
        }
    }

    /// poptGetNextOpt(): Ok(None) at the end of the options.
    fn next_opt(&mut self) -> Result<Option<(Tag, Option<String>)>, PoptErr> {
        loop {
            if let Some(rest) = self.cluster.take() {
                let mut chars = rest.chars();
                let c = match chars.next() {
                    Some(c) => c,
                    None => continue,
                };
                let remaining: String = chars.collect();
                let def = OPTIONS.iter().find(|d| d.short == Some(c)).ok_or(PoptErr::BadOpt)?;
                if def.arg == ArgKind::None {
                    // popt skips one '=' after a flag in a cluster.
                    let remaining = remaining.strip_prefix('=').unwrap_or(&remaining).to_string();
                    if !remaining.is_empty() {
                        self.cluster = Some(remaining);
                    }
                    return Ok(Some((def.tag, None)));
                }
                if !remaining.is_empty() {
                    // `-tADDR` or `-t=ADDR`
                    let arg = remaining.strip_prefix('=').unwrap_or(&remaining).to_string();
                    return Ok(Some((def.tag, Some(arg))));
                }
                let arg = self.arg_from_next_word(def.arg)?;
                return Ok(Some((def.tag, arg)));
            }

            let word = match self.argv.get(self.next) {
                Some(w) => w.clone(),
                None => return Ok(None),
            };
            self.next += 1;
            if self.rest_leftover || !word.starts_with('-') || word == "-" {
                self.leftovers.push(word);
                continue;
            }
            if word == "--" {
                self.rest_leftover = true;
                continue;
            }
            if let Some(long) = word.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let def = OPTIONS.iter().find(|d| d.long == name).ok_or(PoptErr::BadOpt)?;
                return match (def.arg, inline) {
                    (ArgKind::None, Some(_)) => Err(PoptErr::UnwantedArg),
                    (ArgKind::None, None) => Ok(Some((def.tag, None))),
                    (_, Some(v)) => Ok(Some((def.tag, Some(v)))),
                    (kind, None) => {
                        let arg = self.arg_from_next_word(kind)?;
                        Ok(Some((def.tag, arg)))
                    }
                };
            }
            // A single dash: a cluster of short options.
            self.cluster = Some(word[1..].to_string());
        }
    }

    /// poptGetArg(): the leftovers, in order.
    fn get_arg(&mut self) -> Option<String> {
        let a = self.leftovers.get(self.leftover_pos).cloned();
        if a.is_some() {
            self.leftover_pos += 1;
        }
        a
    }
}

// ---------------------------------------------------------------------------
// ipvsadm's command/option legality table
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Add = 0,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Timeout,
    StartDaemon,
    StopDaemon,
    Restore,
    Save,
    Zero,
    AddLaddr,
    DelLaddr,
    GetLaddr,
    AddMark,
    DelMark,
    ListMarks,
}

const NUMBER_OF_CMD: usize = 20;

const CMDNAMES: [&str; NUMBER_OF_CMD] = [
    "add-service",
    "edit-service",
    "delete-service",
    "flush",
    "list",
    "add-server",
    "delete-server",
    "edit-server",
    "set",
    "start-daemon",
    "stop-daemon",
    "restore",
    "save",
    "zero",
    "add-laddr",
    "del-laddr",
    "get-laddr",
    "add-mark",
    "del-mark",
    "list-marks",
];

const OPTC_NUMERIC: usize = 0;
const OPTC_CONNECTION: usize = 1;
const OPTC_SERVICE: usize = 2;
const OPTC_SCHEDULER: usize = 3;
const OPTC_PERSISTENT: usize = 4;
const OPTC_NETMASK: usize = 5;
const OPTC_SERVER: usize = 6;
const OPTC_FORWARD: usize = 7;
const OPTC_WEIGHT: usize = 8;
const OPTC_UTHRESHOLD: usize = 9;
const OPTC_LTHRESHOLD: usize = 10;
const OPTC_MCAST: usize = 11;
const OPTC_TIMEOUT: usize = 12;
const OPTC_DAEMON: usize = 13;
const OPTC_STATS: usize = 14;
const OPTC_RATE: usize = 15;
const OPTC_THRESHOLDS: usize = 16;
const OPTC_PERSISTENTCONN: usize = 17;
const OPTC_NOSORT: usize = 18;
const OPTC_SYNCID: usize = 19;
const OPTC_EXACT: usize = 20;
const OPTC_ONEPACKET: usize = 21;
const OPTC_PERSISTENCE_ENGINE: usize = 22;
const OPTC_SCHED_FLAGS: usize = 23;
const OPTC_MCAST_GROUP: usize = 24;
const OPTC_MCAST_PORT: usize = 25;
const OPTC_MCAST_TTL: usize = 26;
const OPTC_SYNC_MAXLEN: usize = 27;
const OPTC_TUN_INFO: usize = 28;
const OPTC_TUN_TYPE: usize = 29;
const OPTC_TUN_PORT: usize = 30;
const OPTC_TUN_NOCSUM: usize = 31;
const OPTC_TUN_CSUM: usize = 32;
const OPTC_TUN_REMCSUM: usize = 33;
/// DPVS's `-z|--laddr` (DPVS names it "local-address" in its messages).
const OPTC_LADDR: usize = 34;
/// rvs's `--any-proto`: a mark rule's address for TCP or UDP (it also sets
/// OPTC_SERVICE, the rule being the mark commands' "service-address").
const OPTC_ANYPROTO: usize = 35;
const NUMBER_OF_OPT: usize = 36;

const OPTNAMES: [&str; NUMBER_OF_OPT] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
    "laddr",
    "any-proto",
];

/// ipvsadm's commands_v_options, one string per command, one character per
/// option in OPTNAMES order: '+' compulsory, 'x' illegal, '1' exclusive,
/// ' ' optional.
const COMMANDS_V_OPTIONS: [&[u8; NUMBER_OF_OPT]; NUMBER_OF_CMD] = [
    //-n-csvc-s-p-M-rfw-w-x-y-mtodm-srtthpcsrsidexopspe-bgrpprttlszticttcpnocsrezap
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxxxx", // ADD
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxxxx", // EDIT
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // DEL
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // FLUSH
    b" 11xxxxxxxxx11       xxxxxxx xxxxxxx", // LIST
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     xx", // ADDSRV
    b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // DELSRV
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     xx", // EDITSRV
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // TIMEOUT
    b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxxxx", // STARTD
    b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxxxx", // STOPD
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // RESTORE
    b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // SAVE
    b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // ZERO
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx+x", // ADDLADDR
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx+x", // DELLADDR
    b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // GETLADDR
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ", // ADDMARK
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ", // DELMARK
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // LISTMARKS
];

fn generic_opt_check(cmd: Cmd, options: u64) -> Result<(), UsageError> {
    let i = cmd as usize;
    let row = COMMANDS_V_OPTIONS[i];
    let mut last = 0usize;
    let mut count = 0;
    for (j, &rule) in row.iter().enumerate() {
        if options & (1u64 << j) == 0 {
            if rule == b'+' {
                return Err(fail(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    OPTNAMES[j], CMDNAMES[i]
                )));
            }
        } else {
            if rule == b'x' {
                return Err(fail(format!("Illegal '{}' option with the '{}' command", OPTNAMES[j], CMDNAMES[i])));
            }
            if rule == b'1' {
                count += 1;
                if count == 1 {
                    last = j;
                    continue;
                }
                return Err(fail(format!(
                    "The option '{}' conflicts with the '{}' option in the '{}' command",
                    OPTNAMES[j], OPTNAMES[last], CMDNAMES[i]
                )));
            }
        }
    }
    Ok(())
}

fn set_option(options: &mut u64, optc: usize) -> Result<(), UsageError> {
    let bit = 1u64 << optc;
    if *options & bit != 0 {
        return Err(fail(format!("multiple '{}' options specified", OPTNAMES[optc])));
    }
    *options |= bit;
    Ok(())
}

// ---------------------------------------------------------------------------
// Value parsers (C library semantics where ipvsadm relies on them)
// ---------------------------------------------------------------------------

/// `strtol(s, &end, 10)` that must consume the whole string: leading white
/// space and a sign are allowed, at least one digit is required.
fn strtol_full(s: &str) -> Option<i64> {
    let t = s.trim_start_matches(|c: char| c == ' ' || ('\t'..='\r').contains(&c));
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // An out-of-range value is ERANGE in C: refuse it the same way.
    let v: i64 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// ipvsadm's string_to_number(): -1 (here None) unless min <= n <= max.
fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    strtol_full(s).filter(|n| (min..=max).contains(n))
}

fn parse_timeout(buf: Option<&str>, min: i64, max: i64) -> Result<u32, UsageError> {
    let buf = match buf {
        None => return Ok(DEFAULT_PERSISTENCE_TIMEOUT),
        Some(b) => b,
    };
    string_to_number(buf, min, max)
        .map(|n| n as u32)
        .ok_or_else(|| fail(format!("invalid timeout value `{buf}' specified")))
}

fn parse_fwmark(buf: &str) -> Result<u32, UsageError> {
    match strtol_full(buf) {
        Some(l) if l > 0 && l <= u32::MAX as i64 => Ok(l as u32),
        _ => Err(fail(format!("invalid fwmark value `{buf}' specified"))),
    }
}

/// A mark rule's MARK: decimal or `0x` hex (iptables' `--set-mark` takes
/// both), 1 to 2^32-1, refused with `-f`'s message.
fn parse_mark(buf: &str) -> Result<u32, UsageError> {
    let v = match buf.strip_prefix("0x").or_else(|| buf.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) => u64::from_str_radix(h, 16).ok(),
        Some(_) => None,
        None => strtol_full(buf).and_then(|l| u64::try_from(l).ok()),
    };
    match v {
        Some(m) if m > 0 && m <= u32::MAX as u64 => Ok(m as u32),
        _ => Err(fail(format!("invalid fwmark value `{buf}' specified"))),
    }
}

const BAD_MARK_RULE: &str = "illegal mark rule address[/prefix][:ports] specified";

/// A mark rule's port list, iptables multiport's syntax with `-` for
/// ranges: `80,443,8000-8100`. A single port may be a service name for
/// `proto` (TCP's or UDP's for `--any-proto`).
fn parse_port_list(buf: &str, proto: u8, names: &NameDb) -> Result<Vec<(u16, u16)>, UsageError> {
    let num = |p: &str| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            string_to_number(p, 0, 65535).map(|n| n as u16)
        } else {
            None
        }
    };
    let name = |p: &str| match proto {
        0 => names.name_to_port(p, IPPROTO_TCP).or_else(|| names.name_to_port(p, IPPROTO_UDP)),
        _ => names.name_to_port(p, proto),
    };
    let mut ports = Vec::new();
    for item in buf.split(',') {
        let range = match item.split_once('-') {
            Some((lo, hi)) => match (num(lo), num(hi)) {
                (Some(lo), Some(hi)) => Some((lo, hi)),
                // A service name may contain '-' ("kerberos-adm").
                _ => name(item).map(|p| (p, p)),
            },
            None => num(item).or_else(|| name(item)).map(|p| (p, p)),
        };
        match range {
            Some((lo, hi)) if lo <= hi => ports.push((lo, hi)),
            _ => return Err(fail("illegal port range specified")),
        }
    }
    Ok(ports)
}

/// A mark rule's `ADDR[/PREFIX][:PORTS]` for `proto` (0: TCP or UDP). The
/// address is a dotted quad or an /etc/hosts name, PREFIX 0..=32 (32 when
/// absent), no PORTS any port. Like iptables, the address is reduced to its
/// network (`10.1.2.3/8` is `10.0.0.0/8`), so that `--del-mark` and
/// `--list-marks` see the rule the way it matches.
fn parse_mark_rule(buf: &str, proto: u8, mark: u32, names: &NameDb) -> Result<MarkRule, UsageError> {
    if buf.starts_with('[') || buf.matches(':').count() > 1 {
        return Err(unsupported("IPv6"));
    }
    let (net, ports) = match buf.split_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (buf, None),
    };
    let (host, prefix) = match net.split_once('/') {
        Some((h, len)) => {
            if len.is_empty() || !str_is_digit(len) {
                return Err(fail(BAD_MARK_RULE));
            }
            match string_to_number(len, 0, 32) {
                Some(n) => (h, n as u8),
                None => return Err(fail(BAD_MARK_RULE)),
            }
        }
        None => (net, 32),
    };
    // As parse_service(): digits alone are not an address.
    if str_is_digit(host) {
        return Err(fail(BAD_MARK_RULE));
    }
    let addr = host_or_addr(host, names).ok_or_else(|| fail(BAD_MARK_RULE))?;
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix as u32) };
    let ports = match ports {
        None => Vec::new(),
        Some("") => return Err(fail(BAD_MARK_RULE)),
        Some(p) => parse_port_list(p, proto, names)?,
    };
    Ok(MarkRule { mark, proto, addr: Ipv4Addr::from(u32::from(addr) & mask), prefix, ports })
}

/// glibc's inet_aton: 1 to 4 parts, each decimal, octal (leading 0) or hex
/// (0x); the last part fills the remaining bytes. Anything after white space
/// is ignored, as glibc does.
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let s = s.split(|c: char| c.is_ascii_whitespace()).next().unwrap_or("");
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut vals = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 8 {
            return None;
        }
        let v = if digits.is_empty() { 0 } else { u64::from_str_radix(digits, radix).ok()? };
        if digits.starts_with('+') || digits.starts_with('-') || v > u32::MAX as u64 {
            return None;
        }
        vals.push(v as u32);
    }
    let n = vals.len();
    let (head, last) = vals.split_at(n - 1);
    if head.iter().any(|&v| v > 0xff) {
        return None;
    }
    let last = last[0] as u64;
    let max_last: u64 = match n {
        1 => 0xffff_ffff,
        2 => 0x00ff_ffff,
        3 => 0x0000_ffff,
        _ => 0xff,
    };
    if last > max_last {
        return None;
    }
    let mut addr: u64 = 0;
    for (i, &v) in head.iter().enumerate() {
        addr |= (v as u64) << (24 - 8 * i);
    }
    addr |= last;
    Some(Ipv4Addr::from(addr as u32))
}

/// inet_aton, then a host name from /etc/hosts (never DNS).
fn host_or_addr(s: &str, names: &NameDb) -> Option<Ipv4Addr> {
    inet_aton(s).or_else(|| names.name_to_addr(s))
}

/// True if `s` is empty or only digits: ipvsadm's str_is_digit(), which
/// makes `-t 80` (or `-t ""`) an illegal address rather than 0.0.0.80.
fn str_is_digit(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// What parse_service() found: the address and, if given, the port.
struct ParsedAddr {
    addr: Ipv4Addr,
    port: Option<u16>,
}

/// ipvsadm's parse_service(): `host[:port]`, port a number or a service name
/// for `proto`. None where ipvsadm returns SERVICE_NONE.
fn parse_service(buf: &str, proto: u8, names: &NameDb) -> Result<Option<ParsedAddr>, UsageError> {
    if str_is_digit(buf) {
        return Ok(None);
    }
    if buf.starts_with('[') || buf.parse::<Ipv6Addr>().is_ok() {
        return Err(unsupported("IPv6"));
    }
    let (host, port) = match buf.rfind(':') {
        Some(i) => (&buf[..i], Some(&buf[i + 1..])),
        None => (buf, None),
    };
    let addr = match host_or_addr(host, names) {
        Some(a) => a,
        None => return Ok(None),
    };
    let port = match port {
        None => None,
        Some(p) => match string_to_number(p, 0, 65535) {
            Some(n) => Some(n as u16),
            None => match names.name_to_port(p, proto) {
                Some(n) => Some(n),
                None => return Ok(None),
            },
        },
    };
    Ok(Some(ParsedAddr { addr, port }))
}

/// Scheduler flag bits (IP_VS_SVC_F_SCHED1..3); sh-/mh- names alias them.
const SCHED1: u8 = 1;
const SCHED2: u8 = 2;
const SCHED3: u8 = 4;

/// ipvsadm's parse_sched_flags(), returning the flags by the names ipvsadm
/// prints them under for this scheduler (print_sched_flags), in its order,
/// so that `-S` output re-parses to the same list.
pub fn parse_sched_flags(sched: &str, arg: &str) -> Result<Vec<String>, UsageError> {
    let sched = if sched.is_empty() { DEFAULT_SCHEDULER } else { sched };
    let mut bits = 0u8;
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        let (bit, needs) = match flag {
            "flag-1" => (SCHED1, None),
            "flag-2" => (SCHED2, None),
            "flag-3" => (SCHED3, None),
            "sh-fallback" => (SCHED1, Some("sh")),
            "sh-port" => (SCHED2, Some("sh")),
            "mh-fallback" => (SCHED1, Some("mh")),
            "mh-port" => (SCHED2, Some("mh")),
            _ => return Err(fail(format!("invalid scheduler flag `{flag}'"))),
        };
        if let Some(s) = needs {
            if sched != s {
                return Err(fail(format!("incompatible scheduler flag `{flag}'")));
            }
        }
        bits |= bit;
    }
    let names: [&str; 3] = match sched {
        "sh" => ["sh-fallback", "sh-port", "flag-3"],
        "mh" => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    Ok([SCHED1, SCHED2, SCHED3]
        .iter()
        .zip(names)
        .filter(|(b, _)| bits & **b != 0)
        .map(|(_, n)| n.to_string())
        .collect())
}

/// An address a FULLNAT connection can use as its source towards the real
/// servers: not 0.0.0.0, not broadcast, not multicast.
fn usable_laddr(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast())
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

// ---------------------------------------------------------------------------
// The command entry ipvsadm fills in while it reads the options
// ---------------------------------------------------------------------------

struct Entry {
    cmd: Option<Cmd>,
    proto: u8,
    addr: Ipv4Addr,
    port: u16,
    fwmark: u32,
    sched: String,
    persistent: Option<u32>,
    netmask: Ipv4Addr,
    ops: bool,
    pe: Option<String>,
    sched_flags: Vec<String>,
    dest_addr: Ipv4Addr,
    dest_port: u16,
    fwd: FwdMethod,
    weight: u32,
    u_threshold: u32,
    l_threshold: u32,
    timeouts: Timeouts,
    tun_type: usize,
    format: ListFormat,
    /// `-z`: a FULLNAT local address.
    laddr: Ipv4Addr,
    /// `--add-mark`/`--del-mark`: the mark, then the rule (`-t|-u|--any-proto`).
    mark: u32,
    mark_rule: Option<MarkRule>,
    /// `--start-daemon`/`--stop-daemon` and the daemon options.
    daemon: crate::api::DaemonRequest,
    mcast_group: Option<std::net::IpAddr>,
}

impl Entry {
    fn new() -> Self {
        Entry {
            cmd: None,
            proto: 0,
            addr: Ipv4Addr::UNSPECIFIED,
            port: 0,
            fwmark: 0,
            sched: String::new(),
            persistent: None,
            netmask: Ipv4Addr::BROADCAST,
            ops: false,
            pe: None,
            sched_flags: Vec::new(),
            dest_addr: Ipv4Addr::UNSPECIFIED,
            dest_port: 0,
            // "Set direct routing as default forwarding method"
            fwd: FwdMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            timeouts: Timeouts { tcp: 0, tcp_fin: 0, udp: 0 },
            tun_type: 0,
            format: ListFormat::default(),
            laddr: Ipv4Addr::UNSPECIFIED,
            mark: 0,
            mark_rule: None,
            daemon: crate::api::DaemonRequest::new("", "", 0),
            mcast_group: None,
        }
    }

    fn key(&self) -> ServiceKey {
        if self.fwmark != 0 {
            ServiceKey::Fwmark(self.fwmark)
        } else {
            ServiceKey::Addr { proto: self.proto, addr: self.addr, port: self.port }
        }
    }
}

/// Parse an ipvsadm command line (without the program name), resolving
/// host and service names from /etc/hosts and /etc/services.
pub fn parse(argv: &[String]) -> Result<Command, UsageError> {
    parse_with(argv, &NameDb::system())
}

/// [`parse`] with an explicit name database (tests, or a caller that has
/// already loaded it).
pub fn parse_with(argv: &[String], names: &NameDb) -> Result<Command, UsageError> {
    // `ipvsadm` alone lists the table.
    if argv.is_empty() {
        return Ok(Command::List(ListWhat::Services(None), ListFormat::default()));
    }
    let mut popt = Popt::new(argv);
    let mut ce = Entry::new();
    let mut options: u64 = 0;
    let mut sched_flags_arg = String::new();

    // The first option must be the command.
    let (tag, arg) = match popt.next_opt() {
        Ok(Some(x)) => x,
        _ => return Err(tryhelp()),
    };
    ce.cmd = Some(match tag {
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
            let a = arg.unwrap_or_default();
            if a != "master" && a != "backup" {
                return Err(fail(if tag == Tag::StartDaemon {
                    "illegal start-daemon parameter specified"
                } else {
                    "illegal start_daemon specified"
                }));
            }
            ce.daemon.role = a;
            if tag == Tag::StartDaemon {
                Cmd::StartDaemon
            } else {
                Cmd::StopDaemon
            }
        }
        // ipvsadm exits at once for these, ignoring the rest of the line.
        Tag::Help => return Ok(Command::Help),
        Tag::Version => return Ok(Command::Version),
        Tag::AddLaddr => Cmd::AddLaddr,
        Tag::DelLaddr => Cmd::DelLaddr,
        Tag::GetLaddr => Cmd::GetLaddr,
        Tag::AddMark | Tag::DelMark => {
            ce.mark = parse_mark(arg.as_deref().unwrap_or(""))?;
            if tag == Tag::AddMark {
                Cmd::AddMark
            } else {
                Cmd::DelMark
            }
        }
        Tag::ListMarks => Cmd::ListMarks,
        _ => return Err(tryhelp()),
    });
    let mark_cmd = matches!(ce.cmd, Some(Cmd::AddMark | Cmd::DelMark));

    let popt_error = loop {
        let (tag, arg) = match popt.next_opt() {
            Ok(Some(x)) => x,
            Ok(None) => break None,
            Err(e) => break Some(e),
        };
        let a = arg.as_deref();
        // Options declared with an argument always get one from popt,
        // except -p whose argument is optional.
        let req = || a.unwrap_or("");
        match tag {
            Tag::Tcp | Tag::Udp | Tag::Sctp | Tag::AnyProto => {
                set_option(&mut options, OPTC_SERVICE)?;
                ce.proto = match tag {
                    Tag::Tcp => IPPROTO_TCP,
                    Tag::Udp => IPPROTO_UDP,
                    Tag::Sctp => IPPROTO_SCTP,
                    _ => {
                        set_option(&mut options, OPTC_ANYPROTO)?;
                        0
                    }
                };
                // A mark rule: with the mark commands `-t`/`-u` take a
                // rule's ADDR[/PREFIX][:PORTS]; `--any-proto` always does.
                if mark_cmd || tag == Tag::AnyProto {
                    ce.mark_rule = Some(parse_mark_rule(req(), ce.proto, ce.mark, names)?);
                    continue;
                }
                match parse_service(req(), ce.proto, names)? {
                    Some(p) => {
                        ce.addr = p.addr;
                        if let Some(port) = p.port {
                            ce.port = port;
                        }
                    }
                    None => return Err(fail("illegal virtual server address[:port] specified")),
                }
            }
            Tag::Fwmark => {
                set_option(&mut options, OPTC_SERVICE)?;
                if mark_cmd {
                    // A mark rule sets a mark; it cannot match one.
                    return Err(fail(format!(
                        "Illegal 'fwmark-service' option with the '{}' command",
                        CMDNAMES[ce.cmd.unwrap_or(Cmd::AddMark) as usize]
                    )));
                }
                // ipvsadm sets TCP "even though it is not used"; it decides
                // which /etc/services column names a fwmark dest's port.
                ce.proto = IPPROTO_TCP;
                ce.fwmark = parse_fwmark(req())?;
            }
            Tag::Sched => {
                set_option(&mut options, OPTC_SCHEDULER)?;
                ce.sched = truncate(req(), SCHED_NAME_MAX);
            }
            Tag::Persistent => {
                set_option(&mut options, OPTC_PERSISTENT)?;
                ce.persistent = Some(parse_timeout(a, 1, MAX_TIMEOUT as i64)?);
            }
            Tag::Netmask => {
                set_option(&mut options, OPTC_NETMASK)?;
                ce.netmask = host_or_addr(req(), names)
                    .ok_or_else(|| fail("illegal virtual server persistent mask specified"))?;
            }
            Tag::Real => {
                set_option(&mut options, OPTC_SERVER)?;
                // ipvsadm parses into a copy of the service as it stands
                // now: the protocol names the port, and a missing port is
                // the service port *known so far* (so `-r` before `-t`
                // gives port 0, as in ipvsadm).
                match parse_service(req(), ce.proto, names)? {
                    Some(p) => {
                        ce.dest_addr = p.addr;
                        ce.dest_port = p.port.unwrap_or(ce.port);
                    }
                    None => return Err(fail("illegal real server address[:port] specified")),
                }
            }
            Tag::Ipip | Tag::Gate | Tag::Masq | Tag::FullNat => {
                set_option(&mut options, OPTC_FORWARD)?;
                ce.fwd = match tag {
                    Tag::Ipip => FwdMethod::Tunnel,
                    Tag::Gate => FwdMethod::Route,
                    Tag::Masq => FwdMethod::Masq,
                    _ => FwdMethod::FullNat,
                };
            }
            Tag::Weight => {
                set_option(&mut options, OPTC_WEIGHT)?;
                ce.weight = string_to_number(req(), 0, 65535).ok_or_else(|| fail("illegal weight specified"))? as u32;
            }
            Tag::UThreshold => {
                set_option(&mut options, OPTC_UTHRESHOLD)?;
                ce.u_threshold = string_to_number(req(), 0, i32::MAX as i64)
                    .ok_or_else(|| fail("illegal u_threshold specified"))? as u32;
            }
            Tag::LThreshold => {
                set_option(&mut options, OPTC_LTHRESHOLD)?;
                ce.l_threshold = string_to_number(req(), 0, i32::MAX as i64)
                    .ok_or_else(|| fail("illegal l_threshold specified"))? as u32;
            }
            Tag::Connection => set_option(&mut options, OPTC_CONNECTION)?,
            Tag::Numeric => {
                set_option(&mut options, OPTC_NUMERIC)?;
                ce.format.numeric = true;
            }
            Tag::McastInterface => {
                set_option(&mut options, OPTC_MCAST)?;
                // IP_VS_IFNAME_MAXLEN - 1, as ipvsadm's strncpy.
                ce.daemon.mcast_ifn = truncate(req(), 15);
            }
            Tag::SyncId => {
                set_option(&mut options, OPTC_SYNCID)?;
                ce.daemon.syncid =
                    string_to_number(req(), 0, 255).ok_or_else(|| fail("illegal syncid specified"))? as u8;
            }
            Tag::Timeout => set_option(&mut options, OPTC_TIMEOUT)?,
            Tag::Daemon => set_option(&mut options, OPTC_DAEMON)?,
            Tag::Stats => {
                set_option(&mut options, OPTC_STATS)?;
                ce.format.stats = true;
            }
            Tag::Rate => {
                set_option(&mut options, OPTC_RATE)?;
                ce.format.rate = true;
            }
            Tag::Thresholds => {
                set_option(&mut options, OPTC_THRESHOLDS)?;
                ce.format.thresholds = true;
            }
            Tag::PersistentConn => {
                set_option(&mut options, OPTC_PERSISTENTCONN)?;
                ce.format.persistent_conn = true;
            }
            Tag::NoSort => {
                set_option(&mut options, OPTC_NOSORT)?;
                ce.format.nosort = true;
            }
            // "Sort is the default, this is a no-op for compatibility"
            Tag::Sort => {}
            Tag::Exact => {
                set_option(&mut options, OPTC_EXACT)?;
                ce.format.exact = true;
            }
            Tag::Ipv6 => {
                if ce.fwmark == 0 {
                    // ipvsadm's message carries its own newline.
                    return Err(fail("-6 used before -f\n"));
                }
                return Err(unsupported("IPv6"));
            }
            Tag::Ops => {
                set_option(&mut options, OPTC_ONEPACKET)?;
                ce.ops = true;
            }
            Tag::Pe => {
                set_option(&mut options, OPTC_PERSISTENCE_ENGINE)?;
                ce.pe = Some(truncate(req(), PE_NAME_MAX));
            }
            Tag::SchedFlags => {
                set_option(&mut options, OPTC_SCHED_FLAGS)?;
                sched_flags_arg = truncate(req(), 127);
            }
            Tag::McastGroup => {
                set_option(&mut options, OPTC_MCAST_GROUP)?;
                let g = req();
                if g.contains(':') {
                    match g.parse::<Ipv6Addr>() {
                        Ok(x) if x.is_multicast() => ce.mcast_group = Some(x.into()),
                        _ => return Err(fail(format!("invalid IPv6 mcast-group `{g}'"))),
                    }
                } else {
                    match g.parse::<Ipv4Addr>() {
                        Ok(x) if x.is_multicast() => ce.mcast_group = Some(x.into()),
                        _ => return Err(fail(format!("invalid IPv4 mcast-group `{g}'"))),
                    }
                }
            }
            Tag::McastPort => {
                set_option(&mut options, OPTC_MCAST_PORT)?;
                ce.daemon.port =
                    Some(string_to_number(req(), 1, 65535).ok_or_else(|| fail("illegal mcast-port specified"))? as u16);
            }
            Tag::McastTtl => {
                set_option(&mut options, OPTC_MCAST_TTL)?;
                ce.daemon.ttl =
                    Some(string_to_number(req(), 1, 255).ok_or_else(|| fail("illegal mcast-ttl specified"))? as u8);
            }
            Tag::SyncMaxlen => {
                set_option(&mut options, OPTC_SYNC_MAXLEN)?;
                ce.daemon.sync_maxlen = Some(
                    string_to_number(req(), 1, 65535 - 20 - 8).ok_or_else(|| fail("illegal sync-maxlen specified"))?
                        as u32,
                );
            }
            Tag::TunInfo => set_option(&mut options, OPTC_TUN_INFO)?,
            Tag::TunType => {
                set_option(&mut options, OPTC_TUN_TYPE)?;
                ce.tun_type = match req() {
                    "ipip" => 0,
                    "gue" => 1,
                    "gre" => 2,
                    _ => return Err(fail("illegal tunnel type specified")),
                };
            }
            Tag::TunPort => {
                set_option(&mut options, OPTC_TUN_PORT)?;
                string_to_number(req(), 1, 65535).ok_or_else(|| fail("illegal tunnel port specified"))?;
            }
            Tag::TunNocsum => set_option(&mut options, OPTC_TUN_NOCSUM)?,
            Tag::TunCsum => set_option(&mut options, OPTC_TUN_CSUM)?,
            Tag::TunRemcsum => set_option(&mut options, OPTC_TUN_REMCSUM)?,
            Tag::Laddr => {
                set_option(&mut options, OPTC_LADDR)?;
                // DPVS runs the argument through parse_service() and only
                // wants the address (a `:port` is accepted and ignored).
                // An address that cannot be a packet's source is refused
                // too: it could never be used for SNAT.
                ce.laddr = match parse_service(req(), ce.proto, names)? {
                    Some(p) if usable_laddr(p.addr) => p.addr,
                    _ => return Err(fail("illegal local address specified")),
                };
            }
            // A second command (or -h/-v after the command): ipvsadm's
            // default case names the last word popt read.
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
            | Tag::ListMarks => {
                return Err(fail(format!("invalid option `{}'", popt.bad_option())));
            }
        }
    };

    if let Some(e) = popt_error {
        // ipvsadm prints popt's error and returns -1 from main: status 255.
        return Err(UsageError { message: format!("{}: {}", popt.bad_option(), e.text()), exit_code: 255 });
    }

    let cmd = ce.cmd.unwrap_or(Cmd::List);

    if cmd == Cmd::Timeout {
        match (popt.get_arg(), popt.get_arg(), popt.get_arg()) {
            (Some(a), Some(b), Some(c)) => {
                let max = MAX_TIMEOUT as i64;
                ce.timeouts = Timeouts {
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

    // `-b ""` is no -b at all in ipvsadm (it tests sched_flags_arg[0]).
    if !sched_flags_arg.is_empty() {
        ce.sched_flags = parse_sched_flags(&ce.sched, &sched_flags_arg)?;
    }

    generic_opt_check(cmd, options)?;

    if cmd == Cmd::Add || cmd == Cmd::Edit {
        if ce.fwmark == 0 && ce.port == 0 && ce.persistent.is_none() {
            return Err(fail("Zero port specified for non-persistent service"));
        }
        if ce.ops && ce.fwmark == 0 && ce.proto != IPPROTO_UDP {
            return Err(fail("One-Packet Scheduling is only for UDP virtual services"));
        }
        if ce.sched.is_empty() {
            ce.sched = DEFAULT_SCHEDULER.to_string();
        }
    }

    if cmd == Cmd::AddDest || cmd == Cmd::EditDest {
        // "The destination port must be equal to the service port if the
        // IP_VS_CONN_F_TUNNEL or IP_VS_CONN_F_DROUTE is set."
        if ce.fwmark == 0 && matches!(ce.fwd, FwdMethod::Tunnel | FwdMethod::Route) {
            ce.dest_port = ce.port;
        }
        let tun_opts = (1u64 << OPTC_TUN_TYPE)
            | (1u64 << OPTC_TUN_PORT)
            | (1u64 << OPTC_TUN_NOCSUM)
            | (1u64 << OPTC_TUN_CSUM)
            | (1u64 << OPTC_TUN_REMCSUM);
        if options & tun_opts != 0 && ce.fwd != FwdMethod::Tunnel {
            return Err(fail("Tunnel options conflict with forward method"));
        }
        tunnel_opt_check(ce.tun_type, options)?;
    }

    if (cmd == Cmd::AddLaddr || cmd == Cmd::DelLaddr) && ce.fwmark != 0 {
        return Err(fail("Local addresses (-z) are only for -t/-u services, not fwmark services"));
    }

    if cmd == Cmd::List {
        let has = |optc: usize| options & (1u64 << optc) != 0;
        let what = has(OPTC_CONNECTION) || has(OPTC_TIMEOUT) || has(OPTC_DAEMON);
        let numbers = has(OPTC_STATS) || has(OPTC_RATE) || has(OPTC_THRESHOLDS);
        if (what && numbers) || ((has(OPTC_TIMEOUT) || has(OPTC_DAEMON)) && has(OPTC_PERSISTENTCONN)) {
            return Err(fail("options conflicts in the list command"));
        }
    }

    // Everything ipvsadm itself would accept from here on; refuse what rvs
    // cannot represent rather than silently dropping it.
    if ce.proto == IPPROTO_SCTP {
        return Err(unsupported("SCTP"));
    }
    if ce.pe.is_some() {
        return Err(unsupported("A persistence engine (--pe)"));
    }
    if options & (1u64 << OPTC_TUN_INFO) != 0 {
        return Err(unsupported("--tun-info"));
    }
    if ce.tun_type != 0 {
        return Err(unsupported("A GUE or GRE tunnel"));
    }

    let key = ce.key();
    let dest = DestSpec {
        addr: ce.dest_addr,
        port: ce.dest_port,
        fwd: ce.fwd,
        weight: ce.weight,
        u_threshold: ce.u_threshold,
        l_threshold: ce.l_threshold,
    };
    let spec = || ServiceSpec {
        key,
        scheduler: ce.sched.clone(),
        persistent: ce.persistent,
        netmask: ce.netmask,
        sched_flags: ce.sched_flags.clone(),
        ops: ce.ops,
        // Local addresses have their own commands (-P/-Q); the daemon keeps
        // a service's addresses across -E.
        laddrs: vec![],
    };
    Ok(match cmd {
        Cmd::Add => Command::AddService(spec()),
        Cmd::Edit => Command::EditService(spec()),
        Cmd::Del => Command::DeleteService(key),
        Cmd::Flush => Command::Clear,
        Cmd::AddDest => Command::AddDest(key, dest),
        Cmd::EditDest => Command::EditDest(key, dest),
        Cmd::DelDest => Command::DeleteDest(key, dest.addr, dest.port),
        Cmd::List => {
            let has = |optc: usize| options & (1u64 << optc) != 0;
            // ipvsadm's order of precedence (only one can be set anyway).
            let what = if has(OPTC_CONNECTION) {
                ListWhat::Connections
            } else if has(OPTC_SERVICE) {
                ListWhat::Services(Some(key))
            } else if has(OPTC_TIMEOUT) {
                ListWhat::Timeout
            } else if has(OPTC_DAEMON) {
                ListWhat::Daemon
            } else {
                ListWhat::Services(None)
            };
            Command::List(what, ce.format)
        }
        Cmd::Zero => Command::Zero(if options & (1u64 << OPTC_SERVICE) != 0 { Some(key) } else { None }),
        Cmd::Timeout => Command::SetTimeout(ce.timeouts),
        Cmd::Save => Command::Save { numeric: ce.format.numeric },
        Cmd::Restore => Command::Restore,
        Cmd::StartDaemon => {
            let mut req = ce.daemon.clone();
            req.group = match ce.mcast_group {
                None => None,
                Some(std::net::IpAddr::V4(g)) => Some(g),
                Some(std::net::IpAddr::V6(_)) => return Err(unsupported("IPv6")),
            };
            Command::StartDaemon(req)
        }
        Cmd::StopDaemon => Command::StopDaemon(ce.daemon.role.clone()),
        Cmd::AddLaddr => Command::AddLaddr(key, ce.laddr),
        Cmd::DelLaddr => Command::DelLaddr(key, ce.laddr),
        Cmd::GetLaddr => Command::ListLaddr(if options & (1u64 << OPTC_SERVICE) != 0 { Some(key) } else { None }),
        // generic_opt_check() made the rule compulsory.
        Cmd::AddMark | Cmd::DelMark => {
            let rule = ce.mark_rule.take().ok_or_else(|| fail(BAD_MARK_RULE))?;
            if cmd == Cmd::AddMark {
                Command::AddMark(rule)
            } else {
                Command::DelMark(rule)
            }
        }
        Cmd::ListMarks => Command::ListMarks,
    })
}

/// ipvsadm's tunnel_opt_check() over tunnel_types_v_options.
fn tunnel_opt_check(tun_type: usize, options: u64) -> Result<(), UsageError> {
    const TUNNAMES: [&str; 3] = ["ipip", "gue", "gre"];
    const TUNOPTS: [usize; 4] = [OPTC_TUN_PORT, OPTC_TUN_NOCSUM, OPTC_TUN_CSUM, OPTC_TUN_REMCSUM];
    const TABLE: [&[u8; 4]; 3] = [b"xxxx", b"+111", b"x11x"];
    let row = TABLE[tun_type];
    let mut last = 0usize;
    let mut count = 0;
    for (j, &k) in TUNOPTS.iter().enumerate() {
        if options & (1u64 << k) == 0 {
            if row[j] == b'+' {
                return Err(fail(format!(
                    "You need to supply the '{}' option for the '{}' tunnel type",
                    OPTNAMES[k], TUNNAMES[tun_type]
                )));
            }
        } else {
            if row[j] == b'x' {
                return Err(fail(format!(
                    "Illegal '{}' option with the '{}' tunnel type",
                    OPTNAMES[k], TUNNAMES[tun_type]
                )));
            }
            if row[j] == b'1' {
                count += 1;
                if count == 1 {
                    last = k;
                    continue;
                }
                return Err(fail(format!(
                    "The option '{}' conflicts with the '{}' option in the '{}' tunnel type",
                    OPTNAMES[k], OPTNAMES[last], TUNNAMES[tun_type]
                )));
            }
        }
    }
    Ok(())
}

/// Split one line of a rules file into words the way ipvsadm -R reads it:
/// white space separates words, a word starting with `#` starts a comment,
/// double quotes group words (and are removed), and the word `ipvsadm` (or
/// `rvsadm`) is dropped so that files of full command lines also restore.
pub fn split_restore_line(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in line.chars() {
        if quoted {
            if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                in_word = true;
            }
            '#' if !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words.retain(|w| w != "ipvsadm" && w != PROGRAM);
    words
}

/// One line of an `ipvsadm-save` / `rvsadm -S` file: None for a line with
/// no words (blank or comment), else the command it stands for.
pub fn parse_restore_line(line: &str) -> Option<Result<Command, UsageError>> {
    parse_restore_line_with(line, &NameDb::system())
}

/// [`parse_restore_line`] with an explicit name database.
pub fn parse_restore_line_with(line: &str, names: &NameDb) -> Option<Result<Command, UsageError>> {
    let words = split_restore_line(line);
    if words.is_empty() {
        return None;
    }
    Some(match parse_with(&words, names) {
        // ipvsadm refuses -R while reading stdin ("avoid infinite loop").
        Ok(Command::Restore) => Err(tryhelp()),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> NameDb {
        NameDb::from_text(
            "http\t\t80/tcp\t\twww www-http\t# WorldWideWeb HTTP\n\
             http\t\t80/udp\n\
             https\t\t443/tcp\n\
             domain\t\t53/udp\n\
             ssh\t\t22/tcp\n",
            "127.0.0.1\tlocalhost\n10.1.1.1 web1.example web1\n",
        )
    }

    fn p(line: &str) -> Result<Command, UsageError> {
        let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse_with(&argv, &names())
    }

    fn err(line: &str) -> (String, i32) {
        match p(line) {
            Err(e) => (e.message, e.exit_code),
            Ok(c) => panic!("`{line}` parsed as {c:?}"),
        }
    }

    fn err2(line: &str) -> String {
        let (m, code) = err(line);
        assert_eq!(code, 2, "{line}: {m}");
        m
    }

    fn tcp(a: [u8; 4], port: u16) -> ServiceKey {
        ServiceKey::Addr { proto: IPPROTO_TCP, addr: Ipv4Addr::from(a), port }
    }

    fn udp(a: [u8; 4], port: u16) -> ServiceKey {
        ServiceKey::Addr { proto: IPPROTO_UDP, addr: Ipv4Addr::from(a), port }
    }

    fn spec(key: ServiceKey, sched: &str) -> ServiceSpec {
        ServiceSpec {
            key,
            scheduler: sched.into(),
            persistent: None,
            netmask: Ipv4Addr::BROADCAST,
            sched_flags: vec![],
            ops: false,
            laddrs: vec![],
        }
    }

    fn dest(a: [u8; 4], port: u16, fwd: FwdMethod, weight: u32) -> DestSpec {
        DestSpec { addr: Ipv4Addr::from(a), port, fwd, weight, u_threshold: 0, l_threshold: 0 }
    }

    fn list(what: ListWhat, f: impl FnOnce(&mut ListFormat)) -> Command {
        let mut fmt = ListFormat::default();
        f(&mut fmt);
        Command::List(what, fmt)
    }

    // ----- commands -----

    #[test]
    fn empty_argv_lists_everything() {
        assert_eq!(p("").unwrap(), list(ListWhat::Services(None), |_| {}));
    }

    #[test]
    fn add_service_defaults() {
        assert_eq!(
            p("-A -t 172.25.254.100:80 -s rr").unwrap(),
            Command::AddService(spec(tcp([172, 25, 254, 100], 80), "rr"))
        );
        // No -s: wlc.
        assert_eq!(p("-A -t 1.2.3.4:80").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "wlc")));
        assert_eq!(p("-E -u 1.2.3.4:53 -s sh").unwrap(), Command::EditService(spec(udp([1, 2, 3, 4], 53), "sh")));
        assert_eq!(p("-A -f 10").unwrap(), Command::AddService(spec(ServiceKey::Fwmark(10), "wlc")));
        assert_eq!(
            p("--add-service --tcp-service=1.2.3.4:80 --scheduler wrr").unwrap(),
            Command::AddService(spec(tcp([1, 2, 3, 4], 80), "wrr"))
        );
    }

    #[test]
    fn combined_short_options() {
        assert_eq!(p("-At 1.2.3.4:80 -s rr").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "rr")));
        assert_eq!(p("-A -t1.2.3.4:80 -srr").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "rr")));
        assert_eq!(p("-A -t=1.2.3.4:80").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "wlc")));
        assert_eq!(p("-Ln").unwrap(), list(ListWhat::Services(None), |f| f.numeric = true));
        assert_eq!(p("-lnc").unwrap(), list(ListWhat::Connections, |f| f.numeric = true));
        assert_eq!(p("-Sn").unwrap(), Command::Save { numeric: true });
        assert_eq!(p("-S").unwrap(), Command::Save { numeric: false });
    }

    #[test]
    fn persistent_optional_argument() {
        let mut s = spec(tcp([1, 2, 3, 4], 0), "rr");
        s.persistent = Some(300);
        assert_eq!(p("-A -t 1.2.3.4:0 -s rr -p").unwrap(), Command::AddService(s.clone()));
        assert_eq!(p("-A -t 1.2.3.4:0 -p -s rr").unwrap(), Command::AddService(s.clone()));
        s.persistent = Some(600);
        assert_eq!(p("-A -t 1.2.3.4:0 -s rr -p 600").unwrap(), Command::AddService(s.clone()));
        assert_eq!(p("-A -t 1.2.3.4:0 -s rr -p600").unwrap(), Command::AddService(s.clone()));
        assert_eq!(p("-A -t 1.2.3.4:0 -s rr --persistent=600").unwrap(), Command::AddService(s.clone()));
        assert_eq!(p("-A -t 1.2.3.4:0 -s rr --persistent 600").unwrap(), Command::AddService(s.clone()));
        // Without a port the service needs persistence.
        s.persistent = Some(300);
        assert_eq!(p("-A -t 1.2.3.4 -s rr -p").unwrap(), Command::AddService(s));
        assert_eq!(err2("-A -t 1.2.3.4 -s rr"), "Zero port specified for non-persistent service");
        assert_eq!(err2("-A -t 1.2.3.4:0"), "Zero port specified for non-persistent service");
        assert_eq!(err2("-A -t 1.2.3.4:80 -p 0"), "invalid timeout value `0' specified");
        assert_eq!(err2("-A -t 1.2.3.4:80 -p 2678401"), "invalid timeout value `2678401' specified");
        assert_eq!(err2("-A -t 1.2.3.4:80 -p rr"), "invalid timeout value `rr' specified");
    }

    #[test]
    fn netmask_ops_and_sched_flags() {
        let mut s = spec(tcp([1, 2, 3, 4], 80), "sh");
        s.persistent = Some(300);
        s.netmask = Ipv4Addr::new(255, 255, 255, 0);
        s.sched_flags = vec!["sh-fallback".into(), "sh-port".into()];
        assert_eq!(
            p("-A -t 1.2.3.4:80 -s sh -p -M 255.255.255.0 -b sh-port,sh-fallback").unwrap(),
            Command::AddService(s)
        );
        let mut s = spec(udp([1, 2, 3, 4], 53), "rr");
        s.ops = true;
        s.sched_flags = vec!["flag-1".into(), "flag-3".into()];
        assert_eq!(p("-A -u 1.2.3.4:53 -s rr -o --sched-flags flag-3,flag-1").unwrap(), Command::AddService(s));
        // sh-* flags are only for sh; the default scheduler counts.
        assert_eq!(err2("-A -t 1.2.3.4:80 -b sh-port"), "incompatible scheduler flag `sh-port'");
        assert_eq!(err2("-A -t 1.2.3.4:80 -s mh -b sh-port"), "incompatible scheduler flag `sh-port'");
        assert_eq!(err2("-A -t 1.2.3.4:80 -b bogus"), "invalid scheduler flag `bogus'");
        assert_eq!(err2("-A -t 1.2.3.4:80 -o"), "One-Packet Scheduling is only for UDP virtual services");
        assert_eq!(err2("-A -t 1.2.3.4:80 -M 300.1.1.1"), "illegal virtual server persistent mask specified");
        // ipvsadm -E without -s falls back to wlc too.
        assert_eq!(p("-E -f 3 -p 60").unwrap(), {
            let mut s = spec(ServiceKey::Fwmark(3), "wlc");
            s.persistent = Some(60);
            Command::EditService(s)
        });
    }

    #[test]
    fn delete_clear_zero_save_restore() {
        assert_eq!(p("-D -t 172.25.254.100:80").unwrap(), Command::DeleteService(tcp([172, 25, 254, 100], 80)));
        assert_eq!(p("--delete-service -f 7").unwrap(), Command::DeleteService(ServiceKey::Fwmark(7)));
        assert_eq!(p("-C").unwrap(), Command::Clear);
        assert_eq!(p("--clear").unwrap(), Command::Clear);
        assert_eq!(p("-Z").unwrap(), Command::Zero(None));
        assert_eq!(p("-Z -t 1.2.3.4:80").unwrap(), Command::Zero(Some(tcp([1, 2, 3, 4], 80))));
        assert_eq!(p("-R").unwrap(), Command::Restore);
        assert_eq!(p("--save --numeric").unwrap(), Command::Save { numeric: true });
        assert_eq!(p("-h").unwrap(), Command::Help);
        assert_eq!(p("--help --bogus").unwrap(), Command::Help);
        assert_eq!(p("-v").unwrap(), Command::Version);
        assert_eq!(p("--version").unwrap(), Command::Version);
    }

    #[test]
    fn real_servers() {
        let k = tcp([172, 25, 254, 100], 80);
        assert_eq!(
            p("-a -t 172.25.254.100:80 -r 192.168.1.10:80 -m").unwrap(),
            Command::AddDest(k, dest([192, 168, 1, 10], 80, FwdMethod::Masq, 1))
        );
        // Port mapping with NAT; missing port = service port.
        assert_eq!(
            p("-a -t 172.25.254.100:80 -r 192.168.1.10:8080 -m -w 0").unwrap(),
            Command::AddDest(k, dest([192, 168, 1, 10], 8080, FwdMethod::Masq, 0))
        );
        assert_eq!(
            p("-a -t 172.25.254.100:80 -r 192.168.1.10 -m").unwrap(),
            Command::AddDest(k, dest([192, 168, 1, 10], 80, FwdMethod::Masq, 1))
        );
        // Route is the default and forces the service port.
        assert_eq!(
            p("-a -t 172.25.254.100:80 -r 192.168.1.10:8080").unwrap(),
            Command::AddDest(k, dest([192, 168, 1, 10], 80, FwdMethod::Route, 1))
        );
        assert_eq!(
            p("-e -t 172.25.254.100:80 -r 192.168.1.10:81 -i -w 5 -x 100 -y 50").unwrap(),
            Command::EditDest(
                k,
                DestSpec { u_threshold: 100, l_threshold: 50, ..dest([192, 168, 1, 10], 80, FwdMethod::Tunnel, 5) }
            )
        );
        // FULLNAT keeps the port, like masquerading.
        assert_eq!(
            p("-a -t 172.25.254.100:80 -r 192.168.1.10:8080 --fullnat").unwrap(),
            Command::AddDest(k, dest([192, 168, 1, 10], 8080, FwdMethod::FullNat, 1))
        );
        // fwmark services: dest port 0 unless given.
        assert_eq!(
            p("-a -f 10 -r 192.168.39.17 -g").unwrap(),
            Command::AddDest(ServiceKey::Fwmark(10), dest([192, 168, 39, 17], 0, FwdMethod::Route, 1))
        );
        assert_eq!(
            p("-a -f 10 -r 192.168.39.17:443 -g").unwrap(),
            Command::AddDest(ServiceKey::Fwmark(10), dest([192, 168, 39, 17], 443, FwdMethod::Route, 1))
        );
        assert_eq!(
            p("-d -t 172.25.254.100:80 -r 192.168.1.10").unwrap(),
            Command::DeleteDest(k, Ipv4Addr::new(192, 168, 1, 10), 80)
        );
        assert_eq!(
            p("--delete-server --tcp-service 172.25.254.100:80 --real-server=192.168.1.10:90").unwrap(),
            Command::DeleteDest(k, Ipv4Addr::new(192, 168, 1, 10), 90)
        );
        // ipvsadm copies the service port known when -r is read.
        assert_eq!(
            p("-a -r 192.168.1.10 -m -t 172.25.254.100:80").unwrap(),
            Command::AddDest(k, dest([192, 168, 1, 10], 0, FwdMethod::Masq, 1))
        );
    }

    #[test]
    fn names_from_files() {
        assert_eq!(p("-A -t 1.2.3.4:http").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "wlc")));
        assert_eq!(p("-A -t 1.2.3.4:www").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "wlc")));
        assert_eq!(p("-A -u 1.2.3.4:domain").unwrap(), Command::AddService(spec(udp([1, 2, 3, 4], 53), "wlc")));
        // domain is only listed for udp here.
        assert_eq!(err2("-A -t 1.2.3.4:domain"), "illegal virtual server address[:port] specified");
        assert_eq!(p("-A -t web1:https").unwrap(), Command::AddService(spec(tcp([10, 1, 1, 1], 443), "wlc")));
        assert_eq!(
            p("-a -t localhost:ssh -r web1.example -m").unwrap(),
            Command::AddDest(tcp([127, 0, 0, 1], 22), dest([10, 1, 1, 1], 22, FwdMethod::Masq, 1))
        );
        // inet_aton's short forms.
        assert_eq!(p("-A -t 10.1:80").unwrap(), Command::AddService(spec(tcp([10, 0, 0, 1], 80), "wlc")));
        assert_eq!(inet_aton("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(inet_aton("010.0.0.1"), Some(Ipv4Addr::new(8, 0, 0, 1)));
        assert_eq!(inet_aton("1.2.3.256"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
        assert_eq!(inet_aton("09.1.1.1"), None);
        assert_eq!(inet_aton(""), None);
    }

    #[test]
    fn list_variants() {
        assert_eq!(p("-L").unwrap(), list(ListWhat::Services(None), |_| {}));
        assert_eq!(p("--list").unwrap(), list(ListWhat::Services(None), |_| {}));
        assert_eq!(p("-l -n").unwrap(), list(ListWhat::Services(None), |f| f.numeric = true));
        assert_eq!(
            p("-L -n --stats").unwrap(),
            list(ListWhat::Services(None), |f| {
                f.numeric = true;
                f.stats = true
            })
        );
        assert_eq!(
            p("-Ln --rate --exact --nosort --sort").unwrap(),
            list(ListWhat::Services(None), |f| {
                f.numeric = true;
                f.rate = true;
                f.exact = true;
                f.nosort = true
            })
        );
        assert_eq!(p("-L -X").unwrap(), list(ListWhat::Services(None), |f| f.exact = true));
        assert_eq!(p("-L --thresholds").unwrap(), list(ListWhat::Services(None), |f| f.thresholds = true));
        assert_eq!(p("-L --persistent-conn").unwrap(), list(ListWhat::Services(None), |f| f.persistent_conn = true));
        assert_eq!(p("-L -c --persistent-conn").unwrap(), list(ListWhat::Connections, |f| f.persistent_conn = true));
        assert_eq!(p("-L --timeout").unwrap(), list(ListWhat::Timeout, |_| {}));
        assert_eq!(p("-L --daemon").unwrap(), list(ListWhat::Daemon, |_| {}));
        assert_eq!(
            p("-Ln -t 1.2.3.4:80").unwrap(),
            list(ListWhat::Services(Some(tcp([1, 2, 3, 4], 80))), |f| f.numeric = true)
        );
        assert_eq!(p("-L -f 5").unwrap(), list(ListWhat::Services(Some(ServiceKey::Fwmark(5))), |_| {}));
    }

    #[test]
    fn set_timeouts() {
        assert_eq!(p("--set 900 120 300").unwrap(), Command::SetTimeout(Timeouts { tcp: 900, tcp_fin: 120, udp: 300 }));
        assert_eq!(p("--set 0 0 10").unwrap(), Command::SetTimeout(Timeouts { tcp: 0, tcp_fin: 0, udp: 10 }));
        assert_eq!(err2("--set 900 120"), "--set option requires 3 timeout values");
        assert_eq!(err2("--set"), "--set option requires 3 timeout values");
        assert_eq!(err2("--set 900 120 300 5"), "unexpected argument 5");
        assert_eq!(err2("--set 900 x 300"), "invalid timeout value `x' specified");
        assert_eq!(err2("--set 900 120 2678401"), "invalid timeout value `2678401' specified");
    }

    // ----- value errors -----

    #[test]
    fn value_errors() {
        assert_eq!(err2("-A -t 1.2.3.4:99999"), "illegal virtual server address[:port] specified");
        assert_eq!(err2("-A -t 80"), "illegal virtual server address[:port] specified");
        assert_eq!(err2("-A -t nosuchhost:80"), "illegal virtual server address[:port] specified");
        assert_eq!(err2("-A -t 1.2.3.4:"), "illegal virtual server address[:port] specified");
        assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8:x"), "illegal real server address[:port] specified");
        assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -w 65536"), "illegal weight specified");
        assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -w -1"), "illegal weight specified");
        assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -w abc"), "illegal weight specified");
        assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -x 2147483648"), "illegal u_threshold specified");
        assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -y q"), "illegal l_threshold specified");
        assert_eq!(err2("-A -f 0"), "invalid fwmark value `0' specified");
        assert_eq!(err2("-A -f 4294967296"), "invalid fwmark value `4294967296' specified");
        assert_eq!(err2("-A -f 1x"), "invalid fwmark value `1x' specified");
        assert_eq!(p("-A -f 4294967295").unwrap(), Command::AddService(spec(ServiceKey::Fwmark(u32::MAX), "wlc")));
        assert_eq!(p("-a -t 1.2.3.4:80 -r 5.6.7.8 -w 65535").unwrap(), {
            Command::AddDest(tcp([1, 2, 3, 4], 80), dest([5, 6, 7, 8], 80, FwdMethod::Route, 65535))
        });
    }

    // ----- option/command legality -----

    #[test]
    fn legality_table() {
        assert_eq!(err2("-A -s rr"), "You need to supply the 'service-address' option for the 'add-service' command");
        assert_eq!(err2("-E"), "You need to supply the 'service-address' option for the 'edit-service' command");
        assert_eq!(err2("-D"), "You need to supply the 'service-address' option for the 'delete-service' command");
        assert_eq!(
            err2("-a -t 1.2.3.4:80"),
            "You need to supply the 'real-server' option for the 'add-server' command"
        );
        assert_eq!(
            err2("-d -t 1.2.3.4:80"),
            "You need to supply the 'real-server' option for the 'delete-server' command"
        );
        assert_eq!(
            err2("-e -r 1.2.3.4"),
            "You need to supply the 'service-address' option for the 'edit-server' command"
        );
        assert_eq!(err2("-A -t 1.2.3.4:80 -n"), "Illegal 'numeric' option with the 'add-service' command");
        assert_eq!(err2("-A -t 1.2.3.4:80 -r 5.6.7.8"), "Illegal 'real-server' option with the 'add-service' command");
        assert_eq!(err2("-A -t 1.2.3.4:80 -w 3"), "Illegal 'weight' option with the 'add-service' command");
        assert_eq!(err2("-A -t 1.2.3.4:80 -m"), "Illegal 'forwarding-method' option with the 'add-service' command");
        assert_eq!(err2("-D -t 1.2.3.4:80 -s rr"), "Illegal 'scheduler' option with the 'delete-service' command");
        assert_eq!(err2("-C -n"), "Illegal 'numeric' option with the 'flush' command");
        assert_eq!(err2("-C -t 1.2.3.4:80"), "Illegal 'service-address' option with the 'flush' command");
        assert_eq!(err2("-L -s rr"), "Illegal 'scheduler' option with the 'list' command");
        assert_eq!(err2("-L -o"), "Illegal 'ops' option with the 'list' command");
        assert_eq!(
            err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -s rr"),
            "Illegal 'scheduler' option with the 'add-server' command"
        );
        assert_eq!(
            err2("-d -t 1.2.3.4:80 -r 5.6.7.8 -m"),
            "Illegal 'forwarding-method' option with the 'delete-server' command"
        );
        assert_eq!(err2("--set 1 2 3 -n"), "Illegal 'numeric' option with the 'set' command");
        assert_eq!(err2("-R -n"), "Illegal 'numeric' option with the 'restore' command");
        assert_eq!(err2("-S -c"), "Illegal 'connection' option with the 'save' command");
        assert_eq!(err2("-Z -n"), "Illegal 'numeric' option with the 'zero' command");
        assert_eq!(
            err2("-L -c -t 1.2.3.4:80"),
            "The option 'service-address' conflicts with the 'connection' option in the 'list' command"
        );
        assert_eq!(
            err2("-L --timeout --daemon"),
            "The option 'daemon' conflicts with the 'timeout' option in the 'list' command"
        );
        assert_eq!(
            err2("-L -c --timeout"),
            "The option 'timeout' conflicts with the 'connection' option in the 'list' command"
        );
        assert_eq!(err2("-L -c --stats"), "options conflicts in the list command");
        assert_eq!(err2("-L --timeout --rate"), "options conflicts in the list command");
        assert_eq!(err2("-L --daemon --persistent-conn"), "options conflicts in the list command");
        // The first violation in option order wins.
        assert_eq!(err2("-D -n -s rr"), "Illegal 'numeric' option with the 'delete-service' command");
    }

    #[test]
    fn repeated_options_and_commands() {
        assert_eq!(err2("-A -t 1.2.3.4:80 -t 1.2.3.4:81"), "multiple 'service-address' options specified");
        assert_eq!(err2("-A -t 1.2.3.4:80 -f 3"), "multiple 'service-address' options specified");
        assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -m -g"), "multiple 'forwarding-method' options specified");
        assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -m --fullnat"), "multiple 'forwarding-method' options specified");
        assert_eq!(err2("-Lnn"), "multiple 'numeric' options specified");
        assert_eq!(err2("-L --stats --stats"), "multiple 'stats' options specified");
        // A second command: ipvsadm's popt loop reports it as an invalid
        // option naming the word it came from.
        assert_eq!(err2("-A -E -t 1.2.3.4:80"), "invalid option `-E'");
        assert_eq!(err2("-LZ"), "invalid option `-LZ'");
        assert_eq!(err2("-L -h"), "invalid option `-h'");
        assert_eq!(err2("-L --start-daemon master"), "invalid option `master'");
    }

    #[test]
    fn leftovers_and_popt_errors() {
        assert_eq!(err2("-L foo"), "unexpected argument foo");
        assert_eq!(err2("-A -t 1.2.3.4:80 rr"), "unexpected argument rr");
        assert_eq!(err2("-C -- -n"), "unexpected argument -n");
        assert_eq!(err2("-C -"), "unexpected argument -");
        assert_eq!(err("-L --foo"), ("--foo: unknown option".to_string(), 255));
        assert_eq!(err("-Lq"), ("-Lq: unknown option".to_string(), 255));
        assert_eq!(err("-A -t"), ("-t: missing argument".to_string(), 255));
        assert_eq!(err("-L --numeric=yes"), ("--numeric=yes: option does not take an argument".to_string(), 255));
        // A fail() while reading options comes before a later popt error.
        assert_eq!(err2("-A -t 1.2.3.4:99999 --foo"), "illegal virtual server address[:port] specified");
        // Errors while reading options come before leftovers.
        assert_eq!(err("-L foo --foo"), ("--foo: unknown option".to_string(), 255));
        let tryhelp = "Try `rvsadm -h' or 'rvsadm --help' for more information.".to_string();
        assert_eq!(err("--foo"), (tryhelp.clone(), 255));
        assert_eq!(err("-n -L"), (tryhelp.clone(), 255));
        assert_eq!(err("foo"), (tryhelp.clone(), 255));
        assert_eq!(err("-t 1.2.3.4:80 -A"), (tryhelp, 255));
    }

    #[test]
    fn unsupported_features() {
        assert_eq!(err2("-A -t [::1]:80"), "IPv6 is not supported by rvs");
        assert_eq!(err2("-A -t ::1"), "IPv6 is not supported by rvs");
        assert_eq!(err2("-A -t 1.2.3.4:80 -6"), "-6 used before -f\n");
        assert_eq!(err2("-A -f 1 -6"), "IPv6 is not supported by rvs");
        assert_eq!(err2("-A --sctp-service 1.2.3.4:80"), "SCTP is not supported by rvs");
        assert_eq!(err2("-A -t 1.2.3.4:80 --pe sip"), "A persistence engine (--pe) is not supported by rvs");
        assert_eq!(err2("--start-daemon master --mcast-group ff02::81"), "IPv6 is not supported by rvs");
        assert_eq!(err2("--start-daemon foo"), "illegal start-daemon parameter specified");
        assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 --tun-type gue"), "Tunnel options conflict with forward method");
        assert_eq!(
            err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gue"),
            "You need to supply the 'tun-port' option for the 'gue' tunnel type"
        );
        assert_eq!(
            err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-port 5"),
            "Illegal 'tun-port' option with the 'ipip' tunnel type"
        );
        assert_eq!(
            err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gre"),
            "A GUE or GRE tunnel is not supported by rvs"
        );
        assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type vxlan"), "illegal tunnel type specified");
        assert_eq!(
            p("-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type ipip").unwrap(),
            Command::AddDest(tcp([1, 2, 3, 4], 80), dest([5, 6, 7, 8], 80, FwdMethod::Tunnel, 1))
        );
        assert_eq!(err2("-L --tun-info"), "--tun-info is not supported by rvs");
        // --syncid is legal (and meaningless) with -L in ipvsadm.
        assert_eq!(p("-L --syncid 3").unwrap(), list(ListWhat::Services(None), |_| {}));
    }

    // ----- restore lines -----

    #[test]
    fn restore_lines() {
        let n = names();
        assert!(parse_restore_line_with("", &n).is_none());
        assert!(parse_restore_line_with("   \t ", &n).is_none());
        assert!(parse_restore_line_with("# saved by rvsadm", &n).is_none());
        assert!(parse_restore_line_with("  # indented comment", &n).is_none());
        assert!(parse_restore_line_with("ipvsadm", &n).is_none());
        assert_eq!(
            parse_restore_line_with("-A -t 172.25.254.100:80 -s rr", &n).unwrap().unwrap(),
            Command::AddService(spec(tcp([172, 25, 254, 100], 80), "rr"))
        );
        assert_eq!(
            parse_restore_line_with("ipvsadm -A -t 1.2.3.4:80 -s \"rr\"  # web\r", &n).unwrap().unwrap(),
            Command::AddService(spec(tcp([1, 2, 3, 4], 80), "rr"))
        );
        assert_eq!(split_restore_line("-a \"x y\" z\"w\""), vec!["-a", "x y", "zw"]);
        assert_eq!(parse_restore_line_with("-R", &n).unwrap().unwrap_err().exit_code, 255);
        assert_eq!(
            parse_restore_line_with("-A -t 1.2.3.4:80 -w 1", &n).unwrap().unwrap_err().message,
            "Illegal 'weight' option with the 'add-service' command"
        );
    }

    // ----- DPVS's local address commands -----

    #[test]
    fn laddr_commands() {
        let k = tcp([198, 18, 0, 100], 80);
        let la = Ipv4Addr::new(198, 18, 2, 100);
        assert_eq!(p("-P -t 198.18.0.100:80 -z 198.18.2.100").unwrap(), Command::AddLaddr(k, la));
        assert_eq!(
            p("--add-laddr --tcp-service 198.18.0.100:80 --laddr=198.18.2.100").unwrap(),
            Command::AddLaddr(k, la)
        );
        // Options in any order, clustered like any short option.
        assert_eq!(p("-Pz 198.18.2.100 -t198.18.0.100:80").unwrap(), Command::AddLaddr(k, la));
        assert_eq!(p("-Q -t 198.18.0.100:80 -z 198.18.2.100").unwrap(), Command::DelLaddr(k, la));
        assert_eq!(
            p("--del-laddr -u 1.2.3.4:domain --laddr 10.0.0.1").unwrap(),
            Command::DelLaddr(udp([1, 2, 3, 4], 53), Ipv4Addr::new(10, 0, 0, 1))
        );
        // A host name from /etc/hosts; a port (as DPVS's parse_service
        // allows) is ignored.
        assert_eq!(p("-P -t 198.18.0.100:80 -z web1").unwrap(), Command::AddLaddr(k, Ipv4Addr::new(10, 1, 1, 1)));
        assert_eq!(p("-P -t 198.18.0.100:80 -z 198.18.2.100:1234").unwrap(), Command::AddLaddr(k, la));
        // A persistent all-ports service is a service like any other.
        assert_eq!(p("-P -t 198.18.0.100 -z 198.18.2.100").unwrap(), Command::AddLaddr(tcp([198, 18, 0, 100], 0), la));
        assert_eq!(p("-G").unwrap(), Command::ListLaddr(None));
        assert_eq!(p("--get-laddr").unwrap(), Command::ListLaddr(None));
        assert_eq!(p("-G -t 198.18.0.100:80").unwrap(), Command::ListLaddr(Some(k)));
        assert_eq!(p("-Gt 198.18.0.100:http").unwrap(), Command::ListLaddr(Some(k)));
        // --fullnat is a forwarding method for -a/-e.
        assert_eq!(
            p("-e -t 198.18.0.100:80 -r 10.0.0.9:8080 --fullnat -w 3").unwrap(),
            Command::EditDest(k, dest([10, 0, 0, 9], 8080, FwdMethod::FullNat, 3))
        );
    }

    #[test]
    fn laddr_errors() {
        assert_eq!(err2("-P -t 198.18.0.100:80"), "You need to supply the 'laddr' option for the 'add-laddr' command");
        assert_eq!(err2("-Q -t 198.18.0.100:80"), "You need to supply the 'laddr' option for the 'del-laddr' command");
        // The table is checked in option order: the service comes first.
        assert_eq!(
            err2("-P -z 198.18.2.100"),
            "You need to supply the 'service-address' option for the 'add-laddr' command"
        );
        assert_eq!(err2("-Q"), "You need to supply the 'service-address' option for the 'del-laddr' command");
        assert_eq!(err2("-G -z 198.18.2.100"), "Illegal 'laddr' option with the 'get-laddr' command");
        assert_eq!(err2("-G -n"), "Illegal 'numeric' option with the 'get-laddr' command");
        assert_eq!(
            err2("-P -t 1.2.3.4:80 -z 10.0.0.1 -s rr"),
            "Illegal 'scheduler' option with the 'add-laddr' command"
        );
        assert_eq!(
            err2("-Q -t 1.2.3.4:80 -z 10.0.0.1 -r 10.0.0.2"),
            "Illegal 'real-server' option with the 'del-laddr' command"
        );
        // -z with every other command.
        for (cmd, name) in [
            ("-A -t 1.2.3.4:80", "add-service"),
            ("-E -t 1.2.3.4:80", "edit-service"),
            ("-D -t 1.2.3.4:80", "delete-service"),
            ("-C", "flush"),
            ("-L", "list"),
            ("-a -t 1.2.3.4:80 -r 10.0.0.2 --fullnat", "add-server"),
            ("-d -t 1.2.3.4:80 -r 10.0.0.2", "delete-server"),
            ("-e -t 1.2.3.4:80 -r 10.0.0.2", "edit-server"),
            ("--set 1 2 3", "set"),
            ("-R", "restore"),
            ("-S", "save"),
            ("-Z", "zero"),
        ] {
            assert_eq!(
                err2(&format!("{cmd} -z 10.0.0.1")),
                format!("Illegal 'laddr' option with the '{name}' command")
            );
        }
        assert_eq!(err2("-P -t 1.2.3.4:80 -z 10.0.0.1 -z 10.0.0.2"), "multiple 'laddr' options specified");
        for bad in ["nosuchhost", "80", "", "10.0.0.1:x", "1.2.3.256", "0.0.0.0", "255.255.255.255", "224.0.0.1"] {
            let argv: Vec<String> = ["-P", "-t", "1.2.3.4:80", "-z", bad].iter().map(|s| s.to_string()).collect();
            let e = parse_with(&argv, &names()).unwrap_err();
            assert_eq!((e.message.as_str(), e.exit_code), ("illegal local address specified", 2), "-z {bad:?}");
        }
        assert_eq!(err2("-P -t 1.2.3.4:80 -z ::1"), "IPv6 is not supported by rvs");
        assert_eq!(err("-P -t 1.2.3.4:80 -z"), ("-z: missing argument".to_string(), 255));
        // fwmark services have no local addresses.
        let fwm = "Local addresses (-z) are only for -t/-u services, not fwmark services";
        assert_eq!(err2("-P -f 5 -z 10.0.0.1"), fwm);
        assert_eq!(err2("-Q -f 5 -z 10.0.0.1"), fwm);
        assert_eq!(err2("-P --sctp-service 1.2.3.4:80 -z 10.0.0.1"), "SCTP is not supported by rvs");
        // A second command, and -z before the command.
        assert_eq!(err2("-P -G -t 1.2.3.4:80"), "invalid option `-G'");
        assert_eq!(err2("-A -t 1.2.3.4:80 -Q"), "invalid option `-Q'");
        assert_eq!(
            err("-z 10.0.0.1 -P"),
            ("Try `rvsadm -h' or 'rvsadm --help' for more information.".to_string(), 255)
        );
    }

    #[test]
    fn laddr_restore_lines() {
        let n = names();
        assert_eq!(
            parse_restore_line_with("-P -t 198.18.0.100:80 -z 198.18.2.101", &n).unwrap().unwrap(),
            Command::AddLaddr(tcp([198, 18, 0, 100], 80), Ipv4Addr::new(198, 18, 2, 101))
        );
        assert_eq!(
            parse_restore_line_with("ipvsadm -P -t localhost:http -z web1 # snat", &n).unwrap().unwrap(),
            Command::AddLaddr(tcp([127, 0, 0, 1], 80), Ipv4Addr::new(10, 1, 1, 1))
        );
    }

    // ----- rvs's mark rules -----

    fn mark(mark: u32, proto: u8, a: [u8; 4], prefix: u8, ports: &[(u16, u16)]) -> MarkRule {
        MarkRule { mark, proto, addr: Ipv4Addr::from(a), prefix, ports: ports.to_vec() }
    }

    #[test]
    fn mark_commands() {
        assert_eq!(
            p("--add-mark 66 -t 198.18.1.100:80,443").unwrap(),
            Command::AddMark(mark(66, IPPROTO_TCP, [198, 18, 1, 100], 32, &[(80, 80), (443, 443)]))
        );
        // Ranges, a prefix, UDP; the long forms and `=`.
        assert_eq!(
            p("--add-mark=7 --udp-service=10.0.0.0/8:53,8000-8100,9000-9000").unwrap(),
            Command::AddMark(mark(7, IPPROTO_UDP, [10, 0, 0, 0], 8, &[(53, 53), (8000, 8100), (9000, 9000)]))
        );
        // No ports: any port. Hex marks (iptables' --set-mark), any-proto.
        assert_eq!(
            p("--add-mark 0x42 --any-proto 198.18.1.0/24").unwrap(),
            Command::AddMark(mark(66, 0, [198, 18, 1, 0], 24, &[]))
        );
        assert_eq!(
            p("--add-mark 0XfFfFfFfF -u 1.2.3.4").unwrap(),
            Command::AddMark(mark(u32::MAX, IPPROTO_UDP, [1, 2, 3, 4], 32, &[]))
        );
        assert_eq!(
            p("--add-mark 4294967295 --any-proto 0.0.0.0/0:0-65535").unwrap(),
            Command::AddMark(mark(u32::MAX, 0, [0, 0, 0, 0], 0, &[(0, 65535)]))
        );
        // Like iptables, the address is reduced to its network.
        assert_eq!(
            p("--add-mark 5 -t 198.18.1.100/24:80").unwrap(),
            Command::AddMark(mark(5, IPPROTO_TCP, [198, 18, 1, 0], 24, &[(80, 80)]))
        );
        // Host names from /etc/hosts, service names for single ports
        // (TCP's, then UDP's for --any-proto), duplicates kept in order.
        assert_eq!(
            p("--add-mark 9 -t web1:https,http,443").unwrap(),
            Command::AddMark(mark(9, IPPROTO_TCP, [10, 1, 1, 1], 32, &[(443, 443), (80, 80), (443, 443)]))
        );
        assert_eq!(
            p("--add-mark 9 --any-proto localhost/32:domain,ssh").unwrap(),
            Command::AddMark(mark(9, 0, [127, 0, 0, 1], 32, &[(53, 53), (22, 22)]))
        );
        // Options in any order; the rule before the mark is not possible
        // (the command comes first), but -t may be anywhere after it.
        assert_eq!(
            p("--del-mark 66 -t 198.18.1.100/32:80,443").unwrap(),
            Command::DelMark(mark(66, IPPROTO_TCP, [198, 18, 1, 100], 32, &[(80, 80), (443, 443)]))
        );
        assert_eq!(
            p("--del-mark 0x10 --any-proto 1.2.3.4:1-2").unwrap(),
            Command::DelMark(mark(16, 0, [1, 2, 3, 4], 32, &[(1, 2)]))
        );
        assert_eq!(p("--list-marks").unwrap(), Command::ListMarks);
    }

    #[test]
    fn mark_errors() {
        for bad in ["0", "0x0", "0x", "-1", "4294967296", "0x100000000", "x", "", "1.5", "0x1g"] {
            let argv: Vec<String> = ["--add-mark", bad, "-t", "1.2.3.4"].iter().map(|s| s.to_string()).collect();
            let e = parse_with(&argv, &names()).unwrap_err();
            assert_eq!(
                (e.message, e.exit_code),
                (format!("invalid fwmark value `{bad}' specified"), 2),
                "--add-mark {bad:?}"
            );
        }
        assert_eq!(err2("--del-mark 0 -t 1.2.3.4"), "invalid fwmark value `0' specified");
        let bad_rule = "illegal mark rule address[/prefix][:ports] specified";
        for bad in [
            "",
            "80",
            "nosuchhost",
            "1.2.3.256",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "1.2.3.4/x",
            "1.2.3.4/8/8",
            "1.2.3.4:",
            "/8",
        ] {
            let argv: Vec<String> = ["--add-mark", "1", "-t", bad].iter().map(|s| s.to_string()).collect();
            let e = parse_with(&argv, &names()).unwrap_err();
            assert_eq!((e.message.as_str(), e.exit_code), (bad_rule, 2), "-t {bad:?}");
        }
        let bad_range = "illegal port range specified";
        for bad in [
            "1.2.3.4:90-80",
            "1.2.3.4:80,",
            "1.2.3.4:,80",
            "1.2.3.4:65536",
            "1.2.3.4:1-65536",
            "1.2.3.4:-5",
            "1.2.3.4:5-",
            "1.2.3.4:1-2-3",
            "1.2.3.4:+80",
            "1.2.3.4:nosuchport",
            "1.2.3.4:http-https",
            "1.2.3.4:domain",
        ] {
            let argv: Vec<String> = ["--add-mark", "1", "-t", bad].iter().map(|s| s.to_string()).collect();
            let e = parse_with(&argv, &names()).unwrap_err();
            assert_eq!((e.message.as_str(), e.exit_code), (bad_range, 2), "-t {bad:?}");
        }
        assert_eq!(err2("--add-mark 1 --any-proto 1.2.3.4:80-79"), bad_range);
        assert_eq!(err2("--add-mark 66"), "You need to supply the 'service-address' option for the 'add-mark' command");
        assert_eq!(err2("--del-mark 66"), "You need to supply the 'service-address' option for the 'del-mark' command");
        assert_eq!(err2("--add-mark 66 -t 1.2.3.4 -u 1.2.3.4"), "multiple 'service-address' options specified");
        assert_eq!(
            err2("--add-mark 66 --any-proto 1.2.3.4 -t 1.2.3.4"),
            "multiple 'service-address' options specified"
        );
        // Every other option is illegal.
        for (opt, name) in [
            ("-n", "numeric"),
            ("-s rr", "scheduler"),
            ("-p", "persistent"),
            ("-r 10.0.0.1", "real-server"),
            ("-m", "forwarding-method"),
            ("-w 1", "weight"),
            ("-z 10.0.0.1", "laddr"),
            ("--stats", "stats"),
        ] {
            assert_eq!(
                err2(&format!("--add-mark 66 -t 1.2.3.4 {opt}")),
                format!("Illegal '{name}' option with the 'add-mark' command")
            );
            assert_eq!(
                err2(&format!("--del-mark 66 -t 1.2.3.4 {opt}")),
                format!("Illegal '{name}' option with the 'del-mark' command")
            );
            assert_eq!(
                err2(&format!("--list-marks {opt}")),
                format!("Illegal '{name}' option with the 'list-marks' command")
            );
        }
        assert_eq!(
            err2("--list-marks -t 1.2.3.4:80"),
            "Illegal 'service-address' option with the 'list-marks' command"
        );
        assert_eq!(
            err2("--list-marks --any-proto 1.2.3.4"),
            "Illegal 'service-address' option with the 'list-marks' command"
        );
        assert_eq!(err2("--add-mark 66 -f 5"), "Illegal 'fwmark-service' option with the 'add-mark' command");
        assert_eq!(err2("--del-mark 66 -f 5"), "Illegal 'fwmark-service' option with the 'del-mark' command");
        // --any-proto belongs to the mark commands only.
        for (cmd, name) in [
            ("-A", "add-service"),
            ("-E", "edit-service"),
            ("-D", "delete-service"),
            ("-a -r 10.0.0.1", "add-server"),
            ("-P -z 10.0.0.1", "add-laddr"),
            ("-G", "get-laddr"),
            ("-Z", "zero"),
            ("-L", "list"),
        ] {
            assert_eq!(
                err2(&format!("{cmd} --any-proto 1.2.3.4")),
                format!("Illegal 'any-proto' option with the '{name}' command")
            );
        }
        assert_eq!(err2("--add-mark 66 -t 1.2.3.4 x"), "unexpected argument x");
        assert_eq!(err2("--list-marks x"), "unexpected argument x");
        assert_eq!(err2("--add-mark 66 -t ::1"), "IPv6 is not supported by rvs");
        assert_eq!(err2("--add-mark 66 --sctp-service 1.2.3.4"), "SCTP is not supported by rvs");
        // A second command; the command's missing mark; a rule first.
        assert_eq!(err2("--add-mark 66 -t 1.2.3.4 -L"), "invalid option `-L'");
        assert_eq!(err2("-L --list-marks"), "invalid option `--list-marks'");
        assert_eq!(err2("-A -t 1.2.3.4:80 --del-mark 5"), "invalid option `5'");
        let tryhelp = "Try `rvsadm -h' or 'rvsadm --help' for more information.".to_string();
        assert_eq!(err("--add-mark"), (tryhelp.clone(), 255));
        assert_eq!(err("--any-proto 1.2.3.4 --add-mark 5"), (tryhelp, 255));
        assert_eq!(err("--add-mark 66 --any-proto"), ("--any-proto: missing argument".to_string(), 255));
        assert_eq!(
            err("--list-marks=1"),
            ("Try `rvsadm -h' or 'rvsadm --help' for more information.".to_string(), 255)
        );
    }

    #[test]
    fn mark_restore_lines() {
        let n = names();
        assert_eq!(
            parse_restore_line_with("--add-mark 66 -t 198.18.1.100/32:80,443", &n).unwrap().unwrap(),
            Command::AddMark(mark(66, IPPROTO_TCP, [198, 18, 1, 100], 32, &[(80, 80), (443, 443)]))
        );
        assert_eq!(
            parse_restore_line_with("rvsadm --add-mark 7 --any-proto 10.0.0.0/8  # all of 10/8", &n).unwrap().unwrap(),
            Command::AddMark(mark(7, 0, [10, 0, 0, 0], 8, &[]))
        );
        assert_eq!(
            parse_restore_line_with("--add-mark 7 -u 10.0.0.0/8:2-1", &n).unwrap().unwrap_err().message,
            "illegal port range specified"
        );
    }

    #[test]
    fn usage_error_display() {
        let e = fail("illegal weight specified");
        assert_eq!(e.to_string(), "illegal weight specified");
        assert_eq!(e.exit_code, 2);
    }
}
