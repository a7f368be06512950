//! The load average (Linux's kernel/sched/loadavg.c): exponentially decaying averages of the
//! number of tasks that are runnable or in uninterruptible sleep, sampled every 5 seconds.
//!
//! Fixed point with 11 fractional bits, as in Linux, so /proc/loadavg shows the same numbers
//! for the same history: each sample does `load = load * e + active * (1 - e)` with
//! e = exp(-5 s / 1, 5, 15 min) rounded to FIXED_1 units, rounding up while the load rises.
//! The boot CPU's tick samples (`calc_global_load`, what Linux's `do_timer` calls); if ticks
//! were missed, the missed samples are applied at once (`calc_load_n`).

use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

/// Bits of precision.
pub const FSHIFT: u32 = 11;
/// 1.0 in fixed point.
pub const FIXED_1: u64 = 1 << FSHIFT;
/// 1/exp(5 s / 1 min), 1/exp(5 s / 5 min), 1/exp(5 s / 15 min) in fixed point.
pub const EXP_1: u64 = 1884;
pub const EXP_5: u64 = 2014;
pub const EXP_15: u64 = 2037;
/// Ticks between samples: 5 seconds and one tick (HZ = 100).
pub const LOAD_FREQ: u64 = 5 * 100 + 1;

/// One step of the average: `load` decays by `exp` towards `active` (both fixed point).
pub fn calc_load(load: u64, exp: u64, active: u64) -> u64 {
    let mut newload = load * exp + active * (FIXED_1 - exp);
    if active >= load {
        newload += FIXED_1 - 1;
    }
    newload / FIXED_1
}

/// `x^n` for fixed-point `x` with `frac_bits` fractional bits, by squaring (rounding each step
/// as Linux does, so results match it bit for bit).
pub fn fixed_power_int(mut x: u64, frac_bits: u32, mut n: u32) -> u64 {
    let mut result = 1u64 << frac_bits;
    if n != 0 {
        loop {
            if n & 1 != 0 {
                result *= x;
                result += 1 << (frac_bits - 1);
                result >>= frac_bits;
            }
            n >>= 1;
            if n == 0 {
                break;
            }
            x *= x;
            x += 1 << (frac_bits - 1);
            x >>= frac_bits;
        }
    }
    result
}

/// `n` steps of `calc_load` with the same `active`, at once.
pub fn calc_load_n(load: u64, exp: u64, active: u64, n: u32) -> u64 {
    calc_load(load, fixed_power_int(exp, FSHIFT, n), active)
}

/// Integer part of a fixed-point value.
pub fn load_int(x: u64) -> u64 {
    x >> FSHIFT
}

/// Two decimal digits of the fractional part.
pub fn load_frac(x: u64) -> u64 {
    load_int((x & (FIXED_1 - 1)) * 100)
}

/// The three averages, fixed point (Linux's `avenrun[]`).
pub struct Avenrun {
    avenrun: [AtomicU64; 3],
    /// The jiffy at which the next sample is due (`calc_load_update`).
    calc_load_update: AtomicU64,
}

impl Avenrun {
    pub const fn new() -> Self {
        Avenrun {
            avenrun: [const { AtomicU64::new(0) }; 3],
            calc_load_update: AtomicU64::new(LOAD_FREQ),
        }
    }

    /// Take the sample if it is due at `jiffies`, with `active` tasks (a plain count); returns
    /// whether it did. Called from one CPU only (the boot CPU's tick).
    pub fn sample(&self, jiffies: u64, active: impl FnOnce() -> u64) -> bool {
        let window = self.calc_load_update.load(Ordering::Relaxed);
        // Ten ticks late, as in Linux, where every CPU must have folded its count by then.
        if jiffies < window + 10 {
            return false;
        }
        // More than one window behind (ticks were lost): apply every missed sample.
        let n = 1 + (jiffies - window - 10) / LOAD_FREQ;
        let active = active() * FIXED_1;
        for (avg, exp) in self.avenrun.iter().zip([EXP_1, EXP_5, EXP_15]) {
            let load = avg.load(Ordering::Relaxed);
            avg.store(calc_load_n(load, exp, active, n as u32), Ordering::Relaxed);
        }
        self.calc_load_update
            .store(window + n * LOAD_FREQ, Ordering::Relaxed);
        true
    }

    /// The averages with `offset` added (`get_avenrun`; /proc/loadavg rounds with FIXED_1/200).
    pub fn get(&self, offset: u64) -> [u64; 3] {
        core::array::from_fn(|i| self.avenrun[i].load(Ordering::Relaxed) + offset)
    }
}

impl Default for Avenrun {
    fn default() -> Self {
        Self::new()
    }
}

/// The /proc/loadavg line: three averages, runnable/total tasks, the last PID allocated.
pub fn loadavg_format(
    avnrun: [u64; 3],
    nr_running: usize,
    nr_threads: usize,
    last_pid: i32,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}.{:02} {}.{:02} {}.{:02} {}/{} {}",
        load_int(avnrun[0]),
        load_frac(avnrun[0]),
        load_int(avnrun[1]),
        load_frac(avnrun[1]),
        load_int(avnrun[2]),
        load_frac(avnrun[2]),
        nr_running,
        nr_threads,
        last_pid
    );
    s
}

