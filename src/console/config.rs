//! `[console]`: where the web console listens and who may use it. No section, no console.
//!
//! The console acts with the admin socket's full rights (it runs ipvsadm commands inside the
//! daemon), so it must not reach further than that socket does: loopback by default, and a
//! token whenever it listens anywhere else.

use serde::Deserialize;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;

/// Where the console listens when the section names no address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9521";
/// A shorter token can be guessed by anyone who can try logins.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConsole {
    listen: Option<String>,
    token_file: Option<String>,
    #[serde(default)]
    hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub listen: SocketAddr,
    /// A file holding the token a browser logs in with; None: no login (loopback only).
    pub token_file: Option<String>,
    /// Host names a browser may call the console by, beside IP literals and `localhost`
    /// (a name nobody listed is refused, which defeats DNS rebinding).
    pub hosts: Vec<String>,
}

impl ConsoleConfig {
    pub fn parse(raw: Option<&RawConsole>) -> Result<Option<ConsoleConfig>, String> {
        let Some(raw) = raw else { return Ok(None) };
        let text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = text
            .parse()
            .map_err(|_| format!("console.listen: '{text}' is not an address:port such as {DEFAULT_LISTEN}"))?;
        let token_file = match raw.token_file.as_deref() {
            Some("") => return Err("console.token_file: empty path".into()),
            t => t.map(String::from),
        };
        if !listen.ip().is_loopback() && token_file.is_none() {
            return Err(format!(
                "console.listen: {listen} is not a loopback address: set console.token_file (without a token, anyone who reaches the port can change the rules)"
            ));
        }
        for h in &raw.hosts {
            if h.is_empty() || h.contains(|c: char| c.is_whitespace() || c == ':' || c == '/') {
                return Err(format!("console.hosts: '{h}' is not a host name"));
            }
        }
        Ok(Some(ConsoleConfig {
            listen,
            token_file,
            hosts: raw.hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
        }))
    }

    /// The token, read when the console starts: a file others can read, or a short token,
    /// is refused.
    pub fn read_token(&self) -> Result<Option<String>, String> {
        let Some(path) = &self.token_file else { return Ok(None) };
        let err = |e: String| format!("console.token_file: {path}: {e}");
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o004 != 0 {
            return Err(err(format!("readable by every user (mode {mode:04o}): chmod o-r it")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let token = text.trim();
        if token.chars().count() < MIN_TOKEN_LEN || token.contains(char::is_whitespace) {
            return Err(err(format!("the token must be one word of at least {MIN_TOKEN_LEN} characters")));
        }
        Ok(Some(token.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Option<ConsoleConfig>, String> {
        ConsoleConfig::parse(Some(&toml::from_str::<RawConsole>(t).unwrap()))
    }

    #[test]
    fn loopback_by_default_and_a_token_required_elsewhere() {
        assert_eq!(ConsoleConfig::parse(None).unwrap(), None, "no section: no console");
        assert_eq!(parse("").unwrap().unwrap().listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(parse("listen = \"[::1]:9000\"").unwrap().unwrap().listen.port(), 9000);
        let e = parse("listen = \"0.0.0.0:9521\"").unwrap_err();
        assert!(e.starts_with("console.listen: 0.0.0.0:9521 is not a loopback address: set console.token_file"), "{e}");
        let e = parse("listen = \"198.18.0.1:9521\"").unwrap_err();
        assert!(e.contains("token_file"), "{e}");
        let c = parse("listen = \"0.0.0.0:9521\"\ntoken_file = \"/etc/rvs/console.token\"").unwrap().unwrap();
        assert_eq!(c.token_file.as_deref(), Some("/etc/rvs/console.token"));
        assert!(parse("listen = \"localhost\"").unwrap_err().contains("is not an address:port"));
        assert!(parse("hosts = [\"evil.example:80\"]").unwrap_err().starts_with("console.hosts"));
        assert_eq!(parse("hosts = [\"LB1.example\"]").unwrap().unwrap().hosts, ["lb1.example"]);
    }

    #[test]
    fn a_token_file_others_can_read_or_a_short_token_is_refused() {
        let dir = std::env::temp_dir().join(format!("rvs-console-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        let cfg = |p: &std::path::Path| ConsoleConfig {
            listen: DEFAULT_LISTEN.parse().unwrap(),
            token_file: Some(p.to_string_lossy().into()),
            hosts: vec![],
        };
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(cfg(&path).read_token().unwrap_err().contains("readable by every user (mode 0644)"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(cfg(&path).read_token().unwrap().as_deref(), Some("0123456789abcdef0123"));
        std::fs::write(&path, "short\n").unwrap();
        assert!(cfg(&path).read_token().unwrap_err().contains("at least 16 characters"));
        assert!(cfg(&dir.join("missing")).read_token().unwrap_err().starts_with("console.token_file: "));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
