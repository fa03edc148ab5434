//! Hand-computed byte vectors for both versions, round trips, message
//! packing under a size limit, and one input per [`SyncError`].

use super::*;
use crate::api::FwdMethod;
use crate::ipvs::state::ConnState;
use std::net::Ipv4Addr;

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// 198.18.0.10:40000 -> 198.18.1.1:80 -> 198.19.0.2:8080, NAT, ESTABLISHED.
fn nat_tcp_established() -> SyncConn {
    SyncConn {
        proto: 6,
        caddr: ip(198, 18, 0, 10),
        cport: 40000,
        vaddr: ip(198, 18, 1, 1),
        vport: 80,
        daddr: ip(198, 19, 0, 2),
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
    }
}
const NAT_TCP_ESTABLISHED: &str = "00 06 0024  00000000  0001 9c40 0050 1f90  00000000  00000384
                                   c612000a c6120101 c6130002";

/// A DR persistence template of a SIP service with the engine's data.
fn sip_template() -> SyncConn {
    SyncConn {
        proto: 17,
        caddr: ip(198, 18, 0, 10),
        cport: 0,
        vaddr: ip(198, 18, 1, 1),
        vport: 5060,
        daddr: ip(198, 19, 0, 3),
        dport: 5060,
        fwd: FwdMethod::Route,
        state: ConnState::None,
        timeout_s: 300,
        template: true,
        pe: PeData::new(b"sip", b"abc123"),
        ..nat_tcp_established()
    }
}
// flags = DROUTE 3 | NOOUTPUT 0x80 | TEMPLATE 0x1000; size 36 + 8 + 5 = 49.
const SIP_TEMPLATE: &str = "00 11 0031  00001083  0000 0000 13c4 13c4  00000000  0000012c
                            c612000a c6120101 c6130003  02 06 616263313233  03 03 736970";

fn udp_inactive() -> SyncConn {
    SyncConn {
        proto: 17,
        caddr: ip(198, 18, 0, 11),
        cport: 53000,
        vaddr: ip(198, 18, 1, 2),
        vport: 53,
        daddr: ip(198, 19, 0, 4),
        dport: 53,
        state: ConnState::Udp,
        inactive: true,
        timeout_s: 300,
        ..nat_tcp_established()
    }
}
const UDP_INACTIVE: &str = "00 11 0024  00000100  0000 cf08 0035 0035  00000000  0000012c
                            c612000b c6120102 c6130004";

fn with_seq() -> SyncConn {
    SyncConn {
        seq: Some(SeqData {
            in_seq: SeqAdjust { init_seq: 1000, delta: 5, previous_delta: 0 },
            out_seq: SeqAdjust { init_seq: 2000, delta: (-3i32) as u32, previous_delta: 2 },
        }),
        fwmark: 7,
        ..nat_tcp_established()
    }
}
// flags IN_SEQ|OUT_SEQ = 0x600; size 36 + 2 + 24 = 62.
const WITH_SEQ: &str = "00 06 003e  00000600  0001 9c40 0050 1f90  00000007  00000384
                        c612000a c6120101 c6130002
                        01 18  000003e8 00000005 00000000  000007d0 fffffffd 00000002";

fn fullnat_syn_recv() -> SyncConn {
    SyncConn {
        fwd: FwdMethod::FullNat,
        laddr: ip(198, 18, 2, 1),
        lport: 1025,
        state: ConnState::SynRecv,
        inactive: true,
        timeout_s: 60,
        ..nat_tcp_established()
    }
}
const FULLNAT_SYN_RECV: &str = "00 06 002c  00000100  0003 9c40 0050 1f90  00000000  0000003c
                                c612000a c6120101 c6130002  30 06 c6120201 0401";

fn message(syncid: u8, entries: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in entries {
        body.resize(body.len().div_ceil(4) * 4, 0);
        body.extend(hex(e));
    }
    let size = (8 + body.len()) as u16;
    let mut m = vec![0, syncid, (size >> 8) as u8, size as u8, entries.len() as u8, 1, 0, 0];
    m.extend(body);
    m
}

fn check_vector(name: &str, c: SyncConn, bytes: &str) {
    let m = message(9, &[bytes]);
    assert_eq!(encode(9, &[c.clone()], 1472), vec![m.clone()], "{name}: encoding");
    let d = decode(&m).unwrap();
    assert_eq!((d.version, d.syncid, d.skipped.len()), (1, 9, 0), "{name}");
    assert_eq!(d.conns, vec![c], "{name}: decoding");
    eprintln!("{name}: {} bytes, entry {} bytes", m.len(), hex(bytes).len());
}

