//! Moving tasks between CPUs: periodic and idle load balancing (Linux's `load_balance`),
//! `move_queued_task`, affinity changes (`set_cpus_allowed_ptr`, pushing a running task off
//! through the `migration/N` stopper) and `kthread_bind`.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use spin::MutexGuard;

use super::core::*;
use crate::arch::percpu;
use crate::arch::tsc;
use crate::kernel::cpu::{cpu_active_mask, cpu_online_mask, cpu_possible_mask};
use crate::kernel::cpumask::for_each_cpu;
use crate::kernel::task::{TaskRef, PF_NO_SETAFFINITY};

/// Lock two run queues, the lower CPU first so that two CPUs never wait on each other
/// (`double_rq_lock`); the guards come back in argument order.
pub(super) fn double_rq_lock(
    a: usize,
    b: usize,
) -> (MutexGuard<'static, Rq>, MutexGuard<'static, Rq>) {
    if a < b {
        let ga = RUNQUEUES[a].lock();
        (ga, RUNQUEUES[b].lock())
    } else {
        let gb = RUNQUEUES[b].lock();
        (RUNQUEUES[a].lock(), gb)
    }
}

/// Pull one task from the busiest CPU if it has at least two more runnable tasks than this
/// one (or this one is idle and it has a queued task).
/// SCHED_SOFTIRQ: balance this CPU's load (`run_rebalance_domains`).
pub fn run_rebalance_domains() {
    load_balance(crate::arch::percpu::cpu_id());
}

pub fn load_balance(this: usize) {
    // A CPU on its way out takes nothing more.
    let active = cpu_active_mask();
    if active & (1 << this) == 0 {
        return;
    }
    let mine = nr_running_on(this);
    let Some((busiest, most)) = for_each_cpu(active & !(1 << this))
        .map(|c| (c, nr_running_on(c)))
        .max_by_key(|&(_, n)| n)
    else {
        return;
    };
    if most < mine + 2 {
        return;
    }
    let (mut dst, mut src) = double_rq_lock(this, busiest);
    let (dst, src) = (&mut *dst, &mut *src);
    if src.nr_running < dst.nr_running + 2 {
        return;
    }
    let can_move = |t: &TaskRef| {
        !t.on_cpu.load(Ordering::Acquire) && t.se.lock().cpus_allowed & (1 << this) != 0
    };
    // Fair tasks from the right of the tree (they would wait longest), then real-time ones.
    let victim = src
        .cfs
        .iter()
        .rev()
        .map(|(_, t)| t)
        .find(|t| can_move(t))
        .or_else(|| src.rt.iter().find(|t| can_move(t)))
        .cloned();
    if let Some(p) = victim {
        move_task(src, dst, &p);
    }
}

/// Move queued (not running) `p` from `src` to `dst`; both locked.
pub(super) fn move_task(src: &mut Rq, dst: &mut Rq, p: &TaskRef) {
    deactivate_task(src, p);
    rebase_vruntime(&mut p.se.lock(), src.cpu, dst.cpu);
    crate::trace::trace_sched_migrate_task(p, src.cpu, dst.cpu);
    p.cpu.store(dst.cpu, Ordering::Relaxed);
    dst.clock = tsc::ns_since_boot();
    activate_task(dst, p, Enqueue::Migrated);
    check_preempt_curr(dst, p);
}

/// Move `p` to `dest` if it is queued on this CPU and not running (`move_queued_task`);
/// called by the stopper, which has preempted it.
pub fn move_queued_task(p: &TaskRef, dest: usize) -> bool {
    let this = percpu::cpu_id();
    if p.cpu.load(Ordering::Relaxed) != this || dest == this {
        return false;
    }
    let (mut src, mut dst) = double_rq_lock(this, dest);
    let (src, dst) = (&mut *src, &mut *dst);
    if !p.on_rq.load(Ordering::Acquire) || src.curr.as_ref().is_some_and(|c| Arc::ptr_eq(c, p)) {
        return false;
    }
    while p.on_cpu.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    move_task(src, dst, p);
    true
}

/// Change `p`'s allowed CPUs (`set_cpus_allowed_ptr`), moving it off a CPU it may no longer
/// use; a running task is moved by that CPU's stopper (`migration/N`). The mask is kept as
/// given (within the possible CPUs), so a CPU that comes back online is used again; it must
/// name a CPU that may take the task now (an active one; for a kernel thread, an online one).
pub fn set_cpus_allowed(p: &TaskRef, mask: u64) -> Result<(), ()> {
    let mask = mask & cpu_possible_mask();
    let valid = mask
        & if p.is_kthread() {
            cpu_online_mask()
        } else {
            cpu_active_mask()
        };
    if valid == 0 {
        return Err(());
    }
    let pi = p.pi_lock.lock();
    let rq = task_rq_lock(p);
    let cpu_nr = p.cpu.load(Ordering::Relaxed);
    p.se.lock().cpus_allowed = mask;
    if valid & (1 << cpu_nr) != 0 {
        return Ok(());
    }
    let dest = valid.trailing_zeros() as usize;
    let queued = p.on_rq.load(Ordering::Acquire);
    drop(rq);
    drop(pi);
    if queued {
        let task = p.clone();
        // A CPU that went away meanwhile has had its tasks moved already.
        super::stop_task::stop_one_cpu(cpu_nr, move || {
            move_queued_task(&task, dest);
        });
    }
    // A sleeping task goes to an allowed CPU when it wakes (select_task_rq).
    Ok(())
}

/// Bind a freshly created (or parked) kernel thread to `cpu` (`kthread_bind`): wait until it
/// is off every CPU, then set its mask and home; user space may not move it from there.
pub fn kthread_bind(p: &TaskRef, cpu_nr: usize) {
    while p.on_rq.load(Ordering::Acquire) || p.on_cpu.load(Ordering::Acquire) {
        schedule();
    }
    let _pi = p.pi_lock.lock();
    p.se.lock().cpus_allowed = 1 << cpu_nr;
    p.cpu.store(cpu_nr, Ordering::Relaxed);
    p.flags.fetch_or(PF_NO_SETAFFINITY, Ordering::Relaxed);
}
