//! The stop class and its per-CPU stopper threads, `migration/N` (Linux's stop_task.c and
//! kernel/stop_machine.c): work queued here runs on that CPU ahead of everything else, which
//! is how a running task is pushed off a CPU it may no longer use, and how a CPU going
//! offline runs its last steps with nothing else running there (`take_cpu_down`).
//!
//! Stoppers are smpboot threads that park themselves: a dying CPU's stopper is disabled and
//! parked by `take_cpu_down` itself (`stop_machine_park`) and unparked by the CPU as it comes
//! back, before anything else runs there (`stop_machine_unpark`). Work queued for a disabled
//! stopper is not run; its waiter is told at once.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;

use spin::Mutex;

use super::completion::Completion;
use crate::arch::percpu::MAX_CPUS;
use crate::kernel::kthread::{kthread_park, kthread_unpark};
use crate::kernel::smpboot::{smpboot_register_percpu_thread, SmpHotplugThread};
use crate::kernel::task::TaskRef;

struct StopWork {
    f: Box<dyn FnOnce() + Send>,
    /// Completed after `f` ran; None for `stop_one_cpu_nowait`.
    done: Option<Arc<Completion>>,
}

/// A CPU's stopper (`struct cpu_stopper`).
struct Stopper {
    works: VecDeque<StopWork>,
    /// Takes work (its CPU is up and the thread unparked).
    enabled: bool,
}

static STOPPERS: [Mutex<Stopper>; MAX_CPUS] = [const {
    Mutex::new(Stopper {
        works: VecDeque::new(),
        enabled: false,
    })
}; MAX_CPUS];

/// Run `f` on `cpu` in the stop class and wait for it to finish (`stop_one_cpu`); false if
/// `cpu` has no running stopper (not up yet, or offline), and `f` did not run.
pub fn stop_one_cpu(cpu: usize, f: impl FnOnce() + Send + 'static) -> bool {
    let done = Arc::new(Completion::new());
    let queued = cpu_stop_queue_work(cpu, Box::new(f), Some(done.clone()));
    done.wait_for_completion();
    queued
}

/// Queue `f` to run on `cpu` in the stop class without waiting; false if `cpu` has no
/// running stopper (`stop_one_cpu_nowait`). Callable from interrupt context.
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
        match CPU_STOP_THREADS.task(cpu).filter(|_| s.enabled) {
            Some(thread) => {
                s.works.push_back(StopWork { f, done });
                thread.clone()
            }
            None => {
                drop(s);
                // Nothing runs there that needs stopping; don't keep the caller waiting.
                if let Some(done) = done {
                    done.complete();
                }
                return false;
            }
        }
    };
    super::wake_up_process(&thread);
    true
}

fn cpu_stop_should_run(cpu: usize) -> bool {
    !STOPPERS[cpu].lock().works.is_empty()
}

/// One work item, in `migration/N` (`cpu_stopper_thread`).
fn cpu_stopper_thread(cpu: usize) {
    let work = STOPPERS[cpu].lock().works.pop_front();
    if let Some(w) = work {
        (w.f)();
        if let Some(done) = w.done {
            done.complete();
        }
    }
}

/// A new stopper runs in the stop class (`cpu_stop_create`, `sched_set_stop_task`).
fn cpu_stop_create(_cpu: usize, thread: &TaskRef) {
    super::set_sched_attr(thread, |se| se.stop = true);
}

/// Parking with work still queued (queued before it was disabled): the work will not run
/// on this CPU; let its waiters go (`cpu_stop_park`).
fn cpu_stop_park(cpu: usize) {
    let left = core::mem::take(&mut STOPPERS[cpu].lock().works);
    for w in left {
        if let Some(done) = w.done {
            done.complete();
        }
    }
}

static CPU_STOP_THREADS: SmpHotplugThread =
    SmpHotplugThread::new("migration/", cpu_stop_should_run, cpu_stopper_thread)
        .with_create(cpu_stop_create)
        .with_park(cpu_stop_park)
        .self_parking();

/// Create `migration/N` on every CPU and start them (`cpu_stop_init`); from here on running
/// tasks can be moved between CPUs.
pub fn cpu_stop_init() {
    smpboot_register_percpu_thread(&CPU_STOP_THREADS);
    for cpu in crate::kernel::cpumask::for_each_cpu(crate::kernel::cpu::cpu_online_mask()) {
        stop_machine_unpark(cpu);
    }
}

/// Disable `cpu`'s stopper and park it; called by the stopper itself as its CPU dies
/// (`stop_machine_park`).
pub fn stop_machine_park(cpu: usize) {
    STOPPERS[cpu].lock().enabled = false;
    if let Some(t) = CPU_STOP_THREADS.task(cpu) {
        kthread_park(t);
    }
}

/// Let `cpu`'s stopper take work again (`stop_machine_unpark`).
pub fn stop_machine_unpark(cpu: usize) {
    STOPPERS[cpu].lock().enabled = true;
    if let Some(t) = CPU_STOP_THREADS.task(cpu) {
        kthread_unpark(t);
    }
}
