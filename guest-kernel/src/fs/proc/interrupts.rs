//! `/proc/interrupts` (Linux's kernel/irq/proc.c `show_interrupts` and x86's
//! `arch_show_interrupts`): a column per online CPU (an offline one is left out), a row per
//! IRQ that has a handler or has fired, then the interrupts without an IRQ number.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// One numbered interrupt's row.
#[derive(Clone, Debug)]
pub struct IrqRow {
    pub irq: u32,
    /// Per online CPU.
    pub counts: Vec<u64>,
    /// The interrupt controller ("IO-APIC") and the pin on it.
    pub chip: &'static str,
    pub hwirq: u32,
    /// The flow handler's name: "edge" or "fasteoi".
    pub handler: &'static str,
    /// The handlers' names (`request_irq`'s name).
    pub actions: Vec<&'static str>,
}

/// Per-CPU counts of the architecture's interrupts without a number (x86's `irq_stat`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ArchIrqStat {
    pub nmi: u64,
    pub apic_timer_irqs: u64,
    pub irq_spurious_count: u64,
    pub apic_perf_irqs: u64,
    pub apic_irq_work_irqs: u64,
    pub icr_read_retry_count: u64,
    pub irq_resched_count: u64,
    pub irq_call_count: u64,
    pub irq_tlb_count: u64,
}

/// The whole file: a column for each of `cpus` (the online CPUs), whose counts `rows` and
/// `arch` give in the same order. `nr_irqs` sets the width of the first column, as in Linux.
pub fn render_interrupts(
    nr_irqs: usize,
    cpus: &[usize],
    rows: &[IrqRow],
    arch: &[ArchIrqStat],
    irq_err_count: u64,
    irq_mis_count: u64,
) -> String {
    let mut out = String::with_capacity(1024);
    let mut prec = 3;
    let mut j = 1000;
    while prec < 10 && j <= nr_irqs {
        prec += 1;
        j *= 10;
    }
    let _ = write!(out, "{:w$}", "", w = prec + 8);
    for cpu in cpus {
        let _ = write!(out, "CPU{cpu:<8}");
    }
    out.push('\n');
    for r in rows {
        let _ = write!(out, "{:>prec$}: ", r.irq);
        for c in &r.counts {
            let _ = write!(out, "{c:>10} ");
        }
        let _ = write!(out, "{:>8} {:>prec$}-{:<8}", r.chip, r.hwirq, r.handler);
        for (i, name) in r.actions.iter().enumerate() {
            let _ = write!(out, "{}{name}", if i == 0 { "  " } else { ", " });
        }
        out.push('\n');
    }
    type Field = fn(&ArchIrqStat) -> u64;
    let lines: [(&str, Field, &str); 9] = [
        ("NMI", |s| s.nmi, "Non-maskable interrupts"),
        ("LOC", |s| s.apic_timer_irqs, "Local timer interrupts"),
        ("SPU", |s| s.irq_spurious_count, "Spurious interrupts"),
        (
            "PMI",
            |s| s.apic_perf_irqs,
            "Performance monitoring interrupts",
        ),
        ("IWI", |s| s.apic_irq_work_irqs, "IRQ work interrupts"),
        ("RTR", |s| s.icr_read_retry_count, "APIC ICR read retries"),
        ("RES", |s| s.irq_resched_count, "Rescheduling interrupts"),
        ("CAL", |s| s.irq_call_count, "Function call interrupts"),
        ("TLB", |s| s.irq_tlb_count, "TLB shootdowns"),
    ];
    for (name, field, what) in lines {
        let _ = write!(out, "{name:>prec$}: ");
        for s in arch {
            let _ = write!(out, "{:>10} ", field(s));
        }
        let _ = writeln!(out, "  {what}");
    }
    let _ = writeln!(out, "{:>prec$}: {irq_err_count:>10}", "ERR");
    let _ = writeln!(out, "{:>prec$}: {irq_mis_count:>10}", "MIS");
    out
}

