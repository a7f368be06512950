//! The local APIC (xAPIC, MMIO through the direct map): EOI, IPIs and the timer.
//!
//! The tick uses TSC-deadline mode when the CPU offers it (one `wrmsr` per tick, no
//! calibration), otherwise the APIC timer in periodic mode calibrated against the TSC.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::cpu::{cpuid, msr, rdmsr, rdtsc, wrmsr};
use super::iomem::IoMem;
use super::traps::{LOCAL_TIMER_VECTOR, SPURIOUS_VECTOR};
use super::tsc;

const ID: u32 = 0x20;
const TPR: u32 = 0x80;
const EOI: u32 = 0xb0;
const SVR: u32 = 0xf0;
const ICR_LOW: u32 = 0x300;
const ICR_HIGH: u32 = 0x310;
const LVT_TIMER: u32 = 0x320;
const LVT_LINT0: u32 = 0x350;
const LVT_LINT1: u32 = 0x360;
const TIMER_INIT: u32 = 0x380;
const TIMER_CURRENT: u32 = 0x390;
const TIMER_DIVIDE: u32 = 0x3e0;

const LVT_MASKED: u32 = 1 << 16;
const TIMER_PERIODIC: u32 = 1 << 17;
const TIMER_TSC_DEADLINE: u32 = 2 << 17;

static TSC_DEADLINE: AtomicBool = AtomicBool::new(false);
/// APIC timer counts per tick, in periodic mode.
static PERIODIC_COUNT: AtomicU32 = AtomicU32::new(0);

// SAFETY: the local APIC's register page, at its architectural address, inside the direct map.
static LAPIC: IoMem = unsafe { IoMem::new(abi::layout::LAPIC_BASE, 0x1000) };

fn read(offset: u32) -> u32 {
    LAPIC.readl(offset as u64)
}

fn write(offset: u32, value: u32) {
    LAPIC.writel(offset as u64, value)
}

pub fn id() -> u32 {
    read(ID) >> 24
}

/// Enable this CPU's local APIC.
pub fn init_this_cpu() {
    // Hardware-enable in the MSR in case the firmware did not.
    let base = rdmsr(msr::IA32_APIC_BASE);
    if base & (1 << 11) == 0 {
        // SAFETY: sets only the global enable bit, keeping the base address.
        unsafe { wrmsr(msr::IA32_APIC_BASE, base | (1 << 11)) };
    }
    write(TPR, 0);
    write(SVR, 0x100 | SPURIOUS_VECTOR as u32);
    write(LVT_LINT0, LVT_MASKED);
    write(LVT_LINT1, 0x400); // NMI
}

pub fn eoi() {
    write(EOI, 0);
}

/// Send INIT, then a start-up IPI with `vector` (the page number of the trampoline).
pub fn send_init_sipi(apic_id: u32, vector: u8) {
    write(ICR_HIGH, apic_id << 24);
    write(ICR_LOW, 0x4500); // INIT, assert
    send_sipi(apic_id, vector);
}

pub fn send_sipi(apic_id: u32, vector: u8) {
    write(ICR_HIGH, apic_id << 24);
    write(ICR_LOW, 0x4600 | vector as u32);
}

/// Send a fixed interrupt to another CPU.
pub fn send_ipi(apic_id: u32, vector: u8) {
    write(ICR_HIGH, apic_id << 24);
    write(ICR_LOW, vector as u32);
}

/// Send a non-maskable interrupt to another CPU (delivery mode NMI; the vector is unused).
pub fn send_nmi(apic_id: u32) {
    write(ICR_HIGH, apic_id << 24);
    write(ICR_LOW, 0x400);
}

/// Decide the timer mode (boot CPU, once).
pub fn timer_setup(period_ns: u64) {
    let deadline = cpuid(1, 0).ecx & (1 << 24) != 0;
    TSC_DEADLINE.store(deadline, Ordering::Relaxed);
    if !deadline {
        // Calibrate: count APIC ticks (divide by 16) over a known number of TSC ticks.
        write(TIMER_DIVIDE, 0x3);
        write(LVT_TIMER, LVT_MASKED);
        write(TIMER_INIT, u32::MAX);
        let start = rdtsc();
        let wait = tsc::ns_to_ticks(1_000_000);
        while rdtsc() - start < wait {}
        let per_ms = u32::MAX - read(TIMER_CURRENT);
        let count = (per_ms as u64 * period_ns / 1_000_000).max(1);
        PERIODIC_COUNT.store(count as u32, Ordering::Relaxed);
    }
}

pub fn timer_mode() -> &'static str {
    if TSC_DEADLINE.load(Ordering::Relaxed) {
        "TSC-deadline"
    } else {
        "periodic"
    }
}

/// Start this CPU's tick.
pub fn timer_start_this_cpu(period_ns: u64) {
    if TSC_DEADLINE.load(Ordering::Relaxed) {
        write(LVT_TIMER, TIMER_TSC_DEADLINE | LOCAL_TIMER_VECTOR as u32);
        timer_rearm(period_ns);
    } else {
        write(TIMER_DIVIDE, 0x3);
        write(LVT_TIMER, TIMER_PERIODIC | LOCAL_TIMER_VECTOR as u32);
        write(TIMER_INIT, PERIODIC_COUNT.load(Ordering::Relaxed));
    }
}

/// Stop this CPU's tick, for a CPU going offline (`lapic_timer_shutdown`).
pub fn timer_stop_this_cpu() {
    write(LVT_TIMER, LVT_MASKED);
    if TSC_DEADLINE.load(Ordering::Relaxed) {
        // SAFETY: a zero deadline disarms the timer; nothing else depends on it.
        unsafe { wrmsr(msr::IA32_TSC_DEADLINE, 0) };
    } else {
        write(TIMER_INIT, 0);
    }
}

/// Program the next tick (TSC-deadline mode only; periodic mode re-arms itself).
pub fn timer_rearm(period_ns: u64) {
    if TSC_DEADLINE.load(Ordering::Relaxed) {
        // SAFETY: writing the deadline MSR only schedules a timer interrupt.
        unsafe {
            wrmsr(
                msr::IA32_TSC_DEADLINE,
                rdtsc() + tsc::ns_to_ticks(period_ns),
            )
        };
    }
}
