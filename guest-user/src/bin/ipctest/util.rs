//! What the ipctest checks share: the System V calls as raw system calls (so that the kernel's
//! own errno comes back, whatever the C library does), errno expectations, and the helper
//! process the "unrelated processes" checks exec.

use std::time::Duration;

use guest_user::check::Fail;
use guest_user::sys;

pub const IPC_CREAT: i64 = 0o1000;
pub const IPC_EXCL: i64 = 0o2000;
pub const IPC_NOWAIT: i64 = 0o4000;
pub const IPC_RMID: i64 = 0;
pub const IPC_SET: i64 = 1;
pub const IPC_STAT: i64 = 2;

/// A system call's result: the value, or the errno.
pub type Sys = Result<i64, i32>;

/// A raw system call with up to five arguments.
pub fn syscall(nr: i64, a: [i64; 5]) -> Sys {
    // SAFETY: the callers pass pointers to live buffers of the sizes the calls expect (or
    // deliberately bad ones, which the kernel must reject).
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4]) };
    if r < 0 {
        Err(sys::errno())
    } else {
        Ok(r)
    }
}

pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::E2BIG => "E2BIG",
        libc::EAGAIN => "EAGAIN",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::EFBIG => "EFBIG",
        libc::ERANGE => "ERANGE",
        libc::ENOMSG => "ENOMSG",
        libc::EIDRM => "EIDRM",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EBADF => "EBADF",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// Passes if `r` failed with `want`.
pub fn expect_err<T: std::fmt::Debug>(
    r: Result<T, i32>,
    want: i32,
    what: &str,
) -> Result<(), Fail> {
    match r {
        Err(e) if e == want => Ok(()),
        Err(e) => Err(Fail(format!(
            "{what}: {}, want {}",
            errno_name(e),
            errno_name(want)
        ))),
        Ok(v) => Err(Fail(format!(
            "{what} succeeded ({v:?}), want {}",
            errno_name(want)
        ))),
    }
}

/// The value of a call that must succeed.
pub fn ok<T>(r: Result<T, i32>, what: &str) -> Result<T, Fail> {
    r.map_err(|e| Fail(format!("{what}: {}", errno_name(e))))
}

/// A key no other check uses: the check's number in the high bits and the pid below.
pub fn key(n: i64) -> i64 {
    (n << 24) | (sys::getpid() as i64 & 0xff_ffff)
}

/// Runs `f` in a forked child whose exit status is its result (0 = success).
pub fn child(f: impl FnOnce() -> i32) -> Result<libc::pid_t, Fail> {
    sys::fork_child(|| {
        sys::die_with_parent();
        f()
    })
    .map_err(|e| Fail(format!("fork: {e}")))
}

/// Waits for `pid` and fails unless it exited 0; `what` names the child's job.
pub fn reap_ok(pid: libc::pid_t, what: &str) -> Result<(), Fail> {
    let st = sys::wait_status(pid).map_err(|e| Fail(format!("waitpid: {e}")))?;
    if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0 {
        Ok(())
    } else {
        Err(Fail(format!("{what}: child {}", sys::describe_status(st))))
    }
}

/// Polls `cond` every millisecond for up to five seconds.
pub fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    sys::wait_until(Duration::from_secs(5), &mut cond)
}

/// Installs a SIGUSR1 handler that does nothing, with or without SA_RESTART, so that the
/// signal interrupts a sleeping call instead of killing.
pub fn catch_sigusr1(restart: bool) {
    extern "C" fn nothing(_: libc::c_int) {}
    // SAFETY: a zeroed sigaction with a valid, async-signal-safe handler.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = nothing as *const () as usize;
        sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
}

/// Sends `sig` to `pid`.
pub fn kill(pid: libc::pid_t, sig: i32) {
    // SAFETY: kill takes no pointers.
    unsafe { libc::kill(pid, sig) };
}

/// Runs this program again as `ipctest ARGS...` (a process unrelated to our memory) and
/// returns its exit status.
pub fn run_helper(args: &[&str]) -> Result<i32, Fail> {
    let st = std::process::Command::new("/proc/self/exe")
        .args(args)
        .status()
        .map_err(|e| Fail(format!("exec helper: {e}")))?;
    Ok(st.code().unwrap_or(-1))
}

/// Reads a file that must exist, as text.
pub fn read(path: &str) -> Result<String, Fail> {
    std::fs::read_to_string(path).map_err(|e| Fail(format!("{path}: {e}")))
}

/// `struct ipc64_perm` (x86_64).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct IpcPerm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub mode: u32,
    pub seq: u16,
    pub pad: [u16; 1],
    pub unused: [u64; 2],
}

/// `struct msqid64_ds`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MsqidDs {
    pub perm: IpcPerm,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub cbytes: u64,
    pub qnum: u64,
    pub qbytes: u64,
    pub lspid: i32,
    pub lrpid: i32,
    pub unused: [u64; 2],
}

/// `struct semid64_ds`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct SemidDs {
    pub perm: IpcPerm,
    pub otime: i64,
    pub unused1: u64,
    pub ctime: i64,
    pub unused2: u64,
    pub nsems: u64,
    pub unused: [u64; 2],
}

/// `struct shmid64_ds`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct ShmidDs {
    pub perm: IpcPerm,
    pub segsz: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: i32,
    pub lpid: i32,
    pub nattch: u64,
    pub unused: [u64; 2],
}

/// The state letter of process `pid` (from /proc/<pid>/stat).
pub fn state_of(pid: libc::pid_t) -> char {
    guest_user::procfs::Stat::of(pid).map_or('?', |s| s.state)
}

/// Turns an errno into a check failure naming the call.
pub fn fail_errno(what: &str) -> impl Fn(i32) -> Fail + '_ {
    move |e| Fail(format!("{what}: {}", errno_name(e)))
}
