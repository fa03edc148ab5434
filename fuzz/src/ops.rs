//! The byte reader of the operation-sequence fuzz targets (`conn_table`,
//! `neighbour_table`): each operation is an opcode byte followed by its
//! argument bytes; arguments past the end of the input read as 0, so every
//! input is a complete, deterministic sequence.

pub struct Ops<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Ops<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Ops { data, pos: 0 }
    }

    /// The next opcode, or None at the end of the input.
    pub fn op(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// The next argument byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// An argument in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n.max(1)
    }
}

/// Durations (ms) an operation may advance the clock by or set an expiry
/// to: around the tables' one-second tick, their timeouts, and past the
/// connection wheel's 1024-second horizon.
pub const DURATIONS_MS: [u64; 16] = [
    0, 1, 500, 999, 1_000, 1_001, 2_500, 10_000, 30_001, 60_000, 120_000, 299_999, 300_001, 900_000, 1_100_000,
    3_000_000,
];

pub fn duration(code: u8) -> u64 {
    DURATIONS_MS[code as usize % DURATIONS_MS.len()]
}
