//! `/proc/stat` (Linux's fs/proc/stat.c `show_stat`): CPU time per state for all CPUs and
//! each, interrupt counts, context switches, boot time, forks, and runnable/blocked tasks.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// Softirq vectors (`NR_SOFTIRQS`): HI TIMER NET_TX NET_RX BLOCK IRQ_POLL TASKLET SCHED
/// HRTIMER RCU.
pub const NR_SOFTIRQS: usize = 10;

/// One CPU's time, in clock ticks (USER_HZ), in /proc/stat's column order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
    pub guest: u64,
    pub guest_nice: u64,
}

impl CpuTimes {
    fn columns(&self) -> [u64; 10] {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
            self.guest,
            self.guest_nice,
        ]
    }

    fn add(&mut self, o: &CpuTimes) {
        self.user += o.user;
        self.nice += o.nice;
        self.system += o.system;
        self.idle += o.idle;
        self.iowait += o.iowait;
        self.irq += o.irq;
        self.softirq += o.softirq;
        self.steal += o.steal;
        self.guest += o.guest;
        self.guest_nice += o.guest_nice;
    }
}

/// What /proc/stat shows.
#[derive(Clone, Debug, Default)]
pub struct KernelStat {
    /// Summed over every CPU, online or not (the `cpu` line).
    pub all: CpuTimes,
    /// Per online CPU, in CPU order, with its number.
    pub cpus: Vec<(usize, CpuTimes)>,
    /// All interrupts, including those without an IRQ number (timer, IPIs).
    pub intr_sum: u64,
    /// Per IRQ number, 0 .. nr_irqs.
    pub irqs: Vec<u64>,
    pub ctxt: u64,
    /// Boot time, seconds since the epoch.
    pub btime: u64,
    /// Tasks created since boot.
    pub processes: u64,
    pub procs_running: u64,
    pub procs_blocked: u64,
    pub softirqs: [u64; NR_SOFTIRQS],
}

pub fn render_stat(s: &KernelStat) -> String {
    let mut out = String::with_capacity(512 + 2 * s.irqs.len());
    out.push_str("cpu ");
    for v in s.all.columns() {
        let _ = write!(out, " {v}");
    }
    out.push('\n');
    for (i, c) in &s.cpus {
        let _ = write!(out, "cpu{i}");
        for v in c.columns() {
            let _ = write!(out, " {v}");
        }
        out.push('\n');
    }
    let _ = write!(out, "intr {}", s.intr_sum);
    for n in &s.irqs {
        let _ = write!(out, " {n}");
    }
    let _ = write!(
        out,
        "\nctxt {}\nbtime {}\nprocesses {}\nprocs_running {}\nprocs_blocked {}\n",
        s.ctxt, s.btime, s.processes, s.procs_running, s.procs_blocked
    );
    let _ = write!(out, "softirq {}", s.softirqs.iter().sum::<u64>());
    for n in &s.softirqs {
        let _ = write!(out, " {n}");
    }
    out.push('\n');
    out
}

