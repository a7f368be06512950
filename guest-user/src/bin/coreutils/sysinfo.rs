//! The tools that report on the system: `dmesg` (util-linux, through `syslog(2)`), `free` and
//! `uptime` (procps, from /proc/meminfo, /proc/uptime and /proc/loadavg), `uname`, `hostname`,
//! `id` and `env` (GNU coreutils).

use std::collections::HashMap;
use std::io::Write;

use crate::common::{self, last_error, strerror, warn, Args, Tm};
use crate::text::stdout;

const SYSLOG_ACTION_READ_ALL: i64 = 3;
const SYSLOG_ACTION_READ_CLEAR: i64 = 4;
const SYSLOG_ACTION_CLEAR: i64 = 5;
const SYSLOG_ACTION_CONSOLE_LEVEL: i64 = 8;
const SYSLOG_ACTION_SIZE_BUFFER: i64 = 10;

fn syslog(action: i64, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let r = unsafe { libc::syscall(libc::SYS_syslog, action, buf.as_mut_ptr(), buf.len()) };
    if r < 0 {
        Err(last_error())
    } else {
        Ok(r as usize)
    }
}

/// `dmesg`: the kernel log, without the `<level>` prefixes unless `-r`; `-c` clears it after
/// reading, `-C` only clears, `-n LEVEL` sets the console log level.
pub fn dmesg(argv: &[String]) -> i32 {
    let args = Args::parse("dmesg", argv, "rcC", "n", 1);
    let fail = |what: &str, e: std::io::Error| {
        warn("dmesg", format_args!("{what}: {}", strerror(&e)));
        1
    };
    if let Some(level) = args.value('n') {
        let Ok(l) = level.parse::<i64>() else {
            warn("dmesg", format_args!("unknown level '{level}'"));
            return 1;
        };
        // SAFETY: CONSOLE_LEVEL takes its level in the length argument and no buffer.
        let r = unsafe { libc::syscall(libc::SYS_syslog, SYSLOG_ACTION_CONSOLE_LEVEL, 0, l) };
        return if r < 0 {
            fail("klogctl failed", last_error())
        } else {
            0
        };
    }
    if args.has('C') {
        return match syslog(SYSLOG_ACTION_CLEAR, &mut []) {
            Ok(_) => 0,
            Err(e) => fail("klogctl failed", e),
        };
    }
    let size = match syslog(SYSLOG_ACTION_SIZE_BUFFER, &mut []) {
        Ok(n) => n.max(4096),
        Err(e) => return fail("klogctl failed", e),
    };
    let mut buf = vec![0u8; size];
    let action = if args.has('c') {
        SYSLOG_ACTION_READ_CLEAR
    } else {
        SYSLOG_ACTION_READ_ALL
    };
    let n = match syslog(action, &mut buf) {
        Ok(n) => n,
        Err(e) => return fail("read kernel buffer failed", e),
    };
    let mut out = stdout();
    for line in buf[..n].split_inclusive(|&b| b == b'\n') {
        let text = match line {
            [b'<', rest @ ..] if !args.has('r') => match rest.iter().position(|&b| b == b'>') {
                Some(i) => &rest[i + 1..],
                None => line,
            },
            _ => line,
        };
        let _ = out.write_all(text);
    }
    0
}

/// /proc/meminfo as `name → KiB`.
fn meminfo() -> std::io::Result<HashMap<String, u64>> {
    let text = std::fs::read_to_string("/proc/meminfo")?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let v = v.split_whitespace().next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect())
}

/// procps' `free -h`: bytes as `B`, then the first unit whose number fits in four characters
/// with one decimal (`7.7Gi`) or without (`241Mi`).
fn human_kib(kib: u64) -> String {
    let bytes = kib * 1024;
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut scale = 1024.0f64;
    for letter in ['K', 'M', 'G', 'T', 'P'] {
        let v = bytes as f64 / scale;
        let s = format!("{v:.1}{letter}");
        if s.len() <= 4 {
            return s + "i";
        }
        let s = format!("{}{letter}", v as u64);
        if s.len() <= 4 {
            return s + "i";
        }
        scale *= 1024.0;
    }
    format!("{}Ei", bytes >> 60)
}

