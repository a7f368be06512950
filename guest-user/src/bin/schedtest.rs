//! `schedtest [SUBCOMMAND...]`: tests the scheduler as Linux defines it. Subcommands (all of
//! them when none is named):
//!
//! - `fair`: two CPU-bound children on one CPU at nice 0 and nice 5 share it by CFS weight
//!   (1024 : 335, a ratio of 3.06, within 15%), measured by their own CPU clocks; the loop
//!   counts and /proc `utime+stime` over the same window are printed beside it;
//! - `fifo`: a SCHED_FIFO task on a CPU stops a fair task there at once and completely, and
//!   preempts it again each time it wakes;
//! - `balance`: four spinners started on one CPU spread over two once allowed to, looked at
//!   after 1 s (and up to 3 s, for a host busy with other work; 2+ CPUs);
//! - `migrate`: changing a running task's affinity moves it to the new CPU (2+ CPUs);
//! - `yield`: sched_yield hands the CPU to the other task on it: strictly between two
//!   SCHED_FIFO tasks, mostly between two fair ones;
//! - `sleep`: nanosleep and clock_nanosleep(TIMER_ABSTIME) sleep at least as asked, not much
//!   longer;
//! - `getcpu`: pinned to each allowed CPU in turn, getcpu (syscall and libc) and /proc agree;
//! - `policy`: sched_{set,get}scheduler, sched_{set,get}param, priority ranges,
//!   rr_get_interval (100 ms), EINVAL cases, SCHED_RESET_ON_FORK, {set,get}priority and the
//!   raw `20 - nice` ABI, and what /proc/<pid>/stat shows for them.
//!
//! Output as `guest_user::check`; exit 0 only if no check failed. Real-time parts need root
//! (CAP_SYS_NICE) and are skipped without it.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use guest_user::check::{
    in_child, pass, pass_with, skip, Check, Context, Fail, NamedCheck, Report,
};
use guest_user::procfs::Stat;
use guest_user::sys::{self, CpuSet, Shared};
use guest_user::{ensure, fail};

const CHECKS: &[NamedCheck] = &[
    ("fair", fair),
    ("fifo", fifo),
    ("balance", balance),
    ("migrate", migrate),
    ("yield", yield_cpu),
    ("sleep", sleep),
    ("getcpu", getcpu),
    ("policy", policy),
];

/// Longest any spinning child runs, whatever happens to its parent.
const SPIN_LIMIT: Duration = Duration::from_secs(15);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut report = Report::new("schedtest");
    report.run_table(CHECKS, &args);
    report.finish();
}

/// A forked child that is killed and reaped when dropped, so no spinner outlives a check.
struct Kid(sys::pid_t);

impl Kid {
    fn spawn(f: impl FnOnce() -> i32) -> Result<Kid, Fail> {
        let pid = sys::fork_child(|| {
            sys::die_with_parent();
            f()
        })
        .ctx("fork")?;
        Ok(Kid(pid))
    }

    /// Waits for the child's exit; returns the raw status.
    fn wait(self) -> Result<i32, Fail> {
        let status = sys::wait_status(self.0).ctx("waitpid");
        std::mem::forget(self);
        status
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        sys::kill_and_reap(self.0);
    }
}

/// Spins until `stop` is set (or [`SPIN_LIMIT`]), publishing the loop count in `count`.
fn spin(stop: &AtomicBool, count: &AtomicU64) {
    let start = Instant::now();
    let mut n = 0u64;
    while !stop.load(SeqCst) && start.elapsed() < SPIN_LIMIT {
        for _ in 0..10_000 {
            n = std::hint::black_box(n + 1);
        }
        count.store(n, SeqCst);
    }
}

fn allowed_cpus() -> Result<Vec<usize>, Fail> {
    Ok(sys::get_affinity(0)
        .ctx("sched_getaffinity")?
        .cpus()
        .collect())
}

fn is_root() -> bool {
    sys::geteuid() == 0
}

fn set_nice(nice: i32) -> Result<(), Fail> {
    // SAFETY: setpriority has no memory arguments.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    ensure!(r == 0, "setpriority({nice}): errno {}", sys::errno());
    Ok(())
}

