//! Descriptors: dup in its forms, fcntl's descriptor and status flags, close_range, EBADF
//! everywhere a descriptor is not open, and the RLIMIT_NOFILE limit.

use std::os::fd::{AsRawFd, RawFd};

use guest_user::check::{in_child, pass, Check};
use guest_user::ensure;
use guest_user::sys::{self, cvt, cvt_long};

use crate::util::*;

/// A descriptor number nothing has open.
const CLOSED: RawFd = 900;

/// dup shares the open file (and its position); dup2 replaces silently; dup3 takes
/// O_CLOEXEC and refuses equal descriptors.
pub(crate) fn dup_family() -> Check {
    let dir = Scratch::new("dup")?;
    let p = dir.file("f", b"abcdef")?;
    let fd = open(&p, libc::O_RDWR | libc::O_CLOEXEC, 0).ctx("open")?;
    let fd = fd.as_raw_fd();
    let d = dup(fd).ctx("dup")?;
    ensure!(
        !fd_cloexec(d.as_raw_fd()).ctx("F_GETFD")?,
        "dup copied FD_CLOEXEC"
    );
    let mut two = [0u8; 2];
    read(d.as_raw_fd(), &mut two).ctx("read")?;
    ensure!(
        lseek(fd, 0, libc::SEEK_CUR).ctx("lseek")? == 2,
        "a read through the dup did not move the original's position"
    );
    let other = open(dir.file("g", b"other")?, libc::O_RDONLY, 0).ctx("open g")?;
    let target = other.as_raw_fd();
    ensure!(
        dup2(fd, target).ctx("dup2 onto an open fd")? == target,
        "dup2 returned another fd"
    );
    let (a, b) = (fstat(fd).ctx("fstat")?, fstat(target).ctx("fstat")?);
    ensure!(
        a.st_ino == b.st_ino,
        "dup2's target does not refer to the source file"
    );
    ensure!(
        dup2(fd, fd).ctx("dup2(fd, fd)")? == fd,
        "dup2(fd, fd) did not return fd"
    );
    expect_errno(dup2(CLOSED, 50), libc::EBADF, "dup2 of a closed fd")?;
    expect_errno(dup2(fd, -1), libc::EBADF, "dup2 onto -1")?;
    expect_errno(dup3(fd, fd, 0), libc::EINVAL, "dup3(fd, fd)")?;
    expect_errno(dup3(fd, target, 1), libc::EINVAL, "dup3 with flags 1")?;
    ensure!(
        dup3(fd, target, libc::O_CLOEXEC).ctx("dup3 O_CLOEXEC")? == target,
        "dup3 result"
    );
    ensure!(
        fd_cloexec(target).ctx("F_GETFD")?,
        "dup3(O_CLOEXEC) left FD_CLOEXEC clear"
    );
    expect_errno(dup(CLOSED), libc::EBADF, "dup of a closed fd")?;
    let low = dup(fd).ctx("dup")?;
    let lowest = (0..)
        .find(|&n| !is_open(n) || n == low.as_raw_fd())
        .unwrap();
    ensure!(
        low.as_raw_fd() == lowest,
        "dup returned {}, lowest free is {lowest}",
        low.as_raw_fd()
    );
    pass()
}

/// F_DUPFD and F_DUPFD_CLOEXEC pick the lowest free fd at or above the argument;
/// F_GETFD/F_SETFD read and change FD_CLOEXEC; bad commands and arguments are EINVAL.
pub(crate) fn fcntl_fd_flags() -> Check {
    let fd = open("/dev/null", libc::O_RDONLY, 0).ctx("open")?;
    let fd = fd.as_raw_fd();
    let a = fcntl(fd, libc::F_DUPFD, 100).ctx("F_DUPFD 100")?;
    let b = fcntl(fd, libc::F_DUPFD_CLOEXEC, 100).ctx("F_DUPFD_CLOEXEC 100")?;
    let flags = (fd_cloexec(a).ctx("F_GETFD")?, fd_cloexec(b).ctx("F_GETFD")?);
    close(a).ctx("close")?;
    close(b).ctx("close")?;
    ensure!(
        (a, b) == (100, 101),
        "F_DUPFD(100), F_DUPFD_CLOEXEC(100) gave {a}, {b}"
    );
    ensure!(
        flags == (false, true),
        "FD_CLOEXEC of the two dups: {flags:?}"
    );
    fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC as libc::c_long).ctx("F_SETFD")?;
    ensure!(
        fd_cloexec(fd).ctx("F_GETFD")?,
        "F_SETFD FD_CLOEXEC did not stick"
    );
    fcntl(fd, libc::F_SETFD, 0).ctx("F_SETFD 0")?;
    ensure!(
        !fd_cloexec(fd).ctx("F_GETFD")?,
        "F_SETFD 0 did not clear FD_CLOEXEC"
    );
    expect_errno(fcntl(fd, libc::F_DUPFD, -1), libc::EINVAL, "F_DUPFD -1")?;
    expect_errno(fcntl(fd, 9999, 0), libc::EINVAL, "fcntl command 9999")?;
    expect_errno(
        fcntl(CLOSED, libc::F_GETFD, 0),
        libc::EBADF,
        "F_GETFD of a closed fd",
    )?;
    pass()
}

