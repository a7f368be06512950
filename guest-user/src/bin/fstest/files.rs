//! Regular files: open flags, reads and writes in all their forms, seeks and holes, sizes,
//! the stat family, and what open refuses.

use std::os::fd::AsRawFd;

use guest_user::check::{pass, Check};
use guest_user::sys;
use guest_user::{ensure, fail};

use crate::util::*;

/// O_CREAT|O_EXCL creates once, then EEXIST, even for a dangling symlink; O_CREAT alone
/// opens what exists, and through a dangling symlink creates the link's target.
pub(crate) fn open_creat_excl() -> Check {
    let dir = Scratch::new("creat_excl")?;
    let p = dir.path("f");
    let excl = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY;
    open(&p, excl, 0o644).ctx("first O_CREAT|O_EXCL")?;
    expect_errno(open(&p, excl, 0o644), libc::EEXIST, "second O_CREAT|O_EXCL")?;
    open(&p, libc::O_CREAT | libc::O_WRONLY, 0o644).ctx("O_CREAT on an existing file")?;
    expect_errno(
        open(dir.path("missing"), libc::O_RDONLY, 0),
        libc::ENOENT,
        "open of a missing file without O_CREAT",
    )?;
    symlink("target", dir.path("dangling")).ctx("symlink")?;
    expect_errno(
        open(dir.path("dangling"), excl, 0o644),
        libc::EEXIST,
        "O_CREAT|O_EXCL on a dangling symlink",
    )?;
    open(dir.path("dangling"), libc::O_CREAT | libc::O_WRONLY, 0o600)
        .ctx("O_CREAT through a dangling symlink")?;
    let st = lstat(dir.path("target")).ctx("lstat of the symlink's target after O_CREAT")?;
    ensure!(
        st.st_mode == libc::S_IFREG | 0o600,
        "target created with mode {:#o}, want 0100600",
        st.st_mode
    );
    pass()
}

/// O_TRUNC empties an existing file on open for writing.
pub(crate) fn open_trunc() -> Check {
    let dir = Scratch::new("trunc")?;
    let p = dir.file("f", b"hello world")?;
    let fd = open(&p, libc::O_RDWR | libc::O_TRUNC, 0).ctx("open O_TRUNC")?;
    let size = fstat(fd.as_raw_fd()).ctx("fstat")?.st_size;
    ensure!(size == 0, "size {size} after O_TRUNC, want 0");
    let mut buf = [0u8; 16];
    ensure!(
        read(fd.as_raw_fd(), &mut buf).ctx("read")? == 0,
        "read data after O_TRUNC"
    );
    write(fd.as_raw_fd(), b"new").ctx("write")?;
    ensure!(
        std::fs::read(&p).ctx("read back")? == b"new",
        "contents after O_TRUNC and a write are not \"new\""
    );
    pass()
}

/// O_APPEND writes at the end whatever the position, pwrite included (Linux's documented
/// exception), and leaves the position at the end.
pub(crate) fn open_append() -> Check {
    let dir = Scratch::new("append")?;
    let p = dir.file("f", b"hello")?;
    let a = open(&p, libc::O_WRONLY | libc::O_APPEND, 0).ctx("open O_APPEND")?;
    let b = open(&p, libc::O_WRONLY | libc::O_APPEND, 0).ctx("second open O_APPEND")?;
    lseek(a.as_raw_fd(), 0, libc::SEEK_SET).ctx("lseek")?;
    write(a.as_raw_fd(), b" world").ctx("write")?;
    let pos = lseek(a.as_raw_fd(), 0, libc::SEEK_CUR).ctx("lseek")?;
    ensure!(
        pos == 11,
        "position {pos} after an appending write, want 11"
    );
    write(b.as_raw_fd(), b"!").ctx("write through the second descriptor")?;
    pwrite(a.as_raw_fd(), b"?", 0).ctx("pwrite")?;
    let data = std::fs::read(&p).ctx("read back")?;
    ensure!(
        data == b"hello world!?",
        "contents {:?}, want \"hello world!?\"",
        String::from_utf8_lossy(&data)
    );
    let fl = fcntl(a.as_raw_fd(), libc::F_GETFL, 0).ctx("F_GETFL")?;
    ensure!(fl & libc::O_APPEND != 0, "F_GETFL {fl:#o} lacks O_APPEND");
    pass()
}

