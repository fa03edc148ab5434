//! A capture end to end without AF_XDP: a thread plays a poll loop offering frames to its
//! tap, the session streams to rvsadm's client code over a socket pair, and libpcap reads
//! the file the client wrote.

use super::*;
use crate::admin::capture_client::exchange;
use crate::admin::protocol::{read_message, write_message, Request, Response};
use crate::api::command::Command;
use crate::capture::filter::reference::read_savefile;
use crate::capture::ring::{ring, Next, Tap};
use crate::testkit::frames;
use crossbeam::channel::{bounded, Sender};
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;

const C_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const D_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const CLIENT: [u8; 4] = [198, 18, 0, 10];
const VIP: [u8; 4] = [198, 18, 0, 100];
const RS: [u8; 4] = [198, 18, 1, 11];

/// What the pretend loop sees on d-out, in order: four frames to or from port 80 among others.
fn traffic() -> Vec<Vec<u8>> {
    vec![
        frames::arp(C_MAC, [0xff; 6], 1, C_MAC, CLIENT, [0; 6], VIP),
        frames::tcp(C_MAC, D_MAC, CLIENT, VIP, 40000, 80, "S", b""),
        frames::udp(C_MAC, D_MAC, CLIENT, VIP, 5353, 53, b"q"),
        frames::tcp(D_MAC, C_MAC, CLIENT, RS, 40000, 80, "S", b""),
        frames::tcp(C_MAC, D_MAC, CLIENT, VIP, 40001, 22, "S", b""),
        frames::tcp(C_MAC, D_MAC, RS, CLIENT, 80, 40000, "SA", b""),
        frames::tcp(D_MAC, C_MAC, VIP, CLIENT, 80, 40000, "A", &[0x55; 1200]),
    ]
}

fn port_80(f: &[u8]) -> bool {
    f.len() > 37 && f[23] == 6 && (f[34..36] == [0, 80] || f[36..38] == [0, 80])
}

/// A poll loop's part: offers `frames` on its second port (d-out), then keeps its tap until
/// told to stop, or drops it at once when `linger` is false (a loop that ended).
#[derive(Default)]
struct PretendLoop {
    frames: Vec<Vec<u8>>,
    linger: bool,
    starts: usize,
    running: Option<(Sender<()>, JoinHandle<()>)>,
}

impl PretendLoop {
    fn control(&mut self, tap: Option<&Tap>) {
        match tap {
            Some(t) => {
                self.starts += 1;
                let mut tap = t.clone();
                let (frames, linger) = (self.frames.clone(), self.linger);
                let (stop_tx, stop_rx) = bounded::<()>(1);
                let h = std::thread::spawn(move || {
                    tap.bind_ports(["d-in", "d-out"].into_iter());
                    assert!(!tap.watches(0) && tap.watches(1) && !tap.watches(2));
                    for f in &frames {
                        tap.offer(std::iter::once(&f[..]));
                    }
                    if linger {
                        let _ = stop_rx.recv();
                    }
                });
                self.running = Some((stop_tx, h));
            }
            None => {
                if let Some((stop, h)) = self.running.take() {
                    let _ = stop.send(());
                    h.join().unwrap();
                }
            }
        }
    }
}

struct Ran {
    code: i32,
    starts: usize,
    busy_after: bool,
}

/// rvsadm's `argv` through the client code to a session whose loop offers `lp.frames`;
/// `stop` is rvsadm's Ctrl-C flag; `busy` the daemon's one-capture flag.
fn capture(argv: &[&str], mut lp: PretendLoop, stop: Arc<AtomicBool>, busy: Arc<AtomicBool>) -> Ran {
    let (rvs_end, rvsadm_end) = UnixStream::pair().unwrap();
    let server = std::thread::spawn(move || {
        let req: Request = serde_json::from_slice(&read_message(&rvs_end, 1 << 20).unwrap()).unwrap();
        let Ok(Command::Capture(spec)) = crate::ipvsadm::args::parse(&req.argv) else { panic!("{req:?}") };
        let devices = ["d-in".to_string(), "d-out".to_string()];
        // As daemon/query.rs answers: the first line when it starts, the last at the end.
        let answer = |stderr: String, code| Response { stdout: String::new(), stderr, code };
        let mut started = |line: &str| write_message(&rvs_end, &answer(line.to_string(), 0));
        let (stderr, code) = run(&spec, &devices, &busy, &mut |t| lp.control(t), &rvs_end, &mut started).answer();
        write_message(&rvs_end, &answer(stderr, code)).unwrap();
        lp.control(None);
        (lp.starts, busy.load(Ordering::Relaxed))
    });
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let file = file_of(&argv);
    let code = exchange("rvsadm", &rvsadm_end, argv, &file, &stop, &|| {});
    let (starts, busy_after) = server.join().unwrap();
    Ran { code, starts, busy_after }
}

