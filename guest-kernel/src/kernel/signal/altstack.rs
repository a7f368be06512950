//! Alternate signal stacks (`sigaltstack`), as Linux's kernel/signal.c and
//! include/linux/sched/signal.h keep them: the task's `[sas_ss_sp, sas_ss_flags, sas_ss_size]`,
//! with a size of 0 meaning "disabled".

use super::SA_ONSTACK;
use crate::kernel::errno::*;
use crate::kernel::task::Task;

/// `ss_flags` modes and flag bits.
pub const SS_ONSTACK: u32 = 1;
pub const SS_DISABLE: u32 = 2;
/// Disarm the stack while a handler runs on it; `rt_sigreturn` re-arms it.
pub const SS_AUTODISARM: u32 = 1 << 31;
pub const SS_FLAG_BITS: u32 = SS_AUTODISARM;
/// The x86_64 `MINSIGSTKSZ`.
pub const MINSIGSTKSZ: u64 = 2048;

/// `stack_t` (x86_64): `ss_flags` is an `int`, and the 4 bytes after it are padding that
/// user space need not clear.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct StackT {
    pub ss_sp: u64,
    pub ss_flags: i32,
    pub _pad: u32,
    pub ss_size: u64,
}

/// The task's current setting as a `stack_t`, flags as set (`__save_altstack`).
pub fn save_altstack(t: &Task) -> StackT {
    let [sp, flags, size] = *t.altstack.lock();
    StackT {
        ss_sp: sp,
        ss_flags: flags as u32 as i32,
        _pad: 0,
        ss_size: size,
    }
}

/// Forget the alternate stack (`sas_ss_reset`).
pub fn sas_ss_reset(t: &Task) {
    *t.altstack.lock() = [0, SS_DISABLE as u64, 0];
}

/// Whether `sp` is on the armed alternate stack (`on_sig_stack`). An SS_AUTODISARM stack
/// counts as not in use: by construction a handler on it has disarmed it.
pub fn on_sig_stack(t: &Task, sp: u64) -> bool {
    let [base, flags, size] = *t.altstack.lock();
    if flags as u32 & SS_AUTODISARM != 0 {
        return false;
    }
    // `__on_sig_stack`
    sp > base && sp - base <= size
}

/// SS_DISABLE, SS_ONSTACK or 0 for a task whose user stack pointer is `sp` (`sas_ss_flags`).
pub fn sas_ss_flags(t: &Task, sp: u64) -> u32 {
    if t.altstack.lock()[2] == 0 {
        SS_DISABLE
    } else if on_sig_stack(t, sp) {
        SS_ONSTACK
    } else {
        0
    }
}

/// Where a handler's frame goes (`sigsp`): the top of the alternate stack if the handler
/// asked for it (SA_ONSTACK) and it is set up and not already in use, else `sp`.
pub fn sigsp(t: &Task, sp: u64, sa_flags: u64) -> u64 {
    if sa_flags & SA_ONSTACK != 0 && sas_ss_flags(t, sp) == 0 {
        let [base, _, size] = *t.altstack.lock();
        return base + size;
    }
    sp
}

/// `do_sigaltstack`: report the current stack as seen from user stack pointer `sp` and, if
/// `ss` is given, replace it. Changing it while running on it is EPERM.
pub fn do_sigaltstack(t: &Task, ss: Option<StackT>, sp: u64, min_ss_size: u64) -> KResult<StackT> {
    let mut old = save_altstack(t);
    old.ss_flags = (sas_ss_flags(t, sp) | (old.ss_flags as u32 & SS_FLAG_BITS)) as i32;
    let Some(ss) = ss else { return Ok(old) };
    if on_sig_stack(t, sp) {
        return Err(EPERM);
    }
    let ss_flags = ss.ss_flags as u32;
    let ss_mode = ss_flags & !SS_FLAG_BITS;
    if ss_mode != SS_DISABLE && ss_mode != SS_ONSTACK && ss_mode != 0 {
        return Err(EINVAL);
    }
    let new = if ss_mode == SS_DISABLE {
        [0, ss_flags as u64, 0]
    } else {
        if ss.ss_size < min_ss_size {
            return Err(ENOMEM);
        }
        [ss.ss_sp, ss_flags as u64, ss.ss_size]
    };
    *t.altstack.lock() = new;
    Ok(old)
}

/// `restore_altstack` (from `rt_sigreturn`): put back the stack saved in the frame, with the
/// user stack pointer already restored to `sp`. Errors are dropped, as Linux does.
pub fn restore_altstack(t: &Task, ss: &StackT, sp: u64) {
    let _ = do_sigaltstack(t, Some(*ss), sp, MINSIGSTKSZ);
}
