//! The x86_64 system-call table: Linux's numbers, negative errno returns.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::entry::TrapFrame;
use crate::fs::{exec, read_write as rw};
use crate::kernel::errno::*;
use crate::kernel::{signal, sys, time};
use crate::mm::mmap_syscalls as mm;

/// One bit per syscall number already reported as unimplemented (log once each).
static REPORTED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

pub fn dispatch(frame: &mut TrapFrame, nr: u64, a: [u64; 6]) -> i64 {
    let r: KResult<i64> = match nr {
        0 => rw::sys_read(a[0], a[1], a[2]),
        1 => rw::sys_write(a[0], a[1], a[2]),
        2 => rw::sys_openat(-100i64 as u64, a[0], a[1], a[2]),
        3 => rw::sys_close(a[0]),
        4 => rw::sys_newfstatat(-100i64 as u64, a[0], a[1], 0),
        5 => rw::sys_fstat(a[0], a[1]),
        6 => rw::sys_newfstatat(-100i64 as u64, a[0], a[1], 0x100),
        7 => rw::sys_poll(a[0], a[1], a[2] as i64),
        8 => rw::sys_lseek(a[0], a[1] as i64, a[2]),
        9 => mm::sys_mmap(a[0], a[1], a[2], a[3], a[4] as i64, a[5]),
        10 => mm::sys_mprotect(a[0], a[1], a[2]),
        11 => mm::sys_munmap(a[0], a[1]),
        12 => mm::sys_brk(a[0]),
        13 => signal::sys_rt_sigaction(a[0], a[1], a[2], a[3]),
        14 => signal::sys_rt_sigprocmask(a[0], a[1], a[2], a[3]),
        16 => rw::sys_ioctl(a[0], a[1], a[2]),
        19 => rw::sys_readv(a[0], a[1], a[2]),
        20 => rw::sys_writev(a[0], a[1], a[2]),
        24 => Ok(0), // sched_yield: nothing else to run yet
        28 => Ok(0), // madvise: advice only
        39 => Ok(sys::getpid()),
        59 => exec::sys_execve(frame, a[0], a[1], a[2]),
        60 => crate::kernel::exit::do_exit(a[0] as i32),
        63 => sys::sys_uname(a[0]),
        79 => rw::sys_getcwd(a[0], a[1]),
        102 | 104 | 107 | 108 => Ok(0), // getuid, getgid, geteuid, getegid: root
        110 => Ok(0),                   // getppid: init's parent is the kernel
        131 => signal::sys_sigaltstack(a[0], a[1]),
        158 => sys::sys_arch_prctl(a[0], a[1]),
        186 => Ok(sys::getpid()), // gettid
        202 => sys::sys_futex(a[0], a[1], a[2]),
        204 => sys::sys_sched_getaffinity(a[0], a[1], a[2]),
        218 => sys::sys_set_tid_address(a[0]),
        228 => time::sys_clock_gettime(a[0], a[1]),
        231 => crate::kernel::exit::do_exit(a[0] as i32),
        257 => rw::sys_openat(a[0], a[1], a[2], a[3]),
        262 => rw::sys_newfstatat(a[0], a[1], a[2], a[3]),
        302 => sys::sys_prlimit64(a[0], a[1], a[2], a[3]),
        318 => crate::drivers::random::sys_getrandom(a[0], a[1], a[2]),
        334 => Err(ENOSYS), // rseq: musl and std cope without it
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
        task.comm_str(),
        task.pid,
        nr
    );
}
