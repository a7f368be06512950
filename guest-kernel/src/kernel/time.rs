//! Timekeeping: jiffies from the tick, clocks from the TSC.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::{apic, tsc};
use crate::kernel::errno::*;
use crate::mm::usercopy::write_user;

pub const HZ: u64 = 100;
pub const TICK_NS: u64 = 1_000_000_000 / HZ;

static JIFFIES: AtomicU64 = AtomicU64::new(0);
/// Wall-clock seconds at boot (from the RTC), for CLOCK_REALTIME.
static BOOT_EPOCH: AtomicU64 = AtomicU64::new(0);

pub fn set_boot_epoch(secs: u64) {
    BOOT_EPOCH.store(secs, Ordering::Relaxed);
}

pub fn jiffies() -> u64 {
    JIFFIES.load(Ordering::Relaxed)
}

/// The local timer interrupt.
pub fn timer_interrupt() {
    if crate::arch::percpu::cpu_id() == 0 {
        JIFFIES.fetch_add(1, Ordering::Relaxed);
    }
    apic::timer_rearm(TICK_NS);
}

pub fn sys_clock_gettime(clock: u64, tp: u64) -> KResult<i64> {
    let ns = tsc::ns_since_boot();
    let ns = match clock {
        0 | 5 | 8 | 11 => ns + BOOT_EPOCH.load(Ordering::Relaxed) * 1_000_000_000, // REALTIME(_COARSE), ALARM, TAI
        1 | 4 | 6 | 7 | 9 => ns, // MONOTONIC(_RAW, _COARSE), BOOTTIME(_ALARM)
        2 | 3 => ns,             // PROCESS/THREAD_CPUTIME: the one task has run all along
        _ => return Err(EINVAL),
    };
    write_user(tp, &[ns / 1_000_000_000, ns % 1_000_000_000])?;
    Ok(0)
}
