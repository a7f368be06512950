//! Rescuers (Linux's `rescuer_thread`, `send_mayday`, `pool_mayday_timeout`): the
//! guarantee that a WQ_MEM_RECLAIM workqueue makes progress when its pools cannot get new
//! workers, as when memory is short and the work at hand is what would free some.
//!
//! A pool whose manager has been failing to create a worker for `MAYDAY_INITIAL_TIMEOUT`
//! sends a mayday for every item waiting on its worklist, and again every `MAYDAY_INTERVAL`
//! while it keeps failing: each item's workqueue, if it has a rescuer, gets the item's pool
//! workqueue on its mayday list and its rescuer woken. The rescuer (a thread named after the
//! workqueue, as on Linux 6.1) attaches itself to that pool as an extra worker, takes all of
//! its workqueue's items off the worklist and runs them, then detaches.

use super::*;
use crate::kernel::task::TaskRef;

/// A workqueue's rescuer and its pool workqueues in distress (under `mayday`).
#[derive(Default)]
pub(super) struct Mayday {
    pub(super) rescuer: Option<TaskRef>,
    list: VecDeque<Arc<PoolWorkqueue>>,
}

/// Rescuers run at high priority, like the high-priority pools (`RESCUER_NICE_LEVEL`).
const RESCUER_NICE_LEVEL: i32 = -20;

/// Serializes workers joining and leaving pools with pools being disassociated from their
/// CPU and bound again (`wq_pool_attach_mutex`): a worker attached under it is bound the way
/// the pool is.
pub(super) static WQ_POOL_ATTACH_MUTEX: SleepingMutex = SleepingMutex::new();

/// The rescuer of `wq`, if it has one (for the self-test).
pub fn workqueue_rescuer(wq: &WorkqueueStruct) -> Option<TaskRef> {
    wq.mayday.lock().rescuer.clone()
}

/// Give `wq` its rescuer thread (`init_rescuer`).
pub(super) fn init_rescuer(wq: &Workqueue) {
    let w = wq.clone();
    let Some(task) = crate::kernel::kthread::kthread_create(&wq.name, move || rescuer_thread(w))
    else {
        crate::pr_err!(
            "workqueue: Failed to create a rescuer kthread for wq \"{}\"",
            wq.name
        );
        return;
    };
    wq.mayday.lock().rescuer = Some(task.clone());
    crate::sched::wake_up_process(&task);
}

/// Ask `pwq`'s rescuer for help; the caller holds the pool lock (`send_mayday`).
fn send_mayday(pwq: &Arc<PoolWorkqueue>) {
    let Some(wq) = pwq.wq.upgrade() else { return };
    let mut m = wq.mayday.lock();
    let Some(rescuer) = m.rescuer.clone() else {
        return;
    };
    if !pwq.on_mayday.swap(true, AcqRel) {
        m.list.push_back(pwq.clone());
        crate::sched::wake_up_process(&rescuer);
    }
}

/// The pool's mayday timer: still no worker, so every waiting item's workqueue is asked
/// for its rescuer; again after `MAYDAY_INTERVAL` until cancelled (`pool_mayday_timeout`).
fn pool_mayday_timeout(pool: &'static WorkerPool, gen: u64) {
    let mut inner = pool.lock();
    if inner.mayday_timer.is_none() || inner.mayday_gen != gen {
        return; // cancelled (or re-armed) while this was on its way
    }
    if inner.counts().need_to_create_worker() {
        for (_, pwq) in &inner.worklist {
            send_mayday(pwq);
        }
    }
    inner.mayday_timer = Some(add_timer(jiffies() + MAYDAY_INTERVAL, move || {
        pool_mayday_timeout(pool, gen)
    }));
}

/// Start the mayday timer, `delay` jiffies from now.
pub(super) fn mayday_timer_arm(pool: &'static WorkerPool, delay: u64) {
    let mut inner = pool.lock();
    inner.mayday_gen += 1;
    let gen = inner.mayday_gen;
    let timer = add_timer(jiffies() + delay, move || pool_mayday_timeout(pool, gen));
    if let Some(old) = inner.mayday_timer.replace(timer) {
        let _ = old.del_timer();
    }
}

