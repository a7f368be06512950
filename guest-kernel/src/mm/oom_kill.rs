//! The OOM killer (Linux's mm/oom_kill.c): when reclaim cannot free memory for an allocation
//! that must not fail, kill the process whose death frees the most.
//!
//! - `oom_badness`: resident pages plus page-table pages, moved by `oom_score_adj` in
//!   thousandths of all memory; -1000 exempts a process. Kernel threads and init are never
//!   chosen. `/proc/<pid>/oom_score` shows it on Linux's 0..1333 scale.
//! - `out_of_memory` picks the worst, logs Linux's `Out of memory: Killed process …` line,
//!   sends SIGKILL, and hands the address space to `oom_reaper`. While a victim has not yet
//!   been reaped or exited, no second process is killed (its memory is on its way back).
//! - `oom_reaper` frees the victim's private memory at once, without waiting for it to run
//!   to its exit, and marks the address space so that later faults in it fail instead of
//!   bringing pages back (`oom_reaped`: user faults then just let the SIGKILL land, kernel
//!   user copies get EFAULT).
//!
//! The page-fault path reaches here through `pagefault_out_of_memory`, after letting go of
//! the mm lock; the allocator's slow path calls `out_of_memory` directly. Neither ever waits
//! for a lock the victim might hold: counters are read without the mm lock (`MmCounters`)
//! and the reaper only tries the lock, retrying a few times.

#![deny(unsafe_code)]

use core::sync::atomic::Ordering::Relaxed;

use super::mmap::{MmCounters, MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES};

pub const OOM_SCORE_ADJ_MIN: i32 = -1000;
pub const OOM_SCORE_ADJ_MAX: i32 = 1000;

/// Linux's `oom_badness` for an address space with `counters`: None if it may not be chosen.
pub fn oom_badness(counters: &MmCounters, adj: i32, totalpages: u64) -> Option<i64> {
    if adj == OOM_SCORE_ADJ_MIN || counters.reaped() {
        return None;
    }
    let rss: u64 = [MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES]
        .iter()
        .map(|&m| counters.rss[m].load(Relaxed))
        .sum();
    let points = (rss + counters.pgtables.load(Relaxed)) as i64;
    Some(points + adj as i64 * (totalpages / 1000) as i64)
}

/// `/proc/<pid>/oom_score` (`proc_oom_score`): the badness scaled to 0..2000, times 2/3.
pub fn oom_score(badness: Option<i64>, totalpages: u64) -> i64 {
    match badness {
        None => 0,
        Some(b) => (1000 + b * 1000 / totalpages.max(1) as i64) * 2 / 3,
    }
}

#[cfg(not(test))]
pub use killer::*;

#[cfg(not(test))]
mod killer {
    use alloc::collections::VecDeque;
    use alloc::sync::{Arc, Weak};
    use core::sync::atomic::Ordering::{Relaxed, SeqCst};

    use spin::{Mutex, Once};

    use super::*;
    use crate::kernel::signal::{fatal_signal_pending, send_signal, KSigInfo, SIGKILL};
    use crate::kernel::task::{current, Task, TaskRef, TASK_INTERRUPTIBLE, TASK_RUNNING};
    use crate::kernel::time::HZ;
    use crate::mm::gfp::Gfp;
    use crate::mm::mmap::MmStruct;
    use crate::mm::page_alloc::total_pages;
    use crate::mm::vmstat::{count_vm_event, VmEvent};
    use crate::mm::{MmRef, MmWeak};

    /// The last victim's address space, while it is neither reaped nor gone.
    static VICTIM: Mutex<Option<MmWeak>> = Mutex::new(None);
    static REAP_QUEUE: Mutex<VecDeque<(TaskRef, MmRef)>> = Mutex::new(VecDeque::new());
    static OOM_REAPER: Once<TaskRef> = Once::new();

    /// A process's badness now, for /proc and the selection.
    pub fn task_badness(t: &Task) -> Option<i64> {
        if t.is_kthread() || t.signal.unkillable.load(Relaxed) {
            return None;
        }
        let mm = t.mm()?;
        oom_badness(
            mm.counters(),
            t.signal.oom_score_adj.load(Relaxed),
            total_pages(),
        )
    }

    /// `/proc/<pid>/oom_score`.
    pub fn proc_oom_score(t: &Task) -> i64 {
        oom_score(task_badness(t), total_pages())
    }

    fn victim_pending() -> bool {
        let v = VICTIM.lock();
        v.as_ref()
            .and_then(Weak::upgrade)
            .is_some_and(|mm| !mm.counters().reaped())
    }

    /// The process to kill (`select_bad_process`): the highest badness among user processes.
    fn select_bad_process() -> Option<(TaskRef, i64)> {
        // Never wait for the task list: the allocation that got here may hold it.
        let leaders: alloc::vec::Vec<TaskRef> = crate::kernel::tasklist::try_lock()?
            .entries
            .values()
            .filter(|e| e.task.pid == e.task.tgid)
            .map(|e| e.task.clone())
            .collect();
        let mut chosen: Option<(TaskRef, i64)> = None;
        for t in leaders {
            if let Some(points) = task_badness(&t) {
                if chosen.as_ref().is_none_or(|(_, best)| points > *best) {
                    chosen = Some((t, points));
                }
            }
        }
        chosen
    }

    fn k(pages: u64) -> u64 {
        pages * 4
    }