#[test]
fn v1_nat_tcp_established() {
    check_vector("NAT TCP ESTABLISHED", nat_tcp_established(), NAT_TCP_ESTABLISHED);
}

#[test]
fn v1_template_with_pe_data() {
    check_vector("SIP template", sip_template(), SIP_TEMPLATE);
}

#[test]
fn v1_udp() {
    check_vector("UDP", udp_inactive(), UDP_INACTIVE);
}

#[test]
fn v1_seq_option() {
    check_vector("SEQ option", with_seq(), WITH_SEQ);
}

#[test]
fn v1_fullnat_option() {
    check_vector("FULLNAT", fullnat_syn_recv(), FULLNAT_SYN_RECV);
}

#[test]
fn v1_entries_are_padded_to_32_bits() {
    // 49-byte template, 3 bytes of padding, then the UDP entry.
    let m = message(1, &[SIP_TEMPLATE, UDP_INACTIVE]);
    assert_eq!(m.len(), 8 + 49 + 3 + 36);
    assert_eq!(encode(1, &[sip_template(), udp_inactive()], 1472), vec![m.clone()]);
    assert_eq!(decode(&m).unwrap().conns, vec![sip_template(), udp_inactive()]);
}

#[test]
fn v1_empty_message() {
    let d = decode(&hex("00 05 0008 00 01 0000")).unwrap();
    assert_eq!((d.version, d.syncid, d.conns.len()), (1, 5, 0));
}

