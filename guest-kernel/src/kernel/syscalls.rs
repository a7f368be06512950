//! The x86_64 system-call table: Linux's numbers, negative errno returns.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::entry::TrapFrame;
use crate::fs::{
    exec, fcntl, ioctl, mount, namei_syscalls as namei, open, pipe, read_write as rw, readdir,
    select, stat,
};
use crate::kernel::errno::*;
use crate::kernel::{exit, fork, futex, itimer, signal, sys, time};
use crate::mm::mmap_syscalls as mm;
use crate::sched::syscalls as sched;

/// `AT_FDCWD` as a raw argument, for the old calls that are `*at` calls from the cwd.
const AT_FDCWD: u64 = -100i64 as u64;

/// One bit per syscall number already reported as unimplemented (log once each).
static REPORTED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Runs system call `nr` and returns what user space sees in `rax` (Linux's `x64_sys_call`;
/// out of line so that `kretfunc:x64_sys_call` sees every call's result).
#[inline(never)]
pub fn x64_sys_call(frame: &mut TrapFrame, nr: u64, a: [u64; 6]) -> i64 {
    let r: KResult<i64> = match nr {
        0 => rw::sys_read(a[0], a[1], a[2]),
        1 => rw::sys_write(a[0], a[1], a[2]),
        2 => open::sys_open(a[0], a[1], a[2]),
        3 => open::sys_close(a[0]),
        4 => stat::sys_stat(a[0], a[1]),
        5 => stat::sys_fstat(a[0], a[1]),
        6 => stat::sys_lstat(a[0], a[1]),
        7 => select::sys_poll(a[0], a[1], a[2] as i64),
        8 => rw::sys_lseek(a[0], a[1] as i64, a[2]),
        9 => mm::sys_mmap(a[0], a[1], a[2], a[3], a[4] as i64, a[5]),
        10 => mm::sys_mprotect(a[0], a[1], a[2]),
        11 => mm::sys_munmap(a[0], a[1]),
        12 => mm::sys_brk(a[0]),
        13 => signal::sys_rt_sigaction(a[0], a[1], a[2], a[3]),
        14 => signal::sys_rt_sigprocmask(a[0], a[1], a[2], a[3]),
        15 => crate::arch::signal::sys_rt_sigreturn(frame),
        16 => ioctl::sys_ioctl(a[0], a[1], a[2]),
        17 => rw::sys_pread64(a[0], a[1], a[2], a[3] as i64),
        18 => rw::sys_pwrite64(a[0], a[1], a[2], a[3] as i64),
        19 => rw::sys_readv(a[0], a[1], a[2]),
        20 => rw::sys_writev(a[0], a[1], a[2]),
        21 => open::sys_faccessat2(AT_FDCWD, a[0], a[1], 0),
        22 => pipe::sys_pipe(a[0]),
        23 => select::sys_select(a[0], a[1], a[2], a[3], a[4]),
        24 => sched::sys_sched_yield(),
        25 => mm::sys_mremap(a[0], a[1], a[2], a[3], a[4]),
        26 => mm::sys_msync(a[0], a[1], a[2]),
        27 => mm::sys_mincore(a[0], a[1], a[2]),
        28 => mm::sys_madvise(a[0], a[1], a[2]),
        29 => crate::ipc::shm::sys_shmget(a[0], a[1], a[2]),
        30 => crate::ipc::shm::sys_shmat(a[0], a[1], a[2]),
        31 => crate::ipc::shm::sys_shmctl(a[0], a[1], a[2]),
        32 => fcntl::sys_dup(a[0]),
        33 => fcntl::sys_dup2(a[0], a[1]),
        34 => signal::sys_pause(),
        35 => time::sys_nanosleep(a[0], a[1]),
        36 => itimer::sys_getitimer(a[0], a[1]),
        37 => itimer::sys_alarm(a[0]),
        38 => itimer::sys_setitimer(a[0], a[1], a[2]),
        39 => sys::sys_getpid(),
        40 => rw::sys_sendfile(a[0], a[1], a[2], a[3]),
        56 => fork::sys_clone(frame, a[0], a[1], a[2], a[3], a[4]),
        57 => fork::sys_fork(frame),
        58 => fork::sys_vfork(frame),
        59 => exec::sys_execve(frame, a[0], a[1], a[2]),
        60 => exit::sys_exit(a[0]),
        61 => exit::sys_wait4(a[0] as i32 as i64, a[1], a[2], a[3]),
        62 => signal::sys_kill(a[0] as i32 as i64, a[1]),
        63 => sys::sys_uname(a[0]),
        64 => crate::ipc::sem::sys_semget(a[0], a[1], a[2]),
        65 => crate::ipc::sem::sys_semop(a[0], a[1], a[2]),
        66 => crate::ipc::sem::sys_semctl(a[0], a[1], a[2], a[3]),
        67 => crate::ipc::shm::sys_shmdt(a[0]),
        68 => crate::ipc::msg::sys_msgget(a[0], a[1]),
        69 => crate::ipc::msg::sys_msgsnd(a[0], a[1], a[2], a[3]),
        70 => crate::ipc::msg::sys_msgrcv(a[0], a[1], a[2], a[3], a[4]),
        71 => crate::ipc::msg::sys_msgctl(a[0], a[1], a[2]),
        72 => fcntl::sys_fcntl(a[0], a[1], a[2]),
        74 | 75 => open::sys_fsync(a[0]),
        76 => open::sys_truncate(a[0], a[1] as i64),
        77 => open::sys_ftruncate(a[0], a[1] as i64),
        79 => open::sys_getcwd(a[0], a[1]),
        80 => open::sys_chdir(a[0]),
        81 => open::sys_fchdir(a[0]),
        82 => namei::sys_renameat2(AT_FDCWD, a[0], AT_FDCWD, a[1], 0),
        83 => namei::sys_mkdirat(AT_FDCWD, a[0], a[1]),
        84 => namei::sys_unlinkat(AT_FDCWD, a[0], 0x200),
        85 => open::sys_creat(a[0], a[1]),
        86 => namei::sys_linkat(AT_FDCWD, a[0], AT_FDCWD, a[1], 0),
        87 => namei::sys_unlinkat(AT_FDCWD, a[0], 0),
        88 => namei::sys_symlinkat(a[0], AT_FDCWD, a[1]),
        89 => namei::sys_readlinkat(AT_FDCWD, a[0], a[1], a[2]),
        90 => open::sys_fchmodat(AT_FDCWD, a[0], a[1]),
        91 => open::sys_fchmod(a[0], a[1]),
        92 => open::sys_fchownat(AT_FDCWD, a[0], a[1], a[2], 0),
        93 => open::sys_fchown(a[0], a[1], a[2]),
        94 => open::sys_fchownat(AT_FDCWD, a[0], a[1], a[2], 0x100),
        95 => open::sys_umask(a[0]),
        96 => time::sys_gettimeofday(a[0], a[1]),
        97 => sys::sys_getrlimit(a[0], a[1]),
        98 => sys::sys_getrusage(a[0], a[1]),
        100 => sys::sys_times(a[0]),
        102 => sys::sys_getuid(),
        104 => sys::sys_getgid(),
        105 => sys::sys_setuid(a[0]),
        106 => sys::sys_setgid(a[0]),
        107 => sys::sys_geteuid(),
        108 => sys::sys_getegid(),
        109 => sys::sys_setpgid(a[0], a[1]),
        110 => sys::sys_getppid(),
        111 => sys::sys_getpgid(0),
        112 => sys::sys_setsid(),
        121 => sys::sys_getpgid(a[0]),
        124 => sys::sys_getsid(a[0]),
        127 => signal::sys_rt_sigpending(a[0], a[1]),
        128 => signal::sys_rt_sigtimedwait(a[0], a[1], a[2], a[3]),
        129 => signal::sys_rt_sigqueueinfo(a[0] as i32 as i64, a[1], a[2]),
        130 => signal::sys_rt_sigsuspend(a[0], a[1]),
        131 => signal::sys_sigaltstack(a[0], a[1]),
        133 => namei::sys_mknodat(AT_FDCWD, a[0], a[1], a[2]),
        137 => stat::sys_statfs(a[0], a[1]),
        138 => stat::sys_fstatfs(a[0], a[1]),
        140 => sched::sys_getpriority(a[0], a[1]),
        141 => sched::sys_setpriority(a[0], a[1], a[2]),
        142 => sched::sys_sched_setparam(a[0], a[1]),
        143 => sched::sys_sched_getparam(a[0], a[1]),
        144 => sched::sys_sched_setscheduler(a[0], a[1], a[2]),
        145 => sched::sys_sched_getscheduler(a[0]),
        146 => sched::sys_sched_get_priority_max(a[0]),
        147 => sched::sys_sched_get_priority_min(a[0]),
        148 => sched::sys_sched_rr_get_interval(a[0], a[1]),
        157 => sys::sys_prctl(a[0], a[1]),
        158 => sys::sys_arch_prctl(a[0], a[1]),
        160 => sys::sys_setrlimit(a[0], a[1]),
        161 => open::sys_chroot(a[0]),
        162 => crate::fs::sync::sys_sync(),
        165 => mount::sys_mount(a[0], a[1], a[2], a[3], a[4]),
        166 => mount::sys_umount2(a[0], a[1]),
        169 => crate::kernel::reboot::sys_reboot(a[0], a[1], a[2], a[3]),
        186 => sys::sys_gettid(),
        200 => signal::sys_tgkill(-1, a[0] as i32 as i64, a[1]),
        201 => time::sys_time(a[0]),
        202 => futex::sys_futex(a[0], a[1], a[2], a[3], a[4], a[5]),
        203 => sched::sys_sched_setaffinity(a[0], a[1], a[2]),
        204 => sched::sys_sched_getaffinity(a[0], a[1], a[2]),
        217 => readdir::sys_getdents64(a[0], a[1], a[2]),
        218 => sys::sys_set_tid_address(a[0]),
        220 => crate::ipc::sem::sys_semtimedop(a[0], a[1], a[2], a[3]),
        228 => time::sys_clock_gettime(a[0], a[1]),
        229 => time::sys_clock_getres(a[0], a[1]),
        230 => time::sys_clock_nanosleep(a[0], a[1], a[2], a[3]),
        231 => exit::sys_exit_group(a[0]),
        234 => signal::sys_tgkill(a[0] as i32 as i64, a[1] as i32 as i64, a[2]),
        240 => crate::ipc::mqueue::sys_mq_open(a[0], a[1], a[2], a[3]),
        241 => crate::ipc::mqueue::sys_mq_unlink(a[0]),
        242 => crate::ipc::mqueue::sys_mq_timedsend(a[0], a[1], a[2], a[3], a[4]),
        243 => crate::ipc::mqueue::sys_mq_timedreceive(a[0], a[1], a[2], a[3], a[4]),
        244 => crate::ipc::mqueue::sys_mq_notify(a[0], a[1]),
        245 => crate::ipc::mqueue::sys_mq_getsetattr(a[0], a[1], a[2]),
        247 => exit::sys_waitid(a[0], a[1], a[2], a[3], a[4]),
        257 => open::sys_openat(a[0], a[1], a[2], a[3]),
        258 => namei::sys_mkdirat(a[0], a[1], a[2]),
        259 => namei::sys_mknodat(a[0], a[1], a[2], a[3]),
        260 => open::sys_fchownat(a[0], a[1], a[2], a[3], a[4]),
        262 => stat::sys_newfstatat(a[0], a[1], a[2], a[3]),
        263 => namei::sys_unlinkat(a[0], a[1], a[2]),
        264 => namei::sys_renameat2(a[0], a[1], a[2], a[3], 0),
        265 => namei::sys_linkat(a[0], a[1], a[2], a[3], a[4]),
        266 => namei::sys_symlinkat(a[0], a[1], a[2]),
        267 => namei::sys_readlinkat(a[0], a[1], a[2], a[3]),
        268 => open::sys_fchmodat(a[0], a[1], a[2]),
        269 => open::sys_faccessat2(a[0], a[1], a[2], 0),
        270 => select::sys_pselect6(a[0], a[1], a[2], a[3], a[4], a[5]),
        271 => select::sys_ppoll(a[0], a[1], a[2], a[3], a[4]),
        292 => fcntl::sys_dup3(a[0], a[1], a[2]),
        293 => pipe::sys_pipe2(a[0], a[1]),
        295 => rw::sys_preadv(a[0], a[1], a[2], a[3] as i64),
        296 => rw::sys_pwritev(a[0], a[1], a[2], a[3] as i64),
        302 => sys::sys_prlimit64(a[0], a[1], a[2], a[3]),
        309 => sched::sys_getcpu(a[0], a[1]),
        316 => namei::sys_renameat2(a[0], a[1], a[2], a[3], a[4]),
        318 => crate::drivers::random::sys_getrandom(a[0], a[1], a[2]),
        332 => stat::sys_statx(a[0], a[1], a[2], a[3], a[4]),
        334 => Err(ENOSYS), // rseq: musl and std cope without it
        435 => fork::sys_clone3(frame, a[0], a[1]),
        436 => open::sys_close_range(a[0], a[1], a[2]),
        439 => open::sys_faccessat2(a[0], a[1], a[2], a[3]),
        _ => {
            report_unknown(nr);
            Err(ENOSYS)
        }
    };
    match r {
        Ok(v) => v,
        Err(e) => -e,
    }
}

fn report_unknown(nr: u64) {
    let (word, bit) = ((nr / 64) as usize, nr % 64);
    if let Some(w) = REPORTED.get(word) {
        if w.fetch_or(1 << bit, Ordering::Relaxed) & (1 << bit) != 0 {
            return;
        }
    }
    let task = crate::kernel::task::current();
    crate::pr_warn!(
        "{}[{}]: unimplemented syscall {}",
        task.comm(),
        task.pid,
        nr
    );
}
