//! `chrt`: shows or sets a process's scheduling policy and real-time priority, like
//! util-linux's `chrt`.
//!
//! ```text
//! chrt [-a] -p PID                        show policy and priority
//! chrt [POLICY] [-R] [-a] [-v] -p PRIO PID set them on a running process
//! chrt [POLICY] [-R] PRIO COMMAND [ARG]... run a command with them
//! chrt -m                                 show each policy's priority range
//! ```
//!
//! POLICY is `-o` (SCHED_OTHER), `-f` (FIFO), `-r` (RR, the default), `-b` (BATCH) or
//! `-i` (IDLE); `-R` adds SCHED_RESET_ON_FORK, `-a` applies to every thread of PID. Output and
//! messages are util-linux's; errors exit 1 (126/127 when the command cannot be run).

use guest_user::{cli, procfs, sys};

const USAGE: &str =
    "chrt [-o|-f|-r|-b|-i] [-R] [-a] [-v] -p [PRIO] PID | chrt [POLICY] PRIO CMD...";

const POLICIES: [(i32, &str); 6] = [
    (libc::SCHED_OTHER, "SCHED_OTHER"),
    (libc::SCHED_FIFO, "SCHED_FIFO"),
    (libc::SCHED_RR, "SCHED_RR"),
    (libc::SCHED_BATCH, "SCHED_BATCH"),
    (libc::SCHED_IDLE, "SCHED_IDLE"),
    (6, "SCHED_DEADLINE"),
];

fn policy_name(policy: i32) -> String {
    let base = policy & !libc::SCHED_RESET_ON_FORK;
    let mut name = POLICIES
        .iter()
        .find(|p| p.0 == base)
        .map_or_else(|| "unknown".to_string(), |p| p.1.to_string());
    if policy & libc::SCHED_RESET_ON_FORK != 0 {
        name.push_str("|SCHED_RESET_ON_FORK");
    }
    name
}

fn die(msg: impl std::fmt::Display) -> ! {
    cli::die("chrt", msg, 1)
}

fn show(pid: i32, when: &str) {
    let policy = sys::sched_getscheduler(pid).unwrap_or_else(|e| {
        die(format_args!(
            "failed to get pid {pid}'s policy: {}",
            cli::errmsg(&e)
        ))
    });
    let prio = sys::sched_getparam(pid).unwrap_or_else(|e| {
        die(format_args!(
            "failed to get pid {pid}'s attributes: {}",
            cli::errmsg(&e)
        ))
    });
    let shown = if pid == 0 {
        // SAFETY: getpid cannot fail.
        unsafe { libc::getpid() }
    } else {
        pid
    };
    println!(
        "pid {shown}'s {when} scheduling policy: {}",
        policy_name(policy)
    );
    println!("pid {shown}'s {when} scheduling priority: {prio}");
}

fn set(pid: i32, policy: i32, prio: i32) {
    if let Err(e) = sys::sched_setscheduler(pid, policy, prio) {
        die(format_args!(
            "failed to set pid {pid}'s policy: {}",
            cli::errmsg(&e)
        ));
    }
}

fn show_ranges() {
    for (policy, name) in POLICIES {
        // SAFETY: these calls have no memory arguments.
        let (min, max) = unsafe {
            (
                libc::sched_get_priority_min(policy),
                libc::sched_get_priority_max(policy),
            )
        };
        if min >= 0 && max >= 0 {
            println!("{name} min/max priority\t: {min}/{max}");
        } else {
            println!("{name} not supported?");
        }
    }
}

/// The threads to act on: PID itself, or with `-a` every task of it.
fn targets(pid: i32, all: bool) -> Vec<i32> {
    if all && pid != 0 {
        if let Ok(tids) = procfs::list_ids(format!("/proc/{pid}/task")) {
            if !tids.is_empty() {
                return tids;
            }
        }
    }
    vec![pid]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut policy, mut reset, mut use_pid, mut all, mut verbose) =
        (libc::SCHED_RR, false, false, false, false);
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            break;
        };
        i += 1;
        if flags == "-" {
            break;
        }
        if let Some(long) = flags.strip_prefix('-') {
            match long {
                "other" => policy = libc::SCHED_OTHER,
                "fifo" => policy = libc::SCHED_FIFO,
                "rr" => policy = libc::SCHED_RR,
                "batch" => policy = libc::SCHED_BATCH,
                "idle" => policy = libc::SCHED_IDLE,
                "reset-on-fork" => reset = true,
                "pid" => use_pid = true,
                "all-tasks" => all = true,
                "verbose" => verbose = true,
                "max" => return show_ranges(),
                _ => cli::usage_error("chrt", format_args!("unrecognized option '{a}'"), USAGE, 1),
            }
            continue;
        }
        for c in flags.chars() {
            match c {
                'o' => policy = libc::SCHED_OTHER,
                'f' => policy = libc::SCHED_FIFO,
                'r' => policy = libc::SCHED_RR,
                'b' => policy = libc::SCHED_BATCH,
                'i' => policy = libc::SCHED_IDLE,
                'R' => reset = true,
                'p' => use_pid = true,
                'a' => all = true,
                'v' => verbose = true,
                'm' => return show_ranges(),
                _ => cli::usage_error("chrt", format_args!("invalid option -- '{c}'"), USAGE, 1),
            }
        }
    }
    let rest = &args[i..];
    let parse_pid = |s: &String| -> i32 {
        s.parse()
            .ok()
            .filter(|&p: &i32| p >= 0)
            .unwrap_or_else(|| die(format_args!("invalid PID argument: '{s}'")))
    };

    if use_pid && rest.len() == 1 {
        let pid = parse_pid(&rest[0]);
        for tid in targets(pid, all) {
            show(tid, "current");
        }
        return;
    }
    if rest.len() < 2 {
        cli::usage_error("chrt", "bad usage", USAGE, 1);
    }
    let prio: i32 = rest[0]
        .parse()
        .unwrap_or_else(|_| die(format_args!("invalid priority argument: '{}'", rest[0])));
    // SAFETY: these calls have no memory arguments.
    let (min, max) = unsafe {
        (
            libc::sched_get_priority_min(policy),
            libc::sched_get_priority_max(policy),
        )
    };
    if prio < min || prio > max {
        die(format_args!(
            "unsupported priority value for the policy: {prio}: see --max for valid range"
        ));
    }
    let full_policy = policy | if reset { libc::SCHED_RESET_ON_FORK } else { 0 };
    if use_pid {
        let pid = parse_pid(&rest[1]);
        for tid in targets(pid, all) {
            if verbose {
                show(tid, "current");
            }
            set(tid, full_policy, prio);
            if verbose {
                show(tid, "new");
            }
        }
        return;
    }
    set(0, full_policy, prio);
    let (err, code) = cli::exec(&rest[1..]);
    cli::die(
        "chrt",
        format_args!("failed to execute {}: {}", rest[1], cli::errmsg(&err)),
        code,
    );
}
