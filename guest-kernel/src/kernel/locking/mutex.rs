//! A sleeping mutex (Linux's `struct mutex`, kernel/locking/mutex.c): a task that finds it
//! held sleeps until the owner releases it, so its holder may block, allocate or wait for
//! other tasks, which a spin lock's holder must never do in this kernel (it runs with
//! interrupts off, and a spinning waiter on the holder's CPU would wait forever).
//!
//! It guards no data of its own; what it protects is said where it is declared.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::kernel::task::TASK_UNINTERRUPTIBLE;
use crate::sched::wait::WaitQueue;

pub struct SleepingMutex {
    locked: AtomicBool,
    wait: WaitQueue,
}

/// Held until dropped.
#[must_use = "the mutex is released when the guard is dropped"]
pub struct SleepingMutexGuard<'a> {
    mutex: &'a SleepingMutex,
}

impl SleepingMutex {
    pub const fn new() -> Self {
        SleepingMutex {
            locked: AtomicBool::new(false),
            wait: WaitQueue::new(),
        }
    }

    fn try_acquire(&self) -> bool {
        !self.locked.swap(true, Ordering::Acquire)
    }

    /// Take the mutex, sleeping uninterruptibly while another task holds it (`mutex_lock`).
    pub fn lock(&self) -> SleepingMutexGuard<'_> {
        if !self.try_acquire() {
            // Exclusive waiters: one is woken per release.
            let _ = self
                .wait
                .wait_event(TASK_UNINTERRUPTIBLE, true, || self.try_acquire());
        }
        SleepingMutexGuard { mutex: self }
    }
}

impl Default for SleepingMutex {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SleepingMutexGuard<'_> {
    fn drop(&mut self) {
        self.mutex.locked.store(false, Ordering::Release);
        self.mutex.wait.wake_up();
    }
}
