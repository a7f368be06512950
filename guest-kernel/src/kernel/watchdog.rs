//! The soft-lockup detector (Linux's kernel/watchdog.c).
//!
//! Each CPU samples every `watchdog_thresh * 2 / 5` seconds from its timer interrupt
//! (`watchdog_timer_fn`; Linux uses a per-CPU hrtimer, ours run on CPU 0 only, so each CPU's
//! tick keeps its own period). A sample asks the CPU's stopper, `migration/N`, to touch the
//! CPU's timestamp (`softlockup_fn`); the stopper preempts everything once the CPU schedules.
//! A CPU going offline stops sampling (`lockup_detector_offline_cpu`) and starts afresh when
//! it comes back.
//! If the timestamp has not moved for `2 * watchdog_thresh` seconds (20 by default), the CPU
//! is stuck in the kernel without scheduling, and the sample logs
//! `BUG: soft lockup - CPU#N stuck for XXs! [comm:pid]` — again every threshold while it lasts.
//!
//! Our kernel runs with interrupts off outside user mode and the idle loop: only a kernel
//! path that waits with interrupts on (the console waiting for the device) can be caught this
//! way; a loop with interrupts off stops the CPU's tick with it, which only a hard-lockup
//! detector (an NMI, or Linux's buddy CPU check) would see.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};

use crate::arch::percpu::MAX_CPUS;
use crate::arch::tsc::ns_since_boot;

/// `/proc/sys/kernel/watchdog_thresh` (and `watchdog_thresh=` at boot), in seconds; 0 turns
/// the detector off.
pub static WATCHDOG_THRESH: AtomicU64 = AtomicU64::new(10);
/// The largest threshold Linux accepts.
pub const WATCHDOG_THRESH_MAX: u64 = 60;
/// Samples per soft-lockup threshold.
const NUM_SAMPLE_PERIODS: u64 = 5;
const NSEC_PER_SEC: u64 = 1_000_000_000;

struct WatchdogCpu {
    /// When the stopper last touched this CPU, in seconds (`watchdog_touch_ts`).
    touch_ts: AtomicU64,
    /// Start of the current reporting period, in seconds (`watchdog_report_ts`).
    report_ts: AtomicU64,
    /// The last touch request has run (`softlockup_completion`).
    touch_done: AtomicBool,
    /// When this CPU samples next, in ns since boot (its hrtimer).
    next_sample_ns: AtomicU64,
    /// Sampling on this CPU (its hrtimer runs): off while the CPU is offline.
    enabled: AtomicBool,
}

static WATCHDOG_CPUS: [WatchdogCpu; MAX_CPUS] = [const {
    WatchdogCpu {
        touch_ts: AtomicU64::new(0),
        report_ts: AtomicU64::new(0),
        touch_done: AtomicBool::new(true),
        next_sample_ns: AtomicU64::new(u64::MAX),
        enabled: AtomicBool::new(false),
    }
}; MAX_CPUS];

/// The stoppers exist: sampling may start.
static WATCHDOG_RUNNING: AtomicBool = AtomicBool::new(false);

/// Seconds since boot, the detector's clock (`get_timestamp`: 2^30 ns ≈ 1 s, as in Linux).
fn get_timestamp() -> u64 {
    ns_since_boot() >> 30
}

fn get_softlockup_thresh() -> u64 {
    WATCHDOG_THRESH.load(Relaxed) * 2
}

fn sample_period_ns() -> u64 {
    get_softlockup_thresh() * (NSEC_PER_SEC / NUM_SAMPLE_PERIODS)
}

/// How long the CPU has been stuck, if the reporting period is over (`is_softlockup`).
fn is_softlockup(touch_ts: u64, period_ts: u64, now: u64, thresh: u64) -> Option<u64> {
    (thresh != 0 && now > period_ts + thresh).then(|| now.saturating_sub(touch_ts))
}

/// Run by the stopper on `cpu`: it got the CPU, so the CPU schedules (`softlockup_fn`).
#[inline(never)] // kept as a symbol: Linux's name, for probes
fn softlockup_fn(cpu: usize) {
    let now = get_timestamp();
    let w = &WATCHDOG_CPUS[cpu];
    w.touch_ts.store(now, Relaxed);
    w.report_ts.store(now, Relaxed);
    w.touch_done.store(true, Release);
}

