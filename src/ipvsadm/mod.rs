//! ipvsadm compatibility: command-line syntax, listings and the save format, and rvs's own
//! commands beside them. [`args`] is the parser's entry; the files below it follow ipvsadm.c.
pub mod args;
mod check;
mod collect;
pub mod error;
pub mod format;
mod legality;
mod mark_rule;
pub mod names;
mod options;
mod popt;
pub mod proc_net;
pub mod program;
pub mod restore;
pub mod rvs_options;
pub mod values;

#[cfg(test)]
mod tests_args;
#[cfg(test)]
mod tests_ipv6;
#[cfg(test)]
mod tests_list_ipv6;

/// The program name used in "Try ..." and usage texts.
pub const PROGRAM: &str = "rvsadm";
