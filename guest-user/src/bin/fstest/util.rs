//! What the fstest checks share: scratch directories, safe wrappers over the system calls
//! they exercise (each returns the kernel's errno as an `io::Error`), and errno expectations
//! that name the errno they wanted.

use std::ffi::CString;
use std::fmt::Debug;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use guest_user::check::Fail;
use guest_user::sys::{self, cvt, cvt_long};

/// `O_LARGEFILE` as x86_64 Linux reports it in `F_GETFL` (every open of a file sets it).
pub(crate) const O_LARGEFILE: i32 = 0o100000;
/// An address in the kernel half: never a valid user pointer.
pub(crate) const KERNEL_ADDR: usize = 0xffff_8000_0000_0000;

/// The symbolic name of an errno, for messages.
pub(crate) fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EPIPE => "EPIPE",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EPROTOTYPE => "EPROTOTYPE",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::ECONNRESET => "ECONNRESET",
        libc::EISCONN => "EISCONN",
        libc::ENOTCONN => "ENOTCONN",
        libc::ECONNREFUSED => "ECONNREFUSED",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// Passes if `r` failed with `want`; the message says what was tried and what came back.
pub(crate) fn expect_errno<T: Debug>(r: io::Result<T>, want: i32, what: &str) -> Result<(), Fail> {
    match r {
        Err(e) if e.raw_os_error() == Some(want) => Ok(()),
        Err(e) => Err(Fail(format!(
            "{what}: {}, want {}",
            errno_name(e.raw_os_error().unwrap_or(0)),
            errno_name(want)
        ))),
        Ok(v) => Err(Fail(format!(
            "{what} succeeded ({v:?}), want {}",
            errno_name(want)
        ))),
    }
}

/// Adds what was being done to an error: `open /tmp/x: ENOENT`.
pub(crate) trait Ctx<T> {
    fn ctx(self, what: impl std::fmt::Display) -> Result<T, Fail>;
}

impl<T> Ctx<T> for io::Result<T> {
    fn ctx(self, what: impl std::fmt::Display) -> Result<T, Fail> {
        self.map_err(|e| {
            Fail(format!(
                "{what}: {}",
                errno_name(e.raw_os_error().unwrap_or(0))
            ))
        })
    }
}

/// A fresh directory for one check, removed with everything in it when dropped.
pub(crate) struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub(crate) fn new(check: &str) -> Result<Scratch, Fail> {
        let dir = PathBuf::from(format!("/tmp/fstest.{}.{check}", sys::getpid()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).ctx(format!("mkdir {}", dir.display()))?;
        Ok(Scratch { dir })
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates `rel` with `data` in it (mode 0644 before the umask).
    pub(crate) fn file(&self, rel: &str, data: &[u8]) -> Result<PathBuf, Fail> {
        let p = self.path(rel);
        std::fs::write(&p, data).ctx(format!("create {}", p.display()))?;
        Ok(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn cstr(p: impl AsRef<Path>) -> CString {
    CString::new(p.as_ref().as_os_str().as_bytes()).expect("path without NUL")
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: `fd` was just returned by the kernel as a new descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

pub(crate) fn open(path: impl AsRef<Path>, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    openat(libc::AT_FDCWD, path, flags, mode)
}

pub(crate) fn openat(
    dir: RawFd,
    path: impl AsRef<Path>,
    flags: i32,
    mode: u32,
) -> io::Result<OwnedFd> {
    let p = cstr(path);
    // SAFETY: `p` is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::openat(dir, p.as_ptr(), flags, mode) }).map(owned)
}

pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into `buf`.
    cvt_long(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } as i64)
        .map(|n| n as usize)
}

pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel reads buf.len() bytes from `buf`.
    cvt_long(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) } as i64).map(|n| n as usize)
}

pub(crate) fn pread(fd: RawFd, buf: &mut [u8], off: i64) -> io::Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into `buf`.
    cvt_long(unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), off) } as i64)
        .map(|n| n as usize)
}

pub(crate) fn pwrite(fd: RawFd, buf: &[u8], off: i64) -> io::Result<usize> {
    // SAFETY: the kernel reads buf.len() bytes from `buf`.
    cvt_long(unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), off) } as i64)
        .map(|n| n as usize)
}

/// Reads exactly `n` bytes at `off` (a short read is an error of its own).
pub(crate) fn pread_exact(fd: RawFd, n: usize, off: i64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let got = pread(fd, &mut buf, off)?;
    buf.truncate(got);
    Ok(buf)
}

/// Reads until end of file.
pub(crate) fn read_to_end(fd: RawFd) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match read(fd, &mut buf)? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

