//! Checks of the kernel interfaces that unmodified Linux programs (glibc's static busybox, the
//! tools) turned out to need: robust futexes, `sync`/`syncfs`, `fallocate`, `statfs` of the
//! pseudo file systems, the `kernel.hostname` sysctl, `sysinfo`, `syslog`'s permission
//! and argument rules, and I/O priorities.

use std::os::unix::io::AsRawFd;

use guest_user::check::{pass, pass_with, Check, Context, Fail};
use guest_user::ensure;
use guest_user::sys::{self, Shared};

use crate::scratch;

fn errno_of(ret: libc::c_long) -> i32 {
    if ret < 0 {
        sys::errno()
    } else {
        0
    }
}

/// A process that dies holding a robust, process-shared mutex: the next locker gets
/// `EOWNERDEAD` (the kernel marked the lock word at the owner's exit) and can make it
/// consistent again.
pub fn robust_futex_owner_died() -> Check {
    // set_robust_list checks the head's size.
    // SAFETY: no memory is accessed for a bad length.
    let r = unsafe { libc::syscall(libc::SYS_set_robust_list, 8usize, 12usize) };
    ensure!(errno_of(r) == libc::EINVAL, "set_robust_list(len 12): {r}");
    let (mut head, mut len) = (0usize, 0usize);
    // SAFETY: both pointers are valid for one word.
    let r = unsafe { libc::syscall(libc::SYS_get_robust_list, 0, &mut head, &mut len) };
    ensure!(r == 0 && len == 24, "get_robust_list: {r} len {len}");
    // SAFETY: an all-zero pthread_mutex_t is a valid object to initialize.
    let m = Shared::new(unsafe { std::mem::zeroed::<libc::pthread_mutex_t>() }).ctx("mmap")?;
    let mp = &*m as *const libc::pthread_mutex_t as *mut libc::pthread_mutex_t;
    // SAFETY: `mp` points into the shared mapping, which outlives the mutex's use.
    unsafe {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        libc::pthread_mutexattr_init(&mut attr);
        libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
        libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
        ensure!(libc::pthread_mutex_init(mp, &attr) == 0, "mutex init");
    }
    let child = sys::fork_child(|| {
        // SAFETY: the shared mutex was initialized before the fork.
        let r = unsafe { libc::pthread_mutex_lock(mp) };
        // Exit holding it.
        if r == 0 {
            0
        } else {
            1
        }
    })
    .ctx("fork")?;
    let st = sys::wait_status(child).ctx("wait")?;
    ensure!(
        st == 0,
        "child could not lock: {}",
        sys::describe_status(st)
    );
    // SAFETY: as above.
    let r = unsafe { libc::pthread_mutex_lock(mp) };
    ensure!(
        r == libc::EOWNERDEAD,
        "lock after the owner died: {r}, want EOWNERDEAD"
    );
    // SAFETY: as above; we own the lock now.
    unsafe {
        ensure!(libc::pthread_mutex_consistent(mp) == 0, "consistent");
        ensure!(libc::pthread_mutex_unlock(mp) == 0, "unlock");
    }
    pass()
}

pub fn sync_and_fallocate() -> Check {
    // SAFETY: sync has no arguments.
    unsafe { libc::sync() };
    let d = scratch("falloc")?;
    let f = std::fs::File::create(format!("{d}/f")).ctx("create")?;
    let fd = f.as_raw_fd();
    // SAFETY: plain integer arguments.
    unsafe {
        ensure!(libc::syncfs(fd) == 0, "syncfs: {}", sys::errno());
        ensure!(
            libc::syncfs(-1) == -1 && sys::errno() == libc::EBADF,
            "syncfs(-1)"
        );
        ensure!(
            libc::fallocate(fd, 0, 0, 8192) == 0,
            "fallocate: {}",
            sys::errno()
        );
    }
    ensure!(
        f.metadata().ctx("stat")?.len() == 8192,
        "fallocate did not extend"
    );
    // SAFETY: plain integer arguments.
    unsafe {
        ensure!(
            libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, 0, 65536) == 0,
            "KEEP_SIZE"
        );
        ensure!(
            libc::fallocate(fd, 0, 0, 0) == -1 && sys::errno() == libc::EINVAL,
            "zero length"
        );
    }
    ensure!(
        f.metadata().ctx("stat")?.len() == 8192,
        "KEEP_SIZE changed the size"
    );
    let data = std::fs::read(format!("{d}/f")).ctx("read")?;
    ensure!(data.iter().all(|&b| b == 0), "not zero-filled");
    let ro = std::fs::File::open(format!("{d}/f")).ctx("open ro")?;
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::fallocate(ro.as_raw_fd(), 0, 0, 1) };
    ensure!(r == -1 && sys::errno() == libc::EBADF, "read-only fd: {r}");
    pass()
}

