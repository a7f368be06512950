//! eventfd: the counter a write adds to and a read empties, semaphore mode, the limits at
//! both ends of the counter, and a reader woken by another process.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use guest_user::check::{pass, Check};
use guest_user::sys::{self, cvt};
use guest_user::{ensure, fail};

use crate::util::*;

pub(crate) fn eventfd(init: u32, flags: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: eventfd has no memory arguments.
    let fd = cvt(unsafe { libc::eventfd(init, flags) })?;
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn read_u64(fd: RawFd) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    let n = read(fd, &mut b)?;
    if n != 8 {
        return Err(std::io::Error::other(format!("read {n} bytes, want 8")));
    }
    Ok(u64::from_ne_bytes(b))
}

pub(crate) fn write_u64(fd: RawFd, v: u64) -> std::io::Result<usize> {
    write(fd, &v.to_ne_bytes())
}

/// Reads take the whole count, writes add to it; 8-byte buffers only; the flags; what the
/// descriptor looks like from outside.
pub(crate) fn eventfd_counter() -> Check {
    let e = eventfd(3, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK).ctx("eventfd")?;
    let fd = e.as_raw_fd();
    ensure!(
        fd_cloexec(fd).ctx("F_GETFD")?,
        "EFD_CLOEXEC left FD_CLOEXEC clear"
    );
    let fl = fcntl(fd, libc::F_GETFL, 0).ctx("F_GETFL")?;
    ensure!(
        fl & libc::O_NONBLOCK != 0 && fl & libc::O_ACCMODE == libc::O_RDWR,
        "F_GETFL {fl:#o}"
    );
    ensure!(
        read_u64(fd).ctx("read")? == 3,
        "initial value not read back"
    );
    expect_errno(read_u64(fd), libc::EAGAIN, "read of a zero counter")?;
    write_u64(fd, 5).ctx("write")?;
    write_u64(fd, 7).ctx("write")?;
    ensure!(read_u64(fd).ctx("read")? == 12, "5 + 7 did not read 12");
    write_u64(fd, 1).ctx("write")?;
    let mut small = [0u8; 4];
    expect_errno(read(fd, &mut small), libc::EINVAL, "read into 4 bytes")?;
    expect_errno(write(fd, &[1, 0, 0, 0]), libc::EINVAL, "write of 4 bytes")?;
    expect_errno(write_u64(fd, u64::MAX), libc::EINVAL, "write of u64::MAX")?;
    let mut big = [0u8; 16];
    ensure!(
        read(fd, &mut big).ctx("read 16")? == 8,
        "a 16-byte read is not 8"
    );
    expect_errno(eventfd(0, 0x4), libc::EINVAL, "eventfd with flags 4")?;
    let st = fstat(fd).ctx("fstat")?;
    ensure!(
        st.st_mode & libc::S_IFMT == 0,
        "st_mode {:#o}, want no file type",
        st.st_mode
    );
    let link = readlink(format!("/proc/self/fd/{fd}")).ctx("readlink")?;
    ensure!(
        link == "anon_inode:[eventfd]",
        "/proc/self/fd link {link:?}"
    );
    pass()
}

/// EFD_SEMAPHORE: each read takes 1.
pub(crate) fn eventfd_semaphore() -> Check {
    let e = eventfd(2, libc::EFD_SEMAPHORE | libc::EFD_NONBLOCK).ctx("eventfd")?;
    let fd = e.as_raw_fd();
    write_u64(fd, 1).ctx("write")?;
    for i in 0..3 {
        ensure!(read_u64(fd).ctx("read")? == 1, "read {i} did not take 1");
    }
    expect_errno(read_u64(fd), libc::EAGAIN, "read after three")?;
    pass()
}

/// The counter stops below u64::MAX: a write that would reach it is EAGAIN when
/// non-blocking, and otherwise blocks until a read makes room with it; poll says so.
pub(crate) fn eventfd_overflow() -> Check {
    let e = eventfd(0, libc::EFD_NONBLOCK).ctx("eventfd")?;
    let fd = e.as_raw_fd();
    write_u64(fd, u64::MAX - 2).ctx("write MAX-2")?;
    write_u64(fd, 1).ctx("write 1 to MAX-1")?;
    expect_errno(write_u64(fd, 1), libc::EAGAIN, "write reaching u64::MAX")?;
    let mut p = [libc::pollfd {
        fd,
        events: libc::POLLIN | libc::POLLOUT,
        revents: 0,
    }];
    poll(&mut p, 0).ctx("poll")?;
    ensure!(
        p[0].revents == libc::POLLIN,
        "poll at MAX-1: {:#x}, want POLLIN only",
        p[0].revents
    );
    // A blocking writer waits for the read another process does.
    let b = eventfd(0, 0).ctx("eventfd")?;
    let bfd = b.as_raw_fd();
    write_u64(bfd, u64::MAX - 1).ctx("write")?;
    let child = sys::fork_child(|| {
        sys::sleep(Duration::from_millis(100));
        match read_u64(bfd) {
            Ok(v) if v == u64::MAX - 1 => 0,
            _ => 1,
        }
    })
    .ctx("fork")?;
    let start = Instant::now();
    write_u64(bfd, 5).ctx("blocking write")?;
    let waited = start.elapsed();
    let st = sys::wait_status(child).ctx("wait")?;
    ensure!(st == 0, "reader {}", sys::describe_status(st));
    ensure!(
        waited >= Duration::from_millis(50),
        "the write did not wait ({waited:?})"
    );
    ensure!(
        read_u64(bfd).ctx("read")? == 5,
        "the waiting write's 5 is not there"
    );
    pass()
}

/// A blocked read is woken by a write from another process.
pub(crate) fn eventfd_wakes_reader() -> Check {
    let e = eventfd(0, 0).ctx("eventfd")?;
    let fd = e.as_raw_fd();
    let child = sys::fork_child(|| {
        sys::sleep(Duration::from_millis(100));
        if write_u64(fd, 42).is_ok() {
            0
        } else {
            1
        }
    })
    .ctx("fork")?;
    let v = read_u64(fd).ctx("read")?;
    let st = sys::wait_status(child).ctx("wait")?;
    if v != 42 {
        fail!("read {v}, want 42");
    }
    ensure!(st == 0, "writer {}", sys::describe_status(st));
    pass()
}
