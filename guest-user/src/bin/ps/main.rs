//! `ps`: reports processes from `/proc`, formatted like procps-ng's `ps`.
//!
//! Selection: no option = processes with our effective uid on our terminal (procps' rule);
//! `-e`/`-A` all; `-p LIST` those pids, `--ppid LIST` their children; BSD `a`/`x` drop the uid/terminal conditions.
//! Format: the default `PID TTY TIME CMD`, `-f` (`UID PID PPID C STIME TTY TIME CMD`), `-L`
//! (one row per thread, from `/proc/<pid>/task`), BSD `u`, or `-o LIST` with any of the columns
//! in [`SPECS`] (`name=HEADER` renames). Kernel threads, whose cmdline is empty, show as
//! `[name]`, zombies' args get ` <defunct>`. Columns are procps' (headers, widths, alignment, and a
//! column that overflows pushes the rest of the line right); `pri` is `39 - priority` of
//! `/proc/<pid>/stat`, as procps prints it. A process that vanishes mid-read is skipped.

mod columns;
mod fields;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;

use guest_user::cli;
use guest_user::procfs::{self, Stat, Status, PF_KTHREAD};

use columns::{columns, layout, terminal_width};
use fields::{field, read_rows, read_ttys, read_users};

const USAGE: &str = "ps [-e|-A] [-f] [-L] [-w] [-p PIDLIST] [--ppid PIDLIST] [-o COL[,COL...]] \
                     [--no-headers] | ps [a][u][x][w]";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Uid,
    Pid,
    Ppid,
    Pgid,
    Sid,
    Tid,
    Comm,
    Args,
    Stat,
    State,
    Ni,
    Pri,
    Rtprio,
    Cls,
    Psr,
    Time,
    BsdTime,
    Etime,
    Nlwp,
    Rss,
    Vsz,
    C,
    Pcpu,
    Pmem,
    Stime,
    Tty,
}

/// One column procps knows: its names, header, width, and whether it is right-aligned.
struct Spec {
    names: &'static [&'static str],
    kind: Kind,
    header: &'static str,
    width: usize,
    right: bool,
}

/// Width 0 means "the pid width" (digits of `pid_max`, at least 5, as procps-ng 4).
const SPECS: &[Spec] = &[
    spec(&["user", "euser", "uname"], Kind::User, "USER", 8, false),
    spec(&["uid", "euid"], Kind::Uid, "UID", 5, true),
    spec(&["pid", "tgid"], Kind::Pid, "PID", 0, true),
    spec(&["ppid"], Kind::Ppid, "PPID", 0, true),
    spec(&["pgid"], Kind::Pgid, "PGID", 0, true),
    spec(&["pgrp"], Kind::Pgid, "PGRP", 0, true),
    spec(&["sid"], Kind::Sid, "SID", 0, true),
    spec(&["sess", "session"], Kind::Sid, "SESS", 0, true),
    spec(&["tid"], Kind::Tid, "TID", 0, true),
    spec(&["lwp"], Kind::Tid, "LWP", 0, true),
    spec(&["spid"], Kind::Tid, "SPID", 0, true),
    spec(&["comm", "ucomm"], Kind::Comm, "COMMAND", 15, false),
    spec(&["ucmd"], Kind::Comm, "CMD", 15, false),
    spec(&["args", "command"], Kind::Args, "COMMAND", 27, false),
    spec(&["cmd"], Kind::Args, "CMD", 27, false),
    spec(&["stat"], Kind::Stat, "STAT", 4, false),
    spec(&["s", "state"], Kind::State, "S", 1, false),
    spec(&["ni", "nice"], Kind::Ni, "NI", 3, true),
    spec(&["pri"], Kind::Pri, "PRI", 3, true),
    spec(&["rtprio"], Kind::Rtprio, "RTPRIO", 6, true),
    spec(&["cls"], Kind::Cls, "CLS", 3, true),
    spec(&["class"], Kind::Cls, "CLS", 3, false),
    spec(&["policy", "pol"], Kind::Cls, "POL", 3, false),
    spec(&["psr"], Kind::Psr, "PSR", 3, true),
    spec(&["time", "cputime"], Kind::Time, "TIME", 8, true),
    spec(&["bsdtime"], Kind::BsdTime, "TIME", 6, true),
    spec(&["etime"], Kind::Etime, "ELAPSED", 11, true),
    spec(&["nlwp"], Kind::Nlwp, "NLWP", 4, true),
    spec(&["thcount"], Kind::Nlwp, "THCNT", 4, true),
    spec(&["rss", "rssize"], Kind::Rss, "RSS", 5, true),
    spec(&["rsz"], Kind::Rss, "RSZ", 5, true),
    spec(&["vsz", "vsize"], Kind::Vsz, "VSZ", 6, true),
    spec(&["c"], Kind::C, "C", 2, true),
    spec(&["%cpu", "pcpu"], Kind::Pcpu, "%CPU", 4, true),
    spec(&["%mem", "pmem"], Kind::Pmem, "%MEM", 4, true),
    spec(&["stime", "start_time"], Kind::Stime, "STIME", 5, true),
    spec(&["start"], Kind::Stime, "START", 5, true),
    spec(&["tname"], Kind::Tty, "TTY", 8, false),
    spec(&["tty", "tt"], Kind::Tty, "TT", 8, false),
];

