//! The basics of procfs as the VFS serves them: /proc/self and its stat, exe, fd and cwd
//! entries, /proc/net (a link to `self/net`), a sysctl file, and /proc/filesystems.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use guest_user::check::{in_child, pass, pass_with, skip, Check};
use guest_user::ensure;
use guest_user::procfs::Stat;
use guest_user::sys;

use crate::util::*;

/// /proc/self/stat describes the caller: its pid, name and parent.
pub(crate) fn proc_self_stat() -> Check {
    let st = Stat::read("/proc/self/stat").ctx("read /proc/self/stat")?;
    ensure!(
        st.pid == sys::getpid(),
        "/proc/self/stat pid {}, getpid {}",
        st.pid,
        sys::getpid()
    );
    ensure!(
        st.ppid == sys::getppid(),
        "/proc/self/stat ppid {}, getppid {}",
        st.ppid,
        sys::getppid()
    );
    ensure!(
        st.comm == "fstest",
        "/proc/self/stat comm {:?}, want fstest",
        st.comm
    );
    let link = readlink("/proc/self").ctx("readlink /proc/self")?;
    ensure!(
        link == sys::getpid().to_string(),
        "/proc/self points at {link:?}"
    );
    let listed = names_in("/proc").ctx("list /proc")?;
    ensure!(
        listed.contains(&link) && listed.iter().any(|n| n == "self"),
        "/proc lists neither our pid {link} nor self: {listed:?}"
    );
    pass()
}

/// /proc/self/exe names the running program.
pub(crate) fn proc_self_exe() -> Check {
    let exe = readlink("/proc/self/exe").ctx("readlink /proc/self/exe")?;
    let argv0 = std::env::args().next().unwrap_or_default();
    let want = std::fs::canonicalize(&argv0).ctx(format!("canonicalize {argv0}"))?;
    ensure!(
        exe == want.to_string_lossy(),
        "/proc/self/exe → {exe:?}, want {} (argv[0] {argv0:?})",
        want.display()
    );
    let via = stat("/proc/self/exe").ctx("stat /proc/self/exe")?;
    let direct = stat(&want).ctx("stat the program")?;
    ensure!(
        via.st_ino == direct.st_ino,
        "/proc/self/exe leads to another file"
    );
    pass_with(exe)
}

/// /proc/self/fd lists exactly the open descriptors; each is a link to its file (a pipe is
/// `pipe:[inode]`, an unlinked file is marked ` (deleted)`) and opening it reopens the file.
pub(crate) fn proc_self_fd() -> Check {
    let dir = Scratch::new("procfd")?;
    let p = dir.file("f", b"reopened")?;
    let (r, w) = pipe().ctx("pipe")?;
    let f = open(&p, libc::O_RDONLY, 0).ctx("open")?;
    let listed: Vec<i32> = names_in("/proc/self/fd")
        .ctx("list /proc/self/fd")?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    for fd in [0, 1, 2, r.as_raw_fd(), w.as_raw_fd(), f.as_raw_fd()] {
        ensure!(
            listed.contains(&fd),
            "fd {fd} not in /proc/self/fd: {listed:?}"
        );
    }
    let ino = fstat(r.as_raw_fd()).ctx("fstat")?.st_ino;
    let link = readlink(format!("/proc/self/fd/{}", r.as_raw_fd())).ctx("readlink")?;
    ensure!(
        link == format!("pipe:[{ino}]"),
        "pipe fd links to {link:?}, want \"pipe:[{ino}]\""
    );
    let link = readlink(format!("/proc/self/fd/{}", f.as_raw_fd())).ctx("readlink")?;
    ensure!(
        link == p.to_string_lossy(),
        "file fd links to {link:?}, want {}",
        p.display()
    );
    let again = open(
        format!("/proc/self/fd/{}", f.as_raw_fd()),
        libc::O_RDONLY,
        0,
    )
    .ctx("reopen")?;
    ensure!(
        read_to_end(again.as_raw_fd()).ctx("read")? == b"reopened",
        "reopening through /proc/self/fd gave other data"
    );
    let through = stat(format!("/proc/self/fd/{}", r.as_raw_fd())).ctx("stat fd link")?;
    ensure!(
        through.st_mode & libc::S_IFMT == libc::S_IFIFO && through.st_ino == ino,
        "stat through /proc/self/fd does not reach the pipe"
    );
    // Opening a pipe's entry opens the pipe again, like a FIFO.
    let w2 = open(
        format!("/proc/self/fd/{}", w.as_raw_fd()),
        libc::O_WRONLY,
        0,
    )
    .ctx("reopen the pipe's write end")?;
    write(w2.as_raw_fd(), b"again").ctx("write")?;
    let mut buf = [0u8; 8];
    let n = read(r.as_raw_fd(), &mut buf).ctx("read")?;
    ensure!(
        &buf[..n] == b"again",
        "the reopened pipe end wrote elsewhere"
    );
    let closed = f.as_raw_fd();
    unlink(&p).ctx("unlink")?;
    let link = readlink(format!("/proc/self/fd/{closed}")).ctx("readlink")?;
    ensure!(
        link == format!("{} (deleted)", p.display()),
        "an unlinked file's fd links to {link:?}, want \"{} (deleted)\"",
        p.display()
    );
    drop(f);
    expect_errno(
        readlink(format!("/proc/self/fd/{closed}")),
        libc::ENOENT,
        "readlink of a closed fd's entry",
    )?;
    pass()
}

