//! The tools that change names and files: `mkdir`, `rmdir`, `rm`, `mv`, `cp`, `ln`, `touch`,
//! `mkfifo`, with GNU coreutils' options, messages and exit statuses (1 on any failure; the
//! other operands are still processed).

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::common::{check, cpath, missing_operand, stat, strerror, warn, Args};

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// The file mode from `-m MODE` (octal only), or `default`.
fn mode_arg(tool: &str, args: &Args, default: u32) -> u32 {
    match args.value('m') {
        None => default,
        Some(m) => u32::from_str_radix(m, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .unwrap_or_else(|| {
                warn(tool, format_args!("invalid mode '{m}'"));
                std::process::exit(1)
            }),
    }
}

pub fn mkdir(argv: &[String]) -> i32 {
    let args = Args::parse("mkdir", argv, "pv", "m", 1);
    if args.operands.is_empty() {
        missing_operand("mkdir", 1);
    }
    let mode = mode_arg("mkdir", &args, 0o777);
    let mut status = 0;
    for dir in &args.operands {
        let mut b = fs::DirBuilder::new();
        b.recursive(args.has('p')).mode(mode);
        if let Err(e) = b.create(dir) {
            warn(
                "mkdir",
                format_args!("cannot create directory '{dir}': {}", strerror(&e)),
            );
            status = 1;
        } else if args.value('m').is_some() {
            // -m is the mode itself, not masked by the umask.
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(mode));
        }
    }
    status
}

pub fn rmdir(argv: &[String]) -> i32 {
    let args = Args::parse("rmdir", argv, "pv", "", 1);
    if args.operands.is_empty() {
        missing_operand("rmdir", 1);
    }
    let mut status = 0;
    for dir in &args.operands {
        let mut path = dir.trim_end_matches('/').to_string();
        loop {
            if let Err(e) = fs::remove_dir(&path) {
                warn(
                    "rmdir",
                    format_args!("failed to remove '{path}': {}", strerror(&e)),
                );
                status = 1;
                break;
            }
            // -p removes the parents named in the operand too.
            match path.rfind('/') {
                Some(i) if args.has('p') && i > 0 => path.truncate(i),
                _ => break,
            }
        }
    }
    status
}

/// Removes `path` (a tree with `recursive`), reporting failures as GNU rm does.
fn remove(path: &str, recursive: bool, force: bool) -> bool {
    let st = match stat(path, false) {
        Ok(st) => st,
        Err(e) => {
            if force && e.kind() == io::ErrorKind::NotFound {
                return true;
            }
            warn(
                "rm",
                format_args!("cannot remove '{path}': {}", strerror(&e)),
            );
            return false;
        }
    };
    if is_dir(&st) {
        if !recursive {
            warn("rm", format_args!("cannot remove '{path}': Is a directory"));
            return false;
        }
        let mut ok = true;
        match fs::read_dir(path) {
            Ok(entries) => {
                for e in entries.flatten() {
                    let child = format!("{path}/{}", e.file_name().to_string_lossy());
                    ok &= remove(&child, true, force);
                }
            }
            Err(e) => {
                warn(
                    "rm",
                    format_args!("cannot remove '{path}': {}", strerror(&e)),
                );
                return false;
            }
        }
        if let Err(e) = fs::remove_dir(path) {
            warn(
                "rm",
                format_args!("cannot remove '{path}': {}", strerror(&e)),
            );
            return false;
        }
        return ok;
    }
    if let Err(e) = fs::remove_file(path) {
        warn(
            "rm",
            format_args!("cannot remove '{path}': {}", strerror(&e)),
        );
        return false;
    }
    true
}

pub fn rm(argv: &[String]) -> i32 {
    let args = Args::parse("rm", argv, "rRfiv", "", 1);
    let force = args.has('f');
    if args.operands.is_empty() && !force {
        missing_operand("rm", 1);
    }
    let recursive = args.has('r') || args.has('R');
    let mut status = 0;
    for p in &args.operands {
        let base = p.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if base == "." || base == ".." {
            warn(
                "rm",
                format_args!("refusing to remove '.' or '..' directory: skipping '{p}'"),
            );
            status = 1;
        } else if !remove(p, recursive, force) {
            status = 1;
        }
    }
    status
}

