//! The tracepoints, under Linux's names (`include/trace/events/*.h`): `trace_<event>(..)` is an
//! inline test of the event's control byte; the record is built out of line, only when the host
//! enabled the event.

use abi::trace::{
    Comm, CpuhpEnter, CpuhpExit, DataLoc, HrtimerExpireEntry, HrtimerExpireExit, IrqHandlerEntry,
    IrqHandlerExit, Kfree, Kmalloc, MarkVictim, MmCompactionBegin, MmCompactionEnd,
    MmCompactionKcompactdWake, MmPageAlloc, MmPageFree, MmVmscanKswapdSleep, MmVmscanKswapdWake,
    PageFaultKernel, PageFaultUser, Ptr, SchedMigrateTask, SchedProcessExec, SchedProcessExit,
    SchedProcessFork, SchedProcessFree, SchedProcessWait, SchedSwitch, SchedWakeup, SchedWakeupNew,
    SignalDeliver, SignalGenerate, SoftirqEntry, SoftirqExit, SoftirqRaise, SysEnter, SysExit,
    TaskNewtask, TaskRename, TimerExpireEntry, TimerExpireExit, WorkqueueActivateWork,
    WorkqueueExecuteEnd, WorkqueueExecuteStart, WorkqueueQueueWork,
};

use crate::kernel::task::Task;

