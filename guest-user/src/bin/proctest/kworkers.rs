//! Workqueues as user space sees them: the `kworker` threads in /proc with Linux's names,
//! binding and priorities; the workqueue a worker last served after its name; work queued
//! from user-triggered paths (vm.stat_refresh, console input) running on those workers.

use std::time::{Duration, Instant};

use guest_user::check::{pass_with, skip, Check, Context, Fail};
use guest_user::procfs::{list_ids, Stat, PF_KTHREAD};
use guest_user::{ensure, fail, sys};

/// A `kworker/...` as /proc names it: `kworker/CPU:ID[H]` or `kworker/uPOOL:ID`, then
/// `+wq` while it runs an item of workqueue `wq`, `-wq` after.
#[derive(Debug)]
struct Kworker {
    stat: Stat,
    /// The CPU of a bound worker; None for an unbound one.
    cpu: Option<usize>,
    /// The pool ID of an unbound worker.
    pool: usize,
    highpri: bool,
    /// The task's own name, without the workqueue.
    base: String,
    /// `-` or `+` and the workqueue.
    desc: Option<(char, String)>,
}

fn parse_kworker(stat: Stat) -> Option<Kworker> {
    let rest = stat.comm.strip_prefix("kworker/")?;
    let end = rest.find(['-', '+']).unwrap_or(rest.len());
    let (name, desc) = rest.split_at(end);
    let desc = desc.chars().next().map(|c| (c, desc[1..].to_string()));
    let (pool_part, id) = name.split_once(':')?;
    let highpri = id.ends_with('H');
    id.trim_end_matches('H').parse::<usize>().ok()?;
    let (cpu, pool) = match pool_part.strip_prefix('u') {
        Some(p) => (None, p.parse().ok()?),
        None => (Some(pool_part.parse().ok()?), 0),
    };
    Some(Kworker {
        base: format!("kworker/{name}"),
        stat,
        cpu,
        pool,
        highpri,
        desc,
    })
}

/// Every kworker now.
fn kworkers() -> Result<Vec<Kworker>, Fail> {
    let mut out = Vec::new();
    for pid in list_ids("/proc").ctx("listing /proc")? {
        // A task may exit between the listing and the read.
        let Ok(stat) = Stat::of(pid) else { continue };
        if stat.comm.starts_with("kworker/") {
            match parse_kworker(stat.clone()) {
                Some(k) => out.push(k),
                None => fail!("kworker name not in Linux's form: {:?}", stat.comm),
            }
        }
    }
    Ok(out)
}

/// The online CPUs, from the `cpuN` lines of /proc/stat.
fn nr_cpus() -> Result<usize, Fail> {
    let text = std::fs::read_to_string("/proc/stat").ctx("reading /proc/stat")?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count())
}

/// Each CPU has a normal (`kworker/N:M`, nice 0) and a high-priority (`kworker/N:MH`,
/// nice -20) worker bound to it, and there is an unbound pool's worker (`kworker/uP:M`, P
/// after the 2 IDs per CPU); all are kernel threads, children of kthreadd.
pub(crate) fn kworkers_per_cpu() -> Check {
    // A worker just created is seen for a moment before it is bound and reniced (as on
    // Linux): look again before failing.
    let mut result = look_at_kworkers();
    for _ in 0..5 {
        if result.is_ok() {
            break;
        }
        sys::sleep(Duration::from_millis(200));
        result = look_at_kworkers();
    }
    result
}

fn look_at_kworkers() -> Check {
    let cpus = nr_cpus()?;
    let all = kworkers()?;
    for k in &all {
        ensure!(
            k.stat.ppid == 2 && k.stat.flags & PF_KTHREAD != 0,
            "{} is not a kernel thread under kthreadd (ppid {}, flags {:#x})",
            k.stat.comm,
            k.stat.ppid,
            k.stat.flags
        );
        let nice = if k.highpri { -20 } else { 0 };
        ensure!(
            k.stat.nice == nice,
            "{} has nice {}, want {nice}",
            k.stat.comm,
            k.stat.nice
        );
        if let Some(cpu) = k.cpu {
            ensure!(
                k.stat.processor == cpu as i32,
                "{} last ran on CPU {}: not bound to CPU {cpu}",
                k.stat.comm,
                k.stat.processor
            );
        }
    }
    for cpu in 0..cpus {
        for highpri in [false, true] {
            ensure!(
                all.iter()
                    .any(|k| k.cpu == Some(cpu) && k.highpri == highpri),
                "no kworker/{cpu}:N{} among {:?}",
                if highpri { "H" } else { "" },
                all.iter().map(|k| &k.stat.comm).collect::<Vec<_>>()
            );
        }
    }
    ensure!(
        all.iter().any(|k| k.cpu.is_none() && k.pool == 2 * cpus),
        "no unbound kworker/u{}:N",
        2 * cpus
    );
    pass_with(format_args!("{} kworkers on {cpus} CPUs", all.len()))
}

