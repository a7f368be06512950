//! Reading `/proc` the way procps does. `stat` is parsed from the last `)` on (a command name
//! may hold spaces and parentheses); fields a kernel does not print yet (the tail of `stat`,
//! lines of `status`) read as 0, and a process that vanishes between reads is just an error
//! the caller skips.

use std::fs;
use std::io;
use std::path::Path;

/// The fields of `/proc/<pid>/stat` (and `/proc/<pid>/task/<tid>/stat`) that our tools use.
/// Names and meanings as in proc(5); times are in clock ticks.
#[derive(Clone, Debug, Default)]
pub struct Stat {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub tty_nr: i32,
    pub tpgid: i32,
    pub flags: u32,
    pub utime: u64,
    pub stime: u64,
    pub priority: i64,
    pub nice: i64,
    pub num_threads: i64,
    pub starttime: u64,
    pub vsize: u64,
    pub rss: i64,
    pub processor: i32,
    pub rt_priority: u32,
    pub policy: u32,
}

/// `PF_KTHREAD` in the `flags` field: the task is a kernel thread.
pub const PF_KTHREAD: u32 = 0x0020_0000;

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Stat {
    /// Parses the text of a `stat` file.
    pub fn parse(text: &str) -> io::Result<Stat> {
        let open = text.find('(').ok_or_else(|| bad("stat: no '('"))?;
        let close = text.rfind(')').ok_or_else(|| bad("stat: no ')'"))?;
        let pid = text[..open]
            .trim()
            .parse()
            .map_err(|_| bad("stat: bad pid"))?;
        let comm = text[open + 1..close].to_string();
        // rest[0] is field 3 (state).
        let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
        if rest.len() < 22 {
            return Err(bad("stat: too few fields"));
        }
        let num = |field: usize| -> i64 {
            rest.get(field - 3)
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let unum = |field: usize| -> u64 {
            rest.get(field - 3)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(Stat {
            pid,
            comm,
            state: rest[0].chars().next().unwrap_or('?'),
            ppid: num(4) as i32,
            pgrp: num(5) as i32,
            session: num(6) as i32,
            tty_nr: num(7) as i32,
            tpgid: num(8) as i32,
            flags: unum(9) as u32,
            utime: unum(14),
            stime: unum(15),
            priority: num(18),
            nice: num(19),
            num_threads: num(20),
            starttime: unum(22),
            vsize: unum(23),
            rss: num(24),
            processor: num(39) as i32,
            rt_priority: unum(40) as u32,
            policy: unum(41) as u32,
        })
    }

    /// Reads and parses a `stat` file.
    pub fn read(path: impl AsRef<Path>) -> io::Result<Stat> {
        Stat::parse(&fs::read_to_string(path)?)
    }

    /// Reads `/proc/<pid>/stat`.
    pub fn of(pid: i32) -> io::Result<Stat> {
        Stat::read(format!("/proc/{pid}/stat"))
    }
}

/// The lines of `/proc/<pid>/status` that `stat` lacks.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// Real, effective, saved and filesystem uids.
    pub uids: Option<[u32; 4]>,
    /// `VmLck` in kB.
    pub vm_locked: u64,
    /// `VmRSS` in kB (absent for kernel threads).
    pub vm_rss: Option<u64>,
}

fn kb(value: &str) -> Option<u64> {
    value.split_whitespace().next()?.parse().ok()
}

impl Status {
    pub fn parse(text: &str) -> Status {
        let mut st = Status::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key {
                "Uid" => {
                    let ids: Vec<u32> = value
                        .split_whitespace()
                        .filter_map(|s| s.parse().ok())
                        .collect();
                    if ids.len() == 4 {
                        st.uids = Some([ids[0], ids[1], ids[2], ids[3]]);
                    }
                }
                "VmLck" => st.vm_locked = kb(value).unwrap_or(0),
                "VmRSS" => st.vm_rss = kb(value),
                _ => {}
            }
        }
        st
    }

    pub fn read(path: impl AsRef<Path>) -> io::Result<Status> {
        Ok(Status::parse(&fs::read_to_string(path)?))
    }
}

/// The argument vector from a `cmdline` file: NUL-separated, the trailing NUL dropped.
pub fn read_cmdline(path: impl AsRef<Path>) -> io::Result<Vec<String>> {
    let bytes = fs::read(path)?;
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(&bytes);
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(bytes
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect())
}

/// The numeric entries of a `/proc` directory (pids in `/proc`, tids in `/proc/<pid>/task`),
/// in directory order (for a task directory: the thread list, main thread first).
pub fn list_ids(dir: impl AsRef<Path>) -> io::Result<Vec<i32>> {
    Ok(fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect())
}

/// Seconds since boot: `/proc/uptime`, else `CLOCK_BOOTTIME`.
pub fn uptime() -> f64 {
    fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            crate::sys::clock(libc::CLOCK_BOOTTIME)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        })
}

/// The boot time in seconds since the epoch: `btime` of `/proc/stat`, else now minus uptime.
pub fn boot_time() -> i64 {
    let btime = fs::read_to_string("/proc/stat").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
    });
    btime.unwrap_or_else(|| {
        let now = crate::sys::clock(libc::CLOCK_REALTIME)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        (now - uptime()) as i64
    })
}

/// Clock ticks per second, the unit of the `stat` times.
pub fn hertz() -> u64 {
    // SAFETY: sysconf has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_comm() {
        let text = "42 (a) b (c)) R 1 42 42 34816 42 4194560 10 0 0 0 7 3 0 0 20 0 3 0 1234 \
                    5000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let st = Stat::parse(text).unwrap();
        assert_eq!((st.pid, st.comm.as_str(), st.state), (42, "a) b (c)", 'R'));
        assert_eq!(
            (st.ppid, st.pgrp, st.session, st.tty_nr, st.tpgid),
            (1, 42, 42, 34816, 42)
        );
        assert_eq!((st.utime, st.stime, st.priority, st.nice), (7, 3, 20, 0));
        assert_eq!(
            (st.num_threads, st.starttime, st.vsize, st.rss),
            (3, 1234, 5000000, 300)
        );
        assert_eq!((st.processor, st.rt_priority, st.policy), (1, 0, 0));
    }

    #[test]
    fn short_stat_reads_missing_tail_as_zero() {
        let text = "7 (k) S 2 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0";
        let st = Stat::parse(text).unwrap();
        assert_eq!(
            (st.flags & PF_KTHREAD, st.processor, st.policy),
            (PF_KTHREAD, 0, 0)
        );
        assert!(Stat::parse("7 (k) S 2").is_err());
        assert!(Stat::parse("garbage").is_err());
    }

    #[test]
    fn status_lines() {
        let st = Status::parse("Name:\tx\nUid:\t1\t2\t3\t4\nVmLck:\t  8 kB\nVmRSS:\t 100 kB\n");
        assert_eq!(st.uids, Some([1, 2, 3, 4]));
        assert_eq!((st.vm_locked, st.vm_rss), (8, Some(100)));
        assert_eq!(Status::parse("Name:\tkthreadd\n").vm_rss, None);
    }
}

/// The number on the `name value` or `Name: value kB` line `key` of a /proc file such as
/// /proc/vmstat or /proc/meminfo; 0 if the file or the line is missing.
pub fn proc_value(path: &str, key: &str) -> u64 {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once([' ', ':'])?;
            (k == key).then(|| v.trim().trim_end_matches(" kB").trim().parse().ok())?
        })
        .unwrap_or(0)
}
