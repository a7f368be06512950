//! Worker pools across CPU hotplug (Linux's `workqueue_offline_cpu` / `workqueue_online_cpu`,
//! `unbind_workers`, `rebind_workers`).
//!
//! Items queued for a CPU must still run while it is offline, so its pools are not stopped
//! but *disassociated*: their workers get WORKER_UNBOUND, may run on any CPU, and no longer
//! count for concurrency management (the pool's `nr_running` is zeroed, so every waiting
//! item gets a worker at once). When the CPU is back its workers are bound to it again and
//! rejoin concurrency management at their next item (WORKER_REBOUND until then).

use super::*;
use crate::kernel::kthread::kthread_set_per_cpu;
use crate::kernel::task::TaskRef;

/// The tasks of `pool`'s workers (idle, busy, and an attached rescuer).
fn pool_workers(inner: &PoolInner) -> Vec<TaskRef> {
    inner
        .workers
        .iter()
        .flatten()
        .map(|w| w.task.clone())
        .collect()
}

/// Let `pool`'s workers run anywhere, unmanaged (`unbind_workers`).
fn unbind_workers(pool: &'static WorkerPool) {
    let _attach = WQ_POOL_ATTACH_MUTEX.lock();
    let tasks = {
        let mut inner = pool.lock();
        inner.disassociated = true;
        for w in inner.workers.iter_mut().flatten() {
            w.flags |= WORKER_UNBOUND;
        }
        // The scheduler hooks no longer count these workers: start from zero, so that
        // `need_more_worker` holds while items wait and a blocked item stalls nothing.
        inner.c.nr_running = 0;
        if inner.counts().need_more_worker() {
            inner.wake_up_worker();
        }
        pool_workers(&inner)
    };
    for t in &tasks {
        kthread_set_per_cpu(t, None);
        let _ = crate::sched::set_cpus_allowed(t, u64::MAX);
    }
}

/// Bind `pool`'s workers to its CPU again (`rebind_workers`).
fn rebind_workers(pool: &'static WorkerPool, cpu: usize) {
    let _attach = WQ_POOL_ATTACH_MUTEX.lock();
    let tasks = pool_workers(&pool.lock());
    for t in &tasks {
        // Per-CPU first: the CPU is online but not yet active, which only per-CPU kernel
        // threads may use.
        kthread_set_per_cpu(t, Some(cpu));
        let _ = crate::sched::set_cpus_allowed(t, 1 << cpu);
    }
    let mut inner = pool.lock();
    inner.disassociated = false;
    for w in inner.workers.iter_mut().flatten() {
        // UNBOUND becomes REBOUND: still not counted, until the worker's next item.
        w.flags = (w.flags & !WORKER_UNBOUND) | WORKER_REBOUND;
    }
}

/// `workqueue:online` down, on the CPU going offline (`workqueue_offline_cpu`).
pub fn workqueue_offline_cpu(cpu: usize) {
    for highpri in [false, true] {
        unbind_workers(cpu_pool(cpu, highpri));
    }
}

/// `workqueue:online` up, on the CPU coming back (`workqueue_online_cpu`).
pub fn workqueue_online_cpu(cpu: usize) {
    for highpri in [false, true] {
        rebind_workers(cpu_pool(cpu, highpri), cpu);
    }
}