pub(crate) fn lseek(fd: RawFd, off: i64, whence: i32) -> io::Result<i64> {
    // SAFETY: no memory arguments.
    cvt_long(unsafe { libc::lseek(fd, off, whence) })
}

pub(crate) fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

/// `newfstatat` itself (musl's stat functions are thin over it).
pub(crate) fn fstatat(dir: RawFd, path: impl AsRef<Path>, flags: i32) -> io::Result<libc::stat> {
    let p = cstr(path);
    // SAFETY: stat is plain data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `p` is NUL-terminated and `st` a valid out-pointer.
    cvt_long(unsafe { libc::syscall(libc::SYS_newfstatat, dir, p.as_ptr(), &mut st, flags) })?;
    Ok(st)
}

pub(crate) fn stat(path: impl AsRef<Path>) -> io::Result<libc::stat> {
    let p = cstr(path);
    // SAFETY: stat is plain data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `p` is NUL-terminated and `st` a valid out-pointer.
    cvt_long(unsafe { libc::syscall(libc::SYS_stat, p.as_ptr(), &mut st) })?;
    Ok(st)
}

pub(crate) fn lstat(path: impl AsRef<Path>) -> io::Result<libc::stat> {
    let p = cstr(path);
    // SAFETY: stat is plain data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `p` is NUL-terminated and `st` a valid out-pointer.
    cvt_long(unsafe { libc::syscall(libc::SYS_lstat, p.as_ptr(), &mut st) })?;
    Ok(st)
}

pub(crate) fn statx(dir: RawFd, path: impl AsRef<Path>, flags: i32) -> io::Result<libc::statx> {
    let p = cstr(path);
    // SAFETY: statx is plain data.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `p` is NUL-terminated and `stx` a valid out-pointer.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_statx,
            dir,
            p.as_ptr(),
            flags,
            libc::STATX_BASIC_STATS,
            &mut stx,
        )
    })?;
    Ok(stx)
}

pub(crate) fn fcntl(fd: RawFd, cmd: i32, arg: libc::c_long) -> io::Result<i32> {
    // SAFETY: the commands used take integer arguments.
    cvt(unsafe { libc::fcntl(fd, cmd, arg) })
}

/// Whether `fd` is an open descriptor.
pub(crate) fn is_open(fd: RawFd) -> bool {
    fcntl(fd, libc::F_GETFD, 0).is_ok()
}

pub(crate) fn fd_cloexec(fd: RawFd) -> io::Result<bool> {
    fcntl(fd, libc::F_GETFD, 0).map(|f| f & libc::FD_CLOEXEC != 0)
}

pub(crate) fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: no memory arguments.
    cvt(unsafe { libc::dup(fd) }).map(owned)
}

/// `dup2` / `dup3` as raw descriptor numbers (the caller decides who closes `new`).
pub(crate) fn dup3(old: RawFd, new: RawFd, flags: i32) -> io::Result<RawFd> {
    // SAFETY: no memory arguments.
    cvt_long(unsafe { libc::syscall(libc::SYS_dup3, old, new, flags) }).map(|r| r as RawFd)
}

pub(crate) fn dup2(old: RawFd, new: RawFd) -> io::Result<RawFd> {
    // SAFETY: no memory arguments.
    cvt_long(unsafe { libc::syscall(libc::SYS_dup2, old, new) }).map(|r| r as RawFd)
}

pub(crate) fn close(fd: RawFd) -> io::Result<()> {
    // SAFETY: closing a descriptor number; callers only close descriptors they own or that
    // are deliberately invalid.
    cvt(unsafe { libc::close(fd) }).map(drop)
}

pub(crate) fn pipe2(flags: i32) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    pipe2(0)
}

pub(crate) fn unlink(path: impl AsRef<Path>) -> io::Result<()> {
    let p = cstr(path);
    // SAFETY: `p` is NUL-terminated.
    cvt(unsafe { libc::unlink(p.as_ptr()) }).map(drop)
}

pub(crate) fn rmdir(path: impl AsRef<Path>) -> io::Result<()> {
    let p = cstr(path);
    // SAFETY: `p` is NUL-terminated.
    cvt(unsafe { libc::rmdir(p.as_ptr()) }).map(drop)
}

pub(crate) fn mkdir(path: impl AsRef<Path>, mode: u32) -> io::Result<()> {
    let p = cstr(path);
    // SAFETY: `p` is NUL-terminated.
    cvt(unsafe { libc::mkdir(p.as_ptr(), mode) }).map(drop)
}

