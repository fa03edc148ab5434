//! What rvsadm adds to ipvsadm's command line beyond ipvsadm's option table: rvs's own
//! commands (status and HA controls of a director that has no /proc and no sysctl tree), and
//! rvsadm's own options, which say where the daemon is. Both tables are documented by
//! [`help`], which `rvsadm -h` prints after ipvsadm's text.
//!
//! An rvs command stands alone as the first word, with its argument if it takes one (and
//! `--capture` with its own options, `parse_capture`); it is
//! matched before ipvsadm's parser, so nothing here changes what an ipvsadm line means, and a
//! rules file (`-R`) holds ipvsadm's commands only. rvsadm's own options come before
//! everything else and never reach the daemon.

use super::error::UsageError;
use crate::api::command::Command;
use std::fmt::Write as _;

/// The config rvsadm reads its socket from when `--config` names none.
pub const DEFAULT_CONFIG: &str = "/etc/rvs/rvs.toml";

/// One rvs command: `--NAME` alone, or `--NAME [ARG]` for those with an argument.
struct RvsCommand {
    name: &'static str,
    /// The argument's synopsis in the help, and its description in the error for a second one.
    arg: Option<(&'static str, &'static str)>,
    help: &'static str,
    build: fn(Option<String>) -> Command,
}

static RVS_COMMANDS: &[RvsCommand] = &[
    RvsCommand {
        name: "counters",
        arg: None,
        help: "the data plane's counters (drops by reason)",
        build: |_| Command::Counters,
    },
    RvsCommand { name: "checks", arg: None, help: "the health checks' states", build: |_| Command::Checks },
    RvsCommand {
        name: "neighbours",
        arg: None,
        help: "the poll loops' ARP entries and their states",
        build: |_| Command::Neighbours,
    },
    RvsCommand {
        name: "announced",
        arg: None,
        help: "the VIPs announced to the network, and why",
        build: |_| Command::Announced,
    },
    RvsCommand {
        name: "reload",
        arg: None,
        help: "re-read the config file (refused whole if bad)",
        build: |_| Command::Reload,
    },
    RvsCommand {
        name: "role",
        arg: Some(("[master|backup]", "master or backup")),
        help: "print or set the HA role",
        build: Command::Role,
    },
    RvsCommand {
        name: "sysctl",
        arg: Some(("[name[=value]]", "NAME or NAME=VALUE")),
        help: "print or set IPVS's sysctls",
        build: Command::Sysctl,
    },
    RvsCommand {
        name: "proc",
        arg: Some(("name", "one name of /proc/net")),
        help: "the kernel's /proc/net/NAME text (ip_vs...)",
        build: Command::Proc,
    },
];

/// rvs's own command, if `argv` is one. A command without argument ignores the words after it;
/// one with an optional argument takes at most one (exit 2 for more).
pub fn parse_rvs_command(argv: &[String]) -> Option<Result<Command, UsageError>> {
    let first = argv.first()?.strip_prefix("--")?;
    if first == "capture" {
        return Some(parse_capture(&argv[1..]));
    }
    let rc = RVS_COMMANDS.iter().find(|rc| rc.name == first)?;
    Some(match (rc.arg, &argv[1..]) {
        (None, _) => Ok((rc.build)(None)),
        (Some(_), []) => Ok((rc.build)(None)),
        (Some(_), [a]) => Ok((rc.build)(Some(a.clone()))),
        (Some((_, what)), _) => Err(UsageError {
            message: format!("rvsadm: --{} takes at most one argument: {what}", rc.name),
            exit_code: 2,
            exits: true,
        }),
    })
}

/// `--capture IFACE -w FILE [--count N] [--filter EXPR]`, the options in any order after
/// IFACE, each once (`--count=N` and `--filter=EXPR` too). Every refusal exits 2.
fn parse_capture(args: &[String]) -> Result<Command, UsageError> {
    let err = |m: String| UsageError { message: format!("rvsadm: --capture: {m}"), exit_code: 2, exits: true };
    let (iface, mut rest) = match args.split_first() {
        Some((i, rest)) if !i.starts_with('-') => (i.clone(), rest),
        _ => return Err(err("IFACE is required: --capture IFACE -w FILE [--count N] [--filter EXPR]".into())),
    };
    let (mut file, mut count, mut filter) = (None, None, None);
    while let Some((word, after)) = rest.split_first() {
        let (name, inline) = match word.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (word.as_str(), None),
        };
        let (value, after) = match (inline, after.split_first()) {
            (Some(v), _) => (v, after),
            (None, Some((v, after))) => (v.clone(), after),
            (None, None) => return Err(err(format!("{name} needs a value"))),
        };
        let slot = match name {
            "-w" => &mut file,
            "--count" => &mut count,
            "--filter" => &mut filter,
            _ => return Err(err(format!("unknown option '{word}'"))),
        };
        if slot.replace(value).is_some() {
            return Err(err(format!("{name} given twice")));
        }
        rest = after;
    }
    let file = file.ok_or_else(|| err("-w FILE is required (a pcap file; - for standard output)".into()))?;
    let count = match count {
        None => None,
        Some(c) => match c.parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(err(format!("--count '{c}' is not a positive number"))),
        },
    };
    Ok(Command::Capture(crate::api::command::CaptureSpec { iface, file, count, filter }))
}

/// rvsadm's own options: where to find the daemon.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// `--socket PATH` or `--socket=PATH`
    pub socket: Option<String>,
    /// `--config FILE`: the config whose `[admin] socket` to use.
    pub config: Option<String>,
}

/// Take rvsadm's own options from the front of `argv`, leaving the command line for the daemon.
/// An option missing its argument is left in place, for the parser to refuse.
pub fn take_client_options(argv: &mut Vec<String>) -> ClientOptions {
    let mut opts = ClientOptions::default();
    loop {
        match argv.first().map(String::as_str) {
            Some("--socket") if argv.len() > 1 => {
                opts.socket = Some(argv[1].clone());
                argv.drain(..2);
            }
            Some(a) if a.starts_with("--socket=") => {
                opts.socket = Some(a["--socket=".len()..].to_string());
                argv.remove(0);
            }
            Some("--config") if argv.len() > 1 => {
                opts.config = Some(argv[1].clone());
                argv.drain(..2);
            }
            _ => return opts,
        }
    }
}

/// The help block for all of the above, in the layout of ipvsadm's "Daemon Options".
pub fn help() -> String {
    let mut s = String::from("rvs Commands (alone on the command line):\n");
    for rc in RVS_COMMANDS {
        let synopsis = match rc.arg {
            None => format!("--{}", rc.name),
            Some((arg, _)) => format!("--{} {arg}", rc.name),
        };
        let _ = writeln!(s, "  {synopsis:<36}{}", rc.help);
    }
    let _ = writeln!(s, "  {:<36}{}", "--capture iface -w file", "frames in and out of IFACE (or any), to");
    let _ = writeln!(s, "  {:<36}{}", "    [--count n] [--filter expr]", "a pcap file (- for stdout); tcpdump filters");
    s.push_str("rvsadm Options (before the command):\n");
    let _ = writeln!(s, "  {:<36}{}", "--socket path", "rvs's admin socket (else $RVS_SOCKET,");
    let _ = writeln!(s, "  {:<36}{}", "", "else the [admin] socket of --config)");
    let _ = writeln!(s, "  {:<36}{}", "--config file", format!("config file (default={DEFAULT_CONFIG})"));
    s
}
