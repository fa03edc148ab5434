//! `rvsadm`: ipvsadm's command line, answered by a running rvs.
//!
//! The socket is `--socket PATH`, else `$RVS_SOCKET`, else the `[admin]
//! socket` of `--config FILE` (default /etc/rvs/rvs.toml when it exists),
//! else /run/rvs/rvs.sock; both options are in `rvs::ipvsadm::rvs_options`. Everything else is passed to the daemon as is,
//! but `-h`/`--help` and `-v`/`--version`, which answer without one: a
//! newcomer reads the help before starting anything.
//! Output to a closed pipe ends rvsadm by SIGPIPE, as it ends ipvsadm.

use rvs::admin::protocol::{read_message, write_message, Request, Response};
use rvs::ipvsadm::rvs_options::{take_client_options, ClientOptions, DEFAULT_CONFIG};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn main() {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    // rvsadm's own options come first, before ipvsadm's.
    let ClientOptions { socket, config } = take_client_options(&mut argv);
    // The same parse and texts the daemon would use.
    match rvs::ipvsadm::args::parse(&argv) {
        Ok(rvs::api::command::Command::Help) => {
            restore_default_sigpipe();
            print!("{}", rvs::ipvsadm::format::usage());
            std::process::exit(0);
        }
        Ok(rvs::api::command::Command::Version) => {
            restore_default_sigpipe();
            print!("{}", rvs::ipvsadm::format::version());
            std::process::exit(0);
        }
        _ => {}
    }
    let socket = socket.or_else(|| std::env::var("RVS_SOCKET").ok()).unwrap_or_else(|| {
        let path = config.clone().unwrap_or_else(|| DEFAULT_CONFIG.into());
        match rvs::config::Config::load(&path) {
            Ok(c) => c.socket,
            Err(e) if config.is_some() => {
                eprintln!("rvsadm: {e}");
                std::process::exit(2);
            }
            Err(_) => rvs::config::DEFAULT_SOCKET.into(),
        }
    });
    let is_restore = argv.iter().any(|a| a == "-R" || a == "--restore");
    let stdin = if is_restore {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("rvsadm: reading standard input: {e}");
            std::process::exit(1);
        }
        Some(s)
    } else {
        None
    };
    let resp = match talk(&socket, &Request { argv, stdin }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rvsadm: cannot talk to rvs at {socket}: {e}\nAre you sure that rvs is running?");
            std::process::exit(2);
        }
    };
    restore_default_sigpipe();
    print!("{}", resp.stdout);
    eprint!("{}", resp.stderr);
    std::process::exit(resp.code);
}

/// ipvsadm is C and keeps SIGPIPE's default: `ipvsadm -Ln | head -1` on a big
/// table ends by SIGPIPE, silently, and the shell sees 128 + 13 = 141. Rust
/// ignores SIGPIPE, so print! would panic on the closed pipe instead. Restored
/// only now, after talking to the daemon: a daemon that hangs up mid-request
/// stays a reported error, not a silent death.
fn restore_default_sigpipe() {
    // SAFETY: setting a signal's disposition to the default has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

fn talk(path: &str, req: &Request) -> std::io::Result<Response> {
    let s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write_message(&s, req)?;
    let bytes = read_message(&s, 64 << 20)?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}
