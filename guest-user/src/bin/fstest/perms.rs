//! Modes and permissions: the umask, chmod and access (root's rules and an ordinary user's),
//! and mknod of FIFOs and device nodes.

use std::os::fd::AsRawFd;

use guest_user::check::{in_child, pass, skip, Check};
use guest_user::ensure;

use crate::util::*;

fn mode_of(path: impl AsRef<std::path::Path>) -> Result<u32, guest_user::check::Fail> {
    Ok(lstat(path).ctx("lstat")?.st_mode)
}

/// The umask clears bits of every new file, directory and FIFO; umask returns the old mask.
pub(crate) fn umask_modes() -> Check {
    let dir = Scratch::new("umask")?;
    in_child(|| {
        let old = umask(0o027);
        ensure!(
            old == 0o022,
            "umask returned {old:#o}, want the 022 set at start"
        );
        // (name, type to make, mode asked for, mode wanted): mkdir keeps only the permission
        // and sticky bits, a new file keeps its set-id bits too.
        let cases = [
            ("f", libc::S_IFREG, 0o666, 0o640),
            ("d", libc::S_IFDIR, 0o777, 0o750),
            ("p", libc::S_IFIFO, 0o666, 0o640),
            ("s", libc::S_IFDIR, 0o7777, 0o1750),
            ("x", libc::S_IFREG, 0o7777, 0o7750),
        ];
        for (name, kind, asked, want) in cases {
            let p = dir.path(name);
            match kind {
                libc::S_IFDIR => mkdir(&p, asked),
                libc::S_IFIFO => mknod(&p, kind | asked, 0),
                _ => open(&p, libc::O_CREAT | libc::O_WRONLY, asked).map(drop),
            }
            .ctx(format!("create {name} with mode {asked:#o}"))?;
            let got = mode_of(&p)?;
            ensure!(
                got == kind | want,
                "{name} made with mode {asked:#o} under umask 027 has {got:#o}, want {:#o}",
                kind | want
            );
        }
        ensure!(
            umask(0) == 0o027,
            "umask did not return the mask set before"
        );
        open(dir.path("g"), libc::O_CREAT | libc::O_WRONLY, 0o777).ctx("create")?;
        let g = mode_of(dir.path("g"))?;
        ensure!(
            g == libc::S_IFREG | 0o777,
            "mode {g:#o} under umask 0, want 0100777"
        );
        pass()
    })
}

/// chmod changes only the permission bits; access() answers for root as Linux does: read
/// and write always, execute only if some execute bit is set.
pub(crate) fn chmod_access() -> Check {
    if guest_user::sys::geteuid() != 0 {
        return skip("not root");
    }
    let dir = Scratch::new("chmod")?;
    let f = dir.file("f", b"#!/bin/true\n")?;
    chmod(&f, 0o644).ctx("chmod 0644")?;
    expect_errno(
        access(&f, libc::X_OK),
        libc::EACCES,
        "access(X_OK) as root on a 0644 file",
    )?;
    access(&f, libc::R_OK | libc::W_OK).ctx("access(R_OK|W_OK)")?;
    access(&f, libc::F_OK).ctx("access(F_OK)")?;
    chmod(&f, 0o000).ctx("chmod 0")?;
    access(&f, libc::R_OK | libc::W_OK).ctx("access(R_OK|W_OK) as root on a 0000 file")?;
    chmod(&f, 0o4755).ctx("chmod 04755")?;
    access(&f, libc::X_OK).ctx("access(X_OK) on a 0755 file")?;
    ensure!(
        mode_of(&f)? == libc::S_IFREG | 0o4755,
        "mode after chmod 04755"
    );
    let fd = open(&f, libc::O_RDONLY, 0).ctx("open")?;
    // SAFETY: no memory arguments.
    guest_user::sys::cvt(unsafe { libc::fchmod(fd.as_raw_fd(), 0o600) }).ctx("fchmod")?;
    ensure!(
        mode_of(&f)? == libc::S_IFREG | 0o600,
        "mode after fchmod 0600"
    );
    chmod(dir.dir(), 0o000).ctx("chmod a directory 0")?;
    access(dir.dir(), libc::X_OK).ctx("access(X_OK) as root on a 0000 directory")?;
    stat(&f).ctx("stat inside a 0000 directory as root")?;
    chmod(dir.dir(), 0o755).ctx("chmod back")?;
    expect_errno(
        chmod(dir.path("missing"), 0o644),
        libc::ENOENT,
        "chmod of a missing file",
    )?;
    expect_errno(
        access(dir.path("missing"), libc::F_OK),
        libc::ENOENT,
        "access of a missing file",
    )?;
    expect_errno(access(&f, 8), libc::EINVAL, "access with mode 8")?;
    pass()
}

