//! A model of popt's option scanner over the option table: short options clustered (`-Ln`),
//! `-tADDR`, `-t=ADDR`, `--tcp-service ADDR`, `--tcp-service=ADDR`, `-p`'s optional argument,
//! leftovers anywhere, `--` ends the options.

use super::options::{ArgKind, Tag, OPTIONS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PoptErr {
    BadOpt,
    NoArg,
    UnwantedArg,
}

impl PoptErr {
    /// poptStrerror()
    pub(super) fn text(self) -> &'static str {
        match self {
            PoptErr::BadOpt => "unknown option",
            PoptErr::NoArg => "missing argument",
            PoptErr::UnwantedArg => "option does not take an argument",
        }
    }
}

pub(super) struct Popt<'a> {
    argv: &'a [String],
    /// Index of the next word to read (popt's `os->next`).
    next: usize,
    /// The rest of a cluster of short options (`-Ln`: "n" after 'L').
    cluster: Option<String>,
    rest_leftover: bool,
    leftovers: Vec<String>,
    leftover_pos: usize,
}

impl<'a> Popt<'a> {
    pub(super) fn new(argv: &'a [String]) -> Self {
        Popt { argv, next: 0, cluster: None, rest_leftover: false, leftovers: Vec::new(), leftover_pos: 0 }
    }

    /// poptBadOption(POPT_BADOPTION_NOALIAS): the last word read, which is
    /// the option's argument if it took one from the next word.
    pub(super) fn bad_option(&self) -> String {
        self.next.checked_sub(1).and_then(|i| self.argv.get(i)).cloned().unwrap_or_default()
    }

    /// The argument of an option whose text did not carry one.
    fn arg_from_next_word(&mut self, kind: ArgKind) -> Result<Option<String>, PoptErr> {
        match self.argv.get(self.next) {
            None if kind == ArgKind::Optional => Ok(None),
            None => Err(PoptErr::NoArg),
            Some(w) if kind == ArgKind::Optional && w.starts_with('-') => Ok(None),
            Some(w) => {
                self.next += 1;
                Ok(Some(w.clone()))
            }
        }
    }

    /// poptGetNextOpt(): Ok(None) at the end of the options.
    pub(super) fn next_opt(&mut self) -> Result<Option<(Tag, Option<String>)>, PoptErr> {
        loop {
            if let Some(rest) = self.cluster.take() {
                let mut chars = rest.chars();
                let c = match chars.next() {
                    Some(c) => c,
                    None => continue,
                };
                let remaining: String = chars.collect();
                let def = OPTIONS.iter().find(|d| d.short == Some(c)).ok_or(PoptErr::BadOpt)?;
                if def.arg == ArgKind::None {
                    // popt skips one '=' after a flag in a cluster.
                    let remaining = remaining.strip_prefix('=').unwrap_or(&remaining).to_string();
                    if !remaining.is_empty() {
                        self.cluster = Some(remaining);
                    }
                    return Ok(Some((def.tag, None)));
                }
                if !remaining.is_empty() {
                    // `-tADDR` or `-t=ADDR`
                    let arg = remaining.strip_prefix('=').unwrap_or(&remaining).to_string();
                    return Ok(Some((def.tag, Some(arg))));
                }
                let arg = self.arg_from_next_word(def.arg)?;
                return Ok(Some((def.tag, arg)));
            }

            let word = match self.argv.get(self.next) {
                Some(w) => w.clone(),
                None => return Ok(None),
            };
            self.next += 1;
            if self.rest_leftover || !word.starts_with('-') || word == "-" {
                self.leftovers.push(word);
                continue;
            }
            if word == "--" {
                self.rest_leftover = true;
                continue;
            }
            if let Some(long) = word.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let def = OPTIONS.iter().find(|d| d.long == name).ok_or(PoptErr::BadOpt)?;
                return match (def.arg, inline) {
                    (ArgKind::None, Some(_)) => Err(PoptErr::UnwantedArg),
                    (ArgKind::None, None) => Ok(Some((def.tag, None))),
                    (_, Some(v)) => Ok(Some((def.tag, Some(v)))),
                    (kind, None) => {
                        let arg = self.arg_from_next_word(kind)?;
                        Ok(Some((def.tag, arg)))
                    }
                };
            }
            // A single dash: a cluster of short options.
            self.cluster = Some(word[1..].to_string());
        }
    }

    /// poptGetArg(): the leftovers, in order.
    pub(super) fn get_arg(&mut self) -> Option<String> {
        let a = self.leftovers.get(self.leftover_pos).cloned();
        if a.is_some() {
            self.leftover_pos += 1;
        }
        a
    }
}