const fn spec(
    names: &'static [&'static str],
    kind: Kind,
    header: &'static str,
    width: usize,
    right: bool,
) -> Spec {
    Spec {
        names,
        kind,
        header,
        width,
        right,
    }
}

struct Col {
    kind: Kind,
    header: String,
    width: usize,
    right: bool,
}

#[derive(Default)]
struct Opts {
    all: bool,
    full: bool,
    threads: bool,
    wide: bool,
    no_headers: bool,
    pids: Vec<i32>,
    ppids: Vec<i32>,
    format: Vec<String>,
    bsd: Option<Bsd>,
}

#[derive(Default, Clone, Copy)]
struct Bsd {
    any_user: bool,
    any_tty: bool,
    user_format: bool,
}

/// One row: a process, or one thread of it with `-L`.
struct Row {
    /// The stat of the task shown (the process itself without `-L`).
    task: Stat,
    /// The stat of the whole process (thread count, session).
    proc: Stat,
    euid: u32,
    vm_locked: u64,
    /// `VmRSS` of `status` (what procps shows), else `rss` of `stat` in pages.
    rss_kb: u64,
    args: Vec<String>,
}

/// What every row is formatted against.
struct Env {
    hz: u64,
    uptime: f64,
    boot_time: i64,
    now: i64,
    page_kb: u64,
    mem_total_kb: u64,
    users: HashMap<u32, String>,
    ttys: HashMap<u64, String>,
}

fn bad_usage(msg: impl std::fmt::Display) -> ! {
    cli::usage_error("ps", msg, USAGE, 1)
}

fn parse_pids(into: &mut Vec<i32>, list: &str) {
    for p in list.split([',', ' ']).filter(|s| !s.is_empty()) {
        match p.parse::<i32>() {
            Ok(pid) if pid >= 0 => into.push(pid),
            _ => bad_usage(format_args!("process ID list syntax error: {p}")),
        }
    }
}