/// F_GETFL reports the access mode and status flags (with O_LARGEFILE, as x86_64 Linux sets
/// it on every open); F_SETFL changes O_APPEND and O_NONBLOCK only, for every descriptor
/// sharing the open file.
pub(crate) fn fcntl_status_flags() -> Check {
    let dir = Scratch::new("getfl")?;
    let p = dir.file("f", b"")?;
    let fd = open(&p, libc::O_RDWR | libc::O_APPEND | libc::O_CLOEXEC, 0).ctx("open")?;
    let fd = fd.as_raw_fd();
    let fl = fcntl(fd, libc::F_GETFL, 0).ctx("F_GETFL")?;
    let want = libc::O_RDWR | libc::O_APPEND | O_LARGEFILE;
    ensure!(
        fl == want,
        "F_GETFL {fl:#o}, want {want:#o} (O_RDWR|O_APPEND|O_LARGEFILE)"
    );
    // musl's open adds O_LARGEFILE itself; the kernel must add it for callers that do not
    // (glibc, raw system calls), as x86_64 Linux does on every open.
    let raw = sys::cvt_long(
        // SAFETY: a NUL-terminated path that outlives the call.
        unsafe { libc::syscall(libc::SYS_open, cstr(&p).as_ptr(), libc::O_RDONLY) },
    )
    .ctx("raw open")?;
    let raw_fl = fcntl(raw as RawFd, libc::F_GETFL, 0).ctx("F_GETFL");
    close(raw as RawFd).ctx("close")?;
    let raw_fl = raw_fl?;
    ensure!(
        raw_fl == O_LARGEFILE,
        "F_GETFL {raw_fl:#o} after a raw open(O_RDONLY), want {O_LARGEFILE:#o} (O_LARGEFILE)"
    );
    let d = dup(fd).ctx("dup")?;
    fcntl(
        fd,
        libc::F_SETFL,
        (libc::O_NONBLOCK | libc::O_WRONLY) as libc::c_long,
    )
    .ctx("F_SETFL")?;
    let fl = fcntl(d.as_raw_fd(), libc::F_GETFL, 0).ctx("F_GETFL")?;
    let want = libc::O_RDWR | libc::O_NONBLOCK | O_LARGEFILE;
    ensure!(
        fl == want,
        "after F_SETFL(O_NONBLOCK|O_WRONLY) the dup's F_GETFL is {fl:#o}, want {want:#o}"
    );
    let (r, w) = pipe().ctx("pipe")?;
    let (rf, wf) = (
        fcntl(r.as_raw_fd(), libc::F_GETFL, 0).ctx("F_GETFL")?,
        fcntl(w.as_raw_fd(), libc::F_GETFL, 0).ctx("F_GETFL")?,
    );
    ensure!(
        (rf, wf) == (libc::O_RDONLY, libc::O_WRONLY),
        "pipe ends' F_GETFL {rf:#o} {wf:#o}, want 0 and 1"
    );
    fcntl(
        r.as_raw_fd(),
        libc::F_SETFL,
        libc::O_NONBLOCK as libc::c_long,
    )
    .ctx("F_SETFL")?;
    let mut buf = [0u8; 4];
    expect_errno(
        read(r.as_raw_fd(), &mut buf),
        libc::EAGAIN,
        "read of an empty O_NONBLOCK pipe",
    )?;
    pass()
}

fn close_range_raw(first: u32, last: u32, flags: u32) -> std::io::Result<()> {
    // SAFETY: no memory arguments.
    cvt_long(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }).map(drop)
}

