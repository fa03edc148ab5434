//! The web console (Piranha's role for rvs): one page that shows the services, real servers,
//! health, connection counts, live rates, the HA role and the sync daemons, and lets an
//! operator set a real server's weight, quiesce it or drain it. A control-side thread; every
//! read goes through the admin socket's query side and every change is an ipvsadm command run
//! through `admin::exec::execute`, as rvsadm's are (docs/console.md).

mod actions;
pub mod config;
mod drain;
mod handler;
mod server;
mod session;
mod state;

pub use config::{ConsoleConfig, RawConsole};
pub use handler::{Console, HttpRequest, HttpResponse};
pub use server::Listener;

/// The console's one log line format: who did what, and every refusal.
fn log(line: &str) {
    eprintln!("rvs: console: {line}");
}

#[cfg(test)]
mod tests;