/// A CPU's sample (`watchdog_timer_fn`), from its timer interrupt.
#[inline(never)] // kept as a symbol: Linux's name, for probes
fn watchdog_timer_fn(cpu: usize) {
    let w = &WATCHDOG_CPUS[cpu];
    // Kick the stopper, unless the last kick is still waiting for the CPU.
    if w.touch_done.swap(false, AcqRel)
        && !crate::sched::stop_task::stop_one_cpu_nowait(cpu, move || softlockup_fn(cpu))
    {
        w.touch_done.store(true, Release);
    }
    let now = get_timestamp();
    let period_ts = w.report_ts.load(Relaxed);
    let touch_ts = w.touch_ts.load(Relaxed);
    let Some(duration) = is_softlockup(touch_ts, period_ts, now, get_softlockup_thresh()) else {
        return;
    };
    // Start the period for the next report.
    w.report_ts.store(now, Relaxed);
    let curr = crate::kernel::task::current();
    crate::kernel::printk::printk(
        crate::kernel::printk::Level::Emerg,
        format_args!(
            "BUG: soft lockup - CPU#{} stuck for {}s! [{}:{}]",
            cpu,
            duration,
            curr.comm(),
            curr.pid
        ),
    );
}

/// From every CPU's tick: sample when this CPU's period is up.
pub fn watchdog_tick(cpu: usize) {
    if !WATCHDOG_RUNNING.load(Relaxed) {
        return;
    }
    let w = &WATCHDOG_CPUS[cpu];
    let now = ns_since_boot();
    if !w.enabled.load(Acquire)
        || now < w.next_sample_ns.load(Relaxed)
        || WATCHDOG_THRESH.load(Relaxed) == 0
    {
        return;
    }
    // `hrtimer_forward_now`.
    w.next_sample_ns.store(now + sample_period_ns(), Relaxed);
    watchdog_timer_fn(cpu);
}

/// Fresh timestamps for `w` and its next sample a period from now.
fn watchdog_reset(w: &WatchdogCpu) {
    let now = get_timestamp();
    w.touch_ts.store(now, Relaxed);
    w.report_ts.store(now, Relaxed);
    w.next_sample_ns
        .store(ns_since_boot() + sample_period_ns(), Relaxed);
}

/// (Re)start sampling on every CPU with fresh timestamps (`lockup_detector_reconfigure`).
fn watchdog_restart() {
    WATCHDOG_CPUS.iter().for_each(watchdog_reset);
}

/// Start the detector on the online CPUs once the stoppers run (`lockup_detector_init`).
pub fn lockup_detector_init() {
    watchdog_restart();
    for cpu in crate::kernel::cpumask::for_each_cpu(crate::kernel::cpu::cpu_online_mask()) {
        WATCHDOG_CPUS[cpu].enabled.store(true, Release);
    }
    WATCHDOG_RUNNING.store(true, Release);
}

/// `lockup_detector:online` up: sample `cpu` again, from fresh timestamps, as if its time
/// away had been spent scheduling (`lockup_detector_online_cpu`, `watchdog_enable`).
pub fn lockup_detector_online_cpu(cpu: usize) {
    let w = &WATCHDOG_CPUS[cpu];
    watchdog_reset(w);
    w.touch_done.store(true, Release);
    w.enabled.store(true, Release);
}

/// `lockup_detector:online` down: stop sampling `cpu`, which is going away
/// (`lockup_detector_offline_cpu`, `watchdog_disable`).
pub fn lockup_detector_offline_cpu(cpu: usize) {
    let w = &WATCHDOG_CPUS[cpu];
    w.enabled.store(false, Release);
    w.next_sample_ns.store(u64::MAX, Relaxed);
}

/// A write to `watchdog_thresh`: apply it from now on (`proc_watchdog_thresh`).
pub fn set_watchdog_thresh(secs: u64) {
    WATCHDOG_THRESH.store(secs.min(WATCHDOG_THRESH_MAX), Relaxed);
    watchdog_restart();
}

/// `test.softlockup=SECS`: stay in the kernel that long with interrupts on but without
/// scheduling, as a driver busy-waiting on a device would, so the detector reports it.
pub fn test_softlockup(secs: u64) {
    crate::pr_notice!("test.softlockup: looping in the kernel for {} s", secs);
    let until = ns_since_boot() + secs * NSEC_PER_SEC;
    while ns_since_boot() < until {
        // `sti; hlt`: the tick comes in, but nothing here schedules.
        crate::arch::cpu::wait_for_interrupt();
    }
    crate::arch::cpu::interrupts_disable();
}
