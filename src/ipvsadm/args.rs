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
//! cannot do (IPv6 services, persistence engines)
//! are still parsed and checked like ipvsadm does, then refused with a clear
//! message and exit status 2.
//!
//! The parser is laid out as ipvsadm.c is: [`super::options`] (the popt table), [`super::popt`]
//! (the scanner), [`super::collect`] (parse_options(): the words into a command entry),
//! [`super::check`] (the checks that build the command, with [`super::legality`]'s
//! commands_v_options), [`super::values`] and [`super::mark_rule`] (option values),
//! [`super::restore`] (config_stream.c: `-R` lines) and [`super::names`] (/etc/services and
//! /etc/hosts). rvs's own commands are matched first, from [`super::rvs_options`].

use super::check::build_command;
use super::collect::{collect_options, Reading};
use super::names::NameDb;
use super::rvs_options::parse_rvs_command;
use crate::api::command::{Command, ListFormat, ListWhat};

use super::error::UsageError;

/// Parse an rvsadm command line (without the program name), resolving host and service names
/// from /etc/hosts and /etc/services.
pub fn parse(argv: &[String]) -> Result<Command, UsageError> {
    parse_with(argv, &NameDb::system())
}

/// [`parse`] with an explicit name database (tests, or a caller that has already loaded it):
/// rvs's own commands, else ipvsadm's.
pub fn parse_with(argv: &[String], names: &NameDb) -> Result<Command, UsageError> {
    match parse_rvs_command(argv) {
        Some(rvs) => rvs,
        None => parse_ipvsadm_with(argv, names),
    }
}

/// ipvsadm's own command line only: what a line of a rules file may hold.
pub fn parse_ipvsadm_with(argv: &[String], names: &NameDb) -> Result<Command, UsageError> {
    // `ipvsadm` alone lists the table.
    if argv.is_empty() {
        return Ok(Command::List(ListWhat::Services(None), ListFormat::default()));
    }
    match collect_options(argv, names)? {
        Reading::Answer(command) => Ok(command),
        Reading::Collected(collected) => build_command(collected),
    }
}
