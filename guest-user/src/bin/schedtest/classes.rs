//! CFS shares by nice weight, and SCHED_FIFO preempting fair tasks.

use super::*;

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
pub(super) fn fair() -> Check {
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
pub(super) fn fifo() -> Check {
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
