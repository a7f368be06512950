//! The workers: `worker_thread` and `process_one_work`, idle workers and their retirement,
//! creating workers when the pool needs one, and the scheduler's concurrency-management hooks.

use super::*;
use crate::kernel::task::TaskRef;

/// An item of `pwq` finished or was cancelled: free its active slot and let the next
/// inactive item in (`pwq_dec_nr_in_flight`, `pwq_activate_inactive_work`).
pub(super) fn pwq_dec_nr_active(inner: &mut PoolInner, pwq: &Arc<PoolWorkqueue>) {
    let st = inner.pwq(pwq.slot);
    st.nr_active -= 1;
    if st.nr_active < pwq.max_active {
        if let Some(next) = st.inactive.pop_front() {
            st.nr_active += 1;
            crate::trace::trace_workqueue_activate_work(next.addr());
            inner.worklist.push_back((next, pwq.clone()));
        }
    }
}

/// An item of `pwq` with flush color `color` is done (finished or cancelled): a flusher of
/// that color may be able to go on (`pwq_dec_nr_in_flight`).
pub(super) fn pwq_dec_nr_in_flight(inner: &mut PoolInner, pwq: &Arc<PoolWorkqueue>, color: u32) {
    inner.pwq(pwq.slot).in_flight[color as usize] -= 1;
    flush::wake_flushers();
}

/// Run one item on worker `id`, dropping the pool lock around it (`process_one_work`).
pub(super) fn process_one_work(
    pool: &'static WorkerPool,
    mut inner: MutexGuard<'static, PoolInner>,
    id: usize,
    (work, pwq): Queued,
) -> MutexGuard<'static, PoolInner> {
    // Running elsewhere in this pool: it goes behind that run, on that worker.
    if let Some(other) = inner.find_worker_executing_work(&work) {
        inner.worker(other).scheduled.push_back((work, pwq));
        return inner;
    }
    let w = inner.worker(id);
    w.current_work = Some(work.clone());
    w.current_color = work.color.load(Relaxed);
    w.desc = Some(pwq.wq_name.clone());
    w.current_pwq = Some(pwq);
    // Unbound pools have no running count: keep waking workers while items wait.
    if inner.counts().need_more_worker() {
        inner.wake_up_worker();
    }
    *work.pwq.lock() = None;
    work.pool.store(pool.index + 1, Release);
    // Clear PENDING and count the start (`set_work_pool_and_clear_pending`).
    work.data
        .fetch_add(WORK_STARTED_ONE - WORK_STRUCT_PENDING, AcqRel);
    drop(inner);

    crate::trace::trace_workqueue_execute_start(work.addr(), work.function);
    (work.func)();
    crate::trace::trace_workqueue_execute_end(work.addr(), work.function);
    // Our kernel does not preempt kernel code: a long run of items must yield here.
    crate::sched::cond_resched();

    let mut inner = pool.lock();
    let w = inner.worker(id);
    w.current_work = None;
    let pwq = w.current_pwq.take().expect("set above");
    let color = w.current_color;
    work_finished(&work);
    pwq_dec_nr_active(&mut inner, &pwq);
    pwq_dec_nr_in_flight(&mut inner, &pwq, color);
    inner
}

/// Mark worker `id` idle, arming the idle timer if the pool has too many
/// (`worker_enter_idle`).
pub(super) fn worker_enter_idle(pool: &'static WorkerPool, inner: &mut PoolInner, id: usize) {
    let now = jiffies();
    let w = inner.worker(id);
    w.flags |= WORKER_IDLE;
    w.last_active = now;
    inner.c.nr_idle += 1;
    inner.idle_list.push_front(id);
    if inner.counts().too_many_workers() && inner.idle_timer.is_none() {
        inner.idle_timer = Some(add_timer(now + IDLE_WORKER_TIMEOUT, move || {
            idle_worker_timeout(pool)
        }));
    }
}

/// `worker_leave_idle`.
pub(super) fn worker_leave_idle(inner: &mut PoolInner, id: usize) {
    inner.worker(id).flags &= !WORKER_IDLE;
    inner.c.nr_idle -= 1;
    inner.idle_list.retain(|&i| i != id);
}

/// The pool's idle timer: retire the idle workers that have been idle the longest, while
/// there are too many (`idle_worker_timeout`).
pub(super) fn idle_worker_timeout(pool: &'static WorkerPool) {
    let mut inner = pool.lock();
    inner.idle_timer = None;
    while inner.counts().too_many_workers() {
        let Some(&id) = inner.idle_list.back() else {
            break;
        };
        let expires = inner.worker(id).last_active + IDLE_WORKER_TIMEOUT;
        if jiffies() < expires {
            inner.idle_timer = Some(add_timer(expires, move || idle_worker_timeout(pool)));
            break;
        }
        destroy_worker(&mut inner, id);
    }
}

