//! Thin wrappers over the system calls std does not offer. Everything returns `io::Result` with
//! the kernel's errno; nothing here retries silently except on `EINTR` where noted.
//!
//! Forked children talk to their parent through [`Shared`] memory (an anonymous `MAP_SHARED`
//! mapping made before the fork), so the test programs need neither pipes nor files for that.

use std::io;
use std::mem::size_of;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use libc::pid_t;

/// The calling thread's errno.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Sets the calling thread's errno to 0 (for calls like `getpriority` whose -1 is legitimate).
pub fn clear_errno() {
    // SAFETY: __errno_location returns this thread's errno slot, valid for the thread's life.
    unsafe { *libc::__errno_location() = 0 };
}

/// Turns a C-style `-1` return into the errno.
pub fn cvt(ret: i32) -> io::Result<i32> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// [`cvt`] for `long` returns (`syscall`).
pub fn cvt_long(ret: i64) -> io::Result<i64> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The calling process's id.
pub fn getpid() -> pid_t {
    // SAFETY: getpid has no arguments and cannot fail.
    unsafe { libc::getpid() }
}

/// The parent's process id.
pub fn getppid() -> pid_t {
    // SAFETY: getppid has no arguments and cannot fail.
    unsafe { libc::getppid() }
}

/// The effective user id.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

/// The kernel's id of the calling thread.
pub fn gettid() -> pid_t {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as pid_t }
}

/// Where a sibling guest-user program lives: next to the running executable (the cargo target
/// directory on the host, `/bin` in the guest), else `/bin/<name>` (when `/proc/self/exe` is
/// not there to say where we run from).
pub fn find_program(name: &str) -> Option<std::path::PathBuf> {
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(name)));
    let in_bin = std::path::Path::new("/bin").join(name);
    sibling.into_iter().chain([in_bin]).find(|p| p.is_file())
}

/// Which side of a fork we are on.
pub enum Fork {
    Child,
    Parent(pid_t),
}

/// `fork()`, after flushing stdout so the child does not print the parent's buffered text.
pub fn fork() -> io::Result<Fork> {
    use std::io::Write;
    let _ = io::stdout().flush();
    // SAFETY: the programs using this fork from a single thread (or after joining their threads),
    // so the child does not inherit locks held by other threads.
    match cvt(unsafe { libc::fork() })? {
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid)),
    }
}

/// Forks a child that runs `f` and exits with its return value; returns the child's pid.
pub fn fork_child(f: impl FnOnce() -> i32) -> io::Result<pid_t> {
    match fork()? {
        Fork::Child => exit_now(f()),
        Fork::Parent(pid) => Ok(pid),
    }
}

/// Flushes stdout and ends the process at once with `_exit` (no destructors, no atexit).
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = io::stdout().flush();
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// `waitpid`, retried on `EINTR`; returns the pid and the raw status.
pub fn waitpid(pid: pid_t, flags: i32) -> io::Result<(pid_t, i32)> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer for the call.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r >= 0 {
            return Ok((r, status));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Waits for `pid` to end and returns its raw status.
pub fn wait_status(pid: pid_t) -> io::Result<i32> {
    waitpid(pid, 0).map(|(_, status)| status)
}

/// A wait status in words: `exited 3`, `killed by signal 9`, `stopped by signal 19`, ...
pub fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exited {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        let core = if libc::WCOREDUMP(status) {
            " (core dumped)"
        } else {
            ""
        };
        format!("killed by signal {}{core}", libc::WTERMSIG(status))
    } else if libc::WIFSTOPPED(status) {
        format!("stopped by signal {}", libc::WSTOPSIG(status))
    } else if libc::WIFCONTINUED(status) {
        "continued".into()
    } else {
        format!("status {status:#x}")
    }
}

/// Sends SIGKILL to `pid` and reaps it, ignoring errors (cleanup after a failed check).
pub fn kill_and_reap(pid: pid_t) {
    // SAFETY: kill has no memory arguments.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = waitpid(pid, libc::__WALL);
}

/// Asks the kernel to SIGKILL the calling process when its parent dies, so that spinning test
/// children never outlive a test program that was killed.
pub fn die_with_parent() {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and no pointers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
}

/// A CPU mask as the kernel's `sched_{get,set}affinity` see it (1024 CPUs, like glibc's).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CpuSet {
    pub bits: [u64; 16],
}

impl CpuSet {
    pub const MAX: usize = 1024;

    pub fn new() -> Self {
        CpuSet { bits: [0; 16] }
    }