/// `free`: memory and swap in procps' layout, in KiB (`-k`, the default), `-b`, `-m`, `-g`
/// or `-h`uman units.
pub fn free(argv: &[String]) -> i32 {
    let args = Args::parse("free", argv, "bkmght", "", 1);
    let m = match meminfo() {
        Ok(m) => m,
        Err(e) => {
            warn("free", format_args!("/proc/meminfo: {}", strerror(&e)));
            return 1;
        }
    };
    let get = |k: &str| m.get(k).copied().unwrap_or(0);
    let total = get("MemTotal");
    let free = get("MemFree");
    let cache = get("Cached") + get("SReclaimable");
    let buff_cache = get("Buffers") + cache;
    // procps 4: what is not available is used (older kernels without MemAvailable: what is
    // neither free nor cache).
    let (used, available) = match m.get("MemAvailable") {
        Some(&a) => (total.saturating_sub(a), a),
        None => (
            total
                .checked_sub(free + buff_cache)
                .unwrap_or(total.saturating_sub(free)),
            free,
        ),
    };
    let (swap_total, swap_free) = (get("SwapTotal"), get("SwapFree"));
    let scale = |kib: u64| match () {
        _ if args.has('h') => human_kib(kib),
        _ if args.has('b') => (kib * 1024).to_string(),
        _ if args.has('m') => (kib / 1024).to_string(),
        _ if args.has('g') => (kib >> 20).to_string(),
        _ => kib.to_string(),
    };
    let row = |label: &str, cols: &[u64]| {
        let mut s = format!("{label:<8}");
        for c in cols {
            s.push_str(&format!(" {:>11}", scale(*c)));
        }
        s.push('\n');
        s
    };
    let mut text = String::from(
        "               total        used        free      shared  buff/cache   available\n",
    );
    text.push_str(&row(
        "Mem:",
        &[total, used, free, get("Shmem"), buff_cache, available],
    ));
    let swap_used = swap_total.saturating_sub(swap_free);
    text.push_str(&row("Swap:", &[swap_total, swap_used, swap_free]));
    if args.has('t') {
        text.push_str(&row(
            "Total:",
            &[total + swap_total, used + swap_used, free + swap_free],
        ));
    }
    let _ = stdout().write_all(text.as_bytes());
    0
}

/// `up 2 days,  3:04` / `up  3:04` / `up 5 min`.
fn format_up(secs: u64) -> String {
    let (days, hours, mins) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60);
    let mut s = String::from("up ");
    if days > 0 {
        s.push_str(&format!("{days} day{}, ", if days == 1 { "" } else { "s" }));
    }
    if hours > 0 {
        s.push_str(&format!("{hours:2}:{mins:02}"));
    } else {
        s.push_str(&format!("{mins} min"));
    }
    s
}

/// `uptime`: procps' line ` 09:55:00 up 5 min,  0 user,  load average: 0.00, 0.01, 0.05`
/// (no utmp here, so no users; procps 4.0 says `0 user`), or `-p`'s `up 5 minutes`.
pub fn uptime(argv: &[String]) -> i32 {
    let args = Args::parse("uptime", argv, "ps", "", 1);
    let read = |p: &str| {
        std::fs::read_to_string(p).unwrap_or_else(|e| {
            warn("uptime", format_args!("{p}: {}", strerror(&e)));
            std::process::exit(1)
        })
    };
    let up: f64 = read("/proc/uptime")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    let now = common::now();
    if args.has('s') {
        let t = Tm::utc(now - up as i64);
        println!(
            "{}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year, t.month, t.day, t.hour, t.min, t.sec
        );
        return 0;
    }
    let secs = up as u64;
    if args.has('p') {
        let plural = |n: u64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        let (d, h, m) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60);
        let mut parts = Vec::new();
        if d > 0 {
            parts.push(plural(d, "day"));
        }
        if h > 0 {
            parts.push(plural(h, "hour"));
        }
        if m > 0 || parts.is_empty() {
            parts.push(plural(m, "minute"));
        }
        println!("up {}", parts.join(", "));
        return 0;
    }
    let load = read("/proc/loadavg");
    let l: Vec<&str> = load.split_whitespace().take(3).collect();
    let t = Tm::utc(now);
    println!(
        " {:02}:{:02}:{:02} {},  0 user,  load average: {}",
        t.hour,
        t.min,
        t.sec,
        format_up(secs),
        l.join(", ")
    );
    0
}

/// The `uname(2)` fields: sysname, nodename, release, version, machine.
fn utsname() -> [String; 5] {
    // SAFETY: a zeroed utsname is valid and uname fills it with NUL-terminated strings.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        u
    };
    let s = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    [
        s(&u.sysname),
        s(&u.nodename),
        s(&u.release),
        s(&u.version),
        s(&u.machine),
    ]
}

/// `uname [-asnrvmo]`: the kernel name by default; `-a` all of them (the processor and
/// hardware platform are unknown, so left out, as GNU does) and the OS, `GNU/Linux`.
pub fn uname(argv: &[String]) -> i32 {
    let args = Args::parse("uname", argv, "asnrvmpio", "", 1);
    let f = utsname();
    let all = args.has('a');
    let mut out: Vec<&str> = Vec::new();
    let wants = [
        ('s', &f[0]),
        ('n', &f[1]),
        ('r', &f[2]),
        ('v', &f[3]),
        ('m', &f[4]),
    ];
    for (c, v) in wants {
        if all || args.has(c) {
            out.push(v);
        }
    }
    // The processor and hardware platform are unknown: printed only when asked for.
    for c in ['p', 'i'] {
        if !all && args.has(c) {
            out.push("unknown");
        }
    }
    if all || args.has('o') {
        out.push("GNU/Linux");
    }
    if out.is_empty() {
        out.push(&f[0]);
    }
    println!("{}", out.join(" "));
    0
}

