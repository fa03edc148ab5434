//! A command line ipvsadm would refuse: the message and the exit status ipvsadm gives it.

use super::PROGRAM;

/// A command line ipvsadm would refuse: what it prints (without the final
/// newline) and the status it exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    pub message: String,
    pub exit_code: i32,
    /// ipvsadm exits at once (fail(), tryhelp_exit()), so `-R` reads no further line; else
    /// (a popt error) the line returns -1 and `-R` goes on with the next.
    pub exits: bool,
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// ipvsadm's `fail(2, ...)`.
pub(super) fn fail(message: impl Into<String>) -> UsageError {
    UsageError { message: message.into(), exit_code: 2, exits: true }
}

/// ipvsadm's `tryhelp_exit(argv[0], -1)`: exit(-1) is status 255.
pub(super) fn tryhelp() -> UsageError {
    UsageError { message: tryhelp_text(PROGRAM), exit_code: 255, exits: true }
}

/// ipvsadm's "Try" line naming `program` (ipvsadm prints its argv[0] there).
pub fn tryhelp_text(program: &str) -> String {
    format!("Try `{program} -h' or '{program} --help' for more information.")
}

/// popt's error, which ipvsadm prints after its option loop and returns -1 for (status 255).
pub(super) fn popt_error(message: String) -> UsageError {
    UsageError { message, exit_code: 255, exits: false }
}

/// Something ipvsadm accepts but rvs does not implement.
pub(super) fn unsupported(what: &str) -> UsageError {
    fail(format!("{what} is not supported by rvs"))
}
