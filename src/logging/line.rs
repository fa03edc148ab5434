//! The stderr form of a record: `LEVEL rvs: message`, one line, written whole (records of
//! several threads never interleave within a line).

use log::Record;
use std::fmt::Write as _;
use std::io::Write as _;

/// The line for a record of `level` saying `args`. A message of several lines is folded
/// into one: a log reader counts lines as events.
pub fn format(level: log::Level, args: &std::fmt::Arguments) -> String {
    let mut s = String::with_capacity(96);
    let _ = write!(s, "{:<5} rvs: {args}", level.as_str());
    if s.contains('\n') {
        s = s.trim_end_matches('\n').replace('\n', " | ");
    }
    s.push('\n');
    s
}

pub fn write(r: &Record) {
    let line = format(r.level(), r.args());
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;

    #[test]
    fn one_line_with_the_level_then_rvs_and_the_message() {
        assert_eq!(
            format(Level::Info, &format_args!("stage {}: {} started", 1, "links")),
            "INFO  rvs: stage 1: links started\n"
        );
        assert_eq!(format(Level::Error, &format_args!("bad")), "ERROR rvs: bad\n");
        assert_eq!(format(Level::Warn, &format_args!("w")), "WARN  rvs: w\n");
        assert_eq!(format(Level::Debug, &format_args!("libbpf: x")), "DEBUG rvs: libbpf: x\n");
    }

    #[test]
    fn a_message_of_several_lines_is_one_line() {
        assert_eq!(format(Level::Warn, &format_args!("a\nb\n")), "WARN  rvs: a | b\n");
    }
}
