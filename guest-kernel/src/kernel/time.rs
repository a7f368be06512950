//! Time: jiffies and the tick, the clocks behind `clock_gettime`, `nanosleep`, and per-CPU
//! time accounting for /proc/stat.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::percpu::MAX_CPUS;
use crate::arch::{apic, tsc};
use crate::kernel::errno::*;
use crate::kernel::task::{current, Task, TASK_INTERRUPTIBLE};
use crate::mm::usercopy::{read_user, write_user};

pub const HZ: u64 = 100;
pub const TICK_NS: u64 = 1_000_000_000 / HZ;

static JIFFIES: AtomicU64 = AtomicU64::new(0);
/// CLOCK_REALTIME at boot (`ns_since_boot` 0), in ns since the epoch; 0 (the epoch itself)
/// on a machine without a persistent clock.
static BOOT_EPOCH_NS: AtomicU64 = AtomicU64::new(0);

/// Per-CPU time in ticks, /proc/stat's user, nice, system, idle columns.
pub static CPU_USER: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
pub static CPU_NICE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
pub static CPU_SYSTEM: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
pub static CPU_IDLE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Set the wall clock from the machine's persistent clock, once at boot (Linux's
/// `timekeeping_init` / `read_persistent_clock64`).
pub fn timekeeping_init() {
    if let Some(now) = crate::arch::rtc::read_persistent_clock64() {
        let boot = now.saturating_sub(tsc::ns_since_boot());
        BOOT_EPOCH_NS.store(boot, Ordering::Relaxed);
    }
}

/// CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns: the wall-clock time of the boot.
pub fn realtime_offset_ns() -> u64 {
    BOOT_EPOCH_NS.load(Ordering::Relaxed)
}

pub fn jiffies() -> u64 {
    JIFFIES.load(Ordering::Relaxed)
}

/// The local timer interrupt (`tick_handle_periodic`).
pub fn timer_interrupt(user_mode: bool) {
    if crate::arch::percpu::cpu_id() == 0 {
        JIFFIES.fetch_add(1, Ordering::Relaxed);
        crate::sched::loadavg::calc_global_load();
        crate::kernel::timer::run_expired(tsc::ns_since_boot());
        crate::kernel::timer_list::run_local_timers();
    }
    apic::timer_rearm(TICK_NS);
    crate::kernel::watchdog::watchdog_tick(crate::arch::percpu::cpu_id());
    let charged = crate::sched::scheduler_tick(user_mode);
    crate::kernel::itimer::run_posix_cpu_timers(user_mode, charged);
}

/// Charge one tick to this CPU's user / system / idle time; user time of a niced task
/// counts as nice (`account_user_time`). Runs on the task being charged.
pub fn account_cpu_tick(cpu: usize, user: bool, idle: bool) {
    let bucket = if user && current().se.lock().nice() > 0 {
        &CPU_NICE[cpu]
    } else if user {
        &CPU_USER[cpu]
    } else if idle {
        &CPU_IDLE[cpu]
    } else {
        &CPU_SYSTEM[cpu]
    };
    bucket.fetch_add(1, Ordering::Relaxed);
}

/// The exact CPU time of the calling thread or its whole process (the CPUTIME clocks).
fn cputime_ns(t: &Task, whole_process: bool) -> u64 {
    use crate::sched::cputime::{task_sched_runtime, thread_group_cputime};
    if whole_process {
        thread_group_cputime(t).sum_exec_runtime
    } else {
        task_sched_runtime(t)
    }
}

fn clock_ns(clock: u64) -> KResult<u64> {
    let ns = tsc::ns_since_boot();
    Ok(match clock {
        0 | 5 | 8 | 11 => ns + realtime_offset_ns(), // REALTIME(_COARSE), REALTIME_ALARM, TAI
        1 | 4 | 6 | 7 | 9 => ns,                     // MONOTONIC(_RAW, _COARSE), BOOTTIME(_ALARM)
        2 => cputime_ns(current(), true),            // PROCESS_CPUTIME_ID
        3 => cputime_ns(current(), false),           // THREAD_CPUTIME_ID
        _ => return Err(EINVAL),
    })
}