fn file_of(argv: &[String]) -> String {
    argv.iter().position(|a| a == "-w").map(|i| argv[i + 1].clone()).unwrap()
}

use std::sync::Arc;

/// A test's own directory, removed when the test ends.
struct Remove(std::path::PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A path for a file `name` in a directory of this test's own (tests run in parallel).
fn temp(name: &str) -> (String, Remove) {
    let dir = std::env::temp_dir().join(format!("rvs-capture-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    (dir.join(name).to_string_lossy().into_owned(), Remove(dir))
}

#[test]
fn count_frames_matching_the_filter_reach_the_file_in_order() {
    let (path, _remove) = temp("count.pcap");
    let lp = PretendLoop { frames: traffic(), linger: true, ..Default::default() };
    let argv = ["--capture", "d-out", "-w", &path, "--count", "3", "--filter", "tcp port 80"];
    let out = capture(&argv, lp, Arc::default(), Arc::default());
    assert_eq!((out.code, out.starts, out.busy_after), (0, 1, false));
    let (link, records) = read_savefile(&path).unwrap();
    assert_eq!(link, 1, "Ethernet");
    let want: Vec<Vec<u8>> = traffic().into_iter().filter(|f| port_80(f)).take(3).collect();
    assert_eq!(records.iter().map(|r| r.data.clone()).collect::<Vec<_>>(), want);
    assert!(records.iter().all(|r| r.wire_len as usize == r.data.len() && r.sec > 1_600_000_000));
}

#[test]
fn without_a_count_it_runs_until_rvsadm_stops_it_and_the_file_is_whole() {
    let (path, _remove) = temp("ctrl-c.pcap");
    let stop = Arc::new(AtomicBool::new(false));
    let ctrl_c = stop.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        ctrl_c.store(true, Ordering::Relaxed);
    });
    let lp = PretendLoop { frames: traffic(), linger: true, ..Default::default() };
    let out = capture(&["--capture", "d-out", "-w", &path], lp, stop, Arc::default());
    t.join().unwrap();
    assert_eq!((out.code, out.busy_after), (0, false));
    let (_, records) = read_savefile(&path).unwrap();
    assert_eq!(records.len(), traffic().len(), "every frame, no filter");
}

#[test]
fn a_capture_ends_when_the_loops_do() {
    let (path, _remove) = temp("ended.pcap");
    let lp = PretendLoop { frames: traffic(), linger: false, ..Default::default() };
    let out = capture(
        &["--capture", "d-out", "-w", &path, "--count", "100", "--filter", "arp"],
        lp,
        Arc::default(),
        Arc::default(),
    );
    assert_eq!(out.code, 0);
    assert_eq!(read_savefile(&path).unwrap().1.len(), 1);
}

#[test]
fn refusals_start_nothing_and_leave_the_file_alone() {
    let (path, _remove) = temp("refused.pcap");
    std::fs::write(&path, b"kept").unwrap();
    let lp = || PretendLoop { frames: traffic(), linger: true, ..Default::default() };
    let bad_filter = ["--capture", "d-out", "-w", &path, "--filter", "tcp prt 80"];
    let out = capture(&bad_filter, lp(), Arc::default(), Arc::default());
    assert_eq!((out.code, out.starts, out.busy_after), (2, 0, false));
    let no_such = ["--capture", "eth9", "-w", &path];
    let out = capture(&no_such, lp(), Arc::default(), Arc::default());
    assert_eq!((out.code, out.starts), (2, 0));
    let busy = Arc::new(AtomicBool::new(true));
    let out = capture(&["--capture", "d-out", "-w", &path], lp(), Arc::default(), busy);
    assert_eq!((out.code, out.starts, out.busy_after), (1, 0, true), "the running capture keeps its flag");
    assert_eq!(std::fs::read(&path).unwrap(), b"kept");
}

#[test]
fn an_unwritable_file_fails_before_rvs_is_asked() {
    let (rvsadm_end, rvs_end) = UnixStream::pair().unwrap();
    let stop = AtomicBool::new(false);
    let argv = vec!["--capture".to_string()];
    assert_eq!(exchange("rvsadm", &rvsadm_end, argv, "/nonexistent-dir/x.pcap", &stop, &|| {}), 1);
    rvs_end.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    assert!(std::io::Read::read(&mut &rvs_end, &mut b).is_err(), "nothing was sent to rvs");
}

#[test]
fn the_refusals_say_why() {
    let (a, _b) = UnixStream::pair().unwrap();
    let spec = |iface: &str, filter: Option<&str>| CaptureSpec {
        iface: iface.into(),
        file: "-".into(),
        count: None,
        filter: filter.map(str::to_string),
    };
    let devices = ["d-in".to_string(), "d-out".to_string()];
    let never = &mut |_: Option<&Tap>| panic!("no loop is told anything");
    let not_started = &mut |_: &str| panic!("nothing starts");
    let idle = AtomicBool::new(false);
    let r = run(&spec("eth9", None), &devices, &idle, never, &a, not_started).answer();
    assert_eq!(
        r,
        ("rvsadm: --capture: rvs owns no interface 'eth9' (it owns d-in, d-out; any: all of them)\n".into(), 2)
    );
    let r = run(&spec("d-out", Some("tcp prt 80")), &devices, &idle, never, &a, not_started).answer();
    assert_eq!(r, ("rvsadm: --filter 'tcp prt 80': can't parse filter expression: syntax error\n".into(), 2));
    let r = run(&spec("d-out", None), &devices, &AtomicBool::new(true), never, &a, not_started).answer();
    assert_eq!(r, ("rvsadm: --capture: a capture is already running (one at a time)\n".into(), 1));
    let done = Outcome::Done { captured: 3, dropped: 1 }.answer();
    assert_eq!(done, ("3 packets captured\n1 packets dropped by rvs (capture buffers full)\n".into(), 0));
}

#[test]
fn a_full_ring_counts_and_forwarding_goes_on() {
    let (mut tap, drain) = ring(Program::accept_all(20), "d-out", 2);
    tap.bind_ports(["d-out"].into_iter());
    let f = traffic();
    tap.offer(f.iter().map(|f| &f[..]));
    assert_eq!(tap.take_dropped(), f.len() as u64 - 2);
    assert_eq!(tap.take_dropped(), 0, "taken");
    assert_eq!(drain.dropped(), f.len() as u64 - 2);
    let Next::Frame(r) = drain.next(Duration::ZERO) else { panic!("a frame") };
    assert_eq!((r.data.len(), r.wire_len as usize), (20, f[0].len()), "cut at the program's snapshot length");
    assert_eq!(r.data[..], f[0][..20]);
    drain.give_back(r);
    drop(drain);
    assert!(!tap.closed());
    tap.offer(f.iter().map(|f| &f[..]));
    assert!(tap.closed(), "the control side is gone: the loop lets go");
}

#[test]
fn any_watches_every_port() {
    let (mut tap, _drain) = ring(Program::accept_all(20), "any", 2);
    tap.bind_ports(["d-in", "d-out", "d-out"].into_iter());
    assert!((0..3).all(|pi| tap.watches(pi)) && !tap.watches(3));
    let (mut one, _drain) = ring(Program::accept_all(20), "d-out", 2);
    one.bind_ports(["d-in", "d-out", "d-out"].into_iter());
    assert_eq!((0..4).map(|pi| one.watches(pi)).collect::<Vec<_>>(), [false, true, true, false]);
}
