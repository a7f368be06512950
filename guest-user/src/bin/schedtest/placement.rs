//! Where tasks run: the CPUs user space sees, load balancing spreads spinners, affinity changes
//! migrate, getcpu agrees.

use super::*;

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
pub(super) fn balance() -> Check {
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
pub(super) fn migrate() -> Check {
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

/// Every way user space counts the online CPUs agrees: the `cpuN` lines of /proc/stat, the
/// columns of /proc/softirqs, sysconf(_SC_NPROCESSORS_ONLN), and our affinity mask, which is
/// CPUs 0..N (init's, inherited: all of them).
pub(super) fn cpus() -> Check {
    let stat = std::fs::read_to_string("/proc/stat").ctx("reading /proc/stat")?;
    let in_stat = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    let softirqs = std::fs::read_to_string("/proc/softirqs").ctx("reading /proc/softirqs")?;
    let in_softirqs = softirqs
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .count();
    let sysconf = sys::online_cpus();
    let allowed = allowed_cpus()?;
    ensure!(
        in_stat >= 1 && [in_softirqs, sysconf, allowed.len()] == [in_stat; 3],
        "/proc/stat lists {in_stat} CPUs, /proc/softirqs {in_softirqs}, sysconf says {sysconf}, \
         affinity {allowed:?}"
    );
    ensure!(
        allowed.iter().copied().eq(0..in_stat),
        "affinity {allowed:?} is not CPUs 0..{in_stat}"
    );
    pass_with(format_args!(
        "{in_stat} CPUs: /proc/stat, /proc/softirqs, sysconf, affinity"
    ))
}

/// Pinned to each allowed CPU in turn, the getcpu syscall, libc's sched_getcpu and
/// /proc/self/stat all name that CPU.
pub(super) fn getcpu() -> Check {
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
