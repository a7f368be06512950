//! Bad input never harms the kernel: pointers that are unmapped (0x1), in the kernel half or
//! non-canonical get EFAULT from every file system call, in paths, in buffers the kernel
//! reads and in buffers it writes; malformed iovecs get EINVAL. The system calls are issued
//! raw, so the kernel sees exactly these pointers.

use std::io;
use std::os::fd::AsRawFd;

use guest_user::check::{pass, Check, Fail};
use guest_user::ensure;
use guest_user::sys::cvt_long;

use crate::util::*;

/// Pointers no user buffer can be at.
const BAD_POINTERS: [usize; 4] = [
    0x1,
    KERNEL_ADDR,
    0x0000_8000_0000_0000,
    0xffff_ffff_ffff_f000,
];

/// A raw system call with up to six arguments.
fn sc(nr: libc::c_long, a: [usize; 6]) -> io::Result<i64> {
    // SAFETY: the callers pass valid pointers or the deliberately bad ones above, which the
    // kernel must refuse without touching our memory.
    cvt_long(unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) })
}

fn expect_efault(r: io::Result<i64>, what: &str, bad: usize) -> Result<(), Fail> {
    expect_errno(r, libc::EFAULT, &format!("{what} with {bad:#x}"))
}

/// Bad path pointers, and bad buffers for what path calls write back.
pub(crate) fn efault_paths() -> Check {
    let dir = Scratch::new("efault_paths")?;
    let file = cstr(dir.file("f", b"data")?);
    let link = cstr(dir.path("l"));
    symlink("f", dir.path("l")).ctx("symlink")?;
    let fresh = cstr(dir.path("fresh"));
    let (f, l, n) = (
        file.as_ptr() as usize,
        link.as_ptr() as usize,
        fresh.as_ptr() as usize,
    );
    let cwd = libc::AT_FDCWD as isize as usize;
    let mut st = [0u8; 256];
    let stp = st.as_mut_ptr() as usize;
    let argv = [0usize; 1];
    for bad in BAD_POINTERS {
        let path_calls: [(&str, libc::c_long, [usize; 6]); 18] = [
            ("open", libc::SYS_open, [bad, 0, 0, 0, 0, 0]),
            ("openat", libc::SYS_openat, [cwd, bad, 0, 0, 0, 0]),
            ("stat", libc::SYS_stat, [bad, stp, 0, 0, 0, 0]),
            ("lstat", libc::SYS_lstat, [bad, stp, 0, 0, 0, 0]),
            ("newfstatat", libc::SYS_newfstatat, [cwd, bad, stp, 0, 0, 0]),
            ("statx", libc::SYS_statx, [cwd, bad, 0, 0x7ff, stp, 0]),
            ("mkdir", libc::SYS_mkdir, [bad, 0o755, 0, 0, 0, 0]),
            ("rmdir", libc::SYS_rmdir, [bad, 0, 0, 0, 0, 0]),
            ("unlink", libc::SYS_unlink, [bad, 0, 0, 0, 0, 0]),
            ("chdir", libc::SYS_chdir, [bad, 0, 0, 0, 0, 0]),
            ("access", libc::SYS_access, [bad, 0, 0, 0, 0, 0]),
            ("chmod", libc::SYS_chmod, [bad, 0o644, 0, 0, 0, 0]),
            ("truncate", libc::SYS_truncate, [bad, 0, 0, 0, 0, 0]),
            ("rename from", libc::SYS_rename, [bad, n, 0, 0, 0, 0]),
            ("rename to", libc::SYS_rename, [f, bad, 0, 0, 0, 0]),
            ("link", libc::SYS_link, [bad, n, 0, 0, 0, 0]),
            ("symlink target", libc::SYS_symlink, [bad, n, 0, 0, 0, 0]),
            (
                "execve",
                libc::SYS_execve,
                [bad, argv.as_ptr() as usize, argv.as_ptr() as usize, 0, 0, 0],
            ),
        ];
        for (what, nr, args) in path_calls {
            expect_efault(sc(nr, args), what, bad)?;
        }
        let out_calls: [(&str, libc::c_long, [usize; 6]); 5] = [
            ("stat into", libc::SYS_stat, [f, bad, 0, 0, 0, 0]),
            (
                "newfstatat into",
                libc::SYS_newfstatat,
                [cwd, f, bad, 0, 0, 0],
            ),
            ("statx into", libc::SYS_statx, [cwd, f, 0, 0x7ff, bad, 0]),
            ("readlink into", libc::SYS_readlink, [l, bad, 64, 0, 0, 0]),
            ("getcwd into", libc::SYS_getcwd, [bad, 4096, 0, 0, 0, 0]),
        ];
        for (what, nr, args) in out_calls {
            expect_efault(sc(nr, args), what, bad)?;
        }
    }
    ensure!(
        stat(dir.path("fresh")).is_err(),
        "a call with a bad pointer created \"fresh\""
    );
    pass()
}

