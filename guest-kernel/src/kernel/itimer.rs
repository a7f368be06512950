//! Interval timers (Linux's kernel/time/itimer.c): `setitimer`, `getitimer` and `alarm`.
//!
//! - ITIMER_REAL is an hrtimer that sends SIGALRM to the process. As in Linux, an interval
//!   timer is started again when its SIGALRM is dequeued (`dequeue_signal`), forwarded on
//!   its original grid, so a process that blocks SIGALRM costs no timer work.
//! - ITIMER_VIRTUAL (user time, SIGVTALRM) and ITIMER_PROF (user + system time, SIGPROF)
//!   count down by the tick that charges the process's threads, the way Linux's
//!   `run_posix_cpu_timers` checks them at each tick.
//!
//! None of them is inherited by fork (a new `signal_struct` starts empty); execve keeps them.

use alloc::sync::{Arc, Weak};
use core::sync::atomic::Ordering;

use crate::arch::tsc;
use crate::kernel::errno::*;
use crate::kernel::signal::{send_signal, KSigInfo, SignalStruct, SIGALRM, SIGPROF, SIGVTALRM};
use crate::kernel::task::{current, Pid, Task};
use crate::kernel::timer::Hrtimer;
use crate::mm::usercopy::{read_user, write_user};

pub const ITIMER_REAL: u64 = 0;
pub const ITIMER_VIRTUAL: u64 = 1;
pub const ITIMER_PROF: u64 = 2;

const NSEC_PER_SEC: u64 = 1_000_000_000;
const NSEC_PER_USEC: u64 = 1_000;

/// ITIMER_REAL's state (`signal->real_timer`, `it_real_incr`).
#[derive(Default)]
pub struct ItimerReal {
    /// The queued hrtimer; None when disarmed or fired and not yet started again.
    timer: Option<Hrtimer>,
    /// When it fires or last fired (ns since boot): the grid an interval timer stays on.
    expires: u64,
    /// The interval, 0 for a one-shot timer.
    incr: u64,
    /// Bumped at every start, so a callback that lost a race with a cancel does nothing.
    seq: u64,
}

/// ITIMER_VIRTUAL or ITIMER_PROF: CPU time left until it fires, and the interval.
#[derive(Clone, Copy, Default)]
pub struct CpuItimer {
    value: u64,
    incr: u64,
}

/// `signal->it[CPUCLOCK_PROF]`, `signal->it[CPUCLOCK_VIRT]`.
const CPUCLOCK_PROF: usize = 0;
const CPUCLOCK_VIRT: usize = 1;

/// `struct __kernel_old_itimerval`: interval first, then value; timevals of (sec, usec).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Itimerval {
    it_interval: [i64; 2],
    it_value: [i64; 2],
}

fn timeval_to_ns(tv: [i64; 2]) -> KResult<u64> {
    // `timeval_valid`
    if tv[0] < 0 || !(0..1_000_000).contains(&tv[1]) {
        return Err(EINVAL);
    }
    Ok((tv[0] as u64)
        .saturating_mul(NSEC_PER_SEC)
        .saturating_add(tv[1] as u64 * NSEC_PER_USEC))
}

fn ns_to_timeval(ns: u64) -> [i64; 2] {
    [
        (ns / NSEC_PER_SEC) as i64,
        ((ns % NSEC_PER_SEC) / NSEC_PER_USEC) as i64,
    ]
}

/// Start ITIMER_REAL to fire at `expires` (`hrtimer_start`).
fn start_real_timer(sig: &Arc<SignalStruct>, tgid: Pid, rt: &mut ItimerReal, expires: u64) {
    rt.seq += 1;
    rt.expires = expires;
    let (weak, seq) = (Arc::downgrade(sig), rt.seq);
    rt.timer = Some(Hrtimer::start(expires, move || {
        it_real_fn(&weak, tgid, seq)
    }));
}

