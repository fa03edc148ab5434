//! Health checks of real servers: probes run from the director host (the
//! host path), and failed servers leave rotation as ldirectord does.
pub mod checker;
pub mod config;
pub mod dns;
pub mod probe;
pub mod spec;
