//! Restore-line splitting, as ipvsadm's config_stream.c: one line of an `ipvsadm-save` /
//! `rvsadm -S` file (or a file of full command lines) into the words of one command.

use super::args::parse_ipvsadm_with;
use super::error::{tryhelp, UsageError};
use super::names::NameDb;
use super::PROGRAM;
use crate::api::command::Command;

/// Split one line of a rules file into words the way ipvsadm -R reads it:
/// white space separates words, a word starting with `#` starts a comment,
/// double quotes group words (and are removed), and the word `ipvsadm` (or
/// `rvsadm`) is dropped so that files of full command lines also restore.
pub fn split_restore_line(line: &str) -> Vec<String> {
    let mut words = split_words(line, &['#'], false);
    words.retain(|w| w != "ipvsadm" && w != PROGRAM);
    words
}

/// The words of one line of a configuration text, as ipvsadm's
/// config_stream.c reads them (and keepalived and ldirectord read theirs
/// alike): white space separates words, double quotes group (and are
/// removed), a character of `comments` at a word's start ends the line, and
/// with `braces` each `{` and `}` is a word of its own.
pub fn split_words(line: &str, comments: &[char], braces: bool) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in line.chars() {
        if quoted {
            if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                in_word = true;
            }
            c if !in_word && comments.contains(&c) => break,
            '{' | '}' if braces => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                words.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// `-R` on a line read by `-R`: ipvsadm's "avoid infinite loop", tryhelp_exit(argv[0], -1).
pub fn nested_restore() -> UsageError {
    tryhelp()
}

/// One line of an `ipvsadm-save` / `rvsadm -S` file: None for a line with
/// no words (blank or comment), else the command it stands for.
pub fn parse_restore_line(line: &str) -> Option<Result<Command, UsageError>> {
    parse_restore_line_with(line, &NameDb::system())
}

/// [`parse_restore_line`] with an explicit name database.
pub fn parse_restore_line_with(line: &str, names: &NameDb) -> Option<Result<Command, UsageError>> {
    let words = split_restore_line(line);
    if words.is_empty() {
        return None;
    }
    Some(match parse_ipvsadm_with(&words, names) {
        // ipvsadm refuses -R while reading stdin ("avoid infinite loop").
        Ok(Command::Restore) => Err(nested_restore()),
        other => other,
    })
}