/// An ordinary user is held to the mode bits: EACCES to read a 0600 root file or create in
/// a 0755 root directory, EPERM to chmod a file it does not own.
pub(crate) fn permissions_non_root() -> Check {
    if guest_user::sys::geteuid() != 0 {
        return skip("not root: cannot become another user");
    }
    let dir = Scratch::new("nonroot")?;
    let secret = dir.file("secret", b"root only")?;
    chmod(&secret, 0o600).ctx("chmod")?;
    let public = dir.file("public", b"anyone")?;
    let sticky = dir.path("sticky");
    mkdir(&sticky, 0o777).ctx("mkdir")?;
    chmod(&sticky, 0o1777).ctx("chmod 01777")?;
    let roots = dir.file("sticky/root-owned", b"")?;
    let private = dir.path("private");
    mkdir(&private, 0o700).ctx("mkdir")?;
    let hidden = dir.file("private/file", b"")?;
    in_child(|| {
        // SAFETY: no memory arguments.
        let ids = unsafe { (libc::setgid(65534), libc::setuid(65534)) };
        ensure!(ids == (0, 0), "cannot become uid/gid 65534: {ids:?}");
        expect_errno(
            open(&secret, libc::O_RDONLY, 0),
            libc::EACCES,
            "open of a 0600 root file",
        )?;
        expect_errno(
            access(&secret, libc::R_OK),
            libc::EACCES,
            "access(R_OK) of a 0600 root file",
        )?;
        open(&public, libc::O_RDONLY, 0).ctx("open of a 0644 root file for reading")?;
        expect_errno(
            open(&public, libc::O_WRONLY, 0),
            libc::EACCES,
            "open of a 0644 root file for writing",
        )?;
        expect_errno(
            open(dir.path("new"), libc::O_CREAT | libc::O_WRONLY, 0o644),
            libc::EACCES,
            "create in a 0755 root directory",
        )?;
        expect_errno(
            unlink(&public),
            libc::EACCES,
            "unlink in a 0755 root directory",
        )?;
        expect_errno(
            chmod(&public, 0o666),
            libc::EPERM,
            "chmod of another user's file",
        )?;
        expect_errno(
            stat(&hidden),
            libc::EACCES,
            "stat through a 0700 root directory",
        )?;
        expect_errno(
            unlink(&roots),
            libc::EPERM,
            "unlink of root's file in a sticky directory",
        )?;
        expect_errno(
            rename(&roots, sticky.join("renamed")),
            libc::EPERM,
            "rename of root's file in a sticky directory",
        )?;
        let mine = sticky.join("mine");
        std::fs::write(&mine, b"").ctx("create in a 01777 directory")?;
        unlink(&mine).ctx("unlink of one's own file in a sticky directory")?;
        pass()
    })
}

