//! Robust futexes (Linux's kernel/futex/core.c `exit_robust_list` and syscalls.c): a thread
//! registers the head of a user-space list of the futex locks it holds; when it exits or
//! execs, the kernel walks that list and marks each lock it still owns `FUTEX_OWNER_DIED`,
//! waking a waiter, so that a glibc robust mutex's next locker gets `EOWNERDEAD` instead of
//! waiting forever.
//!
//! ```text
//! struct robust_list_head { robust_list *list; long futex_offset; robust_list *list_op_pending; }
//! ```
//! Each entry points to the next (the list ends where it points back at the head); the futex
//! word is at `entry + futex_offset`; bit 0 of an entry pointer marks a PI futex.

use core::sync::atomic::Ordering;

use crate::kernel::errno::*;
use crate::kernel::task::{current, Task};
use crate::kernel::tasklist;
use crate::mm::usercopy::{read_user, write_user};

/// `sizeof(struct robust_list_head)` on x86_64.
const ROBUST_LIST_HEAD_LEN: u64 = 24;
/// At most this many entries are walked (a looping list must not hang the exit).
const ROBUST_LIST_LIMIT: usize = 2048;

const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

pub fn sys_set_robust_list(head: u64, len: u64) -> KResult<i64> {
    if len != ROBUST_LIST_HEAD_LEN {
        return Err(EINVAL);
    }
    current().robust_list.store(head, Ordering::Relaxed);
    Ok(0)
}

pub fn sys_get_robust_list(pid: u64, head_ptr: u64, len_ptr: u64) -> KResult<i64> {
    let pid = pid as i32;
    let head = if pid == 0 {
        current().robust_list.load(Ordering::Relaxed)
    } else {
        let t = tasklist::find_task(pid).ok_or(ESRCH)?;
        // PTRACE_MODE_READ: the same user, or root.
        let me = current().cred.lock().euid;
        if me != 0 && me != t.cred.lock().uid {
            return Err(EPERM);
        }
        t.robust_list.load(Ordering::Relaxed)
    };
    write_user(len_ptr, &ROBUST_LIST_HEAD_LEN)?;
    write_user(head_ptr, &head)?;
    Ok(0)
}

/// `handle_futex_death`: if `t` still owns the futex at `uaddr`, mark its owner dead (keeping
/// the waiters bit) and wake one waiter. A pending operation on an unowned word wakes too: the
/// thread may have died between releasing the lock and waking.
fn handle_futex_death(uaddr: u64, tid: u32, pending: bool) {
    let Ok(uval) = read_user::<u32>(uaddr) else {
        return;
    };
    if pending && uval == 0 {
        crate::kernel::futex::futex_wake_addr(uaddr, 1);
        return;
    }
    if uval & FUTEX_TID_MASK != tid {
        return;
    }
    let mval = (uval & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
    if write_user(uaddr, &mval).is_ok() && uval & FUTEX_WAITERS != 0 {
        crate::kernel::futex::futex_wake_addr(uaddr, 1);
    }
}

/// `exit_robust_list`: at exit and exec, release the robust futexes `t` holds, and forget the
/// list (a new program registers its own).
pub fn exit_robust_list(t: &Task) {
    let head = t.robust_list.swap(0, Ordering::Relaxed);
    if head == 0 || t.mm().is_none() {
        return;
    }
    let Ok([first, offset, pending]) = read_user::<[u64; 3]>(head) else {
        return;
    };
    let tid = t.pid as u32;
    let futex_of = |entry: u64| (entry & !1).wrapping_add(offset);
    let mut entry = first;
    for _ in 0..ROBUST_LIST_LIMIT {
        if entry & !1 == head {
            break;
        }
        // Read the next entry first: the owner-died store may let another thread free this one.
        let next = read_user::<u64>(entry & !1);
        // The pending entry is handled below, once.
        if entry != pending {
            handle_futex_death(futex_of(entry), tid, false);
        }
        match next {
            Ok(n) => entry = n,
            Err(_) => return,
        }
    }
    if pending != 0 {
        handle_futex_death(futex_of(pending), tid, true);
    }
}