/// Bad data buffers for read, write and their positioned and vector forms; a failed read
/// from a pipe into a kernel address loses no data.
pub(crate) fn efault_buffers() -> Check {
    let dir = Scratch::new("efault_buffers")?;
    let p = dir.file("f", b"0123456789")?;
    let fd = open(&p, libc::O_RDWR, 0).ctx("open")?;
    let fdn = fd.as_raw_fd() as usize;
    for bad in BAD_POINTERS {
        let bad_base = [libc::iovec {
            iov_base: bad as *mut _,
            iov_len: 4,
        }];
        let calls: [(&str, libc::c_long, [usize; 6]); 9] = [
            ("read", libc::SYS_read, [fdn, bad, 4, 0, 0, 0]),
            ("pread64", libc::SYS_pread64, [fdn, bad, 4, 0, 0, 0]),
            ("write", libc::SYS_write, [fdn, bad, 4, 0, 0, 0]),
            ("pwrite64", libc::SYS_pwrite64, [fdn, bad, 4, 0, 0, 0]),
            ("fstat into", libc::SYS_fstat, [fdn, bad, 0, 0, 0, 0]),
            (
                "readv of an iovec array at",
                libc::SYS_readv,
                [fdn, bad, 1, 0, 0, 0],
            ),
            (
                "writev of an iovec array at",
                libc::SYS_writev,
                [fdn, bad, 1, 0, 0, 0],
            ),
            (
                "readv into",
                libc::SYS_readv,
                [fdn, bad_base.as_ptr() as usize, 1, 0, 0, 0],
            ),
            (
                "writev from",
                libc::SYS_writev,
                [fdn, bad_base.as_ptr() as usize, 1, 0, 0, 0],
            ),
        ];
        for (what, nr, args) in calls {
            lseek(fd.as_raw_fd(), 0, libc::SEEK_SET).ctx("lseek")?;
            expect_efault(sc(nr, args), what, bad)?;
        }
    }
    ensure!(
        std::fs::read(&p).ctx("read back")? == b"0123456789",
        "a failed write changed the file"
    );
    let (r, w) = pipe().ctx("pipe")?;
    write(w.as_raw_fd(), b"abc").ctx("write")?;
    expect_efault(
        sc(
            libc::SYS_read,
            [r.as_raw_fd() as usize, KERNEL_ADDR, 3, 0, 0, 0],
        ),
        "read from a pipe",
        KERNEL_ADDR,
    )?;
    let mut buf = [0u8; 8];
    let n = read(r.as_raw_fd(), &mut buf).ctx("read")?;
    ensure!(
        &buf[..n] == b"abc",
        "the pipe lost data to a failed read: then read {:?}",
        &buf[..n]
    );
    pass()
}

