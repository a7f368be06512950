//! `nice`: runs a command with a changed niceness, like coreutils' `nice`.
//!
//! ```text
//! nice                         print the current niceness
//! nice [-n N | -N] CMD ARGS... run CMD with niceness raised by N (default 10)
//! ```
//!
//! As coreutils: the adjustment is relative and clamped to -20..19; failing to set it only
//! warns; nice's own errors exit 125, a command that cannot be run 126 (127: not found).

use guest_user::{cli, sys};

const USAGE: &str = "nice [-n N] [COMMAND [ARG]...]";

fn current_nice() -> i32 {
    sys::clear_errno();
    // SAFETY: getpriority has no memory arguments; -1 is told from an error by errno.
    let n = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    if n == -1 && sys::errno() != 0 {
        let err = std::io::Error::last_os_error();
        cli::die(
            "nice",
            format_args!("cannot get niceness: {}", cli::errmsg(&err)),
            125,
        );
    }
    n
}

fn parse_adjustment(s: &str) -> i32 {
    match cli::parse_int::<i64>(s) {
        Some(n) => n.clamp(-40, 40) as i32,
        None => cli::usage_error("nice", format_args!("invalid adjustment '{s}'"), USAGE, 125),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut adjustment = None;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            i += 1;
            break;
        } else if a == "-n" || a == "--adjustment" {
            let v = args.get(i + 1).unwrap_or_else(|| {
                cli::usage_error("nice", "option requires an argument -- 'n'", USAGE, 125)
            });
            adjustment = Some(parse_adjustment(v));
            i += 2;
        } else if let Some(v) = a.strip_prefix("--adjustment=") {
            adjustment = Some(parse_adjustment(v));
            i += 1;
        } else if let Some(v) = a.strip_prefix("-n") {
            adjustment = Some(parse_adjustment(v));
            i += 1;
        } else if a.len() > 1
            && a.starts_with('-')
            && a[1..].starts_with(|c: char| c.is_ascii_digit() || c == '-')
        {
            // Old style: -N raises by N, --N lowers by N.
            adjustment = Some(parse_adjustment(&a[1..]));
            i += 1;
        } else if a.starts_with('-') && a.len() > 1 {
            cli::usage_error(
                "nice",
                format_args!("invalid option -- '{}'", &a[1..]),
                USAGE,
                125,
            );
        } else {
            break;
        }
    }
    let command = &args[i..];
    if command.is_empty() {
        if adjustment.is_some() {
            cli::usage_error(
                "nice",
                "a command must be given with an adjustment",
                USAGE,
                125,
            );
        }
        println!("{}", current_nice());
        return;
    }
    let new = (current_nice() + adjustment.unwrap_or(10)).clamp(-20, 19);
    // SAFETY: setpriority has no memory arguments.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, new) } != 0 {
        let err = std::io::Error::last_os_error();
        eprintln!("nice: cannot set niceness: {}", cli::errmsg(&err));
    }
    let (err, code) = cli::exec(command);
    cli::die(
        "nice",
        format_args!("'{}': {}", command[0], cli::errmsg(&err)),
        code,
    );
}
