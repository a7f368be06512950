//! The TSC as the kernel's clock source.
//!
//! Frequency, in order of preference: our VMM's hypervisor leaf (KVM knows the exact rate),
//! CPUID 0x15 (crystal ratio), CPUID 0x16 (base MHz), and last a calibration against the PIT
//! (QEMU TCG offers none of the above).

use core::sync::atomic::{AtomicU64, Ordering};

use super::cpu::{cpuid, inb, on_watchvm, outb, rdtsc};

static TSC_KHZ: AtomicU64 = AtomicU64::new(1_000_000);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);

/// Remember the boot TSC; called first thing so timestamps start near zero.
pub fn mark_boot() {
    TSC_AT_BOOT.store(rdtsc(), Ordering::Relaxed);
}

pub fn init() -> &'static str {
    let (khz, source) = if let Some(khz) = hypervisor_khz() {
        (khz, "hypervisor")
    } else if let Some(khz) = cpuid_khz() {
        (khz, "cpuid")
    } else {
        (calibrate_with_pit(), "PIT calibration")
    };
    TSC_KHZ.store(khz.max(1), Ordering::Relaxed);
    source
}

/// The TSC at time zero of [`ns_since_boot`].
pub fn boot_tsc() -> u64 {
    TSC_AT_BOOT.load(Ordering::Relaxed)
}

pub fn khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

/// Nanoseconds since boot.
pub fn ns_since_boot() -> u64 {
    let ticks = rdtsc().wrapping_sub(TSC_AT_BOOT.load(Ordering::Relaxed));
    ((ticks as u128 * 1_000_000) / khz() as u128) as u64
}

/// Convert a duration to TSC ticks.
pub fn ns_to_ticks(ns: u64) -> u64 {
    ((ns as u128 * khz() as u128) / 1_000_000) as u64
}

fn hypervisor_khz() -> Option<u64> {
    if !on_watchvm() {
        return None;
    }
    let features = cpuid(abi::cpuid::FEATURES_LEAF, 0);
    (features.ebx != 0).then_some(features.ebx as u64)
}

fn cpuid_khz() -> Option<u64> {
    let max = cpuid(0, 0).eax;
    if max >= 0x15 {
        let l = cpuid(0x15, 0);
        if l.eax != 0 && l.ebx != 0 && l.ecx != 0 {
            return Some(l.ecx as u64 * l.ebx as u64 / l.eax as u64 / 1000);
        }
    }
    if max >= 0x16 {
        let l = cpuid(0x16, 0);
        if l.eax != 0 {
            return Some(l.eax as u64 * 1000);
        }
    }
    None
}

/// Count TSC ticks against PIT channel 0 (1.193182 MHz, always gated on) over at least 10 ms.
/// (Channel 2 would need the speaker gate at port 0x61, which QEMU's microvm lacks.)
///
/// The rate is taken over the PIT ticks that really passed, each latch dated by the TSC reads
/// around it: under QEMU TCG a port access costs microseconds and the host may deschedule the
/// vCPU, so the loop overshoots its 10 ms by a varying amount, and assuming exactly 10 ms read
/// the rate up to 6 % high.
fn calibrate_with_pit() -> u64 {
    const PIT_HZ: u64 = 1_193_182;
    const MS: u64 = 10;
    let ticks = (PIT_HZ * MS / 1000) as u16;
    // The counter, and the TSC at its latch (the middle of the latch command).
    let read_counter = || {
        let before = rdtsc();
        outb(0x43, 0x00); // latch channel 0
        let after = rdtsc();
        let lo = inb(0x40) as u16;
        let hi = inb(0x40) as u16;
        (hi << 8 | lo, before + (after - before) / 2)
    };
    outb(0x43, 0x34); // channel 0, lobyte/hibyte, mode 2 (rate generator)
    outb(0x40, 0xff);
    outb(0x40, 0xff);
    let (first, start) = read_counter();
    let mut spins = 0u64;
    loop {
        let (now, tsc) = read_counter();
        let passed = first.wrapping_sub(now);
        if passed >= ticks {
            return (tsc - start) * PIT_HZ / (passed as u64 * 1000);
        }
        spins += 1;
        if spins > 10_000_000 {
            return 1_000_000; // no PIT: assume 1 GHz rather than hang
        }
    }
}
