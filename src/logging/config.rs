//! `[log]`: how much rvs says (`level`) and where (`target`). `RVS_LOG` in the environment
//! names a level that wins over the file's, so an operator can turn on debug for one run
//! without editing the configuration.

use log::LevelFilter;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    level: Option<String>,
    target: Option<String>,
}

/// Where log records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The journal's native protocol when systemd connected stderr to the journal
    /// (`$JOURNAL_STREAM` names stderr), stderr otherwise.
    Auto,
    /// One line per record on stderr.
    Stderr,
    /// The journal's native protocol (fields, priorities); stderr when the journal's socket
    /// does not answer.
    Journald,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    pub level: LevelFilter,
    pub target: Target,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: LevelFilter::Info, target: Target::Auto }
    }
}

/// `error`, `warn`, `info`, `debug`, `trace` or `off`, as the `log` crate names them.
pub fn parse_level(s: &str) -> Result<LevelFilter, String> {
    match s {
        "error" => Ok(LevelFilter::Error),
        "warn" => Ok(LevelFilter::Warn),
        "info" => Ok(LevelFilter::Info),
        "debug" => Ok(LevelFilter::Debug),
        "trace" => Ok(LevelFilter::Trace),
        "off" => Ok(LevelFilter::Off),
        _ => Err(format!("'{s}' is not one of error, warn, info, debug, trace, off")),
    }
}

impl LogConfig {
    pub fn parse(raw: &RawLog) -> Result<LogConfig, String> {
        let mut c = LogConfig::default();
        if let Some(l) = &raw.level {
            c.level = parse_level(l).map_err(|e| format!("log.level: {e}"))?;
        }
        c.target = match raw.target.as_deref() {
            None | Some("auto") => Target::Auto,
            Some("stderr") => Target::Stderr,
            Some("journald") => Target::Journald,
            Some(t) => return Err(format!("log.target: '{t}' is not one of auto, stderr, journald")),
        };
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<LogConfig, String> {
        LogConfig::parse(&toml::from_str::<RawLog>(t).unwrap())
    }

    #[test]
    fn defaults_to_info_on_the_automatic_target() {
        assert_eq!(parse(""), Ok(LogConfig { level: LevelFilter::Info, target: Target::Auto }));
    }

    #[test]
    fn reads_level_and_target() {
        assert_eq!(
            parse("level = \"debug\"\ntarget = \"journald\""),
            Ok(LogConfig { level: LevelFilter::Debug, target: Target::Journald })
        );
        assert_eq!(
            parse("level = \"off\"\ntarget = \"stderr\"").map(|c| (c.level, c.target)),
            Ok((LevelFilter::Off, Target::Stderr))
        );
    }

    #[test]
    fn refuses_unknown_values_naming_the_key() {
        assert_eq!(
            parse("level = \"loud\"").unwrap_err(),
            "log.level: 'loud' is not one of error, warn, info, debug, trace, off"
        );
        assert_eq!(
            parse("target = \"syslog\"").unwrap_err(),
            "log.target: 'syslog' is not one of auto, stderr, journald"
        );
        assert!(toml::from_str::<RawLog>("colour = true").is_err());
    }
}
