//! libbpf's and libxdp's messages, routed into rvs's log instead of their default (raw lines
//! on stderr).
//!
//! Levels: their warnings are warnings, their info is debug (ELF sections they skip) and
//! their debug is trace. Some warnings are expected: libxdp first tries its dispatcher,
//! which the kernel may refuse ("permission error while running as root"), then loads the
//! program alone and succeeds. [`quiet_unless_failed`] holds the messages of such a call:
//! debug when the call succeeded, at their own level when it failed (then they say why).

use log::Level;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};

extern "C" {
    // The C library's; `ap` is the callee's va_list, which on x86_64 is a pointer to the
    // one __va_list_tag both bindings name (each crate has its own Rust type for it).
    fn vsnprintf(s: *mut c_char, n: usize, format: *const c_char, ap: *mut c_void) -> c_int;
}

thread_local! {
    /// The messages held by the innermost [`quiet_unless_failed`] of this thread.
    static HELD: RefCell<Option<Vec<(&'static str, Level, String)>>> = const { RefCell::new(None) };
}

/// Their three levels (WARN 0, INFO 1, DEBUG 2 in both libraries) as rvs's.
fn level_of(l: u32) -> Level {
    match l {
        0 => Level::Warn,
        1 => Level::Debug,
        _ => Level::Trace,
    }
}

/// What a held message becomes when its call succeeded: a warning that did not matter is
/// debug; the rest keep their level.
fn level_after_success(l: Level) -> Level {
    l.max(Level::Debug)
}

/// `text` already starts with "libbpf: " or "libxdp: ": theirs, kept.
fn emit(who: &'static str, level: Level, text: &str) {
    log::log!(target: who, level, "{text}");
}

/// One message, formatted and then held or logged.
fn message(who: &'static str, level: u32, format: *const c_char, ap: *mut c_void) -> c_int {
    let level = level_of(level);
    if level > log::max_level() && level_after_success(level) > log::max_level() {
        return 0;
    }
    let mut buf = [0u8; 1024];
    // SAFETY: buf is writable for its length; format and ap come from the library's call.
    let n = unsafe { vsnprintf(buf.as_mut_ptr() as *mut c_char, buf.len(), format, ap) };
    if n < 0 {
        return n;
    }
    let len = (n as usize).min(buf.len() - 1);
    let text = String::from_utf8_lossy(&buf[..len]);
    let text = text.trim_end();
    let held = HELD.with(|h| match h.borrow_mut().as_mut() {
        Some(v) => {
            v.push((who, level, text.to_string()));
            true
        }
        None => false,
    });
    if !held {
        emit(who, level, text);
    }
    n
}

/// A print callback of one library: each declares its own va_list type, so one each.
macro_rules! print_callback {
    ($name:ident, $who:literal, $level:ty, $va:ty) => {
        unsafe extern "C" fn $name(level: $level, format: *const c_char, ap: *mut $va) -> c_int {
            message($who, level, format, ap as *mut c_void)
        }
    };
}
print_callback!(from_libbpf, "libbpf", libbpf_sys::libbpf_print_level, libbpf_sys::__va_list_tag);
print_callback!(from_libxdp, "libxdp", libxdp_sys::libxdp_print_level, libxdp_sys::__va_list_tag);

/// Both libraries' print callbacks, once, at start (before any BPF call).
pub fn route_into_log() {
    // SAFETY: the callbacks have the signatures the libraries declare and live forever.
    unsafe {
        libbpf_sys::libbpf_set_print(Some(from_libbpf));
        libxdp_sys::libxdp_set_print(Some(from_libxdp));
    }
}

/// Runs `f`, holding the libraries' messages of this thread meanwhile: logged at debug if
/// `f` succeeded (libxdp's fallbacks that worked), at their own level if it failed.
pub fn quiet_unless_failed<T, E>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let outer = HELD.with(|h| h.borrow_mut().replace(Vec::new()));
    let r = f();
    let held = HELD.with(|h| std::mem::replace(&mut *h.borrow_mut(), outer)).unwrap_or_default();
    for (who, level, text) in held {
        emit(who, if r.is_ok() { level_after_success(level) } else { level }, &text);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn their_levels_as_rvs_levels() {
        assert_eq!(level_of(0), Level::Warn);
        assert_eq!(level_of(1), Level::Debug);
        assert_eq!(level_of(2), Level::Trace);
        assert_eq!(level_after_success(Level::Warn), Level::Debug);
        assert_eq!(level_after_success(Level::Debug), Level::Debug);
        assert_eq!(level_after_success(Level::Trace), Level::Trace);
    }

    #[test]
    fn messages_are_held_inside_a_call_and_given_back_after() {
        log::set_max_level(log::LevelFilter::Trace);
        let r: Result<(), ()> = quiet_unless_failed(|| {
            let inner: Result<(), ()> = quiet_unless_failed(|| Ok(()));
            assert!(inner.is_ok());
            HELD.with(|h| h.borrow_mut().as_mut().unwrap().push(("libbpf", Level::Warn, "libbpf: x".into())));
            assert_eq!(
                HELD.with(|h| h.borrow().as_ref().map(|v| v.len())),
                Some(1),
                "the outer scope's held message survives an inner scope"
            );
            Err(())
        });
        assert!(r.is_err());
        assert!(HELD.with(|h| h.borrow().is_none()), "nothing held after the outermost call");
    }
}
