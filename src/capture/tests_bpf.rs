//! The interpreter against libpcap's own (`pcap_offline_filter`): tcpdump expressions
//! compiled by libpcap and random programs, on frames from the test kit.

use super::*;
use crate::capture::filter::{compile_insns, reference::verdict};
use crate::testkit::frames;

const C_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const D_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const CLIENT: [u8; 4] = [198, 18, 0, 10];
const VIP: [u8; 4] = [198, 18, 0, 100];
const RS: [u8; 4] = [198, 18, 1, 11];

/// A frame with an 802.1Q tag of `vid` after the MAC addresses.
fn tagged(f: &[u8], vid: u16) -> Vec<u8> {
    let mut v = f[..12].to_vec();
    v.extend_from_slice(&[0x81, 0x00]);
    v.extend_from_slice(&vid.to_be_bytes());
    v.extend_from_slice(&f[12..]);
    v
}

fn ipv6_tcp(dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    let (src, dst) = (
        [0x20, 1, 0xd, 0xb8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10],
        [0x20, 1, 0xd, 0xb8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
    );
    etherparse::PacketBuilder::ethernet2(C_MAC, D_MAC)
        .ipv6(src, dst, 64)
        .tcp(40000, dport, 1, 64000)
        .syn()
        .write(&mut v, b"")
        .unwrap();
    v
}

/// Every kind of frame a director sees, whole, cut short and odd.
fn frames() -> Vec<Vec<u8>> {
    let syn = frames::tcp(C_MAC, D_MAC, CLIENT, VIP, 40000, 80, "S", b"");
    let get = frames::tcp(C_MAC, D_MAC, CLIENT, VIP, 40000, 80, "AP", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let rewritten = frames::tcp(D_MAC, C_MAC, CLIENT, RS, 40000, 80, "AP", b"GET / HTTP/1.1\r\n\r\n");
    let reply = frames::tcp(C_MAC, D_MAC, RS, CLIENT, 80, 40000, "A", &[0x55; 1400]);
    let ssh = frames::tcp(C_MAC, D_MAC, CLIENT, VIP, 40001, 22, "S", b"");
    let dns = frames::udp(C_MAC, D_MAC, CLIENT, VIP, 5353, 53, &[0x12, 0x34, 1, 0]);
    let echo = frames::udp(C_MAC, D_MAC, RS, CLIENT, 5353, 40000, b"rs1");
    let arp_req = frames::arp(C_MAC, [0xff; 6], 1, C_MAC, CLIENT, [0; 6], VIP);
    let arp_rep = frames::arp(D_MAC, C_MAC, 2, D_MAC, VIP, C_MAC, CLIENT);
    let ping = frames::echo_request(C_MAC, D_MAC, CLIENT, VIP, 7, 1, b"ping");
    let icmp_err = frames::icmp_error(D_MAC, C_MAC, RS, CLIENT, frames::port_unreachable(), &echo[14..42]);
    let sctp = frames::sctp(C_MAC, D_MAC, CLIENT, VIP, 5000, 80, 0x1234, &[(1, 0, &[0; 16])]);
    let mut all = vec![
        frames::with_ip_options(&syn, &[1, 1, 1, 0]),
        frames::as_fragment(&get, true, 0),
        frames::as_fragment(&get, false, 185),
        tagged(&syn, 100),
        tagged(&dns, 200),
        ipv6_tcp(80),
        ipv6_tcp(443),
        vec![],
        vec![0xff; 6],
        vec![0u8; 14],
        syn,
        get,
        rewritten,
        reply,
        ssh,
        dns,
        echo,
        arp_req,
        arp_rep,
        ping,
        icmp_err,
        sctp,
    ];
    // Cut short at each interesting length: every load past the end must reject the frame.
    let cuts: Vec<Vec<u8>> = all
        .iter()
        .filter(|f| f.len() > 40)
        .flat_map(|f| [13, 20, 23, 33, 34, 36, 40].map(|n| f[..n].to_vec()))
        .collect();
    all.extend(cuts);
    all
}

/// tcpdump expressions touching every kind of instruction libpcap emits: loads of each size
/// and mode, the IPv4 header-length load, scratch memory, arithmetic of every operator,
/// every comparison.
const EXPRESSIONS: &[&str] = &[
    "",
    "tcp",
    "udp",
    "tcp port 80",
    "tcp dst port 80",
    "src host 198.18.0.10",
    "host 198.18.1.11 and tcp",
    "net 198.18.0.0/24",
    "dst net 198.18.1.0/24 and not icmp",
    "arp",
    "arp[6:2] = 2",
    "icmp",
    "icmp[icmptype] == icmp-echo",
    "icmp[icmptype] == icmp-unreach",
    "ip[8] == 64",
    "tcp[tcpflags] & tcp-syn != 0",
    "tcp[13] & 2 != 0 and tcp[13] & 16 == 0",
    "portrange 1-1024",
    "udp portrange 5000-6000",
    "len > 100",
    "less 64",
    "greater 1000",
    "vlan",
    "vlan 100",
    "vlan and tcp port 80",
    "vlan 200 and udp",
    "ip6",
    "ip6 and tcp port 80",
    "ip or ip6",
    "ether host 02:00:00:00:00:01",
    "ether broadcast",
    "ether[0] & 1 = 0",
    "not tcp",
    "(tcp or udp) and not port 22",
    "ip proto 132",
    "sctp port 80",
    "udp[8:2] == 0x1234",
    "ip[6:2] & 0x1fff != 0",
    "ip[6] & 0x20 != 0",
    "tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)",
    "ip and ip[2:2] > 40 and ip[2:2] % 2 == 0",
    "tcp[2:2] * 2 > 100",
    "ip[2:2] / 3 > 20",
    "ip[2:2] ^ 0xff > 0",
    "ip[2:2] | 1 == 41",
    "ip[2:2] >> 1 > 30 and ip[2:2] << 2 < 400",
    "ip[2:2] - 1 >= 59",
    "tcp[4:4] == 1000",
    "ip[0] & 0xf > 5",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
];

#[test]
fn compiled_filters_agree_with_libpcap_on_every_frame() {
    let frames = frames();
    let (mut accepted, mut rejected) = (0, 0);
    for expr in EXPRESSIONS {
        let insns = compile_insns(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let prog = Program::load(&insns).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let mut matched = 0;
        for (i, f) in frames.iter().enumerate() {
            let ours = prog.run(f);
            assert_eq!(ours, verdict(&insns, f), "`{expr}` on frame {i} ({} bytes)", f.len());
            matched += usize::from(ours != 0);
        }
        // Every expression but the empty one keeps some frames and not others.
        assert!(matched > 0, "`{expr}` matched nothing");
        assert!(expr.is_empty() || matched < frames.len(), "`{expr}` matched everything");
        accepted += matched;
        rejected += frames.len() - matched;
    }
    assert!(accepted > 100 && rejected > 100, "{accepted} accepted, {rejected} rejected");
}

#[test]
fn verdicts_a_reader_can_check() {
    let f = |e: &str| Program::load(&compile_insns(e).unwrap()).unwrap();
    let syn = frames::tcp(C_MAC, D_MAC, CLIENT, VIP, 40000, 80, "S", b"");
    let arp = frames::arp(C_MAC, [0xff; 6], 1, C_MAC, CLIENT, [0; 6], VIP);
    assert_eq!(f("tcp port 80").run(&syn), 262_144, "accepted: the snapshot length");
    assert_eq!(f("tcp port 80").run(&arp), 0);
    assert_eq!(f("arp").run(&arp), 262_144);
    assert_eq!(f("tcp port 80").run(&syn[..36]), 0, "the port is past the end: rejected");
    assert_eq!(f("host 198.18.0.100").run(&frames::tcp(C_MAC, D_MAC, CLIENT, RS, 1, 80, "S", b"")), 0);
    assert_eq!(Program::accept_all(96).run(&syn), 96);
}

#[test]
fn libpcap_refuses_what_tcpdump_refuses() {
    for bad in ["tcp prt 80", "port 99999", "ip[2:2] / 0 == 0", "host no.such.host.invalid", "tcp and"] {
        assert!(compile_insns(bad).is_err(), "{bad}");
    }
    let e = compile_insns("tcp prt 80").unwrap_err();
    assert!(e.contains("syntax error"), "{e}");
    assert_eq!(compile_insns("a\0b").unwrap_err(), "a filter expression cannot hold a NUL byte");
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

#[test]
fn the_kernels_checks_refuse_bad_programs() {
    let ret = insn(0x06, 0, 0, 1);
    let refuse = |p: &[Insn], why: &str| {
        let e = Program::load(p).unwrap_err().0;
        assert!(e.contains(why), "{p:?}: {e} (wanted {why})");
    };
    refuse(&[], "0 instructions");
    refuse(&vec![ret; MAX_INSNS + 1], "4097 instructions");
    assert!(Program::load(&vec![ret; MAX_INSNS]).is_ok());
    refuse(&[insn(0x00, 0, 0, 0)], "not a return");
    refuse(&[insn(0x05, 0, 0, 1), ret], "jump past the end");
    refuse(&[insn(0x05, 0, 0, u32::MAX), ret], "jump past the end");
    refuse(&[insn(0x15, 1, 0, 0), ret], "jump past the end");
    refuse(&[insn(0x15, 0, 1, 0), ret], "jump past the end");
    refuse(&[insn(0x60, 0, 0, 16), ret], "scratch memory index 16");
    refuse(&[insn(0x02, 0, 0, 16), ret], "scratch memory index 16");
    refuse(&[insn(0x34, 0, 0, 0), ret], "division by a constant zero");
    refuse(&[insn(0x94, 0, 0, 0), ret], "division by a constant zero");
    refuse(&[insn(0x64, 0, 0, 32), ret], "shift by 32");
    refuse(&[insn(0x74, 0, 0, 40), ret], "shift by 40");
    for code in [0x18u16, 0x38, 0x0e, 0x8c, 0xb4, 0x0d, 0x55, 0x47, 0x10a, 0x106, 0x08, 0xa0, 0x21] {
        refuse(&[insn(code, 0, 0, 0), ret], "unknown opcode");
    }
    // A scratch word read where one path to it did not store it.
    refuse(&[insn(0x60, 0, 0, 3), ret], "scratch word 3 read before it is stored");
    let one_path = [insn(0x15, 0, 1, 7), insn(0x02, 0, 0, 3), insn(0x60, 0, 0, 3), ret];
    refuse(&one_path, "scratch word 3 read before");
    let both_paths =
        [insn(0x15, 0, 2, 7), insn(0x02, 0, 0, 3), insn(0x05, 0, 0, 1), insn(0x03, 0, 0, 3), insn(0x60, 0, 0, 3), ret];
    assert!(Program::load(&both_paths).is_ok());
    // Division by X = 0 is legal to load and rejects the frame when it happens.
    let div_x = Program::load(&[insn(0x01, 0, 0, 0), insn(0x3c, 0, 0, 0), insn(0x16, 0, 0, 0)]).unwrap();
    assert_eq!(div_x.run(&[0; 60]), 0);
}

/// xorshift64*: reproducible random programs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Every opcode the kernel accepts.
const VALID: &[u16] = &[
    0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x80, 0x00, 0x60, // ld
    0x01, 0x61, 0x81, 0xb1, // ldx
    0x02, 0x03, // st stx
    0x04, 0x14, 0x24, 0x34, 0x44, 0x54, 0x64, 0x74, 0x94, 0xa4, // alu k
    0x0c, 0x1c, 0x2c, 0x3c, 0x4c, 0x5c, 0x6c, 0x7c, 0x9c, 0xac, 0x84, // alu x, neg
    0x05, 0x15, 0x25, 0x35, 0x45, 0x1d, 0x2d, 0x3d, 0x4d, // jmp
    0x06, 0x16, 0x07, 0x87, // ret, misc
];

fn random_program(rng: &mut Rng) -> Vec<Insn> {
    let len = 1 + rng.below(24) as usize;
    let mut p: Vec<Insn> = (0..len)
        .map(|_| {
            let code = VALID[rng.below(VALID.len() as u64) as usize];
            // Mostly small constants (offsets into a frame, memory words, shifts), sometimes any.
            let k = match rng.below(4) {
                0 => rng.next() as u32,
                1 => rng.below(16) as u32,
                _ => rng.below(80) as u32,
            };
            insn(code, rng.below(6) as u8, rng.below(6) as u8, k)
        })
        .collect();
    let last = if rng.below(2) == 0 { 0x06 } else { 0x16 };
    p.push(insn(last, 0, 0, rng.below(2000) as u32));
    p
}

#[test]
fn random_programs_never_panic_and_agree_with_libpcap() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut frames = frames();
    for _ in 0..20 {
        let n = rng.below(120) as usize;
        frames.push((0..n).map(|_| rng.next() as u8).collect());
    }
    let (mut loaded, mut runs) = (0, 0);
    for _ in 0..20_000 {
        let p = random_program(&mut rng);
        let Ok(prog) = Program::load(&p) else { continue };
        loaded += 1;
        for f in &frames {
            assert_eq!(prog.run(f), verdict(&p, f), "{p:?} on {f:?}");
            runs += 1;
        }
    }
    assert!(loaded > 2_000, "only {loaded} random programs passed the checks");
    // Raw bits: most are refused; none panics, loaded or run.
    for _ in 0..50_000 {
        let len = 1 + rng.below(8) as usize;
        let p: Vec<Insn> =
            (0..len).map(|_| insn(rng.next() as u16, rng.next() as u8, rng.next() as u8, rng.next() as u32)).collect();
        if let Ok(prog) = Program::load(&p) {
            for f in &frames {
                prog.run(f);
            }
        }
    }
    eprintln!("{loaded} random programs loaded, {runs} runs agreed with libpcap");
}