/// `hostname` prints the node name; `hostname NAME` sets it (`sethostname`, root only).
pub fn hostname(argv: &[String]) -> i32 {
    let args = Args::parse("hostname", argv, "s", "", 1);
    match args.operands.first() {
        None => {
            let name = utsname()[1].clone();
            let name = if args.has('s') {
                name.split('.').next().unwrap_or("").to_string()
            } else {
                name
            };
            println!("{name}");
            0
        }
        Some(name) => {
            // SAFETY: the kernel reads `name.len()` bytes of `name`.
            let r = unsafe { libc::sethostname(name.as_ptr() as *const _, name.len()) };
            if r == 0 {
                return 0;
            }
            let e = last_error();
            if e.raw_os_error() == Some(libc::EPERM) {
                warn("hostname", "you must be root to change the host name");
            } else {
                warn("hostname", strerror(&e));
            }
            1
        }
    }
}

/// `id`: `uid=0(root) gid=0(root) groups=0(root)`, or `-u`/`-g`/`-G` alone (`-n` for names).
pub fn id(argv: &[String]) -> i32 {
    let args = Args::parse("id", argv, "ugGnr", "", 1);
    // SAFETY: these calls take no arguments and cannot fail.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    let (uid_shown, gid_shown) = if args.has('r') {
        (uid, gid)
    } else {
        (euid, egid)
    };
    let mut groups = vec![0 as libc::gid_t; 256];
    // SAFETY: the kernel writes at most groups.len() ids.
    let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
    groups.truncate(n.max(0) as usize);
    if !groups.contains(&egid) {
        groups.insert(0, egid);
    }
    let user = |u: u32| common::user_name(u).map_or(String::new(), |n| format!("({n})"));
    let group = |g: u32| common::group_name(g).map_or(String::new(), |n| format!("({n})"));
    let named = |id: u32, name: Option<String>| match (args.has('n'), name) {
        (true, Some(n)) => n,
        _ => id.to_string(),
    };
    if args.has('u') {
        println!("{}", named(uid_shown, common::user_name(uid_shown)));
    } else if args.has('g') {
        println!("{}", named(gid_shown, common::group_name(gid_shown)));
    } else if args.has('G') {
        let g: Vec<String> = groups
            .iter()
            .map(|&g| named(g, common::group_name(g)))
            .collect();
        println!("{}", g.join(" "));
    } else {
        let mut s = format!("uid={uid}{} gid={gid}{}", user(uid), group(gid));
        if euid != uid {
            s.push_str(&format!(" euid={euid}{}", user(euid)));
        }
        if egid != gid {
            s.push_str(&format!(" egid={egid}{}", group(egid)));
        }
        let g: Vec<String> = groups.iter().map(|&g| format!("{g}{}", group(g))).collect();
        s.push_str(&format!(" groups={}", g.join(",")));
        println!("{s}");
    }
    0
}

/// `env [-i] [-u NAME]... [NAME=VALUE]... [COMMAND [ARG]...]`: prints the environment, or
/// runs COMMAND in the changed one (exit 127 if it is not found, 126 if it cannot run).
pub fn env(argv: &[String]) -> i32 {
    let mut rest = argv;
    let mut clear = false;
    let mut unset = Vec::new();
    while let Some(a) = rest.first() {
        match a.as_str() {
            "-i" | "-" => clear = true,
            "-u" => match rest.get(1) {
                Some(n) => {
                    unset.push(n.clone());
                    rest = &rest[1..];
                }
                None => {
                    warn("env", "option requires an argument -- 'u'");
                    return 125;
                }
            },
            "--" => {
                rest = &rest[1..];
                break;
            }
            _ => break,
        }
        rest = &rest[1..];
    }
    let mut vars: Vec<(String, String)> = if clear {
        Vec::new()
    } else {
        std::env::vars().collect()
    };
    vars.retain(|(k, _)| !unset.contains(k));
    while let Some((k, v)) = rest.first().and_then(|a| a.split_once('=')) {
        vars.retain(|(key, _)| key != k);
        vars.push((k.to_string(), v.to_string()));
        rest = &rest[1..];
    }
    if rest.is_empty() {
        let mut out = stdout();
        for (k, v) in &vars {
            let _ = writeln!(out, "{k}={v}");
        }
        return 0;
    }
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&rest[0])
        .args(&rest[1..])
        .env_clear()
        .envs(vars)
        .exec();
    warn("env", format_args!("'{}': {}", rest[0], strerror(&err)));
    if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_human() {
        assert_eq!(human_kib(0), "0B");
        assert_eq!(human_kib(246_424), "240Mi");
        assert_eq!(human_kib(8_000_000), "7.6Gi");
        assert_eq!(human_kib(8872), "8.7Mi");
    }

    #[test]
    fn uptime_text() {
        assert_eq!(format_up(300), "up 5 min");
        assert_eq!(format_up(9 * 3600 + 24 * 60), "up  9:24");
        assert_eq!(format_up(2 * 86400 + 3 * 3600 + 4 * 60), "up 2 days,  3:04");
    }
}