/// read/write move the position, pread/pwrite do not; readv/writev scatter and gather.
pub(crate) fn read_write_vectors() -> Check {
    let dir = Scratch::new("rw")?;
    let fd = open(dir.path("f"), libc::O_RDWR | libc::O_CREAT, 0o644).ctx("open")?;
    let fd = fd.as_raw_fd();
    ensure!(write(fd, b"0123456789").ctx("write")? == 10, "short write");
    ensure!(
        lseek(fd, 0, libc::SEEK_CUR).ctx("lseek")? == 10,
        "position after write"
    );
    let mut buf = [0u8; 8];
    ensure!(
        read(fd, &mut buf).ctx("read at EOF")? == 0,
        "read at EOF returned data"
    );
    let got = pread_exact(fd, 4, 3).ctx("pread")?;
    ensure!(got == b"3456", "pread(4 @ 3) = {got:?}");
    ensure!(pwrite(fd, b"AB", 1).ctx("pwrite")? == 2, "short pwrite");
    ensure!(
        lseek(fd, 0, libc::SEEK_CUR).ctx("lseek")? == 10,
        "pread/pwrite moved the file position"
    );
    let (x, y) = (*b"xy", *b"zzz");
    let iov = [
        libc::iovec {
            iov_base: x.as_ptr() as *mut _,
            iov_len: 2,
        },
        libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        },
        libc::iovec {
            iov_base: y.as_ptr() as *mut _,
            iov_len: 3,
        },
    ];
    // SAFETY: the iovecs point at live buffers of the lengths given.
    let n = unsafe { libc::writev(fd, iov.as_ptr(), 3) };
    ensure!(
        n == 5,
        "writev returned {n} (errno {}), want 5",
        sys::errno()
    );
    lseek(fd, 0, libc::SEEK_SET).ctx("lseek")?;
    let (mut a, mut b, mut c) = ([0u8; 3], [0u8; 4], [0u8; 100]);
    let iov = [
        libc::iovec {
            iov_base: a.as_mut_ptr().cast(),
            iov_len: 3,
        },
        libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: 4,
        },
        libc::iovec {
            iov_base: c.as_mut_ptr().cast(),
            iov_len: 100,
        },
    ];
    // SAFETY: the iovecs point at live, writable buffers of the lengths given.
    let n = unsafe { libc::readv(fd, iov.as_ptr(), 3) };
    ensure!(
        n == 15,
        "readv returned {n} (errno {}), want 15",
        sys::errno()
    );
    ensure!(
        &a == b"0AB" && &b == b"3456" && &c[..8] == b"789xyzzz",
        "readv scattered {:?} {:?} {:?}",
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b),
        String::from_utf8_lossy(&c[..8])
    );
    ensure!(
        pread(fd, &mut buf, 100).ctx("pread past EOF")? == 0,
        "pread past EOF returned data"
    );
    expect_errno(pread(fd, &mut buf, -1), libc::EINVAL, "pread at offset -1")?;
    // One transfer bigger than any kernel bounce buffer, in both directions.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    ensure!(
        pwrite(fd, &big, 0).ctx("pwrite 200000")? == big.len(),
        "short 200000-byte write"
    );
    let back = pread_exact(fd, big.len() + 10, 0).ctx("pread 200000")?;
    ensure!(
        back == big,
        "a 200000-byte write read back differently ({} bytes)",
        back.len()
    );
    pass()
}

