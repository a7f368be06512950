//! Device interrupt handlers, by IOAPIC pin (Linux's `request_irq`).

use core::sync::atomic::AtomicU64;

use spin::Mutex;

use super::percpu::{cpu_id, MAX_CPUS};
use super::traps::NR_IRQS;

pub type Handler = fn(pin: u32);

struct Action {
    handler: Handler,
    name: &'static str,
    /// Interrupts handled, per CPU (`kstat_irqs`).
    count: [u64; MAX_CPUS],
    /// The CPU the line is routed to (its affinity).
    cpu: usize,
}

/// Per-CPU counts of the interrupts that have no IRQ number (Linux's `irq_cpustat_t`), for
/// /proc/interrupts and /proc/stat.
pub struct IrqStat {
    pub nmi_count: AtomicU64,
    pub apic_timer_irqs: AtomicU64,
    pub irq_resched_count: AtomicU64,
    /// Calls run for other CPUs (`smp_call_function_many`).
    pub irq_call_count: AtomicU64,
    /// TLB flushes other CPUs asked for.
    pub irq_tlb_count: AtomicU64,
    pub irq_spurious_count: AtomicU64,
}

static IRQ_STAT: [IrqStat; MAX_CPUS] = [const {
    IrqStat {
        nmi_count: AtomicU64::new(0),
        apic_timer_irqs: AtomicU64::new(0),
        irq_resched_count: AtomicU64::new(0),
        irq_call_count: AtomicU64::new(0),
        irq_tlb_count: AtomicU64::new(0),
        irq_spurious_count: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// CPU `cpu`'s counters (`irq_stats(cpu)`).
pub fn irq_stats(cpu: usize) -> &'static IrqStat {
    &IRQ_STAT[cpu]
}

/// This CPU's counters, to count an interrupt in (`inc_irq_stat`).
#[inline(always)]
pub fn this_cpu_irq_stat() -> &'static IrqStat {
    &IRQ_STAT[cpu_id()]
}

static ACTIONS: Mutex<[Option<Action>; NR_IRQS as usize]> =
    Mutex::new([const { None }; NR_IRQS as usize]);

/// Install `handler` for interrupt line `pin` (a GSI) and route it to this CPU.
pub fn request_irq(pin: u32, name: &'static str, handler: Handler) -> bool {
    if pin >= NR_IRQS as u32 || !super::ioapic::has_gsi(pin) {
        return false;
    }
    super::cpu::without_interrupts(|| {
        ACTIONS.lock()[pin as usize] = Some(Action {
            handler,
            name,
            count: [0; MAX_CPUS],
            cpu: cpu_id(),
        });
    });
    super::ioapic::route(pin, super::percpu::this_cpu().apic_id);
    true
}

pub fn handle(pin: u32) {
    let (handler, name) = {
        let mut actions = ACTIONS.lock();
        match actions.get_mut(pin as usize).and_then(|a| a.as_mut()) {
            Some(action) => {
                action.count[cpu_id()] += 1;
                (action.handler, action.name)
            }
            None => return,
        }
    };
    crate::trace::trace_irq_handler_entry(pin, name);
    handler(pin);
    crate::trace::trace_irq_handler_exit(pin, true);
}

/// `cpu` is going offline: route the lines it served to the first online CPU
/// (`fixup_irqs`).
pub fn fixup_irqs(cpu: usize, to: usize) {
    super::cpu::without_interrupts(|| {
        let mut actions = ACTIONS.lock();
        for (pin, action) in actions.iter_mut().enumerate() {
            if let Some(a) = action.as_mut().filter(|a| a.cpu == cpu) {
                a.cpu = to;
                super::ioapic::route(pin as u32, super::percpu::apic_id_of(to));
            }
        }
    })
}

/// (pin, name, per-CPU counts) for every installed handler, for /proc/interrupts.
pub fn for_each(mut f: impl FnMut(u32, &'static str, &[u64; MAX_CPUS])) {
    super::cpu::without_interrupts(|| {
        let actions = ACTIONS.lock();
        for (pin, action) in actions.iter().enumerate() {
            if let Some(a) = action {
                f(pin as u32, a.name, &a.count);
            }
        }
    })
}