/// close_range closes (or with CLOSE_RANGE_CLOEXEC marks) exactly the range given.
pub(crate) fn close_range() -> Check {
    let null = open("/dev/null", libc::O_RDONLY, 0).ctx("open")?;
    let fds: Vec<RawFd> = (0..5)
        .map(|_| fcntl(null.as_raw_fd(), libc::F_DUPFD, 200))
        .collect::<std::io::Result<_>>()
        .ctx("F_DUPFD 200")?;
    ensure!(
        fds == [200, 201, 202, 203, 204],
        "F_DUPFD(200) ×5 gave {fds:?}"
    );
    close_range_raw(201, 203, 0).ctx("close_range(201, 203)")?;
    let open_now: Vec<bool> = fds.iter().map(|&f| is_open(f)).collect();
    ensure!(
        open_now == [true, false, false, false, true],
        "after close_range(201, 203) open: {open_now:?}"
    );
    close_range_raw(200, 204, libc::CLOSE_RANGE_CLOEXEC).ctx("close_range CLOEXEC")?;
    let cloexec = (
        fd_cloexec(200).ctx("F_GETFD")?,
        fd_cloexec(204).ctx("F_GETFD")?,
    );
    ensure!(
        cloexec == (true, true),
        "CLOSE_RANGE_CLOEXEC left FD_CLOEXEC {cloexec:?}"
    );
    expect_errno(close_range_raw(5, 4, 0), libc::EINVAL, "close_range(5, 4)")?;
    expect_errno(
        close_range_raw(200, 204, 1 << 7),
        libc::EINVAL,
        "close_range with bad flags",
    )?;
    close_range_raw(200, u32::MAX, 0).ctx("close_range(200, ~0)")?;
    ensure!(
        !is_open(200) && !is_open(204),
        "close_range(200, ~0) left descriptors open"
    );
    pass()
}

/// Every call on a descriptor that is not open is EBADF, and so is a transfer the
/// descriptor's access mode does not allow.
pub(crate) fn ebadf() -> Check {
    let mut buf = [0u8; 8];
    for fd in [CLOSED, -1] {
        expect_errno(read(fd, &mut buf), libc::EBADF, &format!("read({fd})"))?;
        expect_errno(write(fd, b"x"), libc::EBADF, &format!("write({fd})"))?;
        expect_errno(close(fd), libc::EBADF, &format!("close({fd})"))?;
        expect_errno(fstat(fd), libc::EBADF, &format!("fstat({fd})"))?;
        expect_errno(
            lseek(fd, 0, libc::SEEK_SET),
            libc::EBADF,
            &format!("lseek({fd})"),
        )?;
        expect_errno(fchdir(fd), libc::EBADF, &format!("fchdir({fd})"))?;
        expect_errno(ftruncate(fd, 0), libc::EBADF, &format!("ftruncate({fd})"))?;
        expect_errno(
            getdents64(fd, 1024),
            libc::EBADF,
            &format!("getdents64({fd})"),
        )?;
        expect_errno(fionread(fd), libc::EBADF, &format!("ioctl({fd})"))?;
        // SAFETY: no memory arguments.
        let synced = cvt(unsafe { libc::fsync(fd) });
        expect_errno(synced, libc::EBADF, &format!("fsync({fd})"))?;
        expect_errno(
            openat(fd, "x", libc::O_RDONLY, 0),
            libc::EBADF,
            &format!("openat({fd}, \"x\")"),
        )?;
    }
    openat(CLOSED, "/dev/null", libc::O_RDONLY, 0).ctx("openat(closed fd, absolute path)")?;
    let dir = Scratch::new("ebadf")?;
    let p = dir.file("f", b"data")?;
    let ro = open(&p, libc::O_RDONLY, 0).ctx("open O_RDONLY")?;
    let wo = open(&p, libc::O_WRONLY, 0).ctx("open O_WRONLY")?;
    expect_errno(
        write(ro.as_raw_fd(), b"x"),
        libc::EBADF,
        "write to an O_RDONLY fd",
    )?;
    expect_errno(
        read(wo.as_raw_fd(), &mut buf),
        libc::EBADF,
        "read from an O_WRONLY fd",
    )?;
    expect_errno(
        pread(wo.as_raw_fd(), &mut buf, 0),
        libc::EBADF,
        "pread from an O_WRONLY fd",
    )?;
    expect_errno(
        openat(ro.as_raw_fd(), "x", libc::O_RDONLY, 0),
        libc::ENOTDIR,
        "openat relative to a file",
    )?;
    let path_fd = open(&p, libc::O_PATH, 0).ctx("open O_PATH")?;
    expect_errno(
        read(path_fd.as_raw_fd(), &mut buf),
        libc::EBADF,
        "read from an O_PATH fd",
    )?;
    // An O_PATH descriptor names a place: only fstat, fchdir, fcntl, dup, close and use as
    // a dirfd take it; everything that touches the file is EBADF.
    let o = path_fd.as_raw_fd();
    fstat(o).ctx("fstat of an O_PATH fd")?;
    let fl = fcntl(o, libc::F_GETFL, 0).ctx("F_GETFL of an O_PATH fd")?;
    ensure!(
        fl == libc::O_PATH,
        "F_GETFL of an O_PATH fd is {fl:#o}, want O_PATH alone"
    );
    dup(o).ctx("dup of an O_PATH fd")?;
    // The system call itself: musl's fchmod falls back to chmod of /proc/self/fd/N.
    // SAFETY: no memory arguments.
    let fchmod = cvt_long(unsafe { libc::syscall(libc::SYS_fchmod, o, 0o600) });
    expect_errno(fchmod, libc::EBADF, "fchmod of an O_PATH fd")?;
    expect_errno(ftruncate(o, 0), libc::EBADF, "ftruncate of an O_PATH fd")?;
    expect_errno(
        lseek(o, 0, libc::SEEK_SET),
        libc::EBADF,
        "lseek of an O_PATH fd",
    )?;
    expect_errno(fionread(o), libc::EBADF, "ioctl of an O_PATH fd")?;
    // SAFETY: no memory arguments.
    let fsync = cvt(unsafe { libc::fsync(o) });
    expect_errno(fsync, libc::EBADF, "fsync of an O_PATH fd")?;
    let mut p = [pollfd(o, libc::POLLIN)];
    poll(&mut p, 0).ctx("poll")?;
    ensure!(
        p[0].revents == libc::POLLNVAL,
        "poll of an O_PATH fd: {:#x}",
        p[0].revents
    );
    let dir_path = open(dir.dir(), libc::O_PATH | libc::O_DIRECTORY, 0).ctx("O_PATH dir")?;
    expect_errno(
        getdents64(dir_path.as_raw_fd(), 1024),
        libc::EBADF,
        "getdents64 of an O_PATH fd",
    )?;
    openat(dir_path.as_raw_fd(), "f", libc::O_RDONLY, 0).ctx("openat an O_PATH dirfd")?;
    pass()
}

