//! Signal names and numbers (x86_64 Linux), as procps' `kill -l` prints them.

/// Names of signals 1..=31, without the `SIG` prefix.
pub const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "POLL", "PWR", "SYS",
];

/// The kernel's first and last real-time signals (C libraries reserve a few above `RTMIN`).
pub const RTMIN: i32 = 32;
pub const RTMAX: i32 = 64;

/// The name of signal `n` without `SIG` (`KILL`, `RTMIN+2`), if it is a signal.
pub fn name(n: i32) -> Option<String> {
    match n {
        1..=31 => Some(NAMES[n as usize - 1].to_string()),
        RTMIN => Some("RTMIN".into()),
        RTMAX => Some("RTMAX".into()),
        33..=48 => Some(format!("RTMIN+{}", n - RTMIN)),
        49..=63 => Some(format!("RTMAX-{}", RTMAX - n)),
        _ => None,
    }
}

/// Parses a signal given by number (0..=64) or by name, with or without `SIG`, in any case;
/// `IO`, `IOT`, `CLD` and `POLL` aliases and `RTMIN+n` / `RTMAX-n` are accepted.
pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (0..=RTMAX).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    match bare {
        "IOT" => return Some(libc::SIGABRT),
        "CLD" => return Some(libc::SIGCHLD),
        "IO" => return Some(libc::SIGIO),
        "RTMIN" => return Some(RTMIN),
        "RTMAX" => return Some(RTMAX),
        _ => {}
    }
    if let Some(i) = NAMES.iter().position(|&n| n == bare) {
        return Some(i as i32 + 1);
    }
    let offset = |rest: &str| rest.parse::<i32>().ok().filter(|n| (0..=32).contains(n));
    if let Some(n) = bare.strip_prefix("RTMIN+").and_then(offset) {
        return Some(RTMIN + n);
    }
    if let Some(n) = bare.strip_prefix("RTMAX-").and_then(offset) {
        return Some(RTMAX - n);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("KILL"), Some(9));
        assert_eq!(parse("sigterm"), Some(15));
        assert_eq!(parse("SIGCHLD"), Some(17));
        assert_eq!(parse("CLD"), Some(17));
        assert_eq!(parse("RTMIN+2"), Some(34));
        assert_eq!(parse("RTMAX-1"), Some(63));
        assert_eq!(parse("0"), Some(0));
        for bad in ["65", "-1", "FOO", "RTMIN+40", ""] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(name(31).as_deref(), Some("SYS"));
        assert_eq!(name(34).as_deref(), Some("RTMIN+2"));
        assert_eq!(name(0), None);
        for n in 1..=31 {
            assert_eq!(parse(&name(n).unwrap()), Some(n));
        }
    }
}
