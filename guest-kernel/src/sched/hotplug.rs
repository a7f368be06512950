//! The scheduler's part in CPU hotplug (from Linux's kernel/sched/core.c): which CPUs a task
//! may be placed on while CPUs come and go, breaking the affinity of a task whose CPUs all
//! went away, and the hotplug callbacks: leave or join the active mask, and move every task
//! off a dying CPU (`migrate_tasks`, run by its stopper, so nothing else runs there).
//!
//! A task may be placed on an *active* CPU; a per-CPU kernel thread on an *online* one, as it
//! must keep running on its CPU (to park itself, or to run the teardown) after the CPU left
//! the active mask.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use super::core::{Rq, RUNQUEUES};
use super::migrate::{double_rq_lock, move_task};
use crate::arch::percpu;
use crate::kernel::cpu::{cpu_active_mask, cpu_online_mask, cpu_possible_mask, set_cpu_active};
use crate::kernel::cpumask::for_each_cpu;
use crate::kernel::kthread::kthread_is_per_cpu;
use crate::kernel::task::{Task, TaskRef};

fn is_per_cpu_kthread(p: &Task) -> bool {
    p.is_kthread() && kthread_is_per_cpu(p)
}

/// The CPUs that may take `p` now, whatever its own mask says.
pub(super) fn task_valid_mask(p: &Task) -> u64 {
    if is_per_cpu_kthread(p) {
        cpu_online_mask()
    } else {
        cpu_active_mask()
    }
}

/// Whether `cpu`, taken from `p`'s allowed CPUs, may still take it (the hotplug half of
/// `is_cpu_allowed`).
pub(super) fn is_cpu_valid(p: &Task, cpu: usize) -> bool {
    task_valid_mask(p) & (1 << cpu) != 0
}

/// A CPU for `p`, last on `cpu`, when none of its allowed CPUs can take it: the first allowed
/// one that can, else any, breaking its affinity and saying so for a user task
/// (`select_fallback_rq`). The caller holds `p.pi_lock`.
pub(super) fn select_fallback_rq(cpu: usize, p: &Task) -> usize {
    let valid = task_valid_mask(p);
    let mut se = p.se.lock();
    if let Some(dest) = for_each_cpu(se.cpus_allowed & valid).next() {
        return dest;
    }
    se.cpus_allowed = cpu_possible_mask();
    drop(se);
    if !p.is_kthread() {
        crate::pr_warn!(
            "process {} ({}) no longer affine to cpu{}",
            p.pid,
            p.comm(),
            cpu
        );
    }
    for_each_cpu(valid).next().unwrap_or(0)
}

/// `sched:active` up: tasks may be placed on `cpu` (`sched_cpu_activate`).
pub fn sched_cpu_activate(cpu: usize) {
    set_cpu_active(cpu, true);
}

/// `sched:active` down: no new task is placed on `cpu`; those there stay until it dies, and
/// sleepers that wake go elsewhere (`sched_cpu_deactivate`).
pub fn sched_cpu_deactivate(cpu: usize) {
    set_cpu_active(cpu, false);
}

/// `sched:starting` up, on `cpu` itself: its clock restarts from now (`sched_cpu_starting`).
pub fn sched_cpu_starting(cpu: usize) {
    RUNQUEUES[cpu].lock().clock = crate::arch::tsc::ns_since_boot();
}

fn is_curr(rq: &Rq, p: &TaskRef) -> bool {
    rq.curr.as_ref().is_some_and(|c| Arc::ptr_eq(c, p))
}

/// A task queued on `rq` other than the running one, real-time first.
fn queued_task(rq: &Rq) -> Option<TaskRef> {
    let mut queued = rq.rt.iter().chain(rq.cfs.iter().map(|(_, t)| t));
    queued.find(|t| !is_curr(rq, t)).cloned()
}

/// `sched:starting` down, on the dying `cpu` from its stopper: move every queued task to a
/// CPU that can take it (`sched_cpu_dying`, `migrate_tasks`). Only the stopper (running)
/// and idle stay.
pub fn sched_cpu_dying(cpu: usize) {
    loop {
        let Some(p) = queued_task(&RUNQUEUES[cpu].lock()) else {
            return;
        };
        let _pi = p.pi_lock.lock();
        let dest = select_fallback_rq(cpu, &p);
        let (mut src, mut dst) = double_rq_lock(cpu, dest);
        // Still there? (A waker or the balancer may have moved it meanwhile.)
        if p.cpu.load(Ordering::Acquire) == cpu
            && p.on_rq.load(Ordering::Acquire)
            && !is_curr(&src, &p)
        {
            move_task(&mut src, &mut dst, &p);
        }
    }
}

/// On a CPU about to halt: leave the address space its idle task borrowed (lazy TLB), which
/// could be freed while the CPU is away (`idle_task_exit`).
pub fn idle_task_exit() {
    crate::arch::paging::load_kernel_page_table();
    let old = RUNQUEUES[percpu::cpu_id()].lock().active_mm.take();
    drop(old);
}

/// Wait until `p` is off every run queue and CPU (`wait_task_inactive`): it has scheduled
/// out for good, not just set its state.
pub fn wait_task_inactive(p: &Task) {
    loop {
        if p.on_rq.load(Ordering::Acquire) {
            // Let it get to `schedule()` if it waits behind us on this CPU.
            super::yield_current();
        } else if p.on_cpu.load(Ordering::Acquire) {
            core::hint::spin_loop();
        } else {
            return;
        }
    }
}
