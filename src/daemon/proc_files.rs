//! The kernel's /proc/net/ip_vs* files, which cannot exist without the ip_vs module, kept as
//! plain files under `[admin] proc_dir` and rewritten every second, so that tools reading
//! them (node_exporter's ipvs collector with `--path.procfs` at the directory's parent) work
//! unchanged. Each file is written beside its place and renamed over it: a reader sees the
//! old text or the new one, never half of one.

use crate::admin::exec::{proc_text, DataPlaneQuery};
use crate::control::Control;
use crate::ipvsadm::proc_net::NAMES;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The kernel's files are always current; once a second is what the issue asks for and what
/// scrapers (every 15 s or more) need.
const REFRESH: Duration = Duration::from_secs(1);

/// Make the directory (and its parents), so a start fails early on a path it cannot use.
pub(super) fn prepare(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("admin.proc_dir {}: {e}", dir.display()))
}

/// Until `stop`: every file now, then again every [`REFRESH`]. A failed write is logged when
/// it first happens (not every second) and tried again at the next round.
pub(super) fn run(dir: PathBuf, control: Arc<Mutex<Control>>, dp: Arc<dyn DataPlaneQuery>, stop: Arc<AtomicBool>) {
    let mut last_error: Option<String> = None;
    let mut due = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= due {
            due = Instant::now() + REFRESH;
            let result = NAMES.iter().try_for_each(|name| write_one(&dir, name, &proc_text(&control, &*dp, name)));
            match result {
                Ok(()) => last_error = None,
                Err(e) if last_error.as_ref() != Some(&e) => {
                    log::warn!("proc files: {e}");
                    last_error = Some(e);
                }
                Err(_) => {}
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The text to a temporary file in the same directory, then renamed over the file.
fn write_one(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

/// At a stop the files go, as the kernel's go with its module: a tool must not read the last
/// figures of a director that no longer runs.
pub(super) fn remove(dir: &Path) {
    for name in NAMES {
        let _ = std::fs::remove_file(dir.join(name));
        let _ = std::fs::remove_file(dir.join(format!(".{name}.tmp")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_removed_at_the_end() {
        let dir = std::env::temp_dir().join(format!("rvs-proc-files-{}", std::process::id()));
        prepare(&dir).unwrap();
        write_one(&dir, "ip_vs_stats", "old\n").unwrap();
        write_one(&dir, "ip_vs_stats", "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("ip_vs_stats")).unwrap(), "new\n");
        assert!(!dir.join(".ip_vs_stats.tmp").exists(), "the temporary file is renamed, not left");
        remove(&dir);
        assert!(!dir.join("ip_vs_stats").exists());
        std::fs::remove_dir(&dir).unwrap();
    }
}