    pub fn single(cpu: usize) -> Self {
        let mut set = Self::new();
        set.set(cpu);
        set
    }

    pub fn set(&mut self, cpu: usize) {
        self.bits[cpu / 64] |= 1 << (cpu % 64);
    }

    pub fn contains(&self, cpu: usize) -> bool {
        cpu < Self::MAX && self.bits[cpu / 64] & (1 << (cpu % 64)) != 0
    }

    pub fn count(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn cpus(&self) -> impl Iterator<Item = usize> + '_ {
        (0..Self::MAX).filter(|&c| self.contains(c))
    }
}

impl Default for CpuSet {
    fn default() -> Self {
        Self::new()
    }
}

/// The affinity mask of `pid` (0: the calling thread).
pub fn get_affinity(pid: pid_t) -> io::Result<CpuSet> {
    let mut set = CpuSet::new();
    // SAFETY: the kernel writes at most size_of_val(bits) bytes into `set.bits`.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_sched_getaffinity,
            pid,
            size_of::<[u64; 16]>(),
            set.bits.as_mut_ptr(),
        )
    })?;
    Ok(set)
}

/// Sets the affinity mask of `pid` (0: the calling thread).
pub fn set_affinity(pid: pid_t, set: &CpuSet) -> io::Result<()> {
    // SAFETY: the kernel reads size_of_val(bits) bytes from `set.bits`.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            pid,
            size_of::<[u64; 16]>(),
            set.bits.as_ptr(),
        )
    })?;
    Ok(())
}

/// Pins the calling thread to one CPU.
pub fn pin_to(cpu: usize) -> io::Result<()> {
    set_affinity(0, &CpuSet::single(cpu))
}

/// The CPU the calling thread runs on, from the `getcpu` system call itself (not the vDSO).
pub fn getcpu() -> io::Result<(u32, u32)> {
    let (mut cpu, mut node) = (0u32, 0u32);
    // SAFETY: both out-pointers are valid; the third (cache) argument may be NULL.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_getcpu,
            &mut cpu,
            &mut node,
            std::ptr::null_mut::<libc::c_void>(),
        )
    })?;
    Ok((cpu, node))
}

/// The number of CPUs online.
pub fn online_cpus() -> usize {
    // SAFETY: sysconf has no memory arguments.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    n.max(1) as usize
}

/// Reads a POSIX clock.
pub fn clock(id: libc::clockid_t) -> io::Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    cvt(unsafe { libc::clock_gettime(id, &mut ts) })?;
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// CPU time used by the calling thread.
pub fn thread_cputime() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or_default()
}

/// A `timespec` for a duration.
pub fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// Sleeps with `nanosleep`, resuming with the remaining time after signals.
pub fn sleep(d: Duration) {
    let mut req = timespec(d);
    loop {
        let mut rem = timespec(Duration::ZERO);
        // SAFETY: both timespecs are valid for the call.
        if unsafe { libc::nanosleep(&req, &mut rem) } == 0 || errno() != libc::EINTR {
            return;
        }
        req = rem;
    }
}

/// Spins on the CPU (no system calls) for `d` of wall time; returns the loop count.
pub fn burn(d: Duration) -> u64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < d {
        for _ in 0..1000 {
            n = std::hint::black_box(n + 1);
        }
    }
    n
}

/// Polls `cond` every millisecond until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        sleep(Duration::from_millis(1));
    }
}

/// A `T` in an anonymous shared mapping: a forked child and its parent see the same value.
/// `T` should be made of atomics; it is dropped in place by the process that drops the handle
/// (children leave with [`exit_now`], which runs no destructors).
pub struct Shared<T> {
    ptr: NonNull<T>,
}

impl<T: Sync> Shared<T> {
    pub fn new(value: T) -> io::Result<Self> {
        assert!(std::mem::align_of::<T>() <= 4096);
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size_of::<T>().max(1),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = p.cast::<T>();
        // SAFETY: the mapping is writable, page-aligned and at least size_of::<T>() long.
        unsafe { ptr.write(value) };
        Ok(Shared {
            ptr: NonNull::new(ptr).expect("mmap returned NULL"),
        })
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the value was initialized in `new` and stays mapped until drop.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // SAFETY: we own the mapping; the value is dropped once, then the mapping removed.
        unsafe {
            std::ptr::drop_in_place(self.ptr.as_ptr());
            libc::munmap(self.ptr.as_ptr().cast(), size_of::<T>().max(1));
        }
    }
}