/// O_APPEND writes from two processes at once never overwrite each other: every record
/// lands whole, after the ones before it.
pub(crate) fn append_from_two_processes() -> Check {
    const RECORDS: usize = 200;
    let dir = Scratch::new("append2")?;
    let p = dir.file("log", b"")?;
    let writers: Vec<libc::pid_t> = [b'a', b'b']
        .iter()
        .map(|&tag| {
            later_in_child(std::time::Duration::ZERO, || {
                let Ok(fd) = open(&p, libc::O_WRONLY | libc::O_APPEND, 0) else {
                    return false;
                };
                let mut rec = [tag; 10];
                rec[9] = b'\n';
                (0..RECORDS).all(|_| write(fd.as_raw_fd(), &rec).ok() == Some(10))
            })
        })
        .collect::<Result<_, _>>()?;
    for pid in writers {
        reap_ok(pid, "appender")?;
    }
    let data = std::fs::read(&p).ctx("read")?;
    ensure!(
        data.len() == 2 * RECORDS * 10,
        "log has {} bytes, want {}",
        data.len(),
        2 * RECORDS * 10
    );
    let whole = data
        .chunks(10)
        .all(|r| r[9] == b'\n' && r[..9].iter().all(|&b| b == r[0]));
    ensure!(whole, "records from the two appenders overlap");
    pass()
}

/// lseek's three origins; seeking past the end and writing leaves a hole that reads as zeros.
pub(crate) fn lseek_holes() -> Check {
    let dir = Scratch::new("lseek")?;
    let fd = open(dir.path("f"), libc::O_RDWR | libc::O_CREAT, 0o644).ctx("open")?;
    let fd = fd.as_raw_fd();
    write(fd, b"abc").ctx("write")?;
    let steps = [
        (0, libc::SEEK_END, 3),
        (-1, libc::SEEK_END, 2),
        (1, libc::SEEK_CUR, 3),
        (-3, libc::SEEK_CUR, 0),
        (10_000, libc::SEEK_SET, 10_000),
    ];
    for (off, whence, want) in steps {
        let got = lseek(fd, off, whence).ctx(format!("lseek({off}, {whence})"))?;
        ensure!(
            got == want,
            "lseek({off}, whence {whence}) = {got}, want {want}"
        );
    }
    let mut buf = [1u8; 16];
    ensure!(
        read(fd, &mut buf).ctx("read past EOF")? == 0,
        "read past EOF returned data"
    );
    ensure!(
        fstat(fd).ctx("fstat")?.st_size == 3,
        "seeking past the end changed the size"
    );
    write(fd, b"z").ctx("write past EOF")?;
    let size = fstat(fd).ctx("fstat")?.st_size;
    ensure!(
        size == 10_001,
        "size {size} after writing at 10000, want 10001"
    );
    let hole = pread_exact(fd, 9_997, 3).ctx("pread the hole")?;
    ensure!(
        hole.len() == 9_997 && hole.iter().all(|&b| b == 0),
        "the hole does not read as 9997 zeros"
    );
    expect_errno(lseek(fd, -1, libc::SEEK_SET), libc::EINVAL, "lseek to -1")?;
    expect_errno(lseek(fd, 0, 99), libc::EINVAL, "lseek with whence 99")?;
    let (r, _w) = pipe().ctx("pipe")?;
    expect_errno(
        lseek(r.as_raw_fd(), 0, libc::SEEK_SET),
        libc::ESPIPE,
        "lseek on a pipe",
    )?;
    pass()
}

