//! `taskset`: shows or sets CPU affinity, like util-linux's `taskset`.
//!
//! ```text
//! taskset [-a] [-c] -p PID          show PID's affinity (mask, or list with -c)
//! taskset [-a] [-c] -p MASK PID     set it, printing the old and new values
//! taskset [-c] MASK COMMAND [ARG]... run a command with that affinity
//! ```
//!
//! MASK is hexadecimal (`3`, `0x3`, `ffffffff,ffffffff`); with `-c` it is a list such as
//! `0-3,6,8-14:2`. `-a` acts on every thread of PID. Output and messages are util-linux's;
//! errors exit 1 (126/127 when the command cannot be run).

use guest_user::sys::{self, CpuSet};
use guest_user::{cli, procfs};

const USAGE: &str =
    "taskset [-a] [-c] -p [MASK|LIST] PID | taskset [-c] MASK|LIST COMMAND [ARG]...";

fn die(msg: impl std::fmt::Display) -> ! {
    cli::die("taskset", msg, 1)
}

fn parse_mask(s: &str) -> Option<CpuSet> {
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let digits: Vec<u32> = hex
        .chars()
        .filter(|&c| c != ',')
        .map(|c| c.to_digit(16))
        .collect::<Option<_>>()?;
    if digits.is_empty() || digits.len() > CpuSet::MAX / 4 {
        return None;
    }
    let mut set = CpuSet::new();
    for (i, d) in digits.iter().rev().enumerate() {
        for bit in 0..4 {
            if d & (1 << bit) != 0 {
                set.set(i * 4 + bit);
            }
        }
    }
    Some(set)
}

/// Parses `0-3,6,8-14:2`.
fn parse_list(s: &str) -> Option<CpuSet> {
    let mut set = CpuSet::new();
    for item in s.split(',') {
        let (range, stride) = match item.split_once(':') {
            Some((r, st)) => (r, st.parse::<usize>().ok().filter(|&n| n > 0)?),
            None => (item, 1),
        };
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let n = range.parse::<usize>().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi >= CpuSet::MAX {
            return None;
        }
        for cpu in (lo..=hi).step_by(stride) {
            set.set(cpu);
        }
    }
    Some(set)
}

fn format_mask(set: &CpuSet) -> String {
    let mut s: String = set.bits.iter().rev().map(|w| format!("{w:016x}")).collect();
    let trimmed = s.trim_start_matches('0').len();
    s.drain(..s.len() - trimmed.max(1));
    s
}

fn format_list(set: &CpuSet) -> String {
    let cpus: Vec<usize> = set.cpus().collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        // util-linux writes a run of two as "0,1" and longer runs as "0-3".
        parts.push(match j - i {
            0 => cpus[i].to_string(),
            1 => format!("{},{}", cpus[i], cpus[j]),
            _ => format!("{}-{}", cpus[i], cpus[j]),
        });
        i = j + 1;
    }
    parts.join(",")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut use_pid, mut list, mut all) = (false, false, false);
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            break;
        };
        i += 1;
        match flags {
            "-" => break,
            "-pid" => use_pid = true,
            "-cpu-list" => list = true,
            "-all-tasks" => all = true,
            _ if flags.starts_with('-') => cli::usage_error(
                "taskset",
                format_args!("unrecognized option '{a}'"),
                USAGE,
                1,
            ),
            _ => {
                for c in flags.chars() {
                    match c {
                        'p' => use_pid = true,
                        'c' => list = true,
                        'a' => all = true,
                        _ => cli::usage_error(
                            "taskset",
                            format_args!("invalid option -- '{c}'"),
                            USAGE,
                            1,
                        ),
                    }
                }
            }
        }
    }
    let rest = &args[i..];
    let (kind, show): (&str, fn(&CpuSet) -> String) = if list {
        ("list", format_list)
    } else {
        ("mask", format_mask)
    };
    let parse = |s: &str| -> CpuSet {
        let set = if list { parse_list(s) } else { parse_mask(s) };
        set.unwrap_or_else(|| die(format_args!("failed to parse CPU {kind}: {s}")))
    };
    let get = |pid: i32| -> CpuSet {
        sys::get_affinity(pid).unwrap_or_else(|e| {
            die(format_args!(
                "failed to get pid {pid}'s affinity: {}",
                cli::errmsg(&e)
            ))
        })
    };
    let set = |pid: i32, mask: &CpuSet| {
        if let Err(e) = sys::set_affinity(pid, mask) {
            die(format_args!(
                "failed to set pid {pid}'s affinity: {}",
                cli::errmsg(&e)
            ));
        }
    };

    if use_pid {
        let (mask, pid) = match rest {
            [pid] => (None, pid),
            [mask, pid] => (Some(parse(mask)), pid),
            _ => cli::usage_error("taskset", "bad usage", USAGE, 1),
        };
        let pid: i32 = pid
            .parse()
            .ok()
            .filter(|&p| p >= 0)
            .unwrap_or_else(|| die(format_args!("invalid PID argument: '{pid}'")));
        let tids = match all {
            true => procfs::list_ids(format!("/proc/{pid}/task")).unwrap_or_default(),
            false => Vec::new(),
        };
        for tid in if tids.is_empty() { vec![pid] } else { tids } {
            println!("pid {tid}'s current affinity {kind}: {}", show(&get(tid)));
            if let Some(mask) = &mask {
                set(tid, mask);
                println!("pid {tid}'s new affinity {kind}: {}", show(&get(tid)));
            }
        }
        return;
    }
    if rest.len() < 2 {
        cli::usage_error("taskset", "bad usage", USAGE, 1);
    }
    set(0, &parse(&rest[0]));
    let (err, code) = cli::exec(&rest[1..]);
    die_exec(&rest[1], &err, code);
}

fn die_exec(prog: &str, err: &std::io::Error, code: i32) -> ! {
    cli::die(
        "taskset",
        format_args!("failed to execute {prog}: {}", cli::errmsg(err)),
        code,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cpus: &[usize]) -> CpuSet {
        let mut s = CpuSet::new();
        cpus.iter().for_each(|&c| s.set(c));
        s
    }

    #[test]
    fn masks() {
        assert!(parse_mask("3") == Some(set(&[0, 1])));
        assert!(parse_mask("0x10") == Some(set(&[4])));
        assert!(parse_mask("1,00000000") == Some(set(&[32])));
        assert!(parse_mask("zz").is_none() && parse_mask("").is_none());
        assert_eq!(format_mask(&set(&[0, 1])), "3");
        assert_eq!(format_mask(&set(&[64])), "10000000000000000");
        assert_eq!(format_mask(&CpuSet::new()), "0");
    }

    #[test]
    fn lists() {
        assert!(parse_list("0-3,6") == Some(set(&[0, 1, 2, 3, 6])));
        assert!(parse_list("8-14:2") == Some(set(&[8, 10, 12, 14])));
        assert!(parse_list("5-2").is_none() && parse_list("x").is_none());
        assert_eq!(format_list(&set(&[0, 1])), "0,1");
        assert_eq!(format_list(&set(&[0, 1, 2, 3, 6, 8, 9])), "0-3,6,8,9");
    }
}