#[test]
fn v0_message() {
    // Two entries: NAT ESTABLISHED, then a template-less TCP entry with the
    // sequence options (host order: little-endian).
    let m = hex("02 03 004c
         00 06 9c40 0050 1f90 c612000a c6120101 c6130002 0000 0001
         00 06 9c41 0050 1f90 c612000a c6120101 c6130002 0600 0005
         e8030000 05000000 00000000  d0070000 fdffffff 02000000");
    let d = decode(&m).unwrap();
    assert_eq!((d.version, d.syncid, d.skipped.len()), (0, 3, 0));
    let first = SyncConn { timeout_s: 0, ..nat_tcp_established() };
    let second = SyncConn { cport: 40001, state: ConnState::TimeWait, fwmark: 0, timeout_s: 0, ..with_seq() };
    assert_eq!(d.conns, vec![first, second]);
    eprintln!("v0: {} bytes, {} entries", m.len(), d.conns.len());
}

#[test]
fn v0_empty_message() {
    let d = decode(&hex("00 01 0004")).unwrap();
    assert_eq!((d.version, d.syncid, d.conns.len()), (0, 1, 0));
}

fn varied(n: usize) -> Vec<SyncConn> {
    let kinds = [nat_tcp_established(), sip_template(), udp_inactive(), with_seq(), fullnat_syn_recv()];
    (0..n)
        .map(|i| {
            let mut c = kinds[i % kinds.len()].clone();
            c.caddr = Ipv4Addr::from(u32::from(ip(198, 18, 0, 0)) + i as u32);
            c.cport = if c.template { 0 } else { 1024 + i as u16 };
            c.timeout_s = i as u32 * 7;
            c
        })
        .collect()
}

#[test]
fn round_trip_across_messages_within_max_len() {
    for max_len in [1, 64, 200, 1472, 65507] {
        let conns = varied(300);
        let msgs = encode(42, &conns, max_len);
        let mut back = Vec::new();
        for m in &msgs {
            assert!(m.len() <= max_len.max(8 + 62), "{} > {max_len}", m.len());
            let d = decode(m).unwrap();
            assert_eq!((d.syncid, d.skipped.len()), (42, 0));
            back.extend(d.conns);
        }
        assert_eq!(back, conns, "max_len {max_len}");
        eprintln!("max_len {max_len}: 300 entries in {} messages", msgs.len());
    }
}

#[test]
fn default_maxlen_packs_40_nat_entries() {
    // (1472 - 8) / 36 = 40 plain IPv4 entries per master message.
    let conns: Vec<SyncConn> = (0..100).map(|i| SyncConn { cport: i, ..nat_tcp_established() }).collect();
    let msgs = encode(1, &conns, maxlen::master_maxlen(None));
    let counts: Vec<u8> = msgs.iter().map(|m| m[4]).collect();
    assert_eq!(counts, vec![40, 40, 20]);
    assert_eq!(msgs[0].len(), 8 + 40 * 36);
}

#[test]
fn at_most_255_entries_per_message() {
    let conns: Vec<SyncConn> = (0..300).map(|i| SyncConn { cport: i, ..nat_tcp_established() }).collect();
    let msgs = encode(1, &conns, 65507);
    assert_eq!(msgs.iter().map(|m| m[4]).collect::<Vec<_>>(), vec![255, 45]);
}

#[test]
fn syncid_filter() {
    assert!(syncid_accepted(0, 9));
    assert!(syncid_accepted(9, 9));
    assert!(!syncid_accepted(8, 9));
    assert_eq!(header_syncid(&message(9, &[NAT_TCP_ESTABLISHED])), Ok(9));
    assert_eq!(header_syncid(&hex("02 03 0005")), Err(SyncError::BadSize));
    assert_eq!(SyncError::BadSyncid.name(), "sync-bad-syncid");
}

/// A one-entry version 1 message around `entry`.
fn one(entry: &str) -> Vec<u8> {
    message(1, &[entry])
}

fn with_size(mut m: Vec<u8>, size: usize) -> Vec<u8> {
    m[2..4].copy_from_slice(&(size as u16).to_be_bytes());
    m
}

#[test]
fn every_message_error() {
    let nat = NAT_TCP_ESTABLISHED;
    let entry_tail = "00000000 0001 9c40 0050 1f90 00000000 00000384 c612000a c6120101 c6130002";
    let mut trailing = one(nat);
    trailing.extend([0; 4]);
    let trailing = with_size(trailing, 48);
    let cases: Vec<(&str, Vec<u8>, SyncError)> = vec![
        ("3 bytes", hex("00 01 00"), SyncError::Truncated),
        ("count without entry", hex("00 07 0008 01 01 0000"), SyncError::Truncated),
        ("entry past the end", with_size(one(nat)[..40].to_vec(), 40), SyncError::Truncated),
        ("entry size past the end", one(&format!("00 06 0028 {entry_tail}")), SyncError::Truncated),
        ("v0 entry cut", hex("01 03 0012 00 06 9c40 0050 1f90 c612000a c612"), SyncError::Truncated),
        ("size field", with_size(one(nat), 45), SyncError::BadSize),
        ("trailing bytes", trailing, SyncError::BadSize),
        ("v1 header cut", hex("00 03 0006 0000"), SyncError::Truncated),
        (
            "v0 leftover",
            hex("01 03 001e 00 06 9c40 0050 1f90 c612000a c6120101 c6130002 0000 0001 0000"),
            SyncError::BadSize,
        ),
        ("version 2", hex("00 07 0008 00 02 0000"), SyncError::BadVersion),
        ("spare set", hex("00 07 0008 00 01 0001"), SyncError::BadVersion),
        ("entry type 2", one(&format!("02 06 0024 {entry_tail}")), SyncError::BadEntryType),
        ("entry version 1", one(&format!("00 06 1024 {entry_tail}")), SyncError::BadEntryVersion),
        ("entry size 32", with_size(one(&format!("00 06 0020 {entry_tail}")), 44), SyncError::BadEntrySize),
        ("entry size 0", with_size(one(&format!("00 06 0000 {entry_tail}")), 44), SyncError::BadEntrySize),
        ("option length 0", one(&format!("00 06 0026 {entry_tail} 02 00")), SyncError::BadOption),
        ("option header cut", one(&format!("00 06 0025 {entry_tail} 02")), SyncError::BadOption),
        ("option past entry", one(&format!("00 06 0027 {entry_tail} 02 02 61")), SyncError::BadOption),
        ("seq length 23", one(&format!("00 06 003d {entry_tail} 01 17 {}", "00".repeat(23))), SyncError::BadOption),
        ("pe data twice", one(&format!("00 06 002a {entry_tail} 02 01 61 02 01 62")), SyncError::BadOption),
        ("pe name 17", one(&format!("00 06 0037 {entry_tail} 03 11 {}", "61".repeat(17))), SyncError::BadOption),
        ("fullnat length 4", one(&format!("00 06 002a {entry_tail} 30 04 c6120201")), SyncError::BadOption),
        (
            "fullnat on DR",
            one(&format!("00 06 002c 00000003 {} 30 06 c6120201 0401", &entry_tail[9..])),
            SyncError::BadOption,
        ),
    ];
    for (name, input, want) in cases {
        assert_eq!(decode(&input), Err(want), "{name}");
        eprintln!("{name}: {want}");
    }
}

#[test]
fn every_entry_skip_keeps_the_rest() {
    let tail = |flags: &str, state: &str| {
        format!("{flags} {state} 9c40 0050 1f90 00000000 00000384 c612000a c6120101 c6130002")
    };
    let v6 = format!("01 06 0048 00000000 0001 9c40 0050 1f90 00000000 00000384 {}", "20010db8".repeat(12));
    let cases: Vec<(&str, String, SyncError)> = vec![
        ("IPv6", v6, SyncError::Ipv6Entry),
        ("mandatory option 5", format!("00 06 0028 {} 05 02 0000", tail("00000000", "0001")), SyncError::UnknownOption),
        ("ESP", format!("00 32 0024 {}", tail("00000000", "0001")), SyncError::UnknownProtocol),
        ("SCTP state 14", format!("00 84 0024 {}", tail("00000000", "000e")), SyncError::BadState),
        ("TCP state 11", format!("00 06 0024 {}", tail("00000000", "000b")), SyncError::BadState),
        ("UDP state 1", format!("00 11 0024 {}", tail("00000000", "0001")), SyncError::BadState),
        ("PE data alone", format!("00 06 0027 {} 02 01 61", tail("00000000", "0001")), SyncError::BadPe),
        ("local node", format!("00 06 0024 {}", tail("00000001", "0001")), SyncError::UnsupportedMethod),
        ("bypass", format!("00 06 0024 {}", tail("00000004", "0001")), SyncError::UnsupportedMethod),
    ];
    for (name, entry, want) in cases {
        let m = message(1, &[&entry, NAT_TCP_ESTABLISHED]);
        let d = decode(&m).unwrap();
        assert_eq!(d.skipped, vec![want], "{name}");
        assert_eq!(d.conns, vec![nat_tcp_established()], "{name}");
        eprintln!("{name}: skipped as {want}, next entry kept");
    }
    // The same in version 0.
    let v0 = hex("02 03 0034 00 32 9c40 0050 1f90 c612000a c6120101 c6130002 0000 0001
                  00 06 9c40 0050 1f90 c612000a c6120101 c6130002 0000 0001");
    let d = decode(&v0).unwrap();
    assert_eq!((d.skipped, d.conns.len()), (vec![SyncError::UnknownProtocol], 1));
}

#[test]
fn optional_unknown_option_is_ignored() {
    // Bit 0x40 (IPVS_OPT_F_PARAM): skip the option, keep the entry.
    let m = one(&format!(
        "00 06 0028 00000000 0001 9c40 0050 1f90 00000000 00000384 c612000a c6120101 c6130002 45 02 0000"
    ));
    assert_eq!(decode(&m).unwrap().conns, vec![nat_tcp_established()]);
}

/// The fuzz target's seeds (`fuzz/corpus/sync_decode/`) are valid messages
/// that survive a round trip; regenerate with
/// `RVS_SYNC_SEEDS=1 cargo test --release sync::tests::fuzz_seeds`.
#[test]
fn fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/sync_decode");
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("v1_nat", message(1, &[NAT_TCP_ESTABLISHED])),
        ("v1_mixed", message(2, &[SIP_TEMPLATE, UDP_INACTIVE, WITH_SEQ, FULLNAT_SYN_RECV])),
        ("v1_varied", encode(3, &varied(20), 1472).remove(0)),
        (
            "v0_two",
            hex("02 03 004c 00 06 9c40 0050 1f90 c612000a c6120101 c6130002 0000 0001
                 00 06 9c41 0050 1f90 c612000a c6120101 c6130002 0600 0005
                 e8030000 05000000 00000000 d0070000 fdffffff 02000000"),
        ),
    ];
    if std::env::var_os("RVS_SYNC_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in &seeds {
        let on_disk = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(&on_disk, bytes, "{name} is stale");
        let d = decode(bytes).unwrap();
        let again: Vec<SyncConn> = encode(0, &d.conns, 65507).iter().flat_map(|m| decode(m).unwrap().conns).collect();
        assert_eq!(again, d.conns, "{name}");
    }
}
