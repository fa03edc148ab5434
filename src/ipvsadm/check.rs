//! From collected options to a [`Command`]: ipvsadm's checks after parse_options() (the
//! option legality of `commands_v_options`, then each command's own checks, in ipvsadm's
//! order, so the first error is the one ipvsadm names), then what rvs cannot do refused, then
//! the command itself.

use super::collect::{Collected, Entry};
use super::error::{fail, unsupported, UsageError};
use super::legality::*;
use super::mark_rule::BAD_MARK_RULE;
use super::values::parse_sched_flags;
use crate::api::command::{Command, ListWhat};
use crate::api::{DestSpec, FwdMethod, ServiceKey, ServiceSpec, TunSpec, TunType, DEFAULT_SCHEDULER};
use crate::wire::ip_protocol::IPPROTO_UDP;

/// Check a collected command line and build the command it stands for.
pub(super) fn build_command(collected: Collected) -> Result<Command, UsageError> {
    let Collected { cmd, mut entry, options } = collected;
    // `-b ""` is no -b at all in ipvsadm (it tests sched_flags_arg[0]).
    let sched_flags = match entry.sched_flags_arg.as_str() {
        "" => Vec::new(),
        arg => parse_sched_flags(&entry.sched, arg)?,
    };
    generic_opt_check(cmd, options)?;
    check_service(cmd, &mut entry)?;
    check_server(cmd, &mut entry, options)?;
    if matches!(cmd, Cmd::AddLaddr | Cmd::DelLaddr) && entry.fwmark != 0 {
        return Err(fail("Local addresses (-z) are only for -t/-u services, not fwmark services"));
    }
    check_list(cmd, options)?;
    refuse_unsupported(&entry)?;
    to_command(cmd, entry, options, sched_flags)
}

/// `-A`, `-E`: a port or persistence, one-packet scheduling only for UDP, the default
/// scheduler.
fn check_service(cmd: Cmd, ce: &mut Entry) -> Result<(), UsageError> {
    if cmd != Cmd::Add && cmd != Cmd::Edit {
        return Ok(());
    }
    if ce.fwmark == 0 && ce.port == 0 && ce.persistent.is_none() {
        return Err(fail("Zero port specified for non-persistent service"));
    }
    if ce.ops && ce.fwmark == 0 && ce.proto != IPPROTO_UDP {
        return Err(fail("One-Packet Scheduling is only for UDP virtual services"));
    }
    if ce.sched.is_empty() {
        ce.sched = DEFAULT_SCHEDULER.to_string();
    }
    Ok(())
}

/// `-a`, `-e`: the port a forwarding method allows, and the tunnel options.
fn check_server(cmd: Cmd, ce: &mut Entry, options: OptionSet) -> Result<(), UsageError> {
    if cmd != Cmd::AddDest && cmd != Cmd::EditDest {
        return Ok(());
    }
    // "The destination port must be equal to the service port if the IP_VS_CONN_F_TUNNEL or
    // IP_VS_CONN_F_DROUTE is set."
    if ce.fwmark == 0 && matches!(ce.fwd, FwdMethod::Tunnel | FwdMethod::Route) {
        ce.dest_port = ce.port;
    }
    let tunnel_options = [OPTC_TUN_TYPE, OPTC_TUN_PORT, OPTC_TUN_NOCSUM, OPTC_TUN_CSUM, OPTC_TUN_REMCSUM];
    if tunnel_options.iter().any(|&o| options.has(o)) && ce.fwd != FwdMethod::Tunnel {
        return Err(fail("Tunnel options conflict with forward method"));
    }
    tunnel_opt_check(ce.tun_type, options)
}

/// ipvsadm's tun_type number (parse_tun_type: the order of tunnames[]).
fn tun_type(n: usize) -> TunType {
    match n {
        1 => TunType::Gue,
        2 => TunType::Gre,
        _ => TunType::Ipip,
    }
}

