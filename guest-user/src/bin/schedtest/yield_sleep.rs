//! sched_yield between two tasks on one CPU, and how long sleeps last.

use super::*;

struct YieldShared {
    /// Children whose pinning and policy are set.
    ready: AtomicU64,
    go: AtomicBool,
    arrived: AtomicU64,
    count: [AtomicU64; 2],
    switches: [AtomicU64; 2],
    setup_errno: AtomicI32,
}

/// Two tasks on one CPU each yield N times; returns the fraction of yields after which the
/// other task had run.
fn yield_pair(policy: i32) -> Result<f64, Fail> {
    const N: u64 = 2000;
    let cpu = allowed_cpus()?[0];
    let sh = Shared::new(YieldShared {
        ready: AtomicU64::new(0),
        go: AtomicBool::new(false),
        arrived: AtomicU64::new(0),
        count: [const { AtomicU64::new(0) }; 2],
        switches: [const { AtomicU64::new(0) }; 2],
        setup_errno: AtomicI32::new(0),
    })
    .ctx("mmap")?;
    let sh = &sh;
    let kids: Vec<Kid> = (0..2)
        .map(|i| {
            Kid::spawn(move || {
                let setup = sys::pin_to(cpu).and_then(|_| match policy {
                    libc::SCHED_OTHER => Ok(()),
                    p => sys::sched_setscheduler(0, p, 10),
                });
                if let Err(e) = setup {
                    sh.setup_errno.store(e.raw_os_error().unwrap_or(-1), SeqCst);
                    return 1;
                }
                sh.ready.fetch_add(1, SeqCst);
                // Sleep-poll (a spinning FIFO task would starve the parent on one CPU), then
                // meet the other task so that both are runnable before counting starts.
                sys::wait_until(SPIN_LIMIT, || sh.go.load(SeqCst));
                sh.arrived.fetch_add(1, SeqCst);
                let start = Instant::now();
                while sh.arrived.load(SeqCst) < 2 && start.elapsed() < SPIN_LIMIT {
                    // SAFETY: sched_yield has no arguments.
                    unsafe { libc::sched_yield() };
                }
                let other = &sh.count[1 - i];
                for k in 1..=N {
                    sh.count[i].store(k, SeqCst);
                    let before = other.load(SeqCst);
                    // SAFETY: as above.
                    unsafe { libc::sched_yield() };
                    if other.load(SeqCst) != before {
                        sh.switches[i].fetch_add(1, SeqCst);
                    }
                }
                0
            })
        })
        .collect::<Result<_, _>>()?;
    // Both must be set up first: a FIFO task spinning at the meeting point would starve a
    // sibling still in its (fair) setup on that CPU. A failed setup is reported below.
    sys::wait_until(Duration::from_secs(5), || sh.ready.load(SeqCst) == 2);
    sh.go.store(true, SeqCst);
    for k in kids {
        let st = k.wait()?;
        let e = sh.setup_errno.load(SeqCst);
        ensure!(e == 0, "pinning or sched_setscheduler failed: errno {e}");
        ensure!(st == 0, "yielding child {}", sys::describe_status(st));
    }
    let switches: u64 = sh.switches.iter().map(|s| s.load(SeqCst)).sum();
    // The task that finishes first sees no switch on its last yield, the other none after.
    Ok(switches as f64 / (2 * N - 2) as f64)
}

/// sched_yield gives the CPU to the other runnable task on it.
pub(super) fn yield_cpu() -> Check {
    let fair = yield_pair(libc::SCHED_OTHER)?;
    ensure!(
        fair >= 0.5,
        "between two fair tasks only {:.0}% of yields switched",
        fair * 100.0
    );
    if !is_root() {
        return pass_with(format_args!(
            "fair {:.0}% switched; SCHED_FIFO part needs root",
            fair * 100.0
        ));
    }
    let rt = yield_pair(libc::SCHED_FIFO)?;
    ensure!(
        rt >= 0.9,
        "between two SCHED_FIFO tasks only {:.0}% of yields switched",
        rt * 100.0
    );
    pass_with(format_args!(
        "yields that switched: fair {:.0}%, SCHED_FIFO {:.0}%",
        fair * 100.0,
        rt * 100.0
    ))
}

/// nanosleep(100 ms) and an absolute clock_nanosleep 50 ms ahead sleep long enough and not
/// much more.
pub(super) fn sleep() -> Check {
    let ask = Duration::from_millis(100);
    let start = Instant::now();
    let ts = sys::timespec(ask);
    // SAFETY: valid request; no remainder wanted.
    let r = unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
    let took = start.elapsed();
    ensure!(r == 0, "nanosleep: errno {}", sys::errno());
    ensure!(
        took >= ask && took < Duration::from_secs(1),
        "nanosleep(100 ms) took {took:?}"
    );
    let now = sys::clock(libc::CLOCK_MONOTONIC).ctx("clock_gettime")?;
    let target = now + Duration::from_millis(50);
    let ts = sys::timespec(target);
    // SAFETY: valid absolute request.
    let r = unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    };
    let woke = sys::clock(libc::CLOCK_MONOTONIC).ctx("clock_gettime")?;
    ensure!(r == 0, "clock_nanosleep(TIMER_ABSTIME): error {r}");
    ensure!(
        woke >= target,
        "clock_nanosleep(TIMER_ABSTIME) woke {:?} early",
        target - woke
    );
    ensure!(
        woke - target < Duration::from_millis(500),
        "clock_nanosleep woke {:?} late",
        woke - target
    );
    pass_with(format_args!(
        "nanosleep(100 ms) took {:.1} ms",
        took.as_secs_f64() * 1e3
    ))
}