/// Stop the mayday timer (`del_timer_sync`): a callback already on its way sees it gone.
pub(super) fn mayday_timer_cancel(pool: &'static WorkerPool) {
    let timer = pool.lock().mayday_timer.take();
    if let Some(t) = timer {
        let _ = t.del_timer();
    }
}

/// Join `pool` as an extra worker (`worker_attach_to_pool` for a rescuer): bound to the
/// pool's CPU if it is online, counted out of concurrency management.
fn rescuer_attach(pool: &'static WorkerPool, me: &TaskRef) -> usize {
    let _attach = WQ_POOL_ATTACH_MUTEX.lock();
    let cpu = pool.cpu.filter(|_| !pool.lock().disassociated);
    let mask = match cpu {
        Some(cpu) => {
            crate::kernel::kthread::kthread_set_per_cpu(me, Some(cpu));
            1 << cpu
        }
        None => u64::MAX,
    };
    let _ = crate::sched::set_cpus_allowed(me, mask);
    let mut inner = pool.lock();
    let id = inner.worker_ida.alloc();
    attach_worker(pool, &mut inner, id, me, WORKER_PREP);
    id
}

/// Leave the pool again (`worker_detach_from_pool`).
fn rescuer_detach(mut inner: MutexGuard<'static, PoolInner>, id: usize, me: &TaskRef) {
    inner.workers[id] = None;
    inner.worker_ida.free(id);
    me.worker_private.store(0, Release);
    drop(inner);
    let _attach = WQ_POOL_ATTACH_MUTEX.lock();
    crate::kernel::kthread::kthread_set_per_cpu(me, None);
}

/// Run `pwq`'s waiting items in its pool, as a worker of it.
fn rescue(wq: &WorkqueueStruct, pwq: &Arc<PoolWorkqueue>, me: &TaskRef) {
    let pool = pwq.pool;
    let id = rescuer_attach(pool, me);
    let mut inner = pool.lock();
    // Slurp in every item of this pool workqueue.
    let (mine, rest): (VecDeque<Queued>, VecDeque<Queued>) = core::mem::take(&mut inner.worklist)
        .into_iter()
        .partition(|(_, p)| Arc::ptr_eq(p, pwq));
    inner.worklist = rest;
    if !mine.is_empty() {
        inner.watchdog_ts = jiffies();
        inner.worker(id).scheduled = mine;
        while let Some(item) = inner.worker(id).scheduled.pop_front() {
            inner = process_one_work(pool, inner, id, item);
        }
        // Running them may have let more in from the inactive list: still in distress?
        if inner.pwq(pwq.slot).nr_active > 0 && inner.counts().need_to_create_worker() {
            let mut m = wq.mayday.lock();
            if m.rescuer.is_some() && !pwq.on_mayday.swap(true, AcqRel) {
                m.list.push_back(pwq.clone());
            }
        }
    }
    // With no worker running, someone must go on with the rest.
    if inner.counts().need_more_worker() {
        inner.wake_up_worker();
    }
    rescuer_detach(inner, id, me);
}

/// The body of a rescuer (`rescuer_thread`): serve the mayday list until told to stop, and
/// empty it before stopping.
fn rescuer_thread(wq: Workqueue) {
    let me = crate::kernel::task::current_arc();
    crate::sched::set_user_nice(&me, RESCUER_NICE_LEVEL);
    me.flags.fetch_or(PF_WQ_WORKER, AcqRel);
    loop {
        me.state.store(TASK_IDLE, SeqCst);
        let should_stop = crate::kernel::kthread::kthread_should_stop();
        loop {
            let next = {
                let mut m = wq.mayday.lock();
                let next = m.list.pop_front();
                if let Some(pwq) = &next {
                    pwq.on_mayday.store(false, Release);
                }
                next
            };
            let Some(pwq) = next else { break };
            me.state.store(crate::kernel::task::TASK_RUNNING, SeqCst);
            rescue(&wq, &pwq, &me);
        }
        if should_stop {
            me.state.store(crate::kernel::task::TASK_RUNNING, SeqCst);
            me.flags.fetch_and(!PF_WQ_WORKER, AcqRel);
            return;
        }
        crate::sched::schedule();
    }
}