/// Sets the soft RLIMIT_NOFILE of the calling process.
fn set_nofile_limit(soft: u64) -> Result<(), guest_user::check::Fail> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }).ctx("getrlimit")?;
    lim.rlim_cur = soft;
    // SAFETY: `lim` is valid for the call.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }).ctx("setrlimit")?;
    Ok(())
}

/// Dups fd 0 until the kernel refuses; returns the last descriptor it gave and its error.
/// The descriptors are left open (the checks run in a child that exits).
fn dup_until_refused() -> (RawFd, std::io::Error) {
    let mut last = -1;
    loop {
        // SAFETY: no memory arguments.
        match cvt(unsafe { libc::dup(0) }) {
            Ok(fd) if fd < 100_000 => last = fd,
            Ok(fd) => return (last, std::io::Error::other(format!("got fd {fd}"))),
            Err(e) => return (last, e),
        }
    }
}

/// Descriptors run out at RLIMIT_NOFILE (1024 by default): EMFILE from dup, open and pipe,
/// EBADF from dup2 and EINVAL from F_DUPFD at the limit; a freed slot is reused.
pub(crate) fn emfile() -> Check {
    in_child(|| {
        set_nofile_limit(1024)?;
        let (last, err) = dup_until_refused();
        ensure!(
            err.raw_os_error() == Some(libc::EMFILE) && last == 1023,
            "dup stopped after fd {last} with {err}, want EMFILE after 1023"
        );
        expect_errno(
            open("/dev/null", libc::O_RDONLY, 0),
            libc::EMFILE,
            "open at the limit",
        )?;
        expect_errno(pipe(), libc::EMFILE, "pipe at the limit")?;
        expect_errno(dup2(0, 1024), libc::EBADF, "dup2 onto fd 1024")?;
        expect_errno(fcntl(0, libc::F_DUPFD, 1024), libc::EINVAL, "F_DUPFD 1024")?;
        close(500).ctx("close 500")?;
        ensure!(
            dup(0).ctx("dup into the freed slot")?.as_raw_fd() == 500,
            "freed slot not reused"
        );
        pass()
    })
}

