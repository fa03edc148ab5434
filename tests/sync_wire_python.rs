//! Cross-checks rvs's IPVS sync codec (src/ipvs/sync) against an independent
//! reader and writer in Python (tests/sync_wire_decode.py, `struct` over the
//! layouts of Linux's ip_vs_sync.c), both ways: messages rvs encodes decode
//! there to the connections rvs was given, and kernel-format messages built
//! there decode in rvs to the connections Python put in them.

use rvs::api::FwdMethod;
use rvs::ipvs::state::ConnState;
use rvs::ipvs::sync::{decode, encode, PeData, SeqAdjust, SeqData, SyncConn};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sync_wire_decode.py")
}

fn have_python() -> bool {
    let ok = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: python3 not found, the sync wire cross-check did not run");
    }
    ok
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rvs-sync-wire-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The script's entry line for a connection.
fn line(c: &SyncConn) -> String {
    let seq = match &c.seq {
        None => "-".to_string(),
        Some(s) => format!(
            "{},{},{}/{},{},{}",
            s.in_seq.init_seq,
            s.in_seq.delta,
            s.in_seq.previous_delta,
            s.out_seq.init_seq,
            s.out_seq.delta,
            s.out_seq.previous_delta
        ),
    };
    let pe = match &c.pe {
        None => "-".to_string(),
        Some(p) => format!(
            "{}:{}",
            String::from_utf8_lossy(p.name()),
            p.data().iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    };
    format!(
        "conn proto={} caddr={}:{} vaddr={}:{} daddr={}:{} fwd={} laddr={}:{} state={} inactive={} timeout={} \
         template={} fwmark={} seq={seq} pe={pe}",
        c.proto,
        c.caddr,
        c.cport,
        c.vaddr,
        c.vport,
        c.daddr,
        c.dport,
        c.fwd.list_name(),
        c.laddr,
        c.lport,
        c.state.name(),
        c.inactive as u8,
        c.timeout_s,
        c.template as u8,
        c.fwmark
    )
}

fn conns() -> Vec<SyncConn> {
    let base = SyncConn {
        proto: 6,
        caddr: Ipv4Addr::new(198, 18, 0, 1),
        cport: 40000,
        vaddr: Ipv4Addr::new(198, 18, 1, 1),
        vport: 80,
        daddr: Ipv4Addr::new(198, 19, 0, 2),
        dport: 8080,
        fwd: FwdMethod::Masq,
        laddr: Ipv4Addr::UNSPECIFIED,
        lport: 0,
        state: ConnState::Established,
        inactive: false,
        timeout_s: 900,
        template: false,
        fwmark: 0,
        seq: None,
        pe: None,
    };
    let tcp = ConnState::TCP;
    let mut v = Vec::new();
    for (i, fwd) in [FwdMethod::Masq, FwdMethod::Route, FwdMethod::Tunnel, FwdMethod::FullNat].into_iter().enumerate() {
        for (j, &state) in tcp.iter().enumerate() {
            let n = (i * 16 + j) as u16;
            let fullnat = fwd == FwdMethod::FullNat;
            v.push(SyncConn {
                cport: 40000 + n,
                fwd,
                laddr: if fullnat { Ipv4Addr::new(198, 18, 2, 1 + j as u8) } else { Ipv4Addr::UNSPECIFIED },
                lport: if fullnat { 1024 + n } else { 0 },
                state,
                inactive: state != ConnState::Established,
                timeout_s: 10 * n as u32,
                fwmark: if i == 1 { 3 } else { 0 },
                ..base.clone()
            });
        }
        v.push(SyncConn {
            proto: 17,
            cport: 5353,
            vport: 53,
            dport: 53,
            fwd,
            laddr: if fullnat(fwd) { Ipv4Addr::new(198, 18, 2, 9) } else { Ipv4Addr::UNSPECIFIED },
            lport: if fullnat(fwd) { 2000 } else { 0 },
            state: ConnState::Udp,
            timeout_s: 300,
            ..base.clone()
        });
        v.push(SyncConn {
            proto: 17,
            cport: 0,
            vport: 5060,
            dport: 5060,
            fwd,
            state: ConnState::None,
            template: true,
            timeout_s: 360,
            pe: PeData::new(b"sip", format!("call-{i}@198.18.0.1").as_bytes()),
            ..base.clone()
        });
    }
    v.push(SyncConn {
        vport: 21,
        dport: 21,
        seq: Some(SeqData {
            in_seq: SeqAdjust { init_seq: 0x1000_0000, delta: 12, previous_delta: 4 },
            out_seq: SeqAdjust { init_seq: 0xffff_fff0, delta: (-8i32) as u32, previous_delta: 0 },
        }),
        ..base.clone()
    });
    v.push(SyncConn { cport: 0, vport: 0, template: true, state: ConnState::None, fwmark: 77, proto: 0, ..base });
    v
}

fn fullnat(f: FwdMethod) -> bool {
    f == FwdMethod::FullNat
}

#[test]
fn rvs_messages_decode_in_python() {
    if !have_python() {
        return;
    }
    let dir = scratch("rvs");
    let input = conns();
    let max_len = 400;
    let msgs = encode(42, &input, max_len);
    let mut files = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        assert!(m.len() <= max_len);
        let f = dir.join(format!("rvs_{i:02}.bin"));
        std::fs::write(&f, m).unwrap();
        files.push(f);
    }
    let out = Command::new("python3").arg(script()).arg("decode").args(&files).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python decoder refused rvs's messages:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headers: Vec<&str> = stdout.lines().filter(|l| l.starts_with("msg ")).collect();
    assert_eq!(headers.len(), msgs.len());
    assert!(headers.iter().all(|h| h.starts_with("msg version=1 syncid=42 ")), "{headers:?}");
    let got: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("msg ")).collect();
    let want: Vec<String> = input.iter().map(line).collect();
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    assert_eq!(got.len(), want.len());
    eprintln!(
        "rvs -> python: {} connections in {} messages of at most {max_len} bytes ({} bytes in all), all fields equal",
        input.len(),
        msgs.len(),
        msgs.iter().map(Vec::len).sum::<usize>()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kernel_messages_decode_in_rvs() {
    if !have_python() {
        return;
    }
    let dir = scratch("kernel");
    let out = Command::new("python3").arg(script()).arg("build").arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    for name in ["kernel_v1", "kernel_v0"] {
        let bytes = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
        let expect = std::fs::read_to_string(dir.join(format!("{name}.expect"))).unwrap();
        let mut lines = expect.lines();
        let header = lines.next().unwrap();
        let d = decode(&bytes).unwrap_or_else(|e| panic!("{name}: rvs refused a kernel-format message: {e}"));
        assert!(header.starts_with(&format!("msg version={} syncid={} ", d.version, d.syncid)), "{name}: {header}");
        let want: Vec<&str> = lines.clone().filter(|l| l.starts_with("conn ")).collect();
        let got: Vec<String> = d.conns.iter().map(line).collect();
        assert_eq!(got, want, "{name}");
        let mut want_skips: Vec<&str> = lines.filter_map(|l| l.strip_prefix("skip ")).collect();
        let mut got_skips: Vec<&str> = d.skipped.iter().map(|e| e.name()).collect();
        want_skips.sort();
        got_skips.sort();
        assert_eq!(got_skips, want_skips, "{name}");
        eprintln!(
            "python -> rvs: {name} ({} bytes): {} connections installed, skipped {:?}",
            bytes.len(),
            got.len(),
            got_skips
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
