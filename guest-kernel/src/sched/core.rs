//! Run queues, `schedule()`, `try_to_wake_up()` and the scheduler tick (Linux's
//! kernel/sched/core.c). Moving tasks between CPUs is in `migrate.rs`, which CPUs may take
//! a task while CPUs go offline and come back in `hotplug.rs`.
//!
//! Locking: each CPU's run queue has a spinlock; a task's `se` is only touched under the lock
//! of the run queue on `task.cpu`. The kernel runs with interrupts off (they are on in user
//! mode and in the idle loop), so the run-queue locks never meet an interrupt handler on the
//! same CPU. Lock order: task list → wait queue → `pi_lock` → run queue (lower CPU first).
//!
//! A switch releases the run-queue lock before switching stacks; `on_cpu` stays set on the
//! previous task until the next one runs (`finish_task_switch`), and every path that moves or
//! wakes a task onto another CPU waits for it to clear — Linux's `p->on_cpu` protocol.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use spin::{Mutex, MutexGuard};

use super::fair::{wakeup_preempt, CfsRq};
use super::rt::{RtRq, RR_TIMESLICE_NS};
use super::{Class, SchedEntity};
use crate::arch::percpu::{self, MAX_CPUS};
use crate::arch::{cpu, process, tsc};
use crate::kernel::cpu::{cpu_online, cpu_online_mask};
use crate::kernel::cpumask::for_each_cpu;
use crate::kernel::task::{Pid, Task, TaskRef, PF_IDLE, PF_WQ_WORKER, TASK_RUNNING};
use crate::mm::MmRef;

pub struct Rq {
    pub cpu: usize,
    pub(super) curr: Option<TaskRef>,
    idle: Option<TaskRef>,
    /// The stopper (`migration/N`) when it is runnable.
    stop: Option<TaskRef>,
    pub(super) cfs: CfsRq<Pid, TaskRef>,
    pub(super) rt: RtRq<TaskRef>,
    /// Runnable tasks including the running one (not counting idle).
    pub(super) nr_running: usize,
    pub(super) clock: u64,
    /// The task being switched away from, kept alive until `finish_task_switch`.
    prev: Option<TaskRef>,
    /// The address space loaded in CR3 (kernel threads borrow it: lazy TLB).
    pub(super) active_mm: Option<MmRef>,
    /// An address space to release once the switch is done (`mmdrop`).
    prev_mm: Option<MmRef>,
    pub nr_switches: u64,
    ticks: u64,
}

impl Rq {
    const fn new() -> Self {
        Rq {
            cpu: 0,
            curr: None,
            idle: None,
            stop: None,
            cfs: CfsRq::new(),
            rt: RtRq::new(),
            nr_running: 0,
            clock: 0,
            prev: None,
            active_mm: None,
            prev_mm: None,
            nr_switches: 0,
            ticks: 0,
        }
    }
}

pub(super) static RUNQUEUES: [Mutex<Rq>; MAX_CPUS] = [const { Mutex::new(Rq::new()) }; MAX_CPUS];
/// Lock-free mirrors for balancing decisions and /proc/loadavg.
static NR_RUNNING: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
static MIN_VRUNTIME: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Total context switches (for /proc/stat `ctxt`).
pub static NR_CONTEXT_SWITCHES: AtomicU64 = AtomicU64::new(0);
pub fn nr_running_on(cpu: usize) -> usize {
    NR_RUNNING[cpu].load(Ordering::Relaxed)
}

/// Runnable tasks on all CPUs (for /proc/loadavg and /proc/stat).
pub fn nr_running() -> usize {
    for_each_cpu(cpu_online_mask()).map(nr_running_on).sum()
}