pub fn sys_clock_gettime(clock: u64, tp: u64) -> KResult<i64> {
    let ns = clock_ns(clock)?;
    write_user(tp, &[ns / 1_000_000_000, ns % 1_000_000_000])?;
    Ok(0)
}

pub fn sys_clock_getres(clock: u64, tp: u64) -> KResult<i64> {
    clock_ns(clock)?;
    let res: u64 = if matches!(clock, 5 | 6) { TICK_NS } else { 1 };
    if tp != 0 {
        write_user(tp, &[0u64, res])?;
    }
    Ok(0)
}

pub fn sys_gettimeofday(tv: u64, _tz: u64) -> KResult<i64> {
    if tv != 0 {
        let ns = clock_ns(0)?;
        write_user(tv, &[ns / 1_000_000_000, (ns % 1_000_000_000) / 1000])?;
    }
    Ok(0)
}

pub fn sys_time(tloc: u64) -> KResult<i64> {
    let secs = clock_ns(0)? / 1_000_000_000;
    if tloc != 0 {
        write_user(tloc, &secs)?;
    }
    Ok(secs as i64)
}

/// Sleep until `deadline` (ns since boot) unless a signal comes first (`hrtimer_nanosleep`).
fn do_nanosleep(deadline: u64) -> KResult<()> {
    let t = crate::kernel::task::current_arc();
    let waker = t.clone();
    let timer = crate::kernel::timer::Hrtimer::start(deadline, move || {
        crate::sched::wake_up_state(&waker, TASK_INTERRUPTIBLE);
    });
    let r = loop {
        t.state.store(TASK_INTERRUPTIBLE, Ordering::SeqCst);
        if tsc::ns_since_boot() >= deadline {
            break Ok(());
        }
        if crate::kernel::signal::signal_pending(&t) {
            break Err(ERESTARTNOHAND);
        }
        crate::sched::schedule();
    };
    t.state
        .store(crate::kernel::task::TASK_RUNNING, Ordering::SeqCst);
    let _ = timer.cancel();
    r
}

pub fn read_timespec(addr: u64) -> KResult<u64> {
    let ts: [i64; 2] = read_user(addr)?;
    if ts[0] < 0 || !(0..1_000_000_000).contains(&ts[1]) {
        return Err(EINVAL);
    }
    Ok((ts[0] as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts[1] as u64))
}

pub fn sys_nanosleep(req: u64, rem: u64) -> KResult<i64> {
    sys_clock_nanosleep(1, 0, req, rem)
}

pub fn sys_clock_nanosleep(clock: u64, flags: u64, req: u64, rem: u64) -> KResult<i64> {
    const TIMER_ABSTIME: u64 = 1;
    if !matches!(clock, 0 | 1 | 7) {
        return Err(if clock <= 11 { ENOTSUP } else { EINVAL });
    }
    let ns = read_timespec(req)?;
    let now = tsc::ns_since_boot();
    let deadline = if flags & TIMER_ABSTIME != 0 {
        if clock == 0 {
            ns.saturating_sub(realtime_offset_ns())
        } else {
            ns
        }
    } else {
        now.saturating_add(ns)
    };
    match do_nanosleep(deadline) {
        Ok(()) => Ok(0),
        Err(e) => {
            if rem != 0 && flags & TIMER_ABSTIME == 0 {
                let left = deadline.saturating_sub(tsc::ns_since_boot());
                write_user(rem, &[left / 1_000_000_000, left % 1_000_000_000])?;
            }
            Err(if flags & TIMER_ABSTIME != 0 {
                ERESTARTNOHAND
            } else {
                e
            })
        }
    }
}
