//! `rvsadm -h`, `--help`, `-v` and `--version` answer without a running rvs,
//! with the texts the daemon gives; anything else still needs the daemon.

use std::process::Command;

fn rvsadm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rvsadm"))
        .args(["--socket", "/nonexistent/rvs-offline-test.sock"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_and_version_need_no_daemon() {
    for a in ["-h", "--help"] {
        let o = rvsadm(&[a]);
        assert_eq!(o.status.code(), Some(0), "{a}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), rvs::ipvsadm::format::usage(), "{a}");
    }
    for a in ["-v", "--version"] {
        let o = rvsadm(&[a]);
        assert_eq!(o.status.code(), Some(0), "{a}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), rvs::ipvsadm::format::version(), "{a}");
    }
}

#[test]
fn other_commands_still_need_the_daemon() {
    let o = rvsadm(&["-Ln"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot talk to rvs"));
}
