//! A change from the page as the ipvsadm command an operator would type, run through the
//! admin socket's own `execute`: the same validation, texts and exit statuses as rvsadm.
//!
//! `ipvsadm -e` sets every option of a real server, those not given to their defaults (the
//! method to -g, thresholds to 0), so changing only the weight means repeating the rest: the
//! command is the server's own `-a` line of `ipvsadm -S -n` with `-e` for `-a` and the new
//! weight for the old. A server not in that listing gets a bare `-e SERVICE -r SERVER -w N`,
//! which ipvsadm itself refuses with its own words.

use crate::admin::exec::{execute, DataPlaneQuery};
use crate::admin::protocol::{Request, Response};
use crate::control::Control;
use std::sync::Mutex;

/// The service as the page sends it back (the `id` of the state): one of `-t|-u|--sctp-service
/// ADDR:PORT`, `-f MARK` or `-f MARK -6`; anything else is not a service and runs nothing.
fn service_words(service: &str) -> Option<Vec<&str>> {
    let w: Vec<&str> = service.split_whitespace().collect();
    let plain = |s: &str| !s.starts_with('-');
    let ok = match w.as_slice() {
        ["-t" | "-u" | "--sctp-service", addr] => plain(addr),
        ["-f", mark] | ["-f", mark, "-6"] => mark.bytes().all(|b| b.is_ascii_digit()) && !mark.is_empty(),
        _ => false,
    };
    ok.then_some(w)
}

/// The server's `-a` line of the listing, as words.
fn saved_line<'a>(saved: &'a str, svc: &[&str], server: &str) -> Option<Vec<&'a str>> {
    saved.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|w| {
        let r = w.iter().position(|&x| x == "-r");
        r.is_some_and(|r| w[0] == "-a" && w[1..r] == *svc && w.get(r + 1) == Some(&server))
    })
}

fn server_word(server: &str) -> Result<&str, String> {
    if server.is_empty() || server.starts_with('-') || server.contains(char::is_whitespace) {
        return Err(format!("'{server}' is not a real server"));
    }
    Ok(server)
}

/// The `-e` command that gives `server` of `service` the weight `weight` (as typed: ipvsadm
/// judges it), or why there is none.
pub fn weight_command(saved: &str, service: &str, server: &str, weight: &str) -> Result<Vec<String>, String> {
    let svc = service_words(service).ok_or_else(|| format!("'{service}' is not a service"))?;
    let server = server_word(server)?;
    let words = match saved_line(saved, &svc, server) {
        Some(mut w) => {
            w[0] = "-e";
            if let Some(k) = w.iter().position(|&x| x == "-w") {
                if let Some(v) = w.get_mut(k + 1) {
                    *v = weight;
                }
            }
            w
        }
        None => [&["-e"][..], &svc, &["-r", server, "-w", weight]].concat(),
    };
    Ok(words.into_iter().map(String::from).collect())
}

/// The server's weight now, from the same listing (for a drain's "restore").
pub fn current_weight(saved: &str, service: &str, server: &str) -> Option<u32> {
    let w = saved_line(saved, &service_words(service)?, server_word(server).ok()?)?;
    w.get(w.iter().position(|&x| x == "-w")? + 1)?.parse().ok()
}

pub fn run(ctl: &Mutex<Control>, dp: &dyn DataPlaneQuery, argv: &[String]) -> Response {
    execute(ctl, dp, &Request { argv: argv.to_vec(), stdin: None })
}

/// `ipvsadm -S -n`, the rules as commands.
pub fn saved(ctl: &Mutex<Control>, dp: &dyn DataPlaneQuery) -> String {
    run(ctl, dp, &["-S".into(), "-n".into()]).stdout
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = "-A -t 198.18.0.100:80 -s rr\n\
        -a -t 198.18.0.100:80 -r 198.18.1.11:80 -m -w 3 -x 100\n\
        -a -t 198.18.0.100:80 -r 198.18.1.12:8080 -i -w 1 --tun-type gue --tun-port 6080\n\
        -A -f 5 -6 -s wlc\n\
        -a -f 5 -6 -r [2001:db8::11]:0 -g -w 2\n";

    #[test]
    fn the_servers_own_line_with_the_new_weight() {
        let cmd = |svc, rs, w| weight_command(SAVED, svc, rs, w).unwrap().join(" ");
        assert_eq!(
            cmd("-t 198.18.0.100:80", "198.18.1.11:80", "7"),
            "-e -t 198.18.0.100:80 -r 198.18.1.11:80 -m -w 7 -x 100"
        );
        assert_eq!(
            cmd("-t 198.18.0.100:80", "198.18.1.12:8080", "0"),
            "-e -t 198.18.0.100:80 -r 198.18.1.12:8080 -i -w 0 --tun-type gue --tun-port 6080"
        );
        assert_eq!(cmd("-f 5 -6", "[2001:db8::11]:0", "4"), "-e -f 5 -6 -r [2001:db8::11]:0 -g -w 4");
        // Not listed: ipvsadm will say why.
        assert_eq!(cmd("-t 198.18.0.100:80", "198.18.1.13:80", "2"), "-e -t 198.18.0.100:80 -r 198.18.1.13:80 -w 2");
        assert_eq!(current_weight(SAVED, "-t 198.18.0.100:80", "198.18.1.11:80"), Some(3));
        assert_eq!(current_weight(SAVED, "-f 5 -6", "[2001:db8::11]:0"), Some(2));
        assert_eq!(current_weight(SAVED, "-t 198.18.0.100:80", "198.18.1.13:80"), None);
    }

    #[test]
    fn only_a_service_and_a_server_are_taken() {
        for svc in ["-C", "-t", "-t 198.18.0.100:80 -C", "-f x", "-D -t 198.18.0.100:80", ""] {
            assert!(
                weight_command(SAVED, svc, "198.18.1.11:80", "1").unwrap_err().contains("is not a service"),
                "{svc}"
            );
        }
        for rs in ["-C", "", "198.18.1.11:80 -C"] {
            assert!(weight_command(SAVED, "-t 198.18.0.100:80", rs, "1").unwrap_err().contains("is not a real server"));
        }
    }
}
