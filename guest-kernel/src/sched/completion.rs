//! Completions (Linux's kernel/sched/completion.c): wait until another task says "done".

use spin::Mutex;

use super::wait::WaitQueue;
use crate::kernel::task::TASK_UNINTERRUPTIBLE;

pub struct Completion {
    done: Mutex<u32>,
    wait: WaitQueue,
}

impl Default for Completion {
    fn default() -> Self {
        Self::new()
    }
}

impl Completion {
    pub const fn new() -> Self {
        Completion {
            done: Mutex::new(0),
            wait: WaitQueue::new(),
        }
    }

    /// Wake one waiter (or let the next `wait_for_completion` pass).
    pub fn complete(&self) {
        *self.done.lock() += 1;
        self.wait.wake_up();
    }

    /// Forget earlier completions, before reusing it (`reinit_completion`).
    pub fn reinit_completion(&self) {
        *self.done.lock() = 0;
    }

    pub fn wait_for_completion(&self) {
        let _ = self.wait.wait_event(TASK_UNINTERRUPTIBLE, true, || {
            let mut done = self.done.lock();
            if *done > 0 {
                *done -= 1;
                true
            } else {
                false
            }
        });
    }
}
