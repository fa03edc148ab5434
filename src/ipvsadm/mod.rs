//! ipvsadm compatibility: command-line syntax, listings and the save format.
pub mod args;
pub mod format;
