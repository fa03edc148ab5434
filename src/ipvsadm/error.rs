//! A command line ipvsadm would refuse: the message and the exit status ipvsadm gives it.

use super::PROGRAM;

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
pub(super) fn fail(message: impl Into<String>) -> UsageError {
    UsageError { message: message.into(), exit_code: 2 }
}

/// ipvsadm's `tryhelp_exit(argv[0], -1)`: exit(-1) is status 255.
pub(super) fn tryhelp() -> UsageError {
    UsageError { message: format!("Try `{PROGRAM} -h' or '{PROGRAM} --help' for more information."), exit_code: 255 }
}

/// Something ipvsadm accepts but rvs does not implement.
pub(super) fn unsupported(what: &str) -> UsageError {
    fail(format!("{what} is not supported by rvs"))
}
