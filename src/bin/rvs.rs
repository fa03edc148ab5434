//! `rvs --config FILE`: the director, in the foreground, logging to stderr (or the journal:
//! src/logging).
//! `rvs import keepalived|ldirectord FILE`: a keepalived.conf's or ldirectord.cf's virtual
//! services as rvs configuration on standard output, every key not carried on standard error.

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "rvs", version, about = "A Linux Virtual Server director in user space on AF_XDP")]
struct Args {
    /// The TOML configuration (see config.example).
    #[arg(short, long, default_value = "/etc/rvs/rvs.toml")]
    config: String,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the virtual services of a keepalived.conf or an ldirectord.cf as rvs
    /// configuration ([[service]] tables to add to rvs.toml); the keys rvs cannot carry are
    /// listed on standard error by line.
    Import {
        /// Whose configuration FILE is.
        from: From,
        /// The file to read.
        file: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum From {
    Keepalived,
    Ldirectord,
}

fn main() {
    let args = Args::parse();
    rvs::logging::init();
    if let Some(Command::Import { from, file }) = args.command {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("rvs import: {file}: {e}");
                std::process::exit(2);
            }
        };
        let imported = match from {
            From::Keepalived => rvs::import::keepalived::import(&text),
            From::Ldirectord => rvs::import::ldirectord::import(&text),
        };
        print!("{}", imported.to_toml(&file));
        eprint!("{}", imported.report(&file));
        if imported.services.is_empty() {
            eprintln!("rvs import: {file}: no virtual service found");
            std::process::exit(1);
        }
        return;
    }
    let cfg = match rvs::config::Config::load(&args.config) {
        Ok(c) => c,
        // The same line whether --check or a start found it (test_lifecycle k).
        Err(e) => {
            log::error!("bad configuration: {e}");
            std::process::exit(2);
        }
    };
    if args.check {
        println!("{}: OK", args.config);
        return;
    }
    rvs::logging::apply(&cfg.log);
    if let Err(e) = rvs::daemon::run(cfg, &args.config) {
        log::error!("{e}");
        std::process::exit(1);
    }
}