pub(crate) fn mknod(path: impl AsRef<Path>, mode: u32, dev: u64) -> io::Result<()> {
    let p = cstr(path);
    // SAFETY: `p` is NUL-terminated.
    cvt(unsafe { libc::mknod(p.as_ptr(), mode, dev) }).map(drop)
}

pub(crate) fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    renameat2(from, to, 0)
}

pub(crate) fn renameat2(
    from: impl AsRef<Path>,
    to: impl AsRef<Path>,
    flags: u32,
) -> io::Result<()> {
    let (f, t) = (cstr(from), cstr(to));
    // SAFETY: both paths are NUL-terminated.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            flags,
        )
    })
    .map(drop)
}

pub(crate) fn link(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (f, t) = (cstr(from), cstr(to));
    // SAFETY: both paths are NUL-terminated.
    cvt(unsafe { libc::link(f.as_ptr(), t.as_ptr()) }).map(drop)
}

pub(crate) fn symlink(target: &str, at: impl AsRef<Path>) -> io::Result<()> {
    let (t, p) = (cstr(target), cstr(at));
    // SAFETY: both strings are NUL-terminated.
    cvt(unsafe { libc::symlink(t.as_ptr(), p.as_ptr()) }).map(drop)
}

/// `readlink` into a buffer of `size` bytes (the kernel truncates silently).
pub(crate) fn readlink_sized(path: impl AsRef<Path>, size: usize) -> io::Result<Vec<u8>> {
    let p = cstr(path);
    let mut buf = vec![0u8; size];
    // SAFETY: the kernel writes at most `size` bytes into `buf`.
    let n = cvt_long(unsafe { libc::readlink(p.as_ptr(), buf.as_mut_ptr().cast(), size) } as i64)?;
    buf.truncate(n as usize);
    Ok(buf)
}

pub(crate) fn readlink(path: impl AsRef<Path>) -> io::Result<String> {
    readlink_sized(path, 4096).map(|b| String::from_utf8_lossy(&b).into_owned())
}

pub(crate) fn chmod(path: impl AsRef<Path>, mode: u32) -> io::Result<()> {
    let p = cstr(path);
    // SAFETY: `p` is NUL-terminated.
    cvt(unsafe { libc::chmod(p.as_ptr(), mode) }).map(drop)
}

pub(crate) fn access(path: impl AsRef<Path>, mode: i32) -> io::Result<()> {
    let p = cstr(path);
    // SAFETY: `p` is NUL-terminated.
    cvt(unsafe { libc::access(p.as_ptr(), mode) }).map(drop)
}

pub(crate) fn chdir(path: impl AsRef<Path>) -> io::Result<()> {
    let p = cstr(path);
    // SAFETY: `p` is NUL-terminated.
    cvt(unsafe { libc::chdir(p.as_ptr()) }).map(drop)
}

pub(crate) fn fchdir(fd: RawFd) -> io::Result<()> {
    // SAFETY: no memory arguments.
    cvt(unsafe { libc::fchdir(fd) }).map(drop)
}

/// The `getcwd` system call itself into a buffer of `size` bytes (musl's wrapper would
/// substitute its own errors).
pub(crate) fn getcwd_sized(size: usize) -> io::Result<String> {
    let mut buf = vec![0u8; size];
    // SAFETY: the kernel writes at most `size` bytes into `buf`.
    let n = cvt_long(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), size) })?;
    buf.truncate((n as usize).saturating_sub(1));
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

pub(crate) fn getcwd() -> io::Result<String> {
    getcwd_sized(4096)
}

pub(crate) fn umask(mask: u32) -> u32 {
    // SAFETY: no memory arguments; umask cannot fail.
    unsafe { libc::umask(mask) }
}

pub(crate) fn truncate(path: impl AsRef<Path>, len: i64) -> io::Result<()> {
    let p = cstr(path);
    // SAFETY: `p` is NUL-terminated.
    cvt(unsafe { libc::truncate(p.as_ptr(), len) }).map(drop)
}

pub(crate) fn ftruncate(fd: RawFd, len: i64) -> io::Result<()> {
    // SAFETY: no memory arguments.
    cvt(unsafe { libc::ftruncate(fd, len) }).map(drop)
}

pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: the kernel reads and updates fds.len() entries of `fds`.
    cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })
        .map(|n| n as usize)
}

pub(crate) fn pollfd(fd: RawFd, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// `ioctl(fd, FIONREAD)`: the bytes ready to read.
pub(crate) fn fionread(fd: RawFd) -> io::Result<i32> {
    let mut n = 0i32;
    // SAFETY: FIONREAD writes one int into `n`.
    cvt(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) })?;
    Ok(n)
}