/// CFS load weights by nice value (kernel/sched/core.c, sched_prio_to_weight): each step is
/// about 1.25x, nice 0 is 1024.
const NICE_WEIGHT: [u32; 40] = [
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
    3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87,
    70, 56, 45, 36, 29, 23, 18, 15,
];

struct FairShared {
    go: AtomicBool,
    stop: AtomicBool,
    ready: [AtomicBool; 2],
    count: [AtomicU64; 2],
    cpu_ns: [AtomicU64; 2],
}

/// Two spinners at nice 0 and 5 pinned to one CPU get CPU time in the ratio of their weights.
fn fair() -> Check {
    const NICES: [i32; 2] = [0, 5];
    const WINDOW: Duration = Duration::from_secs(2);
    let cpu = allowed_cpus()?[0];
    let sh = Shared::new(FairShared {
        go: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        ready: [const { AtomicBool::new(false) }; 2],
        count: [const { AtomicU64::new(0) }; 2],
        cpu_ns: [const { AtomicU64::new(0) }; 2],
    })
    .ctx("mmap")?;
    let mut kids = Vec::new();
    for (i, nice) in NICES.into_iter().enumerate() {
        let sh = &sh;
        kids.push(Kid::spawn(move || {
            if sys::pin_to(cpu).is_err() || set_nice(nice).is_err() {
                return 1;
            }
            sh.ready[i].store(true, SeqCst);
            sys::wait_until(SPIN_LIMIT, || sh.go.load(SeqCst));
            let t0 = sys::thread_cputime();
            spin(&sh.stop, &sh.count[i]);
            let used = sys::thread_cputime().saturating_sub(t0);
            sh.cpu_ns[i].store(used.as_nanos() as u64, SeqCst);
            0
        })?);
    }
    let ready = sys::wait_until(Duration::from_secs(5), || {
        sh.ready.iter().all(|r| r.load(SeqCst))
    });
    ensure!(
        ready,
        "children did not get ready (pinning or setpriority failed)"
    );
    sh.go.store(true, SeqCst);
    // Measure loop counts and /proc ticks over a window after a short warm-up.
    sys::sleep(Duration::from_millis(200));
    let ticks = |k: &Kid| Stat::of(k.0).map(|s| s.utime + s.stime).ok();
    let c0: Vec<u64> = sh.count.iter().map(|c| c.load(SeqCst)).collect();
    let t0: Vec<Option<u64>> = kids.iter().map(ticks).collect();
    sys::sleep(WINDOW);
    let c1: Vec<u64> = sh.count.iter().map(|c| c.load(SeqCst)).collect();
    let t1: Vec<Option<u64>> = kids.iter().map(ticks).collect();
    sh.stop.store(true, SeqCst);
    for k in kids {
        let st = k.wait()?;
        ensure!(st == 0, "spinner {}", sys::describe_status(st));
    }
    let weights = NICES.map(|n| NICE_WEIGHT[(n + 20) as usize] as f64);
    let want = weights[0] / weights[1];
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            f64::INFINITY
        } else {
            a as f64 / b as f64
        }
    };
    let by_count = ratio(c1[0] - c0[0], c1[1] - c0[1]);
    let by_clock = ratio(sh.cpu_ns[0].load(SeqCst), sh.cpu_ns[1].load(SeqCst));
    let by_proc = match (t0[0], t0[1], t1[0], t1[1]) {
        (Some(a0), Some(b0), Some(a1), Some(b1)) => format!("{:.2}", ratio(a1 - a0, b1 - b0)),
        _ => "n/a".into(),
    };
    let detail = format!(
        "nice 0 : nice 5 CPU time {by_clock:.2} (want {want:.2} +-15%), loop counts \
         {by_count:.2}, /proc ticks {by_proc}"
    );
    let within = |r: f64| (r / want - 1.0).abs() <= 0.15;
    if sh.cpu_ns[1].load(SeqCst) == 0 && sh.cpu_ns[0].load(SeqCst) == 0 {
        ensure!(
            within(by_count),
            "{detail} (CLOCK_THREAD_CPUTIME_ID reads 0)"
        );
    } else {
        ensure!(within(by_clock), "{detail}");
    }
    pass_with(detail)
}

