//! What the tools share: option parsing in the getopt style (clustered short flags, options
//! anywhere before `--`, GNU's messages for bad ones), error lines with C's error texts, user and
//! group names from /etc/passwd and /etc/group, file-mode strings, and calendar time in UTC
//! (the guest has no time zone database, so local time is UTC as for `TZ` unset and no
//! /etc/localtime).

use std::collections::HashMap;
use std::ffi::CString;
use std::fmt::Display;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

use guest_user::cli;

/// Parsed command-line arguments: the flags in order (with their values) and the operands.
pub struct Args {
    flags: Vec<(char, Option<String>)>,
    pub operands: Vec<String>,
}

impl Args {
    /// Parses `args` for `tool`: `allowed` lists the flag letters, `valued` those that take a
    /// value (`-n 5` or `-n5`). Unknown options print GNU's two lines and exit with `code`.
    /// Operands and options may be mixed (GNU's argument permutation) until `--`.
    pub fn parse(tool: &str, args: &[String], allowed: &str, valued: &str, code: i32) -> Args {
        let mut flags = Vec::new();
        let mut operands = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                operands.extend(it.by_ref().cloned());
                break;
            }
            if a.starts_with("--") {
                bad_option(tool, format_args!("unrecognized option '{a}'"), code);
            }
            if !a.starts_with('-') || a == "-" {
                operands.push(a.clone());
                continue;
            }
            for (i, c) in a.char_indices().skip(1) {
                if valued.contains(c) {
                    let rest = &a[i + c.len_utf8()..];
                    let value = if rest.is_empty() {
                        it.next().cloned().unwrap_or_else(|| {
                            bad_option(
                                tool,
                                format_args!("option requires an argument -- '{c}'"),
                                code,
                            )
                        })
                    } else {
                        rest.to_string()
                    };
                    flags.push((c, Some(value)));
                    break;
                }
                if !allowed.contains(c) {
                    bad_option(tool, format_args!("invalid option -- '{c}'"), code);
                }
                flags.push((c, None));
            }
        }
        Args { flags, operands }
    }

    pub fn has(&self, c: char) -> bool {
        self.flags.iter().any(|(f, _)| *f == c)
    }

    /// The last value given to `-c`.
    pub fn value(&self, c: char) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(f, _)| *f == c)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every value given to `-c`, in order.
    pub fn values(&self, c: char) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(f, _)| *f == c)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }

    /// Which of `a` and `b` came last (for pairs like `-s`/`-h` where the last one wins).
    pub fn last_of(&self, a: char, b: char) -> Option<char> {
        self.flags
            .iter()
            .rev()
            .map(|(f, _)| *f)
            .find(|f| *f == a || *f == b)
    }
}

fn bad_option(tool: &str, msg: impl Display, code: i32) -> ! {
    eprintln!("{tool}: {msg}");
    eprintln!("Try '{tool} --help' for more information.");
    std::process::exit(code);
}

/// `tool: missing operand` and GNU's pointer to --help.
pub fn missing_operand(tool: &str, code: i32) -> ! {
    bad_option(tool, "missing operand", code)
}

/// Prints `tool: msg` on stderr.
pub fn warn(tool: &str, msg: impl Display) {
    eprintln!("{tool}: {msg}");
}

/// An I/O error as C prints it (`No such file or directory`).
pub fn strerror(err: &io::Error) -> String {
    cli::errmsg(err)
}

/// The last OS error.
pub fn last_error() -> io::Error {
    io::Error::last_os_error()
}

/// A path as a C string (paths from argv never hold NUL bytes; one that does fails EINVAL).
pub fn cpath(path: impl AsRef<Path>) -> io::Result<CString> {
    CString::new(path.as_ref().as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Runs a C call returning -1 on error.
pub fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(last_error())
    } else {
        Ok(())
    }
}

/// `lstat` or `stat` through the raw call (std's metadata hides st_rdev's split and st_blocks
/// units behind traits; this keeps the tools close to the C struct).
pub fn stat(path: &str, follow: bool) -> io::Result<libc::stat> {
    let c = cpath(path)?;
    // SAFETY: a zeroed stat is valid; the kernel fills it; `c` is NUL-terminated.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        let r = if follow {
            libc::stat(c.as_ptr(), &mut st)
        } else {
            libc::lstat(c.as_ptr(), &mut st)
        };
        check(r).map(|_| st)
    }
}

/// The major number of a device number (glibc's `gnu_dev_major`).
pub fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

/// The minor number of a device number.
pub fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

/// An id database (/etc/passwd or /etc/group): id → name.
fn id_names(path: &str) -> HashMap<u32, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut map = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if let (Some(name), Some(id)) = (f.first(), f.get(2).and_then(|s| s.parse().ok())) {
            map.entry(id).or_insert_with(|| name.to_string());
        }
    }
    map
}

/// The user name of `uid`, if /etc/passwd has one.
pub fn user_name(uid: u32) -> Option<String> {
    static USERS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    USERS
        .get_or_init(|| id_names("/etc/passwd"))
        .get(&uid)
        .cloned()
}

/// The group name of `gid`, if /etc/group has one.
pub fn group_name(gid: u32) -> Option<String> {
    static GROUPS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    GROUPS
        .get_or_init(|| id_names("/etc/group"))
        .get(&gid)
        .cloned()
}

/// `drwxr-xr-x`: the type letter and the permission bits, with set-id and sticky bits as
/// `s`/`S` and `t`/`T` (GNU's filemodestring).
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        libc::S_IFIFO => 'p',
        libc::S_IFSOCK => 's',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    let special = [
        (libc::S_ISUID, 's', 'S'),
        (libc::S_ISGID, 's', 'S'),
        (libc::S_ISVTX, 't', 'T'),
    ];
    for (i, (bit, with_x, without_x)) in special.iter().enumerate() {
        let shift = 6 - 3 * i as u32;
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & bit != 0) {
            (true, true) => *with_x,
            (false, true) => *without_x,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// A calendar date and time in UTC.
pub struct Tm {
    pub year: i64,
    pub month: u32, // 1..=12
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
}

pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Tm {
    /// Seconds since the epoch to a UTC date (Howard Hinnant's days-to-civil algorithm).
    pub fn utc(t: i64) -> Tm {
        let days = t.div_euclid(86400);
        let secs = t.rem_euclid(86400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Tm {
            year,
            month,
            day,
            hour: secs / 3600,
            min: secs / 60 % 60,
            sec: secs % 60,
        }
    }
}

/// Seconds since the epoch now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_string(0o20666), "crw-rw-rw-");
        assert_eq!(mode_string(0o41777), "drwxrwxrwt");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o102644), "-rw-r-Sr--");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
    }

    #[test]
    fn dates() {
        let t = Tm::utc(0);
        assert_eq!((t.year, t.month, t.day, t.hour), (1970, 1, 1, 0));
        let t = Tm::utc(1_732_442_100); // 2024-11-24 09:55:00
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.min),
            (2024, 11, 24, 9, 55)
        );
        let t = Tm::utc(951_782_400); // 2000-02-29
        assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
    }

    #[test]
    fn options() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let a = Args::parse("t", &v(&["-la", "x", "-n5", "--", "-y"]), "lan", "n", 1);
        assert!(a.has('l') && a.has('a'));
        assert_eq!(a.value('n'), Some("5"));
        assert_eq!(a.operands, v(&["x", "-y"]));
    }
}
