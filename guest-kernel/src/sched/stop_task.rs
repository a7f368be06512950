//! The stop class and its per-CPU stopper threads, `migration/N` (Linux's stop_task.c and
//! kernel/stop_machine.c): work queued here runs on that CPU ahead of everything else, which
//! is how a running task is pushed off a CPU it may no longer use.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use spin::Mutex;

use super::completion::Completion;
use crate::arch::percpu::MAX_CPUS;
use crate::kernel::task::{Task, TASK_INTERRUPTIBLE, TASK_RUNNING};

struct StopWork {
    f: Box<dyn FnOnce() + Send>,
    /// Completed after `f` ran; None for `stop_one_cpu_nowait`.
    done: Option<Arc<Completion>>,
}

struct Stopper {
    works: VecDeque<StopWork>,
    thread: Option<Arc<Task>>,
}

static STOPPERS: [Mutex<Stopper>; MAX_CPUS] = [const {
    Mutex::new(Stopper {
        works: VecDeque::new(),
        thread: None,
    })
}; MAX_CPUS];

/// Run `f` on `cpu` in the stop class and wait for it to finish (`stop_one_cpu`).
pub fn stop_one_cpu(cpu: usize, f: impl FnOnce() + Send + 'static) {
    let done = Arc::new(Completion::new());
    if cpu_stop_queue_work(cpu, Box::new(f), Some(done.clone())) {
        done.wait_for_completion();
    }
}

/// Queue `f` to run on `cpu` in the stop class without waiting; false if `cpu` has no
/// stopper yet (`stop_one_cpu_nowait`). Callable from interrupt context.
pub fn stop_one_cpu_nowait(cpu: usize, f: impl FnOnce() + Send + 'static) -> bool {
    cpu_stop_queue_work(cpu, Box::new(f), None)
}

fn cpu_stop_queue_work(
    cpu: usize,
    f: Box<dyn FnOnce() + Send>,
    done: Option<Arc<Completion>>,
) -> bool {
    let thread = {
        let mut s = STOPPERS[cpu].lock();
        let Some(thread) = s.thread.clone() else {
            // No stopper yet (early boot): nothing can be running there that needs moving.
            return false;
        };
        s.works.push_back(StopWork { f, done });
        thread
    };
    super::wake_up_process(&thread);
    true
}

/// Body of `migration/N`.
pub fn cpu_stopper_thread(cpu: usize) -> ! {
    let me = crate::kernel::task::current();
    loop {
        me.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
        let work = STOPPERS[cpu].lock().works.pop_front();
        match work {
            Some(w) => {
                me.state.store(TASK_RUNNING, Ordering::SeqCst);
                (w.f)();
                if let Some(done) = w.done {
                    done.complete();
                }
            }
            None => super::schedule(),
        }
    }
}

/// Register `migration/N` for `cpu` (created by kthreadd, bound to that CPU).
pub fn register_stopper(cpu: usize, thread: Arc<Task>) {
    super::set_sched_attr(&thread, |se| se.stop = true);
    STOPPERS[cpu].lock().thread = Some(thread);
}
