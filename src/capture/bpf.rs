//! Classic BPF: the programs libpcap compiles tcpdump's filter expressions into, checked
//! once when loaded and then run on each frame a capture sees.
//!
//! The checks are the kernel's for a socket filter (bpf_check_classic): a known opcode in
//! every instruction, every jump landing inside the program, scratch memory indices below 16,
//! no division or modulo by a constant zero, no constant shift of 32 or more, a return as the
//! last instruction, and no scratch word read on a path where it was not stored first. A
//! program that passes cannot index outside itself or its memory, and since every jump goes
//! forward a run executes each instruction at most once: [`Program::run`] is bounded by the
//! program's length and never panics, whatever frame it is given. Out-of-range packet loads
//! reject the frame, as both the kernel and libpcap do.
//!
//! Instructions are decoded into [`Op`] at load, so the run matches on operations, not on
//! the bits of the opcode.

/// One instruction as libpcap and the kernel lay it out (`struct bpf_insn`, `sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// The kernel's BPF_MAXINSNS.
pub const MAX_INSNS: usize = 4096;
/// Scratch memory words (BPF_MEMWORDS).
pub const MEM_WORDS: usize = 16;

// Opcode fields (linux/bpf_common.h, pcap/bpf.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const MSH: u16 = 0xa0;
const K: u16 = 0x00;
const X: u16 = 0x08;
const RET_A: u16 = 0x10;
const TAX: u16 = 0x00;
const TXA: u16 = 0x80;

/// ALU operations, by their opcode's operation field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    Xor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
}

/// Where an ALU operation or a comparison takes its second operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Src {
    K(u32),
    X,
}

/// A decoded, checked instruction. Jump targets are absolute indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A = the `size`-byte big-endian word at k (Abs) or X + k (Ind).
    LdAbs {
        size: u8,
        k: u32,
    },
    LdInd {
        size: u8,
        k: u32,
    },
    LdLen,
    LdImm(u32),
    LdMem(u8),
    LdxImm(u32),
    LdxMem(u8),
    LdxLen,
    /// X = 4 * (P[k] & 0xf): an IPv4 header's length.
    LdxMsh(u32),
    St(u8),
    Stx(u8),
    Alu(AluOp, Src),
    Neg,
    Ja(usize),
    Jmp {
        cond: Cond,
        src: Src,
        jt: usize,
        jf: usize,
    },
    RetK(u32),
    RetA,
    Tax,
    Txa,
}

/// A checked program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    ops: Vec<Op>,
}

/// Why a program was refused, with the index of the instruction at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadProgram(pub String);

impl std::fmt::Display for BadProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid BPF program: {}", self.0)
    }
}

fn alu_op(code: u16) -> Option<AluOp> {
    Some(match code & 0xf0 {
        0x00 => AluOp::Add,
        0x10 => AluOp::Sub,
        0x20 => AluOp::Mul,
        0x30 => AluOp::Div,
        0x40 => AluOp::Or,
        0x50 => AluOp::And,
        0x60 => AluOp::Lsh,
        0x70 => AluOp::Rsh,
        0x90 => AluOp::Mod,
        0xa0 => AluOp::Xor,
        _ => return None,
    })
}

fn cond(code: u16) -> Option<Cond> {
    Some(match code & 0xf0 {
        0x10 => Cond::Eq,
        0x20 => Cond::Gt,
        0x30 => Cond::Ge,
        0x40 => Cond::Set,
        _ => return None,
    })
}

fn size_of(code: u16) -> Option<u8> {
    match code & 0x18 {
        W => Some(4),
        H => Some(2),
        B => Some(1),
        _ => None,
    }
}

/// The scratch word index of a memory instruction, checked.
fn mem_index(k: u32, pc: usize) -> Result<u8, BadProgram> {
    if (k as usize) < MEM_WORDS {
        Ok(k as u8)
    } else {
        Err(BadProgram(format!("instruction {pc}: scratch memory index {k} (of {MEM_WORDS})")))
    }
}

/// A jump's absolute target, which must be inside the program.
fn target(pc: usize, off: u32, len: usize) -> Result<usize, BadProgram> {
    let t = pc as u64 + 1 + u64::from(off);
    if t < len as u64 {
        Ok(t as usize)
    } else {
        Err(BadProgram(format!("instruction {pc}: jump past the end")))
    }
}