fn statfs(path: &str) -> Result<libc::statfs, Fail> {
    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: a zeroed statfs is valid; the path is NUL-terminated.
    unsafe {
        let mut s: libc::statfs = std::mem::zeroed();
        if libc::statfs(c.as_ptr(), &mut s) != 0 {
            return Err(Fail(format!("statfs {path}: {}", sys::errno())));
        }
        Ok(s)
    }
}

pub fn statfs_pseudo_filesystems() -> Check {
    let proc = statfs("/proc")?;
    ensure!(
        proc.f_type == 0x9fa0 && proc.f_blocks == 0 && proc.f_files == 0,
        "/proc: type {:#x} blocks {}",
        proc.f_type,
        proc.f_blocks
    );
    let tmp = statfs("/")?;
    ensure!(tmp.f_blocks > 0 && tmp.f_bfree > 0, "/ has no blocks");
    pass()
}

pub fn hostname_sysctl_and_sysinfo() -> Check {
    let path = "/proc/sys/kernel/hostname";
    ensure!(
        std::fs::read_to_string(path).ctx(path)? == "watchvm\n",
        "{path}"
    );
    std::fs::write(path, "viaproc\n").ctx("write hostname")?;
    let after = crate::run_ok(&["/bin/uname", "-n"]);
    std::fs::write(path, "watchvm").ctx("restore hostname")?;
    ensure!(after? == "viaproc\n", "uname -n after the sysctl write");
    ensure!(
        std::fs::read_to_string("/proc/sys/kernel/version").ctx("version")?
            == "#1 SMP PREEMPT watchvm 0.1.0\n",
        "kernel.version"
    );
    // SAFETY: a zeroed sysinfo is valid and the kernel fills it.
    let si = unsafe {
        let mut si: libc::sysinfo = std::mem::zeroed();
        ensure!(libc::sysinfo(&mut si) == 0, "sysinfo: {}", sys::errno());
        si
    };
    let meminfo = std::fs::read_to_string("/proc/meminfo").ctx("meminfo")?;
    let total_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let unit = u64::from(si.mem_unit);
    ensure!(
        si.totalram * unit / 1024 == total_kb,
        "sysinfo totalram {} x {unit} vs MemTotal {total_kb} kB",
        si.totalram
    );
    ensure!(
        si.freeram > 0 && si.procs > 10,
        "freeram {} procs {}",
        si.freeram,
        si.procs
    );
    pass_with(format!("{} tasks", si.procs))
}