/// How long `kworker_comm` looks for every CPU's `-events` worker.
const EVENTS_WITHIN: Duration = Duration::from_secs(30);

/// After running items, /proc/<pid>/stat, comm and status name a worker with the workqueue it
/// served (`kworker/1:0-events`), while its own name stays short. `vmstat_update` runs on
/// `mm_percpu_wq` by itself (we make counters move); vm.stat_refresh runs an item on every
/// CPU's `events` pool and returns when all have run.
pub(crate) fn kworker_comm() -> Check {
    let cpus = nr_cpus()?;
    let start = Instant::now();
    let seen = |what: &dyn Fn(&Kworker, &str) -> bool| -> Result<bool, Fail> {
        let mut any = false;
        for k in kworkers_with_desc()? {
            if let Some((_, wq)) = &k.desc {
                any |= what(&k, wq);
            }
        }
        Ok(any)
    };
    // Items of other workqueues (our own vm.stat_refresh) would rename the worker: none yet.
    let mut mm_percpu_wq = false;
    while !mm_percpu_wq && start.elapsed() < Duration::from_secs(10) {
        sys::sleep(Duration::from_millis(100));
        mm_percpu_wq = seen(&|k, wq| k.cpu.is_some() && !k.highpri && wq == "mm_percpu_wq")?;
    }
    ensure!(mm_percpu_wq, "no kworker/N:M-mm_percpu_wq in 10 s");
    let after_mm = start.elapsed();
    // A worker's name shows the last workqueue it ran, and each CPU's vmstat_update would
    // rename it back every second: on a loaded host (emulated kernel code, VMs in parallel)
    // reading every kworker's names took longer than that. A long stat_interval keeps
    // vmstat_update away while we look.
    let _interval = StatInterval::raise()?;
    let mut events = vec![false; cpus];
    while start.elapsed() < after_mm + EVENTS_WITHIN {
        stat_refresh()?;
        for (cpu, seen_here) in events.iter_mut().enumerate() {
            *seen_here |= seen(&|k, wq| k.cpu == Some(cpu) && !k.highpri && wq == "events")?;
        }
        if events.iter().all(|&e| e) {
            return pass_with(format_args!(
                "-mm_percpu_wq after {} ms, every CPU's -events after {} ms more",
                after_mm.as_millis(),
                (start.elapsed() - after_mm).as_millis()
            ));
        }
        sys::sleep(Duration::from_millis(100));
    }
    fail!(
        "no kworker/N:M-events after vm.stat_refresh in {} s on CPUs {events:?}",
        EVENTS_WITHIN.as_secs()
    )
}

/// The kworkers that name a workqueue, checked to show the same name in stat, comm and the
/// Name line of status.
fn kworkers_with_desc() -> Result<Vec<Kworker>, Fail> {
    let mut out = Vec::new();
    for k in kworkers()? {
        let Some((sign, _)) = &k.desc else { continue };
        ensure!(
            k.base.len() <= 15,
            "{}: the thread's own name is longer than a comm",
            k.stat.comm
        );
        ensure!(*sign == '-' || *sign == '+', "{}", k.stat.comm);
        let pid = k.stat.pid;
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let name = status.lines().next().unwrap_or("");
        for (what, text) in [("comm", comm.trim_end()), ("status", name)] {
            let text = text.strip_prefix("Name:\t").unwrap_or(text);
            ensure!(
                text.starts_with(&k.base) && text.len() > k.base.len(),
                "/proc/{pid}/{what} says {text:?} while stat says {:?}",
                k.stat.comm
            );
        }
        out.push(k);
    }
    Ok(out)
}

fn vm_stat(name: &str) -> Result<i64, Fail> {
    let text = std::fs::read_to_string("/proc/vmstat").ctx("reading /proc/vmstat")?;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix(name).and_then(|r| r.strip_prefix(' ')) {
            return v
                .trim()
                .parse()
                .map_err(|_| Fail(format!("bad line {line:?}")));
        }
    }
    fail!("no {name} in /proc/vmstat")
}