fn parse_args(args: &[String]) -> Opts {
    let mut o = Opts::default();
    let mut i = 0;
    let next = |i: &mut usize, what: &str| -> String {
        *i += 1;
        args.get(*i)
            .cloned()
            .unwrap_or_else(|| bad_usage(format_args!("{what} needs an argument")))
    };
    while i < args.len() {
        let a = &args[i];
        if let Some(long) = a.strip_prefix("--") {
            let (key, val) = match long.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (long, None),
            };
            match key {
                "pid" => {
                    let v = val.unwrap_or_else(|| next(&mut i, "--pid"));
                    parse_pids(&mut o.pids, &v);
                }
                "ppid" => {
                    let v = val.unwrap_or_else(|| next(&mut i, "--ppid"));
                    parse_pids(&mut o.ppids, &v);
                }
                "format" => o
                    .format
                    .push(val.unwrap_or_else(|| next(&mut i, "--format"))),
                "no-headers" | "no-heading" => o.no_headers = true,
                "help" => {
                    println!("Usage: {USAGE}");
                    std::process::exit(0);
                }
                _ => bad_usage(format_args!("unknown option --{key}")),
            }
        } else if let Some(flags) = a.strip_prefix('-') {
            for (pos, c) in flags.char_indices() {
                let rest = &flags[pos + c.len_utf8()..];
                match c {
                    'e' | 'A' => o.all = true,
                    'f' => o.full = true,
                    'L' => o.threads = true,
                    'w' => o.wide = true,
                    'o' | 'p' => {
                        let v = if rest.is_empty() {
                            next(&mut i, &format!("-{c}"))
                        } else {
                            rest.to_string()
                        };
                        if c == 'o' {
                            o.format.push(v);
                        } else {
                            parse_pids(&mut o.pids, &v);
                        }
                        break;
                    }
                    _ => bad_usage(format_args!("unsupported option -{c}")),
                }
            }
        } else {
            let mut bsd = o.bsd.unwrap_or_default();
            for c in a.chars() {
                match c {
                    'a' => bsd.any_user = true,
                    'x' => bsd.any_tty = true,
                    'u' => bsd.user_format = true,
                    'w' => o.wide = true,
                    _ => bad_usage(format_args!("unsupported option (BSD syntax) {c}")),
                }
            }
            o.bsd = Some(bsd);
        }
        i += 1;
    }
    o
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = parse_args(&args);
    let pid_width = fs::read_to_string("/proc/sys/kernel/pid_max")
        .map(|s| s.trim().len())
        .unwrap_or(5)
        .max(5);
    let cols = columns(&o, pid_width);
    let mut pids = procfs::list_ids("/proc").unwrap_or_else(|e| {
        cli::die(
            "ps",
            format_args!("cannot read /proc: {}", cli::errmsg(&e)),
            1,
        )
    });

    pids.sort_unstable();
    // SAFETY: geteuid cannot fail.
    let my_euid = unsafe { libc::geteuid() };
    let my_tty = Stat::read("/proc/self/stat").map(|s| s.tty_nr).unwrap_or(0);
    let now = guest_user::sys::clock(libc::CLOCK_REALTIME).map(|d| d.as_secs() as i64);
    let env = Env {
        hz: procfs::hertz(),
        uptime: procfs::uptime(),
        boot_time: procfs::boot_time(),
        now: now.unwrap_or(0),
        // SAFETY: sysconf has no memory arguments.
        page_kb: (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) / 1024) as u64,
        mem_total_kb: fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0),
        users: if cols.iter().any(|c| c.kind == Kind::User) {
            read_users()
        } else {
            HashMap::new()
        },
        ttys: if cols.iter().any(|c| c.kind == Kind::Tty) {
            read_ttys()
        } else {
            HashMap::new()
        },
    };

    let selected = |row: &Row| -> bool {
        let p = &row.proc;
        if !o.pids.is_empty() || !o.ppids.is_empty() {
            return o.pids.contains(&p.pid) || o.ppids.contains(&p.ppid);
        }
        if o.all {
            return true;
        }
        match o.bsd {
            Some(b) => (b.any_user || row.euid == my_euid) && (b.any_tty || p.tty_nr != 0),
            None => row.euid == my_euid && p.tty_nr == my_tty,
        }
    };

    let width = if o.wide { None } else { terminal_width() };
    let mut out = String::new();
    let mut emit = |line: String| {
        match width {
            Some(w) => out.extend(line.chars().take(w)),
            None => out.push_str(&line),
        }
        out.push('\n');
    };
    if !o.no_headers && cols.iter().any(|c| !c.header.is_empty()) {
        let headers: Vec<String> = cols.iter().map(|c| c.header.clone()).collect();
        emit(layout(&cols, &headers));
    }
    let mut shown = 0;
    for pid in pids {
        let Some(rows) = read_rows(pid, o.threads, env.page_kb) else {
            continue;
        };
        for row in rows.iter().filter(|r| selected(r)) {
            let cells: Vec<String> = cols.iter().map(|c| field(&env, row, c.kind)).collect();
            emit(layout(&cols, &cells));
            shown += 1;
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    std::process::exit(if shown == 0 { 1 } else { 0 });
}
