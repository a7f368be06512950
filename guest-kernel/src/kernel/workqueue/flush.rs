//! Flushing and cancelling work items (`flush_work`, `cancel_work_sync`, ...): waiting for
//! the last queued instance by counting starts and finishes, and taking back a PENDING bit.

use super::*;

/// Flushers sleep here; woken whenever an item finishes while any wait.
static FLUSH_WAIT: WaitQueue = WaitQueue::new();
static NR_FLUSHERS: AtomicUsize = AtomicUsize::new(0);

/// Record that every started execution of `work` is over; under the pool lock of the pool
/// it ran or was queued on.
pub(super) fn work_finished(work: &Work) {
    work.finished.store(work.started(), SeqCst);
    if NR_FLUSHERS.load(SeqCst) > 0 {
        FLUSH_WAIT.wake_up_all();
    }
}

/// The execution count a flush of `work` must see finished: the running one, and the queued
/// one if any (`start_flush_work`). None if it was never queued.
pub(super) fn start_flush_work(work: &Work) -> Option<u64> {
    loop {
        let p = work.pool.load(Acquire);
        if p == 0 {
            return None;
        }
        let inner = pool_by_index(p - 1).lock();
        if work.pool.load(Acquire) != p {
            continue;
        }
        let queued = work.pwq.lock().is_some();
        let target = work.started() + queued as u64;
        drop(inner);
        return Some(target);
    }
}

/// Wait until the last queued instance of `work` has finished; true if it had to wait
/// (`flush_work`).
pub fn flush_work(work: &Arc<Work>) -> bool {
    let Some(target) = start_flush_work(work) else {
        return false;
    };
    let done = || work.finished.load(SeqCst) >= target;
    if done() {
        return false;
    }
    NR_FLUSHERS.fetch_add(1, SeqCst);
    let _ = FLUSH_WAIT.wait_event(TASK_UNINTERRUPTIBLE, false, done);
    NR_FLUSHERS.fetch_sub(1, SeqCst);
    true
}

/// Take the PENDING bit of `work`: stop its timer or take it off its queue. Ok(true) if it
/// was pending, Ok(false) if idle (the bit is ours either way); Err if it is between states
/// (being queued, or its timer firing) and the caller should retry (`try_to_grab_pending`).
pub(super) fn try_to_grab_pending(
    work: &Arc<Work>,
    dwork: Option<&DelayedWork>,
) -> Result<bool, ()> {
    if let Some(dw) = dwork {
        let timer = dw.timer.lock().take();
        if timer.is_some_and(|t| t.del_timer()) {
            return Ok(true);
        }
    }
    if work.data.fetch_or(WORK_STRUCT_PENDING, AcqRel) & WORK_STRUCT_PENDING == 0 {
        return Ok(false);
    }
    let p = work.pool.load(Acquire);
    if p == 0 {
        return Err(());
    }
    let pool = pool_by_index(p - 1);
    let mut inner = pool.lock();
    let pwq = work.pwq.lock().clone();
    let Some(pwq) = pwq.filter(|q| core::ptr::eq(q.pool, pool)) else {
        return Err(());
    };
    let is_it = |q: &Queued| Arc::ptr_eq(&q.0, work);
    let active = if let Some(i) = inner.worklist.iter().position(is_it) {
        inner.worklist.remove(i);
        true
    } else if let Some(w) = inner
        .workers
        .iter_mut()
        .flatten()
        .find(|w| w.scheduled.iter().any(is_it))
    {
        w.scheduled.retain(|q| !is_it(q));
        true
    } else {
        let st = &mut inner.pwqs[pwq.slot];
        let before = st.inactive.len();
        st.inactive.retain(|w| !Arc::ptr_eq(w, work));
        if st.inactive.len() == before {
            return Err(());
        }
        false
    };
    *work.pwq.lock() = None;
    if active {
        pwq_dec_nr_active(&mut inner, &pwq);
    }
    // The removed instance counts as started and done; PENDING stays, now ours.
    work.data.fetch_add(WORK_STARTED_ONE, AcqRel);
    if inner.find_worker_executing_work(work).is_none() {
        work_finished(work);
    }
    Ok(true)
}

pub(super) fn grab_pending(work: &Arc<Work>, dwork: Option<&DelayedWork>) -> bool {
    loop {
        match try_to_grab_pending(work, dwork) {
            Ok(pending) => return pending,
            Err(()) => core::hint::spin_loop(),
        }
    }
}

pub(super) fn release_pending(work: &Work) {
    work.data.fetch_and(!WORK_STRUCT_PENDING, AcqRel);
}

/// Take `work` off its queue if pending; true if it was (`cancel_work`).
pub fn cancel_work(work: &Arc<Work>) -> bool {
    let pending = grab_pending(work, None);
    release_pending(work);
    pending
}

/// Cancel `work` and wait for a run in progress; true if it was pending
/// (`cancel_work_sync`). Queueing it meanwhile fails.
pub fn cancel_work_sync(work: &Arc<Work>) -> bool {
    let pending = grab_pending(work, None);
    flush_work(work);
    release_pending(work);
    pending
}

/// Stop the timer or take the item off its queue, without waiting; true if it was pending
/// (`cancel_delayed_work`).
pub fn cancel_delayed_work(dwork: &DelayedWork) -> bool {
    let pending = grab_pending(&dwork.work, Some(dwork));
    release_pending(&dwork.work);
    pending
}

/// `cancel_delayed_work`, then wait for a run in progress (`cancel_delayed_work_sync`).
pub fn cancel_delayed_work_sync(dwork: &DelayedWork) -> bool {
    let pending = grab_pending(&dwork.work, Some(dwork));
    flush_work(&dwork.work);
    release_pending(&dwork.work);
    pending
}

/// Queue a waiting delayed item at once and wait for it (`flush_delayed_work`).
pub fn flush_delayed_work(dwork: &DelayedWork) -> bool {
    let timer = dwork.timer.lock().take();
    if timer.is_some_and(|t| t.del_timer()) {
        let target = dwork.target.lock().clone();
        if let Some((cpu, wq)) = target {
            __queue_work(cpu, &wq, &dwork.work);
        }
    }
    flush_work(&dwork.work)
}

/// Run `func` on every online CPU from its `events` worker and wait for all
/// (`schedule_on_each_cpu`).
pub fn schedule_on_each_cpu(func: fn()) {
    let works: Vec<Arc<Work>> = (0..online_cpus())
        .map(|cpu| {
            let w = Work::new(func);
            queue_work_on(cpu, system_wq(), &w);
            w
        })
        .collect();
    for w in &works {
        flush_work(w);
    }
}
