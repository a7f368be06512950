//! Wait queues (Linux's kernel/sched/wait.c).
//!
//! A sleeper adds itself, sets its state, re-checks its condition and only then calls
//! `schedule()`; a waker changes the condition first and then wakes. Because the state is set
//! before the check and `try_to_wake_up` resets it to running, a wake-up between the check and
//! `schedule()` is never lost. Wakers remove the entries they wake (autoremove); exclusive
//! waiters are woken one at a time (`wake_up`) to avoid a thundering herd.
//!
//! An entry may instead carry a function to call (`wait_queue_entry.func`): epoll hangs its
//! `ep_poll_callback` on the queues of the files it watches. Such entries stay queued until
//! their owner removes them; the function runs with the queue's lock held, so it may take
//! its own locks and wake other queues but never touch this one.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::kernel::errno::{KResult, ERESTARTSYS};
use crate::kernel::task::{current, current_arc, TaskRef, TASK_NORMAL, TASK_RUNNING};

/// What waking an entry does.
enum WakeFunc {
    /// Wake the task (`default_wake_function`, with autoremove).
    Task(TaskRef),
    /// Call the function and keep the entry (epoll's `ep_poll_callback`).
    Callback(Arc<dyn Fn() + Send + Sync>),
}

struct Waiter {
    id: u64,
    func: WakeFunc,
    exclusive: bool,
}

pub struct WaitQueue {
    head: Mutex<VecDeque<Waiter>>,
}

static NEXT_WAITER: AtomicU64 = AtomicU64::new(1);

/// A fresh identity for a wait-queue entry.
pub fn new_waiter_id() -> u64 {
    NEXT_WAITER.fetch_add(1, Ordering::Relaxed)
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    pub const fn new() -> Self {
        WaitQueue {
            head: Mutex::new(VecDeque::new()),
        }
    }

    /// Queue `current` (if not queued already) and set its state.
    fn prepare_to_wait(&self, id: u64, state: u32, exclusive: bool) {
        let mut head = self.head.lock();
        if !head.iter().any(|w| w.id == id) {
            let w = Waiter {
                id,
                func: WakeFunc::Task(current_arc()),
                exclusive,
            };
            if exclusive {
                head.push_back(w);
            } else {
                head.push_front(w);
            }
        }
        current().state.store(state, Ordering::SeqCst);
    }

    fn finish_wait(&self, id: u64) {
        current().state.store(TASK_RUNNING, Ordering::SeqCst);
        self.head.lock().retain(|w| w.id != id);
    }

    /// Sleep in `state` until `cond()` holds. Interruptible and killable sleeps end early with
    /// `ERESTARTSYS` when a signal is pending.
    pub fn wait_event(
        &self,
        state: u32,
        exclusive: bool,
        mut cond: impl FnMut() -> bool,
    ) -> KResult<()> {
        if cond() {
            return Ok(());
        }
        let id = NEXT_WAITER.fetch_add(1, Ordering::Relaxed);
        let result = loop {
            self.prepare_to_wait(id, state, exclusive);
            if cond() {
                break Ok(());
            }
            if crate::kernel::signal::signal_pending_state(state, current()) {
                break Err(ERESTARTSYS);
            }
            super::schedule();
        };
        self.finish_wait(id);
        result
    }

    fn wake(&self, nr_exclusive: usize) -> usize {
        let mut woken = 0;
        let mut exclusive_left = nr_exclusive;
        let mut head = self.head.lock();
        let mut i = 0;
        while i < head.len() {
            let w = &head[i];
            let task = match &w.func {
                WakeFunc::Task(t) => t,
                WakeFunc::Callback(f) => {
                    f();
                    i += 1;
                    continue;
                }
            };
            if super::try_to_wake_up(task, TASK_NORMAL) {
                woken += 1;
                let exclusive = w.exclusive;
                head.remove(i);
                if exclusive {
                    exclusive_left -= 1;
                    if exclusive_left == 0 {
                        break;
                    }
                }
            } else {
                i += 1;
            }
        }
        woken
    }

    /// Wake every non-exclusive waiter and one exclusive waiter.
    pub fn wake_up(&self) -> usize {
        self.wake(1)
    }

    pub fn wake_up_all(&self) -> usize {
        self.wake(usize::MAX)
    }

    /// Queue `current` without sleeping yet (`poll_wait`'s `add_wait_queue`): a poller
    /// watches several queues at once, then sleeps until any of them wakes it.
    pub fn add_poller(&self, id: u64) {
        let mut head = self.head.lock();
        if !head.iter().any(|w| w.id == id) {
            head.push_front(Waiter {
                id,
                func: WakeFunc::Task(current_arc()),
                exclusive: false,
            });
        }
    }

    /// Queue a function to call at every wake-up (`init_waitqueue_func_entry` and
    /// `add_wait_queue`); it stays until `remove(id)`.
    pub fn add_callback(&self, id: u64, func: Arc<dyn Fn() + Send + Sync>) {
        self.head.lock().push_front(Waiter {
            id,
            func: WakeFunc::Callback(func),
            exclusive: false,
        });
    }

    /// Take the entry `id` off the queue (`remove_wait_queue`).
    pub fn remove(&self, id: u64) {
        self.head.lock().retain(|w| w.id != id);
    }
}
