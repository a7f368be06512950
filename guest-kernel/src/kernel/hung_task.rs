//! `khungtaskd` (Linux's kernel/hung_task.c): every `hung_task_timeout_secs` it looks for
//! tasks that have sat in uninterruptible sleep (D) without being scheduled for that long and
//! logs them the way Linux does, so a stuck kernel path shows up in the log.

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Once;

use super::task::{Task, TaskRef, TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE};
use super::time::{jiffies, HZ};

/// `/proc/sys/kernel/hung_task_timeout_secs`; 0 turns the check off.
pub static SYSCTL_HUNG_TASK_TIMEOUT_SECS: AtomicU64 = AtomicU64::new(120);
/// `/proc/sys/kernel/hung_task_warnings`: reports left before going quiet.
pub static SYSCTL_HUNG_TASK_WARNINGS: AtomicU64 = AtomicU64::new(10);

static WATCHDOG: Once<TaskRef> = Once::new();

/// A task is hung if it has not switched since the last check and that was `timeout` ago
/// (`check_hung_task`).
fn check_hung_task(t: &Task, timeout_secs: u64) {
    let switches = t.nvcsw.load(Ordering::Relaxed) + t.nivcsw.load(Ordering::Relaxed);
    if switches != t.last_switch_count.swap(switches, Ordering::Relaxed) {
        t.last_switch_time.store(jiffies(), Ordering::Relaxed);
        return;
    }
    let since = t.last_switch_time.load(Ordering::Relaxed);
    if jiffies().saturating_sub(since) < timeout_secs * HZ {
        return;
    }
    let left = SYSCTL_HUNG_TASK_WARNINGS.load(Ordering::Relaxed);
    if left == 0 {
        return;
    }
    SYSCTL_HUNG_TASK_WARNINGS.store(left - 1, Ordering::Relaxed);
    crate::pr_err!(
        "INFO: task {}:{} blocked for more than {} seconds.",
        t.comm(),
        t.pid,
        jiffies().saturating_sub(since) / HZ
    );
    crate::pr_err!("\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.");
    // Report once per blocking episode.
    t.last_switch_time.store(jiffies(), Ordering::Relaxed);
}

/// Look at every thread (`check_hung_uninterruptible_tasks`). Only plain D counts: killable
/// sleeps (TASK_KILLABLE) and TASK_IDLE are skipped, as in Linux.
fn check_hung_uninterruptible_tasks(timeout_secs: u64) {
    let tasks: alloc::vec::Vec<TaskRef> = super::tasklist::lock()
        .entries
        .values()
        .map(|e| e.task.clone())
        .collect();
    for t in tasks {
        if t.state() == TASK_UNINTERRUPTIBLE {
            check_hung_task(&t, timeout_secs);
        }
    }
}

fn watchdog() {
    loop {
        let timeout = SYSCTL_HUNG_TASK_TIMEOUT_SECS.load(Ordering::Relaxed);
        // Look once a second (Linux looks once per timeout): a task is reported within a
        // second of crossing the timeout. 0 sleeps until a write to the sysctl wakes us.
        let interval = if timeout == 0 { u64::MAX / 2 } else { HZ };
        super::timer_list::schedule_timeout(interval, TASK_INTERRUPTIBLE);
        let timeout = SYSCTL_HUNG_TASK_TIMEOUT_SECS.load(Ordering::Relaxed);
        if timeout != 0 {
            check_hung_uninterruptible_tasks(timeout);
        }
    }
}

/// A write to the sysctl wakes the watchdog to apply it (`proc_dohung_task_timeout_secs`).
pub fn timeout_changed() {
    if let Some(t) = WATCHDOG.get() {
        crate::sched::wake_up_process(t);
    }
}

pub fn hung_task_init() {
    match super::kthread::kthread_run("khungtaskd", watchdog) {
        Some(t) => {
            WATCHDOG.call_once(|| t);
        }
        None => crate::pr_err!("hung_task: cannot start khungtaskd"),
    }
}
