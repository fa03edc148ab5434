//! The names rvsadm answers to. `scripts/install` links `ipvsadm`, `ipvsadm-save` and
//! `ipvsadm-restore` to it, and under each it behaves as the ipvsadm 1.31 package's program of
//! that name, so scripts that call them keep working unchanged:
//! - `ipvsadm` names itself by its argv[0] as typed in the "Try" and usage texts (ipvsadm.c
//!   prints `argv[0]` there) and prints ipvsadm's own version line;
//! - `ipvsadm-save [-n]` is `ipvsadm -S [-n]`; any other option gets the script's help on
//!   stderr and status 1;
//! - `ipvsadm-restore` is the package's script: standard input without the lines that start
//!   with `#`, the table cleared (`ipvsadm -C`), then that input read by `ipvsadm -R`, whose
//!   status is the script's.
//!
//! The daemon knows nothing of names: it answers with rvsadm's texts, and [`Name::retitle`]
//! renames the few that name the program, each matched whole, so the admin protocol stays one
//! for every name and a listing is never touched.

use super::error::tryhelp_text;
use super::format;
use super::PROGRAM;

/// The name rvsadm was called by, from its argv[0].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// `rvsadm`, or any name not below.
    Rvsadm,
    /// `ipvsadm`, with argv[0] as typed (`/usr/sbin/ipvsadm`, `ipvsadm`).
    Ipvsadm(String),
    /// `ipvsadm-save`, with argv[0]'s base name (the script's help says `basename $0`).
    Save(String),
    /// `ipvsadm-restore`.
    Restore,
}

impl Name {
    /// The name argv[0] carries: its last path component decides, as for a busybox applet.
    pub fn from_argv0(argv0: &str) -> Name {
        let base = argv0.rsplit('/').next().unwrap_or(argv0);
        match base {
            "ipvsadm" => Name::Ipvsadm(argv0.to_string()),
            "ipvsadm-save" => Name::Save(base.to_string()),
            "ipvsadm-restore" => Name::Restore,
            _ => Name::Rvsadm,
        }
    }

    /// The program name ipvsadm's texts show. The package's save and restore scripts run
    /// `ipvsadm` from their PATH, so what they print says `ipvsadm`.
    pub fn shown(&self) -> &str {
        match self {
            Name::Rvsadm => PROGRAM,
            Name::Ipvsadm(argv0) => argv0,
            Name::Save(_) | Name::Restore => "ipvsadm",
        }
    }

    /// The prefix of the client's own messages (no daemon, unreadable config).
    pub fn label(&self) -> &'static str {
        match self {
            Name::Rvsadm => PROGRAM,
            _ => "ipvsadm",
        }
    }

    /// Whether rvsadm's own options (`--socket`, `--config`) are taken from the command line.
    /// The save and restore scripts pass on no option of the kind: the daemon is found by
    /// `$RVS_SOCKET` or the default config.
    pub fn takes_client_options(&self) -> bool {
        matches!(self, Name::Rvsadm | Name::Ipvsadm(_))
    }

    /// `-v`'s line.
    pub fn version(&self) -> String {
        match self {
            Name::Rvsadm => format::version(),
            _ => format::ipvsadm_version(),
        }
    }

    /// `-h`'s text.
    pub fn usage(&self) -> String {
        format::usage_as(self.shown(), &self.version())
    }

    /// A daemon's answer (stdout or stderr), its texts naming the program renamed: the "Try"
    /// line and `-h`/`-v` read by `-R` are the only ones.
    pub fn retitle(&self, text: &str) -> String {
        if *self == Name::Rvsadm {
            return text.to_string();
        }
        let text = text.replace(&format::usage(), &self.usage());
        let ours =
            [(format::version(), self.version()), (tryhelp_text(PROGRAM) + "\n", tryhelp_text(self.shown()) + "\n")];
        text.split_inclusive('\n')
            .map(|line| ours.iter().find(|(rvsadm, _)| rvsadm == line).map_or(line, |(_, renamed)| renamed.as_str()))
            .collect()
    }
}

/// `ipvsadm-save`'s command line into ipvsadm's (`-S`, `-n` if given), or the script's help
/// for an option it does not know (every word starting with `-` but `-n`; others are ignored).
pub fn save_command(save: &str, args: &[String]) -> Result<Vec<String>, String> {
    if args.iter().any(|a| a.starts_with('-') && a != "-n") {
        return Err(format!(
            "{save}: Script to save the IPVS table to stdout.\n   With the -n option, prints out the table in numeric format.\n"
        ));
    }
    let mut argv = vec!["-S".to_string()];
    if args.iter().any(|a| a == "-n") {
        argv.push("-n".into());
    }
    Ok(argv)
}

