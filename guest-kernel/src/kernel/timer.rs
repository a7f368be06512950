//! High-resolution timers (Linux's kernel/time/hrtimer.c), reduced: callbacks ordered by
//! expiry in ns since boot, run from the tick on the boot CPU. `hrtimer_wakeup` is how
//! `nanosleep` and timed waits end.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

/// A timer's callback, with what the `timer:*` tracepoints report about it: the timer's id
/// (`hrtimer`/`timer`) and `function`, the address of [`expire`] instantiated for the callback's
/// type, whose symbol names the closure (`ksym(args->function)` reads `expire<..{{closure}}>`).
pub struct TimerFn {
    f: Box<dyn FnOnce() + Send>,
    pub id: u64,
    pub function: u64,
}

impl TimerFn {
    pub fn new<F: FnOnce() + Send + 'static>(id: u64, f: F) -> TimerFn {
        TimerFn {
            f: Box::new(move || expire(f)),
            id,
            function: expire::<F> as fn(F) as usize as u64,
        }
    }

    pub fn call(self) {
        (self.f)()
    }
}

/// Every timer callback runs through here (one instance per callback type).
#[inline(never)]
fn expire<F: FnOnce()>(f: F) {
    f()
}

static TIMERS: Mutex<BTreeMap<(u64, u64), TimerFn>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A started timer; cancel it if it should no longer fire.
#[must_use = "a timer that is never cancelled fires even after its waiter left"]
pub struct Hrtimer {
    key: (u64, u64),
}

impl Hrtimer {
    /// Fire `f` at `expires_ns` (ns since boot), from interrupt context.
    pub fn start(expires_ns: u64, f: impl FnOnce() + Send + 'static) -> Hrtimer {
        let key = (expires_ns, NEXT_ID.fetch_add(1, Ordering::Relaxed));
        TIMERS.lock().insert(key, TimerFn::new(key.1, f));
        Hrtimer { key }
    }

    /// Remove the timer; false if it already fired.
    pub fn cancel(self) -> bool {
        TIMERS.lock().remove(&self.key).is_some()
    }
}

/// Remove and return the callbacks of a timer map keyed by (expiry, id) that are due at `now`.
pub fn take_expired<V>(timers: &mut BTreeMap<(u64, u64), V>, now: u64) -> Vec<V> {
    let mut out = Vec::new();
    while let Some(entry) = timers.first_entry() {
        if entry.key().0 > now {
            break;
        }
        out.push(entry.remove());
    }
    out
}

/// Run every expired timer (`hrtimer_interrupt`).
pub fn run_expired(now_ns: u64) {
    let expired = take_expired(&mut TIMERS.lock(), now_ns);
    for f in expired {
        let id = f.id;
        crate::trace::trace_hrtimer_expire_entry(id, now_ns, f.function);
        f.call();
        crate::trace::trace_hrtimer_expire_exit(id);
    }
}
