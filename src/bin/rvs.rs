//! `rvs --config FILE`: the director, in the foreground, logging to stderr.

use clap::Parser;

#[derive(Parser)]
#[command(name = "rvs", version, about = "A Linux Virtual Server director in user space on AF_XDP")]
struct Args {
    /// The TOML configuration (see config.example).
    #[arg(short, long, default_value = "/etc/rvs/rvs.toml")]
    config: String,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
}

fn main() {
    let args = Args::parse();
    let cfg = match rvs::config::Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rvs: bad configuration: {e}");
            std::process::exit(2);
        }
    };
    if args.check {
        println!("{}: OK", args.config);
        return;
    }
    if let Err(e) = rvs::daemon::run(cfg, &args.config) {
        eprintln!("rvs: {e}");
        std::process::exit(1);
    }
}