/// Defines `pub fn $name(args)`: the enabled test inline; the record built in a cold function
/// and written by the ring's fast path, or else built again in a second one that takes the slow
/// path (so the fast one keeps nothing around for it). `-> Event, frame ...` names the record
/// function's frame pointer for the body: `[frame + 8]` returns to the site. `-> Event as bool
/// fill` makes the function return whether it wrote the record.
macro_rules! tracepoint {
    // `=> { payload }`: built only once the record has its place in the ring.
    ($(#[$m:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ev:ty $(, $frame:ident)? => $body:block) => {
        tracepoint!(@define $(#[$m])* $name($($arg: $ty),*) -> $ev as (), $($frame)?,
            fast: |$($frame)?| super::ring::try_emit::<$ev>(&[], || $body),
            slow: |$($frame)?| (&[], $body));
    };
    // `fill { field: value, pid + prio: pair, .. }`: each value read and stored into the ring
    // in turn; a pair of adjacent i32 fields as one u64 (`PidPrio::pair`).
    ($(#[$m:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ev:ident $(as $ret:ident)? fill { $($field:ident $(+ $field2:ident)?: $val:expr),* $(,)? }) => {
        tracepoint!(@define $(#[$m])* $name($($arg: $ty),*) -> $ev as ($($ret)?), ,
            fast: | | super::ring::try_fill::<$ev>(|w| { $( put!(w, $ev, $field $(+ $field2)?, $val); )* }),
            slow: | | (&[], super::ring::Payload::<$ev>::build(|w| { $( put!(w, $ev, $field $(+ $field2)?, $val); )* })));
    };
    // `{ (payload, extra) }`: with variable-length bytes, whose length sizes the record.
    ($(#[$m:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ev:ty $(, $frame:ident)? $body:block) => {
        tracepoint!(@define $(#[$m])* $name($($arg: $ty),*) -> $ev as (), $($frame)?,
            fast: |$($frame)?| { let (payload, extra): ($ev, &[u8]) = $body; super::ring::try_emit::<$ev>(extra, move || payload) },
            slow: |$($frame)?| { let (payload, extra): ($ev, &[u8]) = $body; (extra, payload) });
    };
    (@define $(#[$m:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ev:ty as ($($ret:ident)?), $($frame:ident)?,
        fast: |$($f:ident)?| $fast:expr, slow: |$($g:ident)?| $slow:expr) => {
        $(#[$m])*
        #[inline(always)]
        pub fn $name($($arg: $ty),*) -> outcome!($($ret)?) {
            // No entry NOP: a record function is never probed (the host refuses `trace::`),
            // and the NOP would be one more instruction per hit.
            #[cold]
            #[inline(never)]
            #[patchable_function_entry(prefix_nops = 0, entry_nops = 0)]
            fn record($($arg: $ty),*) -> outcome!($($ret)?) {
                $(let $f = crate::arch::stacktrace::frame_pointer();)?
                if $fast {
                    return Outcome::of(true);
                }
                // This frame's return address is the site: `kstack` starts there. Last, so
                // that the arguments stay in their registers for the tail call.
                record_slow($($arg,)* crate::arch::stacktrace::frame_pointer())
            }
            #[cold]
            #[inline(never)]
            fn record_slow($($arg: $ty,)* frame: u64) -> outcome!($($ret)?) {
                $(let $g = frame;)?
                // Most often only the task changed: describe it, then the fast path again.
                if super::ring::describe_current::<$ev>() && $fast {
                    return Outcome::of(true);
                }
                let (extra, payload): (&[u8], $ev) = $slow;
                Outcome::of(super::ring::emit(&payload, extra, super::ring::StackStart::frame(frame)))
            }
            if super::enabled(<$ev as abi::trace::Event>::ID) {
                record($($arg),*)
            } else {
                Outcome::of(false)
            }
        }
    };
}

/// What a tracepoint function returns: `()`, or `bool` (whether it wrote its record).
macro_rules! outcome {
    () => {
        ()
    };
    ($ret:ident) => {
        $ret
    };
}

/// A tracepoint's result from whether it wrote its record.
trait Outcome {
    fn of(recorded: bool) -> Self;
}

impl Outcome for () {
    #[inline(always)]
    fn of(_: bool) {}
}

impl Outcome for bool {
    #[inline(always)]
    fn of(recorded: bool) -> bool {
        recorded
    }
}

/// One field of a `fill` payload (see `tracepoint!`).
macro_rules! put {
    ($w:ident, $ev:ident, $field:ident, $val:expr) => {
        $w.put(core::mem::offset_of!($ev, $field), $val, |e| &e.$field)
    };
    ($w:ident, $ev:ident, $field:ident + $field2:ident, $val:expr) => {
        $w.put_pair(
            core::mem::offset_of!($ev, $field),
            core::mem::offset_of!($ev, $field2),
            $val,
            |e| &e.$field,
            |e| &e.$field2,
        )
    };
}

/// The kernel's `prio` of a task (120 + nice for fair tasks, 99 - rt_priority for real-time),
/// from its lock-free copy.
fn prio(t: &Task) -> i32 {
    t.prio.load(core::sync::atomic::Ordering::Relaxed)
}

fn comm(t: &Task) -> Comm {
    t.comm.get()
}

tracepoint! {
    /// `prev_state` is the state `prev` sleeps in (0 when it was preempted).
    /// True if it wrote the record (`ring::switch_task` lets the host derive the next task
    /// from it).
    pub fn trace_sched_switch(prev: &Task, next: &Task, prev_state: u64) -> SchedSwitch as bool fill {
        prev_comm: comm(prev),
        prev_pid + prev_prio: prev.prio.pair(),
        prev_state: prev_state as i64,
        next_comm: comm(next),
        next_pid + next_prio: next.prio.pair(),
    }
}

tracepoint! {
    pub fn trace_sched_wakeup(p: &Task, target_cpu: usize) -> SchedWakeup fill {
        comm: comm(p),
        pid + prio: p.prio.pair(),
        target_cpu: target_cpu as i32,
    }
}

tracepoint! {
    pub fn trace_sched_wakeup_new(p: &Task, target_cpu: usize) -> SchedWakeupNew fill {
        comm: comm(p),
        pid + prio: p.prio.pair(),
        target_cpu: target_cpu as i32,
    }
}

tracepoint! {
    pub fn trace_sched_process_fork(parent: &Task, child: &Task) -> SchedProcessFork => {
        SchedProcessFork {
            parent_comm: comm(parent),
            parent_pid: parent.pid,
            child_comm: comm(child),
            child_pid: child.pid,
        }
    }
}

tracepoint! {
    pub fn trace_sched_process_exec(p: &Task, old_pid: i32, filename: &str) -> SchedProcessExec {
        let len = filename.len().min(super::ring::MAX_STRING);
        (SchedProcessExec {
            filename: DataLoc::after(core::mem::size_of::<SchedProcessExec>(), len),
            pid: p.pid,
            old_pid,
        }, filename.as_bytes())
    }
}

tracepoint! {
    pub fn trace_sched_process_exit(p: &Task) -> SchedProcessExit => {
        SchedProcessExit { comm: comm(p), pid: p.pid, prio: prio(p) }
    }
}

tracepoint! {
    pub fn trace_sched_process_free(p: &Task) -> SchedProcessFree => {
        SchedProcessFree { comm: comm(p), pid: p.pid, prio: prio(p) }
    }
}

tracepoint! {
    /// `pid` is what `wait4` was asked for (Linux reports the pid struct's number, or 0).
    pub fn trace_sched_process_wait(me: &Task, pid: i32) -> SchedProcessWait => {
        SchedProcessWait { comm: comm(me), pid, prio: prio(me) }
    }
}

tracepoint! {
    pub fn trace_sched_migrate_task(p: &Task, orig_cpu: usize, dest_cpu: usize) -> SchedMigrateTask => {
        SchedMigrateTask {
            comm: comm(p),
            pid: p.pid,
            prio: prio(p),
            orig_cpu: orig_cpu as i32,
            dest_cpu: dest_cpu as i32,
        }
    }
}

tracepoint! {
    pub fn trace_task_newtask(p: &Task, clone_flags: u64) -> TaskNewtask => {
        TaskNewtask { pid: p.pid, comm: comm(p), clone_flags, oom_score_adj: 0 }
    }
}

tracepoint! {
    pub fn trace_task_rename(p: &Task, newcomm: &[u8; 16]) -> TaskRename => {
        TaskRename { pid: p.pid, oldcomm: comm(p), newcomm: *newcomm, oom_score_adj: 0 }
    }
}

tracepoint! {
    pub fn trace_irq_handler_entry(irq: u32, name: &str) -> IrqHandlerEntry {
        let len = name.len().min(super::ring::MAX_STRING);
        (IrqHandlerEntry {
            irq: irq as i32,
            name: DataLoc::after(core::mem::size_of::<IrqHandlerEntry>(), len),
        }, name.as_bytes())
    }
}

tracepoint! {
    /// `handled`: Linux's IRQ_HANDLED (1) or IRQ_NONE (0).
    pub fn trace_irq_handler_exit(irq: u32, handled: bool) -> IrqHandlerExit => {
        IrqHandlerExit { irq: irq as i32, ret: handled as i32 }
    }
}

tracepoint! {
    pub fn trace_softirq_raise(vec: usize) -> SoftirqRaise => {
        SoftirqRaise { vec: vec as u32 }
    }
}

tracepoint! {
    pub fn trace_softirq_entry(vec: usize) -> SoftirqEntry => {
        SoftirqEntry { vec: vec as u32 }
    }
}

tracepoint! {
    pub fn trace_softirq_exit(vec: usize) -> SoftirqExit => {
        SoftirqExit { vec: vec as u32 }
    }
}

tracepoint! {
    pub fn trace_hrtimer_expire_entry(hrtimer: u64, now_ns: u64, function: u64) -> HrtimerExpireEntry => {
        HrtimerExpireEntry { hrtimer: Ptr(hrtimer), now: now_ns as i64, function: Ptr(function) }
    }
}

tracepoint! {
    pub fn trace_hrtimer_expire_exit(hrtimer: u64) -> HrtimerExpireExit => {
        HrtimerExpireExit { hrtimer: Ptr(hrtimer) }
    }
}

tracepoint! {
    pub fn trace_timer_expire_entry(timer: u64, now: u64, function: u64, baseclk: u64) -> TimerExpireEntry => {
        TimerExpireEntry { timer: Ptr(timer), now, function: Ptr(function), baseclk }
    }
}

tracepoint! {
    pub fn trace_timer_expire_exit(timer: u64) -> TimerExpireExit => {
        TimerExpireExit { timer: Ptr(timer) }
    }
}

tracepoint! {
    pub fn trace_sys_enter(id: u64, args: &[u64; 6]) -> SysEnter => {
        SysEnter {
            id: id as i64,
            arg0: args[0],
            arg1: args[1],
            arg2: args[2],
            arg3: args[3],
            arg4: args[4],
            arg5: args[5],
        }
    }
}

tracepoint! {
    pub fn trace_sys_exit(id: u64, ret: i64) -> SysExit => {
        SysExit { id: id as i64, ret }
    }
}

tracepoint! {
    pub fn trace_page_fault_user(address: u64, ip: u64, error_code: u64) -> PageFaultUser => {
        PageFaultUser { address, ip, error_code }
    }
}

tracepoint! {
    pub fn trace_page_fault_kernel(address: u64, ip: u64, error_code: u64) -> PageFaultKernel => {
        PageFaultKernel { address, ip, error_code }
    }
}

tracepoint! {
    pub fn trace_mm_page_alloc(phys: u64, order: usize) -> MmPageAlloc => {
        MmPageAlloc { pfn: phys >> 12, order: order as u32 }
    }
}

/// Where the global allocator was called from, given the record function's `frame`: the
/// allocator's own return address, one frame out.
fn allocator_caller(frame: u64) -> u64 {
    crate::arch::stacktrace::caller_of_caller(frame)
}

tracepoint! {
    /// The global allocator takes no GFP flags (it never sleeps): `gfp_flags` is 0.
    pub fn trace_kmalloc(ptr: u64, bytes_req: usize, bytes_alloc: usize) -> Kmalloc, frame => {
        Kmalloc {
            call_site: Ptr(allocator_caller(frame)),
            ptr: Ptr(ptr),
            bytes_req: bytes_req as u64,
            bytes_alloc: bytes_alloc as u64,
            gfp_flags: 0,
            node: 0,
        }
    }
}

tracepoint! {
    pub fn trace_kfree(ptr: u64) -> Kfree, frame => {
        Kfree { call_site: Ptr(allocator_caller(frame)), ptr: Ptr(ptr) }
    }
}

tracepoint! {
    pub fn trace_mm_page_free(phys: u64, order: usize) -> MmPageFree => {
        MmPageFree { pfn: phys >> 12, order: order as u32 }
    }
}

tracepoint! {
    /// `result`: Linux's TRACE_SIGNAL_* (0 delivered, 1 ignored, 2 already pending, ...).
    pub fn trace_signal_generate(sig: u32, errno: i32, code: i32, target: &Task, group: bool, result: i32) -> SignalGenerate => {
        SignalGenerate {
            sig: sig as i32,
            errno,
            code,
            comm: comm(target),
            pid: target.pid,
            group: group as i32,
            result,
        }
    }
}

tracepoint! {
    pub fn trace_signal_deliver(sig: u32, errno: i32, code: i32, sa_handler: u64, sa_flags: u64) -> SignalDeliver => {
        SignalDeliver { sig: sig as i32, errno, code, sa_handler, sa_flags }
    }
}

tracepoint! {
    /// `req_cpu` as asked (WORK_CPU_UNBOUND for any), `cpu` the pool's.
    pub fn trace_workqueue_queue_work(work: u64, function: u64, workqueue: &str, req_cpu: usize, cpu: usize) -> WorkqueueQueueWork {
        let len = workqueue.len().min(super::ring::MAX_STRING);
        (WorkqueueQueueWork {
            work: Ptr(work),
            function: Ptr(function),
            workqueue: DataLoc::after(core::mem::size_of::<WorkqueueQueueWork>(), len),
            req_cpu: req_cpu as u32,
            cpu: cpu as u32,
        }, workqueue.as_bytes())
    }
}

tracepoint! {
    pub fn trace_workqueue_activate_work(work: u64) -> WorkqueueActivateWork => {
        WorkqueueActivateWork { work: Ptr(work) }
    }
}

tracepoint! {
    pub fn trace_workqueue_execute_start(work: u64, function: u64) -> WorkqueueExecuteStart => {
        WorkqueueExecuteStart { work: Ptr(work), function: Ptr(function) }
    }
}

tracepoint! {
    pub fn trace_workqueue_execute_end(work: u64, function: u64) -> WorkqueueExecuteEnd => {
        WorkqueueExecuteEnd { work: Ptr(work), function: Ptr(function) }
    }
}

tracepoint! {
    /// A hotplug state's callback is about to run for `cpu` on the way to `target` (`fun`: the
    /// callback's address).
    pub fn trace_cpuhp_enter(cpu: usize, target: u32, idx: u32, fun: u64) -> CpuhpEnter => {
        CpuhpEnter { cpu: cpu as u32, target: target as i32, idx: idx as i32, fun: Ptr(fun) }
    }
}

tracepoint! {
    /// It returned `ret`; `state` is where the CPU's state machine stands now.
    pub fn trace_cpuhp_exit(cpu: usize, state: u32, idx: u32, ret: i32) -> CpuhpExit => {
        CpuhpExit { cpu: cpu as u32, state: state as i32, idx: idx as i32, ret }
    }
}

tracepoint! {
    pub fn trace_mm_vmscan_kswapd_sleep(nid: i32) -> MmVmscanKswapdSleep => {
        MmVmscanKswapdSleep { nid }
    }
}

tracepoint! {
    pub fn trace_mm_vmscan_kswapd_wake(nid: i32, zid: i32, order: i32) -> MmVmscanKswapdWake => {
        MmVmscanKswapdWake { nid, zid, order }
    }
}

tracepoint! {
    /// Compaction of a zone starts: the zone's frames and where the scanners start.
    pub fn trace_mm_compaction_begin(
        zone_start: u64, migrate_pfn: u64, free_pfn: u64, zone_end: u64, sync: bool,
    ) -> MmCompactionBegin => {
        MmCompactionBegin { zone_start, migrate_pfn, free_pfn, zone_end, sync: sync as i32 }
    }
}

tracepoint! {
    /// It ended with `status` (Linux's `enum compact_result`), the scanners where they stopped.
    pub fn trace_mm_compaction_end(
        zone_start: u64, migrate_pfn: u64, free_pfn: u64, zone_end: u64, sync: bool, status: i32,
    ) -> MmCompactionEnd => {
        MmCompactionEnd { zone_start, migrate_pfn, free_pfn, zone_end, sync: sync as i32, status }
    }
}

tracepoint! {
    pub fn trace_mm_compaction_kcompactd_wake(
        nid: i32, order: i32, highest_zoneidx: i32,
    ) -> MmCompactionKcompactdWake => {
        MmCompactionKcompactdWake { nid, order, highest_zoneidx }
    }
}

tracepoint! {
    pub fn trace_mark_victim(pid: i32) -> MarkVictim => {
        MarkVictim { pid }
    }
}