/// truncate and ftruncate shrink and grow (with zeros) and keep the position; they refuse
/// negative sizes, directories, read-only descriptors and pipes.
pub(crate) fn truncate_sizes() -> Check {
    let dir = Scratch::new("truncate")?;
    let p = dir.file("f", b"hello world")?;
    let fd = open(&p, libc::O_RDWR, 0).ctx("open")?;
    let fd = fd.as_raw_fd();
    lseek(fd, 7, libc::SEEK_SET).ctx("lseek")?;
    ftruncate(fd, 5).ctx("ftruncate to 5")?;
    ensure!(
        std::fs::read(&p).ctx("read")? == b"hello",
        "contents after ftruncate(5)"
    );
    ensure!(
        lseek(fd, 0, libc::SEEK_CUR).ctx("lseek")? == 7,
        "ftruncate moved the position"
    );
    ftruncate(fd, 8192).ctx("ftruncate to 8192")?;
    let data = std::fs::read(&p).ctx("read")?;
    ensure!(
        data.len() == 8192 && &data[..5] == b"hello" && data[5..].iter().all(|&b| b == 0),
        "growing to 8192 did not add zeros (size {})",
        data.len()
    );
    truncate(&p, 2).ctx("truncate to 2")?;
    ensure!(stat(&p).ctx("stat")?.st_size == 2, "size after truncate(2)");
    expect_errno(truncate(&p, -1), libc::EINVAL, "truncate to -1")?;
    expect_errno(ftruncate(fd, -1), libc::EINVAL, "ftruncate to -1")?;
    expect_errno(
        truncate(dir.dir(), 0),
        libc::EISDIR,
        "truncate of a directory",
    )?;
    expect_errno(
        truncate(dir.path("missing"), 0),
        libc::ENOENT,
        "truncate of a missing file",
    )?;
    let ro = open(&p, libc::O_RDONLY, 0).ctx("open O_RDONLY")?;
    expect_errno(
        ftruncate(ro.as_raw_fd(), 0),
        libc::EINVAL,
        "ftruncate of an O_RDONLY fd",
    )?;
    let (_r, w) = pipe().ctx("pipe")?;
    expect_errno(
        ftruncate(w.as_raw_fd(), 0),
        libc::EINVAL,
        "ftruncate of a pipe",
    )?;
    pass()
}

/// fstat, stat, lstat and newfstatat agree on a file's identity, type, mode, size and links;
/// directories count their subdirectories in st_nlink.
pub(crate) fn stat_family() -> Check {
    let dir = Scratch::new("stat")?;
    let p = dir.file("f", &[7u8; 1000])?;
    let fd = open(&p, libc::O_RDONLY, 0).ctx("open")?;
    let st = fstat(fd.as_raw_fd()).ctx("fstat")?;
    ensure!(
        st.st_mode == libc::S_IFREG | 0o644,
        "fstat mode {:#o}, want 0100644",
        st.st_mode
    );
    ensure!(st.st_size == 1000, "fstat size {}, want 1000", st.st_size);
    ensure!(st.st_nlink == 1, "fstat nlink {}, want 1", st.st_nlink);
    ensure!(
        st.st_uid == sys::geteuid(),
        "st_uid {} is not ours",
        st.st_uid
    );
    ensure!(st.st_blksize > 0, "st_blksize 0");
    let same = |what: &str, other: &libc::stat| -> Result<(), guest_user::check::Fail> {
        ensure!(
            (other.st_dev, other.st_ino, other.st_mode, other.st_size)
                == (st.st_dev, st.st_ino, st.st_mode, st.st_size),
            "{what} disagrees with fstat: ino {} mode {:#o} size {}",
            other.st_ino,
            other.st_mode,
            other.st_size
        );
        Ok(())
    };
    same("stat", &stat(&p).ctx("stat")?)?;
    same("lstat", &lstat(&p).ctx("lstat")?)?;
    let dfd = open(dir.dir(), libc::O_RDONLY | libc::O_DIRECTORY, 0).ctx("open dir")?;
    same(
        "newfstatat(dirfd, \"f\")",
        &fstatat(dfd.as_raw_fd(), "f", 0).ctx("fstatat")?,
    )?;
    same(
        "newfstatat(fd, \"\", AT_EMPTY_PATH)",
        &fstatat(fd.as_raw_fd(), "", libc::AT_EMPTY_PATH).ctx("fstatat AT_EMPTY_PATH")?,
    )?;
    expect_errno(fstatat(libc::AT_FDCWD, "", 0), libc::ENOENT, "stat of \"\"")?;
    expect_errno(
        fstatat(fd.as_raw_fd(), "x", 0),
        libc::ENOTDIR,
        "fstatat relative to a file descriptor",
    )?;
    symlink("f", dir.path("l")).ctx("symlink")?;
    same(
        "stat through a symlink",
        &stat(dir.path("l")).ctx("stat l")?,
    )?;
    let l = lstat(dir.path("l")).ctx("lstat l")?;
    ensure!(
        l.st_mode & libc::S_IFMT == libc::S_IFLNK && l.st_size == 1,
        "lstat of a symlink to \"f\": mode {:#o} size {}, want a link of size 1",
        l.st_mode,
        l.st_size
    );
    let l2 = fstatat(dfd.as_raw_fd(), "l", libc::AT_SYMLINK_NOFOLLOW).ctx("fstatat NOFOLLOW")?;
    ensure!(
        l2.st_ino == l.st_ino,
        "AT_SYMLINK_NOFOLLOW did not stat the link itself"
    );
    mkdir(dir.path("d"), 0o755).ctx("mkdir")?;
    let d = stat(dir.path("d")).ctx("stat d")?;
    ensure!(
        d.st_mode == libc::S_IFDIR | 0o755 && d.st_nlink == 2,
        "new directory: mode {:#o} nlink {}, want 040755 and 2",
        d.st_mode,
        d.st_nlink
    );
    mkdir(dir.path("d/sub"), 0o755).ctx("mkdir d/sub")?;
    let n = stat(dir.path("d")).ctx("stat d")?.st_nlink;
    ensure!(
        n == 3,
        "directory with one subdirectory has nlink {n}, want 3"
    );
    expect_errno(
        stat(dir.path("missing")),
        libc::ENOENT,
        "stat of a missing file",
    )?;
    expect_errno(
        stat(dir.path("f/x")),
        libc::ENOTDIR,
        "stat of f/x with f a file",
    )?;
    pass()
}

