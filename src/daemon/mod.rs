//! The director process: the start-up stages (`stages.rs`) in order, the main
//! thread's loop (signals, reload, the poll loops' health), and the stages
//! undone in reverse on a stop.

mod notify;
mod proc_files;
mod query;
mod signals;
mod stages;
mod state_file;

use crate::afxdp::xdp_prog::XdpProgram;
use crate::config::Config;
use stages::{Daemon, STAGES};
use std::time::Duration;

/// The ignore_tunneled sysctl lives in the XDP programs' settings map: set on
/// a change, checked every pass of the main loop (at most a second late).
fn apply_ignore_tunneled(programs: &[XdpProgram], on: bool, applied: &mut Option<bool>) {
    if *applied == Some(on) {
        return;
    }
    for p in programs {
        if let Err(e) = p.set_ignore_tunneled(on) {
            log::warn!("{e}");
        }
    }
    if !programs.is_empty() {
        log::info!("ignore_tunneled {}: other IP protocols go to {}", on as u8, if on { "the kernel" } else { "rvs" });
    }
    *applied = Some(on);
}

/// libxdp wants bpffs for its dispatcher (several XDP programs on one
/// device); `ip netns exec` gives a fresh /sys without it. Mount it if absent.
pub(super) fn ensure_bpffs() {
    const BPF_FS_MAGIC: i64 = 0xcafe4a11;
    let path = c"/sys/fs/bpf";
    // SAFETY: statfs into a zeroed struct; mount with static C strings.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(path.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC {
            return;
        }
        if libc::mount(c"bpf".as_ptr(), path.as_ptr(), c"bpf".as_ptr(), 0, std::ptr::null()) != 0 {
            log::warn!(
                "bpffs is not mounted at /sys/fs/bpf and mounting it failed; libxdp will run without its dispatcher"
            );
        }
    }
}

pub fn run(cfg: Config, config_path: &str) -> Result<(), String> {
    // Before any stage spawns a thread: every thread inherits the mask, and a
    // signal during start-up waits for the main loop, which then stops cleanly.
    let sigset = signals::block_signals();
    notify::take_socket_from_env();
    let mut daemon = Daemon::new(cfg, config_path);
    for (k, stage) in STAGES.iter().enumerate() {
        if let Err(e) = (stage.start)(&mut daemon) {
            log::error!(stage = stage.name; "stage {}: {} failed: {e}; undoing stages {}..1", k + 1, stage.name, k + 1);
            undo(&mut daemon, k + 1);
            return Err(e);
        }
        log::info!(stage = stage.name; "stage {}: {} started", k + 1, stage.name);
    }
    daemon.running = true;
    log::info!(
        "director running on {} ({} poll loop(s)); admin socket {}",
        daemon.cfg.interfaces.iter().map(|i| i.logical_name()).collect::<Vec<_>>().join(", "),
        daemon.cfg.dataplane.loops(),
        daemon.cfg.socket
    );
    // Every stage is up: rings bound, XDP attached, the admin socket answering.
    notify::notify(&format!("READY=1\nSTATUS=director running on {} interface(s)", daemon.cfg.interfaces.len()));
    main_loop(&daemon, &sigset);
    notify::notify("STOPPING=1\nSTATUS=stopping");
    undo(&mut daemon, STAGES.len());
    log::info!("stopped; XDP detached, admin socket removed");
    Ok(())
}

/// Stages `n`..1, last first.
fn undo(daemon: &mut Daemon, n: usize) {
    for (k, stage) in STAGES.iter().enumerate().take(n).rev() {
        (stage.undo)(daemon);
        log::info!(stage = stage.name; "stage {}: {} undone", k + 1, stage.name);
    }
}

/// Until SIGTERM or SIGINT, or a poll loop ends: reload on SIGHUP, pass
/// ignore_tunneled to the XDP programs, and follow the host's addresses for
/// Local real servers (every second).
fn main_loop(daemon: &Daemon, sigset: &libc::sigset_t) {
    let mut ignore_tunneled = None;
    loop {
        apply_ignore_tunneled(&daemon.programs, daemon.shared.sysctl.load().ignore_tunneled(), &mut ignore_tunneled);
        // The host's addresses make real servers at them Local (control/own_addrs.rs).
        daemon.control.lock().unwrap_or_else(|e| e.into_inner()).refresh_local();
        match signals::wait_signal(sigset, Duration::from_secs(1)) {
            Some(libc::SIGHUP) => {
                // reload() logs what it did or why it refused.
                if let Some(q) = &daemon.query {
                    let _ = crate::admin::exec::DataPlaneQuery::reload(&**q);
                }
            }
            Some(s) => {
                log::info!("signal {s}: stopping");
                return;
            }
            None => {
                if daemon.loops.as_ref().is_some_and(|l| l.handles.iter().any(|h| h.is_finished())) {
                    log::error!("a poll loop stopped unexpectedly: stopping");
                    return;
                }
            }
        }
    }
}