/// A short message a child leaves for its parent in [`Shared`] memory.
pub struct MsgBuf {
    len: AtomicUsize,
    bytes: [AtomicU8; 1024],
}

impl MsgBuf {
    pub fn new() -> Self {
        MsgBuf {
            len: AtomicUsize::new(0),
            bytes: [const { AtomicU8::new(0) }; 1024],
        }
    }

    pub fn set(&self, s: &str) {
        let b = s.as_bytes();
        let n = b.len().min(self.bytes.len());
        for (slot, &byte) in self.bytes.iter().zip(&b[..n]) {
            slot.store(byte, Ordering::Relaxed);
        }
        self.len.store(n, Ordering::Release);
    }

    pub fn get(&self) -> String {
        let n = self.len.load(Ordering::Acquire);
        let b: Vec<u8> = self.bytes[..n]
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    }
}

impl Default for MsgBuf {
    fn default() -> Self {
        Self::new()
    }
}

/// Issues a raw `clone(flags, stack 0)`. A child, if the kernel wrongly creates one, exits at
/// once inside the assembly (it touches neither memory nor the stack). Returns the raw kernel
/// result: a pid, or a negative errno.
pub fn raw_clone_exiting_child(flags: u64) -> i64 {
    let ret: i64;
    // SAFETY: the child side runs only `exit(0)` without using the stack it may share; the
    // parent side is an ordinary syscall clobbering rax, rcx and r11.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov eax, 60",
            "xor edi, edi",
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone => ret,
            in("rdi") flags,
            in("rsi") 0u64,
            in("rdx") 0u64,
            in("r10") 0u64,
            in("r8") 0u64,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Issues a raw `vfork()` whose child stores 1 into `*flag` and exits with `code`, all inside the
/// assembly (a vfork child shares the parent's stack, so it must not use it). Returns the raw
/// kernel result: the child's pid, or a negative errno.
pub fn raw_vfork_child_sets(flag: &std::sync::atomic::AtomicU64, code: i32) -> i64 {
    let ret: i64;
    // SAFETY: the child writes only `*flag` (valid, atomic) and exits; the parent side is an
    // ordinary syscall clobbering rax, rcx and r11 (rdi and rdx are changed only in the child,
    // which never returns).
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov qword ptr [rdx], 1",
            "mov eax, 60",
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_vfork => ret,
            in("rdx") flag.as_ptr(),
            in("rdi") code as i64,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// vfork a child that sleeps for `ts` and exits 0, leaving the parent suspended (in
/// uninterruptible sleep) meanwhile; returns the child's pid or `-errno`.
pub fn raw_vfork_child_sleeps(ts: &libc::timespec) -> i64 {
    let ret: i64;
    // SAFETY: the child only sleeps (reading `*ts`, valid for the call) and exits; the parent
    // side is an ordinary syscall clobbering rax, rcx and r11, and rdi/rsi are read only.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov eax, 35",
            "syscall",
            "mov eax, 60",
            "xor edi, edi",
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_vfork => ret,
            in("rdi") ts as *const libc::timespec,
            in("rsi") 0u64,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// `sched_setscheduler` as the kernel defines it (musl's wrapper is a stub returning ENOSYS,
/// since POSIX means processes and Linux means threads).
pub fn sched_setscheduler(pid: pid_t, policy: i32, prio: i32) -> io::Result<()> {
    // SAFETY: the kernel's struct sched_param is one int, read from `prio`.
    cvt_long(unsafe { libc::syscall(libc::SYS_sched_setscheduler, pid, policy, &prio) })?;
    Ok(())
}

/// `sched_getscheduler` as the kernel defines it (see [`sched_setscheduler`]).
pub fn sched_getscheduler(pid: pid_t) -> io::Result<i32> {
    // SAFETY: no memory arguments.
    cvt_long(unsafe { libc::syscall(libc::SYS_sched_getscheduler, pid) }).map(|p| p as i32)
}

/// `sched_getparam` as the kernel defines it: the real-time priority.
pub fn sched_getparam(pid: pid_t) -> io::Result<i32> {
    let mut prio = 0i32;
    // SAFETY: the kernel writes one int into `prio`.
    cvt_long(unsafe { libc::syscall(libc::SYS_sched_getparam, pid, &mut prio) })?;
    Ok(prio)
}

/// Every record in the kernel log, read the way `dmesg` does (non-blocking /dev/kmsg).
pub fn kmsg_lines() -> std::io::Result<Vec<String>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