/// Writes move mtime and ctime, chmod and link and rename move ctime only, and a directory's
/// mtime moves when a name is added to it.
pub(crate) fn timestamps() -> Check {
    let dir = Scratch::new("times")?;
    let p = dir.file("f", b"x")?;
    let mtime = |st: &libc::stat| (st.st_mtime, st.st_mtime_nsec);
    let ctime = |st: &libc::stat| (st.st_ctime, st.st_ctime_nsec);
    let tick = || sys::sleep(std::time::Duration::from_millis(20));
    let t0 = stat(&p).ctx("stat")?;
    tick();
    std::fs::write(&p, b"changed").ctx("write")?;
    let t1 = stat(&p).ctx("stat")?;
    ensure!(mtime(&t1) > mtime(&t0), "a write did not move mtime");
    ensure!(ctime(&t1) > ctime(&t0), "a write did not move ctime");
    tick();
    chmod(&p, 0o600).ctx("chmod")?;
    let t2 = stat(&p).ctx("stat")?;
    ensure!(ctime(&t2) > ctime(&t1), "chmod did not move ctime");
    ensure!(mtime(&t2) == mtime(&t1), "chmod moved mtime");
    tick();
    link(&p, dir.path("g")).ctx("link")?;
    let t3 = stat(&p).ctx("stat")?;
    ensure!(
        ctime(&t3) > ctime(&t2),
        "link did not move the file's ctime"
    );
    tick();
    rename(&p, dir.path("h")).ctx("rename")?;
    let t4 = stat(dir.path("h")).ctx("stat")?;
    ensure!(
        ctime(&t4) > ctime(&t3),
        "rename did not move the file's ctime"
    );
    ensure!(mtime(&t4) == mtime(&t1), "rename moved the file's mtime");
    let d0 = stat(dir.dir()).ctx("stat dir")?;
    tick();
    dir.file("new", b"")?;
    let d1 = stat(dir.dir()).ctx("stat dir")?;
    ensure!(
        mtime(&d1) > mtime(&d0),
        "creating a file did not move the directory's mtime"
    );
    pass()
}