/// `/proc/stat` from the per-CPU tick counters (`kernel::time`) and the interrupt counters.
/// Our tick is USER_HZ, so ticks are clock ticks as they are. Not counted (yet): iowait
/// (no I/O waits), irq and softirq time, steal, guest, softirqs. Totals count every CPU;
/// the `cpuN` lines are the online CPUs' (`show_stat`).
#[cfg(not(test))]
pub fn stat_proc_show() -> String {
    use crate::arch::irq;
    use crate::arch::percpu::{nr_cpu_ids, MAX_CPUS};
    use crate::arch::traps::NR_IRQS;
    use crate::kernel::time::{CPU_IDLE, CPU_NICE, CPU_SYSTEM, CPU_USER};
    use core::sync::atomic::Ordering::Relaxed;

    let nr_cpus = nr_cpu_ids().min(MAX_CPUS);
    let times = |cpu: usize| CpuTimes {
        user: CPU_USER[cpu].load(Relaxed),
        nice: CPU_NICE[cpu].load(Relaxed),
        system: CPU_SYSTEM[cpu].load(Relaxed),
        idle: CPU_IDLE[cpu].load(Relaxed),
        ..Default::default()
    };
    let mut all = CpuTimes::default();
    (0..nr_cpus).for_each(|cpu| all.add(&times(cpu)));
    let online = crate::kernel::cpu::cpu_online_mask();
    let cpus = crate::kernel::cpumask::for_each_cpu(online)
        .map(|cpu| (cpu, times(cpu)))
        .collect();
    let mut irqs = alloc::vec![0u64; NR_IRQS as usize];
    irq::for_each(|pin, _, counts| {
        irqs[pin as usize] = counts[..nr_cpus].iter().sum();
    });
    // Interrupts without a number (`arch_irq_stat_cpu`): NMIs, the local timer, spurious,
    // IPIs, and the calls and TLB flushes run for other CPUs.
    let arch: u64 = (0..nr_cpus)
        .map(|cpu| {
            let st = irq::irq_stats(cpu);
            st.nmi_count.load(Relaxed)
                + st.apic_timer_irqs.load(Relaxed)
                + st.irq_spurious_count.load(Relaxed)
                + st.irq_resched_count.load(Relaxed)
                + st.irq_call_count.load(Relaxed)
                + st.irq_tlb_count.load(Relaxed)
        })
        .sum();
    let s = KernelStat {
        all,
        cpus,
        intr_sum: irqs.iter().sum::<u64>() + arch,
        irqs,
        ctxt: crate::sched::NR_CONTEXT_SWITCHES.load(Relaxed),
        btime: crate::kernel::time::realtime_offset_ns() / 1_000_000_000,
        processes: crate::kernel::fork::TOTAL_FORKS.load(Relaxed),
        procs_running: crate::sched::nr_running() as u64,
        procs_blocked: 0,
        softirqs: core::array::from_fn(|nr| {
            (0..nr_cpus)
                .map(|cpu| crate::kernel::softirq::softirq_count(cpu, nr))
                .sum()
        }),
    };
    render_stat(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_linux() {
        let s = KernelStat {
            all: CpuTimes {
                user: 261774,
                nice: 667,
                system: 194115,
                idle: 1444967,
                iowait: 5680,
                softirq: 366,
                steal: 482,
                guest: 459,
                ..Default::default()
            },
            cpus: alloc::vec![
                (
                    0,
                    CpuTimes {
                        user: 126027,
                        nice: 667,
                        system: 95263,
                        idle: 730702,
                        iowait: 1029,
                        softirq: 69,
                        steal: 229,
                        guest: 263,
                        ..Default::default()
                    }
                ),
                (
                    2,
                    CpuTimes {
                        user: 135747,
                        system: 98852,
                        idle: 714265,
                        iowait: 4651,
                        softirq: 297,
                        steal: 253,
                        guest: 196,
                        ..Default::default()
                    }
                ),
            ],
            intr_sum: 2978073,
            irqs: alloc::vec![0, 0, 1, 15],
            ctxt: 3519944,
            btime: 1795480317,
            processes: 130026,
            procs_running: 4,
            procs_blocked: 0,
            softirqs: [0, 227924, 4, 11594, 165897, 0, 117, 370596, 0, 445546],
        };
        let want = "cpu  261774 667 194115 1444967 5680 0 366 482 459 0\n\
                    cpu0 126027 667 95263 730702 1029 0 69 229 263 0\n\
                    cpu2 135747 0 98852 714265 4651 0 297 253 196 0\n\
                    intr 2978073 0 0 1 15\n\
                    ctxt 3519944\n\
                    btime 1795480317\n\
                    processes 130026\n\
                    procs_running 4\n\
                    procs_blocked 0\n\
                    softirq 1221678 0 227924 4 11594 165897 0 117 370596 0 445546\n";
        assert_eq!(render_stat(&s), want);
    }
}