/// mknod makes FIFOs (S_ISFIFO, EEXIST the second time, ENXIO for a writer without readers)
/// and, for root, device nodes that open the driver of their number.
pub(crate) fn mknod_fifo_and_device() -> Check {
    let dir = Scratch::new("mknod")?;
    let fifo = dir.path("fifo");
    mknod(&fifo, libc::S_IFIFO | 0o644, 0).ctx("mknod S_IFIFO")?;
    let st = stat(&fifo).ctx("stat")?;
    ensure!(
        st.st_mode == libc::S_IFIFO | 0o644,
        "FIFO mode {:#o}, want 010644",
        st.st_mode
    );
    expect_errno(
        mknod(&fifo, libc::S_IFIFO | 0o644, 0),
        libc::EEXIST,
        "second mknod",
    )?;
    expect_errno(
        open(&fifo, libc::O_WRONLY | libc::O_NONBLOCK, 0),
        libc::ENXIO,
        "O_WRONLY|O_NONBLOCK open of a FIFO without readers",
    )?;
    let r = open(&fifo, libc::O_RDONLY | libc::O_NONBLOCK, 0).ctx("O_RDONLY|O_NONBLOCK open")?;
    let w = open(&fifo, libc::O_WRONLY | libc::O_NONBLOCK, 0).ctx("O_WRONLY open with a reader")?;
    write(w.as_raw_fd(), b"fifo").ctx("write")?;
    let mut buf = [0u8; 8];
    let n = read(r.as_raw_fd(), &mut buf).ctx("read")?;
    ensure!(&buf[..n] == b"fifo", "read {:?} from the FIFO", &buf[..n]);
    drop((r, w));
    // A reader no writer has come to yet is not hung up; once one came and went, it is.
    let r = open(&fifo, libc::O_RDONLY | libc::O_NONBLOCK, 0).ctx("O_RDONLY|O_NONBLOCK open")?;
    let mut p = [pollfd(r.as_raw_fd(), libc::POLLIN)];
    poll(&mut p, 0).ctx("poll")?;
    ensure!(
        p[0].revents == 0,
        "a FIFO reader that never had a writer polls {:#x}",
        p[0].revents
    );
    drop(open(&fifo, libc::O_WRONLY | libc::O_NONBLOCK, 0).ctx("open a writer")?);
    poll(&mut p, 0).ctx("poll")?;
    ensure!(
        p[0].revents == libc::POLLHUP,
        "after the writer left: revents {:#x}",
        p[0].revents
    );
    let rw = open(&fifo, libc::O_RDWR, 0).ctx("O_RDWR open of a FIFO (never waits)")?;
    write(rw.as_raw_fd(), b"rw").ctx("write")?;
    ensure!(
        read(rw.as_raw_fd(), &mut buf).ctx("read")? == 2,
        "O_RDWR FIFO read"
    );
    expect_errno(
        mknod(dir.path("dir"), libc::S_IFDIR | 0o755, 0),
        libc::EPERM,
        "mknod S_IFDIR",
    )?;
    if guest_user::sys::geteuid() != 0 {
        return pass();
    }
    let null = dir.path("mynull");
    mknod(&null, libc::S_IFCHR | 0o666, libc::makedev(1, 3)).ctx("mknod 1:3")?;
    let st = stat(&null).ctx("stat")?;
    ensure!(
        dev_major_minor(st.st_rdev) == (1, 3),
        "st_rdev {:?}, want 1:3",
        dev_major_minor(st.st_rdev)
    );
    let fd = open(&null, libc::O_RDWR, 0).ctx("open the new 1:3 node")?;
    ensure!(
        write(fd.as_raw_fd(), b"gone").ctx("write")? == 4,
        "write to a 1:3 node"
    );
    ensure!(
        read(fd.as_raw_fd(), &mut buf).ctx("read")? == 0,
        "read of a 1:3 node gave data"
    );
    // Nodes no driver answers for (a socket node, unused device numbers) open with ENXIO.
    let nodes = [
        ("sock", libc::S_IFSOCK, 0),
        ("mem99", libc::S_IFCHR, libc::makedev(1, 99)),
        ("chr250", libc::S_IFCHR, libc::makedev(250, 0)),
    ];
    for (name, kind, dev) in nodes {
        mknod(dir.path(name), kind | 0o644, dev).ctx(format!("mknod {name}"))?;
        expect_errno(
            open(dir.path(name), libc::O_RDONLY, 0),
            libc::ENXIO,
            &format!("open of the {name} node"),
        )?;
    }
    pass()
}