/// statx reports the basic fields, the same as stat, and honours AT_SYMLINK_NOFOLLOW and
/// AT_EMPTY_PATH.
pub(crate) fn statx_fields() -> Check {
    let dir = Scratch::new("statx")?;
    let p = dir.file("f", &[1u8; 4097])?;
    let st = stat(&p).ctx("stat")?;
    let x = statx(libc::AT_FDCWD, &p, 0).ctx("statx")?;
    let basic = libc::STATX_TYPE
        | libc::STATX_MODE
        | libc::STATX_NLINK
        | libc::STATX_UID
        | libc::STATX_GID
        | libc::STATX_INO
        | libc::STATX_SIZE;
    ensure!(
        x.stx_mask & basic == basic,
        "stx_mask {:#x} lacks basic fields {basic:#x}",
        x.stx_mask
    );
    ensure!(
        x.stx_mode as u32 == st.st_mode
            && x.stx_size == 4097
            && x.stx_nlink == 1
            && x.stx_ino == st.st_ino
            && x.stx_uid == st.st_uid,
        "statx mode {:#o} size {} nlink {} ino {}; stat says {:#o} {} {} {}",
        x.stx_mode,
        x.stx_size,
        x.stx_nlink,
        x.stx_ino,
        st.st_mode,
        st.st_size,
        st.st_nlink,
        st.st_ino
    );
    let (maj, min) = dev_major_minor(st.st_dev);
    ensure!(
        (x.stx_dev_major, x.stx_dev_minor) == (maj, min),
        "statx dev {}:{}, stat dev {maj}:{min}",
        x.stx_dev_major,
        x.stx_dev_minor
    );
    ensure!(
        x.stx_blocks >= 8,
        "stx_blocks {} for 4097 bytes",
        x.stx_blocks
    );
    symlink("f", dir.path("l")).ctx("symlink")?;
    let l = statx(libc::AT_FDCWD, dir.path("l"), libc::AT_SYMLINK_NOFOLLOW).ctx("statx link")?;
    ensure!(
        l.stx_mode as u32 & libc::S_IFMT == libc::S_IFLNK,
        "statx AT_SYMLINK_NOFOLLOW mode {:#o}, want a link",
        l.stx_mode
    );
    let fd = open(&p, libc::O_RDONLY, 0).ctx("open")?;
    let e = statx(fd.as_raw_fd(), "", libc::AT_EMPTY_PATH).ctx("statx AT_EMPTY_PATH")?;
    ensure!(
        e.stx_ino == st.st_ino,
        "statx AT_EMPTY_PATH named another file"
    );
    expect_errno(
        statx(libc::AT_FDCWD, &p, 0x4000_0000),
        libc::EINVAL,
        "statx with bad flags",
    )?;
    pass()
}

/// O_DIRECTORY on a file is ENOTDIR.
pub(crate) fn open_directory_on_file() -> Check {
    let dir = Scratch::new("odirectory")?;
    let p = dir.file("f", b"x")?;
    expect_errno(
        open(&p, libc::O_RDONLY | libc::O_DIRECTORY, 0),
        libc::ENOTDIR,
        "O_DIRECTORY on a file",
    )?;
    open(dir.dir(), libc::O_RDONLY | libc::O_DIRECTORY, 0).ctx("O_DIRECTORY on a directory")?;
    expect_errno(
        open(dir.path("missing"), libc::O_RDONLY | libc::O_DIRECTORY, 0),
        libc::ENOENT,
        "O_DIRECTORY on a missing name",
    )?;
    pass()
}

/// A directory opens read-only only; reading it with read() is EISDIR.
pub(crate) fn open_dir_for_write() -> Check {
    let dir = Scratch::new("dirwrite")?;
    for (flags, what) in [
        (libc::O_WRONLY, "O_WRONLY"),
        (libc::O_RDWR, "O_RDWR"),
        (libc::O_CREAT | libc::O_RDONLY, "O_CREAT"),
    ] {
        expect_errno(
            open(dir.dir(), flags, 0o644),
            libc::EISDIR,
            &format!("open of a directory {what}"),
        )?;
    }
    let fd = open(dir.dir(), libc::O_RDONLY, 0).ctx("open O_RDONLY")?;
    let mut buf = [0u8; 16];
    expect_errno(
        read(fd.as_raw_fd(), &mut buf),
        libc::EISDIR,
        "read of a directory",
    )?;
    expect_errno(
        write(fd.as_raw_fd(), b"x"),
        libc::EBADF,
        "write to an O_RDONLY directory fd",
    )?;
    pass()
}

