//! `[admin]`: where the admin socket is, who besides root may use it, and where rvs keeps the
//! texts of the kernel's /proc/net/ip_vs* files.

use serde::Deserialize;

/// Where rvs and rvsadm look when the file (or rvsadm's `--socket`) says nothing.
pub const DEFAULT_SOCKET: &str = "/run/rvs/rvs.sock";
/// Where the /proc/net/ip_vs* texts go when the file says nothing: point node_exporter's
/// `--path.procfs` at its parent (/run/rvs/proc).
pub const DEFAULT_PROC_DIR: &str = "/run/rvs/proc/net";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    socket: Option<String>,
    group: Option<String>,
    proc_dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    pub socket: String,
    /// A group whose members may use the admin socket beside root; looked up
    /// when the socket is opened (the system's group database may change).
    pub group: Option<String>,
    /// The directory of the /proc/net/ip_vs* texts, rewritten every second; None (`proc_dir =
    /// ""`): not written.
    pub proc_dir: Option<String>,
}

impl AdminConfig {
    pub fn parse(raw: &RawAdmin) -> AdminConfig {
        AdminConfig {
            socket: raw.socket.clone().unwrap_or_else(|| DEFAULT_SOCKET.into()),
            group: raw.group.clone(),
            proc_dir: match raw.proc_dir.as_deref() {
                None => Some(DEFAULT_PROC_DIR.into()),
                Some("") => None,
                Some(d) => Some(d.into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_dir_defaults_to_run_rvs_and_empty_turns_it_off() {
        let parse = |t: &str| AdminConfig::parse(&toml::from_str::<RawAdmin>(t).unwrap()).proc_dir;
        assert_eq!(parse(""), Some(DEFAULT_PROC_DIR.to_string()));
        assert_eq!(parse("proc_dir = \"\""), None);
        assert_eq!(parse("proc_dir = \"/srv/ipvs/net\""), Some("/srv/ipvs/net".to_string()));
    }
}