/// /proc/self/cwd follows chdir.
pub(crate) fn proc_self_cwd() -> Check {
    let dir = Scratch::new("proccwd")?;
    in_child(|| {
        chdir(dir.dir()).ctx("chdir")?;
        let link = readlink("/proc/self/cwd").ctx("readlink /proc/self/cwd")?;
        ensure!(
            link == dir.dir().to_string_lossy(),
            "/proc/self/cwd → {link:?} after chdir"
        );
        chdir("/").ctx("chdir /")?;
        let link = readlink("/proc/self/cwd").ctx("readlink /proc/self/cwd")?;
        ensure!(link == "/", "/proc/self/cwd → {link:?} after chdir /");
        let st = stat("/proc/self/cwd/.").ctx("stat through /proc/self/cwd")?;
        ensure!(
            st.st_ino == stat("/").ctx("stat /")?.st_ino,
            "/proc/self/cwd leads elsewhere"
        );
        pass()
    })
}

/// /proc/net is Linux's link to `self/net`; each process's `net/` (and each thread's) lists
/// `unix`, which shows a socket we bind, through the link and through our pid.
pub(crate) fn proc_net_link() -> Check {
    let link = readlink("/proc/net").ctx("readlink /proc/net")?;
    ensure!(
        link == "self/net",
        "/proc/net → {link:?}, want \"self/net\""
    );
    let (l, st) = (
        lstat("/proc/net").ctx("lstat")?,
        stat("/proc/net").ctx("stat")?,
    );
    ensure!(
        l.st_mode & libc::S_IFMT == libc::S_IFLNK && st.st_mode & libc::S_IFMT == libc::S_IFDIR,
        "/proc/net: lstat mode {:o}, stat mode {:o}",
        l.st_mode,
        st.st_mode
    );
    let pid = std::process::id();
    for dir in ["/proc/self".to_string(), format!("/proc/{pid}/task/{pid}")] {
        let names = names_in(&dir).ctx("list")?;
        ensure!(
            names.iter().any(|n| n == "net"),
            "{dir} lists no net: {names:?}"
        );
        let net = names_in(format!("{dir}/net")).ctx("list net")?;
        ensure!(net == ["unix"], "{dir}/net lists {net:?}");
    }
    let dir = Scratch::new("procnet")?;
    let path = dir.path("sock");
    let _sock = std::os::unix::net::UnixListener::bind(&path).ctx("bind")?;
    let want = path.to_string_lossy().into_owned();
    for file in [
        "/proc/net/unix".to_string(),
        format!("/proc/{pid}/net/unix"),
    ] {
        let text = std::fs::read_to_string(&file).ctx("read")?;
        ensure!(
            text.starts_with("Num       RefCount Protocol Flags    Type St Inode Path\n")
                && text.lines().any(|l| l.ends_with(&format!(" {want}"))),
            "{file} does not list our socket {want}: {text:?}"
        );
    }
    pass()
}

/// /proc/sys/kernel/pid_max reads 32768; writing text that is no number is EINVAL.
pub(crate) fn proc_sys_pid_max() -> Check {
    let path = "/proc/sys/kernel/pid_max";
    let text = std::fs::read_to_string(path).ctx("read pid_max")?;
    ensure!(
        text == "32768\n",
        "{path} reads {text:?}, want \"32768\\n\""
    );
    if sys::geteuid() != 0 {
        return skip("not root: cannot write sysctls");
    }
    let fd = open(path, libc::O_WRONLY, 0).ctx("open pid_max for writing")?;
    expect_errno(
        write(fd.as_raw_fd(), b"abc"),
        libc::EINVAL,
        "write of \"abc\" to pid_max",
    )?;
    let fd = open(path, libc::O_WRONLY, 0).ctx("open pid_max for writing")?;
    ensure!(
        write(fd.as_raw_fd(), b"32768\n").ctx("write 32768")? == 6,
        "short write"
    );
    let text = std::fs::read_to_string(path).ctx("read pid_max")?;
    ensure!(
        text == "32768\n",
        "{path} reads {text:?} after writing 32768"
    );
    pass()
}

