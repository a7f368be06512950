//! Inter-process communication (Linux's ipc/): System V message queues (`msg`), semaphores
//! (`sem`) and shared memory (`shm`) with their registry and permission rules (`util`), the
//! /proc/sysvipc files (`proc`), and POSIX message queues on the mqueue filesystem
//! (`mqueue`). The pure parts (`util`, `msgutil`, `semutil`, `mqutil`) are host-tested.

#[cfg(not(test))]
pub mod mqueue;
pub mod mqutil;
#[cfg(not(test))]
pub mod msg;
pub mod msgutil;
#[cfg(not(test))]
pub mod proc;
#[cfg(not(test))]
pub mod sem;
pub mod semutil;
#[cfg(not(test))]
pub mod shm;
pub mod util;

#[cfg(not(test))]
pub use kernel_side::*;

#[cfg(not(test))]
mod kernel_side {
    use core::sync::atomic::Ordering;

    use super::util::Creds;
    use crate::kernel::errno::*;
    use crate::kernel::task::{current, current_arc, TASK_INTERRUPTIBLE, TASK_RUNNING};
    use crate::sched::wait::{new_waiter_id, WaitQueue};

    /// The caller's effective ids.
    pub fn current_creds() -> Creds {
        let c = *current().cred.lock();
        Creds {
            euid: c.euid,
            egid: c.egid,
        }
    }

    /// Wall-clock seconds, for the `*_time` fields.
    pub fn ktime_get_real_seconds() -> i64 {
        crate::fs::inode::current_time().sec
    }

    /// Now, in ns since boot (the clock deadlines are kept in).
    pub fn now_ns() -> u64 {
        crate::arch::tsc::ns_since_boot()
    }

    pub use crate::kernel::time::read_timespec;

    /// A timer that wakes the current task from an interruptible sleep at `deadline`.
    fn wake_me_at(deadline: u64) -> crate::kernel::timer::Hrtimer {
        let t = current_arc();
        crate::kernel::timer::Hrtimer::start(deadline, move || {
            crate::sched::wake_up_state(&t, TASK_INTERRUPTIBLE);
        })
    }

    /// Sleep on `wq` until `cond()` holds (it runs with the task already marked asleep, so a
    /// wake-up between its check and the sleep is not lost), a signal (`ERESTARTSYS`) or
    /// `deadline` in ns since boot (`ETIMEDOUT`). Wakers change the condition, then wake
    /// the whole queue.
    pub fn wait_event_deadline(
        wq: &WaitQueue,
        deadline: Option<u64>,
        mut cond: impl FnMut() -> bool,
    ) -> KResult<()> {
        if cond() {
            return Ok(());
        }
        let me = current();
        let id = new_waiter_id();
        let timer = deadline.map(wake_me_at);
        let result = loop {
            wq.add_poller(id);
            me.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
            if cond() {
                break Ok(());
            }
            if crate::kernel::signal::signal_pending(me) {
                break Err(ERESTARTSYS);
            }
            if deadline.is_some_and(|d| now_ns() >= d) {
                break Err(ETIMEDOUT);
            }
            crate::sched::schedule();
        };
        me.state.store(TASK_RUNNING, Ordering::SeqCst);
        wq.remove(id);
        if let Some(t) = timer {
            let _ = t.cancel();
        }
        result
    }

    /// Sleep until a partner hands this task its outcome (Linux's `wq_sleep` and
    /// `do_msgrcv`'s wait: the waker fills the sleeper's own entry, then wakes just it).
    /// `poll(None)` looks at the entry under the object's lock: `Some` once there is an
    /// outcome. On a signal (`ERESTARTSYS`) or at `deadline` (`ETIMEDOUT`) it is asked
    /// `poll(Some(err))`, which must answer: the outcome if one arrived after all, else `err`
    /// with the entry withdrawn. The task is asleep before each look, so no wake-up is lost.
    pub fn sleep_on_entry<T>(
        deadline: Option<u64>,
        mut poll: impl FnMut(Option<Errno>) -> Option<KResult<T>>,
    ) -> KResult<T> {
        let me = current();
        let timer = deadline.map(wake_me_at);
        let result = loop {
            me.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
            let abort = if crate::kernel::signal::signal_pending(me) {
                Some(ERESTARTSYS)
            } else if deadline.is_some_and(|d| now_ns() >= d) {
                Some(ETIMEDOUT)
            } else {
                None
            };
            if let Some(r) = poll(abort) {
                break r;
            }
            crate::sched::schedule();
        };
        me.state.store(TASK_RUNNING, Ordering::SeqCst);
        if let Some(t) = timer {
            let _ = t.cancel();
        }
        result
    }
}