/// Tell idle worker `id` to exit (`destroy_worker`).
pub(super) fn destroy_worker(inner: &mut PoolInner, id: usize) {
    inner.c.nr_workers -= 1;
    inner.c.nr_idle -= 1;
    inner.idle_list.retain(|&i| i != id);
    let w = inner.worker(id);
    w.flags |= WORKER_DIE;
    crate::sched::wake_up_process(&w.task);
}

/// Fault injection for the rescuer self-test: `create_worker` fails while set, as when
/// memory runs out (Linux's `should_fail`).
static FAIL_CREATE_WORKER: AtomicBool = AtomicBool::new(false);

/// Make `create_worker` fail (or work again), for the rescuer self-test.
pub fn fail_create_worker(fail: bool) {
    FAIL_CREATE_WORKER.store(fail, Release);
}

/// Put `task` in `pool` as worker `id`, with `flags`; the caller holds
/// `WQ_POOL_ATTACH_MUTEX` and the pool lock (the bookkeeping of `worker_attach_to_pool`).
/// A worker of a disassociated pool, or of an unbound one, never counts as running.
pub(super) fn attach_worker(
    pool: &'static WorkerPool,
    inner: &mut PoolInner,
    id: usize,
    task: &TaskRef,
    flags: u32,
) {
    let unbound = pool.cpu.is_none() || inner.disassociated;
    task.worker_private
        .store(Worker { pool, id }.encode(), Release);
    if inner.workers.len() <= id {
        inner.workers.resize_with(id + 1, || None);
    }
    inner.workers[id] = Some(WorkerState {
        task: task.clone(),
        flags: flags | if unbound { WORKER_UNBOUND } else { 0 },
        sleeping: false,
        current_work: None,
        current_pwq: None,
        current_color: 0,
        scheduled: VecDeque::new(),
        desc: None,
        last_active: 0,
    });
}

/// Start a worker for `pool` and leave it idle (`create_worker`). A per-CPU pool's worker is
/// bound to the CPU, unless the CPU is offline: then it runs anywhere until the CPU is back.
pub(super) fn create_worker(pool: &'static WorkerPool) -> bool {
    let id = pool.lock().worker_ida.alloc();
    let name = worker_name(pool.cpu, pool.id.load(Relaxed), id, pool.highpri);
    let worker = Worker { pool, id };
    let task = if FAIL_CREATE_WORKER.load(Acquire) {
        None
    } else {
        crate::kernel::kthread::kthread_create(&name, move || worker_thread(worker))
    };
    let Some(task) = task else {
        pool.lock().worker_ida.free(id);
        crate::pr_err!("workqueue: cannot create {}", name);
        return false;
    };
    if pool.highpri {
        crate::sched::set_user_nice(&task, HIGHPRI_NICE_LEVEL);
    }
    let _attach = WQ_POOL_ATTACH_MUTEX.lock();
    if let Some(cpu) = pool.cpu.filter(|_| !pool.lock().disassociated) {
        crate::sched::kthread_bind(&task, cpu);
        crate::kernel::kthread::kthread_set_per_cpu(&task, Some(cpu));
    }
    let mut inner = pool.lock();
    attach_worker(pool, &mut inner, id, &task, WORKER_PREP);
    inner.c.nr_workers += 1;
    worker_enter_idle(pool, &mut inner, id);
    crate::sched::wake_up_process(&task);
    true
}

/// Create workers until one is idle for the work that waits (`maybe_create_worker`); the
/// pool lock is dropped meanwhile. If that takes long, the pool's mayday timer calls the
/// rescuers of the workqueues whose items wait.
pub(super) fn maybe_create_worker(
    pool: &'static WorkerPool,
    inner: MutexGuard<'static, PoolInner>,
) -> MutexGuard<'static, PoolInner> {
    drop(inner);
    let needed = || pool.lock().counts().need_to_create_worker();
    loop {
        mayday_timer_arm(pool, MAYDAY_INITIAL_TIMEOUT);
        loop {
            if create_worker(pool) || !needed() {
                break;
            }
            crate::kernel::timer_list::schedule_timeout(
                CREATE_COOLDOWN,
                crate::kernel::task::TASK_INTERRUPTIBLE,
            );
            if !needed() {
                break;
            }
        }
        mayday_timer_cancel(pool);
        let inner = pool.lock();
        // The new worker may have gone busy while the lock was dropped.
        if !inner.counts().need_to_create_worker() {
            return inner;
        }
        drop(inner);
    }
}