/// `-L`: what to list and the numbers to show with it do not mix.
fn check_list(cmd: Cmd, options: OptionSet) -> Result<(), UsageError> {
    if cmd != Cmd::List {
        return Ok(());
    }
    let has = |optc| options.has(optc);
    let what = has(OPTC_CONNECTION) || has(OPTC_TIMEOUT) || has(OPTC_DAEMON);
    let numbers = has(OPTC_STATS) || has(OPTC_RATE) || has(OPTC_THRESHOLDS);
    if (what && numbers) || ((has(OPTC_TIMEOUT) || has(OPTC_DAEMON)) && has(OPTC_PERSISTENTCONN)) {
        return Err(fail("options conflicts in the list command"));
    }
    Ok(())
}

/// Everything ipvsadm itself would accept from here on; refuse what rvs cannot represent
/// rather than silently dropping it.
fn refuse_unsupported(ce: &Entry) -> Result<(), UsageError> {
    if ce.pe.is_some() {
        return Err(unsupported("A persistence engine (--pe)"));
    }
    Ok(())
}

fn to_command(cmd: Cmd, mut ce: Entry, options: OptionSet, sched_flags: Vec<String>) -> Result<Command, UsageError> {
    let key = ce.key();
    let given_service = options.has(OPTC_SERVICE).then_some(key);
    let dest = DestSpec {
        addr: ce.dest_addr,
        port: ce.dest_port,
        fwd: ce.fwd,
        weight: ce.weight,
        u_threshold: ce.u_threshold,
        l_threshold: ce.l_threshold,
        tun: TunSpec { kind: tun_type(ce.tun_type), port: ce.tun_port, flags: ce.tun_flags },
    };
    let spec = ServiceSpec {
        key,
        scheduler: ce.sched.clone(),
        persistent: ce.persistent,
        netmask: ce.netmask,
        sched_flags,
        ops: ce.ops,
        // Local addresses have their own commands (-P/-Q); the daemon keeps a service's
        // addresses across -E.
        laddrs: vec![],
    };
    Ok(match cmd {
        Cmd::Add => Command::AddService(spec),
        Cmd::Edit => Command::EditService(spec),
        Cmd::Del => Command::DeleteService(key),
        Cmd::Flush => Command::Clear,
        Cmd::AddDest => Command::AddDest(key, dest),
        Cmd::EditDest => Command::EditDest(key, dest),
        Cmd::DelDest => Command::DeleteDest(key, dest.addr, dest.port),
        Cmd::List => Command::List(list_what(options, key), ce.format),
        Cmd::Zero => Command::Zero(given_service),
        Cmd::Timeout => Command::SetTimeout(ce.timeouts),
        Cmd::Save => Command::Save { numeric: ce.format.numeric },
        Cmd::Restore => Command::Restore,
        Cmd::StartDaemon => {
            let mut req = ce.daemon.clone();
            req.group = ce.mcast_group;
            Command::StartDaemon(req)
        }
        Cmd::StopDaemon => Command::StopDaemon(ce.daemon.role.clone()),
        Cmd::AddLaddr => Command::AddLaddr(key, ce.laddr),
        Cmd::DelLaddr => Command::DelLaddr(key, ce.laddr),
        Cmd::GetLaddr => Command::ListLaddr(given_service),
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

/// `-L`'s subject, in ipvsadm's order of precedence (only one can be set anyway).
fn list_what(options: OptionSet, key: ServiceKey) -> ListWhat {
    if options.has(OPTC_CONNECTION) {
        ListWhat::Connections
    } else if options.has(OPTC_SERVICE) {
        ListWhat::Services(Some(key))
    } else if options.has(OPTC_TIMEOUT) {
        ListWhat::Timeout
    } else if options.has(OPTC_DAEMON) {
        ListWhat::Daemon
    } else {
        ListWhat::Services(None)
    }
}
