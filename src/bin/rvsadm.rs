//! `rvsadm`: ipvsadm's command line, answered by a running rvs.
//!
//! The socket is `--socket PATH`, else `$RVS_SOCKET`, else the `[admin]
//! socket` of `--config FILE` (default /etc/rvs/rvs.toml when it exists),
//! else /run/rvs/rvs.sock; both options are in `rvs::ipvsadm::rvs_options`. Everything else is passed to the daemon as is,
//! but `-h`/`--help` and `-v`/`--version`, which answer without one: a
//! newcomer reads the help before starting anything.
//! Called as `ipvsadm`, `ipvsadm-save` or `ipvsadm-restore` it is those programs
//! (`rvs::ipvsadm::program`).
//! Output to a closed pipe ends rvsadm by SIGPIPE, as it ends ipvsadm.
//! `--capture` has a client of its own (`rvs::admin::capture_client`): its answer is a stream.

use rvs::admin::protocol::{read_message, write_message, Request, Response};
use rvs::ipvsadm::program::{restore_input, save_command, Name};
use rvs::ipvsadm::rvs_options::{take_client_options, ClientOptions, DEFAULT_CONFIG};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn main() {
    // Lossy: a word that is not UTF-8 is no ipvsadm word, and the parser refuses it.
    let mut args = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let name = Name::from_argv0(&args.next().unwrap_or_default());
    let mut argv: Vec<String> = args.collect();
    let ClientOptions { socket, config } =
        if name.takes_client_options() { take_client_options(&mut argv) } else { ClientOptions::default() };
    let answers = match &name {
        Name::Save(save) => match save_command(save, &argv) {
            Ok(save) => vec![ask(&name, &socket_path(&name, socket, config), save, None)],
            Err(help) => {
                eprint!("{help}");
                std::process::exit(1);
            }
        },
        Name::Restore => {
            let input = restore_input(&read_stdin(&name));
            let socket = socket_path(&name, socket, config);
            // The script's `ipvsadm -C` goes on to `ipvsadm -R` whatever it answered.
            let clear = ask(&name, &socket, vec!["-C".into()], None);
            vec![clear, ask(&name, &socket, vec!["-R".into()], Some(input))]
        }
        Name::Rvsadm | Name::Ipvsadm(_) => {
            let capture = answer_offline(&name, &argv);
            let socket = socket_path(&name, socket, config);
            if let Some(file) = capture {
                std::process::exit(rvs::admin::capture_client::run(name.label(), &socket, argv, &file));
            }
            let is_restore = argv.iter().any(|a| a == "-R" || a == "--restore");
            let stdin = is_restore.then(|| read_stdin(&name));
            vec![ask(&name, &socket, argv, stdin)]
        }
    };
    restore_default_sigpipe();
    let mut code = 0;
    for resp in answers {
        print!("{}", name.retitle(&resp.stdout));
        eprint!("{}", name.retitle(&resp.stderr));
        code = resp.code;
    }
    std::process::exit(code);
}

/// `-h` and `-v` print and exit here, without a daemon; anything else returns: the file to
/// write for `--capture`, which rvsadm itself writes what rvs streams into.
fn answer_offline(name: &Name, argv: &[String]) -> Option<String> {
    use rvs::api::command::Command;
    // The same parse the daemon would use.
    let text = match rvs::ipvsadm::args::parse(argv) {
        Ok(Command::Help) => name.usage(),
        Ok(Command::Version) => name.version(),
        Ok(Command::Capture(spec)) => return Some(spec.file),
        _ => return None,
    };
    restore_default_sigpipe();
    print!("{text}");
    std::process::exit(0);
}

fn socket_path(name: &Name, socket: Option<String>, config: Option<String>) -> String {
    socket.or_else(|| std::env::var("RVS_SOCKET").ok()).unwrap_or_else(|| {
        let path = config.clone().unwrap_or_else(|| DEFAULT_CONFIG.into());
        match rvs::config::Config::load(&path) {
            Ok(c) => c.socket,
            Err(e) if config.is_some() => {
                eprintln!("{}: {e}", name.label());
                std::process::exit(2);
            }
            Err(_) => rvs::config::DEFAULT_SOCKET.into(),
        }
    })
}

fn read_stdin(name: &Name) -> String {
    let mut s = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut s) {
        eprintln!("{}: reading standard input: {e}", name.label());
        std::process::exit(1);
    }
    s
}

/// The daemon's answer to one command line, or the reason there is none (status 2).
fn ask(name: &Name, socket: &str, argv: Vec<String>, stdin: Option<String>) -> Response {
    talk(socket, &Request { argv, stdin }).unwrap_or_else(|e| {
        let label = name.label();
        Response::err(format!("{label}: cannot talk to rvs at {socket}: {e}\nAre you sure that rvs is running?"), 2)
    })
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