/// Become the pool's manager and create a worker if none is idle; false if another worker
/// manages already (`manage_workers`).
pub(super) fn manage_workers(
    pool: &'static WorkerPool,
    mut inner: MutexGuard<'static, PoolInner>,
) -> (MutexGuard<'static, PoolInner>, bool) {
    if inner.c.manager_active {
        return (inner, false);
    }
    inner.c.manager_active = true;
    let mut inner = maybe_create_worker(pool, inner);
    inner.c.manager_active = false;
    (inner, true)
}

/// The body of every `kworker` (`worker_thread`): take items off the pool's worklist while
/// concurrency management wants this worker running, else sleep idle.
#[inline(never)] // kept as a symbol: Linux's name, for probes
pub(super) fn worker_thread(worker: Worker) {
    let Worker { pool, id } = worker;
    let me = current();
    // Tell the scheduler that this is a workqueue worker (`set_pf_worker`).
    me.flags.fetch_or(PF_WQ_WORKER, AcqRel);
    loop {
        let mut inner = pool.lock();
        if inner.worker(id).flags & WORKER_DIE != 0 {
            me.flags.fetch_and(!PF_WQ_WORKER, AcqRel);
            me.worker_private.store(0, Release);
            inner.workers[id] = None;
            inner.worker_ida.free(id);
            drop(inner);
            me.set_comm("kworker/dying");
            return;
        }
        worker_leave_idle(&mut inner, id);
        loop {
            // recheck:
            if !inner.counts().need_more_worker() {
                break;
            }
            if !inner.c.may_start_working() {
                let (i, managed) = manage_workers(pool, inner);
                inner = i;
                if managed {
                    continue;
                }
            }
            // Leave PREP: from here on this worker counts as running.
            let (c, w) = inner.counts_and_worker(id);
            c.worker_clr_flags(&mut w.flags, WORKER_PREP | WORKER_REBOUND);
            loop {
                let Some(item) = inner.worklist.pop_front() else {
                    break;
                };
                inner.watchdog_ts = jiffies();
                inner = process_one_work(pool, inner, id, item);
                // `process_scheduled_works`.
                while let Some(item) = inner.worker(id).scheduled.pop_front() {
                    inner = process_one_work(pool, inner, id, item);
                }
                if !inner.counts().keep_working() {
                    break;
                }
            }
            let (c, w) = inner.counts_and_worker(id);
            c.worker_set_flags(&mut w.flags, WORKER_PREP);
            break;
        }
        // sleep: the state is set under the pool lock, and wakers hold it, so no wake-up
        // between here and schedule() is lost.
        worker_enter_idle(pool, &mut inner, id);
        me.state.store(TASK_IDLE, SeqCst);
        drop(inner);
        crate::sched::schedule();
    }
}

/// `task`'s pool, locked, and its worker ID, while it is a worker attached to the pool.
pub(super) fn lock_worker_pool(task: &Task) -> Option<(MutexGuard<'static, PoolInner>, usize)> {
    let Worker { pool, id } = Worker::of(task)?;
    let inner = pool.lock();
    inner.workers.get(id)?.as_ref()?;
    Some((inner, id))
}

/// From `schedule()`: worker `task` is about to block. If it was running and the pool has
/// work but no other running worker, wake an idle one (`wq_worker_sleeping`).
pub fn wq_worker_sleeping(task: &Task) {
    let Some((mut inner, id)) = lock_worker_pool(task) else {
        return;
    };
    let (c, w) = inner.counts_and_worker(id);
    if w.flags & WORKER_NOT_RUNNING != 0 || w.sleeping {
        return;
    }
    w.sleeping = true;
    c.nr_running -= 1;
    if inner.counts().need_more_worker() {
        inner.wake_up_worker();
    }
}

/// From `schedule()`: worker `task` runs again; count it if it was counted before it slept
/// (`wq_worker_running`).
pub fn wq_worker_running(task: &Task) {
    let Some((mut inner, id)) = lock_worker_pool(task) else {
        return;
    };
    let (c, w) = inner.counts_and_worker(id);
    if w.sleeping && w.flags & WORKER_NOT_RUNNING == 0 {
        c.nr_running += 1;
    }
    w.sleeping = false;
}

/// The name /proc and `ps` show for `task`: a worker's comm with the workqueue it serves or
/// last served (`wq_worker_comm`); any other task's comm.
pub fn wq_worker_comm(task: &Task) -> String {
    let comm = task.comm();
    let Some((mut inner, id)) = lock_worker_pool(task) else {
        return comm;
    };
    let w = inner.worker(id);
    match &w.desc {
        Some(desc) => format_worker_comm(&comm, worker_desc(desc), w.current_work.is_some()),
        None => comm,
    }
}
