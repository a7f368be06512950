//! The memory devices and /dev: null, zero, full, urandom, devtmpfs on /dev, and the device
//! numbers Linux gives them.

use std::os::fd::AsRawFd;

use guest_user::check::{pass, Check};
use guest_user::ensure;

use crate::util::*;

/// /dev/null takes every write and reads as end of file.
pub(crate) fn dev_null() -> Check {
    let fd = open("/dev/null", libc::O_RDWR, 0).ctx("open /dev/null")?;
    let n = write(fd.as_raw_fd(), &[1u8; 10_000]).ctx("write")?;
    ensure!(
        n == 10_000,
        "write of 10000 bytes to /dev/null returned {n}"
    );
    let mut buf = [1u8; 64];
    ensure!(
        read(fd.as_raw_fd(), &mut buf).ctx("read")? == 0,
        "/dev/null gave data"
    );
    pass()
}

/// /dev/zero fills any read with zeros and takes writes.
pub(crate) fn dev_zero() -> Check {
    let fd = open("/dev/zero", libc::O_RDWR, 0).ctx("open /dev/zero")?;
    let mut buf = vec![0xffu8; 100_000];
    let n = read(fd.as_raw_fd(), &mut buf).ctx("read")?;
    ensure!(n == 100_000, "read of 100000 bytes returned {n}");
    ensure!(buf.iter().all(|&b| b == 0), "/dev/zero gave non-zero bytes");
    ensure!(
        write(fd.as_raw_fd(), b"abc").ctx("write")? == 3,
        "write to /dev/zero"
    );
    pass()
}

/// /dev/full reads as zeros and refuses writes with ENOSPC.
pub(crate) fn dev_full() -> Check {
    let fd = open("/dev/full", libc::O_RDWR, 0).ctx("open /dev/full")?;
    expect_errno(
        write(fd.as_raw_fd(), b"x"),
        libc::ENOSPC,
        "write to /dev/full",
    )?;
    let mut buf = [0xffu8; 32];
    ensure!(
        read(fd.as_raw_fd(), &mut buf).ctx("read")? == 32,
        "short read of /dev/full"
    );
    ensure!(buf.iter().all(|&b| b == 0), "/dev/full gave non-zero bytes");
    pass()
}

/// /dev/urandom gives different bytes every read (and so does getrandom).
pub(crate) fn dev_urandom() -> Check {
    let fd = open("/dev/urandom", libc::O_RDONLY, 0).ctx("open /dev/urandom")?;
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    ensure!(
        read(fd.as_raw_fd(), &mut a).ctx("read")? == 32,
        "short read"
    );
    ensure!(
        read(fd.as_raw_fd(), &mut b).ctx("read")? == 32,
        "short read"
    );
    ensure!(a != b, "two reads of /dev/urandom gave the same 32 bytes");
    ensure!(a != [0u8; 32], "/dev/urandom gave zeros");
    let mut c = [0u8; 32];
    // SAFETY: the kernel writes at most 32 bytes into `c`.
    let n = unsafe { libc::getrandom(c.as_mut_ptr().cast(), 32, 0) };
    ensure!(
        n == 32 && c != a && c != b,
        "getrandom returned {n} or repeated bytes"
    );
    let r = open("/dev/random", libc::O_RDONLY, 0).ctx("open /dev/random")?;
    ensure!(
        read(r.as_raw_fd(), &mut c).ctx("read /dev/random")? == 32,
        "short read of /dev/random"
    );
    pass()
}

