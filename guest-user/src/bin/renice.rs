//! `renice`: changes the niceness of running processes, like util-linux's `renice`.
//!
//! ```text
//! renice [-n] PRIORITY [[-p] PID...] [-g PGRP...] [-u USER...]
//! ```
//!
//! PRIORITY is absolute. For each target it prints
//! `PID (process ID) old priority X, new priority Y`; a failure prints one line on stderr and
//! makes the exit status 1.

use guest_user::cli;

const USAGE: &str = "renice [-n] PRIORITY [-p|-g|-u] ID...";

#[derive(Clone, Copy)]
enum Which {
    Process,
    Group,
    User,
}

impl Which {
    fn id(self) -> libc::c_int {
        match self {
            Which::Process => libc::PRIO_PROCESS,
            Which::Group => libc::PRIO_PGRP,
            Which::User => libc::PRIO_USER,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Which::Process => "process ID",
            Which::Group => "process group ID",
            Which::User => "user ID",
        }
    }
}

fn bad_usage(msg: impl std::fmt::Display) -> ! {
    cli::usage_error("renice", msg, USAGE, 1)
}

/// A user name or number from `/etc/passwd`.
fn user_id(s: &str) -> Option<u32> {
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&s)).then(|| f.get(2)?.parse().ok())?
    })
}

fn get(which: Which, who: u32) -> std::io::Result<i32> {
    guest_user::sys::clear_errno();
    // SAFETY: getpriority has no memory arguments; -1 is told from an error by errno.
    let n = unsafe { libc::getpriority(which.id(), who) };
    if n == -1 && guest_user::sys::errno() != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n)
}

fn renice(which: Which, who: u32, prio: i32) -> bool {
    let old = match get(which, who) {
        Ok(n) => n,
        Err(e) => {
            let (name, msg) = (which.name(), cli::errmsg(&e));
            eprintln!("renice: failed to get priority for {who} ({name}): {msg}");
            return false;
        }
    };
    // SAFETY: setpriority has no memory arguments.
    let set = unsafe { libc::setpriority(which.id(), who, prio) };
    let new = if set == 0 {
        get(which, who)
    } else {
        Err(std::io::Error::last_os_error())
    };
    match new {
        Ok(new) => {
            println!(
                "{who} ({}) old priority {old}, new priority {new}",
                which.name()
            );
            true
        }
        Err(e) => {
            let (name, msg) = (which.name(), cli::errmsg(&e));
            eprintln!("renice: failed to set priority for {who} ({name}): {msg}");
            false
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut rest = &args[..];
    if matches!(rest.first().map(String::as_str), Some("-n" | "--priority")) {
        rest = &rest[1..];
    }
    let Some((prio, ids)) = rest.split_first() else {
        bad_usage("not enough arguments");
    };
    let prio: i32 = cli::parse_int(prio)
        .unwrap_or_else(|| bad_usage(format_args!("invalid priority '{prio}'")));
    if ids.is_empty() {
        bad_usage("not enough arguments");
    }
    let mut which = Which::Process;
    let mut ok = true;
    for a in ids {
        match a.as_str() {
            "-p" | "--pid" => which = Which::Process,
            "-g" | "--pgrp" => which = Which::Group,
            "-u" | "--user" => which = Which::User,
            _ => {
                let who = match which {
                    Which::User => user_id(a),
                    _ => a.parse().ok(),
                };
                match who {
                    Some(who) => ok &= renice(which, who, prio),
                    None => {
                        eprintln!("renice: unknown {}: {a}", which.name());
                        ok = false;
                    }
                }
            }
        }
    }
    std::process::exit(if ok { 0 } else { 1 });
}
