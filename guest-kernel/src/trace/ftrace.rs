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
use crate::arch::percpu;
use crate::kernel::task::Task;

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

    /// The innermost hooked return, left on the stack until [`RetStack::drop_top`].
    fn top(&self) -> Option<&RetFrame> {
        let depth = self.depth.load(Ordering::Relaxed).checked_sub(1)?;
        self.frames.get(depth)
    }

    fn drop_top(&self) {
        let depth = self.depth.load(Ordering::Relaxed);
        self.depth.store(depth.saturating_sub(1), Ordering::Relaxed);
    }
}

impl Default for RetStack {
    fn default() -> Self {
        Self::new()
    }
}

/// The running task, in one `%gs` load: the host patches functions only once the rings
/// exist, after every CPU's `%gs` is set up.
#[inline(always)]
fn current() -> Option<&'static Task> {
    // SAFETY: a non-zero `current` is a task kept alive while it runs on this CPU (see
    // `kernel::task::try_current`), and this runs on its CPU with interrupts off.
    unsafe { (percpu::current_task_raw() as *const Task).as_ref() }
}

/// A patched function was entered (called by a trampoline, interrupts off). The record goes
/// straight from `regs` into the ring ([`super::ring::try_emit`], the tracepoints' fast path);
/// anything else (a filter, a stack, a task change, a full ring) is [`entry_slow`].
#[no_mangle]
#[patchable_function_entry(prefix_nops = 0, entry_nops = 0)]
extern "C" fn ftrace_handler(regs: &mut FtraceRegs, mode: u64) {
    if !ftrace::recursion_trylock() {
        return;
    }
    // The ring's fast path reads no control byte (a tracepoint site tests it): this is the
    // site.
    if mode & FTRACE_ENTRY != 0
        && super::enabled(FtraceFunction::ID)
        && !super::ring::try_emit(&[], || entry_record(regs))
    {
        entry_slow(regs);
    }
    if mode & FTRACE_RETURN != 0 && super::enabled(FtraceFuncgraphExit::ID) {
        hook_return(regs);
    }
    ftrace::recursion_unlock();
}

#[inline(always)]
fn entry_record(regs: &FtraceRegs) -> FtraceFunction {
    let [arg0, arg1, arg2, arg3, arg4, arg5] = regs.args;
    FtraceFunction {
        ip: Ptr(regs.ip()),
        parent_ip: Ptr(regs.parent_ip),
        arg0,
        arg1,
        arg2,
        arg3,
        arg4,
        arg5,
    }
}

#[cold]
#[inline(never)]
fn entry_slow(regs: &FtraceRegs) {
    if !super::enabled(FtraceFunction::ID) {
        return;
    }
    // The probed function has no frame yet: it and its caller, then the caller's frames.
    let stack = super::ring::StackStart {
        leading: Some([regs.ip(), regs.parent_ip]),
        frame: regs.rbp,
        skip: 0,
    };
    if !super::ring::describe_current::<FtraceFunction>()
        || !super::ring::try_emit(&[], || entry_record(regs))
    {
        super::ring::emit_at(&entry_record(regs), &[], stack, regs.ip(), &regs.args);
    }
}

/// Save the return address and the entry's facts, and make the function return to
/// `return_to_handler`.
#[inline(always)]
fn hook_return(regs: &mut FtraceRegs) {
    let Some(t) = current() else {
        return;
    };
    if t.ret_stack
        .push(regs.parent_ip, regs.ip(), cpu::rdtsc(), regs.args)
    {
        regs.parent_ip = ftrace::return_to_handler_addr();
    } else {
        // Its return record will never be written: the host reports it as lost.
        super::ring::count_lost();
    }
}

/// A hooked function returned with `retval` (called by `return_to_handler`, interrupts off);
/// returns where it really returns to.
#[no_mangle]
#[patchable_function_entry(prefix_nops = 0, entry_nops = 0)]
extern "C" fn ftrace_return_handler(retval: u64) -> u64 {
    // Locked first: a return probe on a function called below must not hook this call.
    let locked = ftrace::recursion_trylock();
    let Some(stack) = current().map(|t| &t.ret_stack) else {
        panic!("ftrace: a hooked return outside a task");
    };
    let Some(frame) = stack.top() else {
        panic!("ftrace: a hooked return with no return address saved");
    };
    if locked
        && super::enabled(FtraceFuncgraphExit::ID)
        && !super::ring::try_emit(&[], || exit_record(frame, retval))
    {
        exit_slow(frame, retval);
    }
    let ret = frame.ret.load(Ordering::Relaxed);
    stack.drop_top();
    if locked {
        ftrace::recursion_unlock();
    }
    ret
}

#[inline(always)]
fn exit_record(f: &RetFrame, retval: u64) -> FtraceFuncgraphExit {
    let arg = |i: usize| f.args[i].load(Ordering::Relaxed);
    FtraceFuncgraphExit {
        func: Ptr(f.func.load(Ordering::Relaxed)),
        parent_ip: Ptr(f.ret.load(Ordering::Relaxed)),
        retval,
        calltime: f.calltime.load(Ordering::Relaxed),
        arg0: arg(0),
        arg1: arg(1),
        arg2: arg(2),
        arg3: arg(3),
        arg4: arg(4),
        arg5: arg(5),
    }
}

#[cold]
#[inline(never)]
fn exit_slow(frame: &RetFrame, retval: u64) {
    if !super::enabled(FtraceFuncgraphExit::ID) {
        return;
    }
    // Back in the caller: the function, where it was called from, then the callers (past
    // this function's and the handler's returns into `return_to_handler`).
    let record = exit_record(frame, retval);
    let stack = super::ring::StackStart {
        leading: Some([record.func.0, record.parent_ip.0]),
        frame: crate::arch::stacktrace::frame_pointer(),
        skip: 2,
    };
    if !super::ring::describe_current::<FtraceFuncgraphExit>()
        || !super::ring::try_emit(&[], || record)
    {
        let args = core::array::from_fn(|i| frame.args[i].load(Ordering::Relaxed));
        super::ring::emit_at(&record, &[], stack, record.func.0, &args);
    }
}
