//! Small system calls about the process and the system: uname, ids, arch_prctl, futex,
//! affinity, resource limits.

use crate::arch::cpu::{msr, wrmsr};
use crate::kernel::errno::*;
use crate::kernel::task::current;
use crate::mm::usercopy::{copy_to_user, read_user, write_user};

pub const UTS_SYSNAME: &str = "Linux";
pub const UTS_RELEASE: &str = "6.1.0-watchvm";
pub const UTS_VERSION: &str = "#1 SMP PREEMPT watchvm 0.1.0";

pub fn getpid() -> i64 {
    current().pid as i64
}

pub fn sys_uname(buf: u64) -> KResult<i64> {
    let mut uts = [0u8; 65 * 6];
    let fields = [
        UTS_SYSNAME,
        "watchvm",
        UTS_RELEASE,
        UTS_VERSION,
        "x86_64",
        "(none)",
    ];
    for (i, f) in fields.iter().enumerate() {
        uts[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
    }
    copy_to_user(buf, &uts)?;
    Ok(0)
}

pub fn sys_arch_prctl(code: u64, addr: u64) -> KResult<i64> {
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    let task = current();
    match code {
        ARCH_SET_FS => {
            if addr >= crate::arch::USER_END {
                return Err(EPERM);
            }
            task.fs_base = addr;
            // SAFETY: a user-half FS base only affects user-mode %fs accesses.
            unsafe { wrmsr(msr::IA32_FS_BASE, addr) };
            Ok(0)
        }
        ARCH_GET_FS => {
            write_user(addr, &task.fs_base)?;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

pub fn sys_set_tid_address(addr: u64) -> KResult<i64> {
    let task = current();
    task.clear_child_tid = addr;
    Ok(task.pid as i64)
}

/// Futexes with a single thread: WAIT returns EAGAIN if the value changed, and otherwise
/// would sleep forever (a deadlock in the program); WAKE wakes nobody.
pub fn sys_futex(addr: u64, op: u64, val: u64) -> KResult<i64> {
    const FUTEX_WAIT: u64 = 0;
    const FUTEX_WAKE: u64 = 1;
    match op & 0x7f {
        FUTEX_WAIT => {
            let cur: u32 = read_user(addr)?;
            if cur != val as u32 {
                return Err(EAGAIN);
            }
            Err(EINTR)
        }
        FUTEX_WAKE => Ok(0),
        _ => Err(ENOSYS),
    }
}

pub fn sys_sched_getaffinity(_pid: u64, len: u64, mask: u64) -> KResult<i64> {
    if len < 8 {
        return Err(EINVAL);
    }
    let cpus = crate::arch::percpu::online_cpus().clamp(1, 64);
    let bits: u64 = if cpus == 64 {
        u64::MAX
    } else {
        (1 << cpus) - 1
    };
    write_user(mask, &bits)?;
    Ok(8)
}

pub fn sys_prlimit64(_pid: u64, resource: u64, new: u64, old: u64) -> KResult<i64> {
    const RLIMIT_STACK: u64 = 3;
    const RLIMIT_NOFILE: u64 = 7;
    if resource > 15 {
        return Err(EINVAL);
    }
    if old != 0 {
        let v: [u64; 2] = match resource {
            RLIMIT_STACK => [8 << 20, u64::MAX],
            RLIMIT_NOFILE => [1024, 4096],
            _ => [u64::MAX, u64::MAX],
        };
        write_user(old, &v)?;
    }
    if new != 0 {
        let _: [u64; 2] = read_user(new)?;
    }
    Ok(0)
}
