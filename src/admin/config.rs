//! `[admin]`: where the admin socket is and who besides root may use it.

use serde::Deserialize;

/// Where rvs and rvsadm look when the file (or rvsadm's `--socket`) says nothing.
pub const DEFAULT_SOCKET: &str = "/run/rvs/rvs.sock";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    socket: Option<String>,
    group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    pub socket: String,
    /// A group whose members may use the admin socket beside root; looked up
    /// when the socket is opened (the system's group database may change).
    pub group: Option<String>,
}

impl AdminConfig {
    pub fn parse(raw: &RawAdmin) -> AdminConfig {
        AdminConfig { socket: raw.socket.clone().unwrap_or_else(|| DEFAULT_SOCKET.into()), group: raw.group.clone() }
    }
}
