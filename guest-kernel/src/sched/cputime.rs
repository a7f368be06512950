//! CPU time accounting (Linux's kernel/sched/cputime.c).
//!
//! Two clocks measure a task. The scheduler's `sum_exec_runtime` is exact: every
//! `update_curr` adds the nanoseconds the task ran since it was last charged. The tick's
//! `utime_ns`/`stime_ns` only sample: each 10 ms tick charges the runtime gathered since the
//! tick last saw the task to whichever mode it finds it in, so a kernel thread that works in
//! bursts between ticks (kswapd0, a kworker) can run for seconds and be charged nothing.
//!
//! What /proc, `times` and `getrusage` report is therefore Linux's `cputime_adjust`: split
//! the exact runtime in the ratio of the sampled user and system time, and never let either
//! part go back from what was reported before (`prev_cputime`), so that `ps` and `top` see
//! times that add up to the real runtime and only grow.

/// The last utime/stime reported for a task or a thread group (`struct prev_cputime`), in
/// ns. Guarded by its own lock in `Task` and `SignalStruct`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrevCputime {
    pub utime: u64,
    pub stime: u64,
}

/// Linux's `cputime_adjust`: the (utime, stime) to report, in ns, for a task that ran
/// `rtime` ns in all and was sampled `utime`/`stime` ns by the tick. `prev` holds the last
/// answer and is updated; the answer always sums to `rtime` (once `rtime` has passed the
/// previous answer) and neither part ever decreases.
pub fn cputime_adjust(rtime: u64, utime: u64, stime: u64, prev: &mut PrevCputime) -> (u64, u64) {
    // rtime may lag a racing reader's: filter, so the rest can take it as monotonic.
    if prev.utime + prev.stime >= rtime {
        return (prev.utime, prev.stime);
    }
    let mut stime = if stime == 0 {
        // No tick saw it at all, or only in user mode: call it all user time, as Linux does;
        // the monotonic fix-up below converges to the observed ratio once ticks come in.
        0
    } else if utime == 0 {
        rtime
    } else {
        // stime * rtime / (stime + utime), without overflow.
        let scaled = stime as u128 * rtime as u128 / (stime as u128 + utime as u128);
        (scaled as u64).min(rtime)
    };
    // stime never goes back; then utime = rtime - stime cannot either, as rtime grew.
    stime = stime.max(prev.stime);
    let mut utime = rtime - stime;
    if utime < prev.utime {
        utime = prev.utime;
        stime = rtime - utime;
    }
    *prev = PrevCputime { utime, stime };
    (utime, stime)
}

#[cfg(not(test))]
pub use task::*;

#[cfg(not(test))]
mod task {
    use core::sync::atomic::Ordering::{Acquire, Relaxed};

    use super::cputime_adjust;
    use crate::kernel::signal::SignalStruct;
    use crate::kernel::task::{Task, TaskRef};
    use crate::kernel::tasklist;

    /// The sampled and the exact CPU time of one task or a thread group (`struct
    /// task_cputime`), in ns.
    #[derive(Clone, Copy, Default)]
    pub struct TaskCputime {
        pub utime: u64,
        pub stime: u64,
        pub sum_exec_runtime: u64,
    }

    /// `t`'s exact runtime, including the part not yet charged if it is running now
    /// (`task_sched_runtime`).
    pub fn task_sched_runtime(t: &Task) -> u64 {
        let se = t.se.lock();
        let mut ns = se.fair.sum_exec_runtime;
        if t.on_cpu.load(Acquire) && !t.is_idle() {
            ns += crate::arch::tsc::ns_since_boot().saturating_sub(se.exec_start);
        }
        ns
    }

    /// One task's times (`task_cputime`).
    pub fn task_cputime(t: &Task) -> TaskCputime {
        TaskCputime {
            utime: t.utime_ns.load(Relaxed),
            stime: t.stime_ns.load(Relaxed),
            sum_exec_runtime: task_sched_runtime(t),
        }
    }

