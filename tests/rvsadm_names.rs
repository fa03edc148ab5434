//! rvsadm under the names `scripts/install` gives it (`ipvsadm`, `ipvsadm-save`,
//! `ipvsadm-restore`, symbolic links to the binary): the texts it prints itself, and what it
//! sends to a stand-in daemon on a socket of this test, which records each request and
//! answers as rvs would.

use rvs::admin::protocol::{decode_request, read_message, write_message, Request, Response};
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory holding the three names, linked to the binary under test.
fn names_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rvsadm-names.{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["ipvsadm", "ipvsadm-save", "ipvsadm-restore"] {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_rvsadm"), dir.join(name)).unwrap();
    }
    dir
}

/// Runs `program` with `args` and `stdin`, its daemon at `socket`.
fn run(program: &Path, args: &[&str], stdin: &str, socket: &Path) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("RVS_SOCKET", socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// A stand-in daemon on `socket` serving `answers` in order, one per connection; returns the
/// requests it received.
fn daemon(socket: &Path, answers: Vec<Response>) -> std::thread::JoinHandle<Vec<Request>> {
    let listener = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        answers
            .into_iter()
            .map(|answer| {
                let (conn, _) = listener.accept().unwrap();
                let req = decode_request(&read_message(&conn, 1 << 20).unwrap()).unwrap();
                write_message(&conn, &answer).unwrap();
                req
            })
            .collect()
    })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

const TRY_RVSADM: &str = "Try `rvsadm -h' or 'rvsadm --help' for more information.\n";

#[test]
fn ipvsadm_prints_its_own_name_and_ipvsadm_s_version() {
    let dir = names_dir();
    let ipvsadm = dir.join("ipvsadm");
    let none = dir.join("no-daemon.sock");
    let o = run(&ipvsadm, &["-v"], "", &none);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o.stdout), "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n");
    let o = run(&ipvsadm, &["--help"], "", &none);
    assert_eq!(o.status.code(), Some(0));
    let usage = text(&o.stdout);
    let shown = ipvsadm.to_str().unwrap();
    assert!(usage.starts_with(&format!(
        "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\nUsage:\n  {shown} -A|E virtual-service"
    )));
    assert!(usage.contains(&format!("\n  {shown} -R\n  {shown} -S [-n]\n")), "argv[0] as typed, as ipvsadm.c");
    let o = run(&ipvsadm, &["-Ln"], "", &none);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).starts_with("ipvsadm: cannot talk to rvs at "), "{}", text(&o.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ipvsadm_renames_the_daemon_s_try_line_and_passes_the_rest() {
    let dir = names_dir();
    let socket = dir.join("rvs.sock");
    let refused = Response { stdout: String::new(), stderr: format!("-Q needs -z\n{TRY_RVSADM}"), code: 255 };
    let listing = Response::ok("TCP  198.18.0.100:80 rr\n".into());
    let d = daemon(&socket, vec![refused, listing]);
    let o = run(&dir.join("ipvsadm"), &["--bogus"], "", &socket);
    assert_eq!(o.status.code(), Some(255));
    let try_line = format!("Try `{0} -h' or '{0} --help' for more information.\n", dir.join("ipvsadm").display());
    assert_eq!(text(&o.stderr), format!("-Q needs -z\n{try_line}"));
    let o = run(&dir.join("ipvsadm"), &["--socket", socket.to_str().unwrap(), "-Ln"], "", Path::new("/nonexistent"));
    assert_eq!((o.status.code(), text(&o.stdout)), (Some(0), "TCP  198.18.0.100:80 rr\n".to_string()));
    let reqs = d.join().unwrap();
    assert_eq!(reqs[0].argv, argv(&["--bogus"]));
    assert_eq!(reqs[1], Request { argv: argv(&["-Ln"]), stdin: None }, "rvsadm's --socket is taken, not sent");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ipvsadm_save_is_dash_s() {
    let dir = names_dir();
    let socket = dir.join("rvs.sock");
    let saved = "-A -t 198.18.0.100:80 -s rr\n";
    let d = daemon(&socket, vec![Response::ok(saved.into()), Response::ok(saved.into())]);
    let save = dir.join("ipvsadm-save");
    let o = run(&save, &[], "", &socket);
    assert_eq!((o.status.code(), text(&o.stdout)), (Some(0), saved.to_string()));
    let o = run(&save, &["-n"], "", &socket);
    assert_eq!((o.status.code(), text(&o.stdout)), (Some(0), saved.to_string()));
    let o = run(&save, &["--socket", "x"], "", &socket);
    assert_eq!(o.status.code(), Some(1), "no daemon asked: the script's help");
    assert_eq!(
        text(&o.stderr),
        "ipvsadm-save: Script to save the IPVS table to stdout.\n   With the -n option, prints out the table in numeric format.\n"
    );
    let reqs: Vec<Vec<String>> = d.join().unwrap().into_iter().map(|r| r.argv).collect();
    assert_eq!(reqs, vec![argv(&["-S"]), argv(&["-S", "-n"])]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ipvsadm_restore_clears_then_restores_without_comment_lines() {
    let dir = names_dir();
    let socket = dir.join("rvs.sock");
    let line_error = Response { stdout: String::new(), stderr: format!("-x: bad\n{TRY_RVSADM}"), code: 255 };
    let d = daemon(&socket, vec![Response::ok(String::new()), line_error]);
    let input = "# saved by ipvsadm-save\n-A -t 198.18.0.100:80 -s rr\n-x\n\n";
    let o = run(&dir.join("ipvsadm-restore"), &["ignored"], input, &socket);
    assert_eq!(o.status.code(), Some(255), "-R's status");
    assert_eq!(text(&o.stderr), "-x: bad\nTry `ipvsadm -h' or 'ipvsadm --help' for more information.\n");
    let reqs = d.join().unwrap();
    assert_eq!(reqs[0], Request { argv: argv(&["-C"]), stdin: None });
    assert_eq!(reqs[1], Request { argv: argv(&["-R"]), stdin: Some("-A -t 198.18.0.100:80 -s rr\n-x\n".into()) });
    // No daemon: both of the script's commands say so, and the status is -R's.
    let o = run(&dir.join("ipvsadm-restore"), &[], input, &dir.join("gone.sock"));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(text(&o.stderr).matches("ipvsadm: cannot talk to rvs at ").count(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
