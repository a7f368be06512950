//! Jiffies timers (`timer_list`, Linux's kernel/time/timer.c) and `schedule_timeout`.
//!
//! The tick marks TIMER_SOFTIRQ pending when the earliest timer is due, and the softirq runs
//! every expired callback. Linux files timers in a hierarchical wheel to make adding O(1);
//! with the few timers this kernel has, one map ordered by expiry does the same job.

use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::softirq::{open_softirq, raise_softirq, TIMER_SOFTIRQ};
use super::time::{jiffies, HZ};
use super::timer::TimerFn;
use crate::kernel::task::{current_arc, TASK_RUNNING};

static TIMERS: Mutex<BTreeMap<(u64, u64), TimerFn>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A pending timer; `del_timer` it if it should no longer fire.
#[must_use = "a timer that is never deleted fires even after its owner left"]
pub struct TimerList {
    key: (u64, u64),
}

/// Run `f` from TIMER_SOFTIRQ once `jiffies` reaches `expires` (`add_timer`).
pub fn add_timer(expires: u64, f: impl FnOnce() + Send + 'static) -> TimerList {
    let key = (expires, NEXT_ID.fetch_add(1, Ordering::Relaxed));
    TIMERS.lock().insert(key, TimerFn::new(key.1, f));
    TimerList { key }
}

impl TimerList {
    /// Remove the timer; false if it already ran (`del_timer`).
    pub fn del_timer(self) -> bool {
        TIMERS.lock().remove(&self.key).is_some()
    }
}

/// From the tick: raise the softirq when a timer is due (`run_local_timers`).
pub fn run_local_timers() {
    let due = TIMERS
        .lock()
        .keys()
        .next()
        .is_some_and(|k| k.0 <= jiffies());
    if due {
        raise_softirq(TIMER_SOFTIRQ);
    }
}

/// TIMER_SOFTIRQ: run every expired timer (`run_timer_softirq`).
fn run_timer_softirq() {
    let now = jiffies();
    let expired = super::timer::take_expired(&mut TIMERS.lock(), now);
    for f in expired {
        let id = f.id;
        crate::trace::trace_timer_expire_entry(id, now, f.function, now);
        f.call();
        crate::trace::trace_timer_expire_exit(id);
    }
}

pub fn init_timers() {
    open_softirq(TIMER_SOFTIRQ, run_timer_softirq);
}

/// Sleep in `state` for up to `timeout` jiffies, returning the jiffies left if woken early
/// (`schedule_timeout`). The caller sets nothing: the state is set here.
pub fn schedule_timeout(timeout: u64, state: u32) -> u64 {
    let task = current_arc();
    let expires = jiffies().saturating_add(timeout);
    let waker = task.clone();
    let timer = add_timer(expires, move || {
        crate::sched::wake_up_process(&waker);
    });
    task.state.store(state, Ordering::SeqCst);
    crate::sched::schedule();
    task.state.store(TASK_RUNNING, Ordering::SeqCst);
    let _ = timer.del_timer();
    expires.saturating_sub(jiffies())
}

/// Round an expiry `j` (absolute jiffies) to a whole second, skewed by 3 jiffies per CPU so
/// that CPUs don't all fire at once; rounds down within the first quarter second. Returns `j`
/// unchanged if the rounded time would not be after `now` (`round_jiffies_common`).
fn round_jiffies_common(j: u64, cpu: u64, now: u64) -> u64 {
    let skewed = j + cpu * 3;
    let rem = skewed % HZ;
    let rounded = if rem < HZ / 4 {
        skewed - rem
    } else {
        skewed - rem + HZ
    } - cpu * 3;
    if rounded > now {
        rounded
    } else {
        j
    }
}

/// A relative timeout `j` rounded so that it expires on a whole second, for periodic work
/// whose exact time does not matter, letting wake-ups batch (`round_jiffies_relative`).
pub fn round_jiffies_relative(j: u64) -> u64 {
    let now = jiffies();
    round_jiffies_common(j + now, crate::arch::percpu::cpu_id() as u64, now) - now
}
