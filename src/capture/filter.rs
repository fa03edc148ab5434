//! tcpdump's filter expressions, compiled by libpcap itself (`pcap_compile` on a dead
//! Ethernet handle, as tcpdump does for a savefile) into classic BPF, then checked by
//! [`Program::load`]: the expression language stays exactly tcpdump's, and what runs in the
//! poll loops is our own bounded interpreter.
//!
//! This runs on the control side only (the admin thread), never in a poll loop.

use super::bpf::{Insn, Program};
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::Mutex;

/// tcpdump's default snapshot length: programs return it for a frame they accept.
pub const SNAPLEN: u32 = 262_144;
/// LINKTYPE_ETHERNET / DLT_EN10MB.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// PCAP_NETMASK_UNKNOWN: `ip broadcast` cannot be compiled without a netmask; nothing else
/// needs one.
const NETMASK_UNKNOWN: u32 = 0xffff_ffff;

#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut Insn,
}

#[link(name = "pcap")]
extern "C" {
    fn pcap_open_dead(linktype: c_int, snaplen: c_int) -> *mut c_void;
    fn pcap_compile(p: *mut c_void, fp: *mut BpfProgram, s: *const c_char, optimize: c_int, netmask: u32) -> c_int;
    fn pcap_geterr(p: *mut c_void) -> *const c_char;
    fn pcap_freecode(fp: *mut BpfProgram);
    fn pcap_close(p: *mut c_void);
}

/// libpcap's compiler keeps state in globals in older releases: one compile at a time.
static COMPILER: Mutex<()> = Mutex::new(());

/// The expression's instructions as libpcap compiles them (optimized, as tcpdump's default),
/// or libpcap's error text ("syntax error", "unknown host 'x'", ...).
pub fn compile_insns(expr: &str) -> Result<Vec<Insn>, String> {
    let text = CString::new(expr).map_err(|_| "a filter expression cannot hold a NUL byte".to_string())?;
    let _one = COMPILER.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: plain libpcap calls on a handle this function owns and closes; the program is
    // read within its length and freed before the handle is closed.
    unsafe {
        let p = pcap_open_dead(LINKTYPE_ETHERNET as c_int, SNAPLEN as c_int);
        if p.is_null() {
            return Err("libpcap: cannot open a handle".into());
        }
        let mut prog = BpfProgram { bf_len: 0, bf_insns: std::ptr::null_mut() };
        let r = if pcap_compile(p, &mut prog, text.as_ptr(), 1, NETMASK_UNKNOWN) != 0 {
            Err(CStr::from_ptr(pcap_geterr(p)).to_string_lossy().into_owned())
        } else if prog.bf_insns.is_null() {
            Err("libpcap compiled no program".into())
        } else {
            let v = std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize).to_vec();
            pcap_freecode(&mut prog);
            Ok(v)
        };
        pcap_close(p);
        r
    }
}

/// A filter expression as a checked program; an empty one accepts every frame.
pub fn compile(expr: &str) -> Result<Program, String> {
    let insns = compile_insns(expr)?;
    Program::load(&insns).map_err(|e| e.to_string())
}

/// libpcap's own reading of what rvs does: the reference the tests hold rvs's interpreter and
/// savefiles to.
#[cfg(any(test, feature = "testkit"))]
pub mod reference {
    use super::{pcap_close, BpfProgram, Insn};
    use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

    #[repr(C)]
    struct PcapPkthdr {
        ts: libc::timeval,
        caplen: u32,
        len: u32,
    }

    #[link(name = "pcap")]
    extern "C" {
        fn pcap_offline_filter(fp: *const BpfProgram, h: *const PcapPkthdr, pkt: *const u8) -> c_int;
        fn pcap_open_offline(fname: *const c_char, errbuf: *mut c_char) -> *mut c_void;
        fn pcap_next_ex(p: *mut c_void, h: *mut *const PcapPkthdr, data: *mut *const u8) -> c_int;
        fn pcap_datalink(p: *mut c_void) -> c_int;
    }

    /// libpcap's verdict on a frame (`pcap_offline_filter`): what [`super::Program::run`]
    /// must agree with. Only programs [`super::Program::load`] accepted: libpcap's
    /// interpreter checks neither jumps nor scratch indices itself.
    pub fn verdict(insns: &[Insn], frame: &[u8]) -> u32 {
        let prog = BpfProgram { bf_len: insns.len() as c_uint, bf_insns: insns.as_ptr() as *mut Insn };
        let h = PcapPkthdr {
            ts: libc::timeval { tv_sec: 0, tv_usec: 0 },
            caplen: frame.len() as u32,
            len: frame.len() as u32,
        };
        // SAFETY: prog points at insns for their length (libpcap only reads them); h and
        // frame are valid for the call.
        unsafe { pcap_offline_filter(&prog, &h, frame.as_ptr()) as u32 }
    }

    /// One record as libpcap reads it from a savefile.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Read {
        pub sec: i64,
        pub usec: i64,
        pub wire_len: u32,
        pub data: Vec<u8>,
    }

    /// A savefile read by libpcap (`pcap_open_offline`): its link type and records.
    pub fn read_savefile(path: &str) -> Result<(i32, Vec<Read>), String> {
        let name = CString::new(path).map_err(|e| e.to_string())?;
        let mut err = [0 as c_char; 256];
        // SAFETY: libpcap reads the file through a handle this function closes; each record
        // is copied out before the next pcap_next_ex.
        unsafe {
            let p = pcap_open_offline(name.as_ptr(), err.as_mut_ptr());
            if p.is_null() {
                return Err(CStr::from_ptr(err.as_ptr()).to_string_lossy().into_owned());
            }
            let link = pcap_datalink(p);
            let mut out = Vec::new();
            let mut h: *const PcapPkthdr = std::ptr::null();
            let mut data: *const u8 = std::ptr::null();
            let r = loop {
                match pcap_next_ex(p, &mut h, &mut data) {
                    1 => out.push(Read {
                        sec: (*h).ts.tv_sec,
                        usec: (*h).ts.tv_usec,
                        wire_len: (*h).len,
                        data: std::slice::from_raw_parts(data, (*h).caplen as usize).to_vec(),
                    }),
                    -2 => break Ok((link, out)),
                    e => break Err(format!("pcap_next_ex: {e}")),
                }
            };
            pcap_close(p);
            r
        }
    }
}
