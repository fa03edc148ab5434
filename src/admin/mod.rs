//! The local admin socket: `rvsadm` sends an ipvsadm command line, the
//! daemon runs it against the live rules and answers with ipvsadm's text.
pub mod capture_client;
pub mod config;
pub mod exec;
pub mod protocol;
pub mod server;