/// pipe, poll, select, getdents64 and ioctl with bad pointers; a failed pipe() leaks no
/// descriptors.
pub(crate) fn efault_pipe_poll_getdents() -> Check {
    let dir = Scratch::new("efault_misc")?;
    let dfd = open(dir.dir(), libc::O_RDONLY | libc::O_DIRECTORY, 0).ctx("open dir")?;
    let (r, _w) = pipe().ctx("pipe")?;
    let (dn, rn) = (dfd.as_raw_fd() as usize, r.as_raw_fd() as usize);
    let next_fd = dup(0).ctx("dup")?.as_raw_fd();
    let mut fds = [pollfd(r.as_raw_fd(), libc::POLLIN)];
    let fdsp = fds.as_mut_ptr() as usize;
    let mut set = [0u64; 16];
    let setp = set.as_mut_ptr() as usize;
    // Zero timeouts, so that a kernel that wrongly accepted a call would not sleep in it.
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let (tsp, tvp) = (&ts as *const _ as usize, &tv as *const _ as usize);
    for bad in BAD_POINTERS {
        let calls: [(&str, libc::c_long, [usize; 6]); 11] = [
            ("pipe", libc::SYS_pipe, [bad, 0, 0, 0, 0, 0]),
            ("pipe2", libc::SYS_pipe2, [bad, 0, 0, 0, 0, 0]),
            ("poll", libc::SYS_poll, [bad, 1, 0, 0, 0, 0]),
            ("ppoll", libc::SYS_ppoll, [bad, 1, tsp, 0, 0, 0]),
            ("ppoll timeout", libc::SYS_ppoll, [fdsp, 1, bad, 0, 0, 0]),
            ("ppoll sigmask", libc::SYS_ppoll, [fdsp, 1, tsp, bad, 8, 0]),
            ("select set", libc::SYS_select, [rn + 1, bad, 0, 0, tvp, 0]),
            (
                "select timeout",
                libc::SYS_select,
                [rn + 1, setp, 0, 0, bad, 0],
            ),
            ("getdents64", libc::SYS_getdents64, [dn, bad, 4096, 0, 0, 0]),
            (
                "ioctl FIONREAD",
                libc::SYS_ioctl,
                [rn, libc::FIONREAD as usize, bad, 0, 0, 0],
            ),
            ("getrandom", libc::SYS_getrandom, [bad, 16, 0, 0, 0, 0]),
        ];
        for (what, nr, args) in calls {
            expect_efault(sc(nr, args), what, bad)?;
        }
    }
    let after = dup(0).ctx("dup")?.as_raw_fd();
    ensure!(
        after == next_fd,
        "failed pipe() calls leaked descriptors: next fd {after}, was {next_fd}"
    );
    pass()
}

/// iovec arrays Linux refuses: a length with the sign bit set, more than 1024 entries.
pub(crate) fn bad_iovecs() -> Check {
    let dir = Scratch::new("bad_iovecs")?;
    let p = dir.file("f", b"")?;
    let fd = open(&p, libc::O_RDWR, 0).ctx("open")?;
    let fdn = fd.as_raw_fd() as usize;
    let buf = [7u8; 8];
    let base = buf.as_ptr() as *mut libc::c_void;
    let huge = [libc::iovec {
        iov_base: base,
        iov_len: usize::MAX,
    }];
    let one = libc::iovec {
        iov_base: base,
        iov_len: 1,
    };
    let many = vec![one; 1025];
    for (what, iov, cnt) in [
        ("an iov_len of ~0", huge.as_ptr(), 1),
        ("1025 iovecs", many.as_ptr(), 1025),
        ("iovcnt -1", many.as_ptr(), usize::MAX),
    ] {
        for (name, nr) in [("writev", libc::SYS_writev), ("readv", libc::SYS_readv)] {
            let r = sc(nr, [fdn, iov as usize, cnt, 0, 0, 0]);
            expect_errno(r, libc::EINVAL, &format!("{name} with {what}"))?;
        }
    }
    ensure!(
        fstat(fd.as_raw_fd()).ctx("fstat")?.st_size == 0,
        "a refused writev wrote data"
    );
    let r = sc(
        libc::SYS_writev,
        [fdn, many.as_ptr() as usize, 1024, 0, 0, 0],
    );
    ensure!(
        matches!(r, Ok(1024)),
        "writev of 1024 one-byte iovecs: {r:?}, want 1024"
    );
    pass()
}

