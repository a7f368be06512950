//! Reading /proc into rows, and formatting each column's cell from a row as procps does.

use super::*;

pub(super) fn read_users() -> HashMap<u32, String> {
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
pub(super) fn read_ttys() -> HashMap<u64, String> {
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

pub(super) fn tty_name(env: &Env, tty_nr: i32) -> String {
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
pub(super) fn read_rows(pid: i32, threads: bool, page_kb: u64) -> Option<Vec<Row>> {
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

pub(super) fn clock_hms(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

pub(super) fn elapsed(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h) {
        (0, 0) => format!("{m:02}:{s:02}"),
        (0, _) => format!("{h:02}:{m:02}:{s:02}"),
        _ => format!("{d}-{h:02}:{m:02}:{s:02}"),
    }
}

pub(super) fn local_tm(t: i64) -> libc::tm {
    // SAFETY: tm is plain data; localtime_r fills it from a valid time_t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    unsafe { libc::localtime_r(&t, &mut tm) };
    tm
}

/// Start time as procps' STIME: `HH:MM` today, `MonDD` this year, else the year.
pub(super) fn start_time(env: &Env, starttime: u64) -> String {
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
pub(super) fn permille_cpu(env: &Env, st: &Stat) -> u64 {
    let seconds = env.uptime - st.starttime as f64 / env.hz as f64;
    if seconds <= 0.0 {
        return 0;
    }
    ((st.utime + st.stime) as f64 * 1000.0 / env.hz as f64 / seconds) as u64
}

pub(super) fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

pub(super) fn field(env: &Env, row: &Row, kind: Kind) -> String {
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