/// `getdents64` into a buffer of `size` bytes: the raw records.
pub(crate) fn getdents64(fd: RawFd, size: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; size];
    // SAFETY: the kernel writes at most `size` bytes into `buf`.
    let n = cvt_long(unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), size) })?;
    buf.truncate(n as usize);
    Ok(buf)
}

/// One `linux_dirent64` record: (name, d_type, d_ino).
pub(crate) fn parse_dirents(buf: &[u8]) -> Vec<(String, u8, u64)> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 19 <= buf.len() {
        let ino = u64::from_le_bytes(buf[off..off + 8].try_into().unwrap());
        let reclen = u16::from_le_bytes([buf[off + 16], buf[off + 17]]) as usize;
        let dtype = buf[off + 18];
        let name_bytes = &buf[off + 19..off + reclen.max(19)];
        let end = name_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(name_bytes.len());
        out.push((
            String::from_utf8_lossy(&name_bytes[..end]).into_owned(),
            dtype,
            ino,
        ));
        if reclen == 0 {
            break;
        }
        off += reclen;
    }
    out
}

/// Every entry of the directory open on `fd`, `.` and `..` included, through raw getdents64.
pub(crate) fn list_raw(fd: RawFd) -> io::Result<Vec<(String, u8, u64)>> {
    let mut all = Vec::new();
    loop {
        let buf = getdents64(fd, 1024)?;
        if buf.is_empty() {
            return Ok(all);
        }
        all.extend(parse_dirents(&buf));
    }
}

/// The names in a directory (without `.` and `..`), sorted, through std's `read_dir`.
pub(crate) fn names_in(dir: impl AsRef<Path>) -> io::Result<Vec<String>> {
    let mut names = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// Sets the disposition of `sig` (a handler address, `SIG_DFL` or `SIG_IGN`); returns the
/// previous one.
pub(crate) fn set_signal(sig: i32, handler: libc::sighandler_t) -> io::Result<libc::sighandler_t> {
    // SAFETY: sigaction is plain data.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = handler;
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both structs are valid; handlers installed by the checks are async-signal-safe.
    cvt(unsafe { libc::sigaction(sig, &sa, &mut old) })?;
    Ok(old.sa_sigaction)
}

/// A signal set holding `sigs`.
pub(crate) fn sigset(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data and sigemptyset/sigaddset only write into it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// `sigprocmask(how, set)`; returns the old mask.
pub(crate) fn sigmask(how: i32, set: &libc::sigset_t) -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both sets are valid for the call.
    cvt(unsafe { libc::sigprocmask(how, set, &mut old) })?;
    Ok(old)
}

pub(crate) fn sigismember(set: &libc::sigset_t, sig: i32) -> bool {
    // SAFETY: `set` is a valid sigset.
    unsafe { libc::sigismember(set, sig) == 1 }
}

/// The signals pending for the calling thread.
pub(crate) fn sigpending() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid out-pointer.
    cvt(unsafe { libc::sigpending(&mut set) })?;
    Ok(set)
}

/// The path of this program, for the checks that exec it as a helper.
pub(crate) fn self_exe() -> Result<PathBuf, Fail> {
    sys::find_program("fstest").ok_or_else(|| Fail("cannot find the fstest program".into()))
}

/// Execs `path` with `args` (argv[0] is the file name); returns only on failure.
pub(crate) fn exec(path: &Path, args: &[&str]) -> io::Error {
    let prog = cstr(path);
    let cargs: Vec<CString> = std::iter::once(prog.clone())
        .chain(args.iter().map(|a| CString::new(*a).unwrap()))
        .collect();
    let mut argv: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: path, argv and envp are NUL-terminated and outlive the call.
    unsafe { libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

pub(crate) fn dev_major_minor(dev: u64) -> (u32, u32) {
    (libc::major(dev), libc::minor(dev))
}

/// Forks a child that sleeps `delay`, then runs `act` and exits 0 if it succeeded (1 if not);
/// it dies with us. Returns its pid, for [`reap_ok`].
pub(crate) fn later_in_child(
    delay: std::time::Duration,
    act: impl FnOnce() -> bool,
) -> Result<libc::pid_t, Fail> {
    sys::fork_child(|| {
        sys::die_with_parent();
        sys::sleep(delay);
        if act() {
            0
        } else {
            1
        }
    })
    .ctx("fork")
}

/// Waits for a child from [`later_in_child`] and fails unless it exited 0.
pub(crate) fn reap_ok(pid: libc::pid_t, role: &str) -> Result<(), Fail> {
    let status = sys::wait_status(pid).ctx("waitpid")?;
    if status != 0 {
        return Err(Fail(format!("{role} {}", sys::describe_status(status))));
    }
    Ok(())
}
