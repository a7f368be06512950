//! `/proc/uptime` (Linux's fs/proc/uptime.c): seconds since boot and seconds spent idle,
//! summed over CPUs, each with two decimals.

use alloc::string::String;
use core::fmt::Write;

/// "12.34 23.45\n" from nanoseconds (truncated to hundredths, as Linux does).
pub fn uptime_format(uptime_ns: u64, idle_ns: u64) -> String {
    const NSEC_PER_SEC: u64 = 1_000_000_000;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}.{:02} {}.{:02}",
        uptime_ns / NSEC_PER_SEC,
        uptime_ns % NSEC_PER_SEC / (NSEC_PER_SEC / 100),
        idle_ns / NSEC_PER_SEC,
        idle_ns % NSEC_PER_SEC / (NSEC_PER_SEC / 100)
    );
    s
}

/// `/proc/uptime`: idle time is counted in ticks per CPU (`kernel::time::CPU_IDLE`).
#[cfg(not(test))]
pub fn uptime_proc_show() -> String {
    use crate::kernel::time::{CPU_IDLE, TICK_NS};
    use core::sync::atomic::Ordering::Relaxed;
    let idle_ticks: u64 = CPU_IDLE.iter().map(|t| t.load(Relaxed)).sum();
    uptime_format(crate::arch::tsc::ns_since_boot(), idle_ticks * TICK_NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_decimals_truncated() {
        assert_eq!(
            uptime_format(9_568_029_999_999, 14_449_680_000_000),
            "9568.02 14449.68\n"
        );
        assert_eq!(uptime_format(0, 0), "0.00 0.00\n");
        assert_eq!(uptime_format(1_050_000_000, 90_000_000), "1.05 0.09\n");
    }
}
