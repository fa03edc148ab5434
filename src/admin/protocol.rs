//! The admin socket's wire format: one JSON request per connection, one JSON
//! response, each terminated by a newline. Sizes are bounded so a client can
//! neither exhaust the daemon's memory nor stall it.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};

/// Largest request accepted (a restore of many thousand rules fits).
pub const MAX_REQUEST: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// ipvsadm's arguments, program name excluded.
    pub argv: Vec<String>,
    /// Standard input, for `-R`.
    #[serde(default)]
    pub stdin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Response {
    pub fn ok(stdout: String) -> Self {
        Response { stdout, stderr: String::new(), code: 0 }
    }
    pub fn err(msg: impl Into<String>, code: i32) -> Self {
        let mut stderr = msg.into();
        if !stderr.ends_with('\n') {
            stderr.push('\n');
        }
        Response { stdout: String::new(), stderr, code }
    }
}

/// Decode a request; the error text is sent back to the client.
pub fn decode_request(bytes: &[u8]) -> Result<Request, String> {
    if bytes.len() > MAX_REQUEST {
        return Err(format!("request too large ({} bytes, limit {})", bytes.len(), MAX_REQUEST));
    }
    let r: Request = serde_json::from_slice(bytes).map_err(|e| format!("malformed request: {e}"))?;
    if r.argv.len() > 256 || r.argv.iter().any(|a| a.len() > 4096) {
        return Err("malformed request: too many or too long arguments".into());
    }
    Ok(r)
}

/// Read one newline-terminated message of at most `limit` bytes.
pub fn read_message(r: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut reader = BufReader::new(r.take(limit as u64 + 1));
    reader.read_until(b'\n', &mut buf)?;
    if buf.len() > limit {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "message too large"));
    }
    if buf.last() != Some(&b'\n') {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "incomplete message"));
    }
    buf.pop();
    Ok(buf)
}

pub fn write_message<T: Serialize>(mut w: impl Write, msg: &T) -> std::io::Result<()> {
    let mut v = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    v.push(b'\n');
    w.write_all(&v)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let r = Request { argv: vec!["-Ln".into()], stdin: None };
        let mut v = Vec::new();
        write_message(&mut v, &r).unwrap();
        let got = read_message(&v[..], MAX_REQUEST).unwrap();
        assert_eq!(decode_request(&got).unwrap(), r);
        assert!(decode_request(b"{\"argv\": 3}").unwrap_err().starts_with("malformed request"));
        assert!(decode_request(b"\xff\xfe").is_err());
        assert!(read_message(&b"{\"argv\":[]"[..], 100).is_err(), "half-sent request");
        assert!(read_message(&[b'x'; 200][..], 100).is_err(), "oversized request");
    }
}