/// Make the code running on this CPU its idle task (`init_idle`): the boot stack becomes
/// `swapper/N`'s stack, and the scheduler starts here.
pub fn init_idle(idle: TaskRef, cpu_nr: usize) {
    idle.flags.fetch_or(PF_IDLE, Ordering::Relaxed);
    idle.cpu.store(cpu_nr, Ordering::Relaxed);
    idle.on_cpu.store(true, Ordering::Relaxed);
    idle.se.lock().cpus_allowed = 1 << cpu_nr;
    percpu::set_current_task(Arc::as_ptr(&idle) as u64);
    let mut rq = RUNQUEUES[cpu_nr].lock();
    rq.cpu = cpu_nr;
    rq.idle = Some(idle.clone());
    rq.curr = Some(idle);
    rq.clock = tsc::ns_since_boot();
}

pub(super) fn update_curr(rq: &mut Rq) {
    let now = tsc::ns_since_boot();
    rq.clock = now;
    let Some(curr) = rq.curr.clone() else { return };
    if curr.is_idle() {
        return;
    }
    let mut se = curr.se.lock();
    let delta = now.saturating_sub(se.exec_start);
    se.exec_start = now;
    match se.class() {
        Class::Fair => {
            rq.cfs.update_curr(&mut se.fair, delta);
            MIN_VRUNTIME[rq.cpu].store(rq.cfs.min_vruntime, Ordering::Relaxed);
        }
        _ => {
            se.fair.sum_exec_runtime += delta;
            se.rr_left = se.rr_left.saturating_sub(delta);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Enqueue {
    Wakeup,
    New,
    Migrated,
    /// Put back after running (preempted or yielding).
    Requeue {
        head: bool,
    },
}

/// Queue `p` (not running) on `rq`.
fn enqueue_queued(rq: &mut Rq, p: &TaskRef, se: &mut SchedEntity, how: Enqueue) {
    match se.class() {
        Class::Stop => rq.stop = Some(p.clone()),
        Class::Rt => rq.rt.enqueue(
            se.rt_priority,
            p.clone(),
            how == Enqueue::Requeue { head: true },
        ),
        Class::Fair => rq.cfs.enqueue(&se.fair, p.pid, p.clone()),
    }
    se.last_queued = rq.clock;
}

pub(super) fn activate_task(rq: &mut Rq, p: &TaskRef, how: Enqueue) {
    let mut se = p.se.lock();
    if se.class() == Class::Fair {
        match how {
            Enqueue::Wakeup => rq.cfs.place_entity(&mut se.fair, false),
            Enqueue::New => {
                rq.cfs.account_enqueue(&se.fair);
                rq.cfs.place_entity(&mut se.fair, true);
                rq.cfs.account_dequeue(&se.fair);
            }
            _ => {}
        }
        rq.cfs.account_enqueue(&se.fair);
    }
    enqueue_queued(rq, p, &mut se, how);
    p.on_rq.store(true, Ordering::Release);
    rq.nr_running += 1;
    NR_RUNNING[rq.cpu].store(rq.nr_running, Ordering::Relaxed);
}

/// Take `p` off `rq` (it sleeps, exits or migrates). `p` may be the running task, which is
/// not in any queue.
pub(super) fn deactivate_task(rq: &mut Rq, p: &TaskRef) {
    let se = p.se.lock();
    let running = rq.curr.as_ref().is_some_and(|c| Arc::ptr_eq(c, p));
    match se.class() {
        Class::Stop => rq.stop = None,
        Class::Rt => {
            if !running {
                rq.rt.dequeue(se.rt_priority, |t| Arc::ptr_eq(t, p));
            }
        }
        Class::Fair => {
            if !running {
                rq.cfs.dequeue(&se.fair, p.pid);
            }
            rq.cfs.account_dequeue(&se.fair);
        }
    }
    p.on_rq.store(false, Ordering::Release);
    rq.nr_running -= 1;
    NR_RUNNING[rq.cpu].store(rq.nr_running, Ordering::Relaxed);
}

fn pick_next_task(rq: &mut Rq) -> TaskRef {
    let next = if let Some(stop) = rq.stop.take() {
        stop
    } else if let Some((_, t)) = rq.rt.pop_first() {
        t
    } else if let Some(t) = rq.cfs.pop_first() {
        t
    } else {
        return rq.idle.clone().expect("run queue without an idle task");
    };
    let mut se = next.se.lock();
    se.exec_start = rq.clock;
    se.fair.prev_sum_exec_runtime = se.fair.sum_exec_runtime;
    se.run_delay += rq.clock.saturating_sub(se.last_queued);
    se.pcount += 1;
    drop(se);
    next
}

/// Ask the CPU running `rq`'s current task to reschedule (`resched_curr`).
fn resched_curr(rq: &Rq) {
    let Some(curr) = rq.curr.as_ref() else { return };
    if curr.need_resched.swap(true, Ordering::AcqRel) {
        return;
    }
    if rq.cpu != percpu::cpu_id() {
        crate::arch::smp::send_reschedule(rq.cpu);
    }
}

/// Should newly runnable `p` preempt the running task (`check_preempt_curr`)?
pub(super) fn check_preempt_curr(rq: &mut Rq, p: &TaskRef) {
    let Some(curr) = rq.curr.clone() else { return };
    if curr.is_idle() {
        resched_curr(rq);
        return;
    }
    let (pc, pprio, pfair) = {
        let se = p.se.lock();
        (se.class(), se.rt_priority, se.fair)
    };
    let (cc, cprio) = {
        let se = curr.se.lock();
        (se.class(), se.rt_priority)
    };
    let preempt = match (pc, cc) {
        (a, b) if a < b => true,
        (Class::Rt, Class::Rt) => pprio > cprio,
        (Class::Fair, Class::Fair) => {
            update_curr(rq);
            wakeup_preempt(&curr.se.lock().fair, &pfair)
        }
        _ => false,
    };
    if preempt {
        resched_curr(rq);
    }
}

/// Pick a CPU for a waking or new task: its previous CPU if it is idle, else an idle allowed
/// CPU, else the allowed CPU with the fewest runnable tasks. With no allowed CPU left (they
/// went offline), the task's affinity is broken (`select_fallback_rq`).
fn select_task_rq(p: &Task, prev_cpu: usize) -> usize {
    let allowed = p.se.lock().cpus_allowed & super::hotplug::task_valid_mask(p);
    if allowed == 0 {
        return super::hotplug::select_fallback_rq(prev_cpu, p);
    }
    if allowed & (1 << prev_cpu) != 0 && nr_running_on(prev_cpu) == 0 {
        return prev_cpu;
    }
    let mut best = None;
    for cpu in for_each_cpu(allowed) {
        // Fewest runnable tasks first; on a tie, stay where the task was (cache-warm).
        let n = (nr_running_on(cpu), cpu != prev_cpu);
        if best.is_none_or(|(_, bn)| n < bn) {
            best = Some((cpu, n));
        }
    }
    best.map_or(prev_cpu, |(c, _)| c)
}

/// `select_task_rq`, then lock the chosen run queue and check that the CPU may still take
/// the task: a CPU going offline leaves the active mask before its queued tasks are moved
/// away, so a waker that chose it just before must not queue there after the move.
fn select_task_rq_locked(p: &Task, prev_cpu: usize) -> (usize, MutexGuard<'static, Rq>) {
    loop {
        let cpu = select_task_rq(p, prev_cpu);
        let rq = RUNQUEUES[cpu].lock();
        if super::hotplug::is_cpu_valid(p, cpu) {
            return (cpu, rq);
        }
    }
}

/// Re-base a fair task's vruntime from one run queue to another (`migrate_task_rq_fair`).
pub(super) fn rebase_vruntime(se: &mut SchedEntity, from: usize, to: usize) {
    if se.class() == Class::Fair && from != to {
        let v = se
            .fair
            .vruntime
            .saturating_sub(MIN_VRUNTIME[from].load(Ordering::Relaxed));
        se.fair.vruntime = v + MIN_VRUNTIME[to].load(Ordering::Relaxed);
        se.nr_migrations += 1;
    }
}

/// Wake `p` if its state is in `state_mask`. Returns whether it was woken.
pub fn try_to_wake_up(p: &TaskRef, state_mask: u32) -> bool {
    let _pi = p.pi_lock.lock();
    if p.state() & state_mask == 0 {
        return false;
    }
    if p.on_rq.load(Ordering::Acquire) {
        // Still queued: it set its state but has not switched out yet (`ttwu_runnable`).
        let rq = RUNQUEUES[p.cpu.load(Ordering::Relaxed)].lock();
        if p.on_rq.load(Ordering::Acquire) {
            p.state.store(TASK_RUNNING, Ordering::Release);
            crate::trace::trace_sched_wakeup(p, p.cpu.load(Ordering::Relaxed));
            drop(rq);
            return true;
        }
    }
    // Let the CPU that is switching it out finish saving its context.
    while p.on_cpu.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    let prev_cpu = p.cpu.load(Ordering::Relaxed);
    let (cpu, mut rq) = select_task_rq_locked(p, prev_cpu);
    rebase_vruntime(&mut p.se.lock(), prev_cpu, cpu);
    if cpu != prev_cpu {
        crate::trace::trace_sched_migrate_task(p, prev_cpu, cpu);
    }
    p.cpu.store(cpu, Ordering::Relaxed);
    p.state.store(TASK_RUNNING, Ordering::Release);
    rq.clock = tsc::ns_since_boot();
    activate_task(&mut rq, p, Enqueue::Wakeup);
    crate::trace::trace_sched_wakeup(p, cpu);
    check_preempt_curr(&mut rq, p);
    true
}

pub fn wake_up_process(p: &TaskRef) -> bool {
    try_to_wake_up(p, crate::kernel::task::TASK_NORMAL)
}

pub fn wake_up_state(p: &TaskRef, state: u32) -> bool {
    try_to_wake_up(p, state)
}

/// First wake-up of a forked task (`wake_up_new_task`): fork balancing picks the CPU.
pub fn wake_up_new_task(p: &TaskRef) {
    let _pi = p.pi_lock.lock();
    let parent_cpu = percpu::cpu_id();
    let (cpu, mut rq) = select_task_rq_locked(p, parent_cpu);
    rq.clock = tsc::ns_since_boot();
    {
        let mut se = p.se.lock();
        se.fair.vruntime = MIN_VRUNTIME[cpu].load(Ordering::Relaxed);
    }
    p.cpu.store(cpu, Ordering::Relaxed);
    p.state.store(TASK_RUNNING, Ordering::Release);
    activate_task(&mut rq, p, Enqueue::New);
    crate::trace::trace_sched_wakeup_new(p, cpu);
    check_preempt_curr(&mut rq, p);
}

/// The main scheduler function: pick the next task on this CPU and switch to it. Never
/// inlined, as Linux's is not: `kfunc:schedule` must see every call.
#[inline(never)]
pub fn schedule() {
    let irqs_were_on = cpu::interrupts_enabled();
    cpu::interrupts_disable();
    let tsk = crate::kernel::task::current();
    // One flag test for everyone but workqueue workers, whose pools track who runs.
    let wq_worker = tsk.flags.load(Ordering::Relaxed) & PF_WQ_WORKER != 0;
    if wq_worker && tsk.state() != TASK_RUNNING {
        // `sched_submit_work`: a worker about to block may have to hand over to another.
        crate::kernel::workqueue::wq_worker_sleeping(tsk);
    }
    __schedule();
    if wq_worker {
        // `sched_update_worker`.
        crate::kernel::workqueue::wq_worker_running(tsk);
    }
    if irqs_were_on {
        cpu::interrupts_enable();
    }
}

fn __schedule() {
    let cpu_nr = percpu::cpu_id();
    let mut rq = RUNQUEUES[cpu_nr].lock();
    update_curr(&mut rq);
    let prev = rq.curr.clone().expect("schedule() before init_idle");
    let state = prev.state();
    let mut voluntary = false;
    if state != TASK_RUNNING && !prev.is_idle() && prev.on_rq.load(Ordering::Relaxed) {
        if crate::kernel::signal::signal_pending_state(state, &prev) {
            prev.state.store(TASK_RUNNING, Ordering::Release);
        } else {
            deactivate_task(&mut rq, &prev);
            voluntary = true;
        }
    }
    if prev.on_rq.load(Ordering::Relaxed) && !prev.is_idle() {
        let mut se = prev.se.lock();
        // A real-time task that was preempted keeps its place; one whose RR slice ran out
        // or that yielded goes to the back.
        let head = se.class() == Class::Rt && se.rr_left > 0;
        if se.rr_left == 0 {
            se.rr_left = RR_TIMESLICE_NS;
        }
        if se.class() == Class::Fair {
            rq.cfs.update_min_vruntime(Some(&se.fair));
        }
        enqueue_queued(&mut rq, &prev, &mut se, Enqueue::Requeue { head });
    }
    let next = pick_next_task(&mut rq);
    prev.need_resched.store(false, Ordering::Relaxed);
    if Arc::ptr_eq(&prev, &next) {
        return;
    }
    if voluntary {
        prev.nvcsw.fetch_add(1, Ordering::Relaxed);
    } else {
        prev.nivcsw.fetch_add(1, Ordering::Relaxed);
    }
    rq.nr_switches += 1;
    NR_CONTEXT_SWITCHES.fetch_add(1, Ordering::Relaxed);
    next.on_cpu.store(true, Ordering::Release);
    let next_mm = if next.is_kthread() { None } else { next.mm() };
    let switch_mm = match (&next_mm, &rq.active_mm) {
        (Some(n), Some(a)) => !Arc::ptr_eq(n, a),
        (Some(_), None) => true,
        _ => false,
    };
    // The address space (Linux's `switch_mm_irqs_off` / `enter_lazy_tlb`): a kernel thread
    // borrows the one loaded.
    match &next_mm {
        Some(mm) => crate::mm::tlb::switch_mm_irqs_off(rq.active_mm.as_ref(), mm),
        None => crate::mm::tlb::enter_lazy_tlb(rq.active_mm.as_ref()),
    }
    if switch_mm {
        rq.prev_mm = core::mem::replace(&mut rq.active_mm, next_mm);
    } else {
        drop(next_mm);
    }
    rq.curr = Some(next.clone());
    rq.prev = Some(prev.clone());
    let (prev_p, next_p) = (Arc::as_ptr(&prev), Arc::as_ptr(&next));
    drop(prev);
    drop(next);
    drop(rq);
    // SAFETY: `rq.prev` and `rq.curr` keep both tasks alive until `finish_task_switch` on
    // this CPU, which runs only after the switch below; no Arc is left on this stack, so a
    // task that never comes back (it died) leaks nothing.
    let (prev, next) = unsafe { (&*prev_p, &*next_p) };
    // Still in `prev`'s context, as Linux's tracepoint is: the record is `prev`'s.
    let recorded = crate::trace::trace_sched_switch(
        prev,
        next,
        if voluntary {
            u64::from(state & 0xff)
        } else {
            0
        },
    );
    crate::trace::ring::switch_task(prev, next, recorded);
    percpu::set_current_task(next_p as u64);
    percpu::set_kernel_stack(next.stack_top());
    // SAFETY: interrupts are off, `prev` is running here, and `next` is not running anywhere
    // (it was queued here, and tasks move between CPUs only after `on_cpu` clears).
    unsafe {
        process::switch_to(
            &prev.thread,
            !prev.is_kthread(),
            &next.thread,
            !next.is_kthread(),
            prev_p as *const u8,
        );
    }
    finish_task_switch();
}

/// Second half of a switch, on the new task's stack: release what the old task kept busy.
fn finish_task_switch() {
    let mut rq = RUNQUEUES[percpu::cpu_id()].lock();
    let prev = rq.prev.take();
    let prev_mm = rq.prev_mm.take();
    drop(rq);
    if let Some(prev) = prev {
        prev.on_cpu.store(false, Ordering::Release);
        // A dead task's last run-queue reference goes here (`put_task_struct`).
        drop(prev);
    }
    drop(prev_mm);
}

/// Called by a new task the first time it runs (from `ret_from_fork_asm`).
#[no_mangle]
extern "C" fn schedule_tail(_prev: *const u8) {
    finish_task_switch();
    crate::kernel::fork::schedule_tail_user();
}

/// Give up the CPU but stay runnable.
pub fn yield_current() {
    let cpu_nr = percpu::cpu_id();
    {
        let mut rq = RUNQUEUES[cpu_nr].lock();
        update_curr(&mut rq);
        let curr = rq.curr.clone().unwrap();
        let mut se = curr.se.lock();
        match se.class() {
            // Move behind every other fair task (`yield_task_fair` skips to the right).
            Class::Fair => {
                if let Some(last) = rq.cfs.iter().last().map(|((v, _), _)| *v) {
                    se.fair.vruntime = se.fair.vruntime.max(last + 1);
                }
            }
            Class::Rt => se.rr_left = 0,
            _ => {}
        }
    }
    schedule();
}

/// Reschedule if asked to (preemption point on the way back to user mode).
pub fn cond_resched() {
    if let Some(t) = crate::kernel::task::try_current() {
        if t.need_resched.load(Ordering::Relaxed) {
            schedule();
        }
    }
}

/// The timer tick (`scheduler_tick`): charge the running task, preempt it if its slice is
/// used up, and balance load now and then. Returns the CPU time charged, for the CPU
/// itimers.
///
/// The charge is the runtime the task gathered since the tick last charged it, to the mode
/// the tick found it in, rather than one fixed tick: a tick that comes late (the host
/// descheduled this vCPU, or interrupts were off) still charges all the time that passed,
/// so the sampled utime/stime and the itimers keep up with `sum_exec_runtime`, which
/// `sched::cputime` splits in their ratio.
pub fn scheduler_tick(user_mode: bool) -> u64 {
    let cpu_nr = percpu::cpu_id();
    if !cpu_online(cpu_nr) {
        return 0;
    }
    let mut rq = RUNQUEUES[cpu_nr].lock();
    update_curr(&mut rq);
    rq.ticks += 1;
    let curr = rq.curr.clone().unwrap();
    let charged = if curr.is_idle() {
        0
    } else {
        let mut se = curr.se.lock();
        let ns = se.fair.sum_exec_runtime.saturating_sub(se.tick_charged);
        se.tick_charged = se.fair.sum_exec_runtime;
        ns
    };
    if user_mode {
        curr.utime_ns.fetch_add(charged, Ordering::Relaxed);
    } else {
        curr.stime_ns.fetch_add(charged, Ordering::Relaxed);
    }
    crate::kernel::time::account_cpu_tick(cpu_nr, user_mode, curr.is_idle());
    let resched = if curr.is_idle() {
        rq.nr_running > 0
    } else {
        let se = curr.se.lock();
        match se.class() {
            Class::Fair => rq.cfs.queued() > 0 && rq.cfs.check_preempt_tick(&se.fair),
            Class::Rt => se.policy == super::SCHED_RR && se.rr_left == 0,
            Class::Stop => false,
        }
    };
    if resched {
        resched_curr(&rq);
    }
    let idle = rq.nr_running == 0;
    let ticks = rq.ticks;
    drop(rq);
    if idle || ticks.is_multiple_of(4) {
        // Balance from SCHED_SOFTIRQ, after the tick (`trigger_load_balance`).
        crate::kernel::softirq::raise_softirq(crate::kernel::softirq::SCHED_SOFTIRQ);
    }
    charged
}

/// Lock the run queue `p` is on, following it if it moves meanwhile (`task_rq_lock`). The
/// caller holds `p.pi_lock`, which keeps wake-ups away but not load balancing, which moves
/// queued tasks under the two run-queue locks alone.
pub(super) fn task_rq_lock(p: &Task) -> MutexGuard<'static, Rq> {
    loop {
        let cpu_nr = p.cpu.load(Ordering::Acquire);
        let rq = RUNQUEUES[cpu_nr].lock();
        if p.cpu.load(Ordering::Acquire) == cpu_nr {
            return rq;
        }
    }
}

/// Change `p`'s scheduling attributes with `f`, taking it off the run queue around the change
/// and putting it back so that its new class and weight take effect (Linux's DEQUEUE_SAVE /
/// ENQUEUE_RESTORE pair), then preempt as needed. `rq` is `p`'s run queue, locked.
fn sched_change(rq: &mut Rq, p: &TaskRef, f: impl FnOnce(&mut SchedEntity)) {
    update_curr(rq);
    let queued = p.on_rq.load(Ordering::Acquire);
    let running = rq.curr.as_ref().is_some_and(|c| Arc::ptr_eq(c, p));
    if queued {
        deactivate_task(rq, p);
    }
    f(&mut p.se.lock());
    if !queued {
        return;
    }
    if running {
        // Running: account it without putting it in a queue.
        let se = p.se.lock();
        if se.class() == Class::Fair {
            rq.cfs.account_enqueue(&se.fair);
        }
        drop(se);
        p.on_rq.store(true, Ordering::Release);
        rq.nr_running += 1;
        NR_RUNNING[rq.cpu].store(rq.nr_running, Ordering::Relaxed);
        resched_curr(rq);
    } else {
        activate_task(rq, p, Enqueue::Migrated);
        check_preempt_curr(rq, p);
    }
}

/// Change scheduling attributes under the run-queue lock (`__sched_setscheduler`).
pub fn set_sched_attr(p: &TaskRef, f: impl FnOnce(&mut SchedEntity)) {
    let _pi = p.pi_lock.lock();
    let mut rq = task_rq_lock(p);
    sched_change(&mut rq, p, f);
    p.prio.store(p.se.lock().prio(), Ordering::Relaxed);
}

/// Set `p`'s nice value (`set_user_nice`). A fair task is requeued with its new weight; a
/// real-time task only records it, for when it returns to a fair policy.
pub fn set_user_nice(p: &TaskRef, nice: i32) {
    let _pi = p.pi_lock.lock();
    let mut rq = task_rq_lock(p);
    let class = p.se.lock().class();
    if class == Class::Fair {
        sched_change(&mut rq, p, |se| se.set_nice(nice));
    } else {
        // Its weight is not counted anywhere until it is fair again.
        p.se.lock().set_nice(nice);
    }
    p.prio.store(p.se.lock().prio(), Ordering::Relaxed);
}

/// The idle loop (`do_idle`): halt until there is work, then schedule; on a CPU taken
/// offline, play dead until it comes back.
pub fn cpu_idle_loop() -> ! {
    let me = crate::kernel::task::current();
    let this = percpu::cpu_id();
    loop {
        while !me.need_resched.load(Ordering::Acquire) {
            cpu::interrupts_disable();
            if me.need_resched.load(Ordering::Acquire) {
                break;
            }
            if !cpu_online(this) {
                // Taken down: nothing else runs here any more. Halt until brought back.
                crate::kernel::cpu::cpuhp_idle_dead(this);
                continue;
            }
            // `sti; hlt` so that a wake-up IPI between the check and the halt still wakes us.
            cpu::safe_halt();
            cpu::interrupts_disable();
        }
        schedule();
    }
}

/// Run-queue facts for /proc/<pid>/stat and friends: the CPU a task last ran on.
pub fn task_cpu(p: &Task) -> usize {
    p.cpu.load(Ordering::Relaxed)
}

/// Make a task that is running elsewhere notice pending work soon (`kick_process`).
pub fn kick_process(p: &Task) {
    let cpu_nr = p.cpu.load(Ordering::Relaxed);
    if p.on_cpu.load(Ordering::Acquire) && cpu_nr != percpu::cpu_id() {
        crate::arch::smp::send_reschedule(cpu_nr);
    }
}

/// The running task got a new address space (execve): load it and make it this CPU's
/// active one; the old one is released once no longer loaded.
pub fn activate_mm(mm: &MmRef) {
    let mut rq = RUNQUEUES[percpu::cpu_id()].lock();
    crate::mm::tlb::switch_mm_irqs_off(rq.active_mm.as_ref(), mm);
    let old = rq.active_mm.replace(mm.clone());
    drop(rq);
    drop(old);
}
