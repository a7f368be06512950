//! `mount` and `umount`, as util-linux's.
//!
//! ```text
//! mount                                   list /proc/mounts as `SRC on DIR type TYPE (OPTS)`
//! mount [-t TYPE] [-o OPTS] [-r] SRC DIR  mount SRC (a device or a name) on DIR
//! umount [-l] [-f] DIR...                 unmount (lazily with -l)
//! ```
//!
//! Failures print `mount: DIR: why.` and exit 32, util-linux's "mount failure" status.

use std::io::Write;

use crate::common::{check, cpath, strerror, warn, Args};
use crate::text::stdout;

/// util-linux's exit status for a failed mount or unmount.
const MOUNT_FAILURE: i32 = 32;

/// The `-o` words that are mount flags; the others go to the file system as its data.
const FLAGS: &[(&str, u64, bool)] = &[
    ("ro", libc::MS_RDONLY, true),
    ("rw", libc::MS_RDONLY, false),
    ("nosuid", libc::MS_NOSUID, true),
    ("suid", libc::MS_NOSUID, false),
    ("nodev", libc::MS_NODEV, true),
    ("dev", libc::MS_NODEV, false),
    ("noexec", libc::MS_NOEXEC, true),
    ("exec", libc::MS_NOEXEC, false),
    ("sync", libc::MS_SYNCHRONOUS, true),
    ("async", libc::MS_SYNCHRONOUS, false),
    ("remount", libc::MS_REMOUNT, true),
    ("bind", libc::MS_BIND, true),
    ("noatime", libc::MS_NOATIME, true),
    ("nodiratime", libc::MS_NODIRATIME, true),
    ("relatime", libc::MS_RELATIME, true),
    ("strictatime", libc::MS_STRICTATIME, true),
];

/// Splits `-o` options into mount flags and the file system's data string.
fn parse_options(opts: &str) -> (u64, String) {
    let mut flags = 0;
    let mut data = Vec::new();
    for o in opts
        .split(',')
        .filter(|o| !o.is_empty() && *o != "defaults")
    {
        match FLAGS.iter().find(|(n, _, _)| *n == o) {
            Some((_, f, true)) => flags |= f,
            Some((_, f, false)) => flags &= !f,
            None => data.push(o),
        }
    }
    (flags, data.join(","))
}

fn list() -> i32 {
    let text = match std::fs::read_to_string("/proc/mounts") {
        Ok(t) => t,
        Err(e) => {
            warn("mount", format_args!("/proc/mounts: {}", strerror(&e)));
            return MOUNT_FAILURE;
        }
    };
    let mut out = stdout();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if let [src, dir, fstype, opts, ..] = f[..] {
            let _ = writeln!(out, "{src} on {dir} type {fstype} ({opts})");
        }
    }
    0
}

pub fn mount(argv: &[String]) -> i32 {
    let args = Args::parse("mount", argv, "rwvna", "to", 1);
    let (src, dir) = match &args.operands[..] {
        [] => return list(),
        [s, d] => (s.as_str(), d.as_str()),
        _ => {
            warn("mount", "bad usage");
            eprintln!("Try 'mount --help' for more information.");
            return 1;
        }
    };
    let (mut flags, data) = parse_options(args.value('o').unwrap_or(""));
    if args.has('r') {
        flags |= libc::MS_RDONLY;
    }
    let fstype = args.value('t').unwrap_or("none");
    let r = (|| {
        let (s, d, t, o) = (cpath(src)?, cpath(dir)?, cpath(fstype)?, cpath(&data)?);
        // SAFETY: all four are NUL-terminated strings.
        check(unsafe {
            libc::mount(
                s.as_ptr(),
                d.as_ptr(),
                t.as_ptr(),
                flags,
                o.as_ptr() as *const libc::c_void,
            )
        })
    })();
    match r {
        Ok(()) => 0,
        Err(e) => {
            let why = match e.raw_os_error() {
                Some(libc::ENOENT) => "mount point does not exist".to_string(),
                Some(libc::ENOTDIR) => "mount point is not a directory".to_string(),
                Some(libc::ENODEV) => format!("unknown filesystem type '{fstype}'"),
                Some(libc::EPERM) => "must be superuser to use mount".to_string(),
                Some(libc::EBUSY) => format!("{src} already mounted or mount point busy"),
                _ => strerror(&e).to_lowercase(),
            };
            warn("mount", format_args!("{dir}: {why}."));
            MOUNT_FAILURE
        }
    }
}

pub fn umount(argv: &[String]) -> i32 {
    let args = Args::parse("umount", argv, "lfvn", "", 1);
    if args.operands.is_empty() {
        warn("umount", "bad usage");
        eprintln!("Try 'umount --help' for more information.");
        return 1;
    }
    let mut flags = 0;
    if args.has('l') {
        flags |= libc::MNT_DETACH;
    }
    if args.has('f') {
        flags |= libc::MNT_FORCE;
    }
    let mut status = 0;
    for dir in &args.operands {
        // SAFETY: the path is NUL-terminated.
        let r = cpath(dir).and_then(|d| check(unsafe { libc::umount2(d.as_ptr(), flags) }));
        if let Err(e) = r {
            let why = match e.raw_os_error() {
                Some(libc::EINVAL) => "not mounted".to_string(),
                Some(libc::EBUSY) => "target is busy".to_string(),
                Some(libc::EPERM) => "must be superuser to unmount".to_string(),
                _ => strerror(&e),
            };
            warn("umount", format_args!("{dir}: {why}."));
            status = MOUNT_FAILURE;
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let (f, d) = parse_options("ro,nosuid,size=1m,mode=755");
        assert_eq!(f, libc::MS_RDONLY | libc::MS_NOSUID);
        assert_eq!(d, "size=1m,mode=755");
        assert_eq!(parse_options("ro,rw").0, 0);
    }
}