/// Where operand `src` goes when the last operand is `dest`: into it if it is a directory.
fn target(src: &str, dest: &str, dest_is_dir: bool) -> String {
    if dest_is_dir {
        let base = src.trim_end_matches('/').rsplit('/').next().unwrap_or(src);
        format!("{}/{base}", dest.trim_end_matches('/'))
    } else {
        dest.to_string()
    }
}

/// The sources and destination of `cp`/`mv`/`ln`, with GNU's checks: several sources need a
/// directory as the destination.
fn sources_and_dest<'a>(tool: &str, args: &'a Args) -> Option<(&'a [String], &'a str, bool)> {
    let ops = &args.operands;
    match ops.len() {
        0 => missing_operand(tool, 1),
        1 => {
            warn(
                tool,
                format_args!("missing destination file operand after '{}'", ops[0]),
            );
            eprintln!("Try '{tool} --help' for more information.");
            None
        }
        n => {
            let dest = &ops[n - 1];
            let dest_is_dir = stat(dest, true).is_ok_and(|st| is_dir(&st));
            if n > 2 && !dest_is_dir {
                warn(tool, format_args!("target '{dest}' is not a directory"));
                return None;
            }
            Some((&ops[..n - 1], dest, dest_is_dir))
        }
    }
}

/// Copies `src` to `dst`: regular files by content with their mode, symlinks as symlinks,
/// FIFOs and devices by `mknod`, directories (with `recursive`) entry by entry.
fn copy(src: &str, dst: &str, recursive: bool, tool: &str) -> bool {
    let st = match stat(src, !recursive) {
        Ok(st) => st,
        Err(e) => {
            warn(tool, format_args!("cannot stat '{src}': {}", strerror(&e)));
            return false;
        }
    };
    let mode = st.st_mode & 0o7777;
    let result = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR if !recursive => {
            warn(
                tool,
                format_args!("-r not specified; omitting directory '{src}'"),
            );
            return false;
        }
        libc::S_IFDIR => {
            if Path::new(dst).starts_with(src) && Path::new(dst) != Path::new(src) {
                warn(
                    tool,
                    format_args!("cannot copy a directory, '{src}', into itself, '{dst}'"),
                );
                return false;
            }
            let made = match fs::DirBuilder::new().mode(mode).create(dst) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && Path::new(dst).is_dir() => {
                    Ok(())
                }
                r => r,
            };
            if let Err(e) = made {
                warn(
                    tool,
                    format_args!("cannot create directory '{dst}': {}", strerror(&e)),
                );
                return false;
            }
            let mut ok = true;
            for e in fs::read_dir(src).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                ok &= copy(
                    &format!("{src}/{name}"),
                    &format!("{dst}/{name}"),
                    true,
                    tool,
                );
            }
            return ok;
        }
        libc::S_IFLNK => fs::read_link(src).and_then(|t| std::os::unix::fs::symlink(t, dst)),
        libc::S_IFREG => copy_file(src, dst, mode),
        _ => cpath(dst).and_then(|c| {
            // SAFETY: `c` is a NUL-terminated path.
            check(unsafe { libc::mknod(c.as_ptr(), st.st_mode, st.st_rdev) })
        }),
    };
    if let Err(e) = result {
        warn(
            tool,
            format_args!("cannot create regular file '{dst}': {}", strerror(&e)),
        );
        return false;
    }
    true
}

fn copy_file(src: &str, dst: &str, mode: u32) -> io::Result<()> {
    let mut input = fs::File::open(src)?;
    let mut output = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(dst)?;
    io::copy(&mut input, &mut output)?;
    Ok(())
}

pub fn cp(argv: &[String]) -> i32 {
    let args = Args::parse("cp", argv, "rRafpv", "", 1);
    let Some((srcs, dest, dest_is_dir)) = sources_and_dest("cp", &args) else {
        return 1;
    };
    let recursive = args.has('r') || args.has('R') || args.has('a');
    let mut status = 0;
    for src in srcs {
        if !copy(src, &target(src, dest, dest_is_dir), recursive, "cp") {
            status = 1;
        }
    }
    status
}

