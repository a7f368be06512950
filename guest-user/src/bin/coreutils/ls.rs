//! `ls`: lists files and directories as GNU coreutils' `ls` does, one name a line.
//!
//! ```text
//! ls [-ladi1nh] [FILE]...
//! ```
//!
//! `-l` prints GNU's long format: mode string, link count, owner and group (names from
//! /etc/passwd and /etc/group, numbers with `-n` or when unnamed), size (or `major, minor` for
//! devices), modification time (`%b %e %H:%M` within six months, `%b %e  %Y` otherwise),
//! name, and `-> target` for symlinks. Columns are aligned over each listing, and a directory's
//! listing starts with `total N` (its files' 1 KiB blocks). Files named on the command line
//! come first, then each directory under a `NAME:` header when there are several operands.
//! A missing operand is `ls: cannot access 'x': No such file or directory`, exit status 2.

use std::io::Write;

use crate::common::{self, major, minor, mode_string, stat, strerror, warn, Args, Tm, MONTHS};
use crate::text::stdout;

/// One file to print.
struct Entry {
    name: String,
    /// The path to stat and to read links through.
    path: String,
    st: libc::stat,
}

struct Opts {
    long: bool,
    all: bool,
    inode: bool,
    numeric: bool,
    human: bool,
}

pub fn ls(argv: &[String]) -> i32 {
    let args = Args::parse("ls", argv, "ladi1nhA", "", 2);
    let o = Opts {
        long: args.has('l') || args.has('n'),
        all: args.has('a'),
        inode: args.has('i'),
        numeric: args.has('n'),
        human: args.has('h'),
    };
    let operands = if args.operands.is_empty() {
        vec![".".to_string()]
    } else {
        args.operands.clone()
    };
    let mut status = 0;
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for name in &operands {
        // Operands are followed when they are symlinks, unless the link itself is listed
        // (`-l` or `-d`); a dangling link is then shown as itself.
        let follow = !(o.long || args.has('d'));
        let st =
            match stat(name, follow).or_else(|e| if follow { stat(name, false) } else { Err(e) }) {
                Ok(st) => st,
                Err(e) => {
                    warn(
                        "ls",
                        format_args!("cannot access '{name}': {}", strerror(&e)),
                    );
                    status = 2;
                    continue;
                }
            };
        let e = Entry {
            name: name.clone(),
            path: name.clone(),
            st,
        };
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR && !args.has('d') {
            dirs.push(e);
        } else {
            files.push(e);
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    dirs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = stdout();
    let headers = operands.len() > 1;
    let mut first = files.is_empty();
    if !files.is_empty() {
        let _ = out.write_all(format_entries(&files, &o).as_bytes());
    }
    for d in &dirs {
        let mut text = String::new();
        if !first {
            text.push('\n');
        }
        first = false;
        if headers {
            text.push_str(&format!("{}:\n", d.name));
        }
        match read_dir(&d.path, o.all || args.has('A'), o.all) {
            Ok(mut entries) => {
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                if o.long {
                    let blocks: i64 = entries.iter().map(|e| e.st.st_blocks).sum();
                    let total = if o.human {
                        human(blocks as u64 * 512)
                    } else {
                        (blocks / 2).to_string()
                    };
                    text.push_str(&format!("total {total}\n"));
                }
                text.push_str(&format_entries(&entries, &o));
            }
            Err(e) => {
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
                warn(
                    "ls",
                    format_args!("cannot open directory '{}': {}", d.name, strerror(&e)),
                );
                status = 2;
                continue;
            }
        }
        let _ = out.write_all(text.as_bytes());
    }
    status
}

/// The entries of directory `dir`, hidden ones with `hidden`, `.` and `..` with `dots`.
fn read_dir(dir: &str, hidden: bool, dots: bool) -> std::io::Result<Vec<Entry>> {
    let mut names: Vec<String> = Vec::new();
    if dots {
        names.push(".".into());
        names.push("..".into());
    }
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if hidden || !name.starts_with('.') {
            names.push(name);
        }
    }
    let mut out = Vec::new();
    for name in names {
        let path = if dir.ends_with('/') {
            format!("{dir}{name}")
        } else {
            format!("{dir}/{name}")
        };
        match stat(&path, false) {
            Ok(st) => out.push(Entry { name, path, st }),
            // Removed since the listing was read: Linux's ls reports it and goes on.
            Err(e) => warn(
                "ls",
                format_args!("cannot access '{path}': {}", strerror(&e)),
            ),
        }
    }
    Ok(out)
}

/// Sizes as `ls -h` prints them: bytes up to 1023, then one decimal below 10 and whole numbers
/// above, always rounded up (`4.0K`, `12K`, `1.5M`).
pub fn human(bytes: u64) -> String {
    const LETTERS: [char; 6] = ['K', 'M', 'G', 'T', 'P', 'E'];
    if bytes < 1024 {
        return bytes.to_string();
    }
    let mut scale = 1024u64;
    for (i, letter) in LETTERS.iter().enumerate() {
        let tenths = (u128::from(bytes) * 10).div_ceil(u128::from(scale));
        if tenths < 100 {
            return format!("{}.{}{letter}", tenths / 10, tenths % 10);
        }
        let whole = bytes.div_ceil(scale);
        if whole < 1024 || i == LETTERS.len() - 1 {
            return format!("{whole}{letter}");
        }
        scale *= 1024;
    }
    unreachable!("the last unit returns")
}

/// `Nov 24 09:55` for times within six months of now, `Nov 24  2023` otherwise.
fn format_mtime(t: i64, now: i64) -> String {
    let tm = Tm::utc(t);
    let month = MONTHS[tm.month as usize - 1];
    const SIX_MONTHS: i64 = 31_556_952 / 2;
    if t > now - SIX_MONTHS && t <= now + 60 * 60 {
        format!("{month} {:>2} {:02}:{:02}", tm.day, tm.hour, tm.min)
    } else {
        format!("{month} {:>2}  {}", tm.day, tm.year)
    }
}

fn is_device(st: &libc::stat) -> bool {
    matches!(st.st_mode & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK)
}

/// The lines of one listing, columns aligned.
fn format_entries(entries: &[Entry], o: &Opts) -> String {
    let mut out = String::new();
    if !o.long {
        for e in entries {
            if o.inode {
                out.push_str(&format!("{} ", e.st.st_ino));
            }
            out.push_str(&e.name);
            out.push('\n');
        }
        return out;
    }
    let owner = |id: u32, name: Option<String>| match (o.numeric, name) {
        (false, Some(n)) => n,
        _ => id.to_string(),
    };
    struct Row {
        ino: String,
        mode: String,
        links: String,
        user: String,
        group: String,
        size: String,
        dev: Option<(String, String)>,
    }
    let rows: Vec<Row> = entries
        .iter()
        .map(|e| Row {
            ino: e.st.st_ino.to_string(),
            mode: mode_string(e.st.st_mode),
            links: e.st.st_nlink.to_string(),
            user: owner(e.st.st_uid, common::user_name(e.st.st_uid)),
            group: owner(e.st.st_gid, common::group_name(e.st.st_gid)),
            size: if o.human {
                human(e.st.st_size as u64)
            } else {
                e.st.st_size.to_string()
            },
            dev: is_device(&e.st).then(|| {
                (
                    major(e.st.st_rdev).to_string(),
                    minor(e.st.st_rdev).to_string(),
                )
            }),
        })
        .collect();
    let w = |f: fn(&Row) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (wi, wl, wu, wg) = (
        w(|r| r.ino.len()),
        w(|r| r.links.len()),
        w(|r| r.user.len()),
        w(|r| r.group.len()),
    );
    let wmaj = w(|r| r.dev.as_ref().map_or(0, |d| d.0.len()));
    let wmin = w(|r| r.dev.as_ref().map_or(0, |d| d.1.len()));
    let ws = w(|r| r.size.len()).max(if wmaj > 0 { wmaj + 2 + wmin } else { 0 });
    let now = common::now();
    for (e, r) in entries.iter().zip(&rows) {
        if o.inode {
            out.push_str(&format!("{:>wi$} ", r.ino));
        }
        let size = match &r.dev {
            Some((ma, mi)) => format!("{ma:>a$}, {mi:>b$}", a = ws - 2 - wmin, b = wmin),
            None => r.size.clone(),
        };
        out.push_str(&format!(
            "{} {:>wl$} {:<wu$} {:<wg$} {size:>ws$} {} {}",
            r.mode,
            r.links,
            r.user,
            r.group,
            format_mtime(e.st.st_mtime, now),
            e.name
        ));
        if e.st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            if let Ok(t) = std::fs::read_link(&e.path) {
                out.push_str(&format!(" -> {}", t.display()));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0");
        assert_eq!(human(1023), "1023");
        assert_eq!(human(1024), "1.0K");
        assert_eq!(human(4097), "4.1K");
        assert_eq!(human(10 * 1024), "10K");
        assert_eq!(human(12 * 1024 + 1), "13K");
        assert_eq!(human(1536 * 1024), "1.5M");
    }

    #[test]
    fn times() {
        let now = 1_732_442_100; // 2024-11-24 09:55
        assert_eq!(format_mtime(now - 60, now), "Nov 24 09:54");
        assert_eq!(format_mtime(0, now), "Jan  1  1970");
    }

    #[test]
    fn device_numbers() {
        let rdev = libc::makedev(229, 300);
        assert_eq!((major(rdev), minor(rdev)), (229, 300));
    }
}