/// /proc/filesystems lists tmpfs, proc, and the kernel-internal sockfs and pipefs as nodev
/// filesystems; pipes live on pipefs (one anonymous device, an inode each) and sockets on
/// sockfs; neither can be mounted.
pub(crate) fn proc_filesystems() -> Check {
    let text = std::fs::read_to_string("/proc/filesystems").ctx("read /proc/filesystems")?;
    // Read a byte at a time, and from an offset, the file is the same text.
    let fd = open("/proc/filesystems", libc::O_RDONLY, 0).ctx("open")?;
    let mut bytewise = Vec::new();
    let mut one = [0u8; 1];
    while read(fd.as_raw_fd(), &mut one).ctx("read")? == 1 {
        bytewise.push(one[0]);
    }
    ensure!(
        bytewise == text.as_bytes(),
        "read a byte at a time, /proc/filesystems differs"
    );
    let tail = pread_exact(fd.as_raw_fd(), 4096, 3).ctx("pread")?;
    ensure!(
        tail == text.as_bytes()[3..],
        "pread at offset 3 of /proc/filesystems differs"
    );
    for fs in ["tmpfs", "proc", "devtmpfs", "sockfs", "pipefs"] {
        ensure!(
            text.lines().any(|l| l == format!("nodev\t{fs}")),
            "no \"nodev\\t{fs}\" line in /proc/filesystems:\n{text}"
        );
    }
    let (r1, w1) = pipe().ctx("pipe")?;
    let (r2, _w2) = pipe().ctx("pipe")?;
    let [a, b, c] = [&r1, &w1, &r2].map(|fd| fstat(fd.as_raw_fd()));
    let (a, b, c) = (a.ctx("fstat")?, b.ctx("fstat")?, c.ctx("fstat")?);
    ensure!(
        a.st_dev == c.st_dev && libc::major(a.st_dev) == 0 && a.st_dev != 0,
        "pipes on devices {:#x} and {:#x}, want one anonymous device",
        a.st_dev,
        c.st_dev
    );
    ensure!(
        a.st_ino == b.st_ino && a.st_ino != c.st_ino && a.st_ino != 0,
        "pipe inodes {} {} {}",
        a.st_ino,
        b.st_ino,
        c.st_ino
    );
    // SAFETY: socket has no memory arguments.
    let s = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
    ensure!(s >= 0, "socket failed");
    // SAFETY: a new descriptor nothing else owns.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    let st = fstat(s.as_raw_fd()).ctx("fstat socket")?;
    ensure!(
        st.st_dev != a.st_dev && libc::major(st.st_dev) == 0,
        "socket on device {:#x}, pipes on {:#x}",
        st.st_dev,
        a.st_dev
    );
    // SAFETY: geteuid has no arguments.
    if unsafe { libc::geteuid() } == 0 {
        let dir = Scratch::new("pipefs_mount")?;
        for fs in [c"pipefs", c"sockfs"] {
            let target = cstr(dir.dir());
            // SAFETY: NUL-terminated strings and no data.
            let r = unsafe {
                libc::mount(
                    c"none".as_ptr(),
                    target.as_ptr(),
                    fs.as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            expect_errno(sys::cvt(r), libc::EINVAL, &format!("mount {fs:?}"))?;
        }
    }
    pass()
}

/// Names in /proc come from the kernel only: creating one is ENOENT, removing one EPERM.
pub(crate) fn proc_names_are_fixed() -> Check {
    expect_errno(
        open("/proc/fstest-new", libc::O_CREAT | libc::O_WRONLY, 0o644),
        libc::ENOENT,
        "create in /proc",
    )?;
    expect_errno(
        mkdir("/proc/fstest-dir", 0o755),
        libc::ENOENT,
        "mkdir in /proc",
    )?;
    expect_errno(
        mkdir("/proc/sys/fstest-dir", 0o755),
        libc::ENOENT,
        "mkdir in /proc/sys",
    )?;
    expect_errno(
        unlink("/proc/version"),
        libc::EPERM,
        "unlink of /proc/version",
    )?;
    expect_errno(
        stat("/proc/no-such-entry"),
        libc::ENOENT,
        "stat of a missing /proc entry",
    )?;
    pass()
}

/// /sys/kernel: the read-only attributes (no kexec image loaded; a uevent count) and the
/// directories debugfs and tracefs are mounted on.
pub(crate) fn sys_kernel_attributes() -> Check {
    for name in ["kexec_loaded", "kexec_crash_loaded", "uevent_seqnum"] {
        let path = format!("/sys/kernel/{name}");
        let st = stat(&path).ctx(&path)?;
        ensure!(
            st.st_mode & 0o170777 == libc::S_IFREG | 0o444,
            "{path}: mode {:o}",
            st.st_mode
        );
        let text = std::fs::read_to_string(&path).ctx(&path)?;
        let value: Option<u64> = text.strip_suffix('\n').and_then(|v| v.parse().ok());
        ensure!(value.is_some(), "{path} reads {text:?}");
        ensure!(
            name == "uevent_seqnum" || value == Some(0),
            "{path} reads {text:?}, and nothing can load a kexec image"
        );
    }
    for dir in ["debug", "tracing"] {
        let path = format!("/sys/kernel/{dir}");
        let st = stat(&path).ctx(&path)?;
        ensure!(
            st.st_mode & libc::S_IFMT == libc::S_IFDIR,
            "{path} is no directory"
        );
    }
    pass()
}
