//! `[state]`: the rules kept across restarts, as ipvsadm.service keeps them in
//! /etc/sysconfig/ipvsadm (`-S -n` on stop, `-R` on start).

use crate::control::Control;
use std::sync::Mutex;

/// ipvsadm.service's save-on-stop: the rules as `-S -n` prints them.
pub(super) fn save_state(control: &Mutex<Control>, path: &str) -> Result<(), String> {
    let ctl = control.lock().unwrap_or_else(|e| e.into_inner());
    let text = crate::ipvsadm::format::save_with_marks(&ctl.views(), &ctl.rules().marks, true);
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{tmp}: {e}"))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{path}: {e}"))
}

/// ...and restore-on-start: all or nothing, over the config's rules.
pub(super) fn restore_state(control: &Mutex<Control>, path: &str) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut cmds = vec![crate::api::command::Command::Clear];
    for (n, line) in text.lines().enumerate() {
        match crate::ipvsadm::restore::parse_restore_line(line) {
            None => {}
            Some(Ok(c)) => cmds.push(c),
            Some(Err(e)) => return Err(format!("{path}: line {}: {}", n + 1, e.message)),
        }
    }
    let n = cmds.len() - 1;
    control
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .apply_all(&cmds)
        .map_err(|(i, e)| format!("{path}: rule {i}: {e}"))?;
    Ok(n)
}
