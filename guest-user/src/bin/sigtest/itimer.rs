//! Interval timers: ITIMER_REAL (SIGALRM, the same timer as `alarm`, which is also the check
//! watchdog), ITIMER_VIRTUAL (SIGVTALRM, user CPU time) and ITIMER_PROF (SIGPROF, all CPU
//! time).

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use guest_user::check::{pass_with, Check, Context, Fail};
use guest_user::ensure;
use guest_user::sys;

use crate::handler::{reset, Handler, HITS, SIGNO};

/// (value, interval), as setitimer and getitimer speak of them.
type Itimer = (Duration, Duration);

fn timeval(d: Duration) -> libc::timeval {
    libc::timeval {
        tv_sec: d.as_secs() as _,
        tv_usec: d.subsec_micros() as _,
    }
}

fn duration(tv: libc::timeval) -> Duration {
    Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000)
}

/// Sets `which`; returns the old setting.
fn setitimer(which: i32, (value, interval): Itimer) -> Result<Itimer, Fail> {
    let new = libc::itimerval {
        it_interval: timeval(interval),
        it_value: timeval(value),
    };
    let mut old = libc::itimerval {
        it_interval: timeval(Duration::ZERO),
        it_value: timeval(Duration::ZERO),
    };
    // SAFETY: both itimervals are valid for the call.
    let r = unsafe { libc::setitimer(which, &new, &mut old) };
    sys::cvt(r).ctx("setitimer")?;
    Ok((duration(old.it_value), duration(old.it_interval)))
}

fn getitimer(which: i32) -> Result<Itimer, Fail> {
    let mut cur = libc::itimerval {
        it_interval: timeval(Duration::ZERO),
        it_value: timeval(Duration::ZERO),
    };
    // SAFETY: `cur` is a valid out-pointer.
    let r = unsafe { libc::getitimer(which, &mut cur) };
    sys::cvt(r).ctx("getitimer")?;
    Ok((duration(cur.it_value), duration(cur.it_interval)))
}

const OFF: Itimer = (Duration::ZERO, Duration::ZERO);

/// How many periods of `period` fit in `span`.
fn periods(span: Duration, period: Duration) -> u32 {
    (span.as_nanos() / period.as_nanos()) as u32
}

/// ITIMER_REAL with a 50 ms interval sends SIGALRM at that rate for a second; getitimer and
/// setitimer's old value report the setting, disarming stops the signals, and `alarm` is the
/// same timer. The watchdog's alarm is put back afterwards.
pub(crate) fn itimer_interval() -> Check {
    const PERIOD: Duration = Duration::from_millis(50);
    reset();
    let h = Handler::recording(libc::SIGALRM, libc::SA_RESTART)?;
    let watchdog = setitimer(libc::ITIMER_REAL, (PERIOD, PERIOD))?;
    let result = interval_checks(PERIOD);
    drop(h);
    setitimer(libc::ITIMER_REAL, (watchdog.0, Duration::ZERO))?;
    result
}

fn interval_checks(period: Duration) -> Check {
    let start = Instant::now();
    let (value, interval) = getitimer(libc::ITIMER_REAL)?;
    ensure!(
        interval == period && value > Duration::ZERO && value <= period,
        "getitimer right after setting: value {value:?} interval {interval:?}, want \
         (0, {period:?}] and {period:?}"
    );
    sys::sleep(Duration::from_secs(1));
    let (value, interval) = setitimer(libc::ITIMER_REAL, OFF)?;
    let hits = HITS.load(SeqCst);
    let ran = start.elapsed();
    ensure!(
        interval == period && value <= period,
        "setitimer's old value: {value:?} interval {interval:?}"
    );
    let want = periods(ran, period);
    ensure!(
        SIGNO.load(SeqCst) == libc::SIGALRM as i64 && hits >= want / 2 && hits <= want + 1,
        "{hits} SIGALRMs in {ran:?} from a {period:?} interval timer, want about {want}"
    );
    // One expiry may already have been under way when the timer was disarmed.
    sys::sleep(Duration::from_millis(150));
    let late = HITS.load(SeqCst) - hits;
    ensure!(late <= 1, "{late} SIGALRMs after the timer was disarmed");
    let now = getitimer(libc::ITIMER_REAL)?;
    ensure!(now == OFF, "getitimer after disarming: {now:?}");
    // alarm() sets and reads the same timer, rounding to whole seconds.
    // SAFETY: alarm has no memory arguments.
    let prev = unsafe { libc::alarm(7) };
    ensure!(prev == 0, "alarm(7) with no timer set returned {prev}");
    let (value, interval) = getitimer(libc::ITIMER_REAL)?;
    ensure!(
        value > Duration::from_secs(6) && value <= Duration::from_secs(7) && interval.is_zero(),
        "getitimer after alarm(7): value {value:?} interval {interval:?}"
    );
    // SAFETY: as above.
    let left = unsafe { libc::alarm(0) };
    ensure!(left == 7, "alarm(0) after alarm(7) returned {left}, want 7");
    let now = getitimer(libc::ITIMER_REAL)?;
    ensure!(now == OFF, "getitimer after alarm(0): {now:?}");
    pass_with(format_args!("{hits} SIGALRMs in {} ms", ran.as_millis()))
}

