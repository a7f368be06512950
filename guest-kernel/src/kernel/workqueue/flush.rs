//! Flushing and cancelling work items (`flush_work`, `cancel_work_sync`, ...): waiting for
//! the last queued instance by counting starts and finishes, and taking back a PENDING bit;
//! flushing, draining and destroying whole workqueues.

use super::*;

/// Flushers sleep here; woken whenever an item finishes while any wait.
static FLUSH_WAIT: WaitQueue = WaitQueue::new();
static NR_FLUSHERS: AtomicUsize = AtomicUsize::new(0);

/// Record that every started execution of `work` is over; under the pool lock of the pool
/// it ran or was queued on.
pub(super) fn work_finished(work: &Work) {
    work.finished.store(work.started(), SeqCst);
    wake_flushers();
}

/// Something flushers wait for changed: let them look again.
pub(super) fn wake_flushers() {
    if NR_FLUSHERS.load(SeqCst) > 0 {
        FLUSH_WAIT.wake_up_all();
    }
}

/// Sleep until `done()` holds, woken whenever an item finishes.
fn flush_wait(done: impl FnMut() -> bool) {
    NR_FLUSHERS.fetch_add(1, SeqCst);
    let _ = FLUSH_WAIT.wait_event(TASK_UNINTERRUPTIBLE, false, done);
    NR_FLUSHERS.fetch_sub(1, SeqCst);
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
    flush_wait(done);
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
        let st = inner.pwq(pwq.slot);
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
    pwq_dec_nr_in_flight(&mut inner, &pwq, work.color.load(Relaxed));
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
    let online = crate::kernel::cpu::cpu_online_mask();
    let works: Vec<Arc<Work>> = crate::kernel::cpumask::for_each_cpu(online)
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

/// Whether every item of `wq` queued with flush color `color` is done.
fn color_flushed(wq: &WorkqueueStruct, color: u32) -> bool {
    wq.pwqs
        .iter()
        .all(|pwq| pwq.pool.lock().pwq(pwq.slot).in_flight[color as usize] == 0)
}

/// Wait until every item queued on `wq` before this call has finished (`flush_workqueue`):
/// new items get the other flush color, and the flush waits for the old color to run out.
pub fn flush_workqueue(wq: &WorkqueueStruct) {
    let _turn = wq.flush_mutex.lock();
    // The previous flush emptied the other color, so it is free for the items from now on.
    let color = wq.work_color.fetch_xor(1, AcqRel);
    if !color_flushed(wq, color) {
        flush_wait(|| color_flushed(wq, color));
    }
}

/// Whether `wq` has no item queued, waiting or running.
fn drained(wq: &WorkqueueStruct) -> bool {
    wq.pwqs.iter().all(|pwq| {
        let mut inner = pwq.pool.lock();
        let st = inner.pwq(pwq.slot);
        st.nr_active == 0 && st.inactive.is_empty()
    })
}

/// Flush `wq` until it is empty, refusing new items from anyone but its own items, which
/// may queue more while it drains (`drain_workqueue`).
pub fn drain_workqueue(wq: &WorkqueueStruct) {
    {
        let mut n = wq.nr_drainers.lock();
        *n += 1;
        wq.state.fetch_or(__WQ_DRAINING, AcqRel);
    }
    let mut flush_cnt = 0u32;
    loop {
        flush_workqueue(wq);
        if drained(wq) {
            break;
        }
        flush_cnt += 1;
        if flush_cnt == 10 || (flush_cnt.is_multiple_of(100) && flush_cnt <= 1000) {
            crate::pr_warn!(
                "workqueue {}: drain_workqueue() isn't complete after {} tries",
                wq.name,
                flush_cnt
            );
        }
    }
    let mut n = wq.nr_drainers.lock();
    *n -= 1;
    if *n == 0 {
        wq.state.fetch_and(!__WQ_DRAINING, AcqRel);
    }
}

/// Drain `wq`, stop its rescuer and free its pool workqueues (`destroy_workqueue`). Items
/// queued on it afterwards are refused with a warning. A workqueue that still has items
/// after draining (someone queued behind its back) is left as it is, with a warning.
pub fn destroy_workqueue(wq: &Workqueue) {
    wq.state.fetch_or(__WQ_DESTROYING, AcqRel);
    drain_workqueue(wq);
    // The rescuer empties the mayday list before it exits.
    let rescuer = wq.mayday.lock().rescuer.take();
    if let Some(r) = rescuer {
        crate::kernel::kthread::kthread_stop(&r);
    }
    for pwq in &wq.pwqs {
        let mut inner = pwq.pool.lock();
        let st = inner.pwq(pwq.slot);
        if st.nr_active > 0 || !st.inactive.is_empty() {
            crate::pr_warn!(
                "destroy_workqueue: {} has the following busy pwq\n  pwq {}: active={} inactive={}",
                wq.name,
                pwq.pool.id.load(Relaxed),
                st.nr_active,
                st.inactive.len()
            );
            return;
        }
    }
    for pwq in &wq.pwqs {
        pwq.pool.lock().pwqs[pwq.slot] = None;
    }
    WORKQUEUES.lock().retain(|w| !Arc::ptr_eq(w, wq));
}