struct FifoShared {
    stop: AtomicBool,
    count: AtomicU64,
    /// Set by the FIFO child: [counter when it got the CPU, after 200 ms, failures of the
    /// wake-up rounds, progress while it slept].
    result: [AtomicU64; 4],
    setup_errno: AtomicI32,
}

/// A SCHED_FIFO task on a CPU runs to the exclusion of a fair task there.
fn fifo() -> Check {
    if !is_root() {
        return skip("SCHED_FIFO needs root");
    }
    let cpu = allowed_cpus()?[0];
    let sh = Shared::new(FifoShared {
        stop: AtomicBool::new(false),
        count: AtomicU64::new(0),
        result: [const { AtomicU64::new(u64::MAX) }; 4],
        setup_errno: AtomicI32::new(0),
    })
    .ctx("mmap")?;
    let sh = &sh;
    let _fair = Kid::spawn(|| {
        if sys::pin_to(cpu).is_err() {
            return 1;
        }
        spin(&sh.stop, &sh.count);
        0
    })?;
    ensure!(
        sys::wait_until(Duration::from_secs(5), || sh.count.load(SeqCst) > 0),
        "the fair spinner never ran"
    );
    sys::sleep(Duration::from_millis(100));
    let rt = Kid::spawn(|| {
        let setup = sys::pin_to(cpu).and_then(|_| sys::sched_setscheduler(0, libc::SCHED_FIFO, 50));
        if let Err(e) = setup {
            sh.setup_errno.store(e.raw_os_error().unwrap_or(-1), SeqCst);
            return 1;
        }
        // From here on this task owns the CPU: the fair spinner must not move.
        let a = sh.count.load(SeqCst);
        sys::burn(Duration::from_millis(200));
        sh.result[0].store(a, SeqCst);
        sh.result[1].store(sh.count.load(SeqCst), SeqCst);
        let (mut failures, mut slept_progress) = (0, 0);
        for _ in 0..5 {
            let before_sleep = sh.count.load(SeqCst);
            sys::sleep(Duration::from_millis(20));
            let woke = sh.count.load(SeqCst);
            slept_progress += woke - before_sleep;
            sys::burn(Duration::from_millis(20));
            if sh.count.load(SeqCst) != woke {
                failures += 1;
            }
        }
        sh.result[2].store(failures, SeqCst);
        sh.result[3].store(slept_progress, SeqCst);
        0
    })?;
    let st = rt.wait()?;
    sh.stop.store(true, SeqCst);
    let e = sh.setup_errno.load(SeqCst);
    ensure!(
        e == 0,
        "pinning or sched_setscheduler(SCHED_FIFO, 50) failed: errno {e}"
    );
    ensure!(st == 0, "FIFO child {}", sys::describe_status(st));
    let r: Vec<u64> = sh.result.iter().map(|r| r.load(SeqCst)).collect();
    ensure!(
        r[0] == r[1],
        "the fair task advanced {} loops while a FIFO task spun 200 ms on its CPU",
        r[1] - r[0]
    );
    ensure!(
        r[2] == 0,
        "in {} of 5 rounds the fair task ran after the FIFO task woke",
        r[2]
    );
    ensure!(
        r[3] > 0,
        "the fair task made no progress while the FIFO task slept"
    );
    pass()
}

struct SpreadShared {
    stop: AtomicBool,
    count: [AtomicU64; 4],
    cpu: [AtomicI32; 4],
}

