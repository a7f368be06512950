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

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;

use guest_user::cli;
use guest_user::procfs::{self, Stat, Status, PF_KTHREAD};

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

fn columns(o: &Opts, pid_width: usize) -> Vec<Col> {
    let mut list: Vec<(String, Option<String>)> = Vec::new();
    let add = |list: &mut Vec<(String, Option<String>)>, names: &str| {
        for n in names.split(',') {
            let (name, header) = match n.split_once(':') {
                Some((n, h)) => (n, Some(h.to_string())),
                None => (n, None),
            };
            list.push((name.to_string(), header));
        }
    };
    if !o.format.is_empty() {
        for f in &o.format {
            for item in f.split([',', ' ']).filter(|s| !s.is_empty()) {
                match item.split_once('=') {
                    Some((n, h)) => list.push((n.to_string(), Some(h.to_string()))),
                    None => list.push((item.to_string(), None)),
                }
            }
        }
    } else if o.bsd.is_some_and(|b| b.user_format) {
        add(
            &mut list,
            "user,pid,%cpu,%mem,vsz,rss,tname,stat,start,bsdtime,args",
        );
    } else if o.bsd.is_some() {
        add(&mut list, "pid,tname,stat,bsdtime,args");
    } else if o.full && o.threads {
        add(
            &mut list,
            "user:UID,pid,ppid,lwp,c,nlwp,stime,tname,time,args:CMD",
        );
    } else if o.full {
        add(&mut list, "user:UID,pid,ppid,c,stime,tname,time,args:CMD");
    } else if o.threads {
        add(&mut list, "pid,lwp,tname,time,comm:CMD");
    } else {
        add(&mut list, "pid,tname,time,comm:CMD");
    }
    list.into_iter()
        .map(|(name, header)| {
            let lower = name.to_ascii_lowercase();
            let Some(s) = SPECS.iter().find(|s| s.names.contains(&lower.as_str())) else {
                bad_usage(format_args!(
                    "unknown user-defined format specifier \"{name}\""
                ))
            };
            let header = header.unwrap_or_else(|| s.header.to_string());
            let width = if s.width == 0 { pid_width } else { s.width };
            Col {
                kind: s.kind,
                width: width.max(header.chars().count()),
                header,
                right: s.right,
            }
        })
        .collect()
}

fn read_users() -> HashMap<u32, String> {
    let mut users = HashMap::new();
    if let Ok(text) = fs::read_to_string("/etc/passwd") {
        for line in text.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if let (Some(name), Some(uid)) = (f.first(), f.get(2).and_then(|u| u.parse().ok())) {
                users.entry(uid).or_insert_with(|| name.to_string());
            }
        }
    }
    users.entry(0).or_insert_with(|| "root".into());
    users
}

/// Character devices in `/dev` and `/dev/pts`, by device number, for the TTY column.
fn read_ttys() -> HashMap<u64, String> {
    let mut ttys = HashMap::new();
    for dir in ["/dev/pts", "/dev"] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(md) = e.metadata() else { continue };
            use std::os::unix::fs::FileTypeExt;
            if md.file_type().is_char_device() {
                let name = e
                    .path()
                    .to_string_lossy()
                    .trim_start_matches("/dev/")
                    .to_string();
                ttys.entry(md.rdev()).or_insert(name);
            }
        }
    }
    ttys
}

fn tty_name(env: &Env, tty_nr: i32) -> String {
    if tty_nr == 0 {
        return "?".into();
    }
    let (major, minor) = (libc::major(tty_nr as u64), libc::minor(tty_nr as u64));
    match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        229 => format!("hvc{minor}"),
        _ => env
            .ttys
            .get(&libc::makedev(major, minor))
            .cloned()
            .unwrap_or_else(|| "?".into()),
    }
}

