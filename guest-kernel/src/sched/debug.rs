//! Scheduler debugging output (Linux's kernel/sched/debug.c): /proc/<pid>/sched.

use alloc::string::String;
use core::fmt::Write;

// --- /proc/<pid>/sched -------------------------------------------------------------------

/// What /proc/<pid>/sched shows (`proc_sched_show_task`); times in ns.
#[derive(Clone, Debug, Default)]
pub struct SchedShow {
    pub comm: String,
    pub pid: i32,
    pub nr_threads: usize,
    pub exec_start: u64,
    pub vruntime: u64,
    pub sum_exec_runtime: u64,
    pub nr_migrations: u64,
    pub nvcsw: u64,
    pub nivcsw: u64,
    /// `se.load.weight` as Linux keeps it on 64-bit: the nice weight << 10.
    pub load_weight: u64,
    pub policy: u32,
    pub prio: i32,
    pub clock_delta: u64,
}

/// `__PS`: a value right-aligned after the 45-column name.
fn sched_ps(out: &mut String, name: &str, value: i64) {
    let _ = writeln!(out, "{name:<45}:{value:>21}");
}

/// `__PSN`: nanoseconds as milliseconds with six decimals (`SPLIT_NS`; like Linux, a
/// negative value above -1 ms loses its sign).
fn sched_psn(out: &mut String, name: &str, ns: i64) {
    let (high, low) = (ns / 1_000_000, (ns % 1_000_000).unsigned_abs());
    let _ = writeln!(out, "{name:<45}:{high:>14}.{low:06}");
}

pub fn render_sched(s: &SchedShow) -> String {
    let mut out = String::with_capacity(1024);
    let _ = writeln!(out, "{} ({}, #threads: {})", s.comm, s.pid, s.nr_threads);
    let _ = writeln!(out, "{}", "-".repeat(67));
    sched_psn(&mut out, "se.exec_start", s.exec_start as i64);
    sched_psn(&mut out, "se.vruntime", s.vruntime as i64);
    sched_psn(&mut out, "se.sum_exec_runtime", s.sum_exec_runtime as i64);
    sched_ps(&mut out, "se.nr_migrations", s.nr_migrations as i64);
    sched_ps(&mut out, "nr_switches", (s.nvcsw + s.nivcsw) as i64);
    sched_ps(&mut out, "nr_voluntary_switches", s.nvcsw as i64);
    sched_ps(&mut out, "nr_involuntary_switches", s.nivcsw as i64);
    sched_ps(&mut out, "se.load.weight", s.load_weight as i64);
    sched_ps(&mut out, "policy", s.policy as i64);
    sched_ps(&mut out, "prio", s.prio as i64);
    sched_ps(&mut out, "clock-delta", s.clock_delta as i64);
    out
}

/// Policy, real-time priority and `prio` as Linux shows them: its stop-class tasks
/// (migration/N) are SCHED_FIFO at the top real-time priority.
pub fn sched_attrs(se: &crate::sched::SchedEntity) -> (u32, u32, i32) {
    if se.stop {
        (crate::sched::SCHED_FIFO, 99, 0)
    } else {
        (se.policy, se.rt_priority, se.prio())
    }
}

/// `/proc/<pid>/sched` of `task` (`proc_sched_show_task`).
#[cfg(not(test))]
pub fn proc_pid_sched(task: &crate::kernel::task::TaskRef) -> String {
    use core::sync::atomic::Ordering::Relaxed;
    let se = task.se.lock().clone();
    let (policy, _, prio) = sched_attrs(&se);
    // Two clock reads back to back: what a clock read costs here.
    let t0 = crate::arch::tsc::ns_since_boot();
    let t1 = crate::arch::tsc::ns_since_boot();
    render_sched(&SchedShow {
        comm: task.comm(),
        pid: task.pid,
        nr_threads: crate::kernel::tasklist::thread_group(task).len(),
        exec_start: se.exec_start,
        vruntime: se.fair.vruntime,
        sum_exec_runtime: se.fair.sum_exec_runtime,
        nr_migrations: se.nr_migrations,
        nvcsw: task.nvcsw.load(Relaxed),
        nivcsw: task.nivcsw.load(Relaxed),
        load_weight: se.fair.weight << 10,
        policy,
        prio,
        clock_delta: t1 - t0,
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Linux 6.18's /proc/self/sched, less the PELT (se.avg.*), se.slice and NUMA lines.
    #[test]
    fn sched_matches_linux() {
        let s = SchedShow {
            comm: "cat".into(),
            pid: 32639,
            nr_threads: 1,
            exec_start: 9565799200540,
            vruntime: 287530437,
            sum_exec_runtime: 0,
            load_weight: 1024 << 10,
            prio: 120,
            clock_delta: 210,
            ..Default::default()
        };
        let want = "cat (32639, #threads: 1)\n\
            -------------------------------------------------------------------\n\
            se.exec_start                                :       9565799.200540\n\
            se.vruntime                                  :           287.530437\n\
            se.sum_exec_runtime                          :             0.000000\n\
            se.nr_migrations                             :                    0\n\
            nr_switches                                  :                    0\n\
            nr_voluntary_switches                        :                    0\n\
            nr_involuntary_switches                      :                    0\n\
            se.load.weight                               :              1048576\n\
            policy                                       :                    0\n\
            prio                                         :                  120\n\
            clock-delta                                  :                  210\n";
        assert_eq!(render_sched(&s), want);
    }

    #[test]
    fn split_ns_handles_negative_values() {
        let mut out = String::new();
        sched_psn(&mut out, "x", -1_500_000);
        assert!(out.ends_with(":            -1.500000\n"), "{out}");
        out.clear();
        sched_psn(&mut out, "x", -500);
        assert!(out.ends_with(":             0.000500\n"), "{out}");
    }
}