/// A spinner that publishes the CPU it runs on (sched_getcpu) between bursts of work.
fn cpu_spinner(sh: &SpreadShared, i: usize, pin: usize) -> i32 {
    if sys::pin_to(pin).is_err() {
        return 1;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while !sh.stop.load(SeqCst) && start.elapsed() < SPIN_LIMIT {
        for _ in 0..100_000 {
            n = std::hint::black_box(n + 1);
        }
        sh.count[i].store(n, SeqCst);
        // SAFETY: sched_getcpu has no arguments.
        sh.cpu[i].store(unsafe { libc::sched_getcpu() }, SeqCst);
    }
    0
}

fn spread_shared() -> Result<Shared<SpreadShared>, Fail> {
    Shared::new(SpreadShared {
        stop: AtomicBool::new(false),
        count: [const { AtomicU64::new(0) }; 4],
        cpu: [const { AtomicI32::new(-1) }; 4],
    })
    .ctx("mmap")
}

/// Four spinners started on one CPU and then allowed on two end up on both.
fn balance() -> Check {
    let cpus = allowed_cpus()?;
    if cpus.len() < 2 {
        return skip(format_args!("needs 2 CPUs, have {}", cpus.len()));
    }
    let (a, b) = (cpus[0], cpus[1]);
    let sh = spread_shared()?;
    let kids: Vec<Kid> = (0..4)
        .map(|i| Kid::spawn(|| cpu_spinner(&sh, i, a)))
        .collect::<Result<_, _>>()?;
    let started = sys::wait_until(Duration::from_secs(5), || {
        sh.cpu.iter().all(|c| c.load(SeqCst) >= 0)
    });
    ensure!(started, "spinners did not start");
    let on_a = sh.cpu.iter().filter(|c| c.load(SeqCst) == a as i32).count();
    ensure!(on_a == 4, "only {on_a} of 4 pinned spinners report CPU {a}");
    let mut both = CpuSet::new();
    both.set(a);
    both.set(b);
    for k in &kids {
        sys::set_affinity(k.0, &both).ctx("sched_setaffinity(child)")?;
    }
    // Look after 1 s; a host busy with other work may take longer to even out, so keep
    // looking for up to 3 s.
    let released = Instant::now();
    sys::sleep(Duration::from_secs(1));
    let count_on = |placed: &[i32], cpu: usize| placed.iter().filter(|&&c| c == cpu as i32).count();
    let mut placed: Vec<i32>;
    loop {
        placed = sh.cpu.iter().map(|c| c.load(SeqCst)).collect();
        let spread = count_on(&placed, a) > 0 && count_on(&placed, b) > 0;
        if spread || released.elapsed() > Duration::from_secs(3) {
            break;
        }
        sys::sleep(Duration::from_millis(50));
    }
    let after = released.elapsed();
    let procfs: Vec<String> = kids
        .iter()
        .map(|k| Stat::of(k.0).map_or("?".into(), |s| s.processor.to_string()))
        .collect();
    sh.stop.store(true, SeqCst);
    drop(kids);
    let (n_a, n_b) = (count_on(&placed, a), count_on(&placed, b));
    let detail = format!(
        "after {} ms: CPU {a} has {n_a}, CPU {b} has {n_b} (getcpu {placed:?}, /proc {procfs:?})",
        after.as_millis()
    );
    ensure!(n_a > 0 && n_b > 0, "{detail}");
    pass_with(detail)
}

/// Changing a running spinner's affinity to another CPU moves it there promptly.
fn migrate() -> Check {
    let cpus = allowed_cpus()?;
    if cpus.len() < 2 {
        return skip(format_args!("needs 2 CPUs, have {}", cpus.len()));
    }
    let (a, b) = (cpus[0], cpus[1]);
    let sh = spread_shared()?;
    let kid = Kid::spawn(|| cpu_spinner(&sh, 0, a))?;
    let on_a = sys::wait_until(Duration::from_secs(5), || {
        sh.cpu[0].load(SeqCst) == a as i32
    });
    ensure!(
        on_a,
        "spinner pinned to CPU {a} reports {}",
        sh.cpu[0].load(SeqCst)
    );
    let start = Instant::now();
    sys::set_affinity(kid.0, &CpuSet::single(b)).ctx("sched_setaffinity(child)")?;
    let moved = sys::wait_until(Duration::from_secs(2), || {
        sh.cpu[0].load(SeqCst) == b as i32
    });
    let took = start.elapsed();
    sh.stop.store(true, SeqCst);
    drop(kid);
    ensure!(
        moved,
        "spinner still on CPU {} 2 s after its affinity became CPU {b}",
        sh.cpu[0].load(SeqCst)
    );
    pass_with(format_args!(
        "CPU {a} -> {b} seen after {} ms",
        took.as_millis()
    ))
}

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
fn yield_cpu() -> Check {
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
fn sleep() -> Check {
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

/// Pinned to each allowed CPU in turn, the getcpu syscall, libc's sched_getcpu and
/// /proc/self/stat all name that CPU.
fn getcpu() -> Check {
    let saved = sys::get_affinity(0).ctx("sched_getaffinity")?;
    let result = (|| {
        let cpus: Vec<usize> = saved.cpus().take(8).collect();
        for &cpu in &cpus {
            sys::pin_to(cpu).ctx("sched_setaffinity")?;
            let (got, node) = sys::getcpu().ctx("getcpu")?;
            ensure!(
                got as usize == cpu && node == 0,
                "pinned to CPU {cpu}: getcpu says CPU {got} node {node}"
            );
            // SAFETY: sched_getcpu has no arguments.
            let libc_cpu = unsafe { libc::sched_getcpu() };
            ensure!(
                libc_cpu == cpu as i32,
                "pinned to CPU {cpu}: sched_getcpu says {libc_cpu}"
            );
            if let Ok(st) =
                Stat::read("/proc/thread-self/stat").or_else(|_| Stat::read("/proc/self/stat"))
            {
                ensure!(
                    st.processor == cpu as i32,
                    "pinned to CPU {cpu}: /proc stat says {}",
                    st.processor
                );
            }
        }
        pass_with(format_args!("CPUs {cpus:?}"))
    })();
    sys::set_affinity(0, &saved).ctx("restoring affinity")?;
    result
}

fn priority_range(policy: i32) -> (i32, i32) {
    // SAFETY: these calls have no memory arguments.
    unsafe {
        (
            libc::sched_get_priority_min(policy),
            libc::sched_get_priority_max(policy),
        )
    }
}

/// The policy system calls and what /proc shows for them.
fn policy() -> Check {
    for (p, name, want) in [
        (libc::SCHED_OTHER, "SCHED_OTHER", (0, 0)),
        (libc::SCHED_FIFO, "SCHED_FIFO", (1, 99)),
        (libc::SCHED_RR, "SCHED_RR", (1, 99)),
        (libc::SCHED_BATCH, "SCHED_BATCH", (0, 0)),
        (libc::SCHED_IDLE, "SCHED_IDLE", (0, 0)),
    ] {
        let got = priority_range(p);
        ensure!(got == want, "{name} priority range {got:?}, want {want:?}");
    }
    let bad = priority_range(42);
    ensure!(
        bad == (-1, -1) && sys::errno() == libc::EINVAL,
        "priority range of policy 42: {bad:?}, want EINVAL"
    );
    let now = sys::sched_getscheduler(0).ctx("sched_getscheduler")?;
    ensure!(
        now == libc::SCHED_OTHER,
        "we run under policy {now}, want SCHED_OTHER"
    );
    in_child(nice_values)?;
    if !is_root() {
        return pass_with("real-time parts need root");
    }
    in_child(rt_policies)
}

/// setpriority/getpriority in a child, with the kernel's raw `20 - nice` return and /proc.
fn nice_values() -> Check {
    set_nice(7)?;
    sys::clear_errno();
    // SAFETY: getpriority has no memory arguments.
    let n = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    ensure!(n == 7, "getpriority after setpriority(7): {n}");
    // SAFETY: the raw system call has no memory arguments.
    let raw = unsafe { libc::syscall(libc::SYS_getpriority, libc::PRIO_PROCESS, 0) };
    ensure!(
        raw == 13,
        "raw getpriority syscall returned {raw}, want 20 - 7 = 13"
    );
    if let Ok(st) = Stat::read("/proc/self/stat") {
        ensure!(
            st.nice == 7 && st.priority == 27,
            "/proc/self/stat nice {} priority {}, want 7 and 27",
            st.nice,
            st.priority
        );
    }
    pass()
}

/// SCHED_FIFO/RR in a child: parameters read back, /proc fields, RR interval, EINVAL cases,
/// SCHED_RESET_ON_FORK.
fn rt_policies() -> Check {
    for (p, prio, why) in [
        (libc::SCHED_FIFO, 0, "FIFO priority 0"),
        (libc::SCHED_FIFO, 100, "FIFO priority 100"),
        (libc::SCHED_OTHER, 1, "SCHED_OTHER priority 1"),
        (42, 0, "policy 42"),
    ] {
        match sys::sched_setscheduler(0, p, prio) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            other => fail!("sched_setscheduler({why}): {other:?}, want EINVAL"),
        }
    }
    sys::sched_setscheduler(0, libc::SCHED_FIFO, 50).ctx("sched_setscheduler(FIFO, 50)")?;
    let (p, prio) = (sys::sched_getscheduler(0)?, sys::sched_getparam(0)?);
    ensure!(
        p == libc::SCHED_FIFO && prio == 50,
        "after setting FIFO 50: policy {p} priority {prio}"
    );
    // sched_setparam keeps the policy and changes only the priority.
    let p60: libc::c_int = 60;
    // SAFETY: `p60` is a valid sched_param (one int).
    let r = unsafe { libc::syscall(libc::SYS_sched_setparam, 0, &p60) };
    ensure!(r == 0, "sched_setparam(60): errno {}", sys::errno());
    let (p, prio) = (sys::sched_getscheduler(0)?, sys::sched_getparam(0)?);
    ensure!(
        p == libc::SCHED_FIFO && prio == 60,
        "after sched_setparam(60): policy {p} priority {prio}"
    );
    sys::sched_setscheduler(0, libc::SCHED_FIFO, 50).ctx("sched_setscheduler(FIFO, 50)")?;
    if let Ok(st) = Stat::read("/proc/self/stat") {
        ensure!(
            st.policy == 1 && st.rt_priority == 50 && st.priority == -51,
            "/proc/self/stat policy {} rt_priority {} priority {}, want 1, 50, -51",
            st.policy,
            st.rt_priority,
            st.priority
        );
    }
    sys::sched_setscheduler(0, libc::SCHED_RR, 10).ctx("sched_setscheduler(RR, 10)")?;
    let mut ts = sys::timespec(Duration::ZERO);
    // SAFETY: `ts` is a valid out-pointer.
    let r = unsafe { libc::sched_rr_get_interval(0, &mut ts) };
    let slice = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    ensure!(r == 0, "sched_rr_get_interval: errno {}", sys::errno());
    ensure!(
        slice.abs_diff(Duration::from_millis(100)) <= Duration::from_millis(1),
        "SCHED_RR time slice {slice:?}, want 100 ms"
    );

    let policy = libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK;
    sys::sched_setscheduler(0, policy, 20).ctx("sched_setscheduler(FIFO|RESET_ON_FORK)")?;
    let p = sys::sched_getscheduler(0)?;
    ensure!(
        p == policy,
        "policy {p:#x} after setting FIFO|RESET_ON_FORK, want {policy:#x}"
    );
    let child_view = Shared::new([AtomicI32::new(-1), AtomicI32::new(-1)]).ctx("mmap")?;
    let pid = sys::fork_child(|| {
        child_view[0].store(sys::sched_getscheduler(0).unwrap_or(-2), SeqCst);
        child_view[1].store(sys::sched_getparam(0).unwrap_or(-2), SeqCst);
        0
    })
    .ctx("fork")?;
    sys::wait_status(pid).ctx("waitpid")?;
    let (cp, cprio) = (child_view[0].load(SeqCst), child_view[1].load(SeqCst));
    ensure!(
        cp == libc::SCHED_OTHER && cprio == 0,
        "child of a RESET_ON_FORK task has policy {cp} priority {cprio}, want SCHED_OTHER 0"
    );
    pass()
}