/// Reads one process (and its threads with `-L`); `None` if it vanished.
fn read_rows(pid: i32, threads: bool, page_kb: u64) -> Option<Vec<Row>> {
    let dir = format!("/proc/{pid}");
    let proc = Stat::read(format!("{dir}/stat")).ok()?;
    let status = Status::read(format!("{dir}/status")).unwrap_or_default();
    let euid = match status.uids {
        Some(ids) => ids[1],
        None => fs::metadata(&dir).ok()?.uid(),
    };
    let args = procfs::read_cmdline(format!("{dir}/cmdline")).unwrap_or_default();
    let tasks = if threads {
        procfs::list_ids(format!("{dir}/task")).unwrap_or_default()
    } else {
        Vec::new()
    };
    let row = |task: Stat| Row {
        task,
        proc: proc.clone(),
        euid,
        vm_locked: status.vm_locked,
        rss_kb: status.vm_rss.unwrap_or(proc.rss.max(0) as u64 * page_kb),
        args: args.clone(),
    };
    let mut rows: Vec<Row> = tasks
        .iter()
        .filter_map(|&tid| match tid == pid {
            // procps shows the process's own figures on the main thread's row.
            true => Some(proc.clone()),
            false => Stat::read(format!("{dir}/task/{tid}/stat")).ok(),
        })
        .map(row)
        .collect();
    if rows.is_empty() {
        rows.push(row(proc.clone()));
    }
    Some(rows)
}

fn clock_hms(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

fn elapsed(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h) {
        (0, 0) => format!("{m:02}:{s:02}"),
        (0, _) => format!("{h:02}:{m:02}:{s:02}"),
        _ => format!("{d}-{h:02}:{m:02}:{s:02}"),
    }
}

fn local_tm(t: i64) -> libc::tm {
    // SAFETY: tm is plain data; localtime_r fills it from a valid time_t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    unsafe { libc::localtime_r(&t, &mut tm) };
    tm
}

/// Start time as procps' STIME: `HH:MM` today, `MonDD` this year, else the year.
fn start_time(env: &Env, starttime: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = env.boot_time + (starttime / env.hz) as i64;
    let (now, then) = (local_tm(env.now), local_tm(t));
    if now.tm_year != then.tm_year {
        format!("{}", then.tm_year + 1900)
    } else if now.tm_yday != then.tm_yday {
        format!("{}{:02}", MONTHS[then.tm_mon as usize % 12], then.tm_mday)
    } else {
        format!("{:02}:{:02}", then.tm_hour, then.tm_min)
    }
}

/// CPU use over the task's life in tenths of a percent, as procps computes it.
fn permille_cpu(env: &Env, st: &Stat) -> u64 {
    let seconds = env.uptime - st.starttime as f64 / env.hz as f64;
    if seconds <= 0.0 {
        return 0;
    }
    ((st.utime + st.stime) as f64 * 1000.0 / env.hz as f64 / seconds) as u64
}

fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn field(env: &Env, row: &Row, kind: Kind) -> String {
    let (t, p) = (&row.task, &row.proc);
    let defunct = if t.state == 'Z' { " <defunct>" } else { "" };
    match kind {
        Kind::User => match env.users.get(&row.euid) {
            Some(name) => name.clone(),
            None => row.euid.to_string(),
        },
        Kind::Uid => row.euid.to_string(),
        Kind::Pid => p.pid.to_string(),
        Kind::Ppid => p.ppid.to_string(),
        Kind::Pgid => p.pgrp.to_string(),
        Kind::Sid => p.session.to_string(),
        Kind::Tid => t.pid.to_string(),
        Kind::Comm => printable(&t.comm),
        Kind::Args if row.args.is_empty() || p.flags & PF_KTHREAD != 0 => {
            format!("[{}]{defunct}", printable(&p.comm))
        }
        Kind::Args => format!("{}{defunct}", printable(&row.args.join(" "))),
        Kind::Stat => {
            let mut s = t.state.to_string();
            if t.nice < 0 {
                s.push('<');
            } else if t.nice > 0 {
                s.push('N');
            }
            if row.vm_locked > 0 {
                s.push('L');
            }
            if p.session == p.pid {
                s.push('s');
            }
            if p.num_threads > 1 {
                s.push('l');
            }
            if p.pgrp == p.tpgid {
                s.push('+');
            }
            s
        }
        Kind::State => t.state.to_string(),
        Kind::Ni if t.policy != 0 && t.policy != 3 => "-".into(),
        Kind::Ni => t.nice.to_string(),
        Kind::Pri => (39 - t.priority).to_string(),
        Kind::Rtprio if t.policy == 0 => "-".into(),
        Kind::Rtprio => t.rt_priority.to_string(),
        Kind::Cls => match t.policy {
            0 => "TS",
            1 => "FF",
            2 => "RR",
            3 => "B",
            4 => "ISO",
            5 => "IDL",
            6 => "DLN",
            _ => "?",
        }
        .into(),
        Kind::Psr => t.processor.to_string(),
        Kind::Time => clock_hms((t.utime + t.stime) / env.hz),
        Kind::BsdTime => {
            let secs = (t.utime + t.stime) / env.hz;
            format!("{}:{:02}", secs / 60, secs % 60)
        }
        Kind::Etime => {
            let secs = env.uptime - t.starttime as f64 / env.hz as f64;
            elapsed(secs.max(0.0) as u64)
        }
        Kind::Nlwp => p.num_threads.to_string(),
        Kind::Rss => row.rss_kb.to_string(),
        Kind::Vsz => (p.vsize / 1024).to_string(),
        Kind::C => (permille_cpu(env, t) / 10).min(99).to_string(),
        Kind::Pcpu => match permille_cpu(env, t) {
            pc if pc > 999 => (pc / 10).to_string(),
            pc => format!("{}.{}", pc / 10, pc % 10),
        },
        Kind::Pmem => {
            let pm = (row.rss_kb * 1000)
                .checked_div(env.mem_total_kb)
                .unwrap_or(0)
                .min(999);
            format!("{}.{}", pm / 10, pm % 10)
        }
        Kind::Stime => start_time(env, t.starttime),
        Kind::Tty => tty_name(env, p.tty_nr),
    }
}

/// Lays out one line: a right-aligned column ends where its width says unless the line is
/// already past that point, a left-aligned one is cut to its width (`+` marks a cut user
/// name), and the last column is never cut.
fn layout(cols: &[Col], cells: &[String]) -> String {
    let mut line = String::new();
    let mut ideal = 0;
    for (i, (col, cell)) in cols.iter().zip(cells).enumerate() {
        let last = i + 1 == cols.len();
        if i > 0 {
            line.push(' ');
            ideal += 1;
        }
        let len = line.chars().count();
        if col.right {
            let pad = (ideal + col.width).saturating_sub(len + cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
            line.push_str(cell);
        } else if last {
            line.push_str(cell);
        } else {
            let text: String = if cell.chars().count() > col.width {
                let mut t: String = cell.chars().take(col.width).collect();
                if col.kind == Kind::User {
                    t.pop();
                    t.push('+');
                }
                t
            } else {
                cell.clone()
            };
            line.push_str(&text);
            let pad = (ideal + col.width).saturating_sub(len + text.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        ideal += col.width;
    }
    line.truncate(line.trim_end().len());
    line
}

/// The width lines are cut to, as procps: `COLUMNS` if set, else the terminal's width (at
/// least 80) when stdout is one, else no limit.
fn terminal_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(cols).filter(|&c| c > 0);
    }
    // SAFETY: isatty has no memory arguments.
    if unsafe { libc::isatty(1) } != 1 {
        return None;
    }
    // SAFETY: winsize is plain data, filled by the ioctl.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize into `ws`.
    let cols = match unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } {
        0 => ws.ws_col as usize,
        _ => 0,
    };
    Some(cols.max(80))
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
