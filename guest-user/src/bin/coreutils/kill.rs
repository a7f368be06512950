//! `kill`: sends a signal to processes, like procps-ng's `kill`.
//!
//! ```text
//! kill [-s SIG | --signal SIG | -SIG | -N] [--] PID...   (default SIGTERM; PID < 0: a group)
//! kill -l [SIG]                                          list names, or convert one
//! kill -L                                                list as a table
//! ```
//!
//! Messages and exit statuses as procps: `kill: (PID): No such process` for each failure,
//! status 1 if any PID failed or the usage was bad, 0 otherwise.

use guest_user::{cli, signals};

const USAGE: &str = "kill [-s SIG | -SIG] [--] PID... | kill -l [SIG] | kill -L";

fn bad_usage(msg: impl std::fmt::Display) -> ! {
    cli::usage_error("kill", msg, USAGE, 1)
}

fn parse_signal(s: &str) -> i32 {
    signals::parse(s)
        .unwrap_or_else(|| cli::die("kill", format_args!("unknown signal name {s}"), 1))
}

/// `kill -l`: all names, wrapped as procps wraps them.
fn list() {
    let mut line = String::new();
    for n in 1..=31 {
        let name = signals::name(n).unwrap_or_default();
        if !line.is_empty() {
            if line.len() > 73 {
                println!("{line}");
                line.clear();
            } else {
                line.push(' ');
            }
        }
        line.push_str(&name);
    }
    println!("{line}");
}

/// `kill -l SIG`: a number becomes a name (128+N, a shell's exit status, counts as N), a name a
/// number.
fn convert(s: &str) {
    match s.parse::<i32>() {
        Ok(n) => {
            let n = if n > 128 { n - 128 } else { n };
            match signals::name(n) {
                Some(name) => println!("{name}"),
                None => cli::die("kill", format_args!("unknown signal name {s}"), 1),
            }
        }
        Err(_) => println!("{}", parse_signal(s)),
    }
}

/// `kill -L`: seven `NN NAME` cells a row.
fn table() {
    let mut line = String::new();
    for n in 1..=31 {
        let cell = format!("{n:2} {}", signals::name(n).unwrap_or_default());
        line.push_str(&format!("{cell:<11}"));
        if n % 7 == 0 {
            println!("{}", line.trim_end());
            line.clear();
        }
    }
    if !line.is_empty() {
        println!("{}", line.trim_end());
    }
}

pub fn kill(args: &[String]) -> i32 {
    let mut sig = libc::SIGTERM;
    let mut rest = args;
    match rest.first().map(String::as_str) {
        None => bad_usage("not enough arguments"),
        Some("-l" | "--list") => {
            match rest.get(1) {
                Some(s) => convert(s),
                None => list(),
            }
            return 0;
        }
        Some(a) if a.starts_with("--list=") => {
            convert(&a[7..]);
            return 0;
        }
        Some("-L" | "--table") => {
            table();
            return 0;
        }
        Some("-s" | "--signal") => {
            let s = rest
                .get(1)
                .unwrap_or_else(|| bad_usage("-s needs a signal"));
            sig = parse_signal(s);
            rest = &rest[2..];
        }
        Some("--") => {}
        Some(a) if a.starts_with('-') && a.len() > 1 => {
            sig = parse_signal(&a[1..]);
            rest = &rest[1..];
        }
        Some(_) => {}
    }
    if rest.first().map(String::as_str) == Some("--") {
        rest = &rest[1..];
    }
    if rest.is_empty() {
        bad_usage("no process ID specified");
    }
    let mut status = 0;
    for a in rest {
        let Some(pid) = cli::parse_int::<i32>(a) else {
            eprintln!("kill: failed to parse argument: '{a}'");
            status = 1;
            continue;
        };
        // SAFETY: kill has no memory arguments.
        if unsafe { libc::kill(pid, sig) } != 0 {
            let err = std::io::Error::last_os_error();
            eprintln!("kill: ({pid}): {}", cli::errmsg(&err));
            status = 1;
        }
    }
    status
}
