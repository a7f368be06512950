//! The function tracer, guest side (Linux's `kernel/trace/ftrace.c` and `fgraph.c`, reduced to
//! what runs at a hit): the handlers behind the trampolines of `arch/x86_64/ftrace.rs`, which
//! the host patches into function entries for `kfunc:`/`kprobe:` (a [`FtraceFunction`] record
//! with the argument registers) and `kretfunc:`/`kretprobe:` (a [`FtraceFuncgraphExit`] record
//! with the return value, written when the function returns).
//!
//! The guest decides nothing here: which functions are probed is only where the host put the
//! calls. The handlers and everything in this module are never patched (the host refuses
//! `trace::` functions, and the handlers have no entry NOP); a probe on a function they call is
//! stopped by the per-CPU recursion guard.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use abi::trace::{Event, FtraceFuncgraphExit, FtraceFunction, Ptr};

use crate::arch::cpu;
use crate::arch::ftrace::{self, FtraceRegs, FTRACE_ENTRY, FTRACE_RETURN};
use crate::kernel::task;

/// Hooked returns one task can have pending (nested probed calls). A deeper call is still
/// recorded at entry; its return is not hooked and counts as a lost record.
pub const RET_STACK_DEPTH: usize = 16;

/// One hooked return: where the function really returns, and what its entry saw.
struct RetFrame {
    ret: AtomicU64,
    func: AtomicU64,
    calltime: AtomicU64,
    args: [AtomicU64; 6],
}

/// What a hooked return needs back: the real return address and the entry's facts.
struct Returned {
    ret: u64,
    func: u64,
    calltime: u64,
    args: [u64; 6],
}

/// A task's stack of hooked returns (Linux's `task_struct.ret_stack`). Only the task itself
/// pushes and pops, with interrupts off; the atomics (relaxed) are plain moves that need no
/// `unsafe`.
pub struct RetStack {
    depth: AtomicUsize,
    frames: [RetFrame; RET_STACK_DEPTH],
}

impl RetStack {
    pub const fn new() -> Self {
        RetStack {
            depth: AtomicUsize::new(0),
            frames: [const {
                RetFrame {
                    ret: AtomicU64::new(0),
                    func: AtomicU64::new(0),
                    calltime: AtomicU64::new(0),
                    args: [const { AtomicU64::new(0) }; 6],
                }
            }; RET_STACK_DEPTH],
        }
    }

    fn push(&self, ret: u64, func: u64, calltime: u64, args: [u64; 6]) -> bool {
        let depth = self.depth.load(Ordering::Relaxed);
        let Some(f) = self.frames.get(depth) else {
            return false;
        };
        f.ret.store(ret, Ordering::Relaxed);
        f.func.store(func, Ordering::Relaxed);
        f.calltime.store(calltime, Ordering::Relaxed);
        for (slot, a) in f.args.iter().zip(args) {
            slot.store(a, Ordering::Relaxed);
        }
        self.depth.store(depth + 1, Ordering::Relaxed);
        true
    }

    fn pop(&self) -> Option<Returned> {
        let depth = self.depth.load(Ordering::Relaxed).checked_sub(1)?;
        let f = &self.frames[depth];
        self.depth.store(depth, Ordering::Relaxed);
        Some(Returned {
            ret: f.ret.load(Ordering::Relaxed),
            func: f.func.load(Ordering::Relaxed),
            calltime: f.calltime.load(Ordering::Relaxed),
            args: core::array::from_fn(|i| f.args[i].load(Ordering::Relaxed)),
        })
    }
}

impl Default for RetStack {
    fn default() -> Self {
        Self::new()
    }
}

/// A patched function was entered (called by a trampoline, interrupts off).
#[no_mangle]
#[patchable_function_entry(prefix_nops = 0, entry_nops = 0)]
extern "C" fn ftrace_handler(regs: &mut FtraceRegs, mode: u64) {
    if !ftrace::recursion_trylock() {
        return;
    }
    let (ip, args) = (regs.ip(), regs.args());
    if mode & FTRACE_ENTRY != 0 && super::enabled(FtraceFunction::ID) {
        let [arg0, arg1, arg2, arg3, arg4, arg5] = args;
        let record = FtraceFunction {
            ip: Ptr(ip),
            parent_ip: Ptr(regs.parent_ip),
            arg0,
            arg1,
            arg2,
            arg3,
            arg4,
            arg5,
        };
        // The probed function has no frame yet: it and its caller, then the caller's frames.
        let stack = super::ring::StackStart {
            leading: Some([ip, regs.parent_ip]),
            frame: regs.rbp,
            skip: 0,
        };
        if !super::ring::try_emit(&[], || record) {
            super::ring::emit(&record, &[], stack);
        }
    }
    if mode & FTRACE_RETURN != 0 && super::enabled(FtraceFuncgraphExit::ID) {
        if let Some(t) = task::try_current() {
            if t.ret_stack.push(regs.parent_ip, ip, cpu::rdtsc(), args) {
                regs.parent_ip = ftrace::return_to_handler_addr();
            } else {
                // Its return record will never be written: the host reports it as lost.
                super::ring::count_lost();
            }
        }
    }
    ftrace::recursion_unlock();
}

/// A hooked function returned with `retval` (called by `return_to_handler`, interrupts off);
/// returns where it really returns to.
#[no_mangle]
#[patchable_function_entry(prefix_nops = 0, entry_nops = 0)]
extern "C" fn ftrace_return_handler(retval: u64) -> u64 {
    // Locked first: a return probe on a function called below must not hook this call.
    let locked = ftrace::recursion_trylock();
    let Some(frame) = task::try_current().and_then(|t| t.ret_stack.pop()) else {
        panic!("ftrace: a hooked return with no return address saved");
    };
    if locked && super::enabled(FtraceFuncgraphExit::ID) {
        let [arg0, arg1, arg2, arg3, arg4, arg5] = frame.args;
        let record = FtraceFuncgraphExit {
            func: Ptr(frame.func),
            parent_ip: Ptr(frame.ret),
            retval,
            calltime: frame.calltime,
            arg0,
            arg1,
            arg2,
            arg3,
            arg4,
            arg5,
        };
        // Back in the caller: the function, where it was called from, then the callers
        // (past this handler's own return into `return_to_handler`).
        let stack = super::ring::StackStart {
            leading: Some([frame.func, frame.ret]),
            frame: crate::arch::stacktrace::frame_pointer(),
            skip: 1,
        };
        if !super::ring::try_emit(&[], || record) {
            super::ring::emit(&record, &[], stack);
        }
    }
    if locked {
        ftrace::recursion_unlock();
    }
    frame.ret
}
