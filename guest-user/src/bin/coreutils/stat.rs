//! `stat`: a file's status in GNU coreutils' default layout, or through `-c FORMAT`.
//!
//! ```text
//! stat [-L] [-c FORMAT] FILE...
//! ```
//!
//! Without `-L` a symlink is described itself (`File: a -> b`). The birth time is not in
//! `struct stat`, so it prints as `-`, which is what GNU prints where the file system has none.

use std::io::Write;

use crate::common::{self, major, minor, mode_string, stat as lstat, strerror, warn, Args, Tm};
use crate::text::stdout;

/// `%F`: the file type in words.
fn file_type(st: &libc::stat) -> &'static str {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG if st.st_size == 0 => "regular empty file",
        libc::S_IFREG => "regular file",
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "symbolic link",
        libc::S_IFCHR => "character special file",
        libc::S_IFBLK => "block special file",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "weird file",
    }
}

/// `2024-11-24 09:55:00.123456789 +0000`.
fn timestamp(sec: i64, nsec: i64) -> String {
    let t = Tm::utc(sec);
    format!(
        "{}-{:02}-{:02} {:02}:{:02}:{:02}.{:09} +0000",
        t.year, t.month, t.day, t.hour, t.min, t.sec, nsec
    )
}

/// One `%` directive of `-c`; None for an unknown letter (printed as is, as GNU does with `?`).
fn directive(c: char, name: &str, st: &libc::stat) -> Option<String> {
    let user = || common::user_name(st.st_uid).unwrap_or_else(|| "UNKNOWN".into());
    let group = || common::group_name(st.st_gid).unwrap_or_else(|| "UNKNOWN".into());
    Some(match c {
        'n' => name.to_string(),
        'N' => match std::fs::read_link(name) {
            Ok(t) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                format!("'{name}' -> '{}'", t.display())
            }
            _ => format!("'{name}'"),
        },
        's' => st.st_size.to_string(),
        'b' => st.st_blocks.to_string(),
        'B' => "512".into(),
        'o' => st.st_blksize.to_string(),
        'f' => format!("{:x}", st.st_mode),
        'F' => file_type(st).into(),
        'a' => format!("{:o}", st.st_mode & 0o7777),
        'A' => mode_string(st.st_mode),
        'u' => st.st_uid.to_string(),
        'U' => user(),
        'g' => st.st_gid.to_string(),
        'G' => group(),
        'i' => st.st_ino.to_string(),
        'h' => st.st_nlink.to_string(),
        'd' => st.st_dev.to_string(),
        'D' => format!("{:x}", st.st_dev),
        't' => format!("{:x}", major(st.st_rdev)),
        'T' => format!("{:x}", minor(st.st_rdev)),
        'x' => timestamp(st.st_atime, st.st_atime_nsec),
        'y' => timestamp(st.st_mtime, st.st_mtime_nsec),
        'z' => timestamp(st.st_ctime, st.st_ctime_nsec),
        'w' => "-".into(),
        'X' => st.st_atime.to_string(),
        'Y' => st.st_mtime.to_string(),
        'Z' => st.st_ctime.to_string(),
        'W' => "0".into(),
        _ => return None,
    })
}

/// Expands a `-c` format (with its `\n`-style escapes left as typed, like GNU's `-c`).
fn format(fmt: &str, name: &str, st: &libc::stat) -> String {
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(d) => match directive(d, name, st) {
                Some(s) => out.push_str(&s),
                None => {
                    out.push('?');
                }
            },
            None => out.push('%'),
        }
    }
    out.push('\n');
    out
}

/// GNU's default layout.
fn default_layout(name: &str, st: &libc::stat) -> String {
    let mut s = String::new();
    let file = match std::fs::read_link(name) {
        Ok(t) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
            format!("{name} -> {}", t.display())
        }
        _ => name.to_string(),
    };
    s.push_str(&format!("  File: {file}\n"));
    s.push_str(&format!(
        "  Size: {:<10}\tBlocks: {:<10} IO Block: {:<6} {}\n",
        st.st_size,
        st.st_blocks,
        st.st_blksize,
        file_type(st)
    ));
    let dev = format!(
        "Device: {},{}\tInode: {:<11} Links: ",
        major(st.st_dev),
        minor(st.st_dev),
        st.st_ino
    );
    if matches!(st.st_mode & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK) {
        s.push_str(&format!(
            "{dev}{:<5} Device type: {},{}\n",
            st.st_nlink,
            major(st.st_rdev),
            minor(st.st_rdev)
        ));
    } else {
        s.push_str(&format!("{dev}{}\n", st.st_nlink));
    }
    let user = common::user_name(st.st_uid).unwrap_or_else(|| "UNKNOWN".into());
    let group = common::group_name(st.st_gid).unwrap_or_else(|| "UNKNOWN".into());
    s.push_str(&format!(
        "Access: ({:04o}/{})  Uid: ({:5}/{:>8})   Gid: ({:5}/{:>8})\n",
        st.st_mode & 0o7777,
        mode_string(st.st_mode),
        st.st_uid,
        user,
        st.st_gid,
        group
    ));
    s.push_str(&format!(
        "Access: {}\nModify: {}\nChange: {}\n Birth: -\n",
        timestamp(st.st_atime, st.st_atime_nsec),
        timestamp(st.st_mtime, st.st_mtime_nsec),
        timestamp(st.st_ctime, st.st_ctime_nsec)
    ));
    s
}

pub fn stat(argv: &[String]) -> i32 {
    let args = Args::parse("stat", argv, "L", "c", 1);
    if args.operands.is_empty() {
        common::missing_operand("stat", 1);
    }
    let mut out = stdout();
    let mut status = 0;
    for name in &args.operands {
        match lstat(name, args.has('L')) {
            Ok(st) => {
                let text = match args.value('c') {
                    Some(f) => format(f, name, &st),
                    None => default_layout(name, &st),
                };
                let _ = out.write_all(text.as_bytes());
            }
            Err(e) => {
                let _ = out.flush();
                warn(
                    "stat",
                    format_args!("cannot statx '{name}': {}", strerror(&e)),
                );
                status = 1;
            }
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_device() {
        // SAFETY: a zeroed stat is valid.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        st.st_mode = libc::S_IFCHR | 0o666;
        st.st_rdev = libc::makedev(1, 3);
        st.st_dev = libc::makedev(0, 5);
        st.st_ino = 4;
        st.st_nlink = 1;
        st.st_blksize = 4096;
        let s = default_layout("/nonexistent/null", &st);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "  File: /nonexistent/null");
        assert_eq!(
            lines[1],
            "  Size: 0         \tBlocks: 0          IO Block: 4096   character special file"
        );
        assert_eq!(
            lines[2],
            "Device: 0,5\tInode: 4           Links: 1     Device type: 1,3"
        );
        assert!(lines[3].starts_with("Access: (0666/crw-rw-rw-)  Uid: (    0/"));
        assert_eq!(lines[4], "Access: 1970-01-01 00:00:00.000000000 +0000");
        assert_eq!(
            format("%a %F %t,%T %%", "x", &st),
            "666 character special file 1,3 %\n"
        );
    }
}