/// What `ipvsadm-restore` hands to `ipvsadm -R`: `echo "$(grep -v '^#')"`, i.e. the input
/// without the lines that start with `#`, trailing newlines cut and one put back.
pub fn restore_input(stdin: &str) -> String {
    let kept: Vec<&str> = stdin.split('\n').filter(|line| !line.starts_with('#')).collect();
    let mut input = kept.join("\n").trim_end_matches('\n').to_string();
    input.push('\n');
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_last_path_component_decides() {
        assert_eq!(Name::from_argv0("rvsadm"), Name::Rvsadm);
        assert_eq!(Name::from_argv0("/usr/local/sbin/rvsadm"), Name::Rvsadm);
        assert_eq!(Name::from_argv0(""), Name::Rvsadm);
        assert_eq!(Name::from_argv0("/usr/sbin/ipvsadm.real"), Name::Rvsadm);
        assert_eq!(Name::from_argv0("ipvsadm"), Name::Ipvsadm("ipvsadm".into()));
        assert_eq!(Name::from_argv0("/sbin/ipvsadm"), Name::Ipvsadm("/sbin/ipvsadm".into()));
        assert_eq!(Name::from_argv0("/usr/sbin/ipvsadm-save"), Name::Save("ipvsadm-save".into()));
        assert_eq!(Name::from_argv0("./ipvsadm-restore"), Name::Restore);
        assert_eq!(Name::from_argv0("/usr/sbin/ipvsadm/"), Name::Rvsadm, "a directory is no name");
    }

    #[test]
    fn ipvsadm_names_itself_as_called() {
        let n = Name::from_argv0("/usr/sbin/ipvsadm");
        assert_eq!(n.version(), "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n");
        let u = n.usage();
        assert!(u.starts_with(
            "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\nUsage:\n  /usr/sbin/ipvsadm -A|E virtual-service"
        ));
        assert!(u.contains("\n  /usr/sbin/ipvsadm -S [-n]\n"));
        assert!(!u.contains("  rvsadm -"), "no usage line left with rvsadm's name");
        let back = u.replacen(&n.version(), &format::version(), 1).replace("  /usr/sbin/ipvsadm ", "  rvsadm ");
        assert_eq!(back, format::usage(), "the name and the version line are all that differ");
        assert_eq!(Name::Rvsadm.usage(), format::usage());
        assert_eq!(Name::Rvsadm.version(), format::version());
        assert_eq!(Name::Restore.shown(), "ipvsadm");
        assert_eq!(Name::Save("ipvsadm-save".into()).label(), "ipvsadm");
    }

    #[test]
    fn retitle_renames_whole_texts_only() {
        let n = Name::Ipvsadm("ipvsadm".into());
        let stderr = "-R: unknown option\nTry `rvsadm -h' or 'rvsadm --help' for more information.\n";
        assert_eq!(
            n.retitle(stderr),
            "-R: unknown option\nTry `ipvsadm -h' or 'ipvsadm --help' for more information.\n"
        );
        let listing = "TCP  198.18.0.100:80 rr\n  -> rvsadm:80 Masq 1 0 0\nrvsadm v1.31 is a word here\n";
        assert_eq!(n.retitle(listing), listing, "only whole lines rvsadm wrote itself");
        let from_restore = format!("{}{}", format::version(), format::usage());
        assert_eq!(n.retitle(&from_restore), format!("{}{}", n.version(), n.usage()));
        assert_eq!(Name::Rvsadm.retitle(stderr), stderr);
        assert_eq!(Name::Restore.retitle(stderr), n.retitle(stderr));
    }

    #[test]
    fn save_is_dash_s_and_refuses_other_options() {
        assert_eq!(save_command("ipvsadm-save", &[]), Ok(words(&["-S"])));
        assert_eq!(save_command("ipvsadm-save", &words(&["-n"])), Ok(words(&["-S", "-n"])));
        assert_eq!(save_command("ipvsadm-save", &words(&["file", "-n", "-n"])), Ok(words(&["-S", "-n"])));
        let help = "ipvsadm-save: Script to save the IPVS table to stdout.\n   With the -n option, prints out the table in numeric format.\n";
        for bad in [&["-x"][..], &["-n", "--numeric"], &["-"], &["-Ln"]] {
            assert_eq!(save_command("ipvsadm-save", &words(bad)), Err(help.to_string()), "{bad:?}");
        }
    }

    #[test]
    fn restore_input_drops_comment_lines_as_grep_does() {
        assert_eq!(restore_input("-A -t 1.2.3.4:80 -s rr\n"), "-A -t 1.2.3.4:80 -s rr\n");
        assert_eq!(restore_input("# saved\n-A -t 1.2.3.4:80\n\n #kept\n-C\n\n\n"), "-A -t 1.2.3.4:80\n\n #kept\n-C\n");
        assert_eq!(restore_input("-A -t 1.2.3.4:80"), "-A -t 1.2.3.4:80\n", "no final newline");
        assert_eq!(restore_input(""), "\n", "echo \"\" still writes a line");
        assert_eq!(restore_input("# only\n#comments"), "\n");
    }
}