pub fn syslog_rules() -> Check {
    // Something to read even after an earlier `dmesg -C`.
    std::fs::write("/dev/kmsg", "<6>toolstest: syslog_rules\n").ctx("write /dev/kmsg")?;
    let mut buf = [0u8; 512];
    let call = |action: i32, p: *mut u8, len: i32| {
        // SAFETY: `p` is null or valid for `len` bytes.
        errno_of(unsafe { libc::syscall(libc::SYS_syslog, action, p, len) })
    };
    ensure!(
        call(3, std::ptr::null_mut(), 10) == libc::EINVAL,
        "NULL buffer"
    );
    ensure!(
        call(3, buf.as_mut_ptr(), -1) == libc::EINVAL,
        "negative length"
    );
    let e = call(3, 8 as *mut u8, 4096);
    ensure!(e == libc::EFAULT, "bad buffer: errno {e}");
    ensure!(
        call(8, std::ptr::null_mut(), 9) == libc::EINVAL,
        "console level 9"
    );
    ensure!(
        call(99, std::ptr::null_mut(), 0) == libc::EINVAL,
        "unknown action"
    );
    // A short buffer gets the newest whole lines that fit.
    // SAFETY: buf is valid for its length.
    let n = unsafe { libc::syscall(libc::SYS_syslog, 3, buf.as_mut_ptr(), 512) };
    ensure!(n > 0 && n <= 512, "READ_ALL into 512 bytes: {n}");
    ensure!(
        buf[0] == b'<' && buf[n as usize - 1] == b'\n',
        "not whole lines: {:?}",
        String::from_utf8_lossy(&buf[..n as usize])
    );
    // Reading is open to everyone, clearing is not.
    guest_user::check::in_child(|| {
        // SAFETY: setuid has no memory arguments.
        if unsafe { libc::setuid(65534) } != 0 {
            return Err(Fail("setuid".into()));
        }
        let mut b = [0u8; 64];
        ensure!(call(3, b.as_mut_ptr(), 64) == 0, "READ_ALL as nobody");
        ensure!(
            call(5, std::ptr::null_mut(), 0) == libc::EPERM,
            "CLEAR as nobody"
        );
        ensure!(
            // SAFETY: a valid name and length.
            unsafe { libc::sethostname(b"x".as_ptr().cast(), 1) } == -1
                && sys::errno() == libc::EPERM,
            "sethostname as nobody"
        );
        pass()
    })
}

fn ioprio_get(which: i32, who: i32) -> Result<i32, i32> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_get, which, who) };
    if r < 0 {
        Err(sys::errno())
    } else {
        Ok(r as i32)
    }
}

fn ioprio_set(which: i32, who: i32, prio: i32) -> Result<(), i32> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, which, who, prio) };
    if r < 0 {
        Err(sys::errno())
    } else {
        Ok(())
    }
}

/// ioprio_set/ioprio_get: class << 13 | level, per thread, inherited by children, RT for
/// root only, Linux's errors for bad arguments.
pub fn ioprio_classes() -> Check {
    const PROCESS: i32 = 1;
    const BE: i32 = 2 << 13;
    guest_user::check::in_child(|| {
        ensure!(
            ioprio_get(PROCESS, 0) == Ok(0),
            "default: {:?}",
            ioprio_get(PROCESS, 0)
        );
        ensure!(ioprio_set(PROCESS, 0, BE | 3).is_ok(), "set BE/3");
        ensure!(ioprio_get(PROCESS, 0) == Ok(BE | 3), "get after set");
        let me = sys::getpid();
        ensure!(ioprio_get(PROCESS, me) == Ok(BE | 3), "by pid");
        let child =
            sys::fork_child(|| i32::from(ioprio_get(PROCESS, 0) != Ok(BE | 3))).ctx("fork")?;
        ensure!(sys::wait_status(child).ctx("wait")? == 0, "not inherited");
        ensure!(
            ioprio_set(PROCESS, 0, BE | 8) == Err(libc::EINVAL),
            "level 8"
        );
        ensure!(
            ioprio_set(PROCESS, 0, 5 << 13) == Err(libc::EINVAL),
            "class 5"
        );
        ensure!(ioprio_set(9, 0, BE) == Err(libc::EINVAL), "which 9");
        ensure!(
            ioprio_get(PROCESS, 99_999) == Err(libc::ESRCH),
            "no such pid"
        );
        // SAFETY: setuid has no memory arguments.
        ensure!(unsafe { libc::setuid(65534) } == 0, "setuid");
        ensure!(
            ioprio_set(PROCESS, 0, 1 << 13) == Err(libc::EPERM),
            "RT as nobody"
        );
        ensure!(ioprio_set(PROCESS, 0, 3 << 13).is_ok(), "IDLE as nobody");
        pass()
    })
}