fn decode(i: Insn, pc: usize, len: usize) -> Result<Op, BadProgram> {
    let c = i.code;
    let bad = || BadProgram(format!("instruction {pc}: unknown opcode {c:#06x}"));
    if c > 0xff {
        return Err(bad());
    }
    let op = match c & 0x07 {
        LD => match (c & 0xe0, c & 0x18) {
            (ABS, _) => Op::LdAbs { size: size_of(c).ok_or_else(bad)?, k: i.k },
            (IND, _) => Op::LdInd { size: size_of(c).ok_or_else(bad)?, k: i.k },
            (LEN, W) => Op::LdLen,
            (IMM, W) => Op::LdImm(i.k),
            (MEM, W) => Op::LdMem(mem_index(i.k, pc)?),
            _ => return Err(bad()),
        },
        LDX => match (c & 0xe0, c & 0x18) {
            (IMM, W) => Op::LdxImm(i.k),
            (MEM, W) => Op::LdxMem(mem_index(i.k, pc)?),
            (LEN, W) => Op::LdxLen,
            (MSH, B) => Op::LdxMsh(i.k),
            _ => return Err(bad()),
        },
        ST if c == ST => Op::St(mem_index(i.k, pc)?),
        STX if c == STX => Op::Stx(mem_index(i.k, pc)?),
        ALU if c == ALU | 0x80 => Op::Neg,
        ALU if c & !0xf8 == ALU => {
            let op = alu_op(c).ok_or_else(bad)?;
            let src = if c & X == X { Src::X } else { Src::K(i.k) };
            match (op, src) {
                (AluOp::Div | AluOp::Mod, Src::K(0)) => {
                    return Err(BadProgram(format!("instruction {pc}: division by a constant zero")))
                }
                (AluOp::Lsh | AluOp::Rsh, Src::K(k)) if k >= 32 => {
                    return Err(BadProgram(format!("instruction {pc}: shift by {k}")))
                }
                _ => Op::Alu(op, src),
            }
        }
        JMP if c == JMP => Op::Ja(target(pc, i.k, len)?),
        JMP if c & !0xf8 == JMP => {
            let cond = cond(c).ok_or_else(bad)?;
            let src = if c & X == X { Src::X } else { Src::K(i.k) };
            Op::Jmp { cond, src, jt: target(pc, i.jt.into(), len)?, jf: target(pc, i.jf.into(), len)? }
        }
        RET if c == RET | K => Op::RetK(i.k),
        RET if c == RET | RET_A => Op::RetA,
        MISC if c == MISC | TAX => Op::Tax,
        MISC if c == MISC | TXA => Op::Txa,
        _ => return Err(bad()),
    };
    Ok(op)
}

/// The kernel's check_load_and_stores: on every path to a scratch load, the word was stored.
/// Jumps go forward only, so one pass in order sees every predecessor of an instruction first.
fn check_memory(ops: &[Op]) -> Result<(), BadProgram> {
    // Words stored on every path reaching each instruction, by jumps; all until one arrives.
    let mut reach = vec![u16::MAX; ops.len()];
    // Words stored on the fall-through path into the current instruction.
    let mut valid: u16 = 0;
    for (pc, op) in ops.iter().enumerate() {
        valid &= reach[pc];
        match *op {
            Op::St(m) | Op::Stx(m) => valid |= 1 << m,
            Op::LdMem(m) | Op::LdxMem(m) if valid & (1 << m) == 0 => {
                return Err(BadProgram(format!("instruction {pc}: scratch word {m} read before it is stored")))
            }
            Op::Ja(t) => {
                reach[t] &= valid;
                // Nothing falls through a jump.
                valid = u16::MAX;
            }
            Op::Jmp { jt, jf, .. } => {
                reach[jt] &= valid;
                reach[jf] &= valid;
                valid = u16::MAX;
            }
            Op::RetK(_) | Op::RetA => valid = u16::MAX,
            _ => {}
        }
    }
    Ok(())
}

