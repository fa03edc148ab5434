//! rvs's log: every message goes through the `log` facade (`log::info!` and its kin, with
//! key-value fields where the event has them: `interface`, `service`, `real_server`...) to
//! the one logger here, which writes either
//! - one line per record on stderr, `LEVEL rvs: message` (the text after `rvs: ` is what
//!   operators and the labs grep), or
//! - the journal's native protocol (systemd-journal-logger): PRIORITY, MESSAGE,
//!   SYSLOG_IDENTIFIER=rvs and each field of the record as a journal field (INTERFACE=d-out),
//!   when systemd started rvs with stderr on the journal or `[log] target = "journald"`.
//!
//! libbpf's and libxdp's own messages come here too (`libbpf.rs`) instead of their stderr.

pub mod config;
pub mod libbpf;
mod line;

use config::{LogConfig, Target};
use log::{LevelFilter, Log, Metadata, Record};
use std::sync::Mutex;
use systemd_journal_logger::JournalLog;

enum Sink {
    Stderr,
    Journal(JournalLog),
}

struct Logger {
    sink: Mutex<Sink>,
}

static LOGGER: Logger = Logger { sink: Mutex::new(Sink::Stderr) };

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        if let Sink::Journal(j) = &*sink {
            // A journal that stopped answering (restarted, socket gone) must not lose
            // the record: stderr is the unit's journal stream anyway.
            if j.journal_send(r).is_ok() {
                return;
            }
        }
        line::write(r);
    }

    fn flush(&self) {}
}

/// The level `$RVS_LOG` names, when it names one.
fn env_level() -> Option<Result<LevelFilter, String>> {
    let v = std::env::var("RVS_LOG").ok()?;
    Some(config::parse_level(v.trim()).map_err(|e| format!("RVS_LOG: {e}")))
}

/// Installs the logger (stderr, or the journal when systemd connected stderr to it) at
/// `$RVS_LOG`'s level, else info, and routes libbpf's and libxdp's messages into it. First
/// thing in `main`: the configuration's errors are logged too. Safe to call again.
pub fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        libbpf::route_into_log();
    }
    apply(&LogConfig::default());
}

/// The file's `[log]` (at start and on every reload): the level (`$RVS_LOG` wins) and the
/// target.
pub fn apply(c: &LogConfig) {
    let level = match env_level() {
        Some(Ok(l)) => l,
        Some(Err(e)) => {
            log::set_max_level(c.level);
            log::warn!("{e}; using level {}", c.level.as_str().to_lowercase());
            c.level
        }
        None => c.level,
    };
    log::set_max_level(level);
    let journal = match c.target {
        Target::Stderr => false,
        Target::Auto => systemd_journal_logger::connected_to_journal(),
        Target::Journald => true,
    };
    let mut sink = LOGGER.sink.lock().unwrap_or_else(|e| e.into_inner());
    match (journal, &*sink) {
        (false, _) => *sink = Sink::Stderr,
        (true, Sink::Journal(_)) => {}
        (true, Sink::Stderr) => match JournalLog::new() {
            Ok(j) => *sink = Sink::Journal(j.with_syslog_identifier("rvs".into())),
            Err(e) => {
                drop(sink);
                log::warn!("the journal's socket does not answer ({e}): logging to stderr");
            }
        },
    }
}

/// Whether records go to the journal's native socket (else stderr).
pub fn to_journal() -> bool {
    matches!(*LOGGER.sink.lock().unwrap_or_else(|e| e.into_inner()), Sink::Journal(_))
}