pub static AVENRUN: Avenrun = Avenrun::new();

/// Tasks in uninterruptible sleep that count towards the load (`task_contributes_to_load`:
/// TASK_UNINTERRUPTIBLE without TASK_NOLOAD, i.e. not TASK_IDLE), off their run queue.
/// Counted from the task list; if another CPU holds it, the previous count stands in (the
/// tick must not wait for a lock).
#[cfg(not(test))]
fn nr_uninterruptible() -> u64 {
    use crate::kernel::task::{TASK_NOLOAD, TASK_UNINTERRUPTIBLE};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let Some(tl) = crate::kernel::tasklist::try_lock() else {
        return LAST.load(Ordering::Relaxed);
    };
    let n = tl
        .entries
        .values()
        .filter(|e| {
            let state = e.task.state();
            state & TASK_UNINTERRUPTIBLE != 0
                && state & TASK_NOLOAD == 0
                && !e.task.on_rq.load(Ordering::Relaxed)
        })
        .count() as u64;
    LAST.store(n, Ordering::Relaxed);
    n
}

/// Sample the load if a window has passed (the boot CPU's tick calls this every jiffy, as
/// Linux's `do_timer` does).
#[cfg(not(test))]
pub fn calc_global_load() {
    AVENRUN.sample(crate::kernel::time::jiffies(), || {
        crate::sched::nr_running() as u64 + nr_uninterruptible()
    });
}

/// `/proc/loadavg`.
#[cfg(not(test))]
pub fn loadavg_proc_show() -> String {
    let (nr_threads, last_pid) = {
        let tl = crate::kernel::tasklist::lock();
        (tl.nr_threads(), tl.last_pid())
    };
    loadavg_format(
        AVENRUN.get(FIXED_1 / 200),
        crate::sched::nr_running(),
        nr_threads,
        last_pid,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(a: &mut [u64; 3], active: u64) {
        a[0] = calc_load(a[0], EXP_1, active * FIXED_1);
        a[1] = calc_load(a[1], EXP_5, active * FIXED_1);
        a[2] = calc_load(a[2], EXP_15, active * FIXED_1);
    }

    fn shown(a: [u64; 3]) -> String {
        let s = loadavg_format(a.map(|x| x + FIXED_1 / 200), 0, 0, 0);
        s.split(' ')
            .take(3)
            .collect::<alloc::vec::Vec<_>>()
            .join(" ")
    }

    /// Reference values from Linux's loadavg.c arithmetic compiled as C.
    #[test]
    fn matches_linux_fixed_point() {
        let mut a = [0u64; 3];
        for _ in 0..12 {
            step(&mut a, 1);
        }
        assert_eq!(a, [1299, 378, 132]);
        assert_eq!(shown(a), "0.63 0.18 0.06");
        for _ in 0..24 {
            step(&mut a, 3);
        }
        assert_eq!(a, [5496, 2296, 872]);
        assert_eq!(shown(a), "2.68 1.12 0.43");
        for _ in 0..60 {
            step(&mut a, 0);
        }
        assert_eq!(a, [31, 821, 606]);
        assert_eq!(shown(a), "0.02 0.40 0.30");
    }

    #[test]
    fn catch_up_uses_fixed_power() {
        assert_eq!(fixed_power_int(EXP_1, FSHIFT, 1), 1884);
        assert_eq!(fixed_power_int(EXP_1, FSHIFT, 2), 1733);
        assert_eq!(fixed_power_int(EXP_5, FSHIFT, 7), 1822);
        assert_eq!(fixed_power_int(EXP_15, FSHIFT, 100), 1191);
        assert_eq!(calc_load_n(2 * FIXED_1, EXP_1, 0, 5), 2698);
        assert_eq!(calc_load_n(0, EXP_1, 4 * FIXED_1, 5), 2796);
        assert_eq!(calc_load_n(0, EXP_5, 4 * FIXED_1, 5), 656);
        assert_eq!(calc_load_n(0, EXP_15, 4 * FIXED_1, 5), 220);
    }

    #[test]
    fn samples_every_load_freq_ten_ticks_late() {
        let avg = Avenrun::new();
        assert!(!avg.sample(LOAD_FREQ + 9, || 1));
        assert!(avg.sample(LOAD_FREQ + 10, || 1));
        assert_eq!(avg.get(0), [164, 34, 11]);
        assert!(!avg.sample(LOAD_FREQ + 11, || 1));
        // Five windows missed at once: one catch-up step of five.
        assert!(avg.sample(6 * LOAD_FREQ + 10, || 0));
        assert!(!avg.sample(6 * LOAD_FREQ + 11, || 0));
        assert!(avg.sample(7 * LOAD_FREQ + 10, || 0));
    }

    #[test]
    fn proc_line_layout() {
        assert_eq!(
            loadavg_format([10, 2048 * 3 / 2 + 10, 2048 * 12 + 10], 2, 57, 311),
            "0.00 1.50 12.00 2/57 311\n"
        );
    }
}