pub fn mv(argv: &[String]) -> i32 {
    let args = Args::parse("mv", argv, "fivn", "", 1);
    let Some((srcs, dest, dest_is_dir)) = sources_and_dest("mv", &args) else {
        return 1;
    };
    let mut status = 0;
    for src in srcs {
        let to = target(src, dest, dest_is_dir);
        if let Err(e) = stat(src, false) {
            warn("mv", format_args!("cannot stat '{src}': {}", strerror(&e)));
            status = 1;
            continue;
        }
        match fs::rename(src, &to) {
            Ok(()) => {}
            // Another file system: copy, then remove the original.
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                if !copy(src, &to, true, "mv") || !remove(src, true, false) {
                    status = 1;
                }
            }
            Err(e) => {
                warn(
                    "mv",
                    format_args!("cannot move '{src}' to '{to}': {}", strerror(&e)),
                );
                status = 1;
            }
        }
    }
    status
}

pub fn ln(argv: &[String]) -> i32 {
    let args = Args::parse("ln", argv, "sfnv", "", 1);
    let ops = &args.operands;
    // `ln TARGET` links into the current directory.
    let (srcs, dest, dest_is_dir) = if ops.len() == 1 {
        (&ops[..], ".", true)
    } else {
        match sources_and_dest("ln", &args) {
            Some(x) => x,
            None => return 1,
        }
    };
    let mut status = 0;
    for src in srcs {
        let to = target(src, dest, dest_is_dir);
        if args.has('f') {
            let _ = fs::remove_file(&to);
        }
        let (r, what) = if args.has('s') {
            (std::os::unix::fs::symlink(src, &to), "symbolic link")
        } else {
            (fs::hard_link(src, &to), "hard link")
        };
        if let Err(e) = r {
            let msg = if args.has('s') || e.kind() == io::ErrorKind::AlreadyExists {
                format!("failed to create {what} '{to}'")
            } else {
                format!("failed to create {what} '{to}' => '{src}'")
            };
            warn("ln", format_args!("{msg}: {}", strerror(&e)));
            status = 1;
        }
    }
    status
}

/// `touch`: creates missing files (not with `-c`) and sets their access and modification
/// times to now (`-a`/`-m` only one of them) through `utimensat`.
pub fn touch(argv: &[String]) -> i32 {
    let args = Args::parse("touch", argv, "acm", "", 1);
    if args.operands.is_empty() {
        missing_operand("touch", 1);
    }
    let now = libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::UTIME_NOW,
    };
    let omit = libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::UTIME_OMIT,
    };
    let only_a = args.has('a') && !args.has('m');
    let only_m = args.has('m') && !args.has('a');
    let times = [
        if only_m { omit } else { now },
        if only_a { omit } else { now },
    ];
    let mut status = 0;
    for f in &args.operands {
        let r = cpath(f).and_then(|c| {
            // SAFETY: `c` is NUL-terminated and `times` holds two timespecs.
            match check(unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) }) {
                Err(e) if e.kind() == io::ErrorKind::NotFound && !args.has('c') => {
                    fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .mode(0o666)
                        .open(f)
                        .map(drop)
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                r => r,
            }
        });
        if let Err(e) = r {
            warn(
                "touch",
                format_args!("cannot touch '{f}': {}", strerror(&e)),
            );
            status = 1;
        }
    }
    status
}

pub fn mkfifo(argv: &[String]) -> i32 {
    let args = Args::parse("mkfifo", argv, "", "m", 1);
    if args.operands.is_empty() {
        missing_operand("mkfifo", 1);
    }
    let mode = mode_arg("mkfifo", &args, 0o666);
    let mut status = 0;
    for f in &args.operands {
        // SAFETY: the path is NUL-terminated.
        let r = cpath(f).and_then(|c| check(unsafe { libc::mkfifo(c.as_ptr(), mode) }));
        if let Err(e) = r {
            warn(
                "mkfifo",
                format_args!("cannot create fifo '{f}': {}", strerror(&e)),
            );
            status = 1;
        } else if args.value('m').is_some() {
            let _ = fs::set_permissions(f, fs::Permissions::from_mode(mode));
        }
    }
    status
}