/// The ITIMER_REAL callback: SIGALRM to the process (`it_real_fn`).
fn it_real_fn(sig: &Weak<SignalStruct>, tgid: Pid, seq: u64) {
    let Some(sig) = sig.upgrade() else { return };
    {
        let mut rt = sig.real_timer.lock();
        if rt.seq != seq || rt.timer.is_none() {
            return;
        }
        // It has left the timer queue; dropping the handle cancels nothing.
        rt.timer = None;
    }
    let leader = crate::kernel::tasklist::find_process(tgid);
    if let Some(leader) = leader.filter(|l| Arc::ptr_eq(&l.signal, &sig)) {
        send_signal(&leader, KSigInfo::kernel(SIGALRM), true);
    }
}

/// A SIGALRM was dequeued: start an interval ITIMER_REAL again, on its grid past now (the
/// `hrtimer_forward` + `hrtimer_restart` in Linux's `dequeue_signal`).
pub fn it_real_rearm(t: &Task) {
    let mut rt = t.signal.real_timer.lock();
    if rt.timer.is_some() || rt.incr == 0 {
        return;
    }
    let now = tsc::ns_since_boot();
    let mut expires = rt.expires;
    if expires <= now {
        // Periods missed while the signal waited are dropped, not delivered late.
        expires += (now - expires) / rt.incr * rt.incr + rt.incr;
    }
    start_real_timer(&t.signal, t.tgid, &mut rt, expires);
}

/// Time left on ITIMER_REAL (`itimer_get_remtime`): at least 1 µs while it is queued, so
/// that an armed timer never reads as disarmed.
fn itimer_get_remtime(rt: &ItimerReal) -> u64 {
    if rt.timer.is_none() {
        return 0;
    }
    rt.expires
        .saturating_sub(tsc::ns_since_boot())
        .max(NSEC_PER_USEC)
}

fn cpuclock(which: u64) -> KResult<usize> {
    match which {
        ITIMER_PROF => Ok(CPUCLOCK_PROF),
        ITIMER_VIRTUAL => Ok(CPUCLOCK_VIRT),
        _ => Err(EINVAL),
    }
}

/// `do_getitimer`: (value, interval) in ns.
fn do_getitimer(t: &Task, which: u64) -> KResult<(u64, u64)> {
    if which == ITIMER_REAL {
        let rt = t.signal.real_timer.lock();
        return Ok((itimer_get_remtime(&rt), rt.incr));
    }
    let it = t.signal.it.lock()[cpuclock(which)?];
    Ok((it.value, it.incr))
}

/// `do_setitimer`: arm (value != 0) or disarm `which`; returns the old (value, interval).
fn do_setitimer(t: &Task, which: u64, value: u64, interval: u64) -> KResult<(u64, u64)> {
    // A disarmed timer keeps no interval.
    let interval = if value == 0 { 0 } else { interval };
    if which == ITIMER_REAL {
        let mut rt = t.signal.real_timer.lock();
        let old = (itimer_get_remtime(&rt), rt.incr);
        if let Some(timer) = rt.timer.take() {
            let _ = timer.cancel();
        }
        rt.incr = interval;
        if value != 0 {
            let expires = tsc::ns_since_boot().saturating_add(value);
            start_real_timer(&t.signal, t.tgid, &mut rt, expires);
        }
        return Ok(old);
    }
    let clock = cpuclock(which)?;
    let mut it = t.signal.it.lock();
    let old = (it[clock].value, it[clock].incr);
    it[clock] = CpuItimer {
        value,
        incr: interval,
    };
    let armed = it.iter().any(|c| c.value != 0);
    t.signal.it_cpu_armed.store(armed, Ordering::Relaxed);
    Ok(old)
}

fn put_itimerval(addr: u64, (value, interval): (u64, u64)) -> KResult<()> {
    let v = Itimerval {
        it_interval: ns_to_timeval(interval),
        it_value: ns_to_timeval(value),
    };
    write_user(addr, &v)
}

