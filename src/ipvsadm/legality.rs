//! ipvsadm's command/option legality: the commands, the option bits, `commands_v_options`
//! (which option each command requires, refuses or takes one of) with generic_opt_check(), and
//! tunnel_opt_check() over `tunnel_types_v_options`.

use super::error::{fail, UsageError};

/// ipvsadm's CMD_*: what the first option asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmd {
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

pub(super) const NUMBER_OF_CMD: usize = 20;

pub(super) const CMDNAMES: [&str; NUMBER_OF_CMD] = [
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

pub(super) const OPTC_NUMERIC: usize = 0;
pub(super) const OPTC_CONNECTION: usize = 1;
pub(super) const OPTC_SERVICE: usize = 2;
pub(super) const OPTC_SCHEDULER: usize = 3;
pub(super) const OPTC_PERSISTENT: usize = 4;
pub(super) const OPTC_NETMASK: usize = 5;
pub(super) const OPTC_SERVER: usize = 6;
pub(super) const OPTC_FORWARD: usize = 7;
pub(super) const OPTC_WEIGHT: usize = 8;
pub(super) const OPTC_UTHRESHOLD: usize = 9;
pub(super) const OPTC_LTHRESHOLD: usize = 10;
pub(super) const OPTC_MCAST: usize = 11;
pub(super) const OPTC_TIMEOUT: usize = 12;
pub(super) const OPTC_DAEMON: usize = 13;
pub(super) const OPTC_STATS: usize = 14;
pub(super) const OPTC_RATE: usize = 15;
pub(super) const OPTC_THRESHOLDS: usize = 16;
pub(super) const OPTC_PERSISTENTCONN: usize = 17;
pub(super) const OPTC_NOSORT: usize = 18;
pub(super) const OPTC_SYNCID: usize = 19;
pub(super) const OPTC_EXACT: usize = 20;
pub(super) const OPTC_ONEPACKET: usize = 21;
pub(super) const OPTC_PERSISTENCE_ENGINE: usize = 22;
pub(super) const OPTC_SCHED_FLAGS: usize = 23;
pub(super) const OPTC_MCAST_GROUP: usize = 24;
pub(super) const OPTC_MCAST_PORT: usize = 25;
pub(super) const OPTC_MCAST_TTL: usize = 26;
pub(super) const OPTC_SYNC_MAXLEN: usize = 27;
pub(super) const OPTC_TUN_INFO: usize = 28;
pub(super) const OPTC_TUN_TYPE: usize = 29;
pub(super) const OPTC_TUN_PORT: usize = 30;
pub(super) const OPTC_TUN_NOCSUM: usize = 31;
pub(super) const OPTC_TUN_CSUM: usize = 32;
pub(super) const OPTC_TUN_REMCSUM: usize = 33;
/// DPVS's `-z|--laddr` (DPVS names it "local-address" in its messages).
pub(super) const OPTC_LADDR: usize = 34;
/// rvs's `--any-proto`: a mark rule's address for TCP or UDP (it also sets
/// OPTC_SERVICE, the rule being the mark commands' "service-address").
pub(super) const OPTC_ANYPROTO: usize = 35;
pub(super) const NUMBER_OF_OPT: usize = 36;

pub(super) const OPTNAMES: [&str; NUMBER_OF_OPT] = [
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
pub(super) const COMMANDS_V_OPTIONS: [&[u8; NUMBER_OF_OPT]; NUMBER_OF_CMD] = [
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

pub(super) fn generic_opt_check(cmd: Cmd, options: OptionSet) -> Result<(), UsageError> {
    let i = cmd as usize;
    let row = COMMANDS_V_OPTIONS[i];
    let mut last = 0usize;
    let mut count = 0;
    for (j, &rule) in row.iter().enumerate() {
        if !options.has(j) {
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

/// The options a command line carried, one bit per OPTC_* (ipvsadm's `options` word).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct OptionSet(u64);

impl OptionSet {
    /// ipvsadm's set_option(): an option given twice is refused.
    pub(super) fn set(&mut self, optc: usize) -> Result<(), UsageError> {
        let bit = 1u64 << optc;
        if self.0 & bit != 0 {
            return Err(fail(format!("multiple '{}' options specified", OPTNAMES[optc])));
        }
        self.0 |= bit;
        Ok(())
    }

    pub(super) fn has(self, optc: usize) -> bool {
        self.0 & (1u64 << optc) != 0
    }
}

/// ipvsadm's tunnel_opt_check() over tunnel_types_v_options.
pub(super) fn tunnel_opt_check(tun_type: usize, options: OptionSet) -> Result<(), UsageError> {
    const TUNNAMES: [&str; 3] = ["ipip", "gue", "gre"];
    const TUNOPTS: [usize; 4] = [OPTC_TUN_PORT, OPTC_TUN_NOCSUM, OPTC_TUN_CSUM, OPTC_TUN_REMCSUM];
    const TABLE: [&[u8; 4]; 3] = [b"xxxx", b"+111", b"x11x"];
    let row = TABLE[tun_type];
    let mut last = 0usize;
    let mut count = 0;
    for (j, &k) in TUNOPTS.iter().enumerate() {
        if !options.has(k) {
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