    /// A group's times: its exited threads' (in `sig`) and those of `threads`, the live
    /// ones (`thread_group_cputime`).
    fn group_cputime(sig: &SignalStruct, threads: &[TaskRef]) -> TaskCputime {
        let mut times = TaskCputime {
            utime: sig.dead_utime.load(Relaxed),
            stime: sig.dead_stime.load(Relaxed),
            sum_exec_runtime: sig.sum_sched_runtime.load(Relaxed),
        };
        // A zombie leader's times are in the dead totals already.
        for th in threads.iter().filter(|th| th.exit_state.load(Relaxed) == 0) {
            let c = task_cputime(th);
            times.utime += c.utime;
            times.stime += c.stime;
            times.sum_exec_runtime += c.sum_exec_runtime;
        }
        times
    }

    /// The whole group's times, live threads included (takes the task-list lock).
    pub fn thread_group_cputime(t: &Task) -> TaskCputime {
        group_cputime(&t.signal, &tasklist::thread_group(t))
    }

    fn group_cputime_adjusted(sig: &SignalStruct, threads: &[TaskRef]) -> (u64, u64) {
        let c = group_cputime(sig, threads);
        cputime_adjust(
            c.sum_exec_runtime,
            c.utime,
            c.stime,
            &mut sig.prev_cputime.lock(),
        )
    }

    /// The (utime, stime) in ns that one thread reports (`task_cputime_adjusted`).
    pub fn task_cputime_adjusted(t: &Task) -> (u64, u64) {
        let c = task_cputime(t);
        cputime_adjust(
            c.sum_exec_runtime,
            c.utime,
            c.stime,
            &mut t.prev_cputime.lock(),
        )
    }

    /// The (utime, stime) in ns that the thread group of `t` reports
    /// (`thread_group_cputime_adjusted`; takes the task-list lock).
    pub fn thread_group_cputime_adjusted(t: &Task) -> (u64, u64) {
        group_cputime_adjusted(&t.signal, &tasklist::thread_group(t))
    }

    /// The same for a group whose threads have all exited, as `wait` reaps it with the
    /// task list locked.
    pub fn dead_group_cputime_adjusted(sig: &SignalStruct) -> (u64, u64) {
        group_cputime_adjusted(sig, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_no_tick_saw_reports_its_runtime_as_user_time() {
        let mut prev = PrevCputime::default();
        assert_eq!(cputime_adjust(3_000_000, 0, 0, &mut prev), (3_000_000, 0));
    }

    #[test]
    fn a_kernel_thread_ticked_only_in_system_mode_reports_system_time() {
        let mut prev = PrevCputime::default();
        assert_eq!(
            cputime_adjust(25_000_000, 0, 10_000_000, &mut prev),
            (0, 25_000_000)
        );
    }

    #[test]
    fn the_runtime_is_split_in_the_sampled_ratio() {
        let mut prev = PrevCputime::default();
        // 1 tick user, 3 ticks system, 100 ms run: 25 / 75.
        assert_eq!(
            cputime_adjust(100_000_000, 10_000_000, 30_000_000, &mut prev),
            (25_000_000, 75_000_000)
        );
        // Huge numbers don't overflow the multiplication.
        let mut prev = PrevCputime::default();
        let (u, s) = cputime_adjust(u64::MAX / 2, u64::MAX / 4, u64::MAX / 4, &mut prev);
        assert_eq!(u + s, u64::MAX / 2);
    }

    #[test]
    fn neither_part_goes_back_and_they_add_up() {
        let mut prev = PrevCputime::default();
        // First all user (no system tick yet), then a system tick arrives: the ratio says
        // half system, but utime may not fall below the 40 ms already reported.
        assert_eq!(
            cputime_adjust(40_000_000, 10_000_000, 0, &mut prev),
            (40_000_000, 0)
        );
        let (u, s) = cputime_adjust(50_000_000, 10_000_000, 10_000_000, &mut prev);
        assert_eq!((u, s), (40_000_000, 10_000_000));
        // The ratio later swings to user; stime holds.
        let (u2, s2) = cputime_adjust(60_000_000, 50_000_000, 10_000_000, &mut prev);
        assert!(u2 >= u && s2 >= s && u2 + s2 == 60_000_000, "{u2} {s2}");
    }

    #[test]
    fn a_runtime_that_lags_the_last_answer_repeats_it() {
        let mut prev = PrevCputime { utime: 7, stime: 3 };
        assert_eq!(cputime_adjust(9, 1, 1, &mut prev), (7, 3));
        assert_eq!(prev, PrevCputime { utime: 7, stime: 3 });
    }
}