/// The process's (user, system) CPU time, which the kernel counts by the tick as it does for
/// the CPU-time interval timers.
fn cpu_times() -> Result<(Duration, Duration), Fail> {
    // SAFETY: a zeroed rusage is valid, and getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid out-pointer.
    sys::cvt(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) }).ctx("getrusage")?;
    Ok((duration(ru.ru_utime), duration(ru.ru_stime)))
}

/// ITIMER_VIRTUAL counts user time and ITIMER_PROF user + system time, not sleep: a 20 ms
/// interval timer fires about once per 20 ms of that time while spinning, and not while the
/// process sleeps.
pub(crate) fn itimer_cpu() -> Check {
    const PERIOD: Duration = Duration::from_millis(20);
    type Counted = fn((Duration, Duration)) -> Duration;
    let mut seen = Vec::new();
    let timers: [(i32, i32, &str, Counted); 2] = [
        (
            libc::ITIMER_VIRTUAL,
            libc::SIGVTALRM,
            "ITIMER_VIRTUAL",
            |(u, _)| u,
        ),
        (libc::ITIMER_PROF, libc::SIGPROF, "ITIMER_PROF", |(u, s)| {
            u + s
        }),
    ];
    for (which, sig, name, counted) in timers {
        reset();
        let _h = Handler::recording(sig, libc::SA_RESTART)?;
        setitimer(which, (PERIOD, PERIOD))?;
        sys::sleep(Duration::from_millis(200));
        let asleep = HITS.load(SeqCst);
        let t0 = counted(cpu_times()?);
        let start = Instant::now();
        let mut used = Duration::ZERO;
        while used < Duration::from_millis(300) && start.elapsed() < Duration::from_secs(5) {
            // Spin in user mode: a system call per few ms at most (there is no vDSO).
            let mut n = 0u64;
            for _ in 0..2_000_000 {
                n = std::hint::black_box(n + 1);
            }
            used = counted(cpu_times()?) - t0;
        }
        let (_, interval) = setitimer(which, OFF)?;
        let hits = HITS.load(SeqCst) - asleep;
        let want = periods(used, PERIOD);
        ensure!(
            interval == PERIOD,
            "{name}: old interval {interval:?}, want {PERIOD:?}"
        );
        ensure!(
            asleep <= 1,
            "{name}: {asleep} signals while the process slept 200 ms"
        );
        ensure!(
            SIGNO.load(SeqCst) == sig as i64 && hits >= want / 2 && hits <= want + 2,
            "{name}: {hits} signals in {used:?} of counted CPU time from a {PERIOD:?} \
             interval, want about {want}"
        );
        seen.push(format!("{name} {hits} in {} ms", used.as_millis()));
    }
    pass_with(seen.join(", "))
}

/// ITIMER_REAL fires SIGALRM, which interrupts a blocking pipe read with EINTR. (This replaces
/// the watchdog's alarm, which is the same timer; a child writes to the pipe after 3 s so that
/// a missing timer fails the check instead of hanging it.)
pub(crate) fn itimer_eintr() -> Check {
    reset();
    let h = Handler::recording(libc::SIGALRM, 0)?;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    let r = unsafe { libc::pipe(fds.as_mut_ptr()) };
    ensure!(r == 0, "pipe: errno {}", sys::errno());
    let child = sys::fork_child(|| {
        sys::die_with_parent();
        sys::sleep(Duration::from_secs(3));
        // SAFETY: writes one byte to our pipe end.
        unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) };
        0
    });
    // SAFETY: closing our unused write end.
    unsafe { libc::close(fds[1]) };
    let child = child.ctx("fork")?;
    let start = Instant::now();
    let set = setitimer(
        libc::ITIMER_REAL,
        (Duration::from_millis(100), Duration::ZERO),
    );
    let mut buf = [0u8; 1];
    // SAFETY: reads at most one byte into `buf`.
    let r = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), 1) };
    let (e, took) = (sys::errno(), start.elapsed());
    sys::kill_and_reap(child);
    // SAFETY: closing the read end we own.
    unsafe { libc::close(fds[0]) };
    drop(h);
    set?;
    ensure!(
        HITS.load(SeqCst) == 1 && SIGNO.load(SeqCst) == libc::SIGALRM as i64,
        "SIGALRM handler ran {} times",
        HITS.load(SeqCst)
    );
    ensure!(
        r == -1 && e == libc::EINTR,
        "read returned {r} errno {e} after {took:?}, want EINTR"
    );
    ensure!(
        took >= Duration::from_millis(90) && took < Duration::from_secs(2),
        "100 ms timer fired after {took:?}"
    );
    pass_with(format_args!("fired after {} ms", took.as_millis()))
}
