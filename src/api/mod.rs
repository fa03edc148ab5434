//! The control API: the one contract between whoever changes or reads the rules (the `rvsadm`
//! command line, the config file, the admin socket, the health checker, the HA scripts) and the
//! director that applies them. It is what the kernel keeps in include/uapi/linux/ip_vs.h and
//! DPVS in include/conf/: plain, serializable data with no behaviour beyond validation helpers.
//!
//! - [`command`]: the commands an ipvsadm line (or a save-file line) stands for;
//! - [`spec`]: what a command asks for (services, real servers, timeouts, marks, sync daemons);
//! - [`view`]: what listings see (counters, rates, connections);
//! - [`error`]: the errors a command can get, with libipvs's texts.
pub mod command;
pub mod error;
pub mod spec;
pub mod view;

pub use error::IpvsError;
pub use spec::*;
pub use view::*;