/// `/proc/interrupts`: the IOAPIC pins with a handler (all edge-triggered), then NMIs, the
/// local timer, spurious and rescheduling interrupts, and the calls and TLB shootdowns run for
/// other CPUs (which arrive by NMI here), per CPU. The rows Linux prints for what our kernel
/// lacks (perf, IRQ work) show zeros.
#[cfg(not(test))]
pub fn interrupts_proc_show() -> String {
    use crate::arch::irq;
    use crate::arch::traps::NR_IRQS;
    use core::sync::atomic::Ordering::Relaxed;

    let cpus: Vec<usize> =
        crate::kernel::cpumask::for_each_cpu(crate::kernel::cpu::cpu_online_mask()).collect();
    let mut rows = Vec::new();
    irq::for_each(|pin, name, counts| {
        rows.push(IrqRow {
            irq: pin,
            counts: cpus.iter().map(|&cpu| counts[cpu]).collect(),
            chip: "IO-APIC",
            hwirq: pin,
            handler: "edge",
            actions: alloc::vec![name],
        })
    });
    let arch: Vec<ArchIrqStat> = cpus
        .iter()
        .map(|&cpu| {
            let st = irq::irq_stats(cpu);
            ArchIrqStat {
                nmi: st.nmi_count.load(Relaxed),
                apic_timer_irqs: st.apic_timer_irqs.load(Relaxed),
                irq_spurious_count: st.irq_spurious_count.load(Relaxed),
                irq_resched_count: st.irq_resched_count.load(Relaxed),
                irq_call_count: st.irq_call_count.load(Relaxed),
                irq_tlb_count: st.irq_tlb_count.load(Relaxed),
                ..Default::default()
            }
        })
        .collect();
    render_interrupts(NR_IRQS as usize, &cpus, &rows, &arch, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as Linux 6.x prints them (taken from a 2-CPU guest; device rows from its
    /// IO-APIC lines).
    #[test]
    fn layout_matches_linux() {
        let rows = [
            IrqRow {
                irq: 4,
                counts: alloc::vec![0, 15],
                chip: "IO-APIC",
                hwirq: 4,
                handler: "edge",
                actions: alloc::vec!["ttyS0"],
            },
            IrqRow {
                irq: 24,
                counts: alloc::vec![1, 0],
                chip: "IO-APIC",
                hwirq: 5,
                handler: "edge",
                actions: alloc::vec!["ACPI:Ged", "virtio0"],
            },
        ];
        let arch = [
            ArchIrqStat {
                apic_timer_irqs: 745438,
                irq_resched_count: 72988,
                irq_call_count: 574650,
                irq_tlb_count: 357304,
                ..Default::default()
            },
            ArchIrqStat {
                apic_timer_irqs: 772117,
                apic_irq_work_irqs: 1,
                irq_resched_count: 66045,
                irq_call_count: 544749,
                irq_tlb_count: 344989,
                ..Default::default()
            },
        ];
        let want = "           CPU0       CPU1       \n  \
              4:          0         15  IO-APIC   4-edge      ttyS0\n \
             24:          1          0  IO-APIC   5-edge      ACPI:Ged, virtio0\n\
            NMI:          0          0   Non-maskable interrupts\n\
            LOC:     745438     772117   Local timer interrupts\n\
            SPU:          0          0   Spurious interrupts\n\
            PMI:          0          0   Performance monitoring interrupts\n\
            IWI:          0          1   IRQ work interrupts\n\
            RTR:          0          0   APIC ICR read retries\n\
            RES:      72988      66045   Rescheduling interrupts\n\
            CAL:     574650     544749   Function call interrupts\n\
            TLB:     357304     344989   TLB shootdowns\n\
            ERR:          0\n\
            MIS:          0\n";
        assert_eq!(render_interrupts(56, &[0, 1], &rows, &arch, 0, 0), want);
    }

    #[test]
    fn first_column_widens_with_nr_irqs() {
        let out = render_interrupts(4096, &[0], &[], &[ArchIrqStat::default()], 0, 0);
        assert!(out.starts_with("            CPU0       \n"), "{out:?}");
        assert!(out.contains("\n NMI:          0   Non-maskable"), "{out:?}");
    }
}
