//! Signals: dispositions (`rt_sigaction`), the blocked mask, and fatal faults.
//!
//! Delivery with signal frames comes with the process work; today a fault in user mode
//! terminates the task like an unhandled SIGSEGV does in Linux, with the same log line.

use crate::arch::entry::TrapFrame;
use crate::kernel::errno::*;
use crate::mm::usercopy::{read_user, write_user};

pub const SIGILL: u32 = 4;
pub const SIGTRAP: u32 = 5;
pub const SIGBUS: u32 = 7;
pub const SIGFPE: u32 = 8;
pub const SIGKILL: u32 = 9;
pub const SIGSEGV: u32 = 11;
pub const SIGSTOP: u32 = 19;
pub const NSIG: usize = 64;

/// `struct sigaction` as the x86_64 kernel ABI lays it out.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

pub struct SigHand {
    pub actions: [SigAction; NSIG],
    pub blocked: u64,
    pub altstack: [u64; 3],
}

impl Default for SigHand {
    fn default() -> Self {
        SigHand {
            actions: [SigAction::default(); NSIG],
            blocked: 0,
            altstack: [0, 2 /* SS_DISABLE */, 0],
        }
    }
}

pub fn sys_rt_sigaction(sig: u64, act: u64, oldact: u64, sigsetsize: u64) -> KResult<i64> {
    if sigsetsize != 8 || sig == 0 || sig as usize > NSIG {
        return Err(EINVAL);
    }
    let hand = &mut crate::kernel::task::current().sighand;
    let slot = sig as usize - 1;
    if oldact != 0 {
        write_user(oldact, &hand.actions[slot])?;
    }
    if act != 0 {
        if sig as u32 == SIGKILL || sig as u32 == SIGSTOP {
            return Err(EINVAL);
        }
        hand.actions[slot] = read_user(act)?;
    }
    Ok(0)
}

pub fn sys_rt_sigprocmask(how: u64, set: u64, oldset: u64, sigsetsize: u64) -> KResult<i64> {
    if sigsetsize != 8 {
        return Err(EINVAL);
    }
    let hand = &mut crate::kernel::task::current().sighand;
    if oldset != 0 {
        write_user(oldset, &hand.blocked)?;
    }
    if set != 0 {
        let set: u64 = read_user(set)?;
        let unblockable = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));
        hand.blocked = match how {
            0 => hand.blocked | set,
            1 => hand.blocked & !set,
            2 => set,
            _ => return Err(EINVAL),
        } & !unblockable;
    }
    Ok(0)
}

pub fn sys_sigaltstack(ss: u64, old: u64) -> KResult<i64> {
    let hand = &mut crate::kernel::task::current().sighand;
    if old != 0 {
        write_user(old, &hand.altstack)?;
    }
    if ss != 0 {
        let new: [u64; 3] = read_user(ss)?;
        if new[1] & !2 != 0 && new[1] != 0 {
            return Err(EINVAL);
        }
        hand.altstack = new;
    }
    Ok(0)
}

/// A user-mode fault with no handler able to run: terminate like Linux's default action.
pub fn force_sig_fault(frame: &mut TrapFrame, sig: u32, addr: u64) {
    let task = crate::kernel::task::current();
    if sig == SIGSEGV {
        crate::pr_info!(
            "{}[{}]: segfault at {:x} ip {:016x} sp {:016x} error {:x}",
            task.comm_str(),
            task.pid,
            addr,
            frame.rip,
            frame.rsp,
            frame.error_code
        );
    } else {
        crate::pr_info!(
            "{}[{}]: fatal signal {} at ip {:016x}",
            task.comm_str(),
            task.pid,
            sig,
            frame.rip
        );
    }
    crate::kernel::exit::do_exit_signal(sig);
}

/// Work before returning to user mode (signal delivery will hook in here).
pub fn exit_to_user_mode(_frame: &mut TrapFrame) {}