/// Out-of-range numbers get EINVAL, EFAULT or EBADF as in Linux, never a crash or a
/// runaway allocation.
pub(crate) fn bad_arguments() -> Check {
    let dir = Scratch::new("bad_args")?;
    let p = dir.file("f", b"data")?;
    let fd = open(&p, libc::O_RDWR, 0).ctx("open")?;
    let dfd = open(dir.dir(), libc::O_RDONLY | libc::O_DIRECTORY, 0).ctx("open dir")?;
    let (r, w) = pipe().ctx("pipe")?;
    let (f, d) = (fd.as_raw_fd() as usize, dfd.as_raw_fd() as usize);
    let mut buf = [0u8; 64];
    let b = buf.as_mut_ptr() as usize;
    let cwd = libc::AT_FDCWD as isize as usize;
    let path = cstr(&p);
    let pp = path.as_ptr() as usize;
    let bad_ts = [0i64, 2_000_000_000];
    let neg_tv = [0i64, -1];
    let node = cstr(dir.path("n"));
    let neg_ts = [-1i64, 0];
    let mut pfd = [pollfd(r.as_raw_fd(), libc::POLLIN)];
    let pf = pfd.as_mut_ptr() as usize;
    let huge = usize::MAX;
    let cases: [(&str, libc::c_long, [usize; 6], i32); 16] = [
        (
            "read of ~0 bytes",
            libc::SYS_read,
            [f, b, huge, 0, 0, 0],
            libc::EFAULT,
        ),
        (
            "write of ~0 bytes",
            libc::SYS_write,
            [f, b, huge, 0, 0, 0],
            libc::EFAULT,
        ),
        (
            "pread at offset i64::MIN",
            libc::SYS_pread64,
            [f, b, 8, 1 << 63, 0, 0],
            libc::EINVAL,
        ),
        (
            "getdents64 into 0 bytes",
            libc::SYS_getdents64,
            [d, b, 0, 0, 0, 0],
            libc::EINVAL,
        ),
        (
            "poll of 2^30 descriptors",
            libc::SYS_poll,
            [pf, 1 << 30, 0, 0, 0, 0],
            libc::EINVAL,
        ),
        (
            "ppoll with tv_nsec 2e9",
            libc::SYS_ppoll,
            [pf, 1, bad_ts.as_ptr() as usize, 0, 0, 0],
            libc::EINVAL,
        ),
        (
            "pselect6 with tv_sec -1",
            libc::SYS_pselect6,
            [1, 0, 0, 0, neg_ts.as_ptr() as usize, 0],
            libc::EINVAL,
        ),
        (
            "select with tv_usec -1",
            libc::SYS_select,
            [1, 0, 0, 0, neg_tv.as_ptr() as usize, 0],
            libc::EINVAL,
        ),
        (
            "select with n -1",
            libc::SYS_select,
            [huge, 0, 0, 0, 0, 0],
            libc::EINVAL,
        ),
        (
            "F_SETPIPE_SZ 0xffffffff",
            libc::SYS_fcntl,
            [
                w.as_raw_fd() as usize,
                libc::F_SETPIPE_SZ as usize,
                0xffff_ffff,
                0,
                0,
                0,
            ],
            libc::EINVAL,
        ),
        (
            "dup2 onto 2^31-1",
            libc::SYS_dup2,
            [f, i32::MAX as usize, 0, 0, 0, 0],
            libc::EBADF,
        ),
        (
            "close_range with all flags",
            libc::SYS_close_range,
            [0, 0, u32::MAX as usize, 0, 0, 0],
            libc::EINVAL,
        ),
        (
            "openat relative to fd -5",
            libc::SYS_openat,
            [-5isize as usize, c"x".as_ptr() as usize, 0, 0, 0, 0],
            libc::EBADF,
        ),
        (
            "mknod of type 0170000",
            libc::SYS_mknodat,
            [cwd, node.as_ptr() as usize, 0o170644, 0, 0, 0],
            libc::EINVAL,
        ),
        (
            "newfstatat with flags 0xffff",
            libc::SYS_newfstatat,
            [cwd, pp, b, 0xffff, 0, 0],
            libc::EINVAL,
        ),
        (
            "readlink into 0 bytes",
            libc::SYS_readlink,
            [pp, b, 0, 0, 0, 0],
            libc::EINVAL,
        ),
    ];
    for (what, nr, args, errno) in cases {
        expect_errno(sc(nr, args), errno, what)?;
    }
    // select normalizes a timeval whose microseconds pass a second (Linux does not refuse it).
    write(w.as_raw_fd(), b"x").ctx("write")?;
    let mut set = [0u64; 16];
    set[0] = 1 << r.as_raw_fd();
    let mut long_tv = [0i64, 2_000_000];
    let n = sc(
        libc::SYS_select,
        [
            r.as_raw_fd() as usize + 1,
            set.as_mut_ptr() as usize,
            0,
            0,
            long_tv.as_mut_ptr() as usize,
            0,
        ],
    );
    ensure!(
        matches!(n, Ok(1)),
        "select with tv_usec 2e6 on a ready pipe: {n:?}, want 1"
    );
    let mut empty = [0u8; 0];
    expect_errno(
        read(dfd.as_raw_fd(), &mut empty),
        libc::EISDIR,
        "read of 0 bytes from a directory",
    )?;
    umask(0xffff_ffff);
    let masked = umask(0o022);
    ensure!(masked == 0o777, "umask(~0) kept {masked:#o}, want 0777");
    ensure!(
        std::fs::read(&p).ctx("read")? == b"data",
        "a refused call changed the file"
    );
    pass()
}