/// An unlinked file lives on while open: readable and writable through the descriptor,
/// with st_nlink 0, gone from its directory.
pub(crate) fn unlink_while_open() -> Check {
    let dir = Scratch::new("unlink_open")?;
    let p = dir.file("f", b"still here")?;
    let fd = open(&p, libc::O_RDWR, 0).ctx("open")?;
    let fd = fd.as_raw_fd();
    unlink(&p).ctx("unlink")?;
    expect_errno(stat(&p), libc::ENOENT, "stat after unlink")?;
    ensure!(
        names_in(dir.dir()).ctx("list")?.is_empty(),
        "the unlinked name is still listed"
    );
    let st = fstat(fd).ctx("fstat")?;
    ensure!(
        st.st_nlink == 0,
        "fstat nlink {} after unlink, want 0",
        st.st_nlink
    );
    let data = pread_exact(fd, 64, 0).ctx("pread")?;
    ensure!(
        data == b"still here",
        "read {:?} after unlink",
        String::from_utf8_lossy(&data)
    );
    pwrite(fd, b"!", 10).ctx("pwrite after unlink")?;
    ensure!(
        fstat(fd).ctx("fstat")?.st_size == 11,
        "write after unlink did not grow the file"
    );
    let again = dir.file("f", b"new")?;
    ensure!(
        stat(&again).ctx("stat")?.st_ino != st.st_ino,
        "a new file of the same name has the unlinked file's inode"
    );
    pass()
}

/// O_CLOEXEC (and F_DUPFD_CLOEXEC, F_SETFD) descriptors close at execve, others stay.
pub(crate) fn cloexec_on_exec() -> Check {
    let dir = Scratch::new("cloexec")?;
    let p = dir.file("f", b"x")?;
    let a = open(&p, libc::O_RDONLY | libc::O_CLOEXEC, 0).ctx("open O_CLOEXEC")?;
    let b = open(&p, libc::O_RDONLY, 0).ctx("open")?;
    let c = fcntl(b.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0).ctx("F_DUPFD_CLOEXEC")?;
    let d = dup(a.as_raw_fd()).ctx("dup")?;
    fcntl(
        d.as_raw_fd(),
        libc::F_SETFD,
        libc::FD_CLOEXEC as libc::c_long,
    )
    .ctx("F_SETFD")?;
    ensure!(
        fd_cloexec(a.as_raw_fd()).ctx("F_GETFD")?,
        "O_CLOEXEC fd lacks FD_CLOEXEC"
    );
    ensure!(
        !fd_cloexec(b.as_raw_fd()).ctx("F_GETFD")?,
        "plain fd has FD_CLOEXEC"
    );
    let exe = self_exe()?;
    let fds: Vec<String> = [a.as_raw_fd(), b.as_raw_fd(), c, d.as_raw_fd()]
        .iter()
        .map(|f| f.to_string())
        .collect();
    let pid = sys::fork_child(|| {
        let mut args = vec!["--fds-open"];
        args.extend(fds.iter().map(|s| s.as_str()));
        exec(&exe, &args);
        127
    })
    .ctx("fork")?;
    close(c).ctx("close")?;
    let status = sys::wait_status(pid).ctx("waitpid")?;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) == 127 {
        fail!("helper {} (127: exec failed)", sys::describe_status(status));
    }
    let open_after_exec = libc::WEXITSTATUS(status);
    ensure!(
        open_after_exec == 0b0010,
        "after execve the descriptors open were mask {open_after_exec:#06b} of \
         [O_CLOEXEC, plain, F_DUPFD_CLOEXEC, F_SETFD], want 0b0010"
    );
    pass()
}