impl Program {
    /// Check and decode `insns`.
    pub fn load(insns: &[Insn]) -> Result<Program, BadProgram> {
        if insns.is_empty() || insns.len() > MAX_INSNS {
            return Err(BadProgram(format!("{} instructions (1 to {MAX_INSNS})", insns.len())));
        }
        let ops = insns.iter().enumerate().map(|(pc, &i)| decode(i, pc, insns.len())).collect::<Result<Vec<_>, _>>()?;
        if !matches!(ops.last(), Some(Op::RetK(_) | Op::RetA)) {
            return Err(BadProgram("the last instruction is not a return".into()));
        }
        check_memory(&ops)?;
        Ok(Program { ops })
    }

    /// The program that accepts every frame whole (no filter): `ret #262144`, as tcpdump's
    /// empty expression compiles.
    pub fn accept_all(snaplen: u32) -> Program {
        Program { ops: vec![Op::RetK(snaplen)] }
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Run on one frame: 0 rejects it; otherwise how many of its bytes to keep.
    pub fn run(&self, pkt: &[u8]) -> u32 {
        let (mut a, mut x) = (0u32, 0u32);
        let mut mem = [0u32; MEM_WORDS];
        let mut pc = 0;
        // Each instruction runs at most once (jumps go forward), so this loop is bounded; an
        // index outside the program (impossible once loaded) ends the run rejecting the frame.
        while let Some(op) = self.ops.get(pc) {
            pc += 1;
            match *op {
                Op::LdAbs { size, k } => match load(pkt, k as usize, size) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::LdInd { size, k } => {
                    match (x as usize).checked_add(k as usize).and_then(|at| load(pkt, at, size)) {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }
                Op::LdLen => a = pkt.len() as u32,
                Op::LdImm(k) => a = k,
                Op::LdMem(m) => a = mem[usize::from(m) % MEM_WORDS],
                Op::LdxImm(k) => x = k,
                Op::LdxMem(m) => x = mem[usize::from(m) % MEM_WORDS],
                Op::LdxLen => x = pkt.len() as u32,
                Op::LdxMsh(k) => match pkt.get(k as usize) {
                    Some(&b) => x = 4 * u32::from(b & 0xf),
                    None => return 0,
                },
                Op::St(m) => mem[usize::from(m) % MEM_WORDS] = a,
                Op::Stx(m) => mem[usize::from(m) % MEM_WORDS] = x,
                Op::Alu(op, src) => {
                    let v = match src {
                        Src::K(k) => k,
                        Src::X => x,
                    };
                    a = match op {
                        AluOp::Add => a.wrapping_add(v),
                        AluOp::Sub => a.wrapping_sub(v),
                        AluOp::Mul => a.wrapping_mul(v),
                        // A division by X = 0 rejects the frame (kernel and libpcap alike).
                        AluOp::Div => match a.checked_div(v) {
                            Some(q) => q,
                            None => return 0,
                        },
                        AluOp::Mod => match a.checked_rem(v) {
                            Some(r) => r,
                            None => return 0,
                        },
                        AluOp::Or => a | v,
                        AluOp::And => a & v,
                        AluOp::Xor => a ^ v,
                        // libpcap: a shift by X of 32 or more gives 0.
                        AluOp::Lsh => a.checked_shl(v).unwrap_or(0),
                        AluOp::Rsh => a.checked_shr(v).unwrap_or(0),
                    };
                }
                Op::Neg => a = a.wrapping_neg(),
                Op::Ja(t) => pc = t,
                Op::Jmp { cond, src, jt, jf } => {
                    let v = match src {
                        Src::K(k) => k,
                        Src::X => x,
                    };
                    let yes = match cond {
                        Cond::Eq => a == v,
                        Cond::Gt => a > v,
                        Cond::Ge => a >= v,
                        Cond::Set => a & v != 0,
                    };
                    pc = if yes { jt } else { jf };
                }
                Op::RetK(k) => return k,
                Op::RetA => return a,
                Op::Tax => x = a,
                Op::Txa => a = x,
            }
        }
        0
    }
}

/// The big-endian word of `size` bytes at `at`, if the frame holds it.
fn load(pkt: &[u8], at: usize, size: u8) -> Option<u32> {
    let end = at.checked_add(usize::from(size))?;
    let b = pkt.get(at..end)?;
    Some(b.iter().fold(0u32, |v, &byte| v << 8 | u32::from(byte)))
}

#[cfg(test)]
#[path = "tests_bpf.rs"]
mod tests;