/// /dev is a devtmpfs mount, listed in /proc/mounts, with the standard nodes in it.
pub(crate) fn devtmpfs_mounted() -> Check {
    let mounts = std::fs::read_to_string("/proc/mounts").ctx("read /proc/mounts")?;
    let dev = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/dev"));
    let fstype = dev.and_then(|l| l.split_whitespace().nth(2));
    ensure!(
        fstype == Some("devtmpfs"),
        "/dev in /proc/mounts: {dev:?}, want a devtmpfs line"
    );
    let own = std::fs::read_to_string("/proc/self/mounts").ctx("read /proc/self/mounts")?;
    ensure!(own == mounts, "/proc/self/mounts differs from /proc/mounts");
    let names = names_in("/dev").ctx("list /dev")?;
    for want in [
        "console", "full", "null", "random", "tty", "urandom", "zero",
    ] {
        ensure!(
            names.iter().any(|n| n == want),
            "/dev lacks {want}: {names:?}"
        );
    }
    for (path, magic) in [("/dev", 0x0102_1994), ("/proc", 0x9fa0)] {
        let cpath = cstr(path);
        // SAFETY: statfs is plain data.
        let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `cpath` is NUL-terminated and `sfs` a valid out-pointer.
        guest_user::sys::cvt(unsafe { libc::statfs(cpath.as_ptr(), &mut sfs) }).ctx("statfs")?;
        ensure!(
            sfs.f_type == magic,
            "statfs({path}).f_type {:#x}, want {magic:#x}",
            sfs.f_type
        );
    }
    let (d, root) = (stat("/dev").ctx("stat /dev")?, stat("/").ctx("stat /")?);
    ensure!(
        d.st_dev != root.st_dev,
        "/dev is on the root filesystem, not a mount of its own"
    );
    pass()
}

/// Device nodes carry Linux's numbers: /dev/null 1:3, /dev/zero 1:5, /dev/console 5:1, as
/// character devices.
pub(crate) fn dev_numbers() -> Check {
    for (path, want, perm) in [
        ("/dev/null", (1, 3), 0o666),
        ("/dev/zero", (1, 5), 0o666),
        ("/dev/full", (1, 7), 0o666),
        ("/dev/urandom", (1, 9), 0o666),
        ("/dev/console", (5, 1), 0o600),
    ] {
        let st = stat(path).ctx(format!("stat {path}"))?;
        ensure!(
            st.st_mode & libc::S_IFMT == libc::S_IFCHR,
            "{path} has mode {:#o}, want a character device",
            st.st_mode
        );
        let got = dev_major_minor(st.st_rdev);
        ensure!(
            got == want,
            "{path} is {}:{}, want {}:{}",
            got.0,
            got.1,
            want.0,
            want.1
        );
        ensure!(
            st.st_mode & 0o7777 == perm,
            "{path} has permissions {:#o}, want {perm:#o}",
            st.st_mode & 0o7777
        );
    }
    let x = statx(libc::AT_FDCWD, "/dev/null", 0).ctx("statx /dev/null")?;
    ensure!(
        (x.stx_rdev_major, x.stx_rdev_minor) == (1, 3),
        "statx says /dev/null is {}:{}",
        x.stx_rdev_major,
        x.stx_rdev_minor
    );
    pass()
}

/// The memory devices take any position and stay at 0 (`null_lseek`, `noop_llseek`), and
/// pread/pwrite work on them as on files.
pub(crate) fn dev_seek_and_pread() -> Check {
    for (path, pread_gives) in [
        ("/dev/null", 0),
        ("/dev/zero", 8),
        ("/dev/full", 8),
        ("/dev/urandom", 8),
    ] {
        let fd = open(path, libc::O_RDWR, 0).ctx(format!("open {path}"))?;
        let fd = fd.as_raw_fd();
        let pos = lseek(fd, 100, libc::SEEK_SET).ctx(format!("lseek {path}"))?;
        ensure!(pos == 0, "lseek({path}, 100) = {pos}, want 0");
        let n = pread(fd, &mut [0u8; 8], 5).ctx(format!("pread {path}"))?;
        ensure!(
            n == pread_gives,
            "pread of 8 bytes from {path} gave {n}, want {pread_gives}"
        );
        let wrote = pwrite(fd, b"x", 5);
        if path == "/dev/full" {
            expect_errno(wrote, libc::ENOSPC, "pwrite to /dev/full")?;
        } else {
            ensure!(
                wrote.ctx(format!("pwrite {path}"))? == 1,
                "pwrite to {path}"
            );
        }
    }
    pass()
}