pub fn sys_getitimer(which: u64, value: u64) -> KResult<i64> {
    let cur = do_getitimer(current(), which)?;
    put_itimerval(value, cur)?;
    Ok(0)
}

pub fn sys_setitimer(which: u64, value: u64, ovalue: u64) -> KResult<i64> {
    // A NULL new value disarms, a misfeature Linux keeps.
    let new: Itimerval = if value != 0 {
        read_user(value)?
    } else {
        Itimerval::default()
    };
    let (v, i) = (
        timeval_to_ns(new.it_value)?,
        timeval_to_ns(new.it_interval)?,
    );
    let old = do_setitimer(current(), which as u32 as u64, v, i)?;
    if ovalue != 0 {
        put_itimerval(ovalue, old)?;
    }
    Ok(0)
}

/// `alarm` (`alarm_setitimer`): a one-shot ITIMER_REAL; returns the seconds that were left,
/// rounded to the nearest and never 0 for a pending alarm.
pub fn sys_alarm(seconds: u64) -> KResult<i64> {
    let seconds = seconds as u32 as u64;
    let (left, _) = do_setitimer(current(), ITIMER_REAL, seconds * NSEC_PER_SEC, 0)?;
    let (secs, nsecs) = (left / NSEC_PER_SEC, left % NSEC_PER_SEC);
    let round_up = (secs == 0 && nsecs != 0) || nsecs >= NSEC_PER_SEC / 2;
    Ok((secs + round_up as u64) as i64)
}

/// Count one tick against `it`; true if it expired (`check_cpu_itimer`). An interval timer
/// starts its next period, less the overshoot.
fn check_cpu_itimer(it: &mut CpuItimer, ran: u64) -> bool {
    if it.value == 0 {
        return false;
    }
    if it.value > ran {
        it.value -= ran;
        return false;
    }
    let over = ran - it.value;
    it.value = if it.incr == 0 {
        0
    } else {
        it.incr.saturating_sub(over).max(1)
    };
    true
}

/// The tick's ITIMER_PROF / ITIMER_VIRTUAL work for the interrupted task (the itimer half of
/// `run_posix_cpu_timers`); the tick charged it `charged` ns, as user time if `user_mode`.
pub fn run_posix_cpu_timers(user_mode: bool, charged: u64) {
    let Some(t) = crate::kernel::task::try_current() else {
        return;
    };
    let sig = &t.signal;
    if !sig.it_cpu_armed.load(Ordering::Relaxed) || t.is_idle() || t.is_kthread() {
        return;
    }
    let (prof, virt) = {
        let mut it = sig.it.lock();
        let prof = check_cpu_itimer(&mut it[CPUCLOCK_PROF], charged);
        let virt = user_mode && check_cpu_itimer(&mut it[CPUCLOCK_VIRT], charged);
        let armed = it.iter().any(|c| c.value != 0);
        sig.it_cpu_armed.store(armed, Ordering::Relaxed);
        (prof, virt)
    };
    if !(prof || virt) {
        return;
    }
    let me = crate::kernel::task::current_arc();
    if prof {
        send_signal(&me, KSigInfo::kernel(SIGPROF), true);
    }
    if virt {
        send_signal(&me, KSigInfo::kernel(SIGVTALRM), true);
    }
}

/// The group is dead: stop its timers (the `hrtimer_cancel(&sig->real_timer)` and
/// `exit_itimers` of `do_exit`).
pub fn exit_itimers(sig: &SignalStruct) {
    let timer = {
        let mut rt = sig.real_timer.lock();
        rt.incr = 0;
        rt.timer.take()
    };
    if let Some(timer) = timer {
        let _ = timer.cancel();
    }
    *sig.it.lock() = [CpuItimer::default(); 2];
    sig.it_cpu_armed.store(false, Ordering::Relaxed);
}