fn stat_refresh() -> Result<(), Fail> {
    std::fs::write("/proc/sys/vm/stat_refresh", "1").ctx("writing vm.stat_refresh")
}

/// Counter changes wait in per-CPU differences until `vmstat_update` folds them; writing
/// vm.stat_refresh folds every CPU's at once (an item per CPU on `events`, waited for). With
/// vm.stat_interval raised the periodic folding stays away: a few shared pages show in
/// /proc/vmstat only after the refresh.
pub(crate) fn vmstat_fold() -> Check {
    let interval = StatInterval::raise()?;
    // The timers armed with the old interval fire once more (rounded to a whole second);
    // on a loaded host their items may run late: a fold that slips in is retried.
    sys::sleep(Duration::from_millis(2000));
    let mut result = fold_shared_pages();
    for _ in 0..3 {
        if result.is_ok() {
            break;
        }
        sys::sleep(Duration::from_millis(500));
        result = fold_shared_pages();
    }
    interval.restore()?;
    result
}

/// vm.stat_interval raised from its default second to a minute while this lives, so that the
/// periodic `vmstat_update` stays out of a check's way; put back when dropped.
struct StatInterval {
    restored: bool,
}

impl StatInterval {
    const PATH: &'static str = "/proc/sys/vm/stat_interval";

    fn raise() -> Result<Self, Fail> {
        let old = std::fs::read_to_string(Self::PATH).ctx("reading vm.stat_interval")?;
        ensure!(old == "1\n", "vm.stat_interval is {old:?}, want 1 (second)");
        std::fs::write(Self::PATH, "60").ctx("raising vm.stat_interval")?;
        Ok(Self { restored: false })
    }

    fn restore(mut self) -> Result<(), Fail> {
        self.restored = true;
        std::fs::write(Self::PATH, "1").ctx("restoring vm.stat_interval")
    }
}

impl Drop for StatInterval {
    fn drop(&mut self) {
        if !self.restored {
            let _ = std::fs::write(Self::PATH, "1");
        }
    }
}

fn fold_shared_pages() -> Check {
    const PAGES: usize = 3;
    stat_refresh()?;
    let before = vm_stat("nr_shmem")?;
    // SAFETY: a fresh shared anonymous mapping, touched and unmapped here only.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            PAGES * 4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        fail!("mmap: {}", std::io::Error::last_os_error());
    }
    for i in 0..PAGES {
        // SAFETY: inside the mapping.
        unsafe { (p as *mut u8).add(i * 4096).write_volatile(1) };
    }
    let unfolded = vm_stat("nr_shmem");
    let refreshed = stat_refresh();
    let folded = vm_stat("nr_shmem");
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(p, PAGES * 4096) };
    let (unfolded, folded) = (unfolded?, folded?);
    refreshed?;
    stat_refresh()?;
    let after = vm_stat("nr_shmem")?;
    ensure!(
        unfolded == before,
        "nr_shmem moved from {before} to {unfolded} before any fold: no per-CPU differences"
    );
    ensure!(
        folded == before + PAGES as i64,
        "nr_shmem {folded} after vm.stat_refresh, want {before} + {PAGES}"
    );
    ensure!(
        after == before,
        "nr_shmem {after} after unmapping, want {before}"
    );
    pass_with(format_args!(
        "nr_shmem {before} -> {unfolded} -> {folded} -> {after}"
    ))
}

/// What is typed on the console reaches readers through `flush_to_ldisc`, an item on
/// `events_unbound`: after reading a line, an unbound worker names that workqueue.
pub(crate) fn console_input() -> Check {
    let mut pfd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    if unsafe { libc::poll(&mut pfd, 1, 5000) } != 1 {
        return skip("nothing typed on the console within 5 s");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .ctx("reading the console")?;
    ensure!(
        line == "typed on the console\n",
        "read {line:?} from the console"
    );
    let all = kworkers()?;
    match all
        .iter()
        .find(|k| k.cpu.is_none() && k.desc.as_ref().is_some_and(|d| d.1 == "events_unbound"))
    {
        Some(k) => pass_with(format_args!("{line:?} via {}", k.stat.comm)),
        None => fail!(
            "no unbound kworker shows events_unbound: {:?}",
            all.iter().map(|k| &k.stat.comm).collect::<Vec<_>>()
        ),
    }
}