    /// Kill the worst process to free memory (Linux's `out_of_memory`); false if there was
    /// nothing to kill. Returns at once (true) while an earlier victim is still dying.
    pub fn out_of_memory(gfp: Gfp, order: usize) -> bool {
        if victim_pending() {
            return true;
        }
        let me = current();
        crate::pr_warn!(
            "{} invoked oom-killer: gfp_mask={:#x}, order={}, oom_score_adj={}",
            me.comm(),
            gfp.0,
            order,
            me.signal.oom_score_adj.load(Relaxed)
        );
        let Some((victim, _)) = select_bad_process() else {
            crate::pr_err!("Out of memory and no killable processes...");
            return false;
        };
        let Some(mm) = victim.mm() else {
            return false;
        };
        let c = mm.counters();
        crate::pr_err!(
            "Out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB, UID:{} pgtables:{}kB oom_score_adj:{}",
            victim.tgid,
            victim.comm(),
            k(c.total_vm.load(Relaxed)),
            k(c.rss[MM_ANONPAGES].load(Relaxed)),
            k(c.rss[MM_FILEPAGES].load(Relaxed)),
            k(c.rss[MM_SHMEMPAGES].load(Relaxed)),
            victim.cred.lock().uid,
            k(c.pgtables.load(Relaxed)),
            victim.signal.oom_score_adj.load(Relaxed)
        );
        *VICTIM.lock() = Some(Arc::downgrade(&mm));
        send_signal(&victim, KSigInfo::kernel(SIGKILL), true);
        // `mark_oom_victim`.
        crate::trace::trace_mark_victim(victim.tgid);
        count_vm_event(VmEvent::OomKill);
        REAP_QUEUE.lock().push_back((victim, mm));
        if let Some(r) = OOM_REAPER.get() {
            crate::sched::wake_up_process(r);
        }
        true
    }

    /// A user fault found no memory (Linux's `pagefault_out_of_memory`), the mm lock let go:
    /// unless this task is already dying, kill something, then give the victim a moment to
    /// run before the fault is retried.
    pub fn pagefault_out_of_memory() {
        if fatal_signal_pending(current()) {
            return;
        }
        out_of_memory(crate::mm::gfp::GFP_HIGHUSER_MOVABLE, 0);
        crate::kernel::timer_list::schedule_timeout(1, crate::kernel::task::TASK_UNINTERRUPTIBLE);
    }

    /// Free the private memory of a victim's address space (`__oom_reap_task_mm`).
    #[inline(never)] // a symbol for kfunc:__oom_reap_task_mm
    fn __oom_reap_task_mm(mm: &mut MmStruct) {
        mm.oom_reaped = true;
        let private: alloc::vec::Vec<(u64, u64, u64)> = mm
            .vmas
            .iter()
            .filter(|v| !v.is_shared())
            .map(|v| (v.start, v.end, v.flags))
            .collect();
        for (start, end, flags) in private {
            mm.zap_page_range(start, end, flags);
        }
    }

    /// Reap one victim, trying its lock up to ten times a tenth of a second apart
    /// (`oom_reap_task`); the address space counts as reaped afterwards either way, so the
    /// next OOM may choose another process.
    #[inline(never)] // a symbol for kfunc:oom_reap_task
    fn oom_reap_task(tsk: &Task, mm: &MmRef) {
        for _ in 0..10 {
            if let Some(mut locked) = mm.try_lock() {
                __oom_reap_task_mm(&mut locked);
                drop(locked);
                let c = mm.counters();
                crate::pr_info!(
                    "oom_reaper: reaped process {} ({}), now anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB",
                    tsk.tgid,
                    tsk.comm(),
                    k(c.rss[MM_ANONPAGES].load(Relaxed)),
                    k(c.rss[MM_FILEPAGES].load(Relaxed)),
                    k(c.rss[MM_SHMEMPAGES].load(Relaxed))
                );
                break;
            }
            crate::kernel::timer_list::schedule_timeout(HZ / 10, TASK_INTERRUPTIBLE);
        }
        mm.counters().set_reaped();
    }

    fn oom_reaper() {
        loop {
            let next = loop {
                current().state.store(TASK_INTERRUPTIBLE, SeqCst);
                if let Some(v) = REAP_QUEUE.lock().pop_front() {
                    current().state.store(TASK_RUNNING, SeqCst);
                    break v;
                }
                crate::sched::schedule();
            };
            oom_reap_task(&next.0, &next.1);
        }
    }

    /// Start `oom_reaper` (`oom_init`).
    pub fn oom_init() {
        match crate::kernel::kthread::kthread_run("oom_reaper", oom_reaper) {
            Some(t) => {
                OOM_REAPER.call_once(|| t);
            }
            None => crate::pr_err!("Unable to start OOM reaper"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(anon: u64, pgtables: u64) -> MmCounters {
        let c = MmCounters::default();
        c.rss[MM_ANONPAGES].store(anon, Relaxed);
        c.pgtables.store(pgtables, Relaxed);
        c
    }

    #[test]
    fn badness_is_rss_and_page_tables_moved_by_adj() {
        let total = 64_000;
        assert_eq!(oom_badness(&counters(1000, 5), 0, total), Some(1005));
        // +500: half of memory more.
        assert_eq!(
            oom_badness(&counters(1000, 5), 500, total),
            Some(1005 + 32_000)
        );
        assert_eq!(oom_badness(&counters(1000, 5), -1000, total), None);
        let reaped = counters(1000, 5);
        reaped.set_reaped();
        assert_eq!(oom_badness(&reaped, 0, total), None);
    }

    #[test]
    fn oom_score_has_linux_scale() {
        let total = 64_000;
        assert_eq!(oom_score(None, total), 0);
        assert_eq!(oom_score(Some(0), total), 666);
        // All of memory: 2000 * 2/3.
        assert_eq!(oom_score(Some(64_000), total), 1333);
        assert_eq!(oom_score(Some(-64_000), total), 0);
    }
}