/// A lowered RLIMIT_NOFILE is the new ceiling for new descriptors.
pub(crate) fn rlimit_nofile() -> Check {
    in_child(|| {
        set_nofile_limit(64)?;
        let (last, err) = dup_until_refused();
        ensure!(
            err.raw_os_error() == Some(libc::EMFILE) && last == 63,
            "with RLIMIT_NOFILE 64, dup stopped after fd {last} with {err}, want EMFILE after 63"
        );
        expect_errno(
            dup2(0, 64),
            libc::EBADF,
            "dup2 onto fd 64 with RLIMIT_NOFILE 64",
        )?;
        expect_errno(
            fcntl(0, libc::F_DUPFD, 64),
            libc::EINVAL,
            "F_DUPFD 64 with RLIMIT_NOFILE 64",
        )?;
        pass()
    })
}

/// A forked child shares its parent's open files: the position and status flags it changes
/// are the parent's too, while its descriptor flags are its own.
pub(crate) fn fork_shares_offsets() -> Check {
    let dir = Scratch::new("fork_offsets")?;
    let p = dir.file("f", b"0123456789")?;
    let fd = open(&p, libc::O_RDONLY, 0).ctx("open")?;
    let fd = fd.as_raw_fd();
    let child = guest_user::sys::fork_child(|| {
        let mut four = [0u8; 4];
        let moved = read(fd, &mut four).ok() == Some(4);
        let flagged = fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK as libc::c_long).is_ok();
        let cloexec = fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC as libc::c_long).is_ok();
        if moved && flagged && cloexec {
            0
        } else {
            1
        }
    })
    .ctx("fork")?;
    reap_ok(child, "child")?;
    let pos = lseek(fd, 0, libc::SEEK_CUR).ctx("lseek")?;
    ensure!(
        pos == 4,
        "position {pos} after the child read 4 bytes, want 4"
    );
    let fl = fcntl(fd, libc::F_GETFL, 0).ctx("F_GETFL")?;
    ensure!(
        fl & libc::O_NONBLOCK != 0,
        "the child's F_SETFL O_NONBLOCK is not shared"
    );
    ensure!(
        !fd_cloexec(fd).ctx("F_GETFD")?,
        "the child's FD_CLOEXEC leaked into our table"
    );
    pass()
}

/// The ioctls every descriptor takes (FIONBIO, FIOCLEX, FIONCLEX); terminal ioctls on
/// what is not a terminal are ENOTTY.
pub(crate) fn ioctl_generic() -> Check {
    let (r, _w) = pipe().ctx("pipe")?;
    let r = r.as_raw_fd();
    let int_ioctl = |fd: RawFd, cmd: libc::Ioctl, value: i32| {
        let v = value;
        // SAFETY: these commands read one int.
        cvt(unsafe { libc::ioctl(fd, cmd, &v) }).map(drop)
    };
    int_ioctl(r, libc::FIONBIO, 1).ctx("FIONBIO 1")?;
    let fl = fcntl(r, libc::F_GETFL, 0).ctx("F_GETFL")?;
    ensure!(
        fl & libc::O_NONBLOCK != 0,
        "FIONBIO 1 did not set O_NONBLOCK"
    );
    int_ioctl(r, libc::FIONBIO, 0).ctx("FIONBIO 0")?;
    let fl = fcntl(r, libc::F_GETFL, 0).ctx("F_GETFL")?;
    ensure!(
        fl & libc::O_NONBLOCK == 0,
        "FIONBIO 0 did not clear O_NONBLOCK"
    );
    int_ioctl(r, libc::FIOCLEX, 0).ctx("FIOCLEX")?;
    ensure!(
        fd_cloexec(r).ctx("F_GETFD")?,
        "FIOCLEX did not set FD_CLOEXEC"
    );
    int_ioctl(r, libc::FIONCLEX, 0).ctx("FIONCLEX")?;
    ensure!(
        !fd_cloexec(r).ctx("F_GETFD")?,
        "FIONCLEX did not clear FD_CLOEXEC"
    );
    let file = open("/dev/null", libc::O_RDONLY, 0).ctx("open")?;
    for (fd, what) in [(r, "a pipe"), (file.as_raw_fd(), "/dev/null")] {
        // SAFETY: termios is plain data.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: TCGETS writes one termios into `t`.
        let got = cvt(unsafe { libc::ioctl(fd, libc::TCGETS, &mut t) });
        expect_errno(got, libc::ENOTTY, &format!("TCGETS on {what}"))?;
    }
    expect_errno(
        int_ioctl(file.as_raw_fd(), 0x1234, 0),
        libc::ENOTTY,
        "ioctl 0x1234 on /dev/null",
    )?;
    pass()
}
