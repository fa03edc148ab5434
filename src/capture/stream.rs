//! How a capture travels from rvs to rvsadm on the admin socket.
//!
//! The request is rvsadm's usual one JSON line (its argv). The answer starts as every answer
//! does, with one JSON response line: a refusal (bad filter, unknown interface, a capture
//! already running) has a non-zero code and is all there is; code 0 means the capture runs
//! (its stderr is the "capturing on ..." line) and the pcap file follows as chunks: a 4-byte
//! little-endian length, then that many bytes of the file; a zero length ends them. Last
//! comes a second JSON response line: the summary ("N packets captured").
//!
//! rvsadm stops a capture early (Ctrl-C) by shutting down its sending side: rvs sees the end
//! of input on the socket, ends the chunks and sends the summary, so the file is whole.

use std::io::{self, Read, Write};

/// Bytes gathered before a chunk goes out (it also goes out whenever the capture is idle).
pub const CHUNK_BYTES: usize = 64 * 1024;
/// The longest chunk a reader accepts: one full chunk plus one record that overflowed it.
pub const MAX_CHUNK: usize = CHUNK_BYTES + 64 * 1024;

/// rvs's side: gathers file bytes and sends them as chunks.
pub struct ChunkWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> ChunkWriter<W> {
    pub fn new(out: W) -> Self {
        ChunkWriter { out, buf: Vec::with_capacity(MAX_CHUNK) }
    }

    /// Add file bytes; a full chunk is sent at once.
    pub fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Send what is gathered, if anything.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut chunk = Vec::with_capacity(4 + self.buf.len());
        chunk.extend_from_slice(&(self.buf.len() as u32).to_le_bytes());
        chunk.extend_from_slice(&self.buf);
        self.buf.clear();
        self.out.write_all(&chunk)?;
        self.out.flush()
    }

    /// Send the rest and the end mark; the summary line comes next, from the caller.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush()?;
        self.out.write_all(&0u32.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// rvsadm's side: one JSON response line, read a byte at a time. The admin protocol's reader
/// buffers, and would swallow the chunks that follow the first line.
pub fn read_line(mut r: impl Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        r.read_exact(&mut b)?;
        if b[0] == b'\n' {
            return Ok(line);
        }
        if line.len() == limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "response line too long"));
        }
        line.push(b[0]);
    }
}

/// rvsadm's side: the next chunk of the file, or None at the end mark.
pub fn read_chunk(mut r: impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 {
        return Ok(None);
    }
    if len > MAX_CHUNK {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("capture chunk of {len} bytes")));
    }
    let mut chunk = vec![0u8; len];
    r.read_exact(&mut chunk)?;
    Ok(Some(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_carry_the_bytes_in_order_and_end_with_the_mark() {
        let mut w = ChunkWriter::new(Vec::new());
        let big = vec![7u8; CHUNK_BYTES + 10];
        w.push(b"head").unwrap();
        w.push(&big).unwrap(); // over a chunk: sent at once
        w.push(b"tail").unwrap();
        let wire = w.finish().unwrap();
        let mut r = &wire[..];
        let mut got = Vec::new();
        let mut chunks = 0;
        while let Some(c) = read_chunk(&mut r).unwrap() {
            got.extend(c);
            chunks += 1;
        }
        assert_eq!(chunks, 2);
        assert!(r.is_empty(), "nothing after the end mark");
        assert_eq!(got.len(), 4 + big.len() + 4);
        assert!(got.starts_with(b"head") && got.ends_with(b"tail"));
        assert!(read_chunk(&[0xff, 0xff, 0xff, 0x7f][..]).is_err(), "an absurd length is refused");
        assert!(read_chunk(&[5, 0, 0, 0, 1][..]).is_err(), "a cut chunk is an error");
        let mut two = &b"{\"a\":1}\n\x03\x00"[..];
        assert_eq!(read_line(&mut two, 100).unwrap(), b"{\"a\":1}");
        assert_eq!(two, b"\x03\x00", "not a byte past the line");
        assert!(read_line(&b"xxxxx\n"[..], 4).is_err());
        assert!(read_line(&b"{"[..], 4).is_err(), "cut short");
    }
}
